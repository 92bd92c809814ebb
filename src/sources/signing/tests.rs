//! The signing primitives and the generic source's auth modes, against known vectors, forged
//! and stale requests, JWT attacks and arbitrary input.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use base64::Engine as _;
use jsonwebtoken::Algorithm;

use super::*;
use crate::config::{AuthConfig, HmacAuth, JwtConfig, JwtKey, SignatureEncoding, SigningKey};
use crate::sources::generic::GenericAuth as Verifier;
use crate::testkit::{sign_hmac_sha256, sign_standard_webhooks};
use jsonwebtoken::{EncodingKey, Header, encode, jwk::Jwk};
use proptest::prelude::*;
use serde_json::json;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};

const RSA_PRIVATE: &[u8] = include_bytes!("../../../tests/fixtures/test-only-rsa-private.pem");
const RSA_PUBLIC: &str = include_str!("../../../tests/fixtures/test-only-rsa-public.pem");
const EC_PRIVATE: &[u8] = include_bytes!("../../../tests/fixtures/test-only-ec-p256-private.pem");
const NOW_S: u64 = 1_800_000_000;

static CLIENT: LazyLock<reqwest::Client> = LazyLock::new(reqwest::Client::new);

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW_S)
}

fn whsec(raw: &[u8]) -> String {
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

fn secret() -> String {
    whsec(b"hirebridge-test-signing-key-0001")
}

/// The verifier futures of every mode but JWKS never wait: poll once, synchronously.
fn ready<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("verifier unexpectedly waited"),
    }
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

fn sw_verifier(secret: &str) -> Verifier {
    Verifier::new(
        &AuthConfig::StandardWebhooks(SigningKey::from_whsec(secret).unwrap()),
        CLIENT.clone(),
    )
}

fn hmac_verifier(secret: &str, encoding: SignatureEncoding) -> Verifier {
    Verifier::new(
        &AuthConfig::HmacSha256(HmacAuth {
            header: HeaderName::from_static("x-signature"),
            secret: secret.into(),
            encoding,
        }),
        CLIENT.clone(),
    )
}

fn bearer_verifier(token: &str) -> Verifier {
    Verifier::new(&AuthConfig::Bearer(token.into()), CLIENT.clone())
}

fn jwt_cfg(key: JwtKey) -> JwtConfig {
    JwtConfig {
        key,
        issuer: Some("https://idp.example".to_owned()),
        audience: Some("hirebridge".to_owned()),
    }
}

fn hs_verifier() -> JwtVerifier {
    JwtVerifier::new(
        &jwt_cfg(JwtKey::Hs256("hs-test-secret".into())),
        CLIENT.clone(),
    )
}

fn rs_verifier() -> JwtVerifier {
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(RSA_PUBLIC.as_bytes()).unwrap();
    JwtVerifier::new(
        &jwt_cfg(JwtKey::Rs256(std::sync::Arc::new(key))),
        CLIENT.clone(),
    )
}

fn claims(exp_offset: i64) -> serde_json::Value {
    json!({
        "sub": "ops-bot",
        "iss": "https://idp.example",
        "aud": "hirebridge",
        "iat": NOW_S,
        "exp": NOW_S as i64 + exp_offset,
    })
}

fn hs_token(c: &serde_json::Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        c,
        &EncodingKey::from_secret(b"hs-test-secret"),
    )
    .unwrap()
}

fn rs_token(c: &serde_json::Value, kid: Option<&str>) -> String {
    let mut h = Header::new(Algorithm::RS256);
    h.kid = kid.map(str::to_owned);
    encode(&h, c, &EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap()).unwrap()
}

fn bearer(token: &str) -> HeaderMap {
    headers(&[("authorization", &format!("Bearer {token}"))])
}

// ---- Standard Webhooks ----

fn sw_headers(id: &str, ts: i64, sig: &str) -> HeaderMap {
    headers(&[
        ("webhook-id", id),
        ("webhook-timestamp", &ts.to_string()),
        ("webhook-signature", sig),
    ])
}

#[test]
fn standard_webhooks_valid_passes_and_reports_the_id() {
    let body = br#"{"event_id":"evt_1"}"#;
    let ts = NOW_S as i64;
    let sig = sign_standard_webhooks(&secret(), "msg_1", ts, body);
    let v = ready(sw_verifier(&secret()).verify(&sw_headers("msg_1", ts, &sig), body, now()));
    assert_eq!(v.unwrap().webhook_id.as_deref(), Some("msg_1"));
}

#[test]
fn standard_webhooks_known_vector() {
    // From the Standard Webhooks reference test suite.
    let sig = sign_standard_webhooks(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        br#"{"test": 2432232314}"#,
    );
    assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

#[test]
fn standard_webhooks_modified_body_fails() {
    let ts = NOW_S as i64;
    let sig = sign_standard_webhooks(&secret(), "msg_1", ts, b"{\"a\":1}");
    let e =
        ready(sw_verifier(&secret()).verify(&sw_headers("msg_1", ts, &sig), b"{\"a\":2}", now()));
    assert_eq!(e.unwrap_err(), AuthError::BadSignature);
}

#[test]
fn standard_webhooks_signed_id_and_timestamp_cannot_be_swapped() {
    let ts = NOW_S as i64;
    let sig = sign_standard_webhooks(&secret(), "msg_1", ts, b"{}");
    let v = sw_verifier(&secret());
    let e = ready(v.verify(&sw_headers("msg_2", ts, &sig), b"{}", now()));
    assert_eq!(e.unwrap_err(), AuthError::BadSignature);
    let e = ready(v.verify(&sw_headers("msg_1", ts + 1, &sig), b"{}", now()));
    assert_eq!(e.unwrap_err(), AuthError::BadSignature);
}

#[test]
fn standard_webhooks_wrong_secret_fails() {
    let ts = NOW_S as i64;
    let sig = sign_standard_webhooks(&whsec(b"another-key"), "msg_1", ts, b"{}");
    let e = ready(sw_verifier(&secret()).verify(&sw_headers("msg_1", ts, &sig), b"{}", now()));
    assert_eq!(e.unwrap_err().reason(), "bad_signature");
}

#[test]
fn standard_webhooks_missing_headers_fail() {
    let ts = NOW_S.to_string();
    let sig = sign_standard_webhooks(&secret(), "m", NOW_S as i64, b"{}");
    let all = [
        ("webhook-id", "m"),
        ("webhook-timestamp", ts.as_str()),
        ("webhook-signature", sig.as_str()),
    ];
    let v = sw_verifier(&secret());
    for skip in 0..3 {
        let pairs: Vec<_> = all
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != skip)
            .map(|(_, p)| *p)
            .collect();
        let e = ready(v.verify(&headers(&pairs), b"{}", now())).unwrap_err();
        assert_eq!(e.reason(), "missing_credentials", "without {}", all[skip].0);
        assert_eq!(e.status(), 401);
    }
}

#[test]
fn standard_webhooks_stale_and_future_timestamps_fail() {
    let v = sw_verifier(&secret());
    let check = |offset: i64| {
        let ts = NOW_S as i64 + offset;
        let sig = sign_standard_webhooks(&secret(), "m", ts, b"{}");
        ready(v.verify(&sw_headers("m", ts, &sig), b"{}", now()))
    };
    assert_eq!(check(-301).unwrap_err(), AuthError::StaleTimestamp);
    assert_eq!(check(301).unwrap_err(), AuthError::FutureTimestamp);
    assert!(check(-300).is_ok());
    assert!(check(300).is_ok());
}

#[test]
fn standard_webhooks_bad_timestamp_fails() {
    let v = sw_verifier(&secret());
    for ts in [
        "soon",
        "-5",
        "+1800000000",
        "1.8e9",
        "99999999999999999999999",
    ] {
        let h = headers(&[
            ("webhook-id", "m"),
            ("webhook-timestamp", ts),
            ("webhook-signature", "v1,AAAA"),
        ]);
        let e = ready(v.verify(&h, b"{}", now())).unwrap_err();
        assert_eq!(e.reason(), "bad_timestamp", "{ts}");
    }
}

#[test]
fn standard_webhooks_any_of_several_signatures_may_match() {
    let ts = NOW_S as i64;
    let good = sign_standard_webhooks(&secret(), "m", ts, b"{}");
    let old = sign_standard_webhooks(&whsec(b"rotated-out-key"), "m", ts, b"{}");
    let header = format!("v2,Zm9v {old} v1,not-base64 {good}");
    let v = ready(sw_verifier(&secret()).verify(&sw_headers("m", ts, &header), b"{}", now()));
    assert!(v.is_ok());
    // Only other versions: nothing to check, so nothing matches.
    let only_v2 = good.replacen("v1,", "v1a,", 1);
    let e = ready(sw_verifier(&secret()).verify(&sw_headers("m", ts, &only_v2), b"{}", now()));
    assert_eq!(e.unwrap_err(), AuthError::BadSignature);
}

#[test]
fn standard_webhooks_rejects_an_unusable_secret_at_startup() {
    for bad in ["whsec_***", "whsec_"] {
        let e = SigningKey::from_whsec(bad).unwrap_err();
        assert!(!e.contains("***"));
    }
}

// ---- HMAC-SHA256 header ----

#[test]
fn hmac_valid_hex_base64_and_prefixed_pass() {
    let body = br#"{"event_id":"evt_1"}"#;
    for enc in [SignatureEncoding::Hex, SignatureEncoding::Base64] {
        let v = hmac_verifier("s3cret", enc);
        let sig = sign_hmac_sha256(b"s3cret", body, enc);
        assert!(ready(v.verify(&headers(&[("x-signature", &sig)]), body, now())).is_ok());
        let prefixed = format!("sha256={sig}");
        assert!(ready(v.verify(&headers(&[("X-Signature", &prefixed)]), body, now())).is_ok());
    }
    // Upper-case hex is the same signature.
    let v = hmac_verifier("s3cret", SignatureEncoding::Hex);
    let sig = sign_hmac_sha256(b"s3cret", body, SignatureEncoding::Hex).to_uppercase();
    assert!(ready(v.verify(&headers(&[("x-signature", &sig)]), body, now())).is_ok());
}

#[test]
fn hmac_forged_body_wrong_secret_and_missing_header_fail() {
    let v = hmac_verifier("s3cret", SignatureEncoding::Hex);
    let sig = sign_hmac_sha256(b"s3cret", b"{\"a\":1}", SignatureEncoding::Hex);
    let e = ready(v.verify(&headers(&[("x-signature", &sig)]), b"{\"a\":2}", now()));
    assert_eq!(e.unwrap_err(), AuthError::BadSignature);
    let sig = sign_hmac_sha256(b"other", b"{}", SignatureEncoding::Hex);
    let e = ready(v.verify(&headers(&[("x-signature", &sig)]), b"{}", now()));
    assert_eq!(e.unwrap_err(), AuthError::BadSignature);
    let e = ready(v.verify(&HeaderMap::new(), b"{}", now())).unwrap_err();
    assert_eq!(e.reason(), "missing_credentials");
    assert!(e.to_string().contains("x-signature"));
    let e = ready(v.verify(&headers(&[("x-signature", "zz")]), b"{}", now()));
    assert_eq!(e.unwrap_err(), AuthError::BadSignature);
}

// ---- static bearer ----

#[test]
fn bearer_token_checks() {
    let v = bearer_verifier("tok-123");
    assert!(ready(v.verify(&bearer("tok-123"), b"", now())).is_ok());
    assert!(ready(v.verify(&headers(&[("authorization", "bearer tok-123")]), b"", now())).is_ok());
    let e = ready(v.verify(&bearer("tok-124"), b"", now())).unwrap_err();
    assert_eq!(e.reason(), "bad_token");
    assert!(!e.to_string().contains("tok-12"));
    let e = ready(v.verify(&bearer("tok-123-and-more"), b"", now())).unwrap_err();
    assert_eq!(e.reason(), "bad_token");
    let e = ready(v.verify(&HeaderMap::new(), b"", now())).unwrap_err();
    assert_eq!(e.reason(), "missing_credentials");
    let basic = headers(&[("authorization", "Basic dG9rLTEyMw==")]);
    let e = ready(v.verify(&basic, b"", now())).unwrap_err();
    assert_eq!(e.reason(), "malformed_credentials");
    assert_eq!(e.status(), 401);
    let e = ready(v.verify(&headers(&[("authorization", "Bearer ")]), b"", now()));
    assert_eq!(e.unwrap_err().reason(), "missing_credentials");
}

#[test]
fn none_accepts_everything() {
    let v = Verifier::new(&AuthConfig::None, CLIENT.clone());
    assert!(ready(v.verify(&HeaderMap::new(), b"anything", now())).is_ok());
}

#[test]
fn debug_output_has_no_secrets() {
    let v = bearer_verifier("tok-123");
    let s = format!("{v:?} {:?} {:?}", hs_verifier(), sw_verifier(&secret()));
    assert!(
        !s.contains("tok-123") && !s.contains("hs-test-secret"),
        "{s}"
    );
}

// ---- JWT ----

#[test]
fn jwt_hs256_valid_passes_through_the_source_verifier() {
    let cfg = AuthConfig::Jwt(jwt_cfg(JwtKey::Hs256("hs-test-secret".into())));
    let v = Verifier::new(&cfg, CLIENT.clone());
    let got = ready(v.verify(&bearer(&hs_token(&claims(600))), b"{}", now())).unwrap();
    assert_eq!(got.subject.as_deref(), Some("ops-bot"));
}

#[test]
fn jwt_rs256_valid_passes() {
    let c = ready(rs_verifier().verify_token(&rs_token(&claims(600), None), now())).unwrap();
    assert_eq!(c["sub"], "ops-bot");
}

#[test]
fn jwt_expired_and_not_yet_valid_fail() {
    let v = hs_verifier();
    let e = ready(v.verify_token(&hs_token(&claims(-31)), now())).unwrap_err();
    assert_eq!(e, AuthError::Expired);
    // Within the leeway still passes.
    assert!(ready(v.verify_token(&hs_token(&claims(-29)), now())).is_ok());
    let mut c = claims(600);
    c["nbf"] = json!(NOW_S + 60);
    assert_eq!(
        ready(v.verify_token(&hs_token(&c), now())).unwrap_err(),
        AuthError::NotYetValid
    );
    let mut c = claims(600);
    c.as_object_mut().unwrap().remove("exp");
    let e = ready(v.verify_token(&hs_token(&c), now())).unwrap_err();
    assert_eq!(e.reason(), "bad_token");
}

#[test]
fn jwt_wrong_audience_and_issuer_fail() {
    let v = hs_verifier();
    let mut c = claims(600);
    c["aud"] = json!("someone-else");
    assert_eq!(
        ready(v.verify_token(&hs_token(&c), now())).unwrap_err(),
        AuthError::WrongAudience
    );
    c.as_object_mut().unwrap().remove("aud");
    assert_eq!(
        ready(v.verify_token(&hs_token(&c), now())).unwrap_err(),
        AuthError::WrongAudience
    );
    let mut c = claims(600);
    c["iss"] = json!("https://evil.example");
    assert_eq!(
        ready(v.verify_token(&hs_token(&c), now())).unwrap_err(),
        AuthError::WrongIssuer
    );
    c.as_object_mut().unwrap().remove("iss");
    assert_eq!(
        ready(v.verify_token(&hs_token(&c), now())).unwrap_err(),
        AuthError::WrongIssuer
    );
}

#[test]
fn jwt_forged_signature_fails() {
    let forged = encode(
        &Header::new(Algorithm::HS256),
        &claims(600),
        &EncodingKey::from_secret(b"guessed"),
    )
    .unwrap();
    let e = ready(hs_verifier().verify_token(&forged, now())).unwrap_err();
    assert_eq!(e, AuthError::BadSignature);
    // RS256: swap in another payload under the original signature.
    let good = rs_token(&claims(600), None);
    let other = rs_token(
        &json!({"sub": "admin", "exp": NOW_S + 600, "iss": "https://idp.example", "aud": "hirebridge"}),
        None,
    );
    let parts: Vec<&str> = good.split('.').collect();
    let other_parts: Vec<&str> = other.split('.').collect();
    let spliced = format!("{}.{}.{}", parts[0], other_parts[1], parts[2]);
    let e = ready(rs_verifier().verify_token(&spliced, now())).unwrap_err();
    assert_eq!(e, AuthError::BadSignature);
    assert!(!e.to_string().contains(parts[2]));
}

#[test]
fn jwt_algorithm_confusion_and_none_fail() {
    // HS256 signed with the RSA public key's PEM bytes as the HMAC secret.
    let confused = encode(
        &Header::new(Algorithm::HS256),
        &claims(600),
        &EncodingKey::from_secret(RSA_PUBLIC.as_bytes()),
    )
    .unwrap();
    let e = ready(rs_verifier().verify_token(&confused, now())).unwrap_err();
    assert_eq!(e, AuthError::WrongAlgorithm);
    assert_eq!(e.status(), 401);
    // alg: none with an empty signature.
    let b64 = |v: &serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg":"none","typ":"JWT"})),
        b64(&claims(600))
    );
    for v in [hs_verifier(), rs_verifier()] {
        assert!(ready(v.verify_token(&none, now())).is_err());
    }
    // An RS256 token is not accepted by the HS256 verifier either.
    let e = ready(hs_verifier().verify_token(&rs_token(&claims(600), None), now()));
    assert_eq!(e.unwrap_err(), AuthError::WrongAlgorithm);
}

// ---- JWKS ----

struct JwksServer {
    url: String,
    fetches: Arc<AtomicUsize>,
    down: Arc<AtomicBool>,
}

async fn jwks_server(set: serde_json::Value) -> JwksServer {
    let fetches = Arc::new(AtomicUsize::new(0));
    let counter = fetches.clone();
    let down = Arc::new(AtomicBool::new(false));
    let is_down = down.clone();
    let app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let counter = counter.clone();
            let set = set.clone();
            let is_down = is_down.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                if is_down.load(Ordering::SeqCst) {
                    Err(axum::http::StatusCode::SERVICE_UNAVAILABLE)
                } else {
                    Ok(axum::Json(set))
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    JwksServer {
        url: format!("http://{addr}/jwks"),
        fetches,
        down,
    }
}

fn jwks_verifier(url: &str) -> JwtVerifier {
    let cfg = jwt_cfg(JwtKey::Jwks(url::Url::parse(url).unwrap()));
    JwtVerifier::new(&cfg, CLIENT.clone())
}

fn test_jwks() -> serde_json::Value {
    let mut rsa = Jwk::from_encoding_key(
        &EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap(),
        Algorithm::RS256,
    )
    .unwrap();
    rsa.common.key_id = Some("rsa-1".to_owned());
    let mut ec = Jwk::from_encoding_key(
        &EncodingKey::from_ec_pem(EC_PRIVATE).unwrap(),
        Algorithm::ES256,
    )
    .unwrap();
    ec.common.key_id = Some("ec-1".to_owned());
    // A symmetric key in a public set must never be used.
    let oct = json!({"kty": "oct", "kid": "oct-1", "k": "aHMtdGVzdC1zZWNyZXQ"});
    json!({"keys": [rsa, ec, oct]})
}

#[tokio::test]
async fn jwks_verifies_by_kid_and_refetches_once_on_unknown_kid() {
    let srv = jwks_server(test_jwks()).await;
    let v = jwks_verifier(&srv.url);
    let c = v
        .verify_token(&rs_token(&claims(600), Some("rsa-1")), now())
        .await
        .unwrap();
    assert_eq!(c["sub"], "ops-bot");
    assert_eq!(srv.fetches.load(Ordering::SeqCst), 1);
    // Cached: no new fetch.
    v.verify_token(&rs_token(&claims(600), Some("rsa-1")), now())
        .await
        .unwrap();
    assert_eq!(srv.fetches.load(Ordering::SeqCst), 1);

    // ES256 from the same set.
    let mut h = Header::new(Algorithm::ES256);
    h.kid = Some("ec-1".to_owned());
    let es = encode(
        &h,
        &claims(600),
        &EncodingKey::from_ec_pem(EC_PRIVATE).unwrap(),
    )
    .unwrap();
    assert!(v.verify_token(&es, now()).await.is_ok());

    // Unknown kid: exactly one refetch, then throttled for 30 s.
    let unknown = rs_token(&claims(600), Some("rsa-2"));
    assert_eq!(
        v.verify_token(&unknown, now()).await,
        Err(AuthError::UnknownKey)
    );
    assert_eq!(srv.fetches.load(Ordering::SeqCst), 2);
    assert_eq!(
        v.verify_token(&unknown, now()).await,
        Err(AuthError::UnknownKey)
    );
    assert_eq!(srv.fetches.load(Ordering::SeqCst), 2);
    let later = now() + Duration::from_secs(31);
    assert_eq!(
        v.verify_token(&unknown, later).await,
        Err(AuthError::UnknownKey)
    );
    assert_eq!(srv.fetches.load(Ordering::SeqCst), 3);

    // The oct key is not taken from the set: an HS256 token naming it fails.
    let mut h = Header::new(Algorithm::HS256);
    h.kid = Some("oct-1".to_owned());
    let hs = encode(
        &h,
        &claims(600),
        &EncodingKey::from_secret(b"hs-test-secret"),
    )
    .unwrap();
    assert_eq!(
        v.verify_token(&hs, later).await,
        Err(AuthError::WrongAlgorithm)
    );
    // RS256 header naming the EC key: the key's own algorithm wins.
    let wrong = rs_token(&claims(600), Some("ec-1"));
    assert_eq!(
        v.verify_token(&wrong, later).await,
        Err(AuthError::WrongAlgorithm)
    );

    // Routine refresh once the set is 10 minutes old (last fetched at `later`).
    let much_later = later + Duration::from_secs(601);
    let mut c = claims(600);
    c["exp"] = json!(NOW_S + 1200);
    v.verify_token(&rs_token(&c, Some("rsa-1")), much_later)
        .await
        .unwrap();
    assert_eq!(srv.fetches.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn jwks_a_burst_of_unknown_kids_fetches_once() {
    let srv = jwks_server(test_jwks()).await;
    let v = Arc::new(jwks_verifier(&srv.url));
    let token = rs_token(&claims(600), Some("nobody"));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let v = v.clone();
            let token = token.clone();
            tokio::spawn(async move { v.verify_token(&token, now()).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), Err(AuthError::UnknownKey));
    }
    // The first load of the set, then one refetch for the unknown kid.
    assert_eq!(srv.fetches.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn jwks_unreachable_with_nothing_cached_is_503() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let v = jwks_verifier(&format!("http://{addr}/jwks"));
    let e = v
        .verify_token(&rs_token(&claims(600), Some("rsa-1")), now())
        .await
        .unwrap_err();
    assert_eq!(e, AuthError::KeysUnavailable);
    assert_eq!(e.status(), 503);
    assert_eq!(e.reason(), "jwks_unavailable");
}

#[tokio::test]
async fn jwks_keeps_cached_keys_when_the_endpoint_goes_away() {
    let srv = jwks_server(test_jwks()).await;
    let v = jwks_verifier(&srv.url);
    v.verify_token(&rs_token(&claims(600), Some("rsa-1")), now())
        .await
        .unwrap();
    srv.down.store(true, Ordering::SeqCst);
    // Past the refresh interval the refresh fails, but the cached key still fits.
    let later = now() + Duration::from_secs(700);
    let mut c = claims(600);
    c["exp"] = json!(NOW_S + 1200);
    assert!(
        v.verify_token(&rs_token(&c, Some("rsa-1")), later)
            .await
            .is_ok()
    );
    assert_eq!(srv.fetches.load(Ordering::SeqCst), 2);
    // An unknown kid while the endpoint is down: the sender should retry later.
    let e = v
        .verify_token(&rs_token(&c, Some("rsa-9")), later)
        .await
        .unwrap_err();
    assert_eq!(e.status(), 503);
    // Recovered: the next allowed fetch restores normal answers.
    srv.down.store(false, Ordering::SeqCst);
    let e = v
        .verify_token(
            &rs_token(&c, Some("rsa-9")),
            later + Duration::from_secs(31),
        )
        .await
        .unwrap_err();
    assert_eq!(e, AuthError::UnknownKey);
}

// ---- properties ----

fn sw_shared() -> &'static Verifier {
    static V: LazyLock<Verifier> = LazyLock::new(|| sw_verifier(&secret()));
    &V
}

proptest! {
    #[test]
    fn prop_standard_webhooks_sign_then_verify(
        body in proptest::collection::vec(any::<u8>(), 0..2048),
        id in "[A-Za-z0-9_-]{1,40}",
        offset in -300i64..=300,
    ) {
        let ts = NOW_S as i64 + offset;
        let sig = sign_standard_webhooks(&secret(), &id, ts, &body);
        let v = ready(sw_shared().verify(&sw_headers(&id, ts, &sig), &body, now()));
        prop_assert_eq!(v.unwrap().webhook_id, Some(id));
    }

    #[test]
    fn prop_standard_webhooks_any_changed_byte_fails(
        body in proptest::collection::vec(any::<u8>(), 1..512),
        idx in any::<prop::sample::Index>(),
        flip in 1u8..=255,
        in_signature in any::<bool>(),
    ) {
        let ts = NOW_S as i64;
        let sig = sign_standard_webhooks(&secret(), "m", ts, &body);
        let (body, sig) = if in_signature {
            let mut raw = base64::engine::general_purpose::STANDARD
                .decode(&sig[3..])
                .unwrap();
            let i = idx.index(raw.len());
            raw[i] ^= flip;
            (body, format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(raw)))
        } else {
            let mut body = body;
            let i = idx.index(body.len());
            body[i] ^= flip;
            (body, sig)
        };
        let e = ready(sw_shared().verify(&sw_headers("m", ts, &sig), &body, now()));
        prop_assert_eq!(e.unwrap_err(), AuthError::BadSignature);
    }

    #[test]
    fn prop_standard_webhooks_outside_tolerance_fails(
        offset in 301i64..10_000_000_000,
        past in any::<bool>(),
    ) {
        let ts = if past { NOW_S as i64 - offset } else { NOW_S as i64 + offset };
        let ts_text = ts.to_string();
        let sig = sign_standard_webhooks(&secret(), "m", ts, b"{}");
        let h = headers(&[
            ("webhook-id", "m"),
            ("webhook-timestamp", &ts_text),
            ("webhook-signature", &sig),
        ]);
        let e = ready(sw_shared().verify(&h, b"{}", now())).unwrap_err();
        prop_assert!(matches!(
            e,
            AuthError::StaleTimestamp | AuthError::FutureTimestamp | AuthError::BadTimestamp
        ));
        if ts >= 0 {
            let want = if past { AuthError::StaleTimestamp } else { AuthError::FutureTimestamp };
            prop_assert_eq!(e, want);
        }
    }

    #[test]
    fn prop_hmac_sign_then_verify_and_tamper(
        body in proptest::collection::vec(any::<u8>(), 1..1024),
        idx in any::<prop::sample::Index>(),
        flip in 1u8..=255,
        b64 in any::<bool>(),
    ) {
        let enc = if b64 { SignatureEncoding::Base64 } else { SignatureEncoding::Hex };
        let v = hmac_verifier("prop-secret", enc);
        let sig = sign_hmac_sha256(b"prop-secret", &body, enc);
        let h = headers(&[("x-signature", &sig)]);
        prop_assert!(ready(v.verify(&h, &body, now())).is_ok());
        let mut tampered = body.clone();
        let i = idx.index(tampered.len());
        tampered[i] ^= flip;
        prop_assert_eq!(ready(v.verify(&h, &tampered, now())).unwrap_err(), AuthError::BadSignature);
    }

    #[test]
    fn prop_random_headers_never_panic(
        values in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 5),
        body in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let names = ["webhook-id", "webhook-timestamp", "webhook-signature", "authorization", "x-signature"];
        let mut h = HeaderMap::new();
        for (name, value) in names.iter().zip(&values) {
            if let Ok(v) = HeaderValue::from_bytes(value) {
                h.insert(*name, v);
            }
        }
        // Also the printable variants that look nearly right.
        let text: Vec<String> = values.iter().map(|v| String::from_utf8_lossy(v).into_owned()).collect();
        let mut h2 = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&format!("v1,{} {}", text[0], text[1])) {
            h2.insert("webhook-signature", v);
        }
        if let Ok(v) = HeaderValue::from_str(&format!("Bearer {}.{}.{}", text[2], text[3], text[4])) {
            h2.insert("authorization", v);
        }
        h2.insert("webhook-id", HeaderValue::from_static("m"));
        h2.insert("webhook-timestamp", HeaderValue::from_str(&NOW_S.to_string()).unwrap());
        let verifiers = [
            sw_verifier(&secret()),
            hmac_verifier("k", SignatureEncoding::Hex),
            hmac_verifier("k", SignatureEncoding::Base64),
            bearer_verifier("t"),
            Verifier::Jwt(Box::new(hs_verifier())),
            Verifier::Jwt(Box::new(rs_verifier())),
        ];
        for v in &verifiers {
            let _ = ready(v.verify(&h, &body, now()));
            let _ = ready(v.verify(&h2, &body, now()));
        }
    }
}
