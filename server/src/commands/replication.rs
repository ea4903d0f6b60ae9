//! The replication commands: `REPLICAOF`/`SLAVEOF`, `WAIT`, `ROLE`, the two a
//! replica sends on a stream before it syncs, `REPLCONF` and `CKV.SYNC`, and
//! `CKV.PAUSE`, which a replica Sentinel promotes sends its master first
//! ([`crate::repl::handoff`]).

use std::rc::Rc;
use std::time::{Duration, Instant};

use corekv_engine::command::flags::*;
use corekv_engine::command::CommandSpec;
use corekv_engine::error::{AdminError, CmdError, CmdResult};
use corekv_engine::resp::{parse_i64, Args, Reply, ReplyBuf};
use corekv_replication::handshake::{Replconf, SyncRequest};
use corekv_replication::history::Refusal;
use futures::future::LocalBoxFuture;

use super::{srv, Handler};
use crate::commands::requests::{Core, Msg};
use crate::repl::master::HandOver;
use crate::repl::{handoff, pause, MasterAddr};
use crate::session::client::Client;

/// How often `WAIT` looks at the replicas' acknowledgements.
const WAIT_POLL_INTERVAL: Duration = Duration::from_millis(5);

/// `REPLICAOF host port` / `REPLICAOF NO ONE`.
fn replicaof<'a>(
    core: &'a Rc<Core>,
    client: &'a mut Client,
    args: &'a Args,
    out: &'a mut ReplyBuf,
) -> LocalBoxFuture<'a, CmdResult> {
    let name = client.info.borrow().name.clone();
    Box::pin(replicaof_to(core, name, args, out))
}

async fn replicaof_to(
    core: &Rc<Core>,
    client_name: String,
    args: &Args,
    out: &mut ReplyBuf,
) -> CmdResult {
    let g = &core.global;
    if g.repl.failover.state() != crate::repl::role::FailoverState::None {
        return Err(CmdError::Raw(
            "ERR REPLICAOF not allowed while failing over.".into(),
        ));
    }
    let (host, port) = (&args[1], &args[2]);
    if host.eq_ignore_ascii_case(b"no") && port.eq_ignore_ascii_case(b"one") {
        if g.repl.is_replica() {
            let handoff = match handoff::planned(core, &client_name) {
                true => prepare_handoff(core).await,
                false => None,
            };
            promote(core).await?;
            if let Some(handoff) = handoff {
                match handoff.finish().await {
                    Ok(me) => log::warn!(
                        "planned switchover: the old master follows this server as {}:{}",
                        me.host,
                        me.port
                    ),
                    Err(e) => log::warn!("planned switchover: the old master not repointed: {e}"),
                }
            }
        }
        g.config.set_internal("replicaof", "");
        out.ok();
        return Ok(());
    }
    let port = match parse_i64(port) {
        Some(p) if (1..=65535).contains(&p) => p as u16,
        _ => return Err(AdminError::InvalidMasterPort.into()),
    };
    let master = MasterAddr {
        host: String::from_utf8_lossy(host).into_owned(),
        port,
    };
    if g.repl.lock().master.as_ref() == Some(&master) {
        out.simple(b"OK Already connected to specified master");
        return Ok(());
    }
    log::warn!("replicating {}:{} (REPLICAOF)", master.host, master.port);
    let value = format!("{} {}", master.host, master.port);
    g.config.set_internal("replicaof", &value);
    let epoch = g.repl.set_master(Some(master));
    // Writes held by a switchover now find a replica and are refused.
    pause::end(g);
    for s in 0..core.shards() {
        core.call(s, None, Msg::Follow(epoch)).await;
    }
    out.ok();
    Ok(())
}

/// Pauses the master's writes and catches up with it before a promotion Sentinel
/// asked for while the master is up; `None` (a plain promotion) if that fails.
async fn prepare_handoff(core: &Rc<Core>) -> Option<handoff::Handoff> {
    let master = core.global.repl.lock().master.clone()?;
    let lsns = || core.last_lsns(|| Msg::LastLsn);
    match handoff::prepare(core, &master, lsns).await {
        Ok(h) => Some(h),
        Err(e) => {
            log::warn!(
                "planned switchover with {}:{} not possible ({e}): promoting alone",
                master.host,
                master.port
            );
            None
        }
    }
}

/// `CKV.PAUSE ms`: holds writes for `ms` milliseconds and answers, once the writes
/// already running are done, `+PAUSED` with each shard's last LSN (the first step
/// of a planned switchover, sent by the replica being promoted).
fn pause_writes<'a>(
    core: &'a Rc<Core>,
    _: &'a mut Client,
    args: &'a Args,
    out: &'a mut ReplyBuf,
) -> LocalBoxFuture<'a, CmdResult> {
    Box::pin(async move {
        let ms = match parse_i64(&args[1]) {
            Some(ms) if ms > 0 => (ms as u64).min(handoff::PAUSE_MS),
            _ => return Err(AdminError::TimeoutNotInteger.into()),
        };
        pause::start(&core.global, ms);
        let lsns = pause::settled_lsns(core).await;
        let lsns: Vec<String> = lsns.iter().map(u64::to_string).collect();
        out.simple(format!("PAUSED {}", lsns.join(" ")).as_bytes());
        Ok(())
    })
}

/// Becomes a master at once: the streams stop, every shard journals its own
/// changes from its last LSN, and the followed id becomes the second id.
async fn promote(core: &Rc<Core>) -> CmdResult {
    let g = &core.global;
    g.repl.set_master(None);
    // Each shard answers after any frame being applied: the LSNs are final.
    let lsns = core.last_lsns(|| Msg::Promote).await;
    let mut state = g.replication.lock().expect("replication state");
    state
        .promote(lsns.clone())
        .map_err(|e| AdminError::ReplIdStore(e.to_string()))?;
    log::warn!(
        "promoted to master (REPLICAOF NO ONE): replication id {}, second id continues to LSNs {lsns:?}",
        state.replid
    );
    Ok(())
}

/// `WAIT numreplicas timeout`: how many replicas acknowledged, on every shard, the
/// records there when `WAIT` started (which include this client's writes), and the
/// checkpoint made of them (so their reported offset ranks them above any replica
/// that lacks those writes, see [`crate::repl`]).
fn wait<'a>(
    core: &'a Rc<Core>,
    _: &'a mut Client,
    args: &'a Args,
    out: &'a mut ReplyBuf,
) -> LocalBoxFuture<'a, CmdResult> {
    Box::pin(wait_for_replicas(core, args, out))
}

async fn wait_for_replicas(core: &Rc<Core>, args: &Args, out: &mut ReplyBuf) -> CmdResult {
    let g = &core.global;
    if g.repl.is_replica() {
        return Err(AdminError::WaitOnReplica.into());
    }
    let wanted = parse_i64(&args[1]).ok_or(CmdError::NotInteger)?;
    let timeout_ms = parse_i64(&args[2]).ok_or(AdminError::TimeoutNotInteger)?;
    if timeout_ms < 0 {
        return Err(AdminError::TimeoutNegative.into());
    }
    let targets = core.last_lsns(|| Msg::LastLsn).await;
    let checkpoint = crate::repl::checkpoint(core, &targets).await;
    let started = Instant::now();
    let deadline = (timeout_ms > 0).then(|| Duration::from_millis(timeout_ms as u64));
    loop {
        let reached = g.repl.lock().replicas_reached(&targets, checkpoint);
        let expired = deadline.is_some_and(|d| started.elapsed() >= d);
        if reached as i64 >= wanted || expired || g.shutdown.is_fired() {
            out.int(reached as i64);
            return Ok(());
        }
        glommio::timer::sleep(WAIT_POLL_INTERVAL).await;
    }
}

/// `REPLCONF listening-port | ip-address | ack`: a replica's stream announcing
/// itself before `CKV.SYNC` (an `ACK` here, off a stream, is ignored).
fn replconf(_: &Rc<Core>, client: &mut Client, args: &Args, out: &mut ReplyBuf) -> CmdResult {
    let conf = Replconf::parse(args).map_err(|e| CmdError::Raw(e.message()))?;
    match conf {
        Replconf::ListeningPort(port) => client.replica_port = port,
        Replconf::IpAddress(ip) => {
            client.replica_ip = Some(String::from_utf8_lossy(ip).into_owned())
        }
        Replconf::Ack { .. } => return Ok(()),
    }
    out.ok();
    Ok(())
}

/// `CKV.SYNC shard shards replid next_lsn protocol`: the connection becomes shard `shard`'s
/// replication stream, served by the core that owns the shard, which answers.
fn sync(core: &Rc<Core>, client: &mut Client, args: &Args, _: &mut ReplyBuf) -> CmdResult {
    let request = SyncRequest::parse(args).map_err(|e| CmdError::Raw(e.message()))?;
    let shards = core.shards();
    if request.shards != shards {
        let refusal = Refusal::ShardCountDiffers {
            master: shards,
            replica: request.shards,
        };
        return Err(CmdError::Raw(refusal.message()));
    }
    if request.shard >= shards {
        let refusal = Refusal::ShardOutOfRange {
            shard: request.shard,
            shards,
        };
        return Err(CmdError::Raw(refusal.message()));
    }
    let ip = match &client.replica_ip {
        Some(ip) => ip.clone(),
        None => client.info.borrow().addr.ip().to_string(),
    };
    client.handover = Some(HandOver {
        request,
        ip,
        port: client.replica_port,
    });
    client.closing = true;
    Ok(())
}

/// `ROLE`: the role, with the replication offset summed over every shard.
fn role<'a>(
    core: &'a Rc<Core>,
    _: &'a mut Client,
    _: &'a Args,
    out: &'a mut ReplyBuf,
) -> LocalBoxFuture<'a, CmdResult> {
    Box::pin(async move {
        let offset: u64 = core.last_lsns(|| Msg::LastLsn).await.iter().sum();
        crate::repl::role(&core.global, offset, out);
        Ok(())
    })
}

#[rustfmt::skip]
pub const COMMANDS: &[CommandSpec<Handler>] = &[
    srv("role", 1, NOSCRIPT | LOADING | STALE | FAST, "server", "Returns the replication role.", Handler::Async(role)),
    srv("replicaof", 3, ADMIN | NOSCRIPT | STALE | NO_ASYNC_LOADING, "server", "Configures a server as replica of another, or promotes it to a master.", Handler::Async(replicaof)),
    srv("slaveof", 3, ADMIN | NOSCRIPT | STALE | NO_ASYNC_LOADING, "server", "Sets a Redis server as a replica of another, or promotes it to being a master.", Handler::Async(replicaof)),
    srv("replconf", -1, ADMIN | NOSCRIPT | LOADING | STALE | ALLOW_BUSY, "server", "An internal command for configuring the replication stream.", Handler::Sync(replconf)),
    srv("ckv.sync", -5, ADMIN | NOSCRIPT | NO_MULTI, "server", "An internal command: turns the connection into one shard's replication stream.", Handler::Sync(sync)),
    srv("ckv.pause", 2, ADMIN | NOSCRIPT | NO_MULTI | STALE, "server", "An internal command: holds writes while a replica takes over as master.", Handler::Async(pause_writes)),
    srv("failover", -1, ADMIN | NOSCRIPT | STALE, "server", "Starts a coordinated failover from a server to one of its replicas.", Handler::Async(crate::repl::failover::command)),
    srv("wait", 3, NOSCRIPT, "generic", "Blocks until the asynchronous replication of all preceding write commands sent by the connection is completed.", Handler::Async(wait)),
];
