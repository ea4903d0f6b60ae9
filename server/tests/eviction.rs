//! `maxmemory` and eviction against the real binary: the parameters and their units,
//! `noeviction`'s `-OOM` (text recorded from redis-server 7.0), a multi-shard write
//! refused whole, client output buffers counted toward the limit (each beside
//! redis-server), what each policy keeps, evictions seen by keyspace notifications, `WATCH` and replicas (which never
//! evict on their own), the hit rate of a zipfian cache workload against
//! redis-server's at the same settings, and RSS while writers fill the server.
//!
//! Capacities are measured, not computed: [`capacity`] fills a server under
//! `allkeys-random` and counts the keys left, so the tests hold whatever the
//! per-key memory estimate is.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{encode_str, info_value, shard_of, Raw, Redis, Server};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Redis 7.0's reply to a `denyoom` command over `maxmemory`.
const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";
/// A value as the issue's workloads write: 32 bytes.
const VALUE: &str = "0123456789abcdef0123456789abcdef";
/// Keys written per pipeline.
const PIPELINE_KEYS: usize = 500;
/// How long a replica gets to catch up with its master.
const SYNC_TIMEOUT: Duration = Duration::from_secs(20);
const POLL_INTERVAL: Duration = Duration::from_millis(50);

fn key(prefix: &str, i: usize) -> String {
    format!("{prefix}:{i:08}")
}

fn config_set(con: &mut Raw, name: &str, value: &str) {
    let reply = con.cmd(&["CONFIG", "SET", name, value]);
    assert_eq!(reply, "OK", "CONFIG SET {name} {value}");
}

fn config_get(con: &mut Raw, name: &str) -> String {
    let reply = con.cmd(&["CONFIG", "GET", name]);
    let prefix = format!("[{name}, ");
    reply
        .strip_prefix(&prefix)
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or_else(|| panic!("CONFIG GET {name}: {reply}"))
        .to_string()
}

fn info_number(con: &mut Raw, section: &str, field: &str) -> u64 {
    con.send(&encode_str(&["INFO", section]));
    let info = String::from_utf8(con.read_reply()).expect("INFO is text");
    info_value(&info, field)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in INFO {section}"))
}

fn evicted(con: &mut Raw) -> u64 {
    info_number(con, "stats", "evicted_keys")
}

fn dbsize(con: &mut Raw) -> usize {
    con.cmd(&["DBSIZE"]).parse().expect("DBSIZE")
}

fn flushall(con: &mut Raw) {
    assert_eq!(con.cmd(&["FLUSHALL"]), "OK");
}

/// Sends `requests` in one pipeline; their replies' exact bytes, in order.
fn pipeline(con: &mut Raw, requests: impl Iterator<Item = Vec<u8>>) -> Vec<Vec<u8>> {
    let mut bytes = Vec::new();
    let mut n = 0;
    for r in requests {
        bytes.extend_from_slice(&r);
        n += 1;
    }
    con.send(&bytes);
    (0..n).map(|_| con.read_reply()).collect()
}

/// How many of `keys` exist.
fn existing(con: &mut Raw, keys: &[String]) -> usize {
    let replies = pipeline(con, keys.iter().map(|k| encode_str(&["EXISTS", k])));
    replies.iter().filter(|r| r.as_slice() == b":1\r\n").count()
}

/// `SET`s `keys` in pipelines, with `ex_s` seconds to live when given; the replies
/// in order (`Ok` or the error text).
fn set_keys(con: &mut Raw, keys: &[String], ex_s: Option<u64>) -> Vec<Result<(), String>> {
    let ex = ex_s.map(|s| s.to_string());
    let mut replies = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(PIPELINE_KEYS) {
        let requests = chunk.iter().map(|k| match &ex {
            Some(ex) => encode_str(&["SET", k, VALUE, "EX", ex]),
            None => encode_str(&["SET", k, VALUE]),
        });
        replies.extend(
            pipeline(con, requests)
                .into_iter()
                .map(|r| match r.strip_prefix(b"-") {
                    Some(error) => {
                        Err(String::from_utf8_lossy(&error[..error.len() - 2]).into_owned())
                    }
                    None => Ok(()),
                }),
        );
    }
    replies
}

fn keys(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| key(prefix, i)).collect()
}

/// The share of `keys` that exist.
fn kept(con: &mut Raw, keys: &[String]) -> f64 {
    existing(con, keys) as f64 / keys.len() as f64
}

/// `GET`s each of `keys` `times` times, ignoring the values.
fn read_keys(con: &mut Raw, keys: &[String], times: usize) {
    for _ in 0..times {
        for chunk in keys.chunks(PIPELINE_KEYS) {
            pipeline(con, chunk.iter().map(|k| encode_str(&["GET", k])));
        }
    }
}

/// Keys a server holds at its current `maxmemory`: filled under `allkeys-random`
/// until it evicts, then emptied again. The policy is left at `allkeys-random`.
fn capacity(con: &mut Raw) -> usize {
    config_set(con, "maxmemory-policy", "allkeys-random");
    flushall(con);
    let before = evicted(con);
    let mut written = 0;
    while evicted(con) == before {
        set_keys(con, &keys("fill", written..written + PIPELINE_KEYS), None);
        written += PIPELINE_KEYS;
        assert!(written < 10_000_000, "the server never evicts");
    }
    set_keys(con, &keys("fill", written..written + written / 4), None);
    let n = dbsize(con);
    flushall(con);
    n
}

fn redis_raw(redis: &Redis) -> Raw {
    Raw::connect(redis.port)
}

#[test]
fn maxmemory_takes_units_at_start_and_at_run_time() {
    let server = Server::start(&["--maxmemory", "100mb", "--maxmemory-policy", "allkeys-lru"]);
    let mut c = server.raw();
    assert_eq!(config_get(&mut c, "maxmemory"), "104857600");
    assert_eq!(config_get(&mut c, "maxmemory-policy"), "allkeys-lru");
    config_set(&mut c, "maxmemory", "1gb");
    assert_eq!(config_get(&mut c, "maxmemory"), "1073741824");
    config_set(&mut c, "maxmemory-policy", "VOLATILE-TTL");
    assert_eq!(config_get(&mut c, "maxmemory-policy"), "volatile-ttl");
    for (name, default) in [
        ("maxmemory-samples", "5"),
        ("maxmemory-eviction-tenacity", "10"),
        ("lfu-log-factor", "10"),
        ("lfu-decay-time", "1"),
    ] {
        assert_eq!(config_get(&mut c, name), default, "{name}");
    }
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "maxmemory-policy", "bogus"]),
        "-ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - argument(s) \
         must be one of the following: volatile-lru, volatile-lfu, volatile-random, \
         volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction"
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "maxmemory-samples", "0"]),
        "-ERR CONFIG SET failed (possibly related to argument 'maxmemory-samples') - argument \
         must be between 1 and 2147483647 inclusive"
    );
}

#[test]
fn noeviction_refuses_writes_that_grow_memory_with_redis_text() {
    let redis = Redis::start();
    let mut r = redis_raw(&redis);
    config_set(&mut r, "maxmemory", "1");
    let reply = set_keys(&mut r, &keys("k", 0..1), None);
    assert_eq!(reply, [Err(OOM.to_string())], "the reference's text");

    let server = Server::with_shards(2, &["--maxmemory", "2mb"]);
    let mut c = server.raw();
    let written = keys("k", 0..40_000);
    let replies = set_keys(&mut c, &written, None);
    let first_oom = replies
        .iter()
        .position(|r| r.is_err())
        .expect("2 MB fill up");
    assert_eq!(replies[first_oom], Err(OOM.to_string()));
    assert_eq!(evicted(&mut c), 0);
    let stored: Vec<&str> = written
        .iter()
        .zip(&replies)
        .filter(|(_, r)| r.is_ok())
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(dbsize(&mut c), stored.len());
    // Reads and writes that do not grow memory still run; those that may, do not.
    assert_eq!(c.cmd(&["GET", stored[0]]), VALUE);
    assert_eq!(c.cmd(&["EXPIRE", stored[0], "100"]), "1");
    let refused = stored
        .iter()
        .find(|k| c.cmd(&["APPEND", k, "x"]).starts_with('-'))
        .expect("a full shard refuses APPEND");
    assert_eq!(c.cmd(&["APPEND", refused, "x"]), format!("-{OOM}"));
    let mut del = vec!["DEL"];
    del.extend(&stored);
    assert_eq!(c.cmd(&del), stored.len().to_string());
    assert_eq!(c.cmd(&["SET", "after", "x"]), "OK");
}

/// The first `n` keys `prefix:NNNNNNNN` that live on `shard` of `shards`.
fn keys_on(prefix: &str, shard: usize, shards: usize, n: usize) -> Vec<String> {
    (0..)
        .map(|i| key(prefix, i))
        .filter(|k| shard_of(k, shards) == shard)
        .take(n)
        .collect()
}

#[test]
fn a_multi_shard_write_over_maxmemory_writes_nothing() {
    // The reference refuses the whole MSET / MSETNX and writes none of its keys.
    let redis = Redis::start();
    let mut r = redis_raw(&redis);
    config_set(&mut r, "maxmemory", "1");
    for cmd in ["MSET", "MSETNX"] {
        assert_eq!(r.cmd(&[cmd, "a", "1", "b", "2"]), format!("-{OOM}"));
    }
    assert_eq!(r.cmd(&["EXISTS", "a", "b"]), "0");

    // Only the last shard is full: the ascending path (two shards) would write the
    // lower shard's keys before the full one refuses, the parallel one (more) would
    // write every other shard's keys.
    const SHARDS: usize = 4;
    let server = Server::with_shards(SHARDS, &["--maxmemory", "1mb"]);
    let mut c = server.raw();
    let full = SHARDS - 1;
    let fill = keys_on("fill", full, SHARDS, 40_000);
    let replies = set_keys(&mut c, &fill, None);
    let refused = replies
        .iter()
        .position(Result::is_err)
        .expect("the shard fills");
    let held = dbsize(&mut c);
    let free: Vec<String> = (0..full)
        .map(|s| keys_on("free", s, SHARDS, 1).remove(0))
        .collect();
    let on_full = fill[refused].as_str();
    for cmd in ["MSET", "MSETNX"] {
        let two = [cmd, &free[0], "1", on_full, "2"];
        let every = [
            cmd, &free[0], "1", &free[1], "1", &free[2], "1", on_full, "2",
        ];
        for args in [&two[..], &every[..]] {
            assert_eq!(c.cmd(args), format!("-{OOM}"), "{args:?}");
            assert_eq!(dbsize(&mut c), held, "{args:?} wrote a key");
        }
    }
    // Shards with room still take a multi-shard write.
    assert_eq!(c.cmd(&["MSET", &free[0], "1", &free[1], "2"]), "OK");
    assert_eq!(dbsize(&mut c), held + 2);
}

/// A connection that sends `count` `GET key` and reads none of the replies: they
/// wait in the server's output buffer for it.
fn unread_gets(port: u16, key: &str, count: usize) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let gets = encode_str(&["GET", key]).repeat(count);
    stream.write_all(&gets).expect("send the GETs");
    stream
}

/// Sends `SET probe x` until the reply is `want`; whether it came in time.
fn set_probe_until(con: &mut Raw, want: &str) -> bool {
    let deadline = Instant::now() + SYNC_TIMEOUT;
    while Instant::now() < deadline {
        if con.cmd(&["SET", "probe", "x"]) == want {
            return true;
        }
        std::thread::sleep(POLL_INTERVAL);
    }
    false
}

#[test]
fn client_output_buffers_count_toward_maxmemory() {
    // 64 replies of 1 MiB each: far more than the sockets hold, so most wait in the
    // server, four times the limit.
    const VALUE_BYTES: usize = 1 << 20;
    const GETS: usize = 64;
    let big = "v".repeat(VALUE_BYTES);
    let reply_bytes = GETS * (VALUE_BYTES + format!("${VALUE_BYTES}\r\n\r\n").len());
    let redis = Redis::start();
    let server = Server::with_shards(1, &["--maxmemory", "16mb"]);
    let mut r = redis_raw(&redis);
    config_set(&mut r, "maxmemory", "16mb");
    for (name, port, mut con) in [
        ("redis", redis.port, r),
        ("corekv", server.port(), server.raw()),
    ] {
        assert_eq!(con.cmd(&["SET", "big", &big]), "OK", "{name}");
        assert_eq!(con.cmd(&["SET", "probe", "x"]), "OK", "{name}");
        let mut reader = unread_gets(port, "big", GETS);
        let oom = format!("-{OOM}");
        assert!(
            set_probe_until(&mut con, &oom),
            "{name}: writes refused while the output waits"
        );
        let mut sink = vec![0u8; 1 << 20];
        let mut read = 0;
        while read < reply_bytes {
            let n = reader.read(&mut sink).expect("read the replies");
            assert!(n > 0, "{name} closed the reading client");
            read += n;
        }
        assert!(
            set_probe_until(&mut con, "OK"),
            "{name}: writes again once it is read"
        );
    }
}

#[test]
fn allkeys_lru_keeps_the_recently_used_keys() {
    let server = Server::with_shards(2, &["--maxmemory", "4mb", "--maxmemory-samples", "10"]);
    let mut c = server.raw();
    let cap = capacity(&mut c);
    config_set(&mut c, "maxmemory-policy", "allkeys-lru");
    let old = keys("old", 0..cap * 9 / 10);
    set_keys(&mut c, &old, None);
    // The LRU clock ticks once a second.
    std::thread::sleep(Duration::from_millis(2_100));
    let (used, idle) = old.split_at(old.len() / 2);
    read_keys(&mut c, used, 1);
    set_keys(&mut c, &keys("new", 0..cap / 2), None);
    let (kept_used, kept_idle) = (kept(&mut c, used), kept(&mut c, idle));
    assert!(evicted(&mut c) > 0);
    assert!(kept_used > 0.95, "recently used kept: {kept_used}");
    assert!(kept_idle < 0.5, "idle kept: {kept_idle}");
}

#[test]
fn allkeys_lfu_keeps_the_frequently_used_keys() {
    let server = Server::with_shards(2, &["--maxmemory", "4mb", "--maxmemory-samples", "10"]);
    let mut c = server.raw();
    let cap = capacity(&mut c);
    config_set(&mut c, "maxmemory-policy", "allkeys-lfu");
    let old = keys("old", 0..cap * 9 / 10);
    set_keys(&mut c, &old, None);
    let (hot, cold) = old.split_at(old.len() / 2);
    read_keys(&mut c, hot, 10);
    let freq: u64 = c.cmd(&["OBJECT", "FREQ", &hot[0]]).parse().expect("FREQ");
    assert!(
        freq > 5,
        "ten reads raise the counter above LFU_INIT_VAL: {freq}"
    );
    set_keys(&mut c, &keys("new", 0..cap / 2), None);
    let (kept_hot, kept_cold) = (kept(&mut c, hot), kept(&mut c, cold));
    assert!(kept_hot > 0.95, "frequently used kept: {kept_hot}");
    assert!(kept_cold < 0.5, "rarely used kept: {kept_cold}");
}

#[test]
fn volatile_policies_evict_only_keys_with_a_deadline() {
    let server = Server::with_shards(2, &["--maxmemory", "2mb"]);
    let mut c = server.raw();
    let cap = capacity(&mut c);
    for policy in [
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
    ] {
        flushall(&mut c);
        config_set(&mut c, "maxmemory-policy", policy);
        let persistent = keys("p", 0..cap / 2);
        set_keys(&mut c, &persistent, None);
        // Deadlines in the order of the keys: the first ones are nearest.
        let volatile = keys("v", 0..cap / 2);
        for (i, chunk) in volatile.chunks(PIPELINE_KEYS).enumerate() {
            set_keys(&mut c, chunk, Some(1_000 + i as u64));
        }
        let before = evicted(&mut c);
        set_keys(&mut c, &keys("more", 0..cap / 4), None);
        assert!(evicted(&mut c) > before, "{policy}");
        assert_eq!(
            kept(&mut c, &persistent),
            1.0,
            "{policy}: keys without a deadline evicted"
        );
        if policy == "volatile-ttl" {
            let kept_first = kept(&mut c, &volatile[..PIPELINE_KEYS]);
            let kept_last = kept(&mut c, &volatile[volatile.len() - PIPELINE_KEYS..]);
            assert!(
                kept_first < kept_last / 2.0,
                "{policy}: {kept_first} of the nearest kept, {kept_last} of the farthest"
            );
        }
        // With no key left to evict, writes that grow memory fail.
        let replies = set_keys(&mut c, &keys("flood", 0..cap), None);
        assert_eq!(replies.last(), Some(&Err(OOM.to_string())), "{policy}");
    }
}

#[test]
fn allkeys_random_evicts_and_stays_near_capacity() {
    let server = Server::with_shards(2, &["--maxmemory", "2mb"]);
    let mut c = server.raw();
    let cap = capacity(&mut c);
    let before = evicted(&mut c);
    let written = keys("r", 0..cap * 3);
    let replies = set_keys(&mut c, &written, None);
    assert!(replies.iter().all(Result::is_ok));
    let held = dbsize(&mut c);
    assert!(held <= cap + cap / 10, "{held} keys held, capacity {cap}");
    assert!(
        existing(&mut c, &written[..cap]) > 0,
        "random eviction spares some old keys"
    );
    assert_eq!(evicted(&mut c) - before, (cap * 3 - held) as u64);
}

#[test]
fn evictions_are_notified_and_break_watch() {
    let server = Server::with_shards(1, &["--maxmemory", "2mb"]);
    let mut c = server.raw();
    let cap = capacity(&mut c);
    config_set(&mut c, "maxmemory-policy", "allkeys-lru");
    config_set(&mut c, "notify-keyspace-events", "Ee");
    let mut sub = server.raw();
    sub.cmd(&["SUBSCRIBE", "__keyevent@0__:evicted"]);
    let mut watcher = server.raw();
    assert_eq!(watcher.cmd(&["SET", "watched", "v"]), "OK");
    assert_eq!(watcher.cmd(&["WATCH", "watched"]), "OK");
    std::thread::sleep(Duration::from_millis(1_100));
    set_keys(&mut c, &keys("fill", 0..cap * 3), None);
    assert_eq!(
        c.cmd(&["EXISTS", "watched"]),
        "0",
        "the idle key was evicted"
    );
    assert_eq!(watcher.cmd(&["MULTI"]), "OK");
    assert_eq!(watcher.cmd(&["SET", "watched", "again"]), "QUEUED");
    assert_eq!(watcher.cmd(&["EXEC"]), "(nil)", "WATCH saw the eviction");
    let message = String::from_utf8_lossy(&sub.read_reply()).into_owned();
    assert!(
        message.contains("__keyevent@0__:evicted") && message.contains("fill:"),
        "{message}"
    );
}

/// Every key of a server, sorted.
fn all_keys(con: &mut Raw) -> Vec<String> {
    let reply = con.cmd(&["KEYS", "*"]);
    let inner = reply.trim_start_matches('[').trim_end_matches(']');
    let mut keys: Vec<String> = inner.split(", ").map(str::to_string).collect();
    keys.sort();
    keys
}

fn in_sync(master: &mut Raw, replica: &mut Raw) -> bool {
    let text = |con: &mut Raw| {
        con.send(&encode_str(&["INFO", "replication"]));
        String::from_utf8(con.read_reply()).expect("INFO is text")
    };
    let (m, r) = (text(master), text(replica));
    info_value(&r, "master_link_status").as_deref() == Some("up")
        && info_value(&r, "slave_repl_offset").is_some()
        && info_value(&r, "slave_repl_offset") == info_value(&m, "master_repl_offset")
}

#[test]
fn a_replica_does_not_evict_on_its_own_and_stays_identical() {
    let master = Server::with_shards(
        2,
        &["--maxmemory", "4mb", "--maxmemory-policy", "allkeys-lru"],
    );
    let to = format!("127.0.0.1 {}", master.port());
    let replica = Server::with_shards(
        2,
        &[
            "--replicaof",
            &to,
            "--replica-serve-reads",
            "yes",
            "--maxmemory",
            "1mb",
            "--maxmemory-policy",
            "allkeys-lru",
        ],
    );
    let (mut m, mut r) = (master.raw(), replica.raw());
    set_keys(&mut m, &keys("k", 0..100_000), None);
    assert!(evicted(&mut m) > 0, "the master evicts");
    let deadline = Instant::now() + SYNC_TIMEOUT;
    while !in_sync(&mut m, &mut r) {
        assert!(Instant::now() < deadline, "the replica did not catch up");
        std::thread::sleep(POLL_INTERVAL);
    }
    let on_master = all_keys(&mut m);
    assert!(on_master.len() < 100_000);
    assert!(
        all_keys(&mut r) == on_master,
        "the replica holds the master's keys"
    );
    assert_eq!(evicted(&mut r), 0, "the replica never evicts on its own");
}

/// Zipf(`exponent`) over `n` ranks: the cumulative weights, for inverse sampling.
fn zipf_cdf(n: usize, exponent: f64) -> Vec<f64> {
    let mut acc = 0.0;
    let mut cdf: Vec<f64> = (1..=n)
        .map(|rank| {
            acc += 1.0 / (rank as f64).powf(exponent);
            acc
        })
        .collect();
    cdf.iter_mut().for_each(|w| *w /= acc);
    cdf
}

/// A cache workload: `ops` zipfian `GET`s drawn by `rng`, each miss followed by a
/// `SET` (in pipelines, the misses of one pipeline set after it). Returns the hits.
fn cache_ops(con: &mut Raw, cdf: &[f64], ops: usize, rng: &mut StdRng) -> usize {
    let mut hits = 0;
    let mut done = 0;
    while done < ops {
        let batch: Vec<String> = (0..PIPELINE_KEYS.min(ops - done))
            .map(|_| {
                let u: f64 = rng.gen();
                key("z", cdf.partition_point(|&w| w < u))
            })
            .collect();
        let got = pipeline(con, batch.iter().map(|k| encode_str(&["GET", k])));
        let misses: Vec<String> = batch
            .iter()
            .zip(&got)
            .filter(|(_, v)| v.as_slice() == b"$-1\r\n")
            .map(|(k, _)| k.clone())
            .collect();
        hits += batch.len() - misses.len();
        set_keys(con, &misses, None);
        done += batch.len();
    }
    hits
}

/// Rounds of [`fit_keys`]'s scaling: memory per key is not quite linear in keys.
const FIT_ROUNDS: usize = 3;

/// Sets `maxmemory` so that `want` keys fit: the fill measured at each guess scales
/// it (above what the empty server uses: Redis's `used_memory` counts its own
/// overhead, corekv's estimate only the data). Returns the capacity reached.
fn fit_keys(con: &mut Raw, want: usize, base_bytes: u64) -> usize {
    let mut guess = base_bytes + want as u64 * 200;
    for _ in 0..FIT_ROUNDS {
        config_set(con, "maxmemory", &guess.to_string());
        let held = capacity(con) as u64;
        guess = base_bytes + (guess - base_bytes) * want as u64 / held;
    }
    config_set(con, "maxmemory", &guess.to_string());
    capacity(con)
}

/// The issue's comparison: a zipfian cache workload over a keyspace twice the cache,
/// on redis-server and corekv at the same settings (capacity in keys, policy,
/// samples), the same requests to each. LRU ages are in seconds on both, so under
/// `allkeys-lru` the workload runs in rounds a second apart, both servers in each
/// round: [`LRU_ROUNDS`], the first [`WARMUP_ROUNDS`] filling the cache and not
/// measured (about eight seconds); LFU counters need no time, so `allkeys-lfu` runs
/// the same requests at once.
const LRU_ROUNDS: usize = 8;
const WARMUP_ROUNDS: usize = 2;
const ROUND: Duration = Duration::from_millis(1_000);

#[test]
fn zipfian_hit_rate_is_within_five_points_of_redis() {
    const KEYS: usize = 10_000;
    const OPS_PER_ROUND: usize = 6_000;
    const EXPONENT: f64 = 0.8;
    const SEED: u64 = 7;
    let cdf = zipf_cdf(KEYS, EXPONENT);
    let redis = Redis::start();
    let mut r = redis_raw(&redis);
    let redis_base = info_number(&mut r, "memory", "used_memory");
    let server = Server::with_shards(2, &[]);
    let mut c = server.raw();
    let fits = [
        fit_keys(&mut r, KEYS / 2, redis_base),
        fit_keys(&mut c, KEYS / 2, 0),
    ];
    eprintln!("keys that fit: redis {}, corekv {}", fits[0], fits[1]);
    for policy in ["allkeys-lru", "allkeys-lfu"] {
        let mut cons = [&mut r, &mut c];
        let mut rngs = [StdRng::seed_from_u64(SEED), StdRng::seed_from_u64(SEED)];
        for con in cons.iter_mut() {
            flushall(con);
            config_set(con, "maxmemory-policy", policy);
        }
        let mut hits = [0; 2];
        for round in 0..LRU_ROUNDS {
            let started = Instant::now();
            for i in 0..2 {
                let n = cache_ops(cons[i], &cdf, OPS_PER_ROUND, &mut rngs[i]);
                if round >= WARMUP_ROUNDS {
                    hits[i] += n;
                }
            }
            if policy == "allkeys-lru" {
                std::thread::sleep(ROUND.saturating_sub(started.elapsed()));
            }
        }
        let measured = ((LRU_ROUNDS - WARMUP_ROUNDS) * OPS_PER_ROUND) as f64;
        let (theirs, ours) = (hits[0] as f64 / measured, hits[1] as f64 / measured);
        eprintln!("{policy}: hit rate redis {theirs:.3}, corekv {ours:.3}");
        assert!(
            (theirs - ours).abs() <= 0.05,
            "{policy}: hit rate {ours:.3} against Redis's {theirs:.3}"
        );
    }
}

/// Room above `maxmemory` and the empty server's RSS that RSS may take while
/// writers fill the server: table growth, allocator slack, connection buffers.
const RSS_MARGIN_BYTES: u64 = 24 << 20;

/// The issue's RSS bound, shortened from 30 s to 6 s of 8 writers (the whole suite
/// shares two cores): RSS stays within `maxmemory` plus the empty server's RSS plus
/// [`RSS_MARGIN_BYTES`] throughout.
#[test]
fn rss_stays_bounded_while_writers_fill_allkeys_lru() {
    const MAXMEMORY_BYTES: u64 = 32 << 20;
    const WRITERS: usize = 8;
    const FILL: Duration = Duration::from_secs(6);
    let max = MAXMEMORY_BYTES.to_string();
    let server = Server::with_shards(
        2,
        &[
            "--maxmemory",
            &max,
            "--maxmemory-policy",
            "allkeys-lru",
            "--appendonly",
            "no",
        ],
    );
    let empty = server.rss_kib() * 1024;
    let bound = empty + MAXMEMORY_BYTES + RSS_MARGIN_BYTES;
    let end = Instant::now() + FILL;
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let mut c = server.raw();
            std::thread::spawn(move || {
                let mut n = 0;
                while Instant::now() < end {
                    set_keys(&mut c, &keys(&format!("w{w}"), n..n + PIPELINE_KEYS), None);
                    n += PIPELINE_KEYS;
                }
                n
            })
        })
        .collect();
    let mut peak = 0;
    while Instant::now() < end {
        peak = peak.max(server.rss_kib() * 1024);
        std::thread::sleep(Duration::from_millis(100));
    }
    let written: usize = writers.into_iter().map(|w| w.join().expect("writer")).sum();
    peak = peak.max(server.rss_kib() * 1024);
    let mut c = server.raw();
    eprintln!(
        "wrote {written} keys, {} held, {} evicted; RSS empty {} MiB, peak {} MiB, bound {} MiB",
        dbsize(&mut c),
        evicted(&mut c),
        empty >> 20,
        peak >> 20,
        bound >> 20
    );
    assert!(evicted(&mut c) > 0, "the writers filled the server");
    assert!(peak <= bound, "RSS peaked at {peak} bytes, bound {bound}");
}
