//! One core's state and the mesh between cores.
//!
//! Each executor owns one [`Core`]: its shard of the keyspace, the shard's lock for
//! multi-shard transactions, the queue of work waiting for that lock, its client
//! registry and counters. Cores talk over bounded SPSC channels, one per ordered pair
//! (glommio `shared_channel`s wired by hand rather than `channel_mesh`, whose builder
//! shares an `Rc` across threads). Replies travel back on a oneshot carried in the
//! request, so a reply never waits for channel space.
//!
//! **The deadlock-freedom rule:** code running on behalf of a shard ([`Core::deliver`])
//! never awaits anything; only coordinators (connection tasks) await, and a
//! coordinator takes shard locks in ascending shard order.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use corekv_engine::shard::{Op, OpReply, Shard, ShardStats};
use futures::channel::oneshot;
use glommio::channels::shared_channel::ConnectedSender;

use crate::clients::{ClientsOp, ClientsReply, Registry};
use crate::config::Config;

/// Capacity of each cross-core request channel.
pub const MESH_CHANNEL_CAPACITY: usize = 1024;

/// Identifies a multi-shard transaction: the coordinator's core and a counter.
pub type TxId = u64;

/// What one core asks another.
#[derive(Debug)]
pub enum Msg {
    Op(Op),
    /// Ends the sender's transaction on this shard.
    Unlock,
    Clients(ClientsOp),
    /// This core's numbers for `INFO`.
    Stats,
    /// `CONFIG RESETSTAT`.
    ResetStats,
    /// `CONFIG SET proto-max-bulk-len`: the longest string a command may build.
    SetStringMax(usize),
}

#[derive(Debug)]
pub enum Answer {
    Op(OpReply),
    Clients(ClientsReply),
    Stats(Box<CoreSnapshot>),
    Done,
}

/// One core's numbers, gathered for `INFO`.
#[derive(Debug)]
pub struct CoreSnapshot {
    pub shard: ShardStats,
    pub core: CoreStats,
    pub clients: usize,
}

#[derive(Debug)]
pub struct Envelope {
    pub tx: Option<TxId>,
    pub msg: Msg,
    /// `None` for fire-and-forget messages (`Unlock`).
    pub reply: Option<oneshot::Sender<Answer>>,
}

/// Process-wide shutdown: fired once by a signal or `SHUTDOWN`, awaited by every core.
#[derive(Debug, Default)]
pub struct Shutdown {
    fired: AtomicBool,
    wakers: Mutex<Vec<Waker>>,
}

impl Shutdown {
    pub fn fire(&self) {
        self.fired.store(true, Ordering::SeqCst);
        for w in self.wakers.lock().expect("shutdown lock").drain(..) {
            w.wake();
        }
    }

    pub fn is_fired(&self) -> bool {
        self.fired.load(Ordering::SeqCst)
    }

    pub fn wait(&self) -> impl Future<Output = ()> + '_ {
        futures::future::poll_fn(move |cx| {
            if self.is_fired() {
                return Poll::Ready(());
            }
            self.wakers
                .lock()
                .expect("shutdown lock")
                .push(cx.waker().clone());
            if self.is_fired() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
    }
}

/// What every core shares: configuration and process-wide facts and counters.
#[derive(Debug)]
pub struct Global {
    pub config: Config,
    pub shards: usize,
    pub cpus: Vec<usize>,
    pub port: u16,
    pub run_id: String,
    pub started: Instant,
    pub started_unix_s: u64,
    pub shutdown: Shutdown,
    pub next_client_id: AtomicU64,
    pub connected_clients: AtomicU64,
    pub total_connections: AtomicU64,
    pub rejected_connections: AtomicU64,
}

/// Wall-clock time in Unix milliseconds: the `now_ms` every command runs at.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Counters of one core for `INFO`.
#[derive(Debug, Default, Clone)]
pub struct CoreStats {
    /// Messages this core sent to other cores.
    pub hops: u64,
    pub commands: u64,
    pub protocol_errors: u64,
    pub net_input_bytes: u64,
    pub net_output_bytes: u64,
    /// Per command: calls and total µs, indexed like the command table.
    pub command_calls: Vec<(u64, u64)>,
    pub rejected_calls: u64,
    /// Error replies from connection and server commands.
    pub error_replies: u64,
}

pub struct Core {
    pub id: usize,
    pub global: Arc<Global>,
    pub shard: RefCell<Shard>,
    lock: Cell<Option<TxId>>,
    pending: RefCell<VecDeque<Envelope>>,
    peers: Vec<Option<ConnectedSender<Envelope>>>,
    pub clients: RefCell<Registry>,
    pub stats: RefCell<CoreStats>,
    next_tx: Cell<u64>,
}

impl Core {
    pub fn new(
        id: usize,
        global: Arc<Global>,
        peers: Vec<Option<ConnectedSender<Envelope>>>,
    ) -> Core {
        let mut shard = Shard::new(id, global.started_unix_s);
        shard.string_max_bytes =
            global.config.hot.proto_max_bulk_len.load(Ordering::Relaxed) as usize;
        let ncommands = corekv_engine::command::table().all.len();
        Core {
            id,
            global,
            shard: RefCell::new(shard),
            lock: Cell::new(None),
            pending: RefCell::new(VecDeque::new()),
            peers,
            clients: RefCell::new(Registry::default()),
            stats: RefCell::new(CoreStats {
                command_calls: vec![(0, 0); ncommands],
                ..Default::default()
            }),
            next_tx: Cell::new(0),
        }
    }

    pub fn shards(&self) -> usize {
        self.global.shards
    }

    /// True when the shard is free for a command run in place.
    pub fn unlocked(&self) -> bool {
        self.lock.get().is_none()
    }

    pub fn new_tx(&self) -> TxId {
        let n = self.next_tx.get() + 1;
        self.next_tx.set(n);
        ((self.id as u64) << 48) | n
    }

    /// Accepts a message for this core's shard: runs it now, or queues it behind the
    /// transaction holding the shard. Never awaits.
    pub fn deliver(&self, env: Envelope) {
        match self.lock.get() {
            Some(holder) if env.tx != Some(holder) => self.pending.borrow_mut().push_back(env),
            _ => self.execute(env),
        }
    }

    fn execute(&self, env: Envelope) {
        let answer = match env.msg {
            Msg::Unlock => {
                debug_assert_eq!(self.lock.get(), env.tx);
                self.lock.set(None);
                self.drain_pending();
                return;
            }
            Msg::Op(op) => {
                if env.tx.is_some() && self.lock.get().is_none() {
                    self.lock.set(env.tx);
                }
                Answer::Op(self.shard.borrow_mut().apply(op, now_ms()))
            }
            Msg::Clients(op) => Answer::Clients(self.clients.borrow_mut().apply(op)),
            Msg::Stats => Answer::Stats(Box::new(CoreSnapshot {
                shard: self.shard.borrow().stats(),
                core: self.stats.borrow().clone(),
                clients: self.clients.borrow().len(),
            })),
            Msg::ResetStats => {
                let mut stats = self.stats.borrow_mut();
                let calls = stats.command_calls.len();
                *stats = CoreStats {
                    command_calls: vec![(0, 0); calls],
                    ..Default::default()
                };
                self.shard.borrow_mut().reset_stats();
                Answer::Done
            }
            Msg::SetStringMax(n) => {
                self.shard.borrow_mut().string_max_bytes = n;
                Answer::Done
            }
        };
        if let Some(reply) = env.reply {
            // The coordinator may have gone (its connection closed): nothing to do.
            let _ = reply.send(answer);
        }
    }

    /// Runs queued work in arrival order until a queued transaction takes the lock.
    fn drain_pending(&self) {
        loop {
            let next = {
                let mut pending = self.pending.borrow_mut();
                match (pending.front(), self.lock.get()) {
                    (None, _) => None,
                    (Some(front), Some(holder)) if front.tx != Some(holder) => None,
                    _ => pending.pop_front(),
                }
            };
            match next {
                Some(env) => self.execute(env),
                None => return,
            }
        }
    }

    /// Sends `msg` to shard `target` (this core's own shard included) and awaits the
    /// answer. Only coordinators call this.
    pub async fn call(&self, target: usize, tx: Option<TxId>, msg: Msg) -> Option<Answer> {
        let (sender, receiver) = oneshot::channel();
        let env = Envelope {
            tx,
            msg,
            reply: Some(sender),
        };
        self.post(target, env).await;
        receiver.await.ok()
    }

    /// Sends an operation and unwraps its reply.
    pub async fn op(&self, target: usize, tx: Option<TxId>, op: Op) -> OpReply {
        match self.call(target, tx, Msg::Op(op)).await {
            Some(Answer::Op(r)) => r,
            // A peer only drops a request when the process is shutting down.
            _ => OpReply::Done,
        }
    }

    /// Releases `tx`'s lock on `target` without waiting.
    pub async fn unlock(&self, target: usize, tx: TxId) {
        let env = Envelope {
            tx: Some(tx),
            msg: Msg::Unlock,
            reply: None,
        };
        self.post(target, env).await;
    }

    async fn post(&self, target: usize, env: Envelope) {
        if target == self.id {
            self.deliver(env);
            return;
        }
        self.stats.borrow_mut().hops += 1;
        let peer = self.peers[target]
            .as_ref()
            .expect("a channel to every other core");
        // Fails only when the peer has stopped (shutdown); the reply then never comes.
        let _ = peer.send(env).await;
    }
}
