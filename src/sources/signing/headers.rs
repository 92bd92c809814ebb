//! Reading credentials from request headers.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;

use super::error::AuthError;

/// A header's value, trimmed; absent or empty is [`AuthError::MissingCredentials`].
pub fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, AuthError> {
    let v = headers
        .get(name)
        .ok_or_else(|| AuthError::MissingCredentials(format!("{name} header")))?;
    let s = v
        .to_str()
        .map_err(|_| AuthError::MalformedCredentials("credential header is not ASCII"))?
        .trim();
    if s.is_empty() {
        return Err(AuthError::MissingCredentials(format!("{name} header")));
    }
    Ok(s)
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, AuthError> {
    let v = header_str(headers, "authorization")?;
    if v.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::MissingCredentials("bearer token".to_owned()));
    }
    let (scheme, token) = v.split_once(' ').ok_or(AuthError::MalformedCredentials(
        "expected Authorization: Bearer <token>",
    ))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::MalformedCredentials(
            "expected Authorization: Bearer <token>",
        ));
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(AuthError::MissingCredentials("bearer token".to_owned()));
    }
    Ok(token)
}

/// Seconds since the Unix epoch (negative before it).
pub fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}
