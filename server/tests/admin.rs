//! What an operator relies on, against the real binary:
//! - protected mode: with no password, a client from an address other than
//!   `127.0.0.1` / `::1` (here `127.0.0.2`, a second loopback address) gets Redis's
//!   `-DENIED` text and is closed; `CONFIG SET protected-mode no` or a password admits
//!   it;
//! - a config file in `redis.conf` syntax (comments, quotes, units) is read, and
//!   `CONFIG REWRITE` writes what `CONFIG SET` changed so a restart with the same file
//!   keeps it;
//! - `SIGINT` and `SIGTERM` stop the server with exit code 0 and every acknowledged
//!   write kept;
//! - `client-query-buffer-limit` closes a client whose request outgrows it, and only
//!   that client;
//! - `--cpus` pins each shard's thread to its CPU (read back from
//!   `/proc/<pid>/task/*/status`).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::{
    encode_str, free_port, restart_in, start_in, DataDir, Raw, Redis, Server, EXIT_TIMEOUT,
};

/// A second loopback address: routed locally, yet not `127.0.0.1`.
const OTHER_LOOPBACK: &str = "127.0.0.2";
/// Keys written before each stop signal.
const STOP_KEYS: usize = 1000;
/// The smallest `client-query-buffer-limit` Redis accepts.
const QUERY_BUFFER_LIMIT: usize = 1 << 20;

/// Connects to `port` on 127.0.0.1 from [`OTHER_LOOPBACK`], sends `PING` and returns
/// everything the server sends before it closes (or the read times out).
fn ping_from_other_address(port: u16) -> String {
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    let from: SocketAddr = format!("{OTHER_LOOPBACK}:0").parse().expect("address");
    socket
        .bind(&from.into())
        .expect("bind to the second loopback address");
    let to: SocketAddr = format!("127.0.0.1:{port}").parse().expect("address");
    socket.connect(&to.into()).expect("connect");
    let mut stream: TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    stream.write_all(b"PING\r\n").expect("send");
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        reply.extend_from_slice(&buf[..n]);
        if reply.ends_with(b"+PONG\r\n") {
            break;
        }
    }
    String::from_utf8_lossy(&reply).into_owned()
}

#[test]
fn protected_mode_refuses_other_addresses_without_a_password_as_redis_does() {
    let redis = Redis::start();
    let expected = ping_from_other_address(redis.port);
    assert!(
        expected.starts_with("-DENIED Redis is running in protected mode"),
        "{expected}"
    );

    let server = Server::with_shards(2, &[]);
    assert_eq!(ping_from_other_address(server.port()), expected);
    assert_eq!(server.raw().cmd(&["PING"]), "PONG", "127.0.0.1 is admitted");
    assert_eq!(
        server.raw().cmd(&["CONFIG", "SET", "protected-mode", "no"]),
        "OK"
    );
    assert_eq!(ping_from_other_address(server.port()), "+PONG\r\n");

    let with_password = Server::with_shards(2, &["--requirepass", "secret"]);
    let reply = ping_from_other_address(with_password.port());
    assert!(
        reply.starts_with("-NOAUTH"),
        "a password admits the client: {reply}"
    );
}

#[test]
fn config_file_is_read_and_config_rewrite_keeps_changes_across_a_restart() {
    let dir = DataDir::new("config-file");
    std::fs::create_dir_all(dir.path()).expect("data directory");
    let file = dir.path().join("corekv.conf");
    std::fs::write(
        &file,
        "# a redis.conf-style file\n\
         maxclients 123\n\
         \n\
         timeout \"7\"\n\
         client-query-buffer-limit 2mb\n\
         hash-max-listpack-entries 5   # trailing words are not comments in redis.conf\n",
    )
    .expect("write the config file");
    let file_arg = file.to_str().expect("UTF-8 path").to_string();
    let refused = Server::spawn_in(free_port(), dir.path(), &[&file_arg]);
    let log = refused
        .expect("spawn")
        .wait_ready()
        .expect_err("an extra word is refused");
    assert!(
        log.contains("hash-max-listpack-entries"),
        "names the directive: {log}"
    );

    std::fs::write(
        &file,
        "# a redis.conf-style file\nmaxclients 123\n\ntimeout \"7\"\nclient-query-buffer-limit 2mb\n",
    )
    .expect("write the config file");
    let mut server = start_in(&dir, &[&file_arg]);
    let mut con = server.raw();
    assert_eq!(
        con.cmd(&["CONFIG", "GET", "maxclients"]),
        "[maxclients, 123]"
    );
    assert_eq!(con.cmd(&["CONFIG", "GET", "timeout"]), "[timeout, 7]");
    assert_eq!(
        con.cmd(&["CONFIG", "GET", "client-query-buffer-limit"]),
        "[client-query-buffer-limit, 2097152]"
    );
    assert_eq!(con.cmd(&["CONFIG", "SET", "maxclients", "456"]), "OK");
    assert_eq!(con.cmd(&["CONFIG", "REWRITE"]), "OK");
    let text = std::fs::read_to_string(&file).expect("the rewritten file");
    assert!(text.contains("maxclients"), "{text}");
    server.signal(libc::SIGTERM);
    server.wait_exit(EXIT_TIMEOUT).expect("exits on SIGTERM");

    let server = restart_in(server.port(), &dir, &[&file_arg]);
    let mut con = server.raw();
    assert_eq!(
        con.cmd(&["CONFIG", "GET", "maxclients"]),
        "[maxclients, 456]"
    );
    assert_eq!(con.cmd(&["CONFIG", "GET", "timeout"]), "[timeout, 7]");
}

#[test]
fn sigint_and_sigterm_stop_with_exit_code_zero_and_keep_acknowledged_writes() {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        let dir = DataDir::new("stop-signal");
        let mut server = start_in(&dir, &["--shards", "2"]);
        let mut con = server.raw();
        let batch: Vec<u8> = (0..STOP_KEYS)
            .flat_map(|i| encode_str(&["SET", &format!("k:{i}"), &format!("v:{i}")]))
            .collect();
        con.send(&batch);
        for _ in 0..STOP_KEYS {
            assert_eq!(con.read_reply(), b"+OK\r\n");
        }
        server.signal(signal);
        let status = server.wait_exit(EXIT_TIMEOUT).expect("exits on the signal");
        assert_eq!(status.code(), Some(0), "signal {signal}: {status}");
        let server = restart_in(server.port(), &dir, &["--shards", "2"]);
        let mut con = server.raw();
        assert_eq!(
            con.cmd(&["DBSIZE"]),
            STOP_KEYS.to_string(),
            "signal {signal}"
        );
        assert_eq!(con.cmd(&["GET", "k:999"]), "v:999");
    }
}

/// A server on `shards` shards with `client-query-buffer-limit` set to
/// [`QUERY_BUFFER_LIMIT`], and the connection that set it.
fn with_query_buffer_limit(shards: usize) -> (Server, Raw) {
    let server = Server::with_shards(shards, &[]);
    let mut admin = server.raw();
    let limit = QUERY_BUFFER_LIMIT.to_string();
    assert_eq!(
        admin.cmd(&["CONFIG", "SET", "client-query-buffer-limit", &limit]),
        "OK"
    );
    (server, admin)
}

#[test]
fn client_query_buffer_limit_closes_only_the_client_that_outgrows_it() {
    let (server, mut admin) = with_query_buffer_limit(2);
    let under = "x".repeat(QUERY_BUFFER_LIMIT * 9 / 10);
    assert_eq!(admin.cmd(&["SET", "under", &under]), "OK");

    let mut big = Raw::connect(server.port());
    let len = QUERY_BUFFER_LIMIT * 2 / (64 << 10) * (64 << 10);
    big.send(format!("*3\r\n$3\r\nSET\r\n$4\r\nover\r\n${len}\r\n").as_bytes());
    let chunk = vec![b'y'; 64 << 10];
    let mut sent = 0;
    while sent < len {
        if big.stream.write_all(&chunk).is_err() {
            break;
        }
        sent += chunk.len();
    }
    // The whole request: a server without the limit would store it and answer.
    let _ = big.stream.write_all(b"\r\n");
    assert!(big.read_to_eof().is_empty(), "closed without a reply");
    assert_eq!(admin.cmd(&["EXISTS", "over"]), "0");
    assert_eq!(admin.cmd(&["STRLEN", "under"]), under.len().to_string());
}

/// A request just over the limit: the buffer passes the limit only with the bytes
/// that complete the request, so a check of the buffer after each read alone would
/// run it; its announced length already tells that it cannot fit.
#[test]
fn a_request_just_over_the_query_buffer_limit_is_refused() {
    let (server, mut admin) = with_query_buffer_limit(1);
    let mut big = Raw::connect(server.port());
    let value = "y".repeat(QUERY_BUFFER_LIMIT);
    let request = format!(
        "*3\r\n$3\r\nSET\r\n$4\r\nover\r\n${}\r\n{value}\r\n",
        value.len()
    );
    let _ = big.stream.write_all(request.as_bytes());
    assert!(big.read_to_eof().is_empty(), "closed without a reply");
    assert_eq!(admin.cmd(&["EXISTS", "over"]), "0");
}

/// `Cpus_allowed_list` of every thread of `pid` named `name_prefix*`.
fn thread_cpus(pid: u32, name_prefix: &str) -> Vec<String> {
    let mut cpus = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).expect("tasks") {
        let path = task.expect("task").path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if !comm.starts_with(name_prefix) {
            continue;
        }
        let status = std::fs::read_to_string(path.join("status")).expect("status");
        let line = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .expect("Cpus_allowed_list");
        cpus.push(line.trim().to_string());
    }
    cpus
}

#[test]
fn cpus_pins_each_shard_thread_to_its_cpu() {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let last = (cpus - 1).to_string();
    let server = Server::with_shards(1, &["--cpus", &last]);
    assert_eq!(server.raw().cmd(&["PING"]), "PONG");
    let pinned = thread_cpus(server.pid(), "shard-0");
    assert!(!pinned.is_empty(), "a shard-0 thread exists");
    assert!(
        pinned.iter().all(|c| *c == last),
        "shard 0 on CPU {last}: {pinned:?}"
    );
}
