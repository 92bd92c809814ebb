//! `kind: merge`: Merge's HRIS webhooks (`Employee.added`), the ids in the employee (its
//! employments, location, team, manager) resolved through Merge's API when configured.

use std::path::PathBuf;

use figment::Figment;
use secrecy::SecretString;
use serde::Deserialize;

use super::vendor::{self, ApiDefaults, EmploymentTypes, RawApi, SourceApi};
use crate::config::error::{ConfigError, extraction};

#[derive(Debug, Clone)]
pub struct MergeSource {
    /// The organization's webhook signature key.
    pub secret: SecretString,
    pub phone_region: Option<String>,
    /// Which email to take: `work`, `personal`, in order.
    pub email_preference: Vec<String>,
    /// Merge's API (an API key as bearer, and the linked account's token).
    pub api: Option<SourceApi>,
    pub employment_types: EmploymentTypes,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    auth: Option<figment::value::Value>,
    secret: Option<SecretString>,
    secret_file: Option<PathBuf>,
    phone_region: Option<String>,
    email_preference: Option<Vec<String>>,
    api: Option<RawApi>,
    #[serde(default)]
    employment_types: EmploymentTypes,
}

const API: ApiDefaults = ApiDefaults {
    base_url: Some("https://api.merge.dev/api/hris/v1"),
    requests_per_minute: 60,
    account_token: true,
};

pub(crate) fn read(fig: &Figment, base: &str, path: &[String]) -> Result<MergeSource, ConfigError> {
    let raw: Raw = fig.extract_lossy().map_err(|e| extraction(e, path))?;
    vendor::no_auth(base, raw.auth.as_ref())?;
    Ok(MergeSource {
        secret: vendor::signing_secret(base, raw.secret, raw.secret_file)?,
        phone_region: vendor::region(base, raw.phone_region)?,
        email_preference: raw
            .email_preference
            .unwrap_or_else(|| ["work", "personal"].map(String::from).to_vec()),
        api: raw.api.map(|a| vendor::api(base, a, &API)).transpose()?,
        employment_types: raw.employment_types,
    })
}
