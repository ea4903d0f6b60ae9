//! A shard's journal file: the writer task that moves the shard's effect records
//! ([`corekv_engine::effect_log`]) to disk through glommio file I/O, syncs them
//! under the `appendfsync` policy, and tells waiters when an LSN is durable.
//!
//! ```text
//!  commands ──► shard.log (records in memory) ──kick──► writer task
//!                                                        write_at(segment) ─┐
//!   always:   every loop turn's records: one write, one fdatasync ◄─────────┘
//!   everysec: a timer asks for one fdatasync a second
//!   no:       the kernel writes back when it likes
//!  durable LSN advances ──► local waiters wake, deferred remote replies are sent
//! ```
//!
//! Group commit falls out of the loop: while one write and sync are in flight,
//! every record appended meanwhile waits in the shard's buffer, and the next turn
//! takes them all at once.
//!
//! A snapshot starts a new segment at its LSN ([`Journal::rotate`]): the records up
//! to that LSN are written to the old segment first, so once the snapshot is
//! complete every older segment can be deleted whole.

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use futures::channel::oneshot;
use glommio::io::{BufferedFile, OpenOptions};

use crate::config::Fsync;
use crate::core::{Answer, Core};
use crate::datadir;

/// How often `appendfsync everysec` syncs.
const EVERYSEC_INTERVAL: Duration = Duration::from_secs(1);
/// Wait before retrying a failed journal write.
const WRITE_RETRY_INTERVAL: Duration = Duration::from_secs(1);

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
    durable_waiters: RefCell<Vec<Waker>>,
    /// Remote `WaitDurable` requests: replied to once their LSN is durable.
    deferred: RefCell<Vec<(u64, oneshot::Sender<Answer>)>>,
    /// Records up to a snapshot's LSN, for the segment before it, and the first
    /// LSN of the segment to start.
    rotation: RefCell<Option<(Vec<u8>, u64)>>,
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
            durable_waiters: RefCell::new(Vec::new()),
            deferred: RefCell::new(Vec::new()),
            rotation: RefCell::new(None),
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
        *self.rotation.borrow_mut() = Some((tail, next_first_lsn));
        self.kick();
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
            self.durable_waiters.borrow_mut().push(cx.waker().clone());
            Poll::Pending
        })
    }

    /// A remote coordinator's `WaitDurable(lsn)`: answered now or once durable.
    pub fn defer_until_durable(&self, lsn: u64, reply: oneshot::Sender<Answer>) {
        if !self.enabled || self.durable.get() >= lsn {
            let _ = reply.send(Answer::Done);
            return;
        }
        self.deferred.borrow_mut().push((lsn, reply));
        self.request_sync();
    }

    fn set_durable(&self, lsn: u64) {
        self.durable.set(lsn.max(self.durable.get()));
        for w in self.durable_waiters.borrow_mut().drain(..) {
            w.wake();
        }
        self.answer_deferred();
    }

    fn answer_deferred(&self) {
        let durable = self.durable.get();
        let mut deferred = self.deferred.borrow_mut();
        let mut i = 0;
        while i < deferred.len() {
            if deferred[i].0 <= durable {
                let (_, reply) = deferred.swap_remove(i);
                let _ = reply.send(Answer::Done);
            } else {
                i += 1;
            }
        }
    }

    /// Whether the writer has anything to do.
    fn has_work(&self, core: &Core) -> bool {
        let sync_due =
            self.written.get() > self.durable.get() || !self.deferred.borrow().is_empty();
        core.shard.borrow().log().pending_bytes() > 0
            || self.rotation.borrow().is_some()
            || self.reset.get().is_some()
            || (self.sync_requested.get() && sync_due)
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

/// Writes all of `buf` at `seg.offset`, however many calls that takes.
async fn write_all(seg: &mut Segment, buf: Vec<u8>) -> std::io::Result<()> {
    seg.offset += write_all_at(&seg.file, buf, seg.offset).await?;
    Ok(())
}

/// Writes all of `buf` to `file` at `at`, however many calls that takes (a write
/// may be short, e.g. when the disk fills). Returns the bytes written.
pub async fn write_all_at(file: &BufferedFile, buf: Vec<u8>, at: u64) -> std::io::Result<u64> {
    let mut done = 0usize;
    while done < buf.len() {
        let n = file
            .write_at(buf[done..].to_vec(), at + done as u64)
            .await
            .map_err(std::io::Error::from)?;
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
    spawn_everysec(core.clone());
    loop {
        futures::future::poll_fn(|cx| {
            if j.has_work(&core) {
                return Poll::Ready(());
            }
            j.writer.set(Some(cx.waker().clone()));
            Poll::Pending
        })
        .await;
        let turned = turn(&core, &mut seg).await;
        core.global.repl.written[core.id]
            .store(j.written_lsn(), std::sync::atomic::Ordering::Release);
        if let Err(e) = turned {
            j.last_write_ok.set(false);
            log::error!(
                "shard {}: journal write to {} failed: {e}; retrying",
                core.id,
                datadir::segment_path(&j.shard_dir, seg.first_lsn).display()
            );
            glommio::timer::sleep(WRITE_RETRY_INTERVAL).await;
            continue;
        }
        j.last_write_ok.set(true);
    }
}

/// One turn of the writer: rotation, the waiting records, the sync the policy
/// or a waiter asks for.
async fn turn(core: &Core, seg: &mut Segment) -> std::io::Result<()> {
    let j = &core.journal;
    if let Some(lsn) = j.reset.take() {
        // Put the reset back until it is done, so a failure is retried.
        j.reset.set(Some(lsn));
        reset(j, seg, lsn).await?;
        j.reset.set(None);
    }
    let rotation = j.rotation.borrow_mut().take();
    if let Some((tail, next_first)) = rotation {
        let len = tail.len() as u64;
        // Put the rotation back until it is done, so a failed write is retried.
        if let Err(e) = write_all(seg, tail.clone()).await {
            *j.rotation.borrow_mut() = Some((tail, next_first));
            return Err(e);
        }
        j.size_bytes.set(j.size_bytes.get() + len);
        seg.file.fdatasync().await?;
        j.set_written(next_first - 1);
        j.set_durable(next_first - 1);
        let path = datadir::segment_path(&j.shard_dir, next_first);
        *seg = open_segment(&path, next_first).await?;
        datadir::sync_dir(&j.shard_dir)?;
    }
    let (buf, last) = {
        let mut shard = core.shard.borrow_mut();
        (shard.log_mut().take(), shard.log().last_lsn())
    };
    if !buf.is_empty() {
        let len = buf.len() as u64;
        write_all(seg, buf).await?;
        j.size_bytes.set(j.size_bytes.get() + len);
        j.set_written(last);
    }
    let policy = core.global.config.hot.fsync();
    if policy == Fsync::Always || j.sync_requested.get() {
        j.sync_requested.set(false);
        let written = j.written.get();
        if written > j.durable.get() {
            seg.file.fdatasync().await?;
        }
        j.set_durable(written);
    }
    Ok(())
}

/// Drops every file of the shard and starts a segment at `lsn + 1` (see
/// [`Journal::reset`]).
async fn reset(j: &Journal, seg: &mut Segment, lsn: u64) -> std::io::Result<()> {
    let dir = &j.shard_dir;
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

/// `appendfsync everysec`: asks the writer for a sync once a second when
/// something was written since the last one.
fn spawn_everysec(core: Rc<Core>) {
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
        }
    })
    .detach();
}
