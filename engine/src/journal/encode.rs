//! Writing effects and values as bytes: the encoder half of the codec whose layout
//! the parent module's doc draws, kept apart from the decoder so each half reads
//! whole. The primitives both halves of every family share (varints, byte strings,
//! databases, a delta's head) stay in the parent; the families with their own file
//! (`keys.rs`, `zset.rs`, `list.rs`) encode their effects and values there, and this
//! file only dispatches to them.
//!
//! An effect being encoded was built by this process, so every rule its decoder
//! checks (a deadline on `ExpireAt`, a delta with elements, a range in bounds,
//! participants in order) is asserted here: breaking one is a bug, not bad input.

use super::{
    keys, list, lsn_valid, put_bytes, put_db, put_delta_head, put_varint, seal, varint_bytes, zset,
    Effect, Participant, DELTA_END_BYTES_MAX, TAG_APPEND, TAG_DEL, TAG_EXPIRE_AT, TAG_FLUSH_ALL,
    TAG_FLUSH_DB, TAG_HDEL, TAG_HSET, TAG_NOP, TAG_PERSIST, TAG_SADD, TAG_SET, TAG_SET_RANGE,
    TAG_SREM, TAG_SWAP_DB, TAG_TX_PART, VALUE_HASH_LISTPACK, VALUE_HASH_TABLE, VALUE_SET_INTSET,
    VALUE_SET_TABLE, VALUE_STR,
};
use crate::keyspace::db::NO_EXPIRE;
use crate::limits::JOURNAL_RECORD_HEADER_BYTES;
use crate::value::Value;

impl Effect<'_> {
    /// Appends this effect's encoding to `out` (layout in the module doc).
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Effect::Nop { padding } => {
                out.push(TAG_NOP);
                out.resize(out.len() + padding, 0);
            }
            Effect::Set {
                db,
                key,
                value,
                expire_at_ms,
            } => {
                out.push(TAG_SET);
                put_db(*db, out);
                put_bytes(key, out);
                put_varint(*expire_at_ms, out);
                put_value(value, out);
            }
            Effect::Del { db, key } | Effect::Persist { db, key } => {
                let del = matches!(self, Effect::Del { .. });
                out.push(if del { TAG_DEL } else { TAG_PERSIST });
                put_db(*db, out);
                put_bytes(key, out);
            }
            Effect::ExpireAt { db, key, at_ms } => {
                assert!(*at_ms != NO_EXPIRE);
                out.push(TAG_EXPIRE_AT);
                put_db(*db, out);
                put_bytes(key, out);
                put_varint(*at_ms, out);
            }
            Effect::FlushDb { db } => {
                out.push(TAG_FLUSH_DB);
                put_db(*db, out);
            }
            Effect::FlushAll => out.push(TAG_FLUSH_ALL),
            Effect::SwapDb { a, b } => {
                out.push(TAG_SWAP_DB);
                put_db(*a, out);
                put_db(*b, out);
            }
            Effect::Move { .. } | Effect::Rename { .. } | Effect::Copy { .. } => {
                keys::encode(self, out)
            }
            Effect::Append { .. } | Effect::SetRange { .. } => self.encode_string_delta(out),
            Effect::HSet { .. }
            | Effect::HDel { .. }
            | Effect::SAdd { .. }
            | Effect::SRem { .. } => self.encode_collection_delta(out),
            Effect::Zset(delta) => delta.encode(out),
            Effect::List(list) => list.encode(out),
            Effect::TxPart {
                tx_id,
                participants,
                effects,
            } => {
                put_tx_head(*tx_id, participants, effects.len(), out);
                for effect in effects {
                    assert!(!matches!(effect, Effect::TxPart { .. }));
                    effect.encode(out);
                }
            }
        }
    }

    /// Appends an in-place change of a string (`Append`, `SetRange`).
    fn encode_string_delta(&self, out: &mut Vec<u8>) {
        match self {
            Effect::Append { db, key, bytes } => {
                out.push(TAG_APPEND);
                put_db(*db, out);
                put_bytes(key, out);
                put_bytes(bytes, out);
            }
            Effect::SetRange {
                db,
                key,
                offset,
                bytes,
            } => {
                assert!(offset.saturating_add(bytes.len() as u64) <= DELTA_END_BYTES_MAX);
                out.push(TAG_SET_RANGE);
                put_db(*db, out);
                put_bytes(key, out);
                put_varint(*offset, out);
                put_bytes(bytes, out);
            }
            other => unreachable!("{other:?} changes no string in place"),
        }
    }

    /// Appends a hash or set delta (`HSet`, `HDel`, `SAdd`, `SRem`).
    fn encode_collection_delta(&self, out: &mut Vec<u8>) {
        match self {
            Effect::HSet { db, key, pairs } => {
                put_delta_head(TAG_HSET, *db, key, pairs.len(), out);
                for (field, value) in pairs {
                    put_bytes(field, out);
                    put_bytes(value, out);
                }
            }
            Effect::HDel {
                db,
                key,
                fields: items,
            }
            | Effect::SAdd {
                db,
                key,
                members: items,
            }
            | Effect::SRem {
                db,
                key,
                members: items,
            } => {
                let tag = self.delta_tag().expect("a collection delta");
                put_delta_head(tag, *db, key, items.len(), out);
                items.iter().for_each(|item| put_bytes(item, out));
            }
            other => unreachable!("{other:?} is no hash or set delta"),
        }
    }

    /// The tag of a collection delta (`HSet`, `HDel`, `SAdd`, `SRem`).
    fn delta_tag(&self) -> Option<u8> {
        match self {
            Effect::HSet { .. } => Some(TAG_HSET),
            Effect::HDel { .. } => Some(TAG_HDEL),
            Effect::SAdd { .. } => Some(TAG_SADD),
            Effect::SRem { .. } => Some(TAG_SREM),
            _ => None,
        }
    }
}

/// A `TxPart`'s fields up to its effects, which follow.
fn put_tx_head(tx_id: u64, participants: &[Participant], effects: usize, out: &mut Vec<u8>) {
    assert!(!participants.is_empty());
    assert!(participants.windows(2).all(|w| w[0].shard < w[1].shard));
    out.push(TAG_TX_PART);
    put_varint(tx_id, out);
    put_varint(participants.len() as u64, out);
    for p in participants {
        assert!(lsn_valid(p.lsn));
        put_varint(u64::from(p.shard), out);
        put_varint(p.lsn, out);
    }
    put_varint(effects as u64, out);
}

/// Appends one `TxPart` record whose `count` effects are already encoded back to
/// back in `effects` (how a shard collects them while a transaction holds it).
pub fn encode_tx_part_record(
    lsn: u64,
    tx_id: u64,
    participants: &[Participant],
    count: usize,
    effects: &[u8],
    out: &mut Vec<u8>,
) {
    let at = out.len();
    out.extend_from_slice(&[0; JOURNAL_RECORD_HEADER_BYTES]);
    put_tx_head(tx_id, participants, count, out);
    out.extend_from_slice(effects);
    seal(lsn, at, out);
}

/// Appends a whole value: its type tag, then the type's body.
fn put_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Str(s) => {
            out.push(VALUE_STR);
            put_bytes(s, out);
        }
        Value::Hash(h) => {
            assert!(!h.is_empty());
            out.push(match h.encoding() {
                "listpack" => VALUE_HASH_LISTPACK,
                _ => VALUE_HASH_TABLE,
            });
            put_varint(h.len() as u64, out);
            for (field, value) in h.iter() {
                put_bytes(&field, out);
                put_bytes(&value, out);
            }
        }
        Value::Set(s) => {
            assert!(!s.is_empty());
            out.push(match s.encoding() {
                "intset" => VALUE_SET_INTSET,
                _ => VALUE_SET_TABLE,
            });
            put_varint(s.len() as u64, out);
            s.iter().for_each(|m| put_bytes(&m, out));
        }
        Value::Zset(z) => zset::put_value(z, out),
        Value::List(l) => list::put_list(l, out),
    }
}

/// Bytes `put_value` writes for `value`, known before encoding (a snapshot decides
/// from it whether an entry fits its chunk).
pub(crate) fn value_bytes(value: &Value) -> usize {
    let bytes = |b: &[u8]| varint_bytes(b.len() as u64) + b.len();
    1 + match value {
        Value::Str(s) => bytes(s),
        Value::Hash(h) => {
            varint_bytes(h.len() as u64)
                + h.iter().map(|(f, v)| bytes(&f) + bytes(&v)).sum::<usize>()
        }
        Value::Set(s) => varint_bytes(s.len() as u64) + s.iter().map(|m| bytes(&m)).sum::<usize>(),
        Value::Zset(z) => zset::value_bytes(z),
        Value::List(l) => varint_bytes(l.len() as u64) + l.iter().map(bytes).sum::<usize>(),
    }
}
