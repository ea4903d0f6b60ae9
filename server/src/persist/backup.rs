//! Backup sets: a consistent image of every shard at one cut, in a directory of its
//! own with a manifest, made by `SAVE`/`BGSAVE`; starting an instance from one
//! (`--restore-from`); listing and verifying them (`--list-backups`,
//! `--verify-backup`).
//!
//! ```text
//!  SAVE / BGSAVE (a coordinator on any core)
//!    lock every shard, ascending ──► the cut: no transaction is half on either side
//!    each shard starts a snapshot at its LSN (copy-on-write from here on)
//!    unlock ──► service goes on while the images are written
//!    all written ──► manifest.json (shard count, LSNs, sizes, CRC32C, keys)
//!
//!  dir/backups/20261121-080102-123/
//!    shard-000.snap  shard-001.snap ...  manifest.json   (written last)
//! ```
//!
//! A set without a manifest is incomplete and never restored from.

use std::path::{Path, PathBuf};
use std::rc::Rc;

use corekv_engine::command::exec::Op;
use corekv_engine::snapshot;
use futures::channel::oneshot;
use futures::future::join_all;
use serde::{Deserialize, Serialize};

use crate::persist::datadir;
use crate::persist::saver::{snapshot, SaveResult, Target};
use crate::runtime::clock::now_ms;
use crate::shard::mesh::Msg;
use crate::shard::Core;

const MANIFEST: &str = "manifest.json";
const MANIFEST_FORMAT: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub created_unix_ms: u64,
    pub shards: usize,
    pub run_id: String,
    pub files: Vec<ManifestFile>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManifestFile {
    pub shard: usize,
    pub file: String,
    pub lsn: u64,
    pub bytes: u64,
    pub crc32c: u32,
    pub keys: u64,
}

impl Manifest {
    pub fn keys(&self) -> u64 {
        self.files.iter().map(|f| f.keys).sum()
    }

    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.bytes).sum()
    }
}

/// A backup set's directory name: its UTC creation time, sortable.
pub fn set_name(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}-{:03}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        unix_ms % 1000
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// What a finished backup reports: where it is and the change counter at its cut.
pub struct Saved {
    pub path: PathBuf,
    pub dirty_at_cut: u64,
}

/// A backup set whose cut is taken: each shard's image is being written.
pub struct Cut {
    set: PathBuf,
    images: Vec<oneshot::Receiver<SaveResult>>,
}

/// Takes the cut of a backup set of every shard into `dir/backups/<time>/`: every
/// shard is locked (ascending), starts its snapshot, and is unlocked. Returns once
/// the cut is taken; [`finish`] waits for the images and writes the manifest.
pub async fn cut(core: &Rc<Core>) -> Result<Cut, String> {
    let dir = PathBuf::from(core.global.config.get("dir"));
    let set = datadir::backups_dir(&dir).join(set_name(now_ms()));
    datadir::create_dir_durably(&set).map_err(|e| format!("{}: {e}", set.display()))?;
    let n = core.shards();
    let tx = core.new_tx();
    for s in 0..n {
        core.op(s, Some(tx), Op::Lock).await;
    }
    let mut waits = Vec::with_capacity(n);
    for s in 0..n {
        let (done, result) = oneshot::channel::<SaveResult>();
        let target = Target::Backup(set.join(format!("shard-{s:03}.snap")));
        core.call(s, Some(tx), snapshot(target, done)).await;
        waits.push(result);
    }
    for s in 0..n {
        core.end_tx(s, tx, Msg::Unlock, false).await;
    }
    Ok(Cut { set, images: waits })
}

/// Waits for a cut's images and completes the set with its manifest.
pub async fn finish(core: &Rc<Core>, cut: Cut) -> Result<Saved, String> {
    let Cut { set, images } = cut;
    let n = images.len();
    let results = join_all(images).await;
    let mut files = Vec::with_capacity(n);
    let mut dirty_at_cut = 0;
    for (shard, r) in results.into_iter().enumerate() {
        let saved = match r {
            Ok(Ok(saved)) => saved,
            Ok(Err(e)) => return Err(abandon(&set, format!("shard {shard}: {e}"))),
            Err(_) => return Err(abandon(&set, "shutting down".into())),
        };
        dirty_at_cut += saved.dirty;
        files.push(ManifestFile {
            shard,
            file: file_name(&saved.file),
            lsn: saved.lsn,
            bytes: saved.bytes,
            crc32c: saved.crc32c,
            keys: saved.entries,
        });
    }
    let manifest = Manifest {
        format: MANIFEST_FORMAT,
        created_unix_ms: now_ms(),
        shards: n,
        run_id: core.global.run_id.clone(),
        files,
    };
    write_manifest(&set, &manifest).map_err(|e| abandon(&set, e))?;
    log::info!(
        "backup set {} written: {} keys, {} bytes",
        set.display(),
        manifest.keys(),
        manifest.bytes()
    );
    Ok(Saved {
        path: set,
        dirty_at_cut,
    })
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Removes a set that could not be completed; returns the reason.
fn abandon(set: &Path, why: String) -> String {
    let _ = std::fs::remove_dir_all(set);
    why
}

fn write_manifest(set: &Path, manifest: &Manifest) -> Result<(), String> {
    let path = set.join(MANIFEST);
    let tmp = datadir::tmp_path(&path);
    let text = serde_json::to_string_pretty(manifest).map_err(|e| e.to_string())?;
    let io = |e: std::io::Error| format!("{}: {e}", path.display());
    let file = std::fs::File::create(&tmp).map_err(io)?;
    std::io::Write::write_all(&mut &file, text.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)?;
    datadir::sync_dir(set).map_err(io)
}

fn read_manifest(set: &Path) -> Result<Manifest, String> {
    let path = set.join(MANIFEST);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "{}: {e} (an incomplete backup set has no manifest)",
            path.display()
        )
    })?;
    let manifest: Manifest =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    if manifest.format != MANIFEST_FORMAT || manifest.files.len() != manifest.shards {
        return Err(format!(
            "{}: unknown format or wrong number of files",
            path.display()
        ));
    }
    Ok(manifest)
}

/// Checks every file of a set against its manifest (size, CRC32C, shard, LSN, key
/// count) and its own chunk checksums. Returns the manifest.
pub fn verify(set: &Path) -> Result<Manifest, String> {
    let manifest = read_manifest(set)?;
    for (i, f) in manifest.files.iter().enumerate() {
        let path = set.join(&f.file);
        let buf = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let damaged = |why: String| format!("{} is damaged: {why}", path.display());
        if f.shard != i || buf.len() as u64 != f.bytes {
            return Err(damaged(format!(
                "{} bytes where the manifest says {}",
                buf.len(),
                f.bytes
            )));
        }
        if crc32c::crc32c(&buf) != f.crc32c {
            return Err(damaged("checksum differs from the manifest".into()));
        }
        let (header, keys) = snapshot::verify(&buf).map_err(|e| damaged(e.to_string()))?;
        if header.shard_id != i
            || header.shards != manifest.shards
            || header.lsn != f.lsn
            || keys != f.keys
        {
            return Err(damaged(
                "header or key count differs from the manifest".into(),
            ));
        }
    }
    Ok(manifest)
}

/// The sets under `dir/backups`, oldest first, each with its manifest or why it
/// is unusable.
pub fn list(dir: &Path) -> Vec<(PathBuf, Result<Manifest, String>)> {
    let Ok(entries) = std::fs::read_dir(datadir::backups_dir(dir)) else {
        return Vec::new();
    };
    let mut sets: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    sets.sort();
    sets.into_iter()
        .map(|set| {
            let m = verify(&set);
            (set, m)
        })
        .collect()
}

/// Prints [`list`] for `corekv-server --list-backups`.
pub fn print_list(dir: &Path) {
    let sets = list(dir);
    if sets.is_empty() {
        println!("no backup sets in {}", datadir::backups_dir(dir).display());
    }
    for (set, m) in sets {
        match m {
            Ok(m) => println!(
                "{}  ok  shards={} keys={} bytes={} lsns={}",
                set.display(),
                m.shards,
                m.keys(),
                m.bytes(),
                m.files
                    .iter()
                    .map(|f| f.lsn.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            Err(e) => println!("{}  UNUSABLE  {e}", set.display()),
        }
    }
}

/// Makes `dir` hold exactly the backup set `set` (verified first): each shard's
/// journal and snapshots are replaced by the set's image, which recovery then
/// loads. Rolls an instance back in place, or clones a set into a new `dir`.
pub fn restore(set: &Path, dir: &Path, shards: usize) -> Result<(), String> {
    let manifest = verify(set)?;
    if manifest.shards != shards {
        return Err(format!(
            "backup set {} has {} shards; start with --shards {}",
            set.display(),
            manifest.shards,
            manifest.shards
        ));
    }
    for f in &manifest.files {
        let sdir = datadir::shard_dir(dir, f.shard);
        let io = |p: &Path, e: std::io::Error| format!("{}: {e}", p.display());
        std::fs::create_dir_all(&sdir).map_err(|e| io(&sdir, e))?;
        let listing = datadir::list(&sdir).map_err(|e| io(&sdir, e))?;
        let old = listing
            .segments
            .iter()
            .chain(&listing.snapshots)
            .map(|(_, p)| p)
            .chain(&listing.leftovers);
        for path in old {
            std::fs::remove_file(path).map_err(|e| io(path, e))?;
        }
        let target = datadir::snapshot_path(&sdir, f.lsn);
        let tmp = datadir::tmp_path(&target);
        let src = set.join(&f.file);
        std::fs::copy(&src, &tmp).map_err(|e| io(&src, e))?;
        std::fs::File::open(&tmp)
            .and_then(|file| file.sync_all())
            .map_err(|e| io(&tmp, e))?;
        std::fs::rename(&tmp, &target).map_err(|e| io(&target, e))?;
        datadir::sync_dir(&sdir).map_err(|e| io(&sdir, e))?;
    }
    log::warn!(
        "restored {} into {}: {} keys at LSNs {}",
        set.display(),
        dir.display(),
        manifest.keys(),
        manifest
            .files
            .iter()
            .map(|f| f.lsn.to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_names_are_utc_times() {
        assert_eq!(set_name(0), "19700101-000000-000");
        // 2026-11-21 08:01:02.123 UTC
        assert_eq!(set_name(1_795_248_062_123), "20261121-080102-123");
        assert_eq!(set_name(951_782_400_000), "20000229-000000-000");
    }
}
