//! A `generic` source: the canonical hire itself, authenticated by exactly one `auth` mode.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use axum::http::HeaderName;
use base64::Engine as _;
use figment::Figment;
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use serde::Deserialize;

use crate::config::error::{ConfigError, check_region, extraction, invalid};
use crate::config::jwt::{JwtConfig, RawJwt};
use crate::config::secret;

#[derive(Debug, Clone)]
pub struct GenericSource {
    pub auth: AuthConfig,
    /// Region for phone numbers without a country code; overrides
    /// `connecteam.default_phone_region`.
    pub phone_region: Option<String>,
}

/// How a generic source authenticates: exactly one mode, validated.
#[derive(Debug, Clone)]
pub enum AuthConfig {
    /// Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
    StandardWebhooks(SigningKey),
    /// HMAC-SHA256 of the raw body in a header.
    HmacSha256(HmacAuth),
    /// `Authorization: Bearer <jwt>`.
    Jwt(JwtConfig),
    /// `Authorization: Bearer <token>`.
    Bearer(SecretString),
    /// None at all; only with `allow_unauthenticated: true`.
    None,
}

#[derive(Debug, Clone)]
pub struct HmacAuth {
    pub header: HeaderName,
    pub secret: SecretString,
    pub encoding: SignatureEncoding,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SignatureEncoding {
    #[default]
    Hex,
    Base64,
}

/// The key bytes of a Standard Webhooks secret (`whsec_` + base64).
#[derive(Clone)]
pub struct SigningKey(Arc<SecretSlice<u8>>);

impl SigningKey {
    /// Decode a `whsec_…` secret (the prefix is optional).
    pub fn from_whsec(secret: &str) -> Result<SigningKey, &'static str> {
        let b64 = secret.strip_prefix("whsec_").unwrap_or(secret);
        let key = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| "a Standard Webhooks secret is `whsec_` followed by base64")?;
        if key.is_empty() {
            return Err("the Standard Webhooks secret is empty");
        }
        Ok(SigningKey(Arc::new(SecretSlice::from(key))))
    }

    pub fn expose(&self) -> &[u8] {
        self.0.expose_secret()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey([REDACTED])")
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGeneric {
    auth: Option<RawAuth>,
    #[serde(default)]
    allow_unauthenticated: bool,
    phone_region: Option<String>,
}

/// The names of the auth modes, in the order the contract lists them.
const AUTH_MODES: &str = "standard_webhooks, hmac_sha256, jwt, bearer, none";

/// `auth` as written: every mode a key of its own, so that giving several (or none) is an
/// error that names them rather than one mode silently winning. A mode set to null counts as
/// not given, so an environment variable can unset one the file sets.
#[derive(Deserialize)]
#[serde(try_from = "RawModes")]
enum RawAuth {
    StandardWebhooks(RawSecret),
    HmacSha256(RawHmac),
    Jwt(RawJwt),
    Bearer(RawToken),
    None(NoAuth),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModes {
    standard_webhooks: Option<RawSecret>,
    hmac_sha256: Option<RawHmac>,
    jwt: Option<RawJwt>,
    bearer: Option<RawToken>,
    none: Option<NoAuth>,
}

impl TryFrom<RawModes> for RawAuth {
    type Error = String;

    fn try_from(m: RawModes) -> Result<Self, String> {
        let mut given: Vec<(&str, RawAuth)> = Vec::new();
        if let Some(a) = m.standard_webhooks {
            given.push(("standard_webhooks", RawAuth::StandardWebhooks(a)));
        }
        if let Some(a) = m.hmac_sha256 {
            given.push(("hmac_sha256", RawAuth::HmacSha256(a)));
        }
        if let Some(a) = m.jwt {
            given.push(("jwt", RawAuth::Jwt(a)));
        }
        if let Some(a) = m.bearer {
            given.push(("bearer", RawAuth::Bearer(a)));
        }
        if let Some(a) = m.none {
            given.push(("none", RawAuth::None(a)));
        }
        if given.len() == 1
            && let Some((_, mode)) = given.pop()
        {
            return Ok(mode);
        }
        let names: Vec<&str> = given.iter().map(|(n, _)| *n).collect();
        Err(if names.is_empty() {
            format!("exactly one of {AUTH_MODES} (no mode given)")
        } else {
            format!("exactly one of {AUTH_MODES} (given: {})", names.join(", "))
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecret {
    secret: Option<SecretString>,
    secret_file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHmac {
    header: String,
    secret: Option<SecretString>,
    secret_file: Option<PathBuf>,
    #[serde(default)]
    encoding: SignatureEncoding,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToken {
    token: Option<SecretString>,
    token_file: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct NoAuth {}

/// Read the generic source at `base` (`sources.<name>`) from its own keys.
pub(crate) fn read(
    fig: &Figment,
    base: &str,
    path: &[String],
) -> Result<GenericSource, ConfigError> {
    let raw: RawGeneric = fig.extract_lossy().map_err(|e| extraction(e, path))?;
    if let Some(r) = &raw.phone_region {
        check_region(&format!("{base}.phone_region"), r)?;
    }
    let auth = match raw.auth {
        None => {
            return Err(invalid(
                format!("{base}.auth"),
                "a generic source needs exactly one auth mode",
            ));
        }
        Some(RawAuth::None(_)) if !raw.allow_unauthenticated => {
            return Err(invalid(
                format!("{base}.auth.none"),
                "refused unless the source also sets allow_unauthenticated: true",
            ));
        }
        Some(RawAuth::None(_)) => AuthConfig::None,
        Some(RawAuth::StandardWebhooks(a)) => {
            let key = format!("{base}.auth.standard_webhooks.secret");
            let secret = secret::required(&key, a.secret, a.secret_file)?;
            AuthConfig::StandardWebhooks(
                SigningKey::from_whsec(secret.expose_secret()).map_err(|m| invalid(&key, m))?,
            )
        }
        Some(RawAuth::HmacSha256(a)) => {
            let key = format!("{base}.auth.hmac_sha256.secret");
            let secret = secret::required(&key, a.secret, a.secret_file)?;
            if secret.expose_secret().is_empty() {
                return Err(invalid(key, "is empty"));
            }
            let header = HeaderName::from_bytes(a.header.as_bytes()).map_err(|_| {
                invalid(
                    format!("{base}.auth.hmac_sha256.header"),
                    "not a valid header name",
                )
            })?;
            AuthConfig::HmacSha256(HmacAuth {
                header,
                secret,
                encoding: a.encoding,
            })
        }
        Some(RawAuth::Bearer(a)) => {
            let key = format!("{base}.auth.bearer.token");
            let token = secret::required(&key, a.token, a.token_file)?;
            if token.expose_secret().is_empty() {
                return Err(invalid(key, "is empty"));
            }
            AuthConfig::Bearer(token)
        }
        Some(RawAuth::Jwt(j)) => AuthConfig::Jwt(j.resolve(&format!("{base}.auth.jwt"))?),
    };
    Ok(GenericSource {
        auth,
        phone_region: raw.phone_region,
    })
}
