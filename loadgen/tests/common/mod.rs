//! Shared harness for the black-box tests: a real server on a free loopback port and
//! the built `corekv-loadgen` binary, both bounded in time.
//!
//! The server is `redis-server` unless `LOADGEN_TEST_SERVER` names another binary
//! that takes the same `--port`, `--save` and `--appendonly` flags (corekv-server);
//! `Server::start_binary` starts a given binary in a data directory of its own.

#![allow(dead_code)] // each test file uses its own subset of these helpers

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

const SERVER_START_TIMEOUT_MS: u64 = 10_000;
/// Longest a single loadgen invocation may take before the test kills it.
pub const LOADGEN_TIMEOUT_MS: u64 = 30_000;
const POLL_INTERVAL_MS: u64 = 10;
/// Fresh ports tried before a server's start counts as failed.
const SERVER_START_ATTEMPTS: u32 = 5;

/// The server binary under test, which must exist: a missing server fails the test.
fn server_binary() -> PathBuf {
    let name = std::env::var("LOADGEN_TEST_SERVER").unwrap_or_else(|_| "redis-server".to_string());
    let found = if name.contains('/') {
        Some(PathBuf::from(&name)).filter(|p| p.is_file())
    } else {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(&name))
                .find(|candidate| candidate.is_file())
        })
    };
    found.unwrap_or_else(|| {
        panic!(
            "server binary '{name}' not found: these tests need a Redis-protocol server \
             (install one with `apt-get install -y redis-server`, or set LOADGEN_TEST_SERVER)"
        )
    })
}

/// A loopback port nothing listens on, never one this process handed out before:
/// tests run in parallel threads, and two servers given the same port (the kernel
/// may hand a just-closed ephemeral port out again) would leave one test talking to
/// the other's server, or to nothing once that test ends.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
        let port = listener.local_addr().expect("local address").port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// A fresh, empty directory under the system temp directory, unique to this process.
fn scratch_dir() -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "corekv-loadgen-test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let dir = std::env::temp_dir().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a scratch directory");
    dir
}

/// A running server, stopped (even if paused) and reaped when dropped; its data
/// directory, if it has one of its own, is removed after it stopped.
pub struct Server {
    child: Child,
    pub port: u16,
    data_dir: Option<PathBuf>,
}

impl Server {
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    pub fn start_with(extra_args: &[&str]) -> Server {
        Server::spawn(&server_binary(), None, extra_args)
    }

    /// Starts `binary` with `--dir` set to a fresh scratch directory, so that servers
    /// which lock their data directory (corekv-server) can run side by side.
    pub fn start_binary(binary: &Path, extra_args: &[&str]) -> Server {
        Server::spawn(binary, Some(scratch_dir()), extra_args)
    }

    /// Starts `binary` on a free port and waits until it serves it. A port can be
    /// taken by another test's socket between [`free_port`] and the child's `bind`
    /// (the child then exits, while a connect to the port may still succeed: another
    /// server, or a socket connected to itself), so the server counts as started only
    /// once `INFO server` answers with its own `process_id`; otherwise it is retried on
    /// a fresh port.
    fn spawn(binary: &Path, data_dir: Option<PathBuf>, extra_args: &[&str]) -> Server {
        let password = extra_args
            .iter()
            .position(|&a| a == "--requirepass")
            .and_then(|i| extra_args.get(i + 1).copied());
        for _ in 0..SERVER_START_ATTEMPTS {
            let port = free_port();
            let mut command = Command::new(binary);
            command
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"]);
            if let Some(dir) = &data_dir {
                command.arg("--dir").arg(dir);
            }
            let mut child = command
                .args(extra_args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
            if wait_until_serving(&mut child, port, password) {
                return Server {
                    child,
                    port,
                    data_dir,
                };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!(
            "{} did not serve a port of its own in {SERVER_START_ATTEMPTS} attempts",
            binary.display()
        );
    }

    pub fn pid(&self) -> libc::pid_t {
        self.child.id() as libc::pid_t
    }

    /// Freezes the server process (SIGSTOP); `resume` thaws it.
    pub fn pause(&self) {
        // SAFETY: signalling our own child process.
        assert_eq!(unsafe { libc::kill(self.pid(), libc::SIGSTOP) }, 0);
    }

    pub fn resume(&self) {
        // SAFETY: signalling our own child process.
        assert_eq!(unsafe { libc::kill(self.pid(), libc::SIGCONT) }, 0);
    }

    pub fn client(&self) -> redis::Connection {
        self.client_with(None, 0)
    }

    /// A connection authenticated with `password` and using database `db`.
    pub fn client_with(&self, password: Option<&str>, db: u32) -> redis::Connection {
        let userinfo = password.map(|p| format!(":{p}@")).unwrap_or_default();
        let url = format!("redis://{userinfo}127.0.0.1:{}/{db}", self.port);
        redis::Client::open(url)
            .expect("valid URL")
            .get_connection_with_timeout(Duration::from_secs(5))
            .expect("connect to the test server")
    }

    /// `INFO section` as `(name, value)` pairs of its `name:value` lines.
    pub fn info(&self, section: &str) -> Vec<(String, String)> {
        let text: String = redis::cmd("INFO")
            .arg(section)
            .query(&mut self.client())
            .expect("INFO");
        text.lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect()
    }

    pub fn dbsize(&self) -> u64 {
        redis::cmd("DBSIZE")
            .query(&mut self.client())
            .expect("DBSIZE")
    }

    /// `calls` of `cmdstat_<command>` in `INFO commandstats`, 0 if never called.
    pub fn command_calls(&self, command: &str) -> u64 {
        let info: String = redis::cmd("INFO")
            .arg("commandstats")
            .query(&mut self.client())
            .expect("INFO commandstats");
        let prefix = format!("cmdstat_{}:calls=", command.to_ascii_lowercase());
        info.lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .map(|rest| {
                rest.split(',')
                    .next()
                    .unwrap()
                    .parse()
                    .expect("calls is a number")
            })
            .unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A paused server ignores SIGKILL only until it is continued; do both.
        // SAFETY: signalling our own child process.
        unsafe {
            libc::kill(self.pid(), libc::SIGCONT);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = &self.data_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Waits until `child` answers on `port` as itself: `false` if it exited, another
/// process answers there, or the start timeout passed.
fn wait_until_serving(child: &mut Child, port: u16, password: Option<&str>) -> bool {
    let deadline = Instant::now() + Duration::from_millis(SERVER_START_TIMEOUT_MS);
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return false;
        }
        match process_id(port, password) {
            Some(id) => return id == child.id(),
            None => thread::sleep(Duration::from_millis(POLL_INTERVAL_MS)),
        }
    }
    false
}

/// `process_id` from `INFO server` on `port` (authenticated with `password`),
/// `None` while nothing answers there.
fn process_id(port: u16, password: Option<&str>) -> Option<u32> {
    let userinfo = password.map(|p| format!(":{p}@")).unwrap_or_default();
    let url = format!("redis://{userinfo}127.0.0.1:{port}/");
    let mut conn = redis::Client::open(url)
        .ok()?
        .get_connection_with_timeout(Duration::from_millis(500))
        .ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let text: String = redis::cmd("INFO").arg("server").query(&mut conn).ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix("process_id:"))
        .and_then(|id| id.trim().parse().ok())
}

/// The result of one loadgen run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("--json output does not parse: {e}\n{}", self.describe()))
    }

    pub fn describe(&self) -> String {
        format!(
            "exit {}\nstdout:\n{}\nstderr:\n{}",
            self.code, self.stdout, self.stderr
        )
    }

    pub fn assert_success(&self) {
        assert_eq!(self.code, 0, "loadgen failed\n{}", self.describe());
    }
}

/// Runs the loadgen against `port` with whitespace-separated `args`.
pub fn loadgen(port: u16, args: &str) -> Run {
    loadgen_args(port, &args.split_whitespace().collect::<Vec<_>>())
}

/// Runs the loadgen against `port` with `args`, killing it after `LOADGEN_TIMEOUT_MS`.
pub fn loadgen_args(port: u16, args: &[&str]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_corekv-loadgen"));
    command
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args);
    run_bounded(command)
}

/// Runs the loadgen with exactly `args` (no host or port added).
pub fn loadgen_raw(args: &[&str]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_corekv-loadgen"));
    command.args(args);
    run_bounded(command)
}

fn run_bounded(mut command: Command) -> Run {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start corekv-loadgen");
    let stdout = drain(child.stdout.take().expect("piped stdout"));
    let stderr = drain(child.stderr.take().expect("piped stderr"));
    let deadline = Instant::now() + Duration::from_millis(LOADGEN_TIMEOUT_MS);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for corekv-loadgen") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("corekv-loadgen ran longer than {LOADGEN_TIMEOUT_MS} ms");
        }
        thread::sleep(Duration::from_millis(POLL_INTERVAL_MS));
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}
