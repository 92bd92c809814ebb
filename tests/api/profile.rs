//! The Connecteam profile a hire lands with: the plan's custom fields written in the same
//! request that creates the user, direct managers found by email, the activation SMS as
//! planned, and what Connecteam refuses isolated from the rest of the batch.

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
