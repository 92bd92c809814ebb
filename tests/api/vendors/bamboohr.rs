//! BambooHR: ids only, the employee fetched from BambooHR's API in the pipeline.

use std::time::{Duration, SystemTime};

use axum::http::Method;
use hirebridge::config::SourceKind;
use hirebridge::sources::bamboohr::signature;
use serde_json::{Value, json};

use super::{VendorApp, assert_reached_connecteam};
use crate::both_backends;
use crate::helpers::*;

both_backends!(
    the_documented_hire_is_fetched_and_reaches_connecteam,
    a_failing_api_dead_letters_then_replay_completes,
    an_employee_who_cannot_be_a_hire_fails_with_the_field,
    bad_bamboohr_requests_are_refused
);

async fn the_documented_hire_is_fetched_and_reaches_connecteam(b: Backend) {
    let v = VendorApp::start(b, SourceKind::Bamboohr, |_| {}).await;
    let ex = v.example();
    let r = v.post(&ex).await;
    assert_eq!(r.status(), 202);
    let id = VendorApp::event_id_of(r).await;
    let ev = v.delivered(&id).await;
    assert_eq!(ev["hire"]["person"]["first_name"], "Charlotte");
    assert_eq!(ev["hire"]["person"]["external_id"], "67890");
    assert_eq!(
        ev["hire"]["job"]["manager_email"],
        "jcaldwell@efficientoffice.com"
    );
    assert!(ev["payload"].as_str().unwrap().contains("employee.created"));
    assert_eq!(ev["operations"][0]["kind"], "fetch_person");
    assert_eq!(ev["operations"][0]["status"], "done");
    assert_reached_connecteam(&v.app, &ev);
    // One fetch, with the API key as the basic-auth user.
    let calls = v.api.requests();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].path, "/bamboohr/v1/employees/67890");
    assert!(calls[0].query.contains("fields="));
    assert!(
        calls[0]
            .authorization
            .as_deref()
            .unwrap()
            .starts_with("Basic ")
    );
    // A redelivery is a duplicate: nothing fetched or sent again.
    let r = v.post(&v.example()).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "duplicate");
    v.app.settle().await;
    assert_eq!(v.api.requests().len(), 1);
    v.app.stop().await;
}

async fn a_failing_api_dead_letters_then_replay_completes(b: Backend) {
    let v = VendorApp::start(b, SourceKind::Bamboohr, |c| c.delivery.max_attempts = 3).await;
    let (id, ev) = v.fetch_dead_lettered(202).await;
    assert!(ev["hire"].is_null());
    assert!(
        ev["payload"].as_str().is_some(),
        "the event as received is kept"
    );
    assert!(
        v.app
            .sim()
            .users()
            .iter()
            .all(|u| u.first_name != "Charlotte")
    );
    // The API recovered: replay fetches again and the hire completes.
    let r = v
        .app
        .admin_post(&format!("/v1/events/{id}/replay"), &json!({}))
        .await;
    assert_eq!(r.status(), 200);
    let ev = v.delivered(&id).await;
    assert_reached_connecteam(&v.app, &ev);
    assert_eq!(v.api.requests().len(), 4);
    let metrics = v.app.metrics().await;
    assert!(
        metrics
            .contains("hirebridge_source_fetches_total{source=\"bamboohr\",outcome=\"fetched\"}"),
        "{metrics}"
    );
    v.app.stop().await;
}

async fn an_employee_who_cannot_be_a_hire_fails_with_the_field(b: Backend) {
    let v = VendorApp::start(b, SourceKind::Bamboohr, |_| {}).await;
    v.api.route(
        Method::GET,
        "/bamboohr/v1/employees/67890",
        json!({"id": "67890", "firstName": "Charlotte", "lastName": "Abbott"}),
    );
    let id = VendorApp::event_id_of(v.post(&v.example()).await).await;
    let ev = v.app.wait_status(&id, "failed").await;
    let err = ev["operations"][0]["last_error"].as_str().unwrap();
    assert!(
        err.contains("/employee/workEmail") && err.contains("/employee/mobilePhone"),
        "{err}"
    );
    // The customer adds a phone in BambooHR; replay completes the hire.
    let mut fixed: Value =
        serde_json::from_str(hirebridge::sources::bamboohr::EXAMPLE_EMPLOYEE).unwrap();
    fixed["workEmail"] = Value::Null;
    fixed["homeEmail"] = Value::Null;
    v.api
        .route(Method::GET, "/bamboohr/v1/employees/67890", fixed);
    let r = v
        .app
        .admin_post(&format!("/v1/events/{id}/replay"), &json!({}))
        .await;
    assert_eq!(r.status(), 200);
    let ev = v.delivered(&id).await;
    assert_eq!(ev["hire"]["person"]["phone"], "+15125550143");
    v.app.stop().await;
}

async fn bad_bamboohr_requests_are_refused(b: Backend) {
    let v = VendorApp::start(b, SourceKind::Bamboohr, |_| {}).await;
    let secret = hirebridge::sources::sandbox_secret(SourceKind::Bamboohr);
    let mut ex = v.example();
    ex.headers[1].1 = signature("another-key", &ex.body, &ex.headers[0].1);
    assert_eq!(v.post(&ex).await.status(), 401);
    // Correctly signed, an hour old.
    let old = (SystemTime::now() - Duration::from_secs(3600))
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let mut ex = v.example();
    ex.headers[0].1 = old.clone();
    ex.headers[1].1 = signature(&secret, &ex.body, &old);
    assert_eq!(v.post(&ex).await.status(), 401);
    // Another event type: acknowledged, ignored, nothing fetched.
    let mut ex = v.example();
    ex.body =
        serde_json::to_vec(&json!({"type": "employee.updated", "data": {"employeeId": "67890"}}))
            .unwrap();
    ex.headers[1].1 = signature(&secret, &ex.body, &ex.headers[0].1);
    let r = v.post(&ex).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "ignored");
    // Correctly signed garbage: 400.
    let mut ex = v.example();
    ex.body = b"{\"type\": ".to_vec();
    ex.headers[1].1 = signature(&secret, &ex.body, &ex.headers[0].1);
    assert_eq!(v.post(&ex).await.status(), 400);
    v.app.settle().await;
    assert!(v.api.requests().is_empty());
    v.app.stop().await;
}
