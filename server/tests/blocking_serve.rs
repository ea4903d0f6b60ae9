//! Blocked clients served as Redis 7.0 serves them, against the real binary:
//! - a `BLMOVE`/`BRPOPLPUSH` whose destination lives on another shard is served right
//!   after the push, before a pop sent right behind it, and atomically: a reader
//!   holding all the lists in one `MULTI`/`EXEC` never sees an element in both lists
//!   or in neither;
//! - a connection's pipelined push and pop: the blocked client is served right after
//!   the push, the pop behind it finds what is left (compared with `redis-server`);
//! - a key that takes another type keeps its clients blocked until it holds what they
//!   pop again; a move whose destination holds another type answers as Redis does.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use common::blocked::{block, wait_blocked};
use common::{encode_str, render, shard_of, Raw, Redis, Server, SHARD_COUNTS};

/// Shards of the cross-shard move test.
const SHARDS: usize = 4;
/// Rounds of it, split between a destination above and one below the source.
const MOVE_ROUNDS: usize = 100;

/// The first key `prefix<n>` that lives on `shard` of [`SHARDS`].
fn key_on(prefix: &str, shard: usize) -> String {
    (0..)
        .map(|n| format!("{prefix}{n}"))
        .find(|k| shard_of(k, SHARDS) == shard)
        .expect("some key lives on every shard")
}

/// The lengths of `keys`, read together in one `MULTI`/`EXEC`.
fn lengths(c: &mut Raw, keys: &[String]) -> Vec<i64> {
    let mut batch = encode_str(&["MULTI"]);
    for key in keys {
        batch.extend(encode_str(&["LLEN", key.as_str()]));
    }
    batch.extend(encode_str(&["EXEC"]));
    c.send(&batch);
    for _ in 0..=keys.len() {
        c.read_reply();
    }
    let exec = render(&c.read_reply());
    common::items(&exec)
        .iter()
        .map(|n| n.parse().expect("a length"))
        .collect()
}

/// Pairs of keys on four shards: a source, and a destination on a shard above it,
/// then below it.
fn move_pairs() -> [(String, String); 2] {
    [
        (key_on("src", 1), key_on("dst", 3)),
        (key_on("src", 2), key_on("dst", 0)),
    ]
}

/// The blocking move of `round`: `BLMOVE` and `BRPOPLPUSH` in turn, each pushing to
/// the destination's head.
fn blocking_move<'a>(round: usize, src: &'a str, dst: &'a str) -> Vec<&'a str> {
    match round % 2 {
        0 => vec!["BLMOVE", src, dst, "RIGHT", "LEFT", "0"],
        _ => vec!["BRPOPLPUSH", src, dst, "0"],
    }
}

/// Clients blocked in `BLMOVE`/`BRPOPLPUSH` from a key on one shard to a key on
/// another (above it, then below it) get each element pushed before another
/// client's `LPOP` sent right behind the push, as clients moving within one shard
/// do; the destinations end with every element, in push order.
#[test]
fn a_move_to_another_shard_is_served_before_the_next_pop() {
    let server = Server::with_shards(SHARDS, &[]);
    let pairs = move_pairs();
    let (mut mover, mut pusher, mut popper) = (server.raw(), server.raw(), server.raw());
    for round in 0..MOVE_ROUNDS {
        let (src, dst) = &pairs[round * pairs.len() / MOVE_ROUNDS];
        let (src, dst, value) = (src.as_str(), dst.as_str(), round.to_string());
        mover.send(&encode_str(&blocking_move(round, src, dst)));
        wait_blocked(server.port(), 1);
        pusher.send(&encode_str(&["LPUSH", src, value.as_str()]));
        popper.send(&encode_str(&["LPOP", src]));
        assert_eq!(render(&pusher.read_reply()), "1", "round {round}");
        assert_eq!(render(&popper.read_reply()), "(nil)", "round {round}");
        assert_eq!(render(&mover.read_reply()), value, "round {round}");
    }
    let mut c = server.raw();
    for (half, (src, dst)) in pairs.iter().enumerate() {
        let rounds = half * MOVE_ROUNDS / 2..(half + 1) * MOVE_ROUNDS / 2;
        let expected: Vec<String> = rounds.rev().map(|r| r.to_string()).collect();
        assert_eq!(common::items(&c.cmd(&["LRANGE", dst, "0", "-1"])), expected);
        assert_eq!(c.cmd(&["EXISTS", src]), "0");
    }
}

/// The same moves while a reader holds all four lists in one `MULTI`/`EXEC` after
/// another: the total element count it sees never goes down (an element in neither
/// list) nor jumps ahead (an element in both), and ends at one per push.
#[test]
fn a_move_to_another_shard_is_atomic_to_a_reader() {
    let server = Server::with_shards(SHARDS, &[]);
    let pairs = move_pairs();
    let all: Vec<String> = pairs
        .iter()
        .flat_map(|(s, d)| [s.clone(), d.clone()])
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (mut c, stop, all) = (server.raw(), stop.clone(), all.clone());
        thread::spawn(move || {
            let (mut last, mut reads) = (0, 0);
            while !stop.load(Ordering::Relaxed) {
                let total: i64 = lengths(&mut c, &all).iter().sum();
                assert!(total >= last, "{total} elements after {last}");
                last = total;
                reads += 1;
            }
            reads
        })
    };
    let (mut mover, mut pusher) = (server.raw(), server.raw());
    for round in 0..MOVE_ROUNDS {
        let (src, dst) = &pairs[round * pairs.len() / MOVE_ROUNDS];
        let (src, dst, value) = (src.as_str(), dst.as_str(), round.to_string());
        mover.send(&encode_str(&blocking_move(round, src, dst)));
        wait_blocked(server.port(), 1);
        assert_eq!(pusher.cmd(&["LPUSH", src, value.as_str()]), "1");
        assert_eq!(render(&mover.read_reply()), value, "round {round}");
    }
    stop.store(true, Ordering::Relaxed);
    let reads = reader.join().expect("the reader saw every element once");
    assert!(reads > 0);
    let lens = lengths(&mut server.raw(), &all);
    assert_eq!(lens, [0, MOVE_ROUNDS as i64 / 2, 0, MOVE_ROUNDS as i64 / 2]);
}

/// One case of blocked clients and batches: the blocking commands (each client
/// blocked before the next), then batches sent by one connection, each in one write.
struct Case {
    blocking: &'static [&'static [&'static str]],
    batches: &'static [&'static [&'static [&'static str]]],
}

const PIPELINED: &[Case] = &[
    Case {
        blocking: &[&["BLPOP", "k", "0"]],
        batches: &[&[&["LPUSH", "k", "x"], &["LPOP", "k"]]],
    },
    Case {
        blocking: &[&["BRPOP", "k", "0"]],
        batches: &[&[&["RPUSH", "k", "a", "b"], &["RPOP", "k"], &["LLEN", "k"]]],
    },
    Case {
        blocking: &[&["BLMPOP", "0", "1", "k", "LEFT", "COUNT", "2"]],
        batches: &[&[
            &["RPUSH", "k", "a", "b", "c"],
            &["LPOP", "k"],
            &["LLEN", "k"],
        ]],
    },
    Case {
        blocking: &[&["BZPOPMIN", "z", "0"]],
        batches: &[&[&["ZADD", "z", "1", "m"], &["ZPOPMIN", "z"]]],
    },
    Case {
        blocking: &[&["BLMOVE", "{t}s", "{t}d", "LEFT", "RIGHT", "0"]],
        batches: &[&[
            &["LPUSH", "{t}s", "x"],
            &["LPOP", "{t}s"],
            &["LRANGE", "{t}d", "0", "-1"],
        ]],
    },
    Case {
        blocking: &[&["BLPOP", "k", "0"], &["BLPOP", "k", "0"]],
        batches: &[&[&["LPUSH", "k", "x"], &["LPUSH", "k", "y"], &["LPOP", "k"]]],
    },
    // Keys on one shard: a batch's commands for different shards run on them at once.
    Case {
        blocking: &[&["BLPOP", "{j}1", "{j}2", "0"]],
        batches: &[&[
            &["RPUSH", "{j}2", "a"],
            &["RPUSH", "{j}1", "b"],
            &["LPOP", "{j}1"],
            &["LPOP", "{j}2"],
        ]],
    },
    // Inside MULTI/EXEC the pop takes the element; the client is served after EXEC.
    Case {
        blocking: &[&["BLPOP", "k", "0"]],
        batches: &[
            &[&["MULTI"], &["LPUSH", "k", "x"], &["LPOP", "k"], &["EXEC"]],
            &[&["LPUSH", "k", "y"]],
        ],
    },
];

/// The replies of [`PIPELINED`] on the server at `port`: each batch's, then each
/// blocked client's.
fn pipelined(port: u16) -> Vec<String> {
    let mut c = Raw::connect(port);
    let mut out = Vec::new();
    for case in PIPELINED {
        let mut waiting: Vec<Raw> = (1..)
            .zip(case.blocking)
            .map(|(n, args)| block(port, args, n))
            .collect();
        for batch in case.batches {
            let bytes: Vec<u8> = batch.iter().flat_map(|cmd| encode_str(cmd)).collect();
            c.send(&bytes);
            out.extend(batch.iter().map(|_| render(&c.read_reply())));
        }
        out.extend(waiting.iter_mut().map(|w| render(&w.read_reply())));
        wait_blocked(port, 0);
        c.cmd(&["FLUSHALL"]);
    }
    out
}

/// A connection pipelining a push and a pop in one batch: the clients blocked on the
/// key are served right after the push, as Redis serves them after each command, so
/// the pop finds what they left; the same replies as `redis-server`'s.
#[test]
fn a_pop_pipelined_behind_a_push_finds_the_blocked_client_served() {
    let redis = Redis::start();
    let expected = pipelined(redis.port);
    for shards in SHARD_COUNTS {
        let server = Server::with_shards(shards, &[]);
        assert_eq!(pipelined(server.port()), expected, "{shards} shards");
    }
}

/// Keys of the type-change script whose moves cross shards on four shards.
const MOVE_SRC: &str = "ms";
const MOVE_DST: &str = "md";

/// Clients blocked on keys that take another type, and moves into a key of another
/// type, on the server at `port`: every reply, in order.
fn other_types(port: u16) -> Vec<String> {
    let mut c = Raw::connect(port);
    let mut out = Vec::new();
    let mut run = |c: &mut Raw, cmds: &[&[&str]]| {
        for cmd in cmds {
            out.push(c.cmd(cmd));
        }
    };
    let mut list_pop = block(port, &["BLPOP", "k", "0"], 1);
    run(
        &mut c,
        &[&["SET", "k", "v"], &["DEL", "k"], &["SADD", "k", "m"]],
    );
    run(&mut c, &[&["DEL", "k"], &["HSET", "k", "f", "v"]]);
    run(&mut c, &[&["DEL", "k"], &["ZADD", "k", "1", "m"]]);
    run(&mut c, &[&["DEL", "k"], &["RPUSH", "k", "a"]]);
    let mut served = vec![render(&list_pop.read_reply())];
    let mut zset_pop = block(port, &["BZPOPMIN", "z", "0"], 1);
    run(
        &mut c,
        &[&["RPUSH", "z", "a", "b"], &["LPOP", "z"], &["DEL", "z"]],
    );
    run(&mut c, &[&["ZADD", "z", "2", "m"]]);
    served.push(render(&zset_pop.read_reply()));
    // A key holding a string becomes a list by RENAME.
    let mut renamed = block(port, &["BRPOP", "r", "0"], 1);
    run(&mut c, &[&["SET", "r", "v"], &["RPUSH", "r:tmp", "x", "y"]]);
    run(
        &mut c,
        &[&["RENAME", "r:tmp", "r"], &["LRANGE", "r", "0", "-1"]],
    );
    served.push(render(&renamed.read_reply()));
    // Of two keys, the one that takes another type is passed over.
    let mut two = block(port, &["BLPOP", "k1", "k2", "0"], 1);
    run(&mut c, &[&["SET", "k1", "v"], &["RPUSH", "k2", "a"]]);
    served.push(render(&two.read_reply()));
    // A move whose destination holds another type, on one shard and across shards.
    for (src, dst) in [("{m}s", "{m}d"), (MOVE_SRC, MOVE_DST)] {
        run(&mut c, &[&["SET", dst, "v"]]);
        let mut mover = block(port, &["BLMOVE", src, dst, "LEFT", "RIGHT", "0"], 1);
        run(&mut c, &[&["RPUSH", src, "a"]]);
        served.push(render(&mover.read_reply()));
        run(&mut c, &[&["LRANGE", src, "0", "-1"], &["GET", dst]]);
    }
    wait_blocked(port, 0);
    out.extend(served);
    out
}

/// A key a client is blocked on that takes another type (a string, set, hash, or
/// sorted set for a list pop; a list for a sorted-set pop) keeps the client
/// blocked, and it is served once the key holds its type again (also by RENAME);
/// a move whose destination holds another type answers WRONGTYPE as Redis 7.0.15
/// does and leaves the element in the source: the same replies as `redis-server`'s.
#[test]
fn a_blocked_key_of_another_type_keeps_its_client_blocked() {
    assert_ne!(shard_of(MOVE_SRC, SHARDS), shard_of(MOVE_DST, SHARDS));
    let redis = Redis::start();
    let expected = other_types(redis.port);
    for shards in SHARD_COUNTS {
        let server = Server::with_shards(shards, &[]);
        assert_eq!(other_types(server.port()), expected, "{shards} shards");
    }
}
