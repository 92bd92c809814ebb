//! What a sending system's adapter is: it receives the whole request, verifies it by that
//! system's scheme, decodes it into the events it carries, and says how the sender wants to
//! be answered once they are stored.

use std::collections::BTreeMap;
use std::time::SystemTime;

use std::sync::Arc;

use async_trait::async_trait;
use axum::http::{HeaderMap, Method, Uri};

use super::signing::AuthError;
use crate::config::SourceKind;
use crate::domain::{FieldError, Hire};
use crate::remote::Fetcher;

/// A webhook request as it arrived: everything a signature may cover.
#[derive(Debug, Clone, Copy)]
pub struct WebhookRequest<'a> {
    pub method: &'a Method,
    /// The full request URI, path and query (some vendors sign it).
    pub uri: &'a Uri,
    pub headers: &'a HeaderMap,
    /// The raw body, exactly as received: signatures are checked over these bytes.
    pub body: &'a [u8],
    /// When it arrived, for signatures that carry a timestamp.
    pub received_at: SystemTime,
}

/// A verified request, decoded: the events it carries (one for most senders; a batch for
/// those that send several at once). Each is stored as its own event, with its own dedupe key.
#[derive(Debug)]
pub struct Decoded {
    pub items: Vec<Item>,
}

/// One event of a request.
#[derive(Debug)]
pub struct Item {
    /// The key repeats of this event share (the sender's event or delivery id).
    pub dedupe_key: String,
    /// A digest of the event's content that tells a repeat from a conflicting reuse of the key.
    pub fingerprint: String,
    pub content: Content,
}

/// What an event amounts to.
#[derive(Debug)]
pub enum Content {
    /// A hire to act on.
    Hire(Box<Hire>),
    /// A hire whose person must first be fetched from the sender's API (its webhook carries
    /// only ids, or ids where names belong): stored as received (`raw`, JSON or XML text),
    /// acknowledged, and completed by the source's [`Fetcher`] in the durable pipeline.
    /// `request` is what the fetcher needs, in the adapter's own form.
    Fetch {
        request: serde_json::Value,
        raw: String,
    },
    /// Something the sender sends that is not a hire (a ping, another event type): stored as
    /// received (`raw`, JSON text) and acknowledged, nothing more.
    Ignored { reason: String, raw: String },
}

/// What became of one item once intake committed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemOutcome {
    Accepted {
        event_id: String,
    },
    /// Stored and acknowledged, not acted on.
    Ignored {
        event_id: String,
    },
    /// A repeat of an event already stored: nothing new was stored.
    Duplicate {
        event_id: String,
    },
    /// The dedupe key of an event already stored, with another body.
    Conflict {
        event_id: String,
    },
}

/// The answer the sender expects.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Json {
        status: u16,
        body: serde_json::Value,
    },
    /// An XML document (Salesforce's SOAP acknowledgement).
    Xml { status: u16, body: String },
}

/// Why a request was refused. Nothing of it is stored.
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    /// Not authenticated by the sender's scheme (401), or its keys are unreachable (503).
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The body is not declared as what the source takes (415).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The body does not parse at all (400).
    #[error("{0}")]
    MalformedJson(String),
    /// It parses, but is not an event of this sender (400).
    #[error("{0}")]
    Malformed(String),
    /// A request header the source reads is unusable (400), pointed at as `/headers/<name>`.
    #[error("invalid request headers")]
    InvalidHeaders(Vec<FieldError>),
    /// An event, but not a hire the source can map (422), with every field at fault.
    #[error("the body is not a hire this source can map: {} field(s) missing or invalid", .0.len())]
    Unmappable(Vec<FieldError>),
    /// The dedupe key of an event already stored, with another body (409).
    #[error(
        "an event with this dedupe key (event_id or Idempotency-Key) was already accepted with a different body"
    )]
    Conflict { event_id: String },
}

impl Rejection {
    /// The `reason` label of `hirebridge_events_total{outcome="rejected"}`.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::Auth(e) => e.reason(),
            Rejection::UnsupportedMediaType(_) => "unsupported_media_type",
            Rejection::MalformedJson(_) => "malformed_json",
            Rejection::Malformed(_) => "malformed",
            Rejection::InvalidHeaders(_) => "invalid_header",
            Rejection::Unmappable(_) => "unmappable",
            Rejection::Conflict { .. } => "conflict",
        }
    }
}

/// A configured sending system.
#[async_trait]
pub trait Adapter: Send + Sync {
    /// The source's name (its URL segment).
    fn name(&self) -> &str;

    fn kind(&self) -> SourceKind;

    /// The region phone numbers without a country code are read with.
    fn phone_region(&self) -> &str;

    /// How its [`Content::Fetch`] events are completed, for sources that send them.
    fn fetcher(&self) -> Option<Arc<dyn Fetcher>> {
        None
    }

    /// Verify the request by the sender's scheme, over the raw bytes and before anything is
    /// parsed, then decode it.
    async fn decode(&self, req: &WebhookRequest<'_>) -> Result<Decoded, Rejection>;

    /// The answer for a request whose items were all committed (or found stored already).
    /// The default is the canonical one: `202 accepted` when an event was accepted,
    /// `200 duplicate` / `200 ignored` otherwise, and a conflict refused with 409.
    fn respond(&self, outcomes: &[ItemOutcome]) -> Result<Reply, Rejection> {
        json_reply(outcomes)
    }
}

/// The canonical answer to `outcomes` (see [`Adapter::respond`]).
pub fn json_reply(outcomes: &[ItemOutcome]) -> Result<Reply, Rejection> {
    if let Some(ItemOutcome::Conflict { event_id }) = outcomes
        .iter()
        .find(|o| matches!(o, ItemOutcome::Conflict { .. }))
    {
        return Err(Rejection::Conflict {
            event_id: event_id.clone(),
        });
    }
    let one = |status: u16, event_id: &str, label: &str| Reply::Json {
        status,
        body: serde_json::json!({"event_id": event_id, "status": label}),
    };
    Ok(match outcomes {
        [ItemOutcome::Accepted { event_id }] => one(202, event_id, "accepted"),
        [ItemOutcome::Duplicate { event_id }] => one(200, event_id, "duplicate"),
        [ItemOutcome::Ignored { event_id }] => one(200, event_id, "ignored"),
        many => {
            let accepted = many
                .iter()
                .any(|o| matches!(o, ItemOutcome::Accepted { .. }));
            let events: Vec<serde_json::Value> = many
                .iter()
                .map(|o| {
                    let (id, label) = match o {
                        ItemOutcome::Accepted { event_id } => (event_id, "accepted"),
                        ItemOutcome::Duplicate { event_id } => (event_id, "duplicate"),
                        ItemOutcome::Ignored { event_id } => (event_id, "ignored"),
                        ItemOutcome::Conflict { event_id } => (event_id, "conflict"),
                    };
                    serde_json::json!({"event_id": id, "status": label})
                })
                .collect();
            Reply::Json {
                status: if accepted { 202 } else { 200 },
                body: serde_json::json!({"events": events}),
            }
        }
    })
}

/// The configured sources by name.
pub type Registry = BTreeMap<String, Arc<dyn Adapter>>;

/// Why the sources could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A kind this version cannot receive yet: refused at start rather than answering its
    /// vendor with errors.
    #[error(
        "sources.{name}: kind {} is not supported by this version of hirebridge",
        .kind.as_str()
    )]
    Unsupported { name: String, kind: SourceKind },
}
