//! One named budget: requests paced evenly through a slot counter in the store, and paused
//! for everyone when a window is spent. A 429 does the same and is never counted as a failed
//! attempt.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::clock::now_ms;
use crate::remote::RateReport;
use crate::store::{Budgets, StoreError};

/// Pacing leaves this much of the budget unused (per mille), so request slots that land on a
/// window's edge, or arrive with different latencies, never push a window over its limit.
pub const MARGIN_PER_MILLE: i64 = 20;

/// A budget of `requests_per_minute`, shared through the store under its name.
pub struct Budget {
    name: &'static str,
    store: Arc<dyn Budgets>,
    /// Slots left unused while this process did its own bookkeeping may be caught up, up to
    /// 1 % of a minute's budget: the margin above keeps every window under the limit anyway.
    catch_up_us: i64,
    /// Microseconds, so a scaled-up budget (thousands per minute) is still paced exactly.
    interval_us: i64,
}

/// Microseconds between two requests for a budget of `rpm`, margin included.
fn interval_us(rpm: i64) -> i64 {
    let num = 60_000_000 * (1000 + MARGIN_PER_MILLE);
    let den = rpm.max(1) * 1000;
    (num + den - 1) / den
}

fn now_us() -> i64 {
    now_ms() * 1000
}

impl Budget {
    pub fn new(name: &'static str, store: Arc<dyn Budgets>, requests_per_minute: u32) -> Self {
        let rpm = i64::from(requests_per_minute.max(1));
        let interval_us = interval_us(rpm);
        Self {
            name,
            store,
            catch_up_us: interval_us * (rpm / 100).max(1),
            interval_us,
        }
    }

    /// The name it is shared under.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The spacing between two requests of this budget.
    pub fn interval(&self) -> Duration {
        Duration::from_micros(self.interval_us.unsigned_abs())
    }

    /// Wait for this process's next turn to send a request. `false` when cancelled.
    ///
    /// A pause that another replica (or this one) set while this one slept for its slot is
    /// honoured too: the slot was handed out before anyone knew the window was spent.
    pub async fn acquire(&self, cancel: &CancellationToken) -> Result<bool, StoreError> {
        let mut until = self
            .store
            .take_slot(self.name, now_us() - self.catch_up_us, self.interval_us)
            .await?;
        loop {
            let wait = until - now_us();
            if wait > 0 {
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_micros(wait.unsigned_abs())) => {}
                    () = cancel.cancelled() => return Ok(false),
                }
            }
            let paused = self.store.paused_until(self.name).await?;
            if paused <= now_us() {
                return Ok(true);
            }
            until = paused;
        }
    }

    /// Learn from a response's report. A spent window (minute or day) holds every replica
    /// until it resets. Short of that, what is left of the window is spread over the time
    /// until its reset: when something else uses the same account, the requests left are
    /// fewer than our own pacing assumes, and sending them at our pace would spend the
    /// window early and then hit the wall.
    pub async fn observe(&self, rate: Option<&RateReport>) -> Result<(), StoreError> {
        let Some(rate) = rate else { return Ok(()) };
        if rate.day_remaining == Some(0) {
            let until = rate
                .day_reset_epoch_s
                .map_or_else(|| now_us() + 3_600_000_000, |s| s * 1_000_000);
            tracing::warn!(
                budget = self.name,
                until_us = until,
                "daily budget spent: pausing requests until it resets"
            );
            return self.store.pause(self.name, until).await;
        }
        match (rate.minute_remaining, rate.minute_reset_epoch_s) {
            (Some(0), _) => self.pause_until_reset(Some(rate)).await?,
            (Some(left), Some(reset_s)) => {
                let spread = (reset_s * 1_000_000 - now_us()) / i64::from(left);
                if spread > self.interval_us {
                    self.store.pause(self.name, now_us() + spread).await?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Hold every replica's requests for `ms` (the credentials were refused).
    pub async fn pause_for(&self, ms: i64) -> Result<(), StoreError> {
        self.store.pause(self.name, now_us() + ms * 1000).await
    }

    /// A 429: wait for the reset the server announced (or one window when it did not).
    pub async fn pause_until_reset(&self, rate: Option<&RateReport>) -> Result<(), StoreError> {
        let until = rate
            .and_then(|r| r.minute_reset_epoch_s)
            .map_or_else(|| now_us() + 60_000_000, |s| s * 1_000_000);
        tracing::info!(
            budget = self.name,
            until_us = until,
            "budget spent: pausing requests until the reset"
        );
        self.store.pause(self.name, until).await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn interval_leaves_a_margin() {
        let interval = super::interval_us;
        assert_eq!(interval(100), 612_000);
        assert_eq!(interval(6000), 10_200);
        assert!(interval(5) >= 12_000_000);
    }
}
