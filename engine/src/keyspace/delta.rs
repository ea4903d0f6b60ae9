//! What a [`WriteGuard`](super::WriteGuard) remembers of its change, and the
//! journal effect it makes of that when it drops ([`effect_of`]): how the entry
//! changed ([`Change`]; a list's as a [`ListChange`], two of which combine into one
//! op when they can) and, for a collection, the fields, members or elements it
//! touched ([`Delta`]).
//!
//! The delta is one byte buffer the keyspace keeps and every guard reuses, cleared
//! when a guard is handed out: recording an element copies its bytes there, without
//! an allocation once the buffer has grown to the shard's usual change (at most
//! [`DELTA_KEPT_BYTES_MAX`] bytes are kept between guards). Nothing is recorded
//! while nothing is journaled.

use std::borrow::Cow;

use crate::collections::End;
use crate::journal::list::{ListEffect, ListOp};
use crate::journal::{Effect, ZsetDelta, EFFECT_WHOLE_VALUE_BYTES_MAX};
use crate::limits::DELTA_KEPT_BYTES_MAX;
use crate::value::Value;

/// How a [`WriteGuard`](super::WriteGuard)'s entry changed so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Change {
    None,
    /// Written without a change (`LTRIM` of the whole list, `PFMERGE` that raises
    /// no register): nothing to journal, but the listeners hear of a modification,
    /// as Redis signals one.
    Touched,
    /// Bytes appended to the string from this length on.
    Append {
        from: usize,
    },
    /// Bytes `start..end` of the string written (zero-filled up to `start` if it grew).
    Range {
        start: usize,
        end: usize,
    },
    Whole,
    /// Hash fields set: the delta holds field, value, field, value, ...
    HSet,
    /// Hash fields removed: the delta holds the fields.
    HDel,
    /// Set members added: the delta holds them.
    SAdd,
    /// Set members removed: the delta holds them.
    SRem,
    /// Sorted-set scores set: the delta holds member, score (8 bytes LE), member, ...
    ZAdd,
    /// Sorted-set members removed: the delta holds them.
    ZRem,
    /// A list changed in place (see [`ListChange`]).
    List(ListChange),
}

impl Change {
    fn is_delta(self) -> bool {
        matches!(
            self,
            Change::HSet | Change::HDel | Change::SAdd | Change::SRem | Change::ZAdd | Change::ZRem
        )
    }

    /// The change after this one and then `next`.
    pub(super) fn then(self, next: Change) -> Change {
        match (self, next) {
            (Change::None | Change::Touched, next) => next,
            (this, Change::None | Change::Touched) => this,
            (Change::List(a), Change::List(b)) => a.then(b).map_or(Change::Whole, Change::List),
            (Change::Range { start, end }, Change::Range { start: s, end: e }) => Change::Range {
                start: start.min(s),
                end: end.max(e),
            },
            (a, b) if a == b && a.is_delta() => a,
            _ => Change::Whole,
        }
    }
}

/// The score a `ZAdd` delta item holds (see [`WriteGuard::zset_insert`](super::WriteGuard::zset_insert)).
fn score_of_delta(item: &[u8]) -> f64 {
    f64::from_le_bytes(item.try_into().expect("8 score bytes"))
}

/// How a guard's list changed; the elements involved are in the guard's delta.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ListChange {
    /// `delta`: the elements pushed, in order.
    Push(End),
    Pop {
        end: End,
        count: u64,
    },
    /// `delta`: the new element.
    Set {
        index: u64,
    },
    /// `delta`: the element inserted.
    Insert {
        index: u64,
    },
    /// `delta`: the element removed.
    Rem {
        count: i64,
    },
    Trim {
        start: u64,
        end: u64,
    },
}

impl ListChange {
    /// This change and then `next` as one, when they combine.
    fn then(self, next: ListChange) -> Option<ListChange> {
        match (self, next) {
            (ListChange::Push(a), ListChange::Push(b)) if a == b => Some(self),
            (ListChange::Pop { end, count }, ListChange::Pop { end: e, count: c }) if end == e => {
                Some(ListChange::Pop {
                    end,
                    count: count + c,
                })
            }
            _ => None,
        }
    }

    /// The journal's form, borrowing the elements from `delta`.
    fn op(self, delta: &Delta) -> ListOp<'_> {
        let elem = || delta.get(0);
        match self {
            ListChange::Push(end) => ListOp::Push {
                end,
                elems: delta.items().collect(),
            },
            ListChange::Pop { end, count } => ListOp::Pop { end, count },
            ListChange::Set { index } => ListOp::Set {
                index,
                elem: elem(),
            },
            ListChange::Insert { index } => ListOp::Insert {
                index,
                elem: elem(),
            },
            ListChange::Rem { count } => ListOp::Rem {
                count,
                elem: elem(),
            },
            ListChange::Trim { start, end } => ListOp::Trim { start, end },
        }
    }
}

/// The elements a collection change touched, back to back in one buffer.
#[derive(Debug, Default)]
pub(crate) struct Delta {
    bytes: Vec<u8>,
    /// Where each element ends in `bytes`.
    ends: Vec<usize>,
}

impl Delta {
    pub(super) fn push(&mut self, item: &[u8]) {
        self.bytes.extend_from_slice(item);
        self.ends.push(self.bytes.len());
    }

    pub(super) fn len(&self) -> usize {
        self.ends.len()
    }

    /// Element `i` (below [`len`](Self::len)).
    pub(super) fn get(&self, i: usize) -> &[u8] {
        let start = match i {
            0 => 0,
            i => self.ends[i - 1],
        };
        &self.bytes[start..self.ends[i]]
    }

    pub(super) fn items(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.len()).map(|i| self.get(i))
    }

    /// The elements two by two (field and value, member and score).
    fn pairs(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        (0..self.len() / 2).map(|i| (self.get(2 * i), self.get(2 * i + 1)))
    }

    /// Empties it for the next guard, keeping the buffer unless a big change grew
    /// it past [`DELTA_KEPT_BYTES_MAX`].
    pub(super) fn clear(&mut self) {
        let ends_bytes = self.ends.capacity() * std::mem::size_of::<usize>();
        if self.bytes.capacity() > DELTA_KEPT_BYTES_MAX || ends_bytes > DELTA_KEPT_BYTES_MAX {
            *self = Delta::default();
        }
        self.bytes.clear();
        self.ends.clear();
    }
}

/// The journal effect of a change to `key` that the guard saw (`change`, with the
/// collection delta it recorded), `value` as the change left it.
pub(super) fn effect_of<'a>(
    db: usize,
    key: &'a [u8],
    change: Change,
    value: &'a Value,
    delta: &'a Delta,
    expire_at_ms: u64,
) -> Effect<'a> {
    let items = || delta.items().collect::<Vec<_>>();
    match (change, value) {
        (Change::Append { from }, Value::Str(s)) if s.len() > EFFECT_WHOLE_VALUE_BYTES_MAX => {
            Effect::Append {
                db,
                key,
                bytes: &s[from..],
            }
        }
        (Change::Range { start, end }, Value::Str(s)) if s.len() > EFFECT_WHOLE_VALUE_BYTES_MAX => {
            Effect::SetRange {
                db,
                key,
                offset: start as u64,
                bytes: &s[start..end],
            }
        }
        (Change::HSet, _) => Effect::HSet {
            db,
            key,
            pairs: delta.pairs().collect(),
        },
        (Change::HDel, _) => Effect::HDel {
            db,
            key,
            fields: items(),
        },
        (Change::SAdd, _) => Effect::SAdd {
            db,
            key,
            members: items(),
        },
        (Change::SRem, _) => Effect::SRem {
            db,
            key,
            members: items(),
        },
        (Change::ZAdd, _) => Effect::Zset(ZsetDelta::Add {
            db,
            key,
            entries: delta
                .pairs()
                .map(|(member, score)| (score_of_delta(score), member))
                .collect(),
        }),
        (Change::ZRem, _) => Effect::Zset(ZsetDelta::Rem {
            db,
            key,
            members: items(),
        }),
        (Change::List(change), _) => Effect::List(ListEffect {
            db,
            key,
            op: change.op(delta),
        }),
        _ => Effect::Set {
            db,
            key,
            value: Cow::Borrowed(value),
            expire_at_ms,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delta_keeps_items_apart_and_clears() {
        let mut delta = Delta::default();
        for item in [&b"field"[..], b"", b"value"] {
            delta.push(item);
        }
        assert_eq!(
            delta.items().collect::<Vec<_>>(),
            [&b"field"[..], b"", b"value"]
        );
        delta.clear();
        assert_eq!(delta.len(), 0);
        delta.push(b"x");
        assert_eq!(delta.pairs().count(), 0);
        assert_eq!(delta.get(0), b"x");
    }

    #[test]
    fn a_big_delta_is_not_kept() {
        let mut delta = Delta::default();
        delta.push(&vec![7; DELTA_KEPT_BYTES_MAX + 1]);
        delta.clear();
        assert_eq!(delta.bytes.capacity(), 0);
        delta.push(&[7; 16]);
        delta.clear();
        assert!(delta.bytes.capacity() >= 16);
        // Many empty elements grow the element ends, not the bytes.
        for _ in 0..DELTA_KEPT_BYTES_MAX {
            delta.push(&[]);
        }
        delta.clear();
        assert_eq!(delta.ends.capacity(), 0);
    }
}
