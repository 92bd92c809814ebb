//! Three `hirebridge serve` processes on one PostgreSQL database behave as one service: a
//! burst of hires posted across all three, one replica killed with SIGKILL while delivery is
//! under way, and then every hire is delivered once, no write repeated, and the three together
//! kept to the account's one budget in every rate-limit window the simulator counted.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hirebridge::simulator::SimConfig;

use crate::durability::{free_port, serve, wait_ready};
use crate::helpers::*;
use crate::kill_loop::{assert_each_write_once, post_hire, wait_all_done};

const REPLICAS: usize = 3;
const HIRES: u32 = 90;
/// The simulated account's window, shortened so the test runs in seconds: 50 requests per
/// 5-second "minute" is Connecteam's budget scaled to 600 a minute.
const WINDOW: Duration = Duration::from_secs(5);
const PER_WINDOW: u32 = 50;
/// The same budget as hirebridge is told it (per 60-second minute).
const REQUESTS_PER_MINUTE: u32 = 600;
/// The replica killed once the simulator has seen this many requests.
const KILL_AFTER_REQUESTS: usize = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_on_one_database_are_one_service() {
    let db = TestDb::with_sim(
        Backend::Postgres,
        SimConfig {
            requests_per_minute: PER_WINDOW,
            window: WINDOW,
            ..sim_config()
        },
    )
    .await;
    std::fs::write(db.rules_path(), TEST_RULES).unwrap();
    let cfg = db.config_yaml().replace(
        "requests_per_minute: 60000",
        &format!("requests_per_minute: {REQUESTS_PER_MINUTE}"),
    );
    let config = db.dir.path().join("config.yaml");
    std::fs::write(&config, cfg).unwrap();
    let http = reqwest::Client::new();

    let mut replicas: Vec<_> = (0..REPLICAS).map(|_| serve(&config, free_port())).collect();
    for r in &replicas {
        wait_ready(&http, &r.base).await;
    }
    let bases: Arc<Vec<String>> = Arc::new(replicas.iter().map(|r| r.base.clone()).collect());

    // The burst: 12 senders at once, each hire posted to the next replica in turn.
    let started = Instant::now();
    let mut senders = Vec::new();
    for w in 0..12u32 {
        let (http, bases) = (http.clone(), bases.clone());
        senders.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for n in (w..HIRES).step_by(12) {
                let replica = n as usize % REPLICAS;
                acked.push((replica, post_hire(&http, &bases[replica], "scale", n).await));
            }
            acked
        }));
    }
    let mut events = Vec::new();
    let mut per_replica = [0usize; REPLICAS];
    for s in senders {
        for (replica, id) in s.await.unwrap() {
            per_replica[replica] += 1;
            events.push(id);
        }
    }
    assert_eq!(events.len(), HIRES as usize);
    assert!(per_replica.iter().all(|&n| n > 0), "{per_replica:?}");

    // Kill one replica mid-delivery: once Connecteam has seen some of the work, long before
    // all of it (the budget alone stretches delivery over several windows).
    let deadline = Instant::now() + Duration::from_secs(60);
    while db.sim.requests().len() < KILL_AFTER_REQUESTS {
        assert!(Instant::now() < deadline, "delivery never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let victim = replicas.remove(1);
    victim.kill();
    let seen_at_kill = db.sim.requests().len();

    wait_all_done(&http, &replicas[0].base, &events, Duration::from_secs(240)).await;
    let drained = started.elapsed();
    for r in replicas {
        r.kill();
    }

    let sim = &db.sim;
    assert_each_write_once(sim, "scale_", HIRES as usize);

    // One budget: every request the account received, counted in the simulator's own
    // windows, and not one refused for the rate limit.
    let requests = sim.requests();
    let mut per_window: BTreeMap<u64, u32> = BTreeMap::new();
    for r in &requests {
        *per_window
            .entry(r.at_ms / WINDOW.as_millis() as u64)
            .or_default() += 1;
    }
    let busiest = per_window.values().copied().max().unwrap_or(0);
    assert!(
        busiest <= PER_WINDOW,
        "the replicas together sent {busiest} requests in one window of {PER_WINDOW}: {per_window:?}"
    );
    assert_eq!(sim.count_429(), 0, "the replicas overspent the budget");
    // The budget bound the work: without it the requests would have gone out in one window.
    assert!(
        per_window.len() >= 3,
        "delivery fitted in {} windows: the budget was never the limit ({} requests)",
        per_window.len(),
        requests.len()
    );
    assert!(
        seen_at_kill < requests.len(),
        "the kill came after delivery had finished"
    );
    let full: Vec<u32> = per_window.values().copied().collect();
    println!(
        "{REPLICAS} replicas, {HIRES} hires (posted {per_replica:?}), 1 SIGKILL after \
         {seen_at_kill} of {} Connecteam requests; requests per {}-s window {full:?} against a \
         budget of {PER_WINDOW}, busiest {busiest}, 429s 0; all delivered in {:.1} s",
        requests.len(),
        WINDOW.as_secs(),
        drained.as_secs_f64()
    );
}
