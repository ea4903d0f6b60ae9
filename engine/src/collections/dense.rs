//! The hash-table encoding shared by hashes and sets: a dense vector of entries plus a
//! `hashbrown` table of `u32` positions into it.
//!
//! This is what `IndexMap` does, minus the 8-byte hash it caches per entry and with
//! 4-byte instead of 8-byte positions, because the big collections are where memory
//! goes. Each entry is a [`Packed`] byte string holding everything the element needs
//! (a set member; a hash field and its value): inline when short, else one boxed
//! slice. An element costs:
//!
//! ```text
//!   N+2 B  its Packed entry in the dense vector (× the vector's spare capacity, ≤ 2)
//! +   5 B  one table slot: a u32 position and a control byte (÷ the table's load, ≥ 7/16)
//! +   n B  only past N bytes: the boxed payload, plus the allocator's rounding of it
//! ```
//!
//! with N = 22 for set members (24-byte entries) and 30 for a hash field and value
//! (32-byte entries). Redis's `dict` costs a 24-byte `dictEntry`, an 8-byte bucket
//! pointer (× up to 2) and one allocated `sds` per string (two for a hash field and
//! its value), so short elements cost well under Redis and long ones about the same.
//!
//! Positions give the two properties the commands need (as the keyspace's table does):
//! - **`SCAN`'s guarantee.** [`DenseTable::scan`] walks positions from the top down;
//!   removal moves only the *last* entry into the hole and insertion appends, so an
//!   entry not yet visited never moves above the cursor.
//! - **O(1) uniform sampling** by position, for `SRANDMEMBER`, `SPOP`, `HRANDFIELD`.

use std::hash::BuildHasher;

use hashbrown::hash_table::Entry;
use hashbrown::{DefaultHashBuilder, HashTable};

/// An entry of a [`DenseTable`]: something with a byte-string key.
pub trait Keyed {
    /// The bytes that identify the entry (a set member, a hash field).
    fn key(&self) -> &[u8];
    /// Heap bytes the entry owns (its boxed payload).
    fn heap_bytes(&self) -> usize;
}

/// A byte string stored inline when it has at most `N` bytes, else boxed.
#[derive(Clone)]
pub enum Packed<const N: usize> {
    Inline(u8, [u8; N]),
    Heap(Box<[u8]>),
}

impl<const N: usize> Packed<N> {
    /// Builds the string from parts, concatenated.
    pub fn from_parts(parts: &[&[u8]]) -> Self {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if len <= N {
            let mut data = [0u8; N];
            let mut at = 0;
            for p in parts {
                data[at..at + p.len()].copy_from_slice(p);
                at += p.len();
            }
            Packed::Inline(len as u8, data)
        } else {
            Packed::Heap(parts.concat().into_boxed_slice())
        }
    }

    pub fn bytes(&self) -> &[u8] {
        match self {
            Packed::Inline(len, data) => &data[..*len as usize],
            Packed::Heap(b) => b,
        }
    }

    /// The bytes, to overwrite some of them in place (the length stays).
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        match self {
            Packed::Inline(len, data) => &mut data[..*len as usize],
            Packed::Heap(b) => b,
        }
    }

    /// Heap bytes owned (0 when inline).
    pub fn heap_bytes(&self) -> usize {
        match self {
            Packed::Inline(..) => 0,
            Packed::Heap(b) => b.len(),
        }
    }
}

const _: () = assert!(std::mem::size_of::<Packed<22>>() == 24);
const _: () = assert!(std::mem::size_of::<Packed<30>>() == 32);
const _: () = assert!(30 <= u8::MAX as usize);

/// The dense vector is shrunk once its capacity exceeds this many times its length
/// (Redis shrinks a `dict` below 10% fill; a factor of 4 keeps removals cheap).
const SHRINK_SPARE_FACTOR: usize = 4;
/// Capacity below which shrinking is not worth a reallocation.
const SHRINK_CAPACITY_MIN: usize = 64;

/// Entries in insertion order (modulo swap-removal), found by key in O(1).
#[derive(Clone, Default)]
pub struct DenseTable<E> {
    entries: Vec<E>,
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
    /// Sum of the entries' [`Keyed::heap_bytes`], for memory accounting.
    payload_bytes: usize,
}

impl<E: Keyed> DenseTable<E> {
    pub fn with_capacity(capacity: usize) -> Self {
        DenseTable {
            entries: Vec::with_capacity(capacity),
            index: HashTable::with_capacity(capacity),
            hasher: DefaultHashBuilder::default(),
            payload_bytes: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The position of the entry with `key`.
    pub fn position(&self, key: &[u8]) -> Option<usize> {
        let hash = self.hash(key);
        let entries = &self.entries;
        self.index
            .find(hash, |&i| entries[i as usize].key() == key)
            .map(|&i| i as usize)
    }

    /// The position of the entry with `key` (`Ok`), or else appends `make()`, an
    /// entry with that key, and returns its position (`Err`): one hashing and one
    /// probe of the index either way.
    pub fn find_or_push(&mut self, key: &[u8], make: impl FnOnce() -> E) -> Result<usize, usize> {
        let hash = self.hash(key);
        let (entries, hasher) = (&mut self.entries, &self.hasher);
        let found = self.index.entry(
            hash,
            |&i| entries[i as usize].key() == key,
            |&i| hasher.hash_one(entries[i as usize].key()),
        );
        match found {
            Entry::Occupied(o) => Ok(*o.get() as usize),
            Entry::Vacant(v) => {
                let pos = entries.len();
                let entry = make();
                debug_assert!(entry.key() == key);
                self.payload_bytes += entry.heap_bytes();
                entries.push(entry);
                v.insert(u32::try_from(pos).expect("a collection holds < 2^32 elements"));
                Err(pos)
            }
        }
    }

    pub fn get(&self, key: &[u8]) -> Option<&E> {
        self.position(key).map(|i| &self.entries[i])
    }

    /// The entry at position `pos` (`pos < len`).
    pub fn at(&self, pos: usize) -> &E {
        &self.entries[pos]
    }

    /// Replaces the entry at `pos` by one with the same key.
    pub fn replace_at(&mut self, pos: usize, entry: E) {
        assert!(entry.key() == self.entries[pos].key());
        self.payload_bytes -= self.entries[pos].heap_bytes();
        self.payload_bytes += entry.heap_bytes();
        self.entries[pos] = entry;
    }

    /// Lets `update` change the entry at `pos` in place, keeping its key and its
    /// heap bytes; returns what `update` returns.
    pub fn update_at<T>(&mut self, pos: usize, update: impl FnOnce(&mut E) -> T) -> T {
        let entry = &mut self.entries[pos];
        let heap_bytes = entry.heap_bytes();
        let done = update(entry);
        debug_assert_eq!(entry.heap_bytes(), heap_bytes);
        done
    }

    /// Appends an entry whose key is not in the table.
    pub fn push_new(&mut self, entry: E) {
        let hash = self.hash(entry.key());
        let pos = u32::try_from(self.entries.len()).expect("a collection holds < 2^32 elements");
        self.payload_bytes += entry.heap_bytes();
        self.entries.push(entry);
        let (entries, hasher) = (&self.entries, &self.hasher);
        self.index
            .insert_unique(hash, pos, |&i| hasher.hash_one(entries[i as usize].key()));
        debug_assert_eq!(self.index.len(), self.entries.len());
    }

    /// Removes the entry with `key`, moving the last entry into its position.
    pub fn swap_remove(&mut self, key: &[u8]) -> Option<E> {
        let hash = self.hash(key);
        let entries = &self.entries;
        let found = self
            .index
            .find_entry(hash, |&i| entries[i as usize].key() == key)
            .ok()?;
        let (pos, _) = found.remove();
        let pos = pos as usize;
        let last = self.entries.len() - 1;
        if pos != last {
            let last_hash = self.hash(self.entries[last].key());
            let slot = self
                .index
                .find_mut(last_hash, |&i| i as usize == last)
                .expect("every position is indexed");
            *slot = pos as u32;
        }
        let removed = self.entries.swap_remove(pos);
        self.payload_bytes -= removed.heap_bytes();
        self.maybe_shrink();
        Some(removed)
    }

    fn maybe_shrink(&mut self) {
        let len = self.entries.len();
        if self.entries.capacity() > SHRINK_CAPACITY_MIN
            && self.entries.capacity() > len * SHRINK_SPARE_FACTOR
        {
            self.entries.shrink_to(len * 2);
            let (entries, hasher) = (&self.entries, &self.hasher);
            self.index
                .shrink_to(len * 2, |&i| hasher.hash_one(entries[i as usize].key()));
        }
    }

    pub fn iter(&self) -> std::slice::Iter<'_, E> {
        self.entries.iter()
    }

    /// Visits up to `count` positions below `cursor` (0: start at the top), top down.
    /// Returns the cursor to continue from, 0 when done. See the module doc for why an
    /// entry present for the whole walk is visited while entries come and go.
    pub fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(&E)) -> u64 {
        let len = self.entries.len() as u64;
        let top = if cursor == 0 { len } else { cursor.min(len) } as usize;
        let bottom = top.saturating_sub(count.max(1));
        for entry in self.entries[bottom..top].iter().rev() {
            visit(entry);
        }
        bottom as u64
    }

    /// Heap bytes owned: the vector, the index and every entry's payload.
    pub fn heap_bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<E>()
            + self.index.allocation_size()
            + self.payload_bytes
    }
}
