//! RFC 9457 problem details: every error hirebridge answers, including axum's own rejections
//! and the status codes tower layers produce, is `application/problem+json`.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::domain::FieldError;
use crate::sources::Rejection;
use crate::sources::signing::AuthError;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// A problem answer. `kind` becomes the `type` URI (`urn:hirebridge:problem:<kind>`).
/// Boxed: it travels in `Result::Err` on every handler path.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct Problem(Box<ProblemBody>);

#[derive(Debug, Clone, Serialize)]
pub struct ProblemBody {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Extra members (e.g. the `event_id` a conflicting key belongs to).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub extra: Option<serde_json::Map<String, serde_json::Value>>,
}

impl Problem {
    pub fn new(status: StatusCode, kind: &str, detail: impl Into<String>) -> Self {
        Self(Box::new(ProblemBody {
            type_uri: format!("urn:hirebridge:problem:{kind}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
            extra: None,
        }))
    }

    pub fn body(&self) -> &ProblemBody {
        &self.0
    }

    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.0.errors = errors;
        self
    }

    pub fn with(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.0
            .extra
            .get_or_insert_with(serde_json::Map::new)
            .insert(key.to_owned(), value.into());
        self
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", detail)
    }

    pub fn bad_request(kind: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, kind, detail)
    }

    pub fn unprocessable(detail: impl Into<String>, errors: Vec<FieldError>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-event", detail).with_errors(errors)
    }

    /// A server-side failure: logged in full, answered opaquely.
    pub fn internal(err: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %err, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "an internal error occurred; it has been logged",
        )
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail)
    }

    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut res = (status, body).into_response();
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        res
    }
}

impl From<crate::store::StoreError> for Problem {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::Closed => {
                Problem::unavailable("the service is shutting down")
            }
            ref unavailable if unavailable.is_unavailable() => {
                tracing::error!(error = %e, "database unavailable");
                Problem::unavailable("the database is unavailable; retry later")
            }
            other => Problem::internal(&other),
        }
    }
}

/// Check that a body is declared as JSON (`application/json` or `+json`): 415 otherwise.
pub fn require_json(headers: &axum::http::HeaderMap) -> Result<(), Problem> {
    crate::sources::require_json(headers).map_err(|m| {
        Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            m,
        )
    })
}

/// Parse bytes as JSON: 400 with the line and column of a syntax error.
pub fn parse_json(body: &[u8]) -> Result<serde_json::Value, Problem> {
    crate::sources::parse_json(body).map_err(|m| Problem::bad_request("malformed-json", m))
}

impl From<AuthError> for Problem {
    /// 401 for a credential problem, 503 while the keys cannot be fetched; the same answer on
    /// every route.
    fn from(e: AuthError) -> Self {
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNAUTHORIZED);
        let kind = if status == StatusCode::UNAUTHORIZED {
            "unauthorized"
        } else {
            "unavailable"
        };
        Problem::new(status, kind, e.to_string()).with("reason", e.reason())
    }
}

impl From<Rejection> for Problem {
    fn from(r: Rejection) -> Self {
        let detail = r.to_string();
        match r {
            Rejection::Auth(e) => Problem::from(e),
            Rejection::UnsupportedMediaType(m) => Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                m,
            ),
            Rejection::MalformedJson(m) => Problem::bad_request("malformed-json", m),
            Rejection::Malformed(m) => Problem::bad_request("malformed-event", m),
            Rejection::InvalidHeaders(errors) => {
                Problem::new(StatusCode::BAD_REQUEST, "invalid-header", detail).with_errors(errors)
            }
            Rejection::Unmappable(errors) => Problem::unprocessable(detail, errors),
            Rejection::Conflict { event_id } => {
                Problem::new(StatusCode::CONFLICT, "dedupe-key-conflict", detail)
                    .with("event_id", event_id)
            }
        }
    }
}

/// Turn any error answer that is not yet a problem (unknown route, wrong method, body too
/// large, timeout, panic) into one, keeping its status.
pub async fn ensure_problem(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    // Handlers answer JSON (problems, or readiness's own 503 body); only bodies from axum's
    // defaults and tower layers (plain text or empty) are rewritten.
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.to_str().is_ok_and(|v| v.contains("json")));
    if is_json {
        return res;
    }
    let (kind, detail) = match status {
        StatusCode::NOT_FOUND => ("not-found", "no such route".to_owned()),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method-not-allowed",
            "this route does not accept that method".to_owned(),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            "body-too-large",
            "the body is larger than the 1 MiB limit".to_owned(),
        ),
        StatusCode::REQUEST_TIMEOUT | StatusCode::SERVICE_UNAVAILABLE => (
            "timeout",
            "the request took too long and was abandoned; retry later".to_owned(),
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported-media-type",
            "expected Content-Type: application/json".to_owned(),
        ),
        s if s.is_server_error() => ("internal", "an internal error occurred".to_owned()),
        _ => {
            let (parts, body) = res.into_parts();
            let text = axum::body::to_bytes(body, 64 * 1024)
                .await
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            let mut p = Problem::new(status, "bad-request", text).into_response();
            copy_request_id(&parts.headers, &mut p);
            return p;
        }
    };
    let headers = res.headers().clone();
    let mut p = Problem::new(status, kind, detail).into_response();
    copy_request_id(&headers, &mut p);
    p
}

fn copy_request_id(from: &axum::http::HeaderMap, to: &mut Response<Body>) {
    if let Some(v) = from.get("x-request-id") {
        to.headers_mut().insert("x-request-id", v.clone());
    }
}
