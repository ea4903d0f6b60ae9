//! A shard's journal: the handle the core owns ([`Journal`]), shared with the writer
//! task ([`super::writer`]) that moves the shard's effect records
//! ([`corekv_engine::effect_log`]) to disk through glommio file I/O and syncs them
//! under the `appendfsync` policy. The handle tells waiters when an LSN is written
//! and when it is durable, and knows nothing of the core.
//!
//! ```text
//!  commands ──► shard.log (records in memory) ──kick──► writer task
//!                                                        pwrite(segment) ───┐
//!   always:   every loop turn's records: one write (into zeros reserved     ┘
//!             ahead); up to two fdatasyncs in flight, each covering all
//!             written when it starts, the second once it covers as many
//!             records as the first
//!   everysec: a timer asks for one fdatasync a second
//!   no:       the kernel writes back when it likes
//!  written / durable LSN advances ──► replies waiting for it leave
//!                                     (local waiters wake, remote ones are answered)
//! ```
//!
//! **What a reply waits for** ([`super::writer::wait_acked`]): a write's reply
//! leaves once its records are handed to the kernel (`write`) under `everysec` and `no`, so a
//! process crash loses nothing acknowledged, and once they are synced under
//! `always`, so a machine crash loses nothing acknowledged either. Group commit falls
//! out of the loop: while a sync is in flight, the records of every request run
//! meanwhile are written, and the next sync makes them all durable at once.
//!
//! **When the disk fails** (`ENOSPC`, `EIO`): records the writer has taken stay in
//! memory ([`Journal`]'s `unwritten`) and a short write is truncated back to the
//! last whole record, so the file never holds a torn record followed by good ones.
//! Replies waiting for those records get Redis's `-MISCONF` error at once, new
//! writes are refused with it ([`write_refusal`]), and the writer retries every
//! `WRITE_RETRY_INTERVAL` until a write succeeds, which ends the refusal. An I/O
//! stuck for `IO_STALL_MAX` fails the waiting replies the same way, so no reply
//! waits forever.
//!
//! A snapshot starts a new segment at its LSN ([`Journal::rotate`]): the records up
//! to that LSN are written to the old segment first, so once the snapshot is
//! complete every older segment can be deleted whole.

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::task::{Poll, Waker};
use std::time::Instant;

use futures::channel::oneshot;
use glommio::GlommioError;
use smallvec::SmallVec;

use crate::config::Fsync;
use corekv_engine::shard::Shard;

use crate::shard::answer::Answer;

use super::syncs::Syncs;

/// Waiters [`Journal::wake_waiters`] wakes without allocating.
const WOKEN_INLINE: usize = 16;

/// Redis's reply to writes while the append-only file cannot be written.
const MISCONF_PREFIX: &str = "MISCONF Errors writing to the AOF file: ";
/// The most capacity a written turn's buffer may have to be kept for the next
/// turn's records: a turn's records are a few kilobytes; a big value's record
/// does not keep its buffer's memory.
pub(super) const SPARE_RECORDS_BYTES_MAX: usize = 64 * 1024;

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

pub(crate) fn misconf() -> String {
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

/// What a local waiter ([`Journal::wait_acked`], [`Journal::wait_closed`]) waits
/// for: it is woken once that is reached, or when the journal fails.
#[derive(Clone, Copy)]
enum Until {
    /// Records up to this LSN are in the file.
    Written(u64),
    /// Records up to this LSN are synced.
    Durable(u64),
    /// Any advance (the closing core checks more than an LSN).
    Change,
}

/// A local task waiting for the journal.
struct Waiter {
    until: Until,
    waker: Waker,
}

/// A remote coordinator waiting for an LSN: answered once [`Journal`] reaches it,
/// dropped (the coordinator sees no answer) when the journal fails.
struct Deferred {
    lsn: u64,
    /// Waits for a sync, not only a write.
    pub(super) durable: bool,
    reply: oneshot::Sender<Answer>,
}

/// One core's journal state, shared by the writer task and the request path.
pub struct Journal {
    /// Off with `appendonly no`: nothing is written and nothing waits.
    pub enabled: bool,
    pub shard_dir: PathBuf,
    /// Last LSN written to the file (maybe not yet synced).
    pub(super) written: Cell<u64>,
    /// Last LSN known to be on disk.
    pub(super) durable: Cell<u64>,
    pub(super) sync_requested: Cell<bool>,
    pub(super) writer: Cell<Option<Waker>>,
    /// Replies waiting for `written` or `durable` to reach their LSN, or for a
    /// failure: woken only then, so the writes waiting for a later sync under
    /// `always` stay asleep while each loop turn's records are written.
    waiters: RefCell<Vec<Waiter>>,
    /// Remote coordinators' waits (`Msg::WaitDurable`, `Msg::SyncNow`).
    deferred: RefCell<Vec<Deferred>>,
    /// Records up to a snapshot's LSN, for the segment before it, and the first
    /// LSN of the segment to start. The writer moves the records to `unwritten`
    /// and keeps the entry, emptied, until the new segment is open.
    pub(super) rotation: RefCell<Option<(Vec<u8>, u64)>>,
    /// Records taken from the shard and not yet in the file: kept across failed
    /// writes, written again from the same offset.
    pub(super) unwritten: RefCell<Vec<u8>>,
    /// LSN of the last record in `unwritten`.
    pub(super) unwritten_last: Cell<u64>,
    /// A written turn's buffer, emptied, for the shard to record into next
    /// (at most [`SPARE_RECORDS_BYTES_MAX`] of capacity is kept).
    pub(super) spare: RefCell<Vec<u8>>,
    /// `strerror` text while writes fail; `None` once one succeeds again.
    error: RefCell<Option<String>>,
    /// When the writer's current turn (its I/O) started; `None` between turns.
    pub(super) busy_since: Cell<Option<Instant>>,
    /// Syncs in flight, oldest first.
    syncs: RefCell<Syncs>,
    /// A sync failed: the writer's next turn reports it and syncs again.
    pub(super) sync_error: RefCell<Option<std::io::Error>>,
    /// Bytes of the records of all segments on disk.
    pub size_bytes: Cell<u64>,
    /// Zero bytes the writer reserved after the open segment's records: in the
    /// file's length, not in the journal's.
    pub(super) reserved_bytes: Cell<u64>,
    /// The core is stopping ([`Journal::wait_closed`]): the writer reserves no
    /// more and cuts the reserved zeros off.
    pub(super) closing: Cell<bool>,
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
    pub(super) reset: Cell<Option<u64>>,
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
            spare: RefCell::new(Vec::new()),
            error: RefCell::new(None),
            busy_since: Cell::new(None),
            syncs: RefCell::new(Syncs::default()),
            sync_error: RefCell::new(None),
            size_bytes: Cell::new(0),
            reserved_bytes: Cell::new(0),
            closing: Cell::new(false),
            snapshot_bytes: Cell::new(0),
            base_size_bytes: Cell::new(0),
            last_write_ok: Cell::new(true),
            rewriting: Cell::new(false),
            first_lsn: Cell::new(1),
            written_waiters: RefCell::new(Vec::new()),
            reset: Cell::new(None),
        }
    }

    /// A remote coordinator's `WaitDurable(lsn)`: answered once `lsn` is as safe as
    /// a reply needs under `policy` (see `persist::writer::wait_acked`); dropped if
    /// the journal fails.
    pub fn defer_ack(&self, lsn: u64, policy: Fsync, reply: oneshot::Sender<Answer>) {
        self.defer(lsn, policy == Fsync::Always, reply);
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

    pub(super) fn set_written(&self, lsn: u64) {
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

    /// Zero bytes the open segment's file holds past its records: what its length
    /// overstates.
    pub fn reserved_bytes(&self) -> u64 {
        self.reserved_bytes.get()
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

    /// Resolves once `lsn` is durable and the open segment holds only records,
    /// its reserved zeros cut off: a stopping core's last wait, after which the
    /// files are what a reader of a stopped server's directory expects.
    pub fn wait_closed(&self, lsn: u64) -> impl std::future::Future<Output = ()> + '_ {
        if self.enabled {
            self.closing.set(true);
            self.request_sync();
        }
        futures::future::poll_fn(move |cx| {
            if !self.enabled || (self.durable.get() >= lsn && self.reserved_bytes.get() == 0) {
                return Poll::Ready(());
            }
            self.wait(Until::Change, cx.waker());
            Poll::Pending
        })
    }

    /// Resolves once `lsn` is written (durable under `always`); fails while the
    /// journal cannot be written and `lsn` is not.
    pub(super) fn wait_acked(
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
            let until = match policy {
                Fsync::Always => Until::Durable(lsn),
                Fsync::EverySec | Fsync::No => Until::Written(lsn),
            };
            self.wait(until, cx.waker());
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

    pub(super) fn set_durable(&self, lsn: u64) {
        self.durable.set(lsn.max(self.durable.get()));
        self.wake_waiters();
    }

    fn wait(&self, until: Until, waker: &Waker) {
        self.waiters.borrow_mut().push(Waiter {
            until,
            waker: waker.clone(),
        });
    }

    /// Wakes the waiters whose LSN was reached (all of them while the journal
    /// fails) and answers the remote ones.
    fn wake_waiters(&self) {
        let (written, durable) = (self.written.get(), self.durable.get());
        let failed = self.error.borrow().is_some();
        // Mostly the few connections of one loop turn: woken without an allocation.
        let woken: SmallVec<[Waiter; WOKEN_INLINE]> = self
            .waiters
            .borrow_mut()
            .extract_if(.., |w| {
                failed
                    || match w.until {
                        Until::Written(lsn) => written >= lsn,
                        Until::Durable(lsn) => durable >= lsn,
                        Until::Change => true,
                    }
            })
            .collect();
        for w in woken {
            w.waker.wake();
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
    pub(super) fn fail(&self, shard: usize, file: &Path, e: &std::io::Error) {
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
    pub(super) fn succeeded(&self, shard: usize) {
        self.last_write_ok.set(true);
        if self.error.borrow_mut().take().is_some() {
            FAILING_JOURNALS.fetch_sub(1, Ordering::Relaxed);
            log::warn!("shard {shard}: journal writes succeed again; accepting writes");
        }
    }

    /// Whether the writer has anything to do.
    pub(super) fn has_work(&self, shard: &Shard, policy: Fsync) -> bool {
        let sync_wanted = self.sync_requested.get() || policy == Fsync::Always;
        shard.log().pending_bytes() > 0
            || !self.unwritten.borrow().is_empty()
            || self.rotation.borrow().is_some()
            || self.reset.get().is_some()
            || self.sync_error.borrow().is_some()
            || (self.closing.get() && self.reserved_bytes.get() > 0)
            || (sync_wanted && self.may_start_sync())
    }

    /// Whether written records are not covered by a sync done or in flight.
    pub(super) fn needs_sync(&self) -> bool {
        self.written.get() > self.syncs.borrow().covered(self.durable.get())
    }

    /// Whether a sync of the written records may start now ([`Syncs::may_start`]);
    /// otherwise the records wait for their group to grow or for a sync to end,
    /// which wakes the writer.
    pub(super) fn may_start_sync(&self) -> bool {
        self.syncs
            .borrow()
            .may_start(self.written.get(), self.durable.get())
    }

    /// When the oldest sync in flight started.
    pub(super) fn oldest_sync(&self) -> Option<Instant> {
        self.syncs.borrow().oldest()
    }

    /// A sync that makes `lsn` durable was handed to the kernel.
    pub(super) fn sync_started(&self, lsn: u64) {
        self.syncs.borrow_mut().started(lsn, self.durable.get());
    }

    /// The sync started for `lsn` ended: on success `lsn` is durable and its
    /// waiters go on; a failure waits for the writer, which the call wakes either
    /// way (it may start the next sync).
    pub(super) fn synced(&self, lsn: u64, result: std::io::Result<()>) {
        self.syncs.borrow_mut().ended(lsn);
        match result {
            Ok(()) => self.set_durable(lsn),
            Err(e) => *self.sync_error.borrow_mut() = Some(e),
        }
        self.kick();
    }

    /// Resolves once no sync is in flight (the writer's own task waits so).
    pub(super) fn syncs_done(&self) -> impl std::future::Future<Output = ()> + '_ {
        futures::future::poll_fn(move |cx| {
            if self.syncs.borrow().is_empty() {
                return Poll::Ready(());
            }
            self.writer.set(Some(cx.waker().clone()));
            Poll::Pending
        })
    }

    /// Writes are being refused after a failure.
    pub(super) fn failing(&self) -> bool {
        self.error.borrow().is_some()
    }

    /// Moves the shard's waiting records behind the unwritten ones.
    pub(super) fn take_records(&self, shard: &mut Shard) {
        if shard.log().pending_bytes() == 0 {
            return;
        }
        let spare = std::mem::take(&mut *self.spare.borrow_mut());
        let records = shard.log_mut().take_into(spare);
        let mut unwritten = self.unwritten.borrow_mut();
        if unwritten.is_empty() {
            *unwritten = records;
        } else {
            unwritten.extend_from_slice(&records);
        }
        self.unwritten_last.set(shard.log().last_lsn());
    }
}
