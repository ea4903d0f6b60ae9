//! Multi-shard commands and transactions that share one transaction.
//!
//! A transaction holds each of its shards from its first message to its commit,
//! about one cross-core round trip, and the shard runs nothing else meanwhile
//! (two-phase locking at shard granularity, see the parent module). Run one by
//! one, the multi-shard work of a core's connections is therefore limited to one
//! transaction per round trip: `MSET` of ten keys over two shards managed about
//! 12,000 commands a second where one shard does 110,000.
//!
//! So work of **one round** — each shard's share needs nothing from the other
//! shards' answers: a blind write such as `MSET` or `DEL`, a read such as `MGET`, an
//! `EXEC` of single-shard commands with nothing watched — that arrives on a core
//! while other such work of the same core is in flight waits in the core's lane.
//! When the one in flight ends, everything that waited runs together as one
//! transaction: each shard gets one message with every member's share in the
//! group's order ([`Op::Seq`]), and the group commits once. The round trip is paid
//! once per group, not once per command.
//!
//! - **No wait when alone.** Work that finds the lane idle runs at once by itself,
//!   the usual way ([`Turn::Alone`]); grouping only happens behind work in flight.
//! - **Atomic, serializable.** Every shard runs the group's shares in the same order
//!   under locks held for the whole group, which is a serial order of its members:
//!   each still sees and leaves all of its keys at once. The commit writes one part
//!   per changed shard naming them all, so after a crash a group is there whole or
//!   not at all (stronger than each member alone).
//! - **Fair, bounded.** First come, first served; a group holds at most
//!   [`GROUP_MAX`] members. The one that ran a group hands the next to the first
//!   member waiting, which runs it on its own connection's task, so no connection
//!   runs more than the group its own work is in.
//! - **Deadlock freedom** is the transaction's: a group locks as one command on the
//!   union of its members' shards would.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;

use corekv_engine::command::exec::{Op, OpReply};
use corekv_engine::resp::{Protocol, ReplyBuf};
use futures::channel::oneshot;

use super::{Tx, ASCENDING_REMOTE_MAX};
use crate::shard::Core;

/// The most members one group runs: bounds a group's messages and the wait of
/// its last member.
const GROUP_MAX: usize = 64;

/// What turns a member's answers (one per shard of its ops, in order; or the
/// commit's error) into its reply.
pub type Finish = Box<dyn FnOnce(Result<Vec<OpReply>, String>, &mut ReplyBuf)>;

/// One member of a group: an op for each of its shards and how its reply is made.
pub struct Work {
    /// One op per shard, shards ascending.
    pub ops: Vec<(usize, Op)>,
    /// The fewest changed shards from which the group commits as parts: 1 when a
    /// member's several commands on one shard must be all or nothing together (an
    /// `EXEC`), else 2 (see the parent module).
    pub parts_min: usize,
    /// The protocol its reply is written in.
    pub protocol: Protocol,
    pub finish: Finish,
    /// Where its reply goes; `None` for the member running the group.
    done: Option<oneshot::Sender<Outcome>>,
}

impl Work {
    pub fn new(
        ops: Vec<(usize, Op)>,
        parts_min: usize,
        protocol: Protocol,
        finish: Finish,
    ) -> Work {
        debug_assert!(ops.windows(2).all(|w| w[0].0 < w[1].0));
        Work {
            ops,
            parts_min,
            protocol,
            finish,
            done: None,
        }
    }
}

/// What a waiting member gets: its reply, or the next group to run.
enum Outcome {
    Reply(Vec<u8>),
    Lead(Vec<Work>),
}

/// How work entering the lane goes on.
pub enum Turn {
    /// The lane was idle: run it the usual way, then [`leave`].
    Alone,
    /// It ran in a group another member led: its reply.
    Reply(Vec<u8>),
    /// Its turn to run a group (itself first): [`lead`].
    Lead(Vec<Work>),
}

/// One core's lane: whether work is in flight, and who waits behind it.
#[derive(Default)]
struct Lane {
    busy: Cell<bool>,
    waiting: RefCell<VecDeque<Work>>,
}

thread_local! {
    /// The lane of the core this thread runs: one thread runs one core.
    static LANE: Lane = Lane::default();
}

/// Enters the lane with the work `work` describes (built only if it has to wait).
pub async fn enter(work: impl FnOnce() -> Work) -> Turn {
    if !LANE.with(|lane| lane.busy.replace(true)) {
        return Turn::Alone;
    }
    let (sender, receiver) = oneshot::channel();
    let mut work = work();
    work.done = Some(sender);
    LANE.with(|lane| lane.waiting.borrow_mut().push_back(work));
    match receiver.await {
        Ok(Outcome::Reply(bytes)) => Turn::Reply(bytes),
        Ok(Outcome::Lead(batch)) => Turn::Lead(batch),
        // The group's runner went away (the process is stopping).
        Err(_) => Turn::Alone,
    }
}

/// Runs `batch` as one transaction, its first member's reply to `out`, then hands
/// the lane on.
pub async fn lead(core: &Rc<Core>, batch: Vec<Work>, out: &mut ReplyBuf) {
    run_group(core, batch, out).await;
    leave();
}

/// Gives the next group to the first member waiting, or marks the lane idle.
pub fn leave() {
    loop {
        let mut next: Vec<Work> = LANE.with(|lane| {
            let mut waiting = lane.waiting.borrow_mut();
            let n = waiting.len().min(GROUP_MAX);
            waiting.drain(..n).collect()
        });
        let Some(first) = next.first_mut() else {
            return LANE.with(|lane| lane.busy.set(false));
        };
        let sender = first.done.take().expect("waiting work has its sender");
        match sender.send(Outcome::Lead(next)) {
            Ok(()) => return,
            // Its connection is gone: the others wait on, without it.
            Err(Outcome::Lead(back)) => LANE.with(|lane| {
                let mut waiting = lane.waiting.borrow_mut();
                for work in back.into_iter().skip(1).rev() {
                    waiting.push_front(work);
                }
            }),
            Err(Outcome::Reply(_)) => unreachable!("a lead was sent"),
        }
    }
}

async fn run_group(core: &Rc<Core>, mut batch: Vec<Work>, out: &mut ReplyBuf) {
    if batch.len() > 1 {
        core.stats.borrow_mut().grouped += batch.len() as u64;
    }
    let parts_min = batch.iter().map(|w| w.parts_min).min().unwrap_or(1);
    let mut by_shard: BTreeMap<usize, (Vec<usize>, Vec<Op>)> = BTreeMap::new();
    for (i, work) in batch.iter_mut().enumerate() {
        for (s, op) in std::mem::take(&mut work.ops) {
            let (members, ops) = by_shard.entry(s).or_default();
            members.push(i);
            ops.push(op);
        }
    }
    let shards: Vec<usize> = by_shard.keys().copied().collect();
    let (members, ops): (Vec<Vec<usize>>, Vec<(usize, Op)>) = by_shard
        .into_iter()
        .map(|(s, (members, ops))| (members, (s, Op::Seq(ops))))
        .unzip();
    let remote = shards.iter().filter(|&&s| s != core.id).count();
    let (replies, ended) = if remote <= ASCENDING_REMOTE_MAX {
        let mut tx = Tx::new(core);
        let replies = tx.ascending_replies(ops.into_iter()).await;
        (replies, tx.finish_parts(parts_min).await)
    } else {
        let mut tx = Tx::lock(core, &shards).await;
        let replies = tx.round_replies(ops.into_iter()).await;
        (replies, tx.finish_parts(parts_min).await)
    };
    let mut answers: Vec<Vec<OpReply>> = batch.iter().map(|_| Vec::new()).collect();
    for (members, reply) in members.into_iter().zip(replies) {
        let mut seq = match reply {
            OpReply::Seq(replies) => replies.into_iter(),
            // A peer only drops a request when the process is shutting down.
            _ => Vec::new().into_iter(),
        };
        for i in members {
            answers[i].push(seq.next().unwrap_or(OpReply::Done));
        }
    }
    for (i, (work, answers)) in batch.into_iter().zip(answers).enumerate() {
        let mut own = ReplyBuf::new(work.protocol);
        let buf = if i == 0 { &mut *out } else { &mut own };
        match &ended {
            Ok(()) => (work.finish)(Ok(answers), buf),
            Err(e) => (work.finish)(Err(e.clone()), buf),
        }
        if let Some(done) = work.done {
            // A member whose connection closed no longer listens: nothing to do.
            let _ = done.send(Outcome::Reply(own.into_bytes()));
        }
    }
}
