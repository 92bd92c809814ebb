//! `kind: merge` (its adapter is not in this build yet: refused at start).

use std::sync::Arc;

use crate::config::{MergeSource, SourceKind};
use crate::sources::{Adapter, RegistryError};

pub fn adapter(
    name: &str,
    _cfg: &MergeSource,
    _phone_region: &str,
    _http: reqwest::Client,
) -> Result<Arc<dyn Adapter>, RegistryError> {
    Err(RegistryError::Unsupported {
        name: name.to_owned(),
        kind: SourceKind::Merge,
    })
}

/// The kind's documented example and sandbox source, once its adapter is in.
pub fn examples() -> Option<&'static dyn crate::sources::Example> {
    None
}
