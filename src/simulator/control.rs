//! The HTTP front: rate limit, auth, fault injection and the request log around the endpoints,
//! plus the `/_sim` control routes.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::api;
use super::model::{Fault, FaultKind, LoggedRequest, PackProgress};
use super::reply::{Reply, Req};
use super::sim::Simulator;
use super::state::RateHeaders;

/// Largest request body read (a 500-id pack POST is a few kB).
const MAX_BODY: usize = 4 * 1024 * 1024;

/// Serving the simulator.
impl Simulator {
    /// The router: the Connecteam API plus the `/_sim` control routes.
    pub fn router(&self) -> axum::Router {
        router(self.clone())
    }

    /// Serves on `listener` in a background task until the process ends or [`Self::shutdown`].
    pub async fn spawn(&self, listener: tokio::net::TcpListener) -> SocketAddr {
        let addr = listener
            .local_addr()
            .expect("a bound listener has a local address");
        let token = self.shared.shutdown.clone();
        let sim = self.clone();
        tokio::spawn(async move {
            if let Err(e) = sim.serve(listener, token.cancelled_owned()).await {
                tracing::error!(error = %e, "connecteam simulator stopped");
            }
        });
        addr
    }

    /// Serves on `listener` until `shutdown` completes (or [`Self::shutdown`] is called).
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let token = self.shared.shutdown.clone();
        let router = self.router();
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                tokio::select! {
                    _ = shutdown => {}
                    _ = token.cancelled() => {}
                }
            })
            .await
    }
}

pub(crate) fn router(sim: Simulator) -> Router {
    Router::new()
        .route(
            "/_sim/requests",
            get(sim_requests).delete(sim_clear_requests),
        )
        .route("/_sim/users", get(sim_users).post(sim_add_user))
        .route("/_sim/faults", post(sim_add_fault).delete(sim_clear_faults))
        .route("/_sim/packs/{id}/assignments", get(sim_pack_assignments))
        .route(
            "/_sim/packs/{id}/assignments/{user}",
            put(sim_set_progress).delete(sim_remove_assignment),
        )
        .route("/_sim/policy-assignments", get(sim_policy_assignments))
        .route("/_sim/activations", get(sim_activations))
        .route(
            "/_sim/notifications",
            get(sim_notifications).post(sim_receive_notification),
        )
        .route("/_sim/notifications/outage", put(sim_notification_outage))
        .route("/_sim/rate-limit", put(sim_rate_limit))
        .fallback(dispatch)
        .with_state(sim)
}

/// A response whose body fails at once: hyper aborts the connection, so the caller sees a
/// connection error instead of an answer.
fn dropped() -> Response {
    let stream = futures_util::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "connection dropped by the connecteam simulator",
        ))
    });
    Response::new(Body::from_stream(stream))
}

fn with_rate_headers(mut resp: Response, rl: &RateHeaders) -> Response {
    let h = resp.headers_mut();
    let mut set = |name: &'static str, v: u64| {
        h.insert(name, HeaderValue::from(v));
    };
    set("x-ratelimit-minute-limit", rl.minute_limit.into());
    set("x-ratelimit-minute-remaining", rl.minute_remaining.into());
    set("x-ratelimit-minute-reset", rl.minute_reset);
    set("x-ratelimit-day-limit", rl.day_limit.into());
    set("x-ratelimit-day-remaining", rl.day_remaining.into());
    set("x-ratelimit-day-reset", rl.day_reset);
    set("x-sim-ratelimit-minute-reset-ms", rl.minute_reset_ms);
    resp
}

fn reply_response(r: Reply, rl: &RateHeaders) -> Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    with_rate_headers((status, Json(r.body)).into_response(), rl)
}

fn fault_name(k: &FaultKind) -> String {
    match k {
        FaultKind::Status(s, _) => format!("status {s}"),
        FaultKind::Drop => "drop".into(),
        FaultKind::ApplyThenDrop => "apply_then_drop".into(),
        FaultKind::ApplyThenStatus(s) => format!("apply_then_status {s}"),
        FaultKind::Delay(d) => format!("delay {}ms", d.as_millis()),
        FaultKind::ThrottleBody => "throttle_body".into(),
    }
}

async fn dispatch(State(sim): State<Simulator>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    if path.starts_with("/_sim") {
        return (StatusCode::NOT_FOUND, Json(json!({"detail": "Not Found"}))).into_response();
    }
    let arrived = std::time::Instant::now();
    let raw = axum::body::to_bytes(body, MAX_BODY)
        .await
        .map(|b| b.to_vec())
        .unwrap_or_default();
    let json = if raw.is_empty() {
        None
    } else {
        serde_json::from_slice::<Value>(&raw).ok()
    };
    let logged_body = match (&json, raw.is_empty()) {
        (Some(v), _) => Some(v.clone()),
        (None, true) => None,
        (None, false) => Some(Value::String(String::from_utf8_lossy(&raw).into_owned())),
    };
    let req = Req {
        method: parts.method.clone(),
        path: path.clone(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        headers: parts.headers,
        json,
        raw,
    };
    let mut entry = LoggedRequest {
        method: req.method.clone(),
        path,
        query: req.query.clone(),
        body: logged_body,
        idempotency_key: req
            .headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        status: 0,
        dropped: false,
        fault: None,
        at_ms: arrived.duration_since(sim.shared.started).as_millis() as u64,
        at: arrived,
    };

    let (allowed, rl) = {
        let mut inner = sim.lock();
        let (allowed, rl) = inner
            .rate
            .check(sim.shared.started.elapsed(), sim.shared.started_epoch);
        if !allowed {
            inner.count_429 += 1;
        }
        (allowed, rl)
    };
    let finish = |sim: &Simulator, mut entry: LoggedRequest, status: u16, dropped: bool| {
        entry.status = status;
        entry.dropped = dropped;
        tracing::debug!(
            method = %entry.method,
            path = %entry.path,
            status,
            dropped,
            fault = entry.fault.as_deref().unwrap_or(""),
            "connecteam simulator request"
        );
        sim.lock().log.push(entry);
    };
    if !allowed {
        finish(&sim, entry, 429, false);
        return reply_response(Reply::detail(429, "Too many requests"), &rl);
    }
    if let Err(r) = api::authorize(&sim, &req) {
        finish(&sim, entry, r.status, false);
        return reply_response(r, &rl);
    }
    let fault = sim.lock().take_fault(&req.method, &req.path);
    let Some(fault) = fault else {
        let r = api::handle(&sim, &req);
        finish(&sim, entry, r.status, false);
        return reply_response(r, &rl);
    };
    entry.fault = Some(fault_name(&fault.kind));
    match fault.kind {
        FaultKind::Status(status, body) => {
            finish(&sim, entry, status, false);
            reply_response(Reply { status, body }, &rl)
        }
        FaultKind::Drop => {
            finish(&sim, entry, 0, true);
            dropped()
        }
        FaultKind::ThrottleBody => {
            finish(&sim, entry, 200, false);
            reply_response(Reply::detail(200, "Too many requests"), &rl)
        }
        FaultKind::ApplyThenDrop => {
            let r = api::handle(&sim, &req);
            finish(&sim, entry, r.status, true);
            dropped()
        }
        FaultKind::ApplyThenStatus(status) => {
            let r = api::handle(&sim, &req);
            finish(&sim, entry, r.status, false);
            let reason = StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("Server error");
            reply_response(Reply::detail(status, reason), &rl)
        }
        FaultKind::Delay(d) => {
            // Handled in its own task so that the write happens even if the caller gives up.
            let sim2 = sim.clone();
            let task = tokio::spawn(async move {
                tokio::time::sleep(d).await;
                let r = api::handle(&sim2, &req);
                finish(&sim2, entry, r.status, false);
                r
            });
            match task.await {
                Ok(r) => reply_response(r, &rl),
                Err(_) => reply_response(Reply::detail(500, "Internal Server Error"), &rl),
            }
        }
    }
}

async fn sim_requests(State(sim): State<Simulator>) -> Json<Vec<LoggedRequest>> {
    Json(sim.requests())
}

async fn sim_clear_requests(State(sim): State<Simulator>) -> StatusCode {
    sim.clear_requests();
    StatusCode::NO_CONTENT
}

/// Every user as the API shows it (with `customFields` and `smartGroupsIds`), archived
/// included.
async fn sim_users(State(sim): State<Simulator>) -> Json<Vec<Value>> {
    let inner = sim.lock();
    Json(
        inner
            .users
            .values()
            .map(|u| inner.user_json(u, true))
            .collect(),
    )
}

async fn sim_activations(State(sim): State<Simulator>) -> Json<Value> {
    Json(json!({ "userIds": sim.activations() }))
}

/// A notification receiver, so a sandbox's notifications have somewhere to go and be seen.
async fn sim_receive_notification(
    State(sim): State<Simulator>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    match sim.receive_notification(&headers, &body) {
        200 => StatusCode::OK.into_response(),
        _ => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

async fn sim_notifications(State(sim): State<Simulator>) -> Json<Value> {
    Json(json!({ "notifications": sim.notifications() }))
}

/// `PUT /_sim/notifications/outage` `{"failNext": n}`: the next n notifications answer 503.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OutageSpec {
    fail_next: u32,
}

async fn sim_notification_outage(State(sim): State<Simulator>, body: Bytes) -> Response {
    match parse::<OutageSpec>(&body) {
        Ok(o) => {
            sim.notification_outage(o.fail_next);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(r) => *r,
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewUser {
    first_name: String,
    last_name: String,
    phone_number: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    is_archived: bool,
}

/// Parses a `/_sim` JSON body; a bad one is 422 `{"detail": "…"}`.
fn parse<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, Box<Response>> {
    serde_json::from_slice(body).map_err(|e| {
        Box::new(
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({ "detail": e.to_string() })),
            )
                .into_response(),
        )
    })
}

async fn sim_add_user(State(sim): State<Simulator>, body: Bytes) -> Response {
    let u: NewUser = match parse(&body) {
        Ok(u) => u,
        Err(r) => return *r,
    };
    let id = sim.add_user(
        &u.first_name,
        &u.last_name,
        &u.phone_number,
        u.email.as_deref(),
        u.is_archived,
    );
    Json(json!({ "userId": id })).into_response()
}

/// `POST /_sim/faults` body, e.g.
/// `{"method":"POST","pathPrefix":"/users/v1/users","times":1,"kind":{"type":"apply_then_drop"}}`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FaultSpec {
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    path_prefix: String,
    #[serde(default = "one")]
    times: usize,
    kind: FaultKindSpec,
}

fn one() -> usize {
    1
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum FaultKindSpec {
    Status {
        status: u16,
        #[serde(default)]
        body: Value,
    },
    Drop,
    ApplyThenDrop,
    ApplyThenStatus {
        status: u16,
    },
    Delay {
        ms: u64,
    },
    ThrottleBody,
}

async fn sim_add_fault(State(sim): State<Simulator>, body: Bytes) -> Response {
    let f: FaultSpec = match parse(&body) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let method = match f.method.as_deref() {
        None | Some("") | Some("*") => None,
        Some(m) => match Method::from_bytes(m.to_ascii_uppercase().as_bytes()) {
            Ok(m) => Some(m),
            Err(_) => {
                return (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Json(json!({"detail": "invalid method"})),
                )
                    .into_response();
            }
        },
    };
    let kind = match f.kind {
        FaultKindSpec::Status { status, body } => FaultKind::Status(status, body),
        FaultKindSpec::Drop => FaultKind::Drop,
        FaultKindSpec::ApplyThenDrop => FaultKind::ApplyThenDrop,
        FaultKindSpec::ApplyThenStatus { status } => FaultKind::ApplyThenStatus(status),
        FaultKindSpec::Delay { ms } => FaultKind::Delay(Duration::from_millis(ms)),
        FaultKindSpec::ThrottleBody => FaultKind::ThrottleBody,
    };
    sim.inject(Fault {
        method,
        path_prefix: f.path_prefix,
        times: f.times,
        kind,
    });
    StatusCode::NO_CONTENT.into_response()
}

async fn sim_clear_faults(State(sim): State<Simulator>) -> StatusCode {
    sim.clear_faults();
    StatusCode::NO_CONTENT
}

async fn sim_pack_assignments(State(sim): State<Simulator>, Path(id): Path<u64>) -> Response {
    if !sim.lock().packs.contains_key(&id) {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"detail": "Onboarding pack not found"})),
        )
            .into_response();
    }
    Json(json!({ "packId": id, "userIds": sim.pack_assignments(id) })).into_response()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PolicyAssignmentView {
    policy_id: String,
    user_id: u64,
    balance: Option<f64>,
    unit: Option<String>,
}

async fn sim_policy_assignments(State(sim): State<Simulator>) -> Json<Vec<PolicyAssignmentView>> {
    Json(
        sim.policy_assignments()
            .into_iter()
            .map(|(policy_id, user_id, balance, unit)| PolicyAssignmentView {
                policy_id,
                user_id,
                balance,
                unit,
            })
            .collect(),
    )
}

/// `PUT /_sim/packs/{id}/assignments/{user}`: `{"status": "in_progress"|"completed",
/// "isWaitingApproval": bool}`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProgressSpec {
    status: PackProgress,
    #[serde(default)]
    is_waiting_approval: bool,
}

async fn sim_set_progress(
    State(sim): State<Simulator>,
    Path((pack, user)): Path<(u64, u64)>,
    body: Bytes,
) -> Response {
    match parse::<ProgressSpec>(&body) {
        Ok(p) if sim.set_pack_progress(pack, user, p.status, p.is_waiting_approval) => {
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(_) => no_assignment(),
        Err(r) => *r,
    }
}

async fn sim_remove_assignment(
    State(sim): State<Simulator>,
    Path((pack, user)): Path<(u64, u64)>,
) -> Response {
    if sim.remove_pack_assignment(pack, user) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        no_assignment()
    }
}

fn no_assignment() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"detail": "no such assignment"})),
    )
        .into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RateLimitSpec {
    per_minute: u32,
}

async fn sim_rate_limit(State(sim): State<Simulator>, body: Bytes) -> Response {
    match parse::<RateLimitSpec>(&body) {
        Ok(r) => {
            sim.set_rate_limit(r.per_minute);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(r) => *r,
    }
}
