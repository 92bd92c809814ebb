//! Greenhouse: `hire_candidate`, signed `Signature: sha256 <hex>`, answered 200.

use hirebridge::config::SourceKind;
use serde_json::Value;

use super::{VendorApp, assert_reached_connecteam};
use crate::both_backends;
use crate::helpers::*;

both_backends!(
    the_documented_hire_reaches_connecteam,
    bad_greenhouse_requests_are_refused
);

async fn the_documented_hire_reaches_connecteam(b: Backend) {
    let v = VendorApp::start(b, SourceKind::Greenhouse, |_| {}).await;
    let ex = v.example();
    let r = v.post(&ex).await;
    assert_eq!(r.status(), 200, "Greenhouse needs 200");
    let id = VendorApp::event_id_of(r).await;
    let ev = v.delivered(&id).await;
    assert_eq!(ev["hire"]["person"]["email"], "personal@example.com");
    assert_eq!(ev["hire"]["job"]["title"], "Developer");
    assert_eq!(ev["hire"]["job"]["employment_type"], "full_time");
    assert_reached_connecteam(&v.app, &ev);
    // Greenhouse redelivers with the same event id: a duplicate, nothing sent again.
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

async fn bad_greenhouse_requests_are_refused(b: Backend) {
    let v = VendorApp::start(b, SourceKind::Greenhouse, |_| {}).await;
    // A wrong signature.
    let mut ex = v.example();
    ex.headers[0].1 = "sha256 0000".to_owned();
    assert_eq!(v.post(&ex).await.status(), 401);
    // A ping: acknowledged with 200, nothing else.
    let ping = serde_json::to_vec(&hirebridge::sources::greenhouse::ping()).unwrap();
    let mut ex = v.example();
    ex.headers[0].1 = sign(&ping);
    ex.body = ping;
    let r = v.post(&ex).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "ignored");
    // Not JSON, correctly signed: 400 with a problem.
    let mut ex = v.example();
    ex.body = b"{\"action\": ".to_vec();
    ex.headers[0].1 = sign(&ex.body);
    let r = v.post(&ex).await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    // A hire without a name: 422 naming Greenhouse's field.
    let mut body: Value = serde_json::from_slice(&v.example().body).unwrap();
    body["payload"]["application"]["candidate"]["first_name"] = Value::Null;
    let mut ex = v.example();
    ex.body = serde_json::to_vec(&body).unwrap();
    ex.headers[0].1 = sign(&ex.body);
    let r = v.post(&ex).await;
    assert_eq!(r.status(), 422);
    let p: Value = r.json().await.unwrap();
    assert_eq!(
        p["errors"][0]["pointer"],
        "/payload/application/candidate/first_name"
    );
    assert!(v.app.sim().users().iter().all(|u| u.first_name != "Johnny"));
    v.app.stop().await;
}

fn sign(body: &[u8]) -> String {
    use hmac::Mac;
    let secret = hirebridge::sources::sandbox_secret(SourceKind::Greenhouse);
    let mut m = hirebridge::sources::signing::hmac_key(secret.as_bytes());
    m.update(body);
    format!("sha256 {}", hex::encode(m.finalize().into_bytes()))
}
