//! `connecteam`: the account hirebridge delivers to.

use std::path::PathBuf;

use axum::http::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use super::error::{ConfigError, check_region, invalid};
use super::secret;

/// The scopes asked for with OAuth when none are configured: everything hirebridge calls.
pub const DEFAULT_SCOPES: &str =
    "users.read users.write onboarding.read onboarding.write time_off.read time_off.write";

/// The Connecteam account, validated.
#[derive(Debug, Clone)]
pub struct ConnecteamConfig {
    pub base_url: Url,
    /// How requests authenticate; `None`: not configured, nothing is delivered.
    pub auth: Option<ConnecteamAuth>,
    pub requests_per_minute: u32,
    pub create_missing_users: bool,
    pub default_phone_region: String,
    /// Whether a created user gets Connecteam's activation SMS when no matching rule says
    /// (`assign.activation`).
    pub send_activation: bool,
    pub timeout_ms: u64,
}

/// Exactly one way of authenticating.
#[derive(Debug, Clone)]
pub enum ConnecteamAuth {
    /// `X-API-KEY` (trimmed, and valid as a header value).
    ApiKey(SecretString),
    /// OAuth 2.0 client credentials.
    OAuth(OAuthConfig),
}

#[derive(Debug, Clone)]
pub struct OAuthConfig {
    pub client_id: String,
    pub client_secret: SecretString,
    /// Space-separated scopes ([`DEFAULT_SCOPES`] when none were given).
    pub scopes: String,
}

/// `connecteam` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConnecteam {
    base_url: String,
    api_key: Option<SecretString>,
    api_key_file: Option<PathBuf>,
    oauth: Option<RawOAuth>,
    requests_per_minute: std::num::NonZeroU32,
    create_missing_users: bool,
    default_phone_region: String,
    send_activation: bool,
    timeout_ms: std::num::NonZeroU64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOAuth {
    client_id: String,
    client_secret: Option<SecretString>,
    client_secret_file: Option<PathBuf>,
    /// Space-separated scopes, or a list.
    #[serde(default)]
    scopes: Option<Scopes>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Scopes {
    List(Vec<String>),
    Spaced(String),
}

impl RawConnecteam {
    pub(crate) fn resolve(self) -> Result<ConnecteamConfig, ConfigError> {
        let api_key = secret::resolve("connecteam.api_key", self.api_key, self.api_key_file)?;
        let oauth = self.oauth.map(RawOAuth::resolve).transpose()?;
        let base_url = Url::parse(&self.base_url)
            .map_err(|e| invalid("connecteam.base_url", e.to_string()))?;
        if base_url.cannot_be_a_base() {
            return Err(invalid("connecteam.base_url", "cannot be a base URL"));
        }
        let auth = match (api_key, oauth) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "connecteam",
                    "set either api_key or oauth, not both",
                ));
            }
            (Some(key), None) => {
                let trimmed = key.expose_secret().trim();
                if trimmed.is_empty() {
                    return Err(invalid("connecteam.api_key", "is empty"));
                }
                if HeaderValue::from_str(trimmed).is_err() {
                    return Err(invalid(
                        "connecteam.api_key",
                        "contains characters not allowed in a header",
                    ));
                }
                Some(ConnecteamAuth::ApiKey(SecretString::from(
                    trimmed.to_owned(),
                )))
            }
            (None, Some(o)) => Some(ConnecteamAuth::OAuth(o)),
            (None, None) => None,
        };
        check_region(
            "connecteam.default_phone_region",
            &self.default_phone_region,
        )?;
        Ok(ConnecteamConfig {
            base_url,
            auth,
            requests_per_minute: self.requests_per_minute.get(),
            create_missing_users: self.create_missing_users,
            default_phone_region: self.default_phone_region,
            send_activation: self.send_activation,
            timeout_ms: self.timeout_ms.get(),
        })
    }
}

impl RawOAuth {
    fn resolve(self) -> Result<OAuthConfig, ConfigError> {
        let client_secret = secret::required(
            "connecteam.oauth.client_secret",
            self.client_secret,
            self.client_secret_file,
        )?;
        let client_id = self.client_id.trim().to_owned();
        if client_id.is_empty() {
            return Err(invalid("connecteam.oauth.client_id", "is empty"));
        }
        let scopes = match self.scopes {
            Some(Scopes::List(v)) => v.join(" "),
            Some(Scopes::Spaced(s)) => s,
            None => String::new(),
        };
        let scopes = scopes.split_whitespace().collect::<Vec<_>>().join(" ");
        Ok(OAuthConfig {
            client_id,
            client_secret,
            scopes: if scopes.is_empty() {
                DEFAULT_SCOPES.to_owned()
            } else {
                scopes
            },
        })
    }
}
