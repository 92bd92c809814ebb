//! The embedded SQLite store: WAL journal, `synchronous=FULL` (an acknowledged event survives
//! power loss), one writer connection (SQLite has one writer anyway) and a small pool of
//! readers that WAL lets run beside it.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::StoreError;

type DB = sqlx::Sqlite;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqliteStore {
    /// The single writer: every write goes through it, serialised.
    pub(crate) writer: SqlitePool,
    /// Readers: WAL lets them run beside the writer.
    pub(crate) reader: SqlitePool,
}

impl SqliteStore {
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let base = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(base.clone())
            .await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(base.read_only(true))
            .await?;
        Ok(Self { writer, reader })
    }

    fn write_pool(&self) -> &sqlx::Pool<DB> {
        &self.writer
    }

    fn read_pool(&self) -> &sqlx::Pool<DB> {
        &self.reader
    }

    crate::store::queue::queue_methods!(
        DB,
        crate::store::queue::for_sqlite,
        crate::store::queue::TAKE_SLOT_SQLITE,
        crate::store::queue::PAUSE_SQLITE
    );

    crate::store::batch_insert::batch_insert_method!(DB);
    crate::store::reads::read_methods!(crate::store::queue::for_sqlite);
}

crate::store::store_impl!(SqliteStore, "sqlite");
