//! One logical database's table: keys, entries with their deadlines, the volatile
//! set active expiry samples, and the counters `INFO` shows. A plain table without
//! hooks: only the door ([`super::Keyspace`]) and snapshot loading change it.
//!
//! The table is an `IndexMap` (a `hashbrown` table of indices into a dense entry
//! vector), chosen over a bare `hashbrown::HashMap` for two properties the commands
//! need and a hash table does not give:
//! - **`SCAN`'s guarantee.** The cursor walks entry positions from the top down.
//!   Removal is `swap_remove`, which only ever moves the *last* entry into the hole;
//!   insertion appends. So an entry below the cursor (not yet visited) never moves
//!   above it: every key present for the whole scan is returned, while the table grows
//!   and shrinks, with no rehash to reason about.
//! - **O(1) uniform sampling** by position, for `RANDOMKEY` and for active expiry
//!   (sampling the dense set of keys that have a TTL).

use bytes::Bytes;
use hashbrown::DefaultHashBuilder;
use indexmap::{IndexMap, IndexSet};
use rand::Rng;

use crate::limits::{EXPIRE_REPEAT_PERCENT, EXPIRE_ROUNDS_PER_TICK_MAX, EXPIRE_SAMPLE_KEYS};
use crate::value::Value;

/// No deadline.
pub const NO_EXPIRE: u64 = 0;

/// A key's value, its absolute deadline in Unix ms ([`NO_EXPIRE`] for none) and its
/// access word: Redis's 24 bits of LRU clock, or of LFU minutes and counter, as
/// [`super::evict`] reads and writes them. The door stamps the access word whenever
/// it stores or touches the entry, so a new entry may start with any value. Two
/// entries are equal when their value and deadline are: the access word is not data.
#[derive(Debug, Clone)]
pub struct Entry {
    pub value: Value,
    pub expire_at_ms: u64,
    pub access: u32,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Entry) -> bool {
        self.value == other.value && self.expire_at_ms == other.expire_at_ms
    }
}

impl Entry {
    pub fn new(value: Value) -> Self {
        Entry {
            value,
            expire_at_ms: NO_EXPIRE,
            access: 0,
        }
    }

    /// The access word (see [`super::evict`]).
    pub fn access(&self) -> u32 {
        self.access
    }

    pub fn expired(&self, now_ms: u64) -> bool {
        self.expire_at_ms != NO_EXPIRE && self.expire_at_ms <= now_ms
    }
}

/// Counters a keyspace keeps for `INFO`.
#[derive(Debug, Default, Clone, Copy)]
pub struct DbStats {
    pub expired_keys: u64,
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
}

/// One logical database on one shard: the table. Read-only to everything but the
/// door ([`Keyspace`]) and snapshot loading.
#[derive(Default)]
pub struct Db {
    pub(super) map: IndexMap<Bytes, Entry, DefaultHashBuilder>,
    /// Keys that have a deadline: what active expiry samples and `INFO` counts.
    pub(super) volatile: IndexSet<Bytes, DefaultHashBuilder>,
    pub(super) stats: DbStats,
}

/// Result of one scan step over a database: the next position (0 when done).
pub type ScanPos = u64;

/// Where a lookup found `key`.
pub(super) enum Probe {
    Live(usize),
    /// Its deadline had passed: it was deleted, and this is its key and entry.
    Expired(Bytes, Entry),
    Absent,
}

impl Db {
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn expires_len(&self) -> usize {
        self.volatile.len()
    }

    pub fn stats(&self) -> DbStats {
        self.stats
    }

    /// The position of the live entry at `key`, deleting it first if its deadline has
    /// passed. One hash probe.
    pub(super) fn probe(&mut self, key: &[u8], now_ms: u64) -> Probe {
        let Some(idx) = self.map.get_index_of(key) else {
            return Probe::Absent;
        };
        if self.map[idx].expired(now_ms) {
            let (key, entry) = self.expire_at_index(idx);
            return Probe::Expired(key, entry);
        }
        Probe::Live(idx)
    }

    /// The entry at `key`, live or not, without expiring it.
    pub fn get(&self, key: &[u8]) -> Option<&Entry> {
        self.map.get(key)
    }

    /// Stores `value` at `key` with deadline `expire_at_ms`, replacing any old entry.
    #[cfg(test)]
    pub(crate) fn insert(&mut self, key: &[u8], value: Value, expire_at_ms: u64) {
        let entry = Entry {
            value,
            expire_at_ms,
            access: 0,
        };
        self.insert_entry(key, entry);
    }

    /// Stores a whole entry (value and deadline), replacing any old one, which it
    /// returns (the door hands it to a snapshot that still needs it).
    pub(crate) fn insert_entry(&mut self, key: &[u8], entry: Entry) -> Option<Entry> {
        let volatile = entry.expire_at_ms != NO_EXPIRE;
        match self.map.get_index_of(key) {
            Some(idx) => {
                let (k, old) = self
                    .map
                    .get_index_mut(idx)
                    .expect("index from get_index_of");
                let k = k.clone();
                let old = std::mem::replace(old, entry);
                self.track_volatile(&k, volatile);
                Some(old)
            }
            None => {
                let k = Bytes::copy_from_slice(key);
                self.map.insert(k.clone(), entry);
                if volatile {
                    self.volatile.insert(k);
                }
                None
            }
        }
    }

    /// The entry at `key`, live or not, to change in place: only for snapshot
    /// loading, which continues an entry written in pieces.
    pub(crate) fn get_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        self.map.get_mut(key)
    }

    pub(super) fn track_volatile(&mut self, key: &Bytes, volatile: bool) {
        if volatile {
            if !self.volatile.contains(key) {
                self.volatile.insert(key.clone());
            }
        } else {
            self.volatile.swap_remove(key);
        }
    }

    /// Removes `key` (live or not) and returns its entry.
    pub(crate) fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let (_, entry) = self.map.swap_remove_entry(key)?;
        if entry.expire_at_ms != NO_EXPIRE {
            self.volatile.swap_remove(key);
        }
        Some(entry)
    }

    /// Sets the deadline of an existing key; nothing if absent.
    pub(crate) fn set_expire(&mut self, key: &[u8], expire_at_ms: u64) {
        let Some(idx) = self.map.get_index_of(key) else {
            return;
        };
        let (k, e) = self
            .map
            .get_index_mut(idx)
            .expect("index from get_index_of");
        e.expire_at_ms = expire_at_ms;
        let k = k.clone();
        self.track_volatile(&k, expire_at_ms != NO_EXPIRE);
    }

    pub(super) fn expire_at_index(&mut self, idx: usize) -> (Bytes, Entry) {
        let (key, entry) = self.map.swap_remove_index(idx).expect("index in range");
        self.volatile.swap_remove(&key);
        self.stats.expired_keys += 1;
        (key, entry)
    }

    /// The live entry at `key` to change without the door (tests of the table and
    /// of snapshots, which call the hooks by hand).
    #[cfg(test)]
    pub(crate) fn lookup(&mut self, key: &[u8], now_ms: u64) -> Option<&mut Entry> {
        match self.probe(key, now_ms) {
            Probe::Live(idx) => Some(&mut self.map[idx]),
            Probe::Expired(..) | Probe::Absent => None,
        }
    }

    pub(super) fn clear(&mut self) {
        self.map = IndexMap::default();
        self.volatile = IndexSet::default();
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
        mut visit: impl FnMut(&Bytes, &Entry),
    ) -> ScanPos {
        let top = (pos.min(self.map.len() as u64)) as usize;
        let bottom = top.saturating_sub(count.max(1));
        for idx in (bottom..top).rev() {
            let (k, e) = self.map.get_index(idx).expect("index in range");
            if !e.expired(now_ms) {
                visit(k, e);
            }
        }
        bottom as u64
    }

    /// The position of `key` in the entry vector, live or not (for snapshots, which
    /// walk positions as [`Db::scan`] does).
    pub fn position(&self, key: &[u8]) -> Option<usize> {
        self.map.get_index_of(key)
    }

    /// The entry at position `pos`, live or not.
    pub fn entry_at(&self, pos: usize) -> Option<(&Bytes, &Entry)> {
        self.map.get_index(pos)
    }

    /// Visits every live entry (for `KEYS`, `FLUSH` statistics and digests).
    pub fn for_each_live(&self, now_ms: u64, mut visit: impl FnMut(&Bytes, &Entry)) {
        for (k, e) in &self.map {
            if !e.expired(now_ms) {
                visit(k, e);
            }
        }
    }

    /// A uniformly chosen live key, expiring dead ones met on the way (each handed
    /// to `expired` with its entry).
    pub(super) fn random_key(
        &mut self,
        now_ms: u64,
        rng: &mut impl Rng,
        mut expired: impl FnMut(Bytes, Entry),
    ) -> Option<Bytes> {
        while !self.map.is_empty() {
            let idx = rng.gen_range(0..self.map.len());
            if self.map[idx].expired(now_ms) {
                let (key, entry) = self.expire_at_index(idx);
                expired(key, entry);
                continue;
            }
            return self.map.get_index(idx).map(|(k, _)| k.clone());
        }
        None
    }

    /// One active-expiry tick: sample keys with a TTL, delete expired ones (each
    /// handed to `expired` with its entry), repeat while many of the sample had expired, up to a
    /// bounded number of rounds. Returns the number of keys deleted.
    pub(crate) fn active_expire(
        &mut self,
        now_ms: u64,
        rng: &mut impl Rng,
        mut expired: impl FnMut(Bytes, Entry),
    ) -> usize {
        let mut deleted = 0;
        for _ in 0..EXPIRE_ROUNDS_PER_TICK_MAX {
            if self.volatile.is_empty() {
                break;
            }
            let sample = EXPIRE_SAMPLE_KEYS.min(self.volatile.len());
            let mut expired_in_round = 0;
            for _ in 0..sample {
                if self.volatile.is_empty() {
                    break;
                }
                let vidx = rng.gen_range(0..self.volatile.len());
                let key = self.volatile[vidx].clone();
                let idx = self
                    .map
                    .get_index_of(&key)
                    .expect("volatile key is in the table");
                if self.map[idx].expired(now_ms) {
                    let (key, entry) = self.expire_at_index(idx);
                    expired(key, entry);
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
