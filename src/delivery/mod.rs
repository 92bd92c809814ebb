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

pub mod pacer;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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
const LEASE_BASE_MS: i64 = 30_000;

/// The engine. Cheap to share.
pub struct Engine {
    store: Arc<dyn Store>,
    client: Client,
    pacer: Pacer,
    cfg: DeliveryConfig,
    create_missing_users: bool,
    default_region: String,
    id: String,
    seq: AtomicU64,
    wake: Arc<Notify>,
}

/// What one call to Connecteam came to, for the bookkeeping of a round.
enum Failure {
    /// Over budget: not an attempt.
    RateLimited,
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
    ) -> Result<Vec<ClaimedOp>, StoreError> {
        let paced = i64::try_from(self.pacer.interval().as_millis()).unwrap_or(i64::MAX / 4);
        let lease = LEASE_BASE_MS + 2 * i64::from(calls) * paced;
        self.store
            .claim(kind, &self.owner(), now_ms(), lease, limit)
            .await
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
            Failure::Permanent(status, detail) => {
                metrics::counter!("hirebridge_delivery_dead_letters_total", "kind" => op.kind.as_str())
                    .increment(1);
                Transition::Dead {
                    op_id: op.id,
                    error: format!("Connecteam answered {status}: {detail}"),
                }
            }
            Failure::Ambiguous(m) | Failure::Retryable(m) => {
                let ambiguous = op.ambiguous || matches!(failure, Failure::Ambiguous(_));
                let attempts = op.attempts + 1;
                if u32::try_from(attempts).unwrap_or(u32::MAX) >= self.cfg.max_attempts {
                    metrics::counter!("hirebridge_delivery_dead_letters_total", "kind" => op.kind.as_str())
                        .increment(1);
                    Transition::Dead {
                        op_id: op.id,
                        error: format!("gave up after {attempts} attempts: {m}"),
                    }
                } else {
                    metrics::counter!("hirebridge_delivery_retries_total", "kind" => op.kind.as_str())
                        .increment(1);
                    Transition::Retry {
                        op_id: op.id,
                        at_ms: now + self.backoff_ms(attempts),
                        error: m.clone(),
                        count_attempt: true,
                        ambiguous,
                    }
                }
            }
        }
    }

    /// Send one request's worth of budget-gated work; `None` when cancelled.
    async fn paced<T>(
        &self,
        cancel: &CancellationToken,
        call: impl Future<Output = Result<crate::connecteam::Reply<T>, ApiError>>,
    ) -> Result<Option<Result<T, ApiError>>, StoreError> {
        if !self.pacer.acquire(cancel).await? {
            return Ok(None);
        }
        let res = call.await;
        match &res {
            Ok(reply) => self.pacer.observe(reply.rate.as_ref()).await?,
            Err(ApiError::RateLimited { rate }) => {
                self.pacer.pause_until_reset(rate.as_ref()).await?;
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
        let ops = self
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
            self.store.apply(&defer, now_ms()).await?;
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

        // Emails first, then phones for whoever is still unmatched.
        let mut found: HashMap<i64, User> = HashMap::new();
        let emails: Vec<String> = unique(
            pending
                .iter()
                .filter_map(|(_, h)| h.person.email.as_ref().map(|e| e.as_str().to_lowercase())),
        );
        if !emails.is_empty() {
            let q = UserQuery {
                emails,
                ..UserQuery::default()
            };
            match self.lookup(cancel, q).await? {
                None => return self.release(pending, out).await,
                Some(Err(f)) => return self.fail_all(pending, out, &f).await,
                Some(Ok(users)) => {
                    for (op, h) in &pending {
                        if let Some(e) = &h.person.email
                            && let Some(u) = has_email(&users, e)
                        {
                            found.insert(op.id, u.clone());
                        }
                    }
                }
            }
        }
        let phones: Vec<String> = unique(
            pending
                .iter()
                .filter(|(op, _)| !found.contains_key(&op.id))
                .filter_map(|(_, h)| h.person.phone.as_ref().map(|p| p.as_str().to_owned())),
        );
        if !phones.is_empty() {
            let q = UserQuery {
                phones,
                ..UserQuery::default()
            };
            match self.lookup(cancel, q).await? {
                None => return self.release(pending, out).await,
                Some(Err(f)) => return self.fail_all(pending, out, &f).await,
                Some(Ok(users)) => {
                    for (op, h) in &pending {
                        if found.contains_key(&op.id) {
                            continue;
                        }
                        if let Some(p) = &h.person.phone
                            && let Some(u) = has_phone(&users, p, &self.default_region)
                        {
                            found.insert(op.id, u.clone());
                        }
                    }
                }
            }
        }

        // Archived matches are rehires: restore them.
        let archived: Vec<u64> =
            unique(found.values().filter(|u| u.is_archived).map(|u| u.user_id));
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
                .paced(cancel, self.client.restore_users(chunk, &key))
                .await?
            {
                None => return self.release(pending, out).await,
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
            if let Some(u) = found.get(&op.id) {
                if let Some(f) = restore_failed.get(&u.user_id) {
                    out.push(self.failed(&op, f));
                } else {
                    out.push(self.resolved(&op, u.user_id));
                }
                continue;
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
            self.store.apply(&marks, now_ms()).await?;
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
                .paced(cancel, self.client.create_users(&users, &key))
                .await?
            {
                None => {
                    // Every batch not sent yet too: no claim may outlive this process.
                    let ops = batch
                        .into_iter()
                        .chain(stack.into_iter().flatten())
                        .map(|(o, h, _)| (o, h))
                        .collect();
                    return self.release(ops, out).await;
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
                    match self.match_person(cancel, h).await? {
                        None => {
                            let ops = batch
                                .into_iter()
                                .chain(stack.into_iter().flatten())
                                .map(|(o, h, _)| (o, h))
                                .collect();
                            return self.release(ops, out).await;
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
                            out.push(self.failed(op, &Failure::Permanent(422, detail)))
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
        self.store.apply(&out, now_ms()).await?;
        Ok(n)
    }

    /// One lookup (all pages); `None` when cancelled.
    async fn lookup(
        &self,
        cancel: &CancellationToken,
        mut q: UserQuery,
    ) -> Result<Option<Result<Vec<User>, Failure>>, StoreError> {
        q.status = UserStatus::All;
        q.limit = crate::connecteam::MAX_USERS_PAGE;
        let mut users = Vec::new();
        loop {
            match self.paced(cancel, self.client.find_users(&q)).await? {
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
    /// `None` when cancelled.
    async fn match_person(
        &self,
        cancel: &CancellationToken,
        h: &Hire,
    ) -> Result<Option<Result<Option<User>, Failure>>, StoreError> {
        if let Some(e) = &h.person.email {
            let q = UserQuery {
                emails: vec![e.as_str().to_lowercase()],
                ..UserQuery::default()
            };
            match self.lookup(cancel, q).await? {
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
            match self.lookup(cancel, q).await? {
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

    fn wait_for_user(&self, op: &ClaimedOp, h: &Hire) -> Transition {
        let timeout_ms = i64::try_from(self.cfg.waiting_for_user_timeout_s.saturating_mul(1000))
            .unwrap_or(i64::MAX);
        let now = now_ms();
        if now - op.created_at_ms >= timeout_ms {
            metrics::counter!("hirebridge_delivery_dead_letters_total", "kind" => op.kind.as_str())
                .increment(1);
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
        // Re-checks back off like retries, without counting as failed attempts.
        let waits = i32::try_from((now - op.created_at_ms) / 1000)
            .unwrap_or(i32::MAX)
            .max(1)
            .ilog2();
        Transition::Wait {
            op_id: op.id,
            at_ms: (now + self.backoff_ms(i32::try_from(waits).unwrap_or(0)))
                .max(now + i64::try_from(self.cfg.initial_backoff_ms).unwrap_or(1000)),
            note: why.to_owned(),
        }
    }

    /// Cancelled mid-round: hand the claimed operations back untouched.
    async fn release(
        &self,
        ops: Vec<(ClaimedOp, Hire)>,
        mut out: Vec<Transition>,
    ) -> Result<usize, StoreError> {
        let now = now_ms();
        out.extend(ops.iter().map(|(o, _)| Transition::Defer {
            op_id: o.id,
            at_ms: now,
        }));
        self.store.apply(&out, now).await?;
        Ok(0)
    }

    async fn fail_all(
        &self,
        ops: Vec<(ClaimedOp, Hire)>,
        mut out: Vec<Transition>,
        f: &Failure,
    ) -> Result<usize, StoreError> {
        let n = ops.len();
        out.extend(ops.iter().map(|(o, _)| self.failed(o, f)));
        self.store.apply(&out, now_ms()).await?;
        Ok(n)
    }

    // ---- packs ---------------------------------------------------------------------------

    async fn assign_packs(&self, cancel: &CancellationToken) -> Result<usize, StoreError> {
        let ops = self
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
        for (pack, ops) in by_pack {
            if let Some(at) = self.still_filling(&ops, PACK_BATCH) {
                let defer: Vec<_> = ops
                    .iter()
                    .map(|o| Transition::Defer {
                        op_id: o.id,
                        at_ms: at,
                    })
                    .collect();
                self.store.apply(&defer, now_ms()).await?;
                continue;
            }
            handled += ops.len();
            let out = self.assign_pack(cancel, &pack, ops).await?;
            self.store.apply(&out, now_ms()).await?;
        }
        Ok(handled)
    }

    async fn assign_pack(
        &self,
        cancel: &CancellationToken,
        pack: &str,
        ops: Vec<ClaimedOp>,
    ) -> Result<Vec<Transition>, StoreError> {
        let mut out = Vec::with_capacity(ops.len());
        let Ok(pack_id) = pack.parse::<u64>() else {
            return Ok(ops
                .iter()
                .map(|o| Transition::Dead {
                    op_id: o.id,
                    error: format!("pack id {pack:?} is not a number"),
                })
                .collect());
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
                .paced(cancel, self.client.pack_assignments(pack_id))
                .await?
            {
                None => return Ok(self.defer_all(ops.iter().map(|(o, _)| o), out)),
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
                    return Ok(out);
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
            self.store.apply(&marks, now_ms()).await?;
            let key = crate::connecteam::idempotency_key(
                &batch
                    .iter()
                    .map(|(o, _)| o.event_id.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                &format!("pack/{pack_id}"),
            );
            let res = match self
                .paced(cancel, self.client.assign_pack(pack_id, &user_ids, &key))
                .await?
            {
                None => {
                    out = self.defer_all(batch.iter().map(|(o, _)| o), out);
                    for rest in &stack {
                        out = self.defer_all(rest.iter().map(|(o, _)| o), out);
                    }
                    return Ok(out);
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
                    match self
                        .paced(cancel, self.client.pack_assignments(pack_id))
                        .await?
                    {
                        Some(Ok(a)) if a.iter().any(|a| user_ids.contains(&a.user_id)) => {
                            out.extend(batch.iter().map(|(o, _)| Transition::Done { op_id: o.id }));
                        }
                        _ => {
                            let f = Failure::Permanent(422, detail);
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
        Ok(out)
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
        let ops = self
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
        self.store.apply(&out, now_ms()).await?;
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

fn unique<T: Eq + std::hash::Hash + Clone>(items: impl Iterator<Item = T>) -> Vec<T> {
    let mut seen = HashSet::new();
    items.filter(|i| seen.insert(i.clone())).collect()
}

/// The user with this email (Connecteam compares emails case-insensitively).
fn has_email<'a>(users: &'a [User], email: &Email) -> Option<&'a User> {
    users.iter().find(|u| {
        u.email
            .as_deref()
            .is_some_and(|ue| ue.eq_ignore_ascii_case(email.as_str()))
    })
}

/// The user with this phone number, however Connecteam wrote it.
fn has_phone<'a>(users: &'a [User], phone: &PhoneE164, region: &str) -> Option<&'a User> {
    users.iter().find(|u| {
        u.phone_number
            .as_deref()
            .is_some_and(|up| same_phone(up, phone, region))
    })
}

/// Connecteam's phone (as it stored it) and ours (E.164) are the same number.
fn same_phone(theirs: &str, ours: &PhoneE164, region: &str) -> bool {
    theirs == ours.as_str()
        || PhoneE164::parse(theirs, region).is_ok_and(|p| p.as_str() == ours.as_str())
}
