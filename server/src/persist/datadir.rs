//! Where persistent state lives under `dir`, and how its file names are read back.
//!
//! ```text
//!  dir/
//!  ├── corekv.lock                          held (flock) while a server runs
//!  ├── shard-000/
//!  │   ├── snapshot-00000000000000001234.snap   image of the shard at LSN 1234
//!  │   ├── journal-00000000000000000001.log     records from LSN 1 ...
//!  │   └── journal-00000000000000001235.log     ... records from LSN 1235 on
//!  ├── shard-001/ ...
//!  └── backups/<UTC time>/                   SAVE / BGSAVE backup sets
//!      ├── manifest.json
//!      └── shard-000.snap ...
//! ```
//!
//! A journal segment is named after the LSN its first record has; a snapshot after
//! the LSN it is the image at. Files being written carry a `.tmp` suffix until they
//! are complete, synced and renamed, so a crash leaves either the old file or the
//! new one, and recovery deletes leftovers.

use std::io;
use std::path::{Path, PathBuf};

const JOURNAL_PREFIX: &str = "journal-";
const JOURNAL_SUFFIX: &str = ".log";
const SNAPSHOT_PREFIX: &str = "snapshot-";
const SNAPSHOT_SUFFIX: &str = ".snap";
const TMP_SUFFIX: &str = ".tmp";

pub fn shard_dir(dir: &Path, shard: usize) -> PathBuf {
    dir.join(format!("shard-{shard:03}"))
}

pub fn segment_path(shard_dir: &Path, first_lsn: u64) -> PathBuf {
    shard_dir.join(format!("{JOURNAL_PREFIX}{first_lsn:020}{JOURNAL_SUFFIX}"))
}

pub fn snapshot_path(shard_dir: &Path, lsn: u64) -> PathBuf {
    shard_dir.join(format!("{SNAPSHOT_PREFIX}{lsn:020}{SNAPSHOT_SUFFIX}"))
}

/// Present while a replica replaces the shard's data with its master's (a full
/// sync): the files beside it are not a consistent state, and recovery starts the
/// shard empty.
pub fn resync_marker(shard_dir: &Path) -> PathBuf {
    shard_dir.join("full-sync-in-progress")
}

/// Removes every segment and snapshot of a shard (a replica's full sync): the
/// newest segment first, the snapshot last, so a crash midway leaves a snapshot
/// and the segments after it.
pub fn remove_all(shard_dir: &Path) -> io::Result<()> {
    let listing = list(shard_dir)?;
    for (_, path) in listing.segments.iter().rev() {
        std::fs::remove_file(path)?;
    }
    for path in listing
        .snapshots
        .iter()
        .map(|(_, p)| p)
        .chain(&listing.leftovers)
    {
        std::fs::remove_file(path)?;
    }
    sync_dir(shard_dir)
}

/// The name a file is written under before it is complete.
pub fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(TMP_SUFFIX);
    path.with_file_name(name)
}

pub fn backups_dir(dir: &Path) -> PathBuf {
    dir.join("backups")
}

/// What one shard directory holds, each list sorted by LSN.
#[derive(Debug, Default)]
pub struct Listing {
    pub segments: Vec<(u64, PathBuf)>,
    pub snapshots: Vec<(u64, PathBuf)>,
    /// Files left half-written by a crash.
    pub leftovers: Vec<PathBuf>,
}

fn lsn_in(name: &str, prefix: &str, suffix: &str) -> Option<u64> {
    name.strip_prefix(prefix)?
        .strip_suffix(suffix)?
        .parse()
        .ok()
}

/// Lists a shard directory (empty if it does not exist).
pub fn list(shard_dir: &Path) -> io::Result<Listing> {
    let mut listing = Listing::default();
    let entries = match std::fs::read_dir(shard_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(listing),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name.ends_with(TMP_SUFFIX) {
            listing.leftovers.push(path);
        } else if let Some(lsn) = lsn_in(name, JOURNAL_PREFIX, JOURNAL_SUFFIX) {
            listing.segments.push((lsn, path));
        } else if let Some(lsn) = lsn_in(name, SNAPSHOT_PREFIX, SNAPSHOT_SUFFIX) {
            listing.snapshots.push((lsn, path));
        }
    }
    listing.segments.sort();
    listing.snapshots.sort();
    Ok(listing)
}

/// Creates `dir` and the parents it lacks, syncing each parent after its new
/// entry: a new directory's name is durable only once its parent is synced, and
/// without that a power loss takes everything synced inside it along.
pub fn create_dir_durably(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) else {
        return std::fs::create_dir_all(dir);
    };
    create_dir_durably(parent)?;
    match std::fs::create_dir(dir) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
        _ => {}
    }
    sync_dir(parent)
}

/// Makes a directory's entries (files created, renamed, removed) durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Total size of the files in `paths` that still exist.
pub fn total_size<'a>(paths: impl IntoIterator<Item = &'a PathBuf>) -> u64 {
    paths
        .into_iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort_by_lsn() {
        let dir = std::env::temp_dir().join(format!("corekv-datadir-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for lsn in [10, 2, 300] {
            std::fs::write(segment_path(&dir, lsn), b"").unwrap();
        }
        std::fs::write(snapshot_path(&dir, 9), b"").unwrap();
        std::fs::write(tmp_path(&snapshot_path(&dir, 12)), b"").unwrap();
        std::fs::write(dir.join("other"), b"").unwrap();
        let l = list(&dir).unwrap();
        let lsns: Vec<u64> = l.segments.iter().map(|(lsn, _)| *lsn).collect();
        assert_eq!(lsns, [2, 10, 300]);
        assert_eq!(l.snapshots.len(), 1);
        assert_eq!(l.snapshots[0].0, 9);
        assert_eq!(l.leftovers.len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(list(&dir).unwrap().segments.is_empty());
    }
}
