//! `SORT`, `SORT_RO`, `DUMP` and `RESTORE` against the real binary, on one shard and
//! on four.
//! - `SORT`: every reply is what `redis-server` 7.0.15 answers to the same script,
//!   byte for byte in RESP2 and RESP3 — numeric and `ALPHA` sorts of lists, sets and
//!   sorted sets, `LIMIT` clamping, `BY` patterns on strings and hash fields (`->`),
//!   `BY nosort` keeping a list's or sorted set's order, `GET #` and several `GET`s,
//!   `STORE` to a destination (created, replaced, deleted by an empty result), the
//!   conversion error and the syntax errors. The keys the patterns name are spread
//!   over every shard.
//! - `PFCOUNT`/`PFMERGE` over keys on several shards report the first bad key in
//!   argument order, as Redis does.
//! - `DUMP`/`RESTORE`: the replies and errors of a script with binary payloads
//!   (options, `BUSYKEY`, TTLs, bad trailers, bad values) are Redis's; and with
//!   both servers running, every recorded payload of `fixtures/dump/payloads.txt`
//!   (every type and encoding) moves Redis → corekv → Redis → corekv, the value
//!   and its encoding the same at every stop.

mod common;

use common::compare::{same_as_redis, script, Command};
use common::{Redis, Server, SHARD_COUNTS};
use corekv_engine::rdb::crc64;

const SORT: &str = "
    RPUSH nums 3 1 2 10 -5 2.5 0x10
    SORT nums
    SORT nums DESC
    SORT nums ALPHA
    SORT nums ALPHA DESC
    SORT nums LIMIT 1 3
    SORT nums LIMIT -5 2
    SORT nums LIMIT 5 100
    SORT nums LIMIT 7 1
    SORT nums LIMIT 100 1
    SORT nums LIMIT 0 0
    SORT nums LIMIT 2 -1
    SORT nums LIMIT 1 x
    SORT nums LIMIT 1
    SORT nums BY nosort
    SORT nums BY nosort DESC
    SORT nums BY nosort LIMIT 2 3
    SORT nums BY nosort DESC LIMIT 2 3
    SORT nums BY nosort LIMIT 10 3
    SORT_RO nums DESC LIMIT 0 2
    SORT_RO nums STORE dst
    SORT nums FOO
    SORT nums ASC DESC ASC
    RPUSH words banana apple cherry 10 9
    SORT words
    SORT words ALPHA
    SORT words ALPHA DESC LIMIT 1 2
    SET w_banana 3
    SET w_apple 1
    SET w_cherry 2
    SET w_10 -1
    SORT words BY w_*
    SORT words BY w_* DESC
    SORT words BY w_* ALPHA
    SORT words BY w_* GET # GET w_* GET nokey GET missing_*
    SORT words BY w_* LIMIT 1 2 GET w_*
    HSET o_banana name B weight 30
    HSET o_apple name A weight 10
    HSET o_cherry name C weight 20
    HSET o_9 name N weight 5
    SORT words BY o_*->weight GET o_*->name GET # GET o_*->nofield
    SORT words BY o_*->weight DESC GET o_*->name
    SORT words BY o_*-> GET o_*->
    SORT words GET o_*->name GET w_*
    SADD s 5 3 9 1 7
    SORT s
    SORT s DESC LIMIT 1 2
    SORT s BY nosort STORE sdst
    LRANGE sdst 0 -1
    SADD sw pear fig kiwi
    SORT sw ALPHA
    SORT sw BY nosort STORE swdst
    LRANGE swdst 0 -1
    SORT sw
    ZADD z 3 c 1 a 2 b 0 10
    SORT z BY nosort
    SORT z BY nosort DESC LIMIT 1 2
    SORT z ALPHA
    SORT z BY w_* GET #
    SORT z
    SORT nums STORE dst
    LRANGE dst 0 -1
    SORT words BY o_*->weight GET o_*->name GET nokey STORE dst2
    LRANGE dst2 0 -1
    SORT words BY w_* GET w_* STORE dst2 LIMIT 0 2
    LRANGE dst2 0 -1
    SORT nokey STORE dst2
    EXISTS dst2
    SORT nokey
    SORT nums LIMIT 100 1 STORE dst
    EXISTS dst
    SET str x
    SORT str
    SORT str BY nosort
    SORT str STORE d3
    HSET h a 1
    SORT h
    RPUSH mixed 1 two 3
    SORT mixed
    SORT mixed STORE mdst
    EXISTS mdst
    SORT mixed ALPHA
    SORT mixed BY nosort
    RPUSH big 1e400 2
    SORT big
    RPUSH nan nan 1
    SORT nan
    SET k_1 x
    SET k_2 5
    RPUSH byk 1 2
    SORT byk BY k_*
    SORT byk BY k_* ALPHA
    SORT byk BY k_*->f
    HSET hk_1 f 9
    SORT byk BY hk_*->f GET hk_*->f
    SORT words BY w_* STORE nums
    LRANGE nums 0 -1
    MULTI
    SORT words BY o_*->weight GET o_*->name GET w_*
    SORT words BY w_* GET # STORE dst3
    LRANGE dst3 0 -1
    EXEC
";

/// Multi-key `PFCOUNT` and `PFMERGE` with several bad keys: the error Redis reports
/// is the first in argument order (a corrupt HLL is found when merged, after the
/// keys before it).
const HLL_ERRORS: &str = "
    PFADD c a
    APPEND c xxxxxxxxxxxxxxxxxx
    PFADD h a b
    SET s x
    LPUSH l a
    PFCOUNT c s
    PFCOUNT s c
    PFCOUNT h l c
    PFCOUNT h c l
    PFCOUNT h s l
    PFCOUNT h l s
    PFCOUNT l s c h
    PFCOUNT s l
    PFMERGE d h c l
    PFMERGE d l c
    PFMERGE d s l
    PFMERGE d c s
    EXISTS d
";

#[test]
fn sort_replies_match_redis() {
    same_as_redis(&script(SORT));
}

#[test]
fn hll_errors_come_in_argument_order() {
    same_as_redis(&script(HLL_ERRORS));
}

/// The recorded fixtures: name and payload.
fn fixtures() -> Vec<(String, Vec<u8>)> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/dump/payloads.txt"
    );
    let text = std::fs::read_to_string(path).expect("the recorded payloads");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let hex = f[2];
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
                .collect();
            (f[0].to_string(), bytes)
        })
        .collect()
}

/// `body` (type byte and value) with RDB version 10 and its checksum after it.
fn sealed(body: &[u8]) -> Vec<u8> {
    let mut p = body.to_vec();
    p.extend_from_slice(&10u16.to_le_bytes());
    let crc = crc64(&p);
    p.extend_from_slice(&crc.to_le_bytes());
    p
}

fn cmd(words: &[&[u8]]) -> Command {
    words.iter().map(|w| w.to_vec()).collect()
}

#[test]
fn dump_restore_replies_match_redis() {
    let hello = sealed(b"\x00\x05hello");
    let mut bad_crc = hello.clone();
    *bad_crc.last_mut().unwrap() ^= 1;
    let newer = {
        let mut p = b"\x00\x05hello".to_vec();
        p.extend_from_slice(&11u16.to_le_bytes());
        let crc = crc64(&p);
        p.extend_from_slice(&crc.to_le_bytes());
        p
    };
    let into_trailer = sealed(b"\x00\x09hello");
    let bad_body = sealed(b"\x00\x40\x40hello");
    let empty_set = sealed(b"\x02\x00");
    let stream = sealed(b"\x0f\x00");
    let h: &[u8] = &hello;
    let script = vec![
        cmd(&[b"DUMP", b"nokey"]),
        cmd(&[b"SET", b"s", b"hello"]),
        cmd(&[b"DUMP", b"s"]),
        cmd(&[b"SET", b"i", b"12345"]),
        cmd(&[b"DUMP", b"i"]),
        cmd(&[b"RPUSH", b"l", b"a", b"1", b"-70000"]),
        cmd(&[b"DUMP", b"l"]),
        cmd(&[b"RESTORE", b"s", b"0", h]),
        cmd(&[b"RESTORE", b"n", b"-1", h]),
        cmd(&[b"RESTORE", b"n", b"x", h]),
        cmd(&[b"RESTORE", b"n", b"0", h, b"FOO"]),
        cmd(&[b"RESTORE", b"n", b"0", h, b"IDLETIME", b"-1"]),
        cmd(&[b"RESTORE", b"n", b"0", h, b"IDLETIME", b"x"]),
        cmd(&[b"RESTORE", b"n", b"0", h, b"FREQ", b"256"]),
        cmd(&[b"RESTORE", b"n", b"0", h, b"IDLETIME", b"1", b"FREQ", b"1"]),
        cmd(&[b"RESTORE", b"n", b"0", h, b"IDLETIME"]),
        cmd(&[b"RESTORE", b"n", b"0", b"short"]),
        cmd(&[b"RESTORE", b"n", b"0", &bad_crc]),
        cmd(&[b"RESTORE", b"n", b"0", &newer]),
        cmd(&[b"RESTORE", b"n", b"0", &bad_body]),
        cmd(&[b"RESTORE", b"m", b"0", &into_trailer]),
        cmd(&[b"GET", b"m"]),
        cmd(&[b"RESTORE", b"n", b"0", &empty_set]),
        cmd(&[b"RESTORE", b"n", b"0", &stream]),
        cmd(&[b"EXISTS", b"n"]),
        cmd(&[b"RESTORE", b"n", b"1", h, b"ABSTTL"]),
        cmd(&[b"EXISTS", b"n"]),
        cmd(&[b"RESTORE", b"n", b"0", h, b"FREQ", b"5"]),
        cmd(&[b"GET", b"n"]),
        cmd(&[b"RESTORE", b"s", b"0", h, b"REPLACE", b"IDLETIME", b"10"]),
        cmd(&[b"RESTORE", b"s", b"1", h, b"ABSTTL", b"REPLACE"]),
        cmd(&[b"EXISTS", b"s"]),
        cmd(&[b"RESTORE", b"t", b"100000", h]),
        cmd(&[b"TTL", b"t"]),
        cmd(&[b"RESTORE", b"u", b"0", h, b"ABSTTL"]),
        cmd(&[b"TTL", b"u"]),
        cmd(&[b"RESTORE", b"i", b"0", h, b"replace"]),
        cmd(&[b"GET", b"i"]),
    ];
    same_as_redis(&script);
}

/// What a client sees of the value at `key`: its type, encoding and content
/// (members of sets and fields of hashes sorted).
fn describe(c: &mut redis::Connection, key: &str) -> String {
    let q = |c: &mut redis::Connection, args: &[&str]| -> redis::Value {
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query(c).expect(args[0])
    };
    let ty: String = redis::cmd("TYPE").arg(key).query(c).expect("TYPE");
    let enc = q(c, &["OBJECT", "ENCODING", key]);
    let content = match ty.as_str() {
        "string" => q(c, &["GET", key]),
        "list" => q(c, &["LRANGE", key, "0", "-1"]),
        "zset" => q(c, &["ZRANGE", key, "0", "-1", "WITHSCORES"]),
        "set" => {
            let mut m: Vec<Vec<u8>> = redis::cmd("SMEMBERS").arg(key).query(c).expect("SMEMBERS");
            m.sort();
            return format!("{ty} {enc:?} {m:?}");
        }
        "hash" => {
            let mut m: Vec<(Vec<u8>, Vec<u8>)> =
                redis::cmd("HGETALL").arg(key).query(c).expect("HGETALL");
            m.sort();
            return format!("{ty} {enc:?} {m:?}");
        }
        other => panic!("unexpected type {other}"),
    };
    format!("{ty} {enc:?} {content:?}")
}

fn restore(c: &mut redis::Connection, key: &str, payload: &[u8]) {
    let reply: String = redis::cmd("RESTORE")
        .arg(key)
        .arg(0)
        .arg(payload)
        .arg("REPLACE")
        .query(c)
        .unwrap_or_else(|e| panic!("RESTORE {key}: {e}"));
    assert_eq!(reply, "OK");
}

fn dump(c: &mut redis::Connection, key: &str) -> Vec<u8> {
    redis::cmd("DUMP").arg(key).query(c).expect("DUMP")
}

#[test]
fn payloads_move_between_redis_and_corekv() {
    let redis = Redis::start();
    let mut r = redis::Client::open(format!("redis://127.0.0.1:{}/", redis.port))
        .and_then(|c| c.get_connection())
        .expect("connect to redis-server");
    for shards in SHARD_COUNTS {
        let corekv = Server::with_shards(shards, &[]);
        let mut k = corekv.client();
        for (name, payload) in fixtures() {
            restore(&mut r, "k", &payload);
            let want = describe(&mut r, "k");
            restore(&mut k, &name, &payload);
            assert_eq!(
                describe(&mut k, &name),
                want,
                "{name}: Redis's payload in corekv"
            );
            let ours = dump(&mut k, &name);
            restore(&mut r, "back", &ours);
            assert_eq!(
                describe(&mut r, "back"),
                want,
                "{name}: corekv's payload in Redis"
            );
            let theirs = dump(&mut r, "back");
            let again = format!("{name}:again");
            restore(&mut k, &again, &theirs);
            assert_eq!(describe(&mut k, &again), want, "{name}: the round trip");
        }
    }
}
