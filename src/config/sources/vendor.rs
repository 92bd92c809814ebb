//! What the vendor kinds share: their signing key (`secret`, or `secret_file`), a phone region,
//! an employment-type value map, and, for those that fetch the person, the vendor's API. Each
//! kind's own options are in its own file, read from the entry's keys by its own struct.

use std::collections::BTreeMap;
use std::path::PathBuf;

use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use crate::config::error::{ConfigError, check_region, invalid};
use crate::config::secret;
use crate::domain::EmploymentType;

/// A vendor's API, to fetch the person (or names for ids) with.
#[derive(Debug, Clone)]
pub struct SourceApi {
    pub base_url: Url,
    /// The API key or token (how it is sent is the vendor's: basic or bearer).
    pub token: SecretString,
    /// Merge: the linked account's token (`X-Account-Token`).
    pub account_token: Option<SecretString>,
    /// The vendor API's budget, shared by every replica.
    pub requests_per_minute: u32,
    pub timeout_ms: u64,
}

/// `api:` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawApi {
    base_url: Option<String>,
    token: Option<SecretString>,
    token_file: Option<PathBuf>,
    account_token: Option<SecretString>,
    account_token_file: Option<PathBuf>,
    requests_per_minute: Option<u32>,
    timeout_ms: Option<u64>,
}

/// What a kind's API defaults to.
pub(crate) struct ApiDefaults {
    /// `None`: the URL is the customer's own (BambooHR's company domain) and must be given.
    pub base_url: Option<&'static str>,
    pub requests_per_minute: u32,
    /// Merge's linked-account token.
    pub account_token: bool,
}

/// `api` at `<base>.api`, checked against the kind's defaults.
pub(crate) fn api(base: &str, raw: RawApi, d: &ApiDefaults) -> Result<SourceApi, ConfigError> {
    let key = format!("{base}.api");
    let url = match (raw.base_url, d.base_url) {
        (Some(u), _) => u,
        (None, Some(u)) => u.to_owned(),
        (None, None) => {
            return Err(invalid(
                format!("{key}.base_url"),
                "required for this kind (the vendor's API URL for the account)",
            ));
        }
    };
    let base_url = Url::parse(&url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
        .ok_or_else(|| invalid(format!("{key}.base_url"), "must be an http(s) URL"))?;
    let token = secret::required(&format!("{key}.token"), raw.token, raw.token_file)?;
    let account_token = secret::resolve(
        &format!("{key}.account_token"),
        raw.account_token,
        raw.account_token_file,
    )?;
    match (&account_token, d.account_token) {
        (None, true) => {
            return Err(invalid(
                format!("{key}.account_token"),
                "required (or account_token_file): the linked account's token",
            ));
        }
        (Some(_), false) => {
            return Err(invalid(
                format!("{key}.account_token"),
                "only merge sources take an account token",
            ));
        }
        _ => {}
    }
    let requests_per_minute = raw.requests_per_minute.unwrap_or(d.requests_per_minute);
    if requests_per_minute == 0 {
        return Err(invalid(
            format!("{key}.requests_per_minute"),
            "must be 1 or more",
        ));
    }
    let timeout_ms = raw.timeout_ms.unwrap_or(10_000);
    if timeout_ms == 0 {
        return Err(invalid(format!("{key}.timeout_ms"), "must be 1 or more"));
    }
    Ok(SourceApi {
        base_url,
        token,
        account_token,
        requests_per_minute,
        timeout_ms,
    })
}

/// The signing key at `<base>.secret` (or `secret_file`), which every signed kind requires.
pub(crate) fn signing_secret(
    base: &str,
    value: Option<SecretString>,
    file: Option<PathBuf>,
) -> Result<SecretString, ConfigError> {
    secret::required(&format!("{base}.secret"), value, file)
}

/// `phone_region`, checked.
pub(crate) fn region(base: &str, region: Option<String>) -> Result<Option<String>, ConfigError> {
    if let Some(r) = &region {
        check_region(&format!("{base}.phone_region"), r)?;
    }
    Ok(region)
}

/// `auth` belongs to generic sources; a vendor kind checks its vendor's own scheme.
pub(crate) fn no_auth(base: &str, auth: Option<&figment::value::Value>) -> Result<(), ConfigError> {
    match auth {
        Some(_) => Err(invalid(
            format!("{base}.auth"),
            "only generic sources use auth; vendor kinds check their vendor's signature with `secret`",
        )),
        None => Ok(()),
    }
}

/// An employment-type value map (`{"Full-time": full_time}`): the vendor's labels the common
/// spellings do not cover.
pub type EmploymentTypes = BTreeMap<String, EmploymentType>;
