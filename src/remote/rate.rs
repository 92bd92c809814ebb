//! What an answer said about the budget it was spent from.

/// The state of an API's rate windows as one response reported it (each API names its own
/// headers; its client reads them into this). `None` fields were absent or unreadable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RateReport {
    pub minute_limit: Option<u32>,
    pub minute_remaining: Option<u32>,
    /// UTC epoch seconds at which the minute window resets.
    pub minute_reset_epoch_s: Option<i64>,
    pub day_remaining: Option<u32>,
    pub day_reset_epoch_s: Option<i64>,
}
