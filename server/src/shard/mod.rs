//! One core's state and the mesh between cores.
//!
//! Each executor owns one [`Core`]: its shard of the keyspace, the shard's lock for
//! multi-shard transactions, the queue of work waiting for that lock, its client
//! registry and counters ([`stats`]); [`global`] is what every core shares. Cores
//! talk over bounded SPSC channels ([`mesh`]), one per ordered pair
//! (glommio `shared_channel`s wired by hand rather than `channel_mesh`, whose builder
//! shares an `Rc` across threads). Replies travel back on a oneshot carried in the
//! request, so a reply never waits for channel space ([`answer`]). The core runs
//! data-plane messages itself and control-plane closures as they come, so it names
//! no subsystem: snapshots, replication and statistics build their own requests.
//!
//! **The deadlock-freedom rule:** code running on behalf of a shard ([`Core::deliver`])
//! never awaits anything; only coordinators (connection tasks) await, and a
//! coordinator waits for a shard lock only while holding no higher shard
//! (`crate::exec::tx` explains its parallel try-lock round and ascending fallback).

pub mod answer;
pub mod blocking;
pub mod global;
pub mod mesh;
pub mod stats;
pub mod watch;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Weak;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use corekv_engine::command::exec::{Op, OpReply};
use corekv_engine::journal::Participant;
use corekv_engine::shard::Shard;
use futures::channel::oneshot;
use futures::future::join_all;
use glommio::channels::shared_channel::ConnectedSender;
use glommio::{Latency, Shares, TaskQueueHandle};

use crate::persist::journal::Journal;
use crate::runtime::clock::now_ms;
use crate::session::registry::Registry;
use answer::{Answer, LogMark};
use global::Global;
use mesh::{Envelope, Msg, TxId};
use stats::{CoreStats, JournalStats};

/// CPU shares of the background task queue against the default queue's 1000:
/// background work gets about 1% of a busy core.
const BACKGROUND_SHARES: usize = 10;

pub struct Core {
    pub id: usize,
    pub global: Arc<Global>,
    pub shard: RefCell<Shard>,
    lock: Cell<Option<TxId>>,
    pending: RefCell<VecDeque<Envelope>>,
    peers: Vec<Option<ConnectedSender<Envelope>>>,
    pub clients: RefCell<Registry>,
    /// The pub/sub subscriptions of this core's connections.
    pub pubsub: RefCell<crate::pubsub::registry::Local>,
    pub stats: RefCell<CoreStats>,
    next_tx: Cell<u64>,
    pub journal: Journal,
    /// This core itself, for work it spawns from [`Core::deliver`].
    me: Weak<Core>,
    next_snapshot: Cell<u64>,
    background: Cell<Option<TaskQueueHandle>>,
}

impl Core {
    /// `commands`: rows in the command registry, for the per-command counters.
    pub fn new(
        id: usize,
        global: Arc<Global>,
        peers: Vec<Option<ConnectedSender<Envelope>>>,
        journal: Journal,
        me: Weak<Core>,
        commands: usize,
    ) -> Core {
        let mut shard = Shard::new(id, global.started_unix_s);
        shard.set_string_max_bytes(
            global.config.hot.proto_max_bulk_len.load(Ordering::Relaxed) as usize
        );
        shard.set_limits(global.config.collection_limits());
        shard
            .keyspace_mut()
            .set_eviction(global.config.eviction(global.shards));
        shard.keyspace_mut().add_sink(Box::new(blocking::ReadySink));
        corekv_engine::keyspace::evict::set_latency_sink(crate::ops::latency::add_since);
        corekv_engine::keyspace::evict::set_outside_meter(
            crate::session::outbox::core_pending_bytes,
        );
        Core {
            id,
            global,
            shard: RefCell::new(shard),
            lock: Cell::new(None),
            pending: RefCell::new(VecDeque::new()),
            peers,
            clients: RefCell::new(Registry::default()),
            pubsub: RefCell::new(crate::pubsub::registry::Local::new(id)),
            stats: RefCell::new(CoreStats {
                command_calls: vec![(0, 0); commands],
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

    /// Where the journal stands now; `appended` if it moved past `before`.
    pub fn log_mark(&self, before: u64) -> LogMark {
        let shard = self.shard.borrow();
        LogMark {
            last_lsn: shard.log().last_lsn(),
            appended: shard.log().last_lsn() != before,
            tx_effects: shard.log().tx_has_effects(),
            slow: Default::default(),
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
        if let Msg::Publish(_) = env.msg {
            return self.deliver_publish(env);
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

    /// [`Msg::Publish`]: delivers to this core's subscribers and answers how many
    /// there were. Subscriptions are not keyspace, so no transaction holds it up.
    fn deliver_publish(&self, env: Envelope) {
        let Msg::Publish(publish) = env.msg else {
            unreachable!("only Msg::Publish comes here");
        };
        let n = publish.deliver(&self.pubsub.borrow(), &self.global.config.hot, None);
        if let Some(reply) = env.reply {
            let _ = reply.send(Answer::Count(n));
        }
    }

    /// Ends the transaction holding the shard: `participants`, when named, get one
    /// part naming them all, otherwise the effects become ordinary records. Then
    /// runs what waited for the lock.
    fn end_tx_here(&self, tx_id: u64, participants: &[Participant]) {
        debug_assert!(self.lock.get().is_some());
        if !participants.is_empty() {
            self.shard
                .borrow_mut()
                .log_mut()
                .commit_tx(tx_id, participants);
        } else {
            self.shard.borrow_mut().log_mut().end_tx();
        }
        self.kick_journal();
        self.lock.set(None);
        blocking::serve_ready(self);
    }

    /// Answers `reply` once the journal holds `lsn` as the fsync policy promises,
    /// or (`None`) once everything logged so far is synced.
    fn answer_when_durable(&self, lsn: Option<u64>, reply: Option<oneshot::Sender<Answer>>) {
        let Some(reply) = reply else { return };
        match lsn {
            Some(lsn) => {
                let policy = self.global.config.hot.fsync();
                self.journal.defer_ack(lsn, policy, reply);
            }
            None => {
                let lsn = self.shard.borrow().log().last_lsn();
                self.journal.defer_until_durable(lsn, reply);
            }
        }
    }

    fn execute(&self, env: Envelope) {
        let before = self.shard.borrow().log().last_lsn();
        let answer = match env.msg {
            Msg::TryLock | Msg::Publish(_) => unreachable!("answered by deliver"),
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
                    match mark.appended {
                        true => self.answer_when_durable(Some(mark.last_lsn), Some(reply)),
                        false => {
                            let _ = reply.send(Answer::Done);
                        }
                    }
                }
                self.drain_pending();
                return;
            }
            Msg::WaitDurable(lsn) => return self.answer_when_durable(Some(lsn), env.reply),
            Msg::SyncNow => return self.answer_when_durable(None, env.reply),
            Msg::Op(op) => {
                if env.tx.is_some() && self.lock.get().is_none() {
                    self.lock.set(env.tx);
                    self.shard.borrow_mut().log_mut().begin_tx();
                }
                let mut slow = Default::default();
                let reply = crate::ops::slowlog::apply_between(
                    &mut self.shard.borrow_mut(),
                    op,
                    now_ms(),
                    &mut slow,
                    |shard| blocking::serve_between(self, shard),
                );
                self.kick_journal();
                let mark = LogMark {
                    slow,
                    ..self.log_mark(before)
                };
                Answer::Op(reply, mark)
            }
            Msg::Control(control) => match self.me.upgrade() {
                Some(me) => control(&me),
                None => Answer::Done,
            },
        };
        if let Some(reply) = env.reply {
            // The coordinator may have gone (its connection closed): nothing to do.
            let _ = reply.send(answer);
        }
        if self.unlocked() {
            blocking::serve_ready(self);
        }
    }

    /// `CONFIG SET`: the longest string a command may build, and the encoding limits
    /// of hashes and sets as configured now.
    pub fn set_shard_limits(&self, string_max: usize) {
        let mut shard = self.shard.borrow_mut();
        shard.set_string_max_bytes(string_max);
        shard.set_limits(self.global.config.collection_limits());
        let eviction = self.global.config.eviction(self.shards());
        shard.keyspace_mut().set_eviction(eviction);
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
    pub async fn call(
        &self,
        target: usize,
        tx: Option<TxId>,
        msg: impl Into<Msg>,
    ) -> Option<Answer> {
        let (sender, receiver) = oneshot::channel();
        let env = Envelope {
            tx,
            msg: msg.into(),
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

    /// Ends `tx` on `target` with `msg` (`Unlock` or `Commit`). With `acked`
    /// (replies to writes wait for durability), waits in the same message until
    /// what the transaction journaled there is as safe as `appendfsync` says;
    /// `false` if the journal cannot keep it.
    pub async fn end_tx(&self, target: usize, tx: TxId, msg: Msg, acked: bool) -> bool {
        if acked {
            return matches!(self.call(target, Some(tx), msg).await, Some(Answer::Done));
        }
        let env = Envelope {
            tx: Some(tx),
            msg,
            reply: None,
        };
        self.post(target, env).await;
        true
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
    /// with ([`Answer::Logged`]), in shard order.
    pub async fn last_lsns<M: Into<Msg>>(&self, msg: impl Fn() -> M) -> Vec<u64> {
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
