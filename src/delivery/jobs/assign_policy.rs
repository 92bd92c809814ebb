//! `assign_policy`: give a user a time-off policy with the plan's starting balance. Connecteam
//! has no batch endpoint for it: one PUT per user and policy. A repeat is safe for the
//! assignment but sets the balance again, taking back time off used meanwhile: each PUT is
//! marked ambiguous before it is sent and committed as soon as it is answered, and one whose
//! answer was not seen is not sent again while the user's balance shows it landed, and a
//! policy hirebridge already gave the same user for another event is not given again.

use std::collections::HashMap;

use async_trait::async_trait;

use crate::connecteam::{self, Client, PolicyBalance};
use crate::delivery::claimed::{Claimed, Outcome};
use crate::delivery::job::{Batches, Batching, Job};
use crate::delivery::round::{Interrupt, Round};
use crate::domain::{Operation, OperationKind, PolicyGrant};
use crate::remote::Failure;

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

    fn budget(&self) -> &str {
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
        // Policy id → its type, read once a round and only when a PUT's answer was lost.
        let mut types: Option<HashMap<String, String>> = None;
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
            if op.done_for_user {
                // hirebridge gave this user the policy for another event of the same person
                // (a re-sent hire, a second source): a PUT again would reset the balance and
                // take back the time off used since.
                round.settle(op, Outcome::Done);
                continue;
            }
            if op.ambiguous {
                let seen = match read_back(round, &client, &mut types, grant, user).await? {
                    Ok(true) => Some(Outcome::Done),
                    Ok(false) => None,
                    Err(f) => Some(Outcome::Failed(f)),
                };
                if let Some(outcome) = seen {
                    round.settle(op, outcome);
                    round.commit().await?;
                    continue;
                }
            } else {
                round.mark_ambiguous([op]).await?;
            }
            let call = client.assign_policy(
                &grant.id,
                user,
                grant.balance.map(|b| b.value()),
                grant.unit.map(|u| u.as_str()),
                &op.idempotency_key,
            );
            let outcome = match round.send(call).await? {
                Ok(()) => Outcome::Done,
                Err(f) => Outcome::Failed(f),
            };
            round.settle(op, outcome);
            // Each PUT is committed as soon as it is answered, so that only one whose answer
            // was lost is ever read back.
            round.commit().await?;
        }
        Ok(())
    }
}

/// Whether a PUT whose answer was lost landed, from the user's balance under the policy's
/// type. The account's policy types are read once a round, on the first such PUT.
async fn read_back(
    round: &mut Round<'_>,
    client: &Client,
    types: &mut Option<HashMap<String, String>>,
    grant: &PolicyGrant,
    user: u64,
) -> Result<Result<bool, Failure>, Interrupt> {
    if types.is_none() {
        match round.send(client.policy_types()).await? {
            Ok(t) => *types = Some(policy_type_index(t)),
            Err(f) => return Ok(Err(f)),
        }
    }
    // A policy gone from the account was not assigned; the PUT will say why.
    let Some(type_id) = types.as_ref().and_then(|t| t.get(&grant.id)).cloned() else {
        return Ok(Ok(false));
    };
    Ok(round
        .send(client.policy_balances(&type_id, user))
        .await?
        .map(|held| landed(grant, &held)))
}

fn policy_type_index(types: Vec<connecteam::PolicyType>) -> HashMap<String, String> {
    types
        .into_iter()
        .flat_map(|t| {
            let type_id = t.id;
            t.policies.into_iter().map(move |p| (p.id, type_id.clone()))
        })
        .collect()
}

/// Whether the user's balance under the policy's type shows the PUT landed: they hold the
/// policy, with the plan's starting balance when it has one. A different balance (a rehire's
/// old one) is set again.
fn landed(grant: &PolicyGrant, held: &[PolicyBalance]) -> bool {
    held.iter().any(|b| {
        b.policy_id == grant.id
            && grant
                .balance
                .is_none_or(|want| (b.balance - want.value()).abs() < 1e-9)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(balance: Option<f64>) -> PolicyGrant {
        serde_json::from_value(
            serde_json::json!({"id": "pol-1", "balance": balance, "unit": "days"}),
        )
        .unwrap()
    }

    fn held(policy: &str, balance: f64) -> PolicyBalance {
        PolicyBalance {
            user_id: 7,
            policy_id: policy.to_owned(),
            balance,
            units: Some("days".to_owned()),
        }
    }

    #[test]
    fn a_put_landed_when_the_user_holds_the_policy_at_the_plans_balance() {
        assert!(landed(&grant(Some(15.0)), &[held("pol-1", 15.0)]));
        assert!(landed(&grant(None), &[held("pol-1", 3.0)]));
        // Another policy of the type, or the same one at another balance: send it.
        assert!(!landed(&grant(Some(15.0)), &[held("pol-2", 15.0)]));
        assert!(!landed(&grant(Some(15.0)), &[held("pol-1", 2.0)]));
        assert!(!landed(&grant(Some(15.0)), &[]));
    }
}
