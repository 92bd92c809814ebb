//! A stand-in for the sending systems' APIs (BambooHR, Lever, HubSpot, Ashby, Merge) that the
//! `fetch_person` step reads: canned JSON documents by method and path, a request log, and
//! failures to inject. `serve --sandbox` runs one with each vendor's documented example
//! records; the tests run one per case.
//!
//! A route matches a request's method and path exactly (the query is ignored, but logged).
//! An unknown path answers 404 `{"error":"not found"}`. Injected failures apply to the next
//! requests in order, whatever their path.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

/// One request the fake received.
#[derive(Debug, Clone, Serialize)]
pub struct VendorRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    /// The `Authorization` header, when sent (tests check how credentials are sent).
    pub authorization: Option<String>,
    /// Merge's `X-Account-Token`, when sent.
    pub account_token: Option<String>,
    pub body: Option<Value>,
    pub status: u16,
}

#[derive(Default)]
struct Inner {
    routes: BTreeMap<(String, String), Value>,
    failures: VecDeque<(u16, Option<u64>)>,
    log: Vec<VendorRequest>,
}

/// A fake vendor API. Cheap to clone; clones share state.
#[derive(Clone, Default)]
pub struct VendorApi {
    inner: Arc<Mutex<Inner>>,
}

impl VendorApi {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Answer `method path` with `body` (200).
    pub fn route(&self, method: Method, path: &str, body: Value) -> &Self {
        self.lock()
            .routes
            .insert((method.as_str().to_owned(), path.to_owned()), body);
        self
    }

    /// Forget `method path`: it answers 404 from now on.
    pub fn remove(&self, method: Method, path: &str) {
        self.lock()
            .routes
            .remove(&(method.as_str().to_owned(), path.to_owned()));
    }

    /// The next `times` requests answer `status` (with `Retry-After: retry_after` seconds,
    /// when given) and are not served.
    pub fn fail(&self, times: usize, status: u16, retry_after: Option<u64>) {
        let mut inner = self.lock();
        for _ in 0..times {
            inner.failures.push_back((status, retry_after));
        }
    }

    pub fn clear_failures(&self) {
        self.lock().failures.clear();
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<VendorRequest> {
        self.lock().log.clone()
    }

    /// The router, for serving.
    pub fn router(&self) -> Router {
        Router::new().fallback(handle).with_state(self.clone())
    }

    /// Serve on a fresh loopback port in the background; returns its address.
    pub async fn spawn(&self) -> std::io::Result<SocketAddr> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let router = self.router();
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::error!(error = %e, "vendor API simulator stopped");
            }
        });
        Ok(addr)
    }
}

async fn handle(State(api): State<VendorApi>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes: Bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let path = parts.uri.path().to_owned();
    let mut inner = api.lock();
    let (status, retry_after, body) = match inner.failures.pop_front() {
        Some((status, retry_after)) => (status, retry_after, json!({"error": "injected failure"})),
        None => match inner
            .routes
            .get(&(parts.method.as_str().to_owned(), path.clone()))
        {
            Some(v) => (200, None, v.clone()),
            None => (404, None, json!({"error": "not found"})),
        },
    };
    inner.log.push(VendorRequest {
        method: parts.method.as_str().to_owned(),
        path,
        query: parts.uri.query().unwrap_or("").to_owned(),
        authorization: parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        account_token: parts
            .headers
            .get("x-account-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: serde_json::from_slice(&bytes).ok(),
        status,
    });
    drop(inner);
    let mut resp = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        axum::Json(body),
    )
        .into_response();
    if let Some(s) = retry_after
        && let Ok(v) = s.to_string().parse()
    {
        resp.headers_mut().insert("retry-after", v);
    }
    resp
}
