//! `sources`: one entry per sending system; the name is the URL segment. Each kind's options
//! are a struct of their own, read from the entry's keys once its `kind` is known.

mod ashby;
mod bamboohr;
mod generic;
mod greenhouse;
mod hubspot;
mod kind;
mod lever;
mod merge;
mod salesforce;
mod vendor;
mod workable;

use std::collections::BTreeMap;

use figment::Figment;
use figment::providers::Serialized;
use figment::value::Value;

use super::error::{ConfigError, invalid};

pub use ashby::AshbySource;
pub use bamboohr::BamboohrSource;
pub use generic::{AuthConfig, GenericSource, HmacAuth, SignatureEncoding, SigningKey};
pub use greenhouse::GreenhouseSource;
pub use hubspot::{HireWhen, HubspotSource};
pub use kind::SourceKind;
pub use lever::LeverSource;
pub use merge::MergeSource;
pub use salesforce::{SalesforceFields, SalesforceSource};
pub use vendor::{EmploymentTypes, SourceApi};
pub use workable::WorkableSource;

/// One configured source, by kind.
#[derive(Debug, Clone)]
pub enum SourceConfig {
    Generic(GenericSource),
    Greenhouse(GreenhouseSource),
    Ashby(AshbySource),
    Workable(WorkableSource),
    Merge(MergeSource),
    Bamboohr(BamboohrSource),
    Lever(LeverSource),
    Hubspot(HubspotSource),
    Salesforce(SalesforceSource),
}

impl SourceConfig {
    pub fn kind(&self) -> SourceKind {
        match self {
            SourceConfig::Generic(_) => SourceKind::Generic,
            SourceConfig::Greenhouse(_) => SourceKind::Greenhouse,
            SourceConfig::Ashby(_) => SourceKind::Ashby,
            SourceConfig::Workable(_) => SourceKind::Workable,
            SourceConfig::Merge(_) => SourceKind::Merge,
            SourceConfig::Bamboohr(_) => SourceKind::Bamboohr,
            SourceConfig::Lever(_) => SourceKind::Lever,
            SourceConfig::Hubspot(_) => SourceKind::Hubspot,
            SourceConfig::Salesforce(_) => SourceKind::Salesforce,
        }
    }

    /// Its own phone region, if it sets one.
    pub fn phone_region(&self) -> Option<&str> {
        match self {
            SourceConfig::Generic(s) => s.phone_region.as_deref(),
            SourceConfig::Greenhouse(s) => s.phone_region.as_deref(),
            SourceConfig::Ashby(s) => s.phone_region.as_deref(),
            SourceConfig::Workable(s) => s.phone_region.as_deref(),
            SourceConfig::Merge(s) => s.phone_region.as_deref(),
            SourceConfig::Bamboohr(s) => s.phone_region.as_deref(),
            SourceConfig::Lever(s) => s.phone_region.as_deref(),
            SourceConfig::Hubspot(s) => s.phone_region.as_deref(),
            SourceConfig::Salesforce(s) => s.phone_region.as_deref(),
        }
    }
}

/// Every entry of `sources`, as written, read into its kind's options.
pub(crate) fn resolve(
    raw: BTreeMap<String, Value>,
) -> Result<BTreeMap<String, SourceConfig>, ConfigError> {
    let mut out = BTreeMap::new();
    for (name, value) in raw {
        let base = format!("sources.{name}");
        if name.is_empty()
            || !name
                .chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-' || ch == '_')
        {
            return Err(invalid(
                &base,
                "a source name is a URL segment: lower-case letters, digits, '-' and '_' only",
            ));
        }
        let Value::Dict(tag, mut keys) = value else {
            return Err(invalid(&base, "expected a mapping"));
        };
        let kind = match keys.remove("kind") {
            None => return Err(invalid(format!("{base}.kind"), "required")),
            Some(v) => v.as_str().and_then(SourceKind::parse).ok_or_else(|| {
                let names: Vec<&str> = SourceKind::ALL.iter().map(|k| k.as_str()).collect();
                invalid(
                    format!("{base}.kind"),
                    format!("unknown value: expected one of {}", names.join(", ")),
                )
            })?,
        };
        let fig = Figment::from(Serialized::defaults(Value::Dict(tag, keys)));
        let path = vec!["sources".to_owned(), name.clone()];
        let source = match kind {
            SourceKind::Generic => SourceConfig::Generic(generic::read(&fig, &base, &path)?),
            SourceKind::Greenhouse => {
                SourceConfig::Greenhouse(greenhouse::read(&fig, &base, &path)?)
            }
            SourceKind::Ashby => SourceConfig::Ashby(ashby::read(&fig, &base, &path)?),
            SourceKind::Workable => SourceConfig::Workable(workable::read(&fig, &base, &path)?),
            SourceKind::Merge => SourceConfig::Merge(merge::read(&fig, &base, &path)?),
            SourceKind::Bamboohr => SourceConfig::Bamboohr(bamboohr::read(&fig, &base, &path)?),
            SourceKind::Lever => SourceConfig::Lever(lever::read(&fig, &base, &path)?),
            SourceKind::Hubspot => SourceConfig::Hubspot(hubspot::read(&fig, &base, &path)?),
            SourceKind::Salesforce => {
                SourceConfig::Salesforce(salesforce::read(&fig, &base, &path)?)
            }
        };
        out.insert(name, source);
    }
    Ok(out)
}
