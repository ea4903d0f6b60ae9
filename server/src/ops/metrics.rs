//! The Prometheus endpoint: `GET /metrics` over plain HTTP/1.1 on
//! `metrics-port` (0, the default, is off), bound to the addresses `bind` names.
//!
//! Served by the first core, in its low-share background task queue, so a
//! scrape never runs ahead of requests: the scrape asks every core for its
//! numbers as `INFO` does and prints them in the Prometheus text format (0.0.4)
//! under redis_exporter's metric names where one exists (`redis_up`,
//! `redis_connected_clients`, `redis_commands_total{cmd=}`,
//! `redis_keyspace_keys{db=}`, `redis_memory_used_bytes`, ...), and corekv's
//! per-shard series under `corekv_shard_*{shard=}` (on a replica, each shard
//! stream's lag too). Per command, `INFO latencystats`' percentiles as
//! redis_exporter exports them (`redis_latency_percentiles_usec`, a summary)
//! and a histogram of its durations (`corekv_command_duration_seconds`, log-2
//! buckets from [`DURATION_BUCKET_FIRST_US`] µs to about a second, what
//! `LATENCY HISTOGRAM` shows). One request per connection
//! (`Connection: close`); a request head longer than [`REQUEST_BYTES_MAX`] or
//! slower than [`REQUEST_TIMEOUT`] is dropped.

use std::fmt::Write as _;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::{AsyncReadExt, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream};
use hdrhistogram::Histogram;

use crate::commands::requests::CoreSnapshot;
use crate::shard::Core;

/// Longest request head read.
pub const REQUEST_BYTES_MAX: usize = 8192;
/// Longest wait for a request head.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The upper bound of a duration histogram's first bucket, in µs.
pub const DURATION_BUCKET_FIRST_US: u64 = 1;
/// A duration histogram's buckets, each twice the one before: up to 2^20 µs
/// (1.05 s), past which Redis's histograms clamp.
pub const DURATION_BUCKETS: u32 = 21;

/// Starts serving `/metrics` on `core` if `metrics-port` is set; an address that
/// cannot be bound is logged and skipped.
pub fn start(core: &Rc<Core>) {
    let port = core.global.config.get_u64("metrics-port") as u16;
    if port == 0 {
        return;
    }
    let addrs = match crate::runtime::service::bind_addrs(&core.global.config.get("bind"), port) {
        Ok(addrs) => addrs,
        Err(e) => return log::warn!("metrics endpoint not started: {e}"),
    };
    for addr in addrs {
        let listener = match TcpListener::bind(addr) {
            Ok(listener) => listener,
            Err(e) => {
                log::warn!("metrics endpoint: cannot listen on {addr}: {e}");
                continue;
            }
        };
        log::info!("metrics endpoint on http://{addr}/metrics");
        let core = core.clone();
        let queue = core.background_queue();
        glommio::spawn_local_into(accept(core, listener), queue)
            .expect("background task queue")
            .detach();
    }
}

async fn accept(core: Rc<Core>, listener: TcpListener) {
    while let Ok(stream) = listener.accept().await {
        let core = core.clone();
        glommio::spawn_local_into(serve(core.clone(), stream), core.background_queue())
            .expect("background task queue")
            .detach();
    }
}

/// Answers one request on `stream`, then closes it.
async fn serve(core: Rc<Core>, mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(REQUEST_TIMEOUT));
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(n) if n > 0 && head.len() + n <= REQUEST_BYTES_MAX => {
                head.extend_from_slice(&buf[..n])
            }
            _ => return,
        }
    }
    let line = head.split(|b| *b == b'\r').next().unwrap_or_default();
    let mut words = line.split(|b| *b == b' ');
    let (method, path) = (words.next(), words.next());
    let (status, body) = match (method, path) {
        (Some(b"GET"), Some(b"/metrics")) => {
            let snaps = crate::commands::info::core_snapshots(&core).await;
            ("200 OK", render(&core, &snaps))
        }
        (Some(b"GET"), _) => ("404 Not Found", "not found: try /metrics\n".to_string()),
        _ => ("405 Method Not Allowed", "only GET\n".to_string()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.close().await;
}

/// One metric family in the text format.
struct Family<'a> {
    text: &'a mut String,
}

impl Family<'_> {
    fn start<'t>(text: &'t mut String, name: &str, kind: &str, help: &str) -> Family<'t> {
        let _ = write!(text, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
        Family { text }
    }

    /// A sample: `name{labels} value`; label values are escaped.
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (label, value)) in labels.iter().enumerate() {
                let sep = if i == 0 { "" } else { "," };
                let escaped = value
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n");
                let _ = write!(self.text, "{sep}{label}=\"{escaped}\"");
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
    }
}

/// A family of one unlabelled sample.
fn single(text: &mut String, name: &str, kind: &str, help: &str, value: f64) {
    Family::start(text, name, kind, help).sample(name, &[], value);
}

/// The value of `field` in `INFO` text `section`.
fn info_field(section: &str, field: &str) -> f64 {
    section
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Every metric, from every core's numbers.
fn render(core: &Core, snaps: &[CoreSnapshot]) -> String {
    let mut t = String::new();
    for (name, help, value) in gauges(core) {
        single(&mut t, name, "gauge", help, value);
    }
    for (name, help, value) in counters(core, snaps) {
        single(&mut t, name, "counter", help, value);
    }
    let g = &core.global;
    let mut replication = String::new();
    crate::repl::info(g, snaps, &mut replication);
    let replicas = info_field(&replication, "connected_slaves");
    single(
        &mut t,
        "redis_connected_slaves",
        "gauge",
        "Connected replicas.",
        replicas,
    );
    let offset = info_field(&replication, "master_repl_offset");
    single(
        &mut t,
        "redis_master_repl_offset",
        "gauge",
        "Replication offset.",
        offset,
    );
    replica_lag(&replication, snaps.len(), &mut t);
    keyspace(snaps, &mut t);
    commands(snaps, &mut t);
    shards(snaps, &mut t);
    t
}

/// The process-wide gauges: name, help, value.
fn gauges(core: &Core) -> [(&'static str, &'static str, f64); 5] {
    let g = &core.global;
    [
        ("redis_up", "Whether the server answered.", 1.0),
        (
            "redis_uptime_in_seconds",
            "Seconds since start.",
            g.started.elapsed().as_secs() as f64,
        ),
        (
            "redis_connected_clients",
            "Connected clients.",
            g.connected_clients.load(Ordering::Relaxed) as f64,
        ),
        (
            "redis_blocked_clients",
            "Clients in a blocking command.",
            crate::shard::blocking::blocked_clients() as f64,
        ),
        (
            "redis_memory_used_bytes",
            "Resident memory.",
            crate::commands::memory::rss_bytes() as f64,
        ),
    ]
}

/// The counters summed over the cores: name, help, value.
fn counters(core: &Core, snaps: &[CoreSnapshot]) -> [(&'static str, &'static str, f64); 9] {
    let g = &core.global;
    let sum = |f: &dyn Fn(&CoreSnapshot) -> u64| snaps.iter().map(f).sum::<u64>() as f64;
    [
        (
            "redis_commands_processed_total",
            "Commands processed.",
            sum(&|s| s.core.commands),
        ),
        (
            "redis_connections_received_total",
            "Connections accepted.",
            g.total_connections.load(Ordering::Relaxed) as f64,
        ),
        (
            "redis_rejected_connections_total",
            "Connections refused (maxclients).",
            g.rejected_connections.load(Ordering::Relaxed) as f64,
        ),
        (
            "redis_net_input_bytes_total",
            "Bytes read from clients.",
            sum(&|s| s.core.net_input_bytes),
        ),
        (
            "redis_net_output_bytes_total",
            "Bytes written to clients.",
            sum(&|s| s.core.net_output_bytes),
        ),
        (
            "redis_keyspace_hits_total",
            "Key lookups that found the key.",
            sum(&|s| s.shard.db.keyspace_hits),
        ),
        (
            "redis_keyspace_misses_total",
            "Key lookups that did not.",
            sum(&|s| s.shard.db.keyspace_misses),
        ),
        (
            "redis_expired_keys_total",
            "Keys expired.",
            sum(&|s| s.shard.db.expired_keys),
        ),
        (
            "redis_evicted_keys_total",
            "Keys evicted.",
            sum(&|s| s.shard.evicted_keys),
        ),
    ]
}

/// `redis_db_keys{db=}` and `redis_keyspace_keys_expiring{db=}`.
fn keyspace(snaps: &[CoreSnapshot], t: &mut String) {
    let dbs = snaps.first().map_or(0, |s| s.shard.keys.len());
    let per_db: Vec<(String, usize, usize)> = (0..dbs)
        .map(|db| {
            let keys = snaps.iter().map(|s| s.shard.keys[db].0).sum();
            let expires = snaps.iter().map(|s| s.shard.keys[db].1).sum();
            (format!("db{db}"), keys, expires)
        })
        .filter(|(_, keys, _)| *keys > 0)
        .collect();
    let name = "redis_db_keys";
    let mut f = Family::start(t, name, "gauge", "Keys per database.");
    for (db, keys, _) in &per_db {
        f.sample(name, &[("db", db)], *keys as f64);
    }
    let name = "redis_db_keys_expiring";
    let mut f = Family::start(t, name, "gauge", "Keys with a time to live per database.");
    for (db, _, expires) in &per_db {
        f.sample(name, &[("db", db)], *expires as f64);
    }
}

/// One command's row: name, calls, µs, failed and rejected calls.
type CommandRow<'a> = (&'a str, u64, u64, u64, u64);
/// A per-command family: name, help, the value it takes from a row.
type CommandFamily = (&'static str, &'static str, fn(&CommandRow) -> f64);
/// A per-shard family: name, type, help, the value it takes from a core's numbers.
type ShardFamily = (
    &'static str,
    &'static str,
    &'static str,
    fn(&CoreSnapshot) -> f64,
);

/// Per command: calls, time, rejected and failed calls; per error prefix, its
/// error replies.
fn commands(snaps: &[CoreSnapshot], t: &mut String) {
    let mut calls = super::calls::Calls::default();
    for s in snaps {
        calls.merge(&s.calls);
    }
    let stat_rows = crate::ops::names::stat_rows();
    let all: Vec<CommandRow> = (0..stat_rows.len())
        .map(|i| {
            let (count, usec) = snaps.iter().fold((0, 0), |(c, u), s| {
                (c + s.core.command_calls[i].0, u + s.core.command_calls[i].1)
            });
            let (failed, rejected) = calls.failures(i);
            (stat_rows.name(i), count, usec, failed, rejected)
        })
        .collect();
    latencies(&calls, &all, t);
    let rows: Vec<CommandRow> = all.into_iter().filter(|r| r.1 + r.3 + r.4 > 0).collect();
    let families: [CommandFamily; 4] = [
        ("redis_commands_total", "Calls per command.", |r| r.1 as f64),
        (
            "redis_commands_duration_seconds_total",
            "Time spent per command.",
            |r| r.2 as f64 / 1e6,
        ),
        (
            "redis_commands_failed_calls_total",
            "Calls that answered an error.",
            |r| r.3 as f64,
        ),
        (
            "redis_commands_rejected_calls_total",
            "Calls refused before running.",
            |r| r.4 as f64,
        ),
    ];
    for (name, help, value) in families {
        let mut f = Family::start(t, name, "counter", help);
        for row in &rows {
            f.sample(name, &[("cmd", row.0)], value(row));
        }
    }
    let name = "redis_errors_total";
    let mut f = Family::start(t, name, "counter", "Error replies per prefix.");
    for (prefix, count) in &calls.errors {
        f.sample(name, &[("err", prefix)], *count as f64);
    }
}

/// Per command that ran while latency tracking was on (`all` holds every
/// statistics row's numbers, by row): its percentiles as redis_exporter
/// exports `INFO latencystats` (µs; the count and sum are its calls and their
/// time, as in `INFO commandstats`), and its durations as a histogram.
fn latencies(calls: &super::calls::Calls, all: &[CommandRow], t: &mut String) {
    let tracked: Vec<(&CommandRow, &Histogram<u64>)> = all
        .iter()
        .enumerate()
        .filter_map(|(i, row)| Some((row, calls.histogram(i)?)))
        .collect();
    let percentiles = super::tracking_percentiles();
    let name = "redis_latency_percentiles_usec";
    let help = "Per-command latency percentiles (INFO latencystats).";
    let mut f = Family::start(t, name, "summary", help);
    for (row, h) in &tracked {
        for p in &percentiles {
            let quantile = quantile_label(*p);
            let labels = [("cmd", row.0), ("quantile", quantile.as_str())];
            f.sample(name, &labels, super::calls::percentile_us(h, *p));
        }
        f.sample(&format!("{name}_sum"), &[("cmd", row.0)], row.2 as f64);
        f.sample(&format!("{name}_count"), &[("cmd", row.0)], row.1 as f64);
    }
    let name = "corekv_command_duration_seconds";
    let help = "Per-command durations on the cores that ran them.";
    let mut f = Family::start(t, name, "histogram", help);
    let bucket = format!("{name}_bucket");
    for (row, h) in &tracked {
        for k in 0..DURATION_BUCKETS {
            let le_us = DURATION_BUCKET_FIRST_US << k;
            let le = (le_us as f64 / 1e6).to_string();
            let below = h.count_between(0, le_us * 1000);
            f.sample(&bucket, &[("cmd", row.0), ("le", &le)], below as f64);
        }
        f.sample(&bucket, &[("cmd", row.0), ("le", "+Inf")], h.len() as f64);
        let sum_s = h.mean() * h.len() as f64 / 1e9;
        f.sample(&format!("{name}_sum"), &[("cmd", row.0)], sum_s);
        f.sample(&format!("{name}_count"), &[("cmd", row.0)], h.len() as f64);
    }
}

/// A percentile as a summary's quantile label: 99.9 → `0.999`.
fn quantile_label(percentile: f64) -> String {
    let text = format!("{:.6}", percentile / 100.0);
    let text = text.trim_end_matches('0');
    text.strip_suffix('.').unwrap_or(text).to_string()
}

/// On a replica, each shard stream's lag behind its master (`INFO
/// replication`'s `shard<i>_lag_*`); nothing on a master.
fn replica_lag(replication: &str, shards: usize, t: &mut String) {
    if !replication.contains("role:slave\r\n") {
        return;
    }
    let families = [
        (
            "records",
            "Records the shard's master has that its replica stream lacks.",
        ),
        ("bytes", "Bytes of those records."),
        (
            "ms",
            "Milliseconds since the stream's last heartbeat (-1: none).",
        ),
    ];
    for (unit, help) in families {
        let name = format!("corekv_shard_replica_lag_{unit}");
        let mut f = Family::start(t, &name, "gauge", help);
        for i in 0..shards {
            let value = info_field(replication, &format!("shard{i}_lag_{unit}"));
            f.sample(&name, &[("shard", &i.to_string())], value);
        }
    }
}

/// corekv's per-shard series.
fn shards(snaps: &[CoreSnapshot], t: &mut String) {
    let families: [ShardFamily; 5] = [
        ("corekv_shard_keys", "gauge", "Keys on the shard.", |s| {
            s.shard.keys.iter().map(|k| k.0).sum::<usize>() as f64
        }),
        (
            "corekv_shard_hops_total",
            "counter",
            "Messages the shard's core sent to other cores.",
            |s| s.core.hops as f64,
        ),
        (
            "corekv_shard_journal_lsn",
            "gauge",
            "The shard's last journal LSN.",
            |s| s.journal.last_lsn as f64,
        ),
        (
            "corekv_shard_durable_lsn",
            "gauge",
            "The shard's last LSN on disk.",
            |s| s.journal.durable_lsn as f64,
        ),
        (
            "corekv_shard_clients",
            "gauge",
            "Clients on the shard's core.",
            |s| s.clients as f64,
        ),
    ];
    for (name, kind, help, value) in families {
        let mut f = Family::start(t, name, kind, help);
        for (i, s) in snaps.iter().enumerate() {
            f.sample(name, &[("shard", &i.to_string())], value(s));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_labelled_as_fractions() {
        assert_eq!(quantile_label(50.0), "0.5");
        assert_eq!(quantile_label(99.9), "0.999");
        assert_eq!(quantile_label(100.0), "1");
        assert_eq!(quantile_label(0.0), "0");
    }
}
