//! The sending systems: how each one authenticates and how its body becomes a canonical hire.
//! One [`Source`] per configured entry under `sources:`; the name is the URL segment.

pub mod auth;
pub mod generic;
pub mod jwks;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::http::HeaderMap;

use crate::config::{Config, SourceKind};
use crate::domain::{FieldError, Hire};

/// A configured sending system, ready to verify and normalise its events.
pub struct Source {
    pub name: String,
    pub kind: SourceKind,
    pub verifier: auth::Verifier,
    /// Region for phone numbers written without a country code.
    pub phone_region: String,
}

/// What a verified body amounts to.
#[derive(Debug)]
pub enum Normalized {
    /// A hire to act on.
    Hire { hire: Box<Hire>, dedupe_key: String },
    /// Something the source sends that is not a hire (a ping, another event type).
    Ignored { dedupe_key: String, reason: String },
}

/// Why a body could not be normalised.
#[derive(Debug)]
pub enum NormalizeError {
    /// Not JSON at all (400).
    Malformed(String),
    /// JSON, but not a hire this source can map (422), with every field at fault.
    Unmappable(Vec<FieldError>),
}

impl Source {
    /// Normalise a verified body. `idempotency_key`, when the request carried one, is the dedupe key.
    pub fn normalize(
        &self,
        headers: &HeaderMap,
        body: &serde_json::Value,
    ) -> Result<Normalized, NormalizeError> {
        let idem = headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty() && v.len() <= 255)
            .map(str::to_owned);
        match self.kind {
            SourceKind::Generic => generic::normalize(body, &self.phone_region, idem),
            other => Err(NormalizeError::Malformed(format!(
                "source kind {} is not supported by this version",
                other.as_str()
            ))),
        }
    }
}

/// The configured sources by name.
pub type Registry = BTreeMap<String, Arc<Source>>;

/// Build every configured source. Kinds this version cannot receive yet are refused at start,
/// rather than silently answering their vendor with errors.
pub fn registry(cfg: &Config, http: &reqwest::Client) -> Result<Registry, String> {
    let mut out = Registry::new();
    for (name, sc) in &cfg.sources {
        if sc.kind != SourceKind::Generic {
            return Err(format!(
                "sources.{name}: kind {} is not supported by this version of hirebridge (supported: generic)",
                sc.kind.as_str()
            ));
        }
        let Some(auth) = &sc.auth else {
            return Err(format!(
                "sources.{name}.auth: required for a generic source"
            ));
        };
        let verifier = auth::Verifier::from_config(auth, http.clone())
            .map_err(|e| format!("sources.{name}.auth: {e}"))?;
        out.insert(
            name.clone(),
            Arc::new(Source {
                name: name.clone(),
                kind: sc.kind,
                verifier,
                phone_region: cfg.phone_region_for(name).to_owned(),
            }),
        );
    }
    Ok(out)
}
