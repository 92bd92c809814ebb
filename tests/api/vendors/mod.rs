//! Each vendor kind end to end: its documented example hire, signed as the vendor signs it,
//! posted to a running service and delivered to the simulated Connecteam; its bad inputs
//! refused. The kinds that fetch the person read from a fake vendor API.

mod ashby;
mod bamboohr;
mod greenhouse;
mod hubspot;
mod lever;
mod merge;
mod salesforce;
mod workable;

use std::time::SystemTime;

use hirebridge::config::SourceKind;
use hirebridge::simulator::VendorApi;
use hirebridge::sources::{self, Example, SignedExample};
use serde_json::Value;
use url::Url;

use crate::helpers::*;

/// A service with one source of `kind`, named after it, as the sandbox configures it (its
/// fake vendor API included), and `adjust`ed.
pub struct VendorApp {
    pub app: TestApp,
    pub api: VendorApi,
    pub kind: SourceKind,
}

pub fn example_of(kind: SourceKind) -> &'static dyn Example {
    sources::examples()
        .into_iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, e)| e)
        .expect("the kind has an example")
}

impl VendorApp {
    pub async fn start(
        backend: Backend,
        kind: SourceKind,
        adjust: impl FnOnce(&mut hirebridge::config::Config),
    ) -> VendorApp {
        let api = VendorApi::new();
        let addr = api.spawn().await.unwrap();
        let base = Url::parse(&format!("http://{addr}/{}", kind.as_str())).unwrap();
        let sandbox = example_of(kind).sandbox(&sources::sandbox_secret(kind), &base);
        for (method, path, body) in sandbox.routes {
            api.route(method, &format!("/{}{path}", kind.as_str()), body);
        }
        let config = sandbox.config;
        let app = TestApp::start(TestDb::new(backend).await, move |c| {
            c.sources.insert(kind.as_str().to_owned(), config);
            adjust(c);
        })
        .await;
        VendorApp { app, api, kind }
    }

    /// The webhook URL of the source.
    pub fn url(&self) -> Url {
        Url::parse(
            &self
                .app
                .url(&format!("/v1/webhooks/{}", self.kind.as_str())),
        )
        .unwrap()
    }

    /// The kind's example, signed with the sandbox secret now.
    pub fn example(&self) -> SignedExample {
        example_of(self.kind).example(
            &sources::sandbox_secret(self.kind),
            &self.url(),
            SystemTime::now(),
        )
    }

    /// POST a signed request as it is.
    pub async fn post(&self, s: &SignedExample) -> reqwest::Response {
        let mut headers: Vec<(&str, String)> = vec![("content-type", s.content_type.to_owned())];
        for (k, v) in &s.headers {
            headers.push((k.as_str(), v.clone()));
        }
        self.app
            .post_raw(self.kind.as_str(), &s.body, &headers)
            .await
    }

    /// The `event_id` of an answer (JSON `event_id`, or for a batch the first event's).
    pub async fn event_id_of(r: reqwest::Response) -> String {
        let v: Value = r.json().await.unwrap();
        v["event_id"]
            .as_str()
            .or_else(|| v["events"][0]["event_id"].as_str())
            .unwrap_or_else(|| panic!("no event id in {v}"))
            .to_owned()
    }

    /// With the fake API answering 503 three times (the service started with
    /// `delivery.max_attempts = 3`), post the example: it is acknowledged with `status` before
    /// any fetch, and its `fetch_person` step is dead-lettered after three attempts. The event's
    /// id, and the failed event.
    pub async fn fetch_dead_lettered(&self, status: u16) -> (String, Value) {
        self.api.fail(3, 503, None);
        let r = self.post(&self.example()).await;
        assert_eq!(r.status(), status, "acknowledged before any fetch");
        let id = Self::event_id_of(r).await;
        let ev = self.app.wait_status(&id, "failed").await;
        let op = &ev["operations"][0];
        assert_eq!(op["kind"], "fetch_person");
        assert_eq!(op["status"], "dead");
        assert_eq!(op["attempts"], 3);
        assert!(op["last_error"].as_str().unwrap().contains("503"), "{op}");
        (id, ev)
    }

    /// Wait until the event is done; return it.
    pub async fn delivered(&self, event_id: &str) -> Value {
        self.app.wait_status(event_id, "done").await
    }
}

/// What Connecteam received for a delivered hire: the user with this email exists, and the
/// example rule table's packs and policies reached them.
pub fn assert_reached_connecteam(app: &TestApp, event: &Value) {
    let user = event["connecteam_user_id"]
        .as_u64()
        .unwrap_or_else(|| panic!("no user: {event:#}"));
    let sim = app.sim();
    assert!(
        sim.users().iter().any(|u| u.user_id == user),
        "user {user} is not in Connecteam"
    );
    let packs: Vec<u64> = event["plan"]["packs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    assert!(!packs.is_empty(), "{event:#}");
    for p in packs {
        assert!(
            sim.pack_assignments(p).contains(&user),
            "pack {p} not assigned to {user}"
        );
    }
    let policies = event["plan"]["policies"].as_array().unwrap();
    for pol in policies {
        let id = pol["id"].as_str().unwrap();
        assert!(
            sim.policy_assignments()
                .iter()
                .any(|(p, u, _, _)| p == id && *u == user),
            "policy {id} not assigned to {user}"
        );
    }
}
