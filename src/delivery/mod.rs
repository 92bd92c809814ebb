//! The delivery engine: carries out the operations intake committed, in Connecteam.
//!
//! Each round claims due operations with a lease (so a killed replica's work is taken over when
//! the lease expires, and `FOR UPDATE SKIP LOCKED` keeps replicas off each other's rows), does
//! the work in as few Connecteam calls as the API allows, and commits every outcome in one
//! transaction:
//!
//! 1. **Users**: the emails of every due hire in ONE lookup, then the phones of those still
//!    unmatched in another (Connecteam does not say how it combines different filters). A match
//!    is reused — an archived match is a rehire and is restored (`isArchived: false`). The rest
//!    are created 25 per request. A hire with no match and no phone (or with
//!    `create_missing_users: false`) waits, re-checked with backoff, until its user appears or
//!    `waiting_for_user_timeout_s` passes. A lookup always precedes a create, so a create whose
//!    answer was lost is found on the next round instead of being repeated.
//! 2. **Packs**: every due user of a pack, gathered over `batch_window_ms`, in one POST of at
//!    most 500 ids. A 422 (all-or-nothing) is bisected to isolate the bad ids and assign the
//!    rest. Before a POST is sent its operations are marked ambiguous; one whose outcome was
//!    not seen is never repeated blindly: the pack's assignments are read first and only the
//!    missing users are sent (so assigning an already-assigned user never happens).
//! 3. **Policies**: one PUT per user and policy with the plan's balance and unit (safe to repeat).
//!
//! Every request first takes a slot of the account-wide budget ([`pacer::Pacer`]).
//! Failures retry with exponential backoff and full jitter; permanent errors dead-letter the
//! operation at once with the server's reason; a 429 waits for the reset and is not an attempt.
//!
//! A round holds its operations by a lease, renewed before every request it sends, and every
//! change it makes is guarded by that lease: should its lease run out while it waits (a
//! long budget pause) and another replica take the operations over, the round stops at its
//! next request and its late results change nothing.

pub mod pacer;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::{ConnecteamConfig, DeliveryConfig};
use crate::connecteam::{ApiError, Client, NewUser, User, UserQuery, UserStatus};
use crate::domain::{Email, Hire, PhoneE164};
use crate::rules::Plan;
use crate::store::queue::{ClaimedOp, Transition};
use crate::store::{OperationKind, Store, StoreError, now_ms};

use pacer::Pacer;

/// Hires per user lookup (keeps the query string of a GET well under common URL limits).
pub const LOOKUP_BATCH: u32 = 100;
/// Users per create request (Connecteam's limit).
pub const CREATE_BATCH: usize = 25;
/// Users per pack assignment (Connecteam's limit).
pub const PACK_BATCH: usize = 500;
/// Policy assignments per round.
const POLICY_BATCH: u32 = 50;
/// A claim's lease: this much, plus twice the paced time of the requests the round may make.
/// Long enough for the round, short enough that a killed replica's work is soon taken over.
/// Renewed before every request, so a live round keeps it however long it waits for budget.
const LEASE_BASE_MS: i64 = 30_000;
/// How long everything waits after Connecteam refused the credentials (401), at most: a
/// revoked or wrong key is not fixed by asking again, and not the operations' fault either.
/// (`delivery.max_backoff_ms`, when smaller, caps it.)
const UNAUTHORIZED_PAUSE_MS: i64 = 60_000;

/// The engine. Cheap to share.
pub struct Engine {
    store: Arc<dyn Store>,
    client: Client,
    pacer: Pacer,
    cfg: DeliveryConfig,
    /// Connecteam's request timeout: a write whose answer was lost may still land this late.
    timeout_ms: i64,
    /// How long everything waits after a 401.
    unauthorized_pause_ms: i64,
    create_missing_users: bool,
    default_region: String,
    id: String,
    seq: AtomicU64,
    wake: Arc<Notify>,
}

/// The operations a round claimed, and the lease it holds them by.
struct Lease {
    owner: String,
    kind: OperationKind,
    /// How far each renewal extends the lease.
    ms: i64,
    /// How many of the claimed operations the round has not handed back yet.
    held: AtomicUsize,
}

/// What one call to Connecteam came to, for the bookkeeping of a round.
#[derive(Clone)]
enum Failure {
    /// Over budget: not an attempt.
    RateLimited,
    /// The credentials were refused (401): not an attempt; everything waits a while.
    Unauthorized(String),
    /// May have been applied.
    Ambiguous(String),
    /// Nothing applied; try again later.
    Retryable(String),
    /// Refused: dead-letter.
    Permanent(u16, String),
}

impl From<&ApiError> for Failure {
    fn from(e: &ApiError) -> Self {
        match e {
            ApiError::RateLimited { .. } => Failure::RateLimited,
            ApiError::Ambiguous { message, .. } => Failure::Ambiguous(message.clone()),
            ApiError::Retryable { message, .. } => Failure::Retryable(message.clone()),
            ApiError::Decode { message } => Failure::Ambiguous(message.clone()),
            ApiError::Permanent {
                status: 401,
                detail,
                ..
            } => Failure::Unauthorized(detail.clone()),
            ApiError::Permanent { status, detail, .. } => {
                Failure::Permanent(*status, detail.clone())
            }
        }
    }
}

impl Engine {
    pub fn new(
        store: Arc<dyn Store>,
        client: Client,
        connecteam: &ConnecteamConfig,
        delivery: &DeliveryConfig,
    ) -> Self {
        Self {
            pacer: Pacer::new(store.clone(), connecteam.requests_per_minute),
            store,
            client,
            cfg: delivery.clone(),
            timeout_ms: i64::try_from(connecteam.timeout_ms).unwrap_or(i64::MAX / 4),
            unauthorized_pause_ms: i64::try_from(delivery.max_backoff_ms)
                .unwrap_or(i64::MAX)
                .clamp(1, UNAUTHORIZED_PAUSE_MS),
            create_missing_users: connecteam.create_missing_users,
            default_region: connecteam.default_phone_region.clone(),
            id: format!("engine-{}", ulid::Ulid::generate()),
            seq: AtomicU64::new(0),
            wake: Arc::new(Notify::new()),
        }
    }

    /// Wakes the engine early (intake after a commit, replay).
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Run rounds until cancelled; sleep until the next operation falls due (or a wake-up).
    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
        tracing::info!(engine = %self.id, "delivery engine started");
        while !cancel.is_cancelled() {
            let worked = match self.round(&cancel).await {
                Ok(n) => n > 0,
                Err(e) => {
                    tracing::error!(error = %e, "delivery round failed; retrying shortly");
                    false
                }
            };
            self.record_queue_metrics().await;
            if worked {
                continue;
            }
            let sleep_ms = match self.store.next_due().await {
                Ok(Some(due)) => (due - now_ms()).clamp(5, 1000),
                _ => 1000,
            };
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(sleep_ms.unsigned_abs())) => {}
                () = self.wake.notified() => {}
                () = cancel.cancelled() => {}
            }
        }
        tracing::info!(engine = %self.id, "delivery engine stopped");
    }

    /// One pass over every kind of due work. Returns how many operations it handled.
    pub async fn round(&self, cancel: &CancellationToken) -> Result<usize, StoreError> {
        let mut n = self.resolve_users(cancel).await?;
        n += self.assign_packs(cancel).await?;
        n += self.assign_policies(cancel).await?;
        Ok(n)
    }

    fn owner(&self) -> String {
        format!("{}:{}", self.id, self.seq.fetch_add(1, Ordering::Relaxed))
    }

    /// Claim due operations of one kind for a round that makes at most about `calls` requests.
    async fn claim(
        &self,
        kind: OperationKind,
        limit: u32,
        calls: u32,
    ) -> Result<(Lease, Vec<ClaimedOp>), StoreError> {
        let paced = i64::try_from(self.pacer.interval().as_millis()).unwrap_or(i64::MAX / 4);
        let ms = LEASE_BASE_MS + 2 * i64::from(calls) * paced;
        let owner = self.owner();
        let ops = self.store.claim(kind, &owner, now_ms(), ms, limit).await?;
        let lease = Lease {
            owner,
            kind,
            ms,
            held: AtomicUsize::new(ops.len()),
        };
        Ok((lease, ops))
    }

    /// Commit a round's results. Only operations the round still holds change; what it hands
    /// back no longer counts as held.
    async fn apply(&self, lease: &Lease, transitions: &[Transition]) -> Result<(), StoreError> {
        if transitions.is_empty() {
            return Ok(());
        }
        let applied = self
            .store
            .apply(&lease.owner, transitions, now_ms())
            .await?;
        let released = transitions
            .iter()
            .filter(|t| !matches!(t, Transition::Ambiguous { .. }))
            .count();
        let _ = lease
            .held
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |h| {
                Some(h.saturating_sub(released))
            });
        if usize::try_from(applied).unwrap_or(usize::MAX) < transitions.len() {
            tracing::warn!(
                owner = %lease.owner,
                skipped = transitions.len() - usize::try_from(applied).unwrap_or(0),
                "results of a round whose lease ran out were dropped: another replica has the operations"
            );
        } else {
            let dead = transitions
                .iter()
                .filter(|t| matches!(t, Transition::Dead { .. }))
                .count();
            if dead > 0 {
                metrics::counter!("hirebridge_delivery_dead_letters_total", "kind" => lease.kind.as_str())
                    .increment(dead as u64);
            }
        }
        Ok(())
    }

    /// Exponential backoff with full jitter: uniform in [0, min(max, initial·2^attempts)].
    fn backoff_ms(&self, attempts: i32) -> i64 {
        let exp = u32::try_from(attempts.clamp(0, 30)).unwrap_or(30);
        let cap = self
            .cfg
            .initial_backoff_ms
            .saturating_mul(1u64 << exp)
            .min(self.cfg.max_backoff_ms);
        i64::try_from(rand::random_range(0..=cap)).unwrap_or(i64::MAX)
    }

    /// The transition for a failed operation: retry with backoff, or dead-letter.
    fn failed(&self, op: &ClaimedOp, failure: &Failure) -> Transition {
        let now = now_ms();
        match failure {
            Failure::RateLimited => Transition::Retry {
                op_id: op.id,
                at_ms: now,
                error: "rate limited by Connecteam; waiting for the budget reset".to_owned(),
                count_attempt: false,
                ambiguous: op.ambiguous,
            },
            Failure::Unauthorized(detail) => Transition::Retry {
                op_id: op.id,
                at_ms: now + self.unauthorized_pause_ms,
                error: format!(
                    "Connecteam refused the credentials (401: {detail}); check connecteam.api_key or connecteam.oauth"
                ),
                count_attempt: false,
                ambiguous: op.ambiguous,
            },
            Failure::Permanent(status, detail) => Transition::Dead {
                op_id: op.id,
                error: format!("Connecteam answered {status}: {detail}"),
            },
            Failure::Ambiguous(m) | Failure::Retryable(m) => {
                let unseen = matches!(failure, Failure::Ambiguous(_));
                let ambiguous = op.ambiguous || unseen;
                let attempts = op.attempts + 1;
                if u32::try_from(attempts).unwrap_or(u32::MAX) >= self.cfg.max_attempts {
                    Transition::Dead {
                        op_id: op.id,
                        error: format!("gave up after {attempts} attempts: {m}"),
                    }
                } else {
                    metrics::counter!("hirebridge_delivery_retries_total", "kind" => op.kind.as_str())
                        .increment(1);
                    // A write whose answer was lost may still land: read back no sooner than
                    // a request could still be under way, or the read misses it.
                    let floor = if unseen { self.timeout_ms } else { 0 };
                    Transition::Retry {
                        op_id: op.id,
                        at_ms: now + self.backoff_ms(attempts).max(floor),
                        error: m.clone(),
                        count_attempt: true,
                        ambiguous,
                    }
                }
            }
        }
    }

    /// Send one request's worth of budget-gated work; `None` when the round must stop
    /// (cancelled, or its lease was taken over while it waited for the budget).
    async fn paced<T>(
        &self,
        cancel: &CancellationToken,
        lease: &Lease,
        call: impl Future<Output = Result<crate::connecteam::Reply<T>, ApiError>>,
    ) -> Result<Option<Result<T, ApiError>>, StoreError> {
        if !self.pacer.acquire(cancel).await? {
            return Ok(None);
        }
        let held = u64::try_from(lease.held.load(Ordering::Relaxed)).unwrap_or(u64::MAX);
        let still = self.store.renew(&lease.owner, now_ms() + lease.ms).await?;
        if still < held {
            tracing::warn!(
                owner = %lease.owner,
                held,
                still,
                "a round's lease ran out while it waited and another replica took its operations over; stopping the round"
            );
            return Ok(None);
        }
        let res = call.await;
        match &res {
            Ok(reply) => self.pacer.observe(reply.rate.as_ref()).await?,
            Err(ApiError::RateLimited { rate }) => {
                self.pacer.pause_until_reset(rate.as_ref()).await?;
            }
            Err(e @ ApiError::Permanent { status: 401, .. }) => {
                tracing::error!(
                    error = %e,
                    pause_ms = self.unauthorized_pause_ms,
                    "Connecteam refused the credentials; holding every request (fix connecteam.api_key or connecteam.oauth)"
                );
                self.pacer.pause_for(self.unauthorized_pause_ms).await?;
            }
            Err(e) => self.pacer.observe(e.rate()).await?,
        }
        Ok(Some(res.map(|r| r.value)))
    }

    /// Whether a batch should wait for more company: fewer than `full` and the oldest has
    /// been due for less than the batch window. Returns when to look again.
    fn still_filling(&self, ops: &[ClaimedOp], full: usize) -> Option<i64> {
        let window = i64::try_from(self.cfg.batch_window_ms).unwrap_or(i64::MAX);
        let oldest = ops.iter().map(|o| o.due_at_ms).min()?;
        (ops.len() < full && now_ms() - oldest < window).then_some(oldest + window)
    }

    // ---- users ---------------------------------------------------------------------------

    async fn resolve_users(&self, cancel: &CancellationToken) -> Result<usize, StoreError> {
        let (lease, ops) = self
            .claim(OperationKind::ResolveUser, LOOKUP_BATCH, 12)
            .await?;
        if ops.is_empty() {
            return Ok(0);
        }
        if let Some(at) = self.still_filling(&ops, LOOKUP_BATCH as usize) {
            let defer: Vec<_> = ops
                .iter()
                .map(|o| Transition::Defer {
                    op_id: o.id,
                    at_ms: at,
                })
                .collect();
            self.apply(&lease, &defer).await?;
            return Ok(0);
        }
        let n = ops.len();
        let mut out: Vec<Transition> = Vec::with_capacity(n);
        let mut pending: Vec<(ClaimedOp, Hire)> = Vec::with_capacity(n);
        for op in ops {
            match serde_json::from_value::<Hire>(op.hire.clone()) {
                Ok(h) => pending.push((op, h)),
                Err(e) => out.push(Transition::Dead {
                    op_id: op.id,
                    error: format!("stored hire is unreadable: {e}"),
                }),
            }
        }

        let Some(mut found) = self.find_users(cancel, &lease, &pending).await? else {
            return self.release(&lease, pending, out).await;
        };

        // Archived matches are rehires: restore them.
        let archived: Vec<u64> = unique(
            found
                .values()
                .filter_map(|r| r.as_ref().ok().and_then(Option::as_ref))
                .filter(|u| u.is_archived)
                .map(|u| u.user_id),
        );
        let mut restore_failed: HashMap<u64, Failure> = HashMap::new();
        for chunk in archived.chunks(CREATE_BATCH) {
            let key = crate::connecteam::idempotency_key(
                &format!(
                    "restore:{}",
                    chunk
                        .iter()
                        .map(u64::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                ),
                "users/restore",
            );
            match self
                .paced(cancel, &lease, self.client.restore_users(chunk, &key))
                .await?
            {
                None => return self.release(&lease, pending, out).await,
                Some(Ok(())) => {
                    tracing::info!(users = ?chunk, "restored archived Connecteam users matched by rehires");
                }
                Some(Err(e)) => {
                    for id in chunk {
                        restore_failed.insert(*id, Failure::from(&e));
                    }
                }
            }
        }

        let mut to_create: Vec<(ClaimedOp, Hire, PhoneE164)> = Vec::new();
        // One person in several events (two sources, a re-sent hire): one create. The others
        // wait for the next round, whose lookup finds the user created in this one (creating
        // them too would be refused as a duplicate phone or email and dead-letter them).
        let mut creating: HashSet<String> = HashSet::new();
        for (op, h) in pending {
            match found.remove(&op.id) {
                Some(Err(f)) => {
                    out.push(self.failed(&op, &f));
                    continue;
                }
                Some(Ok(Some(u))) => {
                    if let Some(f) = restore_failed.get(&u.user_id) {
                        out.push(self.failed(&op, f));
                    } else {
                        out.push(self.resolved(&op, u.user_id));
                    }
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
                        out.push(Transition::Defer {
                            op_id: op.id,
                            at_ms: now_ms(),
                        });
                        continue;
                    }
                    creating.insert(p.as_str().to_owned());
                    creating.extend(email);
                    let p = p.clone();
                    to_create.push((op, h, p));
                }
                _ => out.push(self.wait_for_user(&op, &h)),
            }
        }

        // Creates, 25 per request; a 422 for a batch is split to find the refused hire.
        let mut stack: Vec<Vec<(ClaimedOp, Hire, PhoneE164)>> = Vec::new();
        let mut rest = to_create;
        while !rest.is_empty() {
            let tail = rest.split_off(rest.len().min(CREATE_BATCH));
            stack.push(rest);
            rest = tail;
        }
        while let Some(batch) = stack.pop() {
            // Before sending: should this process die now, the next owner looks up first.
            let marks: Vec<_> = batch
                .iter()
                .map(|(o, _, _)| Transition::Ambiguous { op_id: o.id })
                .collect();
            self.apply(&lease, &marks).await?;
            let users: Vec<NewUser> = batch
                .iter()
                .map(|(_, h, p)| {
                    NewUser::new(
                        &h.person.first_name,
                        &h.person.last_name,
                        p,
                        h.person.email.as_ref(),
                    )
                })
                .collect();
            let key = crate::connecteam::idempotency_key(
                &batch
                    .iter()
                    .map(|(o, _, _)| o.event_id.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                "users/create",
            );
            let res = match self
                .paced(cancel, &lease, self.client.create_users(&users, &key))
                .await?
            {
                None => {
                    // Every batch not sent yet too: no claim may outlive this round.
                    let ops = batch
                        .into_iter()
                        .chain(stack.into_iter().flatten())
                        .map(|(o, h, _)| (o, h))
                        .collect();
                    return self.release(&lease, ops, out).await;
                }
                Some(r) => r,
            };
            match res {
                Ok(created) => {
                    for (op, _, phone) in &batch {
                        match has_phone(&created, phone, &self.default_region) {
                            Some(u) => out.push(self.resolved(op, u.user_id)),
                            None => out.push(self.failed(
                                op,
                                &Failure::Ambiguous(
                                    "the created user was not in the answer".to_owned(),
                                ),
                            )),
                        }
                    }
                }
                Err(ApiError::Permanent { status: 422, .. }) if batch.len() > 1 => {
                    let mut b = batch;
                    let second = b.split_off(b.len() / 2);
                    stack.push(second);
                    stack.push(b);
                }
                Err(ApiError::Permanent {
                    status: 422,
                    detail,
                    ..
                }) => {
                    // One hire refused. Its user may exist all the same: created by an
                    // earlier attempt whose answer was lost and which landed late, or by
                    // someone else since the lookup. Look before dead-lettering.
                    let (op, h, _) = &batch[0];
                    match self.match_person(cancel, &lease, h).await? {
                        None => {
                            let ops = batch
                                .into_iter()
                                .chain(stack.into_iter().flatten())
                                .map(|(o, h, _)| (o, h))
                                .collect();
                            return self.release(&lease, ops, out).await;
                        }
                        Some(Ok(Some(u))) if !u.is_archived => {
                            out.push(self.resolved(op, u.user_id));
                        }
                        // Archived meanwhile: the next round restores it.
                        Some(Ok(Some(_))) => out.push(self.failed(
                            op,
                            &Failure::Retryable("matched an archived user".to_owned()),
                        )),
                        Some(Ok(None)) => {
                            out.push(self.failed(op, &Failure::Permanent(422, detail)));
                        }
                        Some(Err(f)) => out.push(self.failed(op, &f)),
                    }
                }
                Err(e) => {
                    let f = Failure::from(&e);
                    for (op, _, _) in &batch {
                        // The ambiguous mark stays for a failure that may have applied; a
                        // retry looks the user up before creating again anyway.
                        let mut op = op.clone();
                        op.ambiguous = matches!(f, Failure::Ambiguous(_));
                        out.push(self.failed(&op, &f));
                    }
                }
            }
        }
        self.apply(&lease, &out).await?;
        Ok(n)
    }

    /// Who each pending hire is in Connecteam: `Ok(Some(user))`, `Ok(None)` (nobody yet), or
    /// why looking failed. Two lookups for the whole batch (emails, then the phones of those
    /// still unmatched); when Connecteam refuses a batched lookup outright, the hires are
    /// looked up one by one, so one value it will not take cannot sink the other 99.
    /// `None` when the round must stop.
    async fn find_users(
        &self,
        cancel: &CancellationToken,
        lease: &Lease,
        pending: &[(ClaimedOp, Hire)],
    ) -> Result<Option<HashMap<i64, Result<Option<User>, Failure>>>, StoreError> {
        let mut out = HashMap::with_capacity(pending.len());
        match self.batch_match(cancel, lease, pending).await? {
            None => return Ok(None),
            Some(Ok(mut found)) => {
                for (op, _) in pending {
                    out.insert(op.id, Ok(found.remove(&op.id)));
                }
            }
            Some(Err(Failure::Permanent(status, detail))) if pending.len() > 1 => {
                tracing::warn!(
                    status,
                    %detail,
                    hires = pending.len(),
                    "Connecteam refused a batched user lookup; looking the hires up one by one"
                );
                for (op, h) in pending {
                    match self.match_person(cancel, lease, h).await? {
                        None => return Ok(None),
                        Some(r) => {
                            out.insert(op.id, r);
                        }
                    }
                }
            }
            Some(Err(f)) => {
                for (op, _) in pending {
                    out.insert(op.id, Err(f.clone()));
                }
            }
        }
        Ok(Some(out))
    }

    /// The batched lookups: the users found, by operation id. Emails first, then the phones
    /// of the hires no email matched.
    async fn batch_match(
        &self,
        cancel: &CancellationToken,
        lease: &Lease,
        pending: &[(ClaimedOp, Hire)],
    ) -> Result<Option<Result<HashMap<i64, User>, Failure>>, StoreError> {
        let mut found: HashMap<i64, User> = HashMap::new();
        for key in [Key::Email, Key::Phone] {
            let unmatched: Vec<&(ClaimedOp, Hire)> = pending
                .iter()
                .filter(|(op, _)| !found.contains_key(&op.id))
                .collect();
            let values: Vec<String> = unique(unmatched.iter().filter_map(|(_, h)| key.of(h)));
            if values.is_empty() {
                continue;
            }
            let mut q = UserQuery::default();
            match key {
                Key::Email => q.emails = values,
                Key::Phone => q.phones = values,
            }
            match self.lookup(cancel, lease, q).await? {
                None => return Ok(None),
                Some(Err(f)) => return Ok(Some(Err(f))),
                Some(Ok(users)) => {
                    for (op, h) in unmatched {
                        let user = match key {
                            Key::Email => {
                                h.person.email.as_ref().and_then(|e| has_email(&users, e))
                            }
                            Key::Phone => h
                                .person
                                .phone
                                .as_ref()
                                .and_then(|p| has_phone(&users, p, &self.default_region)),
                        };
                        if let Some(u) = user {
                            found.insert(op.id, u.clone());
                        }
                    }
                }
            }
        }
        Ok(Some(Ok(found)))
    }

    /// One lookup (all pages); `None` when the round must stop.
    async fn lookup(
        &self,
        cancel: &CancellationToken,
        lease: &Lease,
        mut q: UserQuery,
    ) -> Result<Option<Result<Vec<User>, Failure>>, StoreError> {
        q.status = UserStatus::All;
        q.limit = crate::connecteam::MAX_USERS_PAGE;
        let mut users = Vec::new();
        loop {
            match self
                .paced(cancel, lease, self.client.find_users(&q))
                .await?
            {
                None => return Ok(None),
                Some(Err(e)) => return Ok(Some(Err(Failure::from(&e)))),
                Some(Ok(page)) => {
                    users.extend(page.users);
                    match page.next_offset {
                        Some(next) if next > q.offset => q.offset = next,
                        _ => return Ok(Some(Ok(users))),
                    }
                }
            }
        }
    }

    /// The user one hire matches, by email and then by phone, archived ones included.
    /// `None` when the round must stop.
    async fn match_person(
        &self,
        cancel: &CancellationToken,
        lease: &Lease,
        h: &Hire,
    ) -> Result<Option<Result<Option<User>, Failure>>, StoreError> {
        if let Some(e) = &h.person.email {
            let q = UserQuery {
                emails: vec![e.as_str().to_lowercase()],
                ..UserQuery::default()
            };
            match self.lookup(cancel, lease, q).await? {
                None => return Ok(None),
                Some(Err(f)) => return Ok(Some(Err(f))),
                Some(Ok(users)) => {
                    if let Some(u) = has_email(&users, e).cloned() {
                        return Ok(Some(Ok(Some(u))));
                    }
                }
            }
        }
        if let Some(p) = &h.person.phone {
            let q = UserQuery {
                phones: vec![p.as_str().to_owned()],
                ..UserQuery::default()
            };
            match self.lookup(cancel, lease, q).await? {
                None => return Ok(None),
                Some(Err(f)) => return Ok(Some(Err(f))),
                Some(Ok(users)) => {
                    if let Some(u) = has_phone(&users, p, &self.default_region).cloned() {
                        return Ok(Some(Ok(Some(u))));
                    }
                }
            }
        }
        Ok(Some(Ok(None)))
    }

    /// The user of `op`'s event is known: finish `resolve_user` and insert the plan's
    /// pack and policy operations with it.
    fn resolved(&self, op: &ClaimedOp, user_id: u64) -> Transition {
        let operations = match op.plan.clone().map(serde_json::from_value::<Plan>) {
            None => Vec::new(),
            Some(Ok(plan)) => crate::intake::planned_operations(&op.event_id, &plan),
            Some(Err(e)) => {
                return Transition::Dead {
                    op_id: op.id,
                    error: format!("the stored plan is unreadable: {e}"),
                };
            }
        };
        Transition::UserResolved {
            op_id: op.id,
            event_id: op.event_id.clone(),
            user_id: i64::try_from(user_id).unwrap_or(i64::MAX),
            operations,
        }
    }

    /// No user yet: look again later, or give up after `waiting_for_user_timeout_s`.
    ///
    /// Waiting hires are looked for again on a shared schedule rather than each on its own
    /// jittered one: the next look is at the next multiple of a period that doubles (from
    /// `initial_backoff_ms` up to `max_backoff_ms`) with how long the hire has waited. Every
    /// hire waiting about as long falls due at the same instant and shares one lookup of up
    /// to 100, so a thousand waiting hires cost a few requests per period, not a thousand.
    fn wait_for_user(&self, op: &ClaimedOp, h: &Hire) -> Transition {
        let timeout_ms = i64::try_from(self.cfg.waiting_for_user_timeout_s.saturating_mul(1000))
            .unwrap_or(i64::MAX);
        let now = now_ms();
        let waited = now - op.created_at_ms;
        if waited >= timeout_ms {
            return Transition::Dead {
                op_id: op.id,
                error: format!(
                    "no Connecteam user matched within waiting_for_user_timeout_s ({} s)",
                    self.cfg.waiting_for_user_timeout_s
                ),
            };
        }
        let why = if h.person.phone.is_none() {
            "no Connecteam user matches the email and the hire has no phone to create one with"
        } else {
            "no Connecteam user matches and create_missing_users is false"
        };
        Transition::Wait {
            op_id: op.id,
            at_ms: recheck_at(
                now,
                waited,
                i64::try_from(self.cfg.initial_backoff_ms).unwrap_or(1000),
                i64::try_from(self.cfg.max_backoff_ms).unwrap_or(i64::MAX / 4),
            ),
            note: why.to_owned(),
        }
    }

    /// The round must stop: hand the claimed operations back untouched, with what it settled.
    async fn release(
        &self,
        lease: &Lease,
        ops: Vec<(ClaimedOp, Hire)>,
        mut out: Vec<Transition>,
    ) -> Result<usize, StoreError> {
        let now = now_ms();
        out.extend(ops.iter().map(|(o, _)| Transition::Defer {
            op_id: o.id,
            at_ms: now,
        }));
        self.apply(lease, &out).await?;
        Ok(0)
    }

    // ---- packs ---------------------------------------------------------------------------

    async fn assign_packs(&self, cancel: &CancellationToken) -> Result<usize, StoreError> {
        let (lease, ops) = self
            .claim(OperationKind::AssignPack, 5 * PACK_BATCH as u32, 40)
            .await?;
        if ops.is_empty() {
            return Ok(0);
        }
        let mut by_pack: BTreeMap<String, Vec<ClaimedOp>> = BTreeMap::new();
        for op in ops {
            by_pack.entry(op.target.clone()).or_default().push(op);
        }
        let mut handled = 0;
        let mut groups: Vec<(String, Vec<ClaimedOp>)> = by_pack.into_iter().collect();
        groups.reverse();
        while let Some((pack, ops)) = groups.pop() {
            if let Some(at) = self.still_filling(&ops, PACK_BATCH) {
                let defer: Vec<_> = ops
                    .iter()
                    .map(|o| Transition::Defer {
                        op_id: o.id,
                        at_ms: at,
                    })
                    .collect();
                self.apply(&lease, &defer).await?;
                continue;
            }
            handled += ops.len();
            let (out, stop) = self.assign_pack(cancel, &lease, &pack, ops).await?;
            self.apply(&lease, &out).await?;
            if stop {
                // Hand back the packs not reached (cancelled, or the lease was taken over).
                let rest: Vec<Transition> =
                    self.defer_all(groups.iter().flat_map(|(_, o)| o.iter()), Vec::new());
                self.apply(&lease, &rest).await?;
                break;
            }
        }
        Ok(handled)
    }

    /// Assign one pack's due users. Returns the transitions, and whether the round must stop
    /// (the operations not settled are deferred among the transitions).
    async fn assign_pack(
        &self,
        cancel: &CancellationToken,
        lease: &Lease,
        pack: &str,
        ops: Vec<ClaimedOp>,
    ) -> Result<(Vec<Transition>, bool), StoreError> {
        let mut out = Vec::with_capacity(ops.len());
        let Ok(pack_id) = pack.parse::<u64>() else {
            let dead = ops
                .iter()
                .map(|o| Transition::Dead {
                    op_id: o.id,
                    error: format!("pack id {pack:?} is not a number"),
                })
                .collect();
            return Ok((dead, false));
        };
        let mut ops: Vec<(ClaimedOp, u64)> = ops
            .into_iter()
            .filter_map(|o| match o.user_id.and_then(|u| u64::try_from(u).ok()) {
                Some(u) => Some((o, u)),
                None => {
                    out.push(Transition::Dead {
                        op_id: o.id,
                        error: "the event has no Connecteam user".to_owned(),
                    });
                    None
                }
            })
            .collect();

        // A POST whose outcome was not seen is never repeated blindly: read the pack first.
        if ops.iter().any(|(o, _)| o.ambiguous) {
            match self
                .paced(cancel, lease, self.client.pack_assignments(pack_id))
                .await?
            {
                None => return Ok((self.defer_all(ops.iter().map(|(o, _)| o), out), true)),
                Some(Ok(assigned)) => {
                    let assigned: HashSet<u64> = assigned.iter().map(|a| a.user_id).collect();
                    ops.retain(|(o, u)| {
                        if assigned.contains(u) {
                            out.push(Transition::Done { op_id: o.id });
                            false
                        } else {
                            true
                        }
                    });
                }
                Some(Err(e)) => {
                    let f = Failure::from(&e);
                    out.extend(ops.iter().map(|(o, _)| self.failed(o, &f)));
                    return Ok((out, false));
                }
            }
        }

        let mut stack: Vec<Vec<(ClaimedOp, u64)>> = Vec::new();
        while !ops.is_empty() {
            let tail = ops.split_off(ops.len().min(PACK_BATCH));
            stack.push(ops);
            ops = tail;
        }
        while let Some(batch) = stack.pop() {
            if batch.is_empty() {
                continue;
            }
            let user_ids: Vec<u64> = unique(batch.iter().map(|(_, u)| *u));
            let marks: Vec<_> = batch
                .iter()
                .map(|(o, _)| Transition::Ambiguous { op_id: o.id })
                .collect();
            self.apply(lease, &marks).await?;
            let key = crate::connecteam::idempotency_key(
                &batch
                    .iter()
                    .map(|(o, _)| o.event_id.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                &format!("pack/{pack_id}"),
            );
            let res = match self
                .paced(
                    cancel,
                    lease,
                    self.client.assign_pack(pack_id, &user_ids, &key),
                )
                .await?
            {
                None => {
                    out = self.defer_all(batch.iter().map(|(o, _)| o), out);
                    for rest in &stack {
                        out = self.defer_all(rest.iter().map(|(o, _)| o), out);
                    }
                    return Ok((out, true));
                }
                Some(r) => r,
            };
            match res {
                Ok(()) => {
                    metrics::histogram!("hirebridge_delivery_pack_users_per_request")
                        .record(user_ids.len() as f64);
                    out.extend(batch.iter().map(|(o, _)| Transition::Done { op_id: o.id }));
                }
                Err(ApiError::Permanent { status: 422, .. }) if user_ids.len() > 1 => {
                    // All-or-nothing: split to isolate the refused ids and assign the rest.
                    let mut ids = user_ids;
                    let upper: HashSet<u64> = ids.split_off(ids.len() / 2).into_iter().collect();
                    let (hi, lo): (Vec<_>, Vec<_>) =
                        batch.into_iter().partition(|(_, u)| upper.contains(u));
                    stack.push(hi);
                    stack.push(lo);
                }
                Err(ApiError::Permanent {
                    status: 422,
                    detail,
                    ..
                }) => {
                    // One user refused: already assigned (undocumented behaviour) or invalid.
                    // Only the pack's own assignments can tell; without them, nothing is
                    // dead-lettered.
                    match self
                        .paced(cancel, lease, self.client.pack_assignments(pack_id))
                        .await?
                    {
                        None => {
                            out = self.defer_all(batch.iter().map(|(o, _)| o), out);
                            for rest in &stack {
                                out = self.defer_all(rest.iter().map(|(o, _)| o), out);
                            }
                            return Ok((out, true));
                        }
                        Some(Ok(a)) if a.iter().any(|a| user_ids.contains(&a.user_id)) => {
                            out.extend(batch.iter().map(|(o, _)| Transition::Done { op_id: o.id }));
                        }
                        Some(Ok(_)) => {
                            let f = Failure::Permanent(422, detail);
                            out.extend(batch.iter().map(|(o, _)| self.failed(o, &f)));
                        }
                        Some(Err(e)) => {
                            let f = Failure::from(&e);
                            out.extend(batch.iter().map(|(o, _)| self.failed(o, &f)));
                        }
                    }
                }
                Err(e) => {
                    let f = Failure::from(&e);
                    for (o, _) in &batch {
                        let mut o = o.clone();
                        // Marked before sending: only an unseen outcome keeps it.
                        o.ambiguous = matches!(f, Failure::Ambiguous(_)) || o.ambiguous;
                        out.push(self.failed(&o, &f));
                    }
                }
            }
        }
        Ok((out, false))
    }

    fn defer_all<'a>(
        &self,
        ops: impl Iterator<Item = &'a ClaimedOp>,
        mut out: Vec<Transition>,
    ) -> Vec<Transition> {
        let now = now_ms();
        out.extend(ops.map(|o| Transition::Defer {
            op_id: o.id,
            at_ms: now,
        }));
        out
    }

    // ---- policies ------------------------------------------------------------------------

    async fn assign_policies(&self, cancel: &CancellationToken) -> Result<usize, StoreError> {
        let (lease, ops) = self
            .claim(OperationKind::AssignPolicy, POLICY_BATCH, POLICY_BATCH)
            .await?;
        if ops.is_empty() {
            return Ok(0);
        }
        let n = ops.len();
        let mut out = Vec::with_capacity(n);
        for (i, op) in ops.iter().enumerate() {
            let Some(user) = op.user_id.and_then(|u| u64::try_from(u).ok()) else {
                out.push(Transition::Dead {
                    op_id: op.id,
                    error: "the event has no Connecteam user".to_owned(),
                });
                continue;
            };
            let balance = op.params.get("balance").and_then(serde_json::Value::as_f64);
            let unit = op.params.get("unit").and_then(serde_json::Value::as_str);
            let key =
                crate::connecteam::idempotency_key(&op.event_id, &format!("policy/{}", op.target));
            match self
                .paced(
                    cancel,
                    &lease,
                    self.client
                        .assign_policy(&op.target, user, balance, unit, &key),
                )
                .await?
            {
                None => {
                    out = self.defer_all(ops[i..].iter(), out);
                    break;
                }
                Some(Ok(())) => out.push(Transition::Done { op_id: op.id }),
                // The PUT is safe to repeat: an unseen outcome is simply retried.
                Some(Err(e)) => out.push(self.failed(op, &Failure::from(&e))),
            }
        }
        self.apply(&lease, &out).await?;
        Ok(n)
    }

    async fn record_queue_metrics(&self) {
        let Ok(stats) = self.store.queue_stats().await else {
            return;
        };
        let now = now_ms();
        let mut oldest_due: Option<i64> = None;
        for kind in [
            OperationKind::ResolveUser,
            OperationKind::AssignPack,
            OperationKind::AssignPolicy,
        ] {
            for status in ["pending", "blocked", "waiting", "dead"] {
                let count = stats
                    .iter()
                    .filter(|s| s.kind == kind && s.status.as_str() == status)
                    .map(|s| s.count)
                    .sum::<i64>();
                metrics::gauge!("hirebridge_delivery_queue_depth", "kind" => kind.as_str(), "status" => status)
                    .set(count as f64);
            }
        }
        for s in &stats {
            if matches!(s.status.as_str(), "pending" | "waiting")
                && let Some(d) = s.oldest_due_ms
                && d <= now
            {
                oldest_due = Some(oldest_due.map_or(d, |o: i64| o.min(d)));
            }
        }
        metrics::gauge!("hirebridge_delivery_oldest_due_age_seconds")
            .set(oldest_due.map_or(0.0, |d| (now - d) as f64 / 1000.0));
        let waiting: i64 = stats
            .iter()
            .filter(|s| s.kind == OperationKind::ResolveUser && s.status.as_str() == "waiting")
            .map(|s| s.count)
            .sum();
        metrics::gauge!("hirebridge_delivery_hires_waiting_for_user").set(waiting as f64);
    }
}

/// What a hire is looked up by.
#[derive(Clone, Copy)]
enum Key {
    Email,
    Phone,
}

impl Key {
    /// The hire's value for this key, as sent in a lookup.
    fn of(self, h: &Hire) -> Option<String> {
        match self {
            Key::Email => h.person.email.as_ref().map(|e| e.as_str().to_lowercase()),
            Key::Phone => h.person.phone.as_ref().map(|p| p.as_str().to_owned()),
        }
    }
}

fn unique<T: Eq + std::hash::Hash + Clone>(items: impl Iterator<Item = T>) -> Vec<T> {
    let mut seen = HashSet::new();
    items.filter(|i| seen.insert(i.clone())).collect()
}

/// Of the users that match, an active one before an archived one: a rehire whose old,
/// archived account lingers beside a new active one is the active one.
fn best<'a>(mut matches: impl Iterator<Item = &'a User>) -> Option<&'a User> {
    let first = matches.next()?;
    if !first.is_archived {
        return Some(first);
    }
    Some(matches.find(|u| !u.is_archived).unwrap_or(first))
}

/// The user with this email (Connecteam compares emails case-insensitively).
fn has_email<'a>(users: &'a [User], email: &Email) -> Option<&'a User> {
    best(users.iter().filter(|u| {
        u.email
            .as_deref()
            .is_some_and(|ue| ue.eq_ignore_ascii_case(email.as_str()))
    }))
}

/// The user with this phone number, however Connecteam wrote it.
fn has_phone<'a>(users: &'a [User], phone: &PhoneE164, region: &str) -> Option<&'a User> {
    best(users.iter().filter(|u| {
        u.phone_number
            .as_deref()
            .is_some_and(|up| same_phone(up, phone, region))
    }))
}

/// When a hire that has waited `waited_ms` for its user is looked for again: the next
/// multiple of a period that doubles from `initial_ms` while it stays at most as long as the
/// wait so far, capped at `max_ms`. Multiples of a power-of-two period line up, so hires
/// waiting for different lengths still mostly fall due together.
fn recheck_at(now_ms: i64, waited_ms: i64, initial_ms: i64, max_ms: i64) -> i64 {
    let mut period = initial_ms.max(1);
    let cap = max_ms.max(period);
    while period.saturating_mul(2) <= waited_ms.max(0) && period.saturating_mul(2) <= cap {
        period *= 2;
    }
    (now_ms / period + 1) * period
}

/// Connecteam's phone (as it stored it) and ours (E.164) are the same number.
fn same_phone(theirs: &str, ours: &PhoneE164, region: &str) -> bool {
    theirs == ours.as_str()
        || PhoneE164::parse(theirs, region).is_ok_and(|p| p.as_str() == ours.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_hires_are_looked_for_on_a_shared_schedule() {
        // Periods double with the wait, capped, and fall on multiples of the period.
        assert_eq!(recheck_at(10_500, 0, 1000, 900_000), 11_000);
        assert_eq!(recheck_at(10_500, 1_999, 1000, 900_000), 11_000);
        assert_eq!(recheck_at(10_500, 2_000, 1000, 900_000), 12_000);
        assert_eq!(recheck_at(10_500, 9_000, 1000, 900_000), 16_000);
        assert_eq!(
            recheck_at(1_000_000, 86_400_000, 1000, 900_000) % 512_000,
            0
        );
        // Two hires that waited different times, looked at in the same instant, fall due
        // together at the longer one's period (a multiple of the shorter one's).
        let now = 7_777_777;
        let a = recheck_at(now, 3_000, 1000, 900_000);
        let b = recheck_at(now, 70_000, 1000, 900_000);
        assert_eq!(a % 2000, 0);
        assert_eq!(b % 64_000, 0);
        assert!(a > now && b > now && b - now <= 64_000);
        // A tiny configuration still moves forward.
        assert!(recheck_at(5, 100, 0, 0) > 5);
    }

    fn user(id: u64, email: &str, archived: bool) -> User {
        serde_json::from_value(serde_json::json!({
            "userId": id, "firstName": "A", "lastName": "B", "phoneNumber": "+14155550100",
            "email": email, "userType": "user", "isArchived": archived
        }))
        .unwrap()
    }

    #[test]
    fn an_active_match_is_preferred_to_an_archived_one() {
        let email = Email::parse("ada@example.com").unwrap();
        let users = [
            user(1, "ada@example.com", true),
            user(2, "ADA@example.com", false),
            user(3, "bob@example.com", false),
        ];
        assert_eq!(has_email(&users, &email).map(|u| u.user_id), Some(2));
        let only_archived = [user(1, "ada@example.com", true)];
        assert_eq!(
            has_email(&only_archived, &email).map(|u| u.user_id),
            Some(1)
        );
        let phone = PhoneE164::parse("+14155550100", "US").unwrap();
        assert_eq!(has_phone(&users, &phone, "US").map(|u| u.user_id), Some(2));
    }
}
