//! Start-up: the command line and configuration, the CPU set, refusing a busy port
//! or a locked data directory, then the executors ([`executor`]) until shutdown
//! ([`shutdown`]).

pub mod background;
pub mod cli;
pub mod clock;
pub mod cpus;
pub mod executor;
pub mod log;
pub mod service;
pub mod shutdown;

use std::fs::File;
use std::os::fd::AsRawFd;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

use rand::Rng;

use crate::config::Config;
use crate::net::listener::{bind_unix, probe_port, Driver, Listen};
use crate::session::Mode;
use crate::shard::global::{Global, PersistState};
use clock::now_ms;
use shutdown::Shutdown;

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

/// Starts the server and returns the process exit code when it stops.
pub fn run() -> i32 {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let run = match cli::parse(&args) {
        Ok(cli::Invocation::Run(run)) => run,
        Ok(cli::Invocation::Version) => {
            println!("{}", cli::version_line());
            return 0;
        }
        Ok(cli::Invocation::Help) => {
            print!("{}", cli::help_text());
            return 0;
        }
        Ok(cli::Invocation::PrintConfig) => {
            print!("{}", crate::config::sample::sample_config());
            return 0;
        }
        Ok(cli::Invocation::TestMemory) => {
            eprintln!("{}", cli::TEST_MEMORY_REFUSED);
            return 1;
        }
        Ok(cli::Invocation::VerifyBackup(set)) => return verify_backup(&set),
        Err(e) => {
            eprintln!("corekv-server: {e}\n(corekv-server --help lists the options)");
            return 1;
        }
    };
    let config = match run.load_config() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    if run.list_backups {
        crate::persist::backup::print_list(std::path::Path::new(&config.get("dir")));
        return 0;
    }
    match start(config, run.canned_reply) {
        Ok(code) => code,
        Err(e) => {
            log::fatal(&e);
            1
        }
    }
}

/// `--verify-backup`: 0 when the set is intact.
fn verify_backup(set: &str) -> i32 {
    match crate::persist::backup::verify(std::path::Path::new(set)) {
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
    }
}

fn start(config: Config, canned_reply: bool) -> Result<i32, String> {
    let background = service::runs_in_background(&config);
    if background {
        service::daemonize()?;
    }
    log::init_logging(&log::LogSettings::from_config(&config))?;
    let _pidfile = service::PidFile::create(&config, background)?;
    service::log_configuration(&config);
    let port = config.get_u64("port") as u16;
    if port == 0 {
        return Err("port 0 is not supported: give a TCP port".into());
    }
    let addrs = service::bind_addrs(&config.get("bind"), port)?;
    for a in &addrs {
        probe_port(*a)?;
    }
    let _dir_lock = lock_dir(&config.get("dir"))?;
    let cpu_list = config.get("cpus");
    let cpus = if cpu_list.is_empty() {
        cpus::affinity_cpus()
    } else {
        cpus::parse_cpu_list(&cpu_list)?
    };
    let shards = match config.get_u64("shards") as usize {
        0 => cpus.len(),
        n => n,
    };
    let restore_from = config.get("restore-from");
    if !restore_from.is_empty() {
        let dir = std::path::PathBuf::from(config.get("dir"));
        crate::persist::backup::restore(std::path::Path::new(&restore_from), &dir, shards)?;
    }
    let replication = crate::repl::state::ReplState::load_or_create(
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
        persist: std::sync::Mutex::new(PersistState::new(now_ms() / 1000)),
        replication: std::sync::Mutex::new(replication),
        repl: crate::repl::role::Repl::new(shards),
        pubsub: crate::pubsub::registry::Summary::new(shards),
    });
    if master.is_some() {
        global.repl.set_master(master);
    }
    log::set_global(global.clone());
    spawn_signal_thread(global.clone());
    log_start(&global);
    let mode = if canned_reply {
        Mode::CannedReply
    } else {
        Mode::Commands
    };
    let driver = Driver::parse(&global.config.get("io-driver"));
    let backlog = global.config.get_u64("tcp-backlog");
    let keepalive_s = global.config.get_u64("tcp-keepalive");
    let unix_path = global.config.get("unixsocket");
    let unix = listen_unix(&global, &unix_path, backlog)?;
    let listen = Listen::new(addrs, mode, driver)
        .with_tcp_options(backlog, keepalive_s)
        .with_unix(unix);
    serve(global, listen, &unix_path)
}

/// Runs the executors until shutdown, then removes the Unix socket file.
fn serve(global: Arc<Global>, listen: Listen, unix_path: &str) -> Result<i32, String> {
    let code = executor::run_executors(global, listen);
    if !unix_path.is_empty() {
        ::log::info!("Removing the unix socket file.");
        let _ = std::fs::remove_file(unix_path);
    }
    code
}

/// The `unixsocket` listening socket, if one is configured.
fn listen_unix(
    global: &Global,
    path: &str,
    backlog: u64,
) -> Result<Option<std::os::fd::OwnedFd>, String> {
    if path.is_empty() {
        return Ok(None);
    }
    let socket = bind_unix(path, &global.config.get("unixsocketperm"), backlog)?;
    ::log::info!("The server is now ready to accept connections at {path}");
    Ok(Some(socket))
}

/// The `replicaof` parameter: empty, or `<host> <port>`.
/// The start-up line: versions, port, shards and their CPUs.
fn log_start(global: &Global) {
    ::log::info!(
        "corekv {} (redis {}) starting: port {}, {} shards on CPUs {:?}, run_id {}",
        env!("CARGO_PKG_VERSION"),
        crate::version::REDIS_VERSION,
        global.port,
        global.shards,
        global.cpus,
        global.run_id
    );
}

/// SIGINT and SIGTERM fire the shutdown.
fn spawn_signal_thread(global: Arc<Global>) {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals =
        signal_hook::iterator::Signals::new([SIGINT, SIGTERM]).expect("signal handlers");
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            ::log::warn!("received signal {sig}, shutting down");
            global.shutdown.fire();
        }
    });
}

fn parse_replicaof(value: &str) -> Result<Option<crate::repl::role::MasterAddr>, String> {
    let words: Vec<&str> = value.split_whitespace().collect();
    match words.as_slice() {
        [] => Ok(None),
        [no, one] if no.eq_ignore_ascii_case("no") && one.eq_ignore_ascii_case("one") => Ok(None),
        [host, port] => match port.parse::<u16>() {
            Ok(port) if port > 0 => Ok(Some(crate::repl::role::MasterAddr {
                host: host.to_string(),
                port,
            })),
            _ => Err(format!("invalid master port in replicaof '{value}'")),
        },
        _ => Err(format!("replicaof takes '<host> <port>', not '{value}'")),
    }
}
