//! Configuration: built-in defaults, then the YAML file, then `HIREBRIDGE__SECTION__KEY`
//! environment variables. Read as written (every problem named by the key's path, never by its
//! value), then resolved once into the typed forms the service uses: a secret is read from its
//! `*_file`, a choice of modes becomes an enum of the one given, a source's options are its
//! kind's own struct. Nothing after this module checks a setting again.
//!
//! Secrets are `SecretString` (their `Debug` prints `[REDACTED]`) and may come from a sibling
//! `*_file` key naming a file, the way Kubernetes mounts a Secret.

mod connecteam;
mod database;
mod delivery;
mod env;
mod error;
mod jwt;
mod secret;
mod sources;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Yaml};
use serde::Deserialize;

pub use connecteam::{ConnecteamAuth, ConnecteamConfig, DEFAULT_SCOPES, OAuthConfig};
pub use database::{DEFAULT_DATABASE_URL, DatabaseUrl};
pub use delivery::DeliveryConfig;
pub use env::{CONFIG_ENV, ENV_PREFIX};
pub use error::ConfigError;
pub use jwt::{AdminConfig, JwtConfig, JwtKey};
pub use sources::{
    AshbySource, AuthConfig, BamboohrSource, EmploymentTypes, GenericSource, GreenhouseSource,
    HireWhen, HmacAuth, HubspotSource, LeverSource, MergeSource, SalesforceFields,
    SalesforceSource, SignatureEncoding, SigningKey, SourceApi, SourceConfig, SourceKind,
    WorkableSource,
};

/// The whole configuration, exactly the schema of the contract, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub metrics_listen: Option<SocketAddr>,
    /// `database_url`, or read from the file `database_url_file` names (its password is a
    /// secret); [`DEFAULT_DATABASE_URL`] when neither is given.
    pub database_url: DatabaseUrl,
    pub rules_file: PathBuf,
    pub connecteam: ConnecteamConfig,
    pub delivery: DeliveryConfig,
    pub admin: AdminConfig,
    pub sources: BTreeMap<String, SourceConfig>,
}

/// The configuration as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: SocketAddr,
    metrics_listen: Option<SocketAddr>,
    #[serde(default)]
    database_url: Option<DatabaseUrl>,
    #[serde(default)]
    database_url_file: Option<PathBuf>,
    rules_file: PathBuf,
    connecteam: connecteam::RawConnecteam,
    delivery: DeliveryConfig,
    admin: jwt::RawAdmin,
    /// Read by kind once the rest is ([`sources::resolve`]).
    #[serde(default)]
    sources: BTreeMap<String, figment::value::Value>,
}

/// The built-in defaults, as a YAML document (also what `docs` show).
pub const DEFAULTS_YAML: &str = r#"
listen: "0.0.0.0:8080"
metrics_listen: null
database_url: null          # sqlite://hirebridge.db when neither this nor database_url_file is set
database_url_file: null
rules_file: "rules.yaml"
connecteam:
  base_url: "https://api.connecteam.com"
  api_key: null
  api_key_file: null
  oauth: null
  requests_per_minute: 100
  create_missing_users: true
  default_phone_region: "US"
  send_activation: false
  timeout_ms: 10000
delivery:
  max_attempts: 12
  initial_backoff_ms: 1000
  max_backoff_ms: 900000
  batch_window_ms: 500
  waiting_for_user_timeout_s: 604800
admin:
  jwt: null
sources: {}
"#;

impl Config {
    /// Load from an optional file plus the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with_env(file, std::env::vars())
    }

    /// Load from an optional file plus the given environment (testable without touching the process env).
    pub fn load_with_env(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut fig = Figment::from(Yaml::string(DEFAULTS_YAML));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::Parse(format!(
                    "file {} does not exist",
                    path.display()
                )));
            }
            fig = fig.merge(Yaml::file_exact(path));
        }
        let overrides: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX))
            .collect();
        if !overrides.is_empty() {
            let sources: Vec<String> = match fig.find_value("sources") {
                Ok(figment::value::Value::Dict(_, d)) => d.keys().cloned().collect(),
                _ => Vec::new(),
            };
            fig = fig.merge(env::env_provider(overrides, &sources)?);
        }
        Self::from_figment(fig)
    }

    /// Parse a YAML document (defaults still apply), for tests and tools.
    pub fn from_yaml(yaml: &str) -> Result<Self, ConfigError> {
        Self::from_figment(Figment::from(Yaml::string(DEFAULTS_YAML)).merge(Yaml::string(yaml)))
    }

    fn from_figment(fig: Figment) -> Result<Self, ConfigError> {
        // Lossy: a number or boolean key also accepts its text, which is all an environment
        // variable can carry; text keys (and secrets) take the text exactly as given.
        let raw: RawConfig = fig.extract_lossy().map_err(|e| error::extraction(e, &[]))?;
        let database_url = database::resolve(raw.database_url, raw.database_url_file)?;
        let connecteam = raw.connecteam.resolve()?;
        raw.delivery.validate()?;
        let admin = raw.admin.resolve()?;
        let sources = sources::resolve(raw.sources)?;
        Ok(Config {
            listen: raw.listen,
            metrics_listen: raw.metrics_listen,
            database_url,
            rules_file: raw.rules_file,
            connecteam,
            delivery: raw.delivery,
            admin,
            sources,
        })
    }

    /// The phone region of a source (its own, else the Connecteam default).
    pub fn phone_region_for(&self, source: &str) -> &str {
        self.sources
            .get(source)
            .and_then(SourceConfig::phone_region)
            .unwrap_or(&self.connecteam.default_phone_region)
    }
}
