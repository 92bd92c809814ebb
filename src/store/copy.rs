//! Moving from the embedded SQLite database to PostgreSQL: every event and operation, as they
//! stand, copied into an empty PostgreSQL database in one transaction, so a service that was
//! stopped on SQLite goes on from PostgreSQL with nothing lost or repeated (what was done
//! stays done, what was due is still due, idempotency keys unchanged).

use sqlx::{Postgres, QueryBuilder, Row};

use super::error::StoreError;
use super::postgres::{self, PgStore};
use super::sql::Lifecycle;
use super::sqlite::{self, SqliteStore};
use crate::config::DatabaseUrl;

/// Rows copied per statement.
const PAGE: i64 = 500;

/// An `events` row, column for column.
type EventRow = (
    String,
    String,
    String,
    String,
    String,
    i64,
    i64,
    String,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<String>,
);

/// An `operations` row without its lease (the service that held it is stopped).
type OperationRow = (
    i64,
    String,
    i64,
    String,
    String,
    String,
    String,
    i32,
    i64,
    bool,
    Option<String>,
    String,
    i64,
    i64,
    Option<i64>,
    Option<i64>,
);

/// What [`sqlite_to_postgres`] copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Copied {
    pub events: u64,
    pub operations: u64,
    pub budgets: u64,
}

/// Copy the SQLite database `from` into the PostgreSQL database `to`. Both are migrated
/// first; `to` must hold no events. Leases are dropped: the service that held them is stopped.
pub async fn sqlite_to_postgres(
    from: &DatabaseUrl,
    to: &DatabaseUrl,
) -> Result<Copied, StoreError> {
    if !from.is_sqlite() || !to.is_postgres() {
        return Err(StoreError::Refused(
            "copying is from a sqlite:// database into a postgres:// one".into(),
        ));
    }
    // Opening a SQLite file creates it: a mistyped path would copy nothing, and say so.
    let file = from
        .expose()
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let file = file.split('?').next().unwrap_or(file);
    if !std::path::Path::new(file).is_file() {
        return Err(StoreError::Refused(format!(
            "{file} is not a SQLite database file"
        )));
    }
    let src = sqlite::connect(from.expose()).await?;
    src.migrate().await?;
    let dst = postgres::connect(to.expose()).await?;
    dst.migrate().await?;
    let copied = copy(&src, &dst).await;
    src.close().await;
    dst.close().await;
    copied
}

async fn copy(src: &SqliteStore, dst: &PgStore) -> Result<Copied, StoreError> {
    let mut tx = dst.write.begin().await?;
    let present: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events")
        .fetch_one(&mut *tx)
        .await?;
    if present > 0 {
        return Err(StoreError::Refused(format!(
            "the PostgreSQL database already holds {present} events: copy into an empty one"
        )));
    }
    let mut copied = Copied {
        events: 0,
        operations: 0,
        budgets: 0,
    };

    let mut after = String::new();
    loop {
        let rows: Vec<EventRow> = sqlx::query_as(
            "SELECT id, source, dedupe_key, fingerprint, status, received_at, updated_at, hire, \
             plan, rules_version, connecteam_user_id, payload, field_warnings FROM events \
             WHERE id > ? \
             ORDER BY id LIMIT ?",
        )
        .bind(&after)
        .bind(PAGE)
        .fetch_all(&src.read)
        .await?;
        let Some(last) = rows.last() else { break };
        after = last.0.clone();
        let mut insert = QueryBuilder::<Postgres>::new(
            "INSERT INTO events (id, source, dedupe_key, fingerprint, status, received_at, \
             updated_at, hire, plan, rules_version, connecteam_user_id, payload, field_warnings) ",
        );
        insert.push_values(rows, |mut b, r| {
            b.push_bind(r.0)
                .push_bind(r.1)
                .push_bind(r.2)
                .push_bind(r.3)
                .push_bind(r.4)
                .push_bind(r.5)
                .push_bind(r.6)
                .push_bind(r.7)
                .push_bind(r.8)
                .push_bind(r.9)
                .push_bind(r.10)
                .push_bind(r.11)
                .push_bind(r.12);
        });
        copied.events += insert.build().execute(&mut *tx).await?.rows_affected();
    }

    let mut after = 0i64;
    loop {
        let rows: Vec<OperationRow> = sqlx::query_as(
            "SELECT id, event_id, seq, kind, target, params, status, attempts, next_attempt_at, \
             ambiguous, last_error, idempotency_key, created_at, updated_at, batch_since, \
             waiting_since FROM operations WHERE id > ? ORDER BY id LIMIT ?",
        )
        .bind(after)
        .bind(PAGE)
        .fetch_all(&src.read)
        .await?;
        let Some(last) = rows.last() else { break };
        after = last.0;
        let mut insert = QueryBuilder::<Postgres>::new(
            "INSERT INTO operations (id, event_id, seq, kind, target, params, status, attempts, \
             next_attempt_at, ambiguous, last_error, idempotency_key, created_at, updated_at, \
             batch_since, waiting_since) ",
        );
        insert.push_values(rows, |mut b, r| {
            b.push_bind(r.0)
                .push_bind(r.1)
                .push_bind(r.2)
                .push_bind(r.3)
                .push_bind(r.4)
                .push_bind(r.5)
                .push_bind(r.6)
                .push_bind(r.7)
                .push_bind(r.8)
                .push_bind(r.9)
                .push_bind(r.10)
                .push_bind(r.11)
                .push_bind(r.12)
                .push_bind(r.13)
                .push_bind(r.14)
                .push_bind(r.15);
        });
        copied.operations += insert.build().execute(&mut *tx).await?.rows_affected();
    }
    // New operations continue the copied ids.
    sqlx::query(
        "SELECT setval(pg_get_serial_sequence('operations', 'id'), \
         GREATEST((SELECT MAX(id) FROM operations), 1))",
    )
    .execute(&mut *tx)
    .await?;

    // A pause Connecteam imposed is still in force: keep each budget's state.
    let budgets = sqlx::query("SELECT name, next_slot_us, paused_until_us FROM budgets")
        .fetch_all(&src.read)
        .await?;
    for r in &budgets {
        copied.budgets += sqlx::query(
            "INSERT INTO budgets (name, next_slot_us, paused_until_us) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET next_slot_us = EXCLUDED.next_slot_us, \
             paused_until_us = EXCLUDED.paused_until_us",
        )
        .bind(r.try_get::<String, _>("name")?)
        .bind(r.try_get::<i64, _>("next_slot_us")?)
        .bind(r.try_get::<i64, _>("paused_until_us")?)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }
    tx.commit().await?;
    Ok(copied)
}
