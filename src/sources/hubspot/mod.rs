//! `kind: hubspot`: HubSpot app webhooks. A request is a JSON array of up to 100 events; each
//! is its own event here. The events carry ids only, so a hire is stored as received,
//! acknowledged at once, and the contact is fetched from HubSpot's CRM API in the pipeline (the
//! `fetch_person` step, on the source's own budget).
//!
//! - **Signature (v3)**: `X-HubSpot-Signature-v3` = base64 HMAC-SHA256 under the app's client
//!   secret of `method ‖ URI ‖ raw body ‖ X-HubSpot-Request-Timestamp`. The URI is the full one
//!   HubSpot posted to: `public_url` (scheme, host, port, and any path prefix an ingress strips)
//!   followed by the request's path and query; without `public_url`, the scheme of
//!   `X-Forwarded-Proto` (else the request's own, which is `http`: hirebridge serves plain
//!   HTTP, TLS ends at the ingress) and the host of `X-Forwarded-Host`, else `Host`. HubSpot
//!   signs the URI with `%3A %2F %3F %40 %21 %24 %27 %28 %29 %2A %2C %3B` decoded
//!   (`: / ? @ ! $ ' ( ) * , ;`), so those are decoded before the check ([`signing_uri`]). The
//!   timestamp is Unix milliseconds and must be within `timestamp_tolerance_s` (300) of now,
//!   either way.
//! - **Signature (v1)**, only with `allow_v1` and when no v3 signature is sent:
//!   `X-HubSpot-Signature-Version: v1` and `X-HubSpot-Signature` = hex SHA-256 of `client
//!   secret ‖ raw body` (no timestamp: a replay is only caught by the dedupe key).
//! - **Events**: `contact.propertyChange` whose `propertyName` is `hire_when.property` and whose
//!   `propertyValue` is `hire_when.value` (both compared case-insensitively; default
//!   `lifecyclestage` = `employee`) is a hire of the contact `objectId`; every other event is
//!   stored as `ignored` and acknowledged.
//! - **Dedupe**: the event's `eventId`, which HubSpot keeps across retries. The fingerprint
//!   leaves out `attemptNumber`, the one field a retry changes, so a retry is a duplicate. An id
//!   repeated within one request is read once.
//! - **Fetch**: `GET <api.base_url>/crm/v3/objects/contacts/<objectId>?properties=…` with the
//!   private app's token as a bearer. Mapped from `properties`: `firstname`, `lastname`,
//!   `email`, `mobilephone` else `phone`, `jobtitle`; the contact `id` as the external id; the
//!   event's `occurredAt` as `occurred_at`; `company`, `city`, `state` and every configured
//!   `properties` entry as attributes under the property's name.
//! - **Answer**: 200 once every event is stored (or was already): HubSpot retries on 5xx and
//!   timeouts; the body lists each event's outcome.

#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use axum::http::{HeaderMap, Method};
use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use url::Url;

use crate::config::{HireWhen, HubspotSource, SourceApi, SourceConfig, SourceKind};
use crate::domain::draft::Draft;
use crate::domain::hire::HIRE_CREATED;
use crate::domain::{FieldError, Hire};
use crate::remote::{ApiAuth, ApiError, ApiReply, Fetcher, Gate, JsonApi};
use crate::sources::adapter::RegistryError;
use crate::sources::adapter::{
    Adapter, Content, Decoded, Item, ItemOutcome, Rejection, Reply, WebhookRequest,
};
use crate::sources::body::{fingerprint, parse_json, require_json};
use crate::sources::example::{Example, SandboxSource, SignedExample};
use crate::sources::signing::{
    AuthError, HmacSha256, decode_base64, decode_hex, header_str, hmac_key, verify_mac,
};

pub const SIGNATURE_V3_HEADER: &str = "x-hubspot-signature-v3";
pub const TIMESTAMP_HEADER: &str = "x-hubspot-request-timestamp";
pub const SIGNATURE_V1_HEADER: &str = "x-hubspot-signature";
pub const VERSION_HEADER: &str = "x-hubspot-signature-version";

/// The most events HubSpot sends in one request.
pub const MAX_EVENTS: usize = 100;

/// The documented batch: the configured property change (a hire) and a `contact.creation`.
pub const EXAMPLE: &str = include_str!("../../../examples/vendors/hubspot.json");
/// The contact the hire names, as HubSpot's CRM API answers for it.
pub const EXAMPLE_CONTACT: &str = include_str!("../../../examples/vendors/hubspot-contact.json");

/// The contact properties always fetched.
pub const BASE_PROPERTIES: [&str; 9] = [
    "firstname",
    "lastname",
    "email",
    "mobilephone",
    "phone",
    "jobtitle",
    "company",
    "city",
    "state",
];

pub fn adapter(
    name: &str,
    cfg: &HubspotSource,
    phone_region: &str,
    http: reqwest::Client,
) -> Result<Arc<dyn Adapter>, RegistryError> {
    Ok(Arc::new(Hubspot::new(name, cfg, phone_region, http)))
}

/// The kind's documented example and sandbox source.
pub fn examples() -> Option<&'static dyn Example> {
    Some(&Examples)
}

/// A configured HubSpot source.
pub struct Hubspot {
    name: String,
    mac: HmacSha256,
    secret: SecretString,
    allow_v1: bool,
    /// `public_url` without its trailing `/`.
    public_url: Option<String>,
    tolerance_ms: i64,
    hire_when: HireWhen,
    phone_region: String,
    fetcher: Arc<ContactFetcher>,
}

impl Hubspot {
    pub fn new(name: &str, cfg: &HubspotSource, phone_region: &str, http: reqwest::Client) -> Self {
        Self {
            name: name.to_owned(),
            mac: hmac_key(cfg.secret.expose_secret().as_bytes()),
            secret: cfg.secret.clone(),
            allow_v1: cfg.allow_v1,
            public_url: cfg
                .public_url
                .as_ref()
                .map(|u| u.as_str().trim_end_matches('/').to_owned()),
            tolerance_ms: i64::try_from(cfg.timestamp_tolerance_s)
                .unwrap_or(i64::MAX / 1000)
                .saturating_mul(1000),
            hire_when: cfg.hire_when.clone(),
            phone_region: phone_region.to_owned(),
            fetcher: Arc::new(ContactFetcher::new(
                name,
                &cfg.api,
                &cfg.properties,
                phone_region,
                http,
            )),
        }
    }

    fn verify(&self, req: &WebhookRequest<'_>) -> Result<(), AuthError> {
        if req.headers.contains_key(SIGNATURE_V3_HEADER) {
            return self.verify_v3(req);
        }
        let v1 = req
            .headers
            .get(VERSION_HEADER)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("v1"));
        if self.allow_v1 && v1 {
            return self.verify_v1(req);
        }
        Err(AuthError::MissingCredentials(
            "X-HubSpot-Signature-v3 header".to_owned(),
        ))
    }

    fn verify_v3(&self, req: &WebhookRequest<'_>) -> Result<(), AuthError> {
        let signature = decode_base64(header_str(req.headers, SIGNATURE_V3_HEADER)?)?;
        let timestamp = header_str(req.headers, TIMESTAMP_HEADER)?;
        let sent_ms = read_millis(timestamp).ok_or(AuthError::MalformedCredentials(
            "X-HubSpot-Request-Timestamp is not Unix milliseconds",
        ))?;
        let uri = self.request_uri(req)?;
        verify_mac(
            &self.mac,
            &[
                req.method.as_str().as_bytes(),
                uri.as_bytes(),
                req.body,
                timestamp.as_bytes(),
            ],
            &signature,
        )?;
        if unix_millis(req.received_at).abs_diff(sent_ms) > self.tolerance_ms.unsigned_abs() {
            return Err(AuthError::TimestampOutOfWindow);
        }
        Ok(())
    }

    fn verify_v1(&self, req: &WebhookRequest<'_>) -> Result<(), AuthError> {
        let signature = decode_hex(header_str(req.headers, SIGNATURE_V1_HEADER)?)?;
        let expected = Sha256::new()
            .chain_update(self.secret.expose_secret().as_bytes())
            .chain_update(req.body)
            .finalize();
        let matches = bool::from(expected.as_slice().ct_eq(&signature));
        if matches || cfg!(fuzzing) {
            Ok(())
        } else {
            Err(AuthError::BadSignature)
        }
    }

    /// The URI as HubSpot signed it.
    fn request_uri(&self, req: &WebhookRequest<'_>) -> Result<String, AuthError> {
        let path = req.uri.path_and_query().map_or("/", |p| p.as_str());
        let full = match &self.public_url {
            Some(base) => format!("{base}{path}"),
            None => {
                let scheme = forwarded(req.headers, "x-forwarded-proto")
                    .map(str::to_ascii_lowercase)
                    .or_else(|| req.uri.scheme_str().map(str::to_owned))
                    .unwrap_or_else(|| "http".to_owned());
                let host = forwarded(req.headers, "x-forwarded-host")
                    .or_else(|| forwarded(req.headers, "host"))
                    .or_else(|| req.uri.authority().map(|a| a.as_str()))
                    .ok_or_else(|| AuthError::MissingCredentials("Host header".to_owned()))?;
                format!("{scheme}://{host}{path}")
            }
        };
        Ok(signing_uri(&full))
    }
}

/// The first value of a (possibly comma-separated) header, trimmed, when not empty.
fn forwarded<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)?
        .to_str()
        .ok()?
        .split(',')
        .next()
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// Unix milliseconds, digits only.
fn read_millis(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.is_empty() || s.len() > 18 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn unix_millis(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

/// A URI in the form HubSpot signs it: the percent-encodings of `: / ? @ ! $ ' ( ) * , ;`
/// decoded (either case of hex digit), every other byte as it is.
pub fn signing_uri(uri: &str) -> String {
    let b = uri.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(hex) = b.get(i + 1..i + 3)
            && let Ok(hex) = std::str::from_utf8(hex)
            && let Ok(c) = u8::from_str_radix(hex, 16)
            && b":/?@!$'()*,;".contains(&c)
        {
            out.push(c);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    // Only ASCII bytes replaced ASCII bytes: the text is as valid as the input was.
    String::from_utf8(out).unwrap_or_default()
}

#[async_trait]
impl Adapter for Hubspot {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> SourceKind {
        SourceKind::Hubspot
    }

    fn phone_region(&self) -> &str {
        &self.phone_region
    }

    fn fetcher(&self) -> Option<Arc<dyn Fetcher>> {
        Some(self.fetcher.clone())
    }

    async fn decode(&self, req: &WebhookRequest<'_>) -> Result<Decoded, Rejection> {
        self.verify(req)?;
        require_json(req.headers).map_err(Rejection::UnsupportedMediaType)?;
        let body = parse_json(req.body).map_err(Rejection::MalformedJson)?;
        let events = body.as_array().ok_or_else(|| {
            Rejection::Malformed(
                "not a HubSpot webhook: the body is not a JSON array of events".into(),
            )
        })?;
        if events.is_empty() {
            return Err(Rejection::Malformed("the array of events is empty".into()));
        }
        if events.len() > MAX_EVENTS {
            return Err(Rejection::Malformed(format!(
                "{} events in one request; HubSpot sends at most {MAX_EVENTS}",
                events.len()
            )));
        }
        let mut seen = HashSet::new();
        let mut items = Vec::with_capacity(events.len());
        for (i, e) in events.iter().enumerate() {
            let item = event_item(i, e, &self.hire_when)?;
            if seen.insert(item.dedupe_key.clone()) {
                items.push(item);
            }
        }
        Ok(Decoded { items })
    }

    /// 200 for the whole request, each event's outcome listed.
    fn respond(&self, outcomes: &[ItemOutcome]) -> Result<Reply, Rejection> {
        let events: Vec<Value> = outcomes
            .iter()
            .map(|o| {
                let (id, label) = match o {
                    ItemOutcome::Accepted { event_id } => (event_id, "accepted"),
                    ItemOutcome::Duplicate { event_id } => (event_id, "duplicate"),
                    ItemOutcome::Ignored { event_id } => (event_id, "ignored"),
                    ItemOutcome::Conflict { event_id } => {
                        tracing::warn!(
                            source = %self.name,
                            event_id = %event_id,
                            "a HubSpot eventId was received before with another event; the first one stands"
                        );
                        (event_id, "conflict")
                    }
                };
                json!({"event_id": id, "status": label})
            })
            .collect();
        let body = match events.as_slice() {
            [one] => one.clone(),
            _ => json!({ "events": events }),
        };
        Ok(Reply::Json { status: 200, body })
    }
}

fn id_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        _ => None,
    }
}

/// Milliseconds since the epoch as RFC 3339.
fn rfc3339_of_millis(v: Option<&Value>) -> Option<String> {
    let ms = match v? {
        Value::Number(n) => n.as_i64()?,
        Value::String(s) => read_millis(s)?,
        _ => return None,
    };
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()?;
    t.format(&time::format_description::well_known::Rfc3339)
        .ok()
}

/// Whether an event is the configured property change.
pub fn is_hire(event: &Value, hire_when: &HireWhen) -> bool {
    let s = |k: &str| event.get(k).and_then(Value::as_str).map(str::trim);
    s("subscriptionType").is_some_and(|t| t.eq_ignore_ascii_case("contact.propertyChange"))
        && s("propertyName").is_some_and(|p| p.eq_ignore_ascii_case(hire_when.property.trim()))
        && s("propertyValue").is_some_and(|v| v.eq_ignore_ascii_case(hire_when.value.trim()))
}

/// One event of a batch (its position `i`).
fn event_item(i: usize, e: &Value, hire_when: &HireWhen) -> Result<Item, Rejection> {
    if !e.is_object() {
        return Err(Rejection::Malformed(format!(
            "not a HubSpot webhook: event {i} is not a JSON object"
        )));
    }
    let event_id = id_text(e.get("eventId")).ok_or_else(|| {
        Rejection::Malformed(format!("not a HubSpot webhook: event {i} has no eventId"))
    })?;
    let Some(kind) = e.get("subscriptionType").and_then(Value::as_str) else {
        return Err(Rejection::Malformed(format!(
            "not a HubSpot webhook: event {i} has no subscriptionType"
        )));
    };
    // A retry differs only in attemptNumber: it must read as the same event.
    let mut stable = e.clone();
    if let Some(o) = stable.as_object_mut() {
        o.remove("attemptNumber");
    }
    let content = if is_hire(e, hire_when) {
        let contact = id_text(e.get("objectId")).ok_or_else(|| {
            Rejection::Unmappable(vec![FieldError::new(
                format!("/{i}/objectId"),
                "is required",
            )])
        })?;
        let mut request = json!({"contact_id": contact, "event_id": event_id});
        if let Some(at) = rfc3339_of_millis(e.get("occurredAt")) {
            request["occurred_at"] = Value::String(at);
        }
        Content::Fetch {
            request,
            raw: e.to_string(),
        }
    } else {
        let what = match (
            e.get("propertyName").and_then(Value::as_str),
            e.get("propertyValue").and_then(Value::as_str),
        ) {
            (Some(p), Some(v)) => format!("HubSpot event {kind:?} ({p} = {v:?}) is not a hire"),
            _ => format!("HubSpot event {kind:?} is not a hire"),
        };
        Content::Ignored {
            reason: format!(
                "{what}: a hire is contact.propertyChange of {} to {:?}",
                hire_when.property, hire_when.value
            ),
            raw: e.to_string(),
        }
    };
    Ok(Item {
        fingerprint: fingerprint(&stable),
        dedupe_key: event_id,
        content,
    })
}

/// Fetches a contact from HubSpot's CRM API and maps it to the canonical hire.
pub struct ContactFetcher {
    api: JsonApi,
    /// Every property asked for, comma-separated.
    query: String,
    /// The configured properties, kept as attributes.
    extra: Vec<String>,
    phone_region: String,
    requests_per_minute: u32,
    timeout_ms: u64,
}

impl ContactFetcher {
    pub fn new(
        source: &str,
        api: &SourceApi,
        properties: &[String],
        phone_region: &str,
        http: reqwest::Client,
    ) -> Self {
        let extra: Vec<String> = properties
            .iter()
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .collect();
        let mut all: Vec<&str> = BASE_PROPERTIES.to_vec();
        for p in &extra {
            if !all.contains(&p.as_str()) {
                all.push(p);
            }
        }
        Self {
            api: JsonApi::new(
                http,
                source,
                api.base_url.clone(),
                ApiAuth::Bearer(api.token.clone()),
                Duration::from_millis(api.timeout_ms),
            ),
            query: all.join(","),
            extra,
            phone_region: phone_region.to_owned(),
            requests_per_minute: api.requests_per_minute,
            timeout_ms: api.timeout_ms,
        }
    }
}

#[async_trait]
impl Fetcher for ContactFetcher {
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
            .get("contact_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let url = self.api.url(
            &["crm", "v3", "objects", "contacts", id],
            &[("properties", self.query.as_str())],
        );
        self.api.get(url, gate.as_ref()).await
    }

    fn map(&self, request: &Value, contact: &Value) -> Result<Hire, Vec<FieldError>> {
        map(contact, request, &self.extra, &self.phone_region)
    }
}

/// Map a contact of HubSpot's CRM API (`{"id", "properties": {…}}`), with problems at
/// `/properties/<name>`. `request` is what the webhook event said (`event_id`, `occurred_at`).
pub fn map(
    contact: &Value,
    request: &Value,
    extra: &[String],
    phone_region: &str,
) -> Result<Hire, Vec<FieldError>> {
    let event_id = request
        .get("event_id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let props = contact.get("properties");
    let f = |k: &str| {
        props
            .and_then(|p| p.get(k))
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
    };
    let at = |k: &str| format!("/properties/{k}");
    let mut d = Draft::new(event_id, HIRE_CREATED);
    if let Some(ts) = request.get("occurred_at").and_then(Value::as_str) {
        d.set("/occurred_at", Some(ts), "/occurredAt");
    }
    d.set("/person/first_name", f("firstname"), &at("firstname"));
    d.set("/person/last_name", f("lastname"), &at("lastname"));
    d.set("/person/email", f("email"), &at("email"));
    let phone = ["mobilephone", "phone"]
        .iter()
        .find_map(|k| f(k).map(|v| (Some(v), at(k))))
        .unwrap_or((None, at("mobilephone")));
    d.set("/person/phone", phone.0, &phone.1);
    let id = id_text(contact.get("id"));
    d.set("/person/external_id", id.as_deref(), "/id");
    d.set("/job/title", f("jobtitle"), &at("jobtitle"));
    for k in ["company", "city", "state"] {
        d.attribute(k, f(k), &at(k));
    }
    for k in extra {
        d.attribute(k, f(k), &at(k));
    }
    d.finish(phone_region)
}

/// Sign as HubSpot does (v3): `uri` is the full URI HubSpot posts to, `timestamp_ms` the value
/// of `X-HubSpot-Request-Timestamp`.
pub fn signature_v3(
    secret: &str,
    method: &str,
    uri: &str,
    body: &[u8],
    timestamp_ms: &str,
) -> String {
    use hmac::Mac;
    let mut m = hmac_key(secret.as_bytes());
    m.update(method.as_bytes());
    m.update(signing_uri(uri).as_bytes());
    m.update(body);
    m.update(timestamp_ms.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(m.finalize().into_bytes())
}

/// Sign as HubSpot's v1 does: hex SHA-256 of the secret and the body.
pub fn signature_v1(secret: &str, body: &[u8]) -> String {
    hex::encode(
        Sha256::new()
            .chain_update(secret.as_bytes())
            .chain_update(body)
            .finalize(),
    )
}

/// The example and sandbox of the HubSpot kind.
pub struct Examples;

impl Example for Examples {
    fn example(&self, secret: &str, url: &Url, now: SystemTime) -> SignedExample {
        let body = EXAMPLE.as_bytes().to_vec();
        let ts = unix_millis(now).to_string();
        SignedExample {
            content_type: "application/json",
            headers: vec![
                ("X-HubSpot-Request-Timestamp".to_owned(), ts.clone()),
                (
                    "X-HubSpot-Signature-v3".to_owned(),
                    signature_v3(secret, "POST", url.as_str(), &body, &ts),
                ),
            ],
            body,
        }
    }

    fn sandbox(&self, secret: &str, api: &Url) -> SandboxSource {
        let contact: Value = serde_json::from_str(EXAMPLE_CONTACT).unwrap_or(Value::Null);
        let id = id_text(contact.get("id")).unwrap_or_default();
        SandboxSource {
            config: SourceConfig::Hubspot(HubspotSource {
                secret: secret.to_owned().into(),
                phone_region: None,
                hire_when: HireWhen {
                    property: "lifecyclestage".to_owned(),
                    value: "employee".to_owned(),
                },
                allow_v1: false,
                public_url: None,
                timestamp_tolerance_s: 300,
                api: SourceApi {
                    base_url: api.clone(),
                    token: "sandbox-hubspot-private-app-token".to_owned().into(),
                    account_token: None,
                    requests_per_minute: 600,
                    timeout_ms: 5_000,
                },
                properties: Vec::new(),
            }),
            routes: vec![(
                Method::GET,
                format!("/crm/v3/objects/contacts/{id}"),
                contact,
            )],
        }
    }
}
