//! A shard: the keyspaces (one per logical database) that one core owns, and the two
//! ways in: [`Shard::run`] executes one command from the table, [`Shard::apply`]
//! executes one part of a cross-shard command or a fan-out ([`Op`]).
//!
//! Everything here is synchronous and deterministic: time is the `now_ms` argument,
//! randomness comes from the seeded generator the shard was built with.

use std::borrow::Cow;

use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::SeedableRng;

use crate::command::{flags, table, Route};
use crate::effect_log::EffectLog;
use crate::error::{CmdError, CmdResult};
use crate::glob::glob_match;
use crate::journal::Effect;
use crate::keyspace::{Db, DbStats, Entry, ScanPos};
use crate::limits::{DATABASES, SCAN_VISIT_MAX, STRING_MAX_BYTES};
use crate::resp::{Args, Protocol, Reply, ReplyBuf};
use crate::snapshot::SnapshotWriter;
use crate::value::Value;

/// Per-shard counters for `INFO`.
#[derive(Debug, Default, Clone, Copy)]
pub struct ShardCounters {
    pub commands: u64,
    /// Commands that answered with an error.
    pub errors: u64,
    /// Keyspace changes since the last save (`rdb_changes_since_last_save`).
    pub dirty: u64,
}

pub struct Shard {
    pub id: usize,
    pub dbs: Vec<Db>,
    pub rng: SmallRng,
    pub counters: ShardCounters,
    /// Longest string a command may build (`proto-max-bulk-len`).
    pub string_max_bytes: usize,
    /// Every change, as journal records (when the journal is on).
    pub log: EffectLog,
    /// Snapshots being written, by id (a journal rewrite and a backup may overlap):
    /// each sees every write before it happens. `FLUSHDB`, `FLUSHALL` and `SWAPDB`
    /// abandon them all; their writers notice their id is gone.
    pub snapshots: Vec<(u64, SnapshotWriter)>,
}

/// What a handler works with: its shard, the client's database, the time, the
/// output buffer its reply goes into.
pub struct Ctx<'a> {
    pub shard: &'a mut Shard,
    pub db: usize,
    pub now_ms: u64,
    pub out: &'a mut ReplyBuf,
    /// Keys the command writes in databases other than `db` (`MOVE`, `COPY ... DB`).
    extra_writes: Vec<(usize, Bytes)>,
}

impl Ctx<'_> {
    pub fn db(&mut self) -> &mut Db {
        &mut self.shard.dbs[self.db]
    }

    /// Records `n` keyspace changes.
    pub fn dirty(&mut self, n: u64) {
        self.shard.counters.dirty += n;
    }

    /// Declares, before changing it, that the command writes `key` in database `db`
    /// other than the client's. Keys in the command's key positions need no
    /// declaration: [`Shard::run`] journals their state after every write command.
    pub fn writes_in(&mut self, db: usize, key: &Bytes) {
        self.shard.before_write(db, key);
        self.extra_writes.push((db, key.clone()));
    }
}

/// One part of a cross-shard command, or one shard's share of a fan-out.
#[derive(Debug)]
pub enum Op {
    /// Ordinary commands for this shard: `(db, args)`, replies concatenated in the
    /// client's protocol.
    Batch(Vec<(usize, Args)>, Protocol),
    /// Take the lock only (a multi-shard transaction's participant).
    Lock,
    MGet {
        db: usize,
        keys: Vec<Bytes>,
    },
    MSet {
        db: usize,
        pairs: Vec<(Bytes, Bytes)>,
    },
    /// Counts live keys, duplicates counted again (`EXISTS k k` is 2).
    Exists {
        db: usize,
        keys: Vec<Bytes>,
    },
    Del {
        db: usize,
        keys: Vec<Bytes>,
    },
    Touch {
        db: usize,
        keys: Vec<Bytes>,
    },
    /// Returns the live entry at `key`, removing it when `remove`.
    Take {
        db: usize,
        key: Bytes,
        remove: bool,
    },
    /// Stores `entry` at `key` unless the key exists and `!replace`; replies 1 or 0.
    Put {
        db: usize,
        key: Bytes,
        entry: Entry,
        replace: bool,
    },
    DbSize {
        db: usize,
    },
    Keys {
        db: usize,
        pattern: Bytes,
    },
    Scan(ScanArgs),
    RandomKey {
        db: usize,
    },
    Flush {
        db: Option<usize>,
    },
    SwapDb {
        a: usize,
        b: usize,
    },
    Stats,
}

#[derive(Debug, Clone)]
pub struct ScanArgs {
    pub db: usize,
    pub pos: ScanPos,
    pub count: usize,
    pub pattern: Option<Bytes>,
    pub type_name: Option<Bytes>,
}

/// A shard's answer to an [`Op`].
#[derive(Debug)]
pub enum OpReply {
    Done,
    /// RESP replies of a `Batch`, in order; `ends[i]` is where reply `i` ends in `out`.
    Replies {
        out: Vec<u8>,
        ends: Vec<usize>,
    },
    Int(i64),
    Values(Vec<Option<Vec<u8>>>),
    Entry(Option<Entry>),
    Keys(Vec<Bytes>),
    Scan {
        pos: ScanPos,
        keys: Vec<Bytes>,
    },
    /// `RANDOMKEY`'s share: this shard's key count and one of its keys.
    Random {
        len: usize,
        key: Option<Bytes>,
    },
    Stats(ShardStats),
}

/// A snapshot of one shard's numbers for `INFO`.
#[derive(Debug, Clone, Default)]
pub struct ShardStats {
    pub keys: Vec<(usize, usize)>,
    pub db: DbStats,
    pub counters: ShardCounters,
}

impl Shard {
    pub fn new(id: usize, seed: u64) -> Self {
        Shard {
            id,
            dbs: (0..DATABASES).map(|_| Db::default()).collect(),
            rng: SmallRng::seed_from_u64(seed ^ id as u64),
            counters: ShardCounters::default(),
            string_max_bytes: STRING_MAX_BYTES,
            log: EffectLog::default(),
            snapshots: Vec::new(),
        }
    }

    /// Runs one command whose keys all live on this shard, writing its reply to `out`.
    /// Checks existence and arity as the server's generic code does, so the engine
    /// harness sees the same errors a client would.
    ///
    /// A write command that changed the keyspace is journaled by its result: the
    /// state of every key in its key positions afterwards, a `SET` of the whole
    /// entry (absolute deadline included) or a `DEL`. That one rule makes every
    /// effect deterministic (`INCRBYFLOAT`, relative TTLs, in-place `APPEND`)
    /// without each handler describing its change.
    pub fn run(&mut self, db: usize, args: &[Bytes], now_ms: u64, out: &mut ReplyBuf) {
        debug_assert!(db < self.dbs.len());
        let Some(spec) = table().get(&args[0]) else {
            self.counters.errors += 1;
            out.error(&unknown_command_message(args));
            return;
        };
        if !spec.arity_ok(args.len()) {
            self.counters.errors += 1;
            out.error(&CmdError::WrongArgs(spec.name.to_string()).message());
            return;
        }
        let handler = match spec.route {
            Route::Shard(h) | Route::Multi(_, h) => h,
            Route::All(_) | Route::Server(_) => {
                out.error(&format!("ERR '{}' is not a shard command", spec.name));
                return;
            }
        };
        self.counters.commands += 1;
        let write = spec.has(flags::WRITE);
        if write {
            for i in spec.key_indices(args.len()) {
                self.before_write(db, &args[i]);
            }
        }
        let dirty = self.counters.dirty;
        let mut ctx = Ctx {
            shard: self,
            db,
            now_ms,
            out,
            extra_writes: Vec::new(),
        };
        let mark = ctx.out.len();
        if let Err(e) = handler(&mut ctx, args) {
            ctx.shard.counters.errors += 1;
            ctx.out.truncate(mark);
            ctx.out.error(&e.message());
        }
        let extra_writes = std::mem::take(&mut ctx.extra_writes);
        if write && self.log.enabled() && self.counters.dirty != dirty {
            for i in spec.key_indices(args.len()) {
                self.log_key(db, &args[i], now_ms);
            }
            for (db, key) in &extra_writes {
                self.log_key(*db, key, now_ms);
            }
        }
        self.log_expired();
    }

    /// Journals the state of `key` in `db` as it is now: its whole entry, or absent.
    fn log_key(&mut self, db: usize, key: &[u8], now_ms: u64) {
        // Keys expiry deleted on the way were deleted first.
        self.log_expired();
        let d = &self.dbs[db];
        let effect = match d.position(key).and_then(|at| d.entry_at(at)) {
            Some((_, e)) if !e.expired(now_ms) => Effect::Set {
                db,
                key,
                value: Cow::Borrowed(&e.value),
                expire_at_ms: e.expire_at_ms,
            },
            _ => Effect::Del { db, key },
        };
        self.log.push(&effect);
    }

    /// Journals the keys expiry deleted as `DEL`s.
    fn log_expired(&mut self) {
        for db in 0..self.dbs.len() {
            if let Some(keys) = self.dbs[db].take_expired() {
                for key in &keys {
                    self.log.push(&Effect::Del { db, key });
                }
            }
        }
    }

    /// Called before anything changes `key` in `db`, so a snapshot in progress can
    /// keep the entry's state from the moment it started.
    pub fn before_write(&mut self, db: usize, key: &[u8]) {
        for (_, snapshot) in &mut self.snapshots {
            snapshot.before_write(&self.dbs, db, key);
        }
    }

    /// Applies one part of a cross-shard command or fan-out.
    pub fn apply(&mut self, op: Op, now_ms: u64) -> OpReply {
        let reply = self.apply_op(op, now_ms);
        self.log_expired();
        reply
    }

    fn apply_op(&mut self, op: Op, now_ms: u64) -> OpReply {
        match op {
            Op::Batch(cmds, protocol) => {
                let mut out = ReplyBuf::new(protocol);
                let mut ends = Vec::with_capacity(cmds.len());
                for (db, args) in cmds {
                    self.run(db, &args, now_ms, &mut out);
                    ends.push(out.len());
                }
                OpReply::Replies {
                    out: out.into_bytes(),
                    ends,
                }
            }
            Op::Lock => OpReply::Done,
            Op::MGet { db, keys } => OpReply::Values(
                keys.iter()
                    .map(|k| match self.dbs[db].lookup_read(k, now_ms) {
                        Some(Entry {
                            value: Value::Str(s),
                            ..
                        }) => Some(s.clone()),
                        _ => None,
                    })
                    .collect(),
            ),
            Op::MSet { db, pairs } => {
                self.counters.dirty += pairs.len() as u64;
                for (k, v) in pairs {
                    self.before_write(db, &k);
                    self.dbs[db].insert(&k, Value::Str(v.to_vec()), 0);
                    self.log_key(db, &k, now_ms);
                }
                OpReply::Done
            }
            Op::Exists { db, keys } => {
                let d = &mut self.dbs[db];
                OpReply::Int(keys.iter().filter(|k| d.contains(k, now_ms)).count() as i64)
            }
            Op::Del { db, keys } => {
                let mut n = 0;
                for key in &keys {
                    self.before_write(db, key);
                    if self.dbs[db].remove_live(key, now_ms).is_some() {
                        self.log.push(&Effect::Del { db, key });
                        n += 1;
                    }
                }
                self.counters.dirty += n as u64;
                OpReply::Int(n as i64)
            }
            Op::Touch { db, keys } => {
                let d = &mut self.dbs[db];
                OpReply::Int(keys.iter().filter(|k| d.contains(k, now_ms)).count() as i64)
            }
            Op::Take { db, key, remove } => {
                let entry = if remove {
                    self.before_write(db, &key);
                    let e = self.dbs[db].remove_live(&key, now_ms);
                    if e.is_some() {
                        self.counters.dirty += 1;
                        self.log.push(&Effect::Del { db, key: &key });
                    }
                    e
                } else {
                    self.dbs[db].lookup(&key, now_ms).map(|e| e.clone())
                };
                OpReply::Entry(entry)
            }
            Op::Put {
                db,
                key,
                entry,
                replace,
            } => {
                if !replace && self.dbs[db].contains(&key, now_ms) {
                    return OpReply::Int(0);
                }
                self.before_write(db, &key);
                self.dbs[db].insert_entry(&key, entry);
                self.log_key(db, &key, now_ms);
                self.counters.dirty += 1;
                OpReply::Int(1)
            }
            Op::DbSize { db } => OpReply::Int(self.dbs[db].len() as i64),
            Op::Keys { db, pattern } => {
                let mut keys = Vec::new();
                let all = pattern.as_ref() == b"*";
                self.dbs[db].for_each_live(now_ms, |k, _| {
                    if all || glob_match(&pattern, k, false) {
                        keys.push(k.clone());
                    }
                });
                OpReply::Keys(keys)
            }
            Op::Scan(a) => self.scan(a, now_ms),
            Op::RandomKey { db } => {
                let d = &mut self.dbs[db];
                let key = d.random_key(now_ms, &mut self.rng);
                OpReply::Random { len: d.len(), key }
            }
            Op::Flush { db } => {
                self.before_whole_db_change();
                match db {
                    Some(db) => {
                        self.flush_db(db);
                        self.log.push(&Effect::FlushDb { db });
                    }
                    None => {
                        (0..self.dbs.len()).for_each(|db| self.flush_db(db));
                        self.log.push(&Effect::FlushAll);
                    }
                }
                OpReply::Done
            }
            Op::SwapDb { a, b } => {
                self.before_whole_db_change();
                self.dbs.swap(a, b);
                self.counters.dirty += 1;
                self.log.push(&Effect::SwapDb { a, b });
                OpReply::Done
            }
            Op::Stats => OpReply::Stats(self.stats()),
        }
    }

    /// Before `FLUSHDB`, `FLUSHALL` or `SWAPDB`: keys expiry deleted are journaled
    /// under the database they were in, and a snapshot in progress is abandoned
    /// (it is retried later).
    fn before_whole_db_change(&mut self) {
        self.log_expired();
        self.snapshots.clear();
    }

    fn flush_db(&mut self, db: usize) {
        self.counters.dirty += self.dbs[db].len() as u64;
        self.dbs[db].clear();
    }

    fn scan(&mut self, a: ScanArgs, now_ms: u64) -> OpReply {
        let mut keys = Vec::new();
        let count = a.count.min(SCAN_VISIT_MAX);
        let pos = self.dbs[a.db].scan(a.pos, count, now_ms, |k, e| {
            let name_ok = a.pattern.as_ref().is_none_or(|p| glob_match(p, k, false));
            let type_ok = a.type_name.as_ref().is_none_or(|t| e.value.is_type(t));
            if name_ok && type_ok {
                keys.push(k.clone());
            }
        });
        OpReply::Scan { pos, keys }
    }

    pub fn stats(&self) -> ShardStats {
        let mut s = ShardStats {
            counters: self.counters,
            ..Default::default()
        };
        for db in &self.dbs {
            s.keys.push((db.len(), db.expires_len()));
            s.db.expired_keys += db.stats.expired_keys;
            s.db.keyspace_hits += db.stats.keyspace_hits;
            s.db.keyspace_misses += db.stats.keyspace_misses;
        }
        s
    }

    /// Zeroes the counters `CONFIG RESETSTAT` resets.
    pub fn reset_stats(&mut self) {
        self.counters.commands = 0;
        for db in &mut self.dbs {
            db.stats = Default::default();
        }
    }

    /// One active-expiry tick over every database. Returns keys deleted.
    pub fn active_expire(&mut self, now_ms: u64) -> usize {
        let rng = &mut self.rng;
        let deleted = self
            .dbs
            .iter_mut()
            .map(|db| db.active_expire(now_ms, rng))
            .sum();
        self.log_expired();
        deleted
    }
}

/// Redis's reply to an unknown command, quoting the first arguments.
pub fn unknown_command_message(args: &[Bytes]) -> String {
    let name = String::from_utf8_lossy(&args[0]);
    let mut msg = format!(
        "ERR unknown command '{}', with args beginning with: ",
        truncate_for_error(&name)
    );
    for a in args[1..].iter() {
        msg.push_str(&format!(
            "'{}' ",
            truncate_for_error(&String::from_utf8_lossy(a))
        ));
    }
    msg
}

/// Redis quotes at most 128 bytes of a name in an error.
fn truncate_for_error(s: &str) -> String {
    s.chars().take(128).collect()
}

/// Helper for handlers: the string at `key`, or a wrong-type error.
pub fn get_str<'d>(db: &'d mut Db, key: &[u8], now_ms: u64) -> CmdResult<Option<&'d mut Vec<u8>>> {
    match db.lookup(key, now_ms) {
        None => Ok(None),
        Some(Entry {
            value: Value::Str(s),
            ..
        }) => Ok(Some(s)),
    }
}
