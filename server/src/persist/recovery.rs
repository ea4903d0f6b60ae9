//! Start-up recovery: every shard, in parallel, loads its newest snapshot and replays
//! the journal after it.
//!
//! ```text
//!  per shard (one thread each)                 all shards
//!  ──────────────────────────                  ──────────
//!  1. delete *.tmp leftovers
//!  2. load newest snapshot (LSN S)
//!  3. scan segments after S: a torn tail of
//!     the last one is truncated; damage in
//!     the middle stops start-up (or is cut
//!     with journal-truncate-corrupt yes)
//!  4. publish last LSN L ───────────────────►  barrier: every L known
//!  5. replay records after S; a TxPart is
//!     applied only if every participant's
//!     L reaches the LSN its part has
//! ```
//!
//! Step 5 is what makes a multi-shard transaction all or nothing after a crash: a
//! part names each participant with the LSN of that participant's part, and a
//! shard's journal (or the snapshot below it) reaches that LSN exactly when it holds
//! the part, since the LSN was fixed while the transaction held the shard.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

use corekv_engine::journal::{self, Effect, End, Scanner};
use corekv_engine::replay::apply_effect;
use corekv_engine::shard::{CollectionLimits, Shard};

use crate::persist::datadir;
use crate::runtime::clock::now_ms;
use crate::shard::global::LoadProgress;

/// How often a long load logs its progress.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);
/// Records replayed between updates of the shared progress counters.
const PROGRESS_RECORDS: u64 = 4096;

/// What recovery needs to know.
pub struct Options {
    pub dir: PathBuf,
    pub shards: usize,
    /// `journal-truncate-corrupt`: cut a journal at a corrupt record instead of
    /// refusing to start.
    pub truncate_corrupt: bool,
    /// Seed for each shard's random generator (as `Shard::new` takes it).
    pub seed: u64,
    /// The server starts as a replica: every transaction part is applied, since
    /// the parts other shards miss are still to come from the master.
    pub follows_master: bool,
    /// The configured encoding limits of collections, so a collection rebuilt from
    /// the journal takes the encoding it had when it was written.
    pub limits: CollectionLimits,
}

/// One shard, recovered.
pub struct Recovered {
    pub shard: Shard,
    pub last_lsn: u64,
    /// The segment appends continue in: its first LSN and path.
    pub segment: (u64, PathBuf),
    /// Bytes of journal on disk.
    pub journal_bytes: u64,
    /// Recovery cut records off the journal (a torn tail or a corrupt record).
    pub cut_records: bool,
    /// First LSN the journal holds.
    pub first_lsn: u64,
}

/// A journal segment read into memory, with its valid records.
struct Loaded {
    /// The LSN in the segment's name: its first record's.
    first_lsn: u64,
    path: PathBuf,
    buf: Vec<u8>,
    /// `(offset, lsn, payload range)` of each valid record.
    records: Vec<(usize, u64, std::ops::Range<usize>)>,
}

/// Steps 1–3 for one shard.
struct Prepared {
    shard: Shard,
    snapshot_lsn: u64,
    segments: Vec<Loaded>,
    last_lsn: u64,
    append_to: (u64, PathBuf),
    cut_records: bool,
}

/// Recovers every shard in parallel. An error names the file and offset at fault.
pub fn recover_all(opts: &Options, progress: &LoadProgress) -> Result<Vec<Recovered>, String> {
    progress
        .started_unix_s
        .store(now_ms() / 1000, Ordering::Relaxed);
    let n = opts.shards;
    let barrier = Barrier::new(n);
    // Each shard's last LSN once prepared; `None` for a shard that failed.
    let lasts: Mutex<Vec<Option<u64>>> = Mutex::new(vec![None; n]);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .map(|id| {
                let (barrier, lasts) = (&barrier, &lasts);
                scope.spawn(move || {
                    let prepared = prepare(opts, id, progress);
                    if let Ok(p) = &prepared {
                        lasts.lock().expect("lasts")[id] = Some(p.last_lsn);
                    }
                    barrier.wait();
                    let prepared = prepared?;
                    // Another shard failed: its error is the one to report.
                    let all: Option<Vec<u64>> =
                        lasts.lock().expect("lasts").iter().copied().collect();
                    match all {
                        Some(lasts) => {
                            replay(id, prepared, &lasts, opts.follows_master, progress).map(Some)
                        }
                        None => Ok(None),
                    }
                })
            })
            .collect();
        let mut out = Vec::with_capacity(n);
        let mut errors = Vec::new();
        for h in handles {
            match h.join().expect("recovery thread") {
                Ok(Some(r)) => out.push(r),
                Ok(None) => {}
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(errors.join("; "))
        }
    })
}

fn io_err(path: &Path, e: std::io::Error) -> String {
    format!("{}: {e}", path.display())
}

/// Steps 1–3 for one shard, up to the barrier: its snapshot loaded, its journal
/// read and cut where its valid records end.
fn prepare(opts: &Options, id: usize, progress: &LoadProgress) -> Result<Prepared, String> {
    let sdir = datadir::shard_dir(&opts.dir, id);
    let listing = shard_files(&sdir, id)?;
    let mut shard = Shard::new(id, opts.seed).with_limits(opts.limits);
    let snapshot_lsn = load_newest_snapshot(&mut shard, &listing.snapshots, opts, id, progress)?;
    let journal = scan_journal(opts, &listing.segments, snapshot_lsn, progress)?;
    let segments = journal.segments;
    let first_lsn = segments.iter().find_map(|s| s.records.first().map(|r| r.1));
    if let Some(first) = first_lsn {
        if first > snapshot_lsn + 1 {
            return Err(format!(
                "shard {id}: the journal starts at LSN {first} but the snapshot is at LSN \
                 {snapshot_lsn}: records in between are missing"
            ));
        }
    }
    let last_lsn = journal
        .next_lsn
        .map_or(snapshot_lsn, |e| (e - 1).max(snapshot_lsn));
    let append_to = match segments.last() {
        Some(s) => (s.first_lsn, s.path.clone()),
        None => (last_lsn + 1, datadir::segment_path(&sdir, last_lsn + 1)),
    };
    Ok(Prepared {
        shard,
        snapshot_lsn,
        segments,
        last_lsn,
        append_to,
        cut_records: journal.cut_records,
    })
}

/// Step 1: makes sure the shard's directory `sdir` exists, empties it if a full
/// sync from a master did not finish there (what it holds is neither the old data
/// nor the master's), deletes files a crash left half-written, and lists the rest.
fn shard_files(sdir: &Path, id: usize) -> Result<datadir::Listing, String> {
    datadir::create_dir_durably(sdir).map_err(|e| io_err(sdir, e))?;
    let marker = datadir::resync_marker(sdir);
    if marker.exists() {
        log::warn!(
            "shard {id}: a full sync from the master did not finish; starting the shard empty"
        );
        datadir::remove_all(sdir).map_err(|e| io_err(sdir, e))?;
        std::fs::remove_file(&marker).map_err(|e| io_err(&marker, e))?;
    }
    let listing = datadir::list(sdir).map_err(|e| io_err(sdir, e))?;
    for leftover in &listing.leftovers {
        log::info!("removing unfinished {}", leftover.display());
        std::fs::remove_file(leftover).map_err(|e| io_err(leftover, e))?;
    }
    Ok(listing)
}

/// Step 2: loads the newest of `snapshots` (oldest first) into `shard` and deletes
/// the older ones; returns its LSN, 0 without a snapshot.
fn load_newest_snapshot(
    shard: &mut Shard,
    snapshots: &[(u64, PathBuf)],
    opts: &Options,
    id: usize,
    progress: &LoadProgress,
) -> Result<u64, String> {
    let snapshot_lsn = match snapshots.last() {
        Some((lsn, path)) => {
            let bytes = load_snapshot(shard, path, *lsn, id, opts.shards)?;
            progress.total_bytes.fetch_add(bytes, Ordering::Relaxed);
            progress.done_bytes.fetch_add(bytes, Ordering::Relaxed);
            *lsn
        }
        None => 0,
    };
    // Older snapshots are kept only until the newer one is complete.
    for (_, path) in &snapshots[..snapshots.len().saturating_sub(1)] {
        let _ = std::fs::remove_file(path);
    }
    Ok(snapshot_lsn)
}

/// Step 3's result: the journal segments after the snapshot, read and cut where
/// their valid records end.
struct ScannedJournal {
    segments: Vec<Loaded>,
    /// The LSN after the last valid record; `None` if no segment holds one.
    next_lsn: Option<u64>,
    /// A torn tail or a corrupt record was cut off.
    cut_records: bool,
}

/// What recovery cut off at the end of a segment's valid records.
enum Cut {
    /// Nothing: the segment ends cleanly.
    Nothing,
    /// The torn tail of the last segment: a write a crash cut short.
    TornTail,
    /// A corrupt record and everything after it, in this segment and the later
    /// ones (`journal-truncate-corrupt yes`).
    Corrupt,
}

/// Step 3: reads the segments `all` (by first LSN, oldest first) that hold records
/// after `snapshot_lsn`, checks that their LSNs follow one another, and cuts the
/// journal where its valid records end.
fn scan_journal(
    opts: &Options,
    all: &[(u64, PathBuf)],
    snapshot_lsn: u64,
    progress: &LoadProgress,
) -> Result<ScannedJournal, String> {
    let mut scanned = ScannedJournal {
        segments: Vec::new(),
        next_lsn: None,
        cut_records: false,
    };
    let mut cut = false;
    for (k, (first, path)) in all.iter().enumerate() {
        if cut {
            log::warn!(
                "removing {} (after a truncated corrupt record)",
                path.display()
            );
            std::fs::remove_file(path).map_err(|e| io_err(path, e))?;
            continue;
        }
        let next_first = all.get(k + 1).map(|(f, _)| *f);
        if next_first.is_some_and(|f| f <= snapshot_lsn + 1) {
            // Every record here is in the snapshot: a deletion a crash interrupted.
            std::fs::remove_file(path).map_err(|e| io_err(path, e))?;
            continue;
        }
        let (segment, end) = read_segment(*first, path, &mut scanned.next_lsn, progress)?;
        let last_segment = k + 1 == all.len();
        match cut_bad_end(opts, path, end, segment.buf.len(), last_segment)? {
            Cut::Nothing => {}
            Cut::TornTail => scanned.cut_records = true,
            Cut::Corrupt => {
                cut = true;
                scanned.cut_records = true;
            }
        }
        scanned.segments.push(segment);
    }
    Ok(scanned)
}

/// Reads the segment at `path`, named by its first LSN `first`, and its valid
/// records, which must carry the LSNs from `next_lsn` (from `first` if `None`) on;
/// advances `next_lsn` past them. Returns the segment and how its records ended.
fn read_segment(
    first: u64,
    path: &Path,
    next_lsn: &mut Option<u64>,
    progress: &LoadProgress,
) -> Result<(Loaded, End), String> {
    let mut buf = std::fs::read(path).map_err(|e| io_err(path, e))?;
    progress
        .total_bytes
        .fetch_add(buf.len() as u64, Ordering::Relaxed);
    let mut scanner = Scanner::new(&buf);
    let mut records = Vec::new();
    for r in scanner.by_ref() {
        let want = next_lsn.unwrap_or(first);
        if r.lsn != want {
            return Err(format!(
                "journal {} is corrupt at offset {}: LSN {} where {want} belongs",
                path.display(),
                r.offset,
                r.lsn
            ));
        }
        *next_lsn = Some(r.lsn + 1);
        records.push((r.offset, r.lsn, r.payload));
    }
    let end = release_reserved(path, scanner.end(), &mut buf)?;
    let segment = Loaded {
        first_lsn: first,
        path: path.to_path_buf(),
        buf,
        records,
    };
    Ok((segment, end))
}

/// Cuts the segment at `path` (`len` bytes) where its records stopped being
/// valid: a torn tail of the last segment always, damage anywhere else only with
/// `journal-truncate-corrupt yes` (otherwise start-up stops with an error).
fn cut_bad_end(
    opts: &Options,
    path: &Path,
    end: End,
    len: usize,
    last_segment: bool,
) -> Result<Cut, String> {
    match end {
        End::Clean | End::Reserved { .. } => Ok(Cut::Nothing),
        End::TornTail { offset } if last_segment => {
            log::warn!(
                "journal {}: torn tail at offset {offset} ({} bytes after the last whole record), truncated",
                path.display(),
                len - offset
            );
            truncate(path, offset)?;
            Ok(Cut::TornTail)
        }
        End::TornTail { offset } | End::Corrupt { offset } => {
            if !opts.truncate_corrupt {
                return Err(format!(
                    "journal {} is corrupt at offset {offset} (of {len} bytes); start with \
                     --journal-truncate-corrupt yes to cut it there, losing every later write",
                    path.display(),
                ));
            }
            log::warn!(
                "journal {}: corrupt at offset {offset}, truncated there (journal-truncate-corrupt yes)",
                path.display()
            );
            truncate(path, offset)?;
            Ok(Cut::Corrupt)
        }
    }
}

/// Cuts off the zeros a journal writer reserved after the last record, if the scan
/// ended there: not data, and every reader of the file (the writer appending at
/// its end, the sizes in INFO) then sees only the records. Such an end is clean.
fn release_reserved(path: &Path, end: Option<End>, buf: &mut Vec<u8>) -> Result<End, String> {
    let end = end.expect("scanner ran to its end");
    let End::Reserved { offset } = end else {
        return Ok(end);
    };
    log::info!(
        "journal {}: {} reserved bytes after the last record at offset {offset}, released",
        path.display(),
        buf.len() - offset
    );
    truncate(path, offset)?;
    buf.truncate(offset);
    Ok(End::Clean)
}

fn truncate(path: &Path, len: usize) -> Result<(), String> {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| io_err(path, e))?;
    f.set_len(len as u64)
        .and_then(|_| f.sync_all())
        .map_err(|e| io_err(path, e))
}

fn load_snapshot(
    shard: &mut Shard,
    path: &Path,
    lsn: u64,
    id: usize,
    shards: usize,
) -> Result<u64, String> {
    let started = Instant::now();
    let buf = std::fs::read(path).map_err(|e| io_err(path, e))?;
    let (header, entries) = shard
        .keyspace_mut()
        .load_snapshot(&buf)
        .map_err(|e| format!("snapshot {} is damaged: {e}", path.display()))?;
    if header.shard_id != id || header.shards != shards || header.lsn != lsn {
        return Err(format!(
            "snapshot {} belongs to shard {} of {} at LSN {}, not shard {id} of {shards} at LSN {lsn}",
            path.display(),
            header.shard_id,
            header.shards,
            header.lsn
        ));
    }
    log::info!(
        "shard {id}: loaded snapshot {} ({entries} keys, {} bytes) in {:.3} s",
        path.display(),
        buf.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(buf.len() as u64)
}

/// Rewrites the parts recovery did not apply as no-op records of the same LSN and
/// length, so that no later reader of the journal (a replica's stream, the next
/// recovery once the other participants' journals have grown past those LSNs)
/// applies them.
fn neutralize(segments: &[Loaded], skipped: &[(usize, usize, usize)]) -> Result<(), String> {
    use std::os::unix::fs::FileExt;
    let mut touched: Vec<usize> = skipped.iter().map(|s| s.0).collect();
    touched.dedup();
    for index in touched {
        let seg = &segments[index];
        let io = |e| io_err(&seg.path, e);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&seg.path)
            .map_err(io)?;
        for &(_, start, end) in skipped.iter().filter(|s| s.0 == index) {
            let mut record = seg.buf[start..end].to_vec();
            journal::neutralize_record(&mut record);
            file.write_all_at(&record, start as u64).map_err(io)?;
        }
        file.sync_data().map_err(io)?;
    }
    Ok(())
}

/// Step 5: replays the records after the snapshot.
fn replay(
    id: usize,
    p: Prepared,
    lasts: &[u64],
    follows_master: bool,
    progress: &LoadProgress,
) -> Result<Recovered, String> {
    let Prepared {
        mut shard,
        snapshot_lsn,
        segments,
        last_lsn,
        append_to,
        cut_records,
    } = p;
    let total_bytes: usize = segments.iter().map(|s| s.buf.len()).sum();
    let mut replayed = ReplayProgress::new(id, progress, total_bytes);
    // Parts not applied, as (segment, record start, record end).
    let mut skipped: Vec<(usize, usize, usize)> = Vec::new();
    for (seg_index, seg) in segments.iter().enumerate() {
        for (offset, lsn, payload) in &seg.records {
            if *lsn <= snapshot_lsn {
                continue;
            }
            let effect = Effect::decode(&seg.buf[payload.clone()]).map_err(|e| {
                format!(
                    "journal {} is corrupt at offset {offset}: record {lsn} does not decode ({e:?})",
                    seg.path.display()
                )
            })?;
            if let Effect::TxPart { participants, .. } = &effect {
                // A replica's missing parts are still to come from its master.
                let whole = follows_master
                    || participants.iter().all(|part| {
                        lasts
                            .get(part.shard as usize)
                            .is_some_and(|&last| part.lsn <= last)
                    });
                if !whole {
                    skipped.push((seg_index, *offset, payload.end));
                    continue;
                }
            }
            apply_effect(&mut shard, effect);
            replayed.applied(*offset, &shard);
        }
        replayed.segment_done(seg.buf.len());
    }
    replayed.finish();
    if !skipped.is_empty() {
        log::warn!(
            "shard {id}: {} multi-shard transaction part(s) not applied: another \
             participant's part never reached its journal",
            skipped.len()
        );
        neutralize(&segments, &skipped)?;
    }
    let keys: usize = shard.keyspace().dbs().iter().map(|d| d.len()).sum();
    log::info!(
        "shard {id}: replayed {} journal records after LSN {snapshot_lsn} in {:.3} s; \
         {keys} keys, last LSN {last_lsn}",
        replayed.applied,
        replayed.started.elapsed().as_secs_f64()
    );
    shard.log_mut().enable(last_lsn);
    Ok(Recovered {
        shard,
        last_lsn,
        segment: append_to,
        journal_bytes: total_bytes as u64,
        cut_records,
        first_lsn: snapshot_lsn + 1,
    })
}

/// How far one shard's replay got. Other threads read the shared byte counter (INFO's
/// loading fields), so it is advanced every [`PROGRESS_RECORDS`] records rather
/// than per record, and the log hears of it at most every [`PROGRESS_INTERVAL`].
struct ReplayProgress<'p> {
    id: usize,
    shared: &'p LoadProgress,
    started: Instant,
    /// Journal bytes of every segment.
    total_bytes: usize,
    /// Journal bytes of the segments replayed whole.
    done_bytes: usize,
    /// Bytes added to the shared counter so far.
    reported: u64,
    last_report: Instant,
    /// Records applied.
    applied: u64,
}

impl<'p> ReplayProgress<'p> {
    fn new(id: usize, shared: &'p LoadProgress, total_bytes: usize) -> ReplayProgress<'p> {
        ReplayProgress {
            id,
            shared,
            started: Instant::now(),
            total_bytes,
            done_bytes: 0,
            reported: 0,
            last_report: Instant::now(),
            applied: 0,
        }
    }

    /// Counts one more record applied, the one at `offset` of the segment being
    /// replayed; `shard` is counted for its keys.
    fn applied(&mut self, offset: usize, shard: &Shard) {
        self.applied += 1;
        if !self.applied.is_multiple_of(PROGRESS_RECORDS) {
            return;
        }
        let at = (self.done_bytes + offset) as u64;
        self.shared
            .done_bytes
            .fetch_add(at - self.reported, Ordering::Relaxed);
        self.reported = at;
        if self.last_report.elapsed() >= PROGRESS_INTERVAL {
            self.last_report = Instant::now();
            let keys: usize = shard.keyspace().dbs().iter().map(|d| d.len()).sum();
            log::info!(
                "shard {}: loading {:.0}% of {} journal bytes, {keys} keys, {:.0} records/s",
                self.id,
                (self.done_bytes + offset) as f64 * 100.0 / self.total_bytes.max(1) as f64,
                self.total_bytes,
                self.applied as f64 / self.started.elapsed().as_secs_f64()
            );
        }
    }

    /// Counts a segment of `bytes` replayed whole.
    fn segment_done(&mut self, bytes: usize) {
        self.done_bytes += bytes;
    }

    /// Adds what the shared counter has not been told yet: every segment is done.
    fn finish(&self) {
        self.shared
            .done_bytes
            .fetch_add(self.done_bytes as u64 - self.reported, Ordering::Relaxed);
    }
}
