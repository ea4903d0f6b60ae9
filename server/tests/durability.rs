//! Durability matches `appendfsync`, and a failing disk neither corrupts the journal
//! nor gets a write acknowledged that is not in it.
//!
//! - Under `everysec` a reply leaves only once its records are handed to the kernel,
//!   so `SIGKILL` (a process crash; the kernel keeps its page cache) loses no
//!   acknowledged write: writers under load, killed at random moments, and one
//!   `MSET` of 100,000 keys killed right after its `+OK`.
//! - A data directory on a small tmpfs that fills up: writes get Redis's
//!   `-MISCONF Errors writing to the AOF file: No space left on device` while it is
//!   full (under `everysec` and `always`), reads go on, `INFO` says `err`; a failed
//!   `BGREWRITEAOF`/`BGSAVE` says so in `INFO`; once the filesystem grows, writes
//!   succeed again by themselves, and a restart after `SIGKILL` starts cleanly with
//!   every acknowledged write.
//!
//! The tmpfs tests mount and unmount a filesystem, which needs root; where mounting
//! is refused they say so and pass without checking anything.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{encode, info_value, restart_in, start_in, DataDir, Raw, Server, EXIT_TIMEOUT};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Pause between attempts at something that is expected to happen soon.
const POLL_INTERVAL: Duration = Duration::from_millis(20);
/// Keys asked for in one `MGET` when checking many.
const MGET_KEYS_MAX: usize = 1000;

/// Kills the server with `SIGKILL` and reaps it.
fn kill(server: &mut Server) {
    server.signal(libc::SIGKILL);
    let status = server.wait_exit(EXIT_TIMEOUT).expect("exits on SIGKILL");
    assert_eq!(status.code(), None, "killed by a signal: {status}");
}

/// A random seed, printed so that a failing run can be repeated.
fn seeded_rng(test: &str) -> StdRng {
    let seed = std::env::var("COREKV_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("{test}: COREKV_TEST_SEED={seed}");
    StdRng::seed_from_u64(seed)
}

/// The values `keys` hold, fetched in chunks.
fn values_of(con: &mut redis::Connection, keys: &[String]) -> Vec<Option<String>> {
    let mut values = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(MGET_KEYS_MAX) {
        let got: Vec<Option<String>> = redis::cmd("MGET").arg(chunk).query(con).expect("MGET");
        values.extend(got);
    }
    values
}

// ---- SIGKILL under load ----

/// Kill/restart cycles, and when in each the kill comes.
const LOAD_CYCLES: usize = 6;
const KILL_AFTER_MS_MIN: u64 = 150;
const KILL_AFTER_MS_MAX: u64 = 400;
const LOAD_SHARDS: &str = "2";
/// Writers of `SET` batches and of `MSET`s over both shards.
const SET_WRITERS: usize = 3;
const MSET_WRITERS: usize = 1;
/// Commands per pipelined batch, and bytes per value: big batches make each
/// journal write long, and with it the window a reply sent before it could fall in.
const BATCH_COMMANDS: usize = 32;
const VALUE_BYTES: usize = 1024;
/// Keys of one `MSET`.
const MSET_KEYS: usize = 8;

/// One writer's keys: `SET` writers write `w<id>:<seq>`, `MSET` writers the keys
/// `m<id>:<seq>:<0..MSET_KEYS>`; each value names its key.
#[derive(Clone, Copy)]
struct LoadWriter {
    id: usize,
    mset: bool,
}

impl LoadWriter {
    fn keys(&self, seq: u64) -> Vec<String> {
        if self.mset {
            (0..MSET_KEYS)
                .map(|k| format!("m{}:{seq}:{k}", self.id))
                .collect()
        } else {
            vec![format!("w{}:{seq}", self.id)]
        }
    }

    fn value(key: &str) -> String {
        let mut v = format!("{key}=");
        v.extend(std::iter::repeat_n('v', VALUE_BYTES));
        v
    }

    /// Writes from `seq` on until the connection breaks; returns the first
    /// sequence number not acknowledged.
    fn run(self, mut con: redis::Connection, mut seq: u64) -> u64 {
        loop {
            let mut pipe = redis::pipe();
            for s in seq..seq + BATCH_COMMANDS as u64 {
                let keys = self.keys(s);
                if self.mset {
                    let pairs: Vec<(String, String)> = keys
                        .into_iter()
                        .map(|k| {
                            let v = LoadWriter::value(&k);
                            (k, v)
                        })
                        .collect();
                    pipe.cmd("MSET").arg(pairs).ignore();
                } else {
                    let v = LoadWriter::value(&keys[0]);
                    pipe.cmd("SET").arg(&keys[0]).arg(v).ignore();
                }
            }
            match pipe.query::<()>(&mut con) {
                Ok(()) => seq += BATCH_COMMANDS as u64,
                Err(e) if e.is_io_error() || e.is_connection_dropped() => return seq,
                Err(e) => panic!("writer {}: {e}", self.id),
            }
        }
    }
}

/// With `appendfsync everysec`, writers pipeline `SET`s and cross-shard `MSET`s
/// against two shards and the server is killed with `SIGKILL` at a random moment,
/// several times over one data directory. After each restart every acknowledged
/// write is there. (Without the write before the reply, replies of the last
/// batches leave while their records are still in the server's memory.)
#[test]
fn sigkill_under_load_loses_no_acknowledged_write_with_everysec() {
    let mut rng = seeded_rng("sigkill under load");
    let dir = DataDir::new("killload");
    let args = ["--shards", LOAD_SHARDS, "--appendfsync", "everysec"];
    let mut server = start_in(&dir, &args);
    let port = server.port();
    let writers: Vec<LoadWriter> = (0..SET_WRITERS + MSET_WRITERS)
        .map(|id| LoadWriter {
            id,
            mset: id >= SET_WRITERS,
        })
        .collect();
    let mut acked = vec![0u64; writers.len()];
    for cycle in 0..LOAD_CYCLES {
        let before = acked.clone();
        let running: Vec<_> = writers
            .iter()
            .zip(&acked)
            .map(|(w, &from)| {
                let (w, con) = (*w, server.client());
                std::thread::spawn(move || w.run(con, from))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(
            rng.gen_range(KILL_AFTER_MS_MIN..=KILL_AFTER_MS_MAX),
        ));
        kill(&mut server);
        acked = running
            .into_iter()
            .map(|w| w.join().expect("writer"))
            .collect();
        server = restart_in(port, &dir, &args);
        let mut con = server.client();
        // This cycle's writes; earlier ones were checked after earlier restarts,
        // and the key count below covers them all.
        for ((w, &upto), &from) in writers.iter().zip(&acked).zip(&before) {
            let keys: Vec<String> = (from..upto).flat_map(|s| w.keys(s)).collect();
            let values = values_of(&mut con, &keys);
            let lost: Vec<&String> = keys
                .iter()
                .zip(&values)
                .filter(|(k, v)| v.as_deref() != Some(LoadWriter::value(k).as_str()))
                .map(|(k, _)| k)
                .collect();
            assert!(
                lost.is_empty(),
                "cycle {cycle}: writer {} lost {} of {} acknowledged keys, e.g. {:?}",
                w.id,
                lost.len(),
                keys.len(),
                &lost[..lost.len().min(5)]
            );
        }
        let dbsize: u64 = redis::cmd("DBSIZE").query(&mut con).expect("DBSIZE");
        let total: u64 = writers
            .iter()
            .zip(&acked)
            .map(|(w, &upto)| upto * w.keys(0).len() as u64)
            .sum();
        assert!(
            dbsize >= total,
            "cycle {cycle}: {dbsize} keys, {total} acknowledged"
        );
    }
    assert!(
        acked.iter().all(|&a| a > 0),
        "every writer made progress: {acked:?}"
    );
}

/// Keys of the one big `MSET`.
const BIG_MSET_KEYS: usize = 100_000;

/// One `MSET` of 100,000 keys, `+OK`, `SIGKILL` at once: all of them are there
/// after the restart, on one shard and spread over four (a transaction).
#[test]
fn an_mset_of_100000_keys_survives_sigkill_right_after_its_reply() {
    for shards in ["1", "4"] {
        let dir = DataDir::new("bigmset");
        let args = ["--shards", shards, "--appendfsync", "everysec"];
        let mut server = start_in(&dir, &args);
        let keys: Vec<String> = (0..BIG_MSET_KEYS).map(|i| format!("big:{i}")).collect();
        let values: Vec<String> = (0..BIG_MSET_KEYS).map(|i| format!("value:{i}")).collect();
        let mut request: Vec<&[u8]> = vec![b"MSET"];
        for (k, v) in keys.iter().zip(&values) {
            request.push(k.as_bytes());
            request.push(v.as_bytes());
        }
        let mut con = server.raw();
        con.send(&encode(&request));
        assert_eq!(con.read_reply(), b"+OK\r\n", "{shards} shards");
        kill(&mut server);
        let server = restart_in(server.port(), &dir, &args);
        let mut con = server.client();
        let dbsize: usize = redis::cmd("DBSIZE").query(&mut con).expect("DBSIZE");
        assert_eq!(
            dbsize, BIG_MSET_KEYS,
            "{shards} shards: keys after the restart"
        );
        let held = values_of(&mut con, &keys);
        for (i, v) in held.iter().enumerate() {
            assert_eq!(
                v.as_deref(),
                Some(values[i].as_str()),
                "{shards} shards: big:{i}"
            );
        }
    }
}

// ---- a full disk ----

/// Size of the small filesystem, and what it grows to.
const TMPFS_SIZE: &str = "6m";
const TMPFS_GROWN_SIZE: &str = "64m";
/// Bytes of each value written until the filesystem is full.
const FILL_VALUE_BYTES: usize = 64 * 1024;
/// More values than the small filesystem holds.
const FILL_WRITES_MAX: usize = 400;
/// Writes tried while full (each must be refused).
const WRITES_WHILE_FULL: usize = 5;
/// How long the server may take to notice space again (it retries once a second)
/// and how long a background save may take to fail.
const RESUME_TIMEOUT: Duration = Duration::from_secs(10);
const MISCONF_ENOSPC: &str = "-MISCONF Errors writing to the AOF file: No space left on device";

/// A tmpfs mounted on a fresh data directory; unmounted on drop, before the
/// directory is removed.
struct Tmpfs {
    dir: DataDir,
}

impl Tmpfs {
    /// Mounts one of `size`; `None` (with a message) where mounting is refused.
    fn mount(tag: &str, size: &str) -> Option<Tmpfs> {
        let dir = DataDir::new(tag);
        std::fs::create_dir_all(dir.path()).expect("mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs { dir }),
            Ok(o) => {
                eprintln!(
                    "SKIPPED: mounting a tmpfs was refused ({}): {}",
                    o.status,
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                None
            }
            Err(e) => {
                eprintln!("SKIPPED: can't run mount: {e}");
                None
            }
        }
    }

    fn grow(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(self.dir.path())
            .status()
            .expect("run mount");
        assert!(status.success(), "remount to {size}: {status}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = |p: &Path| {
            Command::new("umount")
                .arg(p)
                .status()
                .is_ok_and(|s| s.success())
        };
        if !unmounted(self.dir.path()) {
            // Still busy (a server not yet reaped): detach it now, gone when free.
            let _ = Command::new("umount")
                .arg("-l")
                .arg(self.dir.path())
                .status();
        }
    }
}

fn fill_value(i: usize) -> String {
    let mut v = format!("fill:{i}:");
    v.extend(std::iter::repeat_n('x', FILL_VALUE_BYTES));
    v
}

fn info_field(con: &mut Raw, field: &str) -> String {
    let info = con.cmd(&["INFO", "persistence"]);
    info_value(&info, field).unwrap_or_else(|| panic!("no {field} in {info}"))
}

/// Waits until `INFO persistence` shows `field:want`.
fn wait_info(con: &mut Raw, field: &str, want: &str) {
    let deadline = Instant::now() + RESUME_TIMEOUT;
    loop {
        let got = info_field(con, field);
        if got == want {
            return;
        }
        assert!(Instant::now() < deadline, "{field} is {got}, not {want}");
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// Checks that every acknowledged `fill:<i>` holds its value.
fn assert_filled(server: &Server, acked: &[usize], context: &str) {
    let mut con = server.client();
    let keys: Vec<String> = acked.iter().map(|i| format!("fill:{i}")).collect();
    let values = values_of(&mut con, &keys);
    for (i, v) in acked.iter().zip(values) {
        assert!(
            v.as_deref() == Some(fill_value(*i).as_str()),
            "{context}: fill:{i} acknowledged, but it holds {} bytes",
            v.map_or(0, |v| v.len())
        );
    }
}

/// `SET fill:<i>` for `i` in `range` until the first refusal, which it returns
/// (it must be the full disk's `MISCONF`); every write acknowledged before is
/// added to `acked`.
fn fill_until_refused(
    con: &mut Raw,
    range: std::ops::Range<usize>,
    acked: &mut Vec<usize>,
) -> usize {
    for i in range {
        let reply = con.cmd(&["SET", &format!("fill:{i}"), &fill_value(i)]);
        if reply == "OK" {
            acked.push(i);
            continue;
        }
        assert!(
            reply.starts_with(MISCONF_ENOSPC),
            "the write that found the disk full: {reply}"
        );
        return i;
    }
    panic!("the filesystem never filled up");
}

/// Writes until the server answers `+OK` again, at most [`RESUME_TIMEOUT`] after
/// the filesystem grew; every refusal meanwhile is the full disk's.
fn wait_resumed(con: &mut Raw, policy: &str) {
    let grown = Instant::now();
    loop {
        let reply = con.cmd(&["SET", "resumed", "1"]);
        if reply == "OK" {
            break;
        }
        assert!(reply.starts_with(MISCONF_ENOSPC), "{policy}: {reply}");
        assert!(
            grown.elapsed() < RESUME_TIMEOUT,
            "{policy}: writes still refused after the filesystem grew"
        );
        std::thread::sleep(POLL_INTERVAL);
    }
    eprintln!(
        "{policy}: writes resumed {:?} after the filesystem grew",
        grown.elapsed()
    );
    assert_eq!(info_field(con, "aof_last_write_status"), "ok");
}

/// Fills the disk under `appendfsync <policy>` and checks what clients see while it
/// is full; kills the server while it is still full and restarts it; grows the
/// filesystem and checks that writes resume by themselves; kills it again and
/// checks the restart. Every acknowledged write is there after each restart, and
/// the write refused when the disk filled (which ran in memory, and whose record
/// is written once there is space) reads the same before and after the last one.
fn full_disk(policy: &str) {
    let Some(fs) = Tmpfs::mount(&format!("full-{policy}"), TMPFS_SIZE) else {
        return;
    };
    let args = ["--shards", "2", "--appendfsync", policy];
    let mut server = start_in(&fs.dir, &args);
    let mut con = server.raw();
    let mut acked = Vec::new();
    let refused = fill_until_refused(&mut con, 0..FILL_WRITES_MAX, &mut acked);
    assert!(!acked.is_empty(), "{policy}: some writes fit");
    for j in 0..WRITES_WHILE_FULL {
        let reply = con.cmd(&["SET", &format!("late:{j}"), "v"]);
        assert!(
            reply.starts_with(MISCONF_ENOSPC),
            "{policy}: a write while full: {reply}"
        );
        // Refused before it ran, as Redis refuses it.
        assert_eq!(con.cmd(&["GET", &format!("late:{j}")]), "(nil)");
    }
    let first = format!("fill:{}", acked[0]);
    assert_eq!(
        con.cmd(&["GET", &first]),
        fill_value(acked[0]),
        "{policy}: reads go on"
    );
    assert_eq!(info_field(&mut con, "aof_last_write_status"), "err");

    // Background saves fail, say so, and leave the files as they were.
    assert_eq!(
        con.cmd(&["BGREWRITEAOF"]),
        "Background append only file rewriting started"
    );
    wait_info(&mut con, "aof_rewrite_in_progress", "0");
    assert_eq!(info_field(&mut con, "aof_last_bgrewrite_status"), "err");
    // The set's directory may already fail to be made (then the reply says so).
    let bgsave = con.cmd(&["BGSAVE"]);
    assert!(
        bgsave == "Background saving started" || bgsave.starts_with("-ERR"),
        "{policy}: BGSAVE: {bgsave}"
    );
    wait_info(&mut con, "rdb_bgsave_in_progress", "0");
    assert_eq!(info_field(&mut con, "rdb_last_bgsave_status"), "err");
    assert!(
        server.log_text().contains("No space left on device"),
        "{policy}: the log says why"
    );

    // Killed while full: the restart (on the still full disk) starts cleanly.
    kill(&mut server);
    let mut server = restart_in(server.port(), &fs.dir, &args);
    assert_filled(&server, &acked, &format!("{policy}, restarted while full"));
    let mut con = server.raw();
    let next = refused + 1;
    let refused = fill_until_refused(&mut con, next..next + FILL_WRITES_MAX, &mut acked);
    let refused_key = format!("fill:{refused}");
    let refused_value = con.cmd(&["GET", &refused_key]);

    fs.grow(TMPFS_GROWN_SIZE);
    wait_resumed(&mut con, policy);
    let next = refused + 1;
    for i in next..next + WRITES_WHILE_FULL {
        assert_eq!(
            con.cmd(&["SET", &format!("fill:{i}"), &fill_value(i)]),
            "OK"
        );
        acked.push(i);
    }
    kill(&mut server);
    let server = restart_in(server.port(), &fs.dir, &args);
    assert_filled(
        &server,
        &acked,
        &format!("{policy}, restarted after the growth"),
    );
    let mut con = server.raw();
    assert_eq!(
        con.cmd(&["GET", "resumed"]),
        "1",
        "{policy}: the write that resumed"
    );
    assert_eq!(
        con.cmd(&["GET", &refused_key]),
        refused_value,
        "{policy}: the refused write reads as it did before the restart"
    );
}

#[test]
fn a_full_disk_refuses_writes_and_loses_nothing_with_everysec() {
    full_disk("everysec");
}

#[test]
fn a_full_disk_refuses_writes_and_loses_nothing_with_always() {
    full_disk("always");
}
