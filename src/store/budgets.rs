//! Request budgets by name, shared by every replica through the database: each request takes
//! the next slot of its budget, and a spent window pauses every replica using that budget.

use async_trait::async_trait;
use sqlx::{Executor, Row};

use super::error::StoreError;
use super::sql::{Dialect, SqlStore};

/// The slots and pauses of named request budgets (Unix microseconds throughout).
#[async_trait]
pub trait Budgets: Send + Sync {
    /// Take the next slot of `budget`, spaced `interval_us` from the one before and never
    /// before `now_us` nor inside a pause: the time at which this request may be sent.
    async fn take_slot(
        &self,
        budget: &str,
        now_us: i64,
        interval_us: i64,
    ) -> Result<i64, StoreError>;

    /// Hold every request of `budget` until `until_us` (a later pause already set stands).
    async fn pause(&self, budget: &str, until_us: i64) -> Result<(), StoreError>;

    /// Until when requests of `budget` are held (in the past when they are not).
    async fn paused_until(&self, budget: &str) -> Result<i64, StoreError>;

    /// Drop a pause, and the slots behind it, that reach beyond `beyond_us`: the next slot is
    /// `now_us` again.
    async fn clear_beyond(
        &self,
        budget: &str,
        now_us: i64,
        beyond_us: i64,
    ) -> Result<(), StoreError>;
}

const TAKE_SLOT: &str =
    "INSERT INTO budgets (name, next_slot_us, paused_until_us) VALUES ($1, $2 + $3, 0)
     ON CONFLICT (name) DO UPDATE
       SET next_slot_us = GREATEST(budgets.next_slot_us, budgets.paused_until_us, $2) + $3
     RETURNING next_slot_us - $3 AS slot";

const PAUSE: &str = "INSERT INTO budgets (name, next_slot_us, paused_until_us) VALUES ($1, 0, $2)
     ON CONFLICT (name) DO UPDATE
       SET paused_until_us = GREATEST(budgets.paused_until_us, $2)";

const PAUSED_UNTIL: &str = "SELECT paused_until_us FROM budgets WHERE name = $1";

const CLEAR_BEYOND: &str = "UPDATE budgets
       SET paused_until_us = CASE WHEN paused_until_us > $3 THEN 0 ELSE paused_until_us END,
           next_slot_us = CASE WHEN next_slot_us > $3 THEN $2 ELSE next_slot_us END
     WHERE name = $1";

#[async_trait]
impl<DB> Budgets for SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'t> i64: sqlx::Encode<'t, DB> + sqlx::Decode<'t, DB> + sqlx::Type<DB>,
    for<'t> &'t str: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'r> &'r str: sqlx::ColumnIndex<DB::Row>,
    DB::Arguments: sqlx::IntoArguments<DB>,
{
    async fn take_slot(
        &self,
        budget: &str,
        now_us: i64,
        interval_us: i64,
    ) -> Result<i64, StoreError> {
        let r = sqlx::query(DB::statement(TAKE_SLOT))
            .bind(budget)
            .bind(now_us)
            .bind(interval_us)
            .fetch_one(&self.write)
            .await?;
        Ok(r.try_get("slot")?)
    }

    async fn pause(&self, budget: &str, until_us: i64) -> Result<(), StoreError> {
        sqlx::query(DB::statement(PAUSE))
            .bind(budget)
            .bind(until_us)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn paused_until(&self, budget: &str) -> Result<i64, StoreError> {
        let r = sqlx::query(PAUSED_UNTIL)
            .bind(budget)
            .fetch_optional(&self.read)
            .await?;
        Ok(match r {
            Some(r) => r.try_get("paused_until_us")?,
            None => 0,
        })
    }

    async fn clear_beyond(
        &self,
        budget: &str,
        now_us: i64,
        beyond_us: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(CLEAR_BEYOND)
            .bind(budget)
            .bind(now_us)
            .bind(beyond_us)
            .execute(&self.write)
            .await?;
        Ok(())
    }
}
