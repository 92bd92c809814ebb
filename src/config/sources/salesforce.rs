//! `kind: salesforce`: Salesforce Outbound Messages (SOAP), checked by organization id.

use figment::Figment;
use serde::Deserialize;

use super::vendor::{self, EmploymentTypes};
use crate::config::error::{ConfigError, extraction, invalid};

#[derive(Debug, Clone)]
pub struct SalesforceSource {
    /// The 15- or 18-character id of the org whose messages are accepted.
    pub organization_id: String,
    pub phone_region: Option<String>,
    /// Which sObject fields hold the hire's.
    pub fields: SalesforceFields,
    pub employment_types: EmploymentTypes,
}

/// The sObject's field names for each hire field (a Contact's by default). A list is tried in
/// order; an empty one leaves the field unset.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SalesforceFields {
    pub first_name: Vec<String>,
    pub last_name: Vec<String>,
    pub email: Vec<String>,
    pub phone: Vec<String>,
    pub title: Vec<String>,
    pub department: Vec<String>,
    pub location: Vec<String>,
    pub employment_type: Vec<String>,
    pub start_date: Vec<String>,
    pub manager_email: Vec<String>,
}

impl Default for SalesforceFields {
    fn default() -> Self {
        let v = |names: &[&str]| names.iter().map(|s| (*s).to_owned()).collect();
        Self {
            first_name: v(&["FirstName"]),
            last_name: v(&["LastName"]),
            email: v(&["Email"]),
            phone: v(&["MobilePhone", "Phone"]),
            title: v(&["Title"]),
            department: v(&["Department"]),
            location: v(&["MailingCity"]),
            employment_type: Vec::new(),
            start_date: Vec::new(),
            manager_email: Vec::new(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    auth: Option<figment::value::Value>,
    organization_id: Option<String>,
    phone_region: Option<String>,
    #[serde(default)]
    fields: SalesforceFields,
    #[serde(default)]
    employment_types: EmploymentTypes,
}

pub(crate) fn read(
    fig: &Figment,
    base: &str,
    path: &[String],
) -> Result<SalesforceSource, ConfigError> {
    let raw: Raw = fig.extract_lossy().map_err(|e| extraction(e, path))?;
    if raw.auth.is_some() {
        return Err(invalid(
            format!("{base}.auth"),
            "salesforce sources are checked by organization_id (Outbound Messages are unsigned); mTLS or an IP allow-list belong to the ingress",
        ));
    }
    let organization_id = raw
        .organization_id
        .map(|o| o.trim().to_owned())
        .filter(|o| !o.is_empty())
        .ok_or_else(|| {
            invalid(
                format!("{base}.organization_id"),
                "required for a salesforce source",
            )
        })?;
    if !(organization_id.len() == 15 || organization_id.len() == 18)
        || !organization_id.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return Err(invalid(
            format!("{base}.organization_id"),
            "a Salesforce org id is 15 or 18 letters and digits (00D…)",
        ));
    }
    Ok(SalesforceSource {
        organization_id,
        phone_region: vendor::region(base, raw.phone_region)?,
        fields: raw.fields,
        employment_types: raw.employment_types,
    })
}
