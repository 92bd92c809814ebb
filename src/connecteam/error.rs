//! How a failed Connecteam call is classified. The class, not the status code, is what the
//! delivery engine acts on:
//!
//! | class         | when                                                             | engine does            |
//! |---------------|------------------------------------------------------------------|------------------------|
//! | `RateLimited` | 429, or any status whose body is `{"detail":"Too many requests"}` | wait for the reset; not a failed attempt |
//! | `Retryable`   | a read that timed out, lost its connection or got 5xx/408; any call whose connection was refused (nothing was sent); an OAuth token fetch that failed that way | retry with backoff |
//! | `Ambiguous`   | a write that timed out, lost its connection after sending, or got 5xx/408 | read back before repeating |
//! | `Permanent`   | other 4xx (400/401/403/404/409/422 …) and unexpected 3xx: Connecteam's own refusal | dead-letter with `detail` |
//! | `NotSent`     | a request this client refused before sending it (25+ users, a bad id) | dead-letter with `detail` |
//! | `Decode`      | a 2xx whose body is not what the docs say                        | a read: retry; a write: treat as ambiguous (it was probably applied) |
//!
//! No variant ever carries the API key, client secret or bearer token.

use crate::remote::{CallError, Failure, RateReport};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// Over the account's budget. Not a failed attempt: wait for `rate.minute_reset_epoch_s`.
    #[error("connecteam rate limit reached")]
    RateLimited { rate: Option<RateReport> },
    /// Nothing was applied (a read, or a request that never left): safe to repeat blindly.
    #[error("connecteam call failed, retryable: {message}")]
    Retryable {
        message: String,
        status: Option<u16>,
        rate: Option<RateReport>,
    },
    /// A write whose outcome is unknown: it may have been applied.
    #[error("connecteam write outcome unknown: {message}")]
    Ambiguous {
        message: String,
        status: Option<u16>,
        rate: Option<RateReport>,
    },
    /// Connecteam refused the request; repeating it is useless.
    #[error("connecteam rejected the request ({status}): {detail}")]
    Permanent {
        status: u16,
        detail: String,
        rate: Option<RateReport>,
    },
    /// This client refused to send the request (it breaks a documented limit, or a value
    /// cannot be put in a request): nothing reached Connecteam, and repeating it is useless.
    #[error("request not sent: {detail}")]
    NotSent { detail: String },
    /// Not sent because its gate closed (the round that wanted it stopped).
    #[error("request not sent: the round stopped")]
    Stopped,
    /// A 2xx whose body does not match the documented shape. Treat as `Retryable` for reads
    /// and `Ambiguous` for writes.
    #[error("connecteam answer not understood: {message}")]
    Decode { message: String },
}

impl ApiError {
    /// The rate-limit headers of the response that failed, if there was one.
    pub fn rate(&self) -> Option<&RateReport> {
        match self {
            ApiError::RateLimited { rate }
            | ApiError::Retryable { rate, .. }
            | ApiError::Ambiguous { rate, .. }
            | ApiError::Permanent { rate, .. } => rate.as_ref(),
            ApiError::Decode { .. } | ApiError::NotSent { .. } | ApiError::Stopped => None,
        }
    }

    /// The `outcome` label of `hirebridge_connecteam_requests_total`.
    pub fn endpoint_outcome(&self) -> &'static str {
        match self {
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Retryable { .. } => "retryable",
            ApiError::Ambiguous { .. } => "ambiguous",
            ApiError::Permanent { .. } => "permanent",
            ApiError::Decode { .. } => "decode",
            ApiError::NotSent { .. } => "not_sent",
            ApiError::Stopped => "stopped",
        }
    }

    /// The HTTP status of the failing response, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Retryable { status, .. } | ApiError::Ambiguous { status, .. } => *status,
            ApiError::Permanent { status, .. } => Some(*status),
            ApiError::RateLimited { .. }
            | ApiError::Decode { .. }
            | ApiError::NotSent { .. }
            | ApiError::Stopped => None,
        }
    }

    pub(crate) fn not_sent(detail: impl std::fmt::Display) -> ApiError {
        ApiError::NotSent {
            detail: detail.to_string(),
        }
    }
}

/// The server's `detail`, readable: a string as is; FastAPI's validation list as
/// `body.userId: field required (value_error.missing); …`; OAuth's `error`/`error_description`;
/// otherwise the (truncated) body or the status reason.
pub(crate) fn render_detail(status: u16, body: &[u8]) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    if let Some(v) = &parsed {
        match v.get("detail") {
            Some(serde_json::Value::String(s)) => return s.clone(),
            Some(serde_json::Value::Array(items)) => {
                let parts: Vec<String> = items.iter().map(render_validation_item).collect();
                if !parts.is_empty() {
                    return parts.join("; ");
                }
            }
            Some(other) if !other.is_null() => return truncate(&other.to_string()),
            _ => {}
        }
        if let Some(serde_json::Value::String(e)) = v.get("error") {
            return match v.get("error_description").and_then(|d| d.as_str()) {
                Some(d) => format!("{e}: {d}"),
                None => e.clone(),
            };
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        reqwest::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("no detail")
            .to_owned()
    } else {
        truncate(text)
    }
}

fn render_validation_item(item: &serde_json::Value) -> String {
    let Some(obj) = item.as_object() else {
        return item
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| item.to_string());
    };
    let loc = obj
        .get("loc")
        .and_then(|l| l.as_array())
        .map(|parts| {
            parts
                .iter()
                .map(|p| match p {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(".")
        })
        .filter(|s| !s.is_empty());
    let msg = obj.get("msg").and_then(|m| m.as_str()).unwrap_or("invalid");
    let kind = obj.get("type").and_then(|t| t.as_str());
    let mut out = match loc {
        Some(loc) => format!("{loc}: {msg}"),
        None => msg.to_owned(),
    };
    if let Some(kind) = kind {
        out.push_str(&format!(" ({kind})"));
    }
    out
}

fn truncate(s: &str) -> String {
    const MAX: usize = 500;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Whether a body is Connecteam's throttle answer, which some endpoints send with a 200.
pub(crate) fn is_throttle_body(body: &[u8]) -> bool {
    // Cheap pre-check: most bodies are large successes.
    if body.len() > 256 {
        return false;
    }
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("detail")
                .and_then(|d| d.as_str())
                .map(|d| d.trim().eq_ignore_ascii_case("too many requests"))
        })
        .unwrap_or(false)
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
            // The round noticed why itself; nothing was sent.
            ApiError::Stopped => Failure::Retryable("not sent: the round stopped".to_owned()),
        }
    }

    fn rate(&self) -> Option<&RateReport> {
        ApiError::rate(self)
    }
}
