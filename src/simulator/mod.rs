//! A stateful, fault-injectable stand-in for the Connecteam API.
//!
//! Used by the test suite, by `hirebridge serve --sandbox` (in-process) and by
//! `hirebridge simulate-connecteam --listen ADDR` (see [`run`]). It implements the endpoints the
//! service relies on (users, onboarding packs and their assignments, time-off policy types and
//! policy assignments, OAuth client credentials) with the paths, shapes, limits and errors of
//! Connecteam's documentation. Where the documentation is silent the simulator makes a choice,
//! listed here so that clients can be checked against it:
//!
//! * **Users lookup** (`GET /users/v1/users`): array filters (`userIds`, `emailAddresses`,
//!   `phoneNumbers`, `fullNames`) are REPEATED query keys. Values of one key are OR-ed, different
//!   keys are AND-ed; empty values (`userIds=`) are ignored. Emails match case-insensitively,
//!   phones and full names (`"First Last"`) exactly. `userStatus` defaults to `active`.
//!   Results are ordered by `userId` (creation order; `order=desc` reverses).
//! * **Paging**: `paging: {"offset": N}` is present only when more results exist beyond this
//!   page, and `N` is the offset at which the next page starts (`offset + limit`). A page without
//!   `paging` is the last one.
//! * **User creation** (`POST /users/v1/users`): all-or-nothing. Every item is validated and
//!   checked for a duplicate phone or email (against every existing user, archived ones
//!   included, and within the batch) before anything is created. Field errors answer 422
//!   `{"detail":[{loc,msg,type}]}`; duplicates answer 422 `{"detail":"…"}`.
//! * **User update** (`PUT /users/v1/users`): all-or-nothing as well; an unknown `userId` is
//!   404 `{"detail":"User not found"}`.
//! * **Already-assigned pack users**: per [`AlreadyAssigned`]: `Ignore` (default) answers 200 and
//!   changes nothing for them, `Reject` answers 422 for the whole request. Archived users exist
//!   and may be assigned.
//! * **Policy assignment**: a user holds one policy per policy TYPE; assigning another policy of
//!   the same type replaces it. A repeated PUT overwrites balance and unit.
//! * **Rate limit**: fixed windows aligned to the moment the simulator started: a "minute" is
//!   [`SimConfig::window`] long and a "day" is 1,440 of them. Every request to the Connecteam
//!   API counts, including token requests and requests rejected with 401; requests answered 429
//!   do not consume budget. `x-ratelimit-*-reset` is the window end in UTC epoch seconds, rounded
//!   up; the simulator-only header `x-sim-ratelimit-minute-reset-ms` gives it in epoch
//!   milliseconds for scaled-clock runs.
//! * **Auth**: a `Authorization: Bearer` token must have been issued by `POST /oauth/v1/token`
//!   and not expired; otherwise, when an API key is configured, `X-API-KEY` must match. Scopes
//!   are recorded but not enforced.
//! * **No idempotency**: like Connecteam, the simulator ignores `Idempotency-Key` (it only logs
//!   it). A repeated POST is applied again: a repeated user creation fails 422 on the duplicate
//!   phone, a repeated pack assignment is an already-assigned one.
//! * **Dropped connections** ([`FaultKind::Drop`], [`FaultKind::ApplyThenDrop`]) are answered
//!   with a body that fails at once, so hyper aborts the HTTP/1.1 connection before the response
//!   head is flushed and the caller sees a connection error, not a status.
//! * **Order of checks** for each request: rate limit, then auth, then injected faults, then
//!   the endpoint. A request that is answered 429 or 401 does not consume a fault.
//!
//! The same state is inspectable and controllable over HTTP under `/_sim/…` (not counted
//! against the budget, not logged): `GET|DELETE /_sim/requests`, `GET|POST /_sim/users`,
//! `POST|DELETE /_sim/faults`, `GET /_sim/packs/{id}/assignments`, `GET /_sim/policy-assignments`,
//! `PUT /_sim/rate-limit`.

mod api;
mod control;
mod state;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use axum::http::Method;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

pub use state::{SimPack, SimPolicy, SimPolicyType, SimUser};

use state::Inner;

/// What the simulator does when a pack assignment names a user who is already assigned.
/// Connecteam does not document it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AlreadyAssigned {
    /// 200, nothing changes for that user.
    #[default]
    Ignore,
    /// 422 for the whole request, nothing is assigned.
    Reject,
}

/// Simulator configuration.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// `None` accepts any key or none.
    pub api_key: Option<String>,
    /// `(client_id, client_secret)` pairs accepted by `POST /oauth/v1/token`.
    pub oauth_clients: Vec<(String, String)>,
    pub requests_per_minute: u32,
    pub requests_per_day: u32,
    /// Length of a rate-limit "minute" (60 s normally, shorter for scaled-clock benches).
    pub window: Duration,
    pub already_assigned: AlreadyAssigned,
    /// Seed the packs, policies and users listed in [`Simulator::new`].
    pub seed: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            api_key: None,
            oauth_clients: Vec::new(),
            requests_per_minute: 100,
            requests_per_day: 10_000,
            window: Duration::from_secs(60),
            already_assigned: AlreadyAssigned::Ignore,
            seed: true,
        }
    }
}

/// One request received on the Connecteam API (the `/_sim` routes are not logged).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoggedRequest {
    #[serde(serialize_with = "ser_method")]
    pub method: Method,
    pub path: String,
    /// The raw query string, without `?` (empty when there is none).
    pub query: String,
    /// The body as JSON; a body that is not JSON is kept as a JSON string.
    pub body: Option<serde_json::Value>,
    pub idempotency_key: Option<String>,
    /// The status the endpoint produced; for a dropped connection the caller never saw it
    /// (see `dropped`), and it is 0 when nothing was applied either.
    pub status: u16,
    /// The connection was cut instead of answering.
    pub dropped: bool,
    /// The injected fault that applied to this request, if any.
    pub fault: Option<String>,
    /// Milliseconds since the simulator started, at arrival.
    pub at_ms: u64,
    #[serde(skip)]
    pub at: Instant,
}

fn ser_method<S: serde::Serializer>(m: &Method, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(m.as_str())
}

/// A fault applied to the next `times` requests matching `method` (any when `None`) and whose
/// path starts with `path_prefix`. Faults are queued; the first matching one applies.
#[derive(Clone, Debug)]
pub struct Fault {
    pub method: Option<Method>,
    pub path_prefix: String,
    pub times: usize,
    pub kind: FaultKind,
}

#[derive(Clone, Debug)]
pub enum FaultKind {
    /// Answer this status and body without applying.
    Status(u16, serde_json::Value),
    /// Cut the connection before any response; nothing applied.
    Drop,
    /// Apply the write, then cut the connection (the caller never sees the answer).
    ApplyThenDrop,
    /// Apply, then answer this status (e.g. 500/502) instead of the real answer.
    ApplyThenStatus(u16),
    /// Wait, then handle normally. The request is handled to completion even if the caller
    /// gives up (times out) meanwhile.
    Delay(Duration),
    /// HTTP 200 with body `{"detail":"Too many requests"}` (a reported quirk); nothing applied.
    ThrottleBody,
}

pub(crate) struct Shared {
    pub(crate) cfg: SimConfig,
    pub(crate) started: Instant,
    pub(crate) started_epoch: Duration,
    pub(crate) inner: Mutex<Inner>,
    pub(crate) shutdown: CancellationToken,
}

/// The simulator. Cheap to clone: clones share one state.
#[derive(Clone)]
pub struct Simulator {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("window", &self.shared.cfg.window)
            .field("already_assigned", &self.shared.cfg.already_assigned)
            .finish_non_exhaustive()
    }
}

impl Simulator {
    /// A new simulator. With `cfg.seed`: packs 101 "Company essentials" (default), 102 "Warehouse
    /// safety", 103 "Store operations", 104 "Office & IT setup", 105 "Texas compliance"; policy
    /// types `pt-vacation` (`pol-vac-ft-001` days, `pol-vac-pt-001` hours) and `pt-sick`
    /// (`pol-sick-001` hours); users Grace Hopper (active) and Alan Turing (archived).
    pub fn new(cfg: SimConfig) -> Self {
        let started_epoch = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let mut inner = Inner::new(&cfg);
        if cfg.seed {
            inner.seed(started_epoch.as_secs() as i64);
        }
        Self {
            shared: Arc::new(Shared {
                cfg,
                started: Instant::now(),
                started_epoch,
                inner: Mutex::new(inner),
                shutdown: CancellationToken::new(),
            }),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.shared
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn now_epoch_secs(&self) -> i64 {
        (self.shared.started_epoch + self.shared.started.elapsed()).as_secs() as i64
    }

    /// The router: the Connecteam API plus the `/_sim` control routes.
    pub fn router(&self) -> axum::Router {
        control::router(self.clone())
    }

    /// Serves on `listener` in a background task until the process ends or [`Self::shutdown`].
    pub async fn spawn(&self, listener: tokio::net::TcpListener) -> SocketAddr {
        let addr = listener
            .local_addr()
            .expect("a bound listener has a local address");
        let token = self.shared.shutdown.clone();
        let sim = self.clone();
        tokio::spawn(async move {
            if let Err(e) = sim.serve(listener, token.cancelled_owned()).await {
                tracing::error!(error = %e, "connecteam simulator stopped");
            }
        });
        addr
    }

    /// Serves on `listener` until `shutdown` completes (or [`Self::shutdown`] is called).
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let token = self.shared.shutdown.clone();
        let router = self.router();
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                tokio::select! {
                    _ = shutdown => {}
                    _ = token.cancelled() => {}
                }
            })
            .await
    }

    /// Stops every server started by [`Self::spawn`] or [`Self::serve`] on this simulator
    /// (gracefully: in-flight requests finish). It is final: servers started afterwards on this
    /// simulator stop at once.
    pub fn shutdown(&self) {
        self.shared.shutdown.cancel();
    }

    /// Every request received so far (oldest first), `/_sim` excluded.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.lock().log.clone()
    }

    pub fn clear_requests(&self) {
        self.lock().log.clear();
    }

    /// All users, archived included, by `userId`.
    pub fn users(&self) -> Vec<SimUser> {
        self.lock().users.values().cloned().collect()
    }

    /// Adds a user directly (no validation beyond what the caller gives); returns its `userId`.
    pub fn add_user(
        &self,
        first: &str,
        last: &str,
        phone: &str,
        email: Option<&str>,
        archived: bool,
    ) -> u64 {
        let now = self.now_epoch_secs();
        self.lock()
            .insert_user(first, last, phone, email, archived, now)
    }

    /// Deletes a user outright (test control: Connecteam only archives), with its pack and
    /// policy assignments, so that requests naming its id fail as they would for an unknown
    /// user. Returns whether it existed.
    pub fn remove_user(&self, user_id: u64) -> bool {
        let mut inner = self.lock();
        for list in inner.assignments.values_mut() {
            list.retain(|a| a.user_id != user_id);
        }
        inner.policy_assignments.retain(|(_, u), _| *u != user_id);
        inner.users.remove(&user_id).is_some()
    }

    /// The user ids assigned to a pack, in assignment order (empty for an unknown pack).
    pub fn pack_assignments(&self, pack_id: u64) -> Vec<u64> {
        self.lock()
            .assignments
            .get(&pack_id)
            .map(|a| a.iter().map(|a| a.user_id).collect())
            .unwrap_or_default()
    }

    /// `(policy id, user id, balance, unit)` for every policy assignment.
    pub fn policy_assignments(&self) -> Vec<(String, u64, Option<f64>, Option<String>)> {
        self.lock()
            .policy_assignments
            .iter()
            .map(|((_, user), a)| (a.policy_id.clone(), *user, a.balance, a.unit.clone()))
            .collect()
    }

    /// Adds (or renames) a pack.
    pub fn add_pack(&self, id: u64, name: &str) {
        self.lock().add_pack(id, name, "", false);
    }

    /// Deletes a pack and its assignments (test control), so requests naming it answer 404.
    /// Returns whether it existed.
    pub fn remove_pack(&self, id: u64) -> bool {
        let mut inner = self.lock();
        inner.assignments.remove(&id);
        inner.packs.remove(&id).is_some()
    }

    /// All packs, by id.
    pub fn packs(&self) -> Vec<SimPack> {
        self.lock().packs.values().cloned().collect()
    }

    /// All time-off policy types with their policies.
    pub fn policy_types(&self) -> Vec<SimPolicyType> {
        self.lock().policy_types.clone()
    }

    /// Queues a fault; it applies to the next `fault.times` matching requests.
    pub fn inject(&self, fault: Fault) {
        if fault.times > 0 {
            self.lock().faults.push_back(fault);
        }
    }

    /// Removes every queued fault.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Changes the per-minute budget from now on.
    pub fn set_rate_limit(&self, per_minute: u32) {
        self.lock().rate.per_minute = per_minute;
    }

    /// How many requests were answered 429 so far.
    pub fn count_429(&self) -> usize {
        self.lock().count_429
    }
}

/// Runs the simulator on `listen` until `cancel`, with the default configuration (seeded, any
/// API key accepted). For `hirebridge simulate-connecteam`.
pub async fn run(listen: SocketAddr, cancel: CancellationToken) -> anyhow::Result<()> {
    run_with(SimConfig::default(), listen, cancel).await
}

/// [`run`] with an explicit configuration.
pub async fn run_with(
    cfg: SimConfig,
    listen: SocketAddr,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let sim = Simulator::new(cfg);
    tracing::info!(%addr, "connecteam simulator listening (control routes under /_sim)");
    for p in sim.packs() {
        tracing::info!(pack_id = p.id, name = %p.name, is_default = p.is_default, "seeded pack");
    }
    for t in sim.policy_types() {
        for p in &t.policies {
            tracing::info!(policy_type = %t.id, policy_id = %p.id, name = %p.name, unit = %p.unit, "seeded time-off policy");
        }
    }
    sim.serve(listener, cancel.cancelled_owned()).await?;
    Ok(())
}
