//! `kind: ashby`: Ashby's webhooks (`candidateHire`).
//!
//! - **Signature**: `Ashby-Signature: sha256=<hex>`, the hex HMAC-SHA256 of the raw body under
//!   the webhook's secret token. Ashby makes the token optional; hirebridge requires one, and a
//!   request without the header is refused. Ashby's scheme has no timestamp: a replayed
//!   request is the same `webhookActionId` and is answered as a duplicate.
//! - **Dedupe**: `<action>/<webhookActionId>` (the id is the same across Ashby's retries and
//!   across the several webhooks one action fires); without an id, `<action>/<digest of the
//!   body>`. An `Idempotency-Key` header, when present, takes precedence.
//! - **Events**: `candidateHire` is a hire; `ping` (sent when a webhook is saved; one that fails
//!   leaves the webhook disabled) and every other action (`applicationUpdate`,
//!   `candidateStageChange`, which the same hire also fires, …) are acknowledged and ignored.
//! - **Answer**: the canonical one (202 accepted, 200 duplicate or ignored). Ashby does not
//!   retry after 401, 403, 404, 405 or 410: hirebridge answers 401 only for a request whose
//!   signature does not verify, and 5xx for its own failures.
//! - **Mapping** (`data.application`): `candidate.name` (one string, split on its last space:
//!   "Mary Ann Lee" is "Mary Ann" / "Lee"; a single word is the first name, and the missing last
//!   name is reported); `candidate.primaryEmailAddress.value`, else the primary (then first)
//!   of `candidate.emailAddresses`; `candidate.primaryPhoneNumber.value`, else the same from
//!   `candidate.phoneNumbers`; `job.title`; `job.employmentType` when present; the email of the
//!   `hiringTeam` member whose role is "Hiring Manager" as the manager; `candidate.id` as the
//!   external id; `data.offer.latestVersion.startDate` (its date part) as the start date;
//!   `data.offer.decidedAt`, else `application.updatedAt`, as when it happened. Attributes:
//!   `application_id`, `job_id`, `department_id`, `location_id`, `source` (the application
//!   source's title).
//! - **Names for ids**: the webhook carries `job.departmentId` and `job.locationId`, not names.
//!   With `api` configured, the hire is stored and acknowledged, and the names are resolved in
//!   the pipeline (`POST <api.base_url>/department.info {"departmentId"}` and `/location.info
//!   {"locationId"}`, basic auth with the API key as the user and an empty password, each
//!   `results.name`), cached for an hour. Without `api`, the hire goes through at once with no
//!   department or location (the ids stay available to rules as attributes).

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use axum::http::Method;
use secrecy::ExposeSecret;
use serde_json::{Map, Value, json};
use url::Url;

use crate::config::{AshbySource, SourceApi, SourceConfig, SourceKind};
use crate::domain::draft::{Draft, date_part, employment_type, split_name};
use crate::domain::hire::HIRE_CREATED;
use crate::domain::{FieldError, Hire};
use crate::remote::{ApiAuth, ApiError, ApiReply, Fetcher, Gate, JsonApi};
use crate::sources::adapter::RegistryError;
use crate::sources::adapter::{Adapter, Content, Decoded, Item, Rejection, WebhookRequest};
use crate::sources::body::{fingerprint, parse_json, require_json};
use crate::sources::example::{Example, SandboxSource, SignedExample};
use crate::sources::idempotency::idempotency_key;
use crate::sources::signing::{
    AuthError, HmacSha256, decode_hex, header_str, hmac_key, verify_mac,
};

/// The header Ashby signs in.
pub const SIGNATURE_HEADER: &str = "ashby-signature";

/// The documented `candidateHire` body (`examples/vendors/ashby.json`).
pub const EXAMPLE: &str = include_str!("../../../examples/vendors/ashby.json");
/// Ashby's `department.info` answer for the example's department.
pub const EXAMPLE_DEPARTMENT: &str =
    include_str!("../../../examples/vendors/ashby-department.json");
/// Ashby's `location.info` answer for the example's location.
pub const EXAMPLE_LOCATION: &str = include_str!("../../../examples/vendors/ashby-location.json");

/// How long a resolved department or location name is reused.
pub const NAME_TTL: Duration = Duration::from_secs(3600);
/// The most names kept; past it the cache starts over.
const CACHE_MAX: usize = 10_000;
/// The longest `webhookActionId` used as it is; a longer one is replaced by a digest.
const ACTION_ID_MAX: usize = 200;

const APP: &str = "/data/application";

pub fn adapter(
    name: &str,
    cfg: &AshbySource,
    phone_region: &str,
    http: reqwest::Client,
) -> Result<Arc<dyn Adapter>, RegistryError> {
    Ok(Arc::new(Ashby::new(name, cfg, phone_region, http)))
}

/// The kind's documented example and sandbox source.
pub fn examples() -> Option<&'static dyn Example> {
    Some(&Examples)
}

/// A configured Ashby source.
pub struct Ashby {
    name: String,
    mac: HmacSha256,
    phone_region: String,
    /// Resolves department and location names, when `api` is configured.
    fetcher: Option<Arc<NameFetcher>>,
}

impl Ashby {
    pub fn new(name: &str, cfg: &AshbySource, phone_region: &str, http: reqwest::Client) -> Self {
        Self {
            name: name.to_owned(),
            mac: hmac_key(cfg.secret.expose_secret().as_bytes()),
            phone_region: phone_region.to_owned(),
            fetcher: cfg
                .api
                .as_ref()
                .map(|api| Arc::new(NameFetcher::new(name, api, phone_region, http))),
        }
    }

    fn verify(&self, req: &WebhookRequest<'_>) -> Result<(), AuthError> {
        let value = header_str(req.headers, SIGNATURE_HEADER)?;
        let hex = strip_scheme(value).ok_or(AuthError::MalformedCredentials(
            "expected Ashby-Signature: sha256=<hex>",
        ))?;
        verify_mac(&self.mac, &[req.body], &decode_hex(hex)?)
    }
}

/// `sha256=<hex>` → `<hex>`.
fn strip_scheme(value: &str) -> Option<&str> {
    let scheme = value.get(..7)?;
    if !scheme.eq_ignore_ascii_case("sha256=") {
        return None;
    }
    Some(value[7..].trim())
}

/// The body's `webhookActionId`, when it is one usable as a key.
fn action_id(body: &Value) -> Option<&str> {
    body.get("webhookActionId")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| {
            !s.is_empty()
                && s.len() <= ACTION_ID_MAX
                && s.bytes().all(|b| (0x21..=0x7e).contains(&b))
        })
}

#[async_trait]
impl Adapter for Ashby {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> SourceKind {
        SourceKind::Ashby
    }

    fn phone_region(&self) -> &str {
        &self.phone_region
    }

    fn fetcher(&self) -> Option<Arc<dyn Fetcher>> {
        self.fetcher.clone().map(|f| f as Arc<dyn Fetcher>)
    }

    async fn decode(&self, req: &WebhookRequest<'_>) -> Result<Decoded, Rejection> {
        self.verify(req)?;
        require_json(req.headers).map_err(Rejection::UnsupportedMediaType)?;
        let body = parse_json(req.body).map_err(Rejection::MalformedJson)?;
        let idem = idempotency_key(req.headers).map_err(|e| Rejection::InvalidHeaders(vec![e]))?;
        let action = body
            .get("action")
            .and_then(Value::as_str)
            .filter(|a| !a.trim().is_empty())
            .ok_or_else(|| Rejection::Malformed("not an Ashby webhook: no action".into()))?;
        let digest = fingerprint(&body);
        let key = idem.unwrap_or_else(|| match action_id(&body) {
            Some(id) => format!("{action}/{id}"),
            None => format!("{action}/{digest}"),
        });
        let content = if action == "candidateHire" {
            let hire = map(&body, &key, &self.phone_region).map_err(Rejection::Unmappable)?;
            let ids = ids(&body);
            match &self.fetcher {
                Some(_) if ids.department.is_some() || ids.location.is_some() => Content::Fetch {
                    request: json!({
                        "event_id": key,
                        "hire": hire,
                        "department_id": ids.department,
                        "location_id": ids.location,
                    }),
                    raw: body.to_string(),
                },
                _ => Content::Hire(Box::new(hire)),
            }
        } else {
            Content::Ignored {
                reason: format!("Ashby action {action:?} is not a hire"),
                raw: body.to_string(),
            }
        };
        Ok(Decoded {
            items: vec![Item {
                dedupe_key: key,
                fingerprint: digest,
                content,
            }],
        })
    }
}

/// The ids the webhook carries where names belong.
struct Ids {
    department: Option<String>,
    location: Option<String>,
}

fn ids(body: &Value) -> Ids {
    let id = |p: &str| {
        body.pointer(&format!("{APP}/job/{p}"))
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    Ids {
        department: id("departmentId"),
        location: id("locationId"),
    }
}

/// The value of a contact `{value, type, isPrimary}`: the primary one, else the list's primary
/// entry, else its first with a value. Returns it and its pointer.
fn contact<'a>(cand: &'a Value, primary: &str, list: &str) -> (Option<&'a str>, String) {
    let base = format!("{APP}/candidate");
    let value = |e: &'a Value| {
        e.get("value")
            .and_then(Value::as_str)
            .filter(|v| !v.trim().is_empty())
    };
    if let Some(v) = cand.get(primary).and_then(value) {
        return (Some(v), format!("{base}/{primary}/value"));
    }
    let entries: Vec<(usize, &Value)> = cand
        .get(list)
        .and_then(Value::as_array)
        .map(|a| a.iter().enumerate().collect())
        .unwrap_or_default();
    let is_primary = |e: &Value| e.get("isPrimary").and_then(Value::as_bool) == Some(true);
    entries
        .iter()
        .filter(|(_, e)| value(e).is_some())
        .min_by_key(|(i, e)| (!is_primary(e), *i))
        .map(|(i, e)| (value(e), format!("{base}/{list}/{i}/value")))
        .unwrap_or((None, format!("{base}/{primary}/value")))
}

/// Map a `candidateHire` body to the canonical hire, with problems at Ashby's fields. The
/// department and location are left to the names resolved through the API.
pub fn map(body: &Value, event_id: &str, phone_region: &str) -> Result<Hire, Vec<FieldError>> {
    let app = body.pointer(APP).unwrap_or(&Value::Null);
    let s = |p: &str| {
        app.pointer(p)
            .and_then(Value::as_str)
            .filter(|v| !v.trim().is_empty())
    };
    let at = |p: &str| format!("{APP}{p}");
    let offer = body.pointer("/data/offer").unwrap_or(&Value::Null);
    let mut d = Draft::new(event_id, HIRE_CREATED);
    match offer
        .get("decidedAt")
        .and_then(Value::as_str)
        .filter(|v| !v.trim().is_empty())
    {
        Some(t) => d.set("/occurred_at", Some(t), "/data/offer/decidedAt"),
        None => d.set("/occurred_at", s("/updatedAt"), &at("/updatedAt")),
    };
    let cand = app.get("candidate").unwrap_or(&Value::Null);
    let (first, last) = s("/candidate/name").map_or((None, None), split_name);
    d.set("/person/first_name", first, &at("/candidate/name"))
        .set("/person/last_name", last, &at("/candidate/name"));
    let (email, email_at) = contact(cand, "primaryEmailAddress", "emailAddresses");
    d.set("/person/email", email, &email_at);
    let (phone, phone_at) = contact(cand, "primaryPhoneNumber", "phoneNumbers");
    d.set("/person/phone", phone, &phone_at);
    d.set(
        "/person/external_id",
        s("/candidate/id"),
        &at("/candidate/id"),
    );
    d.set("/job/title", s("/job/title"), &at("/job/title"));
    if let Some(label) = s("/job/employmentType") {
        match employment_type(label, &Default::default()) {
            Some(t) => {
                d.set(
                    "/job/employment_type",
                    Some(t.as_str()),
                    &at("/job/employmentType"),
                );
            }
            None => {
                return Err(vec![FieldError::new(
                    at("/job/employmentType"),
                    format!("{label:?} is not an employment type hirebridge knows"),
                )]);
            }
        }
    }
    d.set(
        "/job/start_date",
        offer
            .pointer("/latestVersion/startDate")
            .and_then(Value::as_str)
            .map(date_part),
        "/data/offer/latestVersion/startDate",
    );
    if let Some((i, m)) = app
        .get("hiringTeam")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .find(|(_, m)| {
            m.get("role")
                .and_then(Value::as_str)
                .is_some_and(|r| r.trim().eq_ignore_ascii_case("hiring manager"))
        })
    {
        d.set(
            "/job/manager_email",
            m.get("email").and_then(Value::as_str),
            &at(&format!("/hiringTeam/{i}/email")),
        );
    }
    d.attribute("application_id", s("/id"), &at("/id"));
    d.attribute("job_id", s("/job/id"), &at("/job/id"));
    d.attribute(
        "department_id",
        s("/job/departmentId"),
        &at("/job/departmentId"),
    );
    d.attribute("location_id", s("/job/locationId"), &at("/job/locationId"));
    d.attribute("source", s("/source/title"), &at("/source/title"));
    d.finish(phone_region)
}

/// What a name is looked up for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Lookup {
    Department,
    Location,
}

impl Lookup {
    const ALL: [Lookup; 2] = [Lookup::Department, Lookup::Location];

    /// The canonical job field, and the key of the fetched names.
    fn field(self) -> &'static str {
        match self {
            Lookup::Department => "department",
            Lookup::Location => "location",
        }
    }

    /// The key of the id in the stored request.
    fn request_key(self) -> &'static str {
        match self {
            Lookup::Department => "department_id",
            Lookup::Location => "location_id",
        }
    }

    /// Ashby's endpoint and its id parameter.
    fn endpoint(self) -> (&'static str, &'static str) {
        match self {
            Lookup::Department => ("department.info", "departmentId"),
            Lookup::Location => ("location.info", "locationId"),
        }
    }
}

/// Resolves a hire's department and location ids to names through Ashby's API, and completes
/// the hire that was mapped (and checked) when the webhook arrived.
pub struct NameFetcher {
    api: JsonApi,
    phone_region: String,
    requests_per_minute: u32,
    timeout_ms: u64,
    ttl: Duration,
    cache: Mutex<HashMap<(Lookup, String), (String, Instant)>>,
}

impl NameFetcher {
    pub fn new(source: &str, api: &SourceApi, phone_region: &str, http: reqwest::Client) -> Self {
        Self {
            api: JsonApi::new(
                http,
                source,
                api.base_url.clone(),
                ApiAuth::BasicKey {
                    key: api.token.clone(),
                    password: String::new(),
                },
                Duration::from_millis(api.timeout_ms),
            ),
            phone_region: phone_region.to_owned(),
            requests_per_minute: api.requests_per_minute,
            timeout_ms: api.timeout_ms,
            ttl: NAME_TTL,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, lookup: Lookup, id: &str) -> Option<String> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(&(lookup, id.to_owned()))
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(name, _)| name.clone())
    }

    fn remember(&self, lookup: Lookup, id: &str, name: &str) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHE_MAX {
            cache.retain(|_, (_, at)| at.elapsed() < self.ttl);
            if cache.len() >= CACHE_MAX {
                cache.clear();
            }
        }
        cache.insert((lookup, id.to_owned()), (name.to_owned(), Instant::now()));
    }

    /// The name in an answer of Ashby's `*.info`: `results.name`, `None` when it has none.
    /// Ashby reports its errors with `success: false` (and usually HTTP 200).
    fn name_of(&self, lookup: Lookup, answer: &Value) -> Result<Option<String>, ApiError> {
        if answer.get("success").and_then(Value::as_bool) == Some(false) {
            let code = answer
                .pointer("/errorInfo/code")
                .and_then(Value::as_str)
                .or_else(|| answer.pointer("/errors/0").and_then(Value::as_str))
                .unwrap_or("unknown error");
            if code.to_ascii_lowercase().contains("rate_limit")
                || code.to_ascii_lowercase().contains("rate limit")
            {
                return Err(ApiError::RateLimited {
                    api: self.api.source().to_owned(),
                    rate: None,
                });
            }
            let detail: String = format!("{}: {code}", lookup.endpoint().0)
                .chars()
                .take(200)
                .collect();
            return Err(ApiError::Refused {
                api: self.api.source().to_owned(),
                status: 200,
                detail,
            });
        }
        Ok(answer
            .pointer("/results/name")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned))
    }
}

#[async_trait]
impl Fetcher for NameFetcher {
    fn requests_per_minute(&self) -> u32 {
        self.requests_per_minute
    }

    fn timeout_ms(&self) -> u64 {
        self.timeout_ms
    }

    async fn fetch(
        &self,
        request: &Value,
        gate: Arc<dyn Gate>,
    ) -> Result<ApiReply<Value>, ApiError> {
        let mut names = Map::new();
        let mut rate = None;
        for lookup in Lookup::ALL {
            let Some(id) = request
                .get(lookup.request_key())
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
            else {
                continue;
            };
            if let Some(name) = self.cached(lookup, id) {
                names.insert(lookup.field().to_owned(), Value::String(name));
                continue;
            }
            let (endpoint, param) = lookup.endpoint();
            let url = self.api.url(&[endpoint], &[]);
            let mut body = Map::new();
            body.insert(param.to_owned(), Value::String(id.to_owned()));
            let reply = self
                .api
                .post(url, &Value::Object(body), gate.as_ref())
                .await?;
            if reply.rate.is_some() {
                rate = reply.rate;
            }
            if let Some(name) = self.name_of(lookup, &reply.value)? {
                self.remember(lookup, id, &name);
                names.insert(lookup.field().to_owned(), Value::String(name));
            }
        }
        Ok(ApiReply {
            value: Value::Object(names),
            rate,
        })
    }

    fn map(&self, request: &Value, fetched: &Value) -> Result<Hire, Vec<FieldError>> {
        complete(request, fetched, &self.phone_region)
    }
}

/// The stored hire with the resolved names, checked again; a name at fault is pointed at in
/// Ashby's answer (`/department.info/results/name`).
pub fn complete(
    request: &Value,
    fetched: &Value,
    phone_region: &str,
) -> Result<Hire, Vec<FieldError>> {
    let mut hire = request.get("hire").cloned().unwrap_or(Value::Null);
    let Some(root) = hire.as_object_mut() else {
        return Err(vec![FieldError::new(
            "/hire",
            "the stored request holds no hire",
        )]);
    };
    let job = root
        .entry("job")
        .or_insert_with(|| Value::Object(Map::new()));
    if !job.is_object() {
        *job = Value::Object(Map::new());
    }
    for lookup in Lookup::ALL {
        if let Some(name) = fetched.get(lookup.field()).and_then(Value::as_str) {
            job[lookup.field()] = Value::String(name.to_owned());
        }
    }
    Hire::from_json(&hire, phone_region).map_err(|errors| {
        errors
            .into_iter()
            .map(|e| {
                let origin = Lookup::ALL
                    .into_iter()
                    .find(|l| e.pointer == format!("/job/{}", l.field()))
                    .map(|l| format!("/{}/results/name", l.endpoint().0));
                FieldError::new(origin.unwrap_or(e.pointer), e.message)
            })
            .collect()
    })
}

/// Sign `body` as Ashby does: the `Ashby-Signature` header's value.
pub fn signature(secret: &str, body: &[u8]) -> String {
    use hmac::Mac;
    let mut m = hmac_key(secret.as_bytes());
    m.update(body);
    format!("sha256={}", hex::encode(m.finalize().into_bytes()))
}

/// A ping as Ashby sends it when a webhook is saved.
pub fn ping() -> Value {
    json!({"action": "ping", "data": {"webhookActionType": "ping"}})
}

/// The example and sandbox of the Ashby kind.
pub struct Examples;

impl Example for Examples {
    fn example(&self, secret: &str, _url: &Url, _now: SystemTime) -> SignedExample {
        let body = EXAMPLE.as_bytes().to_vec();
        SignedExample {
            content_type: "application/json",
            headers: vec![("Ashby-Signature".to_owned(), signature(secret, &body))],
            body,
        }
    }

    fn sandbox(&self, secret: &str, api: &Url) -> SandboxSource {
        let doc = |s: &str| serde_json::from_str(s).unwrap_or(Value::Null);
        SandboxSource {
            config: SourceConfig::Ashby(AshbySource {
                secret: secret.to_owned().into(),
                phone_region: None,
                api: Some(SourceApi {
                    base_url: api.clone(),
                    token: "sandbox-ashby-api-key".to_owned().into(),
                    account_token: None,
                    requests_per_minute: 600,
                    timeout_ms: 5_000,
                }),
            }),
            routes: vec![
                (
                    Method::POST,
                    "/department.info".to_owned(),
                    doc(EXAMPLE_DEPARTMENT),
                ),
                (
                    Method::POST,
                    "/location.info".to_owned(),
                    doc(EXAMPLE_LOCATION),
                ),
            ],
        }
    }
}
