//! One client connection's logic, socket-agnostic: bytes in, bytes out.
//!
//! A driver ([`crate::net`]) opens a [`Session`] for an accepted connection, hands
//! it every chunk of bytes the socket delivers ([`Session::received`], or appended
//! to the session's [`Input`] by the driver itself, then [`Session::run_received`])
//! and writes whatever the session's [`Outbox`] holds. The session frames every complete
//! request in its input, runs them as pipeline batches ([`crate::exec`]) and
//! appends the replies to the outbox:
//!
//! ```text
//!  driver ──bytes──► input ──frame──► batch ──run_batch──► replies ──push──► outbox
//!    ▲                 │ query-buffer limit        output-buffer limit ──┘   │
//!    └───────────────── chunks to write ◄──────────────────────────────────────┘
//! ```
//!
//! A batch runs in chunks sized from the reply bytes seen so far, each chunk's
//! replies pushed as soon as they exist, so a pipeline of large replies never sits
//! in memory whole: the driver writes while later chunks run, and a client that
//! does not read is closed when its pending output breaks its class's
//! `client-output-buffer-limit` (Redis's log line and all). A client that has not
//! authenticated (while a password is required) is held instead: its session parks
//! until its pending output drains, so what it is owed stays small whatever it
//! sends.
//!
//! A long pipeline shares its core in turns. Its chunks are also sized from the time
//! per command, so that the session reaps the ring every [`REAP_INTERVAL`]; if the
//! reap gave another connection input, the turn ends there (the others run, and a
//! second reap sends what they replied), else it ends after [`BATCH_TIME_MAX`] or
//! with the batch. Measured while `redis-cli --pipe` loaded 10M keys into one core
//! and a second connection sent one GET at a time (the shard thread's CPU clock,
//! from a GET's receive reaped to its reply's send queued): p99 3.9 ms and p99.9
//! 6.9 ms with turns ended only by time, p99 0.5 ms and p99.9 1.4 ms reaping every
//! 0.2 ms; the GETs' round trip at the median 1.6 ms before, 0.25 ms after (five
//! times as many GETs in the load), at no more CPU for the load.
//!
//! [`Mode::CannedReply`] answers every request `+OK` without running it, to measure
//! a driver alone (`corekv-server --canned-reply`).

pub mod admission;
pub mod client;
pub mod input;
pub mod outbox;
pub mod registry;

use std::cell::RefCell;
use std::future::Future;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use corekv_engine::resp::{
    self, Args, Framed, Protocol, ProtocolError, Reply, ReplyBuf, RequestParser,
};

pub use client::{Client, ClientInfo};
pub use input::Input;
pub use outbox::Outbox;

use crate::net::addr::ClientAddr;
use crate::session::client::HandOver;
use crate::shard::blocking::PeerWatch;
use crate::shard::Core;

/// Most requests framed into one batch before running it.
const BATCH_COMMANDS_MAX: usize = 1024;
/// Time a pipeline runs before other connections get a turn whatever the network
/// brought (tasks woken other than by a connection's input run then), however much
/// of its batch is left (a batch's chunks are sized from the time per command of
/// the one before).
const BATCH_TIME_MAX: Duration = Duration::from_millis(1);
/// Time a pipeline runs between two reaps of the ring: a request that arrived on
/// another connection meanwhile ends the pipeline's turn at the reap, so it waits
/// about this long behind a long pipeline rather than [`BATCH_TIME_MAX`].
const REAP_INTERVAL: Duration = Duration::from_micros(200);
/// Commands the batch buffer keeps room for between batches: a pipeline of up to
/// this many reuses it, a longer one allocates its own (so an idle connection does
/// not hold a burst's worth).
const BATCH_KEPT_COMMANDS_MAX: usize = 32;
/// Reply bytes a batch chunk aims at before its replies go to the outbox.
const OUTPUT_CHUNK_BYTES: usize = 256 * 1024;
/// Commands in a connection's first chunk, before any reply size is known.
const FIRST_CHUNK_COMMANDS: usize = 16;
/// Pending output at which a client that has not authenticated stops being served
/// until the driver has written it out.
const UNAUTHENTICATED_OUTPUT_BYTES_MAX: u64 = 64 * 1024;
/// The reply of a canned-reply session to every request.
const CANNED_REPLY: &[u8] = b"+OK\r\n";

/// What a session does with requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Runs them.
    Commands,
    /// Answers `+OK` without running them: the driver measured alone.
    CannedReply,
}

/// The connection a driver accepted.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    pub addr: ClientAddr,
    pub laddr: ClientAddr,
    /// The socket, for `CLIENT LIST` and for `CLIENT KILL` to shut it down.
    pub fd: RawFd,
}

/// What the driver does after handing the session bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    /// Read more.
    Read,
    /// Write what the outbox holds, then close (or hand the socket over).
    Close,
}

/// Why a session ended other than by the client closing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Quit,
    Protocol,
    QueryBufferLimit,
    OutputBufferLimit,
}

/// Deregisters client `id` from its core: gone from `CLIENT LIST` and from the
/// connected count. Idempotent: a driver calls it as soon as it sees the peer
/// close, before the session itself closes.
pub fn forget(core: &Core, id: u64) {
    if core.clients.borrow_mut().remove(id) {
        core.global
            .connected_clients
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// One client connection, between its driver and the command path.
pub struct Session {
    core: Rc<Core>,
    client: Client,
    mode: Mode,
    outbox: Rc<Outbox>,
    /// Shared with the driver, which appends to it.
    input: Rc<Input>,
    parser: RequestParser,
    /// The requests framed for the next batch, its buffers reused across batches.
    framed: Framed,
    /// The commands of the batch being run, its buffer reused across batches.
    batch: Vec<Args>,
    /// The input `batch` was sliced from: its arguments' references to it are
    /// given back together once the batch ran ([`resp::release_batch`]).
    batch_input: Bytes,
    /// Replies of the running chunk, before they go to the outbox, in the client's
    /// protocol.
    out: ReplyBuf,
    /// Reply bytes per command in the last chunk: sizes the next chunk.
    reply_bytes_per_command: usize,
    /// Nanoseconds per command in the last chunk: sizes the next chunk too.
    ns_per_command: u64,
    end: Option<End>,
}

impl Session {
    /// Admits and registers a connection, or returns Redis's refusal text, which the
    /// driver writes before closing.
    pub fn open(core: Rc<Core>, peer: Peer, mode: Mode) -> Result<Session, &'static str> {
        let global = core.global.clone();
        if let Some(refusal) = admission::refusal(&core, &peer.addr) {
            global.rejected_connections.fetch_add(1, Ordering::Relaxed);
            return Err(refusal);
        }
        global.connected_clients.fetch_add(1, Ordering::Relaxed);
        global.total_connections.fetch_add(1, Ordering::Relaxed);
        let id = global.next_client_id.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let outbox = Rc::new(Outbox::default());
        let input = Rc::new(Input::default());
        let info = Rc::new(RefCell::new(ClientInfo {
            id,
            addr: peer.addr,
            laddr: peer.laddr,
            fd: peer.fd,
            peer: PeerWatch::new(peer.fd),
            name: String::new(),
            lib_name: String::new(),
            lib_ver: String::new(),
            created: now,
            last_active: now,
            db: 0,
            last_cmd: "NULL",
            resp: 2,
            qbuf: 0,
            input_alloc_bytes: 0,
            pubsub: false,
            blocked: false,
            ops: client::OpsInfo {
                multi: -1,
                ..Default::default()
            },
            outbox: outbox.clone(),
            input: input.clone(),
        }));
        core.clients.borrow_mut().add(info.clone());
        Ok(Session {
            core,
            client: Client {
                id,
                db: 0,
                authenticated: false,
                closing: false,
                info,
                replica_port: 0,
                replica_ip: None,
                handover: None,
                subs: Default::default(),
                multi: Default::default(),
                reply: Default::default(),
            },
            mode,
            outbox,
            input,
            parser: RequestParser::default(),
            framed: Framed::default(),
            batch: Vec::new(),
            batch_input: Bytes::new(),
            out: ReplyBuf::new(Protocol::Resp2),
            reply_bytes_per_command: OUTPUT_CHUNK_BYTES / FIRST_CHUNK_COMMANDS,
            ns_per_command: 0,
            end: None,
        })
    }

    /// The client id (`CLIENT ID`), the key of the core's client registry.
    pub fn id(&self) -> u64 {
        self.client.id
    }

    /// What the driver writes to the socket.
    pub fn outbox(&self) -> Rc<Outbox> {
        self.outbox.clone()
    }

    /// The connection's input buffer, which a driver may append to itself and then
    /// call [`Session::run_received`].
    pub fn input(&self) -> Rc<Input> {
        self.input.clone()
    }

    /// What tells a shard whether the peer has closed: a driver that reports
    /// the close itself keeps it ([`PeerWatch::watched`], [`PeerWatch::close`]).
    pub fn peer_watch(&self) -> PeerWatch {
        self.client.info.borrow().peer.clone()
    }

    /// Takes bytes the socket delivered: runs every complete request in them.
    pub async fn received(&mut self, bytes: &[u8]) -> Flow {
        self.input.append(bytes);
        self.run_received().await
    }

    /// Runs every complete request in the input (what the driver appended to it
    /// since the last run, after what that run left).
    pub async fn run_received(&mut self) -> Flow {
        self.core.stats.borrow_mut().net_input_bytes += self.input.unrun() as u64;
        self.input.run_begins();
        match self.run_input().await {
            Ok(()) => Flow::Read,
            Err(end) => {
                self.end = Some(end);
                Flow::Close
            }
        }
    }

    /// Deregisters the connection. Returns the replication stream it became, if
    /// `CKV.SYNC` made it one and it ended cleanly; the driver then hands the
    /// socket over.
    pub fn close(mut self) -> Option<HandOver> {
        let id = self.client.id;
        if let Some(end) = self.end.filter(|e| *e != End::Quit) {
            log::debug!(
                "client {id} ({}) closed: {end:?}",
                self.client.info.borrow().addr
            );
        }
        // What arrived after the last run began (and never ran) was received too.
        self.core.stats.borrow_mut().net_input_bytes += self.input.unrun() as u64;
        self.outbox.finish();
        crate::pubsub::unsubscribe_all(&self.core, &mut self.client);
        crate::exec::multi::on_close(&self.core, &mut self.client);
        forget(&self.core, id);
        match self.end {
            None | Some(End::Quit) => self.client.handover.take(),
            Some(_) => None,
        }
    }

    async fn run_input(&mut self) -> Result<(), End> {
        let global = self.core.global.clone();
        let hot = &global.config.hot;
        loop {
            let framing = admission::framing(&self.core, &self.client);
            let (consumed, error) = frame_batch(
                &self.input.frame(),
                framing,
                &mut self.parser,
                &mut self.framed,
            );
            // A request over the limit is refused even when it arrived whole: Redis
            // holds a request in its query buffer until it is complete, so it would
            // have closed the client before running it.
            if consumed as u64 > hot.query_buffer_limit.load(Ordering::Relaxed) {
                self.check_query_buffer(self.framed.largest_request_bytes())?;
            }
            let taken = take_batch(
                &mut self.input.bytes_mut(),
                consumed,
                &mut self.framed,
                &mut self.batch,
                &mut self.batch_input,
            );
            if let Some(big) = taken {
                self.input.framed_big(big);
            }
            match self.mode {
                Mode::Commands => self.run_batch().await?,
                Mode::CannedReply => {
                    // Dropped in place, as `run_batch` leaves them: draining moved
                    // each request's arguments out to drop them.
                    for _ in 0..self.batch.len() {
                        self.out.extend_from_slice(CANNED_REPLY);
                    }
                    end_batch(&mut self.batch, &mut self.batch_input);
                    self.push_output()?;
                }
            }
            if let Some(e) = &error {
                self.out.error(&e.message());
                self.core.stats.borrow_mut().protocol_errors += 1;
                log::debug!("client {}: {}", self.client.id, e.message());
                self.push_output()?;
                return Err(End::Protocol);
            }
            if self.client.closing {
                return Err(End::Quit);
            }
            // A full batch may have left more complete requests in the buffer.
            if consumed == 0 || self.input.is_empty() || self.outbox.is_closed() {
                break;
            }
            // Other connections run between batches: a request behind a long
            // pipeline on another connection waits for one batch, not for all of
            // the input the driver handed over (up to a megabyte of it). The ring's
            // completions are reaped first: a request that arrived meanwhile on
            // another connection is not yet known to its task otherwise, and the
            // ring's own loop may not turn before the whole input has run.
            reap_network();
            yield_now().await;
            // What they replied is sent before the next batch runs.
            reap_network();
        }
        self.input.drained();
        // What arrived while the batches ran is framed by the next run; what this
        // one left is the start of a request not yet whole.
        let held = self.input.seen();
        let mut info = self.client.info.borrow_mut();
        info.qbuf = held;
        info.input_alloc_bytes = self.input.capacity();
        // A request whose announced bulk is past the limit is refused as soon as its
        // length is known, before the rest of it is buffered.
        drop(info);
        let wanted = self.parser.input_wanted().unwrap_or(0);
        self.check_query_buffer(wanted.max(held))?;
        self.input.want(wanted);
        Ok(())
    }

    /// Ends a client that holds (or would need to hold) more than
    /// `client-query-buffer-limit` bytes of requests.
    fn check_query_buffer(&self, held: usize) -> Result<(), End> {
        let limit = self
            .core
            .global
            .config
            .hot
            .query_buffer_limit
            .load(Ordering::Relaxed);
        if held as u64 > limit {
            log::warn!(
                "closing client {} that reached max query buffer length",
                self.client.id
            );
            return Err(End::QueryBufferLimit);
        }
        Ok(())
    }

    /// Runs the batch a chunk at a time, each chunk's replies going to the outbox.
    async fn run_batch(&mut self) -> Result<(), End> {
        // A batch of one command (pipeline 1) has no turn to bound: no clock is read.
        let timed = self.batch.len() > 1;
        let mut turn_started = timed.then(Instant::now);
        let mut reaped_at = turn_started;
        // The commands before `next` ran; they stay in `batch` until it is cleared.
        let mut next = 0;
        // A client closed meanwhile (`CLIENT KILL`) runs nothing more.
        while next < self.batch.len() && !self.client.closing && !self.outbox.is_closed() {
            let in_time = reaped_at.map_or(u64::MAX, |at| {
                let left = REAP_INTERVAL.saturating_sub(at.elapsed());
                (left.as_nanos() as u64 / self.ns_per_command.max(1)).max(1)
            });
            let chunk = (OUTPUT_CHUNK_BYTES / self.reply_bytes_per_command.max(1))
                .min(in_time as usize)
                .clamp(1, BATCH_COMMANDS_MAX);
            let left = &self.batch[next..];
            let chunk = crate::commands::client::chunk_len(&self.client, left, chunk);
            let commands = chunk.min(left.len());
            crate::commands::client::unpaused(&self.client, &left[..commands]).await;
            let (mark, mode) = (self.out.len(), self.client.reply);
            self.outbox.hold();
            let cmds = &mut self.batch[next..next + commands];
            next += commands;
            let busy = {
                let (core, client, out) = (&self.core, &mut self.client, &mut self.out);
                let mut run = std::pin::pin!(crate::exec::run_batch(core, client, cmds, out));
                if timed {
                    Some(busy_time(run.as_mut()).await)
                } else {
                    run.await;
                    None
                }
            };
            if let Some(busy) = busy {
                self.ns_per_command = busy.as_nanos() as u64 / commands as u64;
            }
            crate::commands::client::after_chunk(&mut self.client, &mut self.out, mark, mode);
            self.reply_bytes_per_command = self.out.len() / commands;
            self.push_output()?;
            self.outbox.release();
            if self.held_unauthenticated() {
                self.outbox
                    .park(Some(UNAUTHENTICATED_OUTPUT_BYTES_MAX))
                    .await;
            } else if next < self.batch.len() && commands as u64 >= in_time {
                // Time to reap: if that gave another connection input, or the turn's
                // time is up, other connections run, as between batches (see
                // `run_input`), and what they replied is sent at once.
                let woke = reap_network();
                if woke || turn_started.is_some_and(|at| at.elapsed() >= BATCH_TIME_MAX) {
                    yield_now().await;
                    reap_network();
                    turn_started = Some(Instant::now());
                }
                reaped_at = Some(Instant::now());
            } else if next < self.batch.len()
                && self.outbox.pending_bytes() >= OUTPUT_CHUNK_BYTES as u64
            {
                // Let the driver write what is pending before the next chunk runs.
                yield_now().await;
            }
        }
        end_batch(&mut self.batch, &mut self.batch_input);
        if self.batch.capacity() > BATCH_KEPT_COMMANDS_MAX {
            self.batch = Vec::new();
        }
        Ok(())
    }

    /// Whether the client owes authentication and is owed more than it may be.
    fn held_unauthenticated(&self) -> bool {
        !self.client.authenticated
            && self
                .core
                .global
                .config
                .hot
                .auth_required
                .load(Ordering::Relaxed)
            && self.outbox.pending_bytes() > UNAUTHENTICATED_OUTPUT_BYTES_MAX
    }

    /// Moves the replies produced so far to the outbox, under the client's
    /// output-buffer limit.
    fn push_output(&mut self) -> Result<(), End> {
        if self.out.is_empty() {
            return Ok(());
        }
        let spare = ReplyBuf::from_vec(self.outbox.spare(), self.out.protocol());
        let out = std::mem::replace(&mut self.out, spare);
        self.core.stats.borrow_mut().net_output_bytes += out.len() as u64;
        let class = self.client.info.borrow().class();
        let limit = self.core.global.config.hot.output_limit(class);
        if let Err(over) = self.outbox.push_reply(out, limit, Instant::now) {
            log::warn!(
                "Client {} scheduled to be closed ASAP for overcoming of output buffer limits.",
                self.client.info.borrow().line_with_omem(over.pending_bytes)
            );
            return Err(End::OutputBufferLimit);
        }
        Ok(())
    }
}

thread_local! {
    /// What reaps this core's network completions between batches, when its driver
    /// has a ring: installed by the driver ([`install_reaper`]), so sessions know
    /// nothing of drivers.
    static REAPER: std::cell::Cell<Option<fn() -> bool>> = const { std::cell::Cell::new(None) };
}

/// Makes [`Session`]s on this core call `reap` between the batches of a long input,
/// and every [`REAP_INTERVAL`] of a long batch; `reap` tells whether it gave
/// another connection input.
pub fn install_reaper(reap: fn() -> bool) {
    REAPER.with(|r| r.set(Some(reap)));
}

/// Reaps the network; true if another connection has input to run.
fn reap_network() -> bool {
    REAPER.with(|r| r.get()).is_some_and(|reap| reap())
}

/// Runs `run` to its end; returns the time spent inside its polls. The chunk sizing
/// counts only that: a chunk's wait for the journal (or another shard) is the core
/// running other work, and counted as the commands' time it would shrink the next
/// chunk, whose own wait would shrink the one after, down to one command (and one
/// journal write) per chunk: `appendfsync everysec` at pipeline 16 ran at 6x the
/// CPU per request that way.
///
/// The run is borrowed, pinned where the caller holds it: taken by value, an
/// `async fn`'s argument and its pinned local would be two slots of its size in
/// the connection task's state, which an idle connection keeps for as long as it
/// lives.
async fn busy_time(mut run: std::pin::Pin<&mut impl Future<Output = ()>>) -> Duration {
    let mut busy = Duration::ZERO;
    std::future::poll_fn(move |cx| {
        let started = Instant::now();
        let poll = run.as_mut().poll(cx);
        busy += started.elapsed();
        poll.map(|()| busy)
    })
    .await
}

/// Gives the executor's other tasks (the driver's writer) a turn.
fn yield_now() -> impl Future<Output = ()> {
    let mut yielded = false;
    std::future::poll_fn(move |cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
}

/// Frames complete requests from the start of `input`, up to a batch's worth, into
/// `framed`. Returns the bytes they span and the protocol error that stopped
/// framing, if any.
fn frame_batch(
    input: &[u8],
    framing: admission::Framing,
    parser: &mut RequestParser,
    framed: &mut Framed,
) -> (usize, Option<ProtocolError>) {
    let mut consumed = 0;
    let mut requests = 0;
    while requests < framing.batch_commands_max.min(BATCH_COMMANDS_MAX) {
        match parser.frame(&input[consumed..], framing.limits, consumed, framed) {
            Ok(Some(len)) => {
                consumed += len;
                requests += 1;
            }
            Ok(None) => break,
            Err(e) => return (consumed, Some(e)),
        }
    }
    (consumed, None)
}

/// Splits the framed bytes off `input` and slices each request's arguments out of
/// them without copying, into `batch` (emptied first). Requests without arguments
/// were dropped while framing, as Redis does. None if nothing was framed, else
/// the length of the longest big argument (0 if none).
fn take_batch(
    input: &mut bytes::BytesMut,
    consumed: usize,
    framed: &mut Framed,
    batch: &mut Vec<Args>,
    batch_input: &mut Bytes,
) -> Option<usize> {
    end_batch(batch, batch_input);
    if consumed == 0 {
        framed.clear();
        return None;
    }
    *batch_input = input.split_to(consumed).freeze();
    Some(framed.take_into(batch_input, batch))
}

/// Drops the batch that ran, giving back its arguments' references to `input` at
/// once ([`resp::release_batch`]), and lets go of `input`: the connection's input
/// buffer is then its own again (reused in place, or freed while idle).
fn end_batch(batch: &mut Vec<Args>, input: &mut Bytes) {
    resp::release_batch(input, batch);
    *input = Bytes::new();
}
