//! A shard: the keyspaces (one per logical database) that one core owns, and the two
//! ways in: [`Shard::run`] executes one command from the table, [`Shard::apply`]
//! executes one part of a cross-shard command or a fan-out ([`Op`]).
//!
//! Everything here is synchronous and deterministic: time is the `now_ms` argument,
//! randomness comes from the seeded generator the shard was built with.

use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::SeedableRng;

use crate::command::{table, Route};
use crate::error::{CmdError, CmdResult};
use crate::glob::glob_match;
use crate::keyspace::{Db, DbStats, Entry, ScanPos};
use crate::limits::{DATABASES, SCAN_VISIT_MAX, STRING_MAX_BYTES};
use crate::resp::{Args, Reply};
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
}

/// What a handler works with: its shard, the client's database, the time, the
/// output buffer its reply goes into.
pub struct Ctx<'a> {
    pub shard: &'a mut Shard,
    pub db: usize,
    pub now_ms: u64,
    pub out: &'a mut Vec<u8>,
}

impl Ctx<'_> {
    pub fn db(&mut self) -> &mut Db {
        &mut self.shard.dbs[self.db]
    }

    /// Records `n` keyspace changes.
    pub fn dirty(&mut self, n: u64) {
        self.shard.counters.dirty += n;
    }
}

/// One part of a cross-shard command, or one shard's share of a fan-out.
#[derive(Debug)]
pub enum Op {
    /// Ordinary commands for this shard: `(db, args)`, replies concatenated.
    Batch(Vec<(usize, Args)>),
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
        }
    }

    /// Runs one command whose keys all live on this shard, writing its reply to `out`.
    /// Checks existence and arity as the server's generic code does, so the engine
    /// harness sees the same errors a client would.
    pub fn run(&mut self, db: usize, args: &[Bytes], now_ms: u64, out: &mut Vec<u8>) {
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
        let mut ctx = Ctx {
            shard: self,
            db,
            now_ms,
            out,
        };
        let mark = ctx.out.len();
        if let Err(e) = handler(&mut ctx, args) {
            ctx.shard.counters.errors += 1;
            ctx.out.truncate(mark);
            ctx.out.error(&e.message());
        }
    }

    /// Applies one part of a cross-shard command or fan-out.
    pub fn apply(&mut self, op: Op, now_ms: u64) -> OpReply {
        match op {
            Op::Batch(cmds) => {
                let mut out = Vec::new();
                let mut ends = Vec::with_capacity(cmds.len());
                for (db, args) in cmds {
                    self.run(db, &args, now_ms, &mut out);
                    ends.push(out.len());
                }
                OpReply::Replies { out, ends }
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
                    self.dbs[db].insert(&k, Value::Str(v.to_vec()), 0);
                }
                OpReply::Done
            }
            Op::Exists { db, keys } => {
                let d = &mut self.dbs[db];
                OpReply::Int(keys.iter().filter(|k| d.contains(k, now_ms)).count() as i64)
            }
            Op::Del { db, keys } => {
                let d = &mut self.dbs[db];
                let n = keys
                    .iter()
                    .filter(|k| d.remove_live(k, now_ms).is_some())
                    .count();
                self.counters.dirty += n as u64;
                OpReply::Int(n as i64)
            }
            Op::Touch { db, keys } => {
                let d = &mut self.dbs[db];
                OpReply::Int(keys.iter().filter(|k| d.contains(k, now_ms)).count() as i64)
            }
            Op::Take { db, key, remove } => {
                let d = &mut self.dbs[db];
                let entry = if remove {
                    let e = d.remove_live(&key, now_ms);
                    self.counters.dirty += e.is_some() as u64;
                    e
                } else {
                    d.lookup(&key, now_ms).map(|e| e.clone())
                };
                OpReply::Entry(entry)
            }
            Op::Put {
                db,
                key,
                entry,
                replace,
            } => {
                let d = &mut self.dbs[db];
                if !replace && d.contains(&key, now_ms) {
                    return OpReply::Int(0);
                }
                d.insert_entry(&key, entry);
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
                match db {
                    Some(db) => self.flush_db(db),
                    None => (0..self.dbs.len()).for_each(|db| self.flush_db(db)),
                }
                OpReply::Done
            }
            Op::SwapDb { a, b } => {
                self.dbs.swap(a, b);
                self.counters.dirty += 1;
                OpReply::Done
            }
            Op::Stats => OpReply::Stats(self.stats()),
        }
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
        self.dbs
            .iter_mut()
            .map(|db| db.active_expire(now_ms, rng))
            .sum()
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
