//! What operators run against the server, black-box: `SLOWLOG` (entries, their
//! truncation and redaction, thresholds, the length limit, durations measured on
//! the shard), with replies compared against a live `redis-server` 7.0 where they
//! do not depend on time.

mod common;

use common::{encode_str, Raw, Redis, Server, SHARD_COUNTS};

/// One `SLOWLOG GET` entry: id, Unix time, µs, arguments, client address, name.
type Entry = (i64, i64, i64, Vec<String>, String, String);

fn slowlog(con: &mut redis::Connection, count: i64) -> Vec<Entry> {
    redis::cmd("SLOWLOG")
        .arg("GET")
        .arg(count)
        .query(con)
        .expect("SLOWLOG GET")
}

fn config_set(con: &mut redis::Connection, name: &str, value: &str) {
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg(name)
        .arg(value)
        .query(con)
        .expect("CONFIG SET");
}

/// Sends `args` and returns the exact reply bytes as text.
fn exact(c: &mut Raw, args: &[&str]) -> String {
    c.send(&encode_str(args));
    String::from_utf8_lossy(&c.read_reply()).into_owned()
}

/// The replies of `SLOWLOG`'s texts and errors that do not depend on time.
fn slowlog_texts(port: u16) -> Vec<String> {
    let mut c = Raw::connect(port);
    [
        &["SLOWLOG", "HELP"][..],
        &["SLOWLOG", "RESET"],
        &["SLOWLOG", "LEN"],
        &["SLOWLOG", "GET"],
        &["SLOWLOG", "GET", "-2"],
        &["SLOWLOG", "GET", "x"],
        &["SLOWLOG", "GET", "1", "2"],
        &["SLOWLOG", "LEN", "x"],
        &["SLOWLOG", "NOPE"],
        &["SLOWLOG"],
        &["CONFIG", "SET", "slowlog-log-slower-than", "-2"],
        &["CONFIG", "SET", "slowlog-max-len", "-1"],
        &["CONFIG", "GET", "slowlog-log-slower-than"],
        &["CONFIG", "GET", "slowlog-max-len"],
    ]
    .iter()
    .map(|args| exact(&mut c, args))
    .collect()
}

#[test]
fn slowlog_texts_and_errors_match_redis() {
    let redis = Redis::start();
    let expected = slowlog_texts(redis.port);
    // The default threshold keeps these fast commands out of both logs.
    assert!(expected[3].starts_with("*0"), "{}", expected[3]);
    let server = Server::start(&[]);
    assert_eq!(slowlog_texts(server.port()), expected);
}

/// Logs every command from a named client on one and four shards: the commands of
/// other shards are logged on theirs and still carry the client's address and name.
#[test]
fn slowlog_logs_commands_with_their_client() {
    for shards in SHARD_COUNTS {
        let server = Server::with_shards(shards, &["--slowlog-log-slower-than", "0"]);
        let mut con = server.client();
        let _: () = redis::cmd("CLIENT")
            .arg("SETNAME")
            .arg("ops")
            .query(&mut con)
            .unwrap();
        let _: () = redis::cmd("SLOWLOG").arg("RESET").query(&mut con).unwrap();
        let keys: Vec<String> = (0..8).map(|i| format!("key:{i}")).collect();
        for k in &keys {
            let _: () = redis::cmd("SET").arg(k).arg("v").query(&mut con).unwrap();
        }
        let entries = slowlog(&mut con, -1);
        // Newest first: SET ×8 after RESET (which logs itself).
        assert_eq!(entries.len(), 9, "{shards} shards: {entries:?}");
        let addr: String = redis::cmd("CLIENT")
            .arg("INFO")
            .query::<String>(&mut con)
            .unwrap()
            .split(' ')
            .find_map(|f| f.strip_prefix("addr=").map(str::to_string))
            .unwrap();
        for (i, k) in keys.iter().rev().enumerate() {
            let (id, unix_s, _us, args, a, name) = &entries[i];
            assert_eq!(args, &["SET", k.as_str(), "v"], "{shards} shards");
            assert_eq!((a, name.as_str()), (&addr, "ops"), "{shards} shards");
            assert_eq!(*id, entries[0].0 - i as i64);
            assert!((*unix_s - entries[8].1).abs() <= 1);
        }
        assert_eq!(entries[8].3, ["SLOWLOG", "RESET"]);
        let len: i64 = redis::cmd("SLOWLOG").arg("LEN").query(&mut con).unwrap();
        // And SLOWLOG GET, CLIENT INFO.
        assert_eq!(len, 11);
        assert_eq!(slowlog(&mut con, 2).len(), 2);
    }
}

/// Arguments are cut and redacted as Redis cuts them (compared with its entries).
#[test]
fn slowlog_cuts_and_redacts_arguments_like_redis() {
    let redis = Redis::start();
    let server = Server::with_shards(4, &[]);
    let long = "x".repeat(200);
    let many: Vec<String> = (0..40).map(|i| format!("k{i}")).collect();
    let logged = |port: u16| -> Vec<Vec<String>> {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
        let mut con = client.get_connection().unwrap();
        config_set(&mut con, "slowlog-log-slower-than", "0");
        let _: () = redis::cmd("SLOWLOG").arg("RESET").query(&mut con).unwrap();
        let _: () = redis::cmd("SET")
            .arg("k")
            .arg(&long)
            .query(&mut con)
            .unwrap();
        let _: i64 = redis::cmd("DEL").arg(&many).query(&mut con).unwrap();
        let _: redis::RedisResult<()> = redis::cmd("AUTH").arg("user").arg("pw").query(&mut con);
        let _: redis::RedisResult<redis::Value> = redis::cmd("HELLO")
            .arg("2")
            .arg("AUTH")
            .arg("default")
            .arg("pw")
            .query(&mut con);
        slowlog(&mut con, -1).into_iter().map(|e| e.3).collect()
    };
    let expected = logged(redis.port);
    assert_eq!(expected[2].len(), 32, "{:?}", expected[2]);
    assert_eq!(logged(server.port()), expected);
}

/// The threshold and the length limit: `-1` logs nothing, a slow command is logged
/// with its duration and fast ones are not, and the log keeps `slowlog-max-len`.
#[test]
fn slowlog_threshold_and_length() {
    let server = Server::with_shards(2, &["--enable-debug-command", "yes"]);
    let mut con = server.client();
    config_set(&mut con, "slowlog-log-slower-than", "-1");
    let _: () = redis::cmd("DEBUG")
        .arg("SLEEP")
        .arg("0.05")
        .query(&mut con)
        .unwrap();
    assert!(slowlog(&mut con, -1).is_empty());
    config_set(&mut con, "slowlog-log-slower-than", "40000");
    let _: () = redis::cmd("DEBUG")
        .arg("SLEEP")
        .arg("0.05")
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("SET").arg("a").arg("1").query(&mut con).unwrap();
    let entries = slowlog(&mut con, -1);
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].3, ["DEBUG", "SLEEP", "0.05"]);
    assert!(entries[0].2 >= 50_000, "{entries:?}");
    config_set(&mut con, "slowlog-log-slower-than", "0");
    config_set(&mut con, "slowlog-max-len", "3");
    for i in 0..10 {
        let _: () = redis::cmd("SET").arg(i).arg(i).query(&mut con).unwrap();
    }
    let entries = slowlog(&mut con, -1);
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[0].3, ["SET", "9", "9"]);
    config_set(&mut con, "slowlog-max-len", "1");
    let len: i64 = redis::cmd("SLOWLOG").arg("LEN").query(&mut con).unwrap();
    assert_eq!(len, 1);
}
