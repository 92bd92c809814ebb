//! Durable storage: events, their canonical hires and plans, the operations the delivery
//! engine carries out, and the request budgets replicas share. A trait per concern
//! ([`EventStore`], [`OperationQueue`], [`Budgets`]) with one SQL implementation, generic over
//! the backend ([`sql::SqlStore`]); SQLite and PostgreSQL are chosen by the URL scheme and
//! each has its own migrations.
//!
//! Intake commits an event together with every operation it implies in ONE transaction (a
//! transactional outbox): once a webhook is acknowledged its work cannot be lost. Concurrent
//! intake writes share transactions through [`batcher::IntakeBatcher`] (group commit).
//!
//! The store persists and never decides: an event's status and what a plan implies for its
//! operations are the domain's rules, applied here inside the transaction that changes them.

pub mod batcher;
mod budgets;
pub mod copy;
mod derived;
mod error;
mod events;
mod intake;
mod model;
mod postgres;
mod queue;
mod sql;
mod sqlite;
mod text;

use std::sync::Arc;

use crate::config::DatabaseUrl;

pub use budgets::Budgets;
pub use error::StoreError;
pub use events::EventStore;
pub use model::{
    ClaimedOp, EventQuery, EventRecord, EventSummary, IntakeOutcome, NewEvent, NewOperation,
    OperationRecord, QueueStat, Replan, Replayed, Transition,
};
pub use queue::OperationQueue;
pub use sql::Lifecycle;
pub use text::{MAX_ERROR_CHARS, sanitise};

/// Everything the service needs of its database.
pub trait Store: EventStore + OperationQueue + Budgets + Lifecycle + 'static {}

impl<T: EventStore + OperationQueue + Budgets + Lifecycle + 'static> Store for T {}

/// Open the store the URL names, without migrating.
pub async fn connect(url: &DatabaseUrl) -> Result<Arc<dyn Store>, StoreError> {
    if url.is_postgres() {
        Ok(Arc::new(postgres::connect(url.expose()).await?))
    } else {
        Ok(Arc::new(sqlite::connect(url.expose()).await?))
    }
}
