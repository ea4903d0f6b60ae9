//! Replication as a client sees it, against the real binary: a replica started with
//! `--replicaof` takes a full copy of a master that is being written to and then
//! follows it; a replica or a master killed with `SIGKILL` and started again on its
//! directory continues where it stopped (a partial resync on every shard stream, no
//! full copy); a link that falls silent is dropped after `repl-timeout` and comes back;
//! a replica refuses writes with `-READONLY` and reads unless `replica-serve-reads` is
//! on; `REPLICAOF NO ONE` promotes a replica and an old master pointed at it drops its
//! own diverging writes; `WAIT` counts acknowledging replicas; a replica with another
//! shard count or without the master's password never gets its link up; a stream
//! whose replica vanished leaves the connections opened after it alone.
//!
//! The load mixes string writes with hash and set writes (`HSET`, `HDEL`, `HINCRBY`,
//! `SADD`, `SREM`, and `SMOVE` between shards), which travel as deltas, and with
//! encoding changes as hashes and sets grow.
//!
//! "The same data" is checked from outside only: every key a full `SCAN` finds on
//! each server, its value (`GET`, `HGETALL` or `SMEMBERS` by the key's prefix, fields
//! and members sorted) and its deadline (`PTTL` and the time of the read, compared to
//! the millisecond within the read's duration). A
//! replica is in sync when its `slave_repl_offset` equals the master's
//! `master_repl_offset` (both sums of the shards' LSNs) with its link up. Every wait
//! polls with a generous deadline and, when it runs out, fails with both servers'
//! `INFO replication` and the end of their logs; no test asserts on a duration.
//!
//! Every test runs four shards on both sides.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{info_value, restart_in, start_in, DataDir, Server, EXIT_TIMEOUT};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Shards of every server here; a replica must have as many as its master.
const SHARDS: usize = 4;
const SHARDS_ARG: &str = "4";
/// How long a replica may take to get in sync, or its link to go up or down.
const SYNC_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between two looks at something expected to happen soon.
const POLL_INTERVAL: Duration = Duration::from_millis(25);
/// How long a link that must stay down is watched.
const STAYS_DOWN_WINDOW: Duration = Duration::from_secs(2);
/// Read timeout of the `INFO` taken for a failure message (the server may be stopped).
const REPORT_TIMEOUT: Duration = Duration::from_secs(2);
/// Lines of each server's log in a failure message.
const REPORT_LOG_LINES: usize = 40;
/// `COUNT` of each `SCAN` call when reading a whole dataset.
const SCAN_COUNT: usize = 1000;
/// Keys read in one pipeline of `GET`s and `PTTL`s.
const READ_BATCH_KEYS: usize = 500;
/// Writes sent in one pipeline by a load thread, and keys in one prefill pipeline.
const WRITE_BATCH_OPS: usize = 50;
const PREFILL_BATCH_KEYS: usize = 1000;
/// `WAIT`'s timeout when a replica is expected to acknowledge: ample, since `WAIT`
/// returns as soon as the replica has.
const WAIT_TIMEOUT_MS: &str = "5000";

/// What a replica answers to every write.
const READONLY: &str = "-READONLY You can't write against a read only replica.";

// ---- the load ----

/// Keys `k:0..` the load writes, `SET`s, `DEL`s, `MSET`s and `EXPIRE`s.
const KEYSPACE: usize = 60_000;
/// Counters `ctr:i` (only ever `INCR`ed) and logs `log:i` (only ever `APPEND`ed to).
const COUNTERS: usize = 512;
const LOGS: usize = 512;
/// Keys `big:i` that get values of [`BIG_VALUE_BYTES_MIN`, `BIG_VALUE_BYTES_MAX`].
const BIG_KEYS: usize = 256;
const BIG_VALUE_BYTES_MIN: usize = 1024;
const BIG_VALUE_BYTES_MAX: usize = 8192;
/// Hashes `h:i` with fields `f0..` (set to values) and `n0..` (only ever
/// `HINCRBY`ed): enough fields that some hashes outgrow the listpack encoding.
const HASHES: usize = 1024;
const HASH_FIELDS: usize = 160;
const HASH_COUNTERS: usize = 4;
/// Sets `s:i` with members `0..` (an intset while only those) and `m0..`.
const SETS: usize = 1024;
const SET_MEMBERS: usize = 300;
/// Keys in one `MSET`: random keys, so almost always on more than one shard.
const MSET_KEYS: usize = 4;
/// Time to live the load gives keys: far longer than any test, so no key expires
/// while datasets are compared.
const TTL_S: u64 = 100_000;

/// Kinds of write in the load, and how many in a hundred.
const LOAD_MIX: [(Write, u32); 14] = [
    (Write::Set, 25),
    (Write::SetEx, 5),
    (Write::Incr, 8),
    (Write::Append, 8),
    (Write::Del, 7),
    (Write::Mset, 8),
    (Write::Expire, 12),
    (Write::SetBig, 1),
    (Write::HSet, 8),
    (Write::HDel, 3),
    (Write::HIncr, 3),
    (Write::SAdd, 7),
    (Write::SRem, 3),
    (Write::SMove, 2),
];

#[derive(Debug, Clone, Copy)]
enum Write {
    Set,
    SetEx,
    Incr,
    Append,
    Del,
    Mset,
    Expire,
    SetBig,
    HSet,
    HDel,
    HIncr,
    SAdd,
    SRem,
    SMove,
}

/// A random seed, printed so that a failing run can be repeated.
fn seed(test: &str) -> u64 {
    let seed = std::env::var("COREKV_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("{test}: COREKV_TEST_SEED={seed}");
    seed
}

fn load_key(rng: &mut StdRng) -> String {
    format!("k:{}", rng.gen_range(0..KEYSPACE))
}

fn hash_key(rng: &mut StdRng) -> String {
    format!("h:{}", rng.gen_range(0..HASHES))
}

fn set_key(rng: &mut StdRng) -> String {
    format!("s:{}", rng.gen_range(0..SETS))
}

/// A set member: mostly integers, sometimes a string that turns an intset into a
/// hash table.
fn set_member(rng: &mut StdRng) -> String {
    let n = rng.gen_range(0..SET_MEMBERS);
    match rng.gen_ratio(1, 10) {
        true => format!("m{n}"),
        false => n.to_string(),
    }
}

/// Appends one random write to `pipe`; `tag` makes its value unique.
fn add_write(pipe: &mut redis::Pipeline, rng: &mut StdRng, tag: &str) {
    let total: u32 = LOAD_MIX.iter().map(|(_, w)| w).sum();
    let mut pick = rng.gen_range(0..total);
    let kind = LOAD_MIX
        .iter()
        .find(|(_, w)| {
            let hit = pick < *w;
            pick = pick.saturating_sub(*w);
            hit
        })
        .map(|(k, _)| *k)
        .expect("a kind of write");
    match kind {
        Write::Set => pipe.cmd("SET").arg(load_key(rng)).arg(tag),
        Write::SetEx => pipe
            .cmd("SET")
            .arg(load_key(rng))
            .arg(tag)
            .arg("EX")
            .arg(TTL_S),
        Write::Incr => pipe
            .cmd("INCR")
            .arg(format!("ctr:{}", rng.gen_range(0..COUNTERS))),
        Write::Append => pipe
            .cmd("APPEND")
            .arg(format!("log:{}", rng.gen_range(0..LOGS)))
            .arg(format!("{tag},")),
        Write::Del => pipe.cmd("DEL").arg(load_key(rng)),
        Write::Mset => {
            let cmd = pipe.cmd("MSET");
            for _ in 0..MSET_KEYS {
                cmd.arg(load_key(rng)).arg(tag);
            }
            cmd
        }
        Write::Expire => pipe.cmd("EXPIRE").arg(load_key(rng)).arg(TTL_S),
        Write::SetBig => {
            let len = rng.gen_range(BIG_VALUE_BYTES_MIN..=BIG_VALUE_BYTES_MAX);
            let value: String = format!("{tag}/").chars().cycle().take(len).collect();
            pipe.cmd("SET")
                .arg(format!("big:{}", rng.gen_range(0..BIG_KEYS)))
                .arg(value)
        }
        Write::HSet => pipe
            .cmd("HSET")
            .arg(hash_key(rng))
            .arg(format!("f{}", rng.gen_range(0..HASH_FIELDS)))
            .arg(tag),
        Write::HDel => pipe
            .cmd("HDEL")
            .arg(hash_key(rng))
            .arg(format!("f{}", rng.gen_range(0..HASH_FIELDS))),
        Write::HIncr => pipe
            .cmd("HINCRBY")
            .arg(hash_key(rng))
            .arg(format!("n{}", rng.gen_range(0..HASH_COUNTERS)))
            .arg(1),
        Write::SAdd => pipe.cmd("SADD").arg(set_key(rng)).arg(set_member(rng)),
        Write::SRem => pipe.cmd("SREM").arg(set_key(rng)).arg(set_member(rng)),
        Write::SMove => pipe
            .cmd("SMOVE")
            .arg(set_key(rng))
            .arg(set_key(rng))
            .arg(set_member(rng)),
    };
    pipe.ignore();
}

/// Writer threads making random writes on a server, each on its own connection.
struct Load {
    stop: Arc<AtomicBool>,
    /// Writes acknowledged so far, by all threads.
    acked: Arc<AtomicU64>,
    threads: Vec<JoinHandle<u64>>,
}

impl Load {
    /// Starts `threads` writers that each make `ops_each` writes, or fewer when
    /// stopped. With `survive_kill` a writer whose server goes away ends quietly (its
    /// writes in flight may or may not have been applied); otherwise any failed write
    /// fails the test.
    fn start(
        server: &Server,
        threads: usize,
        ops_each: u64,
        seed: u64,
        survive_kill: bool,
    ) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(AtomicU64::new(0));
        let threads = (0..threads)
            .map(|t| {
                let mut con = server.client();
                let stop = Arc::clone(&stop);
                let acked = Arc::clone(&acked);
                let mut rng = StdRng::seed_from_u64(seed.wrapping_add(t as u64));
                std::thread::spawn(move || {
                    let mut done = 0;
                    while done < ops_each && !stop.load(Ordering::Relaxed) {
                        let batch = (ops_each - done).min(WRITE_BATCH_OPS as u64);
                        let mut pipe = redis::pipe();
                        for i in 0..batch {
                            add_write(&mut pipe, &mut rng, &format!("t{t}:{}", done + i));
                        }
                        match pipe.query::<()>(&mut con) {
                            Ok(()) => {
                                done += batch;
                                acked.fetch_add(batch, Ordering::Relaxed);
                            }
                            Err(e)
                                if survive_kill
                                    && (e.is_io_error() || e.is_connection_dropped()) =>
                            {
                                return done
                            }
                            Err(e) => panic!("load thread {t}: write failed after {done}: {e}"),
                        }
                    }
                    done
                })
            })
            .collect();
        Load {
            stop,
            acked,
            threads,
        }
    }

    /// Starts writers that run until [`Load::stop`].
    fn start_endless(server: &Server, threads: usize, seed: u64, survive_kill: bool) -> Load {
        Load::start(server, threads, u64::MAX, seed, survive_kill)
    }

    /// Waits until `writes` more writes than now have been acknowledged.
    fn wait_more(&self, writes: u64, servers: &[&Server]) {
        let target = self.acked.load(Ordering::Relaxed) + writes;
        wait_until(
            &format!("{writes} more writes acknowledged"),
            servers,
            || self.acked.load(Ordering::Relaxed) >= target,
        );
    }

    /// Waits for every writer to finish; the writes they made.
    fn join(self) -> u64 {
        self.threads
            .into_iter()
            .map(|t| t.join().expect("load thread"))
            .sum()
    }

    /// Stops the writers and waits for them; the writes they made.
    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.join()
    }
}

/// `SET k:i` for `i` in `0..keys`, every tenth with a time to live, pipelined.
fn prefill(server: &Server, keys: usize) {
    let mut con = server.client();
    for start in (0..keys).step_by(PREFILL_BATCH_KEYS) {
        let mut pipe = redis::pipe();
        for i in start..(start + PREFILL_BATCH_KEYS).min(keys) {
            let cmd = pipe
                .cmd("SET")
                .arg(format!("k:{i}"))
                .arg(format!("prefill:{i}"));
            if i % 10 == 0 {
                cmd.arg("EX").arg(TTL_S);
            }
            cmd.ignore();
        }
        pipe.query::<()>(&mut con).expect("prefill");
    }
}

/// `SET <prefix>:i <prefix>:i` for `i` in `0..keys`, pipelined.
fn set_keys(server: &Server, prefix: &str, keys: usize) {
    let mut con = server.client();
    let mut pipe = redis::pipe();
    for i in 0..keys {
        let key = format!("{prefix}:{i}");
        pipe.cmd("SET").arg(&key).arg(&key).ignore();
    }
    pipe.query::<()>(&mut con).expect("SET");
}

// ---- servers ----

/// Kills the server with `SIGKILL` and reaps it.
fn kill(server: &mut Server) {
    server.signal(libc::SIGKILL);
    let status = server.wait_exit(EXIT_TIMEOUT).expect("exits on SIGKILL");
    assert_eq!(status.code(), None, "killed by a signal: {status}");
}

/// The `--replicaof` value naming `master`.
fn replicaof(master: &Server) -> String {
    format!("127.0.0.1 {}", master.port())
}

// ---- looking at servers ----

/// `INFO <section>`.
fn info(server: &Server, section: &str) -> String {
    let mut con = server.client();
    redis::cmd("INFO")
        .arg(section)
        .query(&mut con)
        .unwrap_or_else(|e| panic!("INFO {section} on port {}: {e}", server.port()))
}

/// A numeric `INFO` field; panics naming the field when it is missing.
fn number(info: &str, field: &str) -> u64 {
    info_value(info, field)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no number {field} in:\n{info}"))
}

/// `INFO stats` counters of a master's shard streams: (`sync_full`,
/// `sync_partial_ok`).
fn sync_counters(master: &Server) -> (u64, u64) {
    let stats = info(master, "stats");
    (
        number(&stats, "sync_full"),
        number(&stats, "sync_partial_ok"),
    )
}

/// `INFO replication` of a server that may not answer, and the end of its log, for
/// a failure message.
fn report(server: &Server) -> String {
    let query = || -> redis::RedisResult<String> {
        let client = redis::Client::open(server.url())?;
        let mut con = client.get_connection_with_timeout(REPORT_TIMEOUT)?;
        con.set_read_timeout(Some(REPORT_TIMEOUT))?;
        redis::cmd("INFO").arg("replication").query(&mut con)
    };
    let info = query().unwrap_or_else(|e| format!("(no INFO replication: {e})"));
    let log = server.log_text();
    let lines: Vec<&str> = log.lines().collect();
    let tail = lines[lines.len().saturating_sub(REPORT_LOG_LINES)..].join("\n");
    format!(
        "--- server on port {} ---\n{}\n--- its log (end) ---\n{tail}",
        server.port(),
        info.trim_end()
    )
}

/// [`report`] of each server.
fn reports(servers: &[&Server]) -> String {
    let state: Vec<String> = servers.iter().map(|s| report(s)).collect();
    state.join("\n")
}

/// Polls `cond` until it holds; fails after [`SYNC_TIMEOUT`] with the servers' state.
fn wait_until(what: &str, servers: &[&Server], mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + SYNC_TIMEOUT;
    while !cond() {
        if Instant::now() >= deadline {
            panic!("{what}: not within {SYNC_TIMEOUT:?}\n{}", reports(servers));
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// Checks that `cond` holds every time it is looked at for [`STAYS_DOWN_WINDOW`].
fn holds_throughout(what: &str, servers: &[&Server], mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + STAYS_DOWN_WINDOW;
    while Instant::now() < end {
        if !cond() {
            panic!("{what}: broken\n{}", reports(servers));
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

fn link_up(replica: &Server) -> bool {
    info_value(&info(replica, "replication"), "master_link_status").as_deref() == Some("up")
}

/// The replica's link is up, no sync is running, and it has applied everything the
/// master has.
fn in_sync(master: &Server, replica: &Server) -> bool {
    let r = info(replica, "replication");
    let m = info(master, "replication");
    let applied = info_value(&r, "slave_repl_offset");
    info_value(&r, "master_link_status").as_deref() == Some("up")
        && info_value(&r, "master_sync_in_progress").as_deref() == Some("0")
        && applied.is_some()
        && applied == info_value(&m, "master_repl_offset")
}

/// Waits until `replica` is in sync with `master`; call it with writes stopped.
fn wait_synced(master: &Server, replica: &Server) {
    wait_until(
        &format!(
            "replica on port {} in sync with master on port {}",
            replica.port(),
            master.port()
        ),
        &[master, replica],
        || in_sync(master, replica),
    );
}

/// Every key of a server: its value (`None` if `GET` finds none) and deadline.
type Dataset = BTreeMap<String, Held>;

/// Slack when comparing deadlines: `PTTL` rounds to the millisecond, and a server
/// reads its clock once per batch of requests, so its "now" may lag a little.
const DEADLINE_SLACK_MS: i64 = 25;

/// A key's value and, if it has a time to live, its deadline in Unix milliseconds,
/// known to lie in `[lo, hi]`: `PTTL` plus the time the read was sent and the time
/// its reply came back. Two are equal when the values are and the deadline intervals
/// overlap (within [`DEADLINE_SLACK_MS`]).
#[derive(Debug, Clone)]
struct Held {
    value: Option<Vec<u8>>,
    deadline: Option<(i64, i64)>,
}

impl PartialEq for Held {
    fn eq(&self, other: &Held) -> bool {
        let deadlines = match (self.deadline, other.deadline) {
            (None, None) => true,
            (Some((lo, hi)), Some((olo, ohi))) => {
                lo <= ohi + DEADLINE_SLACK_MS && olo <= hi + DEADLINE_SLACK_MS
            }
            _ => false,
        };
        self.value == other.value && deadlines
    }
}

fn unix_ms() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.expect("after 1970").as_millis() as i64
}

/// Reads every key with a full `SCAN`, then its value and `PTTL`.
fn dataset(server: &Server) -> Dataset {
    let mut con = server.client();
    let mut keys = BTreeSet::new();
    let mut cursor = "0".to_string();
    loop {
        let (next, batch): (String, Vec<String>) = redis::cmd("SCAN")
            .arg(&cursor)
            .arg("COUNT")
            .arg(SCAN_COUNT)
            .query(&mut con)
            .unwrap_or_else(|e| panic!("SCAN on port {}: {e}", server.port()));
        keys.extend(batch);
        if next == "0" {
            break;
        }
        cursor = next;
    }
    let keys: Vec<String> = keys.into_iter().collect();
    let mut data = Dataset::new();
    for chunk in keys.chunks(READ_BATCH_KEYS) {
        let mut pipe = redis::pipe();
        for key in chunk {
            let read = match key.split_once(':').map(|(prefix, _)| prefix) {
                Some("h") => "HGETALL",
                Some("s") => "SMEMBERS",
                _ => "GET",
            };
            pipe.cmd(read).arg(key).cmd("PTTL").arg(key);
        }
        let sent = unix_ms();
        let replies: Vec<redis::Value> = pipe
            .query(&mut con)
            .unwrap_or_else(|e| panic!("GET and PTTL on port {}: {e}", server.port()));
        let received = unix_ms();
        assert_eq!(replies.len(), 2 * chunk.len());
        for (key, pair) in chunk.iter().zip(replies.chunks(2)) {
            let value = canonical(&pair[0], key.starts_with("h:"));
            let pttl: i64 = redis::from_redis_value(&pair[1]).expect("PTTL reply");
            let deadline = (pttl >= 0).then_some((sent + pttl, received + pttl));
            data.insert(key.clone(), Held { value, deadline });
        }
    }
    data
}

/// A `GET`, `HGETALL` or `SMEMBERS` reply as one comparable value: the string, or
/// the collection's elements sorted (field/value pairs kept together).
/// `pairs`: the reply is `HGETALL`'s, fields alternating with values.
fn canonical(reply: &redis::Value, pairs: bool) -> Option<Vec<u8>> {
    match reply {
        redis::Value::Array(items) | redis::Value::Set(items) => {
            let items: Vec<Vec<u8>> = items
                .iter()
                .map(|v| redis::from_redis_value(v).expect("a bulk element"))
                .collect();
            let mut groups: Vec<Vec<u8>> = match pairs {
                true => items.chunks(2).map(|p| p.join(&b'=')).collect(),
                false => items,
            };
            groups.sort();
            Some(groups.join(&b','))
        }
        redis::Value::Map(pairs) => {
            let mut groups: Vec<Vec<u8>> = pairs
                .iter()
                .map(|(f, v)| {
                    let f: Vec<u8> = redis::from_redis_value(f).expect("a field");
                    let v: Vec<u8> = redis::from_redis_value(v).expect("a value");
                    [f, v].join(&b'=')
                })
                .collect();
            groups.sort();
            Some(groups.join(&b','))
        }
        other => redis::from_redis_value(other).expect("a GET reply"),
    }
}

/// A value for a failure message: at most a few dozen characters.
fn show(entry: Option<&Held>) -> String {
    match entry {
        None => "(no key)".into(),
        Some(Held { value, deadline }) => {
            let text = value.as_ref().map_or("(nil)".into(), |v| {
                let s = String::from_utf8_lossy(v);
                let short: String = s.chars().take(40).collect();
                if short.len() < s.len() {
                    format!("{short:?}... ({} bytes)", v.len())
                } else {
                    format!("{short:?}")
                }
            });
            match deadline {
                Some((lo, hi)) => format!("{text} expiring at {lo}..={hi} ms"),
                None => text,
            }
        }
    }
}

/// Checks that `master` and `replica` hold the same keys, values and deadlines;
/// returns how many keys that is.
fn assert_same_data(master: &Server, replica: &Server) -> usize {
    let m = dataset(master);
    let r = dataset(replica);
    if m == r {
        return m.len();
    }
    let keys: BTreeSet<&String> = m.keys().chain(r.keys()).collect();
    let differing: Vec<String> = keys
        .into_iter()
        .filter(|k| m.get(*k) != r.get(*k))
        .map(|k| {
            format!(
                "  {k}: master {} / replica {}",
                show(m.get(k)),
                show(r.get(k))
            )
        })
        .collect();
    panic!(
        "master (port {}) holds {} keys, replica (port {}) {}; {} keys differ, first ones:\n{}\n{}\n{}",
        master.port(),
        m.len(),
        replica.port(),
        r.len(),
        differing.len(),
        differing[..differing.len().min(20)].join("\n"),
        report(master),
        report(replica)
    );
}

/// The `slave0:` line of a master's `INFO replication`.
fn slave0(master: &Server) -> Option<String> {
    info_value(&info(master, "replication"), "slave0")
}

// ---- the tests ----

/// Keys on the master before the replica of the full-sync test starts.
const FULL_SYNC_PREFILL_KEYS: usize = 50_000;
/// Writes made while that replica takes its copy, by that many threads.
const FULL_SYNC_WRITES: u64 = 200_000;
const FULL_SYNC_WRITERS: usize = 8;

/// A replica started while eight clients write to a prefilled master takes a full
/// copy of each shard and follows the writes made meanwhile: it ends with the
/// master's offset and exactly its keys, values and TTLs, and the master lists it
/// online.
#[test]
fn full_sync_under_load_ends_with_identical_data() {
    let master = Server::with_shards(SHARDS, &[]);
    prefill(&master, FULL_SYNC_PREFILL_KEYS);
    let load = Load::start(
        &master,
        FULL_SYNC_WRITERS,
        FULL_SYNC_WRITES / FULL_SYNC_WRITERS as u64,
        seed("full sync"),
        false,
    );
    let to = replicaof(&master);
    let replica = Server::with_shards(
        SHARDS,
        &["--replicaof", &to, "--replica-serve-reads", "yes"],
    );
    assert_eq!(load.join(), FULL_SYNC_WRITES);
    wait_synced(&master, &replica);
    let keys = assert_same_data(&master, &replica);
    assert!(
        keys >= FULL_SYNC_PREFILL_KEYS / 2,
        "only {keys} keys compared"
    );

    let replica_info = info(&replica, "replication");
    assert_eq!(
        number(&replica_info, "replica_full_syncs"),
        SHARDS as u64,
        "one full sync per shard stream:\n{replica_info}"
    );
    let (full, _) = sync_counters(&master);
    assert_eq!(
        full,
        SHARDS as u64,
        "sync_full on the master\n{}",
        reports(&[&master, &replica])
    );
    let online = format!("ip=127.0.0.1,port={},state=online,offset=", replica.port());
    wait_until(
        "the master lists its replica online",
        &[&master, &replica],
        || slave0(&master).is_some_and(|l| l.starts_with(&online)),
    );
    let master_info = info(&master, "replication");
    assert_eq!(info_value(&master_info, "role").as_deref(), Some("master"));
    assert_eq!(number(&master_info, "connected_slaves"), 1, "{master_info}");
    let offset = number(&master_info, "master_repl_offset");
    let role = format!(
        "[master, {offset}, [[127.0.0.1, {}, {offset}]]]",
        replica.port()
    );
    wait_until(
        "ROLE on the master shows the replica's acknowledged offset",
        &[&master, &replica],
        || master.raw().cmd(&["ROLE"]) == role,
    );
}

/// Keys on the master before the replica of the kill tests starts.
const KILL_PREFILL_KEYS: usize = 10_000;
const KILL_WRITERS: usize = 4;
/// Writes acknowledged before a kill, between the kill and the restart, and after.
const WRITES_BEFORE_KILL: u64 = 2000;
const WRITES_WHILE_DOWN: u64 = 2000;
const WRITES_AFTER_RESTART: u64 = 2000;
/// Keys written once a restarted or reconnected server is back.
const AFTER_KEYS: usize = 1000;

/// A replica killed with `SIGKILL` while the master is being written to, and started
/// again on its directory, continues each shard stream from its own LSN: the master
/// counts four partial resyncs and no new full one, and the data ends identical.
#[test]
fn killed_replica_resumes_with_partial_resync() {
    let master = Server::with_shards(SHARDS, &[]);
    prefill(&master, KILL_PREFILL_KEYS);
    let dir = DataDir::new("replica");
    let to = replicaof(&master);
    let args = [
        "--shards",
        SHARDS_ARG,
        "--replicaof",
        &to,
        "--replica-serve-reads",
        "yes",
    ];
    let mut replica = start_in(&dir, &args);
    wait_synced(&master, &replica);
    let (full_before, partial_before) = sync_counters(&master);
    assert_eq!(full_before, SHARDS as u64, "the first sync is a full one");

    let load = Load::start_endless(&master, KILL_WRITERS, seed("replica kill"), false);
    load.wait_more(WRITES_BEFORE_KILL, &[&master, &replica]);
    kill(&mut replica);
    load.wait_more(WRITES_WHILE_DOWN, &[&master]);
    let replica = restart_in(replica.port(), &dir, &args);
    load.wait_more(WRITES_AFTER_RESTART, &[&master, &replica]);
    assert!(load.stop() > 0, "the load made writes");

    wait_synced(&master, &replica);
    let (full, partial) = sync_counters(&master);
    let state = reports(&[&master, &replica]);
    assert_eq!(
        full, full_before,
        "sync_full on the master after the replica's restart\n{state}"
    );
    assert_eq!(
        partial,
        partial_before + SHARDS as u64,
        "sync_partial_ok on the master after the replica's restart\n{state}"
    );
    let replica_info = info(&replica, "replication");
    assert_eq!(
        number(&replica_info, "replica_partial_syncs"),
        SHARDS as u64,
        "{replica_info}"
    );
    assert_eq!(
        number(&replica_info, "replica_full_syncs"),
        0,
        "{replica_info}"
    );
    assert_same_data(&master, &replica);
}

/// A master killed with `SIGKILL` (`appendfsync always`: what it acknowledged is on
/// disk) and started again on its directory and port keeps its replication id: the
/// replica reconnects and continues every shard stream, the data ends identical, and
/// writes made after the restart reach the replica.
#[test]
fn killed_master_restarted_resumes_replica_with_partial_resync() {
    let dir = DataDir::new("master");
    let master_args = ["--shards", SHARDS_ARG, "--appendfsync", "always"];
    let mut master = start_in(&dir, &master_args);
    prefill(&master, KILL_PREFILL_KEYS);
    let to = replicaof(&master);
    let replica = Server::with_shards(
        SHARDS,
        &["--replicaof", &to, "--replica-serve-reads", "yes"],
    );
    wait_synced(&master, &replica);
    let replid = info_value(&info(&master, "replication"), "master_replid");

    let load = Load::start_endless(&master, KILL_WRITERS, seed("master kill"), true);
    load.wait_more(WRITES_BEFORE_KILL, &[&master, &replica]);
    kill(&mut master);
    assert!(load.join() > 0, "the load made writes");
    let master = restart_in(master.port(), &dir, &master_args);
    assert_eq!(
        info_value(&info(&master, "replication"), "master_replid"),
        replid,
        "the restarted master keeps its replication id"
    );
    set_keys(&master, "after", AFTER_KEYS);

    wait_synced(&master, &replica);
    assert_eq!(
        sync_counters(&master),
        (0, SHARDS as u64),
        "(sync_full, sync_partial_ok) on the restarted master\n{}",
        reports(&[&master, &replica])
    );
    assert_same_data(&master, &replica);
    let mut con = replica.client();
    let last: Option<String> = redis::cmd("GET")
        .arg(format!("after:{}", AFTER_KEYS - 1))
        .query(&mut con)
        .expect("GET");
    assert_eq!(last, Some(format!("after:{}", AFTER_KEYS - 1)));
}

/// `--repl-timeout` of the link-cut test, and how long its master stays stopped.
const SHORT_REPL_TIMEOUT: &str = "2";
const MASTER_STOPPED: Duration = Duration::from_secs(4);

/// A master that stops answering (`SIGSTOP`) is dropped by its replica after
/// `repl-timeout`: the replica reports its link down. Once the master runs again the
/// link comes back with a partial resync, and writes made after reach the replica.
#[test]
fn silent_link_goes_down_after_repl_timeout_and_comes_back() {
    let master = Server::with_shards(SHARDS, &[]);
    prefill(&master, KILL_PREFILL_KEYS);
    let to = replicaof(&master);
    let replica = Server::with_shards(
        SHARDS,
        &[
            "--replicaof",
            &to,
            "--replica-serve-reads",
            "yes",
            "--repl-timeout",
            SHORT_REPL_TIMEOUT,
        ],
    );
    wait_synced(&master, &replica);
    let (full_before, partial_before) = sync_counters(&master);
    let full_syncs_before = number(&info(&replica, "replication"), "replica_full_syncs");

    let stopped_at = Instant::now();
    master.signal(libc::SIGSTOP);
    wait_until("the replica drops the silent link", &[&replica], || {
        let r = info(&replica, "replication");
        info_value(&r, "master_link_status").as_deref() == Some("down")
            && info_value(&r, "master_link_down_since_seconds").is_some()
    });
    std::thread::sleep(MASTER_STOPPED.saturating_sub(stopped_at.elapsed()));
    master.signal(libc::SIGCONT);

    set_keys(&master, "after", AFTER_KEYS);
    wait_synced(&master, &replica);
    assert_same_data(&master, &replica);
    let (full, partial) = sync_counters(&master);
    let state = reports(&[&master, &replica]);
    assert_eq!(
        full, full_before,
        "sync_full on the master after the link came back\n{state}"
    );
    assert!(
        partial >= partial_before + SHARDS as u64,
        "sync_partial_ok on the master went from {partial_before} to {partial}\n{state}"
    );
    let replica_info = info(&replica, "replication");
    assert_eq!(
        number(&replica_info, "replica_full_syncs"),
        full_syncs_before,
        "{replica_info}"
    );
    assert!(
        info_value(&replica_info, "master_link_down_since_seconds").is_none(),
        "{replica_info}"
    );
}

/// A replica refuses every write with Redis's `-READONLY` text and every read while
/// `replica-serve-reads` is `no`; `CONFIG SET replica-serve-reads yes` opens reads.
/// `PING`, `INFO`, `ROLE`, `CONFIG` and `CLIENT` always work, and `INFO replication`
/// describes the link.
#[test]
fn replica_refuses_writes_and_serves_reads_only_when_configured() {
    let master = Server::with_shards(SHARDS, &[]);
    set_keys(&master, "key", 100);
    let to = replicaof(&master);
    let replica = Server::with_shards(SHARDS, &["--replicaof", &to, "--replica-priority", "7"]);
    wait_synced(&master, &replica);

    let mut con = replica.raw();
    let writes: [&[&str]; 10] = [
        &["SET", "key:0", "x"],
        &["INCR", "counter"],
        &["DEL", "key:0"],
        &["APPEND", "key:1", "x"],
        &["MSET", "key:2", "x", "key:3", "y"],
        &["EXPIRE", "key:4", "100"],
        // Blocking pops are writes: refused at once, never left waiting.
        &["BLPOP", "list", "0"],
        &["BRPOPLPUSH", "list", "other", "0"],
        &["BLMOVE", "list", "other", "LEFT", "RIGHT", "0"],
        &["BLMPOP", "0", "1", "list", "LEFT"],
    ];
    for write in writes {
        assert_eq!(con.cmd(write), READONLY, "{write:?} on a replica");
    }
    let reads: [&[&str]; 6] = [
        &["GET", "key:0"],
        &["MGET", "key:0", "key:1"],
        &["EXISTS", "key:0"],
        &["DBSIZE"],
        &["KEYS", "*"],
        &["SCAN", "0"],
    ];
    for read in reads {
        let reply = con.cmd(read);
        assert!(
            reply.starts_with('-'),
            "{read:?} on a replica without replica-serve-reads: {reply}"
        );
    }

    assert_eq!(con.cmd(&["PING"]), "PONG");
    assert_eq!(
        con.cmd(&["CONFIG", "GET", "replica-serve-reads"]),
        "[replica-serve-reads, no]"
    );
    assert_eq!(con.cmd(&["CLIENT", "SETNAME", "reader"]), "OK");
    let offset = number(&info(&master, "replication"), "master_repl_offset");
    assert_eq!(
        con.cmd(&["ROLE"]),
        format!("[slave, 127.0.0.1, {}, connected, {offset}]", master.port())
    );
    let r = info(&replica, "replication");
    let m = info(&master, "replication");
    for (field, want) in [
        ("role", "slave".to_string()),
        ("master_host", "127.0.0.1".to_string()),
        ("master_port", master.port().to_string()),
        ("master_link_status", "up".to_string()),
        ("master_sync_in_progress", "0".to_string()),
        ("slave_repl_offset", offset.to_string()),
        ("slave_priority", "7".to_string()),
        ("replica_announced", "1".to_string()),
    ] {
        assert_eq!(info_value(&r, field), Some(want), "{field} in:\n{r}");
    }
    let replid = info_value(&r, "master_replid").unwrap_or_default();
    assert_eq!(replid.len(), 40, "master_replid in:\n{r}");
    assert!(replid.bytes().all(|b| b.is_ascii_hexdigit()), "{replid}");
    assert_eq!(
        Some(replid),
        info_value(&m, "master_replid"),
        "the master's replid"
    );
    assert!(
        info_value(&r, "master_link_down_since_seconds").is_none(),
        "{r}"
    );
    for shard in 0..SHARDS {
        for lag in ["lag_records", "lag_bytes", "lag_ms"] {
            let field = format!("shard{shard}_{lag}");
            assert!(info_value(&r, &field).is_some(), "{field} in:\n{r}");
        }
    }
    // The master's line for the replica: its listening port, online, its offset and
    // seconds since its last acknowledgement (sent about once a second).
    let line = slave0(&master).unwrap_or_default();
    let prefix = format!(
        "ip=127.0.0.1,port={},state=online,offset={offset},lag=",
        replica.port()
    );
    let lag: u64 = line
        .strip_prefix(&prefix)
        .and_then(|lag| lag.parse().ok())
        .unwrap_or_else(|| panic!("slave0:{line}, expected {prefix}<seconds>"));
    assert!(lag <= 2, "slave0 lag: {line}");
    // Sentinel reads these two to choose (or never choose) a replica to promote.
    assert_eq!(con.cmd(&["CONFIG", "SET", "replica-priority", "0"]), "OK");
    assert_eq!(con.cmd(&["CONFIG", "SET", "replica-announced", "no"]), "OK");
    let r = info(&replica, "replication");
    assert_eq!(
        info_value(&r, "slave_priority").as_deref(),
        Some("0"),
        "{r}"
    );
    assert_eq!(
        info_value(&r, "replica_announced").as_deref(),
        Some("0"),
        "{r}"
    );

    assert_eq!(
        con.cmd(&["CONFIG", "SET", "replica-serve-reads", "yes"]),
        "OK"
    );
    assert_eq!(con.cmd(&["GET", "key:0"]), "key:0");
    assert_eq!(con.cmd(&["DBSIZE"]), "100");
    assert_eq!(
        con.cmd(&["SET", "key:0", "x"]),
        READONLY,
        "writes stay refused"
    );
}

/// `REPLICAOF NO ONE` makes a replica a master with all its data that takes writes.
/// The old master, which took writes of its own meanwhile, pointed at the new one
/// drops its diverging writes and ends with exactly the new master's data.
#[test]
fn promoted_replica_becomes_master_and_old_master_follows_it() {
    let old = Server::with_shards(SHARDS, &["--replica-serve-reads", "yes"]);
    prefill(&old, KILL_PREFILL_KEYS);
    let to = replicaof(&old);
    let new = Server::with_shards(
        SHARDS,
        &["--replicaof", &to, "--replica-serve-reads", "yes"],
    );
    wait_synced(&old, &new);
    let before = dataset(&old);

    let mut new_con = new.raw();
    assert_eq!(new_con.cmd(&["REPLICAOF", "NO", "ONE"]), "OK");
    wait_until("the promoted replica reports role:master", &[&new], || {
        info_value(&info(&new, "replication"), "role").as_deref() == Some("master")
    });
    assert!(
        new_con.cmd(&["ROLE"]).starts_with("[master, "),
        "ROLE after REPLICAOF NO ONE"
    );
    assert_eq!(dataset(&new), before, "the promoted replica's data");
    set_keys(&new, "promoted", 100);
    assert_eq!(new_con.cmd(&["SET", "k:2", "from the new master"]), "OK");

    set_keys(&old, "diverged", 100);
    let mut old_con = old.raw();
    assert_eq!(old_con.cmd(&["SET", "k:0", "diverged"]), "OK");
    assert_eq!(old_con.cmd(&["DEL", "k:1"]), "1");

    let port = new.port().to_string();
    assert_eq!(old_con.cmd(&["REPLICAOF", "127.0.0.1", &port]), "OK");
    wait_until("the old master follows the new one", &[&new, &old], || {
        let r = info(&old, "replication");
        info_value(&r, "master_port").as_deref() == Some(port.as_str()) && in_sync(&new, &old)
    });
    assert_same_data(&new, &old);
    assert_eq!(old_con.cmd(&["GET", "diverged:0"]), "(nil)");
    assert_eq!(old_con.cmd(&["GET", "k:0"]), "prefill:0");
    assert_eq!(old_con.cmd(&["GET", "k:1"]), "prefill:1");
    assert_eq!(old_con.cmd(&["GET", "k:2"]), "from the new master");
    assert_eq!(old_con.cmd(&["GET", "promoted:99"]), "promoted:99");
    assert!(
        old_con
            .cmd(&["ROLE"])
            .starts_with(&format!("[slave, 127.0.0.1, {port}, connected, ")),
        "ROLE on the old master"
    );
    assert_eq!(old_con.cmd(&["SET", "k:0", "x"]), READONLY);
}

/// An old master that diverged on one shard only (writes after the promotion, all on
/// shard 0) follows the promoted replica with a full copy of that shard and a partial
/// resync of every other one, and ends with the new master's data.
#[test]
fn old_master_resyncs_in_full_only_the_shards_it_diverged_on() {
    let old = Server::with_shards(SHARDS, &["--replica-serve-reads", "yes"]);
    prefill(&old, KILL_PREFILL_KEYS);
    let new = Server::with_shards(SHARDS, &["--replicaof", &replicaof(&old)]);
    wait_synced(&old, &new);
    assert_eq!(new.raw().cmd(&["REPLICAOF", "NO", "ONE"]), "OK");
    wait_until("the promoted replica reports role:master", &[&new], || {
        info_value(&info(&new, "replication"), "role").as_deref() == Some("master")
    });
    let mut old_con = old.raw();
    let diverging = (0..)
        .map(|i| format!("diverged:{i}"))
        .filter(|k| common::shard_of(k, SHARDS) == 0)
        .take(20);
    for key in diverging {
        assert_eq!(old_con.cmd(&["SET", &key, "x"]), "OK");
    }
    set_keys(&new, "promoted", 100);
    let (full_before, partial_before) = sync_counters(&new);
    let port = new.port().to_string();
    assert_eq!(old_con.cmd(&["REPLICAOF", "127.0.0.1", &port]), "OK");
    wait_until("the old master follows the new one", &[&new, &old], || {
        in_sync(&new, &old)
    });
    let (full, partial) = sync_counters(&new);
    let state = reports(&[&new, &old]);
    assert_eq!(full - full_before, 1, "one shard diverged\n{state}");
    assert_eq!(partial - partial_before, SHARDS as u64 - 1, "{state}");
    assert_same_data(&new, &old);
}

/// Keys on the master of the full-sync crash test: enough that a shard's copy takes
/// a while to arrive, so a kill can land in the middle of it.
const MARKER_PREFILL_KEYS: usize = 200_000;
/// How often the crash test looks for the marker file.
const MARKER_POLL: Duration = Duration::from_micros(200);

/// A replica killed in the middle of a full sync (after a shard reset its journal
/// and wrote its `full-sync-in-progress` marker, before the new snapshot is durable)
/// starts again without complaint: that shard starts empty and syncs once more, and
/// the data ends identical. The sync is a full one, or, when the kill came after the
/// shard had taken the master's id and the master still holds every record from its
/// first, a partial one from LSN 1 (an empty shard at LSN 0 follows that history).
#[test]
fn replica_killed_during_a_full_sync_starts_that_shard_empty_and_syncs_again() {
    let master = Server::with_shards(SHARDS, &[]);
    prefill(&master, MARKER_PREFILL_KEYS);
    let dir = DataDir::new("replica-marker");
    let to = replicaof(&master);
    let args = [
        "--shards",
        SHARDS_ARG,
        "--replicaof",
        &to,
        "--replica-serve-reads",
        "yes",
    ];
    let mut replica = start_in(&dir, &args);
    let markers = || (0..SHARDS).filter(|s| dir.shard(*s).join("full-sync-in-progress").exists());
    let deadline = Instant::now() + SYNC_TIMEOUT;
    while markers().next().is_none() {
        assert!(Instant::now() < deadline, "no full-sync marker appeared");
        std::thread::sleep(MARKER_POLL);
    }
    kill(&mut replica);
    let marked: Vec<usize> = markers().collect();
    assert!(
        !marked.is_empty(),
        "a shard was in the middle of its full sync"
    );
    let (full_before, partial_before) = sync_counters(&master);
    // With the master stopped, the restarted replica shows what it recovered: nothing
    // on the shards whose copy was cut short.
    master.signal(libc::SIGSTOP);
    let replica = restart_in(replica.port(), &dir, &args);
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query(&mut replica.client())
        .expect("KEYS on the restarted replica");
    master.signal(libc::SIGCONT);
    let partial = keys
        .iter()
        .filter(|k| marked.contains(&common::shard_of(k, SHARDS)));
    assert_eq!(partial.count(), 0, "shards {marked:?} start empty");
    wait_synced(&master, &replica);
    let (full, partial) = sync_counters(&master);
    let state = reports(&[&master, &replica]);
    assert!(
        (full - full_before) + (partial - partial_before) >= marked.len() as u64,
        "shards {marked:?} synced again\n{state}"
    );
    assert_same_data(&master, &replica);
}

/// A replica that was down while its master rewrote its journals (the records it
/// would resume from are gone) syncs every shard in full when it comes back, and the
/// data ends identical.
#[test]
fn replica_cut_off_by_a_master_journal_rewrite_syncs_in_full() {
    let master = Server::with_shards(SHARDS, &["--auto-aof-rewrite-percentage", "0"]);
    set_keys(&master, "before", 1000);
    let dir = DataDir::new("replica-cut-off");
    let to = replicaof(&master);
    let args = [
        "--shards",
        SHARDS_ARG,
        "--replicaof",
        &to,
        "--replica-serve-reads",
        "yes",
    ];
    let mut replica = start_in(&dir, &args);
    wait_synced(&master, &replica);
    kill(&mut replica);
    set_keys(&master, "while-down", 1000);
    let rewrites = number(&info(&master, "persistence"), "aof_rewrites");
    let reply = master.raw().cmd(&["BGREWRITEAOF"]);
    assert_eq!(reply, "Background append only file rewriting started");
    wait_until("the master's rewrite", &[&master], || {
        let p = info(&master, "persistence");
        number(&p, "aof_rewrites") > rewrites && number(&p, "aof_rewrite_in_progress") == 0
    });
    set_keys(&master, "after", 1000);
    let (full_before, partial_before) = sync_counters(&master);
    let replica = restart_in(replica.port(), &dir, &args);
    wait_synced(&master, &replica);
    let (full, partial) = sync_counters(&master);
    let state = reports(&[&master, &replica]);
    assert_eq!(
        full - full_before,
        SHARDS as u64,
        "every shard in full\n{state}"
    );
    assert_eq!(partial, partial_before, "{state}");
    assert_same_data(&master, &replica);
}

/// How long `WAIT` waits for a replica that is stopped (`SIGSTOP`).
const WAIT_STOPPED_MS: &str = "500";

/// `WAIT` on a master counts the replicas that acknowledged its writes (not one
/// stopped before a write), gives 0 after its timeout with none, and is an error on a
/// replica. The replica here is pointed at its master at run time with `SLAVEOF`.
#[test]
fn wait_counts_acknowledging_replicas() {
    let master = Server::with_shards(SHARDS, &[]);
    let replica = Server::with_shards(SHARDS, &[]);
    let port = master.port().to_string();
    assert_eq!(replica.raw().cmd(&["SLAVEOF", "127.0.0.1", &port]), "OK");
    wait_synced(&master, &replica);

    set_keys(&master, "key", 100);
    let mut con = master.raw();
    assert_eq!(con.cmd(&["SET", "last", "1"]), "OK");
    assert_eq!(con.cmd(&["WAIT", "1", WAIT_TIMEOUT_MS]), "1");
    // A write the stopped replica cannot have: WAIT counts no replica, until the
    // replica runs again and acknowledges it.
    replica.signal(libc::SIGSTOP);
    assert_eq!(con.cmd(&["SET", "while-stopped", "1"]), "OK");
    assert_eq!(con.cmd(&["WAIT", "1", WAIT_STOPPED_MS]), "0");
    replica.signal(libc::SIGCONT);
    assert_eq!(con.cmd(&["WAIT", "1", WAIT_TIMEOUT_MS]), "1");
    let reply = replica.raw().cmd(&["WAIT", "1", "100"]);
    assert!(reply.starts_with('-'), "WAIT on a replica: {reply}");

    let alone = Server::with_shards(SHARDS, &[]);
    let mut con = alone.raw();
    assert_eq!(con.cmd(&["SET", "key", "1"]), "OK");
    assert_eq!(con.cmd(&["WAIT", "1", "100"]), "0");
}

/// A replica with another shard count than its master is refused: its log names the
/// shard counts and its link never comes up.
#[test]
fn replica_with_another_shard_count_is_refused() {
    let master = Server::with_shards(SHARDS, &[]);
    set_keys(&master, "key", 10);
    let to = replicaof(&master);
    let replica = Server::with_shards(2, &["--replicaof", &to]);
    wait_until(
        "the replica logs the shard count refusal",
        &[&master, &replica],
        || replica.log_text().to_lowercase().contains("shard count"),
    );
    holds_throughout(
        "the replica's link stays down",
        &[&master, &replica],
        || !link_up(&replica),
    );
    let m = info(&master, "replication");
    assert_eq!(number(&m, "connected_slaves"), 0, "{m}");
}

/// A master with `requirepass` takes a replica that has `masterauth` (with or
/// without `masteruser default`) and not one without it.
#[test]
fn masterauth_is_needed_for_a_master_with_a_password() {
    let master = Server::with_shards(SHARDS, &["--requirepass", "secret"]);
    set_keys(&master, "key", 100);
    let to = replicaof(&master);
    let with_auth = Server::with_shards(
        SHARDS,
        &[
            "--replicaof",
            &to,
            "--masterauth",
            "secret",
            "--replica-serve-reads",
            "yes",
        ],
    );
    let with_user = Server::with_shards(
        SHARDS,
        &[
            "--replicaof",
            &to,
            "--masteruser",
            "default",
            "--masterauth",
            "secret",
            "--replica-serve-reads",
            "yes",
        ],
    );
    let without = Server::with_shards(SHARDS, &["--replicaof", &to]);
    wait_synced(&master, &with_auth);
    wait_synced(&master, &with_user);
    assert_same_data(&master, &with_auth);
    assert_same_data(&master, &with_user);
    holds_throughout(
        "the link of the replica without masterauth stays down",
        &[&master, &without],
        || !link_up(&without),
    );
    let m = info(&master, "replication");
    assert_eq!(number(&m, "connected_slaves"), 2, "{m}");
}

/// Smallest journal (bytes) at which the replica in the next test rewrites its own.
const REPLICA_REWRITE_MIN_BYTES: &str = "65536";

#[test]
fn replica_rewrites_its_own_journal_and_still_resumes_partially() {
    let master = Server::with_shards(SHARDS, &[]);
    let dir = DataDir::new("replica-rewrite");
    let to = replicaof(&master);
    let args = [
        "--shards",
        SHARDS_ARG,
        "--replicaof",
        &to,
        "--replica-serve-reads",
        "yes",
        "--auto-aof-rewrite-min-size",
        REPLICA_REWRITE_MIN_BYTES,
        "--auto-aof-rewrite-percentage",
        "100",
    ];
    let mut replica = start_in(&dir, &args);
    wait_synced(&master, &replica);
    // Written once before the rewrite: afterwards only the replica's snapshot holds
    // them, and the partial resync after the restart does not send them again.
    set_keys(&master, "stable", 500);
    // Overwrites of the same keys: the journal grows, the data does not.
    for round in 0..8 {
        set_keys(&master, &format!("round{}", round % 2), 2_000);
    }
    wait_synced(&master, &replica);
    wait_until(
        "the replica rewrote its journal",
        &[&master, &replica],
        || number(&info(&replica, "persistence"), "aof_rewrites") > 0,
    );
    kill(&mut replica);
    set_keys(&master, "after", 500);
    let (full_before, partial_before) = sync_counters(&master);
    let replica = restart_in(replica.port(), &dir, &args);
    wait_synced(&master, &replica);
    let (full, partial) = sync_counters(&master);
    let state = reports(&[&master, &replica]);
    assert_eq!(full, full_before, "no full sync after the restart\n{state}");
    assert_eq!(partial, partial_before + SHARDS as u64, "{state}");
    assert_same_data(&master, &replica);
}

/// Connections opened while a replica stream ends, one every [`STREAM_END_STEP`].
const STREAM_END_CONNECTIONS: usize = 50;
const STREAM_END_STEP: Duration = Duration::from_millis(50);

/// A replica stream whose replica is gone lets go of its socket once and touches
/// nothing after. The kernel hands the lowest free descriptor number to the next
/// connection, so the number the stream's socket had is soon another connection's:
/// a client or a replica link opened meanwhile stays up. (The stream used to shut its
/// socket down by number after both of its halves had closed it, up to a heartbeat
/// later, and cut whichever connection held the number by then.)
#[test]
fn a_replica_stream_that_ends_leaves_later_connections_alone() {
    use std::io::{Read, Write};
    let master = Server::with_shards(1, &[]);
    let mut replica = master.raw();
    let reply = replica.cmd(&["CKV.SYNC", "0", "1", "?", "1", "2"]);
    assert!(reply.starts_with("FULLRESYNC"), "{reply}");
    // SO_LINGER 0: the close sends a reset, and both halves of the master's
    // stream fail at once.
    socket2::SockRef::from(&replica.stream)
        .set_linger(Some(Duration::ZERO))
        .expect("SO_LINGER");
    drop(replica);
    let later: Vec<_> = (0..STREAM_END_CONNECTIONS)
        .map(|_| {
            std::thread::sleep(STREAM_END_STEP);
            master.raw()
        })
        .collect();
    for (i, con) in later.iter().enumerate() {
        let mut stream = &con.stream;
        let mut reply = [0u8; 7];
        let answered = stream
            .write_all(b"PING\r\n")
            .and_then(|()| stream.read_exact(&mut reply));
        assert!(
            answered.is_ok() && &reply == b"+PONG\r\n",
            "connection {i} opened after the stream ended: {answered:?}\n{}",
            master.log_text()
        );
    }
}
