//! Regressions: each test here reproduces a defect found by review or by hostile testing of
//! an earlier version, and holds the behaviour chosen for it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::http::Method;
use hirebridge::clock::now_ms;
use hirebridge::config::Config;
use hirebridge::domain::{OperationKind, OperationStatus, Plan};
use hirebridge::simulator::{FaultKind, SimConfig};
use hirebridge::store::{self, Transition};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::both_backends;
use crate::delivery::{
    SEEDED_USERS, USERS, check_sim_invariants, fault, ids_in, pack_path, person, post, post_all,
};
use crate::helpers::*;

both_backends!(
    a_nul_in_connecteams_error_is_stored_not_fatal,
    replay_during_an_in_flight_resolution_takes_the_new_plan,
    a_superseded_operation_comes_back_with_a_later_plan,
    an_active_phone_match_beats_an_archived_email_match,
    emails_differing_in_non_ascii_case_are_one_person,
    a_second_hire_of_one_person_is_not_sent_to_the_pack_again,
    a_pack_refusing_everyone_costs_a_few_requests,
    one_refused_restore_does_not_fail_the_other_rehires,
    waiting_for_a_user_counts_from_when_waiting_began,
    every_request_takes_a_slot_of_the_budget,
);

/// A single-user pack POST answered 422 with a NUL in the detail: on PostgreSQL the error could
/// not be stored, the round's transaction failed, and the operation never moved again.
async fn a_nul_in_connecteams_error_is_stored_not_fatal(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.sim().inject(fault(
        Method::POST,
        &pack_path(101),
        1,
        FaultKind::Status(422, json!({"detail": "bad\u{0}value\u{1b}[0m"})),
    ));
    let id = post(&app, &person(&unique_id("evt"), 1)).await;
    let ev = app.wait_status(&id, "failed").await;
    let op = ev["operations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == "assign_pack" && o["target"] == "101")
        .unwrap()
        .clone();
    assert_eq!(op["status"], "dead", "{ev:#}");
    let error = op["last_error"].as_str().unwrap();
    assert!(!error.chars().any(char::is_control), "{error:?}");
    assert!(error.contains("bad value"), "{error:?}");
    app.stop().await;
}

/// Commit one accepted hire as intake does; returns its event id and plan.
async fn accept(store: &dyn hirebridge::store::Store) -> (String, Plan) {
    let rules = hirebridge::rules::RuleSet::parse("rules.yaml", TEST_RULES).expect("rules");
    let body = hire(&unique_id("evt"));
    let item = hirebridge::sources::generic::normalize(&body, "US", None).expect("a hire");
    let event = hirebridge::intake::build_event("sw", item, &rules, now_ms());
    let id = event.id.clone();
    store.insert_events(&[event]).await.expect("insert");
    let ev = store.get_event(&id).await.unwrap().unwrap();
    let plan = serde_json::from_value(ev.plan.unwrap()).unwrap();
    (id, plan)
}

fn targets(ev: &hirebridge::store::EventRecord, kind: OperationKind) -> Vec<String> {
    ev.operations
        .iter()
        .filter(|o| o.kind == kind)
        .map(|o| o.target.clone())
        .collect()
}

/// A replay while the user was being resolved stored a new plan, and the resolution then
/// queued the operations of the plan it had claimed: the new plan was lost, and a second
/// replay found "no change".
async fn replay_during_an_in_flight_resolution_takes_the_new_plan(b: Backend) {
    let db = TestDb::new(b).await;
    let store = open_store(&db).await;
    let (event, plan) = accept(&*store).await;
    let claimed = store
        .claim(OperationKind::ResolveUser, None, "r", now_ms(), 60_000, 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    // The rule table was fixed meanwhile: the hire now gets pack 103 instead.
    let mut fixed = plan.clone();
    fixed.rules_version = "sha256:fixed".into();
    fixed.packs = vec![103];
    let replayed = store
        .replay(
            &event,
            Some(&store::Replan {
                plan: fixed.clone(),
            }),
            now_ms(),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(replayed.plan_changed);
    let done = store
        .apply(
            "r",
            &[Transition::UserResolved {
                op_id: claimed[0].id,
                user_id: 77,
                update: None,
                warnings: Vec::new(),
            }],
            now_ms(),
        )
        .await
        .unwrap();
    assert_eq!(done, 1);
    let ev = store.get_event(&event).await.unwrap().unwrap();
    assert_eq!(targets(&ev, OperationKind::AssignPack), ["103"]);
    let again = store
        .replay(&event, Some(&store::Replan { plan: fixed }), now_ms())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again, store::Replayed::default());
    store.close().await;
}

/// A failed operation a replay dropped (superseded) stayed dropped when a later plan had it
/// again.
async fn a_superseded_operation_comes_back_with_a_later_plan(b: Backend) {
    let db = TestDb::new(b).await;
    let store = open_store(&db).await;
    let (event, plan) = accept(&*store).await;
    let claimed = store
        .claim(OperationKind::ResolveUser, None, "r", now_ms(), 60_000, 10)
        .await
        .unwrap();
    store
        .apply(
            "r",
            &[Transition::UserResolved {
                op_id: claimed[0].id,
                user_id: 9,
                update: None,
                warnings: Vec::new(),
            }],
            now_ms(),
        )
        .await
        .unwrap();
    // Pack 101 fails; a fix drops it (superseded); a later fix brings it back.
    let packs = store
        .claim(OperationKind::AssignPack, None, "p", now_ms(), 60_000, 10)
        .await
        .unwrap();
    let p101 = packs.iter().find(|o| o.target == "101").unwrap().id;
    let fail = [Transition::Dead {
        op_id: p101,
        error: "Connecteam answered 404".into(),
    }];
    store.apply("p", &fail, now_ms()).await.unwrap();
    let mut without = plan.clone();
    without.rules_version = "sha256:without".into();
    without.packs.retain(|p| *p != 101);
    let r = store
        .replay(&event, Some(&store::Replan { plan: without }), now_ms())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.superseded, 1);
    let mut with = plan.clone();
    with.rules_version = "sha256:with".into();
    let r = store
        .replay(&event, Some(&store::Replan { plan: with }), now_ms())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.added, 1, "{r:?}");
    let ev = store.get_event(&event).await.unwrap().unwrap();
    let op = ev.operations.iter().find(|o| o.id == p101).unwrap();
    assert_eq!(op.status, OperationStatus::Pending);
    assert_eq!(op.attempts, 0);
    store.close().await;
}

/// The person's active account (found by phone) lost to an old archived account that had
/// the same email: the archived one was restored beside the active one.
async fn an_active_phone_match_beats_an_archived_email_match(b: Backend) {
    let app = TestApp::spawn(b).await;
    let sim = app.sim();
    let old = sim.add_user(
        "Ada",
        "Old",
        "+14155557001",
        Some("ada.l@example.com"),
        true,
    );
    let active = sim.add_user("Ada", "Lovelace", "+14155557002", None, false);
    let mut body = person(&unique_id("evt"), 1);
    body["person"]["email"] = json!("ada.l@example.com");
    body["person"]["phone"] = json!("+14155557002");
    let id = post(&app, &body).await;
    let ev = app.wait_status(&id, "done").await;
    assert_eq!(ev["connecteam_user_id"], active, "{ev:#}");
    let restored = sim.requests().iter().any(|r| {
        r.method == Method::PUT
            && r.path == USERS
            && format!("{:?}", r.body).contains(&old.to_string())
    });
    assert!(!restored, "the archived account was restored");
    assert!(
        sim.users()
            .iter()
            .any(|u| u.user_id == old && u.is_archived)
    );
    check_sim_invariants(sim);
    app.stop().await;
}

/// The lookup sent the email lower-cased by Unicode's rules but compared the answer by ASCII
/// rules only: the existing user was missed and a duplicate create was refused.
async fn emails_differing_in_non_ascii_case_are_one_person(b: Backend) {
    let app = TestApp::spawn(b).await;
    let sim = app.sim();
    let existing = sim.add_user(
        "Élodie",
        "Roux",
        "+14155557011",
        Some("élodie@example.com"),
        false,
    );
    let mut body = person(&unique_id("evt"), 2);
    body["person"]["email"] = json!("ÉLODIE@example.com");
    body["person"]["phone"] = json!("+14155557011");
    let id = post(&app, &body).await;
    let ev = app.wait_status(&id, "done").await;
    assert_eq!(ev["connecteam_user_id"], existing, "{ev:#}");
    assert_eq!(sim.users().len(), SEEDED_USERS + 1);
    check_sim_invariants(sim);
    app.stop().await;
}

/// A second event for a person already in the pack (a re-sent hire, a second source) sent the
/// pack POST again without reading the pack first.
async fn a_second_hire_of_one_person_is_not_sent_to_the_pack_again(b: Backend) {
    let app = TestApp::spawn(b).await;
    let first = person(&unique_id("evt"), 3);
    let id = post(&app, &first).await;
    let ev = app.wait_status(&id, "done").await;
    let user = ev["connecteam_user_id"].as_u64().unwrap();
    let mut second = first.clone();
    second["event_id"] = json!(unique_id("evt"));
    let id = post(&app, &second).await;
    let ev = app.wait_status(&id, "done").await;
    assert_eq!(ev["connecteam_user_id"], user);
    for pack in [101, 102] {
        let posts = app
            .sim()
            .requests()
            .iter()
            .filter(|r| r.method == Method::POST && r.path == pack_path(pack))
            .filter(|r| ids_in(r).contains(&user))
            .count();
        let log: Vec<String> = app
            .sim()
            .requests()
            .iter()
            .map(|r| format!("{} {} {:?} {}", r.method, r.path, r.body, r.status))
            .collect();
        assert_eq!(
            posts, 1,
            "pack {pack} was posted {posts} times for user {user}: {log:#?}"
        );
    }
    app.stop().await;
}

/// A pack Connecteam refuses for everyone (422, the same detail whatever the ids) was split
/// down to single users, each then read back: about three requests per user.
async fn a_pack_refusing_everyone_costs_a_few_requests(b: Backend) {
    const N: u32 = 24;
    let app = TestApp::spawn(b).await;
    app.sim().inject(fault(
        Method::POST,
        &pack_path(101),
        1000,
        FaultKind::Status(422, json!({"detail": "Onboarding pack is archived"})),
    ));
    let bodies: Vec<Value> = (0..N).map(|i| person(&unique_id("evt"), 100 + i)).collect();
    let events = post_all(&app, &bodies).await;
    app.settle().await;
    for id in &events {
        let ev = app.event(id).await;
        let op = ev["operations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["target"] == "101")
            .unwrap()
            .clone();
        assert_eq!(op["status"], "dead", "{ev:#}");
        assert!(op["last_error"].as_str().unwrap().contains("archived"));
    }
    let calls = app
        .sim()
        .requests()
        .iter()
        .filter(|r| r.path == pack_path(101))
        .count();
    // The users may arrive in one batch or a few; each refused batch costs five requests.
    assert!(
        calls <= 15,
        "{calls} requests to the refusing pack for {N} users"
    );
    app.stop().await;
}

/// One archived user Connecteam would not restore dead-lettered every rehire restored in the
/// same request (up to 25).
async fn one_refused_restore_does_not_fail_the_other_rehires(b: Backend) {
    let db = TestDb::new(b).await;
    let quiet = TestApp::start(db, without_delivery).await;
    let sim = quiet.sim().clone();
    let archived: Vec<u64> = (0..3)
        .map(|i| {
            sim.add_user(
                "Re",
                &format!("Hire{i}"),
                &format!("+1415555{:04}", 8100 + i),
                Some(&format!("rehire{i}@example.com")),
                true,
            )
        })
        .collect();
    let bodies: Vec<Value> = (0..3)
        .map(|i| {
            let mut b = person(&unique_id("evt"), 200 + i);
            b["person"]["email"] = json!(format!("rehire{i}@example.com"));
            b["person"]["phone"] = json!(format!("+1415555{:04}", 8100 + i));
            b
        })
        .collect();
    let events = post_all(&quiet, &bodies).await;
    let db = quiet.stop().await;
    // Connecteam refuses one of them, by id.
    sim.inject(fault(
        Method::PUT,
        USERS,
        1,
        FaultKind::Status(
            422,
            json!({"detail": format!("User {} cannot be restored", archived[1])}),
        ),
    ));
    let app = TestApp::start(db, |_| {}).await;
    app.settle().await;
    let mut statuses = HashMap::new();
    for id in &events {
        let ev = app.event(id).await;
        statuses.insert(ev["connecteam_user_id"].as_u64(), ev["status"].clone());
    }
    assert_eq!(
        statuses.values().filter(|s| **s == "done").count(),
        2,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.values().filter(|s| **s == "failed").count(),
        1,
        "{statuses:?}"
    );
    let users = sim.users();
    for (i, id) in archived.iter().enumerate() {
        let u = users.iter().find(|u| u.user_id == *id).unwrap();
        assert_eq!(u.is_archived, i == 1, "user {id}");
    }
    app.stop().await;
}

/// `waiting_for_user_timeout_s` counted from intake: a hire that could not reach Connecteam for
/// longer than the timeout failed at its first look, without ever waiting.
async fn waiting_for_a_user_counts_from_when_waiting_began(b: Backend) {
    let db = TestDb::new(b).await;
    let sim = db.sim.clone();
    // Every lookup fails for a while, longer than the timeout.
    sim.inject(fault(
        Method::GET,
        USERS,
        100_000,
        FaultKind::Status(503, json!({"detail": "Service Unavailable"})),
    ));
    let app = TestApp::start(db, |c| {
        c.delivery.waiting_for_user_timeout_s = 2;
        c.delivery.max_attempts = 10_000;
    })
    .await;
    let mut body = person(&unique_id("evt"), 4);
    body["person"].as_object_mut().unwrap().remove("phone");
    let id = post(&app, &body).await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    sim.clear_faults();
    // Now nobody matches and there is no phone to create one with: the hire waits.
    let ev = app.wait_status(&id, "waiting_for_user").await;
    assert_eq!(ev["operations"][0]["status"], "waiting", "{ev:#}");
    // And gives up two seconds after it began waiting.
    let ev = app.wait_status(&id, "failed").await;
    assert!(
        ev["operations"][0]["last_error"]
            .as_str()
            .unwrap()
            .contains("waiting_for_user_timeout_s"),
        "{ev:#}"
    );
    app.stop().await;
}

/// The start-up check of the rule table against the account, OAuth token fetches and the
/// repeat after a refused token went to Connecteam without taking a slot of the budget.
async fn every_request_takes_a_slot_of_the_budget(b: Backend) {
    let db = TestDb::with_sim(
        b,
        SimConfig {
            oauth_clients: vec![("hb".to_owned(), "oauth-secret".to_owned())],
            ..sim_config()
        },
    )
    .await;
    let app = TestApp::start(db, |c| {
        // One request every 510 ms; below 200 a minute a budget lets one slot be caught up.
        c.connecteam.requests_per_minute = 120;
        c.connecteam.auth = Some(hirebridge::config::ConnecteamAuth::OAuth(
            hirebridge::config::OAuthConfig {
                client_id: "hb".to_owned(),
                client_secret: "oauth-secret".into(),
                scopes: hirebridge::config::DEFAULT_SCOPES.to_owned(),
            },
        ));
    })
    .await;
    let id = post(&app, &person(&unique_id("evt"), 5)).await;
    app.wait_status(&id, "done").await;
    let log = app.sim().requests();
    assert!(
        log.iter().any(|r| r.path == "/oauth/v1/token"),
        "no token was fetched"
    );
    assert!(log.iter().any(|r| r.path == "/onboarding/v1/packs"));
    assert!(log.len() >= 8, "{} requests", log.len());
    // 120 a minute: one every 510 ms, every request alike (one slot may be caught up).
    let close: Vec<String> = log
        .windows(2)
        .filter(|pair| pair[1].at_ms.saturating_sub(pair[0].at_ms) < 450)
        .map(|pair| {
            format!(
                "{} {} then {} {} {} ms later",
                pair[0].method,
                pair[0].path,
                pair[1].method,
                pair[1].path,
                pair[1].at_ms.saturating_sub(pair[0].at_ms)
            )
        })
        .collect();
    assert!(
        close.len() <= 1,
        "requests closer than the budget allows: {close:#?}"
    );
    app.stop().await;
}

/// A time-off PUT was committed only when the round of up to 50 ended: a crash in between
/// sent every answered PUT again, resetting each balance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_time_off_put_is_committed_when_it_is_answered() {
    let db = TestDb::new(Backend::Sqlite).await;
    let quiet = TestApp::start(db, without_delivery).await;
    let bodies: Vec<Value> = (0..6).map(|i| person(&unique_id("evt"), 300 + i)).collect();
    post_all(&quiet, &bodies).await;
    let db = quiet.stop().await;
    let sim = db.sim.clone();
    sim.inject(fault(
        Method::PUT,
        "/time-off/",
        100_000,
        FaultKind::Delay(Duration::from_millis(150)),
    ));
    let cfg = Config::from_yaml(&db.config_yaml()).unwrap();
    let store = open_store(&db).await;
    let budget = hirebridge::delivery::connecteam_budget(store.clone(), &cfg.connecteam);
    let client = hirebridge::connecteam::Client::new(&cfg.connecteam)
        .unwrap()
        .with_gate(budget.clone());
    let engine = Arc::new(hirebridge::delivery::engine(
        store.clone(),
        client,
        budget,
        &cfg.connecteam,
        &cfg.delivery,
        None,
    ));
    let task = tokio::spawn(engine.run(CancellationToken::new()));
    let answered = || {
        sim.requests()
            .iter()
            .filter(|r| r.method == Method::PUT && r.path.starts_with("/time-off/"))
            .filter(|r| r.status == 200)
            .count()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while answered() < 4 {
        assert!(tokio::time::Instant::now() < deadline, "no PUTs answered");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The process dies mid-round.
    task.abort();
    let _ = task.await;
    let answered = answered();
    let stats = store.queue_stats().await.unwrap();
    let open_policies: i64 = stats
        .iter()
        .filter(|s| s.kind == OperationKind::AssignPolicy)
        .map(|s| s.count)
        .sum();
    let done = 12 - usize::try_from(open_policies).unwrap();
    assert!(
        done + 1 >= answered,
        "{answered} PUTs were answered but only {done} are committed"
    );
    store.close().await;
}
