//! Liveness, readiness (each dependency by name) and Prometheus metrics.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;

use super::state::{AppState, ConnecteamMode};

/// 200 while the process serves requests.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// 200 when the database answers and a valid rule table is loaded; 503 otherwise.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let probe = async {
        state.store.ping().await?;
        state.store.check_write().await
    };
    let db = tokio::time::timeout(std::time::Duration::from_secs(2), probe).await;
    let database = match db {
        Ok(Ok(())) => "ok",
        Ok(Err(e)) if e.is_read_only() => {
            tracing::warn!(error = %e, "readiness: the database takes no writes");
            "read_only"
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: database unreachable");
            "unavailable"
        }
        Err(_) => {
            tracing::warn!("readiness: database ping timed out");
            "unavailable"
        }
    };
    // A RulesHandle only ever holds a table that parsed: the last good one stays in force.
    let rules = "ok";
    let connecteam = match state.connecteam {
        ConnecteamMode::Sandbox => "sandbox",
        ConnecteamMode::Live => "ok",
        ConnecteamMode::Unconfigured => "degraded",
    };
    let status = if database == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "database": database,
        "database_backend": state.store.backend(),
        "rules": rules,
        "rules_version": state.rules.current().set.version(),
        "connecteam": connecteam,
    });
    (status, Json(body)).into_response()
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    render(&state.metrics)
}

pub async fn metrics_only(State(handle): State<PrometheusHandle>) -> Response {
    render(&handle)
}

fn render(handle: &PrometheusHandle) -> Response {
    handle.run_upkeep();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response()
}
