//! Which key each request touches: uniform, zipfian or sequential key indexes.
//!
//! A key is `--key-prefix` followed by a decimal index in `0..keyspace`. Each worker
//! thread owns one [`KeyGen`], so drawing a key takes no lock. Sequential keys are
//! split into one contiguous slice per thread, so `-n N` requests over a keyspace of N
//! touch every key exactly once whatever the thread count.
//!
//! The zipfian generator uses rejection inversion (Hörmann and Derflinger, "Rejection-
//! inversion to generate variates from monotone discrete distributions", 1996): O(1)
//! set-up and O(1) expected time per draw for any keyspace, where the YCSB method
//! must first sum a zeta series over the whole keyspace. Index 0 is the hottest key;
//! the probability of index `i` is proportional to `1 / (i + 1)^skew`.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::fmt;
use std::ops::Range;

/// How key indexes are drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Distribution {
    Uniform,
    Zipfian { skew: f64 },
    Sequential,
}

impl fmt::Display for Distribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Distribution::Uniform => f.write_str("uniform"),
            Distribution::Zipfian { skew } => write!(f, "zipfian({skew})"),
            Distribution::Sequential => f.write_str("sequential"),
        }
    }
}

/// A per-thread source of key indexes.
pub struct KeyGen {
    rng: SmallRng,
    kind: Kind,
}

enum Kind {
    Uniform { keyspace: u64 },
    Zipfian(Zipf),
    Sequential { slice: Range<u64>, next: u64 },
}

impl KeyGen {
    /// `slice` is this thread's share of the keyspace, used only by `Sequential`;
    /// an empty slice means the whole keyspace.
    pub fn new(distribution: Distribution, keyspace: u64, slice: Range<u64>, seed: u64) -> Self {
        assert!(keyspace > 0);
        assert!(slice.end <= keyspace);
        let kind = match distribution {
            Distribution::Uniform => Kind::Uniform { keyspace },
            Distribution::Zipfian { skew } => Kind::Zipfian(Zipf::new(keyspace, skew)),
            Distribution::Sequential => {
                let slice = if slice.is_empty() { 0..keyspace } else { slice };
                Kind::Sequential {
                    next: slice.start,
                    slice,
                }
            }
        };
        KeyGen {
            rng: SmallRng::seed_from_u64(seed),
            kind,
        }
    }

    /// The next key index, always below the keyspace.
    pub fn next_index(&mut self) -> u64 {
        match &mut self.kind {
            Kind::Uniform { keyspace } => self.rng.gen_range(0..*keyspace),
            Kind::Zipfian(zipf) => zipf.sample(&mut self.rng) - 1,
            Kind::Sequential { slice, next } => {
                let index = *next;
                *next = if index + 1 == slice.end {
                    slice.start
                } else {
                    index + 1
                };
                index
            }
        }
    }
}

/// Zipf's law over ranks `1..=n` with exponent `skew`, by rejection inversion.
///
/// `h(x) = x^-skew` is the (unnormalised) density; `hi` is its integral and `hi_inv`
/// the inverse of that integral. A uniform draw in the integral's range is mapped back
/// to `x`, rounded to the rank `k`, and accepted when it falls under the bar of `k`.
struct Zipf {
    n: f64,
    skew: f64,
    hi_x1: f64,
    hi_n: f64,
    s: f64,
}

impl Zipf {
    fn new(n: u64, skew: f64) -> Self {
        assert!(n > 0);
        assert!(skew > 0.0 && skew.is_finite());
        let mut zipf = Zipf {
            n: n as f64,
            skew,
            hi_x1: 0.0,
            hi_n: 0.0,
            s: 0.0,
        };
        zipf.hi_x1 = zipf.hi(1.5) - 1.0;
        zipf.hi_n = zipf.hi(zipf.n + 0.5);
        zipf.s = 2.0 - zipf.hi_inv(zipf.hi(2.5) - zipf.h(2.0));
        zipf
    }

    /// A rank in `1..=n`.
    fn sample(&self, rng: &mut SmallRng) -> u64 {
        // Acceptance is above 90% for every skew, so this ends after a couple of rounds;
        // the bound only guards against a numerical surprise.
        const ROUNDS_MAX: usize = 1_000;
        for _ in 0..ROUNDS_MAX {
            let u = self.hi_n + rng.gen::<f64>() * (self.hi_x1 - self.hi_n);
            let x = self.hi_inv(u);
            let k = (x + 0.5).floor().clamp(1.0, self.n);
            if k - x <= self.s || u >= self.hi(k + 0.5) - self.h(k) {
                return k as u64;
            }
        }
        1
    }

    fn h(&self, x: f64) -> f64 {
        (-self.skew * x.ln()).exp()
    }

    fn hi(&self, x: f64) -> f64 {
        let log_x = x.ln();
        expm1_over_x((1.0 - self.skew) * log_x) * log_x
    }

    fn hi_inv(&self, x: f64) -> f64 {
        let t = (x * (1.0 - self.skew)).max(-1.0);
        (ln1p_over_x(t) * x).exp()
    }
}

/// `ln(1 + x) / x`, continuous at 0.
fn ln1p_over_x(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.ln_1p() / x
    } else {
        1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x))
    }
}

/// `(e^x - 1) / x`, continuous at 0.
fn expm1_over_x(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.exp_m1() / x
    } else {
        1.0 + x * 0.5 * (1.0 + x / 3.0 * (1.0 + 0.25 * x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DRAWS: usize = 400_000;

    fn histogram(distribution: Distribution, keyspace: u64) -> Vec<u64> {
        let mut gen = KeyGen::new(distribution, keyspace, 0..0, 7);
        let mut counts = vec![0u64; keyspace as usize];
        for _ in 0..DRAWS {
            let index = gen.next_index();
            assert!(index < keyspace, "{index} outside keyspace {keyspace}");
            counts[index as usize] += 1;
        }
        counts
    }

    /// Least-squares slope of log(frequency) against log(rank) over the first ranks.
    fn log_log_slope(counts: &[u64], ranks: usize) -> f64 {
        let points: Vec<(f64, f64)> = (0..ranks)
            .map(|i| (((i + 1) as f64).ln(), (counts[i] as f64).ln()))
            .collect();
        let n = points.len() as f64;
        let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
        let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
        let cov: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
        let var: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
        cov / var
    }

    #[test]
    fn zipfian_rank_frequency_follows_the_skew() {
        for skew in [0.6, 0.99, 1.0, 1.5] {
            let counts = histogram(Distribution::Zipfian { skew }, 10_000);
            let hottest = counts
                .iter()
                .enumerate()
                .max_by_key(|(_, c)| **c)
                .unwrap()
                .0;
            assert_eq!(hottest, 0, "skew {skew}: key 0 must be the most frequent");
            let slope = log_log_slope(&counts, 30);
            assert!(
                (slope + skew).abs() < 0.1,
                "skew {skew}: log-log slope {slope}"
            );
            let ratio = counts[0] as f64 / counts[9] as f64;
            let expected = 10f64.powf(skew);
            assert!(
                (ratio / expected - 1.0).abs() < 0.2,
                "skew {skew}: f(0)/f(9) = {ratio}, expected {expected}"
            );
        }
    }

    #[test]
    fn zipfian_matches_the_exact_probability_of_key_zero() {
        let keyspace = 1_000u64;
        let skew = 0.99;
        let counts = histogram(Distribution::Zipfian { skew }, keyspace);
        let zeta: f64 = (1..=keyspace).map(|i| 1.0 / (i as f64).powf(skew)).sum();
        let observed = counts[0] as f64 / DRAWS as f64;
        let expected = 1.0 / zeta;
        assert!(
            (observed / expected - 1.0).abs() < 0.03,
            "{observed} vs {expected}"
        );
    }

    #[test]
    fn zipfian_stays_inside_tiny_and_huge_keyspaces() {
        let mut one = KeyGen::new(Distribution::Zipfian { skew: 0.99 }, 1, 0..0, 1);
        assert!((0..1_000).all(|_| one.next_index() == 0));
        let huge = 1u64 << 50;
        let mut gen = KeyGen::new(Distribution::Zipfian { skew: 0.99 }, huge, 0..0, 1);
        assert!((0..10_000).all(|_| gen.next_index() < huge));
    }

    #[test]
    fn uniform_covers_the_keyspace_evenly() {
        let counts = histogram(Distribution::Uniform, 100);
        let expected = DRAWS as f64 / 100.0;
        for (index, &count) in counts.iter().enumerate() {
            assert!(
                (count as f64 / expected - 1.0).abs() < 0.1,
                "key {index}: {count}"
            );
        }
    }

    #[test]
    fn sequential_walks_its_slice_and_wraps() {
        let mut gen = KeyGen::new(Distribution::Sequential, 10, 3..6, 0);
        let drawn: Vec<u64> = (0..7).map(|_| gen.next_index()).collect();
        assert_eq!(drawn, [3, 4, 5, 3, 4, 5, 3]);
        let mut whole = KeyGen::new(Distribution::Sequential, 3, 0..0, 0);
        let drawn: Vec<u64> = (0..4).map(|_| whole.next_index()).collect();
        assert_eq!(drawn, [0, 1, 2, 0]);
    }
}
