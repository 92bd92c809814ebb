use std::time::{Duration, SystemTime};

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

const SECRET: &str = "hubspot-client-secret";
const HOST: &str = "hooks.example.com";
const PATH: &str = "/v1/webhooks/hubspot";

fn config() -> HubspotSource {
    let SourceConfig::Hubspot(cfg) = Examples
        .sandbox(SECRET, &Url::parse("http://127.0.0.1:9/hubspot").unwrap())
        .config
    else {
        unreachable!()
    };
    cfg
}

fn source_with(adjust: impl FnOnce(&mut HubspotSource)) -> Hubspot {
    let mut cfg = config();
    adjust(&mut cfg);
    Hubspot::new("hubspot", &cfg, "US", reqwest::Client::new())
}

fn headers(pairs: &[(&str, String)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h.insert("host", HeaderValue::from_static(HOST));
    for (k, v) in pairs {
        h.insert(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

fn now_ms() -> String {
    unix_millis(SystemTime::now()).to_string()
}

/// Signed for `url` (what HubSpot posted to) at `ts`.
fn signed_for(url: &str, body: &[u8], ts: &str) -> HeaderMap {
    headers(&[
        ("x-hubspot-request-timestamp", ts.to_owned()),
        (
            "x-hubspot-signature-v3",
            signature_v3(SECRET, "POST", url, body, ts),
        ),
    ])
}

/// Signed as HubSpot signs a post to `http://hooks.example.com/v1/webhooks/hubspot`.
fn signed(body: &[u8], ts: &str) -> HeaderMap {
    signed_for(&format!("http://{HOST}{PATH}"), body, ts)
}

async fn decode_at(
    src: &Hubspot,
    uri: &str,
    h: &HeaderMap,
    body: &[u8],
) -> Result<Decoded, Rejection> {
    let uri: Uri = uri.parse().unwrap();
    src.decode(&WebhookRequest {
        method: &Method::POST,
        uri: &uri,
        headers: h,
        body,
        received_at: SystemTime::now(),
    })
    .await
}

/// The sandbox source (built once: a client per proptest case is slow).
fn shared() -> &'static Hubspot {
    static S: std::sync::OnceLock<Hubspot> = std::sync::OnceLock::new();
    S.get_or_init(|| source_with(|_| {}))
}

async fn decode(h: &HeaderMap, body: &[u8]) -> Result<Decoded, Rejection> {
    decode_at(shared(), PATH, h, body).await
}

fn auth_err(r: Result<Decoded, Rejection>) -> AuthError {
    match r {
        Err(Rejection::Auth(e)) => e,
        other => panic!("expected an auth rejection: {other:?}"),
    }
}

#[tokio::test]
async fn the_documented_batch_is_one_event_each_and_the_hire_is_fetched() {
    let ex = Examples.example(
        SECRET,
        &Url::parse(&format!("http://{HOST}{PATH}")).unwrap(),
        SystemTime::now(),
    );
    let pairs: Vec<(&str, String)> = ex
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    let d = decode(&headers(&pairs), &ex.body).await.unwrap();
    assert_eq!(d.items.len(), 2);
    assert_eq!(d.items[0].dedupe_key, "3816279340");
    match &d.items[0].content {
        Content::Fetch { request, raw } => {
            assert_eq!(request["contact_id"], "512");
            assert_eq!(request["event_id"], "3816279340");
            assert_eq!(request["occurred_at"], "2026-11-20T08:12:00Z");
            assert!(raw.contains("lifecyclestage"));
        }
        other => panic!("expected a fetch: {other:?}"),
    }
    assert_eq!(d.items[1].dedupe_key, "3816279341");
    assert!(matches!(d.items[1].content, Content::Ignored { .. }));
}

#[tokio::test]
async fn a_retry_is_the_same_event() {
    let body: Value = serde_json::from_str(EXAMPLE).unwrap();
    let mut retry = body.clone();
    retry[0]["attemptNumber"] = json!(3);
    let a = serde_json::to_vec(&body).unwrap();
    let b = serde_json::to_vec(&retry).unwrap();
    let da = decode(&signed(&a, &now_ms()), &a).await.unwrap();
    let db = decode(&signed(&b, &now_ms()), &b).await.unwrap();
    assert_eq!(da.items[0].dedupe_key, db.items[0].dedupe_key);
    assert_eq!(da.items[0].fingerprint, db.items[0].fingerprint);
    // Another value under the same id is not the same event.
    let mut other = body.clone();
    other[0]["objectId"] = json!(999);
    let c = serde_json::to_vec(&other).unwrap();
    let dc = decode(&signed(&c, &now_ms()), &c).await.unwrap();
    assert_ne!(da.items[0].fingerprint, dc.items[0].fingerprint);
    // An id twice in one request is read once.
    let twice = serde_json::to_vec(&json!([body[0], body[0]])).unwrap();
    let d = decode(&signed(&twice, &now_ms()), &twice).await.unwrap();
    assert_eq!(d.items.len(), 1);
}

#[tokio::test]
async fn v3_signatures_cover_method_uri_body_and_timestamp() {
    let body = EXAMPLE.as_bytes();
    let ts = now_ms();
    assert!(decode(&signed(body, &ts), body).await.is_ok());
    // Another secret.
    let mut h = signed(body, &ts);
    h.insert(
        "x-hubspot-signature-v3",
        HeaderValue::from_str(&signature_v3(
            "other",
            "POST",
            &format!("http://{HOST}{PATH}"),
            body,
            &ts,
        ))
        .unwrap(),
    );
    assert_eq!(auth_err(decode(&h, body).await), AuthError::BadSignature);
    // The same signature under another timestamp.
    let mut h = signed(body, &ts);
    let later = (ts.parse::<i64>().unwrap() + 1).to_string();
    h.insert(
        "x-hubspot-request-timestamp",
        HeaderValue::from_str(&later).unwrap(),
    );
    assert_eq!(auth_err(decode(&h, body).await), AuthError::BadSignature);
    // Another body.
    let mut tampered = body.to_vec();
    tampered[10] ^= 1;
    assert_eq!(
        auth_err(decode(&signed(body, &ts), &tampered).await),
        AuthError::BadSignature
    );
    // Signed for another path, or another host.
    let h = signed_for(&format!("http://{HOST}/v1/webhooks/other"), body, &ts);
    assert_eq!(auth_err(decode(&h, body).await), AuthError::BadSignature);
    let h = signed_for(&format!("http://evil.example{PATH}"), body, &ts);
    assert_eq!(auth_err(decode(&h, body).await), AuthError::BadSignature);
    // Signed for https while it came on http, with no X-Forwarded-Proto.
    let h = signed_for(&format!("https://{HOST}{PATH}"), body, &ts);
    assert_eq!(auth_err(decode(&h, body).await), AuthError::BadSignature);
    // No signature, or no timestamp, or one that is not milliseconds.
    let h = headers(&[("x-hubspot-request-timestamp", ts.clone())]);
    assert!(matches!(
        auth_err(decode(&h, body).await),
        AuthError::MissingCredentials(_)
    ));
    let mut h = signed(body, &ts);
    h.remove("x-hubspot-request-timestamp");
    assert!(matches!(
        auth_err(decode(&h, body).await),
        AuthError::MissingCredentials(_)
    ));
    let h = signed(body, "2026-11-20T08:12:00Z");
    assert!(matches!(
        auth_err(decode(&h, body).await),
        AuthError::MalformedCredentials(_)
    ));
}

#[tokio::test]
async fn stale_or_future_timestamps_are_refused_even_when_signed() {
    let body = EXAMPLE.as_bytes();
    let old = unix_millis(SystemTime::now() - Duration::from_secs(301)).to_string();
    assert_eq!(
        auth_err(decode(&signed(body, &old), body).await),
        AuthError::TimestampOutOfWindow
    );
    let ahead = unix_millis(SystemTime::now() + Duration::from_secs(600)).to_string();
    assert_eq!(
        auth_err(decode(&signed(body, &ahead), body).await),
        AuthError::TimestampOutOfWindow
    );
    let recent = unix_millis(SystemTime::now() - Duration::from_secs(240)).to_string();
    assert!(decode(&signed(body, &recent), body).await.is_ok());
    // A wider tolerance takes it.
    let src = source_with(|c| c.timestamp_tolerance_s = 3600);
    assert!(
        decode_at(&src, PATH, &signed(body, &old), body)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn the_uri_comes_from_forwarded_headers_or_public_url() {
    let body = EXAMPLE.as_bytes();
    let ts = now_ms();
    // A TLS-terminating ingress: the signature covers https and the public host.
    let mut h = signed_for(&format!("https://public.example.org{PATH}"), body, &ts);
    h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
    h.insert(
        "x-forwarded-host",
        HeaderValue::from_static("public.example.org"),
    );
    assert!(decode(&h, body).await.is_ok());
    // The same without the forwarded host fails (Host is the internal one).
    h.remove("x-forwarded-host");
    assert_eq!(auth_err(decode(&h, body).await), AuthError::BadSignature);
    // public_url wins over the headers, with the query kept.
    let src = source_with(|c| {
        c.public_url = Some(Url::parse("https://public.example.org:8443").unwrap())
    });
    let h = signed_for(
        &format!("https://public.example.org:8443{PATH}?portal=33"),
        body,
        &ts,
    );
    assert!(
        decode_at(&src, &format!("{PATH}?portal=33"), &h, body)
            .await
            .is_ok()
    );
    assert_eq!(
        auth_err(decode_at(&src, PATH, &h, body).await),
        AuthError::BadSignature
    );
    // A path prefix in public_url (an ingress that strips it) is kept.
    let src = source_with(|c| c.public_url = Some(Url::parse("https://x.example/hooks/").unwrap()));
    let h = signed_for(&format!("https://x.example/hooks{PATH}"), body, &ts);
    assert!(decode_at(&src, PATH, &h, body).await.is_ok());
}

#[test]
fn the_uri_is_signed_with_the_documented_characters_decoded() {
    assert_eq!(
        signing_uri("https://x.example/a%3Ab%2fc?q=%40%21%24%27%28%29%2A%2C%3B%3f"),
        "https://x.example/a:b/c?q=@!$'()*,;?"
    );
    // Others stay encoded; a lone or broken escape is left as it is.
    assert_eq!(
        signing_uri("https://x.example/?q=a%20b%26c%3D%25%2"),
        "https://x.example/?q=a%20b%26c%3D%25%2"
    );
    assert_eq!(signing_uri("%zz%"), "%zz%");
}

#[tokio::test]
async fn an_encoded_query_verifies_as_hubspot_signs_it() {
    let body = EXAMPLE.as_bytes();
    let ts = now_ms();
    // HubSpot signed the decoded form; the request arrives encoded.
    let uri = format!("{PATH}?next=a%3Ab%40c");
    let h = signed_for(&format!("http://{HOST}{PATH}?next=a:b@c"), body, &ts);
    assert!(
        decode_at(&source_with(|_| {}), &uri, &h, body)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn v1_is_accepted_only_when_allowed() {
    let body = EXAMPLE.as_bytes();
    let h = headers(&[
        ("x-hubspot-signature-version", "v1".to_owned()),
        ("x-hubspot-signature", signature_v1(SECRET, body)),
    ]);
    assert!(matches!(
        auth_err(decode(&h, body).await),
        AuthError::MissingCredentials(_)
    ));
    let src = source_with(|c| c.allow_v1 = true);
    assert!(decode_at(&src, PATH, &h, body).await.is_ok());
    let bad = headers(&[
        ("x-hubspot-signature-version", "v1".to_owned()),
        ("x-hubspot-signature", signature_v1("other", body)),
    ]);
    assert_eq!(
        auth_err(decode_at(&src, PATH, &bad, body).await),
        AuthError::BadSignature
    );
}

#[test]
fn the_documented_v1_example_verifies() {
    // HubSpot's own example: secret, body and resulting hash.
    let body = r#"[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM","changeFlag":"NEW","appId":54321}]"#;
    assert_eq!(
        signature_v1("yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy", body.as_bytes()),
        "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de"
    );
}

#[tokio::test]
async fn only_the_configured_property_change_is_a_hire() {
    let ev = |kind: &str, name: &str, value: &str| json!({"eventId": 7, "subscriptionType": kind, "objectId": 512, "propertyName": name, "propertyValue": value, "portalId": 33, "occurredAt": 1795162320000_i64});
    let cases = [
        (
            ev("contact.propertyChange", "lifecyclestage", "Employee"),
            true,
        ),
        (
            ev("contact.propertyChange", "lifecyclestage", "customer"),
            false,
        ),
        (ev("contact.propertyChange", "jobtitle", "employee"), false),
        (ev("contact.creation", "lifecyclestage", "employee"), false),
        (
            ev("deal.propertyChange", "lifecyclestage", "employee"),
            false,
        ),
    ];
    for (e, hire) in cases {
        let body = serde_json::to_vec(&json!([e])).unwrap();
        let d = decode(&signed(&body, &now_ms()), &body).await.unwrap();
        assert_eq!(
            matches!(d.items[0].content, Content::Fetch { .. }),
            hire,
            "{e}"
        );
        if !hire {
            let Content::Ignored { reason, .. } = &d.items[0].content else {
                panic!()
            };
            assert!(reason.contains("not a hire"), "{reason}");
        }
    }
    // Another configured property and value.
    let src = source_with(|c| {
        c.hire_when = HireWhen {
            property: "hs_lead_status".into(),
            value: "HIRED".into(),
        }
    });
    let body = serde_json::to_vec(&json!([ev(
        "contact.propertyChange",
        "hs_lead_status",
        "hired"
    )]))
    .unwrap();
    let d = decode_at(&src, PATH, &signed(&body, &now_ms()), &body)
        .await
        .unwrap();
    assert!(matches!(d.items[0].content, Content::Fetch { .. }));
}

#[tokio::test]
async fn malformed_bodies_are_refused_clearly() {
    for (body, want) in [
        (&b"nope"[..], "json"),
        (b"{\"eventId\": 1}", "malformed"),
        (b"[]", "malformed"),
        (b"[1]", "malformed"),
        (b"[{\"subscriptionType\": \"contact.creation\"}]", "malformed"),
        (b"[{\"eventId\": 1}]", "malformed"),
        (
            b"[{\"eventId\": 1, \"subscriptionType\": \"contact.propertyChange\", \"propertyName\": \"lifecyclestage\", \"propertyValue\": \"employee\"}]",
            "unmappable",
        ),
    ] {
        let r = decode(&signed(body, &now_ms()), body).await;
        let ok = match (&r, want) {
            (Err(Rejection::MalformedJson(_)), "json") => true,
            (Err(Rejection::Malformed(_)), "malformed") => true,
            (Err(Rejection::Unmappable(e)), "unmappable") => e[0].pointer == "/0/objectId",
            _ => false,
        };
        assert!(ok, "{}: {r:?}", String::from_utf8_lossy(body));
    }
    let many: Vec<Value> = (0..=MAX_EVENTS)
        .map(|i| json!({"eventId": i, "subscriptionType": "contact.creation", "objectId": i}))
        .collect();
    let body = serde_json::to_vec(&many).unwrap();
    assert!(matches!(
        decode(&signed(&body, &now_ms()), &body).await,
        Err(Rejection::Malformed(_))
    ));
    // Not JSON by its content type.
    let body = EXAMPLE.as_bytes();
    let mut h = signed(body, &now_ms());
    h.insert("content-type", HeaderValue::from_static("text/plain"));
    assert!(matches!(
        decode(&h, body).await,
        Err(Rejection::UnsupportedMediaType(_))
    ));
}

#[test]
fn the_answer_is_200_for_the_batch() {
    let src = source_with(|_| {});
    let Reply::Json { status, body } = src
        .respond(&[
            ItemOutcome::Accepted {
                event_id: "a".into(),
            },
            ItemOutcome::Ignored {
                event_id: "b".into(),
            },
            ItemOutcome::Conflict {
                event_id: "c".into(),
            },
        ])
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(status, 200);
    assert_eq!(
        body["events"][0],
        json!({"event_id": "a", "status": "accepted"})
    );
    assert_eq!(body["events"][2]["status"], "conflict");
    let Reply::Json { status, body } = src
        .respond(&[ItemOutcome::Duplicate {
            event_id: "a".into(),
        }])
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(status, 200);
    assert_eq!(body["status"], "duplicate");
}

fn request() -> Value {
    json!({"contact_id": "512", "event_id": "3816279340", "occurred_at": "2026-11-20T08:12:00Z"})
}

#[test]
fn the_documented_contact_maps_field_by_field() {
    let c: Value = serde_json::from_str(EXAMPLE_CONTACT).unwrap();
    let h = map(&c, &request(), &["lifecyclestage".to_owned()], "US").unwrap();
    assert_eq!(h.event_id, "3816279340");
    assert_eq!(h.occurred_at.as_deref(), Some("2026-11-20T08:12:00Z"));
    assert_eq!(h.person.first_name, "Bryan");
    assert_eq!(h.person.last_name, "Cooper");
    assert_eq!(h.person.email.unwrap().as_str(), "bcooper@biglytics.net");
    // The mobile number before the office one.
    assert_eq!(h.person.phone.unwrap().as_str(), "+15125550145");
    assert_eq!(h.person.external_id.as_deref(), Some("512"));
    assert_eq!(h.job.title.as_deref(), Some("Forklift Driver"));
    assert_eq!(h.attributes["company"], "Biglytics");
    assert_eq!(h.attributes["city"], "Austin");
    assert_eq!(h.attributes["state"], "TX");
    assert_eq!(h.attributes["lifecyclestage"], "employee");
    // Without a mobile number, the phone property.
    let mut c2 = c.clone();
    c2["properties"]["mobilephone"] = Value::Null;
    let h = map(&c2, &request(), &[], "US").unwrap();
    assert_eq!(h.person.phone.unwrap().as_str(), "+18779290687");
}

#[test]
fn a_contact_that_is_not_a_hire_points_at_hubspot_properties() {
    let c = json!({"id": "512", "properties": {"firstname": "Bryan", "lastname": "Cooper", "email": ""}});
    let errors = map(&c, &request(), &[], "US").unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].message.contains("/properties/email"),
        "{errors:?}"
    );
    assert!(
        errors[0].message.contains("/properties/mobilephone"),
        "{errors:?}"
    );
    let c = json!({"id": "512", "properties": {"firstname": "Bryan", "email": "b@c.co"}});
    let errors = map(&c, &request(), &[], "US").unwrap_err();
    assert_eq!(errors[0].pointer, "/properties/lastname");
    let errors = map(&json!({"id": 512}), &request(), &[], "US").unwrap_err();
    assert!(
        errors.iter().any(|e| e.pointer == "/properties/firstname"),
        "{errors:?}"
    );
    let c = json!({"id": "512", "properties": {"firstname": "B", "lastname": "C", "email": "not-an-email"}});
    let errors = map(&c, &request(), &[], "US").unwrap_err();
    assert_eq!(errors[0].pointer, "/properties/email");
}

#[test]
fn the_fetch_asks_for_the_configured_properties() {
    let cfg = config();
    let f = ContactFetcher::new(
        "hubspot",
        &cfg.api,
        &[
            "hs_lead_status".to_owned(),
            "firstname".to_owned(),
            " ".to_owned(),
        ],
        "US",
        reqwest::Client::new(),
    );
    assert_eq!(
        f.query,
        "firstname,lastname,email,mobilephone,phone,jobtitle,company,city,state,hs_lead_status"
    );
    assert_eq!(f.extra, vec!["hs_lead_status", "firstname"]);
}

proptest! {
    #[test]
    fn no_request_panics_the_verifier(
        body in proptest::collection::vec(any::<u8>(), 0..400),
        ts in "[0-9]{0,20}|.{0,20}",
        sig in "[A-Za-z0-9+/=_-]{0,60}",
        host in "[a-z0-9.:-]{0,30}",
        path in "/[A-Za-z0-9%/?=&:@;,-]{0,40}",
        v1 in any::<bool>(),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        static V1: std::sync::OnceLock<Hubspot> = std::sync::OnceLock::new();
        let src = V1.get_or_init(|| source_with(|c| c.allow_v1 = true));
        let mut h = HeaderMap::new();
        h.insert("content-type", HeaderValue::from_static("application/json"));
        if let (Ok(t), Ok(s), Ok(hv)) = (HeaderValue::from_str(&ts), HeaderValue::from_str(&sig), HeaderValue::from_str(&host)) {
            h.insert("x-hubspot-request-timestamp", t);
            h.insert("host", hv.clone());
            h.insert("x-forwarded-host", hv);
            if v1 {
                h.insert("x-hubspot-signature-version", HeaderValue::from_static("v1"));
                h.insert("x-hubspot-signature", s);
            } else {
                h.insert("x-hubspot-signature-v3", s);
            }
        }
        if path.parse::<Uri>().is_ok() {
            let _ = rt.block_on(decode_at(src, &path, &h, &body));
        }
        let _ = signing_uri(&path);
        // Correctly signed: the decoder sees the bytes.
        let _ = rt.block_on(decode(&signed(&body, &now_ms()), &body));
    }

    #[test]
    fn no_batch_panics_the_decoder(events in proptest::collection::vec(
        proptest::collection::btree_map(
            prop_oneof![Just("eventId"), Just("subscriptionType"), Just("objectId"), Just("propertyName"), Just("propertyValue"), Just("occurredAt"), Just("attemptNumber")],
            prop_oneof![
                ".{0,12}".prop_map(Value::String),
                Just(json!("contact.propertyChange")),
                Just(json!("lifecyclestage")),
                Just(json!("employee")),
                any::<i64>().prop_map(|n| json!(n)),
                any::<f64>().prop_map(|n| json!(n)),
                Just(Value::Null),
            ],
            0..7,
        ),
        0..5,
    )) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let body = serde_json::to_vec(&Value::Array(
            events.into_iter().map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())).collect(),
        )).unwrap();
        let _ = rt.block_on(decode(&signed(&body, &now_ms()), &body));
    }

    #[test]
    fn no_contact_panics_the_mapping(id in prop_oneof![Just(Value::Null), any::<i64>().prop_map(|n| json!(n)), ".{0,10}".prop_map(Value::String)], fields in proptest::collection::btree_map(
        prop_oneof![Just("firstname"), Just("lastname"), Just("email"), Just("mobilephone"), Just("phone"), Just("jobtitle"), Just("company")],
        prop_oneof![".{0,20}".prop_map(Value::String), any::<i64>().prop_map(|n| json!(n)), Just(Value::Null)],
        0..7,
    ), occurred in prop_oneof![Just(Value::Null), ".{0,25}".prop_map(Value::String)]) {
        let c = json!({"id": id, "properties": Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())});
        let _ = map(&c, &json!({"event_id": "k", "occurred_at": occurred}), &["company".to_owned()], "US");
        let _ = rfc3339_of_millis(Some(&id));
    }
}
