//! What a call to a remote API comes to, whatever the API: its answer and what the answer said
//! about the budget, or the class of its failure, which decides what happens to the work it
//! carried.

use super::rate::RateReport;

/// The class of a failure, which decides what happens to the operations it carried.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// Over budget: not an attempt; everyone waits for the reset.
    RateLimited,
    /// The credentials were refused (401): not an attempt; everything waits a while.
    Unauthorized(String),
    /// A write that may have been applied: read back before repeating it.
    Ambiguous(String),
    /// Nothing applied; try again later.
    Retryable(String),
    /// The API refused it: dead-letter with its reason.
    Permanent(u16, String),
    /// Refused before it was sent (it breaks a documented limit): dead-letter.
    NotSent(String),
}

impl Failure {
    /// Whether the outcome of a write is unknown.
    pub fn is_unseen(&self) -> bool {
        matches!(self, Failure::Ambiguous(_))
    }
}

/// What the runner needs of a call's answer to spend its budget: the value, and what the
/// answer said about the budget's windows.
pub trait Answer {
    type Value;
    fn into_parts(self) -> (Self::Value, Option<RateReport>);
}

/// What the runner needs of a call's error: its class, and what it said about the budget.
pub trait CallError {
    fn failure(&self) -> Failure;
    fn rate(&self) -> Option<&RateReport>;
}
