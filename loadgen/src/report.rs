//! Results for people and programs: the summary table, `--json`, `--hdr-out`.
//!
//! Latencies are reported in milliseconds with microsecond resolution (three
//! decimals). The JSON result carries, per command and for all commands together, the
//! headline percentiles plus the whole percentile curve, which `--plot` reads back.
//! `--hdr-out` writes the text format of HdrHistogram's `outputPercentileDistribution`
//! (the one wrk2 prints and the HdrHistogram plotter reads).

use crate::run::{Config, Outcome};
use crate::stats::CommandStats;
use crate::worker::Pacing;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::fmt::Write;

/// Version tag of the JSON layout, checked when plotting.
pub const REPORT_FORMAT: &str = "corekv-loadgen/1";
const NS_PER_MS: f64 = 1e6;
/// Percentile steps per halving of the distance to 100%, as in HdrHistogram's
/// standard output.
const PERCENTILE_TICKS_PER_HALF_DISTANCE: u32 = 5;
/// Headline percentiles in the table, with their column titles.
const HEADLINE_PERCENTILES: [(f64, &str); 5] = [
    (50.0, "p50"),
    (90.0, "p90"),
    (99.0, "p99"),
    (99.9, "p99.9"),
    (99.99, "p99.99"),
];

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RunReport {
    pub format: String,
    pub target: String,
    /// `closed` or `open`.
    pub mode: String,
    pub threads: usize,
    pub connections: usize,
    pub pipeline: Option<usize>,
    pub rate_per_s: Option<f64>,
    pub workload: String,
    pub distribution: String,
    pub keyspace: u64,
    pub value_size: String,
    pub warmup_s: f64,
    /// Time the measured requests took, end of warmup to last reply.
    pub duration_s: f64,
    /// Requests never answered (drain timeout) or never sent; they count as failed.
    pub unanswered: u64,
    pub first_error: Option<String>,
    pub total: CommandReport,
    pub commands: Vec<CommandReport>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CommandReport {
    pub command: String,
    pub requests: u64,
    pub errors: u64,
    pub requests_per_s: f64,
    pub latency_ms: LatencySummary,
    /// The latency-by-percentile curve, in HdrHistogram's percentile steps.
    pub percentiles: Vec<PercentilePoint>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LatencySummary {
    pub min: f64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p99_9: f64,
    pub p99_99: f64,
    pub max: f64,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct PercentilePoint {
    /// 0 to 100.
    pub percentile: f64,
    pub latency_ms: f64,
    /// Requests at or below this latency.
    pub count: u64,
}

impl RunReport {
    pub fn new(config: &Config, outcome: &Outcome) -> RunReport {
        let labels = config.workload.templates().iter().map(|t| t.label());
        let commands: Vec<CommandReport> = labels
            .zip(&outcome.commands)
            .map(|(label, stats)| command_report(label, stats, outcome.measured_s))
            .collect();
        let (mode, pipeline, rate_per_s) = match config.pacing {
            Pacing::Closed { pipeline } => ("closed", Some(pipeline), None),
            Pacing::Open { rate_per_s } => ("open", None, Some(rate_per_s)),
        };
        RunReport {
            format: REPORT_FORMAT.to_string(),
            target: config.target.name.clone(),
            mode: mode.to_string(),
            threads: config.threads.min(config.connections),
            connections: config.connections,
            pipeline,
            rate_per_s,
            workload: config.workload.describe(),
            distribution: config.distribution.to_string(),
            keyspace: config.keyspace,
            value_size: config.value_size.to_string(),
            warmup_s: config.warmup.as_secs_f64(),
            duration_s: outcome.measured_s,
            unanswered: outcome.unanswered,
            first_error: outcome.first_error.clone(),
            total: command_report("ALL", &outcome.total(), outcome.measured_s),
            commands,
        }
    }

    /// The human-readable summary table.
    pub fn table(&self) -> String {
        let mut text = String::new();
        let pacing = match (self.pipeline, self.rate_per_s) {
            (Some(pipeline), _) => format!("closed loop, pipeline {pipeline}"),
            (None, Some(rate)) => format!("open loop at {rate} req/s"),
            (None, None) => self.mode.clone(),
        };
        let _ = writeln!(
            text,
            "{}: threads {}, connections {}, {pacing}, measured {} s, workload {}",
            self.target,
            self.threads,
            self.connections,
            format_float(self.duration_s, 2),
            self.workload
        );
        let _ = write!(
            text,
            "{:<10} {:>12} {:>11} {:>8}",
            "command", "requests/s", "requests", "errors"
        );
        for (_, title) in HEADLINE_PERCENTILES {
            let _ = write!(text, " {:>10}", format!("{title} ms"));
        }
        let _ = writeln!(text, " {:>10}", "max ms");
        for row in &self.commands {
            table_row(&mut text, row);
        }
        if self.commands.len() > 1 {
            table_row(&mut text, &self.total);
        }
        if self.unanswered > 0 {
            let _ = writeln!(text, "unanswered requests: {}", self.unanswered);
        }
        if let Some(error) = &self.first_error {
            let _ = writeln!(text, "first error reply: {error}");
        }
        text
    }
}

fn table_row(text: &mut String, row: &CommandReport) {
    let l = &row.latency_ms;
    let _ = write!(
        text,
        "{:<10} {:>12.1} {:>11} {:>8}",
        row.command, row.requests_per_s, row.requests, row.errors
    );
    for value in [l.p50, l.p90, l.p99, l.p99_9, l.p99_99, l.max] {
        let _ = write!(text, " {value:>10.3}");
    }
    text.push('\n');
}

fn format_float(value: f64, decimals: usize) -> String {
    format!("{value:.decimals$}")
}

fn command_report(label: &str, stats: &CommandStats, measured_s: f64) -> CommandReport {
    let hist = &stats.latency_ns;
    let ms = |ns: u64| ns as f64 / NS_PER_MS;
    let at = |percentile: f64| ms(hist.value_at_percentile(percentile));
    let empty = hist.is_empty();
    CommandReport {
        command: label.to_string(),
        requests: stats.requests(),
        errors: stats.errors,
        requests_per_s: if measured_s > 0.0 {
            stats.requests() as f64 / measured_s
        } else {
            0.0
        },
        latency_ms: LatencySummary {
            min: if empty { 0.0 } else { ms(hist.min()) },
            mean: hist.mean() / NS_PER_MS,
            p50: at(HEADLINE_PERCENTILES[0].0),
            p90: at(HEADLINE_PERCENTILES[1].0),
            p99: at(HEADLINE_PERCENTILES[2].0),
            p99_9: at(HEADLINE_PERCENTILES[3].0),
            p99_99: at(HEADLINE_PERCENTILES[4].0),
            max: if empty { 0.0 } else { ms(hist.max()) },
        },
        percentiles: percentile_curve(hist),
    }
}

fn percentile_curve(hist: &Histogram<u64>) -> Vec<PercentilePoint> {
    let mut count = 0;
    hist.iter_quantiles(PERCENTILE_TICKS_PER_HALF_DISTANCE)
        .map(|step| {
            count += step.count_since_last_iteration();
            PercentilePoint {
                percentile: round_percentile(step.quantile_iterated_to() * 100.0),
                latency_ms: step.value_iterated_to() as f64 / NS_PER_MS,
                count,
            }
        })
        .collect()
}

/// Drops the binary noise of the iterator's halving steps (`30.000000000000004`).
fn round_percentile(percentile: f64) -> f64 {
    const PERCENTILE_DECIMALS_SCALE: f64 = 1e9;
    (percentile * PERCENTILE_DECIMALS_SCALE).round() / PERCENTILE_DECIMALS_SCALE
}

/// HdrHistogram's percentile distribution text, values in milliseconds.
pub fn hdr_percentile_text(hist: &Histogram<u64>) -> String {
    let mut text = String::new();
    let _ = write!(
        text,
        "{:>12} {:>14} {:>10} {:>14}\n\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    let mut total = 0;
    for step in hist.iter_quantiles(PERCENTILE_TICKS_PER_HALF_DISTANCE) {
        total += step.count_since_last_iteration();
        let value = step.value_iterated_to() as f64 / NS_PER_MS;
        let quantile = step.quantile_iterated_to();
        if quantile < 1.0 {
            let inverse = 1.0 / (1.0 - quantile);
            let _ = writeln!(
                text,
                "{value:12.3} {quantile:2.12} {total:10} {inverse:14.2}"
            );
        } else {
            let _ = writeln!(text, "{value:12.3} {quantile:2.12} {total:10}");
        }
    }
    let sub_buckets = (2 * 10u32.pow(u32::from(hist.sigfig()))).next_power_of_two();
    let _ = writeln!(
        text,
        "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]",
        hist.mean() / NS_PER_MS,
        hist.stdev() / NS_PER_MS
    );
    let _ = writeln!(
        text,
        "#[Max     = {:12.3}, Total count    = {:12}]",
        hist.max() as f64 / NS_PER_MS,
        hist.len()
    );
    let _ = writeln!(
        text,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        hist.buckets(),
        sub_buckets
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::new_histogram;

    /// 1..=10_000 microseconds, one request each.
    fn linear_stats() -> CommandStats {
        let mut stats = CommandStats::new();
        for us in 1..=10_000u64 {
            stats.latency_ns.record(us * 1_000).unwrap();
        }
        stats.errors = 3;
        stats
    }

    fn close(actual: f64, expected: f64) -> bool {
        (actual - expected).abs() <= expected * 0.001 + 1e-9
    }

    #[test]
    fn summary_percentiles_are_in_milliseconds() {
        let report = command_report("GET", &linear_stats(), 2.0);
        assert_eq!(report.requests, 10_000);
        assert_eq!(report.errors, 3);
        assert!(close(report.requests_per_s, 5_000.0));
        let l = &report.latency_ms;
        assert!(close(l.p50, 5.0), "p50 {}", l.p50);
        assert!(close(l.p90, 9.0), "p90 {}", l.p90);
        assert!(close(l.p99, 9.9), "p99 {}", l.p99);
        assert!(close(l.p99_9, 9.99), "p99.9 {}", l.p99_9);
        assert!(close(l.max, 10.0), "max {}", l.max);
        assert!(close(l.min, 0.001), "min {}", l.min);
        assert!(close(l.mean, 5.0005), "mean {}", l.mean);
    }

    #[test]
    fn percentile_curve_rises_to_the_maximum_and_counts_everything() {
        let curve = command_report("GET", &linear_stats(), 1.0).percentiles;
        assert!(curve.len() > 50);
        assert!(curve.windows(2).all(|w| w[0].percentile <= w[1].percentile));
        assert!(curve.windows(2).all(|w| w[0].latency_ms <= w[1].latency_ms));
        let last = curve.last().unwrap();
        assert_eq!(last.percentile, 100.0);
        assert_eq!(last.count, 10_000);
        assert!(close(last.latency_ms, 10.0));
    }

    #[test]
    fn empty_histograms_report_zeros() {
        let report = command_report("GET", &CommandStats::new(), 0.0);
        assert_eq!(report.requests, 0);
        assert_eq!(report.requests_per_s, 0.0);
        assert_eq!(report.latency_ms.max, 0.0);
        assert!(report.percentiles.is_empty());
    }

    #[test]
    fn hdr_text_follows_the_standard_layout() {
        let mut hist = new_histogram();
        for us in 1..=1_000u64 {
            hist.record(us * 1_000).unwrap();
        }
        let text = hdr_percentile_text(&hist);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "       Value     Percentile TotalCount 1/(1-Percentile)"
        );
        assert_eq!(lines[1], "");
        assert_eq!(
            lines[2],
            "       0.001 0.000000000000          1           1.00"
        );
        let half = lines
            .iter()
            .find(|l| l.contains(" 0.500000000000 "))
            .unwrap();
        assert_eq!(
            *half,
            "       0.500 0.500000000000        500           2.00"
        );
        let last_row = lines[lines.len() - 4];
        assert_eq!(last_row, "       1.000 1.000000000000       1000");
        let mean = lines[lines.len() - 3];
        assert!(mean.starts_with("#[Mean    =        0.50"), "{mean}");
        assert!(mean.ends_with(", StdDeviation   =        0.289]"), "{mean}");
        assert_eq!(
            lines[lines.len() - 2],
            "#[Max     =        1.000, Total count    =         1000]"
        );
        assert!(lines[lines.len() - 1].starts_with("#[Buckets = "));
        assert!(lines[lines.len() - 1].ends_with("SubBuckets     =         2048]"));
    }

    #[test]
    fn json_round_trips() {
        let stats = linear_stats();
        let report = RunReport {
            format: REPORT_FORMAT.to_string(),
            target: "127.0.0.1:6379".to_string(),
            mode: "open".to_string(),
            threads: 1,
            connections: 2,
            pipeline: None,
            rate_per_s: Some(100.0),
            workload: "GET:1".to_string(),
            distribution: "uniform".to_string(),
            keyspace: 10,
            value_size: "3".to_string(),
            warmup_s: 0.0,
            duration_s: 1.0,
            unanswered: 0,
            first_error: Some("ERR x".to_string()),
            total: command_report("ALL", &stats, 1.0),
            commands: vec![command_report("GET", &stats, 1.0)],
        };
        let json = serde_json::to_string(&report).unwrap();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["commands"][0]["command"], "GET");
        assert_eq!(value["total"]["requests"], 10_000);
        assert!(value["total"]["latency_ms"]["p99_9"].as_f64().unwrap() > 9.9);
        let back: RunReport = serde_json::from_str(&json).unwrap();
        assert_eq!(back.commands[0].requests, report.commands[0].requests);
        assert_eq!(back.first_error, report.first_error);
        let curves = back.total.percentiles.iter().zip(&report.total.percentiles);
        assert_eq!(back.total.percentiles.len(), report.total.percentiles.len());
        for (parsed, original) in curves {
            assert!((parsed.percentile - original.percentile).abs() < 1e-9);
            assert!((parsed.latency_ms - original.latency_ms).abs() < 1e-9);
            assert_eq!(parsed.count, original.count);
        }
        let table = report.table();
        assert!(table.contains("open loop at 100 req/s"), "{table}");
        assert!(table.lines().nth(2).unwrap().starts_with("GET"), "{table}");
        assert!(table.contains("first error reply: ERR x"), "{table}");
    }
}
