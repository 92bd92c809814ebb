//! `/onboarding/v1/packs`: packs and their all-or-nothing assignments.

use std::collections::{BTreeSet, HashSet};

use serde_json::{Value, json};

use super::model::AlreadyAssigned;
use super::reply::{Reply, Req, Res, field_error, missing, parse_path_int};
use super::sim::Simulator;
use super::state::PackAssignment;

pub(crate) fn get_packs(sim: &Simulator) -> Res {
    let inner = sim.lock();
    let packs: Vec<_> = inner.packs.values().collect();
    Ok(Reply::ok(json!({ "packs": packs })))
}

pub(crate) fn get_assignments(sim: &Simulator, id: &str) -> Res {
    let id = parse_path_int(id, "packId")?;
    let inner = sim.lock();
    if !inner.packs.contains_key(&id) {
        return Err(Reply::detail(404, "Onboarding pack not found"));
    }
    let list: &[PackAssignment] = inner.assignments.get(&id).map_or(&[], |v| v);
    Ok(Reply::ok(json!({ "assignments": list })))
}

pub(crate) fn assign_pack(sim: &Simulator, id: &str, req: &Req) -> Res {
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
