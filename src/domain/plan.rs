//! What a rule table gives one hire: the plan. It is stored with every accepted event, so an
//! operator can later see why a hire got what it got, even after the table changed, and the
//! operations that carry it out are derived from it ([`Plan::operations`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::grant::PolicyGrant;
use super::operation::Operation;

/// The contract's `POST /v1/rules/evaluate` object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The version (content hash) of the table that produced this plan.
    pub rules_version: String,
    /// Names of the rules that matched, in table order.
    pub matched: Vec<String>,
    /// Onboarding pack ids, each once, in first-assigned order.
    pub packs: Vec<u64>,
    /// Time-off policies, each id once, with the first matching rule's balance.
    pub policies: Vec<PolicyGrant>,
    /// Connecteam custom fields by name (as the table writes it), values after templating:
    /// the first matching rule that gives a field a value, else the table's `profile`.
    /// (Plans stored before custom fields existed have none.)
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// Whether Connecteam sends the new user its activation SMS: the first matching rule's
    /// `activation`, else `connecteam.send_activation`.
    #[serde(default)]
    pub activation: bool,
}

/// Why one of a plan's custom fields was not written on the hire's Connecteam user. Stored on
/// the event and shown with it; the rest of the plan goes through all the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldWarning {
    /// The field's name, as the rule table writes it.
    pub field: String,
    /// Why, as a metric label: `unknown_field`, `no_such_option`, `invalid_value`,
    /// `manager_not_found`, `unsupported_type`, `refused`.
    pub reason: String,
    pub message: String,
}

impl FieldWarning {
    pub fn new(field: &str, reason: &str, message: String) -> Self {
        Self {
            field: field.to_owned(),
            reason: reason.to_owned(),
            message,
        }
    }
}

impl Plan {
    /// The operations that carry the plan out once the hire's user is known: one per pack and
    /// one per policy, in plan order.
    pub fn operations(&self) -> Vec<Operation> {
        self.packs
            .iter()
            .map(|&pack| Operation::AssignPack { pack })
            .chain(self.policies.iter().cloned().map(Operation::AssignPolicy))
            .collect()
    }
}
