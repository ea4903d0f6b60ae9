//! Effects that move or copy a whole key within one shard, journaled as what went
//! where rather than as the value: `MOVE`, and `RENAME` and `COPY` when both keys
//! live on the shard. Replay redoes the move or copy through the keyspace's door
//! (`Keyspace::move_key`, `rename`, `copy`): the records before it put the value
//! there, so renaming a 10 MB value costs the journal a few bytes, not 10 MB.
//!
//! ```text
//!  Move    8  from_db to_db (≠ from_db) key
//!  Rename 27  db src dst (≠ src)            the entry at src (value and deadline)
//!                                           now at dst, replacing any; src gone
//!  Copy   28  src_db src dst_db dst         a copy of the entry at src at dst,
//!             ((src_db, src) ≠ (dst_db, dst))  replacing any
//! ```
//!
//! A `RENAME` or `COPY` whose keys live on different shards is a transaction: the
//! source's shard journals a `Del` (`RENAME`) or nothing, the destination's a `Set`
//! of the value it received.

use super::{put_bytes, put_db, DecodeError, Effect, Reader, TAG_MOVE};

pub(super) const TAG_RENAME: u8 = 27;
pub(super) const TAG_COPY: u8 = 28;

/// Appends a `Move`, `Rename` or `Copy`.
pub(super) fn encode(effect: &Effect, out: &mut Vec<u8>) {
    match effect {
        Effect::Move {
            from_db,
            to_db,
            key,
        } => {
            assert!(from_db != to_db);
            out.push(TAG_MOVE);
            put_db(*from_db, out);
            put_db(*to_db, out);
            put_bytes(key, out);
        }
        Effect::Rename { db, src, dst } => {
            assert!(src != dst);
            out.push(TAG_RENAME);
            put_db(*db, out);
            put_bytes(src, out);
            put_bytes(dst, out);
        }
        Effect::Copy {
            src_db,
            src,
            dst_db,
            dst,
        } => {
            assert!((src_db, src) != (dst_db, dst));
            out.push(TAG_COPY);
            put_db(*src_db, out);
            put_bytes(src, out);
            put_db(*dst_db, out);
            put_bytes(dst, out);
        }
        other => unreachable!("{other:?} moves no key"),
    }
}

/// Decodes a `Move`, `Rename` or `Copy` after its tag.
pub(super) fn decode<'a>(tag: u8, r: &mut Reader<'a>) -> Result<Effect<'a>, DecodeError> {
    let effect = match tag {
        TAG_MOVE => {
            let (from_db, to_db, key) = (r.db()?, r.db()?, r.bytes()?);
            if from_db == to_db {
                return Err(DecodeError::MoveToSameDb);
            }
            Effect::Move {
                from_db,
                to_db,
                key,
            }
        }
        TAG_RENAME => {
            let (db, src, dst) = (r.db()?, r.bytes()?, r.bytes()?);
            if src == dst {
                return Err(DecodeError::MoveToSameDb);
            }
            Effect::Rename { db, src, dst }
        }
        TAG_COPY => {
            let (src_db, src, dst_db, dst) = (r.db()?, r.bytes()?, r.db()?, r.bytes()?);
            if (src_db, src) == (dst_db, dst) {
                return Err(DecodeError::MoveToSameDb);
            }
            Effect::Copy {
                src_db,
                src,
                dst_db,
                dst,
            }
        }
        other => return Err(DecodeError::UnknownTag(other)),
    };
    Ok(effect)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(effect: &Effect) -> Vec<u8> {
        let mut out = Vec::new();
        effect.encode(&mut out);
        out
    }

    #[test]
    fn renames_and_copies_round_trip_in_their_pinned_encoding() {
        let rename = Effect::Rename {
            db: 3,
            src: b"a",
            dst: b"bc",
        };
        assert_eq!(encoded(&rename), [27, 3, 1, b'a', 2, b'b', b'c']);
        let copy = Effect::Copy {
            src_db: 0,
            src: b"a",
            dst_db: 15,
            dst: b"a",
        };
        assert_eq!(encoded(&copy), [28, 0, 1, b'a', 15, 1, b'a']);
        for effect in [rename, copy] {
            let bytes = encoded(&effect);
            for cut in 0..bytes.len() {
                assert!(Effect::decode(&bytes[..cut]).is_err(), "{effect:?} {cut}");
            }
            assert_eq!(Effect::decode(&bytes), Ok(effect));
        }
    }

    #[test]
    fn a_rename_or_copy_onto_its_own_key_is_refused() {
        let same = Err(DecodeError::MoveToSameDb);
        assert_eq!(Effect::decode(&[TAG_RENAME, 0, 1, b'k', 1, b'k']), same);
        assert_eq!(Effect::decode(&[TAG_COPY, 2, 1, b'k', 2, 1, b'k']), same);
        assert!(Effect::decode(&[TAG_COPY, 2, 1, b'k', 3, 1, b'k']).is_ok());
    }
}
