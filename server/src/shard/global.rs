//! What every core shares: configuration, process-wide facts and counters, and the
//! state persistence and replication keep for the whole process.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use crate::config::Config;
use crate::repl::role::Repl;
use crate::repl::state::ReplState;
use crate::runtime::shutdown::Shutdown;

/// What every core shares: configuration and process-wide facts and counters.
#[derive(Debug)]
pub struct Global {
    pub config: Config,
    pub shards: usize,
    pub cpus: Vec<usize>,
    pub port: u16,
    pub run_id: String,
    pub started: Instant,
    pub started_unix_s: u64,
    pub shutdown: Shutdown,
    pub next_client_id: AtomicU64,
    pub connected_clients: AtomicU64,
    pub total_connections: AtomicU64,
    pub rejected_connections: AtomicU64,
    /// Shards still loading their data: commands answer `-LOADING` until 0.
    pub loading: std::sync::atomic::AtomicUsize,
    pub load_progress: LoadProgress,
    pub persist: Mutex<PersistState>,
    /// The replication id naming this server's history.
    pub replication: Mutex<ReplState>,
    /// Role, links and attached replicas.
    pub repl: Repl,
    /// Which cores have pub/sub subscribers of what.
    pub pubsub: crate::pubsub::registry::Summary,
}

/// Bytes of snapshots and journals recovery reads, and how many it has read.
#[derive(Debug, Default)]
pub struct LoadProgress {
    pub started_unix_s: AtomicU64,
    pub total_bytes: AtomicU64,
    pub done_bytes: AtomicU64,
}

/// Process-wide persistence state for `INFO persistence`, `LASTSAVE` and the
/// background saves.
#[derive(Debug)]
pub struct PersistState {
    /// When the last backup set completed (Unix s); start-up time before any.
    pub last_save_unix_s: u64,
    /// Keyspace changes counted up to the last backup's cut.
    pub dirty_at_last_save: u64,
    pub bgsave_started: Option<Instant>,
    pub last_bgsave_ok: bool,
    pub last_bgsave_secs: i64,
    pub saves: u64,
    pub rewrite_started: Option<Instant>,
    pub last_rewrite_ok: bool,
    pub last_rewrite_secs: i64,
    pub rewrites: u64,
}

impl PersistState {
    pub fn new(now_unix_s: u64) -> Self {
        PersistState {
            last_save_unix_s: now_unix_s,
            dirty_at_last_save: 0,
            bgsave_started: None,
            last_bgsave_ok: true,
            last_bgsave_secs: -1,
            saves: 0,
            rewrite_started: None,
            last_rewrite_ok: true,
            last_rewrite_secs: -1,
            rewrites: 0,
        }
    }
}

impl Global {
    pub fn is_loading(&self) -> bool {
        self.loading.load(Ordering::Acquire) > 0
    }
}
