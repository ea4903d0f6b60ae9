//! Serving a blocked `BLMOVE`/`BRPOPLPUSH` whose destination lives on another
//! shard: the pop and the push are one transaction, so each element is moved once
//! and no reader holding both shards sees it in both lists or in neither.
//!
//! ```text
//!  source shard, serving the ready key (never awaits):
//!    takes its own lock for a new transaction, notes the key ready again
//!    (for the clients behind this one, served when the lock ends) ─► spawns:
//!  the move's coordinator, on the source's core:
//!    locks the destination ─► reads both ─► LMOVE's plan ─► pops and pushes
//!    ─► commits both as one journal part ─► hands the reply to the client
//! ```
//!
//! The source holds its lock from the push that made the key ready until the commit,
//! so nothing else runs on it in between: the client gets the element before any
//! command behind the push, as a same-shard move does. Deadlock freedom follows
//! [`crate::exec::tx`]'s rule, a coordinator waits for a shard only while holding no
//! higher one: a higher destination is waited for; a lower one is asked with a
//! try-lock, and when another transaction holds it, the source is released and both
//! are taken in ascending order (the source may then have changed: the plan reads it
//! again, and a client that finds it empty waits on).

use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;

use bytes::Bytes;
use corekv_engine::command::exec::{Op, OpReply, PartOp, Step as PartStep};
use corekv_engine::command::list_move::{MOVE_DST, MOVE_SRC};
use corekv_engine::command::parts::{ListProbe, PartReply, Parts, Piece};
use corekv_engine::command::{table, Route};
use corekv_engine::journal::Participant;
use corekv_engine::keyspace::Entry;
use corekv_engine::resp::{Reply, ReplyBuf};
use corekv_engine::shard::Shard;
use futures::future::join_all;

use super::{Served, Signal, Step};
use crate::shard::answer::Answer;
use crate::shard::mesh::{Msg, TxId};
use crate::shard::Core;

/// Participants that changed something from which the move commits as parts (as a
/// multi-shard command in [`crate::exec::tx`]).
const PARTS_MIN: usize = 2;

/// Starts serving `step` (claimed through `signal`) from `key` on this shard, whose
/// destination lives on shard `dest`: takes this shard's lock for the move's
/// transaction and spawns its coordinator. Runs on the shard, never awaits.
pub(super) fn start(
    core: &Core,
    shard: &mut Shard,
    key: &(usize, Bytes),
    signal: Arc<Signal>,
    step: Arc<Step>,
    dest: usize,
) {
    let Some(me) = core.me.upgrade() else {
        return signal.waiting();
    };
    let tx = core.new_tx();
    core.lock.set(Some(tx));
    shard.log_mut().begin_tx();
    let held = shard.log().last_lsn();
    super::mark_ready(vec![key.clone()]);
    let mv = Move {
        core: me,
        tx,
        db: key.0,
        step,
        locked: vec![(core.id, held)],
    };
    glommio::spawn_local(mv.run(signal, dest)).detach();
}

/// One move's transaction, coordinated from the source's core.
struct Move {
    core: Rc<Core>,
    tx: TxId,
    db: usize,
    step: Arc<Step>,
    /// Held shards, with their last LSN when locked.
    locked: Vec<(usize, u64)>,
}

impl Move {
    fn source(&self) -> usize {
        self.core.id
    }

    async fn run(mut self, signal: Arc<Signal>, dest: usize) {
        after_spawn().await;
        self.lock_destination(dest).await;
        let (reply, changed) = self.pop_and_push(dest).await;
        let kept = self.finish(&changed).await;
        let reply = match (reply, kept) {
            (Some(_), Err(e)) => {
                let mut out = ReplyBuf::new(self.step.protocol);
                out.error(&e);
                Some(out.into_bytes())
            }
            (reply, _) => reply,
        };
        match reply {
            Some(reply) => signal.serve(Served {
                reply,
                logged: Vec::new(),
            }),
            None => signal.waiting(),
        }
    }

    /// Takes `dest` as well: waited for when above the source; a try-lock when below,
    /// falling back to both in ascending order when another transaction holds it.
    async fn lock_destination(&mut self, dest: usize) {
        let core = self.core.clone();
        if dest > self.source() {
            return self.lock(dest).await;
        }
        if let Some(Answer::Logged(mark)) = core.call(dest, Some(self.tx), Msg::TryLock).await {
            return self.locked.push((dest, mark.last_lsn));
        }
        let source = self.source();
        core.end_tx(source, self.tx, Msg::Unlock, true).await;
        self.locked.clear();
        self.lock(dest).await;
        self.lock(source).await;
    }

    async fn lock(&mut self, shard: usize) {
        let (_, mark) = self.core.op_marked(shard, Some(self.tx), Op::Lock).await;
        self.locked.push((shard, mark.last_lsn));
    }

    fn part(&self, step: PartStep, key: usize, carry: Option<&Arc<Entry>>) -> Op {
        Op::Part(PartOp {
            id: self.step.id,
            step,
            db: self.db,
            args: self.step.args.clone(),
            keys: vec![key],
            carry: carry.cloned(),
        })
    }

    /// Runs the move inside the locks: the client's reply (`None`: the source holds
    /// no list any more, the client waits on) and the shards that changed.
    async fn pop_and_push(&self, dest: usize) -> (Option<Vec<u8>>, Vec<usize>) {
        let Route::Parts(parts) = table().all[self.step.id].route else {
            unreachable!("a blocking move is a parts command");
        };
        let ends = [(self.source(), MOVE_SRC), (dest, MOVE_DST)];
        let mut reads = Vec::with_capacity(ends.len());
        for (shard, key) in ends {
            let op = self.part(PartStep::Read, key, None);
            reads.push(piece(
                shard,
                key,
                self.core.op(shard, Some(self.tx), op).await,
            ));
        }
        let source_holds = matches!(
            &reads[0].reply,
            PartReply::Lists(probes)
                if matches!(probes.as_slice(), [ListProbe::List { end: Some(_) }])
        );
        if !source_holds {
            return (None, Vec::new());
        }
        let mut out = ReplyBuf::new(self.step.protocol);
        let plan = parts.plan.expect("a move plans");
        let write = match plan(&self.step.args, &reads, &mut out) {
            Ok(Some(write)) => write,
            Ok(None) => return (None, Vec::new()),
            Err(e) => {
                out.error(&e.message());
                return (Some(out.into_bytes()), Vec::new());
            }
        };
        let mut writes = Vec::with_capacity(ends.len());
        let mut changed = Vec::with_capacity(ends.len());
        let carry = write.carry.map(Arc::new);
        for (shard, key) in ends {
            let op = self.part(PartStep::Write, key, carry.as_ref());
            let (reply, mark) = self.core.op_marked(shard, Some(self.tx), op).await;
            writes.push(piece(shard, key, reply));
            if mark.tx_effects {
                changed.push(shard);
            }
        }
        if let Err(e) = Parts::first_error(&writes) {
            out.clear();
            out.error(&e.message());
        }
        (Some(out.into_bytes()), changed)
    }

    /// Ends the transaction on every held shard, all at once: when both changed,
    /// each commits one part naming both (a crash keeps both or neither); otherwise
    /// what changed becomes ordinary records. Each shard answers once what it
    /// journaled is as safe as `appendfsync` says; the journal's error otherwise.
    async fn finish(&self, changed: &[usize]) -> Result<(), String> {
        let mut participants: Vec<Participant> = self
            .locked
            .iter()
            .filter(|(shard, _)| changed.contains(shard))
            .map(|&(shard, lsn)| Participant {
                shard: shard as u16,
                lsn: lsn + 1,
            })
            .collect();
        participants.sort_by_key(|p| p.shard);
        let ends = self.locked.iter().map(|&(shard, _)| {
            let msg = match participants.len() >= PARTS_MIN && changed.contains(&shard) {
                true => Msg::Commit {
                    tx_id: self.tx,
                    participants: participants.clone(),
                },
                false => Msg::Unlock,
            };
            self.core.end_tx(shard, self.tx, msg, true)
        });
        match join_all(ends).await.into_iter().all(|acked| acked) {
            true => Ok(()),
            false => Err(crate::persist::journal::misconf()),
        }
    }
}

/// Returns at the task's second turn: glommio runs a spawned task at once, and
/// [`start`] spawns the move while the shard that serves it is still borrowed.
async fn after_spawn() {
    let mut first = true;
    std::future::poll_fn(|cx| {
        if std::mem::take(&mut first) {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        Poll::Ready(())
    })
    .await
}

fn piece(shard: usize, key: usize, reply: OpReply) -> Piece {
    let reply = match reply {
        OpReply::Part(r) => r,
        // A peer only drops a request when the process is shutting down.
        _ => PartReply::Done,
    };
    Piece {
        shard,
        keys: vec![key],
        reply,
    }
}
