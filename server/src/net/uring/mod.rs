//! The io_uring driver (`--io-driver uring`): each core drives its own ring for its
//! sockets, beside glommio's, which keeps running the shard's work, the mesh and
//! the timers.
//!
//! ```text
//!  listener ─ multishot accept ─┐          ┌─► reading task: session.received ──► outbox
//!  socket ─── multishot recv ───┤  ring ───┤                                          │
//!  (provided buffers)           │ (1/core) └─► the loop's turn: woken outboxes ◄──────┘
//!  send SQEs of the turn ◄──────┘                            (outbox.next ──► send SQE)
//! ```
//!
//! # The loop and glommio
//!
//! One glommio task per core runs the loop ([`ring::Driver::run`]): a *turn* puts the
//! operations tasks queued since the last turn in the submission queue, enters the
//! kernel once (submit and `GETEVENTS`) — or not at all when nothing is queued and
//! the ring's `TASKRUN` flag says no completion waits — and dispatches every
//! completion: received bytes are copied into the connection's input (the
//! session's own buffer, [`crate::session::Input`]) and their buffer given back at
//! once (the buffers are published once per turn), finished
//! sends and accepted connections wake their tasks. The tasks it woke run next;
//! then, unless they queued operations or the ring's `TASKRUN` flag or completion
//! queue shows new work (read without a system call), the loop parks until
//! either a task queues an operation (a local wake, no system call) or glommio's
//! reactor finds work in the ring. The core's ring is installed in glommio's
//! reactor (`glommio::foreign`, a patch of the vendored copy): on each pass the
//! reactor reads the ring's flags and wakes the parked loop if the kernel holds
//! completions, and when the core has nothing to run the reactor sleeps in this
//! ring ([`ring::Sleeper`]), whose readiness polls of glommio's two sleepable rings
//! stand for glommio's own I/O (the mesh's notifier), with glommio's next timer
//! as the sleep's timeout (no timer entry is armed or cancelled around a sleep:
//! see `vendor/README.md` for what that saved). A core with nothing
//! to do sleeps in one `io_uring_enter` (idle CPU 0), and a request wakes it with
//! one return from it: measured against the design before, where the ring
//! signalled an eventfd that glommio's ring read (GET at 73,000 requests/s, 50
//! clients, open loop, server on one CPU), the CPU per request fell 6% (11.3–11.5
//! → 10.6–10.8 µs; Redis 7.0.15 10.0–10.1 in the same runs).
//! While busy — the kernel still holds completions after a turn (it runs a
//! bounded number per enter), tasks keep queueing sends, or new work arrived
//! while they ran — the loop comes back without parking, but every
//! `BUSY_TURNS_MAX` turns it parks until the reactor's next pass: a loop that
//! only woke itself would keep glommio's task queue from ever emptying, and
//! glommio polls its own I/O (the mesh, timers) only then or at its preemption
//! timer (100 ms). The journal's syncs go through this ring too
//! ([`ring::Driver::fdatasync`]): their completions are reaped in the turns that
//! reap the sockets'.
//!
//! Measured against the alternative of one readiness poll per socket in glommio's
//! ring (the glommio driver, with glommio's rings created without `COOP_TASKRUN`):
//! GET at pipeline 1, server on one CPU, 50 clients, the CPU per request fell from
//! 10.6 to 5.5 µs (redis-server: 5.2 µs in the same run); at pipeline 16 from 0.83
//! to 0.63 µs (Redis 0.53), where the rest is the command path, not the driver.
//!
//! Against the floor (`--canned-reply` against `loadgen/examples/raw_uring.rs`,
//! GET at pipeline 16, 50 clients): a profile of the canned server (perf, DWARF
//! stacks) puts 62% of its CPU in the kernel, about 0.20 µs per request, what the
//! raw loop spends there too; 34% in the session's framing (`frame_batch` 10%,
//! `take_batch` and `Frame::to_args` 17%: moves of each request's argument vector
//! and a reference count per argument), about 0.11 µs, which is the gap; about 6%
//! in glommio's reactor, mostly real parks; the driver's own code (the turn,
//! completions, the connection task) about 3%, at the raw loop's level. The
//! framing has since been cut (one pass into a flat argument list reused across
//! batches, commands run where they lie in the batch: see `resp::Framed`): the
//! canned server's user-space instructions per request at GET P16 fell from 1,287
//! to 830 (callgrind, 50 clients), so the gap named above is about a third
//! smaller; the wall-clock floor ratio has not been measured again since.
//!
//! Memory locked: the rings are charged to the memory cgroup (Linux 5.12), and the
//! only pinned memory is the provided-buffer ring's entries (8 KiB per core), so a
//! server started by a user with the default 8 MiB `RLIMIT_MEMLOCK` (or systemd's
//! default `LimitMEMLOCK`) needs no raised limit for this driver. Measured as an
//! unprivileged user with two shards: the server starts with `RLIMIT_MEMLOCK` down
//! to 512 KiB (glommio's executors, whichever driver, need the rest: below about
//! 256 KiB they do not start), so systemd units need no `LimitMEMLOCK=` line.
//!
//! The ring is created with `SINGLE_ISSUER | DEFER_TASKRUN | TASKRUN_FLAG`
//! (completions run only when the core enters the ring to reap them), or where the
//! kernel refuses that (before 6.1) with `COOP_TASKRUN | TASKRUN_FLAG` (at the
//! core's next entry into the kernel, never by interrupting it): see [`setup`]. No
//! timer is ever submitted to it. A kernel without either, or without
//! provided-buffer rings (before 5.19), fails the set-up, and the core uses the
//! [`glommio`](super::glommio) driver with a warning.
//!
//! # A connection
//!
//! A reading task runs the input the ring appended to the session's buffer
//! ([`Session::run_received`]) and starts sending the replies. While a stream of
//! large input arrives (a receive filled a whole provided buffer and 16 KiB wait
//! unrun, or a big bulk's length is known), the connection receives straight into
//! that buffer instead, one receive at a time, until a receive finds the socket
//! drained with no request begun ([`ring`]'s `recv`). Measured with redis-benchmark
//! (`SET`, pipeline 16, 50 clients, server on one CPU, 2 alternating rounds):
//! 10 KB values 4.65–4.80 µs of server CPU per request with a buffer of the
//! driver's own copied into the session's, 3.95–4.20 with the one shared buffer,
//! 3.00 receiving straight into it (Redis 7.0.15: 3.30); 1 KB values 0.90 → 0.70–
//! 0.76, 100 KB values 67–72 → 43.5–45.
//! A connection whose last batch held a big bulk (from 32 KiB) expects another
//! as long (`session::Input::expects_bulk`, as Redis does): it polls for its next
//! request and receives it straight into room that long, and the room for the
//! rest of a longer bulk is made once the session has framed its header. The
//! request then crosses no provided buffer, the input is not regrown with it,
//! and each big request runs as its own batch, whose argument is stored without
//! a copy. `SET` of 100 KB values went from 44.5–48.5 to 26–27.5 µs at pipeline
//! 1 (Redis 30–31.5) and from 56–63 to 25.5–29.5 at 16 (Redis 30.5); 40 KB
//! values from 21–23 to 13.5–14 at pipeline 1 (Redis 14.5–15.5). Through the
//! provided buffers a pipeline of them arrived whole before the session ran, and
//! each big argument of that batch was copied out of it
//! (`resp::Framed::take_into`, so that a stored value does not keep the whole
//! batch's buffer alive). The poll costs an operation per request: receiving
//! into the room at once measured 23.7–26.3 against 26–27.3 µs (100 KB, pipeline
//! 1), but a connection then holds that room while its peer is quiet (2,000
//! connections that each sent a 64 KiB `ECHO` held 80 MiB more for seconds);
//! reading 16 KiB first, as Redis does, and making the bulk's room after, 27–28.
//!
//! What other tasks push meanwhile (pub/sub messages, replies woken elsewhere) needs no
//! task of its own: the outbox's writer waker only marks the connection, and the
//! next turn starts its send, so a batch's replies cost no second task wake-up
//! (the glommio driver keeps a writing task per connection). One send is in flight
//! per connection, and the loop itself
//! continues it — from where the kernel stopped after a short send, then with the
//! chunks queued behind it — accounting each to the outbox, without waking a task. Every operation
//! owns what the kernel may touch until its completion (see [`ring`]): a task that
//! ends does not free a buffer under a send, and a connection's descriptor is
//! closed (or handed over to a replication stream) only after its receive was
//! cancelled and its last completion arrived, so no later operation can read from
//! a socket that moved to another core.
//!
//! The kernel looks up no file per operation or per enter: each connection's
//! socket sits in the ring's table of files for the connection's life (at the
//! slot of its descriptor's number), and the core enters its ring by its index
//! among the thread's registered rings (`setup`'s `register_file_table` and
//! `Enter`). Both fall back to descriptors on kernels without them.

mod bufs;
pub mod ring;
mod setup;

use std::cell::RefCell;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::rc::{Rc, Weak};
use std::task::Poll;

use ring::{Conn, Driver};

use crate::net::addr::ClientAddr;
use crate::session::{Flow, Mode, Outbox, Peer, Session};
use crate::shard::Core;

thread_local! {
    /// This core's driver, once its ring is set up (one core per thread).
    static CORE_DRIVER: RefCell<Weak<Driver>> = const { RefCell::new(Weak::new()) };
}

/// Makes `driver` the one [`catch_up`] turns on this core (sessions call it between
/// the batches of a long input), and the ring the core's journal syncs through.
pub fn install(driver: &Rc<Driver>) {
    CORE_DRIVER.with(|d| *d.borrow_mut() = Rc::downgrade(driver));
    ::glommio::foreign::install(Rc::new(ring::Sleeper(Rc::downgrade(driver))));
    crate::session::install_reaper(catch_up);
    let ring = Rc::downgrade(driver);
    crate::persist::writer::install_ring_sync(Rc::new(move |fd, done: Box<dyn FnOnce(i32)>| {
        match ring.upgrade() {
            Some(driver) => driver.fdatasync(fd, done),
            // The driver is gone only when the core stops: nothing waits any more.
            None => done(-libc::ESHUTDOWN),
        }
    }));
}

/// This core's driver, if it has one.
fn driver() -> Option<Rc<Driver>> {
    CORE_DRIVER.with(|d| d.borrow().upgrade())
}

/// Runs what this core's ring completed meanwhile, if the core has one: see
/// [`crate::net::catch_up`]. True if that gave a connection input to run.
pub fn catch_up() -> bool {
    driver().is_some_and(|driver| driver.catch_up())
}

/// Serves one accepted connection until it closes (or becomes a replication stream,
/// whose socket goes to [`crate::repl::master::hand_over`]).
pub async fn serve(driver: Rc<Driver>, core: Rc<Core>, socket: OwnedFd, mode: Mode) {
    let fd = socket.as_raw_fd();
    let Some((addr, laddr)) = ClientAddr::of(fd) else {
        return;
    };
    let _ = socket2::SockRef::from(&socket).set_nodelay(true);
    let peer = Peer { addr, laddr, fd };
    let mut session = match Session::open(core.clone(), peer, mode) {
        Ok(session) => session,
        Err(refusal) => {
            // A few bytes into a fresh socket's empty buffer: one send takes them.
            send_nonblocking(fd, refusal.as_bytes());
            return;
        }
    };
    let conn = Rc::new(Conn::new(fd, session.input(), session.peer_watch()));
    let id = session.id();
    let registered = core.clone();
    conn.when_peer_closes(Box::new(move || {
        crate::session::forget(&registered, id);
        crate::pubsub::forget_client(&registered, id);
    }));
    // A connection idle for long with a receive straight into its input would
    // hold the input's allocation under that receive: the core's periodic work
    // ends such a receive before it frees idle inputs.
    let (weak_driver, weak_conn) = (Rc::downgrade(&driver), Rc::downgrade(&conn));
    conn.input.when_idle(Box::new(move || {
        if let (Some(driver), Some(conn)) = (weak_driver.upgrade(), weak_conn.upgrade()) {
            driver.idle(&conn);
        }
    }));
    driver.register(&conn);
    driver.receive(&conn);
    let outbox = session.outbox();
    driver.write_out(&conn, &outbox);
    while next_input(&driver, &conn, &outbox).await {
        driver.resume(&conn);
        let flow = session.run_received().await;
        driver.flush(&conn, &outbox);
        if flow == Flow::Close || outbox.is_closed() {
            break;
        }
    }
    driver.stop_receiving(&conn).await;
    let handover = session.close();
    if outbox.is_closed() {
        // Ends the connection for the peer, and ends a send stuck on a peer that
        // does not read.
        shutdown(fd);
    }
    driver.written_out(&conn).await;
    driver.unregister(&conn);
    if let Some(handover) = handover {
        crate::repl::master::hand_over(&core, socket, handover).await;
    }
}

/// Waits for input the session has not framed; false at the end of input, or once
/// the outbox is closed (`CLIENT KILL`, the idle timeout, the output-buffer limit).
/// A receive paused while the session ran is armed again before waiting (or, if
/// its end has not arrived yet, when that end wakes this wait).
async fn next_input(driver: &Driver, conn: &Rc<Conn>, outbox: &Outbox) -> bool {
    std::future::poll_fn(|cx| {
        if outbox.poll_closed(cx).is_ready() {
            return Poll::Ready(false);
        }
        if conn.input.fresh() > 0 {
            return Poll::Ready(true);
        }
        if conn.eof.get() {
            return Poll::Ready(false);
        }
        driver.resume(conn);
        conn.wait_input(cx);
        Poll::Pending
    })
    .await
}

fn send_nonblocking(fd: RawFd, buf: &[u8]) {
    // SAFETY: send(2) reads `buf` for its length on the connection's socket.
    unsafe {
        libc::send(
            fd,
            buf.as_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
}

fn shutdown(fd: RawFd) {
    // SAFETY: shutdown(2) on the connection's live socket; nothing is closed or freed.
    unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
}
