//! What both backends share of committing an intake batch in one round trip: which
//! operations go with which event, and telling each event's fate from what the store holds
//! under its dedupe key.
//!
//! Group commit makes one transaction carry many webhooks; what is left to pay per transaction
//! is the fsync and the round trips. Under load every round trip costs two thread wake-ups on
//! a busy machine, so a batch is written with exactly one (`Dialect::write_batch`: one SQLite
//! script, one PostgreSQL statement).
//!
//! The read-back tells each event's fate: the row stored under its `(source, dedupe_key)` is
//! its own (accepted), or an earlier one with the same fingerprint (duplicate) or another
//! (conflict). Keys not seen in the batch's own snapshot (stored by a concurrent transaction
//! of another replica) are looked up once more afterwards.

use std::collections::HashMap;

use super::model::{IntakeOutcome, NewEvent, NewOperation};

/// What the store holds under one dedupe key: the event id and the body's fingerprint.
pub(crate) type Stored = HashMap<(String, String), (String, String)>;

/// Read one key again (outside the batch's snapshot).
pub(crate) const STORED_UNDER_KEY: &str =
    "SELECT id, source, dedupe_key, fingerprint FROM events WHERE source = $1 AND dedupe_key = $2";

/// The operations of a batch, each with its event and its place in the event.
pub(crate) fn operations_of(events: &[NewEvent]) -> Vec<(&NewEvent, i64, &NewOperation)> {
    events
        .iter()
        .flat_map(|e| {
            e.operations
                .iter()
                .enumerate()
                .map(move |(i, op)| (e, i64::try_from(i).unwrap_or(i64::MAX), op))
        })
        .collect()
}

/// Each event's outcome from what the store holds under its key; `Err` lists the events
/// whose key was not seen (stored by a concurrent transaction after the read's snapshot).
pub(crate) fn classify(
    events: &[NewEvent],
    stored: &Stored,
) -> Result<Vec<IntakeOutcome>, Vec<usize>> {
    let mut missing = Vec::new();
    let outcomes = events
        .iter()
        .enumerate()
        .map(|(i, ev)| {
            match stored.get(&(ev.source.clone(), ev.dedupe_key.clone())) {
                Some((id, _)) if *id == ev.id => IntakeOutcome::Accepted {
                    event_id: id.clone(),
                },
                Some((id, fp)) if *fp == ev.fingerprint => IntakeOutcome::Duplicate {
                    event_id: id.clone(),
                },
                Some((id, _)) => IntakeOutcome::Conflict {
                    event_id: id.clone(),
                },
                None => {
                    missing.push(i);
                    // Placeholder, replaced once the key has been read again.
                    IntakeOutcome::Conflict {
                        event_id: String::new(),
                    }
                }
            }
        })
        .collect();
    if missing.is_empty() {
        Ok(outcomes)
    } else {
        Err(missing)
    }
}

/// Read the rows of a read-back into `stored`.
pub(crate) fn collect_stored<R: sqlx::Row>(
    rows: &[R],
    stored: &mut Stored,
) -> Result<(), sqlx::Error>
where
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> &'r str: sqlx::ColumnIndex<R>,
{
    for row in rows {
        stored.insert(
            (row.try_get("source")?, row.try_get("dedupe_key")?),
            (row.try_get("id")?, row.try_get("fingerprint")?),
        );
    }
    Ok(())
}
