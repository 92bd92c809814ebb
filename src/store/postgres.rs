//! The PostgreSQL store, for several replicas sharing one database. Intake batches commit on
//! a small pool; the unique `(source, dedupe_key)` constraint settles races between replicas.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::StoreError;

type DB = sqlx::Postgres;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

pub struct PgStore {
    pub(crate) pool: PgPool,
}

impl PgStore {
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let opts = PgConnectOptions::from_str(url)?.application_name("hirebridge");
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts)
            .await?;
        Ok(Self { pool })
    }

    fn write_pool(&self) -> &sqlx::Pool<DB> {
        &self.pool
    }

    fn read_pool(&self) -> &sqlx::Pool<DB> {
        &self.pool
    }

    crate::store::queue::queue_methods!(
        DB,
        crate::store::queue::for_postgres,
        crate::store::queue::TAKE_SLOT_POSTGRES,
        crate::store::queue::PAUSE_POSTGRES
    );

    /// One group commit: one statement (its own transaction), one round trip.
    async fn write_batch(
        &self,
        events: &[super::NewEvent],
    ) -> Result<super::batch_insert::Stored, StoreError> {
        let rows = super::batch_insert::pg_insert_batch(events)
            .fetch_all(&self.pool)
            .await?;
        let mut stored = super::batch_insert::Stored::new();
        super::batch_insert::collect_stored(&rows, &mut stored)?;
        Ok(stored)
    }

    crate::store::batch_insert::batch_insert_method!(
        DB,
        crate::store::queue::for_postgres,
        write_batch
    );
    crate::store::reads::read_methods!(crate::store::queue::for_postgres);
}

crate::store::store_impl!(PgStore, "postgres");
