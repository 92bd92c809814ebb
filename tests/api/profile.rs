//! The Connecteam profile a hire lands with: the plan's custom fields written in the same
//! request that creates the user (or, for a user that already existed, in batched updates of
//! only what differs), direct managers found by email, the activation SMS as planned, and what
//! Connecteam refuses isolated from the rest of the batch.

use axum::http::Method;
use hirebridge::simulator::Simulator;
use serde_json::{Value, json};

use crate::both_backends;
use crate::delivery::{SEEDED_USERS, USERS, person, post_all, user_id};
use crate::helpers::*;

both_backends!(
    fields_on_create_cost_no_extra_request,
    a_manager_not_in_connecteam_leaves_only_that_field_unset,
    activation_only_for_the_hires_whose_plan_says,
    a_refused_field_is_isolated_from_the_batch,
    existing_users_are_updated_in_batches_of_25_and_not_when_unchanged,
    a_refused_update_is_isolated_from_the_batch,
    a_reloaded_table_reads_the_accounts_fields_again,
);

/// The example account's fields: every type hirebridge writes.
const PROFILE_RULES: &str = r#"version: 1
profile:
  Title: "{job.title}"
  Employment Start Date: "{job.start_date}"
  Direct manager: "{job.manager_email}"
  Location: "{job.location}"
  Handbook: "{attributes.handbook}"
rules:
  - name: full-time
    when: { job.employment_type: full_time }
    assign:
      packs: [101]
      policies:
        - { id: pol-vac-ft-001, balance: 15, unit: days }
  - name: warehouse
    when: { job.department: Warehouse }
    assign:
      packs: [102]
      fields: { Department: "{job.department}", Hourly rate: "18.5" }
      activation: true
  - name: everyone
    when: {}
    assign: { packs: [103] }
"#;

/// `n` hires (phones from `first` on), each managed by Grace Hopper (a seeded Connecteam
/// user); every third one in Retail rather than the Warehouse.
fn hires_from(prefix: &str, first: u32, n: u32) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let mut h = person(&unique_id(prefix), first + i);
            h["job"]["manager_email"] = json!("Grace@Example.com");
            if i % 3 == 2 {
                h["job"]["department"] = json!("Retail");
            }
            h
        })
        .collect()
}

fn hires(prefix: &str, n: u32) -> Vec<Value> {
    hires_from(prefix, 0, n)
}

/// [`PROFILE_RULES`] without its profile, fields and activation: the same packs and policies.
const PLAIN_RULES: &str = r#"version: 1
rules:
  - name: full-time
    when: { job.employment_type: full_time }
    assign:
      packs: [101]
      policies:
        - { id: pol-vac-ft-001, balance: 15, unit: days }
  - name: warehouse
    when: { job.department: Warehouse }
    assign:
      packs: [102]
  - name: everyone
    when: {}
    assign: { packs: [103] }
"#;

async fn app_with(b: Backend, rules: &str) -> TestApp {
    let db = TestDb::new(b).await;
    std::fs::write(db.rules_path(), rules).unwrap();
    TestApp::start(db, |_| {}).await
}

async fn deliver(app: &TestApp, bodies: &[Value]) -> Vec<Value> {
    let ids = post_all(app, bodies).await;
    let mut events = Vec::new();
    for id in &ids {
        events.push(app.wait_status(id, "done").await);
    }
    events
}

fn field(sim: &Simulator, user: u64, name: &str) -> Option<Value> {
    sim.custom_field_value(user, name)
}

fn creates(sim: &Simulator) -> Vec<hirebridge::simulator::LoggedRequest> {
    sim.requests()
        .into_iter()
        .filter(|r| r.method == Method::POST && r.path == USERS && r.status == 200)
        .collect()
}

async fn fields_on_create_cost_no_extra_request(b: Backend) {
    const N: u32 = 30;
    // The same burst with and without a profile.
    let plain = app_with(b, PLAIN_RULES).await;
    deliver(&plain, &hires("plain", N)).await;
    let plain_calls = plain.sim().requests().len();
    let plain_creates = creates(plain.sim()).len();
    plain.stop().await;

    let app = app_with(b, PROFILE_RULES).await;
    let events = deliver(&app, &hires("profiled", N)).await;
    let sim = app.sim();
    let catalog_reads = sim
        .requests()
        .iter()
        .filter(|r| r.path == "/users/v1/custom-fields")
        .count();
    let refused: Vec<String> = sim
        .requests()
        .iter()
        .filter(|r| r.status >= 400)
        .map(|r| format!("{} {} {} {:?}", r.method, r.path, r.status, r.body))
        .collect();
    // Once by the start-up comparison of the table with the account, once by delivery.
    assert_eq!(
        catalog_reads, 2,
        "the account's fields are read once each; refused: {refused:#?}"
    );
    // How many creates a burst takes depends on how the hires fall into rounds (and the
    // profiled one splits each round's creates by activation), so the call counts are
    // printed, not compared. What "no extra request" means is asserted: no update at all,
    // and every user's fields were in the one create that made it.
    let profiled_creates = creates(sim).len();
    let profiled_calls = sim.requests().len();
    assert!(
        !sim.requests()
            .iter()
            .any(|r| r.method == Method::PUT && r.path == USERS),
        "no PUT for new users"
    );
    let mut created_with_fields = 0;
    for r in creates(sim) {
        for u in r.body.as_ref().and_then(Value::as_array).unwrap() {
            let names: Vec<u64> = u["customFields"]
                .as_array()
                .map(|f| {
                    f.iter()
                        .filter_map(|v| v["customFieldId"].as_u64())
                        .collect()
                })
                .unwrap_or_default();
            assert!(names.len() >= 4, "a create without its profile: {u}");
            created_with_fields += 1;
        }
    }
    assert_eq!(
        created_with_fields, N,
        "each user created once, with its fields"
    );
    assert_eq!(sim.users().len(), SEEDED_USERS + N as usize);
    let grace = sim
        .users()
        .into_iter()
        .find(|u| u.email.as_deref() == Some("grace@example.com"))
        .unwrap()
        .user_id;
    for (i, ev) in events.iter().enumerate() {
        let u = user_id(ev);
        assert_eq!(field(sim, u, "Title"), Some(json!("Forklift Driver")));
        assert_eq!(
            field(sim, u, "Employment Start Date"),
            Some(json!("01/12/2026"))
        );
        assert_eq!(field(sim, u, "Direct manager"), Some(json!(grace)));
        assert_eq!(
            field(sim, u, "Location"),
            Some(json!([{"id": 1, "value": "Austin, TX"}]))
        );
        assert_eq!(
            field(sim, u, "Handbook"),
            None,
            "no attributes.handbook: unset"
        );
        if i % 3 == 2 {
            assert_eq!(field(sim, u, "Department"), None);
            assert!(
                !sim.smart_groups_of(u)
                    .contains(&"Warehouse team".to_owned())
            );
        } else {
            assert_eq!(
                field(sim, u, "Department"),
                Some(json!([{"id": 1, "value": "Warehouse"}]))
            );
            assert_eq!(field(sim, u, "Hourly rate"), Some(json!(18.5)));
            // The dropdown puts the hire in its team, and the location in Texas.
            let groups = sim.smart_groups_of(u);
            assert!(groups.contains(&"Warehouse team".to_owned()), "{groups:?}");
            assert!(groups.contains(&"Texas".to_owned()), "{groups:?}");
        }
    }
    println!(
        "{N} new hires: {plain_calls} Connecteam calls without profiles, {profiled_calls} with \
         ({catalog_reads} custom-fields read, {plain_creates} vs {profiled_creates} creates)"
    );
    app.stop().await;
}

async fn a_manager_not_in_connecteam_leaves_only_that_field_unset(b: Backend) {
    let app = app_with(b, PROFILE_RULES).await;
    let mut h = person(&unique_id("nomgr"), 1);
    h["job"]["manager_email"] = json!("nobody@example.com");
    let ev = &deliver(&app, &[h]).await[0];
    let sim = app.sim();
    let u = user_id(ev);
    assert_eq!(field(sim, u, "Direct manager"), None);
    assert_eq!(field(sim, u, "Title"), Some(json!("Forklift Driver")));
    // The event says which field was left unset, and why.
    let warnings = ev["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{ev:#}");
    assert_eq!(warnings[0]["field"], "Direct manager");
    assert_eq!(warnings[0]["reason"], "manager_not_found");
    assert!(
        warnings[0]["message"]
            .as_str()
            .unwrap()
            .contains("nobody@example.com")
    );
    // (Counters are process-wide and other tests run alongside: present, not an exact count.)
    let text = app.metrics().await;
    assert!(
        text.contains(r#"hirebridge_profile_field_warnings_total{reason="manager_not_found"}"#),
        "{text}"
    );
    // The hire's packs and policies went through all the same.
    for op in ev["operations"].as_array().unwrap() {
        assert_eq!(op["status"], "done", "{ev:#}");
    }
    assert!(sim.pack_assignments(101).contains(&u));
    assert!(sim.pack_assignments(102).contains(&u));
    app.stop().await;
}

async fn activation_only_for_the_hires_whose_plan_says(b: Backend) {
    let app = app_with(b, PROFILE_RULES).await;
    let events = deliver(&app, &hires("act", 6)).await;
    let sim = app.sim();
    let mut activated = sim.activations();
    activated.sort_unstable();
    let mut warehouse: Vec<u64> = events
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 3 != 2)
        .map(|(_, ev)| user_id(ev))
        .collect();
    warehouse.sort_unstable();
    assert_eq!(activated, warehouse, "only the warehouse hires get the SMS");
    let flags: Vec<String> = creates(sim).iter().map(|r| r.query.clone()).collect();
    assert!(
        flags.iter().any(|q| q.contains("sendActivation=true")),
        "{flags:?}"
    );
    assert!(
        flags.iter().any(|q| q.contains("sendActivation=false")),
        "{flags:?}"
    );
    app.stop().await;
}

async fn a_refused_field_is_isolated_from_the_batch(b: Backend) {
    let app = app_with(b, PROFILE_RULES).await;
    // A first hire makes hirebridge read (and keep) the account's fields.
    deliver(&app, &hires("warm", 1)).await;
    let sim = app.sim();
    // Then the account loses a field hirebridge still knows, which one hire of ten uses.
    sim.remove_custom_field("Handbook");
    let mut burst = hires_from("iso", 100, 10);
    burst[4]["attributes"]["handbook"] = json!("https://example.com/handbook");
    let events = deliver(&app, &burst).await;
    for (i, ev) in events.iter().enumerate() {
        let u = user_id(ev);
        assert_eq!(
            field(sim, u, "Title"),
            Some(json!("Forklift Driver")),
            "hire {i}: the others keep their fields"
        );
        for op in ev["operations"].as_array().unwrap() {
            assert_eq!(op["status"], "done", "{ev:#}");
        }
    }
    // The refused hire was created without its fields, and the fields were read again.
    let refused = user_id(&events[4]);
    assert_eq!(field(sim, refused, "Handbook"), None);
    // Written again with the account's fields read afresh: the field it no longer has is a
    // warning on that event only.
    assert_eq!(
        events[4]["warnings"][0]["field"], "Handbook",
        "{:#}",
        events[4]
    );
    assert_eq!(events[4]["warnings"][0]["reason"], "unknown_field");
    for (i, ev) in events.iter().enumerate().filter(|(i, _)| *i != 4) {
        assert_eq!(ev["warnings"], json!([]), "hire {i}");
    }
    let catalog_reads = sim
        .requests()
        .iter()
        .filter(|r| r.path == "/users/v1/custom-fields")
        .count();
    assert!(
        catalog_reads >= 2,
        "{catalog_reads} reads of the account's fields"
    );
    assert_eq!(sim.users().len(), SEEDED_USERS + 11);
    app.stop().await;
}

/// `n` users already in Connecteam for the hires `hires_from(prefix, first, n)` would post
/// (same phone and email): returns their ids.
fn existing_users(sim: &Simulator, hires: &[Value]) -> Vec<u64> {
    hires
        .iter()
        .map(|h| {
            sim.add_user(
                h["person"]["first_name"].as_str().unwrap(),
                "Tester",
                h["person"]["phone"].as_str().unwrap(),
                h["person"]["email"].as_str(),
                false,
            )
        })
        .collect()
}

fn updates(sim: &Simulator) -> Vec<hirebridge::simulator::LoggedRequest> {
    sim.requests()
        .into_iter()
        .filter(|r| r.method == Method::PUT && r.path == USERS)
        .collect()
}

async fn existing_users_are_updated_in_batches_of_25_and_not_when_unchanged(b: Backend) {
    const N: usize = 60;
    let app = app_with(b, PROFILE_RULES).await;
    let sim = app.sim();
    let burst = hires("exists", N as u32);
    let users = existing_users(sim, &burst);
    let events = deliver(&app, &burst).await;
    assert_eq!(sim.users().len(), SEEDED_USERS + N, "nobody created");
    let puts = updates(sim);
    let sizes: Vec<usize> = puts
        .iter()
        .map(|r| r.body.as_ref().and_then(Value::as_array).unwrap().len())
        .collect();
    assert!(sizes.iter().all(|&n| n <= 25), "{sizes:?}");
    assert_eq!(
        sizes.iter().sum::<usize>(),
        N,
        "one update per user: {sizes:?}"
    );
    // How the burst falls into user-resolution rounds decides the cut; at most one batch
    // more than ⌈60 ÷ 25⌉, and full batches among them.
    assert!(
        sizes.len() <= N.div_ceil(25) + 1 && sizes.contains(&25),
        "updates are batched: {sizes:?}"
    );
    for r in &puts {
        assert_eq!(r.status, 200, "{r:?}");
        assert!(
            r.query.contains("includeSmartGroupIds=false"),
            "{}",
            r.query
        );
        assert!(r.idempotency_key.is_some(), "{r:?}");
        for item in r.body.as_ref().and_then(Value::as_array).unwrap() {
            // Only the user and its plan's fields: nothing else about the user is touched.
            let keys: Vec<&String> = item.as_object().unwrap().keys().collect();
            assert_eq!(keys, ["customFields", "userId"], "{item}");
        }
    }
    for (ev, &u) in events.iter().zip(&users) {
        assert_eq!(user_id(ev), u);
        assert_eq!(field(sim, u, "Title"), Some(json!("Forklift Driver")));
        assert_eq!(
            field(sim, u, "Employment Start Date"),
            Some(json!("01/12/2026"))
        );
        let kinds: Vec<&str> = ev["operations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|op| op["kind"].as_str().unwrap())
            .collect();
        assert!(kinds.contains(&"update_profile"), "{kinds:?}");
    }
    // The same people again (re-sent by another source, say): their users hold the plan's
    // values already, so nothing is written.
    let again: Vec<Value> = burst
        .iter()
        .map(|h| {
            let mut h = h.clone();
            h["event_id"] = json!(unique_id("again"));
            h
        })
        .collect();
    let events = deliver(&app, &again).await;
    assert_eq!(
        updates(sim).len(),
        puts.len(),
        "no update when nothing changed"
    );
    for ev in &events {
        assert!(
            !ev["operations"]
                .as_array()
                .unwrap()
                .iter()
                .any(|op| op["kind"] == "update_profile"),
            "{ev:#}"
        );
    }
    // One person's start date moved: only that value of that user is written.
    let mut moved = burst[7].clone();
    moved["event_id"] = json!(unique_id("moved"));
    moved["job"]["start_date"] = json!("2027-01-04");
    deliver(&app, &[moved]).await;
    let last = updates(sim);
    assert_eq!(last.len(), puts.len() + 1);
    let body = last.last().unwrap().body.clone().unwrap();
    assert_eq!(
        body,
        json!([{"userId": users[7], "customFields": [{"customFieldId": 6208756, "value": "04/01/2027"}]}])
    );
    assert_eq!(
        field(sim, users[7], "Employment Start Date"),
        Some(json!("04/01/2027"))
    );
    app.stop().await;
}

async fn a_refused_update_is_isolated_from_the_batch(b: Backend) {
    let app = app_with(b, PROFILE_RULES).await;
    deliver(&app, &hires("warm", 1)).await;
    let sim = app.sim();
    // The account loses a field hirebridge still knows, which one existing user of ten gets.
    sim.remove_custom_field("Handbook");
    let mut burst = hires_from("upd", 100, 10);
    burst[4]["attributes"]["handbook"] = json!("https://example.com/handbook");
    let users = existing_users(sim, &burst);
    let events = deliver(&app, &burst).await;
    for (i, &u) in users.iter().enumerate() {
        // Every user got its fields, the refused one included, and its packs.
        assert_eq!(
            field(sim, u, "Title"),
            Some(json!("Forklift Driver")),
            "user {i}"
        );
        assert!(field(sim, u, "Direct manager").is_some(), "user {i}");
        assert!(sim.pack_assignments(101).contains(&u), "user {i}");
    }
    // The refused value is a warning on that event only.
    assert_eq!(
        events[4]["warnings"],
        json!([{"field": "Handbook", "reason": "refused",
                "message": events[4]["warnings"][0]["message"]}]),
        "{:#}",
        events[4]
    );
    for (i, ev) in events.iter().enumerate().filter(|(i, _)| *i != 4) {
        assert_eq!(ev["warnings"], json!([]), "hire {i}");
    }
    // The batch was split to find the user at fault; the other users were written in it.
    let puts = updates(sim);
    let refused_puts = puts.iter().filter(|r| r.status == 422).count();
    assert!(refused_puts >= 1, "{puts:#?}");
    let written: usize = puts
        .iter()
        .filter(|r| r.status == 200)
        .map(|r| r.body.as_ref().and_then(Value::as_array).unwrap().len())
        .sum();
    assert!(written >= 10, "{written} users written");
    // Splitting ten to one takes at most 2 × ⌈log2 10⌉ + 1 requests, then the user's seven
    // fields are sent one by one.
    assert!(
        puts.len() <= 9 + 7,
        "{} PUTs to isolate one user of ten",
        puts.len()
    );
    let alone = puts
        .iter()
        .filter(|r| {
            let b = r.body.as_ref().unwrap();
            b.as_array().unwrap().len() == 1
                && b[0]["userId"] == json!(users[4])
                && b[0]["customFields"].as_array().unwrap().len() == 1
        })
        .count();
    assert_eq!(alone, 7, "the refused user's fields, one by one: {puts:#?}");
    app.stop().await;
}

async fn a_reloaded_table_reads_the_accounts_fields_again(b: Backend) {
    let app = app_with(b, PROFILE_RULES).await;
    deliver(&app, &hires("before", 1)).await;
    let sim = app.sim();
    let reads = |sim: &Simulator| {
        sim.requests()
            .iter()
            .filter(|r| r.path == "/users/v1/custom-fields")
            .count()
    };
    let before = reads(sim);
    // Another hire under the same table: the fields read are reused.
    deliver(&app, &hires_from("same", 10, 1)).await;
    assert_eq!(reads(sim), before);
    // The account gets a field, and the table, reloaded, names it.
    sim.add_custom_field("Cost center", "str");
    let old: Value = app.admin_get("/v1/rules").await.json().await.unwrap();
    let rules = PROFILE_RULES.replace(
        "  Handbook: \"{attributes.handbook}\"\n",
        "  Handbook: \"{attributes.handbook}\"\n  Cost center: \"{attributes.cost_center}\"\n",
    );
    std::fs::write(app.db.rules_path(), rules).unwrap();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let r: Value = app.admin_get("/v1/rules").await.json().await.unwrap();
        if r["version"] != old["version"] {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the table was not reloaded"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let ev = &deliver(&app, &hires_from("after", 20, 1)).await[0];
    assert_eq!(reads(sim), before + 1, "read again for the new table");
    assert_eq!(ev["warnings"], json!([]), "{ev:#}");
    assert_eq!(
        sim.custom_field_value(user_id(ev), "Cost center"),
        Some(json!("CC-12"))
    );
    app.stop().await;
}
