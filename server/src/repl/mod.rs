//! Replication at run time, shared by every core: the server's role, the state of
//! each shard's link to the master on a replica, and the replicas attached to a
//! master (what `INFO replication`, `ROLE` and `WAIT` report).
//!
//! The streams themselves: [`crate::repl::master`] (a master shard sending its
//! journal) and [`crate::repl::replica`] (a replica shard following it).
//! Role changes without lost writes: [`crate::repl::failover`] (Redis's
//! `FAILOVER`, run on the master) and [`crate::repl::handoff`] (the replica side
//! of a `SENTINEL FAILOVER`), both holding writes with [`crate::repl::pause`].
//!
//! # The offset a replica reports
//!
//! Sentinel promotes the replica with the highest `slave_repl_offset`, and Redis's
//! promise is that a write acknowledged by `WAIT 1` survives that. A corekv replica
//! holds one LSN per shard, and the sum of those does not keep the promise: a
//! replica that acknowledged a write on shard A can be outranked by one that lacks
//! it but is further ahead on shard B. So a replica reports the sum of the newest
//! master *checkpoint* it holds whole, and acknowledges that checkpoint to `WAIT`
//! ([`corekv_replication::checkpoint`] has the argument):
//!
//! ```text
//!  master                                         replica
//!  WAIT: last LSNs ──► checkpoint k (chain) ──►   CHECKPOINT k on each shard's
//!  every 100 ms of writes: written LSNs ──► k     stream, after its records
//!  streams send k once past its LSN ──────────►   Coverage: newest k received with
//!                                                 every LSN applied ──► INFO
//!  WAIT counts replicas that acked k   ◄───────   slave_repl_offset, ROLE; ACK k
//! ```
//!
//! Other designs considered: acknowledging per shard and summing (today's gap);
//! a global LSN across shards (one counter every write on every core would
//! contend on, against the shared-nothing design); checkpoints as journal records
//! (each would take an LSN on every shard and stay on disk, for a value that only
//! matters while replicas are connected). Checkpoints ride in the stream only, cost
//! a frame per shard every 100 ms of writes and per `WAIT`, and an idle replica
//! reports the master's `master_repl_offset` exactly. A replica holds its
//! checkpoints in memory: restarted, it reports 0 until its streams bring one, so
//! it ranks last rather than above a replica that acknowledged more.
//! `slave_read_repl_offset` keeps the sum of the LSNs applied; the master's
//! `slaveN:...offset=` is the sum of the LSNs each replica acknowledged.

pub mod failover;
pub mod gate;
pub mod handoff;
pub mod master;
pub mod pause;
pub mod replica;
pub mod role;
pub mod state;

use std::fmt::Write as _;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::runtime::clock::now_ms;
use crate::shard::answer::Answer;
use crate::shard::global::Global;
use crate::shard::mesh::Msg;
use crate::shard::stats::{repl_offset, CoreSnapshot};
use crate::shard::Core;
pub use role::{LinkState, MasterAddr};

/// The replication ids and the second id's offset (`-1` without one).
fn ids(global: &Global) -> (String, String, i64) {
    let r = global.replication.lock().expect("replication state");
    match &r.second {
        Some(s) => (
            r.replid.to_string(),
            s.replid.to_string(),
            s.switch_lsns.iter().sum::<u64>() as i64 + 1,
        ),
        None => (r.replid.to_string(), "0".repeat(40), -1),
    }
}

/// `INFO replication`.
pub fn info(global: &Global, snaps: &[CoreSnapshot], t: &mut String) {
    let (replid, replid2, second_offset) = ids(global);
    let offset = repl_offset(snaps);
    let state = global.repl.lock();
    let now = Instant::now();
    let reported = state.reported_offset(offset);
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
                "role:slave\r\nmaster_host:{}\r\nmaster_port:{}\r\nmaster_link_status:{}\r\nmaster_last_io_seconds_ago:{}\r\nmaster_sync_in_progress:{}\r\nslave_read_repl_offset:{offset}\r\nslave_repl_offset:{reported}\r\n",
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
    replica_lines(global, &state, now, t);
    let first = snaps.iter().map(|s| s.journal.first_lsn).sum::<u64>();
    let backlog: u64 = snaps.iter().map(|s| s.journal.size_bytes).sum();
    let _ = write!(
        t,
        "master_failover_state:{}\r\nmaster_replid:{replid}\r\nmaster_replid2:{replid2}\r\nmaster_repl_offset:{reported}\r\nsecond_repl_offset:{second_offset}\r\nrepl_backlog_active:{}\r\nrepl_backlog_size:{backlog}\r\nrepl_backlog_first_byte_offset:{first}\r\nrepl_backlog_histlen:{}\r\n",
        global.repl.failover.state().name(),
        (global.config.get("appendonly") == "yes") as u8,
        offset.saturating_sub(first),
    );
    for (i, s) in snaps.iter().enumerate() {
        let _ = write!(t, "shard{i}_repl_offset:{}\r\n", s.journal.last_lsn);
    }
}

/// `connected_slaves`, `min_slaves_good_slaves` (shown, as by Redis, while
/// `min-replicas-to-write` and `min-replicas-max-lag` are both set), and a
/// `slaveN` line per attached replica.
fn replica_lines(global: &Global, state: &role::ReplRuntime, now: Instant, t: &mut String) {
    let _ = write!(t, "connected_slaves:{}\r\n", state.attached.len());
    let hot = &global.config.hot;
    let max_lag_s = hot.min_replicas_max_lag_s.load(Ordering::Relaxed);
    if hot.min_replicas_to_write.load(Ordering::Relaxed) > 0 && max_lag_s > 0 {
        let good = state.good_replicas(global.shards, max_lag_s);
        let _ = write!(t, "min_slaves_good_slaves:{good}\r\n");
    }
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
}

/// `ROLE`, in Redis's reply format: a master's `offset` (its LSNs summed), a
/// replica's checkpoint offset as `INFO` reports it.
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
            out.int(state.coverage.offset() as i64);
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

/// `REPLICAOF NO ONE` on one shard: it journals its own changes again, from its last
/// LSN; answers [`Answer::Logged`].
pub fn promote() -> Msg {
    Msg::Control(Box::new(|core| {
        let before = core.shard.borrow().log().last_lsn();
        if core.journal.enabled {
            let mut shard = core.shard.borrow_mut();
            let last = shard.log().last_lsn();
            shard.log_mut().enable(last);
        }
        Answer::Logged(core.log_mark(before))
    }))
}

/// `WAIT`'s checkpoint: one at least at `lsns` (the shards' last LSNs when `WAIT`
/// started), made and sent by every core's streams at once. Returns its id, which
/// a replica must acknowledge to count.
pub async fn checkpoint(core: &Rc<Core>, lsns: &[u64]) -> u64 {
    let id = core.global.repl.lock().chain.make(lsns, now_ms());
    for s in 0..core.shards() {
        core.tell(s, master::wake_streams()).await;
    }
    id
}

/// Answers [`Answer::Logged`] with the shard's last LSN (`WAIT`).
pub fn last_lsn() -> Msg {
    Msg::Control(Box::new(|core| {
        let before = core.shard.borrow().log().last_lsn();
        Answer::Logged(core.log_mark(before))
    }))
}
