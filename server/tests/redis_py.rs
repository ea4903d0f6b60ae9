//! redis-py, the most used Python client, against corekv on four shards: its default
//! settings (redis-py 8 opens every connection with `HELLO 3`), `protocol=3` and
//! `protocol=2` each run a session of SET / GET / INCR / MGET / CONFIG GET / INFO and
//! hash and set calls across shards
//! (`tests/py/test_redis_py.py`). Needs `python3` with redis-py (`pip install redis`,
//! as `.ci/run` does); without `python3` at all the test is skipped with a message.

mod common;

use std::process::Command;

use common::Server;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/test_redis_py.py");

#[test]
fn redis_py_runs_a_session_in_every_protocol() {
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("SKIPPED: python3 is not installed; redis-py cannot be run");
        return;
    }
    let server = Server::with_shards(4, &[]);
    let out = Command::new("python3")
        .arg(SCRIPT)
        .arg(server.port().to_string())
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "redis-py session failed ({}):\n{stdout}\n{stderr}\n(redis-py missing? \
         `pip install 'redis>=5'`)",
        out.status
    );
    assert!(stdout.ends_with("ok\n"), "{stdout}");
}
