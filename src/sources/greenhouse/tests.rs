use std::time::SystemTime;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::domain::EmploymentType;

const SECRET: &str = "gh-secret";

fn source() -> Greenhouse {
    let SourceConfig::Greenhouse(cfg) = Examples
        .sandbox(SECRET, &Url::parse("http://unused").unwrap())
        .config
    else {
        unreachable!()
    };
    Greenhouse::new("greenhouse", &cfg, "US")
}

fn headers(pairs: &[(String, String)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    for (k, v) in pairs {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

async fn decode(h: &HeaderMap, body: &[u8]) -> Result<Decoded, Rejection> {
    let uri: Uri = "/v1/webhooks/greenhouse".parse().unwrap();
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

fn signed(body: &[u8], delivery: &str) -> HeaderMap {
    use hmac::Mac;
    let mut m = hmac_key(SECRET.as_bytes());
    m.update(body);
    let sig = hex::encode(m.finalize().into_bytes());
    headers(&[
        ("Signature".into(), format!("sha256 {sig}")),
        ("Greenhouse-Event-ID".into(), delivery.into()),
    ])
}

fn the_hire(d: Decoded) -> Hire {
    match d.items.into_iter().next().unwrap().content {
        Content::Hire(h) => *h,
        other => panic!("not a hire: {other:?}"),
    }
}

#[tokio::test]
async fn the_documented_hire_maps_field_by_field() {
    let ex = Examples.example(SECRET, &Url::parse("http://x").unwrap(), SystemTime::now());
    let d = decode(&headers(&ex.headers), &ex.body).await.unwrap();
    assert!(d.items[0].dedupe_key.starts_with("gh-example-"));
    let h = the_hire(d);
    assert_eq!(h.event_type, "hire.created");
    assert_eq!(h.person.first_name, "Johnny");
    assert_eq!(h.person.last_name, "Smith");
    // Personal before work by default.
    assert_eq!(h.person.email.unwrap().as_str(), "personal@example.com");
    // No mobile: home comes before work in the default order; read with the US region.
    assert_eq!(h.person.phone.unwrap().as_str(), "+12125551212");
    assert_eq!(h.person.external_id.as_deref(), Some("35897443"));
    // The new job, not the candidate's previous title.
    assert_eq!(h.job.title.as_deref(), Some("Developer"));
    assert_eq!(h.job.department.as_deref(), Some("Technology"));
    assert_eq!(h.job.location.as_deref(), Some("New York, NY"));
    assert_eq!(h.job.start_date.as_deref(), Some("2015-01-23"));
    assert_eq!(h.job.employment_type, Some(EmploymentType::FullTime));
    assert_eq!(h.job.manager_email, None);
    assert_eq!(h.occurred_at.as_deref(), Some("2014-11-20T22:49:14Z"));
    assert_eq!(h.attributes["custom_application_field"], "Example123");
    assert_eq!(h.attributes["employment_type"], "Full-time");
}

#[tokio::test]
async fn a_wrong_or_missing_signature_is_refused() {
    let body = EXAMPLE.as_bytes();
    let mut h = signed(body, "d-1");
    h.insert("signature", HeaderValue::from_static("sha256 00ff"));
    assert!(matches!(
        decode(&h, body).await,
        Err(Rejection::Auth(AuthError::BadSignature))
    ));
    h.remove("signature");
    assert!(matches!(
        decode(&h, body).await,
        Err(Rejection::Auth(AuthError::MissingCredentials(_)))
    ));
    // Signed with another key.
    let mut other = body.to_vec();
    other.push(b' ');
    let h = signed(&other, "d-1");
    assert!(decode(&h, body).await.is_err());
    // `sha256=` works as well as `sha256 `.
    let h = signed(body, "d-1");
    let v = h["signature"]
        .to_str()
        .unwrap()
        .replace("sha256 ", "sha256=");
    let mut h2 = h.clone();
    h2.insert("signature", HeaderValue::from_str(&v).unwrap());
    assert!(decode(&h2, body).await.is_ok());
}

#[tokio::test]
async fn pings_and_other_actions_are_ignored() {
    let body = serde_json::to_vec(&ping()).unwrap();
    let d = decode(&signed(&body, "ping-1"), &body).await.unwrap();
    assert!(matches!(d.items[0].content, Content::Ignored { .. }));
    let other =
        serde_json::to_vec(&json!({"action": "candidate_stage_change", "payload": {}})).unwrap();
    let d = decode(&signed(&other, "d-2"), &other).await.unwrap();
    assert!(matches!(d.items[0].content, Content::Ignored { .. }));
}

#[tokio::test]
async fn without_a_delivery_id_the_application_is_the_key() {
    let body = EXAMPLE.as_bytes();
    let mut h = signed(body, "x");
    h.remove("greenhouse-event-id");
    let d = decode(&h, body).await.unwrap();
    assert_eq!(d.items[0].dedupe_key, "hire_candidate/46194062");
}

#[tokio::test]
async fn a_hire_without_a_name_or_contact_points_at_greenhouse_fields() {
    let mut v: Value = serde_json::from_str(EXAMPLE).unwrap();
    let cand = v.pointer_mut("/payload/application/candidate").unwrap();
    cand["last_name"] = Value::Null;
    cand["email_addresses"] = json!([]);
    cand["phone_numbers"] = json!([{"value": " ", "type": "mobile"}]);
    let body = serde_json::to_vec(&v).unwrap();
    let Err(Rejection::Unmappable(errors)) = decode(&signed(&body, "d-3"), &body).await else {
        panic!("expected a mapping error");
    };
    let text = format!("{errors:?}");
    assert!(
        text.contains("/payload/application/candidate/last_name"),
        "{text}"
    );
    assert!(
        text.contains("/payload/application/candidate/email_addresses"),
        "{text}"
    );
}

#[tokio::test]
async fn an_unknown_employment_label_is_named() {
    let mut v: Value = serde_json::from_str(EXAMPLE).unwrap();
    *v.pointer_mut("/payload/application/jobs/0/custom_fields/employment_type/value")
        .unwrap() = json!("Zero hours");
    let body = serde_json::to_vec(&v).unwrap();
    let Err(Rejection::Unmappable(errors)) = decode(&signed(&body, "d-4"), &body).await else {
        panic!("expected a mapping error");
    };
    assert_eq!(
        errors[0].pointer,
        "/payload/application/jobs/0/custom_fields/employment_type/value"
    );
}

#[tokio::test]
async fn accepted_hires_are_answered_200() {
    let r = source()
        .respond(&[ItemOutcome::Accepted {
            event_id: "e".into(),
        }])
        .unwrap();
    assert!(matches!(r, Reply::Json { status: 200, .. }));
}

#[tokio::test]
async fn bodies_that_are_not_greenhouse_hooks_are_a_clear_4xx() {
    for body in [&b"not json"[..], b"[1,2]", b"{\"payload\":{}}"] {
        let r = decode(&signed(body, "d-5"), body).await;
        assert!(
            matches!(
                r,
                Err(Rejection::MalformedJson(_) | Rejection::Malformed(_))
            ),
            "{r:?}"
        );
    }
}

proptest! {
    #[test]
    fn no_body_or_signature_panics(body in proptest::collection::vec(any::<u8>(), 0..512), sig in ".{0,80}") {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let mut h = headers(&[]);
        if let Ok(v) = HeaderValue::from_str(&sig) {
            h.insert("signature", v);
        }
        let _ = rt.block_on(decode(&h, &body));
        let _ = rt.block_on(decode(&signed(&body, "p"), &body));
    }

    #[test]
    fn no_json_panics_the_mapping(v in arb_json()) {
        let cfg = match Examples.sandbox(SECRET, &Url::parse("http://x").unwrap()).config {
            SourceConfig::Greenhouse(c) => c,
            _ => unreachable!(),
        };
        let _ = map(&json!({"action": "hire_candidate", "payload": {"application": v}}), "k", &cfg, "US");
    }
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        ".{0,20}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("candidate".to_owned()),
                    Just("jobs".to_owned()),
                    Just("offer".to_owned()),
                    Just("first_name".to_owned()),
                    Just("email_addresses".to_owned()),
                    Just("value".to_owned()),
                    Just("custom_fields".to_owned()),
                    "[a-z]{1,6}"
                ],
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}
