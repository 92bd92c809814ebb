use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request};
use serde_json::{Value, json};
use tower::ServiceExt;

use super::*;

struct Resp {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

async fn send(sim: &Simulator, req: Request<Body>) -> Resp {
    let resp = sim.router().oneshot(req).await.expect("infallible");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("json body")
    };
    Resp {
        status,
        headers,
        body,
    }
}

async fn call(sim: &Simulator, method: Method, uri: &str, body: Option<Value>) -> Resp {
    let b = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json");
    let req = match body {
        Some(v) => b.body(Body::from(v.to_string())),
        None => b.body(Body::empty()),
    }
    .unwrap();
    send(sim, req).await
}

async fn get(sim: &Simulator, uri: &str) -> Resp {
    call(sim, Method::GET, uri, None).await
}

fn sim() -> Simulator {
    Simulator::new(SimConfig::default())
}

fn user(first: &str, phone: &str, email: Option<&str>) -> Value {
    let mut u =
        json!({"firstName": first, "lastName": "Doe", "phoneNumber": phone, "userType": "user"});
    if let Some(e) = email {
        u["email"] = json!(e);
    }
    u
}

fn user_ids(r: &Resp) -> Vec<u64> {
    r.body["data"]["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userId"].as_u64().unwrap())
        .collect()
}

fn header(r: &Resp, name: &str) -> u64 {
    r.headers
        .get(name)
        .unwrap_or_else(|| panic!("missing header {name}"))
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

const GRACE: u64 = 9_170_001;
const ALAN: u64 = 9_170_002;

// ---------- seeds, packs, policy types ----------

#[tokio::test]
async fn seeded_packs_policy_types_and_users() {
    let s = sim();
    let r = get(&s, "/onboarding/v1/packs").await;
    assert_eq!(r.status, 200);
    assert!(r.body["requestId"].as_str().unwrap().len() == 36);
    let packs = r.body["data"]["packs"].as_array().unwrap();
    let ids: Vec<u64> = packs.iter().map(|p| p["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, [101, 102, 103, 104, 105]);
    assert_eq!(packs[0]["name"], "Company essentials");
    assert_eq!(packs[0]["isDefault"], true);
    assert_eq!(packs[3]["name"], "Office & IT setup");
    assert_eq!(packs[4]["isDefault"], false);
    assert!(packs[1]["description"].is_string());

    let r = get(&s, "/time-off/v1/policy-types").await;
    assert_eq!(r.status, 200);
    let types = &r.body["data"]["policyTypes"];
    assert_eq!(types[0]["id"], "pt-vacation");
    assert_eq!(types[0]["name"], "Vacation");
    assert_eq!(types[0]["policies"][0]["id"], "pol-vac-ft-001");
    assert_eq!(types[0]["policies"][0]["name"], "Vacation – full-time");
    assert_eq!(types[0]["policies"][0]["unit"], "days");
    assert_eq!(types[0]["policies"][0]["accrualType"], "yearly");
    assert_eq!(types[0]["policies"][1]["id"], "pol-vac-pt-001");
    assert_eq!(types[0]["policies"][1]["unit"], "hours");
    assert_eq!(types[0]["policies"][1]["accrualType"], "hourly");
    assert_eq!(types[1]["id"], "pt-sick");
    assert_eq!(types[1]["policies"][0]["id"], "pol-sick-001");

    let users = s.users();
    assert_eq!(users.len(), 2);
    assert_eq!(users[0].user_id, GRACE);
    assert_eq!(users[0].phone_number, "+14155550123");
    assert!(!users[0].is_archived);
    assert_eq!(users[1].email.as_deref(), Some("alan@example.com"));
    assert!(users[1].is_archived);
}

#[tokio::test]
async fn unseeded_is_empty_and_add_pack_works() {
    let s = Simulator::new(SimConfig {
        seed: false,
        ..SimConfig::default()
    });
    assert!(s.users().is_empty());
    let r = get(&s, "/onboarding/v1/packs").await;
    assert_eq!(r.body["data"]["packs"], json!([]));
    s.add_pack(7, "Night shift");
    let r = get(&s, "/onboarding/v1/packs").await;
    assert_eq!(r.body["data"]["packs"][0]["name"], "Night shift");
    let id = s.add_user("A", "B", "+15550000001", None, false);
    assert_eq!(id, 9_170_001);
}

// ---------- users lookup ----------

#[tokio::test]
async fn user_status_defaults_to_active() {
    let s = sim();
    let r = get(&s, "/users/v1/users").await;
    assert_eq!(r.status, 200);
    assert_eq!(user_ids(&r), [GRACE]);
    let u = &r.body["data"]["users"][0];
    assert_eq!(u["firstName"], "Grace");
    assert_eq!(u["lastName"], "Hopper");
    assert_eq!(u["phoneNumber"], "+14155550123");
    assert_eq!(u["email"], "grace@example.com");
    assert_eq!(u["userType"], "user");
    assert_eq!(u["customFields"], json!([]));
    assert_eq!(u["isArchived"], false);
    assert!(u["createdAt"].is_i64() && u["modifiedAt"].is_i64());
    assert!(r.body.get("paging").is_none());

    let r = get(&s, "/users/v1/users?userStatus=archived").await;
    assert_eq!(user_ids(&r), [ALAN]);
    let r = get(&s, "/users/v1/users?userStatus=all").await;
    assert_eq!(user_ids(&r), [GRACE, ALAN]);
    let r = get(&s, "/users/v1/users?userStatus=deleted").await;
    assert_eq!(r.status, 422);
    assert_eq!(r.body["detail"][0]["loc"], json!(["query", "userStatus"]));
}

#[tokio::test]
async fn repeated_query_keys_or_within_and_across() {
    let s = sim();
    let r = get(
        &s,
        "/users/v1/users?userStatus=all&emailAddresses=GRACE%40example.com&emailAddresses=alan@example.com",
    )
    .await;
    assert_eq!(user_ids(&r), [GRACE, ALAN]);
    // Without userStatus=all the archived one is missed.
    let r = get(
        &s,
        "/users/v1/users?emailAddresses=grace@example.com&emailAddresses=alan@example.com",
    )
    .await;
    assert_eq!(user_ids(&r), [GRACE]);
    // AND across keys.
    let r = get(
        &s,
        "/users/v1/users?userStatus=all&emailAddresses=grace@example.com&phoneNumbers=%2B14155550124",
    )
    .await;
    assert_eq!(user_ids(&r), Vec::<u64>::new());
    let r = get(
        &s,
        "/users/v1/users?userStatus=all&phoneNumbers=%2B14155550124&phoneNumbers=%2B14155550123",
    )
    .await;
    assert_eq!(user_ids(&r), [GRACE, ALAN]);
    let r = get(
        &s,
        &format!("/users/v1/users?userStatus=all&userIds={ALAN}"),
    )
    .await;
    assert_eq!(user_ids(&r), [ALAN]);
    let r = get(&s, "/users/v1/users?fullNames=Grace%20Hopper").await;
    assert_eq!(user_ids(&r), [GRACE]);
    let r = get(&s, "/users/v1/users?fullNames=grace%20hopper").await;
    assert_eq!(user_ids(&r), Vec::<u64>::new());
    // Empty values are ignored, as in the vendor's own example URL.
    let r = get(&s, "/users/v1/users?userIds=&fullNames=Grace%20Hopper").await;
    assert_eq!(user_ids(&r), [GRACE]);
    let r = get(&s, "/users/v1/users?userIds=abc").await;
    assert_eq!(r.status, 422);
}

#[tokio::test]
async fn limit_bounds_and_paging() {
    let s = sim();
    for (q, code) in [
        ("limit=0", 422),
        ("limit=501", 422),
        ("limit=x", 422),
        ("offset=-1", 422),
        ("limit=1", 200),
        ("limit=500", 200),
    ] {
        assert_eq!(
            get(&s, &format!("/users/v1/users?{q}")).await.status,
            code,
            "{q}"
        );
    }
    for i in 0..12 {
        s.add_user(
            "P",
            &format!("{i}"),
            &format!("+1555000{i:04}"),
            None,
            false,
        );
    }
    // 13 active users, default limit 10.
    let r = get(&s, "/users/v1/users").await;
    assert_eq!(user_ids(&r).len(), 10);
    assert_eq!(r.body["paging"]["offset"], 10);
    let r = get(&s, "/users/v1/users?offset=10").await;
    assert_eq!(user_ids(&r).len(), 3);
    assert!(r.body.get("paging").is_none());
    let r = get(&s, "/users/v1/users?limit=5&offset=5").await;
    assert_eq!(r.body["paging"]["offset"], 10);
    let r = get(&s, "/users/v1/users?limit=13").await;
    assert!(r.body.get("paging").is_none());
    let r = get(&s, "/users/v1/users?limit=3&order=desc").await;
    assert_eq!(user_ids(&r)[0], 9_170_014);
}

// ---------- users create / update / archive ----------

#[tokio::test]
async fn create_users_happy_path() {
    let s = sim();
    let r = call(
        &s,
        Method::POST,
        "/users/v1/users",
        Some(json!([
            user("Ada", "+447700900123", Some("ada@example.com")),
            user("Bob", "+4915112345678", None),
        ])),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["requestId"].is_string());
    let results = r.body["data"]["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["userId"], 9_170_003);
    assert_eq!(results[0]["firstName"], "Ada");
    assert_eq!(results[0]["email"], "ada@example.com");
    assert_eq!(results[1]["userId"], 9_170_004);
    assert!(results[1].get("email").is_none());
    assert_eq!(results[1]["isArchived"], false);
    assert_eq!(s.users().len(), 4);
    let r = get(&s, "/users/v1/users?phoneNumbers=%2B4915112345678").await;
    assert_eq!(user_ids(&r), [9_170_004]);
}

#[tokio::test]
async fn create_users_is_all_or_nothing() {
    let s = sim();
    let cases = [
        // Duplicate of an archived user's phone.
        json!([
            user("Ok", "+15550001111", None),
            user("Dup", "+14155550124", None)
        ]),
        // Duplicate phone within the batch.
        json!([
            user("A", "+15550001111", None),
            user("B", "+15550001111", None)
        ]),
        // Duplicate email, case-insensitive, of an existing user.
        json!([
            user("A", "+15550001111", None),
            user("B", "+15550002222", Some("Grace@Example.com"))
        ]),
        // Duplicate email within the batch.
        json!([
            user("A", "+15550001111", Some("x@example.com")),
            user("B", "+15550002222", Some("x@example.com"))
        ]),
    ];
    for body in cases {
        let r = call(&s, Method::POST, "/users/v1/users", Some(body.clone())).await;
        assert_eq!(r.status, 422, "{body}");
        assert!(r.body["detail"].is_string(), "{}", r.body);
        assert_eq!(s.users().len(), 2, "nothing created for {body}");
    }
    let mut bad_type = user("A", "+15550001111", None);
    bad_type["userType"] = json!("owner");
    let mut no_type = user("A", "+15550001111", None);
    no_type.as_object_mut().unwrap().remove("userType");
    let field_cases = [
        json!([user("Ok", "+15550001111", None), user("A", "12345", None)]),
        json!([user("A", "+1234567", None)]),
        json!([user("A", "+1234567890123456", None)]),
        json!([user("A", "+1555000111a", None)]),
        json!([user("A", "+15550001111", Some("not-an-email"))]),
        json!([{"lastName": "Doe", "phoneNumber": "+15550001111", "userType": "user"}]),
        json!([{"firstName": "A", "phoneNumber": "+15550001111", "userType": "user"}]),
        json!([{"firstName": "A", "lastName": "Doe", "userType": "user"}]),
        json!([bad_type]),
        json!([no_type]),
        json!([]),
        json!({"firstName": "A"}),
    ];
    for body in field_cases {
        let r = call(&s, Method::POST, "/users/v1/users", Some(body.clone())).await;
        assert_eq!(r.status, 422, "{body}");
        assert!(r.body["detail"][0]["loc"][0] == "body", "{}", r.body);
        assert_eq!(s.users().len(), 2, "nothing created for {body}");
    }
    let r = call(
        &s,
        Method::POST,
        "/users/v1/users",
        Some(json!([user("A", "12345", None)])),
    )
    .await;
    assert_eq!(
        r.body["detail"][0]["loc"],
        json!(["body", 0, "phoneNumber"])
    );
}

#[tokio::test]
async fn create_users_batch_limit_is_25() {
    let s = sim();
    let batch = |n: usize, base: usize| -> Value {
        Value::Array(
            (0..n)
                .map(|i| user("U", &format!("+1555{:07}", base + i), None))
                .collect(),
        )
    };
    let r = call(&s, Method::POST, "/users/v1/users", Some(batch(26, 0))).await;
    assert_eq!(r.status, 422);
    assert_eq!(s.users().len(), 2);
    let r = call(&s, Method::POST, "/users/v1/users", Some(batch(25, 100))).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"]["results"].as_array().unwrap().len(), 25);
    assert_eq!(s.users().len(), 27);
}

#[tokio::test]
async fn update_restore_and_archive_users() {
    let s = sim();
    let r = call(
        &s,
        Method::PUT,
        "/users/v1/users",
        Some(json!([{"userId": ALAN, "isArchived": false, "firstName": "Alan M."}])),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["results"][0]["isArchived"], false);
    assert_eq!(r.body["data"]["results"][0]["firstName"], "Alan M.");
    assert_eq!(user_ids(&get(&s, "/users/v1/users").await), [GRACE, ALAN]);

    // Unknown user: 404, nothing changed (all-or-nothing).
    let r = call(
        &s,
        Method::PUT,
        "/users/v1/users",
        Some(json!([{"userId": GRACE, "lastName": "X"}, {"userId": 1}])),
    )
    .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["detail"], "User not found");
    assert_eq!(s.users()[0].last_name, "Hopper");

    // Taking another user's phone: 422.
    let r = call(
        &s,
        Method::PUT,
        "/users/v1/users",
        Some(json!([{"userId": GRACE, "phoneNumber": "+14155550124"}])),
    )
    .await;
    assert_eq!(r.status, 422);
    let r = call(
        &s,
        Method::PUT,
        "/users/v1/users",
        Some(json!([{"firstName": "X"}])),
    )
    .await;
    assert_eq!(r.status, 422);
    let big: Vec<Value> = (0..26).map(|_| json!({"userId": GRACE})).collect();
    let r = call(&s, Method::PUT, "/users/v1/users", Some(Value::Array(big))).await;
    assert_eq!(r.status, 422);

    let r = call(
        &s,
        Method::DELETE,
        &format!("/users/v1/users/{GRACE}"),
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(s.users()[0].is_archived);
    assert_eq!(user_ids(&get(&s, "/users/v1/users").await), [ALAN]);
    let r = call(&s, Method::DELETE, "/users/v1/users/42", None).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["detail"], "User not found");
}

#[tokio::test]
async fn users_are_archived_in_batches_all_or_nothing() {
    let s = sim();
    let a = s.add_user("A", "One", "+15550000101", None, false);
    let b = s.add_user("B", "Two", "+15550000102", None, false);
    let archive = "/users/v1/users?deletionType=archive";
    // One unknown id: nothing is archived, and the answer names it.
    let r = call(&s, Method::DELETE, archive, Some(json!([a, 42, b]))).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["detail"], "Users not found: 42");
    assert!(
        s.users()
            .iter()
            .all(|u| u.user_id == ALAN || !u.is_archived)
    );
    for (body, status) in [
        (json!([]), 422),
        (json!({"userIds": [a]}), 422),
        (json!([a, a]), 422),
        (json!([0]), 422),
        (json!(["x"]), 422),
    ] {
        let r = call(&s, Method::DELETE, archive, Some(body.clone())).await;
        assert_eq!(r.status, status, "{body}");
    }
    let r = call(
        &s,
        Method::DELETE,
        "/users/v1/users?deletionType=gone",
        Some(json!([a])),
    )
    .await;
    assert_eq!(r.status, 422);
    // Archived (the default type too), kept, and a repeat changes nothing.
    let r = call(&s, Method::DELETE, "/users/v1/users", Some(json!([a, b]))).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["data"]["success"], true);
    let r = call(&s, Method::DELETE, archive, Some(json!([a]))).await;
    assert_eq!(r.status, 200);
    let archived: Vec<u64> = s
        .users()
        .iter()
        .filter(|u| u.is_archived)
        .map(|u| u.user_id)
        .collect();
    assert_eq!(archived, [ALAN, a, b]);
    assert!(s.permanently_deleted().is_empty());
    // A permanent delete is possible, limited to 25, and recorded.
    let many: Vec<u64> = (1..=26).collect();
    let r = call(
        &s,
        Method::DELETE,
        "/users/v1/users?deletionType=delete",
        Some(json!(many)),
    )
    .await;
    assert_eq!(r.status, 422);
    let r = call(
        &s,
        Method::DELETE,
        "/users/v1/users?deletionType=delete",
        Some(json!([b])),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(s.permanently_deleted(), [b]);
    assert!(s.users().iter().all(|u| u.user_id != b));
}

#[tokio::test]
async fn pack_progress_is_moved_along_by_the_control_endpoint() {
    let s = sim();
    let r = call(
        &s,
        Method::POST,
        "/onboarding/v1/packs/101/assignments",
        Some(json!({"userIds": [GRACE]})),
    )
    .await;
    assert_eq!(r.status, 200);
    let shown = |r: &Resp| r.body["data"]["assignments"][0].clone();
    let r = get(&s, "/onboarding/v1/packs/101/assignments").await;
    assert_eq!(shown(&r)["status"], "in_progress");
    assert_eq!(shown(&r)["isWaitingApproval"], false);
    let path = format!("/_sim/packs/101/assignments/{GRACE}");
    let r = call(
        &s,
        Method::PUT,
        &path,
        Some(json!({"status": "in_progress", "isWaitingApproval": true})),
    )
    .await;
    assert_eq!(r.status, 204);
    let r = get(&s, "/onboarding/v1/packs/101/assignments").await;
    assert_eq!(shown(&r)["isWaitingApproval"], true);
    let r = call(&s, Method::PUT, &path, Some(json!({"status": "completed"}))).await;
    assert_eq!(r.status, 204);
    let r = get(&s, "/onboarding/v1/packs/101/assignments").await;
    assert_eq!(shown(&r)["status"], "completed");
    assert_eq!(shown(&r)["isWaitingApproval"], false);
    // Unknown assignment, unknown status.
    let r = call(
        &s,
        Method::PUT,
        "/_sim/packs/102/assignments/1",
        Some(json!({"status": "completed"})),
    )
    .await;
    assert_eq!(r.status, 404);
    let r = call(&s, Method::PUT, &path, Some(json!({"status": "done"}))).await;
    assert_eq!(r.status, 422);
    // Removed: the pack no longer lists it.
    let r = call(&s, Method::DELETE, &path, None).await;
    assert_eq!(r.status, 204);
    let r = get(&s, "/onboarding/v1/packs/101/assignments").await;
    assert_eq!(r.body["data"]["assignments"], json!([]));
}

// ---------- pack assignments ----------

async fn assign(s: &Simulator, pack: u64, ids: Value) -> Resp {
    call(
        s,
        Method::POST,
        &format!("/onboarding/v1/packs/{pack}/assignments"),
        Some(json!({ "userIds": ids })),
    )
    .await
}

#[tokio::test]
async fn pack_assignment_happy_path_and_get() {
    let s = sim();
    let r = get(&s, "/onboarding/v1/packs/101/assignments").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"]["assignments"], json!([]));
    let r = assign(&s, 101, json!([GRACE, ALAN])).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"], json!({}));
    assert!(r.body["requestId"].is_string());
    let r = get(&s, "/onboarding/v1/packs/101/assignments").await;
    let a = &r.body["data"]["assignments"];
    assert_eq!(a[0]["userId"], GRACE);
    assert_eq!(a[0]["status"], "in_progress");
    assert_eq!(a[0]["isWaitingApproval"], false);
    assert!(a[0]["id"].is_u64());
    assert_eq!(a[1]["userId"], ALAN);
    assert_eq!(s.pack_assignments(101), [GRACE, ALAN]);
    assert!(s.pack_assignments(102).is_empty());

    // Already assigned: ignored by default (200, no duplicate).
    let r = assign(&s, 101, json!([GRACE])).await;
    assert_eq!(r.status, 200);
    assert_eq!(s.pack_assignments(101), [GRACE, ALAN]);
}

#[tokio::test]
async fn pack_assignment_errors_are_all_or_nothing() {
    let s = sim();
    let r = assign(&s, 999, json!([GRACE])).await;
    assert_eq!(r.status, 404);
    assert!(r.body["detail"].is_string());
    assert_eq!(
        get(&s, "/onboarding/v1/packs/999/assignments").await.status,
        404
    );

    for ids in [json!([]), json!([GRACE, GRACE]), json!([GRACE, 12345])] {
        let r = assign(&s, 102, ids.clone()).await;
        assert_eq!(r.status, 422, "{ids}");
        assert!(r.body["detail"].is_string());
        assert!(
            s.pack_assignments(102).is_empty(),
            "nothing assigned for {ids}"
        );
    }
    let r = assign(&s, 102, json!([GRACE, 12345])).await;
    assert!(r.body["detail"].as_str().unwrap().contains("12345"));
    let r = call(
        &s,
        Method::POST,
        "/onboarding/v1/packs/102/assignments",
        Some(json!({})),
    )
    .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.body["detail"][0]["loc"], json!(["body", "userIds"]));
    let r = assign(&s, 102, json!(["x"])).await;
    assert_eq!(r.status, 422);
}

#[tokio::test]
async fn pack_assignment_limit_is_500() {
    let s = Simulator::new(SimConfig {
        seed: false,
        ..SimConfig::default()
    });
    s.add_pack(1, "P");
    let ids: Vec<u64> = (0..501)
        .map(|i| s.add_user("U", "N", &format!("+1555{i:07}"), None, false))
        .collect();
    let r = assign(&s, 1, json!(ids)).await;
    assert_eq!(r.status, 422);
    assert!(s.pack_assignments(1).is_empty());
    // One bad id inside a 500-id batch: nothing assigned.
    let mut bad = ids[..499].to_vec();
    bad.push(1);
    let r = assign(&s, 1, json!(bad)).await;
    assert_eq!(r.status, 422);
    assert!(s.pack_assignments(1).is_empty());
    let r = assign(&s, 1, json!(ids[..500])).await;
    assert_eq!(r.status, 200);
    assert_eq!(s.pack_assignments(1).len(), 500);
}

#[tokio::test]
async fn already_assigned_reject_mode() {
    let s = Simulator::new(SimConfig {
        already_assigned: AlreadyAssigned::Reject,
        ..SimConfig::default()
    });
    let bob = s.add_user("Bob", "B", "+15550009999", None, false);
    assert_eq!(assign(&s, 103, json!([GRACE])).await.status, 200);
    let r = assign(&s, 103, json!([bob, GRACE])).await;
    assert_eq!(r.status, 422);
    assert_eq!(s.pack_assignments(103), [GRACE]);
}

// ---------- policy assignments ----------

async fn put_policy(s: &Simulator, policy: &str, body: Value) -> Resp {
    call(
        s,
        Method::PUT,
        &format!("/time-off/v1/time-off-policies/{policy}/assignments"),
        Some(body),
    )
    .await
}

#[tokio::test]
async fn policy_assignment_happy_path_replace_and_repeat() {
    let s = sim();
    let r = put_policy(
        &s,
        "pol-vac-ft-001",
        json!({"userId": GRACE, "balance": 15.0, "unit": "days"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"], json!({}));
    let r = put_policy(
        &s,
        "pol-sick-001",
        json!({"userId": GRACE, "balance": 40, "unit": "hours"}),
    )
    .await;
    assert_eq!(r.status, 200);
    let mut pa = s.policy_assignments();
    pa.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        pa,
        [
            (
                "pol-sick-001".to_owned(),
                GRACE,
                Some(40.0),
                Some("hours".to_owned())
            ),
            (
                "pol-vac-ft-001".to_owned(),
                GRACE,
                Some(15.0),
                Some("days".to_owned())
            ),
        ]
    );
    // Same type: replaces.
    let r = put_policy(
        &s,
        "pol-vac-pt-001",
        json!({"userId": GRACE, "balance": 40, "unit": "hours"}),
    )
    .await;
    assert_eq!(r.status, 200);
    let vac: Vec<_> = s
        .policy_assignments()
        .into_iter()
        .filter(|p| p.0.starts_with("pol-vac"))
        .collect();
    assert_eq!(
        vac,
        [(
            "pol-vac-pt-001".to_owned(),
            GRACE,
            Some(40.0),
            Some("hours".to_owned())
        )]
    );
    // Repeat: safe, overwrites; no balance means the policy's default.
    for _ in 0..2 {
        let r = put_policy(&s, "pol-sick-001", json!({"userId": GRACE})).await;
        assert_eq!(r.status, 200);
    }
    assert_eq!(s.policy_assignments().len(), 2);
    assert!(
        s.policy_assignments()
            .contains(&("pol-sick-001".to_owned(), GRACE, None, None))
    );
}

#[tokio::test]
async fn policy_assignment_errors() {
    let s = sim();
    let r = put_policy(&s, "pol-nope", json!({"userId": GRACE})).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body, json!({"detail": "Policy not found"}));
    // The type id is not a policy id.
    let r = put_policy(&s, "pt-sick", json!({"userId": GRACE})).await;
    assert_eq!(r.status, 404);
    let r = put_policy(&s, "pol-sick-001", json!({"userId": 42})).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body, json!({"detail": "User not found"}));
    let r = put_policy(&s, "pol-sick-001", json!({"balance": 4, "unit": "hours"})).await;
    assert_eq!(r.status, 422);
    assert_eq!(
        r.body,
        json!({"detail": [{"loc": ["body", "userId"], "msg": "field required", "type": "value_error.missing"}]})
    );
    let r = put_policy(
        &s,
        "pol-sick-001",
        json!({"userId": GRACE, "balance": 4, "unit": "weeks"}),
    )
    .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.body["detail"][0]["loc"], json!(["body", "unit"]));
    let r = put_policy(&s, "pol-sick-001", json!({"userId": GRACE, "balance": 4})).await;
    assert_eq!(r.status, 422);
    assert_eq!(r.body["detail"][0]["loc"], json!(["body", "unit"]));
    let r = put_policy(&s, "pol-sick-001", json!({"userId": "abc"})).await;
    assert_eq!(r.status, 422);
    assert!(s.policy_assignments().is_empty());
}

// ---------- routing, auth, oauth ----------

#[tokio::test]
async fn unknown_route_and_method() {
    let s = sim();
    let r = get(&s, "/nope/v1/things").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body, json!({"detail": "Not Found"}));
    assert!(r.headers.contains_key("x-ratelimit-minute-remaining"));
    let r = call(&s, Method::PATCH, "/users/v1/users", None).await;
    assert_eq!(r.status, 405);
    assert_eq!(s.requests().len(), 2);
    assert_eq!(s.requests()[0].status, 404);
}

#[tokio::test]
async fn api_key_is_checked_when_configured() {
    let s = Simulator::new(SimConfig {
        api_key: Some("k-123".into()),
        ..SimConfig::default()
    });
    let r = get(&s, "/onboarding/v1/packs").await;
    assert_eq!(r.status, 401);
    assert!(r.body["detail"].is_string());
    assert!(r.headers.contains_key("x-ratelimit-day-remaining"));
    let req = |key: &str| {
        Request::get("/onboarding/v1/packs")
            .header("X-API-KEY", key)
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(send(&s, req("wrong")).await.status, 401);
    assert_eq!(send(&s, req("k-123")).await.status, 200);
    // No key configured: anything goes.
    let open = sim();
    assert_eq!(send(&open, req("whatever")).await.status, 200);
}

fn basic(id: &str, secret: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

async fn token_req(s: &Simulator, auth: &str, form: &str) -> Resp {
    send(
        s,
        Request::post("/oauth/v1/token")
            .header("authorization", auth)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(form.to_owned()))
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn oauth_token_then_use() {
    let s = Simulator::new(SimConfig {
        api_key: Some("k-123".into()),
        oauth_clients: vec![("cid".into(), "csecret".into())],
        ..SimConfig::default()
    });
    let r = token_req(
        &s,
        &basic("cid", "csecret"),
        "grant_type=client_credentials&scope=users.read+onboarding.write",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["expires_in"], 86_400);
    assert_eq!(r.body["scope"], "users.read onboarding.write");
    let token = r.body["access_token"].as_str().unwrap().to_owned();

    let with_bearer = |t: &str| {
        Request::get("/users/v1/users")
            .header("authorization", format!("Bearer {t}"))
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(send(&s, with_bearer(&token)).await.status, 200);
    assert_eq!(send(&s, with_bearer("forged")).await.status, 401);

    let r = token_req(
        &s,
        &basic("cid", "csecret"),
        "grant_type=client_credentials",
    )
    .await;
    assert!(r.body["scope"].as_str().unwrap().contains("time_off.write"));
    let r = token_req(&s, &basic("cid", "bad"), "grant_type=client_credentials").await;
    assert_eq!(r.status, 401);
    let r = token_req(&s, &basic("cid", "csecret"), "grant_type=password").await;
    assert_eq!(r.status, 400);
    let r = token_req(&s, "Bearer x", "grant_type=client_credentials").await;
    assert_eq!(r.status, 401);
}

// ---------- rate limit ----------

#[tokio::test]
async fn rate_limit_counts_down_429s_and_resets() {
    let s = Simulator::new(SimConfig {
        requests_per_minute: 3,
        requests_per_day: 100,
        window: Duration::from_millis(400),
        ..SimConfig::default()
    });
    // Start right after a window boundary so that the four calls share one window.
    let w = 400u128;
    let into = s.shared.started.elapsed().as_millis() % w;
    if into > 200 {
        tokio::time::sleep(Duration::from_millis((w - into) as u64 + 5)).await;
    }
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let r = get(&s, "/onboarding/v1/packs").await;
        assert_eq!(r.status, 200);
        assert_eq!(header(&r, "x-ratelimit-minute-limit"), 3);
        assert_eq!(header(&r, "x-ratelimit-day-limit"), 100);
        remaining.push(header(&r, "x-ratelimit-minute-remaining"));
    }
    assert_eq!(remaining, [2, 1, 0]);
    let r = get(&s, "/onboarding/v1/packs").await;
    assert_eq!(r.status, 429);
    assert_eq!(r.body, json!({"detail": "Too many requests"}));
    assert!(!r.headers.contains_key("retry-after"));
    assert_eq!(header(&r, "x-ratelimit-minute-remaining"), 0);
    assert_eq!(header(&r, "x-ratelimit-day-remaining"), 97);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let reset = header(&r, "x-ratelimit-minute-reset");
    assert!(
        reset >= now.as_secs() && reset <= now.as_secs() + 2,
        "{reset}"
    );
    let reset_ms = header(&r, "x-sim-ratelimit-minute-reset-ms");
    assert!(reset_ms as u128 > now.as_millis());
    assert!(header(&r, "x-ratelimit-day-reset") >= reset);
    assert_eq!(s.count_429(), 1);
    assert_eq!(s.requests().last().unwrap().status, 429);

    tokio::time::sleep(Duration::from_millis(
        (reset_ms as u128 - now.as_millis()) as u64 + 20,
    ))
    .await;
    let r = get(&s, "/onboarding/v1/packs").await;
    assert_eq!(r.status, 200);
    assert_eq!(header(&r, "x-ratelimit-minute-remaining"), 2);
    assert_eq!(header(&r, "x-ratelimit-day-remaining"), 96);
}

#[tokio::test]
async fn set_rate_limit_and_control_routes_are_free() {
    let s = sim();
    s.set_rate_limit(1);
    assert_eq!(get(&s, "/onboarding/v1/packs").await.status, 200);
    for _ in 0..5 {
        assert_eq!(get(&s, "/_sim/users").await.status, 200);
    }
    let r = get(&s, "/onboarding/v1/packs").await;
    assert_eq!(r.status, 429);
    assert_eq!(s.count_429(), 1);
    assert_eq!(s.requests().len(), 2, "the /_sim calls are not logged");
    let r = call(
        &s,
        Method::PUT,
        "/_sim/rate-limit",
        Some(json!({"perMinute": 50})),
    )
    .await;
    assert_eq!(r.status, 204);
    let r = get(&s, "/onboarding/v1/packs").await;
    assert_eq!(r.status, 200);
    assert_eq!(header(&r, "x-ratelimit-minute-limit"), 50);
}

// ---------- request log ----------

#[tokio::test]
async fn request_log_records_everything() {
    let s = sim();
    let req = Request::post("/onboarding/v1/packs/101/assignments")
        .header("content-type", "application/json")
        .header("Idempotency-Key", "evt-1:pack-101")
        .body(Body::from(json!({"userIds": [GRACE]}).to_string()))
        .unwrap();
    assert_eq!(send(&s, req).await.status, 200);
    get(
        &s,
        "/users/v1/users?emailAddresses=a%40x&emailAddresses=b%40y",
    )
    .await;
    let log = s.requests();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].method, Method::POST);
    assert_eq!(log[0].path, "/onboarding/v1/packs/101/assignments");
    assert_eq!(log[0].body, Some(json!({"userIds": [GRACE]})));
    assert_eq!(log[0].idempotency_key.as_deref(), Some("evt-1:pack-101"));
    assert_eq!(log[0].status, 200);
    assert!(!log[0].dropped && log[0].fault.is_none());
    assert_eq!(log[1].method, "GET");
    assert_eq!(log[1].query, "emailAddresses=a%40x&emailAddresses=b%40y");
    assert_eq!(log[1].body, None);
    assert_eq!(log[1].idempotency_key, None);
    assert!(log[1].at >= log[0].at);

    let r = get(&s, "/_sim/requests").await;
    assert_eq!(r.body[0]["idempotencyKey"], "evt-1:pack-101");
    assert_eq!(r.body[0]["method"], "POST");
    assert_eq!(
        r.body[1]["query"],
        "emailAddresses=a%40x&emailAddresses=b%40y"
    );
    assert_eq!(
        call(&s, Method::DELETE, "/_sim/requests", None)
            .await
            .status,
        204
    );
    assert!(s.requests().is_empty());
    s.clear_requests();
}

// ---------- faults (in-process) ----------

fn fault(method: Option<Method>, prefix: &str, times: usize, kind: FaultKind) -> Fault {
    Fault {
        method,
        path_prefix: prefix.into(),
        times,
        kind,
    }
}

#[tokio::test]
async fn status_fault_applies_nothing_and_counts_down() {
    let s = sim();
    s.inject(fault(
        Some(Method::POST),
        "/onboarding/v1/packs",
        2,
        FaultKind::Status(503, json!({"detail": "Service Unavailable"})),
    ));
    // GET does not match the method.
    assert_eq!(
        get(&s, "/onboarding/v1/packs/101/assignments").await.status,
        200
    );
    for _ in 0..2 {
        let r = assign(&s, 101, json!([GRACE])).await;
        assert_eq!(r.status, 503);
        assert_eq!(r.body, json!({"detail": "Service Unavailable"}));
        assert!(r.headers.contains_key("x-ratelimit-minute-remaining"));
        assert!(s.pack_assignments(101).is_empty());
    }
    assert_eq!(assign(&s, 101, json!([GRACE])).await.status, 200);
    assert_eq!(s.pack_assignments(101), [GRACE]);
    let log = s.requests();
    assert_eq!(log[1].fault.as_deref(), Some("status 503"));
    assert_eq!(log[3].fault, None);
}

#[tokio::test]
async fn throttle_body_fault_is_200_with_detail() {
    let s = sim();
    s.inject(fault(None, "/users", 1, FaultKind::ThrottleBody));
    let r = call(
        &s,
        Method::POST,
        "/users/v1/users",
        Some(json!([user("A", "+15550001111", None)])),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, json!({"detail": "Too many requests"}));
    assert_eq!(s.users().len(), 2);
}

#[tokio::test]
async fn apply_then_status_fault_applies() {
    let s = sim();
    s.inject(fault(
        Some(Method::POST),
        "/users/v1/users",
        1,
        FaultKind::ApplyThenStatus(502),
    ));
    let r = call(
        &s,
        Method::POST,
        "/users/v1/users",
        Some(json!([user("A", "+15550001111", None)])),
    )
    .await;
    assert_eq!(r.status, 502);
    assert!(r.body["detail"].is_string());
    assert_eq!(s.users().len(), 3, "the write happened");
    let log = s.requests();
    assert_eq!(log[0].status, 200);
    assert_eq!(log[0].fault.as_deref(), Some("apply_then_status 502"));
}

#[tokio::test]
async fn drop_fault_in_process_body_fails() {
    let s = sim();
    s.inject(fault(None, "/onboarding", 1, FaultKind::Drop));
    let resp = s
        .router()
        .oneshot(
            Request::post("/onboarding/v1/packs/101/assignments")
                .header("content-type", "application/json")
                .body(Body::from(json!({"userIds": [GRACE]}).to_string()))
                .unwrap(),
        )
        .await
        .unwrap();
    assert!(
        axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .is_err()
    );
    assert!(s.pack_assignments(101).is_empty());
    let log = s.requests();
    assert!(log[0].dropped);
    assert_eq!(log[0].status, 0);
}

#[tokio::test]
async fn delay_fault_in_process() {
    let s = sim();
    s.inject(fault(
        None,
        "/onboarding/v1/packs",
        1,
        FaultKind::Delay(Duration::from_millis(150)),
    ));
    let t = std::time::Instant::now();
    let r = get(&s, "/onboarding/v1/packs").await;
    assert_eq!(r.status, 200);
    assert!(t.elapsed() >= Duration::from_millis(150));
    let t = std::time::Instant::now();
    get(&s, "/onboarding/v1/packs").await;
    assert!(t.elapsed() < Duration::from_millis(150));
}

#[tokio::test]
async fn faults_injected_over_http() {
    let s = sim();
    let r = call(
        &s,
        Method::POST,
        "/_sim/faults",
        Some(
            json!({"method": "get", "pathPrefix": "/onboarding", "times": 1,
                    "kind": {"type": "status", "status": 500, "body": {"detail": "boom"}}}),
        ),
    )
    .await;
    assert_eq!(r.status, 204);
    let r = get(&s, "/onboarding/v1/packs").await;
    assert_eq!(r.status, 500);
    assert_eq!(r.body, json!({"detail": "boom"}));
    assert_eq!(get(&s, "/onboarding/v1/packs").await.status, 200);

    call(
        &s,
        Method::POST,
        "/_sim/faults",
        Some(json!({"pathPrefix": "/", "times": 5, "kind": {"type": "throttle_body"}})),
    )
    .await;
    assert_eq!(
        call(&s, Method::DELETE, "/_sim/faults", None).await.status,
        204
    );
    assert_eq!(
        get(&s, "/onboarding/v1/packs").await.body["data"]["packs"][0]["id"],
        101
    );
}

#[tokio::test]
async fn control_routes_show_state() {
    let s = sim();
    let r = call(
        &s,
        Method::POST,
        "/_sim/users",
        Some(
            json!({"firstName": "Lin", "lastName": "Ng", "phoneNumber": "+15550003333",
                    "email": "lin@example.com"}),
        ),
    )
    .await;
    let lin = r.body["userId"].as_u64().unwrap();
    let r = get(&s, "/_sim/users").await;
    assert_eq!(r.body.as_array().unwrap().len(), 3);
    assert_eq!(r.body[2]["email"], "lin@example.com");
    assign(&s, 104, json!([lin])).await;
    let r = get(&s, "/_sim/packs/104/assignments").await;
    assert_eq!(r.body["userIds"], json!([lin]));
    assert_eq!(get(&s, "/_sim/packs/999/assignments").await.status, 404);
    put_policy(
        &s,
        "pol-sick-001",
        json!({"userId": lin, "balance": 8, "unit": "hours"}),
    )
    .await;
    let r = get(&s, "/_sim/policy-assignments").await;
    assert_eq!(
        r.body,
        json!([{"policyId": "pol-sick-001", "userId": lin, "balance": 8.0, "unit": "hours"}])
    );
    assert_eq!(get(&s, "/_sim/nothing").await.status, 404);
    assert_eq!(s.requests().len(), 2);
}

// ---------- faults over a real socket ----------

async fn served(s: &Simulator) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = s.spawn(listener).await;
    format!("http://{addr}")
}

#[tokio::test]
async fn drop_and_apply_then_drop_surface_as_connection_errors() {
    let s = sim();
    let base = served(&s).await;
    let client = reqwest::Client::new();

    s.inject(fault(
        Some(Method::POST),
        "/onboarding/v1/packs/",
        1,
        FaultKind::Drop,
    ));
    let res = client
        .post(format!("{base}/onboarding/v1/packs/101/assignments"))
        .json(&json!({"userIds": [GRACE]}))
        .send()
        .await;
    assert!(res.is_err(), "a drop must not look like an answer: {res:?}");
    assert!(s.pack_assignments(101).is_empty());

    s.inject(fault(
        Some(Method::POST),
        "/users/v1/users",
        1,
        FaultKind::ApplyThenDrop,
    ));
    let res = client
        .post(format!("{base}/users/v1/users"))
        .header("Idempotency-Key", "evt-9:create")
        .json(&json!([user("Z", "+15550004444", None)]))
        .send()
        .await;
    assert!(
        res.is_err(),
        "apply-then-drop must not look like an answer: {res:?}"
    );
    assert_eq!(s.users().len(), 3, "the write happened");
    let last = s.requests().pop().unwrap();
    assert!(last.dropped);
    assert_eq!(last.status, 200);
    assert_eq!(last.idempotency_key.as_deref(), Some("evt-9:create"));

    // The server keeps serving afterwards.
    let r = client
        .get(format!("{base}/users/v1/users?phoneNumbers=%2B15550004444"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-ratelimit-minute-reset"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["data"]["users"][0]["firstName"], "Z");
    s.shutdown();
}

#[tokio::test]
async fn delay_makes_client_time_out_but_write_still_happens() {
    let s = sim();
    let base = served(&s).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    s.inject(fault(
        None,
        "/onboarding",
        1,
        FaultKind::Delay(Duration::from_millis(400)),
    ));
    let res = client
        .post(format!("{base}/onboarding/v1/packs/102/assignments"))
        .json(&json!({"userIds": [GRACE]}))
        .send()
        .await;
    let err = res.expect_err("must time out");
    assert!(err.is_timeout());
    assert!(s.pack_assignments(102).is_empty());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(s.pack_assignments(102), [GRACE]);
    s.shutdown();
}

#[tokio::test]
async fn run_serves_until_cancelled() {
    let cancel = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(run("127.0.0.1:0".parse().unwrap(), cancel.clone()));
    tokio::time::sleep(Duration::from_millis(50)).await;
    cancel.cancel();
    let res = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("stops on cancel")
        .unwrap();
    assert!(res.is_ok());
}

#[tokio::test]
async fn drop_on_a_reused_keep_alive_connection_is_not_retried() {
    let s = sim();
    let base = served(&s).await;
    let client = reqwest::Client::new();
    // Warm the pool so that the dropped request rides an idle keep-alive connection.
    for _ in 0..2 {
        let r = client
            .get(format!("{base}/onboarding/v1/packs"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap();
    }
    s.inject(fault(
        None,
        "/onboarding/v1/packs/103",
        1,
        FaultKind::ApplyThenDrop,
    ));
    let res = client
        .post(format!("{base}/onboarding/v1/packs/103/assignments"))
        .json(&json!({"userIds": [GRACE]}))
        .send()
        .await;
    assert!(res.is_err(), "{res:?}");
    assert_eq!(s.pack_assignments(103), [GRACE]);
    let posts = s
        .requests()
        .iter()
        .filter(|r| r.method == Method::POST)
        .count();
    assert_eq!(posts, 1, "the client did not silently repeat the request");
    // The client recovers on a fresh connection.
    let r = client
        .get(format!("{base}/onboarding/v1/packs/103/assignments"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    s.shutdown();
}

#[tokio::test]
async fn day_budget_is_enforced_too() {
    let s = Simulator::new(SimConfig {
        requests_per_minute: 100,
        requests_per_day: 2,
        ..SimConfig::default()
    });
    assert_eq!(get(&s, "/onboarding/v1/packs").await.status, 200);
    let r = get(&s, "/onboarding/v1/packs").await;
    assert_eq!(header(&r, "x-ratelimit-day-remaining"), 0);
    assert_eq!(header(&r, "x-ratelimit-minute-remaining"), 98);
    let r = get(&s, "/onboarding/v1/packs").await;
    assert_eq!(r.status, 429);
    assert_eq!(r.body, json!({"detail": "Too many requests"}));
    assert_eq!(s.count_429(), 1);
}

#[tokio::test]
async fn concurrent_requests_share_one_budget() {
    let s = Simulator::new(SimConfig {
        requests_per_minute: 20,
        ..SimConfig::default()
    });
    let base = served(&s).await;
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (c, u) = (client.clone(), format!("{base}/time-off/v1/policy-types"));
        tasks.push(tokio::spawn(async move {
            c.get(u).send().await.unwrap().status().as_u16()
        }));
    }
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap() == 200 {
            ok += 1;
        }
    }
    // The 60 s window may roll over mid-test only if the test straddles it; allow that.
    assert!(ok == 20 || ok == 40, "{ok}");
    assert_eq!(s.count_429(), 50 - ok);
    assert_eq!(s.requests().len(), 50);
    s.shutdown();
}

#[tokio::test]
async fn every_fault_kind_parses_over_http() {
    let s = sim();
    for kind in [
        json!({"type": "drop"}),
        json!({"type": "apply_then_drop"}),
        json!({"type": "apply_then_status", "status": 500}),
        json!({"type": "delay", "ms": 1}),
        json!({"type": "throttle_body"}),
        json!({"type": "status", "status": 404}),
    ] {
        let r = call(
            &s,
            Method::POST,
            "/_sim/faults",
            Some(json!({"pathPrefix": "/x", "kind": kind})),
        )
        .await;
        assert_eq!(r.status, 204, "{kind}");
    }
    let kinds: Vec<String> = s
        .lock()
        .faults
        .iter()
        .map(|f| format!("{:?}", f.kind))
        .collect();
    assert_eq!(kinds.len(), 6);
    assert!(kinds[3].contains("Delay(1ms)"), "{kinds:?}");
    let r = call(
        &s,
        Method::POST,
        "/_sim/faults",
        Some(json!({"pathPrefix": "/x", "kind": {"type": "explode"}})),
    )
    .await;
    assert_eq!(r.status, 422);
}

#[tokio::test]
async fn faults_are_taken_in_queue_order() {
    let s = sim();
    s.inject(fault(
        None,
        "/onboarding",
        1,
        FaultKind::Status(500, json!({"detail": "a"})),
    ));
    s.inject(fault(
        None,
        "/onboarding",
        1,
        FaultKind::Status(502, json!({"detail": "b"})),
    ));
    assert_eq!(get(&s, "/onboarding/v1/packs").await.status, 500);
    assert_eq!(get(&s, "/onboarding/v1/packs").await.status, 502);
    assert_eq!(get(&s, "/onboarding/v1/packs").await.status, 200);
    // A 429 does not consume a fault.
    s.set_rate_limit(0);
    s.inject(fault(None, "/onboarding", 1, FaultKind::ThrottleBody));
    assert_eq!(get(&s, "/onboarding/v1/packs").await.status, 429);
    s.set_rate_limit(100);
    let r = get(&s, "/onboarding/v1/packs").await;
    assert_eq!(r.body, json!({"detail": "Too many requests"}));
}

// ---------- custom fields, activation SMS, smart groups ----------

const TITLE: u64 = 6_208_755;
const START_DATE: u64 = 6_208_756;
const MANAGER: u64 = 6_208_760;
const DEPARTMENT: u64 = 6_208_761;
const LOCATION: u64 = 6_208_762;
const WORK_EMAIL: u64 = 6_208_763;
const EMERGENCY_PHONE: u64 = 6_208_764;
const HOURLY_RATE: u64 = 6_208_765;
const HANDBOOK: u64 = 6_208_766;
const SKILLS: u64 = 6_208_767;
const WAREHOUSE_TEAM: u64 = 2_359_154;
const TEXAS: u64 = 2_359_155;
const RETAIL_TEAM: u64 = 2_359_156;

/// A new user carrying `fields` (`[{customFieldId, value}]`).
fn user_with(first: &str, phone: &str, fields: Value) -> Value {
    let mut u = user(first, phone, None);
    u["customFields"] = fields;
    u
}

fn field_ids(r: &Resp) -> Vec<u64> {
    r.body["data"]["customFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_u64().unwrap())
        .collect()
}

async fn post_users(s: &Simulator, query: &str, body: Value) -> Resp {
    call(
        s,
        Method::POST,
        &format!("/users/v1/users{query}"),
        Some(body),
    )
    .await
}

async fn put_users(s: &Simulator, query: &str, body: Value) -> Resp {
    call(
        s,
        Method::PUT,
        &format!("/users/v1/users{query}"),
        Some(body),
    )
    .await
}

/// Creates one user with `fields`; returns its id.
async fn create_with(s: &Simulator, phone: &str, fields: Value) -> u64 {
    let r = post_users(s, "", json!([user_with("Hire", phone, fields)])).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["data"]["results"][0]["userId"].as_u64().unwrap()
}

#[tokio::test]
async fn custom_fields_are_seeded_filtered_and_paged() {
    let s = sim();
    let r = get(&s, "/users/v1/custom-fields").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["requestId"].as_str().unwrap().len(), 36);
    assert_eq!(
        field_ids(&r),
        [
            TITLE,
            START_DATE,
            MANAGER,
            DEPARTMENT,
            LOCATION,
            WORK_EMAIL,
            EMERGENCY_PHONE,
            HOURLY_RATE,
            HANDBOOK,
            SKILLS
        ]
    );
    // Exactly the default limit: nothing beyond.
    assert!(r.body.get("paging").is_none());
    let fields = &r.body["data"]["customFields"];
    assert_eq!(
        fields[0],
        json!({"id": TITLE, "name": "Title", "type": "str", "categoryId": 1, "isRequired": false})
    );
    assert_eq!(fields[1]["type"], "date");
    assert_eq!(fields[2]["type"], "directManager");
    let dept = &fields[3];
    assert_eq!(dept["name"], "Department");
    assert_eq!(dept["type"], "dropdown");
    assert_eq!(dept["isMultiSelect"], false);
    assert_eq!(dept["dropdownOptions"].as_array().unwrap().len(), 8);
    assert_eq!(
        dept["dropdownOptions"][0],
        json!({"id": 1, "value": "Warehouse", "isDisabled": false, "isDeleted": false})
    );
    assert_eq!(
        dept["dropdownOptions"][7],
        json!({"id": 8, "value": "Drivers", "isDisabled": false, "isDeleted": true})
    );
    assert_eq!(fields[4]["dropdownOptions"][0]["value"], "Austin, TX");
    assert_eq!(fields[4]["dropdownOptions"][4]["value"], "London, UK");
    assert_eq!(fields[9]["name"], "Skills");
    assert_eq!(fields[9]["isMultiSelect"], true);
    assert_eq!(fields[9]["dropdownOptions"][1]["value"], "First aid");

    // Pages of 3.
    let mut seen = Vec::new();
    let mut offset = 0;
    loop {
        let r = get(
            &s,
            &format!("/users/v1/custom-fields?limit=3&offset={offset}"),
        )
        .await;
        assert_eq!(r.status, 200);
        let ids = field_ids(&r);
        seen.extend(ids.clone());
        match r.body.get("paging") {
            Some(p) => {
                assert_eq!(ids.len(), 3);
                assert_eq!(p["offset"], offset + 3);
                offset = p["offset"].as_u64().unwrap();
            }
            None => {
                assert_eq!(ids, [SKILLS]);
                break;
            }
        }
    }
    assert_eq!(seen.len(), 10);
    assert_eq!(offset, 9);

    // Filters: OR within a key, AND across keys.
    let r = get(
        &s,
        "/users/v1/custom-fields?customFieldNames=Department&customFieldNames=Location",
    )
    .await;
    assert_eq!(field_ids(&r), [DEPARTMENT, LOCATION]);
    let r = get(&s, "/users/v1/custom-fields?customFieldTypes=dropdown").await;
    assert_eq!(field_ids(&r), [DEPARTMENT, LOCATION, SKILLS]);
    let r = get(
        &s,
        &format!("/users/v1/custom-fields?customFieldTypes=dropdown&customFieldIds={SKILLS}&customFieldIds={TITLE}"),
    )
    .await;
    assert_eq!(field_ids(&r), [SKILLS]);
    let r = get(&s, "/users/v1/custom-fields?customFieldNames=department").await;
    assert_eq!(field_ids(&r), Vec::<u64>::new());

    for (q, loc) in [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("offset=-1", "offset"),
        ("customFieldIds=x", "customFieldIds"),
        ("customFieldTypes=text", "customFieldTypes"),
    ] {
        let r = get(&s, &format!("/users/v1/custom-fields?{q}")).await;
        assert_eq!(r.status, 422, "{q}");
        assert_eq!(r.body["detail"][0]["loc"], json!(["query", loc]), "{q}");
    }
    // Logged and counted like every API request.
    let log = s.requests();
    assert!(log.iter().all(|l| l.path == "/users/v1/custom-fields"));
    assert_eq!(log.len(), 14);
    let r = get(&s, "/users/v1/custom-fields").await;
    assert_eq!(header(&r, "x-ratelimit-minute-remaining"), 100 - 15);
    assert_eq!(
        call(&s, Method::POST, "/users/v1/custom-fields", None)
            .await
            .status,
        405
    );
}

#[tokio::test]
async fn each_custom_field_type_takes_its_form_and_refuses_others() {
    let s = sim();
    // (field, accepted value, as users show it, refused values)
    let cases: Vec<(u64, Value, Value, Vec<Value>)> = vec![
        (
            TITLE,
            json!("Picker"),
            json!("Picker"),
            vec![json!(5), json!(true), json!(["Picker"])],
        ),
        (
            START_DATE,
            json!("29/02/2028"),
            json!("29/02/2028"),
            vec![
                json!("31/02/2026"),
                json!("29/02/2027"),
                json!("2026-12-01"),
                json!("1/12/2026"),
                json!("00/01/2026"),
                json!("12/13/2026"),
                json!("01/12/0000"),
                json!("０1/12/2026"),
                json!(20_261_201),
            ],
        ),
        (
            MANAGER,
            json!(GRACE),
            json!(GRACE),
            vec![
                json!(ALAN),
                json!(1),
                json!(GRACE.to_string()),
                json!(9_170_001.5),
            ],
        ),
        (
            DEPARTMENT,
            json!([{"id": 1}]),
            json!([{"id": 1, "value": "Warehouse"}]),
            vec![
                json!([{"id": 1}, {"id": 2}]),
                json!([{"id": 8}]),
                json!([{"id": 99}]),
                json!([{"id": "1"}]),
                json!([{}]),
                json!({"id": 1}),
                json!(1),
                json!("Warehouse"),
            ],
        ),
        (
            LOCATION,
            json!([{"id": 2}]),
            json!([{"id": 2, "value": "Dallas, TX"}]),
            vec![json!([{"id": 6}]), json!([{"id": 1}, {"id": 2}])],
        ),
        (
            WORK_EMAIL,
            json!("ada@work.example.com"),
            json!("ada@work.example.com"),
            vec![json!("not-an-email"), json!("a b@example.com"), json!(3)],
        ),
        (
            EMERGENCY_PHONE,
            json!("+15550009999"),
            json!("+15550009999"),
            vec![
                json!("555-0100"),
                json!("+1 555 000 9999"),
                json!(15_550_009_999u64),
            ],
        ),
        (
            HOURLY_RATE,
            json!(18.5),
            json!(18.5),
            vec![json!("18.5"), json!(true), json!([18])],
        ),
        (
            HANDBOOK,
            json!("https://example.com/handbook"),
            json!("https://example.com/handbook"),
            vec![
                json!("example.com/handbook"),
                json!("ftp://example.com"),
                json!("https://"),
                json!(1),
            ],
        ),
        (
            SKILLS,
            json!([{"id": 1}, {"id": 3}]),
            json!([{"id": 1, "value": "Forklift"}, {"id": 3, "value": "Spanish"}]),
            vec![json!([{"id": 1}, {"id": 1}]), json!([{"id": 4}])],
        ),
    ];
    let names: Vec<(u64, String, String)> =
        get(&s, "/users/v1/custom-fields").await.body["data"]["customFields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["id"].as_u64().unwrap(),
                    f["name"].as_str().unwrap().to_owned(),
                    f["type"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
    for (n, (field, good, shown, bads)) in cases.into_iter().enumerate() {
        let before = s.users().len();
        for bad in bads {
            let body = json!([user_with(
                "Bad",
                "+15550007777",
                json!([{"customFieldId": field, "value": bad}])
            )]);
            let r = post_users(&s, "", body).await;
            assert_eq!(r.status, 422, "{field} {bad}: {}", r.body);
            let loc = r.body["detail"][0]["loc"].as_array().unwrap();
            assert_eq!(
                loc[..5],
                [
                    json!("body"),
                    json!(0),
                    json!("customFields"),
                    json!(0),
                    json!("value")
                ],
                "{field} {bad}"
            );
            assert!(r.body["detail"][0]["msg"].is_string());
            assert_eq!(s.users().len(), before, "nothing created for {field} {bad}");
        }
        let phone = format!("+1555001{n:04}");
        let body = json!([user_with(
            "Good",
            &phone,
            json!([{"customFieldId": field, "value": good}])
        )]);
        let r = post_users(&s, "", body).await;
        assert_eq!(r.status, 200, "{field}: {}", r.body);
        let (_, name, kind) = names.iter().find(|(id, ..)| *id == field).unwrap();
        let created = &r.body["data"]["results"][0];
        assert_eq!(
            created["customFields"],
            json!([{"customFieldId": field, "value": shown, "type": kind, "name": name}]),
            "{field}"
        );
        let id = created["userId"].as_u64().unwrap();
        assert_eq!(s.custom_field_value(id, name), Some(shown.clone()));
        let r = get(&s, &format!("/users/v1/users?userIds={id}")).await;
        assert_eq!(
            r.body["data"]["users"][0]["customFields"][0]["value"],
            shown
        );
    }

    // A disabled option is refused too.
    s.lock()
        .custom_fields
        .get_mut(&SKILLS)
        .and_then(|f| f.dropdown_options.as_mut())
        .unwrap()[1]
        .is_disabled = true;
    let body = json!([user_with(
        "Bad",
        "+15550007777",
        json!([{"customFieldId": SKILLS, "value": [{"id": 2}]}])
    )]);
    let r = post_users(&s, "", body).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(
        r.body["detail"][0]["loc"],
        json!(["body", 0, "customFields", 0, "value", 0])
    );
}

#[tokio::test]
async fn custom_field_entries_need_a_known_unique_id_and_a_value() {
    let s = sim();
    let cases = [
        (
            json!([{"customFieldId": 42, "value": "x"}]),
            json!(["body", 0, "customFields", 0, "customFieldId"]),
        ),
        (
            json!([
                {"customFieldId": TITLE, "value": "x"},
                {"customFieldId": TITLE, "value": "y"}
            ]),
            json!(["body", 0, "customFields", 1, "customFieldId"]),
        ),
        (
            json!([{"customFieldId": TITLE}]),
            json!(["body", 0, "customFields", 0, "value"]),
        ),
        (
            json!([{"value": "x"}]),
            json!(["body", 0, "customFields", 0, "customFieldId"]),
        ),
        (
            json!([{"customFieldId": "Title", "value": "x"}]),
            json!(["body", 0, "customFields", 0, "customFieldId"]),
        ),
        (json!(["Title"]), json!(["body", 0, "customFields", 0])),
        (
            json!({"customFieldId": TITLE, "value": "x"}),
            json!(["body", 0, "customFields"]),
        ),
    ];
    for (fields, loc) in cases {
        let r = post_users(
            &s,
            "",
            json!([user_with("A", "+15550001111", fields.clone())]),
        )
        .await;
        assert_eq!(r.status, 422, "{fields}");
        assert_eq!(r.body["detail"][0]["loc"], loc, "{fields}");
        assert_eq!(s.users().len(), 2);
    }
    // The same field on two different users is fine.
    let r = post_users(
        &s,
        "",
        json!([
            user_with(
                "A",
                "+15550001111",
                json!([{"customFieldId": TITLE, "value": "x"}])
            ),
            user_with(
                "B",
                "+15550002222",
                json!([{"customFieldId": TITLE, "value": "y"}])
            ),
        ]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn one_bad_custom_field_refuses_the_whole_batch() {
    let s = sim();
    let r = post_users(
        &s,
        "?sendActivation=true",
        json!([
            user_with(
                "A",
                "+15550001111",
                json!([{"customFieldId": TITLE, "value": "Picker"}])
            ),
            user_with(
                "B",
                "+15550002222",
                json!([
                    {"customFieldId": TITLE, "value": "Driver"},
                    {"customFieldId": START_DATE, "value": "2026-12-01"}
                ])
            ),
        ]),
    )
    .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.body["detail"].as_array().unwrap().len(), 1);
    assert_eq!(
        r.body["detail"][0]["loc"],
        json!(["body", 1, "customFields", 1, "value"])
    );
    assert_eq!(s.users().len(), 2);
    assert!(s.activations().is_empty());

    // PUT: one bad item, nothing changed for the good one.
    let r = put_users(
        &s,
        "",
        json!([
            {"userId": GRACE, "lastName": "H.", "customFields": [{"customFieldId": TITLE, "value": "Admiral"}]},
            {"userId": ALAN, "customFields": [{"customFieldId": DEPARTMENT, "value": [{"id": 8}]}]},
        ]),
    )
    .await;
    assert_eq!(r.status, 422);
    assert_eq!(
        r.body["detail"][0]["loc"],
        json!(["body", 1, "customFields", 0, "value", 0])
    );
    assert_eq!(s.users()[0].last_name, "Hopper");
    assert_eq!(s.custom_field_value(GRACE, "Title"), None);
}

#[tokio::test]
async fn put_merges_custom_fields_and_null_clears() {
    let s = sim();
    let id = create_with(
        &s,
        "+15550001111",
        json!([
            {"customFieldId": HOURLY_RATE, "value": 18},
            {"customFieldId": TITLE, "value": "Picker"},
            {"customFieldId": DEPARTMENT, "value": [{"id": 1}]},
            {"customFieldId": MANAGER, "value": GRACE},
        ]),
    )
    .await;
    let users = s.users();
    let fields = &users
        .iter()
        .find(|u| u.user_id == id)
        .unwrap()
        .custom_fields;
    let order: Vec<u64> = fields
        .iter()
        .map(|f| f["customFieldId"].as_u64().unwrap())
        .collect();
    assert_eq!(order, [TITLE, MANAGER, DEPARTMENT, HOURLY_RATE]);

    // Only the named field changes.
    let r = put_users(
        &s,
        "",
        json!([{"userId": id, "customFields": [{"customFieldId": TITLE, "value": "Lead picker"}]}]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["data"]["results"][0]["customFields"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    assert_eq!(
        s.custom_field_value(id, "Title"),
        Some(json!("Lead picker"))
    );
    assert_eq!(
        s.custom_field_value(id, "Department"),
        Some(json!([{"id": 1, "value": "Warehouse"}]))
    );
    assert_eq!(s.custom_field_value(id, "Hourly rate"), Some(json!(18)));
    assert_eq!(
        s.custom_field_value(id, "Direct manager"),
        Some(json!(GRACE))
    );

    // A PUT without customFields keeps them all.
    let r = put_users(&s, "", json!([{"userId": id, "firstName": "Renamed"}])).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        s.users()
            .iter()
            .find(|u| u.user_id == id)
            .unwrap()
            .custom_fields
            .len(),
        4
    );

    // null clears, and so does an empty dropdown selection.
    let r = put_users(
        &s,
        "",
        json!([{"userId": id, "customFields": [
            {"customFieldId": HOURLY_RATE, "value": null},
            {"customFieldId": DEPARTMENT, "value": []},
        ]}]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.custom_field_value(id, "Hourly rate"), None);
    assert_eq!(s.custom_field_value(id, "Department"), None);
    assert_eq!(
        s.custom_field_value(id, "Title"),
        Some(json!("Lead picker"))
    );
    let r = get(&s, &format!("/users/v1/users?userIds={id}")).await;
    let shown: Vec<&str> = r.body["data"]["users"][0]["customFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(shown, ["Title", "Direct manager"]);

    // A user cannot manage itself; an archived manager is refused in a PUT too.
    for manager in [id, ALAN] {
        let r = put_users(
            &s,
            "",
            json!([{"userId": id, "customFields": [{"customFieldId": MANAGER, "value": manager}]}]),
        )
        .await;
        assert_eq!(r.status, 422, "{manager}");
        assert_eq!(
            r.body["detail"][0]["loc"],
            json!(["body", 0, "customFields", 0, "value"])
        );
    }
    assert_eq!(
        s.custom_field_value(id, "Direct manager"),
        Some(json!(GRACE))
    );
    // Someone else may be managed by the new user.
    let r = put_users(
        &s,
        "",
        json!([{"userId": GRACE, "customFields": [{"customFieldId": MANAGER, "value": id}]}]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn send_activation_is_recorded_only_when_true() {
    let s = sim();
    let r = post_users(&s, "", json!([user("A", "+15550001111", None)])).await;
    assert_eq!(r.status, 200);
    let r = post_users(
        &s,
        "?sendActivation=true",
        json!([
            user("B", "+15550002222", None),
            user("C", "+15550003333", None)
        ]),
    )
    .await;
    assert_eq!(r.status, 200);
    let b = r.body["data"]["results"][0]["userId"].as_u64().unwrap();
    let c = r.body["data"]["results"][1]["userId"].as_u64().unwrap();
    let r = post_users(
        &s,
        "?sendActivation=false",
        json!([user("D", "+15550004444", None)]),
    )
    .await;
    assert_eq!(r.status, 200);
    let r = post_users(
        &s,
        "?sendActivation=true",
        json!([user("E", "+15550005555", None)]),
    )
    .await;
    let e = r.body["data"]["results"][0]["userId"].as_u64().unwrap();
    for bad in ["yes", "1", "TRUE", ""] {
        let r = post_users(
            &s,
            &format!("?sendActivation={bad}"),
            json!([user("F", "+15550006666", None)]),
        )
        .await;
        assert_eq!(r.status, 422, "{bad}");
        assert_eq!(
            r.body["detail"][0]["loc"],
            json!(["query", "sendActivation"])
        );
    }
    // A refused request with true sends nothing.
    let r = post_users(
        &s,
        "?sendActivation=true",
        json!([user("G", "+15550007777", Some("bad"))]),
    )
    .await;
    assert_eq!(r.status, 422);
    assert_eq!(s.users().len(), 7);
    assert_eq!(s.activations(), [b, c, e]);
    let r = get(&s, "/_sim/activations").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, json!({"userIds": [b, c, e]}));
}

#[tokio::test]
async fn smart_groups_follow_dropdown_values() {
    let s = sim();
    let r = get(&s, "/users/v1/smart-groups").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["requestId"].as_str().unwrap().len(), 36);
    let groups: Vec<(u64, &str)> = r.body["data"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["id"].as_u64().unwrap(), g["name"].as_str().unwrap()))
        .collect();
    assert_eq!(
        groups,
        [
            (WAREHOUSE_TEAM, "Warehouse team"),
            (TEXAS, "Texas"),
            (RETAIL_TEAM, "Retail team"),
            (2_359_157, "Office"),
        ]
    );
    assert_eq!(r.body["data"]["groups"][0]["numberOfUsers"], 0);

    let r = post_users(
        &s,
        "",
        json!([user_with(
            "Hire",
            "+15550001111",
            json!([
                {"customFieldId": DEPARTMENT, "value": [{"id": 2}]},
                {"customFieldId": LOCATION, "value": [{"id": 1}]},
            ])
        )]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let created = &r.body["data"]["results"][0];
    assert_eq!(created["smartGroupsIds"], json!([WAREHOUSE_TEAM, TEXAS]));
    let id = created["userId"].as_u64().unwrap();
    assert_eq!(s.smart_groups_of(id), ["Warehouse team", "Texas"]);
    let r = get(&s, "/users/v1/smart-groups?name=Texas").await;
    assert_eq!(
        r.body["data"]["groups"],
        json!([{"id": TEXAS, "name": "Texas", "groupSegmentId": 1, "numberOfUsers": 1}])
    );

    // Moving department moves the group.
    let r = put_users(
        &s,
        "?editUsersByPhone=false",
        json!([{"userId": id, "customFields": [{"customFieldId": DEPARTMENT, "value": [{"id": 3}]}]}]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["data"]["results"][0]["smartGroupsIds"],
        json!([TEXAS, RETAIL_TEAM])
    );
    assert_eq!(s.smart_groups_of(id), ["Texas", "Retail team"]);
    let r = get(&s, &format!("/users/v1/users?userIds={id}")).await;
    assert_eq!(
        r.body["data"]["users"][0]["smartGroupsIds"],
        json!([TEXAS, RETAIL_TEAM])
    );

    // includeSmartGroupIds=false leaves them out of the PUT answer only.
    let r = put_users(
        &s,
        "?includeSmartGroupIds=false",
        json!([{"userId": id, "customFields": [{"customFieldId": LOCATION, "value": null}]}]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["data"]["results"][0].get("smartGroupsIds").is_none());
    assert_eq!(s.smart_groups_of(id), ["Retail team"]);
    let r = put_users(
        &s,
        "?includeSmartGroupIds=true",
        json!([{"userId": id, "customFields": [{"customFieldId": DEPARTMENT, "value": [{"id": 1}]}]}]),
    )
    .await;
    assert_eq!(
        r.body["data"]["results"][0]["smartGroupsIds"],
        json!([WAREHOUSE_TEAM])
    );
    for q in ["includeSmartGroupIds=no", "editUsersByPhone=2"] {
        let r = put_users(&s, &format!("?{q}"), json!([{"userId": id}])).await;
        assert_eq!(r.status, 422, "{q}");
        assert_eq!(r.body["detail"][0]["loc"][0], "query");
    }

    // Users without dropdown values are in no group; the inspection route shows it all.
    assert!(s.smart_groups_of(GRACE).is_empty());
    assert!(s.smart_groups_of(12345).is_empty());
    let r = get(&s, "/_sim/users").await;
    let users = r.body.as_array().unwrap();
    assert_eq!(users[0]["smartGroupsIds"], json!([]));
    assert_eq!(users[2]["smartGroupsIds"], json!([WAREHOUSE_TEAM]));
    assert_eq!(
        users[2]["customFields"],
        json!([{"customFieldId": DEPARTMENT, "value": [{"id": 1, "value": "Warehouse"}],
                "type": "dropdown", "name": "Department"}])
    );
}

#[tokio::test]
async fn the_account_can_change_under_the_service() {
    let s = sim();
    let security = s.add_dropdown_option("Department", "Security");
    assert_eq!(security, 9);
    let r = get(&s, "/users/v1/custom-fields?customFieldNames=Department").await;
    assert_eq!(
        r.body["data"]["customFields"][0]["dropdownOptions"][8],
        json!({"id": 9, "value": "Security", "isDisabled": false, "isDeleted": false})
    );
    let id = create_with(
        &s,
        "+15550001111",
        json!([
            {"customFieldId": DEPARTMENT, "value": [{"id": security}]},
            {"customFieldId": TITLE, "value": "Guard"},
        ]),
    )
    .await;
    assert_eq!(
        s.custom_field_value(id, "Department"),
        Some(json!([{"id": 9, "value": "Security"}]))
    );
    assert!(s.smart_groups_of(id).is_empty());
    assert_eq!(s.add_dropdown_option("Skills", "Welding"), 4);
    assert_eq!(s.custom_fields().len(), 10);

    // The department field goes away: its values with it, and writing it is refused.
    let other = create_with(
        &s,
        "+15550002222",
        json!([{"customFieldId": DEPARTMENT, "value": [{"id": 1}]}]),
    )
    .await;
    assert_eq!(s.smart_groups_of(other), ["Warehouse team"]);
    s.remove_custom_field("Department");
    s.remove_custom_field("No such field");
    assert_eq!(s.custom_field_value(id, "Department"), None);
    assert_eq!(s.custom_field_value(id, "Title"), Some(json!("Guard")));
    assert!(s.smart_groups_of(other).is_empty());
    let r = get(&s, "/users/v1/custom-fields?limit=500").await;
    assert!(!field_ids(&r).contains(&DEPARTMENT));
    assert_eq!(field_ids(&r).len(), 9);
    let r = put_users(
        &s,
        "",
        json!([{"userId": id, "customFields": [{"customFieldId": DEPARTMENT, "value": [{"id": 1}]}]}]),
    )
    .await;
    assert_eq!(r.status, 422);
    assert_eq!(
        r.body["detail"][0]["loc"],
        json!(["body", 0, "customFields", 0, "customFieldId"])
    );
}

#[tokio::test]
async fn unseeded_simulator_has_no_custom_fields_or_groups() {
    let s = Simulator::new(SimConfig {
        seed: false,
        ..SimConfig::default()
    });
    let r = get(&s, "/users/v1/custom-fields").await;
    assert_eq!(r.body["data"]["customFields"], json!([]));
    let r = get(&s, "/users/v1/smart-groups").await;
    assert_eq!(r.body["data"]["groups"], json!([]));
}

#[tokio::test]
async fn the_notification_receiver_records_and_can_be_down() {
    let s = sim();
    let r = call(
        &s,
        Method::PUT,
        "/_sim/notifications/outage",
        Some(json!({"failNext": 2})),
    )
    .await;
    assert_eq!(r.status, 204);
    let mut statuses = Vec::new();
    for i in 0..3 {
        let r = call(
            &s,
            Method::POST,
            "/_sim/notifications",
            Some(json!({"type": "hire.delivered", "n": i})),
        )
        .await;
        statuses.push(r.status);
    }
    assert_eq!(statuses, [503, 503, 200]);
    let seen = s.notifications();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[2].status, 200);
    assert!(seen[2].body.contains("hire.delivered"));
    let r = get(&s, "/_sim/notifications").await;
    assert_eq!(r.body["notifications"].as_array().unwrap().len(), 3);
}
