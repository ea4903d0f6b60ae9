//! The data structures behind hashes, sets and lists ([`List`], a quicklist of
//! packed nodes, see [`list`]), with Redis 7.0's encodings and
//! conversion rules; pure values, no keyspace, journal or reply code.
//!
//! ```text
//!  HSET/SADD/... handler ──► keyspace lookup ──► Hash / Set (this module) ──► reply
//!                                               │ compact encoding while small
//!                                               └ hash table past the limits
//! ```
//!
//! - [`Hash`](struct@Hash): `listpack` (one packed allocation, [`listpack`]) while
//!   it has at most `hash-max-listpack-entries` fields and every field and value is
//!   at most `hash-max-listpack-value` bytes; `hashtable` ([`dense`]) once either is
//!   passed, and never back (only a rebuild, [`Hash::from_pairs`], as a load,
//!   packs it again).
//! - [`Set`]: `intset` (a sorted integer array, [`intset`]) while every member is an
//!   integer in canonical form and there are at most `set-max-intset-entries`;
//!   `hashtable` past that, and never back except when rebuilt ([`Set::from_members`],
//!   as a load, a `*STORE` result or `SPOP`'s rebuild). Redis 7.0 has no `listpack`
//!   encoding for sets (it arrived in 7.2, with `set-max-listpack-entries` and
//!   `set-max-listpack-value`); this follows 7.0.15, so `OBJECT ENCODING` answers
//!   `intset` or `hashtable` for the same content as `redis-server` 7.0.15 does.
//!
//! - [`Zset`]: `listpack` while it has at most `zset-max-listpack-entries` members,
//!   each at most `zset-max-listpack-value` bytes; an order-statistic tree
//!   ([`zset_tree`], `skiplist` to `OBJECT ENCODING`) past that. See [`zset`].
//!
//! The limits are read at each change (as Redis reads its globals), so `CONFIG SET`
//! affects later changes only; callers pass the current [`HashLimits`]/[`SetLimits`].
//!
//! Elements are read as [`Elem`], which derefs to the element's bytes whether it is
//! stored as bytes or as an integer. Random sampling ([`distinct_positions`],
//! [`repeat_positions`]) works on positions, which every encoding resolves in O(1)
//! (a listpack hash through [`Hash::indexed`]); cursor scans ([`Hash::scan`],
//! [`Set::scan`]) keep `SCAN`'s guarantee as explained in [`dense`].

pub mod dense;
pub mod hash;
pub mod intset;
pub mod list;
pub mod list_node;
pub mod listpack;
pub mod set;
pub mod zset;
pub mod zset_tree;

use std::ops::Deref;

use rand::Rng;

pub use hash::{Hash, HashIncrError, Indexed};
pub use list::{End, List, ListLimits};
pub use set::Set;
pub use zset::Zset;

/// `hash-max-listpack-entries`: most fields a `listpack` hash holds.
pub const HASH_MAX_LISTPACK_ENTRIES: &str = "hash-max-listpack-entries";
/// The 6.x name of [`HASH_MAX_LISTPACK_ENTRIES`], still accepted by 7.0.
pub const HASH_MAX_ZIPLIST_ENTRIES: &str = "hash-max-ziplist-entries";
/// Redis 7.0's default (`config.c` and the shipped `redis.conf`).
pub const HASH_MAX_LISTPACK_ENTRIES_DEFAULT: usize = 512;
/// `hash-max-listpack-value`: longest field or value, in bytes, a `listpack` hash holds.
pub const HASH_MAX_LISTPACK_VALUE: &str = "hash-max-listpack-value";
/// The 6.x name of [`HASH_MAX_LISTPACK_VALUE`], still accepted by 7.0.
pub const HASH_MAX_ZIPLIST_VALUE: &str = "hash-max-ziplist-value";
/// Redis 7.0's default.
pub const HASH_MAX_LISTPACK_VALUE_BYTES_DEFAULT: usize = 64;
/// `set-max-intset-entries`: most members an `intset` set holds.
pub const SET_MAX_INTSET_ENTRIES: &str = "set-max-intset-entries";
/// Redis 7.0's default.
pub const SET_MAX_INTSET_ENTRIES_DEFAULT: usize = 512;

/// `zset-max-listpack-entries`: most members a `listpack` sorted set holds.
pub const ZSET_MAX_LISTPACK_ENTRIES: &str = "zset-max-listpack-entries";
/// The 6.x name of [`ZSET_MAX_LISTPACK_ENTRIES`], still accepted by 7.0.
pub const ZSET_MAX_ZIPLIST_ENTRIES: &str = "zset-max-ziplist-entries";
/// Redis 7.0's default.
pub const ZSET_MAX_LISTPACK_ENTRIES_DEFAULT: usize = 128;
/// `zset-max-listpack-value`: longest member, in bytes, a `listpack` sorted set holds.
pub const ZSET_MAX_LISTPACK_VALUE: &str = "zset-max-listpack-value";
/// The 6.x name of [`ZSET_MAX_LISTPACK_VALUE`], still accepted by 7.0.
pub const ZSET_MAX_ZIPLIST_VALUE: &str = "zset-max-ziplist-value";
/// Redis 7.0's default.
pub const ZSET_MAX_LISTPACK_VALUE_BYTES_DEFAULT: usize = 64;

/// Smallest count `HRANDFIELD`/`SRANDMEMBER` accept: Redis 7.0.15 refuses `i64::MIN`
/// with `ERR value is out of range, value must between -9223372036854775807 and
/// 9223372036854775807`.
pub const RANDOM_COUNT_MIN: i64 = -i64::MAX;

/// Positive sample counts up to `len / this` draw distinct positions one by one;
/// larger ones select over all positions (Redis's `*_SUB_STRATEGY_MUL`).
const SAMPLE_SUB_STRATEGY_MUL: usize = 3;

/// The encoding limits of hashes, as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashLimits {
    pub max_listpack_entries: usize,
    pub max_listpack_value_bytes: usize,
}

impl Default for HashLimits {
    fn default() -> Self {
        HashLimits {
            max_listpack_entries: HASH_MAX_LISTPACK_ENTRIES_DEFAULT,
            max_listpack_value_bytes: HASH_MAX_LISTPACK_VALUE_BYTES_DEFAULT,
        }
    }
}

/// The encoding limits of sets, as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetLimits {
    pub max_intset_entries: usize,
}

impl Default for SetLimits {
    fn default() -> Self {
        SetLimits {
            max_intset_entries: SET_MAX_INTSET_ENTRIES_DEFAULT,
        }
    }
}

/// The encoding limits of sorted sets, as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZsetLimits {
    pub max_listpack_entries: usize,
    pub max_listpack_value_bytes: usize,
}

impl Default for ZsetLimits {
    fn default() -> Self {
        ZsetLimits {
            max_listpack_entries: ZSET_MAX_LISTPACK_ENTRIES_DEFAULT,
            max_listpack_value_bytes: ZSET_MAX_LISTPACK_VALUE_BYTES_DEFAULT,
        }
    }
}

/// Longest decimal text of an `i64` (`-9223372036854775808`).
const I64_TEXT_BYTES_MAX: usize = 20;

/// One element (a member, a field or a value) read from a collection: derefs to its
/// bytes, whether it is stored as bytes or as an integer.
#[derive(Clone, Copy)]
pub struct Elem<'a>(Repr<'a>);

#[derive(Clone, Copy)]
enum Repr<'a> {
    Bytes(&'a [u8]),
    Int {
        value: i64,
        text: [u8; I64_TEXT_BYTES_MAX],
        len: u8,
    },
}

impl<'a> Elem<'a> {
    pub fn bytes(b: &'a [u8]) -> Self {
        Elem(Repr::Bytes(b))
    }

    pub fn from_int(value: i64) -> Self {
        let mut fmt = itoa::Buffer::new();
        let digits = fmt.format(value).as_bytes();
        let mut text = [0u8; I64_TEXT_BYTES_MAX];
        text[..digits.len()].copy_from_slice(digits);
        Elem(Repr::Int {
            value,
            text,
            len: digits.len() as u8,
        })
    }

    /// The integer, when the element is stored as one.
    pub fn stored_int(&self) -> Option<i64> {
        match self.0 {
            Repr::Int { value, .. } => Some(value),
            Repr::Bytes(_) => None,
        }
    }
}

impl Deref for Elem<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match &self.0 {
            Repr::Bytes(b) => b,
            Repr::Int { text, len, .. } => &text[..*len as usize],
        }
    }
}

impl std::fmt::Debug for Elem<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self))
    }
}

/// What a signed `HRANDFIELD`/`SRANDMEMBER` count asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleCount {
    /// A non-negative count: that many distinct elements, at most all of them.
    Distinct(u64),
    /// A negative count: its magnitude in independent draws, repeats allowed.
    Repeats(u64),
}

impl SampleCount {
    /// Never overflows: `i64::MIN`'s magnitude is `2^63`.
    pub fn from_i64(count: i64) -> Self {
        if count >= 0 {
            SampleCount::Distinct(count.unsigned_abs())
        } else {
            SampleCount::Repeats(count.unsigned_abs())
        }
    }
}

/// `min(count, len)` distinct positions below `len`, uniformly chosen. Allocates for
/// the positions returned only, so at most `len` of them whatever `count` is. All
/// positions, in order, when `count >= len` (Redis replies with the whole collection);
/// in order for large samples, in random order for small ones.
pub fn distinct_positions(len: usize, count: u64, rng: &mut impl Rng) -> Vec<usize> {
    let k = count.min(len as u64) as usize;
    if k == len {
        return (0..len).collect();
    }
    let mut out = Vec::with_capacity(k);
    if k * SAMPLE_SUB_STRATEGY_MUL > len {
        // Selection sampling (Knuth's algorithm S): O(len), which is O(k) here.
        for i in 0..len {
            if out.len() == k {
                break;
            }
            if rng.gen_range(0..len - i) < k - out.len() {
                out.push(i);
            }
        }
    } else {
        // Floyd's algorithm: O(k) draws, each new.
        let mut chosen = hashbrown::HashSet::with_capacity(k);
        for j in len - k..len {
            let t = rng.gen_range(0..=j);
            let pick = if chosen.contains(&t) { j } else { t };
            chosen.insert(pick);
            out.push(pick);
        }
    }
    debug_assert_eq!(out.len(), k);
    out
}

/// `count` independent uniform positions below `len` (none when `len` is 0), drawn
/// lazily: nothing is allocated for the count, and the caller may stop early.
pub fn repeat_positions<R: Rng>(len: usize, count: u64, rng: &mut R) -> RepeatPositions<'_, R> {
    RepeatPositions {
        len,
        remaining: if len == 0 { 0 } else { count },
        rng,
    }
}

/// Iterator of [`repeat_positions`].
pub struct RepeatPositions<'r, R> {
    len: usize,
    remaining: u64,
    rng: &'r mut R,
}

impl<R: Rng> Iterator for RepeatPositions<'_, R> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        Some(self.rng.gen_range(0..self.len))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = usize::try_from(self.remaining).unwrap_or(usize::MAX);
        (n, usize::try_from(self.remaining).ok())
    }
}

#[cfg(test)]
mod tests;
