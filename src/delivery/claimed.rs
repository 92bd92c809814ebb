//! A claimed operation as the work sees it, and what becomes of it.

use crate::domain::Operation;
use crate::remote::Failure;
use crate::store::ClaimedOp;

/// A claimed operation, read: its typed [`Operation`] and what it needs of its event.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: i64,
    pub event_id: String,
    pub operation: Operation,
    /// The stored target, which batches are cut by.
    pub target: String,
    pub attempts: i32,
    /// A write's outcome was not seen: read back before repeating it.
    pub ambiguous: bool,
    pub created_at_ms: i64,
    /// When it began waiting for its Connecteam user, if it is waiting.
    pub waiting_since_ms: Option<i64>,
    /// When it first fell due; deferring it while its batch fills does not move this.
    pub due_at_ms: i64,
    pub idempotency_key: String,
    /// The event's canonical hire, as stored.
    pub hire: serde_json::Value,
    /// The event's plan, as stored (read by the user resolution, which queues it).
    pub plan: Option<serde_json::Value>,
    /// The event's Connecteam user, once resolved.
    pub user_id: Option<u64>,
    /// The same work is done for the same user through another event (a second hire of the
    /// same person).
    pub done_for_user: bool,
}

impl Claimed {
    /// Read a claimed row; `Err` says why it cannot be carried out.
    pub fn read(row: ClaimedOp) -> Result<Claimed, (i64, String)> {
        let operation = Operation::from_stored(row.kind, &row.target, &row.params)
            .map_err(|e| (row.id, format!("the stored operation is unreadable: {e}")))?;
        Ok(Claimed {
            id: row.id,
            event_id: row.event_id,
            operation,
            target: row.target,
            attempts: row.attempts,
            ambiguous: row.ambiguous,
            created_at_ms: row.created_at_ms,
            waiting_since_ms: row.waiting_since_ms,
            due_at_ms: row.due_at_ms,
            idempotency_key: row.idempotency_key,
            hire: row.hire,
            plan: row.plan,
            user_id: row.user_id.and_then(|u| u64::try_from(u).ok()),
            done_for_user: row.done_for_user,
        })
    }
}

/// What became of one operation.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Carried out.
    Done,
    /// The user resolution found (or made) the event's user: the plan's work is queued.
    UserResolved { user_id: u64 },
    /// A call failed: retried with backoff, or dead-lettered, as the failure and the
    /// operation's attempts decide.
    Failed(Failure),
    /// It cannot be carried out (the stored hire is unreadable): dead-lettered at once.
    Dead(String),
    /// No Connecteam user yet: look again at `at_ms`.
    Wait { at_ms: i64, note: String },
    /// Not this round: due again at `at_ms`.
    Defer { at_ms: i64 },
}
