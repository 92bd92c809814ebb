//! The test harness: a whole hirebridge on port 0 with a fresh SQLite file or a fresh
//! PostgreSQL database per test, and helpers to post signed events.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hirebridge::app::{self, ServeOptions};
use hirebridge::config::{Config, SignatureEncoding};
use hirebridge::simulator::{SimConfig, Simulator};
use hirebridge::testkit::{sign_hmac_sha256, sign_standard_webhooks};
use serde_json::{Value, json};
use sqlx::Connection;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const SW_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
pub const HMAC_SECRET: &str = "hmac-test-secret";
pub const BEARER_TOKEN: &str = "static-test-token";
pub const JWT_SECRET: &str = "jwt-source-secret";
pub const ADMIN_SECRET: &str = "admin-test-secret";
pub const RSA_PRIVATE_PEM: &str = include_str!("../fixtures/test-only-rsa-private.pem");
pub const RSA_PUBLIC_PEM: &str = include_str!("../fixtures/test-only-rsa-public.pem");

pub const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates one test per backend from an `async fn(Backend)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::helpers::Backend::Sqlite).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::helpers::Backend::Postgres).await;
                }
            }
        )*
    };
}

pub const TEST_RULES: &str = r#"version: 1
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

/// The API key the simulator accepts and the test configuration sends.
pub const SIM_API_KEY: &str = "test-key";

/// The simulator every test starts from: seeded, and only [`SIM_API_KEY`] is accepted.
/// The simulated account: its budget matches the tests' fast `requests_per_minute`, so only
/// the tests about budgets ever meet a spent window.
pub fn sim_config() -> SimConfig {
    SimConfig {
        api_key: Some(SIM_API_KEY.to_owned()),
        requests_per_minute: 60_000,
        ..SimConfig::default()
    }
}

/// A database, and the Connecteam simulator ("the outside world"), that outlive one run of
/// the app (for restart tests and for several engines on one database).
pub struct TestDb {
    #[allow(dead_code)]
    pub backend: Backend,
    pub url: String,
    pub dir: Arc<tempfile::TempDir>,
    pub pg_name: Option<String>,
    pub sim: Simulator,
    pub sim_addr: SocketAddr,
    /// Only the original stops the simulator (a [`TestDb::share`] does not).
    owns_sim: bool,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if self.owns_sim {
            self.sim.shutdown();
        }
    }
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        Self::with_sim(backend, sim_config()).await
    }

    /// With a simulator configured by the test (start from [`sim_config`]).
    pub async fn with_sim(backend: Backend, sim_cfg: SimConfig) -> TestDb {
        let dir = Arc::new(tempfile::tempdir().expect("tempdir"));
        let sim = Simulator::new(sim_cfg);
        let sim_addr = sim
            .spawn(
                tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind the simulator"),
            )
            .await;
        match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}", dir.path().join("hirebridge.db").display());
                TestDb {
                    backend,
                    url,
                    dir,
                    pg_name: None,
                    sim,
                    sim_addr,
                    owns_sim: true,
                }
            }
            Backend::Postgres => {
                let name = format!(
                    "hb_test_{}",
                    ulid::Ulid::generate().to_string().to_lowercase()
                );
                let mut conn = sqlx::PgConnection::connect(PG_ADMIN_URL).await.expect(
                    "PostgreSQL must be running on 127.0.0.1:5432 (the Postgres suite never skips)",
                );
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
                TestDb {
                    backend,
                    url,
                    dir,
                    pg_name: Some(name),
                    sim,
                    sim_addr,
                    owns_sim: true,
                }
            }
        }
    }

    /// The same database, rules file and simulator, for a second app (another replica).
    /// Dropping the share leaves the simulator running.
    pub fn share(&self) -> TestDb {
        TestDb {
            backend: self.backend,
            url: self.url.clone(),
            dir: self.dir.clone(),
            pg_name: self.pg_name.clone(),
            sim: self.sim.clone(),
            sim_addr: self.sim_addr,
            owns_sim: false,
        }
    }

    pub fn rules_path(&self) -> PathBuf {
        self.dir.path().join("rules.yaml")
    }

    /// The configuration every test starts from: one source per auth mode, admin JWT on,
    /// Connecteam is this database's simulator, and delivery is fast.
    pub fn config_yaml(&self) -> String {
        format!(
            r#"
listen: "127.0.0.1:0"
database_url: "{db}"
rules_file: "{rules}"
connecteam:
  base_url: "http://{sim}"
  api_key: "{sim_key}"
  requests_per_minute: 60000
  timeout_ms: 2000
delivery:
  initial_backoff_ms: 20
  max_backoff_ms: 200
  batch_window_ms: 30
admin:
  jwt: {{ hs256_secret: "{admin}", audience: "hirebridge-admin" }}
sources:
  sw:
    kind: generic
    auth: {{ standard_webhooks: {{ secret: "{sw}" }} }}
  hmac:
    kind: generic
    phone_region: GB
    auth: {{ hmac_sha256: {{ header: X-Signature, secret: "{hmac}", encoding: hex }} }}
  bearer:
    kind: generic
    auth: {{ bearer: {{ token: "{bearer}" }} }}
  jwt:
    kind: generic
    auth: {{ jwt: {{ hs256_secret: "{jwt}", issuer: "acme-hris", audience: "hirebridge" }} }}
  jwt-rs:
    kind: generic
    auth:
      jwt:
        issuer: "acme-hris"
        audience: "hirebridge"
        rs256_public_key_pem: |
{pem}
  open:
    kind: generic
    allow_unauthenticated: true
    auth: {{ none: {{}} }}
"#,
            db = self.url,
            rules = self.rules_path().display(),
            sim = self.sim_addr,
            sim_key = SIM_API_KEY,
            admin = ADMIN_SECRET,
            sw = SW_SECRET,
            hmac = HMAC_SECRET,
            bearer = BEARER_TOKEN,
            jwt = JWT_SECRET,
            pem = RSA_PUBLIC_PEM
                .lines()
                .map(|l| format!("          {l}"))
                .collect::<Vec<_>>()
                .join("\n"),
        )
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    pub db: TestDb,
    cancel: CancellationToken,
    handle: JoinHandle<anyhow::Result<()>>,
    /// Start-up is over once /readyz answers at all (for tests of a store that is not ready).
    accepts_unready: bool,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::start(TestDb::new(backend).await, |_| {}).await
    }

    /// Start on an existing database, letting the test adjust the configuration.
    pub async fn start(db: TestDb, adjust: impl FnOnce(&mut Config)) -> TestApp {
        Self::start_with(db, ServeOptions::default(), adjust).await
    }

    /// [`TestApp::start`] with the given serve options (connection limits, `--no-migrate`).
    pub async fn start_with(
        db: TestDb,
        opts: ServeOptions,
        adjust: impl FnOnce(&mut Config),
    ) -> TestApp {
        Self::launch(db, opts, adjust, false).await
    }

    /// [`TestApp::start_with`] for a service that is not expected to become ready: returns
    /// once /readyz answers at all.
    pub async fn start_unready(
        db: TestDb,
        opts: ServeOptions,
        adjust: impl FnOnce(&mut Config),
    ) -> TestApp {
        Self::launch(db, opts, adjust, true).await
    }

    async fn launch(
        db: TestDb,
        opts: ServeOptions,
        adjust: impl FnOnce(&mut Config),
        accepts_unready: bool,
    ) -> TestApp {
        // Logs only when asked for (RUST_LOG=hirebridge=debug cargo test …): libtest does not
        // capture what the subscriber writes.
        if std::env::var_os("RUST_LOG").is_some() {
            hirebridge::telemetry::init_logging();
        }
        if !db.rules_path().exists() {
            std::fs::write(db.rules_path(), TEST_RULES).expect("write rules");
        }
        let mut cfg = Config::from_yaml(&db.config_yaml()).expect("test config");
        adjust(&mut cfg);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cancel = CancellationToken::new();
        let handle = tokio::spawn(app::run(cfg, opts, listener, cancel.clone()));
        let app = TestApp {
            addr,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            db,
            cancel,
            handle,
            accepts_unready,
        };
        app.wait_ready().await;
        app
    }

    async fn wait_ready(&self) {
        // The listener is bound already; this only waits for migrations, bounded.
        for _ in 0..200 {
            if self.handle.is_finished() {
                panic!("hirebridge stopped during start-up");
            }
            if let Ok(r) = self.http.get(self.url("/readyz")).send().await
                && (r.status() == 200 || self.accepts_unready)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("hirebridge did not become ready");
    }

    /// Graceful stop; returns the database for a restart.
    pub async fn stop(self) -> TestDb {
        self.cancel.cancel();
        self.handle
            .await
            .expect("join")
            .expect("hirebridge exited with an error");
        self.db
    }

    /// The Connecteam simulator this app delivers to.
    pub fn sim(&self) -> &Simulator {
        &self.db.sim
    }

    /// Wait until no event is `accepted` or `delivering`, and no `failed` one has operations
    /// still under way (bounded: 30 s, then panic with the events still in flight).
    pub async fn settle(&self) {
        self.settle_within(Duration::from_secs(30)).await;
    }

    pub async fn settle_within(&self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let mut stuck = Vec::new();
            for status in ["accepted", "delivering"] {
                let v: Value = self
                    .admin_get(&format!("/v1/events?status={status}&limit=500"))
                    .await
                    .json()
                    .await
                    .unwrap();
                stuck.extend(v["events"].as_array().unwrap().iter().cloned());
            }
            // A failed event (one operation dead-lettered) may still have others under way.
            let failed: Value = self
                .admin_get("/v1/events?status=failed&limit=500")
                .await
                .json()
                .await
                .unwrap();
            for e in failed["events"].as_array().unwrap() {
                let ev = self.event(e["event_id"].as_str().unwrap()).await;
                let ops = ev["operations"].as_array().unwrap();
                // Blocked behind a dead-lettered user resolution is not under way.
                let no_user = ops
                    .iter()
                    .any(|o| o["kind"] == "resolve_user" && o["status"] == "dead");
                if ops.iter().any(|o| {
                    o["status"] == "pending"
                        || o["status"] == "waiting"
                        || (o["status"] == "blocked" && !no_user)
                }) {
                    stuck.push(e.clone());
                }
            }
            if stuck.is_empty() {
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                let mut detail = Vec::new();
                for e in stuck.iter().take(5) {
                    let ev = self.event(e["event_id"].as_str().unwrap()).await;
                    detail.push(json!({
                        "event_id": ev["event_id"],
                        "status": ev["status"],
                        "connecteam_user_id": ev["connecteam_user_id"],
                        "operations": ev["operations"],
                    }));
                }
                panic!(
                    "{} events still in flight after {limit:?}; the first: {}",
                    stuck.len(),
                    serde_json::to_string_pretty(&detail).unwrap()
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Wait (bounded: 30 s) until the event has `status`; returns the event.
    pub async fn wait_status(&self, event_id: &str, status: &str) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let ev = self.event(event_id).await;
            if ev["status"] == status {
                return ev;
            }
            if tokio::time::Instant::now() >= deadline {
                panic!(
                    "event {event_id} is not {status} after 30 s: {}",
                    serde_json::to_string_pretty(&ev).unwrap()
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// POST raw bytes to a source with the given headers.
    pub async fn post_raw(
        &self,
        source: &str,
        body: &[u8],
        headers: &[(&str, String)],
    ) -> reqwest::Response {
        let mut req = self
            .http
            .post(self.url(&format!("/v1/webhooks/{source}")))
            .body(body.to_vec());
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        req.send().await.expect("request")
    }

    /// POST a JSON event signed for the source `sw` (Standard Webhooks).
    pub async fn post_sw(&self, body: &Value) -> reqwest::Response {
        let bytes = serde_json::to_vec(body).unwrap();
        self.post_raw("sw", &bytes, &sw_headers(&bytes, now_s()))
            .await
    }

    /// POST a JSON event to the unauthenticated source `open`.
    pub async fn post_open(&self, body: &Value, extra: &[(&str, String)]) -> reqwest::Response {
        let bytes = serde_json::to_vec(body).unwrap();
        let mut h = vec![("content-type", "application/json".to_owned())];
        h.extend(extra.iter().cloned());
        self.post_raw("open", &bytes, &h).await
    }

    /// POST a JSON event to the source named `source` (which may not exist), unsigned.
    pub async fn post_open_to(&self, source: &str, body: &Value) -> reqwest::Response {
        let bytes = serde_json::to_vec(body).unwrap();
        self.post_raw(
            source,
            &bytes,
            &[("content-type", "application/json".to_owned())],
        )
        .await
    }

    pub async fn admin_get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(admin_token())
            .send()
            .await
            .expect("request")
    }

    pub async fn admin_post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(admin_token())
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn event(&self, id: &str) -> Value {
        let r = self.admin_get(&format!("/v1/events/{id}")).await;
        assert_eq!(r.status(), 200, "GET /v1/events/{id}");
        r.json().await.unwrap()
    }

    pub async fn metrics(&self) -> String {
        self.http
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

/// The store of a test database, opened (and migrated) beside whatever app uses it.
pub async fn open_store(db: &TestDb) -> Arc<dyn hirebridge::store::Store> {
    let cfg = Config::from_yaml(&format!("database_url: \"{}\"\n", db.url)).expect("config");
    hirebridge::app::open_store(&cfg, true)
        .await
        .expect("open the store")
}

/// For tests of intake alone: Connecteam unconfigured, so nothing is delivered and events
/// stay `accepted`.
pub fn without_delivery(c: &mut Config) {
    c.connecteam.auth = None;
}

pub fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn sw_headers(body: &[u8], ts: i64) -> Vec<(&'static str, String)> {
    let id = format!("msg_{}", ulid::Ulid::generate());
    vec![
        ("content-type", "application/json".to_owned()),
        ("webhook-id", id.clone()),
        ("webhook-timestamp", ts.to_string()),
        (
            "webhook-signature",
            sign_standard_webhooks(SW_SECRET, &id, ts, body),
        ),
    ]
}

pub fn hmac_headers(body: &[u8]) -> Vec<(&'static str, String)> {
    vec![
        ("content-type", "application/json".to_owned()),
        (
            "x-signature",
            sign_hmac_sha256(HMAC_SECRET.as_bytes(), body, SignatureEncoding::Hex),
        ),
    ]
}

/// An HS256 JWT with the given claims.
pub fn hs256(secret: &str, claims: &Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

pub fn rs256(claims: &Value) -> String {
    rs256_with_kid(None, claims)
}

/// An RS256 token signed with the test key, naming `kid` in its header when given.
pub fn rs256_with_kid(kid: Option<&str>, claims: &Value) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(
        &header,
        claims,
        &jsonwebtoken::EncodingKey::from_rsa_pem(RSA_PRIVATE_PEM.as_bytes()).unwrap(),
    )
    .unwrap()
}

pub fn admin_token() -> String {
    hs256(
        ADMIN_SECRET,
        &json!({"sub": "ops", "aud": "hirebridge-admin", "exp": now_s() + 600}),
    )
}

/// A valid canonical hire with a unique event id.
pub fn hire(event_id: &str) -> Value {
    json!({
        "event_id": event_id,
        "type": "hire.created",
        "occurred_at": "2026-11-20T10:00:00Z",
        "person": {"first_name": "Ada", "last_name": "Lovelace",
                   "email": format!("{event_id}@example.com"), "phone": "+14155550100"},
        "job": {"title": "Forklift Driver", "department": "Warehouse", "location": "Austin, TX",
                "employment_type": "full_time", "start_date": "2026-12-01"},
        "attributes": {"cost_center": "CC-12"}
    })
}

pub fn unique_id(prefix: &str) -> String {
    format!("{prefix}_{}", ulid::Ulid::generate())
}
