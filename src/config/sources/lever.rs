//! `kind: lever`: Lever's webhooks (`candidateHired`): the body's data is not signed, so the
//! opportunity is always fetched from Lever's API.

use std::path::PathBuf;

use figment::Figment;
use secrecy::SecretString;
use serde::Deserialize;

use super::vendor::{self, ApiDefaults, EmploymentTypes, RawApi, SourceApi};
use crate::config::error::{ConfigError, extraction, invalid};

#[derive(Debug, Clone)]
pub struct LeverSource {
    /// The webhook's signature token.
    pub secret: SecretString,
    pub phone_region: Option<String>,
    /// Lever's API (an API key, basic auth).
    pub api: SourceApi,
    /// How far `triggeredAt` may be from now.
    pub timestamp_tolerance_s: u64,
    /// The posting's `categories.commitment` labels, mapped to employment types (on top of
    /// the common spellings).
    pub employment_types: EmploymentTypes,
    /// Whether the fetched opportunity must be archived (Lever archives a hired candidate's
    /// opportunity with a "hired" reason) for the event to be a hire. Default true: the
    /// webhook's data is unsigned, so an opportunity that was never closed is not hired.
    pub require_archived: bool,
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
    require_archived: Option<bool>,
}

const API: ApiDefaults = ApiDefaults {
    base_url: Some("https://api.lever.co/v1"),
    requests_per_minute: 300,
    account_token: false,
};

pub(crate) fn read(fig: &Figment, base: &str, path: &[String]) -> Result<LeverSource, ConfigError> {
    let raw: Raw = fig.extract_lossy().map_err(|e| extraction(e, path))?;
    vendor::no_auth(base, raw.auth.as_ref())?;
    let api = raw.api.ok_or_else(|| {
        invalid(
            format!("{base}.api"),
            "required: Lever's webhook data is not signed, the opportunity is fetched through its API",
        )
    })?;
    Ok(LeverSource {
        secret: vendor::signing_secret(base, raw.secret, raw.secret_file)?,
        phone_region: vendor::region(base, raw.phone_region)?,
        api: vendor::api(base, api, &API)?,
        timestamp_tolerance_s: raw.timestamp_tolerance_s.unwrap_or(300),
        employment_types: raw.employment_types,
        require_archived: raw.require_archived.unwrap_or(true),
    })
}
