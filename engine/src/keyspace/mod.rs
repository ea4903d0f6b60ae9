//! A shard's keyspace (one table per logical database) and its only door:
//! [`Keyspace`]. Reads and writes take different paths.
//!
//! - Reads: [`Keyspace::find_read`] (counts a keyspace hit or miss, for read
//!   commands), [`Keyspace::find`] and [`Keyspace::contains`] (do not). Each expires a
//!   key whose deadline passed (lazy expiry), so no handler ever sees a dead key.
//! - Writes: [`Keyspace::find_mut`] returns a [`WriteGuard`] over a live entry;
//!   [`Keyspace::add`], [`Keyspace::remove`], [`Keyspace::set_expire`],
//!   [`Keyspace::move_key`], [`Keyspace::rename`] and the whole-database changes.
//!
//! Every write path calls the [`hooks`] itself: snapshot copy-on-write
//! before the change; after it, the journal effect, the dirty counter and the
//! [`ChangeSink`]. A handler cannot forget them, because it never holds a `&mut Db`:
//! [`Db`]'s mutators are visible to the crate only for the door and snapshot
//! loading, and the tables live in a private field here. Journal replay
//! ([`crate::replay`]) goes through the same door.
//!
//! # Effects are deltas
//!
//! A [`WriteGuard`] records how its entry changed: appended bytes, a written byte
//! range, or the whole value. When it drops, a value of at most
//! [`EFFECT_WHOLE_VALUE_BYTES_MAX`](crate::journal::EFFECT_WHOLE_VALUE_BYTES_MAX) bytes
//! is journaled whole (an `Effect::Set`, which restates the key), a larger one by its
//! delta (`Effect::Append`, `Effect::SetRange`), so `APPEND` of 10 bytes to a 100 MB
//! string journals the 10 bytes. Hashes and sets change through the guard's collection
//! methods ([`coll`]), which record the fields and members they touched: `HSET` of one
//! field on a hash of any size journals that field (`Effect::HSet`), `SPOP` the members
//! it removed. A collection left empty is not journaled by the guard: the handler
//! deletes it with [`Keyspace::remove_if_empty`], which journals a `DEL`. Deadlines
//! journal as `ExpireAt`/`Persist`, `MOVE` as `Move`. While the shard journals nothing
//! (its [`EffectLog`] is off), a guard keeps no delta and builds no effect: a
//! collection write then allocates nothing for the journal's sake. While it journals,
//! the elements go into one buffer every guard reuses ([`delta`]).
//!
//! # Expiry
//!
//! Keys deleted by expiry (lazy, in any lookup, or active, in
//! [`Keyspace::active_expire`]) are journaled as `DEL` at once, so the journal holds
//! them before any effect that follows; nothing is left to collect after a command.
//!
//! # The table
//!
//! Each database is a [`Db`] ([`db`]): an insertion-ordered hash table, which is
//! what gives `SCAN` its guarantee and `RANDOMKEY` and active expiry O(1) sampling.
//!
//! # Access and memory
//!
//! Every lookup through the door touches the entry's access word, every store stamps
//! it, and every change keeps the shard's used-memory estimate; [`evict`] reads both
//! to evict under `maxmemory`.

use std::borrow::Cow;

use bytes::Bytes;
use rand::Rng;

use crate::effect_log::EffectLog;
mod coll;
pub mod db;
mod delta;
pub mod evict;
pub mod hooks;
pub mod index;

use crate::journal::Effect;
use crate::limits::{DATABASES, EXPIRE_TICK_BUDGET};
use crate::snapshot::{SnapshotError, SnapshotHeader, SnapshotWriter, WriteKind};
use crate::value::Value;
use db::Probe;
pub use db::{Db, DbStats, Entry, EntryRef, ScanPos, NO_EXPIRE};
use std::any::{Any, TypeId};

use delta::{effect_of, Change};
use hooks::{ChangeKind, ChangeSink, DbChange, Hooks};

/// Write access to one live entry, from [`Keyspace::find_mut`]. Snapshot
/// copy-on-write ran before it was handed out; when it drops after a change, the
/// change is journaled (as a delta where that is smaller), counted and reported.
/// Dropping it unchanged does nothing, unless it was [`touch`](Self::touch)ed.
pub struct WriteGuard<'a> {
    db: usize,
    key: &'a [u8],
    value: &'a mut Value,
    /// The entry's deadline and access word (a guard changes neither).
    expire_at_ms: u64,
    access: u32,
    hooks: &'a mut Hooks,
    evict: &'a mut evict::Evictor,
    /// The estimated bytes of the entry's value when the guard was handed out (a
    /// guard changes neither key nor deadline, the rest of the entry's estimate).
    value_bytes_before: u64,
    change: Change,
}

impl WriteGuard<'_> {
    pub fn entry(&self) -> EntryRef<'_> {
        EntryRef::new(&*self.value, self.expire_at_ms, self.access)
    }

    /// The string value (the caller checked the type).
    pub fn str(&self) -> &[u8] {
        match &*self.value {
            Value::Str(s) => s,
            other => panic!("string expected, found a {}", other.type_name()),
        }
    }

    fn str_vec(&mut self) -> &mut Vec<u8> {
        match &mut *self.value {
            Value::Str(s) => s.to_mut(),
            other => panic!("string expected, found a {}", other.type_name()),
        }
    }

    /// The string value to change in any way: journaled whole (and copied first by
    /// a snapshot that still needs its state at the start).
    pub fn str_mut(&mut self) -> &mut Vec<u8> {
        self.before_any_change();
        self.change = self.change.then(Change::Whole);
        self.str_vec()
    }

    /// Before the value changes in a way no undo log covers.
    fn before_any_change(&mut self) {
        self.hooks
            .before_any_change(self.db, self.key, &*self.value);
    }

    /// Appends `tail` to the string value; returns the new length.
    pub fn append(&mut self, tail: &[u8]) -> usize {
        let from = self.str().len();
        self.change = self.change.then(Change::Append { from });
        let s = self.str_vec();
        s.extend_from_slice(tail);
        s.len()
    }

    /// Reports the entry modified even if nothing changed (Redis signals the key
    /// and notifies the command's event for some writes that change nothing):
    /// journaled and counted only if something did change.
    pub fn touch(&mut self) {
        self.change = self.change.then(Change::Touched);
    }

    /// Journals and counts the guard's change without reporting it to the
    /// listeners (a `BITFIELD` whose every write failed still grows the string, and
    /// Redis then neither signals the key nor notifies).
    pub fn unreported(&mut self) {
        self.hooks.quiet = true;
    }

    /// Writes `bytes` at `offset` of the string value, zero-filling it up to
    /// `offset` first if it is shorter; returns the new length.
    pub fn write_at(&mut self, offset: usize, bytes: &[u8]) -> usize {
        let end = offset + bytes.len();
        self.change = self.change.then(Change::Range { start: offset, end });
        if let Value::Str(current) = &*self.value {
            self.hooks
                .before_range(self.db, self.key, current, offset, end);
        }
        let s = self.str_vec();
        if s.len() < end {
            s.resize(end, 0);
        }
        s[offset..end].copy_from_slice(bytes);
        s.len()
    }
}

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        self.finish();
        self.hooks.quiet = false;
    }
}

impl WriteGuard<'_> {
    /// Accounts, journals and reports the guard's change.
    fn finish(&mut self) {
        let (db, key) = (self.db, self.key);
        if matches!(self.change, Change::None | Change::Touched) {
            // Every change a guard can make records itself: nothing to account.
            debug_assert_eq!(evict::value_bytes(self.value), self.value_bytes_before);
            if self.change == Change::Touched {
                self.hooks.reported(db, key, ChangeKind::Modify);
            }
            return;
        }
        let value_bytes_after = evict::value_bytes(self.value);
        self.evict
            .resized(self.value_bytes_before, value_bytes_after);
        // A collection accounts for bytes exactly when it holds something.
        if value_bytes_after == 0 && self.value.is_empty_collection() {
            return;
        }
        if !self.hooks.journaling() {
            self.hooks.changed(db, key, ChangeKind::Modify);
            return;
        }
        // The delta leaves the hooks while its effect borrows it, and goes back for
        // the next guard.
        let delta = std::mem::take(&mut self.hooks.delta);
        let effect = effect_of(db, key, self.change, self.value, &delta, self.expire_at_ms);
        self.hooks.after(&effect, db, key, ChangeKind::Modify);
        drop(effect);
        self.hooks.delta = delta;
    }
}

/// How far a snapshot got with its last chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotProgress {
    More,
    /// The trailer is written: the file is whole, with `entries` entries.
    Done {
        entries: u64,
    },
}

/// The keyspaces of one shard (one [`Db`] per logical database) and the only door
/// to them: see the module doc.
pub struct Keyspace {
    dbs: Vec<Db>,
    hooks: Hooks,
    evict: evict::Evictor,
}

impl Default for Keyspace {
    fn default() -> Self {
        Keyspace {
            dbs: (0..DATABASES).map(|_| Db::default()).collect(),
            hooks: Hooks::default(),
            evict: evict::Evictor::default(),
        }
    }
}

impl Keyspace {
    /// Database `db`, to read (lengths, `SCAN`, `KEYS`, snapshots).
    pub fn db(&self, db: usize) -> &Db {
        &self.dbs[db]
    }

    pub fn dbs(&self) -> &[Db] {
        &self.dbs
    }

    /// The position of the live entry at `key`, touching its access word (unless
    /// the running command does not touch); an expired one is deleted and journaled
    /// on the way.
    fn live(&mut self, db: usize, key: &[u8], now_ms: u64) -> Option<usize> {
        match self.dbs[db].probe(key, now_ms) {
            Probe::Live(idx) => {
                if !self.evict.notouch {
                    let evict = &mut self.evict;
                    self.dbs[db].touch(idx, |access| evict.touched(access, now_ms));
                }
                Some(idx)
            }
            Probe::Expired(key, entry) => {
                self.evict.removed(key.bytes(), &entry);
                self.hooks.expired(db, key.bytes(), entry);
                None
            }
            Probe::Absent => None,
        }
    }

    /// The live entry at `key`, counting a keyspace hit or miss (for read commands).
    pub fn find_read(&mut self, db: usize, key: &[u8], now_ms: u64) -> Option<EntryRef<'_>> {
        let found = self.live(db, key, now_ms);
        let d = &mut self.dbs[db];
        match found {
            Some(idx) => {
                d.stats.keyspace_hits += 1;
                Some(d.entry_at_pos(idx))
            }
            None => {
                d.stats.keyspace_misses += 1;
                self.hooks.missed(db, key);
                None
            }
        }
    }

    /// The live entry at `key`, without counting a hit or miss.
    pub fn find(&mut self, db: usize, key: &[u8], now_ms: u64) -> Option<EntryRef<'_>> {
        let idx = self.live(db, key, now_ms)?;
        Some(self.dbs[db].entry_at_pos(idx))
    }

    pub fn contains(&mut self, db: usize, key: &[u8], now_ms: u64) -> bool {
        self.live(db, key, now_ms).is_some()
    }

    /// Write access to the live entry at `key`.
    pub fn find_mut(&mut self, db: usize, key: &[u8], now_ms: u64) -> Option<WriteGuard<'_>> {
        let idx = self.live(db, key, now_ms)?;
        self.hooks
            .before(db, &self.dbs[db], key, WriteKind::InPlace);
        self.hooks.delta.clear();
        let slot = self.dbs[db].slot_mut(idx);
        let value_bytes_before = evict::value_bytes(slot.value);
        Some(WriteGuard {
            db,
            key: slot.key,
            value: slot.value,
            expire_at_ms: slot.expire_at_ms,
            access: slot.access,
            hooks: &mut self.hooks,
            evict: &mut self.evict,
            value_bytes_before,
            change: Change::None,
        })
    }

    /// Stores `value` at `key` with deadline `expire_at_ms`, replacing any entry.
    pub fn add(&mut self, db: usize, key: &[u8], value: Value, expire_at_ms: u64) {
        self.add_entry(db, key, Entry::with_expire(value, expire_at_ms));
    }

    /// [`add`](Self::add) without reporting the change to the listeners, only the
    /// key's creation (Redis's `BITFIELD` whose every write failed on a new key).
    pub fn add_unreported(&mut self, db: usize, key: &[u8], value: Value) {
        self.hooks.quiet = true;
        self.add(db, key, value, NO_EXPIRE);
        self.hooks.quiet = false;
    }

    /// Stores a whole entry at `key`, replacing any entry.
    pub fn add_entry(&mut self, db: usize, key: &[u8], entry: Entry) {
        self.store(db, key, entry, false, None);
    }

    /// [`add_entry`](Self::add_entry) for a key that arrives anew even where one is
    /// replaced (`RENAME`, `COPY ... REPLACE`: Redis deletes the destination and
    /// adds the key, so listeners hear of a new key either way).
    pub fn add_entry_anew(&mut self, db: usize, key: &[u8], entry: Entry) {
        self.store(db, key, entry, true, None);
    }

    /// Its access word is new, or under LFU the replaced entry's touched once more
    /// (Redis's overwrite keeps the counter). Journaled as `journal_as`, or as a
    /// `Set` of the entry read back at the position it was stored at; while the
    /// shard journals nothing, no effect is built.
    fn store(
        &mut self,
        db: usize,
        key: &[u8],
        mut entry: Entry,
        anew: bool,
        journal_as: Option<Effect>,
    ) {
        self.hooks
            .before(db, &self.dbs[db], key, WriteKind::Replace);
        let replaced = match self.evict.config.policy.lfu() {
            true => self.dbs[db].get(key).map(|e| e.access()),
            false => None,
        };
        entry.set_access(match replaced {
            Some(access) => self.evict.touched(access, self.evict.clock_ms),
            None => self.evict.fresh(),
        });
        self.evict.added(key, &entry);
        let (pos, old_entry) = self.dbs[db].insert_at(key, entry);
        let added = anew || old_entry.is_none();
        if let Some(old) = old_entry {
            self.evict.removed(key, &old);
            self.hooks.dropped(db, key, old);
        }
        if added {
            self.hooks.added(db, key);
        }
        if !self.hooks.journaling() {
            self.hooks.changed(db, key, ChangeKind::Set);
            return;
        }
        let e = self.dbs[db].entry_at_pos(pos);
        let effect = journal_as.unwrap_or_else(|| Effect::Set {
            db,
            key,
            value: Cow::Borrowed(e.value),
            expire_at_ms: e.expire_at_ms,
        });
        self.hooks.after(&effect, db, key, ChangeKind::Set);
    }

    /// Deletes the live entry at `key`; returns whether there was one. The door
    /// drops the value (or hands it to a snapshot that still needs it, by move).
    pub fn remove(&mut self, db: usize, key: &[u8], now_ms: u64) -> bool {
        if self.live(db, key, now_ms).is_none() {
            return false;
        }
        self.hooks
            .before(db, &self.dbs[db], key, WriteKind::Replace);
        let entry = self.dbs[db].remove(key).expect("live");
        self.evict.removed(key, &entry);
        self.hooks.dropped(db, key, entry);
        self.hooks
            .after(&Effect::Del { db, key }, db, key, ChangeKind::Del);
        true
    }

    /// Deletes the entry at `key` if it is a hash or set left empty by a change
    /// (journaled as a `DEL`; the guard journaled nothing for it). Returns whether
    /// it did.
    pub fn remove_if_empty(&mut self, db: usize, key: &[u8]) -> bool {
        let empty = self.dbs[db]
            .get(key)
            .is_some_and(|e| e.value.is_empty_collection());
        if empty {
            self.hooks
                .before(db, &self.dbs[db], key, WriteKind::Replace);
            let entry = self.dbs[db].remove(key).expect("present");
            self.evict.removed(key, &entry);
            self.hooks.dropped(db, key, entry);
            self.hooks
                .after(&Effect::Del { db, key }, db, key, ChangeKind::Del);
        }
        empty
    }

    /// Sets the deadline of the live entry at `key` to `at_ms` (a time still to
    /// come; [`NO_EXPIRE`] clears it). Returns whether the key was live.
    pub fn set_expire(&mut self, db: usize, key: &[u8], at_ms: u64, now_ms: u64) -> bool {
        assert!(at_ms == NO_EXPIRE || at_ms > now_ms);
        if self.live(db, key, now_ms).is_none() {
            return false;
        }
        self.hooks
            .before(db, &self.dbs[db], key, WriteKind::InPlace);
        let e = self.dbs[db].get(key).expect("live");
        let before = evict::entry_bytes(key, e.value, e.expire_at_ms);
        let after = evict::entry_bytes(key, e.value, at_ms);
        self.evict.resized(before, after);
        self.dbs[db].set_expire(key, at_ms);
        let effect = match at_ms {
            NO_EXPIRE => Effect::Persist { db, key },
            at_ms => Effect::ExpireAt { db, key, at_ms },
        };
        self.hooks.after(&effect, db, key, ChangeKind::Deadline);
        true
    }

    /// Moves the live entry at `key` in `from` to database `to` unless a live key
    /// there has that name. Returns whether it moved.
    pub fn move_key(&mut self, from: usize, to: usize, key: &[u8], now_ms: u64) -> bool {
        assert!(from != to);
        if self.live(from, key, now_ms).is_none() || self.live(to, key, now_ms).is_some() {
            return false;
        }
        self.hooks
            .before(from, &self.dbs[from], key, WriteKind::Replace);
        self.hooks
            .before(to, &self.dbs[to], key, WriteKind::Replace);
        let entry = self.dbs[from].remove(key).expect("live");
        let replaced = self.dbs[to].insert_entry(key, entry);
        assert!(replaced.is_none(), "MOVE's destination is free");
        let moved = self.dbs[to].get(key).expect("just inserted");
        self.hooks.moved(from, key, to, key, moved);
        self.hooks.added(to, key);
        let effect = Effect::Move {
            from_db: from,
            to_db: to,
            key,
        };
        self.hooks.after(&effect, from, key, ChangeKind::MovedOut);
        self.hooks.reported(to, key, ChangeKind::Set);
        true
    }

    /// Renames the live entry at `src` to `dst` (replacing it), one change. Returns
    /// whether `src` was live.
    pub fn rename(&mut self, db: usize, src: &[u8], dst: &[u8], now_ms: u64) -> bool {
        if self.live(db, src, now_ms).is_none() {
            return false;
        }
        self.hooks
            .before(db, &self.dbs[db], src, WriteKind::Replace);
        self.hooks
            .before(db, &self.dbs[db], dst, WriteKind::Replace);
        let entry = self.dbs[db].remove(src).expect("live");
        self.evict.removed(src, &entry);
        self.evict.added(dst, &entry);
        if let Some(old) = self.dbs[db].insert_entry(dst, entry) {
            self.evict.removed(dst, &old);
            self.hooks.dropped(db, dst, old);
        }
        let moved = self.dbs[db].get(dst).expect("just inserted");
        self.hooks.moved(db, src, db, dst, moved);
        // Redis deletes a replaced destination and adds the key anew: always `new`.
        self.hooks.added(db, dst);
        self.hooks.reported(db, src, ChangeKind::Del);
        self.hooks
            .after(&Effect::Rename { db, src, dst }, db, dst, ChangeKind::Set);
        true
    }

    /// Copies the live entry at `src` in `src_db` to `dst` in `dst_db` (replacing it,
    /// a key anew), journaled as the copy rather than the value. Returns whether
    /// `src` was live.
    pub fn copy(
        &mut self,
        src_db: usize,
        src: &[u8],
        dst_db: usize,
        dst: &[u8],
        now_ms: u64,
    ) -> bool {
        let Some(entry) = self.find(src_db, src, now_ms).map(EntryRef::to_entry) else {
            return false;
        };
        let effect = Effect::Copy {
            src_db,
            src,
            dst_db,
            dst,
        };
        self.store(dst_db, dst, entry, true, Some(effect));
        true
    }

    pub fn flush_db(&mut self, db: usize) {
        let n = self.dbs[db].len() as u64;
        for (key, e) in self.dbs[db].iter() {
            let bytes = evict::entry_bytes(key, e.value, e.expire_at_ms);
            self.evict.resized(bytes, 0);
        }
        self.dbs[db].clear();
        self.hooks
            .dbs_changed(&Effect::FlushDb { db }, DbChange::Flush { db }, n);
    }

    pub fn flush_all(&mut self) {
        let n = self.dbs.iter().map(|d| d.len() as u64).sum();
        self.dbs.iter_mut().for_each(Db::clear);
        self.evict.entry_bytes = 0;
        self.hooks
            .dbs_changed(&Effect::FlushAll, DbChange::FlushAll, n);
    }

    pub fn swap_db(&mut self, a: usize, b: usize) {
        if a != b {
            let dbs = &self.dbs;
            self.hooks
                .dbs_swapping(a, b, &|db, key| dbs[db].get(key).is_some());
        }
        self.dbs.swap(a, b);
        self.hooks
            .dbs_changed(&Effect::SwapDb { a, b }, DbChange::Swap { a, b }, 1);
    }

    /// A uniformly chosen live key of `db`.
    pub fn random_key(&mut self, db: usize, now_ms: u64, rng: &mut impl Rng) -> Option<Bytes> {
        let (hooks, evict) = (&mut self.hooks, &mut self.evict);
        self.dbs[db].random_key(now_ms, rng, |k, e| {
            evict.removed(k, &e);
            hooks.expired(db, k, e)
        })
    }

    /// One active-expiry tick over every database. Returns keys deleted.
    pub fn active_expire(&mut self, now_ms: u64, rng: &mut impl Rng) -> usize {
        let (hooks, evict) = (&mut self.hooks, &mut self.evict);
        let deadline = std::time::Instant::now() + EXPIRE_TICK_BUDGET;
        let mut deleted = 0;
        for (i, db) in self.dbs.iter_mut().enumerate() {
            deleted += db.active_expire(now_ms, deadline, rng, |k, e| {
                evict.removed(k, &e);
                hooks.expired(i, k, e)
            });
        }
        deleted
    }

    /// Zeroes the counters `CONFIG RESETSTAT` resets.
    pub fn reset_stats(&mut self) {
        for db in &mut self.dbs {
            db.stats = DbStats::default();
        }
        self.evict.evicted_keys = 0;
    }

    pub fn log(&self) -> &EffectLog {
        &self.hooks.log
    }

    pub fn log_mut(&mut self) -> &mut EffectLog {
        &mut self.hooks.log
    }

    /// Keyspace changes since the last save.
    pub fn dirty(&self) -> u64 {
        self.hooks.dirty
    }

    /// Tells the listeners command `id` starts with `args` (`Some`), or that it
    /// finished (`None`).
    pub(crate) fn command(&mut self, running: Option<(usize, &[Bytes])>) {
        if running.is_none() {
            self.evict.notouch = false;
        }
        if !self.hooks.sinks.is_empty() {
            self.hooks.command(running);
        }
    }

    /// Adds a listener to every change from now on (see [`ChangeSink`]).
    pub fn add_sink(&mut self, sink: Box<dyn ChangeSink>) {
        self.hooks.sinks.push(sink);
    }

    /// The listener of type `T`, if one was added, to read.
    pub fn sink<T: ChangeSink>(&self) -> Option<&T> {
        let sink = self
            .hooks
            .sinks
            .iter()
            .find(|s| (***s).type_id() == TypeId::of::<T>())?;
        (sink.as_ref() as &dyn Any).downcast_ref::<T>()
    }

    /// The listener of type `T`, if one was added.
    pub fn sink_mut<T: ChangeSink>(&mut self) -> Option<&mut T> {
        let sink = self
            .hooks
            .sinks
            .iter_mut()
            .find(|s| (***s).type_id() == TypeId::of::<T>())?;
        (sink.as_mut() as &mut dyn Any).downcast_mut::<T>()
    }

    /// Runs `f` with changes not counted as dirty (journal replay, a master's
    /// stream: they were counted where they were made).
    pub(crate) fn replaying<T>(&mut self, f: impl FnOnce(&mut Keyspace) -> T) -> T {
        let was = std::mem::replace(&mut self.hooks.replaying, true);
        let out = f(self);
        self.hooks.replaying = was;
        out
    }

    /// Starts snapshot `id` of the keyspace as it is now, at journal LSN `lsn`;
    /// returns its file header. Every write from now on reaches it first.
    pub fn start_snapshot(
        &mut self,
        id: u64,
        shard_id: usize,
        shards: usize,
        lsn: u64,
        created_unix_ms: u64,
    ) -> Vec<u8> {
        let writer = SnapshotWriter::new(shard_id, shards, lsn, created_unix_ms, &self.dbs);
        let mut header = Vec::new();
        writer.header(&mut header);
        self.hooks.snapshots.push((id, writer));
        header
    }

    /// Appends snapshot `id`'s next chunk to `out` (see
    /// [`SnapshotWriter::next_chunk`]). `None` if the snapshot was abandoned
    /// (`FLUSHDB`, `FLUSHALL`, `SWAPDB`) or dropped; once the trailer is written the
    /// writer is dropped.
    pub fn snapshot_chunk(
        &mut self,
        id: u64,
        now_ms: u64,
        max_bytes: usize,
        out: &mut Vec<u8>,
    ) -> Option<SnapshotProgress> {
        let snapshots = &mut self.hooks.snapshots;
        let at = snapshots.iter().position(|(i, _)| *i == id)?;
        let writer = &mut snapshots[at].1;
        if writer.next_chunk(&self.dbs, now_ms, max_bytes, out) {
            return Some(SnapshotProgress::More);
        }
        let entries = writer.entries_written();
        snapshots.remove(at);
        Some(SnapshotProgress::Done { entries })
    }

    /// Stops snapshot `id`, if still in progress.
    pub fn drop_snapshot(&mut self, id: u64) {
        self.hooks.snapshots.retain(|(i, _)| *i != id);
    }

    pub fn snapshots_in_progress(&self) -> usize {
        self.hooks.snapshots.len()
    }

    /// Loads a snapshot image into this (fresh) keyspace; see [`crate::snapshot::load`].
    pub fn load_snapshot(&mut self, image: &[u8]) -> Result<(SnapshotHeader, u64), SnapshotError> {
        let loaded = crate::snapshot::load(image, &mut self.dbs);
        if let Ok((header, _)) = &loaded {
            self.evict.loaded_at_ms = Some(header.created_unix_ms);
        }
        self.evict.entry_bytes = self
            .dbs
            .iter()
            .flat_map(|d| d.iter())
            .map(|(k, e)| evict::entry_bytes(k, e.value, e.expire_at_ms))
            .sum();
        loaded
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    fn s(v: &str) -> Value {
        Value::Str(v.as_bytes().to_vec().into())
    }

    #[test]
    fn lazy_expiry_hides_and_deletes() {
        let mut db = Db::default();
        db.insert(b"k", s("v"), 100);
        assert!(db.lookup(b"k", 99).is_some());
        assert!(db.lookup(b"k", 100).is_none());
        assert_eq!(db.len(), 0);
        assert_eq!(db.expires_len(), 0);
        assert_eq!(db.stats().expired_keys, 1);
    }

    #[test]
    fn active_expiry_deletes_expired_keys() {
        let mut db = Db::default();
        let mut rng = SmallRng::seed_from_u64(1);
        for i in 0..1000 {
            db.insert(
                format!("k{i}").as_bytes(),
                s("v"),
                if i % 2 == 0 { 10 } else { 0 },
            );
        }
        let mut total = 0;
        for _ in 0..100 {
            let deadline = std::time::Instant::now() + EXPIRE_TICK_BUDGET;
            total += db.active_expire(20, deadline, &mut rng, |_, _| {});
        }
        assert_eq!(total, 500);
        assert_eq!(db.len(), 500);
    }

    #[test]
    fn scan_returns_every_key_present_throughout_while_table_changes() {
        let mut db = Db::default();
        let mut rng = SmallRng::seed_from_u64(7);
        for i in 0..2000 {
            db.insert(format!("stable{i}").as_bytes(), s("v"), NO_EXPIRE);
        }
        let mut seen = std::collections::HashSet::new();
        let mut pos = u64::MAX;
        let mut churn = 0;
        loop {
            pos = db.scan(pos, 10, 0, |k, _| {
                seen.insert(k.to_vec());
            });
            for _ in 0..20 {
                churn += 1;
                db.insert(format!("churn{churn}").as_bytes(), s("v"), NO_EXPIRE);
                if rng.gen_bool(0.5) {
                    let victim = format!("churn{}", rng.gen_range(0..churn));
                    db.remove(victim.as_bytes());
                }
            }
            if pos == 0 {
                break;
            }
        }
        for i in 0..2000 {
            assert!(
                seen.contains(format!("stable{i}").as_bytes()),
                "missed stable{i}"
            );
        }
    }
}
