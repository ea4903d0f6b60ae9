//! The transaction: how a command described as parts
//! ([`corekv_engine::command::parts`]) runs when it involves more than one shard. The
//! whole strategy lives in this module; the commands themselves only describe their
//! parts.
//!
//! ```text
//!  split by key spec ─► lock round ─► read round ─► plan ─► write round ─► commit round
//!                       (parallel)    (parallel)   (pure)   (parallel)     (parallel)
//! ```
//!
//! A [`Split::Lookup`] command (`SORT` with patterns) may add a second read round
//! before the plan, on the same locked shards, carrying what the first one read.
//!
//! **Atomicity.** Every participant's lock is held from its first message until its
//! commit (two-phase locking), a shard runs nothing else meanwhile (other work waits
//! in its queue), and no shard is written before every participant is locked, so no
//! observer sees half of a transaction.
//!
//! **Two ways to lock, chosen by how many participants are remote.**
//! - At most [`ASCENDING_REMOTE_MAX`] other than the coordinator's own shard (every
//!   cross-shard command on two shards): the first step goes shard by shard in
//!   ascending order, each message taking the lock (queueing behind a holder) and
//!   running the part at once. With the own shard local, that is one round trip,
//!   then one-way commits.
//! - More: a parallel lock round, then the parts in parallel rounds. Rounds that can
//!   share a message do: a read-only command reads and unlocks in one message, and a
//!   command whose write part changes every shard it runs on (`MSET`, `RENAME`,
//!   `FLUSHALL`, ...) writes and commits in one message, since its participants are
//!   known before it runs. `MSET` and `MGET` over k shards thus take two parallel
//!   round trips whatever k is, where locking shard by shard takes k.
//!
//! **Deadlock freedom.** The ascending path waits for a shard only while holding
//! lower ones. The parallel lock round asks every participant at once with a
//! *try*-lock: a free shard takes the lock, a shard another transaction holds answers
//! busy at once instead of queueing. When some are busy, the coordinator keeps the
//! locks below the lowest busy shard, releases those above it, and takes the rest one
//! at a time in ascending order. Either way a coordinator only ever waits for a shard
//! while holding no higher one, so no cycle of waits can form (the classic
//! ordered-locking argument). Under heavy contention the failed try round is wasted
//! work; a global transaction id ordering the shard queues (Dragonfly) would avoid
//! it, at the price of a cross-core counter on every multi-shard command.
//!
//! **Crash atomicity.** While a transaction holds a shard, the shard's effects wait
//! in its journal buffer, and the LSN its part will take is the shard's last LSN at
//! lock time plus one. At commit every participant that changed something writes one
//! `TxPart` record naming all of them with those LSNs; recovery applies a part only if
//! every participant's journal reaches its LSN. A participant that changed nothing
//! just unlocks, and a transaction that changed one shard writes plain records.
//! When the reply must wait for the journal, each participant answers its commit
//! only once its records are as safe as `appendfsync` says, so the commit and the
//! wait are one message per shard.
//!
//! **Commands sharing a transaction** ([`group`]): a multi-shard command of one
//! round (`MSET`, `MGET`, ...) that arrives while another of its core is in flight
//! waits for it, then runs with every other one that waited, as one transaction.
//!
//! **Whole-keyspace reads** (`DBSIZE`, `KEYS`, `RANDOMKEY`) read every shard as it
//! is, in parallel, without locks, and `SCAN` walks shards one after another.
//!
//! **`EXEC`** ([`Held`]): when its commands are all single-shard ones and nothing is
//! watched, each shard's batch takes that shard's lock and runs in one message, shard
//! by shard in ascending order ([`Held::ascending`]), then all commit together.
//! Otherwise the transaction locks every shard its queued commands touch
//! at once (the parallel round above), then runs the commands one after another
//! inside it — a single-shard command as a one-command batch on its shard, a
//! multi-shard one as its parts in rounds that keep every lock, a whole-keyspace read
//! under the locks too — and commits them together: every shard that changed writes
//! one `TxPart`, even when only one did, so several commands on one shard are all or
//! nothing after a crash as well.

pub mod group;

use std::rc::Rc;
use std::sync::Arc;

use corekv_engine::command::exec::{Cmd, Op, OpReply, PartOp, Step};
use corekv_engine::command::flags::DENYOOM;
use corekv_engine::command::parts::{MergeArgs, PartReply, Parts, Piece, Split, Write};
use corekv_engine::command::{table, Route};
use corekv_engine::error::CmdError;
use corekv_engine::journal::Participant;
use corekv_engine::keyspace::Entry;
use corekv_engine::resp::{Args, Protocol, Reply, ReplyBuf};
use corekv_engine::slot::shard_of;
use futures::future::join_all;
use rand::Rng;

use crate::shard::answer::{Answer, LogMark};
use crate::shard::mesh::{Control, Msg, TxId};
use crate::shard::Core;
use group::{Turn, Work};

/// Up to this many participants other than the coordinator's own shard, the first
/// step runs shard by shard in ascending order, each message locking and running at
/// once: that is at most this many round trips, and no more than the two parallel
/// rounds of the other path. Past it, the parallel rounds win.
const ASCENDING_REMOTE_MAX: usize = 1;
/// Participants that changed something from which a transaction commits as parts
/// (fewer: plain records), for a single multi-shard command. An `EXEC` commits from
/// one, since one shard's change may be several commands.
const COMMAND_PARTS_MIN: usize = 2;
pub const EXEC_PARTS_MIN: usize = 1;

/// Runs command `id` (a [`Route::Parts`] row, arity checked) across the shards its
/// keys live on, or every shard, writing its reply to `out`.
pub async fn run(core: &Rc<Core>, id: usize, db: usize, args: &Args, out: &mut ReplyBuf) {
    let spec = table().all[id];
    let Route::Parts(parts) = spec.route else {
        return out.error(&CmdError::NotShardCommand(spec.name).message());
    };
    if let Some(check) = parts.check {
        if let Err(e) = check(args) {
            return out.error(&e.message());
        }
    }
    let shards = core.shards();
    let call = Call {
        core,
        id,
        db,
        args,
        parts,
        tx: None,
    };
    match parts.split {
        Split::Keys | Split::Lookup { .. } => {
            let groups = parts
                .split
                .groups(args, spec.keys.resolve(args), shards, shard_of);
            let Some(step) = call.one_round(&groups) else {
                return call.locked_reply(groups, out).await;
            };
            match group::enter(|| call.work(step, &groups, out.protocol())).await {
                Turn::Alone => {
                    call.locked_reply(groups, out).await;
                    group::leave();
                }
                Turn::Reply(bytes) => out.append_vec(bytes),
                Turn::Lead(batch) => group::lead(core, batch, out).await,
            }
        }
        Split::Every { lock: true } => {
            let groups = (0..shards).map(|s| (s, Vec::new())).collect();
            call.locked_reply(groups, out).await
        }
        Split::Every { lock: false } => call.read_every(out).await,
        Split::Walk { first, next } => call.walk(first, next, out).await,
    }
}

/// One command's run.
struct Call<'a> {
    core: &'a Rc<Core>,
    id: usize,
    db: usize,
    args: &'a Args,
    parts: &'static Parts,
    /// The transaction already holding the shards (an `EXEC`), if any: lock-free
    /// reads then run inside it.
    tx: Option<TxId>,
}

impl<'a> Call<'a> {
    /// The one step this command takes on every shard in `groups` when it needs
    /// no other (a blind write such as `MSET`, or a read such as `MGET`), each
    /// shard's part independent of the others' answers: such commands may share a
    /// transaction with others ([`group`]). `None` for everything else.
    fn one_round(&self, groups: &[(usize, Vec<usize>)]) -> Option<Step> {
        let p = self.parts;
        if self.tx.is_some() || groups.len() < 2 || !matches!(p.split, Split::Keys) {
            return None;
        }
        if p.plan.is_some() || self.admission(groups.len()).is_some() {
            return None;
        }
        match (p.read.is_some(), p.write.is_some()) {
            (false, true) => Some(Step::Write),
            (true, false) => Some(Step::Read),
            _ => None,
        }
    }

    /// Locks every shard in `shards` (the parallel round) and, when the command asks
    /// for admission ([`Call::admission`]), asks each participant first: on a
    /// refusal the transaction ends, `out` gets the error and no transaction is left.
    async fn lock_admitted(
        &self,
        shards: &[usize],
        groups: &[(usize, Vec<usize>)],
        out: &mut ReplyBuf,
    ) -> Result<Option<Tx<'a>>, String> {
        let mut tx = Tx::lock(self.core, shards).await;
        if let Some(flags) = self.admission(shards.len()) {
            let asks = groups.iter().map(|(s, _)| (*s, Op::Admit { flags }));
            if let Err(e) = Parts::first_error(&tx.round(asks, groups).await) {
                tx.finish().await?;
                out.error(&e.message());
                return Ok(None);
            }
        }
        Ok(Some(tx))
    }

    /// The flags to ask every participant's admission with before anything runs,
    /// when this command may grow memory, spans `shards` shards and memory is
    /// limited: one full shard refuses the whole command, as Redis refuses it with
    /// `-OOM` before writing anything.
    fn admission(&self, shards: usize) -> Option<u32> {
        let flags = table().all[self.id].flags;
        let limited = || {
            let shard = self.core.shard.borrow();
            shard.keyspace().eviction().maxmemory_bytes > 0
        };
        (shards > 1 && flags & DENYOOM != 0 && limited()).then_some(flags)
    }

    /// This command as a member of a group ([`group`]): `step` on each shard of
    /// `groups`, merged as alone.
    fn work(&self, step: Step, groups: &[(usize, Vec<usize>)], protocol: Protocol) -> Work {
        let ops = groups
            .iter()
            .map(|(s, keys)| (*s, self.part(step, keys, None)))
            .collect();
        let (core, id, db, args, parts) = (
            self.core.clone(),
            self.id,
            self.db,
            self.args.clone(),
            self.parts,
        );
        let groups = groups.to_vec();
        let finish = move |answers: Result<Vec<OpReply>, String>, out: &mut ReplyBuf| {
            let replies = match answers {
                Ok(replies) => replies,
                Err(e) => return out.error(&e),
            };
            let call = Call {
                core: &core,
                id,
                db,
                args: &args,
                parts,
                tx: None,
            };
            call.merge(&pieces(&groups, replies), out);
        };
        Work::new(ops, COMMAND_PARTS_MIN, protocol, Box::new(finish))
    }

    fn part(&self, step: Step, keys: &[usize], carry: Option<&Arc<Entry>>) -> Op {
        Op::Part(PartOp {
            id: self.id,
            step,
            db: self.db,
            args: self.args.clone(),
            keys: keys.to_vec(),
            carry: carry.cloned(),
        })
    }

    fn merge(&self, pieces: &[Piece], out: &mut ReplyBuf) {
        if let Err(e) = Parts::first_error(pieces) {
            return out.error(&e.message());
        }
        let merge = MergeArgs {
            args: self.args,
            shards: self.core.shards(),
            random: rand::thread_rng().gen(),
        };
        (self.parts.merge)(&merge, pieces, out);
    }

    /// `DBSIZE`, `KEYS`, `RANDOMKEY`: every shard read as it is, in parallel.
    async fn read_every(&self, out: &mut ReplyBuf) {
        let read = (0..self.core.shards()).map(|s| async move {
            let reply = self
                .core
                .op(s, self.tx, self.part(Step::Read, &[], None))
                .await;
            piece(s, Vec::new(), reply)
        });
        let pieces = join_all(read).await;
        self.merge(&pieces, out);
    }

    /// `SCAN`: one shard after another, from the one its cursor names.
    async fn walk(
        &self,
        first: fn(&[bytes::Bytes], usize) -> usize,
        next: fn(&[bytes::Bytes], &[Piece], usize) -> Option<usize>,
        out: &mut ReplyBuf,
    ) {
        let shards = self.core.shards();
        let mut pieces = Vec::new();
        let mut at = Some(first(self.args, shards)).filter(|&s| s < shards);
        while let Some(s) = at {
            let reply = self
                .core
                .op(s, self.tx, self.part(Step::Read, &[], None))
                .await;
            pieces.push(piece(s, Vec::new(), reply));
            at = next(self.args, &pieces, shards);
        }
        self.merge(&pieces, out);
    }

    /// [`Call::locked`], its reply replaced by the error if the journal could not
    /// keep what it wrote as `appendfsync` promises.
    async fn locked_reply(&self, groups: Vec<(usize, Vec<usize>)>, out: &mut ReplyBuf) {
        let start = out.len();
        if let Err(e) = self.locked(groups, out).await {
            out.truncate(start);
            out.error(&e);
        }
    }

    /// Runs the parts under the locks of every shard in `groups` (ascending, each with
    /// the key positions it owns).
    async fn locked(
        &self,
        groups: Vec<(usize, Vec<usize>)>,
        out: &mut ReplyBuf,
    ) -> Result<(), String> {
        let shards: Vec<usize> = groups.iter().map(|(s, _)| *s).collect();
        let remote = shards.iter().filter(|&&s| s != self.core.id).count();
        let read_only = self.parts.plan.is_none() && self.parts.write.is_none();
        let mut pieces = Vec::new();
        let ascending = remote <= ASCENDING_REMOTE_MAX && self.admission(shards.len()).is_none();
        let mut tx = if ascending {
            let mut tx = Tx::new(self.core);
            let first = match self.parts.read {
                Some(_) => Step::Read,
                None => Step::Write,
            };
            let ops = groups
                .iter()
                .map(|(s, keys)| (*s, self.part(first, keys, None)));
            pieces = tx.ascending(ops, &groups).await;
            if first == Step::Write || read_only {
                tx.finish().await?;
                self.merge(&pieces, out);
                return Ok(());
            }
            tx
        } else {
            let Some(mut tx) = self.lock_admitted(&shards, &groups, out).await? else {
                return Ok(());
            };
            if self.parts.read.is_some() {
                let reads = groups
                    .iter()
                    .map(|(s, keys)| (*s, self.part(Step::Read, keys, None)));
                if read_only {
                    let pieces = tx.finish_with(reads, &groups, false).await?;
                    self.merge(&pieces, out);
                    return Ok(());
                }
                pieces = tx.round(reads, &groups).await;
            }
            tx
        };
        if let Some(carry) = self.parts.split.again(self.args, &pieces).map(Arc::new) {
            let reads = groups
                .iter()
                .map(|(s, keys)| (*s, self.part(Step::Read, keys, Some(&carry))));
            pieces.extend(tx.round(reads, &groups).await);
        }
        let write = match self.parts.plan {
            Some(plan) => plan(self.args, &pieces, out).unwrap_or_else(|e| {
                out.error(&e.message());
                None
            }),
            None => Some(Write::default()),
        };
        let Some(write) = write else {
            return tx.finish().await;
        };
        if self.parts.write.is_none() {
            tx.finish().await?;
            self.merge(&pieces, out);
            return Ok(());
        }
        let targets = write.targets(groups);
        let carry = write.carry.map(Arc::new);
        let writes = targets
            .iter()
            .map(|(s, keys)| (*s, self.part(Step::Write, keys, carry.as_ref())));
        let pieces = if self.parts.always_writes || targets.len() == 1 {
            tx.finish_with(writes, &targets, true).await?
        } else {
            let pieces = tx.round(writes, &targets).await;
            tx.finish().await?;
            pieces
        };
        self.merge(&pieces, out);
        Ok(())
    }
}

impl Call<'_> {
    /// Runs the parts inside `tx`, which holds every shard in `groups` already, and
    /// keeps the locks: each step is one round, nothing commits here.
    async fn within(&self, tx: &mut Tx<'_>, groups: Vec<(usize, Vec<usize>)>, out: &mut ReplyBuf) {
        let mut pieces = Vec::new();
        if self.parts.read.is_some() {
            let reads = groups
                .iter()
                .map(|(s, keys)| (*s, self.part(Step::Read, keys, None)));
            pieces = tx.round(reads, &groups).await;
        }
        if let Some(carry) = self.parts.split.again(self.args, &pieces).map(Arc::new) {
            let reads = groups
                .iter()
                .map(|(s, keys)| (*s, self.part(Step::Read, keys, Some(&carry))));
            pieces.extend(tx.round(reads, &groups).await);
        }
        let write = match self.parts.plan {
            Some(plan) => plan(self.args, &pieces, out).unwrap_or_else(|e| {
                out.error(&e.message());
                None
            }),
            None => Some(Write::default()),
        };
        let Some(write) = write else {
            return;
        };
        if self.parts.write.is_some() {
            let targets = write.targets(groups);
            let carry = write.carry.map(Arc::new);
            let writes = targets
                .iter()
                .map(|(s, keys)| (*s, self.part(Step::Write, keys, carry.as_ref())));
            pieces = tx.round(writes, &targets).await;
        }
        self.merge(&pieces, out);
    }
}

/// The shards an `EXEC` holds (see the module doc): locked together, its commands
/// run inside, committed together.
pub struct Held<'a> {
    core: &'a Rc<Core>,
    tx: Tx<'a>,
}

impl<'a> Held<'a> {
    /// Locks `shards` (ascending, distinct) for one transaction.
    pub async fn lock(core: &'a Rc<Core>, shards: &[usize]) -> Held<'a> {
        Held {
            core,
            tx: Tx::lock(core, shards).await,
        }
    }

    /// Runs each shard's batch of commands (`batches`: ascending, distinct shards),
    /// the lock of each shard taken by the message that runs its batch, one shard
    /// after another, so a coordinator waits for a shard only while holding lower
    /// ones (as [`Tx::ascending`]); the locks stay held until [`Held::commit`]. For
    /// k remote shards that is k round trips where locking first takes k + 1.
    pub async fn ascending(
        core: &'a Rc<Core>,
        batches: Vec<(usize, Vec<Cmd>)>,
        protocol: Protocol,
    ) -> (Held<'a>, Vec<OpReply>) {
        let mut tx = Tx::new(core);
        let mut replies = Vec::with_capacity(batches.len());
        for (s, cmds) in batches {
            debug_assert!(tx.locked.last().is_none_or(|&(last, _)| last < s));
            let op = Op::Batch(cmds, ReplyBuf::new(protocol));
            let (reply, mark) = core.op_marked(s, Some(tx.id), op).await;
            tx.locked.push((s, mark));
            replies.push(reply);
        }
        (Held { core, tx }, replies)
    }

    /// Runs each shard's batch of commands (keys on that shard, which is held),
    /// all shards at once; their replies in the same order.
    pub async fn batches(
        &mut self,
        batches: Vec<(usize, Vec<Cmd>)>,
        protocol: Protocol,
    ) -> Vec<OpReply> {
        let shards: Vec<usize> = batches.iter().map(|(s, _)| *s).collect();
        debug_assert!(shards
            .iter()
            .all(|s| self.tx.locked.iter().any(|(l, _)| l == s)));
        let calls = batches.into_iter().map(|(s, cmds)| {
            let op = Op::Batch(cmds, ReplyBuf::new(protocol));
            self.core.op_marked(s, Some(self.tx.id), op)
        });
        let answers = join_all(calls).await;
        let mut replies = Vec::with_capacity(answers.len());
        for (s, (reply, mark)) in shards.into_iter().zip(answers) {
            self.tx.note(s, mark);
            replies.push(reply);
        }
        replies
    }

    /// Runs `control` on `shard` (held) inside the transaction.
    pub async fn control(&self, shard: usize, control: Control) -> Option<Answer> {
        debug_assert!(self.tx.locked.iter().any(|(s, _)| *s == shard));
        let msg = Msg::Control(control);
        self.core.call(shard, Some(self.tx.id), msg).await
    }

    /// Runs command `id` (a [`Route::Parts`] row, arity checked) on the shards it
    /// needs, all held, writing its reply to `out`.
    pub async fn command(&mut self, id: usize, db: usize, args: &Args, out: &mut ReplyBuf) {
        let spec = table().all[id];
        let Route::Parts(parts) = spec.route else {
            return out.error(&CmdError::NotShardCommand(spec.name).message());
        };
        if let Some(check) = parts.check {
            if let Err(e) = check(args) {
                return out.error(&e.message());
            }
        }
        let shards = self.core.shards();
        let call = Call {
            core: self.core,
            id,
            db,
            args,
            parts,
            tx: Some(self.tx.id),
        };
        match parts.split {
            Split::Keys | Split::Lookup { .. } => {
                let groups = parts
                    .split
                    .groups(args, spec.keys.resolve(args), shards, shard_of);
                call.within(&mut self.tx, groups, out).await
            }
            Split::Every { lock: true } => {
                let groups = (0..shards).map(|s| (s, Vec::new())).collect();
                call.within(&mut self.tx, groups, out).await
            }
            Split::Every { lock: false } => call.read_every(out).await,
            Split::Walk { first, next } => call.walk(first, next, out).await,
        }
    }

    /// Commits every change together and unlocks; returns once the records are as
    /// safe as `appendfsync` says, or the journal's error.
    pub async fn commit(self) -> Result<(), String> {
        self.tx.finish_parts(EXEC_PARTS_MIN).await
    }
}

/// Each shard's reply as the piece of the shard and keys `groups` names, in order.
fn pieces(groups: &[(usize, Vec<usize>)], replies: Vec<OpReply>) -> Vec<Piece> {
    groups
        .iter()
        .zip(replies)
        .map(|((s, keys), reply)| piece(*s, keys.clone(), reply))
        .collect()
}

fn piece(shard: usize, keys: Vec<usize>, reply: OpReply) -> Piece {
    let reply = match reply {
        OpReply::Part(r) => r,
        // A peer only drops a request when the process is shutting down.
        _ => PartReply::Done,
    };
    Piece { shard, keys, reply }
}

/// The locks of one transaction, with each participant's journal mark.
struct Tx<'a> {
    core: &'a Core,
    id: TxId,
    /// Locked shards, ascending, with the last mark each reported. The LSN stays put
    /// while the lock is held; `tx_effects` says whether the shard changed.
    locked: Vec<(usize, LogMark)>,
}

impl<'a> Tx<'a> {
    fn new(core: &'a Core) -> Tx<'a> {
        Tx {
            core,
            id: core.new_tx(),
            locked: Vec::new(),
        }
    }

    /// Runs `ops` one shard after another in ascending order, each locking its shard
    /// (waiting behind the transaction holding it) and running there at once.
    async fn ascending(
        &mut self,
        ops: impl Iterator<Item = (usize, Op)>,
        groups: &[(usize, Vec<usize>)],
    ) -> Vec<Piece> {
        let replies = self.ascending_replies(ops).await;
        pieces(groups, replies)
    }

    /// [`Tx::ascending`], answering the shards' replies as they are.
    async fn ascending_replies(&mut self, ops: impl Iterator<Item = (usize, Op)>) -> Vec<OpReply> {
        let mut replies = Vec::new();
        for (s, op) in ops {
            debug_assert!(self.locked.last().is_none_or(|&(last, _)| last < s));
            let (reply, mark) = self.core.op_marked(s, Some(self.id), op).await;
            self.locked.push((s, mark));
            replies.push(reply);
        }
        replies
    }

    /// Locks every shard in `shards` (ascending): one parallel try-lock round, then
    /// the ascending fallback for what was busy (see the module doc).
    async fn lock(core: &'a Core, shards: &[usize]) -> Tx<'a> {
        debug_assert!(shards.windows(2).all(|w| w[0] < w[1]));
        let id = core.new_tx();
        let tries = shards.iter().map(|&s| core.call(s, Some(id), Msg::TryLock));
        let answers = join_all(tries).await;
        let busy_from = answers
            .iter()
            .position(|a| matches!(a, Some(Answer::Busy)))
            .unwrap_or(shards.len());
        let mut tx = Tx {
            core,
            id,
            locked: Vec::with_capacity(shards.len()),
        };
        for (i, (&s, answer)) in shards.iter().zip(answers).enumerate() {
            match answer {
                Some(Answer::Busy) => {}
                Some(Answer::Logged(mark)) if i < busy_from => tx.locked.push((s, mark)),
                // Granted above a busy shard: released, taken again in order below.
                Some(Answer::Logged(_)) => {
                    core.end_tx(s, id, Msg::Unlock, false).await;
                }
                // A peer only drops a request when the process is shutting down.
                _ => tx.locked.push((s, LogMark::default())),
            }
        }
        for &s in &shards[busy_from..] {
            let (_, mark) = core.op_marked(s, Some(id), Op::Lock).await;
            tx.locked.push((s, mark));
        }
        tx
    }

    fn note(&mut self, shard: usize, mark: LogMark) {
        if let Some((_, m)) = self.locked.iter_mut().find(|(s, _)| *s == shard) {
            *m = mark;
        }
    }

    /// Runs `ops` on their shards at once, keeping every lock. `groups` names each
    /// op's shard and key positions, in the same order.
    async fn round(
        &mut self,
        ops: impl Iterator<Item = (usize, Op)>,
        groups: &[(usize, Vec<usize>)],
    ) -> Vec<Piece> {
        let replies = self.round_replies(ops).await;
        pieces(groups, replies)
    }

    /// [`Tx::round`], answering the shards' replies as they are.
    async fn round_replies(&mut self, ops: impl Iterator<Item = (usize, Op)>) -> Vec<OpReply> {
        let (core, id) = (self.core, self.id);
        let calls = ops.map(|(s, op)| async move { (s, core.op_marked(s, Some(id), op).await) });
        let answers = join_all(calls).await;
        let mut replies = Vec::with_capacity(answers.len());
        for (s, (reply, mark)) in answers {
            self.note(s, mark);
            replies.push(reply);
        }
        replies
    }

    /// Runs `ops` and ends the transaction in the same messages; locked shards
    /// without an op are unlocked. With `commit`, every shard with an op changes
    /// (the part says so), so they are the participants, named before they run.
    async fn finish_with(
        self,
        ops: impl Iterator<Item = (usize, Op)>,
        groups: &[(usize, Vec<usize>)],
        commit: bool,
    ) -> Result<Vec<Piece>, String> {
        let participants: Vec<Participant> = match commit && groups.len() >= 2 {
            true => groups
                .iter()
                .map(|(s, _)| Participant {
                    shard: *s as u16,
                    lsn: self.mark(*s).last_lsn + 1,
                })
                .collect(),
            false => Vec::new(),
        };
        for &(s, _) in &self.locked {
            if !groups.iter().any(|(g, _)| *g == s) {
                self.core.end_tx(s, self.id, Msg::Unlock, false).await;
            }
        }
        let calls = ops.map(|(s, op)| {
            let msg = Msg::Final {
                op,
                tx_id: self.id,
                participants: participants.clone(),
            };
            self.core.call(s, Some(self.id), msg)
        });
        let answers = join_all(calls).await;
        let mut durable = Vec::new();
        let mut pieces = Vec::with_capacity(groups.len());
        for ((s, keys), answer) in groups.iter().zip(answers) {
            let reply = match answer {
                Some(Answer::Op(reply, mark)) => {
                    if mark.appended {
                        durable.push((*s, mark.last_lsn));
                    }
                    reply
                }
                _ => OpReply::Done,
            };
            pieces.push(piece(*s, keys.clone(), reply));
        }
        crate::persist::writer::wait_acked(self.core, &durable).await?;
        Ok(pieces)
    }

    fn mark(&self, shard: usize) -> LogMark {
        self.locked
            .iter()
            .find(|(s, _)| *s == shard)
            .map_or_else(LogMark::default, |(_, m)| *m)
    }

    /// Commits or unlocks every participant, all at once; returns once every record
    /// the transaction wrote is as safe as `appendfsync` says (written, or durable
    /// under `always`), or the journal's error.
    async fn finish(self) -> Result<(), String> {
        self.finish_parts(COMMAND_PARTS_MIN).await
    }

    /// [`Tx::finish`], committing as parts when at least `parts_min` participants
    /// changed something. When the reply must wait for the journal, each shard
    /// answers its commit once its records are safe: one message per shard.
    async fn finish_parts(self, parts_min: usize) -> Result<(), String> {
        let wait = self.core.journal.enabled && self.locked.iter().any(|(_, m)| m.tx_effects);
        let changed: Vec<Participant> = self
            .locked
            .iter()
            .filter(|(_, m)| m.tx_effects)
            .map(|&(shard, m)| Participant {
                shard: shard as u16,
                lsn: m.last_lsn + 1,
            })
            .collect();
        let ends = self.locked.iter().map(|&(shard, m)| {
            let msg = match changed.len() >= parts_min && m.tx_effects {
                true => Msg::Commit {
                    tx_id: self.id,
                    participants: changed.clone(),
                },
                false => Msg::Unlock,
            };
            self.core.end_tx(shard, self.id, msg, wait)
        });
        match join_all(ends).await.into_iter().all(|acked| acked) {
            true => Ok(()),
            false => Err(crate::persist::journal::misconf()),
        }
    }
}
