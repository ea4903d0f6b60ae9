//! Start-up and shutdown: configuration, the CPU set, refusing a busy port or a
//! locked data directory, the executors and the mesh between them, signals.

use std::fs::File;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Arg, ArgAction, Command};
use futures::future::{join, join_all};
use glommio::channels::shared_channel::{self, SharedReceiver, SharedSender};
use glommio::net::TcpListener;
use glommio::{Latency, LocalExecutorBuilder, Placement, Shares};
use rand::Rng;

use crate::config::{Config, PARAMS};
use crate::core::{now_ms, Core, Envelope, Global, Shutdown, MESH_CHANNEL_CAPACITY};

/// Memory each executor registers for io_uring buffers. glommio's 10 MiB default
/// exceeds the usual 8 MiB memlock limit for non-root users.
const EXECUTOR_IO_MEMORY_BYTES: usize = 1 << 20;
/// How often each shard runs an active-expiry tick (Redis's `hz 10`).
const ACTIVE_EXPIRE_INTERVAL: Duration = Duration::from_millis(100);
/// Background ticks between two checks for idle clients (once a second).
const IDLE_CHECK_EVERY_TICKS: u64 = 10;
/// Share of a core the background queue gets when requests compete for it.
const BACKGROUND_SHARES: usize = 10;
/// Pending connections each core's listener queues before accepting (glommio's).
const LISTEN_BACKLOG: i32 = 1024;

fn cli() -> Command {
    let mut cmd = Command::new("corekv-server")
        .version(env!("CARGO_PKG_VERSION"))
        .about("A thread-per-core, shared-nothing Redis-protocol key-value server")
        .arg(
            Arg::new("config-file")
                .help("config file in redis.conf syntax (directive value lines)"),
        );
    for p in PARAMS {
        let help = if p.default.is_empty() {
            p.help.to_string()
        } else {
            format!("{} [default: {}]", p.help, p.default)
        };
        cmd = cmd.arg(
            Arg::new(p.name)
                .long(p.name)
                .value_name("VALUE")
                .action(ArgAction::Set)
                .help(help),
        );
    }
    cmd
}

/// Parses a CPU list such as `0-3,6`.
pub fn parse_cpu_list(s: &str) -> Result<Vec<usize>, String> {
    let mut cpus = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || format!("invalid CPU list '{s}'");
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) =
                    (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
                if a > b {
                    return Err(bad());
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(part.parse().map_err(|_| bad())?),
        }
    }
    if cpus.is_empty() {
        return Err(format!("invalid CPU list '{s}'"));
    }
    Ok(cpus)
}

fn affinity_cpus() -> Vec<usize> {
    // SAFETY: sched_getaffinity fills the zeroed set we own.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let ok =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) }
            == 0;
    if !ok {
        return vec![0];
    }
    (0..libc::CPU_SETSIZE as usize)
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect()
}

/// Fails when another process already listens on `addr`. Our own listeners use
/// SO_REUSEPORT, so without this check a second server would silently share the port.
fn probe_port(addr: SocketAddr) -> Result<(), String> {
    std::net::TcpListener::bind(addr).map(drop).map_err(|e| {
        format!("can't listen on {addr}: {e} (is another server running on this port?)")
    })
}

/// One core's listening socket: `SO_REUSEPORT` so that every core listens on the port,
/// and `SO_REUSEADDR` (as Redis sets) so that a restarted server can listen at once
/// while connections the previous one closed linger in TIME_WAIT on the port. glommio's
/// `TcpListener::bind` sets only the first; without the second, the TIME_WAIT sockets
/// also fail [`probe_port`] for a minute after a shutdown.
fn bind_listener(addr: SocketAddr) -> std::io::Result<OwnedFd> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM.cloexec(), None)?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket.into())
}

/// Creates and locks the data directory; the lock lives as long as the returned file.
fn lock_dir(dir: &str) -> Result<File, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("can't create data directory {dir}: {e}"))?;
    let path = std::path::Path::new(dir).join("corekv.lock");
    let file = File::create(&path).map_err(|e| format!("can't open {}: {e}", path.display()))?;
    // SAFETY: flock on a descriptor we own.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        return Err(format!(
            "data directory {dir} is in use by another corekv-server"
        ));
    }
    Ok(file)
}

fn run_id() -> String {
    let mut rng = rand::thread_rng();
    (0..40)
        .map(|_| char::from_digit(rng.gen_range(0..16), 16).expect("hex digit"))
        .collect()
}

struct Logger {
    level: log::LevelFilter,
}

impl log::Log for Logger {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= self.level
    }
    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            let ms = now_ms();
            eprintln!(
                "{}.{:03} {} {} {}",
                ms / 1000,
                ms % 1000,
                std::process::id(),
                r.level(),
                r.args()
            );
        }
    }
    fn flush(&self) {}
}

fn init_logging(level: &str) {
    let level = match level {
        "debug" => log::LevelFilter::Debug,
        "verbose" => log::LevelFilter::Info,
        "notice" => log::LevelFilter::Info,
        _ => log::LevelFilter::Warn,
    };
    let logger = Box::leak(Box::new(Logger { level }));
    if log::set_logger(logger).is_ok() {
        log::set_max_level(level);
    }
}

/// Starts the server and returns the process exit code when it stops.
pub fn run() -> i32 {
    let matches = cli().get_matches();
    let overrides: Vec<(String, String)> = PARAMS
        .iter()
        .filter_map(|p| {
            matches
                .get_one::<String>(p.name)
                .map(|v| (p.name.to_string(), v.clone()))
        })
        .collect();
    let file = matches.get_one::<String>("config-file").map(String::as_str);
    match start(file, &overrides) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("corekv-server: {e}");
            1
        }
    }
}

fn start(file: Option<&str>, overrides: &[(String, String)]) -> Result<i32, String> {
    let config = Config::load(file, overrides)?;
    init_logging(&config.get("loglevel"));
    let port = config.get_u64("port") as u16;
    if port == 0 {
        return Err("port 0 is not supported: give a TCP port".into());
    }
    let mut addrs = Vec::new();
    for host in config.get("bind").split_whitespace() {
        let host = host.trim_start_matches('-');
        let found = (host, port)
            .to_socket_addrs()
            .map_err(|e| format!("bad bind address {host}: {e}"))?;
        addrs.extend(found);
    }
    if addrs.is_empty() {
        return Err("no bind address".into());
    }
    for a in &addrs {
        probe_port(*a)?;
    }
    let _dir_lock = lock_dir(&config.get("dir"))?;
    let cpu_list = config.get("cpus");
    let cpus = if cpu_list.is_empty() {
        affinity_cpus()
    } else {
        parse_cpu_list(&cpu_list)?
    };
    let shards = match config.get_u64("shards") as usize {
        0 => cpus.len(),
        n => n,
    };
    let global = Arc::new(Global {
        config,
        shards,
        cpus: (0..shards).map(|i| cpus[i % cpus.len()]).collect(),
        port,
        run_id: run_id(),
        started: Instant::now(),
        started_unix_s: now_ms() / 1000,
        shutdown: Shutdown::default(),
        next_client_id: AtomicU64::new(1),
        connected_clients: AtomicU64::new(0),
        total_connections: AtomicU64::new(0),
        rejected_connections: AtomicU64::new(0),
    });
    spawn_signal_thread(global.clone());
    log::info!(
        "corekv {} starting: port {port}, {shards} shards on CPUs {:?}, run_id {}",
        env!("CARGO_PKG_VERSION"),
        global.cpus,
        global.run_id
    );
    run_executors(global, addrs)
}

fn spawn_signal_thread(global: Arc<Global>) {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals =
        signal_hook::iterator::Signals::new([SIGINT, SIGTERM]).expect("signal handlers");
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            log::warn!("received signal {sig}, shutting down");
            global.shutdown.fire();
        }
    });
}

type Row<T> = Vec<Option<T>>;

fn run_executors(global: Arc<Global>, addrs: Vec<SocketAddr>) -> Result<i32, String> {
    let n = global.shards;
    let mut senders: Vec<Row<SharedSender<Envelope>>> =
        (0..n).map(|_| (0..n).map(|_| None).collect()).collect();
    let mut receivers: Vec<Row<SharedReceiver<Envelope>>> =
        (0..n).map(|_| (0..n).map(|_| None).collect()).collect();
    for (i, row) in senders.iter_mut().enumerate() {
        for (j, slot) in row.iter_mut().enumerate() {
            if i != j {
                let (s, r) = shared_channel::new_bounded(MESH_CHANNEL_CAPACITY);
                *slot = Some(s);
                receivers[j][i] = Some(r);
            }
        }
    }
    let failed = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for (id, (tx_row, rx_row)) in senders.into_iter().zip(receivers).enumerate() {
        let global = global.clone();
        let addrs = addrs.clone();
        let failed = failed.clone();
        let cpu = global.cpus[id];
        let handle = LocalExecutorBuilder::new(Placement::Fixed(cpu))
            .name(&format!("shard-{id}"))
            .io_memory(EXECUTOR_IO_MEMORY_BYTES)
            .spawn(move || async move {
                if let Err(e) = shard_main(id, global.clone(), tx_row, rx_row, addrs).await {
                    log::error!("shard {id}: {e}");
                    failed.store(true, Ordering::SeqCst);
                    global.shutdown.fire();
                }
            })
            .map_err(|e| format!("can't start executor {id} on CPU {cpu}: {e}"))?;
        handles.push(handle);
    }
    for h in handles {
        let _ = h.join();
    }
    log::warn!("corekv is now ready to exit, bye bye...");
    Ok(if failed.load(Ordering::SeqCst) { 1 } else { 0 })
}

async fn shard_main(
    id: usize,
    global: Arc<Global>,
    senders: Row<SharedSender<Envelope>>,
    receivers: Row<SharedReceiver<Envelope>>,
    addrs: Vec<SocketAddr>,
) -> Result<(), String> {
    // Connect every channel end at once: each connect waits for its peer's.
    let connect_senders = join_all(senders.into_iter().map(|s| async move {
        match s {
            Some(s) => Some(s.connect().await),
            None => None,
        }
    }));
    let connect_receivers = join_all(receivers.into_iter().map(|r| async move {
        match r {
            Some(r) => Some(r.connect().await),
            None => None,
        }
    }));
    let (senders, receivers) = join(connect_senders, connect_receivers).await;
    let core = Rc::new(Core::new(id, global.clone(), senders));
    for rx in receivers.into_iter().flatten() {
        let core = core.clone();
        glommio::spawn_local(async move {
            while let Some(env) = rx.recv().await {
                core.deliver(env);
            }
        })
        .detach();
    }
    spawn_background(core.clone());
    let mut sockets = Vec::new();
    for addr in &addrs {
        sockets.push(bind_listener(*addr).map_err(|e| format!("can't listen on {addr}: {e}"))?);
    }
    let listening_fds: Vec<RawFd> = sockets.iter().map(AsRawFd::as_raw_fd).collect();
    for socket in sockets {
        // SAFETY: a bound, listening TCP socket whose ownership passes to the listener.
        let listener = unsafe { TcpListener::from_raw_fd(socket.into_raw_fd()) };
        let core = core.clone();
        glommio::spawn_local(async move {
            loop {
                match listener.accept().await {
                    Ok(stream) => {
                        glommio::spawn_local(crate::conn::serve(core.clone(), stream)).detach();
                    }
                    Err(_) if core.global.shutdown.is_fired() => return,
                    Err(e) => {
                        log::warn!("accept failed: {e}");
                        glommio::timer::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
        })
        .detach();
    }
    if id == 0 {
        log::info!("ready to accept connections on {:?}", addrs);
    }
    global.shutdown.wait().await;
    stop_listening(&listening_fds);
    Ok(())
}

/// Takes this core's listeners out of the LISTEN state before the executor ends. The
/// pending io_uring accept holds the socket open until the kernel tears the ring down,
/// some milliseconds after the process exited; a server restarted meanwhile would find
/// the port still listened on.
fn stop_listening(fds: &[RawFd]) {
    for &fd in fds {
        // SAFETY: shutdown(2) on a listening socket owned by this core's accept task,
        // which lives until the executor ends; it neither closes nor frees the fd.
        unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
    }
}

/// A shard's periodic work (Redis's `serverCron`/`clientsCron`): active expiry every
/// tick and closing idle clients (`timeout`) every second. It runs in its own
/// low-share task queue, so requests never wait behind it.
fn spawn_background(core: Rc<Core>) {
    let queue = glommio::executor().create_task_queue(
        Shares::Static(BACKGROUND_SHARES),
        Latency::NotImportant,
        "background",
    );
    glommio::spawn_local_into(
        async move {
            let mut tick: u64 = 0;
            loop {
                glommio::timer::sleep(ACTIVE_EXPIRE_INTERVAL).await;
                tick += 1;
                if core.unlocked() {
                    core.shard.borrow_mut().active_expire(now_ms());
                }
                if tick.is_multiple_of(IDLE_CHECK_EVERY_TICKS) {
                    let timeout_s = core.global.config.hot.timeout_s.load(Ordering::Relaxed);
                    if timeout_s > 0 {
                        core.clients
                            .borrow()
                            .close_idle(Duration::from_secs(timeout_s));
                    }
                }
            }
        },
        queue,
    )
    .expect("background task queue")
    .detach();
}

#[cfg(test)]
mod tests {
    use super::parse_cpu_list;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-3,6").unwrap(), vec![0, 1, 2, 3, 6]);
        assert_eq!(parse_cpu_list("1").unwrap(), vec![1]);
        assert!(parse_cpu_list("3-1").is_err());
        assert!(parse_cpu_list("x").is_err());
    }
}
