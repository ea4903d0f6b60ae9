//! The black-box harness: starts the real `corekv-server` binary on a free loopback
//! port in its own temporary data directory, waits until it answers, and kills it when
//! the [`Server`] is dropped, so a failing test never leaks a process.
//!
//! Clients: [`Server::client`] gives a `redis` crate connection; [`Raw`] writes raw
//! RESP bytes and reads replies one at a time, either as the exact bytes or in the
//! engine harness's compact text form (`+OK` → `OK`, `:3` → `3`, null → `(nil)`,
//! `-ERR x` → `-ERR x`, arrays → `[a, b]`).
//!
//! Every server runs with the network driver named by `COREKV_TEST_IO_DRIVER`
//! (`uring` or `glommio`; unset: the server's default), so the whole suite runs
//! on either driver (`COREKV_TEST_IO_DRIVER=uring cargo test -p corekv-server`);
//! a test's own `--io-driver` argument wins.
//!
//! Both speak RESP2, or RESP3 after [`Server::speaking`] `(3)`: the command suite runs
//! in both ([`each_shard_count_and_protocol`]). The compact form renders a RESP3 reply
//! as its RESP2 counterpart (a map as its flat array of keys and values, a set or a
//! push as an array, a verbatim string as its text, `_` as `(nil)`, a double as its
//! text, `#t` as `1`), so one expectation holds in both protocols.

#![allow(dead_code)] // each test binary uses a different part of the harness

mod adopt;
pub mod blocked;
pub mod compare;
pub mod metrics;
pub mod python;
pub mod random_commands;
pub mod reference;
pub mod rings;
pub mod seccomp;
pub mod sentinel;
pub mod stats;
pub mod stress;

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub use reference::Redis;

/// How long a server may take to answer its first `PING`.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts at starting on a fresh port when the chosen one was taken meanwhile.
const START_ATTEMPTS: usize = 5;
/// Read timeout of every raw socket: a missing reply fails the test, never hangs it.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a server gets to exit after `SIGTERM` or `SHUTDOWN`.
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(10);

/// The shard counts behaviours are checked with: one shard, and keys spread over four.
pub const SHARD_COUNTS: [usize; 2] = [1, 4];
/// The protocols the command suite runs in: RESP2 (no `HELLO`) and RESP3 (`HELLO 3`).
pub const PROTOCOLS: [u8; 2] = [2, 3];

static NEXT_DIR: AtomicU64 = AtomicU64::new(0);

/// A fresh, not yet existing directory under the system temp dir.
pub fn unique_dir(tag: &str) -> PathBuf {
    let n = NEXT_DIR.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    std::env::temp_dir().join(format!(
        "corekv-test-{tag}-{}-{n}-{nanos}",
        std::process::id()
    ))
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local addr").port()
}

fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_corekv-server")
}

/// The environment variable naming the network driver every server runs with.
pub const IO_DRIVER_ENV: &str = "COREKV_TEST_IO_DRIVER";

/// `--io-driver X` when [`IO_DRIVER_ENV`] names one.
fn driver_args() -> Vec<String> {
    match std::env::var(IO_DRIVER_ENV) {
        Ok(driver) if !driver.is_empty() => vec!["--io-driver".into(), driver],
        _ => Vec::new(),
    }
}

/// A running `corekv-server`. Killed (SIGKILL) and its directory removed on drop.
pub struct Server {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    /// Removed on drop: false for a server started on another server's directory.
    owns_dir: bool,
    log: PathBuf,
    password: Option<String>,
    /// The protocol [`Server::raw`] and [`Server::client`] connections speak.
    protocol: u8,
}

impl Server {
    /// Starts the server with `args` (on top of `--port` and `--dir`) and waits until
    /// it answers `PING`. Panics with the server's log if it does not.
    pub fn start(args: &[&str]) -> Server {
        let mut last_log = String::new();
        for _ in 0..START_ATTEMPTS {
            let dir = unique_dir("srv");
            match Server::spawn_in(free_port(), &dir, args) {
                Ok(mut s) => match s.owning_dir().wait_ready() {
                    Ok(()) => return s,
                    Err(log) if log.contains("Address already in use") => last_log = log,
                    Err(log) => panic!("corekv-server {args:?} did not start:\n{log}"),
                },
                Err(e) => panic!("can't run {}: {e}", binary()),
            }
        }
        panic!("corekv-server {args:?} found no free port:\n{last_log}");
    }

    /// Starts the server with `--shards n` and `args`.
    pub fn with_shards(n: usize, args: &[&str]) -> Server {
        let n = n.to_string();
        let mut all = vec!["--shards", n.as_str()];
        all.extend_from_slice(args);
        Server::start(&all)
    }

    /// Spawns the binary on `port` with data in `dir` without waiting for it. The
    /// directory is left in place on drop (it may be another server's).
    pub fn spawn_in(port: u16, dir: &Path, args: &[&str]) -> std::io::Result<Server> {
        std::fs::create_dir_all(dir)?;
        let log = unique_dir("log").with_extension("log");
        let stderr = File::create(&log)?;
        let child = Command::new(binary())
            .arg("--port")
            .arg(port.to_string())
            .arg("--dir")
            .arg(dir)
            .args(driver_args())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()?;
        let password = args
            .iter()
            .position(|a| *a == "--requirepass")
            .and_then(|i| args.get(i + 1))
            .map(|p| p.to_string());
        Ok(Server {
            child: Some(child),
            port,
            dir: dir.to_path_buf(),
            owns_dir: false,
            log,
            password,
            protocol: 2,
        })
    }

    fn owning_dir(&mut self) -> &mut Self {
        self.owns_dir = true;
        self
    }

    /// Waits until the server answers `PING` (`+PONG`, or `-NOAUTH` with a password).
    /// On failure returns the server's log.
    pub fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(status) = self.try_exit_status() {
                return Err(format!("exited with {status}: {}", self.log_text()));
            }
            if ping(self.port) {
                return self.check_identity();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Err(format!(
            "no answer within {START_TIMEOUT:?}: {}",
            self.log_text()
        ))
    }

    /// Makes sure the server answering on our port is our process, not another
    /// test's server that took the port first (ours then exits with a bind error).
    fn check_identity(&mut self) -> Result<(), String> {
        let mut con = self.raw();
        if let Some(p) = &self.password {
            assert_eq!(con.cmd(&["AUTH", p]), "OK");
        }
        let info = con.cmd(&["INFO", "server"]);
        if info_value(&info, "process_id") == Some(self.pid().to_string()) {
            return self.wait_loaded(&mut con);
        }
        match self.wait_exit(START_TIMEOUT) {
            Some(status) => Err(format!("exited with {status}: {}", self.log_text())),
            None => Err(format!(
                "another process answers on port {}: {info}",
                self.port
            )),
        }
    }

    /// Waits until `INFO persistence` says the dataset is loaded.
    fn wait_loaded(&mut self, con: &mut Raw) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            let info = con.cmd(&["INFO", "persistence"]);
            if info_value(&info, "loading").as_deref() != Some("1") {
                return Ok(());
            }
            if let Some(status) = self.try_exit_status() {
                return Err(format!("exited with {status}: {}", self.log_text()));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Err(format!("still loading after {START_TIMEOUT:?}"))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server running").id()
    }

    /// Makes the connections [`Server::raw`] and [`Server::client`] open speak
    /// `protocol` (2 or 3).
    pub fn speaking(mut self, protocol: u8) -> Server {
        assert!(PROTOCOLS.contains(&protocol), "RESP{protocol}");
        self.protocol = protocol;
        self
    }

    pub fn protocol(&self) -> u8 {
        self.protocol
    }

    /// The `redis://` URL, with the password when the server was started with one,
    /// and `protocol=resp3` when connections speak RESP3.
    pub fn url(&self) -> String {
        let query = if self.protocol == 3 {
            "/?protocol=resp3"
        } else {
            ""
        };
        match &self.password {
            Some(p) => format!("redis://:{p}@127.0.0.1:{}{query}", self.port),
            None => format!("redis://127.0.0.1:{}{query}", self.port),
        }
    }

    /// A `redis` crate connection (authenticated when the server has a password).
    pub fn client(&self) -> redis::Connection {
        let client = redis::Client::open(self.url()).expect("client URL");
        let con = client
            .get_connection_with_timeout(READ_TIMEOUT)
            .expect("connect");
        con.set_read_timeout(Some(READ_TIMEOUT)).expect("timeout");
        con
    }

    /// A raw RESP connection (not authenticated), switched to RESP3 with `HELLO 3`
    /// when the server's connections speak RESP3.
    pub fn raw(&self) -> Raw {
        if self.protocol == 3 {
            assert!(
                self.password.is_none(),
                "HELLO 3 needs an authenticated client; raw connections are not"
            );
            return Raw::connect_resp3(self.port);
        }
        Raw::connect(self.port)
    }

    /// Everything the server wrote to stderr so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The exit status if the process has exited.
    fn try_exit_status(&mut self) -> Option<ExitStatus> {
        self.child.as_mut()?.try_wait().expect("try_wait")
    }

    /// Waits up to `timeout` for the process to exit on its own.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.try_exit_status() {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends `signal` to the server process.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on the pid of a child we have not reaped yet.
        let rc = unsafe { libc::kill(self.pid() as i32, signal) };
        assert_eq!(rc, 0, "kill({signal})");
    }

    /// The CPU time the server has used so far, summed over its threads
    /// (`/proc/<pid>/task/*/schedstat`, nanoseconds).
    pub fn cpu_time(&self) -> Duration {
        let tasks =
            std::fs::read_dir(format!("/proc/{}/task", self.pid())).expect("threads of the server");
        let nanos = tasks
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
            .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .sum();
        Duration::from_nanos(nanos)
    }

    /// Resident set size of the server process in KiB, from `/proc/PID/status`.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("/proc/PID/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS line")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if self.owns_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

/// True when something on `port` answers an inline `PING` with a status or an error.
pub fn ping(port: u16) -> bool {
    let addr = ([127, 0, 0, 1], port).into();
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut first = [0u8; 1];
    matches!(s.read(&mut first), Ok(1) if first[0] == b'+' || first[0] == b'-')
}

/// The value of `field` in `INFO` text.
pub fn info_value(info: &str, field: &str) -> Option<String> {
    info.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .map(|v| v.trim().to_string())
}

/// The elements of a flat array in the compact form (`[a, b]` → `a`, `b`; `[]` →
/// none).
pub fn items(reply: &str) -> Vec<String> {
    let inner = reply.trim_start_matches('[').trim_end_matches(']');
    if inner.is_empty() {
        return Vec::new();
    }
    inner.split(", ").map(str::to_string).collect()
}

/// Runs `check` against a fresh server for each of [`SHARD_COUNTS`] and each of
/// [`PROTOCOLS`] its connections speak.
pub fn each_shard_count_and_protocol(args: &[&str], check: impl Fn(&Server, usize)) {
    for protocol in PROTOCOLS {
        for shards in SHARD_COUNTS {
            let server = Server::with_shards(shards, args).speaking(protocol);
            check(&server, shards);
        }
    }
}

/// Runs `check` against a fresh server for each of [`SHARD_COUNTS`].
pub fn each_shard_count(args: &[&str], check: impl Fn(&Server, usize)) {
    for shards in SHARD_COUNTS {
        let server = Server::with_shards(shards, args);
        check(&server, shards);
    }
}

// ---- key placement, as the server computes it ----

/// CRC-16/XMODEM, Redis Cluster's key hash.
fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc ^= (b as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The Redis Cluster hash slot of `key`, honouring `{hash tags}`.
fn key_slot(key: &[u8]) -> u16 {
    let hashed = key
        .iter()
        .position(|&b| b == b'{')
        .and_then(|open| {
            let rest = &key[open + 1..];
            let close = rest.iter().position(|&b| b == b'}')?;
            (close > 0).then(|| &rest[..close])
        })
        .unwrap_or(key);
    crc16(hashed) % 16384
}

pub fn shard_of(key: &str, shards: usize) -> usize {
    key_slot(key.as_bytes()) as usize % shards
}

/// How many distinct shards `keys` live on.
pub fn distinct_shards(keys: &[&str], shards: usize) -> usize {
    let mut seen: Vec<usize> = keys.iter().map(|k| shard_of(k, shards)).collect();
    seen.sort_unstable();
    seen.dedup();
    seen.len()
}

// ---- raw RESP ----

/// Encodes one request as a RESP array of bulk strings.
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// [`encode`] for text arguments.
pub fn encode_str(args: &[&str]) -> Vec<u8> {
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    encode(&args)
}

/// Finds the end of the first complete RESP reply in `buf`, if there is one.
pub fn reply_len(buf: &[u8]) -> Option<usize> {
    let eol = buf.windows(2).position(|w| w == b"\r\n")?;
    let head = &buf[..eol];
    let after = eol + 2;
    let n = || -> i64 {
        std::str::from_utf8(&head[1..])
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad RESP header {:?}", String::from_utf8_lossy(head)))
    };
    let items = |count: i64| {
        let mut pos = after;
        for _ in 0..count.max(0) {
            pos += reply_len(&buf[pos..])?;
        }
        Some(pos)
    };
    match head.first()? {
        b'+' | b'-' | b':' | b'_' | b',' | b'#' => Some(after),
        b'*' | b'~' | b'>' => items(n()),
        b'%' => items(2 * n()),
        b'$' | b'=' => {
            let len = n();
            if len < 0 {
                return Some(after);
            }
            let end = after + len as usize + 2;
            (buf.len() >= end).then_some(end)
        }
        other => panic!("not a RESP reply: {:?}", *other as char),
    }
}

/// [`reply_len`] over a buffer that grows between calls: for a top-level aggregate,
/// `progress` keeps the offset after its last whole item and how many items are
/// left, so each call parses only what arrived since. A reply of n items read in
/// many pieces thus takes O(n), not O(n) per piece.
fn reply_len_resumable(buf: &[u8], progress: &mut Option<(usize, i64)>) -> Option<usize> {
    let (mut pos, mut left) = match *progress {
        Some(at) => at,
        None => {
            let per_item = match buf.first()? {
                b'*' | b'~' | b'>' => 1,
                b'%' => 2,
                _ => return reply_len(buf),
            };
            let eol = buf.windows(2).position(|w| w == b"\r\n")?;
            let count: i64 = std::str::from_utf8(&buf[1..eol])
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("bad RESP header {:?}", &buf[..eol]));
            (eol + 2, per_item * count)
        }
    };
    while left > 0 {
        let Some(n) = reply_len(&buf[pos..]) else {
            *progress = Some((pos, left));
            return None;
        };
        pos += n;
        left -= 1;
    }
    *progress = None;
    Some(pos)
}

/// Renders one complete reply in compact text form.
pub fn render(reply: &[u8]) -> String {
    fn one(buf: &[u8]) -> (String, usize) {
        let eol = buf.windows(2).position(|w| w == b"\r\n").expect("CRLF");
        let body = String::from_utf8_lossy(&buf[1..eol]).into_owned();
        let after = eol + 2;
        match buf[0] {
            b'+' | b':' | b',' => (body, after),
            b'-' => (format!("-{body}"), after),
            b'_' => ("(nil)".into(), after),
            b'#' => ((if body == "t" { "1" } else { "0" }).into(), after),
            b'$' | b'=' => {
                let n: i64 = body.parse().expect("bulk length");
                if n < 0 {
                    return ("(nil)".into(), after);
                }
                let end = after + n as usize;
                // A verbatim string's text follows its format (`txt:`).
                let start = if buf[0] == b'=' { after + 4 } else { after };
                (
                    String::from_utf8_lossy(&buf[start..end]).into_owned(),
                    end + 2,
                )
            }
            b'*' | b'~' | b'>' | b'%' => {
                let mut n: i64 = body.parse().expect("array length");
                if n < 0 {
                    return ("(nil)".into(), after);
                }
                if buf[0] == b'%' {
                    n *= 2;
                }
                let mut pos = after;
                let mut items = Vec::new();
                for _ in 0..n {
                    let (item, used) = one(&buf[pos..]);
                    items.push(item);
                    pos += used;
                }
                (format!("[{}]", items.join(", ")), pos)
            }
            other => panic!("not a RESP reply: {:?}", other as char),
        }
    }
    one(reply).0
}

/// A plain TCP connection speaking raw RESP, with a read timeout.
pub struct Raw {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    pub fn connect(port: u16) -> Raw {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(READ_TIMEOUT))
            .expect("timeout");
        stream.set_nodelay(true).expect("nodelay");
        Raw {
            stream,
            buf: Vec::new(),
        }
    }

    /// A connection switched to RESP3 with `HELLO 3`.
    pub fn connect_resp3(port: u16) -> Raw {
        let mut raw = Raw::connect(port);
        let hello = raw.cmd_raw(&[b"HELLO", b"3"]);
        assert!(
            hello.starts_with(b"%7\r\n"),
            "HELLO 3: {:?}",
            String::from_utf8_lossy(&hello)
        );
        raw
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Reads more bytes; `false` at end of stream. Panics on timeout.
    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 64 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => false,
            // The server closed with our unread input pending: what it sent before
            // has been read already.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e) => panic!(
                "no reply within {READ_TIMEOUT:?} ({e}); buffered: {:?}",
                String::from_utf8_lossy(&self.buf)
            ),
        }
    }

    /// The exact bytes of the next reply.
    pub fn read_reply(&mut self) -> Vec<u8> {
        let mut progress = None;
        loop {
            if let Some(n) = reply_len_resumable(&self.buf, &mut progress) {
                return self.buf.drain(..n).collect();
            }
            assert!(
                self.fill(),
                "connection closed before a whole reply; buffered: {:?}",
                String::from_utf8_lossy(&self.buf)
            );
        }
    }

    /// Sends one request and returns its reply's exact bytes.
    pub fn cmd_raw(&mut self, args: &[&[u8]]) -> Vec<u8> {
        self.send(&encode(args));
        self.read_reply()
    }

    /// Sends one request and returns its reply in compact text form.
    pub fn cmd(&mut self, args: &[&str]) -> String {
        self.send(&encode_str(args));
        render(&self.read_reply())
    }

    /// Reads until the server closes the connection; returns everything read after
    /// what was already consumed. Panics if the connection stays open.
    pub fn read_to_eof(&mut self) -> Vec<u8> {
        while self.fill() {}
        std::mem::take(&mut self.buf)
    }
}

/// How long a restarted server may wait for the port and data directory of the
/// server killed before it to be released.
pub const RESTART_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause between two attempts at restarting.
const RESTART_POLL_INTERVAL: Duration = Duration::from_millis(10);

/// A data directory servers run on one after another; removed on drop.
pub struct DataDir(PathBuf);

impl DataDir {
    pub fn new(tag: &str) -> DataDir {
        DataDir(unique_dir(tag))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn shard(&self, shard: usize) -> PathBuf {
        self.0.join(format!("shard-{shard:03}"))
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Starts a server on `dir` on a fresh port and waits until it has loaded its data
/// (`wait_ready` waits for `loading:0`).
pub fn start_in(dir: &DataDir, args: &[&str]) -> Server {
    for _ in 0..START_ATTEMPTS {
        let mut server = Server::spawn_in(free_port(), dir.path(), args).expect("spawn");
        match server.wait_ready() {
            Ok(()) => return server,
            Err(log) if log.contains("Address already in use") => continue,
            Err(log) => panic!("corekv-server {args:?} did not start:\n{log}"),
        }
    }
    panic!("corekv-server {args:?} found no free port");
}

/// Starts a server again on `port` and `dir` after the previous one was killed, and
/// waits until it has loaded its data.
pub fn restart_in(port: u16, dir: &DataDir, args: &[&str]) -> Server {
    let deadline = Instant::now() + RESTART_TIMEOUT;
    loop {
        let mut server = Server::spawn_in(port, dir.path(), args).expect("spawn");
        match server.wait_ready() {
            Ok(()) => return server,
            Err(log)
                if (log.contains("Address already in use")
                    || log.contains("in use by another"))
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(RESTART_POLL_INTERVAL);
            }
            Err(log) => panic!("corekv-server {args:?} did not restart:\n{log}"),
        }
    }
}
