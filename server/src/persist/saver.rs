//! Fork-less snapshots of a shard, written in the background while it serves: for
//! journal rewrites (`BGREWRITEAOF`, automatic) and for backup sets (`SAVE`,
//! `BGSAVE`).
//!
//! ```text
//!  start (on the shard, at its current LSN L, never awaiting):
//!    rewrite: records ≤ L go to the current segment, a new one starts at L+1
//!    engine SnapshotWriter registered: every later write saves the old entry first
//!  background task (low-share queue), chunk by chunk:
//!    next_chunk ──► file.tmp ... fdatasync, rename, sync dir
//!  rewrite only, once the image is on disk:
//!    every shard syncs its journal (so every transaction part that the image
//!    holds is durable on every participant), then segments and snapshots
//!    before L are deleted
//! ```
//!
//! **What the core's clients wait for** while a snapshot runs: one step at most.
//! A step walks [`CHUNK_BYTES`] of entries (a large value is cut into pieces of
//! that size), checksums them and, once [`WRITE_BYTES`] are gathered, queues
//! their write (glommio file I/O, asynchronous); with 100 MB values that is
//! under a millisecond of the core's time per step (release build). Then the
//! walker pauses ([`STEP_PAUSE`]) so that glommio polls the core's I/O, the
//! network among it, before the next step. Deleting the files a rewrite made
//! redundant (a 100 MB segment drops its cached pages) and syncing the directory
//! run on the executor's blocking thread.

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use corekv_engine::keyspace::SnapshotProgress;
use futures::channel::oneshot;
use futures::future::join_all;
use glommio::io::BufferedFile;

use crate::persist::datadir;
use crate::persist::journal::os_error;
use crate::persist::writer::write_all_at;
use crate::runtime::clock::now_ms;
use crate::shard::answer::Answer;
use crate::shard::mesh::Msg;
use crate::shard::Core;

/// Entry bytes the walker produces per step before yielding to requests. A
/// `BGSAVE` of 100 hashes of 100,000 fields under `HSET`s, with a client's `GET`s on
/// the same core (`bench/snapshot_stall.py --dataset hashes`): at 256 KiB the `GET`s'
/// p99 was 3.3-4.2 ms and p99.9 4.6-6.8 ms; at 64 KiB 2.4-2.8 and 3.1-3.5 ms, the
/// snapshot taking 1.44-1.58 s instead of 1.38-1.55; at 16 KiB 2.0 and 2.3 ms, but
/// 1.73-1.82 s.
const CHUNK_BYTES: usize = 64 * 1024;
/// Bytes gathered before one write to the snapshot file.
const WRITE_BYTES: usize = 1024 * 1024;
/// How long the walker pauses after each step: long enough that the core's task
/// queues run dry and glommio polls its I/O (the network driver's wake-up among
/// it), which a mere yield would not let it do before its 100 ms preemption timer.
const STEP_PAUSE: Duration = Duration::from_micros(1);

/// What a snapshot is for.
#[derive(Debug, Clone)]
pub enum Target {
    /// The shard's own snapshot; the journal before it is deleted afterwards.
    Rewrite,
    /// A backup set's file for this shard.
    Backup(PathBuf),
}

/// A finished snapshot.
#[derive(Debug, Clone)]
pub struct Saved {
    pub lsn: u64,
    pub bytes: u64,
    pub crc32c: u32,
    pub entries: u64,
    /// The shard's change counter at the snapshot's LSN.
    pub dirty: u64,
    pub file: PathBuf,
}

pub type SaveResult = Result<Saved, String>;

/// Asks a shard for a snapshot now (see [`start`]); answers at once, `done` when
/// the snapshot is written.
pub fn snapshot(target: Target, done: oneshot::Sender<SaveResult>) -> Msg {
    Msg::Control(Box::new(move |core| {
        start(core, target, done);
        Answer::Done
    }))
}

/// Starts a snapshot of `core`'s shard at its current LSN and writes it in the
/// background; `done` gets the outcome. Runs on the shard and never awaits, so the
/// image's point in time is exactly now.
pub fn start(core: &Rc<Core>, target: Target, done: oneshot::Sender<SaveResult>) {
    let rewrite = matches!(target, Target::Rewrite);
    if rewrite && (!core.journal.enabled || core.journal.rewriting.get()) {
        let why = if core.journal.enabled {
            "a journal rewrite is already in progress on this shard"
        } else {
            "the journal is off (appendonly no)"
        };
        let _ = done.send(Err(why.into()));
        return;
    }
    let id = core.next_snapshot_id();
    let (lsn, dirty, header) = {
        let mut shard = core.shard.borrow_mut();
        let lsn = shard.log().last_lsn();
        if rewrite {
            let tail = shard.log_mut().take();
            core.journal.rotate(tail, lsn + 1);
            core.journal.rewriting.set(true);
        }
        let header = shard
            .keyspace_mut()
            .start_snapshot(id, core.id, core.shards(), lsn, now_ms());
        (lsn, shard.keyspace().dirty(), header)
    };
    let file = match &target {
        Target::Rewrite => datadir::snapshot_path(&core.journal.shard_dir, lsn),
        Target::Backup(path) => path.clone(),
    };
    let core = core.clone();
    let queue = core.background_queue();
    let task = async move {
        let started = Instant::now();
        let result = write(&core, id, &file, header).await;
        let result = match result {
            Ok((bytes, crc32c, entries)) => {
                log::info!(
                    "shard {}: snapshot {} at LSN {lsn}: {entries} keys, {bytes} bytes in {:.3} s",
                    core.id,
                    file.display(),
                    started.elapsed().as_secs_f64()
                );
                Ok(Saved {
                    lsn,
                    bytes,
                    crc32c,
                    entries,
                    dirty,
                    file,
                })
            }
            Err(e) => {
                core.shard.borrow_mut().keyspace_mut().drop_snapshot(id);
                let _ = std::fs::remove_file(datadir::tmp_path(&file));
                log::warn!("shard {}: snapshot {} failed: {e}", core.id, file.display());
                Err(e)
            }
        };
        let result = match (rewrite, result) {
            (true, Ok(saved)) => finish_rewrite(&core, saved).await,
            (_, r) => r,
        };
        if rewrite {
            core.journal.rewriting.set(false);
        }
        let _ = done.send(result);
    };
    glommio::spawn_local_into(task, queue)
        .expect("background queue")
        .detach();
}

/// Walks the shard in chunks into `file` (written as `file.tmp`, then renamed).
/// Returns bytes, CRC32C of the whole file, and entries.
async fn write(
    core: &Core,
    id: u64,
    file: &Path,
    header: Vec<u8>,
) -> Result<(u64, u32, u64), String> {
    let tmp = datadir::tmp_path(file);
    let io = |e: std::io::Error| format!("{}: {e}", tmp.display());
    let out = BufferedFile::create(&tmp)
        .await
        .map_err(|e| io(os_error(e)))?;
    let mut crc = 0u32;
    let mut offset = 0u64;
    let mut buf = header;
    let entries = loop {
        let finished = {
            let mut shard = core.shard.borrow_mut();
            let ks = shard.keyspace_mut();
            match ks.snapshot_chunk(id, now_ms(), CHUNK_BYTES, &mut buf) {
                None => return Err("abandoned: FLUSHDB, FLUSHALL or SWAPDB ran meanwhile".into()),
                Some(SnapshotProgress::More) => None,
                Some(SnapshotProgress::Done { entries }) => Some(entries),
            }
        };
        if buf.len() >= WRITE_BYTES || finished.is_some() {
            crc = crc32c::crc32c_append(crc, &buf);
            offset += write_all_at(&out, &buf, offset).await.map_err(io)?;
            buf.clear();
        }
        if let Some(entries) = finished {
            break entries;
        }
        glommio::timer::sleep(STEP_PAUSE).await;
    };
    out.fdatasync().await.map_err(|e| io(os_error(e)))?;
    out.close().await.map_err(|e| io(os_error(e)))?;
    std::fs::rename(&tmp, file).map_err(io)?;
    if let Some(parent) = file.parent() {
        datadir::sync_dir(parent).map_err(io)?;
    }
    Ok((offset, crc, entries))
}

/// After a rewrite's image is on disk: every shard syncs its journal, then this
/// shard's segments and snapshots before the image are deleted.
///
/// The sync is what keeps multi-shard transactions whole: a transaction part in
/// this image was appended on every participant before this shard's part (each
/// participant stays locked until its own part is appended, and a sync request
/// waits behind a lock), so after the sync every part is durable, and recovery
/// finds each participant's journal reaching its part's LSN.
async fn finish_rewrite(core: &Rc<Core>, saved: Saved) -> SaveResult {
    let syncs = (0..core.shards()).map(|s| core.call(s, None, Msg::SyncNow));
    // A shard whose journal fails drops the request: its parts may not be on
    // disk, so the older files stay.
    if !join_all(syncs)
        .await
        .iter()
        .all(|a| matches!(a, Some(Answer::Done)))
    {
        return Err("a shard's journal could not be synced; the older files are kept".into());
    }
    let (dir, lsn) = (core.journal.shard_dir.clone(), saved.lsn);
    // Unlinking a large segment drops its cached pages and the directory sync
    // waits for the disk: neither holds the core's clients.
    let kept = glommio::executor()
        .spawn_blocking(move || delete_before(&dir, lsn))
        .await?;
    // The open segment is among those kept; its length counts the zeros its
    // writer reserved past the records.
    let kept = kept.saturating_sub(core.journal.reserved_bytes());
    core.journal.set_sizes(kept, saved.bytes);
    core.journal.first_lsn.set(saved.lsn + 1);
    Ok(saved)
}

/// Deletes the segments and snapshots of `dir` that the snapshot at `lsn` makes
/// redundant, then syncs the directory. Returns the bytes of the segments kept.
fn delete_before(dir: &Path, lsn: u64) -> Result<u64, String> {
    let listing = datadir::list(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for (first, path) in &listing.segments {
        if *first <= lsn {
            std::fs::remove_file(path).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    for (at, path) in &listing.snapshots {
        if *at < lsn {
            std::fs::remove_file(path).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    datadir::sync_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(datadir::list(dir)
        .map(|l| datadir::total_size(l.segments.iter().map(|(_, p)| p)))
        .unwrap_or(0))
}

/// Runs a journal rewrite on every shard and records the outcome for `INFO`.
pub async fn rewrite_all(core: Rc<Core>) {
    let started = Instant::now();
    let waits = (0..core.shards()).map(|s| {
        let core = core.clone();
        async move {
            let (done, result) = oneshot::channel();
            core.call(s, None, snapshot(Target::Rewrite, done)).await;
            result.await.unwrap_or_else(|_| Err("shutting down".into()))
        }
    });
    let results = join_all(waits).await;
    let failed = results.iter().find_map(|r| r.as_ref().err()).cloned();
    let mut p = core.global.persist.lock().expect("persist state");
    p.rewrite_started = None;
    p.last_rewrite_secs = started.elapsed().as_secs() as i64;
    p.last_rewrite_ok = failed.is_none();
    p.rewrites += 1;
    match failed {
        None => log::info!("Background journal rewrite finished successfully"),
        Some(e) => log::warn!("Background journal rewrite failed: {e}"),
    }
}

/// The automatic rewrite: when this shard's journal has grown by
/// `auto-aof-rewrite-percentage` over its size after the last snapshot and is at
/// least `auto-aof-rewrite-min-size`. Called from the shard's periodic task.
pub fn maybe_auto_rewrite(core: &Rc<Core>) {
    let j = &core.journal;
    if !j.enabled || j.rewriting.get() || core.global.is_loading() {
        return;
    }
    let config = &core.global.config;
    let percent = config.get_u64("auto-aof-rewrite-percentage");
    let min = config.get_u64("auto-aof-rewrite-min-size");
    let size = j.total_bytes();
    let base = j.base_size_bytes.get();
    if percent == 0 || size < min || size.saturating_mul(100) < base.saturating_mul(100 + percent) {
        return;
    }
    log::info!(
        "shard {}: starting automatic journal rewrite ({size} bytes, {base} after the last)",
        core.id
    );
    let (done, result) = oneshot::channel();
    start(core, Target::Rewrite, done);
    let global = core.global.clone();
    glommio::spawn_local(async move {
        let ok = matches!(result.await, Ok(Ok(_)));
        let mut p = global.persist.lock().expect("persist state");
        p.rewrites += 1;
        p.last_rewrite_ok = ok;
    })
    .detach();
}
