use std::time::{Duration, SystemTime};

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::domain::EmploymentType;
use crate::remote::Open;
use crate::simulator::VendorApi;

const SECRET: &str = "ashby-secret-token";

fn config(api: Option<&str>) -> AshbySource {
    let base = Url::parse(api.unwrap_or("http://127.0.0.1:9/ashby")).unwrap();
    let SourceConfig::Ashby(mut cfg) = Examples.sandbox(SECRET, &base).config else {
        unreachable!()
    };
    if api.is_none() {
        cfg.api = None;
    }
    cfg
}

fn source(api: Option<&str>) -> Ashby {
    Ashby::new("ashby", &config(api), "US", reqwest::Client::new())
}

fn headers(pairs: &[(&str, String)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    for (k, v) in pairs {
        h.insert(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

fn signed(body: &[u8]) -> HeaderMap {
    headers(&[("ashby-signature", signature(SECRET, body))])
}

async fn decode_with(
    src: &Ashby,
    h: &HeaderMap,
    body: &[u8],
    at: SystemTime,
) -> Result<Decoded, Rejection> {
    let uri: Uri = "/v1/webhooks/ashby".parse().unwrap();
    src.decode(&WebhookRequest {
        method: &Method::POST,
        uri: &uri,
        headers: h,
        body,
        received_at: at,
    })
    .await
}

async fn decode(h: &HeaderMap, body: &[u8]) -> Result<Decoded, Rejection> {
    decode_with(&source(None), h, body, SystemTime::now()).await
}

fn example() -> Value {
    serde_json::from_str(EXAMPLE).unwrap()
}

fn hire_of(d: Decoded) -> Hire {
    match d.items.into_iter().next().unwrap().content {
        Content::Hire(h) => *h,
        other => panic!("expected a hire: {other:?}"),
    }
}

fn unmappable(r: Result<Decoded, Rejection>) -> Vec<FieldError> {
    match r {
        Err(Rejection::Unmappable(e)) => e,
        other => panic!("expected unmappable: {other:?}"),
    }
}

#[tokio::test]
async fn the_documented_hire_is_mapped_field_by_field() {
    let ex = Examples.example(SECRET, &Url::parse("http://x").unwrap(), SystemTime::now());
    assert_eq!(ex.headers[0].0, "Ashby-Signature");
    assert!(ex.headers[0].1.starts_with("sha256="));
    let pairs: Vec<(&str, String)> = ex
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    let d = decode(&headers(&pairs), &ex.body).await.unwrap();
    assert_eq!(d.items.len(), 1);
    assert_eq!(
        d.items[0].dedupe_key,
        "candidateHire/75395d87-4044-4dc4-bc29-0cec185e5f06"
    );
    assert_eq!(d.items[0].fingerprint, fingerprint(&example()));
    let h = hire_of(d);
    assert_eq!(
        h.event_id,
        "candidateHire/75395d87-4044-4dc4-bc29-0cec185e5f06"
    );
    assert_eq!(h.event_type, "hire.created");
    assert_eq!(h.occurred_at.as_deref(), Some("2026-11-19T18:30:00.000Z"));
    assert_eq!(h.person.first_name, "Adam");
    assert_eq!(h.person.last_name, "Hart");
    assert_eq!(h.person.email.unwrap().as_str(), "adam.hart@example.com");
    assert_eq!(h.person.phone.unwrap().as_str(), "+15125550142");
    assert_eq!(
        h.person.external_id.as_deref(),
        Some("5b591aa4-7e1c-4c4a-a0a8-8bd1fc8e2f11")
    );
    assert_eq!(h.job.title.as_deref(), Some("Forklift Driver"));
    assert_eq!(h.job.start_date.as_deref(), Some("2026-12-01"));
    assert_eq!(h.job.manager_email.unwrap().as_str(), "lead@example.com");
    assert_eq!(h.job.employment_type, None);
    // Without api, no names: the ids are there for rules.
    assert_eq!(h.job.department, None);
    assert_eq!(h.job.location, None);
    assert_eq!(
        h.attributes["department_id"],
        "1be42b8e-cafd-4beb-8121-f4981eb20f42"
    );
    assert_eq!(
        h.attributes["location_id"],
        "0d1f47a1-6e3b-4a32-9c7e-5b2e8f4a6c10"
    );
    assert_eq!(
        h.attributes["application_id"],
        "3ae2b801-19f6-41ef-ad28-214bd731948f"
    );
    assert_eq!(
        h.attributes["job_id"],
        "4071538b-3cac-4fbf-ac76-f78ed250ffdd"
    );
    assert_eq!(h.attributes["source"], "Applied");
    assert!(source(None).fetcher().is_none());
}

#[tokio::test]
async fn with_api_the_hire_is_stored_to_resolve_its_names() {
    let src = source(Some("http://127.0.0.1:9/ashby"));
    assert!(src.fetcher().is_some());
    let body = EXAMPLE.as_bytes();
    let d = decode_with(&src, &signed(body), body, SystemTime::now())
        .await
        .unwrap();
    let Content::Fetch { request, raw } = &d.items[0].content else {
        panic!("expected a fetch: {:?}", d.items[0].content)
    };
    assert!(raw.contains("candidateHire"));
    assert_eq!(
        request["department_id"],
        "1be42b8e-cafd-4beb-8121-f4981eb20f42"
    );
    assert_eq!(
        request["location_id"],
        "0d1f47a1-6e3b-4a32-9c7e-5b2e8f4a6c10"
    );
    assert_eq!(request["hire"]["person"]["first_name"], "Adam");
    let hire = complete(
        request,
        &json!({"department": "Warehouse", "location": "Austin, TX"}),
        "US",
    )
    .unwrap();
    assert_eq!(hire.job.department.as_deref(), Some("Warehouse"));
    assert_eq!(hire.job.location.as_deref(), Some("Austin, TX"));
    assert_eq!(hire.person.phone.unwrap().as_str(), "+15125550142");
    assert_eq!(hire.event_id, d.items[0].dedupe_key);
    // A name Ashby answers that cannot be a department is pointed at in Ashby's answer.
    let errors = complete(request, &json!({"department": "Ware\u{7}house"}), "US").unwrap_err();
    assert_eq!(errors[0].pointer, "/department.info/results/name");
    // A hire with no ids has nothing to resolve: it goes through at once.
    let mut b = example();
    b["data"]["application"]["job"] = json!({"id": "j", "title": "Picker"});
    let bytes = serde_json::to_vec(&b).unwrap();
    let d = decode_with(&src, &signed(&bytes), &bytes, SystemTime::now())
        .await
        .unwrap();
    assert!(matches!(d.items[0].content, Content::Hire(_)));
}

#[tokio::test]
async fn the_fetcher_posts_basic_auth_and_caches_the_names() {
    let api = VendorApi::new();
    let addr = api.spawn().await.unwrap();
    let base = format!("http://{addr}/ashby");
    for (m, path, body) in Examples.sandbox(SECRET, &Url::parse(&base).unwrap()).routes {
        api.route(m, &format!("/ashby{path}"), body);
    }
    let src = source(Some(&base));
    let fetcher = src.fetcher().unwrap();
    let body = EXAMPLE.as_bytes();
    let d = decode_with(&src, &signed(body), body, SystemTime::now())
        .await
        .unwrap();
    let Content::Fetch { request, .. } = &d.items[0].content else {
        panic!("expected a fetch")
    };
    let got = fetcher.fetch(request, Arc::new(Open)).await.unwrap();
    assert_eq!(
        got.value,
        json!({"department": "Warehouse", "location": "Austin, TX"})
    );
    let hire = fetcher.map(request, &got.value).unwrap();
    assert_eq!(hire.job.department.as_deref(), Some("Warehouse"));
    assert_eq!(hire.job.location.as_deref(), Some("Austin, TX"));
    let calls = api.requests();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0].method, "POST");
    assert_eq!(calls[0].path, "/ashby/department.info");
    assert_eq!(
        calls[0].body,
        Some(json!({"departmentId": "1be42b8e-cafd-4beb-8121-f4981eb20f42"}))
    );
    assert_eq!(calls[1].path, "/ashby/location.info");
    assert_eq!(
        calls[1].body,
        Some(json!({"locationId": "0d1f47a1-6e3b-4a32-9c7e-5b2e8f4a6c10"}))
    );
    // The API key as the basic-auth user, an empty password.
    use base64::Engine as _;
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("sandbox-ashby-api-key:")
    );
    assert_eq!(calls[0].authorization.as_deref(), Some(expected.as_str()));
    // The names are cached: a second hire for the same job asks nothing.
    let again = fetcher.fetch(request, Arc::new(Open)).await.unwrap();
    assert_eq!(again.value, got.value);
    assert_eq!(api.requests().len(), 2);
}

#[tokio::test]
async fn ashby_errors_are_classed() {
    let api = VendorApi::new();
    let addr = api.spawn().await.unwrap();
    let base = format!("http://{addr}/ashby");
    api.route(
        Method::POST,
        "/ashby/department.info",
        json!({"success": false, "errors": ["department_not_found"],
               "errorInfo": {"code": "department_not_found"}}),
    );
    api.route(
        Method::POST,
        "/ashby/location.info",
        json!({"success": false, "errorInfo": {"code": "rate_limit_exceeded"}}),
    );
    let fetcher = source(Some(&base)).fetcher().unwrap();
    let e = fetcher
        .fetch(&json!({"department_id": "d1"}), Arc::new(Open))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ApiError::Refused { detail, .. } if detail == "department.info: department_not_found"),
        "{e:?}"
    );
    let e = fetcher
        .fetch(&json!({"location_id": "l1"}), Arc::new(Open))
        .await
        .unwrap_err();
    assert!(matches!(e, ApiError::RateLimited { .. }), "{e:?}");
    // A 503 is retryable, and nothing is cached from a failure.
    api.fail(1, 503, None);
    let e = fetcher
        .fetch(&json!({"department_id": "d2"}), Arc::new(Open))
        .await
        .unwrap_err();
    assert!(matches!(e, ApiError::Unavailable { .. }), "{e:?}");
    // An answer without a name leaves the field empty.
    api.route(
        Method::POST,
        "/ashby/department.info",
        json!({"success": true, "results": {"id": "d3"}}),
    );
    let got = fetcher
        .fetch(&json!({"department_id": "d3"}), Arc::new(Open))
        .await
        .unwrap();
    assert_eq!(got.value, json!({}));
}

#[tokio::test]
async fn signatures_are_checked_over_the_raw_body() {
    let body = EXAMPLE.as_bytes();
    assert!(decode(&signed(body), body).await.is_ok());
    // Another secret.
    let h = headers(&[("ashby-signature", signature("another", body))]);
    assert!(matches!(
        decode(&h, body).await,
        Err(Rejection::Auth(AuthError::BadSignature))
    ));
    // The body changed after signing (even only its formatting).
    let mut changed = body.to_vec();
    changed.push(b'\n');
    assert!(matches!(
        decode(&signed(body), &changed).await,
        Err(Rejection::Auth(AuthError::BadSignature))
    ));
    // No header: an Ashby webhook saved without a secret token.
    assert!(matches!(
        decode(&headers(&[]), body).await,
        Err(Rejection::Auth(AuthError::MissingCredentials(_)))
    ));
    // Another scheme, or not hex.
    let hex = signature(SECRET, body)
        .trim_start_matches("sha256=")
        .to_owned();
    for bad in [format!("sha1={hex}"), hex.clone(), "sha256=zz".to_owned()] {
        let h = headers(&[("ashby-signature", bad.clone())]);
        assert!(
            matches!(decode(&h, body).await, Err(Rejection::Auth(_))),
            "{bad}"
        );
    }
    // The scheme's case does not matter.
    let h = headers(&[("ashby-signature", format!("SHA256={hex}"))]);
    assert!(decode(&h, body).await.is_ok());
    // Checked before anything is parsed: unsigned garbage is an auth failure, not a 400.
    assert!(matches!(
        decode(&headers(&[("ashby-signature", "sha256=00".into())]), b"{").await,
        Err(Rejection::Auth(_))
    ));
}

#[tokio::test]
async fn ashby_signs_no_timestamp_so_a_late_repeat_is_the_same_event() {
    // Ashby's scheme has no timestamp to hold against a window: an old, correctly signed
    // request decodes to the same dedupe key, which intake answers as a duplicate.
    let body = EXAMPLE.as_bytes();
    let now = decode_with(&source(None), &signed(body), body, SystemTime::now())
        .await
        .unwrap();
    let old = decode_with(
        &source(None),
        &signed(body),
        body,
        SystemTime::now() - Duration::from_secs(30 * 86_400),
    )
    .await
    .unwrap();
    assert_eq!(now.items[0].dedupe_key, old.items[0].dedupe_key);
    assert_eq!(now.items[0].fingerprint, old.items[0].fingerprint);
}

#[tokio::test]
async fn pings_and_other_actions_are_ignored() {
    let bodies = [
        ping(),
        json!({"action": "candidateStageChange", "webhookActionId": "w-2",
               "data": {"application": example()["data"]["application"].clone()}}),
        json!({"action": "applicationUpdate", "webhookActionId": "w-3", "data": {}}),
    ];
    for b in bodies {
        let bytes = serde_json::to_vec(&b).unwrap();
        let d = decode(&signed(&bytes), &bytes).await.unwrap();
        let item = &d.items[0];
        assert!(
            matches!(&item.content, Content::Ignored { reason, .. } if reason.contains("not a hire")),
            "{item:?}"
        );
        let action = b["action"].as_str().unwrap();
        assert!(item.dedupe_key.starts_with(&format!("{action}/")));
    }
    // A ping has no action id: its key is its digest, the same for its repeats.
    let bytes = serde_json::to_vec(&ping()).unwrap();
    let d = decode(&signed(&bytes), &bytes).await.unwrap();
    assert_eq!(
        d.items[0].dedupe_key,
        format!("ping/{}", fingerprint(&ping()))
    );
}

#[tokio::test]
async fn the_key_is_action_and_id_or_a_digest_or_the_idempotency_key() {
    // The same action id under another action is another event.
    let mut b = example();
    b["action"] = json!("applicationUpdate");
    let bytes = serde_json::to_vec(&b).unwrap();
    let d = decode(&signed(&bytes), &bytes).await.unwrap();
    assert_eq!(
        d.items[0].dedupe_key,
        "applicationUpdate/75395d87-4044-4dc4-bc29-0cec185e5f06"
    );
    // No webhookActionId: a digest of the body.
    let mut b = example();
    b.as_object_mut().unwrap().remove("webhookActionId");
    let bytes = serde_json::to_vec(&b).unwrap();
    let d = decode(&signed(&bytes), &bytes).await.unwrap();
    assert_eq!(
        d.items[0].dedupe_key,
        format!("candidateHire/{}", fingerprint(&b))
    );
    // An Idempotency-Key header takes precedence.
    let body = EXAMPLE.as_bytes();
    let mut h = signed(body);
    h.insert("idempotency-key", HeaderValue::from_static("idem-1"));
    let d = decode(&h, body).await.unwrap();
    assert_eq!(d.items[0].dedupe_key, "idem-1");
}

#[tokio::test]
async fn malformed_bodies_are_refused_clearly() {
    let bad = b"{\"action\": ";
    assert!(matches!(
        decode(&signed(bad), bad).await,
        Err(Rejection::MalformedJson(_))
    ));
    let no_action = br#"{"data": {}}"#;
    assert!(matches!(
        decode(&signed(no_action), no_action).await,
        Err(Rejection::Malformed(_))
    ));
    let h = headers(&[
        ("content-type", "text/plain".into()),
        ("ashby-signature", signature(SECRET, no_action)),
    ]);
    assert!(matches!(
        decode(&h, no_action).await,
        Err(Rejection::UnsupportedMediaType(_))
    ));
    // A hire with no application: every required field named at Ashby's.
    let empty = br#"{"action": "candidateHire", "webhookActionId": "w", "data": {}}"#;
    let errors = unmappable(decode(&signed(empty), empty).await);
    let pointers: Vec<&str> = errors.iter().map(|e| e.pointer.as_str()).collect();
    assert!(
        pointers.contains(&"/data/application/candidate/name"),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e
            .message
            .contains("/data/application/candidate/primaryEmailAddress/value")
            && e.message
                .contains("/data/application/candidate/primaryPhoneNumber/value")),
        "{errors:?}"
    );
}

#[tokio::test]
async fn a_one_word_name_is_the_first_name_and_the_last_is_reported() {
    let mut b = example();
    b["data"]["application"]["candidate"]["name"] = json!("Cher");
    let bytes = serde_json::to_vec(&b).unwrap();
    let errors = unmappable(decode(&signed(&bytes), &bytes).await);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].pointer, "/data/application/candidate/name");
    // Several words: the last one is the last name.
    b["data"]["application"]["candidate"]["name"] = json!("Mary Ann Lee");
    let bytes = serde_json::to_vec(&b).unwrap();
    let h = hire_of(decode(&signed(&bytes), &bytes).await.unwrap());
    assert_eq!(
        (h.person.first_name.as_str(), h.person.last_name.as_str()),
        ("Mary Ann", "Lee")
    );
}

#[tokio::test]
async fn contact_lists_and_employment_types_are_read() {
    let mut b = example();
    let cand = &mut b["data"]["application"]["candidate"];
    cand.as_object_mut().unwrap().remove("primaryEmailAddress");
    cand.as_object_mut().unwrap().remove("primaryPhoneNumber");
    cand["emailAddresses"] = json!([
        {"value": "work@example.com", "type": "Work", "isPrimary": false},
        {"value": "home@example.com", "type": "Personal", "isPrimary": true}
    ]);
    cand["phoneNumbers"] =
        json!([{"value": "(512) 555-0199", "type": "Other", "isPrimary": false}]);
    b["data"]["application"]["job"]["employmentType"] = json!("PartTime");
    let bytes = serde_json::to_vec(&b).unwrap();
    let h = hire_of(decode(&signed(&bytes), &bytes).await.unwrap());
    assert_eq!(h.person.email.unwrap().as_str(), "home@example.com");
    assert_eq!(h.person.phone.unwrap().as_str(), "+15125550199");
    assert_eq!(h.job.employment_type, Some(EmploymentType::PartTime));
    // Ashby's other values.
    for (label, t) in [
        ("FullTime", EmploymentType::FullTime),
        ("Intern", EmploymentType::Intern),
        ("Contract", EmploymentType::Contract),
        ("Temporary", EmploymentType::Temporary),
    ] {
        b["data"]["application"]["job"]["employmentType"] = json!(label);
        let h = map(&b, "k", "US").unwrap();
        assert_eq!(h.job.employment_type, Some(t), "{label}");
    }
    b["data"]["application"]["job"]["employmentType"] = json!("Per diem");
    let errors = map(&b, "k", "US").unwrap_err();
    assert_eq!(errors[0].pointer, "/data/application/job/employmentType");
    // A bad phone is pointed at where it came from.
    b["data"]["application"]["job"]["employmentType"] = json!("FullTime");
    b["data"]["application"]["candidate"]["phoneNumbers"] =
        json!([{"value": "12", "isPrimary": true}]);
    let errors = map(&b, "k", "US").unwrap_err();
    assert_eq!(
        errors[0].pointer,
        "/data/application/candidate/phoneNumbers/0/value"
    );
}

proptest! {
    #[test]
    fn no_request_panics_the_verifier_or_the_decoder(
        body in proptest::collection::vec(any::<u8>(), 0..400),
        sig in ".{0,80}",
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let mut h = headers(&[]);
        if let Ok(s) = HeaderValue::from_str(&sig) {
            h.insert("ashby-signature", s);
        }
        let _ = rt.block_on(decode(&h, &body));
        // Correctly signed, so the decoder sees it.
        let _ = rt.block_on(decode(&signed(&body), &body));
    }

    #[test]
    fn no_hire_body_panics_the_mapping(
        fields in proptest::collection::btree_map(
            prop_oneof![Just("name"), Just("primaryEmailAddress"), Just("primaryPhoneNumber"),
                        Just("emailAddresses"), Just("phoneNumbers"), Just("id")],
            prop_oneof![
                ".{0,20}".prop_map(Value::String),
                any::<i64>().prop_map(|n| json!(n)),
                ".{0,20}".prop_map(|s| json!({"value": s, "isPrimary": true})),
                ".{0,20}".prop_map(|s| json!([{"value": s}, 3, null])),
                Just(Value::Null),
            ],
            0..6,
        ),
        job in prop_oneof![Just(Value::Null), ".{0,12}".prop_map(|s| json!({"title": s, "employmentType": s, "departmentId": s})), any::<i64>().prop_map(|n| json!(n))],
        team in prop_oneof![Just(Value::Null), ".{0,12}".prop_map(|s| json!([{"role": "Hiring Manager", "email": s}, 7]))],
        start in prop_oneof![Just(Value::Null), ".{0,30}".prop_map(Value::String)],
    ) {
        let cand = Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect());
        let body = json!({"action": "candidateHire", "data": {
            "application": {"candidate": cand, "job": job, "hiringTeam": team},
            "offer": {"latestVersion": {"startDate": start}, "decidedAt": start}}});
        let _ = map(&body, "k", "US");
        let _ = complete(&json!({"hire": body}), &json!({"department": "d"}), "US");
    }
}
