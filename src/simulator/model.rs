//! The simulator's settings, its request log, and the faults it can be told to inject.

use std::time::{Duration, Instant};

use axum::http::Method;
use serde::Serialize;

/// What the simulator does when a pack assignment names a user who is already assigned.
/// Connecteam does not document it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AlreadyAssigned {
    /// 200, nothing changes for that user.
    #[default]
    Ignore,
    /// 422 for the whole request, nothing is assigned.
    Reject,
}

/// Simulator configuration.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// `None` accepts any key or none.
    pub api_key: Option<String>,
    /// `(client_id, client_secret)` pairs accepted by `POST /oauth/v1/token`.
    pub oauth_clients: Vec<(String, String)>,
    pub requests_per_minute: u32,
    pub requests_per_day: u32,
    /// Length of a rate-limit "minute" (60 s normally, shorter for scaled-clock benches).
    pub window: Duration,
    pub already_assigned: AlreadyAssigned,
    /// Seed the packs, policies, users, custom fields and smart groups listed in
    /// [`Simulator::new`].
    pub seed: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            api_key: None,
            oauth_clients: Vec::new(),
            requests_per_minute: 100,
            requests_per_day: 10_000,
            window: Duration::from_secs(60),
            already_assigned: AlreadyAssigned::Ignore,
            seed: true,
        }
    }
}

/// One request received on the Connecteam API (the `/_sim` routes are not logged).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoggedRequest {
    #[serde(serialize_with = "ser_method")]
    pub method: Method,
    pub path: String,
    /// The raw query string, without `?` (empty when there is none).
    pub query: String,
    /// The body as JSON; a body that is not JSON is kept as a JSON string.
    pub body: Option<serde_json::Value>,
    pub idempotency_key: Option<String>,
    /// The status the endpoint produced; for a dropped connection the caller never saw it
    /// (see `dropped`), and it is 0 when nothing was applied either.
    pub status: u16,
    /// The connection was cut instead of answering.
    pub dropped: bool,
    /// The injected fault that applied to this request, if any.
    pub fault: Option<String>,
    /// Milliseconds since the simulator started, at arrival.
    pub at_ms: u64,
    #[serde(skip)]
    pub at: Instant,
}

fn ser_method<S: serde::Serializer>(m: &Method, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(m.as_str())
}

/// A fault applied to the next `times` requests matching `method` (any when `None`) and whose
/// path starts with `path_prefix`. Faults are queued; the first matching one applies.
#[derive(Clone, Debug)]
pub struct Fault {
    pub method: Option<Method>,
    pub path_prefix: String,
    pub times: usize,
    pub kind: FaultKind,
}

#[derive(Clone, Debug)]
pub enum FaultKind {
    /// Answer this status and body without applying.
    Status(u16, serde_json::Value),
    /// Cut the connection before any response; nothing applied.
    Drop,
    /// Apply the write, then cut the connection (the caller never sees the answer).
    ApplyThenDrop,
    /// Apply, then answer this status (e.g. 500/502) instead of the real answer.
    ApplyThenStatus(u16),
    /// Wait, then handle normally. The request is handled to completion even if the caller
    /// gives up (times out) meanwhile.
    Delay(Duration),
    /// HTTP 200 with body `{"detail":"Too many requests"}` (a reported quirk); nothing applied.
    ThrottleBody,
}

/// Where a user's onboarding pack assignment stands, as Connecteam reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PackProgress {
    InProgress,
    Completed,
}

impl PackProgress {
    pub fn as_str(self) -> &'static str {
        match self {
            PackProgress::InProgress => "in_progress",
            PackProgress::Completed => "completed",
        }
    }
}

/// One notification (an outbound webhook of hirebridge's) the simulator's receiver took, with
/// the Standard Webhooks headers it carried, for the sandbox and tests to check.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceivedNotification {
    /// `webhook-id`: the same across retries of one notification.
    pub webhook_id: Option<String>,
    /// `webhook-timestamp`, seconds since the epoch as sent.
    pub webhook_timestamp: Option<String>,
    /// `webhook-signature`: `v1,<base64 HMAC-SHA256>` entries, space-separated.
    pub webhook_signature: Option<String>,
    /// The raw body, as the signature covers it.
    pub body: String,
    /// The status the receiver answered (503 while an outage lasts).
    pub status: u16,
    /// Milliseconds since the simulator started, at arrival.
    pub at_ms: u64,
}
