//! Signature and token verification for sources. Verification runs over the raw body bytes,
//! before anything is parsed, with constant-time comparisons.
//!
//! One [`Verifier`] is built per configured `generic` source at startup (so a bad secret or key
//! stops the service instead of failing every request), and [`JwtVerifier`] also guards the
//! admin API. Errors ([`AuthError`]) carry a metric label and an HTTP status, and their messages
//! are safe to return to the caller: they never contain a secret, a token or a signature.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::{AuthConfig, JwtConfig, SignatureEncoding};
use crate::sources::jwks::{JwksCache, JwksLookupError};

type HmacSha256 = Hmac<Sha256>;

/// Standard Webhooks: how far a `webhook-timestamp` may be from our clock, either way.
/// Bounds the window in which a captured request can be replayed.
pub const TIMESTAMP_TOLERANCE: Duration = Duration::from_secs(5 * 60);
/// JWT `exp`/`nbf`: allowance for clock skew between the issuer and us.
pub const JWT_LEEWAY: Duration = Duration::from_secs(30);

/// Decode a Standard Webhooks secret (`whsec_` + base64) into its key bytes.
pub fn decode_whsec(secret: &str) -> Result<Vec<u8>, String> {
    let b64 = secret.strip_prefix("whsec_").unwrap_or(secret);
    let key = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| "a Standard Webhooks secret is `whsec_` followed by base64".to_owned())?;
    if key.is_empty() {
        return Err("the Standard Webhooks secret is empty".to_owned());
    }
    Ok(key)
}

/// Why a request was not authenticated. `reason()` is the metric label, `status()` the HTTP
/// status; `Display` is safe to show the caller (no secrets, tokens or signatures).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// A header the mode needs is absent or empty.
    #[error("missing credentials: {0}")]
    MissingCredentials(String),
    /// A credential header is present but not in the expected shape (wrong scheme, not ASCII).
    #[error("malformed credentials: {0}")]
    MalformedCredentials(&'static str),
    /// No signature matches the body (also a JWT whose signature does not verify).
    #[error("signature does not match")]
    BadSignature,
    /// Standard Webhooks: the timestamp is older than the tolerance.
    #[error("webhook-timestamp is too old")]
    StaleTimestamp,
    /// Standard Webhooks: the timestamp is ahead of our clock by more than the tolerance.
    #[error("webhook-timestamp is in the future")]
    FutureTimestamp,
    /// Standard Webhooks: the timestamp is not unix seconds.
    #[error("webhook-timestamp is not a unix time in seconds")]
    BadTimestamp,
    /// The token is not a well-formed JWT, lacks a required claim, or a static bearer token does
    /// not match.
    #[error("invalid token: {0}")]
    BadToken(&'static str),
    /// The JWT's algorithm is not the one its key allows.
    #[error("token algorithm is not accepted for this key")]
    WrongAlgorithm,
    /// The JWT's `exp` (plus leeway) is past.
    #[error("token has expired")]
    Expired,
    /// The JWT's `nbf` (minus leeway) is still ahead.
    #[error("token is not valid yet")]
    NotYetValid,
    /// The JWT's `iss` is absent or not the configured issuer: a token minted for another
    /// system must not open this one.
    #[error("token issuer is not accepted")]
    WrongIssuer,
    /// The JWT's `aud` is absent or not the configured audience: a token meant for another
    /// service of the same issuer must not be replayed here.
    #[error("token audience is not accepted")]
    WrongAudience,
    /// The JWT names a `kid` the key set does not hold.
    #[error("token signing key is unknown")]
    UnknownKey,
    /// The JWKS could not be fetched and no cached key fits: the sender should retry later.
    #[error("signing keys are temporarily unavailable")]
    KeysUnavailable,
}

impl AuthError {
    /// Low-cardinality label for metrics (`reason="bad_signature"`).
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::MissingCredentials(_) => "missing_credentials",
            AuthError::MalformedCredentials(_) => "malformed_credentials",
            AuthError::BadSignature => "bad_signature",
            AuthError::StaleTimestamp => "stale_timestamp",
            AuthError::FutureTimestamp => "future_timestamp",
            AuthError::BadTimestamp => "bad_timestamp",
            AuthError::BadToken(_) => "bad_token",
            AuthError::WrongAlgorithm => "wrong_algorithm",
            AuthError::Expired => "expired",
            AuthError::NotYetValid => "not_yet_valid",
            AuthError::WrongIssuer => "wrong_issuer",
            AuthError::WrongAudience => "wrong_audience",
            AuthError::UnknownKey => "unknown_key",
            AuthError::KeysUnavailable => "jwks_unavailable",
        }
    }

    /// 401 for every credential problem; 503 when the key set is unreachable, so the sender
    /// retries instead of dropping a possibly valid event.
    pub fn status(&self) -> u16 {
        match self {
            AuthError::KeysUnavailable => 503,
            _ => 401,
        }
    }
}

/// What a successful verification established about the request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verified {
    /// Standard Webhooks `webhook-id`: a sender-chosen delivery id, usable as a dedupe key.
    pub webhook_id: Option<String>,
    /// JWT `sub`: who sent it, for the audit trail.
    pub subject: Option<String>,
}

/// The authentication of one `generic` source, built once at startup from its `auth` config.
pub enum Verifier {
    /// Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
    StandardWebhooks { mac: HmacSha256 },
    /// HMAC-SHA256 of the raw body in a configured header.
    HmacSha256 {
        header: axum::http::HeaderName,
        mac: HmacSha256,
        encoding: SignatureEncoding,
    },
    /// `Authorization: Bearer <jwt>`.
    Jwt(Box<JwtVerifier>),
    /// `Authorization: Bearer <token>`; only the SHA-256 of the token is kept.
    Bearer { token_sha256: [u8; 32] },
    /// No authentication (config validation requires `allow_unauthenticated: true`).
    None,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Key material is deliberately left out.
        match self {
            Verifier::StandardWebhooks { .. } => f.write_str("Verifier::StandardWebhooks"),
            Verifier::HmacSha256 {
                header, encoding, ..
            } => f
                .debug_struct("Verifier::HmacSha256")
                .field("header", header)
                .field("encoding", encoding)
                .finish_non_exhaustive(),
            Verifier::Jwt(j) => f.debug_tuple("Verifier::Jwt").field(j).finish(),
            Verifier::Bearer { .. } => f.write_str("Verifier::Bearer"),
            Verifier::None => f.write_str("Verifier::None"),
        }
    }
}

fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

fn hmac_key(key: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length; this cannot fail.
    <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length")
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, AuthError> {
    let v = headers
        .get(name)
        .ok_or_else(|| AuthError::MissingCredentials(format!("{name} header")))?;
    let s = v
        .to_str()
        .map_err(|_| AuthError::MalformedCredentials("credential header is not ASCII"))?
        .trim();
    if s.is_empty() {
        return Err(AuthError::MissingCredentials(format!("{name} header")));
    }
    Ok(s)
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer_token(headers: &HeaderMap) -> Result<&str, AuthError> {
    let v = header_str(headers, "authorization")?;
    if v.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::MissingCredentials("bearer token".to_owned()));
    }
    let (scheme, token) = v.split_once(' ').ok_or(AuthError::MalformedCredentials(
        "expected Authorization: Bearer <token>",
    ))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::MalformedCredentials(
            "expected Authorization: Bearer <token>",
        ));
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(AuthError::MissingCredentials("bearer token".to_owned()));
    }
    Ok(token)
}

fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

impl Verifier {
    /// Build the verifier for one source's `auth` block. Fails on a missing or unusable secret or
    /// key, so misconfiguration is caught at startup. Messages never contain the secret.
    pub fn from_config(cfg: &AuthConfig, http: reqwest::Client) -> Result<Verifier, String> {
        match cfg {
            AuthConfig::StandardWebhooks(a) => {
                let secret = a
                    .secret
                    .as_ref()
                    .ok_or("standard_webhooks.secret is required")?;
                let key = decode_whsec(secret.expose_secret())?;
                Ok(Verifier::StandardWebhooks {
                    mac: hmac_key(&key),
                })
            }
            AuthConfig::HmacSha256(a) => {
                let secret = a.secret.as_ref().ok_or("hmac_sha256.secret is required")?;
                if secret.expose_secret().is_empty() {
                    return Err("hmac_sha256.secret is empty".to_owned());
                }
                let header = axum::http::HeaderName::from_bytes(a.header.as_bytes())
                    .map_err(|_| "hmac_sha256.header is not a valid header name".to_owned())?;
                Ok(Verifier::HmacSha256 {
                    header,
                    mac: hmac_key(secret.expose_secret().as_bytes()),
                    encoding: a.encoding,
                })
            }
            AuthConfig::Jwt(j) => Ok(Verifier::Jwt(Box::new(JwtVerifier::from_config(j, http)?))),
            AuthConfig::Bearer(b) => {
                let token = b.token.as_ref().ok_or("bearer.token is required")?;
                if token.expose_secret().is_empty() {
                    return Err("bearer.token is empty".to_owned());
                }
                Ok(Verifier::Bearer {
                    token_sha256: sha256(token.expose_secret().as_bytes()),
                })
            }
            AuthConfig::None(_) => Ok(Verifier::None),
        }
    }

    /// Verify the RAW body bytes and headers, before anything is parsed (a parser must never see
    /// unauthenticated input). `now` is injected so tests control the clock.
    pub async fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<Verified, AuthError> {
        match self {
            Verifier::StandardWebhooks { mac } => verify_standard_webhooks(mac, headers, body, now),
            Verifier::HmacSha256 {
                header,
                mac,
                encoding,
            } => {
                let value = header_str(headers, header.as_str())?;
                let value = match value.get(..7) {
                    Some(p) if p.eq_ignore_ascii_case("sha256=") => &value[7..],
                    _ => value,
                };
                let sig = match encoding {
                    SignatureEncoding::Hex => hex::decode(value).ok(),
                    SignatureEncoding::Base64 => {
                        base64::engine::general_purpose::STANDARD.decode(value).ok()
                    }
                }
                .ok_or(AuthError::BadSignature)?;
                let mut mac = mac.clone();
                mac.update(body);
                // `verify_slice` compares in constant time.
                mac.verify_slice(&sig)
                    .map_err(|_| AuthError::BadSignature)?;
                Ok(Verified::default())
            }
            Verifier::Jwt(j) => {
                let claims = j.verify_bearer(headers, now).await?;
                Ok(Verified {
                    webhook_id: None,
                    subject: claims
                        .get("sub")
                        .and_then(|s| s.as_str())
                        .map(str::to_owned),
                })
            }
            Verifier::Bearer { token_sha256 } => {
                let token = bearer_token(headers)?;
                // Comparing digests keeps the comparison constant-time even in the length.
                if bool::from(sha256(token.as_bytes()).ct_eq(token_sha256)) {
                    Ok(Verified::default())
                } else {
                    Err(AuthError::BadToken("bearer token does not match"))
                }
            }
            Verifier::None => Ok(Verified::default()),
        }
    }
}

fn verify_standard_webhooks(
    mac: &HmacSha256,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Result<Verified, AuthError> {
    let id = header_str(headers, "webhook-id")?;
    let ts_raw = header_str(headers, "webhook-timestamp")?;
    let sigs = header_str(headers, "webhook-signature")?;
    if ts_raw.is_empty() || ts_raw.len() > 18 || !ts_raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AuthError::BadTimestamp);
    }
    let ts: i64 = ts_raw.parse().map_err(|_| AuthError::BadTimestamp)?;
    let now_s = unix_seconds(now);
    let tol = TIMESTAMP_TOLERANCE.as_secs() as i64;
    if now_s.saturating_sub(ts) > tol {
        return Err(AuthError::StaleTimestamp);
    }
    if ts.saturating_sub(now_s) > tol {
        return Err(AuthError::FutureTimestamp);
    }
    let mut mac = mac.clone();
    // The reference implementations sign the integer as formatted, not the raw header text.
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(body);
    let expected = mac.finalize().into_bytes();
    let mut ok = subtle::Choice::from(0u8);
    for entry in sigs.split_ascii_whitespace() {
        let Some(("v1", b64)) = entry.split_once(',') else {
            continue; // other versions (v1a, …) are not ours to check
        };
        if let Ok(sig) = base64::engine::general_purpose::STANDARD.decode(b64) {
            // Keep looking after a match so timing does not reveal which entry matched.
            ok |= sig.as_slice().ct_eq(expected.as_slice());
        }
    }
    if bool::from(ok) {
        Ok(Verified {
            webhook_id: Some(id.to_owned()),
            subject: None,
        })
    } else {
        Err(AuthError::BadSignature)
    }
}

/// Test/README helper: the Standard Webhooks signature header value for a body (`v1,<base64>`).
/// `secret` is the `whsec_…` string; a malformed secret yields an empty key's signature, which
/// no verifier accepts.
pub fn sign_standard_webhooks(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let key = decode_whsec(secret).unwrap_or_default();
    let mut mac = hmac_key(&key);
    mac.update(format!("{msg_id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

/// Test/README helper: HMAC-SHA256 of `body` in the given encoding (no `sha256=` prefix).
pub fn sign_hmac_sha256(secret: &[u8], body: &[u8], encoding: SignatureEncoding) -> String {
    let mut mac = hmac_key(secret);
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    match encoding {
        SignatureEncoding::Hex => hex::encode(tag),
        SignatureEncoding::Base64 => base64::engine::general_purpose::STANDARD.encode(tag),
    }
}

enum JwtKeys {
    /// One configured key, bound to its single algorithm (HS256 or RS256).
    Static {
        key: DecodingKey,
        alg: Algorithm,
    },
    Jwks(JwksCache),
}

/// Verifies JWTs for the `jwt` source mode and the admin API. The accepted algorithm is fixed by
/// the key (HS256 secret, RS256 PEM, or per JWKS key), never by the token, which rules out
/// `none` and algorithm confusion. `exp` is required; `iss`/`aud` are required when configured.
pub struct JwtVerifier {
    keys: JwtKeys,
    issuer: Option<String>,
    audience: Option<String>,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = match &self.keys {
            JwtKeys::Static { alg, .. } => format!("{alg:?}"),
            JwtKeys::Jwks(c) => format!("{c:?}"),
        };
        f.debug_struct("JwtVerifier")
            .field("keys", &mode)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

fn map_jwt_error(e: &jsonwebtoken::errors::Error) -> AuthError {
    use jsonwebtoken::errors::ErrorKind as K;
    match e.kind() {
        K::InvalidSignature => AuthError::BadSignature,
        K::InvalidAlgorithm | K::InvalidAlgorithmName | K::UnsupportedAlgorithm => {
            AuthError::WrongAlgorithm
        }
        K::ExpiredSignature => AuthError::Expired,
        K::ImmatureSignature => AuthError::NotYetValid,
        K::InvalidIssuer => AuthError::WrongIssuer,
        K::InvalidAudience => AuthError::WrongAudience,
        K::MissingRequiredClaim(c) if c == "iss" => AuthError::WrongIssuer,
        K::MissingRequiredClaim(c) if c == "aud" => AuthError::WrongAudience,
        K::MissingRequiredClaim(_) => AuthError::BadToken("a required claim is missing"),
        _ => AuthError::BadToken("not a well-formed JWT"),
    }
}

/// A JSON number of seconds (integer or not), as `exp`/`nbf` are NumericDate.
fn numeric_date(v: &serde_json::Value) -> Option<f64> {
    v.as_f64().filter(|f| f.is_finite())
}

impl JwtVerifier {
    /// Build from `admin.jwt` or a source's `auth.jwt`: exactly one of `hs256_secret`,
    /// `rs256_public_key_pem`, `jwks_url`. The JWKS is fetched lazily with `http`.
    pub fn from_config(cfg: &JwtConfig, http: reqwest::Client) -> Result<Self, String> {
        let n = usize::from(cfg.hs256_secret.is_some())
            + usize::from(cfg.rs256_public_key_pem.is_some())
            + usize::from(cfg.jwks_url.is_some());
        if n != 1 {
            return Err(
                "jwt: exactly one of hs256_secret, rs256_public_key_pem, jwks_url is required"
                    .to_owned(),
            );
        }
        let keys = if let Some(secret) = &cfg.hs256_secret {
            if secret.expose_secret().is_empty() {
                return Err("jwt.hs256_secret is empty".to_owned());
            }
            JwtKeys::Static {
                key: DecodingKey::from_secret(secret.expose_secret().as_bytes()),
                alg: Algorithm::HS256,
            }
        } else if let Some(pem) = &cfg.rs256_public_key_pem {
            let key = DecodingKey::from_rsa_pem(pem.as_bytes())
                .map_err(|e| format!("jwt.rs256_public_key_pem: not an RSA public key: {e}"))?;
            JwtKeys::Static {
                key,
                alg: Algorithm::RS256,
            }
        } else {
            let url = cfg.jwks_url.clone().unwrap_or_default();
            JwtKeys::Jwks(JwksCache::new(url, http)?)
        };
        Ok(JwtVerifier {
            keys,
            issuer: cfg.issuer.clone(),
            audience: cfg.audience.clone(),
        })
    }

    fn validation(&self, alg: Algorithm) -> Validation {
        let mut v = Validation::new(alg);
        // Time claims are checked against the injected clock below, not the library's.
        v.validate_exp = false;
        v.validate_nbf = false;
        v.required_spec_claims.clear();
        if let Some(iss) = &self.issuer {
            v.set_issuer(&[iss]);
            v.required_spec_claims.insert("iss".to_owned());
        }
        match &self.audience {
            Some(aud) => {
                v.set_audience(&[aud]);
                v.required_spec_claims.insert("aud".to_owned());
            }
            // No audience configured: a token's `aud` is not ours to judge.
            None => v.validate_aud = false,
        }
        v
    }

    /// Verify a compact JWT and return its claims. `now` is injected so tests control the clock.
    pub async fn verify_token(
        &self,
        token: &str,
        now: SystemTime,
    ) -> Result<serde_json::Value, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| map_jwt_error(&e))?;
        let data = match &self.keys {
            JwtKeys::Static { key, alg } => {
                jsonwebtoken::decode::<serde_json::Value>(token, key, &self.validation(*alg))
            }
            JwtKeys::Jwks(cache) => {
                // Refuse a token whose alg no JWKS key could have before touching the network.
                if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
                    return Err(AuthError::WrongAlgorithm);
                }
                let k = cache
                    .key(header.kid.as_deref(), now)
                    .await
                    .map_err(|e| match e {
                        JwksLookupError::UnknownKey => AuthError::UnknownKey,
                        JwksLookupError::Unavailable => AuthError::KeysUnavailable,
                    })?;
                jsonwebtoken::decode::<serde_json::Value>(token, &k.key, &self.validation(k.alg))
            }
        }
        .map_err(|e| map_jwt_error(&e))?;
        let claims = data.claims;
        if !claims.is_object() {
            return Err(AuthError::BadToken("claims are not a JSON object"));
        }
        let now_s = unix_seconds(now) as f64;
        let leeway = JWT_LEEWAY.as_secs() as f64;
        match claims.get("exp") {
            None => return Err(AuthError::BadToken("the exp claim is required")),
            Some(v) => {
                let exp = numeric_date(v).ok_or(AuthError::BadToken("exp is not a number"))?;
                if exp + leeway < now_s {
                    return Err(AuthError::Expired);
                }
            }
        }
        if let Some(v) = claims.get("nbf") {
            let nbf = numeric_date(v).ok_or(AuthError::BadToken("nbf is not a number"))?;
            if nbf - leeway > now_s {
                return Err(AuthError::NotYetValid);
            }
        }
        Ok(claims)
    }

    /// Verify `Authorization: Bearer <jwt>` and return the claims.
    pub async fn verify_bearer(
        &self,
        headers: &HeaderMap,
        now: SystemTime,
    ) -> Result<serde_json::Value, AuthError> {
        let token = bearer_token(headers)?;
        self.verify_token(token, now).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{BearerAuth, HmacAuth, NoAuth, StandardWebhooksAuth};
    use axum::http::{HeaderName, HeaderValue};
    use jsonwebtoken::{EncodingKey, Header, encode, jwk::Jwk};
    use proptest::prelude::*;
    use serde_json::json;
    use std::future::Future;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, LazyLock};

    const RSA_PRIVATE: &[u8] = include_bytes!("../../tests/fixtures/test-only-rsa-private.pem");
    const RSA_PUBLIC: &str = include_str!("../../tests/fixtures/test-only-rsa-public.pem");
    const EC_PRIVATE: &[u8] = include_bytes!("../../tests/fixtures/test-only-ec-p256-private.pem");
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
        Verifier::from_config(
            &AuthConfig::StandardWebhooks(StandardWebhooksAuth {
                secret: Some(secret.into()),
                secret_file: None,
            }),
            CLIENT.clone(),
        )
        .unwrap()
    }

    fn hmac_verifier(secret: &str, encoding: SignatureEncoding) -> Verifier {
        Verifier::from_config(
            &AuthConfig::HmacSha256(HmacAuth {
                header: "X-Signature".to_owned(),
                secret: Some(secret.into()),
                secret_file: None,
                encoding,
            }),
            CLIENT.clone(),
        )
        .unwrap()
    }

    fn bearer_verifier(token: &str) -> Verifier {
        Verifier::from_config(
            &AuthConfig::Bearer(BearerAuth {
                token: Some(token.into()),
                token_file: None,
            }),
            CLIENT.clone(),
        )
        .unwrap()
    }

    fn jwt_cfg() -> JwtConfig {
        JwtConfig {
            hs256_secret: None,
            hs256_secret_file: None,
            rs256_public_key_pem: None,
            rs256_public_key_pem_file: None,
            jwks_url: None,
            issuer: Some("https://idp.example".to_owned()),
            audience: Some("hirebridge".to_owned()),
        }
    }

    fn hs_verifier() -> JwtVerifier {
        let cfg = JwtConfig {
            hs256_secret: Some("hs-test-secret".into()),
            ..jwt_cfg()
        };
        JwtVerifier::from_config(&cfg, CLIENT.clone()).unwrap()
    }

    fn rs_verifier() -> JwtVerifier {
        let cfg = JwtConfig {
            rs256_public_key_pem: Some(RSA_PUBLIC.to_owned()),
            ..jwt_cfg()
        };
        JwtVerifier::from_config(&cfg, CLIENT.clone()).unwrap()
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
        let e = ready(sw_verifier(&secret()).verify(
            &sw_headers("msg_1", ts, &sig),
            b"{\"a\":2}",
            now(),
        ));
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
            let cfg = AuthConfig::StandardWebhooks(StandardWebhooksAuth {
                secret: Some(bad.into()),
                secret_file: None,
            });
            let e = Verifier::from_config(&cfg, CLIENT.clone()).unwrap_err();
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
        assert!(
            ready(v.verify(&headers(&[("authorization", "bearer tok-123")]), b"", now())).is_ok()
        );
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
        let v = Verifier::from_config(&AuthConfig::None(NoAuth {}), CLIENT.clone()).unwrap();
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
        let cfg = AuthConfig::Jwt(JwtConfig {
            hs256_secret: Some("hs-test-secret".into()),
            ..jwt_cfg()
        });
        let v = Verifier::from_config(&cfg, CLIENT.clone()).unwrap();
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

    #[test]
    fn jwt_config_needs_exactly_one_key_source() {
        assert!(JwtVerifier::from_config(&jwt_cfg(), CLIENT.clone()).is_err());
        let both = JwtConfig {
            hs256_secret: Some("x".into()),
            rs256_public_key_pem: Some(RSA_PUBLIC.to_owned()),
            ..jwt_cfg()
        };
        assert!(JwtVerifier::from_config(&both, CLIENT.clone()).is_err());
        let bad_pem = JwtConfig {
            rs256_public_key_pem: Some("not a pem".to_owned()),
            ..jwt_cfg()
        };
        assert!(JwtVerifier::from_config(&bad_pem, CLIENT.clone()).is_err());
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
        let cfg = JwtConfig {
            jwks_url: Some(url.to_owned()),
            ..jwt_cfg()
        };
        JwtVerifier::from_config(&cfg, CLIENT.clone()).unwrap()
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
}
