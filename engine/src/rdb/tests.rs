//! The codec against payloads recorded from redis-server 7.0.15
//! (`server/tests/fixtures/dump/payloads.txt`, see its `record.py`): each restores to
//! the value the same commands build here, in the same encoding; each value dumps to
//! a payload that restores to itself, byte for byte Redis's where Redis's writer is
//! deterministic; and thousands of mutated payloads are refused or restored, never a
//! panic.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::harness::TestShard;

/// Mutated payloads per fixture.
const MUTATIONS_PER_FIXTURE: usize = 400;

struct Fixture {
    name: String,
    commands: String,
    payload: Vec<u8>,
    encoding: String,
}

fn fixtures() -> Vec<Fixture> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../server/tests/fixtures/dump/payloads.txt"
    );
    let text = std::fs::read_to_string(path).expect("the recorded payloads");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Fixture {
                name: f[0].into(),
                commands: f[1].into(),
                payload: hex(f[2]),
                encoding: f[3].into(),
            }
        })
        .collect()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// A word, or the words its `x{a..b}` range stands for; `''` is the empty string.
fn expand(word: &str) -> Vec<String> {
    let range = word.strip_suffix('}').and_then(|w| w.split_once('{'));
    let bounds = range.and_then(|(prefix, r)| {
        let (a, b) = r.split_once("..")?;
        Some((prefix, a.parse::<i64>().ok()?, b.parse::<i64>().ok()?))
    });
    match bounds {
        Some((prefix, a, b)) => (a..=b).map(|i| format!("{prefix}{i}")).collect(),
        None if word == "''" => vec![String::new()],
        None => vec![word.to_string()],
    }
}

/// A command's arguments; two ranges in one command pair up element by element
/// (`ZADD k {1..3} m{1..3}`), as `record.py` sends them.
fn command(text: &str) -> Vec<String> {
    let words: Vec<Vec<String>> = text.split_whitespace().map(expand).collect();
    let ranges: Vec<&Vec<String>> = words.iter().filter(|w| w.len() > 1).collect();
    if ranges.len() == 2 {
        let head = words.iter().take_while(|w| w.len() == 1).flatten().cloned();
        let pairs = ranges[0]
            .iter()
            .zip(ranges[1])
            .flat_map(|(a, b)| [a.clone(), b.clone()]);
        return head.chain(pairs).collect();
    }
    words.into_iter().flatten().collect()
}

fn limits() -> Limits {
    Limits {
        hash: Default::default(),
        set: Default::default(),
        zset: Default::default(),
        list: Default::default(),
        string_max_bytes: 512 << 20,
    }
}

/// The value the fixture's commands build at `k` here.
fn built(f: &Fixture) -> Value {
    let mut shard = TestShard::default();
    for c in f.commands.split(';') {
        let args = command(c);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let reply = shard.run(&args);
        assert!(!reply.starts_with('-'), "{}: {reply}", f.name);
    }
    let ks = shard.shard.keyspace();
    ks.db(0).get(b"k").expect("the built key").value.clone()
}

/// With a payload's trailer rewritten to match its (changed) body.
fn resealed(body_and_version: &[u8]) -> Vec<u8> {
    let mut p = body_and_version.to_vec();
    let crc = crc64(&p);
    p.extend_from_slice(&crc.to_le_bytes());
    p
}

#[test]
fn crc64_is_redis_s() {
    // crc64.c's self-test vector.
    assert_eq!(crc64(b"123456789"), 0xe9c6d914c4b8d9ca);
}

/// A sparse HLL short enough that `OBJECT ENCODING` here calls it `embstr` where
/// Redis, which builds HLLs as raw strings, says `raw`.
const SHORT_HLL: &str = "hll_sparse";

#[test]
fn redis_payloads_restore_to_the_values_redis_built() {
    for f in fixtures() {
        let want = built(&f);
        let got = restore(&f.payload, &limits()).unwrap_or_else(|e| panic!("{}: {e:?}", f.name));
        assert_eq!(got, want, "{}", f.name);
        if f.name != SHORT_HLL {
            assert_eq!(got.encoding(), f.encoding, "{}", f.name);
        }
    }
}

/// Values whose payload Redis writes with LZF-compressed strings or blobs (this
/// writer leaves them plain), or in its hash table's order.
const REDIS_COMPRESSED_OR_HASH_ORDERED: &[&str] = &[
    "str_lzf",
    "hll_dense",
    "list_small",
    "list_nodes",
    "set_hashtable",
    "set_many_ints",
    "zset_listpack",
    "zset_long_member",
    "hash_hashtable",
    "hash_long_value",
];

#[test]
fn dumps_restore_to_themselves_and_match_redis_bytes() {
    for f in fixtures() {
        let value = built(&f);
        let payload = dump(&value);
        assert_eq!(
            restore(&payload, &limits()),
            Ok(value.clone()),
            "{}",
            f.name
        );
        if !REDIS_COMPRESSED_OR_HASH_ORDERED.contains(&f.name.as_str()) {
            assert_eq!(payload, f.payload, "{}", f.name);
        }
    }
}

#[test]
fn a_bad_trailer_is_a_version_or_checksum_error() {
    let f = &fixtures()[0];
    let p = &f.payload;
    let wrong = Err(PayloadError::VersionOrChecksum);
    assert_eq!(restore(&p[..p.len() - 1], &limits()), wrong);
    assert_eq!(restore(&p[..9], &limits()), wrong);
    let mut flipped = p.clone();
    flipped[1] ^= 1;
    assert_eq!(restore(&flipped, &limits()), wrong);
    let body = p.len() - 10;
    let mut newer = p[..body].to_vec();
    newer.extend_from_slice(&(RDB_VERSION + 1).to_le_bytes());
    assert_eq!(restore(&resealed(&newer), &limits()), wrong);
    let mut older = p[..body].to_vec();
    older.extend_from_slice(&9u16.to_le_bytes());
    assert!(restore(&resealed(&older), &limits()).is_ok());
}

#[test]
fn empty_duplicated_or_trailing_values_are_bad_data() {
    let bad = Err(PayloadError::BadFormat);
    let seal = |body: &[u8]| {
        let mut p = body.to_vec();
        p.extend_from_slice(&RDB_VERSION.to_le_bytes());
        resealed(&p)
    };
    // An empty set, a set with a member twice.
    assert_eq!(restore(&seal(&[2, 0]), &limits()), bad);
    assert_eq!(restore(&seal(&[2, 2, 1, b'a', 1, b'a']), &limits()), bad);
    // As in Redis, a byte after the value is ignored, and a string may run into the
    // trailer (redis-server answers `GET` with "a", then "hello\n\0" and two bytes
    // of the checksum).
    assert_eq!(
        restore(&seal(b"\x00\x01ab"), &limits()),
        Ok(Value::Str(b"a".to_vec()))
    );
    let long = restore(&seal(b"\x00\x09hello"), &limits()).expect("a string");
    assert_eq!(&long.as_str().expect("a string")[..7], b"hello\n\0");
    // A length beyond the payload's end.
    assert_eq!(restore(&seal(&[0, 0x40, 0x40, b'a']), &limits()), bad);
    // A list claiming more nodes than bytes, a stream type.
    assert_eq!(
        restore(&seal(&[18, 0x80, 0xff, 0xff, 0xff, 0xff]), &limits()),
        bad
    );
    assert_eq!(restore(&seal(&[15, 0]), &limits()), bad);
    // A string longer than the limit allows, compressed.
    let small = Limits {
        string_max_bytes: 10,
        ..limits()
    };
    assert_eq!(restore(&seal(&[0, 0xc3, 2, 20, 0, b'a']), &small), bad);
}

/// A Redis 6.x list: a quicklist of one ziplist (`RPUSH k a 1 300`).
#[test]
fn redis_6_ziplist_payloads_restore() {
    let mut zl = vec![0u8; 10];
    let entries: [&[u8]; 3] = [&[0x01, b'a'], &[0xf2], &[0xc0, 0x2c, 0x01]];
    let mut prev = 0u8;
    let mut tail = 10;
    for e in entries {
        tail = zl.len();
        zl.push(prev);
        zl.extend_from_slice(e);
        prev = (e.len() + 1) as u8;
    }
    zl.push(0xff);
    let total = zl.len() as u32;
    zl[..4].copy_from_slice(&total.to_le_bytes());
    zl[4..8].copy_from_slice(&(tail as u32).to_le_bytes());
    zl[8..10].copy_from_slice(&3u16.to_le_bytes());
    let mut body = vec![14, 1, zl.len() as u8];
    body.extend_from_slice(&zl);
    body.extend_from_slice(&9u16.to_le_bytes());
    let value = restore(&resealed(&body), &limits()).expect("a list");
    let list = value.as_list().expect("a list");
    let elems: Vec<&[u8]> = list.iter().collect();
    assert_eq!(elems, [&b"a"[..], b"1", b"300"]);
}

#[test]
fn mutated_payloads_never_panic() {
    let mut rng = SmallRng::seed_from_u64(17);
    let mut restored = 0;
    let fixtures = fixtures();
    for f in &fixtures {
        let value = &f.payload[..f.payload.len() - 10];
        for _ in 0..MUTATIONS_PER_FIXTURE {
            let mut m = value.to_vec();
            for _ in 0..rng.gen_range(1..4) {
                let at = rng.gen_range(0..m.len());
                match rng.gen_range(0..4) {
                    0 => m[at] = rng.gen(),
                    1 => m[at] ^= 1 << rng.gen_range(0..8),
                    2 => m.truncate(at.max(1)),
                    _ => {
                        m.remove(at.min(m.len() - 1));
                    }
                }
                if m.is_empty() {
                    m.push(0);
                }
            }
            m.extend_from_slice(&RDB_VERSION.to_le_bytes());
            if restore(&resealed(&m), &limits()).is_ok() {
                restored += 1;
            }
            let _ = restore(&m, &limits());
        }
    }
    assert!(restored < fixtures.len() * MUTATIONS_PER_FIXTURE);
}
