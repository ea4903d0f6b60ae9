//! Redis's `FAILOVER` command, run on a master: it hands the master role to one
//! of its replicas without losing an acknowledged write, and follows it.
//!
//! ```text
//!  FAILOVER [TO host port [FORCE]] [TIMEOUT ms] | FAILOVER ABORT
//!   +OK, writes held (the pause of crate::repl::pause)        waiting-for-sync
//!   every poll: a replica (the one named by TO) that acknowledged, on every
//!   shard, the master's last LSN?  ── TIMEOUT passed: FORCE goes on with the
//!                                      named replica (its unapplied writes are
//!                                      lost, as in Redis), else abort
//!   REPLICAOF NO ONE to that replica (it promotes itself)     failover-in-progress
//!   this server follows it: REPLICAOF host port (a partial resync on every
//!   shard); the held writes find a replica and get -READONLY   no-failover
//! ```
//!
//! Where Redis sends `PSYNC ... FAILOVER` to its replica, corekv's replication
//! protocol has a request per shard; the replica is told to promote itself with
//! `REPLICAOF NO ONE` on a connection of its own, and then every shard follows
//! it. `FAILOVER ABORT`, a timeout without `FORCE`, or a replica that cannot be
//! reached ends the failover with the writes resumed and this server a master,
//! logged as Redis logs it. The state is `INFO replication`'s
//! `master_failover_state`.

use std::rc::Rc;
use std::time::{Duration, Instant};

use corekv_engine::error::{CmdError, CmdResult};
use corekv_engine::resp::{parse_i64, Args, Reply, ReplyBuf};
use futures::future::LocalBoxFuture;

use crate::repl::handoff::{expect_ok, request_as_replica};
use crate::repl::role::FailoverState;
use crate::repl::{pause, MasterAddr};
use crate::session::client::Client;
use crate::shard::global::Global;
use crate::shard::Core;

/// How often the waiting failover looks at the replicas' acknowledgements.
const SYNC_POLL_INTERVAL: Duration = Duration::from_millis(5);
/// The longest the promotion of the chosen replica may take.
const PROMOTE_TIMEOUT: Duration = Duration::from_secs(5);

/// What `FAILOVER` was asked.
#[derive(Debug, PartialEq)]
struct Request {
    to: Option<MasterAddr>,
    force: bool,
    timeout: Option<Duration>,
}

fn err(text: &str) -> CmdError {
    CmdError::Raw(format!("ERR {text}"))
}

/// Redis's `failoverCommand` parsing: each option at most once, in any order.
fn parse(args: &Args) -> Result<Request, CmdError> {
    let mut request = Request {
        to: None,
        force: false,
        timeout: None,
    };
    let mut j = 1;
    while j < args.len() {
        let word = &args[j];
        if word.eq_ignore_ascii_case(b"timeout") && j + 1 < args.len() && request.timeout.is_none()
        {
            let ms = parse_i64(&args[j + 1]).ok_or(CmdError::NotInteger)?;
            if ms <= 0 {
                return Err(err("FAILOVER timeout must be greater than 0"));
            }
            request.timeout = Some(Duration::from_millis(ms as u64));
            j += 2;
        } else if word.eq_ignore_ascii_case(b"to") && j + 2 < args.len() && request.to.is_none() {
            let port = parse_i64(&args[j + 2]).ok_or(CmdError::NotInteger)?;
            request.to = Some(MasterAddr {
                host: String::from_utf8_lossy(&args[j + 1]).into_owned(),
                port: u16::try_from(port).unwrap_or(0),
            });
            j += 3;
        } else if word.eq_ignore_ascii_case(b"force") && !request.force {
            request.force = true;
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(request)
}

/// `FAILOVER [TO host port [FORCE]] [ABORT] [TIMEOUT ms]`.
pub fn command<'a>(
    core: &'a Rc<Core>,
    _: &'a mut Client,
    args: &'a Args,
    out: &'a mut ReplyBuf,
) -> LocalBoxFuture<'a, CmdResult> {
    Box::pin(async move {
        let g = &core.global;
        let failover = &g.repl.failover;
        if args.len() == 2 && args[1].eq_ignore_ascii_case(b"abort") {
            if failover.state() == FailoverState::None {
                return Err(err("No failover in progress."));
            }
            failover.set_abort(true);
            out.ok();
            return Ok(());
        }
        let request = parse(args)?;
        if failover.state() != FailoverState::None {
            return Err(err("FAILOVER already in progress."));
        }
        if g.repl.is_replica() {
            return Err(err("FAILOVER is not valid when server is a replica."));
        }
        if g.repl.lock().attached.is_empty() {
            return Err(err("FAILOVER requires connected replicas."));
        }
        if request.force && (request.timeout.is_none() || request.to.is_none()) {
            return Err(err(
                "FAILOVER with force option requires both a timeout and target HOST and IP.",
            ));
        }
        match &request.to {
            Some(to) => {
                match g.repl.lock().replica_online(&to.host, to.port, g.shards) {
                    None => return Err(err("FAILOVER target HOST and PORT is not a replica.")),
                    Some(false) => return Err(err("FAILOVER target replica is not online.")),
                    Some(true) => {}
                }
                log::info!("FAILOVER requested to {}:{}.", to.host, to.port);
            }
            None => log::info!("FAILOVER requested to any replica."),
        }
        failover.set_abort(false);
        failover.set(FailoverState::WaitingForSync);
        pause::start(g, u64::MAX);
        glommio::spawn_local(run(core.clone(), request)).detach();
        out.ok();
        Ok(())
    })
}

/// Waits for a replica to catch up, then swaps the roles; ends with the state
/// reset and the writes resumed whatever happens.
async fn run(core: Rc<Core>, request: Request) {
    let g = &core.global;
    let outcome = swap_roles(&core, &request).await;
    if let Err(reason) = outcome {
        match &request.to {
            Some(to) => log::info!("FAILOVER to {}:{} aborted: {reason}", to.host, to.port),
            None => log::info!("FAILOVER to any replica aborted: {reason}"),
        }
    }
    g.repl.failover.set(FailoverState::None);
    pause::end(g);
}

async fn swap_roles(core: &Rc<Core>, request: &Request) -> Result<(), String> {
    let g = &core.global;
    let started = Instant::now();
    // Writes admitted before the pause may still be on their way to their shards:
    // a replica holding the LSNs read before they land would lose them.
    pause::settled_lsns(core).await;
    let (target, synced) = loop {
        if g.repl.failover.aborted() {
            return Err("Failover manually aborted".into());
        }
        if g.shutdown.is_fired() || g.repl.is_replica() {
            return Err("the server is no longer a master".into());
        }
        let lsns = core.last_lsns(super::last_lsn).await;
        let synced = g
            .repl
            .lock()
            .synced_replica(request.to.as_ref(), &lsns, g.shards);
        if let Some(target) = synced {
            break (target, true);
        }
        if request.timeout.is_some_and(|t| started.elapsed() >= t) {
            match (&request.to, request.force) {
                (Some(to), true) => break (to.clone(), false),
                _ => return Err("Replica never caught up before timeout".into()),
            }
        }
        glommio::timer::sleep(SYNC_POLL_INTERVAL).await;
    };
    if synced {
        log::info!(
            "Failover target {}:{} is synced, failing over.",
            target.host,
            target.port
        );
    } else {
        log::info!(
            "FAILOVER to {}:{} time out exceeded, failing over.",
            target.host,
            target.port
        );
    }
    g.repl.failover.set(FailoverState::InProgress);
    promote_target(g, &target)
        .await
        .map_err(|e| format!("Failover target rejected the promotion ({e})"))?;
    follow(core, target).await;
    Ok(())
}

/// Tells the chosen replica to become the master (`REPLICAOF NO ONE`).
async fn promote_target(g: &Global, target: &MasterAddr) -> Result<(), String> {
    let args: &[&[u8]] = &[b"REPLICAOF", b"NO", b"ONE"];
    let (_, reply) = request_as_replica(g, target, PROMOTE_TIMEOUT, args).await?;
    expect_ok(&reply)
}

/// Follows the new master on every shard, as `REPLICAOF host port` does.
async fn follow(core: &Rc<Core>, master: MasterAddr) {
    let g = &core.global;
    log::warn!("replicating {}:{} (FAILOVER)", master.host, master.port);
    g.config
        .set_internal("replicaof", &format!("{} {}", master.host, master.port));
    let epoch = g.repl.set_master(Some(master));
    pause::end(g);
    for s in 0..core.shards() {
        core.call(s, None, super::replica::follow(epoch)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Args {
        words
            .iter()
            .map(|w| bytes::Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    #[test]
    fn options_parse_as_redis_parses_them() {
        let r = parse(&args(&[
            "failover", "to", "h", "7000", "force", "timeout", "50",
        ]))
        .unwrap();
        assert_eq!(r.to.map(|t| (t.host, t.port)), Some(("h".into(), 7000)));
        assert!(r.force);
        assert_eq!(r.timeout, Some(Duration::from_millis(50)));
        let message = |words: &[&str]| parse(&args(words)).unwrap_err().message();
        assert_eq!(message(&["failover", "to", "h"]), "ERR syntax error");
        assert_eq!(
            message(&["failover", "abort", "timeout", "1"]),
            "ERR syntax error"
        );
        assert_eq!(message(&["failover", "force", "force"]), "ERR syntax error");
        assert_eq!(
            message(&["failover", "timeout", "0"]),
            "ERR FAILOVER timeout must be greater than 0"
        );
        assert_eq!(
            message(&["failover", "timeout", "x"]),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(
            message(&["failover", "to", "h", "x"]),
            "ERR value is not an integer or out of range"
        );
    }
}
