//! Durability as a client sees it: what a server killed with `SIGKILL` still holds
//! when it is started again on the same directory, what it does with a journal whose
//! tail was torn or whose middle was damaged, what clients get while it loads, that
//! a journal rewrite (snapshot) under load loses no acknowledged write, and that a
//! backup set restores exactly its cut.
//!
//! Every test runs the real binary on a data directory of its own and restarts it
//! there; the directory outlives each server ([`DataDir`]). Tests that damage a
//! journal read its record framing themselves (see [`record_ends`]), and nothing
//! else of the on-disk format. That a second server refuses a data directory in use
//! is checked in `lifecycle.rs`.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{
    encode_str, free_port, info_value, restart_in, shard_of, start_in, DataDir, Raw, Server,
    EXIT_TIMEOUT,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Attempts at starting on a fresh port when the chosen one was taken meanwhile.
const START_ATTEMPTS: usize = 5;
/// How long a restarted server may take to get its port and directory back: a
/// killed server's io_uring can hold its listening socket for some milliseconds
/// after the process is gone.
const RESTART_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a restarted server may take to load its data.
const LOAD_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between attempts at something that is expected to happen soon.
const POLL_INTERVAL: Duration = Duration::from_millis(10);
/// Keys asked for in one `MGET` when checking many.
const MGET_KEYS_MAX: usize = 1000;
/// Bytes of a journal record's header: length u32, CRC32C u32, LSN u64, little endian.
const RECORD_HEADER_BYTES: usize = 16;

/// Waits until `INFO persistence` says `loading:0`.
fn wait_loaded(server: &Server) {
    let mut con = server.raw();
    let deadline = Instant::now() + LOAD_TIMEOUT;
    loop {
        let info = con.cmd(&["INFO", "persistence"]);
        if info_value(&info, "loading").as_deref() == Some("0") {
            return;
        }
        assert!(Instant::now() < deadline, "still loading: {info}");
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// Kills the server with `SIGKILL` and reaps it.
fn kill(server: &mut Server) {
    server.signal(libc::SIGKILL);
    let status = server.wait_exit(EXIT_TIMEOUT).expect("exits on SIGKILL");
    assert_eq!(status.code(), None, "killed by a signal: {status}");
}

/// Stops the server with `SHUTDOWN`, which syncs the journal, and checks exit code 0.
fn shutdown(server: &mut Server) {
    let mut con = server.raw();
    con.send(&encode_str(&["SHUTDOWN"]));
    con.read_to_eof();
    let status = server.wait_exit(EXIT_TIMEOUT).expect("exits on SHUTDOWN");
    assert_eq!(status.code(), Some(0), "{status}: {}", server.log_text());
}

/// Starts a server on `dir` that is expected to exit on its own; returns how it
/// exited and its log.
fn start_refused(dir: &DataDir, args: &[&str]) -> (ExitStatus, String) {
    for _ in 0..START_ATTEMPTS {
        let mut server = Server::spawn_in(free_port(), dir.path(), args).expect("spawn");
        let status = server
            .wait_exit(LOAD_TIMEOUT)
            .unwrap_or_else(|| panic!("corekv-server {args:?} must exit"));
        let log = server.log_text();
        let retry = log.contains("Address already in use") || log.contains("in use by another");
        if !retry {
            return (status, log);
        }
        std::thread::sleep(POLL_INTERVAL);
    }
    panic!("corekv-server {args:?} found no free port");
}

/// The journal segments in `shard_dir`, sorted by first LSN (their name).
fn journal_segments(shard_dir: &Path) -> Vec<PathBuf> {
    let mut segments: Vec<PathBuf> = std::fs::read_dir(shard_dir)
        .expect("shard directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with("journal-") && name.ends_with(".log")
        })
        .collect();
    segments.sort();
    segments
}

/// The only journal segment of a one-shard server that never snapshotted.
fn only_segment(dir: &DataDir) -> PathBuf {
    let segments = journal_segments(&dir.shard(0));
    assert_eq!(segments.len(), 1, "{segments:?}");
    segments.into_iter().next().expect("one segment")
}

/// End offsets of the whole records at the start of `journal`, by their framing
/// alone: a 16-byte header whose first field is the payload length, then the
/// payload. Stops at the first record that does not fit.
fn record_ends(journal: &[u8]) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut at = 0;
    while at + RECORD_HEADER_BYTES <= journal.len() {
        let len = u32::from_le_bytes(journal[at..at + 4].try_into().expect("4 bytes")) as usize;
        let end = at + RECORD_HEADER_BYTES + len;
        if len == 0 || end > journal.len() {
            break;
        }
        ends.push(end);
        at = end;
    }
    ends
}

/// `SET key:i value:i` for `i` in `0..n`, pipelined, one record each.
fn set_numbered(con: &mut Raw, n: usize) {
    set_numbered_from(con, 0, n);
}

/// `SET key:i value:i` for `i` in `from..to`, pipelined, one record each.
fn set_numbered_from(con: &mut Raw, from: usize, to: usize) {
    const BATCH: usize = 1000;
    for start in (from..to).step_by(BATCH) {
        let end = (start + BATCH).min(to);
        let mut batch = Vec::new();
        for i in start..end {
            batch.extend(encode_str(&[
                "SET",
                &format!("key:{i}"),
                &format!("value:{i}"),
            ]));
        }
        con.stream.write_all(&batch).expect("write");
        for _ in start..end {
            assert_eq!(con.read_reply(), b"+OK\r\n");
        }
    }
}

/// Checks that exactly `key:0..key:present` of `key:0..key:n` exist, with their
/// values, and nothing else.
fn assert_numbered_prefix(server: &Server, present: usize, n: usize, context: &str) {
    let mut con = server.client();
    let keys: Vec<String> = (0..n).map(|i| format!("key:{i}")).collect();
    let values: Vec<Option<String>> = redis::cmd("MGET").arg(&keys).query(&mut con).expect("MGET");
    for (i, v) in values.iter().enumerate() {
        let want = (i < present).then(|| format!("value:{i}"));
        assert_eq!(
            *v, want,
            "{context}: key:{i} of {n} with {present} whole records"
        );
    }
    let dbsize: usize = redis::cmd("DBSIZE").query(&mut con).expect("DBSIZE");
    assert_eq!(dbsize, present, "{context}: DBSIZE");
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

// ---- crash cycles ----

/// Kill/restart cycles of the crash test, and when in each the kill comes.
const CRASH_CYCLES: usize = 20;
const KILL_AFTER_MS_MIN: u64 = 50;
const KILL_AFTER_MS_MAX: u64 = 400;
/// Keys each `SET` writer cycles through.
const SET_KEYS: usize = 64;
const COUNTERS: usize = 8;
/// Keys of the `MSET` group: two on each of the four shards.
const GROUP_KEYS_PER_SHARD: usize = 2;
const CRASH_SHARDS: usize = 4;

/// What the server may hold for one key (or one `MSET` group) after a crash: the
/// value of the last write it acknowledged, or that of the one write in flight when
/// it was killed. `None` is "no such key".
#[derive(Debug, Default)]
struct Expect {
    key: String,
    acked: Option<String>,
    sent: Option<String>,
}

impl Expect {
    fn new(key: String) -> Expect {
        Expect {
            key,
            ..Expect::default()
        }
    }

    /// Checks what the restarted server holds; from then on that is the value.
    fn check_and_adopt(&mut self, held: Option<String>, cycle: usize) {
        assert!(
            held == self.acked || held == self.sent,
            "cycle {cycle}: {} holds {held:?}, but the last acknowledged write set {:?} and \
             the one in flight {:?}",
            self.key,
            self.acked,
            self.sent
        );
        self.acked = held.clone();
        self.sent = held;
    }
}

/// The write patterns of the crash test; each checks a different promise.
#[derive(Debug, Clone, Copy)]
enum Pattern {
    /// `SET` of increasing numbers over a few keys: last acknowledged or later.
    Set,
    /// `INCR`: no acknowledged increment is lost, none is applied twice.
    Incr,
    /// `APPEND <seq>,`: the acknowledged appends, in order, are a prefix.
    Append,
    /// `MSET` of one generation to keys on every shard: never half applied.
    Mset,
}

/// One writer thread's connection-independent state, kept across cycles.
struct Writer {
    pattern: Pattern,
    /// One per key; for `Mset` one for the whole group.
    expects: Vec<Expect>,
    /// The group's keys, for `Mset`.
    group: Vec<String>,
    seq: u64,
    acks: u64,
}

impl Writer {
    fn new(pattern: Pattern, id: usize) -> Writer {
        let (keys, group) = match pattern {
            Pattern::Set => (
                (0..SET_KEYS).map(|j| format!("set:{id}:{j}")).collect(),
                vec![],
            ),
            Pattern::Incr => (
                (0..COUNTERS).map(|j| format!("ctr:{id}:{j}")).collect(),
                vec![],
            ),
            Pattern::Append => (vec![], vec![]),
            Pattern::Mset => (vec![format!("group:{id}")], group_keys(id)),
        };
        Writer {
            pattern,
            expects: keys.into_iter().map(Expect::new).collect(),
            group,
            seq: 0,
            acks: 0,
        }
    }

    /// Gets ready for a cycle: the `Append` writer appends to a fresh key each
    /// cycle, so its values (and journal records) stay short.
    fn begin_cycle(&mut self, id: usize, cycle: usize) {
        if let Pattern::Append = self.pattern {
            self.expects.push(Expect::new(format!("log:{id}:{cycle}")));
        }
    }

    /// Writes until the connection breaks (the server was killed).
    fn run(mut self, mut con: redis::Connection) -> Writer {
        loop {
            match self.write_one(&mut con) {
                Ok(()) => self.acks += 1,
                Err(e) if e.is_io_error() || e.is_connection_dropped() => return self,
                Err(e) => panic!("{:?} writer: {e}", self.pattern),
            }
        }
    }

    fn write_one(&mut self, con: &mut redis::Connection) -> redis::RedisResult<()> {
        self.seq += 1;
        let seq = self.seq;
        let at = match self.pattern {
            Pattern::Set => seq as usize % SET_KEYS,
            Pattern::Incr => seq as usize % COUNTERS,
            Pattern::Append => self.expects.len() - 1,
            Pattern::Mset => 0,
        };
        let e = &mut self.expects[at];
        match self.pattern {
            Pattern::Set => {
                e.sent = Some(seq.to_string());
                redis::cmd("SET").arg(&e.key).arg(seq).query::<()>(con)?;
            }
            Pattern::Incr => {
                let acked: i64 = e
                    .acked
                    .as_deref()
                    .map_or(0, |v| v.parse().expect("counter"));
                e.sent = Some((acked + 1).to_string());
                let reply: i64 = redis::cmd("INCR").arg(&e.key).query(con)?;
                assert_eq!(reply, acked + 1, "INCR {}", e.key);
            }
            Pattern::Append => {
                let item = format!("{seq},");
                let whole = format!("{}{item}", e.acked.as_deref().unwrap_or(""));
                let len = whole.len();
                e.sent = Some(whole);
                let reply: usize = redis::cmd("APPEND").arg(&e.key).arg(&item).query(con)?;
                assert_eq!(reply, len, "APPEND {}", e.key);
            }
            Pattern::Mset => {
                e.sent = Some(seq.to_string());
                let mut cmd = redis::cmd("MSET");
                for k in &self.group {
                    cmd.arg(k).arg(seq);
                }
                cmd.query::<()>(con)?;
            }
        }
        e.acked = e.sent.clone();
        Ok(())
    }

    /// Checks everything this writer ever wrote against the restarted server.
    fn verify(&mut self, con: &mut redis::Connection, cycle: usize) {
        match self.pattern {
            Pattern::Mset => {
                let values: Vec<Option<String>> = redis::cmd("MGET")
                    .arg(&self.group)
                    .query(con)
                    .expect("MGET");
                assert!(
                    values.iter().all(|v| *v == values[0]),
                    "cycle {cycle}: MSET half applied: {:?}",
                    self.group.iter().zip(&values).collect::<Vec<_>>()
                );
                self.expects[0].check_and_adopt(values[0].clone(), cycle);
            }
            _ => {
                let keys: Vec<&str> = self.expects.iter().map(|e| e.key.as_str()).collect();
                let values: Vec<Option<String>> =
                    redis::cmd("MGET").arg(&keys).query(con).expect("MGET");
                for (e, v) in self.expects.iter_mut().zip(values) {
                    e.check_and_adopt(v, cycle);
                }
            }
        }
    }
}

/// Keys `group:ID:i` of one `MSET` group, [`GROUP_KEYS_PER_SHARD`] on each shard.
fn group_keys(id: usize) -> Vec<String> {
    let mut per_shard = [0; CRASH_SHARDS];
    let mut keys = Vec::new();
    for i in 0.. {
        let key = format!("group:{id}:{i}");
        let shard = shard_of(&key, CRASH_SHARDS);
        if per_shard[shard] < GROUP_KEYS_PER_SHARD {
            per_shard[shard] += 1;
            keys.push(key);
        }
        if keys.len() == GROUP_KEYS_PER_SHARD * CRASH_SHARDS {
            return keys;
        }
    }
    unreachable!("every shard gets keys")
}

/// With `appendfsync always`, writers of four patterns run against four shards and
/// the server is killed at a random moment, twenty times over one data directory.
/// After each restart every acknowledged write is there (or the one in flight over
/// it), counters are exact up to the increment in flight, appends are in order, and
/// no cross-shard `MSET` is half applied.
#[test]
fn acknowledged_writes_survive_sigkill_with_appendfsync_always() {
    let mut rng = seeded_rng("crash cycles");
    let dir = DataDir::new("crash");
    let args = ["--shards", "4", "--appendfsync", "always"];
    let mut server = start_in(&dir, &args);
    let port = server.port();
    let patterns = [
        Pattern::Set,
        Pattern::Set,
        Pattern::Incr,
        Pattern::Append,
        Pattern::Mset,
    ];
    let mut writers: Vec<Writer> = patterns
        .iter()
        .enumerate()
        .map(|(id, p)| Writer::new(*p, id))
        .collect();
    for cycle in 0..CRASH_CYCLES {
        let running: Vec<_> = writers
            .into_iter()
            .enumerate()
            .map(|(id, mut w)| {
                w.begin_cycle(id, cycle);
                let con = server.client();
                std::thread::spawn(move || w.run(con))
            })
            .collect();
        let kill_after = rng.gen_range(KILL_AFTER_MS_MIN..=KILL_AFTER_MS_MAX);
        std::thread::sleep(Duration::from_millis(kill_after));
        kill(&mut server);
        writers = running
            .into_iter()
            .map(|w| w.join().expect("writer"))
            .collect();
        server = restart_in(port, &dir, &args);
        let mut con = server.client();
        for w in &mut writers {
            w.verify(&mut con, cycle);
        }
    }
    for w in &writers {
        assert!(
            w.acks > CRASH_CYCLES as u64,
            "{:?} writer made progress: {} acks",
            w.pattern,
            w.acks
        );
    }
}

// ---- everysec ----

/// How long writers run before the kill of the `everysec` test, at least.
const EVERYSEC_RUN_MIN: Duration = Duration::from_millis(2500);
const EVERYSEC_RUN_MAX: Duration = Duration::from_millis(3000);
/// What `appendfsync everysec` may lose: writes acknowledged within about a second
/// (two, to leave the sync that was due room to run) before a crash.
const EVERYSEC_LOSS_WINDOW: Duration = Duration::from_secs(2);
const EVERYSEC_WRITERS: usize = 2;

/// The `appendfsync everysec` contract: a crash loses at most the writes of about the
/// last second. `SIGKILL` ends the process but not the kernel, whose page cache keeps
/// whatever was written, so this passes even if nothing was ever synced; it holds
/// the promise in place for the day a test can cut power.
#[test]
fn everysec_keeps_writes_acknowledged_before_the_last_two_seconds() {
    let mut rng = seeded_rng("everysec");
    let dir = DataDir::new("everysec");
    let args = ["--shards", "2", "--appendfsync", "everysec"];
    let mut server = start_in(&dir, &args);
    let writers: Vec<_> = (0..EVERYSEC_WRITERS)
        .map(|t| {
            let mut con = server.client();
            std::thread::spawn(move || {
                let mut acked_at = Vec::new();
                loop {
                    let i = acked_at.len();
                    let r = redis::cmd("SET")
                        .arg(format!("es:{t}:{i}"))
                        .arg(i)
                        .query::<()>(&mut con);
                    match r {
                        Ok(()) => acked_at.push(Instant::now()),
                        Err(e) if e.is_io_error() || e.is_connection_dropped() => return acked_at,
                        Err(e) => panic!("SET: {e}"),
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(rng.gen_range(EVERYSEC_RUN_MIN..=EVERYSEC_RUN_MAX));
    let killed_at = Instant::now();
    kill(&mut server);
    let acked_at: Vec<Vec<Instant>> = writers
        .into_iter()
        .map(|w| w.join().expect("writer"))
        .collect();
    let server = restart_in(server.port(), &dir, &args);
    let mut con = server.client();
    let mut old_enough = 0;
    for (t, times) in acked_at.iter().enumerate() {
        let keys: Vec<String> = (0..times.len()).map(|i| format!("es:{t}:{i}")).collect();
        for (n, chunk) in keys.chunks(MGET_KEYS_MAX).enumerate() {
            let values: Vec<Option<String>> =
                redis::cmd("MGET").arg(chunk).query(&mut con).expect("MGET");
            for (j, v) in values.into_iter().enumerate() {
                let i = n * MGET_KEYS_MAX + j;
                if times[i] + EVERYSEC_LOSS_WINDOW <= killed_at {
                    old_enough += 1;
                    assert_eq!(
                        v,
                        Some(i.to_string()),
                        "es:{t}:{i}, acknowledged {:?} before the kill",
                        killed_at - times[i]
                    );
                } else if let Some(v) = v {
                    assert_eq!(v, i.to_string(), "es:{t}:{i}");
                }
            }
        }
    }
    assert!(
        old_enough > 0,
        "some writes were acknowledged before the loss window"
    );
}

// ---- torn tails ----

const TORN_KEYS: usize = 200;
/// Random cuts of the torn-tail test, on top of the fixed ones.
const TORN_RANDOM_CUTS: usize = 4;

/// What is done to the journal's end before a start.
#[derive(Debug)]
enum Tail {
    /// Cut at this offset.
    Cut(usize),
    /// Cut at this offset, then append random bytes.
    Garbage(usize, usize),
    /// Cut at this offset, then append zeros (what a direct-I/O writer leaves).
    Zeros(usize, usize),
}

/// A journal whose last records were cut short, followed by garbage or by zeros, is
/// truncated at start to its whole records: the server holds exactly the writes of
/// those, says where it cut, and journals new writes after them.
#[test]
fn torn_journal_tail_is_truncated_to_the_whole_records() {
    let mut rng = seeded_rng("torn tail");
    let dir = DataDir::new("torn");
    let args = ["--shards", "1", "--appendfsync", "everysec"];
    let mut server = start_in(&dir, &args);
    set_numbered(&mut server.raw(), TORN_KEYS);
    shutdown(&mut server);
    let port = server.port();
    let segment = only_segment(&dir);
    let original = std::fs::read(&segment).expect("journal");
    let ends = record_ends(&original);
    assert_eq!(ends.len(), TORN_KEYS, "one record per SET");
    assert_eq!(*ends.last().expect("records"), original.len());

    let len = original.len();
    let mut tails = vec![
        Tail::Cut(1),
        Tail::Cut(RECORD_HEADER_BYTES),
        Tail::Cut(ends[9] + 3),
        Tail::Cut(len - 1),
        Tail::Garbage(len, rng.gen_range(1..64)),
        Tail::Garbage(ends[99], 1 + RECORD_HEADER_BYTES),
        Tail::Zeros(len, 4096),
        Tail::Zeros(ends[49] + 5, 100),
    ];
    tails.extend((0..TORN_RANDOM_CUTS).map(|_| Tail::Cut(rng.gen_range(1..len))));
    for tail in tails {
        let (cut, extra) = match tail {
            Tail::Cut(cut) => (cut, vec![]),
            Tail::Garbage(cut, n) => (cut, (0..n).map(|_| rng.gen()).collect()),
            Tail::Zeros(cut, n) => (cut, vec![0; n]),
        };
        let mut damaged = original[..cut].to_vec();
        damaged.extend_from_slice(&extra);
        std::fs::write(&segment, &damaged).expect("write journal");
        let whole = ends.iter().take_while(|&&e| e <= cut).count();
        let valid_bytes = if whole == 0 { 0 } else { ends[whole - 1] };
        let context = format!("{tail:?}");

        let mut server = restart_in(port, &dir, &args);
        assert_numbered_prefix(&server, whole, TORN_KEYS, &context);
        if damaged.len() > valid_bytes {
            let log = server.log_text();
            assert!(
                log.contains(&segment.display().to_string())
                    && log.contains(&format!("offset {valid_bytes}")),
                "{context}: the log names the journal and offset {valid_bytes}:\n{log}"
            );
        }
        let on_disk = std::fs::metadata(&segment).expect("journal").len();
        assert_eq!(
            on_disk, valid_bytes as u64,
            "{context}: truncated to its whole records"
        );

        assert_eq!(server.raw().cmd(&["SET", "after", "1"]), "OK");
        shutdown(&mut server);
        let mut server = restart_in(port, &dir, &args);
        let mut con = server.raw();
        assert_eq!(
            con.cmd(&["GET", "after"]),
            "1",
            "{context}: a write after the cut"
        );
        assert_eq!(con.cmd(&["DBSIZE"]), (whole + 1).to_string(), "{context}");
        kill(&mut server);
        std::fs::write(&segment, &original).expect("restore journal");
    }
}

/// Keys written while the reserved-tail test's server runs.
const RESERVED_KEYS: usize = 300;

/// Bytes of `file` once its trailing zeros are dropped.
fn without_trailing_zeros(file: &[u8]) -> usize {
    file.iter()
        .rposition(|&b| b != 0)
        .map_or(0, |last| last + 1)
}

/// Under `appendfsync always` the writer zero-fills the segment ahead of its
/// records (so most syncs commit no file growth): while it runs, the file is longer
/// than its records and the rest is zeros, and `INFO` counts only the records.
/// Killed there, the server starts with every acknowledged write, reads the zeros
/// as the journal's clean end (no torn tail, no records cut, so no new replication
/// history) and cuts them off; after a rewrite `INFO` counts the snapshot and the
/// records after it; a clean stop leaves only records behind.
#[test]
fn reserved_zeros_after_the_records_are_a_clean_end() {
    let dir = DataDir::new("reserved");
    let args = ["--shards", "1", "--appendfsync", "always"];
    let mut server = start_in(&dir, &args);
    let port = server.port();
    set_numbered(&mut server.raw(), RESERVED_KEYS);
    let segment = only_segment(&dir);
    let running = std::fs::read(&segment).expect("journal");
    let ends = record_ends(&running);
    assert_eq!(ends.len(), RESERVED_KEYS, "one record per SET");
    let records = *ends.last().expect("records");
    assert!(
        running.len() > records,
        "zeros reserved after the {records} bytes of records: the file has {}",
        running.len()
    );
    assert_eq!(
        without_trailing_zeros(&running),
        records,
        "zeros after the records"
    );
    let info = server.raw().cmd(&["INFO", "persistence"]);
    assert_eq!(
        info_value(&info, "aof_current_size"),
        Some(records.to_string()),
        "the journal's size counts its records, not the reserved zeros"
    );

    kill(&mut server);
    let mut server = restart_in(port, &dir, &args);
    assert_numbered_prefix(&server, RESERVED_KEYS, RESERVED_KEYS, "after the kill");
    let log = server.log_text();
    assert!(
        !log.contains("torn tail") && !log.contains("cut off the journal"),
        "reserved zeros are no torn tail:\n{log}"
    );
    let on_disk = std::fs::metadata(&segment).expect("journal").len();
    assert_eq!(on_disk, records as u64, "the zeros are cut off at start");
    let info = server.raw().cmd(&["INFO", "persistence"]);
    assert_eq!(
        info_value(&info, "aof_current_size"),
        Some(records.to_string())
    );

    // After a rewrite, the sizes count the snapshot and the new segment's records.
    let mut con = server.raw();
    let rewrites = info_u64(&con.cmd(&["INFO", "persistence"]), "aof_rewrites");
    assert_eq!(
        con.cmd(&["BGREWRITEAOF"]),
        "Background append only file rewriting started"
    );
    wait_info(&mut con, "the rewrite", |info| {
        info_value(info, "aof_rewrite_in_progress").as_deref() == Some("0")
            && info_u64(info, "aof_rewrites") > rewrites
    });
    set_numbered_from(&mut con, RESERVED_KEYS, 2 * RESERVED_KEYS);
    let segment = only_segment(&dir);
    let records = without_trailing_zeros(&std::fs::read(&segment).expect("journal"));
    let snapshots: u64 = std::fs::read_dir(dir.shard(0))
        .expect("shard directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "snap"))
        .map(|p| std::fs::metadata(p).expect("snapshot").len())
        .sum();
    let info = con.cmd(&["INFO", "persistence"]);
    assert_eq!(
        info_u64(&info, "aof_current_size"),
        snapshots + records as u64,
        "the snapshot and the records after it, not the reserved zeros"
    );

    shutdown(&mut server);
    let stopped = std::fs::read(&segment).expect("journal");
    let ends = record_ends(&stopped);
    assert_eq!(ends.len(), RESERVED_KEYS, "the records after the rewrite");
    assert_eq!(
        *ends.last().expect("records"),
        stopped.len(),
        "a stopped server's segment holds only records"
    );
    let server = restart_in(port, &dir, &args);
    assert_numbered_prefix(
        &server,
        2 * RESERVED_KEYS,
        2 * RESERVED_KEYS,
        "after the stop",
    );
}

// ---- corruption in the middle ----

const CORRUPT_KEYS: usize = 40;
/// The damaged record: early, with many whole records after it.
const CORRUPT_RECORD: usize = 10;

/// A damaged record with valid ones after it is not a torn tail: the server refuses
/// to start, leaves the journal as it is, and names the file and offset; with
/// `--journal-truncate-corrupt yes` it cuts the journal there and starts with the
/// records before the damage.
#[test]
fn corrupt_record_in_the_middle_stops_start_unless_truncation_is_asked_for() {
    let dir = DataDir::new("corrupt");
    let args = ["--shards", "1"];
    let mut server = start_in(&dir, &args);
    set_numbered(&mut server.raw(), CORRUPT_KEYS);
    shutdown(&mut server);
    let port = server.port();
    let segment = only_segment(&dir);
    let original = std::fs::read(&segment).expect("journal");
    let ends = record_ends(&original);
    assert_eq!(ends.len(), CORRUPT_KEYS, "one record per SET");
    let at = ends[CORRUPT_RECORD - 1];
    let payload_len = ends[CORRUPT_RECORD] - at - RECORD_HEADER_BYTES;
    let damages = [
        ("a payload byte", at + RECORD_HEADER_BYTES + payload_len / 2),
        ("a checksum byte", at + 5),
        ("an LSN byte", at + 8),
        ("a length byte", at),
    ];
    let path = segment.display().to_string();
    for (what, offset) in damages {
        let mut damaged = original.clone();
        damaged[offset] ^= 0x5a;
        std::fs::write(&segment, &damaged).expect("write journal");

        let (status, log) = start_refused(&dir, &args);
        assert!(!status.success(), "{what}: exit status {status}");
        assert!(
            log.contains(&path) && log.contains(&format!("offset {at}")),
            "{what}: the log names {path} and offset {at}:\n{log}"
        );
        assert_eq!(
            std::fs::read(&segment).expect("journal"),
            damaged,
            "{what}: journal left as it was"
        );

        let mut truncate_args = args.to_vec();
        truncate_args.extend(["--journal-truncate-corrupt", "yes"]);
        let mut server = restart_in(port, &dir, &truncate_args);
        assert_numbered_prefix(&server, CORRUPT_RECORD, CORRUPT_KEYS, what);
        let on_disk = std::fs::metadata(&segment).expect("journal").len();
        assert_eq!(on_disk, at as u64, "{what}: cut at the damaged record");
        kill(&mut server);
        std::fs::write(&segment, &original).expect("restore journal");
    }
}

// ---- loading ----

/// Keys loaded for the `LOADING` test at first, and how many times it may double
/// them when the load was over before a command could see it.
const LOADING_KEYS_START: usize = 300_000;
const LOADING_ATTEMPTS: usize = 3;
const LOADING_REPLY: &[u8] = b"-LOADING Redis is loading the dataset in memory\r\n";

/// While a restarted server replays its journal, data commands get `-LOADING`,
/// `PING` answers and `INFO` says `loading:1`; then the data is all there. The
/// server listens before it loads, so a command sent as soon as the port accepts
/// meets the load while the journal is large enough to take a noticeable time.
#[test]
fn commands_get_loading_while_the_journal_is_replayed() {
    let dir = DataDir::new("loading");
    let args = [
        "--shards",
        "1",
        "--appendfsync",
        "no",
        "--auto-aof-rewrite-percentage",
        "0",
    ];
    let mut server = start_in(&dir, &args);
    let port = server.port();
    let mut keys = 0;
    let mut target = LOADING_KEYS_START;
    for attempt in 0..LOADING_ATTEMPTS {
        set_numbered_from(&mut server.raw(), keys, target);
        keys = target;
        shutdown(&mut server);

        server = Server::spawn_in(port, dir.path(), &args).expect("spawn");
        let mut con = connect_when_listening(&mut server);
        // INFO first: once GET has met the load, INFO before it must have too.
        let info = con.cmd(&["INFO", "persistence"]);
        con.send(&encode_str(&["GET", "key:0"]));
        let first = con.read_reply();
        if first != LOADING_REPLY {
            assert_eq!(first, b"$7\r\nvalue:0\r\n", "GET during start");
            eprintln!("attempt {attempt}: {keys} keys loaded before the first command");
            target *= 2;
            continue;
        }
        assert_eq!(info_value(&info, "loading").as_deref(), Some("1"), "{info}");
        assert!(info_value(&info, "loading_loaded_perc").is_some(), "{info}");
        assert_eq!(con.cmd(&["PING"]), "PONG", "PING while loading");
        wait_loaded(&server);
        assert_eq!(con.cmd(&["GET", "key:0"]), "value:0");
        assert_eq!(con.cmd(&["DBSIZE"]), keys.to_string());
        return;
    }
    panic!("the load of {keys} keys was always over before the first command");
}

/// Connects as soon as the just spawned server accepts, without waiting for its load.
fn connect_when_listening(server: &mut Server) -> Raw {
    let deadline = Instant::now() + RESTART_TIMEOUT;
    loop {
        if TcpStream::connect(server.addr()).is_ok() {
            return server.raw();
        }
        if let Some(status) = server.wait_exit(Duration::ZERO) {
            panic!("exited with {status}: {}", server.log_text());
        }
        assert!(
            Instant::now() < deadline,
            "not listening: {}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

// ---- journal rewrite under load ----

const REWRITE_WRITERS: usize = 8;
const REWRITE_KEYS_PER_WRITER: usize = 32;
/// Padding of each value, so that overwrites grow the journal quickly.
const REWRITE_VALUE_PAD_BYTES: usize = 100;
/// Journal size at which the rewrite starts: far more than the keyspace's image.
const REWRITE_JOURNAL_BYTES_MIN: u64 = 4 << 20;
/// How long writers go on after the rewrite, into the journal after the snapshot.
const WRITES_AFTER_REWRITE: Duration = Duration::from_millis(200);
/// How long a background rewrite or save may take.
const BACKGROUND_TIMEOUT: Duration = Duration::from_secs(30);

fn padded_value(seq: u64) -> String {
    format!("{seq}:{}", "x".repeat(REWRITE_VALUE_PAD_BYTES))
}

/// A writer that owns `rw:T:0..` and overwrites them round robin until `stop`;
/// returns the last acknowledged value of each.
fn overwrite_until(
    t: usize,
    mut con: redis::Connection,
    stop: Arc<AtomicBool>,
) -> Vec<Option<String>> {
    let mut acked = vec![None; REWRITE_KEYS_PER_WRITER];
    let mut seq = 0u64;
    while !stop.load(Ordering::Relaxed) {
        seq += 1;
        let k = seq as usize % REWRITE_KEYS_PER_WRITER;
        let value = padded_value(seq);
        redis::cmd("SET")
            .arg(format!("rw:{t}:{k}"))
            .arg(&value)
            .query::<()>(&mut con)
            .expect("SET");
        acked[k] = Some(value);
    }
    acked
}

/// Polls `INFO persistence` until `done` says so.
fn wait_info(con: &mut Raw, what: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + BACKGROUND_TIMEOUT;
    loop {
        let info = con.cmd(&["INFO", "persistence"]);
        if done(&info) {
            return info;
        }
        assert!(Instant::now() < deadline, "waiting for {what}: {info}");
        std::thread::sleep(POLL_INTERVAL);
    }
}

fn info_u64(info: &str, field: &str) -> u64 {
    info_value(info, field)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{field} in {info}"))
}

/// The LSN in a `snapshot-<lsn>.snap` or `journal-<lsn>.log` file name.
fn lsn_in_name(path: &Path) -> u64 {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .expect("file name");
    let digits: String = name.chars().filter(char::is_ascii_digit).collect();
    digits.parse().expect("an LSN in the name")
}

/// Makes every write acknowledged so far durable: with `appendfsync always`, a
/// write's reply waits until its shard's journal is synced past it, and with it
/// every earlier record of that shard; one such write on each shard covers all.
fn sync_every_shard(server: &Server, shards: usize) {
    let mut con = server.raw();
    assert_eq!(con.cmd(&["CONFIG", "SET", "appendfsync", "always"]), "OK");
    for shard in 0..shards {
        let key = (0..)
            .map(|i| format!("sync:{i}"))
            .find(|k| shard_of(k, shards) == shard)
            .expect("a key on every shard");
        assert_eq!(con.cmd(&["SET", &key, "1"]), "OK");
    }
}

/// Keys written once before a rewrite and never again: after the rewrite their only
/// copy on disk is the snapshot, so reading them back after a restart reads the
/// snapshot's content (an empty or partial snapshot fails here). Strings, a time to
/// live, a hash and a set.
const BEFORE_SNAPSHOT_KEYS: usize = 300;

fn write_before_snapshot(con: &mut Raw) {
    for i in 0..BEFORE_SNAPSHOT_KEYS {
        let key = format!("before:{i}");
        assert_eq!(
            con.cmd(&["SET", &key, &format!("v{i}"), "EX", "100000"]),
            "OK"
        );
    }
    assert_eq!(con.cmd(&["HSET", "before:hash", "f", "1", "g", "2"]), "2");
    assert_eq!(con.cmd(&["SADD", "before:set", "1", "x"]), "2");
}

fn check_before_snapshot(con: &mut Raw) {
    for i in 0..BEFORE_SNAPSHOT_KEYS {
        let key = format!("before:{i}");
        assert_eq!(con.cmd(&["GET", &key]), format!("v{i}"), "{key}");
        let ttl: i64 = con.cmd(&["TTL", &key]).parse().expect("TTL");
        assert!(ttl > 99_000, "{key}: TTL {ttl}");
    }
    assert_eq!(con.cmd(&["HGET", "before:hash", "g"]), "2");
    assert_eq!(con.cmd(&["SCARD", "before:set"]), "2");
}

/// `BGREWRITEAOF` while eight clients overwrite their keys: each shard writes its
/// image without stopping service, the journal before it is deleted and
/// `aof_current_size` drops; after a kill the snapshot plus the journal after it
/// hold exactly the last acknowledged value of every key, and every key written
/// only before the rewrite.
#[test]
fn journal_rewrite_under_load_keeps_every_acknowledged_write() {
    const SHARDS: usize = 4;
    let dir = DataDir::new("rewrite");
    let args = ["--shards", "4", "--auto-aof-rewrite-percentage", "0"];
    let mut server = start_in(&dir, &args);
    write_before_snapshot(&mut server.raw());
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..REWRITE_WRITERS)
        .map(|t| {
            let (con, stop) = (server.client(), stop.clone());
            std::thread::spawn(move || overwrite_until(t, con, stop))
        })
        .collect();
    let mut con = server.raw();
    let info = wait_info(&mut con, "the journal to grow", |info| {
        info_u64(info, "aof_current_size") >= REWRITE_JOURNAL_BYTES_MIN
    });
    let rewrites = info_u64(&info, "aof_rewrites");
    let size_before = info_u64(&info, "aof_current_size");
    assert_eq!(
        con.cmd(&["BGREWRITEAOF"]),
        "Background append only file rewriting started"
    );
    let info = wait_info(&mut con, "the rewrite", |info| {
        info_value(info, "aof_rewrite_in_progress").as_deref() == Some("0")
            && info_u64(info, "aof_rewrites") > rewrites
    });
    let size_after = info_u64(&info, "aof_current_size");
    assert_eq!(
        info_value(&info, "aof_last_bgrewrite_status").as_deref(),
        Some("ok")
    );
    assert!(
        size_after < size_before,
        "aof_current_size {size_before} before the rewrite, {size_after} after"
    );
    for shard in 0..SHARDS {
        let shard_dir = dir.shard(shard);
        let snapshots: Vec<PathBuf> = std::fs::read_dir(&shard_dir)
            .expect("shard directory")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "snap"))
            .collect();
        assert_eq!(snapshots.len(), 1, "shard {shard}: {snapshots:?}");
        let snapshot_lsn = lsn_in_name(&snapshots[0]);
        for segment in journal_segments(&shard_dir) {
            assert!(
                lsn_in_name(&segment) > snapshot_lsn,
                "shard {shard}: {} is before snapshot {}",
                segment.display(),
                snapshots[0].display()
            );
        }
    }

    std::thread::sleep(WRITES_AFTER_REWRITE);
    stop.store(true, Ordering::Relaxed);
    let acked: Vec<Vec<Option<String>>> = writers
        .into_iter()
        .map(|w| w.join().expect("writer"))
        .collect();
    sync_every_shard(&server, SHARDS);
    kill(&mut server);
    let server = restart_in(server.port(), &dir, &args);
    let mut con = server.client();
    for (t, values) in acked.iter().enumerate() {
        let keys: Vec<String> = (0..REWRITE_KEYS_PER_WRITER)
            .map(|k| format!("rw:{t}:{k}"))
            .collect();
        let held: Vec<Option<String>> =
            redis::cmd("MGET").arg(&keys).query(&mut con).expect("MGET");
        for (k, (held, acked)) in held.iter().zip(values).enumerate() {
            assert_eq!(held, acked, "rw:{t}:{k}");
        }
    }
    let dbsize: usize = redis::cmd("DBSIZE").query(&mut con).expect("DBSIZE");
    let before = BEFORE_SNAPSHOT_KEYS + 2;
    assert_eq!(
        dbsize,
        REWRITE_WRITERS * REWRITE_KEYS_PER_WRITER + SHARDS + before
    );
    check_before_snapshot(&mut server.raw());
}

// ---- backup sets ----

const BACKUP_KEYS: usize = 2000;
const BACKUP_WRITERS: usize = 2;
/// Keys each backup-test writer overwrites (the others it creates anew).
const BACKUP_OWN_KEYS: u64 = 16;
/// How long writers go on after the backup is complete.
const WRITES_AFTER_BACKUP: Duration = Duration::from_millis(100);

/// Where a write falls relative to a backup's cut, as the client can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Acknowledged before `BGSAVE` was sent: in the backup.
    Before,
    /// Neither: on either side of the cut.
    During,
    /// Sent after `BGSAVE`'s reply arrived: not in the backup.
    After,
}

/// One writer's writes: `seq` goes to `new:T:seq` when even (a new key), to
/// `own:T:(seq / 2 % 16)` when odd (an overwrite); the value is `seq`.
struct CutWrites {
    t: usize,
    phases: Vec<Phase>,
}

impl CutWrites {
    fn key(&self, seq: u64) -> String {
        if seq.is_multiple_of(2) {
            format!("new:{}:{seq}", self.t)
        } else {
            format!("own:{}:{}", self.t, seq / 2 % BACKUP_OWN_KEYS)
        }
    }

    fn phase(&self, seq: u64) -> Phase {
        self.phases[seq as usize - 1]
    }

    /// Checks that `server` holds what a backup cut between the `Before` and
    /// `After` writes implies; returns how many of the writer's keys it holds.
    fn check(&self, con: &mut redis::Connection, context: &str) -> usize {
        let t = self.t;
        let seqs = 1..=self.phases.len() as u64;
        let mut held_keys = 0;
        for seq in seqs.clone().filter(|s| s.is_multiple_of(2)) {
            let held: Option<u64> = redis::cmd("GET")
                .arg(self.key(seq))
                .query(con)
                .expect("GET");
            match self.phase(seq) {
                Phase::Before => {
                    assert_eq!(held, Some(seq), "{context}: new:{t}:{seq} before the cut")
                }
                Phase::After => assert_eq!(held, None, "{context}: new:{t}:{seq} after the cut"),
                Phase::During => assert!(
                    held.is_none() || held == Some(seq),
                    "{context}: new:{t}:{seq}"
                ),
            }
            held_keys += usize::from(held.is_some());
        }
        for k in 0..BACKUP_OWN_KEYS {
            let key = format!("own:{t}:{k}");
            let held: Option<u64> = redis::cmd("GET").arg(&key).query(con).expect("GET");
            let last_before = seqs.clone().rfind(|&s| {
                !s.is_multiple_of(2)
                    && s / 2 % BACKUP_OWN_KEYS == k
                    && self.phase(s) == Phase::Before
            });
            match held {
                None => assert_eq!(last_before, None, "{context}: {key} written before the cut"),
                Some(v) => {
                    assert!(
                        !v.is_multiple_of(2) && v / 2 % BACKUP_OWN_KEYS == k,
                        "{context}: {key} = {v}"
                    );
                    assert_ne!(
                        self.phase(v),
                        Phase::After,
                        "{context}: {key} = {v}, written after the cut"
                    );
                    assert!(
                        last_before.is_none_or(|b| v >= b),
                        "{context}: {key} = {v}, older than {last_before:?}"
                    );
                }
            }
            held_keys += usize::from(held.is_some());
        }
        held_keys
    }
}

/// Writes until `stop`, telling for each write its [`Phase`] from the flags the
/// test sets right before sending `BGSAVE` and right after its reply.
fn write_around_cut(
    t: usize,
    mut con: redis::Connection,
    sending: Arc<AtomicBool>,
    replied: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) -> CutWrites {
    let mut writes = CutWrites {
        t,
        phases: Vec::new(),
    };
    while !stop.load(Ordering::SeqCst) {
        let seq = writes.phases.len() as u64 + 1;
        let after = replied.load(Ordering::SeqCst);
        redis::cmd("SET")
            .arg(writes.key(seq))
            .arg(seq)
            .query::<()>(&mut con)
            .expect("SET");
        let before = !sending.load(Ordering::SeqCst);
        writes.phases.push(match (before, after) {
            (true, _) => Phase::Before,
            (_, true) => Phase::After,
            _ => Phase::During,
        });
    }
    writes
}

/// Checks that `server` holds exactly the backup cut: the loaded keys, writes
/// before `BGSAVE` was sent, none sent after its reply, not the marker.
fn assert_holds_the_cut(server: &Server, writes: &[CutWrites], context: &str) {
    let mut con = server.client();
    let keys: Vec<String> = (0..BACKUP_KEYS).map(|i| format!("key:{i}")).collect();
    for chunk in keys.chunks(MGET_KEYS_MAX) {
        let held: Vec<Option<String>> =
            redis::cmd("MGET").arg(chunk).query(&mut con).expect("MGET");
        for (key, v) in chunk.iter().zip(held) {
            let i = &key["key:".len()..];
            assert_eq!(v, Some(format!("value:{i}")), "{context}: {key}");
        }
    }
    let marker: Option<String> = redis::cmd("GET")
        .arg("marker")
        .query(&mut con)
        .expect("GET");
    assert_eq!(
        marker, None,
        "{context}: the marker was set after BGSAVE's reply"
    );
    let held: usize = writes.iter().map(|w| w.check(&mut con, context)).sum();
    let dbsize: usize = redis::cmd("DBSIZE").query(&mut con).expect("DBSIZE");
    assert_eq!(dbsize, BACKUP_KEYS + held, "{context}: no other keys");
}

/// Runs `corekv-server` with `args` to completion; returns its exit status and
/// everything it printed.
fn run_tool(args: &[&str]) -> (ExitStatus, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_corekv-server"))
        .args(args)
        .output()
        .expect("run corekv-server");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status, text)
}

fn unix_now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// `BGSAVE` while clients write makes a backup set at one cut; a new instance
/// started from it (`--restore-from` into a new directory) and the old one rolled
/// back in place both hold exactly that cut. `--list-backups` lists the set,
/// `--verify-backup` passes it and fails it, naming the file, once a byte of one
/// shard's image is changed.
#[test]
fn bgsave_backup_set_restores_the_cut_into_a_new_or_the_same_directory() {
    let dir = DataDir::new("backup");
    let args = ["--shards", "4"];
    let mut server = start_in(&dir, &args);
    set_numbered(&mut server.raw(), BACKUP_KEYS);
    let sending = Arc::new(AtomicBool::new(false));
    let replied = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..BACKUP_WRITERS)
        .map(|t| {
            let con = server.client();
            let flags = (sending.clone(), replied.clone(), stop.clone());
            std::thread::spawn(move || write_around_cut(t, con, flags.0, flags.1, flags.2))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let mut con = server.raw();
    let started_s = unix_now_s();
    sending.store(true, Ordering::SeqCst);
    assert_eq!(con.cmd(&["BGSAVE"]), "Background saving started");
    replied.store(true, Ordering::SeqCst);
    assert_eq!(con.cmd(&["SET", "marker", "1"]), "OK");
    let info = wait_info(&mut con, "the backup", |info| {
        info_value(info, "rdb_bgsave_in_progress").as_deref() == Some("0")
    });
    assert_eq!(
        info_value(&info, "rdb_last_bgsave_status").as_deref(),
        Some("ok"),
        "{info}"
    );
    let lastsave: u64 = con.cmd(&["LASTSAVE"]).parse().expect("LASTSAVE");
    assert!(
        (started_s..=unix_now_s()).contains(&lastsave),
        "LASTSAVE {lastsave}"
    );
    std::thread::sleep(WRITES_AFTER_BACKUP);
    stop.store(true, Ordering::SeqCst);
    let writes: Vec<CutWrites> = writers
        .into_iter()
        .map(|w| w.join().expect("writer"))
        .collect();
    for w in &writes {
        assert!(
            w.phases.contains(&Phase::Before) && w.phases.contains(&Phase::After),
            "writer {} wrote on both sides of the cut",
            w.t
        );
    }

    let sets: Vec<PathBuf> = std::fs::read_dir(dir.path().join("backups"))
        .expect("backups directory")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(sets.len(), 1, "{sets:?}");
    let set = &sets[0];
    assert!(
        set.join("manifest.json").is_file(),
        "{} has a manifest",
        set.display()
    );
    let set_arg = set.to_str().expect("UTF-8 path");

    let (status, out) = run_tool(&[
        "--list-backups",
        "--dir",
        dir.path().to_str().expect("UTF-8 path"),
    ]);
    assert!(
        status.success() && out.contains(set_arg),
        "--list-backups: {status}\n{out}"
    );
    let (status, out) = run_tool(&["--verify-backup", set_arg]);
    assert!(status.success(), "--verify-backup: {status}\n{out}");

    let clone_dir = DataDir::new("clone");
    let clone = start_in(&clone_dir, &["--shards", "4", "--restore-from", set_arg]);
    assert_holds_the_cut(&clone, &writes, "clone");

    kill(&mut server);
    let rolled_back = restart_in(
        server.port(),
        &dir,
        &["--shards", "4", "--restore-from", set_arg],
    );
    assert_holds_the_cut(&rolled_back, &writes, "rolled back in place");

    let image = set.join("shard-001.snap");
    let mut bytes = std::fs::read(&image).expect("shard image");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&image, &bytes).expect("damage the image");
    let (status, out) = run_tool(&["--verify-backup", set_arg]);
    assert!(
        !status.success(),
        "--verify-backup of a damaged set: {status}\n{out}"
    );
    assert!(
        out.contains(&image.display().to_string()),
        "names the damaged file: {out}"
    );
}

/// Keys written before and after the `SAVE` test's backup.
const SAVE_KEYS: usize = 500;

/// `SAVE` answers once a backup set of every shard is complete: the set holds the
/// keys written before it and none written after; `rdb_changes_since_last_save`
/// drops to 0; restoring the set with another `--shards` is refused with a message
/// naming the count it needs, and with the same count it starts with exactly the saved keys.
#[test]
fn save_makes_a_backup_set_that_restores_only_with_the_same_shard_count() {
    let dir = DataDir::new("save");
    let server = start_in(&dir, &["--shards", "4"]);
    let mut con = server.raw();
    set_numbered(&mut con, SAVE_KEYS);
    assert_eq!(con.cmd(&["SAVE"]), "OK");
    let info = con.cmd(&["INFO", "persistence"]);
    assert_eq!(info_u64(&info, "rdb_changes_since_last_save"), 0, "{info}");
    set_numbered_from(&mut con, SAVE_KEYS, 2 * SAVE_KEYS);
    let sets: Vec<PathBuf> = std::fs::read_dir(dir.path().join("backups"))
        .expect("backups directory")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(sets.len(), 1, "{sets:?}");
    let set_arg = sets[0].to_str().expect("UTF-8 path");

    let other_dir = DataDir::new("save-other-shards");
    let mut refused = Server::spawn_in(
        free_port(),
        other_dir.path(),
        &["--shards", "2", "--restore-from", set_arg],
    )
    .expect("spawn");
    let log = refused
        .wait_ready()
        .expect_err("a set of 4 shards into 2 is refused");
    assert!(
        log.contains("has 4 shards; start with --shards 4"),
        "says what the set needs: {log}"
    );

    let clone_dir = DataDir::new("save-clone");
    let clone = start_in(&clone_dir, &["--shards", "4", "--restore-from", set_arg]);
    let mut c = clone.raw();
    assert_eq!(c.cmd(&["DBSIZE"]), SAVE_KEYS.to_string());
    assert_eq!(c.cmd(&["GET", "key:0"]), "value:0");
    assert_eq!(
        c.cmd(&["GET", &format!("key:{}", SAVE_KEYS - 1)]),
        format!("value:{}", SAVE_KEYS - 1)
    );
    assert_eq!(c.cmd(&["GET", &format!("key:{SAVE_KEYS}")]), "(nil)");
}

/// Keys the automatic-rewrite test overwrites again and again.
const AUTO_REWRITE_KEYS: usize = 64;
/// Bytes of each value it writes, so the journal outgrows the live data quickly.
const AUTO_REWRITE_VALUE_BYTES: usize = 512;
/// Rounds of overwrites after which the automatic rewrite must have happened
/// (about 33 MB of journal against a 1 MB threshold).
const AUTO_REWRITE_ROUNDS_MAX: usize = 1000;
/// Most snapshot and journal bytes left once every shard rewrote automatically
/// (the images are about 70 KB; the journal before them is gone).
const AUTO_REWRITE_SIZE_AFTER_MAX: u64 = 4 << 20;

/// Without `BGREWRITEAOF`, a shard's journal is snapshotted once it is over
/// `auto-aof-rewrite-min-size` and has grown by `auto-aof-rewrite-percentage` over
/// its size after the last snapshot; the older journal goes and the data stays
/// whole across a restart.
#[test]
fn journal_is_rewritten_automatically_when_it_grows() {
    const SHARDS: usize = 2;
    let dir = DataDir::new("autorewrite");
    let args = [
        "--shards",
        "2",
        "--auto-aof-rewrite-min-size",
        "1mb",
        "--auto-aof-rewrite-percentage",
        "100",
    ];
    let mut server = start_in(&dir, &args);
    let mut con = server.raw();
    write_before_snapshot(&mut con);
    let pad = "x".repeat(AUTO_REWRITE_VALUE_BYTES);
    let mut round = 0;
    loop {
        let mut batch = Vec::new();
        for i in 0..AUTO_REWRITE_KEYS {
            let value = format!("{round}:{pad}");
            batch.extend(encode_str(&["SET", &format!("auto:{i}"), &value]));
        }
        con.send(&batch);
        for _ in 0..AUTO_REWRITE_KEYS {
            assert_eq!(con.read_reply(), b"+OK\r\n");
        }
        let info = con.cmd(&["INFO", "persistence"]);
        let every_shard_rewrote = (0..SHARDS).all(|s| {
            std::fs::read_dir(dir.shard(s))
                .map(|entries| {
                    entries
                        .filter_map(Result::ok)
                        .any(|e| e.path().extension().is_some_and(|x| x == "snap"))
                })
                .unwrap_or(false)
        });
        if every_shard_rewrote
            && info_value(&info, "aof_rewrite_in_progress").as_deref() == Some("0")
        {
            assert!(info_u64(&info, "aof_rewrites") >= SHARDS as u64, "{info}");
            assert_eq!(
                info_value(&info, "aof_last_bgrewrite_status").as_deref(),
                Some("ok")
            );
            break;
        }
        round += 1;
        assert!(
            round < AUTO_REWRITE_ROUNDS_MAX,
            "no automatic rewrite after {round} rounds: {info}"
        );
    }
    let info = con.cmd(&["INFO", "persistence"]);
    assert!(
        info_u64(&info, "aof_current_size") < AUTO_REWRITE_SIZE_AFTER_MAX,
        "the journal before the snapshots is gone: {info}"
    );
    shutdown(&mut server);
    let server = restart_in(server.port(), &dir, &args);
    let mut con = server.raw();
    for i in 0..AUTO_REWRITE_KEYS {
        let value = con.cmd(&["GET", &format!("auto:{i}")]);
        assert_eq!(value, format!("{round}:{pad}"), "auto:{i}");
    }
    check_before_snapshot(&mut con);
}

/// `ROLE` and `INFO replication` of a master: its replication id, and an offset
/// that counts every shard's journal records.
fn replication_view(con: &mut Raw) -> (String, u64) {
    let info = con.cmd(&["INFO", "replication"]);
    assert_eq!(
        info_value(&info, "role").as_deref(),
        Some("master"),
        "{info}"
    );
    let replid = info_value(&info, "master_replid").expect("master_replid");
    assert_eq!(replid.len(), 40, "{info}");
    assert!(replid.bytes().all(|b| b.is_ascii_hexdigit()), "{info}");
    let offset = info_u64(&info, "master_repl_offset");
    let role = con.cmd_raw(&[b"ROLE"]);
    assert_eq!(
        role,
        format!("*3\r\n$6\r\nmaster\r\n:{offset}\r\n*0\r\n").into_bytes()
    );
    (replid, offset)
}

/// The replication id names the history the journal holds: it survives a restart
/// (so replicas can continue from their positions) and is replaced when recovery
/// had to cut records off the journal (the history forked).
#[test]
fn replication_id_survives_restarts_and_changes_when_records_are_cut() {
    let dir = DataDir::new("replid");
    let args = ["--shards", "1"];
    let mut server = start_in(&dir, &args);
    let mut con = server.raw();
    let (replid, offset) = replication_view(&mut con);
    set_numbered(&mut con, 10);
    let (same, grown) = replication_view(&mut con);
    assert_eq!(same, replid);
    assert_eq!(grown, offset + 10, "one journal record per SET");
    shutdown(&mut server);

    let mut server = restart_in(server.port(), &dir, &args);
    let mut con = server.raw();
    assert_eq!(replication_view(&mut con), (replid.clone(), offset + 10));
    shutdown(&mut server);

    let segment = only_segment(&dir);
    let len = std::fs::metadata(&segment).expect("segment").len();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .expect("open segment");
    file.set_len(len - 1).expect("cut the last record short");
    let server = restart_in(server.port(), &dir, &args);
    let mut con = server.raw();
    let (forked, offset_after) = replication_view(&mut con);
    assert_ne!(forked, replid, "a cut journal starts a new history");
    assert_eq!(offset_after, offset + 9);
}
