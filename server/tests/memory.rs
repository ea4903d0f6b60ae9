//! Memory: `used_memory` counts what the process holds (checked against the RSS growth
//! of a load), `INFO memory` and `INFO shards` carry Redis's fields, `MEMORY`
//! answers as Redis 7.0 does, active expiry keeps up with a mass of keys expiring at
//! once, and idle connections give back what a burst of large requests made them
//! hold.

mod common;

use std::time::{Duration, Instant};

use common::{encode_str, info_value, Raw, Server};

/// Keys per accuracy load: enough that the load dwarfs the server's start-up state.
const LOAD_KEYS: usize = 200_000;
/// Requests per pipelined write while loading.
const LOAD_BATCH: usize = 1000;
/// `used_memory`'s growth is within this fraction of the RSS growth (the issue's ±10%).
const ACCURACY: f64 = 0.10;
/// Keys given a 1 s TTL for the active-expiry test (the 200,000).
const EXPIRING_KEYS: usize = 200_000;
/// How long after their deadline active expiry may take to delete all of them
/// (Redis 7.0: about 1.6 s; a fixed number of rounds per tick took 9 s).
const EXPIRED_GONE_WITHIN: Duration = Duration::from_millis(3500);

/// Connections of the idle-connection test.
const IDLE_CONNECTIONS: usize = 1_000;
/// The heap an idle connection may hold: its session, its task and its entry in
/// the client list, about 4 KiB (Redis 7.0.15: 8 KiB of RSS per idle connection).
/// A connection task whose state inlines the rare paths' futures (blocking
/// commands, transactions, calls to other shards) held 10 KiB.
const IDLE_CONNECTION_BYTES_MAX: u64 = 6 * 1024;
/// Connections of the burst test, each sending one large request.
const BURST_CONNECTIONS: usize = 2_000;
/// The size of each burst request's argument.
const BURST_REQUEST_BYTES: usize = 64 * 1024;
/// How far above the RSS of the same connections idle before the burst the RSS may
/// stay once they are idle again: about 6 KiB per connection, against the 64 KiB or
/// more each held while its request was arriving (128 MiB in all).
const BURST_RSS_SLACK_BYTES: u64 = 12 << 20;
/// How long the RSS may take to come back after the last reply (the 5 s).
const BURST_RSS_BACK_WITHIN: Duration = Duration::from_secs(5);

fn used_memory(con: &mut Raw) -> u64 {
    let memory = con.cmd(&["INFO", "memory"]);
    info_value(&memory, "used_memory")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("used_memory in {memory}"))
}

/// Sends `count` SETs of 16-byte keys and 32-byte values (`extra` appended to each),
/// pipelined, and checks the replies.
fn load(con: &mut Raw, count: usize, extra: &[&str]) {
    send_batches(con, "SET", count, extra, b"+OK\r\n");
}

/// Sends `count` requests shaped like [`load`]'s but with `command`, pipelined in
/// the same batches, and checks each reply is `reply`.
fn send_batches(con: &mut Raw, command: &str, count: usize, extra: &[&str], reply: &[u8]) {
    let value = "v".repeat(32);
    for first in (0..count).step_by(LOAD_BATCH) {
        let last = (first + LOAD_BATCH).min(count);
        let mut batch = Vec::new();
        for i in first..last {
            let key = format!("key:{i:012}");
            let mut args = vec![command, key.as_str(), value.as_str()];
            args.extend_from_slice(extra);
            batch.extend_from_slice(&encode_str(&args));
        }
        con.send(&batch);
        for _ in first..last {
            assert_eq!(con.read_reply(), reply);
        }
    }
}

/// Sends [`load`]'s traffic as `EXISTS` requests of the same size, which store
/// nothing: what the traffic itself makes resident (input and reply buffers, the
/// allocator's caches) is there before a baseline is taken, so the RSS growth
/// measured after it is the keys'.
fn warm_up(con: &mut Raw, count: usize, extra: &[&str]) {
    send_batches(con, "EXISTS", count, extra, b":0\r\n");
}

#[test]
fn used_memory_grows_as_rss_does_for_plain_and_volatile_keys() {
    for extra in [&[][..], &["EX", "86400"][..]] {
        let server = Server::with_shards(1, &[]);
        let mut con = server.raw();
        warm_up(&mut con, LOAD_KEYS, extra);
        let (used_before, rss_before) = (used_memory(&mut con), server.rss_kib() * 1024);
        load(&mut con, LOAD_KEYS, extra);
        let (used_after, rss_after) = (used_memory(&mut con), server.rss_kib() * 1024);
        let used = (used_after - used_before) as f64;
        let rss = rss_after.saturating_sub(rss_before) as f64;
        assert!(
            (used - rss).abs() <= rss * ACCURACY,
            "SET {extra:?}: used_memory grew {used} bytes, RSS {rss}"
        );
    }
}

#[test]
fn info_memory_and_info_shards_carry_the_memory_fields() {
    let server = Server::with_shards(2, &[]);
    let mut con = server.raw();
    load(&mut con, 1000, &[]);
    let memory = con.cmd(&["INFO", "memory"]);
    for field in [
        "used_memory",
        "used_memory_rss",
        "used_memory_peak",
        "used_memory_overhead",
        "used_memory_startup",
        "used_memory_dataset",
        "mem_fragmentation_ratio",
        "maxmemory",
    ] {
        assert!(info_value(&memory, field).is_some(), "{field} in {memory}");
    }
    let num = |field| -> u64 { info_value(&memory, field).unwrap().parse().unwrap() };
    assert!(num("used_memory_peak") >= num("used_memory"), "{memory}");
    assert!(num("used_memory_dataset") < num("used_memory"), "{memory}");
    assert_eq!(
        info_value(&memory, "mem_allocator").as_deref(),
        Some("jemalloc-5.3.0")
    );
    let shards = con.cmd(&["INFO", "shards"]);
    let lines: Vec<&str> = shards.lines().filter(|l| l.starts_with("shard")).collect();
    assert_eq!(lines.len(), 2, "{shards}");
    for line in lines {
        assert!(line.contains(",used_memory="), "{line}");
        assert!(line.contains(",tables_memory="), "{line}");
    }
}

/// Replies recorded from redis-server 7.0.15.
#[test]
fn memory_usage_and_its_errors_are_redis_s() {
    let server = Server::with_shards(2, &[]);
    let mut con = server.raw();
    assert_eq!(con.cmd(&["MEMORY", "USAGE", "nokey"]), "(nil)");
    for (i, value) in ["x".repeat(32), "y".repeat(3000)].iter().enumerate() {
        let key = format!("key:{i:012}");
        assert_eq!(con.cmd(&["SET", &key, value]), "OK");
        let bytes: usize = con.cmd(&["MEMORY", "USAGE", &key]).parse().unwrap();
        assert!(
            bytes > key.len() + value.len() && bytes < key.len() + value.len() + 256,
            "{key}: {bytes} bytes for a {}-byte value",
            value.len()
        );
        assert_eq!(
            con.cmd(&["memory", "usage", &key, "SAMPLES", "0"]),
            bytes.to_string()
        );
    }
    let cases: &[(&[&str], &str)] = &[
        (
            &["MEMORY", "USAGE"],
            "ERR wrong number of arguments for 'memory|usage' command",
        ),
        (&["MEMORY", "USAGE", "a", "b"], "ERR syntax error"),
        (&["MEMORY", "USAGE", "a", "SAMPLES"], "ERR syntax error"),
        (
            &["MEMORY", "USAGE", "a", "SAMPLES", "x"],
            "ERR value is not an integer or out of range",
        ),
        (
            &["MEMORY", "USAGE", "a", "SAMPLES", "-1"],
            "ERR syntax error",
        ),
        (
            &["MEMORY", "FOO"],
            "ERR unknown subcommand 'FOO'. Try MEMORY HELP.",
        ),
    ];
    for (args, want) in cases {
        assert_eq!(con.cmd(args), format!("-{want}"), "{args:?}");
    }
    let help = con.cmd(&["MEMORY", "HELP"]);
    assert!(
        help.contains("MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"),
        "{help}"
    );
    assert_eq!(con.cmd(&["MEMORY", "PURGE"]), "OK");
}

#[test]
fn memory_stats_counts_the_keys_and_doctor_answers() {
    let server = Server::with_shards(2, &[]);
    let mut con = server.raw();
    let doctor = con.cmd(&["MEMORY", "DOCTOR"]);
    assert!(doctor.contains("this instance is empty"), "{doctor}");
    load(&mut con, 500, &[]);
    let stats = con.cmd(&["MEMORY", "STATS"]);
    for field in [
        "peak.allocated",
        "total.allocated",
        "startup.allocated",
        "dataset.bytes",
        "keys.bytes-per-key",
        "fragmentation",
    ] {
        assert!(stats.contains(field), "{field} in {stats}");
    }
    assert!(stats.contains("keys.count, 500,"), "{stats}");
}

#[test]
fn active_expiry_purges_a_mass_of_expired_keys_within_seconds() {
    let server = Server::with_shards(1, &[]);
    let mut con = server.raw();
    load(&mut con, EXPIRING_KEYS, &["PX", "1000"]);
    let deadline = Instant::now() + Duration::from_secs(1);
    std::thread::sleep(Duration::from_secs(1));
    loop {
        let keys: usize = con.cmd(&["DBSIZE"]).parse().unwrap();
        if keys == 0 {
            break;
        }
        assert!(
            deadline.elapsed() < EXPIRED_GONE_WITHIN,
            "{keys} of {EXPIRING_KEYS} expired keys left {:?} after their deadline",
            deadline.elapsed()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// 1,000 connections that each sent one `PING` and then nothing hold at most
/// [`IDLE_CONNECTION_BYTES_MAX`] each of the server's heap.
#[test]
fn an_idle_connection_holds_a_few_kilobytes() {
    let server = Server::with_shards(1, &[]);
    let mut admin = server.raw();
    let before = used_memory(&mut admin);
    let mut cons: Vec<Raw> = (0..IDLE_CONNECTIONS).map(|_| server.raw()).collect();
    for con in &mut cons {
        assert_eq!(con.cmd(&["PING"]), "PONG");
    }
    let per_connection = used_memory(&mut admin).saturating_sub(before) / IDLE_CONNECTIONS as u64;
    eprintln!("an idle connection holds {per_connection} bytes");
    assert!(
        per_connection <= IDLE_CONNECTION_BYTES_MAX,
        "an idle connection holds {per_connection} bytes"
    );
}

/// 2,000 connections each send half of a 64 KiB `ECHO` (so all hold a large input
/// buffer at once), then the rest, and read the reply: once idle again, the server's
/// RSS comes back to within [`BURST_RSS_SLACK_BYTES`] of what the same connections
/// cost idle before the burst, within [`BURST_RSS_BACK_WITHIN`].
#[test]
fn idle_connections_give_back_the_buffers_of_a_burst() {
    let server = Server::with_shards(1, &[]);
    let mut cons: Vec<Raw> = (0..BURST_CONNECTIONS).map(|_| server.raw()).collect();
    for con in &mut cons {
        assert_eq!(con.cmd(&["PING"]), "PONG");
    }
    let idle_rss = server.rss_kib() * 1024;
    let argument = "e".repeat(BURST_REQUEST_BYTES);
    let request = encode_str(&["ECHO", &argument]);
    let (head, tail) = request.split_at(request.len() / 2);
    for con in &mut cons {
        con.send(head);
    }
    for con in &mut cons {
        con.send(tail);
        assert_eq!(
            con.read_reply().len(),
            request.len() - b"*2\r\n$4\r\nECHO\r\n".len()
        );
    }
    rss_comes_back(&server, idle_rss, BURST_RSS_BACK_WITHIN, "the burst");
}

/// Waits until the server's RSS is within [`BURST_RSS_SLACK_BYTES`] of
/// `idle_rss`, failing after `within`.
fn rss_comes_back(server: &Server, idle_rss: u64, within: Duration, after: &str) {
    let peak_rss = server.rss_kib() * 1024;
    let done = Instant::now();
    loop {
        let rss = server.rss_kib() * 1024;
        if rss <= idle_rss + BURST_RSS_SLACK_BYTES {
            return;
        }
        assert!(
            done.elapsed() < within,
            "RSS {} MiB {:?} after {after} (idle before it: {} MiB, after it: {} MiB)",
            rss >> 20,
            done.elapsed(),
            idle_rss >> 20,
            peak_rss >> 20
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The input a request of many small arguments grew (no big bulk: the buffer
/// grew by the driver's appends) is kept while its connection is busy, so a
/// stream of such pipelines does not regrow it for each, and is freed once the
/// connection has been idle for two seconds (Redis's `clientsCron` does the
/// same): `CLIENT LIST`'s `tot-mem` shows it.
#[test]
fn an_idle_connection_gives_back_what_a_pipeline_grew() {
    const ARGS: usize = 4000;
    let server = Server::with_shards(1, &[]);
    let mut admin = server.raw();
    let mut con = server.raw();
    assert_eq!(con.cmd(&["CLIENT", "SETNAME", "grown"]), "OK");
    let keys: Vec<String> = (0..ARGS).map(|i| format!("key:{i:06}")).collect();
    let mut args = vec!["EXISTS"];
    args.extend(keys.iter().map(String::as_str));
    let request = encode_str(&args);
    assert!(request.len() > 64 * 1024);
    let (head, tail) = request.split_at(request.len() / 2);
    con.send(head);
    std::thread::sleep(Duration::from_millis(100));
    con.send(tail);
    assert_eq!(con.read_reply(), b":0\r\n");
    let input_bytes = |admin: &mut Raw| -> usize {
        let list = admin.cmd(&["CLIENT", "LIST"]);
        let line = list
            .lines()
            .find(|l| l.contains("name=grown "))
            .unwrap_or_else(|| panic!("the client in {list}"));
        let field = |name: &str| -> usize {
            line.split(' ')
                .find_map(|f| f.strip_prefix(name))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{name} in {line}"))
        };
        field("tot-mem=") - field("omem=")
    };
    let held = input_bytes(&mut admin);
    assert!(
        held >= request.len() / 2,
        "kept after the request ran: {held}"
    );
    let done = Instant::now();
    while input_bytes(&mut admin) > 16 * 1024 {
        assert!(
            done.elapsed() < Duration::from_secs(5),
            "still {} bytes of input after {:?} idle",
            input_bytes(&mut admin),
            done.elapsed()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(con.cmd(&["PING"]), "PONG");
    con.send(&request);
    assert_eq!(con.read_reply(), b":0\r\n");
}

/// Connections of the streaming test.
const STREAM_CONNECTIONS: usize = 200;
/// Pipelines of 16 SETs of 10 KB values each streaming connection sends.
const STREAM_PIPELINES: usize = 5;
/// How long the RSS may take to come back once the streams stop: a connection is
/// idle after 2 s, the core's periodic work (once a second) ends a receive holding
/// room in its input and frees the input at its next pass, and the allocator gives
/// pages back after a second.
const STREAM_RSS_BACK_WITHIN: Duration = Duration::from_secs(8);

/// Connections that streamed pipelines of 10 KB values and then went quiet give
/// their input buffers back: a receive straight into the input, armed while the
/// last pipeline's bytes were still unrun, would otherwise hold each buffer's
/// allocation for as long as its peer stays quiet (52 MiB for these 200).
#[test]
fn connections_quiet_after_streaming_give_their_input_back() {
    let server = Server::with_shards(1, &[]);
    let mut cons: Vec<Raw> = (0..STREAM_CONNECTIONS).map(|_| server.raw()).collect();
    for con in &mut cons {
        assert_eq!(con.cmd(&["PING"]), "PONG");
    }
    let idle_rss = server.rss_kib() * 1024;
    let value = "v".repeat(10_000);
    let pipeline: Vec<u8> = (0..16)
        .flat_map(|i| encode_str(&["SET", &format!("k{i}"), &value]))
        .collect();
    for _ in 0..STREAM_PIPELINES {
        for con in &mut cons {
            con.send(&pipeline);
        }
        for con in &mut cons {
            for _ in 0..16 {
                assert_eq!(con.read_reply(), b"+OK\r\n");
            }
        }
    }
    rss_comes_back(&server, idle_rss, STREAM_RSS_BACK_WITHIN, "the streams");
    for con in &mut cons {
        assert_eq!(con.cmd(&["PING"]), "PONG");
    }
}
