//! Lists in the journal: a whole list value (type 6), and a list's in-place changes
//! as data, what the journal records for `LPUSH`, `LPOP`, `LSET`, `LINSERT`, `LREM`
//! and `LTRIM` on an existing list (an `Effect::List`), and how both are encoded. Replay redoes it
//! through the keyspace's write guard (`WriteGuard::list_apply`). Indices are
//! absolute and counts resolved, so redoing needs no arguments.
//!
//! ```text
//!  LPush   17  db key count elem…     pushed at the head one by one, in order
//!  RPush   18  db key count elem…     pushed at the tail one by one, in order
//!  LPop    19  db key count (≥ 1)     removed from the head
//!  RPop    20  db key count (≥ 1)     removed from the tail
//!  LSet    21  db key index elem      element index replaced
//!  LInsert 22  db key index elem      inserted to become element index
//!  LRem    23  db key count elem      LREM count elem (count zigzag-encoded)
//!  LTrim   24  db key start end       only elements start..end kept (start < end)
//! ```

use super::{put_bytes, put_db, put_varint, DecodeError, Effect, Reader};
use crate::collections::{End, List, ListLimits};
use crate::value::Value;

/// Value type of a whole list (a quicklist, Redis 7.0's only list encoding): count
/// (≥ 1), then the elements.
pub(super) const VALUE_LIST_QUICKLIST: u8 = 6;

pub(super) const TAG_LPUSH: u8 = 17;
const TAG_RPUSH: u8 = 18;
const TAG_LPOP: u8 = 19;
const TAG_RPOP: u8 = 20;
const TAG_LSET: u8 = 21;
const TAG_LINSERT: u8 = 22;
const TAG_LREM: u8 = 23;
pub(super) const TAG_LTRIM: u8 = 24;

/// `Effect::List`: a change of the list at `key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEffect<'a> {
    pub db: usize,
    pub key: &'a [u8],
    pub op: ListOp<'a>,
}

impl<'a> ListEffect<'a> {
    /// Appends the whole effect: tag, database, key, then the op's fields.
    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.op.tag());
        put_db(self.db, out);
        put_bytes(self.key, out);
        self.op.encode(out);
    }

    /// Decodes the effect after its tag, a list op's.
    pub(super) fn decode(tag: u8, r: &mut Reader<'a>) -> Result<Effect<'a>, DecodeError> {
        let (db, key) = (r.db()?, r.bytes()?);
        let op = ListOp::decode_body(tag, r)?;
        Ok(Effect::List(ListEffect { db, key, op }))
    }
}

/// One in-place change of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListOp<'a> {
    Push { end: End, elems: Vec<&'a [u8]> },
    Pop { end: End, count: u64 },
    Set { index: u64, elem: &'a [u8] },
    Insert { index: u64, elem: &'a [u8] },
    Rem { count: i64, elem: &'a [u8] },
    Trim { start: u64, end: u64 },
}

impl<'a> ListOp<'a> {
    fn tag(&self) -> u8 {
        match self {
            ListOp::Push { end: End::Head, .. } => TAG_LPUSH,
            ListOp::Push { end: End::Tail, .. } => TAG_RPUSH,
            ListOp::Pop { end: End::Head, .. } => TAG_LPOP,
            ListOp::Pop { end: End::Tail, .. } => TAG_RPOP,
            ListOp::Set { .. } => TAG_LSET,
            ListOp::Insert { .. } => TAG_LINSERT,
            ListOp::Rem { .. } => TAG_LREM,
            ListOp::Trim { .. } => TAG_LTRIM,
        }
    }

    /// Appends the op's fields.
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            ListOp::Push { elems, .. } => {
                assert!(!elems.is_empty());
                put_varint(elems.len() as u64, out);
                elems.iter().for_each(|e| put_bytes(e, out));
            }
            ListOp::Pop { count, .. } => {
                assert!(*count > 0);
                put_varint(*count, out);
            }
            ListOp::Set { index, elem } | ListOp::Insert { index, elem } => {
                put_varint(*index, out);
                put_bytes(elem, out);
            }
            ListOp::Rem { count, elem } => {
                put_varint(((count << 1) ^ (count >> 63)) as u64, out);
                put_bytes(elem, out);
            }
            ListOp::Trim { start, end } => {
                assert!(start < end);
                put_varint(*start, out);
                put_varint(*end, out);
            }
        }
    }

    fn decode_body(tag: u8, r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let end = |head| if head { End::Head } else { End::Tail };
        let op = match tag {
            TAG_LPUSH | TAG_RPUSH => ListOp::Push {
                end: end(tag == TAG_LPUSH),
                elems: r.delta_items()?,
            },
            TAG_LPOP | TAG_RPOP => {
                let count = r.varint()?;
                if count == 0 {
                    return Err(DecodeError::EmptyDelta);
                }
                ListOp::Pop {
                    end: end(tag == TAG_LPOP),
                    count,
                }
            }
            TAG_LSET => ListOp::Set {
                index: r.varint()?,
                elem: r.bytes()?,
            },
            TAG_LINSERT => ListOp::Insert {
                index: r.varint()?,
                elem: r.bytes()?,
            },
            TAG_LREM => {
                let z = r.varint()?;
                ListOp::Rem {
                    count: (z >> 1) as i64 ^ -((z & 1) as i64),
                    elem: r.bytes()?,
                }
            }
            TAG_LTRIM => {
                let (start, end) = (r.varint()?, r.varint()?);
                if start >= end {
                    return Err(DecodeError::EmptyDelta);
                }
                ListOp::Trim { start, end }
            }
            other => return Err(DecodeError::UnknownTag(other)),
        };
        Ok(op)
    }
}

/// A whole list value: its type, count, then the elements.
pub(super) fn put_list(list: &List, out: &mut Vec<u8>) {
    assert!(!list.is_empty());
    out.push(VALUE_LIST_QUICKLIST);
    put_varint(list.len() as u64, out);
    list.iter().for_each(|e| put_bytes(e, out));
}

/// Reads what [`put_list`] wrote after the type, into nodes of the default size (a node layout is
/// not part of the value).
pub(super) fn read_list(r: &mut Reader<'_>) -> Result<Value, DecodeError> {
    let elems = r.items()?;
    let list = List::from_elems(elems.iter().copied(), &ListLimits::default());
    (!list.is_empty())
        .then_some(Value::List(Box::new(list)))
        .ok_or(DecodeError::BadCollection)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A list change after its tag byte, on key `l` of database 0.
    fn record(tag: u8, fields: &[u8]) -> Vec<u8> {
        [&[tag, 0, 1, b'l'][..], fields].concat()
    }

    fn op_of(bytes: &[u8]) -> ListOp<'_> {
        match Effect::decode(bytes) {
            Ok(Effect::List(ListEffect { op, .. })) => op,
            other => panic!("{bytes:?}: {other:?}"),
        }
    }

    /// A pop of nothing or a trim that keeps nothing is no change a command
    /// journals (it deletes the key instead): refused, at the bound too.
    #[test]
    fn empty_pops_and_trims_are_refused() {
        for bytes in [
            record(TAG_LPOP, &[0]),
            record(TAG_RPOP, &[0]),
            record(TAG_LTRIM, &[3, 3]),
            record(TAG_LTRIM, &[4, 3]),
        ] {
            assert_eq!(
                Effect::decode(&bytes),
                Err(DecodeError::EmptyDelta),
                "{bytes:?}"
            );
        }
        let pop = |end, count| ListOp::Pop { end, count };
        assert_eq!(op_of(&record(TAG_LPOP, &[1])), pop(End::Head, 1));
        assert_eq!(op_of(&record(TAG_RPOP, &[2])), pop(End::Tail, 2));
        let trim = ListOp::Trim { start: 3, end: 4 };
        assert_eq!(op_of(&record(TAG_LTRIM, &[3, 4])), trim);
    }
}
