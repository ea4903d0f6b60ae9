//! The mesh between cores: what one core asks another ([`Msg`]) and the envelope it
//! travels in over the bounded SPSC channels.
//!
//! The data plane (commands, transaction steps, journal waits) is plain enum
//! variants: no allocation beyond the request itself on the hot path. Everything
//! else is the control plane: one [`Msg::Control`] closure, built by the subsystem
//! that needs it and run on the shard's core, so the core depends on none of them.

use std::rc::Rc;

use corekv_engine::command::exec::Op;
use corekv_engine::journal::Participant;
use futures::channel::oneshot;

use crate::shard::answer::Answer;
use crate::shard::Core;

/// Capacity of each cross-core request channel.
pub const MESH_CHANNEL_CAPACITY: usize = 1024;

/// Identifies a multi-shard transaction: the coordinator's core and a counter.
pub type TxId = u64;

/// A control-plane request: runs on the target core (see [`Msg::Control`]).
pub type Control = Box<dyn FnOnce(&Rc<Core>) -> Answer + Send>;

/// What one core asks another.
pub enum Msg {
    Op(Op),
    /// Takes the shard's lock for the sender's transaction if no transaction holds
    /// it, answering [`Answer::Logged`]; otherwise answers [`Answer::Busy`] at once,
    /// without queueing.
    TryLock,
    /// Runs `op` inside the sender's transaction, then ends it here: with a part
    /// naming `participants` when two or more are named, else as ordinary records.
    /// Answers [`Answer::Op`].
    Final {
        op: Op,
        tx_id: u64,
        participants: Vec<Participant>,
    },
    /// Ends the sender's transaction on this shard; whatever it changed here is
    /// journaled as ordinary records (no other shard changed). When a reply is
    /// asked for, answers [`Answer::Done`] once those records are as safe as a
    /// reply needs them ([`Msg::WaitDurable`]'s condition: no second message).
    Unlock,
    /// Ends the sender's transaction on this shard, journaling its effects here as
    /// one part naming every participant; answers as [`Msg::Unlock`] does.
    Commit {
        tx_id: u64,
        participants: Vec<Participant>,
    },
    /// Answers once the journal holds this LSN as a reply needs it (written, or
    /// durable under `appendfsync always`); dropped if the journal fails.
    WaitDurable(u64),
    /// Answers once the journal is durable up to the LSN it has reached when this
    /// runs (which waits behind any transaction holding the shard).
    SyncNow,
    /// A pub/sub message for the core's subscribers; answers [`Answer::Count`], the
    /// connections it reached. Runs at once, whatever transaction holds the shard.
    Publish(crate::pubsub::message::Publish),
    /// Control plane: runs on the shard's core, as a request in the shard's order,
    /// and answers what the closure returns. Built by the subsystem that needs it
    /// (snapshots, replication, statistics), so the core names none of them.
    Control(Control),
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Msg::Op(op) => f.debug_tuple("Op").field(op).finish(),
            Msg::TryLock => f.write_str("TryLock"),
            Msg::Final { tx_id, .. } => f.debug_struct("Final").field("tx_id", tx_id).finish(),
            Msg::Unlock => f.write_str("Unlock"),
            Msg::Commit { tx_id, .. } => f.debug_struct("Commit").field("tx_id", tx_id).finish(),
            Msg::WaitDurable(lsn) => f.debug_tuple("WaitDurable").field(lsn).finish(),
            Msg::SyncNow => f.write_str("SyncNow"),
            Msg::Publish(p) => f.debug_tuple("Publish").field(&p.channel).finish(),
            Msg::Control(_) => f.write_str("Control"),
        }
    }
}

#[derive(Debug)]
pub struct Envelope {
    pub tx: Option<TxId>,
    pub msg: Msg,
    /// `None` for fire-and-forget messages (`Unlock`).
    pub reply: Option<oneshot::Sender<Answer>>,
}
