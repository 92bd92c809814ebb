//! Workable: `employee_created` and `candidate_moved` into the hired stage, signed
//! `X-Workable-Signature: <hex HMAC of the body>`, answered 200.

use hirebridge::config::{SignatureEncoding, SourceKind};
use hirebridge::sources::workable::{CANDIDATE_EXAMPLE, signature};
use serde_json::{Value, json};

use super::{VendorApp, assert_reached_connecteam};
use crate::both_backends;
use crate::helpers::*;

both_backends!(
    the_documented_employee_reaches_connecteam,
    a_candidate_hired_reaches_connecteam_and_other_moves_are_ignored,
    bad_workable_requests_are_refused
);

fn signed(v: &VendorApp, body: Vec<u8>) -> hirebridge::sources::SignedExample {
    let mut ex = v.example();
    let secret = hirebridge::sources::sandbox_secret(SourceKind::Workable);
    ex.headers[0].1 = signature(&secret, &body, SignatureEncoding::Hex);
    ex.body = body;
    ex
}

async fn the_documented_employee_reaches_connecteam(b: Backend) {
    let v = VendorApp::start(b, SourceKind::Workable, |_| {}).await;
    let ex = v.example();
    let r = v.post(&ex).await;
    assert_eq!(r.status(), 200, "Workable needs 200");
    let id = VendorApp::event_id_of(r).await;
    let ev = v.delivered(&id).await;
    assert_eq!(ev["hire"]["person"]["email"], "okydde0@answers.com");
    assert_eq!(ev["hire"]["person"]["external_id"], "4d3");
    assert_eq!(ev["hire"]["job"]["title"], "Software Engineer");
    assert_reached_connecteam(&v.app, &ev);
    // A redelivery: a duplicate, nothing sent again.
    let before = v.app.sim().requests().len();
    let r = v.post(&ex).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "duplicate");
    assert_eq!(body["event_id"], id);
    v.app.settle().await;
    assert_eq!(v.app.sim().requests().len(), before);
    v.app.stop().await;
}

async fn a_candidate_hired_reaches_connecteam_and_other_moves_are_ignored(b: Backend) {
    let v = VendorApp::start(b, SourceKind::Workable, |_| {}).await;
    let mut moved: Value = serde_json::from_str(CANDIDATE_EXAMPLE).unwrap();
    moved["data"]["stage"] = json!("interview");
    let r = v
        .post(&signed(&v, serde_json::to_vec(&moved).unwrap()))
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "ignored");

    let r = v
        .post(&signed(&v, CANDIDATE_EXAMPLE.as_bytes().to_vec()))
        .await;
    assert_eq!(r.status(), 200);
    let id = VendorApp::event_id_of(r).await;
    let ev = v.delivered(&id).await;
    assert_eq!(ev["hire"]["person"]["phone"], "+15125550147");
    assert_eq!(ev["hire"]["job"]["title"], "Forklift Driver");
    assert_reached_connecteam(&v.app, &ev);
    v.app.stop().await;
}

async fn bad_workable_requests_are_refused(b: Backend) {
    let v = VendorApp::start(b, SourceKind::Workable, |_| {}).await;
    let mut ex = v.example();
    ex.headers[0].1 = "00".repeat(32);
    assert_eq!(v.post(&ex).await.status(), 401);
    let r = v.post(&signed(&v, b"{\"event_type\": ".to_vec())).await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    // An employee without a last name: 422 naming Workable's field.
    let mut body: Value = serde_json::from_slice(&v.example().body).unwrap();
    body["data"]["lastname"] = Value::Null;
    let r = v
        .post(&signed(&v, serde_json::to_vec(&body).unwrap()))
        .await;
    assert_eq!(r.status(), 422);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["errors"][0]["pointer"], "/data/lastname");
    assert!(
        v.app
            .sim()
            .users()
            .iter()
            .all(|u| u.first_name != "Obediah")
    );
    v.app.stop().await;
}
