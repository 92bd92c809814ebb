//! Group commit for intake. Each request hands its event to a writer task and waits for the
//! commit; a writer takes everything that queued up while the previous commit ran and commits
//! it in one transaction. No timer is involved: under light load a batch is one event and
//! commits at once; under heavy load batches grow, so one fsync acknowledges many webhooks.
//!
//! If a whole batch fails, its events are retried one by one, so one bad event cannot fail
//! the others that happened to share its transaction.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::task::JoinSet;

use super::{IntakeOutcome, NewEvent, Store, StoreError};

/// The most events one transaction carries.
pub const MAX_BATCH: usize = 512;

type Job = (NewEvent, oneshot::Sender<Result<IntakeOutcome, StoreError>>);

/// The intake side of group commit. Cheap to clone.
#[derive(Clone)]
pub struct IntakeBatcher {
    tx: mpsc::Sender<Job>,
}

/// Owns the writer tasks; [`BatcherTasks::join`] waits until every queued event is committed.
pub struct BatcherTasks {
    tasks: JoinSet<()>,
}

impl IntakeBatcher {
    /// Start `writers` writer tasks (1 for SQLite, which has one writer; a few for PostgreSQL).
    pub fn start(store: Arc<dyn Store>, writers: usize) -> (Self, BatcherTasks) {
        let (tx, rx) = mpsc::channel::<Job>(MAX_BATCH * 8);
        let rx = Arc::new(Mutex::new(rx));
        let mut tasks = JoinSet::new();
        for _ in 0..writers.max(1) {
            tasks.spawn(writer(store.clone(), rx.clone()));
        }
        (Self { tx }, BatcherTasks { tasks })
    }

    /// Commit one event (sharing a transaction with whatever else is waiting) and return its outcome.
    pub async fn submit(&self, event: NewEvent) -> Result<IntakeOutcome, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send((event, reply))
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }
}

impl BatcherTasks {
    /// Wait for the writers to commit everything queued. Call after every `IntakeBatcher` clone is dropped.
    pub async fn join(mut self) {
        while self.tasks.join_next().await.is_some() {}
    }
}

async fn writer(store: Arc<dyn Store>, rx: Arc<Mutex<mpsc::Receiver<Job>>>) {
    loop {
        let mut batch: Vec<Job> = Vec::new();
        {
            let mut rx = rx.lock().await;
            match rx.recv().await {
                Some(job) => batch.push(job),
                None => return,
            }
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
        }
        commit(&*store, batch).await;
    }
}

async fn commit(store: &dyn Store, batch: Vec<Job>) {
    let (events, replies): (Vec<NewEvent>, Vec<_>) = batch.into_iter().unzip();
    metrics::histogram!("hirebridge_store_batch_size").record(events.len() as f64);
    let started = Instant::now();
    let result = store.insert_events(&events).await;
    metrics::histogram!("hirebridge_store_commit_seconds", "backend" => store.backend())
        .record(started.elapsed().as_secs_f64());
    match result {
        Ok(outcomes) => {
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                let _ = reply.send(Ok(outcome));
            }
        }
        Err(e) if events.len() == 1 => {
            tracing::error!(error = %e, "intake commit failed");
            if let Some(reply) = replies.into_iter().next() {
                let _ = reply.send(Err(e));
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, batch = events.len(), "intake batch failed; committing its events one by one");
            for (ev, reply) in events.into_iter().zip(replies) {
                let one = std::slice::from_ref(&ev);
                let res = store.insert_events(one).await.map(|mut v| v.remove(0));
                if let Err(e) = &res {
                    tracing::error!(error = %e, source = %ev.source, "intake commit failed");
                }
                let _ = reply.send(res);
            }
        }
    }
}
