//! One core's ring: its operations in flight, the loop turn that submits and
//! reaps them, and the sleep of the core in it (glommio's reactor sleeps here).
//!
//! Every operation in flight has a slot in [`Driver::ops`]; its index is the
//! SQE's `user_data`. The slot owns what the kernel may touch (a send's bytes, the
//! connection a receive fills) until the completion that ends the operation
//! arrives, whatever became of the task that started it.

use std::cell::{Cell, Ref, RefCell, UnsafeCell};
use std::collections::VecDeque;
use std::future::Future;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use bytes::BytesMut;
use corekv_engine::resp::ReplyChunk;
use io_uring::{cqueue, opcode, squeue, types, IoUring};
use smallvec::SmallVec;

use super::bufs::BufRing;
use super::setup::{build_ring, register_file_table, Enter};
use crate::session::{Input, Outbox};
use crate::shard::blocking::PeerWatch;

/// Builds an entry on `$conn`'s socket, given to `$build` as `$target`: its slot in
/// the ring's table of files while registered ([`Driver::register`]), its
/// descriptor otherwise.
macro_rules! on_socket {
    ($conn:expr, |$target:ident| $build:expr) => {
        if $conn.fixed.get() {
            let $target = types::Fixed($conn.fd as u32);
            $build
        } else {
            let $target = types::Fd($conn.fd);
            $build
        }
    };
}

mod files;
mod park;
mod recv;
pub use park::Sleeper;

/// Turns in a row without letting glommio's reactor poll its own rings.
const BUSY_TURNS_MAX: u32 = 8;
/// Enters into the kernel in one turn while it still holds completions to run.
const ENTERS_PER_TURN_MAX: usize = 4;
/// Pause after a failed accept (out of descriptors, say) before the next.
const ACCEPT_RETRY_INTERVAL: Duration = Duration::from_millis(10);

/// One connection's state shared by its tasks and its operations in flight.
pub struct Conn {
    pub fd: RawFd,
    /// The socket is in the ring's table of files, at slot `fd`.
    fixed: Cell<bool>,
    /// The session's input buffer: what is received is appended to it.
    pub input: Rc<Input>,
    /// The peer closed its side, or receiving failed.
    pub eof: Cell<bool>,
    /// The receive in flight (its slot), if armed.
    recv: Cell<Option<u64>>,
    /// The connection receives straight into its input, one receive at a time,
    /// while the socket has bytes waiting: a stream of large requests then costs
    /// one copy (the kernel's) instead of two, as Redis reads into its query
    /// buffer. It goes back to the multishot receive into provided buffers, which
    /// holds no memory per connection while it waits, once a receive finds the
    /// socket drained.
    direct: Cell<bool>,
    /// A poll found input for a connection that expects a big bulk: its receive
    /// now gets the room (see `recv`'s `Driver::receive`).
    readable: Cell<bool>,
    /// The connection stops reading: an ending receive is not armed again.
    stopping: Cell<bool>,
    /// Receiving paused: `input` took `recv::INPUT_HELD_BYTES_MAX` since the
    /// session's run began, or holds a whole big bulk not yet run; armed again when
    /// the session begins its next run or waits for input.
    paused: Cell<bool>,
    /// The reading task, waiting for input, end of input, or the receive's end.
    reader: RefCell<Option<Waker>>,
    /// A send of the outbox's bytes is in flight (the loop continues with the next
    /// chunk as each completes).
    sending: Cell<bool>,
    /// The outbox has ended (finished and written, or closed): no more sends start.
    written_out: Cell<bool>,
    /// The connection's task, waiting for the outbox to end and the last send.
    sender: RefCell<Option<Waker>>,
    /// Runs in the turn that reaps the peer's close (or reset), before any task
    /// runs: see [`Conn::when_peer_closes`].
    on_peer_closed: RefCell<Option<Box<dyn FnOnce()>>>,
    /// Tells shards whether the peer has closed: watched while the receive is
    /// armed (its end reports the close), not while it is paused.
    peer: PeerWatch,
}

impl Conn {
    /// A connection whose receive is armed next (a pause says otherwise).
    pub fn new(fd: RawFd, input: Rc<Input>, peer: PeerWatch) -> Conn {
        peer.watched(true);
        Conn {
            fd,
            fixed: Cell::new(false),
            input,
            eof: Cell::new(false),
            recv: Cell::new(None),
            direct: Cell::new(false),
            readable: Cell::new(false),
            stopping: Cell::new(false),
            paused: Cell::new(false),
            reader: RefCell::new(None),
            sending: Cell::new(false),
            written_out: Cell::new(false),
            sender: RefCell::new(None),
            on_peer_closed: RefCell::new(None),
            peer,
        }
    }

    /// Pauses receiving; whether it was paused already.
    fn pause(&self) -> bool {
        self.peer.watched(false);
        self.paused.replace(true)
    }

    /// Ends a pause: the receive is armed again at once.
    fn unpause(&self) {
        self.paused.set(false);
        self.peer.watched(true);
    }

    /// Sets what the turn that reaps the end of the peer's input does at once,
    /// before the reading task gets to run: a peer that closed or reset is gone
    /// from the core's client registry by the time anything else on the core runs.
    pub fn when_peer_closes(&self, f: Box<dyn FnOnce()>) {
        *self.on_peer_closed.borrow_mut() = Some(f);
    }

    /// Registers the reading task's waker.
    pub fn wait_input(&self, cx: &mut Context<'_>) {
        *self.reader.borrow_mut() = Some(cx.waker().clone());
    }

    /// Wakes the reading task if it waits; true if it did.
    fn wake_reader(&self) -> bool {
        let reader = self.reader.borrow_mut().take();
        reader.map(Waker::wake).is_some()
    }
}

/// What a core does with each connection its listener accepts.
pub type OnAccept = Box<dyn Fn(OwnedFd)>;

/// A listening socket with a multishot accept.
pub struct Acceptor {
    pub fd: RawFd,
    pub on_accept: OnAccept,
    /// Stops re-arming (shutdown).
    pub stopped: Box<dyn Fn() -> bool>,
}

enum Op {
    Accept(Rc<Acceptor>),
    Recv(Rc<Conn>),
    /// A receive straight into the connection's input: the room lent for it.
    RecvInto(Rc<Conn>, BytesMut),
    /// A poll for input, before room for it is lent (see [`Conn::readable`]).
    Readable(Rc<Conn>),
    /// A chunk of the outbox's bytes and how many of them the kernel already took.
    Send {
        conn: Rc<Conn>,
        outbox: Rc<Outbox>,
        chunk: ReplyChunk,
        offset: usize,
    },
    Cancel,
    /// A readiness poll of one of glommio's rings while the core sleeps here: its
    /// index in [`Driver::watched`].
    Watch(usize),
    /// A file's `fdatasync`: its continuation gets the result.
    Sync(Box<dyn FnOnce(i32)>),
    /// The read of the executor's notifier while the core sleeps here (see
    /// [`Driver::arm_notifier`]).
    Notified,
}

/// A connection's outbox, written by the loop: what other tasks push into it wakes
/// [`WriterWake`], which marks it for the next turn instead of waking a task.
struct Writer {
    conn: Rc<Conn>,
    outbox: Rc<Outbox>,
    waker: Waker,
}

/// The waker a [`Writer`] registers with its outbox: marks writer `index` of this
/// core's driver for the next turn (a local mark, no task). Outboxes live on one
/// core, so it is only woken on the driver's own thread.
struct WriterWake {
    index: usize,
}

impl Wake for WriterWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(driver) = super::driver() {
            driver.writer_woken(self.index);
        }
    }
}

/// One core's io_uring for its sockets.
pub struct Driver {
    me: Weak<Driver>,
    /// How the ring runs the kernel's completions (its set-up flags, for the log).
    pub task_run: &'static str,
    ring: RefCell<IoUring>,
    /// How the core enters the ring.
    enter: Enter,
    /// Slots in the ring's table of files (see [`register_file_table`]).
    files: u32,
    bufs: RefCell<BufRing>,
    ops: RefCell<Vec<Option<Op>>>,
    free: RefCell<Vec<u64>>,
    /// Entries waiting for room in the submission queue.
    backlog: RefCell<VecDeque<squeue::Entry>>,
    /// Something was queued since the last turn.
    queued: Cell<bool>,
    /// The loop task, parked: glommio's reactor wakes it when the ring has work
    /// ([`Sleeper`]).
    parked: RefCell<Option<Waker>>,
    /// The parked loop comes back at the reactor's next pass, whatever the ring
    /// holds (a busy loop lets glommio poll its own rings in between).
    rewake: Cell<bool>,
    /// glommio's rings watched while the core sleeps in this one, each with the
    /// slot of its readiness poll while armed.
    watched: RefCell<Vec<(RawFd, Option<u64>)>>,
    /// A read of the executor's notifier is armed.
    notifier_armed: Cell<bool>,
    /// Where that read puts the count: the core's for the process's life, so no
    /// read still in the kernel as the ring is torn down can write to freed memory.
    notifier_count: &'static UnsafeCell<u64>,
    /// Completions reaped in a turn, dispatched after the ring is released.
    reaped: RefCell<Vec<(u64, i32, u32)>>,
    /// The connections' outboxes the loop writes, by index, and the free indexes.
    writers: RefCell<Vec<Option<Writer>>>,
    writers_free: RefCell<Vec<usize>>,
    /// Writers whose outbox woke them since the last turn.
    woken: RefCell<Vec<usize>>,
    /// A completion since [`catch_up`](Self::catch_up) began woke a connection's
    /// reading task (it has input, or its input ended).
    woke_reader: Cell<bool>,
    /// Connections whose input began in this turn (empty before it), for
    /// [`on_arrivals`](Self::on_arrivals).
    arrivals: RefCell<Vec<Rc<Conn>>>,
    arrived: RefCell<Option<ArrivalHook>>,
}

/// Sees the inputs that began arriving in a turn, before their tasks run them.
pub type ArrivalHook = Box<dyn Fn(&[&[u8]])>;

/// The most inputs of one turn shown to the arrival hook.
const ARRIVALS_SHOWN_MAX: usize = 32;

impl Driver {
    /// Sets up this core's ring (on the core's thread) and its receive buffers;
    /// with deferred task-run if `deferred` and the kernel has it.
    pub fn new(deferred: bool) -> std::io::Result<Rc<Driver>> {
        let (ring, task_run) = build_ring(deferred)?;
        let bufs = BufRing::register(&ring)?;
        let files = register_file_table(&ring);
        let enter = Enter::register(&ring);
        Ok(Rc::new_cyclic(|me| Driver {
            me: me.clone(),
            task_run,
            ring: RefCell::new(ring),
            enter,
            files,
            bufs: RefCell::new(bufs),
            ops: RefCell::new(Vec::new()),
            free: RefCell::new(Vec::new()),
            backlog: RefCell::new(VecDeque::new()),
            queued: Cell::new(false),
            parked: RefCell::new(None),
            rewake: Cell::new(false),
            watched: RefCell::new(Vec::new()),
            notifier_armed: Cell::new(false),
            notifier_count: Box::leak(Box::new(UnsafeCell::new(0))),
            reaped: RefCell::new(Vec::new()),
            writers: RefCell::new(Vec::new()),
            writers_free: RefCell::new(Vec::new()),
            woken: RefCell::new(Vec::new()),
            woke_reader: Cell::new(false),
            arrivals: RefCell::new(Vec::new()),
            arrived: RefCell::new(None),
        }))
    }

    /// Shows `hook` the inputs that began arriving in each turn, when there are two
    /// or more: the requests of several connections, before any of them runs.
    pub fn on_arrivals(&self, hook: ArrivalHook) {
        *self.arrived.borrow_mut() = Some(hook);
    }

    /// Shows the arrival hook this turn's new inputs, and forgets them.
    fn show_arrivals(&self) {
        let mut arrivals = self.arrivals.borrow_mut();
        if arrivals.len() >= 2 {
            if let Some(hook) = &*self.arrived.borrow() {
                let inputs: SmallVec<[Ref<'_, [u8]>; ARRIVALS_SHOWN_MAX]> = arrivals
                    .iter()
                    .take(ARRIVALS_SHOWN_MAX)
                    .map(|conn| conn.input.fresh_bytes())
                    .collect();
                let slices: SmallVec<[&[u8]; ARRIVALS_SHOWN_MAX]> =
                    inputs.iter().map(|input| &input[..]).collect();
                hook(&slices);
            }
        }
        arrivals.clear();
    }

    /// The loop: a turn, then a park until the kernel completes something or a task
    /// queues an operation. Runs until the executor ends.
    ///
    /// After each turn the tasks it woke run first; then, if they queued operations
    /// or the kernel holds new completions ([`Driver::kernel_has_work`], no system
    /// call), the next turn follows without parking. Otherwise the loop parks and
    /// glommio's reactor, finding nothing else to run, sleeps in this ring
    /// ([`Sleeper`]). While busy, every [`BUSY_TURNS_MAX`] turns the loop parks
    /// until the reactor's next pass, so that glommio's own I/O (the mesh, timers)
    /// is served between them: a loop that only woke itself would keep glommio's
    /// task queue from ever emptying.
    pub async fn run(self: Rc<Self>) {
        let mut enter = true;
        let mut busy = 0;
        loop {
            let more = match self.turn(enter) {
                Ok(more) => more,
                Err(e) => {
                    log::warn!("io_uring_enter failed: {e}");
                    false
                }
            };
            enter = false;
            yield_once().await;
            if !more && !self.queued.get() && !self.kernel_has_work() {
                busy = 0;
                self.park(false).await;
                continue;
            }
            busy += 1;
            if busy >= BUSY_TURNS_MAX {
                busy = 0;
                self.park(true).await;
                continue;
            }
            enter = more;
        }
    }

    /// Whether the kernel holds completions to run or reap for the ring (read from
    /// the ring's shared flags and head and tail: no system call). False while a
    /// turn holds the ring: that turn reaps them.
    fn kernel_has_work(&self) -> bool {
        let Ok(mut ring) = self.ring.try_borrow_mut() else {
            return false;
        };
        let sq = ring.submission();
        let taskrun = sq.taskrun() || sq.cq_overflow();
        drop(sq);
        taskrun || !ring.completion().is_empty()
    }

    /// Runs a turn now, from any task of the core: what the kernel completed
    /// meanwhile (a peer's close among it) takes effect before the caller goes on.
    /// Enters the kernel only if the ring holds completions to run or entries to
    /// submit. True if the turn woke a connection's reading task: a connection
    /// other than one running (whose reader waits for nothing) has input.
    pub fn catch_up(&self) -> bool {
        self.woke_reader.set(false);
        match self.turn(false) {
            // The rest waits for the loop, which a parked loop would not know of.
            Ok(true) => self.wake_loop(),
            Ok(false) => {}
            Err(e) => log::warn!("io_uring_enter failed: {e}"),
        }
        self.woke_reader.get()
    }

    /// Submits what is queued, runs and reaps the completions, dispatches them.
    /// True if the kernel still holds completions to run (it runs a bounded number
    /// per enter): the loop comes back at once. Enters the kernel if `enter`, or if
    /// anything is to be submitted or run.
    fn turn(&self, enter: bool) -> std::io::Result<bool> {
        self.queued.set(false);
        self.write_woken();
        let mut enter = enter;
        let mut more = false;
        {
            let mut ring = self.ring.borrow_mut();
            let mut backlog = self.backlog.borrow_mut();
            for _ in 0..ENTERS_PER_TURN_MAX {
                let (pending, taskrun) = fill_submissions(&mut ring, &mut backlog);
                if pending > 0 || taskrun || enter {
                    enter_ring(self.enter, pending, 0, None)?;
                }
                enter = false;
                let mut reaped = self.reaped.borrow_mut();
                for cqe in ring.completion() {
                    reaped.push((cqe.user_data(), cqe.result(), cqe.flags()));
                }
                // An interrupted enter may leave entries unsubmitted and
                // completions unrun: both bring the loop back at once.
                let sq = ring.submission();
                more = sq.taskrun() || sq.cq_overflow() || !sq.is_empty();
                if backlog.is_empty() && !more {
                    break;
                }
            }
        }
        let mut reaped = std::mem::take(&mut *self.reaped.borrow_mut());
        for &(slot, res, flags) in &reaped {
            self.complete(slot, res, flags);
        }
        reaped.clear();
        *self.reaped.borrow_mut() = reaped;
        self.show_arrivals();
        self.bufs.borrow_mut().publish();
        Ok(more || !self.backlog.borrow().is_empty())
    }

    fn queue(&self, op: Op, entry: squeue::Entry) -> u64 {
        let slot = self.slot(op);
        self.queue_entry(entry.user_data(slot));
        slot
    }

    /// A slot in [`Driver::ops`] holding `op` until its last completion.
    fn slot(&self, op: Op) -> u64 {
        match self.free.borrow_mut().pop() {
            Some(slot) => {
                self.ops.borrow_mut()[slot as usize] = Some(op);
                slot
            }
            None => {
                let mut ops = self.ops.borrow_mut();
                ops.push(Some(op));
                ops.len() as u64 - 1
            }
        }
    }

    fn queue_entry(&self, entry: squeue::Entry) {
        self.backlog.borrow_mut().push_back(entry);
        self.wake_loop();
    }

    /// Brings a parked loop back for a turn (a local wake, no system call).
    fn wake_loop(&self) {
        if !self.queued.replace(true) {
            if let Some(w) = self.parked.borrow_mut().take() {
                w.wake();
            }
        }
    }

    /// Arms a multishot accept on a listening socket.
    pub fn accept(&self, acceptor: Rc<Acceptor>) {
        let entry = opcode::AcceptMulti::new(types::Fd(acceptor.fd))
            .flags(libc::SOCK_CLOEXEC)
            .build();
        self.queue(Op::Accept(acceptor), entry);
    }

    /// Syncs the data of `fd` (`fdatasync`, in the kernel's workers) and calls `done`
    /// with the result (0 or `-errno`) in the turn that reaps it. The caller keeps
    /// `fd` open until then.
    pub fn fdatasync(&self, fd: RawFd, done: Box<dyn FnOnce(i32)>) {
        let entry = opcode::Fsync::new(types::Fd(fd))
            .flags(types::FsyncFlags::DATASYNC)
            .build();
        self.queue(Op::Sync(done), entry);
    }

    /// Starts writing the outbox's queued chunks unless a send is in flight.
    pub fn flush(&self, conn: &Rc<Conn>, outbox: &Rc<Outbox>) {
        if conn.sending.get() {
            return;
        }
        if let Some(chunk) = outbox.try_next() {
            self.send_chunk(conn, outbox, chunk);
        }
    }

    /// Sends `chunk`, taken from the outbox, then the chunks queued behind it, each
    /// whole (as many sends as the socket needs), accounting them to the outbox.
    pub fn send_chunk(&self, conn: &Rc<Conn>, outbox: &Rc<Outbox>, chunk: ReplyChunk) {
        conn.sending.set(true);
        self.send_from(conn.clone(), outbox.clone(), chunk, 0);
    }

    /// Starts writing the outbox of `conn` from the loop: what is pushed into it from
    /// now on (by the session or by other tasks) is sent in the next turn, without a
    /// task of its own; see [`written_out`](Self::written_out).
    pub fn write_out(&self, conn: &Rc<Conn>, outbox: &Rc<Outbox>) {
        let index = self.writers_free.borrow_mut().pop().unwrap_or_else(|| {
            let mut writers = self.writers.borrow_mut();
            writers.push(None);
            writers.len() - 1
        });
        let waker = Waker::from(Arc::new(WriterWake { index }));
        self.writers.borrow_mut()[index] = Some(Writer {
            conn: conn.clone(),
            outbox: outbox.clone(),
            waker,
        });
        self.write(index);
    }

    /// Waits until the outbox ended (finished and all written, or closed) and no
    /// send is in flight.
    pub async fn written_out(&self, conn: &Conn) {
        std::future::poll_fn(|cx| {
            if conn.written_out.get() && !conn.sending.get() {
                return Poll::Ready(());
            }
            *conn.sender.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    fn writer_woken(&self, index: usize) {
        self.woken.borrow_mut().push(index);
        self.wake_loop();
    }

    /// Writes the outboxes that woke their writers since the last turn.
    fn write_woken(&self) {
        let mut woken = std::mem::take(&mut *self.woken.borrow_mut());
        if woken.is_empty() {
            return;
        }
        for &index in &woken {
            self.write(index);
        }
        woken.clear();
        let mut kept = self.woken.borrow_mut();
        if kept.is_empty() {
            *kept = woken;
        }
    }

    /// Starts sending what writer `index`'s outbox holds unless a send is in
    /// flight, and registers the writer's waker for what comes next; at the
    /// outbox's end, drops the writer.
    fn write(&self, index: usize) {
        loop {
            let next = {
                let writers = self.writers.borrow();
                let Some(writer) = writers.get(index).and_then(Option::as_ref) else {
                    return;
                };
                let mut cx = Context::from_waker(&writer.waker);
                match std::pin::pin!(writer.outbox.next()).poll(&mut cx) {
                    Poll::Pending => return,
                    Poll::Ready(Some(chunk)) => {
                        Some((writer.conn.clone(), writer.outbox.clone(), chunk))
                    }
                    Poll::Ready(None) => None,
                }
            };
            match next {
                Some((conn, outbox, chunk)) => self.send_chunk(&conn, &outbox, chunk),
                None => return self.writer_ended(index),
            }
        }
    }

    fn writer_ended(&self, index: usize) {
        let Some(writer) = self.writers.borrow_mut()[index].take() else {
            return;
        };
        self.writers_free.borrow_mut().push(index);
        writer.conn.written_out.set(true);
        let sender = writer.conn.sender.borrow_mut().take();
        if let Some(w) = sender {
            w.wake();
        }
    }

    fn send_from(&self, conn: Rc<Conn>, outbox: Rc<Outbox>, chunk: ReplyChunk, offset: usize) {
        let rest = &chunk[offset..];
        let len = rest.len().min(u32::MAX as usize) as u32;
        let entry = on_socket!(conn, |socket| opcode::Send::new(socket, rest.as_ptr(), len)
            .flags(libc::MSG_NOSIGNAL)
            .build());
        self.queue(
            Op::Send {
                conn,
                outbox,
                chunk,
                offset,
            },
            entry,
        );
    }

    fn sent(&self, conn: Rc<Conn>, outbox: Rc<Outbox>, chunk: ReplyChunk, offset: usize, res: i32) {
        if res <= 0 {
            outbox.written(0);
            outbox.close();
        } else if offset + (res as usize) < chunk.len() {
            return self.send_from(conn, outbox, chunk, offset + res as usize);
        } else {
            outbox.written(chunk.len());
            outbox.recycle(chunk);
            if let Some(next) = outbox.try_next() {
                return self.send_from(conn, outbox, next, 0);
            }
        }
        conn.sending.set(false);
        if let Some(w) = conn.sender.borrow_mut().take() {
            w.wake();
        }
    }

    fn complete(&self, slot: u64, res: i32, flags: u32) {
        let more = cqueue::more(flags);
        let op = {
            let mut ops = self.ops.borrow_mut();
            if more {
                match &ops[slot as usize] {
                    Some(Op::Accept(a)) => Op::Accept(a.clone()),
                    Some(Op::Recv(c)) => Op::Recv(c.clone()),
                    _ => return,
                }
            } else {
                let Some(op) = ops[slot as usize].take() else {
                    return;
                };
                self.free.borrow_mut().push(slot);
                op
            }
        };
        match op {
            Op::Accept(acceptor) => self.accepted(acceptor, res, more),
            Op::Recv(conn) => self.received(slot, conn, res, flags, more),
            Op::RecvInto(conn, tail) => self.received_into(conn, tail, res),
            Op::Readable(conn) => self.readable(conn, res),
            Op::Send {
                conn,
                outbox,
                chunk,
                offset,
            } => self.sent(conn, outbox, chunk, offset, res),
            Op::Cancel => {}
            Op::Watch(index) => self.watched.borrow_mut()[index].1 = None,
            Op::Notified => self.notifier_armed.set(false),
            Op::Sync(done) => done(res),
        }
    }

    fn accepted(&self, acceptor: Rc<Acceptor>, res: i32, more: bool) {
        if res >= 0 {
            // SAFETY: the descriptor of a connection the kernel just accepted.
            (acceptor.on_accept)(unsafe { OwnedFd::from_raw_fd(res) });
            if !more && !(acceptor.stopped)() {
                self.accept(acceptor);
            }
        } else if !(acceptor.stopped)() {
            // Out of descriptors, say: accept again after a pause.
            log::warn!("accept failed: {}", std::io::Error::from_raw_os_error(-res));
            if let (false, Some(me)) = (more, self.me.upgrade()) {
                ::glommio::spawn_local(async move {
                    ::glommio::timer::sleep(ACCEPT_RETRY_INTERVAL).await;
                    me.accept(acceptor);
                })
                .detach();
            }
        }
    }
}

/// Moves what fits of `backlog` into the ring's submission queue. Returns the
/// entries queued there and whether the kernel holds completions to run.
fn fill_submissions(ring: &mut IoUring, backlog: &mut VecDeque<squeue::Entry>) -> (usize, bool) {
    let mut sq = ring.submission();
    while let Some(entry) = backlog.front() {
        // SAFETY: every entry's buffers are owned by its slot in `ops` until its
        // completion.
        if unsafe { sq.push(entry) }.is_err() {
            break;
        }
        backlog.pop_front();
    }
    (sq.len(), sq.taskrun() || sq.cq_overflow())
}

/// Submits `pending` entries, runs the kernel's completions and waits for
/// `wait_for` of them, or until `timeout` has passed. An interrupted enter, a full
/// completion queue (`EBUSY`) or the kernel short of memory for a request
/// (`EAGAIN`) is no error: what it left brings the loop back (an error here would
/// end the core: glommio's reactor sleeps through this call); nor is the timeout.
fn enter_ring(
    enter: Enter,
    pending: usize,
    wait_for: usize,
    timeout: Option<Duration>,
) -> std::io::Result<()> {
    entered_ok(enter.enter(pending, wait_for, timeout))
}

/// An `io_uring_enter`'s outcome, with what is no error (see [`enter_ring`]; a
/// wait's timeout, `ETIME`, is none either).
fn entered_ok(entered: std::io::Result<usize>) -> std::io::Result<()> {
    match entered {
        Ok(_) => Ok(()),
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::EINTR | libc::EBUSY | libc::EAGAIN | libc::ETIME)
            ) =>
        {
            Ok(())
        }
        Err(e) => Err(e),
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Operations still in flight when the ring is torn down may touch their
        // buffers until the kernel cancels them: leave those buffers to the exit.
        std::mem::forget(std::mem::take(&mut *self.ops.borrow_mut()));
    }
}

/// Returns pending once, after waking its task: the executor runs the other ready
/// tasks first.
async fn yield_once() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await
}
