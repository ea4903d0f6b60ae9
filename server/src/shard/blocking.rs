//! Blocked clients: `BLPOP`, `BRPOP`, `BRPOPLPUSH`, `BLMOVE` and `BLMPOP` wait here
//! until a key they watch may hold an element, their timeout passes, their
//! connection is closed or `CLIENT UNBLOCK` releases them.
//!
//! ```text
//!  blocking command ─► step (the engine's non-blocking form, any shards) ─► element? reply
//!        │ null: queue on every watched key (FIFO per key) and sleep
//!        ▼
//!  a push on any shard ─► ReadySink (per shard, at the keyspace door) ─► wakes the
//!  first client queued on that key ─► it runs its step again
//! ```
//!
//! The step is the whole command as parts, atomic across shards, so an element is
//! popped once whoever runs the step; waking only the first client queued on a key
//! keeps Redis's order among clients blocked on it, and a client leaving the queue
//! (served, timed out, closed, unblocked) wakes the next one on each of its keys, so
//! an element left behind is never left unnoticed. The queues are process-wide
//! (one lock, touched only while some client is blocked: a shard's sink reads one
//! atomic counter otherwise), and wakers cross cores.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use corekv_engine::keyspace::hooks::{ChangeKind, ChangeSink, DbChange};
use futures::task::AtomicWaker;

use crate::runtime::clock::now_ms;
use crate::session::outbox::Outbox;

/// How `CLIENT UNBLOCK` releases a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unblock {
    /// As if its timeout passed.
    Timeout = 1,
    /// With `-UNBLOCKED client unblocked via CLIENT UNBLOCK`.
    Error = 2,
}

/// What wakes a blocked client.
#[derive(Default)]
pub struct Signal {
    ready: AtomicBool,
    /// 0 or an [`Unblock`].
    unblock: AtomicU8,
    waker: AtomicWaker,
}

impl Signal {
    fn wake(&self) {
        self.ready.store(true, Ordering::Release);
        self.waker.wake();
    }
}

/// One blocked client.
struct Waiter {
    client: u64,
    keys: Vec<(usize, Bytes)>,
    signal: Arc<Signal>,
}

#[derive(Default)]
struct Waiters {
    by_key: HashMap<(usize, Bytes), VecDeque<u64>>,
    by_seq: HashMap<u64, Waiter>,
    next_seq: u64,
}

impl Waiters {
    /// Wakes the first client queued on `key`.
    fn wake_head(&self, key: &(usize, Bytes)) {
        let head = self.by_key.get(key).and_then(|q| q.front());
        if let Some(w) = head.and_then(|seq| self.by_seq.get(seq)) {
            w.signal.wake();
        }
    }
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

/// The listener every shard's keyspace gets: a change to a key some client waits
/// on wakes the first such client.
pub struct ReadySink;

impl ChangeSink for ReadySink {
    fn before_change(&mut self, _: usize, _: &[u8]) {}

    fn key_changed(&mut self, db: usize, key: &[u8], kind: ChangeKind) {
        if BLOCKED.load(Ordering::Acquire) == 0 || kind == ChangeKind::Expired {
            return;
        }
        waiters().wake_head(&(db, Bytes::copy_from_slice(key)));
    }

    fn dbs_changed(&mut self, _: DbChange) {
        if BLOCKED.load(Ordering::Acquire) == 0 {
            return;
        }
        let waiters = waiters();
        waiters.by_key.keys().for_each(|k| waiters.wake_head(k));
    }
}

/// A client's place in the queues; leaving them (on drop) wakes the next client on
/// each of its keys.
pub struct Queued(u64);

impl Queued {
    pub fn new(client: u64, db: usize, keys: Vec<Bytes>) -> (Queued, Arc<Signal>) {
        let mut w = waiters();
        let seq = w.next_seq;
        w.next_seq += 1;
        let mut keys: Vec<(usize, Bytes)> = keys.into_iter().map(|k| (db, k)).collect();
        keys.sort();
        keys.dedup();
        for key in &keys {
            w.by_key.entry(key.clone()).or_default().push_back(seq);
        }
        let signal = Arc::new(Signal::default());
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
        for key in &waiter.keys {
            if let Some(q) = w.by_key.get_mut(key) {
                q.retain(|&s| s != self.0);
                if q.is_empty() {
                    w.by_key.remove(key);
                }
            }
            w.wake_head(key);
        }
    }
}

/// Why a blocked client stopped waiting.
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
