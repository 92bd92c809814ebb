//! The delivery queue: operations claimed with a lease, moved through their states in batches,
//! and the event status derived from them. The SQL is shared by both backends; it is written
//! with `$N` placeholders and adapted for SQLite (`?N`) once per statement.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use serde::Serialize;

use super::{NewOperation, OperationKind, OperationStatus};

/// An operation handed to the delivery engine, with what it needs from its event.
#[derive(Debug, Clone)]
pub struct ClaimedOp {
    pub id: i64,
    pub event_id: String,
    pub kind: OperationKind,
    pub target: String,
    pub params: serde_json::Value,
    pub status: OperationStatus,
    pub attempts: i32,
    /// A write's outcome was not seen: read back before repeating it.
    pub ambiguous: bool,
    pub created_at_ms: i64,
    /// When it first fell due (for batching windows): deferring an operation while its batch
    /// fills does not move this.
    pub due_at_ms: i64,
    /// The event's canonical hire.
    pub hire: serde_json::Value,
    /// The plan the event was given at intake (its pack and policy operations are inserted
    /// from it once the user is known).
    pub plan: Option<serde_json::Value>,
    /// The event's Connecteam user, once resolved.
    pub user_id: Option<i64>,
}

/// A state change of one operation. A batch of them commits in one transaction, and the
/// status of every event they touch is derived again in that transaction.
#[derive(Debug, Clone)]
pub enum Transition {
    /// Carried out.
    Done { op_id: i64 },
    /// The event's user is known: the `resolve_user` operation is done, and the plan's
    /// operations are inserted, due now (once: a second resolution of the same event, by a
    /// replica whose lease had run out, inserts nothing).
    UserResolved {
        op_id: i64,
        event_id: String,
        user_id: i64,
        operations: Vec<NewOperation>,
    },
    /// Try again at `at_ms`. A rate-limited call does not count as an attempt.
    Retry {
        op_id: i64,
        at_ms: i64,
        error: String,
        count_attempt: bool,
        ambiguous: bool,
    },
    /// No Connecteam user yet: look again at `at_ms`.
    Wait {
        op_id: i64,
        at_ms: i64,
        note: String,
    },
    /// Permanently failed (or out of attempts); replay re-queues it.
    Dead { op_id: i64, error: String },
    /// Not handled this round (a batch still filling): due again at `at_ms`, nothing else changes.
    Defer { op_id: i64, at_ms: i64 },
    /// About to send a write: if this process dies before it learns the outcome, whoever
    /// takes the operation over reads back first.
    Ambiguous { op_id: i64 },
}

impl Transition {
    pub fn op_id(&self) -> i64 {
        match self {
            Transition::Done { op_id }
            | Transition::UserResolved { op_id, .. }
            | Transition::Retry { op_id, .. }
            | Transition::Wait { op_id, .. }
            | Transition::Dead { op_id, .. }
            | Transition::Defer { op_id, .. }
            | Transition::Ambiguous { op_id } => *op_id,
        }
    }
}

/// Queue depth for metrics and operators.
#[derive(Debug, Clone, Serialize)]
pub struct QueueStat {
    pub kind: OperationKind,
    pub status: OperationStatus,
    pub count: i64,
    /// The earliest `next_attempt_at` among them.
    pub oldest_due_ms: Option<i64>,
}

/// Due operations, and with them those waiting in a batch window (`batch_since` set): the
/// window of a batch is that of its oldest member, so whoever claims newly due operations
/// also sees the ones already waiting, and they go out together when it closes.
pub(crate) const CLAIM: &str = "UPDATE operations SET lease_owner = $1, lease_expires_at = $2
     WHERE id IN (
       SELECT id FROM operations
        WHERE kind = $3 AND status IN ('pending', 'waiting')
          AND (next_attempt_at <= $4 OR batch_since IS NOT NULL)
          AND (lease_expires_at IS NULL OR lease_expires_at < $4)
        ORDER BY next_attempt_at, id LIMIT $5 FOR_UPDATE)
     RETURNING id";

pub(crate) const CLAIMED: &str =
    "SELECT o.id, o.event_id, o.kind, o.target, o.params, o.status, o.attempts,
            o.ambiguous, o.created_at, COALESCE(o.batch_since, o.next_attempt_at) AS due_since,
            e.hire, e.plan, e.connecteam_user_id
       FROM operations o JOIN events e ON e.id = o.event_id
      WHERE o.id IN (";

pub(crate) const DONE: &str = "UPDATE operations SET status = 'done', attempts = attempts + 1,
       ambiguous = $2, batch_since = NULL, lease_owner = NULL, lease_expires_at = NULL, last_error = NULL, updated_at = $3
     WHERE id = $1 AND lease_owner = $4";

pub(crate) const SET_USER: &str =
    "UPDATE events SET connecteam_user_id = $2, updated_at = $3 WHERE id = $1";

/// The plan's operations, numbered after `resolve_user` (seq 0); the unique `(event_id, seq)`
/// makes a repeated resolution insert nothing.
pub(crate) const INSERT_PLANNED: &str =
    "INSERT INTO operations (event_id, seq, kind, target, params, status, attempts,
       next_attempt_at, idempotency_key, created_at, updated_at) ";
pub(crate) const INSERT_PLANNED_END: &str = " ON CONFLICT (event_id, seq) DO NOTHING";

pub(crate) const RETRY: &str =
    "UPDATE operations SET status = 'pending', attempts = attempts + $2, next_attempt_at = $3,
       last_error = $4, ambiguous = $5, batch_since = NULL, lease_owner = NULL, lease_expires_at = NULL, updated_at = $6
     WHERE id = $1 AND lease_owner = $7";

pub(crate) const WAIT: &str =
    "UPDATE operations SET status = 'waiting', next_attempt_at = $2, last_error = $3,
       batch_since = NULL, lease_owner = NULL, lease_expires_at = NULL, updated_at = $4
     WHERE id = $1 AND lease_owner = $5";

pub(crate) const DEAD: &str =
    "UPDATE operations SET status = 'dead', attempts = attempts + 1, last_error = $2,
       batch_since = NULL, lease_owner = NULL, lease_expires_at = NULL, updated_at = $3
     WHERE id = $1 AND lease_owner = $4";

/// The window keeps its start: `batch_since` is set from the due time the first deferral saw.
pub(crate) const DEFER: &str = "UPDATE operations SET next_attempt_at = $2,
       batch_since = COALESCE(batch_since, next_attempt_at),
       lease_owner = NULL, lease_expires_at = NULL WHERE id = $1 AND lease_owner = $3";

pub(crate) const MARK_AMBIGUOUS: &str =
    "UPDATE operations SET ambiguous = $2 WHERE id = $1 AND lease_owner = $3";

/// Extend a round's lease before each request it sends. The count says how many of its
/// operations the round still holds: fewer than it thinks means another replica took some
/// over after the lease ran out, and the round must stop.
pub(crate) const RENEW: &str = "UPDATE operations SET lease_expires_at = $2 WHERE lease_owner = $1";

/// The events whose status a batch of transitions changes, locked (in id order, so two
/// replicas never deadlock) before any operation is touched. Without the lock two replicas
/// finishing the last two operations of one event each derive its status from a snapshot
/// without the other's change, and the event stays `delivering` for ever (write skew).
pub(crate) const LOCK_EVENTS_OF: &str = "SELECT id FROM events WHERE id IN (
       SELECT event_id FROM operations WHERE id IN (";

/// The event status, derived from its operations (CONTRACT.md statuses).
pub(crate) const DERIVE_STATUS: &str = "UPDATE events SET status = CASE
       WHEN EXISTS (SELECT 1 FROM operations o WHERE o.event_id = events.id AND o.status = 'dead') THEN 'failed'
       WHEN NOT EXISTS (SELECT 1 FROM operations o WHERE o.event_id = events.id AND o.status NOT IN ('done', 'superseded')) THEN 'done'
       WHEN EXISTS (SELECT 1 FROM operations o WHERE o.event_id = events.id AND o.kind = 'resolve_user' AND o.status = 'waiting') THEN 'waiting_for_user'
       WHEN EXISTS (SELECT 1 FROM operations o WHERE o.event_id = events.id AND (o.attempts > 0 OR o.status = 'done')) THEN 'delivering'
       ELSE 'accepted' END,
       updated_at = $2
     WHERE id = $1 AND status <> 'ignored'";

/// Dead operations due again now, with fresh attempts; `created_at` restarts the clock of
/// `waiting_for_user_timeout_s`, or a replayed wait would time out at its first look.
pub(crate) const REPLAY: &str =
    "UPDATE operations SET status = 'pending', attempts = 0, next_attempt_at = $2,
       created_at = $2, lease_owner = NULL, lease_expires_at = NULL, updated_at = $2
     WHERE event_id = $1 AND status = 'dead'";

/// Replay locks its event like `apply` does, so their status derivations cannot interleave.
pub(crate) const EVENT_FOR_REPLAY: &str =
    "SELECT plan, connecteam_user_id FROM events WHERE id = $1 LOCK_ROWS";

pub(crate) const SET_PLAN: &str =
    "UPDATE events SET plan = $2, rules_version = $3, updated_at = $4 WHERE id = $1";

pub(crate) const OPERATIONS_OF: &str =
    "SELECT id, seq, kind, target, status FROM operations WHERE event_id = $1";

/// A failed operation that the new plan keeps: its parameters (a balance) may have changed.
pub(crate) const SET_PARAMS: &str = "UPDATE operations SET params = $2 WHERE id = $1";

/// A failed operation that the new plan no longer has.
pub(crate) const SUPERSEDE: &str =
    "UPDATE operations SET status = 'superseded', last_error = $2, updated_at = $3 WHERE id = $1";

pub(crate) const STATS: &str = "SELECT kind, status, COUNT(*) AS n, MIN(next_attempt_at) AS oldest
       FROM operations WHERE status IN ('pending', 'blocked', 'waiting', 'dead')
      GROUP BY kind, status";

/// When the next operation can be claimed: one held by a lease (another replica's round) only
/// once its lease runs out.
pub(crate) const NEXT_DUE: &str = "SELECT MIN(CASE WHEN lease_expires_at > next_attempt_at
                    THEN lease_expires_at ELSE next_attempt_at END) AS due
       FROM operations WHERE status IN ('pending', 'waiting')";

type Rewrites = OnceLock<Mutex<HashMap<usize, &'static str>>>;

/// `rewrite(sql)`, computed once per statement and kept for the life of the process.
fn rewritten(
    sql: &'static str,
    cache: &'static Rewrites,
    rewrite: fn(&str) -> String,
) -> &'static str {
    let mut map = cache
        .get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    map.entry(sql.as_ptr() as usize)
        .or_insert_with(|| Box::leak(rewrite(sql).into_boxed_str()))
}

/// The statement for SQLite: `$N` becomes `?N`, and row locking (`FOR_UPDATE` skips locked
/// rows, `LOCK_ROWS` waits for them; SQLite needs neither: it has one writer) is dropped.
pub(crate) fn for_sqlite(sql: &'static str) -> &'static str {
    static CACHE: Rewrites = OnceLock::new();
    rewritten(sql, &CACHE, |sql| {
        sql.replace('$', "?")
            .replace(" FOR_UPDATE", "")
            .replace(" LOCK_ROWS", "")
    })
}

/// The statement for PostgreSQL: claims skip rows another replica holds.
pub(crate) fn for_postgres(sql: &'static str) -> &'static str {
    static CACHE: Rewrites = OnceLock::new();
    rewritten(sql, &CACHE, |sql| {
        sql.replace(" FOR_UPDATE", " FOR UPDATE SKIP LOCKED")
            .replace(" LOCK_ROWS", " FOR UPDATE")
    })
}

pub(crate) const TAKE_SLOT_SQLITE: &str =
    "UPDATE rate_budget SET next_slot_us = MAX(next_slot_us, paused_until_us, ?1) + ?2
     WHERE id = 1 RETURNING next_slot_us - ?2 AS slot";
pub(crate) const TAKE_SLOT_POSTGRES: &str =
    "UPDATE rate_budget SET next_slot_us = GREATEST(next_slot_us, paused_until_us, $1) + $2
     WHERE id = 1 RETURNING next_slot_us - $2 AS slot";
pub(crate) const PAUSE_SQLITE: &str =
    "UPDATE rate_budget SET paused_until_us = MAX(paused_until_us, ?1) WHERE id = 1";
pub(crate) const PAUSE_POSTGRES: &str =
    "UPDATE rate_budget SET paused_until_us = GREATEST(paused_until_us, $1) WHERE id = 1";

/// The queue methods, written once for both backends. `$pool` is the pool writes go
/// through, `$read` the pool reads go through, `$sql` adapts a statement to the backend.
macro_rules! queue_methods {
    ($db:ty, $sql:path, $take_slot:expr, $pause:expr) => {
        pub(crate) async fn q_claim(
            &self,
            kind: $crate::store::OperationKind,
            owner: &str,
            now_ms: i64,
            lease_ms: i64,
            limit: u32,
        ) -> Result<Vec<$crate::store::queue::ClaimedOp>, $crate::store::StoreError> {
            use sqlx::Row;
            use $crate::store::queue::*;
            let ids: Vec<i64> = sqlx::query($sql(CLAIM))
                .bind(owner)
                .bind(now_ms + lease_ms)
                .bind(kind.as_str())
                .bind(now_ms)
                .bind(i64::from(limit))
                .fetch_all(self.write_pool())
                .await?
                .iter()
                .map(|r| r.try_get::<i64, _>("id"))
                .collect::<Result<_, _>>()?;
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            // Read back by id (the primary key) rather than by owner, which has no index.
            let mut qb = sqlx::QueryBuilder::<$db>::new(CLAIMED);
            let mut list = qb.separated(", ");
            for id in &ids {
                list.push_bind(*id);
            }
            list.push_unseparated(") ORDER BY o.next_attempt_at, o.id");
            let rows = qb.build().fetch_all(self.write_pool()).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                let (kind, status) =
                    $crate::store::parse_op(r.try_get("kind")?, r.try_get("status")?)?;
                out.push(ClaimedOp {
                    id: r.try_get("id")?,
                    event_id: r.try_get("event_id")?,
                    kind,
                    target: r.try_get("target")?,
                    params: $crate::store::parse_json(r.try_get("params")?, "operation params")?,
                    status,
                    attempts: r.try_get("attempts")?,
                    ambiguous: r.try_get("ambiguous")?,
                    created_at_ms: r.try_get("created_at")?,
                    due_at_ms: r.try_get("due_since")?,
                    hire: $crate::store::parse_json(r.try_get("hire")?, "hire")?,
                    plan: r
                        .try_get::<Option<String>, _>("plan")?
                        .map(|p| $crate::store::parse_json(&p, "plan"))
                        .transpose()?,
                    user_id: r.try_get("connecteam_user_id")?,
                });
            }
            Ok(out)
        }

        pub(crate) async fn q_apply(
            &self,
            owner: &str,
            transitions: &[$crate::store::queue::Transition],
            now_ms: i64,
        ) -> Result<u64, $crate::store::StoreError> {
            use sqlx::Row;
            use $crate::store::queue::*;
            if transitions.is_empty() {
                return Ok(0);
            }
            let mut tx = self.write_pool().begin().await?;
            let derives: Vec<i64> = transitions
                .iter()
                .filter(|t| !matches!(t, Transition::Defer { .. } | Transition::Ambiguous { .. }))
                .map(Transition::op_id)
                .collect();
            let mut events: Vec<String> = Vec::new();
            if !derives.is_empty() {
                let mut qb = sqlx::QueryBuilder::<$db>::new(LOCK_EVENTS_OF);
                let mut list = qb.separated(", ");
                for id in &derives {
                    list.push_bind(*id);
                }
                list.push_unseparated(")) ORDER BY id");
                qb.push($sql(" LOCK_ROWS"));
                for r in qb.build().fetch_all(&mut *tx).await? {
                    events.push(r.try_get("id")?);
                }
            }
            // Every change is guarded by the lease: a round whose lease ran out (and whose
            // operations another replica took over) changes nothing.
            let mut applied = 0;
            for t in transitions {
                let q = match t {
                    Transition::Done { op_id } => sqlx::query($sql(DONE))
                        .bind(op_id)
                        .bind(false)
                        .bind(now_ms)
                        .bind(owner),
                    Transition::UserResolved { op_id, .. } => sqlx::query($sql(DONE))
                        .bind(op_id)
                        .bind(false)
                        .bind(now_ms)
                        .bind(owner),
                    Transition::Retry {
                        op_id,
                        at_ms,
                        error,
                        count_attempt,
                        ambiguous,
                    } => sqlx::query($sql(RETRY))
                        .bind(op_id)
                        .bind(i32::from(*count_attempt))
                        .bind(at_ms)
                        .bind(error)
                        .bind(ambiguous)
                        .bind(now_ms)
                        .bind(owner),
                    Transition::Wait { op_id, at_ms, note } => sqlx::query($sql(WAIT))
                        .bind(op_id)
                        .bind(at_ms)
                        .bind(note)
                        .bind(now_ms)
                        .bind(owner),
                    Transition::Dead { op_id, error } => sqlx::query($sql(DEAD))
                        .bind(op_id)
                        .bind(error)
                        .bind(now_ms)
                        .bind(owner),
                    Transition::Defer { op_id, at_ms } => {
                        sqlx::query($sql(DEFER)).bind(op_id).bind(at_ms).bind(owner)
                    }
                    Transition::Ambiguous { op_id } => sqlx::query($sql(MARK_AMBIGUOUS))
                        .bind(op_id)
                        .bind(true)
                        .bind(owner),
                };
                let changed = q.execute(&mut *tx).await?.rows_affected();
                applied += changed;
                if changed == 0 {
                    continue;
                }
                if let Transition::UserResolved {
                    event_id,
                    user_id,
                    operations,
                    ..
                } = t
                {
                    sqlx::query($sql(SET_USER))
                        .bind(event_id)
                        .bind(user_id)
                        .bind(now_ms)
                        .execute(&mut *tx)
                        .await?;
                    let numbered: Vec<(i64, &$crate::store::NewOperation)> = operations
                        .iter()
                        .enumerate()
                        .map(|(i, op)| (i64::try_from(i).unwrap_or(i64::MAX - 1) + 1, op))
                        .collect();
                    Self::q_insert_planned(&mut tx, event_id, &numbered, now_ms).await?;
                }
            }
            for e in &events {
                sqlx::query($sql(DERIVE_STATUS))
                    .bind(e)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(applied)
        }

        /// Insert planned operations of `event_id` at the given places, due now; a place
        /// already taken is left as it is.
        async fn q_insert_planned(
            tx: &mut sqlx::Transaction<'_, $db>,
            event_id: &str,
            operations: &[(i64, &$crate::store::NewOperation)],
            now_ms: i64,
        ) -> Result<(), $crate::store::StoreError> {
            if operations.is_empty() {
                return Ok(());
            }
            let mut qb = sqlx::QueryBuilder::<$db>::new($crate::store::queue::INSERT_PLANNED);
            qb.push_values(operations, |mut b, (seq, op)| {
                b.push_bind(event_id)
                    .push_bind(*seq)
                    .push_bind(op.kind.as_str())
                    .push_bind(op.target.as_str())
                    .push_bind(op.params.to_string())
                    .push_bind(op.status.as_str())
                    .push_bind(0_i32)
                    .push_bind(now_ms)
                    .push_bind(op.idempotency_key.as_str())
                    .push_bind(now_ms)
                    .push_bind(now_ms);
            });
            qb.push($crate::store::queue::INSERT_PLANNED_END);
            qb.build().execute(&mut **tx).await?;
            Ok(())
        }

        pub(crate) async fn q_renew(
            &self,
            owner: &str,
            until_ms: i64,
        ) -> Result<u64, $crate::store::StoreError> {
            Ok(sqlx::query($sql($crate::store::queue::RENEW))
                .bind(owner)
                .bind(until_ms)
                .execute(self.write_pool())
                .await?
                .rows_affected())
        }

        pub(crate) async fn q_replay(
            &self,
            event_id: &str,
            replan: Option<&$crate::store::Replan>,
            now_ms: i64,
        ) -> Result<Option<$crate::store::Replayed>, $crate::store::StoreError> {
            use sqlx::Row;
            use $crate::store::queue::*;
            let mut tx = self.write_pool().begin().await?;
            let Some(ev) = sqlx::query($sql(EVENT_FOR_REPLAY))
                .bind(event_id)
                .fetch_optional(&mut *tx)
                .await?
            else {
                return Ok(None);
            };
            let mut out = $crate::store::Replayed::default();
            let stored_plan: Option<String> = ev.try_get("plan")?;
            let user: Option<i64> = ev.try_get("connecteam_user_id")?;
            let changed = replan.filter(|r| {
                stored_plan.as_deref().map($crate::store::parse_plan) != Some(Some(r.plan.clone()))
            });
            if let Some(r) = changed {
                out.plan_changed = true;
                sqlx::query($sql(SET_PLAN))
                    .bind(event_id)
                    .bind(r.plan.to_string())
                    .bind(&r.rules_version)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
                // Before the user is known the plan is all there is: its operations are
                // inserted from it at resolution. After, the stored operations follow it.
                if user.is_some() {
                    let existing = sqlx::query($sql(OPERATIONS_OF))
                        .bind(event_id)
                        .fetch_all(&mut *tx)
                        .await?;
                    let mut next_seq = 0_i64;
                    let mut have: std::collections::HashMap<(String, String), (i64, String)> =
                        std::collections::HashMap::new();
                    for row in &existing {
                        next_seq = next_seq.max(row.try_get::<i64, _>("seq")? + 1);
                        have.insert(
                            (row.try_get("kind")?, row.try_get("target")?),
                            (row.try_get("id")?, row.try_get("status")?),
                        );
                    }
                    let mut wanted = std::collections::HashSet::new();
                    for op in &r.operations {
                        let key = (op.kind.as_str().to_owned(), op.target.clone());
                        match have.get(&key) {
                            None => {
                                Self::q_insert_planned(
                                    &mut tx,
                                    event_id,
                                    &[(next_seq, op)],
                                    now_ms,
                                )
                                .await?;
                                next_seq += 1;
                                out.added += 1;
                            }
                            Some((id, status)) if status == "dead" => {
                                sqlx::query($sql(SET_PARAMS))
                                    .bind(id)
                                    .bind(op.params.to_string())
                                    .execute(&mut *tx)
                                    .await?;
                            }
                            Some(_) => {}
                        }
                        wanted.insert(key);
                    }
                    for ((kind, target), (id, status)) in &have {
                        if status == "dead"
                            && kind != $crate::store::OperationKind::ResolveUser.as_str()
                            && !wanted.contains(&(kind.clone(), target.clone()))
                        {
                            sqlx::query($sql(SUPERSEDE))
                                .bind(id)
                                .bind(format!(
                                    "no longer in the plan (rule table {}): not retried",
                                    r.rules_version
                                ))
                                .bind(now_ms)
                                .execute(&mut *tx)
                                .await?;
                            out.superseded += 1;
                        }
                    }
                }
            }
            out.requeued = sqlx::query($sql(REPLAY))
                .bind(event_id)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query($sql(DERIVE_STATUS))
                .bind(event_id)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(Some(out))
        }

        pub(crate) async fn q_stats(
            &self,
        ) -> Result<Vec<$crate::store::queue::QueueStat>, $crate::store::StoreError> {
            use sqlx::Row;
            use $crate::store::queue::*;
            let rows = sqlx::query($sql(STATS)).fetch_all(self.read_pool()).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                let (kind, status) =
                    $crate::store::parse_op(r.try_get("kind")?, r.try_get("status")?)?;
                out.push(QueueStat {
                    kind,
                    status,
                    count: r.try_get("n")?,
                    oldest_due_ms: r.try_get("oldest")?,
                });
            }
            Ok(out)
        }

        pub(crate) async fn q_next_due(&self) -> Result<Option<i64>, $crate::store::StoreError> {
            use sqlx::Row;
            use $crate::store::queue::*;
            let r = sqlx::query($sql(NEXT_DUE))
                .fetch_one(self.read_pool())
                .await?;
            Ok(r.try_get("due")?)
        }

        pub(crate) async fn q_take_slot(
            &self,
            now_ms: i64,
            interval_ms: i64,
        ) -> Result<i64, $crate::store::StoreError> {
            use sqlx::Row;
            let r = sqlx::query($take_slot)
                .bind(now_ms)
                .bind(interval_ms)
                .fetch_one(self.write_pool())
                .await?;
            Ok(r.try_get("slot")?)
        }

        pub(crate) async fn q_pause(&self, until_ms: i64) -> Result<(), $crate::store::StoreError> {
            sqlx::query($pause)
                .bind(until_ms)
                .execute(self.write_pool())
                .await?;
            Ok(())
        }
    };
}
pub(crate) use queue_methods;
