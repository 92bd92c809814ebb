//! Tests against tiny axum stub servers bound on 127.0.0.1:0: each test scripts the answers
//! and inspects what the client sent.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use secrecy::SecretString;
use url::Url;

use super::transport::rate_from_headers;
use super::*;
use crate::config::{ConnecteamAuth, ConnecteamConfig, DEFAULT_SCOPES, OAuthConfig};
use crate::domain::idempotency::key as idempotency_key;
use crate::remote::RateReport;

const KEY: &str = "ck_live_SECRET_9f8e7d";

#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

struct Answer {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
    delay: Duration,
}

fn answer(status: u16, body: serde_json::Value) -> Answer {
    Answer {
        status,
        headers: Vec::new(),
        body: body.to_string(),
        delay: Duration::ZERO,
    }
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// A stub Connecteam answering every request with `f`; returns its base URL and request log.
async fn stub(f: impl Fn(&Seen) -> Answer + Send + Sync + 'static) -> (Url, Log) {
    let log: Log = Arc::default();
    let f = Arc::new(f);
    let app = axum::Router::new().fallback({
        let log = log.clone();
        move |req: axum::extract::Request| {
            let log = log.clone();
            let f = f.clone();
            async move {
                let (parts, body) = req.into_parts();
                let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
                let seen = Seen {
                    method: parts.method.to_string(),
                    path: parts.uri.path().to_owned(),
                    query: parts.uri.query().map(str::to_owned),
                    headers: parts.headers,
                    body: body.to_vec(),
                };
                log.lock().unwrap().push(seen.clone());
                let a = f(&seen);
                if !a.delay.is_zero() {
                    tokio::time::sleep(a.delay).await;
                }
                let mut headers = HeaderMap::new();
                headers.insert("content-type", HeaderValue::from_static("application/json"));
                for (k, v) in a.headers {
                    headers.insert(
                        HeaderName::from_static(k),
                        HeaderValue::from_str(&v).unwrap(),
                    );
                }
                (StatusCode::from_u16(a.status).unwrap(), headers, a.body)
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (Url::parse(&format!("http://{addr}/")).unwrap(), log)
}

fn config(base: &Url, timeout_ms: u64) -> ConnecteamConfig {
    ConnecteamConfig {
        base_url: base.clone(),
        auth: Some(ConnecteamAuth::ApiKey(SecretString::from(KEY))),
        requests_per_minute: 100,
        create_missing_users: true,
        default_phone_region: "US".into(),
        send_activation: false,
        timeout_ms,
    }
}

fn key_client(base: &Url) -> Client {
    Client::new(&config(base, 2_000)).unwrap()
}

fn oauth_client(base: &Url) -> Client {
    let mut cfg = config(base, 2_000);
    cfg.auth = Some(ConnecteamAuth::OAuth(OAuthConfig {
        client_id: "hb-client".into(),
        client_secret: SecretString::from("OAUTH_SECRET_xyz"),
        scopes: DEFAULT_SCOPES.to_owned(),
    }));
    Client::new(&cfg).unwrap()
}

fn user_json(id: u64) -> serde_json::Value {
    serde_json::json!({
        "userId": id, "firstName": "Ann", "lastName": "Lee", "phoneNumber": format!("+1555000{id:04}"),
        "userType": "user", "email": format!("u{id}@example.com"), "isArchived": id.is_multiple_of(2),
        "customFields": [{"customFieldId": 1, "value": "x", "type": "str", "name": "Title"}],
        "createdAt": 1712573537
    })
}

fn new_users(n: usize) -> Vec<NewUser> {
    (0..n)
        .map(|i| NewUser {
            first_name: "Ann".into(),
            last_name: format!("Lee{i}"),
            phone_number: format!("+1415555{i:04}"),
            email: None,
            user_type: "user".into(),
            custom_fields: Vec::new(),
        })
        .collect()
}

fn ok_empty() -> Answer {
    answer(200, serde_json::json!({"requestId": "r-1", "data": {}}))
}

#[tokio::test]
async fn find_users_sends_repeated_keys_headers_and_parses_rate_and_paging() {
    let (base, log) = stub(|_| Answer {
        headers: vec![
            ("x-ratelimit-minute-limit", "100".into()),
            ("x-ratelimit-minute-remaining", "97".into()),
            ("x-ratelimit-minute-reset", "1763790000".into()),
            ("x-ratelimit-day-remaining", "9990".into()),
            ("x-ratelimit-day-reset", "1763856000".into()),
        ],
        ..answer(
            200,
            serde_json::json!({
                "requestId": "req-42",
                "data": {"users": [user_json(1), user_json(2)]},
                "paging": {"offset": 2}
            }),
        )
    })
    .await;
    let c = key_client(&base);
    let q = UserQuery {
        user_ids: vec![1, 2],
        emails: vec!["a@x.com".into(), "b@x.com".into()],
        phones: vec!["+15550001".into()],
        full_names: vec!["Ann Lee".into()],
        limit: 2,
        ..UserQuery::default()
    };
    let r = c.find_users(&q).await.unwrap();
    assert_eq!(r.value.users.len(), 2);
    assert_eq!(r.value.users[0].user_id, 1);
    assert_eq!(r.value.users[0].email.as_deref(), Some("u1@example.com"));
    assert!(r.value.users[1].is_archived);
    assert_eq!(r.value.next_offset, Some(2));
    assert_eq!(r.request_id.as_deref(), Some("req-42"));
    assert_eq!(
        r.rate,
        Some(RateReport {
            minute_limit: Some(100),
            minute_remaining: Some(97),
            minute_reset_epoch_s: Some(1_763_790_000),
            day_remaining: Some(9990),
            day_reset_epoch_s: Some(1_763_856_000),
        })
    );
    let seen = log.lock().unwrap()[0].clone();
    assert_eq!(seen.method, "GET");
    assert_eq!(seen.path, "/users/v1/users");
    assert_eq!(
        seen.query.as_deref(),
        Some(
            "userIds=1&userIds=2&emailAddresses=a%40x.com&emailAddresses=b%40x.com\
             &phoneNumbers=%2B15550001&fullNames=Ann+Lee&userStatus=all&limit=2&offset=0"
        )
    );
    assert_eq!(seen.header("x-api-key"), Some(KEY));
    assert_eq!(seen.header("accept"), Some("application/json"));
    assert!(
        seen.header("user-agent")
            .unwrap()
            .starts_with("hirebridge/")
    );
    assert_eq!(seen.header("idempotency-key"), None, "reads carry no key");
}

#[tokio::test]
async fn a_user_without_a_name_does_not_fail_the_page() {
    let mut nameless = user_json(2);
    nameless["firstName"] = serde_json::Value::Null;
    nameless["lastName"] = serde_json::Value::Null;
    nameless["isArchived"] = serde_json::Value::Null;
    let page = serde_json::json!({"data": {"users": [user_json(1), nameless]}});
    let (base, _log) = stub(move |_| answer(200, page.clone())).await;
    let users = key_client(&base)
        .find_users(&UserQuery::default())
        .await
        .unwrap()
        .value
        .users;
    assert_eq!(users.len(), 2);
    assert_eq!(users[1].first_name, "");
    assert!(!users[1].is_archived);
}

#[tokio::test]
async fn policy_balances_read_one_users_policy_of_a_type() {
    let (base, log) = stub(|_| {
        answer(
            200,
            serde_json::json!({"data": {"balances": [
                {"userId": 7, "policyId": "pol-1", "balance": 15, "units": "days"},
                {"userId": 8, "policyId": "pol-2", "balance": 3, "units": "days"}
            ]}, "paging": {}}),
        )
    })
    .await;
    let held = key_client(&base)
        .policy_balances("pt-vac", 7)
        .await
        .unwrap()
        .value;
    // Only the user asked about, even if the answer carries others.
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].policy_id, "pol-1");
    assert_eq!(held[0].balance, 15.0);
    let seen = log.lock().unwrap()[0].clone();
    assert_eq!(seen.path, "/time-off/v1/policy-types/pt-vac/balances");
    assert_eq!(seen.query.as_deref(), Some("userIds=7&limit=100"));
}

#[tokio::test]
async fn paging_continues_until_a_short_page() {
    // 5 users served 2 per page; `paging.offset` is deliberately absent on the second page.
    let (base, _log) = stub(|s| {
        let q: Vec<(String, String)> =
            url::form_urlencoded::parse(s.query.as_deref().unwrap_or("").as_bytes())
                .into_owned()
                .collect();
        let get = |k: &str| {
            q.iter()
                .find(|(n, _)| n == k)
                .unwrap()
                .1
                .parse::<u64>()
                .unwrap()
        };
        let (offset, limit) = (get("offset"), get("limit"));
        let users: Vec<_> = (offset..(offset + limit).min(5))
            .map(|i| user_json(i + 1))
            .collect();
        let paging = if offset == 2 {
            serde_json::Value::Null
        } else {
            serde_json::json!({"offset": offset + users.len() as u64})
        };
        answer(
            200,
            serde_json::json!({"data": {"users": users}, "paging": paging}),
        )
    })
    .await;
    let c = key_client(&base);
    let mut q = UserQuery {
        limit: 2,
        ..UserQuery::default()
    };
    let mut all = Vec::new();
    let mut pages = 0;
    loop {
        let page = c.find_users(&q).await.unwrap().value;
        pages += 1;
        all.extend(page.users.into_iter().map(|u| u.user_id));
        match page.next_offset {
            Some(o) => q.offset = o,
            None => break,
        }
    }
    assert_eq!(all, vec![1, 2, 3, 4, 5]);
    assert_eq!(pages, 3);
}

#[tokio::test]
async fn find_users_rejects_bad_limit_without_sending() {
    let (base, log) = stub(|_| ok_empty()).await;
    let c = key_client(&base);
    for limit in [0, 501] {
        let q = UserQuery {
            limit,
            ..UserQuery::default()
        };
        assert!(matches!(
            c.find_users(&q).await,
            Err(ApiError::NotSent { .. })
        ));
    }
    assert!(log.lock().unwrap().is_empty());
}

#[tokio::test]
async fn create_users_enforces_25_without_sending() {
    let (base, log) = stub(|_| ok_empty()).await;
    let c = key_client(&base);
    let e = c
        .create_users(&new_users(26), false, "k")
        .await
        .unwrap_err();
    assert!(matches!(&e, ApiError::NotSent { .. }));
    assert!(c.create_users(&[], false, "k").await.is_err());
    assert!(log.lock().unwrap().is_empty());
}

#[tokio::test]
async fn create_users_posts_array_with_stable_idempotency_key() {
    let (base, log) = stub(|s| {
        let sent: Vec<serde_json::Value> = serde_json::from_slice(&s.body).unwrap();
        let results: Vec<_> = (0..sent.len() as u64).map(|i| user_json(100 + i)).collect();
        answer(
            200,
            serde_json::json!({"requestId": "r", "data": {"results": results}}),
        )
    })
    .await;
    let c = key_client(&base);
    let key = idempotency_key("evt-1", "users.create/batch-7");
    let users = new_users(25);
    let created = c.create_users(&users, false, &key).await.unwrap().value;
    assert_eq!(created.len(), 25);
    assert_eq!(created[0].user_id, 100);
    // The caller's retry carries the same key.
    c.create_users(
        &users,
        false,
        &idempotency_key("evt-1", "users.create/batch-7"),
    )
    .await
    .unwrap();
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 2);
    for s in log.iter() {
        assert_eq!(s.method, "POST");
        assert_eq!(s.path, "/users/v1/users");
        assert_eq!(s.header("idempotency-key"), Some(key.as_str()));
        assert_eq!(s.header("content-type"), Some("application/json"));
    }
    let body = log[0].json();
    assert_eq!(body.as_array().unwrap().len(), 25);
    assert_eq!(
        body[0],
        serde_json::json!({"firstName": "Ann", "lastName": "Lee0", "phoneNumber": "+14155550000", "userType": "user"})
    );
}

#[tokio::test]
async fn archive_users_deletes_with_archive_type_only() {
    let (base, log) = stub(|_| {
        answer(
            200,
            serde_json::json!({"requestId": "r", "data": {"success": true}}),
        )
    })
    .await;
    let c = key_client(&base);
    c.archive_users(&[9_170_001, 9_170_002], "k-1")
        .await
        .unwrap();
    assert!(matches!(
        c.archive_users(&[], "k").await.unwrap_err(),
        ApiError::NotSent { .. }
    ));
    let many: Vec<u64> = (1..=26).collect();
    assert!(c.archive_users(&many, "k").await.is_err());
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].method, "DELETE");
    assert_eq!(log[0].path, "/users/v1/users");
    assert_eq!(log[0].query.as_deref(), Some("deletionType=archive"));
    assert_eq!(log[0].header("idempotency-key"), Some("k-1"));
    assert_eq!(log[0].json(), serde_json::json!([9_170_001, 9_170_002]));
}

#[test]
fn idempotency_key_is_stable_and_distinct() {
    let a = idempotency_key("evt-1", "pack/42");
    assert_eq!(a, idempotency_key("evt-1", "pack/42"));
    assert_ne!(a, idempotency_key("evt-1", "pack/43"));
    assert_ne!(a, idempotency_key("evt-2", "pack/42"));
    assert!(a.starts_with("hb-"));
    assert_eq!(a.len(), 35);
    assert!(a[3..].chars().all(|c| c.is_ascii_hexdigit()));
}

#[tokio::test]
async fn assign_pack_enforces_500_and_no_duplicates_without_sending() {
    let (base, log) = stub(|_| ok_empty()).await;
    let c = key_client(&base);
    let ids: Vec<u64> = (1..=501).collect();
    assert!(matches!(
        c.assign_pack(7, &ids, "k").await,
        Err(ApiError::NotSent { .. })
    ));
    let e = c.assign_pack(7, &[1, 2, 1], "k").await.unwrap_err();
    assert!(matches!(&e, ApiError::NotSent { detail } if detail.contains("duplicate")));
    assert!(c.assign_pack(7, &[], "k").await.is_err());
    assert!(log.lock().unwrap().is_empty());
    // Exactly 500 distinct ids is fine.
    c.assign_pack(7, &ids[..500], "k").await.unwrap();
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].path, "/onboarding/v1/packs/7/assignments");
    assert_eq!(log[0].json()["userIds"].as_array().unwrap().len(), 500);
    assert_eq!(log[0].header("idempotency-key"), Some("k"));
}

#[tokio::test]
async fn packs_assignments_and_policy_types_decode_the_documented_shapes() {
    let (base, _log) = stub(|s| match s.path.as_str() {
        "/onboarding/v1/packs" => answer(
            200,
            serde_json::json!({"requestId": "a", "data": {"packs": [
                {"id": 11, "name": "Warehouse", "description": "d", "isDefault": true},
                {"id": 12, "name": "Office", "isDefault": false}
            ]}}),
        ),
        "/onboarding/v1/packs/11/assignments" => answer(
            200,
            serde_json::json!({"requestId": "b", "data": {"assignments": [
                {"id": 501, "userId": 7031021, "status": "in_progress", "isWaitingApproval": false},
                {"id": 503, "userId": 7031023, "status": "in_progress", "isWaitingApproval": true}
            ]}}),
        ),
        "/time-off/v1/policy-types" => answer(
            200,
            serde_json::json!({"requestId": "c", "data": {"policyTypes": [
                {"id": "pt-vac", "name": "Vacation", "policies": [
                    {"id": "pol-vac-ft-001", "name": "Full-time", "unit": "days", "accrualType": "none"}
                ]}
            ]}}),
        ),
        _ => answer(404, serde_json::json!({"detail": "Not Found"})),
    })
    .await;
    let c = key_client(&base);
    let packs = c.list_packs().await.unwrap();
    assert_eq!(packs.request_id.as_deref(), Some("a"));
    assert_eq!(
        packs.value,
        vec![
            Pack {
                id: 11,
                name: "Warehouse".into(),
                is_default: true
            },
            Pack {
                id: 12,
                name: "Office".into(),
                is_default: false
            },
        ]
    );
    let asg = c.pack_assignments(11).await.unwrap().value;
    assert_eq!(asg.len(), 2);
    assert_eq!(asg[1].user_id, 7031023);
    assert!(asg[1].is_waiting_approval);
    let types = c.policy_types().await.unwrap().value;
    assert_eq!(types[0].policies[0].id, "pol-vac-ft-001");
    assert_eq!(types[0].policies[0].unit.as_deref(), Some("days"));
}

#[tokio::test]
async fn assign_policy_puts_balance_and_unit() {
    let (base, log) = stub(|_| ok_empty()).await;
    let c = key_client(&base);
    c.assign_policy("pol-vac-ft-001", 9170357, Some(15.0), Some("days"), "k1")
        .await
        .unwrap();
    c.assign_policy("pol-sick-001", 9170357, None, None, "k2")
        .await
        .unwrap();
    assert!(
        c.assign_policy("p", 1, Some(f64::NAN), Some("days"), "k3")
            .await
            .is_err()
    );
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].method, "PUT");
    assert_eq!(
        log[0].path,
        "/time-off/v1/time-off-policies/pol-vac-ft-001/assignments"
    );
    assert_eq!(
        log[0].json(),
        serde_json::json!({"userId": 9170357, "balance": 15.0, "unit": "days"})
    );
    assert_eq!(log[0].header("idempotency-key"), Some("k1"));
    assert_eq!(log[1].json(), serde_json::json!({"userId": 9170357}));
}

#[tokio::test]
async fn base_url_path_prefix_is_kept() {
    let (base, log) = stub(|_| answer(200, serde_json::json!({"data": {"packs": []}}))).await;
    let c = key_client(&base).with_base_url(base.join("connecteam").unwrap());
    c.list_packs().await.unwrap();
    assert_eq!(
        log.lock().unwrap()[0].path,
        "/connecteam/onboarding/v1/packs"
    );
}

// ---- error classes ----

#[tokio::test]
async fn server_error_on_read_is_retryable_on_write_ambiguous() {
    let (base, _log) =
        stub(|_| answer(500, serde_json::json!({"detail": "Internal Server Error"}))).await;
    let c = key_client(&base);
    let e = c.list_packs().await.unwrap_err();
    assert!(
        matches!(
            e,
            ApiError::Retryable {
                status: Some(500),
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.endpoint_outcome(), "retryable");
    let e = c.assign_pack(1, &[1], "k").await.unwrap_err();
    assert!(
        matches!(
            e,
            ApiError::Ambiguous {
                status: Some(500),
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.endpoint_outcome(), "ambiguous");
    let e = c.create_users(&new_users(1), false, "k").await.unwrap_err();
    assert!(matches!(e, ApiError::Ambiguous { .. }), "{e:?}");
}

#[tokio::test]
async fn timeout_on_write_is_ambiguous_and_on_read_retryable() {
    let (base, log) = stub(|_| Answer {
        delay: Duration::from_millis(1_500),
        ..ok_empty()
    })
    .await;
    let c = Client::new(&config(&base, 200)).unwrap();
    let started = std::time::Instant::now();
    let e = c.assign_pack(1, &[1, 2], "k").await.unwrap_err();
    assert!(started.elapsed() < Duration::from_millis(1_200));
    assert!(
        matches!(&e, ApiError::Ambiguous { status: None, message, .. } if message.contains("timed out")),
        "{e:?}"
    );
    let e = c.list_packs().await.unwrap_err();
    assert!(matches!(e, ApiError::Retryable { .. }), "{e:?}");
    // The write did reach the server: exactly why it is ambiguous.
    assert_eq!(log.lock().unwrap()[0].method, "POST");
}

/// A server that reads the request and closes the connection without answering.
async fn dropping_server() -> Url {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65_536];
                let _ = sock.read(&mut buf).await;
                drop(sock);
            });
        }
    });
    Url::parse(&format!("http://{addr}/")).unwrap()
}

#[tokio::test]
async fn dropped_connection_is_ambiguous_for_a_write_retryable_for_a_read() {
    let c = key_client(&dropping_server().await);
    let e = c.create_users(&new_users(2), false, "k").await.unwrap_err();
    assert!(
        matches!(e, ApiError::Ambiguous { status: None, .. }),
        "{e:?}"
    );
    let e = c.assign_policy("p", 1, None, None, "k").await.unwrap_err();
    assert!(matches!(e, ApiError::Ambiguous { .. }), "{e:?}");
    let e = c.pack_assignments(1).await.unwrap_err();
    assert!(matches!(e, ApiError::Retryable { .. }), "{e:?}");
}

#[test]
fn rate_headers_tolerate_fractions_and_absence() {
    let mut h = reqwest::header::HeaderMap::new();
    assert_eq!(rate_from_headers(&h), None);
    h.insert("x-ratelimit-minute-reset", "1763790060.0".parse().unwrap());
    h.insert("x-ratelimit-minute-remaining", "-1".parse().unwrap());
    h.insert("x-ratelimit-day-remaining", "n/a".parse().unwrap());
    let r = rate_from_headers(&h).unwrap();
    assert_eq!(r.minute_reset_epoch_s, Some(1_763_790_060));
    assert_eq!(r.minute_remaining, None);
    assert_eq!(r.day_remaining, None);
}

#[tokio::test]
async fn connection_refused_is_retryable_even_for_a_write() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let base = Url::parse(&format!("http://{addr}/")).unwrap();
    let c = key_client(&base);
    let e = c.find_users(&UserQuery::default()).await.unwrap_err();
    assert!(
        matches!(e, ApiError::Retryable { status: None, .. }),
        "{e:?}"
    );
    // Nothing left the machine, so the write is known not to have happened.
    let e = c.assign_pack(1, &[1], "k").await.unwrap_err();
    assert!(matches!(e, ApiError::Retryable { .. }), "{e:?}");
}

#[tokio::test]
async fn status_429_is_rate_limited_with_headers() {
    let (base, _log) = stub(|_| Answer {
        headers: vec![
            ("x-ratelimit-minute-limit", "100".into()),
            ("x-ratelimit-minute-remaining", "0".into()),
            ("x-ratelimit-minute-reset", "1763790060".into()),
        ],
        ..answer(429, serde_json::json!({"detail": "Too many requests"}))
    })
    .await;
    let c = key_client(&base);
    for e in [
        c.list_packs().await.unwrap_err(),
        c.assign_pack(1, &[1], "k").await.unwrap_err(),
    ] {
        assert!(matches!(e, ApiError::RateLimited { .. }), "{e:?}");
        assert_eq!(e.endpoint_outcome(), "rate_limited");
        let rate = e.rate().unwrap();
        assert_eq!(rate.minute_remaining, Some(0));
        assert_eq!(rate.minute_limit, Some(100));
        assert_eq!(rate.minute_reset_epoch_s, Some(1_763_790_060));
        assert_eq!(rate.day_remaining, None);
    }
}

#[tokio::test]
async fn status_200_with_throttle_body_is_rate_limited() {
    let (base, _log) =
        stub(|_| answer(200, serde_json::json!({"detail": "Too many requests"}))).await;
    let c = key_client(&base);
    assert!(matches!(
        c.find_users(&UserQuery::default()).await,
        Err(ApiError::RateLimited { .. })
    ));
    assert!(matches!(
        c.assign_pack(1, &[1], "k").await,
        Err(ApiError::RateLimited { .. })
    ));
    assert!(matches!(
        c.assign_policy("p", 1, None, None, "k").await,
        Err(ApiError::RateLimited { .. })
    ));
}

#[tokio::test]
async fn not_found_is_permanent_with_detail() {
    let (base, _log) = stub(|_| answer(404, serde_json::json!({"detail": "Pack not found"}))).await;
    let c = key_client(&base);
    let e = c.assign_pack(99, &[1], "k").await.unwrap_err();
    assert_eq!(
        e,
        ApiError::Permanent {
            status: 404,
            detail: "Pack not found".into(),
            rate: None
        }
    );
    assert_eq!(e.endpoint_outcome(), "permanent");
    assert!(matches!(
        c.pack_assignments(99).await,
        Err(ApiError::Permanent { status: 404, .. })
    ));
}

#[tokio::test]
async fn validation_error_list_is_rendered_readably() {
    let (base, _log) = stub(|_| {
        answer(
            422,
            serde_json::json!({"detail": [
                {"loc": ["body", "userId"], "msg": "field required", "type": "value_error.missing"},
                {"loc": ["body", "userIds", 3], "msg": "user does not exist", "type": "value_error"}
            ]}),
        )
    })
    .await;
    let c = key_client(&base);
    let e = c
        .assign_policy("pol-1", 5, None, None, "k")
        .await
        .unwrap_err();
    let ApiError::Permanent { status, detail, .. } = e else {
        panic!("{e:?}")
    };
    assert_eq!(status, 422);
    assert_eq!(
        detail,
        "body.userId: field required (value_error.missing); body.userIds.3: user does not exist (value_error)"
    );
}

#[tokio::test]
async fn unexpected_success_body_is_a_decode_error() {
    let (base, _log) = stub(|s| {
        if s.path == "/users/v1/users" {
            answer(200, serde_json::json!({"data": {}}))
        } else {
            Answer {
                body: "<html>maintenance</html>".into(),
                ..ok_empty()
            }
        }
    })
    .await;
    let c = key_client(&base);
    // A page without `users` must not read as "no such user".
    assert!(matches!(
        c.find_users(&UserQuery::default()).await,
        Err(ApiError::Decode { .. })
    ));
    assert!(matches!(c.list_packs().await, Err(ApiError::Decode { .. })));
}

#[tokio::test]
async fn wrong_key_is_permanent_and_never_echoed() {
    let (base, log) = stub(|_| answer(401, serde_json::json!({"detail": "Unauthorized"}))).await;
    let c = key_client(&base);
    let e = c.list_packs().await.unwrap_err();
    assert!(matches!(e, ApiError::Permanent { status: 401, .. }));
    assert!(!format!("{e:?} {e}").contains(KEY));
    assert_eq!(
        log.lock().unwrap().len(),
        1,
        "an API key 401 is not repeated"
    );
}

#[tokio::test]
async fn debug_of_client_hides_secrets() {
    let base = Url::parse("http://127.0.0.1:9/").unwrap();
    let shown = format!("{:?}", key_client(&base));
    assert!(!shown.contains(KEY), "{shown}");
    assert!(shown.contains("api_key"));
    let shown = format!("{:?}", oauth_client(&base));
    assert!(!shown.contains("OAUTH_SECRET"), "{shown}");
}

#[test]
fn new_rejects_missing_credentials() {
    let base = Url::parse("http://127.0.0.1:9/").unwrap();
    let mut cfg = config(&base, 1000);
    cfg.auth = None;
    assert!(matches!(
        Client::new(&cfg),
        Err(crate::connecteam::ClientError::Unconfigured)
    ));
}

// ---- OAuth ----

/// A stub with a token endpoint issuing `tok-1`, `tok-2`, … (lifetime `expires_in`) and an
/// API that accepts only tokens for which `accept` says yes.
async fn oauth_stub(
    expires_in: f64,
    accept: impl Fn(&str) -> bool + Send + Sync + 'static,
) -> (Url, Log, Arc<AtomicUsize>) {
    let issued = Arc::new(AtomicUsize::new(0));
    let n = issued.clone();
    let (base, log) = stub(move |s| {
        if s.path == "/oauth/v1/token" {
            let i = n.fetch_add(1, Ordering::SeqCst) + 1;
            return Answer {
                delay: Duration::from_millis(50),
                ..answer(
                    200,
                    serde_json::json!({"access_token": format!("tok-{i}"), "token_type": "Bearer",
                        "expires_in": expires_in, "scope": "users.read"}),
                )
            };
        }
        match s
            .header("authorization")
            .and_then(|h| h.strip_prefix("Bearer "))
        {
            Some(t) if accept(t) => answer(200, serde_json::json!({"data": {"packs": []}})),
            _ => answer(401, serde_json::json!({"detail": "Invalid token"})),
        }
    })
    .await;
    (base, log, issued)
}

#[tokio::test]
async fn oauth_token_fetched_once_for_concurrent_calls() {
    let (base, log, issued) = oauth_stub(86_400.0, |_| true).await;
    let c = oauth_client(&base);
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.list_packs().await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(issued.load(Ordering::SeqCst), 1);
    let log = log.lock().unwrap();
    let token_req = log.iter().find(|s| s.path == "/oauth/v1/token").unwrap();
    assert_eq!(token_req.method, "POST");
    // Basic base64("hb-client:OAUTH_SECRET_xyz")
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode("hb-client:OAUTH_SECRET_xyz");
    assert_eq!(
        token_req.header("authorization"),
        Some(format!("Basic {basic}").as_str())
    );
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&token_req.body)
        .into_owned()
        .collect();
    assert_eq!(
        form,
        vec![
            ("grant_type".to_owned(), "client_credentials".to_owned()),
            ("scope".to_owned(), DEFAULT_SCOPES.to_owned()),
        ]
    );
    let api: Vec<_> = log.iter().filter(|s| s.path != "/oauth/v1/token").collect();
    assert_eq!(api.len(), 20);
    assert!(
        api.iter()
            .all(|s| s.header("authorization") == Some("Bearer tok-1"))
    );
    assert!(api.iter().all(|s| s.header("x-api-key").is_none()));
}

#[tokio::test]
async fn oauth_token_renewed_near_expiry() {
    // 1 s lifetime: renewed once half of it has passed.
    let (base, log, issued) = oauth_stub(1.0, |_| true).await;
    let c = oauth_client(&base);
    c.list_packs().await.unwrap();
    c.list_packs().await.unwrap();
    assert_eq!(issued.load(Ordering::SeqCst), 1);
    tokio::time::sleep(Duration::from_millis(600)).await;
    c.list_packs().await.unwrap();
    assert_eq!(issued.load(Ordering::SeqCst), 2);
    let last = log.lock().unwrap().last().unwrap().clone();
    assert_eq!(last.header("authorization"), Some("Bearer tok-2"));
}

#[tokio::test]
async fn oauth_401_refetches_the_token_and_retries_once() {
    // The first token has been revoked on the server's side.
    let (base, log, issued) = oauth_stub(86_400.0, |t| t != "tok-1").await;
    let c = oauth_client(&base);
    c.list_packs().await.unwrap();
    assert_eq!(issued.load(Ordering::SeqCst), 2);
    let paths: Vec<String> = log.lock().unwrap().iter().map(|s| s.path.clone()).collect();
    assert_eq!(
        paths,
        [
            "/oauth/v1/token",
            "/onboarding/v1/packs",
            "/oauth/v1/token",
            "/onboarding/v1/packs"
        ]
    );
    // And the good token stays cached.
    c.list_packs().await.unwrap();
    assert_eq!(issued.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn oauth_persistent_401_is_permanent_after_one_retry() {
    let (base, log, issued) = oauth_stub(86_400.0, |_| false).await;
    let c = oauth_client(&base);
    let e = c.assign_pack(3, &[1], "k").await.unwrap_err();
    assert!(
        matches!(e, ApiError::Permanent { status: 401, .. }),
        "{e:?}"
    );
    assert_eq!(issued.load(Ordering::SeqCst), 2);
    let log = log.lock().unwrap();
    let posts: Vec<_> = log
        .iter()
        .filter(|s| s.method == "POST" && s.path != "/oauth/v1/token")
        .collect();
    assert_eq!(posts.len(), 2);
    assert!(
        posts
            .iter()
            .all(|s| s.header("idempotency-key") == Some("k"))
    );
}

#[tokio::test]
async fn oauth_token_endpoint_failures_are_classified() {
    let (base, _log) = stub(|s| {
        if s.path == "/oauth/v1/token" {
            answer(
                401,
                serde_json::json!({"error": "invalid_client", "error_description": "bad secret"}),
            )
        } else {
            ok_empty()
        }
    })
    .await;
    let e = oauth_client(&base).list_packs().await.unwrap_err();
    let ApiError::Permanent { status, detail, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(*status, 401);
    assert_eq!(detail, "oauth token: invalid_client: bad secret");
    assert!(!format!("{e:?}").contains("OAUTH_SECRET"));

    let (base, _log) = stub(|_| answer(503, serde_json::json!({"detail": "down"}))).await;
    // A write whose token could not be fetched was never sent: retryable, not ambiguous.
    let e = oauth_client(&base)
        .assign_pack(1, &[1], "k")
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            ApiError::Retryable {
                status: Some(503),
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn metrics_are_recorded_by_endpoint_and_outcome() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || {
        rt.block_on(async {
            let (base, _log) = stub(|s| {
                if s.path == "/onboarding/v1/packs" {
                    Answer {
                        headers: vec![("x-ratelimit-minute-remaining", "42".into())],
                        ..answer(200, serde_json::json!({"data": {"packs": []}}))
                    }
                } else {
                    answer(429, serde_json::json!({"detail": "Too many requests"}))
                }
            })
            .await;
            let c = key_client(&base);
            c.list_packs().await.unwrap();
            c.assign_pack(1, &[1], "k").await.unwrap_err();
        })
    });
    let text = handle.render();
    assert!(
        text.contains(
            r#"hirebridge_connecteam_requests_total{endpoint="packs.list",outcome="ok"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains(
        r#"hirebridge_connecteam_requests_total{endpoint="packs.assign",outcome="rate_limited"} 1"#
    ));
    assert!(text.contains("hirebridge_connecteam_429_total 1"));
    assert!(text.contains("hirebridge_connecteam_budget_remaining 42"));
    assert!(text.contains("hirebridge_connecteam_request_duration_seconds"));
}
