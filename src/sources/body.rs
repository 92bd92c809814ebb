//! Reading a JSON body the way every JSON source does: declared as JSON, parsed with the
//! position of a syntax error, fingerprinted so that a repeat is recognised whatever its
//! formatting.

use axum::http::{HeaderMap, header};
use sha2::{Digest, Sha256};

/// `Ok` when the body is declared as JSON (`application/json` or `+json`); else the message.
pub fn require_json(headers: &HeaderMap) -> Result<(), String> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json")) {
        Ok(())
    } else {
        Err(format!(
            "expected Content-Type: application/json, got {}",
            if ct.is_empty() { "none" } else { ct }
        ))
    }
}

/// Parse bytes as JSON; the message gives the line and column of a syntax error.
pub fn parse_json(body: &[u8]) -> Result<serde_json::Value, String> {
    // serde_json's message ends with the line and column already.
    serde_json::from_slice(body).map_err(|e| format!("the body is not valid JSON: {e}"))
}

/// Fingerprint of a body: SHA-256 of its canonical JSON (keys sorted, no whitespace), so a
/// resend that only differs in formatting or key order still counts as the same event.
pub fn fingerprint(body: &serde_json::Value) -> String {
    // serde_json's map is ordered (BTreeMap) without the preserve_order feature.
    let canonical = serde_json::to_vec(body).unwrap_or_default();
    hex::encode(Sha256::digest(&canonical))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_ignores_formatting_and_key_order() {
        let a: serde_json::Value = serde_json::from_str(r#"{"a":1,"b":{"c":2}}"#).unwrap();
        let b: serde_json::Value =
            serde_json::from_str("{ \"b\": {\"c\": 2},\n \"a\": 1 }").unwrap();
        let c: serde_json::Value = serde_json::from_str(r#"{"a":1,"b":{"c":3}}"#).unwrap();
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(&a), fingerprint(&c));
    }
}
