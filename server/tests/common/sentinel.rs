//! Real `redis-sentinel` processes watching corekv servers, for the black-box tests:
//! [`Sentinel::start`] writes a sentinel config file into a fresh temporary
//! directory (loopback only, the master named [`MASTER_NAME`]), runs the installed
//! binary unmodified, and kills it on drop. [`Events`] follows a sentinel's event
//! channels (`+sdown`, `+odown`, `+switch-master`, ...) with the time each arrived.
//!
//! Also the replication views these tests poll: a server's `INFO` fields and
//! [`poll_until`], which fails with every server's `INFO replication` and log tail.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::reference::wait_serving;
use super::{free_port, info_value, unique_dir, Server, READ_TIMEOUT, START_ATTEMPTS};

/// The name the sentinels monitor the master under.
pub const MASTER_NAME: &str = "mymaster";
/// How long a sentinel may take to answer its first `PING`.
const SENTINEL_START_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause between two looks at something expected to happen soon.
pub const POLL_INTERVAL: Duration = Duration::from_millis(25);
/// Read timeout of the connections used for a failure report (the server may be
/// stopped).
const REPORT_TIMEOUT: Duration = Duration::from_secs(2);
/// Lines of each log in a failure report.
const REPORT_LOG_LINES: usize = 30;

/// Where sentinels keep their files: a memory filesystem when the machine has one.
/// A sentinel saves its config with `fsync` at every change of view, from its only
/// thread; on a disk busy with the servers' journals that call can block it for
/// longer than `down-after-milliseconds`, after which it takes every instance whose
/// `PONG` it has not read yet for down (and, right after a failover, counts the other
/// sentinels' votes on the old master toward the new one's objective failure).
const MEMORY_FS: &str = "/dev/shm";

fn memory_dir(tag: &str) -> PathBuf {
    let dir = unique_dir(tag);
    match (Path::new(MEMORY_FS).is_dir(), dir.file_name()) {
        (true, Some(name)) => Path::new(MEMORY_FS).join(name),
        _ => dir,
    }
}

/// How a sentinel watches the master.
#[derive(Debug, Clone, Copy)]
pub struct Watch {
    pub master_port: u16,
    pub quorum: u32,
    pub down_after_ms: u64,
    pub failover_timeout_ms: u64,
}

/// A running `redis-sentinel`; killed (SIGKILL) and its directory removed on drop.
pub struct Sentinel {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Sentinel {
    /// Starts a sentinel on a free loopback port watching `watch.master_port`, and
    /// waits until it answers `PING`.
    pub fn start(watch: Watch) -> Sentinel {
        let dir = memory_dir("sentinel");
        std::fs::create_dir_all(&dir).expect("sentinel dir");
        for _ in 0..START_ATTEMPTS {
            let port = free_port();
            let mut child = Sentinel::spawn(&watch, &dir, port);
            let deadline = Instant::now() + SENTINEL_START_TIMEOUT;
            if !wait_serving(&mut child, port, SENTINEL_START_TIMEOUT) {
                // The port was taken meanwhile: another one.
                let _ = child.kill();
                let _ = child.wait();
                continue;
            }
            let sentinel = Sentinel { child, port, dir };
            while sentinel.connection().is_err() {
                assert!(
                    Instant::now() < deadline,
                    "redis-sentinel did not start:\n{}",
                    sentinel.log_text()
                );
                std::thread::sleep(POLL_INTERVAL);
            }
            return sentinel;
        }
        panic!("redis-sentinel found no free port in {START_ATTEMPTS} attempts");
    }

    /// Writes the configuration for `port` and runs `redis-sentinel` on it.
    fn spawn(watch: &Watch, dir: &Path, port: u16) -> Child {
        let config = dir.join("sentinel.conf");
        let text = format!(
            "port {port}\nbind 127.0.0.1\ndaemonize no\ndir {dir}\nlogfile {log}\n\
             sentinel monitor {MASTER_NAME} 127.0.0.1 {master} {quorum}\n\
             sentinel down-after-milliseconds {MASTER_NAME} {down}\n\
             sentinel failover-timeout {MASTER_NAME} {failover}\n\
             sentinel parallel-syncs {MASTER_NAME} 1\n",
            dir = dir.display(),
            log = dir.join("sentinel.log").display(),
            master = watch.master_port,
            quorum = watch.quorum,
            down = watch.down_after_ms,
            failover = watch.failover_timeout_ms,
        );
        std::fs::write(&config, text).expect("sentinel config");
        Command::new("redis-sentinel")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run redis-sentinel (`apt-get install redis-sentinel`)")
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    fn connection(&self) -> redis::RedisResult<redis::Connection> {
        let client = redis::Client::open(format!("redis://127.0.0.1:{}", self.port))?;
        let mut con = client.get_connection_with_timeout(REPORT_TIMEOUT)?;
        con.set_read_timeout(Some(READ_TIMEOUT))?;
        redis::cmd("PING").query::<String>(&mut con)?;
        Ok(con)
    }

    /// `SENTINEL <args>` (a `SENTINEL` subcommand), as the `redis` crate decodes it.
    pub fn query<T: redis::FromRedisValue>(&self, args: &[&str]) -> redis::RedisResult<T> {
        let mut con = self.connection()?;
        redis::cmd("SENTINEL").arg(args).query(&mut con)
    }

    /// `SENTINEL GET-MASTER-ADDR-BY-NAME`: the master's port, if the sentinel knows it.
    pub fn master_port(&self) -> Option<u16> {
        let addr: Vec<String> = self.query(&["GET-MASTER-ADDR-BY-NAME", MASTER_NAME]).ok()?;
        addr.get(1)?.parse().ok()
    }

    /// A field of `SENTINEL MASTER` (`num-slaves`, `num-other-sentinels`, `flags`).
    pub fn master_field(&self, field: &str) -> Option<String> {
        let flat: Vec<String> = self.query(&["MASTER", MASTER_NAME]).ok()?;
        flat.chunks(2)
            .find(|kv| kv[0] == field)
            .map(|kv| kv[1].clone())
    }

    /// `SENTINEL REPLICAS`: each replica's fields.
    pub fn replicas(&self) -> Vec<Vec<(String, String)>> {
        let rows: Vec<Vec<String>> = self.query(&["REPLICAS", MASTER_NAME]).unwrap_or_default();
        rows.iter()
            .map(|flat| {
                flat.chunks(2)
                    .map(|kv| (kv[0].clone(), kv[1].clone()))
                    .collect()
            })
            .collect()
    }

    /// Follows every event the sentinel publishes, from now on.
    pub fn events(&self) -> Events {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let client =
            redis::Client::open(format!("redis://127.0.0.1:{}", self.port)).expect("sentinel URL");
        let mut con = client.get_connection().expect("connect to the sentinel");
        let (ready, subscribed) = std::sync::mpsc::channel();
        let thread = {
            let (seen, stop) = (seen.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut sub = con.as_pubsub();
                sub.psubscribe("*").expect("PSUBSCRIBE");
                sub.set_read_timeout(Some(POLL_INTERVAL)).expect("timeout");
                let _ = ready.send(());
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(msg) = sub.get_message() {
                        let payload: String = msg.get_payload().unwrap_or_default();
                        seen.lock().expect("events").push(Event {
                            channel: msg.get_channel_name().to_string(),
                            payload,
                            at: Instant::now(),
                        });
                    }
                }
            })
        };
        subscribed.recv().expect("subscribed");
        Events {
            seen,
            stop,
            thread: Some(thread),
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.dir.join("sentinel.log")).unwrap_or_default()
    }
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One sentinel event: its channel (`+switch-master`), payload, and arrival time.
#[derive(Debug, Clone)]
pub struct Event {
    pub channel: String,
    pub payload: String,
    pub at: Instant,
}

/// A pattern subscription to every channel of one sentinel, read by a thread.
pub struct Events {
    seen: Arc<Mutex<Vec<Event>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Events {
    /// Waits up to `timeout` for an event on `channel` and returns the first one
    /// seen (also one that arrived before this call).
    pub fn wait_for(&self, channel: &str, timeout: Duration) -> Option<Event> {
        let deadline = Instant::now() + timeout;
        loop {
            let found = self.find(channel);
            if found.is_some() || Instant::now() >= deadline {
                return found;
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// The first event seen on `channel`, if any.
    pub fn find(&self, channel: &str) -> Option<Event> {
        let seen = self.seen.lock().expect("events");
        seen.iter().find(|e| e.channel == channel).cloned()
    }

    /// Every event seen so far, for a failure message.
    pub fn seen(&self) -> String {
        let seen = self.seen.lock().expect("events");
        let lines: Vec<String> = seen
            .iter()
            .map(|e| format!("{} {}", e.channel, e.payload))
            .collect();
        lines.join("\n")
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `INFO <section>` of the server on `port`, or `None` if it does not answer.
pub fn info_of(port: u16, section: &str) -> Option<String> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).ok()?;
    let mut con = client.get_connection_with_timeout(REPORT_TIMEOUT).ok()?;
    con.set_read_timeout(Some(REPORT_TIMEOUT)).ok()?;
    redis::cmd("INFO").arg(section).query(&mut con).ok()
}

/// A field of `INFO replication` of the server on `port`.
pub fn repl_field(port: u16, field: &str) -> Option<String> {
    info_value(&info_of(port, "replication")?, field)
}

/// A numeric field of `INFO replication`; panics naming it when it is missing.
pub fn repl_number(port: u16, field: &str) -> u64 {
    repl_field(port, field)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no number {field} on port {port}"))
}

/// The replica on `replica` follows the master on `master` with its link up and
/// everything applied.
pub fn in_sync(master: u16, replica: u16) -> bool {
    let (Some(r), Some(m)) = (
        info_of(replica, "replication"),
        info_of(master, "replication"),
    ) else {
        return false;
    };
    let applied = info_value(&r, "slave_repl_offset");
    info_value(&r, "master_port") == Some(master.to_string())
        && info_value(&r, "master_link_status").as_deref() == Some("up")
        && applied.is_some()
        && applied == info_value(&m, "master_repl_offset")
}

/// `INFO replication` and the log tail of each server, and each sentinel's log tail.
pub fn report(servers: &[&Server], sentinels: &[Sentinel]) -> String {
    let tail = |text: String| {
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(REPORT_LOG_LINES)..].join("\n")
    };
    let mut out = String::new();
    for s in servers {
        let info = info_of(s.port(), "replication").unwrap_or_else(|| "(no answer)".into());
        out += &format!(
            "--- server {} ---\n{}\n--- its log ---\n{}\n",
            s.port(),
            info.trim_end(),
            tail(s.log_text())
        );
    }
    for s in sentinels {
        out += &format!("--- sentinel {} ---\n{}\n", s.port, tail(s.log_text()));
    }
    out
}

/// Polls `cond` until it holds; after `timeout` fails with `what` and `report()`.
pub fn poll_until(
    what: &str,
    timeout: Duration,
    report: impl Fn() -> String,
    mut cond: impl FnMut() -> bool,
) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        if Instant::now() >= deadline {
            panic!("{what}: not within {timeout:?}\n{}", report());
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}
