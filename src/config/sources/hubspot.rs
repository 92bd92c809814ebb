//! `kind: hubspot`: HubSpot's webhooks (batches of `contact.propertyChange`), the contact
//! fetched from HubSpot's API when the configured property change is a hire.

use std::path::PathBuf;

use figment::Figment;
use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use super::vendor::{self, ApiDefaults, RawApi, SourceApi};
use crate::config::error::{ConfigError, extraction, invalid};

#[derive(Debug, Clone)]
pub struct HubspotSource {
    /// The app's client secret.
    pub secret: SecretString,
    pub phone_region: Option<String>,
    /// Which property change is a hire.
    pub hire_when: HireWhen,
    /// Also accept v1 signatures (older CRM webhooks).
    pub allow_v1: bool,
    /// The public URL HubSpot posts to, up to the path (`https://hooks.example.com`, or with
    /// the path prefix an ingress strips): v3 signatures cover the full URI. Unset: the scheme
    /// of `X-Forwarded-Proto`, else the request's own (`http`: hirebridge serves plain HTTP),
    /// and the host of `X-Forwarded-Host`, else `Host`.
    pub public_url: Option<Url>,
    pub timestamp_tolerance_s: u64,
    /// HubSpot's API (a private app's token, bearer).
    pub api: SourceApi,
    /// The contact properties to fetch, besides those the hire needs.
    pub properties: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HireWhen {
    pub property: String,
    pub value: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    auth: Option<figment::value::Value>,
    secret: Option<SecretString>,
    secret_file: Option<PathBuf>,
    phone_region: Option<String>,
    hire_when: Option<HireWhen>,
    #[serde(default)]
    allow_v1: bool,
    public_url: Option<String>,
    timestamp_tolerance_s: Option<u64>,
    api: Option<RawApi>,
    #[serde(default)]
    properties: Vec<String>,
}

const API: ApiDefaults = ApiDefaults {
    base_url: Some("https://api.hubapi.com"),
    requests_per_minute: 300,
    account_token: false,
};

pub(crate) fn read(
    fig: &Figment,
    base: &str,
    path: &[String],
) -> Result<HubspotSource, ConfigError> {
    let raw: Raw = fig.extract_lossy().map_err(|e| extraction(e, path))?;
    vendor::no_auth(base, raw.auth.as_ref())?;
    let api = raw.api.ok_or_else(|| {
        invalid(
            format!("{base}.api"),
            "required: HubSpot's webhooks carry only ids, the contact is fetched through its API",
        )
    })?;
    let hire_when = raw.hire_when.unwrap_or_else(|| HireWhen {
        property: "lifecyclestage".to_owned(),
        value: "employee".to_owned(),
    });
    if hire_when.property.trim().is_empty() {
        return Err(invalid(
            format!("{base}.hire_when.property"),
            "must not be empty",
        ));
    }
    let public_url = raw
        .public_url
        .map(|u| {
            Url::parse(&u)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
                .ok_or_else(|| invalid(format!("{base}.public_url"), "must be an http(s) URL"))
        })
        .transpose()?;
    Ok(HubspotSource {
        secret: vendor::signing_secret(base, raw.secret, raw.secret_file)?,
        phone_region: vendor::region(base, raw.phone_region)?,
        hire_when,
        allow_v1: raw.allow_v1,
        public_url,
        timestamp_tolerance_s: raw.timestamp_tolerance_s.unwrap_or(300),
        api: vendor::api(base, api, &API)?,
        properties: raw.properties,
    })
}
