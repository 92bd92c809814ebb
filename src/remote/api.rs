//! A JSON API of a sending system (BambooHR, Lever, HubSpot, Ashby, Merge), as the step that
//! fetches a person sees it: one authenticated request at a time, every one waiting on a
//! [`Gate`], its failure classed for the delivery engine. Vendor APIs are only read (Ashby's
//! reads are POSTs), so nothing here is ever ambiguous.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use url::Url;

use super::call::{Answer, CallError, Failure};
use super::gate::Gate;
use super::rate::RateReport;

/// Requests to sending systems' APIs, by source and outcome.
pub const METRIC_API_REQUESTS: &str = "hirebridge_source_api_requests_total";

/// How a vendor API is authenticated.
#[derive(Clone)]
pub enum ApiAuth {
    /// `Authorization: Bearer <token>` (HubSpot private apps, Merge).
    Bearer(SecretString),
    /// HTTP basic with the key as the user name and a fixed password (BambooHR's `key:x`,
    /// Lever's and Ashby's `key:`).
    BasicKey { key: SecretString, password: String },
    /// No credentials (a local fake in tests).
    None,
}

impl std::fmt::Debug for ApiAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ApiAuth::Bearer(_) => "Bearer(***)",
            ApiAuth::BasicKey { .. } => "BasicKey(***)",
            ApiAuth::None => "None",
        })
    }
}

/// One vendor API: where it is, how to authenticate, and extra headers every request carries
/// (Merge's `X-Account-Token`).
#[derive(Clone, Debug)]
pub struct JsonApi {
    http: reqwest::Client,
    /// The source this API belongs to (metrics, logs).
    source: String,
    base: Url,
    auth: ApiAuth,
    headers: Vec<(&'static str, SecretString)>,
    timeout: Duration,
}

/// A successful answer, with what it said about the budget.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiReply<T> {
    pub value: T,
    pub rate: Option<RateReport>,
}

impl<T> Answer for ApiReply<T> {
    type Value = T;
    fn into_parts(self) -> (T, Option<RateReport>) {
        (self.value, self.rate)
    }
}

/// Why a vendor API call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    #[error("{api} API: rate limited")]
    RateLimited {
        api: String,
        rate: Option<RateReport>,
    },
    #[error("{api} API refused the credentials ({status}): {detail}")]
    Unauthorized {
        api: String,
        status: u16,
        detail: String,
    },
    #[error("{api} API answered {status}: {detail}")]
    Refused {
        api: String,
        status: u16,
        detail: String,
    },
    #[error("{api} API: {message}")]
    Unavailable { api: String, message: String },
    /// The round stopped while this request waited for the budget.
    #[error("not sent: the round stopped")]
    Stopped,
}

impl CallError for ApiError {
    fn failure(&self) -> Failure {
        match self {
            ApiError::RateLimited { .. } => Failure::RateLimited,
            ApiError::Unauthorized { .. } => Failure::Unauthorized(self.to_string()),
            ApiError::Refused { status, .. } => Failure::Permanent(*status, self.to_string()),
            ApiError::Unavailable { .. } | ApiError::Stopped => {
                Failure::Retryable(self.to_string())
            }
        }
    }

    fn rate(&self) -> Option<&RateReport> {
        match self {
            ApiError::RateLimited { rate, .. } => rate.as_ref(),
            _ => None,
        }
    }
}

/// The longest detail kept from an error body.
const DETAIL_MAX: usize = 300;

impl JsonApi {
    pub fn new(
        http: reqwest::Client,
        source: &str,
        base: Url,
        auth: ApiAuth,
        timeout: Duration,
    ) -> Self {
        Self {
            http,
            source: source.to_owned(),
            base,
            auth,
            headers: Vec::new(),
            timeout,
        }
    }

    /// Every request also carries `name: value` (a secret: never logged).
    pub fn with_header(mut self, name: &'static str, value: SecretString) -> Self {
        self.headers.push((name, value));
        self
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// The base URL with `segments` appended (each one escaped) and `query` set.
    pub fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// `GET` a JSON document.
    pub async fn get(&self, url: Url, gate: &dyn Gate) -> Result<ApiReply<Value>, ApiError> {
        self.call(Method::GET, url, None, gate).await
    }

    /// `POST` a JSON body and read a JSON answer (APIs whose reads are RPC calls: Ashby).
    pub async fn post(
        &self,
        url: Url,
        body: &Value,
        gate: &dyn Gate,
    ) -> Result<ApiReply<Value>, ApiError> {
        self.call(Method::POST, url, Some(body), gate).await
    }

    async fn call(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        gate: &dyn Gate,
    ) -> Result<ApiReply<Value>, ApiError> {
        gate.pass().await.map_err(|_| ApiError::Stopped)?;
        let mut rb = self
            .http
            .request(method, url)
            .timeout(self.timeout)
            .header("accept", "application/json");
        rb = match &self.auth {
            ApiAuth::Bearer(t) => rb.bearer_auth(t.expose_secret()),
            ApiAuth::BasicKey { key, password } => {
                let pair = format!("{}:{password}", key.expose_secret());
                rb.header(
                    "authorization",
                    format!(
                        "Basic {}",
                        base64::engine::general_purpose::STANDARD.encode(pair)
                    ),
                )
            }
            ApiAuth::None => rb,
        };
        for (name, value) in &self.headers {
            rb = rb.header(*name, value.expose_secret());
        }
        if let Some(b) = body {
            rb = rb.json(b);
        }
        let result = self.send(rb).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(ApiError::RateLimited { .. }) => "rate_limited",
            Err(ApiError::Unauthorized { .. }) => "unauthorized",
            Err(ApiError::Refused { .. }) => "refused",
            Err(ApiError::Unavailable { .. } | ApiError::Stopped) => "unavailable",
        };
        metrics::counter!(METRIC_API_REQUESTS, "source" => self.source.clone(), "outcome" => outcome)
            .increment(1);
        if let Err(e) = &result {
            tracing::warn!(source = %self.source, error = %e, "source API request failed");
        }
        result
    }

    async fn send(&self, rb: reqwest::RequestBuilder) -> Result<ApiReply<Value>, ApiError> {
        let unavailable = |message: String| ApiError::Unavailable {
            api: self.source.clone(),
            message,
        };
        let resp = rb.send().await.map_err(|e| unavailable(describe(&e)))?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let bytes = resp.bytes().await.map_err(|e| unavailable(describe(&e)))?;
        let detail = || shorten(&String::from_utf8_lossy(&bytes));
        match status {
            200..=299 => {
                let value = serde_json::from_slice(&bytes)
                    .map_err(|e| unavailable(format!("the answer is not JSON: {e}")))?;
                Ok(ApiReply { value, rate: None })
            }
            429 => Err(ApiError::RateLimited {
                api: self.source.clone(),
                rate: retry_after.map(reset_after),
            }),
            401 | 403 => Err(ApiError::Unauthorized {
                api: self.source.clone(),
                status,
                detail: detail(),
            }),
            408 | 500..=599 => Err(unavailable(format!("answered {status}: {}", detail()))),
            _ => Err(ApiError::Refused {
                api: self.source.clone(),
                status,
                detail: detail(),
            }),
        }
    }
}

/// A `Retry-After` of `seconds` as the reset of the minute window.
fn reset_after(seconds: u64) -> RateReport {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    RateReport {
        minute_reset_epoch_s: i64::try_from(now.saturating_add(seconds.max(1))).ok(),
        minute_remaining: Some(0),
        ..RateReport::default()
    }
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else if e.is_body() || e.is_decode() {
        "the answer was cut off".to_owned()
    } else {
        // Not the error's own text: it carries the URL, with ids the log does not need.
        "the request failed".to_owned()
    }
}

fn shorten(s: &str) -> String {
    let s = s.trim();
    match s.char_indices().nth(DETAIL_MAX) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}
