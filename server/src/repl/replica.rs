//! A replica shard's side of its stream: each core follows its own shard of the
//! master over a connection of its own, so records are applied on the core that
//! owns the shard and no stream crosses cores.
//!
//! ```text
//!  connect ─► AUTH, REPLCONF listening-port, CKV.SYNC shard N <id> <last LSN + 1>
//!    +CONTINUE: records from there            +FULLRESYNC id L: snapshot frames
//!                                                 SNAPSHOT_END: the shard is replaced,
//!                                                 the journal reset to L + 1, a
//!                                                 snapshot of it written (the
//!                                                 full-sync marker guards the gap)
//!    RECORDS: checked, applied, appended to the journal unchanged (master LSNs)
//!    CHECKPOINT: counted in the replica's coverage (the offset INFO reports)
//!    REPLCONF ACK shard lsn run checkpoint: about once a second, after bursts
//!      and when a newer checkpoint is held whole
//!  any error or silence for repl-timeout ─► link down, reconnect a second later
//! ```
//!
//! Each shard's applied LSN and every checkpoint received go into the shared
//! [`Coverage`] (see [`crate::repl`]): any stream may complete a checkpoint that
//! another received, and that stream's next ack carries it.
//!
//! `DEBUG REPL-HOLD shard yes|no` (with `enable-debug-command`) stops a shard's
//! stream before it applies what it read: a replica behind on one shard only.
//!
//! The replica's own changes are not journaled (its log follows): lazy expiry may
//! drop an expired key locally, and the master's `DEL` for it follows.

use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use corekv_engine::error::CmdError;
use corekv_engine::shard::Shard;
use corekv_replication::ack::AckPolicy;
use corekv_replication::checkpoint::Coverage;
use corekv_replication::frame::FrameDecoder;
use corekv_replication::handshake::{
    ip_address_ok, Auth, Handshake, HandshakeConfig, Replconf, SyncReply, SyncRequest,
};
use corekv_replication::history::ReplId;
use corekv_replication::replica::{ReplicaStream, Step, StreamConfig};
use futures::channel::oneshot;
use futures::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;

use crate::persist::datadir;
use crate::persist::saver::{self, Target};
use crate::repl::role::{LinkState, MasterAddr};
use crate::runtime::clock::now_ms;
use crate::shard::answer::Answer;
use crate::shard::blocking::ReadySink;
use crate::shard::global::Global;
use crate::shard::mesh::Msg;
use crate::shard::Core;

/// Wait before connecting again after a link failed.
const RECONNECT_INTERVAL: Duration = Duration::from_secs(1);
/// How often a stream waiting for recovery or a journal rewrite looks again.
const POLL_INTERVAL: Duration = Duration::from_millis(10);
/// Bytes read from the socket per read call.
const READ_CHUNK_BYTES: usize = 256 * 1024;
/// Longest snapshot image a full sync accepts (it is held in memory to load).
const SNAPSHOT_IMAGE_BYTES_MAX: usize = 1 << 40;

/// Starts following the master on this core's shard for `epoch` (a `REPLICAOF`).
pub fn start(core: &Rc<Core>, epoch: u64) {
    glommio::spawn_local(follow_master(core.clone(), epoch)).detach();
}

/// Asks a shard to follow the master for `epoch` (see [`start`]).
pub fn follow(epoch: u64) -> Msg {
    Msg::Control(Box::new(move |core| {
        start(core, epoch);
        Answer::Done
    }))
}

/// `DEBUG REPL-HOLD <shard> <yes|no>`: holds or releases shard `shard`'s stream.
pub fn hold(g: &Global, shard: &[u8], on: &[u8]) -> Result<(), CmdError> {
    let held = std::str::from_utf8(shard)
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .and_then(|s| g.repl.held.get(s))
        .ok_or_else(|| CmdError::Raw("ERR shard out of range".into()))?;
    let on = match on.to_ascii_lowercase().as_slice() {
        b"yes" => true,
        b"no" => false,
        _ => return Err(CmdError::Syntax),
    };
    held.store(on, Ordering::Release);
    Ok(())
}

/// Updates the replica's coverage if `epoch` is still the current one; returns
/// whether the checkpoint held whole moved (an ack is then due).
fn cover(core: &Core, epoch: u64, update: impl FnOnce(&mut Coverage) -> bool) -> bool {
    let mut repl = core.global.repl.lock();
    core.global.repl.epoch() == epoch && update(&mut repl.coverage)
}

fn current(core: &Core, epoch: u64) -> bool {
    core.global.repl.epoch() == epoch && !core.global.shutdown.is_fired()
}

async fn follow_master(core: Rc<Core>, epoch: u64) {
    while core.global.is_loading() {
        if !current(&core, epoch) {
            return;
        }
        glommio::timer::sleep(POLL_INTERVAL).await;
    }
    if !current(&core, epoch) {
        return;
    }
    core.shard.borrow_mut().log_mut().follow();
    while current(&core, epoch) {
        let Some(master) = core.global.repl.lock().master.clone() else {
            return;
        };
        if let Err(e) = link(&core, epoch, &master).await {
            log::warn!(
                "shard {}: replication link to {}:{} failed: {e}",
                core.id,
                master.host,
                master.port
            );
        }
        set_link(&core, epoch, LinkState::Connect);
        if current(&core, epoch) {
            glommio::timer::sleep(RECONNECT_INTERVAL).await;
        }
    }
}

/// Sets this shard's link state (noting when the link went down), if `epoch` is
/// still the current one.
fn set_link(core: &Core, epoch: u64, state: LinkState) {
    let mut repl = core.global.repl.lock();
    if core.global.repl.epoch() != epoch {
        return;
    }
    let link = &mut repl.links[core.id];
    if state != LinkState::Connected && link.state == LinkState::Connected {
        link.down_since = Instant::now();
    }
    link.state = state;
    let up = repl.links.iter().all(|l| l.state == LinkState::Connected);
    core.global.repl.link_up.store(up, Ordering::Release);
}

/// Names a socket error; a read timeout is the master's silence.
fn io_error(timeout: Duration) -> impl Fn(std::io::Error) -> String {
    move |e| {
        if e.kind() == std::io::ErrorKind::TimedOut {
            format!("no data from the master for {} s", timeout.as_secs())
        } else {
            e.to_string()
        }
    }
}

/// One connection to the master: handshake, then frames until an error.
/// `Ok` when the epoch ended.
async fn link(core: &Rc<Core>, epoch: u64, master: &MasterAddr) -> Result<(), String> {
    let g = &core.global;
    let timeout = Duration::from_secs(g.config.get_u64("repl-timeout").max(1));
    set_link(core, epoch, LinkState::Connecting);
    let addr = format!("{}:{}", master.host, master.port);
    let mut stream = TcpStream::connect_timeout(addr.as_str(), timeout)
        .await
        .map_err(|e| format!("can't connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let request = {
        let repl = g.replication.lock().expect("replication state");
        SyncRequest {
            shard: core.id,
            shards: core.shards(),
            replid: repl.shard_replids[core.id],
            next_lsn: core.shard.borrow().log().last_lsn() + 1,
        }
    };
    let mut out = Vec::new();
    let mut handshake = start_handshake(g, request, &mut out);
    let io = io_error(timeout);
    stream.write_all(&out).await.map_err(&io)?;
    let mut scratch = vec![0u8; READ_CHUNK_BYTES];
    let mut input = Vec::new();
    let reply = loop {
        let n = stream.read(&mut scratch).await.map_err(&io)?;
        if n == 0 {
            return Err("the master closed the connection".into());
        }
        input.extend_from_slice(&scratch[..n]);
        let (used, reply) = handshake.read(&input).map_err(|e| e.to_string())?;
        input.drain(..used);
        if let Some(reply) = reply {
            break reply;
        }
    };
    if !current(core, epoch) {
        return Ok(());
    }
    let config = StreamConfig {
        shard_id: core.id,
        shards: core.shards(),
        shard_seed: g.started_unix_s,
        snapshot_bytes_max: SNAPSHOT_IMAGE_BYTES_MAX,
    };
    let replica = ReplicaStream::start(config, &request, reply).map_err(|e| e.to_string())?;
    match reply {
        SyncReply::Continue { replid, next_lsn } => {
            log::info!(
                "shard {}: continuing {replid} from LSN {next_lsn} with {addr}",
                core.id
            );
            if request.replid != Some(replid) {
                follow_history(core, Some(replid))?;
            }
            g.repl.lock().partial_syncs += 1;
            set_link(core, epoch, LinkState::Connected);
        }
        SyncReply::FullResync {
            replid,
            snapshot_lsn,
        } => {
            log::info!(
                "shard {}: full sync of {replid} at LSN {snapshot_lsn} from {addr}",
                core.id
            );
            follow_history(core, None)?;
            g.repl.lock().full_syncs += 1;
            set_link(core, epoch, LinkState::Sync);
        }
    }
    follow_stream(core, epoch, stream, replica, &input, timeout).await
}

/// Reads, applies and acknowledges the master's frames (`input`: those read with
/// the handshake's reply) until an error; `Ok` when the epoch ended.
async fn follow_stream(
    core: &Rc<Core>,
    epoch: u64,
    mut stream: TcpStream,
    mut replica: ReplicaStream,
    input: &[u8],
    timeout: Duration,
) -> Result<(), String> {
    let g = &core.global;
    let io = io_error(timeout);
    // A full sync's shard holds nothing of this history until it is loaded.
    let have = if replica.loading() {
        0
    } else {
        replica.applied_lsn()
    };
    cover(core, epoch, |c| c.applied(core.id, have));
    let mut decoder = FrameDecoder::new();
    decoder.feed(input);
    let mut acks = AckPolicy::default();
    let mut scratch = vec![0u8; READ_CHUNK_BYTES];
    loop {
        while g.repl.held[core.id].load(Ordering::Acquire) && current(core, epoch) {
            glommio::timer::sleep(POLL_INTERVAL).await;
        }
        if !apply_frames(core, epoch, &mut replica, &mut decoder, &mut acks).await? {
            return Ok(());
        }
        let now = now_ms();
        {
            let mut repl = g.repl.lock();
            if g.repl.epoch() == epoch {
                let link = &mut repl.links[core.id];
                link.last_io = Instant::now();
                link.lag = replica.lag(now);
            }
        }
        if let Some(lsn) = replica.ack_lsn() {
            if acks.due(now, decoder.buffered_bytes() == 0) {
                let best = g.repl.lock().coverage.best().map(|b| (b.run, b.id));
                let (run, checkpoint) = best.unwrap_or((0, 0));
                let mut ack = Vec::new();
                Replconf::Ack {
                    shard: core.id,
                    lsn,
                    run,
                    checkpoint,
                }
                .encode(&mut ack);
                stream.write_all(&ack).await.map_err(&io)?;
                acks.sent(now);
            }
        }
        let n = stream.read(&mut scratch).await.map_err(&io)?;
        if n == 0 {
            return Err("the master closed the connection".into());
        }
        decoder.feed(&scratch[..n]);
    }
}

/// Applies every whole frame `decoder` holds; false when the epoch ended.
async fn apply_frames(
    core: &Rc<Core>,
    epoch: u64,
    replica: &mut ReplicaStream,
    decoder: &mut FrameDecoder,
    acks: &mut AckPolicy,
) -> Result<bool, String> {
    loop {
        if !current(core, epoch) {
            return Ok(false);
        }
        let loaded = {
            let Some(frame) = decoder.next_frame().map_err(|e| e.to_string())? else {
                return Ok(true);
            };
            let mut shard = core.shard.borrow_mut();
            match replica
                .on_frame(frame, &mut shard)
                .map_err(|e| e.to_string())?
            {
                Step::Loaded(new) => Some(new),
                Step::Applied(applied) => {
                    if core.journal.enabled {
                        shard
                            .log_mut()
                            .append_records(applied.bytes, applied.last_lsn);
                    } else {
                        shard.log_mut().set_last_lsn(applied.last_lsn);
                    }
                    drop(shard);
                    core.kick_journal();
                    acks.applied(applied.records, applied.bytes.len() as u64);
                    if cover(core, epoch, |c| c.applied(core.id, applied.last_lsn)) {
                        acks.checkpoint();
                    }
                    None
                }
                Step::Checkpoint(checkpoint) => {
                    if cover(core, epoch, |c| c.received(checkpoint)) {
                        acks.checkpoint();
                    }
                    None
                }
                Step::SnapshotChunk(_) | Step::Heartbeat(_) => None,
            }
        };
        if let Some(new) = loaded {
            if !install(core, epoch, new, replica.replid()).await {
                return Ok(false);
            }
            let lsn = core.shard.borrow().log().last_lsn();
            if cover(core, epoch, |c| c.applied(core.id, lsn)) {
                acks.checkpoint();
            }
            set_link(core, epoch, LinkState::Connected);
        }
    }
}

/// Encodes the handshake into `out`: the master's credentials, the port (and
/// address) this replica is to be listed under, and the sync request.
fn start_handshake(g: &Global, request: SyncRequest, out: &mut Vec<u8>) -> Handshake {
    let password = g.config.get("masterauth");
    let user = g.config.get("masteruser");
    let auth = (!password.is_empty()).then(|| Auth {
        user: (!user.is_empty()).then_some(user.as_bytes()),
        password: password.as_bytes(),
    });
    let mut announce_ip = g.config.get("replica-announce-ip");
    if !announce_ip.is_empty() && !ip_address_ok(announce_ip.as_bytes()) {
        log::warn!("replica-announce-ip '{announce_ip}' can't be announced: not sent");
        announce_ip.clear();
    }
    let listening_port = match g.config.get_u64("replica-announce-port") as u16 {
        0 => g.port,
        announced => announced,
    };
    let config = HandshakeConfig {
        auth,
        listening_port,
        ip_address: (!announce_ip.is_empty()).then_some(announce_ip.as_bytes()),
        request,
    };
    Handshake::start(&config, out)
}

/// Stores which history this shard's data follows (`None`: being replaced).
fn follow_history(core: &Core, replid: Option<ReplId>) -> Result<(), String> {
    core.global
        .replication
        .lock()
        .expect("replication state")
        .follow(core.id, replid)
        .map_err(|e| format!("can't store the replication id: {e}"))
}

/// A full sync's shard replaces this one: the journal restarts after its LSN (the
/// shard then follows `replid`) and a snapshot of it is written, which ends the
/// full-sync marker. Returns false when the epoch ended before the shard was
/// replaced.
async fn install(core: &Rc<Core>, epoch: u64, new: Box<Shard>, replid: ReplId) -> bool {
    // A rewrite in progress would delete segments by the old history's LSNs.
    while core.journal.rewriting.get() {
        if !current(core, epoch) {
            return false;
        }
        glommio::timer::sleep(POLL_INTERVAL).await;
    }
    if !current(core, epoch) {
        return false;
    }
    let lsn = {
        let mut shard = core.shard.borrow_mut();
        let string_max = shard.string_max_bytes();
        *shard = *new;
        shard.keyspace_mut().add_sink(Box::new(ReadySink));
        shard.set_string_max_bytes(string_max);
        shard.set_limits(core.global.config.collection_limits());
        let eviction = core.global.config.eviction(core.shards());
        shard.keyspace_mut().set_eviction(eviction);
        shard.log().last_lsn()
    };
    crate::pubsub::notify::ensure_notifier(core);
    log::info!("shard {}: full sync loaded at LSN {lsn}", core.id);
    if !core.journal.enabled {
        if let Err(e) = follow_history(core, Some(replid)) {
            log::error!("shard {}: {e}", core.id);
        }
        return true;
    }
    core.journal.reset(lsn);
    // Once the marker is on disk, a crash starts the shard empty, and an empty
    // shard at LSN 0 may follow `replid`: it asks for every record from the first.
    // (The shard is replaced: even a promotion meanwhile needs the snapshot below.)
    while core.journal.resetting() && !core.global.shutdown.is_fired() {
        glommio::timer::sleep(POLL_INTERVAL).await;
    }
    if current(core, epoch) {
        if let Err(e) = follow_history(core, Some(replid)) {
            log::error!("shard {}: {e}", core.id);
        }
    }
    let (done, saved) = oneshot::channel();
    saver::start(core, Target::Rewrite, done);
    let core = core.clone();
    glommio::spawn_local(async move {
        match saved.await {
            Ok(Ok(_)) => {
                let dir = &core.journal.shard_dir;
                let removed = std::fs::remove_file(datadir::resync_marker(dir))
                    .and_then(|_| datadir::sync_dir(dir));
                if let Err(e) = removed {
                    log::error!("shard {}: {}: {e}", core.id, dir.display());
                }
            }
            Ok(Err(e)) => log::warn!(
                "shard {}: the snapshot after a full sync failed ({e}); a restart syncs in full again",
                core.id
            ),
            Err(_) => {}
        }
    })
    .detach();
    true
}
