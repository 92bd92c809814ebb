use std::io::Write;
use std::time::{Duration, SystemTime};

use axum::http::{HeaderMap, HeaderValue, Method, Uri};
use proptest::prelude::*;
use serde_json::Value;

use super::*;
use crate::config::SalesforceFields;
use crate::domain::EmploymentType;
use crate::http::problem::Problem;

const ORG: &str = "00D000000000001AAA";

fn cfg() -> SalesforceSource {
    let SourceConfig::Salesforce(cfg) = Examples
        .sandbox(ORG, &Url::parse("http://unused").unwrap())
        .config
    else {
        unreachable!()
    };
    cfg
}

fn source() -> Salesforce {
    Salesforce::new("salesforce", &cfg(), "US")
}

fn headers(content_type: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("content-type", HeaderValue::from_str(content_type).unwrap());
    h.insert("soapaction", HeaderValue::from_static("\"\""));
    h
}

async fn decode_as(s: &Salesforce, content_type: &str, body: &[u8]) -> Result<Decoded, Rejection> {
    let uri: Uri = "/v1/webhooks/salesforce".parse().unwrap();
    s.decode(&WebhookRequest {
        method: &Method::POST,
        uri: &uri,
        headers: &headers(content_type),
        body,
        received_at: SystemTime::now(),
    })
    .await
}

async fn decode(body: &str) -> Result<Decoded, Rejection> {
    decode_as(&source(), "text/xml; charset=utf-8", body.as_bytes()).await
}

fn example_at(secret: &str, now: SystemTime) -> String {
    let ex = Examples.example(secret, &Url::parse("http://x").unwrap(), now);
    String::from_utf8(ex.body).unwrap()
}

fn hire_of(item: &Item) -> &Hire {
    match &item.content {
        Content::Hire(h) => h,
        other => panic!("not a hire: {other:?}"),
    }
}

fn ignored_of(item: &Item) -> Value {
    match &item.content {
        Content::Ignored { raw, .. } => serde_json::from_str(raw).expect("raw is JSON"),
        other => panic!("not ignored: {other:?}"),
    }
}

/// A `Notification` element with the sObject fields given (an empty value is written nil).
fn notification(id: &str, sobject_type: &str, fields: &[(&str, &str)]) -> String {
    let mut out = format!(
        "<Notification><Id>{id}</Id><sObject xsi:type=\"sf:{sobject_type}\" \
         xmlns:sf=\"urn:sobject.enterprise.soap.sforce.com\">"
    );
    for (name, value) in fields {
        if value.is_empty() {
            out.push_str(&format!("<sf:{name} xsi:nil=\"true\"/>"));
        } else {
            out.push_str(&format!("<sf:{name}>{value}</sf:{name}>"));
        }
    }
    out.push_str("</sObject></Notification>");
    out
}

/// A message from `org` with these `Notification` elements.
fn message(org: &str, notifications: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>{org}</OrganizationId>
   <ActionId>04k000000000001AAA</ActionId>
   <SessionId xsi:nil="true"/>
   {notifications}
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>"#
    )
}

fn contact(id: &str, first: &str, last: &str, email: &str) -> String {
    notification(
        id,
        "Contact",
        &[
            ("Id", "003000000000009AAA"),
            ("Email", email),
            ("FirstName", first),
            ("LastName", last),
        ],
    )
}

fn status(r: Rejection) -> u16 {
    Problem::from(r).body().status
}

#[tokio::test]
async fn the_documented_message_maps_field_by_field() {
    let d = decode(&example_at(ORG, SystemTime::now())).await.unwrap();
    assert_eq!(d.items.len(), 2, "one event per notification");
    for item in &d.items {
        assert!(
            item.dedupe_key.starts_with("04l") && item.dedupe_key.len() == 18,
            "{}",
            item.dedupe_key
        );
        assert_eq!(hire_of(item).event_id, item.dedupe_key);
    }
    assert_ne!(d.items[0].dedupe_key, d.items[1].dedupe_key);

    let h = hire_of(&d.items[0]);
    assert_eq!(h.event_type, "hire.created");
    assert_eq!(h.person.first_name, "Maria");
    assert_eq!(h.person.last_name, "Garcia");
    assert_eq!(
        h.person.email.as_ref().unwrap().as_str(),
        "maria.garcia@example.com"
    );
    // MobilePhone before Phone; read with the US region.
    assert_eq!(h.person.phone.as_ref().unwrap().as_str(), "+15125550146");
    assert_eq!(h.person.external_id.as_deref(), Some("003000000000001AAA"));
    assert_eq!(h.job.title.as_deref(), Some("Forklift Driver"));
    assert_eq!(h.job.department.as_deref(), Some("Warehouse"));
    assert_eq!(h.job.location.as_deref(), Some("Austin"));
    assert_eq!(h.job.employment_type, Some(EmploymentType::FullTime));
    assert_eq!(h.job.start_date.as_deref(), Some("2026-12-01"));
    assert_eq!(
        h.job.manager_email.as_ref().map(|e| e.as_str()),
        Some("lead@example.com")
    );
    assert_eq!(h.occurred_at, None);
    // Fields not read into the hire are attributes; those read are not repeated there.
    assert_eq!(h.attributes["Cost_Center__c"], "CC-12");
    assert_eq!(h.attributes["Phone"], "(512) 555-0100");
    for read in [
        "Id",
        "FirstName",
        "Email",
        "MobilePhone",
        "Employment_Type__c",
    ] {
        assert!(
            !h.attributes.contains_key(read),
            "{read} in {:?}",
            h.attributes
        );
    }

    let h = hire_of(&d.items[1]);
    assert_eq!(h.person.first_name, "Sam");
    assert_eq!(h.person.last_name, "Okafor");
    assert_eq!(
        h.person.email.as_ref().unwrap().as_str(),
        "sam.okafor@example.com"
    );
    // MobilePhone is xsi:nil: absent, so Phone is read.
    assert_eq!(h.person.phone.as_ref().unwrap().as_str(), "+13035550199");
    assert_eq!(h.person.external_id.as_deref(), Some("003000000000002AAA"));
    assert_eq!(h.job.title.as_deref(), Some("Sales Associate"));
    assert_eq!(h.job.department.as_deref(), Some("Retail"));
    assert_eq!(h.job.location.as_deref(), Some("Denver"));
    assert_eq!(h.job.employment_type, Some(EmploymentType::PartTime));
    assert_eq!(h.job.start_date.as_deref(), Some("2026-12-08"));
    assert_eq!(h.job.manager_email, None);
    assert!(!h.attributes.contains_key("MobilePhone"));
}

#[tokio::test]
async fn redeliveries_share_keys_and_fingerprints_whatever_the_record_now_says() {
    let now = SystemTime::now();
    let first = decode(&example_at(ORG, now)).await.unwrap();
    // Salesforce sends the record as it is at each attempt: newer values, same notification.
    let retried = example_at(ORG, now).replace("Forklift Driver", "Reach Truck Driver");
    let again = decode(&retried).await.unwrap();
    for (a, b) in first.items.iter().zip(&again.items) {
        assert_eq!(a.dedupe_key, b.dedupe_key);
        assert_eq!(a.fingerprint, b.fingerprint);
    }
    assert_eq!(
        hire_of(&again.items[0]).job.title.as_deref(),
        Some("Reach Truck Driver")
    );
    // Another record under the same notification id is a conflict, not a repeat.
    let other = example_at(ORG, now).replace("003000000000001AAA", "003000000000777AAA");
    let other = decode(&other).await.unwrap();
    assert_eq!(other.items[0].dedupe_key, first.items[0].dedupe_key);
    assert_ne!(other.items[0].fingerprint, first.items[0].fingerprint);
    assert_eq!(other.items[1].fingerprint, first.items[1].fingerprint);
    // Another moment, another delivery.
    let later = decode(&example_at(ORG, now + Duration::from_secs(1)))
        .await
        .unwrap();
    assert_ne!(later.items[0].dedupe_key, first.items[0].dedupe_key);
}

#[tokio::test]
async fn another_orgs_message_is_refused_with_401() {
    let body = example_at("00D000000000002AAA", SystemTime::now());
    let r = decode(&body).await.unwrap_err();
    assert!(
        matches!(r, Rejection::Auth(AuthError::BadToken("organization id"))),
        "{r:?}"
    );
    assert_eq!(status(r), 401);
    // The 15 characters are case-sensitive: another org.
    let body = example_at("00d000000000001AAA", SystemTime::now());
    assert!(matches!(
        decode(&body).await,
        Err(Rejection::Auth(AuthError::BadToken(_)))
    ));
    // Not an org id at all.
    let body = example_at("x", SystemTime::now());
    assert!(matches!(
        decode(&body).await,
        Err(Rejection::Auth(AuthError::BadToken(_)))
    ));
    // Without one.
    let body = example_at(ORG, SystemTime::now()).replace(
        &format!("<OrganizationId>{ORG}</OrganizationId>"),
        "<OrganizationId> </OrganizationId>",
    );
    let r = decode(&body).await.unwrap_err();
    assert!(
        matches!(r, Rejection::Auth(AuthError::MissingCredentials(_))),
        "{r:?}"
    );
    assert_eq!(status(r), 401);
    // Another org's message is refused before its notifications are looked at.
    let broken = message("00D000000000002AAA", "<Notification/>");
    assert!(matches!(
        decode(&broken).await,
        Err(Rejection::Auth(AuthError::BadToken(_)))
    ));
}

#[tokio::test]
async fn the_15_and_18_character_forms_of_the_org_id_match() {
    let mut c = cfg();
    c.organization_id = ORG[..15].to_owned();
    let s = Salesforce::new("salesforce", &c, "US");
    let body = example_at(ORG, SystemTime::now());
    assert_eq!(
        decode_as(&s, "text/xml", body.as_bytes())
            .await
            .unwrap()
            .items
            .len(),
        2
    );
    let body = example_at(&ORG[..15], SystemTime::now());
    assert!(decode(&body).await.is_ok());
}

#[tokio::test]
async fn an_xxe_doctype_is_refused_and_no_entity_is_read() {
    const CANARY: &str = "hirebridge-xxe-canary-5c1f0e";
    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(file, "{CANARY}").unwrap();
    let path = file.path().display().to_string();
    let contact = contact("04l000000000001AAA", "&xxe;", "Lee", "ada@example.com");
    let inner = message(ORG, &contact);
    let body = inner.replacen(
        r#"<?xml version="1.0" encoding="UTF-8"?>"#,
        &format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE soapenv:Envelope [<!ENTITY xxe SYSTEM "file://{path}">]>"#
        ),
        1,
    );
    assert!(body.contains("<!DOCTYPE") && body.contains("&xxe;"));
    let r = decode(&body).await.unwrap_err();
    let text = format!("{r} {r:?}");
    assert!(matches!(r, Rejection::Malformed(_)), "{text}");
    assert!(text.contains("DTD"), "{text}");
    assert!(!text.contains(CANARY), "the entity was read: {text}");
    let status = status(r);
    assert!((400..500).contains(&status), "{status}");

    // An entity bomb, and a DOCTYPE with no entities at all: refused the same way.
    let bomb = inner.replacen(
        r#"<?xml version="1.0" encoding="UTF-8"?>"#,
        r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>"#,
        1,
    );
    assert!(matches!(decode(&bomb).await, Err(Rejection::Malformed(m)) if m.contains("DTD")));
    let plain = format!(
        "<!DOCTYPE html>{}",
        message(ORG, &contact.replace("&xxe;", "Ada"))
    );
    assert!(matches!(decode(&plain).await, Err(Rejection::Malformed(m)) if m.contains("DTD")));
    // Without a DTD an entity is unknown: an error, never a lookup.
    let undeclared = message(ORG, &contact);
    let r = decode(&undeclared).await.unwrap_err();
    assert!(matches!(r, Rejection::Malformed(_)), "{r:?}");
    assert!(!format!("{r}").contains(CANARY));
}

#[tokio::test]
async fn malformed_xml_is_a_clear_400() {
    let full = example_at(ORG, SystemTime::now());
    let truncated = &full[..full.len() / 2];
    let r = decode(truncated).await.unwrap_err();
    let m = r.to_string();
    assert!(m.contains("not well-formed XML"), "{m}");
    assert!(m.chars().any(|c| c.is_ascii_digit()), "a position: {m}");
    assert_eq!(status(r), 400);

    for (body, says) in [
        (r#"{"FirstName": "Ada"}"#.to_owned(), "well-formed"),
        ("<a><b></a>".to_owned(), "well-formed"),
        ("<hire/>".to_owned(), "SOAP Envelope"),
        (
            r#"<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"/>"#.to_owned(),
            "no Body",
        ),
        (
            r#"<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body><x/></e:Body></e:Envelope>"#
                .to_owned(),
            "no notifications",
        ),
        (message(ORG, ""), "no Notification"),
        (
            message(ORG, "<Notification><sObject/></Notification>"),
            "/notifications/Notification[1]/Id is missing",
        ),
        (
            message(
                ORG,
                &format!(
                    "{}<Notification><Id>04l000000000002AAA</Id></Notification>",
                    contact("04l000000000001AAA", "Ada", "Lee", "a@example.com")
                ),
            ),
            "/notifications/Notification[2]/sObject is missing",
        ),
        (
            message(
                ORG,
                &contact("04l-not/an-id", "Ada", "Lee", "a@example.com"),
            ),
            "is not a Salesforce id",
        ),
    ] {
        let r = decode(&body).await.unwrap_err();
        let m = r.to_string();
        assert!(matches!(r, Rejection::Malformed(_)), "{body}: {r:?}");
        assert!(m.contains(says), "{body}: {m}");
        assert_eq!(status(r), 400);
    }
    // Not UTF-8.
    let r = decode_as(&source(), "text/xml", b"<a>\xff\xfe</a>")
        .await
        .unwrap_err();
    assert!(r.to_string().contains("UTF-8"), "{r}");
}

#[tokio::test]
async fn only_xml_bodies_are_taken() {
    let body = example_at(ORG, SystemTime::now());
    for ct in [
        "application/json",
        "text/plain",
        "",
        "text/xml; charset=iso-8859-1",
    ] {
        let r = decode_as(&source(), ct, body.as_bytes()).await.unwrap_err();
        assert!(
            matches!(r, Rejection::UnsupportedMediaType(_)),
            "{ct}: {r:?}"
        );
        assert_eq!(status(r), 415);
    }
    for ct in [
        "text/xml",
        "TEXT/XML; charset=\"UTF-8\"",
        "application/soap+xml; charset=utf-8",
        "application/xml",
    ] {
        assert!(
            decode_as(&source(), ct, body.as_bytes()).await.is_ok(),
            "{ct}"
        );
    }
}

#[tokio::test]
async fn namespaces_are_matched_not_prefixes() {
    let body = format!(
        r#"<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/" xmlns:i="http://www.w3.org/2001/XMLSchema-instance">
<S:Header/><S:Body><o:notifications xmlns:o="http://soap.sforce.com/2005/09/outbound">
<o:OrganizationId>{ORG}</o:OrganizationId>
<o:Notification><o:Id>04l000000000001AAA</o:Id>
<o:sObject i:type="q:Contact" xmlns:q="urn:sobject.enterprise.soap.sforce.com">
<q:Id>003000000000001AAA</q:Id><q:FirstName>Ada</q:FirstName><q:LastName>Lee</q:LastName>
<q:MobilePhone i:nil="true"/><q:Phone>(512) 555-0142</q:Phone>
</o:sObject></o:Notification></o:notifications></S:Body></S:Envelope>"#
    );
    let d = decode(&body).await.unwrap();
    let h = hire_of(&d.items[0]);
    assert_eq!(h.person.first_name, "Ada");
    assert_eq!(h.person.phone.as_ref().unwrap().as_str(), "+15125550142");
    // SOAP 1.2's envelope is read too.
    let soap12 = example_at(ORG, SystemTime::now()).replace(SOAP11_NS, SOAP12_NS);
    assert_eq!(decode(&soap12).await.unwrap().items.len(), 2);
    // The right local names in the wrong namespace are not an Outbound Message.
    let unqualified = example_at(ORG, SystemTime::now()).replace(
        r#"<notifications xmlns="http://soap.sforce.com/2005/09/outbound">"#,
        "<notifications>",
    );
    let r = decode(&unqualified).await.unwrap_err();
    assert!(r.to_string().contains(OUTBOUND_NS), "{r}");
    let not_soap = example_at(ORG, SystemTime::now()).replace(SOAP11_NS, "urn:other");
    assert!(matches!(
        decode(&not_soap).await,
        Err(Rejection::Malformed(_))
    ));
    // Notifications outside the outbound namespace are not counted.
    let foreign = message(
        ORG,
        &format!(
            "{}<x:Notification xmlns:x=\"urn:other\"><x:Id>1</x:Id></x:Notification>",
            contact("04l000000000001AAA", "Ada", "Lee", "a@example.com")
        ),
    );
    assert_eq!(decode(&foreign).await.unwrap().items.len(), 1);
}

#[tokio::test]
async fn entities_and_cdata_are_text() {
    let body = message(
        ORG,
        &notification(
            "04l000000000001AAA",
            "Contact",
            &[
                ("Email", "ada@example.com"),
                ("FirstName", "Ada"),
                ("LastName", "O&apos;Brien &amp; Sons"),
                ("Title", "<![CDATA[R&D <Lead>]]>"),
                ("Notes__c", "line one&#10;line two"),
            ],
        ),
    );
    let d = decode(&body).await.unwrap();
    let h = hire_of(&d.items[0]);
    assert_eq!(h.person.last_name, "O'Brien & Sons");
    assert_eq!(h.job.title.as_deref(), Some("R&D <Lead>"));
    // A multi-line value is no attribute (attributes are single-line), and no error.
    assert!(!h.attributes.contains_key("Notes__c"));
}

#[tokio::test]
async fn at_most_100_notifications_per_message() {
    let many = |n: usize| {
        let inner: String = (1..=n)
            .map(|i| {
                contact(
                    &format!("04l{i:015}"),
                    "Ada",
                    "Lee",
                    &format!("a{i}@example.com"),
                )
            })
            .collect();
        message(ORG, &inner)
    };
    let d = decode(&many(100)).await.unwrap();
    assert_eq!(d.items.len(), 100);
    assert_eq!(d.items[99].dedupe_key, format!("04l{:015}", 100));
    let r = decode(&many(101)).await.unwrap_err();
    let m = r.to_string();
    assert!(m.contains("101") && m.contains("at most 100"), "{m}");
    assert_eq!(status(r), 400);
}

#[tokio::test]
async fn a_notification_repeated_in_one_message_is_read_once() {
    let one = contact("04l000000000001AAA", "Ada", "Lee", "a@example.com");
    let other = contact("04l000000000002AAA", "Bo", "Kim", "b@example.com");
    let d = decode(&message(ORG, &format!("{one}{other}{one}")))
        .await
        .unwrap();
    let keys: Vec<&str> = d.items.iter().map(|i| i.dedupe_key.as_str()).collect();
    assert_eq!(keys, ["04l000000000001AAA", "04l000000000002AAA"]);
}

#[tokio::test]
async fn a_notification_that_is_not_a_hire_is_kept_as_ignored_with_its_problems() {
    let good = contact("04l000000000001AAA", "Ada", "Lee", "ada@example.com");
    let bad = notification(
        "04l000000000002AAA",
        "Contact",
        &[
            ("Id", "003000000000002AAA"),
            ("Email", ""),
            ("FirstName", "Bo"),
            ("LastName", ""),
        ],
    );
    let worse = contact("04l000000000003AAA", "Cy", "Do", "not-an-email");
    let d = decode(&message(ORG, &format!("{good}{bad}{worse}")))
        .await
        .unwrap();
    assert_eq!(d.items.len(), 3);
    assert_eq!(hire_of(&d.items[0]).person.first_name, "Ada");

    let raw = ignored_of(&d.items[1]);
    assert_eq!(d.items[1].dedupe_key, "04l000000000002AAA");
    assert_eq!(raw["notification_id"], "04l000000000002AAA");
    assert_eq!(raw["record_id"], "003000000000002AAA");
    assert_eq!(raw["sobject_type"], "Contact");
    let errors = raw["errors"].as_array().unwrap();
    let pointers: Vec<&str> = errors
        .iter()
        .filter_map(|e| e["pointer"].as_str())
        .collect();
    assert!(
        pointers.contains(&"/notifications/Notification[2]/sObject/LastName"),
        "{errors:?}"
    );
    // No email and no phone: both fields looked at are named.
    let contact_problem = errors
        .iter()
        .find(|e| e["pointer"] == "/notifications/Notification[2]/sObject/Email")
        .unwrap_or_else(|| panic!("{errors:?}"));
    let m = contact_problem["message"].as_str().unwrap();
    assert!(
        m.contains("/sObject/Email") && m.contains("/sObject/MobilePhone"),
        "{m}"
    );
    // The notification as received is kept for the operator.
    let xml = raw["xml"].as_str().unwrap();
    assert!(xml.starts_with("<Notification>") && xml.contains("<Id>04l000000000002AAA</Id>"));
    assert!(xml.contains("<sf:FirstName>Bo</sf:FirstName>"), "{xml}");

    let raw = ignored_of(&d.items[2]);
    assert_eq!(
        raw["errors"][0]["pointer"],
        "/notifications/Notification[3]/sObject/Email"
    );
}

#[tokio::test]
async fn an_unknown_employment_label_points_at_its_field() {
    let body = example_at(ORG, SystemTime::now()).replace("Part-time", "Zero hours");
    let d = decode(&body).await.unwrap();
    assert!(matches!(d.items[0].content, Content::Hire(_)));
    let raw = ignored_of(&d.items[1]);
    assert_eq!(
        raw["errors"][0]["pointer"],
        "/notifications/Notification[2]/sObject/Employment_Type__c"
    );
    assert!(
        raw["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("Zero hours")
    );
    // Mapped by the source's own value map, it is a hire.
    let mut c = cfg();
    c.employment_types
        .insert("zero hours".into(), EmploymentType::Temporary);
    let s = Salesforce::new("salesforce", &c, "US");
    let d = decode_as(&s, "text/xml", body.as_bytes()).await.unwrap();
    assert_eq!(
        hire_of(&d.items[1]).job.employment_type,
        Some(EmploymentType::Temporary)
    );
}

#[tokio::test]
async fn field_names_come_from_the_configuration() {
    let body = message(
        ORG,
        &notification(
            "04l000000000001AAA",
            "New_Hire__c",
            &[
                ("Id", "a01000000000001AAA"),
                ("Given_Name__c", "Ada"),
                ("Family_Name__c", "Lovelace"),
                ("Work_Email__c", ""),
                ("Personal_Email__c", "ada@example.com"),
                ("Cell__c", "+44 20 7946 0958"),
                ("Role__c", "Analyst"),
                ("Team__c", "Engineering"),
                ("Site__c", "London"),
                ("Kind__c", "Contractor"),
                ("First_Day__c", "2027-01-04T09:00:00.000Z"),
                ("Manager_Email__c", "boss@example.com"),
                // Contact's default names, which this configuration does not read.
                ("FirstName", "Nobody"),
                ("Title", "Ignored"),
            ],
        ),
    );
    let v = |names: &[&str]| names.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let mut c = cfg();
    c.fields = SalesforceFields {
        first_name: v(&["Given_Name__c"]),
        last_name: v(&["Family_Name__c"]),
        email: v(&["Work_Email__c", "Personal_Email__c"]),
        phone: v(&["Cell__c"]),
        title: v(&["Role__c"]),
        department: v(&["Team__c"]),
        location: v(&["Site__c"]),
        employment_type: v(&["Kind__c"]),
        start_date: v(&["First_Day__c"]),
        manager_email: v(&["Manager_Email__c"]),
    };
    let s = Salesforce::new("salesforce", &c, "GB");
    let d = decode_as(&s, "text/xml", body.as_bytes()).await.unwrap();
    let h = hire_of(&d.items[0]);
    assert_eq!(h.person.first_name, "Ada");
    assert_eq!(h.person.last_name, "Lovelace");
    // Work_Email__c is nil: the next name in the list is read.
    assert_eq!(h.person.email.as_ref().unwrap().as_str(), "ada@example.com");
    assert_eq!(h.person.phone.as_ref().unwrap().as_str(), "+442079460958");
    assert_eq!(h.person.external_id.as_deref(), Some("a01000000000001AAA"));
    assert_eq!(h.job.title.as_deref(), Some("Analyst"));
    assert_eq!(h.job.department.as_deref(), Some("Engineering"));
    assert_eq!(h.job.location.as_deref(), Some("London"));
    assert_eq!(h.job.employment_type, Some(EmploymentType::Contract));
    // A date-time field: its date.
    assert_eq!(h.job.start_date.as_deref(), Some("2027-01-04"));
    assert_eq!(
        h.job.manager_email.as_ref().unwrap().as_str(),
        "boss@example.com"
    );
    assert_eq!(h.attributes["FirstName"], "Nobody");

    // An empty list leaves the field unset; a missing required one points at its first name.
    c.fields.title = Vec::new();
    c.fields.last_name = v(&["Surname__c", "Family__c"]);
    let s = Salesforce::new("salesforce", &c, "GB");
    let d = decode_as(&s, "text/xml", body.as_bytes()).await.unwrap();
    let raw = ignored_of(&d.items[0]);
    assert_eq!(
        raw["errors"][0]["pointer"],
        "/notifications/Notification[1]/sObject/Surname__c"
    );
}

#[tokio::test]
async fn the_ack_is_exact_and_answers_every_stored_message() {
    assert_eq!(
        ACK,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\"><soapenv:Body><notificationsResponse xmlns=\"http://soap.sforce.com/2005/09/outbound\"><Ack>true</Ack></notificationsResponse></soapenv:Body></soapenv:Envelope>"
    );
    let doc = Document::parse(ACK).unwrap();
    let ack = doc
        .descendants()
        .find(|n| n.has_tag_name((OUTBOUND_NS, "Ack")))
        .unwrap();
    assert_eq!(ack.text(), Some("true"));
    assert_eq!(
        ack.parent().unwrap().tag_name().name(),
        "notificationsResponse"
    );

    let s = source();
    let ack_reply = Reply::Xml {
        status: 200,
        body: ACK.to_owned(),
    };
    let e = |id: &str| id.to_owned();
    for outcomes in [
        vec![ItemOutcome::Accepted { event_id: e("a") }],
        vec![
            ItemOutcome::Accepted { event_id: e("a") },
            ItemOutcome::Duplicate { event_id: e("b") },
            ItemOutcome::Ignored { event_id: e("c") },
        ],
        vec![ItemOutcome::Duplicate { event_id: e("b") }],
    ] {
        assert_eq!(s.respond(&outcomes).unwrap(), ack_reply, "{outcomes:?}");
    }
    let r = s
        .respond(&[
            ItemOutcome::Accepted { event_id: e("a") },
            ItemOutcome::Conflict { event_id: e("b") },
        ])
        .unwrap_err();
    assert!(matches!(r, Rejection::Conflict { ref event_id } if event_id == "b"));
    assert_eq!(status(r), 409);
}

#[test]
fn the_example_is_from_the_org_it_is_given() {
    let now = SystemTime::now();
    let body = example_at("00D5e000000KQ2eEAG", now);
    assert!(body.contains("<OrganizationId>00D5e000000KQ2eEAG</OrganizationId>"));
    assert!(!body.contains(EXAMPLE_ORG));
    let odd = example_at("<&>", now);
    assert!(odd.contains("<OrganizationId>&lt;&amp;&gt;</OrganizationId>"));
    assert!(Document::parse(&odd).is_ok());
    let ex = Examples.example(ORG, &Url::parse("http://x").unwrap(), now);
    assert!(ex.content_type.starts_with("text/xml"));
    // The fixture itself carries the sandbox's org id.
    assert!(EXAMPLE.contains(&format!(
        "<OrganizationId>{}</OrganizationId>",
        crate::sources::sandbox_secret(SourceKind::Salesforce)
    )));
    for id in EXAMPLE_NOTIFICATIONS {
        assert!(EXAMPLE.contains(&format!("<Id>{id}</Id>")), "{id}");
        assert!(!body.contains(id), "{id} renewed");
    }
}

proptest! {
    #[test]
    fn no_body_panics_the_adapter(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let _ = rt.block_on(decode_as(&source(), "text/xml", &body));
    }

    #[test]
    fn no_xml_panics_the_adapter(parts in proptest::collection::vec(fragment(), 0..40)) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let inner: String = parts.concat();
        let _ = rt.block_on(decode(&message(ORG, &inner)));
        let _ = rt.block_on(decode(&inner));
    }

    #[test]
    fn no_notification_panics_the_mapping(
        fields in proptest::collection::vec(
            (field_name(), proptest::option::of(".{0,24}")),
            0..16,
        ),
        id in "[A-Za-z0-9]{1,18}",
        position in 1usize..200,
    ) {
        let n = Notification {
            position,
            id,
            sobject_type: Some("Contact".into()),
            fields: fields
                .into_iter()
                .map(|(name, value)| Field { name, value })
                .collect(),
            xml: String::new(),
        };
        if let Err(errors) = map(&n, &cfg(), "US") {
            let base = format!("/notifications/Notification[{position}]/sObject");
            prop_assert!(errors.iter().all(|e| e.pointer.starts_with(&base)), "{:?}", errors);
        }
    }
}

fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("FirstName".to_owned()),
        Just("LastName".to_owned()),
        Just("Email".to_owned()),
        Just("MobilePhone".to_owned()),
        Just("Phone".to_owned()),
        Just("Start_Date__c".to_owned()),
        Just("Employment_Type__c".to_owned()),
        Just("ReportsTo_Email__c".to_owned()),
        Just("Id".to_owned()),
        "[A-Za-z_]{1,12}",
    ]
}

/// Pieces of Outbound Messages, well-formed or not, to shuffle.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("<Notification>".to_owned()),
        Just("</Notification>".to_owned()),
        Just("<Id>04l000000000001AAA</Id>".to_owned()),
        Just(
            "<sObject xsi:type=\"sf:Contact\" xmlns:sf=\"urn:sobject.enterprise.soap.sforce.com\">"
                .to_owned()
        ),
        Just("</sObject>".to_owned()),
        Just("<sf:FirstName>Ada</sf:FirstName>".to_owned()),
        Just("<sf:LastName xsi:nil=\"true\"/>".to_owned()),
        Just("<sf:Email>a@example.com</sf:Email>".to_owned()),
        Just("<sf:Phone><x>1</x></sf:Phone>".to_owned()),
        Just("&amp;".to_owned()),
        Just("&xxe;".to_owned()),
        Just("<![CDATA[".to_owned()),
        Just("]]>".to_owned()),
        Just("<!DOCTYPE a>".to_owned()),
        Just("<?pi x?>".to_owned()),
        Just("<!-- c -->".to_owned()),
        ".{0,12}",
    ]
}
