//! What operators run against the server, black-box: `SLOWLOG` (entries, their
//! truncation and redaction, thresholds, the length limit, durations measured on
//! the shard) and `MONITOR` (Redis's lines from every core, redaction, a monitor
//! that does not read cut off with memory bounded, `redis-cli monitor`),
//! `LATENCY` (the monitor, its graph, per-command histograms and `INFO
//! latencystats`), with
//! replies compared against a live `redis-server` 7.0 where they do not depend on
//! time.

mod common;

use common::metrics::{http_get, parse_metrics};
use common::{encode_str, Raw, Redis, Server, SHARD_COUNTS};

/// One `SLOWLOG GET` entry: id, Unix time, µs, arguments, client address, name.
type Entry = (i64, i64, i64, Vec<String>, String, String);

fn slowlog(con: &mut redis::Connection, count: i64) -> Vec<Entry> {
    redis::cmd("SLOWLOG")
        .arg("GET")
        .arg(count)
        .query(con)
        .expect("SLOWLOG GET")
}

fn config_set(con: &mut redis::Connection, name: &str, value: &str) {
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg(name)
        .arg(value)
        .query(con)
        .expect("CONFIG SET");
}

/// Sends `args` and returns the exact reply bytes as text.
fn exact(c: &mut Raw, args: &[&str]) -> String {
    c.send(&encode_str(args));
    String::from_utf8_lossy(&c.read_reply()).into_owned()
}

/// The replies of `SLOWLOG`'s texts and errors that do not depend on time.
fn slowlog_texts(port: u16) -> Vec<String> {
    let mut c = Raw::connect(port);
    [
        &["SLOWLOG", "HELP"][..],
        &["SLOWLOG", "RESET"],
        &["SLOWLOG", "LEN"],
        &["SLOWLOG", "GET"],
        &["SLOWLOG", "GET", "-2"],
        &["SLOWLOG", "GET", "x"],
        &["SLOWLOG", "GET", "1", "2"],
        &["SLOWLOG", "LEN", "x"],
        &["SLOWLOG", "NOPE"],
        &["SLOWLOG"],
        &["CONFIG", "SET", "slowlog-log-slower-than", "-2"],
        &["CONFIG", "SET", "slowlog-max-len", "-1"],
        &["CONFIG", "GET", "slowlog-log-slower-than"],
        &["CONFIG", "GET", "slowlog-max-len"],
    ]
    .iter()
    .map(|args| exact(&mut c, args))
    .collect()
}

#[test]
fn slowlog_texts_and_errors_match_redis() {
    let redis = Redis::start();
    let expected = slowlog_texts(redis.port);
    // The default threshold keeps these fast commands out of both logs.
    assert!(expected[3].starts_with("*0"), "{}", expected[3]);
    let server = Server::start(&[]);
    assert_eq!(slowlog_texts(server.port()), expected);
}

/// Logs every command from a named client on one and four shards: the commands of
/// other shards are logged on theirs and still carry the client's address and name.
#[test]
fn slowlog_logs_commands_with_their_client() {
    for shards in SHARD_COUNTS {
        let server = Server::with_shards(shards, &["--slowlog-log-slower-than", "0"]);
        let mut con = server.client();
        let _: () = redis::cmd("CLIENT")
            .arg("SETNAME")
            .arg("ops")
            .query(&mut con)
            .unwrap();
        let _: () = redis::cmd("SLOWLOG").arg("RESET").query(&mut con).unwrap();
        let keys: Vec<String> = (0..8).map(|i| format!("key:{i}")).collect();
        for k in &keys {
            let _: () = redis::cmd("SET").arg(k).arg("v").query(&mut con).unwrap();
        }
        let entries = slowlog(&mut con, -1);
        // Newest first: SET ×8 after RESET (which logs itself).
        assert_eq!(entries.len(), 9, "{shards} shards: {entries:?}");
        let addr: String = redis::cmd("CLIENT")
            .arg("INFO")
            .query::<String>(&mut con)
            .unwrap()
            .split(' ')
            .find_map(|f| f.strip_prefix("addr=").map(str::to_string))
            .unwrap();
        for (i, k) in keys.iter().rev().enumerate() {
            let (id, unix_s, _us, args, a, name) = &entries[i];
            assert_eq!(args, &["SET", k.as_str(), "v"], "{shards} shards");
            assert_eq!((a, name.as_str()), (&addr, "ops"), "{shards} shards");
            assert_eq!(*id, entries[0].0 - i as i64);
            assert!((*unix_s - entries[8].1).abs() <= 1);
        }
        assert_eq!(entries[8].3, ["SLOWLOG", "RESET"]);
        let len: i64 = redis::cmd("SLOWLOG").arg("LEN").query(&mut con).unwrap();
        // And SLOWLOG GET, CLIENT INFO.
        assert_eq!(len, 11);
        assert_eq!(slowlog(&mut con, 2).len(), 2);
    }
}

/// Arguments are cut and redacted as Redis cuts them (compared with its entries).
#[test]
fn slowlog_cuts_and_redacts_arguments_like_redis() {
    let redis = Redis::start();
    let server = Server::with_shards(4, &[]);
    let long = "x".repeat(200);
    let many: Vec<String> = (0..40).map(|i| format!("k{i}")).collect();
    let logged = |port: u16| -> Vec<Vec<String>> {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
        let mut con = client.get_connection().unwrap();
        config_set(&mut con, "slowlog-log-slower-than", "0");
        let _: () = redis::cmd("SLOWLOG").arg("RESET").query(&mut con).unwrap();
        let _: () = redis::cmd("SET")
            .arg("k")
            .arg(&long)
            .query(&mut con)
            .unwrap();
        let _: i64 = redis::cmd("DEL").arg(&many).query(&mut con).unwrap();
        let _: redis::RedisResult<()> = redis::cmd("AUTH").arg("user").arg("pw").query(&mut con);
        let _: redis::RedisResult<redis::Value> = redis::cmd("HELLO")
            .arg("2")
            .arg("AUTH")
            .arg("default")
            .arg("pw")
            .query(&mut con);
        slowlog(&mut con, -1).into_iter().map(|e| e.3).collect()
    };
    let expected = logged(redis.port);
    assert_eq!(expected[2].len(), 32, "{:?}", expected[2]);
    assert_eq!(logged(server.port()), expected);
}

/// The threshold and the length limit: `-1` logs nothing, a slow command is logged
/// with its duration and fast ones are not, and the log keeps `slowlog-max-len`.
#[test]
fn slowlog_threshold_and_length() {
    let server = Server::with_shards(2, &["--enable-debug-command", "yes"]);
    let mut con = server.client();
    config_set(&mut con, "slowlog-log-slower-than", "-1");
    // Anything slow before (a loaded machine) goes.
    let _: () = redis::cmd("SLOWLOG").arg("RESET").query(&mut con).unwrap();
    let _: () = redis::cmd("DEBUG")
        .arg("SLEEP")
        .arg("0.05")
        .query(&mut con)
        .unwrap();
    assert!(slowlog(&mut con, -1).is_empty());
    config_set(&mut con, "slowlog-log-slower-than", "40000");
    let _: () = redis::cmd("DEBUG")
        .arg("SLEEP")
        .arg("0.05")
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("SET").arg("a").arg("1").query(&mut con).unwrap();
    let entries = slowlog(&mut con, -1);
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].3, ["DEBUG", "SLEEP", "0.05"]);
    assert!(entries[0].2 >= 50_000, "{entries:?}");
    config_set(&mut con, "slowlog-log-slower-than", "0");
    config_set(&mut con, "slowlog-max-len", "3");
    for i in 0..10 {
        let _: () = redis::cmd("SET").arg(i).arg(i).query(&mut con).unwrap();
    }
    let entries = slowlog(&mut con, -1);
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[0].3, ["SET", "9", "9"]);
    config_set(&mut con, "slowlog-max-len", "1");
    let len: i64 = redis::cmd("SLOWLOG").arg("LEN").query(&mut con).unwrap();
    assert_eq!(len, 1);
}

// ---- MONITOR ----

/// Requests a client sends while another monitors; the comment says what Redis
/// shows of each.
const MONITORED: &[&[&str]] = &[
    &["MULTI"],
    &["SET", "a", "1"],
    &["GET", "a"],
    &["EXEC"],
    &["SELECT", "2"],
    &["PING"],
    &["SET", "x y", "q\"\\\n\x01\t"],
    // Redacted.
    &["AUTH", "user", "pw"],
    &["HELLO", "2", "AUTH", "default", "pw"],
    // Administrative: not shown.
    &["CONFIG", "GET", "maxclients"],
    // Rejected before running: not shown.
    &["NOSUCHCOMMAND"],
    &["GET"],
    &["DEL", "a", "x y"],
];

/// A monitor line without its time and port: `[db 127.0.0.1] "args"...`.
fn without_time(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    let rest = text.split_once(' ').map_or("", |(_, r)| r);
    let (addr, args) = rest.split_once("] ").unwrap_or((rest, ""));
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    format!("{host}] {}", args.trim_end())
}

/// What a monitor of `port` sees of [`MONITORED`].
fn monitored(port: u16) -> Vec<String> {
    let mut monitor = Raw::connect(port);
    assert_eq!(exact(&mut monitor, &["MONITOR"]), "+OK\r\n");
    let mut c = Raw::connect(port);
    for args in MONITORED {
        c.send(&encode_str(args));
        c.read_reply();
    }
    // The last request is shown: read up to it.
    let mut lines = Vec::new();
    while !lines.last().is_some_and(|l: &String| l.contains("\"DEL\"")) {
        lines.push(without_time(&monitor.read_reply()));
    }
    lines
}

#[test]
fn monitor_lines_match_redis() {
    let redis = Redis::start();
    let expected = monitored(redis.port);
    assert!(expected.iter().any(|l| l.contains("(redacted)")));
    for shards in SHARD_COUNTS {
        let server = Server::with_shards(shards, &[]);
        assert_eq!(monitored(server.port()), expected, "{shards} shard(s)");
    }
}

/// Commands from connections on every core reach a monitor on any core.
#[test]
fn monitor_sees_every_core() {
    const CLIENTS: usize = 16;
    let server = Server::with_shards(4, &[]);
    let mut monitor = Raw::connect(server.port());
    assert_eq!(exact(&mut monitor, &["MONITOR"]), "+OK\r\n");
    let mut clients: Vec<Raw> = (0..CLIENTS).map(|_| Raw::connect(server.port())).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        assert_eq!(exact(c, &["GET", &format!("seen:{i}")]), "$-1\r\n");
    }
    let mut seen: Vec<String> = (0..CLIENTS)
        .map(|_| without_time(&monitor.read_reply()))
        .collect();
    seen.sort();
    let mut expected: Vec<String> = (0..CLIENTS)
        .map(|i| format!("[0 127.0.0.1] \"GET\" \"seen:{i}\""))
        .collect();
    expected.sort();
    assert_eq!(seen, expected);
}

/// A monitor that never reads is closed at its output-buffer limit while a load
/// runs, and the server's memory stays bounded.
#[test]
fn monitor_that_does_not_read_is_cut_off() {
    const LOAD_REQUESTS: &str = "200000";
    const VALUE_BYTES: &str = "1000";
    /// Growth allowed: far below the ~220 MB of lines the load would queue.
    const RSS_GROWTH_KIB_MAX: u64 = 96 * 1024;
    let server = Server::with_shards(2, &["--client-output-buffer-limit", "normal 4mb 0 0"]);
    let mut monitor = Raw::connect(server.port());
    assert_eq!(exact(&mut monitor, &["MONITOR"]), "+OK\r\n");
    let before = server.rss_kib();
    let port = server.port().to_string();
    let load = std::process::Command::new("redis-benchmark")
        .args([
            "-p",
            &port,
            "-t",
            "set",
            "-n",
            LOAD_REQUESTS,
            "-d",
            VALUE_BYTES,
        ])
        .args(["-P", "16", "-c", "8", "-q"])
        .output()
        .expect("redis-benchmark (apt-get install redis-tools)");
    assert!(load.status.success(), "{load:?}");
    let grown = server.rss_kib().saturating_sub(before);
    assert!(grown < RSS_GROWTH_KIB_MAX, "RSS grew {grown} KiB");
    // The server closed the monitor: reading ends (what it had sent, then EOF).
    monitor.read_to_eof();
    assert!(server.log_text().contains("output buffer limits"));
}

/// `redis-cli monitor` prints the lines of commands others send.
#[test]
fn redis_cli_monitor_prints_commands() {
    use std::io::BufRead;
    let server = Server::with_shards(2, &[]);
    let port = server.port().to_string();
    let mut cli = std::process::Command::new("redis-cli")
        .args(["-p", &port, "monitor"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("redis-cli (apt-get install redis-tools)");
    let mut lines = std::io::BufReader::new(cli.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "OK");
    let mut c = Raw::connect(server.port());
    exact(&mut c, &["SET", "cli", "monitor"]);
    let line = lines.next().unwrap().unwrap();
    cli.kill().unwrap();
    cli.wait().unwrap();
    assert!(
        line.ends_with(" \"SET\" \"cli\" \"monitor\"") && line.contains(" [0 127.0.0.1:"),
        "{line}"
    );
}

// ---- CLIENT PAUSE, REPLY, NO-EVICT, LIST ----

/// A pipeline exercising `CLIENT REPLY`, and the errors of the new subcommands.
const CLIENT_SCRIPT: &[&[&str]] = &[
    &["CLIENT", "REPLY", "OFF"],
    &["SET", "a", "1"],
    &["GET", "a"],
    &["CLIENT", "REPLY", "ON"],
    &["GET", "a"],
    &["CLIENT", "REPLY", "SKIP"],
    &["INCR", "a"],
    &["GET", "a"],
    &["CLIENT", "REPLY", "SKIP"],
    &["CLIENT", "REPLY", "ON"],
    &["CLIENT", "REPLY", "MAYBE"],
    &["CLIENT", "REPLY"],
    &["CLIENT", "PAUSE"],
    &["CLIENT", "PAUSE", "abc"],
    &["CLIENT", "PAUSE", "-1"],
    &["CLIENT", "PAUSE", "10", "sometimes"],
    &["CLIENT", "PAUSE", "10", "ALL", "x"],
    &["CLIENT", "UNPAUSE", "x"],
    &["CLIENT", "UNPAUSE"],
    &["CLIENT", "NO-EVICT", "maybe"],
    &["CLIENT", "NO-EVICT", "on"],
    &["CLIENT", "NO-EVICT"],
    &["DEL", "a"],
];

/// Everything the server sends back for [`CLIENT_SCRIPT`] sent as one pipeline.
fn client_transcript(port: u16) -> String {
    let mut c = Raw::connect(port);
    let mut pipeline = Vec::new();
    for args in CLIENT_SCRIPT {
        pipeline.extend(encode_str(args));
    }
    pipeline.extend(encode_str(&["QUIT"]));
    c.send(&pipeline);
    String::from_utf8_lossy(&c.read_to_eof()).into_owned()
}

#[test]
fn client_reply_and_errors_match_redis() {
    let redis = Redis::start();
    let expected = client_transcript(redis.port);
    assert!(
        expected.starts_with("+OK\r\n$1\r\n1\r\n$1\r\n2\r\n+OK\r\n"),
        "{expected}"
    );
    for shards in SHARD_COUNTS {
        let server = Server::with_shards(shards, &[]);
        assert_eq!(
            client_transcript(server.port()),
            expected,
            "{shards} shard(s)"
        );
    }
}

/// `CLIENT PAUSE WRITE` holds writes from every connection but not reads, until it
/// ends or `CLIENT UNPAUSE`; `ALL` holds reads too.
#[test]
fn client_pause_holds_writes_until_it_ends() {
    use std::time::{Duration, Instant};
    const PAUSE_MS: u64 = 400;
    let server = Server::with_shards(2, &[]);
    let mut admin = Raw::connect(server.port());
    let mut clients: Vec<Raw> = (0..4).map(|_| Raw::connect(server.port())).collect();
    let pause = PAUSE_MS.to_string();
    assert_eq!(
        exact(&mut admin, &["CLIENT", "PAUSE", &pause, "WRITE"]),
        "+OK\r\n"
    );
    let started = Instant::now();
    for c in &mut clients {
        assert_eq!(exact(c, &["GET", "p"]), "$-1\r\n");
    }
    assert!(started.elapsed() < Duration::from_millis(PAUSE_MS / 2));
    for c in &mut clients {
        assert_eq!(exact(c, &["SET", "p", "1"]), "+OK\r\n");
    }
    assert!(started.elapsed() >= Duration::from_millis(PAUSE_MS - 20));

    // UNPAUSE releases a held write at once.
    assert_eq!(
        exact(&mut admin, &["CLIENT", "PAUSE", "60000", "WRITE"]),
        "+OK\r\n"
    );
    let started = Instant::now();
    clients[0].send(&encode_str(&["SET", "p", "2"]));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(exact(&mut admin, &["CLIENT", "UNPAUSE"]), "+OK\r\n");
    assert_eq!(String::from_utf8_lossy(&clients[0].read_reply()), "+OK\r\n");
    assert!(started.elapsed() < Duration::from_secs(5));

    // ALL holds reads as well.
    assert_eq!(
        exact(&mut admin, &["CLIENT", "PAUSE", &pause, "ALL"]),
        "+OK\r\n"
    );
    let started = Instant::now();
    assert_eq!(exact(&mut clients[1], &["GET", "p"]), "$1\r\n2\r\n");
    assert!(started.elapsed() >= Duration::from_millis(PAUSE_MS - 20));
}

/// The value of `field` in a `CLIENT LIST` / `CLIENT INFO` line.
fn field<'a>(line: &'a str, field: &str) -> &'a str {
    line.split(' ')
        .find_map(|f| f.strip_prefix(field)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {field} in {line}"))
        .trim_end()
}

/// The text of a bulk-string reply (`CLIENT INFO`, `CLIENT LIST`).
fn bulk_text(c: &mut Raw, args: &[&str]) -> String {
    let reply = exact(c, args);
    let (_, text) = reply.split_once("\r\n").expect("a bulk string");
    text.trim_end().to_string()
}

fn client_info(c: &mut Raw) -> String {
    bulk_text(c, &["CLIENT", "INFO"])
}

#[test]
fn client_list_shows_subscriptions_transactions_and_flags() {
    let server = Server::with_shards(2, &[]);
    let mut c = Raw::connect(server.port());
    let line = client_info(&mut c);
    for (f, v) in [("flags", "N"), ("sub", "0"), ("psub", "0"), ("ssub", "0")] {
        assert_eq!(field(&line, f), v, "{line}");
    }
    assert_eq!(field(&line, "multi"), "-1");
    assert_eq!(field(&line, "resp"), "2");
    let id = exact(&mut c, &["CLIENT", "ID"]);
    let id = id.trim_start_matches(':').trim_end();
    exact(&mut c, &["CLIENT", "SETINFO", "LIB-NAME", "ops-test"]);
    exact(&mut c, &["CLIENT", "NO-EVICT", "ON"]);
    exact(&mut c, &["MULTI"]);
    exact(&mut c, &["SET", "k", "v"]);
    exact(&mut c, &["GET", "k"]);
    exact(&mut c, &["EXEC"]);
    exact(&mut c, &["MULTI"]);
    exact(&mut c, &["GET", "k"]);
    let mut other = Raw::connect(server.port());
    let list = bulk_text(&mut other, &["CLIENT", "LIST"]);
    let mine = list
        .lines()
        .find(|l| field(l, "id") == id)
        .unwrap_or_else(|| panic!("{list}"));
    assert_eq!(field(mine, "flags"), "xe", "{mine}");
    assert_eq!(field(mine, "multi"), "1", "{mine}");
    assert_eq!(field(mine, "lib-name"), "ops-test", "{mine}");
    exact(&mut c, &["DISCARD"]);

    let mut sub = Raw::connect(server.port());
    sub.send(&encode_str(&["SUBSCRIBE", "a", "b"]));
    sub.read_reply();
    sub.read_reply();
    sub.send(&encode_str(&["PSUBSCRIBE", "x*"]));
    sub.read_reply();
    sub.send(&encode_str(&["SSUBSCRIBE", "s"]));
    sub.read_reply();
    let mut monitor = Raw::connect(server.port());
    exact(&mut monitor, &["MONITOR"]);
    let list = bulk_text(&mut other, &["CLIENT", "LIST"]);
    let subscriber = list.lines().find(|l| field(l, "sub") == "2").unwrap();
    assert_eq!(field(subscriber, "psub"), "1");
    assert_eq!(field(subscriber, "ssub"), "1");
    assert_eq!(field(subscriber, "flags"), "P");
    assert!(list.lines().any(|l| field(l, "flags") == "O"), "{list}");
}

/// `cmd=` names a container's subcommand as Redis 7.0 does (`client|info`,
/// `config|get`), and `NULL` after an unknown command or subcommand.
fn last_commands(port: u16) -> Vec<String> {
    let mut c = Raw::connect(port);
    let mut watcher = Raw::connect(port);
    let mut names = vec![field(&client_info(&mut c), "cmd").to_string()];
    for args in [
        &["CONFIG", "GET", "maxmemory"][..],
        &["CLIENT", "NOPE"],
        &["get", "k"],
        &["nosuch"],
        &["SLOWLOG", "len"],
        &["COMMAND", "COUNT"],
        &["LATENCY", "LATEST"],
    ] {
        c.cmd(args);
        let list = bulk_text(&mut watcher, &["CLIENT", "LIST"]);
        let id = field(&client_info(&mut c), "id").to_string();
        let line = list.lines().find(|l| field(l, "id") == id).unwrap();
        names.push(field(line, "cmd").to_string());
    }
    names
}

#[test]
fn client_list_names_subcommands_as_redis() {
    let redis = Redis::start();
    let expected = last_commands(redis.port);
    assert!(expected.contains(&"config|get".to_string()), "{expected:?}");
    let server = Server::start(&[]);
    assert_eq!(last_commands(server.port()), expected);
}

// ---- LATENCY ----

fn latency_texts(port: u16) -> Vec<String> {
    let mut c = Raw::connect(port);
    [
        &["LATENCY", "HELP"][..],
        &["LATENCY", "LATEST"],
        &["LATENCY", "HISTORY", "command"],
        &["LATENCY", "HISTORY"],
        &["LATENCY", "RESET"],
        &["LATENCY", "RESET", "command", "x"],
        &["LATENCY", "DOCTOR"],
        &["LATENCY", "NOPE"],
        &["LATENCY", "GRAPH", "command"],
        &["LATENCY", "GRAPH"],
        &["LATENCY", "HISTOGRAM", "nosuch", "get"],
        &["CONFIG", "SET", "latency-monitor-threshold", "-1"],
        &["CONFIG", "SET", "latency-tracking-info-percentiles", "abc"],
        &[
            "CONFIG",
            "SET",
            "latency-tracking-info-percentiles",
            "50 101",
        ],
        &[
            "CONFIG",
            "SET",
            "latency-tracking-info-percentiles",
            "99.990 50.0 0",
        ],
        &["CONFIG", "GET", "latency-tracking-info-percentiles"],
        &["CONFIG", "SET", "latency-tracking", "maybe"],
        &["CONFIG", "GET", "latency-tracking"],
        &["CONFIG", "SET", "latency-monitor-threshold", "10000"],
        &["LATENCY", "DOCTOR"],
    ]
    .iter()
    .map(|args| exact(&mut c, args))
    .collect()
}

#[test]
fn latency_texts_match_redis() {
    let redis = Redis::start();
    let expected = latency_texts(redis.port);
    let server = Server::start(&[]);
    let got = latency_texts(server.port());
    // Redis answers DOCTOR as a bulk string to RESP2 clients too.
    assert_eq!(got, expected);
}

/// `LATENCY HISTOGRAM`'s reply to a RESP2 and a RESP3 client, with its bucket
/// numbers (which depend on time) replaced by `N`.
fn histogram_shapes(port: u16) -> [String; 2] {
    let mut con = Raw::connect(port);
    let mut con3 = Raw::connect_resp3(port);
    let args = ["LATENCY", "HISTOGRAM", "set"];
    let shape = |reply: Vec<u8>| {
        let text = String::from_utf8_lossy(&reply).into_owned();
        let mut lines: Vec<String> = text.split("\r\n").map(str::to_string).collect();
        // The histogram's buckets follow its header: µs and count, by pairs.
        let at = lines.iter().position(|l| l == "histogram_usec").unwrap() + 1;
        let kind = lines[at][..1].to_string();
        lines.truncate(at);
        lines.push(kind);
        let calls = lines.iter_mut().find(|l| l.starts_with(':')).unwrap();
        *calls = ":N".into();
        lines.join("|")
    };
    [shape(con.cmd_raw(&args.map(str::as_bytes))), {
        con3.send(&encode_str(&args));
        shape(con3.read_reply())
    }]
}

/// `LATENCY HISTOGRAM names...` (RESP2): per command, its name, calls and
/// buckets (µs, calls at or below).
type CommandHistogram = (String, i64, Vec<(i64, i64)>);

fn histograms(con: &mut redis::Connection, names: &[&str]) -> Vec<CommandHistogram> {
    use redis::Value::{Array, BulkString, Int};
    let reply: redis::Value = redis::cmd("LATENCY")
        .arg("HISTOGRAM")
        .arg(names)
        .query(con)
        .unwrap();
    let Array(items) = reply else {
        panic!("{reply:?}")
    };
    items
        .chunks(2)
        .map(|pair| match pair {
            [BulkString(name), Array(fields)] => match &fields[..] {
                [_, Int(calls), _, Array(buckets)] => {
                    let buckets = buckets
                        .chunks(2)
                        .map(|b| match b {
                            [Int(us), Int(count)] => (*us, *count),
                            _ => panic!("{b:?}"),
                        })
                        .collect();
                    (String::from_utf8_lossy(name).into_owned(), *calls, buckets)
                }
                _ => panic!("{fields:?}"),
            },
            _ => panic!("{pair:?}"),
        })
        .collect()
}

/// Per-command histograms: every core's calls add up (keys on every shard), the
/// buckets are cumulative and end at the calls, `INFO latencystats` prints the
/// configured percentiles, `latency-tracking no` stops it, `CONFIG RESETSTAT`
/// forgets it, and the reply's shape is Redis's in RESP2 and RESP3.
#[test]
fn latency_histograms_and_latencystats() {
    const SETS: usize = 40;
    let redis = Redis::start();
    let mut reference = Raw::connect(redis.port);
    reference.cmd(&["SET", "k", "v"]);
    let expected = histogram_shapes(redis.port);
    let server = Server::with_shards(4, &[]);
    let mut c = Raw::connect(server.port());
    for i in 0..SETS {
        c.cmd(&["SET", &format!("key{i}"), "v"]);
    }
    c.cmd(&["MSET", "a", "1", "b", "2", "c", "3"]);
    let mut con = server.client();
    let names = ["set", "nosuch", "mset"];
    let found = histograms(&mut con, &names);
    let names: Vec<&str> = found.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(names, ["set", "mset"]);
    let (_, calls, buckets) = &found[0];
    assert_eq!(*calls, SETS as i64);
    let counts: Vec<i64> = buckets.iter().map(|(_, count)| *count).collect();
    assert!(counts.windows(2).all(|w| w[0] < w[1]), "{buckets:?}");
    assert_eq!(counts.last(), Some(&(SETS as i64)));
    assert_eq!(histogram_shapes(server.port()), expected);

    let info: String = redis::cmd("INFO")
        .arg("latencystats")
        .query(&mut con)
        .unwrap();
    let line = info
        .lines()
        .find(|l| l.starts_with("latency_percentiles_usec_set:"));
    let values: Vec<&str> = line.unwrap().split([':', ',']).skip(1).collect();
    assert_eq!(values.len(), 3, "{info}");
    for (value, name) in values.iter().zip(["p50=", "p99=", "p99.9="]) {
        let number = value.strip_prefix(name).expect(name);
        assert!(
            number.parse::<f64>().unwrap() > 0.0 && number.split('.').nth(1).unwrap().len() == 3
        );
    }
    config_set(&mut con, "latency-tracking-info-percentiles", "99.99 0");
    let info: String = redis::cmd("INFO")
        .arg("latencystats")
        .query(&mut con)
        .unwrap();
    assert!(
        info.contains("latency_percentiles_usec_set:p99.99="),
        "{info}"
    );
    assert!(info.contains(",p0="), "{info}");
    config_set(&mut con, "latency-tracking-info-percentiles", "");
    let info: String = redis::cmd("INFO")
        .arg("latencystats")
        .query(&mut con)
        .unwrap();
    assert!(info.contains("latency_percentiles_usec_set:\r\n"), "{info}");
    config_set(&mut con, "latency-tracking", "no");
    c.cmd(&["SET", "after", "off"]);
    let info: String = redis::cmd("INFO")
        .arg("latencystats")
        .query(&mut con)
        .unwrap();
    assert_eq!(info, "# Latencystats\r\n");
    config_set(&mut con, "latency-tracking", "yes");
    let set = &histograms(&mut con, &["set"])[0];
    assert_eq!(set.1, SETS as i64, "not tracked while off");
    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query(&mut con)
        .unwrap();
    assert_eq!(c.cmd(&["LATENCY", "HISTOGRAM", "set"]), "[]");
}

/// `LATENCY GRAPH`: Redis's header, 80 dashes, the bar and the label of a
/// sample taken a second or less ago.
#[test]
fn latency_graph_draws_spikes() {
    let server = Server::with_shards(2, &["--enable-debug-command", "yes"]);
    let mut con = server.client();
    config_set(&mut con, "latency-monitor-threshold", "20");
    let _: () = redis::cmd("DEBUG")
        .arg("SLEEP")
        .arg("0.05")
        .query(&mut con)
        .unwrap();
    let graph: String = redis::cmd("LATENCY")
        .arg("GRAPH")
        .arg("command")
        .query(&mut con)
        .unwrap();
    let lines: Vec<&str> = graph.lines().collect();
    let header = lines[0];
    assert!(
        header.starts_with("command - high ") && header.ends_with(" ms)"),
        "{graph}"
    );
    assert_eq!(lines[1], "-".repeat(80));
    assert_eq!(lines[2..6], [" ", " ", " ", "_"]);
    assert_eq!(lines[6], " ");
    assert!(["0", "1"].contains(&lines[7]) && lines[8] == "s", "{graph}");
}

/// A command over the threshold is a `command` spike in LATEST, HISTORY and
/// DOCTOR; RESET forgets it.
#[test]
fn latency_records_slow_commands() {
    let server = Server::with_shards(2, &["--enable-debug-command", "yes"]);
    let mut con = server.client();
    config_set(&mut con, "latency-monitor-threshold", "20");
    let _: () = redis::cmd("SET").arg("a").arg("1").query(&mut con).unwrap();
    let _: () = redis::cmd("DEBUG")
        .arg("SLEEP")
        .arg("0.05")
        .query(&mut con)
        .unwrap();
    let latest: Vec<(String, i64, i64, i64)> =
        redis::cmd("LATENCY").arg("LATEST").query(&mut con).unwrap();
    assert_eq!(latest.len(), 1, "{latest:?}");
    assert_eq!(latest[0].0, "command");
    assert!(latest[0].2 >= 50 && latest[0].3 >= 50, "{latest:?}");
    let history: Vec<(i64, i64)> = redis::cmd("LATENCY")
        .arg("HISTORY")
        .arg("command")
        .query(&mut con)
        .unwrap();
    assert_eq!(history, [(latest[0].1, latest[0].2)]);
    let doctor: String = redis::cmd("LATENCY").arg("DOCTOR").query(&mut con).unwrap();
    assert!(doctor.contains("1. command: 1 latency spikes"), "{doctor}");
    let reset: i64 = redis::cmd("LATENCY").arg("RESET").query(&mut con).unwrap();
    assert_eq!(reset, 1);
}

// ---- INFO errorstats and commandstats ----

/// Commands whose errors and counts Redis reports: unknown, rejected (arity,
/// also while queued in MULTI), failed outside and inside EXEC (on one shard and
/// across shards, a multi-key one too), an aborted EXEC.
const ERROR_SCRIPT: &[&[&str]] = &[
    &["nosuch", "x"],
    &["get"],
    &["set", "a", "1"],
    &["lpush", "a", "x"],
    &["incr", "a"],
    &["rename", "nokey1", "nokey2"],
    &["multi"],
    &["set", "b", "1"],
    &["lpush", "b"],
    &["exec"],
    &["multi"],
    &["set", "b", "2"],
    &["incr", "b"],
    &["lpush", "b", "x"],
    &["exec"],
    &["multi"],
    &["set", "x1", "1"],
    &["lpush", "x1", "a"],
    &["set", "y2", "2"],
    &["rename", "nokey1", "nokey3"],
    &["get", "y2"],
    &["exec"],
    &["watch", "w"],
    &["set", "w", "1"],
    &["multi"],
    &["incr", "w"],
    &["exec"],
];

/// Commands whose `cmdstat_` lines the comparison reads (container commands
/// are named by subcommand in Redis).
const COUNTED: &[&str] = &[
    "get", "set", "lpush", "incr", "rename", "multi", "exec", "watch",
];

/// `INFO errorstats` and the counted commands' `cmdstat_` lines without their
/// times, sorted, after [`ERROR_SCRIPT`]; then the same after `CONFIG
/// RESETSTAT`.
fn error_counts(port: u16) -> Vec<String> {
    let mut c = Raw::connect(port);
    for args in ERROR_SCRIPT {
        c.cmd(args);
    }
    let counts = |c: &mut Raw| {
        let stats = bulk_text(c, &["INFO", "commandstats"]);
        let mut lines: Vec<String> = stats
            .lines()
            .filter_map(|l| {
                let (name, fields) = l.strip_prefix("cmdstat_")?.split_once(':')?;
                COUNTED.contains(&name).then(|| {
                    let kept: Vec<&str> =
                        fields.split(',').filter(|f| !f.contains("usec")).collect();
                    format!("{name}:{}", kept.join(","))
                })
            })
            .collect();
        lines.sort();
        lines.push(bulk_text(c, &["INFO", "errorstats"]));
        let total = bulk_text(c, &["INFO", "stats"]);
        lines.push(common::info_value(&total, "total_error_replies").unwrap());
        lines
    };
    let mut all = counts(&mut c);
    c.cmd(&["CONFIG", "RESETSTAT"]);
    all.extend(counts(&mut c));
    all
}

#[test]
fn errorstats_and_commandstats_count_as_redis() {
    let redis = Redis::start();
    let expected = error_counts(redis.port);
    assert!(
        expected
            .iter()
            .any(|l| l.contains("errorstat_WRONGTYPE:count=")),
        "{expected:?}"
    );
    for shards in SHARD_COUNTS {
        let server = Server::with_shards(shards, &[]);
        assert_eq!(error_counts(server.port()), expected, "{shards} shards");
    }
}

// ---- COMMAND LIST FILTERBY ----

/// `COMMAND LIST` with `filter`, sorted, restricted to `known` when given.
fn command_list(c: &mut Raw, filter: &[&str], known: Option<&[String]>) -> Vec<String> {
    let mut args = vec!["COMMAND", "LIST"];
    args.extend_from_slice(filter);
    let mut names: Vec<String> = common::items(&c.cmd(&args))
        .into_iter()
        .filter(|n| known.is_none_or(|k| k.contains(n)))
        .collect();
    names.sort();
    names
}

/// FILTERBY ACLCAT, PATTERN and MODULE select what Redis 7.0 selects among the
/// commands corekv has; a bad filter is Redis's syntax error.
#[test]
fn command_list_filters_as_redis() {
    let redis = Redis::start();
    let server = Server::start(&[]);
    let mut r = Raw::connect(redis.port);
    let mut c = Raw::connect(server.port());
    let ours = command_list(&mut c, &[], None);
    let filters: &[&[&str]] = &[
        &["FILTERBY", "ACLCAT", "hyperloglog"],
        &["FILTERBY", "aclcat", "WRITE"],
        &["FILTERBY", "ACLCAT", "fast"],
        &["FILTERBY", "ACLCAT", "dangerous"],
        &["FILTERBY", "ACLCAT", "nosuch"],
        &["FILTERBY", "PATTERN", "z*"],
        &["FILTERBY", "PATTERN", "*RANGE*"],
        &["FILTERBY", "MODULE", "x"],
    ];
    for filter in filters {
        let expected = command_list(&mut r, filter, Some(&ours));
        assert_eq!(command_list(&mut c, filter, None), expected, "{filter:?}");
    }
    assert!(command_list(&mut c, filters[0], None).contains(&"pfadd".to_string()));
    for bad in [
        &["FILTERBY"][..],
        &["FILTERBY", "nope", "x"],
        &["x", "y", "z"],
    ] {
        let mut args = vec!["COMMAND", "LIST"];
        args.extend_from_slice(bad);
        assert_eq!(c.cmd(&args), r.cmd(&args), "{bad:?}");
    }
}

// ---- the Prometheus endpoint ----

/// `GET /metrics` serves Prometheus text a real parser accepts, with
/// redis_exporter's names and values that agree with the commands sent, every
/// shard's series; other paths are 404.
#[test]
fn metrics_endpoint_serves_prometheus_text() {
    const KEYS: usize = 30;
    let metrics_port = common::free_port();
    let server = Server::with_shards(2, &["--metrics-port", &metrics_port.to_string()]);
    let mut c = Raw::connect(server.port());
    for i in 0..KEYS {
        c.cmd(&["SET", &format!("key{i}"), "v"]);
    }
    c.cmd(&["LPUSH", "key0", "x"]);
    c.cmd(&["GET", "key1"]);
    let (status, text) = http_get(metrics_port, "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK");
    let Some(samples) = parse_metrics(&text) else {
        return;
    };
    let value = |name: &str, labels: &str| {
        samples
            .iter()
            .find(|(n, l, _)| n == name && l == labels)
            .map(|s| s.2)
            .unwrap_or_else(|| panic!("no {name} {labels} in\n{text}"))
    };
    assert_eq!(value("redis_up", "{}"), 1.0);
    assert!(value("redis_connected_clients", "{}") >= 1.0);
    assert_eq!(
        value("redis_commands_total", r#"{"cmd":"set"}"#),
        KEYS as f64
    );
    assert_eq!(
        value("redis_commands_failed_calls_total", r#"{"cmd":"lpush"}"#),
        1.0
    );
    assert_eq!(value("redis_errors_total", r#"{"err":"WRONGTYPE"}"#), 1.0);
    assert_eq!(value("redis_db_keys", r#"{"db":"db0"}"#), KEYS as f64);
    assert_eq!(value("redis_keyspace_hits_total", "{}"), 1.0);
    assert!(value("redis_memory_used_bytes", "{}") > 0.0);
    assert_eq!(value("redis_connected_slaves", "{}"), 0.0);
    let shard_keys: f64 = (0..2)
        .map(|s| value("corekv_shard_keys", &format!(r#"{{"shard":"{s}"}}"#)))
        .sum();
    assert_eq!(shard_keys, KEYS as f64);
    assert_eq!(http_get(metrics_port, "/nope").0, "HTTP/1.1 404 Not Found");
}

// ---- redis-cli's monitoring modes ----

/// The first `lines` lines a never-ending `redis-cli` mode prints (unbuffered),
/// then stops it.
fn cli_lines(port: u16, args: &[&str], lines: usize) -> Vec<String> {
    use std::io::BufRead;
    let port = port.to_string();
    let mut cli = std::process::Command::new("stdbuf")
        .args(["-o0", "redis-cli", "-p", &port])
        .args(args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("stdbuf and redis-cli (apt-get install coreutils redis-tools)");
    let out = std::io::BufReader::new(cli.stdout.take().unwrap());
    let got: Vec<String> = out.lines().take(lines).map(|l| l.unwrap()).collect();
    cli.kill().unwrap();
    cli.wait().unwrap();
    got
}

#[test]
fn redis_cli_stat_latency_and_bigkeys_work() {
    let server = Server::with_shards(2, &[]);
    let mut con = server.client();
    for i in 0..20 {
        let _: () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(i)
            .query(&mut con)
            .unwrap();
    }
    let _: i64 = redis::cmd("RPUSH")
        .arg("biglist")
        .arg(&["a", "b", "c", "d", "e"])
        .query(&mut con)
        .unwrap();

    let stat = cli_lines(server.port(), &["--stat", "-i", "0.2"], 4);
    assert!(
        stat[1].starts_with("keys       mem      clients blocked requests"),
        "{stat:?}"
    );
    let row: Vec<&str> = stat[2].split_whitespace().collect();
    assert_eq!(row[0], "21", "{stat:?}");
    assert!(row[1].ends_with('M') || row[1].ends_with('K'), "{stat:?}");

    // min max avg samples, one line per interval.
    let latency = cli_lines(server.port(), &["--latency", "-i", "1"], 1);
    let fields: Vec<f64> = latency[0]
        .split_whitespace()
        .map(|f| f.parse().unwrap())
        .collect();
    assert_eq!(fields.len(), 4, "{latency:?}");
    assert!(fields[0] <= fields[2] && fields[2] <= fields[1] && fields[3] > 0.0);

    let port = server.port().to_string();
    let big = std::process::Command::new("redis-cli")
        .args(["-p", &port, "--bigkeys"])
        .output()
        .expect("redis-cli");
    let text = String::from_utf8_lossy(&big.stdout);
    assert!(big.status.success(), "{text}");
    assert!(text.contains("Sampled 21 keys in the keyspace!"), "{text}");
    assert!(
        text.contains("Biggest   list found '\"biglist\"' has 5 items"),
        "{text}"
    );
    assert!(text.contains("20 strings with"), "{text}");
}

// ---- INFO ----

/// The section headers `INFO <selection>` prints.
fn info_headers(port: u16, selection: &[&str]) -> Vec<String> {
    let mut c = Raw::connect(port);
    let mut args = vec!["INFO"];
    args.extend_from_slice(selection);
    bulk_text(&mut c, &args)
        .lines()
        .filter(|l| l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

#[test]
fn info_selects_sections_as_redis_does() {
    let redis = Redis::start();
    let server = Server::with_shards(2, &[]);
    for selection in [
        &[][..],
        &["default"],
        &["all"],
        &["everything"],
        &["modules"],
    ] {
        let mut expected = info_headers(redis.port, selection);
        if !selection.contains(&"modules") {
            // corekv's own section comes last.
            expected.push("# Shards".into());
        }
        assert_eq!(
            info_headers(server.port(), selection),
            expected,
            "{selection:?}"
        );
    }
}

/// `COMMAND INFO`'s head as Redis 7.0.15 prints it: arity, flags (with
/// `movablekeys` for computed and counted keys), the legacy key triple and the ACL
/// categories (key specs and tips are not compared).
#[test]
fn command_info_heads_match_redis() {
    let redis = Redis::start();
    let mut reference = Raw::connect(redis.port);
    let server = Server::start(&[]);
    let mut c = server.raw();
    // Up to the end of the categories: the first `]` after the first `@`.
    let head = |info: String| {
        let at = info.find('@').expect("categories");
        info[..=at + info[at..].find(']').expect("end of categories")].to_string()
    };
    for name in [
        "georadius",
        "georadiusbymember",
        "sort",
        "zunionstore",
        "zunion",
        "dump",
        "restore",
        "failover",
        "get",
        "mset",
        "geosearchstore",
    ] {
        let args = ["COMMAND", "INFO", name];
        assert_eq!(head(c.cmd(&args)), head(reference.cmd(&args)), "{name}");
    }
}
