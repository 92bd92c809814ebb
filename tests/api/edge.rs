//! Regressions at the HTTP edge: hostile clients and hostile input found by review and by
//! hostile testing of an earlier version.

use std::time::{Duration, Instant};

use hirebridge::app::ServeOptions;
use hirebridge::http::server::Limits;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    control_characters_are_refused_at_the_edge,
    an_email_intake_accepts_is_one_it_can_read_back,
);

/// Connections that never finish their headers were kept for ever: ~20k of them ran the
/// process out of file descriptors and /healthz stopped answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_headers_are_cut_off_and_connections_are_bounded() {
    let opts = ServeOptions {
        limits: Limits {
            header_read_timeout: Duration::from_millis(400),
            max_connections: 8,
        },
        ..ServeOptions::default()
    };
    let app = TestApp::start_with(TestDb::new(Backend::Sqlite).await, opts, without_delivery).await;
    // As many slow clients as connections are served.
    let mut slow = Vec::new();
    for _ in 0..8 {
        let mut s = TcpStream::connect(app.addr).await.unwrap();
        s.write_all(b"POST /v1/webhooks/sw HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .unwrap();
        slow.push(s);
    }
    // Every one is closed by the server within about the header timeout.
    let started = Instant::now();
    for s in &mut slow {
        let closed = async {
            let mut buf = [0u8; 512];
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(5), closed)
            .await
            .expect("the server kept a half-sent request open");
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // And the service answers again.
    let r = tokio::time::timeout(
        Duration::from_secs(3),
        app.http.get(app.url("/healthz")).send(),
    )
    .await
    .expect("healthz answered")
    .unwrap();
    assert_eq!(r.status(), 200);
    app.stop().await;
}

/// A NUL in `event_id` or in an admin parameter reached PostgreSQL, which refused it: 503
/// ("database unavailable"), which the sender retries for ever. SQLite took it (202).
async fn control_characters_are_refused_at_the_edge(b: Backend) {
    let app = TestApp::start(TestDb::new(b).await, without_delivery).await;
    let mut h = hire(&unique_id("evt"));
    h["event_id"] = json!("evt\u{0}1");
    let r = app.post_open(&h, &[]).await;
    assert_eq!(r.status(), 422);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["errors"][0]["pointer"], "/event_id", "{p}");
    // An event type that is ignored is stored under its id too.
    let r = app
        .post_open(&json!({"event_id": "x\u{0}y", "type": "hire.updated"}), &[])
        .await;
    assert_eq!(r.status(), 422);
    let mut h = hire(&unique_id("evt"));
    h["person"]["first_name"] = json!("Ada\u{0}");
    let r = app.post_open(&h, &[]).await;
    assert_eq!(r.status(), 422);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["errors"][0]["pointer"], "/person/first_name", "{p}");
    for path in [
        "/v1/events/evt%00x",
        "/v1/events/evt%00x/replay",
        "/v1/events?source=a%00b",
        "/v1/events?cursor=%00",
    ] {
        let r = if path.ends_with("replay") {
            app.admin_post(path, &json!({})).await
        } else {
            app.admin_get(path).await
        };
        assert_eq!(r.status(), 400, "{path}");
        assert_eq!(
            r.headers()["content-type"],
            "application/problem+json",
            "{path}"
        );
    }
    app.stop().await;
}

/// `a@İstanbul.com` was accepted (202); stored lower-cased it no longer parsed, and the hire
/// was dead-lettered for ever.
async fn an_email_intake_accepts_is_one_it_can_read_back(b: Backend) {
    let app = TestApp::start(TestDb::new(b).await, without_delivery).await;
    let mut h = hire(&unique_id("evt"));
    h["person"]["email"] = json!("a@İstanbul.com");
    let r = app.post_open(&h, &[]).await;
    assert_eq!(r.status(), 422);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["errors"][0]["pointer"], "/person/email", "{p}");
    // One that lower-cases into itself is taken, and reads back.
    let mut h = hire(&unique_id("evt"));
    h["person"]["email"] = json!("Zoë@Ünïcode.example");
    let r = app.post_open(&h, &[]).await;
    assert_eq!(r.status(), 202);
    let id = r.json::<Value>().await.unwrap()["event_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ev = app.event(&id).await;
    assert_eq!(ev["hire"]["person"]["email"], "Zoë@ünïcode.example");
    app.stop().await;
}

/// Made-up HTTP methods each became a metric series: `/metrics` grew from 231 KB to 17 MB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_methods_share_one_metric_label() {
    let app = TestApp::start(TestDb::new(Backend::Sqlite).await, without_delivery).await;
    for i in 0..20 {
        let m = reqwest::Method::from_bytes(format!("BREW{i}").as_bytes()).unwrap();
        let _ = app
            .http
            .request(m, app.url("/healthz"))
            .send()
            .await
            .unwrap();
    }
    let text = app.metrics().await;
    assert!(!text.contains("BREW"), "a made-up method became a label");
    assert!(
        text.lines()
            .any(|l| l.starts_with("hirebridge_http_requests_total")
                && l.contains("method=\"other\"")),
        "no method=\"other\" series"
    );
    app.stop().await;
}

/// Smaller findings: each is the answer chosen for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_edges_answer_as_documented() {
    let app = TestApp::start(TestDb::new(Backend::Sqlite).await, without_delivery).await;
    // A garbage cursor is refused, not read as "from the start".
    let r = app.admin_get("/v1/events?cursor=garbage").await;
    assert_eq!(r.status(), 400);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["errors"][0]["pointer"], "/query/cursor");
    // A parameter given twice is a problem that points at it.
    let r = app.admin_get("/v1/events?status=done&status=failed").await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["errors"][0]["pointer"], "/query/status");
    // An empty status is not a status.
    let r = app.admin_get("/v1/events?status=").await;
    assert_eq!(r.status(), 400);
    // event_id's limit is in characters, and says so; it holds for ignored types too, whose
    // type must be readable.
    let mut h = hire(&unique_id("evt"));
    h["event_id"] = json!(format!("{}-{}", "é".repeat(200), unique_id("e")));
    assert_eq!(app.post_open(&h, &[]).await.status(), 202);
    h["event_id"] = json!("é".repeat(256));
    let r = app.post_open(&h, &[]).await;
    assert_eq!(r.status(), 422);
    let p: Value = r.json().await.unwrap();
    assert!(
        p["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("255 characters"),
        "{p}"
    );
    let r = app
        .post_open(
            &json!({"event_id": "x".repeat(300), "type": "hire.updated"}),
            &[],
        )
        .await;
    assert_eq!(r.status(), 422);
    let r = app
        .post_open(&json!({"event_id": unique_id("e"), "type": ""}), &[])
        .await;
    assert_eq!(r.status(), 422);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["errors"][0]["pointer"], "/type", "{p}");
    // An unknown source is named, but not at any length.
    let long = "s".repeat(5000);
    let r = app.post_open_to(&long, &hire(&unique_id("evt"))).await;
    assert_eq!(r.status(), 404);
    let p: Value = r.json().await.unwrap();
    assert!(p["detail"].as_str().unwrap().len() < 200, "{p}");
    // A JSON syntax error gives its position once.
    let r = app
        .post_raw(
            "open",
            b"{\"event_id\": ",
            &[("content-type", "application/json".into())],
        )
        .await;
    assert_eq!(r.status(), 400);
    let p: Value = r.json().await.unwrap();
    let detail = p["detail"].as_str().unwrap();
    assert_eq!(detail.matches("line").count(), 1, "{detail}");
    // A letter in a phone number is refused, not read as a keypad digit.
    let mut h = hire(&unique_id("evt"));
    h["person"]["phone"] = json!("+1415555010O");
    let r = app.post_open(&h, &[]).await;
    assert_eq!(r.status(), 422);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["errors"][0]["pointer"], "/person/phone");
    // A caller's request id is echoed only when it is one.
    let r = app
        .http
        .get(app.url("/healthz"))
        .header("x-request-id", "ok-id.1:2")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "ok-id.1:2");
    for bad in ["x".repeat(500), "has space".to_owned(), "é".to_owned()] {
        let r = app
            .http
            .get(app.url("/healthz"))
            .header("x-request-id", bad.as_str())
            .send()
            .await
            .unwrap();
        let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert_ne!(id, bad);
        assert_eq!(id.len(), 26, "a fresh ULID: {id}");
    }
    // The dry run plans what intake plans, and only for sources that exist.
    let mut h = hire(&unique_id("evt"));
    h["type"] = json!("hire.updated");
    let r = app.admin_post("/v1/rules/evaluate", &h).await;
    assert_eq!(r.status(), 422);
    let r = app
        .admin_post("/v1/rules/evaluate?source=nope", &hire(&unique_id("evt")))
        .await;
    assert_eq!(r.status(), 404);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["errors"][0]["pointer"], "/query/source");
    app.stop().await;
}

/// Restarted on a read-only SQLite database, the service reported ready, answered webhooks
/// 500 and logged a failed delivery round every 7 ms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_cannot_write_is_not_ready() {
    let db = TestDb::new(Backend::Sqlite).await;
    // Work queued while the database could be written.
    let quiet = TestApp::start(db, without_delivery).await;
    assert_eq!(
        quiet
            .post_open(&hire(&unique_id("evt")), &[])
            .await
            .status(),
        202
    );
    let db = quiet.stop().await;
    let ro = format!("{}?mode=ro", db.url);
    let opts = ServeOptions {
        no_migrate: true,
        ..ServeOptions::default()
    };
    let app = TestApp::start_unready(db, opts, |c| {
        c.database_url = hirebridge::config::DatabaseUrl::new(ro);
    })
    .await;
    let r = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["database"], "read_only", "{v}");
    let r = app.post_open(&hire(&unique_id("evt")), &[]).await;
    assert_eq!(r.status(), 503);
    let errors = |text: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with("hirebridge_delivery_round_errors_total"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0.0)
    };
    let before = errors(&app.metrics().await);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let during = errors(&app.metrics().await) - before;
    assert!(during <= 4.0, "{during} failed rounds in 2 s");
    app.stop().await;
}
