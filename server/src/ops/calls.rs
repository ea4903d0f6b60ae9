//! Per-command numbers kept by the core a command runs on: its latency histogram
//! (`LATENCY HISTOGRAM`, `INFO latencystats`), its failed and rejected calls
//! (`INFO commandstats`), and the error replies by their first word (`INFO
//! errorstats`).
//!
//! Counted as Redis counts them: a command that was found but refused before it
//! ran (arity, authentication, loading, a read-only replica, ...) is a rejected
//! call and not a call; one that ran and answered an error is a failed call (and
//! a call); each error reply counts under its prefix (`-WRONGTYPE ...` under
//! `WRONGTYPE`, a reply without a space in its first [`ERROR_PREFIX_SCAN_BYTES`]
//! under `ERR`), unknown commands included. A command inside `EXEC` counts on
//! its own, like any other.
//!
//! A command is timed where the slow log times it ([`super::slowlog::Lap`] on
//! its shard's core, [`super::slowlog::note`] on the connection's core for the
//! commands that core runs), so a hop's queueing never counts. Each core keeps
//! its own histograms in a thread-local (nothing shared is touched per
//! request); `INFO` and `LATENCY HISTOGRAM` ask every core for a copy
//! ([`snapshot`]) and add them up ([`Calls::merge`]). `CONFIG RESETSTAT` clears
//! them ([`reset`]).
//!
//! The histograms are Redis's: values in ns from [`LATENCY_NS_MIN`] to
//! [`LATENCY_NS_MAX`] with [`LATENCY_SIGFIG`] significant digits, durations
//! outside the range clamped into it.

use std::cell::RefCell;
use std::collections::BTreeMap;

use hdrhistogram::Histogram;

/// The shortest duration a histogram tells apart, in ns (Redis's
/// `LATENCY_HISTOGRAM_MIN_VALUE`).
pub const LATENCY_NS_MIN: u64 = 1;
/// The longest duration a histogram holds, in ns; longer ones count as this
/// (Redis's `LATENCY_HISTOGRAM_MAX_VALUE`, 1 s).
pub const LATENCY_NS_MAX: u64 = 1_000_000_000;
/// Significant digits a histogram keeps (Redis's `LATENCY_HISTOGRAM_PRECISION`).
pub const LATENCY_SIGFIG: u8 = 2;
/// How far into an error reply its prefix's end (a space) is looked for.
pub const ERROR_PREFIX_SCAN_BYTES: usize = 32;

/// One core's per-command numbers, indexed by registry id (grown on first use).
#[derive(Debug, Clone, Default)]
pub struct Calls {
    pub latency: Vec<Option<Box<Histogram<u64>>>>,
    pub failed: Vec<u64>,
    pub rejected: Vec<u64>,
    /// Error replies by prefix.
    pub errors: BTreeMap<String, u64>,
}

thread_local! {
    static CALLS: RefCell<Calls> = RefCell::new(Calls::default());
}

fn new_histogram() -> Box<Histogram<u64>> {
    let histogram = Histogram::new_with_bounds(LATENCY_NS_MIN, LATENCY_NS_MAX, LATENCY_SIGFIG);
    Box::new(histogram.expect("the bounds are valid"))
}

/// Records that command `id` ran `ns` on this core.
pub fn record_latency(id: usize, ns: u64) {
    CALLS.with(|calls| {
        let latency = &mut calls.borrow_mut().latency;
        if latency.len() <= id {
            latency.resize(id + 1, None);
        }
        let histogram = latency[id].get_or_insert_with(new_histogram);
        histogram.saturating_record(ns.clamp(LATENCY_NS_MIN, LATENCY_NS_MAX));
    });
}

/// After command `id` ran on this core and answered `reply`: counts a failed
/// call and its error if the reply is an error.
pub fn replied(id: usize, reply: &[u8]) {
    if reply.first() == Some(&b'-') {
        CALLS.with(|calls| {
            let mut calls = calls.borrow_mut();
            bump(&mut calls.failed, id);
            calls.count_error(reply);
        });
    }
}

/// A command was refused before it ran with `-message`: a rejected call of `id`
/// (`None`: an unknown command) and its error.
pub fn rejected(id: Option<usize>, message: &str) {
    CALLS.with(|calls| {
        let mut calls = calls.borrow_mut();
        if let Some(id) = id {
            bump(&mut calls.rejected, id);
        }
        calls.count_error(format!("-{message}").as_bytes());
    });
}

fn bump(counts: &mut Vec<u64>, id: usize) {
    if counts.len() <= id {
        counts.resize(id + 1, 0);
    }
    counts[id] += 1;
}

/// An error reply's prefix: its first word, or `ERR` when no space ends one
/// within [`ERROR_PREFIX_SCAN_BYTES`] (Redis's `afterErrorReply`).
fn error_prefix(reply: &[u8]) -> &[u8] {
    let scanned = &reply[..reply.len().min(ERROR_PREFIX_SCAN_BYTES)];
    match scanned.iter().position(|b| *b == b' ') {
        Some(space) => &reply[1..space],
        None => b"ERR",
    }
}

/// A copy of this core's numbers.
pub fn snapshot() -> Calls {
    CALLS.with(|calls| calls.borrow().clone())
}

/// Forgets this core's numbers (`CONFIG RESETSTAT`).
pub fn reset() {
    CALLS.with(|calls| *calls.borrow_mut() = Calls::default());
}

impl Calls {
    /// Adds another core's numbers to these.
    pub fn merge(&mut self, other: &Calls) {
        add_counts(&mut self.failed, &other.failed);
        add_counts(&mut self.rejected, &other.rejected);
        for (prefix, count) in &other.errors {
            *self.errors.entry(prefix.clone()).or_default() += count;
        }
        if self.latency.len() < other.latency.len() {
            self.latency.resize(other.latency.len(), None);
        }
        for (mine, theirs) in self.latency.iter_mut().zip(&other.latency) {
            let Some(theirs) = theirs else { continue };
            match mine {
                Some(mine) => mine.add(&**theirs).expect("histograms share their bounds"),
                None => *mine = Some(theirs.clone()),
            }
        }
    }

    fn count_error(&mut self, reply: &[u8]) {
        let prefix = String::from_utf8_lossy(error_prefix(reply));
        match self.errors.get_mut(prefix.as_ref()) {
            Some(count) => *count += 1,
            None => {
                self.errors.insert(prefix.into_owned(), 1);
            }
        }
    }

    /// Command `id`'s failed and rejected calls.
    pub fn failures(&self, id: usize) -> (u64, u64) {
        let at = |counts: &Vec<u64>| counts.get(id).copied().unwrap_or(0);
        (at(&self.failed), at(&self.rejected))
    }

    /// Command `id`'s histogram, if it ran since the last reset.
    pub fn histogram(&self, id: usize) -> Option<&Histogram<u64>> {
        self.latency.get(id).and_then(|h| h.as_deref())
    }
}

fn add_counts(mine: &mut Vec<u64>, theirs: &[u64]) {
    if mine.len() < theirs.len() {
        mine.resize(theirs.len(), 0);
    }
    for (m, t) in mine.iter_mut().zip(theirs) {
        *m += t;
    }
}

/// `LATENCY HISTOGRAM`'s buckets for `h`: (µs, calls at or below), on a log-2
/// scale from 1024 ns, the buckets where the count grows, as Redis lists them.
pub fn cumulative_buckets(h: &Histogram<u64>) -> Vec<(u64, u64)> {
    let mut buckets = Vec::new();
    let (mut level, mut previous) = (LOG_BUCKET_FIRST_NS, 0);
    while previous < h.len() {
        let count = h.count_between(0, level);
        if count > previous {
            buckets.push((h.highest_equivalent(level) / 1000, count));
        }
        previous = count;
        level *= 2;
    }
    buckets
}

/// The first bucket `LATENCY HISTOGRAM` lists, in ns.
const LOG_BUCKET_FIRST_NS: u64 = 1024;

/// The duration, in µs, at or below which `percentile` % of `h` falls, as `INFO
/// latencystats` prints it.
pub fn percentile_us(h: &Histogram<u64>, percentile: f64) -> f64 {
    h.value_at_quantile(percentile / 100.0) as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_and_percentiles_as_redis_reports_them() {
        let mut h = new_histogram();
        h.record(16_000).unwrap();
        assert_eq!(cumulative_buckets(&h), vec![(16, 1)]);
        h.record(170_000).unwrap();
        h.record(6_000).unwrap();
        assert_eq!(cumulative_buckets(&h), vec![(8, 1), (16, 2), (264, 3)]);
        assert_eq!(format!("{:.3}", percentile_us(&h, 0.0)), "5.984");
        assert_eq!(format!("{:.3}", percentile_us(&h, 50.0)), "16.063");
        assert_eq!(format!("{:.3}", percentile_us(&h, 99.9)), "171.007");
    }

    #[test]
    fn errors_count_under_their_prefix() {
        assert_eq!(error_prefix(b"-WRONGTYPE Operation against"), b"WRONGTYPE");
        assert_eq!(error_prefix(b"-ERR syntax error"), b"ERR");
        assert_eq!(error_prefix(b"-NOSPACEINTHEFIRSTTHIRTYTWOBYTES_ X"), b"ERR");
        assert_eq!(error_prefix(b"-OOPS"), b"ERR");
    }

    #[test]
    fn cores_add_up() {
        let mut a = Calls::default();
        let mut b = Calls {
            latency: vec![None, Some(new_histogram())],
            ..Default::default()
        };
        b.latency[1].as_mut().unwrap().record(5_000).unwrap();
        a.merge(&b);
        a.merge(&b);
        assert_eq!(a.histogram(1).map(|h| h.len()), Some(2));
        assert!(a.histogram(0).is_none());
    }
}
