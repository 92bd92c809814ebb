//! `/time-off/v1`: policy types and one-user policy assignments.

use serde_json::{Value, json};

use super::reply::{Reply, Req, Res, field_error, missing};
use super::sim::Simulator;
use super::state::{Inner, PolicyAssignment};

pub(crate) fn get_policy_types(sim: &Simulator) -> Res {
    let inner = sim.lock();
    Ok(Reply::ok(json!({ "policyTypes": inner.policy_types })))
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
