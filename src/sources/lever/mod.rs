//! `kind: lever`: Lever's webhooks. Lever signs only a token and a timestamp, never the
//! body's data, so a hire is stored as received, acknowledged at once, and the opportunity is
//! always fetched from Lever's API in the pipeline (the `fetch_person` step, on the source's
//! own budget).
//!
//! - **Signature**: in the body: `signature` = hex HMAC-SHA256, keyed with the webhook's
//!   signature token (`secret`), of `token` followed by `triggeredAt` as its decimal string.
//!   The signature sits inside the JSON, so the body is parsed to find it; nothing else of it
//!   is read before the signature is checked (compared in constant time). `triggeredAt` is
//!   milliseconds since the epoch (a value too small to be milliseconds is read as seconds)
//!   and must be within `timestamp_tolerance_s` of now.
//! - **Dedupe**: the body's `token`, Lever's per-delivery token. Its fingerprint is the body
//!   without `triggeredAt` and `signature`, so a redelivery re-signed at another time is a
//!   duplicate, while the same token with other data (the data is unsigned: a tampered copy)
//!   is refused as a replay (401).
//! - **Events**: `candidateHired` is a hire; every other event (`candidateStageChange`,
//!   `candidateArchiveChange`, `applicationCreated`, …) is acknowledged and ignored.
//! - **Fetch**: `GET <api.base_url>/opportunities/<data.opportunityId>?expand=applications`,
//!   then `GET <api.base_url>/postings/<id>` for the posting of its first application that
//!   names one (a posting that is gone, 404, leaves the job fields unset). Basic auth with the
//!   API key as the user and an empty password.
//! - **Mapping** (`/opportunity/…` and `/posting/…` in problems): `name` split on its last
//!   space; the first of `emails`; the first `mobile` entry of `phones`, else the first;
//!   `contact` (the person across all their opportunities) as the external id, else the
//!   webhook's `data.contactId`; `archived.archivedAt` as when it happened. From the posting:
//!   `text` as the job title, `categories.department`, `categories.location` (else the
//!   opportunity's `location`), `categories.commitment` as the employment type (through
//!   `employment_types`). Attributes for rules: `opportunity_id`, `posting_id`, `headline`,
//!   `tags` (comma-joined), `team`, `level`, `candidate_location`. With `require_archived`
//!   (default) an opportunity that is not archived is not a hire.

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use axum::http::Method;
use secrecy::ExposeSecret;
use serde_json::{Map, Value, json};
use url::Url;

use crate::config::{EmploymentTypes, LeverSource, SourceApi, SourceConfig, SourceKind};
use crate::domain::draft::{Draft, employment_type, split_name};
use crate::domain::hire::HIRE_CREATED;
use crate::domain::{FieldError, Hire};
use crate::remote::{ApiAuth, ApiError, ApiReply, Fetcher, Gate, JsonApi};
use crate::sources::adapter::RegistryError;
use crate::sources::adapter::{
    Adapter, Content, Decoded, Item, ItemOutcome, Rejection, Reply, WebhookRequest, json_reply,
};
use crate::sources::body::{fingerprint, parse_json, require_json};
use crate::sources::example::{Example, SandboxSource, SignedExample};
use crate::sources::signing::{
    AuthError, HmacSha256, decode_hex, hmac_key, unix_seconds, verify_mac,
};

/// The event that is a hire.
pub const CANDIDATE_HIRED: &str = "candidateHired";

/// Lever's documented `candidateHired` webhook body (`token`, `triggeredAt` and `signature`
/// are replaced when the example is signed).
pub const EXAMPLE: &str = include_str!("../../../examples/vendors/lever.json");
/// The opportunity it names, as `GET /opportunities/<id>?expand=applications` answers.
pub const EXAMPLE_OPPORTUNITY: &str =
    include_str!("../../../examples/vendors/lever-opportunity.json");
/// The posting of its application, as `GET /postings/<id>` answers.
pub const EXAMPLE_POSTING: &str = include_str!("../../../examples/vendors/lever-posting.json");

/// Below this, `triggeredAt` is read as seconds rather than milliseconds (1973 in ms).
const SECONDS_BELOW: i64 = 100_000_000_000;

pub fn adapter(
    name: &str,
    cfg: &LeverSource,
    phone_region: &str,
    http: reqwest::Client,
) -> Result<Arc<dyn Adapter>, RegistryError> {
    Ok(Arc::new(Lever::new(name, cfg, phone_region, http)))
}

/// The kind's documented example and sandbox source.
pub fn examples() -> Option<&'static dyn crate::sources::example::Example> {
    Some(&Examples)
}

/// A configured Lever source.
pub struct Lever {
    name: String,
    mac: HmacSha256,
    phone_region: String,
    tolerance: Duration,
    fetcher: Arc<OpportunityFetcher>,
}

impl Lever {
    pub fn new(name: &str, cfg: &LeverSource, phone_region: &str, http: reqwest::Client) -> Self {
        Self {
            name: name.to_owned(),
            mac: hmac_key(cfg.secret.expose_secret().as_bytes()),
            phone_region: phone_region.to_owned(),
            tolerance: Duration::from_secs(cfg.timestamp_tolerance_s),
            fetcher: Arc::new(OpportunityFetcher::new(name, cfg, phone_region, http)),
        }
    }

    /// Check `signature` over `token` ‖ `triggeredAt`, then the window. Only these three
    /// fields are read.
    fn verify(&self, body: &Value, received_at: SystemTime) -> Result<(), AuthError> {
        let field = |k: &str| body.get(k).filter(|v| !v.is_null());
        let token = match field("token") {
            None => return Err(AuthError::MissingCredentials("token field".to_owned())),
            Some(Value::String(s)) if !s.is_empty() => s.as_str(),
            Some(Value::String(_)) => {
                return Err(AuthError::MissingCredentials("token field".to_owned()));
            }
            Some(_) => return Err(AuthError::MalformedCredentials("token is not a string")),
        };
        let triggered = match field("triggeredAt") {
            None => {
                return Err(AuthError::MissingCredentials(
                    "triggeredAt field".to_owned(),
                ));
            }
            Some(v) => triggered_text(v).ok_or(AuthError::MalformedCredentials(
                "triggeredAt is not an integer",
            ))?,
        };
        let signature = match field("signature") {
            None => return Err(AuthError::MissingCredentials("signature field".to_owned())),
            Some(Value::String(s)) => decode_hex(s)?,
            Some(_) => return Err(AuthError::MalformedCredentials("signature is not a string")),
        };
        verify_mac(
            &self.mac,
            &[token.as_bytes(), triggered.as_bytes()],
            &signature,
        )?;
        let sent: i64 = triggered
            .parse()
            .map_err(|_| AuthError::MalformedCredentials("triggeredAt is not an integer"))?;
        let sent_s = if sent.abs() < SECONDS_BELOW {
            sent
        } else {
            sent / 1000
        };
        let tolerance = i64::try_from(self.tolerance.as_secs()).unwrap_or(i64::MAX);
        if unix_seconds(received_at).saturating_sub(sent_s).abs() > tolerance {
            return Err(AuthError::TimestampOutOfWindow);
        }
        Ok(())
    }
}

/// `triggeredAt` as the decimal string Lever signs: an integer, or a string of digits.
fn triggered_text(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => n.as_i64().map(|n| n.to_string()),
        Value::String(s) => {
            let s = s.trim();
            (!s.is_empty() && s.len() <= 18 && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.to_owned())
        }
        _ => None,
    }
}

#[async_trait]
impl Adapter for Lever {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> SourceKind {
        SourceKind::Lever
    }

    fn phone_region(&self) -> &str {
        &self.phone_region
    }

    fn fetcher(&self) -> Option<Arc<dyn Fetcher>> {
        Some(self.fetcher.clone())
    }

    async fn decode(&self, req: &WebhookRequest<'_>) -> Result<Decoded, Rejection> {
        require_json(req.headers).map_err(Rejection::UnsupportedMediaType)?;
        // The signature is a field of the body: it has to be parsed to be found.
        let body = parse_json(req.body).map_err(Rejection::MalformedJson)?;
        if !body.is_object() {
            return Err(Rejection::Malformed(
                "not a Lever webhook: the body is not a JSON object".into(),
            ));
        }
        self.verify(&body, req.received_at)?;
        Ok(Decoded {
            items: vec![item(&body)?],
        })
    }

    /// The canonical answer, except that a token seen before with other data is a replay
    /// (the data is not signed: a copy of a signed request with other data), refused 401.
    fn respond(&self, outcomes: &[ItemOutcome]) -> Result<Reply, Rejection> {
        if outcomes
            .iter()
            .any(|o| matches!(o, ItemOutcome::Conflict { .. }))
        {
            return Err(Rejection::Auth(AuthError::Replayed));
        }
        json_reply(outcomes)
    }
}

/// A non-blank string field of `v`.
fn text<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The verified body as one event.
fn item(body: &Value) -> Result<Item, Rejection> {
    let event = text(body, "/event")
        .ok_or_else(|| Rejection::Malformed("not a Lever webhook: no event".into()))?;
    // Verified: a non-empty string.
    let token = body
        .get("token")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let mut unsigned = body.as_object().cloned().unwrap_or_default();
    unsigned.remove("triggeredAt");
    unsigned.remove("signature");
    let fingerprint = fingerprint(&Value::Object(unsigned));
    let content = if event == CANDIDATE_HIRED {
        let opportunity = text(body, "/data/opportunityId").ok_or_else(|| {
            Rejection::Unmappable(vec![FieldError::new(
                "/data/opportunityId",
                "is required: the opportunity of the hired candidate",
            )])
        })?;
        Content::Fetch {
            request: json!({
                "opportunity_id": opportunity,
                "contact_id": text(body, "/data/contactId"),
                "event_id": token,
            }),
            raw: body.to_string(),
        }
    } else {
        Content::Ignored {
            reason: format!("Lever event {event:?} is not a hire"),
            raw: body.to_string(),
        }
    };
    Ok(Item {
        dedupe_key: token,
        fingerprint,
        content,
    })
}

/// Fetches an opportunity (and its posting) from Lever's API and maps it to the canonical
/// hire.
pub struct OpportunityFetcher {
    api: JsonApi,
    phone_region: String,
    employment_types: EmploymentTypes,
    require_archived: bool,
    requests_per_minute: u32,
    timeout_ms: u64,
}

impl OpportunityFetcher {
    pub fn new(source: &str, cfg: &LeverSource, phone_region: &str, http: reqwest::Client) -> Self {
        Self {
            api: JsonApi::new(
                http,
                source,
                cfg.api.base_url.clone(),
                ApiAuth::BasicKey {
                    key: cfg.api.token.clone(),
                    password: String::new(),
                },
                Duration::from_millis(cfg.api.timeout_ms),
            ),
            phone_region: phone_region.to_owned(),
            employment_types: cfg.employment_types.clone(),
            require_archived: cfg.require_archived,
            requests_per_minute: cfg.api.requests_per_minute,
            timeout_ms: cfg.api.timeout_ms,
        }
    }
}

/// The posting of the opportunity's first application that names one (`applications` as
/// expanded objects).
fn posting_id(opportunity: &Value) -> Option<&str> {
    opportunity
        .get("applications")?
        .as_array()?
        .iter()
        .find_map(|a| text(a, "/posting"))
}

/// Lever answers `{"data": {...}}`.
fn data_of(v: Value) -> Value {
    match v {
        Value::Object(mut o) if o.contains_key("data") => o.remove("data").unwrap_or_default(),
        other => other,
    }
}

#[async_trait]
impl Fetcher for OpportunityFetcher {
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
        let id = request
            .get("opportunity_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let url = self
            .api
            .url(&["opportunities", id], &[("expand", "applications")]);
        let reply = self.api.get(url, gate.as_ref()).await?;
        let opportunity = data_of(reply.value);
        let mut rate = reply.rate;
        let posting = match posting_id(&opportunity) {
            Some(p) => {
                let url = self.api.url(&["postings", p], &[]);
                match self.api.get(url, gate.as_ref()).await {
                    Ok(r) => {
                        rate = r.rate.or(rate);
                        data_of(r.value)
                    }
                    // The posting was deleted: the hire without its job fields.
                    Err(ApiError::Refused { status: 404, .. }) => Value::Null,
                    Err(e) => return Err(e),
                }
            }
            None => Value::Null,
        };
        Ok(ApiReply {
            value: json!({"opportunity": opportunity, "posting": posting}),
            rate,
        })
    }

    fn map(&self, request: &Value, fetched: &Value) -> Result<Hire, Vec<FieldError>> {
        let null = Value::Null;
        map(
            fetched.get("opportunity").unwrap_or(&null),
            fetched.get("posting").unwrap_or(&null),
            request,
            &MapOptions {
                employment_types: &self.employment_types,
                require_archived: self.require_archived,
                phone_region: &self.phone_region,
            },
        )
    }
}

/// How a source maps its opportunities.
pub struct MapOptions<'a> {
    pub employment_types: &'a EmploymentTypes,
    pub require_archived: bool,
    pub phone_region: &'a str,
}

/// A number or string id as text.
fn id_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        _ => None,
    }
}

/// Milliseconds since the epoch as RFC 3339 (whole seconds).
fn rfc3339_ms(v: Option<&Value>) -> Option<String> {
    let ms = v?.as_i64()?;
    let t = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)).ok()?;
    t.format(&time::format_description::well_known::Rfc3339)
        .ok()
}

/// The best phone of `phones` (`[{type, value}]`, or plain strings): the first mobile entry,
/// else the first; with its pointer.
fn phone(opportunity: &Value) -> (Option<&str>, String) {
    let Some(list) = opportunity.get("phones").and_then(Value::as_array) else {
        return (None, "/opportunity/phones".to_owned());
    };
    let entries: Vec<(usize, &str, bool)> = list
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match e {
            Value::String(s) if !s.trim().is_empty() => Some((i, s.as_str(), false)),
            Value::Object(_) => text(e, "/value").map(|v| {
                let mobile = text(e, "/type").is_some_and(|t| t.eq_ignore_ascii_case("mobile"));
                (i, v, mobile)
            }),
            _ => None,
        })
        .collect();
    let best = entries
        .iter()
        .find(|(_, _, mobile)| *mobile)
        .or(entries.first());
    match best {
        Some((i, v, _)) => {
            let at = if list[*i].is_object() {
                format!("/opportunity/phones/{i}/value")
            } else {
                format!("/opportunity/phones/{i}")
            };
            (Some(v), at)
        }
        None => (None, "/opportunity/phones".to_owned()),
    }
}

/// Map an opportunity (the `data` of Lever's answer) and its posting (`Null` when it has
/// none) to the canonical hire, with problems at `/opportunity/<field>` and
/// `/posting/<field>`. `request` is the webhook's record (`event_id`, `contact_id`).
pub fn map(
    opportunity: &Value,
    posting: &Value,
    request: &Value,
    opts: &MapOptions<'_>,
) -> Result<Hire, Vec<FieldError>> {
    let event_id = request
        .get("event_id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !opportunity.is_object() {
        return Err(vec![FieldError::new(
            "/opportunity",
            "Lever's answer has no opportunity object in `data`",
        )]);
    }
    let mut extra = Vec::new();
    let archived_at = opportunity.pointer("/archived/archivedAt");
    if opts.require_archived && archived_at.is_none_or(Value::is_null) {
        extra.push(FieldError::new(
            "/opportunity/archived",
            "is not set: the opportunity is not archived as hired in Lever (require_archived)",
        ));
    }
    let o = |p: &str| text(opportunity, p);
    let p = |k: &str| text(posting, k);
    let mut d = Draft::new(event_id, HIRE_CREATED);
    let occurred = rfc3339_ms(archived_at);
    d.set(
        "/occurred_at",
        occurred.as_deref(),
        "/opportunity/archived/archivedAt",
    );

    let (first, last) = o("/name").map_or((None, None), split_name);
    d.set("/person/first_name", first, "/opportunity/name");
    d.set("/person/last_name", last, "/opportunity/name");
    let email = opportunity
        .get("emails")
        .and_then(Value::as_array)
        .and_then(|list| {
            list.iter().enumerate().find_map(|(i, e)| {
                e.as_str()
                    .filter(|s| !s.trim().is_empty())
                    .map(|s| (s, format!("/opportunity/emails/{i}")))
            })
        });
    match email {
        Some((e, at)) => d.set("/person/email", Some(e), &at),
        None => d.set("/person/email", None, "/opportunity/emails"),
    };
    let (phone, at) = phone(opportunity);
    d.set("/person/phone", phone, &at);
    match id_text(opportunity.get("contact")) {
        Some(c) => d.set("/person/external_id", Some(&c), "/opportunity/contact"),
        None => d.set(
            "/person/external_id",
            text(request, "/contact_id"),
            "/data/contactId",
        ),
    };

    d.set("/job/title", p("/text"), "/posting/text");
    d.set(
        "/job/department",
        p("/categories/department"),
        "/posting/categories/department",
    );
    match p("/categories/location") {
        Some(l) => d.set("/job/location", Some(l), "/posting/categories/location"),
        None => d.set("/job/location", o("/location"), "/opportunity/location"),
    };
    if let Some(label) = p("/categories/commitment") {
        match employment_type(label, opts.employment_types) {
            Some(t) => {
                d.set(
                    "/job/employment_type",
                    Some(t.as_str()),
                    "/posting/categories/commitment",
                );
            }
            None => extra.push(FieldError::new(
                "/posting/categories/commitment",
                format!(
                    "{label:?} is not an employment type hirebridge knows; map it with employment_types"
                ),
            )),
        }
    }

    let opportunity_id = id_text(opportunity.get("id"));
    d.attribute(
        "opportunity_id",
        opportunity_id.as_deref(),
        "/opportunity/id",
    );
    let posting_id = id_text(posting.get("id"));
    d.attribute("posting_id", posting_id.as_deref(), "/posting/id");
    d.attribute("headline", o("/headline"), "/opportunity/headline");
    let tags: Vec<&str> = opportunity
        .get("tags")
        .and_then(Value::as_array)
        .map(|t| {
            t.iter()
                .filter_map(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let tags = tags.join(", ");
    d.attribute("tags", Some(&tags), "/opportunity/tags");
    d.attribute("team", p("/categories/team"), "/posting/categories/team");
    d.attribute("level", p("/categories/level"), "/posting/categories/level");
    d.attribute(
        "candidate_location",
        o("/location"),
        "/opportunity/location",
    );
    match d.finish(opts.phone_region) {
        Ok(hire) if extra.is_empty() => Ok(hire),
        Ok(_) => Err(extra),
        Err(mut errors) => {
            errors.extend(extra);
            Err(errors)
        }
    }
}

/// Lever's `signature` for `token` sent at `triggered_at` (the decimal string), under the
/// webhook's signature token.
pub fn signature(secret: &str, token: &str, triggered_at: &str) -> String {
    use hmac::Mac;
    let mut m = hmac_key(secret.as_bytes());
    m.update(token.as_bytes());
    m.update(triggered_at.as_bytes());
    hex::encode(m.finalize().into_bytes())
}

/// `body` (a Lever webhook) sent at `triggered_at_ms` and signed as Lever signs it.
pub fn sign_body(secret: &str, body: &Value, triggered_at_ms: i64) -> Vec<u8> {
    let mut o: Map<String, Value> = body.as_object().cloned().unwrap_or_default();
    let token = o
        .get("token")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let ts = triggered_at_ms.to_string();
    o.insert("triggeredAt".into(), json!(triggered_at_ms));
    o.insert("signature".into(), json!(signature(secret, &token, &ts)));
    serde_json::to_vec(&Value::Object(o)).unwrap_or_default()
}

/// Milliseconds since the epoch.
pub fn unix_millis(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

/// The example and sandbox of the Lever kind.
pub struct Examples;

impl Example for Examples {
    fn example(&self, secret: &str, _url: &Url, now: SystemTime) -> SignedExample {
        let body: Value = serde_json::from_str(EXAMPLE).unwrap_or(Value::Null);
        SignedExample {
            content_type: "application/json",
            headers: Vec::new(),
            body: sign_body(secret, &body, unix_millis(now)),
        }
    }

    fn sandbox(&self, secret: &str, api: &Url) -> SandboxSource {
        let opportunity: Value = serde_json::from_str(EXAMPLE_OPPORTUNITY).unwrap_or(Value::Null);
        let posting: Value = serde_json::from_str(EXAMPLE_POSTING).unwrap_or(Value::Null);
        let opportunity_id = id_text(opportunity.pointer("/data/id")).unwrap_or_default();
        let posting_id = id_text(posting.pointer("/data/id")).unwrap_or_default();
        SandboxSource {
            config: SourceConfig::Lever(LeverSource {
                secret: secret.to_owned().into(),
                phone_region: None,
                api: SourceApi {
                    base_url: api.clone(),
                    token: "sandbox-lever-api-key".to_owned().into(),
                    account_token: None,
                    requests_per_minute: 600,
                    timeout_ms: 5_000,
                },
                timestamp_tolerance_s: 300,
                employment_types: EmploymentTypes::new(),
                require_archived: true,
            }),
            routes: vec![
                (
                    Method::GET,
                    format!("/opportunities/{opportunity_id}"),
                    opportunity,
                ),
                (Method::GET, format!("/postings/{posting_id}"), posting),
            ],
        }
    }
}
