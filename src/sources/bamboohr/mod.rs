//! `kind: bamboohr`: BambooHR's webhooks. They carry ids, not the employee, so the event is
//! stored as received, acknowledged at once, and the employee is fetched from BambooHR's API
//! in the pipeline (the `fetch_person` step, on the source's own budget).
//!
//! - **Signature**: `X-BambooHR-Signature` = hex HMAC-SHA256 under the webhook's private key
//!   of the raw body followed by the `X-BambooHR-Timestamp` header's value. When the timestamp
//!   reads as a time (Unix seconds or milliseconds, or ISO 8601) it must be within
//!   `timestamp_tolerance_s` of now; its format is not documented, so one that does not read
//!   as a time is still covered by the signature but not checked for age.
//! - **Bodies**: event-based (`{"type": "employee.created", "timestamp", "data": {"companyId",
//!   "employeeId"}}`) and the legacy field-based batches (`{"employees": [{"id", "action":
//!   "Created", "fields", "timestamp"}]}`, each employee its own event). JSON only.
//! - **Events**: `employee.created` (legacy `Created`) is a hire; every other type or action is
//!   acknowledged and ignored.
//! - **Dedupe**: `employee.created/<employeeId>` (legacy: `Created/<id>`): BambooHR documents no
//!   delivery id, and an employee is created once.
//! - **Fetch**: `GET <api.base_url>/v1/employees/<id>?fields=…` with the API key as the basic
//!   auth user (`key:x`). Mapped: `firstName` (or `preferredName`), `lastName`, `workEmail`
//!   else `homeEmail`, `mobilePhone` else `workPhone` else `homePhone`, `jobTitle`,
//!   `department`, `location`, `hireDate`, `supervisorEmail`, `employmentHistoryStatus` as the
//!   employment type; the employee id as the external id; `division` and `employeeNumber` as
//!   attributes.

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use axum::http::Method;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use url::Url;

use crate::config::{BamboohrSource, EmploymentTypes, SourceApi, SourceConfig, SourceKind};
use crate::domain::draft::{Draft, employment_type};
use crate::domain::hire::HIRE_CREATED;
use crate::domain::{FieldError, Hire};
use crate::remote::{ApiAuth, ApiError, ApiReply, Fetcher, Gate, JsonApi};
use crate::sources::adapter::RegistryError;
use crate::sources::adapter::{Adapter, Content, Decoded, Item, Rejection, WebhookRequest};
use crate::sources::body::{fingerprint, parse_json, require_json};
use crate::sources::example::{Example, SandboxSource, SignedExample};
use crate::sources::signing::{
    AuthError, HmacSha256, decode_hex, header_str, hmac_key, unix_seconds, verify_mac,
};

pub const SIGNATURE_HEADER: &str = "x-bamboohr-signature";
pub const TIMESTAMP_HEADER: &str = "x-bamboohr-timestamp";

/// The documented event-based `employee.created` body.
pub const EXAMPLE: &str = include_str!("../../../examples/vendors/bamboohr.json");
/// The employee it names, as BambooHR's API answers for it.
pub const EXAMPLE_EMPLOYEE: &str = include_str!("../../../examples/vendors/bamboohr-employee.json");

/// The employee fields fetched.
const FIELDS: &str = "firstName,lastName,preferredName,workEmail,homeEmail,mobilePhone,workPhone,homePhone,jobTitle,department,division,location,hireDate,supervisorEmail,employmentHistoryStatus,employeeNumber";

pub fn adapter(
    name: &str,
    cfg: &BamboohrSource,
    phone_region: &str,
    http: reqwest::Client,
) -> Result<Arc<dyn Adapter>, RegistryError> {
    Ok(Arc::new(Bamboohr::new(name, cfg, phone_region, http)))
}

/// The kind's documented example and sandbox source.
pub fn examples() -> Option<&'static dyn Example> {
    Some(&Examples)
}

/// A configured BambooHR source.
pub struct Bamboohr {
    name: String,
    mac: HmacSha256,
    phone_region: String,
    tolerance: Duration,
    fetcher: Arc<EmployeeFetcher>,
}

impl Bamboohr {
    pub fn new(
        name: &str,
        cfg: &BamboohrSource,
        phone_region: &str,
        http: reqwest::Client,
    ) -> Self {
        Self {
            name: name.to_owned(),
            mac: hmac_key(cfg.secret.expose_secret().as_bytes()),
            phone_region: phone_region.to_owned(),
            tolerance: Duration::from_secs(cfg.timestamp_tolerance_s),
            fetcher: Arc::new(EmployeeFetcher::new(
                name,
                &cfg.api,
                phone_region,
                cfg.employment_types.clone(),
                http,
            )),
        }
    }

    fn verify(&self, req: &WebhookRequest<'_>) -> Result<(), AuthError> {
        let signature = decode_hex(header_str(req.headers, SIGNATURE_HEADER)?)?;
        let timestamp = header_str(req.headers, TIMESTAMP_HEADER)?;
        verify_mac(&self.mac, &[req.body, timestamp.as_bytes()], &signature)?;
        if let Some(sent) = read_time(timestamp) {
            let now = unix_seconds(req.received_at);
            let tolerance = i64::try_from(self.tolerance.as_secs()).unwrap_or(i64::MAX);
            if (now - sent).abs() > tolerance {
                return Err(AuthError::TimestampOutOfWindow);
            }
        }
        Ok(())
    }
}

/// A timestamp as Unix seconds, if it reads as one: seconds, milliseconds, or ISO 8601 with
/// `Z`, `+00:00` or `+0000`.
fn read_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        let n: i64 = s.parse().ok()?;
        return Some(if n > 100_000_000_000 { n / 1000 } else { n });
    }
    use time::format_description::well_known::{Iso8601, Rfc3339};
    if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t.unix_timestamp());
    }
    time::OffsetDateTime::parse(s, &Iso8601::DEFAULT)
        .ok()
        .or_else(|| {
            let fmt = time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second][offset_hour sign:mandatory][offset_minute]"
            );
            time::OffsetDateTime::parse(s, &fmt).ok()
        })
        .map(|t| t.unix_timestamp())
}

#[async_trait]
impl Adapter for Bamboohr {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> SourceKind {
        SourceKind::Bamboohr
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
        if let Some(kind) = body.get("type").and_then(Value::as_str) {
            return Ok(Decoded {
                items: vec![event_item(kind, &body)?],
            });
        }
        if let Some(employees) = body.get("employees").and_then(Value::as_array) {
            if employees.is_empty() {
                return Err(Rejection::Malformed("the employees list is empty".into()));
            }
            let items = employees
                .iter()
                .enumerate()
                .map(|(i, e)| legacy_item(i, e))
                .collect::<Result<_, _>>()?;
            return Ok(Decoded { items });
        }
        Err(Rejection::Malformed(
            "not a BambooHR webhook: neither a `type` nor an `employees` list".into(),
        ))
    }
}

fn id_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        _ => None,
    }
}

/// An event-based webhook.
fn event_item(kind: &str, body: &Value) -> Result<Item, Rejection> {
    let employee = id_text(body.pointer("/data/employeeId")).ok_or_else(|| {
        Rejection::Unmappable(vec![FieldError::new("/data/employeeId", "is required")])
    })?;
    let dedupe_key = format!("{kind}/{employee}");
    let content = if kind == "employee.created" {
        Content::Fetch {
            request: json!({"employee_id": employee, "event_id": dedupe_key}),
            raw: body.to_string(),
        }
    } else {
        Content::Ignored {
            reason: format!("BambooHR event {kind:?} is not a hire"),
            raw: body.to_string(),
        }
    };
    Ok(Item {
        fingerprint: fingerprint(body),
        dedupe_key,
        content,
    })
}

/// One employee of a legacy field-based webhook.
fn legacy_item(i: usize, e: &Value) -> Result<Item, Rejection> {
    let employee = id_text(e.get("id")).ok_or_else(|| {
        Rejection::Unmappable(vec![FieldError::new(
            format!("/employees/{i}/id"),
            "is required",
        )])
    })?;
    let action = e.get("action").and_then(Value::as_str).unwrap_or("");
    let dedupe_key = format!("{action}/{employee}");
    let content = if action.eq_ignore_ascii_case("created") {
        Content::Fetch {
            request: json!({"employee_id": employee, "event_id": dedupe_key}),
            raw: e.to_string(),
        }
    } else {
        Content::Ignored {
            reason: format!("BambooHR action {action:?} is not a hire"),
            raw: e.to_string(),
        }
    };
    Ok(Item {
        fingerprint: fingerprint(e),
        dedupe_key,
        content,
    })
}

/// Fetches an employee from BambooHR's API and maps them to the canonical hire.
pub struct EmployeeFetcher {
    api: JsonApi,
    phone_region: String,
    employment_types: EmploymentTypes,
    requests_per_minute: u32,
    timeout_ms: u64,
}

impl EmployeeFetcher {
    pub fn new(
        source: &str,
        api: &SourceApi,
        phone_region: &str,
        employment_types: EmploymentTypes,
        http: reqwest::Client,
    ) -> Self {
        Self {
            api: JsonApi::new(
                http,
                source,
                api.base_url.clone(),
                ApiAuth::BasicKey {
                    key: api.token.clone(),
                    password: "x".to_owned(),
                },
                Duration::from_millis(api.timeout_ms),
            ),
            phone_region: phone_region.to_owned(),
            employment_types,
            requests_per_minute: api.requests_per_minute,
            timeout_ms: api.timeout_ms,
        }
    }
}

#[async_trait]
impl Fetcher for EmployeeFetcher {
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
            .get("employee_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let url = self.api.url(
            &["v1", "employees", id],
            &[("fields", FIELDS), ("onlyCurrent", "true")],
        );
        self.api.get(url, gate.as_ref()).await
    }

    fn map(&self, request: &Value, employee: &Value) -> Result<Hire, Vec<FieldError>> {
        let event_id = request
            .get("event_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        map(
            employee,
            event_id,
            &self.employment_types,
            &self.phone_region,
        )
    }
}

/// Map an employee record of BambooHR's API, with problems at `/employee/<field>`.
pub fn map(
    employee: &Value,
    event_id: &str,
    employment_types: &EmploymentTypes,
    phone_region: &str,
) -> Result<Hire, Vec<FieldError>> {
    let f = |k: &str| {
        employee
            .get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
    };
    let first = |keys: &[&'static str]| -> (Option<&str>, String) {
        keys.iter()
            .find_map(|k| f(k).map(|v| (Some(v), format!("/employee/{k}"))))
            .unwrap_or((None, format!("/employee/{}", keys[0])))
    };
    let mut d = Draft::new(event_id, HIRE_CREATED);
    let (name, at) = first(&["firstName", "preferredName"]);
    d.set("/person/first_name", name, &at);
    d.set("/person/last_name", f("lastName"), "/employee/lastName");
    let (email, at) = first(&["workEmail", "homeEmail"]);
    d.set("/person/email", email, &at);
    let (phone, at) = first(&["mobilePhone", "workPhone", "homePhone"]);
    d.set("/person/phone", phone, &at);
    let id = id_text(employee.get("id"));
    d.set("/person/external_id", id.as_deref(), "/employee/id");
    d.set("/job/title", f("jobTitle"), "/employee/jobTitle");
    d.set("/job/department", f("department"), "/employee/department");
    d.set("/job/location", f("location"), "/employee/location");
    // BambooHR writes an unset date as 0000-00-00.
    d.set(
        "/job/start_date",
        f("hireDate").filter(|h| !h.starts_with("0000")),
        "/employee/hireDate",
    );
    d.set(
        "/job/manager_email",
        f("supervisorEmail"),
        "/employee/supervisorEmail",
    );
    if let Some(label) = f("employmentHistoryStatus") {
        match employment_type(label, employment_types) {
            Some(t) => {
                d.set(
                    "/job/employment_type",
                    Some(t.as_str()),
                    "/employee/employmentHistoryStatus",
                );
            }
            None => {
                return Err(vec![FieldError::new(
                    "/employee/employmentHistoryStatus",
                    format!(
                        "{label:?} is not an employment type hirebridge knows; map it with employment_types"
                    ),
                )]);
            }
        }
    }
    d.attribute("division", f("division"), "/employee/division");
    d.attribute(
        "employee_number",
        f("employeeNumber"),
        "/employee/employeeNumber",
    );
    d.finish(phone_region)
}

/// Sign `body` as BambooHR does, at `timestamp`.
pub fn signature(secret: &str, body: &[u8], timestamp: &str) -> String {
    use hmac::Mac;
    let mut m = hmac_key(secret.as_bytes());
    m.update(body);
    m.update(timestamp.as_bytes());
    hex::encode(m.finalize().into_bytes())
}

/// The example and sandbox of the BambooHR kind.
pub struct Examples;

impl Example for Examples {
    fn example(&self, secret: &str, _url: &Url, now: SystemTime) -> SignedExample {
        let body = EXAMPLE.as_bytes().to_vec();
        let ts = unix_seconds(now).to_string();
        SignedExample {
            content_type: "application/json",
            headers: vec![
                ("X-BambooHR-Timestamp".to_owned(), ts.clone()),
                (
                    "X-BambooHR-Signature".to_owned(),
                    signature(secret, &body, &ts),
                ),
            ],
            body,
        }
    }

    fn sandbox(&self, secret: &str, api: &Url) -> SandboxSource {
        let employee: Value = serde_json::from_str(EXAMPLE_EMPLOYEE).unwrap_or(Value::Null);
        let id = id_text(employee.get("id")).unwrap_or_default();
        SandboxSource {
            config: SourceConfig::Bamboohr(BamboohrSource {
                secret: secret.to_owned().into(),
                phone_region: None,
                api: SourceApi {
                    base_url: api.clone(),
                    token: "sandbox-bamboohr-api-key".to_owned().into(),
                    account_token: None,
                    requests_per_minute: 600,
                    timeout_ms: 5_000,
                },
                timestamp_tolerance_s: 300,
                employment_types: EmploymentTypes::new(),
            }),
            routes: vec![(Method::GET, format!("/v1/employees/{id}"), employee)],
        }
    }
}
