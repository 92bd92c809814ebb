//! The HTTP surface: webhooks in, the admin API, health and metrics, and the tower layers
//! every request passes through.

pub mod admin;
pub mod health;
pub mod problem;
pub mod query;
pub mod server;
mod state;
pub mod webhooks;

pub use state::{AppState, ConnecteamMode};

use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{MethodRouter, get, post};
use metrics_exporter_prometheus::PrometheusHandle;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// Bodies above this are refused with 413.
pub const BODY_LIMIT: usize = 1024 * 1024;
/// A request still running after this is answered 503.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The routes and, beside each, its method and path as `openapi.yaml` lists them
/// (`tests/api/openapi.rs` fails when the two disagree).
struct Routes {
    router: Router<AppState>,
    table: Vec<(&'static str, &'static str)>,
}

impl Routes {
    fn add(
        mut self,
        method: &'static str,
        path: &'static str,
        handler: MethodRouter<AppState>,
    ) -> Self {
        self.table.push((method, path));
        self.router = self.router.route(path, handler);
        self
    }
}

fn routes(serve_metrics: bool) -> Routes {
    let r = Routes {
        router: Router::new(),
        table: Vec::new(),
    }
    .add("post", "/v1/webhooks/{source}", post(webhooks::receive))
    .add("get", "/v1/events", get(admin::list_events))
    .add("get", "/v1/events/{event_id}", get(admin::get_event))
    .add("post", "/v1/events/{event_id}/replay", post(admin::replay))
    .add("get", "/v1/rules", get(admin::get_rules))
    .add("post", "/v1/rules/evaluate", post(admin::evaluate))
    .add("get", "/healthz", get(health::healthz))
    .add("get", "/readyz", get(health::readyz));
    if serve_metrics {
        r.add("get", "/metrics", get(health::metrics))
    } else {
        r
    }
}

/// Every `(method, path template)` the service answers.
pub fn route_table() -> Vec<(&'static str, &'static str)> {
    routes(true).table
}

pub fn router(state: AppState, serve_metrics: bool) -> Router {
    with_layers(
        routes(serve_metrics).router.with_state(state),
        REQUEST_TIMEOUT,
    )
}

/// The metrics-only router for `metrics_listen`.
pub fn metrics_router(handle: PrometheusHandle) -> Router {
    Router::new()
        .route("/metrics", get(health::metrics_only))
        .with_state(handle)
}

fn with_layers(app: Router, timeout: Duration) -> Router {
    let x_request_id = HeaderName::from_static("x-request-id");
    app.layer(DefaultBodyLimit::max(BODY_LIMIT)).layer(
        ServiceBuilder::new()
            .layer(middleware::from_fn(bound_request_id))
            .layer(SetRequestIdLayer::new(x_request_id.clone(), UlidRequestId))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(|req: &Request| {
                        let request_id = req
                            .headers()
                            .get("x-request-id")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("");
                        tracing::info_span!(
                            "request",
                            request_id = %request_id,
                            method = %req.method(),
                            path = %req.uri().path(),
                        )
                    })
                    .on_request(())
                    .on_response(|res: &Response, latency: Duration, _span: &tracing::Span| {
                        tracing::info!(
                            status = res.status().as_u16(),
                            latency_ms = latency.as_secs_f64() * 1000.0,
                            "request finished"
                        );
                    }),
            )
            .layer(PropagateRequestIdLayer::new(x_request_id))
            .layer(middleware::from_fn(record_metrics))
            .layer(middleware::from_fn(problem::ensure_problem))
            .layer(CatchPanicLayer::new())
            .layer(TimeoutLayer::with_status_code(
                StatusCode::SERVICE_UNAVAILABLE,
                timeout,
            )),
    )
}

/// The longest caller-sent request id kept.
pub const REQUEST_ID_MAX: usize = 128;

/// A caller's `x-request-id` is kept (and echoed, and logged) only when it is one, up to
/// [`REQUEST_ID_MAX`] of `A-Z a-z 0-9 - _ . :`; otherwise the request gets its own.
async fn bound_request_id(mut req: Request, next: Next) -> Response {
    let mut values = req.headers().get_all("x-request-id").iter();
    let usable = match (values.next(), values.next()) {
        (Some(v), None) => {
            let b = v.as_bytes();
            (1..=REQUEST_ID_MAX).contains(&b.len())
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || b"-_.:".contains(c))
        }
        (None, _) => true,
        (Some(_), Some(_)) => false,
    };
    if !usable {
        req.headers_mut().remove("x-request-id");
    }
    next.run(req).await
}

/// Request ids are ULIDs unless the caller sent one.
#[derive(Clone, Copy)]
struct UlidRequestId;

impl MakeRequestId for UlidRequestId {
    fn make_request_id<B>(&mut self, _req: &axum::http::Request<B>) -> Option<RequestId> {
        ulid::Ulid::generate()
            .to_string()
            .parse()
            .ok()
            .map(RequestId::new)
    }
}

/// The `method` label: the standard methods by name, anything else `other`, so that callers
/// cannot create series at will.
fn method_label(m: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Requests by route template (bounded cardinality) and status, and their latency.
async fn record_metrics(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = method_label(req.method());
    let started = Instant::now();
    let res = next.run(req).await;
    let status = res.status().as_u16().to_string();
    metrics::counter!("hirebridge_http_requests_total", "method" => method, "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("hirebridge_http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    res
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::routing::get;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    async fn call(
        app: Router,
        path: &str,
    ) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
        let res = app
            .oneshot(
                Request::builder()
                    .uri(path)
                    .header("x-request-id", "req-1")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        (status, headers, serde_json::from_slice(&body).unwrap())
    }

    fn app() -> Router {
        let router = Router::new()
            .route(
                "/boom",
                get(|| async {
                    panic!("a handler bug");
                    #[allow(unreachable_code)]
                    ""
                }),
            )
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            );
        with_layers(router, Duration::from_millis(50))
    }

    /// A panicking handler and a request that outlives the timeout both answer with a
    /// problem document, carrying the request id, and the service goes on serving.
    #[tokio::test]
    async fn a_panic_is_a_500_and_a_timeout_a_503_both_as_problems() {
        let (status, headers, body) = call(app(), "/boom").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(headers["content-type"], "application/problem+json");
        assert_eq!(headers["x-request-id"], "req-1");
        assert_eq!(body["status"], 500);
        assert!(
            !body.to_string().contains("a handler bug"),
            "the panic message stays in the log: {body}"
        );

        let (status, headers, body) = call(app(), "/slow").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(headers["content-type"], "application/problem+json");
        assert_eq!(body["status"], 503);
    }
}
