//! Configuration: built-in defaults, then the YAML file, then `HIREBRIDGE__SECTION__KEY`
//! environment variables. Validated once at start; unknown keys are errors that name the key.
//!
//! Secrets are `SecretString` (their `Debug` prints `[REDACTED]`) and may come from a sibling
//! `*_file` key naming a file, the way Kubernetes mounts a Secret.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::error::Actual;
use figment::providers::{Format, Serialized, Yaml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// Environment variable that names the configuration file when `--config` is not given.
pub const CONFIG_ENV: &str = "HIREBRIDGE_CONFIG";
/// Prefix of the per-key environment overrides.
pub const ENV_PREFIX: &str = "HIREBRIDGE__";

/// The whole configuration, exactly the schema of the contract.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub listen: SocketAddr,
    pub metrics_listen: Option<SocketAddr>,
    /// `database_url`, or read from the file `database_url_file` names (its password is a
    /// secret); [`DEFAULT_DATABASE_URL`] when neither is given.
    #[serde(skip_deserializing, default = "default_database_url")]
    pub database_url: DatabaseUrl,
    /// `database_url` as written; moved into `database_url` once loaded.
    #[serde(rename = "database_url", default)]
    database_url_value: Option<DatabaseUrl>,
    #[serde(default)]
    database_url_file: Option<PathBuf>,
    pub rules_file: PathBuf,
    pub connecteam: ConnecteamConfig,
    pub delivery: DeliveryConfig,
    pub admin: AdminConfig,
    #[serde(default)]
    pub sources: BTreeMap<String, SourceConfig>,
}

/// The database when neither `database_url` nor `database_url_file` is given.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://hirebridge.db";

fn default_database_url() -> DatabaseUrl {
    DatabaseUrl::new(DEFAULT_DATABASE_URL)
}

/// A database URL whose `Debug`/`Display` hide the password.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }
    /// The URL with its password, for the database driver only.
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_postgres(&self) -> bool {
        self.0.starts_with("postgres://") || self.0.starts_with("postgresql://")
    }
    pub fn is_sqlite(&self) -> bool {
        self.0.starts_with("sqlite:")
    }
    /// The URL with any password replaced by `***`.
    pub fn redacted(&self) -> String {
        match url::Url::parse(&self.0) {
            Ok(mut u) if u.password().is_some() => {
                let _ = u.set_password(Some("***"));
                u.to_string()
            }
            Ok(_) => self.0.clone(),
            Err(_) => "<unparseable database url>".to_owned(),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}
impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnecteamConfig {
    pub base_url: String,
    pub api_key: Option<SecretString>,
    pub api_key_file: Option<PathBuf>,
    pub oauth: Option<OAuthConfig>,
    pub requests_per_minute: u32,
    pub create_missing_users: bool,
    pub default_phone_region: String,
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthConfig {
    pub client_id: String,
    pub client_secret: Option<SecretString>,
    pub client_secret_file: Option<PathBuf>,
    /// Space-separated scopes, or a list.
    #[serde(default)]
    pub scopes: Option<Scopes>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Scopes {
    List(Vec<String>),
    Spaced(String),
}

impl Scopes {
    pub fn joined(&self) -> String {
        match self {
            Scopes::List(v) => v.join(" "),
            Scopes::Spaced(s) => s.clone(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    pub max_attempts: u32,
    pub initial_backoff_ms: u64,
    pub max_backoff_ms: u64,
    pub batch_window_ms: u64,
    pub waiting_for_user_timeout_s: u64,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    pub jwt: Option<JwtConfig>,
}

/// JWT verification settings, used by `admin.jwt` and by the `jwt` source auth mode.
/// Exactly one of `hs256_secret`, `rs256_public_key_pem`, `jwks_url` (or their `_file` forms).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    pub hs256_secret: Option<SecretString>,
    pub hs256_secret_file: Option<PathBuf>,
    pub rs256_public_key_pem: Option<String>,
    pub rs256_public_key_pem_file: Option<PathBuf>,
    pub jwks_url: Option<String>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
}

/// The kind of a sending system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Generic,
    Greenhouse,
    Ashby,
    Workable,
    Merge,
    Bamboohr,
    Lever,
    Hubspot,
    Salesforce,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Generic => "generic",
            SourceKind::Greenhouse => "greenhouse",
            SourceKind::Ashby => "ashby",
            SourceKind::Workable => "workable",
            SourceKind::Merge => "merge",
            SourceKind::Bamboohr => "bamboohr",
            SourceKind::Lever => "lever",
            SourceKind::Hubspot => "hubspot",
            SourceKind::Salesforce => "salesforce",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    pub kind: SourceKind,
    /// Authentication of a `generic` source.
    pub auth: Option<AuthConfig>,
    /// Must be true for `auth: { none: {} }` to be accepted.
    #[serde(default)]
    pub allow_unauthenticated: bool,
    /// A vendor kind's signing key.
    pub secret: Option<SecretString>,
    pub secret_file: Option<PathBuf>,
    /// Region for phone numbers without a country code; overrides `connecteam.default_phone_region`.
    pub phone_region: Option<String>,
    /// Vendor-specific: where the employment type is found.
    pub employment_type_field: Option<String>,
    /// Salesforce: the organization id Outbound Messages must carry.
    pub organization_id: Option<String>,
    /// Vendors whose hire event carries only ids: where to fetch the person.
    pub api: Option<SourceApiConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceApiConfig {
    pub base_url: String,
    pub token: Option<SecretString>,
    pub token_file: Option<PathBuf>,
}

/// How a `generic` source authenticates: exactly one mode.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "AuthModes")]
pub enum AuthConfig {
    StandardWebhooks(StandardWebhooksAuth),
    HmacSha256(HmacAuth),
    Jwt(JwtConfig),
    Bearer(BearerAuth),
    None(NoAuth),
}

/// The names of the auth modes, in the order the contract lists them.
const AUTH_MODES: &str = "standard_webhooks, hmac_sha256, jwt, bearer, none";

/// `auth` as written: every mode a key of its own, so that giving several (or none) is an
/// error that names them rather than one mode silently winning. A mode set to null counts as
/// not given, so an environment variable can unset one the file sets.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthModes {
    standard_webhooks: Option<StandardWebhooksAuth>,
    hmac_sha256: Option<HmacAuth>,
    jwt: Option<JwtConfig>,
    bearer: Option<BearerAuth>,
    none: Option<NoAuth>,
}

impl TryFrom<AuthModes> for AuthConfig {
    type Error = String;

    fn try_from(m: AuthModes) -> Result<Self, String> {
        let mut given: Vec<(&str, AuthConfig)> = Vec::new();
        if let Some(a) = m.standard_webhooks {
            given.push(("standard_webhooks", AuthConfig::StandardWebhooks(a)));
        }
        if let Some(a) = m.hmac_sha256 {
            given.push(("hmac_sha256", AuthConfig::HmacSha256(a)));
        }
        if let Some(a) = m.jwt {
            given.push(("jwt", AuthConfig::Jwt(a)));
        }
        if let Some(a) = m.bearer {
            given.push(("bearer", AuthConfig::Bearer(a)));
        }
        if let Some(a) = m.none {
            given.push(("none", AuthConfig::None(a)));
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StandardWebhooksAuth {
    pub secret: Option<SecretString>,
    pub secret_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SignatureEncoding {
    #[default]
    Hex,
    Base64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HmacAuth {
    pub header: String,
    pub secret: Option<SecretString>,
    pub secret_file: Option<PathBuf>,
    #[serde(default)]
    pub encoding: SignatureEncoding,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BearerAuth {
    pub token: Option<SecretString>,
    pub token_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct NoAuth {}

/// A configuration that could not be loaded; the message names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Parse(String),
    #[error("configuration: {key}: {message}")]
    Invalid { key: String, message: String },
    #[error("configuration: {key}: cannot read {path}: {source}")]
    SecretFile {
        key: String,
        path: PathBuf,
        source: std::io::Error,
    },
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
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
            fig = fig.merge(env_provider(overrides, &sources)?);
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
        let mut cfg: Config = fig.extract_lossy().map_err(|e| {
            ConfigError::Parse(
                e.into_iter()
                    .map(|e| describe_error(&e.path, &e.kind))
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
        cfg.resolve_secret_files()?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Replace every `*_file` with the secret it names.
    fn resolve_secret_files(&mut self) -> Result<(), ConfigError> {
        match (
            self.database_url_value.take(),
            self.database_url_file.take(),
        ) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "database_url",
                    "set database_url or database_url_file, not both",
                ));
            }
            (Some(url), None) => self.database_url = url,
            (None, Some(path)) => {
                self.database_url = DatabaseUrl::new(read_secret_file("database_url_file", path)?);
            }
            (None, None) => self.database_url = default_database_url(),
        }
        resolve(
            "connecteam.api_key",
            &mut self.connecteam.api_key,
            &mut self.connecteam.api_key_file,
        )?;
        if let Some(o) = &mut self.connecteam.oauth {
            resolve(
                "connecteam.oauth.client_secret",
                &mut o.client_secret,
                &mut o.client_secret_file,
            )?;
        }
        if let Some(j) = &mut self.admin.jwt {
            j.resolve("admin.jwt")?;
        }
        for (name, src) in &mut self.sources {
            let base = format!("sources.{name}");
            resolve(
                &format!("{base}.secret"),
                &mut src.secret,
                &mut src.secret_file,
            )?;
            if let Some(api) = &mut src.api {
                resolve(
                    &format!("{base}.api.token"),
                    &mut api.token,
                    &mut api.token_file,
                )?;
            }
            match &mut src.auth {
                Some(AuthConfig::StandardWebhooks(a)) => resolve(
                    &format!("{base}.auth.standard_webhooks.secret"),
                    &mut a.secret,
                    &mut a.secret_file,
                )?,
                Some(AuthConfig::HmacSha256(a)) => resolve(
                    &format!("{base}.auth.hmac_sha256.secret"),
                    &mut a.secret,
                    &mut a.secret_file,
                )?,
                Some(AuthConfig::Bearer(a)) => resolve(
                    &format!("{base}.auth.bearer.token"),
                    &mut a.token,
                    &mut a.token_file,
                )?,
                Some(AuthConfig::Jwt(j)) => j.resolve(&format!("{base}.auth.jwt"))?,
                Some(AuthConfig::None(_)) | None => {}
            }
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if !self.database_url.is_sqlite() && !self.database_url.is_postgres() {
            return Err(invalid(
                "database_url",
                "must start with sqlite:// or postgres://",
            ));
        }
        let c = &self.connecteam;
        url::Url::parse(&c.base_url).map_err(|e| invalid("connecteam.base_url", e.to_string()))?;
        if c.requests_per_minute == 0 {
            return Err(invalid(
                "connecteam.requests_per_minute",
                "must be at least 1",
            ));
        }
        if c.timeout_ms == 0 {
            return Err(invalid("connecteam.timeout_ms", "must be at least 1"));
        }
        if c.api_key.is_some() && c.oauth.is_some() {
            return Err(invalid(
                "connecteam",
                "set either api_key or oauth, not both",
            ));
        }
        if let Some(o) = &c.oauth
            && o.client_secret.is_none()
        {
            return Err(invalid(
                "connecteam.oauth.client_secret",
                "required (or client_secret_file)",
            ));
        }
        check_region("connecteam.default_phone_region", &c.default_phone_region)?;
        let d = &self.delivery;
        if d.max_attempts == 0 {
            return Err(invalid("delivery.max_attempts", "must be at least 1"));
        }
        if d.initial_backoff_ms == 0 || d.max_backoff_ms < d.initial_backoff_ms {
            return Err(invalid(
                "delivery.max_backoff_ms",
                "must be at least initial_backoff_ms, which must be at least 1",
            ));
        }
        if let Some(j) = &self.admin.jwt {
            j.validate("admin.jwt")?;
        }
        for (name, src) in &self.sources {
            let base = format!("sources.{name}");
            if name.is_empty()
                || !name.chars().all(|ch| {
                    ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-' || ch == '_'
                })
            {
                return Err(invalid(
                    &base,
                    "a source name is a URL segment: lower-case letters, digits, '-' and '_' only",
                ));
            }
            if let Some(r) = &src.phone_region {
                check_region(&format!("{base}.phone_region"), r)?;
            }
            match src.kind {
                SourceKind::Generic => match &src.auth {
                    None => {
                        return Err(invalid(
                            format!("{base}.auth"),
                            "a generic source needs exactly one auth mode",
                        ));
                    }
                    Some(AuthConfig::None(_)) if !src.allow_unauthenticated => {
                        return Err(invalid(
                            format!("{base}.auth.none"),
                            "refused unless the source also sets allow_unauthenticated: true",
                        ));
                    }
                    Some(AuthConfig::StandardWebhooks(a)) => {
                        let s = a.secret.as_ref().ok_or_else(|| {
                            invalid(
                                format!("{base}.auth.standard_webhooks.secret"),
                                "required (or secret_file)",
                            )
                        })?;
                        crate::sources::auth::decode_whsec(s.expose_secret()).map_err(|m| {
                            invalid(format!("{base}.auth.standard_webhooks.secret"), m)
                        })?;
                    }
                    Some(AuthConfig::HmacSha256(a)) => {
                        if a.secret.is_none() {
                            return Err(invalid(
                                format!("{base}.auth.hmac_sha256.secret"),
                                "required (or secret_file)",
                            ));
                        }
                        if axum::http::HeaderName::from_bytes(a.header.as_bytes()).is_err() {
                            return Err(invalid(
                                format!("{base}.auth.hmac_sha256.header"),
                                "not a valid header name",
                            ));
                        }
                    }
                    Some(AuthConfig::Bearer(a)) => {
                        if a.token.is_none() {
                            return Err(invalid(
                                format!("{base}.auth.bearer.token"),
                                "required (or token_file)",
                            ));
                        }
                    }
                    Some(AuthConfig::Jwt(j)) => j.validate(&format!("{base}.auth.jwt"))?,
                    Some(AuthConfig::None(_)) => {}
                },
                SourceKind::Salesforce => {
                    if src.organization_id.is_none() {
                        return Err(invalid(
                            format!("{base}.organization_id"),
                            "required for a salesforce source",
                        ));
                    }
                }
                _ => {
                    if src.auth.is_some() {
                        return Err(invalid(
                            format!("{base}.auth"),
                            "only generic sources use auth; vendor kinds check their vendor's signature with `secret`",
                        ));
                    }
                    if src.secret.is_none() {
                        return Err(invalid(
                            format!("{base}.secret"),
                            "required (or secret_file) for this kind",
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// The phone region of a source (its own, else the Connecteam default).
    pub fn phone_region_for(&self, source: &str) -> &str {
        self.sources
            .get(source)
            .and_then(|s| s.phone_region.as_deref())
            .unwrap_or(&self.connecteam.default_phone_region)
    }
}

impl JwtConfig {
    fn resolve(&mut self, base: &str) -> Result<(), ConfigError> {
        resolve(
            &format!("{base}.hs256_secret"),
            &mut self.hs256_secret,
            &mut self.hs256_secret_file,
        )?;
        if let Some(path) = self.rs256_public_key_pem_file.take() {
            if self.rs256_public_key_pem.is_some() {
                return Err(invalid(
                    format!("{base}.rs256_public_key_pem"),
                    "set the value or the _file, not both",
                ));
            }
            let pem = std::fs::read_to_string(&path).map_err(|source| ConfigError::SecretFile {
                key: format!("{base}.rs256_public_key_pem_file"),
                path,
                source,
            })?;
            self.rs256_public_key_pem = Some(pem);
        }
        Ok(())
    }

    fn validate(&self, base: &str) -> Result<(), ConfigError> {
        let n = usize::from(self.hs256_secret.is_some())
            + usize::from(self.rs256_public_key_pem.is_some())
            + usize::from(self.jwks_url.is_some());
        if n != 1 {
            return Err(invalid(
                base,
                "exactly one of hs256_secret, rs256_public_key_pem, jwks_url is required",
            ));
        }
        if let Some(pem) = &self.rs256_public_key_pem {
            jsonwebtoken::DecodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| {
                invalid(
                    format!("{base}.rs256_public_key_pem"),
                    format!("not an RSA public key in PEM: {e}"),
                )
            })?;
        }
        if let Some(u) = &self.jwks_url {
            url::Url::parse(u).map_err(|e| invalid(format!("{base}.jwks_url"), e.to_string()))?;
        }
        Ok(())
    }
}

fn check_region(key: &str, region: &str) -> Result<(), ConfigError> {
    region
        .parse::<phonenumber::country::Id>()
        .map(|_| ())
        .map_err(|_| invalid(key, "not an ISO 3166 region code (such as US or GB)"))
}

/// Fill `value` from the file named by `file` (trimming one trailing newline); both set is an error.
fn resolve(
    key: &str,
    value: &mut Option<SecretString>,
    file: &mut Option<PathBuf>,
) -> Result<(), ConfigError> {
    if let Some(path) = file.take() {
        if value.is_some() {
            let leaf = key.rsplit('.').next().unwrap_or(key);
            return Err(invalid(key, format!("set {leaf} or {leaf}_file, not both")));
        }
        *value = Some(SecretString::from(read_secret_file(
            &format!("{key}_file"),
            path,
        )?));
    }
    Ok(())
}

/// The secret in a file (a Kubernetes Secret mount), without one trailing newline.
fn read_secret_file(key: &str, path: PathBuf) -> Result<String, ConfigError> {
    let mut raw = std::fs::read_to_string(&path).map_err(|source| ConfigError::SecretFile {
        key: key.to_owned(),
        path,
        source,
    })?;
    if raw.ends_with('\n') {
        raw.pop();
        if raw.ends_with('\r') {
            raw.pop();
        }
    }
    Ok(raw)
}

/// Environment overrides: `HIREBRIDGE__CONNECTEAM__API_KEY=…` sets `connecteam.api_key`.
///
/// Variable names are upper case and cannot contain `-`, so the level after `SOURCES` names
/// the source whose name is equal once lower-cased with every `-` read as `_`:
/// `HIREBRIDGE__SOURCES__ACME_HRIS__…` sets `sources.acme-hris` (or `sources.acme_hris`) when
/// the file has it, and otherwise adds a source named `acme_hris`. `sources` are the names the
/// defaults and the file give; matching two of them is an error.
fn env_provider(
    vars: Vec<(String, String)>,
    sources: &[String],
) -> Result<Serialized<serde_json::Value>, ConfigError> {
    let mut root = serde_json::Map::new();
    for (k, v) in vars {
        let mut path: Vec<String> = k[ENV_PREFIX.len()..]
            .split("__")
            .map(str::to_ascii_lowercase)
            .collect();
        if let [section, name, ..] = path.as_mut_slice()
            && section == "sources"
        {
            let wanted = name.replace('-', "_");
            let matching: Vec<&String> = sources
                .iter()
                .filter(|s| s.to_ascii_lowercase().replace('-', "_") == wanted)
                .collect();
            match matching.as_slice() {
                [] => *name = wanted,
                [one] => name.clone_from(one),
                several => {
                    let names: Vec<&str> = several.iter().map(|s| s.as_str()).collect();
                    return Err(invalid(
                        k.as_str(),
                        format!(
                            "matches the sources {} (in variable names `-` is written `_`); rename one of them",
                            names.join(" and ")
                        ),
                    ));
                }
            }
        }
        insert_path(&mut root, &path, env_value(&v));
    }
    Ok(Serialized::defaults(serde_json::Value::Object(root)))
}

fn insert_path(
    map: &mut serde_json::Map<String, serde_json::Value>,
    path: &[String],
    v: serde_json::Value,
) {
    match path {
        [] => {}
        [last] => {
            map.insert(last.clone(), v);
        }
        [first, rest @ ..] => {
            let entry = map
                .entry(first.clone())
                .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
            if !entry.is_object() {
                *entry = serde_json::Value::Object(serde_json::Map::new());
            }
            if let serde_json::Value::Object(m) = entry {
                insert_path(m, rest, v);
            }
        }
    }
}

/// An environment value is text, kept exactly as given (digits, leading zeros and all): the key
/// it sets decides whether it is read as a number or a boolean. Two exceptions: `null` unsets a
/// key, and a value starting with `[` or `{` that parses as JSON sets a list or a mapping (whose
/// scalar values are again text).
fn env_value(raw: &str) -> serde_json::Value {
    let t = raw.trim();
    if t == "null" {
        return serde_json::Value::Null;
    }
    if (t.starts_with('[') || t.starts_with('{'))
        && let Ok(v) = serde_json::from_str::<serde_json::Value>(t)
    {
        return scalars_as_text(v);
    }
    serde_json::Value::String(raw.to_owned())
}

fn scalars_as_text(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Bool(b) => Value::String(b.to_string()),
        Value::Number(n) => Value::String(n.to_string()),
        Value::Array(a) => Value::Array(a.into_iter().map(scalars_as_text).collect()),
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| (k, scalars_as_text(v)))
                .collect(),
        ),
        other => other,
    }
}

/// One extraction error as `key.path: problem`. Built from the key and the kind of problem
/// only: the offending value may be a secret, so it is never part of the message.
fn describe_error(path: &[String], kind: &figment::error::Kind) -> String {
    use figment::error::Kind;
    let mut key = path.join(".");
    let mut child = |name: &str| {
        if key.is_empty() {
            key = name.to_owned();
        } else {
            key = format!("{key}.{name}");
        }
    };
    let problem = match kind {
        Kind::Message(m) => m.clone(),
        Kind::InvalidType(actual, expected) => {
            let mut m = format!(
                "expected {}, found {}",
                expected_text(expected),
                actual_text(actual)
            );
            if expected == "a string"
                && matches!(
                    actual,
                    Actual::Unsigned(_) | Actual::Signed(_) | Actual::Float(_) | Actual::Bool(_)
                )
            {
                m.push_str(" (quote the value in YAML)");
            }
            m
        }
        Kind::InvalidValue(_, expected) => {
            format!("invalid value: expected {}", expected_text(expected))
        }
        Kind::InvalidLength(n, expected) => {
            format!("expected {} ({n} given)", expected_text(expected))
        }
        Kind::UnknownVariant(_, expected) => {
            format!("unknown value: expected one of {}", expected.join(", "))
        }
        Kind::UnknownField(name, expected) => {
            child(name);
            if expected.is_empty() {
                "unknown key (this mapping takes no keys)".to_owned()
            } else {
                format!("unknown key (expected one of: {})", expected.join(", "))
            }
        }
        Kind::MissingField(name) => {
            child(name);
            "required".to_owned()
        }
        Kind::DuplicateField(name) => {
            child(name);
            "given more than once".to_owned()
        }
        Kind::ISizeOutOfRange(_) | Kind::USizeOutOfRange(_) => "number out of range".to_owned(),
        Kind::Unsupported(actual) => format!("{} is not supported here", actual_text(actual)),
        Kind::UnsupportedKey(actual, need) => {
            format!("keys must be {need}, found {}", actual_text(actual))
        }
    };
    if key.is_empty() {
        problem
    } else {
        format!("{key}: {problem}")
    }
}

/// What kind of value was found, without the value.
fn actual_text(actual: &Actual) -> &'static str {
    match actual {
        Actual::Bool(_) => "a boolean",
        Actual::Unsigned(_) | Actual::Signed(_) | Actual::Float(_) => "a number",
        Actual::Char(_) | Actual::Str(_) => "a string",
        Actual::Bytes(_) => "bytes",
        Actual::Unit | Actual::Option => "null",
        Actual::Seq => "a list",
        Actual::Map => "a mapping",
        _ => "another kind of value",
    }
}

/// serde's names for what a key takes, in the words of the configuration.
fn expected_text(expected: &str) -> String {
    match expected {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a whole number (0 or more)".to_owned(),
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "a whole number".to_owned(),
        "f32" | "f64" => "a number".to_owned(),
        "socket address" => "an address such as 0.0.0.0:8080".to_owned(),
        "path string" => "a file path".to_owned(),
        "map" => "a mapping".to_owned(),
        e if e.starts_with("struct ") => "a mapping".to_owned(),
        e if e.starts_with("enum ") => "one of the names this key takes".to_owned(),
        e => e.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_load_without_a_file() {
        let c = Config::load_with_env(None, Vec::new()).unwrap();
        assert_eq!(c.listen.to_string(), "0.0.0.0:8080");
        assert_eq!(c.database_url.expose(), "sqlite://hirebridge.db");
        assert_eq!(c.connecteam.requests_per_minute, 100);
        assert_eq!(c.delivery.max_attempts, 12);
        assert!(c.admin.jwt.is_none());
    }

    #[test]
    fn unknown_keys_name_their_path() {
        let err = Config::from_yaml("connecteam:\n  api_kee: x\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("connecteam"), "{err}");
        assert!(err.contains("api_kee"), "{err}");
        let err = Config::from_yaml("sources:\n  a:\n    kind: generic\n    auth: { bearer: { token: t } }\n    colour: red\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("sources.a"), "{err}");
        assert!(err.contains("colour"), "{err}");
    }

    #[test]
    fn env_overrides_win_over_the_file() {
        let env = vec![
            (
                "HIREBRIDGE__CONNECTEAM__REQUESTS_PER_MINUTE".to_owned(),
                "5".to_owned(),
            ),
            (
                "HIREBRIDGE__CONNECTEAM__API_KEY".to_owned(),
                "k-123".to_owned(),
            ),
            ("HIREBRIDGE_CONFIG".to_owned(), "ignored".to_owned()),
        ];
        let c = Config::load_with_env(None, env).unwrap();
        assert_eq!(c.connecteam.requests_per_minute, 5);
        assert_eq!(c.connecteam.api_key.unwrap().expose_secret(), "k-123");
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn digit_only_secrets_from_env_stay_text_with_leading_zeros() {
        let c = Config::load_with_env(
            None,
            env(&[("HIREBRIDGE__CONNECTEAM__API_KEY", "987654321")]),
        )
        .unwrap();
        assert_eq!(c.connecteam.api_key.unwrap().expose_secret(), "987654321");
        let c = Config::load_with_env(
            None,
            env(&[
                ("HIREBRIDGE__SOURCES__A__KIND", "generic"),
                (
                    "HIREBRIDGE__SOURCES__A__AUTH",
                    r#"{"bearer": {"token": "0042"}}"#,
                ),
                ("HIREBRIDGE__CONNECTEAM__API_KEY", "000123"),
            ]),
        )
        .unwrap();
        assert_eq!(c.connecteam.api_key.unwrap().expose_secret(), "000123");
        match &c.sources["a"].auth {
            Some(AuthConfig::Bearer(b)) => {
                assert_eq!(b.token.as_ref().unwrap().expose_secret(), "0042");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn numbers_and_booleans_from_env_are_read_by_their_key() {
        let c = Config::load_with_env(
            None,
            env(&[
                ("HIREBRIDGE__CONNECTEAM__REQUESTS_PER_MINUTE", "250"),
                ("HIREBRIDGE__CONNECTEAM__CREATE_MISSING_USERS", "false"),
                ("HIREBRIDGE__DELIVERY__MAX_BACKOFF_MS", "0900000"),
                ("HIREBRIDGE__METRICS_LISTEN", "127.0.0.1:9100"),
            ]),
        )
        .unwrap();
        assert_eq!(c.connecteam.requests_per_minute, 250);
        assert!(!c.connecteam.create_missing_users);
        assert_eq!(c.delivery.max_backoff_ms, 900_000);
        assert_eq!(c.metrics_listen.unwrap().port(), 9100);
        let err = Config::load_with_env(
            None,
            env(&[("HIREBRIDGE__CONNECTEAM__REQUESTS_PER_MINUTE", "lots")]),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "configuration: connecteam.requests_per_minute: expected a whole number (0 or more), found a string"
        );
    }

    #[test]
    fn type_errors_name_the_key_and_never_the_value() {
        let err = Config::from_yaml(
            "sources:\n  a:\n    kind: generic\n    auth: { bearer: \"tok-SECRET-1\" }\n",
        )
        .unwrap_err()
        .to_string();
        assert!(!err.contains("SECRET"), "{err}");
        assert!(
            err.contains("sources.a.auth.bearer: expected a mapping, found a string"),
            "{err}"
        );
        let err = Config::from_yaml("connecteam:\n  api_key: 987654321\n")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("987654321"), "{err}");
        assert!(
            err.contains("connecteam.api_key: expected a string, found a number"),
            "{err}"
        );
        let err = Config::load_with_env(
            None,
            env(&[("HIREBRIDGE__DELIVERY__MAX_ATTEMPTS", "s3cr3t-oops")]),
        )
        .unwrap_err()
        .to_string();
        assert!(!err.contains("s3cr3t-oops"), "{err}");
        assert!(err.contains("delivery.max_attempts"), "{err}");
        let err = Config::from_yaml("sources:\n  a:\n    kind: tok-SECRET-2\n")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("SECRET"), "{err}");
        assert!(err.contains("sources.a.kind"), "{err}");
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("tok");
        std::fs::write(&f, "s3cr3t-token\n").unwrap();
        let yaml = format!(
            "database_url: postgres://u:hunter2@db/x\nsources:\n  a:\n    kind: generic\n    auth: {{ bearer: {{ token_file: {} }} }}\n",
            f.display()
        );
        let c = Config::from_yaml(&yaml).unwrap();
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("s3cr3t-token"), "{dbg}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
        match &c.sources["a"].auth {
            Some(AuthConfig::Bearer(b)) => {
                assert_eq!(b.token.as_ref().unwrap().expose_secret(), "s3cr3t-token");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn auth_takes_exactly_one_mode() {
        let two = "sources:\n  acme:\n    kind: generic\n    auth:\n      standard_webhooks: { secret: \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\" }\n      bearer: { token: t }\n";
        let err = Config::from_yaml(two).unwrap_err().to_string();
        assert_eq!(
            err,
            "configuration: sources.acme.auth: exactly one of standard_webhooks, hmac_sha256, jwt, bearer, none (given: standard_webhooks, bearer)"
        );
        let err = Config::from_yaml("sources:\n  acme:\n    kind: generic\n    auth: {}\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "configuration: sources.acme.auth: exactly one of standard_webhooks, hmac_sha256, jwt, bearer, none (no mode given)"
        );
        // The environment can switch modes by unsetting the file's.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.yaml");
        std::fs::write(&file, two).unwrap();
        let c = Config::load_with_env(
            Some(&file),
            env(&[("HIREBRIDGE__SOURCES__ACME__AUTH__STANDARD_WEBHOOKS", "null")]),
        )
        .unwrap();
        assert!(
            matches!(c.sources["acme"].auth, Some(AuthConfig::Bearer(_))),
            "{c:?}"
        );
    }

    #[test]
    fn source_names_are_lower_case_url_segments() {
        for bad in ["Acme", "acme hris", "acme.hris"] {
            let err = Config::from_yaml(&format!(
                "sources:\n  \"{bad}\":\n    kind: generic\n    auth: {{ bearer: {{ token: t }} }}\n"
            ))
            .unwrap_err()
            .to_string();
            assert_eq!(
                err,
                format!(
                    "configuration: sources.{bad}: a source name is a URL segment: lower-case letters, digits, '-' and '_' only"
                )
            );
        }
        Config::from_yaml(
            "sources:\n  acme-hris_2:\n    kind: generic\n    auth: { bearer: { token: t } }\n",
        )
        .unwrap();
    }

    #[test]
    fn env_overrides_find_the_source_they_name() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.yaml");
        std::fs::write(
            &file,
            "sources:\n  acme-hris:\n    kind: generic\n    auth: { bearer: { token: from-file } }\n",
        )
        .unwrap();
        let c = Config::load_with_env(
            Some(&file),
            env(&[
                (
                    "HIREBRIDGE__SOURCES__ACME_HRIS__AUTH__BEARER__TOKEN",
                    "from-env",
                ),
                ("HIREBRIDGE__SOURCES__ACME_HRIS__PHONE_REGION", "GB"),
                ("HIREBRIDGE__SOURCES__NEW_ONE__KIND", "generic"),
                ("HIREBRIDGE__SOURCES__NEW_ONE__AUTH__BEARER__TOKEN", "n"),
            ]),
        )
        .unwrap();
        let names: Vec<&str> = c.sources.keys().map(String::as_str).collect();
        assert_eq!(names, ["acme-hris", "new_one"]);
        assert_eq!(c.phone_region_for("acme-hris"), "GB");
        match &c.sources["acme-hris"].auth {
            Some(AuthConfig::Bearer(b)) => {
                assert_eq!(b.token.as_ref().unwrap().expose_secret(), "from-env");
            }
            other => panic!("{other:?}"),
        }
        // Two sources that differ only in `-` and `_` cannot be told apart by a variable.
        std::fs::write(
            &file,
            "sources:\n  acme-hris:\n    kind: generic\n    auth: { bearer: { token: a } }\n  acme_hris:\n    kind: generic\n    auth: { bearer: { token: b } }\n",
        )
        .unwrap();
        let err = Config::load_with_env(
            Some(&file),
            env(&[("HIREBRIDGE__SOURCES__ACME_HRIS__PHONE_REGION", "GB")]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("configuration: HIREBRIDGE__SOURCES__ACME_HRIS__PHONE_REGION: matches the sources acme-hris and acme_hris"),
            "{err}"
        );
    }

    #[test]
    fn database_url_can_come_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("database-url");
        std::fs::write(&f, "postgres://hb:hunter2@db:5432/hb\n").unwrap();
        let c = Config::from_yaml(&format!("database_url_file: {}\n", f.display())).unwrap();
        assert_eq!(c.database_url.expose(), "postgres://hb:hunter2@db:5432/hb");
        assert!(c.database_url.is_postgres());
        let shown = format!("{c:?} {}", c.database_url);
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("postgres://hb:***@db:5432/hb"), "{shown}");

        let c = Config::load_with_env(
            None,
            env(&[("HIREBRIDGE__DATABASE_URL_FILE", &f.display().to_string())]),
        )
        .unwrap();
        assert_eq!(c.database_url.expose(), "postgres://hb:hunter2@db:5432/hb");

        let err = Config::from_yaml(&format!(
            "database_url: sqlite://x.db\ndatabase_url_file: {}\n",
            f.display()
        ))
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "configuration: database_url: set database_url or database_url_file, not both"
        );
        let err = Config::from_yaml("database_url_file: /nonexistent/database-url\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "configuration: database_url_file: cannot read /nonexistent/database-url"
            ),
            "{err}"
        );
        // Without either, the built-in default.
        let c = Config::from_yaml("listen: 127.0.0.1:1\n").unwrap();
        assert_eq!(c.database_url.expose(), DEFAULT_DATABASE_URL);
    }

    #[test]
    fn auth_none_needs_allow_unauthenticated() {
        let err = Config::from_yaml("sources:\n  a:\n    kind: generic\n    auth: { none: {} }\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("sources.a.auth.none"), "{err}");
        Config::from_yaml(
            "sources:\n  a:\n    kind: generic\n    allow_unauthenticated: true\n    auth: { none: {} }\n",
        )
        .unwrap();
    }

    #[test]
    fn bad_region_is_reported() {
        let err = Config::from_yaml("connecteam:\n  default_phone_region: XX\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("connecteam.default_phone_region"), "{err}");
    }
}
