//! `update_profile`: write a plan's custom fields on users that already existed.
//!
//! A created user gets its fields in the create itself; a user that was matched or restored
//! gets the values of its plan that it does not already hold (the user resolution compares
//! them with what its lookup showed, and queues nothing when they all match). They are written
//! 25 users per `PUT /users/v1/users?includeSmartGroupIds=false`. The PUT sets values, so a
//! repeat after a lost answer writes the same values again and is safe; the batch carries an
//! idempotency key all the same. Connecteam takes a PUT all-or-nothing: a 422 (a field or
//! option gone since the plan was worked out, a manager archived) is split to find the user at
//! fault while the others are written; that user's fields are then sent one by one, and each
//! Connecteam refuses is left unset with a warning on the event.

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;

use crate::clock::now_ms;
use crate::connecteam::{self, Client, CustomFieldValue, MAX_CREATE_USERS};
use crate::delivery::bisect::{Bisect, Refusal};
use crate::delivery::claimed::{Claimed, Outcome};
use crate::delivery::job::{Batches, Batching, Job};
use crate::delivery::profile::{Fields, report};
use crate::delivery::round::{Interrupt, Round};
use crate::domain::{FieldWarning, Operation, OperationKind, idempotency};
use crate::remote::Failure;

/// Profile updates per round: four full requests.
const UPDATE_BATCH: u32 = 4 * MAX_CREATE_USERS as u32;

pub struct UpdateProfile {
    client: Client,
    /// The account's custom fields the user resolution works values out with: forgotten when
    /// Connecteam refuses one, so later plans are written with what the account has now.
    fields: Arc<Fields>,
}

impl UpdateProfile {
    pub fn new(client: Client, fields: Arc<Fields>) -> Self {
        Self { client, fields }
    }
}

/// One user's update.
struct Update {
    op: Claimed,
    user: u64,
    fields: Vec<CustomFieldValue>,
}

#[async_trait]
impl Job for UpdateProfile {
    fn kind(&self) -> OperationKind {
        OperationKind::UpdateProfile
    }

    fn budget(&self) -> &str {
        connecteam::BUDGET
    }

    fn batching(&self) -> Batching {
        Batching {
            claim: UPDATE_BATCH,
            calls: UPDATE_BATCH / MAX_CREATE_USERS as u32 + 4,
            batches: Batches::Whole,
            fill: Some(MAX_CREATE_USERS),
        }
    }

    async fn run(&self, round: &mut Round<'_>, batch: Vec<Claimed>) -> Result<(), Interrupt> {
        let mut updates = Vec::with_capacity(batch.len());
        // Connecteam refuses a PUT naming one user twice: a second event's update of the same
        // user waits for the next round.
        let mut users = HashSet::new();
        for op in batch {
            let Operation::UpdateProfile { custom_fields } = &op.operation else {
                continue;
            };
            let fields =
                match serde_json::from_value::<Vec<CustomFieldValue>>(custom_fields.clone()) {
                    Ok(f) => f,
                    Err(e) => {
                        round.settle(
                            &op,
                            Outcome::Dead(format!("stored custom fields are unreadable: {e}")),
                        );
                        continue;
                    }
                };
            let Some(user) = op.user_id else {
                round.settle(
                    &op,
                    Outcome::Dead("the event has no Connecteam user".to_owned()),
                );
                continue;
            };
            if fields.is_empty() {
                round.settle(&op, Outcome::Done);
                continue;
            }
            if !users.insert(user) {
                round.settle(&op, Outcome::Defer { at_ms: now_ms() });
                continue;
            }
            updates.push(Update { op, user, fields });
        }
        let client = self.client.with_gate(round.gate());
        let mut work = Bisect::new(updates, MAX_CREATE_USERS);
        while let Some(chunk) = work.next_chunk() {
            let body: Vec<(u64, Vec<CustomFieldValue>)> =
                chunk.iter().map(|u| (u.user, u.fields.clone())).collect();
            let key = idempotency::for_batch(
                chunk.iter().map(|u| u.op.event_id.as_str()),
                "users/update-profile",
            );
            match round.send(client.update_custom_fields(&body, &key)).await? {
                Ok(()) => {
                    tracing::info!(
                        users = chunk.len(),
                        "wrote custom fields on existing Connecteam users"
                    );
                    for u in &chunk {
                        round.settle(&u.op, Outcome::Done);
                    }
                }
                // All-or-nothing: find the user at fault. Connecteam's detail locates the
                // refused item by its place in the request, which changes as the chunk is
                // split, so nothing is taken as naming a user.
                Err(Failure::Permanent(status @ (404 | 422), detail)) => {
                    match work.refused(chunk, &detail, |_| false) {
                        Refusal::Later => {}
                        Refusal::Named(refused) | Refusal::All(refused) => {
                            // The account's fields may have changed since the values were
                            // worked out: later plans are written with them read again.
                            self.fields.invalidate();
                            for u in refused {
                                let outcome = if status == 422 {
                                    self.field_by_field(round, &client, &u).await?
                                } else {
                                    Outcome::Failed(Failure::Permanent(status, detail.clone()))
                                };
                                round.settle(&u.op, outcome);
                            }
                        }
                    }
                }
                Err(f) => {
                    for u in &chunk {
                        round.settle(&u.op, Outcome::Failed(f.clone()));
                    }
                }
            }
        }
        Ok(())
    }
}

impl UpdateProfile {
    /// One user's update Connecteam refused: each field is sent alone, so the values it takes
    /// land and each it refuses is left unset with a warning on the event (its name from the
    /// catalog the values came from). A failure that is not a refusal of the field fails the
    /// update, to be retried.
    async fn field_by_field(
        &self,
        round: &mut Round<'_>,
        client: &Client,
        u: &Update,
    ) -> Result<Outcome, Interrupt> {
        let mut warnings = Vec::new();
        for f in &u.fields {
            let key = idempotency::key(
                &u.op.event_id,
                &format!("users/update-profile/{}", f.custom_field_id),
            );
            let one = [(u.user, vec![f.clone()])];
            match round.send(client.update_custom_fields(&one, &key)).await? {
                Ok(()) => {}
                Err(Failure::Permanent(422, detail)) => {
                    let name = self
                        .fields
                        .name_of(f.custom_field_id)
                        .unwrap_or_else(|| format!("custom field {}", f.custom_field_id));
                    let w = FieldWarning::new(
                        &name,
                        "refused",
                        format!("{name}: Connecteam refused the value ({detail})"),
                    );
                    report(&u.op.event_id, &w);
                    warnings.push(w);
                }
                Err(other) => return Ok(Outcome::Failed(other)),
            }
        }
        Ok(Outcome::DoneWithWarnings(warnings))
    }
}
