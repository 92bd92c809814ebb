//! Merge: `Employee.added`, signed base64url HMAC-SHA256 of the body; the employee's relations
//! resolved through Merge's API (bearer API key and `X-Account-Token`), or, without `api`, the
//! webhook's own employee mapped at once.

use axum::http::Method;
use hirebridge::config::{SourceConfig, SourceKind};
use hirebridge::sources::merge::{EXAMPLE, EXAMPLE_EMPLOYEE, other_event, signature};
use serde_json::{Value, json};

use super::{VendorApp, assert_reached_connecteam};
use crate::both_backends;
use crate::helpers::*;

both_backends!(
    the_documented_hire_is_fetched_and_reaches_connecteam,
    without_api_the_webhook_hire_reaches_connecteam,
    a_failing_api_dead_letters_then_replay_completes,
    an_employee_who_cannot_be_a_hire_fails_with_the_field,
    bad_merge_requests_are_refused
);

const EMPLOYEE_PATH: &str = "/merge/employees/0958cbc6-6040-430a-848e-aafacbadf4ae";

fn secret() -> String {
    hirebridge::sources::sandbox_secret(SourceKind::Merge)
}

/// The example with another body, signed as Merge signs it.
fn resigned(v: &VendorApp, body: &Value) -> hirebridge::sources::SignedExample {
    let mut ex = v.example();
    ex.body = serde_json::to_vec(body).unwrap();
    ex.headers[0].1 = signature(&secret(), &ex.body);
    ex
}

fn without_api(c: &mut hirebridge::config::Config) {
    if let Some(SourceConfig::Merge(m)) = c.sources.get_mut("merge") {
        m.api = None;
    }
}

async fn the_documented_hire_is_fetched_and_reaches_connecteam(b: Backend) {
    let v = VendorApp::start(b, SourceKind::Merge, |_| {}).await;
    let r = v.post(&v.example()).await;
    assert_eq!(r.status(), 202);
    let id = VendorApp::event_id_of(r).await;
    let ev = v.delivered(&id).await;
    let hire = &ev["hire"];
    assert_eq!(hire["person"]["first_name"], "Gregory");
    assert_eq!(hire["person"]["email"], "greg@merge.dev");
    assert_eq!(hire["person"]["phone"], "+15125550199");
    assert_eq!(
        hire["person"]["external_id"],
        "0958cbc6-6040-430a-848e-aafacbadf4ae"
    );
    // Resolved through the API: the employment, team, location and manager.
    assert_eq!(hire["job"]["title"], "Forklift Driver");
    assert_eq!(hire["job"]["employment_type"], "full_time");
    assert_eq!(hire["job"]["department"], "Warehouse");
    assert_eq!(hire["job"]["location"], "Austin Warehouse");
    assert_eq!(hire["job"]["manager_email"], "tom@merge.dev");
    assert_eq!(hire["attributes"]["integration"], "BambooHR");
    assert!(ev["payload"].as_str().unwrap().contains("Employee.added"));
    assert_eq!(ev["operations"][0]["kind"], "fetch_person");
    assert_eq!(ev["operations"][0]["status"], "done");
    assert_reached_connecteam(&v.app, &ev);
    // One fetch, expanded, with the API key as bearer.
    let calls = v.api.requests();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].path, EMPLOYEE_PATH);
    assert!(
        calls[0].query.contains("expand=employments"),
        "{}",
        calls[0].query
    );
    assert_eq!(
        calls[0].authorization.as_deref(),
        Some("Bearer sandbox-merge-api-key")
    );
    assert_eq!(
        calls[0].account_token.as_deref(),
        Some("sandbox-merge-account-token")
    );
    // A redelivery is a duplicate: nothing fetched or sent again.
    let before = v.app.sim().requests().len();
    let r = v.post(&v.example()).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "duplicate");
    assert_eq!(body["event_id"], id);
    v.app.settle().await;
    assert_eq!(v.api.requests().len(), 1);
    assert_eq!(v.app.sim().requests().len(), before);
    v.app.stop().await;
}

async fn without_api_the_webhook_hire_reaches_connecteam(b: Backend) {
    let v = VendorApp::start(b, SourceKind::Merge, without_api).await;
    let r = v.post(&v.example()).await;
    assert_eq!(r.status(), 202);
    let id = VendorApp::event_id_of(r).await;
    let ev = v.delivered(&id).await;
    assert_eq!(ev["hire"]["person"]["last_name"], "Hirsch");
    assert_eq!(ev["hire"]["job"]["start_date"], "2026-12-01");
    assert!(ev["hire"]["job"]["title"].is_null(), "ids stay unresolved");
    assert_reached_connecteam(&v.app, &ev);
    let before = v.app.sim().requests().len();
    let r = v.post(&v.example()).await;
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "duplicate");
    v.app.settle().await;
    assert_eq!(v.app.sim().requests().len(), before);
    assert!(v.api.requests().is_empty(), "nothing fetched without api");
    // Unmappable without api: refused at once, naming Merge's field.
    let mut body: Value = serde_json::from_str(EXAMPLE).unwrap();
    body["data"]["id"] = json!("another-employee");
    body["data"]["work_email"] = Value::Null;
    body["data"]["personal_email"] = Value::Null;
    body["data"]["mobile_phone_number"] = Value::Null;
    let r = v.post(&resigned(&v, &body)).await;
    assert_eq!(r.status(), 422);
    let p: Value = r.json().await.unwrap();
    let text = p.to_string();
    assert!(
        text.contains("/data/work_email") && text.contains("/data/mobile_phone_number"),
        "{p}"
    );
    v.app.stop().await;
}

async fn a_failing_api_dead_letters_then_replay_completes(b: Backend) {
    let v = VendorApp::start(b, SourceKind::Merge, |c| c.delivery.max_attempts = 3).await;
    let (id, ev) = v.fetch_dead_lettered(202).await;
    assert!(ev["hire"].is_null());
    let payload = ev["payload"]
        .as_str()
        .expect("the event as received is kept");
    assert!(payload.contains("0958cbc6-6040-430a-848e-aafacbadf4ae"));
    assert!(v.app.sim().users().iter().all(|u| u.last_name != "Hirsch"));
    // The API recovered: replay fetches again and the hire completes.
    let r = v
        .app
        .admin_post(&format!("/v1/events/{id}/replay"), &json!({}))
        .await;
    assert_eq!(r.status(), 200);
    let ev = v.delivered(&id).await;
    assert_reached_connecteam(&v.app, &ev);
    let calls = v.api.requests();
    assert_eq!(calls.len(), 4);
    assert!(calls.iter().all(|c| c.path == EMPLOYEE_PATH));
    let metrics = v.app.metrics().await;
    assert!(
        metrics.contains("hirebridge_source_fetches_total{source=\"merge\",outcome=\"fetched\"}"),
        "{metrics}"
    );
    v.app.stop().await;
}

async fn an_employee_who_cannot_be_a_hire_fails_with_the_field(b: Backend) {
    let v = VendorApp::start(b, SourceKind::Merge, |_| {}).await;
    let mut employee: Value = serde_json::from_str(EXAMPLE_EMPLOYEE).unwrap();
    employee["employments"][0]["employment_type"] = json!("PER_DIEM");
    v.api.route(Method::GET, EMPLOYEE_PATH, employee.clone());
    let id = VendorApp::event_id_of(v.post(&v.example()).await).await;
    let ev = v.app.wait_status(&id, "failed").await;
    let err = ev["operations"][0]["last_error"].as_str().unwrap();
    assert!(
        err.contains("/employee/employments/0/employment_type"),
        "{err}"
    );
    // The customer fixes it in their HRIS; replay completes the hire.
    employee["employments"][0]["employment_type"] = json!("PART_TIME");
    v.api.route(Method::GET, EMPLOYEE_PATH, employee);
    let r = v
        .app
        .admin_post(&format!("/v1/events/{id}/replay"), &json!({}))
        .await;
    assert_eq!(r.status(), 200);
    let ev = v.delivered(&id).await;
    assert_eq!(ev["hire"]["job"]["employment_type"], "part_time");
    v.app.stop().await;
}

async fn bad_merge_requests_are_refused(b: Backend) {
    let v = VendorApp::start(b, SourceKind::Merge, |_| {}).await;
    // Signed with another key.
    let mut ex = v.example();
    ex.headers[0].1 = signature("another-key", &ex.body);
    assert_eq!(v.post(&ex).await.status(), 401);
    // The body changed after it was signed. (Merge signs no timestamp: a replayed request is
    // a repeat of the stored event, see the duplicate above.)
    let mut ex = v.example();
    ex.body.push(b'\n');
    assert_eq!(v.post(&ex).await.status(), 401);
    // No signature.
    let mut ex = v.example();
    ex.headers.clear();
    assert_eq!(v.post(&ex).await.status(), 401);
    // Other events: acknowledged, ignored, nothing fetched.
    for event in [
        "Employee.changed",
        "Employee.removed",
        "LinkedAccount.synced",
    ] {
        let r = v.post(&resigned(&v, &other_event(event))).await;
        assert_eq!(r.status(), 200, "{event}");
        assert_eq!(r.json::<Value>().await.unwrap()["status"], "ignored");
    }
    // Correctly signed garbage: 400; a webhook without its employee's id: 422.
    let mut ex = v.example();
    ex.body = b"{\"hook\": ".to_vec();
    ex.headers[0].1 = signature(&secret(), &ex.body);
    let r = v.post(&ex).await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    assert_eq!(
        v.post(&resigned(&v, &json!({"data": {}}))).await.status(),
        400
    );
    let mut body: Value = serde_json::from_str(EXAMPLE).unwrap();
    body["data"]["id"] = Value::Null;
    let r = v.post(&resigned(&v, &body)).await;
    assert_eq!(r.status(), 422);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["errors"][0]["pointer"], "/data/id");
    v.app.settle().await;
    assert!(v.api.requests().is_empty());
    v.app.stop().await;
}
