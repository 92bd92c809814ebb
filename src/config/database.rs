//! The database URL, whose password is a secret.

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

use super::error::{ConfigError, invalid};
use super::secret;

/// The database when neither `database_url` nor `database_url_file` is given.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://hirebridge.db";

pub(crate) fn default_database_url() -> DatabaseUrl {
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

/// `database_url` or `database_url_file` (not both), else the default; a URL of neither
/// backend is an error.
pub(crate) fn resolve(
    value: Option<DatabaseUrl>,
    file: Option<PathBuf>,
) -> Result<DatabaseUrl, ConfigError> {
    let url = match (value, file) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "database_url",
                "set database_url or database_url_file, not both",
            ));
        }
        (Some(url), None) => url,
        (None, Some(path)) => DatabaseUrl::new(secret::read("database_url_file", path)?),
        (None, None) => default_database_url(),
    };
    if !url.is_sqlite() && !url.is_postgres() {
        return Err(invalid(
            "database_url",
            "must start with sqlite:// or postgres://",
        ));
    }
    Ok(url)
}
