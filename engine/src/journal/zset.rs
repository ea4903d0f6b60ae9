//! The journal's encoding of sorted sets: the whole value (value tags 8 and 9) and
//! the deltas `ZAdd` (tag 25) and `ZRem` (tag 26), kept apart from the rest of the
//! codec ([`super`]) so the sorted-set family owns its layout.
//!
//! ```text
//!  value  8 = zset, listpack: count entry…    entry: member (bytes), score (f64, 8 B LE)
//!         9 = zset, skiplist: count entry…    count ≥ 1, members distinct, entries
//!                                             ascending by (score, member), no NaN
//!  ZAdd  25  db key count entry…              scores set on an existing sorted set
//!  ZRem  26  db key count member…             members removed from a sorted set
//! ```

use hashbrown::HashSet;

use super::{put_bytes, put_delta_head, put_varint, varint_bytes, DecodeError, Reader};
use crate::collections::zset_tree::cmp_entry;
use crate::collections::{Zset, ZsetLimits};
use crate::value::Value;

pub(super) const TAG_ZADD: u8 = 25;
pub(super) const TAG_ZREM: u8 = 26;
pub(super) const VALUE_ZSET_LISTPACK: u8 = 8;
pub(super) const VALUE_ZSET_TREE: u8 = 9;
/// Bytes of an encoded score.
const SCORE_BYTES: usize = 8;

/// Limits that keep a decoded sorted set in the encoding its record names.
const KEEP_LISTPACK: ZsetLimits = ZsetLimits {
    max_listpack_entries: usize::MAX,
    max_listpack_value_bytes: usize::MAX,
};
const TO_TREE: ZsetLimits = ZsetLimits {
    max_listpack_entries: 0,
    max_listpack_value_bytes: 0,
};

/// A change to the sorted set at `key` ([`super::Effect::Zset`]).
#[derive(Debug, Clone, PartialEq)]
pub enum ZsetDelta<'a> {
    /// Set these members' scores (adding the new ones), in order.
    Add {
        db: usize,
        key: &'a [u8],
        entries: Vec<(f64, &'a [u8])>,
    },
    /// Remove these members.
    Rem {
        db: usize,
        key: &'a [u8],
        members: Vec<&'a [u8]>,
    },
}

impl ZsetDelta<'_> {
    /// Appends the delta's encoding, tag included.
    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        match self {
            ZsetDelta::Add { db, key, entries } => {
                put_delta_head(TAG_ZADD, *db, key, entries.len(), out);
                for (score, member) in entries {
                    assert!(!score.is_nan());
                    put_bytes(member, out);
                    out.extend_from_slice(&score.to_le_bytes());
                }
            }
            ZsetDelta::Rem { db, key, members } => {
                put_delta_head(TAG_ZREM, *db, key, members.len(), out);
                members.iter().for_each(|m| put_bytes(m, out));
            }
        }
    }
}

/// A whole sorted set: its value tag, count and entries.
pub(super) fn put_value(z: &Zset, out: &mut Vec<u8>) {
    assert!(!z.is_empty());
    out.push(match z.encoding() {
        "listpack" => VALUE_ZSET_LISTPACK,
        _ => VALUE_ZSET_TREE,
    });
    put_varint(z.len() as u64, out);
    z.walk(0, false, |m, s| {
        put_bytes(m, out);
        out.extend_from_slice(&s.to_le_bytes());
        true
    });
}

/// Bytes [`put_value`] writes after the tag.
pub(super) fn value_bytes(z: &Zset) -> usize {
    let mut n = varint_bytes(z.len() as u64);
    z.walk(0, false, |m, _| {
        n += varint_bytes(m.len() as u64) + m.len() + SCORE_BYTES;
        true
    });
    n
}

impl<'a> Reader<'a> {
    fn score(&mut self) -> Result<f64, DecodeError> {
        if self.rest.len() < SCORE_BYTES {
            return Err(DecodeError::Truncated);
        }
        let (bytes, rest) = self.rest.split_at(SCORE_BYTES);
        self.rest = rest;
        let score = f64::from_le_bytes(bytes.try_into().expect("8 bytes"));
        match score.is_nan() {
            true => Err(DecodeError::BadCollection),
            false => Ok(score),
        }
    }

    fn zset_entries(&mut self) -> Result<Vec<(f64, &'a [u8])>, DecodeError> {
        let n = self.count()?;
        let mut entries = Vec::with_capacity(n);
        for _ in 0..n {
            let member = self.bytes()?;
            entries.push((self.score()?, member));
        }
        Ok(entries)
    }

    /// A `ZAdd` or `ZRem` after its tag.
    pub(super) fn zset_delta(&mut self, tag: u8) -> Result<ZsetDelta<'a>, DecodeError> {
        let (db, key) = (self.db()?, self.bytes()?);
        if tag == TAG_ZREM {
            let members = self.delta_items()?;
            return Ok(ZsetDelta::Rem { db, key, members });
        }
        let entries = self.zset_entries()?;
        if entries.is_empty() {
            return Err(DecodeError::EmptyDelta);
        }
        Ok(ZsetDelta::Add { db, key, entries })
    }

    /// A whole sorted set after its value tag.
    pub(super) fn zset_value(&mut self, tag: u8) -> Result<Value, DecodeError> {
        let entries = self.zset_entries()?;
        let mut members = HashSet::with_capacity(entries.len());
        let canonical = !entries.is_empty()
            && entries.iter().all(|(_, m)| members.insert(*m))
            && entries
                .windows(2)
                .all(|w| cmp_entry(w[0].0, w[0].1, w[1].0, w[1].1).is_lt());
        if !canonical {
            return Err(DecodeError::BadCollection);
        }
        let limits = match tag {
            VALUE_ZSET_LISTPACK => KEEP_LISTPACK,
            _ => TO_TREE,
        };
        let z = Zset::from_entries(entries.iter().map(|&(s, m)| (m, s)), &limits);
        Ok(Value::Zset(z))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Effect, TAG_SET};
    use super::*;

    /// A `Set` of a sorted set with `entries` (member, score), as a listpack.
    fn zset_record(entries: &[(&str, f64)]) -> Vec<u8> {
        let mut bytes = vec![TAG_SET, 0, 1, b'z', 0, VALUE_ZSET_LISTPACK];
        put_varint(entries.len() as u64, &mut bytes);
        for (member, score) in entries {
            put_bytes(member.as_bytes(), &mut bytes);
            bytes.extend_from_slice(&score.to_le_bytes());
        }
        bytes
    }

    /// A whole sorted set must be what encoding one writes: not empty, no member
    /// twice, entries ascending by (score, member), no NaN.
    #[test]
    fn sorted_sets_that_no_encoder_writes_are_refused() {
        let canonical = zset_record(&[("a", 1.0), ("b", 1.0), ("a0", 2.0)]);
        let effect = Effect::decode(&canonical).expect("canonical");
        let mut again = Vec::new();
        effect.encode(&mut again);
        assert_eq!(again, canonical);
        for entries in [
            &[][..],
            &[("a", 1.0), ("a", 2.0)],
            &[("b", 1.0), ("a", 1.0)],
            &[("a", 2.0), ("b", 1.0)],
            &[("a", f64::NAN)],
        ] {
            assert_eq!(
                Effect::decode(&zset_record(entries)),
                Err(DecodeError::BadCollection),
                "{entries:?}"
            );
        }
    }
}
