//! Reading events back for the operator API, written once for both backends.

pub(crate) const EVENT: &str = "SELECT id, source, dedupe_key, status, received_at, hire, plan, rules_version, connecteam_user_id
       FROM events WHERE id = $1";

pub(crate) const EVENT_OPERATIONS: &str = "SELECT id, kind, target, params, status, attempts, next_attempt_at, last_error, idempotency_key
       FROM operations WHERE event_id = $1 ORDER BY seq";

pub(crate) const LIST: &str = "SELECT id, source, status, received_at FROM events
      WHERE (CAST($1 AS TEXT) IS NULL OR status = $1) AND (CAST($2 AS TEXT) IS NULL OR source = $2)
        AND (CAST($3 AS TEXT) IS NULL OR id < $3)
      ORDER BY id DESC LIMIT $4";

/// Before its user is known an event holds only its `resolve_user` operation; the plan's
/// operations are inserted when the user is. Show them all the same, as `blocked`, so an
/// operator sees every piece of work the event implies from the moment it is accepted.
pub(crate) fn show_planned(record: &mut super::EventRecord) {
    use super::{OperationKind, OperationRecord, OperationStatus};
    if record
        .operations
        .iter()
        .any(|o| o.kind != OperationKind::ResolveUser)
    {
        return;
    }
    let Some(plan) = record
        .plan
        .clone()
        .and_then(|p| serde_json::from_value::<crate::rules::Plan>(p).ok())
    else {
        return;
    };
    for op in crate::intake::planned_operations(&record.event_id, &plan) {
        record.operations.push(OperationRecord {
            id: 0,
            kind: op.kind,
            target: op.target,
            params: op.params,
            status: OperationStatus::Blocked,
            attempts: 0,
            next_attempt_at_ms: record.received_at_ms,
            last_error: None,
            idempotency_key: op.idempotency_key,
        });
    }
}

/// `q_get_event` and `q_list_events`; `$sql` adapts a statement to the backend.
macro_rules! read_methods {
    ($sql:path) => {
        pub(crate) async fn q_get_event(
            &self,
            event_id: &str,
        ) -> Result<Option<$crate::store::EventRecord>, $crate::store::StoreError> {
            use sqlx::Row;
            use $crate::store::reads::{EVENT, EVENT_OPERATIONS};
            use $crate::store::{EventRecord, OperationRecord, parse_json, parse_op, parse_status};
            let Some(row) = sqlx::query($sql(EVENT))
                .bind(event_id)
                .fetch_optional(self.read_pool())
                .await?
            else {
                return Ok(None);
            };
            let ops = sqlx::query($sql(EVENT_OPERATIONS))
                .bind(event_id)
                .fetch_all(self.read_pool())
                .await?;
            let mut operations = Vec::with_capacity(ops.len());
            for r in ops {
                let (kind, status) = parse_op(r.try_get("kind")?, r.try_get("status")?)?;
                operations.push(OperationRecord {
                    id: r.try_get("id")?,
                    kind,
                    target: r.try_get("target")?,
                    params: parse_json(r.try_get("params")?, "operation params")?,
                    status,
                    attempts: r.try_get("attempts")?,
                    next_attempt_at_ms: r.try_get("next_attempt_at")?,
                    last_error: r.try_get("last_error")?,
                    idempotency_key: r.try_get("idempotency_key")?,
                });
            }
            let plan: Option<String> = row.try_get("plan")?;
            let mut record = EventRecord {
                event_id: row.try_get("id")?,
                source: row.try_get("source")?,
                dedupe_key: row.try_get("dedupe_key")?,
                status: parse_status(row.try_get("status")?)?,
                received_at_ms: row.try_get("received_at")?,
                hire: parse_json(row.try_get("hire")?, "hire")?,
                plan: plan.map(|p| parse_json(&p, "plan")).transpose()?,
                rules_version: row.try_get("rules_version")?,
                connecteam_user_id: row.try_get("connecteam_user_id")?,
                operations,
            };
            $crate::store::reads::show_planned(&mut record);
            Ok(Some(record))
        }

        pub(crate) async fn q_list_events(
            &self,
            q: &$crate::store::EventQuery,
        ) -> Result<Vec<$crate::store::EventSummary>, $crate::store::StoreError> {
            use sqlx::Row;
            use $crate::store::{EventSummary, parse_status};
            let rows = sqlx::query($sql($crate::store::reads::LIST))
                .bind(q.status.map(|s| s.as_str()))
                .bind(&q.source)
                .bind(&q.before)
                .bind(i64::from(q.limit))
                .fetch_all(self.read_pool())
                .await?;
            rows.into_iter()
                .map(|r| {
                    Ok(EventSummary {
                        event_id: r.try_get("id")?,
                        source: r.try_get("source")?,
                        status: parse_status(r.try_get("status")?)?,
                        received_at_ms: r.try_get("received_at")?,
                    })
                })
                .collect()
        }
    };
}
pub(crate) use read_methods;
