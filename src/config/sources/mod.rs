//! `sources`: one entry per sending system; the name is the URL segment. Each kind's options
//! are a struct of their own, read from the entry's keys once its `kind` is known.

mod generic;
mod kind;
mod vendor;

use std::collections::BTreeMap;

use figment::Figment;
use figment::providers::Serialized;
use figment::value::Value;

use super::error::{ConfigError, invalid};

pub use generic::{AuthConfig, GenericSource, HmacAuth, SignatureEncoding, SigningKey};
pub use kind::SourceKind;
pub use vendor::{SourceApi, VendorSource};

/// One configured source, by kind.
#[derive(Debug, Clone)]
pub enum SourceConfig {
    Generic(GenericSource),
    /// A vendor kind this version has no adapter for (refused at start).
    Vendor(VendorSource),
}

impl SourceConfig {
    pub fn kind(&self) -> SourceKind {
        match self {
            SourceConfig::Generic(_) => SourceKind::Generic,
            SourceConfig::Vendor(v) => v.kind,
        }
    }

    /// Its own phone region, if it sets one.
    pub fn phone_region(&self) -> Option<&str> {
        match self {
            SourceConfig::Generic(g) => g.phone_region.as_deref(),
            SourceConfig::Vendor(v) => v.phone_region.as_deref(),
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
            vendor => SourceConfig::Vendor(vendor::read(vendor, &fig, &base, &path)?),
        };
        out.insert(name, source);
    }
    Ok(out)
}
