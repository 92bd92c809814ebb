//! Durable storage: events, their canonical hires and plans, and the operations the delivery
//! engine carries out. One trait, a SQLite and a PostgreSQL implementation (chosen by the
//! URL scheme), each with its own migrations.
//!
//! Intake commits an event together with every operation it implies in ONE transaction (a
//! transactional outbox): once a webhook is acknowledged its work cannot be lost. Concurrent
//! intake writes share transactions through [`batcher::IntakeBatcher`] (group commit).

pub mod batch_insert;
pub mod batcher;
pub mod postgres;
pub mod queue;
pub mod reads;
pub mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::config::DatabaseUrl;

/// What an event is doing, derived from its operations (CONTRACT.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    Accepted,
    WaitingForUser,
    Delivering,
    Done,
    Failed,
    Ignored,
}

impl EventStatus {
    pub const ALL: [EventStatus; 6] = [
        EventStatus::Accepted,
        EventStatus::WaitingForUser,
        EventStatus::Delivering,
        EventStatus::Done,
        EventStatus::Failed,
        EventStatus::Ignored,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            EventStatus::Accepted => "accepted",
            EventStatus::WaitingForUser => "waiting_for_user",
            EventStatus::Delivering => "delivering",
            EventStatus::Done => "done",
            EventStatus::Failed => "failed",
            EventStatus::Ignored => "ignored",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// The kinds of work an accepted hire implies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationKind {
    /// Find the Connecteam user by email/phone, or create it.
    ResolveUser,
    /// Assign the user to one onboarding pack (target: the pack id).
    AssignPack,
    /// Assign the user to one time-off policy (target: the policy id).
    AssignPolicy,
}

impl OperationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OperationKind::ResolveUser => "resolve_user",
            OperationKind::AssignPack => "assign_pack",
            OperationKind::AssignPolicy => "assign_policy",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [
            OperationKind::ResolveUser,
            OperationKind::AssignPack,
            OperationKind::AssignPolicy,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// Where an operation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationStatus {
    /// Due at `next_attempt_at`.
    Pending,
    /// Waits for another operation of its event (the user must be resolved first).
    Blocked,
    /// No Connecteam user matches yet and none can be created: re-checked periodically.
    Waiting,
    Done,
    /// Permanently failed or out of attempts; `last_error` says why. Replay re-queues it.
    Dead,
    /// Failed, and dropped from the event's plan by a replay after the rule table changed:
    /// not retried, and no longer keeping the event from being done.
    Superseded,
}

impl OperationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OperationStatus::Pending => "pending",
            OperationStatus::Blocked => "blocked",
            OperationStatus::Waiting => "waiting",
            OperationStatus::Done => "done",
            OperationStatus::Dead => "dead",
            OperationStatus::Superseded => "superseded",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [
            OperationStatus::Pending,
            OperationStatus::Blocked,
            OperationStatus::Waiting,
            OperationStatus::Done,
            OperationStatus::Dead,
            OperationStatus::Superseded,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// An event as intake hands it to the store.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub id: String,
    pub source: String,
    pub dedupe_key: String,
    /// SHA-256 of the body in canonical JSON form: tells a repeat from a conflicting reuse of the key.
    pub fingerprint: String,
    pub received_at_ms: i64,
    pub status: EventStatus,
    /// The canonical hire, as JSON text (serialised by the request, not by the writer that
    /// every request waits for).
    pub hire: String,
    /// The plan the rule table gave, as JSON text.
    pub plan: Option<String>,
    pub rules_version: Option<String>,
    pub operations: Vec<NewOperation>,
}

#[derive(Debug, Clone)]
pub struct NewOperation {
    pub kind: OperationKind,
    pub target: String,
    pub params: serde_json::Value,
    pub status: OperationStatus,
    pub idempotency_key: String,
}

/// What committing an event amounted to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntakeOutcome {
    Accepted {
        event_id: String,
    },
    /// The same dedupe key with the same body: nothing new was stored.
    Duplicate {
        event_id: String,
    },
    /// The same dedupe key with a different body.
    Conflict {
        event_id: String,
    },
}

/// An event as read back.
#[derive(Debug, Clone, Serialize)]
pub struct EventRecord {
    pub event_id: String,
    pub source: String,
    pub dedupe_key: String,
    pub status: EventStatus,
    pub received_at_ms: i64,
    pub hire: serde_json::Value,
    pub plan: Option<serde_json::Value>,
    pub rules_version: Option<String>,
    pub connecteam_user_id: Option<i64>,
    pub operations: Vec<OperationRecord>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OperationRecord {
    pub id: i64,
    pub kind: OperationKind,
    pub target: String,
    pub params: serde_json::Value,
    pub status: OperationStatus,
    pub attempts: i32,
    pub next_attempt_at_ms: i64,
    pub last_error: Option<String>,
    pub idempotency_key: String,
}

/// The plan the rule table in force gives an event's hire, for a replay.
#[derive(Debug, Clone)]
pub struct Replan {
    pub plan: serde_json::Value,
    pub rules_version: String,
    /// The plan's pack and policy operations ([`crate::intake::planned_operations`]).
    pub operations: Vec<NewOperation>,
}

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Replayed {
    /// Failed operations put back on the queue.
    pub requeued: u64,
    /// Operations a changed plan added.
    pub added: u64,
    /// Failed operations a changed plan dropped.
    pub superseded: u64,
    /// Whether the event took a new plan.
    pub plan_changed: bool,
}

/// A row of `GET /v1/events`.
#[derive(Debug, Clone, Serialize)]
pub struct EventSummary {
    pub event_id: String,
    pub source: String,
    pub status: EventStatus,
    pub received_at_ms: i64,
}

#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub status: Option<EventStatus>,
    pub source: Option<String>,
    /// Return events with an id lower than this (newest first).
    pub before: Option<String>,
    pub limit: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is not readable: {0}")]
    Corrupt(String),
    #[error("the store is shutting down")]
    Closed,
}

impl StoreError {
    /// The database cannot be reached or cannot take the work right now (connection refused
    /// or lost, pool exhausted, server shutting down or refusing connections, out of
    /// resources), as opposed to a statement that failed: the caller should retry later.
    pub fn is_unavailable(&self) -> bool {
        let StoreError::Database(e) = self else {
            return matches!(self, StoreError::Closed);
        };
        match e {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(db) => db.code().is_some_and(|code| {
                // PostgreSQL: 08 connection exception, 53 insufficient resources, 57P admin
                // or crash shutdown and "cannot connect now", 55000 a database that does
                // not allow connections. SQLite: 5 busy, 10 I/O error, 13 full, 14 cannot
                // open (extended codes keep the primary code in their low byte).
                code.starts_with("08")
                    || code.starts_with("53")
                    || code.starts_with("57P")
                    || code == "55000"
                    || code
                        .parse::<i32>()
                        .is_ok_and(|c| matches!(c & 0xff, 5 | 10 | 13 | 14))
            }),
            _ => false,
        }
    }
}

/// The storage every other part of hirebridge goes through.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `sqlite` or `postgres`, for logs and `/readyz`.
    fn backend(&self) -> &'static str;

    /// Apply pending migrations (safe when several replicas start at once).
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Cheap round trip for readiness.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Commit every event with its operations in ONE transaction. Events whose dedupe key
    /// exists already (also earlier in the same batch) come back as `Duplicate`/`Conflict`.
    async fn insert_events(&self, events: &[NewEvent]) -> Result<Vec<IntakeOutcome>, StoreError>;

    async fn get_event(&self, event_id: &str) -> Result<Option<EventRecord>, StoreError>;

    async fn list_events(&self, query: &EventQuery) -> Result<Vec<EventSummary>, StoreError>;

    /// Lease up to `limit` due operations of one kind to `owner` (unique per claim) for
    /// `lease_ms`. Expired leases (a replica that died) are claimable again.
    async fn claim(
        &self,
        kind: OperationKind,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<queue::ClaimedOp>, StoreError>;

    /// Apply state changes to operations `owner` holds, in one transaction, and derive the
    /// touched events' status again. Changes to operations whose lease `owner` no longer
    /// holds are skipped; returns how many were applied.
    async fn apply(
        &self,
        owner: &str,
        transitions: &[queue::Transition],
        now_ms: i64,
    ) -> Result<u64, StoreError>;

    /// Extend the lease of every operation `owner` holds to `until_ms`; returns how many
    /// it still holds.
    async fn renew(&self, owner: &str, until_ms: i64) -> Result<u64, StoreError>;

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

    /// Queue depth by kind and status.
    async fn queue_stats(&self) -> Result<Vec<queue::QueueStat>, StoreError>;

    /// When the next operation falls due.
    async fn next_due(&self) -> Result<Option<i64>, StoreError>;

    /// Take the next slot of the account-wide request budget (shared by every replica through
    /// the database): the time (Unix microseconds) at which this request may be sent.
    async fn take_rate_slot(&self, now_us: i64, interval_us: i64) -> Result<i64, StoreError>;

    /// Hold every replica's requests until `until_us` (the server's budget reset).
    async fn pause_requests(&self, until_us: i64) -> Result<(), StoreError>;

    /// Until when requests are held (Unix microseconds; in the past when they are not).
    async fn paused_until(&self) -> Result<i64, StoreError>;

    /// Close connections (after the last write).
    async fn close(&self);
}

/// Open the store the URL names, without migrating.
pub async fn connect(url: &DatabaseUrl) -> Result<Arc<dyn Store>, StoreError> {
    if url.is_postgres() {
        Ok(Arc::new(postgres::PgStore::connect(url.expose()).await?))
    } else {
        Ok(Arc::new(sqlite::SqliteStore::connect(url.expose()).await?))
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default(),
    )
    .unwrap_or(i64::MAX)
}

pub(crate) fn parse_json(raw: &str, what: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(raw).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

/// A stored plan as JSON (`None` when unreadable).
pub(crate) fn parse_plan(raw: &str) -> Option<serde_json::Value> {
    serde_json::from_str(raw).ok()
}

pub(crate) fn parse_status(raw: &str) -> Result<EventStatus, StoreError> {
    EventStatus::parse(raw).ok_or_else(|| StoreError::Corrupt(format!("event status {raw:?}")))
}

pub(crate) fn parse_op(
    kind: &str,
    status: &str,
) -> Result<(OperationKind, OperationStatus), StoreError> {
    Ok((
        OperationKind::parse(kind)
            .ok_or_else(|| StoreError::Corrupt(format!("operation kind {kind:?}")))?,
        OperationStatus::parse(status)
            .ok_or_else(|| StoreError::Corrupt(format!("operation status {status:?}")))?,
    ))
}

/// The `Store` implementation of a backend: everything is written once (the `q_*` methods
/// the statement macros generate), only the name and the pools differ.
macro_rules! store_impl {
    ($ty:ty, $name:literal) => {
        #[async_trait::async_trait]
        impl $crate::store::Store for $ty {
            fn backend(&self) -> &'static str {
                $name
            }

            async fn migrate(&self) -> Result<(), $crate::store::StoreError> {
                MIGRATOR.run(self.write_pool()).await?;
                Ok(())
            }

            async fn ping(&self) -> Result<(), $crate::store::StoreError> {
                sqlx::query("SELECT 1").execute(self.read_pool()).await?;
                Ok(())
            }

            async fn insert_events(
                &self,
                events: &[$crate::store::NewEvent],
            ) -> Result<Vec<$crate::store::IntakeOutcome>, $crate::store::StoreError> {
                self.q_insert_events(events).await
            }

            async fn get_event(
                &self,
                event_id: &str,
            ) -> Result<Option<$crate::store::EventRecord>, $crate::store::StoreError> {
                self.q_get_event(event_id).await
            }

            async fn list_events(
                &self,
                q: &$crate::store::EventQuery,
            ) -> Result<Vec<$crate::store::EventSummary>, $crate::store::StoreError> {
                self.q_list_events(q).await
            }

            async fn claim(
                &self,
                kind: $crate::store::OperationKind,
                owner: &str,
                now_ms: i64,
                lease_ms: i64,
                limit: u32,
            ) -> Result<Vec<$crate::store::queue::ClaimedOp>, $crate::store::StoreError> {
                self.q_claim(kind, owner, now_ms, lease_ms, limit).await
            }

            async fn apply(
                &self,
                owner: &str,
                transitions: &[$crate::store::queue::Transition],
                now_ms: i64,
            ) -> Result<u64, $crate::store::StoreError> {
                self.q_apply(owner, transitions, now_ms).await
            }

            async fn renew(
                &self,
                owner: &str,
                until_ms: i64,
            ) -> Result<u64, $crate::store::StoreError> {
                self.q_renew(owner, until_ms).await
            }

            async fn replay(
                &self,
                event_id: &str,
                replan: Option<&$crate::store::Replan>,
                now_ms: i64,
            ) -> Result<Option<$crate::store::Replayed>, $crate::store::StoreError> {
                self.q_replay(event_id, replan, now_ms).await
            }

            async fn queue_stats(
                &self,
            ) -> Result<Vec<$crate::store::queue::QueueStat>, $crate::store::StoreError> {
                self.q_stats().await
            }

            async fn next_due(&self) -> Result<Option<i64>, $crate::store::StoreError> {
                self.q_next_due().await
            }

            async fn take_rate_slot(
                &self,
                now_us: i64,
                interval_us: i64,
            ) -> Result<i64, $crate::store::StoreError> {
                self.q_take_slot(now_us, interval_us).await
            }

            async fn pause_requests(&self, until_us: i64) -> Result<(), $crate::store::StoreError> {
                self.q_pause(until_us).await
            }

            async fn paused_until(&self) -> Result<i64, $crate::store::StoreError> {
                use sqlx::Row;
                let r = sqlx::query("SELECT paused_until_us FROM rate_budget WHERE id = 1")
                    .fetch_one(self.read_pool())
                    .await?;
                Ok(r.try_get("paused_until_us")?)
            }

            async fn close(&self) {
                self.write_pool().close().await;
                self.read_pool().close().await;
            }
        }
    };
}
pub(crate) use store_impl;

#[cfg(test)]
mod tests {
    use super::StoreError;

    #[test]
    fn unavailable_is_about_reaching_the_database_not_about_a_statement() {
        assert!(StoreError::Closed.is_unavailable());
        assert!(StoreError::Database(sqlx::Error::PoolTimedOut).is_unavailable());
        assert!(
            StoreError::Database(sqlx::Error::Io(std::io::Error::from(
                std::io::ErrorKind::ConnectionRefused
            )))
            .is_unavailable()
        );
        assert!(!StoreError::Database(sqlx::Error::RowNotFound).is_unavailable());
        assert!(!StoreError::Corrupt("x".into()).is_unavailable());
    }
}
