//! The `generic` source: the body is the canonical hire itself (CONTRACT.md).

use serde_json::Value;

use super::{NormalizeError, Normalized};
use crate::domain::{FieldError, Hire};

/// Read a generic body. Event types other than `hire.created` are acknowledged and ignored;
/// a hire is validated completely, every problem reported with its JSON pointer.
pub fn normalize(
    body: &Value,
    phone_region: &str,
    idempotency_key: Option<String>,
) -> Result<Normalized, NormalizeError> {
    let event_type = body.get("type").and_then(Value::as_str);
    let event_id = body
        .get("event_id")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty());
    if let Some(t) = event_type
        && t != crate::domain::hire::HIRE_CREATED
    {
        let dedupe_key = idempotency_key
            .or_else(|| event_id.map(str::to_owned))
            .ok_or_else(|| {
                NormalizeError::Unmappable(vec![FieldError::new("/event_id", "is required")])
            })?;
        return Ok(Normalized::Ignored {
            dedupe_key,
            reason: format!("event type {t:?} is not acted on (only hire.created)"),
        });
    }
    let hire = Hire::from_json(body, phone_region).map_err(NormalizeError::Unmappable)?;
    let dedupe_key = idempotency_key.unwrap_or_else(|| hire.event_id.clone());
    Ok(Normalized::Hire {
        hire: Box::new(hire),
        dedupe_key,
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
        assert!(matches!(n, Normalized::Ignored { dedupe_key, .. } if dedupe_key == "e1"));
    }

    #[test]
    fn idempotency_key_wins() {
        let body = json!({"event_id": "e1", "type": "hire.created",
            "person": {"first_name": "A", "last_name": "B", "email": "a@b.co"}});
        let n = normalize(&body, "US", Some("k-9".into())).unwrap();
        assert!(matches!(n, Normalized::Hire { dedupe_key, .. } if dedupe_key == "k-9"));
        let n = normalize(&body, "US", None).unwrap();
        assert!(matches!(n, Normalized::Hire { dedupe_key, .. } if dedupe_key == "e1"));
    }
}
