//! Committing a batch of events in a constant number of statements: one multi-row insert of
//! the events (`ON CONFLICT DO NOTHING RETURNING id` tells which were new), one look-up of the
//! ones that were not, and one multi-row insert of the new events' operations. A batch of a
//! few hundred webhooks costs three round trips and one fsync, not six statements per event.

/// Events per statement: 10 parameters each keeps far below SQLite's 32,766.
pub(crate) const EVENTS_PER_STATEMENT: usize = 1000;
/// Operations per statement: 11 parameters each.
pub(crate) const OPERATIONS_PER_STATEMENT: usize = 2000;

/// `q_insert_events`, written once for both backends.
macro_rules! batch_insert_method {
    ($db:ty) => {
        pub(crate) async fn q_insert_events(
            &self,
            events: &[$crate::store::NewEvent],
        ) -> Result<Vec<$crate::store::IntakeOutcome>, $crate::store::StoreError> {
            use std::collections::{HashMap, HashSet};
            use sqlx::{QueryBuilder, Row};
            use $crate::store::IntakeOutcome;
            use $crate::store::batch_insert::{EVENTS_PER_STATEMENT, OPERATIONS_PER_STATEMENT};

            let mut tx = self.write_pool().begin().await?;
            let mut inserted: HashSet<String> = HashSet::with_capacity(events.len());
            for chunk in events.chunks(EVENTS_PER_STATEMENT) {
                let mut qb = QueryBuilder::<$db>::new(
                    "INSERT INTO events (id, source, dedupe_key, fingerprint, status, received_at, updated_at, hire, plan, rules_version) ",
                );
                qb.push_values(chunk, |mut b, ev| {
                    b.push_bind(ev.id.clone())
                        .push_bind(ev.source.clone())
                        .push_bind(ev.dedupe_key.clone())
                        .push_bind(ev.fingerprint.clone())
                        .push_bind(ev.status.as_str())
                        .push_bind(ev.received_at_ms)
                        .push_bind(ev.received_at_ms)
                        .push_bind(ev.hire.to_string())
                        .push_bind(ev.plan.as_ref().map(ToString::to_string))
                        .push_bind(ev.rules_version.clone());
                });
                qb.push(" ON CONFLICT (source, dedupe_key) DO NOTHING RETURNING id");
                for row in qb.build().fetch_all(&mut *tx).await? {
                    inserted.insert(row.try_get("id")?);
                }
            }

            // The keys that existed already (or came twice in this batch): their first event.
            let others: Vec<&$crate::store::NewEvent> =
                events.iter().filter(|e| !inserted.contains(&e.id)).collect();
            let mut existing: HashMap<(String, String), (String, String)> = HashMap::new();
            for chunk in others.chunks(EVENTS_PER_STATEMENT) {
                let mut qb = QueryBuilder::<$db>::new(
                    "SELECT id, source, dedupe_key, fingerprint FROM events WHERE (source, dedupe_key) IN (",
                );
                qb.push_values(chunk, |mut b, ev| {
                    b.push_bind(ev.source.clone()).push_bind(ev.dedupe_key.clone());
                });
                qb.push(")");
                for row in qb.build().fetch_all(&mut *tx).await? {
                    existing.insert(
                        (row.try_get("source")?, row.try_get("dedupe_key")?),
                        (row.try_get("id")?, row.try_get("fingerprint")?),
                    );
                }
            }

            let ops: Vec<(&$crate::store::NewEvent, i64, &$crate::store::NewOperation)> = events
                .iter()
                .filter(|e| inserted.contains(&e.id))
                .flat_map(|e| {
                    e.operations
                        .iter()
                        .enumerate()
                        .map(move |(i, op)| (e, i64::try_from(i).unwrap_or(i64::MAX), op))
                })
                .collect();
            for chunk in ops.chunks(OPERATIONS_PER_STATEMENT) {
                let mut qb = QueryBuilder::<$db>::new(
                    "INSERT INTO operations (event_id, seq, kind, target, params, status, attempts, next_attempt_at, idempotency_key, created_at, updated_at) ",
                );
                qb.push_values(chunk, |mut b, (ev, seq, op)| {
                    b.push_bind(ev.id.clone())
                        .push_bind(*seq)
                        .push_bind(op.kind.as_str())
                        .push_bind(op.target.clone())
                        .push_bind(op.params.to_string())
                        .push_bind(op.status.as_str())
                        .push_bind(0_i32)
                        .push_bind(ev.received_at_ms)
                        .push_bind(op.idempotency_key.clone())
                        .push_bind(ev.received_at_ms)
                        .push_bind(ev.received_at_ms);
                });
                qb.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;

            events
                .iter()
                .map(|ev| {
                    if inserted.contains(&ev.id) {
                        return Ok(IntakeOutcome::Accepted { event_id: ev.id.clone() });
                    }
                    let key = (ev.source.clone(), ev.dedupe_key.clone());
                    match existing.get(&key) {
                        Some((id, fp)) if *fp == ev.fingerprint => {
                            Ok(IntakeOutcome::Duplicate { event_id: id.clone() })
                        }
                        Some((id, _)) => Ok(IntakeOutcome::Conflict { event_id: id.clone() }),
                        None => Err($crate::store::StoreError::Corrupt(format!(
                            "event {} was neither inserted nor found",
                            ev.id
                        ))),
                    }
                })
                .collect()
        }
    };
}
pub(crate) use batch_insert_method;
