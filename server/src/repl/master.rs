//! A master shard's side of one replica stream.
//!
//! ```text
//!  client connection: AUTH, REPLCONF ..., CKV.SYNC s N id lsn
//!        │  (the stream may land on any core: its socket moves to core s)
//!        ▼
//!  core s: decide ──► +CONTINUE id lsn ──────────────────────────┐
//!              └────► +FULLRESYNC id L, snapshot of the shard at  │
//!                     L (copy-on-write, chunk by chunk) ──────────┤
//!                                                                 ▼
//!          records from the journal's segment files, as written:
//!          RECORDS frames of whole records, HEARTBEAT at least once a second,
//!          CHECKPOINT once the records through its LSN for the shard are sent
//!  the replica's REPLCONF ACKs ──► acknowledged LSNs and checkpoint (INFO, ROLE,
//!          WAIT)
//! ```
//!
//! Checkpoints ([`crate::repl`]'s module doc): while it waits for records, each
//! stream looks every [`CHECKPOINT_INTERVAL_MS`] whether the shards' written LSNs
//! moved past the newest checkpoint and makes one; `WAIT` makes one and wakes every
//! core's streams ([`wake_streams`]) so its checkpoint goes out at once.
//!
//! The master keeps no per-replica backlog: records are read from the segment files
//! (the journal is the backlog), a snapshot is produced a chunk at a time as the
//! socket takes it (the stream's outbox runs at most a few frames ahead, under the
//! `replica` class's `client-output-buffer-limit`), and a replica that falls so far
//! behind that the segments it needs were deleted by a journal rewrite is cut off
//! and resyncs.

use std::cell::{Cell, RefCell};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use corekv_engine::journal::{tx_participants, Scanner};
use corekv_engine::keyspace::SnapshotProgress;
use corekv_engine::limits::JOURNAL_RECORD_HEADER_BYTES;
use corekv_engine::resp::parse;
use corekv_replication::checkpoint::CHECKPOINT_INTERVAL_MS;
use corekv_replication::frame::{
    encode_checkpoint, encode_header, Frame, FrameKind, Heartbeat, FRAME_BATCH_BYTES_MAX,
    HEARTBEAT_INTERVAL_MS,
};
use corekv_replication::handshake::{Replconf, SyncReply};
use corekv_replication::history::{decide, Decision, JournalSpan};
use futures::io::{ReadHalf, WriteHalf};
use futures::{AsyncReadExt, AsyncWriteExt};
use glommio::io::BufferedFile;
use glommio::net::TcpStream;

use crate::config::OutputClass;
use crate::net::write_out;
use crate::persist::datadir;
use crate::runtime::clock::now_ms;
pub use crate::session::client::HandOver;
use crate::session::outbox::Outbox;
use crate::shard::answer::Answer;
use crate::shard::global::Global;
use crate::shard::mesh::Msg;
use crate::shard::Core;

/// Bytes read from a segment file at a time (about one frame).
const SEGMENT_READ_BYTES: usize = FRAME_BATCH_BYTES_MAX;
/// Snapshot entry bytes produced per step before the socket takes them.
const SNAPSHOT_CHUNK_BYTES: usize = 256 * 1024;
/// How often a stream holding a transaction part back looks again.
const PART_WAIT_INTERVAL: Duration = Duration::from_millis(1);
/// Output a stream produces ahead of what its socket took before it waits.
const REPLICA_OUTPUT_AHEAD_BYTES: u64 = 4 * FRAME_BATCH_BYTES_MAX as u64;
/// How often a stream waiting for its socket checks the output-buffer limit.
const OUTPUT_LIMIT_CHECK_INTERVAL: Duration = Duration::from_millis(100);
/// Longest `REPLCONF ACK` line the master reads from a replica.
const ACK_INPUT_BYTES_MAX: usize = 64 * 1024;

thread_local! {
    /// This core's streams waiting for records, woken when `WAIT` made a checkpoint.
    static CHECKPOINT_WAKE: LocalWake = LocalWake::default();
}

/// A generation and the tasks waiting for it to change, on one core.
#[derive(Default)]
struct LocalWake {
    generation: Cell<u64>,
    waiters: RefCell<Vec<Waker>>,
}

/// Wakes this core's streams: a new checkpoint may be theirs to send.
pub fn wake_streams() -> Msg {
    Msg::Control(Box::new(|_| {
        CHECKPOINT_WAKE.with(|w| {
            w.generation.set(w.generation.get() + 1);
            w.waiters.borrow_mut().drain(..).for_each(Waker::wake);
        });
        Answer::Done
    }))
}

fn wake_generation() -> u64 {
    CHECKPOINT_WAKE.with(|w| w.generation.get())
}

/// Ready once [`wake_streams`] ran on this core after `since` was read.
async fn woken(since: u64) {
    std::future::poll_fn(|cx| {
        CHECKPOINT_WAKE.with(|w| {
            if w.generation.get() != since {
                return Poll::Ready(());
            }
            let mut waiters = w.waiters.borrow_mut();
            if !waiters.iter().any(|x| x.will_wake(cx.waker())) {
                waiters.push(cx.waker().clone());
            }
            Poll::Pending
        })
    })
    .await
}

/// Makes a checkpoint of the shards' written LSNs if they moved past the newest
/// and the interval passed.
fn periodic_checkpoint(g: &Global) {
    let lsns: Vec<u64> = g
        .repl
        .written
        .iter()
        .map(|w| w.load(Ordering::Acquire))
        .collect();
    let now = now_ms();
    let mut state = g.repl.lock();
    if state.chain.due(now, &lsns) {
        state.chain.make(&lsns, now);
    }
}

/// The newest checkpoint after `after` that a stream of `shard` that sent records
/// through `sent_lsn` may send: its id and frame.
fn checkpoint_to_send(
    g: &Global,
    shard: usize,
    sent_lsn: u64,
    after: u64,
) -> Option<(u64, Vec<u8>)> {
    let state = g.repl.lock();
    let checkpoint = state.chain.passed(shard, sent_lsn, after)?;
    let mut frame = Vec::new();
    encode_checkpoint(checkpoint, &mut frame);
    Some((checkpoint.id, frame))
}

/// Serves the stream on this core, or moves its socket to the core that owns the
/// shard over the mesh.
pub async fn hand_over(core: &Rc<Core>, socket: OwnedFd, handover: HandOver) {
    let target = handover.request.shard;
    if target == core.id {
        adopt(core, socket, handover);
        return;
    }
    core.tell(
        target,
        Msg::Control(Box::new(move |core| {
            adopt(core, socket, handover);
            Answer::Done
        })),
    )
    .await;
}

/// Serves a stream whose socket is handed over whole, on this (the shard's) core.
pub fn adopt(core: &Rc<Core>, fd: OwnedFd, handover: HandOver) {
    // The stream's reader and writer close their descriptor when both have ended, and
    // the kernel soon gives its number to another connection: the stream's last
    // shutdown goes through a descriptor of its own, open until the stream ends.
    let kept = match fd.try_clone() {
        Ok(kept) => kept,
        Err(e) => {
            log::warn!(
                "shard {}: replica {}:{} dropped: {e}",
                core.id,
                handover.ip,
                handover.port
            );
            return;
        }
    };
    // SAFETY: the descriptor is a connected TCP socket handed over whole.
    let stream = unsafe { TcpStream::from_raw_fd(fd.into_raw_fd()) };
    glommio::spawn_local(serve(core.clone(), stream, kept, handover)).detach();
}

/// Serves one replica stream on the shard's core: refuses it if this server cannot
/// be replicated now, decides where it starts, then streams until the link ends.
async fn serve(core: Rc<Core>, stream: TcpStream, kept: OwnedFd, handover: HandOver) {
    let (reader, mut writer) = stream.split();
    let decided = match refusal(&core) {
        Some(text) => Err(text.to_string()),
        None => decide_start(&core, &handover),
    };
    match decided {
        Ok(start) => stream_to_replica(core, reader, writer, kept.as_fd(), &handover, start).await,
        Err(text) => {
            let _ = writer.write_all(text.as_bytes()).await;
        }
    }
}

/// Why this server cannot be replicated now, as the error reply; `None` if it can.
fn refusal(core: &Core) -> Option<&'static str> {
    let g = &core.global;
    if !core.journal.enabled {
        Some("-ERR replication needs appendonly yes on the master (the journal is the replication log)\r\n")
    } else if g.is_loading() {
        Some("-LOADING Redis is loading the dataset in memory\r\n")
    } else if g.repl.is_replica() {
        Some("-ERR this server is a replica: replicate its master instead\r\n")
    } else {
        None
    }
}

/// Where a stream starts, as decided on the shard's core.
struct Start {
    /// The replication epoch the stream serves: it ends when the epoch changes.
    epoch: u64,
    /// The first LSN whose record it sends.
    next_lsn: u64,
    /// The reply to the sync request: `+CONTINUE` or `+FULLRESYNC`.
    reply: Vec<u8>,
    /// For a full resync, the snapshot started for it: its writer id and header.
    snapshot: Option<(u64, Vec<u8>)>,
}

/// Decides, from the replication history and the journal this shard holds, whether
/// the replica continues from where it asked or resyncs in full from a snapshot of
/// the shard at its last LSN, which this starts. `Err`: the refusal, as its reply.
fn decide_start(core: &Core, handover: &HandOver) -> Result<Start, String> {
    let g = &core.global;
    let shard = core.id;
    let epoch = g.repl.epoch();
    let history = g.replication.lock().expect("replication state").history();
    let mut s = core.shard.borrow_mut();
    let last = s.log().last_lsn();
    let span = JournalSpan::new(core.journal.first_lsn.get().min(last + 1), last);
    match decide(&history, span, &handover.request) {
        Decision::Refuse(refusal) => Err(format!("-{}\r\n", refusal.message())),
        Decision::Continue { replid, next_lsn } => {
            let mut reply = Vec::new();
            SyncReply::Continue { replid, next_lsn }.encode(&mut reply);
            g.repl.sync_partial_ok.fetch_add(1, Ordering::Relaxed);
            Ok(Start {
                epoch,
                next_lsn,
                reply,
                snapshot: None,
            })
        }
        Decision::FullResync { replid, reason } => {
            if handover.request.replid.is_some() {
                g.repl.sync_partial_err.fetch_add(1, Ordering::Relaxed);
            }
            g.repl.sync_full.fetch_add(1, Ordering::Relaxed);
            log::info!(
                "shard {shard}: full resync of replica {}:{} at LSN {last} ({reason:?})",
                handover.ip,
                handover.port
            );
            let mut reply = Vec::new();
            SyncReply::FullResync {
                replid,
                snapshot_lsn: last,
            }
            .encode(&mut reply);
            let writer_id = core.next_snapshot_id();
            let header =
                s.keyspace_mut()
                    .start_snapshot(writer_id, shard, core.shards(), last, now_ms());
            Ok(Start {
                epoch,
                next_lsn: last + 1,
                reply,
                snapshot: Some((writer_id, header)),
            })
        }
    }
}

/// Streams to the replica from `start`: the reply, a full resync's snapshot, then
/// records until the link, the epoch or the server ends, while a task of its own
/// reads the replica's acknowledgements. Then it lets go of the replica.
async fn stream_to_replica(
    core: Rc<Core>,
    reader: ReadHalf<TcpStream>,
    writer: WriteHalf<TcpStream>,
    socket: BorrowedFd<'_>,
    handover: &HandOver,
    start: Start,
) {
    let g = core.global.clone();
    let shard = core.id;
    let Start {
        epoch,
        next_lsn,
        reply,
        snapshot,
    } = start;
    let id = g.repl.lock().attach(&handover.ip, handover.port);
    let closed = Rc::new(Cell::new(false));
    glommio::spawn_local(read_acks(core.clone(), reader, id, closed.clone())).detach();
    let mut out = Output {
        outbox: Rc::new(Outbox::uncounted()),
        replica: format!("{}:{}", handover.ip, handover.port),
        fd: socket.as_raw_fd(),
    };
    let writing = glommio::spawn_local(write_out(writer, out.outbox.clone()));
    let result = async {
        out.send(&g, reply).await?;
        if let Some((writer_id, header)) = snapshot {
            g.repl.lock().syncing(id, true);
            let sent = send_snapshot(&core, &mut out, writer_id, header).await;
            g.repl.lock().syncing(id, false);
            sent?;
        }
        send_records(&core, &mut out, next_lsn, epoch, &closed).await
    }
    .await;
    if let Err(e) = result {
        log::info!(
            "shard {shard}: replication stream to {}:{} ended: {e}",
            handover.ip,
            handover.port
        );
    }
    closed.set(true);
    g.repl.lock().detach(id);
    out.outbox.close();
    // Wakes the acknowledgement reader, which holds the socket open, and the writing
    // task, and tells the replica at once rather than after its repl-timeout.
    // SAFETY: shutdown(2) on the stream's own descriptor, open until it returns.
    unsafe { libc::shutdown(socket.as_raw_fd(), libc::SHUT_RDWR) };
    writing.await;
}

/// A replica stream's output: frames queue in an outbox that a writing task drains,
/// under the `replica` class's `client-output-buffer-limit`. The stream produces
/// at most [`REPLICA_OUTPUT_AHEAD_BYTES`] ahead of the socket, since the journal is
/// the backlog; a replica that leaves that much unread for longer than the soft
/// limit's seconds, or any limit below it, drops the link, and the replica
/// reconnects and resumes (Redis's behaviour with a slow replica).
struct Output {
    outbox: Rc<Outbox>,
    /// `ip:port` of the replica, for the log.
    replica: String,
    fd: std::os::fd::RawFd,
}

impl Output {
    async fn send(&mut self, g: &Global, frame: Vec<u8>) -> Result<(), String> {
        let limit = || g.config.hot.output_limit(OutputClass::Replica);
        let over = |o: &Output| {
            log::warn!(
                "Client addr={} fd={} flags=S omem={} scheduled to be closed ASAP for overcoming of output buffer limits.",
                o.replica,
                o.fd,
                o.outbox.pending_bytes(),
            );
            "over the replica output-buffer limit".to_string()
        };
        if self.outbox.push(frame, limit(), Instant::now).is_err() {
            return Err(over(self));
        }
        while self.outbox.pending_bytes() > REPLICA_OUTPUT_AHEAD_BYTES {
            futures::future::select(
                Box::pin(self.outbox.park(Some(REPLICA_OUTPUT_AHEAD_BYTES))),
                Box::pin(glommio::timer::sleep(OUTPUT_LIMIT_CHECK_INTERVAL)),
            )
            .await;
            if self.outbox.is_closed() {
                return Err("the replica's socket failed".into());
            }
            if self.outbox.check(limit(), Instant::now).is_err() {
                return Err(over(self));
            }
        }
        Ok(())
    }
}

/// Sends the snapshot registered as `writer_id`, a chunk at a time.
async fn send_snapshot(
    core: &Core,
    out: &mut Output,
    writer_id: u64,
    header: Vec<u8>,
) -> Result<(), String> {
    let mut buf = header;
    loop {
        let finished = {
            let mut shard = core.shard.borrow_mut();
            let ks = shard.keyspace_mut();
            match ks.snapshot_chunk(writer_id, now_ms(), SNAPSHOT_CHUNK_BYTES, &mut buf) {
                None => {
                    return Err(
                        "snapshot abandoned: FLUSHDB, FLUSHALL or SWAPDB ran meanwhile".into(),
                    )
                }
                Some(progress) => progress != SnapshotProgress::More,
            }
        };
        for chunk in buf.chunks(FRAME_BATCH_BYTES_MAX) {
            let mut frame = Vec::with_capacity(chunk.len() + 8);
            Frame::SnapshotChunk(chunk).encode(&mut frame);
            out.send(&core.global, frame).await?;
        }
        buf.clear();
        if finished {
            let mut frame = Vec::new();
            Frame::SnapshotEnd.encode(&mut frame);
            return out.send(&core.global, frame).await;
        }
    }
}

/// Sends records from `next` on as the journal writer puts them in the file, and a
/// heartbeat at least once a second, until the link or the epoch ends.
async fn send_records(
    core: &Core,
    out: &mut Output,
    mut next: u64,
    epoch: u64,
    closed: &Cell<bool>,
) -> Result<(), String> {
    let g = &core.global;
    let j = &core.journal;
    let heartbeat_every = Duration::from_millis(HEARTBEAT_INTERVAL_MS);
    let checkpoint_every = Duration::from_millis(CHECKPOINT_INTERVAL_MS);
    let mut reader: Option<SegmentReader> = None;
    let mut last_heartbeat: Option<Instant> = None;
    let mut frame = Vec::new();
    let mut checkpoint_sent = 0;
    let mut checkpoint_looked: Option<Instant> = None;
    loop {
        if closed.get() || g.repl.epoch() != epoch || g.shutdown.is_fired() {
            return Err("closed".into());
        }
        let generation = wake_generation();
        if checkpoint_looked.is_none_or(|t| t.elapsed() >= checkpoint_every) {
            periodic_checkpoint(g);
            checkpoint_looked = Some(Instant::now());
        }
        let written = j.written_lsn();
        if next <= written {
            let r = match &mut reader {
                Some(r) => r,
                None => reader.insert(SegmentReader::open(&j.shard_dir, next).await?),
            };
            frame.clear();
            frame.resize(5, 0);
            let (records, held) = r.read(next, written, &g.repl, &mut frame).await?;
            if records == 0 && held {
                // A transaction part waits for the other participants' parts.
                glommio::timer::sleep(PART_WAIT_INTERVAL).await;
                continue;
            }
            if records == 0 {
                // The segment ends: the next record is in the one that follows.
                *r = SegmentReader::open_exact(&j.shard_dir, next).await?;
                continue;
            }
            let mut header = Vec::with_capacity(5);
            encode_header(FrameKind::Records, frame.len() - 5, &mut header);
            frame[..5].copy_from_slice(&header);
            out.send(g, std::mem::take(&mut frame)).await?;
            next += records;
        }
        if let Some((id, marker)) = checkpoint_to_send(g, core.id, next - 1, checkpoint_sent) {
            out.send(g, marker).await?;
            checkpoint_sent = id;
        }
        let due = last_heartbeat.is_none_or(|t| t.elapsed() >= heartbeat_every);
        if due {
            let mut hb = Vec::new();
            Frame::Heartbeat(Heartbeat {
                last_lsn: core.shard.borrow().log().last_lsn(),
                master_unix_ms: now_ms(),
            })
            .encode(&mut hb);
            out.send(g, hb).await?;
            last_heartbeat = Some(Instant::now());
        }
        if next > j.written_lsn() {
            let wait = heartbeat_every
                .saturating_sub(last_heartbeat.map_or(Duration::ZERO, |t| t.elapsed()))
                .min(checkpoint_every);
            let written = j.written_lsn();
            let records_or_timer = futures::future::select(
                Box::pin(j.wait_written(written)),
                Box::pin(glommio::timer::sleep(wait)),
            );
            futures::future::select(records_or_timer, Box::pin(woken(generation))).await;
        }
    }
}

/// Reads `REPLCONF ACK shard lsn` from the replica until the link closes.
async fn read_acks(
    core: Rc<Core>,
    mut input: ReadHalf<TcpStream>,
    id: u64,
    closed: Rc<Cell<bool>>,
) {
    let mut buf = BytesMut::new();
    let mut scratch = vec![0u8; 4096];
    while !closed.get() {
        let n = match input.read(&mut scratch).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        buf.extend_from_slice(&scratch[..n]);
        loop {
            let frame = match parse(&buf, ACK_INPUT_BYTES_MAX as u64) {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(_) => {
                    closed.set(true);
                    return;
                }
            };
            let bytes: Bytes = buf.split_to(frame.consumed).freeze();
            let args = frame.to_args(&bytes, 0);
            if let Ok(Replconf::Ack {
                shard,
                lsn,
                run,
                checkpoint,
            }) = Replconf::parse(&args)
            {
                if shard == core.id {
                    core.global.repl.lock().ack(id, shard, lsn, run, checkpoint);
                }
            }
        }
        if buf.len() > ACK_INPUT_BYTES_MAX {
            break;
        }
    }
    closed.set(true);
}

/// Reads whole records from one journal segment file, from the start.
struct SegmentReader {
    file: BufferedFile,
    path: PathBuf,
    /// Offset of the first record not read yet.
    pos: u64,
}

impl SegmentReader {
    /// Opens the segment that holds `lsn`: the newest whose first LSN is not after it.
    async fn open(dir: &Path, lsn: u64) -> Result<SegmentReader, String> {
        let listing = datadir::list(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let Some((_, path)) = listing
            .segments
            .iter()
            .rev()
            .find(|(first, _)| *first <= lsn)
        else {
            return Err(format!("the journal no longer holds LSN {lsn}"));
        };
        SegmentReader::open_path(path.clone()).await
    }

    /// Opens the segment that starts at `lsn` (the one after a finished segment).
    async fn open_exact(dir: &Path, lsn: u64) -> Result<SegmentReader, String> {
        let path = datadir::segment_path(dir, lsn);
        if !path.exists() {
            return Err(format!("the journal no longer holds LSN {lsn}"));
        }
        SegmentReader::open_path(path).await
    }

    async fn open_path(path: PathBuf) -> Result<SegmentReader, String> {
        let file = BufferedFile::open(&path)
            .await
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(SegmentReader { file, path, pos: 0 })
    }

    /// Appends to `out` the whole records `next..=until` that follow in the file,
    /// about a frame's worth; returns how many, and whether a transaction part
    /// whose other participants' parts are not written yet stopped it. Records
    /// before `next` are skipped (the first read after opening). `(0, false)`: the
    /// file holds no more of them.
    async fn read(
        &mut self,
        next: u64,
        until: u64,
        repl: &crate::repl::role::Repl,
        out: &mut Vec<u8>,
    ) -> Result<(u64, bool), String> {
        let io = |e: glommio::GlommioError<()>| format!("{}: {e}", self.path.display());
        let mut want = SEGMENT_READ_BYTES;
        loop {
            let data = self.file.read_at(self.pos, want).await.map_err(io)?;
            if data.is_empty() {
                return Ok((0, false));
            }
            let mut count = 0u64;
            let mut used = 0usize;
            let mut held = false;
            for r in Scanner::new(&data) {
                if r.lsn >= next {
                    let expected = next + count;
                    if r.lsn != expected {
                        return Err(format!(
                            "{}: LSN {} where {expected} was expected",
                            self.path.display(),
                            r.lsn
                        ));
                    }
                    if r.lsn > until {
                        break;
                    }
                    if let Some(parts) = tx_participants(&data[r.payload.clone()]) {
                        let parts = parts.map_err(|e| {
                            format!(
                                "{}: record {} does not decode ({e:?})",
                                self.path.display(),
                                r.lsn
                            )
                        })?;
                        if !repl.parts_written(&parts) {
                            held = true;
                            break;
                        }
                    }
                    out.extend_from_slice(&data[r.offset..r.end()]);
                    count += 1;
                }
                used = r.end();
            }
            self.pos += used as u64;
            if count > 0 || held {
                return Ok((count, held));
            }
            if used == 0 {
                // No whole record: a record longer than the read, or the end.
                let Some(head) = data.first_chunk::<4>() else {
                    return Ok((0, false));
                };
                let need = JOURNAL_RECORD_HEADER_BYTES + u32::from_le_bytes(*head) as usize;
                if need > data.len() && data.len() == want {
                    want = need;
                    continue;
                }
                if next <= until && data.len() >= need {
                    return Err(format!(
                        "{}: a damaged record at offset {}",
                        self.path.display(),
                        self.pos
                    ));
                }
                return Ok((0, false));
            }
        }
    }
}
