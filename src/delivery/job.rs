//! A kind of work, as the runner sees it: what it claims, how it batches, which budget it
//! spends, and what it does with a batch. Each kind lives in a file of its own under `jobs/`.

use async_trait::async_trait;

use super::claimed::Claimed;
use super::round::{Interrupt, Round};
use crate::domain::OperationKind;

/// One kind of work the runner carries out.
#[async_trait]
pub trait Job: Send + Sync + 'static {
    /// The operations it claims.
    fn kind(&self) -> OperationKind;

    /// The budget its requests spend (a name the engine has a [`crate::budget::Budget`] for).
    fn budget(&self) -> &str;

    /// Only the operations with this target (a source's own fetches); `None`: all of its kind.
    fn target(&self) -> Option<&str> {
        None
    }

    /// The longest one of its requests may take, when it is not Connecteam's (its leases
    /// outlast it).
    fn timeout_ms(&self) -> Option<i64> {
        None
    }

    /// How much one round claims, and how the claim is cut into batches.
    fn batching(&self) -> Batching;

    /// Carry out one batch: settle each operation with an [`Outcome`] through `round`, and
    /// send every request through [`Round::send`]. Operations left unsettled when it returns
    /// (or stops with an [`Interrupt`]) are handed back, due again at once.
    async fn run(&self, round: &mut Round<'_>, batch: Vec<Claimed>) -> Result<(), Interrupt>;
}

/// How a kind of work claims and batches.
#[derive(Debug, Clone, Copy)]
pub struct Batching {
    /// The most operations one round claims.
    pub claim: u32,
    /// About how many requests a round of that many sends (sizes its lease).
    pub calls: u32,
    /// How the claim is cut into batches.
    pub batches: Batches,
    /// A batch smaller than this waits, up to `delivery.batch_window_ms` after its oldest
    /// member fell due, for company; `None`: it never waits.
    pub fill: Option<usize>,
}

/// How a claim is cut into batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Batches {
    /// The whole claim is one batch.
    Whole,
    /// One batch per target (every user of one pack together).
    ByTarget,
}
