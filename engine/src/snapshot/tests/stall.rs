//! In-process measurements of how long one step of a snapshot of big values takes
//! while writes run: ignored tests, run by hand with `--release`.

use super::*;

/// The longest single step of a snapshot of a 100 MB string and a 1M-field hash
/// under writes, measured in process: each chunk, and each `SETRANGE`/`APPEND`/
/// `HSET` the door runs meanwhile. A measurement, not an assertion (timing
/// depends on the machine): `cargo test --release -p corekv-engine
/// snapshot_stall_in_process -- --ignored --nocapture`.
#[test]
#[ignore]
fn snapshot_stall_in_process() {
    use std::time::{Duration, Instant};
    const STRING_BYTES: usize = 100 << 20;
    const FIELDS: usize = 1_000_000;
    let limits = HashLimits::default();
    let mut ks = Keyspace::default();
    ks.add(
        0,
        b"big",
        Value::Str(vec![b'x'; STRING_BYTES].into()),
        NO_EXPIRE,
    );
    let fields: Vec<Vec<u8>> = (0..FIELDS).map(|i| format!("f{i}").into_bytes()).collect();
    let hash = Hash::from_pairs(fields.iter().map(|f| (f.as_slice(), &b"v"[..])), &limits);
    ks.add(0, b"h", Value::Hash(hash), NO_EXPIRE);
    let mut rng = SmallRng::seed_from_u64(1);
    let (mut chunk_worst, mut write_worst, mut chunks) = (Duration::ZERO, Duration::ZERO, 0);
    let mut image = ks.start_snapshot(1, 0, 1, 1, T0_MS);
    let mut out = Vec::new();
    loop {
        let t = Instant::now();
        let progress = ks.snapshot_chunk(1, T0_MS, 256 * 1024, &mut out);
        chunk_worst = chunk_worst.max(t.elapsed());
        chunks += 1;
        image.append(&mut out);
        for i in 0..3 {
            let t = Instant::now();
            if i == 2 {
                let field = format!("f{}", rng.gen_range(0..FIELDS));
                let mut guard = ks.find_mut(0, b"h", T0_MS).expect("present");
                guard.hash_set(field.as_bytes(), b"w", &limits);
            } else {
                let mut guard = ks.find_mut(0, b"big", T0_MS).expect("present");
                match i {
                    0 => guard.write_at(rng.gen_range(0..STRING_BYTES), b"abc"),
                    _ => guard.append(b"0123456789"),
                };
            }
            write_worst = write_worst.max(t.elapsed());
        }
        if progress != Some(SnapshotProgress::More) {
            break;
        }
    }
    println!("{chunks} chunks; worst chunk {chunk_worst:?}; worst write {write_worst:?}");
    let mut loaded = fresh_dbs();
    assert_eq!(load(&image, &mut loaded).map(|(_, n)| n), Ok(2));
}

/// The longest single step of a snapshot of a 1M-element list and a 1M-member
/// sorted set under writes, measured in process: each chunk, and each
/// `LSET`/`LPUSH`/`RPOP`/`ZADD` the door runs meanwhile. A measurement, as
/// [`snapshot_stall_in_process`]: `cargo test --release -p corekv-engine
/// snapshot_stall_of_a_list_and_a_sorted_set -- --ignored --nocapture`.
#[test]
#[ignore]
fn snapshot_stall_of_a_list_and_a_sorted_set() {
    use std::time::{Duration, Instant};
    const ELEMENTS: usize = 1_000_000;
    let (list_limits, zset_limits) = (ListLimits::default(), ZsetLimits::default());
    let mut ks = Keyspace::default();
    let names: Vec<Vec<u8>> = (0..ELEMENTS)
        .map(|i| format!("m{i}").into_bytes())
        .collect();
    let list = List::from_elems(names.iter().map(Vec::as_slice), &list_limits);
    ks.add(0, b"list", Value::List(Box::new(list)), NO_EXPIRE);
    let zset = Zset::from_entries(
        names
            .iter()
            .enumerate()
            .map(|(i, m)| (m.as_slice(), i as f64)),
        &zset_limits,
    );
    ks.add(0, b"zset", Value::Zset(zset), NO_EXPIRE);
    let mut rng = SmallRng::seed_from_u64(1);
    let (mut chunk_worst, mut chunks) = (Duration::ZERO, 0);
    let mut write_worst = [Duration::ZERO; 4];
    let mut image = ks.start_snapshot(1, 0, 1, 1, T0_MS);
    let mut out = Vec::new();
    loop {
        let t = Instant::now();
        let progress = ks.snapshot_chunk(1, T0_MS, 256 * 1024, &mut out);
        chunk_worst = chunk_worst.max(t.elapsed());
        chunks += 1;
        image.append(&mut out);
        for (i, worst) in write_worst.iter_mut().enumerate() {
            let t = Instant::now();
            let key: &[u8] = if i == 3 { b"zset" } else { b"list" };
            let mut guard = ks.find_mut(0, key, T0_MS).expect("present");
            match i {
                0 => guard.list_set(rng.gen_range(0..ELEMENTS / 2), b"changed", &list_limits),
                1 => {
                    guard.list_push(End::Head, &[b"new"], &list_limits);
                }
                2 => {
                    guard.list_pop(End::Tail, 1);
                }
                _ => {
                    let member = &names[rng.gen_range(0..ELEMENTS)];
                    guard.zset_insert(member, -1.0, &zset_limits);
                }
            }
            drop(guard);
            *worst = (*worst).max(t.elapsed());
        }
        if progress != Some(SnapshotProgress::More) {
            break;
        }
    }
    println!(
        "{chunks} chunks; worst chunk {chunk_worst:?}; worst LSET {:?}, LPUSH {:?}, \
         RPOP {:?}, ZADD {:?}",
        write_worst[0], write_worst[1], write_worst[2], write_worst[3]
    );
    let mut loaded = fresh_dbs();
    assert_eq!(load(&image, &mut loaded).map(|(_, n)| n), Ok(2));
    let list = loaded[0].get(b"list").expect("loaded");
    assert!(matches!(&list.value, Value::List(l) if l.len() == ELEMENTS));
}
