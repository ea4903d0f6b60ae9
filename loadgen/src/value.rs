//! Values written by `SET`-like commands: sizes from `--value-size`, bytes from a pool.
//!
//! All values are slices of one pool of random printable bytes generated at start-up,
//! taken at a random offset so consecutive values differ; no request allocates or
//! fills a value of its own.

use crate::limits::{VALUE_BYTES_MAX, VALUE_POOL_SLACK_BYTES};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::fmt;
use std::str::FromStr;

/// Value length: one size (`32`) or an inclusive range drawn uniformly (`16-128`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValueSize {
    pub min_bytes: usize,
    pub max_bytes: usize,
}

impl FromStr for ValueSize {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let parse = |part: &str| {
            part.trim()
                .parse::<usize>()
                .map_err(|_| format!("value size '{text}' is not BYTES or MIN-MAX"))
        };
        let (min_bytes, max_bytes) = match text.split_once('-') {
            Some((min, max)) => (parse(min)?, parse(max)?),
            None => (parse(text)?, parse(text)?),
        };
        if min_bytes > max_bytes {
            return Err(format!(
                "value size range '{text}' has its minimum above its maximum"
            ));
        }
        if max_bytes > VALUE_BYTES_MAX {
            return Err(format!(
                "value size {max_bytes} exceeds {VALUE_BYTES_MAX} bytes"
            ));
        }
        Ok(ValueSize {
            min_bytes,
            max_bytes,
        })
    }
}

impl fmt::Display for ValueSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.min_bytes == self.max_bytes {
            write!(f, "{}", self.min_bytes)
        } else {
            write!(f, "{}-{}", self.min_bytes, self.max_bytes)
        }
    }
}

/// Where one value sits in the pool.
#[derive(Clone, Copy, Debug)]
pub struct ValueSlot {
    pub offset: usize,
    pub len_bytes: usize,
}

/// A per-thread value source.
pub struct ValueGen {
    pool: Vec<u8>,
    size: ValueSize,
    rng: SmallRng,
}

impl ValueGen {
    pub fn new(size: ValueSize, seed: u64) -> Self {
        assert!(size.min_bytes <= size.max_bytes);
        assert!(size.max_bytes <= VALUE_BYTES_MAX);
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        let mut rng = SmallRng::seed_from_u64(seed);
        let pool = (0..size.max_bytes + VALUE_POOL_SLACK_BYTES)
            .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())])
            .collect();
        ValueGen { pool, size, rng }
    }

    /// Chooses the next value's length and position.
    pub fn draw(&mut self) -> ValueSlot {
        let len_bytes = if self.size.min_bytes == self.size.max_bytes {
            self.size.min_bytes
        } else {
            self.rng
                .gen_range(self.size.min_bytes..=self.size.max_bytes)
        };
        let offset = self.rng.gen_range(0..=VALUE_POOL_SLACK_BYTES);
        ValueSlot { offset, len_bytes }
    }

    pub fn bytes(&self, slot: ValueSlot) -> &[u8] {
        &self.pool[slot.offset..slot.offset + slot.len_bytes]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sizes_and_ranges() {
        assert_eq!(
            "32".parse::<ValueSize>().unwrap(),
            ValueSize {
                min_bytes: 32,
                max_bytes: 32
            }
        );
        assert_eq!(
            "16-128".parse::<ValueSize>().unwrap(),
            ValueSize {
                min_bytes: 16,
                max_bytes: 128
            }
        );
        assert!("128-16".parse::<ValueSize>().is_err());
        assert!("x".parse::<ValueSize>().is_err());
        assert!(format!("{}", VALUE_BYTES_MAX + 1)
            .parse::<ValueSize>()
            .is_err());
    }

    #[test]
    fn draws_lengths_within_the_range() {
        let mut gen = ValueGen::new("3-5".parse().unwrap(), 1);
        let mut seen = [false; 6];
        for _ in 0..1_000 {
            let slot = gen.draw();
            assert!((3..=5).contains(&slot.len_bytes));
            assert_eq!(gen.bytes(slot).len(), slot.len_bytes);
            assert!(gen.bytes(slot).iter().all(u8::is_ascii_alphanumeric));
            seen[slot.len_bytes] = true;
        }
        assert!(seen[3] && seen[4] && seen[5]);
    }
}
