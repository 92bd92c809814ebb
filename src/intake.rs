//! From a verified, decoded event to what the store commits: the plan the current rule table
//! gives, and the first operation that will carry it out in Connecteam.

use crate::domain::{EventStatus, Operation};
use crate::rules::{Matches, RuleSet};
use crate::sources::{Content, Item};
use crate::store::{NewEvent, NewOperation};

/// A new ULID event id: sortable by arrival, unique across replicas.
pub fn new_event_id() -> String {
    ulid::Ulid::generate().to_string()
}

/// Build the event row and its operations.
pub fn build_event(source: &str, item: Item, rules: &RuleSet, received_at_ms: i64) -> NewEvent {
    prepare_event(source, item, rules, received_at_ms).0
}

/// [`build_event`], plus the rules the hire matched, to be recorded ([`Matches::record`]) only
/// once the store has accepted the event.
pub fn prepare_event(
    source: &str,
    item: Item,
    rules: &RuleSet,
    received_at_ms: i64,
) -> (NewEvent, Matches) {
    let id = new_event_id();
    let Item {
        dedupe_key,
        fingerprint,
        content,
    } = item;
    match content {
        Content::Ignored { raw, .. } => (
            NewEvent {
                id,
                source: source.to_owned(),
                dedupe_key,
                fingerprint,
                received_at_ms,
                status: EventStatus::Ignored,
                hire: raw,
                payload: None,
                plan: None,
                rules_version: None,
                operations: Vec::new(),
            },
            Matches::default(),
        ),
        Content::Fetch { request, raw } => (
            NewEvent {
                operations: vec![NewOperation::pending(
                    &id,
                    Operation::FetchPerson {
                        source: source.to_owned(),
                        request,
                    },
                )],
                id,
                source: source.to_owned(),
                dedupe_key,
                fingerprint,
                received_at_ms,
                status: EventStatus::Accepted,
                // No hire until the person is fetched; the event as the sender sent it.
                hire: "null".to_owned(),
                payload: Some(raw),
                plan: None,
                rules_version: None,
            },
            Matches::default(),
        ),
        Content::Hire(hire) => {
            let (plan, matches) = rules.evaluate_for_intake(Some(source), &hire);
            let operations = vec![first_operation(&id)];
            let event = NewEvent {
                source: source.to_owned(),
                dedupe_key,
                fingerprint,
                received_at_ms,
                status: EventStatus::Accepted,
                hire: serde_json::to_string(&*hire).unwrap_or_default(),
                payload: None,
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
/// ([`crate::domain::Plan::operations`]) are queued in the transaction that records the user.
/// Intake writes two rows per hire instead of one per pack and policy more, and nothing the
/// plan implies can be lost in between.
pub fn first_operation(event_id: &str) -> NewOperation {
    NewOperation::pending(event_id, Operation::ResolveUser)
}
