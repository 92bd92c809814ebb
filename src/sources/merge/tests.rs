use std::sync::Mutex;
use std::time::SystemTime;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::domain::EmploymentType;
use crate::remote::Open;

const SECRET: &str = "merge-signature-key";

fn config(api: bool) -> MergeSource {
    let SourceConfig::Merge(mut cfg) = Examples
        .sandbox(SECRET, &Url::parse("http://127.0.0.1:9/merge").unwrap())
        .config
    else {
        unreachable!()
    };
    if !api {
        cfg.api = None;
    }
    cfg
}

fn source_with(cfg: &MergeSource) -> Merge {
    Merge::new("merge", cfg, "US", reqwest::Client::new())
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
    headers(&[(SIGNATURE_HEADER, signature(SECRET, body))])
}

async fn decode_with(src: &Merge, h: &HeaderMap, body: &[u8]) -> Result<Decoded, Rejection> {
    let uri: Uri = "/v1/webhooks/merge".parse().unwrap();
    src.decode(&WebhookRequest {
        method: &Method::POST,
        uri: &uri,
        headers: h,
        body,
        received_at: SystemTime::now(),
    })
    .await
}

/// The sandbox's source, with and without `api`, built once (a client is not cheap).
static SOURCES: std::sync::LazyLock<[Merge; 2]> =
    std::sync::LazyLock::new(|| [source_with(&config(false)), source_with(&config(true))]);

async fn decode(api: bool, h: &HeaderMap, body: &[u8]) -> Result<Decoded, Rejection> {
    decode_with(&SOURCES[usize::from(api)], h, body).await
}

fn body_of(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

fn example_body() -> Value {
    serde_json::from_str(EXAMPLE).unwrap()
}

fn mapping() -> Mapping {
    Mapping::of(&config(false))
}

#[tokio::test]
async fn the_documented_example_verifies_and_is_stored_to_fetch() {
    let ex = Examples.example(SECRET, &Url::parse("http://x").unwrap(), SystemTime::now());
    assert_eq!(ex.headers[0].0, "X-Merge-Webhook-Signature");
    let pairs: Vec<(&str, String)> = ex
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    let d = decode(true, &headers(&pairs), &ex.body).await.unwrap();
    assert_eq!(d.items.len(), 1);
    assert_eq!(
        d.items[0].dedupe_key,
        "Employee.added/0958cbc6-6040-430a-848e-aafacbadf4ae"
    );
    match &d.items[0].content {
        Content::Fetch { request, raw } => {
            assert_eq!(
                request["employee_id"],
                "0958cbc6-6040-430a-848e-aafacbadf4ae"
            );
            assert_eq!(request["event_id"], d.items[0].dedupe_key);
            assert_eq!(request["linked_account"]["integration"], "BambooHR");
            assert_eq!(
                request["linked_account"]["end_user_origin_id"],
                "acme-logistics-7"
            );
            assert!(raw.contains("Employee.added"));
        }
        other => panic!("expected a fetch: {other:?}"),
    }
}

#[tokio::test]
async fn without_api_the_webhook_itself_is_the_hire() {
    let body = EXAMPLE.as_bytes();
    let d = decode(false, &signed(body), body).await.unwrap();
    let Content::Hire(h) = &d.items[0].content else {
        panic!("expected a hire: {:?}", d.items[0].content);
    };
    assert_eq!(
        h.event_id,
        "Employee.added/0958cbc6-6040-430a-848e-aafacbadf4ae"
    );
    assert_eq!(h.person.first_name, "Gregory");
    assert_eq!(h.person.last_name, "Hirsch");
    assert_eq!(h.person.email.as_ref().unwrap().as_str(), "greg@merge.dev");
    assert_eq!(h.person.phone.as_ref().unwrap().as_str(), "+15125550199");
    assert_eq!(
        h.person.external_id.as_deref(),
        Some("0958cbc6-6040-430a-848e-aafacbadf4ae")
    );
    assert_eq!(h.job.start_date.as_deref(), Some("2026-12-01"));
    // Relations are ids in the webhook: left unresolved.
    assert_eq!(h.job.title, None);
    assert_eq!(h.job.department, None);
    assert_eq!(h.job.location, None);
    assert_eq!(h.job.manager_email, None);
    assert_eq!(h.attributes["remote_id"], "19202938");
    assert_eq!(h.attributes["integration"], "BambooHR");
    assert_eq!(
        h.attributes["linked_account_id"],
        "a3602c03-aba7-4d9d-a349-dbc338504092"
    );
}

#[test]
fn the_documented_employee_maps_field_by_field() {
    let e: Value = serde_json::from_str(EXAMPLE_EMPLOYEE).unwrap();
    let linked = example_body()["linked_account"].clone();
    let h = map(
        &e,
        "/employee",
        "Employee.added/x",
        &linked,
        &mapping(),
        "US",
    )
    .unwrap();
    assert_eq!(h.event_id, "Employee.added/x");
    assert_eq!(h.event_type, "hire.created");
    assert_eq!(h.person.first_name, "Gregory");
    assert_eq!(h.person.last_name, "Hirsch");
    assert_eq!(h.person.email.unwrap().as_str(), "greg@merge.dev");
    assert_eq!(h.person.phone.unwrap().as_str(), "+15125550199");
    assert_eq!(
        h.person.external_id.as_deref(),
        Some("0958cbc6-6040-430a-848e-aafacbadf4ae")
    );
    assert_eq!(h.job.title.as_deref(), Some("Forklift Driver"));
    assert_eq!(h.job.employment_type, Some(EmploymentType::FullTime));
    assert_eq!(h.job.department.as_deref(), Some("Warehouse"));
    assert_eq!(h.job.location.as_deref(), Some("Austin Warehouse"));
    assert_eq!(h.job.manager_email.unwrap().as_str(), "tom@merge.dev");
    assert_eq!(h.job.start_date.as_deref(), Some("2026-12-01"));
    assert_eq!(h.attributes["remote_id"], "19202938");
    assert_eq!(h.attributes["employee_number"], "2");
    assert_eq!(h.attributes["employment_status"], "ACTIVE");
    assert_eq!(h.attributes["integration"], "BambooHR");
    assert_eq!(h.attributes["integration_slug"], "bamboohr");
    assert_eq!(h.attributes["end_user_origin_id"], "acme-logistics-7");
    assert_eq!(
        h.attributes["linked_account_id"],
        "a3602c03-aba7-4d9d-a349-dbc338504092"
    );
}

#[test]
fn mapping_options_choose_the_name_the_email_and_the_type() {
    let mut e: Value = serde_json::from_str(EXAMPLE_EMPLOYEE).unwrap();
    let m = Mapping {
        email_preference: vec!["personal".into(), "work".into()],
        use_preferred_name: true,
        employment_types: EmploymentTypes::from([(
            "SEASONAL_HOURLY".to_owned(),
            EmploymentType::Temporary,
        )]),
    };
    e["employments"][0]["employment_type"] = json!("SEASONAL_HOURLY");
    let h = map(&e, "/employee", "k", &Value::Null, &m, "US").unwrap();
    assert_eq!(h.person.first_name, "Greg");
    assert_eq!(h.person.email.unwrap().as_str(), "greg@gmail.com");
    assert_eq!(h.job.employment_type, Some(EmploymentType::Temporary));
    // Merge's own enums map without a table.
    for (label, t) in [
        ("PART_TIME", EmploymentType::PartTime),
        ("INTERN", EmploymentType::Intern),
        ("CONTRACTOR", EmploymentType::Contract),
        ("FREELANCE", EmploymentType::Contract),
    ] {
        e["employments"][0]["employment_type"] = json!(label);
        let h = map(&e, "/employee", "k", &Value::Null, &mapping(), "US").unwrap();
        assert_eq!(h.job.employment_type, Some(t), "{label}");
    }
    // An unknown one names Merge's field.
    e["employments"][0]["employment_type"] = json!("PER_DIEM");
    let errors = map(&e, "/employee", "k", &Value::Null, &mapping(), "US").unwrap_err();
    assert_eq!(errors[0].pointer, "/employee/employments/0/employment_type");
    // Without separate names, the display name is split; without a start date, the hire date.
    let e = json!({"id": "e1", "display_full_name": "Mary Ann Lee", "personal_email": "m@x.co",
                   "hire_date": "2026-10-01T00:00:00Z", "work_location": {"city": "Austin"}});
    let h = map(&e, "/data", "k", &Value::Null, &mapping(), "US").unwrap();
    assert_eq!(
        (h.person.first_name.as_str(), h.person.last_name.as_str()),
        ("Mary Ann", "Lee")
    );
    assert_eq!(h.person.email.unwrap().as_str(), "m@x.co");
    assert_eq!(h.job.start_date.as_deref(), Some("2026-10-01"));
    assert_eq!(h.job.location.as_deref(), Some("Austin"));
}

#[test]
fn problems_point_at_merge_fields() {
    let e = json!({"id": "e1", "first_name": "A", "last_name": "B", "work_email": null});
    let errors = map(&e, "/data", "k", &Value::Null, &mapping(), "US").unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].message.contains("/data/work_email"), "{errors:?}");
    assert!(
        errors[0].message.contains("/data/mobile_phone_number"),
        "{errors:?}"
    );
    let e = json!({"id": "e1", "first_name": "A", "work_email": "not-an-email"});
    let errors = map(&e, "/employee", "k", &Value::Null, &mapping(), "US").unwrap_err();
    let pointers: Vec<&str> = errors.iter().map(|e| e.pointer.as_str()).collect();
    assert!(pointers.contains(&"/employee/last_name"), "{errors:?}");
    assert!(pointers.contains(&"/employee/work_email"), "{errors:?}");
}

#[tokio::test]
async fn signatures_are_base64url_over_the_raw_body() {
    let body = EXAMPLE.as_bytes();
    let sig = signature(SECRET, body);
    assert!(sig.ends_with('='), "padded base64url: {sig}");
    // Unpadded is accepted too.
    let h = headers(&[(SIGNATURE_HEADER, sig.trim_end_matches('=').to_owned())]);
    assert!(decode(true, &h, body).await.is_ok());
    // Another key.
    let h = headers(&[(SIGNATURE_HEADER, signature("another-key", body))]);
    assert!(matches!(
        decode(true, &h, body).await,
        Err(Rejection::Auth(AuthError::BadSignature))
    ));
    // The body changed after signing (one space more).
    let mut changed = body.to_vec();
    changed.insert(1, b' ');
    assert!(matches!(
        decode(true, &signed(body), &changed).await,
        Err(Rejection::Auth(AuthError::BadSignature))
    ));
    // Not base64 at all.
    let h = headers(&[(SIGNATURE_HEADER, "%%%".to_owned())]);
    assert!(matches!(
        decode(true, &h, body).await,
        Err(Rejection::Auth(AuthError::BadSignature))
    ));
    // No signature.
    assert!(matches!(
        decode(true, &headers(&[]), body).await,
        Err(Rejection::Auth(AuthError::MissingCredentials(_)))
    ));
    // A garbage body is refused for its signature before it is parsed.
    assert!(matches!(
        decode(true, &headers(&[(SIGNATURE_HEADER, sig)]), b"{").await,
        Err(Rejection::Auth(AuthError::BadSignature))
    ));
}

#[tokio::test]
async fn other_events_are_ignored() {
    for event in [
        "Employee.changed",
        "Employee.removed",
        "Employment.added",
        "LinkedAccount.synced",
        "LinkedAccount.sync_completed",
    ] {
        let body = body_of(&other_event(event));
        let d = decode(true, &signed(&body), &body).await.unwrap();
        assert!(
            matches!(&d.items[0].content, Content::Ignored { reason, .. } if reason.contains(event)),
            "{event}: {:?}",
            d.items[0].content
        );
    }
    // A sync notification carries no employee: its key is its content's.
    let body = body_of(&json!({"hook": {"event": "LinkedAccount.synced"},
                               "linked_account": {"id": "la"},
                               "data": {"account_token": "x", "sync_status": {}}}));
    let d = decode(true, &signed(&body), &body).await.unwrap();
    assert!(d.items[0].dedupe_key.starts_with("LinkedAccount.synced/"));
    // Each change of an employee is its own event; a redelivery is the same one.
    let mut changed = other_event("Employee.changed");
    let body = body_of(&changed);
    let a = decode(true, &signed(&body), &body).await.unwrap();
    let again = decode(true, &signed(&body), &body).await.unwrap();
    changed["data"]["work_email"] = json!("gregory@merge.dev");
    let body = body_of(&changed);
    let b = decode(true, &signed(&body), &body).await.unwrap();
    assert_eq!(a.items[0].dedupe_key, again.items[0].dedupe_key);
    assert_ne!(a.items[0].dedupe_key, b.items[0].dedupe_key);
    // A terminated employee is not a hire.
    let mut b = example_body();
    b["data"]["employment_status"] = json!("INACTIVE");
    let body = body_of(&b);
    let d = decode(true, &signed(&body), &body).await.unwrap();
    assert!(matches!(d.items[0].content, Content::Ignored { .. }));
}

#[tokio::test]
async fn another_linked_account_is_ignored_when_one_is_configured() {
    let mut cfg = config(true);
    cfg.linked_account_id = Some("someone-else".into());
    let body = EXAMPLE.as_bytes();
    let d = decode_with(&source_with(&cfg), &signed(body), body)
        .await
        .unwrap();
    assert!(matches!(d.items[0].content, Content::Ignored { .. }));
    cfg.linked_account_id = Some("a3602c03-aba7-4d9d-a349-dbc338504092".into());
    let d = decode_with(&source_with(&cfg), &signed(body), body)
        .await
        .unwrap();
    assert!(matches!(d.items[0].content, Content::Fetch { .. }));
}

#[tokio::test]
async fn a_resent_hire_with_other_content_is_the_same_event() {
    let body = EXAMPLE.as_bytes();
    let a = decode(true, &signed(body), body).await.unwrap();
    let mut b = example_body();
    b["data"]["modified_at"] = json!("2026-11-21T09:00:00Z");
    let body = body_of(&b);
    let b = decode(true, &signed(&body), &body).await.unwrap();
    assert_eq!(a.items[0].dedupe_key, b.items[0].dedupe_key);
    assert_eq!(a.items[0].fingerprint, b.items[0].fingerprint);
}

#[tokio::test]
async fn malformed_bodies_are_refused_clearly() {
    let mut no_id = example_body();
    no_id["data"]["id"] = Value::Null;
    let mut no_data = example_body();
    no_data["data"] = Value::Null;
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"nope".to_vec(), "json"),
        (b"[1, 2]".to_vec(), "malformed"),
        (b"{}".to_vec(), "malformed"),
        (body_of(&json!({"hook": {"event": 5}})), "malformed"),
        (body_of(&no_id), "/data/id"),
        (body_of(&no_data), "/data"),
    ];
    for (body, want) in cases {
        let r = decode(true, &signed(&body), &body).await;
        match (&r, want) {
            (Err(Rejection::MalformedJson(_)), "json") => {}
            (Err(Rejection::Malformed(_)), "malformed") => {}
            (Err(Rejection::Unmappable(e)), p) if e[0].pointer == p => {}
            _ => panic!("{want}: {r:?}"),
        }
    }
    // Without api, an unmappable employee is refused at once, naming Merge's field.
    let mut b = example_body();
    b["data"]["last_name"] = Value::Null;
    b["data"]["display_full_name"] = Value::Null;
    let body = body_of(&b);
    match decode(false, &signed(&body), &body).await {
        Err(Rejection::Unmappable(e)) => assert_eq!(e[0].pointer, "/data/last_name"),
        other => panic!("{other:?}"),
    }
    // Not declared as JSON.
    let body = EXAMPLE.as_bytes();
    let mut h = signed(body);
    h.insert("content-type", HeaderValue::from_static("text/plain"));
    assert!(matches!(
        decode(true, &h, body).await,
        Err(Rejection::UnsupportedMediaType(_))
    ));
}

#[tokio::test]
async fn the_fetch_sends_the_api_key_and_the_account_token() {
    let seen: Arc<Mutex<Vec<(String, HeaderMap)>>> = Arc::default();
    let log = seen.clone();
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let log = log.clone();
        async move {
            let uri = req.uri().to_string();
            log.lock().unwrap().push((uri, req.headers().clone()));
            axum::Json(serde_json::from_str::<Value>(EXAMPLE_EMPLOYEE).unwrap())
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let cfg = {
        let SourceConfig::Merge(c) = Examples
            .sandbox(
                SECRET,
                &Url::parse(&format!("http://{addr}/api/hris/v1")).unwrap(),
            )
            .config
        else {
            unreachable!()
        };
        c
    };
    let src = source_with(&cfg);
    let fetcher = src.fetcher().expect("a fetcher when api is configured");
    let request = json!({"employee_id": "0958cbc6-6040-430a-848e-aafacbadf4ae",
                         "event_id": "Employee.added/0958cbc6-6040-430a-848e-aafacbadf4ae",
                         "linked_account": {"integration": "BambooHR"}});
    let got = fetcher.fetch(&request, Arc::new(Open)).await.unwrap();
    let hire = fetcher.map(&request, &got.value).unwrap();
    assert_eq!(hire.job.title.as_deref(), Some("Forklift Driver"));
    assert_eq!(hire.attributes["integration"], "BambooHR");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    let (uri, h) = &seen[0];
    assert_eq!(
        uri,
        "/api/hris/v1/employees/0958cbc6-6040-430a-848e-aafacbadf4ae?expand=employments%2Cteam%2Cwork_location%2Cmanager"
    );
    assert_eq!(h["authorization"], "Bearer sandbox-merge-api-key");
    assert_eq!(h["x-account-token"], "sandbox-merge-account-token");
    // Without api, nothing is fetched.
    assert!(source_with(&config(false)).fetcher().is_none());
}

fn field_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        ".{0,24}".prop_map(Value::String),
        any::<i64>().prop_map(|n| json!(n)),
        Just(Value::Null),
        Just(json!({"name": "x", "work_email": "a@b.co", "job_title": 1})),
        Just(json!([{"job_title": "t", "employment_type": "??"}, "id"])),
    ]
}

proptest! {
    #[test]
    fn no_request_panics_the_verifier_or_the_decoder(
        body in proptest::collection::vec(any::<u8>(), 0..400),
        sig in "[A-Za-z0-9_=+/-]{0,60}",
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let h = headers(&[(SIGNATURE_HEADER, sig)]);
        let _ = rt.block_on(decode(true, &h, &body));
        // Correctly signed, so the decoder sees it.
        let _ = rt.block_on(decode(true, &signed(&body), &body));
        let _ = rt.block_on(decode(false, &signed(&body), &body));
    }

    #[test]
    fn no_webhook_shape_panics_the_decoder(
        event in prop_oneof![Just("Employee.added".to_owned()), ".{0,16}"],
        fields in proptest::collection::btree_map(
            prop_oneof![Just("id"), Just("first_name"), Just("last_name"), Just("display_full_name"),
                        Just("work_email"), Just("mobile_phone_number"), Just("start_date"),
                        Just("employment_status"), Just("employments"), Just("team"), Just("manager")],
            field_value(),
            0..8,
        ),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let data = Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect());
        let body = body_of(&json!({"hook": {"event": event}, "linked_account": {"id": "la"}, "data": data}));
        let _ = rt.block_on(decode(false, &signed(&body), &body));
        let _ = rt.block_on(decode(true, &signed(&body), &body));
    }

    #[test]
    fn no_employee_record_panics_the_mapping(fields in proptest::collection::btree_map(
        prop_oneof![Just("id"), Just("first_name"), Just("last_name"), Just("preferred_name"),
                    Just("display_full_name"), Just("work_email"), Just("personal_email"),
                    Just("mobile_phone_number"), Just("start_date"), Just("hire_date"),
                    Just("employments"), Just("team"), Just("work_location"), Just("manager"),
                    Just("remote_id"), Just("employee_number")],
        field_value(),
        0..10,
    ), preferred in any::<bool>()) {
        let e = Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect());
        let m = Mapping { use_preferred_name: preferred, ..mapping() };
        let _ = map(&e, "/employee", "k", &json!({"id": 3}), &m, "US");
    }
}
