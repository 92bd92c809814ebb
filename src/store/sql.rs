//! The one SQL implementation of the store, generic over the backend.
//!
//! Statements are written once, with `$N` placeholders (both drivers take them) and three
//! tokens where the dialects differ: ` FOR_UPDATE` (lock the rows a claim takes, skipping rows
//! another replica holds), ` LOCK_ROWS` (lock rows, waiting for them) and `GREATEST(`. Each
//! backend's [`Dialect`] says what the tokens become: PostgreSQL locks rows, SQLite (one
//! writer) needs no locks and spells `GREATEST` as `MAX`. What genuinely differs between the
//! backends — connecting, migrations, the one-round-trip intake batch — is in `sqlite.rs` and
//! `postgres.rs`.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Mutex, OnceLock};

use sqlx::Pool;

use super::error::StoreError;
use super::intake::Stored;
use super::model::NewEvent;

/// What a backend brings besides its driver.
pub trait Dialect: sqlx::Database {
    /// `sqlite` or `postgres`, for logs and `/readyz`.
    const BACKEND: &'static str;

    fn migrator() -> &'static sqlx::migrate::Migrator;

    /// `sql` as this backend writes it (the tokens above replaced), computed once per
    /// statement for the life of the process.
    fn statement(sql: &'static str) -> &'static str;

    /// How many rows a statement changed.
    fn rows_affected(result: &Self::QueryResult) -> u64;

    /// Write one intake batch in one round trip and read back what is stored under each of
    /// its dedupe keys.
    fn write_batch(
        store: &SqlStore<Self>,
        events: &[NewEvent],
    ) -> impl Future<Output = Result<Stored, StoreError>> + Send;
}

/// The store on one backend: a pool for writes and one for reads (the same pool on
/// PostgreSQL; on SQLite the single writer connection and a few readers beside it).
pub struct SqlStore<DB: sqlx::Database> {
    pub(crate) write: Pool<DB>,
    pub(crate) read: Pool<DB>,
}

/// Rewritten statements by the address of their text.
pub(crate) type Rewrites = OnceLock<Mutex<HashMap<usize, &'static str>>>;

/// `sql` with each `(token, replacement)` applied, cached in `cache` (one per dialect).
pub(crate) fn rewritten(
    sql: &'static str,
    cache: &'static Rewrites,
    replacements: &[(&str, &str)],
) -> &'static str {
    let mut map = cache
        .get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    map.entry(sql.as_ptr() as usize).or_insert_with(|| {
        let text = replacements
            .iter()
            .fold(sql.to_owned(), |s, (token, with)| s.replace(token, with));
        Box::leak(text.into_boxed_str())
    })
}

pub(crate) fn parse_json(raw: &str, what: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(raw).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

pub(crate) fn parse_enum<T>(
    raw: &str,
    what: &str,
    parse: fn(&str) -> Option<T>,
) -> Result<T, StoreError> {
    parse(raw).ok_or_else(|| StoreError::Corrupt(format!("{what} {raw:?}")))
}

const WRITE_PROBE: &str = "INSERT INTO write_probe (id, at) VALUES (1, $1)
     ON CONFLICT (id) DO UPDATE SET at = $1";

/// The store as a whole: what it is, and its connections.
#[async_trait::async_trait]
pub trait Lifecycle: Send + Sync {
    /// `sqlite` or `postgres`, for logs and `/readyz`.
    fn backend(&self) -> &'static str;

    /// Apply pending migrations (safe when several replicas start at once).
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Cheap round trip for readiness.
    async fn ping(&self) -> Result<(), StoreError>;

    /// A tiny real write, for readiness: a store that reads but cannot write (a read-only
    /// file, a full disk) fails it.
    async fn check_write(&self) -> Result<(), StoreError>;

    /// Close connections (after the last write).
    async fn close(&self);
}

#[async_trait::async_trait]
impl<DB> Lifecycle for SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    <DB as sqlx::Database>::Connection: sqlx::migrate::Migrate,
    DB::Arguments: sqlx::IntoArguments<DB>,
    for<'t> i64: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    fn backend(&self) -> &'static str {
        DB::BACKEND
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        DB::migrator().run(&self.write).await?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    async fn check_write(&self) -> Result<(), StoreError> {
        sqlx::query(WRITE_PROBE)
            .bind(crate::clock::now_ms())
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }
}
