//! `kind: lever` (its adapter is not in this build yet: refused at start).

use std::sync::Arc;

use crate::config::{LeverSource, SourceKind};
use crate::sources::{Adapter, RegistryError};

pub fn adapter(
    name: &str,
    _cfg: &LeverSource,
    _phone_region: &str,
    _http: reqwest::Client,
) -> Result<Arc<dyn Adapter>, RegistryError> {
    Err(RegistryError::Unsupported {
        name: name.to_owned(),
        kind: SourceKind::Lever,
    })
}

/// The kind's documented example and sandbox source, once its adapter is in.
pub fn examples() -> Option<&'static dyn crate::sources::Example> {
    None
}
