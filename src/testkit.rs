//! Signers for tests and benchmarks: the sending side of the schemes the sources verify.
//! Built only with the `testkit` feature (the test suite and the benches turn it on), so the
//! service itself carries no code that makes valid signatures.

use base64::Engine as _;
use hmac::Mac;

use crate::config::{SignatureEncoding, SigningKey};
use crate::sources::signing::hmac_key;

/// The Standard Webhooks signature header value for a body (`v1,<base64>`). `secret` is the
/// `whsec_…` string; a malformed secret yields an empty key's signature, which no verifier
/// accepts.
pub fn sign_standard_webhooks(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let key = SigningKey::from_whsec(secret)
        .map(|k| k.expose().to_vec())
        .unwrap_or_default();
    let mut mac = hmac_key(&key);
    mac.update(format!("{msg_id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

/// HMAC-SHA256 of `body` in the given encoding (no `sha256=` prefix).
pub fn sign_hmac_sha256(secret: &[u8], body: &[u8], encoding: SignatureEncoding) -> String {
    let mut mac = hmac_key(secret);
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    match encoding {
        SignatureEncoding::Hex => hex::encode(tag),
        SignatureEncoding::Base64 => base64::engine::general_purpose::STANDARD.encode(tag),
    }
}
