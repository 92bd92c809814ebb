//! `assign_pack`: put users in an onboarding pack. Every due user of a pack, gathered over
//! `delivery.batch_window_ms`, goes in one POST of at most 500 ids. The POST is
//! all-or-nothing: a 422 is bisected to isolate the refused ids and assign the rest. Before a
//! POST is sent its operations are marked ambiguous; one whose outcome was not seen is never
//! repeated blindly: the pack's assignments are read first and only the missing users are
//! sent. A user hirebridge already put in the pack for another event (the same person hired
//! twice) is not sent again; one assigned by someone else is, and Connecteam's answer (or,
//! for a refusal, the pack's assignments) says it is done.

use std::collections::HashSet;

use async_trait::async_trait;

use crate::connecteam::{self, Client, MAX_PACK_ASSIGN};
use crate::delivery::bisect::{Bisect, Refusal, names_number};
use crate::delivery::claimed::{Claimed, Outcome};
use crate::delivery::job::{Batches, Batching, Job};
use crate::delivery::round::{Interrupt, Round};
use crate::domain::{Operation, OperationKind, idempotency};
use crate::remote::Failure;

pub struct AssignPack {
    client: Client,
}

impl AssignPack {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

/// One user of the pack, with every operation (of several events) that assigns them.
struct PackUser {
    user: u64,
    ops: Vec<Claimed>,
}

#[async_trait]
impl Job for AssignPack {
    fn kind(&self) -> OperationKind {
        OperationKind::AssignPack
    }

    fn budget(&self) -> &str {
        connecteam::BUDGET
    }

    fn batching(&self) -> Batching {
        Batching {
            claim: 5 * MAX_PACK_ASSIGN as u32,
            calls: 40,
            batches: Batches::ByTarget,
            fill: Some(MAX_PACK_ASSIGN),
        }
    }

    /// One pack's due users (the runner batches by target).
    async fn run(&self, round: &mut Round<'_>, batch: Vec<Claimed>) -> Result<(), Interrupt> {
        let client = self.client.with_gate(round.gate());
        let Some(Operation::AssignPack { pack }) = batch.first().map(|o| o.operation.clone())
        else {
            return Ok(());
        };
        let mut users: Vec<PackUser> = Vec::new();
        for op in batch {
            let Some(user) = op.user_id else {
                round.settle(
                    &op,
                    Outcome::Dead("the event has no Connecteam user".to_owned()),
                );
                continue;
            };
            if op.done_for_user {
                // hirebridge assigned this user the pack for another event: not again.
                round.settle(&op, Outcome::Done);
                continue;
            }
            match users.iter_mut().find(|u| u.user == user) {
                Some(u) => u.ops.push(op),
                None => users.push(PackUser {
                    user,
                    ops: vec![op],
                }),
            }
        }

        // A POST whose outcome was not seen is never repeated blindly: read the pack first.
        if users.iter().flat_map(|u| &u.ops).any(|o| o.ambiguous) {
            match round.send(client.pack_assignments(pack)).await? {
                Ok(assigned) => {
                    let assigned: HashSet<u64> = assigned.iter().map(|a| a.user_id).collect();
                    users.retain(|u| {
                        if assigned.contains(&u.user) {
                            for op in &u.ops {
                                round.settle(op, Outcome::Done);
                            }
                            false
                        } else {
                            true
                        }
                    });
                }
                Err(f) => {
                    settle_all(round, users.iter().flat_map(|u| &u.ops), &f);
                    return Ok(());
                }
            }
        }

        let mut work = Bisect::new(users, MAX_PACK_ASSIGN);
        while let Some(chunk) = work.next_chunk() {
            let ids: Vec<u64> = chunk.iter().map(|u| u.user).collect();
            round
                .mark_ambiguous(chunk.iter().flat_map(|u| &u.ops))
                .await?;
            let key = idempotency::for_batch(
                chunk
                    .iter()
                    .flat_map(|u| &u.ops)
                    .map(|o| o.event_id.as_str()),
                &format!("pack/{pack}"),
            );
            match round.send(client.assign_pack(pack, &ids, &key)).await? {
                Ok(()) => {
                    metrics::histogram!("hirebridge_delivery_pack_users_per_request")
                        .record(ids.len() as f64);
                    for op in chunk.iter().flat_map(|u| &u.ops) {
                        round.settle(op, Outcome::Done);
                    }
                }
                // All-or-nothing: find the refused users and assign the rest.
                Err(Failure::Permanent(422, detail)) => {
                    match work.refused(chunk, &detail, |u| names_number(&detail, u.user)) {
                        Refusal::Later => {}
                        Refusal::All(users) => settle_all(
                            round,
                            users.iter().flat_map(|u| &u.ops),
                            &Failure::Permanent(422, detail),
                        ),
                        Refusal::Named(users) => {
                            // Refused users may be assigned already (undocumented behaviour) or
                            // invalid: only the pack's own assignments can tell; without them,
                            // nothing is dead-lettered.
                            match round.send(client.pack_assignments(pack)).await? {
                                Ok(a) => {
                                    let assigned: HashSet<u64> =
                                        a.iter().map(|a| a.user_id).collect();
                                    for u in &users {
                                        let outcome = if assigned.contains(&u.user) {
                                            Outcome::Done
                                        } else {
                                            Outcome::Failed(Failure::Permanent(422, detail.clone()))
                                        };
                                        for op in &u.ops {
                                            round.settle(op, outcome.clone());
                                        }
                                    }
                                }
                                Err(f) => settle_all(round, users.iter().flat_map(|u| &u.ops), &f),
                            }
                        }
                    }
                }
                Err(f) => settle_all(round, chunk.iter().flat_map(|u| &u.ops), &f),
            }
        }
        Ok(())
    }
}

fn settle_all<'o>(round: &mut Round<'_>, ops: impl Iterator<Item = &'o Claimed>, f: &Failure) {
    for op in ops {
        round.settle(op, Outcome::Failed(f.clone()));
    }
}
