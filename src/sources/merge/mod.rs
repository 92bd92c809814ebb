//! `kind: merge`: Merge's unified HRIS webhooks. A new employee arrives as `Employee.added`
//! with Merge's Employee common model in `data`; its relations (employments, team, work
//! location, manager) are ids there, resolved through Merge's API when `api` is configured.
//!
//! - **Signature**: `X-Merge-Webhook-Signature` = base64url of the HMAC-SHA256 of the raw body
//!   under the organization's webhook signature key (`secret`); padded or not, and the standard
//!   alphabet too. Merge signs no timestamp, so there is no age to check: a replayed request is
//!   a repeat of a stored event (its dedupe key) and changes nothing.
//! - **Events**: `Employee.added` is a hire. Every other event (`Employee.changed`,
//!   `Employee.removed`, the other common models, `LinkedAccount.*` sync and issue
//!   notifications) is acknowledged and ignored, and so are an `Employee.added` whose
//!   `employment_status` is `INACTIVE` (a terminated employee is not a hire) and, when
//!   `linked_account_id` is configured, the events of other linked accounts.
//! - **Dedupe**: `Employee.added/<data.id>`: `hook.id` names the webhook, not the delivery. Its
//!   fingerprint covers the event, the employee's id and the linked account, not the whole body:
//!   a second `Employee.added` for the same employee (a re-sync that changed `modified_at`) is a
//!   repeat, not a conflicting reuse of the key that Merge would retry. Other events are keyed
//!   `<hook.event>/<digest of the body>`: each `Employee.changed` is its own ignored event.
//! - **Without `api`**: the hire is mapped from the webhook's `data` at once; relations sent as
//!   ids stay unresolved (no job title, department, location or manager), and those sent
//!   expanded (objects) are read.
//! - **With `api`**: the event is stored as received, acknowledged, and the employee fetched in
//!   the pipeline: `GET <api.base_url>/employees/<data.id>?expand=employments,team,work_location,manager`
//!   with `Authorization: Bearer <api.token>` and `X-Account-Token: <api.account_token>`.
//! - **Mapping** (problems at `/data/<field>`, or `/employee/<field>` for a fetched one):
//!   `first_name` (or `preferred_name` with `use_preferred_name`), `last_name`, both split from
//!   `display_full_name` when absent; `work_email` / `personal_email` in `email_preference`
//!   order; `mobile_phone_number`; `start_date`, else `hire_date` (the date part);
//!   `employments[0].job_title` and `.employment_type` (`FULL_TIME`, `PART_TIME`, `INTERN`,
//!   `CONTRACTOR`, `FREELANCE`, and `employment_types` for others); `team.name` as the
//!   department; `work_location.name`, else its city; `manager.work_email`; `id` as the person's
//!   external id; `remote_id`, `employee_number`, `employment_status` and the linked account's
//!   `integration`, `integration_slug`, `end_user_origin_id` and `id` as attributes.

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use axum::http::Method;
use base64::Engine as _;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use url::Url;

use crate::config::{EmploymentTypes, MergeSource, SourceApi, SourceConfig, SourceKind};
use crate::domain::draft::{Draft, date_part, employment_type, split_name};
use crate::domain::hire::HIRE_CREATED;
use crate::domain::{FieldError, Hire};
use crate::remote::{ApiAuth, ApiError, ApiReply, Fetcher, Gate, JsonApi};
use crate::sources::adapter::RegistryError;
use crate::sources::adapter::{Adapter, Content, Decoded, Item, Rejection, WebhookRequest};
use crate::sources::body::{fingerprint, parse_json, require_json};
use crate::sources::example::{Example, SandboxSource, SignedExample};
use crate::sources::signing::{
    AuthError, HmacSha256, decode_base64, header_str, hmac_key, verify_mac,
};

/// The header Merge signs in.
pub const SIGNATURE_HEADER: &str = "x-merge-webhook-signature";
/// The header carrying the linked account's token to Merge's API.
pub const ACCOUNT_TOKEN_HEADER: &str = "X-Account-Token";
/// The event that is a hire.
pub const HIRE_EVENT: &str = "Employee.added";
/// The relations asked for in expanded form.
pub const EXPAND: &str = "employments,team,work_location,manager";

/// The documented `Employee.added` webhook (`examples/vendors/merge.json`).
pub const EXAMPLE: &str = include_str!("../../../examples/vendors/merge.json");
/// The employee it names, as Merge's API answers with its relations expanded.
pub const EXAMPLE_EMPLOYEE: &str = include_str!("../../../examples/vendors/merge-employee.json");

pub fn adapter(
    name: &str,
    cfg: &MergeSource,
    phone_region: &str,
    http: reqwest::Client,
) -> Result<Arc<dyn Adapter>, RegistryError> {
    Ok(Arc::new(Merge::new(name, cfg, phone_region, http)))
}

/// The kind's documented example and sandbox source.
pub fn examples() -> Option<&'static dyn Example> {
    Some(&Examples)
}

/// How an employee is read: the source's mapping options.
#[derive(Debug, Clone)]
pub struct Mapping {
    pub email_preference: Vec<String>,
    pub use_preferred_name: bool,
    pub employment_types: EmploymentTypes,
}

impl Mapping {
    pub fn of(cfg: &MergeSource) -> Self {
        Self {
            email_preference: cfg.email_preference.clone(),
            use_preferred_name: cfg.use_preferred_name,
            employment_types: cfg.employment_types.clone(),
        }
    }
}

/// A configured Merge source.
pub struct Merge {
    name: String,
    mac: HmacSha256,
    phone_region: String,
    mapping: Mapping,
    linked_account_id: Option<String>,
    fetcher: Option<Arc<EmployeeFetcher>>,
}

impl Merge {
    pub fn new(name: &str, cfg: &MergeSource, phone_region: &str, http: reqwest::Client) -> Self {
        let mapping = Mapping::of(cfg);
        Self {
            name: name.to_owned(),
            mac: hmac_key(cfg.secret.expose_secret().as_bytes()),
            phone_region: phone_region.to_owned(),
            linked_account_id: cfg.linked_account_id.clone(),
            fetcher: cfg.api.as_ref().map(|api| {
                Arc::new(EmployeeFetcher::new(
                    name,
                    api,
                    phone_region,
                    mapping.clone(),
                    http,
                ))
            }),
            mapping,
        }
    }

    fn verify(&self, req: &WebhookRequest<'_>) -> Result<(), AuthError> {
        let signature = decode_base64(header_str(req.headers, SIGNATURE_HEADER)?)?;
        verify_mac(&self.mac, &[req.body], &signature)
    }

    fn item(&self, body: &Value) -> Result<Item, Rejection> {
        let event = body
            .pointer("/hook/event")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .ok_or_else(|| Rejection::Malformed("not a Merge webhook: no hook.event".into()))?;
        let data = body.get("data").filter(|d| d.is_object());
        let employee_id = data.and_then(|d| id_text(d.get("id")));
        let linked = body.get("linked_account").unwrap_or(&Value::Null);
        let linked_id = id_text(linked.get("id"));
        // An event's repeats share its key and fingerprint. A hire's fingerprint covers the
        // event, the employee and the linked account, not the whole body: a second
        // `Employee.added` for the same employee after a re-sync is a repeat, not a conflict.
        let ignored = |key: String, fingerprint: String, reason: String| Item {
            fingerprint,
            dedupe_key: key,
            content: Content::Ignored {
                reason,
                raw: body.to_string(),
            },
        };
        if event != HIRE_EVENT {
            // Other events repeat for the same object with new content (each change is an
            // `Employee.changed`), and sync notifications carry no object id: each distinct
            // body is its own event, and only a redelivery of the same body is a repeat.
            let digest = fingerprint(body);
            return Ok(ignored(
                format!("{event}/{digest}"),
                digest,
                format!("Merge event {event:?} is not a hire"),
            ));
        }
        let Some(data) = data else {
            return Err(Rejection::Unmappable(vec![FieldError::new(
                "/data",
                "is required: the Employee of an Employee.added webhook",
            )]));
        };
        let employee_id = employee_id.ok_or_else(|| {
            Rejection::Unmappable(vec![FieldError::new("/data/id", "is required")])
        })?;
        let dedupe_key = format!("{event}/{employee_id}");
        let fingerprint = fingerprint(&json!({
            "event": event,
            "employee": employee_id,
            "linked_account": linked_id,
        }));
        if let Some(wanted) = &self.linked_account_id
            && linked_id.as_deref() != Some(wanted.as_str())
        {
            return Ok(ignored(
                dedupe_key,
                fingerprint,
                format!(
                    "the event is of linked account {:?}, not this source's",
                    linked_id.unwrap_or_default()
                ),
            ));
        }
        if str_at(data, "employment_status").is_some_and(|s| s.eq_ignore_ascii_case("INACTIVE")) {
            return Ok(ignored(
                dedupe_key,
                fingerprint,
                "the employee is INACTIVE: not a hire".to_owned(),
            ));
        }
        let content = if self.fetcher.is_some() {
            Content::Fetch {
                request: json!({
                    "employee_id": employee_id,
                    "event_id": dedupe_key,
                    "linked_account": linked_summary(linked),
                }),
                raw: body.to_string(),
            }
        } else {
            let hire = map(
                data,
                "/data",
                &dedupe_key,
                linked,
                &self.mapping,
                &self.phone_region,
            )
            .map_err(Rejection::Unmappable)?;
            Content::Hire(Box::new(hire))
        };
        Ok(Item {
            dedupe_key,
            fingerprint,
            content,
        })
    }
}

#[async_trait]
impl Adapter for Merge {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> SourceKind {
        SourceKind::Merge
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
        if !body.is_object() {
            return Err(Rejection::Malformed(
                "not a Merge webhook: the body is not an object".into(),
            ));
        }
        Ok(Decoded {
            items: vec![self.item(&body)?],
        })
    }
}

/// A string or number id as text.
fn id_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        _ => None,
    }
}

/// A non-blank string field of `v`.
fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
}

/// What the mapping keeps of the webhook's linked account, for a fetch.
fn linked_summary(linked: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for k in [
        "id",
        "integration",
        "integration_slug",
        "end_user_origin_id",
    ] {
        if let Some(v) = str_at(linked, k) {
            out.insert(k.to_owned(), Value::String(v.to_owned()));
        }
    }
    Value::Object(out)
}

/// Map a Merge Employee (at `at` in the vendor's document: `/data` in a webhook, `/employee`
/// when fetched) to the canonical hire. `linked` is the webhook's linked account.
pub fn map(
    employee: &Value,
    at: &str,
    event_id: &str,
    linked: &Value,
    m: &Mapping,
    phone_region: &str,
) -> Result<Hire, Vec<FieldError>> {
    let s = |k: &str| str_at(employee, k);
    let p = |k: &str| format!("{at}/{k}");
    let mut d = Draft::new(event_id, HIRE_CREATED);

    // Names: the legal first name unless the preferred one is asked for; both split from the
    // display name when Merge has no separate parts.
    let full = s("display_full_name")
        .map(split_name)
        .unwrap_or((None, None));
    let (first, first_at) = match (m.use_preferred_name, s("preferred_name"), s("first_name")) {
        (true, Some(n), _) => (Some(n), p("preferred_name")),
        (_, _, Some(n)) => (Some(n), p("first_name")),
        _ if full.0.is_some() => (full.0, p("display_full_name")),
        _ => (None, p("first_name")),
    };
    d.set("/person/first_name", first, &first_at);
    let (last, last_at) = match s("last_name") {
        Some(n) => (Some(n), p("last_name")),
        None if full.1.is_some() => (full.1, p("display_full_name")),
        None => (None, p("last_name")),
    };
    d.set("/person/last_name", last, &last_at);

    let email_field = |kind: &str| {
        if kind.eq_ignore_ascii_case("personal") {
            "personal_email"
        } else {
            "work_email"
        }
    };
    let (email, email_at) = m
        .email_preference
        .iter()
        .map(|k| email_field(k))
        .find_map(|f| s(f).map(|v| (Some(v), p(f))))
        .unwrap_or_else(|| {
            let f = m
                .email_preference
                .first()
                .map_or("work_email", |k| email_field(k));
            (None, p(f))
        });
    d.set("/person/email", email, &email_at);
    d.set(
        "/person/phone",
        s("mobile_phone_number"),
        &p("mobile_phone_number"),
    );
    let id = id_text(employee.get("id"));
    d.set("/person/external_id", id.as_deref(), &p("id"));

    let (start, start_at) = match s("start_date") {
        Some(v) => (Some(date_part(v)), p("start_date")),
        None => (s("hire_date").map(date_part), p("hire_date")),
    };
    d.set("/job/start_date", start, &start_at);

    // Relations: read when expanded (objects); ids alone are left unresolved.
    if let Some(job) = employee.pointer("/employments/0").filter(|j| j.is_object()) {
        let job_at = p("employments/0");
        d.set(
            "/job/title",
            str_at(job, "job_title"),
            &format!("{job_at}/job_title"),
        );
        if let Some(label) = str_at(job, "employment_type") {
            let type_at = format!("{job_at}/employment_type");
            match employment_type(label, &m.employment_types) {
                Some(t) => {
                    d.set("/job/employment_type", Some(t.as_str()), &type_at);
                }
                None => {
                    return Err(vec![FieldError::new(
                        type_at,
                        format!(
                            "{label:?} is not an employment type hirebridge knows; map it with employment_types"
                        ),
                    )]);
                }
            }
        }
    }
    if let Some(team) = employee.get("team").filter(|t| t.is_object()) {
        d.set("/job/department", str_at(team, "name"), &p("team/name"));
    }
    if let Some(loc) = employee.get("work_location").filter(|l| l.is_object()) {
        let (name, name_at) = match str_at(loc, "name") {
            Some(n) => (Some(n), p("work_location/name")),
            None => (str_at(loc, "city"), p("work_location/city")),
        };
        d.set("/job/location", name, &name_at);
    }
    if let Some(manager) = employee.get("manager").filter(|m| m.is_object()) {
        d.set(
            "/job/manager_email",
            str_at(manager, "work_email"),
            &p("manager/work_email"),
        );
    }

    d.attribute(
        "remote_id",
        id_text(employee.get("remote_id")).as_deref(),
        &p("remote_id"),
    );
    d.attribute(
        "employee_number",
        id_text(employee.get("employee_number")).as_deref(),
        &p("employee_number"),
    );
    d.attribute(
        "employment_status",
        s("employment_status"),
        &p("employment_status"),
    );
    for (name, key) in [
        ("integration", "integration"),
        ("integration_slug", "integration_slug"),
        ("end_user_origin_id", "end_user_origin_id"),
        ("linked_account_id", "id"),
    ] {
        d.attribute(name, str_at(linked, key), &format!("/linked_account/{key}"));
    }
    d.finish(phone_region)
}

/// Fetches an employee, its relations expanded, from Merge's API and maps them.
pub struct EmployeeFetcher {
    api: JsonApi,
    phone_region: String,
    mapping: Mapping,
    requests_per_minute: u32,
    timeout_ms: u64,
}

impl EmployeeFetcher {
    pub fn new(
        source: &str,
        api: &SourceApi,
        phone_region: &str,
        mapping: Mapping,
        http: reqwest::Client,
    ) -> Self {
        let mut client = JsonApi::new(
            http,
            source,
            api.base_url.clone(),
            ApiAuth::Bearer(api.token.clone()),
            Duration::from_millis(api.timeout_ms),
        );
        if let Some(token) = &api.account_token {
            client = client.with_header(ACCOUNT_TOKEN_HEADER, token.clone());
        }
        Self {
            api: client,
            phone_region: phone_region.to_owned(),
            mapping,
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
        let url = self.api.url(&["employees", id], &[("expand", EXPAND)]);
        self.api.get(url, gate.as_ref()).await
    }

    fn map(&self, request: &Value, employee: &Value) -> Result<Hire, Vec<FieldError>> {
        let event_id = request
            .get("event_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let linked = request.get("linked_account").unwrap_or(&Value::Null);
        map(
            employee,
            "/employee",
            event_id,
            linked,
            &self.mapping,
            &self.phone_region,
        )
    }
}

/// Sign `body` as Merge does: base64url (padded) of the HMAC-SHA256 under the signature key.
pub fn signature(secret: &str, body: &[u8]) -> String {
    use hmac::Mac;
    let mut m = hmac_key(secret.as_bytes());
    m.update(body);
    base64::engine::general_purpose::URL_SAFE.encode(m.finalize().into_bytes())
}

/// The example and sandbox of the Merge kind.
pub struct Examples;

impl Example for Examples {
    fn example(&self, secret: &str, _url: &Url, _now: SystemTime) -> SignedExample {
        let body = EXAMPLE.as_bytes().to_vec();
        SignedExample {
            content_type: "application/json",
            headers: vec![(
                "X-Merge-Webhook-Signature".to_owned(),
                signature(secret, &body),
            )],
            body,
        }
    }

    fn sandbox(&self, secret: &str, api: &Url) -> SandboxSource {
        let employee: Value = serde_json::from_str(EXAMPLE_EMPLOYEE).unwrap_or(Value::Null);
        let id = id_text(employee.get("id")).unwrap_or_default();
        SandboxSource {
            config: SourceConfig::Merge(MergeSource {
                secret: secret.to_owned().into(),
                phone_region: None,
                email_preference: ["work", "personal"].map(String::from).to_vec(),
                api: Some(SourceApi {
                    base_url: api.clone(),
                    token: "sandbox-merge-api-key".to_owned().into(),
                    account_token: Some("sandbox-merge-account-token".to_owned().into()),
                    requests_per_minute: 600,
                    timeout_ms: 5_000,
                }),
                employment_types: EmploymentTypes::new(),
                use_preferred_name: false,
                linked_account_id: None,
            }),
            routes: vec![(Method::GET, format!("/employees/{id}"), employee)],
        }
    }
}

/// A webhook of another event, with the same linked account (`LinkedAccount.synced` carries a
/// sync status, not a common model).
pub fn other_event(event: &str) -> Value {
    let mut body: Value = serde_json::from_str(EXAMPLE).unwrap_or(Value::Null);
    body["hook"]["event"] = Value::String(event.to_owned());
    body
}
