//! The operator API: events and rules. Every route here requires an admin JWT; when
//! `admin.jwt` is not configured they answer 404, so nothing is exposed by default.

use std::time::SystemTime;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;

use super::problem::{Problem, parse_json, require_json};
use super::query::{self, QueryParams};
use super::state::AppState;
use crate::clock::now_ms;
use crate::domain::EventStatus;
use crate::domain::{FieldError, Hire};
use crate::store::EventQuery;

/// Proof that the caller presented a valid admin token.
pub struct Admin {
    pub claims: Value,
}

impl Admin {
    /// Who the token speaks for (`sub`), for audit lines.
    pub fn subject(&self) -> &str {
        self.claims.get("sub").and_then(Value::as_str).unwrap_or("")
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let Some(verifier) = &state.admin else {
            return Err(Problem::not_found("no such route"));
        };
        match verifier
            .verify_bearer(&parts.headers, SystemTime::now())
            .await
        {
            Ok(claims) => Ok(Admin { claims }),
            Err(e) => {
                tracing::warn!(reason = e.reason(), "admin authentication failed");
                Err(Problem::from(e))
            }
        }
    }
}

/// Unix milliseconds as RFC 3339.
pub fn rfc3339_ms(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

pub async fn get_event(
    _admin: Admin,
    State(state): State<AppState>,
    Path(event_id): Path<String>,
) -> Result<Json<Value>, Problem> {
    query::path_id("event_id", &event_id)?;
    let Some(ev) = state.store.get_event(&event_id).await? else {
        return Err(Problem::not_found(format!("no event {event_id:?}")));
    };
    let ev = ev.with_planned_operations();
    let operations: Vec<Value> = ev
        .operations
        .iter()
        .map(|op| {
            json!({
                "kind": op.kind,
                "target": op.target,
                "status": op.status,
                "attempts": op.attempts,
                "next_attempt_at": rfc3339_ms(op.next_attempt_at_ms),
                "last_error": op.last_error,
                "idempotency_key": op.idempotency_key,
            })
        })
        .collect();
    let mut body = json!({
        "event_id": ev.event_id,
        "source": ev.source,
        "dedupe_key": ev.dedupe_key,
        "status": ev.status,
        "received_at": rfc3339_ms(ev.received_at_ms),
        "hire": ev.hire,
        "plan": ev.plan,
        "rules_version": ev.rules_version,
        "connecteam_user_id": ev.connecteam_user_id,
        "warnings": ev.field_warnings,
        "operations": operations,
    });
    // Only events whose hire is completed in the pipeline keep what the sender sent.
    if let Some(payload) = ev.payload {
        body["payload"] = Value::String(payload);
    }
    Ok(Json(body))
}

pub async fn list_events(
    _admin: Admin,
    State(state): State<AppState>,
    p: QueryParams,
) -> Result<Json<Value>, Problem> {
    let mut errors = Vec::new();
    let status = match p.get("status") {
        None => None,
        Some(s) => match EventStatus::parse(s) {
            Some(v) => Some(v),
            None => {
                errors.push(FieldError::new(
                    "/query/status",
                    "must be one of accepted, waiting_for_user, delivering, done, failed, ignored",
                ));
                None
            }
        },
    };
    let limit = match p.get("limit") {
        None => 50,
        Some(s) => match s.parse::<u32>() {
            Ok(n @ 1..=500) => n,
            _ => {
                errors.push(FieldError::new(
                    "/query/limit",
                    "must be a whole number from 1 to 500",
                ));
                50
            }
        },
    };
    // A cursor is the id of the last event of the page before: anything else would silently
    // start over at the first page.
    let cursor = match p.get("cursor") {
        None => None,
        Some(c) if c.parse::<ulid::Ulid>().is_ok() => Some(c.to_owned()),
        Some(_) => {
            errors.push(FieldError::new(
                "/query/cursor",
                "is not a cursor this API gave (the next_cursor of a page)",
            ));
            None
        }
    };
    let source = match p.get("source") {
        None => None,
        Some("") => {
            errors.push(FieldError::new("/query/source", "must not be empty"));
            None
        }
        Some(s) => Some(s.to_owned()),
    };
    if !errors.is_empty() {
        return Err(query::invalid(errors));
    }
    let query = EventQuery {
        status,
        source,
        before: cursor,
        limit: limit + 1,
    };
    let mut rows = state.store.list_events(&query).await?;
    let next_cursor = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|r| r.event_id.clone())
    } else {
        None
    };
    let events: Vec<Value> = rows
        .into_iter()
        .map(|r| {
            json!({
                "event_id": r.event_id,
                "source": r.source,
                "status": r.status,
                "received_at": rfc3339_ms(r.received_at_ms),
            })
        })
        .collect();
    Ok(Json(json!({"events": events, "next_cursor": next_cursor})))
}

pub async fn get_rules(_admin: Admin, State(state): State<AppState>) -> Json<Value> {
    let cur = state.rules.current();
    Json(json!({
        "version": cur.set.version(),
        "loaded_at": cur.loaded_at.format(&Rfc3339).unwrap_or_default(),
        "path": state.rules.path().map(|p| p.display().to_string()),
        "rules": cur.set.rule_names(),
        "text": cur.set.text(),
    }))
}

/// A dry run: the plan the current table gives a hire. Sends nothing, stores nothing.
pub async fn evaluate(
    _admin: Admin,
    State(state): State<AppState>,
    p: QueryParams,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, Problem> {
    let source = p.get("source");
    if let Some(name) = source
        && !state.sources.contains_key(name)
    {
        return Err(
            Problem::not_found("no source by this name is configured").with_errors(vec![
                FieldError::new("/query/source", "no source by this name is configured"),
            ]),
        );
    }
    require_json(&headers)?;
    let value = parse_json(&body)?;
    let region = source.map_or(state.config.connecteam.default_phone_region.as_str(), |s| {
        state.config.phone_region_for(s)
    });
    let hire = Hire::from_json(&value, region)
        .map_err(|errors| Problem::unprocessable("the body is not a canonical hire", errors))?;
    // Intake plans hires only: a plan for another type would be one no event ever gets.
    if !hire.is_hire() {
        return Err(Problem::unprocessable(
            "only hire.created events are planned",
            vec![FieldError::new("/type", "must be hire.created")],
        ));
    }
    let plan = state.rules.current().set.evaluate(source, &hire);
    Ok(Json(serde_json::to_value(plan).unwrap_or_default()))
}

/// Put the event's dead-lettered operations back on the queue (after fixing a rule, a pack,
/// a key). Operations that are done stay done.
pub async fn replay(
    admin: Admin,
    State(state): State<AppState>,
    Path(event_id): Path<String>,
) -> Result<Json<Value>, Problem> {
    query::path_id("event_id", &event_id)?;
    let Some(ev) = state.store.get_event(&event_id).await? else {
        return Err(Problem::not_found(format!("no event {event_id:?}")));
    };
    // The failed work is tried again under the rule table in force now: a rule fixed since
    // the hire arrived takes effect for what has not been done yet.
    let replan = match serde_json::from_value::<Hire>(ev.hire.clone()) {
        Ok(hire) if ev.plan.is_some() => {
            let rules = state.rules.current();
            let plan = rules.set.evaluate(Some(&ev.source), &hire);
            Some(crate::store::Replan { plan })
        }
        _ => None,
    };
    let Some(done) = state
        .store
        .replay(&event_id, replan.as_ref(), now_ms())
        .await?
    else {
        return Err(Problem::not_found(format!("no event {event_id:?}")));
    };
    tracing::info!(
        event_id = %event_id,
        requeued = done.requeued,
        added = done.added,
        superseded = done.superseded,
        plan_changed = done.plan_changed,
        by = admin.subject(),
        "event replayed"
    );
    if let Some(w) = &state.engine_wake {
        w.notify_one();
    }
    Ok(Json(json!({
        "event_id": event_id,
        "requeued": done.requeued,
        "added": done.added,
        "superseded": done.superseded,
        "plan_changed": done.plan_changed,
        "rules_version": replan.map(|r| r.plan.rules_version),
    })))
}
