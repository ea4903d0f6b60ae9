//! What happens around every change to a shard's keyspace: the hooks the door
//! ([`Keyspace`](crate::keyspace::Keyspace)) calls, so no command has to.
//!
//! ```text
//!  handler ──► Keyspace::{find_mut, add, remove, set_expire, move_key, flush…}
//!                 │ before: snapshot copy-on-write, ChangeSink::before_change
//!                 │         (then, for a value changed in place, what each change
//!                 │         overwrites; for one replaced or removed, the old entry)
//!                 ▼
//!              the change (in Db)
//!                 │ after:  journal effect (a delta where one is smaller),
//!                 ▼         dirty counter, ChangeSink::key_changed
//! ```
//!
//! [`ChangeSink`] is the seam for what later features need to hear about each key
//! change: watched keys for `WATCH`, ready keys for blocked pops, memory accounting,
//! keyspace notifications. They plug in here, at one place, instead of in handlers.

use std::any::Any;

use super::db::{Db, Entry, EntryRef};
use super::delta::Delta;
use crate::effect_log::EffectLog;
use crate::journal::Effect;
use crate::snapshot::{SnapshotWriter, WriteKind};
use crate::value::Value;

/// How a key changed, as the door reports it after the change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// Created or replaced whole (value and deadline).
    Set,
    /// Its value changed in place; its deadline stayed.
    Modify,
    /// Deleted by a command.
    Del,
    /// Deleted because its deadline passed (lazy or active expiry).
    Expired,
    /// Deleted by eviction under `maxmemory`.
    Evicted,
    /// Its deadline was set or cleared.
    Deadline,
    /// Moved away to another database (`MOVE`); the destination reports `Set`.
    MovedOut,
}

/// A change to whole databases at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbChange {
    Flush { db: usize },
    FlushAll,
    Swap { a: usize, b: usize },
}

/// A listener on every change the door makes. `before_change` comes before a key
/// may change (it may then stay as it was: a failed `SET NX` or a type error),
/// `key_changed` after it did, or after a write Redis signals though it changed
/// nothing (`LTRIM` keeping every element, `PFMERGE` raising no register; see
/// [`WriteGuard::touch`](super::WriteGuard::touch)).
///
/// A shard has several listeners, one per feature (watched keys, ready keys for
/// blocked pops, keyspace notifications, ...), each added with
/// [`Keyspace::add_sink`](crate::keyspace::Keyspace::add_sink). A listener keeps its
/// feature's state itself; the server's code on the shard's core reaches it through
/// [`Keyspace::sink_mut`](crate::keyspace::Keyspace::sink_mut) by its type. Each
/// should return at once when nobody is interested, since it is called on every
/// write.
///
/// `command_started` and `command_finished` bracket each command (or step of a
/// multi-shard command) run on the shard, so a listener that names changes by the
/// command that made them (keyspace notifications) knows it; changes outside them
/// come from expiry or from replaying a journal or a master's stream.
pub trait ChangeSink: Send + Any {
    fn before_change(&mut self, db: usize, key: &[u8]);
    fn key_changed(&mut self, db: usize, key: &[u8], kind: ChangeKind);
    fn dbs_changed(&mut self, change: DbChange);
    /// Databases `a` and `b` (not the same) are about to swap; `holds` tells
    /// whether a database holds a key now, expired or not (as Redis's dictionary
    /// lookup does).
    fn dbs_swapping(&mut self, _a: usize, _b: usize, _holds: &dyn Fn(usize, &[u8]) -> bool) {}
    /// `key` now holds a value where nothing live was: called before the change's
    /// [`key_changed`](Self::key_changed).
    fn key_added(&mut self, _db: usize, _key: &[u8]) {}
    /// A read command looked `key` up and found nothing live.
    fn key_missed(&mut self, _db: usize, _key: &[u8]) {}
    /// Command `id` (its row in the command table) starts with `args`.
    fn command_started(&mut self, _id: usize, _args: &[bytes::Bytes]) {}
    fn command_finished(&mut self) {}
}

/// The state the hooks keep: the journal's side, snapshots in progress, the dirty
/// counter and the listeners.
#[derive(Default)]
pub struct Hooks {
    /// Every change, as journal records (when the journal is on).
    pub(crate) log: EffectLog,
    /// Snapshots being written, by id (a journal rewrite and a backup may overlap):
    /// each sees every write before it happens. `FLUSHDB`, `FLUSHALL` and `SWAPDB`
    /// abandon them all; their writers notice their id is gone.
    pub(crate) snapshots: Vec<(u64, SnapshotWriter)>,
    /// Keyspace changes since the last save (`rdb_changes_since_last_save`).
    pub(crate) dirty: u64,
    /// While replaying a journal or a master's stream, changes are not counted as
    /// dirty: they were counted where they were first made.
    pub(crate) replaying: bool,
    /// While set, changes are journaled and counted but not reported to the
    /// listeners ([`WriteGuard::unreported`](super::WriteGuard::unreported)).
    pub(crate) quiet: bool,
    pub(crate) sinks: Vec<Box<dyn ChangeSink>>,
    /// The elements the write guard handed out last recorded, for its journal
    /// effect (one buffer reused by every guard).
    pub(crate) delta: Delta,
}

impl Hooks {
    /// Before `key` in database `index` (currently `db`) may change, in the way
    /// `kind` says.
    pub(crate) fn before(&mut self, index: usize, db: &Db, key: &[u8], kind: WriteKind) {
        for (_, snapshot) in &mut self.snapshots {
            snapshot.before_write(index, db, key, kind);
        }
        for sink in &mut self.sinks {
            sink.before_change(index, key);
        }
    }

    /// After `RENAME` or `MOVE` took the value at `src` to `dst` (`moved` is its
    /// entry now): a snapshot that still needs it reads it there.
    pub(crate) fn moved(
        &mut self,
        from: usize,
        src: &[u8],
        to: usize,
        dst: &[u8],
        moved: EntryRef<'_>,
    ) {
        for (_, snapshot) in &mut self.snapshots {
            snapshot.moved(from, src, to, dst, moved);
        }
    }

    /// Hands the entry the door just replaced or removed at `key` to the snapshots
    /// that need it: by move to one, a copy to each other (when several run).
    pub(crate) fn dropped(&mut self, db: usize, key: &[u8], entry: Entry) {
        let mut wanting = self
            .snapshots
            .iter_mut()
            .filter(|(_, s)| s.wants(db, key))
            .peekable();
        while let Some((_, snapshot)) = wanting.next() {
            if wanting.peek().is_none() {
                snapshot.take(db, key, entry);
                return;
            }
            snapshot.take(db, key, entry.clone());
        }
    }

    /// Before bytes `start..end` of the string `current` at `key` are overwritten.
    pub(crate) fn before_range(
        &mut self,
        db: usize,
        key: &[u8],
        current: &[u8],
        start: usize,
        end: usize,
    ) {
        for (_, snapshot) in &mut self.snapshots {
            snapshot.before_range(db, key, current, start, end);
        }
    }

    /// Before a field or member `element` of the hash or set `current` at `key`
    /// is set or removed.
    pub(crate) fn before_element(
        &mut self,
        db: usize,
        key: &[u8],
        current: &Value,
        element: &[u8],
    ) {
        for (_, snapshot) in &mut self.snapshots {
            snapshot.before_element(db, key, current, element);
        }
    }

    /// Before the value `current` at `key` changes in a way no undo log covers.
    pub(crate) fn before_any_change(&mut self, db: usize, key: &[u8], current: &Value) {
        for (_, snapshot) in &mut self.snapshots {
            snapshot.before_any_change(db, key, current);
        }
    }

    /// After `key` changed: journals `effect`, counts the change, tells the listeners.
    pub(crate) fn after(&mut self, effect: &Effect, db: usize, key: &[u8], kind: ChangeKind) {
        self.log.push(effect);
        self.changed(db, key, kind);
    }

    /// Whether changes are journaled. When they are not, [`Hooks::after`] drops the
    /// effect unread, so a change whose effect costs work to build (a collection's
    /// delta) reports itself with [`Hooks::changed`] instead.
    pub(crate) fn journaling(&self) -> bool {
        self.log.enabled()
    }

    /// After `key` changed, with nothing to journal: counts the change, tells the
    /// listeners.
    pub(crate) fn changed(&mut self, db: usize, key: &[u8], kind: ChangeKind) {
        if !self.replaying {
            self.dirty += 1;
        }
        if !self.quiet {
            self.reported(db, key, kind);
        }
    }

    /// Tells the listeners `key` was created (before the change is reported).
    pub(crate) fn added(&mut self, db: usize, key: &[u8]) {
        for sink in &mut self.sinks {
            sink.key_added(db, key);
        }
    }

    /// Tells the listeners a read found nothing at `key`.
    pub(crate) fn missed(&mut self, db: usize, key: &[u8]) {
        for sink in &mut self.sinks {
            sink.key_missed(db, key);
        }
    }

    /// Tells the listeners which command runs (`Some`) or that it finished (`None`).
    pub(crate) fn command(&mut self, running: Option<(usize, &[bytes::Bytes])>) {
        for sink in &mut self.sinks {
            match running {
                Some((id, args)) => sink.command_started(id, args),
                None => sink.command_finished(),
            }
        }
    }

    /// Tells the listeners about a change whose effect was journaled with another key's.
    pub(crate) fn reported(&mut self, db: usize, key: &[u8], kind: ChangeKind) {
        for sink in &mut self.sinks {
            sink.key_changed(db, key, kind);
        }
    }

    /// After expiry deleted `key`: its entry goes to a snapshot that still reads it;
    /// journaled as a `DEL` so replicas drop it too; not a change since the last save
    /// (Redis does not count expiry as dirty either).
    pub(crate) fn expired(&mut self, db: usize, key: &[u8], entry: Entry) {
        self.dropped(db, key, entry);
        self.log.push(&Effect::Del { db, key });
        for sink in &mut self.sinks {
            sink.key_changed(db, key, ChangeKind::Expired);
        }
    }

    /// Around a change to whole databases: snapshots in progress are abandoned (they
    /// are retried later), the effect journaled, the listeners told. `dirty` is counted by
    /// the caller, which knows how many keys went.
    /// Before databases `a` and `b` swap: the listeners look at what each holds.
    pub(crate) fn dbs_swapping(
        &mut self,
        a: usize,
        b: usize,
        holds: &dyn Fn(usize, &[u8]) -> bool,
    ) {
        for sink in &mut self.sinks {
            sink.dbs_swapping(a, b, holds);
        }
    }

    pub(crate) fn dbs_changed(&mut self, effect: &Effect, change: DbChange, dirty: u64) {
        self.snapshots.clear();
        self.log.push(effect);
        if !self.replaying {
            self.dirty += dirty;
        }
        for sink in &mut self.sinks {
            sink.dbs_changed(change);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    use bytes::Bytes;

    use super::*;
    use crate::command::parts::Split;
    use crate::command::{flags, table, Route};
    use crate::harness::TestShard;
    use crate::keyspace::Entry;

    #[derive(Debug, Clone, PartialEq)]
    enum Event {
        Before(usize, Bytes),
        After(usize, Bytes, ChangeKind),
        Dbs(DbChange),
    }

    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<Event>>>);

    impl Recorder {
        fn take(&self) -> Vec<Event> {
            std::mem::take(&mut self.0.lock().expect("not poisoned"))
        }
    }

    impl ChangeSink for Recorder {
        fn before_change(&mut self, db: usize, key: &[u8]) {
            let event = Event::Before(db, Bytes::copy_from_slice(key));
            self.0.lock().expect("not poisoned").push(event);
        }
        fn key_changed(&mut self, db: usize, key: &[u8], kind: ChangeKind) {
            let event = Event::After(db, Bytes::copy_from_slice(key), kind);
            self.0.lock().expect("not poisoned").push(event);
        }
        fn dbs_changed(&mut self, change: DbChange) {
            self.0
                .lock()
                .expect("not poisoned")
                .push(Event::Dbs(change));
        }
    }

    type View = BTreeMap<(usize, Bytes), Entry>;

    fn view(s: &TestShard) -> View {
        let mut view = BTreeMap::new();
        for (i, db) in s.shard.keyspace().dbs().iter().enumerate() {
            db.for_each_live(s.now_ms, |k, e| {
                view.insert((i, Bytes::copy_from_slice(k)), e.to_entry());
            });
        }
        view
    }

    /// Keys whose entry (value or deadline) differs between two views.
    fn changed(before: &View, after: &View) -> Vec<(usize, Bytes)> {
        let mut keys: Vec<_> = before.keys().chain(after.keys()).cloned().collect();
        keys.sort();
        keys.dedup();
        keys.retain(|k| before.get(k) != after.get(k));
        keys
    }

    /// Invocations of every write command, hitting its branches: present and
    /// missing keys, small and large values (deltas), deadlines, other databases.
    const CASES: &[(&str, &[&[&str]])] = &[
        (
            "set",
            &[
                &["SET", "s", "v"],
                &["SET", "a", "x", "XX", "KEEPTTL", "GET"],
            ],
        ),
        ("setnx", &[&["SETNX", "new", "1"], &["SETNX", "a", "1"]]),
        ("setex", &[&["SETEX", "t2", "100", "v"]]),
        ("psetex", &[&["PSETEX", "t3", "100", "v"]]),
        ("getset", &[&["GETSET", "a", "y"], &["GETSET", "gs", "y"]]),
        ("getdel", &[&["GETDEL", "a"], &["GETDEL", "missing"]]),
        (
            "getex",
            &[&["GETEX", "big", "PX", "500"], &["GETEX", "t", "PERSIST"]],
        ),
        (
            "append",
            &[
                &["APPEND", "big", "tail"],
                &["APPEND", "a", "z"],
                &["APPEND", "ap", "1"],
            ],
        ),
        (
            "setrange",
            &[
                &["SETRANGE", "big", "90", "xyz"],
                &["SETRANGE", "sr", "3", "q"],
            ],
        ),
        ("incr", &[&["INCR", "n"], &["INCR", "in"]]),
        ("decr", &[&["DECR", "n"]]),
        ("incrby", &[&["INCRBY", "n", "5"]]),
        ("decrby", &[&["DECRBY", "n", "5"]]),
        (
            "incrbyfloat",
            &[&["INCRBYFLOAT", "n", "0.5"], &["INCRBYFLOAT", "f", "1"]],
        ),
        (
            "setbit",
            &[
                &["SETBIT", "big", "1000", "1"],
                &["SETBIT", "bits", "9", "1"],
                &["SETBIT", "bits", "9", "1"],
            ],
        ),
        (
            "bitop",
            &[
                &["BITOP", "OR", "bo", "a", "big"],
                &["BITOP", "AND", "a", "none1", "none2"],
            ],
        ),
        (
            "pfadd",
            &[
                &["PFADD", "hl", "a", "b"],
                &["PFADD", "hl", "a"],
                &["PFADD", "hl", "c"],
            ],
        ),
        (
            "pfmerge",
            &[&["PFMERGE", "hm", "hl"], &["PFMERGE", "hm", "hl"]],
        ),
        (
            "bitfield",
            &[
                &[
                    "BITFIELD", "big", "SET", "u8", "800", "7", "GET", "u8", "800",
                ],
                &["BITFIELD", "bf", "INCRBY", "i5", "#3", "-2"],
                &["BITFIELD", "bf", "OVERFLOW", "FAIL", "SET", "u2", "40", "9"],
                &["BITFIELD", "bf", "SET", "i5", "#3", "-2"],
            ],
        ),
        (
            "pfdebug",
            &[
                &["PFADD", "hd", "x"],
                &["PFDEBUG", "TODENSE", "hd"],
                &["PFDEBUG", "GETREG", "hd"],
            ],
        ),
        ("mset", &[&["MSET", "m1", "1", "m2", "2"]]),
        (
            "msetnx",
            &[
                &["MSETNX", "m3", "1", "m4", "2"],
                &["MSETNX", "a", "1", "m5", "2"],
            ],
        ),
        ("del", &[&["DEL", "a", "missing", "n"]]),
        ("unlink", &[&["UNLINK", "big"]]),
        ("rename", &[&["RENAME", "a", "ren"]]),
        (
            "sort",
            &[
                &["SORT", "ss", "STORE", "sd"],
                &["SORT", "no", "STORE", "sd"],
            ],
        ),
        (
            "restore",
            &[&["RESTORE", "rk", "0", "\0\x03vkt\n\0j\x1bX\x08\x1bD`x"]],
        ),
        (
            "renamenx",
            &[&["RENAMENX", "big", "rnx"], &["RENAMENX", "a", "n"]],
        ),
        (
            "copy",
            &[
                &["COPY", "big", "cp", "DB", "1"],
                &["COPY", "a", "n", "REPLACE"],
            ],
        ),
        ("expire", &[&["EXPIRE", "a", "100"], &["EXPIRE", "n", "-1"]]),
        ("pexpire", &[&["PEXPIRE", "a", "100"]]),
        ("expireat", &[&["EXPIREAT", "a", "99999999999"]]),
        ("pexpireat", &[&["PEXPIREAT", "big", "1"]]),
        ("persist", &[&["PERSIST", "t"]]),
        ("move", &[&["MOVE", "a", "1"], &["MOVE", "other", "1"]]),
        (
            "hset",
            &[&["HSET", "hh", "f", "2"], &["HSET", "nh", "f", "1"]],
        ),
        ("hmset", &[&["HMSET", "hh", "g", "2"]]),
        (
            "hsetnx",
            &[&["HSETNX", "hh", "g", "2"], &["HSETNX", "hh", "f", "2"]],
        ),
        ("hdel", &[&["HDEL", "hh", "f"], &["HDEL", "hh", "zz"]]),
        (
            "hincrby",
            &[&["HINCRBY", "hh", "n", "2"], &["HINCRBY", "nh", "n", "2"]],
        ),
        ("hincrbyfloat", &[&["HINCRBYFLOAT", "hh", "n", "2.5"]]),
        ("sadd", &[&["SADD", "ss", "3"], &["SADD", "ns", "x"]]),
        ("srem", &[&["SREM", "ss", "1"], &["SREM", "ss", "1", "2"]]),
        ("spop", &[&["SPOP", "ss"], &["SPOP", "ss", "5"]]),
        (
            "smove",
            &[&["SMOVE", "ss", "ns", "1"], &["SMOVE", "ss", "ss2", "2"]],
        ),
        (
            "sinterstore",
            &[
                &["SINTERSTORE", "d", "ss", "ss"],
                &["SINTERSTORE", "a", "ss", "nokey"],
            ],
        ),
        ("sunionstore", &[&["SUNIONSTORE", "d", "ss", "nokey"]]),
        ("sdiffstore", &[&["SDIFFSTORE", "d", "ss", "nokey"]]),
        (
            "zadd",
            &[&["ZADD", "zz", "3", "c"], &["ZADD", "nz", "1", "x"]],
        ),
        ("zincrby", &[&["ZINCRBY", "zz", "2", "a"]]),
        ("zrem", &[&["ZREM", "zz", "a"], &["ZREM", "zz", "a", "b"]]),
        ("zremrangebyrank", &[&["ZREMRANGEBYRANK", "zz", "0", "0"]]),
        (
            "zremrangebyscore",
            &[&["ZREMRANGEBYSCORE", "zz", "-inf", "1"]],
        ),
        ("zremrangebylex", &[&["ZREMRANGEBYLEX", "zz", "-", "[a"]]),
        ("zpopmin", &[&["ZPOPMIN", "zz"]]),
        ("zpopmax", &[&["ZPOPMAX", "zz", "5"]]),
        ("zmpop", &[&["ZMPOP", "2", "nokey", "zz", "MIN"]]),
        ("bzpopmin", &[&["BZPOPMIN", "nokey", "zz", "0"]]),
        ("bzpopmax", &[&["BZPOPMAX", "zz", "0"]]),
        (
            "bzmpop",
            &[&["BZMPOP", "0", "2", "nokey", "zz", "MAX", "COUNT", "2"]],
        ),
        ("zunionstore", &[&["ZUNIONSTORE", "d", "2", "zz", "ss"]]),
        ("zinterstore", &[&["ZINTERSTORE", "a", "2", "zz", "nokey"]]),
        ("zdiffstore", &[&["ZDIFFSTORE", "d", "1", "zz"]]),
        ("zrangestore", &[&["ZRANGESTORE", "d", "zz", "0", "0"]]),
        (
            "geoadd",
            &[
                &["GEOADD", "zz", "1", "2", "a"],
                &["GEOADD", "ng", "1", "2", "x"],
            ],
        ),
        (
            "georadius",
            &[
                &["GEORADIUS", "ng", "1", "2", "9", "km", "STORE", "gd"],
                &["GEORADIUS", "ng", "9", "9", "1", "km", "STORE", "gd"],
            ],
        ),
        (
            "georadiusbymember",
            &[&["GEORADIUSBYMEMBER", "ng", "x", "1", "m", "STOREDIST", "gd"]],
        ),
        (
            "geosearchstore",
            &[&[
                "GEOSEARCHSTORE",
                "gs",
                "ng",
                "FROMMEMBER",
                "x",
                "BYBOX",
                "1",
                "1",
                "m",
            ]],
        ),
        (
            "lpush",
            &[&["LPUSH", "ll", "x"], &["LPUSH", "nl", "x", "y"]],
        ),
        ("rpush", &[&["RPUSH", "ll", "x"], &["RPUSH", "nl2", "x"]]),
        (
            "lpushx",
            &[&["LPUSHX", "ll", "x"], &["LPUSHX", "nokey", "x"]],
        ),
        ("rpushx", &[&["RPUSHX", "ll", "x"]]),
        ("linsert", &[&["LINSERT", "ll", "BEFORE", "b", "x"]]),
        ("lset", &[&["LSET", "ll", "0", "x"]]),
        ("lpop", &[&["LPOP", "ll"], &["LPOP", "ll", "9"]]),
        ("rpop", &[&["RPOP", "ll", "2"]]),
        (
            "lrem",
            &[&["LREM", "ll", "0", "b"], &["LREM", "ll", "0", "zz"]],
        ),
        (
            "ltrim",
            &[&["LTRIM", "ll", "1", "1"], &["LTRIM", "ll", "5", "1"]],
        ),
        (
            "lmove",
            &[
                &["LMOVE", "ll", "nl", "LEFT", "RIGHT"],
                &["LMOVE", "ll", "ll", "LEFT", "RIGHT"],
            ],
        ),
        ("rpoplpush", &[&["RPOPLPUSH", "ll", "nl"]]),
        (
            "lmpop",
            &[&["LMPOP", "2", "nokey", "ll", "LEFT", "COUNT", "9"]],
        ),
        ("blpop", &[&["BLPOP", "nokey", "ll", "0"]]),
        ("brpop", &[&["BRPOP", "ll", "0"]]),
        ("brpoplpush", &[&["BRPOPLPUSH", "ll", "nl", "0"]]),
        ("blmove", &[&["BLMOVE", "ll", "nl", "LEFT", "LEFT", "0"]]),
        ("blmpop", &[&["BLMPOP", "0", "1", "ll", "LEFT"]]),
    ];

    fn fresh(recorder: &Recorder) -> TestShard {
        let mut s = TestShard::default();
        s.shard.log_mut().enable(0);
        let big = "b".repeat(100);
        for args in [
            &["SET", "a", "hello"][..],
            &["SET", "n", "10"],
            &["SET", "big", &big],
            &["SET", "t", "v", "PX", "1000"],
            &["SET", "dead", "v", "PX", "1"],
            &["SET", "other", "o"],
            &["HSET", "hh", "f", "1"],
            &["SADD", "ss", "1", "2"],
            &["ZADD", "zz", "1", "a", "2", "b"],
            &["RPUSH", "ll", "a", "b", "c"],
        ] {
            s.run(args);
        }
        s.db = 1;
        s.run(&["SET", "other", "1"]);
        s.db = 0;
        s.advance_ms(2);
        s.shard.keyspace_mut().add_sink(Box::new(recorder.clone()));
        s
    }

    /// Every listener hears every change, and each is found again by its type.
    #[test]
    fn several_listeners_each_hear_and_are_found_by_type() {
        #[derive(Default)]
        struct Count(usize);
        impl ChangeSink for Count {
            fn before_change(&mut self, _: usize, _: &[u8]) {}
            fn key_changed(&mut self, _: usize, _: &[u8], _: ChangeKind) {
                self.0 += 1;
            }
            fn dbs_changed(&mut self, _: DbChange) {}
        }
        let recorder = Recorder::default();
        let mut s = TestShard::default();
        s.shard.keyspace_mut().add_sink(Box::new(recorder.clone()));
        s.shard.keyspace_mut().add_sink(Box::new(Count::default()));
        s.run(&["SET", "a", "1"]);
        s.run(&["DEL", "a"]);
        assert_eq!(recorder.take().len(), 4, "before and after for each change");
        let count = s.shard.keyspace_mut().sink_mut::<Count>().expect("added");
        assert_eq!(count.0, 2);
        assert!(s.shard.keyspace_mut().sink_mut::<Recorder>().is_some());
    }

    /// Commands that report a key modified even when it did not change, as Redis
    /// signals it ([`WriteGuard::touch`](super::super::WriteGuard::touch)).
    const TOUCH_UNCHANGED: &[&str] = &["ltrim", "pfmerge"];

    /// Changes journaled but not reported, as Redis does not signal them: a
    /// `BITFIELD` whose every write failed, growing the string.
    const UNREPORTED: &[&[&str]] =
        &[&["BITFIELD", "bf", "OVERFLOW", "FAIL", "SET", "u2", "40", "9"]];

    /// Every changed key had a `before_change` and then a `key_changed`, and no key
    /// is reported that did not change (but for a modification by a command of
    /// [`TOUCH_UNCHANGED`]).
    fn check(events: &[Event], changed: &[(usize, Bytes)], name: &str, what: &str) {
        let touches = TOUCH_UNCHANGED.contains(&name);
        for (db, key) in changed {
            let before = events
                .iter()
                .position(|e| *e == Event::Before(*db, key.clone()));
            let after = events
                .iter()
                .rposition(|e| matches!(e, Event::After(d, k, _) if d == db && k == key));
            match (before, after) {
                (Some(b), Some(a)) if b < a => {}
                _ => panic!("{what}: {db}/{key:?} changed without hooks: {events:?}"),
            }
        }
        for e in events {
            if let Event::After(db, key, kind) = e {
                let dead = *kind == ChangeKind::Expired;
                let touched = touches && *kind == ChangeKind::Modify;
                assert!(
                    dead || touched || changed.contains(&(*db, key.clone())),
                    "{what}: {db}/{key:?} reported but unchanged"
                );
            }
        }
    }

    /// Commands that change every key at once report whole-database changes instead
    /// (checked below).
    fn whole_keyspace(route: Route) -> bool {
        matches!(route, Route::Parts(p) if matches!(p.split, Split::Every { .. }))
    }

    #[test]
    fn every_write_command_reaches_the_hooks_for_every_key_it_changes() {
        let writes: Vec<&str> = table()
            .all
            .iter()
            .filter(|spec| spec.has(flags::WRITE) && !whole_keyspace(spec.route))
            .map(|spec| spec.name)
            .collect();
        for name in &writes {
            assert!(
                CASES.iter().any(|(n, _)| n == name),
                "write command {name} has no case here"
            );
        }
        let recorder = Recorder::default();
        for (name, invocations) in CASES {
            let mut s = fresh(&recorder);
            for args in *invocations {
                let before = view(&s);
                recorder.take();
                s.run(args);
                let events = recorder.take();
                let changed = changed(&before, &view(&s));
                let reported = events.iter().any(|e| matches!(e, Event::After(..)));
                if UNREPORTED.contains(args) {
                    assert!(!changed.is_empty() && !reported, "{args:?}: {events:?}");
                    continue;
                }
                check(&events, &changed, name, &format!("{name} {args:?}"));
                assert!(!changed.is_empty() || !reported || TOUCH_UNCHANGED.contains(name));
            }
        }
    }

    #[test]
    fn whole_database_changes_reach_the_hooks() {
        let recorder = Recorder::default();
        let mut s = fresh(&recorder);
        for (db, args, change) in [
            (0, &["SWAPDB", "0", "1"][..], DbChange::Swap { a: 0, b: 1 }),
            (1, &["FLUSHDB"], DbChange::Flush { db: 1 }),
            (0, &["FLUSHALL"], DbChange::FlushAll),
        ] {
            s.run_in(db, args);
            assert_eq!(recorder.take(), [Event::Dbs(change)]);
        }
    }

    #[test]
    fn expiry_is_reported_and_journaled_as_it_happens() {
        let recorder = Recorder::default();
        let mut s = fresh(&recorder);
        s.shard.log_mut().take();
        assert_eq!(s.run(&["GET", "dead"]), "(nil)");
        assert_eq!(
            recorder.take(),
            [Event::After(
                0,
                Bytes::from_static(b"dead"),
                ChangeKind::Expired
            )]
        );
        assert!(s.shard.log().pending_bytes() > 0);
    }
}
