//! From a verified, normalised event to what the store commits: the plan the current rule
//! table gives, and the operations that will carry it out in Connecteam.

use sha2::{Digest, Sha256};

use crate::connecteam::idempotency_key;
use crate::rules::{Matches, Plan, RuleSet};
use crate::sources::Normalized;
use crate::store::{EventStatus, NewEvent, NewOperation, OperationKind, OperationStatus};

/// Fingerprint of a body: SHA-256 of its canonical JSON (keys sorted, no whitespace), so a
/// resend that only differs in formatting or key order still counts as the same event.
pub fn fingerprint(body: &serde_json::Value) -> String {
    // serde_json's map is ordered (BTreeMap) without the preserve_order feature.
    let canonical = serde_json::to_vec(body).unwrap_or_default();
    hex::encode(Sha256::digest(&canonical))
}

/// A new ULID event id: sortable by arrival, unique across replicas.
pub fn new_event_id() -> String {
    ulid::Ulid::generate().to_string()
}

/// Build the event row and its operations.
pub fn build_event(
    source: &str,
    normalized: Normalized,
    fingerprint: String,
    rules: &RuleSet,
    raw_body: &serde_json::Value,
    received_at_ms: i64,
) -> NewEvent {
    prepare_event(
        source,
        normalized,
        fingerprint,
        rules,
        raw_body,
        received_at_ms,
    )
    .0
}

/// [`build_event`], plus the rules the hire matched, to be recorded ([`Matches::record`]) only
/// once the store has accepted the event.
pub fn prepare_event(
    source: &str,
    normalized: Normalized,
    fingerprint: String,
    rules: &RuleSet,
    raw_body: &serde_json::Value,
    received_at_ms: i64,
) -> (NewEvent, Matches) {
    let id = new_event_id();
    match normalized {
        Normalized::Ignored { dedupe_key, .. } => (
            NewEvent {
                id,
                source: source.to_owned(),
                dedupe_key,
                fingerprint,
                received_at_ms,
                status: EventStatus::Ignored,
                hire: raw_body.to_string(),
                plan: None,
                rules_version: None,
                operations: Vec::new(),
            },
            Matches::default(),
        ),
        Normalized::Hire { hire, dedupe_key } => {
            let (plan, matches) = rules.evaluate_for_intake(Some(source), &hire);
            let operations = vec![first_operation(&id)];
            let event = NewEvent {
                source: source.to_owned(),
                dedupe_key,
                fingerprint,
                received_at_ms,
                status: EventStatus::Accepted,
                hire: serde_json::to_string(&*hire).unwrap_or_default(),
                plan: Some(serde_json::to_string(&plan).unwrap_or_default()),
                rules_version: Some(plan.rules_version.clone()),
                operations,
                id,
            };
            (event, matches)
        }
    }
}

/// The operation intake commits with every hire: find or create its Connecteam user.
///
/// The plan's pack and policy operations cannot run before the user is known, so they are
/// not written at intake: the plan itself is committed with the event, and its operations
/// ([`planned_operations`]) are inserted in the transaction that records the user. Intake
/// writes two rows per hire instead of one per pack and policy more, and nothing the plan
/// implies can be lost in between.
pub fn first_operation(event_id: &str) -> NewOperation {
    NewOperation {
        kind: OperationKind::ResolveUser,
        target: String::new(),
        params: serde_json::json!({}),
        status: OperationStatus::Pending,
        idempotency_key: idempotency_key(event_id, "user"),
    }
}

/// One operation per pack and per policy of the plan, in plan order, all due at once. Their
/// place in the event follows the `resolve_user` operation (seq 1, 2, …).
pub fn planned_operations(event_id: &str, plan: &Plan) -> Vec<NewOperation> {
    let mut ops = Vec::with_capacity(plan.packs.len() + plan.policies.len());
    for pack in &plan.packs {
        ops.push(NewOperation {
            kind: OperationKind::AssignPack,
            target: pack.to_string(),
            params: serde_json::json!({}),
            status: OperationStatus::Pending,
            idempotency_key: idempotency_key(event_id, &format!("pack/{pack}")),
        });
    }
    for policy in &plan.policies {
        let mut params = serde_json::to_value(policy).unwrap_or_default();
        if let Some(m) = params.as_object_mut() {
            m.remove("id");
        }
        ops.push(NewOperation {
            kind: OperationKind::AssignPolicy,
            target: policy.id.clone(),
            params,
            status: OperationStatus::Pending,
            idempotency_key: idempotency_key(event_id, &format!("policy/{}", policy.id)),
        });
    }
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_ignores_formatting_and_key_order() {
        let a: serde_json::Value = serde_json::from_str(r#"{"a":1,"b":{"c":2}}"#).unwrap();
        let b: serde_json::Value =
            serde_json::from_str("{ \"b\": {\"c\": 2},\n \"a\": 1 }").unwrap();
        let c: serde_json::Value = serde_json::from_str(r#"{"a":1,"b":{"c":3}}"#).unwrap();
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(&a), fingerprint(&c));
    }

    #[test]
    fn idempotency_keys_are_stable_and_distinct() {
        assert_eq!(idempotency_key("e1", "user"), idempotency_key("e1", "user"));
        assert_ne!(idempotency_key("e1", "user"), idempotency_key("e2", "user"));
        assert_ne!(
            idempotency_key("e1", "pack/1"),
            idempotency_key("e1", "pack/2")
        );
        assert_eq!(idempotency_key("e1", "user").len(), 35);
    }
}
