//! `kind: merge`: Merge's HRIS webhooks (`Employee.added`), the ids in the employee (its
//! employments, location, team, manager) resolved through Merge's API when configured.

use std::path::PathBuf;

use figment::Figment;
use secrecy::SecretString;
use serde::Deserialize;

use super::vendor::{self, ApiDefaults, EmploymentTypes, RawApi, SourceApi};
use crate::config::error::{ConfigError, extraction, invalid};

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
    /// Take the employee's `preferred_name` as the first name when it is set (default: the
    /// legal `first_name`).
    pub use_preferred_name: bool,
    /// Only events of this linked account are taken; the others are acknowledged and ignored.
    /// Merge's webhooks are organization-wide, and an account token reads one linked account.
    pub linked_account_id: Option<String>,
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
    #[serde(default)]
    use_preferred_name: bool,
    linked_account_id: Option<String>,
}

const API: ApiDefaults = ApiDefaults {
    base_url: Some("https://api.merge.dev/api/hris/v1"),
    requests_per_minute: 60,
    account_token: true,
};

/// The emails `email_preference` may name.
pub const EMAIL_KINDS: [&str; 2] = ["work", "personal"];

pub(crate) fn read(fig: &Figment, base: &str, path: &[String]) -> Result<MergeSource, ConfigError> {
    let raw: Raw = fig.extract_lossy().map_err(|e| extraction(e, path))?;
    vendor::no_auth(base, raw.auth.as_ref())?;
    let email_preference = raw
        .email_preference
        .unwrap_or_else(|| EMAIL_KINDS.map(String::from).to_vec());
    if email_preference.is_empty() {
        return Err(invalid(
            format!("{base}.email_preference"),
            "name at least one of work, personal",
        ));
    }
    if let Some(bad) = email_preference
        .iter()
        .find(|e| !EMAIL_KINDS.iter().any(|k| k.eq_ignore_ascii_case(e)))
    {
        return Err(invalid(
            format!("{base}.email_preference"),
            format!("{bad:?} is not an email of Merge's employee: use work, personal"),
        ));
    }
    let linked_account_id = raw
        .linked_account_id
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    Ok(MergeSource {
        secret: vendor::signing_secret(base, raw.secret, raw.secret_file)?,
        phone_region: vendor::region(base, raw.phone_region)?,
        email_preference,
        api: raw.api.map(|a| vendor::api(base, a, &API)).transpose()?,
        employment_types: raw.employment_types,
        use_preferred_name: raw.use_preferred_name,
        linked_account_id,
    })
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use crate::config::{Config, SourceConfig};

    fn merge(yaml: &str) -> Result<super::MergeSource, String> {
        let c = Config::from_yaml(&format!("sources:\n  m:\n    kind: merge\n{yaml}"))
            .map_err(|e| e.to_string())?;
        match &c.sources["m"] {
            SourceConfig::Merge(m) => Ok(m.clone()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_merge_entry_reads_its_options() {
        let m = merge(
            "    secret: sig-key\n    use_preferred_name: true\n    linked_account_id: \" la-1 \"\n    email_preference: [personal]\n    api:\n      token: api-key\n      account_token: acct\n",
        )
        .unwrap();
        assert!(m.use_preferred_name);
        assert_eq!(m.linked_account_id.as_deref(), Some("la-1"));
        assert_eq!(m.email_preference, ["personal"]);
        let api = m.api.unwrap();
        assert_eq!(api.base_url.as_str(), "https://api.merge.dev/api/hris/v1");
        assert_eq!(api.account_token.unwrap().expose_secret(), "acct");
        let m = merge("    secret: sig-key\n").unwrap();
        assert!(!m.use_preferred_name && m.api.is_none() && m.linked_account_id.is_none());
        assert_eq!(m.email_preference, ["work", "personal"]);
    }

    #[test]
    fn bad_merge_options_name_their_key() {
        let err = merge("    secret: s\n    email_preference: [home]\n").unwrap_err();
        assert!(
            err.contains("email_preference") && err.contains("home"),
            "{err}"
        );
        let err = merge("    secret: s\n    email_preference: []\n").unwrap_err();
        assert!(err.contains("email_preference"), "{err}");
        let err = merge("    secret: s\n    api: { token: t }\n").unwrap_err();
        assert!(err.contains("account_token"), "{err}");
    }
}
