//! What the store keeps in step with an event's operations inside the transaction that
//! changes them: the event's status, and the operations of the plan in force. The decisions
//! are the domain's ([`EventStatus::derive`], [`reconcile`]); this module reads what they
//! need and writes what they decide.

use std::collections::HashMap;

use sqlx::{Executor, Row};

use super::error::StoreError;
use super::model::NewOperation;
use super::sql::{Dialect, SqlStore, parse_enum};
use crate::domain::reconcile::{self, Changes, Existing};
use crate::domain::{EventStatus, Operation, OperationKind, OperationState, OperationStatus};

/// The events whose status a batch of changes may move, locked (in id order, so two replicas
/// never deadlock) before any operation is touched. Without the lock two replicas finishing
/// the last two operations of one event each derive its status from a snapshot without the
/// other's change, and the event stays `delivering` for ever (write skew).
const LOCK_EVENTS_OF: &str = "SELECT id, status FROM events WHERE id IN (
       SELECT event_id FROM operations WHERE id IN (";

const STATES_OF: &str =
    "SELECT event_id, kind, status, attempts FROM operations WHERE event_id IN (";

const EVENT_OF: &str = "SELECT event_id FROM operations WHERE id = $1";

const SET_STATUS: &str = "UPDATE events SET status = $2, updated_at = $3 WHERE id = $1";

const OPERATIONS_OF: &str =
    "SELECT id, seq, kind, target, status FROM operations WHERE event_id = $1";

const INSERT_OPERATIONS: &str =
    "INSERT INTO operations (event_id, seq, kind, target, params, status, attempts,
       next_attempt_at, idempotency_key, created_at, updated_at) ";

/// A place taken already is left as it is: two replicas queueing the same plan insert it once.
const INSERT_OPERATIONS_END: &str = " ON CONFLICT (event_id, seq) DO NOTHING";

/// A failed operation that a new plan keeps: its parameters (a balance) may have changed.
const SET_PARAMS: &str = "UPDATE operations SET params = $2 WHERE id = $1";

/// An operation an earlier plan dropped that the plan in force has again: due now, fresh.
const REVIVE: &str = "UPDATE operations SET status = 'pending', attempts = 0, params = $2,
       next_attempt_at = $3, last_error = NULL, ambiguous = FALSE, lease_owner = NULL,
       lease_expires_at = NULL, batch_since = NULL, updated_at = $3
     WHERE id = $1 AND status = 'superseded'";

/// A failed operation that a new plan no longer has.
const SUPERSEDE: &str =
    "UPDATE operations SET status = 'superseded', last_error = $2, updated_at = $3 WHERE id = $1";

impl<DB> SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
    for<'t> i64: sqlx::Encode<'t, DB> + sqlx::Decode<'t, DB> + sqlx::Type<DB>,
    for<'t> i32: sqlx::Encode<'t, DB> + sqlx::Decode<'t, DB> + sqlx::Type<DB>,
    for<'t> String: sqlx::Encode<'t, DB> + sqlx::Decode<'t, DB> + sqlx::Type<DB>,
    for<'t> &'t str: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'r> &'r str: sqlx::ColumnIndex<DB::Row>,
{
    /// The event an operation belongs to.
    pub(crate) async fn event_of(
        conn: &mut DB::Connection,
        op_id: i64,
    ) -> Result<String, StoreError> {
        Ok(sqlx::query(EVENT_OF)
            .bind(op_id)
            .fetch_one(&mut *conn)
            .await?
            .try_get("event_id")?)
    }

    /// Lock the events of the operations `op_ids` and return their ids with their status.
    pub(crate) async fn lock_events_of(
        conn: &mut DB::Connection,
        op_ids: &[i64],
    ) -> Result<Vec<(String, String)>, StoreError> {
        if op_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut qb = sqlx::QueryBuilder::<DB>::new(LOCK_EVENTS_OF);
        let mut list = qb.separated(", ");
        for id in op_ids {
            list.push_bind(*id);
        }
        list.push_unseparated(")) ORDER BY id");
        qb.push(DB::statement(" LOCK_ROWS"));
        let mut out = Vec::new();
        for r in qb.build().fetch_all(&mut *conn).await? {
            out.push((r.try_get("id")?, r.try_get("status")?));
        }
        Ok(out)
    }

    /// Derive the status of `events` (ids with their status before the change) from their
    /// operations as they are now, and store the ones that moved. Ignored events keep theirs.
    pub(crate) async fn derive_status(
        conn: &mut DB::Connection,
        events: &[(String, String)],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let acted_on: Vec<&(String, String)> = events
            .iter()
            .filter(|(_, status)| status != EventStatus::Ignored.as_str())
            .collect();
        if acted_on.is_empty() {
            return Ok(());
        }
        let mut qb = sqlx::QueryBuilder::<DB>::new(STATES_OF);
        let mut list = qb.separated(", ");
        for (id, _) in &acted_on {
            list.push_bind(id.as_str());
        }
        list.push_unseparated(")");
        let mut states: HashMap<String, Vec<OperationState>> = HashMap::new();
        for r in qb.build().fetch_all(&mut *conn).await? {
            let kind: String = r.try_get("kind")?;
            let status: String = r.try_get("status")?;
            states
                .entry(r.try_get("event_id")?)
                .or_default()
                .push(OperationState {
                    kind: parse_enum(&kind, "operation kind", OperationKind::parse)?,
                    status: parse_enum(&status, "operation status", OperationStatus::parse)?,
                    attempts: r.try_get("attempts")?,
                });
        }
        for (id, before) in acted_on {
            let ops = states.get(id).map_or(&[][..], Vec::as_slice);
            let now = EventStatus::derive(ops);
            if now.as_str() != before {
                sqlx::query(SET_STATUS)
                    .bind(id.as_str())
                    .bind(now.as_str())
                    .bind(now_ms)
                    .execute(&mut *conn)
                    .await?;
            }
        }
        Ok(())
    }

    /// The event's operations, for [`reconcile`].
    async fn existing(
        conn: &mut DB::Connection,
        event_id: &str,
    ) -> Result<Vec<Existing>, StoreError> {
        let rows = sqlx::query(OPERATIONS_OF)
            .bind(event_id)
            .fetch_all(&mut *conn)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let kind: String = r.try_get("kind")?;
            let status: String = r.try_get("status")?;
            out.push(Existing {
                id: r.try_get("id")?,
                seq: r.try_get("seq")?,
                kind: parse_enum(&kind, "operation kind", OperationKind::parse)?,
                target: r.try_get("target")?,
                status: parse_enum(&status, "operation status", OperationStatus::parse)?,
            });
        }
        Ok(out)
    }

    /// Bring the operations of `event_id` in step with `wanted` (the operations of its plan in
    /// force): insert what is missing, due now; with `follow_failed` (a replay under a new plan),
    /// failed operations follow the plan too: re-parameterised when it keeps them, superseded
    /// (labelled with `rules_version`) when it does not. Operations an earlier plan dropped
    /// and this one has again are queued again. Returns what it changed.
    pub(crate) async fn queue_plan(
        conn: &mut DB::Connection,
        event_id: &str,
        wanted: &[Operation],
        follow_failed: Option<&str>,
        now_ms: i64,
    ) -> Result<Changes, StoreError> {
        let have = Self::existing(conn, event_id).await?;
        let mut changes = reconcile::reconcile(wanted, &have);
        if !changes.insert.is_empty() {
            let rows: Vec<(i64, NewOperation)> = changes
                .insert
                .iter()
                .map(|(seq, op)| (*seq, NewOperation::pending(event_id, op.clone())))
                .collect();
            let mut qb = sqlx::QueryBuilder::<DB>::new(INSERT_OPERATIONS);
            qb.push_values(&rows, |mut b, (seq, op)| {
                b.push_bind(event_id)
                    .push_bind(*seq)
                    .push_bind(op.operation.kind().as_str())
                    .push_bind(op.operation.target())
                    .push_bind(op.operation.params().to_string())
                    .push_bind(op.status.as_str())
                    .push_bind(0_i32)
                    .push_bind(now_ms)
                    .push_bind(op.idempotency_key.as_str())
                    .push_bind(now_ms)
                    .push_bind(now_ms);
            });
            qb.push(INSERT_OPERATIONS_END);
            qb.build().execute(&mut *conn).await?;
        }
        for (id, op) in &changes.revive {
            sqlx::query(REVIVE)
                .bind(*id)
                .bind(op.params().to_string())
                .bind(now_ms)
                .execute(&mut *conn)
                .await?;
        }
        let Some(rules_version) = follow_failed else {
            changes.reparameterise.clear();
            changes.supersede.clear();
            return Ok(changes);
        };
        for (id, op) in &changes.reparameterise {
            sqlx::query(SET_PARAMS)
                .bind(*id)
                .bind(op.params().to_string())
                .execute(&mut *conn)
                .await?;
        }
        for id in &changes.supersede {
            sqlx::query(SUPERSEDE)
                .bind(*id)
                .bind(format!(
                    "no longer in the plan (rule table {rules_version}): not retried"
                ))
                .bind(now_ms)
                .execute(&mut *conn)
                .await?;
        }
        Ok(changes)
    }
}
