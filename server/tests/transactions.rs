//! Multi-shard transactions as clients see them: `MSET`, `MGET`, `DEL`, `RENAME` and
//! `BITOP` over keys on four shards are atomic under concurrent readers and writers,
//! all or nothing after `SIGKILL` with `appendfsync always`, and `BITOP` across shards
//! answers what Redis answers. Also: connection commands inside a pipeline of keyed
//! commands keep their order.

mod common;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use common::stress::{run_for, spawn};
use common::{distinct_shards, encode_str, items, restart_in, start_in, DataDir, Server};
use rand::{Rng, SeedableRng};

/// Keys on the four shards of a four-shard server: `a` 3, `b` 0, `c` 1, `d` 2.
const FOUR: [&str; 4] = ["a", "b", "c", "d"];

/// `RENAME` moves a key between shards atomically: readers always find exactly one
/// of the two names, with its value, whichever way it is going.
#[test]
fn rename_across_shards_is_atomic() {
    let server = Server::with_shards(4, &[]);
    assert_eq!(distinct_shards(&["a", "b"], 4), 2);
    assert_eq!(server.raw().cmd(&["SET", "a", "v"]), "OK");
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = vec![spawn(&server, &stop, |con, n| {
        let (from, to) = if n.is_multiple_of(2) {
            ("a", "b")
        } else {
            ("b", "a")
        };
        assert_eq!(con.cmd(&["RENAME", from, to]), "OK");
    })];
    for _ in 0..2 {
        clients.push(spawn(&server, &stop, |con, _| {
            let values = items(&con.cmd(&["MGET", "a", "b"]));
            let found: Vec<&String> = values.iter().filter(|v| *v != "(nil)").collect();
            assert_eq!(found, ["v"], "MGET a b saw {values:?}");
            assert_eq!(con.cmd(&["EXISTS", "a", "b"]), "1");
        }));
    }
    let counts = run_for(stop, clients);
    assert!(counts.iter().all(|&n| n > 10), "progress: {counts:?}");
}

/// `BITOP` reads its sources on several shards at one point in time: sources always
/// hold equal values, so `OR` of them is that value, never a mix of two writes.
#[test]
fn bitop_across_shards_reads_its_sources_atomically() {
    let server = Server::with_shards(4, &[]);
    assert_eq!(distinct_shards(&["b", "c", "d"], 4), 3);
    assert_eq!(server.raw().cmd(&["MSET", "b", "aaaa", "c", "aaaa"]), "OK");
    let stop = Arc::new(AtomicBool::new(false));
    let writer = spawn(&server, &stop, |con, n| {
        let value = if n.is_multiple_of(2) { "aaaa" } else { "bbbb" };
        assert_eq!(con.cmd(&["MSET", "b", value, "c", value]), "OK");
    });
    let bitop = spawn(&server, &stop, |con, _| {
        assert_eq!(con.cmd(&["BITOP", "OR", "d", "b", "c"]), "4");
    });
    let reader = spawn(&server, &stop, |con, _| {
        let d = con.cmd(&["GET", "d"]);
        // "aaaa" | "bbbb" is "cccc": a BITOP that saw half of an MSET.
        assert!(["aaaa", "bbbb", "(nil)"].contains(&d.as_str()), "d = {d}");
        let bc = items(&con.cmd(&["MGET", "b", "c"]));
        assert_eq!(bc[0], bc[1], "MGET b c saw half of an MSET");
    });
    let counts = run_for(stop, vec![writer, bitop, reader]);
    assert!(counts.iter().all(|&n| n > 10), "progress: {counts:?}");
}

/// Writers whose multi-shard commands overlap in every way (`MSET`, `DEL`, `RENAME`,
/// `BITOP`, `MSETNX` over the same shards) all make progress: the parallel lock
/// round and its ordered fallback never deadlock, and `DEL` of all keys is seen
/// whole by `EXISTS`.
#[test]
fn overlapping_transactions_make_progress() {
    let server = Server::with_shards(4, &[]);
    assert_eq!(distinct_shards(&FOUR, 4), 4);
    let stop = Arc::new(AtomicBool::new(false));
    let clients = vec![
        spawn(&server, &stop, |con, n| {
            let v = n.to_string();
            let reply = con.cmd(&["MSET", "a", &v, "b", &v, "c", &v, "d", &v]);
            assert_eq!(reply, "OK");
        }),
        spawn(&server, &stop, |con, _| {
            let n: usize = con
                .cmd(&["DEL", "d", "c", "b", "a"])
                .parse()
                .expect("count");
            assert!(n == 0 || n == 4, "DEL removed {n} of 4");
        }),
        spawn(&server, &stop, |con, _| {
            let reply = con.cmd(&["EXISTS", "c", "a", "d", "b"]);
            assert!(reply == "0" || reply == "4", "EXISTS saw {reply} of 4");
        }),
        spawn(&server, &stop, |con, _| {
            let reply = con.cmd(&["RENAME", "x{a}", "x{b}"]);
            assert!(
                reply == "OK" || reply.starts_with("-ERR no such key"),
                "{reply}"
            );
            con.cmd(&["SET", "x{a}", "1"]);
        }),
        spawn(&server, &stop, |con, _| {
            con.cmd(&["BITOP", "AND", "y{c}", "a", "b", "d"]);
        }),
        spawn(&server, &stop, |con, _| {
            con.cmd(&["MSETNX", "z{d}", "1", "z{a}", "1"]);
            con.cmd(&["DEL", "z{a}", "z{d}"]);
        }),
    ];
    let counts = run_for(stop, clients);
    assert!(counts.iter().all(|&n| n > 10), "progress: {counts:?}");
}

/// `BITOP` over sources and a destination on four shards answers what redis-server
/// 7.0 answers.
#[test]
fn bitop_across_shards_matches_redis() {
    let server = Server::with_shards(4, &[]);
    let mut con = server.raw();
    assert_eq!(distinct_shards(&["d", "a", "b", "c"], 4), 4);
    con.cmd(&["MSET", "a", "abc", "b", "zz!", "c", "Q"]);
    assert_eq!(con.cmd(&["BITOP", "AND", "d", "a", "b", "c"]), "3");
    assert_eq!(con.cmd_raw(&[b"GET", b"d"]), b"$3\r\n@\0\0\r\n");
    assert_eq!(con.cmd(&["BITOP", "OR", "d", "a", "b", "c"]), "3");
    assert_eq!(con.cmd(&["GET", "d"]), "{zc");
    assert_eq!(con.cmd(&["BITOP", "XOR", "d", "a", "b", "c"]), "3");
    assert_eq!(con.cmd_raw(&[b"GET", b"d"]), b"$3\r\nJ\x18B\r\n");
    assert_eq!(con.cmd(&["BITOP", "NOT", "d", "b"]), "3");
    assert_eq!(con.cmd_raw(&[b"GET", b"d"]), b"$3\r\n\x85\x85\xde\r\n");
    assert_eq!(con.cmd(&["BITOP", "AND", "d", "x", "y"]), "0");
    assert_eq!(con.cmd(&["EXISTS", "d"]), "0");
}

/// Kill/restart cycles of the crash test, and when in each the kill comes.
const CRASH_CYCLES: usize = 6;
const KILL_AFTER_MS: std::ops::RangeInclusive<u64> = 50..=400;
/// A group of keys on every shard, written together by one `MSET`.
const GROUP: [&str; 8] = ["a", "b", "c", "d", "e", "f", "g", "h"];
/// `MSET` writers, each on its own group of keys: several connections per core, so
/// their `MSET`s also share transactions.
const MSET_WRITERS: usize = 4;

/// Writer `w`'s group of keys: [`GROUP`] for the first, eight others for the rest.
fn group_keys(w: usize) -> Vec<String> {
    match w {
        0 => GROUP.iter().map(|k| k.to_string()).collect(),
        _ => (0..GROUP.len()).map(|j| format!("g{w}:{j}")).collect(),
    }
}

/// Writes until the connection breaks (the server was killed); returns acks.
fn crash_writer(
    mut con: redis::Connection,
    write: impl Fn(&mut redis::Connection, u64) -> redis::RedisResult<()>,
    from: u64,
) -> u64 {
    let mut n = from;
    loop {
        match write(&mut con, n) {
            Ok(()) => n += 1,
            Err(e) if e.is_io_error() || e.is_connection_dropped() => return n,
            Err(e) => panic!("writer: {e}"),
        }
    }
}

fn mset_group(con: &mut redis::Connection, keys: &[String], n: u64) -> redis::RedisResult<()> {
    let mut cmd = redis::cmd("MSET");
    for k in keys {
        cmd.arg(k).arg(n);
    }
    cmd.query(con)
}

fn rename_pair(con: &mut redis::Connection, n: u64) -> redis::RedisResult<()> {
    let (from, to) = if n.is_multiple_of(2) {
        ("r:a", "r:b")
    } else {
        ("r:b", "r:a")
    };
    redis::cmd("RENAME").arg(from).arg(to).query(con)
}

/// With `appendfsync always` on four shards, a server killed at a random moment
/// while clients `MSET` groups of keys on several shards and `RENAME` a key between
/// two shards restarts with every group whole (one `MSET`'s values, the last
/// acknowledged one or the one in flight) and the renamed key under exactly one name.
#[test]
fn cross_shard_writes_are_all_or_nothing_after_sigkill() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let dir = DataDir::new("tx-crash");
    let args = ["--shards", "4", "--appendfsync", "always"];
    let mut server = start_in(&dir, &args);
    let port = server.port();
    assert_eq!(distinct_shards(&GROUP, 4), 4);
    assert_eq!(distinct_shards(&["r:a", "r:b"], 4), 2);
    let groups: Vec<Vec<String>> = (0..MSET_WRITERS).map(group_keys).collect();
    for keys in &groups {
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        assert!(distinct_shards(&keys, 4) >= 2, "{keys:?} span shards");
    }
    server.raw().cmd(&["SET", "r:a", "moved"]);
    let (mut msets, mut renames) = (vec![0; MSET_WRITERS], 0);
    for cycle in 0..CRASH_CYCLES {
        let writers: Vec<_> = groups
            .iter()
            .zip(&msets)
            .map(|(keys, &from)| {
                let (con, keys) = (server.client(), keys.clone());
                let write = move |con: &mut redis::Connection, n| mset_group(con, &keys, n);
                std::thread::spawn(move || crash_writer(con, write, from))
            })
            .collect();
        let (c2, from) = (server.client(), renames);
        let w2 = std::thread::spawn(move || crash_writer(c2, rename_pair, from));
        std::thread::sleep(Duration::from_millis(rng.gen_range(KILL_AFTER_MS)));
        server.signal(libc::SIGKILL);
        server
            .wait_exit(common::EXIT_TIMEOUT)
            .expect("exits on SIGKILL");
        msets = writers
            .into_iter()
            .map(|w| w.join().expect("mset writer"))
            .collect();
        w2.join().expect("rename writer");
        server = restart_in(port, &dir, &args);
        let mut con = server.raw();
        for (keys, &acked) in groups.iter().zip(&msets) {
            let mut mget = vec!["MGET"];
            mget.extend(keys.iter().map(String::as_str));
            let values = items(&con.cmd(&mget));
            assert!(
                values.iter().all(|v| *v == values[0]),
                "cycle {cycle}: a half MSET: {values:?}"
            );
            if acked > 0 {
                let held: u64 = values[0].parse().expect("a group value");
                assert!(
                    held + 1 >= acked && held <= acked,
                    "cycle {cycle}: group at {held}, acked {acked}"
                );
            }
        }
        let pair = items(&con.cmd(&["MGET", "r:a", "r:b"]));
        let found: Vec<&String> = pair.iter().filter(|v| *v != "(nil)").collect();
        assert_eq!(
            found,
            ["moved"],
            "cycle {cycle}: RENAME half applied: {pair:?}"
        );
        // The next cycle's writer continues from where the key is.
        renames = if pair[0] == "moved" { 0 } else { 1 };
    }
    assert!(
        msets.iter().all(|&n| n > CRASH_CYCLES as u64),
        "MSET writers made progress: {msets:?}"
    );
}

/// A pipeline alternating `SET` with `PING` and `ECHO` (and a cross-shard `MSET` in
/// the middle) gets every reply, in order.
#[test]
fn connection_commands_in_a_keyed_pipeline_keep_their_order() {
    const PAIRS: usize = 10_000;
    let server = Server::with_shards(2, &[]);
    let mut con = server.raw();
    let mut batch = Vec::new();
    let mut expected = Vec::new();
    for i in 0..PAIRS {
        let (k, v) = (format!("k{i}"), format!("v{i}"));
        batch.extend(encode_str(&["SET", &k, &v]));
        expected.push(b"+OK\r\n".to_vec());
        if i % 3 == 0 {
            batch.extend(encode_str(&["ECHO", &v]));
            expected.push(format!("${}\r\n{v}\r\n", v.len()).into_bytes());
        } else {
            batch.extend(encode_str(&["PING"]));
            expected.push(b"+PONG\r\n".to_vec());
        }
        if i == PAIRS / 2 {
            batch.extend(encode_str(&["MSET", "a", "1", "b", "2"]));
            expected.push(b"+OK\r\n".to_vec());
            batch.extend(encode_str(&["MGET", "k0", &k, "a", "b"]));
            let mget = format!(
                "*4\r\n$2\r\nv0\r\n${}\r\n{v}\r\n$1\r\n1\r\n$1\r\n2\r\n",
                v.len()
            );
            expected.push(mget.into_bytes());
        }
    }
    con.send(&batch);
    for (i, want) in expected.iter().enumerate() {
        let got = con.read_reply();
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(want),
            "reply {i}"
        );
    }
    let last = format!("v{}", PAIRS - 1);
    assert_eq!(con.cmd(&["GET", &format!("k{}", PAIRS - 1)]), last);
}
