//! The sorted set against a model (a sorted vector): ranks, ranges by score and by
//! member, walks in both directions, in both encodings.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::Zset;
use crate::collections::zset_tree::cmp_entry;
use crate::collections::ZsetLimits;

fn model_sorted(model: &[(Vec<u8>, f64)]) -> Vec<(Vec<u8>, f64)> {
    let mut v = model.to_vec();
    v.sort_by(|a, b| cmp_entry(a.1, &a.0, b.1, &b.0));
    v
}

#[test]
fn matches_a_model_in_both_encodings() {
    for entries_max in [0, 8, 128] {
        let limits = ZsetLimits {
            max_listpack_entries: entries_max,
            max_listpack_value_bytes: 64,
        };
        let mut rng = SmallRng::seed_from_u64(entries_max as u64);
        let mut z = Zset::new();
        let mut model: Vec<(Vec<u8>, f64)> = Vec::new();
        for _ in 0..2000 {
            let m = format!("m{}", rng.gen_range(0..50)).into_bytes();
            let score = [f64::NEG_INFINITY, -0.0, 0.0, 1.5, 2.0, f64::INFINITY]
                [rng.gen_range(0..6)]
                + rng.gen_range(0..3) as f64;
            model.retain(|(x, _)| *x != m);
            if rng.gen_bool(0.7) {
                z.insert(&m, score, &limits);
                model.push((m, score));
            } else {
                z.remove(&m);
            }
            z.check_shape();
            let sorted = model_sorted(&model);
            assert_eq!(z.len(), sorted.len());
            assert_eq!(z.entries(), sorted);
            for (rank, (m, s)) in sorted.iter().enumerate() {
                assert_eq!(z.rank(m), Some(rank));
                assert_eq!(z.score(m), Some(*s));
            }
            let bound = rng.gen_range(-1..5) as f64;
            let below = sorted.iter().filter(|(_, s)| *s < bound).count();
            assert_eq!(z.count_before(|s, _| s < bound), below);
            let start = rng.gen_range(0..=sorted.len());
            let mut rev = Vec::new();
            z.walk(start, true, |m, s| {
                rev.push((m.to_vec(), s));
                true
            });
            let want: Vec<_> = sorted.iter().rev().skip(start).cloned().collect();
            assert_eq!(rev, want);
        }
        let expect = if entries_max == 128 {
            "listpack"
        } else {
            "skiplist"
        };
        assert_eq!(z.encoding(), expect);
    }
}

#[test]
fn scan_visits_every_member_of_a_tree() {
    let limits = ZsetLimits {
        max_listpack_entries: 0,
        max_listpack_value_bytes: 0,
    };
    let mut z = Zset::new();
    for i in 0..1000 {
        z.insert(format!("m{i}").as_bytes(), i as f64, &limits);
    }
    for i in (0..1000).step_by(3) {
        z.remove(format!("m{i}").as_bytes());
    }
    let (mut cursor, mut seen) = (0, std::collections::HashSet::new());
    loop {
        cursor = z.scan(cursor, 10, |m, _| {
            seen.insert(m.to_vec());
        });
        if cursor == 0 {
            break;
        }
    }
    assert_eq!(seen.len(), z.len());
}

/// `ZSCAN`'s guarantee while the set changes between steps: every member present for
/// the whole walk is returned, while members come and go and the slot space grows
/// past several powers of two; cursors stay inside the space, as Redis's stay inside
/// its table.
#[test]
fn scan_returns_every_member_present_throughout_while_the_set_changes() {
    let limits = ZsetLimits {
        max_listpack_entries: 0,
        max_listpack_value_bytes: 0,
    };
    let mut z = Zset::new();
    for i in 0..300 {
        z.insert(format!("stay{i}").as_bytes(), (i % 7) as f64, &limits);
    }
    let (mut cursor, mut seen, mut step) = (0, std::collections::HashSet::new(), 0);
    loop {
        cursor = z.scan(cursor, 7, |m, _| {
            seen.insert(m.to_vec());
        });
        let slots = (z.len() + step * 40).next_power_of_two() as u64;
        assert!(
            cursor < slots.max(4),
            "cursor {cursor} outside {slots} slots"
        );
        if cursor == 0 {
            break;
        }
        for j in 0..40 {
            z.insert(format!("come{step}-{j}").as_bytes(), j as f64, &limits);
        }
        if step > 0 {
            for j in 0..20 {
                z.remove(format!("come{}-{j}", step - 1).as_bytes());
            }
        }
        step += 1;
    }
    let missed: Vec<usize> = (0..300)
        .filter(|i| !seen.contains(format!("stay{i}").as_bytes()))
        .collect();
    assert!(missed.is_empty(), "missed {missed:?}");
    assert!(step > 20, "the walk took {step} steps");
}
