//! Webhook intake: status codes, dedupe, conflicts, problem bodies, concurrency.

use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    accepted_event_is_stored_with_its_plan,
    exact_repeat_is_a_duplicate_with_the_original_id,
    same_key_different_body_is_a_conflict,
    idempotency_key_header_is_the_dedupe_key,
    unusable_idempotency_key_is_a_400,
    concurrent_identical_requests_make_one_event,
    errors_are_problems_with_the_right_status,
    unmappable_hire_lists_every_pointer,
    non_hire_events_are_ignored,
    restart_keeps_events_and_dedupe,
    rule_metrics_count_accepted_hires_only,
);

async fn accepted_event_is_stored_with_its_plan(b: Backend) {
    // Intake alone: with delivery on, the event would move on from `accepted`.
    let app = TestApp::start(TestDb::new(b).await, without_delivery).await;
    let id = unique_id("evt");
    let r = app.post_sw(&hire(&id)).await;
    assert_eq!(r.status(), 202);
    assert!(r.headers().contains_key("x-request-id"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "accepted");
    let event_id = body["event_id"].as_str().unwrap().to_owned();

    let ev = app.event(&event_id).await;
    assert_eq!(ev["event_id"], event_id.as_str());
    assert_eq!(ev["source"], "sw");
    assert_eq!(ev["status"], "accepted");
    assert_eq!(ev["dedupe_key"], id.as_str());
    assert!(ev["received_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(ev["hire"]["person"]["phone"], "+14155550100");
    assert_eq!(ev["hire"]["job"]["employment_type"], "full_time");
    assert_eq!(ev["plan"]["matched"], json!(["full-time", "everyone"]));
    assert_eq!(ev["plan"]["packs"], json!([101, 102]));
    assert_eq!(
        ev["plan"]["policies"],
        json!([{"id": "pol-vac-ft-001", "balance": 15, "unit": "days"},
               {"id": "pol-sick-001", "balance": 40, "unit": "hours"}])
    );
    let kinds: Vec<&str> = ev["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "resolve_user",
            "assign_pack",
            "assign_pack",
            "assign_policy",
            "assign_policy"
        ]
    );
    for op in ev["operations"].as_array().unwrap() {
        assert!(op["idempotency_key"].as_str().unwrap().starts_with("hb-"));
        assert_eq!(op["attempts"], 0);
    }
    let metrics = app.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("hirebridge_events_total{")
                && l.contains(r#"source="sw""#)
                && l.contains(r#"outcome="accepted""#)),
        "{metrics}"
    );
    assert!(
        metrics.contains("hirebridge_store_commit_seconds"),
        "{metrics}"
    );
    assert!(metrics.contains("hirebridge_store_batch_size"), "{metrics}");
    assert!(
        metrics.contains("hirebridge_http_requests_total"),
        "{metrics}"
    );
    app.stop().await;
}

async fn exact_repeat_is_a_duplicate_with_the_original_id(b: Backend) {
    let app = TestApp::spawn(b).await;
    let body = hire(&unique_id("evt"));
    let first: Value = app.post_sw(&body).await.json().await.unwrap();
    // A resend is signed again (new webhook-id and timestamp): the dedupe key is the event id.
    let r = app.post_sw(&body).await;
    assert_eq!(r.status(), 200);
    let again: Value = r.json().await.unwrap();
    assert_eq!(again["status"], "duplicate");
    assert_eq!(again["event_id"], first["event_id"]);
    // Formatting and key order do not make a body different.
    let pretty = serde_json::to_vec_pretty(&body).unwrap();
    let r = app.post_raw("hmac", &pretty, &hmac_headers(&pretty)).await;
    assert_eq!(
        r.status(),
        202,
        "another source, same event id: a different event"
    );
    let listed: Value = app
        .admin_get("/v1/events?source=sw")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["events"].as_array().unwrap().len(), 1);
    app.stop().await;
}

async fn same_key_different_body_is_a_conflict(b: Backend) {
    let app = TestApp::spawn(b).await;
    let id = unique_id("evt");
    let first: Value = app.post_sw(&hire(&id)).await.json().await.unwrap();
    let mut changed = hire(&id);
    changed["person"]["first_name"] = json!("Augusta");
    let r = app.post_sw(&changed).await;
    assert_eq!(r.status(), 409);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["status"], 409);
    assert_eq!(p["event_id"], first["event_id"]);
    app.stop().await;
}

async fn idempotency_key_header_is_the_dedupe_key(b: Backend) {
    let app = TestApp::spawn(b).await;
    let key = unique_id("idem");
    let body = hire(&unique_id("evt"));
    let r1 = app
        .post_open(&body, &[("idempotency-key", key.clone())])
        .await;
    assert_eq!(r1.status(), 202);
    let r2 = app
        .post_open(&body, &[("idempotency-key", key.clone())])
        .await;
    assert_eq!(r2.status(), 200);
    // Same key, another event id in the body: a different body for that key.
    let r3 = app
        .post_open(&hire(&unique_id("evt")), &[("idempotency-key", key)])
        .await;
    assert_eq!(r3.status(), 409);
    let ev_id = r1.json::<Value>().await.unwrap()["event_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        app.event(&ev_id).await["dedupe_key"]
            .as_str()
            .unwrap()
            .starts_with("idem_")
    );
    app.stop().await;
}

async fn unusable_idempotency_key_is_a_400(b: Backend) {
    let app = TestApp::spawn(b).await;
    let body = hire(&unique_id("evt"));
    let cases = [
        ("k".repeat(256), "is 256 bytes long; at most 255"),
        ("two words".to_owned(), "visible ASCII characters only"),
        ("caf\u{e9}-1".to_owned(), "visible ASCII characters only"),
        (String::new(), "is empty"),
    ];
    for (key, message) in cases {
        let r = app
            .post_open(&body, &[("idempotency-key", key.clone())])
            .await;
        assert_eq!(r.status(), 400, "{key:?}");
        assert_eq!(
            r.headers()["content-type"].to_str().unwrap(),
            "application/problem+json"
        );
        let p: Value = r.json().await.unwrap();
        assert_eq!(p["type"], "urn:hirebridge:problem:invalid-header", "{p}");
        assert_eq!(p["status"], 400);
        let errors = p["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 1, "{p}");
        assert_eq!(errors[0]["pointer"], "/headers/idempotency-key");
        assert!(
            errors[0]["message"].as_str().unwrap().contains(message),
            "{key:?}: {p}"
        );
    }
    // Sent twice is as unusable.
    let bytes = serde_json::to_vec(&body).unwrap();
    let r = app
        .post_raw(
            "open",
            &bytes,
            &[
                ("content-type", "application/json".to_owned()),
                ("idempotency-key", "a".to_owned()),
                ("idempotency-key", "b".to_owned()),
            ],
        )
        .await;
    assert_eq!(r.status(), 400);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["errors"][0]["message"], "must be sent once");
    // Nothing was stored under the body's event_id instead.
    let listed: Value = app
        .admin_get("/v1/events?source=open")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["events"], json!([]));
    // The longest usable key is accepted.
    let r = app
        .post_open(&body, &[("idempotency-key", "k".repeat(255))])
        .await;
    assert_eq!(r.status(), 202);
    app.stop().await;
}

async fn concurrent_identical_requests_make_one_event(b: Backend) {
    let app = std::sync::Arc::new(TestApp::spawn(b).await);
    let body = hire(&unique_id("evt"));
    let mut tasks = Vec::new();
    for _ in 0..24 {
        let app = app.clone();
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            let r = app.post_open(&body, &[]).await;
            let status = r.status().as_u16();
            let v: Value = r.json().await.unwrap();
            (status, v["event_id"].as_str().unwrap().to_owned())
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    let accepted = results.iter().filter(|(s, _)| *s == 202).count();
    let dups = results.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!((accepted, dups), (1, 23), "{results:?}");
    assert!(results.windows(2).all(|w| w[0].1 == w[1].1));
    let listed: Value = app
        .admin_get("/v1/events?source=open")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["events"].as_array().unwrap().len(), 1);
    let app = std::sync::Arc::into_inner(app).unwrap();
    app.stop().await;
}

async fn errors_are_problems_with_the_right_status(b: Backend) {
    let app = TestApp::spawn(b).await;
    let body = serde_json::to_vec(&hire(&unique_id("evt"))).unwrap();
    let check = |r: reqwest::Response, status: u16| async move {
        assert_eq!(r.status(), status);
        assert_eq!(
            r.headers()["content-type"].to_str().unwrap(),
            "application/problem+json",
            "status {status}"
        );
        assert!(r.headers().contains_key("x-request-id"));
        let p: Value = r.json().await.unwrap();
        assert_eq!(p["status"], status);
        assert!(
            p["type"].as_str().is_some()
                && p["title"].as_str().is_some()
                && p["detail"].as_str().is_some()
        );
        p
    };
    // 404 unknown source
    check(app.post_raw("nope", &body, &hmac_headers(&body)).await, 404).await;
    // 401 forged signature
    let mut h = hmac_headers(&body);
    h[1].1 = "00".repeat(32);
    check(app.post_raw("hmac", &body, &h).await, 401).await;
    // 401 no signature at all
    check(app.post_raw("hmac", &body, &h[..1]).await, 401).await;
    // 415 wrong content type (signed correctly)
    let mut h = hmac_headers(&body);
    h[0].1 = "text/plain".to_owned();
    check(app.post_raw("hmac", &body, &h).await, 415).await;
    // 400 malformed JSON
    let bad = b"{\"event_id\": ";
    let p = check(app.post_raw("hmac", bad, &hmac_headers(bad)).await, 400).await;
    assert!(p["detail"].as_str().unwrap().contains("line 1"), "{p}");
    // 413 over 1 MiB
    let big = vec![b' '; 1024 * 1024 + 10];
    check(app.post_raw("hmac", &big, &hmac_headers(&big)).await, 413).await;
    // 404 unknown route, 405 wrong method
    let r = app.http.get(app.url("/v1/nothing")).send().await.unwrap();
    check(r, 404).await;
    let r = app
        .http
        .get(app.url("/v1/webhooks/hmac"))
        .send()
        .await
        .unwrap();
    check(r, 405).await;
    // x-request-id from the caller is kept
    let r = app
        .http
        .get(app.url("/healthz"))
        .header("x-request-id", "req-from-caller")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "req-from-caller");
    let m = app.metrics().await;
    assert!(m.contains("outcome=\"rejected\""), "{m}");
    app.stop().await;
}

async fn unmappable_hire_lists_every_pointer(b: Backend) {
    let app = TestApp::spawn(b).await;
    let body = json!({"event_id": unique_id("evt"), "type": "hire.created",
        "person": {"first_name": "", "email": "nope", "phone": 5},
        "job": {"employment_type": "weekends"}});
    let r = app.post_open(&body, &[]).await;
    assert_eq!(r.status(), 422);
    let p: Value = r.json().await.unwrap();
    let pointers: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(
        pointers,
        [
            "/person/first_name",
            "/person/last_name",
            "/person/email",
            "/person/phone",
            "/job/employment_type"
        ]
    );
    // Nothing was stored.
    let listed: Value = app.admin_get("/v1/events").await.json().await.unwrap();
    assert_eq!(listed["events"], json!([]));
    app.stop().await;
}

async fn non_hire_events_are_ignored(b: Backend) {
    let app = TestApp::spawn(b).await;
    let body = json!({"event_id": unique_id("evt"), "type": "hire.updated", "anything": true});
    let r = app.post_open(&body, &[]).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "ignored");
    let ev = app.event(v["event_id"].as_str().unwrap()).await;
    assert_eq!(ev["status"], "ignored");
    assert_eq!(ev["operations"], json!([]));
    app.stop().await;
}

async fn restart_keeps_events_and_dedupe(b: Backend) {
    let app = TestApp::start(TestDb::new(b).await, without_delivery).await;
    let body = hire(&unique_id("evt"));
    let first: Value = app.post_sw(&body).await.json().await.unwrap();
    let db = app.stop().await;
    let app = TestApp::start(db, without_delivery).await;
    let r = app.post_sw(&body).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["event_id"], first["event_id"]);
    assert_eq!(v["status"], "duplicate");
    assert_eq!(
        app.event(first["event_id"].as_str().unwrap()).await["status"],
        "accepted"
    );
    app.stop().await;
}

async fn rule_metrics_count_accepted_hires_only(b: Backend) {
    let db = TestDb::new(b).await;
    // The metrics recorder is shared by every test in this process: a rule name of its own.
    let rule = unique_id("counted").to_lowercase();
    std::fs::write(
        db.rules_path(),
        format!(
            "version: 1\nrules:\n  - name: {rule}\n    when: {{}}\n    assign: {{ packs: [101] }}\n"
        ),
    )
    .unwrap();
    let app = TestApp::start(db, without_delivery).await;
    let id = unique_id("evt");
    assert_eq!(app.post_sw(&hire(&id)).await.status(), 202);
    assert_eq!(app.post_sw(&hire(&id)).await.status(), 200, "duplicate");
    let mut changed = hire(&id);
    changed["person"]["first_name"] = json!("Augusta");
    assert_eq!(app.post_sw(&changed).await.status(), 409, "conflict");
    let r = app
        .admin_post("/v1/rules/evaluate", &hire(&unique_id("evt")))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["matched"], json!([rule]));

    let metrics = app.metrics().await;
    let counted: Vec<&str> = metrics
        .lines()
        .filter(|l| {
            l.starts_with("hirebridge_rules_matches_total{")
                && l.contains(&format!("rule=\"{rule}\""))
        })
        .collect();
    assert_eq!(counted.len(), 1, "{metrics}");
    assert!(counted[0].ends_with(" 1"), "{}", counted[0]);
    app.stop().await;
}
