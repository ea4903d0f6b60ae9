//! The latency monitor: for each event class, the latest spikes of at least
//! `latency-monitor-threshold` ms (`LATENCY LATEST`, `HISTORY`, `DOCTOR`).
//!
//! Events recorded here: `command` and `fast-command`, a command (of the `fast`
//! group or not) that ran at least the threshold on its shard, timed where the
//! slow log times it ([`super::slowlog`]); `expire-cycle`, a shard's active
//! expiry tick (`crate::runtime::background`). Like Redis, samples within one second
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

/// Records the time since `started` for `event`: `expire-cycle` (one active
/// expiry tick of a shard, as Redis times its expiry cycle), `aof-write` (a
/// journal writer turn's write of its records), `aof-fsync-always` (a sync under
/// `appendfsync always`, from its start to its end), `eviction-cycle` (a shard
/// evicting keys to get under its share of `maxmemory`).
pub fn add_since(event: &'static str, started: std::time::Instant) {
    add(event, started.elapsed().as_millis() as u64);
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

/// Columns of `LATENCY GRAPH` (Redis's `LATENCY_GRAPH_COLS`); more samples wrap
/// to another block.
pub const GRAPH_COLUMNS: usize = 80;
/// Rows of the graph's bars.
const GRAPH_ROWS: usize = 4;
/// Empty rows between the bars and the labels.
const GRAPH_LABEL_MARGIN_ROWS: usize = 1;
/// Bar characters from low to high, each row of a column taking one of them.
const GRAPH_FILL: &[u8] = b"_o#";

/// `LATENCY GRAPH event`: Redis's header and sparkline, each sample labelled with
/// how long ago it was (`12s`, `3m`, `2h`, `1d`) relative to `now_s`.
pub fn graph(event: &str, series: &Series, now_s: u64) -> String {
    let values: Vec<u64> = series.samples.iter().map(|(_, ms)| *ms).collect();
    let (min, max) = (
        values.iter().copied().min().unwrap_or(0),
        values.iter().copied().max().unwrap_or(0),
    );
    let labels: Vec<String> = series
        .samples
        .iter()
        .map(|(time, _)| ago(now_s.saturating_sub(*time)))
        .collect();
    let mut text = format!(
        "{event} - high {max} ms, low {min} ms (all time high {} ms)\n{}\n",
        series.max_ms,
        "-".repeat(GRAPH_COLUMNS)
    );
    for (i, start) in (0..values.len()).step_by(GRAPH_COLUMNS).enumerate() {
        if i > 0 {
            text.push('\n');
        }
        let end = (start + GRAPH_COLUMNS).min(values.len());
        sparkline(
            &values[start..end],
            &labels[start..end],
            min,
            max,
            &mut text,
        );
    }
    text
}

fn ago(elapsed_s: u64) -> String {
    match elapsed_s {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// One block of the graph: [`GRAPH_ROWS`] rows of bars scaled between `min` and
/// `max`, then each column's label read downwards (Redis's `sparklineRender`).
fn sparkline(values: &[u64], labels: &[String], min: u64, max: u64, text: &mut String) {
    let steps = (GRAPH_FILL.len() * GRAPH_ROWS) as i64;
    let range = if max == min { 1.0 } else { (max - min) as f64 };
    let step_of = |v: u64| {
        let step = (((v - min) as f64 * steps as f64) as i64 as f64 / range) as i64;
        step.clamp(0, steps - 1)
    };
    for row in 0..GRAPH_ROWS {
        let line: String = values
            .iter()
            .map(|v| {
                let fill = step_of(*v) - ((GRAPH_ROWS - row - 1) * GRAPH_FILL.len()) as i64;
                match usize::try_from(fill) {
                    Ok(i) if i < GRAPH_FILL.len() => GRAPH_FILL[i] as char,
                    Ok(_) => '|',
                    Err(_) => ' ',
                }
            })
            .collect();
        text.push_str(&line);
        text.push('\n');
    }
    for _ in 0..GRAPH_LABEL_MARGIN_ROWS {
        text.push_str(&" ".repeat(values.len()));
        text.push('\n');
    }
    let longest = labels.iter().map(String::len).max().unwrap_or(0);
    for at in 0..longest {
        let line: String = labels
            .iter()
            .map(|l| l.as_bytes().get(at).map_or(' ', |b| *b as char))
            .collect();
        text.push_str(&line);
        text.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_as_redis_draws_it() {
        let one = Series {
            samples: vec![(100, 50)],
            max_ms: 50,
        };
        let header = format!(
            "command - high 50 ms, low 50 ms (all time high 50 ms)\n{}\n",
            "-".repeat(80)
        );
        assert_eq!(
            graph("command", &one, 101),
            format!("{header} \n \n \n_\n \n1\ns\n")
        );
        let three = Series {
            samples: vec![(0, 10), (100, 20), (3700, 40)],
            max_ms: 40,
        };
        let text = graph("command", &three, 3710);
        let rows: Vec<&str> = text.lines().skip(2).collect();
        assert_eq!(
            rows,
            ["  #", "  |", " o|", "_||", "   ", "111", "hh0", "  s"]
        );
    }
}
