//! What concurrent clients may observe: a multi-key command over several shards is
//! atomic (no reader sees half of an `MSET`), and `SCAN` returns every key that
//! existed for the whole scan while other clients insert.

mod common;

use std::collections::HashSet;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{distinct_shards, each_shard_count, encode_str, info_value, Raw, Server};

/// How long the atomicity check runs, and its cap on iterations per client.
const ATOMICITY_RUN: Duration = Duration::from_secs(2);
const ATOMICITY_ITERATIONS_MAX: u64 = 20_000;

/// Keys on all four shards (checked below), read and written together.
const KEYS: [&str; 8] = ["a", "b", "c", "d", "e", "f", "g", "h"];

/// Writer and reader connections each: enough for several on one core, whose
/// multi-shard commands then share transactions (`INFO` counts them).
const ATOMICITY_CLIENTS: u64 = 6;

/// Writers `MSET` every key to one value (writer `w` uses values `≡ w mod` the
/// writer count); readers `MGET` them all and must always see one value, never a mix
/// of two `MSET`s, also when commands of several connections share a transaction.
#[test]
fn no_reader_sees_half_of_an_mset() {
    assert_eq!(distinct_shards(&KEYS, 4), 4);
    each_shard_count(&[], |server, shards| {
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let writers: Vec<_> = (0..ATOMICITY_CLIENTS)
            .map(|w| {
                let mut con = server.raw();
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut n = 0;
                    while !stop.load(Ordering::Relaxed) && n < ATOMICITY_ITERATIONS_MAX {
                        let value = (n * ATOMICITY_CLIENTS + w).to_string();
                        let mut args = vec!["MSET"];
                        for k in KEYS {
                            args.push(k);
                            args.push(&value);
                        }
                        assert_eq!(con.cmd(&args), "OK");
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        let readers: Vec<_> = (0..ATOMICITY_CLIENTS)
            .map(|_| {
                let mut con = server.raw();
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut args = vec!["MGET"];
                    args.extend_from_slice(&KEYS);
                    let mut seen = HashSet::new();
                    let mut n = 0;
                    while !stop.load(Ordering::Relaxed) && n < ATOMICITY_ITERATIONS_MAX {
                        let reply = con.cmd(&args);
                        let values: Vec<&str> = reply
                            .trim_start_matches('[')
                            .trim_end_matches(']')
                            .split(", ")
                            .collect();
                        assert_eq!(values.len(), KEYS.len(), "{reply}");
                        assert!(
                            values.iter().all(|v| *v == values[0]),
                            "a mix of two MSETs after {n} reads: {reply}"
                        );
                        seen.insert(values[0].to_string());
                        n += 1;
                    }
                    seen.len()
                })
            })
            .collect();
        while started.elapsed() < ATOMICITY_RUN && !writers.iter().all(|w| w.is_finished()) {
            std::thread::sleep(Duration::from_millis(20));
        }
        stop.store(true, Ordering::Relaxed);
        let writes: u64 = writers.into_iter().map(|w| w.join().expect("writer")).sum();
        for r in readers {
            let distinct = r.join().expect("reader");
            assert!(
                distinct > 1,
                "a reader saw the values change ({shards} shards)"
            );
        }
        assert!(writes > 100, "writers made progress: {writes}");
        let info = server.raw().cmd(&["INFO", "stats"]);
        let grouped: u64 = info_value(&info, "cross_shard_grouped_commands")
            .and_then(|v| v.parse().ok())
            .expect("INFO stats has cross_shard_grouped_commands");
        assert!(
            shards == 1 || grouped > 0,
            "no MSET or MGET shared a transaction ({shards} shards)"
        );
    });
}

/// Other multi-key commands are atomic too: `DEL` of every key and `MSETNX` re-creating
/// them race with `EXISTS`, which must count all keys or none.
#[test]
fn exists_sees_all_or_none_of_a_del_and_msetnx() {
    let server = Server::with_shards(4, &[]);
    let stop = Arc::new(AtomicBool::new(false));
    let mut writer = server.raw();
    let stop_w = stop.clone();
    let writer = std::thread::spawn(move || {
        let mut msetnx = vec!["MSETNX"];
        for k in KEYS {
            msetnx.push(k);
            msetnx.push("1");
        }
        let mut del = vec!["DEL"];
        del.extend_from_slice(&KEYS);
        let mut n = 0;
        while !stop_w.load(Ordering::Relaxed) && n < ATOMICITY_ITERATIONS_MAX {
            assert_eq!(writer.cmd(&msetnx), "1");
            assert_eq!(writer.cmd(&del), KEYS.len().to_string());
            n += 1;
        }
    });
    let mut reader = server.raw();
    let mut exists = vec!["EXISTS"];
    exists.extend_from_slice(&KEYS);
    let all = KEYS.len().to_string();
    let started = Instant::now();
    let mut counts = HashSet::new();
    let mut n = 0;
    while started.elapsed() < ATOMICITY_RUN && n < ATOMICITY_ITERATIONS_MAX {
        let count = reader.cmd(&exists);
        assert!(
            count == "0" || count == all,
            "EXISTS saw {count} of {all} keys"
        );
        counts.insert(count);
        n += 1;
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().expect("writer");
    assert_eq!(counts.len(), 2, "both states were observed");
}

const STABLE_KEYS: usize = 20_000;
const NEW_KEYS: usize = 100_000;
/// `SET`s per write while inserting.
const INSERT_BATCH: usize = 1000;

fn insert_pipelined(con: &mut Raw, prefix: &str, n: usize) {
    let mut start = 0;
    while start < n {
        let end = (start + INSERT_BATCH).min(n);
        let mut batch = Vec::new();
        for i in start..end {
            batch.extend(encode_str(&["SET", &format!("{prefix}{i}"), "v"]));
        }
        con.stream.write_all(&batch).expect("write");
        for _ in start..end {
            assert_eq!(con.read_reply(), b"+OK\r\n");
        }
        start = end;
    }
}

/// `SCAN ... COUNT 100` while another connection inserts 100,000 keys: every one of the
/// 20,000 keys that existed throughout is returned.
#[test]
fn scan_returns_every_key_that_existed_throughout_while_keys_are_inserted() {
    each_shard_count(&[], |server, shards| {
        let mut setup = server.raw();
        insert_pipelined(&mut setup, "stable:", STABLE_KEYS);
        let mut inserter = server.raw();
        let inserting =
            std::thread::spawn(move || insert_pipelined(&mut inserter, "new:", NEW_KEYS));
        let mut con = server.raw();
        let mut scans = 0;
        loop {
            let inserter_done = inserting.is_finished();
            let mut seen = HashSet::new();
            let mut cursor = "0".to_string();
            let mut calls = 0;
            loop {
                let reply = con.cmd(&["SCAN", &cursor, "COUNT", "100"]);
                let (next, keys) = reply
                    .strip_prefix('[')
                    .and_then(|r| r.split_once(", ["))
                    .unwrap_or_else(|| panic!("SCAN reply {reply}"));
                for k in keys.trim_end_matches("]]").split(", ") {
                    if k.starts_with("stable:") {
                        seen.insert(k.to_string());
                    }
                }
                calls += 1;
                assert!(calls < 1_000_000, "SCAN does not finish");
                if next == "0" {
                    break;
                }
                cursor = next.to_string();
            }
            scans += 1;
            let missing: Vec<String> = (0..STABLE_KEYS)
                .map(|i| format!("stable:{i}"))
                .filter(|k| !seen.contains(k))
                .take(5)
                .collect();
            assert!(
                missing.is_empty(),
                "scan {scans} with {shards} shard(s) missed stable keys, e.g. {missing:?}"
            );
            if inserter_done {
                break;
            }
        }
        inserting.join().expect("inserter");
        assert!(scans >= 2, "at least one scan ran while inserting");
        assert_eq!(con.cmd(&["DBSIZE"]), (STABLE_KEYS + NEW_KEYS).to_string());
    });
}
