//! A shard: the keyspaces (one per logical database) that one core owns, and the ways
//! in: [`Shard::run_cmd`] executes one command the server looked up already,
//! [`Shard::run`] looks it up and checks its arity first (the engine harness's entry
//! point), and [`Shard::apply`] executes an [`Op`] the server sends: a batch of
//! commands, or one step of a command's parts ([`crate::command::parts`]).
//!
//! Everything here is synchronous and deterministic: time is the `now_ms` argument,
//! randomness comes from the seeded generator the shard was built with.

use std::borrow::Cow;

use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::SeedableRng;

use crate::command::parts::{run_local, PartReply, ShardArgs};
use crate::command::{flags, table, Route};
use crate::effect_log::EffectLog;
use crate::error::{CmdError, CmdResult};
use crate::journal::Effect;
use crate::keyspace::{Db, DbStats, Entry};
use crate::limits::{DATABASES, STRING_MAX_BYTES};
use crate::resp::{Args, Reply};
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
    pub out: &'a mut Vec<u8>,
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

/// One command of a batch, looked up already: its row's index in
/// [`crate::command::CommandTable::all`], its database and its arguments (arity checked).
#[derive(Debug)]
pub struct Cmd {
    pub id: usize,
    pub db: usize,
    pub args: Args,
}

/// Which step of a command's parts to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Read,
    Write,
}

/// One step of a command's parts on one shard: the command's row, its arguments, the
/// positions of the keys this shard owns and what an earlier step carried over.
#[derive(Debug)]
pub struct PartOp {
    pub id: usize,
    pub step: Step,
    pub db: usize,
    pub args: Args,
    pub keys: Vec<usize>,
    pub carry: Option<Entry>,
}

/// What the server asks a shard to do.
#[derive(Debug)]
pub enum Op {
    /// Ordinary commands for this shard, replies concatenated.
    Batch(Vec<Cmd>),
    /// Take the lock only (a multi-shard transaction's participant).
    Lock,
    /// One step of a multi-key or whole-keyspace command.
    Part(PartOp),
    /// `FLUSHDB` (`Some(db)`) or `FLUSHALL` (`None`), run as those commands: for
    /// engine-level callers (journal replay tests) that hold a shard, not a server.
    Flush { db: Option<usize> },
    /// `SWAPDB a b`, as the command; for engine-level callers like [`Op::Flush`].
    SwapDb { a: usize, b: usize },
    /// `MSET` in `db`, as the command; for engine-level callers like [`Op::Flush`].
    MSet {
        db: usize,
        pairs: Vec<(Bytes, Bytes)>,
    },
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
    Part(PartReply),
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

    /// Runs one command whose keys all live on this shard, writing its reply to `out`,
    /// after looking it up and checking its arity as the server's generic code does,
    /// so the engine harness sees the same errors a client would.
    pub fn run(&mut self, db: usize, args: &[Bytes], now_ms: u64, out: &mut Vec<u8>) {
        let Some((id, spec)) = table().lookup(&args[0]) else {
            self.counters.errors += 1;
            out.error(&unknown_command_message(args));
            return;
        };
        if !spec.arity_ok(args.len()) {
            self.counters.errors += 1;
            out.error(&CmdError::WrongArgs(spec.name.to_string()).message());
            return;
        }
        self.run_cmd(id, db, args, now_ms, out);
    }

    /// Runs command `id` (looked up, arity checked) whose keys all live on this
    /// shard, writing its reply to `out`.
    ///
    /// A write command that changed the keyspace is journaled by its result: the
    /// state of every key in its key positions afterwards, a `SET` of the whole
    /// entry (absolute deadline included) or a `DEL`. That one rule makes every
    /// effect deterministic (`INCRBYFLOAT`, relative TTLs, in-place `APPEND`)
    /// without each handler describing its change.
    pub fn run_cmd(
        &mut self,
        id: usize,
        db: usize,
        args: &[Bytes],
        now_ms: u64,
        out: &mut Vec<u8>,
    ) {
        debug_assert!(db < self.dbs.len());
        let spec = table().all[id];
        debug_assert!(spec.arity_ok(args.len()));
        self.counters.commands += 1;
        let keys = spec.keys.resolve(args);
        let write = spec.has(flags::WRITE);
        self.exec(db, args, keys.iter(), write, now_ms, out, |ctx| {
            let mark = ctx.out.len();
            let result = match spec.route {
                Route::Shard(handler) => handler(ctx, args),
                Route::Parts(parts) => run_local(ctx, args, parts, keys),
                Route::Server(_) => Err(CmdError::NotShardCommand(spec.name)),
            };
            if let Err(e) = result {
                ctx.shard.counters.errors += 1;
                ctx.out.truncate(mark);
                ctx.out.error(&e.message());
            }
        })
    }

    /// Runs `f` on database `db` with the journaling every write gets: snapshots see
    /// the keys at `keys` before they change, and if the keyspace changed, the
    /// journal gets their state afterwards (and that of keys declared with
    /// [`Ctx::writes_in`]).
    #[allow(clippy::too_many_arguments)]
    fn exec<R>(
        &mut self,
        db: usize,
        args: &[Bytes],
        keys: impl Iterator<Item = usize> + Clone,
        write: bool,
        now_ms: u64,
        out: &mut Vec<u8>,
        f: impl FnOnce(&mut Ctx) -> R,
    ) -> R {
        if write {
            for i in keys.clone() {
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
        let result = f(&mut ctx);
        let extra_writes = std::mem::take(&mut ctx.extra_writes);
        if write && self.log.enabled() && self.counters.dirty != dirty {
            for i in keys {
                self.log_key(db, &args[i], now_ms);
            }
            for (db, key) in &extra_writes {
                self.log_key(*db, key, now_ms);
            }
        }
        self.log_expired();
        result
    }

    /// Runs one step of a command's parts on the keys this shard owns.
    fn run_part(&mut self, op: PartOp, now_ms: u64) -> PartReply {
        let spec = table().all[op.id];
        let Route::Parts(parts) = spec.route else {
            return PartReply::Err(CmdError::NotShardCommand(spec.name));
        };
        let part = match op.step {
            Step::Read => parts.read,
            Step::Write => parts.write,
        };
        let Some(part) = part else {
            return PartReply::Err(CmdError::NotShardCommand(spec.name));
        };
        let write = op.step == Step::Write;
        let mut unused = Vec::new();
        let keys = op.keys.iter().copied();
        self.exec(op.db, &op.args, keys, write, now_ms, &mut unused, |ctx| {
            let share = ShardArgs {
                args: &op.args,
                keys: &op.keys,
                carry: op.carry.as_ref(),
            };
            part(ctx, &share).unwrap_or_else(PartReply::Err)
        })
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

    /// Applies one [`Op`].
    pub fn apply(&mut self, op: Op, now_ms: u64) -> OpReply {
        match op {
            Op::Batch(cmds) => {
                let mut out = Vec::new();
                let mut ends = Vec::with_capacity(cmds.len());
                for cmd in cmds {
                    self.run_cmd(cmd.id, cmd.db, &cmd.args, now_ms, &mut out);
                    ends.push(out.len());
                }
                OpReply::Replies { out, ends }
            }
            Op::Lock => OpReply::Done,
            Op::Part(part) => OpReply::Part(self.run_part(part, now_ms)),
            Op::Flush { db } => {
                let name: &[u8] = if db.is_some() {
                    b"flushdb"
                } else {
                    b"flushall"
                };
                self.run_words(db.unwrap_or(0), &[Bytes::from_static(name)], now_ms)
            }
            Op::SwapDb { a, b } => {
                let words = ["swapdb".into(), a.to_string().into(), b.to_string().into()];
                self.run_words(0, &words, now_ms)
            }
            Op::MSet { db, pairs } => {
                let mut words = vec![Bytes::from_static(b"mset")];
                words.extend(pairs.into_iter().flat_map(|(k, v)| [k, v]));
                self.run_words(db, &words, now_ms)
            }
        }
    }

    fn run_words(&mut self, db: usize, args: &[Bytes], now_ms: u64) -> OpReply {
        let mut out = Vec::new();
        self.run(db, args, now_ms, &mut out);
        let ends = vec![out.len()];
        OpReply::Replies { out, ends }
    }

    /// Before `FLUSHDB`, `FLUSHALL` or `SWAPDB`: keys expiry deleted are journaled
    /// under the database they were in, and a snapshot in progress is abandoned
    /// (it is retried later).
    pub(crate) fn before_whole_db_change(&mut self) {
        self.log_expired();
        self.snapshots.clear();
    }

    pub(crate) fn flush_db(&mut self, db: usize) {
        self.counters.dirty += self.dbs[db].len() as u64;
        self.dbs[db].clear();
    }

    /// `SWAPDB a b` on this shard.
    pub(crate) fn swap_dbs(&mut self, a: usize, b: usize) {
        self.before_whole_db_change();
        self.dbs.swap(a, b);
        self.counters.dirty += 1;
        self.log.push(&Effect::SwapDb { a, b });
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
