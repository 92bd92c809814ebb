//! `kind: salesforce`: Salesforce Outbound Messages (SOAP 1.1 XML).
//!
//! - **Authentication**: none in the message (Outbound Messages are unsigned). The envelope's
//!   `notifications/OrganizationId` must be the configured `organization_id`, compared on the
//!   15 case-sensitive characters both the 15- and the 18-character form of an id share; a
//!   missing one is `401 missing credentials`, another org's `401 invalid token: organization
//!   id`. Client certificates and IP allow-lists belong to the ingress.
//! - **Body**: `Content-Type: text/xml` (what Salesforce sends), `application/soap+xml` or
//!   `application/xml`, UTF-8, else 415. Parsed with `roxmltree`, which refuses any DTD: a
//!   `<!DOCTYPE …>` (how an XXE or an entity bomb starts) is a 400 before a single entity is
//!   read, and no entity is ever resolved. Elements are matched by local name and namespace:
//!   the SOAP envelope's, then `http://soap.sforce.com/2005/09/outbound` for `notifications`,
//!   `OrganizationId`, `Notification`, `Id` and `sObject`; the sObject's fields (`sf:FirstName`)
//!   by local name whatever their prefix. A field with `xsi:nil="true"` is absent.
//! - **Notifications**: 1 to 100 per message (the WSDL's `maxOccurs`; more is a 400). Each is
//!   its own event, keyed by its `Notification/Id` (Salesforce's advice for spotting a
//!   redelivery); a repeat of an id within one message is the same notification and read once.
//!   Its fingerprint covers the org, the notification id, the object type and the record id,
//!   not the field values: Salesforce sends the record as it is at each attempt, so a retry
//!   may carry newer values, and it is acknowledged as a duplicate (the first values stand)
//!   rather than refused with 409 for a whole day of retries.
//! - **Mapping**: each hire field from the first non-empty sObject field among its configured
//!   names (`fields.first_name: [FirstName]`, `fields.phone: [MobilePhone, Phone]`, …), the
//!   record `Id` as the person's external id, the start date's date part, the employment type
//!   through `employment_types` then the common spellings. Every other single-line field is an
//!   attribute under its API name (`attributes.Cost_Center__c`), for rules. A problem points at
//!   the field read, as a path from `notifications` with 1-based positions:
//!   `/notifications/Notification[2]/sObject/LastName`.
//! - **A notification that is not a hire** (no name, no email or phone, a value that does not
//!   parse): stored as an `ignored` event with those problems and the notification's XML, logged
//!   as a warning, and acknowledged with the rest. Salesforce's `Ack` is for the whole message
//!   and it retries the whole message for 24 hours before dropping it: refusing it would hold
//!   back, then lose, every hire batched with the incomplete one.
//! - **Answer**: when every notification is stored (or was already), 200 `text/xml` with the
//!   `notificationsResponse` whose `Ack` is `true` ([`ACK`]); anything else is a problem+json
//!   error, which Salesforce retries.

#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use axum::http::{HeaderMap, Method, header};
use roxmltree::{Document, Node, ParsingOptions};
use serde_json::{Value, json};
use subtle::ConstantTimeEq;
use url::Url;

use crate::config::{SalesforceSource, SourceConfig, SourceKind};
use crate::domain::draft::{Draft, date_part, employment_type};
use crate::domain::hire::{EVENT_ID_MAX_CHARS, HIRE_CREATED};
use crate::domain::{FieldError, Hire};
use crate::sources::adapter::RegistryError;
use crate::sources::adapter::{
    Adapter, Content, Decoded, Item, ItemOutcome, Rejection, Reply, WebhookRequest, json_reply,
};
use crate::sources::body::fingerprint;
use crate::sources::example::{Example, SandboxSource, SignedExample};
use crate::sources::signing::AuthError;

/// The namespace of `notifications` and its children.
pub const OUTBOUND_NS: &str = "http://soap.sforce.com/2005/09/outbound";
/// SOAP 1.1's envelope, what Salesforce sends.
pub const SOAP11_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// SOAP 1.2's envelope, accepted as well.
pub const SOAP12_NS: &str = "http://www.w3.org/2003/05/soap-envelope";
const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// At most this many `Notification`s in one message (the WSDL's `maxOccurs`).
pub const MAX_NOTIFICATIONS: usize = 100;
/// A ceiling on the nodes of one document: 100 notifications of a few hundred fields each fit
/// well within it; a body built to exhaust memory does not.
const NODES_LIMIT: u32 = 200_000;

/// The acknowledgement Salesforce needs, for the whole message.
pub const ACK: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8"?>"#,
    r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">"#,
    r#"<soapenv:Body><notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">"#,
    r#"<Ack>true</Ack></notificationsResponse></soapenv:Body></soapenv:Envelope>"#
);

/// The documented example message, two Contacts (`examples/vendors/salesforce.xml`).
pub const EXAMPLE: &str = include_str!("../../../examples/vendors/salesforce.xml");
/// The organization id the example carries (the sandbox's).
const EXAMPLE_ORG: &str = "00D000000000001AAA";
/// The notification ids the example carries, renewed by [`Examples::example`].
const EXAMPLE_NOTIFICATIONS: [&str; 2] = ["04l000000000001AAA", "04l000000000002AAA"];

pub fn adapter(
    name: &str,
    cfg: &SalesforceSource,
    phone_region: &str,
    _http: reqwest::Client,
) -> Result<Arc<dyn Adapter>, RegistryError> {
    Ok(Arc::new(Salesforce::new(name, cfg, phone_region)))
}

/// A configured Salesforce source.
pub struct Salesforce {
    name: String,
    phone_region: String,
    cfg: SalesforceSource,
}

impl Salesforce {
    pub fn new(name: &str, cfg: &SalesforceSource, phone_region: &str) -> Self {
        Self {
            name: name.to_owned(),
            phone_region: phone_region.to_owned(),
            cfg: cfg.clone(),
        }
    }

    /// The message's `OrganizationId` against the configured one.
    fn check_organization(&self, notifications: Node<'_, '_>) -> Result<String, AuthError> {
        let sent = outbound_child(notifications, "OrganizationId")
            .map(text_of)
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| AuthError::MissingCredentials("notifications/OrganizationId".into()))?;
        let sent = sent.trim();
        if same_org(sent, &self.cfg.organization_id) {
            Ok(sent.to_owned())
        } else {
            Err(AuthError::BadToken("organization id"))
        }
    }
}

/// Whether two org ids name the same org: 15 or 18 letters and digits each, equal in their
/// first 15 characters (case-sensitive; the 18-character form only adds a checksum of the
/// case), compared in constant time.
fn same_org(sent: &str, configured: &str) -> bool {
    let well_formed =
        |id: &str| matches!(id.len(), 15 | 18) && id.bytes().all(|b| b.is_ascii_alphanumeric());
    if !well_formed(sent) || !well_formed(configured) {
        return false;
    }
    bool::from(sent.as_bytes()[..15].ct_eq(&configured.as_bytes()[..15]))
}

/// `Ok` when the body is declared as XML, in UTF-8 (or without a charset); else the message.
fn require_xml(headers: &HeaderMap) -> Result<(), String> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut parts = ct.split(';');
    let mime = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    if !matches!(
        mime.as_str(),
        "text/xml" | "application/xml" | "application/soap+xml"
    ) {
        return Err(format!(
            "expected Content-Type: text/xml (a Salesforce Outbound Message), got {}",
            if ct.is_empty() { "none" } else { ct }
        ));
    }
    for param in parts {
        if let Some((k, v)) = param.split_once('=')
            && k.trim().eq_ignore_ascii_case("charset")
        {
            let v = v.trim().trim_matches('"');
            if !(v.eq_ignore_ascii_case("utf-8") || v.eq_ignore_ascii_case("us-ascii")) {
                return Err(format!(
                    "the body must be UTF-8 XML, not charset={v} (Salesforce sends utf-8)"
                ));
            }
        }
    }
    Ok(())
}

/// Parse the body as XML, refusing any DTD and resolving no entity.
fn parse_xml(text: &str) -> Result<Document<'_>, Rejection> {
    let opt = ParsingOptions {
        allow_dtd: false,
        nodes_limit: NODES_LIMIT,
        ..ParsingOptions::default()
    };
    Document::parse_with_options(text, opt).map_err(|e| match e {
        roxmltree::Error::DtdDetected => Rejection::Malformed(
            "the body declares a DTD (<!DOCTYPE …>): refused, and none of its entities read; \
             Outbound Messages carry none"
                .into(),
        ),
        roxmltree::Error::NodesLimitReached => Rejection::Malformed(format!(
            "the XML has more than {NODES_LIMIT} nodes; an Outbound Message has far fewer"
        )),
        roxmltree::Error::UnexpectedEndOfStream | roxmltree::Error::UnclosedRootNode => Rejection::Malformed(format!(
            "the body is not well-formed XML: it ends (at byte {}) before its root element closes",
            text.len()
        )),
        e => Rejection::Malformed(format!("the body is not well-formed XML: {e}")),
    })
}

/// The `notifications` element of a SOAP envelope.
fn envelope_notifications<'a, 'i>(doc: &'a Document<'i>) -> Result<Node<'a, 'i>, Rejection> {
    let not_ours =
        |what: &str| Rejection::Malformed(format!("not a Salesforce Outbound Message: {what}"));
    let env = doc.root_element();
    let soap = env
        .tag_name()
        .namespace()
        .filter(|ns| env.tag_name().name() == "Envelope" && (*ns == SOAP11_NS || *ns == SOAP12_NS));
    let Some(soap) = soap else {
        return Err(not_ours(&format!(
            "the root element is {}, not a SOAP Envelope ({SOAP11_NS})",
            expanded(env)
        )));
    };
    let body = env
        .children()
        .find(|n| n.is_element() && n.has_tag_name((soap, "Body")))
        .ok_or_else(|| not_ours("the envelope has no Body"))?;
    let Some(found) = body
        .children()
        .find(|n| n.is_element() && n.tag_name().name() == "notifications")
    else {
        return Err(not_ours("the SOAP Body holds no notifications"));
    };
    if found.tag_name().namespace() != Some(OUTBOUND_NS) {
        return Err(not_ours(&format!(
            "notifications is in the namespace {:?}, not {OUTBOUND_NS}",
            found.tag_name().namespace().unwrap_or("")
        )));
    }
    Ok(found)
}

/// `{namespace}name` of an element, for messages.
fn expanded(n: Node<'_, '_>) -> String {
    match n.tag_name().namespace() {
        Some(ns) => format!("{{{ns}}}{}", n.tag_name().name()),
        None => n.tag_name().name().to_owned(),
    }
}

/// The first child element `name` in the outbound namespace.
fn outbound_child<'a, 'i>(n: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    n.children()
        .find(|c| c.is_element() && c.has_tag_name((OUTBOUND_NS, name)))
}

/// The text of an element: its text children joined (entity and character references are
/// already resolved by the parser; a CDATA section is text).
fn text_of(n: Node<'_, '_>) -> String {
    n.children()
        .filter(Node::is_text)
        .filter_map(|c| c.text())
        .collect()
}

/// One field of an sObject as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The field's API name (`FirstName`, `Start_Date__c`).
    pub name: String,
    /// `None` for `xsi:nil="true"` or an element with child elements instead of text.
    pub value: Option<String>,
}

/// One `Notification` of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Its position in the message, from 1.
    pub position: usize,
    /// `Notification/Id`: the dedupe key.
    pub id: String,
    /// The sObject's type (`Contact` of `xsi:type="sf:Contact"`).
    pub sobject_type: Option<String>,
    /// The sObject's fields in the order sent.
    pub fields: Vec<Field>,
    /// The `Notification` element as received, for the record kept of an ignored one.
    pub xml: String,
}

impl Notification {
    /// The path of the sObject's field `name` (`/notifications/Notification[2]/sObject/Email`).
    pub fn pointer(&self, name: &str) -> String {
        let base = format!("/notifications/Notification[{}]/sObject", self.position);
        if name.is_empty() {
            base
        } else {
            format!("{base}/{name}")
        }
    }

    /// The value of the field `name`, when sent and not blank.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|f| f.name == name)
            .and_then(|f| f.value.as_deref())
            .filter(|v| !v.trim().is_empty())
    }

    /// The first of `names` with a value, with its name; with none, the first name (or no
    /// name for an empty list), so a problem still points where the value was looked for.
    fn first<'a>(&'a self, names: &'a [String]) -> (Option<&'a str>, &'a str) {
        names
            .iter()
            .find_map(|n| self.get(n).map(|v| (Some(v), n.as_str())))
            .unwrap_or((None, names.first().map_or("", String::as_str)))
    }

    /// The record id (`sf:Id`).
    pub fn record_id(&self) -> Option<&str> {
        self.get("Id").map(str::trim)
    }
}

/// The notifications of a `notifications` element: 1 to 100, each with an id and an sObject.
fn read_notifications(
    notifications: Node<'_, '_>,
    text: &str,
) -> Result<Vec<Notification>, Rejection> {
    let elements: Vec<Node<'_, '_>> = notifications
        .children()
        .filter(|c| c.is_element() && c.has_tag_name((OUTBOUND_NS, "Notification")))
        .collect();
    if elements.is_empty() {
        return Err(Rejection::Malformed(
            "the message holds no Notification".into(),
        ));
    }
    if elements.len() > MAX_NOTIFICATIONS {
        return Err(Rejection::Malformed(format!(
            "the message holds {} Notification elements; an Outbound Message carries at most \
             {MAX_NOTIFICATIONS}",
            elements.len()
        )));
    }
    let mut out = Vec::with_capacity(elements.len());
    let mut seen = HashSet::new();
    for (i, el) in elements.into_iter().enumerate() {
        let position = i + 1;
        let at = format!("/notifications/Notification[{position}]");
        let id = outbound_child(el, "Id")
            .map(text_of)
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Rejection::Malformed(format!("{at}/Id is missing")))?;
        if id.len() > EVENT_ID_MAX_CHARS || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Rejection::Malformed(format!(
                "{at}/Id is not a Salesforce id (letters and digits, at most {EVENT_ID_MAX_CHARS})"
            )));
        }
        let sobject = outbound_child(el, "sObject")
            .ok_or_else(|| Rejection::Malformed(format!("{at}/sObject is missing")))?;
        if !seen.insert(id.clone()) {
            // The same notification twice in one message: it is read once.
            continue;
        }
        let sobject_type = sobject
            .attribute((XSI_NS, "type"))
            .map(|t| t.rsplit(':').next().unwrap_or(t).trim().to_owned())
            .filter(|t| !t.is_empty());
        let fields = sobject
            .children()
            .filter(Node::is_element)
            .map(|f| {
                let nil = f
                    .attribute((XSI_NS, "nil"))
                    .is_some_and(|v| matches!(v.trim(), "true" | "1"));
                let nested = f.children().any(|c| c.is_element());
                Field {
                    name: f.tag_name().name().to_owned(),
                    value: (!nil && !nested).then(|| text_of(f)),
                }
            })
            .collect();
        out.push(Notification {
            position,
            id,
            sobject_type,
            fields,
            xml: text.get(el.range()).unwrap_or_default().to_owned(),
        });
    }
    Ok(out)
}

/// Map one notification's sObject to the canonical hire, with problems at its fields.
pub fn map(
    n: &Notification,
    cfg: &SalesforceSource,
    phone_region: &str,
) -> Result<Hire, Vec<FieldError>> {
    let f = &cfg.fields;
    let mut d = Draft::new(&n.id, HIRE_CREATED);
    // The fields read into canonical ones; the record id is the external id.
    let mut used: Vec<&str> = vec!["Id"];
    for (field, names, is_date) in [
        ("/person/first_name", &f.first_name, false),
        ("/person/last_name", &f.last_name, false),
        ("/person/email", &f.email, false),
        ("/person/phone", &f.phone, false),
        ("/job/title", &f.title, false),
        ("/job/department", &f.department, false),
        ("/job/location", &f.location, false),
        ("/job/start_date", &f.start_date, true),
        ("/job/manager_email", &f.manager_email, false),
    ] {
        let (value, name) = n.first(names);
        if value.is_some() {
            used.push(name);
        }
        let value = if is_date { value.map(date_part) } else { value };
        d.set(field, value, &n.pointer(name));
    }
    let (label, name) = n.first(&f.employment_type);
    if let Some(label) = label {
        used.push(name);
        match employment_type(label, &cfg.employment_types) {
            Some(t) => {
                d.set("/job/employment_type", Some(t.as_str()), &n.pointer(name));
            }
            None => {
                return Err(vec![FieldError::new(
                    n.pointer(name),
                    format!(
                        "{:?} is not an employment type hirebridge knows; map it with employment_types",
                        label.trim()
                    ),
                )]);
            }
        }
    }
    d.set("/person/external_id", n.record_id(), &n.pointer("Id"));
    // Every other field, for rules; a multi-line value (a text area) is no attribute.
    for field in &n.fields {
        if used.contains(&field.name.as_str()) {
            continue;
        }
        if let Some(v) = field.value.as_deref().map(str::trim)
            && !v.is_empty()
            && !v.chars().any(char::is_control)
        {
            d.attribute(&field.name, Some(v), &n.pointer(&field.name));
        }
    }
    // A hire with no person fields at all is the sObject's problem, not a canonical field's.
    let object = n.pointer("");
    d.finish(phone_region).map_err(|errors| {
        errors
            .into_iter()
            .map(|e| {
                if e.pointer.starts_with(&object) {
                    e
                } else {
                    FieldError::new(
                        object.clone(),
                        format!("{} {}: none of its fields holds it", e.pointer, e.message),
                    )
                }
            })
            .collect()
    })
}

/// What tells a redelivery of a notification from a conflicting reuse of its id: the org, the
/// notification and the record it is about, not the record's values (see the module docs).
fn notification_fingerprint(org: &str, n: &Notification) -> String {
    fingerprint(&json!({
        "organization_id": org.get(..15).unwrap_or(org),
        "notification_id": n.id,
        "sobject_type": n.sobject_type,
        "record_id": n.record_id(),
    }))
}

#[async_trait]
impl Adapter for Salesforce {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> SourceKind {
        SourceKind::Salesforce
    }

    fn phone_region(&self) -> &str {
        &self.phone_region
    }

    async fn decode(&self, req: &WebhookRequest<'_>) -> Result<Decoded, Rejection> {
        require_xml(req.headers).map_err(Rejection::UnsupportedMediaType)?;
        let text = std::str::from_utf8(req.body)
            .map_err(|e| Rejection::Malformed(format!("the body is not UTF-8: {e}")))?;
        let doc = parse_xml(text)?;
        let notifications = envelope_notifications(&doc)?;
        // The org is the only credential: nothing of the notifications is read before it.
        let org = self.check_organization(notifications)?;
        let items = read_notifications(notifications, text)?
            .into_iter()
            .map(|n| self.item(&org, n))
            .collect();
        Ok(Decoded { items })
    }

    /// The SOAP `Ack` once every notification is stored (or was already); a conflicting reuse
    /// of a notification id is refused with 409 like any other source's.
    fn respond(&self, outcomes: &[ItemOutcome]) -> Result<Reply, Rejection> {
        json_reply(outcomes)?;
        Ok(Reply::Xml {
            status: 200,
            body: ACK.to_owned(),
        })
    }
}

impl Salesforce {
    fn item(&self, org: &str, n: Notification) -> Item {
        let fingerprint = notification_fingerprint(org, &n);
        let content = match map(&n, &self.cfg, &self.phone_region) {
            Ok(hire) => Content::Hire(Box::new(hire)),
            Err(errors) => {
                tracing::warn!(
                    source = %self.name,
                    notification = %n.id,
                    problems = %errors.iter().map(|e| format!("{}: {}", e.pointer, e.message)).collect::<Vec<_>>().join("; "),
                    "a Salesforce notification is not a hire hirebridge can map: stored as ignored and acknowledged"
                );
                let reason = "the notification is not a hire hirebridge can map".to_owned();
                let raw = json!({
                    "ignored": reason,
                    "errors": errors,
                    "notification_id": n.id,
                    "sobject_type": n.sobject_type,
                    "record_id": n.record_id(),
                    "xml": n.xml,
                })
                .to_string();
                Content::Ignored { reason, raw }
            }
        };
        Item {
            dedupe_key: n.id,
            fingerprint,
            content,
        }
    }
}

/// `s` with the characters XML text cannot hold as such escaped.
fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The example and sandbox of the Salesforce kind.
pub struct Examples;

impl Example for Examples {
    /// The documented message from the org `secret` (the organization id is this kind's only
    /// credential), with notification ids of `now` so each example is a new delivery.
    fn example(&self, secret: &str, _url: &Url, now: SystemTime) -> SignedExample {
        let stamp = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis())
            % 1_000_000_000_000;
        let mut body = EXAMPLE.replace(
            &format!("<OrganizationId>{EXAMPLE_ORG}</OrganizationId>"),
            &format!("<OrganizationId>{}</OrganizationId>", xml_escape(secret)),
        );
        for (i, id) in EXAMPLE_NOTIFICATIONS.iter().enumerate() {
            body = body.replace(
                &format!("<Id>{id}</Id>"),
                &format!("<Id>04l{stamp:012}{:03}</Id>", i + 1),
            );
        }
        SignedExample {
            content_type: "text/xml; charset=utf-8",
            headers: vec![("SOAPAction".to_owned(), "\"\"".to_owned())],
            body: body.into_bytes(),
        }
    }

    /// A source of the sandbox's org, reading the example's custom fields too.
    fn sandbox(&self, secret: &str, _api: &Url) -> SandboxSource {
        let fields = crate::config::SalesforceFields {
            employment_type: vec!["Employment_Type__c".to_owned()],
            start_date: vec!["Start_Date__c".to_owned()],
            manager_email: vec!["ReportsTo_Email__c".to_owned()],
            ..Default::default()
        };
        SandboxSource {
            config: SourceConfig::Salesforce(SalesforceSource {
                organization_id: secret.to_owned(),
                phone_region: None,
                fields,
                employment_types: Default::default(),
            }),
            routes: Vec::<(Method, String, Value)>::new(),
        }
    }
}

/// The kind's documented example and sandbox source.
pub fn examples() -> Option<&'static dyn Example> {
    Some(&Examples)
}
