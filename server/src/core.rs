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
//! coordinator waits for a shard lock only while holding no higher shard
//! (`crate::tx` explains its parallel try-lock round and ascending fallback).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::rc::Weak;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use corekv_engine::journal::Participant;
use corekv_engine::shard::{Op, OpReply, Shard, ShardStats};
use futures::channel::oneshot;
use futures::future::join_all;
use glommio::channels::shared_channel::ConnectedSender;
use glommio::{Latency, Shares, TaskQueueHandle};

use crate::clients::{ClientsOp, ClientsReply, Registry};
use crate::config::Config;
use crate::journal::Journal;

/// CPU shares of the background task queue against the default queue's 1000:
/// background work gets about 1% of a busy core.
const BACKGROUND_SHARES: usize = 10;

/// Capacity of each cross-core request channel.
pub const MESH_CHANNEL_CAPACITY: usize = 1024;

/// Identifies a multi-shard transaction: the coordinator's core and a counter.
pub type TxId = u64;

/// What one core asks another.
#[derive(Debug)]
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
    /// journaled as ordinary records (no other shard changed). Answers
    /// [`Answer::Logged`] when a reply is asked for.
    Unlock,
    /// Ends the sender's transaction on this shard, journaling its effects here as
    /// one part naming every participant; answers [`Answer::Logged`].
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
    /// Starts a snapshot of the shard now; answers at once, `done` when written.
    Snapshot {
        target: crate::saver::Target,
        done: oneshot::Sender<crate::saver::SaveResult>,
    },
    Clients(ClientsOp),
    /// This core's numbers for `INFO`.
    Stats,
    /// `CONFIG RESETSTAT`.
    ResetStats,
    /// `CONFIG SET proto-max-bulk-len`: the longest string a command may build. The
    /// shard also re-reads the collection limits (`hash-max-listpack-*`, ...).
    SetStringMax(usize),
    /// `REPLICAOF host port`: follow the master on this shard for this epoch.
    Follow(u64),
    /// `REPLICAOF NO ONE`: the shard journals its own changes again, from its
    /// last LSN; answers [`Answer::Logged`].
    Promote,
    /// Answers [`Answer::Logged`] with the shard's last LSN (`WAIT`).
    LastLsn,
    /// A replica's stream for this shard, its socket handed over by another core.
    AdoptStream {
        fd: std::os::fd::OwnedFd,
        handover: crate::repl_master::HandOver,
    },
}

#[derive(Debug)]
pub enum Answer {
    Op(OpReply, LogMark),
    /// Another transaction holds the shard ([`Msg::TryLock`]).
    Busy,
    /// The shard's last journal LSN after the request, and whether it wrote any.
    Logged(LogMark),
    Clients(ClientsReply),
    Stats(Box<CoreSnapshot>),
    Done,
}

/// Where a shard's journal stood after a request, for the coordinator: what to
/// wait for under `appendfsync always`, and what a transaction's part will be.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogMark {
    pub last_lsn: u64,
    /// The request appended records.
    pub appended: bool,
    /// The transaction holding the shard has effects waiting here.
    pub tx_effects: bool,
}

/// One core's numbers, gathered for `INFO`.
#[derive(Debug)]
pub struct CoreSnapshot {
    pub shard: ShardStats,
    pub core: CoreStats,
    pub clients: usize,
    pub journal: JournalStats,
}

/// One shard's journal numbers for `INFO persistence` and `INFO shards`.
#[derive(Debug, Clone, Copy, Default)]
pub struct JournalStats {
    pub size_bytes: u64,
    pub base_size_bytes: u64,
    pub pending_bytes: u64,
    pub last_lsn: u64,
    pub durable_lsn: u64,
    /// First LSN still in the journal on disk (the replication backlog's start).
    pub first_lsn: u64,
    pub write_ok: bool,
    pub snapshot_in_progress: bool,
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
    /// Shards still loading their data: commands answer `-LOADING` until 0.
    pub loading: std::sync::atomic::AtomicUsize,
    pub load_progress: LoadProgress,
    pub persist: Mutex<PersistState>,
    /// The replication id naming this server's history.
    pub replication: Mutex<crate::replstate::ReplState>,
    /// Role, links and attached replicas.
    pub repl: crate::repl::Repl,
}

/// Bytes of snapshots and journals recovery reads, and how many it has read.
#[derive(Debug, Default)]
pub struct LoadProgress {
    pub started_unix_s: AtomicU64,
    pub total_bytes: AtomicU64,
    pub done_bytes: AtomicU64,
}

/// Process-wide persistence state for `INFO persistence`, `LASTSAVE` and the
/// background saves.
#[derive(Debug)]
pub struct PersistState {
    /// When the last backup set completed (Unix s); start-up time before any.
    pub last_save_unix_s: u64,
    /// Keyspace changes counted up to the last backup's cut.
    pub dirty_at_last_save: u64,
    pub bgsave_started: Option<Instant>,
    pub last_bgsave_ok: bool,
    pub last_bgsave_secs: i64,
    pub saves: u64,
    pub rewrite_started: Option<Instant>,
    pub last_rewrite_ok: bool,
    pub last_rewrite_secs: i64,
    pub rewrites: u64,
}

impl PersistState {
    pub fn new(now_unix_s: u64) -> Self {
        PersistState {
            last_save_unix_s: now_unix_s,
            dirty_at_last_save: 0,
            bgsave_started: None,
            last_bgsave_ok: true,
            last_bgsave_secs: -1,
            saves: 0,
            rewrite_started: None,
            last_rewrite_ok: true,
            last_rewrite_secs: -1,
            rewrites: 0,
        }
    }
}

impl Global {
    pub fn is_loading(&self) -> bool {
        self.loading.load(Ordering::Acquire) > 0
    }
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
    pub journal: Journal,
    /// This core itself, for work it spawns from [`Core::deliver`].
    me: Weak<Core>,
    next_snapshot: Cell<u64>,
    background: Cell<Option<TaskQueueHandle>>,
}

impl Core {
    pub fn new(
        id: usize,
        global: Arc<Global>,
        peers: Vec<Option<ConnectedSender<Envelope>>>,
        journal: Journal,
        me: Weak<Core>,
    ) -> Core {
        let mut shard = Shard::new(id, global.started_unix_s);
        shard.set_string_max_bytes(
            global.config.hot.proto_max_bulk_len.load(Ordering::Relaxed) as usize
        );
        shard.set_limits(global.config.collection_limits());
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
            journal,
            me,
            next_snapshot: Cell::new(0),
            background: Cell::new(None),
        }
    }

    pub fn next_snapshot_id(&self) -> u64 {
        let n = self.next_snapshot.get() + 1;
        self.next_snapshot.set(n);
        n
    }

    /// The low-share task queue for background work (expiry, snapshots).
    pub fn background_queue(&self) -> TaskQueueHandle {
        match self.background.get() {
            Some(q) => q,
            None => {
                let q = glommio::executor().create_task_queue(
                    Shares::Static(BACKGROUND_SHARES),
                    Latency::NotImportant,
                    "background",
                );
                self.background.set(Some(q));
                q
            }
        }
    }

    /// Wakes the journal writer if the shard has records waiting. Called after
    /// anything ran on the shard.
    pub fn kick_journal(&self) {
        if self.shard.borrow().log().pending_bytes() > 0 {
            self.journal.kick();
        }
    }

    pub fn journal_stats(&self) -> JournalStats {
        let shard = self.shard.borrow();
        let j = &self.journal;
        JournalStats {
            size_bytes: j.total_bytes() + shard.log().pending_bytes() as u64,
            base_size_bytes: j.base_size_bytes.get(),
            pending_bytes: shard.log().pending_bytes() as u64,
            last_lsn: shard.log().last_lsn(),
            durable_lsn: j.durable_lsn(),
            first_lsn: j.first_lsn.get(),
            write_ok: j.last_write_ok.get(),
            snapshot_in_progress: self.journal.rewriting.get(),
        }
    }

    fn log_mark(&self, before: u64) -> LogMark {
        let shard = self.shard.borrow();
        LogMark {
            last_lsn: shard.log().last_lsn(),
            appended: shard.log().last_lsn() != before,
            tx_effects: shard.log().tx_has_effects(),
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
        if let Msg::TryLock = env.msg {
            return self.try_lock(env);
        }
        match self.lock.get() {
            Some(holder) if env.tx != Some(holder) => self.pending.borrow_mut().push_back(env),
            _ => self.execute(env),
        }
    }

    /// [`Msg::TryLock`]: never queues, so a coordinator's parallel lock round never
    /// waits on another transaction.
    fn try_lock(&self, env: Envelope) {
        let answer = match self.lock.get() {
            None => {
                self.lock.set(env.tx);
                self.shard.borrow_mut().log_mut().begin_tx();
                Answer::Logged(self.log_mark(self.shard.borrow().log().last_lsn()))
            }
            Some(_) => Answer::Busy,
        };
        if let Some(reply) = env.reply {
            let _ = reply.send(answer);
        }
    }

    /// Ends the transaction holding the shard: `participants` (two or more) get one
    /// part naming them all, otherwise the effects become ordinary records. Then
    /// runs what waited for the lock.
    fn end_tx_here(&self, tx_id: u64, participants: &[Participant]) {
        debug_assert!(self.lock.get().is_some());
        if participants.len() >= 2 {
            self.shard
                .borrow_mut()
                .log_mut()
                .commit_tx(tx_id, participants);
        } else {
            self.shard.borrow_mut().log_mut().end_tx();
        }
        self.kick_journal();
        self.lock.set(None);
    }

    fn execute(&self, env: Envelope) {
        let before = self.shard.borrow().log().last_lsn();
        let answer = match env.msg {
            Msg::TryLock => unreachable!("TryLock is answered by deliver"),
            Msg::Final {
                op,
                tx_id,
                participants,
            } => {
                debug_assert_eq!(self.lock.get(), env.tx);
                let reply = self.shard.borrow_mut().apply(op, now_ms());
                self.end_tx_here(tx_id, &participants);
                let mark = self.log_mark(before);
                if let Some(reply_to) = env.reply {
                    let _ = reply_to.send(Answer::Op(reply, mark));
                }
                self.drain_pending();
                return;
            }
            Msg::Unlock | Msg::Commit { .. } => {
                debug_assert_eq!(self.lock.get(), env.tx);
                match env.msg {
                    Msg::Commit {
                        tx_id,
                        participants,
                    } => self.end_tx_here(tx_id, &participants),
                    _ => self.end_tx_here(0, &[]),
                }
                let mark = self.log_mark(before);
                if let Some(reply) = env.reply {
                    let _ = reply.send(Answer::Logged(mark));
                }
                self.drain_pending();
                return;
            }
            Msg::WaitDurable(lsn) => {
                if let Some(reply) = env.reply {
                    crate::journal::defer_ack(self, lsn, reply);
                }
                return;
            }
            Msg::SyncNow => {
                if let Some(reply) = env.reply {
                    let lsn = self.shard.borrow().log().last_lsn();
                    self.journal.defer_until_durable(lsn, reply);
                }
                return;
            }
            Msg::Snapshot { target, done } => {
                if let Some(me) = self.me.upgrade() {
                    crate::saver::start(&me, target, done);
                }
                Answer::Done
            }
            Msg::Op(op) => {
                if env.tx.is_some() && self.lock.get().is_none() {
                    self.lock.set(env.tx);
                    self.shard.borrow_mut().log_mut().begin_tx();
                }
                let reply = self.shard.borrow_mut().apply(op, now_ms());
                self.kick_journal();
                Answer::Op(reply, self.log_mark(before))
            }
            Msg::Clients(op) => Answer::Clients(self.clients.borrow_mut().apply(op)),
            Msg::Stats => Answer::Stats(Box::new(CoreSnapshot {
                shard: self.shard.borrow().stats(),
                core: self.stats.borrow().clone(),
                clients: self.clients.borrow().len(),
                journal: self.journal_stats(),
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
                self.set_shard_limits(n);
                Answer::Done
            }
            Msg::Follow(epoch) => {
                if let Some(me) = self.me.upgrade() {
                    crate::repl_replica::start(&me, epoch);
                }
                Answer::Done
            }
            Msg::Promote => {
                if self.journal.enabled {
                    let mut shard = self.shard.borrow_mut();
                    let last = shard.log().last_lsn();
                    shard.log_mut().enable(last);
                }
                Answer::Logged(self.log_mark(before))
            }
            Msg::LastLsn => Answer::Logged(self.log_mark(before)),
            Msg::AdoptStream { fd, handover } => {
                if let Some(me) = self.me.upgrade() {
                    crate::repl_master::adopt(&me, fd, handover);
                }
                Answer::Done
            }
        };
        if let Some(reply) = env.reply {
            // The coordinator may have gone (its connection closed): nothing to do.
            let _ = reply.send(answer);
        }
    }

    /// `CONFIG SET`: the longest string a command may build, and the encoding limits
    /// of hashes and sets as configured now.
    fn set_shard_limits(&self, string_max: usize) {
        let mut shard = self.shard.borrow_mut();
        shard.set_string_max_bytes(string_max);
        shard.set_limits(self.global.config.collection_limits());
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
        self.op_marked(target, tx, op).await.0
    }

    /// Sends an operation; its reply and where the shard's journal stood after it.
    pub async fn op_marked(&self, target: usize, tx: Option<TxId>, op: Op) -> (OpReply, LogMark) {
        match self.call(target, tx, Msg::Op(op)).await {
            Some(Answer::Op(r, mark)) => (r, mark),
            // A peer only drops a request when the process is shutting down.
            _ => (OpReply::Done, LogMark::default()),
        }
    }

    /// Ends `tx` on `target` with `msg` (`Unlock` or `Commit`). Waits for the
    /// journal mark only when `wait` (replies to writes wait for durability).
    pub async fn end_tx(&self, target: usize, tx: TxId, msg: Msg, wait: bool) -> LogMark {
        if wait {
            return match self.call(target, Some(tx), msg).await {
                Some(Answer::Logged(mark)) => mark,
                _ => LogMark::default(),
            };
        }
        let env = Envelope {
            tx: Some(tx),
            msg,
            reply: None,
        };
        self.post(target, env).await;
        LogMark::default()
    }

    /// Sends `msg` to shard `target` without waiting for an answer.
    pub async fn tell(&self, target: usize, msg: Msg) {
        let env = Envelope {
            tx: None,
            msg,
            reply: None,
        };
        self.post(target, env).await;
    }

    /// Sends `msg` to every shard at once and collects the last LSNs they answer
    /// with ([`Msg::Promote`], [`Msg::LastLsn`]), in shard order.
    pub async fn last_lsns(&self, msg: impl Fn() -> Msg) -> Vec<u64> {
        let calls = (0..self.shards()).map(|s| self.call(s, None, msg()));
        join_all(calls)
            .await
            .into_iter()
            .map(|a| match a {
                Some(Answer::Logged(mark)) => mark.last_lsn,
                _ => 0,
            })
            .collect()
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
