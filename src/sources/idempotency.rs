//! The `Idempotency-Key` request header: when a sender supplies one, it is the dedupe key.

use axum::http::HeaderMap;

use crate::domain::FieldError;

/// The longest `Idempotency-Key` accepted, in bytes.
pub const IDEMPOTENCY_KEY_MAX: usize = 255;

/// The `Idempotency-Key` header: `None` when absent; else 1 to 255 visible ASCII characters,
/// sent once. Anything else is refused rather than ignored: falling back to the body's
/// `event_id` would dedupe differently from what the sender asked for.
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, FieldError> {
    id_header(headers, "idempotency-key")
}

/// A sender's delivery or event id header (`Greenhouse-Event-ID`), by the same rules as
/// `Idempotency-Key`: `None` when absent; else 1 to 255 visible ASCII characters, sent once.
pub fn id_header(headers: &HeaderMap, name: &str) -> Result<Option<String>, FieldError> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let pointer = format!("/headers/{}", name.to_ascii_lowercase());
    let bad = |message: String| FieldError::new(pointer.clone(), message);
    if values.next().is_some() {
        return Err(bad("must be sent once".to_owned()));
    }
    let bytes = value.as_bytes();
    if bytes.is_empty() {
        return Err(bad(
            "is empty; send 1 to 255 visible ASCII characters, or no header".to_owned(),
        ));
    }
    if bytes.len() > IDEMPOTENCY_KEY_MAX {
        return Err(bad(format!(
            "is {} bytes long; at most {IDEMPOTENCY_KEY_MAX} are allowed",
            bytes.len()
        )));
    }
    if !bytes.iter().all(|b| (0x21..=0x7e).contains(b)) {
        return Err(bad(
            "must be visible ASCII characters only (no spaces, control characters or non-ASCII)"
                .to_owned(),
        ));
    }
    Ok(value.to_str().ok().map(str::to_owned))
}
