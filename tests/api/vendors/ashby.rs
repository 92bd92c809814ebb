//! Ashby: the hire in the webhook, its department and location names resolved through Ashby's
//! API in the pipeline when `api` is configured.

use axum::http::Method;
use hirebridge::config::{SourceConfig, SourceKind};
use hirebridge::sources::ashby::{EXAMPLE, ping, signature};
use serde_json::{Value, json};

use super::{VendorApp, assert_reached_connecteam};
use crate::both_backends;
use crate::helpers::*;

both_backends!(
    the_documented_hire_resolves_its_names_and_reaches_connecteam,
    without_api_the_hire_goes_through_at_once,
    a_failing_api_dead_letters_then_replay_completes,
    bad_ashby_requests_are_refused
);

fn secret() -> String {
    hirebridge::sources::sandbox_secret(SourceKind::Ashby)
}

async fn the_documented_hire_resolves_its_names_and_reaches_connecteam(b: Backend) {
    let v = VendorApp::start(b, SourceKind::Ashby, |_| {}).await;
    let r = v.post(&v.example()).await;
    assert_eq!(r.status(), 202);
    let id = VendorApp::event_id_of(r).await;
    let ev = v.delivered(&id).await;
    assert_eq!(ev["hire"]["person"]["first_name"], "Adam");
    assert_eq!(ev["hire"]["person"]["last_name"], "Hart");
    assert_eq!(
        ev["hire"]["person"]["external_id"],
        "5b591aa4-7e1c-4c4a-a0a8-8bd1fc8e2f11"
    );
    assert_eq!(ev["hire"]["job"]["department"], "Warehouse");
    assert_eq!(ev["hire"]["job"]["location"], "Austin, TX");
    assert_eq!(ev["hire"]["job"]["start_date"], "2026-12-01");
    assert_eq!(ev["hire"]["job"]["manager_email"], "lead@example.com");
    assert!(ev["payload"].as_str().unwrap().contains("candidateHire"));
    assert_eq!(ev["operations"][0]["kind"], "fetch_person");
    assert_eq!(ev["operations"][0]["status"], "done");
    assert_reached_connecteam(&v.app, &ev);
    // The names were read with POSTs, the API key as the basic-auth user.
    let calls = v.api.requests();
    assert_eq!(calls.len(), 2, "{calls:?}");
    let paths: Vec<&str> = calls.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(paths, ["/ashby/department.info", "/ashby/location.info"]);
    assert!(calls.iter().all(|c| c.method == "POST"));
    assert_eq!(
        calls[0].body,
        Some(json!({"departmentId": "1be42b8e-cafd-4beb-8121-f4981eb20f42"}))
    );
    use base64::Engine as _;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("sandbox-ashby-api-key:")
    );
    assert_eq!(calls[0].authorization.as_deref(), Some(basic.as_str()));
    // A redelivery (Ashby's retry: the same webhookActionId) is a duplicate: nothing fetched
    // or sent again.
    let users = v.app.sim().users().len();
    let r = v.post(&v.example()).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "duplicate");
    assert_eq!(body["event_id"], id);
    v.app.settle().await;
    assert_eq!(v.api.requests().len(), 2);
    assert_eq!(v.app.sim().users().len(), users);
    v.app.stop().await;
}

async fn without_api_the_hire_goes_through_at_once(b: Backend) {
    let v = VendorApp::start(b, SourceKind::Ashby, |c| {
        if let Some(SourceConfig::Ashby(a)) = c.sources.get_mut("ashby") {
            a.api = None;
        }
    })
    .await;
    let r = v.post(&v.example()).await;
    assert_eq!(r.status(), 202);
    let id = VendorApp::event_id_of(r).await;
    let ev = v.delivered(&id).await;
    assert!(ev["hire"]["job"]["department"].is_null(), "{ev:#}");
    assert!(ev["hire"]["job"]["location"].is_null());
    assert_eq!(
        ev["hire"]["attributes"]["department_id"],
        "1be42b8e-cafd-4beb-8121-f4981eb20f42"
    );
    assert!(
        ev["operations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["kind"] != "fetch_person")
    );
    assert_reached_connecteam(&v.app, &ev);
    assert!(v.api.requests().is_empty());
    v.app.stop().await;
}

async fn a_failing_api_dead_letters_then_replay_completes(b: Backend) {
    let v = VendorApp::start(b, SourceKind::Ashby, |c| c.delivery.max_attempts = 3).await;
    let (id, ev) = v.fetch_dead_lettered(202).await;
    assert!(
        ev["payload"]
            .as_str()
            .is_some_and(|p| p.contains("candidateHire")),
        "the event as received is kept: {ev:#}"
    );
    assert!(v.app.sim().users().iter().all(|u| u.first_name != "Adam"));
    assert_eq!(v.api.requests().len(), 3);
    // The API recovered: replay resolves the names and the hire completes.
    let r = v
        .app
        .admin_post(&format!("/v1/events/{id}/replay"), &json!({}))
        .await;
    assert_eq!(r.status(), 200);
    let ev = v.delivered(&id).await;
    assert_eq!(ev["hire"]["job"]["department"], "Warehouse");
    assert_reached_connecteam(&v.app, &ev);
    assert_eq!(v.api.requests().len(), 5);
    // Ashby's own error answer (success: false) is not retried forever: dead-lettered with
    // Ashby's code.
    v.api.route(
        Method::POST,
        "/ashby/department.info",
        json!({"success": false, "errorInfo": {"code": "department_not_found"}}),
    );
    let mut other: Value = serde_json::from_str(EXAMPLE).unwrap();
    other["webhookActionId"] = json!("second-action");
    other["data"]["application"]["job"]["departmentId"] = json!("gone");
    other["data"]["application"]["candidate"]["primaryEmailAddress"]["value"] =
        json!("second@example.com");
    let mut ex = v.example();
    ex.body = serde_json::to_vec(&other).unwrap();
    ex.headers[0].1 = signature(&secret(), &ex.body);
    let id = VendorApp::event_id_of(v.post(&ex).await).await;
    let ev = v.app.wait_status(&id, "failed").await;
    let err = ev["operations"][0]["last_error"].as_str().unwrap();
    assert!(err.contains("department_not_found"), "{err}");
    v.app.stop().await;
}

async fn bad_ashby_requests_are_refused(b: Backend) {
    let v = VendorApp::start(b, SourceKind::Ashby, |_| {}).await;
    // Signed with another secret.
    let mut ex = v.example();
    ex.headers[0].1 = signature("another-token", &ex.body);
    let r = v.post(&ex).await;
    assert_eq!(r.status(), 401);
    // No signature at all (a webhook saved in Ashby without the secret token).
    let mut ex = v.example();
    ex.headers.clear();
    assert_eq!(v.post(&ex).await.status(), 401);
    // Ashby signs no timestamp: an old, correctly signed request is only a repeat of its
    // webhookActionId. The first delivery is accepted, the late one a duplicate.
    let first = v.post(&v.example()).await;
    assert_eq!(first.status(), 202);
    let late = v.post(&v.example()).await;
    assert_eq!(late.status(), 200);
    assert_eq!(late.json::<Value>().await.unwrap()["status"], "duplicate");
    // Its names were fetched once.
    v.app.settle().await;
    assert_eq!(v.api.requests().len(), 2);
    // A ping and another action: 200 ignored, nothing fetched for them.
    for body in [
        ping(),
        json!({"action": "candidateStageChange", "webhookActionId": "w-9", "data": {}}),
    ] {
        let mut ex = v.example();
        ex.body = serde_json::to_vec(&body).unwrap();
        ex.headers[0].1 = signature(&secret(), &ex.body);
        let r = v.post(&ex).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.json::<Value>().await.unwrap()["status"], "ignored");
    }
    // Correctly signed garbage: 400; a hire that cannot be mapped: 422 with the field.
    let mut ex = v.example();
    ex.body = b"{\"action\": ".to_vec();
    ex.headers[0].1 = signature(&secret(), &ex.body);
    assert_eq!(v.post(&ex).await.status(), 400);
    let mut ex = v.example();
    ex.body = serde_json::to_vec(
        &json!({"action": "candidateHire", "webhookActionId": "w-10", "data": {"application": {}}}),
    )
    .unwrap();
    ex.headers[0].1 = signature(&secret(), &ex.body);
    let r = v.post(&ex).await;
    assert_eq!(r.status(), 422);
    let p: Value = r.json().await.unwrap();
    assert!(
        p["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["pointer"] == "/data/application/candidate/name"),
        "{p}"
    );
    v.app.settle().await;
    // Only the one accepted hire's names were fetched.
    assert_eq!(v.api.requests().len(), 2);
    v.app.stop().await;
}
