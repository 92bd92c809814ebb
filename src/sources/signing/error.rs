//! Why a request was not authenticated, and what a verification established.

/// Why a request was not authenticated. `reason()` is the metric label, `status()` the HTTP
/// status; `Display` is safe to show the caller (no secrets, tokens or signatures).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// A header the mode needs is absent or empty.
    #[error("missing credentials: {0}")]
    MissingCredentials(String),
    /// A credential header is present but not in the expected shape (wrong scheme, not ASCII).
    #[error("malformed credentials: {0}")]
    MalformedCredentials(&'static str),
    /// No signature matches the body (also a JWT whose signature does not verify).
    #[error("signature does not match")]
    BadSignature,
    /// Standard Webhooks: the timestamp is older than the tolerance.
    #[error("webhook-timestamp is too old")]
    StaleTimestamp,
    /// Standard Webhooks: the timestamp is ahead of our clock by more than the tolerance.
    #[error("webhook-timestamp is in the future")]
    FutureTimestamp,
    /// Standard Webhooks: the timestamp is not unix seconds.
    #[error("webhook-timestamp is not a unix time in seconds")]
    BadTimestamp,
    /// The token is not a well-formed JWT, lacks a required claim, or a static bearer token does
    /// not match.
    #[error("invalid token: {0}")]
    BadToken(&'static str),
    /// The JWT's algorithm is not the one its key allows.
    #[error("token algorithm is not accepted for this key")]
    WrongAlgorithm,
    /// The JWT's `exp` (plus leeway) is past.
    #[error("token has expired")]
    Expired,
    /// The JWT's `nbf` (minus leeway) is still ahead.
    #[error("token is not valid yet")]
    NotYetValid,
    /// The JWT's `iss` is absent or not the configured issuer: a token minted for another
    /// system must not open this one.
    #[error("token issuer is not accepted")]
    WrongIssuer,
    /// The JWT's `aud` is absent or not the configured audience: a token meant for another
    /// service of the same issuer must not be replayed here.
    #[error("token audience is not accepted")]
    WrongAudience,
    /// A signed request seen before (its signed token or delivery id was already used with
    /// another body): a replay.
    #[error("this signed request was already received with another body")]
    Replayed,
    /// A vendor's signed timestamp is older or newer than the tolerance.
    #[error("the signed timestamp is outside the accepted window")]
    TimestampOutOfWindow,
    /// The JWT names a `kid` the key set does not hold.
    #[error("token signing key is unknown")]
    UnknownKey,
    /// The JWKS could not be fetched and no cached key fits: the sender should retry later.
    #[error("signing keys are temporarily unavailable")]
    KeysUnavailable,
}

impl AuthError {
    /// Low-cardinality label for metrics (`reason="bad_signature"`).
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::MissingCredentials(_) => "missing_credentials",
            AuthError::MalformedCredentials(_) => "malformed_credentials",
            AuthError::BadSignature => "bad_signature",
            AuthError::StaleTimestamp => "stale_timestamp",
            AuthError::FutureTimestamp => "future_timestamp",
            AuthError::BadTimestamp => "bad_timestamp",
            AuthError::BadToken(_) => "bad_token",
            AuthError::WrongAlgorithm => "wrong_algorithm",
            AuthError::Expired => "expired",
            AuthError::NotYetValid => "not_yet_valid",
            AuthError::WrongIssuer => "wrong_issuer",
            AuthError::WrongAudience => "wrong_audience",
            AuthError::UnknownKey => "unknown_key",
            AuthError::Replayed => "replay",
            AuthError::TimestampOutOfWindow => "stale_timestamp",
            AuthError::KeysUnavailable => "jwks_unavailable",
        }
    }

    /// 401 for every credential problem; 503 when the key set is unreachable, so the sender
    /// retries instead of dropping a possibly valid event.
    pub fn status(&self) -> u16 {
        match self {
            AuthError::KeysUnavailable => 503,
            _ => 401,
        }
    }
}

/// What a successful verification established about the request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verified {
    /// Standard Webhooks `webhook-id`: a sender-chosen delivery id, usable as a dedupe key.
    pub webhook_id: Option<String>,
    /// JWT `sub`: who sent it, for the audit trail.
    pub subject: Option<String>,
}
