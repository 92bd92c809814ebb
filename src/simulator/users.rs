//! `/users/v1/users`: lookups with Connecteam's filters and paging, all-or-nothing creates and
//! updates (custom fields included), archiving.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::custom_fields::{FieldChange, apply_changes, bool_query, custom_field_changes};
use super::reply::{
    Reply, Req, Res, field_error, missing, parse_path_int, query_error, request_id, valid_email,
    valid_phone,
};
use super::sim::Simulator;
use super::state::SimUser;

pub(crate) fn get_users(sim: &Simulator, req: &Req) -> Res {
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
    let page: Vec<Value> = matched
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|u| inner.user_json(u, true))
        .collect();
    let mut body = json!({
        "requestId": request_id(),
        "data": { "users": page },
    });
    if offset.saturating_add(limit) < total {
        body["paging"] = json!({ "offset": offset + limit });
    }
    Ok(Reply { status: 200, body })
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

pub(crate) fn create_users(sim: &Simulator, req: &Req) -> Res {
    let send_activation = bool_query(req, "sendActivation", false)?;
    let items = user_batch(req)?;
    let mut inner = sim.lock();
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
        let fields = custom_field_changes(&inner, item, i, None, &mut errors);
        if let (Some(f), Some(l), Some(p)) = (first, last, phone) {
            new.push((f, l, p, email, fields));
        }
    }
    if !errors.is_empty() {
        return Err(Reply::invalid(errors));
    }
    let now = sim.now_epoch_secs();
    // Check duplicates against everyone (archived included) and within the batch.
    let candidates: Vec<SimUser> = new
        .iter()
        .map(|(f, l, p, e, _)| SimUser {
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
    for (f, l, p, e, fields) in &new {
        let id = inner.insert_user(f, l, p, e.as_deref(), false, now);
        if let Some(u) = inner.users.get_mut(&id) {
            apply_changes(u, fields);
        }
        if send_activation {
            inner.activations.push(id);
        }
        results.push(inner.user_json(&inner.users[&id], true));
    }
    Ok(Reply::ok(json!({ "results": results })))
}

/// The per-item changes of a PUT: `(userId, firstName, lastName, phoneNumber, email,
/// isArchived, customFields)`.
type Update = (
    u64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<bool>,
    Vec<FieldChange>,
);

pub(crate) fn update_users(sim: &Simulator, req: &Req) -> Res {
    let with_groups = bool_query(req, "includeSmartGroupIds", true)?;
    // Accepted; items are still matched by `userId`.
    bool_query(req, "editUsersByPhone", false)?;
    let items = user_batch(req)?;
    let mut inner = sim.lock();
    let mut errors = Vec::new();
    let mut updates: Vec<Update> = Vec::new();
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
        let fields = custom_field_changes(&inner, item, i, Some(id), &mut errors);
        updates.push((id, first, last, phone, email, archived, fields));
    }
    if !errors.is_empty() {
        return Err(Reply::invalid(errors));
    }
    let mut seen = HashSet::new();
    if let Some((id, ..)) = updates.iter().find(|u| !seen.insert(u.0)) {
        return Err(Reply::detail(422, format!("Duplicate userId {id}")));
    }
    let now = sim.now_epoch_secs();
    let mut users = inner.users.clone();
    for (id, first, last, phone, email, archived, fields) in &updates {
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
        apply_changes(u, fields);
        u.modified_at = now;
    }
    uniqueness(users.values())?;
    inner.users = users;
    let results: Vec<Value> = updates
        .iter()
        .map(|u| inner.user_json(&inner.users[&u.0], with_groups))
        .collect();
    Ok(Reply::ok(json!({ "results": results })))
}

/// `DELETE /users/v1/users/{userId}?deletionType=archive|delete`.
pub(crate) fn archive_user(sim: &Simulator, id: &str, req: &Req) -> Res {
    let id = parse_path_int(id, "userId")?;
    let permanent = deletion_type(req)?;
    if !sim.lock().users.contains_key(&id) {
        return Err(Reply::detail(404, "User not found"));
    }
    delete_or_archive(sim, &[id], permanent)?;
    Ok(Reply::ok(json!({ "success": true })))
}

/// `DELETE /users/v1/users?deletionType=archive|delete` with a JSON array of userIds: all or
/// nothing (an unknown id is a 404 naming every unknown one, and nothing changes). `delete`
/// removes users for good, at most 25 per request.
pub(crate) fn archive_users(sim: &Simulator, req: &Req) -> Res {
    let permanent = deletion_type(req)?;
    let ids = match req.json.as_ref() {
        Some(Value::Array(a)) => {
            let mut ids = Vec::with_capacity(a.len());
            let mut errors = Vec::new();
            for (i, v) in a.iter().enumerate() {
                match v.as_u64() {
                    Some(n) if n >= 1 => ids.push(n),
                    Some(_) => errors.push(field_error(
                        &[json!(i)],
                        "ensure this value is greater than or equal to 1",
                        "value_error.number.not_ge",
                    )),
                    None => errors.push(field_error(
                        &[json!(i)],
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
        None => return Err(Reply::invalid(vec![missing(&[])])),
        Some(_) => {
            return Err(Reply::invalid(vec![field_error(
                &[],
                "value is not a valid list",
                "type_error.list",
            )]));
        }
    };
    if ids.is_empty() {
        return Err(Reply::detail(422, "the list of userIds must not be empty"));
    }
    if permanent && ids.len() > 25 {
        return Err(Reply::detail(
            422,
            format!(
                "Permanent deletion is limited to 25 users per request, got {}",
                ids.len()
            ),
        ));
    }
    let mut seen = HashSet::new();
    if let Some(dup) = ids.iter().find(|i| !seen.insert(**i)) {
        return Err(Reply::detail(422, format!("Duplicate userId {dup}")));
    }
    delete_or_archive(sim, &ids, permanent)?;
    Ok(Reply::ok(json!({ "success": true })))
}

/// `deletionType` (default `archive`): whether the deletion is permanent.
fn deletion_type(req: &Req) -> Result<bool, Reply> {
    let mut permanent = false;
    for (k, v) in url::form_urlencoded::parse(req.query.as_bytes()) {
        if k == "deletionType" {
            permanent = match v.as_ref() {
                "archive" => false,
                "delete" => true,
                _ => {
                    return Err(query_error(
                        "deletionType",
                        "value is not a valid enumeration member; permitted: 'archive', 'delete'",
                        "type_error.enum",
                    ));
                }
            };
        }
    }
    Ok(permanent)
}

fn delete_or_archive(sim: &Simulator, ids: &[u64], permanent: bool) -> Result<(), Reply> {
    let now = sim.now_epoch_secs();
    let mut inner = sim.lock();
    let unknown: Vec<String> = ids
        .iter()
        .filter(|id| !inner.users.contains_key(id))
        .map(u64::to_string)
        .collect();
    if !unknown.is_empty() {
        return Err(Reply::detail(
            404,
            format!("Users not found: {}", unknown.join(", ")),
        ));
    }
    for id in ids {
        if permanent {
            inner.users.remove(id);
            for list in inner.assignments.values_mut() {
                list.retain(|a| a.user_id != *id);
            }
            inner.policy_assignments.retain(|(_, u), _| u != id);
            inner.permanently_deleted.push(*id);
        } else if let Some(u) = inner.users.get_mut(id)
            && !u.is_archived
        {
            u.is_archived = true;
            u.modified_at = now;
        }
    }
    Ok(())
}
