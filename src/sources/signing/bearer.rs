//! A static `Authorization: Bearer <token>`.

use axum::http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::AuthError;
use super::headers::bearer_token;

/// A static token; only its SHA-256 is kept.
pub struct StaticToken {
    token_sha256: [u8; 32],
}

impl StaticToken {
    pub fn new(token: &[u8]) -> Self {
        Self {
            token_sha256: Sha256::digest(token).into(),
        }
    }

    pub fn verify(&self, headers: &HeaderMap) -> Result<(), AuthError> {
        let token = bearer_token(headers)?;
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        // Comparing digests keeps the comparison constant-time even in the length.
        if bool::from(digest.ct_eq(&self.token_sha256)) {
            Ok(())
        } else {
            Err(AuthError::BadToken("bearer token does not match"))
        }
    }
}
