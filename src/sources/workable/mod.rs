//! `kind: workable`: Workable's webhook subscriptions.
//!
//! - **Signature**: `X-Workable-Signature`, the HMAC-SHA256 of the raw body keyed with the
//!   account's API token or the OAuth app's client secret (Workable has no per-hook secret).
//!   Hex by default; base64 with `signature_encoding: base64` (Workable does not say which it
//!   sends). A `sha256=` prefix is accepted. No timestamp.
//! - **Events**: Workable has no hire event. `employee_created` is a hire, and so is
//!   `candidate_moved` whose `data.stage` is the configured `hired_stage` (default `hired`,
//!   compared case-insensitively). Every other move and event type (`candidate_created`,
//!   `employee_updated`, `employee_published`, `onboarding_completed`, `timeoff_updated`, …) is
//!   acknowledged and ignored.
//! - **Dedupe**: Workable sends no event or delivery id (the top-level `id` is the resource's).
//!   A hire's key is `employee_created/<data.id>` or `candidate_moved/<data.id>/<stage>`; an
//!   ignored event's is `<event_type>/<data.id>[/<stage>]/<digest of the body>`. An
//!   `Idempotency-Key` header, when present, takes precedence. Workable builds each delivery
//!   from the resource's state at sending time, so a replay may differ in fields hirebridge
//!   does not read (`updated_at`): a hire's repeat is recognised by the hire it maps to, not by
//!   its bytes.
//! - **Answer**: 200 for everything stored, the accepted hire included: Workable counts
//!   anything else as an error and replays the request.
//! - **Mapping** (`data`): `firstname` / `lastname` (a candidate's one-string `name`, split on
//!   its last space, when both are missing); the email from `email` for candidates and from the
//!   configured `email_fields` for employees (default `personal_email`, `work_email`, `email`);
//!   the phone from `phone` for candidates and `phone_group`, then `phone`, for employees.
//!   Each of those may be a string, a list of strings, or a list of `{value, is_primary}` whose
//!   value is the string or `{phone, phone_type}`: the primary entry first, then mobile
//!   numbers, then the order sent; the first phone valid in the source's region is taken.
//!   `job.title` (candidates) or `job_title` (employees) as the job title; an employee's
//!   `department`; `start_date` (its date part); `employment_type` (an employee's, or the
//!   candidate's `job.employment_type`) when the payload has one; `fired_at` as when it
//!   happened; `data.id` as the person's external id. Attributes for rules: a candidate's
//!   `job_shortcode`, `account_subdomain` and `stage`, an employee's `employee_number` and
//!   `legal_entity`.

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use axum::http::Method;
use base64::Engine as _;
use serde_json::Value;
use url::Url;

use crate::config::{SignatureEncoding, SourceConfig, SourceKind, WorkableSource};
use crate::domain::draft::{Draft, date_part, employment_type, split_name};
use crate::domain::hire::HIRE_CREATED;
use crate::domain::{FieldError, Hire, PhoneE164};
use crate::sources::adapter::RegistryError;
use crate::sources::adapter::{
    Adapter, Content, Decoded, Item, ItemOutcome, Rejection, Reply, WebhookRequest, json_reply,
};
use crate::sources::body::{fingerprint, parse_json, require_json};
use crate::sources::example::{Example, SandboxSource, SignedExample};
use crate::sources::idempotency::idempotency_key;
use crate::sources::signing::{
    AuthError, HmacSha256, decode_base64, decode_hex, header_str, hmac_key, verify_mac,
};

/// The header Workable signs in.
pub const SIGNATURE_HEADER: &str = "x-workable-signature";

/// A new employee in Workable's HR module: a hire.
pub const EMPLOYEE_CREATED: &str = "employee_created";
/// A candidate moved to another stage: a hire when the stage is the hired one.
pub const CANDIDATE_MOVED: &str = "candidate_moved";

/// The documented example hire (`examples/vendors/workable.json`): Workable's example
/// `employee_created` payload.
pub const EXAMPLE: &str = include_str!("../../../examples/vendors/workable.json");
/// A `candidate_moved` into the hired stage (`examples/vendors/workable.candidate_moved.json`),
/// built from the fields Workable documents for candidate events.
pub const CANDIDATE_EXAMPLE: &str =
    include_str!("../../../examples/vendors/workable.candidate_moved.json");

/// Where a candidate's email and phone are.
const CANDIDATE_EMAIL_FIELDS: [&str; 1] = ["email"];
const CANDIDATE_PHONE_FIELDS: [&str; 1] = ["phone"];
/// Where an employee's phone is, in order.
const EMPLOYEE_PHONE_FIELDS: [&str; 2] = ["phone_group", "phone"];
/// The prefix of Workable's enumerated values for employment types (`employment_type_…`,
/// like `phone_type_mobile` and `status_draft`), left out before the label is read.
const EMPLOYMENT_TYPE_PREFIX: &str = "employment_type_";

pub fn adapter(
    name: &str,
    cfg: &WorkableSource,
    phone_region: &str,
    _http: reqwest::Client,
) -> Result<Arc<dyn Adapter>, RegistryError> {
    Ok(Arc::new(Workable::new(name, cfg, phone_region)))
}

/// A configured Workable source.
pub struct Workable {
    name: String,
    mac: HmacSha256,
    phone_region: String,
    cfg: WorkableSource,
}

impl Workable {
    pub fn new(name: &str, cfg: &WorkableSource, phone_region: &str) -> Self {
        use secrecy::ExposeSecret;
        Self {
            name: name.to_owned(),
            mac: hmac_key(cfg.secret.expose_secret().as_bytes()),
            phone_region: phone_region.to_owned(),
            cfg: cfg.clone(),
        }
    }

    fn verify(&self, req: &WebhookRequest<'_>) -> Result<(), AuthError> {
        let value = header_str(req.headers, SIGNATURE_HEADER)?;
        let value = match value.get(..7) {
            Some(p) if p.eq_ignore_ascii_case("sha256=") => &value[7..],
            _ => value,
        };
        let sig = match self.cfg.signature_encoding {
            SignatureEncoding::Hex => decode_hex(value)?,
            SignatureEncoding::Base64 => decode_base64(value)?,
        };
        verify_mac(&self.mac, &[req.body], &sig)
    }
}

#[async_trait]
impl Adapter for Workable {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> SourceKind {
        SourceKind::Workable
    }

    fn phone_region(&self) -> &str {
        &self.phone_region
    }

    async fn decode(&self, req: &WebhookRequest<'_>) -> Result<Decoded, Rejection> {
        self.verify(req)?;
        require_json(req.headers).map_err(Rejection::UnsupportedMediaType)?;
        let body = parse_json(req.body).map_err(Rejection::MalformedJson)?;
        let given_key =
            idempotency_key(req.headers).map_err(|e| Rejection::InvalidHeaders(vec![e]))?;
        let item = match classify(&body, &self.cfg.hired_stage)? {
            Event::Hire { key } => {
                let key = given_key.unwrap_or(key);
                let hire = map(&body, &key, &self.cfg, &self.phone_region)
                    .map_err(Rejection::Unmappable)?;
                Item {
                    dedupe_key: key,
                    // The hire, not the bytes: a replay is rebuilt from the resource's current
                    // state and may differ in fields that are not read.
                    fingerprint: fingerprint(&serde_json::to_value(&hire).unwrap_or_default()),
                    content: Content::Hire(Box::new(hire)),
                }
            }
            Event::Other { key, reason } => {
                let digest = fingerprint(&body);
                Item {
                    dedupe_key: given_key.unwrap_or_else(|| format!("{key}/{digest}")),
                    fingerprint: digest,
                    content: Content::Ignored {
                        reason,
                        raw: body.to_string(),
                    },
                }
            }
        };
        Ok(Decoded { items: vec![item] })
    }

    /// 200 for whatever was stored: Workable replays anything else.
    fn respond(&self, outcomes: &[ItemOutcome]) -> Result<Reply, Rejection> {
        Ok(match json_reply(outcomes)? {
            Reply::Json { body, .. } => Reply::Json { status: 200, body },
            other => other,
        })
    }
}

/// What a Workable webhook amounts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A hire, with its dedupe key.
    Hire { key: String },
    /// Not a hire: why, and the start of its dedupe key (the body's digest completes it).
    Other { key: String, reason: String },
}

/// Tell a hire from the rest by `event_type` (and, for `candidate_moved`, the stage).
pub fn classify(body: &Value, hired_stage: &str) -> Result<Event, Rejection> {
    if !body.is_object() {
        return Err(Rejection::Malformed(
            "not a Workable webhook: the body is not a JSON object".into(),
        ));
    }
    let event_type = body
        .get("event_type")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Rejection::Malformed("not a Workable webhook: no event_type".into()))?;
    let id = resource_id(body);
    let required_id = || {
        id.clone().ok_or_else(|| {
            Rejection::Unmappable(vec![FieldError::new(
                "/data/id",
                "is required: the id of the candidate or employee",
            )])
        })
    };
    match event_type {
        EMPLOYEE_CREATED => Ok(Event::Hire {
            key: format!("{EMPLOYEE_CREATED}/{}", required_id()?),
        }),
        CANDIDATE_MOVED => {
            let (stage, at) = stage(body.get("data"));
            let Some(stage) = stage else {
                return Err(Rejection::Unmappable(vec![FieldError::new(
                    at,
                    "is required: the stage the candidate moved to",
                )]));
            };
            let slug = stage.trim().to_ascii_lowercase();
            if slug.eq_ignore_ascii_case(hired_stage.trim()) {
                Ok(Event::Hire {
                    key: format!("{CANDIDATE_MOVED}/{}/{slug}", required_id()?),
                })
            } else {
                Ok(Event::Other {
                    key: format!("{CANDIDATE_MOVED}/{}/{slug}", id.as_deref().unwrap_or("-")),
                    reason: format!(
                        "Workable candidate_moved into stage {stage:?} is not a hire (hired_stage is {hired_stage:?})"
                    ),
                })
            }
        }
        other => Ok(Event::Other {
            key: format!("{other}/{}", id.as_deref().unwrap_or("-")),
            reason: format!("Workable event {other:?} is not a hire"),
        }),
    }
}

/// The resource's id: `data.id`, else the top-level `id` (Workable sends both, the same).
fn resource_id(body: &Value) -> Option<String> {
    body.pointer("/data/id")
        .and_then(id_text)
        .or_else(|| body.get("id").and_then(id_text))
}

/// A number or string id as text.
fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        _ => None,
    }
}

/// The stage a candidate moved to: `data.stage` (a slug), or its `slug` / `name` if Workable
/// sends it as an object. With its pointer.
fn stage(data: Option<&Value>) -> (Option<&str>, String) {
    match data.and_then(|d| d.get("stage")) {
        Some(Value::String(s)) if !s.trim().is_empty() => (Some(s), "/data/stage".to_owned()),
        Some(Value::Object(o)) => ["slug", "name"]
            .iter()
            .find_map(|k| {
                o.get(*k)
                    .and_then(Value::as_str)
                    .filter(|s| !s.trim().is_empty())
                    .map(|s| (Some(s), format!("/data/stage/{k}")))
            })
            .unwrap_or((None, "/data/stage".to_owned())),
        _ => (None, "/data/stage".to_owned()),
    }
}

/// A text field that may come as a string or as an object naming it (`{name}`, `{display}`,
/// `{title}`, `{value}`), with the pointer of the string.
fn text<'a>(v: Option<&'a Value>, at: &str) -> (Option<&'a str>, String) {
    match v {
        Some(Value::String(s)) => (Some(s), at.to_owned()),
        Some(Value::Object(o)) => ["name", "display", "title", "value"]
            .iter()
            .find_map(|k| {
                o.get(*k)
                    .and_then(Value::as_str)
                    .filter(|s| !s.trim().is_empty())
                    .map(|s| (Some(s), format!("{at}/{k}")))
            })
            .unwrap_or((None, at.to_owned())),
        _ => (None, at.to_owned()),
    }
}

/// One email address or phone number found in the body.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Contact<'a> {
    value: &'a str,
    at: String,
    primary: bool,
    mobile: bool,
}

/// The non-blank strings of a contact field, however Workable shapes it: a string; a list of
/// strings; `{value, is_primary}` or a list of them, whose value is the string or an object
/// holding it (`{phone, phone_type}`, `{email}`).
fn contacts<'a>(
    v: &'a Value,
    at: String,
    primary: bool,
    mobile: bool,
    depth: u8,
) -> Vec<Contact<'a>> {
    match v {
        Value::String(s) if !s.trim().is_empty() => vec![Contact {
            value: s,
            at,
            primary,
            mobile,
        }],
        Value::Array(items) if depth == 0 => items
            .iter()
            .enumerate()
            .flat_map(|(i, e)| contacts(e, format!("{at}/{i}"), primary, mobile, depth + 1))
            .collect(),
        Value::Object(o) if depth < 3 => {
            let primary = primary || o.get("is_primary").and_then(Value::as_bool) == Some(true);
            let mobile = mobile
                || ["phone_type", "type"].iter().any(|k| {
                    o.get(*k)
                        .and_then(Value::as_str)
                        .is_some_and(|t| t.to_ascii_lowercase().contains("mobile"))
                });
            ["value", "phone", "email"]
                .iter()
                .find_map(|k| o.get(*k).map(|x| (k, x)))
                .map(|(k, x)| contacts(x, format!("{at}/{k}"), primary, mobile, depth + 1))
                .unwrap_or_default()
        }
        _ => Vec::new(),
    }
}

/// Every contact of `fields` (of `data`), best first: by field in the order given, then the
/// primary entry, then (when `mobile_first`) mobile numbers, then the order sent.
fn ranked<'a>(data: &'a Value, fields: &[&str], mobile_first: bool) -> Vec<Contact<'a>> {
    let mut all: Vec<(usize, usize, Contact<'a>)> = Vec::new();
    for (f, field) in fields.iter().enumerate() {
        if let Some(v) = data.get(*field) {
            for (i, c) in contacts(v, format!("/data/{field}"), false, false, 0)
                .into_iter()
                .enumerate()
            {
                all.push((f, i, c));
            }
        }
    }
    all.sort_by_key(|(f, i, c)| (*f, !c.primary, mobile_first && !c.mobile, *i));
    all.into_iter().map(|(_, _, c)| c).collect()
}

/// Map a hire (`employee_created`, or `candidate_moved` into the hired stage) to the canonical
/// hire, with problems at Workable's fields.
pub fn map(
    body: &Value,
    event_id: &str,
    cfg: &WorkableSource,
    phone_region: &str,
) -> Result<Hire, Vec<FieldError>> {
    let data = match body.get("data") {
        Some(d @ Value::Object(_)) => d,
        _ => {
            return Err(vec![FieldError::new(
                "/data",
                "must be an object: the candidate or employee",
            )]);
        }
    };
    let employee = body.get("event_type").and_then(Value::as_str) == Some(EMPLOYEE_CREATED);
    let s = |p: &str| data.pointer(p).and_then(Value::as_str);
    let mut d = Draft::new(event_id, HIRE_CREATED);
    d.set("/event_id", Some(event_id), "/data/id");
    d.set(
        "/occurred_at",
        body.get("fired_at").and_then(Value::as_str),
        "/fired_at",
    );

    // The name; a candidate's one-string `name` when both parts are missing.
    let blank = |v: Option<&str>| v.is_none_or(|v| v.trim().is_empty());
    match s("/name") {
        Some(full) if !employee && blank(s("/firstname")) && blank(s("/lastname")) => {
            let (first, last) = split_name(full);
            d.set("/person/first_name", first, "/data/name").set(
                "/person/last_name",
                last,
                "/data/name",
            );
        }
        _ => {
            d.set("/person/first_name", s("/firstname"), "/data/firstname")
                .set("/person/last_name", s("/lastname"), "/data/lastname");
        }
    }

    // Email and phone, wherever this kind of resource keeps them.
    let email_fields: Vec<&str> = if employee {
        cfg.email_fields.iter().map(String::as_str).collect()
    } else {
        CANDIDATE_EMAIL_FIELDS.to_vec()
    };
    let phone_fields: &[&str] = if employee {
        &EMPLOYEE_PHONE_FIELDS
    } else {
        &CANDIDATE_PHONE_FIELDS
    };
    match ranked(data, &email_fields, false).into_iter().next() {
        Some(c) => d.set("/person/email", Some(c.value), &c.at),
        None => d.set(
            "/person/email",
            None,
            &format!("/data/{}", email_fields.first().copied().unwrap_or("email")),
        ),
    };
    let phones = ranked(data, phone_fields, true);
    // The first number valid in the region; if none is, the best one, so that its problem is
    // reported where it is.
    match phones
        .iter()
        .find(|c| PhoneE164::parse(c.value, phone_region).is_ok())
        .or(phones.first())
    {
        Some(c) => d.set("/person/phone", Some(c.value), &c.at),
        None => d.set("/person/phone", None, &format!("/data/{}", phone_fields[0])),
    };
    let external = data.get("id").and_then(id_text);
    d.set("/person/external_id", external.as_deref(), "/data/id");

    // The job.
    let (title, at) = if employee {
        text(data.get("job_title"), "/data/job_title")
    } else {
        text(data.pointer("/job/title"), "/data/job/title")
    };
    d.set("/job/title", title, &at);
    if employee {
        let (department, at) = text(data.get("department"), "/data/department");
        d.set("/job/department", department, &at);
        d.set(
            "/job/start_date",
            s("/start_date").map(date_part),
            "/data/start_date",
        );
    }
    let (label, at) = if employee {
        text(data.get("employment_type"), "/data/employment_type")
    } else {
        text(
            data.pointer("/job/employment_type"),
            "/data/job/employment_type",
        )
    };
    if let Some(label) = label.map(str::trim).filter(|l| !l.is_empty()) {
        let bare = label
            .get(..EMPLOYMENT_TYPE_PREFIX.len())
            .filter(|p| p.eq_ignore_ascii_case(EMPLOYMENT_TYPE_PREFIX))
            .map_or(label, |_| &label[EMPLOYMENT_TYPE_PREFIX.len()..]);
        match employment_type(label, &cfg.employment_types)
            .or_else(|| employment_type(bare, &cfg.employment_types))
        {
            Some(t) => {
                d.set("/job/employment_type", Some(t.as_str()), &at);
            }
            None => {
                return Err(vec![FieldError::new(
                    at,
                    format!(
                        "{label:?} is not an employment type hirebridge knows; map it with employment_types"
                    ),
                )]);
            }
        }
    }

    // Attributes, for rules.
    if employee {
        d.attribute(
            "employee_number",
            s("/employee_number"),
            "/data/employee_number",
        )
        .attribute("legal_entity", s("/legal_entity"), "/data/legal_entity");
    } else {
        d.attribute("job_shortcode", s("/job/shortcode"), "/data/job/shortcode")
            .attribute(
                "account_subdomain",
                s("/account/subdomain"),
                "/data/account/subdomain",
            );
        let (stage, at) = stage(Some(data));
        d.attribute("stage", stage, &at);
    }
    d.finish(phone_region)
}

/// `X-Workable-Signature` for `body` under `secret`, as Workable would send it in `encoding`.
pub fn signature(secret: &str, body: &[u8], encoding: SignatureEncoding) -> String {
    use hmac::Mac;
    let mut m = hmac_key(secret.as_bytes());
    m.update(body);
    let mac = m.finalize().into_bytes();
    match encoding {
        SignatureEncoding::Hex => hex::encode(mac),
        SignatureEncoding::Base64 => base64::engine::general_purpose::STANDARD.encode(mac),
    }
}

/// The example and sandbox of the Workable kind.
pub struct Examples;

impl Example for Examples {
    fn example(&self, secret: &str, _url: &Url, _now: SystemTime) -> SignedExample {
        let body = EXAMPLE.as_bytes().to_vec();
        SignedExample {
            content_type: "application/json",
            headers: vec![(
                "X-Workable-Signature".to_owned(),
                signature(secret, &body, SignatureEncoding::Hex),
            )],
            body,
        }
    }

    fn sandbox(&self, secret: &str, _api: &Url) -> SandboxSource {
        SandboxSource {
            config: SourceConfig::Workable(WorkableSource {
                secret: secret.to_owned().into(),
                phone_region: None,
                hired_stage: "hired".to_owned(),
                signature_encoding: SignatureEncoding::Hex,
                employment_types: Default::default(),
                email_fields: WorkableSource::default_email_fields(),
            }),
            routes: Vec::<(Method, String, Value)>::new(),
        }
    }
}

/// The kind's documented example and sandbox source.
pub fn examples() -> Option<&'static dyn Example> {
    Some(&Examples)
}
