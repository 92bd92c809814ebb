//! The sending systems: one [`Adapter`] per configured entry under `sources:`, chosen by its
//! `kind`. An adapter receives the whole request, verifies it by its sender's scheme (the
//! primitives are in [`signing`]), decodes the events it carries and says how the sender wants
//! to be answered. The name of a source is its URL segment.

mod adapter;
pub mod ashby;
pub mod bamboohr;
mod body;
pub mod example;
pub mod generic;
pub mod greenhouse;
pub mod hubspot;
mod idempotency;
pub mod lever;
pub mod merge;
pub mod salesforce;
pub mod signing;
pub mod workable;

use std::sync::Arc;

use crate::config::{Config, SourceConfig, SourceKind};

pub use adapter::{
    Adapter, Content, Decoded, Item, ItemOutcome, Registry, RegistryError, Rejection, Reply,
    WebhookRequest, json_reply,
};
pub use body::{fingerprint, parse_json, require_json};
pub use example::{Example, SandboxSource, SignedExample};
pub use idempotency::{IDEMPOTENCY_KEY_MAX, id_header, idempotency_key};

/// The vendor kinds with a documented example hire to send and a sandbox source.
pub fn examples() -> Vec<(SourceKind, &'static dyn Example)> {
    [
        (SourceKind::Greenhouse, greenhouse::examples()),
        (SourceKind::Ashby, ashby::examples()),
        (SourceKind::Workable, workable::examples()),
        (SourceKind::Merge, merge::examples()),
        (SourceKind::Bamboohr, bamboohr::examples()),
        (SourceKind::Lever, lever::examples()),
        (SourceKind::Hubspot, hubspot::examples()),
        (SourceKind::Salesforce, salesforce::examples()),
    ]
    .into_iter()
    .filter_map(|(k, e)| e.map(|e| (k, e)))
    .collect()
}

/// The secret the sandbox's source of `kind` signs with (`send-example` uses it too); for
/// Salesforce, the organization id.
pub fn sandbox_secret(kind: SourceKind) -> String {
    match kind {
        SourceKind::Salesforce => "00D000000000001AAA".to_owned(),
        k => format!("sandbox-{}-secret", k.as_str()),
    }
}

/// An adapter for every configured source.
pub fn registry(cfg: &Config, http: &reqwest::Client) -> Result<Registry, RegistryError> {
    let mut out = Registry::new();
    for (name, source) in &cfg.sources {
        let region = cfg.phone_region_for(name);
        out.insert(name.clone(), adapter(name, source, region, http.clone())?);
    }
    Ok(out)
}

/// The adapter of one source, named `name`, reading numbers in `region`.
pub fn adapter(
    name: &str,
    source: &SourceConfig,
    region: &str,
    http: reqwest::Client,
) -> Result<Arc<dyn Adapter>, RegistryError> {
    Ok(match source {
        SourceConfig::Generic(c) => Arc::new(generic::Generic::new(name, c, region, http)),
        SourceConfig::Greenhouse(c) => greenhouse::adapter(name, c, region, http)?,
        SourceConfig::Ashby(c) => ashby::adapter(name, c, region, http)?,
        SourceConfig::Workable(c) => workable::adapter(name, c, region, http)?,
        SourceConfig::Merge(c) => merge::adapter(name, c, region, http)?,
        SourceConfig::Bamboohr(c) => bamboohr::adapter(name, c, region, http)?,
        SourceConfig::Lever(c) => lever::adapter(name, c, region, http)?,
        SourceConfig::Hubspot(c) => hubspot::adapter(name, c, region, http)?,
        SourceConfig::Salesforce(c) => salesforce::adapter(name, c, region, http)?,
    })
}
