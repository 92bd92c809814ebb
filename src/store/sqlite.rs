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
            // The one writer connection is only ever used by this process: a ping before
            // every use would be one more round trip per group commit.
            .test_before_acquire(false)
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

    /// One group commit: one script, one round trip, one fsync. A batch too large for one
    /// script spans several, still in one transaction.
    async fn write_batch(
        &self,
        events: &[super::NewEvent],
    ) -> Result<super::batch_insert::Stored, StoreError> {
        use super::batch_insert::{SQLITE_EVENTS_PER_SCRIPT, collect_stored, sqlite_script};
        let mut conn = self.writer.acquire().await?;
        let mut stored = super::batch_insert::Stored::new();
        let chunks: Vec<_> = events.chunks(SQLITE_EVENTS_PER_SCRIPT).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let mut qb = sqlx::QueryBuilder::<DB>::new("");
            sqlite_script(&mut qb, chunk, i == 0, i + 1 == chunks.len());
            match qb.build().fetch_all(&mut *conn).await {
                Ok(rows) => collect_stored(&rows, &mut stored)?,
                Err(e) => {
                    // The script stopped part-way with its transaction open: end it here,
                    // or the next user of the connection would find itself inside it.
                    if let Err(r) = sqlx::query("ROLLBACK").execute(&mut *conn).await {
                        tracing::debug!(error = %r, "rollback after a failed intake batch");
                    }
                    return Err(e.into());
                }
            }
        }
        Ok(stored)
    }

    crate::store::batch_insert::batch_insert_method!(
        DB,
        crate::store::queue::for_sqlite,
        write_batch
    );
    crate::store::reads::read_methods!(crate::store::queue::for_sqlite);
}

crate::store::store_impl!(SqliteStore, "sqlite");
