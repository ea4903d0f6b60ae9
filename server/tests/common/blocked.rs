//! Blocked clients seen from outside, on corekv and on a real `redis-server` alike:
//! `INFO clients` `blocked_clients`, and a client left waiting in a blocking command.

use std::thread;
use std::time::{Duration, Instant};

use super::{encode_str, info_value, Raw};

/// How long a client may take to be seen blocked.
const BLOCK_WAIT: Duration = Duration::from_secs(10);
/// How often the count is read while waiting for it.
const POLL: Duration = Duration::from_millis(10);

/// `blocked_clients` of the server at `port`.
pub fn blocked_clients(port: u16) -> u64 {
    let info = Raw::connect(port).cmd(&["INFO", "clients"]);
    info_value(&info, "blocked_clients")
        .and_then(|v| v.parse().ok())
        .expect("blocked_clients")
}

/// Waits until `n` clients are blocked on the server at `port`.
pub fn wait_blocked(port: u16, n: u64) {
    let deadline = Instant::now() + BLOCK_WAIT;
    while blocked_clients(port) != n {
        assert!(
            Instant::now() < deadline,
            "{} blocked, want {n}",
            blocked_clients(port)
        );
        thread::sleep(POLL);
    }
}

/// A new connection to `port` that sent `args` and waits for the reply, once the
/// server counts it among `blocked` clients (those blocked before it included).
pub fn block(port: u16, args: &[&str], blocked: u64) -> Raw {
    let mut c = Raw::connect(port);
    c.send(&encode_str(args));
    wait_blocked(port, blocked);
    c
}
