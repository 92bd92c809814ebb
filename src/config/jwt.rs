//! JWT verification settings: `admin.jwt`, and the `jwt` auth mode of a generic source.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use jsonwebtoken::DecodingKey;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use super::error::{ConfigError, invalid};
use super::secret;

/// `admin`: who may use the operator API.
#[derive(Debug, Clone, Default)]
pub struct AdminConfig {
    /// `None`: the admin routes answer 404.
    pub jwt: Option<JwtConfig>,
}

/// How tokens are verified: one key, and the claims they must carry.
#[derive(Debug, Clone)]
pub struct JwtConfig {
    pub key: JwtKey,
    pub issuer: Option<String>,
    pub audience: Option<String>,
}

/// Exactly one source of keys; each fixes the algorithm a token may use.
#[derive(Clone)]
pub enum JwtKey {
    /// A shared secret: HS256.
    Hs256(SecretString),
    /// An RSA public key (parsed from PEM): RS256.
    Rs256(Arc<DecodingKey>),
    /// A JSON Web Key Set fetched from an http(s) URL: RS256 or ES256 per key.
    Jwks(Url),
}

impl fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwtKey::Hs256(_) => f.write_str("Hs256([REDACTED])"),
            JwtKey::Rs256(_) => f.write_str("Rs256(public key)"),
            JwtKey::Jwks(url) => f.debug_tuple("Jwks").field(&url.as_str()).finish(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAdmin {
    jwt: Option<RawJwt>,
}

impl RawAdmin {
    pub(crate) fn resolve(self) -> Result<AdminConfig, ConfigError> {
        Ok(AdminConfig {
            jwt: self.jwt.map(|j| j.resolve("admin.jwt")).transpose()?,
        })
    }
}

/// A JWT block as written: exactly one of `hs256_secret`, `rs256_public_key_pem`, `jwks_url`
/// (or their `_file` forms).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawJwt {
    hs256_secret: Option<SecretString>,
    hs256_secret_file: Option<PathBuf>,
    rs256_public_key_pem: Option<String>,
    rs256_public_key_pem_file: Option<PathBuf>,
    jwks_url: Option<String>,
    issuer: Option<String>,
    audience: Option<String>,
}

impl RawJwt {
    /// The block at `base` (`admin.jwt`, `sources.x.auth.jwt`), validated.
    pub(crate) fn resolve(self, base: &str) -> Result<JwtConfig, ConfigError> {
        let hs = secret::resolve(
            &format!("{base}.hs256_secret"),
            self.hs256_secret,
            self.hs256_secret_file,
        )?;
        let pem =
            match (self.rs256_public_key_pem, self.rs256_public_key_pem_file) {
                (Some(_), Some(_)) => {
                    return Err(invalid(
                        format!("{base}.rs256_public_key_pem"),
                        "set the value or the _file, not both",
                    ));
                }
                (Some(p), None) => Some(p),
                (None, Some(path)) => Some(std::fs::read_to_string(&path).map_err(|source| {
                    ConfigError::SecretFile {
                        key: format!("{base}.rs256_public_key_pem_file"),
                        path,
                        source,
                    }
                })?),
                (None, None) => None,
            };
        let key = match (hs, pem, self.jwks_url) {
            (Some(secret), None, None) => {
                if secret.expose_secret().is_empty() {
                    return Err(invalid(format!("{base}.hs256_secret"), "is empty"));
                }
                JwtKey::Hs256(secret)
            }
            (None, Some(pem), None) => {
                let key = DecodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| {
                    invalid(
                        format!("{base}.rs256_public_key_pem"),
                        format!("not an RSA public key in PEM: {e}"),
                    )
                })?;
                JwtKey::Rs256(Arc::new(key))
            }
            (None, None, Some(u)) => {
                let url = Url::parse(&u)
                    .map_err(|e| invalid(format!("{base}.jwks_url"), e.to_string()))?;
                if !matches!(url.scheme(), "http" | "https") {
                    return Err(invalid(
                        format!("{base}.jwks_url"),
                        "must be an http or https URL",
                    ));
                }
                JwtKey::Jwks(url)
            }
            _ => {
                return Err(invalid(
                    base,
                    "exactly one of hs256_secret, rs256_public_key_pem, jwks_url is required",
                ));
            }
        };
        Ok(JwtConfig {
            key,
            issuer: self.issuer,
            audience: self.audience,
        })
    }
}
