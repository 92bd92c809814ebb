//! HMAC-SHA256 of the raw body, sent in a header as hex or base64 (`sha256=` prefix
//! accepted), the scheme most senders use; vendors' variants build on the same key.

use axum::http::{HeaderMap, HeaderName};
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::error::AuthError;
use super::headers::header_str;
use crate::config::SignatureEncoding;

pub type HmacSha256 = Hmac<Sha256>;

/// An HMAC-SHA256 keyed with `key`.
pub fn hmac_key(key: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length; this cannot fail.
    <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length")
}

/// Whether `signature` is the HMAC-SHA256 under `key` of `parts` joined, compared in constant
/// time. Vendors sign the body alone, or the body with a timestamp, a method or a URI.
pub fn verify_mac(key: &HmacSha256, parts: &[&[u8]], signature: &[u8]) -> Result<(), AuthError> {
    let mut mac = key.clone();
    for p in parts {
        mac.update(p);
    }
    let verified = mac
        .verify_slice(signature)
        .map_err(|_| AuthError::BadSignature);
    // Fuzz builds reach the parsers behind the signature (`sources::fuzzing`).
    if cfg!(fuzzing) {
        return Ok(());
    }
    verified
}

/// A hex signature's bytes (either case).
pub fn decode_hex(s: &str) -> Result<Vec<u8>, AuthError> {
    hex::decode(s.trim()).map_err(|_| AuthError::BadSignature)
}

/// A base64 signature's bytes, in the standard or the URL-safe alphabet, padded or not.
pub fn decode_base64(s: &str) -> Result<Vec<u8>, AuthError> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let s = s.trim();
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|e| e.decode(s).ok())
        .ok_or(AuthError::BadSignature)
}

/// HMAC-SHA256 of the body in a configured header.
pub struct HeaderHmac {
    header: HeaderName,
    mac: HmacSha256,
    encoding: SignatureEncoding,
}

impl std::fmt::Debug for HeaderHmac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Key material is deliberately left out.
        f.debug_struct("HeaderHmac")
            .field("header", &self.header)
            .field("encoding", &self.encoding)
            .finish_non_exhaustive()
    }
}

impl HeaderHmac {
    pub fn new(header: HeaderName, secret: &[u8], encoding: SignatureEncoding) -> Self {
        Self {
            header,
            mac: hmac_key(secret),
            encoding,
        }
    }

    /// The header must carry the MAC of `body`, compared in constant time.
    pub fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), AuthError> {
        let value = header_str(headers, self.header.as_str())?;
        let value = match value.get(..7) {
            Some(p) if p.eq_ignore_ascii_case("sha256=") => &value[7..],
            _ => value,
        };
        let sig = match self.encoding {
            SignatureEncoding::Hex => hex::decode(value).ok(),
            SignatureEncoding::Base64 => {
                base64::engine::general_purpose::STANDARD.decode(value).ok()
            }
        }
        .ok_or(AuthError::BadSignature)?;
        let mut mac = self.mac.clone();
        mac.update(body);
        // `verify_slice` compares in constant time.
        mac.verify_slice(&sig).map_err(|_| AuthError::BadSignature)
    }
}
