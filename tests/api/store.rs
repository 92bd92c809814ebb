//! The store's queue contract, on both backends: leases decide who may change an operation,
//! and the plan's operations appear once the user is known.

use std::time::Duration;

use hirebridge::store::queue::Transition;
use hirebridge::store::{self, OperationKind, OperationStatus, Store};
use serde_json::Value;

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    a_lease_taken_over_belongs_to_the_new_owner,
    the_plan_becomes_operations_when_the_user_is_known,
    next_due_waits_for_a_live_lease,
    replay_restarts_the_wait_clock,
);

/// Commit one accepted hire as intake does; returns its event id.
async fn accept(store: &dyn Store) -> String {
    let rules = hirebridge::rules::RuleSet::parse("rules.yaml", TEST_RULES).expect("rules");
    let body = hire(&unique_id("evt"));
    let normalized =
        hirebridge::sources::generic::normalize(&body, "US", None).expect("a valid hire");
    let event = hirebridge::intake::build_event(
        "sw",
        normalized,
        hirebridge::intake::fingerprint(&body),
        &rules,
        &body,
        store::now_ms(),
    );
    let id = event.id.clone();
    let out = store.insert_events(&[event]).await.expect("insert");
    assert_eq!(
        out,
        [store::IntakeOutcome::Accepted {
            event_id: id.clone()
        }]
    );
    id
}

async fn a_lease_taken_over_belongs_to_the_new_owner(b: Backend) {
    let db = TestDb::new(b).await;
    let store = open_store(&db).await;
    let event = accept(&*store).await;

    // Replica A claims the hire's first operation and then stalls past its lease.
    let now = store::now_ms();
    let a = store
        .claim(OperationKind::ResolveUser, "replica-a", now, 50, 10)
        .await
        .unwrap();
    assert_eq!(a.len(), 1);
    let op = a[0].id;
    assert!(
        store
            .claim(OperationKind::ResolveUser, "replica-b", now, 60_000, 10)
            .await
            .unwrap()
            .is_empty(),
        "a live lease is not claimable"
    );
    tokio::time::sleep(Duration::from_millis(120)).await;
    let b_ops = store
        .claim(
            OperationKind::ResolveUser,
            "replica-b",
            store::now_ms(),
            60_000,
            10,
        )
        .await
        .unwrap();
    assert_eq!(b_ops.len(), 1, "an expired lease is taken over");

    // A wakes up: it can neither renew nor change anything.
    assert_eq!(
        store
            .renew("replica-a", store::now_ms() + 60_000)
            .await
            .unwrap(),
        0
    );
    let late = [
        Transition::Ambiguous { op_id: op },
        Transition::Dead {
            op_id: op,
            error: "late".into(),
        },
    ];
    assert_eq!(
        store
            .apply("replica-a", &late, store::now_ms())
            .await
            .unwrap(),
        0
    );
    let ev = store.get_event(&event).await.unwrap().unwrap();
    assert_eq!(ev.operations[0].status, OperationStatus::Pending);
    assert_eq!(ev.operations[0].last_error, None);

    // B holds it and finishes it.
    assert_eq!(
        store
            .renew("replica-b", store::now_ms() + 60_000)
            .await
            .unwrap(),
        1
    );
    let done = [Transition::Retry {
        op_id: op,
        at_ms: store::now_ms(),
        error: "try again".into(),
        count_attempt: true,
        ambiguous: false,
    }];
    assert_eq!(
        store
            .apply("replica-b", &done, store::now_ms())
            .await
            .unwrap(),
        1
    );
    let ev = store.get_event(&event).await.unwrap().unwrap();
    assert_eq!(ev.operations[0].attempts, 1);
    assert_eq!(ev.operations[0].last_error.as_deref(), Some("try again"));
    // Handed back: B holds nothing any more.
    assert_eq!(
        store
            .renew("replica-b", store::now_ms() + 60_000)
            .await
            .unwrap(),
        0
    );
    store.close().await;
}

async fn the_plan_becomes_operations_when_the_user_is_known(b: Backend) {
    let db = TestDb::new(b).await;
    let store = open_store(&db).await;
    let event = accept(&*store).await;

    // Before the user is known only resolve_user is stored; the plan's work is shown blocked.
    let ev = store.get_event(&event).await.unwrap().unwrap();
    let plan = ev.plan.clone().expect("a plan");
    let planned =
        plan["packs"].as_array().unwrap().len() + plan["policies"].as_array().unwrap().len();
    assert!(planned > 0, "the test table plans packs and policies");
    assert_eq!(ev.operations.len(), 1 + planned);
    assert_eq!(ev.operations[0].kind, OperationKind::ResolveUser);
    assert!(
        ev.operations[1..]
            .iter()
            .all(|o| o.status == OperationStatus::Blocked && o.attempts == 0)
    );
    let keys: Vec<String> = ev
        .operations
        .iter()
        .map(|o| o.idempotency_key.clone())
        .collect();
    let ops = store
        .claim(OperationKind::AssignPack, "x", store::now_ms(), 60_000, 10)
        .await
        .unwrap();
    assert!(ops.is_empty(), "no pack work before the user is known");

    let claimed = store
        .claim(OperationKind::ResolveUser, "r", store::now_ms(), 60_000, 10)
        .await
        .unwrap();
    let plan: hirebridge::rules::Plan = serde_json::from_value(plan).unwrap();
    let resolved = Transition::UserResolved {
        op_id: claimed[0].id,
        event_id: event.clone(),
        user_id: 4242,
        operations: hirebridge::intake::planned_operations(&event, &plan),
    };
    assert_eq!(
        store
            .apply("r", std::slice::from_ref(&resolved), store::now_ms())
            .await
            .unwrap(),
        1
    );
    let ev = store.get_event(&event).await.unwrap().unwrap();
    assert_eq!(ev.connecteam_user_id, Some(4242));
    assert_eq!(ev.operations.len(), 1 + planned);
    assert_eq!(ev.operations[0].status, OperationStatus::Done);
    assert!(
        ev.operations[1..]
            .iter()
            .all(|o| o.status == OperationStatus::Pending)
    );
    // The keys shown before are the keys of the operations now stored.
    let now_keys: Vec<String> = ev
        .operations
        .iter()
        .map(|o| o.idempotency_key.clone())
        .collect();
    assert_eq!(keys, now_keys);
    assert_eq!(
        serde_json::to_value(ev.status).unwrap(),
        Value::from("delivering")
    );
    let packs = store
        .claim(OperationKind::AssignPack, "p", store::now_ms(), 60_000, 10)
        .await
        .unwrap();
    assert_eq!(packs.len(), plan.packs.len());
    assert!(packs.iter().all(|o| o.user_id == Some(4242)));
    store.close().await;
}

async fn next_due_waits_for_a_live_lease(b: Backend) {
    let db = TestDb::new(b).await;
    let store = open_store(&db).await;
    accept(&*store).await;
    let now = store::now_ms();
    let due = store.next_due().await.unwrap().expect("something is due");
    assert!(due <= now);
    store
        .claim(OperationKind::ResolveUser, "busy", now, 60_000, 10)
        .await
        .unwrap();
    let due = store.next_due().await.unwrap().expect("still queued");
    assert!(
        due >= now + 59_000,
        "work another replica holds is not due until its lease runs out ({} ms)",
        due - now
    );
    store.close().await;
}

async fn replay_restarts_the_wait_clock(b: Backend) {
    let db = TestDb::new(b).await;
    let store = open_store(&db).await;
    let event = accept(&*store).await;
    let claimed = store
        .claim(OperationKind::ResolveUser, "w", store::now_ms(), 60_000, 10)
        .await
        .unwrap();
    let op = claimed[0].clone();
    let dead = [Transition::Dead {
        op_id: op.id,
        error: "no Connecteam user matched within waiting_for_user_timeout_s".into(),
    }];
    store.apply("w", &dead, store::now_ms()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(30)).await;
    let replayed_at = store::now_ms();
    assert_eq!(store.replay(&event, replayed_at).await.unwrap(), Some(1));
    let again = store
        .claim(
            OperationKind::ResolveUser,
            "w2",
            store::now_ms(),
            60_000,
            10,
        )
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert!(
        again[0].created_at_ms >= replayed_at,
        "a replayed wait starts again: {} < {}",
        again[0].created_at_ms,
        replayed_at
    );
    assert_eq!(again[0].attempts, 0);
    store.close().await;
}
