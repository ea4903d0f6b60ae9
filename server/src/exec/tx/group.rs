//! Multi-shard commands that share one transaction.
//!
//! A transaction holds each of its shards from its first message to its commit,
//! about one cross-core round trip, and the shard runs nothing else meanwhile
//! ([`super::tx`]: two-phase locking at shard granularity). Run one by one, the
//! multi-shard commands of a core's connections are therefore limited to one per
//! round trip: `MSET` of ten keys over two shards managed about 13,600 commands a
//! second where one shard does 110,000.
//!
//! So a multi-shard command of **one round** — a blind write such as `MSET`, `DEL`,
//! or a read such as `MGET`, `EXISTS`: each shard's part needs nothing from the
//! other shards' answers ([`super::tx::Call`]'s `one_round`) — that arrives on a
//! core while another such command of the same core is in flight waits in the
//! core's lane, and when the one in flight ends, every command that waited runs
//! together as one transaction: each shard gets one message with all of its parts
//! in the group's order ([`Op::Parts`]), and the group commits once. The round trip
//! is paid once per group, not once per command.
//!
//! - **No wait when alone.** A command that finds the lane idle runs at once by
//!   itself, as any multi-shard command does; grouping only happens behind a
//!   command already in flight.
//! - **Atomic, serializable.** Every shard runs the group's parts in the same order
//!   under locks held for the whole group, which is a serial order of its commands:
//!   each still sees and leaves all of its keys at once. The commit writes one part
//!   per changed shard naming them all, so after a crash a group is there whole or
//!   not at all (stronger than each command alone).
//! - **Fair, bounded.** First come, first served; a group holds at most
//!   [`GROUP_MAX`] commands. The command that ran a group hands the next one to the
//!   first command waiting, which runs it on its own connection's task, so no
//!   connection runs more than the group its own command is in.
//! - **Deadlock freedom** is the transaction's: a group locks as one command with
//!   its shards' union would ([`super::tx`] explains the rule).

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;

use corekv_engine::command::exec::{Op, OpReply, Step};
use corekv_engine::command::parts::{PartReply, Piece};
use corekv_engine::command::{table, Route};
use corekv_engine::resp::{Args, Protocol, Reply, ReplyBuf};
use futures::channel::oneshot;

use super::{Call, Tx, ASCENDING_REMOTE_MAX};
use crate::shard::Core;

/// The most commands one group runs: bounds a group's messages and the wait of its
/// last command.
const GROUP_MAX: usize = 64;

/// A command waiting in the lane, or running in a group.
struct Member {
    id: usize,
    db: usize,
    args: Args,
    step: Step,
    /// Its shards (ascending) with the key positions each owns.
    groups: Vec<(usize, Vec<usize>)>,
    protocol: Protocol,
    /// Where its outcome goes; `None` for the command running the group.
    done: Option<oneshot::Sender<Outcome>>,
}

/// What a waiting command gets: its reply, or the next group to run.
enum Outcome {
    Reply(Vec<u8>),
    Lead(Vec<Member>),
}

/// One core's lane: whether a group (or a lone command) is in flight, and who
/// waits behind it.
#[derive(Default)]
struct Lane {
    busy: Cell<bool>,
    waiting: RefCell<VecDeque<Member>>,
}

thread_local! {
    /// The lane of the core this thread runs: one thread runs one core.
    static LANE: Lane = Lane::default();
}

/// Runs `call`, a one-round multi-shard command taking `step` on `groups`, alone
/// or in a group, writing its reply to `out`.
pub(super) async fn run(
    call: &Call<'_>,
    step: Step,
    groups: Vec<(usize, Vec<usize>)>,
    out: &mut ReplyBuf,
) {
    let mut me = Member {
        id: call.id,
        db: call.db,
        args: call.args.clone(),
        step,
        groups,
        protocol: out.protocol(),
        done: None,
    };
    let batch = match LANE.with(|lane| lane.busy.replace(true)) {
        false => vec![me],
        true => {
            let (sender, receiver) = oneshot::channel();
            let fallback = me.groups.clone();
            me.done = Some(sender);
            LANE.with(|lane| lane.waiting.borrow_mut().push_back(me));
            match receiver.await {
                Ok(Outcome::Reply(bytes)) => return out.append_vec(bytes),
                Ok(Outcome::Lead(batch)) => batch,
                // The group's runner went away (the process is stopping): alone.
                Err(_) => return call.locked_reply(fallback, out).await,
            }
        }
    };
    run_group(call.core, batch, out).await;
    hand_over();
}

/// Gives the next group to the first command waiting, or marks the lane idle.
fn hand_over() {
    loop {
        let mut next: Vec<Member> = LANE.with(|lane| {
            let mut waiting = lane.waiting.borrow_mut();
            let n = waiting.len().min(GROUP_MAX);
            waiting.drain(..n).collect()
        });
        let Some(first) = next.first_mut() else {
            return LANE.with(|lane| lane.busy.set(false));
        };
        let sender = first.done.take().expect("a waiting command has its sender");
        match sender.send(Outcome::Lead(next)) {
            Ok(()) => return,
            // Its connection is gone: the others wait on, without it.
            Err(Outcome::Lead(back)) => LANE.with(|lane| {
                let mut waiting = lane.waiting.borrow_mut();
                for member in back.into_iter().skip(1).rev() {
                    waiting.push_front(member);
                }
            }),
            Err(Outcome::Reply(_)) => unreachable!("a lead was sent"),
        }
    }
}

/// The command `member` describes, as the transaction runs it.
fn call_of<'a>(core: &'a Rc<Core>, member: &'a Member) -> Call<'a> {
    let Route::Parts(parts) = table().all[member.id].route else {
        unreachable!("only multi-shard commands are grouped");
    };
    Call {
        core,
        id: member.id,
        db: member.db,
        args: &member.args,
        parts,
        tx: None,
    }
}

/// Runs `batch` as one transaction: the first member's reply goes to `out`, the
/// others' to their senders.
async fn run_group(core: &Rc<Core>, mut batch: Vec<Member>, out: &mut ReplyBuf) {
    if batch.len() == 1 {
        let groups = std::mem::take(&mut batch[0].groups);
        return call_of(core, &batch[0]).locked_reply(groups, out).await;
    }
    core.stats.borrow_mut().grouped += batch.len() as u64;
    let senders: Vec<_> = batch.iter_mut().map(|m| m.done.take()).collect();
    let calls: Vec<Call> = batch.iter().map(|m| call_of(core, m)).collect();
    let mut by_shard: BTreeMap<usize, Vec<(usize, Vec<usize>)>> = BTreeMap::new();
    for (i, member) in batch.iter().enumerate() {
        for (s, keys) in &member.groups {
            by_shard.entry(*s).or_default().push((i, keys.clone()));
        }
    }
    let ops = by_shard.iter().map(|(s, list)| {
        let parts = list
            .iter()
            .map(|(i, keys)| calls[*i].part_op(batch[*i].step, keys, None))
            .collect();
        (*s, Op::Parts(parts))
    });
    let shards: Vec<usize> = by_shard.keys().copied().collect();
    let remote = shards.iter().filter(|&&s| s != core.id).count();
    let (replies, ended) = if remote <= ASCENDING_REMOTE_MAX {
        let mut tx = Tx::new(core);
        let replies = tx.ascending_replies(ops).await;
        (replies, tx.finish().await)
    } else {
        let mut tx = Tx::lock(core, &shards).await;
        let replies = tx.round_replies(ops).await;
        (replies, tx.finish().await)
    };
    let mut pieces: Vec<Vec<Piece>> = batch.iter().map(|_| Vec::new()).collect();
    for ((shard, list), reply) in by_shard.into_iter().zip(replies) {
        let answers = match reply {
            OpReply::Parts(answers) => answers,
            // A peer only drops a request when the process is shutting down.
            _ => Vec::new(),
        };
        let mut answers = answers.into_iter();
        for (i, keys) in list {
            let reply = answers.next().unwrap_or(PartReply::Done);
            pieces[i].push(Piece { shard, keys, reply });
        }
    }
    for (i, (sender, call)) in senders.into_iter().zip(&calls).enumerate() {
        let mut own = ReplyBuf::new(batch[i].protocol);
        let buf = if i == 0 { &mut *out } else { &mut own };
        match &ended {
            Ok(()) => call.merge(&pieces[i], buf),
            Err(e) => buf.error(e),
        }
        if let Some(done) = sender {
            // A waiter whose connection closed no longer listens: nothing to do.
            let _ = done.send(Outcome::Reply(own.into_bytes()));
        }
    }
}
