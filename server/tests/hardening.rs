//! No input stalls a core or aborts the process: hostile patterns, huge argument
//! counts, unauthenticated floods, hostile numbers, every `CLIENT KILL` form; each
//! probe is bounded in time and, where Redis's answer is the reference, compared with
//! a real `redis-server`.

mod common;

use std::time::{Duration, Instant};

use common::{Raw, Redis, Server};

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
