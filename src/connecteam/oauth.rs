//! OAuth 2.0 client credentials: `POST {base}/oauth/v1/token` with HTTP Basic, the token cached
//! and renewed before it expires (Connecteam issues no refresh token).
//!
//! One renewal at a time: the cache sits behind an async mutex held across the fetch, so
//! concurrent callers wait for the one fetch and then share its token. A token is renewed once
//! less than `max(10 % of its lifetime, 5 min)` remains (never later than half its lifetime, so a
//! short-lived token is not fetched on every call). If a renewal fails while the current token
//! is still valid, the current token keeps being used and the renewal is tried again shortly.

use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;
use url::Url;

use super::error::ApiError;
use super::transport::{classify_failure, record, send};
use crate::config::OAuthConfig;
use crate::remote::Gate;

/// Used when the token answer has no `expires_in`.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);
/// After a failed renewal with a still-valid token, wait at most this long before trying again.
const RENEWAL_RETRY: Duration = Duration::from_secs(30);

pub(crate) struct OAuth {
    client_id: String,
    client_secret: SecretString,
    scope: String,
    cache: Mutex<Option<Cached>>,
}

struct Cached {
    token: Arc<SecretString>,
    renew_at: Instant,
    expires_at: Instant,
}

// No `Debug`: it would hold the access token.
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<f64>,
}

impl OAuth {
    pub(crate) fn new(o: &OAuthConfig) -> OAuth {
        OAuth {
            client_id: o.client_id.clone(),
            client_secret: o.client_secret.clone(),
            scope: o.scopes.clone(),
            cache: Mutex::new(None),
        }
    }

    /// The same credentials with an empty cache.
    pub(crate) fn fresh(&self) -> OAuth {
        OAuth {
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
            scope: self.scope.clone(),
            cache: Mutex::new(None),
        }
    }

    /// A token good for the next request, fetching one if needed.
    pub(crate) async fn token(
        &self,
        http: &reqwest::Client,
        base: &Url,
        gate: &dyn Gate,
    ) -> Result<Arc<SecretString>, ApiError> {
        let mut cache = self.cache.lock().await;
        let now = Instant::now();
        if let Some(c) = cache.as_ref()
            && now < c.renew_at
        {
            return Ok(c.token.clone());
        }
        match self.fetch(http, base, gate).await {
            Ok((token, lifetime)) => {
                let token = Arc::new(token);
                *cache = Some(Cached {
                    token: token.clone(),
                    renew_at: now + lifetime - renewal_margin(lifetime),
                    expires_at: now + lifetime,
                });
                Ok(token)
            }
            Err(e) => match cache.as_mut() {
                Some(c) if Instant::now() < c.expires_at => {
                    tracing::warn!(error = %e, "connecteam token renewal failed; the current token is still valid");
                    let left = c.expires_at.saturating_duration_since(Instant::now());
                    c.renew_at = Instant::now() + RENEWAL_RETRY.min(left / 2);
                    Ok(c.token.clone())
                }
                _ => Err(e),
            },
        }
    }

    /// Forget `used` after Connecteam refused it (a newer token fetched meanwhile is kept).
    pub(crate) async fn invalidate(&self, used: &Arc<SecretString>) {
        let mut cache = self.cache.lock().await;
        if cache.as_ref().is_some_and(|c| Arc::ptr_eq(&c.token, used)) {
            *cache = None;
        }
    }

    async fn fetch(
        &self,
        http: &reqwest::Client,
        base: &Url,
        gate: &dyn Gate,
    ) -> Result<(SecretString, Duration), ApiError> {
        const ENDPOINT: &str = "oauth.token";
        // A token request counts against the account's budget like any other.
        gate.pass().await.map_err(|_| ApiError::Stopped)?;
        let mut url = base.clone();
        url.set_query(None);
        url.set_fragment(None);
        if let Ok(mut p) = url.path_segments_mut() {
            p.pop_if_empty().extend(["oauth", "v1", "token"]);
        }
        let mut form = vec![("grant_type", "client_credentials")];
        form.push(("scope", self.scope.as_str()));
        let rb = http
            .post(url)
            .basic_auth(&self.client_id, Some(self.client_secret.expose_secret()))
            .form(&form);
        let started = Instant::now();
        // Fetching a token changes nothing on Connecteam's side: classified as a read.
        let result = async {
            let raw = send(rb, false).await?;
            if !(200..300).contains(&raw.status) {
                return Err(classify_failure(
                    ENDPOINT, raw.status, raw.rate, &raw.body, false,
                ));
            }
            let answer: TokenAnswer =
                serde_json::from_slice(&raw.body).map_err(|e| ApiError::Decode {
                    message: format!("token answer: {e}"),
                })?;
            if answer.access_token.is_empty() {
                return Err(ApiError::Decode {
                    message: "token answer has an empty access_token".to_owned(),
                });
            }
            if let Some(t) = &answer.token_type
                && !t.eq_ignore_ascii_case("bearer")
            {
                tracing::warn!(token_type = %t, "connecteam token type is not Bearer; using it as one");
            }
            let lifetime = answer
                .expires_in
                .filter(|s| s.is_finite() && *s > 0.0)
                .map(Duration::from_secs_f64)
                .unwrap_or(DEFAULT_LIFETIME);
            Ok((SecretString::from(answer.access_token), lifetime))
        }
        .await;
        record(ENDPOINT, result.as_ref().err(), started.elapsed());
        result.map_err(|e| match e {
            // The API call the token was for was not sent, so even a write may be retried.
            ApiError::Decode { message } => ApiError::Retryable {
                message: format!("oauth token: {message}"),
                status: None,
                rate: None,
            },
            ApiError::Retryable {
                message,
                status,
                rate,
            } => ApiError::Retryable {
                message: format!("oauth token: {message}"),
                status,
                rate,
            },
            ApiError::Permanent {
                status,
                detail,
                rate,
            } => ApiError::Permanent {
                status,
                detail: format!("oauth token: {detail}"),
                rate,
            },
            other => other,
        })
    }
}

/// How long before expiry a token is renewed.
fn renewal_margin(lifetime: Duration) -> Duration {
    (lifetime / 10)
        .max(Duration::from_secs(300))
        .min(lifetime / 2)
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn renewal_margin_follows_lifetime() {
        assert_eq!(
            renewal_margin(Duration::from_secs(86_400)),
            Duration::from_secs(8_640)
        );
        assert_eq!(
            renewal_margin(Duration::from_secs(1_800)),
            Duration::from_secs(300)
        );
        assert_eq!(
            renewal_margin(Duration::from_secs(2)),
            Duration::from_secs(1)
        );
    }
}
