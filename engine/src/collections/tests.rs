//! Tests of hashes and sets: encodings pinned to what `redis-server` 7.0.15 answers to
//! `OBJECT ENCODING` for the same commands, and property tests against `BTreeMap` /
//! `BTreeSet` models (random operations, encoding conversions, the scan guarantee
//! under modification between steps, sampling).

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use rand::rngs::SmallRng;
use rand::SeedableRng;

use super::*;

/// A `long double` increment, as `HINCRBYFLOAT` reads it.
fn ld(s: &str) -> crate::long_double::LongDouble {
    crate::long_double::LongDouble::parse(s.as_bytes()).expect("a float")
}

fn b(s: &str) -> &[u8] {
    s.as_bytes()
}

fn x(n: usize) -> Vec<u8> {
    vec![b'x'; n]
}

fn hash_model(h: &Hash) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let m: BTreeMap<_, _> = h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
    assert_eq!(m.len(), h.len(), "iteration yields each field once");
    m
}

fn set_model(s: &Set) -> BTreeSet<Vec<u8>> {
    let m: BTreeSet<_> = s.iter().map(|e| e.to_vec()).collect();
    assert_eq!(m.len(), s.len(), "iteration yields each member once");
    m
}

// ---- Encodings as redis-server 7.0.15 reports them (recorded with OBJECT ENCODING). ----

#[test]
fn hash_encodings_match_redis() {
    let lim = HashLimits::default();
    let mut h = Hash::new();
    // HSET h512 f1 1 ... f512 512 → listpack; HSET h512 f513 1 → hashtable;
    // HDEL h512 f513 → hashtable; DEBUG RELOAD → listpack.
    for i in 1..=512 {
        h.set(format!("f{i}").as_bytes(), i.to_string().as_bytes(), &lim);
    }
    assert_eq!(h.encoding(), "listpack");
    h.set(b("f513"), b("1"), &lim);
    assert_eq!(h.encoding(), "hashtable");
    assert!(h.remove(b("f513")));
    assert_eq!(h.encoding(), "hashtable");
    let reloaded = Hash::from_pairs(
        h.iter()
            .map(|(f, v)| (f.to_vec(), v.to_vec()))
            .collect::<Vec<_>>()
            .iter()
            .map(|(f, v)| (&f[..], &v[..])),
        &lim,
    );
    assert_eq!(reloaded.encoding(), "listpack");

    // HSET hv f <64 x> → listpack; HSET hv2 f <65 x> → hashtable; same for a field.
    let mut h = Hash::new();
    h.set(b("f"), &x(64), &lim);
    assert_eq!(h.encoding(), "listpack");
    h.set(b("f"), &x(65), &lim);
    assert_eq!(h.encoding(), "hashtable");
    let mut h = Hash::new();
    h.set(&x(65), b("v"), &lim);
    assert_eq!(h.encoding(), "hashtable");

    // HSET h f v; HSETNX h f <65 x> → 0, listpack; HINCRBY h <65 x> 1 → hashtable.
    let mut h = Hash::new();
    h.set(b("f"), b("v"), &lim);
    assert!(!h.set_if_absent(b("f"), &x(65), &lim));
    assert_eq!(h.encoding(), "listpack");
    assert_eq!(h.incr_by(&x(65), 1, &lim), Ok(1));
    assert_eq!(h.encoding(), "hashtable");

    // HSET h2 a 1; HINCRBYFLOAT h2 a 1e100 → a 100-byte value: hashtable.
    let mut h = Hash::new();
    h.set(b("a"), b("1"), &lim);
    let text = h.incr_by_float(b("a"), ld("1e100"), &lim).expect("finite");
    assert_eq!(text.len(), 100);
    assert_eq!(h.encoding(), "hashtable");

    // With hash-max-listpack-entries 128: 128 fields listpack, 129 hashtable.
    let lim128 = HashLimits {
        max_listpack_entries: 128,
        ..lim
    };
    let mut h = Hash::new();
    for i in 1..=128 {
        h.set(format!("f{i}").as_bytes(), b("v"), &lim128);
    }
    assert_eq!(h.encoding(), "listpack");
    h.set(b("f129"), b("v"), &lim128);
    assert_eq!(h.encoding(), "hashtable");
}

#[test]
fn set_encodings_match_redis() {
    let lim = SetLimits::default();
    let enc =
        |members: &[&str]| Set::from_members(members.iter().map(|m| m.as_bytes()), &lim).encoding();
    // SADD s 1 2 3 → intset; SADD t a 1 / SADD u 1 a → hashtable.
    assert_eq!(enc(&["1", "2", "3"]), "intset");
    assert_eq!(enc(&["a", "1"]), "hashtable");
    assert_eq!(enc(&["1", "a"]), "hashtable");
    // Non-canonical integers are strings: 01, -0, +1, 1.0, " 1", 2^64-1 → hashtable.
    for m in ["01", "-0", "+1", "1.0", " 2", "18446744073709551615", "abc"] {
        assert_eq!(enc(&[m]), "hashtable", "{m}");
    }
    assert_eq!(enc(&["-5"]), "intset");
    assert_eq!(enc(&["9223372036854775807"]), "intset");
    assert_eq!(enc(&["-9223372036854775808"]), "intset");

    // SADD si 1..512 → intset; SADD si 513 → hashtable.
    let mut s = Set::new();
    for i in 1..=512 {
        s.add(i.to_string().as_bytes(), &lim);
    }
    assert_eq!(s.encoding(), "intset");
    s.add(b("513"), &lim);
    assert_eq!(s.encoding(), "hashtable");

    // 200 integers, SADD x → hashtable; SREM x → still hashtable; reload → intset.
    let mut s = Set::new();
    for i in 1..=200 {
        s.add(i.to_string().as_bytes(), &lim);
    }
    s.add(b("x"), &lim);
    assert_eq!(s.encoding(), "hashtable");
    s.remove(b("x"));
    assert_eq!(s.encoding(), "hashtable");
    let members: Vec<Vec<u8>> = s.iter().map(|m| m.to_vec()).collect();
    assert_eq!(
        Set::from_members(members.iter().map(Vec::as_slice), &lim).encoding(),
        "intset"
    );

    // a = {1 2 3 x}, b = {1 2 3 y}: SINTERSTORE → intset, SUNIONSTORE and SDIFFSTORE
    // → hashtable.
    let a = Set::from_members(["1", "2", "3", "x"].map(str::as_bytes), &lim);
    let bb = Set::from_members(["1", "2", "3", "y"].map(str::as_bytes), &lim);
    assert_eq!(Set::intersection(&[&a, &bb], &lim).encoding(), "intset");
    assert_eq!(Set::union(&[&a, &bb], &lim).encoding(), "hashtable");
    assert_eq!(Set::difference(&[&a, &bb], &lim).encoding(), "hashtable");

    // SADD s600 1..600 → hashtable; SPOP s600 100 → hashtable (500 left);
    // SPOP s600 490 → intset (10 left, rebuilt).
    let mut rng = SmallRng::seed_from_u64(1);
    let mut s = Set::new();
    for i in 1..=600 {
        s.add(i.to_string().as_bytes(), &lim);
    }
    assert_eq!(s.encoding(), "hashtable");
    assert_eq!(s.pop_many(100, &lim, &mut rng).len(), 100);
    assert_eq!(s.encoding(), "hashtable");
    assert_eq!(s.pop_many(490, &lim, &mut rng).len(), 490);
    assert_eq!(s.encoding(), "intset");
    assert_eq!(s.len(), 10);
}

#[test]
fn hash_increments_follow_redis() {
    let lim = HashLimits::default();
    let mut h = Hash::new();
    h.set(b("f"), b("abc"), &lim);
    h.set(b("n"), b("10"), &lim);
    h.set(b("big"), b("9223372036854775807"), &lim);
    assert_eq!(h.incr_by(b("f"), 1, &lim), Err(HashIncrError::NotInteger));
    assert_eq!(
        h.incr_by_float(b("f"), ld("1"), &lim),
        Err(HashIncrError::NotFloat)
    );
    assert_eq!(h.incr_by(b("big"), 1, &lim), Err(HashIncrError::Overflow));
    assert_eq!(h.incr_by(b("n"), -15, &lim), Ok(-5));
    assert_eq!(h.incr_by(b("new"), i64::MIN, &lim), Ok(i64::MIN));
    assert_eq!(h.incr_by(b("new"), -1, &lim), Err(HashIncrError::Overflow));
    assert_eq!(
        h.incr_by_float(b("n"), ld("1.5"), &lim).as_deref(),
        Ok(&b"-3.5"[..])
    );
    assert_eq!(
        h.incr_by_float(b("n"), ld("3.5"), &lim).as_deref(),
        Ok(&b"0"[..])
    );
    assert_eq!(&*h.get(b("n")).expect("set"), b("0"));
    assert_eq!(
        h.incr_by_float(b("n"), ld("1.1e4932"), &lim)
            .map(|t| t.len()),
        Ok(4933)
    );
    assert_eq!(
        h.incr_by_float(b("n"), ld("1.1e4932"), &lim),
        Err(HashIncrError::NanOrInf)
    );
    assert_eq!(h.value_len(b("big")), Some(19));
    assert_eq!(
        CmdError::from(HashIncrError::NotInteger).message(),
        "ERR hash value is not an integer"
    );
    assert_eq!(
        CmdError::from(HashIncrError::NotFloat).message(),
        "ERR hash value is not a float"
    );
}

use crate::error::CmdError;

// ---- Sampling. ----

#[test]
fn sample_counts_never_overflow_or_allocate_the_count() {
    let mut rng = SmallRng::seed_from_u64(3);
    assert_eq!(
        SampleCount::from_i64(i64::MIN),
        SampleCount::Repeats(1 << 63)
    );
    assert_eq!(
        SampleCount::from_i64(i64::MAX),
        SampleCount::Distinct(i64::MAX as u64)
    );
    assert_eq!(SampleCount::from_i64(-1), SampleCount::Repeats(1));
    assert_eq!(distinct_positions(5, u64::MAX, &mut rng), [0, 1, 2, 3, 4]);
    assert_eq!(distinct_positions(0, 7, &mut rng), Vec::<usize>::new());
    let mut draws = repeat_positions(3, 1 << 63, &mut rng);
    assert!(draws.by_ref().take(1000).all(|p| p < 3));
    assert!(draws.next().is_some(), "lazy: the rest is still to come");
    assert_eq!(repeat_positions(0, u64::MAX, &mut rng).next(), None);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn distinct_positions_are_distinct_in_range_and_clamped(
        len in 0usize..300, count in prop_oneof![0u64..400, Just(u64::MAX)], seed: u64,
    ) {
        let mut rng = SmallRng::seed_from_u64(seed);
        let picks = distinct_positions(len, count, &mut rng);
        prop_assert_eq!(picks.len() as u64, count.min(len as u64));
        prop_assert!(picks.iter().all(|&p| p < len));
        let unique: BTreeSet<_> = picks.iter().collect();
        prop_assert_eq!(unique.len(), picks.len());
    }
}

#[test]
fn distinct_positions_are_uniform() {
    // Both strategies (small and large samples): every position is picked about
    // equally often.
    let mut rng = SmallRng::seed_from_u64(9);
    for count in [2u64, 8] {
        let mut hits = [0u32; 10];
        for _ in 0..20_000 {
            for p in distinct_positions(10, count, &mut rng) {
                hits[p] += 1;
            }
        }
        let expected = 20_000.0 * count as f64 / 10.0;
        for h in hits {
            assert!((h as f64 - expected).abs() < expected * 0.05, "{hits:?}");
        }
    }
}

// ---- Property tests against models. ----

/// Strings that exercise every encoding decision: small and large canonical
/// integers, non-canonical ones, short strings, and strings longer than the small
/// value limit the tests use.
fn elem() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => (-20i64..20).prop_map(|v| v.to_string().into_bytes()),
        1 => any::<i64>().prop_map(|v| v.to_string().into_bytes()),
        1 => prop::sample::select(vec!["007", "-0", "+1", " 1", "", "1.0"])
            .prop_map(|s| s.as_bytes().to_vec()),
        3 => "[a-f]{1,3}".prop_map(String::into_bytes),
        1 => "[a-z]{7,40}".prop_map(String::into_bytes),
    ]
}

#[derive(Debug, Clone)]
enum HashOp {
    Set(Vec<u8>, Vec<u8>),
    SetNx(Vec<u8>, Vec<u8>),
    Remove(Vec<u8>),
    IncrBy(Vec<u8>, i64),
    Rebuild,
}

fn hash_op() -> impl Strategy<Value = HashOp> {
    prop_oneof![
        6 => (elem(), elem()).prop_map(|(f, v)| HashOp::Set(f, v)),
        1 => (elem(), elem()).prop_map(|(f, v)| HashOp::SetNx(f, v)),
        4 => elem().prop_map(HashOp::Remove),
        1 => (elem(), prop_oneof![-5i64..5, Just(i64::MAX), Just(i64::MIN)])
            .prop_map(|(f, d)| HashOp::IncrBy(f, d)),
        1 => Just(HashOp::Rebuild),
    ]
}

fn hash_fits(m: &BTreeMap<Vec<u8>, Vec<u8>>, lim: &HashLimits) -> bool {
    m.len() <= lim.max_listpack_entries
        && m.iter().all(|(f, v)| {
            f.len() <= lim.max_listpack_value_bytes && v.len() <= lim.max_listpack_value_bytes
        })
}

fn model_set(
    m: &mut BTreeMap<Vec<u8>, Vec<u8>>,
    f: &[u8],
    v: &[u8],
    lim: &HashLimits,
    packed: &mut bool,
) {
    if f.len() > lim.max_listpack_value_bytes || v.len() > lim.max_listpack_value_bytes {
        *packed = false;
    }
    m.insert(f.to_vec(), v.to_vec());
    if m.len() > lim.max_listpack_entries {
        *packed = false;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn hash_matches_model(ops in prop::collection::vec(hash_op(), 1..120), entries in 1usize..10) {
        let lim = HashLimits { max_listpack_entries: entries, max_listpack_value_bytes: 6 };
        let mut h = Hash::new();
        let mut m = BTreeMap::new();
        let mut packed = true;
        for op in ops {
            match op {
                HashOp::Set(f, v) => {
                    let new = !m.contains_key(&f);
                    prop_assert_eq!(h.set(&f, &v, &lim), new);
                    model_set(&mut m, &f, &v, &lim, &mut packed);
                }
                HashOp::SetNx(f, v) => {
                    let new = !m.contains_key(&f);
                    prop_assert_eq!(h.set_if_absent(&f, &v, &lim), new);
                    if new {
                        model_set(&mut m, &f, &v, &lim, &mut packed);
                    }
                }
                HashOp::Remove(f) => prop_assert_eq!(h.remove(&f), m.remove(&f).is_some()),
                HashOp::IncrBy(f, d) => {
                    let current = m.get(&f).map(|v| crate::resp::parse_i64(v));
                    let expected = match current {
                        Some(None) => Err(HashIncrError::NotInteger),
                        Some(Some(c)) => c.checked_add(d).ok_or(HashIncrError::Overflow),
                        None => Ok(d),
                    };
                    prop_assert_eq!(h.incr_by(&f, d, &lim), expected);
                    if let Ok(sum) = expected {
                        model_set(&mut m, &f, sum.to_string().as_bytes(), &lim, &mut packed);
                    }
                }
                HashOp::Rebuild => {
                    let pairs: Vec<(Vec<u8>, Vec<u8>)> =
                        h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
                    h = Hash::from_pairs(pairs.iter().map(|(f, v)| (&f[..], &v[..])), &lim);
                    packed = hash_fits(&m, &lim);
                }
            }
            prop_assert_eq!(h.encoding(), if packed { "listpack" } else { "hashtable" });
            prop_assert_eq!(h.len(), m.len());
            prop_assert_eq!(&hash_model(&h), &m);
            for (f, v) in &m {
                prop_assert_eq!(h.get(f).map(|e| e.to_vec()), Some(v.clone()));
                prop_assert_eq!(h.value_len(f), Some(v.len()));
            }
            let indexed = h.indexed();
            prop_assert_eq!(indexed.len(), m.len());
            let by_position: BTreeMap<_, _> =
                (0..indexed.len()).map(|i| { let (f, v) = indexed.get(i); (f.to_vec(), v.to_vec()) }).collect();
            prop_assert_eq!(&by_position, &m);
        }
    }
}

#[derive(Debug, Clone)]
enum SetOp {
    Add(Vec<u8>),
    Remove(Vec<u8>),
    Pop,
    PopMany(u64),
    Rebuild,
}

fn set_op() -> impl Strategy<Value = SetOp> {
    prop_oneof![
        8 => elem().prop_map(SetOp::Add),
        4 => elem().prop_map(SetOp::Remove),
        1 => Just(SetOp::Pop),
        1 => prop_oneof![0u64..12, Just(u64::MAX)].prop_map(SetOp::PopMany),
        1 => Just(SetOp::Rebuild),
    ]
}

fn set_fits(m: &BTreeSet<Vec<u8>>, lim: &SetLimits) -> bool {
    m.len() <= lim.max_intset_entries && m.iter().all(|v| crate::resp::parse_i64(v).is_some())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn set_matches_model(ops in prop::collection::vec(set_op(), 1..150), entries in 1usize..12, seed: u64) {
        let lim = SetLimits { max_intset_entries: entries };
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut s = Set::new();
        let mut m = BTreeSet::new();
        let mut packed = true;
        for op in ops {
            match op {
                SetOp::Add(v) => {
                    prop_assert_eq!(s.add(&v, &lim), m.insert(v.clone()));
                    packed &= crate::resp::parse_i64(&v).is_some() && m.len() <= entries;
                }
                SetOp::Remove(v) => prop_assert_eq!(s.remove(&v), m.remove(&v)),
                SetOp::Pop => match s.pop(&mut rng) {
                    Some(v) => prop_assert!(m.remove(&v)),
                    None => prop_assert!(m.is_empty()),
                },
                SetOp::PopMany(count) => {
                    let len = m.len() as u64;
                    let popped = s.pop_many(count, &lim, &mut rng);
                    prop_assert_eq!(popped.len() as u64, count.min(len));
                    for v in &popped {
                        prop_assert!(m.remove(v), "popped a member once");
                    }
                    let remaining = len - count.min(len);
                    if count >= len {
                        packed = true;
                    } else if remaining * 5 <= count {
                        packed = set_fits(&m, &lim);
                    }
                }
                SetOp::Rebuild => {
                    let members: Vec<Vec<u8>> = s.iter().map(|e| e.to_vec()).collect();
                    s = Set::from_members(members.iter().map(Vec::as_slice), &lim);
                    packed = set_fits(&m, &lim);
                }
            }
            prop_assert_eq!(s.encoding(), if packed { "intset" } else { "hashtable" });
            prop_assert_eq!(&set_model(&s), &m);
            for v in &m {
                prop_assert!(s.contains(v));
            }
        }
    }

    #[test]
    fn set_algebra_matches_model(
        sets in prop::collection::vec(prop::collection::vec(elem(), 0..30), 1..4),
        limit in 0usize..5,
    ) {
        let lim = SetLimits { max_intset_entries: 8 };
        let built: Vec<Set> =
            sets.iter().map(|s| Set::from_members(s.iter().map(Vec::as_slice), &lim)).collect();
        let refs: Vec<&Set> = built.iter().collect();
        let models: Vec<BTreeSet<Vec<u8>>> = sets.iter().map(|s| s.iter().cloned().collect()).collect();
        let inter: BTreeSet<_> = models[0].iter().filter(|v| models.iter().all(|m| m.contains(*v))).cloned().collect();
        let union: BTreeSet<_> = models.iter().flatten().cloned().collect();
        let diff: BTreeSet<_> = models[0].iter().filter(|v| models[1..].iter().all(|m| !m.contains(*v))).cloned().collect();
        for (got, want) in [
            (Set::intersection(&refs, &lim), &inter),
            (Set::union(&refs, &lim), &union),
            (Set::difference(&refs, &lim), &diff),
        ] {
            prop_assert_eq!(&set_model(&got), want);
            prop_assert_eq!(got.encoding(), if set_fits(want, &lim) { "intset" } else { "hashtable" });
        }
        // The intersection is built as adding the common members in the smallest
        // set's order would build it: the same members in the same order.
        let smallest = refs.iter().min_by_key(|s| s.len()).expect("one set at least");
        let walk: Vec<Vec<u8>> =
            smallest.iter().filter(|m| refs.iter().all(|s| s.contains(m))).map(|m| m.to_vec()).collect();
        let order = |s: &Set| s.iter().map(|m| m.to_vec()).collect::<Vec<_>>();
        let added = Set::from_members(walk.iter().map(Vec::as_slice), &lim);
        prop_assert_eq!(order(&Set::intersection(&refs, &lim)), order(&added));
        let card = Set::intersection_len(&refs, limit);
        prop_assert_eq!(card, if limit == 0 { inter.len() } else { inter.len().min(limit) });
    }

    #[test]
    fn random_members_are_members_and_distinct(
        members in prop::collection::vec(elem(), 0..40),
        count in prop_oneof![0i64..50, -50i64..0, Just(i64::MAX), Just(-i64::MAX), Just(i64::MIN)],
        seed: u64,
    ) {
        let mut rng = SmallRng::seed_from_u64(seed);
        let s = Set::from_members(members.iter().map(Vec::as_slice), &SetLimits::default());
        let h = Hash::from_pairs(members.iter().map(|m| (&m[..], &b"v"[..])), &HashLimits::default());
        let model = set_model(&s);
        prop_assert_eq!(s.random_member(&mut rng).is_some(), !model.is_empty());
        prop_assert_eq!(h.random_pair(&mut rng).map(|(f, _)| model.contains(&*f)), (!model.is_empty()).then_some(true));
        let indexed = h.indexed();
        match SampleCount::from_i64(count) {
            SampleCount::Distinct(n) => {
                let picks: Vec<Vec<u8>> = distinct_positions(s.len(), n, &mut rng).into_iter().map(|p| s.member_at(p).to_vec()).collect();
                let unique: BTreeSet<_> = picks.iter().cloned().collect();
                prop_assert_eq!(unique.len(), picks.len());
                prop_assert_eq!(picks.len() as u64, n.min(model.len() as u64));
                prop_assert!(unique.is_subset(&model));
                let fields: BTreeSet<Vec<u8>> = distinct_positions(indexed.len(), n, &mut rng).into_iter().map(|p| indexed.get(p).0.to_vec()).collect();
                prop_assert_eq!(fields.len() as u64, n.min(model.len() as u64));
                prop_assert!(fields.is_subset(&model));
            }
            SampleCount::Repeats(n) => {
                let drawn: Vec<usize> = repeat_positions(s.len(), n, &mut rng).take(200).collect();
                prop_assert_eq!(drawn.len() as u64, if model.is_empty() { 0 } else { n.min(200) });
                prop_assert!(drawn.iter().all(|&p| model.contains(&*s.member_at(p))));
            }
        }
    }
}

// ---- The scan guarantee. ----

#[derive(Debug, Clone)]
enum Churn {
    Add(u16),
    Remove(u16),
}

fn churn() -> impl Strategy<Value = Vec<Churn>> {
    prop::collection::vec(
        prop_oneof![
            (0u16..400).prop_map(Churn::Add),
            (0u16..400).prop_map(Churn::Remove)
        ],
        0..40,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Every element present from the first step to the last is returned, while
    /// elements come and go between steps and the encoding changes.
    #[test]
    fn scans_return_every_element_present_throughout(
        initial in prop::collection::btree_set(0u16..400, 0..200),
        steps in prop::collection::vec((1usize..20, churn()), 1..60),
        strings: bool,
    ) {
        let name = |i: u16| if strings { format!("m{i}") } else { i.to_string() };
        let set_lim = SetLimits { max_intset_entries: 64 };
        let hash_lim = HashLimits { max_listpack_entries: 64, max_listpack_value_bytes: 64 };
        let mut s = Set::from_members(initial.iter().map(|&i| name(i)).collect::<Vec<_>>().iter().map(|m| m.as_bytes()), &set_lim);
        let mut h = Hash::new();
        initial.iter().for_each(|&i| { h.set(name(i).as_bytes(), b"v", &hash_lim); });
        let mut throughout: BTreeSet<u16> = initial.clone();
        let (mut seen_s, mut seen_h) = (BTreeSet::new(), BTreeSet::new());
        let (mut cur_s, mut cur_h) = (0u64, 0u64);
        let (mut done_s, mut done_h) = (false, false);
        for (count, changes) in steps {
            if !done_s {
                cur_s = s.scan(cur_s, count, |m| { seen_s.insert(m.to_vec()); });
                done_s = cur_s == 0;
            }
            if !done_h {
                cur_h = h.scan(cur_h, count, |f, _| { seen_h.insert(f.to_vec()); });
                done_h = cur_h == 0;
            }
            for c in changes {
                match c {
                    Churn::Add(i) => { s.add(name(i).as_bytes(), &set_lim); h.set(name(i).as_bytes(), b"w", &hash_lim); }
                    Churn::Remove(i) => { s.remove(name(i).as_bytes()); h.remove(name(i).as_bytes()); throughout.remove(&i); }
                }
            }
        }
        while !done_s {
            cur_s = s.scan(cur_s, 7, |m| { seen_s.insert(m.to_vec()); });
            done_s = cur_s == 0;
        }
        while !done_h {
            cur_h = h.scan(cur_h, 7, |f, _| { seen_h.insert(f.to_vec()); });
            done_h = cur_h == 0;
        }
        for i in throughout {
            prop_assert!(seen_s.contains(name(i).as_bytes()), "set scan missed {}", i);
            prop_assert!(seen_h.contains(name(i).as_bytes()), "hash scan missed {}", i);
        }
    }
}

#[test]
fn table_scans_walk_in_steps_and_end_at_zero() {
    let lim = SetLimits {
        max_intset_entries: 0,
    };
    let s = Set::from_members(
        (0..100)
            .map(|i| format!("m{i}"))
            .collect::<Vec<_>>()
            .iter()
            .map(|m| m.as_bytes()),
        &lim,
    );
    assert_eq!(s.encoding(), "hashtable");
    let (mut cursor, mut steps, mut seen) = (0, 0, 0);
    loop {
        cursor = s.scan(cursor, 10, |_| seen += 1);
        steps += 1;
        if cursor == 0 {
            break;
        }
    }
    assert_eq!((steps, seen), (10, 100));
    // A compact collection answers whole, whatever the cursor.
    let small = Set::from_members([b("1"), b("2")], &SetLimits::default());
    let mut n = 0;
    assert_eq!(small.scan(12345, 1, |_| n += 1), 0);
    assert_eq!(n, 2);
}

// ---- Memory. ----

#[test]
fn compact_encodings_cost_about_what_redis_does() {
    // 10 fields of 8 bytes with 16-byte values: Redis's listpack holds each pair in
    // 2 + 8 + 2 + 16 bytes plus a 7-byte header: 287 bytes.
    let mut h = Hash::new();
    for i in 0..10 {
        h.set(
            format!("field{i:03}").as_bytes(),
            format!("value-{i:010}").as_bytes(),
            &HashLimits::default(),
        );
    }
    assert_eq!(h.encoding(), "listpack");
    assert!(h.heap_bytes() <= 287, "{}", h.heap_bytes());
    // 10 small integers: Redis's intset is 8 + 10 × 2 bytes.
    let s = Set::from_members(
        (0..10)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .iter()
            .map(|m| m.as_bytes()),
        &SetLimits::default(),
    );
    assert!(s.heap_bytes() <= 28, "{}", s.heap_bytes());
    // A big set of short strings: entries inline, no allocation per member.
    let big = Set::from_members(
        (0..100_000)
            .map(|i| format!("member:{i}"))
            .collect::<Vec<_>>()
            .iter()
            .map(|m| m.as_bytes()),
        &SetLimits::default(),
    );
    let per_member = big.heap_bytes() / big.len();
    assert!(per_member <= 48, "{per_member} bytes per member");
    let mut big = Hash::new();
    for i in 0..100_000 {
        big.set(
            format!("f{i:07}").as_bytes(),
            format!("value-{i:010}").as_bytes(),
            &HashLimits::default(),
        );
    }
    let per_field = big.heap_bytes() / big.len();
    assert!(per_field <= 56, "{per_field} bytes per field");
}

// ---- Work per command. ----

/// Bytes this thread has allocated so far (the tests run on the server's allocator,
/// jemalloc, whose per-thread counter this reads; frees do not lower it).
fn allocated_bytes() -> u64 {
    tikv_jemalloc_ctl::thread::allocatedp::read()
        .expect("jemalloc stats")
        .get()
}

/// Runs each command of `commands` `rounds` times (after one round to warm up) into
/// one reused reply buffer; returns the bytes allocated meanwhile.
fn allocated_by(
    s: &mut crate::harness::TestShard,
    commands: &[Vec<bytes::Bytes>],
    rounds: usize,
) -> u64 {
    let mut out = crate::resp::ReplyBuf::new(crate::resp::Protocol::Resp2);
    let mut run_all = |s: &mut crate::harness::TestShard| {
        for args in commands {
            out.clear();
            s.shard.run(s.db, args, s.now_ms, &mut out);
            assert_ne!(
                out.first(),
                Some(&b'-'),
                "{:?}",
                String::from_utf8_lossy(&out)
            );
        }
    };
    run_all(s);
    let before = allocated_bytes();
    (0..rounds).for_each(|_| run_all(s));
    allocated_bytes() - before
}

/// With nothing journaled, a change to a `hashtable` hash or set that keeps its size
/// allocates nothing: the write guard keeps no delta and builds no effect for it,
/// and short fields and members live inline in the table.
#[test]
fn table_writes_allocate_nothing_while_nothing_is_journaled() {
    const ELEMENTS: usize = 1000;
    const ROUNDS: usize = 20;
    let mut s = crate::harness::TestShard::default();
    let args = |words: &[&str]| -> Vec<bytes::Bytes> {
        words
            .iter()
            .map(|w| bytes::Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    };
    for i in 0..ELEMENTS {
        s.run(&["HSET", "h", &format!("f:{i}"), "v"]);
        s.run(&["SADD", "s", &format!("m:{i}")]);
    }
    assert_eq!(s.run(&["OBJECT", "ENCODING", "h"]), "hashtable");
    assert_eq!(s.run(&["OBJECT", "ENCODING", "s"]), "hashtable");
    let mut commands = Vec::new();
    for i in (0..ELEMENTS).step_by(ELEMENTS / 10) {
        let (field, member) = (format!("f:{i}"), format!("m:{i}"));
        commands.push(args(&["HSET", "h", &field, &format!("value:{i}")]));
        commands.push(args(&["HINCRBY", "h", &format!("n:{i}"), "1"]));
        commands.push(args(&["HDEL", "h", &field]));
        commands.push(args(&["HSET", "h", &field, "v"]));
        commands.push(args(&["SREM", "s", &member]));
        commands.push(args(&["SADD", "s", &member]));
        commands.push(args(&["HGET", "h", &field]));
        commands.push(args(&["SISMEMBER", "s", &member]));
    }
    assert!(!s.shard.log().enabled());
    assert_eq!(allocated_by(&mut s, &commands, ROUNDS), 0);
}
