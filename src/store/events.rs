//! Events: committed by intake (group commit, one round trip per batch), read back by the
//! operator API, replayed after a fix.

use async_trait::async_trait;
use sqlx::{Executor, Row};

use super::error::StoreError;
use super::intake::{STORED_UNDER_KEY, Stored, classify, collect_stored};
use super::model::{
    EventQuery, EventRecord, EventSummary, IntakeOutcome, NewEvent, OperationRecord, Replan,
    Replayed,
};
use super::sql::{Dialect, SqlStore, parse_enum, parse_json};
use crate::domain::{EventStatus, OperationKind, OperationStatus, Plan};

/// Events as intake commits them and the operator API reads them.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Commit every event with its operations in ONE transaction. Events whose dedupe key
    /// exists already (also earlier in the same batch) come back as `Duplicate`/`Conflict`.
    async fn insert_events(&self, events: &[NewEvent]) -> Result<Vec<IntakeOutcome>, StoreError>;

    async fn get_event(&self, event_id: &str) -> Result<Option<EventRecord>, StoreError>;

    async fn list_events(&self, query: &EventQuery) -> Result<Vec<EventSummary>, StoreError>;

    /// Put an event's dead operations back on the queue; `None` when there is no such event.
    /// With `replan` (the plan the rule table in force now gives the hire) that differs from
    /// the stored one, the event takes the new plan first: operations it adds are queued,
    /// failed ones it drops are superseded, failed ones it keeps are re-queued with its
    /// parameters. Work already done stays done.
    async fn replay(
        &self,
        event_id: &str,
        replan: Option<&Replan>,
        now_ms: i64,
    ) -> Result<Option<Replayed>, StoreError>;
}

const EVENT: &str = "SELECT id, source, dedupe_key, status, received_at, hire, plan, rules_version,
            connecteam_user_id, payload, field_warnings
       FROM events WHERE id = $1";

const EVENT_OPERATIONS: &str = "SELECT id, kind, target, params, status, attempts, next_attempt_at, last_error, idempotency_key
       FROM operations WHERE event_id = $1 ORDER BY seq";

const LIST: &str = "SELECT id, source, status, received_at FROM events
      WHERE (CAST($1 AS TEXT) IS NULL OR status = $1) AND (CAST($2 AS TEXT) IS NULL OR source = $2)
        AND (CAST($3 AS TEXT) IS NULL OR id < $3)
      ORDER BY id DESC LIMIT $4";

/// Replay locks its event like a queue commit does, so their status derivations cannot
/// interleave.
const EVENT_FOR_REPLAY: &str =
    "SELECT status, plan, connecteam_user_id FROM events WHERE id = $1 LOCK_ROWS";

const SET_PLAN: &str =
    "UPDATE events SET plan = $2, rules_version = $3, updated_at = $4 WHERE id = $1";

/// Dead operations due again now, with fresh attempts; `created_at` restarts the clock of
/// `waiting_for_user_timeout_s`, or a replayed wait would time out at its first look.
const REQUEUE_DEAD: &str =
    "UPDATE operations SET status = 'pending', attempts = 0, next_attempt_at = $2,
       created_at = $2, waiting_since = NULL, lease_owner = NULL, lease_expires_at = NULL,
       updated_at = $2
     WHERE event_id = $1 AND status = 'dead'";

#[async_trait]
impl<DB> EventStore for SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'t> i64: sqlx::Encode<'t, DB> + sqlx::Decode<'t, DB> + sqlx::Type<DB>,
    for<'t> i32: sqlx::Encode<'t, DB> + sqlx::Decode<'t, DB> + sqlx::Type<DB>,
    for<'t> &'t str: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> String: sqlx::Encode<'t, DB> + sqlx::Decode<'t, DB> + sqlx::Type<DB>,
    for<'t> Option<&'t str>: sqlx::Encode<'t, DB>,
    for<'r> &'r str: sqlx::ColumnIndex<DB::Row>,
    DB::Arguments: sqlx::IntoArguments<DB>,
{
    async fn insert_events(&self, events: &[NewEvent]) -> Result<Vec<IntakeOutcome>, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let mut stored: Stored = DB::write_batch(self, events).await?;
        match classify(events, &stored) {
            Ok(outcomes) => Ok(outcomes),
            Err(missing) => {
                for i in &missing {
                    let ev = &events[*i];
                    let rows = sqlx::query(STORED_UNDER_KEY)
                        .bind(ev.source.as_str())
                        .bind(ev.dedupe_key.as_str())
                        .fetch_all(&self.write)
                        .await?;
                    collect_stored(&rows, &mut stored)?;
                }
                classify(events, &stored).map_err(|still| {
                    StoreError::Corrupt(format!(
                        "event {} was neither inserted nor found",
                        events[still[0]].id
                    ))
                })
            }
        }
    }

    async fn get_event(&self, event_id: &str) -> Result<Option<EventRecord>, StoreError> {
        let Some(row) = sqlx::query(EVENT)
            .bind(event_id)
            .fetch_optional(&self.read)
            .await?
        else {
            return Ok(None);
        };
        let ops = sqlx::query(EVENT_OPERATIONS)
            .bind(event_id)
            .fetch_all(&self.read)
            .await?;
        let mut operations = Vec::with_capacity(ops.len());
        for r in ops {
            let kind: String = r.try_get("kind")?;
            let status: String = r.try_get("status")?;
            let params: String = r.try_get("params")?;
            operations.push(OperationRecord {
                id: r.try_get("id")?,
                kind: parse_enum(&kind, "operation kind", OperationKind::parse)?,
                target: r.try_get("target")?,
                params: parse_json(&params, "operation params")?,
                status: parse_enum(&status, "operation status", OperationStatus::parse)?,
                attempts: r.try_get("attempts")?,
                next_attempt_at_ms: r.try_get("next_attempt_at")?,
                last_error: r.try_get("last_error")?,
                idempotency_key: r.try_get("idempotency_key")?,
            });
        }
        let plan: Option<String> = row.try_get("plan")?;
        let status: String = row.try_get("status")?;
        let hire: String = row.try_get("hire")?;
        let warnings: Option<String> = row.try_get("field_warnings")?;
        Ok(Some(EventRecord {
            event_id: row.try_get("id")?,
            source: row.try_get("source")?,
            dedupe_key: row.try_get("dedupe_key")?,
            status: parse_enum(&status, "event status", EventStatus::parse)?,
            received_at_ms: row.try_get("received_at")?,
            hire: parse_json(&hire, "hire")?,
            plan: plan.map(|p| parse_json(&p, "plan")).transpose()?,
            rules_version: row.try_get("rules_version")?,
            connecteam_user_id: row.try_get("connecteam_user_id")?,
            payload: row.try_get("payload")?,
            field_warnings: warnings
                .map(|w| {
                    serde_json::from_str(&w)
                        .map_err(|e| StoreError::Corrupt(format!("field warnings: {e}")))
                })
                .transpose()?
                .unwrap_or_default(),
            operations,
        }))
    }

    async fn list_events(&self, q: &EventQuery) -> Result<Vec<EventSummary>, StoreError> {
        let rows = sqlx::query(LIST)
            .bind(q.status.map(EventStatus::as_str))
            .bind(q.source.as_deref())
            .bind(q.before.as_deref())
            .bind(i64::from(q.limit))
            .fetch_all(&self.read)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let status: String = r.try_get("status")?;
            out.push(EventSummary {
                event_id: r.try_get("id")?,
                source: r.try_get("source")?,
                status: parse_enum(&status, "event status", EventStatus::parse)?,
                received_at_ms: r.try_get("received_at")?,
            });
        }
        Ok(out)
    }

    async fn replay(
        &self,
        event_id: &str,
        replan: Option<&Replan>,
        now_ms: i64,
    ) -> Result<Option<Replayed>, StoreError> {
        let mut tx = self.write.begin().await?;
        let Some(ev) = sqlx::query(DB::statement(EVENT_FOR_REPLAY))
            .bind(event_id)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(None);
        };
        let mut out = Replayed::default();
        let status: String = ev.try_get("status")?;
        let stored_plan: Option<String> = ev.try_get("plan")?;
        let user: Option<i64> = ev.try_get("connecteam_user_id")?;
        let stored_plan: Option<Plan> = stored_plan.and_then(|p| serde_json::from_str(&p).ok());
        let changed = replan.filter(|r| stored_plan.as_ref() != Some(&r.plan));
        if let Some(r) = changed {
            out.plan_changed = true;
            let text = serde_json::to_string(&r.plan)
                .map_err(|e| StoreError::Corrupt(format!("plan: {e}")))?;
            sqlx::query(SET_PLAN)
                .bind(event_id)
                .bind(text.as_str())
                .bind(r.plan.rules_version.as_str())
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            // Before the user is known the plan is all there is: its operations are queued
            // from it at resolution. After, the stored operations follow it.
            if user.is_some() {
                let changes = Self::queue_plan(
                    &mut *tx,
                    event_id,
                    &r.plan.operations(),
                    Some(&r.plan.rules_version),
                    now_ms,
                )
                .await?;
                out.added = (changes.insert.len() + changes.revive.len()) as u64;
                out.superseded = changes.supersede.len() as u64;
            }
        }
        let requeued = sqlx::query(REQUEUE_DEAD)
            .bind(event_id)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        out.requeued = DB::rows_affected(&requeued);
        Self::derive_status(&mut *tx, &[(event_id.to_owned(), status)], now_ms).await?;
        tx.commit().await?;
        Ok(Some(out))
    }
}
