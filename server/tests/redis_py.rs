//! redis-py, the most used Python client, against corekv on four shards: its default
//! settings (redis-py 8 opens every connection with `HELLO 3`), `protocol=3` and
//! `protocol=2` each run a session of SET / GET / INCR / MGET / CONFIG GET / INFO and
//! hash and set calls across shards
//! (`tests/py/test_redis_py.py`). Needs `python3` with redis-py (`pip install redis`,
//! as `.ci/run` does); without `python3` at all the test is skipped with a message.

mod common;

use common::Server;

#[test]
fn redis_py_runs_a_session_in_every_protocol() {
    let server = Server::with_shards(4, &[]);
    common::python::run_script("test_redis_py.py", &server);
}
