//! The vendor kinds (greenhouse, ashby, …) whose adapters are not in this version: their
//! entries are read and checked so that a configuration written for them is validated, and the
//! service then refuses to start with them rather than answer their vendor with errors.

use std::path::PathBuf;

use figment::Figment;
use secrecy::SecretString;
use serde::Deserialize;

use super::kind::SourceKind;
use crate::config::error::{ConfigError, check_region, extraction, invalid};
use crate::config::secret;

#[derive(Debug, Clone)]
pub struct VendorSource {
    pub kind: SourceKind,
    /// The vendor's signing key.
    pub secret: Option<SecretString>,
    pub phone_region: Option<String>,
    /// Where the employment type is found.
    pub employment_type_field: Option<String>,
    /// Salesforce: the organization id Outbound Messages must carry.
    pub organization_id: Option<String>,
    /// Vendors whose hire event carries only ids: where to fetch the person.
    pub api: Option<SourceApi>,
}

#[derive(Debug, Clone)]
pub struct SourceApi {
    pub base_url: String,
    pub token: Option<SecretString>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVendor {
    /// Accepted only to say that vendor kinds do not take it.
    auth: Option<figment::value::Value>,
    secret: Option<SecretString>,
    secret_file: Option<PathBuf>,
    phone_region: Option<String>,
    employment_type_field: Option<String>,
    organization_id: Option<String>,
    api: Option<RawApi>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApi {
    base_url: String,
    token: Option<SecretString>,
    token_file: Option<PathBuf>,
}

/// Read the vendor source at `base` (`sources.<name>`) from its own keys.
pub(crate) fn read(
    kind: SourceKind,
    fig: &Figment,
    base: &str,
    path: &[String],
) -> Result<VendorSource, ConfigError> {
    let raw: RawVendor = fig.extract_lossy().map_err(|e| extraction(e, path))?;
    let secret = secret::resolve(&format!("{base}.secret"), raw.secret, raw.secret_file)?;
    let api = match raw.api {
        Some(a) => Some(SourceApi {
            base_url: a.base_url,
            token: secret::resolve(&format!("{base}.api.token"), a.token, a.token_file)?,
        }),
        None => None,
    };
    if let Some(r) = &raw.phone_region {
        check_region(&format!("{base}.phone_region"), r)?;
    }
    if kind == SourceKind::Salesforce {
        if raw.organization_id.is_none() {
            return Err(invalid(
                format!("{base}.organization_id"),
                "required for a salesforce source",
            ));
        }
    } else {
        if raw.auth.is_some() {
            return Err(invalid(
                format!("{base}.auth"),
                "only generic sources use auth; vendor kinds check their vendor's signature with `secret`",
            ));
        }
        if secret.is_none() {
            return Err(invalid(
                format!("{base}.secret"),
                "required (or secret_file) for this kind",
            ));
        }
    }
    Ok(VendorSource {
        kind,
        secret,
        phone_region: raw.phone_region,
        employment_type_field: raw.employment_type_field,
        organization_id: raw.organization_id,
        api,
    })
}
