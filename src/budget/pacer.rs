//! One named budget: requests paced evenly through a slot counter in the store, and paused
//! for everyone when a window is spent. A 429 does the same and is never counted as a failed
//! attempt.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::clock::now_ms;
use crate::remote::{Closed, Gate, RateReport};
use crate::store::{Budgets, StoreError};

/// Pacing leaves this much of the budget unused (per mille), so request slots that land on a
/// window's edge, or arrive with different latencies, never push a window over its limit.
pub const MARGIN_PER_MILLE: i64 = 20;

/// A budget of `requests_per_minute`, shared through the store under its name.
pub struct Budget {
    name: String,
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
    pub fn new(name: impl Into<String>, store: Arc<dyn Budgets>, requests_per_minute: u32) -> Self {
        let rpm = i64::from(requests_per_minute.max(1));
        let interval_us = interval_us(rpm);
        Self {
            name: name.into(),
            store,
            catch_up_us: interval_us * (rpm / 100).max(1),
            interval_us,
        }
    }

    /// The name it is shared under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The spacing between two requests of this budget.
    pub fn interval(&self) -> Duration {
        Duration::from_micros(self.interval_us.unsigned_abs())
    }

    /// Wait for this process's next turn to send a request. `false` when cancelled.
    ///
    /// A pause that another replica (or this one) set while this one slept for its slot is
    /// honoured too: the slot was handed out before anyone knew the window was spent, so once
    /// the pause is over a fresh slot is taken (the slots after a pause are spaced from its
    /// end, so replicas that waited together do not fire together).
    pub async fn acquire(&self, cancel: &CancellationToken) -> Result<bool, StoreError> {
        loop {
            let slot = self
                .store
                .take_slot(&self.name, now_us() - self.catch_up_us, self.interval_us)
                .await?;
            if slot - now_us() > MAX_PAUSE_US {
                // Only an absurd pause stored earlier (a reset read in the wrong unit) puts a
                // slot this far out: no window of this API lasts that long.
                tracing::warn!(
                    budget = %self.name,
                    slot_us = slot,
                    "a request slot lies beyond any rate window; clearing the budget's stored pause"
                );
                metrics::counter!(METRIC_IGNORED_RESETS, "budget" => self.name.clone(), "window" => "stored")
                    .increment(1);
                self.store
                    .clear_beyond(&self.name, now_us(), now_us() + MAX_PAUSE_US)
                    .await?;
                continue;
            }
            if !sleep_until(slot, cancel).await {
                return Ok(false);
            }
            let paused = self.store.paused_until(&self.name).await?;
            if paused <= now_us() {
                return Ok(true);
            }
            if !sleep_until(paused.min(now_us() + MAX_PAUSE_US), cancel).await {
                return Ok(false);
            }
        }
    }

    /// Learn from a response's report. A spent window (minute or day) holds every replica
    /// until it resets. Short of that, what is left of the window is spread over the time
    /// until its reset: when something else uses the same account, the requests left are
    /// fewer than our own pacing assumes, and sending them at our pace would spend the
    /// window early and then hit the wall. A reset that is past or further away than its
    /// window can be is not believed: it is logged, counted and treated as absent.
    pub async fn observe(&self, rate: Option<&RateReport>) -> Result<(), StoreError> {
        let Some(rate) = rate else { return Ok(()) };
        if rate.day_remaining == Some(0) {
            let until = self
                .reset_at(rate.day_reset_epoch_s, Window::Day)
                .unwrap_or_else(|| now_us() + 3_600_000_000);
            tracing::warn!(
                budget = %self.name,
                until_us = until,
                "daily budget spent: pausing requests until it resets"
            );
            return self.store.pause(&self.name, until).await;
        }
        match (rate.minute_remaining, rate.minute_reset_epoch_s) {
            (Some(0), _) => self.pause_until_reset(Some(rate)).await?,
            (Some(left), Some(_)) => {
                if let Some(reset) = self.reset_at(rate.minute_reset_epoch_s, Window::Minute) {
                    let spread = (reset - now_us()) / i64::from(left);
                    if spread > self.interval_us {
                        self.store.pause(&self.name, now_us() + spread).await?;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Hold every replica's requests for `ms` (the credentials were refused).
    pub async fn pause_for(&self, ms: i64) -> Result<(), StoreError> {
        self.store
            .pause(
                &self.name,
                now_us() + ms.clamp(0, MAX_PAUSE_US / 1000) * 1000,
            )
            .await
    }

    /// A 429: wait for the reset the server announced (or one window when it did not, or
    /// announced one that cannot be).
    pub async fn pause_until_reset(&self, rate: Option<&RateReport>) -> Result<(), StoreError> {
        let until = self
            .reset_at(rate.and_then(|r| r.minute_reset_epoch_s), Window::Minute)
            .unwrap_or_else(|| now_us() + MINUTE_US);
        tracing::info!(
            budget = %self.name,
            until_us = until,
            "budget spent: pausing requests until the reset"
        );
        self.store.pause(&self.name, until).await
    }

    /// A reset (epoch seconds) as a time to wait for, if it is one: in the future, and no
    /// further than its window can last.
    fn reset_at(&self, reset_epoch_s: Option<i64>, window: Window) -> Option<i64> {
        let s = reset_epoch_s?;
        let now = now_us();
        let until = s.checked_mul(1_000_000)?;
        let longest = match window {
            Window::Minute => MINUTE_US + RESET_MARGIN_US,
            Window::Day => DAY_US + RESET_MARGIN_US,
        };
        if until > now && until - now <= longest {
            return Some(until);
        }
        let label = match window {
            Window::Minute => "minute",
            Window::Day => "day",
        };
        tracing::warn!(
            budget = %self.name,
            window = label,
            reset_epoch_s = s,
            "ignoring a rate-limit reset that is past or beyond its window"
        );
        metrics::counter!(METRIC_IGNORED_RESETS, "budget" => self.name.clone(), "window" => label)
            .increment(1);
        None
    }
}

/// A request outside any round (the start-up check of the rule table against the account)
/// waits for its slot like every other.
#[async_trait::async_trait]
impl Gate for Budget {
    async fn pass(&self) -> Result<(), Closed> {
        match self.acquire(&CancellationToken::new()).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(Closed),
            Err(e) => {
                tracing::warn!(budget = %self.name, error = %e, "cannot take a request slot");
                Err(Closed)
            }
        }
    }
}

/// Which window a reset belongs to.
#[derive(Clone, Copy)]
enum Window {
    Minute,
    Day,
}

const MINUTE_US: i64 = 60_000_000;
const DAY_US: i64 = 86_400_000_000;
/// How far past its window's length a reset may still be believed (clock skew, rounding).
const RESET_MARGIN_US: i64 = 15_000_000;
/// The longest any request waits for its budget.
const MAX_PAUSE_US: i64 = DAY_US + RESET_MARGIN_US;

/// Resets not believed (past, or beyond their window), by budget and window.
pub const METRIC_IGNORED_RESETS: &str = "hirebridge_budget_ignored_resets_total";

/// Sleep until `until_us`; `false` when cancelled first.
async fn sleep_until(until_us: i64, cancel: &CancellationToken) -> bool {
    let wait = until_us - now_us();
    if wait <= 0 {
        return true;
    }
    tokio::select! {
        () = tokio::time::sleep(Duration::from_micros(wait.unsigned_abs())) => true,
        () = cancel.cancelled() => false,
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
