//! A JSON Web Key Set fetched over HTTP and cached by `kid`.
//!
//! Identity providers rotate their signing keys by publishing a new key in the set before they
//! start using it, so a token with an unknown `kid` is the signal to look again. That signal is
//! attacker-controlled, though: anyone can send tokens with random `kid`s, so the refetch it
//! triggers is throttled to once per [`UNKNOWN_KID_INTERVAL`]. Independently, the set is refreshed
//! when it is older than [`REFRESH_INTERVAL`], so revoked keys disappear.
//!
//! Only asymmetric keys are taken from the set (RSA → RS256, P-256 → ES256): a symmetric `oct` key
//! in a public document would let anyone mint tokens, and each key is bound to exactly one
//! algorithm so a token cannot choose how its key is interpreted.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};

/// How old the cached set may get before a request refreshes it.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(600);
/// The least time between two fetches triggered by an unknown `kid` (or after a failed fetch).
pub const UNKNOWN_KID_INTERVAL: Duration = Duration::from_secs(30);
/// How long one fetch of the set may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// A key set larger than this is not a key set.
const MAX_JWKS_BYTES: usize = 256 * 1024;

/// One usable key from the set, bound to the one algorithm it may verify.
#[derive(Clone)]
pub struct JwksKey {
    /// Shared so a lookup does not copy key material.
    pub key: Arc<DecodingKey>,
    /// The only algorithm a token verified with this key may use.
    pub alg: Algorithm,
}

/// Why no key could be produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwksLookupError {
    /// The set was reachable (or was recently) and holds no key with that `kid`.
    UnknownKey,
    /// The set could not be fetched and nothing cached fits.
    Unavailable,
}

#[derive(Default)]
struct State {
    /// Keys by `kid`; keys without a `kid` are kept under `None`.
    keys: HashMap<Option<String>, JwksKey>,
    /// When the last successful fetch happened.
    fetched_at: Option<SystemTime>,
    /// When the last fetch was attempted, and whether it failed.
    attempted_at: Option<SystemTime>,
    /// When an unknown `kid` last triggered a fetch (the attacker-reachable path).
    kid_fetch_at: Option<SystemTime>,
    last_failed: bool,
}

/// A cached, lazily fetched JWKS. The clock is passed in so tests can move time.
pub struct JwksCache {
    url: String,
    http: reqwest::Client,
    state: RwLock<State>,
    /// Serialises fetches so a burst of requests triggers one fetch, not one each.
    fetch_lock: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksCache").field("url", &self.url).finish()
    }
}

fn elapsed_at_least(since: Option<SystemTime>, now: SystemTime, d: Duration) -> bool {
    match since {
        None => true,
        // A clock that went backwards must not freeze the cache: treat it as "long ago".
        Some(t) => now.duration_since(t).map(|e| e >= d).unwrap_or(true),
    }
}

impl JwksCache {
    /// A cache for the set at `url` (an http or https URL, checked by the configuration);
    /// nothing is fetched until the first token arrives.
    pub fn new(url: url::Url, http: reqwest::Client) -> Self {
        JwksCache {
            url: url.to_string(),
            http,
            state: RwLock::new(State::default()),
            fetch_lock: tokio::sync::Mutex::new(()),
        }
    }

    fn cached(&self, kid: Option<&str>) -> Option<JwksKey> {
        let st = self.state.read().unwrap_or_else(|e| e.into_inner());
        st.keys.get(&kid.map(str::to_owned)).cloned()
    }

    /// The key for `kid`, fetching or refreshing the set as the intervals allow.
    pub async fn key(
        &self,
        kid: Option<&str>,
        now: SystemTime,
    ) -> Result<JwksKey, JwksLookupError> {
        let routine_due = |st: &State| {
            elapsed_at_least(st.fetched_at, now, REFRESH_INTERVAL)
                && elapsed_at_least(st.attempted_at, now, UNKNOWN_KID_INTERVAL)
        };
        let due = {
            let st = self.state.read().unwrap_or_else(|e| e.into_inner());
            routine_due(&st)
        };
        // Routine refresh: a failure here is not fatal while a cached key still fits.
        let mut fetched = false;
        if due {
            fetched = self.fetch_once(now, false, routine_due).await;
        }
        if let Some(k) = self.cached(kid) {
            return Ok(k);
        }
        // Unknown kid: maybe the provider rotated keys. Look again, but at most once per interval.
        if !fetched {
            self.fetch_once(now, true, |st| {
                elapsed_at_least(st.kid_fetch_at, now, UNKNOWN_KID_INTERVAL)
            })
            .await;
            if let Some(k) = self.cached(kid) {
                return Ok(k);
            }
        }
        let st = self.state.read().unwrap_or_else(|e| e.into_inner());
        if st.last_failed {
            Err(JwksLookupError::Unavailable)
        } else {
            Err(JwksLookupError::UnknownKey)
        }
    }

    /// Fetch unless `due` says another task has just done it (checked under the fetch lock).
    /// Returns whether a fetch was attempted.
    async fn fetch_once(
        &self,
        now: SystemTime,
        for_kid: bool,
        due: impl Fn(&State) -> bool,
    ) -> bool {
        let _guard = self.fetch_lock.lock().await;
        {
            let st = self.state.read().unwrap_or_else(|e| e.into_inner());
            if !due(&st) {
                return false;
            }
        }
        let result = self.fetch().await;
        let mut st = self.state.write().unwrap_or_else(|e| e.into_inner());
        st.attempted_at = Some(now);
        if for_kid {
            st.kid_fetch_at = Some(now);
        }
        match result {
            Ok(keys) => {
                st.keys = keys;
                st.fetched_at = Some(now);
                st.last_failed = false;
            }
            Err(e) => {
                // The URL is configuration, not a secret; the key material is never logged.
                tracing::warn!(url = %self.url, error = %e, "could not fetch the JWKS");
                st.last_failed = true;
            }
        }
        true
    }

    async fn fetch(&self) -> Result<HashMap<Option<String>, JwksKey>, String> {
        let resp = self
            .http
            .get(&self.url)
            .timeout(FETCH_TIMEOUT)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("answered {}", resp.status()));
        }
        if resp
            .content_length()
            .is_some_and(|n| n > MAX_JWKS_BYTES as u64)
        {
            return Err("key set too large".to_owned());
        }
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| format!("reading the body failed: {e}"))?;
        if bytes.len() > MAX_JWKS_BYTES {
            return Err("key set too large".to_owned());
        }
        let set: JwkSet =
            serde_json::from_slice(&bytes).map_err(|e| format!("not a JWK set: {e}"))?;
        Ok(usable_keys(&set))
    }
}

/// The asymmetric signing keys of a set, each bound to its single allowed algorithm.
pub fn usable_keys(set: &JwkSet) -> HashMap<Option<String>, JwksKey> {
    let mut out = HashMap::new();
    for jwk in &set.keys {
        if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
            continue;
        }
        let alg = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Algorithm::RS256,
            AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
                Algorithm::ES256
            }
            _ => continue,
        };
        let declared_ok = match jwk.common.key_algorithm {
            None => true,
            Some(KeyAlgorithm::RS256) => alg == Algorithm::RS256,
            Some(KeyAlgorithm::ES256) => alg == Algorithm::ES256,
            Some(_) => false,
        };
        if !declared_ok {
            continue;
        }
        let Ok(key) = DecodingKey::from_jwk(jwk) else {
            continue;
        };
        out.insert(
            jwk.common.key_id.clone(),
            JwksKey {
                key: Arc::new(key),
                alg,
            },
        );
    }
    out
}
