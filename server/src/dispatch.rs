//! Routing: from a parsed pipeline batch to replies, in the order the commands came.
//!
//! For each command the table row drives generic checks (unknown command, arity,
//! authentication) before anything runs, then the route:
//! - keys all on the home shard: run in place, synchronously;
//! - keys all on one other shard: one hop; consecutive commands of the batch for that
//!   same shard travel together in one message;
//! - multi-key commands across shards: [`crate::multi`], atomic under shard locks;
//! - whole-keyspace commands: fanned out ([`crate::multi`]);
//! - connection and server commands: [`crate::admin`].

use std::rc::Rc;
use std::time::Instant;

use corekv_engine::command::{table, CommandSpec, Route};
use corekv_engine::resp::{Args, Reply};
use corekv_engine::shard::{unknown_command_message, Op, OpReply};
use corekv_engine::slot::shard_of;

use crate::conn::Client;
use crate::core::{now_ms, Core};

/// Most commands carried in one message to another shard.
const REMOTE_BATCH_COMMANDS_MAX: usize = 256;

/// Where a command's keys live.
enum Placement {
    /// No keys: runs on the home shard.
    None,
    One(usize),
    Spread,
}

fn placement(spec: &CommandSpec, args: &Args, shards: usize) -> Placement {
    let mut found = Placement::None;
    for i in spec.key_indices(args.len()) {
        let s = shard_of(&args[i], shards);
        match found {
            Placement::None => found = Placement::One(s),
            Placement::One(t) if t != s => return Placement::Spread,
            _ => {}
        }
    }
    found
}

/// Commands waiting to go to one other shard together.
struct RemoteBatch {
    target: usize,
    cmds: Vec<(usize, Args)>,
    specs: Vec<usize>,
    started: Instant,
}

/// Executes one pipeline batch for `client`, appending replies to `out` in order.
pub async fn run_batch(core: &Rc<Core>, client: &mut Client, batch: Vec<Args>, out: &mut Vec<u8>) {
    let mut remote: Option<RemoteBatch> = None;
    for args in batch {
        if client.closing {
            break;
        }
        let Some((index, spec)) = table().lookup(&args[0]) else {
            flush(core, &mut remote, out).await;
            core.stats.borrow_mut().rejected_calls += 1;
            out.error(&unknown_command_message(&args));
            continue;
        };
        if let Some(err) = generic_checks(core, client, spec, &args) {
            flush(core, &mut remote, out).await;
            core.stats.borrow_mut().rejected_calls += 1;
            out.error(&err);
            continue;
        }
        client.note_command(spec);
        let home = core.id;
        match spec.route {
            Route::Shard(_) | Route::Multi(..) => match placement(spec, &args, core.shards()) {
                Placement::None => {
                    flush(core, &mut remote, out).await;
                    run_local(core, client.db, index, args, out).await;
                }
                Placement::One(t) if t == home => {
                    flush(core, &mut remote, out).await;
                    run_local(core, client.db, index, args, out).await;
                }
                Placement::One(t) => {
                    let same = remote
                        .as_ref()
                        .is_some_and(|r| r.target == t && r.cmds.len() < REMOTE_BATCH_COMMANDS_MAX);
                    if !same {
                        flush(core, &mut remote, out).await;
                        remote = Some(RemoteBatch {
                            target: t,
                            cmds: Vec::new(),
                            specs: Vec::new(),
                            started: Instant::now(),
                        });
                    }
                    let r = remote.as_mut().expect("set above");
                    r.specs.push(index);
                    r.cmds.push((client.db, args));
                }
                Placement::Spread => {
                    flush(core, &mut remote, out).await;
                    let started = Instant::now();
                    match spec.route {
                        Route::Multi(kind, _) => {
                            crate::multi::multi_key(core, client.db, kind, &args, out).await
                        }
                        _ => out.error("CROSSSLOT Keys in request don't hash to the same slot"),
                    }
                    record(core, index, started, 1);
                }
            },
            Route::All(kind) => {
                flush(core, &mut remote, out).await;
                let started = Instant::now();
                crate::multi::fan_out(core, client, kind, &args, out).await;
                record(core, index, started, 1);
            }
            Route::Server(kind) => {
                flush(core, &mut remote, out).await;
                let started = Instant::now();
                crate::admin::run(core, client, kind, &args, out).await;
                record(core, index, started, 1);
            }
        }
    }
    flush(core, &mut remote, out).await;
}

/// Redis's checks before a handler runs, in Redis's order. Returns the error reply.
fn generic_checks(core: &Core, client: &Client, spec: &CommandSpec, args: &Args) -> Option<String> {
    use corekv_engine::command::flags::NO_AUTH;
    if !spec.arity_ok(args.len()) {
        return Some(format!(
            "ERR wrong number of arguments for '{}' command",
            spec.name
        ));
    }
    if !client.authenticated
        && !spec.has(NO_AUTH)
        && core
            .global
            .config
            .hot
            .auth_required
            .load(std::sync::atomic::Ordering::Relaxed)
    {
        return Some("NOAUTH Authentication required.".into());
    }
    None
}

fn record(core: &Core, spec: usize, started: Instant, calls: u64) {
    let us = started.elapsed().as_micros() as u64;
    let mut stats = core.stats.borrow_mut();
    stats.commands += calls;
    let slot = &mut stats.command_calls[spec];
    slot.0 += calls;
    slot.1 += us;
}

/// Runs a command on the home shard: in place when the shard is free, otherwise
/// queued behind the transaction holding it.
async fn run_local(core: &Rc<Core>, db: usize, index: usize, args: Args, out: &mut Vec<u8>) {
    let started = Instant::now();
    if core.unlocked() {
        core.shard.borrow_mut().run(db, &args, now_ms(), out);
    } else if let OpReply::Replies(r) = core.op(core.id, None, Op::Batch(vec![(db, args)])).await {
        out.extend_from_slice(&r);
    }
    record(core, index, started, 1);
}

async fn flush(core: &Rc<Core>, remote: &mut Option<RemoteBatch>, out: &mut Vec<u8>) {
    let Some(batch) = remote.take() else {
        return;
    };
    let n = batch.cmds.len() as u64;
    if let OpReply::Replies(r) = core.op(batch.target, None, Op::Batch(batch.cmds)).await {
        out.extend_from_slice(&r);
    }
    let us = batch.started.elapsed().as_micros() as u64;
    let mut stats = core.stats.borrow_mut();
    stats.commands += n;
    for spec in batch.specs {
        let slot = &mut stats.command_calls[spec];
        slot.0 += 1;
        slot.1 += us / n;
    }
}
