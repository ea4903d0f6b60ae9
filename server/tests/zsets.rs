//! Sorted sets against the real binary, on one shard and on four:
//! - every sorted-set command answers what `redis-server` 7.0.15 answers to the same
//!   script, byte for byte in RESP2 and RESP3: scores as Redis prints them (`%.17g`,
//!   `inf`), errors, WRONGTYPE, empty-key deletion, encodings and their parameters
//!   (with the `-ziplist-` aliases), and the multi-key forms whose keys the four-shard
//!   server spreads over shards (the script's keys are checked to span them);
//! - `GEOADD`, `GEOPOS`, `GEODIST` and `GEOHASH` give the scores and the printed
//!   digits `redis-server` gives;
//! - a restart after `SIGKILL` under `appendfsync always` gives back every sorted
//!   set exactly, encoding included, from the journal's `ZAdd`/`ZRem` deltas and
//!   whole values.

mod common;

use std::collections::BTreeMap;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use common::compare::{same_as_redis, script};
use common::stress::{run_for, spawn};
use common::{distinct_shards, restart_in, start_in, DataDir, Raw, Server, EXIT_TIMEOUT};

const BASICS: &str = "
    ZADD z 1.5 a 2 b 3e30 c 1e-7 d
    ZADD z2 1 a 2 b 3 c
    ZSCORE z c
    ZINCRBY z 1.1 b
    ZMSCORE z a nope c
    ZRANK z c
    ZREVRANK z c
    ZRANK z nope
    ZCARD z
    ZCARD nokey
    ZPOPMIN nokey 2
    ZMPOP 1 nokey MIN
    ZSCAN z 0
    ZSCAN z 0 MATCH a*
    ZRANGE z 0 -1 WITHSCORES
    ZRANGE z 0 -1 BYLEX WITHSCORES
    ZRANGE z 0 -1 LIMIT 0 1
    ZRANGE z (1 3 BYSCORE LIMIT 0
    ZRANGE z (1 3 BYSCORE LIMIT a 1
    ZRANGE z x 3 BYSCORE
    ZRANGE z x 3
    ZRANGE z a b BYLEX
    ZRANGE z - + BYLEX REV
    ZRANGE z + - BYLEX REV
    ZRANGE z 3 1 BYSCORE REV
    ZRANGE z 0 -1 REV REV WITHSCORES
    ZRANGE z 0 0 BYSCORE BYLEX
    ZRANGEBYSCORE z -inf +inf REV
    ZRANGEBYSCORE z -inf +inf LIMIT 1 -1
    ZRANGEBYSCORE z -inf +inf LIMIT -1 1
    ZRANGEBYSCORE z -inf +inf WITHSCORES LIMIT 1 2
    ZREVRANGEBYSCORE z +inf -inf WITHSCORES LIMIT 1 2
    ZREVRANGE z 0 1 WITHSCORES
    ZRANGEBYLEX z2 [a (c
    ZREVRANGEBYLEX z2 (c [a
    ZRANGEBYLEX z2 - + LIMIT 1 1
    ZCOUNT z (1.5 +inf
    ZCOUNT z a b
    ZLEXCOUNT z a b
    ZLEXCOUNT z2 - +
    ZLEXCOUNT z2 (a +
    ZLEXCOUNT z2 - -
    ZLEXCOUNT z2 [b [b
    ZLEXCOUNT z2 (b [b
    ZREMRANGEBYRANK z a b
    ZRANDMEMBER z -9223372036854775808
    ZRANDMEMBER z 0
    ZRANDMEMBER z 100 WITHSCORES
    ZRANDMEMBER nokey 3
    ZRANDMEMBER z 2 x
    ZPOPMAX z 0
    ZRANK z a WITHSCORE
    ZSCORE z nope
    SET s v
    ZADD s 1 a
    ZRANGE s 0 1
    ZUNION 2 z s
    ZMPOP 2 s z MIN
    ZMPOP 2 z s MIN
    ZADD z XX NX 1 a
    ZADD z GT LT 1 a
    ZADD z NX GT 1 a
    ZADD z INCR 1 a 2 b
    ZADD z 1
    ZADD z x a
    ZADD z 1e309 a
    ZADD z 1 a 2
    ZINCRBY z x a
    ZADD w 1 a
    ZINCRBY w inf a
    ZINCRBY w -inf a
    ZADD w NX INCR 1 a
    ZADD w XX INCR 1 nope
    ZADD w CH 5 a 6 b
    ZADD w GT CH 1 a 7 b
    ZADD w LT CH 1 a 7 b
    ZADD w INCR GT -1 a
    ZADD w INCR LT -1 b
    ZRANGE w 0 -1 WITHSCORES
    ZADD new XX 1 a
    EXISTS new
    ZADD new NX 1 a 2 a
    ZADD new2 1 a 2 a
    ZRANGE new2 0 -1 WITHSCORES
    ZADD neg -0 a
    ZSCORE neg a
    TYPE z
    OBJECT ENCODING z
    ZREM z a nope
    ZREMRANGEBYSCORE z -inf (2
    ZREMRANGEBYLEX z2 - [a
    ZREMRANGEBYRANK z2 0 0
    EXISTS z2
    ZPOPMIN z
    ZPOPMAX z 2
    ZPOPMIN z -1
    EXISTS z
    ZPOPMIN z2 5
    EXISTS z2
";

#[test]
fn single_key_commands_answer_as_redis() {
    same_as_redis(&script(BASICS));
}

const ALGEBRA: &str = "
    ZADD z 1 a 2 b 3 c
    ZADD w 10 b 20 c 30 d
    SADD s c d
    ZUNION 3 z w s WITHSCORES
    ZUNION 2 z w AGGREGATE MAX WITHSCORES
    ZUNION 2 z w WEIGHTS 1 inf WITHSCORES
    ZUNION 2 z w WEIGHTS 0 inf WITHSCORES
    ZUNION 2 z w WEIGHTS 1 -1 AGGREGATE min WITHSCORES
    ZINTER 3 z w s WITHSCORES
    ZINTER 2 z nokey
    ZDIFF 2 z w WITHSCORES
    ZDIFF 2 z w WEIGHTS 1 1
    ZINTERCARD 2 z w
    ZINTERCARD 2 z w LIMIT 1
    ZINTERCARD 3 z w
    ZINTERCARD x z
    ZINTERCARD 1 z foo
    ZINTERCARD 1 z LIMIT -1
    ZINTERCARD 0 z
    ZUNION x z
    ZUNION 0 z
    ZUNIONSTORE d 0 z
    ZUNIONSTORE d 2 z
    ZUNIONSTORE d 1 z WEIGHTS x
    ZUNIONSTORE d 1 z WEIGHTS 1e309
    ZUNIONSTORE d 1 z WEIGHTS 1 2
    ZUNIONSTORE d 1 z AGGREGATE foo
    ZUNIONSTORE d 1 z WITHSCORES
    ZUNIONSTORE d 3 z w s
    ZRANGE d 0 -1 WITHSCORES
    OBJECT ENCODING d
    ZINTERSTORE i 2 z w
    ZRANGE i 0 -1 WITHSCORES
    ZDIFFSTORE df 2 w z
    ZRANGE df 0 -1 WITHSCORES
    ZDIFFSTORE df 2 z z
    EXISTS df
    ZUNIONSTORE d 1 nokey
    EXISTS d
    SET str x
    ZUNIONSTORE d 2 z str WEIGHTS 1
    ZINTERSTORE d 2 str z AGGREGATE
    ZUNION 2 z str WITHSCORES foo
    ZINTERCARD 2 z str LIMIT
    ZINTERCARD 2 z str LIMIT -1
    ZADD z NX GT 1
    SSCAN nokey 0 COUNT
    HSCAN nokey 0 MATCH
    ZSCAN nokey 0 COUNT 0
    ZSCAN str 0 COUNT
    SSCAN nokey x
    ZSCAN z 0 COUNT
    ZADD z NX XX 1
    ZADD z GT LT 1 a 2
    ZRANGESTORE r w 0 -1 WITHSCORES
    ZRANGESTORE r w (5 +inf BYSCORE LIMIT 1 1
    ZRANGE r 0 -1 WITHSCORES
    ZRANGESTORE r w 0 -1 BYLEX
    ZRANGESTORE r nokey 0 -1
    EXISTS r
    ZMPOP 0 z MIN
    ZMPOP 1 z foo
    ZMPOP 1 z MIN COUNT 0
    ZMPOP 1 z MIN COUNT
    ZMPOP 2 z MIN
    ZMPOP 3 nokey w z MAX COUNT 2
    ZMPOP 2 nokey z MIN COUNT 10
    EXISTS z
    SET str v
    ZUNIONSTORE d 2 w str
    ZINTERCARD 2 w str
    ZRANGESTORE r str 0 1
    COPY w w2
    OBJECT ENCODING w2
    RENAME w2 w3
    ZRANGE w3 0 -1 WITHSCORES
    MOVE w3 1
    EXISTS w3
";

/// Score arguments as `strtod` reads them: hexadecimal forms, `inf` spellings, out
/// of range values (refused as scores, standing as range bounds), `NaN`.
const SCORE_TEXT: &str = "
    ZADD h 0x1p3 a 0X1P-2 b -0x1.8p1 c 0x.8 d 0x1.fffffffffffffp1023 e 0x1p-1074 f
    ZRANGE h 0 -1 WITHSCORES
    ZADD h 0x a
    ZADD h 0x1p a
    ZADD h 0xg a
    ZADD h 0x1p1024 a
    ZADD h 0x1p-1075 a
    ZADD h 1e400 a
    ZADD h nan a
    ZADD h -nan a
    ZADD h +-1 a
    ZADD h infinity g -INF i 1. j .5 k +.5e1 l 1e-310 m
    ZINCRBY h 0x1p-2 a
    ZINCRBY h 0x10 nope
    ZCOUNT h 0x1 +inf
    ZCOUNT h (0x1p1 1e400
    ZCOUNT h -1e400 0x1p-2000
    ZCOUNT h 0x +inf
    ZRANGEBYSCORE h -0x1p1 (0x1p4 WITHSCORES
    ZRANGE h (-0x2 0x10 BYSCORE REV LIMIT 0 2
    ZUNIONSTORE u 1 h WEIGHTS 0x2
    ZRANGE u 0 2 WITHSCORES
    GEOADD g 0x10 0x10 m
    GEOPOS g m
    GEOSEARCH g FROMLONLAT 0x10 0x10 BYRADIUS 0x10 km WITHDIST
";

#[test]
fn score_text_reads_as_redis_reads_it() {
    same_as_redis(&script(SCORE_TEXT));
}

#[test]
fn multi_key_commands_answer_as_redis_across_shards() {
    assert!(distinct_shards(&["z", "w", "s", "d", "i", "r"], 4) >= 3);
    same_as_redis(&script(ALGEBRA));
}

/// The elements of a compact array reply (`[a, b]`).
fn items(reply: &str) -> Vec<String> {
    let inner = reply.trim_start_matches('[').trim_end_matches(']');
    match inner {
        "" => Vec::new(),
        _ => inner.split(", ").map(str::to_string).collect(),
    }
}

/// The multi-key sorted-set commands read their sources on several shards at one
/// point in time: a writer changes `a` and `b` (on two shards) in one `EXEC`, always
/// alike, while readers run `ZUNION`/`ZDIFF`/`ZINTERCARD`, `ZUNIONSTORE` and
/// `ZRANGESTORE` with destinations on the other shards, and `ZMPOP` over those; a
/// reader that saw one source before a change and the other after would find a
/// member in one only, or a score in the weighted union other than 0.
#[test]
fn multi_key_commands_read_their_sources_atomically_across_shards() {
    let server = Server::with_shards(4, &[]);
    assert_eq!(distinct_shards(&["a", "b", "c", "d"], 4), 4);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = spawn(&server, &stop, |con, n| {
        let (score, member) = (n.to_string(), format!("m{}", n % 50));
        let gone = format!("m{}", (n * 7) % 50);
        assert_eq!(con.cmd(&["MULTI"]), "OK");
        for key in ["a", "b"] {
            assert_eq!(con.cmd(&["ZADD", key, &score, &member]), "QUEUED");
            assert_eq!(con.cmd(&["ZREM", key, &gone]), "QUEUED");
        }
        let done = items(&con.cmd(&["EXEC"]));
        assert_eq!(done.len(), 4, "EXEC answered {done:?}");
    });
    let reader = spawn(&server, &stop, |con, _| {
        let union = items(&con.cmd(&["ZUNION", "2", "a", "b", "WEIGHTS", "1", "-1", "WITHSCORES"]));
        for pair in union.chunks(2) {
            assert_eq!(pair[1], "0", "ZUNION saw {pair:?} on one side only");
        }
        assert_eq!(con.cmd(&["ZDIFF", "2", "a", "b"]), "[]");
        assert_eq!(con.cmd(&["ZDIFF", "2", "b", "a"]), "[]");
        let inter = con.cmd(&["ZINTERCARD", "2", "a", "b"]);
        assert!(
            inter.parse::<usize>().is_ok(),
            "ZINTERCARD answered {inter}"
        );
    });
    let storer = spawn(&server, &stop, |con, _| {
        let stored = con.cmd(&["ZUNIONSTORE", "c", "2", "a", "b", "WEIGHTS", "1", "-1"]);
        assert!(
            stored.parse::<usize>().is_ok(),
            "ZUNIONSTORE answered {stored}"
        );
        let scores = items(&con.cmd(&["ZRANGE", "c", "0", "-1", "WITHSCORES"]));
        assert!(
            scores.chunks(2).all(|p| p[1] == "0"),
            "ZUNIONSTORE stored {scores:?}"
        );
        let copied = con.cmd(&["ZRANGESTORE", "d", "a", "0", "-1"]);
        assert!(
            copied.parse::<usize>().is_ok(),
            "ZRANGESTORE answered {copied}"
        );
    });
    let popper = spawn(&server, &stop, |con, _| {
        let popped = con.cmd(&["ZMPOP", "2", "c", "d", "MIN", "COUNT", "3"]);
        assert!(
            popped == "(nil)" || popped.starts_with("[c, [") || popped.starts_with("[d, ["),
            "ZMPOP answered {popped}"
        );
    });
    let counts = run_for(stop, vec![writer, reader, storer, popper]);
    assert!(counts.iter().all(|&n| n > 10), "progress: {counts:?}");
}

/// `ZADD key 0 m0 1 m1 ...` with `n` members.
fn zadd_many(key: &str, n: usize) -> String {
    let pairs: Vec<String> = (0..n).map(|i| format!("{} m{i}", i as f64 * 0.5)).collect();
    format!("ZADD {key} {}", pairs.join(" "))
}

#[test]
fn encodings_and_large_sets_answer_as_redis() {
    let long = "x".repeat(65);
    let text = format!(
        "{}\n{}\n{}\n{}",
        zadd_many("big", 200),
        zadd_many("edge", 128),
        format_args!("ZADD long 1 {long}\nZADD short 1 {}", "x".repeat(64)),
        "OBJECT ENCODING big
         OBJECT ENCODING edge
         OBJECT ENCODING long
         OBJECT ENCODING short
         ZADD edge 1 m0
         OBJECT ENCODING edge
         ZADD edge 1 extra
         OBJECT ENCODING edge
         ZRANGE big 100 105 WITHSCORES
         ZRANGEBYSCORE big (10 20 LIMIT 2 3 WITHSCORES
         ZREVRANGEBYSCORE big 20 (10 LIMIT 2 3
         ZRANK big m150
         ZREVRANK big m150
         ZCOUNT big 5 (50
         ZREMRANGEBYRANK big 10 19
         ZREMRANGEBYSCORE big (90 95
         ZCARD big
         ZRANGE big -5 -1
         ZPOPMAX big 3
         ZADD big -0 neg inf pinf -inf ninf
         ZSCORE big neg
         ZRANGE big 0 2 WITHSCORES
         ZRANDMEMBER big 500 WITHSCORES
         ZUNIONSTORE u 2 big big WEIGHTS 1 -1
         ZRANGE u 0 3 WITHSCORES
         OBJECT ENCODING u
         ZRANGESTORE rs big 0 4
         OBJECT ENCODING rs
         CONFIG SET zset-max-ziplist-entries 2
         CONFIG GET zset-max-listpack-entries
         ZADD small 1 a 2 b
         OBJECT ENCODING small
         ZADD small 3 c
         OBJECT ENCODING small
         CONFIG SET zset-max-listpack-value 1
         CONFIG GET zset-max-ziplist-value
         ZADD tiny 1 ab
         OBJECT ENCODING tiny"
    );
    same_as_redis(&script(&text));
}

/// Kills the server with `SIGKILL` and reaps it.
fn kill(server: &mut Server) {
    server.signal(libc::SIGKILL);
    let status = server.wait_exit(EXIT_TIMEOUT).expect("exits on SIGKILL");
    assert_eq!(status.code(), None, "killed by a signal: {status}");
}

fn dump(con: &mut Raw, keys: &[String]) -> BTreeMap<String, String> {
    keys.iter()
        .map(|k| {
            let ty = con.cmd(&["TYPE", k]);
            let enc = con.cmd(&["OBJECT", "ENCODING", k]);
            let content = con.cmd_raw(&[b"ZRANGE", k.as_bytes(), b"0", b"-1", b"WITHSCORES"]);
            let content = String::from_utf8_lossy(&content).into_owned();
            (k.clone(), format!("{ty} {enc} {content}"))
        })
        .collect()
}

#[test]
fn sigkill_then_restart_gives_back_every_sorted_set() {
    let dir = DataDir::new("zset-restart");
    let args = ["--shards", "4", "--appendfsync", "always"];
    let mut server = start_in(&dir, &args);
    let port = server.port();
    let mut c = server.raw();
    let mut keys = Vec::new();
    for n in 0..12 {
        let key = format!("z{n}");
        for i in 0..n * 30 {
            let score = format!("{}", (i * 7 % 13) as f64 / 3.0);
            c.cmd(&["ZADD", &key, &score, &format!("m{i}")]);
        }
        c.cmd(&["ZINCRBY", &key, "0.1", "m1"]);
        c.cmd(&["ZREM", &key, "m2"]);
        c.cmd(&["ZPOPMIN", &key, "2"]);
        c.cmd(&["ZREMRANGEBYSCORE", &key, "(1", "2"]);
        keys.push(key);
    }
    c.cmd(&[
        "ZUNIONSTORE",
        "u",
        "3",
        "z4",
        "z9",
        "z11",
        "WEIGHTS",
        "1",
        "2",
        "3",
    ]);
    c.cmd(&["ZRANGESTORE", "r", "z10", "0", "20"]);
    c.cmd(&["ZMPOP", "2", "z0", "z5", "MAX", "COUNT", "4"]);
    keys.extend(["u".to_string(), "r".to_string()]);
    let before = dump(&mut c, &keys);
    assert!(before.values().any(|v| v.starts_with("zset listpack")));
    assert!(before.values().any(|v| v.starts_with("zset skiplist")));
    drop(c);
    kill(&mut server);
    let server = restart_in(port, &dir, &args);
    assert_eq!(dump(&mut server.raw(), &keys), before);
}

const GEO: &str = "
    GEOADD g 13.361389 38.115556 Palermo 15.087269 37.502669 Catania
    GEOADD g 200 1 x
    GEOADD g XX NX 1 2 a
    GEOADD g 1 2 a 3
    GEOADD g a 2 a
    GEOADD g 1 86 a
    GEOADD g CH 13.361389 38.115556 Palermo 1 1 new
    GEOADD g NX 2 2 new 3 3 newer
    GEOADD g 180 85.05112878 edge -180 -85.05112878 edge2 -0.0001 0.0001 zero
    ZSCORE g Palermo
    ZRANGE g 0 -1 WITHSCORES
    GEOPOS g Palermo nope edge edge2 zero
    GEOPOS nokey a
    GEODIST g Palermo Catania
    GEODIST g Palermo Catania km
    GEODIST g Palermo Catania mi
    GEODIST g Palermo Catania ft
    GEODIST g Palermo Catania foo
    GEODIST g Palermo nope
    GEODIST g Palermo Catania km x
    GEODIST g edge edge2
    GEODIST g new zero
    GEOHASH g Palermo Catania nope edge edge2 zero
    GEOHASH nokey a
    SET s v
    GEOADD s 1 1 a
    GEOPOS s a
";

#[test]
fn geo_commands_answer_as_redis() {
    same_as_redis(&script(GEO));
}
