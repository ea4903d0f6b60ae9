//! HyperLogLog against the real binary, on one shard and on four:
//! - the fixtures recorded from `redis-server` 7.0.15 (`fixtures/hll/`, see its
//!   README) hold both ways: the same setup writes the same bytes here (sparse,
//!   dense, promoted by `hll-sparse-max-bytes`, merged, corrupted), and Redis's
//!   bytes loaded with `SET` count the same and take more elements into the same
//!   bytes;
//! - every HLL command answers what `redis-server` answers to the same script, in
//!   RESP2 and RESP3, with keys that the four-shard server spreads over shards;
//! - keyspace notifications name the events Redis names (`pfadd` for `PFADD` and
//!   `PFMERGE`, `setbit` for `BITFIELD`, none for `PFCOUNT`'s cache);
//! - a restart after `SIGKILL` under `appendfsync always` gives back every HLL
//!   byte for byte (the journal's ranges and whole values).

mod common;

use std::path::PathBuf;

use common::compare::{commands, same_as_redis, script, Command};
use common::{distinct_shards, restart_in, start_in, DataDir, Raw, Redis, Server, EXIT_TIMEOUT};

/// One recorded scenario: its setup and Redis's replies and bytes.
struct Fixture {
    name: String,
    setup: Vec<Command>,
    bytes: Vec<u8>,
    count_reply: String,
    add_reply: String,
    after: Vec<u8>,
}

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hll")
}

fn fixtures() -> Vec<Fixture> {
    let dir = fixture_dir();
    let read = |f: &str| std::fs::read(dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
    let replies = String::from_utf8(read("replies.txt")).unwrap();
    let scenarios = String::from_utf8(read("scenarios.txt")).unwrap();
    let setups: Vec<(&str, &str)> = scenarios
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split_once('|').expect("NAME | setup"))
        .map(|(n, s)| (n.trim(), s.trim()))
        .collect();
    let fixtures: Vec<Fixture> = replies
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split('|').collect();
            let (name, count_reply, add_reply) = (fields[0], fields[1], fields[2]);
            let setup = setups.iter().find(|(n, _)| *n == name).expect("scenario").1;
            Fixture {
                name: name.to_string(),
                setup: commands(setup),
                bytes: read(&format!("{name}.hll")),
                count_reply: count_reply.to_string(),
                add_reply: add_reply.to_string(),
                after: read(&format!("{name}.after.hll")),
            }
        })
        .collect();
    assert_eq!(fixtures.len(), setups.len());
    fixtures
}

/// `PFADD`'s extra elements after the setup, as the recorder adds them.
fn extra() -> Vec<Vec<u8>> {
    (0..10).map(|i| format!("z{i}").into_bytes()).collect()
}

fn run(c: &mut Raw, cmd: &[Vec<u8>]) -> Vec<u8> {
    let args: Vec<&[u8]> = cmd.iter().map(Vec::as_slice).collect();
    c.cmd_raw(&args)
}

fn get(c: &mut Raw) -> Vec<u8> {
    let reply = c.cmd_raw(&[b"GET", b"k"]);
    let start = reply.iter().position(|&b| b == b'\n').expect("bulk header") + 1;
    reply[start..reply.len() - 2].to_vec()
}

/// The reply text of `PFCOUNT k` and of `PFADD k z0..z9`, then the bytes after.
fn count_and_add(c: &mut Raw, f: &Fixture) {
    let reply = |r: Vec<u8>| String::from_utf8_lossy(&r).trim_end().to_string();
    assert_eq!(
        reply(c.cmd_raw(&[b"PFCOUNT", b"k"])),
        f.count_reply,
        "{}",
        f.name
    );
    let mut add = vec![b"PFADD".to_vec(), b"k".to_vec()];
    add.extend(extra());
    assert_eq!(reply(run(c, &add)), f.add_reply, "{}", f.name);
    assert!(get(c) == f.after, "{}: bytes after PFADD differ", f.name);
}

fn reset(c: &mut Raw) {
    assert_eq!(c.cmd(&["FLUSHALL"]), "OK");
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "hll-sparse-max-bytes", "3000"]),
        "OK"
    );
}

#[test]
fn corekv_writes_the_bytes_redis_writes() {
    assert!(distinct_shards(&["k", "a", "b"], 4) == 3);
    for shards in common::SHARD_COUNTS {
        let server = Server::with_shards(shards, &[]);
        let mut c = server.raw();
        for f in fixtures() {
            reset(&mut c);
            for cmd in &f.setup {
                assert!(!run(&mut c, cmd).starts_with(b"-"), "{}: {cmd:?}", f.name);
            }
            assert!(get(&mut c) == f.bytes, "{} ({shards} shards)", f.name);
            count_and_add(&mut c, &f);
        }
    }
}

#[test]
fn hlls_written_by_redis_work_in_corekv() {
    let server = Server::start(&[]);
    let mut c = server.raw();
    for f in fixtures() {
        reset(&mut c);
        for cmd in f.setup.iter().filter(|c| c[0] == b"CONFIG") {
            run(&mut c, cmd);
        }
        c.cmd_raw(&[b"SET", b"k", &f.bytes]);
        count_and_add(&mut c, &f);
    }
}

const REPLIES: &str = "
    PFADD h a b c
    PFADD h a
    PFADD h
    PFADD new
    PFCOUNT h
    PFCOUNT h
    GETRANGE h 0 15
    PFCOUNT missing
    PFCOUNT missing h
    PFCOUNT a b
    PFADD a e{0..300}
    PFADD b e{200..5000}
    PFCOUNT a b h
    PFCOUNT a b h missing
    GETRANGE a 0 15
    PFMERGE k a b
    PFCOUNT k
    PFMERGE k
    PFMERGE h
    PFMERGE fresh missing
    GET fresh
    PFADD t x
    EXPIRE t 1000
    PFMERGE t a
    TTL t
    TYPE t
    SET s notanhll
    PFADD s x
    PFCOUNT s
    PFCOUNT h s
    PFMERGE s h
    PFMERGE h s
    SET short HYLL
    PFCOUNT short
    LPUSH l x
    PFADD l x
    PFCOUNT l
    PFCOUNT h l
    PFMERGE h l
    PFMERGE l h
    PFADD c a b c
    SETRANGE c 17 zz
    PFCOUNT c
    PFCOUNT c h
    PFMERGE d c
    PFADD c z
    PFDEBUG ENCODING h
    PFDEBUG DECODE h
    PFDEBUG GETREG missing
    PFDEBUG NOPE h
    PFDEBUG NOPE missing
    PFDEBUG ENCODING s
    PFDEBUG TODENSE h
    PFDEBUG TODENSE h
    PFDEBUG ENCODING h
    PFDEBUG DECODE h
    PFCOUNT h
    PFDEBUG ENCODING b
    PFDEBUG GETREG h x
    PFADD
    PFCOUNT
    PFMERGE
    CONFIG GET hll-sparse-max-bytes
    CONFIG SET hll-sparse-max-bytes 40
    PFADD small e{0..30}
    PFDEBUG ENCODING small
    CONFIG SET hll-sparse-max-bytes -1
    CONFIG SET hll-sparse-max-bytes 3000
";

#[test]
fn replies_are_redis_s() {
    assert!(distinct_shards(&["a", "b", "h", "k", "s", "l", "c", "d"], 4) == 4);
    same_as_redis(&script(REPLIES));
}

/// The keyspace events the server at `port` publishes for `commands`, in order,
/// until the marker key's.
fn events(port: u16, commands: &str) -> Vec<String> {
    let mut c = Raw::connect(port);
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]),
        "OK"
    );
    let mut sub = Raw::connect(port);
    sub.cmd(&["PSUBSCRIBE", "__keyevent@0__:*"]);
    for cmd in script(commands) {
        run(&mut c, &cmd);
    }
    c.cmd(&["SET", "marker", "x"]);
    let mut seen = Vec::new();
    loop {
        let message = String::from_utf8_lossy(&sub.read_reply()).into_owned();
        if message.contains("marker") {
            return seen;
        }
        seen.push(message);
    }
}

#[test]
fn notifications_name_redis_s_events() {
    let commands = "
        PFADD h a b
        PFADD h a
        PFCOUNT h
        PFMERGE d h
        PFCOUNT d h
        PFDEBUG TODENSE h
        BITFIELD b SET u8 0 1 GET u8 0
        BITFIELD_RO b GET u8 0
    ";
    let redis = Redis::start();
    // One shard: events of different shards reach subscribers in no fixed order.
    let corekv = Server::with_shards(1, &[]);
    assert_eq!(
        events(corekv.port(), commands),
        events(redis.port, commands)
    );
}

/// Redis's self-test of the register code and the estimate, over ten million
/// elements.
#[test]
fn pfselftest_passes() {
    let server = Server::start(&[]);
    assert_eq!(server.raw().cmd(&["PFSELFTEST"]), "OK");
}

fn kill(server: &mut Server) {
    server.signal(libc::SIGKILL);
    let status = server.wait_exit(EXIT_TIMEOUT).expect("exits on SIGKILL");
    assert_eq!(status.code(), None, "killed by a signal: {status}");
}

#[test]
fn sigkill_then_restart_gives_back_every_hll() {
    let dir = DataDir::new("hll-restart");
    let args = ["--shards", "4", "--appendfsync", "always"];
    let mut server = start_in(&dir, &args);
    let port = server.port();
    let mut c = server.raw();
    let keys = ["sparse", "dense", "merged", "counted", "todense"];
    for cmd in script(
        "
        PFADD sparse e{0..100}
        PFADD sparse f{0..10}
        PFADD dense e{0..5000}
        PFADD dense f{0..100}
        PFADD counted e{0..50}
        PFCOUNT counted
        PFADD dense g{0..10}
        PFCOUNT dense
        PFMERGE merged sparse counted
        PFMERGE merged dense
        PFADD todense a b
        PFDEBUG TODENSE todense
        ",
    ) {
        assert!(!run(&mut c, &cmd).starts_with(b"-"), "{cmd:?}");
    }
    let dump = |c: &mut Raw| -> Vec<Vec<u8>> {
        keys.iter()
            .map(|k| c.cmd_raw(&[b"GET", k.as_bytes()]))
            .collect()
    };
    let before = dump(&mut c);
    drop(c);
    kill(&mut server);
    let server = restart_in(port, &dir, &args);
    assert!(dump(&mut server.raw()) == before);
}
