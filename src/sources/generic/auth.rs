//! How a generic source authenticates: the one mode its `auth` names, built from the shared
//! signing primitives.

use std::time::SystemTime;

use axum::http::HeaderMap;
use secrecy::ExposeSecret;

use crate::config::AuthConfig;
use crate::sources::signing::{
    AuthError, HeaderHmac, JwtVerifier, StandardWebhooks, StaticToken, Verified,
};

/// The authentication of one generic source, built once at start.
pub enum GenericAuth {
    StandardWebhooks(StandardWebhooks),
    HmacSha256(HeaderHmac),
    Jwt(Box<JwtVerifier>),
    Bearer(StaticToken),
    /// No authentication (the configuration requires `allow_unauthenticated: true`).
    None,
}

impl std::fmt::Debug for GenericAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Key material is deliberately left out.
        match self {
            GenericAuth::StandardWebhooks(_) => f.write_str("GenericAuth::StandardWebhooks"),
            GenericAuth::HmacSha256(h) => {
                f.debug_tuple("GenericAuth::HmacSha256").field(h).finish()
            }
            GenericAuth::Jwt(j) => f.debug_tuple("GenericAuth::Jwt").field(j).finish(),
            GenericAuth::Bearer(_) => f.write_str("GenericAuth::Bearer"),
            GenericAuth::None => f.write_str("GenericAuth::None"),
        }
    }
}

impl GenericAuth {
    /// The verifier for one source's `auth` (validated by the configuration already).
    pub fn new(cfg: &AuthConfig, http: reqwest::Client) -> GenericAuth {
        match cfg {
            AuthConfig::StandardWebhooks(key) => {
                GenericAuth::StandardWebhooks(StandardWebhooks::new(key.expose()))
            }
            AuthConfig::HmacSha256(a) => GenericAuth::HmacSha256(HeaderHmac::new(
                a.header.clone(),
                a.secret.expose_secret().as_bytes(),
                a.encoding,
            )),
            AuthConfig::Jwt(j) => GenericAuth::Jwt(Box::new(JwtVerifier::new(j, http))),
            AuthConfig::Bearer(token) => {
                GenericAuth::Bearer(StaticToken::new(token.expose_secret().as_bytes()))
            }
            AuthConfig::None => GenericAuth::None,
        }
    }

    /// Verify the RAW body bytes and headers, before anything is parsed (a parser must never
    /// see unauthenticated input). `now` is injected so tests control the clock.
    pub async fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<Verified, AuthError> {
        match self {
            GenericAuth::StandardWebhooks(sw) => sw.verify(headers, body, now),
            GenericAuth::HmacSha256(h) => h.verify(headers, body).map(|()| Verified::default()),
            GenericAuth::Jwt(j) => {
                let claims = j.verify_bearer(headers, now).await?;
                Ok(Verified {
                    webhook_id: None,
                    subject: claims
                        .get("sub")
                        .and_then(|s| s.as_str())
                        .map(str::to_owned),
                })
            }
            GenericAuth::Bearer(t) => t.verify(headers).map(|()| Verified::default()),
            GenericAuth::None => Ok(Verified::default()),
        }
    }
}
