//! What every handler shares.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;

use crate::config::Config;
use crate::rules::RulesHandle;
use crate::sources::Registry;
use crate::sources::signing::JwtVerifier;
use crate::store::Store;
use crate::store::batcher::IntakeBatcher;

/// How hirebridge reaches Connecteam, for `/readyz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnecteamMode {
    /// The built-in simulator: nothing leaves the machine.
    Sandbox,
    Live,
    /// No API key or OAuth client: events are stored, nothing is delivered.
    Unconfigured,
}

/// Everything a handler needs. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub intake: IntakeBatcher,
    pub rules: Arc<RulesHandle>,
    pub sources: Arc<Registry>,
    /// `None` when `admin.jwt` is not configured: admin routes answer 404.
    pub admin: Option<Arc<JwtVerifier>>,
    pub metrics: PrometheusHandle,
    pub connecteam: ConnecteamMode,
    /// Wakes the delivery engine when new work is committed.
    pub engine_wake: Option<Arc<tokio::sync::Notify>>,
}
