//! Delivery bench: N accepted hires (one shared pack, two policies each) drained by the real
//! delivery engine into the Connecteam simulator under an account budget, and how many calls
//! that took against the floor and against a naive one-hire-at-a-time flow.
//!
//! Run: `cargo bench --bench delivery`. Settings (environment):
//!   BENCH_HIRES     hires to deliver (default 1000)
//!   BENCH_EXISTING  of which already exist in Connecteam, by email (default 100)
//!   BENCH_RPM       the account budget in requests per minute (default 12000)
//!   BENCH_PROFILE   1: run the burst again with a profile (four custom fields) and print
//!                   what profiles cost in calls, both measured in the one run
//!
//! The budget is scaled up (12,000/minute instead of Connecteam's typical 100) so the run
//! finishes in seconds; the simulator enforces the same budget with real 60-second windows, so
//! drain time ÷ (calls ÷ budget) is the same ratio a 100/minute account would see over hours.
//! BENCH_RPM=100 runs it at the real budget (about 21 minutes for 1,000 hires).

use std::sync::Arc;
use std::time::{Duration, Instant};

use hirebridge::clock::now_ms;
use hirebridge::config::Config;
use hirebridge::connecteam::Client;
use hirebridge::delivery::{self, LOOKUP_BATCH};
use hirebridge::domain::Hire;
use hirebridge::domain::OperationStatus;
use hirebridge::intake;
use hirebridge::rules::RuleSet;
use hirebridge::simulator::{SimConfig, Simulator};
use hirebridge::sources::{Content, Item, fingerprint};
use hirebridge::store;
use tokio_util::sync::CancellationToken;

const RULES: &str = r#"version: 1
rules:
  - name: everyone
    when: {}
    assign:
      packs: [101]
      policies:
        - { id: pol-vac-ft-001, balance: 15, unit: days }
        - { id: pol-sick-001, balance: 40, unit: hours }
"#;

/// `BENCH_PROFILE=1`: the same table with a profile (custom fields of every kind hirebridge
/// writes on create: text, date, a dropdown, the direct manager).
const PROFILE: &str = r#"profile:
  Title: "{job.title}"
  Employment Start Date: "{job.start_date}"
  Department: Warehouse
  Direct manager: "{job.manager_email}"
"#;

fn env_u32(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--help" || a == "-h") {
        println!(
            "{}",
            include_str!("delivery.rs")
                .lines()
                .take(15)
                .collect::<Vec<_>>()
                .join("\n")
        );
        return Ok(());
    }
    let n = env_u32("BENCH_HIRES", 1000);
    let existing = env_u32("BENCH_EXISTING", 100).min(n);
    let rpm = env_u32("BENCH_RPM", 12_000);
    let profiles = std::env::var_os("BENCH_PROFILE").is_some_and(|v| v != "0");
    let plain = burst(n, existing, rpm, false).await?;
    if !profiles {
        return Ok(());
    }
    println!();
    let profiled = burst(n, existing, rpm, true).await?;
    // What profiles cost, measured in this one run: the created users' fields ride in their
    // creates; the account's fields are read once; each existing user is written once, 25 to
    // a PUT.
    let extra = profiled.calls as i64 - plain.calls as i64;
    let expected = 1 + i64::from(existing.div_ceil(25));
    println!();
    println!("profiles on vs off, same burst, this run:");
    println!(
        "  calls without / with        {:>6} / {}",
        plain.calls, profiled.calls
    );
    println!(
        "  creates without / with      {:>6} / {}   (grouped by sendActivation: the burst's plans all say the same)",
        plain.creates, profiled.creates
    );
    println!(
        "  extra calls                 {extra:>6}   expected 1 custom-fields read + ⌈{existing}/25⌉ = {} user PUTs = {expected}  {}",
        i64::from(existing.div_ceil(25)),
        verdict(extra <= expected)
    );
    println!(
        "  new users: calls beyond the plain burst's, less the read and the PUTs: {}  target 0  {}",
        extra - 1 - profiled.user_puts as i64,
        verdict(extra - 1 - profiled.user_puts as i64 <= 0)
    );
    Ok(())
}

/// What one burst cost.
struct Burst {
    calls: usize,
    creates: usize,
    user_puts: usize,
}

async fn burst(n: u32, existing: u32, rpm: u32, profiles: bool) -> anyhow::Result<Burst> {
    let sim = Simulator::new(SimConfig {
        requests_per_minute: rpm,
        requests_per_day: u32::MAX,
        ..SimConfig::default()
    });
    let sim_addr = sim
        .spawn(tokio::net::TcpListener::bind("127.0.0.1:0").await?)
        .await;

    let dir = tempfile::tempdir()?;
    let mut cfg = Config::from_yaml(&format!(
        "database_url: sqlite://{}\nconnecteam: {{ base_url: \"http://{sim_addr}\", api_key: bench, requests_per_minute: {rpm} }}\n",
        dir.path().join("bench.db").display()
    ))
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    cfg.delivery.batch_window_ms = 500;
    let store = store::connect(&cfg.database_url).await?;
    store.migrate().await?;
    let table = if profiles {
        RULES.replacen("rules:\n", &format!("{PROFILE}rules:\n"), 1)
    } else {
        RULES.to_owned()
    };
    let rules = RuleSet::parse("bench-rules.yaml", &table).map_err(|e| anyhow::anyhow!("{e}"))?;

    // N accepted hires, committed as intake commits them; the first `existing` already have
    // a Connecteam user (same email, another phone: found by the email lookup).
    let mut events = Vec::with_capacity(n as usize);
    for i in 0..n {
        let email = format!("hire{i}@example.com");
        let phone = format!("+1415{:07}", 2_000_000 + i);
        if i < existing {
            sim.add_user(
                "Existing",
                &format!("User{i}"),
                &format!("+1628{:07}", 2_000_000 + i),
                Some(&email),
                false,
            );
        }
        let body = serde_json::json!({
            "event_id": format!("bench-{i}"), "type": "hire.created",
            "person": {"first_name": "Hire", "last_name": format!("N{i}"), "email": email, "phone": phone},
            "job": {"employment_type": "full_time", "title": "Picker", "start_date": "2026-12-07",
                    "manager_email": "grace@example.com"}
        });
        let hire = Hire::from_json(&body, "US").map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let item = Item {
            dedupe_key: hire.event_id.clone(),
            fingerprint: fingerprint(&body),
            content: Content::Hire(Box::new(hire)),
        };
        events.push(intake::build_event("bench", item, &rules, now_ms()));
    }
    for chunk in events.chunks(256) {
        store.insert_events(chunk).await?;
    }
    sim.clear_requests();

    let client = Client::new(&cfg.connecteam)?;
    let budget = delivery::connecteam_budget(store.clone(), &cfg.connecteam);
    let engine = Arc::new(delivery::engine(
        store.clone(),
        client.with_gate(budget.clone()),
        budget,
        &cfg.connecteam,
        &cfg.delivery,
        None,
    ));
    let cancel = CancellationToken::new();
    let started = Instant::now();
    let task = tokio::spawn(engine.clone().run(cancel.clone()));
    // Generous: three times what the floor of calls takes at this budget, at least 10 minutes.
    let floor_secs = (3 * n as u64 + 100) * 60 / u64::from(rpm.max(1));
    let deadline = started + Duration::from_secs((3 * floor_secs).max(600));
    loop {
        let stats = store.queue_stats().await?;
        let open: i64 = stats
            .iter()
            .filter(|s| {
                matches!(
                    s.status,
                    OperationStatus::Pending | OperationStatus::Blocked | OperationStatus::Waiting
                )
            })
            .map(|s| s.count)
            .sum();
        if open == 0 {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "not drained after {:?}: {stats:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let drain = started.elapsed();
    cancel.cancel();
    task.await?;

    let dead: i64 = store
        .queue_stats()
        .await?
        .iter()
        .filter(|s| s.status == OperationStatus::Dead)
        .map(|s| s.count)
        .sum();
    let reqs = sim.requests();
    let count = |m: &str, p: &dyn Fn(&str) -> bool| {
        reqs.iter()
            .filter(|r| r.method.as_str() == m && p(&r.path))
            .count()
    };
    let lookups = count("GET", &|p| p == "/users/v1/users");
    let creates = count("POST", &|p| p == "/users/v1/users");
    let pack_posts = count("POST", &|p| p.starts_with("/onboarding/v1/packs/"));
    let pack_reads = count("GET", &|p| p.starts_with("/onboarding/v1/packs/"));
    let puts = count("PUT", &|p| p.starts_with("/time-off/"));
    let field_reads = count("GET", &|p| p == "/users/v1/custom-fields");
    let user_puts = count("PUT", &|p| p == "/users/v1/users");
    let calls = reqs.len();
    let rate_limited = sim.count_429();

    let new_users = (n - existing) as usize;
    let pack_users = sim.pack_assignments(101).len();
    let policy_rows = sim.policy_assignments().len();
    let floor_lookups = (n as usize).div_ceil(LOOKUP_BATCH as usize);
    // With profiles: one read of the account's fields, and the existing users' PUTs.
    let profile_floor = if profiles {
        1 + (existing as usize).div_ceil(25)
    } else {
        0
    };
    let floor = floor_lookups
        + new_users.div_ceil(25)
        + pack_users.div_ceil(500)
        + 2 * n as usize
        + profile_floor;
    // One hire at a time: look up by email, create when missing, one pack POST, two PUTs.
    let naive = n as usize + new_users + n as usize + 2 * n as usize;
    let ideal = Duration::from_secs_f64(calls as f64 / (f64::from(rpm) / 60.0));

    println!(
        "delivery bench: {n} hires ({existing} already in Connecteam), 1 shared pack, 2 policies each, profiles {}",
        if profiles {
            "on (4 custom fields)"
        } else {
            "off"
        }
    );
    println!(
        "budget: {rpm} requests/minute (scaled up; the simulator enforces it in 60 s windows)"
    );
    println!();
    println!(
        "  Connecteam calls made      {calls:>7}   (lookups {lookups}, creates {creates}, pack POSTs {pack_posts}, pack reads {pack_reads}, policy PUTs {puts})"
    );
    println!(
        "  floor                      {floor:>7}   (lookups ⌈{n}/{LOOKUP_BATCH}⌉={floor_lookups} + ⌈{new_users}/25⌉ + ⌈{pack_users}/500⌉ + {} PUTs{})",
        2 * n,
        if profiles {
            format!(" + 1 custom-fields read + ⌈{existing}/25⌉ user PUTs")
        } else {
            String::new()
        }
    );
    println!("  naive one-at-a-time        {naive:>7}");
    println!(
        "  calls / floor              {:>7.3}   target ≤ 1.05  {}",
        calls as f64 / floor as f64,
        verdict(calls as f64 / floor as f64 <= 1.05)
    );
    println!(
        "  calls / naive              {:>7.3}",
        calls as f64 / naive as f64
    );
    // The PUTs (one per policy, no batch endpoint) dominate the floor; the calls that
    // batching is about, on their own. Email and phone lookups are separate requests
    // (Connecteam does not document how it combines filters), so hires that no email
    // matches cost a phone lookup per 100 more than this floor counts.
    let batched = calls - puts;
    let batched = batched - user_puts - field_reads;
    let batched_floor = floor - 2 * n as usize - profile_floor;
    println!(
        "  without the PUTs           {batched:>7}   floor {batched_floor} ({:.2}×; phone lookups for the {new_users} hires no email matched: ⌈{new_users}/{LOOKUP_BATCH}⌉ = {})",
        batched as f64 / batched_floor as f64,
        new_users.div_ceil(LOOKUP_BATCH as usize)
    );
    if profiles {
        let complete = sim
            .users()
            .iter()
            .filter(|u| {
                sim.custom_field_value(u.user_id, "Title").is_some()
                    && sim
                        .custom_field_value(u.user_id, "Direct manager")
                        .is_some()
            })
            .count();
        let put_users: usize = reqs
            .iter()
            .filter(|r| r.method.as_str() == "PUT" && r.path == "/users/v1/users")
            .map(|r| {
                r.body
                    .as_ref()
                    .and_then(|b| b.as_array())
                    .map_or(0, Vec::len)
            })
            .sum();
        println!(
            "  profiles                   {field_reads:>7}   custom-fields reads; {complete} of {} users hold their fields; user PUTs {user_puts} for {put_users} existing users (⌈{existing}/25⌉ = {})",
            n,
            existing.div_ceil(25)
        );
        anyhow::ensure!(complete == n as usize, "every hire's user holds its fields");
        anyhow::ensure!(
            put_users == existing as usize,
            "each existing user written once: {put_users} of {existing}"
        );
    }
    println!(
        "  429s received              {rate_limited:>7}   target 0  {}",
        verdict(rate_limited == 0)
    );
    println!(
        "  drain time                 {:>7.2} s",
        drain.as_secs_f64()
    );
    println!(
        "  calls ÷ budget             {:>7.2} s",
        ideal.as_secs_f64()
    );
    println!(
        "  drain / (calls ÷ budget)   {:>7.3}   target ≤ 1.05  {}",
        drain.as_secs_f64() / ideal.as_secs_f64(),
        verdict(drain.as_secs_f64() / ideal.as_secs_f64() <= 1.05)
    );
    println!();
    println!(
        "  check: users in Connecteam {} (2 seeded + {existing} existing + {new_users} created), pack 101 holds {pack_users}, policy assignments {policy_rows}, dead-lettered operations {dead}",
        sim.users().len()
    );
    anyhow::ensure!(pack_users == n as usize, "every hire is in the pack");
    anyhow::ensure!(
        sim.users().len() == 2 + n as usize,
        "one user per hire: {} users for {n} hires and 2 seeded",
        sim.users().len()
    );
    anyhow::ensure!(
        policy_rows == 2 * n as usize,
        "every hire has both policies"
    );
    anyhow::ensure!(dead == 0, "nothing dead-lettered");
    store.close().await;
    Ok(Burst {
        calls,
        creates,
        user_puts,
    })
}

fn verdict(ok: bool) -> &'static str {
    if ok { "PASS" } else { "MISS" }
}
