//! The delivery engine: carries out the operations intake committed.
//!
//! A [`Runner`] owns the loop: it claims each kind of work with a lease (so a killed
//! replica's work is taken over when the lease expires, and `FOR UPDATE SKIP LOCKED` keeps
//! replicas off each other's rows), lets batches fill, sends every request through a named
//! [`crate::budget::Budget`], applies backoff and dead letters, and commits what became of
//! every operation. What a kind of work does is its [`Job`], one file each under `jobs/`:
//!
//! 0. **`fetch_person`**: for sources whose webhooks carry only ids, fetch the person from the
//!    source's API (its own budget), map and plan the hire.
//! 1. **`resolve_user`**: find the hire's Connecteam user by email, then phone (two lookups for
//!    up to 100 hires), restore an archived one, or create it (25 per request).
//! 2. **`assign_pack`**: every due user of a pack in one POST of up to 500 ids, a 422 bisected,
//!    an unseen outcome read back before anything is sent again.
//! 3. **`assign_policy`**: one PUT per user and policy with the plan's balance and unit.
//!
//! Failures retry with exponential backoff and full jitter; permanent errors dead-letter the
//! operation at once with the server's reason; a 429 waits for the reset and is not an attempt.

mod bisect;
mod claimed;
mod job;
mod jobs;
mod profile;
mod round;
mod runner;
mod schedule;

use std::sync::Arc;

use crate::budget::Budget;
use crate::config::{ConnecteamConfig, DeliveryConfig};
use crate::connecteam::{self, Client};
use crate::store::Store;

pub use claimed::{Claimed, Outcome};
pub use job::{Batches, Batching, Job};
pub use jobs::{FetchSource, Fetching, LOOKUP_BATCH, METRIC_FETCHES, Planner};
pub use round::{Interrupt, Round};
pub use runner::Runner;

/// How long everything waits after Connecteam refused the credentials (401), at most: a
/// revoked or wrong key is not fixed by asking again, and not the operations' fault either.
/// (`delivery.max_backoff_ms`, when smaller, caps it.)
const UNAUTHORIZED_PAUSE_MS: i64 = 60_000;

/// The Connecteam account's request budget, shared by every replica through `store`.
pub fn connecteam_budget(store: Arc<dyn Store>, connecteam: &ConnecteamConfig) -> Arc<Budget> {
    Arc::new(Budget::new(
        connecteam::BUDGET,
        store,
        connecteam.requests_per_minute,
    ))
}

/// The engine that delivers to Connecteam: every kind of work, spending the account's
/// `budget` ([`connecteam_budget`]); and, first, the people of the `fetching` sources, each
/// spending a budget of its own.
pub fn engine(
    store: Arc<dyn Store>,
    client: Client,
    budget: Arc<Budget>,
    connecteam: &ConnecteamConfig,
    delivery: &DeliveryConfig,
    fetching: Option<Fetching>,
) -> Runner {
    let env = round::Env {
        store,
        cfg: delivery.clone(),
        timeout_ms: i64::try_from(connecteam.timeout_ms).unwrap_or(i64::MAX / 4),
        unauthorized_pause_ms: i64::try_from(delivery.max_backoff_ms)
            .unwrap_or(i64::MAX)
            .clamp(1, UNAUTHORIZED_PAUSE_MS),
    };
    let mut budgets = vec![budget];
    for f in fetching.iter().flat_map(|f| &f.sources) {
        budgets.push(Arc::new(Budget::new(
            f.budget(),
            env.store.clone(),
            f.fetcher.requests_per_minute(),
        )));
    }
    Runner::new(
        env,
        budgets,
        jobs::all(&client, connecteam, fetching.as_ref()),
    )
}
