//! Lever: only a token and a time are signed, so the opportunity (and its posting) is always
//! fetched from Lever's API in the pipeline.

use std::time::{Duration, SystemTime};

use axum::http::Method;
use base64::Engine as _;
use hirebridge::config::SourceKind;
use hirebridge::sources::lever::{EXAMPLE, EXAMPLE_OPPORTUNITY, sign_body, unix_millis};
use serde_json::{Value, json};

use super::{VendorApp, assert_reached_connecteam};
use crate::both_backends;
use crate::helpers::*;

both_backends!(
    the_documented_hire_is_fetched_and_reaches_connecteam,
    a_failing_api_dead_letters_then_replay_completes,
    an_opportunity_that_cannot_be_a_hire_fails_with_the_field,
    a_reused_token_with_other_data_is_a_replay,
    bad_lever_requests_are_refused
);

const OPPORTUNITY: &str = "/lever/opportunities/250d8f03-738a-4bba-a671-8a3d73477145";
const POSTING: &str = "/lever/postings/f2f01e16-27f8-4711-a728-7d49499795a0";

fn secret() -> String {
    hirebridge::sources::sandbox_secret(SourceKind::Lever)
}

fn example_body() -> Value {
    serde_json::from_str(EXAMPLE).unwrap()
}

/// `body` signed with `secret` at `at`, as Lever sends it.
fn signed(
    v: &VendorApp,
    secret: &str,
    body: &Value,
    at: SystemTime,
) -> hirebridge::sources::SignedExample {
    let mut ex = v.example();
    ex.body = sign_body(secret, body, unix_millis(at));
    ex
}

async fn the_documented_hire_is_fetched_and_reaches_connecteam(b: Backend) {
    let v = VendorApp::start(b, SourceKind::Lever, |_| {}).await;
    let r = v.post(&v.example()).await;
    assert_eq!(r.status(), 202);
    let id = VendorApp::event_id_of(r).await;
    let ev = v.delivered(&id).await;
    let hire = &ev["hire"];
    assert_eq!(hire["person"]["first_name"], "Shane");
    assert_eq!(hire["person"]["last_name"], "Smith");
    assert_eq!(hire["person"]["email"], "shane@exampleq3.com");
    assert_eq!(hire["person"]["phone"], "+15125550144");
    assert_eq!(
        hire["person"]["external_id"],
        "7f23e772-f2cf-4ba6-8ec2-2a9b1c8c6b4c"
    );
    assert_eq!(hire["job"]["title"], "Forklift Driver");
    assert_eq!(hire["job"]["department"], "Warehouse");
    assert_eq!(hire["job"]["employment_type"], "full_time");
    assert!(ev["payload"].as_str().unwrap().contains("candidateHired"));
    assert_eq!(ev["operations"][0]["kind"], "fetch_person");
    assert_eq!(ev["operations"][0]["status"], "done");
    assert_reached_connecteam(&v.app, &ev);
    // The opportunity, then its posting, with the API key as the basic-auth user and an
    // empty password.
    let calls = v.api.requests();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0].method, "GET");
    assert_eq!(calls[0].path, OPPORTUNITY);
    assert!(calls[0].query.contains("expand=applications"), "{calls:?}");
    assert_eq!(calls[1].path, POSTING);
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("sandbox-lever-api-key:")
    );
    for c in &calls {
        assert_eq!(c.authorization.as_deref(), Some(basic.as_str()));
    }
    // A redelivery (same token, signed again later) is a duplicate: nothing fetched or sent
    // again.
    let users = v.app.sim().users().len();
    let again = signed(
        &v,
        &secret(),
        &example_body(),
        SystemTime::now() + Duration::from_secs(2),
    );
    let r = v.post(&again).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "duplicate");
    assert_eq!(body["event_id"], id.as_str());
    v.app.settle().await;
    assert_eq!(v.api.requests().len(), 2);
    assert_eq!(v.app.sim().users().len(), users);
    v.app.stop().await;
}

async fn a_failing_api_dead_letters_then_replay_completes(b: Backend) {
    let v = VendorApp::start(b, SourceKind::Lever, |c| c.delivery.max_attempts = 3).await;
    let (id, ev) = v.fetch_dead_lettered(202).await;
    assert!(ev["hire"].is_null());
    assert!(
        ev["payload"].as_str().unwrap().contains("candidateHired"),
        "the event as received is kept"
    );
    assert!(v.app.sim().users().iter().all(|u| u.first_name != "Shane"));
    // The API recovered: replay fetches again and the hire completes.
    let r = v
        .app
        .admin_post(&format!("/v1/events/{id}/replay"), &json!({}))
        .await;
    assert_eq!(r.status(), 200);
    let ev = v.delivered(&id).await;
    assert_reached_connecteam(&v.app, &ev);
    // Three failed opportunity requests, then the opportunity and its posting.
    let calls = v.api.requests();
    assert_eq!(calls.len(), 5, "{calls:?}");
    assert!(calls[..4].iter().all(|c| c.path == OPPORTUNITY));
    assert_eq!(calls[4].path, POSTING);
    v.app.stop().await;
}

async fn an_opportunity_that_cannot_be_a_hire_fails_with_the_field(b: Backend) {
    let v = VendorApp::start(b, SourceKind::Lever, |_| {}).await;
    let mut bare: Value = serde_json::from_str(EXAMPLE_OPPORTUNITY).unwrap();
    bare["data"]["emails"] = json!([]);
    bare["data"]["phones"] = json!([]);
    v.api.route(Method::GET, OPPORTUNITY, bare.clone());
    let id = VendorApp::event_id_of(v.post(&v.example()).await).await;
    let ev = v.app.wait_status(&id, "failed").await;
    let err = ev["operations"][0]["last_error"].as_str().unwrap();
    assert!(
        err.contains("/opportunity/emails") && err.contains("/opportunity/phones"),
        "{err}"
    );
    // The recruiter adds a phone in Lever; replay completes the hire.
    bare["data"]["phones"] = json!([{"type": "mobile", "value": "(512) 555-0199"}]);
    v.api.route(Method::GET, OPPORTUNITY, bare);
    let r = v
        .app
        .admin_post(&format!("/v1/events/{id}/replay"), &json!({}))
        .await;
    assert_eq!(r.status(), 200);
    let ev = v.delivered(&id).await;
    assert_eq!(ev["hire"]["person"]["phone"], "+15125550199");
    v.app.stop().await;
}

async fn a_reused_token_with_other_data_is_a_replay(b: Backend) {
    let v = VendorApp::start(b, SourceKind::Lever, |_| {}).await;
    let r = v.post(&v.example()).await;
    assert_eq!(r.status(), 202);
    let id = VendorApp::event_id_of(r).await;
    v.delivered(&id).await;
    // A copy of the signed token and time with another opportunity: the data is not signed,
    // so only the stored token tells it apart.
    let mut forged = example_body();
    forged["data"]["opportunityId"] = json!("someone-else");
    let r = v
        .post(&signed(&v, &secret(), &forged, SystemTime::now()))
        .await;
    assert_eq!(r.status(), 401);
    v.app.settle().await;
    assert_eq!(v.api.requests().len(), 2, "nothing fetched for the forgery");
    // The stored event is the original.
    let ev = v.app.event(&id).await;
    assert!(!ev["payload"].as_str().unwrap().contains("someone-else"));
    assert_eq!(ev["status"], "done");
    let metrics = v.app.metrics().await;
    assert!(
        metrics.contains(
            "hirebridge_events_total{source=\"lever\",outcome=\"rejected\",reason=\"replay\"}"
        ),
        "{metrics}"
    );
    v.app.stop().await;
}

async fn bad_lever_requests_are_refused(b: Backend) {
    let v = VendorApp::start(b, SourceKind::Lever, |_| {}).await;
    // Another signature token.
    let ex = signed(&v, "another-token", &example_body(), SystemTime::now());
    assert_eq!(v.post(&ex).await.status(), 401);
    // Correctly signed, an hour old.
    let ex = signed(
        &v,
        &secret(),
        &example_body(),
        SystemTime::now() - Duration::from_secs(3600),
    );
    assert_eq!(v.post(&ex).await.status(), 401);
    // Another event: acknowledged, ignored, nothing fetched.
    let mut body = example_body();
    body["event"] = json!("candidateStageChange");
    body["token"] = json!("another-delivery-token");
    let r = v
        .post(&signed(&v, &secret(), &body, SystemTime::now()))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "ignored");
    // Not JSON: 400. A hire without its opportunity: 4xx.
    let mut ex = v.example();
    ex.body = b"{\"token\": ".to_vec();
    assert_eq!(v.post(&ex).await.status(), 400);
    let mut body = example_body();
    body["token"] = json!("a-third-token");
    body["data"] = json!({"candidateId": "x"});
    let status = v
        .post(&signed(&v, &secret(), &body, SystemTime::now()))
        .await
        .status();
    assert!(status.is_client_error(), "{status}");
    v.app.settle().await;
    assert!(v.api.requests().is_empty());
    v.app.stop().await;
}
