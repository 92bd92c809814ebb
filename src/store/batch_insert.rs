//! Committing a batch of events in ONE round trip to the database.
//!
//! Group commit makes one transaction carry many webhooks; what is left to pay per transaction
//! is the fsync and the round trips. Under load every round trip costs two thread wake-ups on
//! a busy machine, so a batch is written with exactly one: on SQLite one script (`BEGIN
//! IMMEDIATE`, the events, their operations, the read-back, `COMMIT`), on PostgreSQL one
//! statement whose common table expressions insert the events and their operations (a single
//! statement is its own transaction).
//!
//! The read-back tells each event's fate: the row stored under its `(source, dedupe_key)` is
//! its own (accepted), or an earlier one with the same fingerprint (duplicate) or another
//! (conflict). On PostgreSQL the statement returns only the rows it inserted; the keys of
//! repeats (and of events another replica committed meanwhile, which the statement's snapshot
//! cannot see) are looked up afterwards.

use std::collections::HashMap;

use super::{IntakeOutcome, NewEvent, NewOperation, StoreError};

/// Events per SQLite script, so that the bound parameters (10 per event, 8 per operation,
/// 2 per read-back) stay far below SQLite's 32,766 even with several operations per event.
pub(crate) const SQLITE_EVENTS_PER_SCRIPT: usize = 512;

/// What the store holds under one dedupe key: the event id and the body's fingerprint.
pub(crate) type Stored = HashMap<(String, String), (String, String)>;

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

/// Read one key again (outside the batch's snapshot) and add it to `stored`.
pub(crate) const STORED_UNDER_KEY: &str =
    "SELECT id, source, dedupe_key, fingerprint FROM events WHERE source = $1 AND dedupe_key = $2";

/// The whole insert of a PostgreSQL batch: events and operations arrive as parallel arrays
/// (one prepared statement whatever the batch size), operations are inserted only for the
/// events this statement inserted, and the answer is the rows it inserted. The keys that were
/// there already (repeats: rare) are read afterwards, one by one. Reading them here with a
/// join would do it for every batch, and the plan PostgreSQL caches for a prepared statement
/// (made while the table was small) scans the whole table to do it.
pub(crate) const PG_INSERT_BATCH: &str = "WITH v AS (
    SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                         $6::int8[], $7::text[], $8::text[], $9::text[])
        AS v(id, source, dedupe_key, fingerprint, status, received_at, hire, plan, rules_version)
  ), ins AS (
    INSERT INTO events (id, source, dedupe_key, fingerprint, status, received_at, updated_at,
                        hire, plan, rules_version)
    SELECT id, source, dedupe_key, fingerprint, status, received_at, received_at,
           hire, plan, rules_version FROM v
    ON CONFLICT (source, dedupe_key) DO NOTHING
    RETURNING id, source, dedupe_key, fingerprint
  ), ops AS (
    INSERT INTO operations (event_id, seq, kind, target, params, status, attempts,
                            next_attempt_at, idempotency_key, created_at, updated_at)
    SELECT o.event_id, o.seq, o.kind, o.target, o.params, o.status, 0, o.at, o.key, o.at, o.at
      FROM UNNEST($10::text[], $11::int8[], $12::text[], $13::text[], $14::text[],
                  $15::text[], $16::int8[], $17::text[])
           AS o(event_id, seq, kind, target, params, status, at, key)
     WHERE o.event_id IN (SELECT id FROM ins)
  )
  SELECT id, source, dedupe_key, fingerprint FROM ins";

/// Write the SQLite script for `chunk` into `qb`: insert the events, insert the operations
/// of those that were new (an event id exists only if this script inserted it: ids are
/// fresh), read back what is stored under each key.
pub(crate) fn sqlite_script(
    qb: &mut sqlx::QueryBuilder<sqlx::Sqlite>,
    chunk: &[NewEvent],
    first: bool,
    last: bool,
) {
    if first {
        qb.push("BEGIN IMMEDIATE; ");
    }
    qb.push(
        "INSERT INTO events (id, source, dedupe_key, fingerprint, status, received_at, updated_at, hire, plan, rules_version) ",
    );
    qb.push_values(chunk, |mut b, ev| {
        b.push_bind(ev.id.as_str())
            .push_bind(ev.source.as_str())
            .push_bind(ev.dedupe_key.as_str())
            .push_bind(ev.fingerprint.as_str())
            .push_bind(ev.status.as_str())
            .push_bind(ev.received_at_ms)
            .push_bind(ev.received_at_ms)
            .push_bind(ev.hire.as_str())
            .push_bind(ev.plan.as_deref())
            .push_bind(ev.rules_version.as_deref());
    });
    qb.push(" ON CONFLICT (source, dedupe_key) DO NOTHING; ");
    let ops = operations_of(chunk);
    if !ops.is_empty() {
        qb.push(
            "INSERT INTO operations (event_id, seq, kind, target, params, status, attempts, next_attempt_at, idempotency_key, created_at, updated_at) \
             SELECT column1, column2, column3, column4, column5, column6, 0, column7, column8, column7, column7 FROM (",
        );
        qb.push_values(ops, |mut b, (ev, seq, op)| {
            b.push_bind(ev.id.as_str())
                .push_bind(seq)
                .push_bind(op.kind.as_str())
                .push_bind(op.target.as_str())
                .push_bind(op.params.to_string())
                .push_bind(op.status.as_str())
                .push_bind(ev.received_at_ms)
                .push_bind(op.idempotency_key.as_str());
        });
        qb.push(") WHERE EXISTS (SELECT 1 FROM events e WHERE e.id = column1); ");
    }
    qb.push("SELECT e.id, e.source, e.dedupe_key, e.fingerprint FROM (");
    qb.push_values(chunk, |mut b, ev| {
        b.push_bind(ev.source.as_str())
            .push_bind(ev.dedupe_key.as_str());
    });
    qb.push(") AS k JOIN events e ON e.source = k.column1 AND e.dedupe_key = k.column2");
    if last {
        qb.push("; COMMIT");
    }
}

/// The arrays [`PG_INSERT_BATCH`] binds, column by column.
pub(crate) fn pg_insert_batch(
    events: &[NewEvent],
) -> sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments> {
    let ops = operations_of(events);
    let col = |f: fn(&NewEvent) -> &str| events.iter().map(f).collect::<Vec<&str>>();
    sqlx::query(PG_INSERT_BATCH)
        .bind(col(|e| &e.id))
        .bind(col(|e| &e.source))
        .bind(col(|e| &e.dedupe_key))
        .bind(col(|e| &e.fingerprint))
        .bind(col(|e| e.status.as_str()))
        .bind(
            events
                .iter()
                .map(|e| e.received_at_ms)
                .collect::<Vec<i64>>(),
        )
        .bind(col(|e| &e.hire))
        .bind(
            events
                .iter()
                .map(|e| e.plan.as_deref())
                .collect::<Vec<Option<&str>>>(),
        )
        .bind(
            events
                .iter()
                .map(|e| e.rules_version.clone())
                .collect::<Vec<Option<String>>>(),
        )
        .bind(
            ops.iter()
                .map(|(e, _, _)| e.id.as_str())
                .collect::<Vec<&str>>(),
        )
        .bind(ops.iter().map(|(_, seq, _)| *seq).collect::<Vec<i64>>())
        .bind(
            ops.iter()
                .map(|(_, _, o)| o.kind.as_str())
                .collect::<Vec<&str>>(),
        )
        .bind(
            ops.iter()
                .map(|(_, _, o)| o.target.as_str())
                .collect::<Vec<&str>>(),
        )
        .bind(
            ops.iter()
                .map(|(_, _, o)| o.params.to_string())
                .collect::<Vec<String>>(),
        )
        .bind(
            ops.iter()
                .map(|(_, _, o)| o.status.as_str())
                .collect::<Vec<&str>>(),
        )
        .bind(
            ops.iter()
                .map(|(e, _, _)| e.received_at_ms)
                .collect::<Vec<i64>>(),
        )
        .bind(
            ops.iter()
                .map(|(_, _, o)| o.idempotency_key.as_str())
                .collect::<Vec<&str>>(),
        )
}

/// Read the rows of a read-back into `stored`.
pub(crate) fn collect_stored<R: sqlx::Row>(
    rows: &[R],
    stored: &mut Stored,
) -> Result<(), StoreError>
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

/// `q_insert_events` for both backends: `$write` runs the batch and returns what is stored
/// under its keys; keys not seen are read once more.
macro_rules! batch_insert_method {
    ($db:ty, $sql:path, $write:ident) => {
        pub(crate) async fn q_insert_events(
            &self,
            events: &[$crate::store::NewEvent],
        ) -> Result<Vec<$crate::store::IntakeOutcome>, $crate::store::StoreError> {
            use $crate::store::batch_insert::{STORED_UNDER_KEY, Stored, classify, collect_stored};
            if events.is_empty() {
                return Ok(Vec::new());
            }
            let mut stored: Stored = self.$write(events).await?;
            match classify(events, &stored) {
                Ok(outcomes) => Ok(outcomes),
                Err(missing) => {
                    for i in &missing {
                        let ev = &events[*i];
                        let rows = sqlx::query($sql(STORED_UNDER_KEY))
                            .bind(&ev.source)
                            .bind(&ev.dedupe_key)
                            .fetch_all(self.write_pool())
                            .await?;
                        collect_stored(&rows, &mut stored)?;
                    }
                    classify(events, &stored).map_err(|still| {
                        $crate::store::StoreError::Corrupt(format!(
                            "event {} was neither inserted nor found",
                            events[still[0]].id
                        ))
                    })
                }
            }
        }
    };
}
pub(crate) use batch_insert_method;
