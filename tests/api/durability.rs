//! The real binary: kill -9 after a burst loses nothing acknowledged; SIGTERM drains.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    kill_9_after_a_burst_loses_nothing,
    sigterm_finishes_in_flight_requests
);

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(crate) struct Proc {
    pub child: Child,
    pub base: String,
}

impl Proc {
    /// SIGKILL: no chance to flush anything.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

fn start(db: &TestDb, port: u16) -> Proc {
    if !db.rules_path().exists() {
        std::fs::write(db.rules_path(), TEST_RULES).unwrap();
    }
    let path = db.dir.path().join("config.yaml");
    std::fs::write(&path, db.config_yaml()).unwrap();
    serve(&path, port)
}

/// `hirebridge serve --config CONFIG` listening on `port`.
pub(crate) fn serve(config: &std::path::Path, port: u16) -> Proc {
    let child = Command::new(env!("CARGO_BIN_EXE_hirebridge"))
        .args(["serve", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .env("HIREBRIDGE__LISTEN", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn hirebridge");
    Proc {
        child,
        base: format!("http://127.0.0.1:{port}"),
    }
}

pub(crate) async fn wait_ready(http: &reqwest::Client, base: &str) {
    for _ in 0..300 {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await
            && r.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("hirebridge at {base} did not become ready");
}

/// Post `n` events from 16 concurrent senders; return the event ids acknowledged with 202.
async fn burst(http: &reqwest::Client, base: &str, n: usize) -> Vec<String> {
    let http = Arc::new(http.clone());
    let base = Arc::new(base.to_owned());
    let mut tasks = Vec::new();
    for w in 0..16 {
        let (http, base) = (http.clone(), base.clone());
        tasks.push(tokio::spawn(async move {
            let mut ok = Vec::new();
            for i in (w..n).step_by(16) {
                let body =
                    serde_json::to_vec(&hire(&format!("burst-{i}-{}", ulid::Ulid::generate())))
                        .unwrap();
                let res = http
                    .post(format!("{base}/v1/webhooks/hmac"))
                    .header("content-type", "application/json")
                    .header("x-signature", hmac_headers(&body)[1].1.clone())
                    .body(body)
                    .send()
                    .await;
                if let Ok(r) = res
                    && r.status() == 202
                    && let Ok(v) = r.json::<Value>().await
                {
                    ok.push(v["event_id"].as_str().unwrap().to_owned());
                }
            }
            ok
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.extend(t.await.unwrap());
    }
    ids
}

async fn assert_all_stored(http: &reqwest::Client, base: &str, ids: &[String]) {
    for id in ids {
        let r = http
            .get(format!("{base}/v1/events/{id}"))
            .bearer_auth(admin_token())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "acknowledged event {id} is lost");
    }
}

async fn kill_9_after_a_burst_loses_nothing(b: Backend) {
    let db = TestDb::new(b).await;
    let http = reqwest::Client::new();
    let port = free_port();
    let p = start(&db, port);
    wait_ready(&http, &p.base).await;
    let ids = burst(&http, &p.base, 300).await;
    assert_eq!(ids.len(), 300);
    p.kill();

    let p = start(&db, port);
    wait_ready(&http, &p.base).await;
    assert_all_stored(&http, &p.base, &ids).await;
    p.kill();
}

async fn sigterm_finishes_in_flight_requests(b: Backend) {
    let db = TestDb::new(b).await;
    let http = reqwest::Client::new();
    let port = free_port();
    let mut p = start(&db, port);
    wait_ready(&http, &p.base).await;
    let pid = p.child.id();
    let sender = {
        let (http, base) = (http.clone(), p.base.clone());
        tokio::spawn(async move { burst(&http, &base, 2000).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let ids = sender.await.unwrap();
    let exit = p.child.wait().unwrap();
    assert!(exit.success(), "graceful shutdown exits 0, got {exit:?}");
    assert!(!ids.is_empty(), "some events were accepted before SIGTERM");

    let p = start(&db, port);
    wait_ready(&http, &p.base).await;
    assert_all_stored(&http, &p.base, &ids).await;
    p.kill();
}
