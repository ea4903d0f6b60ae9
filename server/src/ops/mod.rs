//! What operators watch the server with: the slow log ([`slowlog`]), the latency
//! monitor ([`latency`]), per-command latency histograms ([`calls`]) and the
//! settings the request path reads for them; what they name commands by
//! ([`names`], [`categories`]) and what Redis documents about them
//! ([`redis_commands`]); the instantaneous rates of `INFO stats` ([`rates`]);
//! and the Prometheus endpoint ([`metrics`]).
//!
//! These sit beside the request path, not on it: the path asks one relaxed atomic
//! whether anything is wanted, and does the work only then (a slow command is
//! rare). The settings mirror `CONFIG` parameters ([`apply_config`] is called for
//! every value `CONFIG SET` or the configuration file stores), so the request path
//! never reads the configuration's lock.

pub mod calls;
pub mod categories;
pub mod latency;
pub mod metrics;
pub mod names;
pub mod rates;
pub mod redis_commands;
pub mod slowlog;

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;

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
/// `latency-tracking`: per-command histograms ([`calls`]).
static LATENCY_TRACKING: AtomicBool = AtomicBool::new(true);
/// `latency-tracking-info-percentiles`' default.
pub const TRACKING_PERCENTILES_DEFAULT: &[f64] = &[50.0, 99.0, 99.9];
/// `latency-tracking-info-percentiles`, once set (`None`: the default).
static TRACKING_PERCENTILES: Mutex<Option<Vec<f64>>> = Mutex::new(None);

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
        "latency-tracking" => LATENCY_TRACKING.store(value == "yes", Ordering::Relaxed),
        "latency-tracking-info-percentiles" => {
            let percentiles = parse_percentiles(value).unwrap_or_default();
            *TRACKING_PERCENTILES
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(percentiles);
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

/// Whether commands feed their latency histograms (`latency-tracking`).
pub fn latency_tracking() -> bool {
    LATENCY_TRACKING.load(Ordering::Relaxed)
}

/// The percentiles `INFO latencystats` prints, in the order configured.
pub fn tracking_percentiles() -> Vec<f64> {
    let set = TRACKING_PERCENTILES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    set.clone()
        .unwrap_or_else(|| TRACKING_PERCENTILES_DEFAULT.to_vec())
}

/// Reads `latency-tracking-info-percentiles` (numbers from 0 to 100, space
/// separated, possibly none); the error is Redis's text.
pub fn parse_percentiles(value: &str) -> Result<Vec<f64>, &'static str> {
    value
        .split_whitespace()
        .map(|word| match word.parse::<f64>() {
            Ok(p) if (0.0..=100.0).contains(&p) => Ok(p),
            Ok(_) => {
                Err("latency-tracking-info-percentiles parameters should sit between [0.0,100.0]")
            }
            Err(_) => Err("Invalid latency-tracking-info-percentiles parameters"),
        })
        .collect()
}

/// `latency-tracking-info-percentiles` as `CONFIG GET` shows it: `50 99 99.9`.
pub fn percentiles_canonical(value: &str) -> Result<String, &'static str> {
    let words: Vec<String> = parse_percentiles(value)?
        .iter()
        .map(f64::to_string)
        .collect();
    Ok(words.join(" "))
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
