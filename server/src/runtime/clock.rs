//! The wall clock, read where a command runs or a time is reported.

use std::cell::Cell;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long [`now_ms_at`] derives the wall clock from one reading of it.
const ANCHOR_KEPT: Duration = Duration::from_millis(50);

thread_local! {
    /// A reading of both clocks on this thread, for [`now_ms_at`].
    static ANCHOR: Cell<Option<(Instant, u128)>> = const { Cell::new(None) };
}

/// Wall-clock time in Unix milliseconds: the `now_ms` every command runs at.
pub fn now_ms() -> u64 {
    (wall_ns() / 1_000_000) as u64
}

/// Wall-clock time in Unix nanoseconds.
fn wall_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// The wall-clock time [`now_ms`] would give at `at`, a monotonic reading just
/// taken: derived from the last reading of both clocks on this thread while it is
/// under [`ANCHOR_KEPT`] old, so a batch that reads the monotonic clock anyway
/// does not read the wall clock too (about 60 ns a read on a VM). A step of the
/// wall clock shows within `ANCHOR_KEPT`; a slewed clock drifts from its
/// derivation by at most its slew rate over that time (tens of microseconds).
pub fn now_ms_at(at: Instant) -> u64 {
    let anchor = ANCHOR.with(Cell::get).filter(|&(when, _)| {
        at.checked_duration_since(when)
            .is_some_and(|age| age < ANCHOR_KEPT)
    });
    let (when, wall) = anchor.unwrap_or_else(|| {
        let read = (at, wall_ns());
        ANCHOR.with(|a| a.set(Some(read)));
        read
    });
    let ns = wall + at.saturating_duration_since(when).as_nanos();
    (ns / 1_000_000) as u64
}

/// The first whole millisecond at or after `ms` milliseconds from now: a deadline
/// that [`now_ms`] reaches no sooner than `ms` after this call (rounding the start
/// down instead would let a timeout end up to a millisecond early).
pub fn ms_from_now(ms: u64) -> Option<u64> {
    u64::try_from(wall_ns().div_ceil(1_000_000))
        .ok()?
        .checked_add(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_derived_wall_clock_follows_the_wall_clock() {
        for _ in 0..1_000 {
            let before = now_ms();
            let derived = now_ms_at(Instant::now());
            let after = now_ms();
            assert!(
                before <= derived && derived <= after + 1,
                "{before} {derived} {after}"
            );
        }
        // Derived from a reading taken earlier (within `ANCHOR_KEPT`), and from a
        // fresh one once that reading is too old.
        for pause in [ANCHOR_KEPT / 2, ANCHOR_KEPT * 2] {
            now_ms_at(Instant::now());
            std::thread::sleep(pause);
            let before = now_ms();
            let derived = now_ms_at(Instant::now());
            let after = now_ms();
            assert!(
                before <= derived && derived <= after + 1,
                "after {pause:?}: {before} {derived} {after}"
            );
        }
    }

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
