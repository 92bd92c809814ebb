//! `/time-off/v1`: policy types and one-user policy assignments.

use serde_json::{Value, json};

use super::reply::{Reply, Req, Res, field_error, missing, query_error};
use super::sim::Simulator;
use super::state::{Inner, PolicyAssignment};

pub(crate) fn get_policy_types(sim: &Simulator) -> Res {
    let inner = sim.lock();
    Ok(Reply::ok(json!({ "policyTypes": inner.policy_types })))
}

/// The balances of one policy type: every user holding one of its policies (filtered by
/// `userIds`), paged by `limit` (1..=100, default 10) and `offset`. A policy assigned
/// without a balance has a balance of 0.
pub(crate) fn get_balances(sim: &Simulator, type_id: &str, req: &Req) -> Res {
    let mut ids: Vec<u64> = Vec::new();
    let (mut limit, mut offset) = (10usize, 0usize);
    for (k, v) in url::form_urlencoded::parse(req.query.as_bytes()) {
        let int = |name: &str| {
            v.parse::<usize>().map_err(|_| {
                query_error(name, "value is not a valid integer", "type_error.integer")
            })
        };
        match k.as_ref() {
            "userIds" => ids.push(int("userIds")? as u64),
            "limit" => match int("limit")? {
                n @ 1..=100 => limit = n,
                _ => {
                    return Err(query_error(
                        "limit",
                        "ensure this value is between 1 and 100",
                        "value_error.number.not_in_range",
                    ));
                }
            },
            "offset" => offset = int("offset")?,
            _ => {}
        }
    }
    let inner = sim.lock();
    let Some(policy_type) = inner.policy_types.iter().find(|t| t.id == type_id) else {
        return Err(Reply::detail(404, "Policy type not found"));
    };
    let balances: Vec<Value> = inner
        .policy_assignments
        .iter()
        .filter(|((t, user), _)| t == type_id && (ids.is_empty() || ids.contains(user)))
        .map(|((_, user), a)| {
            let unit = policy_type
                .policies
                .iter()
                .find(|p| p.id == a.policy_id)
                .map(|p| p.unit.clone());
            json!({
                "userId": user,
                "policyId": a.policy_id,
                "balance": a.balance.unwrap_or(0.0),
                "units": a.unit.clone().or(unit),
            })
        })
        .collect();
    let total = balances.len();
    let page: Vec<Value> = balances.into_iter().skip(offset).take(limit).collect();
    let next = offset + page.len();
    let mut reply = Reply::ok(json!({ "balances": page }));
    if next < total {
        reply.body["paging"] = json!({ "offset": next });
    } else {
        reply.body["paging"] = json!({});
    }
    Ok(reply)
}

pub(crate) fn assign_policy(sim: &Simulator, policy_id: &str, req: &Req) -> Res {
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
