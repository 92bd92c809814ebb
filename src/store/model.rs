//! What crosses the store's boundary: events and operations as intake hands them over, as the
//! operator API reads them back, and as the delivery queue claims and settles them.

use serde::Serialize;

use crate::domain::{EventStatus, FieldWarning, Operation, OperationKind, OperationStatus, Plan};

/// An event as intake hands it to the store.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub id: String,
    pub source: String,
    pub dedupe_key: String,
    /// A digest of the body that tells a repeat from a conflicting reuse of the key.
    pub fingerprint: String,
    pub received_at_ms: i64,
    pub status: EventStatus,
    /// The canonical hire, as JSON text (serialised by the request, not by the writer that
    /// every request waits for).
    pub hire: String,
    /// The plan the rule table gave, as JSON text.
    pub plan: Option<String>,
    pub rules_version: Option<String>,
    /// The event as its sender sent it (JSON or XML text), kept for an event whose hire is
    /// completed later in the pipeline (a person fetched from the sender's API).
    pub payload: Option<String>,
    pub operations: Vec<NewOperation>,
}

/// An operation to store, due at once.
#[derive(Debug, Clone, PartialEq)]
pub struct NewOperation {
    pub operation: Operation,
    pub status: OperationStatus,
    pub idempotency_key: String,
}

impl NewOperation {
    /// `operation` of `event_id`, pending, with the key every attempt of it carries.
    pub fn pending(event_id: &str, operation: Operation) -> Self {
        Self {
            idempotency_key: operation.idempotency_key(event_id),
            operation,
            status: OperationStatus::Pending,
        }
    }
}

/// What committing an event amounted to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntakeOutcome {
    Accepted {
        event_id: String,
    },
    /// The same dedupe key with the same body: nothing new was stored.
    Duplicate {
        event_id: String,
    },
    /// The same dedupe key with a different body.
    Conflict {
        event_id: String,
    },
}

/// An event as read back.
#[derive(Debug, Clone, Serialize)]
pub struct EventRecord {
    pub event_id: String,
    pub source: String,
    pub dedupe_key: String,
    pub status: EventStatus,
    pub received_at_ms: i64,
    pub hire: serde_json::Value,
    pub plan: Option<serde_json::Value>,
    pub rules_version: Option<String>,
    pub connecteam_user_id: Option<i64>,
    /// The event as its sender sent it, for an event whose hire is completed in the pipeline.
    pub payload: Option<String>,
    /// The plan's custom fields that could not be written on the event's user, and why.
    pub field_warnings: Vec<FieldWarning>,
    /// The operations stored so far, in their order in the event.
    pub operations: Vec<OperationRecord>,
}

impl EventRecord {
    /// The event with the work its plan implies but the store does not hold yet. Before its
    /// user is known an event holds only its `resolve_user` operation; the plan's operations
    /// are stored when the user is. They are shown all the same, as `blocked`, so an operator
    /// sees every piece of work the event implies from the moment it is accepted.
    pub fn with_planned_operations(mut self) -> Self {
        if self.operations.iter().any(|o| {
            matches!(
                o.kind,
                OperationKind::AssignPack | OperationKind::AssignPolicy
            )
        }) {
            return self;
        }
        let Some(plan) = self
            .plan
            .clone()
            .and_then(|p| serde_json::from_value::<Plan>(p).ok())
        else {
            return self;
        };
        for op in plan.operations() {
            self.operations.push(OperationRecord {
                id: 0,
                kind: op.kind(),
                target: op.target(),
                params: op.params(),
                status: OperationStatus::Blocked,
                attempts: 0,
                next_attempt_at_ms: self.received_at_ms,
                last_error: None,
                idempotency_key: op.idempotency_key(&self.event_id),
            });
        }
        self
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct OperationRecord {
    pub id: i64,
    pub kind: OperationKind,
    pub target: String,
    pub params: serde_json::Value,
    pub status: OperationStatus,
    pub attempts: i32,
    pub next_attempt_at_ms: i64,
    pub last_error: Option<String>,
    pub idempotency_key: String,
}

/// The plan the rule table in force gives an event's hire, for a replay.
#[derive(Debug, Clone)]
pub struct Replan {
    pub plan: Plan,
}

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Replayed {
    /// Failed operations put back on the queue.
    pub requeued: u64,
    /// Operations a changed plan added.
    pub added: u64,
    /// Failed operations a changed plan dropped.
    pub superseded: u64,
    /// Whether the event took a new plan.
    pub plan_changed: bool,
}

/// A row of `GET /v1/events`.
#[derive(Debug, Clone, Serialize)]
pub struct EventSummary {
    pub event_id: String,
    pub source: String,
    pub status: EventStatus,
    pub received_at_ms: i64,
}

#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub status: Option<EventStatus>,
    pub source: Option<String>,
    /// Return events with an id lower than this (newest first).
    pub before: Option<String>,
    pub limit: u32,
}

/// An operation handed to the delivery engine, with what it needs from its event. Its
/// operation is as stored (kind, target, parameters): the engine reads it with
/// [`Operation::from_stored`], so one unreadable row is dead-lettered rather than failing
/// the claim of every other.
#[derive(Debug, Clone)]
pub struct ClaimedOp {
    pub id: i64,
    pub event_id: String,
    pub kind: OperationKind,
    pub target: String,
    pub params: serde_json::Value,
    pub attempts: i32,
    /// A write's outcome was not seen: read back before repeating it.
    pub ambiguous: bool,
    pub created_at_ms: i64,
    /// When it began waiting for its user (a waiting user resolution).
    pub waiting_since_ms: Option<i64>,
    /// When it first fell due (for batching windows): deferring an operation while its batch
    /// fills does not move this.
    pub due_at_ms: i64,
    pub idempotency_key: String,
    /// The event's canonical hire, as stored.
    pub hire: serde_json::Value,
    /// The event's plan, as stored.
    pub plan: Option<serde_json::Value>,
    /// The event's Connecteam user, once resolved.
    pub user_id: Option<i64>,
    /// The same work (kind and target) is done for the same user through another event.
    pub done_for_user: bool,
}

/// A state change of one operation. A batch of them commits in one transaction, and the
/// status of every event they touch is derived again in that transaction. Every change is
/// guarded by the lease: one whose lease the committer no longer holds is skipped.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    /// Carried out; `warnings` (custom fields Connecteam would not take) are added to the
    /// event's.
    Done {
        op_id: i64,
        warnings: Vec<FieldWarning>,
    },
    /// The event's user is known: the `resolve_user` operation is done, and the operations
    /// of the plan in force (stored with the event at that moment) that the event does not
    /// have yet are inserted, due now, with `update` (the profile update of a user that
    /// existed) first. The event's field warnings become `warnings`.
    UserResolved {
        op_id: i64,
        user_id: i64,
        update: Option<Operation>,
        warnings: Vec<FieldWarning>,
    },
    /// The person was fetched from the sender's API: the `fetch_person` operation is done, the
    /// event takes its hire and the plan the rule table gave it, and its `resolve_user`
    /// operation is queued, due now.
    Fetched {
        op_id: i64,
        /// The canonical hire, as JSON text.
        hire: String,
        /// The plan, as JSON text.
        plan: String,
        rules_version: String,
    },
    /// Try again at `at_ms`. A rate-limited call does not count as an attempt.
    Retry {
        op_id: i64,
        at_ms: i64,
        error: String,
        count_attempt: bool,
        ambiguous: bool,
    },
    /// No Connecteam user yet: look again at `at_ms`.
    Wait {
        op_id: i64,
        at_ms: i64,
        note: String,
    },
    /// Permanently failed (or out of attempts); replay re-queues it.
    Dead { op_id: i64, error: String },
    /// Not handled this round (a batch still filling, or handed back): due again at `at_ms`,
    /// nothing else changes.
    Defer { op_id: i64, at_ms: i64 },
    /// About to send a write: if this process dies before it learns the outcome, whoever
    /// takes the operation over reads back first.
    Ambiguous { op_id: i64 },
}

impl Transition {
    pub fn op_id(&self) -> i64 {
        match self {
            Transition::Done { op_id, .. }
            | Transition::UserResolved { op_id, .. }
            | Transition::Fetched { op_id, .. }
            | Transition::Retry { op_id, .. }
            | Transition::Wait { op_id, .. }
            | Transition::Dead { op_id, .. }
            | Transition::Defer { op_id, .. }
            | Transition::Ambiguous { op_id } => *op_id,
        }
    }

    /// Whether it settles the operation (hands it back), as opposed to marking it in passing.
    pub fn releases(&self) -> bool {
        !matches!(self, Transition::Ambiguous { .. })
    }

    /// Whether it can change the status of the operation's event.
    fn moves_status(&self) -> bool {
        !matches!(
            self,
            Transition::Defer { .. } | Transition::Ambiguous { .. }
        )
    }

    /// The operations of a batch whose events' status must be derived again.
    pub(crate) fn status_movers(transitions: &[Transition]) -> Vec<i64> {
        transitions
            .iter()
            .filter(|t| t.moves_status())
            .map(Transition::op_id)
            .collect()
    }
}

/// Queue depth for metrics and operators.
#[derive(Debug, Clone, Serialize)]
pub struct QueueStat {
    pub kind: OperationKind,
    pub status: OperationStatus,
    pub count: i64,
    /// The earliest `next_attempt_at` among them.
    pub oldest_due_ms: Option<i64>,
}
