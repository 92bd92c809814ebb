//! The `generic` source: the body is the canonical hire itself (CONTRACT.md), authenticated by
//! one of the `auth` modes.

mod auth;

use async_trait::async_trait;
use serde_json::Value;

use crate::config::{GenericSource, SourceKind};
use crate::domain::hire::{HIRE_CREATED, check_event_id, check_event_type};
use crate::domain::{FieldError, Hire};
use crate::sources::adapter::{Adapter, Content, Decoded, Item, Rejection, WebhookRequest};
use crate::sources::body::{fingerprint, parse_json, require_json};
use crate::sources::idempotency::idempotency_key;

pub use auth::GenericAuth;

/// A configured generic source.
#[derive(Debug)]
pub struct Generic {
    name: String,
    auth: GenericAuth,
    phone_region: String,
}

impl Generic {
    pub fn new(name: &str, cfg: &GenericSource, phone_region: &str, http: reqwest::Client) -> Self {
        Generic {
            name: name.to_owned(),
            auth: GenericAuth::new(&cfg.auth, http),
            phone_region: phone_region.to_owned(),
        }
    }
}

#[async_trait]
impl Adapter for Generic {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> SourceKind {
        SourceKind::Generic
    }

    fn phone_region(&self) -> &str {
        &self.phone_region
    }

    async fn decode(&self, req: &WebhookRequest<'_>) -> Result<Decoded, Rejection> {
        self.auth
            .verify(req.headers, req.body, req.received_at)
            .await?;
        require_json(req.headers).map_err(Rejection::UnsupportedMediaType)?;
        let value = parse_json(req.body).map_err(Rejection::MalformedJson)?;
        let idem = idempotency_key(req.headers).map_err(|e| Rejection::InvalidHeaders(vec![e]))?;
        let item = normalize(&value, &self.phone_region, idem)?;
        Ok(Decoded { items: vec![item] })
    }
}

/// Read a generic body. Event types other than `hire.created` are acknowledged and ignored;
/// a hire is validated completely, every problem reported with its JSON pointer. The
/// `Idempotency-Key` header, when the request carried one, is the dedupe key.
pub fn normalize(
    body: &Value,
    phone_region: &str,
    idempotency_key: Option<String>,
) -> Result<Item, Rejection> {
    let event_type = body.get("type").and_then(Value::as_str);
    let event_id = body
        .get("event_id")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty());
    if let Some(t) = event_type
        && t != HIRE_CREATED
    {
        // Every event needs its id, as a hire does, within the same limits.
        let mut errors = Vec::new();
        if let Err(m) = check_event_type(t) {
            errors.push(FieldError::new("/type", m));
        }
        match event_id.map(check_event_id) {
            None => errors.push(FieldError::new("/event_id", "is required")),
            Some(Err(m)) => errors.push(FieldError::new("/event_id", m)),
            Some(Ok(())) => {}
        }
        let (Some(id), true) = (event_id, errors.is_empty()) else {
            return Err(Rejection::Unmappable(errors));
        };
        let dedupe_key = idempotency_key.unwrap_or_else(|| id.to_owned());
        return Ok(Item {
            dedupe_key,
            fingerprint: fingerprint(body),
            content: Content::Ignored {
                reason: format!("event type {t:?} is not acted on (only hire.created)"),
                raw: body.to_string(),
            },
        });
    }
    let hire = Hire::from_json(body, phone_region).map_err(Rejection::Unmappable)?;
    let dedupe_key = idempotency_key.unwrap_or_else(|| hire.event_id.clone());
    Ok(Item {
        dedupe_key,
        fingerprint: fingerprint(body),
        content: Content::Hire(Box::new(hire)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn other_types_are_ignored_but_keyed() {
        let n = normalize(
            &json!({"event_id": "e1", "type": "hire.updated"}),
            "US",
            None,
        )
        .unwrap();
        assert_eq!(n.dedupe_key, "e1");
        assert!(matches!(n.content, Content::Ignored { .. }));
    }

    #[test]
    fn other_types_need_a_readable_type_and_an_id() {
        let fields = |body: Value| match normalize(&body, "US", None) {
            Err(Rejection::Unmappable(errors)) => errors
                .into_iter()
                .map(|e| format!("{} {}", e.pointer, e.message))
                .collect::<Vec<_>>(),
            other => panic!("expected a rejection, got {other:?}"),
        };
        assert_eq!(
            fields(json!({"event_id": "e1", "type": " "})),
            ["/type must not be empty"]
        );
        assert_eq!(
            fields(json!({"type": "ping\u{7}"})),
            [
                "/type must not contain control characters",
                "/event_id is required"
            ]
        );
        assert_eq!(
            fields(json!({"event_id": "e1", "type": "x".repeat(129)})),
            ["/type at most 128 characters"]
        );
    }

    #[test]
    fn idempotency_key_wins() {
        let body = json!({"event_id": "e1", "type": "hire.created",
            "person": {"first_name": "A", "last_name": "B", "email": "a@b.co"}});
        let n = normalize(&body, "US", Some("k-9".into())).unwrap();
        assert!(matches!(n.content, Content::Hire(_)));
        assert_eq!(n.dedupe_key, "k-9");
        let n = normalize(&body, "US", None).unwrap();
        assert_eq!(n.dedupe_key, "e1");
    }
}
