//! Signing primitives the source adapters share: verification over the raw body bytes, before
//! anything is parsed, with constant-time comparisons. Errors ([`AuthError`]) carry a metric
//! label and an HTTP status, and their messages are safe to return to the caller: they never
//! contain a secret, a token or a signature.

mod bearer;
mod error;
mod headers;
mod hmac;
mod jwks;
mod jwt;
mod standard_webhooks;

#[cfg(test)]
mod tests;

pub use bearer::StaticToken;
pub use error::{AuthError, Verified};
pub use headers::{bearer_token, header_str, unix_seconds};
pub use hmac::{HeaderHmac, HmacSha256, decode_base64, decode_hex, hmac_key, verify_mac};
pub use jwks::{JwksCache, JwksKey, JwksLookupError, REFRESH_INTERVAL, UNKNOWN_KID_INTERVAL};
pub use jwt::{JWT_LEEWAY, JwtVerifier};
pub use standard_webhooks::{StandardWebhooks, TIMESTAMP_TOLERANCE};
