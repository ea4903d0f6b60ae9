//! A long pipeline shares its core: the session runs it in turns of about a
//! millisecond and reaps the network between them, so a request from another
//! connection waits for one turn, not for the rest of the pipeline's batch; and
//! within a turn it reaps the network every fifth of a millisecond or so, ending
//! the turn there if another connection has input, so such a request waits for
//! about that long.

mod common;

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::{encode_str, Server};

/// The tests here measure how a core shares its time, so each runs alone: the
/// journal test's 50 client threads, run beside another, starve its one client of
/// the CPU it needs to send its next request while the pipeline goes on (a 2-core
/// machine measured a median of 7 INCRs between two GETs that way, like a server
/// that ends a pipeline's turn only when its time is up).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn alone() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `DEBUG SLEEP` commands in the long pipeline: one batch of them runs for
/// [`PIPELINE_COMMANDS`] × [`SLEEP_SECONDS`] (0.8 s).
const PIPELINE_COMMANDS: usize = 400;
/// What each of them sleeps, in seconds (Redis's argument): 2 ms.
const SLEEP_SECONDS: &str = "0.002";
/// When the other connection sends its `PING`, after the pipeline went out.
const PING_AFTER: Duration = Duration::from_millis(100);
/// Longest the `PING` may wait: a few turns of a millisecond and one 2 ms command,
/// with room for a loaded machine's scheduling; behind the whole batch it waits
/// the 0.7 s the pipeline has left.
const PING_WAIT_MAX: Duration = Duration::from_millis(300);

#[test]
fn a_request_behind_a_long_pipeline_of_slow_commands_waits_for_one_turn() {
    let _alone = alone();
    let server = Server::with_shards(1, &["--enable-debug-command", "yes"]);
    let (mut pipeline, mut other) = (server.raw(), server.raw());
    let batch = encode_str(&["DEBUG", "SLEEP", SLEEP_SECONDS]).repeat(PIPELINE_COMMANDS);
    let sent = Instant::now();
    pipeline.send(&batch);
    std::thread::sleep(PING_AFTER);
    let asked = Instant::now();
    assert_eq!(other.cmd(&["PING"]), "PONG");
    let waited = asked.elapsed();
    for _ in 0..PIPELINE_COMMANDS {
        assert_eq!(pipeline.read_reply(), b"+OK\r\n");
    }
    let pipeline_took = sent.elapsed();
    eprintln!("PING waited {waited:?} behind a pipeline of {pipeline_took:?}");
    assert!(
        waited < PING_WAIT_MAX,
        "PING waited {waited:?} behind a pipeline that took {pipeline_took:?}"
    );
}

/// `DEBUG SLEEP` + `INCR` pairs in the streaming pipeline of the second test: about
/// [`STREAM_PAIRS`] × [`STREAM_SLEEP_SECONDS`] (0.2 s) of commands.
const STREAM_PAIRS: usize = 4_000;
/// What each pair's `DEBUG SLEEP` sleeps: 0.05 ms, so a millisecond's turn holds
/// about ten pairs and a reap interval two.
const STREAM_SLEEP_SECONDS: &str = "0.00005";
/// `GET` pairs the other connection sends back to back while the pipeline runs.
const GET_PAIRS: usize = 25;
/// Most pipeline `INCR`s that may run, at the median, between the answer to one
/// `GET` and the answer to the next one sent at once: the second arrives while the
/// pipeline's first chunk after the first runs, and is answered at the reap that
/// ends it (about a reap interval's worth of pairs, two). Answered only when the
/// turn's time is up, it waits for about ten.
const PAIRS_BETWEEN_GETS_MEDIAN_MAX: i64 = 4;

#[test]
fn a_request_arriving_during_a_pipelines_turn_is_answered_at_the_next_reap() {
    let _alone = alone();
    let server = Server::with_shards(1, &["--enable-debug-command", "yes"]);
    let (mut pipeline, mut other) = (server.raw(), server.raw());
    let mut pair = encode_str(&["DEBUG", "SLEEP", STREAM_SLEEP_SECONDS]);
    pair.extend(encode_str(&["INCR", "n"]));
    pipeline.send(&pair.repeat(STREAM_PAIRS));
    // `n` is missing (nil, 0 here) until the pipeline's first INCR ran.
    let mut get = || -> i64 { other.cmd(&["GET", "n"]).parse().unwrap_or(0) };
    while get() == 0 {}
    let mut between = Vec::with_capacity(GET_PAIRS);
    let mut last = 0;
    for _ in 0..GET_PAIRS {
        let first = get();
        last = get();
        between.push(last - first);
    }
    assert!(
        last < STREAM_PAIRS as i64,
        "the pipeline ended before the GETs did: {last} of {STREAM_PAIRS} pairs ran"
    );
    for i in 0..STREAM_PAIRS {
        assert_eq!(pipeline.read_reply(), b"+OK\r\n");
        assert_eq!(pipeline.read_reply(), format!(":{}\r\n", i + 1).as_bytes());
    }
    between.sort_unstable();
    let median = between[between.len() / 2];
    eprintln!("pipeline INCRs between two GETs sent back to back: {between:?}");
    assert!(
        median <= PAIRS_BETWEEN_GETS_MEDIAN_MAX,
        "median {median} INCRs between two GETs sent back to back: {between:?}"
    );
}

/// Connections pipelining `SET`s into one core with the journal on, each sending
/// [`JOURNAL_ROUNDS`] pipelines of [`JOURNAL_PIPELINE`].
const JOURNAL_CONNECTIONS: usize = 50;
const JOURNAL_ROUNDS: usize = 200;
const JOURNAL_PIPELINE: usize = 16;

/// The replies of a chunk wait until its records reach the kernel (one `pwrite` per
/// loop turn). That wait is the core running other connections, not the chunk's
/// commands: counted as theirs, it shrank the next chunk, whose own wait shrank the
/// one after, down to one command and one `pwrite` per chunk (`appendfsync
/// everysec` at pipeline 16 ran at 6x the CPU per request). The server's write
/// system calls (`syscw` in `/proc/PID/io`: the journal's `pwrite`s; the network's
/// sends go through io_uring) stay a small fraction of the requests: about one per
/// loop turn, each turn covering many connections' chunks of 16 (here 395 for
/// 160,000 SETs; 4,600-4,700 with the chunks shrinking, which the limit of one per
/// 64 requests catches).
#[test]
fn pipelines_keep_whole_chunks_while_replies_wait_for_the_journal() {
    let _alone = alone();
    let server = Server::with_shards(1, &["--appendonly", "yes", "--appendfsync", "everysec"]);
    let before = write_calls(server.pid());
    let pipeline: Vec<u8> = (0..JOURNAL_PIPELINE)
        .flat_map(|i| encode_str(&["SET", &format!("k{i}"), "v"]))
        .collect();
    std::thread::scope(|scope| {
        for _ in 0..JOURNAL_CONNECTIONS {
            let mut con = server.raw();
            let pipeline = &pipeline;
            scope.spawn(move || {
                for _ in 0..JOURNAL_ROUNDS {
                    con.send(pipeline);
                    for _ in 0..JOURNAL_PIPELINE {
                        assert_eq!(con.read_reply(), b"+OK\r\n");
                    }
                }
            });
        }
    });
    let writes = write_calls(server.pid()) - before;
    let requests = (JOURNAL_CONNECTIONS * JOURNAL_ROUNDS * JOURNAL_PIPELINE) as u64;
    eprintln!("{writes} write calls for {requests} SETs");
    assert!(
        writes * 64 < requests,
        "{writes} write calls for {requests} pipelined SETs"
    );
}

/// The write-type system calls process `pid` made (`syscw`).
fn write_calls(pid: u32) -> u64 {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).expect("/proc/PID/io");
    io.lines()
        .find_map(|line| line.strip_prefix("syscw: "))
        .and_then(|n| n.trim().parse().ok())
        .expect("syscw in /proc/PID/io")
}
