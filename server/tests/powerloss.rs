//! Power loss, simulated: the real `corekv-server` runs on a FUSE filesystem
//! ([`powerloss_fs`]) that knows which bytes and names were synced; after a SIGKILL
//! the test keeps only what a disk would hold after losing power (unsynced writes
//! dropped, a random prefix of them kept, or the last page torn), starts the server
//! again on that, and checks what it recovered against what it acknowledged.
//!
//! - `appendfsync always`: every acknowledged write survives.
//! - `appendfsync everysec`: only writes acknowledged in the last
//!   [`EVERYSEC_LOSS_WINDOW`] before the crash may be lost.
//! - Always: each writer's keys show a prefix of its operations (each writer but
//!   the `MSET` one stays on one shard, whose journal is a prefix); an `MSET` over
//!   shards is all or nothing; the server starts.
//! - A completed journal rewrite (snapshot) survives, and a reply under `always`
//!   leaves only after its journal segment was synced (counted by the filesystem).
//!
//! Runs are randomized and print their seed; `POWERLOSS_SEED=<n>` repeats their
//! random choices (what survives of unsynced bytes and names, when background
//! work starts); the writers' interleaving is real time.

mod common;
#[path = "support/powerloss_fs.rs"]
mod powerloss_fs;

use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{free_port, info_value, shard_of, unique_dir, Server, EXIT_TIMEOUT};
use powerloss_fs::{Loss, Names, PowerLossFs};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const SHARDS: usize = 4;
/// Keys of a writer that sets or churns keys (each on its writer's shard).
const KEYS_PER_WRITER: usize = 4;
/// How long writers run under `always` before the crash.
const ALWAYS_RUN: Duration = Duration::from_millis(1200);
/// How long writers run under `everysec`: longer than the loss window, so a
/// server that never syncs loses writes older than the window.
const EVERYSEC_RUN: Duration = Duration::from_millis(3500);
/// What `appendfsync everysec` may lose: one sync interval (1 s) plus 1 s of slack
/// for the sync itself on a loaded machine.
const EVERYSEC_LOSS_WINDOW: Duration = Duration::from_secs(2);
/// How long after its reply an `everysec` write may wait for the sync that makes
/// it durable: one sync interval (1 s) plus slack for a loaded machine, well
/// below the 2 s of an interval twice too long.
const EVERYSEC_SYNC_DELAY_MAX: Duration = Duration::from_millis(1600);
/// A background `BGREWRITEAOF` / `BGSAVE` starts within this much of a run's start.
const BACKGROUND_START_MAX: Duration = Duration::from_millis(600);
/// How long a journal rewrite may take to finish.
const REWRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Keys and value size of the rewrite-deletion check: about 1.6 MB per shard.
const REWRITE_KEYS: usize = 400;
const REWRITE_VALUE_BYTES: usize = 16 * 1024;
/// Sequential acknowledged writes the sync-before-reply check makes.
const ACKED_SYNC_WRITES: u64 = 20;
/// How long each sync takes in that check: a reply sent before its sync finished
/// arrives while the sync is still being counted.
const SLOW_FSYNC: Duration = Duration::from_millis(20);

/// The base seed: `POWERLOSS_SEED` or the clock. Printed, so a failure can be rerun.
fn base_seed(test: &str) -> u64 {
    let seed = std::env::var("POWERLOSS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        });
    eprintln!("{test}: POWERLOSS_SEED={seed}");
    seed
}

/// A mounted [`PowerLossFs`] over a fresh backing directory; both directories
/// are removed on drop.
struct Mount {
    fs: Option<PowerLossFs>,
    backing: PathBuf,
    point: PathBuf,
}

impl Mount {
    fn new(fsync_delay: Duration) -> Mount {
        let backing = unique_dir("powerloss-backing");
        let point = unique_dir("powerloss-mount");
        std::fs::create_dir_all(&backing).expect("backing dir");
        std::fs::create_dir_all(&point).expect("mount point");
        let fs = PowerLossFs::mount(&backing, &point, fsync_delay)
            .expect("mount the power-loss filesystem (root and /dev/fuse needed)");
        Mount {
            fs: Some(fs),
            backing,
            point,
        }
    }

    fn fs(&self) -> &PowerLossFs {
        self.fs.as_ref().expect("mounted")
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if let Some(fs) = self.fs.take() {
            fs.unmount();
        }
        let _ = std::fs::remove_dir(&self.point);
        let _ = std::fs::remove_dir_all(&self.backing);
    }
}

/// A plain directory removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn start_on(dir: &Path, args: &[&str]) -> Result<Server, String> {
    let mut server = Server::spawn_in(free_port(), dir, args).map_err(|e| e.to_string())?;
    server.wait_ready().map(|()| server)
}

fn kill(server: &mut Server) {
    server.signal(libc::SIGKILL);
    assert!(
        server.wait_exit(EXIT_TIMEOUT).is_some(),
        "server exits on SIGKILL"
    );
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pattern {
    Set,
    Incr,
    Append,
    /// SET, EXPIRE, DEL in turn on each key.
    Churn,
    /// MSET of one value over keys on every shard.
    Mset,
}

/// One writer's keys as they stand after some of its operations: value and
/// whether it has a TTL.
type Image = Vec<(Option<String>, bool)>;

/// A client making one write at a time and noting when each was acknowledged.
struct Writer {
    pattern: Pattern,
    keys: Vec<String>,
    acks: Vec<Instant>,
    /// An error reply other than a dropped connection.
    refused: Option<String>,
}

/// `count` keys named `prefix:i` on `shard`.
fn keys_on(prefix: &str, shard: usize, count: usize) -> Vec<String> {
    (0..)
        .map(|i| format!("{prefix}:{i}"))
        .filter(|k| shard_of(k, SHARDS) == shard)
        .take(count)
        .collect()
}

/// One key on each shard.
fn keys_over_shards(prefix: &str) -> Vec<String> {
    (0..SHARDS)
        .map(|s| keys_on(prefix, s, 1).remove(0))
        .collect()
}

impl Writer {
    fn new(pattern: Pattern, id: usize) -> Writer {
        let prefix = format!("{pattern:?}-{id}").to_lowercase();
        let shard = id % SHARDS;
        let keys = match pattern {
            Pattern::Set | Pattern::Churn => keys_on(&prefix, shard, KEYS_PER_WRITER),
            Pattern::Incr | Pattern::Append => keys_on(&prefix, shard, 1),
            Pattern::Mset => keys_over_shards(&prefix),
        };
        Writer {
            pattern,
            keys,
            acks: Vec::new(),
            refused: None,
        }
    }

    fn command(&self, n: u64) -> redis::Cmd {
        let key = |n: u64| &self.keys[n as usize % self.keys.len()];
        match self.pattern {
            Pattern::Set => redis::cmd("SET").arg(key(n)).arg(n).clone(),
            Pattern::Incr => redis::cmd("INCR").arg(key(n)).clone(),
            Pattern::Append => redis::cmd("APPEND")
                .arg(key(n))
                .arg(format!("{n},"))
                .clone(),
            Pattern::Churn => match (n / KEYS_PER_WRITER as u64) % 3 {
                0 => redis::cmd("SET").arg(key(n)).arg(n).clone(),
                1 => redis::cmd("EXPIRE").arg(key(n)).arg(100_000).clone(),
                _ => redis::cmd("DEL").arg(key(n)).clone(),
            },
            Pattern::Mset => {
                let mut cmd = redis::cmd("MSET");
                for k in &self.keys {
                    cmd.arg(k).arg(n);
                }
                cmd
            }
        }
    }

    /// Operation `n` (from 1) applied to `image`.
    fn step(&self, image: &mut Image, n: u64) {
        let j = n as usize % self.keys.len();
        match self.pattern {
            Pattern::Set => image[j] = (Some(n.to_string()), false),
            Pattern::Incr => image[0] = (Some(n.to_string()), false),
            Pattern::Append => {
                let mut v = image[0].0.take().unwrap_or_default();
                v.push_str(&format!("{n},"));
                image[0] = (Some(v), false);
            }
            Pattern::Churn => match (n / KEYS_PER_WRITER as u64) % 3 {
                0 => image[j] = (Some(n.to_string()), false),
                1 => image[j].1 = image[j].0.is_some(),
                _ => image[j] = (None, false),
            },
            Pattern::Mset => {
                for slot in image.iter_mut() {
                    *slot = (Some(n.to_string()), false);
                }
            }
        }
    }

    /// Writes until the connection drops (the crash).
    fn run(mut self, mut con: redis::Connection) -> Writer {
        for n in 1u64.. {
            match self.command(n).query::<redis::Value>(&mut con) {
                Ok(_) => self.acks.push(Instant::now()),
                Err(e) => {
                    if !(e.is_io_error() || e.is_connection_dropped() || e.is_timeout()) {
                        self.refused = Some(e.to_string());
                    }
                    break;
                }
            }
        }
        self
    }

    fn observe(&self, con: &mut redis::Connection) -> Image {
        self.keys
            .iter()
            .map(|k| {
                let v: Option<String> = redis::cmd("GET").arg(k).query(con).expect("GET");
                let ttl: i64 = redis::cmd("TTL").arg(k).query(con).expect("TTL");
                (v, ttl > 0)
            })
            .collect()
    }

    /// Checks the recovered keys show this writer's first `k` operations for some
    /// `k` from `lo` (every write that had to survive) to one past the last
    /// acknowledged (the write in flight at the crash).
    fn verify(&self, con: &mut redis::Connection, lo: u64, context: &str) {
        assert!(
            self.refused.is_none(),
            "{context}: {:?} writer refused: {:?}",
            self.pattern,
            self.refused
        );
        let observed = self.observe(con);
        let hi = self.acks.len() as u64 + 1;
        let mut image: Image = vec![(None, false); self.keys.len()];
        for k in 0..=hi {
            if k > 0 {
                self.step(&mut image, k);
            }
            if k >= lo && image == observed {
                return;
            }
        }
        let mut at_lo: Image = vec![(None, false); self.keys.len()];
        for n in 1..=lo {
            self.step(&mut at_lo, n);
        }
        panic!(
            "{context}: {:?} writer (keys {:?}): recovered {observed:?} is not its state after \
             any of operations {lo}..={hi}; after {lo} (the least that must survive) it is \
             {at_lo:?}",
            self.pattern, self.keys
        );
    }
}

/// What runs beside the writers.
#[derive(Clone, Copy, Debug)]
struct Background {
    rewrite: Option<Duration>,
    save: Option<Duration>,
}

impl Background {
    const NONE: Background = Background {
        rewrite: None,
        save: None,
    };

    fn random(rng: &mut StdRng) -> Background {
        let mut at = || {
            rng.gen_bool(0.5)
                .then(|| rng.gen_range(Duration::ZERO..BACKGROUND_START_MAX))
        };
        Background {
            rewrite: at(),
            save: at(),
        }
    }
}

/// One run: writers on a fresh server on the power-loss filesystem, background
/// work in flight, SIGKILL, power loss, restart on what survives, verify.
fn power_loss_run(seed: u64, fsync: &str, run_for: Duration, loss: Loss, background: Background) {
    let mut rng = StdRng::seed_from_u64(seed);
    let names = if rng.gen_bool(0.5) {
        Names::Synced
    } else {
        Names::UnlinksOnly
    };
    let context = format!("seed {seed}, appendfsync {fsync}, {loss:?}, {names:?}, {background:?}");
    eprintln!("run: {context}");
    let args = ["--shards", "4", "--appendfsync", fsync];
    let mount = Mount::new(Duration::ZERO);
    let mut server = start_on(&mount.point, &args)
        .unwrap_or_else(|log| panic!("{context}: no start on the mount: {log}"));
    let patterns = [
        Pattern::Set,
        Pattern::Incr,
        Pattern::Append,
        Pattern::Churn,
        Pattern::Mset,
    ];
    let started = Instant::now();
    let writers: Vec<JoinHandle<Writer>> = patterns
        .iter()
        .enumerate()
        .map(|(id, &p)| {
            let w = Writer::new(p, id);
            let con = server.client();
            std::thread::spawn(move || w.run(con))
        })
        .collect();
    let mut admin = server.client();
    let mut events: Vec<(Duration, &str)> = [
        (background.rewrite, "BGREWRITEAOF"),
        (background.save, "BGSAVE"),
    ]
    .into_iter()
    .filter_map(|(at, cmd)| at.map(|at| (at, cmd)))
    .collect();
    events.sort();
    for (at, cmd) in events {
        std::thread::sleep(at.saturating_sub(started.elapsed()));
        let _: redis::Value = redis::cmd(cmd)
            .query(&mut admin)
            .unwrap_or_else(|e| panic!("{context}: {cmd}: {e}"));
    }
    std::thread::sleep(run_for.saturating_sub(started.elapsed()));
    let info: String = redis::cmd("INFO")
        .arg("persistence")
        .query(&mut admin)
        .expect("INFO");
    let backup_done = info_value(&info, "rdb_saves").is_some_and(|n| n != "0");
    let crashed = Instant::now();
    kill(&mut server);
    let writers: Vec<Writer> = writers
        .into_iter()
        .map(|w| w.join().expect("writer"))
        .collect();
    let image = TempDir(unique_dir("powerloss-image"));
    mount
        .fs()
        .crash_image(&image.0, loss, names, &mut rng)
        .expect("crash image");
    drop(mount);
    if backup_done {
        eprintln!("{context}: checking the finished backup set");
        check_backup_set(&image.0, &context);
    }
    let restarted = start_on(&image.0, &args)
        .unwrap_or_else(|log| panic!("{context}: refused to start after the power loss: {log}"));
    let mut con = restarted.client();
    for w in &writers {
        assert!(
            !w.acks.is_empty(),
            "{context}: {:?} writer made progress",
            w.pattern
        );
        let lo = if fsync == "always" {
            w.acks.len() as u64
        } else {
            let cutoff = crashed - EVERYSEC_LOSS_WINDOW;
            w.acks.iter().filter(|&&t| t < cutoff).count() as u64
        };
        w.verify(&mut con, lo, &context);
    }
}

/// A `BGSAVE` that finished before the crash left its whole backup set: the
/// manifest, and each shard's file with the size the manifest gives.
fn check_backup_set(dir: &Path, context: &str) {
    let sets: Vec<PathBuf> = std::fs::read_dir(dir.join("backups"))
        .map(|d| d.map(|e| e.expect("entry").path()).collect())
        .unwrap_or_default();
    assert_eq!(
        sets.len(),
        1,
        "{context}: one backup set after a finished BGSAVE"
    );
    let manifest = std::fs::read_to_string(sets[0].join("manifest.json"))
        .unwrap_or_else(|e| panic!("{context}: manifest of {}: {e}", sets[0].display()));
    let manifest: serde_json::Value = serde_json::from_str(&manifest).expect("manifest JSON");
    let files = manifest["files"].as_array().expect("manifest files");
    assert_eq!(files.len(), SHARDS, "{context}: {manifest}");
    for f in files {
        let path = sets[0].join(f["file"].as_str().expect("file name"));
        let len = std::fs::metadata(&path).map_or(0, |m| m.len());
        assert_eq!(
            Some(len),
            f["bytes"].as_u64(),
            "{context}: {}",
            path.display()
        );
    }
}

#[test]
fn appendfsync_always_keeps_every_acknowledged_write_through_power_loss() {
    let seed = base_seed("always");
    let mut rng = StdRng::seed_from_u64(seed);
    for (i, loss) in Loss::ALL.into_iter().enumerate() {
        let background = if i == 0 {
            // A backup set finished well before the crash must be whole.
            Background {
                rewrite: None,
                save: Some(Duration::ZERO),
            }
        } else {
            Background::random(&mut rng)
        };
        power_loss_run(
            seed.wrapping_add(i as u64),
            "always",
            ALWAYS_RUN,
            loss,
            background,
        );
    }
}

#[test]
fn appendfsync_everysec_loses_at_most_the_last_second_through_power_loss() {
    let seed = base_seed("everysec");
    let mut rng = StdRng::seed_from_u64(seed);
    for (i, loss) in Loss::ALL.into_iter().enumerate() {
        // A journal rewrite syncs every journal: the first run has none, so only
        // the everysec sync can have made its writes durable.
        let background = if i == 0 {
            Background::NONE
        } else {
            Background::random(&mut rng)
        };
        power_loss_run(
            seed.wrapping_add(i as u64),
            "everysec",
            EVERYSEC_RUN,
            loss,
            background,
        );
    }
}

/// `everysec` syncs once per interval while writes arrive: under a steady writer
/// each acknowledged write is synced within [`EVERYSEC_SYNC_DELAY_MAX`] of its
/// reply, and a power loss keeps every write acknowledged before the last sync.
#[test]
fn appendfsync_everysec_syncs_each_write_within_the_interval() {
    let seed = base_seed("everysec-interval");
    let mut rng = StdRng::seed_from_u64(seed);
    let args = ["--shards", "1", "--appendfsync", "everysec"];
    let mount = Mount::new(Duration::ZERO);
    let mut server = start_on(&mount.point, &args).expect("start on the mount");
    let rel = only_segment(&mount.point);
    let con = server.client();
    let writer = std::thread::spawn(move || Writer::new(Pattern::Set, 0).run(con));
    std::thread::sleep(EVERYSEC_RUN);
    let crashed = Instant::now();
    kill(&mut server);
    let writer = writer.join().expect("writer");
    let syncs = mount.fs().sync_times(&rel);
    for (i, &acked) in writer.acks.iter().enumerate() {
        if acked + EVERYSEC_SYNC_DELAY_MAX >= crashed {
            break;
        }
        let synced = syncs.iter().find(|&&s| s > acked);
        assert!(
            synced.is_some_and(|&s| s - acked <= EVERYSEC_SYNC_DELAY_MAX),
            "write {} (acknowledged {:?} after the first) was synced {:?} after its reply \
             (limit {EVERYSEC_SYNC_DELAY_MAX:?}; {} syncs in {EVERYSEC_RUN:?})",
            i + 1,
            acked - writer.acks[0],
            synced.map(|&s| s - acked),
            syncs.len()
        );
    }
    let last_sync = syncs.last().copied().expect("at least one sync");
    let lo = writer.acks.iter().filter(|&&t| t < last_sync).count() as u64;
    let image = TempDir(unique_dir("powerloss-image"));
    mount
        .fs()
        .crash_image(&image.0, Loss::DropUnsynced, Names::Synced, &mut rng)
        .expect("crash image");
    drop(mount);
    let restarted = start_on(&image.0, &args)
        .unwrap_or_else(|log| panic!("seed {seed}: refused to start after the power loss: {log}"));
    writer.verify(
        &mut restarted.client(),
        lo,
        &format!("seed {seed}: everysec, writes acknowledged before the last sync"),
    );
}

/// The path, relative to `point`, of the one journal segment of shard 0.
fn only_segment(point: &Path) -> PathBuf {
    let segment = std::fs::read_dir(point.join("shard-000"))
        .expect("shard dir")
        .map(|e| e.expect("entry").file_name())
        .find(|n| n.to_string_lossy().starts_with("journal-"))
        .expect("a journal segment");
    Path::new("shard-000").join(segment)
}

/// Waits until `INFO persistence` shows no rewrite in progress and `count` done.
fn wait_rewrites(con: &mut redis::Connection, count: u64) {
    let deadline = Instant::now() + REWRITE_TIMEOUT;
    loop {
        let info: String = redis::cmd("INFO")
            .arg("persistence")
            .query(con)
            .expect("INFO");
        let done = info_value(&info, "aof_rewrites").and_then(|v| v.parse::<u64>().ok());
        if info_value(&info, "aof_rewrite_in_progress").as_deref() == Some("0")
            && done >= Some(count)
        {
            assert_eq!(
                info_value(&info, "aof_last_bgrewrite_status").as_deref(),
                Some("ok")
            );
            return;
        }
        assert!(
            Instant::now() < deadline,
            "journal rewrite did not finish: {info}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn completed_journal_rewrite_survives_power_loss() {
    let seed = base_seed("rewrite");
    let mut rng = StdRng::seed_from_u64(seed);
    let args = ["--shards", "4", "--appendfsync", "always"];
    let mount = Mount::new(Duration::ZERO);
    let mut server = start_on(&mount.point, &args).expect("start on the mount");
    let mut con = server.client();
    let before: Vec<String> = (0..200).map(|i| format!("before:{i}")).collect();
    for k in &before {
        let _: () = redis::cmd("SET")
            .arg(k)
            .arg(k)
            .query(&mut con)
            .expect("SET");
    }
    let _: redis::Value = redis::cmd("BGREWRITEAOF")
        .query(&mut con)
        .expect("BGREWRITEAOF");
    wait_rewrites(&mut con, 1);
    let _: () = redis::cmd("SET")
        .arg("after")
        .arg("1")
        .query(&mut con)
        .expect("SET");
    kill(&mut server);
    let image = TempDir(unique_dir("powerloss-image"));
    mount
        .fs()
        .crash_image(&image.0, Loss::DropUnsynced, Names::Synced, &mut rng)
        .expect("crash image");
    drop(mount);
    let restarted = start_on(&image.0, &args)
        .unwrap_or_else(|log| panic!("seed {seed}: refused to start after the power loss: {log}"));
    let mut con = restarted.client();
    for k in &before {
        let v: Option<String> = redis::cmd("GET").arg(k).query(&mut con).expect("GET");
        assert_eq!(
            v.as_deref(),
            Some(k.as_str()),
            "seed {seed}: {k} written before the rewrite"
        );
    }
    let v: Option<String> = redis::cmd("GET").arg("after").query(&mut con).expect("GET");
    assert_eq!(
        v.as_deref(),
        Some("1"),
        "seed {seed}: written after the rewrite"
    );
}

/// The moment a journal rewrite deletes the segments its snapshot replaces, the
/// snapshot's name must already be durable: a crash right after the first
/// deletion, on a filesystem that wrote that deletion but not the rename, keeps
/// every key.
#[test]
fn rewrite_snapshot_is_durable_before_older_segments_are_deleted() {
    let seed = base_seed("rewrite-deletion");
    let args = ["--shards", "4", "--appendfsync", "always"];
    let mount = Mount::new(Duration::ZERO);
    let mut server = start_on(&mount.point, &args).expect("start on the mount");
    let mut con = server.client();
    // Enough data that each shard's snapshot is renamed well after the rewrite's
    // new segment was created and its directory synced.
    let keys: Vec<String> = (0..REWRITE_KEYS).map(|i| format!("key:{i}")).collect();
    let value = |k: &str| k.repeat(REWRITE_VALUE_BYTES / k.len());
    for k in &keys {
        let _: () = redis::cmd("SET")
            .arg(k)
            .arg(value(k))
            .query(&mut con)
            .expect("SET");
    }
    let image = TempDir(unique_dir("powerloss-image"));
    mount.fs().crash_image_at_unlink(
        "journal-",
        &image.0,
        Loss::DropUnsynced,
        Names::UnlinksOnly,
        seed,
    );
    let _: redis::Value = redis::cmd("BGREWRITEAOF")
        .query(&mut con)
        .expect("BGREWRITEAOF");
    wait_rewrites(&mut con, 1);
    assert!(
        mount.fs().crash_image_taken(),
        "the rewrite deleted an older segment"
    );
    kill(&mut server);
    drop(mount);
    let restarted = start_on(&image.0, &args)
        .unwrap_or_else(|log| panic!("seed {seed}: refused to start after the power loss: {log}"));
    let mut con = restarted.client();
    for k in &keys {
        let v: Option<String> = redis::cmd("GET").arg(k).query(&mut con).expect("GET");
        assert!(v == Some(value(k)), "seed {seed}: {k} lost or changed");
    }
}

/// Bytes up to the end of the last record of `rel` that a power loss now keeps:
/// the segment's synced bytes without the zeros its writer reserves after the
/// records (a record's last byte, its payload's, is not zero in these tests).
fn durable_records_len(mount: &Mount, rel: &Path) -> usize {
    let image = TempDir(unique_dir("powerloss-synced"));
    mount
        .fs()
        .crash_image(
            &image.0,
            Loss::DropUnsynced,
            Names::Synced,
            &mut StdRng::seed_from_u64(0),
        )
        .expect("crash image");
    let bytes = std::fs::read(image.0.join(rel)).unwrap_or_default();
    assert_eq!(
        bytes.len() as u64,
        mount.fs().durable_len(rel),
        "the synced length"
    );
    bytes
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |last| last + 1)
}

#[test]
fn appendfsync_always_replies_after_the_journal_segment_is_synced() {
    let args = ["--shards", "1", "--appendfsync", "always"];
    let mount = Mount::new(SLOW_FSYNC);
    let server = start_on(&mount.point, &args).expect("start on the mount");
    let rel = only_segment(&mount.point);
    let mut con = server.client();
    let base = mount.fs().fsyncs(&rel);
    let mut durable = durable_records_len(&mount, &rel);
    for i in 1..=ACKED_SYNC_WRITES {
        let _: () = redis::cmd("SET")
            .arg("k")
            .arg(i)
            .query(&mut con)
            .expect("SET");
        let synced = mount.fs().fsyncs(&rel) - base;
        let now = durable_records_len(&mount, &rel);
        assert!(
            synced >= i,
            "after {i} acknowledged writes {} saw {synced} syncs",
            rel.display()
        );
        assert!(
            now > durable,
            "write {i} acknowledged before its record was synced ({now} bytes durable)"
        );
        durable = now;
    }
}
