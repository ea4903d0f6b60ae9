//! Replication at run time, shared by every core: the server's role, the state of
//! each shard's link to the master on a replica, and the replicas attached to a
//! master (what `INFO replication`, `ROLE` and `WAIT` report).
//!
//! The streams themselves: [`crate::repl::master`] (a master shard sending its
//! journal) and [`crate::repl::replica`] (a replica shard following it).

pub mod master;
pub mod replica;
pub mod state;

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use corekv_replication::master::WaitTracker;
use corekv_replication::replica::Lag;

use crate::shard::{CoreSnapshot, Global};

/// Where a replica's master is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterAddr {
    pub host: String,
    pub port: u16,
}

/// One shard's link to the master, in `ROLE`'s words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Not connected; connecting next.
    Connect,
    /// Connected; the handshake is under way.
    Connecting,
    /// A full sync is loading.
    Sync,
    /// Streaming records.
    Connected,
}

impl LinkState {
    fn name(self) -> &'static str {
        match self {
            LinkState::Connect => "connect",
            LinkState::Connecting => "connecting",
            LinkState::Sync => "sync",
            LinkState::Connected => "connected",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Link {
    pub state: LinkState,
    pub down_since: Instant,
    pub last_io: Instant,
    pub lag: Lag,
}

impl Link {
    fn new() -> Link {
        let now = Instant::now();
        Link {
            state: LinkState::Connect,
            down_since: now,
            last_io: now,
            lag: Lag::default(),
        }
    }
}

/// A replica attached to this master: its streams (one per shard) share it.
#[derive(Debug)]
struct Attached {
    id: u64,
    ip: String,
    port: u16,
    streams: usize,
    /// Streams still sending a full sync's snapshot.
    syncing: usize,
    last_ack: Instant,
}

#[derive(Debug)]
pub struct ReplRuntime {
    /// `Some` while this server is a replica.
    pub master: Option<MasterAddr>,
    /// Per shard, while a replica.
    pub links: Vec<Link>,
    /// Resyncs this replica's streams made, by kind.
    pub full_syncs: u64,
    pub partial_syncs: u64,
    attached: Vec<Attached>,
    acks: WaitTracker,
    next_id: u64,
}

/// Replication state every core shares.
#[derive(Debug)]
pub struct Repl {
    /// Bumped by every `REPLICAOF`: streams of an older epoch stop.
    pub epoch: AtomicU64,
    /// Read on every write command: a replica refuses them.
    pub replica: AtomicBool,
    pub state: Mutex<ReplRuntime>,
    /// Master side, per shard stream: Redis's `sync_full`, `sync_partial_ok`,
    /// `sync_partial_err`.
    pub sync_full: AtomicU64,
    pub sync_partial_ok: AtomicU64,
    pub sync_partial_err: AtomicU64,
    /// Per shard, the last LSN its journal writer put in the file: a stream sends
    /// a transaction part only once every participant's part is there, so a
    /// master that crashes and drops a half-written transaction never sent it.
    pub written: Vec<AtomicU64>,
}

impl Repl {
    pub fn new(shards: usize) -> Repl {
        Repl {
            epoch: AtomicU64::new(0),
            replica: AtomicBool::new(false),
            state: Mutex::new(ReplRuntime {
                master: None,
                links: vec![Link::new(); shards],
                full_syncs: 0,
                partial_syncs: 0,
                attached: Vec::new(),
                acks: WaitTracker::new(shards),
                next_id: 1,
            }),
            sync_full: AtomicU64::new(0),
            sync_partial_ok: AtomicU64::new(0),
            sync_partial_err: AtomicU64::new(0),
            written: (0..shards).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Whether every participant's part of a transaction is in its journal file.
    pub fn parts_written(&self, parts: &[corekv_engine::journal::Participant]) -> bool {
        parts.iter().all(|p| {
            self.written
                .get(p.shard as usize)
                .is_some_and(|w| w.load(Ordering::Acquire) >= p.lsn)
        })
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, ReplRuntime> {
        self.state.lock().expect("replication runtime")
    }

    pub fn is_replica(&self) -> bool {
        self.replica.load(Ordering::Acquire)
    }

    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Becomes a replica of `master` (or a master with `None`); returns the new
    /// epoch. Streams of the old epoch stop at their next step.
    pub fn set_master(&self, master: Option<MasterAddr>) -> u64 {
        let mut state = self.lock();
        self.replica.store(master.is_some(), Ordering::Release);
        state.master = master;
        for link in &mut state.links {
            *link = Link::new();
        }
        self.epoch.fetch_add(1, Ordering::AcqRel) + 1
    }
}

impl ReplRuntime {
    /// A master's stream from the replica at `ip` (client port `port`) opened.
    pub fn attach(&mut self, ip: &str, port: u16) -> u64 {
        if let Some(r) = self
            .attached
            .iter_mut()
            .find(|r| r.ip == ip && r.port == port)
        {
            r.streams += 1;
            return r.id;
        }
        let id = self.next_id;
        self.next_id += 1;
        self.acks.add(id);
        self.attached.push(Attached {
            id,
            ip: ip.to_string(),
            port,
            streams: 1,
            syncing: 0,
            last_ack: Instant::now(),
        });
        id
    }

    pub fn detach(&mut self, id: u64) {
        if let Some(at) = self.attached.iter().position(|r| r.id == id) {
            self.attached[at].streams -= 1;
            if self.attached[at].streams == 0 {
                self.attached.remove(at);
                self.acks.remove(id);
            }
        }
    }

    /// A stream of `id` starts (`true`) or ends (`false`) sending a snapshot.
    pub fn syncing(&mut self, id: u64, starts: bool) {
        if let Some(r) = self.attached.iter_mut().find(|r| r.id == id) {
            if starts {
                r.syncing += 1;
            } else {
                r.syncing = r.syncing.saturating_sub(1);
            }
        }
    }

    pub fn ack(&mut self, id: u64, shard: usize, lsn: u64) -> bool {
        if let Some(r) = self.attached.iter_mut().find(|r| r.id == id) {
            r.last_ack = Instant::now();
        }
        self.acks.ack(id, shard, lsn)
    }

    /// How many replicas acknowledged `targets[s]` on every shard `s`.
    pub fn replicas_reached(&self, targets: &[u64]) -> usize {
        self.acks.count_reached(targets)
    }

    fn attached_offset(&self, id: u64) -> u64 {
        self.acks.acked(id).map_or(0, |l| l.iter().sum())
    }
}

/// `INFO replication`.
pub fn info(global: &Global, snaps: &[CoreSnapshot], t: &mut String) {
    let (replid, replid2, second_offset) = {
        let r = global.replication.lock().expect("replication state");
        match &r.second {
            Some(s) => (
                r.replid.to_string(),
                s.replid.to_string(),
                s.switch_lsns.iter().sum::<u64>() as i64 + 1,
            ),
            None => (r.replid.to_string(), "0".repeat(40), -1),
        }
    };
    let offset = crate::info::repl_offset(snaps);
    let state = global.repl.lock();
    let now = Instant::now();
    let _ = write!(t, "# Replication\r\n");
    match &state.master {
        Some(m) => {
            let up = state.links.iter().all(|l| l.state == LinkState::Connected);
            let syncing = state.links.iter().any(|l| l.state == LinkState::Sync);
            let last_io = state
                .links
                .iter()
                .map(|l| now.duration_since(l.last_io).as_secs())
                .max()
                .unwrap_or(0);
            let config = &global.config;
            let _ = write!(
                t,
                "role:slave\r\nmaster_host:{}\r\nmaster_port:{}\r\nmaster_link_status:{}\r\nmaster_last_io_seconds_ago:{}\r\nmaster_sync_in_progress:{}\r\nslave_read_repl_offset:{offset}\r\nslave_repl_offset:{offset}\r\n",
                m.host,
                m.port,
                if up { "up" } else { "down" },
                if up { last_io as i64 } else { -1 },
                syncing as u8,
            );
            if !up {
                let down = state
                    .links
                    .iter()
                    .filter(|l| l.state != LinkState::Connected)
                    .map(|l| now.duration_since(l.down_since).as_secs())
                    .max()
                    .unwrap_or(0);
                let _ = write!(t, "master_link_down_since_seconds:{down}\r\n");
            }
            let _ = write!(
                t,
                "slave_priority:{}\r\nslave_read_only:1\r\nreplica_announced:{}\r\nreplica_serve_reads:{}\r\nreplica_full_syncs:{}\r\nreplica_partial_syncs:{}\r\n",
                config.get("replica-priority"),
                (config.get("replica-announced") == "yes") as u8,
                config.get("replica-serve-reads"),
                state.full_syncs,
                state.partial_syncs,
            );
            for (i, l) in state.links.iter().enumerate() {
                let _ = write!(
                    t,
                    "shard{i}_link:{}\r\nshard{i}_lag_records:{}\r\nshard{i}_lag_bytes:{}\r\nshard{i}_lag_ms:{}\r\n",
                    l.state.name(),
                    l.lag.records,
                    l.lag.bytes,
                    l.lag.ms_since_heartbeat.map_or(-1, |ms| ms as i64),
                );
            }
        }
        None => {
            let _ = write!(t, "role:master\r\n");
        }
    }
    let _ = write!(t, "connected_slaves:{}\r\n", state.attached.len());
    for (i, r) in state.attached.iter().enumerate() {
        let online = r.syncing == 0 && r.streams == global.shards;
        let _ = write!(
            t,
            "slave{i}:ip={},port={},state={},offset={},lag={}\r\n",
            r.ip,
            r.port,
            if online { "online" } else { "wait_bgsave" },
            state.attached_offset(r.id),
            now.duration_since(r.last_ack).as_secs(),
        );
    }
    let first = snaps.iter().map(|s| s.journal.first_lsn).sum::<u64>();
    let backlog: u64 = snaps.iter().map(|s| s.journal.size_bytes).sum();
    let _ = write!(
        t,
        "master_failover_state:no-failover\r\nmaster_replid:{replid}\r\nmaster_replid2:{replid2}\r\nmaster_repl_offset:{offset}\r\nsecond_repl_offset:{second_offset}\r\nrepl_backlog_active:{}\r\nrepl_backlog_size:{backlog}\r\nrepl_backlog_first_byte_offset:{first}\r\nrepl_backlog_histlen:{}\r\n",
        (global.config.get("appendonly") == "yes") as u8,
        offset.saturating_sub(first),
    );
    for (i, s) in snaps.iter().enumerate() {
        let _ = write!(t, "shard{i}_repl_offset:{}\r\n", s.journal.last_lsn);
    }
}

/// `ROLE`, in Redis's reply format.
pub fn role(global: &Global, offset: u64, out: &mut corekv_engine::resp::ReplyBuf) {
    use corekv_engine::resp::Reply;
    let state = global.repl.lock();
    match &state.master {
        Some(m) => {
            let states = state.links.iter().map(|l| l.state);
            let link = states
                .clone()
                .min_by_key(|s| *s as u8)
                .unwrap_or(LinkState::Connect);
            out.array(5);
            out.bulk(b"slave");
            out.bulk(m.host.as_bytes());
            out.int(m.port as i64);
            out.bulk(link.name().as_bytes());
            out.int(offset as i64);
        }
        None => {
            out.array(3);
            out.bulk(b"master");
            out.int(offset as i64);
            out.array(state.attached.len());
            for r in &state.attached {
                out.array(3);
                out.bulk(r.ip.as_bytes());
                out.bulk(r.port.to_string().as_bytes());
                out.bulk(state.attached_offset(r.id).to_string().as_bytes());
            }
        }
    }
}
