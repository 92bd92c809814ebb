//! The PostgreSQL backend, for several replicas sharing one database. Intake batches commit on
//! a small pool; the unique `(source, dedupe_key)` constraint settles races between replicas.

use std::str::FromStr;
use std::time::Duration;

use sqlx::Postgres;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPoolOptions};

use super::error::StoreError;
use super::intake::{Stored, collect_stored, operations_of};
use super::model::NewEvent;
use super::sql::{Dialect, Rewrites, SqlStore, rewritten};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The PostgreSQL store.
pub type PgStore = SqlStore<Postgres>;

/// Connect to the database at `url`, without migrating.
pub async fn connect(url: &str) -> Result<PgStore, StoreError> {
    let opts = PgConnectOptions::from_str(url)?.application_name("hirebridge");
    let pool = PgPoolOptions::new()
        .max_connections(16)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(opts)
        .await?;
    Ok(SqlStore {
        write: pool.clone(),
        read: pool,
    })
}

impl Dialect for Postgres {
    const BACKEND: &'static str = "postgres";

    fn migrator() -> &'static sqlx::migrate::Migrator {
        &MIGRATOR
    }

    /// Claims skip rows another replica holds; other locks wait.
    fn statement(sql: &'static str) -> &'static str {
        static CACHE: Rewrites = Rewrites::new();
        rewritten(
            sql,
            &CACHE,
            &[
                (" FOR_UPDATE", " FOR UPDATE SKIP LOCKED"),
                (" LOCK_ROWS", " FOR UPDATE"),
            ],
        )
    }

    fn rows_affected(result: &sqlx::postgres::PgQueryResult) -> u64 {
        result.rows_affected()
    }

    /// One group commit: one statement (its own transaction), one round trip.
    async fn write_batch(store: &PgStore, events: &[NewEvent]) -> Result<Stored, StoreError> {
        let rows = insert_batch(events).fetch_all(&store.write).await?;
        let mut stored = Stored::new();
        collect_stored(&rows, &mut stored)?;
        Ok(stored)
    }
}

/// The whole insert of a batch: events and operations arrive as parallel arrays (one prepared
/// statement whatever the batch size), operations are inserted only for the events this
/// statement inserted, and the answer is the rows it inserted. The keys that were there
/// already (repeats: rare) are read afterwards, one by one. Reading them here with a join
/// would do it for every batch, and the plan PostgreSQL caches for a prepared statement (made
/// while the table was small) scans the whole table to do it.
const INSERT_BATCH: &str = "WITH v AS (
    SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                         $6::int8[], $7::text[], $8::text[], $9::text[], $10::text[])
        AS v(id, source, dedupe_key, fingerprint, status, received_at, hire, plan, rules_version,
             payload)
  ), ins AS (
    INSERT INTO events (id, source, dedupe_key, fingerprint, status, received_at, updated_at,
                        hire, plan, rules_version, payload)
    SELECT id, source, dedupe_key, fingerprint, status, received_at, received_at,
           hire, plan, rules_version, payload FROM v
    ON CONFLICT (source, dedupe_key) DO NOTHING
    RETURNING id, source, dedupe_key, fingerprint
  ), ops AS (
    INSERT INTO operations (event_id, seq, kind, target, params, status, attempts,
                            next_attempt_at, idempotency_key, created_at, updated_at)
    SELECT o.event_id, o.seq, o.kind, o.target, o.params, o.status, 0, o.at, o.key, o.at, o.at
      FROM UNNEST($11::text[], $12::int8[], $13::text[], $14::text[], $15::text[],
                  $16::text[], $17::int8[], $18::text[])
           AS o(event_id, seq, kind, target, params, status, at, key)
     WHERE o.event_id IN (SELECT id FROM ins)
  )
  SELECT id, source, dedupe_key, fingerprint FROM ins";

/// [`INSERT_BATCH`] with its arrays bound, column by column.
fn insert_batch(events: &[NewEvent]) -> sqlx::query::Query<'_, Postgres, PgArguments> {
    let ops = operations_of(events);
    let col = |f: fn(&NewEvent) -> &str| events.iter().map(f).collect::<Vec<&str>>();
    sqlx::query(INSERT_BATCH)
        .bind(col(|e| &e.id))
        .bind(col(|e| &e.source))
        .bind(col(|e| &e.dedupe_key))
        .bind(col(|e| &e.fingerprint))
        .bind(col(|e| e.status.as_str()))
        .bind(
            events
                .iter()
                .map(|e| e.received_at_ms)
                .collect::<Vec<i64>>(),
        )
        .bind(col(|e| &e.hire))
        .bind(
            events
                .iter()
                .map(|e| e.plan.as_deref())
                .collect::<Vec<Option<&str>>>(),
        )
        .bind(
            events
                .iter()
                .map(|e| e.rules_version.as_deref())
                .collect::<Vec<Option<&str>>>(),
        )
        .bind(
            events
                .iter()
                .map(|e| e.payload.as_deref())
                .collect::<Vec<Option<&str>>>(),
        )
        .bind(
            ops.iter()
                .map(|(e, _, _)| e.id.as_str())
                .collect::<Vec<&str>>(),
        )
        .bind(ops.iter().map(|(_, seq, _)| *seq).collect::<Vec<i64>>())
        .bind(
            ops.iter()
                .map(|(_, _, o)| o.operation.kind().as_str())
                .collect::<Vec<&str>>(),
        )
        .bind(
            ops.iter()
                .map(|(_, _, o)| o.operation.target())
                .collect::<Vec<String>>(),
        )
        .bind(
            ops.iter()
                .map(|(_, _, o)| o.operation.params().to_string())
                .collect::<Vec<String>>(),
        )
        .bind(
            ops.iter()
                .map(|(_, _, o)| o.status.as_str())
                .collect::<Vec<&str>>(),
        )
        .bind(
            ops.iter()
                .map(|(e, _, _)| e.received_at_ms)
                .collect::<Vec<i64>>(),
        )
        .bind(
            ops.iter()
                .map(|(_, _, o)| o.idempotency_key.as_str())
                .collect::<Vec<&str>>(),
        )
}
