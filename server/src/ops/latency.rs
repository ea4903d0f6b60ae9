//! The latency monitor: for each event class, the latest spikes of at least
//! `latency-monitor-threshold` ms (`LATENCY LATEST`, `HISTORY`, `DOCTOR`).
//!
//! Events recorded here: `command` and `fast-command`, a command (of the `fast`
//! group or not) that ran at least the threshold on its shard, timed where the
//! slow log times it ([`super::slowlog`]). Like Redis, samples within one second
//! keep the highest, and each event keeps the last [`SAMPLES_MAX`]. Process-wide,
//! behind a lock taken only for a spike or a `LATENCY` request.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Samples an event keeps (Redis's `LATENCY_TS_LEN`).
pub const SAMPLES_MAX: usize = 160;

/// One event's samples and extremes.
#[derive(Debug, Clone, Default)]
pub struct Series {
    /// (Unix seconds, ms), oldest first.
    pub samples: Vec<(u64, u64)>,
    pub max_ms: u64,
}

static EVENTS: Mutex<BTreeMap<&'static str, Series>> = Mutex::new(BTreeMap::new());

fn events() -> std::sync::MutexGuard<'static, BTreeMap<&'static str, Series>> {
    EVENTS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Records `ms` for `event` if the monitor is on and it reaches the threshold.
pub fn add(event: &'static str, ms: u64) {
    let threshold = super::latency_threshold_ms();
    if threshold == 0 || ms < threshold {
        return;
    }
    let now_s = crate::runtime::clock::now_ms() / 1000;
    let mut events = events();
    let series = events.entry(event).or_default();
    series.max_ms = series.max_ms.max(ms);
    match series.samples.last_mut() {
        Some((time, last)) if *time == now_s => *last = (*last).max(ms),
        _ => {
            if series.samples.len() == SAMPLES_MAX {
                series.samples.remove(0);
            }
            series.samples.push((now_s, ms));
        }
    }
}

/// Records a command's duration: `fast-command` for a command of the fast group.
pub fn add_command(fast: bool, us: u64) {
    add(if fast { "fast-command" } else { "command" }, us / 1000);
}

/// Every event with samples, by name.
pub fn all() -> Vec<(&'static str, Series)> {
    events().iter().map(|(e, s)| (*e, s.clone())).collect()
}

pub fn series(event: &[u8]) -> Option<Series> {
    events()
        .iter()
        .find(|(e, _)| e.as_bytes() == event)
        .map(|(_, s)| s.clone())
}

/// Forgets `names` (every event when empty); returns how many had samples.
pub fn reset(names: &[&[u8]]) -> usize {
    let mut events = events();
    let before = events.len();
    if names.is_empty() {
        events.clear();
    } else {
        events.retain(|e, _| !names.contains(&e.as_bytes()));
    }
    before - events.len()
}
