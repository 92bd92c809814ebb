//! What a failed call comes to for the operations it carried, whatever API it went to.

use crate::budget::RateReport;
use crate::connecteam::{ApiError, Reply};

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

impl<T> Answer for Reply<T> {
    type Value = T;
    fn into_parts(self) -> (T, Option<RateReport>) {
        (self.value, self.rate)
    }
}

impl CallError for ApiError {
    fn failure(&self) -> Failure {
        match self {
            ApiError::RateLimited { .. } => Failure::RateLimited,
            ApiError::Ambiguous { message, .. } => Failure::Ambiguous(message.clone()),
            ApiError::Retryable { message, .. } => Failure::Retryable(message.clone()),
            ApiError::Decode { message } => Failure::Ambiguous(message.clone()),
            ApiError::Permanent {
                status: 401,
                detail,
                ..
            } => Failure::Unauthorized(detail.clone()),
            ApiError::Permanent { status, detail, .. } => {
                Failure::Permanent(*status, detail.clone())
            }
            ApiError::NotSent { detail } => Failure::NotSent(detail.clone()),
        }
    }

    fn rate(&self) -> Option<&RateReport> {
        ApiError::rate(self)
    }
}
