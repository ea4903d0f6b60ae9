//! What operators watch the server with: the slow log ([`slowlog`]), the latency
//! monitor ([`latency`]) and the settings the request path reads for them.
//!
//! These sit beside the request path, not on it: the path asks one relaxed atomic
//! whether anything is wanted, and does the work only then (a slow command is
//! rare). The settings mirror `CONFIG` parameters ([`apply_config`] is called for
//! every value `CONFIG SET` or the configuration file stores), so the request path
//! never reads the configuration's lock.

pub mod latency;
pub mod slowlog;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// `slowlog-log-slower-than`'s default: 10 ms.
pub const SLOWLOG_SLOWER_THAN_US_DEFAULT: i64 = 10_000;
/// `slowlog-max-len`'s default.
pub const SLOWLOG_MAX_LEN_DEFAULT: u64 = 128;

/// `slowlog-log-slower-than` in µs: `-1` logs nothing, `0` every command.
static SLOWLOG_SLOWER_THAN_US: AtomicI64 = AtomicI64::new(SLOWLOG_SLOWER_THAN_US_DEFAULT);
/// `slowlog-max-len`: entries kept.
static SLOWLOG_MAX_LEN: AtomicU64 = AtomicU64::new(SLOWLOG_MAX_LEN_DEFAULT);
/// `latency-monitor-threshold` in ms: 0 is off.
static LATENCY_THRESHOLD_MS: AtomicU64 = AtomicU64::new(0);

/// Mirrors a configuration value the request path needs. Called with the
/// canonical value of every parameter stored; ignores the others.
pub fn apply_config(name: &str, value: &str) {
    match name {
        "slowlog-log-slower-than" => {
            let us = value.parse().unwrap_or(SLOWLOG_SLOWER_THAN_US_DEFAULT);
            SLOWLOG_SLOWER_THAN_US.store(us, Ordering::Relaxed);
        }
        "slowlog-max-len" => {
            let len = value.parse().unwrap_or(SLOWLOG_MAX_LEN_DEFAULT);
            SLOWLOG_MAX_LEN.store(len, Ordering::Relaxed);
            slowlog::trim(len as usize);
        }
        "latency-monitor-threshold" => {
            LATENCY_THRESHOLD_MS.store(value.parse().unwrap_or(0), Ordering::Relaxed);
        }
        _ => {}
    }
}

/// The slow log's threshold in µs, or `None` while it is off.
pub fn slowlog_threshold_us() -> Option<u64> {
    u64::try_from(SLOWLOG_SLOWER_THAN_US.load(Ordering::Relaxed)).ok()
}

/// The latency monitor's threshold in ms; 0 while it is off.
pub fn latency_threshold_ms() -> u64 {
    LATENCY_THRESHOLD_MS.load(Ordering::Relaxed)
}

/// The shortest duration, in µs, that the slow log or the latency monitor
/// wants to hear of; `None` while both are off.
pub fn timing_threshold_us() -> Option<u64> {
    let latency_us = match latency_threshold_ms() {
        0 => None,
        ms => Some(ms.saturating_mul(1000)),
    };
    match (slowlog_threshold_us(), latency_us) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn slowlog_max_len() -> usize {
    SLOWLOG_MAX_LEN.load(Ordering::Relaxed) as usize
}
