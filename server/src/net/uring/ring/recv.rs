//! A connection's receive: a multishot receive into the core's provided buffers,
//! copied into the session's input as each completes (it holds no memory per
//! connection while it waits), or, while a stream of large input arrives and
//! while requests with big bulks follow one another, one receive at a time
//! straight into the input ([`Conn::direct`]).
//!
//! Measured with `SET` of 10 KB values at pipeline 16 (redis-benchmark, 50
//! clients, server on one CPU): the copy out of the provided buffers was a fifth
//! of the server's CPU, and the direct receive does without it.

use std::rc::Rc;
use std::task::Poll;

use bytes::BytesMut;
use io_uring::{cqueue, opcode, types};

use super::{Conn, Driver, Op};
use crate::net::uring::bufs::{RECV_BUFFER_BYTES, RECV_BUFFER_GROUP};

/// Received bytes a connection holds unframed for a busy session before receiving
/// pauses (the peer then waits on TCP flow control, as with a socket nobody reads).
const INPUT_HELD_BYTES_MAX: usize = 1024 * 1024;
/// Unrun input at which a connection whose receive filled a whole provided buffer
/// receives straight into its input instead ([`Conn::direct`]).
const DIRECT_AFTER_BYTES: usize = 16 * 1024;
/// Room each receive straight into a connection's input asks for.
const DIRECT_RECV_BYTES: usize = 64 * 1024;

impl Driver {
    /// Arms the connection's receive: the multishot one, or one straight into its
    /// input (see [`Conn::direct`]); none while the input holds a whole big bulk
    /// the session has not run (the session's next run resumes it).
    pub fn receive(&self, conn: &Rc<Conn>) {
        let slot = if conn.direct.get() {
            // The rest of a request waits for its bytes (a big bulk in the room it
            // holds anyway), and so does a request expected to carry a big bulk;
            // with no request begun the receive only takes what the socket holds,
            // and ends the stream when that is nothing.
            let (want, flags) = match (conn.input.is_empty(), conn.input.expects_bulk()) {
                (false, _) => (DIRECT_RECV_BYTES, 0),
                (true, Some(room)) => {
                    if !conn.readable.replace(false) {
                        // Room as long as the last big request is lent once input
                        // has come: a connection holds none while its peer waits.
                        let entry = on_socket!(conn, |socket| opcode::PollAdd::new(
                            socket,
                            libc::POLLIN as u32
                        )
                        .build());
                        conn.recv
                            .set(Some(self.queue(Op::Readable(conn.clone()), entry)));
                        return;
                    }
                    (room, 0)
                }
                (true, None) => (DIRECT_RECV_BYTES, libc::MSG_DONTWAIT),
            };
            let Some((mut tail, fill)) = conn.input.lend_tail(want, RECV_BUFFER_BYTES) else {
                conn.pause();
                return;
            };
            let room = &mut tail.spare_capacity_mut()[..fill];
            let len = room.len().min(u32::MAX as usize) as u32;
            let entry = on_socket!(conn, |socket| opcode::Recv::new(
                socket,
                room.as_mut_ptr().cast(),
                len
            )
            .flags(flags)
            .build());
            // The op owns the room until its completion: moving the tail moves no
            // bytes.
            self.queue(Op::RecvInto(conn.clone(), tail), entry)
        } else {
            let entry = on_socket!(conn, |socket| opcode::RecvMulti::new(
                socket,
                RECV_BUFFER_GROUP
            )
            .build());
            self.queue(Op::Recv(conn.clone()), entry)
        };
        conn.recv.set(Some(slot));
    }

    /// The session runs the connection's input, or waits for more: a paused
    /// receive is armed again.
    pub fn resume(&self, conn: &Rc<Conn>) {
        if conn.paused.get() && conn.recv.get().is_none() && !conn.stopping.get() {
            conn.unpause();
            self.receive(conn);
        }
    }

    /// The connection is idle with no input: a receive straight into the input
    /// would hold the input's allocation for as long as the peer stays quiet, so
    /// it ends and the multishot receive, which holds nothing, waits instead.
    /// Not done each time the session waits: ending and re-arming the receive
    /// between the pipelines of a stream of 10 KB values cost a quarter more CPU
    /// per request (2.75-2.90 -> 3.60-3.75 µs).
    pub fn idle(&self, conn: &Rc<Conn>) {
        if conn.input.is_empty() && conn.direct.replace(false) {
            if let Some(slot) = conn.recv.get() {
                self.queue(Op::Cancel, opcode::AsyncCancel::new(slot).build());
            }
        }
    }

    /// Stops the connection's receive; done once its last completion arrived.
    pub async fn stop_receiving(&self, conn: &Conn) {
        conn.stopping.set(true);
        if let Some(slot) = conn.recv.get() {
            self.queue(Op::Cancel, opcode::AsyncCancel::new(slot).build());
        }
        std::future::poll_fn(|cx| {
            if conn.recv.get().is_none() {
                return Poll::Ready(());
            }
            conn.wait_input(cx);
            Poll::Pending
        })
        .await
    }

    /// A completion of the multishot receive.
    pub(super) fn received(&self, slot: u64, conn: Rc<Conn>, res: i32, flags: u32, more: bool) {
        if res > 0 {
            if let Some(bid) = cqueue::buffer_select(flags) {
                let mut bufs = self.bufs.borrow_mut();
                let input = &conn.input;
                // A connection that stopped reading (refused, closing) reads nothing
                // more: what the kernel still hands over is dropped, not copied.
                if !conn.stopping.get() {
                    self.note_arrival(&conn);
                    input.append(bufs.filled(bid, res as usize));
                }
                bufs.give_back(bid);
                let stream = (res as usize == RECV_BUFFER_BYTES
                    && input.fresh() >= DIRECT_AFTER_BYTES)
                    || input.wants_bulk();
                if input.unrun() >= INPUT_HELD_BYTES_MAX && more && !conn.pause()
                    || stream && more && !conn.direct.replace(true)
                {
                    // Held enough, or a stream of large input: the receive ends, and
                    // is armed again once the session ran the input, or at once
                    // straight into the input.
                    self.queue(Op::Cancel, opcode::AsyncCancel::new(slot).build());
                }
            }
        } else if res == 0 || (res != -libc::ENOBUFS && res != -libc::ECANCELED) {
            self.peer_closed(&conn);
        }
        if !more {
            conn.recv.set(None);
            if !conn.eof.get() && !conn.stopping.get() && !conn.paused.get() {
                self.receive(&conn);
            }
        }
        if conn.wake_reader() {
            self.woke_reader.set(true);
        }
    }

    /// The completion of a receive straight into the connection's input.
    pub(super) fn received_into(&self, conn: Rc<Conn>, mut tail: BytesMut, res: i32) {
        conn.recv.set(None);
        if res > 0 {
            // A connection that stopped reading drops what the receive took.
            if !conn.stopping.get() {
                self.note_arrival(&conn);
                // SAFETY: the kernel wrote `res` bytes to the start of the tail's
                // room, which the receive was given (the tail was empty).
                unsafe { tail.set_len(res as usize) };
            }
            conn.input.take_back(tail);
        } else if res == -libc::EAGAIN || res == -libc::ECANCELED {
            // Drained: the room goes back to the input.
            conn.direct.set(conn.input.wants_bulk());
            conn.input.take_back(tail);
        } else {
            conn.input.take_back(tail);
            self.peer_closed(&conn);
        }
        if !conn.eof.get() && !conn.stopping.get() {
            if conn.input.unrun() >= INPUT_HELD_BYTES_MAX {
                conn.pause();
            } else {
                self.receive(&conn);
            }
        }
        if conn.wake_reader() {
            self.woke_reader.set(true);
        }
    }

    /// The completion of the poll for input of a connection that expects a big
    /// bulk: the receive into room for it follows. Ended (idle, or stopping), it
    /// leaves the multishot receive to wait.
    pub(super) fn readable(&self, conn: Rc<Conn>, res: i32) {
        conn.recv.set(None);
        match res {
            r if r > 0 => conn.readable.set(true),
            _ => conn.direct.set(false),
        }
        if !conn.eof.get() && !conn.stopping.get() {
            self.receive(&conn);
        }
        if conn.wake_reader() {
            self.woke_reader.set(true);
        }
    }

    /// Notes a connection whose input begins in this turn, for the arrival hook.
    fn note_arrival(&self, conn: &Rc<Conn>) {
        if conn.input.fresh() == 0 && self.arrived.borrow().is_some() {
            self.arrivals.borrow_mut().push(conn.clone());
        }
    }

    /// The peer closed its side, or receiving failed.
    fn peer_closed(&self, conn: &Conn) {
        conn.eof.set(true);
        conn.peer.close();
        let closed = conn.on_peer_closed.borrow_mut().take();
        if let Some(closed) = closed {
            closed();
        }
    }
}
