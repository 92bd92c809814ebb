//! What an event is doing, derived from its operations: the rule behind the statuses the API
//! shows (CONTRACT.md).

use serde::{Deserialize, Serialize};

use super::operation::{OperationKind, OperationStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    Accepted,
    WaitingForUser,
    Delivering,
    Done,
    Failed,
    Ignored,
}

/// What the status rule reads of one operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperationState {
    pub kind: OperationKind,
    pub status: OperationStatus,
    pub attempts: i32,
}

impl EventStatus {
    pub const ALL: [EventStatus; 6] = [
        EventStatus::Accepted,
        EventStatus::WaitingForUser,
        EventStatus::Delivering,
        EventStatus::Done,
        EventStatus::Failed,
        EventStatus::Ignored,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventStatus::Accepted => "accepted",
            EventStatus::WaitingForUser => "waiting_for_user",
            EventStatus::Delivering => "delivering",
            EventStatus::Done => "done",
            EventStatus::Failed => "failed",
            EventStatus::Ignored => "ignored",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// The status of an event that was acted on, from its operations, first rule that holds:
    /// `failed` when one is dead-lettered; `done` when every one is done (or superseded by a
    /// later plan); `waiting_for_user` while its user resolution waits for the user to appear;
    /// `delivering` once any work was attempted; else `accepted`. (`ignored` events have no
    /// operations and keep their status.)
    pub fn derive(operations: &[OperationState]) -> EventStatus {
        use OperationStatus as S;
        let any = |f: &dyn Fn(&OperationState) -> bool| operations.iter().any(f);
        if any(&|o| o.status == S::Dead) {
            EventStatus::Failed
        } else if !any(&|o| !matches!(o.status, S::Done | S::Superseded)) {
            EventStatus::Done
        } else if any(&|o| o.kind == OperationKind::ResolveUser && o.status == S::Waiting) {
            EventStatus::WaitingForUser
        } else if any(&|o| o.attempts > 0 || o.status == S::Done) {
            EventStatus::Delivering
        } else {
            EventStatus::Accepted
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OperationKind as K;
    use OperationStatus as S;

    fn op(kind: OperationKind, status: OperationStatus, attempts: i32) -> OperationState {
        OperationState {
            kind,
            status,
            attempts,
        }
    }

    #[test]
    fn the_status_follows_the_operations() {
        let fresh = [op(K::ResolveUser, S::Pending, 0)];
        assert_eq!(EventStatus::derive(&fresh), EventStatus::Accepted);
        let retried = [op(K::ResolveUser, S::Pending, 1)];
        assert_eq!(EventStatus::derive(&retried), EventStatus::Delivering);
        let waiting = [op(K::ResolveUser, S::Waiting, 0)];
        assert_eq!(EventStatus::derive(&waiting), EventStatus::WaitingForUser);
        let underway = [
            op(K::ResolveUser, S::Done, 1),
            op(K::AssignPack, S::Pending, 0),
        ];
        assert_eq!(EventStatus::derive(&underway), EventStatus::Delivering);
        let done = [
            op(K::ResolveUser, S::Done, 1),
            op(K::AssignPack, S::Done, 1),
            op(K::AssignPolicy, S::Superseded, 3),
        ];
        assert_eq!(EventStatus::derive(&done), EventStatus::Done);
        let failed = [
            op(K::ResolveUser, S::Done, 1),
            op(K::AssignPack, S::Dead, 1),
            op(K::AssignPolicy, S::Pending, 0),
        ];
        assert_eq!(EventStatus::derive(&failed), EventStatus::Failed);
    }
}
