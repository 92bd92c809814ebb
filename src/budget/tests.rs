//! Budgets against a real (SQLite) store: pacing, pauses, and resets that cannot be believed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::*;
use crate::config::DatabaseUrl;
use crate::store::Store;

#[test]
fn interval_leaves_a_margin() {
    assert_eq!(interval_us(100), 612_000);
    assert_eq!(interval_us(6000), 10_200);
    assert!(interval_us(5) >= 12_000_000);
}

async fn store() -> (tempfile::TempDir, Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let url = DatabaseUrl::new(format!("sqlite://{}", dir.path().join("b.db").display()));
    let store = crate::store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    (dir, store)
}

fn report(remaining: u32, reset_s: i64) -> RateReport {
    RateReport {
        minute_limit: Some(100),
        minute_remaining: Some(remaining),
        minute_reset_epoch_s: Some(reset_s),
        day_remaining: None,
        day_reset_epoch_s: None,
    }
}

#[tokio::test]
async fn a_reset_in_milliseconds_or_in_the_past_pauses_for_one_window_at_most() {
    let (_dir, store) = store().await;
    let budget = Budget::new("t", store.clone(), 100);
    // A reset written in epoch milliseconds: read as seconds it is 50,000 years away.
    budget.observe(Some(&report(0, now_ms()))).await.unwrap();
    let paused = store.paused_until("t").await.unwrap();
    assert!(
        paused <= now_us() + MINUTE_US + 1_000_000,
        "paused {} s",
        (paused - now_us()) / 1_000_000
    );
    // A reset already past: the default wait of one window, not none and not for ever.
    let (_dir, store) = self::store().await;
    let budget = Budget::new("t", store.clone(), 100);
    budget
        .observe(Some(&report(0, now_ms() / 1000 - 30)))
        .await
        .unwrap();
    let wait = store.paused_until("t").await.unwrap() - now_us();
    assert!(
        (MINUTE_US - 1_000_000..=MINUTE_US).contains(&wait),
        "{wait}"
    );
    // A daily reset in milliseconds is not believed either.
    let day = RateReport {
        day_remaining: Some(0),
        day_reset_epoch_s: Some(now_ms()),
        ..RateReport::default()
    };
    budget.observe(Some(&day)).await.unwrap();
    let wait = store.paused_until("t").await.unwrap() - now_us();
    assert!(wait <= 3_600_000_000, "{wait}");
    // A believable reset is honoured.
    let (_dir, store) = self::store().await;
    let budget = Budget::new("t", store.clone(), 100);
    let reset_s = now_ms() / 1000 + 20;
    budget.observe(Some(&report(0, reset_s))).await.unwrap();
    assert_eq!(store.paused_until("t").await.unwrap(), reset_s * 1_000_000);
}

#[tokio::test]
async fn a_pause_stored_beyond_any_window_is_cleared_not_waited_for() {
    let (_dir, store) = store().await;
    let hundred_years = 100 * 365 * 86_400 * 1_000_000_i64;
    store.pause("t", now_us() + hundred_years).await.unwrap();
    let budget = Budget::new("t", store.clone(), 6000);
    let started = Instant::now();
    let ok = tokio::time::timeout(
        Duration::from_secs(5),
        budget.acquire(&CancellationToken::new()),
    )
    .await
    .expect("acquire returned")
    .unwrap();
    assert!(ok);
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(store.paused_until("t").await.unwrap() <= now_us());
}

#[tokio::test]
async fn replicas_waiting_out_a_pause_take_fresh_slots_after_it() {
    let (_dir, store) = store().await;
    // Two replicas of one budget of 600/minute: a slot every ~102 ms.
    let a = Budget::new("t", store.clone(), 600);
    let b = Budget::new("t", store.clone(), 600);
    let cancel = CancellationToken::new();
    a.acquire(&cancel).await.unwrap();
    b.acquire(&cancel).await.unwrap();
    // A 429 pauses everyone; both were already waiting for a slot.
    store.pause("t", now_us() + 300_000).await.unwrap();
    let started = Instant::now();
    let timed = |budget: Budget| {
        let cancel = cancel.clone();
        async move {
            budget.acquire(&cancel).await.unwrap();
            started.elapsed()
        }
    };
    let (ta, tb) = tokio::join!(timed(a), timed(b));
    let gap = ta.abs_diff(tb);
    assert!(
        gap >= Duration::from_millis(90),
        "after the pause the two fired {gap:?} apart"
    );
    assert!(ta.min(tb) >= Duration::from_millis(290), "{ta:?} {tb:?}");
}
