//! `kind: greenhouse`: Greenhouse Recruiting's web hooks.
//!
//! - **Signature**: `Signature: sha256 <hex>`, the hex HMAC-SHA256 of the raw body under the
//!   web hook's secret key (a space after `sha256`, not `=`; `=` is accepted too). No timestamp.
//! - **Dedupe**: the `Greenhouse-Event-ID` header (one per delivery); without it,
//!   `hire_candidate/<application id>`.
//! - **Events**: `hire_candidate` is a hire; `ping` (sent when the hook is saved; a failed ping
//!   leaves the hook disabled) and every other action are acknowledged and ignored.
//! - **Answer**: 200 for everything stored, the accepted hire included: Greenhouse counts
//!   anything else as a failure and retries it (7 times over about 15 hours).
//! - **Mapping** (`payload.application`): `candidate.first_name` / `last_name`; the email and the
//!   phone by `type` in the configured order; `jobs[0].name` as the job title (never
//!   `candidate.title`, the candidate's previous one); `jobs[0].departments[0].name`;
//!   `jobs[0].offices[0].location`, else its `name`; `offer.starts_at`; the employment type from
//!   the job's, then the offer's, custom field `employment_type_field`; `candidate.id` as the
//!   person's external id; the string values of the application's, job's and offer's custom
//!   fields as attributes (by their immutable keys). Greenhouse sends no manager.

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use axum::http::Method;
use serde_json::{Value, json};
use url::Url;

use crate::config::{GreenhouseSource, SourceConfig, SourceKind};
use crate::domain::draft::{Draft, employment_type};
use crate::domain::hire::HIRE_CREATED;
use crate::domain::{FieldError, Hire};
use crate::sources::adapter::RegistryError;
use crate::sources::adapter::{
    Adapter, Content, Decoded, Item, ItemOutcome, Rejection, Reply, WebhookRequest, json_reply,
};
use crate::sources::body::{fingerprint, parse_json, require_json};
use crate::sources::example::{Example, SandboxSource, SignedExample};
use crate::sources::idempotency::id_header;
use crate::sources::signing::{
    AuthError, HmacSha256, decode_hex, header_str, hmac_key, verify_mac,
};

/// The header Greenhouse signs in.
pub const SIGNATURE_HEADER: &str = "signature";
/// The header carrying the delivery's id.
pub const EVENT_ID_HEADER: &str = "greenhouse-event-id";

/// The documented example hire (`examples/vendors/greenhouse.json`).
pub const EXAMPLE: &str = include_str!("../../../examples/vendors/greenhouse.json");

pub fn adapter(
    name: &str,
    cfg: &GreenhouseSource,
    phone_region: &str,
    _http: reqwest::Client,
) -> Result<Arc<dyn Adapter>, RegistryError> {
    Ok(Arc::new(Greenhouse::new(name, cfg, phone_region)))
}

/// A configured Greenhouse source.
pub struct Greenhouse {
    name: String,
    mac: HmacSha256,
    phone_region: String,
    cfg: GreenhouseSource,
}

impl Greenhouse {
    pub fn new(name: &str, cfg: &GreenhouseSource, phone_region: &str) -> Self {
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
        let hex = strip_scheme(value).ok_or(AuthError::MalformedCredentials(
            "expected Signature: sha256 <hex>",
        ))?;
        verify_mac(&self.mac, &[req.body], &decode_hex(hex)?)
    }
}

/// `sha256 <hex>` (or `sha256=<hex>`) → `<hex>`.
fn strip_scheme(value: &str) -> Option<&str> {
    let scheme = value.get(..6)?;
    if !scheme.eq_ignore_ascii_case("sha256") {
        return None;
    }
    let rest = &value[6..];
    let rest = rest.strip_prefix('=').or_else(|| rest.strip_prefix(' '))?;
    Some(rest.trim())
}

#[async_trait]
impl Adapter for Greenhouse {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> SourceKind {
        SourceKind::Greenhouse
    }

    fn phone_region(&self) -> &str {
        &self.phone_region
    }

    async fn decode(&self, req: &WebhookRequest<'_>) -> Result<Decoded, Rejection> {
        self.verify(req)?;
        require_json(req.headers).map_err(Rejection::UnsupportedMediaType)?;
        let body = parse_json(req.body).map_err(Rejection::MalformedJson)?;
        let delivery = id_header(req.headers, EVENT_ID_HEADER)
            .map_err(|e| Rejection::InvalidHeaders(vec![e]))?;
        let action = body
            .get("action")
            .and_then(Value::as_str)
            .ok_or_else(|| Rejection::Malformed("not a Greenhouse web hook: no action".into()))?;
        let item = if action == "hire_candidate" {
            let app_id = body
                .pointer("/payload/application/id")
                .and_then(id_text)
                .ok_or_else(|| {
                    Rejection::Unmappable(vec![FieldError::new(
                        "/payload/application/id",
                        "is required",
                    )])
                })?;
            let key = delivery.unwrap_or_else(|| format!("hire_candidate/{app_id}"));
            let hire =
                map(&body, &key, &self.cfg, &self.phone_region).map_err(Rejection::Unmappable)?;
            Item {
                dedupe_key: key,
                fingerprint: fingerprint(&body),
                content: Content::Hire(Box::new(hire)),
            }
        } else {
            // A ping has no delivery id to speak of; its repeats are the same ping.
            let key = delivery.unwrap_or_else(|| format!("{action}/{}", fingerprint(&body)));
            Item {
                dedupe_key: key,
                fingerprint: fingerprint(&body),
                content: Content::Ignored {
                    reason: format!("Greenhouse action {action:?} is not a hire"),
                    raw: body.to_string(),
                },
            }
        };
        Ok(Decoded { items: vec![item] })
    }

    /// 200 for whatever was stored: Greenhouse retries anything else.
    fn respond(&self, outcomes: &[ItemOutcome]) -> Result<Reply, Rejection> {
        Ok(match json_reply(outcomes)? {
            Reply::Json { body, .. } => Reply::Json { status: 200, body },
            other => other,
        })
    }
}

/// A number or string id as text.
fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        _ => None,
    }
}

/// The first entry of `list` (`[{value, type}]`) whose `type` comes first in `order`; an entry
/// of a type not listed comes after all that are. Returns its value and pointer.
fn by_type(list: Option<&Value>, base: &str, order: &[String]) -> (Option<String>, String) {
    let entries: Vec<(usize, &Value)> = list
        .and_then(Value::as_array)
        .map(|a| a.iter().enumerate().collect())
        .unwrap_or_default();
    let rank = |e: &Value| {
        let t = e.get("type").and_then(Value::as_str).unwrap_or("");
        order
            .iter()
            .position(|o| o.eq_ignore_ascii_case(t))
            .unwrap_or(order.len())
    };
    entries
        .iter()
        .filter(|(_, e)| {
            e.get("value")
                .and_then(Value::as_str)
                .is_some_and(|v| !v.trim().is_empty())
        })
        .min_by_key(|(i, e)| (rank(e), *i))
        .map(|(i, e)| {
            (
                e.get("value").and_then(Value::as_str).map(str::to_owned),
                format!("{base}/{i}/value"),
            )
        })
        .unwrap_or((None, base.to_owned()))
}

/// A custom field's value as text, if it is text (`short_text`, `single_select`, …).
fn custom_text<'a>(fields: Option<&'a Value>, key: &str) -> Option<&'a str> {
    fields?.get(key)?.get("value")?.as_str()
}

/// Map a `hire_candidate` body to the canonical hire, with problems at Greenhouse's fields.
pub fn map(
    body: &Value,
    event_id: &str,
    cfg: &GreenhouseSource,
    phone_region: &str,
) -> Result<Hire, Vec<FieldError>> {
    const APP: &str = "/payload/application";
    let app = body.pointer(APP).unwrap_or(&Value::Null);
    let s = |p: &str| app.pointer(p).and_then(Value::as_str);
    let mut d = Draft::new(event_id, HIRE_CREATED);
    d.set(
        "/occurred_at",
        s("/offer/resolved_at"),
        &format!("{APP}/offer/resolved_at"),
    );
    let cand = format!("{APP}/candidate");
    d.set(
        "/person/first_name",
        s("/candidate/first_name"),
        &format!("{cand}/first_name"),
    )
    .set(
        "/person/last_name",
        s("/candidate/last_name"),
        &format!("{cand}/last_name"),
    );
    let (email, at) = by_type(
        app.pointer("/candidate/email_addresses"),
        &format!("{cand}/email_addresses"),
        &cfg.email_types,
    );
    d.set("/person/email", email.as_deref(), &at);
    let (phone, at) = by_type(
        app.pointer("/candidate/phone_numbers"),
        &format!("{cand}/phone_numbers"),
        &cfg.phone_types,
    );
    d.set("/person/phone", phone.as_deref(), &at);
    let external = app.pointer("/candidate/id").and_then(id_text);
    d.set(
        "/person/external_id",
        external.as_deref(),
        &format!("{cand}/id"),
    );

    // The job: `jobs[0]` (`job` is deprecated, read only when `jobs` is absent).
    let (job, job_at) = match app.pointer("/jobs/0") {
        Some(j) => (j, format!("{APP}/jobs/0")),
        None => (app.get("job").unwrap_or(&Value::Null), format!("{APP}/job")),
    };
    let js = |p: &str| job.pointer(p).and_then(Value::as_str);
    d.set("/job/title", js("/name"), &format!("{job_at}/name"));
    d.set(
        "/job/department",
        js("/departments/0/name"),
        &format!("{job_at}/departments/0/name"),
    );
    let (location, at) = match js("/offices/0/location").filter(|l| !l.trim().is_empty()) {
        Some(l) => (Some(l), format!("{job_at}/offices/0/location")),
        None => (js("/offices/0/name"), format!("{job_at}/offices/0/name")),
    };
    d.set("/job/location", location, &at);
    d.set(
        "/job/start_date",
        s("/offer/starts_at"),
        &format!("{APP}/offer/starts_at"),
    );
    if let Some(field) = &cfg.employment_type_field {
        let found = [
            (job.get("custom_fields"), format!("{job_at}/custom_fields")),
            (
                app.pointer("/offer/custom_fields"),
                format!("{APP}/offer/custom_fields"),
            ),
        ]
        .into_iter()
        .find_map(|(fields, at)| custom_text(fields, field).map(|v| (v, at)));
        if let Some((label, at)) = found {
            let at = format!("{at}/{field}/value");
            match employment_type(label, &cfg.employment_types) {
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
    }
    // Custom fields with text values, for rules: the offer's over the job's over the
    // application's.
    for (fields, at) in [
        (
            app.pointer("/custom_fields"),
            format!("{APP}/custom_fields"),
        ),
        (job.get("custom_fields"), format!("{job_at}/custom_fields")),
        (
            app.pointer("/offer/custom_fields"),
            format!("{APP}/offer/custom_fields"),
        ),
    ] {
        if let Some(map) = fields.and_then(Value::as_object) {
            for (key, field) in map {
                if let Some(v) = field.get("value").and_then(Value::as_str) {
                    d.attribute(key, Some(v), &format!("{at}/{key}/value"));
                }
            }
        }
    }
    d.finish(phone_region)
}

/// The example and sandbox of the Greenhouse kind.
pub struct Examples;

impl Example for Examples {
    fn example(&self, secret: &str, _url: &Url, now: SystemTime) -> SignedExample {
        let body = EXAMPLE.as_bytes().to_vec();
        let mac = {
            use hmac::Mac;
            let mut m = hmac_key(secret.as_bytes());
            m.update(&body);
            hex::encode(m.finalize().into_bytes())
        };
        let stamp = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        SignedExample {
            content_type: "application/json",
            headers: vec![
                ("Signature".to_owned(), format!("sha256 {mac}")),
                (
                    "Greenhouse-Event-ID".to_owned(),
                    format!("gh-example-{stamp}"),
                ),
            ],
            body,
        }
    }

    fn sandbox(&self, secret: &str, _api: &Url) -> SandboxSource {
        SandboxSource {
            config: SourceConfig::Greenhouse(GreenhouseSource {
                secret: secret.to_owned().into(),
                phone_region: None,
                email_types: ["personal", "work", "other"].map(String::from).to_vec(),
                phone_types: ["mobile", "home", "work", "other"]
                    .map(String::from)
                    .to_vec(),
                employment_type_field: Some("employment_type".to_owned()),
                employment_types: Default::default(),
            }),
            routes: Vec::<(Method, String, Value)>::new(),
        }
    }
}

/// A ping as Greenhouse sends it when a hook is saved.
pub fn ping() -> Value {
    json!({"action": "ping", "payload": {"web_hook_id": 1}})
}

/// The kind's documented example and sandbox source.
pub fn examples() -> Option<&'static dyn Example> {
    Some(&Examples)
}
