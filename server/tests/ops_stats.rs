//! The numbers operators read, compared with a live `redis-server` 7.0.15 on
//! one shard and on four where Redis has them: a command run inside `EXEC`
//! counts under its subcommand (`cmdstat_config|set`,
//! `latency_percentiles_usec_client|setname`) and is in the slow log on its
//! own, whichever way the transaction runs; a container's unknown subcommand
//! (`CONFIG FOO`) is refused before it is a command, so it counts only as an
//! error reply, and inside `MULTI` it aborts the transaction; `CONFIG
//! RESETSTAT` resets the counters Redis resets. And the metrics endpoint's
//! per-command latencies and per-shard replica lag, read by a real Prometheus
//! parser.

mod common;

use common::compare::{replies, script};
use common::metrics::{http_get, parse_metrics};
use common::{stats, Raw, Redis, Server, SHARD_COUNTS};

/// A transaction of server commands of both kinds (`CONFIG` and `CLIENT` wait
/// on other cores, `SLOWLOG` and `COMMAND` do not), failing ones among them,
/// beside keyed commands on several shards and `OBJECT`'s subcommands; then one
/// whose commands all run on one shard.
const EXEC_SCRIPT: &str = "
MULTI
CONFIG SET maxmemory-samples 5
CLIENT SETNAME exec-client
CONFIG GET maxmemory-samples
SLOWLOG LEN
COMMAND COUNT
OBJECT ENCODING k1
SET k1 v
SET k2 v
SET k3 v
CONFIG SET nosuch-parameter 1
CLIENT KILL 1.2.3.4:5
OBJECT FREQ k1
EXEC
MULTI
OBJECT ENCODING k1
OBJECT REFCOUNT k1
GET k1
EXEC
";

/// Unknown subcommands of every container corekv and Redis share, alone and
/// inside `MULTI`; a container without a subcommand and a subcommand with too
/// few arguments (both rejected calls); a subcommand too long to quote whole.
const UNKNOWN_SCRIPT: &str = "
CONFIG FOO
CLIENT NOPE x
OBJECT X k
COMMAND NOPE
PUBSUB X
MEMORY X
SLOWLOG X
LATENCY X
CONFIG
config get
MULTI
CONFIG FOO
SET a 1
EXEC
GET a
";

/// After `script` (from a clean slate, every command in the slow log): each
/// reply unless `compare_replies` is false, then the commands' counts, the
/// names in `INFO latencystats`, the errors and the slow log's entries.
fn counted(port: u16, script: &[Vec<Vec<u8>>], compare_replies: bool) -> Vec<String> {
    let mut c = Raw::connect(port);
    c.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    c.cmd(&["SLOWLOG", "RESET"]);
    c.cmd(&["CONFIG", "RESETSTAT"]);
    let mut seen: Vec<String> = replies(port, 2, script)
        .iter()
        .filter(|_| compare_replies)
        .map(|r| String::from_utf8_lossy(r).into_owned())
        .collect();
    c.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "-1"]);
    seen.extend(stats::slowlog_args(&mut c, 128));
    seen.extend(stats::command_counts(&mut c));
    seen.extend(stats::latency_names(&mut c));
    seen.extend(stats::error_counts(&mut c));
    seen
}

/// Runs `script` on Redis and on corekv with each shard count; asserts that
/// what [`counted`] reads is the same, and that `expected` is among it.
fn same_counts_as_redis(script_text: &str, compare_replies: bool, expected: &[&str]) {
    let script = script(script_text);
    let redis = Redis::start();
    let want = counted(redis.port, &script, compare_replies);
    for line in expected {
        assert!(want.iter().any(|l| l == line), "{line} in {want:#?}");
    }
    for shards in SHARD_COUNTS {
        let server = Server::with_shards(shards, &[]);
        let got = counted(server.port(), &script, compare_replies);
        assert_eq!(got, want, "{shards} shards");
    }
}

#[test]
fn commands_inside_exec_count_under_their_subcommands() {
    // The replies of `SLOWLOG LEN` and `COMMAND COUNT` differ by design.
    same_counts_as_redis(
        EXEC_SCRIPT,
        false,
        &[
            "config|set:calls=3,rejected_calls=0,failed_calls=1",
            "client|setname:calls=1,rejected_calls=0,failed_calls=0",
            "client|kill:calls=1,rejected_calls=0,failed_calls=1",
            "object|encoding:calls=2,rejected_calls=0,failed_calls=0",
            "CLIENT SETNAME exec-client",
        ],
    );
}

#[test]
fn unknown_subcommands_count_only_as_errors() {
    same_counts_as_redis(
        UNKNOWN_SCRIPT,
        true,
        &[
            "-ERR unknown subcommand 'FOO'. Try CONFIG HELP.\r\n",
            "-EXECABORT Transaction discarded because of previous errors.\r\n",
            "config:calls=0,rejected_calls=1,failed_calls=0",
            "errorstat_ERR:count=11",
        ],
    );
}

/// A subcommand is quoted as Redis quotes it: cut at 128 bytes, line breaks
/// made spaces.
#[test]
fn unknown_subcommands_are_quoted_as_redis_quotes_them() {
    let long = "x".repeat(200);
    let calls: [&[&[u8]]; 3] = [
        &[b"CoNfIg", long.as_bytes()],
        &[b"client", b"a\r\nb"],
        &[b"object", b"\n", b"k"],
    ];
    let redis = Redis::start();
    let server = Server::start(&[]);
    let (mut want, mut got) = (Raw::connect(redis.port), server.raw());
    for args in calls {
        assert_eq!(
            String::from_utf8_lossy(&got.cmd_raw(args)),
            String::from_utf8_lossy(&want.cmd_raw(args)),
        );
    }
}

/// The `INFO stats` counters compared after `CONFIG RESETSTAT`.
const RESET_COUNTERS: &[&str] = &[
    "total_connections_received",
    "total_commands_processed",
    "rejected_connections",
    "sync_full",
    "sync_partial_ok",
    "sync_partial_err",
    "expired_keys",
    "evicted_keys",
    "keyspace_hits",
    "keyspace_misses",
    "total_error_replies",
    "unexpected_error_replies",
];

/// [`RESET_COUNTERS`] (`name:value`) before and after `CONFIG RESETSTAT`, on
/// the connection that sent it, after other connections, hits, misses, an
/// expired key and errors; then the errors and the commands counted after it.
fn around_resetstat(port: u16) -> (Vec<String>, Vec<String>) {
    for _ in 0..3 {
        Raw::connect(port).cmd(&["PING"]);
    }
    let mut c = Raw::connect(port);
    for args in [
        &["SET", "k", "v"][..],
        &["GET", "k"],
        &["GET", "missing"],
        &["SET", "gone", "v", "PX", "1"],
        &["NOSUCH"],
        &["LPUSH", "k", "x"],
    ] {
        c.cmd(args);
    }
    std::thread::sleep(std::time::Duration::from_millis(20));
    c.cmd(&["GET", "gone"]);
    let counters = |c: &mut Raw| -> Vec<String> {
        let info = c.cmd(&["INFO", "stats"]);
        RESET_COUNTERS
            .iter()
            .map(|f| format!("{f}:{}", common::info_value(&info, f).unwrap_or_default()))
            .collect()
    };
    let before = counters(&mut c);
    assert_eq!(c.cmd(&["CONFIG", "RESETSTAT"]), "OK");
    let mut after = counters(&mut c);
    after.extend(stats::error_counts(&mut c));
    after.extend(stats::command_counts(&mut c));
    (before, after)
}

#[test]
fn config_resetstat_resets_what_redis_resets() {
    let redis = Redis::start();
    let (before, expected) = around_resetstat(redis.port);
    for counter in [
        "total_connections",
        "expired_keys",
        "hits",
        "misses",
        "error",
    ] {
        let line = before.iter().find(|l| l.contains(counter)).unwrap();
        assert!(!line.ends_with(":0"), "{line} before the reset");
    }
    let server = Server::with_shards(2, &[]);
    assert_eq!(around_resetstat(server.port()).1, expected);
}

/// One parsed sample: name, labels as JSON, value.
type Sample = (String, String, f64);

/// The value of sample `name` with `labels` (JSON) in `samples`.
fn sample(samples: &[Sample], name: &str, labels: &str) -> Option<f64> {
    let found = samples.iter().find(|(n, l, _)| n == name && l == labels);
    found.map(|s| s.2)
}

/// Per command, `redis_latency_percentiles_usec` (a summary: the configured
/// percentiles, calls, time) and `corekv_command_duration_seconds` (a
/// cumulative histogram ending at the calls) agree with the calls made, on
/// every core.
#[test]
fn metrics_carry_per_command_latencies() {
    const SETS: usize = 40;
    let metrics_port = common::free_port();
    let server = Server::with_shards(2, &["--metrics-port", &metrics_port.to_string()]);
    let mut c = server.raw();
    c.cmd(&[
        "CONFIG",
        "SET",
        "latency-tracking-info-percentiles",
        "50 99.9",
    ]);
    for i in 0..SETS {
        c.cmd(&["SET", &format!("key{i}"), "v"]);
    }
    c.cmd(&["CONFIG", "GET", "maxmemory"]);
    let (_, text) = http_get(metrics_port, "/metrics");
    let Some(samples) = parse_metrics(&text) else {
        return;
    };
    let set = r#"{"cmd":"set"}"#;
    let summary = "redis_latency_percentiles_usec";
    for quantile in ["0.5", "0.999"] {
        let labels = format!(r#"{{"cmd":"set","quantile":"{quantile}"}}"#);
        let value = sample(&samples, summary, &labels);
        assert!(value.is_some_and(|us| us > 0.0), "{labels} in\n{text}");
    }
    let calls = sample(&samples, &format!("{summary}_count"), set);
    assert_eq!(calls, Some(SETS as f64), "{text}");
    let config_get = r#"{"cmd":"config|get"}"#;
    let config_calls = sample(&samples, &format!("{summary}_count"), config_get);
    assert_eq!(config_calls, Some(1.0), "{text}");
    let histogram = "corekv_command_duration_seconds";
    let buckets: Vec<f64> = samples
        .iter()
        .filter(|(n, l, _)| *n == format!("{histogram}_bucket") && l.contains(r#""cmd":"set""#))
        .map(|s| s.2)
        .collect();
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
    assert_eq!(buckets.last(), Some(&(SETS as f64)), "{text}");
    let count = sample(&samples, &format!("{histogram}_count"), set);
    assert_eq!(count, Some(SETS as f64));
}

/// A replica's endpoint has each shard stream's lag; a master's has none.
#[test]
fn metrics_carry_replica_lag_per_shard() {
    const SHARDS: usize = 2;
    let master_metrics = common::free_port();
    let master = Server::with_shards(SHARDS, &["--metrics-port", &master_metrics.to_string()]);
    let replica_metrics = common::free_port();
    let replicaof = format!("127.0.0.1 {}", master.port());
    let replica = Server::with_shards(
        SHARDS,
        &[
            "--replicaof",
            &replicaof,
            "--replica-serve-reads",
            "yes",
            "--metrics-port",
            &replica_metrics.to_string(),
        ],
    );
    master.raw().cmd(&["SET", "k", "v"]);
    let deadline = std::time::Instant::now() + common::READ_TIMEOUT;
    let mut r = replica.raw();
    while r.cmd(&["GET", "k"]) != "v" {
        assert!(
            std::time::Instant::now() < deadline,
            "the replica never synced"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let Some(samples) = parse_metrics(&http_get(replica_metrics, "/metrics").1) else {
        return;
    };
    for shard in 0..SHARDS {
        let labels = format!(r#"{{"shard":"{shard}"}}"#);
        for unit in ["records", "bytes", "ms"] {
            let name = format!("corekv_shard_replica_lag_{unit}");
            assert!(sample(&samples, &name, &labels).is_some(), "{name}{labels}");
        }
    }
    let master_text = http_get(master_metrics, "/metrics").1;
    assert!(
        !master_text.contains("corekv_shard_replica_lag"),
        "{master_text}"
    );
}

/// Fields of Redis 7.0's `INFO` that corekv leaves out: what it does not have
/// (the cluster bus, client-side tracking, the Lua and function engines), does
/// not count apart (client, replication and reply buffers, replication
/// traffic, read and write events, the expiry cycle's and eviction's effort),
/// and the main thread's CPU (each core is a thread; none is the main one).
const INFO_LEFT_OUT: &[&str] = &[
    "cluster_connections",
    "client_recent_max_input_buffer",
    "client_recent_max_output_buffer",
    "tracking_clients",
    "clients_in_timeout_table",
    "used_memory_lua",
    "used_memory_vm_eval",
    "used_memory_lua_human",
    "used_memory_scripts_eval",
    "number_of_cached_scripts",
    "number_of_functions",
    "number_of_libraries",
    "used_memory_vm_functions",
    "used_memory_vm_total",
    "used_memory_vm_total_human",
    "used_memory_functions",
    "used_memory_scripts",
    "used_memory_scripts_human",
    "mem_not_counted_for_evict",
    "mem_replication_backlog",
    "mem_total_replication_buffers",
    "mem_clients_slaves",
    "mem_clients_normal",
    "total_net_repl_input_bytes",
    "total_net_repl_output_bytes",
    "instantaneous_input_repl_kbps",
    "instantaneous_output_repl_kbps",
    "expired_stale_perc",
    "expired_time_cap_reached_count",
    "expire_cycle_cpu_milliseconds",
    "total_eviction_exceeded_time",
    "current_eviction_exceeded_time",
    "tracking_total_keys",
    "tracking_total_items",
    "tracking_total_prefixes",
    "total_reads_processed",
    "total_writes_processed",
    "reply_buffer_shrinks",
    "reply_buffer_expands",
    "used_cpu_sys_main_thread",
    "used_cpu_user_main_thread",
];

/// `INFO everything`'s fixed sections: per section header, its field names.
fn info_fields(port: u16) -> Vec<(String, Vec<String>)> {
    let text = Raw::connect(port).cmd(&["INFO", "everything"]);
    let mut sections: Vec<(String, Vec<String>)> = Vec::new();
    for line in text.lines() {
        if let Some(header) = line.strip_prefix("# ") {
            sections.push((header.to_string(), Vec::new()));
        } else if let (Some((name, _)), Some(section)) = (line.split_once(':'), sections.last_mut())
        {
            section.1.push(name.to_string());
        }
    }
    let per_command = ["Commandstats", "Errorstats", "Latencystats", "Keyspace"];
    sections.retain(|(header, _)| !per_command.contains(&header.as_str()));
    sections
}

/// Every field of Redis 7.0's `INFO` sections is in corekv's same section but
/// the ones [`INFO_LEFT_OUT`] names, which corekv does not print.
#[test]
fn info_sections_have_redis_fields() {
    let redis = Redis::start();
    let server = Server::with_shards(2, &[]);
    let ours = info_fields(server.port());
    let mut missing = Vec::new();
    for (header, fields) in info_fields(redis.port) {
        let Some((_, have)) = ours.iter().find(|(h, _)| *h == header) else {
            missing.push(format!("# {header}"));
            continue;
        };
        for field in fields {
            let printed = have.contains(&field);
            if printed == INFO_LEFT_OUT.contains(&field.as_str()) {
                missing.push(format!("{header}: {field} (printed: {printed})"));
            }
        }
    }
    assert!(missing.is_empty(), "{missing:#?}");
}

/// The instantaneous rates follow a load: `instantaneous_ops_per_sec` is not
/// 0 while commands run, and is 0 again once they stop.
#[test]
fn info_instantaneous_rates_follow_the_load() {
    let server = Server::with_shards(2, &[]);
    let mut c = server.raw();
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_millis(500) {
        c.cmd(&["SET", "k", "v"]);
    }
    let stats = c.cmd(&["INFO", "stats"]);
    let rate = |stats: &str, field: &str| -> f64 {
        common::info_value(stats, field).unwrap().parse().unwrap()
    };
    assert!(rate(&stats, "instantaneous_ops_per_sec") > 0.0, "{stats}");
    assert!(rate(&stats, "instantaneous_input_kbps") > 0.0, "{stats}");
    // 16 samples of 100 ms: the load is out of the mean after 1.6 s.
    std::thread::sleep(std::time::Duration::from_millis(2000));
    let stats = c.cmd(&["INFO", "stats"]);
    assert_eq!(rate(&stats, "instantaneous_ops_per_sec"), 0.0, "{stats}");
}

/// Keys that expire together, enough for one shard's expiry tick to use its
/// whole time budget (25 ms).
const EXPIRING_KEYS: usize = 30_000;

/// A shard's active expiry tick over the threshold is an `expire-cycle` spike
/// in `LATENCY LATEST`, as Redis reports its expiry cycle.
#[test]
fn latency_monitor_reports_expire_cycles() {
    let server = Server::with_shards(1, &[]);
    let mut c = server.raw();
    c.cmd(&["CONFIG", "SET", "latency-monitor-threshold", "1"]);
    let mut pipeline = Vec::new();
    for i in 0..EXPIRING_KEYS {
        let key = format!("expiring:{i}");
        pipeline.extend(common::encode_str(&["SET", &key, "v", "PX", "200"]));
    }
    c.send(&pipeline);
    for _ in 0..EXPIRING_KEYS {
        c.read_reply();
    }
    let deadline = std::time::Instant::now() + common::READ_TIMEOUT;
    loop {
        let latest = c.cmd(&["LATENCY", "LATEST"]);
        if latest.contains("expire-cycle") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{latest}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A value big enough that writing its journal record and syncing it each take
/// over a millisecond anywhere.
const JOURNAL_SPIKE_VALUE_BYTES: usize = 32 << 20;

/// The journal's write of a turn's records and an `appendfsync always` sync over
/// the threshold are `aof-write` and `aof-fsync-always` spikes, as Redis reports
/// its AOF's.
#[test]
fn latency_monitor_reports_journal_writes_and_syncs() {
    let server = Server::with_shards(1, &["--appendonly", "yes", "--appendfsync", "always"]);
    let mut c = server.raw();
    c.cmd(&["CONFIG", "SET", "latency-monitor-threshold", "1"]);
    let value = "v".repeat(JOURNAL_SPIKE_VALUE_BYTES);
    assert_eq!(c.cmd(&["SET", "big", &value]), "OK");
    let deadline = std::time::Instant::now() + common::READ_TIMEOUT;
    loop {
        let latest = c.cmd(&["LATENCY", "LATEST"]);
        if latest.contains("aof-write") && latest.contains("aof-fsync-always") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{latest}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Keys a shard holds before its `maxmemory` is cut, so that getting under the
/// new limit takes an eviction cycle over the threshold.
const EVICTED_KEYS: usize = 200_000;

/// A shard evicting keys for longer than the threshold is an `eviction-cycle`
/// spike, as Redis reports its eviction cycle.
#[test]
fn latency_monitor_reports_eviction_cycles() {
    let server = Server::with_shards(1, &[]);
    let mut c = server.raw();
    let mut pipeline = Vec::new();
    for i in 0..EVICTED_KEYS {
        pipeline.extend(common::encode_str(&["SET", &format!("k:{i}"), "v"]));
    }
    c.send(&pipeline);
    for _ in 0..EVICTED_KEYS {
        c.read_reply();
    }
    c.cmd(&["CONFIG", "SET", "maxmemory-policy", "allkeys-random"]);
    // No bound on one cycle's work, so that one cycle evicts them all.
    c.cmd(&["CONFIG", "SET", "maxmemory-eviction-tenacity", "100"]);
    c.cmd(&["CONFIG", "SET", "latency-monitor-threshold", "1"]);
    c.cmd(&["CONFIG", "SET", "maxmemory", "1mb"]);
    let deadline = std::time::Instant::now() + common::READ_TIMEOUT;
    loop {
        c.cmd(&["SET", "trigger", "v"]);
        let latest = c.cmd(&["LATENCY", "LATEST"]);
        if latest.contains("eviction-cycle") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{latest}");
    }
}
