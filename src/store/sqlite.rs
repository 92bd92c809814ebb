//! The embedded SQLite backend: WAL journal, `synchronous=FULL` (an acknowledged event survives
//! power loss), one writer connection (SQLite has one writer anyway) and a small pool of
//! readers that WAL lets run beside it.

use std::str::FromStr;
use std::time::Duration;

use sqlx::Sqlite;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::error::StoreError;
use super::intake::{Stored, collect_stored, operations_of};
use super::model::NewEvent;
use super::sql::{Dialect, Rewrites, SqlStore, rewritten};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Events per SQLite script, so that the bound parameters (10 per event, 8 per operation,
/// 2 per read-back) stay far below SQLite's 32,766 even with several operations per event.
const EVENTS_PER_SCRIPT: usize = 512;

/// The SQLite store.
pub type SqliteStore = SqlStore<Sqlite>;

/// Open the database at `url` (created when missing), without migrating.
pub async fn connect(url: &str) -> Result<SqliteStore, StoreError> {
    let base = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true);
    let write = SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        // The one writer connection is only ever used by this process: a ping before
        // every use would be one more round trip per group commit.
        .test_before_acquire(false)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(base.clone())
        .await?;
    let read = SqlitePoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(base.read_only(true))
        .await?;
    Ok(SqlStore { write, read })
}

impl Dialect for Sqlite {
    const BACKEND: &'static str = "sqlite";

    fn migrator() -> &'static sqlx::migrate::Migrator {
        &MIGRATOR
    }

    /// One writer: no row locks; `GREATEST` is the scalar `MAX`.
    fn statement(sql: &'static str) -> &'static str {
        static CACHE: Rewrites = Rewrites::new();
        rewritten(
            sql,
            &CACHE,
            &[
                (" FOR_UPDATE", ""),
                (" LOCK_ROWS", ""),
                ("GREATEST(", "MAX("),
            ],
        )
    }

    fn rows_affected(result: &sqlx::sqlite::SqliteQueryResult) -> u64 {
        result.rows_affected()
    }

    /// One group commit: one script, one round trip, one fsync. A batch too large for one
    /// script spans several, still in one transaction.
    async fn write_batch(store: &SqliteStore, events: &[NewEvent]) -> Result<Stored, StoreError> {
        let mut conn = store.write.acquire().await?;
        let mut stored = Stored::new();
        let chunks: Vec<_> = events.chunks(EVENTS_PER_SCRIPT).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let mut qb = sqlx::QueryBuilder::<Sqlite>::new("");
            script(&mut qb, chunk, i == 0, i + 1 == chunks.len());
            match qb.build().fetch_all(&mut *conn).await {
                Ok(rows) => collect_stored(&rows, &mut stored)?,
                Err(e) => {
                    // The script stopped part-way with its transaction open: end it here,
                    // or the next user of the connection would find itself inside it. If
                    // even that fails (a full disk can refuse it), the connection is closed
                    // and a fresh one opened for the next batch.
                    if let Err(r) = sqlx::query("ROLLBACK").execute(&mut *conn).await {
                        tracing::warn!(error = %r, "rollback after a failed intake batch failed; reconnecting");
                        conn.close_on_drop();
                    }
                    return Err(e.into());
                }
            }
        }
        Ok(stored)
    }
}

/// Write the script for `chunk` into `qb`: insert the events, insert the operations of those
/// that were new (an event id exists only if this script inserted it: ids are fresh), read
/// back what is stored under each key.
fn script(qb: &mut sqlx::QueryBuilder<Sqlite>, chunk: &[NewEvent], first: bool, last: bool) {
    if first {
        qb.push("BEGIN IMMEDIATE; ");
    }
    qb.push(
        "INSERT INTO events (id, source, dedupe_key, fingerprint, status, received_at, updated_at, hire, plan, rules_version, payload) ",
    );
    qb.push_values(chunk, |mut b, ev| {
        b.push_bind(ev.id.as_str())
            .push_bind(ev.source.as_str())
            .push_bind(ev.dedupe_key.as_str())
            .push_bind(ev.fingerprint.as_str())
            .push_bind(ev.status.as_str())
            .push_bind(ev.received_at_ms)
            .push_bind(ev.received_at_ms)
            .push_bind(ev.hire.as_str())
            .push_bind(ev.plan.as_deref())
            .push_bind(ev.rules_version.as_deref())
            .push_bind(ev.payload.as_deref());
    });
    qb.push(" ON CONFLICT (source, dedupe_key) DO NOTHING; ");
    let ops = operations_of(chunk);
    if !ops.is_empty() {
        qb.push(
            "INSERT INTO operations (event_id, seq, kind, target, params, status, attempts, next_attempt_at, idempotency_key, created_at, updated_at) \
             SELECT column1, column2, column3, column4, column5, column6, 0, column7, column8, column7, column7 FROM (",
        );
        qb.push_values(ops, |mut b, (ev, seq, op)| {
            b.push_bind(ev.id.as_str())
                .push_bind(seq)
                .push_bind(op.operation.kind().as_str())
                .push_bind(op.operation.target())
                .push_bind(op.operation.params().to_string())
                .push_bind(op.status.as_str())
                .push_bind(ev.received_at_ms)
                .push_bind(op.idempotency_key.as_str());
        });
        qb.push(") WHERE EXISTS (SELECT 1 FROM events e WHERE e.id = column1); ");
    }
    qb.push("SELECT e.id, e.source, e.dedupe_key, e.fingerprint FROM (");
    qb.push_values(chunk, |mut b, ev| {
        b.push_bind(ev.source.as_str())
            .push_bind(ev.dedupe_key.as_str());
    });
    qb.push(") AS k JOIN events e ON e.source = k.column1 AND e.dedupe_key = k.column2");
    if last {
        qb.push("; COMMIT");
    }
}
