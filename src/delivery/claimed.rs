//! A claimed operation as the work sees it, and what becomes of it.

use crate::domain::{FieldWarning, Operation};
use crate::remote::Failure;
use crate::store::ClaimedOp;

/// A claimed operation, read: its typed [`Operation`] and Connecteam user, and the stored
/// row (its event's hire and plan, attempts, the ambiguity of its last write) beneath.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub operation: Operation,
    /// The event's Connecteam user, once resolved.
    pub user_id: Option<u64>,
    row: ClaimedOp,
}

impl std::ops::Deref for Claimed {
    type Target = ClaimedOp;
    fn deref(&self) -> &ClaimedOp {
        &self.row
    }
}

impl Claimed {
    /// Read a claimed row; `Err` says why it cannot be carried out.
    pub fn read(row: ClaimedOp) -> Result<Claimed, (i64, String)> {
        let operation = Operation::from_stored(row.kind, &row.target, &row.params)
            .map_err(|e| (row.id, format!("the stored operation is unreadable: {e}")))?;
        Ok(Claimed {
            operation,
            user_id: row.user_id.and_then(|u| u64::try_from(u).ok()),
            row,
        })
    }
}

/// What became of one operation.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Carried out.
    Done,
    /// Carried out, but for these custom fields, which Connecteam would not take.
    DoneWithWarnings(Vec<FieldWarning>),
    /// The user resolution found (or made) the event's user: the plan's work is queued, with
    /// a profile update writing `update` (custom field values, Connecteam's form) when the
    /// user existed and lacks some of the plan's; `warnings` are the plan's fields that could
    /// not be written.
    UserResolved {
        user_id: u64,
        update: Option<serde_json::Value>,
        warnings: Vec<FieldWarning>,
    },
    /// The person was fetched and mapped: the event takes its hire and plan (JSON text), and
    /// its user resolution is queued.
    Fetched {
        hire: String,
        plan: String,
        rules_version: String,
    },
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
