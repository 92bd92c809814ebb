//! The Connecteam endpoints: routing by path, credentials, and the OAuth token endpoint.

use std::time::{Duration, Instant};

use axum::http::{Method, header};
use base64::Engine as _;
use serde_json::json;

use super::custom_fields::{get_custom_fields, get_smart_groups};
use super::onboarding::{assign_pack, get_assignments, get_packs};
use super::reply::{Reply, Req, Res, missing};
use super::sim::Simulator;
use super::state::Token;
use super::time_off::{assign_policy, get_balances, get_policy_types};
use super::users::{archive_user, archive_users, create_users, get_users, update_users};

/// Routes one Connecteam request (already rate-limited and authorised).
pub(crate) fn handle(sim: &Simulator, req: &Req) -> Reply {
    let segs: Vec<&str> = req
        .path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let m = &req.method;
    let res = match segs.as_slice() {
        ["oauth", "v1", "token"] if m == Method::POST => token(sim, req),
        ["users", "v1", "users"] if m == Method::GET => get_users(sim, req),
        ["users", "v1", "users"] if m == Method::POST => create_users(sim, req),
        ["users", "v1", "users"] if m == Method::PUT => update_users(sim, req),
        ["users", "v1", "users"] if m == Method::DELETE => archive_users(sim, req),
        ["users", "v1", "users", id] if m == Method::DELETE => archive_user(sim, id, req),
        ["users", "v1", "custom-fields"] if m == Method::GET => get_custom_fields(sim, req),
        ["users", "v1", "smart-groups"] if m == Method::GET => get_smart_groups(sim, req),
        ["onboarding", "v1", "packs"] if m == Method::GET => get_packs(sim),
        ["onboarding", "v1", "packs", id, "assignments"] if m == Method::GET => {
            get_assignments(sim, id)
        }
        ["onboarding", "v1", "packs", id, "assignments"] if m == Method::POST => {
            assign_pack(sim, id, req)
        }
        ["time-off", "v1", "policy-types"] if m == Method::GET => get_policy_types(sim),
        ["time-off", "v1", "policy-types", id, "balances"] if m == Method::GET => {
            get_balances(sim, id, req)
        }
        ["time-off", "v1", "time-off-policies", id, "assignments"] if m == Method::PUT => {
            assign_policy(sim, id, req)
        }
        ["oauth", "v1", "token"]
        | ["users", "v1", "users"]
        | ["users", "v1", "users", _]
        | ["users", "v1", "custom-fields"]
        | ["users", "v1", "smart-groups"]
        | ["onboarding", "v1", "packs"]
        | ["onboarding", "v1", "packs", _, "assignments"]
        | ["time-off", "v1", "policy-types"]
        | ["time-off", "v1", "policy-types", _, "balances"]
        | ["time-off", "v1", "time-off-policies", _, "assignments"] => {
            Err(Reply::detail(405, "Method Not Allowed"))
        }
        _ => Err(Reply::detail(404, "Not Found")),
    };
    res.unwrap_or_else(|e| e)
}

/// Checks credentials for a Connecteam endpoint (not the token endpoint).
pub(crate) fn authorize(sim: &Simulator, req: &Req) -> Result<(), Reply> {
    if req.path.trim_end_matches('/') == "/oauth/v1/token" {
        return Ok(());
    }
    if let Some(auth) = req
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        && let Some(token) = auth
            .strip_prefix("Bearer ")
            .or_else(|| auth.strip_prefix("bearer "))
    {
        let inner = sim.lock();
        return match inner.tokens.get(token.trim()) {
            Some(t) if t.expires > Instant::now() => Ok(()),
            Some(_) => Err(Reply::detail(401, "Token expired")),
            None => Err(Reply::detail(401, "Invalid token")),
        };
    }
    match &sim.shared.cfg.api_key {
        None => Ok(()),
        Some(expected) => match req.headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
            Some(k) if k == expected => Ok(()),
            Some(_) => Err(Reply::detail(401, "Invalid API key")),
            None => Err(Reply::detail(401, "Missing API key")),
        },
    }
}

/// Scopes granted when a token request names none.
const ALL_SCOPES: &str =
    "users.read users.write onboarding.read onboarding.write time_off.read time_off.write";

fn token(sim: &Simulator, req: &Req) -> Res {
    let creds = req
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.split_once(':').map(|(a, b)| (a.to_owned(), b.to_owned())));
    let Some((id, secret)) = creds else {
        return Err(Reply::detail(401, "Missing client credentials"));
    };
    if !sim
        .shared
        .cfg
        .oauth_clients
        .iter()
        .any(|(i, s)| *i == id && *s == secret)
    {
        return Err(Reply::detail(401, "Invalid client credentials"));
    }
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&req.raw).into_owned().collect();
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    match get("grant_type").as_deref() {
        Some("client_credentials") => {}
        Some(_) => return Err(Reply::detail(400, "unsupported_grant_type")),
        None => {
            return Err(Reply::invalid(vec![missing(&[json!("grant_type")])]));
        }
    }
    let scope = get("scope")
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| ALL_SCOPES.to_owned());
    let access_token = format!("sim_{}", ulid::Ulid::generate());
    sim.lock().tokens.insert(
        access_token.clone(),
        Token {
            expires: Instant::now() + Duration::from_secs(86_400),
            scope: scope.clone(),
        },
    );
    Ok(Reply {
        status: 200,
        body: json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": 86_400,
            "scope": scope,
        }),
    })
}
