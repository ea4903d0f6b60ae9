//! Sorted-set commands on the engine harness: replies as Redis 7.0 gives them, the
//! encodings and their conversions, and a random workload whose journal, replayed
//! after every command, reproduces the live keyspace.

use std::collections::BTreeMap;

use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::harness::{run, TestShard};
use crate::journal::{scan, Effect, End};
use crate::keyspace::Entry;
use crate::replay::apply_effect;
use crate::resp::Protocol;
use crate::shard::{CollectionLimits, Shard};

#[test]
fn add_score_rank_and_formatting() {
    let mut s = TestShard::default();
    assert_eq!(
        run(&mut s, &["ZADD", "z", "1.5", "a", "2", "b", "3e30", "c"]),
        "3"
    );
    assert_eq!(run(&mut s, &["ZSCORE", "z", "c"]), "2.9999999999999998e+30");
    assert_eq!(
        run(&mut s, &["ZINCRBY", "z", "1.1", "b"]),
        "3.1000000000000001"
    );
    assert_eq!(run(&mut s, &["ZADD", "z", "17", "d"]), "1");
    assert_eq!(run(&mut s, &["ZSCORE", "z", "d"]), "17");
    assert_eq!(run(&mut s, &["ZRANK", "z", "d"]), "2");
    assert_eq!(run(&mut s, &["ZREVRANK", "z", "d"]), "1");
    assert_eq!(run(&mut s, &["ZRANK", "z", "nope"]), "(nil)");
    assert_eq!(run(&mut s, &["ZINCRBY", "z", "inf", "a"]), "inf");
    assert_eq!(
        run(&mut s, &["ZINCRBY", "z", "-inf", "a"]),
        "-ERR resulting score is not a number (NaN)"
    );
    assert_eq!(run(&mut s, &["TYPE", "z"]), "zset");
    assert_eq!(run(&mut s, &["OBJECT", "ENCODING", "z"]), "listpack");
    run(&mut s, &["SET", "str", "v"]);
    let wrong = "-WRONGTYPE Operation against a key holding the wrong kind of value";
    assert_eq!(run(&mut s, &["ZADD", "str", "1", "a"]), wrong);
    assert_eq!(run(&mut s, &["ZUNIONSTORE", "d", "2", "z", "str"]), wrong);
    assert_eq!(run(&mut s, &["ZMPOP", "2", "str", "z", "MIN"]), wrong);
}

#[test]
fn encodings_follow_the_limits() {
    let mut s = TestShard::default();
    for i in 0..128 {
        run(&mut s, &["ZADD", "z", &i.to_string(), &format!("m{i}")]);
    }
    assert_eq!(run(&mut s, &["OBJECT", "ENCODING", "z"]), "listpack");
    assert_eq!(run(&mut s, &["ZADD", "z", "5", "m0"]), "0");
    assert_eq!(run(&mut s, &["OBJECT", "ENCODING", "z"]), "listpack");
    run(&mut s, &["ZADD", "z", "200", "m200"]);
    assert_eq!(run(&mut s, &["OBJECT", "ENCODING", "z"]), "skiplist");
    run(&mut s, &["ZADD", "long", "1", &"x".repeat(65)]);
    assert_eq!(run(&mut s, &["OBJECT", "ENCODING", "long"]), "skiplist");
    run(&mut s, &["ZADD", "short", "1", &"x".repeat(64)]);
    assert_eq!(run(&mut s, &["OBJECT", "ENCODING", "short"]), "listpack");
    assert_eq!(run(&mut s, &["ZRANGESTORE", "d", "z", "0", "9"]), "10");
    assert_eq!(run(&mut s, &["OBJECT", "ENCODING", "d"]), "listpack");
    assert_eq!(run(&mut s, &["ZRANGE", "z", "0", "2"]), "[m1, m2, m3]");
    assert_eq!(run(&mut s, &["ZRANK", "z", "m200"]), "128");
    assert_eq!(run(&mut s, &["ZCOUNT", "z", "(5", "+inf"]), "123");
    assert_eq!(
        run(
            &mut s,
            &["ZRANGEBYSCORE", "z", "(5", "+inf", "LIMIT", "1", "2"]
        ),
        "[m7, m8]"
    );
    assert_eq!(run(&mut s, &["ZREVRANGE", "z", "0", "1"]), "[m200, m127]");
}

#[test]
fn resp3_pairs_and_pops() {
    let mut s = TestShard {
        protocol: Protocol::Resp3,
        ..TestShard::default()
    };
    run(&mut s, &["ZADD", "z", "1", "a", "2", "b", "3", "c"]);
    assert_eq!(s.run_raw(&["ZPOPMIN", "z"]), "*2\r\n$1\r\na\r\n,1\r\n");
    assert_eq!(
        s.run_raw(&["ZPOPMIN", "z", "1"]),
        "*1\r\n*2\r\n$1\r\nb\r\n,2\r\n"
    );
    assert_eq!(
        s.run_raw(&["ZMPOP", "2", "nokey", "z", "MAX"]),
        "*2\r\n$1\r\nz\r\n*1\r\n*2\r\n$1\r\nc\r\n,3\r\n"
    );
    assert_eq!(run(&mut s, &["EXISTS", "z"]), "0");
    assert_eq!(s.run_raw(&["ZMPOP", "1", "z", "MIN"]), "_\r\n");
}

#[test]
fn algebra_with_weights_and_aggregates() {
    let mut s = TestShard::default();
    run(&mut s, &["ZADD", "z", "1", "a", "2", "b", "3", "c"]);
    run(&mut s, &["ZADD", "w", "10", "b", "20", "c", "30", "d"]);
    run(&mut s, &["SADD", "s", "c", "d"]);
    assert_eq!(
        run(&mut s, &["ZUNION", "3", "z", "w", "s", "WITHSCORES"]),
        "[a, 1, b, 12, c, 24, d, 31]"
    );
    assert_eq!(
        run(
            &mut s,
            &["ZINTER", "2", "z", "w", "AGGREGATE", "MAX", "WITHSCORES"]
        ),
        "[b, 10, c, 20]"
    );
    assert_eq!(
        run(
            &mut s,
            &["ZUNION", "2", "z", "w", "WEIGHTS", "0", "inf", "WITHSCORES"]
        ),
        "[a, 0, b, inf, c, inf, d, inf]"
    );
    assert_eq!(run(&mut s, &["ZDIFF", "2", "z", "w"]), "[a]");
    assert_eq!(
        run(&mut s, &["ZINTERCARD", "2", "z", "w", "LIMIT", "1"]),
        "1"
    );
    assert_eq!(run(&mut s, &["ZDIFFSTORE", "d", "2", "z", "z"]), "0");
    assert_eq!(run(&mut s, &["EXISTS", "d"]), "0");
    assert_eq!(run(&mut s, &["ZINTERSTORE", "d", "2", "z", "w"]), "2");
    assert_eq!(
        run(&mut s, &["ZRANGE", "d", "0", "-1", "WITHSCORES"]),
        "[b, 12, c, 23]"
    );
    assert_eq!(
        run(&mut s, &["ZUNIONSTORE", "d", "0", "z"]),
        "-ERR at least 1 input key is needed for 'zunionstore' command"
    );
}

fn live_view(shard: &Shard, now_ms: u64) -> BTreeMap<(usize, Bytes), Entry> {
    let mut view = BTreeMap::new();
    for (i, db) in shard.keyspace().dbs().iter().enumerate() {
        db.for_each_live(now_ms, |k, e| {
            view.insert((i, Bytes::copy_from_slice(k)), e.to_entry());
        });
    }
    view
}

/// One random sorted-set command on keys `z0`..`z2`.
fn random_command(rng: &mut SmallRng) -> Vec<String> {
    let key = format!("z{}", rng.gen_range(0..3));
    let m = format!("m{}", rng.gen_range(0..60));
    let score = format!("{}", rng.gen_range(-20..20) as f64 / 4.0);
    let words: Vec<&str> = match rng.gen_range(0..12) {
        0 | 1 => vec!["ZADD", &key, &score, &m],
        2 => vec!["ZADD", &key, "GT", "CH", &score, &m, "1", "x"],
        3 => vec!["ZINCRBY", &key, &score, &m],
        4 => vec!["ZREM", &key, &m],
        5 => vec!["ZPOPMIN", &key, "2"],
        6 => vec!["ZREMRANGEBYSCORE", &key, "(0", &score],
        7 => vec!["ZUNIONSTORE", &key, "2", "z1", "z2", "WEIGHTS", "2", "1"],
        8 => vec!["ZRANGESTORE", &key, "z0", "0", "5"],
        9 => vec!["ZMPOP", "2", "z1", &key, "MAX", "COUNT", "3"],
        10 => vec!["ZREMRANGEBYRANK", &key, "0", "0"],
        _ => vec!["DEL", &key],
    };
    words.into_iter().map(String::from).collect()
}

#[test]
fn replaying_a_random_zset_workload_reproduces_it() {
    let mut live = TestShard::default();
    let small = CollectionLimits {
        zset: crate::collections::ZsetLimits {
            max_listpack_entries: 16,
            max_listpack_value_bytes: 64,
        },
        ..CollectionLimits::default()
    };
    live.shard.set_limits(small);
    live.shard.log_mut().enable(0);
    let mut fresh = Shard::new(0, 2);
    fresh.set_limits(small);
    let mut rng = SmallRng::seed_from_u64(7);
    let mut encodings = std::collections::HashSet::new();
    for step in 0..3000 {
        let cmd = random_command(&mut rng);
        let cmd: Vec<&str> = cmd.iter().map(String::as_str).collect();
        live.run(&cmd);
        let journal = live.shard.log_mut().take();
        let scan = scan(&journal);
        assert_eq!(scan.end, End::Clean);
        for r in &scan.records {
            apply_effect(
                &mut fresh,
                Effect::decode(&journal[r.payload.clone()]).expect("decodes"),
            );
        }
        let view = live_view(&live.shard, live.now_ms);
        view.values().for_each(|e| {
            encodings.insert(e.value.encoding());
        });
        assert_eq!(live_view(&fresh, live.now_ms), view, "step {step}: {cmd:?}");
    }
    assert!(encodings.contains("listpack") && encodings.contains("skiplist"));
}
