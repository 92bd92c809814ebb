//! `hirebridge migrate --copy-from`: a service stopped on SQLite mid-delivery goes on from
//! PostgreSQL with every event, nothing repeated that was done, and the rest delivered.

use std::process::Command;
use std::time::Duration;

use crate::durability::{free_port, serve, wait_ready};
use crate::helpers::*;
use crate::kill_loop::{assert_each_write_once, post_hire, wait_all_done};

const HIRES: u32 = 40;

fn copy(config: &std::path::Path, from: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hirebridge"))
        .args(["migrate", "--config"])
        .arg(config)
        .args(["--copy-from", from])
        .env("RUST_LOG", "warn")
        .output()
        .expect("run hirebridge migrate")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_moved_from_sqlite_to_postgres_goes_on_where_it_stopped() {
    let sq = TestDb::new(Backend::Sqlite).await;
    let pg = TestDb::new(Backend::Postgres).await;
    std::fs::write(sq.rules_path(), TEST_RULES).unwrap();
    // 25 requests a second: delivery of 40 hires (about 90 calls) is still under way when the
    // service is stopped.
    let on_sqlite = sq
        .config_yaml()
        .replace("requests_per_minute: 60000", "requests_per_minute: 1500");
    let on_postgres = on_sqlite.replace(&sq.url, &pg.url);
    let sq_config = sq.dir.path().join("config.yaml");
    let pg_config = sq.dir.path().join("config-postgres.yaml");
    std::fs::write(&sq_config, &on_sqlite).unwrap();
    std::fs::write(&pg_config, &on_postgres).unwrap();
    let http = reqwest::Client::new();

    let p = serve(&sq_config, free_port());
    wait_ready(&http, &p.base).await;
    let mut events = Vec::new();
    for n in 0..HIRES {
        events.push(post_hire(&http, &p.base, "moved", n).await);
    }
    while sq.sim.requests().len() < 30 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    p.kill();
    let before_move = sq.sim.requests().len();

    // A missing file is refused rather than copied as an empty database.
    let missing = copy(&pg_config, "sqlite:///nonexistent/hirebridge.db");
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("not a SQLite database file"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );

    let out = copy(&pg_config, &sq.url);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains(&format!("copied {HIRES} events")), "{said}");

    // Copying again would duplicate nothing: a database that holds events is refused.
    let again = copy(&pg_config, &sq.url);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already holds 40 events"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    let p = serve(&pg_config, free_port());
    wait_ready(&http, &p.base).await;
    wait_all_done(&http, &p.base, &events, Duration::from_secs(120)).await;
    p.kill();
    assert!(
        sq.sim.requests().len() > before_move,
        "nothing was left to deliver after the move"
    );
    assert_each_write_once(&sq.sim, "moved_", HIRES as usize);
}
