//! `kind: workable`: Workable's webhooks (`employee_created`, and `candidate_moved` into the
//! hired stage).

use std::path::PathBuf;

use figment::Figment;
use secrecy::SecretString;
use serde::Deserialize;

use super::generic::SignatureEncoding;
use super::vendor::{self, EmploymentTypes};
use crate::config::error::{ConfigError, extraction, invalid};

/// Where an employee's email is read, in order, when `email_fields` is not given: the
/// personal address before the work one (a new hire may have no work address yet, or one
/// they do not read yet), then a single `email`.
const DEFAULT_EMAIL_FIELDS: [&str; 3] = ["personal_email", "work_email", "email"];

#[derive(Debug, Clone)]
pub struct WorkableSource {
    /// The account's API token, or the OAuth app's client secret: what Workable signs with.
    pub secret: SecretString,
    pub phone_region: Option<String>,
    /// A `candidate_moved` into this stage (its slug) is a hire.
    pub hired_stage: String,
    /// How `X-Workable-Signature` is encoded.
    pub signature_encoding: SignatureEncoding,
    pub employment_types: EmploymentTypes,
    /// The fields of an employee's `data` the email is read from, in order (each a string,
    /// or a list of strings or of `{value, is_primary}`).
    pub email_fields: Vec<String>,
}

impl WorkableSource {
    /// `email_fields` when not configured: `personal_email`, `work_email`, `email`.
    pub fn default_email_fields() -> Vec<String> {
        DEFAULT_EMAIL_FIELDS.map(String::from).to_vec()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    auth: Option<figment::value::Value>,
    secret: Option<SecretString>,
    secret_file: Option<PathBuf>,
    phone_region: Option<String>,
    hired_stage: Option<String>,
    signature_encoding: Option<SignatureEncoding>,
    #[serde(default)]
    employment_types: EmploymentTypes,
    email_fields: Option<Vec<String>>,
}

pub(crate) fn read(
    fig: &Figment,
    base: &str,
    path: &[String],
) -> Result<WorkableSource, ConfigError> {
    let raw: Raw = fig.extract_lossy().map_err(|e| extraction(e, path))?;
    vendor::no_auth(base, raw.auth.as_ref())?;
    let hired_stage = raw.hired_stage.unwrap_or_else(|| "hired".to_owned());
    if hired_stage.trim().is_empty() {
        return Err(invalid(format!("{base}.hired_stage"), "must not be empty"));
    }
    let email_fields = match raw.email_fields {
        None => WorkableSource::default_email_fields(),
        Some(fields) => {
            let fields: Vec<String> = fields.iter().map(|f| f.trim().to_owned()).collect();
            if fields.is_empty() || fields.iter().any(|f| f.is_empty() || f.contains('/')) {
                return Err(invalid(
                    format!("{base}.email_fields"),
                    "must list one or more field names of Workable's data (personal_email, work_email, email)",
                ));
            }
            fields
        }
    };
    Ok(WorkableSource {
        secret: vendor::signing_secret(base, raw.secret, raw.secret_file)?,
        phone_region: vendor::region(base, raw.phone_region)?,
        hired_stage: hired_stage.trim().to_owned(),
        signature_encoding: raw.signature_encoding.unwrap_or_default(),
        employment_types: raw.employment_types,
        email_fields,
    })
}
