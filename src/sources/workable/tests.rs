use std::time::SystemTime;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::domain::EmploymentType;

const SECRET: &str = "workable-token";

fn cfg() -> WorkableSource {
    let SourceConfig::Workable(cfg) = Examples
        .sandbox(SECRET, &Url::parse("http://unused").unwrap())
        .config
    else {
        unreachable!()
    };
    cfg
}

fn source_with(cfg: &WorkableSource) -> Workable {
    Workable::new("workable", cfg, "US")
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

async fn decode_with(
    cfg: &WorkableSource,
    h: &HeaderMap,
    body: &[u8],
) -> Result<Decoded, Rejection> {
    let uri: Uri = "/v1/webhooks/workable".parse().unwrap();
    source_with(cfg)
        .decode(&WebhookRequest {
            method: &Method::POST,
            uri: &uri,
            headers: h,
            body,
            received_at: SystemTime::now(),
        })
        .await
}

async fn decode(h: &HeaderMap, body: &[u8]) -> Result<Decoded, Rejection> {
    decode_with(&cfg(), h, body).await
}

fn signed(body: &[u8]) -> HeaderMap {
    headers(&[(
        "X-Workable-Signature".into(),
        signature(SECRET, body, SignatureEncoding::Hex),
    )])
}

fn the_hire(d: Decoded) -> Hire {
    match d.items.into_iter().next().unwrap().content {
        Content::Hire(h) => *h,
        other => panic!("not a hire: {other:?}"),
    }
}

fn candidate_moved_to(stage: &str) -> Vec<u8> {
    let mut v: Value = serde_json::from_str(CANDIDATE_EXAMPLE).unwrap();
    v["data"]["stage"] = json!(stage);
    serde_json::to_vec(&v).unwrap()
}

#[tokio::test]
async fn the_documented_employee_maps_field_by_field() {
    let ex = Examples.example(SECRET, &Url::parse("http://x").unwrap(), SystemTime::now());
    let d = decode(&headers(&ex.headers), &ex.body).await.unwrap();
    assert_eq!(d.items[0].dedupe_key, "employee_created/4d3");
    let h = the_hire(d);
    assert_eq!(h.event_type, "hire.created");
    assert_eq!(h.person.first_name, "Obediah");
    assert_eq!(h.person.last_name, "Kydde");
    assert_eq!(h.person.email.unwrap().as_str(), "okydde0@answers.com");
    // Written with its country code: read as Ugandan whatever the source's region.
    assert_eq!(h.person.phone.unwrap().as_str(), "+256773655552");
    assert_eq!(h.person.external_id.as_deref(), Some("4d3"));
    assert_eq!(h.job.title.as_deref(), Some("Software Engineer"));
    assert_eq!(h.job.start_date.as_deref(), Some("2022-09-13"));
    assert_eq!(h.occurred_at.as_deref(), Some("2024-01-08T14:01:06.217Z"));
    assert_eq!(h.attributes["employee_number"], "1");
    assert_eq!(
        h.attributes["legal_entity"],
        "6dd32255-668e-4d7a-9542-086fd65c41b0"
    );
}

#[tokio::test]
async fn a_candidate_moved_into_the_hired_stage_is_a_hire() {
    let body = CANDIDATE_EXAMPLE.as_bytes();
    let d = decode(&signed(body), body).await.unwrap();
    assert_eq!(d.items[0].dedupe_key, "candidate_moved/3fc9a80f/hired");
    let h = the_hire(d);
    assert_eq!(h.person.first_name, "Lakita");
    assert_eq!(h.person.last_name, "Marrero");
    assert_eq!(
        h.person.email.unwrap().as_str(),
        "lakita.marrero@example.com"
    );
    assert_eq!(h.person.phone.unwrap().as_str(), "+15125550147");
    // The job's title, not the candidate's headline.
    assert_eq!(h.job.title.as_deref(), Some("Forklift Driver"));
    assert_eq!(h.attributes["job_shortcode"], "GROOV005");
    assert_eq!(h.attributes["account_subdomain"], "groove-tech");
    assert_eq!(h.attributes["stage"], "hired");

    // The stage compares case-insensitively, and is configurable.
    let body = candidate_moved_to("Hired");
    assert!(matches!(
        decode(&signed(&body), &body).await.unwrap().items[0].content,
        Content::Hire(_)
    ));
    let mut c = cfg();
    c.hired_stage = "offer-accepted".into();
    let body = candidate_moved_to("offer-accepted");
    let d = decode_with(&c, &signed(&body), &body).await.unwrap();
    assert_eq!(
        d.items[0].dedupe_key,
        "candidate_moved/3fc9a80f/offer-accepted"
    );
    assert!(matches!(d.items[0].content, Content::Hire(_)));
}

#[tokio::test]
async fn a_candidate_with_only_a_full_name_is_split() {
    let mut v: Value = serde_json::from_str(CANDIDATE_EXAMPLE).unwrap();
    v["data"]["firstname"] = Value::Null;
    v["data"]["lastname"] = Value::Null;
    v["data"]["name"] = json!("Mary Ann Lee");
    let body = serde_json::to_vec(&v).unwrap();
    let h = the_hire(decode(&signed(&body), &body).await.unwrap());
    assert_eq!(h.person.first_name, "Mary Ann");
    assert_eq!(h.person.last_name, "Lee");
}

#[tokio::test]
async fn other_moves_and_events_are_ignored() {
    let body = candidate_moved_to("interview");
    let d = decode(&signed(&body), &body).await.unwrap();
    let Content::Ignored { reason, .. } = &d.items[0].content else {
        panic!("not ignored: {:?}", d.items[0].content);
    };
    assert!(reason.contains("interview"), "{reason}");
    assert!(
        d.items[0]
            .dedupe_key
            .starts_with("candidate_moved/3fc9a80f/interview/")
    );
    for event in [
        "candidate_created",
        "employee_updated",
        "onboarding_completed",
    ] {
        let body =
            serde_json::to_vec(&json!({"event_type": event, "id": "7", "data": {"id": "7"}}))
                .unwrap();
        let d = decode(&signed(&body), &body).await.unwrap();
        assert!(
            matches!(d.items[0].content, Content::Ignored { .. }),
            "{event}"
        );
    }
}

#[tokio::test]
async fn a_wrong_or_missing_signature_is_refused() {
    let body = EXAMPLE.as_bytes();
    let mut h = signed(body);
    h.insert("x-workable-signature", HeaderValue::from_static("00ff"));
    assert!(matches!(
        decode(&h, body).await,
        Err(Rejection::Auth(AuthError::BadSignature))
    ));
    h.remove("x-workable-signature");
    assert!(matches!(
        decode(&h, body).await,
        Err(Rejection::Auth(AuthError::MissingCredentials(_)))
    ));
    // Signed with another key.
    let h = headers(&[(
        "X-Workable-Signature".into(),
        signature("other", body, SignatureEncoding::Hex),
    )]);
    assert!(matches!(
        decode(&h, body).await,
        Err(Rejection::Auth(AuthError::BadSignature))
    ));
    // A `sha256=` prefix is accepted.
    let h = headers(&[(
        "X-Workable-Signature".into(),
        format!("sha256={}", signature(SECRET, body, SignatureEncoding::Hex)),
    )]);
    assert!(decode(&h, body).await.is_ok());
    // Base64 when configured so, and only then.
    let b64 = headers(&[(
        "X-Workable-Signature".into(),
        signature(SECRET, body, SignatureEncoding::Base64),
    )]);
    assert!(decode(&b64, body).await.is_err());
    let mut c = cfg();
    c.signature_encoding = SignatureEncoding::Base64;
    assert!(decode_with(&c, &b64, body).await.is_ok());
}

#[tokio::test]
async fn a_repeat_is_known_by_its_hire_not_its_bytes() {
    let body = EXAMPLE.as_bytes();
    let first = decode(&signed(body), body).await.unwrap();
    let mut v: Value = serde_json::from_str(EXAMPLE).unwrap();
    v["fired_at"] = json!("2024-01-08T14:05:00.000Z");
    v["data"]["status"] = json!("status_published");
    let again = serde_json::to_vec(&v).unwrap();
    let second = decode(&signed(&again), &again).await.unwrap();
    assert_eq!(first.items[0].dedupe_key, second.items[0].dedupe_key);
    // `fired_at` is the hire's `occurred_at`: the fingerprint differs only by what is read.
    let mut v2: Value = serde_json::from_str(EXAMPLE).unwrap();
    v2["data"]["status"] = json!("status_published");
    let unread = serde_json::to_vec(&v2).unwrap();
    let third = decode(&signed(&unread), &unread).await.unwrap();
    assert_eq!(first.items[0].fingerprint, third.items[0].fingerprint);
    assert_ne!(first.items[0].fingerprint, second.items[0].fingerprint);
}

#[tokio::test]
async fn a_hire_without_contact_points_at_workable_fields() {
    let mut v: Value = serde_json::from_str(EXAMPLE).unwrap();
    v["data"]["personal_email"] = json!([]);
    v["data"]["phone_group"] =
        json!([{"value": {"phone": "12", "phone_type": "phone_type_mobile"}, "is_primary": true}]);
    v["data"]["lastname"] = json!(" ");
    let body = serde_json::to_vec(&v).unwrap();
    let Err(Rejection::Unmappable(errors)) = decode(&signed(&body), &body).await else {
        panic!("expected a mapping error");
    };
    let text = format!("{errors:?}");
    assert!(text.contains("/data/lastname"), "{text}");
    assert!(text.contains("/data/phone_group/0/value/phone"), "{text}");
}

#[tokio::test]
async fn employment_types_are_read_and_unknown_ones_named() {
    let mut v: Value = serde_json::from_str(EXAMPLE).unwrap();
    v["data"]["employment_type"] = json!("employment_type_full_time");
    let body = serde_json::to_vec(&v).unwrap();
    let h = the_hire(decode(&signed(&body), &body).await.unwrap());
    assert_eq!(h.job.employment_type, Some(EmploymentType::FullTime));

    v["data"]["employment_type"] = json!("Zero hours");
    let body = serde_json::to_vec(&v).unwrap();
    let Err(Rejection::Unmappable(errors)) = decode(&signed(&body), &body).await else {
        panic!("expected a mapping error");
    };
    assert_eq!(errors[0].pointer, "/data/employment_type");
}

#[tokio::test]
async fn the_primary_then_mobile_phone_is_taken() {
    let mut v: Value = serde_json::from_str(EXAMPLE).unwrap();
    v["data"]["phone_group"] = json!([
        {"value": {"phone": "(212) 555-0100", "phone_type": "phone_type_home"}},
        {"value": {"phone": "(512) 555-0199", "phone_type": "phone_type_mobile"}},
    ]);
    let body = serde_json::to_vec(&v).unwrap();
    let h = the_hire(decode(&signed(&body), &body).await.unwrap());
    assert_eq!(h.person.phone.unwrap().as_str(), "+15125550199");
}

#[tokio::test]
async fn everything_stored_is_answered_200() {
    let r = source_with(&cfg())
        .respond(&[ItemOutcome::Accepted {
            event_id: "e".into(),
        }])
        .unwrap();
    assert!(matches!(r, Reply::Json { status: 200, .. }));
}

#[tokio::test]
async fn bodies_that_are_not_workable_hooks_are_a_clear_4xx() {
    for body in [
        &b"not json"[..],
        b"[1,2]",
        b"{\"data\":{}}",
        b"{\"event_type\":\"candidate_moved\",\"data\":{\"id\":\"1\"}}",
        b"{\"event_type\":\"employee_created\",\"data\":{}}",
    ] {
        let r = decode(&signed(body), body).await;
        assert!(
            matches!(
                r,
                Err(Rejection::MalformedJson(_)
                    | Rejection::Malformed(_)
                    | Rejection::Unmappable(_))
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
            h.insert("x-workable-signature", v);
        }
        let _ = rt.block_on(decode(&h, &body));
        let _ = rt.block_on(decode(&signed(&body), &body));
    }

    #[test]
    fn no_json_panics_the_mapping(v in arb_json(), employee in any::<bool>()) {
        let event = if employee { EMPLOYEE_CREATED } else { CANDIDATE_MOVED };
        let body = json!({"event_type": event, "data": v});
        let _ = classify(&body, "hired");
        if let Err(errors) = map(&body, "k", &cfg(), "US") {
            prop_assert!(errors.iter().all(|e| e.pointer.starts_with("/data")), "{:?}", errors);
        }
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
                    Just("firstname".to_owned()),
                    Just("lastname".to_owned()),
                    Just("name".to_owned()),
                    Just("personal_email".to_owned()),
                    Just("phone_group".to_owned()),
                    Just("phone".to_owned()),
                    Just("value".to_owned()),
                    Just("job".to_owned()),
                    Just("stage".to_owned()),
                    Just("employment_type".to_owned()),
                    "[a-z]{1,6}"
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}
