//! The typed Connecteam API client the delivery engine calls.
//!
//! One method per endpoint hirebridge uses, one HTTP request per method call (plus, with OAuth,
//! the occasional token fetch and a single repeat after a 401). The client never retries on its
//! own: it classifies every failure ([`ApiError`]) and reports the rate-limit headers
//! ([`RateInfo`]) so the delivery engine, which owns the account-wide budget, decides when to go
//! again. Writes carry the caller's `Idempotency-Key`, identical across the caller's retries.
//!
//! Secrets (API key, client secret, bearer token) are held as `SecretString`, sent in headers
//! marked sensitive, and never appear in `Debug`, errors, logs or metrics. Request URLs are
//! logged by path only: users lookups carry emails and phone numbers in the query string.

mod error;
mod oauth;
mod types;

#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use reqwest::header::{self, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use tracing::Instrument;
use url::Url;

use crate::config::ConnecteamConfig;

pub use error::ApiError;
pub use types::{
    MAX_CREATE_USERS, MAX_PACK_ASSIGN, MAX_USERS_PAGE, NewUser, Pack, PackAssignment, Policy,
    PolicyType, RateInfo, Reply, User, UserPage, UserQuery, UserStatus,
};

use error::{is_throttle_body, render_detail};
use oauth::OAuth;

/// Metric names, shared with dashboards and alerts.
pub const METRIC_REQUESTS: &str = "hirebridge_connecteam_requests_total";
pub const METRIC_DURATION: &str = "hirebridge_connecteam_request_duration_seconds";
pub const METRIC_BUDGET: &str = "hirebridge_connecteam_budget_remaining";
pub const METRIC_429: &str = "hirebridge_connecteam_429_total";

const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
const API_KEY_HEADER: &str = "X-API-KEY";

/// A stable idempotency key for one operation of one event: the same inputs give the same key,
/// so every retry of a write carries the same header. 35 ASCII characters.
pub fn idempotency_key(event_id: &str, operation: &str) -> String {
    let digest = Sha256::digest(format!("{event_id}/{operation}").as_bytes());
    let hex = hex::encode(digest);
    format!("hb-{}", &hex[..32])
}

/// The Connecteam API client. Cheap to clone: clones share the connection pool and the OAuth
/// token cache.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    auth: Auth,
}

#[derive(Clone)]
enum Auth {
    ApiKey(Arc<SecretString>),
    OAuth(Arc<OAuth>),
}

/// The credential one attempt used; with OAuth, the token to drop after a 401.
enum Credential {
    ApiKey(Arc<SecretString>),
    Bearer(Arc<SecretString>),
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let auth = match &self.auth {
            Auth::ApiKey(_) => "api_key",
            Auth::OAuth(_) => "oauth_client_credentials",
        };
        f.debug_struct("Client")
            .field("base_url", &self.base.as_str())
            .field("auth", &auth)
            .finish_non_exhaustive()
    }
}

/// What one request is: the fixed endpoint name (metric label), method, URL and JSON body.
struct Request<'a> {
    endpoint: &'static str,
    method: Method,
    url: Url,
    body: Option<serde_json::Value>,
    idempotency_key: Option<&'a str>,
}

impl Request<'_> {
    fn is_write(&self) -> bool {
        self.method != Method::GET && self.method != Method::HEAD
    }
}

impl Client {
    /// A client for `cfg.base_url`, authenticating with the API key or, when configured, OAuth
    /// client credentials (exactly one of them must be set).
    pub fn new(cfg: &ConnecteamConfig) -> Result<Client, String> {
        let base = Url::parse(&cfg.base_url)
            .map_err(|e| format!("connecteam.base_url is not a URL: {e}"))?;
        if base.cannot_be_a_base() {
            return Err("connecteam.base_url cannot be a base URL".to_owned());
        }
        let auth = match (&cfg.api_key, &cfg.oauth) {
            (Some(_), Some(_)) => {
                return Err("connecteam: set either api_key or oauth, not both".to_owned());
            }
            (Some(key), None) => {
                if key.expose_secret().trim().is_empty() {
                    return Err("connecteam.api_key is empty".to_owned());
                }
                // Fail now, not on the first request, if the key cannot be a header value.
                HeaderValue::from_str(key.expose_secret().trim()).map_err(|_| {
                    "connecteam.api_key contains characters not allowed in a header".to_owned()
                })?;
                Auth::ApiKey(Arc::new(SecretString::from(
                    key.expose_secret().trim().to_owned(),
                )))
            }
            (None, Some(o)) => Auth::OAuth(Arc::new(OAuth::from_config(o)?)),
            (None, None) => {
                return Err("connecteam: api_key or oauth is required".to_owned());
            }
        };
        let timeout = Duration::from_millis(cfg.timeout_ms.max(1));
        let mut default_headers = header::HeaderMap::new();
        default_headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        let http = reqwest::Client::builder()
            .user_agent(concat!("hirebridge/", env!("CARGO_PKG_VERSION")))
            .default_headers(default_headers)
            .timeout(timeout)
            .connect_timeout(timeout)
            // A redirect would turn a POST into a GET and hide what happened; report it instead.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("connecteam: cannot build the HTTP client: {e}"))?;
        Ok(Client { http, base, auth })
    }

    /// The same client pointed at another base URL (the sandbox simulator, a test stub).
    /// An OAuth client starts with an empty token cache: a token from one server is not sent
    /// to another.
    pub fn with_base_url(mut self, base: Url) -> Client {
        self.base = base;
        if let Auth::OAuth(o) = &self.auth {
            self.auth = Auth::OAuth(Arc::new(o.fresh()));
        }
        self
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// `GET /users/v1/users`: one page of users matching the filters. Values within one filter
    /// are alternatives; how Connecteam combines different filters (emails AND phones, or OR)
    /// is undocumented, so callers that need "by email or by phone" should query each filter
    /// on its own or match the answer themselves.
    pub async fn find_users(&self, q: &UserQuery) -> Result<Reply<UserPage>, ApiError> {
        if !(1..=MAX_USERS_PAGE).contains(&q.limit) {
            return Err(ApiError::not_sent(format!(
                "limit {} is outside 1..={MAX_USERS_PAGE}",
                q.limit
            )));
        }
        let mut url = self.url(&["users", "v1", "users"]);
        {
            let mut pairs = url.query_pairs_mut();
            for id in &q.user_ids {
                pairs.append_pair("userIds", &id.to_string());
            }
            for e in &q.emails {
                pairs.append_pair("emailAddresses", e);
            }
            for p in &q.phones {
                pairs.append_pair("phoneNumbers", p);
            }
            for n in &q.full_names {
                pairs.append_pair("fullNames", n);
            }
            pairs.append_pair("userStatus", q.status.as_str());
            pairs.append_pair("limit", &q.limit.to_string());
            pairs.append_pair("offset", &q.offset.to_string());
        }
        let (limit, offset) = (q.limit, q.offset);
        self.call(
            Request {
                endpoint: "users.find",
                method: Method::GET,
                url,
                body: None,
                idempotency_key: None,
            },
            move |v| {
                let page: UsersEnvelope = from_value(v)?;
                let n = page.data.users.len() as u32;
                let next_offset = if n < limit {
                    None
                } else {
                    // Connecteam's `paging.offset` is where to continue; fall back to counting
                    // when it is missing or would not move forward.
                    let counted = offset.saturating_add(n);
                    match page.paging.and_then(|p| p.offset) {
                        Some(o) if o > u64::from(offset) => {
                            Some(u32::try_from(o).unwrap_or(counted))
                        }
                        _ => Some(counted),
                    }
                };
                Ok(UserPage {
                    users: page.data.users,
                    next_offset,
                })
            },
        )
        .await
    }

    /// `POST /users/v1/users` with 1..=25 users; answers the created users with their ids.
    pub async fn create_users(
        &self,
        users: &[NewUser],
        idempotency_key: &str,
    ) -> Result<Reply<Vec<User>>, ApiError> {
        if users.is_empty() || users.len() > MAX_CREATE_USERS {
            return Err(ApiError::not_sent(format!(
                "{} users in one create; Connecteam accepts 1..={MAX_CREATE_USERS}",
                users.len()
            )));
        }
        let body = serde_json::to_value(users).map_err(|e| ApiError::not_sent(e.to_string()))?;
        self.call(
            Request {
                endpoint: "users.create",
                method: Method::POST,
                url: self.url(&["users", "v1", "users"]),
                body: Some(body),
                idempotency_key: Some(idempotency_key),
            },
            |v| Ok(from_value::<CreateEnvelope>(v)?.data.results),
        )
        .await
    }

    /// `PUT /users/v1/users` with `isArchived: false` for 1..=25 users: a rehired person's
    /// archived user becomes active again.
    pub async fn restore_users(
        &self,
        user_ids: &[u64],
        idempotency_key: &str,
    ) -> Result<Reply<()>, ApiError> {
        if user_ids.is_empty() || user_ids.len() > MAX_CREATE_USERS {
            return Err(ApiError::not_sent(format!(
                "{} users in one update; Connecteam accepts 1..={MAX_CREATE_USERS}",
                user_ids.len()
            )));
        }
        let body: Vec<serde_json::Value> = user_ids
            .iter()
            .map(|id| serde_json::json!({"userId": id, "isArchived": false}))
            .collect();
        self.call(
            Request {
                endpoint: "users.update",
                method: Method::PUT,
                url: self.url(&["users", "v1", "users"]),
                body: Some(serde_json::Value::Array(body)),
                idempotency_key: Some(idempotency_key),
            },
            |_| Ok(()),
        )
        .await
    }

    /// `GET /onboarding/v1/packs`.
    pub async fn list_packs(&self) -> Result<Reply<Vec<Pack>>, ApiError> {
        self.call(
            Request {
                endpoint: "packs.list",
                method: Method::GET,
                url: self.url(&["onboarding", "v1", "packs"]),
                body: None,
                idempotency_key: None,
            },
            |v| Ok(from_value::<PacksEnvelope>(v)?.data.packs),
        )
        .await
    }

    /// `GET /onboarding/v1/packs/{packId}/assignments`; an unknown pack is `Permanent` 404.
    pub async fn pack_assignments(
        &self,
        pack_id: u64,
    ) -> Result<Reply<Vec<PackAssignment>>, ApiError> {
        self.call(
            Request {
                endpoint: "packs.assignments.get",
                method: Method::GET,
                url: self.url(&[
                    "onboarding",
                    "v1",
                    "packs",
                    &pack_id.to_string(),
                    "assignments",
                ]),
                body: None,
                idempotency_key: None,
            },
            |v| Ok(from_value::<AssignmentsEnvelope>(v)?.data.assignments),
        )
        .await
    }

    /// `POST /onboarding/v1/packs/{packId}/assignments` with 1..=500 distinct user ids.
    /// All-or-nothing on Connecteam's side: a 422 means none was assigned.
    pub async fn assign_pack(
        &self,
        pack_id: u64,
        user_ids: &[u64],
        idempotency_key: &str,
    ) -> Result<Reply<()>, ApiError> {
        if user_ids.is_empty() || user_ids.len() > MAX_PACK_ASSIGN {
            return Err(ApiError::not_sent(format!(
                "{} user ids in one pack assignment; Connecteam accepts 1..={MAX_PACK_ASSIGN}",
                user_ids.len()
            )));
        }
        let mut seen = std::collections::HashSet::with_capacity(user_ids.len());
        let dupes: Vec<u64> = user_ids
            .iter()
            .copied()
            .filter(|id| !seen.insert(*id))
            .collect();
        if !dupes.is_empty() {
            return Err(ApiError::not_sent(format!(
                "duplicate user ids in one pack assignment: {dupes:?}"
            )));
        }
        self.call(
            Request {
                endpoint: "packs.assign",
                method: Method::POST,
                url: self.url(&[
                    "onboarding",
                    "v1",
                    "packs",
                    &pack_id.to_string(),
                    "assignments",
                ]),
                body: Some(serde_json::json!({ "userIds": user_ids })),
                idempotency_key: Some(idempotency_key),
            },
            |_| Ok(()),
        )
        .await
    }

    /// `GET /time-off/v1/policy-types`.
    pub async fn policy_types(&self) -> Result<Reply<Vec<PolicyType>>, ApiError> {
        self.call(
            Request {
                endpoint: "policies.types",
                method: Method::GET,
                url: self.url(&["time-off", "v1", "policy-types"]),
                body: None,
                idempotency_key: None,
            },
            |v| Ok(from_value::<PolicyTypesEnvelope>(v)?.data.policy_types),
        )
        .await
    }

    /// `PUT /time-off/v1/time-off-policies/{policyId}/assignments` for one user, with an
    /// optional starting balance in `unit` (`hours` or `days`). Connecteam documents this PUT
    /// as safe to repeat, but an unseen outcome is still reported as `Ambiguous` like every
    /// write; the engine may simply repeat it.
    pub async fn assign_policy(
        &self,
        policy_id: &str,
        user_id: u64,
        balance: Option<f64>,
        unit: Option<&str>,
        idempotency_key: &str,
    ) -> Result<Reply<()>, ApiError> {
        if policy_id.is_empty() {
            return Err(ApiError::not_sent("empty policy id"));
        }
        let mut body = serde_json::Map::new();
        body.insert("userId".into(), user_id.into());
        if let Some(b) = balance {
            // serde_json would silently send NaN/∞ as null.
            let n = serde_json::Number::from_f64(b)
                .ok_or_else(|| ApiError::not_sent(format!("balance {b} is not a number")))?;
            body.insert("balance".into(), serde_json::Value::Number(n));
        }
        if let Some(u) = unit {
            body.insert("unit".into(), u.into());
        }
        self.call(
            Request {
                endpoint: "policies.assign",
                method: Method::PUT,
                url: self.url(&[
                    "time-off",
                    "v1",
                    "time-off-policies",
                    policy_id,
                    "assignments",
                ]),
                body: Some(serde_json::Value::Object(body)),
                idempotency_key: Some(idempotency_key),
            },
            |_| Ok(()),
        )
        .await
    }

    /// `base` + path segments (each percent-encoded), keeping any path prefix of `base`.
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        url.set_query(None);
        url.set_fragment(None);
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// One logical call: credential, request, classification, metrics, and with OAuth a
    /// single repeat with a fresh token after a 401.
    async fn call<T, F>(&self, req: Request<'_>, decode: F) -> Result<Reply<T>, ApiError>
    where
        F: Fn(serde_json::Value) -> Result<T, String>,
    {
        let span = tracing::debug_span!(
            "connecteam",
            endpoint = req.endpoint,
            method = %req.method,
            path = req.url.path()
        );
        async {
            let mut repeated_after_401 = false;
            loop {
                let cred = self.credential().await?;
                let started = Instant::now();
                let outcome = self.attempt(&req, &cred, &decode).await;
                let elapsed = started.elapsed();
                record(req.endpoint, outcome.as_ref().err(), elapsed);
                match outcome {
                    Err(ApiError::Permanent { status: 401, .. })
                        if !repeated_after_401 && matches!(cred, Credential::Bearer(_)) =>
                    {
                        tracing::debug!("401 with an OAuth token; fetching a new token once");
                        if let (Auth::OAuth(o), Credential::Bearer(t)) = (&self.auth, &cred) {
                            o.invalidate(t).await;
                        }
                        repeated_after_401 = true;
                    }
                    other => return other,
                }
            }
        }
        .instrument(span)
        .await
    }

    async fn credential(&self) -> Result<Credential, ApiError> {
        match &self.auth {
            Auth::ApiKey(k) => Ok(Credential::ApiKey(k.clone())),
            Auth::OAuth(o) => o
                .token(&self.http, &self.base)
                .await
                .map(Credential::Bearer),
        }
    }

    async fn attempt<T, F>(
        &self,
        req: &Request<'_>,
        cred: &Credential,
        decode: &F,
    ) -> Result<Reply<T>, ApiError>
    where
        F: Fn(serde_json::Value) -> Result<T, String>,
    {
        let write = req.is_write();
        let mut rb = self.http.request(req.method.clone(), req.url.clone());
        rb = match cred {
            Credential::ApiKey(k) => rb.header(API_KEY_HEADER, sensitive(k.expose_secret())?),
            Credential::Bearer(t) => rb.header(
                header::AUTHORIZATION,
                sensitive(&format!("Bearer {}", t.expose_secret()))?,
            ),
        };
        if let Some(key) = req.idempotency_key {
            let v = HeaderValue::from_str(key)
                .map_err(|_| ApiError::not_sent("idempotency key is not a valid header value"))?;
            rb = rb.header(IDEMPOTENCY_HEADER, v);
        }
        if let Some(body) = &req.body {
            rb = rb.json(body);
        }
        let raw = send(rb, write).await?;
        let status = raw.status;
        if !(200..300).contains(&status) {
            return Err(classify_failure(
                req.endpoint,
                status,
                raw.rate,
                &raw.body,
                write,
            ));
        }
        let value = parse_body(&raw.body).map_err(|message| ApiError::Decode { message })?;
        let request_id = value
            .get("requestId")
            .and_then(|r| r.as_str())
            .map(str::to_owned)
            .or(raw.header_request_id);
        tracing::debug!(
            status,
            request_id = request_id.as_deref(),
            "connecteam answered"
        );
        let value = decode(value).map_err(|message| ApiError::Decode { message })?;
        Ok(Reply {
            value,
            rate: raw.rate,
            request_id,
        })
    }
}

/// A response read to the end, before classification.
pub(crate) struct Raw {
    pub status: u16,
    pub rate: Option<RateInfo>,
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
    let rate = RateInfo::from_headers(resp.headers());
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
    rate: Option<RateInfo>,
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
    rate: Option<RateInfo>,
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

fn record(endpoint: &'static str, err: Option<&ApiError>, elapsed: Duration) {
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

fn sensitive(value: &str) -> Result<HeaderValue, ApiError> {
    let mut v = HeaderValue::from_str(value)
        .map_err(|_| ApiError::not_sent("credential is not a valid header value"))?;
    v.set_sensitive(true);
    Ok(v)
}

fn parse_body(body: &[u8]) -> Result<serde_json::Value, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Value::Null);
    }
    serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))
}

fn from_value<T: DeserializeOwned>(v: serde_json::Value) -> Result<T, String> {
    serde_json::from_value(v).map_err(|e| format!("unexpected body shape: {e}"))
}

#[derive(Deserialize)]
struct UsersEnvelope {
    data: UsersData,
    #[serde(default)]
    paging: Option<Paging>,
}
#[derive(Deserialize)]
struct UsersData {
    // Required: reading a malformed page as "no such user" would create a duplicate.
    users: Vec<User>,
}
#[derive(Deserialize)]
struct Paging {
    #[serde(default)]
    offset: Option<u64>,
}
#[derive(Deserialize)]
struct CreateEnvelope {
    data: CreateData,
}
#[derive(Deserialize)]
struct CreateData {
    results: Vec<User>,
}
#[derive(Deserialize)]
struct PacksEnvelope {
    data: PacksData,
}
#[derive(Deserialize)]
struct PacksData {
    packs: Vec<Pack>,
}
#[derive(Deserialize)]
struct AssignmentsEnvelope {
    data: AssignmentsData,
}
#[derive(Deserialize)]
struct AssignmentsData {
    assignments: Vec<PackAssignment>,
}
#[derive(Deserialize)]
struct PolicyTypesEnvelope {
    data: PolicyTypesData,
}
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PolicyTypesData {
    policy_types: Vec<PolicyType>,
}
