//! `unixsocket` / `unixsocketperm`: the server serves on a Unix socket beside its TCP
//! port, on both network drivers, and shows those clients as Redis does
//! (`addr=/path:0 laddr=/path:0`, flag `U`); `redis-cli -s` and
//! `redis-benchmark -s` work against it.

mod common;

use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{encode_str, render, reply_len, unique_dir, Server, EXIT_TIMEOUT, READ_TIMEOUT};

/// Connections opened at once: more than the shards, so that every core's accept
/// is exercised.
const CONNECTIONS: usize = 8;
/// Requests `redis-benchmark` sends (kept small: the test checks it works, not speed).
const BENCH_REQUESTS: &str = "2000";

/// A directory for the socket, removed when the test ends.
struct SocketDir(PathBuf);

impl SocketDir {
    fn new() -> SocketDir {
        let dir = unique_dir("unix");
        std::fs::create_dir_all(&dir).expect("socket dir");
        SocketDir(dir)
    }

    fn socket(&self) -> String {
        self.0.join("corekv.sock").display().to_string()
    }
}

impl Drop for SocketDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A RESP connection over the Unix socket.
struct UnixClient {
    stream: UnixStream,
    buf: Vec<u8>,
}

impl UnixClient {
    fn connect(path: &str) -> UnixClient {
        let stream = UnixStream::connect(path).unwrap_or_else(|e| panic!("connect {path}: {e}"));
        stream
            .set_read_timeout(Some(READ_TIMEOUT))
            .expect("timeout");
        UnixClient {
            stream,
            buf: Vec::new(),
        }
    }

    /// One request; its reply in the harness's compact text form.
    fn cmd(&mut self, args: &[&str]) -> String {
        self.stream.write_all(&encode_str(args)).expect("write");
        loop {
            if let Some(n) = reply_len(&self.buf) {
                let reply: Vec<u8> = self.buf.drain(..n).collect();
                return render(&reply);
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = self.stream.read(&mut chunk).expect("read a reply");
            assert!(n > 0, "connection closed before a whole reply");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

fn tool(name: &str, args: &[&str]) -> String {
    let out = Command::new(name)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("can't run {name} (redis-tools): {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{name} {args:?}: {text}");
    text
}

#[test]
fn unix_socket_is_served_on_both_drivers() {
    for driver in ["uring", "glommio"] {
        let dir = SocketDir::new();
        let path = dir.socket();
        let mut server = Server::with_shards(
            2,
            &[
                "--io-driver",
                driver,
                "--unixsocket",
                &path,
                "--unixsocketperm",
                "700",
            ],
        );
        let meta = std::fs::metadata(&path).expect("socket file");
        assert!(meta.file_type().is_socket(), "{driver}: {path} is a socket");
        assert_eq!(meta.permissions().mode() & 0o7777, 0o700, "{driver}");

        let mut clients: Vec<UnixClient> = (0..CONNECTIONS)
            .map(|_| UnixClient::connect(&path))
            .collect();
        for (i, c) in clients.iter_mut().enumerate() {
            let key = format!("unix:{i}");
            assert_eq!(c.cmd(&["SET", &key, "v"]), "OK", "{driver}");
        }
        let mut tcp = server.raw();
        for i in 0..CONNECTIONS {
            assert_eq!(tcp.cmd(&["GET", &format!("unix:{i}")]), "v", "{driver}");
        }

        let line = clients[0].cmd(&["CLIENT", "INFO"]);
        let addr = format!("addr={path}:0 laddr={path}:0 ");
        assert!(line.contains(&addr), "{driver}: {line}");
        assert!(line.contains(" flags=U "), "{driver}: {line}");
        let list = tcp.cmd(&["CLIENT", "LIST"]);
        let tcp_line = tcp.cmd(&["CLIENT", "INFO"]);
        assert!(
            tcp_line.contains(" flags=N "),
            "{driver}: a TCP client has no U flag: {tcp_line}"
        );
        let unix_lines = list.lines().filter(|l| l.contains(&addr)).count();
        assert_eq!(unix_lines, CONNECTIONS, "{driver}: {list}");
        let killed = tcp.cmd(&["CLIENT", "KILL", "ADDR", &format!("{path}:0")]);
        assert_eq!(killed, CONNECTIONS.to_string(), "{driver}");

        assert_eq!(tool("redis-cli", &["-s", &path, "PING"]).trim(), "PONG");
        let bench = tool(
            "redis-benchmark",
            &["-s", &path, "-n", BENCH_REQUESTS, "-t", "set,get", "-q"],
        );
        assert!(
            bench.contains("SET:") && bench.contains("GET:"),
            "{driver}: {bench}"
        );

        server.signal(libc::SIGTERM);
        assert!(server.wait_exit(EXIT_TIMEOUT).is_some(), "{driver}: exits");
        assert!(
            !Path::new(&path).exists(),
            "{driver}: the socket file is removed at shutdown"
        );
    }
}

#[test]
fn a_stale_socket_file_is_replaced_and_bad_permissions_refused() {
    let dir = SocketDir::new();
    let path = dir.socket();
    std::fs::write(&path, b"left over").expect("stale file");
    let server = Server::start(&["--unixsocket", &path]);
    let mut client = UnixClient::connect(&path);
    assert_eq!(client.cmd(&["PING"]), "PONG");
    drop(server);

    let refused = Command::new(env!("CARGO_BIN_EXE_corekv-server"))
        .args([
            "--port",
            &common::free_port().to_string(),
            "--dir",
            &dir.0.join("data").display().to_string(),
            "--unixsocket",
            &path,
            "--unixsocketperm",
            "9x",
        ])
        .output()
        .expect("run corekv-server");
    assert!(!refused.status.success());
    let text = String::from_utf8_lossy(&refused.stdout).to_string()
        + &String::from_utf8_lossy(&refused.stderr);
    assert!(
        text.contains("Invalid socket file permissions"),
        "unixsocketperm 9x: {text}"
    );
}
