//! Starting and stopping: a busy port or a locked data directory refuses a second
//! server with a non-zero exit and a message; `SIGTERM` and `SHUTDOWN` stop the server
//! with exit code 0; a stopped server's port can be reused at once.

mod common;

use common::{unique_dir, Server, EXIT_TIMEOUT, SHARD_COUNTS};

#[test]
fn second_server_on_the_same_port_is_refused() {
    let first = Server::with_shards(2, &[]);
    let dir = unique_dir("second");
    let mut second = Server::spawn_in(first.port(), &dir, &["--shards", "2"]).expect("spawn");
    let status = second
        .wait_exit(EXIT_TIMEOUT)
        .expect("the second server must exit, not share the port");
    assert!(!status.success(), "exit status {status}");
    let log = second.log_text();
    assert!(
        log.contains("Address already in use") && log.contains(&first.port().to_string()),
        "message names the problem and the port: {log}"
    );
    let mut con = first.raw();
    assert_eq!(con.cmd(&["PING"]), "PONG", "the first server keeps serving");
    drop(second);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn second_server_on_the_same_dir_is_refused() {
    let first = Server::with_shards(1, &[]);
    let mut second =
        Server::spawn_in(common::free_port(), first.dir(), &["--shards", "1"]).expect("spawn");
    let status = second
        .wait_exit(EXIT_TIMEOUT)
        .expect("the second server must exit");
    assert!(!status.success(), "exit status {status}");
    let log = second.log_text();
    assert!(log.contains("in use"), "{log}");
    assert_eq!(first.raw().cmd(&["PING"]), "PONG");
}

#[test]
fn sigterm_stops_with_exit_code_zero() {
    for shards in SHARD_COUNTS {
        let mut server = Server::with_shards(shards, &[]);
        let mut con = server.raw();
        assert_eq!(con.cmd(&["MSET", "a", "1", "b", "2", "c", "3"]), "OK");
        server.signal(libc::SIGTERM);
        let status = server.wait_exit(EXIT_TIMEOUT).expect("exits on SIGTERM");
        assert_eq!(status.code(), Some(0), "{shards} shards: {status}");
        assert!(con.read_to_eof().is_empty(), "clients are disconnected");
    }
}

#[test]
fn shutdown_stops_with_exit_code_zero() {
    for shards in SHARD_COUNTS {
        let mut server = Server::with_shards(shards, &[]);
        let mut other = server.raw();
        assert_eq!(other.cmd(&["SET", "k", "v"]), "OK");
        let mut con = server.raw();
        con.send(&common::encode_str(&["SHUTDOWN"]));
        assert!(
            con.read_to_eof().is_empty(),
            "SHUTDOWN closes without a reply"
        );
        let status = server.wait_exit(EXIT_TIMEOUT).expect("exits on SHUTDOWN");
        assert_eq!(status.code(), Some(0), "{shards} shards: {status}");
        assert!(other.read_to_eof().is_empty());
    }
}

/// Connections the server closed itself leave TIME_WAIT sockets on its port; a new
/// server must still be able to listen there at once, as Redis can.
#[test]
fn port_is_reusable_right_after_shutdown() {
    let mut server = Server::with_shards(2, &[]);
    let port = server.port();
    for _ in 0..4 {
        let mut con = server.raw();
        assert_eq!(con.cmd(&["QUIT"]), "OK");
        assert!(con.read_to_eof().is_empty());
    }
    let mut con = server.raw();
    con.send(&common::encode_str(&["SHUTDOWN"]));
    con.read_to_eof();
    assert_eq!(
        server.wait_exit(EXIT_TIMEOUT).and_then(|s| s.code()),
        Some(0)
    );
    let dir = unique_dir("restart");
    let mut again = Server::spawn_in(port, &dir, &["--shards", "2"]).expect("spawn");
    let ready = again.wait_ready();
    drop(again);
    let _ = std::fs::remove_dir_all(dir);
    ready.expect("restart on the same port");
}

/// `timeout` for the idle-client test, and how late after it the client may be
/// closed (the check runs once a second).
const IDLE_TIMEOUT_S: u64 = 2;
const IDLE_CLOSE_SLACK: std::time::Duration = std::time::Duration::from_millis(1500);

/// A client idle for `timeout` seconds (set at run time) is closed within
/// [timeout, timeout + 1.5 s] of its last command, without a reply; a client that
/// keeps sending stays.
#[test]
fn idle_clients_are_closed_after_timeout_set_at_run_time() {
    use std::time::{Duration, Instant};
    let server = Server::with_shards(2, &[]);
    let mut idle = server.raw();
    let mut busy = server.raw();
    let timeout = IDLE_TIMEOUT_S.to_string();
    assert_eq!(busy.cmd(&["CONFIG", "SET", "timeout", &timeout]), "OK");
    assert_eq!(idle.cmd(&["PING"]), "PONG");
    let last_command = Instant::now();
    let pinger = std::thread::spawn(move || {
        let until = Instant::now() + Duration::from_secs(IDLE_TIMEOUT_S) * 2;
        while Instant::now() < until {
            std::thread::sleep(Duration::from_millis(300));
            assert_eq!(
                busy.cmd(&["PING"]),
                "PONG",
                "an active client stays connected"
            );
        }
    });
    assert!(
        idle.read_to_eof().is_empty(),
        "the idle client is closed without a reply"
    );
    let idle_for = last_command.elapsed();
    let timeout = Duration::from_secs(IDLE_TIMEOUT_S);
    assert!(
        idle_for >= timeout && idle_for <= timeout + IDLE_CLOSE_SLACK,
        "closed after {idle_for:?} idle, timeout {timeout:?}"
    );
    pinger.join().expect("the active client");
}
