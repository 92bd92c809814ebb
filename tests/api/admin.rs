//! The operator API (events, rules) and health endpoints.

use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    events_list_filters_and_pages,
    rules_routes,
    health_and_readiness
);

async fn events_list_filters_and_pages(b: Backend) {
    let app = TestApp::spawn(b).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        let v: Value = app
            .post_sw(&hire(&unique_id("evt")))
            .await
            .json()
            .await
            .unwrap();
        ids.push(v["event_id"].as_str().unwrap().to_owned());
    }
    let body = json!({"event_id": unique_id("evt"), "type": "ping"});
    assert_eq!(app.post_open(&body, &[]).await.status(), 200);

    let page1: Value = app
        .admin_get("/v1/events?source=sw&limit=2")
        .await
        .json()
        .await
        .unwrap();
    let got1: Vec<&str> = page1["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(got1, [ids[4].as_str(), ids[3].as_str()], "newest first");
    let cursor = page1["next_cursor"].as_str().unwrap();
    let page2: Value = app
        .admin_get(&format!("/v1/events?source=sw&limit=2&cursor={cursor}"))
        .await
        .json()
        .await
        .unwrap();
    let got2: Vec<&str> = page2["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(got2, [ids[2].as_str(), ids[1].as_str()]);
    let page3: Value = app
        .admin_get(&format!(
            "/v1/events?source=sw&limit=2&cursor={}",
            page2["next_cursor"].as_str().unwrap()
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page3["events"].as_array().unwrap().len(), 1);
    assert_eq!(page3["next_cursor"], Value::Null);

    let ignored: Value = app
        .admin_get("/v1/events?status=ignored")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ignored["events"].as_array().unwrap().len(), 1);
    assert_eq!(ignored["events"][0]["source"], "open");
    let e = &ignored["events"][0];
    for key in ["event_id", "source", "status", "received_at"] {
        assert!(e.get(key).is_some(), "{key}");
    }
    let r = app.admin_get("/v1/events?status=bogus&limit=0").await;
    assert_eq!(r.status(), 400);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["errors"].as_array().unwrap().len(), 2);
    assert_eq!(
        app.admin_get("/v1/events/does-not-exist").await.status(),
        404
    );
    app.stop().await;
}

async fn rules_routes(b: Backend) {
    let app = TestApp::spawn(b).await;
    let r: Value = app.admin_get("/v1/rules").await.json().await.unwrap();
    assert!(r["version"].as_str().unwrap().starts_with("sha256:"));
    assert!(r["loaded_at"].as_str().is_some());
    assert!(r["text"].as_str().unwrap().contains("full-time"));

    let mut part_time = hire("e1");
    part_time["job"]["employment_type"] = json!("part_time");
    let plan: Value = app
        .admin_post("/v1/rules/evaluate", &part_time)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(plan["matched"], json!(["everyone"]));
    assert_eq!(plan["packs"], json!([102]));
    assert_eq!(plan["policies"], json!([]));
    assert_eq!(plan["rules_version"], r["version"]);
    let plan: Value = app
        .admin_post("/v1/rules/evaluate", &hire("e2"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(plan["packs"], json!([101, 102]));
    // Dry run: nothing stored.
    let listed: Value = app.admin_get("/v1/events").await.json().await.unwrap();
    assert_eq!(listed["events"], json!([]));
    let r = app
        .admin_post("/v1/rules/evaluate", &json!({"type": "hire.created"}))
        .await;
    assert_eq!(r.status(), 422);
    app.stop().await;
}

async fn health_and_readiness(b: Backend) {
    let app = TestApp::spawn(b).await;
    let r = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["database"], "ok");
    assert_eq!(v["rules"], "ok");
    assert_eq!(v["connecteam"], "ok");
    let m = app.metrics().await;
    assert!(m.contains("hirebridge_http_requests_total"), "{m}");

    if b == Backend::Postgres {
        // Take the database away: readiness must say so with 503, liveness stays 200.
        let name = app.db.pg_name.clone().unwrap();
        let admin = sqlx::PgPool::connect(PG_ADMIN_URL).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false"
        )))
        .execute(&admin)
        .await
        .unwrap();
        let pids: Vec<i32> =
            sqlx::query_scalar("SELECT pid FROM pg_stat_activity WHERE datname = $1")
                .bind(&name)
                .fetch_all(&admin)
                .await
                .unwrap();
        sqlx::query("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid")
            .bind(&pids)
            .execute(&admin)
            .await
            .unwrap();
        // pg_terminate_backend only signals: wait until those backends are really gone, or a
        // pooled connection may still answer the next ping.
        let mut gone = false;
        for _ in 0..250 {
            let left: i64 =
                sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)")
                    .bind(&pids)
                    .fetch_one(&admin)
                    .await
                    .unwrap();
            if left == 0 {
                gone = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(
            gone,
            "the test database's backends were terminated: {pids:?}"
        );
        let r = app.http.get(app.url("/readyz")).send().await.unwrap();
        assert_eq!(r.status(), 503);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["database"], "unavailable");
        assert_eq!(
            app.http
                .get(app.url("/healthz"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        // A webhook that cannot be stored is refused with 503 (the sender retries), never
        // acknowledged.
        let body = hire(&unique_id("evt"));
        let r = app.post_sw(&body).await;
        assert_eq!(r.status(), 503);
        assert_eq!(
            r.headers()["content-type"].to_str().unwrap(),
            "application/problem+json"
        );
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS true"
        )))
        .execute(&admin)
        .await
        .unwrap();
        let mut ok = false;
        for _ in 0..50 {
            if app
                .http
                .get(app.url("/readyz"))
                .send()
                .await
                .unwrap()
                .status()
                == 200
            {
                ok = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(ok, "readiness recovers when the database is back");
    }
    app.stop().await;
}

#[tokio::test]
async fn rules_check_against_connecteam_lists_what_the_account_lacks() {
    use hirebridge::simulator::{SimConfig, Simulator};
    let sim = Simulator::new(SimConfig::default());
    let addr = sim
        .spawn(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap())
        .await;
    let cfg = hirebridge::config::Config::from_yaml(&format!(
        "connecteam: {{ base_url: \"http://{addr}\", api_key: k }}\n"
    ))
    .unwrap();
    let client = hirebridge::connecteam::Client::new(&cfg.connecteam).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rules.yaml");
    std::fs::write(
        &file,
        concat!(
            "version: 1\nprofile:\n  Title: \"{job.title}\"\n  Cost center: \"{attributes.cost_center}\"\n",
            "rules:\n  - name: odd\n    when: {}\n    assign:\n      packs: [101, 999]\n      policies:\n        - { id: pol-missing }\n        - { id: pol-sick-001 }\n",
            "      fields: { department: Drivers, Location: \"Austin, TX\", Skills: \"{attributes.skills}\" }\n",
        ),
    )
    .unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = hirebridge::cli::account::check_against(&file, &client, &mut out, &mut err).await;
    let err = String::from_utf8(err).unwrap();
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("999"), "{err}");
    assert!(err.contains("pol-missing"), "{err}");
    assert!(
        !err.contains("101") && !err.contains("pol-sick-001"),
        "{err}"
    );
    // A field the account lacks, and a literal dropdown value that is no option (the seeded
    // Drivers option is deleted); fields and values that exist are not named.
    assert!(
        err.contains("custom field \"Cost center\" is not in the Connecteam account"),
        "{err}"
    );
    assert!(
        err.contains("\"Drivers\" is not an option of the Connecteam dropdown \"department\""),
        "{err}"
    );
    assert_eq!(err.lines().count(), 4, "{err}");

    let example = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/rules.yaml"));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = hirebridge::cli::account::check_against(example, &client, &mut out, &mut err).await;
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
}
