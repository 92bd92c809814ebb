//! HubSpot: a batch of events, the configured property change a hire, the contact fetched
//! from HubSpot's CRM API in the pipeline.

use std::time::{Duration, SystemTime};

use axum::http::Method;
use hirebridge::config::{SourceConfig, SourceKind};
use hirebridge::sources::SignedExample;
use hirebridge::sources::hubspot::{EXAMPLE, EXAMPLE_CONTACT, signature_v3};
use serde_json::{Value, json};
use url::Url;

use super::{VendorApp, assert_reached_connecteam};
use crate::both_backends;
use crate::helpers::*;

both_backends!(
    the_documented_hire_is_fetched_and_reaches_connecteam,
    a_failing_api_dead_letters_then_replay_completes,
    a_contact_who_cannot_be_a_hire_fails_with_the_property,
    bad_hubspot_requests_are_refused,
    behind_a_tls_ingress_the_public_uri_is_verified
);

const HIRE_EVENT: &str = "3816279340";

fn millis(t: SystemTime) -> String {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        .to_string()
}

/// `body` signed as HubSpot signs a post to `url` at `ts`.
fn signed(url: &str, body: Vec<u8>, ts: &str) -> SignedExample {
    let secret = hirebridge::sources::sandbox_secret(SourceKind::Hubspot);
    SignedExample {
        content_type: "application/json",
        headers: vec![
            ("X-HubSpot-Request-Timestamp".to_owned(), ts.to_owned()),
            (
                "X-HubSpot-Signature-v3".to_owned(),
                signature_v3(&secret, "POST", url, &body, ts),
            ),
        ],
        body,
    }
}

async fn the_documented_hire_is_fetched_and_reaches_connecteam(b: Backend) {
    let v = VendorApp::start(b, SourceKind::Hubspot, |_| {}).await;
    let r = v.post(&v.example()).await;
    assert_eq!(r.status(), 200, "HubSpot is answered 200 for the batch");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["events"][0]["status"], "accepted", "{body}");
    assert_eq!(body["events"][1]["status"], "ignored", "{body}");
    let id = body["events"][0]["event_id"].as_str().unwrap().to_owned();
    let ev = v.delivered(&id).await;
    assert_eq!(ev["dedupe_key"], HIRE_EVENT);
    assert_eq!(ev["hire"]["person"]["first_name"], "Bryan");
    assert_eq!(ev["hire"]["person"]["last_name"], "Cooper");
    assert_eq!(ev["hire"]["person"]["email"], "bcooper@biglytics.net");
    assert_eq!(ev["hire"]["person"]["phone"], "+15125550145");
    assert_eq!(ev["hire"]["person"]["external_id"], "512");
    assert_eq!(ev["hire"]["job"]["title"], "Forklift Driver");
    assert_eq!(ev["hire"]["attributes"]["company"], "Biglytics");
    assert!(ev["payload"].as_str().unwrap().contains("lifecyclestage"));
    assert_eq!(ev["operations"][0]["kind"], "fetch_person");
    assert_eq!(ev["operations"][0]["status"], "done");
    assert_reached_connecteam(&v.app, &ev);
    // One fetch, with the private app's token as a bearer and the properties asked for.
    let calls = v.api.requests();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].method, "GET");
    assert_eq!(calls[0].path, "/hubspot/crm/v3/objects/contacts/512");
    assert!(
        calls[0]
            .query
            .contains("properties=firstname%2Clastname%2Cemail%2Cmobilephone%2Cphone%2Cjobtitle"),
        "{}",
        calls[0].query
    );
    assert_eq!(
        calls[0].authorization.as_deref(),
        Some("Bearer sandbox-hubspot-private-app-token")
    );
    let users = v.app.sim().users().len();
    // HubSpot's retry of the batch (a later attempt, newly signed) is a duplicate: nothing
    // fetched or sent again.
    let mut retry: Value = serde_json::from_str(EXAMPLE).unwrap();
    for e in retry.as_array_mut().unwrap() {
        e["attemptNumber"] = json!(1);
    }
    let ex = signed(
        v.url().as_str(),
        serde_json::to_vec(&retry).unwrap(),
        &millis(SystemTime::now()),
    );
    let r = v.post(&ex).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["events"][0]["status"], "duplicate");
    assert_eq!(body["events"][1]["status"], "duplicate");
    v.app.settle().await;
    assert_eq!(v.api.requests().len(), 1);
    assert_eq!(v.app.sim().users().len(), users);
    v.app.stop().await;
}

async fn a_failing_api_dead_letters_then_replay_completes(b: Backend) {
    let v = VendorApp::start(b, SourceKind::Hubspot, |c| c.delivery.max_attempts = 3).await;
    let (id, ev) = v.fetch_dead_lettered(200).await;
    assert!(ev["hire"].is_null());
    assert!(
        ev["payload"]
            .as_str()
            .is_some_and(|p| p.contains(HIRE_EVENT)),
        "the event as received is kept: {ev:#}"
    );
    assert!(v.app.sim().users().iter().all(|u| u.first_name != "Bryan"));
    // The API recovered: replay fetches again and the hire completes.
    let r = v
        .app
        .admin_post(&format!("/v1/events/{id}/replay"), &json!({}))
        .await;
    assert_eq!(r.status(), 200);
    let ev = v.delivered(&id).await;
    assert_reached_connecteam(&v.app, &ev);
    assert_eq!(ev["hire"]["person"]["external_id"], "512");
    assert_eq!(v.api.requests().len(), 4);
    assert!(
        v.api
            .requests()
            .iter()
            .all(|c| c.path == "/hubspot/crm/v3/objects/contacts/512")
    );
    v.app.stop().await;
}

async fn a_contact_who_cannot_be_a_hire_fails_with_the_property(b: Backend) {
    let v = VendorApp::start(b, SourceKind::Hubspot, |_| {}).await;
    v.api.route(
        Method::GET,
        "/hubspot/crm/v3/objects/contacts/512",
        json!({"id": "512", "properties": {"firstname": "Bryan", "lastname": "Cooper"}}),
    );
    let r = v.post(&v.example()).await;
    assert_eq!(r.status(), 200);
    let id = VendorApp::event_id_of(r).await;
    let ev = v.app.wait_status(&id, "failed").await;
    let err = ev["operations"][0]["last_error"].as_str().unwrap();
    assert!(
        err.contains("/properties/email") && err.contains("/properties/mobilephone"),
        "{err}"
    );
    // The customer adds a mobile number in HubSpot; replay completes the hire.
    let mut fixed: Value = serde_json::from_str(EXAMPLE_CONTACT).unwrap();
    fixed["properties"]["email"] = Value::Null;
    fixed["properties"]["phone"] = Value::Null;
    v.api
        .route(Method::GET, "/hubspot/crm/v3/objects/contacts/512", fixed);
    let r = v
        .app
        .admin_post(&format!("/v1/events/{id}/replay"), &json!({}))
        .await;
    assert_eq!(r.status(), 200);
    let ev = v.delivered(&id).await;
    assert_eq!(ev["hire"]["person"]["phone"], "+15125550145");
    assert!(ev["hire"]["person"]["email"].is_null());
    v.app.stop().await;
}

async fn bad_hubspot_requests_are_refused(b: Backend) {
    let v = VendorApp::start(b, SourceKind::Hubspot, |_| {}).await;
    let url = v.url();
    let now = millis(SystemTime::now());
    // Another secret.
    let mut ex = v.example();
    ex.headers[1].1 = signature_v3("another-secret", "POST", url.as_str(), &ex.body, &now);
    ex.headers[0].1 = now.clone();
    assert_eq!(v.post(&ex).await.status(), 401);
    // Signed for another URL.
    let ex = signed(
        "http://127.0.0.1:1/v1/webhooks/hubspot",
        EXAMPLE.as_bytes().to_vec(),
        &now,
    );
    assert_eq!(v.post(&ex).await.status(), 401);
    // Correctly signed, ten minutes old.
    let old = millis(SystemTime::now() - Duration::from_secs(600));
    let ex = signed(url.as_str(), EXAMPLE.as_bytes().to_vec(), &old);
    let r = v.post(&ex).await;
    assert_eq!(r.status(), 401);
    // No signature at all.
    let mut ex = v.example();
    ex.headers.truncate(1);
    assert_eq!(v.post(&ex).await.status(), 401);
    // Not a hire: acknowledged, ignored, nothing fetched.
    let other = json!([{"eventId": 41, "subscriptionType": "contact.propertyChange", "objectId": 512,
        "propertyName": "lifecyclestage", "propertyValue": "customer", "portalId": 33,
        "occurredAt": 1795162320000_i64, "attemptNumber": 0}]);
    let r = v
        .post(&signed(
            url.as_str(),
            serde_json::to_vec(&other).unwrap(),
            &now,
        ))
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "ignored", "{body}");
    let ev = v.app.event(body["event_id"].as_str().unwrap()).await;
    assert_eq!(ev["dedupe_key"], "41", "{ev:#}");
    assert_eq!(ev["status"], "ignored", "{ev:#}");
    // Correctly signed, but not a batch of HubSpot events: 400.
    for body in [
        &b"[{\"eventId\": "[..],
        b"[]",
        b"{\"eventId\": 1}",
        b"[{\"objectId\": 1}]",
    ] {
        let r = v.post(&signed(url.as_str(), body.to_vec(), &now)).await;
        assert_eq!(r.status(), 400, "{}", String::from_utf8_lossy(body));
    }
    // A hire without the contact's id: 422.
    let no_id = json!([{"eventId": 42, "subscriptionType": "contact.propertyChange",
        "propertyName": "lifecyclestage", "propertyValue": "employee"}]);
    let r = v
        .post(&signed(
            url.as_str(),
            serde_json::to_vec(&no_id).unwrap(),
            &now,
        ))
        .await;
    assert_eq!(r.status(), 422);
    v.app.settle().await;
    assert!(v.api.requests().is_empty());
    v.app.stop().await;
}

async fn behind_a_tls_ingress_the_public_uri_is_verified(b: Backend) {
    let v = VendorApp::start(b, SourceKind::Hubspot, |_| {}).await;
    let public = Url::parse("https://hooks.example.com/v1/webhooks/hubspot").unwrap();
    let now = SystemTime::now();
    // The ingress says how HubSpot reached it.
    let mut ex = hirebridge_example(&public, now);
    ex.headers
        .push(("X-Forwarded-Proto".to_owned(), "https".to_owned()));
    ex.headers.push((
        "X-Forwarded-Host".to_owned(),
        "hooks.example.com".to_owned(),
    ));
    assert_eq!(v.post(&ex).await.status(), 200);
    // Without those headers, the same request does not verify.
    let ex = hirebridge_example(&public, now);
    assert_eq!(v.post(&ex).await.status(), 401);
    v.app.stop().await;

    // With public_url configured, the headers are not needed (nor trusted).
    let v = VendorApp::start(b, SourceKind::Hubspot, |c| {
        if let Some(SourceConfig::Hubspot(h)) = c.sources.get_mut("hubspot") {
            h.public_url = Some(Url::parse("https://hooks.example.com").unwrap());
        }
    })
    .await;
    let mut ex = hirebridge_example(&public, now);
    assert_eq!(v.post(&ex).await.status(), 200);
    ex.headers.push((
        "X-Forwarded-Host".to_owned(),
        "elsewhere.example".to_owned(),
    ));
    let r = v.post(&ex).await;
    assert_eq!(r.status(), 200, "a redelivery, still verified");
    v.app.stop().await;
}

/// The kind's example, signed for `url`.
fn hirebridge_example(url: &Url, now: SystemTime) -> SignedExample {
    super::example_of(SourceKind::Hubspot).example(
        &hirebridge::sources::sandbox_secret(SourceKind::Hubspot),
        url,
        now,
    )
}
