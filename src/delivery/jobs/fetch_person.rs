//! `fetch_person`: complete a hire whose webhook carried only ids. The person is fetched from
//! the source's API (spending the source's own budget), mapped to the canonical hire and
//! planned with the rule table in force; the event then takes its hire and plan, and its user
//! resolution is queued. A person that cannot be a hire (no name, no email or phone) is
//! dead-lettered with the vendor's fields at fault, and a replay fetches them again.

use std::sync::Arc;

use async_trait::async_trait;

use crate::delivery::claimed::{Claimed, Outcome};
use crate::delivery::job::{Batches, Batching, Job};
use crate::delivery::round::{Interrupt, Round};
use crate::domain::{FieldError, Hire, Operation, OperationKind, Plan};
use crate::remote::Fetcher;

/// Fetches per round, one request or a few each.
const FETCH_BATCH: u32 = 20;

/// Fetched people, by source and outcome (`fetched`, `unmappable`, `failed`).
pub const METRIC_FETCHES: &str = "hirebridge_source_fetches_total";

/// How a fetched hire gets its plan: the rule table in force, which the delivery engine does
/// not read itself.
pub trait Planner: Send + Sync {
    /// The plan the rule table in force gives `hire` from `source`.
    fn plan(&self, source: &str, hire: &Hire) -> Plan;
}

/// A source whose hires are completed by fetching the person.
#[derive(Clone)]
pub struct FetchSource {
    pub source: String,
    pub fetcher: Arc<dyn Fetcher>,
}

impl FetchSource {
    /// The name of the source's API budget.
    pub fn budget(&self) -> String {
        format!("source:{}", self.source)
    }
}

/// The sources whose people are fetched, and how their hires are planned.
#[derive(Clone)]
pub struct Fetching {
    pub sources: Vec<FetchSource>,
    pub planner: Arc<dyn Planner>,
}

pub struct FetchPerson {
    source: FetchSource,
    budget: String,
    planner: Arc<dyn Planner>,
}

impl FetchPerson {
    pub fn new(source: FetchSource, planner: Arc<dyn Planner>) -> Self {
        Self {
            budget: source.budget(),
            source,
            planner,
        }
    }

    fn count(&self, outcome: &'static str) {
        metrics::counter!(METRIC_FETCHES, "source" => self.source.source.clone(), "outcome" => outcome)
            .increment(1);
    }
}

#[async_trait]
impl Job for FetchPerson {
    fn kind(&self) -> OperationKind {
        OperationKind::FetchPerson
    }

    fn budget(&self) -> &str {
        &self.budget
    }

    fn target(&self) -> Option<&str> {
        Some(&self.source.source)
    }

    fn timeout_ms(&self) -> Option<i64> {
        i64::try_from(self.source.fetcher.timeout_ms()).ok()
    }

    fn batching(&self) -> Batching {
        Batching {
            claim: FETCH_BATCH,
            calls: 3 * FETCH_BATCH,
            batches: Batches::Whole,
            fill: None,
        }
    }

    async fn run(&self, round: &mut Round<'_>, batch: Vec<Claimed>) -> Result<(), Interrupt> {
        let fetcher = &self.source.fetcher;
        for op in &batch {
            let Operation::FetchPerson { request, .. } = &op.operation else {
                continue;
            };
            let outcome = match round.send(fetcher.fetch(request, round.gate())).await? {
                Ok(fetched) => match fetcher.map(request, &fetched) {
                    Ok(hire) => {
                        let plan = self.planner.plan(&self.source.source, &hire);
                        self.count("fetched");
                        tracing::info!(source = %self.source.source, event_id = %op.event_id, "person fetched");
                        Outcome::Fetched {
                            hire: serde_json::to_string(&hire).unwrap_or_default(),
                            rules_version: plan.rules_version.clone(),
                            plan: serde_json::to_string(&plan).unwrap_or_default(),
                        }
                    }
                    Err(errors) => {
                        self.count("unmappable");
                        let why = unmappable(&errors);
                        tracing::warn!(source = %self.source.source, event_id = %op.event_id, error = %why, "the fetched person cannot be a hire");
                        Outcome::Dead(why)
                    }
                },
                Err(f) => {
                    self.count("failed");
                    Outcome::Failed(f)
                }
            };
            round.settle(op, outcome);
            // Each fetched hire moves on at once rather than with the rest of the round.
            round.commit().await?;
        }
        Ok(())
    }
}

/// The dead letter of a person that cannot be a hire: every field at fault, in the vendor's
/// terms, so the customer knows what to fix in the record before replaying.
fn unmappable(errors: &[FieldError]) -> String {
    let fields: Vec<String> = errors
        .iter()
        .map(|e| format!("{}: {}", e.pointer, e.message))
        .collect();
    format!("the fetched person cannot be a hire: {}", fields.join("; "))
}
