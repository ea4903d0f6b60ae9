//! The one place a command runs on a shard: [`Shard::run_cmd`] executes a command the
//! server looked up already, [`Shard::run`] looks it up and checks its arity first
//! (the engine harness's entry point), and [`Shard::apply`] executes an [`Op`] the
//! server sends: a batch of commands, or one step of a command's parts
//! ([`crate::command::parts`]). Handlers reach data only through their [`Ctx`].

use std::sync::Arc;

use bytes::Bytes;

use super::parts::{run_local, PartReply, ShardArgs};
use super::{table, Ctx, Route};
use crate::error::CmdError;
use crate::keyspace::Entry;
use crate::resp::{Args, Protocol, Reply, ReplyBuf};
use crate::shard::Shard;

/// One command of a batch, looked up already: its row's index in
/// [`crate::command::CommandTable::all`], its database and its arguments (arity checked).
#[derive(Debug, Clone)]
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
    /// Shared, not copied, by every participant of the step it is sent to.
    pub carry: Option<Arc<Entry>>,
}

/// What the server asks a shard to do. A part carries an entry inline: each `Op` is
/// built once and moved into one message, so its size costs less than a box would.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Op {
    /// Ordinary commands for this shard, replies appended to the buffer (which
    /// says the client's protocol) in order. The buffer travels with the commands
    /// so a caller can lend one that has room: the replies then grow no buffer and
    /// come back in the one the caller will send.
    Batch(Vec<Cmd>, ReplyBuf),
    /// Take the lock only (a multi-shard transaction's participant).
    Lock,
    /// Make room under `maxmemory` for a command with these flags and answer whether
    /// it may run here (a multi-shard write asks every participant before any
    /// writes, so an `-OOM` leaves nothing half written).
    Admit { flags: u32 },
    /// One step of a multi-key or whole-keyspace command.
    Part(PartOp),
    /// Operations of several commands or transactions sharing one transaction, run
    /// one after another in order; answered with [`OpReply::Seq`], one reply each.
    Seq(Vec<Op>),
}

/// A shard's answer to an [`Op`].
#[derive(Debug)]
pub enum OpReply {
    Done,
    /// RESP replies of a `Batch`, in order; `ends[i]` is where reply `i` ends in `out`
    /// (its big strings written by reference, [`ReplyBuf::bulk_shared`]).
    Replies {
        out: ReplyBuf,
        ends: Vec<usize>,
        /// The batch's vector, emptied: its room is the caller's to reuse.
        cmds: Vec<Cmd>,
    },
    Part(PartReply),
    Seq(Vec<OpReply>),
}

impl Shard {
    /// Runs one command whose keys all live on this shard, writing its reply to `out`,
    /// after looking it up and checking its arity as the server's generic code does,
    /// so the engine harness sees the same errors a client would.
    pub fn run(&mut self, db: usize, args: &[Bytes], now_ms: u64, out: &mut ReplyBuf) {
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
    /// shard, writing its reply to `out`. The handler's changes are journaled by the
    /// door as it makes them.
    pub fn run_cmd(
        &mut self,
        id: usize,
        db: usize,
        args: &[Bytes],
        now_ms: u64,
        out: &mut ReplyBuf,
    ) {
        debug_assert!(db < self.keyspace().dbs().len());
        let spec = table().all[id];
        debug_assert!(spec.arity_ok(args.len()));
        self.counters.commands += 1;
        if let Err(e) = self.keyspace.admit(spec.flags, now_ms) {
            self.counters.errors += 1;
            out.error(&e.message());
            return;
        }
        self.keyspace.start_command(spec.name, now_ms);
        self.keyspace.command(Some((id, args)));
        let mut ctx = self.ctx(db, now_ms, out);
        let mark = ctx.out.len();
        let result = match spec.route {
            Route::Shard(handler) => handler(&mut ctx, args),
            Route::Parts(parts) => run_local(&mut ctx, args, parts, spec.keys.resolve(args)),
        };
        self.keyspace.command(None);
        if let Err(e) = result {
            self.counters.errors += 1;
            out.truncate(mark);
            out.error(&e.message());
        }
    }

    fn ctx<'a>(&'a mut self, db: usize, now_ms: u64, out: &'a mut ReplyBuf) -> Ctx<'a> {
        let string_max_bytes = self.string_max_bytes();
        let shard_id = self.id();
        let limits = self.limits();
        Ctx {
            ks: &mut self.keyspace,
            rng: &mut self.rng,
            shard_id,
            db,
            now_ms,
            out,
            string_max_bytes,
            limits,
        }
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
        if let Err(e) = self.keyspace.admit(spec.flags, now_ms) {
            return PartReply::Err(e);
        }
        self.keyspace.start_command(spec.name, now_ms);
        self.keyspace.command(Some((op.id, &op.args)));
        super::parts::prefetch_keys(&self.keyspace, op.db, &op.args, &op.keys);
        let mut unused = ReplyBuf::new(Protocol::Resp2);
        let mut ctx = self.ctx(op.db, now_ms, &mut unused);
        let share = ShardArgs {
            args: &op.args,
            keys: &op.keys,
            carry: op.carry.as_deref(),
        };
        let reply = part(&mut ctx, &share).unwrap_or_else(PartReply::Err);
        self.keyspace.command(None);
        reply
    }

    /// Asks for the memory a batch's lookups will read, when it has more than one
    /// command: each command's first argument (its key, for most commands) in the
    /// first command's database. Their cache misses then overlap instead of stalling
    /// one command at a time, as the server does for a pipeline run in place.
    pub fn prefetch_batch(&self, cmds: &[Cmd]) {
        let [first, _, ..] = cmds else { return };
        let keys = cmds
            .iter()
            .filter(|cmd| cmd.db == first.db)
            .filter_map(|cmd| cmd.args.get(1))
            .map(|key| &key[..]);
        self.keyspace.db(first.db).prefetch(keys);
    }

    /// Applies one [`Op`].
    pub fn apply(&mut self, op: Op, now_ms: u64) -> OpReply {
        match op {
            Op::Batch(mut cmds, mut out) => {
                self.prefetch_batch(&cmds);
                let mut ends = Vec::with_capacity(cmds.len());
                for cmd in cmds.drain(..) {
                    self.run_cmd(cmd.id, cmd.db, &cmd.args, now_ms, &mut out);
                    ends.push(out.len());
                }
                OpReply::Replies { out, ends, cmds }
            }
            Op::Lock => OpReply::Done,
            Op::Admit { flags } => OpReply::Part(match self.keyspace.admit(flags, now_ms) {
                Ok(()) => PartReply::Done,
                Err(e) => PartReply::Err(e),
            }),
            Op::Part(part) => OpReply::Part(self.run_part(part, now_ms)),
            Op::Seq(ops) => {
                OpReply::Seq(ops.into_iter().map(|op| self.apply(op, now_ms)).collect())
            }
        }
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
