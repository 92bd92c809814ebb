//! The typed Connecteam API client the delivery engine calls.
//!
//! One method per endpoint hirebridge uses, one HTTP request per method call (plus, with OAuth,
//! the occasional token fetch and a single repeat after a 401). The client never retries on its
//! own: it classifies every failure ([`ApiError`]) and reports the rate-limit headers
//! ([`RateReport`]) so the delivery engine, which owns the account-wide budget, decides when to go
//! again. Writes carry the caller's `Idempotency-Key`, identical across the caller's retries.
//!
//! Secrets (API key, client secret, bearer token) are held as `SecretString`, sent in headers
//! marked sensitive, and never appear in `Debug`, errors, logs or metrics. Request URLs are
//! logged by path only: users lookups carry emails and phone numbers in the query string.

mod client;
mod endpoints;
mod error;
mod oauth;
mod transport;
mod types;

#[cfg(test)]
mod tests;

pub use client::{Client, ClientError};

/// The name of the account's request budget, which every request to Connecteam spends
/// (shared by every replica and every other user of the key).
pub const BUDGET: &str = "connecteam";
pub use error::ApiError;
pub use transport::{METRIC_429, METRIC_BUDGET, METRIC_DURATION, METRIC_REQUESTS};
pub use types::{
    CustomField, CustomFieldValue, DropdownOption, MAX_CREATE_USERS, MAX_PACK_ASSIGN,
    MAX_USERS_PAGE, NewUser, Pack, PackAssignment, Policy, PolicyBalance, PolicyType, Reply, User,
    UserPage, UserQuery, UserStatus,
};
