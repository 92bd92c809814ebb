//! What to change so that an event's stored operations carry out its plan: the plan's
//! operations compared with the operations that exist. Used when the user becomes known (the
//! plan's work is queued) and when a replay gives the event a new plan.

use super::operation::{Operation, OperationKind, OperationStatus};

/// One stored operation of the event, as the comparison needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Existing {
    pub id: i64,
    /// Its place in the event.
    pub seq: i64,
    pub kind: OperationKind,
    pub target: String,
    pub status: OperationStatus,
}

/// The changes, for the store to apply in one transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    /// Operations the plan has and the event does not, with the places they take.
    pub insert: Vec<(i64, Operation)>,
    /// Failed operations the plan keeps: re-queued by a replay, with the plan's parameters
    /// (a balance may have changed).
    pub reparameterise: Vec<(i64, Operation)>,
    /// Failed operations the plan no longer has: not retried any more.
    pub supersede: Vec<i64>,
    /// Operations a plan dropped earlier (superseded) that this plan has again: queued again,
    /// with its parameters.
    pub revive: Vec<(i64, Operation)>,
}

/// Compare `wanted` (the plan's operations, in plan order) with `existing`. Work that is done
/// or under way is left as it is; only failed work follows the plan.
pub fn reconcile(wanted: &[Operation], existing: &[Existing]) -> Changes {
    let mut changes = Changes::default();
    let mut next_seq = existing.iter().map(|e| e.seq + 1).max().unwrap_or(1).max(1);
    let find = |op: &Operation| {
        let target = op.target();
        existing
            .iter()
            .find(|e| e.kind == op.kind() && e.target == target)
    };
    for op in wanted {
        match find(op) {
            None => {
                changes.insert.push((next_seq, op.clone()));
                next_seq += 1;
            }
            Some(e) if e.status == OperationStatus::Dead => {
                changes.reparameterise.push((e.id, op.clone()));
            }
            Some(e) if e.status == OperationStatus::Superseded => {
                changes.revive.push((e.id, op.clone()));
            }
            Some(_) => {}
        }
    }
    for e in existing {
        let still_wanted = wanted
            .iter()
            .any(|op| op.kind() == e.kind && op.target() == e.target);
        // A plan never names the steps that precede it (the fetch, the user) nor the profile
        // update the user's resolution decides on.
        if e.status == OperationStatus::Dead
            && !matches!(
                e.kind,
                OperationKind::ResolveUser
                    | OperationKind::FetchPerson
                    | OperationKind::UpdateProfile
            )
            && !still_wanted
        {
            changes.supersede.push(e.id);
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn existing(id: i64, seq: i64, op: &Operation, status: OperationStatus) -> Existing {
        Existing {
            id,
            seq,
            kind: op.kind(),
            target: op.target(),
            status,
        }
    }

    #[test]
    fn a_new_plan_adds_what_is_missing_and_drops_what_failed() {
        let p1 = Operation::AssignPack { pack: 1 };
        let p2 = Operation::AssignPack { pack: 2 };
        let p3 = Operation::AssignPack { pack: 3 };
        let have = [
            existing(10, 0, &Operation::ResolveUser, OperationStatus::Done),
            existing(11, 1, &p1, OperationStatus::Done),
            existing(12, 2, &p2, OperationStatus::Dead),
        ];
        // The new plan keeps p1, drops p2 (failed: superseded) and adds p3.
        let c = reconcile(&[p1.clone(), p3.clone()], &have);
        assert_eq!(c.insert, vec![(3, p3.clone())]);
        assert_eq!(c.supersede, vec![12]);
        assert!(c.reparameterise.is_empty());
        // A plan that keeps the failed one re-queues it with its parameters.
        let c = reconcile(std::slice::from_ref(&p2), &have);
        assert_eq!(c.reparameterise, vec![(12, p2.clone())]);
        assert!(c.insert.is_empty() && c.supersede.is_empty());
        // Once superseded, a later plan that has it again brings it back.
        let dropped = [
            have[0].clone(),
            have[1].clone(),
            existing(12, 2, &p2, OperationStatus::Superseded),
        ];
        let c = reconcile(&[p1.clone(), p2.clone()], &dropped);
        assert_eq!(c.revive, vec![(12, p2)]);
        assert!(c.insert.is_empty() && c.supersede.is_empty() && c.reparameterise.is_empty());
        assert_eq!(reconcile(&[p1], &dropped), Changes::default());
    }

    #[test]
    fn before_the_user_is_known_every_planned_operation_is_inserted_after_it() {
        let have = [existing(
            1,
            0,
            &Operation::ResolveUser,
            OperationStatus::Pending,
        )];
        let plan = [
            Operation::AssignPack { pack: 7 },
            Operation::AssignPack { pack: 8 },
        ];
        let c = reconcile(&plan, &have);
        assert_eq!(c.insert, vec![(1, plan[0].clone()), (2, plan[1].clone())]);
        // Resolved twice (a replica whose lease ran out): the second inserts nothing.
        let again = [
            have[0].clone(),
            existing(2, 1, &plan[0], OperationStatus::Pending),
            existing(3, 2, &plan[1], OperationStatus::Pending),
        ];
        assert_eq!(reconcile(&plan, &again), Changes::default());
    }
}
