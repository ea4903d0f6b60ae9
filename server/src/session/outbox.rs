//! What leaves a connection, and the client output-buffer limit.
//!
//! The session appends its replies here; other tasks of the same core push into it
//! too (found by client id in the [registry](super::registry)): later pub/sub
//! messages, a woken blocked pop, MONITOR lines. The driver takes chunks out and
//! writes them to the socket at the pace the peer reads, so what is queued is the
//! client's pending output (`omem` in `CLIENT LIST`). A push that breaks the
//! client's [`OutputLimit`] (Redis's `client-output-buffer-limit`) closes the
//! outbox: what was queued is discarded, the driver stops and the session ends.
//! Other tasks close a client the same way ([`Outbox::close`]: `CLIENT KILL`, the
//! idle timeout), whatever the driver and wherever the session waits.
//!
//! Every client outbox but a replica link's adds its pending bytes to its core's
//! total ([`core_pending_bytes`]), which the core's keyspace counts toward its share
//! of `maxmemory`, as Redis counts client output buffers in its used memory (and
//! leaves replica buffers out).
//!
//! The outbox is also where a session parks: [`Outbox::park`] waits until the queue
//! drains to a given size or the outbox closes (a client that has not
//! authenticated parks until what it is owed is written; later, blocking pops and
//! `CLIENT PAUSE` park here).
//!
//! A chunk is bytes the outbox owns, or a big string shared with the keyspace
//! ([`ReplyChunk::Shared`]: a `GET` of a 100 MB value queues a header, the stored
//! buffer itself and a CRLF, and copies none of it).
//!
//! ```text
//!  session ──push──►┌────────┐──next/written──► driver ──► socket
//!  other tasks ────►│ outbox │
//!  (by client id)   └────────┘──drained / closed──► parked session wakes
//! ```

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use corekv_engine::resp::{ReplyBuf, ReplyChunk};

use crate::config::OutputLimit;

/// Largest written chunk whose buffer is kept for the next replies (Redis's
/// `PROTO_REPLY_CHUNK_BYTES`): what an idle connection may keep of a burst's output.
const SPARE_RETAIN_BYTES: usize = 16 * 1024;
/// Small pushes (pub/sub messages) join the last queued chunk up to this size, so
/// a subscriber's backlog is a few large buffers, written a chunk per syscall.
const COALESCE_CHUNK_BYTES: usize = 16 * 1024;

thread_local! {
    /// Pending bytes of the counted outboxes on this thread's core.
    static CORE_PENDING_BYTES: Cell<u64> = const { Cell::new(0) };
}

/// Pending output of this core's clients, replica links excluded: what the core's
/// keyspace counts toward `maxmemory`.
pub fn core_pending_bytes() -> u64 {
    CORE_PENDING_BYTES.with(Cell::get)
}

/// Redis's check (`checkClientOutputBufferLimits`): whether `pending` bytes break
/// `limit` at `now`; `soft_since` keeps when the soft limit was first reached. The
/// clock is read only past the soft limit (a read costs about 50 ns here, and every
/// batch's replies pass this check).
fn breached(
    limit: OutputLimit,
    pending: u64,
    soft_since: &mut Option<Instant>,
    now: impl FnOnce() -> Instant,
) -> bool {
    let hard = limit.hard_bytes > 0 && pending >= limit.hard_bytes;
    let soft = limit.soft_bytes > 0 && pending >= limit.soft_bytes;
    if !soft {
        *soft_since = None;
        return hard;
    }
    let now = now();
    let since = *soft_since.get_or_insert(now);
    hard || now.duration_since(since) > Duration::from_secs(limit.soft_seconds)
}

/// A push broke the output-buffer limit: the outbox is closed.
#[derive(Debug, PartialEq, Eq)]
pub struct Overflow {
    pub pending_bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    /// The session ended: the driver writes what is queued, then stops.
    Finishing,
    /// Closed (over the limit, from outside, or the socket failed): nothing more
    /// is written.
    Closed,
}

#[derive(Debug)]
struct Inner {
    queue: VecDeque<ReplyChunk>,
    /// Queued bytes plus the chunk the driver is writing.
    pending_bytes: u64,
    /// The driver holds a chunk it took and has not finished writing.
    in_flight: bool,
    soft_since: Option<Instant>,
    state: State,
    /// A written chunk's buffer, kept for the session's next replies.
    spare: Option<Vec<u8>>,
    /// A parked session resumes once `pending_bytes` is at most this.
    resume_at_bytes: Option<u64>,
    writer: Option<Waker>,
    parked: Option<Waker>,
    /// The driver's reading side, waiting for input or for the outbox to close.
    reader: Option<Waker>,
    /// Set while the session runs a batch chunk: messages pushed meanwhile wait in
    /// `held` and follow the chunk's replies ([`Outbox::hold`]).
    holding: bool,
    held: Vec<u8>,
    /// The pending bytes count in the core's total ([`core_pending_bytes`]).
    counted: bool,
}

impl Inner {
    /// Sets the pending bytes, keeping the core's total.
    fn set_pending(&mut self, bytes: u64) {
        if self.counted {
            CORE_PENDING_BYTES.with(|total| total.set(total.get() + bytes - self.pending_bytes));
        }
        self.pending_bytes = bytes;
    }
}

/// One connection's pending output; shared (`Rc`) by the session, its driver and the
/// registry, all on the connection's core.
#[derive(Debug)]
pub struct Outbox {
    inner: RefCell<Inner>,
}

impl Default for Outbox {
    fn default() -> Self {
        Outbox {
            inner: RefCell::new(Inner {
                queue: VecDeque::new(),
                pending_bytes: 0,
                in_flight: false,
                soft_since: None,
                spare: None,
                state: State::Open,
                resume_at_bytes: None,
                writer: None,
                parked: None,
                reader: None,
                holding: false,
                held: Vec::new(),
                counted: true,
            }),
        }
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        self.inner.get_mut().set_pending(0);
    }
}

impl Outbox {
    /// A replica link's outbox: its bytes do not count toward `maxmemory`.
    pub fn uncounted() -> Self {
        let outbox = Outbox::default();
        outbox.inner.borrow_mut().counted = false;
        outbox
    }

    /// Bytes waiting to be written (`omem`).
    pub fn pending_bytes(&self) -> u64 {
        self.inner.borrow().pending_bytes
    }

    /// Chunks waiting to be written (`oll`).
    pub fn queued_chunks(&self) -> usize {
        self.inner.borrow().queue.len()
    }

    /// Queues `bytes` for the driver. Breaking `limit` drops the outbox.
    pub fn push(
        &self,
        bytes: Vec<u8>,
        limit: OutputLimit,
        now: impl FnOnce() -> Instant,
    ) -> Result<(), Overflow> {
        self.push_chunks([ReplyChunk::Owned(bytes)], limit, now)
    }

    /// Queues a batch's replies: its buffer, and the big strings it wrote by
    /// reference as chunks of their own ([`ReplyBuf::into_chunks`]). Breaking
    /// `limit` drops the outbox.
    pub fn push_reply(
        &self,
        out: ReplyBuf,
        limit: OutputLimit,
        now: impl FnOnce() -> Instant,
    ) -> Result<(), Overflow> {
        if !out.has_shared() {
            return self.push(out.into_bytes(), limit, now);
        }
        self.push_chunks(out.into_chunks(), limit, now)
    }

    /// Queues the non-empty `chunks` in order and wakes the driver; nothing queued
    /// (a closed outbox, only empty chunks) checks no limit.
    fn push_chunks(
        &self,
        chunks: impl IntoIterator<Item = ReplyChunk>,
        limit: OutputLimit,
        now: impl FnOnce() -> Instant,
    ) -> Result<(), Overflow> {
        let mut inner = self.inner.borrow_mut();
        if inner.state == State::Closed {
            return Ok(());
        }
        let queued = inner.queue.len();
        for chunk in chunks.into_iter().filter(|c| !c.is_empty()) {
            let pending = inner.pending_bytes + chunk.len() as u64;
            inner.set_pending(pending);
            inner.queue.push_back(chunk);
        }
        if inner.queue.len() == queued {
            return Ok(());
        }
        wake(&mut inner.writer);
        drop(inner);
        self.check(limit, now)
    }

    /// Queues a copy of `bytes` (a pub/sub message), joining the last queued chunk
    /// while it is small; while the session runs a chunk, after that chunk's
    /// replies. Breaking `limit` drops the outbox.
    pub fn push_copy(
        &self,
        bytes: &[u8],
        limit: OutputLimit,
        now: impl FnOnce() -> Instant,
    ) -> Result<(), Overflow> {
        let mut inner = self.inner.borrow_mut();
        if inner.state == State::Closed || bytes.is_empty() {
            return Ok(());
        }
        let pending = inner.pending_bytes + bytes.len() as u64;
        inner.set_pending(pending);
        if inner.holding {
            inner.held.extend_from_slice(bytes);
            drop(inner);
            return self.check(limit, now);
        }
        match inner.queue.back_mut() {
            Some(ReplyChunk::Owned(back)) if back.len() + bytes.len() <= COALESCE_CHUNK_BYTES => {
                back.extend_from_slice(bytes)
            }
            _ => {
                let mut chunk = Vec::with_capacity(COALESCE_CHUNK_BYTES.max(bytes.len()));
                chunk.extend_from_slice(bytes);
                inner.queue.push_back(ReplyChunk::Owned(chunk));
            }
        }
        wake(&mut inner.writer);
        drop(inner);
        self.check(limit, now)
    }

    /// The session starts a batch chunk: messages pushed from now on wait for its
    /// replies ([`release`](Self::release)), so none splits or overtakes them (a
    /// subscription's confirmation comes before its first message).
    pub fn hold(&self) {
        self.inner.borrow_mut().holding = true;
    }

    /// The session queued the chunk's replies: the messages held meanwhile follow.
    pub fn release(&self) {
        let mut inner = self.inner.borrow_mut();
        inner.holding = false;
        if inner.held.is_empty() || inner.state == State::Closed {
            return;
        }
        let held = std::mem::take(&mut inner.held);
        inner.queue.push_back(ReplyChunk::Owned(held));
        wake(&mut inner.writer);
    }

    /// Checks the pending output against `limit` (a soft limit's seconds pass while
    /// nothing is pushed too). Breaking it drops the outbox.
    pub fn check(&self, limit: OutputLimit, now: impl FnOnce() -> Instant) -> Result<(), Overflow> {
        let mut inner = self.inner.borrow_mut();
        let inner = &mut *inner;
        let pending_bytes = inner.pending_bytes;
        if inner.state != State::Closed
            && breached(limit, pending_bytes, &mut inner.soft_since, now)
        {
            close_queue(inner);
            return Err(Overflow { pending_bytes });
        }
        Ok(())
    }

    /// Parks until the pending output is at most `resume_at_bytes` (when given) or
    /// the outbox is closed.
    pub fn park(&self, resume_at_bytes: Option<u64>) -> impl Future<Output = ()> + '_ {
        self.inner.borrow_mut().resume_at_bytes = resume_at_bytes;
        std::future::poll_fn(move |cx| {
            let mut inner = self.inner.borrow_mut();
            let drained = resume_at_bytes.is_some_and(|at| inner.pending_bytes <= at);
            if drained || inner.state == State::Closed {
                inner.resume_at_bytes = None;
                inner.parked = None;
                return Poll::Ready(());
            }
            inner.parked = Some(cx.waker().clone());
            Poll::Pending
        })
    }

    /// The session ended: the driver writes what is queued and then stops.
    pub fn finish(&self) {
        let mut inner = self.inner.borrow_mut();
        if inner.state == State::Open {
            inner.state = State::Finishing;
        }
        wake(&mut inner.writer);
    }

    /// Closes the client from outside its session (`CLIENT KILL`, the idle
    /// timeout) or because its socket failed: what is queued is discarded, the
    /// driver stops reading and writing, and a parked session wakes.
    pub fn close(&self) {
        close_queue(&mut self.inner.borrow_mut());
    }

    pub fn is_closed(&self) -> bool {
        self.inner.borrow().state == State::Closed
    }

    /// The driver's side: ready once the outbox is closed.
    pub fn poll_closed(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut inner = self.inner.borrow_mut();
        if inner.state == State::Closed {
            return Poll::Ready(());
        }
        inner.reader = Some(cx.waker().clone());
        Poll::Pending
    }

    /// The driver's side: the next chunk to write, or `None` once the outbox is
    /// finished and empty, or closed. Its bytes stay pending until
    /// [`written`](Self::written).
    pub fn next(&self) -> Next<'_> {
        Next { outbox: self }
    }

    /// The driver's side, without waiting: the next chunk if one is queued and no
    /// other is being written.
    pub fn try_next(&self) -> Option<ReplyChunk> {
        let mut inner = self.inner.borrow_mut();
        if inner.in_flight || inner.state == State::Closed {
            return None;
        }
        let chunk = inner.queue.pop_front()?;
        inner.in_flight = true;
        Some(chunk)
    }

    /// The driver wrote only `sent` bytes of `chunk`: the rest goes back to the front.
    pub fn put_back(&self, mut chunk: ReplyChunk, sent: usize) {
        chunk.advance(sent);
        let mut inner = self.inner.borrow_mut();
        inner.in_flight = false;
        if inner.state == State::Closed {
            return;
        }
        let pending = inner.pending_bytes.saturating_sub(sent as u64);
        inner.set_pending(pending);
        inner.queue.push_front(chunk);
        wake(&mut inner.writer);
    }

    /// The driver is done with a written chunk: its buffer is kept for
    /// [`spare`](Self::spare) unless it grew large (a shared string is let go).
    pub fn recycle(&self, chunk: ReplyChunk) {
        let ReplyChunk::Owned(mut chunk) = chunk else {
            return;
        };
        if chunk.capacity() <= SPARE_RETAIN_BYTES {
            chunk.clear();
            self.inner.borrow_mut().spare = Some(chunk);
        }
    }

    /// An empty buffer for the session's next replies, reusing a written chunk's.
    pub fn spare(&self) -> Vec<u8> {
        self.inner.borrow_mut().spare.take().unwrap_or_default()
    }

    /// The driver wrote the `n` bytes of the chunk it took.
    pub fn written(&self, n: usize) {
        let mut inner = self.inner.borrow_mut();
        inner.in_flight = false;
        let pending = inner.pending_bytes.saturating_sub(n as u64);
        inner.set_pending(pending);
        if inner
            .resume_at_bytes
            .is_some_and(|at| inner.pending_bytes <= at)
        {
            wake(&mut inner.parked);
        }
    }
}

fn close_queue(inner: &mut Inner) {
    inner.state = State::Closed;
    inner.queue.clear();
    inner.held = Vec::new();
    inner.set_pending(0);
    wake(&mut inner.writer);
    wake(&mut inner.parked);
    wake(&mut inner.reader);
}

fn wake(waker: &mut Option<Waker>) {
    if let Some(w) = waker.take() {
        w.wake();
    }
}

/// The future of [`Outbox::next`].
pub struct Next<'a> {
    outbox: &'a Outbox,
}

impl Future for Next<'_> {
    type Output = Option<ReplyChunk>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ReplyChunk>> {
        let mut inner = self.outbox.inner.borrow_mut();
        if inner.state == State::Closed {
            return Poll::Ready(None);
        }
        if !inner.in_flight {
            if let Some(chunk) = inner.queue.pop_front() {
                inner.in_flight = true;
                return Poll::Ready(Some(chunk));
            }
        }
        if inner.state == State::Finishing {
            return Poll::Ready(None);
        }
        inner.writer = Some(cx.waker().clone());
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;
    use std::rc::Rc;

    const NO_LIMIT: OutputLimit = OutputLimit {
        hard_bytes: 0,
        soft_bytes: 0,
        soft_seconds: 0,
    };

    #[test]
    fn hard_limit_drops_at_once() {
        let o = Outbox::default();
        let limit = OutputLimit {
            hard_bytes: 10,
            ..NO_LIMIT
        };
        let now = Instant::now();
        assert_eq!(o.push(vec![0; 9], limit, || now), Ok(()));
        assert_eq!(o.pending_bytes(), 9);
        assert_eq!(
            o.push(vec![0; 1], limit, || now),
            Err(Overflow { pending_bytes: 10 })
        );
        assert!(o.is_closed());
        assert_eq!(o.pending_bytes(), 0);
        assert_eq!(o.next().now_or_never(), Some(None));
    }

    #[test]
    fn soft_limit_needs_its_seconds() {
        let o = Outbox::default();
        let limit = OutputLimit {
            hard_bytes: 0,
            soft_bytes: 10,
            soft_seconds: 2,
        };
        let t0 = Instant::now();
        assert!(o.push(vec![0; 10], limit, || t0).is_ok());
        assert!(o
            .push(vec![0; 1], limit, || t0 + Duration::from_secs(2))
            .is_ok());
        // Draining below the soft limit restarts the clock.
        let chunk = o.next().now_or_never().flatten().unwrap();
        o.written(chunk.len());
        assert!(o
            .push(vec![0; 1], limit, || t0 + Duration::from_secs(3))
            .is_ok());
        assert!(o
            .push(vec![0; 8], limit, || t0 + Duration::from_secs(4))
            .is_ok());
        assert!(o
            .push(vec![0; 1], limit, || t0 + Duration::from_secs(6))
            .is_ok());
        assert!(o
            .push(vec![0; 1], limit, || t0 + Duration::from_secs(7))
            .is_err());
    }

    #[test]
    fn held_messages_follow_the_chunk_s_replies() {
        let o = Outbox::default();
        o.hold();
        o.push_copy(b"m1", NO_LIMIT, Instant::now).unwrap();
        o.push(b"reply".to_vec(), NO_LIMIT, Instant::now).unwrap();
        assert_eq!(o.pending_bytes(), 7);
        o.release();
        o.push_copy(b"m2", NO_LIMIT, Instant::now).unwrap();
        assert_eq!(
            o.next().now_or_never(),
            Some(Some(ReplyChunk::Owned(b"reply".to_vec())))
        );
        assert_eq!(o.next().now_or_never(), None, "one chunk at a time");
        o.written(5);
        assert_eq!(
            o.next().now_or_never(),
            Some(Some(ReplyChunk::Owned(b"m1m2".to_vec())))
        );
    }

    #[test]
    fn driver_drains_in_order_then_stops_when_finished() {
        let o = Outbox::default();
        o.push(b"a".to_vec(), NO_LIMIT, Instant::now).unwrap();
        o.push(b"bc".to_vec(), NO_LIMIT, Instant::now).unwrap();
        assert_eq!(o.pending_bytes(), 3);
        assert_eq!(
            o.next().now_or_never(),
            Some(Some(ReplyChunk::Owned(b"a".to_vec())))
        );
        o.written(1);
        assert_eq!(o.pending_bytes(), 2);
        assert_eq!(
            o.next().now_or_never(),
            Some(Some(ReplyChunk::Owned(b"bc".to_vec())))
        );
        o.written(2);
        assert_eq!(o.next().now_or_never(), None, "waits while open");
        o.finish();
        assert_eq!(o.next().now_or_never(), Some(None));
    }

    #[test]
    fn parked_session_wakes_on_drain_and_on_close() {
        glommio::LocalExecutor::default().run(async {
            let o = Rc::new(Outbox::default());
            assert!(
                o.park(None).now_or_never().is_none(),
                "nothing wakes it yet"
            );
            // Resumed once the driver drained the queue to the bound.
            o.push(vec![0; 100], NO_LIMIT, Instant::now).unwrap();
            assert!(o.park(Some(10)).now_or_never().is_none());
            let driver = o.clone();
            let writer = glommio::spawn_local(async move {
                while let Some(chunk) = driver.next().await {
                    driver.written(chunk.len());
                }
            });
            o.park(Some(10)).await;
            assert_eq!(o.pending_bytes(), 0);
            // Closed by another task.
            let other = o.clone();
            let closer = glommio::spawn_local(async move { other.close() });
            o.park(None).await;
            assert!(o.is_closed());
            closer.await;
            writer.await;
        });
    }
}
