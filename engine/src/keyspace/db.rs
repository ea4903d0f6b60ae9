//! One logical database's table: keys, entries with their deadlines, the volatile
//! set active expiry samples, and the counters `INFO` shows. A plain table without
//! hooks: only the door ([`super::Keyspace`]) and snapshot loading change it.
//!
//! # Layout
//!
//! A key costs one 56-byte [`Slot`] (its key, up to [`KEY_INLINE_MAX`] bytes inline,
//! its value, the eviction engine's access word and its place in the volatile set),
//! about 6 to 11 bytes of index, and its value's own allocation when the value does
//! not fit in the slot (a string's bytes, a collection's storage). A key with a
//! deadline adds a 12-byte member of the volatile set, which holds the deadline: most
//! keys have none, so the slot does not pay 8 bytes for it, and a lookup of a
//! volatile key reads its deadline there (one more cache line). Whole entries go in
//! and out of the table as an [`Entry`]; lookups see an [`EntryRef`].
//!
//! Measured with `bench/memory.py` (16-byte keys, 32-byte values, 1M keys, one
//! shard, RSS growth per key, both servers in the same run):
//!
//! | 1,000,000 keys | Redis 7.0.15 | corekv | corekv/Redis |
//! |---|---:|---:|---:|
//! | strings, 64-byte slots with the deadline | 145.1 | 112.3 | 0.77 |
//! | strings, each with a TTL, 64-byte slots | 182.4 | 117.3 | 0.64 |
//! | strings, 56-byte slots (`--baseline`: 64-byte slots, 112.1) | 140.9 | 104.6 | 0.74 |
//! | strings, each with a TTL, 56-byte slots (64-byte slots: 116.5) | 182.4 | 116.4 | 0.64 |
//!
//! (An `IndexMap<Bytes, Entry>` with a second copy of each volatile key in an
//! `IndexSet` took 203 bytes per plain key on libc malloc.) Where a plain string's
//! bytes go: the slot (56), the index (segments between half full and full of
//! 5-byte buckets: 5.7 to 11.4), the value's allocation (32). A volatile key
//! adds its 12-byte member (more while the set's vector has spare capacity).
//!
//! - **Slots** live in a dense vector of fixed-size pages ([`PAGE_SLOTS`] slots each):
//!   growing adds a page, never copies the table, and wastes at most one page (a
//!   doubling vector holds up to twice what it needs, and copies everything at each
//!   doubling: 560 MB at 10M keys).
//! - **The index** ([`super::index`]) holds `u32` slot positions in small
//!   `hashbrown` tables (segments) under a directory of hash bits; the key is
//!   compared in its slot, and hashed again from there when a position moves.
//! - **Growth is bounded per write.** A full segment splits in two (at most
//!   [`SEGMENT_CAPACITY`](super::index::SEGMENT_CAPACITY) positions move), a
//!   sparse one merges with its buddy; no write ever rehashes or allocates the
//!   whole index, and a lookup probes one segment. The worst write while 10M keys
//!   load is stated and measured in the index's module doc.
//! - **The volatile set** is a paged vector of slot positions and deadlines (pages of
//!   [`PAGE_VOLATILE`], so it never copies itself either); each entry knows its place
//!   in it, so adding or removing a deadline is O(1) and no key is stored twice.
//!
//! The slot vector gives the commands two properties a bare hash table does not:
//! - **`SCAN`'s guarantee.** The cursor walks slot positions from the top down.
//!   Removal is a swap-remove, which only ever moves the *last* slot into the hole;
//!   insertion appends. So an entry below the cursor (not yet visited) never moves
//!   above it: every key present for the whole scan is returned, while the table grows
//!   and shrinks, with no rehash to reason about.
//! - **O(1) uniform sampling** by position, for `RANDOMKEY` and for active expiry
//!   (sampling the dense volatile set).

use std::hash::{BuildHasher, Hasher};
use std::time::Instant;

use bytes::Bytes;
use hashbrown::DefaultHashBuilder;
use rand::Rng;
use smallvec::SmallVec;

use super::index::{prefetch, Index, Rehash, BUCKET_BYTES};
use crate::collections::dense::Packed;
use crate::limits::{EXPIRE_REPEAT_PERCENT, EXPIRE_ROUNDS_PER_CLOCK_CHECK, EXPIRE_SAMPLE_KEYS};
use crate::value::Value;

/// No deadline.
pub const NO_EXPIRE: u64 = 0;

/// Longest key kept inside its slot; a longer one has its own allocation.
pub const KEY_INLINE_MAX: usize = 22;
/// Slots per page of the slot vector (224 KiB pages, one of the allocator's size
/// classes).
const PAGE_SLOTS: usize = 4096;
/// Members per page of the volatile set (48 KiB pages, a size class too).
const PAGE_VOLATILE: usize = 4096;
/// An entry without a deadline has no place in the volatile set.
const NOT_VOLATILE: u32 = u32::MAX;
/// Bytes one slot takes: key (24), value (24), access word and volatile place (4 each).
pub const SLOT_BYTES: usize = 56;
/// Bytes a volatile key adds: its member of the volatile set (position, deadline).
pub const VOLATILE_MEMBER_BYTES: usize = 12;
/// Index buckets `MEMORY USAGE` counts per key: the index runs between 7/16 and 7/8
/// full, about two buckets per key.
const INDEX_BUCKETS_PER_KEY: usize = 2;

/// A key's value, its absolute deadline in Unix ms ([`NO_EXPIRE`] for none) and the
/// eviction engine's access word, whole: what the door stores, removes and carries
/// between shards. Equal entries have equal values and deadlines. The table keeps the
/// parts apart (the deadline in the volatile set); lookups see an [`EntryRef`].
#[derive(Debug, Clone)]
pub struct Entry {
    pub value: Value,
    pub expire_at_ms: u64,
    /// Redis's 24-bit LRU clock and 8-bit LFU counter, kept by eviction.
    access: u32,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Entry) -> bool {
        self.value == other.value && self.expire_at_ms == other.expire_at_ms
    }
}

impl Entry {
    pub fn new(value: Value) -> Self {
        Entry::with_expire(value, NO_EXPIRE)
    }

    /// An entry with deadline `expire_at_ms` ([`NO_EXPIRE`] for none).
    pub fn with_expire(value: Value, expire_at_ms: u64) -> Self {
        Entry {
            value,
            expire_at_ms,
            access: 0,
        }
    }

    pub fn expired(&self, now_ms: u64) -> bool {
        self.expire_at_ms != NO_EXPIRE && self.expire_at_ms <= now_ms
    }

    /// The eviction engine's access word (LRU clock and LFU counter).
    pub fn access(&self) -> u32 {
        self.access
    }

    pub fn set_access(&mut self, word: u32) {
        self.access = word;
    }
}

/// A stored entry as a lookup sees it: the value in its slot, the deadline from the
/// volatile set, the access word.
#[derive(Debug, Clone, Copy)]
pub struct EntryRef<'a> {
    pub value: &'a Value,
    pub expire_at_ms: u64,
    access: u32,
}

impl<'a> EntryRef<'a> {
    /// A view of a value held elsewhere (a write guard's).
    pub(super) fn new(value: &'a Value, expire_at_ms: u64, access: u32) -> Self {
        EntryRef {
            value,
            expire_at_ms,
            access,
        }
    }

    pub fn expired(&self, now_ms: u64) -> bool {
        self.expire_at_ms != NO_EXPIRE && self.expire_at_ms <= now_ms
    }

    /// The eviction engine's access word (LRU clock and LFU counter).
    pub fn access(&self) -> u32 {
        self.access
    }

    /// A whole copy of the entry (its value cloned).
    pub fn to_entry(self) -> Entry {
        Entry {
            value: self.value.clone(),
            expire_at_ms: self.expire_at_ms,
            access: self.access,
        }
    }
}

/// A key as a slot stores it: inline up to [`KEY_INLINE_MAX`] bytes, else boxed.
pub type Key = Packed<KEY_INLINE_MAX>;

/// One key with its value, access word and place in the volatile set: the unit of
/// the slot vector. The deadline is not here: most keys have none.
struct Slot {
    key: Key,
    value: Value,
    access: u32,
    /// This slot's index in its table's volatile set, or [`NOT_VOLATILE`].
    volatile_pos: u32,
}

/// The layout the module doc's numbers assume.
const _: () = assert!(std::mem::size_of::<Slot>() == SLOT_BYTES);

/// A member of the volatile set: a slot position and that key's deadline, kept as
/// two halves so the member takes 12 bytes (a `u64` would align it to 16).
#[derive(Clone, Copy)]
struct Volatile {
    pos: u32,
    at_ms: [u32; 2],
}

const _: () = assert!(std::mem::size_of::<Volatile>() == VOLATILE_MEMBER_BYTES);

impl Volatile {
    fn new(pos: u32, at_ms: u64) -> Self {
        Volatile {
            pos,
            at_ms: [at_ms as u32, (at_ms >> 32) as u32],
        }
    }

    fn at_ms(&self) -> u64 {
        u64::from(self.at_ms[0]) | (u64::from(self.at_ms[1]) << 32)
    }
}

/// A dense vector in pages of `PAGE` items that never move: growing adds a page
/// (the first one grows by doubling, so a small table holds what it needs), and no
/// push ever copies more than one page. Every page but the last is full, so item
/// `i` is at `i / PAGE`, `i % PAGE`.
struct Paged<T, const PAGE: usize> {
    pages: Vec<Vec<T>>,
    len: usize,
}

impl<T, const PAGE: usize> Default for Paged<T, PAGE> {
    fn default() -> Self {
        Paged {
            pages: Vec::new(),
            len: 0,
        }
    }
}

impl<T, const PAGE: usize> Paged<T, PAGE> {
    fn get(&self, pos: usize) -> &T {
        &self.pages[pos / PAGE][pos % PAGE]
    }

    fn get_mut(&mut self, pos: usize) -> &mut T {
        &mut self.pages[pos / PAGE][pos % PAGE]
    }

    fn push(&mut self, item: T) {
        match self.pages.last_mut() {
            Some(page) if page.len() < PAGE => page.push(item),
            _ => {
                let mut page = match self.pages.is_empty() {
                    true => Vec::new(),
                    false => Vec::with_capacity(PAGE),
                };
                page.push(item);
                self.pages.push(page);
            }
        }
        self.len += 1;
    }

    fn pop(&mut self) -> T {
        let page = self.pages.last_mut().expect("an item to pop");
        let item = page.pop().expect("pages are never empty");
        if page.is_empty() {
            self.pages.pop();
        }
        self.len -= 1;
        item
    }

    /// Removes the item at `pos`, moving the last one into its place.
    fn swap_remove(&mut self, pos: usize) -> T {
        let last = self.pop();
        if pos == self.len {
            last
        } else {
            std::mem::replace(self.get_mut(pos), last)
        }
    }

    fn iter(&self) -> impl Iterator<Item = &T> {
        self.pages.iter().flatten()
    }

    fn bytes(&self) -> usize {
        self.pages.iter().map(Vec::capacity).sum::<usize>() * std::mem::size_of::<T>()
            + self.pages.capacity() * std::mem::size_of::<Vec<T>>()
    }
}

/// The slot vector.
type Slots = Paged<Slot, PAGE_SLOTS>;

/// The hashes of the keys in the slots, as the index computes them again when a
/// segment splits: each reads a slot, which the index asks for ahead.
struct SlotHashes<'a> {
    slots: &'a Slots,
    hasher: &'a DefaultHashBuilder,
}

impl Rehash for SlotHashes<'_> {
    fn hash(&self, pos: u32) -> u64 {
        Db::hash(self.hasher, self.slots.get(pos as usize).key.bytes())
    }

    fn prefetch(&self, pos: u32) {
        prefetch(std::ptr::from_ref(self.slots.get(pos as usize)));
    }
}

/// The most keys one [`Db::prefetch`] asks for: their index lines, slots and values
/// (about six lines each, 384 KiB for this many) stay in the second-level cache
/// until the command reads them. Measured with MGET of 1,000 keys over 2,000,000:
/// 350–510 µs of server CPU with all of them asked for, 586–610 with only 32,
/// 756 with none.
pub const PREFETCH_KEYS_MAX: usize = 1024;
/// Keys whose hashes a prefetch keeps on the stack (more go to the heap).
const PREFETCH_KEYS_INLINE: usize = 32;

/// Asks for both cache lines a slot may straddle.
fn prefetch_slot(slot: &Slot) {
    let at = std::ptr::from_ref(slot);
    prefetch(at);
    prefetch(at.cast::<u8>().wrapping_add(SLOT_BYTES - 1));
}

/// Counters a keyspace keeps for `INFO`.
#[derive(Debug, Default, Clone, Copy)]
pub struct DbStats {
    pub expired_keys: u64,
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
}

/// One logical database on one shard: the table. Read-only to everything but the
/// door ([`Keyspace`](super::Keyspace)) and snapshot loading.
#[derive(Default)]
pub struct Db {
    slots: Slots,
    /// Slot positions by key hash.
    index: Index,
    hasher: DefaultHashBuilder,
    /// The slots whose entry has a deadline, with the deadline: what active expiry
    /// samples and `INFO` counts.
    volatile: Paged<Volatile, PAGE_VOLATILE>,
    pub(super) stats: DbStats,
}

/// Result of one scan step over a database: the next position (0 when done).
pub type ScanPos = u64;

/// An entry to change in place ([`Db::slot_mut`]).
pub(super) struct SlotMut<'a> {
    pub key: &'a [u8],
    pub value: &'a mut Value,
    pub expire_at_ms: u64,
    pub access: u32,
}

/// Where a lookup found `key`.
pub(super) enum Probe {
    Live(usize),
    /// Its deadline had passed: it was deleted, and this is its key and entry.
    Expired(Key, Entry),
    Absent,
}

impl Db {
    pub fn len(&self) -> usize {
        self.slots.len
    }

    pub fn is_empty(&self) -> bool {
        self.slots.len == 0
    }

    pub fn expires_len(&self) -> usize {
        self.volatile.len
    }

    pub fn stats(&self) -> DbStats {
        self.stats
    }

    /// Bytes the table's own structures hold (slots, index, volatile set, keys kept
    /// outside their slot), without the values' allocations.
    pub fn table_bytes(&self) -> usize {
        self.slots.bytes() + self.index.bytes() + self.volatile.bytes()
    }

    /// Bytes the entry at `key` costs (its slot, its share of the index, the key and
    /// value held outside the slot; a list's elements estimated from `samples` of
    /// them, 0 for all), as `MEMORY USAGE` reports; `None` if absent.
    pub fn memory_usage(&self, key: &[u8], samples: usize) -> Option<usize> {
        let slot = self.slots.get(self.find(key)?);
        let volatile = match slot.volatile_pos {
            NOT_VOLATILE => 0,
            _ => VOLATILE_MEMBER_BYTES,
        };
        Some(
            SLOT_BYTES
                + volatile
                + INDEX_BUCKETS_PER_KEY * BUCKET_BYTES
                + slot.key.heap_bytes()
                + slot.value.heap_bytes(samples),
        )
    }

    /// The deadline of the key in `slot` ([`NO_EXPIRE`] for none).
    fn deadline(&self, slot: &Slot) -> u64 {
        match slot.volatile_pos {
            NOT_VOLATILE => NO_EXPIRE,
            at => self.volatile.get(at as usize).at_ms(),
        }
    }

    /// The entry in `slot`, as lookups see it.
    fn view<'a>(&'a self, slot: &'a Slot) -> EntryRef<'a> {
        EntryRef {
            value: &slot.value,
            expire_at_ms: self.deadline(slot),
            access: slot.access,
        }
    }

    /// The key's bytes alone: one key per hash, so no length prefix is needed to
    /// keep keys apart (`hash_one` would write one, through the hasher's sponge).
    fn hash(hasher: &DefaultHashBuilder, key: &[u8]) -> u64 {
        let mut h = hasher.build_hasher();
        h.write(key);
        h.finish()
    }

    /// Asks for the memory lookups of the first [`PREFETCH_KEYS_MAX`] of `keys` will
    /// read, so that their cache misses overlap instead of coming one command at a
    /// time. Each pass asks for what the one before it lets it find while the other
    /// keys' lines arrive: the index's lines for each key, then the slots the index
    /// names, then each string value's bytes. A hint only: nothing changes, and a
    /// key that is not here costs its probes. More keys would have their first
    /// lines evicted before the later passes come back to them.
    pub fn prefetch<'k>(&self, keys: impl Iterator<Item = &'k [u8]>) {
        let keys: SmallVec<[(&[u8], u64); PREFETCH_KEYS_INLINE]> = keys
            .take(PREFETCH_KEYS_MAX)
            .map(|key| (key, Self::hash(&self.hasher, key)))
            .collect();
        for &(_, hash) in &keys {
            self.index.prefetch(hash);
        }
        for &(_, hash) in &keys {
            self.index.find(hash, |&pos| {
                prefetch_slot(self.slots.get(pos as usize));
                false
            });
        }
        for &(key, hash) in &keys {
            if let Some(pos) = self.find_hashed(key, hash) {
                if let Value::Str(s) = &self.slots.get(pos).value {
                    prefetch(s.as_ptr());
                }
            }
        }
    }

    /// The slot position of `key`, live or not.
    fn find(&self, key: &[u8]) -> Option<usize> {
        self.find_hashed(key, Self::hash(&self.hasher, key))
    }

    /// [`find`](Self::find) with the key's hash already computed.
    fn find_hashed(&self, key: &[u8], hash: u64) -> Option<usize> {
        let eq = |&pos: &u32| self.slots.get(pos as usize).key.bytes() == key;
        self.index.find(hash, eq).map(|pos| pos as usize)
    }

    /// The position of the live entry at `key`, deleting it first if its deadline has
    /// passed. One hash probe.
    pub(super) fn probe(&mut self, key: &[u8], now_ms: u64) -> Probe {
        let Some(pos) = self.find(key) else {
            return Probe::Absent;
        };
        let at_ms = self.deadline(self.slots.get(pos));
        if at_ms != NO_EXPIRE && at_ms <= now_ms {
            let (key, entry) = self.expire_at_index(pos);
            return Probe::Expired(key, entry);
        }
        Probe::Live(pos)
    }

    /// The entry at `key`, live or not, without expiring it.
    pub fn get(&self, key: &[u8]) -> Option<EntryRef<'_>> {
        self.find(key).map(|pos| self.entry_at_pos(pos))
    }

    /// The entry at position `pos` (from [`Db::probe`]).
    pub(super) fn entry_at_pos(&self, pos: usize) -> EntryRef<'_> {
        self.view(self.slots.get(pos))
    }

    /// The entry at position `pos` to change in place: its key, its value, its
    /// deadline and its access word, from one slot read.
    pub(super) fn slot_mut(&mut self, pos: usize) -> SlotMut<'_> {
        let expire_at_ms = self.deadline(self.slots.get(pos));
        let slot = self.slots.get_mut(pos);
        SlotMut {
            key: slot.key.bytes(),
            value: &mut slot.value,
            expire_at_ms,
            access: slot.access,
        }
    }

    /// Sets the access word of the entry at position `pos`.
    pub(super) fn set_access(&mut self, pos: usize, word: u32) {
        self.slots.get_mut(pos).access = word;
    }

    /// Replaces the access word of the entry at position `pos` with `f` of it.
    pub(super) fn touch(&mut self, pos: usize, f: impl FnOnce(u32) -> u32) {
        let slot = self.slots.get_mut(pos);
        slot.access = f(slot.access);
    }

    /// Stores `value` at `key` with deadline `expire_at_ms`, replacing any old entry.
    #[cfg(test)]
    pub(crate) fn insert(&mut self, key: &[u8], value: Value, expire_at_ms: u64) {
        self.insert_entry(key, Entry::with_expire(value, expire_at_ms));
    }

    /// Stores a whole entry (value and deadline), replacing any old one, which it
    /// returns (the door hands it to a snapshot that still needs it).
    pub(crate) fn insert_entry(&mut self, key: &[u8], entry: Entry) -> Option<Entry> {
        self.insert_at(key, entry).1
    }

    /// [`insert_entry`](Self::insert_entry), also returning the entry's position.
    pub(super) fn insert_at(&mut self, key: &[u8], entry: Entry) -> (usize, Option<Entry>) {
        let Entry {
            value,
            expire_at_ms,
            access,
        } = entry;
        if let Some(pos) = self.find(key) {
            let old_at = self.deadline(self.slots.get(pos));
            let slot = self.slots.get_mut(pos);
            let old = Entry {
                value: std::mem::replace(&mut slot.value, value),
                expire_at_ms: old_at,
                access: std::mem::replace(&mut slot.access, access),
            };
            self.set_deadline(pos, expire_at_ms);
            return (pos, Some(old));
        }
        let pos = self.slots.len;
        let position = u32::try_from(pos).expect("fewer than 2^32 keys per database");
        self.slots.push(Slot {
            key: Key::from_parts(&[key]),
            value,
            access,
            volatile_pos: NOT_VOLATILE,
        });
        let hash = Self::hash(&self.hasher, key);
        let slot_hashes = SlotHashes {
            slots: &self.slots,
            hasher: &self.hasher,
        };
        self.index.insert(hash, position, slot_hashes);
        self.set_deadline(pos, expire_at_ms);
        (pos, None)
    }

    /// The value at `key`, live or not, to change in place: only for snapshot
    /// loading, which continues an entry written in pieces.
    pub(crate) fn get_mut(&mut self, key: &[u8]) -> Option<&mut Value> {
        let pos = self.find(key)?;
        Some(&mut self.slots.get_mut(pos).value)
    }

    /// Sets the deadline of the slot at `pos`: puts it in the volatile set, changes
    /// its deadline there, or takes it out ([`NO_EXPIRE`]).
    fn set_deadline(&mut self, pos: usize, at_ms: u64) {
        match (self.slots.get(pos).volatile_pos, at_ms) {
            (NOT_VOLATILE, NO_EXPIRE) => {}
            (NOT_VOLATILE, at_ms) => {
                self.slots.get_mut(pos).volatile_pos = self.volatile.len as u32;
                self.volatile.push(Volatile::new(pos as u32, at_ms));
            }
            (at, NO_EXPIRE) => {
                self.slots.get_mut(pos).volatile_pos = NOT_VOLATILE;
                self.volatile.swap_remove(at as usize);
                if (at as usize) < self.volatile.len {
                    let moved = self.volatile.get(at as usize).pos;
                    self.slots.get_mut(moved as usize).volatile_pos = at;
                }
            }
            (at, at_ms) => *self.volatile.get_mut(at as usize) = Volatile::new(pos as u32, at_ms),
        }
    }

    /// Removes `key` (live or not) and returns its entry.
    pub(crate) fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let pos = self.find(key)?;
        Some(self.remove_at(pos).1)
    }

    /// Removes the slot at `pos`: out of the volatile set and the index, the last
    /// slot moved into its place.
    fn remove_at(&mut self, pos: usize) -> (Key, Entry) {
        let expire_at_ms = self.deadline(self.slots.get(pos));
        self.set_deadline(pos, NO_EXPIRE);
        let hash = Self::hash(&self.hasher, self.slots.get(pos).key.bytes());
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.index.remove(hash, pos as u32, |p| {
            Self::hash(hasher, slots.get(p as usize).key.bytes())
        });
        let last = self.slots.len - 1;
        let Slot {
            key, value, access, ..
        } = self.slots.swap_remove(pos);
        if pos != last {
            let moved = self.slots.get(pos);
            let hash = Self::hash(&self.hasher, moved.key.bytes());
            let volatile_pos = moved.volatile_pos;
            self.index.replace(hash, last as u32, pos as u32);
            if volatile_pos != NOT_VOLATILE {
                self.volatile.get_mut(volatile_pos as usize).pos = pos as u32;
            }
        }
        let entry = Entry {
            value,
            expire_at_ms,
            access,
        };
        (key, entry)
    }

    /// Sets the deadline of an existing key; nothing if absent.
    pub(crate) fn set_expire(&mut self, key: &[u8], expire_at_ms: u64) {
        let Some(pos) = self.find(key) else {
            return;
        };
        self.set_deadline(pos, expire_at_ms);
    }

    pub(super) fn expire_at_index(&mut self, pos: usize) -> (Key, Entry) {
        self.stats.expired_keys += 1;
        self.remove_at(pos)
    }

    /// The live entry at `key` to change without the door (tests of the table and
    /// of snapshots, which call the hooks by hand).
    #[cfg(test)]
    pub(crate) fn lookup(&mut self, key: &[u8], now_ms: u64) -> Option<&mut Value> {
        match self.probe(key, now_ms) {
            Probe::Live(pos) => Some(&mut self.slots.get_mut(pos).value),
            Probe::Expired(..) | Probe::Absent => None,
        }
    }

    pub(super) fn clear(&mut self) {
        let stats = self.stats;
        *self = Db::default();
        self.stats = stats;
    }

    /// Visits up to `count` entry positions below `pos` (`u64::MAX`: start at the top),
    /// calling `visit` for each live entry. Returns the position to continue from, or
    /// 0 when this database is done. See the module doc for why this keeps `SCAN`'s
    /// guarantee.
    pub fn scan(
        &self,
        pos: ScanPos,
        count: usize,
        now_ms: u64,
        mut visit: impl FnMut(&[u8], EntryRef<'_>),
    ) -> ScanPos {
        let top = (pos.min(self.slots.len as u64)) as usize;
        let bottom = top.saturating_sub(count.max(1));
        for idx in (bottom..top).rev() {
            let slot = self.slots.get(idx);
            let entry = self.view(slot);
            if !entry.expired(now_ms) {
                visit(slot.key.bytes(), entry);
            }
        }
        bottom as u64
    }

    /// The position of `key` in the slot vector, live or not (for snapshots, which
    /// walk positions as [`Db::scan`] does).
    pub fn position(&self, key: &[u8]) -> Option<usize> {
        self.find(key)
    }

    /// The key and entry at position `pos`, live or not.
    pub fn entry_at(&self, pos: usize) -> Option<(&[u8], EntryRef<'_>)> {
        (pos < self.slots.len).then(|| {
            let slot = self.slots.get(pos);
            (slot.key.bytes(), self.view(slot))
        })
    }

    /// Every key and entry, live or not, in slot order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&[u8], EntryRef<'_>)> {
        self.slots
            .iter()
            .map(move |slot| (slot.key.bytes(), self.view(slot)))
    }

    /// Sets the access word of every entry, live or not.
    pub(super) fn set_every_access(&mut self, word: u32) {
        for page in &mut self.slots.pages {
            page.iter_mut().for_each(|slot| slot.access = word);
        }
    }

    /// How many keys eviction may choose from: all of them, or with `volatile_only`
    /// those with a deadline.
    pub(super) fn candidates(&self, volatile_only: bool) -> usize {
        match volatile_only {
            true => self.volatile.len,
            false => self.slots.len,
        }
    }

    /// Candidate number `at` (below [`Db::candidates`]): its key and entry.
    pub(super) fn candidate(&self, volatile_only: bool, at: usize) -> (&[u8], EntryRef<'_>) {
        let pos = match volatile_only {
            true => self.volatile.get(at).pos as usize,
            false => at,
        };
        let slot = self.slots.get(pos);
        (slot.key.bytes(), self.view(slot))
    }

    /// Visits every live entry (for `KEYS`, `FLUSH` statistics and digests).
    pub fn for_each_live(&self, now_ms: u64, mut visit: impl FnMut(&[u8], EntryRef<'_>)) {
        for slot in self.slots.iter() {
            let entry = self.view(slot);
            if !entry.expired(now_ms) {
                visit(slot.key.bytes(), entry);
            }
        }
    }

    /// A uniformly chosen live key, expiring dead ones met on the way (each handed
    /// to `expired` with its entry).
    pub(super) fn random_key(
        &mut self,
        now_ms: u64,
        rng: &mut impl Rng,
        mut expired: impl FnMut(&[u8], Entry),
    ) -> Option<Bytes> {
        while !self.is_empty() {
            let pos = rng.gen_range(0..self.slots.len);
            if self.entry_at_pos(pos).expired(now_ms) {
                let (key, entry) = self.expire_at_index(pos);
                expired(key.bytes(), entry);
                continue;
            }
            return Some(Bytes::copy_from_slice(self.slots.get(pos).key.bytes()));
        }
        None
    }

    /// One active-expiry tick, Redis's adaptive cycle: sample keys with a TTL, delete
    /// expired ones (each handed to `expired` with its entry), and repeat while more
    /// than [`EXPIRE_REPEAT_PERCENT`] of the sample had expired, until `deadline`
    /// (looked at every [`EXPIRE_ROUNDS_PER_CLOCK_CHECK`] rounds). Returns the number
    /// of keys deleted.
    pub(crate) fn active_expire(
        &mut self,
        now_ms: u64,
        deadline: Instant,
        rng: &mut impl Rng,
        mut expired: impl FnMut(&[u8], Entry),
    ) -> usize {
        let mut deleted = 0;
        for round in 1.. {
            if self.volatile.len == 0
                || (round % EXPIRE_ROUNDS_PER_CLOCK_CHECK == 0 && Instant::now() >= deadline)
            {
                break;
            }
            let sample = EXPIRE_SAMPLE_KEYS.min(self.volatile.len);
            let mut expired_in_round = 0;
            for _ in 0..sample {
                if self.volatile.len == 0 {
                    break;
                }
                let member = *self.volatile.get(rng.gen_range(0..self.volatile.len));
                if member.at_ms() <= now_ms {
                    let (key, entry) = self.expire_at_index(member.pos as usize);
                    expired(key.bytes(), entry);
                    expired_in_round += 1;
                }
            }
            deleted += expired_in_round;
            if expired_in_round * 100 <= sample * EXPIRE_REPEAT_PERCENT {
                break;
            }
        }
        deleted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;
    use std::collections::HashMap;

    /// Every slot is found by its key at its own position, exactly the entries with a
    /// deadline are in the volatile set, each at the place it records.
    fn check(db: &Db, model: &HashMap<Vec<u8>, (Vec<u8>, u64)>) {
        assert_eq!(db.len(), model.len());
        assert_eq!(db.index.len(), db.len(), "each position indexed once");
        db.index
            .check(|p| Db::hash(&db.hasher, db.slots.get(p as usize).key.bytes()));
        for pos in 0..db.len() {
            let (key, entry) = db.entry_at(pos).expect("in range");
            assert_eq!(db.position(key), Some(pos));
            let (value, at) = &model[key];
            assert_eq!(entry.value.as_str(), Some(value.as_slice()));
            assert_eq!(entry.expire_at_ms, *at);
            match db.slots.get(pos).volatile_pos {
                NOT_VOLATILE => assert_eq!(*at, NO_EXPIRE),
                vp => assert_eq!(db.volatile.get(vp as usize).pos as usize, pos),
            }
        }
        let volatile = model.values().filter(|(_, at)| *at != NO_EXPIRE).count();
        assert_eq!(db.expires_len(), volatile);
    }

    #[test]
    fn random_changes_through_growth_and_shrinking_match_a_model() {
        let mut db = Db::default();
        let mut model = HashMap::new();
        let mut rng = SmallRng::seed_from_u64(19);
        let (mut resizes, mut shape) = (0, (0, 0));
        // Grow to 30,000 keys, then delete down to a few hundred: the index grows and
        // shrinks several times, with changes landing while positions move.
        for step in 0..120_000u32 {
            let growing = step < 60_000;
            let key = format!(
                "key:{:0width$}",
                rng.gen_range(0..30_000),
                width = 12 + (step % 20) as usize
            );
            let op = rng.gen_range(0..10);
            if (growing && op < 6) || (!growing && op < 1) {
                let value = format!("v{step}").into_bytes();
                let at = if rng.gen_bool(0.3) {
                    1_000 + u64::from(step)
                } else {
                    NO_EXPIRE
                };
                db.insert(key.as_bytes(), Value::Str(value.clone().into()), at);
                model.insert(key.into_bytes(), (value, at));
            } else if op < 8 || !growing {
                assert_eq!(
                    db.remove(key.as_bytes()).is_some(),
                    model.remove(key.as_bytes()).is_some()
                );
            } else if let Some((_, at)) = model.get_mut(key.as_bytes()) {
                *at = if *at == NO_EXPIRE { 5_000 } else { NO_EXPIRE };
                db.set_expire(key.as_bytes(), *at);
            }
            resizes += usize::from(db.index.shape() != shape);
            shape = db.index.shape();
            if step % 10_007 == 0 {
                check(&db, &model);
            }
        }
        check(&db, &model);
        assert!(resizes >= 4, "the index resized {resizes} times");
        // Then delete all but a few keys: the index's segments merge back.
        let (peak, _) = db.index.shape();
        let keys: Vec<Vec<u8>> = model.keys().skip(100).cloned().collect();
        for (n, key) in keys.iter().enumerate() {
            assert!(db.remove(key).is_some());
            model.remove(key);
            if n % 997 == 0 {
                check(&db, &model);
            }
        }
        check(&db, &model);
        let (segments, _) = db.index.shape();
        assert!(
            segments * 4 <= peak,
            "{peak} segments merged only to {segments}"
        );
    }

    #[test]
    fn keys_longer_than_a_slot_holds_are_kept_whole() {
        let mut db = Db::default();
        let long = vec![b'k'; KEY_INLINE_MAX + 1];
        let short = vec![b'k'; KEY_INLINE_MAX];
        db.insert(&long, Value::Str(b"long".to_vec().into()), NO_EXPIRE);
        db.insert(&short, Value::Str(b"short".to_vec().into()), NO_EXPIRE);
        assert_eq!(
            db.get(&long).and_then(|e| e.value.as_str()),
            Some(&b"long"[..])
        );
        assert_eq!(
            db.get(&short).and_then(|e| e.value.as_str()),
            Some(&b"short"[..])
        );
        assert_eq!(db.entry_at(0).map(|(k, _)| k.to_vec()), Some(long));
    }
}
