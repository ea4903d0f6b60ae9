//! Start-up and shutdown: configuration, the CPU set, refusing a busy port or a
//! locked data directory, the executors and the mesh between them, signals.

use std::fs::File;
use std::net::ToSocketAddrs;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Arg, ArgAction, Command};
use futures::future::{join, join_all};
use glommio::channels::shared_channel::{self, SharedReceiver, SharedSender};
use glommio::{LocalExecutorBuilder, Placement};
use rand::Rng;

use crate::config::{Config, PARAMS};
use crate::core::{now_ms, Core, Envelope, Global, Shutdown, MESH_CHANNEL_CAPACITY};
use crate::datadir;
use crate::journal::{open_segment, run_writer, Journal};
use crate::net::listener::{probe_port, Listen, Listeners};
use crate::recovery::{recover_all, Recovered};
use crate::session::Mode;

/// Memory each executor registers for io_uring buffers. glommio's 10 MiB default
/// exceeds the usual 8 MiB memlock limit for non-root users.
const EXECUTOR_IO_MEMORY_BYTES: usize = 1 << 20;
/// How often each shard runs an active-expiry tick (Redis's `hz 10`).
const ACTIVE_EXPIRE_INTERVAL: Duration = Duration::from_millis(100);
/// Background ticks between two checks for idle clients (once a second).
const IDLE_CHECK_EVERY_TICKS: u64 = 10;
/// Share of a core the background queue gets when requests compete for it.
/// Longest wait for the journal's last sync at shutdown.
const SHUTDOWN_SYNC_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a loading shard looks whether recovery handed it its data.
const RECOVERY_POLL_INTERVAL: Duration = Duration::from_millis(5);

/// Each shard's recovered data, handed from the recovery threads to its executor.
type Handoff = Arc<Vec<std::sync::Mutex<Option<Recovered>>>>;

fn cli() -> Command {
    let mut cmd = Command::new("corekv-server")
        // A parameter given twice takes the last value, as with redis-server.
        .args_override_self(true)
        .version(env!("CARGO_PKG_VERSION"))
        .about("A thread-per-core, shared-nothing Redis-protocol key-value server")
        .arg(
            Arg::new("config-file")
                .help("config file in redis.conf syntax (directive value lines)"),
        )
        .arg(
            Arg::new("list-backups")
                .long("list-backups")
                .action(ArgAction::SetTrue)
                .help("list the backup sets in dir (verifying each) and exit"),
        )
        .arg(
            Arg::new("canned-reply")
                .long("canned-reply")
                .action(ArgAction::SetTrue)
                .hide(true)
                .help("answer every request +OK without running it (measures the network driver)"),
        )
        .arg(
            Arg::new("verify-backup")
                .long("verify-backup")
                .value_name("PATH")
                .help("verify a backup set against its manifest and exit (0: intact)"),
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
                .aliases(crate::config::aliases_of(p.name))
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
    if let Some(set) = matches.get_one::<String>("verify-backup") {
        return match crate::backup::verify(std::path::Path::new(set)) {
            Ok(m) => {
                println!(
                    "{set}: ok ({} shards, {} keys, {} bytes)",
                    m.shards,
                    m.keys(),
                    m.bytes()
                );
                0
            }
            Err(e) => {
                eprintln!("{set}: {e}");
                1
            }
        };
    }
    if matches.get_flag("list-backups") {
        return match Config::load(file, &overrides) {
            Ok(config) => {
                crate::backup::print_list(std::path::Path::new(&config.get("dir")));
                0
            }
            Err(e) => {
                eprintln!("error: {e}");
                1
            }
        };
    }
    match start(file, &overrides, matches.get_flag("canned-reply")) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("corekv-server: {e}");
            1
        }
    }
}

fn start(
    file: Option<&str>,
    overrides: &[(String, String)],
    canned_reply: bool,
) -> Result<i32, String> {
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
    let restore_from = config.get("restore-from");
    if !restore_from.is_empty() {
        let dir = std::path::PathBuf::from(config.get("dir"));
        crate::backup::restore(std::path::Path::new(&restore_from), &dir, shards)?;
    }
    let replication = crate::replstate::ReplState::load_or_create(
        std::path::Path::new(&config.get("dir")),
        shards,
    )?;
    let master = parse_replicaof(&config.get("replicaof"))?;
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
        loading: std::sync::atomic::AtomicUsize::new(0),
        load_progress: Default::default(),
        persist: std::sync::Mutex::new(crate::core::PersistState::new(now_ms() / 1000)),
        replication: std::sync::Mutex::new(replication),
        repl: crate::repl::Repl::new(shards),
    });
    if master.is_some() {
        global.repl.set_master(master);
    }
    spawn_signal_thread(global.clone());
    log::info!(
        "corekv {} starting: port {port}, {shards} shards on CPUs {:?}, run_id {}",
        env!("CARGO_PKG_VERSION"),
        global.cpus,
        global.run_id
    );
    let mode = if canned_reply {
        Mode::CannedReply
    } else {
        Mode::Commands
    };
    run_executors(global, Listen { addrs, mode })
}

/// The `replicaof` parameter: empty, or `<host> <port>`.
fn parse_replicaof(value: &str) -> Result<Option<crate::repl::MasterAddr>, String> {
    let words: Vec<&str> = value.split_whitespace().collect();
    match words.as_slice() {
        [] => Ok(None),
        [no, one] if no.eq_ignore_ascii_case("no") && one.eq_ignore_ascii_case("one") => Ok(None),
        [host, port] => match port.parse::<u16>() {
            Ok(port) if port > 0 => Ok(Some(crate::repl::MasterAddr {
                host: host.to_string(),
                port,
            })),
            _ => Err(format!("invalid master port in replicaof '{value}'")),
        },
        _ => Err(format!("replicaof takes '<host> <port>', not '{value}'")),
    }
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

fn run_executors(global: Arc<Global>, listen: Listen) -> Result<i32, String> {
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
    let handoff = start_recovery(&global);
    let failed = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for (id, (tx_row, rx_row)) in senders.into_iter().zip(receivers).enumerate() {
        let global = global.clone();
        let listen = listen.clone();
        let failed = failed.clone();
        let handoff = handoff.clone();
        let cpu = global.cpus[id];
        let handle = LocalExecutorBuilder::new(Placement::Fixed(cpu))
            .name(&format!("shard-{id}"))
            .io_memory(EXECUTOR_IO_MEMORY_BYTES)
            .spawn(move || async move {
                let run = shard_main(id, global.clone(), tx_row, rx_row, listen, handoff);
                if let Err(e) = run.await {
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
    listen: Listen,
    handoff: Handoff,
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
    let journal = Journal::new(
        global.config.get("appendonly") == "yes",
        datadir::shard_dir(std::path::Path::new(&global.config.get("dir")), id),
    );
    let core = Rc::new_cyclic(|me| Core::new(id, global.clone(), senders, journal, me.clone()));
    if core.journal.enabled {
        glommio::spawn_local(install_recovered(core.clone(), handoff)).detach();
    }
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
    if global.repl.is_replica() {
        crate::repl_replica::start(&core, global.repl.epoch());
    }
    let listeners = Listeners::start(&core, &listen)?;
    if id == 0 {
        log::info!("ready to accept connections on {:?}", listen.addrs);
    }
    global.shutdown.wait().await;
    listeners.stop();
    if core.journal.enabled && !global.is_loading() {
        let last = core.shard.borrow().log().last_lsn();
        let synced = glommio::timer::timeout(SHUTDOWN_SYNC_TIMEOUT, async {
            core.journal.wait_durable(last).await;
            Ok(())
        });
        if synced.await.is_err() {
            log::warn!("shard {id}: the journal was not synced within {SHUTDOWN_SYNC_TIMEOUT:?}");
        }
    }
    Ok(())
}

/// Starts recovering every shard's data on threads of its own, so executors
/// answer `-LOADING` meanwhile. A failure (a damaged file) ends the process with
/// the message naming the file and offset.
fn start_recovery(global: &Arc<Global>) -> Handoff {
    let n = global.shards;
    let handoff: Handoff = Arc::new((0..n).map(|_| std::sync::Mutex::new(None)).collect());
    if global.config.get("appendonly") != "yes" {
        return handoff;
    }
    global.loading.store(n, Ordering::Release);
    let opts = crate::recovery::Options {
        dir: global.config.get("dir").into(),
        shards: n,
        truncate_corrupt: global.config.get("journal-truncate-corrupt") == "yes",
        seed: global.started_unix_s,
        follows_master: global.repl.is_replica(),
    };
    let slots = handoff.clone();
    let global = global.clone();
    std::thread::Builder::new()
        .name("recovery".into())
        .spawn(move || match recover_all(&opts, &global.load_progress) {
            Ok(recovered) => {
                for (slot, r) in slots.iter().zip(recovered) {
                    *slot.lock().expect("handoff") = Some(r);
                }
            }
            Err(e) => {
                log::error!("can't load the data in {}: {e}", opts.dir.display());
                std::process::exit(1);
            }
        })
        .expect("recovery thread");
    handoff
}

/// Takes this shard's recovered data when ready, opens its journal segment and
/// starts the writer; the last shard to finish ends `-LOADING`.
async fn install_recovered(core: Rc<Core>, handoff: Handoff) {
    let recovered = loop {
        if let Some(r) = handoff[core.id].lock().expect("handoff").take() {
            break r;
        }
        if core.global.shutdown.is_fired() {
            return;
        }
        glommio::timer::sleep(RECOVERY_POLL_INTERVAL).await;
    };
    let (first_lsn, path) = recovered.segment;
    let seg = match open_segment(&path, first_lsn).await {
        Ok(seg) => seg,
        Err(e) => {
            log::error!("can't open journal {}: {e}", path.display());
            std::process::exit(1);
        }
    };
    if let Err(e) = datadir::sync_dir(&core.journal.shard_dir) {
        log::error!("can't sync {}: {e}", core.journal.shard_dir.display());
        std::process::exit(1);
    }
    {
        let mut shard = core.shard.borrow_mut();
        let string_max = shard.string_max_bytes();
        *shard = recovered.shard;
        shard.set_string_max_bytes(string_max);
        shard.set_limits(core.global.config.collection_limits());
    }
    let (journal_bytes, snapshot_bytes) = datadir::list(&core.journal.shard_dir)
        .map(|l| {
            (
                datadir::total_size(l.segments.iter().map(|(_, p)| p)),
                datadir::total_size(l.snapshots.iter().map(|(_, p)| p)),
            )
        })
        .unwrap_or((recovered.journal_bytes, 0));
    core.journal
        .set_recovered(recovered.last_lsn, journal_bytes, snapshot_bytes);
    core.global.repl.written[core.id].store(recovered.last_lsn, Ordering::Release);
    core.journal.first_lsn.set(recovered.first_lsn);
    if recovered.cut_records {
        let mut repl = core.global.replication.lock().expect("replication state");
        match repl.new_history() {
            Ok(()) => log::warn!(
                "shard {}: records were cut off the journal; new replication id {}",
                core.id,
                repl.replid
            ),
            Err(e) => log::error!("can't store a new replication id: {e}"),
        }
    }
    glommio::spawn_local(run_writer(core.clone(), seg)).detach();
    if core.global.loading.fetch_sub(1, Ordering::AcqRel) == 1 {
        log::info!("DB loaded from disk");
    }
}

/// A shard's periodic work (Redis's `serverCron`/`clientsCron`): active expiry every
/// tick and closing idle clients (`timeout`) every second. It runs in its own
/// low-share task queue, so requests never wait behind it.
fn spawn_background(core: Rc<Core>) {
    let queue = core.background_queue();
    glommio::spawn_local_into(
        async move {
            let mut tick: u64 = 0;
            loop {
                glommio::timer::sleep(ACTIVE_EXPIRE_INTERVAL).await;
                tick += 1;
                if core.unlocked() {
                    // A replica's keys expire when its master's deletions arrive.
                    if !core.global.repl.is_replica() {
                        core.shard.borrow_mut().active_expire(now_ms());
                        core.kick_journal();
                    }
                    crate::saver::maybe_auto_rewrite(&core);
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
