//! The work an accepted hire implies, one operation at a time.
//!
//! An operation is stored as its kind, a target (the pack or policy id) and its parameters
//! (a policy's balance); [`Operation`] is the typed form the rest of the code works with, and
//! [`Operation::from_stored`] reads the stored form back.

use serde::{Deserialize, Serialize};

use super::grant::{Balance, PolicyGrant, Unit};
use super::idempotency;

/// The kinds of work, and what the delivery queue claims by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationKind {
    /// Fetch the person from the sending system's API (its webhook carries only ids), map them
    /// to the canonical hire and plan it (target: the source's name).
    FetchPerson,
    /// Find the Connecteam user by email/phone, or create it.
    ResolveUser,
    /// Assign the user to one onboarding pack (target: the pack id).
    AssignPack,
    /// Assign the user to one time-off policy (target: the policy id).
    AssignPolicy,
    /// Write the plan's custom fields on a user that already existed (matched or restored):
    /// only the values that differ from the user's (params: `customFields`).
    UpdateProfile,
}

impl OperationKind {
    pub const ALL: [OperationKind; 5] = [
        OperationKind::FetchPerson,
        OperationKind::ResolveUser,
        OperationKind::UpdateProfile,
        OperationKind::AssignPack,
        OperationKind::AssignPolicy,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OperationKind::FetchPerson => "fetch_person",
            OperationKind::ResolveUser => "resolve_user",
            OperationKind::AssignPack => "assign_pack",
            OperationKind::AssignPolicy => "assign_policy",
            OperationKind::UpdateProfile => "update_profile",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// Where an operation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationStatus {
    /// Due at `next_attempt_at`.
    Pending,
    /// Waits for another operation of its event (the user must be resolved first).
    Blocked,
    /// No Connecteam user matches yet and none can be created: re-checked periodically.
    Waiting,
    Done,
    /// Permanently failed or out of attempts; `last_error` says why. Replay re-queues it.
    Dead,
    /// Failed, and dropped from the event's plan by a replay after the rule table changed:
    /// not retried, and no longer keeping the event from being done.
    Superseded,
}

impl OperationStatus {
    pub const ALL: [OperationStatus; 6] = [
        OperationStatus::Pending,
        OperationStatus::Blocked,
        OperationStatus::Waiting,
        OperationStatus::Done,
        OperationStatus::Dead,
        OperationStatus::Superseded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OperationStatus::Pending => "pending",
            OperationStatus::Blocked => "blocked",
            OperationStatus::Waiting => "waiting",
            OperationStatus::Done => "done",
            OperationStatus::Dead => "dead",
            OperationStatus::Superseded => "superseded",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// One piece of work with its parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    /// Fetch the person from `source`'s API with what its webhook said (`request`, the
    /// adapter's own form), then map and plan the hire.
    FetchPerson {
        source: String,
        request: serde_json::Value,
    },
    /// Find or create the hire's Connecteam user. Every hire has one, first.
    ResolveUser,
    /// Put the user in one onboarding pack.
    AssignPack { pack: u64 },
    /// Give the user one time-off policy, with the plan's starting balance.
    AssignPolicy(PolicyGrant),
    /// Write custom field values on the user: Connecteam's `[{customFieldId, value}]`, as
    /// the user resolution worked them out from the plan (only those that differ).
    UpdateProfile { custom_fields: serde_json::Value },
}

/// The stored parameters of a policy assignment (the grant without its id, which is the target).
#[derive(Serialize, Deserialize)]
struct PolicyParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    balance: Option<Balance>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    unit: Option<Unit>,
}

impl Operation {
    pub fn kind(&self) -> OperationKind {
        match self {
            Operation::FetchPerson { .. } => OperationKind::FetchPerson,
            Operation::ResolveUser => OperationKind::ResolveUser,
            Operation::AssignPack { .. } => OperationKind::AssignPack,
            Operation::AssignPolicy(_) => OperationKind::AssignPolicy,
            Operation::UpdateProfile { .. } => OperationKind::UpdateProfile,
        }
    }

    /// What it acts on, as stored and shown (`target`): the pack id, the policy id, the source
    /// a person is fetched from; empty for the user resolution.
    pub fn target(&self) -> String {
        match self {
            Operation::FetchPerson { source, .. } => source.clone(),
            Operation::ResolveUser | Operation::UpdateProfile { .. } => String::new(),
            Operation::AssignPack { pack } => pack.to_string(),
            Operation::AssignPolicy(grant) => grant.id.clone(),
        }
    }

    /// Its parameters, as stored and shown (`params`).
    pub fn params(&self) -> serde_json::Value {
        match self {
            Operation::FetchPerson { request, .. } => request.clone(),
            Operation::UpdateProfile { custom_fields } => {
                serde_json::json!({ "customFields": custom_fields })
            }
            Operation::ResolveUser | Operation::AssignPack { .. } => serde_json::json!({}),
            Operation::AssignPolicy(grant) => serde_json::to_value(PolicyParams {
                balance: grant.balance,
                unit: grant.unit,
            })
            .unwrap_or_else(|_| serde_json::json!({})),
        }
    }

    /// Read an operation back from its stored kind, target and parameters.
    pub fn from_stored(
        kind: OperationKind,
        target: &str,
        params: &serde_json::Value,
    ) -> Result<Operation, String> {
        match kind {
            OperationKind::FetchPerson => Ok(Operation::FetchPerson {
                source: target.to_owned(),
                request: params.clone(),
            }),
            OperationKind::ResolveUser => Ok(Operation::ResolveUser),
            OperationKind::UpdateProfile => match params.get("customFields") {
                Some(v @ serde_json::Value::Array(_)) => Ok(Operation::UpdateProfile {
                    custom_fields: v.clone(),
                }),
                _ => Err("profile update parameters hold no customFields list".to_owned()),
            },
            OperationKind::AssignPack => target
                .parse::<u64>()
                .map(|pack| Operation::AssignPack { pack })
                .map_err(|_| format!("pack id {target:?} is not a number")),
            OperationKind::AssignPolicy => {
                let p: PolicyParams = serde_json::from_value(params.clone())
                    .map_err(|e| format!("policy parameters are unreadable: {e}"))?;
                Ok(Operation::AssignPolicy(PolicyGrant {
                    id: target.to_owned(),
                    balance: p.balance,
                    unit: p.unit,
                }))
            }
        }
    }

    /// The `Idempotency-Key` every attempt of this operation of `event_id` carries.
    pub fn idempotency_key(&self, event_id: &str) -> String {
        let work = match self {
            Operation::FetchPerson { source, .. } => format!("fetch/{source}"),
            Operation::ResolveUser => "user".to_owned(),
            Operation::UpdateProfile { .. } => "profile".to_owned(),
            Operation::AssignPack { pack } => format!("pack/{pack}"),
            Operation::AssignPolicy(grant) => format!("policy/{}", grant.id),
        };
        idempotency::key(event_id, &work)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_read_back_as_they_were_stored() {
        let ops = [
            Operation::FetchPerson {
                source: "lever".into(),
                request: serde_json::json!({"opportunity_id": "opp-1"}),
            },
            Operation::ResolveUser,
            Operation::AssignPack { pack: 101 },
            Operation::AssignPolicy(PolicyGrant {
                id: "pol-vac".into(),
                balance: Balance::new(7.5),
                unit: Some(Unit::Days),
            }),
            Operation::AssignPolicy(PolicyGrant {
                id: "pol-sick".into(),
                balance: None,
                unit: None,
            }),
            Operation::UpdateProfile {
                custom_fields: serde_json::json!([{"customFieldId": 6208755, "value": "Picker"}]),
            },
        ];
        for op in ops {
            let back = Operation::from_stored(op.kind(), &op.target(), &op.params()).unwrap();
            assert_eq!(back, op);
        }
        assert_eq!(
            Operation::AssignPolicy(PolicyGrant {
                id: "p".into(),
                balance: Balance::new(15.0),
                unit: Some(Unit::Days)
            })
            .params(),
            serde_json::json!({"balance": 15, "unit": "days"})
        );
        assert!(
            Operation::from_stored(OperationKind::AssignPack, "x", &serde_json::json!({})).is_err()
        );
        assert!(
            Operation::from_stored(OperationKind::UpdateProfile, "", &serde_json::json!({}))
                .is_err()
        );
    }

    #[test]
    fn idempotency_keys_follow_the_operation() {
        let pack = Operation::AssignPack { pack: 1 };
        assert_eq!(pack.idempotency_key("e1"), idempotency::key("e1", "pack/1"));
        assert_eq!(
            Operation::ResolveUser.idempotency_key("e1"),
            idempotency::key("e1", "user")
        );
        assert_ne!(pack.idempotency_key("e1"), pack.idempotency_key("e2"));
    }
}
