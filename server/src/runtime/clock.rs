//! The wall clock, read where a command runs or a time is reported.

use std::time::{SystemTime, UNIX_EPOCH};

/// Wall-clock time in Unix milliseconds: the `now_ms` every command runs at.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
