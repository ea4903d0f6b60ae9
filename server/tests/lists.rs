//! Lists against the real binary, on one shard and on four:
//! - every list command answers what `redis-server` 7.0.15 answers to the same script,
//!   byte for byte in RESP2 and RESP3: errors, `WRONGTYPE`, empty-key deletion,
//!   `TYPE`/`OBJECT ENCODING`, `COPY`/`RENAME`/`MOVE` of lists, and the moves between
//!   keys that live on different shards (the comparison needs `redis-server`
//!   installed: `apt-get install redis-server`);
//! - `list-max-listpack-size` (and its `ziplist` alias) and `list-compress-depth`
//!   parse and answer `CONFIG GET` as on Redis, from flags too;
//! - `SIGKILL` under `appendfsync always` loses no acknowledged push, pop or move.

mod common;

use common::{
    distinct_shards, restart_in, shard_of, start_in, DataDir, Raw, Redis, Server, EXIT_TIMEOUT,
};
use common::{PROTOCOLS, SHARD_COUNTS};
use std::time::Duration;

/// Runs `script` on corekv (fresh, on each shard count) and on a fresh Redis, in each
/// protocol, and compares every reply byte for byte.
fn same_as_redis(script: &[&[&str]]) {
    for protocol in PROTOCOLS {
        let redis = Redis::start();
        let want = run(redis.port, protocol, script);
        for shards in SHARD_COUNTS {
            let corekv = Server::with_shards(shards, &[]);
            let got = run(corekv.port(), protocol, script);
            for ((args, want), got) in script.iter().zip(&want).zip(&got) {
                assert_eq!(got, want, "{args:?} (RESP{protocol}, {shards} shards)");
            }
        }
    }
}

fn run(port: u16, protocol: u8, script: &[&[&str]]) -> Vec<String> {
    let mut c = match protocol {
        3 => Raw::connect_resp3(port),
        _ => Raw::connect(port),
    };
    c.cmd(&["FLUSHALL"]);
    script
        .iter()
        .map(|args| {
            let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
            String::from_utf8_lossy(&c.cmd_raw(&args)).into_owned()
        })
        .collect()
}

#[test]
fn push_pop_index_and_range_answer_as_redis() {
    same_as_redis(&[
        &["RPUSH", "l", "a", "b", "c", "1", "2", "300000000000"],
        &["LPUSH", "l", "x", "y"],
        &["LPUSHX", "nokey", "a"],
        &["RPUSHX", "l", "z"],
        &["LLEN", "l"],
        &["LLEN", "nokey"],
        &["LRANGE", "l", "0", "-1"],
        &["LRANGE", "l", "-3", "2"],
        &["LRANGE", "l", "-100", "100"],
        &["LRANGE", "l", "5", "1"],
        &["LRANGE", "l", "x", "1"],
        &["LRANGE", "nokey", "0", "-1"],
        &["LINDEX", "l", "0"],
        &["LINDEX", "l", "-1"],
        &["LINDEX", "l", "100"],
        &["LINDEX", "l", "x"],
        &["LINDEX", "nokey", "x"],
        &["LPOP", "l"],
        &["RPOP", "l"],
        &["LPOP", "l", "2"],
        &["RPOP", "l", "0"],
        &["LPOP", "l", "-1"],
        &["LPOP", "l", "x"],
        &["LPOP", "nokey"],
        &["LPOP", "nokey", "3"],
        &["LPOP", "l", "1", "2"],
        &["RPOP", "l", "100"],
        &["EXISTS", "l"],
        &["LPUSH", "l"],
        &["TYPE", "l"],
    ]);
}

#[test]
fn set_insert_position_remove_and_trim_answer_as_redis() {
    same_as_redis(&[
        &["RPUSH", "l", "a", "b", "a", "c", "a", "d"],
        &["LSET", "l", "1", "B"],
        &["LSET", "l", "-1", "D"],
        &["LSET", "l", "10", "x"],
        &["LSET", "l", "x", "x"],
        &["LSET", "nokey", "0", "x"],
        &["LINSERT", "l", "BEFORE", "c", "new"],
        &["LINSERT", "l", "after", "D", "end"],
        &["LINSERT", "l", "after", "zz", "x"],
        &["LINSERT", "nokey", "after", "a", "x"],
        &["LINSERT", "l", "middle", "a", "x"],
        &["LPOS", "l", "a"],
        &["LPOS", "l", "a", "RANK", "2"],
        &["LPOS", "l", "a", "RANK", "-1"],
        &["LPOS", "l", "a", "RANK", "-9223372036854775808"],
        &["LPOS", "l", "a", "COUNT", "0"],
        &["LPOS", "l", "a", "COUNT", "2", "RANK", "-1"],
        &["LPOS", "l", "a", "COUNT", "0", "MAXLEN", "3"],
        &["LPOS", "l", "a", "RANK", "0"],
        &["LPOS", "l", "a", "COUNT", "-1"],
        &["LPOS", "l", "a", "MAXLEN", "-1"],
        &["LPOS", "l", "a", "COUNT"],
        &["LPOS", "l", "a", "FOO", "1"],
        &["LPOS", "l", "zz"],
        &["LPOS", "nokey", "a"],
        &["LPOS", "nokey", "a", "COUNT", "1"],
        &["LREM", "l", "1", "a"],
        &["LREM", "l", "-1", "a"],
        &["LREM", "l", "0", "zz"],
        &["LREM", "l", "x", "a"],
        &["LRANGE", "l", "0", "-1"],
        &["LTRIM", "l", "1", "-2"],
        &["LRANGE", "l", "0", "-1"],
        &["LTRIM", "l", "x", "1"],
        &["LTRIM", "nokey", "0", "1"],
        &["LTRIM", "l", "5", "1"],
        &["EXISTS", "l"],
    ]);
}

#[test]
fn moves_and_wrong_types_answer_as_redis() {
    same_as_redis(&[
        &["RPUSH", "src", "1", "2", "3", "4", "5"],
        &["SET", "str", "v"],
        &["RPOPLPUSH", "src", "far"],
        &["LMOVE", "src", "far", "LEFT", "RIGHT"],
        &["LMOVE", "src", "src", "LEFT", "RIGHT"],
        &["LMOVE", "src", "far", "UP", "RIGHT"],
        &["LMOVE", "nokey", "str", "LEFT", "RIGHT"],
        &["LMOVE", "str", "far", "LEFT", "RIGHT"],
        &["LMOVE", "src", "str", "LEFT", "RIGHT"],
        &["RPOPLPUSH", "src", "str"],
        &["LRANGE", "src", "0", "-1"],
        &["LRANGE", "far", "0", "-1"],
        &["LMPOP", "2", "nokey", "far", "RIGHT", "COUNT", "10"],
        &["LMPOP", "3", "nokey", "str", "src", "LEFT"],
        &["LMPOP", "2", "nokey", "src", "LEFT"],
        &["LMPOP", "1", "nokey", "LEFT"],
        &["LMPOP", "0", "src", "LEFT"],
        &["LMPOP", "5", "src", "LEFT"],
        &["LMPOP", "1", "src", "LEFT", "COUNT", "0"],
        &["LMPOP", "1", "src", "LEFT", "COUNT", "1", "COUNT", "1"],
        &["LMPOP", "1", "src"],
        &["RPUSH", "one", "x"],
        &["LMOVE", "one", "one", "LEFT", "LEFT"],
        &["RPOPLPUSH", "one", "other"],
        &["EXISTS", "one", "other"],
        &["LPUSH", "str", "a"],
        &["LRANGE", "str", "0", "1"],
        &["LPOS", "str", "a"],
        &["GET", "other"],
        &["OBJECT", "ENCODING", "other"],
        &["COPY", "other", "copy"],
        &["RENAME", "copy", "renamed"],
        &["LRANGE", "renamed", "0", "-1"],
        &["MOVE", "renamed", "1"],
        &["EXISTS", "renamed"],
        &["SELECT", "1"],
        &["LRANGE", "renamed", "0", "-1"],
    ]);
}

#[test]
fn the_move_keys_of_the_scripts_span_shards() {
    assert_ne!(shard_of("src", 4), shard_of("far", 4));
    assert_ne!(shard_of("one", 4), shard_of("other", 4));
    assert!(distinct_shards(&["src", "far", "str", "nokey"], 4) >= 3);
}

#[test]
fn list_parameters_parse_as_on_redis() {
    same_as_redis(&[
        &["CONFIG", "GET", "list-max-listpack-size"],
        &["CONFIG", "GET", "list-compress-depth"],
        &["CONFIG", "SET", "list-max-ziplist-size", "5"],
        &["CONFIG", "GET", "list-max-listpack-size"],
        &["CONFIG", "SET", "list-max-listpack-size", "-6"],
        &["CONFIG", "SET", "list-max-listpack-size", "abc"],
        &["CONFIG", "SET", "list-compress-depth", "-1"],
        &["CONFIG", "SET", "list-compress-depth", "2"],
        &["RPUSH", "l", "1", "2", "3", "4", "5", "6", "7", "8"],
        &["OBJECT", "ENCODING", "l"],
        &["LINSERT", "l", "BEFORE", "4", "x"],
        &["LRANGE", "l", "0", "-1"],
        &["CONFIG", "GET", "list-max-ziplist-size"],
        &["CONFIG", "GET", "list-compress-depth"],
    ]);
    let server = Server::start(&["--list-max-ziplist-size", "7", "--list-compress-depth", "1"]);
    let mut c = server.raw();
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "list-*"]),
        "[list-compress-depth, 1, list-max-listpack-size, 7, list-max-ziplist-size, 7]"
    );
}

/// Kills the server with `SIGKILL` and reaps it.
fn kill(server: &mut Server) {
    server.signal(libc::SIGKILL);
    let status = server.wait_exit(EXIT_TIMEOUT).expect("exits on SIGKILL");
    assert_eq!(status.code(), None, "killed by a signal: {status}");
}

/// Writer threads of the kill test, and how long they run before the kill.
const KILL_WRITERS: usize = 3;
const KILL_AFTER: Duration = Duration::from_millis(700);

/// One acknowledged step of writer `w`: `RPUSH in:w i`, then every other step
/// `LMOVE in:w out:w LEFT RIGHT` (the oldest element moves, possibly across shards).
fn kill_step(con: &mut redis::Connection, w: usize, i: u64) -> redis::RedisResult<()> {
    redis::cmd("RPUSH")
        .arg(format!("in:{w}"))
        .arg(i)
        .query::<i64>(con)?;
    if i % 2 == 1 {
        redis::cmd("LMOVE")
            .arg(format!("in:{w}"))
            .arg(format!("out:{w}"))
            .arg("LEFT")
            .arg("RIGHT")
            .query::<String>(con)?;
    }
    Ok(())
}

/// With `appendfsync always`, pushes and moves are on disk before their reply: after
/// `SIGKILL`, `out` holds the first half of every acknowledged push, `in` the rest
/// (the last push may have landed unacknowledged).
#[test]
fn sigkill_with_appendfsync_always_loses_no_acknowledged_list_write() {
    let dir = DataDir::new("lists-kill");
    let args = ["--shards", "4", "--appendfsync", "always"];
    let mut server = start_in(&dir, &args);
    let port = server.port();
    let writers: Vec<_> = (0..KILL_WRITERS)
        .map(|w| {
            let mut con = server.client();
            std::thread::spawn(move || {
                let mut acked = 0u64;
                while kill_step(&mut con, w, acked).is_ok() {
                    acked += 1;
                }
                acked
            })
        })
        .collect();
    std::thread::sleep(KILL_AFTER);
    kill(&mut server);
    let acked: Vec<u64> = writers.into_iter().map(|t| t.join().unwrap()).collect();
    let server = restart_in(port, &dir, &args);
    let mut con = server.client();
    for (w, &n) in acked.iter().enumerate() {
        assert!(n > 0, "writer {w} wrote nothing");
        let out: Vec<u64> = redis::cmd("LRANGE")
            .arg(format!("out:{w}"))
            .arg(0)
            .arg(-1)
            .query(&mut con)
            .unwrap();
        let moved = (n / 2) as usize;
        assert!(
            out.len() >= moved,
            "writer {w}: {} moves of {moved}",
            out.len()
        );
        assert!(out.iter().enumerate().all(|(i, &v)| v == i as u64));
        let rest: Vec<u64> = redis::cmd("LRANGE")
            .arg(format!("in:{w}"))
            .arg(0)
            .arg(-1)
            .query(&mut con)
            .unwrap();
        let all: Vec<u64> = out.iter().chain(&rest).copied().collect();
        assert!(
            all.len() as u64 >= n,
            "writer {w}: {} of {n} pushes",
            all.len()
        );
        assert!(
            all.iter().enumerate().all(|(i, &v)| v == i as u64),
            "writer {w}"
        );
    }
}
