//! `kind: greenhouse`: Greenhouse Recruiting's web hooks (`hire_candidate`).

use std::path::PathBuf;

use figment::Figment;
use secrecy::SecretString;
use serde::Deserialize;

use super::vendor::{self, EmploymentTypes};
use crate::config::error::{ConfigError, extraction};

#[derive(Debug, Clone)]
pub struct GreenhouseSource {
    /// The web hook's secret key.
    pub secret: SecretString,
    pub phone_region: Option<String>,
    /// Which of the candidate's email addresses to take, by `type`, in order.
    pub email_types: Vec<String>,
    /// Which phone number to take, by `type`, in order.
    pub phone_types: Vec<String>,
    /// The immutable key of the job or offer custom field holding the employment type
    /// (default `employment_type`).
    pub employment_type_field: Option<String>,
    /// Its values the common spellings do not cover.
    pub employment_types: EmploymentTypes,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    auth: Option<figment::value::Value>,
    secret: Option<SecretString>,
    secret_file: Option<PathBuf>,
    phone_region: Option<String>,
    email_types: Option<Vec<String>>,
    phone_types: Option<Vec<String>>,
    employment_type_field: Option<String>,
    #[serde(default)]
    employment_types: EmploymentTypes,
}

pub(crate) fn read(
    fig: &Figment,
    base: &str,
    path: &[String],
) -> Result<GreenhouseSource, ConfigError> {
    let raw: Raw = fig.extract_lossy().map_err(|e| extraction(e, path))?;
    vendor::no_auth(base, raw.auth.as_ref())?;
    Ok(GreenhouseSource {
        secret: vendor::signing_secret(base, raw.secret, raw.secret_file)?,
        phone_region: vendor::region(base, raw.phone_region)?,
        email_types: raw
            .email_types
            .unwrap_or_else(|| ["personal", "work", "other"].map(String::from).to_vec()),
        phone_types: raw.phone_types.unwrap_or_else(|| {
            ["mobile", "home", "work", "other"]
                .map(String::from)
                .to_vec()
        }),
        employment_type_field: Some(
            raw.employment_type_field
                .unwrap_or_else(|| "employment_type".to_owned()),
        ),
        employment_types: raw.employment_types,
    })
}
