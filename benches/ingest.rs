//! Ingest benchmark: durable intake against the bare ceiling, side by side in one run.
//!
//! Three servers, each a separate process, each loaded the same way (32 concurrent senders, one
//! keep-alive HTTP/1.1 connection each, every request a unique event id):
//!
//! 1. the bare ceiling: this binary re-executed with `--bare-server PORT`, an axum route that
//!    reads the body, parses it into `Hire` and answers 202, storing nothing;
//! 2. `hirebridge serve` on SQLite (WAL, synchronous=FULL), HMAC-SHA256 source;
//! 3. `hirebridge serve` on a fresh PostgreSQL database, same source.
//!
//! Run: `cargo bench --bench ingest`. Knobs: `BENCH_SECS` (measured seconds, default 8),
//! `BENCH_WARMUP_SECS` (default 2), `BENCH_CONCURRENCY` (default 32), `BENCH_PG_URL` (admin URL,
//! default `postgres://postgres@127.0.0.1:5432/postgres`; `BENCH_PG=0` skips PostgreSQL).
//! See benches/README.md for how to read the output.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use sqlx::Connection;

use hirebridge::config::SignatureEncoding;
use hirebridge::testkit::sign_hmac_sha256;

const HMAC_SECRET: &str = "bench-hmac-secret";
const SOURCE: &str = "hmac";
const PHONE_REGION: &str = "GB";

const RULES: &str = r#"version: 1
rules:
  - name: full-time
    when: { job.employment_type: full_time }
    assign:
      packs: [101]
      policies:
        - { id: pol-vac-ft-001, balance: 15, unit: days }
        - { id: pol-sick-001, balance: 40, unit: hours }
  - name: everyone
    when: {}
    assign: { packs: [102] }
"#;

const TARGET_RATIO: f64 = 0.5;
const TARGET_P99_MS: f64 = 10.0;
const TARGET_START_MS: f64 = 200.0;
const TARGET_IDLE_RSS_MB: f64 = 30.0;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--bare-server") {
        let port: u16 = args
            .get(i + 1)
            .and_then(|p| p.parse().ok())
            .expect("--bare-server PORT");
        bare_server(port);
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(bench());
}

// ---------------------------------------------------------------------------------------------
// The bare ceiling: parse the same JSON into the same type, store nothing.

fn bare_server(port: u16) {
    use axum::Router;
    use axum::http::StatusCode as S;
    use axum::routing::{get, post};

    async fn receive(body: axum::body::Bytes) -> (S, axum::Json<serde_json::Value>) {
        let value: serde_json::Value = match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(_) => return (S::BAD_REQUEST, axum::Json(serde_json::json!({}))),
        };
        match hirebridge::domain::Hire::from_json(&value, PHONE_REGION) {
            Ok(hire) => (
                S::ACCEPTED,
                axum::Json(serde_json::json!({"event_id": hire.event_id, "status": "accepted"})),
            ),
            Err(_) => (S::UNPROCESSABLE_ENTITY, axum::Json(serde_json::json!({}))),
        }
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let app = Router::new()
            .route("/v1/webhooks/{source}", post(receive))
            .route("/readyz", get(|| async { "ready" }));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind bare server");
        axum::serve(listener, app).await.expect("bare server");
    });
}

// ---------------------------------------------------------------------------------------------
// Settings and results.

struct Settings {
    warmup: Duration,
    measured: Duration,
    concurrency: usize,
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Default)]
struct LoadResult {
    /// Completed 2xx requests inside the measured window.
    measured_ok: u64,
    measured_secs: f64,
    hist: Option<Histogram<u64>>,
    /// Over the whole run (warm-up included).
    accepted_202: u64,
    other_2xx: u64,
    non_2xx: u64,
    transport_errors: u64,
    built_on_the_fly: u64,
    peak_rss_kb: u64,
    /// CPU seconds used during the load (warm-up included) by the server and by this process.
    server_cpu_s: f64,
    client_cpu_s: f64,
    load_wall_s: f64,
}

impl LoadResult {
    fn rps(&self) -> f64 {
        self.measured_ok as f64 / self.measured_secs
    }
    fn q_ms(&self, q: f64) -> f64 {
        self.hist
            .as_ref()
            .map(|h| h.value_at_quantile(q) as f64 / 1000.0)
            .unwrap_or(f64::NAN)
    }
    fn max_ms(&self) -> f64 {
        self.hist
            .as_ref()
            .map(|h| h.max() as f64 / 1000.0)
            .unwrap_or(f64::NAN)
    }
    fn failures(&self) -> u64 {
        self.non_2xx + self.transport_errors
    }
}

struct ServerRun {
    name: &'static str,
    load: LoadResult,
    start_ms: Option<f64>,
    idle_rss_kb: Option<u64>,
    stored: Option<i64>,
    metrics: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// The driver.

async fn bench() {
    let settings = Settings {
        warmup: Duration::from_secs(env_u64("BENCH_WARMUP_SECS", 2)),
        measured: Duration::from_secs(env_u64("BENCH_SECS", 8).max(1)),
        concurrency: env_u64("BENCH_CONCURRENCY", 32).max(1) as usize,
    };
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "hirebridge ingest bench: {} concurrent senders, {} s warm-up + {} s measured per server, {} CPU core(s) shared by server and load generator",
        settings.concurrency,
        settings.warmup.as_secs(),
        settings.measured.as_secs(),
        cores
    );
    println!(
        "client: hyper HTTP/1.1, one keep-alive connection per sender, bodies and HMAC signatures pre-built"
    );

    let mut runs: Vec<ServerRun> = Vec::new();

    // 1. Bare ceiling.
    let bare = run_bare(&settings).await;
    let bare_rps = bare.load.rps();
    runs.push(bare);

    // Size later pre-built pools from what the ceiling managed (nothing can beat it by much).
    let per_sec_hint = (bare_rps * 1.5).max(5_000.0);

    // 2. hirebridge on SQLite.
    let dir = tempfile::tempdir().expect("tempdir");
    let db_path = dir.path().join("bench.db");
    let sqlite_url = format!("sqlite://{}", db_path.display());
    runs.push(
        run_hirebridge(
            "hirebridge SQLite",
            &sqlite_url,
            dir.path(),
            &settings,
            per_sec_hint,
        )
        .await,
    );

    // 3. hirebridge on PostgreSQL.
    if std::env::var("BENCH_PG").as_deref() != Ok("0") {
        let admin_url = std::env::var("BENCH_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        match create_pg_db(&admin_url).await {
            Ok((name, url)) => {
                let pg_dir = tempfile::tempdir().expect("tempdir");
                let run = run_hirebridge(
                    "hirebridge PostgreSQL",
                    &url,
                    pg_dir.path(),
                    &settings,
                    per_sec_hint,
                )
                .await;
                runs.push(run);
                if let Err(e) = drop_pg_db(&admin_url, &name).await {
                    eprintln!("warning: could not drop database {name}: {e}");
                }
            }
            Err(e) => println!("PostgreSQL: SKIPPED ({e})"),
        }
    }

    report(&runs, &settings, cores);
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

async fn run_bare(settings: &Settings) -> ServerRun {
    let port = free_port();
    let exe = std::env::current_exe().expect("current exe");
    let mut child = Command::new(exe)
        .args(["--bare-server", &port.to_string()])
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn bare server");
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    wait_ready(addr, &mut child).await;
    eprintln!("bare ceiling: loading...");
    let load = load(addr, child.id(), settings, "bare", 50_000.0).await;
    let _ = child.kill();
    let _ = child.wait();
    ServerRun {
        name: "bare axum (no store)",
        load,
        start_ms: None,
        idle_rss_kb: None,
        stored: None,
        metrics: None,
    }
}

async fn run_hirebridge(
    name: &'static str,
    db_url: &str,
    dir: &Path,
    settings: &Settings,
    per_sec_hint: f64,
) -> ServerRun {
    let port = free_port();
    let rules = dir.join("rules.yaml");
    // BENCH_RULES_FILE swaps the rule table (diagnosis: fewer operations per event).
    match std::env::var("BENCH_RULES_FILE") {
        Ok(f) => std::fs::copy(&f, &rules).map(|_| ()),
        Err(_) => std::fs::write(&rules, RULES),
    }
    .expect("write rules");
    let cfg = dir.join("hirebridge.yaml");
    std::fs::write(
        &cfg,
        format!(
            r#"listen: "127.0.0.1:{port}"
database_url: "{db_url}"
rules_file: "{rules}"
sources:
  {SOURCE}:
    kind: generic
    phone_region: {PHONE_REGION}
    auth: {{ hmac_sha256: {{ header: X-Signature, secret: "{HMAC_SECRET}", encoding: hex }} }}
"#,
            rules = rules.display()
        ),
    )
    .expect("write config");

    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let spawned = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hirebridge"))
        .arg("serve")
        .arg("--config")
        .arg(&cfg)
        .env("RUST_LOG", "warn")
        .env_remove("HIREBRIDGE_CONFIG")
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn hirebridge");
    wait_ready(addr, &mut child).await;
    let start_ms = spawned.elapsed().as_secs_f64() * 1000.0;
    // Let the allocator and runtime settle before reading idle memory.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let idle_rss_kb = rss_kb(child.id());

    let metrics_before = fetch(addr, "/metrics").await.unwrap_or_default();
    eprintln!("{name}: loading...");
    let tag = if db_url.starts_with("sqlite") {
        "sq"
    } else {
        "pg"
    };
    let load = load(addr, child.id(), settings, tag, per_sec_hint).await;
    let metrics_after = fetch(addr, "/metrics").await.unwrap_or_default();

    // Durability, honestly: kill -9 and count what is on disk.
    let _ = child.kill();
    let _ = child.wait();
    let stored = match count_events(db_url).await {
        Ok(n) => Some(n),
        Err(e) => {
            eprintln!("{name}: counting events failed: {e}");
            None
        }
    };
    ServerRun {
        name,
        load,
        start_ms: Some(start_ms),
        idle_rss_kb,
        stored,
        metrics: Some(store_metrics(
            &metrics_before,
            &metrics_after,
            (settings.warmup + settings.measured).as_secs_f64(),
        )),
    }
}

/// Poll `/readyz` every 2 ms until it answers 200.
async fn wait_ready(addr: SocketAddr, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("server at {addr} exited during start-up: {status}");
        }
        if let Some((200, _)) = get(addr, "/readyz").await {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "server at {addr} never became ready"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// One GET on a fresh connection: (status, body).
async fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream))
            .await
            .ok()?;
    tokio::spawn(conn);
    let req = Request::get(path)
        .header(HOST, addr.to_string())
        .body(Full::new(Bytes::new()))
        .ok()?;
    let res = sender.send_request(req).await.ok()?;
    let status = res.status().as_u16();
    let body = res.into_body().collect().await.ok()?.to_bytes();
    Some((status, String::from_utf8_lossy(&body).into_owned()))
}

async fn fetch(addr: SocketAddr, path: &str) -> Option<String> {
    match get(addr, path).await {
        Some((200, body)) => Some(body),
        _ => None,
    }
}

/// utime + stime of a process in seconds (Linux clock ticks are 1/100 s).
fn cpu_seconds(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // After the command name: state is field 3, utime 14 and stime 15 (1-based in proc(5)).
    (ticks(11) + ticks(12)) / 100.0
}

fn rss_kb(pid: u32) -> Option<u64> {
    proc_status_kb(pid, "VmRSS:")
}

fn proc_status_kb(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

// ---------------------------------------------------------------------------------------------
// The load generator.

/// One pre-built request: body and its signature.
struct Prebuilt {
    body: Bytes,
    signature: HeaderValue,
}

fn build_one(tag: &str, sender: usize, seq: u64) -> Prebuilt {
    let event_id = format!("bench-{tag}-{sender:02}-{seq:09}");
    let body = serde_json::to_vec(&serde_json::json!({
        "event_id": event_id,
        "type": "hire.created",
        "occurred_at": "2026-11-20T10:00:00Z",
        "person": {"first_name": "Ada", "last_name": "Lovelace",
                   "email": format!("{event_id}@example.com"), "phone": "+14155550100"},
        "job": {"title": "Forklift Driver", "department": "Warehouse", "location": "Austin, TX",
                "employment_type": "full_time", "start_date": "2026-12-01"},
        "attributes": {"cost_center": "CC-12"}
    }))
    .expect("serialise");
    let signature = sign_hmac_sha256(HMAC_SECRET.as_bytes(), &body, SignatureEncoding::Hex);
    Prebuilt {
        body: Bytes::from(body),
        signature: HeaderValue::from_str(&signature).expect("header"),
    }
}

struct SenderResult {
    hist: Histogram<u64>,
    measured_ok: u64,
    accepted_202: u64,
    other_2xx: u64,
    non_2xx: u64,
    transport_errors: u64,
    built_on_the_fly: u64,
}

async fn load(
    addr: SocketAddr,
    pid: u32,
    settings: &Settings,
    tag: &str,
    per_sec_hint: f64,
) -> LoadResult {
    let total = settings.warmup + settings.measured;
    let per_sender =
        (per_sec_hint * total.as_secs_f64() / settings.concurrency as f64).ceil() as u64 + 64;

    // Pre-build every body and signature before the clock starts.
    let pools: Vec<Vec<Prebuilt>> = (0..settings.concurrency)
        .map(|s| (0..per_sender).map(|i| build_one(tag, s, i)).collect())
        .collect();

    let (server_cpu0, client_cpu0) = (cpu_seconds(&pid.to_string()), cpu_seconds("self"));
    let start = Instant::now() + Duration::from_millis(50);
    let measure_from = start + settings.warmup;
    let measure_to = measure_from + settings.measured;

    // Sample the server's resident memory during the run.
    let sampling = Arc::new(AtomicBool::new(true));
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (sampling, peak) = (sampling.clone(), peak.clone());
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                if let Some(kb) = rss_kb(pid) {
                    peak.fetch_max(kb, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };

    let uri = format!("/v1/webhooks/{SOURCE}");
    let host = HeaderValue::from_str(&addr.to_string()).expect("host");
    let mut tasks = tokio::task::JoinSet::new();
    for (s, pool) in pools.into_iter().enumerate() {
        let (uri, host, tag) = (uri.clone(), host.clone(), tag.to_owned());
        tasks.spawn(async move {
            sender(
                addr,
                s,
                pool,
                &uri,
                host,
                &tag,
                start,
                measure_from,
                measure_to,
            )
            .await
        });
    }
    let mut out = LoadResult {
        measured_secs: settings.measured.as_secs_f64(),
        ..LoadResult::default()
    };
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
    while let Some(res) = tasks.join_next().await {
        let r = res.expect("sender task");
        hist.add(&r.hist).expect("merge histograms");
        out.measured_ok += r.measured_ok;
        out.accepted_202 += r.accepted_202;
        out.other_2xx += r.other_2xx;
        out.non_2xx += r.non_2xx;
        out.transport_errors += r.transport_errors;
        out.built_on_the_fly += r.built_on_the_fly;
    }
    out.load_wall_s = start.elapsed().as_secs_f64();
    out.server_cpu_s = cpu_seconds(&pid.to_string()) - server_cpu0;
    out.client_cpu_s = cpu_seconds("self") - client_cpu0;
    sampling.store(false, Ordering::Relaxed);
    let _ = sampler.await;
    out.peak_rss_kb = peak
        .load(Ordering::Relaxed)
        .max(proc_status_kb(pid, "VmHWM:").unwrap_or(0));
    out.hist = Some(hist);
    out
}

type Conn = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(addr: SocketAddr) -> Option<Conn> {
    let stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    stream.set_nodelay(true).ok()?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::spawn(conn);
    Some(sender)
}

#[allow(clippy::too_many_arguments)]
async fn sender(
    addr: SocketAddr,
    index: usize,
    pool: Vec<Prebuilt>,
    uri: &str,
    host: HeaderValue,
    tag: &str,
    start: Instant,
    measure_from: Instant,
    measure_to: Instant,
) -> SenderResult {
    let mut r = SenderResult {
        hist: Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram"),
        measured_ok: 0,
        accepted_202: 0,
        other_2xx: 0,
        non_2xx: 0,
        transport_errors: 0,
        built_on_the_fly: 0,
    };
    let json = HeaderValue::from_static("application/json");
    let mut conn: Option<Conn> = None;
    let mut next = pool.len() as u64;
    let mut pool = pool.into_iter();
    tokio::time::sleep_until(start.into()).await;
    loop {
        let now = Instant::now();
        if now >= measure_to {
            break;
        }
        if conn.is_none() {
            conn = connect(addr).await;
            if conn.is_none() {
                r.transport_errors += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        }
        let Some(c) = conn.as_mut() else {
            continue;
        };
        let item = pool.next().unwrap_or_else(|| {
            r.built_on_the_fly += 1;
            next += 1;
            build_one(tag, index, next)
        });
        let mut req = Request::post(uri)
            .body(Full::new(item.body))
            .expect("request");
        let h = req.headers_mut();
        h.insert(HOST, host.clone());
        h.insert(CONTENT_TYPE, json.clone());
        h.insert("x-signature", item.signature);

        let sent = Instant::now();
        if c.ready().await.is_err() {
            r.transport_errors += 1;
            conn = None;
            continue;
        }
        let status = match c.send_request(req).await {
            Ok(res) => {
                let status = res.status();
                match res.into_body().collect().await {
                    Ok(_) => Some(status),
                    Err(_) => None,
                }
            }
            Err(_) => None,
        };
        let done = Instant::now();
        let Some(status) = status else {
            r.transport_errors += 1;
            conn = None;
            continue;
        };
        if status == StatusCode::ACCEPTED {
            r.accepted_202 += 1;
        } else if status.is_success() {
            r.other_2xx += 1;
        } else {
            r.non_2xx += 1;
            if r.non_2xx <= 3 {
                eprintln!("{tag}: unexpected status {status}");
            }
        }
        if status.is_success() && done >= measure_from && done < measure_to {
            r.measured_ok += 1;
            let us = done.duration_since(sent).as_micros().max(1) as u64;
            r.hist.saturating_record(us);
        }
    }
    r
}

// ---------------------------------------------------------------------------------------------
// Databases.

async fn create_pg_db(admin_url: &str) -> Result<(String, String), String> {
    let name = format!(
        "hb_bench_{}",
        ulid::Ulid::generate().to_string().to_lowercase()
    );
    let mut conn = sqlx::PgConnection::connect(admin_url)
        .await
        .map_err(|e| format!("cannot reach PostgreSQL at {admin_url}: {e}"))?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut conn)
        .await
        .map_err(|e| format!("CREATE DATABASE: {e}"))?;
    let _ = conn.close().await;
    let mut url = url::Url::parse(admin_url).map_err(|e| e.to_string())?;
    url.set_path(&format!("/{name}"));
    Ok((name, url.to_string()))
}

async fn drop_pg_db(admin_url: &str, name: &str) -> Result<(), String> {
    let mut conn = sqlx::PgConnection::connect(admin_url)
        .await
        .map_err(|e| e.to_string())?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await
    .map_err(|e| e.to_string())?;
    let _ = conn.close().await;
    Ok(())
}

async fn count_events(db_url: &str) -> Result<i64, String> {
    let sql = "SELECT count(*) FROM events";
    if db_url.starts_with("sqlite") {
        let mut conn = sqlx::SqliteConnection::connect(db_url)
            .await
            .map_err(|e| e.to_string())?;
        let n: i64 = sqlx::query_scalar(sql)
            .fetch_one(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        let _ = conn.close().await;
        Ok(n)
    } else {
        let mut conn = sqlx::PgConnection::connect(db_url)
            .await
            .map_err(|e| e.to_string())?;
        let n: i64 = sqlx::query_scalar(sql)
            .fetch_one(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        let _ = conn.close().await;
        Ok(n)
    }
}

// ---------------------------------------------------------------------------------------------
// /metrics: the group-commit histograms over the load (after minus before).

/// Sum every series of `name` by `le` bucket (labels other than `le` are added together).
fn histogram(text: &str, name: &str) -> (BTreeMap<String, f64>, f64, f64) {
    let mut buckets = BTreeMap::new();
    let (mut sum, mut count) = (0.0, 0.0);
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((key, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(v) = value.parse::<f64>() else {
            continue;
        };
        let metric = key.split('{').next().unwrap_or(key);
        if metric == format!("{name}_bucket") {
            if let Some(le) = key.split("le=\"").nth(1).and_then(|r| r.split('"').next()) {
                *buckets.entry(le.to_owned()).or_insert(0.0) += v;
            }
        } else if metric == format!("{name}_sum") {
            sum += v;
        } else if metric == format!("{name}_count") {
            count += v;
        }
    }
    (buckets, sum, count)
}

fn le_value(le: &str) -> f64 {
    if le == "+Inf" {
        f64::INFINITY
    } else {
        le.parse().unwrap_or(f64::INFINITY)
    }
}

fn store_metrics(before: &str, after: &str, load_secs: f64) -> String {
    let mut out = String::new();
    let (bb, bs, bc) = histogram(before, "hirebridge_store_batch_size");
    let (ab, as_, ac) = histogram(after, "hirebridge_store_batch_size");
    let (_, cbs, cbc) = histogram(before, "hirebridge_store_commit_seconds");
    let (cab, cas, cac) = histogram(after, "hirebridge_store_commit_seconds");
    let commits = ac - bc;
    if commits <= 0.0 {
        return "  (no store metrics found on /metrics)".to_owned();
    }
    let events = as_ - bs;
    let commit_s = cas - cbs;
    out.push_str(&format!(
        "  commits during load: {commits:.0}, events: {events:.0}, mean batch {:.1} events, mean commit {:.2} ms, {:.0} commits/s, writer(s) committing {:.0}% of the time\n",
        events / commits,
        commit_s / (cac - cbc).max(1.0) * 1000.0,
        commits / load_secs,
        commit_s / load_secs * 100.0
    ));
    // Per-bucket (non-cumulative) batch sizes.
    let mut rows: Vec<(f64, String, f64)> = ab
        .iter()
        .map(|(le, v)| {
            (
                le_value(le),
                le.clone(),
                v - bb.get(le).copied().unwrap_or(0.0),
            )
        })
        .collect();
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut prev = 0.0;
    let mut parts = Vec::new();
    for (_, le, cum) in &rows {
        let n = cum - prev;
        prev = *cum;
        if n > 0.0 {
            parts.push(format!("≤{le}: {n:.0}"));
        }
    }
    out.push_str(&format!(
        "  batch size histogram (commits): {}\n",
        parts.join(", ")
    ));
    let mut rows: Vec<(f64, String, f64)> = cab
        .iter()
        .map(|(le, v)| (le_value(le), le.clone(), *v))
        .collect();
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = rows.last().map_or(0.0, |r| r.2);
    let p = |q: f64| {
        rows.iter()
            .find(|r| r.2 >= q * total)
            .map_or("?".to_owned(), |r| r.1.clone())
    };
    out.push_str(&format!(
        "  commit latency (whole process life, bucket upper bounds in s): p50 ≤ {}, p99 ≤ {}",
        p(0.5),
        p(0.99)
    ));
    out
}

// ---------------------------------------------------------------------------------------------
// The report.

fn pass(ok: bool) -> &'static str {
    if ok { "PASS" } else { "MISS" }
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

fn report(runs: &[ServerRun], settings: &Settings, cores: usize) {
    let bare_rps = runs.first().map_or(f64::NAN, |r| r.load.rps());
    println!();
    println!(
        "=== ingest: {} senders, {} s measured (after {} s warm-up), {} cores shared by server and client ===",
        settings.concurrency,
        settings.measured.as_secs(),
        settings.warmup.as_secs(),
        cores
    );
    println!(
        "{:<24} {:>10} {:>8} {:>9} {:>9} {:>9} {:>8} {:>10} {:>10} {:>10}",
        "server",
        "req/s",
        "x bare",
        "p50 ms",
        "p99 ms",
        "max ms",
        "non-2xx",
        "idle RSS",
        "peak RSS",
        "ready ms"
    );
    for r in runs {
        let l = &r.load;
        let idle = r
            .idle_rss_kb
            .map_or("-".to_owned(), |k| format!("{:.1} MB", mb(k)));
        let peak = format!("{:.1} MB", mb(l.peak_rss_kb));
        let ready = r.start_ms.map_or("-".to_owned(), |m| format!("{m:.0}"));
        println!(
            "{:<24} {:>10.0} {:>8.2} {:>9.2} {:>9.2} {:>9.2} {:>8} {:>10} {:>10} {:>10}",
            r.name,
            l.rps(),
            l.rps() / bare_rps,
            l.q_ms(0.5),
            l.q_ms(0.99),
            l.max_ms(),
            l.failures(),
            idle,
            peak,
            ready,
        );
    }
    println!();
    println!("details:");
    for r in runs {
        let l = &r.load;
        println!(
            "{}: 202s {}, other 2xx {}, non-2xx {}, transport errors {}, measured 2xx {}, bodies built during load {}",
            r.name,
            l.accepted_202,
            l.other_2xx,
            l.non_2xx,
            l.transport_errors,
            l.measured_ok,
            l.built_on_the_fly
        );
        println!(
            "  CPU during load: server {:.0}% of one core, load generator {:.0}% (of {} cores)",
            l.server_cpu_s / l.load_wall_s * 100.0,
            l.client_cpu_s / l.load_wall_s * 100.0,
            cores
        );
        if let Some(stored) = r.stored {
            println!(
                "  durability (after kill -9): events in database {stored}, 202s received {} -> {}",
                l.accepted_202,
                if stored == l.accepted_202 as i64 {
                    "EQUAL"
                } else {
                    "DIFFERENT"
                }
            );
        }
        if let Some(m) = &r.metrics {
            println!("{m}");
        }
    }
    println!();
    println!("targets:");
    for r in runs.iter().skip(1) {
        let l = &r.load;
        let ratio = l.rps() / bare_rps;
        println!(
            "  {:<24} req/s {:.0} >= {TARGET_RATIO} x bare ({:.0}): {:.2}x {}",
            r.name,
            l.rps(),
            TARGET_RATIO * bare_rps,
            ratio,
            pass(ratio >= TARGET_RATIO)
        );
        println!(
            "  {:<24} p99 {:.2} ms <= {TARGET_P99_MS} ms: {}",
            r.name,
            l.q_ms(0.99),
            pass(l.q_ms(0.99) <= TARGET_P99_MS)
        );
        println!(
            "  {:<24} non-2xx + transport errors = {}: {}",
            r.name,
            l.failures(),
            pass(l.failures() == 0)
        );
        if let Some(stored) = r.stored {
            println!(
                "  {:<24} events stored {} == 202s {}: {}",
                r.name,
                stored,
                l.accepted_202,
                pass(stored == l.accepted_202 as i64)
            );
        }
    }
    if let Some(sq) = runs.iter().find(|r| r.name == "hirebridge SQLite") {
        if let Some(ms) = sq.start_ms {
            println!(
                "  hirebridge SQLite        start to ready {ms:.0} ms <= {TARGET_START_MS} ms: {}",
                pass(ms <= TARGET_START_MS)
            );
        }
        if let Some(kb) = sq.idle_rss_kb {
            println!(
                "  hirebridge SQLite        idle RSS {:.1} MB <= {TARGET_IDLE_RSS_MB} MB: {}",
                mb(kb),
                pass(mb(kb) <= TARGET_IDLE_RSS_MB)
            );
        }
        println!(
            "  hirebridge SQLite        loaded RSS (peak): {:.1} MB (reported, no target)",
            mb(sq.load.peak_rss_kb)
        );
    }
}
