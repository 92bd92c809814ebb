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
use tracing::{Instrument, Span};

use super::Store;
use super::error::StoreError;
use super::model::{IntakeOutcome, NewEvent};

/// The most events one transaction carries.
pub const MAX_BATCH: usize = 512;

/// An event, and where its outcome goes: the waiting request, and that request's span, so a
/// failure is logged with the request's id although a writer task commits it.
type Job = (NewEvent, Reply);
type Reply = (oneshot::Sender<Result<IntakeOutcome, StoreError>>, Span);

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
            .send((event, (reply, Span::current())))
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
    let (events, replies): (Vec<NewEvent>, Vec<Reply>) = batch.into_iter().unzip();
    metrics::histogram!("hirebridge_store_batch_size").record(events.len() as f64);
    let started = Instant::now();
    let result = store.insert_events(&events).await;
    metrics::histogram!("hirebridge_store_commit_seconds", "backend" => store.backend())
        .record(started.elapsed().as_secs_f64());
    match result {
        Ok(outcomes) => {
            for ((reply, _), outcome) in replies.into_iter().zip(outcomes) {
                let _ = reply.send(Ok(outcome));
            }
        }
        Err(e) if events.len() == 1 => {
            if let Some((reply, span)) = replies.into_iter().next() {
                span.in_scope(|| tracing::error!(error = %e, "intake commit failed"));
                let _ = reply.send(Err(e));
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, batch = events.len(), "intake batch failed; committing its events one by one");
            for (ev, (reply, span)) in events.into_iter().zip(replies) {
                let one = std::slice::from_ref(&ev);
                let res = async {
                    let res = store.insert_events(one).await.map(|mut v| v.remove(0));
                    if let Err(e) = &res {
                        tracing::error!(error = %e, source = %ev.source, "intake commit failed");
                    }
                    res
                }
                .instrument(span)
                .await;
                let _ = reply.send(res);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex as StdMutex;

    use super::*;
    use crate::config::DatabaseUrl;
    use crate::domain::EventStatus;

    /// Log output, captured.
    #[derive(Clone, Default)]
    struct Captured(Arc<StdMutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    fn event(id: &str) -> NewEvent {
        NewEvent {
            id: id.to_owned(),
            source: "test".to_owned(),
            dedupe_key: id.to_owned(),
            fingerprint: String::new(),
            received_at_ms: 0,
            status: EventStatus::Ignored,
            hire: "{}".to_owned(),
            plan: None,
            rules_version: None,
            payload: None,
            operations: Vec::new(),
        }
    }

    /// The writer commits on its own task; its failure lines still carry the request's span.
    #[tokio::test]
    async fn failed_commits_are_logged_in_the_submitting_request_span() {
        let logs = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(logs.clone())
            .with_ansi(false)
            .finish();
        // The test runtime has one thread: the writer task logs through this subscriber too.
        let _guard = tracing::subscriber::set_default(subscriber);
        let dir = tempfile::tempdir().unwrap();
        let url = DatabaseUrl::new(format!("sqlite://{}", dir.path().join("t.db").display()));
        let store = crate::store::connect(&url).await.unwrap();
        store.close().await; // every commit fails from here on
        let (batcher, tasks) = IntakeBatcher::start(store, 1);

        // A batch of one.
        let alone = batcher
            .submit(event("e0"))
            .instrument(tracing::info_span!("request", request_id = "req-alone"))
            .await;
        assert!(alone.is_err());
        // A batch of two (both queued before the writer runs), retried one by one.
        let (a, b) = tokio::join!(
            batcher
                .submit(event("e1"))
                .instrument(tracing::info_span!("request", request_id = "req-first")),
            batcher
                .submit(event("e2"))
                .instrument(tracing::info_span!("request", request_id = "req-second")),
        );
        assert!(a.is_err() && b.is_err());
        drop(batcher);
        tasks.join().await;

        let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
        let failed: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("intake commit failed"))
            .collect();
        assert_eq!(failed.len(), 3, "{text}");
        for id in ["req-alone", "req-first", "req-second"] {
            assert_eq!(
                failed.iter().filter(|l| l.contains(id)).count(),
                1,
                "{id}: {text}"
            );
        }
        assert!(
            text.contains("intake batch failed; committing its events one by one"),
            "{text}"
        );
    }
}
