//! Blocked clients: `BLPOP`, `BRPOP`, `BRPOPLPUSH`, `BLMOVE`, `BLMPOP` and the
//! blocking sorted-set pops wait here until a key they watch may hold an element,
//! their timeout passes, their connection is closed or `CLIENT UNBLOCK` releases them.
//!
//! ```text
//!  blocking command ─► step (the engine's non-blocking form, any shards) ─► element? reply
//!        │ null: queue on every watched key (FIFO per key) and sleep
//!        ▼
//!  a change to a watched key ─► ReadySink (at the keyspace door) notes it ready
//!        ▼ right after that command, before the shard runs anything else
//!  serve_ready: each client queued on the key, in order, is claimed and its step
//!  run on this shard for that key alone ─► the reply is handed to the sleeping client
//! ```
//!
//! Serving happens on the shard that holds the ready key, after the command that
//! made it ready (after each command of a batch; after the transaction, when one
//! holds the shard), as Redis serves blocked clients before its next command: a pop
//! by another client arriving right behind the push, or pipelined behind it, cannot
//! take the element first. A key of another type than a client pops leaves it
//! blocked, as in Redis 7.0. A client blocked on keys of several shards is claimed
//! by one shard at a time ([`Signal`]'s state), so it gets one element; a shard
//! that finds it claimed serves the next client queued, and when none can be
//! served wakes those it passed, which ask their keys' shards to look again
//! ([`mark_ready`], as a newly queued client does); `FLUSHALL`/`SWAPDB` make every
//! watched key of the shard ready. A `BLMOVE`/`BRPOPLPUSH` whose destination lives
//! on another shard is served by a transaction the source's shard starts holding
//! itself ([`moves`]): the pop and the push commit together, before the source runs
//! anything else. A client leaving the queue with a wake-up it did not act on wakes
//! the next one on each of its keys, so an element is never left unnoticed. The
//! queues are process-wide (one lock, touched only while some client is blocked: a
//! shard's sink reads one atomic counter otherwise).

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use corekv_engine::command::list_block::{serves_from, watching_only};
use corekv_engine::command::table;
use corekv_engine::keyspace::hooks::{ChangeKind, ChangeSink, DbChange};
use corekv_engine::resp::{Args, Protocol, ReplyBuf};
use corekv_engine::shard::Shard;
use corekv_engine::slot::shard_of;
use futures::task::AtomicWaker;

use crate::runtime::clock::now_ms;
use crate::session::outbox::Outbox;
use crate::shard::Core;

mod moves;

/// How `CLIENT UNBLOCK` releases a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unblock {
    /// As if its timeout passed.
    Timeout = 1,
    /// With `-UNBLOCKED client unblocked via CLIENT UNBLOCK`.
    Error = 2,
}

/// [`Signal::state`]: the client is awake, about to ask its keys' shards to look
/// again (no shard may serve it).
const RUNNING: u8 = 0;
/// Asleep: a shard may claim it.
const WAITING: u8 = 1;
/// A shard is running its step for it.
const CLAIMED: u8 = 2;
/// A shard served it: its reply is in [`Signal::served`].
const SERVED: u8 = 3;
/// It stopped waiting (timeout, unblock, closed connection).
const DONE: u8 = 4;

/// What a shard's serving left for a blocked client: its reply, and the journal
/// positions the reply waits for (each shard the pop or move wrote to, with its
/// last LSN there).
pub struct Served {
    pub reply: Vec<u8>,
    pub logged: Vec<(usize, u64)>,
}

/// What wakes a blocked client, and who may serve it now.
#[derive(Default)]
pub struct Signal {
    ready: AtomicBool,
    /// 0 or an [`Unblock`].
    unblock: AtomicU8,
    state: AtomicU8,
    served: Mutex<Option<Served>>,
    waker: AtomicWaker,
}

impl Signal {
    fn wake(&self) {
        self.ready.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// The client is about to sleep: shards may serve it from now on.
    pub fn waiting(&self) {
        self.state.store(WAITING, Ordering::Release);
    }

    /// A shard served the client it claimed: hands it `served` and wakes it.
    fn serve(&self, served: Served) {
        *self.served.lock().expect("no panic holds it") = Some(served);
        self.state.store(SERVED, Ordering::Release);
        self.wake();
    }

    /// After the client woke for `woken`: whether it has its keys looked at again,
    /// stops, was served, or must wait while a shard finishes serving it (`None`: a
    /// claim is one step on the shard's thread, or one short move transaction, so
    /// the client looks again shortly).
    pub fn settle(&self, woken: Woken) -> Option<Settled> {
        let to = match woken {
            Woken::Ready => RUNNING,
            _ => DONE,
        };
        match self
            .state
            .compare_exchange(WAITING, to, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) if to == RUNNING => Some(Settled::Look),
            Ok(_) => Some(Settled::Stop(woken)),
            Err(SERVED) => {
                let served = self.served.lock().expect("no panic holds it").take();
                Some(Settled::Served(
                    served.expect("a served client has a reply"),
                ))
            }
            Err(_) => None,
        }
    }
}

/// Where a woken blocked client stands ([`Signal::settle`]).
pub enum Settled {
    /// Have its keys looked at again ([`mark_ready`] on their shards).
    Look,
    /// Stop waiting for this reason.
    Stop(Woken),
    /// A shard popped for it.
    Served(Served),
}

/// What a shard needs to run a blocked client's step for it.
pub struct Step {
    /// The command's row and arguments.
    pub id: usize,
    pub args: Args,
    pub protocol: Protocol,
    /// The client's connection, looked at for a closed peer before popping for it.
    pub peer: PeerWatch,
}

/// One blocked client.
struct Waiter {
    client: u64,
    keys: Vec<(usize, Bytes)>,
    signal: Arc<Signal>,
}

/// A client's place in one key's queue: what a shard serving the key reads of it,
/// so walking a queue looks nothing up.
struct Place {
    seq: u64,
    signal: Arc<Signal>,
    step: Arc<Step>,
}

#[derive(Default)]
struct Waiters {
    by_key: HashMap<(usize, Bytes), VecDeque<Place>>,
    by_seq: HashMap<u64, Waiter>,
    next_seq: u64,
}

impl Waiters {
    /// Wakes the first client queued on `key`.
    fn wake_head(&self, key: &(usize, Bytes)) {
        if let Some(head) = self.by_key.get(key).and_then(|q| q.front()) {
            head.signal.wake();
        }
    }

    /// The first client queued on `key` a shard may serve, claimed. When there is
    /// none, the clients passed over (running their own step, or claimed by another
    /// shard) are woken to have their keys looked at again, so an element left on the key is
    /// seen; while someone is served they are left alone.
    fn claim(&self, key: &(usize, Bytes)) -> Option<(Arc<Signal>, Arc<Step>)> {
        let mut passed = Vec::new();
        for w in self.by_key.get(key)? {
            let state = &w.signal.state;
            match state.compare_exchange(WAITING, CLAIMED, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) if w.step.peer.closed() => {
                    state.store(WAITING, Ordering::Release);
                    w.signal.wake();
                }
                Ok(_) => return Some((w.signal.clone(), w.step.clone())),
                Err(RUNNING | CLAIMED) => passed.push(&w.signal),
                Err(_) => {}
            }
        }
        passed.into_iter().for_each(|signal| signal.wake());
        None
    }
}

/// Whether a client's peer has closed its connection, as its driver lets a shard
/// know. The io_uring driver keeps a connection's receive armed while a command
/// runs and marks the peer closed in the turn that reaps the end of its input,
/// before any task of that turn runs, so a shard about to pop for a blocked client
/// reads one atomic. Otherwise (the glommio driver, or a receive paused because
/// the client sent a megabyte past its blocking command) it peeks at the socket:
/// a system call per element served, 7% of the server's CPU in a profile of a job
/// queue (50 `BRPOP` workers, 8 producers, one shard).
///
/// A close reaches the shards once its core's driver reaped it, at the latest in
/// its next loop turn; from then on no shard pops for the client. A push served
/// before that (from another core, or one the kernel delivered ahead of the close)
/// may still pop for it, as Redis pops for a client whose close it reads after the
/// push in the same pass of its event loop.
#[derive(Clone, Debug)]
pub struct PeerWatch {
    fd: RawFd,
    state: Arc<AtomicU8>,
}

/// [`PeerWatch`] states: nothing reports a close (peek), the driver reports it,
/// the peer closed.
const UNWATCHED: u8 = 0;
const WATCHED: u8 = 1;
const CLOSED: u8 = 2;

impl PeerWatch {
    /// A connection's watch, peeking at `fd` until a driver watches it.
    pub fn new(fd: RawFd) -> Self {
        PeerWatch {
            fd,
            state: Arc::new(AtomicU8::new(UNWATCHED)),
        }
    }

    /// The driver's receive is armed, and reports the peer's close (`true`), or
    /// paused (`false`). A closed peer stays closed.
    pub fn watched(&self, armed: bool) {
        let state = if armed { WATCHED } else { UNWATCHED };
        let _ = self
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
                (s != CLOSED).then_some(state)
            });
    }

    /// The driver reaped the end of the peer's input (or a failed receive).
    pub fn close(&self) {
        self.state.store(CLOSED, Ordering::Release);
    }

    /// Whether the peer has closed the connection (or it failed).
    pub fn closed(&self) -> bool {
        match self.state.load(Ordering::Acquire) {
            CLOSED => true,
            WATCHED => false,
            _ => peer_closed(self.fd),
        }
    }
}

/// Whether the peer closed the connection on `fd` (or it failed): a read would
/// give EOF.
fn peer_closed(fd: RawFd) -> bool {
    let mut byte = 0u8;
    // SAFETY: a one-byte peek into a live local buffer; `fd` is a blocked client's
    // socket, open while its session waits in the queues.
    let n = unsafe {
        libc::recv(
            fd,
            (&mut byte as *mut u8).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    let pending = std::io::Error::last_os_error().kind() == std::io::ErrorKind::WouldBlock;
    n == 0 || (n < 0 && !pending)
}

/// Clients blocked now, in every core (`INFO clients` `blocked_clients`).
static BLOCKED: AtomicUsize = AtomicUsize::new(0);

fn waiters() -> MutexGuard<'static, Waiters> {
    static WAITERS: OnceLock<Mutex<Waiters>> = OnceLock::new();
    WAITERS
        .get_or_init(Mutex::default)
        .lock()
        .expect("no panic holds the waiters")
}

pub fn blocked_clients() -> usize {
    BLOCKED.load(Ordering::Relaxed)
}

/// `CLIENT UNBLOCK id how`: whether the client was blocked here.
pub fn unblock(client: u64, how: Unblock) -> bool {
    let waiters = waiters();
    match waiters.by_seq.values().find(|w| w.client == client) {
        Some(w) => {
            w.signal.unblock.store(how as u8, Ordering::Release);
            w.signal.wake();
            true
        }
        None => false,
    }
}

/// Keys this core's shard made ready since it last served them; `every` stands for
/// every watched key of the shard (a whole database changed: `FLUSHALL`, `SWAPDB`).
#[derive(Default)]
struct Ready {
    keys: Vec<(usize, Bytes)>,
    every: bool,
}

thread_local! {
    /// This core's ready keys: the sink runs on the shard's own thread.
    static READY: RefCell<Ready> = RefCell::default();
}

/// The listener every shard's keyspace gets: a change to a key some client waits
/// on notes the key ready, for [`serve_ready`] after the command.
pub struct ReadySink;

impl ChangeSink for ReadySink {
    fn before_change(&mut self, _: usize, _: &[u8]) {}

    fn key_changed(&mut self, db: usize, key: &[u8], kind: ChangeKind) {
        if BLOCKED.load(Ordering::Acquire) == 0 || kind == ChangeKind::Expired {
            return;
        }
        let key = (db, Bytes::copy_from_slice(key));
        if !waiters().by_key.contains_key(&key) {
            return;
        }
        READY.with(|r| {
            let mut ready = r.borrow_mut();
            if !ready.keys.contains(&key) {
                ready.keys.push(key);
            }
        });
    }

    fn dbs_changed(&mut self, _: DbChange) {
        if BLOCKED.load(Ordering::Acquire) == 0 {
            return;
        }
        READY.with(|r| r.borrow_mut().every = true);
    }
}

/// Notes `keys` ready on this core's shard, for [`serve_ready`] after the message
/// that carried them: how a newly queued client has its keys looked at by the
/// shards themselves, in their command order, instead of by a step of its own.
pub fn mark_ready(keys: Vec<(usize, Bytes)>) {
    READY.with(|r| {
        let mut ready = r.borrow_mut();
        for key in keys {
            if !ready.keys.contains(&key) {
                ready.keys.push(key);
            }
        }
    });
}

/// The next key this core's shard made ready, every watched key of the shard
/// first noted when a whole database changed.
fn next_ready(core: &Core) -> Option<(usize, Bytes)> {
    READY.with(|r| {
        let mut ready = r.borrow_mut();
        if std::mem::take(&mut ready.every) {
            let shards = core.shards();
            let mine = waiters()
                .by_key
                .keys()
                .filter(|(_, k)| shard_of(k, shards) == core.id)
                .cloned()
                .collect::<Vec<_>>();
            for key in mine {
                if !ready.keys.contains(&key) {
                    ready.keys.push(key);
                }
            }
        }
        (!ready.keys.is_empty()).then(|| ready.keys.remove(0))
    })
}

/// Serves the clients blocked on keys this shard made ready, in the order they
/// blocked, each with its step for that key run here. Runs right after whatever
/// changed the shard (a command, a batch, a transaction's end), while the shard is
/// not held by a transaction; stops when a move to another shard takes the shard
/// ([`moves`]), whose end serves the rest. Never awaits.
pub fn serve_ready(core: &Core) {
    while core.unlocked() {
        let Some(key) = next_ready(core) else {
            return;
        };
        let mut shard = core.shard.borrow_mut();
        let before = shard.log().last_lsn();
        serve_key(core, &mut shard, &key, Moves::Start);
        let after = shard.log().last_lsn();
        drop(shard);
        if after != before {
            core.kick_journal();
        }
    }
}

/// [`serve_ready`] between two commands of a batch running on `shard` in place or
/// from a message, so a blocked client gets what a command pushed before the
/// batch's next command runs (Redis serves after each command). A client whose
/// step moves to another shard cannot start its transaction while the batch holds
/// the shard: its key stays ready for [`serve_ready`] after the batch, and the
/// clients queued behind it on that key wait with it. The caller wakes the journal.
pub fn serve_between(core: &Core, shard: &mut Shard) {
    let idle = READY.with(|r| {
        let ready = r.borrow();
        ready.keys.is_empty() && !ready.every
    });
    if idle || !core.unlocked() {
        return;
    }
    let mut deferred = Vec::new();
    while let Some(key) = next_ready(core) {
        if serve_key(core, shard, &key, Moves::Defer) == Left::Deferred {
            deferred.push(key);
        }
    }
    mark_ready(deferred);
}

/// What serving a key does with a client whose step moves to another shard.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Moves {
    /// Starts the move's transaction ([`moves::start`]).
    Start,
    /// Leaves the key ready for later.
    Defer,
}

/// How serving a key ended.
#[derive(PartialEq, Eq)]
enum Left {
    Done,
    Deferred,
}

/// Serves the clients queued on `key` until one finds it empty or a move starts.
fn serve_key(core: &Core, shard: &mut Shard, key: &(usize, Bytes), moves: Moves) -> Left {
    loop {
        let claimed = waiters().claim(key);
        let Some((signal, step)) = claimed else {
            return Left::Done;
        };
        match serve_one(core, shard, key, &step) {
            Serve::Served(served) => signal.serve(served),
            Serve::Empty => {
                signal.waiting();
                return Left::Done;
            }
            Serve::Elsewhere(dest) if moves == Moves::Start => {
                moves::start(core, shard, key, signal, step, dest);
                return Left::Done;
            }
            Serve::Elsewhere(_) => {
                signal.waiting();
                return Left::Deferred;
            }
        }
    }
}

/// What running a claimed client's step here gave.
enum Serve {
    Served(Served),
    /// The key holds nothing it pops (emptied again, deleted, another type).
    Empty,
    /// The step moves the element to a key on this other shard.
    Elsewhere(usize),
}

/// Runs `step` for `key` alone on this shard, if the key holds the type it pops.
fn serve_one(core: &Core, shard: &mut Shard, key: &(usize, Bytes), step: &Step) -> Serve {
    let (db, now) = (key.0, now_ms());
    let serves = match shard.keyspace_mut().find(db, &key.1, now) {
        Some(entry) => serves_from(&step.args, entry.value),
        None => false,
    };
    if !serves {
        return Serve::Empty;
    }
    let Ok(args) = watching_only(&step.args, &key.1) else {
        return Serve::Empty;
    };
    let args: Args = args.into();
    let shards = core.shards();
    let spec = table().all[step.id];
    let elsewhere = spec
        .keys
        .resolve(&args)
        .iter()
        .map(|i| shard_of(&args[i], shards))
        .find(|&s| s != core.id);
    if let Some(dest) = elsewhere {
        return Serve::Elsewhere(dest);
    }
    let mut out = ReplyBuf::new(step.protocol);
    let before = shard.log().last_lsn();
    shard.run_cmd(step.id, db, &args, now, &mut out);
    let after = shard.log().last_lsn();
    if is_null(&out) {
        return Serve::Empty;
    }
    Serve::Served(Served {
        reply: out.into_bytes(),
        logged: (after != before)
            .then_some((core.id, after))
            .into_iter()
            .collect(),
    })
}

/// Whether a step's reply is the "nothing there" answer (a null or a null array).
pub fn is_null(reply: &[u8]) -> bool {
    matches!(reply, b"*-1\r\n" | b"$-1\r\n" | b"_\r\n")
}

/// A client's place in the queues; leaving them (on drop) with a wake-up it did
/// not act on wakes the next client on each of its keys.
pub struct Queued(u64);

impl Queued {
    /// Queues a client, asleep: shards may serve it from now on.
    pub fn new(client: u64, db: usize, keys: Vec<Bytes>, step: Step) -> (Queued, Arc<Signal>) {
        let mut w = waiters();
        let seq = w.next_seq;
        w.next_seq += 1;
        let mut keys: Vec<(usize, Bytes)> = keys.into_iter().map(|k| (db, k)).collect();
        keys.sort();
        keys.dedup();
        let signal = Arc::new(Signal::default());
        signal.waiting();
        let step = Arc::new(step);
        for key in &keys {
            w.by_key.entry(key.clone()).or_default().push_back(Place {
                seq,
                signal: signal.clone(),
                step: step.clone(),
            });
        }
        let waiter = Waiter {
            client,
            keys,
            signal: signal.clone(),
        };
        w.by_seq.insert(seq, waiter);
        BLOCKED.fetch_add(1, Ordering::AcqRel);
        (Queued(seq), signal)
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        let mut w = waiters();
        let Some(waiter) = w.by_seq.remove(&self.0) else {
            return;
        };
        BLOCKED.fetch_sub(1, Ordering::AcqRel);
        let missed = waiter.signal.ready.load(Ordering::Acquire);
        for key in &waiter.keys {
            if let Some(q) = w.by_key.get_mut(key) {
                q.retain(|place| place.seq != self.0);
                if q.is_empty() {
                    w.by_key.remove(key);
                }
            }
            if missed {
                w.wake_head(key);
            }
        }
    }
}

/// Why a blocked client stopped sleeping.
#[derive(Clone, Copy)]
pub enum Woken {
    Ready,
    TimedOut,
    Unblocked(Unblock),
    Closed,
}

/// Sleeps until `signal` fires, `deadline_ms` passes or the client's outbox closes.
pub async fn sleep(outbox: &Outbox, signal: &Signal, deadline_ms: Option<u64>) -> Woken {
    let timer = deadline_ms.map(|at| {
        let left = at.saturating_sub(now_ms());
        Box::pin(glommio::timer::sleep(Duration::from_millis(left)))
    });
    let mut timer = timer;
    std::future::poll_fn(|cx| {
        signal.waker.register(cx.waker());
        match signal.unblock.load(Ordering::Acquire) {
            1 => return Poll::Ready(Woken::Unblocked(Unblock::Timeout)),
            2 => return Poll::Ready(Woken::Unblocked(Unblock::Error)),
            _ => {}
        }
        if signal.ready.swap(false, Ordering::AcqRel) {
            return Poll::Ready(Woken::Ready);
        }
        if outbox.poll_closed(cx).is_ready() {
            return Poll::Ready(Woken::Closed);
        }
        match timer.as_mut().map(|t| t.as_mut().poll(cx)) {
            Some(Poll::Ready(_)) => Poll::Ready(Woken::TimedOut),
            _ => Poll::Pending,
        }
    })
    .await
}
