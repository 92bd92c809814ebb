//! SIGKILL loops during delivery, on PostgreSQL with one replica and with two: whenever a
//! process dies (before a request, while Connecteam applies it, before its answer is
//! committed), the hires still end up delivered with no duplicate user and no write repeated
//! after Connecteam applied it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;

use crate::delivery::person;
use crate::durability::{Proc, free_port, serve, wait_ready};
use crate::helpers::*;
use hirebridge::simulator::Simulator;

const HIRES: u32 = 120;
/// Milliseconds each process is given after it is ready, before it is killed: varied so that
/// kills land in every phase of delivery.
const LIFETIMES_MS: [u64; 12] = [
    350, 900, 200, 1300, 600, 450, 1100, 250, 800, 500, 1500, 300,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_killed_twelve_times() {
    kill_loop(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_killed_twelve_times() {
    kill_loop(2).await;
}

async fn kill_loop(replicas: usize) {
    let db = TestDb::new(Backend::Postgres).await;
    std::fs::write(db.rules_path(), TEST_RULES).unwrap();
    // A budget of 25 requests a second stretches delivery (about 260 calls) over the kills.
    let cfg = db
        .config_yaml()
        .replace("requests_per_minute: 60000", "requests_per_minute: 1500");
    let config = db.dir.path().join("config.yaml");
    std::fs::write(&config, cfg).unwrap();
    let http = reqwest::Client::new();
    let ports: Vec<u16> = (0..replicas).map(|_| free_port()).collect();

    // Intake first, on a replica that then dies with the rest.
    let mut running: Vec<Proc> = ports.iter().map(|&p| serve(&config, p)).collect();
    for r in &running {
        wait_ready(&http, &r.base).await;
    }
    let mut events = Vec::new();
    for n in 0..HIRES {
        events.push(post_hire(&http, &running[0].base, "kill", n).await);
    }

    // Kill and restart: every replica at once with one, one of the two in turn with two.
    let mut kills = 0;
    for (i, ms) in LIFETIMES_MS.iter().enumerate() {
        tokio::time::sleep(Duration::from_millis(*ms)).await;
        let victim = i % replicas;
        running.remove(victim).kill();
        kills += 1;
        let r = serve(&config, ports[victim]);
        wait_ready(&http, &r.base).await;
        running.insert(victim, r);
    }
    assert!(kills >= 10);
    let applied_before_settling = db.sim.requests().len();
    assert!(
        applied_before_settling > 20,
        "the kills came before delivery was under way ({applied_before_settling} requests)"
    );

    wait_all_done(&http, &running[0].base, &events, Duration::from_secs(240)).await;
    for r in running {
        r.kill();
    }

    let sim = &db.sim;
    assert_each_write_once(sim, "kill_", HIRES as usize);
    let read_backs = sim
        .requests()
        .iter()
        .filter(|r| {
            r.method == Method::GET
                && (r.path.ends_with("/balances") || r.path.ends_with("/assignments"))
        })
        .count();
    println!(
        "{replicas} replica(s), {kills} kills: {} Connecteam requests, {applied_before_settling} \
         of them during the kills, {read_backs} read-backs of writes whose answer was lost",
        sim.requests().len()
    );
}

/// Post hire `n` (an email starting `{prefix}_`) to the `hmac` source on `base`; its event id.
pub(crate) async fn post_hire(http: &reqwest::Client, base: &str, prefix: &str, n: u32) -> String {
    let body = serde_json::to_vec(&person(&unique_id(prefix), n)).unwrap();
    let r = http
        .post(format!("{base}/v1/webhooks/hmac"))
        .header("content-type", "application/json")
        .header("x-signature", hmac_headers(&body)[1].1.clone())
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{base} refused a hire");
    let v: Value = r.json().await.unwrap();
    v["event_id"].as_str().unwrap().to_owned()
}

/// Poll `GET /v1/events/{id}` on `base` until every event is `done`; any other end is a failure.
pub(crate) async fn wait_all_done(
    http: &reqwest::Client,
    base: &str,
    events: &[String],
    within: Duration,
) {
    let deadline = Instant::now() + within;
    let mut pending: BTreeSet<&String> = events.iter().collect();
    while !pending.is_empty() {
        assert!(
            Instant::now() < deadline,
            "{} hires not delivered after the kills",
            pending.len()
        );
        let mut still = BTreeSet::new();
        for id in pending {
            let ev: Value = http
                .get(format!("{base}/v1/events/{id}"))
                .bearer_auth(admin_token())
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            match ev["status"].as_str() {
                Some("done") => {}
                Some("accepted" | "delivering" | "waiting_for_user") => {
                    still.insert(id);
                }
                other => panic!("event {id} ended {other:?}: {ev:#}"),
            }
        }
        pending = still;
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// What the simulator holds for the `hires` whose emails start with `email_prefix`: one user
/// each, and no write Connecteam applied sent again (each user created once, put in each of
/// the test rules' packs once, given each of its two policies once).
pub(crate) fn assert_each_write_once(sim: &Simulator, email_prefix: &str, hires: usize) {
    let mut by_email: BTreeMap<String, usize> = BTreeMap::new();
    for u in sim.users() {
        if let Some(e) = u.email.filter(|e| e.starts_with(email_prefix)) {
            *by_email.entry(e).or_default() += 1;
        }
    }
    assert_eq!(by_email.len(), hires, "a hire has no user");
    assert!(
        by_email.values().all(|&n| n == 1),
        "duplicate users: {:?}",
        by_email.iter().filter(|(_, n)| **n > 1).collect::<Vec<_>>()
    );

    let mut writes: BTreeMap<String, usize> = BTreeMap::new();
    for r in sim.requests() {
        if !(200..300).contains(&r.status) {
            continue;
        }
        let body = r.body.clone().unwrap_or(Value::Null);
        let keys: Vec<String> = match (&r.method, r.path.as_str()) {
            (&Method::POST, "/users/v1/users") => body
                .as_array()
                .into_iter()
                .flatten()
                .map(|u| format!("create {}", u["email"]))
                .collect(),
            (&Method::POST, p) if p.starts_with("/onboarding/") => body["userIds"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|u| format!("{p} {u}"))
                .collect(),
            (&Method::PUT, p) if p.starts_with("/time-off/") => {
                vec![format!("{p} {}", body["userId"])]
            }
            _ => Vec::new(),
        };
        for k in keys {
            *writes.entry(k).or_default() += 1;
        }
    }
    let repeated: Vec<_> = writes.iter().filter(|(_, n)| **n > 1).collect();
    assert!(repeated.is_empty(), "writes applied twice: {repeated:?}");
    let count = |prefix: &str| writes.keys().filter(|k| k.starts_with(prefix)).count();
    assert_eq!(count("create "), hires);
    assert_eq!(count("/onboarding/v1/packs/101/"), hires);
    assert_eq!(count("/onboarding/v1/packs/102/"), hires);
    assert_eq!(count("/time-off/"), 2 * hires);
}
