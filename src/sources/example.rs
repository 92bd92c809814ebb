//! Each vendor kind's documented example hire, signed the way that vendor signs it, and what
//! the sandbox needs to take it through: `hirebridge send-example <kind>` posts it to a
//! running service, `serve --sandbox` configures a source of each kind (with the fake vendor
//! API the kinds that fetch people read from), and the tests start from it.

use std::time::SystemTime;

use axum::http::Method;
use serde_json::Value;
use url::Url;

use crate::config::SourceConfig;

/// A webhook request ready to send.
#[derive(Debug, Clone)]
pub struct SignedExample {
    pub content_type: &'static str,
    /// The vendor's headers (signature, timestamp, delivery id), in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A source of one kind as `serve --sandbox` configures it, with its signing secret, and the
/// documents the fake vendor API answers with (method, path under the API's base, body).
pub struct SandboxSource {
    pub config: SourceConfig,
    pub routes: Vec<(Method, String, Value)>,
}

/// What a vendor kind provides for the examples and the sandbox.
pub trait Example {
    /// The kind's example hire, signed with `secret` for `url` (the full webhook URL, which
    /// some vendors sign) at `now`.
    fn example(&self, secret: &str, url: &Url, now: SystemTime) -> SignedExample;

    /// The sandbox's source of this kind, signing with `secret`; `api` is the base URL of the
    /// fake vendor API.
    fn sandbox(&self, secret: &str, api: &Url) -> SandboxSource;
}
