//! Requests and answers as the simulated endpoints see them, in Connecteam's shapes.

use axum::http::{HeaderMap, Method};
use serde_json::{Value, json};

/// A request as the endpoints see it.
pub(crate) struct Req {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    /// The body parsed as JSON (`None` when empty or not JSON; see `body_error`).
    pub json: Option<Value>,
    pub raw: Vec<u8>,
}

/// An answer: status and JSON body.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    pub fn ok(data: Value) -> Self {
        Self {
            status: 200,
            body: json!({ "requestId": request_id(), "data": data }),
        }
    }

    pub fn detail(status: u16, detail: impl Into<Value>) -> Self {
        Self {
            status,
            body: json!({ "detail": detail.into() }),
        }
    }

    /// 422 in the `{"detail":[{loc,msg,type}]}` form.
    pub fn invalid(errors: Vec<Value>) -> Self {
        Self::detail(422, Value::Array(errors))
    }
}

pub(crate) type Res = Result<Reply, Reply>;

pub(crate) fn field_error(loc: &[Value], msg: &str, kind: &str) -> Value {
    let mut full = vec![json!("body")];
    full.extend_from_slice(loc);
    json!({ "loc": full, "msg": msg, "type": kind })
}

pub(crate) fn missing(loc: &[Value]) -> Value {
    field_error(loc, "field required", "value_error.missing")
}

/// A UUID-shaped request id.
pub(crate) fn request_id() -> String {
    let v = ulid::Ulid::generate().0;
    let h = format!("{v:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

pub(crate) fn query_error(name: &str, msg: &str, kind: &str) -> Reply {
    Reply::invalid(vec![
        json!({ "loc": ["query", name], "msg": msg, "type": kind }),
    ])
}

pub(crate) fn parse_path_int(s: &str, name: &str) -> Result<u64, Reply> {
    s.parse().map_err(|_| {
        Reply::invalid(vec![json!({
            "loc": ["path", name],
            "msg": "value is not a valid integer",
            "type": "type_error.integer",
        })])
    })
}

/// `+` then 8–15 digits.
pub(crate) fn valid_phone(p: &str) -> bool {
    p.strip_prefix('+')
        .is_some_and(|d| (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
}

pub(crate) fn valid_email(e: &str) -> bool {
    e.split_once('@').is_some_and(|(l, d)| {
        !l.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.')
    }) && !e.contains(char::is_whitespace)
}
