//! The account-wide request budget. Connecteam counts requests per ACCOUNT (100/minute on a
//! typical plan) across every replica and every other user of the key, so requests are paced
//! evenly through a slot counter in the database, and the server's own
//! `x-ratelimit-minute-remaining/-reset` headers pause everyone until the reset when the
//! window is spent. A 429 does the same and is never counted as a failed attempt.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::connecteam::RateInfo;
use crate::store::{Store, StoreError, now_ms};

/// Pacing leaves this much of the budget unused (per mille), so request slots that land on a
/// window's edge, or arrive with different latencies, never push a window over its limit.
const MARGIN_PER_MILLE: i64 = 20;

pub struct Pacer {
    store: Arc<dyn Store>,
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

impl Pacer {
    pub fn new(store: Arc<dyn Store>, requests_per_minute: u32) -> Self {
        let rpm = i64::from(requests_per_minute.max(1));
        let interval_us = interval_us(rpm);
        Self {
            store,
            catch_up_us: interval_us * (rpm / 100).max(1),
            interval_us,
        }
    }

    /// The spacing between two requests of this account.
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
            .take_rate_slot(now_us() - self.catch_up_us, self.interval_us)
            .await?;
        loop {
            let wait = until - now_us();
            if wait > 0 {
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_micros(wait.unsigned_abs())) => {}
                    () = cancel.cancelled() => return Ok(false),
                }
            }
            let paused = self.store.paused_until().await?;
            if paused <= now_us() {
                return Ok(true);
            }
            until = paused;
        }
    }

    /// Learn from a response's headers. A spent window (minute or day) holds every replica
    /// until it resets. Short of that, what is left of the window is spread over the time
    /// until its reset: when something else uses the same account, the requests left are
    /// fewer than our own pacing assumes, and sending them at our pace would spend the
    /// window early and then hit the wall.
    pub async fn observe(&self, rate: Option<&RateInfo>) -> Result<(), StoreError> {
        let Some(rate) = rate else { return Ok(()) };
        if let Some(rem) = rate.minute_remaining {
            metrics::gauge!("hirebridge_connecteam_budget_remaining").set(f64::from(rem));
        }
        if rate.day_remaining == Some(0) {
            let until = rate
                .day_reset_epoch_s
                .map_or_else(|| now_us() + 3_600_000_000, |s| s * 1_000_000);
            tracing::warn!(
                until_us = until,
                "connecteam daily budget spent: pausing requests until it resets"
            );
            return self.store.pause_requests(until).await;
        }
        match (rate.minute_remaining, rate.minute_reset_epoch_s) {
            (Some(0), _) => self.pause_until_reset(Some(rate)).await?,
            (Some(left), Some(reset_s)) => {
                let spread = (reset_s * 1_000_000 - now_us()) / i64::from(left);
                if spread > self.interval_us {
                    self.store.pause_requests(now_us() + spread).await?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Hold every replica's requests for `ms` (the credentials were refused).
    pub async fn pause_for(&self, ms: i64) -> Result<(), StoreError> {
        self.store.pause_requests(now_us() + ms * 1000).await
    }

    /// A 429: wait for the reset the server announced (or one window when it did not).
    pub async fn pause_until_reset(&self, rate: Option<&RateInfo>) -> Result<(), StoreError> {
        let until = rate
            .and_then(|r| r.minute_reset_epoch_s)
            .map_or_else(|| now_us() + 60_000_000, |s| s * 1_000_000);
        tracing::info!(
            until_us = until,
            "connecteam budget spent: pausing requests until the reset"
        );
        self.store.pause_requests(until).await
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
