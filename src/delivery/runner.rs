//! The runner: the loop every kind of work goes through. It claims due operations of each
//! kind under a lease, cuts them into batches, lets a batch wait for company, hands the
//! batches to their job, and commits what became of every operation; it sleeps until the
//! next operation falls due or intake wakes it. It never names a kind of work: those are
//! the [`Job`]s it is given.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::claimed::Claimed;
use super::job::{Batches, Job};
use super::round::{Env, Interrupt, Lease, Round};
use crate::budget::Budget;
use crate::clock::now_ms;
use crate::domain::{OperationKind, OperationStatus};
use crate::store::StoreError;

/// A claim's lease: this much, plus twice the paced time of the requests the round may make.
/// Long enough for the round, short enough that a killed replica's work is soon taken over.
/// Renewed before every request, so a live round keeps it however long it waits for budget.
const LEASE_BASE_MS: i64 = 30_000;
/// What a lease covers beyond the longest a request may take (its timeout): a renewal is
/// followed by one request, and the lease must outlast it, or another replica could take the
/// operations over while the request is still under way and send it again.
const LEASE_MARGIN_MS: i64 = 10_000;

/// How long a round's lease lasts from each renewal: long enough for the round's paced
/// requests, and never shorter than one request's timeout plus a margin.
fn lease_ms(calls: u32, paced_ms: i64, timeout_ms: i64) -> i64 {
    (LEASE_BASE_MS + 2 * i64::from(calls) * paced_ms)
        .max(timeout_ms.saturating_add(LEASE_MARGIN_MS))
}

/// The first pause after a failed round, doubled for every failure in a row.
const ROUND_ERROR_PAUSE_MS: i64 = 500;
const ROUND_ERROR_PAUSE_MAX_MS: i64 = 30_000;

/// The pause after `failures` failed rounds in a row: 500 ms, doubling, at most 30 s.
fn round_error_pause_ms(failures: u32) -> i64 {
    ROUND_ERROR_PAUSE_MS
        .saturating_mul(1 << failures.saturating_sub(1).min(6))
        .min(ROUND_ERROR_PAUSE_MAX_MS)
}

/// The runner with its jobs and the budgets they spend. Cheap to share.
pub struct Runner {
    env: Env,
    budgets: HashMap<String, Arc<Budget>>,
    jobs: Vec<Box<dyn Job>>,
    id: String,
    seq: AtomicU64,
    wake: Arc<Notify>,
}

impl Runner {
    pub(crate) fn new(env: Env, budgets: Vec<Arc<Budget>>, jobs: Vec<Box<dyn Job>>) -> Self {
        Runner {
            env,
            budgets: budgets
                .into_iter()
                .map(|b| (b.name().to_owned(), b))
                .collect(),
            jobs,
            id: format!("engine-{}", ulid::Ulid::generate()),
            seq: AtomicU64::new(0),
            wake: Arc::new(Notify::new()),
        }
    }

    /// Wakes the runner early (intake after a commit, replay).
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Run rounds until cancelled; sleep until the next operation falls due (or a wake-up).
    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
        tracing::info!(engine = %self.id, "delivery engine started");
        // Rounds that fail one after the other (a database that cannot be written) wait ever
        // longer between them, up to half a minute, rather than failing every few milliseconds.
        let mut failures: u32 = 0;
        while !cancel.is_cancelled() {
            let worked = match self.round(&cancel).await {
                Ok(n) => {
                    failures = 0;
                    n > 0
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    metrics::counter!("hirebridge_delivery_round_errors_total").increment(1);
                    tracing::error!(error = %e, failures, "delivery round failed; retrying after a pause");
                    false
                }
            };
            self.record_queue_metrics().await;
            if worked {
                continue;
            }
            let sleep_ms = if failures > 0 {
                round_error_pause_ms(failures)
            } else {
                match self.env.store.next_due().await {
                    Ok(Some(due)) => (due - now_ms()).clamp(5, 1000),
                    _ => 1000,
                }
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
        let mut n = 0;
        for job in &self.jobs {
            n += self.run_job(job.as_ref(), cancel).await?;
        }
        Ok(n)
    }

    /// Claim one kind's due work and carry it out, batch by batch.
    async fn run_job(
        &self,
        job: &dyn Job,
        cancel: &CancellationToken,
    ) -> Result<usize, StoreError> {
        let batching = job.batching();
        let Some(budget) = self.budgets.get(job.budget()) else {
            return Err(StoreError::Corrupt(format!(
                "no budget {:?} for {} work",
                job.budget(),
                job.kind().as_str()
            )));
        };
        let paced = i64::try_from(budget.interval().as_millis()).unwrap_or(i64::MAX / 4);
        let lease = Lease {
            owner: format!("{}:{}", self.id, self.seq.fetch_add(1, Ordering::Relaxed)),
            kind: job.kind(),
            ms: lease_ms(
                batching.calls,
                paced,
                job.timeout_ms().unwrap_or(self.env.timeout_ms),
            ),
        };
        let rows = self
            .env
            .store
            .claim(
                job.kind(),
                job.target(),
                &lease.owner,
                now_ms(),
                lease.ms,
                batching.claim,
            )
            .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let mut round = Round::new(&self.env, budget, cancel, lease, rows.iter().map(|r| r.id));
        let mut claimed = Vec::with_capacity(rows.len());
        for row in rows {
            match Claimed::read(row) {
                Ok(c) => claimed.push(c),
                Err((id, error)) => round.unreadable(id, error),
            }
        }
        let mut handled = 0;
        let mut stopped = false;
        for batch in cut(claimed, batching.batches) {
            let ids: Vec<i64> = batch.iter().map(|o| o.id).collect();
            if stopped {
                round.hand_back(ids, now_ms());
                continue;
            }
            if let Some(at) = batching
                .fill
                .and_then(|full| self.still_filling(&batch, full))
            {
                round.hand_back(ids, at);
                continue;
            }
            handled += batch.len();
            match job.run(&mut round, batch).await {
                Ok(()) => {}
                Err(Interrupt::Stopped) => stopped = true,
                Err(Interrupt::Store(e)) => {
                    let open = round.unsettled();
                    round.hand_back(open, now_ms());
                    if let Err(again) = round.commit().await {
                        tracing::warn!(error = ?again, "could not hand a failed round's work back; its lease will expire");
                    }
                    return Err(e);
                }
            }
            round.hand_back(ids, now_ms());
            commit(&mut round).await?;
        }
        commit(&mut round).await?;
        Ok(handled)
    }

    /// Whether a batch should wait for more company: fewer than `full` and the oldest has
    /// been due for less than the batch window. Returns when to look again.
    fn still_filling(&self, ops: &[Claimed], full: usize) -> Option<i64> {
        let window = i64::try_from(self.env.cfg.batch_window_ms).unwrap_or(i64::MAX);
        let oldest = ops.iter().map(|o| o.due_at_ms).min()?;
        (ops.len() < full && now_ms() - oldest < window).then_some(oldest + window)
    }

    async fn record_queue_metrics(&self) {
        let Ok(stats) = self.env.store.queue_stats().await else {
            return;
        };
        let now = now_ms();
        let shown = [
            OperationStatus::Pending,
            OperationStatus::Blocked,
            OperationStatus::Waiting,
            OperationStatus::Dead,
        ];
        for kind in OperationKind::ALL {
            for status in shown {
                let count = stats
                    .iter()
                    .filter(|s| s.kind == kind && s.status == status)
                    .map(|s| s.count)
                    .sum::<i64>();
                metrics::gauge!("hirebridge_delivery_queue_depth", "kind" => kind.as_str(), "status" => status.as_str())
                    .set(count as f64);
            }
        }
        let oldest_due = stats
            .iter()
            .filter(|s| {
                matches!(
                    s.status,
                    OperationStatus::Pending | OperationStatus::Waiting
                )
            })
            .filter_map(|s| s.oldest_due_ms)
            .filter(|d| *d <= now)
            .min();
        metrics::gauge!("hirebridge_delivery_oldest_due_age_seconds")
            .set(oldest_due.map_or(0.0, |d| (now - d) as f64 / 1000.0));
        let waiting: i64 = stats
            .iter()
            .filter(|s| {
                s.kind == OperationKind::ResolveUser && s.status == OperationStatus::Waiting
            })
            .map(|s| s.count)
            .sum();
        metrics::gauge!("hirebridge_delivery_hires_waiting_for_user").set(waiting as f64);
    }
}

async fn commit(round: &mut Round<'_>) -> Result<(), StoreError> {
    match round.commit().await {
        Ok(()) | Err(Interrupt::Stopped) => Ok(()),
        Err(Interrupt::Store(e)) => Err(e),
    }
}

/// The claim cut into batches, in claim order (by target: in target order).
fn cut(claimed: Vec<Claimed>, batches: Batches) -> Vec<Vec<Claimed>> {
    match batches {
        Batches::Whole => {
            if claimed.is_empty() {
                Vec::new()
            } else {
                vec![claimed]
            }
        }
        Batches::ByTarget => {
            let mut by: BTreeMap<String, Vec<Claimed>> = BTreeMap::new();
            for op in claimed {
                by.entry(op.target.clone()).or_default().push(op);
            }
            by.into_values().collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_rounds_back_off_from_half_a_second_to_half_a_minute() {
        let pauses: Vec<i64> = (1..=8).map(round_error_pause_ms).collect();
        assert_eq!(
            pauses,
            [500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]
        );
    }

    #[test]
    fn a_lease_outlasts_the_longest_request() {
        // The default 10 s timeout is covered by the base lease.
        assert_eq!(lease_ms(12, 612, 10_000), LEASE_BASE_MS + 2 * 12 * 612);
        // A two-minute timeout: a request in flight is still under the lease.
        assert!(lease_ms(12, 612, 120_000) >= 120_000 + LEASE_MARGIN_MS);
        assert!(lease_ms(0, 0, i64::MAX) > 0);
    }
}
