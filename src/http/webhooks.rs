//! `POST /v1/webhooks/{source}`: the source's adapter verifies and decodes the raw request,
//! intake evaluates the rules and commits every event it carries (group commit), and the
//! adapter says how to answer. A 202 means the events are on disk.

use std::time::SystemTime;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use futures_util::future::join_all;

use super::problem::Problem;
use super::state::AppState;
use crate::clock::now_ms;
use crate::intake;
use crate::sources::{Content, ItemOutcome, Rejection, Reply, WebhookRequest};
use crate::store::IntakeOutcome;

fn rejected(source: &str, reason: &'static str) {
    metrics::counter!("hirebridge_events_total", "source" => source.to_owned(), "outcome" => "rejected", "reason" => reason)
        .increment(1);
}

pub async fn receive(
    State(state): State<AppState>,
    Path(source_name): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let Some(source) = state.sources.get(&source_name).cloned() else {
        rejected("unknown", "unknown_source");
        return Err(Problem::not_found(format!(
            "no source named {:?} is configured",
            shortened(&source_name)
        )));
    };
    let name = source.name();
    let req = WebhookRequest {
        method: &method,
        uri: &uri,
        headers: &headers,
        body: &body,
        received_at: SystemTime::now(),
    };
    let decoded = source.decode(&req).await.map_err(|r| {
        rejected(name, r.reason());
        if let Rejection::Auth(e) = &r {
            tracing::warn!(
                source = name,
                reason = e.reason(),
                "webhook authentication failed"
            );
        } else {
            // What was wrong, not the body: it may hold personal data.
            tracing::info!(source = name, reason = r.reason(), error = %r, "webhook refused");
        }
        Problem::from(r)
    })?;

    let rules = state.rules.current();
    let received_at = now_ms();
    let (events, items): (Vec<_>, Vec<_>) = decoded
        .items
        .into_iter()
        .map(|item| {
            let ignored = matches!(item.content, Content::Ignored { .. });
            let (event, matches) = intake::prepare_event(name, item, &rules.set, received_at);
            (event, (ignored, matches))
        })
        .unzip();
    // The events of one request go to the writers together and share a group commit.
    let results = join_all(events.into_iter().map(|e| state.intake.submit(e))).await;
    let mut outcomes = Vec::with_capacity(results.len());
    let mut woke = false;
    let mut conflicts = 0;
    for ((ignored, matches), result) in items.into_iter().zip(results) {
        let (outcome, label) = match result.map_err(Problem::from)? {
            IntakeOutcome::Accepted { event_id } if ignored => {
                (ItemOutcome::Ignored { event_id }, "ignored")
            }
            IntakeOutcome::Accepted { event_id } => {
                tracing::info!(source = name, event_id = %event_id, "event accepted");
                // Only a hire the store accepted counts: not repeats, conflicts or dry runs.
                matches.record();
                woke = true;
                (ItemOutcome::Accepted { event_id }, "accepted")
            }
            IntakeOutcome::Duplicate { event_id } => {
                (ItemOutcome::Duplicate { event_id }, "duplicate")
            }
            IntakeOutcome::Conflict { event_id } => {
                conflicts += 1;
                outcomes.push(ItemOutcome::Conflict { event_id });
                continue;
            }
        };
        metrics::counter!("hirebridge_events_total", "source" => name.to_owned(), "outcome" => label, "reason" => "")
            .increment(1);
        outcomes.push(outcome);
    }
    if woke && let Some(w) = &state.engine_wake {
        w.notify_one();
    }
    let status = |s: u16| StatusCode::from_u16(s).unwrap_or(StatusCode::OK);
    // A conflict is counted by what the source makes of it: a `conflict` (409, or one entry
    // of a batch's answer), or the refusal it answers instead (Lever: a replayed token).
    let reply = source.respond(&outcomes).inspect_err(|r| {
        rejected(name, r.reason());
        tracing::info!(source = name, reason = r.reason(), error = %r, "webhook refused");
    });
    if reply.is_ok() {
        for _ in 0..conflicts {
            rejected(name, "conflict");
        }
    }
    match reply? {
        Reply::Json { status: s, body } => Ok((status(s), Json(body)).into_response()),
        Reply::Xml { status: s, body } => Ok((
            status(s),
            [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
            body,
        )
            .into_response()),
    }
}

/// At most 64 characters of what the caller sent, for messages that name it.
fn shortened(s: &str) -> String {
    const MAX: usize = 64;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}
