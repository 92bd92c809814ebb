//! `/users/v1/custom-fields` and `/users/v1/smart-groups`, and the validation of the
//! `customFields` that user creates and updates carry.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::reply::{
    Reply, Req, Res, field_error, missing, query_error, request_id, valid_email, valid_phone,
};
use super::sim::Simulator;
use super::state::{Inner, SimCustomField, SimUser};

/// The custom field types Connecteam knows (`UserCustomFields`).
const FIELD_TYPES: [&str; 11] = [
    "email",
    "date",
    "phone",
    "number",
    "str",
    "dropdown",
    "file",
    "directManager",
    "birthday",
    "link",
    "location",
];

/// `GET /users/v1/custom-fields`: filters `customFieldIds`, `categoryIds`, `customFieldNames`,
/// `customFieldTypes` (repeated keys; OR within a key, AND across keys), `limit` 1–500
/// (default 10), `offset`. Ordered by id; `paging` only when more remain.
pub(crate) fn get_custom_fields(sim: &Simulator, req: &Req) -> Res {
    let mut ids: Vec<u64> = Vec::new();
    let mut categories: Vec<u64> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut types: Vec<String> = Vec::new();
    let mut limit: usize = 10;
    let mut offset: usize = 0;
    for (k, v) in url::form_urlencoded::parse(req.query.as_bytes()) {
        match k.as_ref() {
            _ if v.is_empty() && k != "limit" && k != "offset" => {}
            "customFieldIds" | "categoryIds" => {
                let n = v.parse().map_err(|_| {
                    query_error(&k, "value is not a valid integer", "type_error.integer")
                })?;
                if k == "customFieldIds" {
                    ids.push(n);
                } else {
                    categories.push(n);
                }
            }
            "customFieldNames" => names.push(v.into_owned()),
            "customFieldTypes" => {
                if !FIELD_TYPES.contains(&v.as_ref()) {
                    let permitted: Vec<String> =
                        FIELD_TYPES.iter().map(|t| format!("'{t}'")).collect();
                    return Err(query_error(
                        "customFieldTypes",
                        &format!(
                            "value is not a valid enumeration member; permitted: {}",
                            permitted.join(", ")
                        ),
                        "type_error.enum",
                    ));
                }
                types.push(v.into_owned());
            }
            "limit" => limit = parse_limit(&v)?,
            "offset" => offset = parse_offset(&v)?,
            _ => {}
        }
    }
    let inner = sim.lock();
    let matched: Vec<&SimCustomField> = inner
        .custom_fields
        .values()
        .filter(|f| ids.is_empty() || ids.contains(&f.id))
        .filter(|f| categories.is_empty() || categories.contains(&f.category_id))
        .filter(|f| names.is_empty() || names.contains(&f.name))
        .filter(|f| types.is_empty() || types.contains(&f.kind))
        .collect();
    let total = matched.len();
    let page: Vec<&SimCustomField> = matched.into_iter().skip(offset).take(limit).collect();
    let mut body = json!({
        "requestId": request_id(),
        "data": { "customFields": page },
    });
    if offset.saturating_add(limit) < total {
        body["paging"] = json!({ "offset": offset + limit });
    }
    Ok(Reply { status: 200, body })
}

fn parse_limit(v: &str) -> Result<usize, Reply> {
    match v.parse::<i64>() {
        Ok(n @ 1..=500) => Ok(n as usize),
        _ => Err(query_error(
            "limit",
            "ensure this value is between 1 and 500",
            "value_error.number.not_in_range",
        )),
    }
}

fn parse_offset(v: &str) -> Result<usize, Reply> {
    match v.parse::<i64>() {
        Ok(n @ 0..) => Ok(n as usize),
        _ => Err(query_error(
            "offset",
            "ensure this value is greater than or equal to 0",
            "value_error.number.not_ge",
        )),
    }
}

/// `GET /users/v1/smart-groups`, optionally filtered by `id` and `name` (exact). Each group
/// shows `{id, name, groupSegmentId, numberOfUsers}` (members who are not archived).
pub(crate) fn get_smart_groups(sim: &Simulator, req: &Req) -> Res {
    let mut id: Option<u64> = None;
    let mut name: Option<String> = None;
    for (k, v) in url::form_urlencoded::parse(req.query.as_bytes()) {
        match k.as_ref() {
            _ if v.is_empty() => {}
            "id" => {
                id = Some(v.parse().map_err(|_| {
                    query_error("id", "value is not a valid integer", "type_error.integer")
                })?);
            }
            "name" => name = Some(v.into_owned()),
            _ => {}
        }
    }
    let inner = sim.lock();
    let groups: Vec<Value> = inner
        .smart_groups
        .iter()
        .filter(|g| id.is_none_or(|id| g.id == id))
        .filter(|g| name.as_ref().is_none_or(|n| g.name == *n))
        .map(|g| {
            let members = inner
                .users
                .values()
                .filter(|u| !u.is_archived && inner.smart_groups_of(u).iter().any(|m| m.id == g.id))
                .count();
            json!({
                "id": g.id,
                "name": g.name,
                "groupSegmentId": 1,
                "numberOfUsers": members,
            })
        })
        .collect();
    Ok(Reply::ok(json!({ "groups": groups })))
}

/// A boolean query parameter (`true` or `false`), `default` when absent; the last one wins
/// when repeated. Anything else is a 422 query error.
pub(crate) fn bool_query(req: &Req, name: &str, default: bool) -> Result<bool, Reply> {
    let mut value = default;
    for (k, v) in url::form_urlencoded::parse(req.query.as_bytes()) {
        if k == name {
            value = match v.as_ref() {
                "true" => true,
                "false" => false,
                _ => {
                    return Err(query_error(
                        name,
                        "value could not be parsed to a boolean",
                        "type_error.bool",
                    ));
                }
            };
        }
    }
    Ok(value)
}

/// One validated custom field write: the field id and the entry the user will show
/// (`{customFieldId, value, type, name}`), or `None` to clear the field.
pub(crate) type FieldChange = (u64, Option<Value>);

/// Validates item `i`'s `customFields` against the account's definitions and users, pushing
/// errors located at `["body", i, "customFields", j, …]`. `self_id` is the user being updated
/// (a user cannot be its own direct manager).
pub(crate) fn custom_field_changes(
    inner: &Inner,
    item: &Value,
    i: usize,
    self_id: Option<u64>,
    errors: &mut Vec<Value>,
) -> Vec<FieldChange> {
    let entries = match item.get("customFields") {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::Array(a)) => a,
        Some(_) => {
            errors.push(field_error(
                &[json!(i), json!("customFields")],
                "value is not a valid list",
                "type_error.list",
            ));
            return Vec::new();
        }
    };
    let mut seen = HashSet::new();
    let mut changes = Vec::new();
    for (j, entry) in entries.iter().enumerate() {
        let at = |rest: &[Value]| {
            let mut loc = vec![json!(i), json!("customFields"), json!(j)];
            loc.extend_from_slice(rest);
            loc
        };
        if !entry.is_object() {
            errors.push(field_error(
                &at(&[]),
                "value is not a valid dict",
                "type_error.dict",
            ));
            continue;
        }
        let id_loc = at(&[json!("customFieldId")]);
        let id = match entry.get("customFieldId") {
            None | Some(Value::Null) => {
                errors.push(missing(&id_loc));
                None
            }
            Some(Value::Number(n)) if n.as_u64() == Some(0) => {
                errors.push(field_error(
                    &id_loc,
                    "ensure this value is greater than or equal to 1",
                    "value_error.number.not_ge",
                ));
                None
            }
            Some(v) => match v.as_u64() {
                Some(id) => Some(id),
                None => {
                    errors.push(field_error(
                        &id_loc,
                        "value is not a valid integer",
                        "type_error.integer",
                    ));
                    None
                }
            },
        };
        let value_loc = at(&[json!("value")]);
        let Some(value) = entry.get("value") else {
            errors.push(missing(&value_loc));
            continue;
        };
        let Some(id) = id else { continue };
        let Some(field) = inner.custom_fields.get(&id) else {
            errors.push(field_error(
                &id_loc,
                &format!("custom field {id} does not exist"),
                "value_error.custom_field.not_found",
            ));
            continue;
        };
        if !seen.insert(id) {
            errors.push(field_error(
                &id_loc,
                &format!("custom field {id} is given more than once"),
                "value_error.custom_field.duplicate",
            ));
            continue;
        }
        if value.is_null() {
            changes.push((id, None));
            continue;
        }
        let Some(shown) = shown_value(inner, field, value, self_id, &value_loc, errors) else {
            continue;
        };
        // An empty dropdown selection clears the field.
        if shown.as_array().is_some_and(Vec::is_empty) {
            changes.push((id, None));
            continue;
        }
        changes.push((
            id,
            Some(json!({
                "customFieldId": id,
                "value": shown,
                "type": field.kind,
                "name": field.name,
            })),
        ));
    }
    changes
}

/// The value as users show it, or `None` with an error pushed at `loc`.
fn shown_value(
    inner: &Inner,
    field: &SimCustomField,
    value: &Value,
    self_id: Option<u64>,
    loc: &[Value],
    errors: &mut Vec<Value>,
) -> Option<Value> {
    let mut fail = |loc: &[Value], msg: &str, kind: &str| {
        errors.push(field_error(loc, msg, kind));
        None
    };
    let as_str = value.as_str();
    match field.kind.as_str() {
        "str" | "email" | "phone" | "link" | "date" if as_str.is_none() => {
            fail(loc, "str type expected", "type_error.str")
        }
        "str" => Some(value.clone()),
        "email" if !as_str.is_some_and(valid_email) => fail(
            loc,
            "value is not a valid email address",
            "value_error.email",
        ),
        "phone" if !as_str.is_some_and(valid_phone) => fail(
            loc,
            "phone number must be '+' followed by 8 to 15 digits",
            "value_error.phone",
        ),
        "link" if !as_str.is_some_and(valid_link) => fail(
            loc,
            "invalid or missing URL scheme (http:// or https://)",
            "value_error.url.scheme",
        ),
        "date" if !as_str.is_some_and(valid_date) => fail(
            loc,
            "invalid date, expected a calendar date as DD/MM/YYYY",
            "value_error.date",
        ),
        "email" | "phone" | "link" | "date" => Some(value.clone()),
        "number" if value.is_number() => Some(value.clone()),
        "number" => fail(loc, "value is not a valid number", "type_error.number"),
        "dropdown" => dropdown_value(field, value, loc, errors),
        "directManager" => {
            let Some(manager) = value.as_u64() else {
                return fail(loc, "value is not a valid integer", "type_error.integer");
            };
            match inner.users.get(&manager) {
                None => fail(
                    loc,
                    &format!("user {manager} not found"),
                    "value_error.direct_manager.not_found",
                ),
                Some(u) if u.is_archived => fail(
                    loc,
                    &format!("user {manager} is archived"),
                    "value_error.direct_manager.archived",
                ),
                Some(_) if self_id == Some(manager) => fail(
                    loc,
                    "a user cannot be their own direct manager",
                    "value_error.direct_manager.self",
                ),
                Some(_) => Some(json!(manager)),
            }
        }
        other => fail(
            loc,
            &format!("custom fields of type {other} cannot be set through this endpoint"),
            "value_error.custom_field.type",
        ),
    }
}

/// A dropdown selection `[{"id": n}, …]` as users show it (`[{id, value}]`, in the order
/// given), or `None` with errors pushed.
fn dropdown_value(
    field: &SimCustomField,
    value: &Value,
    loc: &[Value],
    errors: &mut Vec<Value>,
) -> Option<Value> {
    let Some(picked) = value.as_array() else {
        errors.push(field_error(
            loc,
            "value is not a valid list",
            "type_error.list",
        ));
        return None;
    };
    let multi = field.is_multi_select == Some(true);
    if !multi && picked.len() > 1 {
        errors.push(field_error(
            loc,
            "a single-select dropdown takes at most one option",
            "value_error.dropdown.single_select",
        ));
        return None;
    }
    let before = errors.len();
    let mut seen = HashSet::new();
    let mut shown = Vec::new();
    for (k, p) in picked.iter().enumerate() {
        let mut at = loc.to_vec();
        at.push(json!(k));
        let Some(id) = p.get("id").and_then(Value::as_u64) else {
            at.push(json!("id"));
            let (msg, kind) = match p.get("id") {
                None | Some(Value::Null) => ("field required", "value_error.missing"),
                Some(_) => ("value is not a valid integer", "type_error.integer"),
            };
            errors.push(field_error(&at, msg, kind));
            continue;
        };
        let (msg, kind) = match field.option(id) {
            None => (
                format!("option {id} does not exist in custom field {}", field.id),
                "value_error.dropdown.option_not_found",
            ),
            Some(o) if o.is_deleted => (
                format!("option {id} of custom field {} is deleted", field.id),
                "value_error.dropdown.option_deleted",
            ),
            Some(o) if o.is_disabled => (
                format!("option {id} of custom field {} is disabled", field.id),
                "value_error.dropdown.option_disabled",
            ),
            Some(_) if !seen.insert(id) => (
                format!("option {id} is given more than once"),
                "value_error.dropdown.duplicate",
            ),
            Some(o) => {
                shown.push(json!({ "id": o.id, "value": o.value }));
                continue;
            }
        };
        errors.push(field_error(&at, &msg, kind));
    }
    (errors.len() == before).then_some(Value::Array(shown))
}

/// `http://` or `https://` followed by something, without whitespace.
fn valid_link(s: &str) -> bool {
    ["http://", "https://"]
        .iter()
        .any(|p| s.strip_prefix(p).is_some_and(|rest| !rest.is_empty()))
        && !s.contains(char::is_whitespace)
}

/// `DD/MM/YYYY` naming a real calendar date (year 1 to 9999).
pub(crate) fn valid_date(s: &str) -> bool {
    let b = s.as_bytes();
    let shape = b.len() == 10
        && b.iter().enumerate().all(|(k, c)| match k {
            2 | 5 => *c == b'/',
            _ => c.is_ascii_digit(),
        });
    if !shape {
        return false;
    }
    // All ASCII from here, so byte slicing is safe.
    let num = |r: std::ops::Range<usize>| s[r].parse::<u32>().unwrap_or(0);
    let (day, month, year) = (num(0..2), num(3..5), num(6..10));
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    year >= 1 && (1..=days).contains(&day)
}

/// Applies validated changes to `u`: a named field is replaced or cleared, the others are
/// kept; entries stay ordered by `customFieldId`.
pub(crate) fn apply_changes(u: &mut SimUser, changes: &[FieldChange]) {
    for (id, entry) in changes {
        u.custom_fields
            .retain(|cf| cf["customFieldId"].as_u64() != Some(*id));
        if let Some(e) = entry {
            u.custom_fields.push(e.clone());
        }
    }
    u.custom_fields
        .sort_by_key(|cf| cf["customFieldId"].as_u64().unwrap_or(0));
}
