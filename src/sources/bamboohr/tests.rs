use std::time::{Duration, SystemTime};

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::domain::EmploymentType;

const SECRET: &str = "bamboo-key";

fn source() -> Bamboohr {
    let SourceConfig::Bamboohr(cfg) = Examples
        .sandbox(SECRET, &Url::parse("http://127.0.0.1:9/bamboohr").unwrap())
        .config
    else {
        unreachable!()
    };
    Bamboohr::new("bamboohr", &cfg, "US", reqwest::Client::new())
}

fn headers(pairs: &[(&str, String)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    for (k, v) in pairs {
        h.insert(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

fn signed(body: &[u8], ts: &str) -> HeaderMap {
    headers(&[
        ("x-bamboohr-timestamp", ts.to_owned()),
        ("x-bamboohr-signature", signature(SECRET, body, ts)),
    ])
}

fn now_s() -> String {
    unix_seconds(SystemTime::now()).to_string()
}

async fn decode(h: &HeaderMap, body: &[u8]) -> Result<Decoded, Rejection> {
    let uri: Uri = "/v1/webhooks/bamboohr".parse().unwrap();
    source()
        .decode(&WebhookRequest {
            method: &Method::POST,
            uri: &uri,
            headers: h,
            body,
            received_at: SystemTime::now(),
        })
        .await
}

#[tokio::test]
async fn the_documented_event_is_stored_to_fetch_the_employee() {
    let ex = Examples.example(SECRET, &Url::parse("http://x").unwrap(), SystemTime::now());
    let pairs: Vec<(&str, String)> = ex
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    let d = decode(&headers(&pairs), &ex.body).await.unwrap();
    assert_eq!(d.items.len(), 1);
    assert_eq!(d.items[0].dedupe_key, "employee.created/67890");
    match &d.items[0].content {
        Content::Fetch { request, raw } => {
            assert_eq!(request["employee_id"], "67890");
            assert!(raw.contains("employee.created"));
        }
        other => panic!("expected a fetch: {other:?}"),
    }
}

#[tokio::test]
async fn signatures_cover_the_body_and_the_timestamp() {
    let body = EXAMPLE.as_bytes();
    let ts = now_s();
    assert!(decode(&signed(body, &ts), body).await.is_ok());
    // The same signature under another timestamp.
    let mut h = signed(body, &ts);
    h.insert(
        "x-bamboohr-timestamp",
        HeaderValue::from_str(&(ts.parse::<i64>().unwrap() - 1).to_string()).unwrap(),
    );
    assert!(matches!(
        decode(&h, body).await,
        Err(Rejection::Auth(AuthError::BadSignature))
    ));
    // A stale timestamp, correctly signed.
    let old = (unix_seconds(SystemTime::now() - Duration::from_secs(3600))).to_string();
    assert!(matches!(
        decode(&signed(body, &old), body).await,
        Err(Rejection::Auth(AuthError::TimestampOutOfWindow))
    ));
    // Milliseconds and ISO 8601 read as times too.
    let ms = (unix_seconds(SystemTime::now()) * 1000).to_string();
    assert!(decode(&signed(body, &ms), body).await.is_ok());
    assert!(matches!(
        decode(&signed(body, "2020-01-31T18:42:00+0000"), body).await,
        Err(Rejection::Auth(AuthError::TimestampOutOfWindow))
    ));
    // No signature.
    let h = headers(&[("x-bamboohr-timestamp", ts)]);
    assert!(matches!(
        decode(&h, body).await,
        Err(Rejection::Auth(AuthError::MissingCredentials(_)))
    ));
}

#[tokio::test]
async fn legacy_batches_are_one_event_per_employee() {
    let body = serde_json::to_vec(&json!({"employees": [
        {"id": "1", "action": "Created", "fields": {"firstName": "A"}, "timestamp": "x"},
        {"id": "2", "action": "Updated", "fields": {}, "timestamp": "x"},
    ]}))
    .unwrap();
    let d = decode(&signed(&body, &now_s()), &body).await.unwrap();
    assert_eq!(d.items.len(), 2);
    assert!(matches!(d.items[0].content, Content::Fetch { .. }));
    assert!(matches!(d.items[1].content, Content::Ignored { .. }));
    assert_eq!(d.items[0].dedupe_key, "Created/1");
}

#[tokio::test]
async fn other_events_are_ignored_and_bad_bodies_refused() {
    let body =
        serde_json::to_vec(&json!({"type": "employee.updated", "data": {"employeeId": "5"}}))
            .unwrap();
    let d = decode(&signed(&body, &now_s()), &body).await.unwrap();
    assert!(matches!(d.items[0].content, Content::Ignored { .. }));
    for body in [
        &b"nope"[..],
        b"{}",
        b"{\"type\": \"employee.created\", \"data\": {}}",
        b"{\"employees\": []}",
    ] {
        let r = decode(&signed(body, &now_s()), body).await;
        assert!(
            matches!(
                r,
                Err(Rejection::MalformedJson(_)
                    | Rejection::Malformed(_)
                    | Rejection::Unmappable(_))
            ),
            "{r:?}"
        );
    }
}

#[test]
fn the_documented_employee_maps_field_by_field() {
    let e: Value = serde_json::from_str(EXAMPLE_EMPLOYEE).unwrap();
    let h = map(&e, "employee.created/67890", &EmploymentTypes::new(), "US").unwrap();
    assert_eq!(h.event_id, "employee.created/67890");
    assert_eq!(h.person.first_name, "Charlotte");
    assert_eq!(h.person.last_name, "Abbott");
    assert_eq!(
        h.person.email.unwrap().as_str(),
        "cabbott@efficientoffice.com"
    );
    assert_eq!(h.person.phone.unwrap().as_str(), "+15125550143");
    assert_eq!(h.person.external_id.as_deref(), Some("67890"));
    assert_eq!(h.job.title.as_deref(), Some("Forklift Driver"));
    assert_eq!(h.job.department.as_deref(), Some("Warehouse"));
    assert_eq!(h.job.location.as_deref(), Some("Austin, TX"));
    assert_eq!(h.job.start_date.as_deref(), Some("2026-12-01"));
    assert_eq!(
        h.job.manager_email.unwrap().as_str(),
        "jcaldwell@efficientoffice.com"
    );
    assert_eq!(h.job.employment_type, Some(EmploymentType::FullTime));
    assert_eq!(h.attributes["division"], "Operations");
    assert_eq!(h.attributes["employee_number"], "1042");
}

#[test]
fn an_employee_without_contact_points_at_bamboohr_fields() {
    let e = json!({"id": "7", "firstName": "A", "lastName": "B", "workEmail": "", "hireDate": "0000-00-00"});
    let errors = map(&e, "k", &EmploymentTypes::new(), "US").unwrap_err();
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].message.contains("/employee/workEmail"),
        "{errors:?}"
    );
    assert!(
        errors[0].message.contains("/employee/mobilePhone"),
        "{errors:?}"
    );
    let e = json!({"id": "7", "firstName": "A", "workEmail": "a@b.co"});
    let errors = map(&e, "k", &EmploymentTypes::new(), "US").unwrap_err();
    assert_eq!(errors[0].pointer, "/employee/lastName");
}

proptest! {
    #[test]
    fn no_request_panics_the_verifier(body in proptest::collection::vec(any::<u8>(), 0..400), ts in ".{0,30}", sig in "[0-9a-f]{0,70}") {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let mut h = headers(&[]);
        if let (Ok(t), Ok(s)) = (HeaderValue::from_str(&ts), HeaderValue::from_str(&sig)) {
            h.insert("x-bamboohr-timestamp", t);
            h.insert("x-bamboohr-signature", s);
        }
        let _ = rt.block_on(decode(&h, &body));
        let ts = ts.trim();
        if !ts.is_empty() && ts.is_ascii() && HeaderValue::from_str(ts).is_ok() {
            let _ = rt.block_on(decode(&signed(&body, ts), &body));
        }
    }

    #[test]
    fn no_employee_record_panics_the_mapping(fields in proptest::collection::btree_map(
        prop_oneof![Just("firstName"), Just("lastName"), Just("workEmail"), Just("mobilePhone"), Just("hireDate"), Just("employmentHistoryStatus"), Just("id")],
        prop_oneof![".{0,20}".prop_map(Value::String), any::<i64>().prop_map(|n| json!(n)), Just(Value::Null)],
        0..7,
    )) {
        let e = Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect());
        let _ = map(&e, "k", &EmploymentTypes::new(), "US");
    }
}
