//! Delivery end to end: hires go through the engine to the Connecteam simulator, and the
//! assertions are on what the simulator received and holds (users, pack and policy
//! assignments, the request log), not only on hirebridge's own view.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use axum::http::Method;
use hirebridge::simulator::{
    AlreadyAssigned, Fault, FaultKind, LoggedRequest, SimConfig, Simulator,
};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    one_hire_end_to_end,
    burst_reuses_existing_users_and_batches,
    fault_5xx_on_lookup,
    refused_credentials_wait_without_failing,
    a_refused_batched_lookup_is_retried_hire_by_hire,
    fault_dropped_connection,
    fault_timeout,
    fault_429_waits_for_the_reset,
    server_budget_headers_are_obeyed,
    fault_200_with_throttle_body,
    apply_then_drop_on_user_creation,
    apply_then_drop_on_pack_post,
    apply_then_drop_on_policy_put,
    apply_then_5xx_on_writes,
    same_person_twice_in_one_burst,
    a_person_delivered_again_keeps_the_balances,
    one_bad_id_in_a_large_pack_batch,
    unknown_pack_dead_letters_then_replay,
    replay_after_fixing_the_rule_table,
    waiting_for_user_until_it_appears,
    restart_mid_delivery,
    restart_between_user_creates,
    a_dead_replicas_claims_are_taken_over,
    create_landing_after_its_timeout,
    create_landing_after_the_retry_looked,
    pack_post_landing_after_its_timeout,
    waiting_for_user_times_out,
    attempts_exhausted_then_replay,
    rehire_restore_fails_then_succeeds,
);

/// Two engines sharing one database is a PostgreSQL deployment only.
mod two_engines_on_one_database {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::two_engines_on_one_database(crate::helpers::Backend::Postgres).await;
    }
}

pub(crate) const USERS: &str = "/users/v1/users";
/// Users seeded in the simulator (Grace Hopper, archived Alan Turing).
pub(crate) const SEEDED_USERS: usize = 2;

pub(crate) fn pack_path(pack: u64) -> String {
    format!("/onboarding/v1/packs/{pack}/assignments")
}

/// A full-time hire with its own email and phone (`n` keeps phones unique within a test).
pub(crate) fn person(event_id: &str, n: u32) -> Value {
    let mut h = hire(event_id);
    h["person"]["first_name"] = json!(format!("Hire{n}"));
    h["person"]["last_name"] = json!("Tester");
    h["person"]["phone"] = json!(phone(n));
    h
}

/// A distinct US number per `n`, in E.164.
pub(crate) fn phone(n: u32) -> String {
    format!("+1415556{:04}", n % 10_000)
}

pub(crate) async fn post(app: &TestApp, body: &Value) -> String {
    let r = app.post_sw(body).await;
    assert_eq!(r.status(), 202, "{:?}", r.text().await);
    let v: Value = r.json().await.unwrap();
    v["event_id"].as_str().unwrap().to_owned()
}

/// Posts every body at once; returns the event ids in order.
pub(crate) async fn post_all(app: &TestApp, bodies: &[Value]) -> Vec<String> {
    futures_util::future::join_all(bodies.iter().map(|b| post(app, b))).await
}

pub(crate) fn user_id(ev: &Value) -> u64 {
    ev["connecteam_user_id"]
        .as_u64()
        .unwrap_or_else(|| panic!("no connecteam_user_id: {ev}"))
}

pub(crate) fn is_write(r: &LoggedRequest) -> bool {
    r.method != Method::GET
}

/// The request reached the endpoint and was applied (a dropped answer included).
pub(crate) fn applied(r: &LoggedRequest) -> bool {
    r.status == 200
        && r.fault
            .as_deref()
            .is_none_or(|f| !f.starts_with("throttle"))
}

pub(crate) fn ids_in(r: &LoggedRequest) -> Vec<u64> {
    r.body
        .as_ref()
        .and_then(|b| b["userIds"].as_array())
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default()
}

/// What must hold after any run, whatever the faults:
/// * every write carries an `Idempotency-Key`;
/// * no user creation was refused as a duplicate (a blind repeat of a create);
/// * no two applied pack POSTs named the same user for the same pack;
/// * no two users share a phone or an email.
pub(crate) fn check_sim_invariants(sim: &Simulator) {
    let log = sim.requests();
    for r in log.iter().filter(|r| is_write(r)) {
        assert!(
            r.idempotency_key.as_deref().is_some_and(|k| !k.is_empty()),
            "a write without an Idempotency-Key: {} {}",
            r.method,
            r.path
        );
    }
    for r in log
        .iter()
        .filter(|r| r.method == Method::POST && r.path == USERS)
    {
        assert_ne!(r.status, 422, "a user creation was refused: {:?}", r.body);
    }
    let mut sent: HashMap<(String, u64), usize> = HashMap::new();
    for r in log
        .iter()
        .filter(|r| r.method == Method::POST && r.path.starts_with("/onboarding/") && applied(r))
    {
        for u in ids_in(r) {
            *sent.entry((r.path.clone(), u)).or_default() += 1;
        }
    }
    let repeated: Vec<_> = sent.iter().filter(|(_, n)| **n > 1).collect();
    assert!(repeated.is_empty(), "pack POSTs repeated for: {repeated:?}");
    let users = sim.users();
    let phones: BTreeSet<_> = users.iter().map(|u| u.phone_number.clone()).collect();
    assert_eq!(phones.len(), users.len(), "duplicate phones");
    let emails: Vec<_> = users
        .iter()
        .filter_map(|u| u.email.as_ref().map(|e| e.to_lowercase()))
        .collect();
    let unique: BTreeSet<_> = emails.iter().collect();
    assert_eq!(unique.len(), emails.len(), "duplicate emails");
}

/// The packs of an event's plan.
fn plan_packs(ev: &Value) -> Vec<u64> {
    ev["plan"]["packs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_u64().unwrap())
        .collect()
}

/// Every event is `done`, and Connecteam holds exactly what its plan says: its user in every
/// pack of the plan, and every policy of the plan with the plan's balance and unit. Returns
/// the events' user ids (asserted distinct).
pub(crate) async fn assert_delivered(app: &TestApp, events: &[String]) -> Vec<u64> {
    let sim = app.sim();
    let policies: BTreeMap<(String, u64), (Option<f64>, Option<String>)> = sim
        .policy_assignments()
        .into_iter()
        .map(|(p, u, b, unit)| ((p, u), (b, unit)))
        .collect();
    let mut ids = Vec::new();
    for id in events {
        let ev = app.event(id).await;
        assert_eq!(ev["status"], "done", "{ev:#}");
        let u = user_id(&ev);
        let packs = plan_packs(&ev);
        assert!(
            !packs.is_empty(),
            "a plan without packs tests nothing: {ev:#}"
        );
        for pack in packs {
            assert!(
                sim.pack_assignments(pack).contains(&u),
                "user {u} not in pack {pack}; {}",
                summary(sim)
            );
        }
        let planned = ev["plan"]["policies"].as_array().unwrap();
        assert!(!planned.is_empty(), "a plan without policies tests nothing");
        for p in planned {
            let want = (p["balance"].as_f64(), p["unit"].as_str().map(str::to_owned));
            assert!(want.0.is_some() && want.1.is_some(), "{p}");
            assert_eq!(
                policies.get(&(p["id"].as_str().unwrap().to_owned(), u)),
                Some(&want),
                "policy {p} of user {u}"
            );
        }
        let held = policies.keys().filter(|(_, x)| *x == u).count();
        assert_eq!(
            held,
            planned.len(),
            "user {u} holds policies outside its plan"
        );
        ids.push(u);
    }
    let unique: BTreeSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "two hires share a user: {ids:?}");
    ids
}

/// The simulator's request log, one line a request, for failure messages.
fn summary(sim: &Simulator) -> String {
    let mut s = String::from("requests:\n");
    for r in sim.requests() {
        s.push_str(&format!(
            "  {} {}?{} -> {}{}{} {}\n",
            r.method,
            r.path,
            r.query,
            r.status,
            if r.dropped { " (dropped)" } else { "" },
            r.fault
                .as_deref()
                .map(|f| format!(" [{f}]"))
                .unwrap_or_default(),
            r.body.as_ref().map(Value::to_string).unwrap_or_default(),
        ));
    }
    s
}

/// The plan the current rule table gives this hire (the admin dry run).
async fn planned(app: &TestApp, body: &Value) -> Value {
    let r = app.admin_post("/v1/rules/evaluate?source=sw", body).await;
    assert_eq!(r.status(), 200);
    json!({"plan": r.json::<Value>().await.unwrap()})
}

pub(crate) async fn planned_packs(app: &TestApp, body: &Value) -> Vec<u64> {
    plan_packs(&planned(app, body).await)
}

pub(crate) async fn planned_policies(app: &TestApp, body: &Value) -> usize {
    planned(app, body).await["plan"]["policies"]
        .as_array()
        .unwrap()
        .len()
}

fn count(sim: &Simulator, method: &Method, path: &str) -> usize {
    sim.requests()
        .iter()
        .filter(|r| r.method == method && r.path == path)
        .count()
}

// ---- the happy path ----------------------------------------------------------------------

async fn one_hire_end_to_end(b: Backend) {
    let app = TestApp::spawn(b).await;
    let mut body = person(&unique_id("evt"), 1);
    // A national number: Connecteam gets it in E.164 (default region US).
    body["person"]["phone"] = json!("(415) 555-0177");
    let id = post(&app, &body).await;
    let ev = app.wait_status(&id, "done").await;
    let u = user_id(&ev);
    for op in ev["operations"].as_array().unwrap() {
        assert_eq!(op["status"], "done", "{ev:#}");
        assert_eq!(op["attempts"], 1, "{ev:#}");
    }

    let sim = app.sim();
    let user = sim
        .users()
        .into_iter()
        .find(|x| x.user_id == u)
        .expect("the user exists in Connecteam");
    assert_eq!(user.phone_number, "+14155550177");
    assert_eq!(
        user.email.as_deref(),
        Some(format!("{}@example.com", body["event_id"].as_str().unwrap()).as_str())
    );
    assert_eq!(
        (user.first_name.as_str(), user.last_name.as_str()),
        ("Hire1", "Tester")
    );
    assert!(!user.is_archived);
    assert_eq!(sim.users().len(), SEEDED_USERS + 1);
    assert_delivered(&app, std::slice::from_ref(&id)).await;
    // Only the plan's packs.
    let planned = plan_packs(&ev);
    for p in sim.packs() {
        assert_eq!(
            sim.pack_assignments(p.id).contains(&u),
            planned.contains(&p.id),
            "pack {}",
            p.id
        );
    }
    check_sim_invariants(sim);
    assert!(sim.requests().iter().any(is_write));
    app.stop().await;
}

async fn burst_reuses_existing_users_and_batches(b: Backend) {
    let db = TestDb::new(b).await;
    let sim = db.sim.clone();
    // Already in Connecteam: three by email (with other phones), three by phone (no email),
    // Grace Hopper (seeded, by email), and Alan Turing (seeded, archived: a rehire).
    let mut bodies = Vec::new();
    let mut existing: HashMap<usize, u64> = HashMap::new();
    for n in 0..40u32 {
        bodies.push(person(&unique_id("evt"), n));
    }
    for (i, body) in bodies.iter().enumerate().take(3) {
        let email = body["person"]["email"].as_str().unwrap();
        let other_phone = phone(9000 + i as u32);
        let uid = sim.add_user("Known", "ByEmail", &other_phone, Some(email), false);
        existing.insert(i, uid);
    }
    for (i, body) in bodies.iter().enumerate().take(6).skip(3) {
        let p = body["person"]["phone"].as_str().unwrap();
        let uid = sim.add_user("Known", "ByPhone", p, None, false);
        existing.insert(i, uid);
    }
    let seeded = sim.users();
    let grace = seeded
        .iter()
        .find(|u| u.first_name == "Grace")
        .unwrap()
        .user_id;
    let alan = seeded.iter().find(|u| u.first_name == "Alan").unwrap();
    assert!(alan.is_archived);
    bodies[6]["person"] = json!({"first_name": "Grace", "last_name": "Hopper",
        "email": "GRACE@example.com", "phone": "+14155550123"});
    existing.insert(6, grace);
    bodies[7]["person"] = json!({"first_name": "Alan", "last_name": "Turing",
        "email": "alan@example.com", "phone": "+14155550124"});
    existing.insert(7, alan.user_id);
    let before = sim.users().len();

    // A window long enough for the whole burst to arrive, so batching is deterministic.
    let app = TestApp::start(db, |c| c.delivery.batch_window_ms = 1000).await;
    let events = post_all(&app, &bodies).await;
    app.settle().await;
    let ids = assert_delivered(&app, &events).await;

    for (i, uid) in &existing {
        assert_eq!(ids[*i], *uid, "hire {i} reuses its Connecteam user");
    }
    assert_eq!(
        sim.users().len(),
        before + 40 - existing.len(),
        "no duplicate users"
    );
    let alan = sim
        .users()
        .into_iter()
        .find(|u| u.user_id == ids[7])
        .unwrap();
    assert!(!alan.is_archived, "the archived rehire is restored");

    let log = sim.requests();
    let creates: Vec<_> = log
        .iter()
        .filter(|r| r.method == Method::POST && r.path == USERS)
        .collect();
    for c in &creates {
        let n = c
            .body
            .as_ref()
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        assert!((1..=25).contains(&n), "a create of {n} users");
    }
    assert!(
        creates.len() <= 3,
        "{} create POSTs for 32 users",
        creates.len()
    );
    let lookups = count(&sim, &Method::GET, USERS);
    assert!(lookups <= 4, "{lookups} lookups for 40 hires");
    for pack in planned_packs(&app, &bodies[0]).await {
        let posts: Vec<_> = log
            .iter()
            .filter(|r| r.method == Method::POST && r.path == pack_path(pack))
            .collect();
        assert!(posts.len() <= 3, "{} POSTs to pack {pack}", posts.len());
        let biggest = posts.iter().map(|r| ids_in(r).len()).max().unwrap_or(0);
        assert!(
            biggest >= 20,
            "pack {pack}: largest POST carried {biggest} users"
        );
    }
    check_sim_invariants(&sim);
    app.stop().await;
}

// ---- faults ------------------------------------------------------------------------------

/// Posts `n` hires, settles, and checks they were all delivered without duplicates.
pub(crate) async fn deliver_through(app: &TestApp, n: u32) -> Vec<String> {
    let bodies: Vec<Value> = (0..n).map(|i| person(&unique_id("evt"), i)).collect();
    let before = app.sim().users().len();
    let events = post_all(app, &bodies).await;
    app.settle().await;
    assert_delivered(app, &events).await;
    assert_eq!(
        app.sim().users().len(),
        before + n as usize,
        "no duplicate users"
    );
    check_sim_invariants(app.sim());
    events
}

pub(crate) fn fault(method: Method, path_prefix: &str, times: usize, kind: FaultKind) -> Fault {
    Fault {
        method: Some(method),
        path_prefix: path_prefix.to_owned(),
        times,
        kind,
    }
}

pub(crate) fn faults_seen(sim: &Simulator, name: &str) -> usize {
    sim.requests()
        .iter()
        .filter(|r| r.fault.as_deref().is_some_and(|f| f.starts_with(name)))
        .count()
}

async fn fault_5xx_on_lookup(b: Backend) {
    let app = TestApp::spawn(b).await;
    let body = json!({"detail": "Internal Server Error"});
    app.sim().inject(fault(
        Method::GET,
        USERS,
        2,
        FaultKind::Status(500, body.clone()),
    ));
    app.sim().inject(fault(
        Method::POST,
        "/onboarding/",
        1,
        FaultKind::Status(503, body),
    ));
    deliver_through(&app, 5).await;
    assert_eq!(faults_seen(app.sim(), "status 500"), 2);
    assert_eq!(faults_seen(app.sim(), "status 503"), 1);
    app.stop().await;
}

async fn refused_credentials_wait_without_failing(b: Backend) {
    // A 401 is the key's fault, not the hires': nothing is dead-lettered and no attempt is
    // used up; everything waits (here: the test's short max_backoff) and then goes through.
    let app = TestApp::spawn(b).await;
    let sim = app.sim();
    let body = json!({"detail": "Invalid API key"});
    sim.inject(fault(
        Method::GET,
        USERS,
        1,
        FaultKind::Status(401, body.clone()),
    ));
    sim.inject(fault(
        Method::PUT,
        "/time-off/",
        2,
        FaultKind::Status(401, body),
    ));
    let events = deliver_through(&app, 3).await;
    assert_eq!(faults_seen(sim, "status 401"), 3);
    for id in &events {
        let ev = app.event(id).await;
        for op in ev["operations"].as_array().unwrap() {
            assert_eq!(op["attempts"], 1, "a refused key is not an attempt: {ev:#}");
        }
    }
    app.stop().await;
}

async fn a_refused_batched_lookup_is_retried_hire_by_hire(b: Backend) {
    // Connecteam refuses one batched lookup outright (a value it will not take): the hires
    // in it are looked up one by one instead of all being dead-lettered. (A window long
    // enough for the four hires to share that first lookup.)
    let app = TestApp::start(TestDb::new(b).await, |c| c.delivery.batch_window_ms = 1000).await;
    let sim = app.sim();
    sim.inject(fault(
        Method::GET,
        USERS,
        1,
        FaultKind::Status(422, json!({"detail": "emailAddresses: invalid"})),
    ));
    let events = deliver_through(&app, 4).await;
    assert_eq!(faults_seen(sim, "status 422"), 1);
    let single_email_lookups = sim
        .requests()
        .iter()
        .filter(|r| {
            r.method == Method::GET
                && r.path == USERS
                && r.query.matches("emailAddresses=").count() == 1
        })
        .count();
    assert!(
        single_email_lookups >= 1,
        "the hires were looked up one by one: {}",
        summary(sim)
    );
    assert_delivered(&app, &events).await;
    app.stop().await;
}

async fn fault_dropped_connection(b: Backend) {
    let app = TestApp::spawn(b).await;
    let sim = app.sim();
    sim.inject(fault(Method::GET, USERS, 1, FaultKind::Drop));
    sim.inject(fault(Method::POST, USERS, 1, FaultKind::Drop));
    sim.inject(fault(Method::POST, "/onboarding/", 1, FaultKind::Drop));
    sim.inject(fault(Method::PUT, "/time-off/", 1, FaultKind::Drop));
    deliver_through(&app, 5).await;
    assert_eq!(faults_seen(sim, "drop"), 4);
    app.stop().await;
}

async fn fault_timeout(b: Backend) {
    // timeout_ms is 2000: each delay outlasts it; the delayed request still completes in
    // the simulator after the client gave up (a lookup, then a policy PUT: both safe).
    let app = TestApp::spawn(b).await;
    let sim = app.sim();
    let late = FaultKind::Delay(Duration::from_millis(2600));
    sim.inject(fault(Method::GET, USERS, 1, late.clone()));
    sim.inject(fault(Method::PUT, "/time-off/", 1, late));
    deliver_through(&app, 3).await;
    // The late requests land in the simulator after the retries: nothing changes.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while faults_seen(sim, "delay") < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the delayed requests never landed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    check_sim_invariants(sim);
    assert_eq!(sim.users().len(), SEEDED_USERS + 3);
    app.stop().await;
}

async fn fault_429_waits_for_the_reset(b: Backend) {
    // 429s on every kind of call, answered by the simulator with its x-ratelimit headers
    // (1-second windows here, so the reset is near).
    let db = TestDb::with_sim(
        b,
        SimConfig {
            window: Duration::from_secs(1),
            ..sim_config()
        },
    )
    .await;
    // Were a 429 an attempt, two of them would dead-letter an operation.
    let app = TestApp::start(db, |c| c.delivery.max_attempts = 2).await;
    let sim = app.sim();
    let limited = || FaultKind::Status(429, json!({"detail": "Too many requests"}));
    sim.inject(fault(Method::GET, USERS, 2, limited()));
    sim.inject(fault(Method::POST, USERS, 2, limited()));
    sim.inject(fault(Method::POST, "/onboarding/", 2, limited()));
    sim.inject(fault(Method::PUT, "/time-off/", 2, limited()));
    let events = deliver_through(&app, 4).await;
    assert_eq!(faults_seen(sim, "status 429"), 8);
    for id in &events {
        let ev = app.event(id).await;
        for op in ev["operations"].as_array().unwrap() {
            assert_eq!(op["attempts"], 1, "a 429 counted as an attempt: {ev:#}");
        }
    }
    app.stop().await;
}

async fn server_budget_headers_are_obeyed(b: Backend) {
    // The simulator's own limiter allows 4 requests a 1-second window, far below the pace
    // hirebridge is configured for: hirebridge reads x-ratelimit-minute-remaining and waits
    // for the reset instead of running into 429s.
    let db = TestDb::with_sim(
        b,
        SimConfig {
            requests_per_minute: 4,
            window: Duration::from_secs(1),
            ..sim_config()
        },
    )
    .await;
    let app = TestApp::start(db, |_| {}).await;
    deliver_through(&app, 6).await;
    assert_eq!(app.sim().count_429(), 0, "{}", summary(app.sim()));
    app.stop().await;
}

async fn fault_200_with_throttle_body(b: Backend) {
    // The quirk is a rate limit: hirebridge waits for the window's reset, 1 s here.
    let db = TestDb::with_sim(
        b,
        SimConfig {
            window: Duration::from_secs(1),
            ..sim_config()
        },
    )
    .await;
    let app = TestApp::start(db, |c| c.delivery.max_attempts = 2).await;
    let sim = app.sim();
    sim.inject(fault(Method::GET, USERS, 2, FaultKind::ThrottleBody));
    sim.inject(fault(
        Method::POST,
        "/onboarding/",
        1,
        FaultKind::ThrottleBody,
    ));
    sim.inject(fault(Method::PUT, "/time-off/", 1, FaultKind::ThrottleBody));
    let events = deliver_through(&app, 3).await;
    assert_eq!(faults_seen(sim, "throttle"), 4);
    for id in &events {
        let ev = app.event(id).await;
        for op in ev["operations"].as_array().unwrap() {
            assert_eq!(
                op["attempts"], 1,
                "a throttle answer counted as an attempt: {ev:#}"
            );
        }
    }
    app.stop().await;
}

// ---- writes applied whose answer was lost ------------------------------------------------

async fn apply_then_drop_on_user_creation(b: Backend) {
    let app = TestApp::spawn(b).await;
    let sim = app.sim();
    sim.inject(fault(Method::POST, USERS, 1, FaultKind::ApplyThenDrop));
    let events = deliver_through(&app, 4).await;
    let log = sim.requests();
    let dropped = log
        .iter()
        .position(|r| r.method == Method::POST && r.path == USERS && r.dropped)
        .expect("the create was dropped");
    assert_eq!(log[dropped].status, 200, "the create was applied");
    // The next round looked the users up and found them: none of them was created again.
    let phones_in = |r: &LoggedRequest| -> Vec<String> {
        r.body
            .as_ref()
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|u| u["phoneNumber"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let lost = phones_in(&log[dropped]);
    assert!(!lost.is_empty());
    for r in log[dropped + 1..]
        .iter()
        .filter(|r| r.method == Method::POST && r.path == USERS)
    {
        for p in phones_in(r) {
            assert!(!lost.contains(&p), "{p} created twice");
        }
    }
    let lookup = log[dropped..]
        .iter()
        .find(|r| r.method == Method::GET && r.path == USERS)
        .expect("no lookup after the lost answer");
    assert!(
        lost.iter().any(|p| lookup.query.contains(&p[2..]))
            || lookup.query.contains("emailAddresses"),
        "the lookup does not look for the lost users: {}",
        lookup.query
    );
    let created: BTreeSet<u64> = sim
        .users()
        .iter()
        .filter(|u| u.last_name == "Tester")
        .map(|u| u.user_id)
        .collect();
    let resolved: BTreeSet<u64> = {
        let mut s = BTreeSet::new();
        for id in &events {
            s.insert(user_id(&app.event(id).await));
        }
        s
    };
    assert_eq!(created, resolved);
    app.stop().await;
}

async fn apply_then_drop_on_pack_post(b: Backend) {
    let app = TestApp::spawn(b).await;
    let sim = app.sim();
    let pack = planned_packs(&app, &person("x", 0)).await[0];
    let path = pack_path(pack);
    sim.inject(fault(Method::POST, &path, 1, FaultKind::ApplyThenDrop));
    deliver_through(&app, 4).await;
    let log = sim.requests();
    let dropped = log
        .iter()
        .position(|r| r.method == Method::POST && r.path == path && r.dropped)
        .expect("the pack POST was dropped");
    assert_eq!(log[dropped].status, 200, "the POST was applied");
    // After the lost answer: the assignments are read before any further POST to the pack.
    let read = log[dropped..]
        .iter()
        .position(|r| r.method == Method::GET && r.path == path)
        .map(|i| i + dropped)
        .expect("the pack's assignments were never read back");
    // No user of the lost POST is sent again before that read (other users may be).
    let ids = |r: &LoggedRequest| -> Vec<u64> {
        r.body
            .as_ref()
            .and_then(|b| b["userIds"].as_array())
            .map(|a| a.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default()
    };
    let lost = ids(&log[dropped]);
    assert!(!lost.is_empty());
    let repeat = log[dropped + 1..]
        .iter()
        .position(|r| {
            r.method == Method::POST && r.path == path && ids(r).iter().any(|u| lost.contains(u))
        })
        .map(|i| i + dropped + 1);
    if let Some(p) = repeat {
        assert!(
            read < p,
            "POSTed a user of the lost request again before reading the assignments"
        );
    }
    assert_eq!(sim.pack_assignments(pack).len(), 4);
    app.stop().await;
}

async fn apply_then_drop_on_policy_put(b: Backend) {
    // The PUT landed but its answer was lost: the user's balance is read, and since it shows
    // the policy at the plan's balance, the PUT is not sent again.
    let app = TestApp::spawn(b).await;
    let sim = app.sim();
    sim.inject(fault(
        Method::PUT,
        "/time-off/v1/time-off-policies/",
        1,
        FaultKind::ApplyThenDrop,
    ));
    deliver_through(&app, 3).await;
    let log = sim.requests();
    let dropped = log
        .iter()
        .position(|r| r.method == Method::PUT && r.dropped)
        .expect("a policy PUT was dropped");
    let lost = &log[dropped];
    let user = lost.body.as_ref().unwrap()["userId"].as_u64().unwrap();
    let read = log[dropped..]
        .iter()
        .find(|r| {
            r.method == Method::GET
                && r.path.ends_with("/balances")
                && r.query.contains(&format!("userIds={user}"))
        })
        .is_some();
    assert!(read, "the user's balance was never read back");
    let repeats = log[dropped + 1..]
        .iter()
        .filter(|r| {
            r.method == Method::PUT
                && r.path == lost.path
                && r.body.as_ref().unwrap()["userId"].as_u64() == Some(user)
        })
        .count();
    assert_eq!(repeats, 0, "the landed PUT was sent again");
    // Every planned policy is held: 3 full-time hires, 2 policies each.
    assert_eq!(sim.policy_assignments().len(), 6);
    app.stop().await;
}

async fn apply_then_5xx_on_writes(b: Backend) {
    // Applied, then answered 502: a write whose outcome hirebridge cannot know.
    let app = TestApp::spawn(b).await;
    let sim = app.sim();
    sim.inject(fault(
        Method::POST,
        USERS,
        1,
        FaultKind::ApplyThenStatus(502),
    ));
    sim.inject(fault(
        Method::POST,
        "/onboarding/",
        1,
        FaultKind::ApplyThenStatus(502),
    ));
    sim.inject(fault(
        Method::PUT,
        "/time-off/",
        1,
        FaultKind::ApplyThenStatus(502),
    ));
    deliver_through(&app, 4).await;
    assert_eq!(faults_seen(sim, "apply_then_status"), 3);
    app.stop().await;
}

async fn same_person_twice_in_one_burst(b: Backend) {
    // Two events for one person (two sources, or a re-sent hire with a new id), plus
    // others, in one batch: one Connecteam user, both events delivered to it.
    let app = TestApp::start(TestDb::new(b).await, |c| c.delivery.batch_window_ms = 500).await;
    let sim = app.sim();
    let first = person(&unique_id("evt"), 1);
    let mut again = person(&unique_id("evt"), 1);
    again["person"] = first["person"].clone();
    let mut bodies = vec![first, again];
    bodies.extend((2..6).map(|i| person(&unique_id("evt"), i)));
    let events = post_all(&app, &bodies).await;
    app.settle().await;
    let mut ids = Vec::new();
    for id in &events {
        let ev = app.event(id).await;
        assert_eq!(ev["status"], "done", "{ev:#}; {}", summary(sim));
        ids.push(user_id(&ev));
    }
    assert_eq!(ids[0], ids[1], "the same person is the same user");
    assert_eq!(sim.users().len(), SEEDED_USERS + 5);
    check_sim_invariants(sim);
    app.stop().await;
}

async fn a_person_delivered_again_keeps_the_balances(b: Backend) {
    // The same person again, after the first event was delivered (re-sent by the HR system
    // with a new id, or sent by a second source): the user is reused, and the time-off
    // policies are not PUT again, since that would reset the balances to the starting ones.
    let app = TestApp::start(TestDb::new(b).await, |_| {}).await;
    let sim = app.sim();
    let first = person(&unique_id("evt"), 1);
    let id = post(&app, &first).await;
    let u = user_id(&app.wait_status(&id, "done").await);
    let policy_puts = |sim: &Simulator| {
        sim.requests()
            .iter()
            .filter(|r| r.method == Method::PUT && r.path.starts_with("/time-off/"))
            .count()
    };
    let before = policy_puts(sim);
    assert!(before >= 1, "the plan gives policies");
    let mut again = person(&unique_id("evt"), 1);
    again["person"] = first["person"].clone();
    let id = post(&app, &again).await;
    let ev = app.wait_status(&id, "done").await;
    assert_eq!(user_id(&ev), u);
    assert_eq!(policy_puts(sim), before, "no policy PUT for a repeat");
    for op in ev["operations"].as_array().unwrap() {
        assert_eq!(op["status"], "done", "{ev:#}");
    }
    app.stop().await;
}

// ---- permanent failures ------------------------------------------------------------------

async fn one_bad_id_in_a_large_pack_batch(b: Backend) {
    // A full batch of 500 users for each pack, one of whom Connecteam no longer knows when
    // the POST goes out (all-or-nothing: 422 for the whole request).
    const N: u32 = 500;
    // The test table plans packs only here: 500 hires' policy PUTs add nothing to this test.
    let db = TestDb::new(b).await;
    std::fs::write(
        db.rules_path(),
        "version: 1\nrules:\n  - name: everyone\n    when: {}\n    assign: { packs: [101, 102] }\n",
    )
    .unwrap();
    // The hires are all accepted first, then delivery starts with a window long enough that
    // each pack's POST waits until its batch of 500 is full.
    let quiet = TestApp::start(db, without_delivery).await;
    let bodies: Vec<Value> = (0..N).map(|i| person(&unique_id("evt"), i)).collect();
    let events = post_all(&quiet, &bodies).await;
    let db = quiet.stop().await;
    let app = TestApp::start(db, |c| c.delivery.batch_window_ms = 60_000).await;
    let sim = app.sim().clone();
    let packs = planned_packs(&app, &bodies[0]).await;
    // The victim is created in one of the first requests; the pack POSTs wait for all 500.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let victim = loop {
        if let Some(u) = sim.users().into_iter().find(|u| u.first_name == "Hire17") {
            break u.user_id;
        }
        assert!(tokio::time::Instant::now() < deadline, "users not created");
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    assert!(sim.remove_user(victim));
    assert!(
        packs.iter().all(|p| sim.pack_assignments(*p).is_empty()),
        "the pack POSTs went out before the victim was removed"
    );
    app.settle_within(Duration::from_secs(60)).await;

    let mut failed = Vec::new();
    for id in &events {
        let ev = app.event(id).await;
        if ev["status"] == "failed" {
            failed.push(ev);
        } else {
            assert_eq!(ev["status"], "done", "{ev:#}");
        }
    }
    assert_eq!(failed.len(), 1, "only the bad id fails");
    let ev = &failed[0];
    assert_eq!(user_id(ev), victim);
    for op in ev["operations"].as_array().unwrap() {
        if op["kind"] == "assign_pack" {
            assert_eq!(op["status"], "dead", "{ev:#}");
            let err = op["last_error"].as_str().unwrap();
            assert!(
                err.contains("422") && err.contains(&victim.to_string()),
                "{err}"
            );
        }
    }
    for pack in packs {
        let assigned: BTreeSet<u64> = sim.pack_assignments(pack).into_iter().collect();
        assert_eq!(assigned.len(), N as usize - 1, "pack {pack}");
        assert!(!assigned.contains(&victim));
        let posts: Vec<_> = sim
            .requests()
            .into_iter()
            .filter(|r| r.method == Method::POST && r.path == pack_path(pack))
            .collect();
        assert_eq!(
            ids_in(&posts[0]).len(),
            N as usize,
            "one POST for the whole batch first; {}",
            summary(&sim)
        );
        // Bisection: the first POST, then two per halving, not one per user.
        let halvings = (N as f64).log2().ceil() as usize;
        assert!(
            posts.len() <= 1 + 2 * halvings,
            "{} POSTs to isolate one id",
            posts.len()
        );
    }
    check_sim_invariants(&sim);
    app.stop().await;
}

async fn unknown_pack_dead_letters_then_replay(b: Backend) {
    let db = TestDb::new(b).await;
    std::fs::write(
        db.rules_path(),
        "version: 1\nrules:\n  - name: everyone\n    when: {}\n    assign:\n      packs: [102, 999]\n      policies:\n        - { id: pol-sick-001, balance: 40, unit: hours }\n",
    )
    .unwrap();
    let app = TestApp::start(db, |_| {}).await;
    let sim = app.sim();
    let body = person(&unique_id("evt"), 1);
    // The pack Connecteam does not have: 999 from the table above; should the plan name only
    // packs the simulator knows, the first of them is taken away from the simulator instead.
    let planned = planned_packs(&app, &body).await;
    let known: BTreeSet<u64> = sim.packs().iter().map(|p| p.id).collect();
    let unknown = match planned.iter().find(|p| !known.contains(p)) {
        Some(p) => *p,
        None => {
            assert!(sim.remove_pack(planned[0]));
            planned[0]
        }
    };
    let unknown_target = unknown.to_string();
    let id = post(&app, &body).await;
    app.wait_status(&id, "failed").await;
    app.settle().await;
    let ev = app.event(&id).await;
    let u = user_id(&ev);
    for op in ev["operations"].as_array().unwrap() {
        if op["target"].as_str() == Some(unknown_target.as_str()) {
            assert_eq!(op["status"], "dead", "{ev:#}");
            let err = op["last_error"].as_str().unwrap();
            assert!(err.contains("404") && err.contains("not found"), "{err}");
        } else {
            assert_eq!(
                op["status"], "done",
                "the other operations complete: {ev:#}"
            );
        }
    }
    for p in planned.iter().filter(|p| **p != unknown) {
        assert_eq!(sim.pack_assignments(*p), [u]);
    }
    let policies = ev["plan"]["policies"].as_array().unwrap().len();
    assert_eq!(sim.policy_assignments().len(), policies);

    sim.add_pack(unknown, "Added later");
    let r = app
        .admin_post(&format!("/v1/events/{id}/replay"), &json!({}))
        .await;
    assert_eq!(r.status(), 200);
    let ev = app.wait_status(&id, "done").await;
    for p in &planned {
        assert_eq!(sim.pack_assignments(*p), [u], "pack {p}");
    }
    assert!(
        ev["operations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["status"] == "done")
    );
    // Replay re-queued only the dead operation: the rest was not sent again.
    assert_eq!(sim.policy_assignments().len(), policies);
    let puts = sim
        .requests()
        .iter()
        .filter(|r| r.method == Method::PUT)
        .count();
    assert_eq!(puts, policies);
    check_sim_invariants(sim);
    app.stop().await;
}

async fn replay_after_fixing_the_rule_table(b: Backend) {
    // The table names a pack the account does not have (a typo: 1022 for 102). The hire
    // fails on it; HR fixes the table; a replay gives the hire the right pack, and the
    // failed assignment of the wrong one is superseded rather than tried again.
    let db = TestDb::new(b).await;
    let table = |pack: u64| {
        format!(
            "version: 1\nrules:\n  - name: everyone\n    when: {{}}\n    assign:\n      packs: [101, {pack}]\n      policies:\n        - {{ id: pol-sick-001, balance: 40, unit: hours }}\n"
        )
    };
    std::fs::write(db.rules_path(), table(1022)).unwrap();
    let app = TestApp::start(db, |_| {}).await;
    let sim = app.sim();
    let id = post(&app, &person(&unique_id("evt"), 1)).await;
    let ev = app.wait_status(&id, "failed").await;
    let u = user_id(&ev);
    let old_version = ev["rules_version"].as_str().unwrap().to_owned();

    // The fix, picked up by the running service.
    std::fs::write(app.db.rules_path(), table(102)).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let r: Value = app.admin_get("/v1/rules").await.json().await.unwrap();
        if r["version"] != old_version {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the table was not reloaded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let r = app
        .admin_post(&format!("/v1/events/{id}/replay"), &json!({}))
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["plan_changed"], true, "{v}");
    assert_eq!(v["added"], 1, "{v}");
    assert_eq!(v["superseded"], 1, "{v}");
    let ev = app.wait_status(&id, "done").await;
    assert_eq!(ev["plan"]["packs"], json!([101, 102]));
    assert_ne!(ev["rules_version"], old_version.as_str());
    let wrong = ev["operations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["target"] == "1022")
        .unwrap();
    assert_eq!(wrong["status"], "superseded", "{ev:#}");
    assert_eq!(sim.pack_assignments(101), [u]);
    assert_eq!(sim.pack_assignments(102), [u]);
    // Only the new pack was sent: 101 and the policy were not repeated.
    let posts_101 = sim
        .requests()
        .iter()
        .filter(|r| r.method == Method::POST && r.path == pack_path(101))
        .count();
    assert_eq!(posts_101, 1);
    assert_eq!(sim.policy_assignments().len(), 1);
    check_sim_invariants(sim);
    app.stop().await;
}

async fn waiting_for_user_until_it_appears(b: Backend) {
    let app = TestApp::spawn(b).await;
    let sim = app.sim();
    let mut body = person(&unique_id("evt"), 1);
    body["person"].as_object_mut().unwrap().remove("phone");
    let email = body["person"]["email"].as_str().unwrap().to_owned();
    let id = post(&app, &body).await;
    let ev = app.wait_status(&id, "waiting_for_user").await;
    assert!(ev["connecteam_user_id"].is_null());
    assert_eq!(
        sim.users().len(),
        SEEDED_USERS,
        "nothing created without a phone"
    );

    let uid = sim.add_user("Added", "ByHand", "+14155550999", Some(&email), false);
    let ev = app.wait_status(&id, "done").await;
    assert_eq!(user_id(&ev), uid);
    assert_delivered(&app, &[id]).await;
    assert_eq!(sim.users().len(), SEEDED_USERS + 1);
    check_sim_invariants(sim);
    app.stop().await;
}

// ---- restarts and replicas ---------------------------------------------------------------

async fn restart_mid_delivery(b: Backend) {
    const N: u32 = 20;
    // 600 requests/minute: ~100 ms a request, so the burst takes seconds to deliver.
    let slow = |c: &mut hirebridge::config::Config| c.connecteam.requests_per_minute = 600;
    let app = TestApp::start(TestDb::new(b).await, slow).await;
    let sim = app.sim().clone();
    let bodies: Vec<Value> = (0..N).map(|i| person(&unique_id("evt"), i)).collect();
    let per_hire = planned_policies(&app, &bodies[0]).await;
    let events = post_all(&app, &bodies).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while sim.policy_assignments().len() < 5 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "delivery did not start"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let db = app.stop().await;
    let part = sim.policy_assignments().len();
    assert!(
        part < per_hire * N as usize,
        "stopped too late to test anything"
    );

    let app = TestApp::start(db, slow).await;
    app.settle().await;
    assert_delivered(&app, &events).await;
    assert_eq!(sim.users().len(), SEEDED_USERS + N as usize);
    assert_eq!(sim.policy_assignments().len(), per_hire * N as usize);
    check_sim_invariants(&sim);
    app.stop().await;
}

async fn restart_between_user_creates(b: Backend) {
    // 60 new users are three creates; the app stops right after the first, while the
    // engine waits for its next request slot (a second apart at 60/minute, which also leaves
    // the pacer no more than one slot to catch up). Nothing it had claimed may stay held.
    const N: u32 = 60;
    let slow = |c: &mut hirebridge::config::Config| {
        c.connecteam.requests_per_minute = 60;
        c.delivery.batch_window_ms = 1000;
    };
    let app = TestApp::start(TestDb::new(b).await, slow).await;
    let sim = app.sim().clone();
    let bodies: Vec<Value> = (0..N).map(|i| person(&unique_id("evt"), i)).collect();
    let events = post_all(&app, &bodies).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while count(&sim, &Method::POST, USERS) < 1 {
        assert!(tokio::time::Instant::now() < deadline, "no user created");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let db = app.stop().await;
    assert!(
        sim.users().len() < SEEDED_USERS + N as usize,
        "stopped too late to test anything"
    );

    let app = TestApp::start(db, |_| {}).await;
    app.settle_within(Duration::from_secs(15)).await;
    assert_delivered(&app, &events).await;
    assert_eq!(sim.users().len(), SEEDED_USERS + N as usize);
    check_sim_invariants(&sim);
    app.stop().await;
}

async fn a_dead_replicas_claims_are_taken_over(b: Backend) {
    // A replica dies mid-round: its claims stay in the database with their lease. The
    // surviving replica leaves them alone while the lease lasts, then delivers them, once.
    let db = TestDb::new(b).await;
    let quiet = TestApp::start(db, without_delivery).await;
    let bodies: Vec<Value> = (0..3).map(|i| person(&unique_id("evt"), i)).collect();
    let events = post_all(&quiet, &bodies).await;
    let db = quiet.stop().await;
    let store = open_store(&db).await;
    const LEASE_MS: i64 = 1500;
    let claimed = store
        .claim(
            hirebridge::domain::OperationKind::ResolveUser,
            None,
            "replica-that-died",
            hirebridge::clock::now_ms(),
            LEASE_MS,
            100,
        )
        .await
        .unwrap();
    let lease_ends = std::time::Instant::now() + Duration::from_millis(LEASE_MS as u64);
    assert_eq!(claimed.len(), 3);
    store.close().await;

    let app = TestApp::start(db, |_| {}).await;
    app.settle().await;
    assert_delivered(&app, &events).await;
    let sim = app.sim();
    let lookups: Vec<LoggedRequest> = sim
        .requests()
        .into_iter()
        .filter(|r| r.path == USERS)
        .collect();
    assert!(!lookups.is_empty());
    assert!(
        lookups
            .iter()
            .all(|r| r.at + Duration::from_millis(50) >= lease_ends),
        "the dead replica's work was touched before its lease ran out: {}",
        summary(sim)
    );
    assert_eq!(sim.users().len(), SEEDED_USERS + 3);
    check_sim_invariants(sim);
    app.stop().await;
}

async fn create_landing_after_its_timeout(b: Backend) {
    // The create times out (2 s) and lands later (2.6 s). The retry waits at least as long
    // as a request may take before it looks the user up, so it finds the late one and does
    // not create again.
    let app = TestApp::spawn(b).await;
    let sim = app.sim();
    sim.inject(fault(
        Method::POST,
        USERS,
        1,
        FaultKind::Delay(Duration::from_millis(2600)),
    ));
    let id = post(&app, &person(&unique_id("evt"), 1)).await;
    app.settle().await;
    let ev = app.event(&id).await;
    assert_eq!(ev["status"], "done", "{ev:#}; {}", summary(sim));
    assert_eq!(sim.users().len(), SEEDED_USERS + 1);
    let creates = sim
        .requests()
        .iter()
        .filter(|r| r.method == Method::POST && r.path == USERS)
        .count();
    assert_eq!(creates, 1, "created again: {}", summary(sim));
    assert_delivered(&app, &[id]).await;
    app.stop().await;
}

async fn create_landing_after_the_retry_looked(b: Backend) {
    // The create times out (2 s) and lands very late (4.6 s), after the retry's lookup
    // (≥ 4 s) missed it, so hirebridge creates again, and that create (slowed by 1 s)
    // arrives after the first landed: Connecteam refuses it as a duplicate. The hire's user
    // exists all the same, and the hire must get it.
    let app = TestApp::spawn(b).await;
    let sim = app.sim();
    sim.inject(fault(
        Method::POST,
        USERS,
        1,
        FaultKind::Delay(Duration::from_millis(4600)),
    ));
    sim.inject(fault(
        Method::POST,
        USERS,
        1,
        FaultKind::Delay(Duration::from_millis(1000)),
    ));
    let id = post(&app, &person(&unique_id("evt"), 1)).await;
    app.settle().await;
    let ev = app.event(&id).await;
    assert_eq!(ev["status"], "done", "{ev:#}; {}", summary(sim));
    assert_eq!(sim.users().len(), SEEDED_USERS + 1);
    let created = sim
        .users()
        .into_iter()
        .find(|u| u.last_name == "Tester")
        .unwrap();
    assert_eq!(user_id(&ev), created.user_id);
    assert!(
        sim.requests()
            .iter()
            .any(|r| r.method == Method::POST && r.path == USERS && r.status == 422),
        "the scenario did not happen: {}",
        summary(sim)
    );
    assert_delivered(&app, &[id]).await;
    app.stop().await;
}

async fn pack_post_landing_after_its_timeout(b: Backend) {
    // Like the create above, for a pack POST, against a Connecteam that refuses to assign
    // an already-assigned user (422 for the whole request). The first POST times out and
    // lands very late (after the retry's read-back, which waits a request's timeout); the
    // retry POSTs again, and that POST lands after the first: 422. The user is in the pack
    // all the same.
    let db = TestDb::with_sim(
        b,
        SimConfig {
            already_assigned: AlreadyAssigned::Reject,
            ..sim_config()
        },
    )
    .await;
    let app = TestApp::start(db, |_| {}).await;
    let sim = app.sim();
    let body = person(&unique_id("evt"), 1);
    let pack = planned_packs(&app, &body).await[0];
    let path = pack_path(pack);
    sim.inject(fault(
        Method::POST,
        &path,
        1,
        FaultKind::Delay(Duration::from_millis(4600)),
    ));
    sim.inject(fault(
        Method::POST,
        &path,
        1,
        FaultKind::Delay(Duration::from_millis(1000)),
    ));
    let id = post(&app, &body).await;
    app.settle().await;
    let ev = app.event(&id).await;
    assert_eq!(ev["status"], "done", "{ev:#}; {}", summary(sim));
    assert_eq!(sim.pack_assignments(pack), [user_id(&ev)]);
    assert!(
        sim.requests()
            .iter()
            .any(|r| r.path == path && r.status == 422),
        "the scenario did not happen: {}",
        summary(sim)
    );
    assert_delivered(&app, &[id]).await;
    check_sim_invariants(sim);
    app.stop().await;
}

async fn waiting_for_user_times_out(b: Backend) {
    let app = TestApp::start(TestDb::new(b).await, |c| {
        c.delivery.waiting_for_user_timeout_s = 1;
    })
    .await;
    let mut body = person(&unique_id("evt"), 1);
    body["person"].as_object_mut().unwrap().remove("phone");
    let id = post(&app, &body).await;
    app.wait_status(&id, "waiting_for_user").await;
    let ev = app.wait_status(&id, "failed").await;
    let resolve = &ev["operations"][0];
    assert_eq!(resolve["kind"], "resolve_user");
    assert_eq!(resolve["status"], "dead");
    let err = resolve["last_error"].as_str().unwrap();
    assert!(err.contains("waiting_for_user_timeout_s"), "{err}");
    assert_eq!(app.sim().users().len(), SEEDED_USERS);
    app.settle().await;
    app.stop().await;
}

async fn attempts_exhausted_then_replay(b: Backend) {
    // Connecteam answers 503 to every lookup: three attempts, then the operation is
    // dead-lettered with the reason; once Connecteam is back, a replay delivers it.
    let app = TestApp::start(TestDb::new(b).await, |c| c.delivery.max_attempts = 3).await;
    let sim = app.sim();
    let unavailable = FaultKind::Status(503, json!({"detail": "Service Unavailable"}));
    sim.inject(fault(Method::GET, USERS, 1000, unavailable));
    let id = post(&app, &person(&unique_id("evt"), 1)).await;
    let ev = app.wait_status(&id, "failed").await;
    let resolve = &ev["operations"][0];
    assert_eq!(resolve["status"], "dead", "{ev:#}");
    assert_eq!(resolve["attempts"], 3, "{ev:#}");
    let err = resolve["last_error"].as_str().unwrap();
    assert!(
        err.contains("gave up after 3 attempts") && err.contains("503"),
        "{err}"
    );
    assert_eq!(
        count(sim, &Method::POST, USERS),
        0,
        "nothing created blindly"
    );

    sim.clear_faults();
    let r = app
        .admin_post(&format!("/v1/events/{id}/replay"), &json!({}))
        .await;
    assert_eq!(r.status(), 200);
    app.wait_status(&id, "done").await;
    assert_delivered(&app, &[id]).await;
    check_sim_invariants(sim);
    app.stop().await;
}

async fn rehire_restore_fails_then_succeeds(b: Backend) {
    // Alan Turing (archived) is hired again; the first restore is answered 503.
    let app = TestApp::spawn(b).await;
    let sim = app.sim();
    let alan = sim
        .users()
        .into_iter()
        .find(|u| u.first_name == "Alan")
        .unwrap();
    let unavailable = FaultKind::Status(503, json!({"detail": "Service Unavailable"}));
    sim.inject(fault(Method::PUT, USERS, 1, unavailable));
    let mut body = person(&unique_id("evt"), 1);
    body["person"] = json!({"first_name": "Alan", "last_name": "Turing",
        "email": "alan@example.com", "phone": "+14155550124"});
    let id = post(&app, &body).await;
    app.settle().await;
    let ids = assert_delivered(&app, &[id]).await;
    assert_eq!(ids, [alan.user_id]);
    let now = sim
        .users()
        .into_iter()
        .find(|u| u.user_id == alan.user_id)
        .unwrap();
    assert!(!now.is_archived);
    assert_eq!(sim.users().len(), SEEDED_USERS);
    assert_eq!(faults_seen(sim, "status 503"), 1);
    check_sim_invariants(sim);
    app.stop().await;
}

async fn two_engines_on_one_database(b: Backend) {
    const N: u32 = 40;
    let db = TestDb::new(b).await;
    let shared = db.share();
    let sim = db.sim.clone();
    let a = TestApp::start(db, |_| {}).await;
    let b = TestApp::start(shared, |_| {}).await;
    let bodies: Vec<Value> = (0..N).map(|i| person(&unique_id("evt"), i)).collect();
    let (first, second) = bodies.split_at(N as usize / 2);
    let (ea, eb) = tokio::join!(post_all(&a, first), post_all(&b, second));
    a.settle().await;
    b.settle().await;
    let events: Vec<String> = ea.into_iter().chain(eb).collect();
    assert_delivered(&a, &events).await;
    assert_eq!(sim.users().len(), SEEDED_USERS + N as usize);
    for pack in planned_packs(&a, &bodies[0]).await {
        let assigned = sim.pack_assignments(pack);
        let unique: BTreeSet<_> = assigned.iter().collect();
        assert_eq!(unique.len(), N as usize, "pack {pack}");
        assert_eq!(assigned.len(), N as usize, "pack {pack}");
    }
    let per_hire = planned_policies(&a, &bodies[0]).await;
    assert_eq!(sim.policy_assignments().len(), per_hire * N as usize);
    // Every policy PUT once: neither engine repeated the other's work.
    let puts = sim
        .requests()
        .iter()
        .filter(|r| r.method == Method::PUT && r.path.starts_with("/time-off/"))
        .count();
    assert_eq!(puts, per_hire * N as usize);
    check_sim_invariants(&sim);
    b.stop().await;
    a.stop().await;
}
