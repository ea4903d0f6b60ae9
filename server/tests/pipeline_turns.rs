//! A long pipeline shares its core: the session runs it in turns of about a
//! millisecond and reaps the network between them, so a request from another
//! connection waits for one turn, not for the rest of the pipeline's batch.

mod common;

use std::time::{Duration, Instant};

use common::{encode_str, Server};

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
