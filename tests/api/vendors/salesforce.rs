//! Salesforce: Outbound Messages (SOAP XML), one event per notification, the org checked,
//! the SOAP Ack once every notification is stored; DTDs refused.

use hirebridge::config::SourceKind;
use hirebridge::sources::salesforce::ACK;
use serde_json::Value;

use super::{VendorApp, assert_reached_connecteam};
use crate::both_backends;
use crate::helpers::*;

both_backends!(
    every_notification_reaches_connecteam_and_is_acked,
    bad_salesforce_messages_are_refused_and_read_nothing
);

async fn events(v: &VendorApp) -> Vec<Value> {
    let page: Value = v
        .app
        .admin_get("/v1/events?source=salesforce&limit=50")
        .await
        .json()
        .await
        .unwrap();
    page["events"].as_array().unwrap().clone()
}

async fn every_notification_reaches_connecteam_and_is_acked(b: Backend) {
    let v = VendorApp::start(b, SourceKind::Salesforce, |_| {}).await;
    let ex = v.example();
    let r = v.post(&ex).await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/xml")
    );
    assert_eq!(r.text().await.unwrap(), ACK);
    let listed = events(&v).await;
    assert_eq!(listed.len(), 2, "one event per notification: {listed:#?}");
    let mut emails = Vec::new();
    for e in &listed {
        let ev = v.delivered(e["event_id"].as_str().unwrap()).await;
        assert_reached_connecteam(&v.app, &ev);
        emails.push(ev["hire"]["person"]["email"].as_str().unwrap().to_owned());
        assert!(
            ev["hire"]["person"]["external_id"]
                .as_str()
                .unwrap()
                .starts_with("003")
        );
    }
    emails.sort();
    assert_eq!(
        emails,
        ["maria.garcia@example.com", "sam.okafor@example.com"]
    );
    // Salesforce retries the whole message until acked: acked again, nothing new.
    let before = v.app.sim().requests().len();
    let r = v.post(&ex).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), ACK);
    v.app.settle().await;
    assert_eq!(events(&v).await.len(), 2);
    assert_eq!(v.app.sim().requests().len(), before);
    v.app.stop().await;
}

async fn bad_salesforce_messages_are_refused_and_read_nothing(b: Backend) {
    let v = VendorApp::start(b, SourceKind::Salesforce, |_| {}).await;
    let text = String::from_utf8(v.example().body).unwrap();
    let org = hirebridge::sources::sandbox_secret(SourceKind::Salesforce);

    // Another org's message.
    let mut ex = v.example();
    ex.body = text.replace(&org, "00D999999999999AAA").into_bytes();
    let r = v.post(&ex).await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["content-type"], "application/problem+json");

    // An XXE attempt: a DTD declaring an external entity that names a local file.
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("secret.txt");
    std::fs::write(&secret_file, "CANARY-7f3a").unwrap();
    let xxe = text
        .replacen(
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            &format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file://{}">]>"#,
                secret_file.display()
            ),
            1,
        )
        .replace("<sf:FirstName>Maria</sf:FirstName>", "<sf:FirstName>&xxe;</sf:FirstName>");
    assert!(xxe.contains("<!DOCTYPE"));
    let mut ex = v.example();
    ex.body = xxe.into_bytes();
    let r = v.post(&ex).await;
    assert_eq!(r.status(), 400);
    let body = r.text().await.unwrap();
    assert!(body.contains("DTD"), "{body}");
    assert!(!body.contains("CANARY"), "{body}");

    // Not XML, and the wrong content type.
    let mut ex = v.example();
    ex.body = text.as_bytes()[..text.len() / 2].to_vec();
    assert_eq!(v.post(&ex).await.status(), 400);
    let mut ex = v.example();
    ex.content_type = "application/json";
    assert_eq!(v.post(&ex).await.status(), 415);
    assert!(events(&v).await.is_empty(), "nothing stored");

    // A notification that is no hire (no email, no phone) is stored as ignored and acked
    // with the hire batched with it.
    let mut ex = v.example();
    ex.body = text
        .replace("<sf:Email>sam.okafor@example.com</sf:Email>", "")
        .replace("<sf:Phone>303-555-0199</sf:Phone>", "")
        .into_bytes();
    let r = v.post(&ex).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), ACK);
    let listed = events(&v).await;
    let mut statuses: Vec<&str> = listed
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    statuses.sort();
    assert_eq!(statuses.len(), 2);
    assert!(statuses.contains(&"ignored"), "{listed:#?}");
    assert!(v.app.sim().users().iter().all(|u| u.first_name != "Sam"));
    v.app.stop().await;
}
