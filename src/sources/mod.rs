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
    /// A request header the source reads is unusable (400), pointed at as `/headers/<name>`.
    InvalidHeaders(Vec<FieldError>),
}

/// The longest `Idempotency-Key` accepted, in bytes.
pub const IDEMPOTENCY_KEY_MAX: usize = 255;

/// The `Idempotency-Key` header: `None` when absent; else 1 to 255 visible ASCII characters,
/// sent once. Anything else is refused rather than ignored: falling back to the body's
/// `event_id` would dedupe differently from what the sender asked for.
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, FieldError> {
    let mut values = headers.get_all("idempotency-key").iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let bad = |message: String| FieldError::new("/headers/idempotency-key", message);
    if values.next().is_some() {
        return Err(bad("must be sent once".to_owned()));
    }
    let bytes = value.as_bytes();
    if bytes.is_empty() {
        return Err(bad(
            "is empty; send 1 to 255 visible ASCII characters, or no header".to_owned(),
        ));
    }
    if bytes.len() > IDEMPOTENCY_KEY_MAX {
        return Err(bad(format!(
            "is {} bytes long; at most {IDEMPOTENCY_KEY_MAX} are allowed",
            bytes.len()
        )));
    }
    if !bytes.iter().all(|b| (0x21..=0x7e).contains(b)) {
        return Err(bad(
            "must be visible ASCII characters only (no spaces, control characters or non-ASCII)"
                .to_owned(),
        ));
    }
    Ok(value.to_str().ok().map(str::to_owned))
}

impl Source {
    /// Normalise a verified body. The `Idempotency-Key` header, when the request carried one,
    /// is the dedupe key; an unusable one is refused ([`idempotency_key`]).
    pub fn normalize(
        &self,
        headers: &HeaderMap,
        body: &serde_json::Value,
    ) -> Result<Normalized, NormalizeError> {
        let idem = idempotency_key(headers).map_err(|e| NormalizeError::InvalidHeaders(vec![e]))?;
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
