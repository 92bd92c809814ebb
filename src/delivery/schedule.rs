//! When work is tried again: exponential backoff with full jitter for failures, and a shared
//! schedule for hires waiting for their Connecteam user.

/// Exponential backoff with full jitter: uniform in [0, min(max, initial·2^attempts)].
pub fn backoff_ms(attempts: i32, initial_ms: u64, max_ms: u64) -> i64 {
    let exp = u32::try_from(attempts.clamp(0, 30)).unwrap_or(30);
    let cap = initial_ms.saturating_mul(1u64 << exp).min(max_ms);
    i64::try_from(rand::random_range(0..=cap)).unwrap_or(i64::MAX)
}

/// When a hire that has waited `waited_ms` for its user is looked for again: the next
/// multiple of a period that doubles from `initial_ms` while it stays at most as long as the
/// wait so far, capped at `max_ms`. Multiples of a power-of-two period line up, so hires
/// waiting for different lengths still mostly fall due together and share one lookup.
pub fn recheck_at(now_ms: i64, waited_ms: i64, initial_ms: i64, max_ms: i64) -> i64 {
    let mut period = initial_ms.max(1);
    let cap = max_ms.max(period);
    while period.saturating_mul(2) <= waited_ms.max(0) && period.saturating_mul(2) <= cap {
        period *= 2;
    }
    (now_ms / period + 1) * period
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_hires_are_looked_for_on_a_shared_schedule() {
        // Periods double with the wait, capped, and fall on multiples of the period.
        assert_eq!(recheck_at(10_500, 0, 1000, 900_000), 11_000);
        assert_eq!(recheck_at(10_500, 1_999, 1000, 900_000), 11_000);
        assert_eq!(recheck_at(10_500, 2_000, 1000, 900_000), 12_000);
        assert_eq!(recheck_at(10_500, 9_000, 1000, 900_000), 16_000);
        assert_eq!(
            recheck_at(1_000_000, 86_400_000, 1000, 900_000) % 512_000,
            0
        );
        // Two hires that waited different times, looked at in the same instant, fall due
        // together at the longer one's period (a multiple of the shorter one's).
        let now = 7_777_777;
        let a = recheck_at(now, 3_000, 1000, 900_000);
        let b = recheck_at(now, 70_000, 1000, 900_000);
        assert_eq!(a % 2000, 0);
        assert_eq!(b % 64_000, 0);
        assert!(a > now && b > now && b - now <= 64_000);
        // A tiny configuration still moves forward.
        assert!(recheck_at(5, 100, 0, 0) > 5);
    }

    #[test]
    fn backoff_stays_within_its_cap() {
        for attempts in 0..40 {
            let b = backoff_ms(attempts, 1000, 900_000);
            assert!((0..=900_000).contains(&b));
        }
        assert!(backoff_ms(0, 1000, 900_000) <= 1000);
    }
}
