//! `MULTI`/`EXEC`/`DISCARD`/`WATCH`/`UNWATCH` as clients see them, on one and four
//! shards: every reply byte for byte against redis-server 7.0 in RESP2 and RESP3,
//! `WATCH` invalidated by each kind of change, `EXEC` atomic under concurrent readers
//! and all or nothing after `SIGKILL` with `appendfsync always`, the watch tables
//! emptied when sessions end, and the `redis` crate's atomic pipelines.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{
    distinct_shards, info_value, items, restart_in, shard_of, start_in, DataDir, Raw, Redis, Server,
};
use rand::{Rng, SeedableRng};

/// Keys on the four shards of a four-shard server: `a` 3, `b` 0, `c` 1, `d` 2.
const FOUR: [&str; 4] = ["a", "b", "c", "d"];

/// A session of transaction rules: nesting, queue-time errors, run-time errors,
/// commands refused in a transaction, `SELECT`, `WATCH` inside `MULTI`, multi-shard
/// and whole-keyspace commands inside `EXEC`, `RESET`.
const RULES: &[&[&str]] = &[
    &["EXEC"],
    &["DISCARD"],
    &["MULTI"],
    &["MULTI"],
    &["WATCH", "a"],
    &["SET", "a", "1"],
    &["GET"],
    &["NOSUCH", "x"],
    &["SAVE"],
    &["EXEC"],
    &["EXEC"],
    &["MULTI"],
    &["EXEC"],
    &["MULTI"],
    &["SET", "a", "1"],
    &["INCR", "a"],
    &["SADD", "a", "x"],
    &["INCR", "b"],
    &["MSET", "a", "5", "b", "6", "c", "7", "d", "8"],
    &["MGET", "a", "b", "c", "d", "e"],
    &["PING"],
    &["ECHO", "hi"],
    &["DEL", "c", "d"],
    &["RENAME", "a", "c"],
    &["DBSIZE"],
    &["EXEC"],
    &["MULTI"],
    &["SELECT", "1"],
    &["SET", "a", "db1"],
    &["SELECT", "0"],
    &["GET", "a"],
    &["UNWATCH"],
    &["WAIT", "0", "0"],
    &["EXEC"],
    &["SELECT", "1"],
    &["GET", "a"],
    &["SELECT", "0"],
    &["MULTI"],
    &["SET", "x", "1"],
    &["DISCARD"],
    &["GET", "x"],
    &["MULTI"],
    &["SET", "x", "1"],
    &["RESET"],
    &["EXEC"],
    &["GET", "x"],
    &["MULTI"],
    &["SET", "x", "1"],
    &["GET", "x"],
    &["FLUSHALL"],
    &["GET", "x"],
    &["EXEC"],
];

fn run_all(con: &mut Raw, script: &[&[&str]]) -> Vec<String> {
    script
        .iter()
        .map(|args| {
            let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
            String::from_utf8_lossy(&con.cmd_raw(&args)).into_owned()
        })
        .collect()
}

fn connect(port: u16, protocol: u8) -> Raw {
    match protocol {
        3 => Raw::connect_resp3(port),
        _ => Raw::connect(port),
    }
}

/// Every rule answers what redis-server 7.0 answers, byte for byte.
#[test]
fn transaction_rules_match_redis() {
    let redis = Redis::start();
    for protocol in common::PROTOCOLS {
        let want = run_all(&mut connect(redis.port, protocol), RULES);
        common::each_shard_count(&[], |server, shards| {
            let got = run_all(&mut connect(server.port(), protocol), RULES);
            for (i, (w, g)) in want.iter().zip(&got).enumerate() {
                assert_eq!(g, w, "RESP{protocol}, {shards} shards: {:?}", RULES[i]);
            }
        });
    }
}

/// A server command that asks every core runs inside `EXEC`, its reply in place;
/// it runs once the keyspace part has committed, so it sees all of it.
#[test]
fn info_and_config_inside_exec_answer_in_place() {
    common::each_shard_count(&[], |server, _| {
        let mut con = server.raw();
        con.cmd(&["MULTI"]);
        for args in [
            &["SET", "a", "1"][..],
            &["INFO", "keyspace"],
            &["CONFIG", "GET", "maxclients"],
            &["MSET", "b", "2", "c", "3"],
            &["CLIENT", "ID"],
            &["GET", "c"],
        ] {
            assert_eq!(con.cmd(args), "QUEUED");
        }
        let reply = con.cmd(&["EXEC"]);
        assert!(reply.starts_with("[OK, # Keyspace"), "{reply}");
        assert!(
            reply.contains("keys=3"),
            "INFO sees the EXEC's writes: {reply}"
        );
        assert!(reply.contains("[maxclients, 10000]"), "{reply}");
        assert!(reply.ends_with(", 3]"), "{reply}");
    });
}

/// What happens between `WATCH k` and `EXEC`, run on another connection (`self`:
/// on the watching one). Each case's `EXEC` result is compared with Redis's.
struct Case {
    name: &'static str,
    setup: &'static [&'static [&'static str]],
    change: &'static [&'static [&'static str]],
    by_self: bool,
    /// Wait this long before `EXEC` (expiry cases).
    sleep_ms: u64,
    /// `EXEC` answers the null reply.
    aborts: bool,
}

const fn case(
    name: &'static str,
    setup: &'static [&'static [&'static str]],
    change: &'static [&'static [&'static str]],
    aborts: bool,
) -> Case {
    Case {
        name,
        setup,
        change,
        by_self: false,
        sleep_ms: 0,
        aborts,
    }
}

const SET_K: &[&[&str]] = &[&["SET", "k", "1"]];

const CASES: &[Case] = &[
    case("nothing", SET_K, &[], false),
    case("another key", SET_K, &[&["SET", "other", "1"]], false),
    case("set", SET_K, &[&["SET", "k", "2"]], true),
    case("same value", SET_K, &[&["SET", "k", "1"]], true),
    case("incr", SET_K, &[&["INCR", "k"]], true),
    case("del", SET_K, &[&["DEL", "k"]], true),
    case("del missing", &[], &[&["DEL", "k"]], false),
    case("expire", SET_K, &[&["EXPIRE", "k", "100"]], true),
    case(
        "rename onto",
        &[&["SET", "src", "x"]],
        &[&["RENAME", "src", "k"]],
        true,
    ),
    case("rename away", SET_K, &[&["RENAME", "k", "moved"]], true),
    case("move", SET_K, &[&["MOVE", "k", "1"]], true),
    case("flushdb", SET_K, &[&["FLUSHDB"]], true),
    case("flushdb missing", &[], &[&["FLUSHDB"]], false),
    case("flushall", SET_K, &[&["FLUSHALL"]], true),
    case(
        "flushall other db",
        SET_K,
        &[&["SELECT", "1"], &["FLUSHDB"]],
        false,
    ),
    case("swapdb", SET_K, &[&["SWAPDB", "0", "1"]], true),
    case(
        "swapdb missing in both",
        &[],
        &[&["SWAPDB", "0", "1"]],
        false,
    ),
    case(
        "swapdb in the other db",
        &[&["SELECT", "1"], &["SET", "k", "1"]],
        &[&["SWAPDB", "0", "1"]],
        true,
    ),
    case(
        "swapdb of other dbs",
        SET_K,
        &[&["SWAPDB", "1", "2"]],
        false,
    ),
    case(
        "mset across shards",
        SET_K,
        &[&["MSET", "a", "1", "k", "2", "d", "3"]],
        true,
    ),
    case("sadd", &[&["SADD", "k", "m"]], &[&["SADD", "k", "n"]], true),
    case(
        "hset",
        &[&["HSET", "k", "f", "v"]],
        &[&["HSET", "k", "f", "w"]],
        true,
    ),
    case(
        "ltrim keeping all",
        &[&["RPUSH", "k", "a", "b"]],
        &[&["LTRIM", "k", "0", "-1"]],
        true,
    ),
    case(
        "pfmerge raising nothing",
        &[&["PFADD", "k", "a"]],
        &[&["PFMERGE", "k", "k"]],
        true,
    ),
    case(
        "bitfield setting the same value",
        &[&["SET", "k", "x"]],
        &[&["BITFIELD", "k", "SET", "u8", "0", "120"]],
        false,
    ),
    case(
        "bitfield failing and growing",
        SET_K,
        &[&[
            "BITFIELD", "k", "OVERFLOW", "FAIL", "INCRBY", "u8", "64", "300",
        ]],
        false,
    ),
    case(
        "bitfield growing",
        SET_K,
        &[&["BITFIELD", "k", "SET", "u8", "64", "0"]],
        true,
    ),
    Case {
        by_self: true,
        ..case("set by the watcher", SET_K, &[&["SET", "k", "2"]], true)
    },
    Case {
        sleep_ms: 500,
        ..case(
            "expiry untouched",
            &[&["SET", "k", "1", "PX", "250"]],
            &[],
            true,
        )
    },
    Case {
        sleep_ms: 500,
        ..case(
            "lazy expiry",
            &[&["SET", "k", "1", "PX", "250"]],
            &[&["GET", "k"]],
            true,
        )
    },
];

/// Runs one case on `port`; returns `EXEC`'s reply. The transaction touches a key
/// on another shard than `k` (`a`, on four shards) and `k` itself.
fn run_case(port: u16, c: &Case, tx_key: &str) -> String {
    let (mut watcher, mut other) = (Raw::connect(port), Raw::connect(port));
    other.cmd(&["FLUSHALL"]);
    c.setup.iter().for_each(|args| {
        other.cmd(args);
    });
    assert_eq!(watcher.cmd(&["WATCH", "k"]), "OK");
    let changer = if c.by_self { &mut watcher } else { &mut other };
    c.change.iter().for_each(|args| {
        changer.cmd(args);
    });
    std::thread::sleep(Duration::from_millis(c.sleep_ms));
    assert_eq!(watcher.cmd(&["MULTI"]), "OK");
    assert_eq!(watcher.cmd(&["INCR", tx_key]), "QUEUED");
    watcher.cmd(&["EXEC"])
}

/// Each kind of change to a watched key makes `EXEC` answer null, as in Redis, and
/// nothing else does; with the key on the transaction's shard and on another one.
#[test]
fn watch_is_invalidated_by_every_kind_of_change() {
    let redis = Redis::start();
    assert_ne!(shard_of("k", 4), shard_of("a", 4));
    common::each_shard_count(&[], |server, shards| {
        for c in CASES {
            for tx_key in ["a", "k{k}"] {
                let want = run_case(redis.port, c, tx_key);
                let got = run_case(server.port(), c, tx_key);
                assert_eq!(got, want, "{} ({shards} shards, EXEC on {tx_key})", c.name);
                assert_eq!(got == "(nil)", c.aborts, "{}: {got}", c.name);
            }
        }
    });
}

/// The null reply in each protocol, and `WATCH` sessions released by every way a
/// session ends: the watch tables are empty again (`total_watched_keys`).
#[test]
fn null_reply_and_no_leaked_watches() {
    for protocol in common::PROTOCOLS {
        let server = Server::with_shards(4, &[]).speaking(protocol);
        let mut con = server.raw();
        let mut other = server.raw();
        con.cmd(&["WATCH", "a", "b", "c", "d"]);
        assert_eq!(watched(&server), 4);
        other.cmd(&["SET", "c", "1"]);
        con.cmd(&["MULTI"]);
        con.cmd(&["SET", "b", "1"]);
        let null: &[u8] = if protocol == 3 { b"_\r\n" } else { b"*-1\r\n" };
        assert_eq!(con.cmd_raw(&[b"EXEC"]), null);
        assert_eq!(other.cmd(&["EXISTS", "b"]), "0", "nothing ran");
        assert_eq!(watched(&server), 0, "EXEC ends the session");
        for end in [&["UNWATCH"][..], &["MULTI"], &["RESET"]] {
            con.cmd(&["WATCH", "a", "b", "x", "y"]);
            assert_eq!(watched(&server), 4);
            con.cmd(end);
            if end == ["MULTI"] {
                con.cmd(&["DISCARD"]);
            }
            assert_eq!(watched(&server), 0, "{end:?} ends the session");
        }
        con.cmd(&["WATCH", "a", "b", "c"]);
        drop(con);
        let deadline = Instant::now() + common::READ_TIMEOUT;
        while watched(&server) != 0 {
            assert!(Instant::now() < deadline, "closing ends the session");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn watched(server: &Server) -> u64 {
    let info = server.raw().cmd(&["INFO", "clients"]);
    info_value(&info, "total_watched_keys")
        .expect("total_watched_keys")
        .parse()
        .expect("a number")
}

/// How long the concurrency check runs, and its cap on iterations per client.
const RUN: Duration = Duration::from_secs(2);
const ITERATIONS_MAX: u64 = 5_000;

fn spawn_loop(
    server: &Server,
    stop: &Arc<AtomicBool>,
    mut body: impl FnMut(&mut Raw) + Send + 'static,
) -> std::thread::JoinHandle<u64> {
    let (mut con, stop) = (server.raw(), stop.clone());
    std::thread::spawn(move || {
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) && n < ITERATIONS_MAX {
            body(&mut con);
            n += 1;
        }
        n
    })
}

/// Connections of each kind in the atomicity test: enough for several on one core,
/// whose `EXEC`s and `MGET`s then share transactions (`INFO` counts them).
const ATOMICITY_CLIENTS: usize = 3;

/// `EXEC` of `INCR` on four shards (and two on one shard) is atomic: readers using
/// `MGET` and readers using their own `EXEC` always see every counter equal, also
/// when transactions of several connections share one.
#[test]
fn exec_across_four_shards_is_atomic_under_concurrent_readers() {
    let server = Server::with_shards(4, &[]);
    assert_eq!(distinct_shards(&FOUR, 4), 4);
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for _ in 0..ATOMICITY_CLIENTS {
        clients.push(spawn_loop(&server, &stop, |con| {
            con.cmd(&["MULTI"]);
            for k in ["a", "b", "c", "d", "{a}2"] {
                con.cmd(&["INCR", k]);
            }
            let reply = items(&con.cmd(&["EXEC"]));
            assert_eq!(reply.len(), 5, "{reply:?}");
        }));
    }
    for _ in 0..ATOMICITY_CLIENTS {
        clients.push(spawn_loop(&server, &stop, |con| {
            let values = items(&con.cmd(&["MGET", "a", "b", "c", "d", "{a}2"]));
            assert!(
                values.iter().all(|v| *v == values[0]),
                "MGET saw {values:?}"
            );
        }));
        clients.push(spawn_loop(&server, &stop, |con| {
            con.cmd(&["MULTI"]);
            for k in ["d", "{a}2", "c", "b", "a"] {
                con.cmd(&["GET", k]);
            }
            let values = items(&con.cmd(&["EXEC"]));
            assert!(
                values.iter().all(|v| *v == values[0]),
                "EXEC saw {values:?}"
            );
        }));
    }
    let started = Instant::now();
    while started.elapsed() < RUN && !clients.iter().all(|c| c.is_finished()) {
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    let counts: Vec<u64> = clients
        .into_iter()
        .map(|c| c.join().expect("client"))
        .collect();
    assert!(counts.iter().all(|&n| n > 10), "progress: {counts:?}");
    let info = server.raw().cmd(&["INFO", "stats"]);
    let grouped = info_value(&info, "cross_shard_grouped_commands");
    assert!(
        grouped.as_deref().is_some_and(|n| n != "0"),
        "no EXEC or MGET shared a transaction: {grouped:?}"
    );
}

/// Kill/restart cycles of the crash test, and when in each the kill comes.
const CRASH_CYCLES: usize = 5;
const KILL_AFTER_MS: std::ops::RangeInclusive<u64> = 50..=300;
/// Keys set together by one `EXEC`: one on every shard, and a pair on one shard.
const GROUP: [&str; 6] = ["a", "b", "c", "d", "{p}1", "{p}2"];

/// Sets every key of [`GROUP`] to `n` in one `EXEC`, one `SET` each.
fn exec_group(con: &mut redis::Connection, n: u64) -> redis::RedisResult<()> {
    let mut pipe = redis::pipe();
    pipe.atomic();
    for k in GROUP {
        pipe.cmd("SET").arg(k).arg(n).ignore();
    }
    pipe.query(con)
}

/// Sets the pair of keys on one shard (`{q}`) to `n` in one `EXEC`.
fn exec_pair(con: &mut redis::Connection, n: u64) -> redis::RedisResult<()> {
    redis::pipe()
        .atomic()
        .cmd("SET")
        .arg("{q}1")
        .arg(n)
        .ignore()
        .cmd("SET")
        .arg("{q}2")
        .arg(n)
        .ignore()
        .query(con)
}

/// Writes until the connection breaks (the server was killed); returns acks.
/// Writes until the server is killed: any error after `killed` is set ends the run
/// (the kill may cut a reply in half, which the client reports as a parse error
/// rather than an I/O error); an error before it fails the test.
fn crash_writer(
    mut con: redis::Connection,
    write: fn(&mut redis::Connection, u64) -> redis::RedisResult<()>,
    from: u64,
    killed: Arc<AtomicBool>,
) -> u64 {
    let mut n = from;
    loop {
        match write(&mut con, n) {
            Ok(()) => n += 1,
            Err(_) if killed.load(Ordering::SeqCst) => return n,
            Err(e) => panic!("writer: {e}"),
        }
    }
}

/// Every key of `keys` holds the same value, between the last acknowledged write
/// and the one in flight.
fn check_whole(con: &mut Raw, keys: &[&str], acked: u64, cycle: usize) {
    let mut mget = vec!["MGET"];
    mget.extend_from_slice(keys);
    let values = items(&con.cmd(&mget));
    assert!(
        values.iter().all(|v| *v == values[0]),
        "cycle {cycle}: half an EXEC: {values:?}"
    );
    if acked > 0 {
        let held: u64 = values[0].parse().expect("a value");
        assert!(
            held + 1 >= acked && held <= acked,
            "cycle {cycle}: {held}, acked {acked}"
        );
    }
}

/// With `appendfsync always` on four shards, a server killed while clients run
/// `EXEC`s over every shard and over two keys of one shard restarts with each
/// `EXEC` whole: the last acknowledged one or the one in flight.
#[test]
fn exec_is_all_or_nothing_after_sigkill() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let dir = DataDir::new("multi-crash");
    let args = ["--shards", "4", "--appendfsync", "always"];
    let mut server = start_in(&dir, &args);
    let port = server.port();
    assert_eq!(distinct_shards(&GROUP, 4), 4);
    let (mut groups, mut pairs) = (0, 0);
    for cycle in 0..CRASH_CYCLES {
        let (c1, c2) = (server.client(), server.client());
        let from = (groups, pairs);
        let killed = Arc::new(AtomicBool::new(false));
        let k = (killed.clone(), killed.clone());
        let w1 = std::thread::spawn(move || crash_writer(c1, exec_group, from.0, k.0));
        let w2 = std::thread::spawn(move || crash_writer(c2, exec_pair, from.1, k.1));
        std::thread::sleep(Duration::from_millis(rng.gen_range(KILL_AFTER_MS)));
        killed.store(true, Ordering::SeqCst);
        server.signal(libc::SIGKILL);
        server
            .wait_exit(common::EXIT_TIMEOUT)
            .expect("exits on SIGKILL");
        groups = w1.join().expect("group writer");
        pairs = w2.join().expect("pair writer");
        server = restart_in(port, &dir, &args);
        let mut con = server.raw();
        check_whole(&mut con, &GROUP, groups, cycle);
        check_whole(&mut con, &["{q}1", "{q}2"], pairs, cycle);
    }
    assert!(
        groups > 0 && pairs > 0,
        "both EXEC writers made progress: {groups}, {pairs}"
    );
}

/// The `redis` crate's atomic pipeline: `MULTI` … `EXEC` with the queued replies
/// skipped, over keys on four shards, and its `WATCH` retry helper.
#[test]
fn redis_crate_atomic_pipelines() {
    common::each_shard_count(&[], |server, _| {
        let mut con = server.client();
        let (a, b, n): (String, i64, Vec<String>) = redis::pipe()
            .atomic()
            .cmd("SET")
            .arg("a")
            .arg("x")
            .ignore()
            .cmd("GET")
            .arg("a")
            .cmd("INCRBY")
            .arg("b")
            .arg(5)
            .cmd("MGET")
            .arg(&FOUR[..])
            .query(&mut con)
            .map(|(a, b, m): (String, i64, Vec<Option<String>>)| {
                (a, b, m.into_iter().flatten().collect())
            })
            .expect("atomic pipeline");
        assert_eq!((a.as_str(), b), ("x", 5));
        assert_eq!(n, ["x", "5"]);
        let err = redis::pipe()
            .atomic()
            .cmd("INCR")
            .arg("a")
            .cmd("INCR")
            .arg("b")
            .query::<(i64, i64)>(&mut con)
            .expect_err("INCR of a string fails inside EXEC");
        assert!(err.to_string().contains("not an integer"), "{err}");
        assert_eq!(
            redis::cmd("GET").arg("b").query::<i64>(&mut con).unwrap(),
            6
        );
        let total: i64 = redis::transaction(&mut con, &["c", "d"], |con, pipe| {
            let c: Option<i64> = redis::cmd("GET").arg("c").query(con)?;
            pipe.set("c", c.unwrap_or(0) + 1)
                .ignore()
                .incr("d", 1)
                .query(con)
        })
        .map(|(d,): (i64,)| d)
        .expect("transaction");
        assert_eq!(total, 1);
    });
}

/// redis-py's `pipeline(transaction=True)` and its `WATCH` retry loop from several
/// threads on one counter, on four shards (`tests/py/test_multi.py`); skipped with a
/// message without `python3`.
#[test]
fn redis_py_transactions_and_watch_retry_loop() {
    let server = Server::with_shards(4, &[]);
    common::python::run_script("test_multi.py", &server);
}

/// Polls `cond` until it holds, for at most [`common::READ_TIMEOUT`].
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + common::READ_TIMEOUT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// On a read-only replica `MULTI` opens, a queued write is refused as Redis refuses
/// it and `EXEC` aborts, and a key watched there is invalidated by the master's
/// stream applied to it. On the master, `WAIT` inside `EXEC` answers at once and
/// `WAIT` after it waits for the replica to have the transaction.
#[test]
fn replica_multi_and_wait_in_and_after_exec() {
    let master = Server::with_shards(4, &[]);
    let to = format!("127.0.0.1 {}", master.port());
    let replica = Server::with_shards(4, &["--replicaof", &to, "--replica-serve-reads", "yes"]);
    wait_for("the replica's link", || {
        let info = replica.raw().cmd(&["INFO", "replication"]);
        info_value(&info, "master_link_status").as_deref() == Some("up")
    });
    let (mut r, mut m) = (replica.raw(), master.raw());
    assert_eq!(r.cmd(&["WATCH", "a"]), "OK");
    assert_eq!(m.cmd(&["SET", "a", "1"]), "OK");
    wait_for("the stream", || replica.raw().cmd(&["GET", "a"]) == "1");
    assert_eq!(r.cmd(&["MULTI"]), "OK");
    assert_eq!(r.cmd(&["GET", "b"]), "QUEUED");
    assert_eq!(r.cmd(&["EXEC"]), "(nil)", "the applied stream changed a");
    assert_eq!(r.cmd(&["MULTI"]), "OK");
    assert_eq!(
        r.cmd(&["SET", "a", "2"]),
        "-READONLY You can't write against a read only replica."
    );
    assert_eq!(r.cmd(&["GET", "a"]), "QUEUED");
    assert_eq!(
        r.cmd(&["EXEC"]),
        "-EXECABORT Transaction discarded because of previous errors."
    );
    assert_eq!(m.cmd(&["MULTI"]), "OK");
    assert_eq!(m.cmd(&["MSET", "c", "1", "d", "2"]), "QUEUED");
    assert_eq!(m.cmd(&["WAIT", "1", "0"]), "QUEUED");
    let started = Instant::now();
    let reply = m.cmd(&["EXEC"]);
    assert!(reply == "[OK, 0]" || reply == "[OK, 1]", "{reply}");
    assert!(
        started.elapsed() < common::READ_TIMEOUT / 2,
        "WAIT in EXEC blocked"
    );
    assert_eq!(m.cmd(&["WAIT", "1", "0"]), "1");
    assert_eq!(replica.raw().cmd(&["MGET", "c", "d"]), "[1, 2]");
}

/// `EXEC`s per measurement of the cross-shard messages they cost.
const HOP_EXECS: u64 = 50;

fn cross_shard_hops(c: &mut Raw) -> u64 {
    let info = c.cmd(&["INFO", "stats"]);
    info_value(&info, "cross_shard_hops")
        .and_then(|v| v.parse().ok())
        .expect("cross_shard_hops")
}

/// An `EXEC` of single-shard commands on the two shards of a two-shard server
/// takes each remote shard's lock with the message that runs its commands, then
/// commits: two messages to the other shard (locking first, then running, then
/// committing took three), whichever shard the connection lives on. With the
/// journal on, the commit answers once its records are safe, in the same message
/// (a separate wait for the journal made it three).
#[test]
fn a_two_shard_exec_locks_and_runs_in_one_message_per_shard() {
    for appendonly in ["no", "yes"] {
        let server = Server::with_shards(2, &["--appendonly", appendonly]);
        let (a, b) = ("b", "c");
        assert_ne!(shard_of(a, 2), shard_of(b, 2));
        let mut c = server.raw();
        let before = cross_shard_hops(&mut c);
        let info_only = cross_shard_hops(&mut c) - before;
        let start = cross_shard_hops(&mut c);
        for i in 1..=HOP_EXECS {
            assert_eq!(c.cmd(&["MULTI"]), "OK");
            assert_eq!(c.cmd(&["INCR", a]), "QUEUED");
            assert_eq!(c.cmd(&["INCR", b]), "QUEUED");
            assert_eq!(c.cmd(&["EXEC"]), format!("[{i}, {i}]"));
        }
        let hops = cross_shard_hops(&mut c) - start - info_only;
        println!("appendonly {appendonly}: {HOP_EXECS} two-shard EXECs: {hops} messages");
        assert!(
            hops <= 2 * HOP_EXECS,
            "appendonly {appendonly}: {hops} messages for {HOP_EXECS} EXECs"
        );
    }
}

/// A step of a two-connection script: `true` runs it on the administrating
/// connection, `false` on the transaction's.
type Step = (bool, &'static [&'static str]);

const FULL: &[&str] = &["CONFIG", "SET", "maxmemory", "1"];
const ROOMY: &[&str] = &["CONFIG", "SET", "maxmemory", "0"];

/// Transactions over `maxmemory` (`noeviction`, a limit of one byte with keys on
/// every shard): an `EXEC` whose queue holds a write that may grow memory is refused
/// whole, on one shard, on two (the one-pass path) and with a watch (the locking
/// path), also when a queueing error doomed it already; one with deletions and
/// reads only runs; every command sent inside `MULTI` but `EXEC`/`DISCARD`/`RESET`
/// is refused with `-OOM` and dooms the transaction.
const OVER_MAXMEMORY: &[Step] = &[
    (
        true,
        &["MSET", "a", "1", "b", "2", "c", "3", "d", "4", "e", "5"],
    ),
    (false, &["MULTI"]),
    (false, &["SET", "a", "x"]),
    (true, FULL),
    (false, &["EXEC"]),
    (false, &["GET", "a"]),
    (true, ROOMY),
    (false, &["MULTI"]),
    (false, &["SET", "a", "x"]),
    (false, &["INCR", "b"]),
    (true, FULL),
    (false, &["EXEC"]),
    (true, ROOMY),
    (false, &["WATCH", "c"]),
    (false, &["MULTI"]),
    (false, &["APPEND", "c", "x"]),
    (false, &["MSET", "d", "x", "a", "y"]),
    (true, FULL),
    (false, &["EXEC"]),
    (false, &["MGET", "a", "b", "c", "d"]),
    (true, ROOMY),
    (false, &["MULTI"]),
    (false, &["GET", "a"]),
    (false, &["DEL", "e"]),
    (true, FULL),
    (false, &["EXEC"]),
    (true, ROOMY),
    (false, &["MULTI"]),
    (false, &["SET", "a", "x"]),
    (false, &["NOSUCH"]),
    (true, FULL),
    (false, &["EXEC"]),
    (false, &["MULTI"]),
    (false, &["GET", "a"]),
    (false, &["SET", "a", "x"]),
    (false, &["PING"]),
    (false, &["SAVE"]),
    (false, &["MULTI"]),
    (false, &["WATCH", "a"]),
    (false, &["NOSUCH"]),
    (false, &["EXEC"]),
    (false, &["MULTI"]),
    (false, &["DISCARD"]),
    (false, &["MULTI"]),
    (false, &["RESET"]),
    (false, &["SET", "a", "x"]),
    (true, ROOMY),
    (false, &["MULTI"]),
    (false, &["SET", "a", "z"]),
    (false, &["EXEC"]),
];

fn run_steps(port: u16, protocol: u8, steps: &[Step]) -> Vec<String> {
    let mut admin = Raw::connect(port);
    let mut tx = connect(port, protocol);
    steps
        .iter()
        .map(|(on_admin, args)| {
            let con = if *on_admin { &mut admin } else { &mut tx };
            let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
            String::from_utf8_lossy(&con.cmd_raw(&args)).into_owned()
        })
        .collect()
}

/// [`OVER_MAXMEMORY`] answers what redis-server 7.0 answers, byte for byte.
#[test]
fn transactions_over_maxmemory_match_redis() {
    let redis = Redis::start();
    for protocol in common::PROTOCOLS {
        let want = run_steps(redis.port, protocol, OVER_MAXMEMORY);
        common::each_shard_count(&[], |server, shards| {
            let got = run_steps(server.port(), protocol, OVER_MAXMEMORY);
            for (i, (w, g)) in want.iter().zip(&got).enumerate() {
                let step = OVER_MAXMEMORY[i].1;
                assert_eq!(g, w, "RESP{protocol}, {shards} shards, step {i}: {step:?}");
            }
        });
    }
}
