//! `delivery`: retries, batching windows and how long a hire may wait for its user.

use serde::Deserialize;

use super::error::{ConfigError, invalid};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    #[serde(deserialize_with = "at_least_one")]
    pub max_attempts: u32,
    #[serde(deserialize_with = "at_least_one")]
    pub initial_backoff_ms: u64,
    pub max_backoff_ms: u64,
    pub batch_window_ms: u64,
    pub waiting_for_user_timeout_s: u64,
}

impl DeliveryConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.max_backoff_ms < self.initial_backoff_ms {
            return Err(invalid(
                "delivery.max_backoff_ms",
                "must be at least initial_backoff_ms",
            ));
        }
        Ok(())
    }
}

/// A whole number of at least 1 (the key's error then says so, whatever was given).
fn at_least_one<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<u64>,
{
    let n = std::num::NonZeroU64::deserialize(d)?;
    T::try_from(n.get()).map_err(|_| serde::de::Error::custom("number out of range"))
}
