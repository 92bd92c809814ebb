//! `openapi.yaml` and the service agree: the same routes, and every answer (status, media type,
//! body) is one the document describes.

use std::collections::BTreeSet;

#[test]
fn openapi_and_router_agree() {
    let doc = spec_json();
    let version = doc["openapi"].as_str().expect("openapi version");
    assert!(version.starts_with("3.1"), "OpenAPI 3.1");
    let mut documented = BTreeSet::new();
    let paths = doc["paths"].as_object().expect("paths");
    for (path, item) in paths {
        for (method, op) in item.as_object().expect("path item") {
            if ["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                let responses = op["responses"].as_object();
                assert!(
                    responses.is_some_and(|r| !r.is_empty()),
                    "{method} {path} documents its responses"
                );
                documented.insert((method.clone(), path.clone()));
            }
        }
    }
    let served: BTreeSet<(String, String)> = hirebridge::http::route_table()
        .into_iter()
        .map(|(m, p)| (m.to_owned(), p.to_owned()))
        .collect();
    let missing: Vec<_> = served.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&served).collect();
    assert!(
        missing.is_empty(),
        "served but not in openapi.yaml: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "in openapi.yaml but not served: {extra:?}"
    );
}

/// `openapi.yaml` as JSON, so its schemas can be used as JSON Schema (OpenAPI 3.1 schemas are
/// JSON Schema 2020-12).
fn spec_json() -> serde_json::Value {
    fn convert(y: &yaml_rust2::Yaml) -> serde_json::Value {
        use serde_json::Value;
        use yaml_rust2::Yaml;
        match y {
            Yaml::Hash(h) => Value::Object(
                h.iter()
                    .map(|(k, v)| {
                        let key = match k {
                            Yaml::String(s) => s.clone(),
                            Yaml::Integer(i) => i.to_string(),
                            other => panic!("unexpected key {other:?}"),
                        };
                        (key, convert(v))
                    })
                    .collect(),
            ),
            Yaml::Array(a) => Value::Array(a.iter().map(convert).collect()),
            Yaml::String(s) => Value::String(s.clone()),
            Yaml::Integer(i) => Value::from(*i),
            Yaml::Real(r) => Value::from(r.parse::<f64>().expect("a number")),
            Yaml::Boolean(b) => Value::Bool(*b),
            Yaml::Null => Value::Null,
            other => panic!("unexpected YAML node {other:?}"),
        }
    }
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml")).unwrap();
    let docs = yaml_rust2::YamlLoader::load_from_str(&text).expect("openapi.yaml parses");
    convert(&docs[0])
}

/// A JSON pointer segment (RFC 6901).
fn esc(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// Checks live answers against what `openapi.yaml` says the operation answers.
struct Spec {
    doc: serde_json::Value,
}

impl Spec {
    fn load() -> Spec {
        Spec { doc: spec_json() }
    }

    /// The pointer to the response object of `method path status`, through a `$ref`.
    fn response_pointer(&self, method: &str, path: &str, status: u16) -> String {
        let op = format!("/paths/{}/{method}", esc(path));
        assert!(
            self.doc.pointer(&op).is_some(),
            "{method} {path} is not in openapi.yaml"
        );
        let mut ptr = format!("{op}/responses/{status}");
        let resp = self.doc.pointer(&ptr).unwrap_or_else(|| {
            panic!("{method} {path} answered {status}, which openapi.yaml does not document")
        });
        if let Some(r) = resp.get("$ref").and_then(|r| r.as_str()) {
            ptr = r.strip_prefix('#').expect("a local $ref").to_owned();
        }
        ptr
    }

    /// Assert that `resp` answered `expected`, and that it is documented for `method path`: its
    /// status, its media type, its body (validated against the documented schema), and the
    /// `x-request-id` every answer carries. Returns the body (null when it is not JSON).
    async fn check(
        &self,
        method: &str,
        path: &str,
        expected: u16,
        resp: reqwest::Response,
    ) -> serde_json::Value {
        let status = resp.status().as_u16();
        assert_eq!(status, expected, "{method} {path}");
        let what = format!("{method} {path} → {status}");
        let ptr = self.response_pointer(method, path, status);
        assert!(
            resp.headers().contains_key("x-request-id"),
            "{what}: no x-request-id"
        );
        let media = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap()
            .trim()
            .to_owned();
        let content = self
            .doc
            .pointer(&format!("{ptr}/content"))
            .and_then(|c| c.as_object())
            .unwrap_or_else(|| panic!("{what}: openapi.yaml documents no content"));
        assert!(
            content.contains_key(&media),
            "{what}: answered {media:?}, openapi.yaml documents {:?}",
            content.keys().collect::<Vec<_>>()
        );
        let bytes = resp.bytes().await.unwrap();
        if !media.ends_with("json") {
            return serde_json::Value::Null;
        }
        let body: serde_json::Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{what}: body is not JSON ({e})"));
        let schema_ptr = format!("{ptr}/content/{}/schema", esc(&media));
        assert!(
            self.doc.pointer(&schema_ptr).is_some(),
            "{what}: {media} has no schema"
        );
        // The whole document is the schema resource, so its `$ref`s resolve; the root `$ref`
        // selects this response's schema (other top-level keys are not JSON Schema keywords).
        let mut root = self.doc.clone();
        // (As a URI fragment, the pointer's braces are percent-encoded.)
        let fragment = schema_ptr.replace('{', "%7B").replace('}', "%7D");
        root["$ref"] = serde_json::Value::String(format!("#{fragment}"));
        let validator = jsonschema::validator_for(&root)
            .unwrap_or_else(|e| panic!("{what}: the documented schema does not compile: {e}"));
        let errors: Vec<String> = validator
            .iter_errors(&body)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{what}: the body does not match openapi.yaml:\n{}\nbody: {body:#}",
            errors.join("\n")
        );
        body
    }
}

crate::both_backends!(answers_match_openapi);

/// Every route, driven to the answers it gives in use, and each answer checked against the
/// document: a status it does not list, another media type, or a body its schema refuses fails.
async fn answers_match_openapi(b: crate::helpers::Backend) {
    use crate::helpers::*;
    use serde_json::json;

    let spec = Spec::load();
    // Night auditors get a pack the account does not have: their events end `failed`, with a
    // dead-lettered operation, so the document's failure shapes are exercised too.
    let db = TestDb::new(b).await;
    std::fs::write(
        db.rules_path(),
        "version: 1\nrules:\n  - name: everyone\n    assign:\n      packs: [102]\n      policies:\n        - { id: pol-sick-001, balance: 40, unit: hours }\n  - name: night\n    when: { job.title: Night Auditor }\n    assign: { packs: [999] }\n",
    )
    .unwrap();
    let app = TestApp::start(db, |_| {}).await;
    let hook = "/v1/webhooks/{source}";
    let ada = hire(&unique_id("evt"));

    // Webhooks.
    let r = app.post_open(&ada, &[]).await;
    let accepted = spec.check("post", hook, 202, r).await;
    let event_id = accepted["event_id"].as_str().unwrap().to_owned();
    spec.check("post", hook, 200, app.post_open(&ada, &[]).await)
        .await;
    let ping = json!({"event_id": unique_id("ping"), "type": "ping"});
    spec.check("post", hook, 200, app.post_open(&ping, &[]).await)
        .await;
    let mut changed = ada.clone();
    changed["job"]["title"] = json!("Something else");
    let r = app.post_open(&changed, &[]).await;
    spec.check("post", hook, 409, r).await;
    let r = app
        .post_open(
            &json!({"event_id": unique_id("bad"), "type": "hire.created"}),
            &[],
        )
        .await;
    spec.check("post", hook, 422, r).await;
    let json_ct = vec![("content-type", "application/json".to_owned())];
    let r = app.post_raw("open", b"{not json", &json_ct).await;
    spec.check("post", hook, 400, r).await;
    let r = app
        .post_open(&ada, &[("idempotency-key", "has space".to_owned())])
        .await;
    spec.check("post", hook, 400, r).await;
    let text_ct = vec![("content-type", "text/plain".to_owned())];
    let r = app.post_raw("open", b"{}", &text_ct).await;
    spec.check("post", hook, 415, r).await;
    let big = vec![b' '; 1024 * 1024 + 1];
    let r = app.post_raw("open", &big, &json_ct).await;
    spec.check("post", hook, 413, r).await;
    let body = serde_json::to_vec(&ada).unwrap();
    let r = app.post_raw("hmac", &body, &json_ct).await;
    spec.check("post", hook, 401, r).await;
    let r = app.post_raw("nobody", &body, &json_ct).await;
    spec.check("post", hook, 404, r).await;

    // Events: one as soon as it is stored, done, and failed with a dead-lettered operation.
    let r = app.admin_get(&format!("/v1/events/{event_id}")).await;
    spec.check("get", "/v1/events/{event_id}", 200, r).await;
    app.wait_status(&event_id, "done").await;
    let r = app.admin_get(&format!("/v1/events/{event_id}")).await;
    spec.check("get", "/v1/events/{event_id}", 200, r).await;
    let mut night = hire(&unique_id("night"));
    night["job"]["title"] = json!("Night Auditor");
    let r = app.post_open(&night, &[]).await;
    let failed_id = spec.check("post", hook, 202, r).await["event_id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.wait_status(&failed_id, "failed").await;
    let r = app.admin_get(&format!("/v1/events/{failed_id}")).await;
    let failed = spec.check("get", "/v1/events/{event_id}", 200, r).await;
    assert!(
        failed["operations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["status"] == "dead" && o["last_error"].is_string()),
        "{failed:#}"
    );
    let r = app.admin_get("/v1/events?status=failed").await;
    let list = spec.check("get", "/v1/events", 200, r).await;
    assert_eq!(list["events"].as_array().unwrap().len(), 1, "{list}");
    let r = app.admin_get("/v1/events/01ARZ3NDEKTSV4RRFFQ69G5FAV").await;
    spec.check("get", "/v1/events/{event_id}", 404, r).await;
    let r = app.http.get(app.url("/v1/events")).send().await.unwrap();
    spec.check("get", "/v1/events", 401, r).await;
    let r = app.admin_get("/v1/events?limit=5").await;
    let list = spec.check("get", "/v1/events", 200, r).await;
    assert!(!list["events"].as_array().unwrap().is_empty(), "{list}");
    let r = app.admin_get("/v1/events?status=nonsense").await;
    spec.check("get", "/v1/events", 400, r).await;
    let replay = "/v1/events/{event_id}/replay";
    let r = app
        .admin_post(&format!("/v1/events/{event_id}/replay"), &json!({}))
        .await;
    spec.check("post", replay, 200, r).await;
    let r = app
        .admin_post(&format!("/v1/events/{failed_id}/replay"), &json!({}))
        .await;
    let replayed = spec.check("post", replay, 200, r).await;
    assert_ne!(replayed.to_string(), "{}", "{replayed}");
    let r = app
        .admin_post("/v1/events/01ARZ3NDEKTSV4RRFFQ69G5FAV/replay", &json!({}))
        .await;
    spec.check("post", replay, 404, r).await;

    // Rules.
    let r = app.admin_get("/v1/rules").await;
    spec.check("get", "/v1/rules", 200, r).await;
    let r = app.admin_post("/v1/rules/evaluate", &ada).await;
    spec.check("post", "/v1/rules/evaluate", 200, r).await;
    let r = app
        .admin_post("/v1/rules/evaluate", &json!({"type": "hire.created"}))
        .await;
    spec.check("post", "/v1/rules/evaluate", 422, r).await;
    for (content_type, body, status) in [
        ("application/json", "{not json", 400),
        ("text/plain", "{}", 415),
    ] {
        let r = app
            .http
            .post(app.url("/v1/rules/evaluate"))
            .bearer_auth(admin_token())
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        spec.check("post", "/v1/rules/evaluate", status, r).await;
    }

    // Operations.
    for path in ["/healthz", "/readyz", "/metrics"] {
        let r = app.http.get(app.url(path)).send().await.unwrap();
        spec.check("get", path, 200, r).await;
    }
    app.stop().await;
}
