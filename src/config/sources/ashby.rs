//! `kind: ashby`: Ashby's webhooks (`candidateHire`), with department and location names
//! looked up through Ashby's API when `api` is configured.

use std::path::PathBuf;

use figment::Figment;
use secrecy::SecretString;
use serde::Deserialize;

use super::vendor::{self, ApiDefaults, RawApi, SourceApi};
use crate::config::error::{ConfigError, extraction};

#[derive(Debug, Clone)]
pub struct AshbySource {
    /// The webhook's secret token. Ashby makes it optional; hirebridge does not.
    pub secret: SecretString,
    pub phone_region: Option<String>,
    /// Ashby's API (an API key, basic auth), for department and location names.
    pub api: Option<SourceApi>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    auth: Option<figment::value::Value>,
    secret: Option<SecretString>,
    secret_file: Option<PathBuf>,
    phone_region: Option<String>,
    api: Option<RawApi>,
}

const API: ApiDefaults = ApiDefaults {
    base_url: Some("https://api.ashbyhq.com"),
    requests_per_minute: 60,
    account_token: false,
};

pub(crate) fn read(fig: &Figment, base: &str, path: &[String]) -> Result<AshbySource, ConfigError> {
    let raw: Raw = fig.extract_lossy().map_err(|e| extraction(e, path))?;
    vendor::no_auth(base, raw.auth.as_ref())?;
    Ok(AshbySource {
        secret: vendor::signing_secret(base, raw.secret, raw.secret_file)?,
        phone_region: vendor::region(base, raw.phone_region)?,
        api: raw.api.map(|a| vendor::api(base, a, &API)).transpose()?,
    })
}
