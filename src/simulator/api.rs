//! The Connecteam endpoints themselves: routing by path and the state changes they make.

use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, Method, header};
use base64::Engine as _;
use serde_json::{Value, json};

use super::state::{Inner, PackAssignment, PolicyAssignment, SimUser, Token};
use super::{AlreadyAssigned, Simulator};

/// A request as the endpoints see it.
pub(crate) struct Req {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    /// The body parsed as JSON (`None` when empty or not JSON; see `body_error`).
    pub json: Option<Value>,
    pub raw: Vec<u8>,
}

/// An answer: status and JSON body.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    pub fn ok(data: Value) -> Self {
        Self {
            status: 200,
            body: json!({ "requestId": request_id(), "data": data }),
        }
    }

    pub fn detail(status: u16, detail: impl Into<Value>) -> Self {
        Self {
            status,
            body: json!({ "detail": detail.into() }),
        }
    }

    /// 422 in the `{"detail":[{loc,msg,type}]}` form.
    pub fn invalid(errors: Vec<Value>) -> Self {
        Self::detail(422, Value::Array(errors))
    }
}

type Res = Result<Reply, Reply>;

fn field_error(loc: &[Value], msg: &str, kind: &str) -> Value {
    let mut full = vec![json!("body")];
    full.extend_from_slice(loc);
    json!({ "loc": full, "msg": msg, "type": kind })
}

fn missing(loc: &[Value]) -> Value {
    field_error(loc, "field required", "value_error.missing")
}

/// A UUID-shaped request id.
pub(crate) fn request_id() -> String {
    let v = ulid::Ulid::generate().0;
    let h = format!("{v:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

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
        ["users", "v1", "users", id] if m == Method::DELETE => archive_user(sim, id),
        ["onboarding", "v1", "packs"] if m == Method::GET => get_packs(sim),
        ["onboarding", "v1", "packs", id, "assignments"] if m == Method::GET => {
            get_assignments(sim, id)
        }
        ["onboarding", "v1", "packs", id, "assignments"] if m == Method::POST => {
            assign_pack(sim, id, req)
        }
        ["time-off", "v1", "policy-types"] if m == Method::GET => get_policy_types(sim),
        ["time-off", "v1", "time-off-policies", id, "assignments"] if m == Method::PUT => {
            assign_policy(sim, id, req)
        }
        ["oauth", "v1", "token"]
        | ["users", "v1", "users"]
        | ["users", "v1", "users", _]
        | ["onboarding", "v1", "packs"]
        | ["onboarding", "v1", "packs", _, "assignments"]
        | ["time-off", "v1", "policy-types"]
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

fn query_error(name: &str, msg: &str, kind: &str) -> Reply {
    Reply::invalid(vec![
        json!({ "loc": ["query", name], "msg": msg, "type": kind }),
    ])
}

fn get_users(sim: &Simulator, req: &Req) -> Res {
    let mut ids: Vec<u64> = Vec::new();
    let mut emails: Vec<String> = Vec::new();
    let mut phones: Vec<String> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut status = "active".to_owned();
    let mut limit: usize = 10;
    let mut offset: usize = 0;
    let mut created_after: Option<i64> = None;
    let mut modified_after: Option<i64> = None;
    let mut desc = false;
    for (k, v) in url::form_urlencoded::parse(req.query.as_bytes()) {
        match k.as_ref() {
            _ if v.is_empty() && k != "userStatus" && k != "limit" && k != "offset" => {}
            "userIds" => ids.push(v.parse().map_err(|_| {
                query_error(
                    "userIds",
                    "value is not a valid integer",
                    "type_error.integer",
                )
            })?),
            "emailAddresses" => emails.push(v.to_lowercase()),
            "phoneNumbers" => phones.push(v.into_owned()),
            "fullNames" => names.push(v.into_owned()),
            "userStatus" => {
                if !matches!(v.as_ref(), "active" | "archived" | "all") {
                    return Err(query_error(
                        "userStatus",
                        "value is not a valid enumeration member; permitted: 'active', 'archived', 'all'",
                        "type_error.enum",
                    ));
                }
                status = v.into_owned();
            }
            "limit" => {
                limit = match v.parse::<i64>() {
                    Ok(n @ 1..=500) => n as usize,
                    _ => {
                        return Err(query_error(
                            "limit",
                            "ensure this value is between 1 and 500",
                            "value_error.number.not_in_range",
                        ));
                    }
                }
            }
            "offset" => {
                offset = match v.parse::<i64>() {
                    Ok(n @ 0..) => n as usize,
                    _ => {
                        return Err(query_error(
                            "offset",
                            "ensure this value is greater than or equal to 0",
                            "value_error.number.not_ge",
                        ));
                    }
                }
            }
            "createdAt" | "modifiedAt" => {
                let n = v.parse::<i64>().map_err(|_| {
                    query_error(&k, "value is not a valid integer", "type_error.integer")
                })?;
                if k == "createdAt" {
                    created_after = Some(n);
                } else {
                    modified_after = Some(n);
                }
            }
            "order" => desc = v == "desc",
            _ => {}
        }
    }
    let inner = sim.lock();
    let mut matched: Vec<&SimUser> = inner
        .users
        .values()
        .filter(|u| match status.as_str() {
            "active" => !u.is_archived,
            "archived" => u.is_archived,
            _ => true,
        })
        .filter(|u| ids.is_empty() || ids.contains(&u.user_id))
        .filter(|u| {
            emails.is_empty()
                || u.email
                    .as_ref()
                    .is_some_and(|e| emails.contains(&e.to_lowercase()))
        })
        .filter(|u| phones.is_empty() || phones.contains(&u.phone_number))
        .filter(|u| {
            names.is_empty() || names.contains(&format!("{} {}", u.first_name, u.last_name))
        })
        .filter(|u| created_after.is_none_or(|t| u.created_at >= t))
        .filter(|u| modified_after.is_none_or(|t| u.modified_at >= t))
        .collect();
    if desc {
        matched.reverse();
    }
    let total = matched.len();
    let page: Vec<&SimUser> = matched.into_iter().skip(offset).take(limit).collect();
    let mut body = json!({
        "requestId": request_id(),
        "data": { "users": page },
    });
    if offset.saturating_add(limit) < total {
        body["paging"] = json!({ "offset": offset + limit });
    }
    Ok(Reply { status: 200, body })
}

/// `+` then 8–15 digits.
fn valid_phone(p: &str) -> bool {
    p.strip_prefix('+')
        .is_some_and(|d| (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
}

fn valid_email(e: &str) -> bool {
    e.split_once('@').is_some_and(|(l, d)| {
        !l.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.')
    }) && !e.contains(char::is_whitespace)
}

/// The body as an array of 1..=25 objects, or a 422.
fn user_batch(req: &Req) -> Result<&Vec<Value>, Reply> {
    let Some(Value::Array(items)) = &req.json else {
        return Err(Reply::invalid(vec![field_error(
            &[],
            "value is not a valid list",
            "type_error.list",
        )]));
    };
    if items.is_empty() {
        return Err(Reply::invalid(vec![field_error(
            &[],
            "ensure this value has at least 1 items",
            "value_error.list.min_items",
        )]));
    }
    if items.len() > 25 {
        return Err(Reply::invalid(vec![field_error(
            &[],
            "ensure this value has at most 25 items",
            "value_error.list.max_items",
        )]));
    }
    Ok(items)
}

/// A string field: `Ok(None)` when absent (or null and `!required`), errors pushed otherwise.
fn str_field(
    item: &Value,
    i: usize,
    name: &str,
    required: bool,
    errors: &mut Vec<Value>,
) -> Option<String> {
    let loc = [json!(i), json!(name)];
    match item.get(name) {
        None | Some(Value::Null) if required => {
            errors.push(missing(&loc));
            None
        }
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if required && s.trim().is_empty() => {
            errors.push(field_error(
                &loc,
                "ensure this value has at least 1 characters",
                "value_error.any_str.min_length",
            ));
            None
        }
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            errors.push(field_error(&loc, "str type expected", "type_error.str"));
            None
        }
    }
}

fn check_phone_email(i: usize, phone: Option<&str>, email: Option<&str>, errors: &mut Vec<Value>) {
    if let Some(p) = phone
        && !valid_phone(p)
    {
        errors.push(field_error(
            &[json!(i), json!("phoneNumber")],
            "phone number must be '+' followed by 8 to 15 digits",
            "value_error.phone",
        ));
    }
    if let Some(e) = email
        && !valid_email(e)
    {
        errors.push(field_error(
            &[json!(i), json!("email")],
            "value is not a valid email address",
            "value_error.email",
        ));
    }
}

/// Every phone and email (lower-cased) must be unique across `users`.
fn uniqueness<'a>(users: impl Iterator<Item = &'a SimUser>) -> Result<(), Reply> {
    let mut phones = HashSet::new();
    let mut emails = HashSet::new();
    for u in users {
        if !phones.insert(u.phone_number.clone()) {
            return Err(Reply::detail(
                422,
                format!("A user with phone number {} already exists", u.phone_number),
            ));
        }
        if let Some(e) = &u.email
            && !emails.insert(e.to_lowercase())
        {
            return Err(Reply::detail(
                422,
                format!("A user with email {e} already exists"),
            ));
        }
    }
    Ok(())
}

fn create_users(sim: &Simulator, req: &Req) -> Res {
    let items = user_batch(req)?;
    let mut errors = Vec::new();
    let mut new = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if !item.is_object() {
            errors.push(field_error(
                &[json!(i)],
                "value is not a valid dict",
                "type_error.dict",
            ));
            continue;
        }
        let first = str_field(item, i, "firstName", true, &mut errors);
        let last = str_field(item, i, "lastName", true, &mut errors);
        let phone = str_field(item, i, "phoneNumber", true, &mut errors);
        let email = str_field(item, i, "email", false, &mut errors);
        let user_type = str_field(item, i, "userType", true, &mut errors);
        check_phone_email(i, phone.as_deref(), email.as_deref(), &mut errors);
        if let Some(t) = &user_type
            && t != "user"
        {
            errors.push(field_error(
                &[json!(i), json!("userType")],
                "value is not a valid enumeration member; permitted: 'user'",
                "type_error.enum",
            ));
        }
        if let (Some(f), Some(l), Some(p)) = (first, last, phone) {
            new.push((f, l, p, email));
        }
    }
    if !errors.is_empty() {
        return Err(Reply::invalid(errors));
    }
    let now = sim.now_epoch_secs();
    let mut inner = sim.lock();
    // Check duplicates against everyone (archived included) and within the batch.
    let candidates: Vec<SimUser> = new
        .iter()
        .map(|(f, l, p, e)| SimUser {
            user_id: 0,
            first_name: f.clone(),
            last_name: l.clone(),
            phone_number: p.clone(),
            email: e.clone(),
            user_type: "user".into(),
            custom_fields: Vec::new(),
            is_archived: false,
            created_at: now,
            modified_at: now,
        })
        .collect();
    uniqueness(inner.users.values().chain(candidates.iter()))?;
    let mut results = Vec::new();
    for (f, l, p, e) in &new {
        let id = inner.insert_user(f, l, p, e.as_deref(), false, now);
        results.push(inner.users[&id].clone());
    }
    Ok(Reply::ok(json!({ "results": results })))
}

fn update_users(sim: &Simulator, req: &Req) -> Res {
    let items = user_batch(req)?;
    let mut errors = Vec::new();
    let mut updates = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Some(id) = item.get("userId") else {
            errors.push(missing(&[json!(i), json!("userId")]));
            continue;
        };
        let Some(id) = id.as_u64() else {
            errors.push(field_error(
                &[json!(i), json!("userId")],
                "value is not a valid integer",
                "type_error.integer",
            ));
            continue;
        };
        let first = str_field(item, i, "firstName", false, &mut errors);
        let last = str_field(item, i, "lastName", false, &mut errors);
        let phone = str_field(item, i, "phoneNumber", false, &mut errors);
        let email = str_field(item, i, "email", false, &mut errors);
        check_phone_email(i, phone.as_deref(), email.as_deref(), &mut errors);
        let archived = match item.get("isArchived") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                errors.push(field_error(
                    &[json!(i), json!("isArchived")],
                    "value could not be parsed to a boolean",
                    "type_error.bool",
                ));
                None
            }
        };
        updates.push((id, first, last, phone, email, archived));
    }
    if !errors.is_empty() {
        return Err(Reply::invalid(errors));
    }
    let mut seen = HashSet::new();
    if let Some((id, ..)) = updates.iter().find(|u| !seen.insert(u.0)) {
        return Err(Reply::detail(422, format!("Duplicate userId {id}")));
    }
    let now = sim.now_epoch_secs();
    let mut inner = sim.lock();
    let mut users = inner.users.clone();
    for (id, first, last, phone, email, archived) in &updates {
        let Some(u) = users.get_mut(id) else {
            return Err(Reply::detail(404, "User not found"));
        };
        if let Some(v) = first {
            u.first_name = v.clone();
        }
        if let Some(v) = last {
            u.last_name = v.clone();
        }
        if let Some(v) = phone {
            u.phone_number = v.clone();
        }
        if let Some(v) = email {
            u.email = Some(v.clone());
        }
        if let Some(v) = archived {
            u.is_archived = *v;
        }
        u.modified_at = now;
    }
    uniqueness(users.values())?;
    let results: Vec<SimUser> = updates.iter().map(|u| users[&u.0].clone()).collect();
    inner.users = users;
    Ok(Reply::ok(json!({ "results": results })))
}

fn archive_user(sim: &Simulator, id: &str) -> Res {
    let id = parse_path_int(id, "userId")?;
    let now = sim.now_epoch_secs();
    let mut inner = sim.lock();
    let Some(u) = inner.users.get_mut(&id) else {
        return Err(Reply::detail(404, "User not found"));
    };
    if !u.is_archived {
        u.is_archived = true;
        u.modified_at = now;
    }
    Ok(Reply::ok(json!({})))
}

fn parse_path_int(s: &str, name: &str) -> Result<u64, Reply> {
    s.parse().map_err(|_| {
        Reply::invalid(vec![json!({
            "loc": ["path", name],
            "msg": "value is not a valid integer",
            "type": "type_error.integer",
        })])
    })
}

fn get_packs(sim: &Simulator) -> Res {
    let inner = sim.lock();
    let packs: Vec<_> = inner.packs.values().collect();
    Ok(Reply::ok(json!({ "packs": packs })))
}

fn get_assignments(sim: &Simulator, id: &str) -> Res {
    let id = parse_path_int(id, "packId")?;
    let inner = sim.lock();
    if !inner.packs.contains_key(&id) {
        return Err(Reply::detail(404, "Onboarding pack not found"));
    }
    let list: &[PackAssignment] = inner.assignments.get(&id).map_or(&[], |v| v);
    Ok(Reply::ok(json!({ "assignments": list })))
}

fn assign_pack(sim: &Simulator, id: &str, req: &Req) -> Res {
    let pack_id = parse_path_int(id, "packId")?;
    if !sim.lock().packs.contains_key(&pack_id) {
        return Err(Reply::detail(404, "Onboarding pack not found"));
    }
    let ids = match req.json.as_ref().and_then(|b| b.get("userIds")) {
        None | Some(Value::Null) => return Err(Reply::invalid(vec![missing(&[json!("userIds")])])),
        Some(Value::Array(a)) => {
            let mut ids = Vec::with_capacity(a.len());
            let mut errors = Vec::new();
            for (i, v) in a.iter().enumerate() {
                match v.as_u64() {
                    Some(n) => ids.push(n),
                    None => errors.push(field_error(
                        &[json!("userIds"), json!(i)],
                        "value is not a valid integer",
                        "type_error.integer",
                    )),
                }
            }
            if !errors.is_empty() {
                return Err(Reply::invalid(errors));
            }
            ids
        }
        Some(_) => {
            return Err(Reply::invalid(vec![field_error(
                &[json!("userIds")],
                "value is not a valid list",
                "type_error.list",
            )]));
        }
    };
    if ids.is_empty() {
        return Err(Reply::detail(422, "userIds must not be empty"));
    }
    if ids.len() > 500 {
        return Err(Reply::detail(
            422,
            format!(
                "At most 500 userIds per request are allowed, got {}",
                ids.len()
            ),
        ));
    }
    let mut seen = HashSet::new();
    let dups: BTreeSet<u64> = ids.iter().copied().filter(|i| !seen.insert(*i)).collect();
    if !dups.is_empty() {
        return Err(Reply::detail(
            422,
            format!("userIds contains duplicates: {}", join(&dups)),
        ));
    }
    let mut inner = sim.lock();
    let unknown: BTreeSet<u64> = ids
        .iter()
        .copied()
        .filter(|i| !inner.users.contains_key(i))
        .collect();
    if !unknown.is_empty() {
        return Err(Reply::detail(
            422,
            format!("Users not found: {}", join(&unknown)),
        ));
    }
    let assigned: HashSet<u64> = inner
        .assignments
        .get(&pack_id)
        .map(|a| a.iter().map(|a| a.user_id).collect())
        .unwrap_or_default();
    let already: BTreeSet<u64> = ids
        .iter()
        .copied()
        .filter(|i| assigned.contains(i))
        .collect();
    if !already.is_empty() && sim.shared.cfg.already_assigned == AlreadyAssigned::Reject {
        return Err(Reply::detail(
            422,
            format!("Users already assigned to this pack: {}", join(&already)),
        ));
    }
    for uid in ids.into_iter().filter(|i| !assigned.contains(i)) {
        let aid = inner.next_assignment_id;
        inner.next_assignment_id += 1;
        inner
            .assignments
            .entry(pack_id)
            .or_default()
            .push(PackAssignment {
                id: aid,
                user_id: uid,
                status: "in_progress",
                is_waiting_approval: false,
            });
    }
    Ok(Reply::ok(json!({})))
}

fn join(ids: &BTreeSet<u64>) -> String {
    ids.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn get_policy_types(sim: &Simulator) -> Res {
    let inner = sim.lock();
    Ok(Reply::ok(json!({ "policyTypes": inner.policy_types })))
}

fn assign_policy(sim: &Simulator, policy_id: &str, req: &Req) -> Res {
    let Some(body) = req.json.as_ref().filter(|b| b.is_object()) else {
        return Err(Reply::invalid(vec![field_error(
            &[],
            "value is not a valid dict",
            "type_error.dict",
        )]));
    };
    let mut errors = Vec::new();
    let user_id = match body.get("userId") {
        None | Some(Value::Null) => {
            errors.push(missing(&[json!("userId")]));
            None
        }
        Some(v) => match v.as_u64() {
            Some(n) => Some(n),
            None => {
                errors.push(field_error(
                    &[json!("userId")],
                    "value is not a valid integer",
                    "type_error.integer",
                ));
                None
            }
        },
    };
    let balance = match body.get("balance") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_f64() {
            Some(n) => Some(n),
            None => {
                errors.push(field_error(
                    &[json!("balance")],
                    "value is not a valid number",
                    "type_error.float",
                ));
                None
            }
        },
    };
    let unit = match body.get("unit") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s == "hours" || s == "days" => Some(s.clone()),
        Some(_) => {
            errors.push(field_error(
                &[json!("unit")],
                "value is not a valid enumeration member; permitted: 'hours', 'days'",
                "type_error.enum",
            ));
            None
        }
    };
    if balance.is_some() && unit.is_none() && body.get("unit").is_none_or(Value::is_null) {
        errors.push(field_error(
            &[json!("unit")],
            "unit is required when balance is set",
            "value_error.missing",
        ));
    }
    if !errors.is_empty() {
        return Err(Reply::invalid(errors));
    }
    let user_id = user_id.unwrap_or_default();
    let mut inner: std::sync::MutexGuard<'_, Inner> = sim.lock();
    let Some(type_id) = inner.policy_type_of(policy_id).map(|t| t.id.clone()) else {
        return Err(Reply::detail(404, "Policy not found"));
    };
    if !inner.users.contains_key(&user_id) {
        return Err(Reply::detail(404, "User not found"));
    }
    inner.policy_assignments.insert(
        (type_id, user_id),
        PolicyAssignment {
            policy_id: policy_id.to_owned(),
            balance,
            unit,
        },
    );
    Ok(Reply::ok(json!({})))
}
