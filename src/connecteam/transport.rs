//! Sending one request and reading its whole answer; classifying what went wrong; metrics.

use std::time::Duration;

use reqwest::header::HeaderValue;
use serde::de::DeserializeOwned;

use super::error::{ApiError, is_throttle_body, render_detail};
use crate::remote::RateReport;

/// Metric names, shared with dashboards and alerts.
pub const METRIC_REQUESTS: &str = "hirebridge_connecteam_requests_total";
pub const METRIC_DURATION: &str = "hirebridge_connecteam_request_duration_seconds";
pub const METRIC_BUDGET: &str = "hirebridge_connecteam_budget_remaining";
pub const METRIC_429: &str = "hirebridge_connecteam_429_total";

/// A response read to the end, before classification.
pub(crate) struct Raw {
    pub status: u16,
    pub rate: Option<RateReport>,
    pub body: Vec<u8>,
    pub header_request_id: Option<String>,
}

/// Send and read the whole body. Transport failures are classified here: nothing sent
/// (connection refused, connect timeout) is `Retryable` even for a write; anything after the
/// request may have left is `Ambiguous` for a write.
pub(crate) async fn send(rb: reqwest::RequestBuilder, write: bool) -> Result<Raw, ApiError> {
    let resp = rb
        .send()
        .await
        .map_err(|e| transport_error(e, write, None, None))?;
    let status = resp.status().as_u16();
    let rate = rate_from_headers(resp.headers());
    if let Some(rem) = rate.and_then(|r| r.minute_remaining) {
        metrics::gauge!(METRIC_BUDGET).set(f64::from(rem));
    }
    let header_request_id = resp
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = resp
        .bytes()
        .await
        .map_err(|e| transport_error(e, write, Some(status), rate))?;
    // A throttle body is a 429 whatever the status (a reported Connecteam quirk).
    if status == 429 || is_throttle_body(&body) {
        return Err(ApiError::RateLimited { rate });
    }
    Ok(Raw {
        status,
        rate,
        body: body.to_vec(),
        header_request_id,
    })
}

fn transport_error(
    e: reqwest::Error,
    write: bool,
    status: Option<u16>,
    rate: Option<RateReport>,
) -> ApiError {
    let never_sent = status.is_none() && e.is_connect();
    let message = describe(&e);
    if write && !never_sent {
        ApiError::Ambiguous {
            message,
            status,
            rate,
        }
    } else {
        ApiError::Retryable {
            message,
            status,
            rate,
        }
    }
}

/// The error and its causes, without the URL (its query may hold emails and phone numbers).
fn describe(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut out = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// A non-2xx, non-throttle answer.
pub(crate) fn classify_failure(
    endpoint: &'static str,
    status: u16,
    rate: Option<RateReport>,
    body: &[u8],
    write: bool,
) -> ApiError {
    let detail = render_detail(status, body);
    if status >= 500 || status == 408 {
        let message = format!("HTTP {status}: {detail}");
        return if write {
            ApiError::Ambiguous {
                message,
                status: Some(status),
                rate,
            }
        } else {
            ApiError::Retryable {
                message,
                status: Some(status),
                rate,
            }
        };
    }
    let detail = if (300..400).contains(&status) {
        format!("unexpected redirect (HTTP {status})")
    } else {
        detail
    };
    tracing::warn!(endpoint, status, detail = %detail, "connecteam rejected a request");
    ApiError::Permanent {
        status,
        detail,
        rate,
    }
}

pub(crate) fn record(endpoint: &'static str, err: Option<&ApiError>, elapsed: Duration) {
    let outcome = err.map_or("ok", ApiError::endpoint_outcome);
    metrics::counter!(METRIC_REQUESTS, "endpoint" => endpoint, "outcome" => outcome).increment(1);
    metrics::histogram!(METRIC_DURATION, "endpoint" => endpoint).record(elapsed.as_secs_f64());
    if let Some(ApiError::RateLimited { rate }) = err {
        metrics::counter!(METRIC_429).increment(1);
        tracing::debug!(
            reset = rate.and_then(|r| r.minute_reset_epoch_s),
            "connecteam rate limit reached"
        );
    }
    tracing::debug!(
        endpoint,
        outcome,
        status = err.and_then(ApiError::status),
        elapsed_ms = elapsed.as_millis() as u64,
        "connecteam call"
    );
}

pub(crate) fn sensitive(value: &str) -> Result<HeaderValue, ApiError> {
    let mut v = HeaderValue::from_str(value)
        .map_err(|_| ApiError::not_sent("credential is not a valid header value"))?;
    v.set_sensitive(true);
    Ok(v)
}

pub(crate) fn parse_body(body: &[u8]) -> Result<serde_json::Value, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Value::Null);
    }
    serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))
}

pub(crate) fn from_value<T: DeserializeOwned>(v: serde_json::Value) -> Result<T, String> {
    serde_json::from_value(v).map_err(|e| format!("unexpected body shape: {e}"))
}

/// Connecteam's `x-ratelimit-minute-*` and `x-ratelimit-day-*` headers; `None` when the
/// response carried none of them.
pub fn rate_from_headers(h: &reqwest::header::HeaderMap) -> Option<RateReport> {
    // Integers, tolerating a fractional form ("1763790060.0") by truncating it.
    fn num<T: TryFrom<i64>>(h: &reqwest::header::HeaderMap, name: &str) -> Option<T> {
        let text = h.get(name)?.to_str().ok()?.trim();
        let n = match text.parse::<i64>() {
            Ok(n) => n,
            Err(_) => {
                let f = text.parse::<f64>().ok().filter(|f| f.is_finite())?;
                f.trunc() as i64
            }
        };
        T::try_from(n).ok()
    }
    let r = RateReport {
        minute_limit: num(h, "x-ratelimit-minute-limit"),
        minute_remaining: num(h, "x-ratelimit-minute-remaining"),
        minute_reset_epoch_s: num(h, "x-ratelimit-minute-reset"),
        day_remaining: num(h, "x-ratelimit-day-remaining"),
        day_reset_epoch_s: num(h, "x-ratelimit-day-reset"),
    };
    (r != RateReport::default()).then_some(r)
}
