//! What a snapshot keeps of one key whose state at the start it has not written
//! yet, and how it writes that state in pieces (see the module doc of
//! [`super`], "Copy-on-write without copies").
//!
//! A large value is never copied here. Its start state is the value the key holds
//! now (or the value the door handed over when the key was replaced or removed)
//! with an undo log applied: for a string, its length at the start and the old
//! bytes of every range a write overwrote; for a hash or set, a cursor over the
//! positions of its table (walked top down, as the keyspace walk does) and the
//! start state of every element changed below the cursor; for a sorted set, the
//! same over the node slots of its tree (a slot stays with its member, and a free
//! slot is skipped).
//!
//! A list of more than one node needs no undo log: its nodes are shared by clones
//! and copied on their first change after one (see
//! [`crate::collections::list_node`]), so the image owns a clone taken when the
//! key is first changed or reached — one pointer per node, about one per 8 KiB of
//! elements — and each write after it copies only the nodes it changes. A log of
//! changes by index would have to follow every push at the head, split and merge;
//! shared nodes keep the bound (O(what a write changes), plus one pointer per node
//! once per key) without one. The image writes the clone's elements front to back:
//! a head entry holding the first ones, then `RPUSH` deltas.
//!
//! # Adding a value type
//!
//! [`Undo::new`] decides, per value, between pieces and a whole copy. A type it
//! does not know gets [`Undo::Whole`]: the door's copy-on-write clones it before an
//! in-place change, and it is written as one entry. To write a type in pieces
//! instead: give [`Undo`] a variant with what that type needs to undo a change,
//! have the [`WriteGuard`] methods that change it call
//! [`super::SnapshotWriter::before_element`] (or a sibling for its kind of change)
//! before changing it (or, as lists do, make its clone share what a change does
//! not touch), and emit its pieces as the journal deltas [`super::read`] continues
//! with.
//!
//! [`WriteGuard`]: crate::keyspace::WriteGuard

use std::borrow::Cow;

use bytes::Bytes;
use hashbrown::HashMap;

use super::{Chunk, SNAPSHOT_CLONE_BYTES_MAX};
use crate::collections::{
    End, Hash, HashLimits, Indexed, List, ListLimits, Set, SetLimits, Zset, ZsetLimits,
};
use crate::journal::list::{ListEffect, ListOp};
use crate::journal::{Effect, ZsetDelta};
use crate::value::Value;

/// Fewest bytes a piece of a string holds, unless fewer are left: a chunk with
/// less room left than this closes rather than take a sliver.
pub(super) const PIECE_BYTES_MIN: usize = 4096;

/// Limits that build a piece of a hash or set in the `hashtable` encoding.
const HASH_TABLE: HashLimits = HashLimits {
    max_listpack_entries: 0,
    max_listpack_value_bytes: 0,
};
const SET_TABLE: SetLimits = SetLimits {
    max_intset_entries: 0,
};
/// Limits that build a piece of a sorted set as a tree.
const ZSET_TREE: ZsetLimits = ZsetLimits {
    max_listpack_entries: 0,
    max_listpack_value_bytes: 0,
};

/// What the image still needs of a key changed or reached since the start.
pub(super) enum Saved {
    /// Nothing: written already, absent at the start, or created since.
    Done,
    /// Not walked at the start, and about to be replaced or removed: the door
    /// hands the old entry over right after the change.
    Handover,
    /// Its start state, still to be written.
    Image(Image),
}

/// One key's start state, written in pieces: a head entry (an `Effect::Set` of the
/// first piece), then continuation chunks of deltas.
pub(super) struct Image {
    pub(super) expire_at_ms: u64,
    /// The value handed over or cloned; `None`: the value the key holds now, or,
    /// after a `RENAME` or `MOVE`, the one `live_at` holds.
    pub(super) owned: Option<Value>,
    /// Where the value is when `RENAME` or `MOVE` took it from this key.
    pub(super) live_at: Option<(usize, Bytes)>,
    pub(super) undo: Undo,
    /// The head is written; what is left goes into continuation chunks.
    pub(super) head: bool,
}

/// How to get a value's start state back from its current state, and how far its
/// writing got.
pub(super) enum Undo {
    /// The value is owned, exact, and written as one entry.
    Whole,
    Str {
        /// Length at the start; strings change in place only by growing (any
        /// other change makes the image own a copy first).
        len: usize,
        /// Bytes `0..written` are in the image.
        written: usize,
        /// Old bytes of ranges writes overwrote, oldest first.
        old: Vec<(usize, Vec<u8>)>,
    },
    Elements(Elements),
    /// A list owned by the image (a clone sharing the live list's nodes until
    /// they change): elements `0..written` are in the image.
    List {
        written: usize,
    },
}

/// A `hashtable` hash or set, or a tree sorted set, walked by position (node slot)
/// from the top down.
pub(super) struct Elements {
    /// Positions at and above this have been walked.
    cursor: usize,
    /// Elements changed since the start, with their start state if the walk had not
    /// reached them (`None`: walked, or new). For a set the value is empty; for a
    /// sorted set it is the score's 8 bytes.
    changed: HashMap<Vec<u8>, Option<Vec<u8>>>,
    /// Once the walk is done: the start states in `changed`, still to write.
    rest: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Undo {
    /// The undo state for `value` as it is now, at the start of its image.
    pub(super) fn new(value: &Value) -> Undo {
        match value {
            Value::Str(s) if in_pieces(value) => Undo::Str {
                len: s.len(),
                written: 0,
                old: Vec::new(),
            },
            Value::Hash(h) if in_pieces(value) => Undo::Elements(Elements::new(h.len())),
            Value::Set(s) if in_pieces(value) => Undo::Elements(Elements::new(s.len())),
            Value::Zset(z) if in_pieces(value) => Undo::Elements(Elements::new(z.tree_slots())),
            Value::List(_) if in_pieces(value) => Undo::List { written: 0 },
            _ => Undo::Whole,
        }
    }
}

/// Whether `value` gets an undo log rather than a copy when changed in place, and
/// is written in pieces: strings over [`SNAPSHOT_CLONE_BYTES_MAX`], hashes and
/// sets in the `hashtable` encoding and sorted sets in the `skiplist` one (the small
/// encodings are bounded by their limits); lists of more than one node are written
/// in pieces of a clone that shares their nodes. Every other value is cloned and
/// written whole.
pub(super) fn in_pieces(value: &Value) -> bool {
    match value {
        Value::Str(s) => s.len() > SNAPSHOT_CLONE_BYTES_MAX,
        Value::Hash(h) => h.encoding() == "hashtable",
        Value::Set(s) => s.encoding() == "hashtable",
        Value::Zset(z) => z.encoding() == "skiplist",
        Value::List(l) => l.node_count() > 1,
    }
}

impl Elements {
    fn new(len: usize) -> Self {
        Elements {
            cursor: len,
            changed: HashMap::new(),
            rest: Vec::new(),
        }
    }
}

/// The position of `element` in the table of a hash or set, or the tree of a sorted
/// set, written in pieces.
fn position(value: &Value, element: &[u8]) -> Option<usize> {
    match value {
        Value::Hash(h) => match h.indexed() {
            Indexed::Table(t) => t.position(element),
            Indexed::Listpack(..) => unreachable!("a hash in pieces is a table"),
        },
        Value::Set(s) => s.table_position(element),
        Value::Zset(z) => z.tree_slot_of(element),
        other => unreachable!("a {} has no elements", other.type_name()),
    }
}

/// The element at `pos` as (field, value), (member, empty) for a set, (member,
/// score bytes) for a sorted set; `None` for a free slot of a sorted set's tree.
fn element_at(value: &Value, pos: usize) -> Option<(Vec<u8>, Vec<u8>)> {
    match value {
        Value::Hash(h) => {
            let (f, v) = h.indexed().get(pos);
            Some((f.to_vec(), v.to_vec()))
        }
        Value::Set(s) => Some((s.member_at(pos).to_vec(), Vec::new())),
        Value::Zset(z) => z
            .tree_at_slot(pos)
            .map(|(m, score)| (m.to_vec(), score.to_le_bytes().to_vec())),
        other => unreachable!("a {} has no elements", other.type_name()),
    }
}

/// A sorted-set element's score from its saved bytes.
fn score_of(bytes: &[u8]) -> f64 {
    f64::from_le_bytes(bytes.try_into().expect("8 score bytes"))
}

fn len_of(value: &Value) -> usize {
    match value {
        Value::Hash(h) => h.len(),
        Value::Set(s) => s.len(),
        Value::Zset(z) => z.tree_slots(),
        other => unreachable!("a {} has no elements", other.type_name()),
    }
}

impl Image {
    /// The image of the key's current value `current`, at its start state: an undo
    /// log from now on, or a clone for a value without one (for a list, a clone
    /// that shares its nodes).
    pub(super) fn live(current: &Value, expire_at_ms: u64) -> Self {
        let undo = Undo::new(current);
        let owned = matches!(undo, Undo::Whole | Undo::List { .. }).then(|| current.clone());
        Image {
            expire_at_ms,
            owned,
            live_at: None,
            undo,
            head: false,
        }
    }

    /// The image of a value the door handed over: its start state itself.
    pub(super) fn owned(value: Value, expire_at_ms: u64) -> Self {
        Image {
            expire_at_ms,
            undo: Undo::new(&value),
            owned: Some(value),
            live_at: None,
            head: false,
        }
    }

    /// Whether the image reads a key's current value (so changes to it matter).
    pub(super) fn reads_live(&self) -> bool {
        self.owned.is_none()
    }

    /// Whether the image reads its own key's current value.
    pub(super) fn reads_own_key(&self) -> bool {
        self.reads_live() && self.live_at.is_none()
    }

    /// Before bytes `start..end` of the current string are overwritten: saves the
    /// old bytes the image has not written yet. O(bytes saved).
    pub(super) fn before_range(&mut self, current: &[u8], start: usize, end: usize) {
        let Undo::Str { len, written, old } = &mut self.undo else {
            unreachable!("a string image");
        };
        let (from, to) = (start.max(*written), end.min(*len));
        if from < to {
            old.push((from, current[from..to].to_vec()));
        }
    }

    /// Before `element` of the current hash or set changes or goes: saves its start
    /// state if the walk of its positions has not reached it. O(element bytes).
    pub(super) fn before_element(&mut self, current: &Value, element: &[u8]) {
        let Undo::Elements(e) = &mut self.undo else {
            unreachable!("a hash or set image");
        };
        if e.cursor == 0 || e.changed.contains_key(element) {
            return;
        }
        let start = match position(current, element) {
            Some(pos) if pos < e.cursor => element_at(current, pos).map(|(_, v)| v),
            _ => None,
        };
        e.changed.insert(element.to_vec(), start);
    }

    /// Writes pieces into `chunk` (the head first, into an entry chunk; the rest
    /// into continuation chunks) until its budget or `visits` is used up; returns
    /// whether the whole image is written.
    pub(super) fn emit(
        &mut self,
        db: usize,
        key: &[u8],
        current: Option<&Value>,
        chunk: &mut Chunk,
        visits: &mut usize,
    ) -> bool {
        let value = match (&self.owned, current) {
            (Some(v), _) | (None, Some(v)) => v,
            (None, None) => unreachable!("an image without its value"),
        };
        match &mut self.undo {
            Undo::Whole => {
                let effect = Effect::Set {
                    db,
                    key,
                    value: Cow::Borrowed(value),
                    expire_at_ms: self.expire_at_ms,
                };
                if chunk.entries > 0 && !chunk.fits(&effect) {
                    return false;
                }
                chunk.push_effect(&effect);
                self.head = true;
                true
            }
            Undo::Str { len, written, old } => {
                let s = value.as_str().expect("a string image");
                emit_str(
                    db,
                    key,
                    s,
                    *len,
                    written,
                    old,
                    self.expire_at_ms,
                    &mut self.head,
                    chunk,
                )
            }
            Undo::Elements(e) => emit_elements(
                db,
                key,
                value,
                e,
                self.expire_at_ms,
                &mut self.head,
                chunk,
                visits,
            ),
            Undo::List { written } => {
                let Value::List(list) = value else {
                    unreachable!("a list image");
                };
                let piece = ListPiece {
                    db,
                    key,
                    expire_at_ms: self.expire_at_ms,
                };
                piece.emit(list, written, &mut self.head, chunk, visits)
            }
        }
    }
}

/// Where the pieces of a list go: its key and its deadline at the start.
struct ListPiece<'k> {
    db: usize,
    key: &'k [u8],
    expire_at_ms: u64,
}

impl ListPiece<'_> {
    /// Writes the elements of `list` from `written` on, front to back, in batches of
    /// the chunk's room (at least [`PIECE_BYTES_MIN`]) and one visit each: the head
    /// as a `Set` of a list holding the first batch, the rest as `RPUSH` deltas.
    fn emit(
        &self,
        list: &List,
        written: &mut usize,
        head: &mut bool,
        chunk: &mut Chunk,
        visits: &mut usize,
    ) -> bool {
        if chunk.entries > 0 && chunk.room() < PIECE_BYTES_MIN {
            return false;
        }
        let room = chunk.room().max(PIECE_BYTES_MIN);
        let mut batch: Vec<&[u8]> = Vec::new();
        let mut batch_bytes = 0;
        for elem in list.iter_from(*written) {
            if *visits == 0 || (batch_bytes >= room && !batch.is_empty()) {
                break;
            }
            *visits -= 1;
            batch_bytes += elem.len() + 2;
            batch.push(elem);
        }
        if batch.is_empty() {
            return false;
        }
        *written += batch.len();
        let effect = if *head {
            Effect::List(ListEffect {
                db: self.db,
                key: self.key,
                op: ListOp::Push {
                    end: End::Tail,
                    elems: batch,
                },
            })
        } else {
            let first = List::from_elems(batch, &ListLimits::default());
            Effect::Set {
                db: self.db,
                key: self.key,
                value: Cow::Owned(Value::List(Box::new(first))),
                expire_at_ms: self.expire_at_ms,
            }
        };
        chunk.push_effect(&effect);
        *head = true;
        *written == list.len()
    }
}

/// Writes the start state of a string from `written` on, in pieces of the chunk's
/// room (at least [`PIECE_BYTES_MIN`]).
#[allow(clippy::too_many_arguments)]
fn emit_str(
    db: usize,
    key: &[u8],
    current: &[u8],
    len: usize,
    written: &mut usize,
    old: &mut Vec<(usize, Vec<u8>)>,
    expire_at_ms: u64,
    head: &mut bool,
    chunk: &mut Chunk,
) -> bool {
    while *written < len || !*head {
        let room = chunk.room();
        if chunk.entries > 0 && room < PIECE_BYTES_MIN {
            return false;
        }
        let end = len.min(*written + room.max(PIECE_BYTES_MIN));
        let mut piece = current[*written..end].to_vec();
        for (at, bytes) in old.iter().rev() {
            let (from, to) = ((*at).max(*written), (at + bytes.len()).min(end));
            if from < to {
                piece[from - *written..to - *written].copy_from_slice(&bytes[from - at..to - at]);
            }
        }
        let effect = if *head {
            Effect::Append {
                db,
                key,
                bytes: &piece,
            }
        } else {
            Effect::Set {
                db,
                key,
                value: Cow::Owned(Value::Str(piece.as_slice().into())),
                expire_at_ms,
            }
        };
        chunk.push_effect(&effect);
        *written = end;
        old.retain(|(at, bytes)| at + bytes.len() > end);
        if !*head {
            // The head closes its entry chunk; the rest goes into continuation chunks.
            *head = true;
            return *written == len;
        }
    }
    true
}

/// Writes the start state of a hash or set: its unchanged elements by walking
/// positions, then the saved start states of changed ones.
#[allow(clippy::too_many_arguments)]
fn emit_elements(
    db: usize,
    key: &[u8],
    current: &Value,
    e: &mut Elements,
    expire_at_ms: u64,
    head: &mut bool,
    chunk: &mut Chunk,
    visits: &mut usize,
) -> bool {
    if chunk.entries > 0 && chunk.room() < PIECE_BYTES_MIN {
        return false;
    }
    let mut batch: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut batch_bytes = 0;
    let done = loop {
        if *visits == 0 || (batch_bytes >= chunk.room() && !batch.is_empty()) {
            break false;
        }
        *visits -= 1;
        e.cursor = e.cursor.min(len_of(current));
        let element = if e.cursor > 0 {
            e.cursor -= 1;
            let at = element_at(current, e.cursor);
            let Some((element, v)) = at.filter(|(el, _)| !e.changed.contains_key(el)) else {
                continue;
            };
            if e.cursor == 0 {
                take_rest(e);
            }
            (element, v)
        } else {
            take_rest(e);
            match e.rest.pop() {
                Some(element) => element,
                None => break true,
            }
        };
        batch_bytes += element.0.len() + element.1.len() + 2;
        batch.push(element);
    };
    if !batch.is_empty() {
        push_elements(db, key, current, &batch, expire_at_ms, *head, chunk);
        *head = true;
    }
    done
}

/// Once the walk of positions is done, moves the saved start states out of the
/// changed set (which then only answers "walked").
fn take_rest(e: &mut Elements) {
    if e.changed.is_empty() {
        return;
    }
    e.rest
        .extend(e.changed.drain().filter_map(|(k, v)| v.map(|v| (k, v))));
}

/// Writes `batch` as the head (a `Set` of a table hash or set, or a tree sorted
/// set, holding it) or a continuation (`HSet`/`SAdd`/`ZAdd`).
fn push_elements(
    db: usize,
    key: &[u8],
    current: &Value,
    batch: &[(Vec<u8>, Vec<u8>)],
    expire_at_ms: u64,
    head: bool,
    chunk: &mut Chunk,
) {
    let head_value = |value: Value| Effect::Set {
        db,
        key,
        value: Cow::Owned(value),
        expire_at_ms,
    };
    let effect = match (head, current) {
        (false, Value::Hash(_)) => head_value(Value::Hash(Hash::from_pairs(
            batch.iter().map(|(f, v)| (f.as_slice(), v.as_slice())),
            &HASH_TABLE,
        ))),
        (false, Value::Set(_)) => head_value(Value::Set(Set::from_members(
            batch.iter().map(|(m, _)| m.as_slice()),
            &SET_TABLE,
        ))),
        (false, _) => head_value(Value::Zset(Zset::from_entries(
            batch.iter().map(|(m, s)| (m.as_slice(), score_of(s))),
            &ZSET_TREE,
        ))),
        (true, Value::Hash(_)) => Effect::HSet {
            db,
            key,
            pairs: batch
                .iter()
                .map(|(f, v)| (f.as_slice(), v.as_slice()))
                .collect(),
        },
        (true, Value::Set(_)) => Effect::SAdd {
            db,
            key,
            members: batch.iter().map(|(m, _)| m.as_slice()).collect(),
        },
        (true, _) => Effect::Zset(ZsetDelta::Add {
            db,
            key,
            entries: batch
                .iter()
                .map(|(m, s)| (score_of(s), m.as_slice()))
                .collect(),
        }),
    };
    chunk.push_effect(&effect);
}
