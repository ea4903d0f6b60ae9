//! Replication at run time, shared by every core: the server's role, the state of
//! each shard's link to the master on a replica, and the replicas attached to a
//! master; the master's checkpoint chain and the replica's coverage of it
//! ([`corekv_replication::checkpoint`], see [`crate::repl`]).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use corekv_replication::checkpoint::{Chain, Coverage};
use corekv_replication::master::WaitTracker;
use corekv_replication::replica::Lag;

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
    pub(super) fn name(self) -> &'static str {
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
pub(super) struct Attached {
    pub(super) id: u64,
    pub(super) ip: String,
    pub(super) port: u16,
    pub(super) streams: usize,
    /// Streams still sending a full sync's snapshot.
    pub(super) syncing: usize,
    pub(super) last_ack: Instant,
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
    pub(super) attached: Vec<Attached>,
    acks: WaitTracker,
    next_id: u64,
    /// A master's checkpoints (a new run at every role change).
    pub chain: Chain,
    /// A replica's checkpoints of its master and what it holds whole.
    pub coverage: Coverage,
}

/// `master_failover_state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FailoverState {
    None = 0,
    WaitingForSync = 1,
    InProgress = 2,
}

impl FailoverState {
    /// The name `INFO` shows.
    pub fn name(self) -> &'static str {
        match self {
            FailoverState::None => "no-failover",
            FailoverState::WaitingForSync => "waiting-for-sync",
            FailoverState::InProgress => "failover-in-progress",
        }
    }
}

/// The running `FAILOVER` ([`crate::repl::failover`])'s state, shared by every core.
#[derive(Debug, Default)]
pub struct Failover {
    state: AtomicU8,
    /// `FAILOVER ABORT` asked the waiting failover to stop.
    abort: AtomicBool,
}

impl Failover {
    pub fn state(&self) -> FailoverState {
        match self.state.load(Ordering::Acquire) {
            1 => FailoverState::WaitingForSync,
            2 => FailoverState::InProgress,
            _ => FailoverState::None,
        }
    }

    pub fn set(&self, state: FailoverState) {
        self.state.store(state as u8, Ordering::Release);
    }

    pub fn set_abort(&self, abort: bool) {
        self.abort.store(abort, Ordering::Release);
    }

    pub fn aborted(&self) -> bool {
        self.abort.load(Ordering::Acquire)
    }
}

/// Replication state every core shares.
#[derive(Debug)]
pub struct Repl {
    /// Bumped by every `REPLICAOF`: streams of an older epoch stop.
    pub epoch: AtomicU64,
    /// Read on every write command: a replica refuses them.
    pub replica: AtomicBool,
    /// A replica's links are all streaming (`master_link_status:up`).
    pub link_up: AtomicBool,
    /// While not 0, a master holds writes until this Unix millisecond
    /// ([`crate::repl::pause`]).
    pub pause_until_ms: AtomicU64,
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
    /// A master's `FAILOVER` ([`crate::repl::failover`]).
    pub failover: Failover,
    /// Per shard, `DEBUG REPL-HOLD`: a replica's stream applies nothing while set.
    pub held: Vec<AtomicBool>,
}

impl Repl {
    pub fn new(shards: usize) -> Repl {
        Repl {
            epoch: AtomicU64::new(0),
            replica: AtomicBool::new(false),
            link_up: AtomicBool::new(false),
            pause_until_ms: AtomicU64::new(0),
            state: Mutex::new(ReplRuntime {
                master: None,
                links: vec![Link::new(); shards],
                full_syncs: 0,
                partial_syncs: 0,
                attached: Vec::new(),
                acks: WaitTracker::new(shards),
                next_id: 1,
                chain: Chain::new(rand::random(), shards),
                coverage: Coverage::new(shards),
            }),
            sync_full: AtomicU64::new(0),
            sync_partial_ok: AtomicU64::new(0),
            sync_partial_err: AtomicU64::new(0),
            written: (0..shards).map(|_| AtomicU64::new(0)).collect(),
            failover: Default::default(),
            held: (0..shards).map(|_| AtomicBool::new(false)).collect(),
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
        // Checkpoints belong to one master: a replica starts over with its new
        // master, and this server's own chain (if it masters) starts a new run.
        let shards = state.links.len();
        state.chain = Chain::new(rand::random(), shards);
        state.coverage.reset();
        state.acks.reset_checkpoints();
        self.link_up.store(false, Ordering::Release);
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

    /// `REPLCONF ACK shard lsn run checkpoint` from replica `id`: the checkpoint
    /// counts only if it is of this master's current run.
    pub fn ack(&mut self, id: u64, shard: usize, lsn: u64, run: u64, checkpoint: u64) {
        if let Some(r) = self.attached.iter_mut().find(|r| r.id == id) {
            r.last_ack = Instant::now();
        }
        self.acks.ack(id, shard, lsn);
        if run == self.chain.run() {
            self.acks.ack_checkpoint(id, checkpoint);
        }
    }

    /// How many replicas acknowledged `targets[s]` on every shard `s`, and hold
    /// checkpoint `checkpoint` whole.
    pub fn replicas_reached(&self, targets: &[u64], checkpoint: u64) -> usize {
        self.acks.count_reached(targets, checkpoint)
    }

    /// Replicas with every one of `shards` streams online that acknowledged within
    /// `max_lag_s` seconds: Redis's good replicas (`min_slaves_good_slaves`).
    pub fn good_replicas(&self, shards: usize, max_lag_s: u64) -> u64 {
        let now = Instant::now();
        let good = self.attached.iter().filter(|r| {
            let online = r.syncing == 0 && r.streams == shards;
            online && now.duration_since(r.last_ack).as_secs() <= max_lag_s
        });
        good.count() as u64
    }

    /// Whether the replica announced as `host:port` has every one of `shards`
    /// streams online; `None` if no such replica is attached.
    pub fn replica_online(&self, host: &str, port: u16, shards: usize) -> Option<bool> {
        let r = self
            .attached
            .iter()
            .find(|r| r.ip == host && r.port == port)?;
        Some(r.syncing == 0 && r.streams == shards)
    }

    /// An online replica (`to`, if given) that acknowledged `lsns[s]` on every
    /// shard `s`: where a `FAILOVER` can hand the master role.
    pub fn synced_replica(
        &self,
        to: Option<&MasterAddr>,
        lsns: &[u64],
        shards: usize,
    ) -> Option<MasterAddr> {
        let r = self.attached.iter().find(|r| {
            let chosen = to.is_none_or(|t| t.host == r.ip && t.port == r.port);
            let online = r.syncing == 0 && r.streams == shards;
            let acked = self
                .acks
                .acked(r.id)
                .is_some_and(|a| a.iter().zip(lsns).all(|(have, want)| have >= want));
            chosen && online && acked
        })?;
        Some(MasterAddr {
            host: r.ip.clone(),
            port: r.port,
        })
    }

    /// The offset `INFO` and `ROLE` report: a master's `lsn_sum` (its shards'
    /// LSNs summed), a replica's checkpoint held whole ([`crate::repl`]).
    pub fn reported_offset(&self, lsn_sum: u64) -> u64 {
        match self.master {
            Some(_) => self.coverage.offset(),
            None => lsn_sum,
        }
    }

    pub(super) fn attached_offset(&self, id: u64) -> u64 {
        self.acks.acked(id).map_or(0, |l| l.iter().sum())
    }
}
