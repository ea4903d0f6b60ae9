//! A shard's journal as bytes: how records are framed, what their payloads say
//! (effects), how recovery reads a journal back and decides where it ends, and how an
//! effect is redone on a keyspace. No files here; the server owns the I/O.
//!
//! ```text
//!  write:   Effect ──► encode_effect_record(lsn) ──► journal buffer ──► file
//!  recover: file ──► scan ──► records (offset, lsn, payload) + how the journal ended
//!                               └──► Effect::decode ──► replay::apply_effect(shard)
//! ```
//!
//! # Record layout
//!
//! ```text
//!  0        4        8                16              16+len
//!  ┌────────┬────────┬────────────────┬───────────────┐
//!  │ len    │ crc    │ lsn            │ payload       │
//!  │ u32 LE │ u32 LE │ u64 LE         │ len bytes     │
//!  └────────┴────────┴────────────────┴───────────────┘
//!  crc = CRC32C(lsn bytes ‖ payload)
//! ```
//!
//! Records are packed back to back with no alignment. The length is bounded by
//! [`JOURNAL_RECORD_PAYLOAD_BYTES_MIN`] and [`JOURNAL_RECORD_PAYLOAD_BYTES_MAX`]; LSN 0
//! ([`LSN_NONE`]) and `u64::MAX` are never used, and within one journal each record's
//! LSN is the previous one's plus 1. A zero-filled header therefore never frames a
//! record (its length is 0), so zeros past the last record (a writer's reserved
//! tail, direct-I/O padding) read as the end: [`End::Reserved`].
//!
//! # Where a journal ends
//!
//! [`scan`] stops at the first record that is not whole, checksummed and next in
//! LSN order, and tells a torn tail from damage in the middle: see `record`.
//!
//! # Effect records
//!
//! A record's payload is one [`Effect`]: a deterministic description of what a write
//! changed (absolute deadlines, resolved random choices), so replaying it with
//! [`crate::replay::apply_effect`] reproduces the data without a clock. The encoding is a tag byte,
//! then the effect's fields in order; integers are LEB128 varints (canonical: no
//! redundant high groups), byte strings are a varint length then the bytes, values
//! are a type tag then the type's body, and a list is a varint count then its items.
//!
//! ```text
//!  Set       1  db key expire_at_ms value     value: type tag, then the body
//!  Del       2  db key                                1 = string: bytes
//!                                                     2 = hash, listpack: count pair…
//!                                                     3 = hash, hashtable: count pair…
//!                                                     4 = set, intset: count member…
//!                                                     5 = set, hashtable: count member…
//!                                                     8, 9 = zset (see `zset.rs`)
//!                                            pair: field value (bytes each);
//!                                            count ≥ 1, elements distinct, an intset's
//!                                            canonical integers ascending
//!  ExpireAt  3  db key at_ms (≠ 0)
//!  Persist   4  db key
//!  FlushDb   5  db
//!  FlushAll  6
//!  SwapDb    7  a b
//!  Move      8  from_db to_db (≠ from_db) key
//!  TxPart    9  tx_id count participant…     participant: shard (u16) lsn (≠ 0),
//!              count effect…                 shards strictly increasing;
//!                                            no effect a TxPart
//!  Nop      10  zero padding
//!  Append   11  db key bytes                 bytes appended to a string
//!  SetRange 12  db key offset bytes          bytes written at offset of a string,
//!                                            zero-filled up to offset if shorter;
//!                                            offset + len ≤ DELTA_END_BYTES_MAX
//!  HSet     13  db key count pair…           fields set on an existing hash, in order
//!  HDel     14  db key count field…          fields removed from a hash
//!  SAdd     15  db key count member…         members added to an existing set
//!  SRem     16  db key count member…         members removed from a set
//!  ZAdd, ZRem   25, 26                       sorted-set deltas (see `zset.rs`)
//!  LPush…   17–24  list changes; value type 6 is a list: see [`list`]
//!  Rename, Copy 27, 28                       a key renamed or copied (see `keys.rs`)
//! ```
//!
//! A whole hash or set carries its encoding, so a replayed or loaded value is
//! encoded as the live one was whatever the configured limits are now; the deltas
//! convert it by the limits the replaying shard has, as the live shard did.
//!
//! # Versioning and deltas
//!
//! A tag, once written, keeps its meaning forever: a journal, a snapshot or a
//! replica's stream written by an older version reads the same under a newer one.
//! New kinds of change get new tags. `Set` restates a whole key and works for any
//! value; the delta tags (`Append`, `SetRange`) describe an in-place change to a
//! string by the bytes it changed, so a large value grown or patched is not
//! journaled again whole (the door picks one or the other, with
//! [`EFFECT_WHOLE_VALUE_BYTES_MAX`]). Collections add their own deltas the same way
//! (`HSet`, `HDel`, `LPush`, `LTrim`, `ZAdd`, …) from tag 13 on.
//!
//! Effects and values are encoded in `encode.rs` and decoded here, each family with
//! a file of its own (`keys.rs`, `zset.rs`, `list.rs`) encoding and decoding its
//! part. Every decoded form re-encodes to the same bytes. Decoding never panics,
//! and it allocates only after checking that the input holds at least the bytes or
//! items a length or count claims.

mod keys;
mod zset;
pub use zset::ZsetDelta;

use std::borrow::Cow;
use std::ops::Range;

pub mod list;
use list::{ListEffect, TAG_LPUSH, TAG_LTRIM, VALUE_LIST_QUICKLIST};

mod record;
pub use record::*;

mod encode;
pub use encode::encode_tx_part_record;
pub(crate) use encode::value_bytes;

use crate::collections::{Hash, HashLimits, Set, SetLimits};
use crate::keyspace::db::NO_EXPIRE;
use crate::limits::{
    DATABASES, JOURNAL_RECORD_BYTES_MIN, JOURNAL_RECORD_HEADER_BYTES,
    JOURNAL_RECORD_PAYLOAD_BYTES_MAX, JOURNAL_RECORD_PAYLOAD_BYTES_MIN,
};
use crate::value::Value;

/// No LSN: never written in a record, so a zeroed header cannot pass as one.
pub const LSN_NONE: u64 = 0;

/// What one write changed, in the form the journal keeps: enough to redo it on a
/// keyspace without a clock or a random generator. To journal a write, keys and
/// values are borrowed from the command and the keyspace, so nothing is copied but
/// into the journal buffer; decoding borrows keys from the record and copies values
/// out, since the keyspace will own them.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect<'a> {
    /// Store `value` at `key` with deadline `expire_at_ms` ([`NO_EXPIRE`] for none).
    Set {
        db: usize,
        key: &'a [u8],
        value: Cow<'a, Value>,
        expire_at_ms: u64,
    },
    Del {
        db: usize,
        key: &'a [u8],
    },
    /// Set an existing key's deadline to the absolute time `at_ms` (never
    /// [`NO_EXPIRE`]: that is [`Effect::Persist`]).
    ExpireAt {
        db: usize,
        key: &'a [u8],
        at_ms: u64,
    },
    Persist {
        db: usize,
        key: &'a [u8],
    },
    FlushDb {
        db: usize,
    },
    FlushAll,
    SwapDb {
        a: usize,
        b: usize,
    },
    /// Move a key and its deadline to another database of the same shard.
    Move {
        from_db: usize,
        to_db: usize,
        key: &'a [u8],
    },
    /// Rename `src` to `dst` (replacing it) with its deadline: `RENAME` with both
    /// keys on this shard.
    Rename {
        db: usize,
        src: &'a [u8],
        dst: &'a [u8],
    },
    /// Copy the entry at `src` to `dst` (replacing it): `COPY` with both keys on
    /// this shard.
    Copy {
        src_db: usize,
        src: &'a [u8],
        dst_db: usize,
        dst: &'a [u8],
    },
    /// This shard's part of a multi-shard transaction: recovery applies it only if
    /// the journal of every shard in `participants` holds its part of `tx_id`.
    TxPart {
        tx_id: u64,
        participants: Vec<Participant>,
        effects: Vec<Effect<'a>>,
    },
    /// Nothing: what recovery leaves in place of a transaction part it did not
    /// apply, so the LSN names the same (empty) change everywhere the journal is
    /// read again, a replica's stream included. `padding` zero bytes follow the
    /// tag, keeping the record's length.
    Nop {
        padding: usize,
    },
    /// Append `bytes` to the string at `key`.
    Append {
        db: usize,
        key: &'a [u8],
        bytes: &'a [u8],
    },
    /// Write `bytes` at `offset` of the string at `key`, zero-filling it up to
    /// `offset` if it is shorter.
    SetRange {
        db: usize,
        key: &'a [u8],
        offset: u64,
        bytes: &'a [u8],
    },
    /// Set these fields of the hash at `key`, in order.
    HSet {
        db: usize,
        key: &'a [u8],
        pairs: Vec<(&'a [u8], &'a [u8])>,
    },
    /// Remove these fields from the hash at `key`.
    HDel {
        db: usize,
        key: &'a [u8],
        fields: Vec<&'a [u8]>,
    },
    /// Add these members to the set at `key`.
    SAdd {
        db: usize,
        key: &'a [u8],
        members: Vec<&'a [u8]>,
    },
    /// Remove these members from the set at `key`.
    SRem {
        db: usize,
        key: &'a [u8],
        members: Vec<&'a [u8]>,
    },
    /// A sorted-set delta (`ZAdd`, `ZRem`).
    Zset(ZsetDelta<'a>),
    /// Change a list in place.
    List(ListEffect<'a>),
}

/// A shard taking part in a multi-shard transaction and the LSN its part has in
/// that shard's journal. The coordinator learns each LSN while it holds the shard's
/// lock, when nothing else can append there, so recovery can ask "does shard `s`'s
/// journal (or snapshot) reach `lsn`?" instead of searching for the part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Participant {
    pub shard: u16,
    pub lsn: u64,
}

const TAG_SET: u8 = 1;
const TAG_DEL: u8 = 2;
const TAG_EXPIRE_AT: u8 = 3;
const TAG_PERSIST: u8 = 4;
const TAG_FLUSH_DB: u8 = 5;
const TAG_FLUSH_ALL: u8 = 6;
const TAG_SWAP_DB: u8 = 7;
const TAG_MOVE: u8 = 8;
const TAG_TX_PART: u8 = 9;
const TAG_NOP: u8 = 10;
const TAG_APPEND: u8 = 11;
const TAG_SET_RANGE: u8 = 12;
const TAG_HSET: u8 = 13;
const TAG_HDEL: u8 = 14;
const TAG_SADD: u8 = 15;
const TAG_SREM: u8 = 16;

/// Values up to this many bytes are journaled whole after an in-place change (a
/// `Set` restating the key, no larger than a delta and simpler to replay); larger
/// ones by the bytes that changed (`Append`, `SetRange`).
pub const EFFECT_WHOLE_VALUE_BYTES_MAX: usize = 64;

/// Largest end (`offset + len`) a `SetRange` may write: what one record may carry,
/// so a damaged offset cannot ask replay for an absurd allocation.
pub const DELTA_END_BYTES_MAX: u64 = JOURNAL_RECORD_PAYLOAD_BYTES_MAX as u64;

/// The participants of a record's `TxPart` payload; `None` for any other effect.
pub fn tx_participants(payload: &[u8]) -> Option<Result<Vec<Participant>, DecodeError>> {
    if payload.first() != Some(&TAG_TX_PART) {
        return None;
    }
    let mut r = Reader {
        rest: &payload[1..],
    };
    Some(r.varint().and_then(|_| r.participants()))
}

/// Turns the whole record `record` (header and payload) into an [`Effect::Nop`]
/// of the same LSN and length, resealed.
pub fn neutralize_record(record: &mut [u8]) {
    let lsn = u64::from_le_bytes(record[8..16].try_into().expect("record header"));
    let payload = &mut record[JOURNAL_RECORD_HEADER_BYTES..];
    payload.fill(0);
    payload[0] = TAG_NOP;
    seal(lsn, 0, record);
}

const VALUE_STR: u8 = 1;
const VALUE_HASH_LISTPACK: u8 = 2;
const VALUE_HASH_TABLE: u8 = 3;
const VALUE_SET_INTSET: u8 = 4;
const VALUE_SET_TABLE: u8 = 5;

/// Longest LEB128 encoding of a `u64`.
const VARINT_BYTES_MAX: usize = 10;

/// Why a payload is not an effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// The input ends inside a field, or a length or count claims more than is left.
    Truncated,
    /// Bytes remain after a whole effect.
    TrailingBytes,
    UnknownTag(u8),
    UnknownValueType(u8),
    /// A varint longer than a `u64` or with redundant high groups.
    BadVarint,
    DbOutOfRange,
    ShardIdOutOfRange,
    /// A transaction's participants are empty, or not strictly increasing.
    BadParticipants,
    /// A `TxPart` inside a `TxPart`.
    NestedTx,
    /// An `ExpireAt` without a deadline.
    NoDeadline,
    /// A `Move` to the database it comes from, or a `Rename` or `Copy` onto its
    /// own key.
    MoveToSameDb,
    /// A `SetRange` ending past [`DELTA_END_BYTES_MAX`].
    RangeTooLarge,
    /// A hash or set that is empty, repeats an element, or does not fit the
    /// encoding it names (or an intset out of order).
    BadCollection,
    /// A collection delta without elements.
    EmptyDelta,
}

impl<'a> Effect<'a> {
    /// Decodes one whole effect from `buf`, borrowing its keys.
    pub fn decode(buf: &'a [u8]) -> Result<Effect<'a>, DecodeError> {
        let mut r = Reader { rest: buf };
        let effect = r.effect(true)?;
        if !r.rest.is_empty() {
            return Err(DecodeError::TrailingBytes);
        }
        Ok(effect)
    }
}

fn put_varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push(n as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn put_db(db: usize, out: &mut Vec<u8>) {
    assert!(db < DATABASES);
    put_varint(db as u64, out);
}

fn put_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    put_varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

fn put_delta_head(tag: u8, db: usize, key: &[u8], count: usize, out: &mut Vec<u8>) {
    assert!(count > 0);
    out.push(tag);
    put_db(db, out);
    put_bytes(key, out);
    put_varint(count as u64, out);
}

/// Bytes in the LEB128 varint of `n`.
pub(crate) fn varint_bytes(n: u64) -> usize {
    let bits = 64 - (n | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Limits that keep a decoded hash in the encoding its record names: no listpack
/// limit is ever passed, or every write converts.
const KEEP_LISTPACK: HashLimits = HashLimits {
    max_listpack_entries: usize::MAX,
    max_listpack_value_bytes: usize::MAX,
};
const TO_HASH_TABLE: HashLimits = HashLimits {
    max_listpack_entries: 0,
    max_listpack_value_bytes: 0,
};
const KEEP_INTSET: SetLimits = SetLimits {
    max_intset_entries: usize::MAX,
};
const TO_SET_TABLE: SetLimits = SetLimits {
    max_intset_entries: 0,
};

/// A cursor over the bytes of an effect not decoded yet.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn u8(&mut self) -> Result<u8, DecodeError> {
        let (&b, rest) = self.rest.split_first().ok_or(DecodeError::Truncated)?;
        self.rest = rest;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut n = 0u64;
        for i in 0..VARINT_BYTES_MAX {
            let b = self.u8()?;
            let group = u64::from(b & 0x7f);
            let last = b & 0x80 == 0;
            let overflow = i == VARINT_BYTES_MAX - 1 && b > 1;
            let redundant = last && i > 0 && group == 0;
            if overflow || redundant {
                return Err(DecodeError::BadVarint);
            }
            n |= group << (7 * i);
            if last {
                return Ok(n);
            }
        }
        Err(DecodeError::BadVarint)
    }

    /// A count of items that each take at least one byte: never more than is left.
    fn count(&mut self) -> Result<usize, DecodeError> {
        let n = self.varint()?;
        if n > self.rest.len() as u64 {
            return Err(DecodeError::Truncated);
        }
        Ok(n as usize)
    }

    fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.varint()?;
        if n > self.rest.len() as u64 {
            return Err(DecodeError::Truncated);
        }
        let (bytes, rest) = self.rest.split_at(n as usize);
        self.rest = rest;
        Ok(bytes)
    }

    fn db(&mut self) -> Result<usize, DecodeError> {
        let db = self.varint()?;
        if db >= DATABASES as u64 {
            return Err(DecodeError::DbOutOfRange);
        }
        Ok(db as usize)
    }

    fn value(&mut self) -> Result<Value, DecodeError> {
        match self.u8()? {
            VALUE_STR => Ok(Value::Str(self.bytes()?.into())),
            tag @ (VALUE_HASH_LISTPACK | VALUE_HASH_TABLE) => {
                let n = self.count()?;
                let mut pairs = Vec::with_capacity(n);
                for _ in 0..n {
                    pairs.push((self.bytes()?, self.bytes()?));
                }
                let limits = match tag {
                    VALUE_HASH_LISTPACK => KEEP_LISTPACK,
                    _ => TO_HASH_TABLE,
                };
                let hash = Hash::from_pairs(pairs.iter().copied(), &limits);
                let canonical = n > 0
                    && hash.len() == n
                    && (tag == VALUE_HASH_LISTPACK) == (hash.encoding() == "listpack")
                    && hash
                        .iter()
                        .zip(&pairs)
                        .all(|((f, v), (pf, pv))| *f == **pf && *v == **pv);
                canonical
                    .then_some(Value::Hash(hash))
                    .ok_or(DecodeError::BadCollection)
            }
            tag @ (VALUE_SET_INTSET | VALUE_SET_TABLE) => {
                let members = self.items()?;
                let limits = match tag {
                    VALUE_SET_INTSET => KEEP_INTSET,
                    _ => TO_SET_TABLE,
                };
                let set = Set::from_members(members.iter().copied(), &limits);
                let canonical = !members.is_empty()
                    && set.len() == members.len()
                    && (tag == VALUE_SET_INTSET) == (set.encoding() == "intset")
                    && set.iter().zip(&members).all(|(m, pm)| *m == **pm);
                canonical
                    .then_some(Value::Set(set))
                    .ok_or(DecodeError::BadCollection)
            }
            tag @ (zset::VALUE_ZSET_LISTPACK | zset::VALUE_ZSET_TREE) => self.zset_value(tag),
            VALUE_LIST_QUICKLIST => list::read_list(self),
            other => Err(DecodeError::UnknownValueType(other)),
        }
    }

    /// A count, then that many byte strings.
    fn items(&mut self) -> Result<Vec<&'a [u8]>, DecodeError> {
        let n = self.count()?;
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            items.push(self.bytes()?);
        }
        Ok(items)
    }

    /// A delta's elements: at least one.
    fn delta_items(&mut self) -> Result<Vec<&'a [u8]>, DecodeError> {
        let items = self.items()?;
        if items.is_empty() {
            return Err(DecodeError::EmptyDelta);
        }
        Ok(items)
    }

    fn participants(&mut self) -> Result<Vec<Participant>, DecodeError> {
        let n = self.count()?;
        let mut participants: Vec<Participant> = Vec::with_capacity(n);
        for _ in 0..n {
            let shard = self.varint()?;
            let shard = u16::try_from(shard).map_err(|_| DecodeError::ShardIdOutOfRange)?;
            let lsn = self.varint()?;
            if participants.last().is_some_and(|prev| prev.shard >= shard) || !lsn_valid(lsn) {
                return Err(DecodeError::BadParticipants);
            }
            participants.push(Participant { shard, lsn });
        }
        if participants.is_empty() {
            return Err(DecodeError::BadParticipants);
        }
        Ok(participants)
    }

    /// One effect; a `TxPart` only where `tx_allowed`, which bounds nesting at one.
    fn effect(&mut self, tx_allowed: bool) -> Result<Effect<'a>, DecodeError> {
        let effect = match self.u8()? {
            TAG_SET => Effect::Set {
                db: self.db()?,
                key: self.bytes()?,
                expire_at_ms: self.varint()?,
                value: Cow::Owned(self.value()?),
            },
            TAG_DEL => Effect::Del {
                db: self.db()?,
                key: self.bytes()?,
            },
            TAG_EXPIRE_AT => {
                let (db, key, at_ms) = (self.db()?, self.bytes()?, self.varint()?);
                if at_ms == NO_EXPIRE {
                    return Err(DecodeError::NoDeadline);
                }
                Effect::ExpireAt { db, key, at_ms }
            }
            TAG_PERSIST => Effect::Persist {
                db: self.db()?,
                key: self.bytes()?,
            },
            TAG_FLUSH_DB => Effect::FlushDb { db: self.db()? },
            TAG_FLUSH_ALL => Effect::FlushAll,
            TAG_SWAP_DB => Effect::SwapDb {
                a: self.db()?,
                b: self.db()?,
            },
            tag @ (TAG_MOVE | keys::TAG_RENAME | keys::TAG_COPY) => keys::decode(tag, self)?,
            TAG_APPEND => Effect::Append {
                db: self.db()?,
                key: self.bytes()?,
                bytes: self.bytes()?,
            },
            TAG_SET_RANGE => {
                let (db, key, offset, bytes) =
                    (self.db()?, self.bytes()?, self.varint()?, self.bytes()?);
                if offset.saturating_add(bytes.len() as u64) > DELTA_END_BYTES_MAX {
                    return Err(DecodeError::RangeTooLarge);
                }
                Effect::SetRange {
                    db,
                    key,
                    offset,
                    bytes,
                }
            }
            TAG_HSET => self.hset()?,
            TAG_HDEL => Effect::HDel {
                db: self.db()?,
                key: self.bytes()?,
                fields: self.delta_items()?,
            },
            TAG_SADD => Effect::SAdd {
                db: self.db()?,
                key: self.bytes()?,
                members: self.delta_items()?,
            },
            TAG_SREM => Effect::SRem {
                db: self.db()?,
                key: self.bytes()?,
                members: self.delta_items()?,
            },
            tag @ (zset::TAG_ZADD | zset::TAG_ZREM) => Effect::Zset(self.zset_delta(tag)?),
            tag @ TAG_LPUSH..=TAG_LTRIM => ListEffect::decode(tag, self)?,
            TAG_TX_PART if !tx_allowed => return Err(DecodeError::NestedTx),
            TAG_NOP if tx_allowed => {
                if self.rest.iter().any(|&b| b != 0) {
                    return Err(DecodeError::TrailingBytes);
                }
                let padding = self.rest.len();
                self.rest = &[];
                Effect::Nop { padding }
            }
            TAG_TX_PART => self.tx_part()?,
            other => return Err(DecodeError::UnknownTag(other)),
        };
        Ok(effect)
    }

    /// An `HSet` after its tag: at least one field and value.
    fn hset(&mut self) -> Result<Effect<'a>, DecodeError> {
        let (db, key, n) = (self.db()?, self.bytes()?, self.count()?);
        if n == 0 {
            return Err(DecodeError::EmptyDelta);
        }
        let mut pairs = Vec::with_capacity(n);
        for _ in 0..n {
            pairs.push((self.bytes()?, self.bytes()?));
        }
        Ok(Effect::HSet { db, key, pairs })
    }

    /// A `TxPart` after its tag: its effects may not be parts themselves.
    fn tx_part(&mut self) -> Result<Effect<'a>, DecodeError> {
        let tx_id = self.varint()?;
        let participants = self.participants()?;
        let n = self.count()?;
        let mut effects = Vec::with_capacity(n);
        for _ in 0..n {
            effects.push(self.effect(false)?);
        }
        Ok(Effect::TxPart {
            tx_id,
            participants,
            effects,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    /// A journal of `n` records with LSNs from `first_lsn`, payloads of varied
    /// lengths (1 to 40 bytes) and contents; returns it and each record's offset.
    fn journal(n: usize, first_lsn: u64) -> (Vec<u8>, Vec<usize>) {
        let mut buf = Vec::new();
        let mut offsets = Vec::new();
        for i in 0..n {
            offsets.push(buf.len());
            let payload: Vec<u8> = (0..1 + (i * 7) % 40).map(|j| (i + j) as u8).collect();
            encode_record(first_lsn + i as u64, &payload, &mut buf);
        }
        (buf, offsets)
    }

    fn parts(list: &[(u16, u64)]) -> Vec<Participant> {
        list.iter()
            .map(|&(shard, lsn)| Participant { shard, lsn })
            .collect()
    }

    fn offsets_of(scan: &Scan) -> Vec<usize> {
        scan.records.iter().map(|r| r.offset).collect()
    }

    #[test]
    fn header_layout() {
        let mut buf = Vec::new();
        encode_record(0x0102_0304_0506_0708, b"abc", &mut buf);
        assert_eq!(buf.len(), JOURNAL_RECORD_HEADER_BYTES + 3);
        assert_eq!(&buf[0..4], &3u32.to_le_bytes());
        let mut covered = 0x0102_0304_0506_0708u64.to_le_bytes().to_vec();
        covered.extend_from_slice(b"abc");
        assert_eq!(&buf[4..8], &CRC32C.checksum(&covered).to_le_bytes());
        assert_eq!(&buf[8..16], &[8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(&buf[16..], b"abc");
    }

    #[test]
    fn crc32c_is_castagnoli() {
        // The standard check value of CRC-32C.
        assert_eq!(CRC32C.checksum(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn many_records_round_trip() {
        let (buf, offsets) = journal(1000, 77);
        let scan = scan(&buf);
        assert_eq!(scan.end, End::Clean);
        assert_eq!(offsets_of(&scan), offsets);
        for (i, r) in scan.records.iter().enumerate() {
            assert_eq!(r.lsn, 77 + i as u64);
            let payload: Vec<u8> = (0..1 + (i * 7) % 40).map(|j| (i + j) as u8).collect();
            assert_eq!(&buf[r.payload.clone()], &payload[..]);
        }
        assert_eq!(scan.valid_bytes(), buf.len());
        assert_eq!(scan.next_lsn(), Some(1077));
    }

    #[test]
    fn the_scanner_knows_the_end_only_once_it_gets_there() {
        let (mut buf, offsets) = journal(3, 1);
        buf.push(1);
        let mut scanner = Scanner::new(&buf);
        for &offset in &offsets {
            assert_eq!(scanner.end(), None);
            assert_eq!(scanner.next().map(|r| r.offset), Some(offset));
        }
        assert_eq!(scanner.next(), None);
        let torn = End::TornTail {
            offset: buf.len() - 1,
        };
        assert_eq!(scanner.end(), Some(torn));
        assert_eq!(scanner.next(), None, "stays ended");
    }

    #[test]
    fn empty_journal_is_clean() {
        let scan = scan(&[]);
        assert_eq!(scan.end, End::Clean);
        assert!(scan.records.is_empty());
        assert_eq!(scan.valid_bytes(), 0);
        assert_eq!(scan.next_lsn(), None);
    }

    #[test]
    fn truncation_at_every_offset_keeps_the_whole_records_before_the_cut() {
        let (buf, offsets) = journal(40, 1);
        for cut in 0..=buf.len() {
            let scan = scan(&buf[..cut]);
            let whole = offsets
                .iter()
                .zip(offsets.iter().skip(1).chain([&buf.len()]))
                .take_while(|(_, &end)| end <= cut)
                .count();
            assert_eq!(scan.records.len(), whole, "cut at {cut}");
            let boundary = offsets.contains(&cut) || cut == buf.len();
            let expected = if boundary {
                End::Clean
            } else {
                End::TornTail {
                    offset: offsets[whole],
                }
            };
            assert_eq!(scan.end, expected, "cut at {cut}");
            assert_eq!(
                scan.valid_bytes(),
                offsets.get(whole).copied().unwrap_or(cut)
            );
        }
    }

    #[test]
    fn zero_padding_after_the_last_record_is_a_reserved_end() {
        let (mut buf, offsets) = journal(20, 5);
        let end = buf.len();
        for pad in [1, 15, 16, 17, 4096, 1 << 20] {
            buf.truncate(end);
            buf.resize(end + pad, 0);
            let scan = scan(&buf);
            assert_eq!(offsets_of(&scan), offsets);
            assert_eq!(scan.end, End::Reserved { offset: end }, "{pad} zeros");
            assert_eq!(scan.valid_bytes(), end);
        }
        let scan = scan(&[0; 4096]);
        assert_eq!(scan.end, End::Reserved { offset: 0 }, "a reserved segment");
    }

    #[test]
    fn a_nonzero_byte_anywhere_in_the_zeros_is_a_torn_tail() {
        // A record torn inside the reserved space (its header or only a later
        // page of it reached the disk) is not a clean end.
        let (mut buf, _) = journal(20, 5);
        let end = buf.len();
        buf.resize(end + 8192, 0);
        for at in [end, end + 1, end + 15, end + 4095, end + 8191] {
            let mut torn = buf.clone();
            torn[at] = 1;
            assert_eq!(
                scan(&torn).end,
                End::TornTail { offset: end },
                "byte at {at}"
            );
        }
    }

    #[test]
    fn garbage_after_the_last_record_is_a_torn_tail() {
        let mut rng = SmallRng::seed_from_u64(3);
        let (mut buf, offsets) = journal(20, 5);
        let end = buf.len();
        for _ in 0..200 {
            buf.truncate(end);
            let len = rng.gen_range(1..600);
            buf.extend((0..len).map(|_| rng.gen::<u8>()));
            let scan = scan(&buf);
            assert_eq!(offsets_of(&scan), offsets);
            assert_eq!(scan.end, End::TornTail { offset: end });
        }
    }

    #[test]
    fn a_partial_record_then_zeros_is_a_torn_tail() {
        // What a direct-I/O writer leaves when a crash lands mid-record: the start of
        // the record, then the block's zero padding.
        let (mut buf, offsets) = journal(10, 1);
        let last = *offsets.last().expect("records");
        buf.truncate(last + JOURNAL_RECORD_HEADER_BYTES + 1);
        buf.resize(buf.len() + 4096, 0);
        let scan = scan(&buf);
        assert_eq!(offsets_of(&scan), offsets[..9]);
        assert_eq!(scan.end, End::TornTail { offset: last });
    }

    #[test]
    fn any_flipped_byte_in_a_middle_record_is_corruption_at_that_record() {
        let (buf, offsets) = journal(12, 100);
        for victim in [0, 5, 10] {
            for at in offsets[victim]..offsets[victim + 1] {
                for bit in [0x01, 0x80] {
                    let mut bad = buf.clone();
                    bad[at] ^= bit;
                    let scan = scan(&bad);
                    assert_eq!(offsets_of(&scan), offsets[..victim], "byte {at}");
                    assert_eq!(
                        scan.end,
                        End::Corrupt {
                            offset: offsets[victim]
                        },
                        "byte {at} bit {bit:#x}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_damaged_last_record_reads_as_a_torn_tail() {
        // Nothing valid follows it, so it cannot be told from a write cut short.
        let (mut buf, offsets) = journal(12, 100);
        let last = *offsets.last().expect("records");
        buf[last + JOURNAL_RECORD_HEADER_BYTES] ^= 1;
        let scan = scan(&buf);
        assert_eq!(offsets_of(&scan), offsets[..11]);
        assert_eq!(scan.end, End::TornTail { offset: last });
    }

    #[test]
    fn zeroed_records_in_the_middle_are_corruption() {
        // A lost write: a stretch of records reads back as zeros, and records follow.
        let (mut buf, offsets) = journal(12, 1);
        buf[offsets[4]..offsets[7]].fill(0);
        let scan = scan(&buf);
        assert_eq!(offsets_of(&scan), offsets[..4]);
        assert_eq!(scan.end, End::Corrupt { offset: offsets[4] });
    }

    #[test]
    fn an_lsn_gap_or_repeat_is_corruption() {
        for wrong_lsn in [13, 11, 10, 1] {
            let (mut buf, offsets) = journal(11, 1);
            let at = buf.len();
            encode_record(wrong_lsn, b"x", &mut buf);
            encode_record(wrong_lsn + 1, b"y", &mut buf);
            let scan = scan(&buf);
            assert_eq!(offsets_of(&scan), offsets, "lsn {wrong_lsn}");
            assert_eq!(scan.end, End::Corrupt { offset: at }, "lsn {wrong_lsn}");
        }
    }

    #[test]
    fn a_record_that_cannot_continue_the_journal_leaves_the_tail_torn() {
        // Whole, checksummed records after a torn write whose LSNs cannot follow: an
        // older one, and one further ahead than the skipped bytes could hold (what a
        // reused file could still contain). Neither is this journal going on.
        for stray_lsn in [3, 1000] {
            let (mut buf, offsets) = journal(10, 1);
            let torn_at = buf.len();
            buf.extend_from_slice(&[0xee; 40]);
            encode_record(stray_lsn, b"stray", &mut buf);
            let scan = scan(&buf);
            assert_eq!(offsets_of(&scan), offsets, "lsn {stray_lsn}");
            assert_eq!(
                scan.end,
                End::TornTail { offset: torn_at },
                "lsn {stray_lsn}"
            );
        }
    }

    #[test]
    fn a_bad_first_record_with_records_after_it_is_corruption() {
        let (mut buf, offsets) = journal(3, 50);
        buf[offsets[0] + 4] ^= 0xff;
        let scan = scan(&buf);
        assert!(scan.records.is_empty());
        assert_eq!(scan.end, End::Corrupt { offset: 0 });
    }

    #[test]
    fn a_header_claiming_more_than_the_maximum_is_not_a_record() {
        let mut buf = Vec::new();
        encode_record(1, b"ok", &mut buf);
        let at = buf.len();
        buf.extend_from_slice(&u32::MAX.to_le_bytes());
        buf.extend_from_slice(&[0; 12]);
        let scan = scan(&buf);
        assert_eq!(scan.records.len(), 1);
        assert_eq!(scan.end, End::TornTail { offset: at });
    }

    #[test]
    fn scanning_random_bytes_never_panics_and_stays_in_bounds() {
        let mut rng = SmallRng::seed_from_u64(11);
        for _ in 0..3000 {
            let len = rng.gen_range(0..200);
            let buf: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            let scan = scan(&buf);
            for r in &scan.records {
                assert!(r.end() <= buf.len());
            }
            match scan.end {
                End::Clean => assert_eq!(scan.valid_bytes(), buf.len()),
                End::TornTail { offset } | End::Corrupt { offset } | End::Reserved { offset } => {
                    assert_eq!(offset, scan.valid_bytes());
                    assert!(offset < buf.len());
                }
            }
        }
    }

    fn str_value(s: &[u8]) -> Cow<'static, Value> {
        Cow::Owned(Value::Str(s.to_vec().into()))
    }

    /// Every kind of effect, with edge cases: empty keys and values, the last
    /// database, deadlines needing every varint width, transactions with and without
    /// effects.
    fn samples() -> Vec<Effect<'static>> {
        let set = |db, key, value: &[u8], expire_at_ms| Effect::Set {
            db,
            key,
            value: str_value(value),
            expire_at_ms,
        };
        vec![
            set(0, b"k", b"v", NO_EXPIRE),
            set(15, b"", b"", 1),
            set(3, b"key\\x00\\xff", &[0xab; 300], 1_700_000_000_123),
            set(1, b"big", &vec![7; 100_000], u64::MAX),
            Effect::Del { db: 0, key: b"k" },
            Effect::Del { db: 9, key: b"" },
            Effect::ExpireAt {
                db: 2,
                key: b"k",
                at_ms: 1,
            },
            Effect::ExpireAt {
                db: 2,
                key: b"k",
                at_ms: u64::MAX,
            },
            Effect::Persist { db: 4, key: b"p" },
            Effect::FlushDb { db: 15 },
            Effect::FlushAll,
            Effect::SwapDb { a: 0, b: 15 },
            Effect::SwapDb { a: 5, b: 5 },
            Effect::Move {
                from_db: 15,
                to_db: 0,
                key: b"m",
            },
            Effect::Append {
                db: 1,
                key: b"a",
                bytes: b"tail",
            },
            Effect::Append {
                db: 15,
                key: b"",
                bytes: b"",
            },
            Effect::SetRange {
                db: 2,
                key: b"r",
                offset: 0,
                bytes: b"x",
            },
            Effect::SetRange {
                db: 2,
                key: b"r",
                offset: 100_000,
                bytes: &[0xff; 200],
            },
            Effect::TxPart {
                tx_id: 0,
                participants: parts(&[(0, 1)]),
                effects: vec![],
            },
            Effect::TxPart {
                tx_id: u64::MAX,
                participants: parts(&[
                    (0, 1),
                    (1, 127),
                    (127, 128),
                    (128, u64::MAX - 1),
                    (u16::MAX, 9),
                ]),
                effects: vec![
                    set(0, b"a", b"1", NO_EXPIRE),
                    Effect::Del { db: 0, key: b"b" },
                    Effect::FlushAll,
                    Effect::Move {
                        from_db: 1,
                        to_db: 2,
                        key: b"c",
                    },
                ],
            },
        ]
    }

    fn encoded(effect: &Effect) -> Vec<u8> {
        let mut out = Vec::new();
        effect.encode(&mut out);
        out
    }

    #[test]
    fn every_effect_round_trips() {
        for effect in samples() {
            let bytes = encoded(&effect);
            let decoded = Effect::decode(&bytes).expect("decodes");
            assert_eq!(decoded, effect);
            assert_eq!(encoded(&decoded), bytes, "canonical");
        }
    }

    #[test]
    fn encodings_are_pinned() {
        let set = Effect::Set {
            db: 2,
            key: b"k",
            value: str_value(b"v"),
            expire_at_ms: 300,
        };
        assert_eq!(
            encoded(&set),
            [TAG_SET, 2, 1, b'k', 0xac, 0x02, VALUE_STR, 1, b'v']
        );
        let tx = Effect::TxPart {
            tx_id: 5,
            participants: parts(&[(1, 7), (200, 9)]),
            effects: vec![Effect::FlushDb { db: 3 }],
        };
        assert_eq!(
            encoded(&tx),
            [TAG_TX_PART, 5, 2, 1, 7, 0xc8, 0x01, 9, 1, TAG_FLUSH_DB, 3]
        );
        assert_eq!(encoded(&Effect::FlushAll), [TAG_FLUSH_ALL]);
        let append = Effect::Append {
            db: 1,
            key: b"k",
            bytes: b"ab",
        };
        assert_eq!(encoded(&append), [TAG_APPEND, 1, 1, b'k', 2, b'a', b'b']);
        let range = Effect::SetRange {
            db: 0,
            key: b"k",
            offset: 200,
            bytes: b"z",
        };
        assert_eq!(
            encoded(&range),
            [TAG_SET_RANGE, 0, 1, b'k', 0xc8, 0x01, 1, b'z']
        );
        assert_eq!((TAG_NOP, TAG_APPEND, TAG_SET_RANGE), (10, 11, 12));
    }

    #[test]
    fn a_neutralized_part_is_a_nop_of_the_same_lsn_and_length() {
        let tx = Effect::TxPart {
            tx_id: 5,
            participants: parts(&[(1, 7), (3, 9)]),
            effects: vec![Effect::FlushDb { db: 3 }],
        };
        let mut buf = Vec::new();
        encode_effect_record(42, &tx, &mut buf);
        let record = &scan(&buf).records[0];
        let found = tx_participants(&buf[record.payload.clone()]);
        assert_eq!(found, Some(Ok(parts(&[(1, 7), (3, 9)]))));
        let len = buf.len();
        neutralize_record(&mut buf);
        assert_eq!(buf.len(), len);
        let s = scan(&buf);
        assert_eq!(s.end, End::Clean);
        assert_eq!(s.records[0].lsn, 42);
        let payload = &buf[s.records[0].payload.clone()];
        let padding = payload.len() - 1;
        assert_eq!(Effect::decode(payload), Ok(Effect::Nop { padding }));
        assert_eq!(tx_participants(payload), None);
        // Inside a transaction part a no-op is not an effect.
        assert!(Effect::decode(&[TAG_TX_PART, 1, 1, 0, 1, 1, TAG_NOP]).is_err());
    }

    #[test]
    fn every_strict_prefix_and_any_extra_byte_is_refused() {
        for effect in samples() {
            let bytes = encoded(&effect);
            for cut in 0..bytes.len() {
                assert!(
                    Effect::decode(&bytes[..cut]).is_err(),
                    "{effect:?} cut {cut}"
                );
            }
            let mut longer = bytes.clone();
            longer.push(0);
            assert_eq!(Effect::decode(&longer), Err(DecodeError::TrailingBytes));
        }
    }

    #[test]
    fn malformed_effects_are_named() {
        use DecodeError::*;
        // A varint of ten bytes whose last group sets bit 64, and one of eleven bytes.
        let over_64_bits = [&[TAG_FLUSH_DB][..], &[0xff; 9], &[0x02]].concat();
        let eleven_bytes = [&[TAG_FLUSH_DB][..], &[0x80; 10], &[0x01]].concat();
        let cases: &[(&[u8], DecodeError)] = &[
            (&[], Truncated),
            (&[0], UnknownTag(0)),
            (&[0xff], UnknownTag(0xff)),
            (&[TAG_SADD, 0, 1, b'k', 0], EmptyDelta),
            (
                &[TAG_SET, 0, 1, b'k', 0, VALUE_SET_INTSET, 1, 1, b'x'],
                BadCollection,
            ),
            (&[TAG_NOP, 0, 1], TrailingBytes),
            (&[TAG_SET, 0, 1, b'k', 0, 10, 0], UnknownValueType(10)),
            (&[TAG_DEL, 16, 0], DbOutOfRange),
            (&[TAG_DEL, 0x80, 0x00, 0], BadVarint),
            (&over_64_bits, BadVarint),
            (&eleven_bytes, BadVarint),
            (&[TAG_DEL, 0, 2, b'k'], Truncated),
            (&[TAG_EXPIRE_AT, 0, 1, b'k', 0], NoDeadline),
            (&[TAG_MOVE, 3, 3, 1, b'k'], MoveToSameDb),
            (
                &[
                    TAG_SET_RANGE,
                    0,
                    1,
                    b'k',
                    0xff,
                    0xff,
                    0xff,
                    0xff,
                    0x07,
                    1,
                    b'x',
                ],
                RangeTooLarge,
            ),
            (&[TAG_TX_PART, 1, 0, 0], BadParticipants),
            (&[TAG_TX_PART, 1, 2, 4, 1, 4, 1, 0], BadParticipants),
            (&[TAG_TX_PART, 1, 2, 5, 1, 4, 1, 0], BadParticipants),
            (&[TAG_TX_PART, 1, 1, 0, 0, 0], BadParticipants),
            (&[TAG_TX_PART, 1, 1, 0x80, 0x80, 0x04, 0], ShardIdOutOfRange),
            (
                &[TAG_TX_PART, 1, 1, 0, 1, 1, TAG_TX_PART, 1, 1, 0, 1, 0],
                NestedTx,
            ),
            (&[TAG_TX_PART, 1, 1, 0, 1, 2, TAG_FLUSH_ALL], Truncated),
        ];
        for (bytes, error) in cases {
            assert_eq!(Effect::decode(bytes), Err(*error), "{bytes:?}");
        }
    }

    #[test]
    fn huge_claimed_lengths_and_counts_are_refused_before_allocating() {
        let mut huge = vec![0xff; 9];
        huge.push(0x01);
        let mut key = vec![TAG_DEL, 0];
        key.extend_from_slice(&huge);
        let mut value = vec![TAG_SET, 0, 0, 0, VALUE_STR];
        value.extend_from_slice(&huge);
        let mut participants = vec![TAG_TX_PART, 1];
        participants.extend_from_slice(&huge);
        let mut effects = vec![TAG_TX_PART, 1, 1, 0, 1];
        effects.extend_from_slice(&huge);
        for bytes in [key, value, participants, effects] {
            assert_eq!(Effect::decode(&bytes), Err(DecodeError::Truncated));
        }
    }

    /// Decodes `bytes`; whatever decodes must re-encode to exactly `bytes`.
    fn decode_is_total_and_canonical(bytes: &[u8]) {
        if let Ok(effect) = Effect::decode(bytes) {
            assert_eq!(encoded(&effect), bytes, "{effect:?}");
        }
    }

    #[test]
    fn decoding_random_bytes_never_panics() {
        let mut rng = SmallRng::seed_from_u64(5);
        let mut decoded = 0;
        for _ in 0..5000 {
            let len = rng.gen_range(0..16);
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            if let Some(first) = bytes.first_mut() {
                // Mostly a real tag, so decoding gets past the first byte.
                if rng.gen_bool(0.9) {
                    *first = rng.gen_range(TAG_SET..=TAG_TX_PART);
                }
            }
            for b in bytes.iter_mut().skip(1) {
                // Small numbers are what lengths, counts and databases look like.
                if rng.gen_bool(0.5) {
                    *b &= 0x0f;
                }
            }
            decoded += Effect::decode(&bytes).is_ok() as usize;
            decode_is_total_and_canonical(&bytes);
        }
        assert!(decoded > 50, "the inputs reach past the tag: {decoded}");
    }

    #[test]
    fn decoding_mutated_effects_never_panics() {
        let mut rng = SmallRng::seed_from_u64(6);
        let samples: Vec<Vec<u8>> = samples()
            .iter()
            .filter(|e| !matches!(e, Effect::Set { key: b"big", .. }))
            .map(encoded)
            .collect();
        for _ in 0..5000 {
            let mut bytes = samples[rng.gen_range(0..samples.len())].clone();
            for _ in 0..rng.gen_range(1..4) {
                let at = rng.gen_range(0..=bytes.len());
                match rng.gen_range(0..3) {
                    0 if at < bytes.len() => bytes[at] = rng.gen(),
                    1 if at < bytes.len() => {
                        bytes.remove(at);
                    }
                    _ => bytes.insert(at, rng.gen()),
                }
            }
            decode_is_total_and_canonical(&bytes);
        }
    }

    #[test]
    fn effect_records_round_trip_through_a_journal() {
        let samples = samples();
        let mut journal = Vec::new();
        for (i, effect) in samples.iter().enumerate() {
            encode_effect_record(1 + i as u64, effect, &mut journal);
        }
        let scan = scan(&journal);
        assert_eq!(scan.end, End::Clean);
        let decoded: Vec<Effect> = scan
            .records
            .iter()
            .map(|r| Effect::decode(&journal[r.payload.clone()]).expect("decodes"))
            .collect();
        assert_eq!(decoded, samples);
        let mut framed = Vec::new();
        encode_record(1, &encoded(&samples[0]), &mut framed);
        assert_eq!(framed, journal[..scan.records[0].end()]);
    }

    /// A no-op keeps its record's length: its padding zeros round-trip exactly.
    #[test]
    fn a_nop_round_trips_with_its_padding() {
        for padding in [0, 1, 3, 200] {
            let nop = Effect::Nop { padding };
            let bytes = encoded(&nop);
            assert_eq!(bytes.len(), 1 + padding);
            assert_eq!(bytes[0], TAG_NOP);
            assert!(bytes[1..].iter().all(|&b| b == 0));
            assert_eq!(Effect::decode(&bytes), Ok(nop));
        }
    }

    /// A `SetRange` may end exactly at [`DELTA_END_BYTES_MAX`], and not one byte
    /// past it.
    #[test]
    fn a_set_range_may_end_at_the_bound_and_not_past_it() {
        let range = |offset: u64| {
            let mut bytes = vec![TAG_SET_RANGE, 0, 1, b'k'];
            put_varint(offset, &mut bytes);
            bytes.extend_from_slice(&[1, b'x']);
            bytes
        };
        let at_the_bound = Effect::SetRange {
            db: 0,
            key: b"k",
            offset: DELTA_END_BYTES_MAX - 1,
            bytes: b"x",
        };
        assert_eq!(
            Effect::decode(&range(DELTA_END_BYTES_MAX - 1)),
            Ok(at_the_bound)
        );
        assert_eq!(
            Effect::decode(&range(DELTA_END_BYTES_MAX)),
            Err(DecodeError::RangeTooLarge)
        );
    }

    /// A whole hash or set must be what encoding one writes: not empty, no element
    /// twice, an intset's integers ascending. Anything else would load a value no
    /// command can make (an empty key, a count that disagrees with the elements).
    #[test]
    fn collections_that_no_encoder_writes_are_refused() {
        let value = |body: &[u8]| [&[TAG_SET, 0, 1, b'k', 0][..], body].concat();
        let cases: &[&[u8]] = &[
            &[VALUE_HASH_LISTPACK, 0],
            &[VALUE_HASH_TABLE, 0],
            &[VALUE_HASH_LISTPACK, 2, 1, b'f', 1, b'v', 1, b'f', 1, b'v'],
            &[VALUE_HASH_TABLE, 2, 1, b'f', 1, b'v', 1, b'f', 1, b'v'],
            &[VALUE_SET_INTSET, 0],
            &[VALUE_SET_TABLE, 0],
            &[VALUE_SET_INTSET, 2, 1, b'1', 1, b'1'],
            &[VALUE_SET_TABLE, 2, 1, b'm', 1, b'm'],
            &[VALUE_SET_INTSET, 2, 1, b'2', 1, b'1'],
        ];
        for &body in cases {
            assert_eq!(
                Effect::decode(&value(body)),
                Err(DecodeError::BadCollection),
                "{body:?}"
            );
        }
        for body in [
            &[VALUE_HASH_LISTPACK, 2, 1, b'f', 1, b'v', 1, b'g', 1, b'v'][..],
            &[VALUE_SET_INTSET, 2, 1, b'1', 1, b'2'],
            &[VALUE_SET_TABLE, 2, 1, b'm', 1, b'n'],
        ] {
            let bytes = value(body);
            let effect = Effect::decode(&bytes).expect("canonical");
            assert_eq!(encoded(&effect), bytes);
        }
    }
}
