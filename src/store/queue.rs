//! The delivery queue: operations claimed with a lease, moved through their states in batches,
//! each batch committed in one transaction together with what it implies for its events (their
//! status, and the plan's operations once the user is known).

use async_trait::async_trait;
use sqlx::{Executor, Row};

use super::error::StoreError;
use super::model::{ClaimedOp, QueueStat, Transition};
use super::sql::{Dialect, SqlStore, parse_enum, parse_json};
use super::text::sanitise;
use crate::domain::{FieldWarning, Operation, OperationKind, OperationStatus, Plan};

/// The operation queue the delivery engine works through.
#[async_trait]
pub trait OperationQueue: Send + Sync {
    /// Lease up to `limit` due operations of one kind to `owner` (unique per claim) for
    /// `lease_ms`. Expired leases (a replica that died) are claimable again.
    /// With `target`, only operations with that target (one source's fetches).
    async fn claim(
        &self,
        kind: OperationKind,
        target: Option<&str>,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<ClaimedOp>, StoreError>;

    /// Apply state changes to operations `owner` holds, in one transaction, and derive the
    /// touched events' status again. Changes to operations whose lease `owner` no longer
    /// holds are skipped; returns how many were applied.
    async fn apply(
        &self,
        owner: &str,
        transitions: &[Transition],
        now_ms: i64,
    ) -> Result<u64, StoreError>;

    /// Extend the lease of every operation `owner` holds to `until_ms`; returns how many
    /// it still holds.
    async fn renew(&self, owner: &str, until_ms: i64) -> Result<u64, StoreError>;

    /// Queue depth by kind and status.
    async fn queue_stats(&self) -> Result<Vec<QueueStat>, StoreError>;

    /// When the next operation falls due.
    async fn next_due(&self) -> Result<Option<i64>, StoreError>;
}

/// Due operations, and with them those waiting in a batch window (`batch_since` set): the
/// window of a batch is that of its oldest member, so whoever claims newly due operations
/// also sees the ones already waiting, and they go out together when it closes.
const CLAIM: &str = "UPDATE operations SET lease_owner = $1, lease_expires_at = $2
     WHERE id IN (
       SELECT id FROM operations
        WHERE kind = $3 AND ($6 = '' OR target = $6) AND status IN ('pending', 'waiting')
          AND (next_attempt_at <= $4 OR batch_since IS NOT NULL)
          AND (lease_expires_at IS NULL OR lease_expires_at < $4)
        ORDER BY next_attempt_at, id LIMIT $5 FOR_UPDATE)
     RETURNING id";

/// What was claimed, read back by id (the primary key) rather than by owner.
const CLAIMED: &str = "SELECT o.id, o.event_id, o.kind, o.target, o.params, o.attempts,
            o.ambiguous, o.created_at, o.waiting_since,
            COALESCE(o.batch_since, o.next_attempt_at) AS due_since,
            o.idempotency_key, e.hire, e.plan, e.connecteam_user_id,
            EXISTS (SELECT 1 FROM events e2 JOIN operations o2 ON o2.event_id = e2.id
                     WHERE e2.connecteam_user_id = e.connecteam_user_id AND e2.id <> e.id
                       AND o2.kind = o.kind AND o2.target = o.target AND o2.status = 'done')
              AS done_for_user
       FROM operations o JOIN events e ON e.id = o.event_id
      WHERE o.id IN (";

const DONE: &str = "UPDATE operations SET status = 'done', attempts = attempts + 1,
       ambiguous = $2, batch_since = NULL, waiting_since = NULL, lease_owner = NULL, lease_expires_at = NULL, last_error = NULL, updated_at = $3
     WHERE id = $1 AND lease_owner = $4";

const SET_USER: &str =
    "UPDATE events SET connecteam_user_id = $2, updated_at = $3, field_warnings = $4
      WHERE id = $1 RETURNING plan";

const FIELD_WARNINGS: &str = "SELECT field_warnings FROM events WHERE id = $1";

const SET_FIELD_WARNINGS: &str = "UPDATE events SET field_warnings = $2 WHERE id = $1";

const SET_HIRE: &str =
    "UPDATE events SET hire = $2, plan = $3, rules_version = $4, updated_at = $5 WHERE id = $1";

const RETRY: &str =
    "UPDATE operations SET status = 'pending', attempts = attempts + $2, next_attempt_at = $3,
       last_error = $4, ambiguous = $5, batch_since = NULL, lease_owner = NULL, lease_expires_at = NULL, updated_at = $6
     WHERE id = $1 AND lease_owner = $7";

const WAIT: &str =
    "UPDATE operations SET status = 'waiting', next_attempt_at = $2, last_error = $3,
       waiting_since = COALESCE(waiting_since, $4),
       batch_since = NULL, lease_owner = NULL, lease_expires_at = NULL, updated_at = $4
     WHERE id = $1 AND lease_owner = $5";

const DEAD: &str =
    "UPDATE operations SET status = 'dead', attempts = attempts + 1, last_error = $2,
       waiting_since = NULL,
       batch_since = NULL, lease_owner = NULL, lease_expires_at = NULL, updated_at = $3
     WHERE id = $1 AND lease_owner = $4";

/// The window keeps its start: `batch_since` is set from the due time the first deferral saw.
const DEFER: &str = "UPDATE operations SET next_attempt_at = $2,
       batch_since = COALESCE(batch_since, next_attempt_at),
       lease_owner = NULL, lease_expires_at = NULL WHERE id = $1 AND lease_owner = $3";

const MARK_AMBIGUOUS: &str =
    "UPDATE operations SET ambiguous = $2 WHERE id = $1 AND lease_owner = $3";

/// Extend a round's lease before each request it sends. The count says how many of its
/// operations the round still holds: fewer than it thinks means another replica took some
/// over after the lease ran out, and the round must stop.
const RENEW: &str = "UPDATE operations SET lease_expires_at = $2 WHERE lease_owner = $1";

const STATS: &str = "SELECT kind, status, COUNT(*) AS n, MIN(next_attempt_at) AS oldest
       FROM operations WHERE status IN ('pending', 'blocked', 'waiting', 'dead')
      GROUP BY kind, status";

/// When the next operation can be claimed: one held by a lease (another replica's round) only
/// once its lease runs out.
const NEXT_DUE: &str = "SELECT MIN(CASE WHEN lease_expires_at > next_attempt_at
                    THEN lease_expires_at ELSE next_attempt_at END) AS due
       FROM operations WHERE status IN ('pending', 'waiting')";

#[async_trait]
impl<DB> OperationQueue for SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'t> i64: sqlx::Encode<'t, DB> + sqlx::Decode<'t, DB> + sqlx::Type<DB>,
    for<'t> i32: sqlx::Encode<'t, DB> + sqlx::Decode<'t, DB> + sqlx::Type<DB>,
    for<'t> bool: sqlx::Encode<'t, DB> + sqlx::Decode<'t, DB> + sqlx::Type<DB>,
    for<'t> &'t str: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> String: sqlx::Encode<'t, DB> + sqlx::Decode<'t, DB> + sqlx::Type<DB>,
    for<'t> Option<String>: sqlx::Encode<'t, DB>,
    for<'r> &'r str: sqlx::ColumnIndex<DB::Row>,
    DB::Arguments: sqlx::IntoArguments<DB>,
{
    async fn claim(
        &self,
        kind: OperationKind,
        target: Option<&str>,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<ClaimedOp>, StoreError> {
        let ids: Vec<i64> = sqlx::query(DB::statement(CLAIM))
            .bind(owner)
            .bind(now_ms + lease_ms)
            .bind(kind.as_str())
            .bind(now_ms)
            .bind(i64::from(limit))
            .bind(target.unwrap_or(""))
            .fetch_all(&self.write)
            .await?
            .iter()
            .map(|r| r.try_get::<i64, _>("id"))
            .collect::<Result<_, _>>()?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut qb = sqlx::QueryBuilder::<DB>::new(CLAIMED);
        let mut list = qb.separated(", ");
        for id in &ids {
            list.push_bind(*id);
        }
        list.push_unseparated(") ORDER BY o.next_attempt_at, o.id");
        let rows = qb.build().fetch_all(&self.write).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let kind: String = r.try_get("kind")?;
            let params: String = r.try_get("params")?;
            let hire: String = r.try_get("hire")?;
            let plan: Option<String> = r.try_get("plan")?;
            out.push(ClaimedOp {
                id: r.try_get("id")?,
                event_id: r.try_get("event_id")?,
                kind: parse_enum(&kind, "operation kind", OperationKind::parse)?,
                target: r.try_get("target")?,
                params: parse_json(&params, "operation params")?,
                attempts: r.try_get("attempts")?,
                ambiguous: r.try_get("ambiguous")?,
                created_at_ms: r.try_get("created_at")?,
                waiting_since_ms: r.try_get("waiting_since")?,
                due_at_ms: r.try_get("due_since")?,
                idempotency_key: r.try_get("idempotency_key")?,
                hire: parse_json(&hire, "hire")?,
                plan: plan.map(|p| parse_json(&p, "plan")).transpose()?,
                user_id: r.try_get("connecteam_user_id")?,
                done_for_user: r.try_get("done_for_user")?,
            });
        }
        Ok(out)
    }

    async fn apply(
        &self,
        owner: &str,
        transitions: &[Transition],
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        if transitions.is_empty() {
            return Ok(0);
        }
        let mut tx = self.write.begin().await?;
        let events =
            Self::lock_events_of(&mut *tx, &Transition::status_movers(transitions)).await?;
        // Every change is guarded by the lease: a round whose lease ran out (and whose
        // operations another replica took over) changes nothing.
        let mut applied = 0;
        for t in transitions {
            let q = match t {
                Transition::Done { op_id, .. }
                | Transition::UserResolved { op_id, .. }
                | Transition::Fetched { op_id, .. } => sqlx::query(DONE)
                    .bind(*op_id)
                    .bind(false)
                    .bind(now_ms)
                    .bind(owner),
                Transition::Retry {
                    op_id,
                    at_ms,
                    error,
                    count_attempt,
                    ambiguous,
                } => sqlx::query(RETRY)
                    .bind(*op_id)
                    .bind(i32::from(*count_attempt))
                    .bind(*at_ms)
                    .bind(sanitise(error))
                    .bind(*ambiguous)
                    .bind(now_ms)
                    .bind(owner),
                Transition::Wait { op_id, at_ms, note } => sqlx::query(WAIT)
                    .bind(*op_id)
                    .bind(*at_ms)
                    .bind(sanitise(note))
                    .bind(now_ms)
                    .bind(owner),
                Transition::Dead { op_id, error } => sqlx::query(DEAD)
                    .bind(*op_id)
                    .bind(sanitise(error))
                    .bind(now_ms)
                    .bind(owner),
                Transition::Defer { op_id, at_ms } => {
                    sqlx::query(DEFER).bind(*op_id).bind(*at_ms).bind(owner)
                }
                Transition::Ambiguous { op_id } => sqlx::query(MARK_AMBIGUOUS)
                    .bind(*op_id)
                    .bind(true)
                    .bind(owner),
            };
            let changed = DB::rows_affected(&q.execute(&mut *tx).await?);
            applied += changed;
            if changed == 0 {
                continue;
            }
            if let Transition::Fetched {
                op_id,
                hire,
                plan,
                rules_version,
            } = t
            {
                let event_id = Self::event_of(&mut *tx, *op_id).await?;
                sqlx::query(SET_HIRE)
                    .bind(event_id.as_str())
                    .bind(hire.as_str())
                    .bind(plan.as_str())
                    .bind(rules_version.as_str())
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
                Self::queue_plan(&mut *tx, &event_id, &[Operation::ResolveUser], None, now_ms)
                    .await?;
            }
            if let Transition::Done { op_id, warnings } = t
                && !warnings.is_empty()
            {
                let event_id = Self::event_of(&mut *tx, *op_id).await?;
                let had: Option<String> = sqlx::query(FIELD_WARNINGS)
                    .bind(event_id.as_str())
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get("field_warnings")?;
                let mut all: Vec<FieldWarning> = had
                    .map(|w| serde_json::from_str(&w))
                    .transpose()
                    .map_err(|e| StoreError::Corrupt(format!("field warnings: {e}")))?
                    .unwrap_or_default();
                all.extend(
                    warnings
                        .iter()
                        .filter(|w| !all.contains(w))
                        .cloned()
                        .collect::<Vec<_>>(),
                );
                let text = serde_json::to_string(&all)
                    .map_err(|e| StoreError::Corrupt(format!("field warnings: {e}")))?;
                sqlx::query(SET_FIELD_WARNINGS)
                    .bind(event_id.as_str())
                    .bind(text)
                    .execute(&mut *tx)
                    .await?;
            }
            if let Transition::UserResolved {
                op_id,
                user_id,
                update,
                warnings,
            } = t
            {
                let event_id = Self::event_of(&mut *tx, *op_id).await?;
                let warnings = if warnings.is_empty() {
                    None
                } else {
                    Some(
                        serde_json::to_string(warnings)
                            .map_err(|e| StoreError::Corrupt(format!("field warnings: {e}")))?,
                    )
                };
                let plan: Option<String> = sqlx::query(SET_USER)
                    .bind(event_id.as_str())
                    .bind(*user_id)
                    .bind(now_ms)
                    .bind(warnings)
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get("plan")?;
                // The plan in force now, not the one the round claimed: a replay may have
                // given the event a new one while its user was being resolved.
                let mut wanted: Vec<Operation> = update.iter().cloned().collect();
                if let Some(text) = plan {
                    let plan: Plan = serde_json::from_str(&text)
                        .map_err(|e| StoreError::Corrupt(format!("plan of {event_id}: {e}")))?;
                    wanted.extend(plan.operations());
                }
                Self::queue_plan(&mut *tx, &event_id, &wanted, None, now_ms).await?;
            }
        }
        Self::derive_status(&mut *tx, &events, now_ms).await?;
        tx.commit().await?;
        Ok(applied)
    }

    async fn renew(&self, owner: &str, until_ms: i64) -> Result<u64, StoreError> {
        let result = sqlx::query(RENEW)
            .bind(owner)
            .bind(until_ms)
            .execute(&self.write)
            .await?;
        Ok(DB::rows_affected(&result))
    }

    async fn queue_stats(&self) -> Result<Vec<QueueStat>, StoreError> {
        let rows = sqlx::query(STATS).fetch_all(&self.read).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let kind: String = r.try_get("kind")?;
            let status: String = r.try_get("status")?;
            out.push(QueueStat {
                kind: parse_enum(&kind, "operation kind", OperationKind::parse)?,
                status: parse_enum(&status, "operation status", OperationStatus::parse)?,
                count: r.try_get("n")?,
                oldest_due_ms: r.try_get("oldest")?,
            });
        }
        Ok(out)
    }

    async fn next_due(&self) -> Result<Option<i64>, StoreError> {
        let r = sqlx::query(NEXT_DUE).fetch_one(&self.read).await?;
        Ok(r.try_get("due")?)
    }
}
