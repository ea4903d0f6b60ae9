//! A shard's journal file: the writer task that moves the shard's effect records
//! ([`corekv_engine::effect_log`]) to disk through glommio file I/O, syncs them
//! under the `appendfsync` policy, and tells waiters when an LSN is written and
//! when it is durable.
//!
//! ```text
//!  commands ──► shard.log (records in memory) ──kick──► writer task
//!                                                        write_at(segment) ─┐
//!   always:   every loop turn's records: one write, one fdatasync ◄─────────┘
//!   everysec: a timer asks for one fdatasync a second
//!   no:       the kernel writes back when it likes
//!  written / durable LSN advances ──► replies waiting for it leave
//!                                     (local waiters wake, remote ones are answered)
//! ```
//!
//! **What a reply waits for** ([`wait_acked`]): a write's reply leaves once its
//! records are handed to the kernel (`write`) under `everysec` and `no`, so a
//! process crash loses nothing acknowledged, and once they are synced under
//! `always`, so a machine crash loses nothing acknowledged either. Group commit falls
//! out of the loop: while one write (and sync) is in flight, every record appended
//! meanwhile waits in the shard's buffer, and the next turn takes them all at once.
//!
//! **When the disk fails** (`ENOSPC`, `EIO`): records the writer has taken stay in
//! memory ([`Journal`]'s `unwritten`) and a short write is truncated back to the
//! last whole record, so the file never holds a torn record followed by good ones.
//! Replies waiting for those records get Redis's `-MISCONF` error at once, new
//! writes are refused with it ([`write_refusal`]), and the writer retries every
//! [`WRITE_RETRY_INTERVAL`] until a write succeeds, which ends the refusal. An I/O
//! stuck for [`IO_STALL_MAX`] fails the waiting replies the same way, so no reply
//! waits forever.
//!
//! A snapshot starts a new segment at its LSN ([`Journal::rotate`]): the records up
//! to that LSN are written to the old segment first, so once the snapshot is
//! complete every older segment can be deleted whole.

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use futures::channel::oneshot;
use futures::future::join_all;
use glommio::io::{BufferedFile, OpenOptions};
use glommio::GlommioError;

use crate::config::Fsync;
use crate::persist::datadir;
use crate::shard::{Answer, Core, Msg};

/// How often `appendfsync everysec` syncs, and how often stalled I/O is looked for.
const EVERYSEC_INTERVAL: Duration = Duration::from_secs(1);
/// Wait before retrying a failed journal write (Redis retries once a second too).
const WRITE_RETRY_INTERVAL: Duration = Duration::from_secs(1);
/// A journal write or sync still running after this long fails the replies waiting
/// for it (checked every [`EVERYSEC_INTERVAL`], so a reply waits at most the sum).
const IO_STALL_MAX: Duration = Duration::from_secs(10);
/// Redis's reply to writes while the append-only file cannot be written.
const MISCONF_PREFIX: &str = "MISCONF Errors writing to the AOF file: ";

/// Journals failing right now, over every shard of the process: while any is,
/// writes are refused (Redis refuses them while its one AOF fails).
static FAILING_JOURNALS: AtomicUsize = AtomicUsize::new(0);
/// `strerror` text of the latest journal failure.
static LAST_ERROR: Mutex<String> = Mutex::new(String::new());

/// The reply to a write while some shard's journal cannot be written: Redis's
/// `MISCONF Errors writing to the AOF file: <strerror>`. `None` while all can.
pub fn write_refusal() -> Option<String> {
    if FAILING_JOURNALS.load(Ordering::Relaxed) == 0 {
        return None;
    }
    Some(misconf())
}

fn misconf() -> String {
    let last = LAST_ERROR.lock().expect("journal error text");
    let why = if last.is_empty() {
        "the journal writer stopped"
    } else {
        last.as_str()
    };
    format!("{MISCONF_PREFIX}{why}")
}

/// An I/O error as `strerror` words it (`No space left on device`), without the
/// `(os error 28)` Rust adds.
fn strerror(e: &std::io::Error) -> String {
    let text = e.to_string();
    match e.raw_os_error() {
        Some(code) => text
            .strip_suffix(&format!(" (os error {code})"))
            .unwrap_or(&text)
            .to_string(),
        None => text,
    }
}

/// A glommio I/O error as the OS error it wraps (glommio's own conversion keeps
/// only its kind).
pub fn os_error(e: GlommioError<()>) -> std::io::Error {
    match e.raw_os_error() {
        Some(code) => std::io::Error::from_raw_os_error(code),
        None => e.into(),
    }
}

/// Waits until the journal of each `(shard, lsn)` holds `lsn` as a reply needs it
/// (written under `everysec` and `no`, durable under `always`). The error is the
/// reply to send instead when that cannot be done.
pub async fn wait_acked(core: &Core, marks: &[(usize, u64)]) -> Result<(), String> {
    if marks.is_empty() || !core.journal.enabled {
        return Ok(());
    }
    let policy = core.global.config.hot.fsync();
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

/// A remote coordinator's `WaitDurable(lsn)` on `core`'s shard: answered once `lsn`
/// is as safe as a reply needs (see [`wait_acked`]); dropped if the journal fails.
pub fn defer_ack(core: &Core, lsn: u64, reply: oneshot::Sender<Answer>) {
    let durable = core.global.config.hot.fsync() == Fsync::Always;
    core.journal.defer(lsn, durable, reply);
}

/// A remote coordinator waiting for an LSN: answered once [`Journal`] reaches it,
/// dropped (the coordinator sees no answer) when the journal fails.
struct Deferred {
    lsn: u64,
    /// Waits for a sync, not only a write.
    durable: bool,
    reply: oneshot::Sender<Answer>,
}

/// One core's journal state, shared by the writer task and the request path.
pub struct Journal {
    /// Off with `appendonly no`: nothing is written and nothing waits.
    pub enabled: bool,
    pub shard_dir: PathBuf,
    /// Last LSN written to the file (maybe not yet synced).
    written: Cell<u64>,
    /// Last LSN known to be on disk.
    durable: Cell<u64>,
    sync_requested: Cell<bool>,
    writer: Cell<Option<Waker>>,
    /// Replies waiting for `written` or `durable` to advance, or for a failure.
    waiters: RefCell<Vec<Waker>>,
    /// Remote coordinators' waits ([`Msg::WaitDurable`], [`Msg::SyncNow`]).
    deferred: RefCell<Vec<Deferred>>,
    /// Records up to a snapshot's LSN, for the segment before it, and the first
    /// LSN of the segment to start. The writer moves the records to `unwritten`
    /// and keeps the entry, emptied, until the new segment is open.
    rotation: RefCell<Option<(Vec<u8>, u64)>>,
    /// Records taken from the shard and not yet in the file: kept across failed
    /// writes, written again from the same offset.
    unwritten: RefCell<Vec<u8>>,
    /// LSN of the last record in `unwritten`.
    unwritten_last: Cell<u64>,
    /// `strerror` text while writes fail; `None` once one succeeds again.
    error: RefCell<Option<String>>,
    /// When the writer's current turn (its I/O) started; `None` between turns.
    busy_since: Cell<Option<Instant>>,
    /// Bytes of all segments on disk.
    pub size_bytes: Cell<u64>,
    /// Bytes of the shard's snapshot on disk.
    pub snapshot_bytes: Cell<u64>,
    /// Snapshot and journal bytes right after the last snapshot (what automatic
    /// rewrites measure growth from).
    pub base_size_bytes: Cell<u64>,
    pub last_write_ok: Cell<bool>,
    /// A journal rewrite (snapshot) of this shard is in progress.
    pub rewriting: Cell<bool>,
    /// First LSN the journal on disk holds (after the last snapshot's LSN).
    pub first_lsn: Cell<u64>,
    /// Replication streams waiting for records to reach the file.
    written_waiters: RefCell<Vec<Waker>>,
    /// A replica's full sync: drop every file, the journal continues after this LSN.
    reset: Cell<Option<u64>>,
}

/// Where the writer appends: the open segment and its length.
pub struct Segment {
    pub file: BufferedFile,
    pub first_lsn: u64,
    pub offset: u64,
}

impl Journal {
    pub fn new(enabled: bool, shard_dir: PathBuf) -> Journal {
        Journal {
            enabled,
            shard_dir,
            written: Cell::new(0),
            durable: Cell::new(0),
            sync_requested: Cell::new(false),
            writer: Cell::new(None),
            waiters: RefCell::new(Vec::new()),
            deferred: RefCell::new(Vec::new()),
            rotation: RefCell::new(None),
            unwritten: RefCell::new(Vec::new()),
            unwritten_last: Cell::new(0),
            error: RefCell::new(None),
            busy_since: Cell::new(None),
            size_bytes: Cell::new(0),
            snapshot_bytes: Cell::new(0),
            base_size_bytes: Cell::new(0),
            last_write_ok: Cell::new(true),
            rewriting: Cell::new(false),
            first_lsn: Cell::new(1),
            written_waiters: RefCell::new(Vec::new()),
            reset: Cell::new(None),
        }
    }

    /// Last LSN whose record is in the file (a reader of the segment finds it whole).
    pub fn written_lsn(&self) -> u64 {
        self.written.get()
    }

    /// Resolves once records after `lsn` are in the file, or the journal was reset.
    pub fn wait_written(&self, lsn: u64) -> impl std::future::Future<Output = ()> + '_ {
        futures::future::poll_fn(move |cx| {
            if self.written.get() != lsn {
                return Poll::Ready(());
            }
            self.written_waiters.borrow_mut().push(cx.waker().clone());
            Poll::Pending
        })
    }

    fn set_written(&self, lsn: u64) {
        self.written.set(lsn);
        for w in self.written_waiters.borrow_mut().drain(..) {
            w.wake();
        }
        self.wake_waiters();
    }

    /// A replica's full sync loaded its master's shard at `lsn`: the writer drops
    /// every segment and snapshot (leaving the full-sync marker, so a crash before
    /// the shard's new snapshot is on disk starts it empty) and continues at
    /// `lsn + 1`. The caller removes the marker once that snapshot is durable.
    pub fn reset(&self, lsn: u64) {
        self.reset.set(Some(lsn));
        self.kick();
    }

    /// A [`Journal::reset`] is not done yet.
    pub fn resetting(&self) -> bool {
        self.reset.get().is_some()
    }

    /// After recovery: everything up to `lsn` is on disk.
    pub fn set_recovered(&self, lsn: u64, journal_bytes: u64, snapshot_bytes: u64) {
        self.written.set(lsn);
        self.durable.set(lsn);
        self.set_sizes(journal_bytes, snapshot_bytes);
    }

    /// Sizes on disk right after recovery or a snapshot: the new base.
    pub fn set_sizes(&self, journal_bytes: u64, snapshot_bytes: u64) {
        self.size_bytes.set(journal_bytes);
        self.snapshot_bytes.set(snapshot_bytes);
        self.base_size_bytes.set(journal_bytes + snapshot_bytes);
    }

    /// Snapshot and journal bytes on disk (`aof_current_size`).
    pub fn total_bytes(&self) -> u64 {
        self.size_bytes.get() + self.snapshot_bytes.get()
    }

    pub fn durable_lsn(&self) -> u64 {
        self.durable.get()
    }

    /// Wakes the writer: records are waiting, or a sync or rotation was asked for.
    pub fn kick(&self) {
        if let Some(w) = self.writer.take() {
            w.wake();
        }
    }

    pub fn request_sync(&self) {
        self.sync_requested.set(true);
        self.kick();
    }

    /// Starts a new segment at `next_first_lsn`; `tail` holds the records before it
    /// not yet taken by the writer.
    pub fn rotate(&self, tail: Vec<u8>, next_first_lsn: u64) {
        match &mut *self.rotation.borrow_mut() {
            // The rotation of a snapshot that failed meanwhile is still pending (the
            // disk is failing): the old segment takes these records too.
            Some((pending, next)) => {
                pending.extend_from_slice(&tail);
                *next = next_first_lsn;
            }
            none => *none = Some((tail, next_first_lsn)),
        }
        self.kick();
    }

    /// The last LSN a reply may count on under `policy`.
    fn acked_lsn(&self, policy: Fsync) -> u64 {
        match policy {
            Fsync::Always => self.durable.get(),
            Fsync::EverySec | Fsync::No => self.written.get(),
        }
    }

    /// Resolves once `lsn` is durable (syncing if the policy would not).
    pub fn wait_durable(&self, lsn: u64) -> impl std::future::Future<Output = ()> + '_ {
        if self.enabled && self.durable.get() < lsn {
            self.request_sync();
        }
        futures::future::poll_fn(move |cx| {
            if !self.enabled || self.durable.get() >= lsn {
                return Poll::Ready(());
            }
            self.waiters.borrow_mut().push(cx.waker().clone());
            Poll::Pending
        })
    }

    /// Resolves once `lsn` is written (durable under `always`); fails while the
    /// journal cannot be written and `lsn` is not.
    fn wait_acked(
        &self,
        lsn: u64,
        policy: Fsync,
    ) -> impl std::future::Future<Output = Result<(), ()>> + '_ {
        futures::future::poll_fn(move |cx| {
            if !self.enabled || self.acked_lsn(policy) >= lsn {
                return Poll::Ready(Ok(()));
            }
            if self.error.borrow().is_some() {
                return Poll::Ready(Err(()));
            }
            self.waiters.borrow_mut().push(cx.waker().clone());
            Poll::Pending
        })
    }

    /// A remote coordinator's `SyncNow`: answered once `lsn` is durable.
    pub fn defer_until_durable(&self, lsn: u64, reply: oneshot::Sender<Answer>) {
        self.defer(lsn, true, reply);
    }

    fn defer(&self, lsn: u64, durable: bool, reply: oneshot::Sender<Answer>) {
        let reached = if durable {
            self.durable.get()
        } else {
            self.written.get()
        };
        if !self.enabled || reached >= lsn {
            let _ = reply.send(Answer::Done);
            return;
        }
        if self.error.borrow().is_some() {
            return;
        }
        self.deferred.borrow_mut().push(Deferred {
            lsn,
            durable,
            reply,
        });
        if durable {
            self.request_sync();
        }
    }

    fn set_durable(&self, lsn: u64) {
        self.durable.set(lsn.max(self.durable.get()));
        self.wake_waiters();
    }

    fn wake_waiters(&self) {
        for w in self.waiters.borrow_mut().drain(..) {
            w.wake();
        }
        self.answer_deferred();
    }

    fn answer_deferred(&self) {
        let (written, durable) = (self.written.get(), self.durable.get());
        let mut deferred = self.deferred.borrow_mut();
        let mut i = 0;
        while i < deferred.len() {
            let d = &deferred[i];
            if d.lsn <= if d.durable { durable } else { written } {
                let d = deferred.swap_remove(i);
                let _ = d.reply.send(Answer::Done);
            } else {
                i += 1;
            }
        }
    }

    /// A write or sync failed (or stalled): replies waiting for what is not yet
    /// safe fail, and writes are refused until the writer succeeds again.
    fn fail(&self, shard: usize, file: &Path, e: &std::io::Error) {
        let text = strerror(e);
        if self.error.borrow().is_none() {
            FAILING_JOURNALS.fetch_add(1, Ordering::Relaxed);
            log::error!(
                "shard {shard}: journal write to {} failed: {text}; refusing writes until a retry succeeds",
                file.display()
            );
        } else {
            log::debug!(
                "shard {shard}: journal write to {} failed again: {text}",
                file.display()
            );
        }
        *LAST_ERROR.lock().expect("journal error text") = text.clone();
        *self.error.borrow_mut() = Some(text);
        self.last_write_ok.set(false);
        // Remote waiters see their request dropped; local ones see the error.
        self.deferred.borrow_mut().clear();
        self.wake_waiters();
    }

    /// A turn succeeded: writes are accepted again if they were refused.
    fn succeeded(&self, shard: usize) {
        self.last_write_ok.set(true);
        if self.error.borrow_mut().take().is_some() {
            FAILING_JOURNALS.fetch_sub(1, Ordering::Relaxed);
            log::warn!("shard {shard}: journal writes succeed again; accepting writes");
        }
    }

    /// Whether the writer has anything to do.
    fn has_work(&self, core: &Core) -> bool {
        let sync_due =
            self.written.get() > self.durable.get() || !self.deferred.borrow().is_empty();
        let sync_wanted =
            self.sync_requested.get() || core.global.config.hot.fsync() == Fsync::Always;
        core.shard.borrow().log().pending_bytes() > 0
            || !self.unwritten.borrow().is_empty()
            || self.rotation.borrow().is_some()
            || self.reset.get().is_some()
            || (sync_wanted && sync_due)
    }

    /// Moves the shard's waiting records behind the unwritten ones.
    fn take_records(&self, core: &Core) {
        let mut shard = core.shard.borrow_mut();
        if shard.log().pending_bytes() == 0 {
            return;
        }
        let records = shard.log_mut().take();
        let mut unwritten = self.unwritten.borrow_mut();
        if unwritten.is_empty() {
            *unwritten = records;
        } else {
            unwritten.extend_from_slice(&records);
        }
        self.unwritten_last.set(shard.log().last_lsn());
    }

    /// Writes the unwritten records at the segment's end. On failure they stay
    /// unwritten and whatever part of them reached the file is cut off again.
    async fn write_unwritten(&self, seg: &mut Segment) -> std::io::Result<()> {
        let records = std::mem::take(&mut *self.unwritten.borrow_mut());
        if records.is_empty() {
            return Ok(());
        }
        let last = self.unwritten_last.get();
        match write_all_at(&seg.file, &records, seg.offset).await {
            Ok(n) => {
                seg.offset += n;
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
                *self.unwritten.borrow_mut() = records;
                Err(e)
            }
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
        file,
        first_lsn,
        offset,
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

/// The writer task: lives as long as the executor. At shutdown the core asks it
/// for a last sync through [`Journal::wait_durable`].
pub async fn run_writer(core: Rc<Core>, mut seg: Segment) {
    let j = &core.journal;
    spawn_ticker(core.clone());
    loop {
        futures::future::poll_fn(|cx| {
            if j.has_work(&core) {
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

/// One turn of the writer: reset, rotation, the waiting records, the sync the
/// policy or a waiter asks for. Each step stays pending until it succeeds, so a
/// failed turn is retried from where it failed.
async fn turn(core: &Core, seg: &mut Segment) -> std::io::Result<()> {
    let j = &core.journal;
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
        seg.file.fdatasync().await.map_err(os_error)?;
        j.set_written(next_first - 1);
        j.set_durable(next_first - 1);
        let path = datadir::segment_path(&j.shard_dir, next_first);
        *seg = open_segment(&path, next_first).await?;
        datadir::sync_dir(&j.shard_dir)?;
        *j.rotation.borrow_mut() = None;
    }
    j.take_records(core);
    j.write_unwritten(seg).await?;
    let policy = core.global.config.hot.fsync();
    if policy == Fsync::Always || j.sync_requested.get() {
        let written = j.written.get();
        if written > j.durable.get() {
            seg.file.fdatasync().await.map_err(os_error)?;
        }
        j.sync_requested.set(false);
        j.set_durable(written);
    }
    Ok(())
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
            if j.busy_since
                .get()
                .is_some_and(|t| t.elapsed() >= IO_STALL_MAX)
            {
                j.fail(core.id, &j.shard_dir, &std::io::ErrorKind::TimedOut.into());
            }
        }
    })
    .detach();
}
