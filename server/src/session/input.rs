//! A connection's received bytes not yet run ([`Input`]): one buffer shared by
//! the driver, which appends what the socket delivers, and the session, which
//! frames requests from its front and slices their arguments out of it.
//!
//! One buffer, not one per side: a driver that kept its own and handed it over
//! made every received byte cross a second buffer (and grow it by reallocation, a
//! doubling at a time) before the session's: `SET` of 10 KB values at pipeline
//! 16 spent a third of its CPU in those copies, where Redis reads into its query
//! buffer once.
//!
//! The buffer keeps what it grew to while the connection is busy (a stream of
//! large pipelines does not regrow it for each), up to [`INPUT_KEPT_BYTES_MAX`],
//! unless it was sized for one big bulk (freed once that ran);
//! the core's periodic work frees a drained buffer once its
//! connection has been idle for [`INPUT_IDLE_SHRINK_AFTER`] ([`Input::shrink`]),
//! as Redis's `clientsCron` resizes an idle client's query buffer, so a burst of
//! large requests does not leave each idle connection holding what it needed
//! once.

use std::cell::{Cell, Ref, RefCell};
use std::time::Duration;

use bytes::BytesMut;

/// The most an emptied input buffer keeps while its connection is busy: a larger
/// one (grown by a large request) is freed once drained.
pub const INPUT_KEPT_BYTES_MAX: usize = 1024 * 1024;
/// Room past a big bulk's end in the buffer made for it ([`Input::want`]), and
/// received into with the bulk's rest: the arguments a request has after its big
/// one (`SET key value EX 60`) arrive in it, where a buffer made to the bulk's
/// end had to grow, copying the bulk, to take them (`SET` of 100 KB values with
/// `EX`: 38.5-42 µs of server CPU per request without the slack, 27-28 with it,
/// Redis 32-33).
pub const BULK_SLACK_BYTES: usize = 1024;
/// Idle time after which a connection's drained input buffer is freed (Redis: 2
/// seconds). A session starts with no input buffer, and the first request sizes
/// it.
pub const INPUT_IDLE_SHRINK_AFTER: Duration = Duration::from_secs(2);

/// A connection's input: the bytes received and not yet run.
#[derive(Default)]
pub struct Input {
    bytes: RefCell<BytesMut>,
    /// Bytes appended since the session last framed the buffer.
    fresh: Cell<usize>,
    /// Bytes appended since the session's current (or last) run began: what a
    /// driver holds back from a busy session by pausing its receive.
    unrun: Cell<usize>,
    /// The buffer was sized for one big bulk ([`Input::want`]): it is
    /// freed once drained.
    sized_for_bulk: Cell<bool>,
    /// The longest big bulk of the last batch the session took (0: none), so
    /// the next request is expected to carry one too (see [`Input::expects_bulk`]).
    bulky: Cell<usize>,
    /// The largest the buffer was since it was last freed: what it holds
    /// allocated (its capacity shrinks as requests are split off its front, which
    /// keep the allocation until their arguments are dropped, and a later growth
    /// may take that room back).
    peak: Cell<usize>,
    /// What the session wants the buffer to hold in all (see [`Input::want`]).
    wanted: Cell<usize>,
    /// A receive holds the room after the buffer's end ([`Input::lend_tail`]).
    lent: Cell<bool>,
    /// What the driver does when the connection has been idle for long (see
    /// [`Input::idle`]).
    on_idle: RefCell<Option<Box<dyn Fn()>>>,
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input")
            .field("len", &self.len())
            .field("fresh", &self.fresh.get())
            .field("allocated", &self.peak.get())
            .finish_non_exhaustive()
    }
}

impl Input {
    /// Appends what the socket delivered.
    pub fn append(&self, received: &[u8]) {
        let mut bytes = self.bytes.borrow_mut();
        bytes.extend_from_slice(received);
        self.fresh.set(self.fresh.get() + received.len());
        self.unrun.set(self.unrun.get() + received.len());
        self.peak.set(self.peak.get().max(bytes.capacity()));
    }

    /// Lends room after the buffer's end for a receive straight into it, and how
    /// much of it to fill: the rest of a big bulk and [`BULK_SLACK_BYTES`] (Redis
    /// too reads no further than a big bulk's end, so its buffer is never grown
    /// past it, which would copy all of it), else the room there is if at least
    /// `least` bytes (or any, left in a big bulk's buffer), else `want` bytes of
    /// room (up to `want` in every case but the bulk). None while
    /// the big bulk is whole and not yet run. The tail owns the room (it shares
    /// the allocation), so nothing the session does to the buffer meanwhile
    /// reaches it; [`Input::take_back`] joins it back.
    pub fn lend_tail(&self, want: usize, least: usize) -> Option<(BytesMut, usize)> {
        let mut bytes = self.bytes.borrow_mut();
        let len = bytes.len();
        let wanted = self.wanted.get();
        if self.bulky.get() > 0 && wanted == 0 && self.fresh.get() > 0 {
            // What arrived may begin a big bulk longer than the room it came in:
            // its room is made once the session has framed its header, where room
            // lent now would be regrown with all that follows in it.
            return None;
        }
        let fill = if wanted > len {
            bytes.reserve(wanted + BULK_SLACK_BYTES - len);
            wanted + BULK_SLACK_BYTES - len
        } else if wanted > 0 {
            return None;
        } else {
            // What a big bulk's buffer has left takes the request's last
            // arguments: growing it would copy the bulk.
            let room = bytes.capacity() - len;
            if room < least && !(self.sized_for_bulk.get() && room > 0) {
                bytes.reserve(want);
            }
            want.min(bytes.capacity() - len)
        };
        self.peak.set(self.peak.get().max(bytes.capacity()));
        self.lent.set(true);
        Some((bytes.split_off(len), fill))
    }

    /// The last batch the session took held a big bulk: the next request is
    /// expected to carry one as long, and is received straight into the input,
    /// into room for it (this much; up to [`INPUT_KEPT_BYTES_MAX`]), rather than
    /// through the provided buffers, which copied every byte of a stream of 100
    /// KB values once more (and then the buffer once more, when the bulk's
    /// length made it grow). As Redis: having seen a big argument, it makes its
    /// next query buffer as long, "assuming that if we saw a fat argument we'll
    /// see another one". More room for the request is lent only once the session
    /// has framed what arrived ([`Input::lend_tail`]), which sizes the buffer for
    /// the bulk it announces.
    pub fn expects_bulk(&self) -> Option<usize> {
        let bulk = self.bulky.get();
        (bulk > 0).then(|| (bulk + BULK_SLACK_BYTES).min(INPUT_KEPT_BYTES_MAX))
    }

    /// A big bulk's length is known and it has not all arrived.
    pub fn wants_bulk(&self) -> bool {
        self.wanted.get() > self.len()
    }

    /// Joins back what [`Input::lend_tail`] lent, `tail`'s bytes now received:
    /// without a copy when the buffer still ends where the tail starts.
    pub fn take_back(&self, tail: BytesMut) {
        self.fresh.set(self.fresh.get() + tail.len());
        self.unrun.set(self.unrun.get() + tail.len());
        let mut bytes = self.bytes.borrow_mut();
        bytes.unsplit(tail);
        self.peak.set(self.peak.get().max(bytes.capacity()));
        self.lent.set(false);
    }

    /// Bytes appended since the session last framed the buffer: the session has
    /// input to run while this is not zero.
    pub fn fresh(&self) -> usize {
        self.fresh.get()
    }

    /// Bytes appended since the session's current (or last) run began.
    pub fn unrun(&self) -> usize {
        self.unrun.get()
    }

    /// A run of the session begins: it takes every byte appended so far.
    pub(super) fn run_begins(&self) {
        self.unrun.set(0);
    }

    /// The bytes appended since the session last framed the buffer.
    pub fn fresh_bytes(&self) -> Ref<'_, [u8]> {
        Ref::map(self.bytes.borrow(), |b| &b[b.len() - self.fresh.get()..])
    }

    /// Bytes held, framed or not.
    pub fn len(&self) -> usize {
        self.bytes.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The buffer's allocation: the largest it was since it was last freed.
    pub fn capacity(&self) -> usize {
        self.peak.get()
    }

    /// Bytes the session framed and left: the start of a request not yet whole.
    pub fn seen(&self) -> usize {
        self.len() - self.fresh.get()
    }

    /// The whole buffer, for framing: every byte in it is then seen.
    pub(super) fn frame(&self) -> Ref<'_, BytesMut> {
        self.fresh.set(0);
        self.bytes.borrow()
    }

    /// The buffer, to split framed requests off its front.
    pub(super) fn bytes_mut(&self) -> std::cell::RefMut<'_, BytesMut> {
        self.bytes.borrow_mut()
    }

    /// Makes room for `wanted` bytes in all, or none if `wanted` is 0 (a big bulk
    /// whose length is known: its room is allocated once, not regrown, and
    /// copied, step by step while it arrives). While a receive holds the room
    /// after the buffer's end, the room is made when it is next lent: growing the
    /// buffer now would copy what it holds to a new allocation while the old one
    /// stays alive under the receive, and copy again to join the two.
    pub(super) fn want(&self, wanted: usize) {
        self.wanted.set(wanted);
        if wanted == 0 {
            return;
        }
        self.sized_for_bulk.set(true);
        if !self.lent.get() {
            let mut bytes = self.bytes.borrow_mut();
            let len = bytes.len();
            bytes.reserve((wanted + BULK_SLACK_BYTES).saturating_sub(len));
            self.peak.set(self.peak.get().max(bytes.capacity()));
        }
    }

    /// The session took a batch of requests out of the buffer; `big`: the
    /// length of their longest big bulk (0 if none).
    pub(super) fn framed_big(&self, big: usize) {
        self.bulky.set(big);
    }

    /// After a run: frees a drained buffer sized for a big bulk, or grown past
    /// [`INPUT_KEPT_BYTES_MAX`] (Redis too gives a big argument its query buffer
    /// and starts a new one).
    pub(super) fn drained(&self) {
        if self.sized_for_bulk.get() {
            self.shrink(0);
        } else {
            self.shrink(INPUT_KEPT_BYTES_MAX);
        }
    }

    /// Sets what the driver does when the connection has been idle for long: a
    /// receive that holds room in the buffer gives it back.
    pub fn when_idle(&self, f: Box<dyn Fn()>) {
        *self.on_idle.borrow_mut() = Some(f);
    }

    /// The connection has been idle for [`INPUT_IDLE_SHRINK_AFTER`]: an empty
    /// buffer is freed, and a receive holding room in it is ended (the room comes
    /// back, and is freed at the next call). Redis too frees the free space of an
    /// idle client's query buffer.
    pub fn idle(&self) {
        if self.is_empty() {
            if let Some(f) = &*self.on_idle.borrow() {
                f();
            }
        }
        self.shrink(0);
    }

    /// Frees the buffer if it is empty and larger than `keep`.
    pub fn shrink(&self, keep: usize) {
        let mut bytes = self.bytes.borrow_mut();
        if bytes.is_empty() && self.peak.get() > keep {
            *bytes = BytesMut::new();
            self.sized_for_bulk.set(false);
            self.peak.set(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appended_bytes_are_fresh_until_framed() {
        let input = Input::default();
        input.append(b"*1\r\n$4\r\nPI");
        assert_eq!(input.fresh(), 10);
        assert_eq!(&*input.fresh_bytes(), b"*1\r\n$4\r\nPI");
        assert_eq!(input.frame().len(), 10);
        assert_eq!(input.fresh(), 0);
        input.append(b"NG\r\n");
        assert_eq!(&*input.fresh_bytes(), b"NG\r\n");
        assert_eq!(input.seen(), 10);
        assert_eq!(input.len(), 14);
    }

    #[test]
    fn shrinking_frees_only_an_empty_buffer_past_what_it_keeps() {
        let input = Input::default();
        input.want(64 * 1024);
        input.append(b"x");
        input.shrink(0);
        assert!(input.capacity() >= 64 * 1024, "not empty: kept");
        let _ = input.bytes_mut().split_to(1);
        input.shrink(128 * 1024);
        assert!(input.capacity() >= 64 * 1024, "under `keep`: kept");
        input.shrink(16 * 1024);
        assert_eq!(input.capacity(), 0);
    }

    #[test]
    fn a_lent_tail_joins_back_after_what_the_session_took_meanwhile() {
        let input = Input::default();
        input.append(b"*1\r\n$4\r\nPI");
        let _ = input.frame();
        let (mut tail, fill) = input.lend_tail(64, 64).expect("no bulk");
        assert!(tail.capacity() >= 64 && fill == 64);
        let start = tail.as_ptr();
        tail.extend_from_slice(b"NG\r\n*1");
        assert_eq!(tail.as_ptr(), start, "received where it was lent");
        let framed = input.bytes_mut().split_to(4).freeze();
        input.take_back(tail);
        assert_eq!(&input.bytes_mut()[..], b"$4\r\nPING\r\n*1");
        assert_eq!(&*input.fresh_bytes(), b"NG\r\n*1");
        assert_eq!(&framed[..], b"*1\r\n");
        // A buffer emptied and freed meanwhile takes the tail as it is.
        let (tail, _) = input.lend_tail(16, 16).expect("no bulk");
        let held = input.len();
        let _ = input.bytes_mut().split_to(held);
        input.shrink(0);
        input.take_back(tail);
        assert!(input.is_empty());
    }

    #[test]
    fn a_big_bulk_is_lent_to_its_end_and_then_not_until_it_ran() {
        let input = Input::default();
        input.append(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$40000\r\n");
        let header = input.len();
        let _ = input.frame();
        input.want(header + 40_002);
        assert!(input.wants_bulk());
        let (mut tail, fill) = input.lend_tail(64 * 1024, 4096).expect("the bulk's rest");
        assert_eq!(
            fill,
            40_002 + BULK_SLACK_BYTES,
            "no further than the bulk's end and the slack"
        );
        tail.extend_from_slice(&[b'v'; 40_000]);
        tail.extend_from_slice(b"\r\n");
        input.take_back(tail);
        assert!(!input.wants_bulk());
        assert!(
            input.lend_tail(64 * 1024, 4096).is_none(),
            "whole: run it first"
        );
        let _ = input.frame();
        let _ = input.bytes_mut().split_to(header + 40_002);
        input.want(0);
        assert!(input.lend_tail(64 * 1024, 4096).is_some());
    }

    #[test]
    fn after_a_big_bulk_room_waits_until_what_arrived_is_framed() {
        let input = Input::default();
        input.framed_big(100_000);
        let room = input.expects_bulk().expect("after a big bulk");
        assert_eq!(room, 100_000 + BULK_SLACK_BYTES, "as long as the last");
        let (mut tail, fill) = input.lend_tail(room, 4096).expect("empty: room");
        assert_eq!(fill, room);
        tail.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100000\r\nvvvv");
        input.take_back(tail);
        assert!(
            input.lend_tail(64 * 1024, 4096).is_none(),
            "unframed: the bulk's length may be in it"
        );
        let _ = input.frame();
        let room = input.lend_tail(64 * 1024, 4096);
        assert!(room.is_some(), "framed, no big bulk known: room as ever");
        input.take_back(room.unwrap().0);
        input.framed_big(0);
        assert!(input.expects_bulk().is_none());
        input.framed_big(100 << 20);
        assert_eq!(input.expects_bulk(), Some(INPUT_KEPT_BYTES_MAX), "bounded");
    }

    #[test]
    fn a_drained_buffer_is_kept_unless_sized_for_a_big_bulk() {
        let input = Input::default();
        input.append(&[b'x'; 64 * 1024]);
        let _ = input.bytes_mut().split_to(64 * 1024);
        input.drained();
        assert!(input.capacity() >= 64 * 1024, "grown by appends: kept");
        input.want(64 * 1024);
        input.append(&[b'x'; 64 * 1024]);
        let framed = input.bytes_mut().split_to(64 * 1024).freeze();
        input.drained();
        assert_eq!(input.capacity(), 0, "sized for a bulk and drained: freed");
        drop(framed);
    }
}
