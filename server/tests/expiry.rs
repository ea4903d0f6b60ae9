//! Time: active expiry removes keys nobody touches, lazy expiry hides a key the moment
//! its deadline passes, `TTL`/`PTTL` report the time left as Redis rounds it, and a
//! key renamed to another shard takes its value and deadline along.

mod common;

use std::time::{Duration, Instant};

use common::{each_shard_count, encode_str, info_value, shard_of, Raw, Server};

/// How long active expiry gets to remove keys that expired (Redis: about a second
/// for a small keyspace at `hz 10`).
const ACTIVE_EXPIRY_WITHIN: Duration = Duration::from_millis(1500);

fn int(reply: String) -> i64 {
    reply
        .parse()
        .unwrap_or_else(|_| panic!("integer reply expected, got {reply:?}"))
}

/// Sends `requests` in one write and checks every reply is `want`.
fn pipelined(con: &mut Raw, requests: &[Vec<u8>], want: &[u8]) {
    con.send(&requests.concat());
    for _ in requests {
        assert_eq!(
            String::from_utf8_lossy(&con.read_reply()),
            String::from_utf8_lossy(want)
        );
    }
}

#[test]
fn active_expiry_removes_keys_nobody_touches() {
    each_shard_count(&[], |server, shards| {
        let mut con = server.raw();
        assert_eq!(con.cmd(&["SET", "forever", "v"]), "OK");
        let sets: Vec<Vec<u8>> = (0..1000)
            .map(|i| encode_str(&["SET", &format!("short:{i}"), "v", "PX", "100"]))
            .collect();
        pipelined(&mut con, &sets, b"+OK\r\n");
        let set_at = Instant::now();
        assert_eq!(con.cmd(&["DBSIZE"]), "1001");
        let keyspace = con.cmd(&["INFO", "keyspace"]);
        assert_eq!(
            info_value(&keyspace, "db0").as_deref(),
            Some("keys=1001,expires=1000,avg_ttl=0")
        );
        // DBSIZE counts keys still in the table: it reaches 1 only when the active
        // cycle deleted every expired key, since nothing reads them.
        let deadline = set_at + Duration::from_millis(100) + ACTIVE_EXPIRY_WITHIN;
        loop {
            let size = con.cmd(&["DBSIZE"]);
            if size == "1" {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{shards} shard(s): {size} keys left {:?} after the deadline",
                set_at.elapsed()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let stats = con.cmd(&["INFO", "stats"]);
        assert_eq!(info_value(&stats, "expired_keys").as_deref(), Some("1000"));
        let keyspace = con.cmd(&["INFO", "keyspace"]);
        assert_eq!(
            info_value(&keyspace, "db0").as_deref(),
            Some("keys=1,expires=0,avg_ttl=0")
        );
        assert_eq!(con.cmd(&["GET", "forever"]), "v");
    });
}

#[test]
fn an_expired_key_is_gone_for_every_read_at_once() {
    each_shard_count(&[], |server, shards| {
        let mut con = server.raw();
        let n = 2000;
        let sets: Vec<Vec<u8>> = (0..n)
            .map(|i| encode_str(&["SET", &format!("lazy:{i}"), "v", "PX", "300"]))
            .collect();
        pipelined(&mut con, &sets, b"+OK\r\n");
        assert_eq!(con.cmd(&["GET", "lazy:0"]), "v");
        std::thread::sleep(Duration::from_millis(350));
        // Right after the deadline, before active expiry can have removed most of
        // them, every read already misses.
        let gets: Vec<Vec<u8>> = (0..n)
            .map(|i| encode_str(&["GET", &format!("lazy:{i}")]))
            .collect();
        pipelined(&mut con, &gets, b"$-1\r\n");
        assert_eq!(con.cmd(&["EXISTS", "lazy:1", "lazy:2", "lazy:3"]), "0");
        assert_eq!(con.cmd(&["TTL", "lazy:1"]), "-2");
        assert_eq!(con.cmd(&["PTTL", "lazy:2"]), "-2");
        assert_eq!(con.cmd(&["TYPE", "lazy:4"]), "none");
        assert_eq!(con.cmd(&["MGET", "lazy:5", "lazy:6"]), "[(nil), (nil)]");
        assert_eq!(con.cmd(&["SET", "lazy:7", "new", "NX"]), "OK", "{shards}");
        assert!(con.cmd(&["DBSIZE"]).parse::<usize>().expect("DBSIZE") <= n);
        let stats = con.cmd(&["INFO", "stats"]);
        assert_eq!(
            info_value(&stats, "expired_keys"),
            Some(n.to_string()),
            "lazy and active expiry together count each key once"
        );
    });
}

#[test]
fn ttl_and_pttl_report_the_time_left() {
    each_shard_count(&[], |server, _| {
        let mut con = server.raw();
        assert_eq!(con.cmd(&["SET", "k", "v", "EX", "100"]), "OK");
        assert_eq!(con.cmd(&["TTL", "k"]), "100");
        let pttl = int(con.cmd(&["PTTL", "k"]));
        assert!((99_000..=100_000).contains(&pttl), "PTTL {pttl}");
        assert_eq!(con.cmd(&["EXPIRE", "k", "50"]), "1");
        assert_eq!(con.cmd(&["TTL", "k"]), "50");
        // Seconds are rounded to the nearest: 1800 ms left is 2, 1300 is 1, 400 is 0.
        for (ms, secs) in [("1800", "2"), ("1300", "1"), ("400", "0")] {
            assert_eq!(con.cmd(&["PEXPIRE", "k", ms]), "1");
            assert_eq!(con.cmd(&["TTL", "k"]), secs, "{ms} ms left");
        }
        assert_eq!(con.cmd(&["PEXPIRE", "k", "1800"]), "1");
        std::thread::sleep(Duration::from_millis(700));
        let pttl = int(con.cmd(&["PTTL", "k"]));
        assert!((700..=1100).contains(&pttl), "PTTL after 700 ms: {pttl}");
        assert_eq!(con.cmd(&["TTL", "k"]), "1");
        assert_eq!(con.cmd(&["PERSIST", "k"]), "1");
        assert_eq!(con.cmd(&["TTL", "k"]), "-1");
        assert_eq!(con.cmd(&["PTTL", "k"]), "-1");
        assert_eq!(con.cmd(&["TTL", "missing"]), "-2");
        assert_eq!(con.cmd(&["PTTL", "missing"]), "-2");
        assert_eq!(
            con.cmd(&["EXPIRE", "k", "0"]),
            "1",
            "a past deadline deletes"
        );
        assert_eq!(con.cmd(&["EXISTS", "k"]), "0");
    });
}

#[test]
fn rename_across_shards_moves_value_and_deadline() {
    let server = Server::with_shards(4, &[]);
    let (src, dst) = ("a", "b");
    assert_ne!(shard_of(src, 4), shard_of(dst, 4));
    let mut con = server.raw();
    assert_eq!(con.cmd(&["SET", src, "value", "PX", "60000"]), "OK");
    assert_eq!(con.cmd(&["SET", dst, "old"]), "OK");
    assert_eq!(con.cmd(&["RENAME", src, dst]), "OK");
    assert_eq!(con.cmd(&["GET", dst]), "value");
    let pttl = int(con.cmd(&["PTTL", dst]));
    assert!((59_000..=60_000).contains(&pttl), "deadline moved: {pttl}");
    assert_eq!(con.cmd(&["EXISTS", src]), "0", "source gone");
    assert_eq!(con.cmd(&["DBSIZE"]), "1");

    // A source without a deadline clears the destination's.
    assert_eq!(con.cmd(&["SET", src, "plain"]), "OK");
    assert_eq!(con.cmd(&["RENAME", src, dst]), "OK");
    assert_eq!(con.cmd(&["TTL", dst]), "-1");
    assert_eq!(con.cmd(&["GET", dst]), "plain");

    // RENAMENX across shards keeps the deadline too, and refuses an existing target.
    assert_eq!(con.cmd(&["PEXPIRE", dst, "30000"]), "1");
    assert_eq!(con.cmd(&["RENAMENX", dst, src]), "1");
    let pttl = int(con.cmd(&["PTTL", src]));
    assert!((29_000..=30_000).contains(&pttl), "{pttl}");
    assert_eq!(con.cmd(&["SET", dst, "x"]), "OK");
    assert_eq!(con.cmd(&["RENAMENX", src, dst]), "0");
    assert_eq!(con.cmd(&["GET", dst]), "x");

    // An expired source is no key at all.
    assert_eq!(con.cmd(&["SET", "c", "v", "PX", "50"]), "OK");
    assert_ne!(shard_of("c", 4), shard_of("d", 4));
    std::thread::sleep(Duration::from_millis(80));
    assert_eq!(con.cmd(&["RENAME", "c", "d"]), "-ERR no such key");
    assert_eq!(con.cmd(&["EXISTS", "d"]), "0");
}
