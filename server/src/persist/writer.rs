//! The journal writer task of one core: moves the shard's records into the open
//! segment (one `pwrite` per turn, on the core's thread) and syncs them under the
//! `appendfsync` policy (see [`super::journal`] for the handle it shares with the
//! request path), and what a reply waits for ([`wait_acked`]).
//!
//! A turn takes every record appended since the last one: the writer is woken by
//! the first batch that appends, and runs after the other tasks already runnable
//! on the core (every connection whose request arrived in the same reactor poll),
//! so their records share one write.
//!
//! A turn's records from [`OFFLOAD_WRITE_BYTES`] on (a 100 MB value's record) are
//! written from the executor's blocking thread while the core keeps serving: the
//! core then spends on a 100 MB `SET`'s journal record only its encoding (a copy)
//! and its checksum (about 10 ms, see `corekv_engine::journal`), not the tens of
//! milliseconds the kernel takes to copy it into the page cache.
//!
//! **Syncs are pipelined** (group commit with up to `SYNCS_IN_FLIGHT_MAX` syncs in
//! flight): a turn writes its records at once and, if fewer syncs are in flight,
//! starts one covering all that is written (`fdatasync` on the core's io_uring
//! ring, which the kernel runs in its workers) and returns without waiting for
//! it. The core keeps reading, running and writing the next requests meanwhile;
//! when a sync ends, its replies leave and the next sync starts at once with
//! everything written since. A sync started while another runs waits until it
//! covers as many records as that one (see `SYNCS_IN_FLIGHT_MAX`): each sync
//! costs the core's CPU the same, so two of about equal groups cost less per
//! write than a big one followed at once by one covering a loop turn's few. A
//! write's reply leaves once any sync started after its record was written has
//! ended (a sync covers what was written before it started; whichever of the
//! two ends first releases its replies). Redis instead reads, writes, syncs and
//! replies in turn on one thread and reads nothing while it syncs.
//!
//! **Records land in reserved zeros** ([`reserve`]): the segment is zero-filled a
//! megabyte ahead of its records, so a sync after a write finds no file growth to
//! commit (no inode or block map to write, nor a file-system journal transaction
//! where there is one: only the data and a cache flush);
//! one sync per megabyte of records commits the growth. Readers take the
//! journal's end from its records: the zeros read as its end, recovery cuts them
//! off, a segment is cut to its records before a rotation closes it, and so is
//! the open one when the core stops.
//!
//! Measured with `bench/persistence.py --only a --settings always` (50 clients,
//! pipeline 1, ext4 on a virtio disk shared with other work, alternating rounds):
//! the reserved zeros gave 1.21x the req/s of appending with two syncs in flight
//! (and 0.89x the CPU per request: no inode or block-map write per sync), the two
//! syncs 1.86x one. What a sync costs the core's CPU (`perf record` of the core's
//! CPU): the kernel worker that runs it writes the data and then flushes the
//! device's cache, each a request to the virtio disk whose notification exits to
//! the hypervisor, and sleeps and wakes for each; the device's queue work runs
//! there too — about 50 µs of CPU per sync, the same whatever it covers, so the
//! second sync in flight waits to cover as many records as the first: 0.84x the
//! syncs per write and 0.93x the CPU per request of starting it at once. A
//! `pwritev2(RWF_DSYNC)` in place of the write and its sync measured the same CPU
//! and time per sync as `pwrite` plus `fdatasync` on this disk (both are a data
//! write and a cache flush), so the two stay separate and one sync covers many
//! turns' writes.

use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::{Duration, Instant};

use futures::future::join_all;
use glommio::io::{BufferedFile, OpenOptions};

use crate::config::Fsync;
use crate::persist::datadir;
use crate::persist::journal::{misconf, os_error, Journal, SPARE_RECORDS_BYTES_MAX};
use crate::shard::answer::Answer;
use crate::shard::mesh::Msg;
use crate::shard::Core;

/// How often `appendfsync everysec` syncs, and how often stalled I/O is looked for.
const EVERYSEC_INTERVAL: Duration = Duration::from_secs(1);
/// Wait before retrying a failed journal write (Redis retries once a second too).
const WRITE_RETRY_INTERVAL: Duration = Duration::from_secs(1);
/// A turn's records from this many bytes on are written from the executor's
/// blocking thread instead of the core's: the kernel's copy of a 100 MB record
/// into its page cache (fresh pages to allocate and fill) would hold every client
/// of the core for tens of milliseconds. Below it the write stays on the core,
/// where it costs less than the hand-over (see [`pwrite_all`]).
const OFFLOAD_WRITE_BYTES: usize = 1024 * 1024;
/// Zeros written ahead of the records when they reach the end of the reserved
/// ones ([`reserve`]): one sync per this many bytes of records commits the file's
/// growth, the others only data.
const RESERVE_STEP_BYTES: u64 = 1024 * 1024;
/// The reserved end is rounded up to whole pages.
const RESERVE_ALIGN_BYTES: u64 = 4096;
/// A journal write or sync still running after this long fails the replies waiting
/// for it (checked every [`EVERYSEC_INTERVAL`], so a reply waits at most the sum).
const IO_STALL_MAX: Duration = Duration::from_secs(10);

/// Waits until the journal of each `(shard, lsn)` holds `lsn` as a reply needs it
/// (written under `everysec` and `no`, durable under `always`). The error is the
/// reply to send instead when that cannot be done.
pub async fn wait_acked(core: &Core, marks: &[(usize, u64)]) -> Result<(), String> {
    if marks.is_empty() || !core.journal.enabled {
        return Ok(());
    }
    let policy = core.global.config.hot.fsync();
    if let [(shard, lsn)] = *marks {
        if shard == core.id {
            // Most batches log on the connection's own shard alone.
            return core
                .journal
                .wait_acked(lsn, policy)
                .await
                .map_err(|()| misconf());
        }
    }
    let waits = marks.iter().map(|&(shard, lsn)| async move {
        if shard == core.id {
            core.journal.wait_acked(lsn, policy).await
        } else {
            match core.call(shard, None, Msg::WaitDurable(lsn)).await {
                Some(Answer::Done) => Ok(()),
                _ => Err(()),
            }
        }
    });
    let results = join_all(waits).await;
    if results.iter().all(Result::is_ok) {
        Ok(())
    } else {
        Err(misconf())
    }
}

/// Where the writer appends: the open segment, the end of its records and the
/// end of the zeros reserved after them.
pub struct Segment {
    /// Shared with the syncs in flight, which keep it open until they end.
    pub file: Rc<BufferedFile>,
    pub first_lsn: u64,
    /// End of the records: where the next ones go.
    pub offset: u64,
    /// The file's length: from `offset` to here it holds zeros ([`reserve`]).
    reserved_end: u64,
    /// After a failed reservation (a full disk), the records' end from which the
    /// next one is tried.
    reserve_retry_at: u64,
}

impl Journal {
    /// Writes the unwritten records at the segment's end. On failure they stay
    /// unwritten and whatever part of them reached the file is cut off again.
    async fn write_unwritten(&self, seg: &mut Segment) -> std::io::Result<()> {
        let records = std::mem::take(&mut *self.unwritten.borrow_mut());
        if records.is_empty() {
            return Ok(());
        }
        let last = self.unwritten_last.get();
        let started = Instant::now();
        if records.len() < OFFLOAD_WRITE_BYTES && !self.closing.get() {
            reserve(seg, records.len());
        }
        let (records, written) = write_records(&seg.file, records, seg.offset).await;
        crate::ops::latency::add_since("aof-write", started);
        match written {
            Ok(n) => {
                if records.capacity() <= SPARE_RECORDS_BYTES_MAX {
                    *self.spare.borrow_mut() = records;
                }
                seg.offset += n;
                seg.reserved_end = seg.reserved_end.max(seg.offset);
                self.reserved_bytes.set(seg.reserved_end - seg.offset);
                self.size_bytes.set(self.size_bytes.get() + n);
                self.set_written(last);
                Ok(())
            }
            Err(e) => {
                if let Err(t) = seg.file.truncate(seg.offset).await {
                    // The retry writes at least as much from the same offset, so
                    // the torn bytes are overwritten; a crash first leaves them
                    // as a torn tail, which recovery cuts.
                    log::warn!("journal truncate after a failed write: {}", os_error(t));
                }
                seg.reserved_end = seg.offset;
                self.reserved_bytes.set(0);
                *self.unwritten.borrow_mut() = records;
                Err(e)
            }
        }
    }

    /// Cuts the segment's reserved zeros off, before it is closed for good: a
    /// finished segment holds only records, as its readers expect.
    async fn release_reserved(&self, seg: &mut Segment) -> std::io::Result<()> {
        if seg.reserved_end > seg.offset {
            seg.file.truncate(seg.offset).await.map_err(os_error)?;
            seg.reserved_end = seg.offset;
        }
        self.reserved_bytes.set(0);
        Ok(())
    }
}

/// Makes sure the next `len` bytes of records land in zeros the file already
/// holds, zero-filling [`RESERVE_STEP_BYTES`] past them when they would not.
///
/// An `fdatasync` that follows a write which grew the file must commit the file's
/// new size and block map (a journal transaction of the file system) on top of the
/// data; one whose writes all landed inside the file's length flushes the data
/// alone. Appending records to a zero-filled tail therefore makes most syncs of
/// `appendfsync always` cheaper, and only the one sync after each reservation
/// carries the metadata. Readers know the journal's end from its records: zeros
/// after the last one read as its end (`End::Reserved`), and recovery cuts them off.
///
/// Best effort: when the zeros cannot be written (a full disk), the file is cut back
/// and the records are appended as they would be without a reservation.
fn reserve(seg: &mut Segment, len: usize) {
    let need = seg.offset + len as u64;
    if need <= seg.reserved_end || need < seg.reserve_retry_at {
        return;
    }
    let end = (need + RESERVE_STEP_BYTES).next_multiple_of(RESERVE_ALIGN_BYTES);
    let from = seg.reserved_end.max(seg.offset);
    let zeros = vec![0u8; (end - from) as usize];
    let fd = seg.file.as_raw_fd();
    match pwrite_all(fd, &zeros, from) {
        Ok(_) => seg.reserved_end = end,
        Err(e) => {
            log::debug!("journal reservation of {} bytes failed: {e}", end - from);
            // SAFETY: ftruncate(2) on the open segment, which `seg` keeps open.
            unsafe { libc::ftruncate(fd, from as libc::off_t) };
            seg.reserve_retry_at = need + RESERVE_STEP_BYTES;
        }
    }
}

impl Segment {
    fn path(&self, shard_dir: &Path) -> PathBuf {
        datadir::segment_path(shard_dir, self.first_lsn)
    }
}

/// Opens (or creates) the segment at `path` for appending at its end.
pub async fn open_segment(path: &Path, first_lsn: u64) -> std::io::Result<Segment> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .buffered_open(path)
        .await?;
    let offset = file.file_size().await?;
    Ok(Segment {
        file: Rc::new(file),
        first_lsn,
        offset,
        reserved_end: offset,
        reserve_retry_at: 0,
    })
}

/// Writes all of `buf` to `file` at `at`, however many calls that takes (a write
/// may be short, e.g. when the disk fills). Returns the bytes written.
pub async fn write_all_at(file: &BufferedFile, buf: &[u8], at: u64) -> std::io::Result<u64> {
    let mut done = 0usize;
    while done < buf.len() {
        let n = file
            .write_at(buf[done..].to_vec(), at + done as u64)
            .await
            .map_err(os_error)?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        done += n;
    }
    Ok(done as u64)
}

/// Writes `records` at `at` of `file` ([`pwrite_all`]): on the core's thread, or,
/// from [`OFFLOAD_WRITE_BYTES`] on, on the executor's blocking thread while the
/// core keeps serving. Hands the records back with the outcome.
async fn write_records(
    file: &BufferedFile,
    records: Vec<u8>,
    at: u64,
) -> (Vec<u8>, std::io::Result<u64>) {
    let fd = file.as_raw_fd();
    if records.len() < OFFLOAD_WRITE_BYTES {
        let written = pwrite_all(fd, &records, at);
        return (records, written);
    }
    // `file` stays open meanwhile: the writer owns the segment and awaits this.
    glommio::executor()
        .spawn_blocking(move || {
            let written = pwrite_all(fd, &records, at);
            (records, written)
        })
        .await
}

/// Writes all of `buf` to `fd` at `at` with `pwrite(2)` on this thread, as Redis
/// `write()`s its AOF buffer before it replies: a turn's records are a few
/// kilobytes, which the kernel copies into its page cache in about a microsecond,
/// far less than a ring submission, its completion and the wake-ups in between.
/// The replies waiting for the records leave in the same turn. Returns the bytes
/// written; a short write (a full disk) continues until an error.
fn pwrite_all(fd: RawFd, buf: &[u8], at: u64) -> std::io::Result<u64> {
    let mut done = 0usize;
    while done < buf.len() {
        let rest = &buf[done..];
        let offset = libc::off_t::try_from(at + done as u64)
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
        // SAFETY: `rest` is a live buffer of `rest.len()` bytes; `fd` is the open
        // segment, which its owner keeps open until the call returns.
        let n = unsafe { libc::pwrite(fd, rest.as_ptr().cast(), rest.len(), offset) };
        match n {
            0 => return Err(std::io::ErrorKind::WriteZero.into()),
            n if n > 0 => done += n as usize,
            _ => {
                let e = std::io::Error::last_os_error();
                if e.kind() != std::io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
    Ok(done as u64)
}

/// The writer task: lives as long as the executor. At shutdown the core asks it
/// for a last sync through [`Journal::wait_closed`].
pub async fn run_writer(core: Rc<Core>, mut seg: Segment) {
    let j = &core.journal;
    spawn_ticker(core.clone());
    loop {
        futures::future::poll_fn(|cx| {
            if j.has_work(&core.shard.borrow(), core.global.config.hot.fsync()) {
                return Poll::Ready(());
            }
            j.writer.set(Some(cx.waker().clone()));
            Poll::Pending
        })
        .await;
        j.busy_since.set(Some(Instant::now()));
        let turned = turn(&core, &mut seg).await;
        j.busy_since.set(None);
        core.global.repl.written[core.id].store(j.written_lsn(), Ordering::Release);
        match turned {
            Ok(()) => j.succeeded(core.id),
            Err(e) => {
                j.fail(core.id, &seg.path(&j.shard_dir), &e);
                glommio::timer::sleep(WRITE_RETRY_INTERVAL).await;
            }
        }
    }
}

/// One turn of the writer: reset, rotation, the waiting records, and a sync when
/// the policy or a waiter asks for one and none is in flight. Each step stays
/// pending until it succeeds, so a failed turn is retried from where it failed;
/// after a failure a turn succeeds only once its sync did.
async fn turn(core: &Rc<Core>, seg: &mut Segment) -> std::io::Result<()> {
    let j = &core.journal;
    if let Some(e) = j.sync_error.take() {
        return Err(e);
    }
    if j.reset.get().is_some() || j.rotation.borrow().is_some() {
        // A sync in flight finishes on the files it was started for.
        j.syncs_done().await;
    }
    if let Some(lsn) = j.reset.get() {
        reset(j, seg, lsn).await?;
        j.reset.set(None);
    }
    let rotation = j
        .rotation
        .borrow_mut()
        .as_mut()
        .map(|(tail, next_first)| (std::mem::take(tail), *next_first));
    if let Some((tail, next_first)) = rotation {
        // The records before the new segment go to the old one; the shard's newer
        // records wait until the new segment is open.
        if !tail.is_empty() {
            j.unwritten.borrow_mut().extend_from_slice(&tail);
            j.unwritten_last.set(next_first - 1);
        }
        j.write_unwritten(seg).await?;
        j.release_reserved(seg).await?;
        seg.file.fdatasync().await.map_err(os_error)?;
        j.set_written(next_first - 1);
        j.set_durable(next_first - 1);
        let path = datadir::segment_path(&j.shard_dir, next_first);
        *seg = open_segment(&path, next_first).await?;
        datadir::sync_dir(&j.shard_dir)?;
        *j.rotation.borrow_mut() = None;
    }
    j.take_records(&mut core.shard.borrow_mut());
    j.write_unwritten(seg).await?;
    if j.closing.get() && j.reserved_bytes.get() > 0 {
        j.syncs_done().await;
        j.release_reserved(seg).await?;
        seg.file.fdatasync().await.map_err(os_error)?;
        j.set_durable(j.written.get());
    }
    if core.global.config.hot.fsync() == Fsync::Always || j.sync_requested.get() {
        if !j.needs_sync() {
            j.sync_requested.set(false);
        } else if j.may_start_sync() {
            j.sync_requested.set(false);
            start_sync(core, &seg.file, j.written.get());
        }
    }
    if j.failing() {
        j.syncs_done().await;
        if let Some(e) = j.sync_error.take() {
            return Err(e);
        }
    }
    Ok(())
}

/// Starts an `fdatasync` of `file` that makes `lsn` durable, without waiting for
/// it: on the core's io_uring ring when it has one (its completion is reaped in
/// the ring's next turn, among the sockets'), else through glommio's. Its end
/// goes to [`Journal::synced`].
fn start_sync(core: &Rc<Core>, file: &Rc<BufferedFile>, lsn: u64) {
    core.journal.sync_started(lsn);
    let always = core.global.config.hot.fsync() == Fsync::Always;
    let started = Instant::now();
    let done = {
        let core = core.clone();
        move |result| {
            if always {
                crate::ops::latency::add_since("aof-fsync-always", started);
            }
            core.journal.synced(lsn, result)
        }
    };
    let file = file.clone();
    let ring = RING_SYNC.with(|r| r.borrow().clone());
    match ring {
        Some(sync) => sync(
            file.as_raw_fd(),
            Box::new(move |res| {
                drop(file);
                done(if res < 0 {
                    Err(std::io::Error::from_raw_os_error(-res))
                } else {
                    Ok(())
                });
            }),
        ),
        None => {
            glommio::spawn_local(async move {
                done(file.fdatasync().await.map_err(os_error));
            })
            .detach();
        }
    }
}

/// Starts an `fdatasync` of a file on the core's io_uring ring and calls back with
/// 0 or `-errno` once it ends; the file stays open until then.
pub type RingSync = Rc<dyn Fn(RawFd, Box<dyn FnOnce(i32)>)>;

thread_local! {
    /// The ring sync of the core this thread runs, when its network driver has a
    /// ring: installed by the driver ([`install_ring_sync`]), so the journal knows
    /// nothing of the network.
    static RING_SYNC: std::cell::RefCell<Option<RingSync>> = const { std::cell::RefCell::new(None) };
}

/// Makes [`start_sync`] run this core's syncs through `sync` from now on.
pub fn install_ring_sync(sync: RingSync) {
    RING_SYNC.with(|r| *r.borrow_mut() = Some(sync));
}

/// Drops every file of the shard and starts a segment at `lsn + 1` (see
/// [`Journal::reset`]); records of the history before are dropped too.
async fn reset(j: &Journal, seg: &mut Segment, lsn: u64) -> std::io::Result<()> {
    let dir = &j.shard_dir;
    j.unwritten.borrow_mut().clear();
    std::fs::write(datadir::resync_marker(dir), b"")?;
    datadir::sync_dir(dir)?;
    datadir::remove_all(dir)?;
    *seg = open_segment(&datadir::segment_path(dir, lsn + 1), lsn + 1).await?;
    datadir::sync_dir(dir)?;
    j.set_sizes(0, 0);
    j.reserved_bytes.set(0);
    j.first_lsn.set(lsn + 1);
    j.durable.set(lsn);
    j.set_written(lsn);
    j.set_durable(lsn);
    Ok(())
}

/// Once a second: `appendfsync everysec` asks the writer for a sync when something
/// was written since the last one, and a writer stuck in one turn for longer than
/// [`IO_STALL_MAX`] fails the replies waiting for it.
fn spawn_ticker(core: Rc<Core>) {
    glommio::spawn_local(async move {
        loop {
            glommio::timer::sleep(EVERYSEC_INTERVAL).await;
            if core.global.shutdown.is_fired() {
                return;
            }
            let j = &core.journal;
            if core.global.config.hot.fsync() == Fsync::EverySec
                && j.written.get() > j.durable.get()
            {
                j.request_sync();
            }
            let stalled =
                |since: Option<Instant>| since.is_some_and(|t| t.elapsed() >= IO_STALL_MAX);
            if stalled(j.busy_since.get()) || stalled(j.oldest_sync()) {
                j.fail(core.id, &j.shard_dir, &std::io::ErrorKind::TimedOut.into());
            }
        }
    })
    .detach();
}
