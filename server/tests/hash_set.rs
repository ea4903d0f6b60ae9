//! Hashes and sets against the real binary, on one shard and on four:
//! - every hash and set command answers what `redis-server` 7.0.15 answers to the same
//!   script, byte for byte in RESP2 and RESP3 (member lists whose order Redis leaves
//!   to its hash tables compared as sets), errors, empty-key deletion, encodings and
//!   the encoding parameters (`CONFIG SET ...` then `OBJECT ENCODING`) included; the
//!   comparison needs `redis-server` installed (`apt-get install redis-server`);
//! - cross-shard `SMOVE`, `SUNIONSTORE` and `SINTERSTORE` are atomic under concurrent
//!   readers;
//! - `SIGKILL` under `appendfsync always` loses no acknowledged hash or set write;
//! - `BGREWRITEAOF` then a restart keeps every hash and set exactly, encoding included;
//! - a restart replays journal deltas with the configured encoding limits.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{
    distinct_shards, info_value, restart_in, start_in, DataDir, Raw, Redis, Server, EXIT_TIMEOUT,
    PROTOCOLS, SHARD_COUNTS,
};

/// Pause between attempts at something that is expected to happen soon.
const POLL_INTERVAL: Duration = Duration::from_millis(20);
/// How long a background rewrite may take.
const BACKGROUND_TIMEOUT: Duration = Duration::from_secs(30);

/// How a reply is compared.
#[derive(Clone, Copy)]
enum Cmp {
    /// Byte for byte.
    Exact,
    /// A flat aggregate whose elements (or pairs of elements) may come in any order:
    /// the header and the sorted elements compared.
    Unordered { group: usize },
}

const SORTED: Cmp = Cmp::Unordered { group: 1 };
const SORTED_PAIRS: Cmp = Cmp::Unordered { group: 2 };

/// A reply's header line and its elements' raw bytes, for a flat aggregate.
fn elements(reply: &[u8]) -> (String, Vec<Vec<u8>>) {
    let text = String::from_utf8_lossy(reply);
    let mut lines = text.split_terminator("\r\n");
    let header = lines.next().expect("a header").to_string();
    let mut elements = Vec::new();
    let bulk = |line: &str, lines: &mut std::str::SplitTerminator<'_, &str>| {
        let mut element = line.as_bytes().to_vec();
        if line.starts_with('$') && line != "$-1" {
            element.extend_from_slice(b"\r\n");
            element.extend_from_slice(lines.next().expect("bulk data").as_bytes());
        }
        element
    };
    while let Some(line) = lines.next() {
        let mut element = bulk(line, &mut lines);
        // A nested array of bulks (a RESP3 field-value pair) is one element.
        if let Some(n) = line.strip_prefix('*') {
            for _ in 0..n.parse::<usize>().expect("a count") {
                let inner = lines.next().expect("an element");
                element.extend(bulk(inner, &mut lines));
            }
        }
        elements.push(element);
    }
    (header, elements)
}

fn normalized(reply: &[u8], cmp: Cmp) -> String {
    match cmp {
        Cmp::Exact => String::from_utf8_lossy(reply).into_owned(),
        Cmp::Unordered { group } => {
            let (header, elements) = elements(reply);
            let nested = elements.first().is_some_and(|e| e.starts_with(b"*"));
            let group = if nested { 1 } else { group };
            let mut groups: Vec<Vec<u8>> = elements.chunks(group).map(|g| g.concat()).collect();
            groups.sort();
            format!("{header} {:?}", groups)
        }
    }
}

/// Runs `script` on corekv (fresh, on each shard count) and on a fresh Redis, in each
/// protocol, and compares every reply.
fn same_as_redis(script: &[(&[&str], Cmp)]) {
    for protocol in PROTOCOLS {
        for shards in SHARD_COUNTS {
            let redis = Redis::start();
            let corekv = Server::with_shards(shards, &[]);
            let run = |port: u16| -> Vec<String> {
                let mut c = match protocol {
                    3 => Raw::connect_resp3(port),
                    _ => Raw::connect(port),
                };
                script
                    .iter()
                    .map(|(args, cmp)| {
                        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
                        normalized(&c.cmd_raw(&args), *cmp)
                    })
                    .collect()
            };
            let want = run(redis.port);
            let got = run(corekv.port());
            for (((args, _), want), got) in script.iter().zip(&want).zip(&got) {
                assert_eq!(got, want, "{args:?} (RESP{protocol}, {shards} shards)");
            }
        }
    }
}

/// A value longer than Redis's default `hash-max-listpack-value` (64 bytes).
const LONG_VALUE: &str = "0123456789012345678901234567890123456789012345678901234567890123456789";

#[test]
fn hash_commands_answer_as_redis() {
    let script: &[(&[&str], Cmp)] = &[
        (&["HSET", "h", "f1", "v1", "f2", "v2"], Cmp::Exact),
        (&["HSET", "h", "f1", "x"], Cmp::Exact),
        (&["HMSET", "h", "a", "1", "b", "2"], Cmp::Exact),
        (&["HSETNX", "h", "a", "9"], Cmp::Exact),
        (&["HSETNX", "h", "c", "3"], Cmp::Exact),
        (&["HGET", "h", "f1"], Cmp::Exact),
        (&["HGET", "h", "nofield"], Cmp::Exact),
        (&["HGET", "nokey", "f"], Cmp::Exact),
        (&["HMGET", "h", "f1", "nofield", "a"], Cmp::Exact),
        (&["HMGET", "nokey", "a", "b"], Cmp::Exact),
        (&["HEXISTS", "h", "a"], Cmp::Exact),
        (&["HEXISTS", "h", "zz"], Cmp::Exact),
        (&["HLEN", "h"], Cmp::Exact),
        (&["HLEN", "nokey"], Cmp::Exact),
        (&["HSTRLEN", "h", "f1"], Cmp::Exact),
        (&["HSTRLEN", "h", "nofield"], Cmp::Exact),
        (&["HINCRBY", "h", "a", "5"], Cmp::Exact),
        (&["HINCRBY", "h", "f1", "1"], Cmp::Exact),
        (&["HINCRBY", "h", "a", "x"], Cmp::Exact),
        (&["HINCRBY", "h", "n", "9223372036854775807"], Cmp::Exact),
        (&["HINCRBY", "h", "n", "1"], Cmp::Exact),
        (&["HINCRBYFLOAT", "h", "fl", "1.5"], Cmp::Exact),
        (&["HINCRBYFLOAT", "h", "fl", "1e3"], Cmp::Exact),
        (&["HINCRBYFLOAT", "h", "f1", "1"], Cmp::Exact),
        (&["HINCRBYFLOAT", "h", "fl", "x"], Cmp::Exact),
        (&["HGETALL", "h"], Cmp::Exact),
        (&["HKEYS", "h"], Cmp::Exact),
        (&["HVALS", "h"], Cmp::Exact),
        (&["HSCAN", "h", "0"], Cmp::Exact),
        (
            &["HSCAN", "h", "0", "MATCH", "f*", "COUNT", "100"],
            Cmp::Exact,
        ),
        (&["HSCAN", "h", "0", "COUNT", "x"], Cmp::Exact),
        (&["HSCAN", "h", "x"], Cmp::Exact),
        (&["HSCAN", "nokey", "0"], Cmp::Exact),
        (&["OBJECT", "ENCODING", "h"], Cmp::Exact),
        (&["TYPE", "h"], Cmp::Exact),
        (&["HDEL", "h", "a", "b", "nofield"], Cmp::Exact),
        (&["HRANDFIELD", "h", "100"], SORTED),
        (&["HRANDFIELD", "h", "100", "WITHVALUES"], SORTED_PAIRS),
        (&["HRANDFIELD", "h", "0"], Cmp::Exact),
        (&["HRANDFIELD", "nokey"], Cmp::Exact),
        (&["HRANDFIELD", "nokey", "5"], Cmp::Exact),
        (&["HRANDFIELD", "h", "1", "BAD"], Cmp::Exact),
        (&["HSET", "one", "f", "v"], Cmp::Exact),
        (&["HRANDFIELD", "one"], Cmp::Exact),
        (&["HRANDFIELD", "one", "-3", "WITHVALUES"], Cmp::Exact),
        (&["HDEL", "one", "f"], Cmp::Exact),
        (&["EXISTS", "one"], Cmp::Exact),
        (&["HSET", "big", "f", LONG_VALUE], Cmp::Exact),
        (&["OBJECT", "ENCODING", "big"], Cmp::Exact),
        (&["HSET", "big", "g", "1", "h", "2"], Cmp::Exact),
        (&["HGETALL", "big"], SORTED_PAIRS),
        (&["HKEYS", "big"], SORTED),
        (&["HDEL", "big", "f", "g", "h"], Cmp::Exact),
        (&["EXISTS", "big"], Cmp::Exact),
        (&["SET", "str", "x"], Cmp::Exact),
        (&["HGET", "str", "a"], Cmp::Exact),
        (&["HSET", "str", "a", "1"], Cmp::Exact),
        (&["HLEN", "str"], Cmp::Exact),
        (&["HGETALL", "str"], Cmp::Exact),
        (&["HINCRBY", "str", "a", "1"], Cmp::Exact),
        (&["HSCAN", "str", "0"], Cmp::Exact),
        (&["HSET", "h"], Cmp::Exact),
        (&["HSET", "h", "a"], Cmp::Exact),
        (&["HSET", "h", "a", "1", "b"], Cmp::Exact),
        (&["HMSET", "h", "a", "1", "b"], Cmp::Exact),
        (&["HGET", "h"], Cmp::Exact),
        (&["HSETNX", "h", "a"], Cmp::Exact),
        (&["HGETALL"], Cmp::Exact),
    ];
    same_as_redis(script);
}

#[test]
fn set_commands_answer_as_redis() {
    assert_eq!(distinct_shards(&["s", "s2", "d", "wrong"], 4), 4);
    let script: &[(&[&str], Cmp)] = &[
        (&["SADD", "s", "1", "2", "3"], Cmp::Exact),
        (&["SADD", "s", "3", "4"], Cmp::Exact),
        (&["OBJECT", "ENCODING", "s"], Cmp::Exact),
        (&["SADD", "s2", "a", "b", "c", "1", "2"], Cmp::Exact),
        (&["OBJECT", "ENCODING", "s2"], Cmp::Exact),
        (&["TYPE", "s2"], Cmp::Exact),
        (&["SREM", "s", "4", "9"], Cmp::Exact),
        (&["SCARD", "s"], Cmp::Exact),
        (&["SCARD", "nokey"], Cmp::Exact),
        (&["SISMEMBER", "s", "1"], Cmp::Exact),
        (&["SISMEMBER", "s", "x"], Cmp::Exact),
        (&["SMISMEMBER", "s", "1", "9"], Cmp::Exact),
        (&["SMISMEMBER", "nokey", "1"], Cmp::Exact),
        (&["SMEMBERS", "s"], Cmp::Exact),
        (&["SMEMBERS", "s2"], SORTED),
        (&["SMEMBERS", "nokey"], Cmp::Exact),
        (&["SSCAN", "s", "0"], Cmp::Exact),
        (&["SSCAN", "s", "0", "MATCH", "1*"], Cmp::Exact),
        (&["SSCAN", "s", "x"], Cmp::Exact),
        (&["SPOP", "nokey"], Cmp::Exact),
        (&["SPOP", "nokey", "2"], Cmp::Exact),
        (&["SPOP", "s", "0"], Cmp::Exact),
        (&["SPOP", "s", "-1"], Cmp::Exact),
        (&["SPOP", "s", "1", "2"], Cmp::Exact),
        (&["SADD", "one", "x"], Cmp::Exact),
        (&["SPOP", "one"], Cmp::Exact),
        (&["EXISTS", "one"], Cmp::Exact),
        (&["SADD", "p", "1", "x", "3"], Cmp::Exact),
        (&["SPOP", "p", "5"], SORTED),
        (&["EXISTS", "p"], Cmp::Exact),
        (&["SRANDMEMBER", "nokey"], Cmp::Exact),
        (&["SRANDMEMBER", "nokey", "3"], Cmp::Exact),
        (&["SADD", "one", "z"], Cmp::Exact),
        (&["SRANDMEMBER", "one"], Cmp::Exact),
        (&["SRANDMEMBER", "one", "-3"], Cmp::Exact),
        (&["SRANDMEMBER", "s", "10"], SORTED),
        (&["SRANDMEMBER", "s", "x"], Cmp::Exact),
        (&["SINTER", "s", "s2"], SORTED),
        (&["SINTER", "s", "nokey"], Cmp::Exact),
        (&["SUNION", "s", "s2", "nokey"], SORTED),
        (&["SDIFF", "s", "s2"], SORTED),
        (&["SDIFF", "s2", "s"], SORTED),
        (&["SINTERSTORE", "d", "s", "s2"], Cmp::Exact),
        (&["SMEMBERS", "d"], Cmp::Exact),
        (&["OBJECT", "ENCODING", "d"], Cmp::Exact),
        (&["SUNIONSTORE", "d", "s", "s2"], Cmp::Exact),
        (&["SCARD", "d"], Cmp::Exact),
        (&["OBJECT", "ENCODING", "d"], Cmp::Exact),
        (&["SDIFFSTORE", "d", "s", "s"], Cmp::Exact),
        (&["EXISTS", "d"], Cmp::Exact),
        (&["SINTERCARD", "2", "s", "s2"], Cmp::Exact),
        (&["SINTERCARD", "2", "s", "s2", "LIMIT", "1"], Cmp::Exact),
        (&["SINTERCARD", "0", "s"], Cmp::Exact),
        (&["SINTERCARD", "x", "s"], Cmp::Exact),
        (&["SINTERCARD", "3", "s", "s2"], Cmp::Exact),
        (&["SINTERCARD", "1", "s", "LIMIT", "-1"], Cmp::Exact),
        (&["SINTERCARD", "1", "s", "LIMIT"], Cmp::Exact),
        (&["SINTERCARD", "1", "s", "FOO", "1"], Cmp::Exact),
        (&["SMOVE", "s", "d", "2"], Cmp::Exact),
        (&["SMOVE", "s", "d", "2"], Cmp::Exact),
        (&["SMEMBERS", "d"], Cmp::Exact),
        (&["SMOVE", "s", "s", "1"], Cmp::Exact),
        (&["SET", "wrong", "x"], Cmp::Exact),
        (&["SMOVE", "nokey", "wrong", "1"], Cmp::Exact),
        (&["SMOVE", "s", "wrong", "1"], Cmp::Exact),
        (&["SMOVE", "wrong", "s", "1"], Cmp::Exact),
        (&["SADD", "wrong", "1"], Cmp::Exact),
        (&["SMEMBERS", "wrong"], Cmp::Exact),
        (&["SCARD", "wrong"], Cmp::Exact),
        (&["SINTER", "s", "wrong"], Cmp::Exact),
        (&["SUNION", "nokey", "wrong"], Cmp::Exact),
        (&["SUNIONSTORE", "d", "s", "wrong"], Cmp::Exact),
        (&["SINTERCARD", "2", "s", "wrong"], Cmp::Exact),
        (&["SUNIONSTORE", "wrong", "s"], Cmp::Exact),
        (&["TYPE", "wrong"], Cmp::Exact),
        (&["SADD", "s"], Cmp::Exact),
        (&["SINTERSTORE", "d"], Cmp::Exact),
        (&["SMOVE", "s", "d"], Cmp::Exact),
        (&["SCARD"], Cmp::Exact),
        (&["SREM", "s2", "a", "b", "c", "1", "2"], Cmp::Exact),
        (&["EXISTS", "s2"], Cmp::Exact),
        (&["SMOVE", "d", "s3", "2"], Cmp::Exact),
        (&["EXISTS", "d"], Cmp::Exact),
        (&["SMEMBERS", "s3"], Cmp::Exact),
    ];
    same_as_redis(script);
}

/// The encoding parameters change `OBJECT ENCODING` of later writes as on Redis.
#[test]
fn encoding_parameters_act_as_on_redis() {
    let script: &[(&[&str], Cmp)] = &[
        (&["CONFIG", "GET", "hash-max-*"], SORTED_PAIRS),
        (&["CONFIG", "GET", "set-max-intset-entries"], Cmp::Exact),
        (
            &["CONFIG", "SET", "set-max-intset-entries", "2"],
            Cmp::Exact,
        ),
        (&["SADD", "s", "1", "2"], Cmp::Exact),
        (&["OBJECT", "ENCODING", "s"], Cmp::Exact),
        (&["SADD", "s", "3"], Cmp::Exact),
        (&["OBJECT", "ENCODING", "s"], Cmp::Exact),
        (&["SADD", "s2", "1"], Cmp::Exact),
        (&["SUNIONSTORE", "d", "s2", "nokey"], Cmp::Exact),
        (&["OBJECT", "ENCODING", "d"], Cmp::Exact),
        (&["SUNIONSTORE", "d", "s", "s2"], Cmp::Exact),
        (&["OBJECT", "ENCODING", "d"], Cmp::Exact),
        (
            &["CONFIG", "SET", "hash-max-ziplist-entries", "1"],
            Cmp::Exact,
        ),
        (&["CONFIG", "GET", "hash-max-listpack-entries"], Cmp::Exact),
        (&["HSET", "h", "a", "1"], Cmp::Exact),
        (&["OBJECT", "ENCODING", "h"], Cmp::Exact),
        (&["HSET", "h", "b", "2"], Cmp::Exact),
        (&["OBJECT", "ENCODING", "h"], Cmp::Exact),
        (
            &["CONFIG", "SET", "hash-max-listpack-entries", "128"],
            Cmp::Exact,
        ),
        (
            &["CONFIG", "SET", "hash-max-listpack-value", "2"],
            Cmp::Exact,
        ),
        (&["CONFIG", "GET", "hash-max-ziplist-value"], Cmp::Exact),
        (&["HSET", "h2", "a", "12"], Cmp::Exact),
        (&["OBJECT", "ENCODING", "h2"], Cmp::Exact),
        (&["HSET", "h2", "b", "123"], Cmp::Exact),
        (&["OBJECT", "ENCODING", "h2"], Cmp::Exact),
        (
            &["CONFIG", "SET", "hash-max-listpack-value", "1kb"],
            Cmp::Exact,
        ),
        (&["CONFIG", "GET", "hash-max-listpack-value"], Cmp::Exact),
        (
            &["CONFIG", "SET", "hash-max-listpack-value", "-1"],
            Cmp::Exact,
        ),
        (
            &["CONFIG", "SET", "hash-max-listpack-entries", "1k"],
            Cmp::Exact,
        ),
        (
            &["CONFIG", "SET", "set-max-intset-entries", "-1"],
            Cmp::Exact,
        ),
        (
            &["CONFIG", "SET", "set-max-intset-entries", "x"],
            Cmp::Exact,
        ),
    ];
    same_as_redis(script);
}

/// The parameters are also read from the command line at start.
#[test]
fn encoding_parameters_from_the_command_line() {
    let server = Server::with_shards(
        2,
        &[
            "--set-max-intset-entries",
            "1",
            "--hash-max-ziplist-value",
            "1",
        ],
    );
    let mut c = server.raw();
    assert_eq!(c.cmd(&["SADD", "s", "1", "2"]), "2");
    assert_eq!(c.cmd(&["OBJECT", "ENCODING", "s"]), "hashtable");
    assert_eq!(c.cmd(&["HSET", "h", "a", "12"]), "1");
    assert_eq!(c.cmd(&["OBJECT", "ENCODING", "h"]), "hashtable");
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "hash-max-listpack-value"]),
        "[hash-max-listpack-value, 1]"
    );
}

/// A restart rebuilds each collection from the journal with the configured encoding
/// limits, not the defaults: a hash over `hash-max-listpack-entries 2` comes back a
/// `hashtable`, a set over `set-max-intset-entries 2` a `hashtable`, as Redis
/// reloads them.
#[test]
fn journal_replay_uses_the_configured_encoding_limits() {
    let dir = DataDir::new("hashset-replay-limits");
    let args = [
        "--hash-max-listpack-entries",
        "2",
        "--set-max-intset-entries",
        "2",
    ];
    let mut server = start_in(&dir, &args);
    let port = server.port();
    let mut c = server.raw();
    // The first write of a key journals it whole; the later ones are deltas.
    assert_eq!(c.cmd(&["HSET", "h", "a", "1", "b", "2"]), "2");
    assert_eq!(c.cmd(&["HSET", "h", "c", "3"]), "1");
    assert_eq!(c.cmd(&["SADD", "s", "1", "2"]), "2");
    assert_eq!(c.cmd(&["SADD", "s", "3"]), "1");
    kill(&mut server);
    let server = restart_in(port, &dir, &args);
    let mut c = server.raw();
    assert_eq!(c.cmd(&["OBJECT", "ENCODING", "h"]), "hashtable");
    assert_eq!(c.cmd(&["OBJECT", "ENCODING", "s"]), "hashtable");
    assert_eq!(c.cmd(&["HLEN", "h"]), "3");
}

// ---- atomicity across shards ----

/// How long the writers and readers run.
const ATOMIC_RUN: Duration = Duration::from_millis(1500);

/// `x` moves back and forth between sets `a` and `b` on different shards while other
/// clients store their union and intersection and read them: at every moment `x` is
/// in exactly one of `a` and `b`, so every union holds it and no intersection does.
#[test]
fn cross_shard_smove_and_stores_are_atomic() {
    let keys = ["a", "b", "u", "c"];
    assert_eq!(distinct_shards(&keys, 4), 4);
    let server = Server::with_shards(4, &[]);
    let mut setup = server.client();
    let _: () = redis::cmd("SADD")
        .arg("a")
        .arg(&["x", "1", "2"])
        .query(&mut setup)
        .unwrap();
    let _: () = redis::cmd("SADD")
        .arg("b")
        .arg(&["3", "4"])
        .query(&mut setup)
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mover = {
        let (mut con, stop) = (server.client(), stop.clone());
        std::thread::spawn(move || {
            let mut moves = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let (from, to) = if moves.is_multiple_of(2) {
                    ("a", "b")
                } else {
                    ("b", "a")
                };
                let moved: i64 = redis::cmd("SMOVE")
                    .arg(from)
                    .arg(to)
                    .arg("x")
                    .query(&mut con)
                    .unwrap();
                assert_eq!(moved, 1, "x is in {from}");
                moves += 1;
            }
            moves
        })
    };
    let checkers: Vec<_> = (0..2)
        .map(|t| {
            let (mut con, stop) = (server.client(), stop.clone());
            std::thread::spawn(move || {
                let mut checks = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let union: Vec<String> = redis::cmd("SUNION")
                        .arg(&["a", "b"])
                        .query(&mut con)
                        .unwrap();
                    assert!(union.contains(&"x".to_string()), "SUNION: {union:?}");
                    let both: i64 = redis::cmd("SINTERCARD")
                        .arg(&["2", "a", "b"])
                        .query(&mut con)
                        .unwrap();
                    assert_eq!(both, 0, "SINTERCARD");
                    let (dst, store) = match t {
                        0 => ("u", "SUNIONSTORE"),
                        _ => ("c", "SINTERSTORE"),
                    };
                    let _: i64 = redis::cmd(store)
                        .arg(&[dst, "a", "b"])
                        .query(&mut con)
                        .unwrap();
                    let stored: bool = redis::cmd("SISMEMBER")
                        .arg(&[dst, "x"])
                        .query(&mut con)
                        .unwrap();
                    assert_eq!(stored, t == 0, "{store}");
                    checks += 1;
                }
                checks
            })
        })
        .collect();
    std::thread::sleep(ATOMIC_RUN);
    stop.store(true, Ordering::Relaxed);
    let moves = mover.join().expect("mover");
    for checker in checkers {
        assert!(checker.join().expect("checker") > 0);
    }
    assert!(moves > 0);
}

// ---- durability ----

/// Kills the server with `SIGKILL` and reaps it.
fn kill(server: &mut Server) {
    server.signal(libc::SIGKILL);
    let status = server.wait_exit(EXIT_TIMEOUT).expect("exits on SIGKILL");
    assert_eq!(status.code(), None, "killed by a signal: {status}");
}

/// Writer threads of the kill test, and the hashes and sets each spreads over.
const KILL_WRITERS: usize = 3;
const KILL_KEYS_PER_WRITER: u64 = 8;
/// How long the writers run before the kill.
const KILL_AFTER: Duration = Duration::from_millis(700);

/// One acknowledged step of writer `w`: `HSET h:w:k f<i> v<i>`, `SADD s:w:k m<i>`,
/// then `SMOVE s:w:k t:w:k m<i>` for every third step (so the member lives in `t`).
fn kill_step(con: &mut redis::Connection, w: usize, i: u64) -> redis::RedisResult<()> {
    let k = i % KILL_KEYS_PER_WRITER;
    redis::cmd("HSET")
        .arg(format!("h:{w}:{k}"))
        .arg(format!("f{i}"))
        .arg(format!("v{i}"))
        .query::<i64>(con)?;
    redis::cmd("SADD")
        .arg(format!("s:{w}:{k}"))
        .arg(format!("m{i}"))
        .query::<i64>(con)?;
    if i.is_multiple_of(3) {
        redis::cmd("SMOVE")
            .arg(format!("s:{w}:{k}"))
            .arg(format!("t:{w}:{k}"))
            .arg(format!("m{i}"))
            .query::<i64>(con)?;
    }
    Ok(())
}

/// With `appendfsync always`, hash and set writes (cross-shard `SMOVE`s included) are
/// on disk before their reply: after `SIGKILL` every acknowledged step is there.
#[test]
fn sigkill_with_appendfsync_always_loses_no_acknowledged_hash_or_set_write() {
    let dir = DataDir::new("hashset-kill");
    let args = ["--shards", "4", "--appendfsync", "always"];
    let mut server = start_in(&dir, &args);
    let port = server.port();
    let writers: Vec<_> = (0..KILL_WRITERS)
        .map(|w| {
            let mut con = server.client();
            std::thread::spawn(move || {
                let mut acked = 0u64;
                while kill_step(&mut con, w, acked).is_ok() {
                    acked += 1;
                }
                acked
            })
        })
        .collect();
    std::thread::sleep(KILL_AFTER);
    kill(&mut server);
    let acked: Vec<u64> = writers.into_iter().map(|t| t.join().unwrap()).collect();
    let server = restart_in(port, &dir, &args);
    let mut con = server.client();
    for (w, &n) in acked.iter().enumerate() {
        assert!(n > 0, "writer {w} wrote nothing");
        for i in 0..n {
            let k = i % KILL_KEYS_PER_WRITER;
            let v: Option<String> = redis::cmd("HGET")
                .arg(format!("h:{w}:{k}"))
                .arg(format!("f{i}"))
                .query(&mut con)
                .unwrap();
            assert_eq!(v, Some(format!("v{i}")), "writer {w} step {i} of {n}");
            let set = match i.is_multiple_of(3) {
                true => format!("t:{w}:{k}"),
                false => format!("s:{w}:{k}"),
            };
            let there: bool = redis::cmd("SISMEMBER")
                .arg(&set)
                .arg(format!("m{i}"))
                .query(&mut con)
                .unwrap();
            assert!(there, "writer {w} step {i} of {n}: m{i} in {set}");
        }
    }
}

/// Every key's type, encoding and content (members and fields sorted).
fn dump(con: &mut Raw, keys: &[String]) -> BTreeMap<String, String> {
    keys.iter()
        .map(|k| {
            let ty = con.cmd(&["TYPE", k]);
            let enc = con.cmd(&["OBJECT", "ENCODING", k]);
            let content = match ty.as_str() {
                "hash" => con.cmd_raw(&[b"HGETALL", k.as_bytes()]),
                "set" => con.cmd_raw(&[b"SMEMBERS", k.as_bytes()]),
                _ => Vec::new(),
            };
            let group = if ty == "hash" { 2 } else { 1 };
            let content = match content.is_empty() {
                true => String::new(),
                false => normalized(&content, Cmp::Unordered { group }),
            };
            (k.clone(), format!("{ty} {enc} {content}"))
        })
        .collect()
}

fn info_u64(info: &str, field: &str) -> u64 {
    info_value(info, field)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{field} in {info}"))
}

/// Hashes and sets in every encoding, written before and after a `BGREWRITEAOF`,
/// read back the same after a restart: type, encoding, fields and members.
#[test]
fn bgrewriteaof_then_restart_keeps_hashes_and_sets_exactly() {
    let dir = DataDir::new("hashset-rewrite");
    let args = ["--shards", "4", "--auto-aof-rewrite-percentage", "0"];
    let mut server = start_in(&dir, &args);
    let port = server.port();
    let mut c = server.raw();
    let mut keys = Vec::new();
    for n in 0..20 {
        let (hash, set) = (format!("h{n}"), format!("s{n}"));
        for f in 0..n * 40 {
            c.cmd(&["HSET", &hash, &format!("f{f}"), &format!("{f}")]);
            let member = match n % 2 {
                0 => format!("{f}"),
                _ => format!("m{f}"),
            };
            c.cmd(&["SADD", &set, &member]);
        }
        if n == 3 {
            c.cmd(&["HSET", &hash, "long", LONG_VALUE]);
        }
        keys.extend([hash, set]);
    }
    c.cmd(&["SUNIONSTORE", "u", "s2", "s4"]);
    c.cmd(&["SMOVE", "s3", "m", "m1"]);
    keys.extend(["u".to_string(), "m".to_string()]);
    let rewrites = info_u64(&c.cmd(&["INFO", "persistence"]), "aof_rewrites");
    assert_eq!(
        c.cmd(&["BGREWRITEAOF"]),
        "Background append only file rewriting started"
    );
    let deadline = Instant::now() + BACKGROUND_TIMEOUT;
    loop {
        let info = c.cmd(&["INFO", "persistence"]);
        if info_value(&info, "aof_rewrite_in_progress").as_deref() == Some("0")
            && info_u64(&info, "aof_rewrites") > rewrites
        {
            break;
        }
        assert!(Instant::now() < deadline, "waiting for the rewrite: {info}");
        std::thread::sleep(POLL_INTERVAL);
    }
    c.cmd(&["HDEL", "h5", "f1", "f2"]);
    c.cmd(&["SREM", "s5", "1", "2"]);
    c.cmd(&["HSET", "h1", "after", "1"]);
    c.cmd(&["SADD", "s2", "after"]);
    c.cmd(&["SMOVE", "s7", "m", "m3"]);
    let before = dump(&mut c, &keys);
    assert!(before.values().any(|v| v.starts_with("hash listpack")));
    assert!(before.values().any(|v| v.starts_with("hash hashtable")));
    assert!(before.values().any(|v| v.starts_with("set intset")));
    assert!(before.values().any(|v| v.starts_with("set hashtable")));
    drop(c);
    kill(&mut server);
    let server = restart_in(port, &dir, &args);
    let after = dump(&mut server.raw(), &keys);
    assert_eq!(after, before);
}
