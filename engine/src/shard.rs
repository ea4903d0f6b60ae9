//! A shard: the keyspaces (one per logical database) that one core owns, and the two
//! ways in: [`Shard::run`] executes one command from the table, [`Shard::apply`]
//! executes one part of a cross-shard command or a fan-out ([`Op`]).
//!
//! Both reach data only through the [`Keyspace`] door, which journals, counts and
//! reports every change itself (see [`crate::keyspace`]); nothing here journals.
//!
//! Everything here is synchronous and deterministic: time is the `now_ms` argument,
//! randomness comes from the seeded generator the shard was built with.

use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::SeedableRng;

use crate::collections::{HashLimits, SetLimits};
use crate::command::{table, Route};
use crate::effect_log::EffectLog;
use crate::error::CmdError;
use crate::glob::glob_match;
use crate::keyspace::{DbStats, Entry, Keyspace, ScanPos};
use crate::limits::{SCAN_VISIT_MAX, STRING_MAX_BYTES};
use crate::resp::{Args, Protocol, Reply, ReplyBuf};
use crate::value::Value;

/// Per-shard counters for `INFO`.
#[derive(Debug, Default, Clone, Copy)]
pub struct ShardCounters {
    pub commands: u64,
    /// Commands that answered with an error.
    pub errors: u64,
    /// Keyspace changes since the last save (`rdb_changes_since_last_save`), as the
    /// door counted them.
    pub dirty: u64,
}

pub struct Shard {
    id: usize,
    keyspace: Keyspace,
    rng: SmallRng,
    counters: ShardCounters,
    /// Longest string a command may build (`proto-max-bulk-len`).
    string_max_bytes: usize,
    /// Encoding limits of hashes and sets (`hash-max-listpack-*`, `set-max-intset-entries`).
    limits: CollectionLimits,
}

/// The configured encoding limits of hashes and sets.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CollectionLimits {
    pub hash: HashLimits,
    pub set: SetLimits,
}

/// What a handler works with: the door to its shard's keyspace, the client's
/// database, the time, the output buffer its reply goes into.
pub struct Ctx<'a> {
    pub ks: &'a mut Keyspace,
    pub db: usize,
    pub now_ms: u64,
    pub out: &'a mut ReplyBuf,
    /// Longest string a command may build (`proto-max-bulk-len`).
    pub string_max_bytes: usize,
    pub limits: CollectionLimits,
    /// The shard's seeded generator (`SPOP`, `SRANDMEMBER`, `HRANDFIELD`).
    pub rng: &'a mut SmallRng,
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
            keyspace: Keyspace::default(),
            rng: SmallRng::seed_from_u64(seed ^ id as u64),
            counters: ShardCounters::default(),
            string_max_bytes: STRING_MAX_BYTES,
            limits: CollectionLimits::default(),
        }
    }

    pub fn id(&self) -> usize {
        self.id
    }

    /// The door to this shard's data.
    pub fn keyspace(&self) -> &Keyspace {
        &self.keyspace
    }

    pub fn keyspace_mut(&mut self) -> &mut Keyspace {
        &mut self.keyspace
    }

    /// The journal's side of this shard.
    pub fn log(&self) -> &EffectLog {
        self.keyspace.log()
    }

    pub fn log_mut(&mut self) -> &mut EffectLog {
        self.keyspace.log_mut()
    }

    pub fn string_max_bytes(&self) -> usize {
        self.string_max_bytes
    }

    pub fn set_string_max_bytes(&mut self, bytes: usize) {
        self.string_max_bytes = bytes;
    }

    pub fn limits(&self) -> CollectionLimits {
        self.limits
    }

    pub fn set_limits(&mut self, limits: CollectionLimits) {
        self.limits = limits;
    }

    /// Runs one command whose keys all live on this shard, writing its reply to `out`.
    /// Checks existence and arity as the server's generic code does, so the engine
    /// harness sees the same errors a client would. The handler's changes are
    /// journaled by the door as it makes them.
    pub fn run(&mut self, db: usize, args: &[Bytes], now_ms: u64, out: &mut ReplyBuf) {
        debug_assert!(db < self.keyspace.dbs().len());
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
            ks: &mut self.keyspace,
            db,
            now_ms,
            out,
            string_max_bytes: self.string_max_bytes,
            limits: self.limits,
            rng: &mut self.rng,
        };
        let mark = ctx.out.len();
        if let Err(e) = handler(&mut ctx, args) {
            self.counters.errors += 1;
            ctx.out.truncate(mark);
            ctx.out.error(&e.message());
        }
    }

    /// Applies one part of a cross-shard command or fan-out.
    pub fn apply(&mut self, op: Op, now_ms: u64) -> OpReply {
        let ks = &mut self.keyspace;
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
                    .map(|k| match ks.find_read(db, k, now_ms) {
                        Some(Entry {
                            value: Value::Str(s),
                            ..
                        }) => Some(s.clone()),
                        _ => None,
                    })
                    .collect(),
            ),
            Op::MSet { db, pairs } => {
                for (k, v) in pairs {
                    ks.add(db, &k, Value::Str(v.to_vec()), 0);
                }
                OpReply::Done
            }
            Op::Exists { db, keys } | Op::Touch { db, keys } => {
                OpReply::Int(keys.iter().filter(|k| ks.contains(db, k, now_ms)).count() as i64)
            }
            Op::Del { db, keys } => {
                let n = keys
                    .iter()
                    .filter(|k| ks.remove(db, k, now_ms).is_some())
                    .count();
                OpReply::Int(n as i64)
            }
            Op::Take { db, key, remove } => {
                let entry = if remove {
                    ks.remove(db, &key, now_ms)
                } else {
                    ks.find(db, &key, now_ms).cloned()
                };
                OpReply::Entry(entry)
            }
            Op::Put {
                db,
                key,
                entry,
                replace,
            } => {
                if !replace && ks.contains(db, &key, now_ms) {
                    return OpReply::Int(0);
                }
                ks.add_entry(db, &key, entry);
                OpReply::Int(1)
            }
            Op::DbSize { db } => OpReply::Int(ks.db(db).len() as i64),
            Op::Keys { db, pattern } => {
                let mut keys = Vec::new();
                let all = pattern.as_ref() == b"*";
                ks.db(db).for_each_live(now_ms, |k, _| {
                    if all || glob_match(&pattern, k, false) {
                        keys.push(k.clone());
                    }
                });
                OpReply::Keys(keys)
            }
            Op::Scan(a) => self.scan(a, now_ms),
            Op::RandomKey { db } => {
                let key = ks.random_key(db, now_ms, &mut self.rng);
                OpReply::Random {
                    len: ks.db(db).len(),
                    key,
                }
            }
            Op::Flush { db: Some(db) } => {
                ks.flush_db(db);
                OpReply::Done
            }
            Op::Flush { db: None } => {
                ks.flush_all();
                OpReply::Done
            }
            Op::SwapDb { a, b } => {
                ks.swap_db(a, b);
                OpReply::Done
            }
            Op::Stats => OpReply::Stats(self.stats()),
        }
    }

    fn scan(&mut self, a: ScanArgs, now_ms: u64) -> OpReply {
        let mut keys = Vec::new();
        let count = a.count.min(SCAN_VISIT_MAX);
        let pos = self.keyspace.db(a.db).scan(a.pos, count, now_ms, |k, e| {
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
            counters: ShardCounters {
                dirty: self.keyspace.dirty(),
                ..self.counters
            },
            ..Default::default()
        };
        for db in self.keyspace.dbs() {
            let stats = db.stats();
            s.keys.push((db.len(), db.expires_len()));
            s.db.expired_keys += stats.expired_keys;
            s.db.keyspace_hits += stats.keyspace_hits;
            s.db.keyspace_misses += stats.keyspace_misses;
        }
        s
    }

    /// Zeroes the counters `CONFIG RESETSTAT` resets.
    pub fn reset_stats(&mut self) {
        self.counters.commands = 0;
        self.keyspace.reset_stats();
    }

    /// One active-expiry tick over every database. Returns keys deleted.
    pub fn active_expire(&mut self, now_ms: u64) -> usize {
        self.keyspace.active_expire(now_ms, &mut self.rng)
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
