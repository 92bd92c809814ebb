use std::time::SystemTime;

use axum::http::{HeaderMap, HeaderValue, Method, Uri};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::domain::EmploymentType;

const SECRET: &str = "lever-signature-token";

fn config() -> LeverSource {
    let SourceConfig::Lever(cfg) = Examples
        .sandbox(SECRET, &Url::parse("http://127.0.0.1:9/lever").unwrap())
        .config
    else {
        unreachable!()
    };
    cfg
}

/// One source for all tests (building a client is the slow part of a proptest case).
fn source() -> &'static Lever {
    static SOURCE: std::sync::OnceLock<Lever> = std::sync::OnceLock::new();
    SOURCE.get_or_init(|| Lever::new("lever", &config(), "US", reqwest::Client::new()))
}

fn json_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h
}

fn example_body() -> Value {
    serde_json::from_str(EXAMPLE).unwrap()
}

fn now_ms() -> i64 {
    unix_millis(SystemTime::now())
}

async fn decode_with(h: &HeaderMap, body: &[u8]) -> Result<Decoded, Rejection> {
    let uri: Uri = "/v1/webhooks/lever".parse().unwrap();
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

async fn decode(body: &[u8]) -> Result<Decoded, Rejection> {
    decode_with(&json_headers(), body).await
}

fn opportunity() -> Value {
    let v: Value = serde_json::from_str(EXAMPLE_OPPORTUNITY).unwrap();
    v["data"].clone()
}

fn posting() -> Value {
    let v: Value = serde_json::from_str(EXAMPLE_POSTING).unwrap();
    v["data"].clone()
}

fn request() -> Value {
    json!({"opportunity_id": "250d8f03-738a-4bba-a671-8a3d73477145",
           "contact_id": "7f23e772-f2cf-4ba6-8ec2-2a9b1c8c6b4c", "event_id": "tok-1"})
}

fn opts(types: &EmploymentTypes) -> MapOptions<'_> {
    MapOptions {
        employment_types: types,
        require_archived: true,
        phone_region: "US",
    }
}

#[tokio::test]
async fn the_documented_hire_is_stored_to_fetch_the_opportunity() {
    let ex = Examples.example(SECRET, &Url::parse("http://x").unwrap(), SystemTime::now());
    assert!(ex.headers.is_empty(), "Lever signs in the body");
    let d = decode(&ex.body).await.unwrap();
    assert_eq!(d.items.len(), 1);
    let token = example_body()["token"].as_str().unwrap().to_owned();
    assert_eq!(d.items[0].dedupe_key, token);
    match &d.items[0].content {
        Content::Fetch { request, raw } => {
            assert_eq!(
                request["opportunity_id"],
                "250d8f03-738a-4bba-a671-8a3d73477145"
            );
            assert_eq!(
                request["contact_id"],
                "7f23e772-f2cf-4ba6-8ec2-2a9b1c8c6b4c"
            );
            assert_eq!(request["event_id"], token.as_str());
            assert!(raw.contains("candidateHired"));
        }
        other => panic!("expected a fetch: {other:?}"),
    }
}

#[tokio::test]
async fn a_resend_at_another_time_has_the_same_fingerprint_other_data_does_not() {
    let body = example_body();
    let a = decode(&sign_body(SECRET, &body, now_ms())).await.unwrap();
    let b = decode(&sign_body(SECRET, &body, now_ms() - 1_000))
        .await
        .unwrap();
    assert_eq!(a.items[0].dedupe_key, b.items[0].dedupe_key);
    assert_eq!(a.items[0].fingerprint, b.items[0].fingerprint);
    // The same signed token with another opportunity: the data is not signed, so it verifies,
    // but it is told apart from the original.
    let mut other = body.clone();
    other["data"]["opportunityId"] = json!("someone-else");
    let c = decode(&sign_body(SECRET, &other, now_ms())).await.unwrap();
    assert_eq!(a.items[0].dedupe_key, c.items[0].dedupe_key);
    assert_ne!(a.items[0].fingerprint, c.items[0].fingerprint);
}

#[test]
fn a_reused_token_with_other_data_is_answered_as_a_replay() {
    let s = source();
    let r = s.respond(&[ItemOutcome::Conflict {
        event_id: "e".into(),
    }]);
    assert!(
        matches!(r, Err(Rejection::Auth(AuthError::Replayed))),
        "{r:?}"
    );
    assert_eq!(AuthError::Replayed.status(), 401);
    let r = s
        .respond(&[ItemOutcome::Duplicate {
            event_id: "e".into(),
        }])
        .unwrap();
    assert!(matches!(r, Reply::Json { status: 200, .. }));
    let r = s
        .respond(&[ItemOutcome::Accepted {
            event_id: "e".into(),
        }])
        .unwrap();
    assert!(matches!(r, Reply::Json { status: 202, .. }));
}

#[tokio::test]
async fn signatures_cover_the_token_and_the_time() {
    let body = example_body();
    let ts = now_ms();
    assert!(decode(&sign_body(SECRET, &body, ts)).await.is_ok());
    // Another key.
    assert!(matches!(
        decode(&sign_body("another-token", &body, ts)).await,
        Err(Rejection::Auth(AuthError::BadSignature))
    ));
    // The signature of another time.
    let mut v: Value = serde_json::from_slice(&sign_body(SECRET, &body, ts)).unwrap();
    v["triggeredAt"] = json!(ts - 1);
    assert!(matches!(
        decode(&serde_json::to_vec(&v).unwrap()).await,
        Err(Rejection::Auth(AuthError::BadSignature))
    ));
    // The signature of another token.
    let mut v: Value = serde_json::from_slice(&sign_body(SECRET, &body, ts)).unwrap();
    v["token"] = json!("another-delivery");
    assert!(matches!(
        decode(&serde_json::to_vec(&v).unwrap()).await,
        Err(Rejection::Auth(AuthError::BadSignature))
    ));
    // Not hex.
    let mut v: Value = serde_json::from_slice(&sign_body(SECRET, &body, ts)).unwrap();
    v["signature"] = json!("not-hex");
    assert!(matches!(
        decode(&serde_json::to_vec(&v).unwrap()).await,
        Err(Rejection::Auth(AuthError::BadSignature))
    ));
    // Correctly signed, an hour old, or an hour ahead.
    for t in [ts - 3_600_000, ts + 3_600_000] {
        assert!(matches!(
            decode(&sign_body(SECRET, &body, t)).await,
            Err(Rejection::Auth(AuthError::TimestampOutOfWindow))
        ));
    }
    // Inside the window.
    assert!(
        decode(&sign_body(SECRET, &body, ts - 200_000))
            .await
            .is_ok()
    );
    // triggeredAt as a string of digits is signed the same way.
    let mut v: Value = serde_json::from_slice(&sign_body(SECRET, &body, ts)).unwrap();
    v["triggeredAt"] = json!(ts.to_string());
    assert!(decode(&serde_json::to_vec(&v).unwrap()).await.is_ok());
    // Missing or misshapen credentials.
    for field in ["token", "triggeredAt", "signature"] {
        let mut v: Value = serde_json::from_slice(&sign_body(SECRET, &body, ts)).unwrap();
        v.as_object_mut().unwrap().remove(field);
        assert!(
            matches!(
                decode(&serde_json::to_vec(&v).unwrap()).await,
                Err(Rejection::Auth(AuthError::MissingCredentials(_)))
            ),
            "{field}"
        );
    }
    let mut v: Value = serde_json::from_slice(&sign_body(SECRET, &body, ts)).unwrap();
    v["triggeredAt"] = json!(1.5);
    assert!(matches!(
        decode(&serde_json::to_vec(&v).unwrap()).await,
        Err(Rejection::Auth(AuthError::MalformedCredentials(_)))
    ));
}

#[tokio::test]
async fn the_signature_matches_the_documented_composition() {
    // hex HMAC-SHA256(key, token ‖ triggeredAt), computed independently.
    use hmac::{KeyInit, Mac};
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"k").unwrap();
    m.update(b"abc1459287854738");
    assert_eq!(
        signature("k", "abc", "1459287854738"),
        hex::encode(m.finalize().into_bytes())
    );
    // The fixture's own signature (computed apart) under the sandbox secret.
    let body = example_body();
    assert_eq!(
        signature(
            &crate::sources::sandbox_secret(SourceKind::Lever),
            body["token"].as_str().unwrap(),
            &body["triggeredAt"].to_string(),
        ),
        body["signature"].as_str().unwrap()
    );
}

#[tokio::test]
async fn other_events_are_ignored() {
    for event in [
        "candidateStageChange",
        "candidateArchiveChange",
        "applicationCreated",
    ] {
        let mut body = example_body();
        body["event"] = json!(event);
        let d = decode(&sign_body(SECRET, &body, now_ms())).await.unwrap();
        match &d.items[0].content {
            Content::Ignored { reason, .. } => assert!(reason.contains(event)),
            other => panic!("{event}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn bad_bodies_are_refused_clearly() {
    assert!(matches!(
        decode(b"{\"token\": ").await,
        Err(Rejection::MalformedJson(_))
    ));
    assert!(matches!(decode(b"[1]").await, Err(Rejection::Malformed(_))));
    let mut h = HeaderMap::new();
    h.insert("content-type", HeaderValue::from_static("text/plain"));
    let ex = sign_body(SECRET, &example_body(), now_ms());
    assert!(matches!(
        decode_with(&h, &ex).await,
        Err(Rejection::UnsupportedMediaType(_))
    ));
    // Signed, but no event.
    let mut body = example_body();
    body.as_object_mut().unwrap().remove("event");
    assert!(matches!(
        decode(&sign_body(SECRET, &body, now_ms())).await,
        Err(Rejection::Malformed(_))
    ));
    // A hire without its opportunity.
    let mut body = example_body();
    body["data"] = json!({"candidateId": "x"});
    match decode(&sign_body(SECRET, &body, now_ms())).await {
        Err(Rejection::Unmappable(errors)) => {
            assert_eq!(errors[0].pointer, "/data/opportunityId");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_documented_opportunity_maps_field_by_field() {
    let h = map(
        &opportunity(),
        &posting(),
        &request(),
        &opts(&EmploymentTypes::new()),
    )
    .unwrap();
    assert_eq!(h.event_id, "tok-1");
    assert_eq!(h.person.first_name, "Shane");
    assert_eq!(h.person.last_name, "Smith");
    assert_eq!(h.person.email.unwrap().as_str(), "shane@exampleq3.com");
    // The mobile entry, not the first.
    assert_eq!(h.person.phone.unwrap().as_str(), "+15125550144");
    assert_eq!(
        h.person.external_id.as_deref(),
        Some("7f23e772-f2cf-4ba6-8ec2-2a9b1c8c6b4c")
    );
    assert_eq!(h.occurred_at.as_deref(), Some("2014-12-03T06:26:48Z"));
    assert_eq!(h.job.title.as_deref(), Some("Forklift Driver"));
    assert_eq!(h.job.department.as_deref(), Some("Warehouse"));
    assert_eq!(h.job.location.as_deref(), Some("Austin, TX"));
    assert_eq!(h.job.employment_type, Some(EmploymentType::FullTime));
    assert_eq!(h.job.start_date, None);
    assert_eq!(
        h.attributes["opportunity_id"],
        "250d8f03-738a-4bba-a671-8a3d73477145"
    );
    assert_eq!(
        h.attributes["posting_id"],
        "f2f01e16-27f8-4711-a728-7d49499795a0"
    );
    assert_eq!(h.attributes["tags"], "Austin, Full-time, Warehouse");
    assert_eq!(h.attributes["team"], "Operations");
    assert_eq!(h.attributes["level"], "Associate");
    assert_eq!(h.attributes["candidate_location"], "Austin, TX");
    assert!(h.attributes["headline"].starts_with("Brickly LLC"));
}

#[test]
fn without_a_posting_the_job_is_what_the_opportunity_says() {
    let h = map(
        &opportunity(),
        &Value::Null,
        &request(),
        &opts(&EmploymentTypes::new()),
    )
    .unwrap();
    assert_eq!(h.job.title, None);
    assert_eq!(h.job.location.as_deref(), Some("Austin, TX"));
    assert_eq!(h.job.employment_type, None);
    // No contact on the opportunity: the webhook's contactId.
    let mut o = opportunity();
    o.as_object_mut().unwrap().remove("contact");
    let h = map(&o, &Value::Null, &request(), &opts(&EmploymentTypes::new())).unwrap();
    assert_eq!(
        h.person.external_id.as_deref(),
        Some("7f23e772-f2cf-4ba6-8ec2-2a9b1c8c6b4c")
    );
}

#[test]
fn commitments_map_through_employment_types() {
    let mut p = posting();
    p["categories"]["commitment"] = json!("Per diem");
    let errors = map(
        &opportunity(),
        &p,
        &request(),
        &opts(&EmploymentTypes::new()),
    )
    .unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].pointer, "/posting/categories/commitment");
    let types = EmploymentTypes::from([("Per diem".to_owned(), EmploymentType::Temporary)]);
    let h = map(&opportunity(), &p, &request(), &opts(&types)).unwrap();
    assert_eq!(h.job.employment_type, Some(EmploymentType::Temporary));
}

#[test]
fn problems_point_at_lever_fields() {
    let o = json!({"id": "o1", "name": "Cher", "emails": [], "phones": [],
                   "archived": {"archivedAt": 1417588008779_i64}});
    let errors = map(&o, &Value::Null, &request(), &opts(&EmploymentTypes::new())).unwrap_err();
    let pointers: Vec<&str> = errors.iter().map(|e| e.pointer.as_str()).collect();
    assert!(pointers.contains(&"/opportunity/name"), "{errors:?}");
    let contact = errors
        .iter()
        .find(|e| e.message.contains("/opportunity/emails"))
        .expect("no contact reported");
    assert!(
        contact.message.contains("/opportunity/phones"),
        "{errors:?}"
    );
    // Not archived: not a hire while require_archived holds.
    let mut o = opportunity();
    o["archived"] = Value::Null;
    let errors = map(&o, &posting(), &request(), &opts(&EmploymentTypes::new())).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].pointer, "/opportunity/archived");
    let none = EmploymentTypes::new();
    let lax = MapOptions {
        require_archived: false,
        ..opts(&none)
    };
    let h = map(&o, &posting(), &request(), &lax).unwrap();
    assert_eq!(h.occurred_at, None);
    // No opportunity at all.
    let errors = map(
        &json!("nope"),
        &Value::Null,
        &request(),
        &opts(&EmploymentTypes::new()),
    )
    .unwrap_err();
    assert_eq!(errors[0].pointer, "/opportunity");
}

#[test]
fn the_posting_is_read_from_the_expanded_applications() {
    assert_eq!(
        posting_id(&opportunity()),
        Some("f2f01e16-27f8-4711-a728-7d49499795a0")
    );
    // Not expanded (ids only): no posting to read.
    assert_eq!(posting_id(&json!({"applications": ["a1"]})), None);
    assert_eq!(data_of(json!({"data": {"id": 1}})), json!({"id": 1}));
}

#[test]
fn the_sandbox_serves_what_the_example_fetches() {
    let s = Examples.sandbox(SECRET, &Url::parse("http://127.0.0.1:9/lever").unwrap());
    let paths: Vec<&str> = s.routes.iter().map(|(_, p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/opportunities/250d8f03-738a-4bba-a671-8a3d73477145",
            "/postings/f2f01e16-27f8-4711-a728-7d49499795a0"
        ]
    );
    let cfg = config();
    let f = OpportunityFetcher::new("lever", &cfg, "US", reqwest::Client::new());
    let url = f
        .api
        .url(&["opportunities", "a/b"], &[("expand", "applications")]);
    assert_eq!(
        url.as_str(),
        "http://127.0.0.1:9/lever/opportunities/a%2Fb?expand=applications"
    );
}

proptest! {
    #[test]
    fn no_request_panics_the_verifier_or_the_decoder(
        body in proptest::collection::vec(any::<u8>(), 0..400),
        token in ".{0,30}",
        ts in any::<i64>(),
        event in prop_oneof![Just("candidateHired".to_owned()), ".{0,20}"],
        data in prop_oneof![Just(Value::Null), ".{0,10}".prop_map(Value::String), Just(json!({"opportunityId": 5}))],
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let _ = rt.block_on(decode(&body));
        let v = json!({"token": token, "event": event, "data": data});
        let _ = rt.block_on(decode(&sign_body(SECRET, &v, ts)));
        let _ = rt.block_on(decode(&sign_body(SECRET, &v, now_ms())));
        let mut v = v;
        v["triggeredAt"] = json!(token);
        v["signature"] = json!(event);
        let _ = rt.block_on(decode(&serde_json::to_vec(&v).unwrap()));
    }

    #[test]
    fn no_opportunity_panics_the_mapping(
        fields in proptest::collection::btree_map(
            prop_oneof![Just("name"), Just("emails"), Just("phones"), Just("contact"), Just("archived"), Just("location"), Just("tags"), Just("id"), Just("applications")],
            prop_oneof![
                ".{0,20}".prop_map(Value::String),
                any::<i64>().prop_map(|n| json!(n)),
                Just(Value::Null),
                proptest::collection::vec(".{0,12}", 0..3).prop_map(|v| json!(v)),
                (".{0,12}", ".{0,12}").prop_map(|(t, v)| json!([{"type": t, "value": v}])),
                any::<i64>().prop_map(|n| json!({"archivedAt": n})),
            ],
            0..9,
        ),
        commitment in prop_oneof![Just(Value::Null), ".{0,12}".prop_map(Value::String)],
        require_archived in any::<bool>(),
    ) {
        let o = Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect());
        let p = json!({"text": "T", "categories": {"commitment": commitment}});
        let types = EmploymentTypes::new();
        let opts = MapOptions { employment_types: &types, require_archived, phone_region: "US" };
        let _ = posting_id(&o);
        let _ = map(&o, &p, &request(), &opts);
        let _ = map(&o, &Value::Null, &json!(null), &opts);
    }
}
