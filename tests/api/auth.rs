//! The four webhook auth modes end to end, and admin authentication.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hirebridge::config::{AuthConfig, Config, GenericSource, JwtConfig, JwtKey, SourceConfig};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    standard_webhooks_mode,
    hmac_mode,
    bearer_mode,
    jwt_modes,
    jwt_from_a_jwks_url,
    admin_routes_need_a_valid_token
);

async fn standard_webhooks_mode(b: Backend) {
    let app = TestApp::spawn(b).await;
    let body = serde_json::to_vec(&hire(&unique_id("evt"))).unwrap();
    assert_eq!(
        app.post_raw("sw", &body, &sw_headers(&body, now_s()))
            .await
            .status(),
        202
    );

    // Several signatures: one valid among them is enough.
    let body = serde_json::to_vec(&hire(&unique_id("evt"))).unwrap();
    let mut h = sw_headers(&body, now_s());
    h[3].1 = format!("v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= {}", h[3].1);
    assert_eq!(app.post_raw("sw", &body, &h).await.status(), 202);

    // Stale (6 minutes old) and future (6 minutes ahead) timestamps.
    for ts in [now_s() - 360, now_s() + 360] {
        let body = serde_json::to_vec(&hire(&unique_id("evt"))).unwrap();
        let r = app.post_raw("sw", &body, &sw_headers(&body, ts)).await;
        assert_eq!(r.status(), 401, "timestamp {ts}");
    }
    // A body changed after signing.
    let body = serde_json::to_vec(&hire(&unique_id("evt"))).unwrap();
    let h = sw_headers(&body, now_s());
    let mut tampered = body.clone();
    tampered[10] ^= 1;
    assert_eq!(app.post_raw("sw", &tampered, &h).await.status(), 401);
    // Missing headers.
    assert_eq!(app.post_raw("sw", &body, &h[..1]).await.status(), 401);
    app.stop().await;
}

async fn hmac_mode(b: Backend) {
    let app = TestApp::spawn(b).await;
    let body = serde_json::to_vec(&hire(&unique_id("evt"))).unwrap();
    assert_eq!(
        app.post_raw("hmac", &body, &hmac_headers(&body))
            .await
            .status(),
        202
    );
    let mut h = hmac_headers(&body);
    h[1].1 = format!("sha256={}", h[1].1);
    let body2 = serde_json::to_vec(&hire(&unique_id("evt"))).unwrap();
    assert_eq!(
        app.post_raw("hmac", &body2, &h).await.status(),
        401,
        "signature of another body"
    );
    app.stop().await;
}

async fn bearer_mode(b: Backend) {
    let app = TestApp::spawn(b).await;
    let body = serde_json::to_vec(&hire(&unique_id("evt"))).unwrap();
    let ok = vec![
        ("content-type", "application/json".to_owned()),
        ("authorization", format!("Bearer {BEARER_TOKEN}")),
    ];
    assert_eq!(app.post_raw("bearer", &body, &ok).await.status(), 202);
    let wrong = vec![
        ("content-type", "application/json".to_owned()),
        ("authorization", "Bearer static-test-tokeN".to_owned()),
    ];
    let r = app.post_raw("bearer", &body, &wrong).await;
    assert_eq!(r.status(), 401);
    let p: Value = r.json().await.unwrap();
    assert!(
        !p.to_string().contains(BEARER_TOKEN),
        "the expected token never leaks"
    );
    app.stop().await;
}

/// POST a new hire to `source` with `Authorization: Bearer {token}`.
async fn post_with_bearer(app: &TestApp, source: &str, token: &str) -> reqwest::Response {
    let body = serde_json::to_vec(&hire(&unique_id("evt"))).unwrap();
    let h = vec![
        ("content-type", "application/json".to_owned()),
        ("authorization", format!("Bearer {token}")),
    ];
    app.post_raw(source, &body, &h).await
}

async fn jwt_modes(b: Backend) {
    let app = TestApp::spawn(b).await;
    let post = |source: &'static str, token: String| {
        let app = &app;
        async move {
            post_with_bearer(app, source, &token)
                .await
                .status()
                .as_u16()
        }
    };
    let good =
        json!({"iss": "acme-hris", "aud": "hirebridge", "sub": "sender", "exp": now_s() + 300});
    assert_eq!(post("jwt", hs256(JWT_SECRET, &good)).await, 202);
    assert_eq!(post("jwt-rs", rs256(&good)).await, 202);

    let mut expired = good.clone();
    expired["exp"] = json!(now_s() - 3600);
    assert_eq!(post("jwt", hs256(JWT_SECRET, &expired)).await, 401);
    assert_eq!(post("jwt-rs", rs256(&expired)).await, 401);
    let mut wrong_aud = good.clone();
    wrong_aud["aud"] = json!("someone-else");
    assert_eq!(post("jwt", hs256(JWT_SECRET, &wrong_aud)).await, 401);
    let mut wrong_iss = good.clone();
    wrong_iss["iss"] = json!("mallory");
    assert_eq!(post("jwt-rs", rs256(&wrong_iss)).await, 401);
    // Forged: signed with another secret; an HS256 token made with the RSA public key as secret.
    assert_eq!(post("jwt", hs256("not-the-secret", &good)).await, 401);
    assert_eq!(post("jwt-rs", hs256(RSA_PUBLIC_PEM, &good)).await, 401);
    assert_eq!(post("jwt", "not.a.jwt".to_owned()).await, 401);
    app.stop().await;
}

/// A JWKS endpoint on loopback serving the test RSA key under `kid` "k1", counting its fetches.
async fn jwks_endpoint() -> (String, Arc<AtomicUsize>) {
    let mut jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(
        &jsonwebtoken::EncodingKey::from_rsa_pem(RSA_PRIVATE_PEM.as_bytes()).unwrap(),
        jsonwebtoken::Algorithm::RS256,
    )
    .unwrap();
    jwk.common.key_id = Some("k1".to_owned());
    let set = json!({ "keys": [jwk] });
    let fetches = Arc::new(AtomicUsize::new(0));
    let counter = fetches.clone();
    let router = axum::Router::new().route(
        "/.well-known/jwks.json",
        axum::routing::get(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            let set = set.clone();
            async move { axum::Json(set) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    (format!("http://{addr}/.well-known/jwks.json"), fetches)
}

fn jwks_source(cfg: &mut Config, name: &str, jwks_url: String) {
    let source = SourceConfig::Generic(GenericSource {
        auth: AuthConfig::Jwt(JwtConfig {
            key: JwtKey::Jwks(jwks_url.parse().expect("a JWKS URL")),
            issuer: Some("acme-hris".to_owned()),
            audience: Some("hirebridge".to_owned()),
        }),
        phone_region: None,
    });
    cfg.sources.insert(name.to_owned(), source);
}

/// A source whose keys come from a JWKS URL: fetched on first use, cached by `kid`, looked up
/// again (once) for an unknown `kid`, and a 503 (the sender retries) when the set cannot be had.
async fn jwt_from_a_jwks_url(b: Backend) {
    let (url, fetches) = jwks_endpoint().await;
    // An address nobody listens on: the set of "jwks-down" can never be fetched.
    let unreachable = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/jwks.json", l.local_addr().unwrap())
    };
    let db = TestDb::new(b).await;
    let app = TestApp::start(db, |cfg| {
        jwks_source(cfg, "jwks", url);
        jwks_source(cfg, "jwks-down", unreachable);
    })
    .await;
    let post = |source: &'static str, token: String| {
        let app = &app;
        async move { post_with_bearer(app, source, &token).await }
    };
    let k = |kid: &str, claims: &Value| rs256_with_kid(Some(kid), claims);
    let good =
        json!({"iss": "acme-hris", "aud": "hirebridge", "sub": "sender", "exp": now_s() + 300});
    assert_eq!(fetches.load(Ordering::SeqCst), 0, "fetched lazily");
    for _ in 0..3 {
        assert_eq!(post("jwks", k("k1", &good)).await.status(), 202);
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 1, "the set is cached");

    // A kid the set does not hold: looked up once more, then refused.
    let r = post("jwks", k("k2", &good)).await;
    assert_eq!(r.status(), 401);
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
    // Within the interval, another unknown kid does not make the sender's kids a fetch trigger.
    assert_eq!(post("jwks", k("k3", &good)).await.status(), 401);
    assert_eq!(fetches.load(Ordering::SeqCst), 2);

    // Claims still count; so does the algorithm the key is bound to.
    let mut expired = good.clone();
    expired["exp"] = json!(now_s() - 3600);
    assert_eq!(post("jwks", k("k1", &expired)).await.status(), 401);
    let mut hs = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs.kid = Some("k1".to_owned());
    let forged = jsonwebtoken::encode(
        &hs,
        &good,
        &jsonwebtoken::EncodingKey::from_secret(RSA_PUBLIC_PEM.as_bytes()),
    )
    .unwrap();
    assert_eq!(post("jwks", forged).await.status(), 401);

    // No key set to be had: 503, so the sender retries instead of dropping the event.
    let r = post("jwks-down", k("k1", &good)).await;
    assert_eq!(r.status(), 503);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["reason"], "jwks_unavailable", "{p}");
    app.stop().await;
}

async fn admin_routes_need_a_valid_token(b: Backend) {
    let app = TestApp::spawn(b).await;
    let r = app.http.get(app.url("/v1/events")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let bad = hs256(
        ADMIN_SECRET,
        &json!({"sub": "x", "aud": "other", "exp": now_s() + 60}),
    );
    let r = app
        .http
        .get(app.url("/v1/events"))
        .bearer_auth(bad)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let expired = hs256(
        ADMIN_SECRET,
        &json!({"sub": "x", "aud": "hirebridge-admin", "exp": now_s() - 600}),
    );
    let r = app
        .http
        .get(app.url("/v1/rules"))
        .bearer_auth(expired)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(app.admin_get("/v1/events").await.status(), 200);
    let db = app.stop().await;

    // Without admin.jwt the admin routes do not exist.
    let app = TestApp::start(db, |c| c.admin.jwt = None).await;
    for path in ["/v1/events", "/v1/events/x", "/v1/rules"] {
        let r = app.admin_get(path).await;
        assert_eq!(r.status(), 404, "{path}");
    }
    let r = app.admin_post("/v1/rules/evaluate", &hire("e")).await;
    assert_eq!(r.status(), 404);
    app.stop().await;
}
