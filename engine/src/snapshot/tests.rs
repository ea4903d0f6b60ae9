//! The snapshot format's and writer's tests: round trips, damage, and images
//! taken while the door changes the keyspace.

use super::*;
use crate::collections::{
    End, Hash, HashLimits, List, ListLimits, Set, SetLimits, Zset, ZsetLimits,
};
use crate::keyspace::{Keyspace, SnapshotProgress, WriteGuard, NO_EXPIRE};
use crate::value::Value;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;

mod damage;
mod pieces;
mod stall;

const T0_MS: u64 = 1_700_000_000_000;

type Contents = BTreeMap<(usize, Bytes), Entry>;

fn fresh_dbs() -> Vec<Db> {
    (0..DATABASES).map(|_| Db::default()).collect()
}

fn str_entry(value: &[u8], expire_at_ms: u64) -> Entry {
    Entry::with_expire(Value::Str(value.to_vec().into()), expire_at_ms)
}

/// A deep copy of every entry, live or not.
fn contents(dbs: &[Db]) -> Contents {
    let mut all = BTreeMap::new();
    for (i, db) in dbs.iter().enumerate() {
        for pos in 0..db.len() {
            let (k, e) = db.entry_at(pos).expect("in range");
            all.insert((i, Bytes::copy_from_slice(k)), e.to_entry());
        }
    }
    all
}

fn live(contents: &Contents, now_ms: u64) -> Contents {
    contents
        .iter()
        .filter(|(_, e)| !e.expired(now_ms))
        .map(|(k, e)| (k.clone(), e.clone()))
        .collect()
}

/// Writes a whole snapshot of `dbs` with no writes during it; returns the file
/// and the offset each call to `next_chunk` ended at.
fn snapshot(dbs: &[Db], now_ms: u64, max_bytes: usize) -> (Vec<u8>, Vec<usize>) {
    let mut writer = SnapshotWriter::new(1, 4, 77, T0_MS, dbs);
    let mut file = Vec::new();
    writer.header(&mut file);
    let mut ends = vec![file.len()];
    while writer.next_chunk(dbs, now_ms, max_bytes, &mut file) {
        ends.push(file.len());
    }
    ends.push(file.len());
    ends.dedup();
    (file, ends)
}

fn small_dbs(rng: &mut SmallRng, keys: usize) -> Vec<Db> {
    let mut dbs = fresh_dbs();
    for i in 0..keys {
        let value = vec![b'v'; rng.gen_range(0..12)];
        let expire = if i % 3 == 0 {
            T0_MS + 10_000
        } else {
            NO_EXPIRE
        };
        dbs[i % 3].insert(
            format!("key{i}").as_bytes(),
            Value::Str(value.into()),
            expire,
        );
    }
    dbs
}

const HASH_LIMITS: HashLimits = HashLimits {
    max_listpack_entries: 4,
    max_listpack_value_bytes: 64,
};
const SET_LIMITS: SetLimits = SetLimits {
    max_intset_entries: 4,
};
const ZSET_LIMITS: ZsetLimits = ZsetLimits {
    max_listpack_entries: 4,
    max_listpack_value_bytes: 64,
};
/// Nodes of at most 4 elements, so that most lists have many nodes.
const LIST_LIMITS: ListLimits = ListLimits {
    max_listpack_size: 4,
    compress_depth: 0,
};

/// A random value of every kind the writer treats differently: short strings
/// (cloned), long ones (undo log, pieces), small hashes and sets (their compact
/// encodings, cloned) and `hashtable` ones (undo log, pieces), small sorted sets
/// (`listpack`, cloned) and large ones (`skiplist`: undo log, pieces), lists of
/// one node (cloned) and of many (shared nodes, pieces).
fn random_value(rng: &mut SmallRng) -> Value {
    let elements = |rng: &mut SmallRng| -> Vec<Vec<u8>> {
        let n = if rng.gen_bool(0.5) {
            rng.gen_range(1..4)
        } else {
            rng.gen_range(1..300)
        };
        let numeric = rng.gen_bool(0.3);
        (0..n)
            .map(|i| match numeric {
                true => i.to_string().into_bytes(),
                false => format!("e{i}-{}", "x".repeat(rng.gen_range(0..20))).into_bytes(),
            })
            .collect()
    };
    match rng.gen_range(0..6) {
        0 => Value::Str(vec![b's'; rng.gen_range(0..30)].into()),
        1 => Value::Str((0..rng.gen_range(17..3000)).map(|i| i as u8).collect()),
        2 => {
            let fields = elements(rng);
            Value::Hash(Hash::from_pairs(
                fields.iter().map(|f| (f.as_slice(), f.as_slice())),
                &HASH_LIMITS,
            ))
        }
        3 => {
            let members = elements(rng);
            Value::Set(Set::from_members(
                members.iter().map(Vec::as_slice),
                &SET_LIMITS,
            ))
        }
        4 => {
            let elems = elements(rng);
            Value::List(Box::new(List::from_elems(
                elems.iter().map(Vec::as_slice),
                &LIST_LIMITS,
            )))
        }
        _ => {
            let members = elements(rng);
            Value::Zset(Zset::from_entries(
                members
                    .iter()
                    .map(|m| (m.as_slice(), f64::from(rng.gen_range(-5..50)) / 4.0)),
                &ZSET_LIMITS,
            ))
        }
    }
}

fn random_deadline(rng: &mut SmallRng, now_ms: u64) -> u64 {
    if rng.gen_bool(0.2) {
        now_ms + rng.gen_range(1..300)
    } else {
        NO_EXPIRE
    }
}

/// A key to write: one of the last few positions (where the walk has just passed
/// and where a removal moves an entry from), any present key, or a name that may
/// not exist.
fn pick_key(rng: &mut SmallRng, ks: &Keyspace, db: usize) -> Bytes {
    let len = ks.db(db).len();
    let pos = match rng.gen_range(0..10) {
        0..=3 => len.checked_sub(1 + rng.gen_range(0..4)),
        4..=7 => (len > 0).then(|| rng.gen_range(0..len)),
        _ => None,
    };
    match pos {
        Some(pos) => Bytes::copy_from_slice(ks.db(db).entry_at(pos).expect("in range").0),
        None => Bytes::from(format!("k{}", rng.gen_range(0..3000))),
    }
}

/// One in-place change through the door's guard, of the kind the value allows.
fn random_in_place(rng: &mut SmallRng, ks: &mut Keyspace, db: usize, key: &[u8], now_ms: u64) {
    let element = format!(
        "e{}-{}",
        rng.gen_range(0..400),
        "x".repeat(rng.gen_range(0..3))
    );
    let number = rng.gen_range(0..400).to_string();
    let Some(mut guard) = ks.find_mut(db, key, now_ms) else {
        return;
    };
    match &guard.entry().value {
        Value::Str(s) => {
            let len = s.len();
            match rng.gen_range(0..4) {
                0 => {
                    guard.append(&vec![b'+'; rng.gen_range(1..40)]);
                }
                1 | 2 => {
                    let at = rng.gen_range(0..len + 8);
                    guard.write_at(at, &vec![b'#'; rng.gen_range(1..60)]);
                }
                _ => {
                    // Rewritten whole, as INCR does: shorter, then different.
                    let s = guard.str_mut();
                    s.truncate(len / 2);
                    s.push(b'!');
                }
            }
        }
        Value::Hash(h) => {
            let field = match rng.gen_range(0..3) {
                0 if !h.is_empty() => h.indexed().get(rng.gen_range(0..h.len())).0.to_vec(),
                _ => element.into_bytes(),
            };
            if rng.gen_bool(0.5) {
                guard.hash_set(&field, b"changed", &HASH_LIMITS);
            } else {
                guard.hash_remove(&field);
            }
        }
        Value::Set(s) => {
            let member = match rng.gen_range(0..3) {
                0 if !s.is_empty() => s.member_at(rng.gen_range(0..s.len())).to_vec(),
                1 => number.into_bytes(),
                _ => element.into_bytes(),
            };
            match rng.gen_range(0..5) {
                0 | 1 => {
                    guard.set_add(&member, &SET_LIMITS);
                }
                2 | 3 => {
                    guard.set_remove(&member);
                }
                _ => {
                    guard.set_pop_many(rng.gen_range(1..4), &SET_LIMITS, rng);
                }
            }
        }
        Value::Zset(z) => {
            let member = match rng.gen_range(0..3) {
                0 if !z.is_empty() => z.at(rng.gen_range(0..z.len())).0,
                _ => element.into_bytes(),
            };
            if rng.gen_bool(0.6) {
                let score = f64::from(rng.gen_range(-5..50)) / 4.0;
                guard.zset_insert(&member, score, &ZSET_LIMITS);
            } else {
                guard.zset_remove(&member);
            }
        }
        Value::List(l) => {
            let len = l.len();
            let target = l.get(rng.gen_range(0..len.max(1))).map(<[u8]>::to_vec);
            change_list(rng, &mut guard, len, target, element.as_bytes());
        }
    }
    drop(guard);
    ks.remove_if_empty(db, key);
}

/// One in-place change of a list of `len` elements (`target`: one of them).
fn change_list(
    rng: &mut SmallRng,
    guard: &mut WriteGuard<'_>,
    len: usize,
    target: Option<Vec<u8>>,
    elem: &[u8],
) {
    let end = if rng.gen_bool(0.5) {
        End::Head
    } else {
        End::Tail
    };
    match rng.gen_range(0..7) {
        0 => {
            guard.list_push(end, &[elem, &b"second"[..]], &LIST_LIMITS);
        }
        1 => {
            guard.list_pop(end, rng.gen_range(1..4));
        }
        2 => guard.list_set(rng.gen_range(0..len), elem, &LIST_LIMITS),
        3 => guard.list_insert(rng.gen_range(0..=len), elem, &LIST_LIMITS),
        4 => {
            let target = target.expect("in range");
            guard.list_rem(rng.gen_range(-2..3), &target, &LIST_LIMITS);
        }
        _ => {
            let start = rng.gen_range(0..=len);
            guard.list_trim(start, start + rng.gen_range(0..len + 1), &LIST_LIMITS);
        }
    }
}

/// One random change through the door, as commands make them, or an expiry.
fn random_write(rng: &mut SmallRng, ks: &mut Keyspace, now_ms: u64) {
    let db = rng.gen_range(0..4);
    let key = pick_key(rng, ks, db);
    match rng.gen_range(0..12) {
        0 | 1 => {
            let value = random_value(rng);
            ks.add(db, &key, value, random_deadline(rng, now_ms));
        }
        2 => {
            ks.remove(db, &key, now_ms);
        }
        3..=6 => random_in_place(rng, ks, db, &key, now_ms),
        7 => {
            let at = random_deadline(rng, now_ms);
            ks.set_expire(db, &key, at, now_ms);
        }
        8 => {
            ks.move_key(db, (db + 1) % 4, &key, now_ms);
        }
        9 => {
            let dst = pick_key(rng, ks, db);
            ks.rename(db, &key, &dst, now_ms);
        }
        10 => {
            ks.active_expire(now_ms, rng);
        }
        _ => {
            for i in 0..rng.gen_range(1..20) {
                let new = format!("burst{}", rng.gen_range(0..2000) + i);
                ks.add(db, new.as_bytes(), Value::Str(b"b"[..].into()), NO_EXPIRE);
            }
        }
    }
}

/// Snapshots random databases of every value kind while random changes through
/// the door and expiries hit them between chunks; loading the file must give
/// exactly the live keys of the start.
fn snapshot_under_writes(seed: u64) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut ks = Keyspace::default();
    let mut now_ms = T0_MS;
    for _ in 0..rng.gen_range(200..1500) {
        let db = rng.gen_range(0..4);
        let key = format!("k{}", rng.gen_range(0..3000));
        let value = random_value(&mut rng);
        let expire = if rng.gen_bool(0.2) {
            now_ms + rng.gen_range(1..4000)
        } else {
            NO_EXPIRE
        };
        ks.add(db, key.as_bytes(), value, expire);
    }
    let start = contents(ks.dbs());
    let mut file = ks.start_snapshot(1, 0, 1, 42, now_ms);
    let max_bytes = rng.gen_range(1..8192);
    let writes_max = rng.gen_range(1..40);
    let entries = loop {
        let progress = ks.snapshot_chunk(1, now_ms, max_bytes, &mut file);
        for _ in 0..rng.gen_range(0..writes_max) {
            random_write(&mut rng, &mut ks, now_ms);
        }
        now_ms += rng.gen_range(0..5);
        match progress.expect("not abandoned") {
            SnapshotProgress::More => {}
            SnapshotProgress::Done { entries } => break entries,
        }
    };
    let mut loaded = fresh_dbs();
    let (header, loaded_entries) = load(&file, &mut loaded).expect("loads");
    assert_eq!(loaded_entries, entries);
    assert_eq!(verify(&file), Ok((header.clone(), entries)));
    assert_eq!(header.lsn, 42);
    let (want, got) = (live(&start, now_ms), live(&contents(&loaded), now_ms));
    for (k, e) in &want {
        assert_eq!(got.get(k), Some(e), "seed {seed}: {k:?}");
    }
    assert_eq!(got.len(), want.len(), "seed {seed}");
}

#[test]
fn snapshot_under_writes_is_the_keyspace_at_the_start() {
    for seed in 0..60 {
        snapshot_under_writes(seed);
    }
}

/// Hands the entry a hand-driven change removed to the writer, as the door does.
fn hand_over(writer: &mut SnapshotWriter, db: usize, key: &[u8], old: Option<Entry>) {
    if let Some(old) = old.filter(|_| writer.wants(db, key)) {
        writer.take(db, key, old);
    }
}

#[test]
fn a_walked_key_changed_then_moved_below_the_cursor_keeps_its_start_state() {
    let mut dbs = fresh_dbs();
    for k in ["a", "b", "c", "d"] {
        dbs[0].insert(k.as_bytes(), Value::Str(k.as_bytes().into()), NO_EXPIRE);
    }
    let start = contents(&dbs);
    let mut writer = SnapshotWriter::new(0, 1, 1, T0_MS, &dbs);
    let mut file = Vec::new();
    writer.header(&mut file);
    // A budget of one byte: one entry per chunk. This one writes `d`.
    assert!(writer.next_chunk(&dbs, T0_MS, 1, &mut file));
    writer.before_write(0, &dbs[0], b"d", WriteKind::Replace);
    let old = dbs[0].insert_entry(b"d", str_entry(b"changed", NO_EXPIRE));
    hand_over(&mut writer, 0, b"d", old);
    // Removing `a` moves `d`, the last entry, down to position 0.
    writer.before_write(0, &dbs[0], b"a", WriteKind::Replace);
    let old = dbs[0].remove(b"a");
    hand_over(&mut writer, 0, b"a", old);
    assert_eq!(dbs[0].position(b"d"), Some(0));
    // A key created now, then moved below the cursor, stays out of the image.
    writer.before_write(0, &dbs[0], b"new", WriteKind::Replace);
    dbs[0].insert(b"new", Value::Str(b"n"[..].into()), NO_EXPIRE);
    writer.before_write(0, &dbs[0], b"b", WriteKind::Replace);
    let old = dbs[0].remove(b"b");
    hand_over(&mut writer, 0, b"b", old);
    assert_eq!(dbs[0].position(b"new"), Some(1));
    assert_eq!(writer.saved_len(), 4);
    while writer.next_chunk(&dbs, T0_MS, 1, &mut file) {}
    let mut loaded = fresh_dbs();
    let (_, entries) = load(&file, &mut loaded).expect("loads");
    assert_eq!(entries, 4);
    assert_eq!(contents(&loaded), start);
}

#[test]
fn empty_dbs_round_trip() {
    let (file, _) = snapshot(&fresh_dbs(), T0_MS, SNAPSHOT_CHUNK_BYTES_MAX);
    let trailer = SNAPSHOT_CHUNK_HEADER_BYTES + TRAILER_PAYLOAD_BYTES;
    assert_eq!(file.len(), SNAPSHOT_HEADER_BYTES + trailer);
    let mut loaded = fresh_dbs();
    let (header, entries) = load(&file, &mut loaded).expect("loads");
    assert_eq!(entries, 0);
    assert_eq!(header.lsn, 77);
    assert!(loaded.iter().all(Db::is_empty));
    assert_eq!(verify(&file), Ok((header, 0)));
}

#[test]
fn header_round_trips_and_bad_headers_are_named() {
    let header = SnapshotHeader {
        shard_id: 3,
        shards: 8,
        lsn: u64::MAX - 1,
        created_unix_ms: T0_MS,
    };
    let bytes = header.encode();
    assert_eq!(&bytes[..8], b"CKVSNAP1");
    assert_eq!(read_header(&bytes), Ok(header.clone()));
    let mut magic = bytes;
    magic[0] = b'X';
    assert_eq!(read_header(&magic), Err(SnapshotError::BadMagic));
    let mut version = bytes;
    version[8] = 3;
    assert_eq!(
        read_header(&version),
        Err(SnapshotError::UnsupportedVersion(3))
    );
    let mut lsn = bytes;
    lsn[20] ^= 1;
    assert_eq!(read_header(&lsn), Err(SnapshotError::HeaderChecksum));
    let mut shard = bytes;
    shard[12] = 8;
    let crc = crc32c::crc32c(&shard[..HEADER_CRC_AT]);
    shard[HEADER_CRC_AT..].copy_from_slice(&crc.to_le_bytes());
    let bad_shard = SnapshotError::BadShard {
        shard_id: 8,
        shards: 8,
    };
    assert_eq!(read_header(&shard), Err(bad_shard));
    assert_eq!(
        read_header(&bytes[..SNAPSHOT_HEADER_BYTES - 1]),
        Err(SnapshotError::Truncated { offset: 0 })
    );
}

#[test]
fn every_truncation_is_an_error() {
    let mut rng = SmallRng::seed_from_u64(3);
    let dbs = small_dbs(&mut rng, 60);
    let (file, ends) = snapshot(&dbs, T0_MS, 100);
    assert!(ends.len() > 8, "{} chunks", ends.len());
    for &end in &ends[..ends.len() - 1] {
        let cut = &file[..end];
        assert_eq!(verify(cut), Err(SnapshotError::Truncated { offset: end }));
    }
    for cut in 0..file.len() {
        assert!(verify(&file[..cut]).is_err(), "cut at {cut}");
        assert!(
            load(&file[..cut], &mut fresh_dbs()).is_err(),
            "cut at {cut}"
        );
    }
    assert_eq!(verify(&file).map(|(_, n)| n), Ok(60));
}

#[test]
fn random_truncations_of_a_large_snapshot_are_errors() {
    let mut rng = SmallRng::seed_from_u64(4);
    let dbs = small_dbs(&mut rng, 3000);
    let (file, _) = snapshot(&dbs, T0_MS, 4096);
    for _ in 0..100 {
        let cut = rng.gen_range(0..file.len());
        assert!(verify(&file[..cut]).is_err(), "cut at {cut}");
    }
}

#[test]
fn every_flipped_bit_and_any_appended_byte_is_an_error() {
    let mut rng = SmallRng::seed_from_u64(5);
    let dbs = small_dbs(&mut rng, 60);
    let (file, _) = snapshot(&dbs, T0_MS, 100);
    for at in 0..file.len() {
        let mut bad = file.clone();
        bad[at] ^= 1 << rng.gen_range(0..8);
        assert!(verify(&bad).is_err(), "flip at {at}");
        assert!(load(&bad, &mut fresh_dbs()).is_err(), "flip at {at}");
    }
    let mut longer = file.clone();
    longer.push(0);
    assert_eq!(
        verify(&longer),
        Err(SnapshotError::TrailingBytes { offset: file.len() })
    );
    let twice = [&file[..], &file[SNAPSHOT_HEADER_BYTES..]].concat();
    assert!(verify(&twice).is_err());
}

#[test]
fn verify_agrees_with_load() {
    let mut rng = SmallRng::seed_from_u64(6);
    let dbs = small_dbs(&mut rng, 500);
    let (file, _) = snapshot(&dbs, T0_MS, 1000);
    let mut loaded = fresh_dbs();
    let loaded_result = load(&file, &mut loaded);
    assert_eq!(verify(&file), loaded_result);
    assert_eq!(contents(&loaded), contents(&dbs));
    for _ in 0..200 {
        let mut bad = file.clone();
        let at = rng.gen_range(0..bad.len());
        bad[at] = rng.gen();
        assert_eq!(verify(&bad), load(&bad, &mut fresh_dbs()));
    }
}

#[test]
fn expired_entries_are_left_out() {
    let mut dbs = fresh_dbs();
    dbs[0].insert(b"dead", Value::Str(b"x"[..].into()), T0_MS);
    dbs[0].insert(b"live", Value::Str(b"y"[..].into()), T0_MS + 1);
    let (file, _) = snapshot(&dbs, T0_MS, SNAPSHOT_CHUNK_BYTES_MAX);
    let mut loaded = fresh_dbs();
    assert_eq!(load(&file, &mut loaded).map(|(_, n)| n), Ok(1));
    assert_eq!(loaded[0].position(b"dead"), None);
    assert_eq!(
        loaded[0].entry_at(0).map(|(_, e)| e.to_entry()),
        Some(str_entry(b"y", T0_MS + 1))
    );
}

/// Each chunk's offset and payload length, trailer included.
fn chunk_spans(file: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut at = SNAPSHOT_HEADER_BYTES;
    while at < file.len() {
        let len = u32::from_le_bytes(file[at..at + 4].try_into().expect("4 bytes"));
        spans.push((at, len as usize));
        at += SNAPSHOT_CHUNK_HEADER_BYTES + len as usize;
    }
    spans
}

/// A string of 3 MiB and a hash, a set, a sorted set and a list of 20,000 elements
/// (with small keys around them) are written in pieces: no chunk goes over its budget by more than
/// one element, and the file loads the same values in the same encodings.
#[test]
fn large_entries_are_written_in_pieces_within_the_budget() {
    let mut dbs = fresh_dbs();
    for i in 0..200 {
        dbs[1].insert(
            format!("small{i}").as_bytes(),
            Value::Str(vec![7; 50].into()),
            NO_EXPIRE,
        );
    }
    let big: Vec<u8> = (0..3 * SNAPSHOT_CHUNK_BYTES_MAX + 10)
        .map(|i| i as u8)
        .collect();
    dbs[1].insert(b"big", Value::Str(big.into()), T0_MS + 1);
    let fields: Vec<Vec<u8>> = (0..20_000)
        .map(|i| format!("field{i}").into_bytes())
        .collect();
    let hash = Hash::from_pairs(
        fields.iter().map(|f| (f.as_slice(), &b"v"[..])),
        &HASH_LIMITS,
    );
    dbs[2].insert(b"hash", Value::Hash(hash), NO_EXPIRE);
    let set = Set::from_members(fields.iter().map(Vec::as_slice), &SET_LIMITS);
    dbs[2].insert(b"set", Value::Set(set), NO_EXPIRE);
    let zset = Zset::from_entries(
        fields
            .iter()
            .enumerate()
            .map(|(i, f)| (f.as_slice(), i as f64)),
        &ZSET_LIMITS,
    );
    dbs[3].insert(b"zset", Value::Zset(zset), NO_EXPIRE);
    let list = List::from_elems(fields.iter().map(Vec::as_slice), &ListLimits::default());
    dbs[3].insert(b"list", Value::List(Box::new(list)), NO_EXPIRE);
    dbs[1].insert(b"after", Value::Str(vec![1].into()), NO_EXPIRE);
    for budget in [1000, 64 * 1024] {
        let (file, _) = snapshot(&dbs, T0_MS, budget);
        let spans = chunk_spans(&file);
        let piece_max = budget.max(PIECE_BYTES_MIN) + 64;
        for &(at, len) in &spans {
            assert!(len <= piece_max, "chunk at {at}: {len} bytes");
        }
        let more = spans
            .iter()
            .filter(|&&(at, _)| file[at + SNAPSHOT_CHUNK_HEADER_BYTES] == CHUNK_MORE)
            .count();
        assert!(
            more >= 3 * SNAPSHOT_CHUNK_BYTES_MAX / piece_max,
            "{more} continuations"
        );
        let mut loaded = fresh_dbs();
        assert_eq!(load(&file, &mut loaded).map(|(_, n)| n), Ok(206));
        assert_eq!(contents(&loaded), contents(&dbs));
        assert_eq!(
            loaded[2].get(b"hash").map(|e| e.value.encoding()),
            Some("hashtable")
        );
        assert_eq!(
            loaded[3].get(b"zset").map(|e| e.value.encoding()),
            Some("skiplist")
        );
    }
}

/// Re-seals `file` as format version `version`: new header checksum, so every
/// chunk's checksum too.
fn as_version(file: &[u8], version: u32) -> Vec<u8> {
    let mut out = file.to_vec();
    out[8..12].copy_from_slice(&version.to_le_bytes());
    let crc = crc32c::crc32c(&out[..HEADER_CRC_AT]);
    out[HEADER_CRC_AT..SNAPSHOT_HEADER_BYTES].copy_from_slice(&crc.to_le_bytes());
    for (index, (at, len)) in chunk_spans(file).into_iter().enumerate() {
        seal_chunk(
            &mut out[..at + SNAPSHOT_CHUNK_HEADER_BYTES + len],
            at,
            crc,
            index as u64,
        );
    }
    out
}

/// A version 1 file (entries whole, no continuation chunks) still loads; a
/// continuation chunk in one is refused.
#[test]
fn a_version_1_snapshot_still_loads() {
    let mut rng = SmallRng::seed_from_u64(8);
    let dbs = small_dbs(&mut rng, 300);
    let (file, _) = snapshot(&dbs, T0_MS, 1000);
    let old = as_version(&file, 1);
    let mut loaded = fresh_dbs();
    assert_eq!(load(&old, &mut loaded).map(|(_, n)| n), Ok(300));
    assert_eq!(contents(&loaded), contents(&dbs));
    let mut big = fresh_dbs();
    big[0].insert(
        b"big",
        Value::Str(vec![1; 3 * PIECE_BYTES_MIN].into()),
        NO_EXPIRE,
    );
    let (file, _) = snapshot(&big, T0_MS, PIECE_BYTES_MIN);
    let more_at = chunk_spans(&file)[1].0;
    assert_eq!(
        verify(&as_version(&file, 1)),
        Err(SnapshotError::UnknownChunkKind {
            offset: more_at,
            kind: CHUNK_MORE
        })
    );
}

/// A continuation that names another key, or a delta of another type, is refused
/// by both readers.
#[test]
fn a_piece_of_another_key_or_type_is_refused() {
    let mut dbs = fresh_dbs();
    dbs[0].insert(
        b"big",
        Value::Str(vec![1; 3 * PIECE_BYTES_MIN].into()),
        NO_EXPIRE,
    );
    let (file, _) = snapshot(&dbs, T0_MS, PIECE_BYTES_MIN);
    let (at, len) = chunk_spans(&file)[1];
    let header_crc = u32::from_le_bytes(
        file[HEADER_CRC_AT..SNAPSHOT_HEADER_BYTES]
            .try_into()
            .expect("4 bytes"),
    );
    let piece_at = at + SNAPSHOT_CHUNK_HEADER_BYTES + 1;
    for piece in [
        Effect::Append {
            db: 0,
            key: b"other",
            bytes: b"x",
        },
        Effect::Append {
            db: 1,
            key: b"big",
            bytes: b"x",
        },
        Effect::SAdd {
            db: 0,
            key: b"big",
            members: vec![b"x"],
        },
        Effect::Del { db: 0, key: b"big" },
    ] {
        let mut bad = file[..at].to_vec();
        bad.extend_from_slice(&[0; SNAPSHOT_CHUNK_HEADER_BYTES]);
        bad.push(CHUNK_MORE);
        let mut encoded = Vec::new();
        piece.encode(&mut encoded);
        bad.extend_from_slice(&(encoded.len() as u32).to_le_bytes());
        bad.extend_from_slice(&encoded);
        seal_chunk(&mut bad, at, header_crc, 1);
        bad.extend_from_slice(&file[at + SNAPSHOT_CHUNK_HEADER_BYTES + len..]);
        let refused = Err(SnapshotError::BadContinuation { offset: piece_at });
        assert_eq!(verify(&bad), refused, "{piece:?}");
        assert_eq!(load(&bad, &mut fresh_dbs()), refused, "{piece:?}");
    }
}

#[test]
fn encoded_lengths_match_the_journal_encoding() {
    for (key, value_len, expire) in [
        (0, 0, 0),
        (1, 127, 127),
        (200, 128, 1 << 40),
        (0, 20_000, u64::MAX),
    ] {
        let key = vec![b'k'; key];
        let entry = str_entry(&vec![b'v'; value_len], expire);
        let mut out = Vec::new();
        let effect = Effect::Set {
            db: 15,
            key: &key,
            value: Cow::Borrowed(&entry.value),
            expire_at_ms: expire,
        };
        effect.encode(&mut out);
        assert_eq!(set_bytes(15, &key, &entry.value, expire), out.len());
    }
}

#[test]
fn a_non_set_entry_and_an_unknown_database_are_refused() {
    let dbs = fresh_dbs();
    let writer = SnapshotWriter::new(0, 1, 5, T0_MS, &dbs);
    let mut file = Vec::new();
    writer.header(&mut file);
    let header_crc = u32::from_le_bytes(file[HEADER_CRC_AT..].try_into().expect("4 bytes"));
    let chunk_with = |effect: &Effect, file: &mut Vec<u8>| {
        let at = file.len();
        file.extend_from_slice(&[0; SNAPSHOT_CHUNK_HEADER_BYTES]);
        file.push(CHUNK_ENTRIES);
        let mut encoded = Vec::new();
        effect.encode(&mut encoded);
        file.extend_from_slice(&(encoded.len() as u32).to_le_bytes());
        file.extend_from_slice(&encoded);
        seal_chunk(file, at, header_crc, 0);
    };
    let entry_at = SNAPSHOT_HEADER_BYTES + SNAPSHOT_CHUNK_HEADER_BYTES + 1;
    let mut del = file.clone();
    chunk_with(&Effect::Del { db: 0, key: b"k" }, &mut del);
    assert_eq!(
        verify(&del),
        Err(SnapshotError::NotASet { offset: entry_at })
    );
    let set = Effect::Set {
        db: 9,
        key: b"k",
        value: Cow::Owned(Value::Str(b"v"[..].into())),
        expire_at_ms: NO_EXPIRE,
    };
    let mut in_db_9 = file.clone();
    chunk_with(&set, &mut in_db_9);
    let mut eight_dbs: Vec<Db> = (0..8).map(|_| Db::default()).collect();
    assert_eq!(
        load(&in_db_9, &mut eight_dbs),
        Err(SnapshotError::DbOutOfRange {
            offset: entry_at,
            db: 9
        })
    );
}
