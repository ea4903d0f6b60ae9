//! No input stalls a core or aborts the process: hostile patterns, huge argument
//! counts, unauthenticated floods, hostile numbers, every `CLIENT KILL` form; each
//! probe is bounded in time and, where Redis's answer is the reference, compared with
//! a real `redis-server`.

mod common;

use std::time::{Duration, Instant};

use common::{shard_of, Raw, Redis, Server};

/// How long a probe that Redis answers at once may take here, on a loaded machine.
const PROBE_BUDGET: Duration = Duration::from_millis(500);

/// Sends `args`, returns the compact reply and asserts it came within `budget`.
fn timed(raw: &mut Raw, args: &[&str], budget: Duration) -> String {
    let started = Instant::now();
    let reply = raw.cmd(args);
    let took = started.elapsed();
    assert!(
        took < budget,
        "{:?}… took {took:?}",
        &args[..2.min(args.len())]
    );
    reply
}

/// Keys `KEYS`/`SCAN` patterns are matched against, on corekv and on Redis.
const GLOB_KEYS: &[&str] = &[
    "hello", "hallo", "hxllo", "Hello", "h*llo", "h?llo", "h[a]llo", "key:1", "key:10", "key:-",
    "a]b", "a^b", "a\\b", "", "x",
];

/// Patterns exercising every rule of `stringmatchlen`.
const GLOB_PATTERNS: &[&str] = &[
    "*",
    "**",
    "h?llo",
    "h*llo",
    "h[ae]llo",
    "h[^e]llo",
    "h[a-b]llo",
    "h[b-a]llo",
    "h\\*llo",
    "h\\?llo",
    "h[\\a]*",
    "key:[0-9]",
    "key:[0-9]*",
    "key:[-]",
    "a[]]b",
    "a[^]]b",
    "a[\\]]b",
    "a\\\\b",
    "[",
    "[h",
    "h[",
    "key:[0-",
    "*[",
    "?",
    "\\",
    "*\\",
    "",
    "a[^b",
    "H*",
];

#[test]
fn glob_patterns_match_as_in_redis() {
    let redis = Redis::start();
    let server = Server::with_shards(2, &[]);
    let mut ours = server.raw();
    let mut theirs = Raw::connect(redis.port);
    for key in GLOB_KEYS {
        for raw in [&mut ours, &mut theirs] {
            assert_eq!(raw.cmd(&["SET", key, "v"]), "OK");
            assert_eq!(raw.cmd(&["HSET", "hash", key, "v"]), "1");
        }
    }
    let sorted = |reply: String| {
        let mut items: Vec<String> = reply
            .trim_matches(|c| c == '[' || c == ']')
            .split(", ")
            .map(str::to_owned)
            .collect();
        items.sort();
        items
    };
    for pattern in GLOB_PATTERNS {
        for cmd in [
            &["KEYS", pattern][..],
            &["HSCAN", "hash", "0", "MATCH", pattern, "COUNT", "100"],
        ] {
            let (a, b) = (ours.cmd(cmd), theirs.cmd(cmd));
            let items = |reply: String| match cmd[0] {
                "KEYS" => sorted(reply),
                _ => sorted(reply.strip_prefix("[0, ").expect("one pass").to_owned()),
            };
            assert_eq!(items(a), items(b), "{cmd:?}");
        }
    }
}

/// Row 1: a pattern of 22 stars against a key of 40 `a`s, on `KEYS` and `SCAN`, while
/// another client on another shard keeps getting answers.
#[test]
fn many_stars_answer_at_once() {
    let server = Server::with_shards(2, &[]);
    let mut raw = server.raw();
    let key = "a".repeat(40);
    assert_eq!(raw.cmd(&["SET", &key, "v"]), "OK");
    let pattern = format!("{}b", "a*".repeat(22));
    assert_eq!(timed(&mut raw, &["KEYS", &pattern], PROBE_BUDGET), "[]");
    let reply = timed(
        &mut raw,
        &["SCAN", "0", "MATCH", &pattern, "COUNT", "1000"],
        PROBE_BUDGET,
    );
    assert_eq!(reply, "[0, []]");
    assert_eq!(raw.cmd(&["HSET", "h", &key, "v"]), "1");
    assert_eq!(raw.cmd(&["SADD", "s", &key]), "1");
    for cmd in ["HSCAN", "SSCAN"] {
        let key_name = if cmd == "HSCAN" { "h" } else { "s" };
        let reply = timed(
            &mut raw,
            &[cmd, key_name, "0", "MATCH", &pattern],
            PROBE_BUDGET,
        );
        assert_eq!(reply, "[0, []]");
    }
    let config = timed(&mut raw, &["CONFIG", "GET", &pattern], PROBE_BUDGET);
    assert_eq!(config, "[]");
}

/// Row 2: `KEYS a<50,000 stars>b`.
#[test]
fn a_run_of_stars_answers_at_once() {
    let server = Server::with_shards(2, &[]);
    let mut raw = server.raw();
    assert_eq!(raw.cmd(&["SET", &"a".repeat(1000), "v"]), "OK");
    assert_eq!(raw.cmd(&["SET", "ab", "v"]), "OK");
    let pattern = format!("a{}b", "*".repeat(50_000));
    assert_eq!(timed(&mut raw, &["KEYS", &pattern], PROBE_BUDGET), "[ab]");
    let alternating = format!("{}b", "*a".repeat(25_000));
    assert_eq!(timed(&mut raw, &["KEYS", &alternating], PROBE_BUDGET), "[]");
}

/// Row 12: cursors are read as `strtoul` reads them.
#[test]
fn scan_cursors_parse_as_in_redis() {
    let redis = Redis::start();
    let server = Server::with_shards(2, &[]);
    let mut ours = server.raw();
    let mut theirs = Raw::connect(redis.port);
    let cursors = [
        "-1",
        "",
        "+5",
        "-0",
        " 1",
        "1 ",
        "0x1",
        "+",
        "18446744073709551615",
        "18446744073709551616",
        "-18446744073709551615",
        "-18446744073709551616",
    ];
    for cursor in cursors {
        for cmd in [
            &["SCAN", cursor][..],
            &["HSCAN", "nokey", cursor],
            &["SSCAN", "nokey", cursor],
        ] {
            assert_eq!(ours.cmd(cmd), theirs.cmd(cmd), "{cmd:?}");
        }
    }
}

/// Arguments in the row-3 probe: a request of about 7 MB.
const MANY_ARGS: usize = 1_000_000;
/// The smaller request of the comparison: a quarter of [`MANY_ARGS`], big enough that
/// neither request's arguments and reply fit in the cache (at a tenth the small one
/// did, and the ratio drifted from 10 to 12–21 with the machine's load and caches).
const MANY_ARGS_SMALL: usize = MANY_ARGS / 4;
/// How much more server CPU four times the arguments may take: 16 when framing is
/// quadratic (before the fix, 4 s for `EXISTS` with a million arguments in a release
/// build; Redis: 0.08 s), 4 if perfectly linear; 3.5–5 measured. CPU time rather than
/// wall time, so a loaded machine does not skew the ratio; a ratio, not a budget, so a
/// slow one does not either. (`MGET`'s 7 MB reply once measured 37 in wall time at ten
/// times the arguments: this client re-parsed the whole reply after each read, see
/// `Raw::read_reply`.)
const MANY_ARGS_RATIO_MAX: u32 = 8;
/// Added to the allowance, for the clock's granularity and the server's own
/// background work during the small requests.
const MANY_ARGS_SLACK: Duration = Duration::from_millis(20);
/// Requests measured per size and command; the least CPU time counts (noise and the
/// first request's buffer growth only ever add).
const MANY_ARGS_RUNS: usize = 3;
/// How long a random-members request with a huge negative count may take to answer
/// (it is refused, or bounded, not run for 2^63 members).
const RANDOM_COUNT_BUDGET: Duration = Duration::from_secs(2);
/// How long another client may wait meanwhile.
const OTHER_CLIENT_WAIT_MAX: Duration = Duration::from_secs(1);

/// `PING`s on a connection of its own until `stop`; returns the longest wait.
fn pinger(port: u16, stop: std::sync::Arc<std::sync::atomic::AtomicBool>) -> Duration {
    let mut raw = Raw::connect(port);
    let mut worst = Duration::ZERO;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let started = Instant::now();
        assert_eq!(raw.cmd(&["PING"]), "PONG");
        worst = worst.max(started.elapsed());
        std::thread::sleep(Duration::from_millis(1));
    }
    worst
}

/// `cmd` with `n` arguments `x` (a key holding `v`), as raw RESP.
fn many_args(cmd: &str, n: usize) -> Vec<u8> {
    let mut request = format!("*{}\r\n${}\r\n{cmd}\r\n", n + 1, cmd.len()).into_bytes();
    request.extend_from_slice(&b"$1\r\nx\r\n".repeat(n));
    request
}

/// Row 3: multi-key commands with a million one-byte keys take CPU linear in their
/// size, and other clients are answered meanwhile.
#[test]
fn a_million_arguments_are_framed_in_linear_time() {
    let server = Server::with_shards(2, &[]);
    let mut raw = server.raw();
    assert_eq!(raw.cmd(&["SET", "x", "v"]), "OK");
    let mut cpu_for = |cmd: &str, n: usize| {
        let reply_start = match cmd {
            "MGET" => format!("*{n}\r\n$1\r\nv\r\n"),
            _ => format!(":{n}\r\n"),
        };
        let request = many_args(cmd, n);
        let before = server.cpu_time();
        raw.send(&request);
        let reply = raw.read_reply();
        let used = server.cpu_time() - before;
        assert!(reply.starts_with(reply_start.as_bytes()), "{cmd} {n}");
        used
    };
    for cmd in ["EXISTS", "TOUCH", "MGET"] {
        let mut least = |n: usize| (0..MANY_ARGS_RUNS).map(|_| cpu_for(cmd, n)).min().unwrap();
        let small = least(MANY_ARGS_SMALL);
        let large = least(MANY_ARGS);
        eprintln!("{cmd}: CPU for {MANY_ARGS_SMALL} arguments {small:?}, {MANY_ARGS} {large:?}");
        assert!(
            large < small * MANY_ARGS_RATIO_MAX + MANY_ARGS_SLACK,
            "{cmd}: {MANY_ARGS} arguments took {large:?} of CPU, {MANY_ARGS_SMALL} {small:?}"
        );
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let other = {
        let (port, stop) = (server.port(), stop.clone());
        std::thread::spawn(move || pinger(port, stop))
    };
    raw.send(&many_args("MGET", MANY_ARGS));
    assert!(raw
        .read_reply()
        .starts_with(format!("*{MANY_ARGS}\r\n").as_bytes()));
    raw.send(&many_args("DEL", MANY_ARGS));
    assert_eq!(raw.read_reply(), b":1\r\n");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let worst = other.join().expect("pinger");
    assert!(
        worst < OTHER_CLIENT_WAIT_MAX,
        "another client waited {worst:?}"
    );
}

/// Row 8: the size of each big value.
const BIG_VALUE_BYTES: usize = 100 << 20;
/// How much a `RENAME` and a `COPY` of a big value between two shards may raise the
/// server's peak resident memory, in values: each now copies the value once on
/// each side (the source's read, the destination's store), and the peak of the
/// `SET` before already held the value twice (the request and the stored copy).
/// Copying it up to five times (the read, the plan, one per target, the store)
/// raised the peak by 2–3 values and held both shards' locks all that time; once
/// per side, by about 1. The value is now the `SET` request's own buffer, which
/// the `RENAME` moves and the `COPY` shares: 0.01 values measured.
const BIG_VALUE_PEAK_GROWTH_MAX: f64 = 0.5;
/// How long the server's allocator may keep the pages of a freed value before its
/// background thread returns them (its `dirty_decay_ms` is 1 s), with room for a
/// loaded machine: waited after the `RENAME`, so that the peak counts the values
/// alive rather than the renamed source's pages not yet returned.
const FREED_PAGES_RETURNED: Duration = Duration::from_secs(3);
/// The longest another client may wait meanwhile. Redis's worst is 0.1 s; this
/// bound only catches a core that stops answering (a test-profile build on a
/// loaded machine takes seconds to fault in and copy 100 MB values).
const BIG_VALUE_WAIT_MAX: Duration = Duration::from_secs(15);

/// `GET`s `key` on a connection of its own until `stop`; returns the longest wait.
fn getter(port: u16, key: String, stop: std::sync::Arc<std::sync::atomic::AtomicBool>) -> Duration {
    let mut raw = Raw::connect(port);
    let mut worst = Duration::ZERO;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let started = Instant::now();
        assert_eq!(raw.cmd(&["GET", &key]), "v");
        worst = worst.max(started.elapsed());
        std::thread::sleep(Duration::from_millis(1));
    }
    worst
}

/// The first key `prefix<n>` that lives on `shard` of two.
fn key_on(shard: usize, prefix: &str) -> String {
    (0..)
        .map(|i| format!("{prefix}{i}"))
        .find(|k| shard_of(k, 2) == shard)
        .expect("a key on every shard")
}

/// The peak resident memory of process `pid` so far (`VmHWM`), in bytes. The kernel
/// updates its mark lazily: pages the allocator hands back with `madvise` may take
/// the figure below an earlier reading, so differences saturate at 0.
fn peak_rss(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .expect("VmHWM");
    kib * 1024
}

/// Row 8: one client sets, renames, copies, reads and deletes 100 MB values on two
/// shards: a value crossing shards is copied once per side, not once per step, and
/// clients of both shards keep being answered. Without the journal: its checksum
/// over 100 MB records (slow in a test-profile build) is not what is measured.
#[test]
fn big_values_cross_shards_without_extra_copies() {
    let server = Server::with_shards(2, &["--appendonly", "no"]);
    let mut raw = server.raw();
    let (a, b) = (key_on(0, "big"), key_on(1, "big"));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let getters: Vec<_> = (0..2)
        .map(|shard| {
            let key = key_on(shard, "small");
            assert_eq!(raw.cmd(&["SET", &key, "v"]), "OK");
            let (port, stop) = (server.port(), stop.clone());
            std::thread::spawn(move || getter(port, key, stop))
        })
        .collect();
    let big = vec![b'x'; BIG_VALUE_BYTES];
    let (a, b) = (a.as_bytes(), b.as_bytes());
    assert_eq!(raw.cmd_raw(&[b"SET", a, &big]), b"+OK\r\n");
    let before = peak_rss(server.pid());
    assert_eq!(raw.cmd_raw(&[b"RENAME", a, b]), b"+OK\r\n");
    std::thread::sleep(FREED_PAGES_RETURNED);
    assert_eq!(raw.cmd_raw(&[b"COPY", b, a]), b":1\r\n");
    let growth = peak_rss(server.pid()).saturating_sub(before) as f64 / BIG_VALUE_BYTES as f64;
    let reply = raw.cmd_raw(&[b"MGET", a, b]);
    let item = format!("${BIG_VALUE_BYTES}\r\n").len() + BIG_VALUE_BYTES + 2;
    assert_eq!(reply.len(), 4 + 2 * item);
    assert_eq!(raw.cmd_raw(&[b"DEL", a, b]), b":2\r\n");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for (shard, getter) in getters.into_iter().enumerate() {
        let worst = getter.join().expect("getter");
        eprintln!("a client of shard {shard} waited at most {worst:?}");
        assert!(
            worst < BIG_VALUE_WAIT_MAX,
            "a client of shard {shard} waited {worst:?}"
        );
    }
    eprintln!("RENAME and COPY raised the peak memory by {growth:.2} values");
    assert!(
        growth < BIG_VALUE_PEAK_GROWTH_MAX,
        "RENAME and COPY raised the peak memory by {growth:.2} values"
    );
}

/// Row 4: clients that owe a password send small requests only, and what they send
/// beyond is refused at its header, not buffered.
#[test]
fn unauthenticated_clients_send_small_requests() {
    const FLOODS: usize = 4;
    const FLOOD_BYTES: usize = 32 << 20;
    // Before the session sees a header, a core copies at most one turn's receives
    // (its provided buffers, 2 MiB) into a connection's input, which grows by
    // doubling: 4 MiB of pages per connection, against the 32 MiB each one sends.
    const TRANSIENT_KIB_MAX: u64 = FLOODS as u64 * 4 * 1024;
    // Once the connections are gone and the allocator's decay has passed: their
    // memory is back, give or take the allocator's bookkeeping.
    const KEPT_KIB_MAX: u64 = 1024;
    let server = Server::start(&["--requirepass", "pw"]);
    let rss_before = server.rss_kib();
    let mut floods: Vec<Raw> = (0..FLOODS).map(|_| Raw::connect(server.port())).collect();
    let payload = vec![b'x'; FLOOD_BYTES];
    for raw in &mut floods {
        raw.send(b"*2\r\n$4\r\nAUTH\r\n$134217728\r\n");
        // The server may close while this is on its way; what it sent comes first.
        let _ = std::io::Write::write_all(&mut raw.stream, &payload);
    }
    for raw in &mut floods {
        let reply = String::from_utf8(raw.read_to_eof()).expect("text");
        assert_eq!(
            reply,
            "-ERR Protocol error: unauthenticated bulk length\r\n"
        );
    }
    let grown_kib = server.rss_kib().saturating_sub(rss_before);
    eprintln!("RSS grew by {grown_kib} KiB");
    assert!(grown_kib < TRANSIENT_KIB_MAX, "RSS grew by {grown_kib} KiB");
    // What was copied goes back to the system with the connections.
    std::thread::sleep(FREED_PAGES_RETURNED);
    let kept_kib = server.rss_kib().saturating_sub(rss_before);
    eprintln!("RSS kept {kept_kib} KiB after the floods");
    assert!(
        kept_kib < KEPT_KIB_MAX,
        "RSS kept {kept_kib} KiB after the floods"
    );
    let mut wide = Raw::connect(server.port());
    let mut request = b"*11\r\n".to_vec();
    request.extend_from_slice(&b"$1\r\nx\r\n".repeat(11));
    wide.send(&request);
    let reply = String::from_utf8(wide.read_to_eof()).expect("text");
    assert_eq!(
        reply,
        "-ERR Protocol error: unauthenticated multibulk length\r\n"
    );
    // At the limits, and a larger request pipelined right after `AUTH`, are fine.
    let mut fine = Raw::connect(server.port());
    let value = "v".repeat(16 * 1024);
    assert_eq!(
        fine.cmd(&["ECHO", &value]),
        "-NOAUTH Authentication required."
    );
    let mut pipeline = common::encode_str(&["AUTH", "pw"]);
    let mset: Vec<String> = (0..20).map(|i| format!("k{i}")).collect();
    let mut mset_args = vec!["MSET"];
    mset_args.extend(mset.iter().map(String::as_str));
    pipeline.extend(common::encode_str(&mset_args));
    fine.send(&pipeline);
    assert_eq!(fine.read_reply(), b"+OK\r\n");
    assert_eq!(fine.read_reply(), b"+OK\r\n");
    assert_eq!(fine.cmd(&["ECHO", &"w".repeat(100_000)]).len(), 100_000);
}

/// Redis's refusal of `DEBUG` under `enable-debug-command no`.
const DEBUG_NOT_ALLOWED: &str = "-ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.";

/// Row 9: `DEBUG` is off by default, and no `DEBUG SLEEP` argument aborts the process.
#[test]
fn debug_is_off_by_default_and_its_sleep_never_aborts() {
    let redis = Redis::start();
    let mut theirs = Raw::connect(redis.port);
    let server = Server::with_shards(1, &[]);
    let mut ours = server.raw();
    for cmd in [
        &["DEBUG", "SLEEP", "inf"][..],
        &["DEBUG", "HELP"],
        &["CONFIG", "GET", "enable-debug-command"],
    ] {
        assert_eq!(ours.cmd(cmd), theirs.cmd(cmd), "{cmd:?}");
    }
    assert_eq!(ours.cmd(&["DEBUG", "SLEEP", "1e20"]), DEBUG_NOT_ALLOWED);
    let set = ours.cmd(&["CONFIG", "SET", "enable-debug-command", "yes"]);
    assert!(set.contains("immutable"), "{set}");
    for mode in ["yes", "local"] {
        let server = Server::with_shards(1, &["--enable-debug-command", mode]);
        let mut raw = server.raw();
        for secs in ["inf", "-inf", "nan", "1e20", "1e400", "-1", "x", "", "0.01"] {
            assert_eq!(
                timed(&mut raw, &["DEBUG", "SLEEP", secs], PROBE_BUDGET),
                "OK"
            );
        }
        assert_eq!(raw.cmd(&["PING"]), "PONG");
    }
}

/// `(start, increment)` pairs for row 10, `""` as start meaning no key: exact decimal
/// sums, hexadecimal, 18-digit integers, sums past `f64`'s range, and refusals.
const FLOAT_INCREMENTS: &[(&str, &str)] = &[
    ("0.1", "0.2"),
    ("1e308", "1e308"),
    ("", "0x10"),
    ("0x10", "0x1p-2"),
    ("123456789012345678", "1"),
    ("-724.65", "0"),
    ("1", "1e-17"),
    ("0", "-1e-20"),
    ("0.000003814697265625", "0"),
    ("3.14159265358979323846", "0"),
    ("1.1e4932", "1.1e4932"),
    ("", "inf"),
    ("", "-inf"),
    ("", "nan"),
    ("", "1e400"),
    ("", "1e5000"),
    ("", " 1"),
    ("abc", "1"),
    ("", "-9223372036854775808"),
    ("", "18446744073709551616"),
    ("1", "1e-5000"),
];

/// Row 10: `INCRBYFLOAT` and `HINCRBYFLOAT` reply as Redis's `long double` does.
#[test]
fn float_increments_reply_as_in_redis() {
    let redis = Redis::start();
    let server = Server::with_shards(2, &[]);
    let mut ours = server.raw();
    let mut theirs = Raw::connect(redis.port);
    for (start, increment) in FLOAT_INCREMENTS {
        for raw in [&mut ours, &mut theirs] {
            raw.cmd(&["DEL", "k", "h"]);
            if !start.is_empty() {
                raw.cmd(&["SET", "k", start]);
                raw.cmd(&["HSET", "h", "f", start]);
            }
        }
        for cmd in [
            &["INCRBYFLOAT", "k", increment][..],
            &["HINCRBYFLOAT", "h", "f", increment],
            &["GET", "k"],
        ] {
            assert_eq!(ours.cmd(cmd), theirs.cmd(cmd), "{start:?} then {cmd:?}");
        }
    }
}

/// A field of `CLIENT INFO`'s line (`id`, `addr`, `laddr`).
fn client_field(raw: &mut Raw, field: &str) -> String {
    let info = raw.cmd(&["CLIENT", "INFO"]);
    let prefix = format!("{field}=");
    info.split(' ')
        .find_map(|kv| kv.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {field} in {info}"))
        .to_owned()
}

/// Whether the server closed `raw`: a `PING` gets no `PONG`.
fn is_closed(raw: &mut Raw) -> bool {
    use std::io::{Read, Write};
    if raw.stream.write_all(b"PING\r\n").is_err() {
        return true;
    }
    let mut reply = [0u8; 16];
    !matches!(raw.stream.read(&mut reply), Ok(n) if n > 0)
}

/// Sends one `CLIENT KILL` built by `args` from the caller's own fields, and returns
/// its reply and whether the caller, then a bystander, were closed.
fn kill_step(port: u16, args: impl Fn(&mut Raw) -> Vec<String>) -> String {
    let mut me = Raw::connect(port);
    let mut bystander = Raw::connect(port);
    let args = args(&mut me);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let reply = me.cmd(&args);
    let (me_closed, other_closed) = (is_closed(&mut me), is_closed(&mut bystander));
    // The caller's own address and id differ between servers: named, not shown.
    let shown: Vec<&str> = args
        .iter()
        .map(|a| {
            if a.contains(':') || a.parse::<u64>().is_ok_and(|n| n > 0 && n < 1000) {
                "<own>"
            } else {
                a
            }
        })
        .collect();
    format!("{shown:?} → {reply}; caller closed {me_closed}, bystander closed {other_closed}")
}

/// The `CLIENT KILL` script; each line's arguments may use the caller's fields.
fn kill_script(port: u16) -> Vec<String> {
    let own = |field: &'static str| move |me: &mut Raw| client_field(me, field);
    let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut out = Vec::new();
    let old = own("addr");
    out.push(kill_step(port, |me| {
        vec!["CLIENT".into(), "KILL".into(), old(me)]
    }));
    for (option, field) in [("ADDR", "addr"), ("ID", "id"), ("LADDR", "laddr")] {
        let value = own(field);
        for skipme in ["yes", "no"] {
            out.push(kill_step(port, |me| {
                let v = value(me);
                words(&["CLIENT", "KILL", option, &v, "SKIPME", skipme])
            }));
        }
    }
    let fixed: &[&[&str]] = &[
        &["CLIENT", "KILL", "TYPE", "normal"],
        &["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "no"],
        &["CLIENT", "KILL", "TYPE", "pubsub"],
        &["CLIENT", "KILL", "TYPE", "master"],
        &["CLIENT", "KILL", "TYPE", "replica"],
        &["CLIENT", "KILL", "TYPE", "slave"],
        &["CLIENT", "KILL", "USER", "default", "SKIPME", "no"],
        &["CLIENT", "KILL", "TYPE", "normal", "ID", "999999"],
        &["CLIENT", "KILL", "ID", "0"],
        &["CLIENT", "KILL", "ID", "abc"],
        &["CLIENT", "KILL", "ID", "-9223372036854775808"],
        &["CLIENT", "KILL", "ID", "18446744073709551616"],
        &["CLIENT", "KILL", "ID", "0", "SKIPME"],
        &["CLIENT", "KILL", "ID", "5", "SKIPME"],
        &["CLIENT", "KILL", "TYPE", "Nope"],
        &["CLIENT", "KILL", "USER", "nobody"],
        &["CLIENT", "KILL", "SKIPME", "maybe"],
        &["CLIENT", "KILL", "FOO", "bar"],
        &["CLIENT", "KILL", "1.2.3.4:5"],
        &["CLIENT", "KILL"],
    ];
    for args in fixed {
        out.push(kill_step(port, |_| words(args)));
    }
    out
}

/// Row 11: every `CLIENT KILL` form replies as Redis does, killing oneself included
/// (the reply first, then the close).
#[test]
fn client_kill_forms_reply_as_in_redis() {
    let redis = Redis::start();
    let server = Server::with_shards(2, &[]);
    let ours = kill_script(server.port());
    let theirs = kill_script(redis.port);
    for (a, b) in ours.iter().zip(&theirs) {
        assert_eq!(a, b);
    }
}

/// Numbers no argument may be trusted with.
const HOSTILE_NUMBERS: &[&str] = &[
    "inf",
    "-inf",
    "nan",
    "1e400",
    "-1e400",
    "-9223372036854775808",
    "9223372036854775807",
    "18446744073709551616",
    "-18446744073709551616",
    "4294967296",
    "-1",
    "-2147483649",
    "0x7fffffffffffffff",
    "",
];
/// Commands the sweep leaves out: they end the process or the connection's request
/// mode, or change every client (`CLIENT PAUSE`), not what is probed here.
const SWEEP_SKIPPED: &[&str] = &[
    "shutdown",
    "monitor",
    "sync",
    "psync",
    "ckv.sync",
    "replicaof",
    "slaveof",
    "failover",
    "subscribe",
    "psubscribe",
    "ssubscribe",
    "client",
];
/// Commands that may block on purpose, given a valid timeout.
const SWEEP_BLOCKING: &[&str] = &[
    "wait",
    "waitaof",
    "blpop",
    "brpop",
    "brpoplpush",
    "blmove",
    "blmpop",
    "bzpopmin",
    "bzpopmax",
    "bzmpop",
    "xread",
    "xreadgroup",
];
/// How long one probe may take before it counts as a stall.
const SWEEP_REPLY_TIMEOUT: Duration = Duration::from_secs(3);

/// Every command's name and arity, from `COMMAND`.
fn command_table(server: &Server) -> Vec<(String, i64)> {
    let mut client = server.client();
    let table: redis::Value = redis::cmd("COMMAND").query(&mut client).expect("COMMAND");
    let redis::Value::Array(rows) = table else {
        panic!("COMMAND: {table:?}");
    };
    rows.into_iter()
        .filter_map(|row| match row {
            redis::Value::Array(fields) => match (&fields[0], &fields[1]) {
                (redis::Value::BulkString(n), redis::Value::Int(a)) => {
                    Some((String::from_utf8_lossy(n).to_lowercase(), *a))
                }
                (redis::Value::SimpleString(n), redis::Value::Int(a)) => {
                    Some((n.to_lowercase(), *a))
                }
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// Sends one request on a fresh connection; whether a reply (or a close) came in time.
fn probe(port: u16, args: &[&str]) -> bool {
    probe_reply(port, args).is_some()
}

/// Sends one request on a fresh connection: its reply's bytes (empty when the
/// server closed the connection instead), or `None` when nothing came in time.
fn probe_reply(port: u16, args: &[&str]) -> Option<Vec<u8>> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(SWEEP_REPLY_TIMEOUT))
        .expect("timeout");
    let request: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    if stream.write_all(&common::encode(&request)).is_err() {
        return Some(Vec::new());
    }
    let mut buf = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    loop {
        if let Some(n) = common::reply_len(&buf) {
            buf.truncate(n);
            return Some(buf);
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Some(Vec::new()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Some(Vec::new()),
            Err(_) => return None,
        }
    }
}

/// Every command in `COMMAND`, with every hostile number in every argument position
/// (two past the minimum for variadic ones): each gets an answer in time, and the
/// server answers another client after each command.
#[test]
fn hostile_numbers_in_every_position_of_every_command() {
    let server = Server::with_shards(2, &[]);
    let mut health = server.raw();
    for (key, cmd) in [("s", "SADD"), ("h", "HSET"), ("k", "SET")] {
        let mut args = vec![cmd, key, "1"];
        if cmd == "HSET" {
            args.push("1");
        }
        health.cmd(&args);
    }
    let table = command_table(&server);
    assert!(table.len() > 50, "COMMAND lists {} commands", table.len());
    let mut probes = 0;
    for (name, arity) in table
        .iter()
        .filter(|(n, _)| !SWEEP_SKIPPED.contains(&n.as_str()))
    {
        let argc = if *arity > 0 {
            *arity as usize
        } else {
            arity.unsigned_abs() as usize + 2
        };
        let base: Vec<&str> = std::iter::once(name.as_str())
            .chain(std::iter::repeat_n("k", argc - 1))
            .collect();
        for position in 1..argc {
            for hostile in HOSTILE_NUMBERS {
                let mut args = base.clone();
                args[position] = hostile;
                let answered = probe(server.port(), &args);
                assert!(
                    answered || SWEEP_BLOCKING.contains(&name.as_str()),
                    "no answer to {args:?}"
                );
                probes += 1;
            }
        }
        let started = Instant::now();
        assert_eq!(health.cmd(&["PING"]), "PONG", "after {name}");
        assert!(
            started.elapsed() < PROBE_BUDGET,
            "PING after {name} took {:?}",
            started.elapsed()
        );
    }
    for count in [
        "-9223372036854775807",
        "-9223372036854775808",
        "-16777217",
        "-1000",
    ] {
        for cmd in [
            &["SRANDMEMBER", "s", count][..],
            &["HRANDFIELD", "h", count],
            &["HRANDFIELD", "h", count, "WITHVALUES"],
        ] {
            let reply = timed(&mut health, cmd, RANDOM_COUNT_BUDGET);
            assert!(
                reply.starts_with("-ERR value is out of range") || count == "-1000",
                "{cmd:?}: {}",
                &reply[..reply.len().min(80)]
            );
        }
    }
    eprintln!("{probes} hostile requests answered");
}

/// Subcommands Redis 7.0 has and corekv does not (it answers `unknown subcommand`):
/// the sweep checks only that they are answered.
const SUBCOMMANDS_MISSING: &[&str] = &[
    "command|list",
    "command|getkeysandflags",
    "client|tracking",
    "client|getredir",
    "client|caching",
    "client|trackinginfo",
    "latency|graph",
    "latency|histogram",
];
/// Containers the subcommand sweep leaves out: `DEBUG` is off by default, and the
/// others change more than a probe should (scripts, modules, users, functions).
const SUBCOMMAND_SWEEP_SKIPPED: &[&str] =
    &["debug", "module", "acl", "cluster", "function", "script"];
/// Arguments no subcommand may be trusted with: hostile numbers and words.
const HOSTILE_WORDS: &[&str] = &["0", "k", "*", "ALL", "WRITE", "TYPE", "ID"];
/// Arguments of the long form of each subcommand.
const SUBCOMMAND_LONG_ARGS: usize = 10_000;

/// Redis 7.0's subcommands (`container|sub`) and arities, for the containers corekv has.
fn redis_subcommands(redis: &Redis, ours: &[(String, i64)]) -> Vec<(String, i64)> {
    let mut con = redis::Client::open(format!("redis://127.0.0.1:{}/", redis.port))
        .and_then(|c| c.get_connection())
        .expect("connect to redis-server");
    let table: redis::Value = redis::cmd("COMMAND").query(&mut con).expect("COMMAND");
    let redis::Value::Array(rows) = table else {
        panic!("COMMAND: {table:?}");
    };
    let text = |v: &redis::Value| match v {
        redis::Value::BulkString(b) => String::from_utf8_lossy(b).to_lowercase(),
        redis::Value::SimpleString(s) => s.to_lowercase(),
        other => panic!("COMMAND field {other:?}"),
    };
    let mut subs = Vec::new();
    for row in rows {
        let redis::Value::Array(fields) = row else {
            continue;
        };
        let name = text(&fields[0]);
        if SUBCOMMAND_SWEEP_SKIPPED.contains(&name.as_str())
            || !ours.iter().any(|(n, _)| *n == name)
        {
            continue;
        }
        let Some(redis::Value::Array(rows)) = fields.get(9) else {
            continue;
        };
        for sub in rows {
            if let redis::Value::Array(f) = sub {
                if let redis::Value::Int(arity) = f[1] {
                    subs.push((text(&f[0]), arity));
                }
            }
        }
    }
    subs
}

/// Every subcommand of `CLIENT`, `CONFIG`, `OBJECT`, `COMMAND`, `LATENCY`,
/// `SLOWLOG`, `PUBSUB` (as Redis 7.0 lists them) with hostile numbers and words in
/// every argument position, and with 10,000 arguments: each is answered in time,
/// the server keeps answering another client, and where Redis answers an error
/// corekv answers the same error (and no error where Redis has none).
#[test]
fn hostile_arguments_in_every_subcommand() {
    let server = Server::with_shards(2, &[]);
    let redis = Redis::start();
    let mut health = server.raw();
    let subs = redis_subcommands(&redis, &command_table(&server));
    assert!(subs.len() > 40, "Redis lists {} subcommands", subs.len());
    let long = vec!["1"; SUBCOMMAND_LONG_ARGS];
    let mut probes = 0;
    for (full, arity) in &subs {
        let (container, sub) = full.split_once('|').expect("container|sub");
        let argc = if *arity > 0 {
            *arity as usize
        } else {
            arity.unsigned_abs() as usize + 2
        };
        let base: Vec<&str> = [container, sub]
            .into_iter()
            .chain(std::iter::repeat_n("k", argc - 2))
            .collect();
        let mut requests: Vec<Vec<&str>> = Vec::new();
        for position in 2..argc {
            for hostile in HOSTILE_NUMBERS.iter().chain(HOSTILE_WORDS) {
                let mut args = base.clone();
                args[position] = hostile;
                requests.push(args);
            }
        }
        requests.push(
            [container, sub]
                .into_iter()
                .chain(long.iter().copied())
                .collect(),
        );
        for args in &requests {
            let shown = &args[..args.len().min(5)];
            let ours = probe_reply(server.port(), args)
                .unwrap_or_else(|| panic!("no answer to {shown:?}"));
            let theirs = probe_reply(redis.port, args).unwrap_or_default();
            if !SUBCOMMANDS_MISSING.contains(&full.as_str())
                && (ours.first() == Some(&b'-') || theirs.first() == Some(&b'-'))
            {
                assert_eq!(
                    String::from_utf8_lossy(&ours),
                    String::from_utf8_lossy(&theirs),
                    "{shown:?} (corekv, then redis-server)"
                );
            }
            probes += 1;
        }
        let started = Instant::now();
        assert_eq!(health.cmd(&["PING"]), "PONG", "after {full}");
        assert!(
            started.elapsed() < PROBE_BUDGET,
            "PING after {full} took {:?}",
            started.elapsed()
        );
    }
    eprintln!("{probes} hostile subcommand requests answered");
}

/// How many times redis-server's worst wait another client may wait here while one
/// client moves 100 MB values around: both are measured in the same test, against
/// the same probe, so a loaded machine slows both. Loose enough for a loaded CI
/// machine (a test-profile build measured within 10 times under a load of 20); the
/// code before the change kept a client waiting over 10 s, far past it.
const BIG_VALUE_WAIT_VS_REDIS_MAX: u32 = 20;
/// The least the bound above allows: redis-server's worst on an idle machine is a
/// few tens of milliseconds, less than a test-profile build needs to fault in a
/// 100 MB copy.
const BIG_VALUE_WAIT_FLOOR: Duration = Duration::from_secs(1);
/// Quiet time after the sequence, so that what it left running (a journal write, a
/// journal rewrite, memory returned to the system) is inside the measurement.
const BIG_VALUE_SETTLE: Duration = Duration::from_millis(500);

/// Row 8's sequence on the server at `port`: `SET` two 100 MB values (keys on
/// shards 0 and 1 of two), `GET`, `MGET`, `RENAME` to shard 1, `COPY` back, `DEL`,
/// while a client per shard `GET`s a small key. Returns the longest any of them
/// waited.
fn big_value_waits(port: u16) -> Duration {
    let mut raw = Raw::connect(port);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let getters: Vec<_> = (0..2)
        .map(|shard| {
            let key = key_on(shard, "small");
            assert_eq!(raw.cmd(&["SET", &key, "v"]), "OK");
            let stop = stop.clone();
            std::thread::spawn(move || getter(port, key, stop))
        })
        .collect();
    let big = vec![b'x'; BIG_VALUE_BYTES];
    let (a, b, c) = (key_on(0, "bigA"), key_on(1, "bigB"), key_on(1, "bigC"));
    let (a, b, c) = (a.as_bytes(), b.as_bytes(), c.as_bytes());
    assert_eq!(raw.cmd_raw(&[b"SET", a, &big]), b"+OK\r\n");
    assert_eq!(raw.cmd_raw(&[b"SET", b, &big]), b"+OK\r\n");
    let item = format!("${BIG_VALUE_BYTES}\r\n").len() + BIG_VALUE_BYTES + 2;
    assert_eq!(raw.cmd_raw(&[b"GET", a]).len(), item);
    assert_eq!(raw.cmd_raw(&[b"MGET", a, b]).len(), 4 + 2 * item);
    assert_eq!(raw.cmd_raw(&[b"RENAME", a, c]), b"+OK\r\n");
    assert_eq!(raw.cmd_raw(&[b"COPY", c, a]), b":1\r\n");
    assert_eq!(raw.cmd_raw(&[b"DEL", a, b, c]), b":3\r\n");
    std::thread::sleep(BIG_VALUE_SETTLE);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    getters
        .into_iter()
        .map(|g| g.join().expect("getter"))
        .max()
        .expect("two getters")
}

/// Row 8, the waits: with the journal on, moving 100 MB values around keeps the
/// other clients of both shards waiting no more than a bounded multiple of what
/// redis-server's do under the same probe. The journal's checksum of a 100 MB
/// record, computed a byte at a time on the shard's core, kept them waiting for
/// seconds in a test-profile build.
#[test]
fn big_values_keep_other_clients_answered_as_redis_does() {
    assert_big_value_waits_bounded("yes");
}

/// Runs [`big_value_waits`] on redis-server, then on a 2-shard corekv with
/// `--appendonly appendonly`, and bounds corekv's worst wait by a multiple of
/// redis-server's.
fn assert_big_value_waits_bounded(appendonly: &str) {
    let redis = Redis::start();
    let theirs = big_value_waits(redis.port);
    drop(redis);
    let server = Server::with_shards(2, &["--appendonly", appendonly]);
    let ours = big_value_waits(server.port());
    let bound = (theirs * BIG_VALUE_WAIT_VS_REDIS_MAX).max(BIG_VALUE_WAIT_FLOOR);
    eprintln!("other clients waited at most {ours:?} here, {theirs:?} on redis-server");
    assert!(
        ours < bound,
        "other clients waited {ours:?}, over {bound:?} ({theirs:?} on redis-server)"
    );
}

/// Row 8, the waits with the journal off, under the same bound as with it: no
/// multi-second stall of other clients while 100 MB values move. Not a check of the
/// remaining gap to redis-server (2.1–2.7 times its worst here under a load of 12 on
/// 2 CPUs, 2.3–4.5 times with the input buffer regrown a doubling at a time, too
/// close to tell apart on a shared machine): [`big_request_input_is_allocated_once`]
/// is the steady check of that part.
#[test]
fn big_values_with_the_journal_off_keep_other_clients_answered_as_redis_does() {
    assert_big_value_waits_bounded("no");
}

/// How much one 100 MB `SET` may raise the server's peak resident memory, in values:
/// the request's input buffer, which the keyspace keeps as the value (1.04 values
/// measured). A stored copy of the request raised it by 2.0; an input buffer
/// regrown a doubling at a time held the last two sizes at once while it copied (64
/// and 128 MiB for 100 MB) and raised it by 2.9 values.
const BIG_SET_PEAK_GROWTH_MAX: f64 = 1.5;

/// Row 8, the input: a 100 MB bulk's buffer is allocated once its length is known,
/// as Redis does, rather than regrown (and copied) by doublings while it arrives.
#[test]
fn big_request_input_is_allocated_once() {
    let server = Server::with_shards(2, &["--appendonly", "no"]);
    let mut raw = server.raw();
    let key = key_on(0, "big");
    let big = vec![b'x'; BIG_VALUE_BYTES];
    let before = peak_rss(server.pid());
    assert_eq!(raw.cmd_raw(&[b"SET", key.as_bytes(), &big]), b"+OK\r\n");
    let growth = peak_rss(server.pid()).saturating_sub(before) as f64 / BIG_VALUE_BYTES as f64;
    eprintln!("a 100 MB SET raised the peak memory by {growth:.2} values");
    assert!(
        growth < BIG_SET_PEAK_GROWTH_MAX,
        "a 100 MB SET raised the peak memory by {growth:.2} values"
    );
}

/// Big enough to be stored as the request's shared buffer and written by reference
/// (at least the engine's 32 KiB threshold), small enough for a quick comparison.
const SHARED_VALUE_BYTES: usize = 40 * 1024;

/// A big value whose bytes differ along its length, so a change at any offset shows.
fn shared_value(seed: u8) -> Vec<u8> {
    (0..SHARED_VALUE_BYTES)
        .map(|i| b'a' + ((i / 7 + seed as usize) % 26) as u8)
        .collect()
}

/// Row 8, shared big strings: every change to a string stored as (or copied from)
/// a request's buffer copies it first and leaves its copies alone, and every read
/// replies with its bytes, as Redis does (one shard and four, RESP2 and RESP3).
#[test]
fn shared_big_strings_change_and_read_as_in_redis() {
    let (big, other) = (shared_value(0), shared_value(3));
    let arg = |s: &str| s.as_bytes().to_vec();
    let cmd = |args: &[&[u8]]| args.iter().map(|a| a.to_vec()).collect::<Vec<_>>();
    let digits = vec![b'7'; SHARED_VALUE_BYTES];
    let script: Vec<common::compare::Command> = vec![
        cmd(&[b"SET", b"a", &big]),
        cmd(&[b"SET", b"b", &big, b"EX", b"100"]),
        cmd(&[b"COPY", b"a", b"c"]),
        cmd(&[b"APPEND", b"a", b"tail"]),
        cmd(&[b"GET", b"a"]),
        cmd(&[b"GET", b"c"]),
        cmd(&[b"SETRANGE", b"b", b"5", b"ZZ"]),
        cmd(&[b"SETRANGE", b"b", b"40961", b"end"]),
        cmd(&[b"GETRANGE", b"b", b"0", b"12"]),
        cmd(&[b"STRLEN", b"b"]),
        cmd(&[b"SETBIT", b"c", b"7", b"1"]),
        cmd(&[b"GETBIT", b"c", b"7"]),
        cmd(&[b"BITCOUNT", b"c"]),
        cmd(&[b"MGET", b"a", b"b", b"missing", b"c"]),
        cmd(&[b"SET", b"n", &digits]),
        cmd(&[b"INCR", b"n"]),
        cmd(&[b"INCRBYFLOAT", b"n", b"1.5"]),
        cmd(&[b"GET", b"n"]),
        cmd(&[b"GETSET", b"c", &other]),
        cmd(&[b"GETEX", b"c", b"PERSIST"]),
        cmd(&[b"GETDEL", b"c"]),
        cmd(&[b"EXISTS", b"c"]),
        cmd(&[b"MSET", b"m1", &big, b"m2", &other]),
        cmd(&[b"MGET", b"m1", b"m2"]),
        cmd(&[b"APPEND", b"new", &other]),
        cmd(&[b"APPEND", b"new", b"!"]),
        cmd(&[b"GET", b"new"]),
        cmd(&[b"SETNX", b"nx", &big]),
        cmd(&[b"SETEX", b"ex", b"100", &other]),
        cmd(&[b"PSETEX", b"px", b"100000", &big]),
        cmd(&[b"MGET", b"nx", b"ex", b"px"]),
        cmd(&[b"SET", b"{t}a", &big]),
        cmd(&[b"BITOP", b"NOT", b"{t}b", b"{t}a"]),
        cmd(&[b"BITOP", b"XOR", b"{t}c", b"{t}a", b"{t}b"]),
        cmd(&[b"BITCOUNT", b"{t}c"]),
        cmd(&[b"RENAME", b"m1", b"r"]),
        cmd(&[b"GET", b"r"]),
        cmd(&[b"OBJECT", b"ENCODING", b"r"]),
        cmd(&[b"LCS", b"{t}a", b"{t}a", b"LEN"]),
        vec![arg("MULTI")],
        cmd(&[b"GET", b"r"]),
        cmd(&[b"APPEND", b"r", b"x"]),
        cmd(&[b"GET", b"m2"]),
        vec![arg("EXEC")],
        cmd(&[b"GET", b"r"]),
    ];
    common::compare::same_as_redis(&script);
}

/// Row 8, shared big strings in a pipeline: replies written by reference keep their
/// place among the others, whichever shards answer them, as Redis orders them.
#[test]
fn shared_big_strings_keep_their_place_in_a_pipeline() {
    let (big, other) = (shared_value(1), shared_value(2));
    let keys: Vec<String> = (0..4).map(|s| key_on(s % 2, &format!("p{s}"))).collect();
    let mut pipeline = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let value = if i % 2 == 0 { &big } else { &other };
        pipeline.extend(common::encode(&[b"SET", key.as_bytes(), value]));
    }
    for key in &keys {
        pipeline.extend(common::encode(&[b"GET", key.as_bytes()]));
        pipeline.extend(common::encode_str(&["PING"]));
        pipeline.extend(common::encode_str(&["GET", "missing"]));
    }
    let mget: Vec<&[u8]> = std::iter::once(&b"MGET"[..])
        .chain(keys.iter().map(|k| k.as_bytes()))
        .collect();
    pipeline.extend(common::encode(&mget));
    // A transaction of one shard's keys runs there and its replies come back whole.
    for key in &keys[..2] {
        pipeline.extend(common::encode_str(&["MULTI"]));
        pipeline.extend(common::encode(&[b"GET", key.as_bytes()]));
        pipeline.extend(common::encode(&[b"STRLEN", key.as_bytes()]));
        pipeline.extend(common::encode(&[b"GET", key.as_bytes()]));
        pipeline.extend(common::encode_str(&["EXEC"]));
    }
    pipeline.extend(common::encode(&[b"SET", keys[0].as_bytes(), b"small"]));
    pipeline.extend(common::encode(&[b"GET", keys[0].as_bytes()]));
    let count = keys.len() * 4 + 2 * 5 + 3;
    let read_all = |port: u16| {
        let mut raw = Raw::connect(port);
        raw.send(&pipeline);
        (0..count).map(|_| raw.read_reply()).collect::<Vec<_>>()
    };
    let redis = Redis::start();
    let want = read_all(redis.port);
    let server = Server::with_shards(2, &["--appendonly", "no"]);
    let got = read_all(server.port());
    for (i, (got, want)) in got.iter().zip(&want).enumerate() {
        assert!(
            got == want,
            "reply {i}: {:?} against Redis's {:?}",
            String::from_utf8_lossy(&got[..got.len().min(80)]),
            String::from_utf8_lossy(&want[..want.len().min(80)])
        );
    }
}
