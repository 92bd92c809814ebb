//! `delivery`: retries, batching windows and how long a hire may wait for its user.

use serde::Deserialize;

use super::error::{ConfigError, invalid};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    pub max_attempts: u32,
    pub initial_backoff_ms: u64,
    pub max_backoff_ms: u64,
    pub batch_window_ms: u64,
    pub waiting_for_user_timeout_s: u64,
}

impl DeliveryConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.max_attempts == 0 {
            return Err(invalid("delivery.max_attempts", "must be at least 1"));
        }
        if self.initial_backoff_ms == 0 || self.max_backoff_ms < self.initial_backoff_ms {
            return Err(invalid(
                "delivery.max_backoff_ms",
                "must be at least initial_backoff_ms, which must be at least 1",
            ));
        }
        Ok(())
    }
}
