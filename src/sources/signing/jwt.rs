//! JWTs: the `jwt` mode of a generic source and the admin API's tokens.

use std::time::{Duration, SystemTime};

use axum::http::HeaderMap;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::ExposeSecret;

use super::error::AuthError;
use super::headers::{bearer_token, unix_seconds};
use super::jwks::{JwksCache, JwksLookupError};
use crate::config::{JwtConfig, JwtKey};

/// JWT `exp`/`nbf`: allowance for clock skew between the issuer and us.
pub const JWT_LEEWAY: Duration = Duration::from_secs(30);

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
    /// Build from `admin.jwt` or a source's `auth.jwt`. The JWKS is fetched lazily with `http`.
    pub fn new(cfg: &JwtConfig, http: reqwest::Client) -> Self {
        let keys = match &cfg.key {
            JwtKey::Hs256(secret) => JwtKeys::Static {
                key: DecodingKey::from_secret(secret.expose_secret().as_bytes()),
                alg: Algorithm::HS256,
            },
            JwtKey::Rs256(key) => JwtKeys::Static {
                key: (**key).clone(),
                alg: Algorithm::RS256,
            },
            JwtKey::Jwks(url) => JwtKeys::Jwks(JwksCache::new(url.clone(), http)),
        };
        JwtVerifier {
            keys,
            issuer: cfg.issuer.clone(),
            audience: cfg.audience.clone(),
        }
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
