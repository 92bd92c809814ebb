//! `kind: bamboohr`: BambooHR's event webhooks (`employee.created`): ids only, so the employee
//! is fetched from BambooHR's API.

use std::path::PathBuf;

use figment::Figment;
use secrecy::SecretString;
use serde::Deserialize;

use super::vendor::{self, ApiDefaults, EmploymentTypes, RawApi, SourceApi};
use crate::config::error::{ConfigError, extraction, invalid};

#[derive(Debug, Clone)]
pub struct BamboohrSource {
    /// The webhook's private key.
    pub secret: SecretString,
    pub phone_region: Option<String>,
    /// `https://api.bamboohr.com/api/gateway.php/<company>` and an API key.
    pub api: SourceApi,
    /// How far `X-BambooHR-Timestamp` may be from now, when it reads as a time.
    pub timestamp_tolerance_s: u64,
    pub employment_types: EmploymentTypes,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    auth: Option<figment::value::Value>,
    secret: Option<SecretString>,
    secret_file: Option<PathBuf>,
    phone_region: Option<String>,
    api: Option<RawApi>,
    timestamp_tolerance_s: Option<u64>,
    #[serde(default)]
    employment_types: EmploymentTypes,
}

const API: ApiDefaults = ApiDefaults {
    base_url: None,
    requests_per_minute: 60,
    account_token: false,
};

pub(crate) fn read(
    fig: &Figment,
    base: &str,
    path: &[String],
) -> Result<BamboohrSource, ConfigError> {
    let raw: Raw = fig.extract_lossy().map_err(|e| extraction(e, path))?;
    vendor::no_auth(base, raw.auth.as_ref())?;
    let api = raw.api.ok_or_else(|| {
        invalid(
            format!("{base}.api"),
            "required: BambooHR's webhooks carry only ids, the employee is fetched through its API",
        )
    })?;
    Ok(BamboohrSource {
        secret: vendor::signing_secret(base, raw.secret, raw.secret_file)?,
        phone_region: vendor::region(base, raw.phone_region)?,
        api: vendor::api(base, api, &API)?,
        timestamp_tolerance_s: raw.timestamp_tolerance_s.unwrap_or(300),
        employment_types: raw.employment_types,
    })
}
