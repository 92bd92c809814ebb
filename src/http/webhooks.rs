//! `POST /v1/webhooks/{source}`: authenticate the raw bytes, normalise, evaluate the rules,
//! commit durably (group commit), answer. A 202 means the event is on disk.

use std::time::SystemTime;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use super::problem::{Problem, parse_json, require_json};
use crate::intake;
use crate::sources::{NormalizeError, Normalized};
use crate::store::{IntakeOutcome, now_ms};

fn rejected(source: &str, reason: &'static str) {
    metrics::counter!("hirebridge_events_total", "source" => source.to_owned(), "outcome" => "rejected", "reason" => reason)
        .increment(1);
}

pub async fn receive(
    State(state): State<AppState>,
    Path(source_name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let Some(source) = state.sources.get(&source_name).cloned() else {
        rejected("unknown", "unknown_source");
        return Err(Problem::not_found(format!(
            "no source named {source_name:?} is configured"
        )));
    };
    let name = source.name.as_str();

    // Authenticate the raw bytes before looking inside them.
    if let Err(e) = source
        .verifier
        .verify(&headers, &body, SystemTime::now())
        .await
    {
        rejected(name, e.reason());
        tracing::warn!(
            source = name,
            reason = e.reason(),
            "webhook authentication failed"
        );
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNAUTHORIZED);
        let kind = if status == StatusCode::UNAUTHORIZED {
            "unauthorized"
        } else {
            "unavailable"
        };
        return Err(Problem::new(status, kind, e.to_string()).with("reason", e.reason()));
    }

    if let Err(p) = require_json(&headers) {
        rejected(name, "unsupported_media_type");
        return Err(p);
    }
    let value = parse_json(&body).inspect_err(|_| rejected(name, "malformed_json"))?;
    let normalized = match source.normalize(&headers, &value) {
        Ok(n) => n,
        Err(NormalizeError::Malformed(m)) => {
            rejected(name, "malformed");
            return Err(Problem::bad_request("malformed-event", m));
        }
        Err(NormalizeError::InvalidHeaders(errors)) => {
            rejected(name, "invalid_header");
            return Err(Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid-header",
                "invalid request headers",
            )
            .with_errors(errors));
        }
        Err(NormalizeError::Unmappable(errors)) => {
            rejected(name, "unmappable");
            return Err(Problem::unprocessable(
                format!(
                    "the body is not a hire this source can map: {} field(s) missing or invalid",
                    errors.len()
                ),
                errors,
            ));
        }
    };
    let ignored = matches!(normalized, Normalized::Ignored { .. });
    let fingerprint = intake::fingerprint(&value);
    let rules = state.rules.current();
    let (event, matches) =
        intake::prepare_event(name, normalized, fingerprint, &rules.set, &value, now_ms());

    let outcome = state.intake.submit(event).await.map_err(Problem::from)?;
    let (status, body, label) = match outcome {
        IntakeOutcome::Accepted { event_id } if ignored => (
            StatusCode::OK,
            json!({"event_id": event_id, "status": "ignored"}),
            "ignored",
        ),
        IntakeOutcome::Accepted { event_id } => {
            tracing::info!(source = name, event_id = %event_id, "event accepted");
            // Only a hire the store accepted counts: not repeats, conflicts or dry runs.
            matches.record();
            if let Some(w) = &state.engine_wake {
                w.notify_one();
            }
            (
                StatusCode::ACCEPTED,
                json!({"event_id": event_id, "status": "accepted"}),
                "accepted",
            )
        }
        IntakeOutcome::Duplicate { event_id } => (
            StatusCode::OK,
            json!({"event_id": event_id, "status": "duplicate"}),
            "duplicate",
        ),
        IntakeOutcome::Conflict { event_id } => {
            rejected(name, "conflict");
            return Err(Problem::new(
                StatusCode::CONFLICT,
                "dedupe-key-conflict",
                "an event with this dedupe key (event_id or Idempotency-Key) was already accepted with a different body",
            )
            .with("event_id", event_id));
        }
    };
    metrics::counter!("hirebridge_events_total", "source" => name.to_owned(), "outcome" => label, "reason" => "")
        .increment(1);
    Ok((status, Json(body)).into_response())
}
