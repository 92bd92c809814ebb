//! `resolve_user`: find each hire's Connecteam user, or create it.
//!
//! The emails of every due hire go in ONE lookup, then the phones of those still unmatched in
//! another (Connecteam does not say how it combines different filters). A match is reused; an
//! archived match is a rehire and is restored (`isArchived: false`). The rest are created 25
//! per request. A hire with no match and no phone (or with `create_missing_users: false`)
//! waits, re-checked on a shared schedule, until its user appears or
//! `waiting_for_user_timeout_s` passes. A lookup always precedes a create, so a create whose
//! answer was lost is found on the next round instead of being repeated.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::user_match::{Matcher, has_phone, unique};
use crate::clock::now_ms;
use crate::config::{ConnecteamConfig, DeliveryConfig};
use crate::connecteam::{self, Client, CustomFieldValue, MAX_CREATE_USERS, NewUser};
use crate::delivery::bisect::{Bisect, Refusal, names_number};
use crate::delivery::claimed::{Claimed, Outcome};
use crate::delivery::job::{Batches, Batching, Job};
use crate::delivery::profile::{
    FieldCatalog, Fields, METRIC_FIELD_WARNINGS, differing, report, to_write,
};
use crate::delivery::round::{Interrupt, Round};
use crate::delivery::schedule::recheck_at;
use crate::domain::{FieldWarning, Hire, OperationKind, PhoneE164, Plan, idempotency};
use crate::remote::Failure;

/// Hires per user lookup (keeps the query string of a GET well under common URL limits).
pub const LOOKUP_BATCH: u32 = 100;

pub struct ResolveUser {
    client: Client,
    create_missing_users: bool,
    region: String,
    /// The account's custom fields, read when a plan first needs them.
    fields: Arc<Fields>,
    /// Events whose custom fields Connecteam refused on create, and how often: after the first
    /// refusal the account's fields are read again (a field or option may have gone); after
    /// the second the user is created without custom fields.
    fields_refused: Mutex<HashMap<String, u32>>,
}

impl ResolveUser {
    pub fn new(client: Client, cfg: &ConnecteamConfig, fields: Arc<Fields>) -> Self {
        Self {
            client,
            create_missing_users: cfg.create_missing_users,
            region: cfg.default_phone_region.clone(),
            fields,
            fields_refused: Mutex::new(HashMap::new()),
        }
    }
}

/// A hire to create, with what its plan writes on the user.
struct ToCreate {
    op: Claimed,
    hire: Hire,
    phone: PhoneE164,
    fields: Vec<CustomFieldValue>,
    /// The plan's fields that cannot be written.
    warnings: Vec<FieldWarning>,
    activation: bool,
}

#[async_trait]
impl Job for ResolveUser {
    fn kind(&self) -> OperationKind {
        OperationKind::ResolveUser
    }

    fn budget(&self) -> &str {
        connecteam::BUDGET
    }

    fn batching(&self) -> Batching {
        Batching {
            claim: LOOKUP_BATCH,
            calls: 12,
            batches: Batches::Whole,
            fill: Some(LOOKUP_BATCH as usize),
        }
    }

    async fn run(&self, round: &mut Round<'_>, batch: Vec<Claimed>) -> Result<(), Interrupt> {
        let mut pending: Vec<(Claimed, Hire)> = Vec::with_capacity(batch.len());
        for op in batch {
            match serde_json::from_value::<Hire>(op.hire.clone()) {
                Ok(h) => pending.push((op, h)),
                Err(e) => round.settle(
                    &op,
                    Outcome::Dead(format!("stored hire is unreadable: {e}")),
                ),
            }
        }
        let client = self.client.with_gate(round.gate());
        let matcher = Matcher {
            client: &client,
            region: &self.region,
        };
        // The plans' custom fields need the account's fields (read at most every few minutes)
        // and the Connecteam ids of the direct managers they name, asked in the same lookup.
        let plans: HashMap<i64, Plan> = pending
            .iter()
            .filter_map(|(op, _)| {
                let plan: Plan = serde_json::from_value(op.plan.clone()?).ok()?;
                Some((op.id, plan))
            })
            .collect();
        let catalog = if plans.values().any(|p| !p.fields.is_empty()) {
            let versions = plans.values().map(|p| p.rules_version.as_str());
            match self.fields.catalog(round, &client, versions).await? {
                Ok(c) => Some(c),
                Err(f @ Failure::Permanent(..)) => {
                    tracing::warn!(error = ?f, "cannot read the Connecteam account's custom fields; users are created without them");
                    None
                }
                Err(f) => {
                    for (op, _) in &pending {
                        round.settle(op, Outcome::Failed(f.clone()));
                    }
                    return Ok(());
                }
            }
        } else {
            None
        };
        let managers: Vec<String> = match &catalog {
            Some(c) => unique(plans.values().flat_map(|p| c.manager_emails(&p.fields))),
            None => Vec::new(),
        };
        let found = matcher.find_users(round, &pending, &managers).await?;
        let (mut found, managers) = (found.hires, found.managers);

        // Archived matches are rehires: restore them.
        let archived: Vec<u64> = unique(
            found
                .values()
                .filter_map(|r| r.as_ref().ok().and_then(Option::as_ref))
                .filter(|u| u.is_archived)
                .map(|u| u.user_id),
        );
        let restore_failed = self.restore(round, &client, archived).await?;

        let mut to_create: Vec<ToCreate> = Vec::new();
        // One person in several events (two sources, a re-sent hire): one create. The others
        // wait for the next round, whose lookup finds the user created in this one (creating
        // them too would be refused as a duplicate phone or email and dead-letter them).
        let mut creating: HashSet<String> = HashSet::new();
        for (op, h) in pending {
            match found.remove(&op.id) {
                Some(Err(f)) => {
                    round.settle(&op, Outcome::Failed(f));
                    continue;
                }
                Some(Ok(Some(u))) => {
                    let outcome = match restore_failed.get(&u.user_id) {
                        Some(f) => Outcome::Failed(f.clone()),
                        None => {
                            // The user existed: the plan's values it lacks are written by a
                            // profile update of their own; none when it holds them all.
                            let (values, warnings) = match (&catalog, plans.get(&op.id)) {
                                (Some(c), Some(plan)) => {
                                    self.profile_of(&op, c, &plan.fields, &managers)
                                }
                                _ => (Vec::new(), Vec::new()),
                            };
                            let update = differing(&u.custom_fields, values);
                            let update = (!update.is_empty())
                                .then(|| serde_json::to_value(&update).ok())
                                .flatten();
                            resolved(&op, u.user_id, update, warnings)
                        }
                    };
                    round.settle(&op, outcome);
                    continue;
                }
                Some(Ok(None)) | None => {}
            }
            match (&h.person.phone, self.create_missing_users) {
                (Some(p), true) => {
                    let email = h.person.email.as_ref().map(|e| e.as_str().to_lowercase());
                    let seen = creating.contains(p.as_str())
                        || email.as_ref().is_some_and(|e| creating.contains(e));
                    if seen {
                        round.settle(&op, Outcome::Defer { at_ms: now_ms() });
                        continue;
                    }
                    creating.insert(p.as_str().to_owned());
                    creating.extend(email);
                    let phone = p.clone();
                    let plan = plans.get(&op.id);
                    let (fields, warnings) = match (&catalog, plan) {
                        (Some(c), Some(plan)) => self.profile_of(&op, c, &plan.fields, &managers),
                        _ => (Vec::new(), Vec::new()),
                    };
                    let activation = plan.is_some_and(|p| p.activation);
                    to_create.push(ToCreate {
                        op,
                        hire: h,
                        phone,
                        fields,
                        warnings,
                        activation,
                    });
                }
                _ => {
                    let outcome = wait_for_user(round.config(), &op, &h);
                    round.settle(&op, outcome);
                }
            }
        }
        self.create(round, &matcher, to_create).await
    }
}

impl ResolveUser {
    /// Restore the archived users rehires matched, 25 per request; one Connecteam refuses
    /// does not fail the others. Returns why each that could not be restored was not.
    async fn restore(
        &self,
        round: &mut Round<'_>,
        client: &Client,
        archived: Vec<u64>,
    ) -> Result<HashMap<u64, Failure>, Interrupt> {
        let mut failed: HashMap<u64, Failure> = HashMap::new();
        let mut work = Bisect::new(archived, MAX_CREATE_USERS);
        while let Some(chunk) = work.next_chunk() {
            let ids: Vec<String> = chunk.iter().map(u64::to_string).collect();
            let key = idempotency::key(&format!("restore:{}", ids.join(",")), "users/restore");
            match round.send(client.restore_users(&chunk, &key)).await? {
                Ok(()) => {
                    tracing::info!(users = ?chunk, "restored archived Connecteam users matched by rehires");
                }
                Err(Failure::Permanent(422, detail)) => {
                    match work.refused(chunk, &detail, |id| names_number(&detail, *id)) {
                        Refusal::Later => {}
                        Refusal::Named(ids) | Refusal::All(ids) => {
                            for id in ids {
                                failed.insert(id, Failure::Permanent(422, detail.clone()));
                            }
                        }
                    }
                }
                Err(f) => {
                    for id in chunk {
                        failed.insert(id, f.clone());
                    }
                }
            }
        }
        Ok(failed)
    }

    /// The custom fields the plan writes on a user, in each type's form, and a warning for
    /// each that cannot be written (logged and counted; the field is left unset). None for an
    /// event whose fields Connecteam refused twice on create: a warning for each.
    fn profile_of(
        &self,
        op: &Claimed,
        catalog: &FieldCatalog,
        fields: &BTreeMap<String, String>,
        managers: &HashMap<String, u64>,
    ) -> (Vec<CustomFieldValue>, Vec<FieldWarning>) {
        let refusals = self
            .fields_refused
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&op.event_id)
            .copied()
            .unwrap_or(0);
        let (values, warnings) = if refusals >= 2 {
            let warnings = fields
                .keys()
                .map(|name| {
                    FieldWarning::new(
                        name,
                        "refused",
                        format!("{name}: Connecteam refused the hire's custom fields twice; the user was created without them"),
                    )
                })
                .collect();
            (Vec::new(), warnings)
        } else {
            to_write(catalog, fields, managers, &self.region)
        };
        for w in &warnings {
            report(&op.event_id, w);
        }
        (values, warnings)
    }

    /// Create the users nobody matched, 25 per request, those to be sent the activation SMS
    /// apart from the others (`sendActivation` is per request); a 422 for a batch is split to
    /// find the refused hire.
    async fn create(
        &self,
        round: &mut Round<'_>,
        matcher: &Matcher<'_>,
        to_create: Vec<ToCreate>,
    ) -> Result<(), Interrupt> {
        let (activate, quiet): (Vec<ToCreate>, Vec<ToCreate>) =
            to_create.into_iter().partition(|c| c.activation);
        for (send_activation, group) in [(false, quiet), (true, activate)] {
            if !group.is_empty() {
                self.create_group(round, matcher, send_activation, group)
                    .await?;
            }
        }
        Ok(())
    }

    async fn create_group(
        &self,
        round: &mut Round<'_>,
        matcher: &Matcher<'_>,
        send_activation: bool,
        to_create: Vec<ToCreate>,
    ) -> Result<(), Interrupt> {
        let mut work = Bisect::new(to_create, MAX_CREATE_USERS);
        while let Some(batch) = work.next_chunk() {
            // Before sending: should this process die now, the next owner looks up first.
            round.mark_ambiguous(batch.iter().map(|c| &c.op)).await?;
            let users: Vec<NewUser> = batch
                .iter()
                .map(|c| {
                    let mut u = NewUser::new(
                        &c.hire.person.first_name,
                        &c.hire.person.last_name,
                        &c.phone,
                        c.hire.person.email.as_ref(),
                    );
                    u.custom_fields = c.fields.clone();
                    u
                })
                .collect();
            let key = idempotency::for_batch(
                batch.iter().map(|c| c.op.event_id.as_str()),
                "users/create",
            );
            match round
                .send(matcher.client.create_users(&users, send_activation, &key))
                .await?
            {
                Ok(created) => {
                    for c in &batch {
                        let outcome = match has_phone(&created, &c.phone, &self.region) {
                            Some(u) => {
                                self.fields_refused
                                    .lock()
                                    .unwrap_or_else(|e| e.into_inner())
                                    .remove(&c.op.event_id);
                                resolved(&c.op, u.user_id, None, c.warnings.clone())
                            }
                            None => Outcome::Failed(Failure::Ambiguous(
                                "the created user was not in the answer".to_owned(),
                            )),
                        };
                        round.settle(&c.op, outcome);
                    }
                }
                Err(Failure::Permanent(422, detail)) => {
                    let named = |c: &ToCreate| {
                        detail.contains(c.phone.as_str())
                            || c.hire.person.email.as_ref().is_some_and(|e| {
                                detail.to_lowercase().contains(&e.as_str().to_lowercase())
                            })
                    };
                    match work.refused(batch, &detail, named) {
                        Refusal::Later => {}
                        Refusal::All(hires) | Refusal::Named(hires)
                            if hires.len() == 1
                                && !hires[0].fields.is_empty()
                                && detail.contains("customField") =>
                        {
                            // The user's custom fields were refused: the account's fields or
                            // options may have changed since they were read. Read them again
                            // for the retry; refused twice, the user is created without them.
                            let c = &hires[0];
                            self.fields.invalidate();
                            *self
                                .fields_refused
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .entry(c.op.event_id.clone())
                                .or_default() += 1;
                            metrics::counter!(METRIC_FIELD_WARNINGS, "reason" => "refused")
                                .increment(1);
                            tracing::warn!(
                                event_id = %c.op.event_id,
                                %detail,
                                "Connecteam refused the hire's custom fields; retrying with the account's fields read again"
                            );
                            round.settle(
                                &c.op,
                                Outcome::Failed(Failure::Retryable(format!(
                                    "Connecteam refused the custom fields ({detail}); retrying with the account's fields read again"
                                ))),
                            );
                        }
                        Refusal::All(hires) => {
                            for c in &hires {
                                round.settle(
                                    &c.op,
                                    Outcome::Failed(Failure::Permanent(422, detail.clone())),
                                );
                            }
                        }
                        Refusal::Named(hires) => {
                            for c in &hires {
                                // A refused hire's user may exist all the same: created by an
                                // earlier attempt whose answer was lost and which landed late,
                                // or by someone else since the lookup. Look before
                                // dead-lettering.
                                let outcome = match matcher.match_person(round, &c.hire).await? {
                                    Ok(Some(u)) if !u.is_archived => {
                                        resolved(&c.op, u.user_id, None, c.warnings.clone())
                                    }
                                    // Archived meanwhile: the next round restores it.
                                    Ok(Some(_)) => Outcome::Failed(Failure::Retryable(
                                        "matched an archived user".to_owned(),
                                    )),
                                    Ok(None) => {
                                        Outcome::Failed(Failure::Permanent(422, detail.clone()))
                                    }
                                    Err(f) => Outcome::Failed(f),
                                };
                                round.settle(&c.op, outcome);
                            }
                        }
                    }
                }
                // The ambiguous mark stays for a failure that may have applied; a retry looks
                // the user up before creating again anyway.
                Err(f) => {
                    for c in &batch {
                        round.settle(&c.op, Outcome::Failed(f.clone()));
                    }
                }
            }
        }
        Ok(())
    }
}

/// The user of `op`'s event is known; the store queues the plan's operations with it, and
/// the profile update `update` when there is one.
fn resolved(
    op: &Claimed,
    user_id: u64,
    update: Option<serde_json::Value>,
    warnings: Vec<FieldWarning>,
) -> Outcome {
    if let Some(plan) = &op.plan
        && let Err(e) = serde_json::from_value::<Plan>(plan.clone())
    {
        return Outcome::Dead(format!("the stored plan is unreadable: {e}"));
    }
    Outcome::UserResolved {
        user_id,
        update,
        warnings,
    }
}

/// No user yet: look again later, or give up after `waiting_for_user_timeout_s`.
///
/// Waiting hires are looked for again on a shared schedule rather than each on its own
/// jittered one ([`recheck_at`]): every hire waiting about as long falls due at the same
/// instant and shares one lookup of up to 100, so a thousand waiting hires cost a few
/// requests per period, not a thousand.
fn wait_for_user(cfg: &DeliveryConfig, op: &Claimed, h: &Hire) -> Outcome {
    let timeout_ms =
        i64::try_from(cfg.waiting_for_user_timeout_s.saturating_mul(1000)).unwrap_or(i64::MAX);
    let now = now_ms();
    // The clock runs from when waiting began, not from intake: time spent failing to reach
    // Connecteam (a weekend of 401s) is not time spent waiting.
    let waited = now - op.waiting_since_ms.unwrap_or(now);
    if waited >= timeout_ms {
        return Outcome::Dead(format!(
            "no Connecteam user matched within waiting_for_user_timeout_s ({} s)",
            cfg.waiting_for_user_timeout_s
        ));
    }
    let why = if h.person.phone.is_none() {
        "no Connecteam user matches the email and the hire has no phone to create one with"
    } else {
        "no Connecteam user matches and create_missing_users is false"
    };
    Outcome::Wait {
        at_ms: recheck_at(
            now,
            waited,
            i64::try_from(cfg.initial_backoff_ms).unwrap_or(1000),
            i64::try_from(cfg.max_backoff_ms).unwrap_or(i64::MAX / 4),
        ),
        note: why.to_owned(),
    }
}
