//! The client itself: credentials, one request at a time, classification and metrics.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use reqwest::header::{self, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use tracing::Instrument;
use url::Url;

use super::error::ApiError;
use super::oauth::OAuth;
use super::transport::{classify_failure, parse_body, record, send, sensitive};
use super::types::Reply;
use crate::config::{ConnecteamAuth, ConnecteamConfig};
use crate::remote::{Gate, Open};

/// Why a client could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Neither `connecteam.api_key` nor `connecteam.oauth` is set.
    #[error("connecteam: api_key or oauth is required")]
    Unconfigured,
    #[error("connecteam: cannot build the HTTP client: {0}")]
    Http(#[source] reqwest::Error),
}

const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
const API_KEY_HEADER: &str = "X-API-KEY";

/// The Connecteam API client. Cheap to clone: clones share the connection pool and the OAuth
/// token cache.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    auth: Auth,
    /// Waited on before every request (the account's budget, or a round's).
    gate: Arc<dyn Gate>,
}

#[derive(Clone)]
enum Auth {
    ApiKey(Arc<SecretString>),
    OAuth(Arc<OAuth>),
}

/// The credential one attempt used; with OAuth, the token to drop after a 401.
enum Credential {
    ApiKey(Arc<SecretString>),
    Bearer(Arc<SecretString>),
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let auth = match &self.auth {
            Auth::ApiKey(_) => "api_key",
            Auth::OAuth(_) => "oauth_client_credentials",
        };
        f.debug_struct("Client")
            .field("base_url", &self.base.as_str())
            .field("auth", &auth)
            .finish_non_exhaustive()
    }
}

/// What one request is: the fixed endpoint name (metric label), method, URL and JSON body.
pub(super) struct Request<'a> {
    pub(super) endpoint: &'static str,
    pub(super) method: Method,
    pub(super) url: Url,
    pub(super) body: Option<serde_json::Value>,
    pub(super) idempotency_key: Option<&'a str>,
}

impl<'a> Request<'a> {
    /// A GET.
    pub(super) fn read(endpoint: &'static str, url: Url) -> Self {
        Request {
            endpoint,
            method: Method::GET,
            url,
            body: None,
            idempotency_key: None,
        }
    }

    /// A write with its JSON body and the caller's idempotency key.
    pub(super) fn write(
        endpoint: &'static str,
        method: Method,
        url: Url,
        body: serde_json::Value,
        idempotency_key: &'a str,
    ) -> Self {
        Request {
            endpoint,
            method,
            url,
            body: Some(body),
            idempotency_key: Some(idempotency_key),
        }
    }

    fn is_write(&self) -> bool {
        self.method != Method::GET && self.method != Method::HEAD
    }
}

impl Client {
    /// A client for `cfg.base_url`, authenticating with the API key or OAuth client credentials.
    pub fn new(cfg: &ConnecteamConfig) -> Result<Client, ClientError> {
        let auth = match &cfg.auth {
            Some(ConnecteamAuth::ApiKey(key)) => Auth::ApiKey(Arc::new(key.clone())),
            Some(ConnecteamAuth::OAuth(o)) => Auth::OAuth(Arc::new(OAuth::new(o))),
            None => return Err(ClientError::Unconfigured),
        };
        let base = cfg.base_url.clone();
        let timeout = Duration::from_millis(cfg.timeout_ms.max(1));
        let mut default_headers = header::HeaderMap::new();
        default_headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        let http = reqwest::Client::builder()
            .user_agent(concat!("hirebridge/", env!("CARGO_PKG_VERSION")))
            .default_headers(default_headers)
            .timeout(timeout)
            .connect_timeout(timeout)
            // A redirect would turn a POST into a GET and hide what happened; report it instead.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(ClientError::Http)?;
        Ok(Client {
            http,
            base,
            auth,
            gate: Arc::new(Open),
        })
    }

    /// The same client pointed at another base URL (the sandbox simulator, a test stub).
    /// An OAuth client starts with an empty token cache: a token from one server is not sent
    /// to another.
    pub fn with_base_url(mut self, base: Url) -> Client {
        self.base = base;
        if let Auth::OAuth(o) = &self.auth {
            self.auth = Auth::OAuth(Arc::new(o.fresh()));
        }
        self
    }

    /// The same client, waiting on `gate` before every request it sends (a token fetch and
    /// a repeat after a refused token included).
    pub fn with_gate(&self, gate: Arc<dyn Gate>) -> Client {
        Client {
            gate,
            ..self.clone()
        }
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// `base` + path segments (each percent-encoded), keeping any path prefix of `base`.
    pub(super) fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        url.set_query(None);
        url.set_fragment(None);
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// One logical call: credential, request, classification, metrics, and with OAuth a
    /// single repeat with a fresh token after a 401.
    pub(super) async fn call<T, F>(&self, req: Request<'_>, decode: F) -> Result<Reply<T>, ApiError>
    where
        F: Fn(serde_json::Value) -> Result<T, String>,
    {
        let span = tracing::debug_span!(
            "connecteam",
            endpoint = req.endpoint,
            method = %req.method,
            path = req.url.path()
        );
        async {
            let mut repeated_after_401 = false;
            loop {
                let cred = self.credential().await?;
                self.gate.pass().await.map_err(|_| ApiError::Stopped)?;
                let started = Instant::now();
                let outcome = self.attempt(&req, &cred, &decode).await;
                let elapsed = started.elapsed();
                record(req.endpoint, outcome.as_ref().err(), elapsed);
                match outcome {
                    Err(ApiError::Permanent { status: 401, .. })
                        if !repeated_after_401 && matches!(cred, Credential::Bearer(_)) =>
                    {
                        tracing::debug!("401 with an OAuth token; fetching a new token once");
                        if let (Auth::OAuth(o), Credential::Bearer(t)) = (&self.auth, &cred) {
                            o.invalidate(t).await;
                        }
                        repeated_after_401 = true;
                    }
                    other => return other,
                }
            }
        }
        .instrument(span)
        .await
    }

    async fn credential(&self) -> Result<Credential, ApiError> {
        match &self.auth {
            Auth::ApiKey(k) => Ok(Credential::ApiKey(k.clone())),
            Auth::OAuth(o) => o
                .token(&self.http, &self.base, self.gate.as_ref())
                .await
                .map(Credential::Bearer),
        }
    }

    async fn attempt<T, F>(
        &self,
        req: &Request<'_>,
        cred: &Credential,
        decode: &F,
    ) -> Result<Reply<T>, ApiError>
    where
        F: Fn(serde_json::Value) -> Result<T, String>,
    {
        let write = req.is_write();
        let mut rb = self.http.request(req.method.clone(), req.url.clone());
        rb = match cred {
            Credential::ApiKey(k) => rb.header(API_KEY_HEADER, sensitive(k.expose_secret())?),
            Credential::Bearer(t) => rb.header(
                header::AUTHORIZATION,
                sensitive(&format!("Bearer {}", t.expose_secret()))?,
            ),
        };
        if let Some(key) = req.idempotency_key {
            let v = HeaderValue::from_str(key)
                .map_err(|_| ApiError::not_sent("idempotency key is not a valid header value"))?;
            rb = rb.header(IDEMPOTENCY_HEADER, v);
        }
        if let Some(body) = &req.body {
            rb = rb.json(body);
        }
        let raw = send(rb, write).await?;
        let status = raw.status;
        if !(200..300).contains(&status) {
            return Err(classify_failure(
                req.endpoint,
                status,
                raw.rate,
                &raw.body,
                write,
            ));
        }
        let value = parse_body(&raw.body).map_err(|message| ApiError::Decode { message })?;
        let request_id = value
            .get("requestId")
            .and_then(|r| r.as_str())
            .map(str::to_owned)
            .or(raw.header_request_id);
        tracing::debug!(
            status,
            request_id = request_id.as_deref(),
            "connecteam answered"
        );
        let value = decode(value).map_err(|message| ApiError::Decode { message })?;
        Ok(Reply {
            value,
            rate: raw.rate,
            request_id,
        })
    }
}
