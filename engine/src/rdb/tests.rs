//! The codec against payloads recorded from redis-server 7.0.15
//! (`server/tests/fixtures/dump/payloads.txt`, see its `record.py`): each restores to
//! the value the same commands build here, in the same encoding; each value dumps to
//! a payload that restores to itself, byte for byte Redis's where Redis's writer is
//! deterministic (else the same type and list nodes); payloads built here in the
//! older forms Redis 7.0 still reads (ziplists, text scores) and blobs that
//! contradict their headers get the answer redis-server 7.0.15 gave them; and
//! thousands of mutated payloads are refused or restored, never a panic.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::collections::List;
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

/// Values whose payload differs from Redis's: its hash table's order (sets and
/// hashes), or a list whose second node Redis compressed with its LZF table
/// holding positions of the strings it compressed before (it leaves the table
/// uninitialized; each run here starts empty): the same node, compressed as
/// short, with another choice among equal back references.
const REDIS_STALE_LZF_OR_HASH_ORDERED: &[&str] = &[
    "list_nodes",
    "set_hashtable",
    "set_many_ints",
    "hash_hashtable",
];

/// The RDB type of a list of listpack nodes.
const QUICKLIST_2: u8 = 18;

/// A quicklist-2 payload's nodes, expanded.
fn list_nodes(payload: &[u8]) -> Vec<Vec<u8>> {
    let mut r = reader::Reader::new(&payload[1..], 1 << 20);
    let count = r.len().expect("a node count");
    (0..count)
        .map(|_| {
            assert_eq!(r.len(), Some(2), "a packed node");
            r.string().expect("a node")
        })
        .collect()
}

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
        if !REDIS_STALE_LZF_OR_HASH_ORDERED.contains(&f.name.as_str()) {
            assert_eq!(payload, f.payload, "{}", f.name);
        }
        // Where the bytes differ, the type (so the encoding Redis loads) and a list's
        // nodes still match.
        assert_eq!(payload[0], f.payload[0], "{}: the type", f.name);
        if payload[0] == QUICKLIST_2 {
            assert_eq!(
                list_nodes(&payload),
                list_nodes(&f.payload),
                "{}: the nodes",
                f.name
            );
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
        Ok(Value::Str(b"a".to_vec().into()))
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

/// A ziplist of entries given in their encoded form (encoding byte and data), each
/// behind the `prevlen` Redis writes: one byte, or 254 and a u32 from 254 bytes up.
fn ziplist(entries: &[&[u8]]) -> Vec<u8> {
    let mut zl = vec![0u8; 10];
    let mut prev = 0usize;
    let mut tail = 10;
    for e in entries {
        tail = zl.len();
        match u8::try_from(prev) {
            Ok(p) if p < 254 => zl.push(p),
            _ => {
                zl.push(254);
                zl.extend_from_slice(&(prev as u32).to_le_bytes());
            }
        }
        zl.extend_from_slice(e);
        prev = zl.len() - tail;
    }
    zl.push(0xff);
    let total = zl.len() as u32;
    zl[..4].copy_from_slice(&total.to_le_bytes());
    zl[4..8].copy_from_slice(&(tail as u32).to_le_bytes());
    zl[8..10].copy_from_slice(&(entries.len() as u16).to_le_bytes());
    zl
}

/// A payload of `body` with RDB version `version`, sealed.
fn sealed(body: &[u8], version: u16) -> Vec<u8> {
    let mut p = body.to_vec();
    p.extend_from_slice(&version.to_le_bytes());
    resealed(&p)
}

/// `bytes` as an RDB string: its length, then the bytes.
fn rdb_string(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    reader::write_len(bytes.len() as u64, &mut out);
    out.extend_from_slice(bytes);
    out
}

/// A Redis 6.x list: a quicklist (type 14) of these ziplists, RDB version 9.
fn quicklist_of_ziplists(nodes: &[Vec<u8>]) -> Vec<u8> {
    let mut body = vec![14, nodes.len() as u8];
    for zl in nodes {
        body.extend_from_slice(&rdb_string(zl));
    }
    sealed(&body, 9)
}

/// Redis 6.x and 3.x lists (a quicklist of ziplists, a plain ziplist) holding every
/// ziplist entry form; redis-server 7.0.15 restores both payloads to these elements.
/// The 14-bit string is long enough that the next entry's `prevlen` takes five
/// bytes, and the 32-bit string form is read whatever its length.
#[test]
fn redis_6_and_3_ziplist_payloads_restore() {
    let long = vec![b'y'; 300];
    let mut str14 = vec![0x41, 0x2c];
    str14.extend_from_slice(&long);
    let mut str32 = vec![0x80];
    str32.extend_from_slice(&(long.len() as u32).to_be_bytes());
    str32.extend_from_slice(&long);
    let int64 = [&[0xe0][..], &(-5_000_000_000i64).to_le_bytes()].concat();
    let int32 = [&[0xd0][..], &(-70_000i32).to_le_bytes()].concat();
    let int24 = [&[0xf0][..], &(-5_000_000i32).to_le_bytes()[..3]].concat();
    let zl = ziplist(&[
        &[0x01, b'a'],
        &str14,
        &int64,
        &int32,
        &int24,
        &[0xfe, (-100i8) as u8],
        &[0xfd],
        &[0xc0, 0x2c, 0x01],
        &str32,
    ]);
    let want: [&[u8]; 9] = [
        b"a",
        &long,
        b"-5000000000",
        b"-70000",
        b"-5000000",
        b"-100",
        b"12",
        b"300",
        &long,
    ];
    let quicklist = quicklist_of_ziplists(std::slice::from_ref(&zl));
    let plain = sealed(&[&[10][..], &rdb_string(&zl)].concat(), 6);
    for payload in [quicklist, plain] {
        let value = restore(&payload, &limits()).expect("a list");
        let list = value.as_list().expect("a list");
        assert_eq!(list.iter().collect::<Vec<_>>(), want);
    }
}

/// Blobs that do not hold what their header says, each answered "Bad data format"
/// by redis-server 7.0.15: a listpack and a ziplist one byte shorter than an empty
/// one (though their last byte is the terminator), a ziplist entry that runs over
/// the terminator, an intset with a byte after its members, and intsets whose count
/// or width disagree with their size.
#[test]
fn blobs_that_contradict_their_headers_are_bad_data() {
    let bad = Err(PayloadError::BadFormat);
    let short_lp = [6, 0, 0, 0, 0, 0xff];
    let hash = sealed(&[&[16][..], &rdb_string(&short_lp)].concat(), RDB_VERSION);
    assert_eq!(restore(&hash, &limits()), bad);
    let good = ziplist(&[&[0x01, b'a']]);
    let short_zl = vec![10, 0, 0, 0, 10, 0, 0, 0, 0xff, 0xff];
    // A two-byte string of which only one byte comes before the terminator.
    let over_end = ziplist(&[&[0x02, b'a']]);
    for zl in [short_zl, over_end] {
        assert_eq!(
            restore(&quicklist_of_ziplists(&[good.clone(), zl]), &limits()),
            bad
        );
    }
    let set = |width: u32, count: u32, members: &[u8]| {
        let mut blob = width.to_le_bytes().to_vec();
        blob.extend_from_slice(&count.to_le_bytes());
        blob.extend_from_slice(members);
        sealed(&[&[11][..], &rdb_string(&blob)].concat(), RDB_VERSION)
    };
    assert!(restore(&set(2, 2, &[1, 0, 5, 0]), &limits()).is_ok());
    assert_eq!(restore(&set(2, 2, &[1, 0, 5, 0, 0]), &limits()), bad);
    assert_eq!(restore(&set(2, 3, &[1, 0, 5, 0]), &limits()), bad);
    assert_eq!(restore(&set(2, 1, &[1, 0, 5, 0]), &limits()), bad);
    assert_eq!(restore(&set(3, 2, &[1, 0, 0, 5, 0, 0]), &limits()), bad);
}

/// Sorted sets as Redis before 4.0 wrote them (type 3: scores as text, with
/// one-byte markers for the infinities and NaN): redis-server 7.0.15 restores this
/// payload to `c -inf, a 1.5, b inf` and refuses the NaN score as bad data.
#[test]
fn text_scored_sorted_sets_restore() {
    let body = [
        3, 3, 1, b'a', 3, b'1', b'.', b'5', 1, b'b', 254, 1, b'c', 255,
    ];
    let f = Fixture {
        name: "zset_text_scores".into(),
        commands: "ZADD k -inf c 1.5 a inf b".into(),
        payload: sealed(&body, 6),
        encoding: "listpack".into(),
    };
    assert_eq!(restore(&f.payload, &limits()), Ok(built(&f)));
    let nan = sealed(&[3, 1, 1, b'a', 253], 6);
    assert_eq!(restore(&nan, &limits()), Err(PayloadError::BadFormat));
}

/// A payload recorded from redis-server 7.0.15 whose list node Redis leaves
/// uncompressed, so this writer matches it byte for byte: the listpack integer
/// forms on both sides of each bound (`-4096`/`-4097` and `4095`/`4096` are the
/// 13-bit form's edges).
const LIST_INT_BOUNDS: &str = "RPUSH k -4096 -4095 -4097 4095 4096 127 128 -1 32767 \
    -32768 32768 8388607 -8388608 8388608 -8388609 2147483647 -2147483648 2147483648";
const LIST_INT_BOUNDS_PAYLOAD: &str = "1201024059590000001200d00002d00102f1ffef03cfff02\
    f10010037f01c08002dfff02f1ff7f03f1008003f200800004f2ffff7f04f200008004f30000800005f3\
    ffff7fff05f3ffffff7f05f30000008005f4000000800000000009ff0a00e07afac9fa13ecf6";

#[test]
fn listpack_integer_forms_match_redis_at_their_bounds() {
    let f = Fixture {
        name: "list_int_bounds".into(),
        commands: LIST_INT_BOUNDS.into(),
        payload: hex(LIST_INT_BOUNDS_PAYLOAD),
        encoding: "quicklist".into(),
    };
    let value = built(&f);
    assert_eq!(dump(&value), f.payload);
    assert_eq!(restore(&f.payload, &limits()), Ok(value));
}

/// Strings on both sides of the listpack string forms' bounds (the 6-bit form up to
/// 63 bytes, the 12-bit one up to 4095, whose length's high bits from 256 on sit in
/// the first byte), as `RPUSH` of `a` repeated: redis-server 7.0.15's payload (two
/// LZF-compressed nodes) restores to this list, and this writer's dump is that
/// payload byte for byte (the nodes cut where Redis cuts them, compressed as it
/// compresses them).
const LIST_STR_BOUNDS: [usize; 6] = [63, 64, 255, 256, 4095, 4096];
const LIST_STR_BOUNDS_PAYLOAD: &str = "120202c34060529507951200000500bf61e035000240e040e0\
    354004616142e0ff2005e0f300030281e100e0f3ff4000020282efe2f706e0ff00e0ff00e0ff00e0ff00\
    e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e08700022081ff02c3404150\
    0e070e1000000100f00020060061e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0\
    ff00e0ff00e0ff00e0ff00e0ff00e0ff00e07e00022085ff0a00723e0e16a888f131";

#[test]
fn listpack_string_forms_round_trip_at_their_bounds() {
    let elems: Vec<Vec<u8>> = LIST_STR_BOUNDS.iter().map(|&n| vec![b'a'; n]).collect();
    let list = List::from_elems(elems.iter().map(Vec::as_slice), &limits().list);
    let value = Value::List(Box::new(list));
    let redis = hex(LIST_STR_BOUNDS_PAYLOAD);
    assert_eq!(restore(&redis, &limits()), Ok(value.clone()));
    let payload = dump(&value);
    assert_eq!(restore(&payload, &limits()), Ok(value));
    assert_eq!(list_nodes(&payload), list_nodes(&redis));
    assert_eq!(payload, redis);
}

/// Lists are cut into nodes as Redis's quicklist cuts a list pushed at its tail
/// (`list-max-listpack-size -2`: an element joins the last node while its
/// listpack's bytes, the element's length and 8 come to at most 8 KiB), each
/// element in order in one node, over 63 nodes (a count of two bytes) as well as
/// under.
#[test]
fn lists_are_cut_into_nodes_as_redis_cuts_them() {
    let (node_max, overhead, lp_empty) = (8192, 8, 7);
    // [4095, 4078]: a second element that brings the estimate to exactly 8 KiB.
    let shapes: [&[usize]; 5] = [
        &[100; 6000],
        &[9000, 10, 9000, 9000, 5],
        &[4096; 9],
        &[0, 8188, 1],
        &[4095, 4078, 1],
    ];
    for sizes in shapes {
        let elems: Vec<Vec<u8>> = sizes.iter().map(|&n| vec![b'x'; n]).collect();
        let list = List::from_elems(elems.iter().map(Vec::as_slice), &limits().list);
        let value = Value::List(Box::new(list));
        let payload = dump(&value);
        assert_eq!(restore(&payload, &limits()), Ok(value));
        let got: Vec<Vec<Vec<u8>>> = list_nodes(&payload)
            .iter()
            .map(|lp| blob::read_listpack(lp).expect("a listpack"))
            .collect();
        let nodes = got.len();
        let entry = |e: &Vec<u8>| blob::listpack([e.as_slice()]).len() - lp_empty;
        for (i, node) in got.iter().enumerate() {
            let mut bytes = lp_empty;
            for (j, e) in node.iter().enumerate() {
                let fits = bytes + e.len() + overhead <= node_max;
                assert!(j == 0 || fits, "node {i} took element {j} past the bound");
                bytes += entry(e);
            }
            if let Some(next) = got.get(i + 1) {
                let fits = bytes + next[0].len() + overhead <= node_max;
                assert!(!fits, "node {i} could take one more");
            }
        }
        assert_eq!(
            got.concat(),
            elems,
            "{} elements in {nodes} nodes",
            sizes.len()
        );
    }
}

/// A count whose items could not fit in the bytes left is refused before anything
/// reads (or allocates for) them: five one-byte items need five bytes after the
/// count.
#[test]
fn counts_the_bytes_left_cannot_back_are_refused() {
    let count = |bytes: &[u8]| reader::Reader::new(bytes, 0).count(1);
    assert_eq!(count(&[5, 1, 2, 3, 4, 5]), Some(5));
    assert_eq!(count(&[5, 1, 2, 3, 4]), None);
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
