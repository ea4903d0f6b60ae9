//! The wall clock, read where a command runs or a time is reported.

use std::time::{SystemTime, UNIX_EPOCH};

/// Wall-clock time in Unix milliseconds: the `now_ms` every command runs at.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The first whole millisecond at or after `ms` milliseconds from now: a deadline
/// that [`now_ms`] reaches no sooner than `ms` after this call (rounding the start
/// down instead would let a timeout end up to a millisecond early).
pub fn ms_from_now(ms: u64) -> Option<u64> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    u64::try_from(nanos.div_ceil(1_000_000))
        .ok()?
        .checked_add(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_is_never_reached_early() {
        for _ in 0..100_000 {
            let start = SystemTime::now();
            let at = ms_from_now(1).unwrap();
            let reached = UNIX_EPOCH + std::time::Duration::from_millis(at);
            assert!(reached >= start + std::time::Duration::from_millis(1));
        }
    }
}
