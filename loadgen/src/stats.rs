//! Latency recording: per-thread histograms, progress hand-off and merging.
//!
//! Each worker records into its own HDR histograms (one per command of the workload),
//! so recording is a few arithmetic operations and no lock. Every
//! `STATS_PUBLISH_INTERVAL_MS` it adds what it recorded since the last hand-off into
//! its [`Progress`] slot, the only state shared with the reporter thread, which merges
//! the slots once a second for the progress line. At the end the workers' histograms
//! are merged per command.
//!
//! Latencies are recorded in nanoseconds; output converts to milliseconds.

use crate::limits::{LATENCY_NS_MAX, LATENCY_SIGNIFICANT_DIGITS};
use hdrhistogram::Histogram;
use std::sync::Mutex;

pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_NS_MAX, LATENCY_SIGNIFICANT_DIGITS)
        .expect("latency histogram bounds are valid")
}

/// Everything measured for one command of the workload.
#[derive(Clone, Debug)]
pub struct CommandStats {
    /// Latency of every measured reply, errors included.
    pub latency_ns: Histogram<u64>,
    /// Measured replies that were RESP errors.
    pub errors: u64,
}

impl CommandStats {
    pub fn new() -> CommandStats {
        CommandStats {
            latency_ns: new_histogram(),
            errors: 0,
        }
    }

    pub fn requests(&self) -> u64 {
        self.latency_ns.len()
    }

    pub fn add(&mut self, other: &CommandStats) {
        self.latency_ns
            .add(&other.latency_ns)
            .expect("histograms share bounds");
        self.errors += other.errors;
    }
}

impl Default for CommandStats {
    fn default() -> Self {
        CommandStats::new()
    }
}

/// A worker's running totals as the reporter sees them.
pub struct Progress {
    /// Measured latencies so far, all commands together.
    pub latency_ns: Histogram<u64>,
    /// Replies received so far, warmup included.
    pub completed: u64,
    /// Measured error replies so far.
    pub errors: u64,
}

impl Progress {
    pub fn new() -> Progress {
        Progress {
            latency_ns: new_histogram(),
            completed: 0,
            errors: 0,
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}

/// One worker's recorder.
pub struct Recorder {
    commands: Vec<CommandStats>,
    recent_ns: Histogram<u64>,
    completed: u64,
    errors: u64,
    first_error: Option<String>,
}

impl Recorder {
    pub fn new(command_count: usize) -> Recorder {
        assert!(command_count > 0);
        Recorder {
            commands: vec![CommandStats::new(); command_count],
            recent_ns: new_histogram(),
            completed: 0,
            errors: 0,
            first_error: None,
        }
    }

    /// Counts one reply; only `measured` ones enter the histograms.
    pub fn record(&mut self, command: usize, latency_ns: u64, is_error: bool, measured: bool) {
        self.completed += 1;
        if !measured {
            return;
        }
        let stats = &mut self.commands[command];
        stats.latency_ns.saturating_record(latency_ns.max(1));
        self.recent_ns.saturating_record(latency_ns.max(1));
        if is_error {
            stats.errors += 1;
            self.errors += 1;
        }
    }

    /// Keeps the text of the first error reply for the final report.
    pub fn note_error_text(&mut self, text: &[u8]) {
        if self.first_error.is_none() {
            self.first_error = Some(String::from_utf8_lossy(text).into_owned());
        }
    }

    pub fn has_error_text(&self) -> bool {
        self.first_error.is_some()
    }

    /// Hands the latencies recorded since the last call to the reporter.
    pub fn publish(&mut self, slot: &Mutex<Progress>) {
        let mut progress = slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        progress
            .latency_ns
            .add(&self.recent_ns)
            .expect("histograms share bounds");
        progress.completed = self.completed;
        progress.errors = self.errors;
        drop(progress);
        self.recent_ns.reset();
    }

    pub fn finish(self) -> (Vec<CommandStats>, Option<String>) {
        (self.commands, self.first_error)
    }
}

/// Formats the once-a-second progress line from the workers' slots.
pub struct ProgressReporter {
    merged_ns: Histogram<u64>,
    completed_before: u64,
    elapsed_before_s: f64,
}

impl ProgressReporter {
    pub fn new() -> ProgressReporter {
        ProgressReporter {
            merged_ns: new_histogram(),
            completed_before: 0,
            elapsed_before_s: 0.0,
        }
    }

    pub fn line(&mut self, slots: &[Mutex<Progress>], elapsed_s: f64, phase: &str) -> String {
        self.merged_ns.reset();
        let mut completed = 0;
        let mut errors = 0;
        for slot in slots {
            let progress = slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            self.merged_ns
                .add(&progress.latency_ns)
                .expect("histograms share bounds");
            completed += progress.completed;
            errors += progress.errors;
        }
        let interval_s = (elapsed_s - self.elapsed_before_s).max(f64::MIN_POSITIVE);
        let rate = (completed - self.completed_before) as f64 / interval_s;
        self.completed_before = completed;
        self.elapsed_before_s = elapsed_s;
        let ms = |q: f64| self.merged_ns.value_at_quantile(q) as f64 / 1e6;
        format!(
            "[{elapsed_s:7.1}s {phase:>7}] {rate:>11.0} req/s   p50 {:>9.3} ms   p99 {:>9.3} ms   errors {errors}",
            ms(0.5),
            ms(0.99),
        )
    }
}

impl Default for ProgressReporter {
    fn default() -> Self {
        ProgressReporter::new()
    }
}

/// Adds each worker's per-command stats into one list per command.
pub fn merge(per_worker: Vec<Vec<CommandStats>>) -> Vec<CommandStats> {
    let mut merged: Option<Vec<CommandStats>> = None;
    for stats in per_worker {
        match &mut merged {
            None => merged = Some(stats),
            Some(total) => {
                assert_eq!(total.len(), stats.len());
                total.iter_mut().zip(&stats).for_each(|(t, s)| t.add(s));
            }
        }
    }
    merged.unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_only_measured_replies_and_counts_errors() {
        let mut recorder = Recorder::new(2);
        recorder.record(0, 1_000, false, false);
        recorder.record(0, 2_000, false, true);
        recorder.record(1, 3_000, true, true);
        let slot = Mutex::new(Progress::new());
        recorder.publish(&slot);
        let progress = slot.lock().unwrap();
        assert_eq!(progress.completed, 3);
        assert_eq!(progress.errors, 1);
        assert_eq!(progress.latency_ns.len(), 2);
        drop(progress);
        let (commands, _) = recorder.finish();
        assert_eq!(commands[0].requests(), 1);
        assert_eq!(commands[1].errors, 1);
    }

    #[test]
    fn publish_hands_over_each_latency_once() {
        let mut recorder = Recorder::new(1);
        let slot = Mutex::new(Progress::new());
        recorder.record(0, 5_000, false, true);
        recorder.publish(&slot);
        recorder.publish(&slot);
        recorder.record(0, 6_000, false, true);
        recorder.publish(&slot);
        assert_eq!(slot.lock().unwrap().latency_ns.len(), 2);
    }

    #[test]
    fn merge_adds_per_command() {
        let worker = |latency| {
            let mut stats = vec![CommandStats::new(), CommandStats::new()];
            stats[1].latency_ns.record(latency).unwrap();
            stats[1].errors = 1;
            stats
        };
        let merged = merge(vec![worker(10), worker(20)]);
        assert_eq!(merged[0].requests(), 0);
        assert_eq!(merged[1].requests(), 2);
        assert_eq!(merged[1].errors, 2);
    }

    #[test]
    fn progress_line_shows_rate_and_percentiles() {
        let slots = vec![Mutex::new(Progress::new())];
        {
            let mut progress = slots[0].lock().unwrap();
            progress.completed = 2_000;
            for _ in 0..100 {
                progress.latency_ns.record(1_000_000).unwrap();
            }
        }
        let line = ProgressReporter::new().line(&slots, 2.0, "measure");
        assert!(line.contains(" 1000 req/s"), "{line}");
        assert!(line.contains("p50     1.000 ms"), "{line}");
        assert!(line.contains("errors 0"), "{line}");
    }
}
