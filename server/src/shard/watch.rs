//! `WATCH`'s side on one shard: which watchers watch which keys here, and whether a
//! watched key changed since. A [`ChangeSink`] on the shard's keyspace, so every
//! change the door makes reaches it — commands, lazy and active expiry, `FLUSHDB`,
//! `FLUSHALL`, `SWAPDB`, `MOVE`, a replica applying its master's stream — without a
//! line in any command.
//!
//! ```text
//!  WATCH k ──► (k's shard) WatchTable::watch(watcher, db, k)
//!  any write to k ──► key_changed ──► watcher marked dirty
//!  EXEC ──► (every watched shard, under the EXEC's locks) WatchTable::take ──► dirty?
//! ```
//!
//! A watcher is one client's watch session, named by an id unique in the process
//! (a new one after each `EXEC`, `DISCARD`, `UNWATCH`), so a late release of an old
//! session never drops a newer one's keys. [`WatchTable::take`] answers dirty for a
//! watcher the table does not know: the shard was replaced (a full sync) after it
//! watched, which changed everything. The table is created on first use
//! ([`table`]), so a server nobody watches pays nothing per write.

use std::cell::RefCell;
use std::collections::HashMap;

use bytes::Bytes;
use corekv_engine::command::exec::OpReply;
use corekv_engine::command::parts::PartReply;
use corekv_engine::keyspace::hooks::{ChangeKind, ChangeSink, DbChange};
use corekv_engine::shard::Shard;

use crate::shard::answer::{Answer, LogMark};

/// One client's watch session (see the module doc).
pub type WatcherId = u64;

/// The watchers of one key, and whether the key exists now (as far as the door
/// has told: `FLUSHDB` touches only watched keys that existed, as in Redis).
#[derive(Debug, Default)]
struct Watched {
    watchers: Vec<WatcherId>,
    exists: bool,
}

/// One watcher's keys on this shard, and whether one changed since it watched.
#[derive(Debug, Default)]
struct Session {
    keys: Vec<(usize, Bytes)>,
    dirty: bool,
}

/// Watched keys of one shard, by database, and each watcher's session here.
#[derive(Debug, Default)]
pub struct WatchTable {
    keys: HashMap<usize, HashMap<Bytes, Watched>>,
    watchers: HashMap<WatcherId, Session>,
}

impl WatchTable {
    /// `watcher` watches `key` in `db`, which exists now or not.
    pub fn watch(&mut self, watcher: WatcherId, db: usize, key: Bytes, exists: bool) {
        let entry = self
            .keys
            .entry(db)
            .or_default()
            .entry(key.clone())
            .or_default();
        entry.exists = exists;
        if entry.watchers.contains(&watcher) {
            return;
        }
        entry.watchers.push(watcher);
        self.watchers
            .entry(watcher)
            .or_default()
            .keys
            .push((db, key));
    }

    /// Ends `watcher`'s session here; whether a key it watched changed meanwhile
    /// (or the table lost it: the shard was replaced).
    pub fn take(&mut self, watcher: WatcherId) -> bool {
        let Some(Session { keys, dirty }) = self.watchers.remove(&watcher) else {
            return true;
        };
        for (db, key) in keys {
            let Some(in_db) = self.keys.get_mut(&db) else {
                continue;
            };
            if let Some(w) = in_db.get_mut(&key) {
                w.watchers.retain(|&x| x != watcher);
                if w.watchers.is_empty() {
                    in_db.remove(&key);
                }
            }
            if in_db.is_empty() {
                self.keys.remove(&db);
            }
        }
        dirty
    }

    /// Watchers with a session here, and keys watched here.
    pub fn counts(&self) -> (usize, usize) {
        let keys = self.keys.values().map(HashMap::len).sum();
        (self.watchers.len(), keys)
    }

    /// Ends `watcher`'s session like [`WatchTable::take`], after deleting those of
    /// its keys whose deadline passed meanwhile: as in Redis 7.0, a watched key that
    /// expires dirties its watchers even if nothing touched it since.
    pub fn check(shard: &mut Shard, watcher: WatcherId, now_ms: u64) -> bool {
        let keys = match table(shard).watchers.get(&watcher) {
            Some(session) => session.keys.clone(),
            None => Vec::new(),
        };
        for (db, key) in keys {
            shard.keyspace_mut().contains(db, &key, now_ms);
        }
        table(shard).take(watcher)
    }

    fn touch(watchers: &mut HashMap<WatcherId, Session>, w: &Watched) {
        for id in &w.watchers {
            if let Some(session) = watchers.get_mut(id) {
                session.dirty = true;
            }
        }
    }

    /// Marks the watchers of the keys in `db` that exist dirty: the database was
    /// flushed, and none of them exists any more.
    fn flushed(&mut self, db: usize) {
        let Some(in_db) = self.keys.get_mut(&db) else {
            return;
        };
        for w in in_db.values_mut() {
            if w.exists {
                Self::touch(&mut self.watchers, w);
            }
            w.exists = false;
        }
    }
}

impl ChangeSink for WatchTable {
    fn before_change(&mut self, _: usize, _: &[u8]) {}

    fn key_changed(&mut self, db: usize, key: &[u8], kind: ChangeKind) {
        if self.keys.is_empty() {
            return;
        }
        let Some(w) = self.keys.get_mut(&db).and_then(|d| d.get_mut(key)) else {
            return;
        };
        w.exists = !matches!(
            kind,
            ChangeKind::Del | ChangeKind::Expired | ChangeKind::Evicted | ChangeKind::MovedOut
        );
        Self::touch(&mut self.watchers, w);
    }

    fn dbs_changed(&mut self, change: DbChange) {
        if self.keys.is_empty() {
            return;
        }
        match change {
            DbChange::Flush { db } => self.flushed(db),
            DbChange::FlushAll => {
                let dbs: Vec<usize> = self.keys.keys().copied().collect();
                dbs.into_iter().for_each(|db| self.flushed(db));
            }
            // Done before the swap, which knows what each database holds.
            DbChange::Swap { .. } => {}
        }
    }

    /// As Redis's `SWAPDB`: a watched key of either database is touched if it is
    /// in that database or in the other one (possibly expired); afterwards it
    /// exists if the other one held it.
    fn dbs_swapping(&mut self, a: usize, b: usize, holds: &dyn Fn(usize, &[u8]) -> bool) {
        for (db, other) in [(a, b), (b, a)] {
            let Some(in_db) = self.keys.get_mut(&db) else {
                continue;
            };
            for (key, w) in in_db.iter_mut() {
                if holds(db, key) || holds(other, key) {
                    Self::touch(&mut self.watchers, w);
                }
                w.exists = holds(other, key);
            }
        }
    }
}

/// The shard's watch table, added to its keyspace on first use.
pub fn table(shard: &mut Shard) -> &mut WatchTable {
    let keyspace = shard.keyspace_mut();
    if keyspace.sink_mut::<WatchTable>().is_none() {
        keyspace.add_sink(Box::new(WatchTable::default()));
    }
    keyspace.sink_mut::<WatchTable>().expect("added above")
}

/// Keys watched on this shard (`INFO`'s `total_watched_keys`).
pub fn watched_keys(shard: &RefCell<Shard>) -> usize {
    let shard = shard.borrow();
    let table = shard.keyspace().sink::<WatchTable>();
    table.map_or(0, |t| t.counts().1)
}

/// The answer of a watch check run on a shard: whether the watcher was dirty.
pub fn verdict(dirty: bool) -> Answer {
    Answer::Op(
        OpReply::Part(PartReply::Int(dirty as i64)),
        LogMark::default(),
    )
}

/// Reads a [`verdict`]; a shard that dropped the check (shutting down) counts as
/// dirty, so nothing runs.
pub fn is_dirty(answer: Option<Answer>) -> bool {
    !matches!(
        answer,
        Some(Answer::Op(OpReply::Part(PartReply::Int(0)), _))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> Bytes {
        Bytes::copy_from_slice(k.as_bytes())
    }

    #[test]
    fn a_change_to_a_watched_key_dirties_its_watchers_only() {
        let mut t = WatchTable::default();
        t.watch(1, 0, key("a"), true);
        t.watch(2, 0, key("b"), true);
        t.watch(3, 1, key("a"), true);
        t.key_changed(0, b"a", ChangeKind::Set);
        t.key_changed(0, b"c", ChangeKind::Set);
        assert!(t.take(1));
        assert!(!t.take(2));
        assert!(!t.take(3));
        assert_eq!(t.counts(), (0, 0), "every session ended, nothing left");
    }

    #[test]
    fn flush_touches_existing_keys_and_swap_those_either_database_holds() {
        let mut t = WatchTable::default();
        t.watch(1, 0, key("here"), true);
        t.watch(2, 0, key("missing"), false);
        t.dbs_changed(DbChange::Flush { db: 0 });
        assert!(t.take(1));
        assert!(!t.take(2), "FLUSHDB leaves a missing watched key alone");
        t.watch(3, 0, key("missing"), false);
        t.watch(4, 5, key("x"), false);
        t.watch(6, 5, key("nowhere"), false);
        t.watch(7, 6, key("y"), true);
        // `x` is held by database 6 only, `y` by database 6 itself.
        let holds = |db: usize, k: &[u8]| db == 6 && (k == b"x" || k == b"y");
        t.dbs_swapping(5, 6, &holds);
        t.dbs_changed(DbChange::Swap { a: 5, b: 6 });
        assert!(!t.take(3), "another database");
        assert!(t.take(4), "the other database held it");
        assert!(!t.take(6), "neither database held it");
        assert!(t.take(7), "its own database held it");
        t.watch(5, 2, key("k"), true);
        t.key_changed(2, b"k", ChangeKind::Expired);
        t.dbs_changed(DbChange::FlushAll);
        assert!(t.take(5), "expiry dirtied it before the flush");
        assert_eq!(t.counts(), (0, 0));
    }

    /// A watched key whose deadline passes dirties its watcher at the check, though
    /// nothing touched it (Redis 7.0); one already gone when watched does not.
    #[test]
    fn a_key_expired_by_the_check_dirties_its_watcher() {
        let mut shard = Shard::new(0, 1);
        let mut out = corekv_engine::resp::ReplyBuf::new(corekv_engine::resp::Protocol::Resp2);
        let set =
            |k: &str| ["SET", k, "v", "PX", "10"].map(|w| Bytes::copy_from_slice(w.as_bytes()));
        shard.run(0, &set("k"), 1_000, &mut out);
        table(&mut shard).watch(1, 0, key("k"), true);
        table(&mut shard).watch(2, 0, key("gone"), false);
        assert!(!WatchTable::check(&mut shard, 2, 2_000));
        assert!(WatchTable::check(&mut shard, 1, 1_020));
        assert_eq!(table(&mut shard).counts(), (0, 0));
    }

    #[test]
    fn an_unknown_watcher_is_dirty_and_release_is_per_session() {
        let mut t = WatchTable::default();
        assert!(t.take(9), "the shard was replaced after it watched");
        t.watch(1, 0, key("a"), true);
        t.watch(2, 0, key("a"), true);
        assert!(!t.take(1));
        assert_eq!(t.counts(), (1, 1), "the other session keeps its key");
        t.key_changed(0, b"a", ChangeKind::Del);
        assert!(t.take(2));
        assert_eq!(t.counts(), (0, 0));
    }
}
