//! The store's queue contract, on both backends: leases decide who may change an operation,
//! and the plan's operations appear once the user is known.

use std::time::Duration;

use hirebridge::clock::now_ms;
use hirebridge::domain::{OperationKind, OperationStatus};
use hirebridge::store::{self, Store, Transition};
use serde_json::Value;

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    a_lease_taken_over_belongs_to_the_new_owner,
    the_plan_becomes_operations_when_the_user_is_known,
    next_due_waits_for_a_live_lease,
    replay_restarts_the_wait_clock,
    replay_under_a_changed_plan_follows_it,
);

/// Commit one accepted hire as intake does; returns its event id.
async fn accept(store: &dyn Store) -> String {
    let rules = hirebridge::rules::RuleSet::parse("rules.yaml", TEST_RULES).expect("rules");
    let body = hire(&unique_id("evt"));
    let item = hirebridge::sources::generic::normalize(&body, "US", None).expect("a valid hire");
    let event = hirebridge::intake::build_event("sw", item, &rules, now_ms());
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
    let now = now_ms();
    let a = store
        .claim(OperationKind::ResolveUser, None, "replica-a", now, 50, 10)
        .await
        .unwrap();
    assert_eq!(a.len(), 1);
    let op = a[0].id;
    assert!(
        store
            .claim(
                OperationKind::ResolveUser,
                None,
                "replica-b",
                now,
                60_000,
                10
            )
            .await
            .unwrap()
            .is_empty(),
        "a live lease is not claimable"
    );
    tokio::time::sleep(Duration::from_millis(120)).await;
    let b_ops = store
        .claim(
            OperationKind::ResolveUser,
            None,
            "replica-b",
            now_ms(),
            60_000,
            10,
        )
        .await
        .unwrap();
    assert_eq!(b_ops.len(), 1, "an expired lease is taken over");

    // A wakes up: it can neither renew nor change anything.
    assert_eq!(
        store.renew("replica-a", now_ms() + 60_000).await.unwrap(),
        0
    );
    let late = [
        Transition::Ambiguous { op_id: op },
        Transition::Dead {
            op_id: op,
            error: "late".into(),
        },
    ];
    assert_eq!(store.apply("replica-a", &late, now_ms()).await.unwrap(), 0);
    let ev = store.get_event(&event).await.unwrap().unwrap();
    assert_eq!(ev.operations[0].status, OperationStatus::Pending);
    assert_eq!(ev.operations[0].last_error, None);

    // B holds it and finishes it.
    assert_eq!(
        store.renew("replica-b", now_ms() + 60_000).await.unwrap(),
        1
    );
    let done = [Transition::Retry {
        op_id: op,
        at_ms: now_ms(),
        error: "try again".into(),
        count_attempt: true,
        ambiguous: false,
    }];
    assert_eq!(store.apply("replica-b", &done, now_ms()).await.unwrap(), 1);
    let ev = store.get_event(&event).await.unwrap().unwrap();
    assert_eq!(ev.operations[0].attempts, 1);
    assert_eq!(ev.operations[0].last_error.as_deref(), Some("try again"));
    // Handed back: B holds nothing any more.
    assert_eq!(
        store.renew("replica-b", now_ms() + 60_000).await.unwrap(),
        0
    );
    store.close().await;
}

async fn the_plan_becomes_operations_when_the_user_is_known(b: Backend) {
    let db = TestDb::new(b).await;
    let store = open_store(&db).await;
    let event = accept(&*store).await;

    // Before the user is known only resolve_user is stored; the plan's work is shown blocked.
    let stored = store.get_event(&event).await.unwrap().unwrap();
    assert_eq!(stored.operations.len(), 1);
    let ev = stored.with_planned_operations();
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
        .claim(OperationKind::AssignPack, None, "x", now_ms(), 60_000, 10)
        .await
        .unwrap();
    assert!(ops.is_empty(), "no pack work before the user is known");

    let claimed = store
        .claim(OperationKind::ResolveUser, None, "r", now_ms(), 60_000, 10)
        .await
        .unwrap();
    let plan: hirebridge::domain::Plan = serde_json::from_value(plan).unwrap();
    let resolved = Transition::UserResolved {
        op_id: claimed[0].id,
        user_id: 4242,
        update: None,
        warnings: Vec::new(),
    };
    assert_eq!(
        store
            .apply("r", std::slice::from_ref(&resolved), now_ms())
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
        .claim(OperationKind::AssignPack, None, "p", now_ms(), 60_000, 10)
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
    let now = now_ms();
    let due = store.next_due().await.unwrap().expect("something is due");
    assert!(due <= now);
    store
        .claim(OperationKind::ResolveUser, None, "busy", now, 60_000, 10)
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
        .claim(OperationKind::ResolveUser, None, "w", now_ms(), 60_000, 10)
        .await
        .unwrap();
    let op = claimed[0].clone();
    let dead = [Transition::Dead {
        op_id: op.id,
        error: "no Connecteam user matched within waiting_for_user_timeout_s".into(),
    }];
    store.apply("w", &dead, now_ms()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(30)).await;
    let replayed_at = now_ms();
    let done = store
        .replay(&event, None, replayed_at)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.requeued, 1);
    assert!(!done.plan_changed);
    let again = store
        .claim(OperationKind::ResolveUser, None, "w2", now_ms(), 60_000, 10)
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

async fn replay_under_a_changed_plan_follows_it(b: Backend) {
    // The hire got packs A and B and policy P; B and P failed (a wrong id, a wrong balance).
    // The rule table is fixed to give packs A and C and P with another balance: replay
    // supersedes B, adds C, re-queues P with the new balance, and leaves A done.
    let db = TestDb::new(b).await;
    let store = open_store(&db).await;
    let event = accept(&*store).await;
    let ev = store.get_event(&event).await.unwrap().unwrap();
    let mut plan: hirebridge::domain::Plan = serde_json::from_value(ev.plan.unwrap()).unwrap();
    plan.packs = vec![101, 999];
    plan.policies.truncate(1);
    let policy = plan.policies[0].id.clone();
    // The event takes that plan before its user is known: nothing is queued from it yet.
    let first = store
        .replay(
            &event,
            Some(&store::Replan { plan: plan.clone() }),
            now_ms(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        first,
        store::Replayed {
            plan_changed: true,
            ..store::Replayed::default()
        }
    );
    let claimed = store
        .claim(OperationKind::ResolveUser, None, "r", now_ms(), 60_000, 10)
        .await
        .unwrap();
    let resolved = Transition::UserResolved {
        op_id: claimed[0].id,
        user_id: 7,
        update: None,
        warnings: Vec::new(),
    };
    store.apply("r", &[resolved], now_ms()).await.unwrap();
    let now = now_ms();
    let packs = store
        .claim(OperationKind::AssignPack, None, "p", now, 60_000, 10)
        .await
        .unwrap();
    let pols = store
        .claim(OperationKind::AssignPolicy, None, "q", now, 60_000, 10)
        .await
        .unwrap();
    let by_target = |t: &str| packs.iter().find(|o| o.target == t).unwrap().id;
    store
        .apply(
            "p",
            &[
                Transition::Done {
                    op_id: by_target("101"),
                    warnings: Vec::new(),
                },
                Transition::Dead {
                    op_id: by_target("999"),
                    error: "Connecteam answered 404: Onboarding pack not found".into(),
                },
            ],
            now,
        )
        .await
        .unwrap();
    store
        .apply(
            "q",
            &[Transition::Dead {
                op_id: pols[0].id,
                error: "Connecteam answered 422".into(),
            }],
            now,
        )
        .await
        .unwrap();
    let ev = store.get_event(&event).await.unwrap().unwrap();
    assert_eq!(serde_json::to_value(ev.status).unwrap(), "failed");

    let mut fixed = plan.clone();
    fixed.rules_version = "sha256:fixed".into();
    fixed.packs = vec![101, 103];
    fixed.policies[0].balance = Some(serde_json::from_value(serde_json::json!(3)).unwrap());
    let replan = store::Replan {
        plan: fixed.clone(),
    };
    let done = store
        .replay(&event, Some(&replan), now_ms())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        done,
        store::Replayed {
            requeued: 1,
            added: 1,
            superseded: 1,
            plan_changed: true
        }
    );
    let ev = store.get_event(&event).await.unwrap().unwrap();
    assert_eq!(ev.rules_version.as_deref(), Some("sha256:fixed"));
    assert_eq!(
        ev.plan.as_ref().unwrap()["packs"],
        serde_json::json!([101, 103])
    );
    let op = |kind: OperationKind, target: &str| {
        ev.operations
            .iter()
            .find(|o| o.kind == kind && o.target == target)
            .unwrap_or_else(|| panic!("{kind:?} {target}: {:#?}", ev.operations))
            .clone()
    };
    assert_eq!(
        op(OperationKind::AssignPack, "101").status,
        OperationStatus::Done
    );
    assert_eq!(
        op(OperationKind::AssignPack, "999").status,
        OperationStatus::Superseded
    );
    assert_eq!(
        op(OperationKind::AssignPack, "103").status,
        OperationStatus::Pending
    );
    let p = op(OperationKind::AssignPolicy, &policy);
    assert_eq!(p.status, OperationStatus::Pending);
    assert_eq!(p.attempts, 0);
    assert_eq!(p.params["balance"], serde_json::json!(3));
    assert_eq!(serde_json::to_value(ev.status).unwrap(), "delivering");

    // The same replay again changes nothing more.
    let again = store
        .replay(&event, Some(&replan), now_ms())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again, store::Replayed::default());

    // Once the rest is done, so is the event: a superseded operation does not hold it back.
    let now = now_ms();
    let rest: Vec<_> = [OperationKind::AssignPack, OperationKind::AssignPolicy]
        .into_iter()
        .map(|k| (k, format!("{k:?}")))
        .collect();
    for (kind, owner) in rest {
        let ops = store
            .claim(kind, None, &owner, now, 60_000, 10)
            .await
            .unwrap();
        let t: Vec<_> = ops
            .iter()
            .map(|o| Transition::Done {
                op_id: o.id,
                warnings: Vec::new(),
            })
            .collect();
        store.apply(&owner, &t, now).await.unwrap();
    }
    let ev = store.get_event(&event).await.unwrap().unwrap();
    assert_eq!(serde_json::to_value(ev.status).unwrap(), "done");
    store.close().await;
}
