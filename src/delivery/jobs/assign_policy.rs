//! `assign_policy`: give a user a time-off policy with the plan's starting balance. Connecteam
//! has no batch endpoint for it: one PUT per user and policy, documented as safe to repeat.

use async_trait::async_trait;

use crate::connecteam::{self, Client};
use crate::delivery::claimed::{Claimed, Outcome};
use crate::delivery::job::{Batches, Batching, Job};
use crate::delivery::round::{Interrupt, Round};
use crate::domain::{Operation, OperationKind};

/// Policy assignments per round.
const POLICY_BATCH: u32 = 50;

pub struct AssignPolicy {
    client: Client,
}

impl AssignPolicy {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl Job for AssignPolicy {
    fn kind(&self) -> OperationKind {
        OperationKind::AssignPolicy
    }

    fn budget(&self) -> &'static str {
        connecteam::BUDGET
    }

    fn batching(&self) -> Batching {
        Batching {
            claim: POLICY_BATCH,
            calls: POLICY_BATCH,
            batches: Batches::Whole,
            fill: None,
        }
    }

    async fn run(&self, round: &mut Round<'_>, batch: Vec<Claimed>) -> Result<(), Interrupt> {
        let client = self.client.with_gate(round.gate());
        for op in &batch {
            let Operation::AssignPolicy(grant) = &op.operation else {
                continue;
            };
            let Some(user) = op.user_id else {
                round.settle(
                    op,
                    Outcome::Dead("the event has no Connecteam user".to_owned()),
                );
                continue;
            };
            let call = client.assign_policy(
                &grant.id,
                user,
                grant.balance.map(|b| b.value()),
                grant.unit.map(|u| u.as_str()),
                &op.idempotency_key,
            );
            // The PUT is safe to repeat: an unseen outcome is simply retried.
            let outcome = match round.send(call).await? {
                Ok(()) => Outcome::Done,
                Err(f) => Outcome::Failed(f),
            };
            round.settle(op, outcome);
            // Each PUT is committed as soon as it is answered: repeating one (after a crash)
            // would set its balance again, taking back time off used meanwhile.
            round.commit().await?;
        }
        Ok(())
    }
}
