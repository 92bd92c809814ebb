//! One round of one kind of work: the operations it claimed under a lease, the requests it
//! sends through its budget, and the outcomes it commits.
//!
//! A round holds its operations by a lease, renewed before every request it sends, and every
//! change it commits is guarded by that lease: should the lease run out while the round waits
//! (a long budget pause) and another replica take the operations over, the round stops at its
//! next request and its late results change nothing.

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use tokio_util::sync::CancellationToken;

use super::claimed::{Claimed, Outcome};
use super::schedule::backoff_ms;
use crate::budget::Budget;
use crate::clock::now_ms;
use crate::config::DeliveryConfig;
use crate::domain::{Operation, OperationKind};
use crate::remote::{Answer, CallError, Closed, Failure, Gate};
use crate::store::{Store, StoreError, Transition};

/// Why a round stops before its work is done. Whatever it has not settled is handed back.
#[derive(Debug)]
pub enum Interrupt {
    /// Cancelled (shutdown), or the lease was taken over by another replica.
    Stopped,
    /// The store failed.
    Store(StoreError),
}

impl From<StoreError> for Interrupt {
    fn from(e: StoreError) -> Self {
        Interrupt::Store(e)
    }
}

/// What every round of an engine shares.
pub(crate) struct Env {
    pub store: Arc<dyn Store>,
    pub cfg: DeliveryConfig,
    /// The request timeout: a write whose answer was lost may still land this late.
    pub timeout_ms: i64,
    /// How long every request waits after the credentials were refused (401).
    pub unauthorized_pause_ms: i64,
}

/// The operations a round claimed, and the lease it holds them by.
pub(crate) struct Lease {
    pub owner: String,
    pub kind: OperationKind,
    /// How far each renewal extends the lease.
    pub ms: i64,
}

/// One round: see the module documentation.
pub struct Round<'a> {
    env: &'a Env,
    budget: &'a Budget,
    lease: Lease,
    /// What every request of the round waits on.
    gate: Arc<RoundGate>,
    /// Claimed operations without an outcome yet.
    open: HashSet<i64>,
    /// Outcomes not committed yet.
    settled: Vec<Transition>,
}

/// Before each request of a round: wait for a slot of its budget, then renew the round's
/// lease (after the wait, which can be long). Closed when the round is cancelled, when its
/// lease was taken over by another replica meanwhile, or when the store fails.
struct RoundGate {
    budget: Arc<Budget>,
    store: Arc<dyn Store>,
    cancel: CancellationToken,
    owner: String,
    lease_ms: i64,
    /// How many claimed operations the round has not handed back yet.
    held: AtomicUsize,
    /// Why it closed.
    stopped: Mutex<Option<Interrupt>>,
}

impl RoundGate {
    fn stop(&self, why: Interrupt) -> Closed {
        let mut stopped = self
            .stopped
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        stopped.get_or_insert(why);
        Closed
    }

    fn take_stop(&self) -> Option<Interrupt> {
        self.stopped
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }
}

#[async_trait]
impl Gate for RoundGate {
    async fn pass(&self) -> Result<(), Closed> {
        match self.budget.acquire(&self.cancel).await {
            Ok(true) => {}
            Ok(false) => return Err(self.stop(Interrupt::Stopped)),
            Err(e) => return Err(self.stop(Interrupt::Store(e))),
        }
        let held = u64::try_from(self.held.load(Ordering::Relaxed)).unwrap_or(u64::MAX);
        let still = match self
            .store
            .renew(&self.owner, now_ms() + self.lease_ms)
            .await
        {
            Ok(n) => n,
            Err(e) => return Err(self.stop(Interrupt::Store(e))),
        };
        if still < held {
            tracing::warn!(
                owner = %self.owner,
                held,
                still,
                "a round's lease ran out while it waited and another replica took its operations over; stopping the round"
            );
            return Err(self.stop(Interrupt::Stopped));
        }
        Ok(())
    }
}

impl<'a> Round<'a> {
    pub(crate) fn new(
        env: &'a Env,
        budget: &'a Arc<Budget>,
        cancel: &CancellationToken,
        lease: Lease,
        claimed: impl IntoIterator<Item = i64>,
    ) -> Self {
        let open: HashSet<i64> = claimed.into_iter().collect();
        let gate = Arc::new(RoundGate {
            budget: budget.clone(),
            store: env.store.clone(),
            cancel: cancel.clone(),
            owner: lease.owner.clone(),
            lease_ms: lease.ms,
            held: AtomicUsize::new(open.len()),
            stopped: Mutex::new(None),
        });
        Round {
            env,
            budget,
            lease,
            gate,
            open,
            settled: Vec::new(),
        }
    }

    /// What a client used by this round waits on before every request it sends: a slot of
    /// the round's budget, then the renewal of its lease.
    pub fn gate(&self) -> Arc<dyn Gate> {
        self.gate.clone()
    }

    /// Make one call through a client that waits on [`Round::gate`], and learn from what the
    /// answer says about the budget. `Err(Interrupt::Stopped)` when the round must stop
    /// (cancelled, or its lease was taken over while it waited).
    pub async fn send<A, E>(
        &mut self,
        call: impl Future<Output = Result<A, E>>,
    ) -> Result<Result<A::Value, Failure>, Interrupt>
    where
        A: Answer,
        E: CallError + std::fmt::Display,
    {
        let result = call.await;
        if let Some(why) = self.gate.take_stop() {
            return Err(why);
        }
        match result {
            Ok(answer) => {
                let (value, rate) = answer.into_parts();
                self.budget.observe(rate.as_ref()).await?;
                Ok(Ok(value))
            }
            Err(e) => {
                let failure = e.failure();
                match &failure {
                    Failure::RateLimited => self.budget.pause_until_reset(e.rate()).await?,
                    Failure::Unauthorized(_) => {
                        tracing::error!(
                            error = %e,
                            budget = self.budget.name(),
                            pause_ms = self.env.unauthorized_pause_ms,
                            "the credentials were refused; holding every request of this budget (fix connecteam.api_key or connecteam.oauth)"
                        );
                        self.budget
                            .pause_for(self.env.unauthorized_pause_ms)
                            .await?;
                    }
                    _ => self.budget.observe(e.rate()).await?,
                }
                Ok(Err(failure))
            }
        }
    }

    /// Record what became of `op`; committed with the round's next commit.
    pub fn settle(&mut self, op: &Claimed, outcome: Outcome) {
        let t = self.transition(op, outcome);
        self.open.remove(&op.id);
        self.settled.push(t);
    }

    /// Before sending a write for `ops`: should this process die before it learns the
    /// outcome, whoever takes them over reads back first. Committed at once.
    pub async fn mark_ambiguous<'o>(
        &mut self,
        ops: impl IntoIterator<Item = &'o Claimed>,
    ) -> Result<(), Interrupt> {
        let marks: Vec<Transition> = ops
            .into_iter()
            .map(|o| Transition::Ambiguous { op_id: o.id })
            .collect();
        self.apply(&marks).await?;
        Ok(())
    }

    /// Commit the outcomes settled so far.
    pub async fn commit(&mut self) -> Result<(), Interrupt> {
        let settled = std::mem::take(&mut self.settled);
        self.apply(&settled).await?;
        Ok(())
    }

    /// Hand back, due at `at_ms`, the operations among `ids` that have no outcome yet.
    pub(crate) fn hand_back(&mut self, ids: impl IntoIterator<Item = i64>, at_ms: i64) {
        for op_id in ids {
            if self.open.remove(&op_id) {
                self.settled.push(Transition::Defer { op_id, at_ms });
            }
        }
    }

    /// Dead-letter a claimed operation that could not even be read.
    pub(crate) fn unreadable(&mut self, op_id: i64, error: String) {
        self.open.remove(&op_id);
        self.settled.push(Transition::Dead { op_id, error });
    }

    /// The operations claimed and still without an outcome.
    pub(crate) fn unsettled(&self) -> Vec<i64> {
        self.open.iter().copied().collect()
    }

    /// The delivery settings.
    pub fn config(&self) -> &DeliveryConfig {
        &self.env.cfg
    }

    async fn apply(&mut self, transitions: &[Transition]) -> Result<(), StoreError> {
        if transitions.is_empty() {
            return Ok(());
        }
        let applied = self
            .env
            .store
            .apply(&self.lease.owner, transitions, now_ms())
            .await?;
        let released = transitions.iter().filter(|t| t.releases()).count();
        let _ = self
            .gate
            .held
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |h| {
                Some(h.saturating_sub(released))
            });
        if usize::try_from(applied).unwrap_or(usize::MAX) < transitions.len() {
            tracing::warn!(
                owner = %self.lease.owner,
                skipped = transitions.len() - usize::try_from(applied).unwrap_or(0),
                "results of a round whose lease ran out were dropped: another replica has the operations"
            );
        } else {
            let dead = transitions
                .iter()
                .filter(|t| matches!(t, Transition::Dead { .. }))
                .count();
            if dead > 0 {
                metrics::counter!("hirebridge_delivery_dead_letters_total", "kind" => self.lease.kind.as_str())
                    .increment(dead as u64);
            }
        }
        Ok(())
    }

    /// The state change an outcome makes: a failure is retried with backoff, or
    /// dead-lettered when it is permanent or the operation is out of attempts.
    fn transition(&self, op: &Claimed, outcome: Outcome) -> Transition {
        let op_id = op.id;
        match outcome {
            Outcome::Done => Transition::Done {
                op_id,
                warnings: Vec::new(),
            },
            Outcome::DoneWithWarnings(warnings) => Transition::Done { op_id, warnings },
            Outcome::UserResolved {
                user_id,
                update,
                warnings,
            } => Transition::UserResolved {
                op_id,
                user_id: i64::try_from(user_id).unwrap_or(i64::MAX),
                update: update.map(|custom_fields| Operation::UpdateProfile { custom_fields }),
                warnings,
            },
            Outcome::Fetched {
                hire,
                plan,
                rules_version,
            } => Transition::Fetched {
                op_id,
                hire,
                plan,
                rules_version,
            },
            Outcome::Dead(error) => Transition::Dead { op_id, error },
            Outcome::Wait { at_ms, note } => Transition::Wait { op_id, at_ms, note },
            Outcome::Defer { at_ms } => Transition::Defer { op_id, at_ms },
            Outcome::Failed(failure) => self.failed(op, &failure),
        }
    }

    fn failed(&self, op: &Claimed, failure: &Failure) -> Transition {
        let now = now_ms();
        let op_id = op.id;
        match failure {
            Failure::RateLimited => Transition::Retry {
                op_id,
                at_ms: now,
                error: "rate limited by Connecteam; waiting for the budget reset".to_owned(),
                count_attempt: false,
                ambiguous: op.ambiguous,
            },
            Failure::Unauthorized(detail) => Transition::Retry {
                op_id,
                at_ms: now + self.env.unauthorized_pause_ms,
                error: format!(
                    "Connecteam refused the credentials (401: {detail}); check connecteam.api_key or connecteam.oauth"
                ),
                count_attempt: false,
                ambiguous: op.ambiguous,
            },
            Failure::Permanent(status, detail) => Transition::Dead {
                op_id,
                error: format!("Connecteam answered {status}: {detail}"),
            },
            Failure::NotSent(detail) => Transition::Dead {
                op_id,
                error: format!("not sent to Connecteam: {detail}"),
            },
            Failure::Ambiguous(m) | Failure::Retryable(m) => {
                let unseen = failure.is_unseen();
                let attempts = op.attempts + 1;
                if u32::try_from(attempts).unwrap_or(u32::MAX) >= self.env.cfg.max_attempts {
                    return Transition::Dead {
                        op_id,
                        error: format!("gave up after {attempts} attempts: {m}"),
                    };
                }
                metrics::counter!("hirebridge_delivery_retries_total", "kind" => op.operation.kind().as_str())
                    .increment(1);
                // A write whose answer was lost may still land: read back no sooner than a
                // request could still be under way, or the read misses it.
                let floor = if unseen { self.env.timeout_ms } else { 0 };
                let backoff = backoff_ms(
                    attempts,
                    self.env.cfg.initial_backoff_ms,
                    self.env.cfg.max_backoff_ms,
                );
                Transition::Retry {
                    op_id,
                    at_ms: now + backoff.max(floor),
                    error: m.clone(),
                    count_attempt: true,
                    ambiguous: op.ambiguous || unseen,
                }
            }
        }
    }
}
