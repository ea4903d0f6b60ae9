//! Routing: from a parsed pipeline batch to replies, in the order the commands came.
//!
//! For each command the table row drives generic checks (unknown command, arity,
//! authentication) before anything runs, then the route:
//! - keys all on one shard: collected with the batch's other single-shard commands,
//!   then each shard's share goes in one message, all shards at once, the home shard's
//!   share running in place; replies are put back in order ([`Squash`]);
//! - multi-key commands across shards: [`crate::multi`], atomic under shard locks;
//! - whole-keyspace commands: fanned out ([`crate::multi`]);
//! - connection and server commands: [`crate::admin`].

use std::rc::Rc;
use std::time::Instant;

use corekv_engine::command::{table, CommandSpec, Route};
use corekv_engine::resp::{Args, Reply, ReplyBuf};
use corekv_engine::shard::{unknown_command_message, Op, OpReply};
use corekv_engine::slot::shard_of;
use futures::future::join_all;

use crate::conn::Client;
use crate::core::{now_ms, Core};

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

/// Single-shard commands of a pipeline waiting to run: when flushed, every shard gets
/// its share in one message, all shards at once, and the replies are put back in the
/// order the commands came. Pipelined commands are concurrent from the client's point
/// of view (it has seen no reply yet), so running them on their shards in parallel is
/// linearizable; commands that are not single-shard (multi-shard, fan-out, server
/// commands) flush first, so they see every earlier command of the pipeline done.
struct Squash {
    /// Per command, in arrival order: its shard and command-table index.
    order: Vec<(usize, usize)>,
    /// Per shard: its commands, `(db, args)`.
    per_shard: Vec<Vec<(usize, Args)>>,
    /// The one shard every waiting command is for, while that holds.
    only: Option<usize>,
    started: Instant,
    /// Shards whose journal the batch wrote to, and the last LSN it wrote there:
    /// the replies wait until those are written (durable under `appendfsync always`).
    logged: Vec<(usize, u64)>,
}

impl Squash {
    fn new(shards: usize) -> Self {
        Squash {
            order: Vec::new(),
            per_shard: (0..shards).map(|_| Vec::new()).collect(),
            only: None,
            started: Instant::now(),
            logged: Vec::new(),
        }
    }

    fn note_logged(&mut self, shard: usize, lsn: u64) {
        match self.logged.iter_mut().find(|(s, _)| *s == shard) {
            Some((_, l)) => *l = lsn.max(*l),
            None => self.logged.push((shard, lsn)),
        }
    }

    fn push(&mut self, shard: usize, index: usize, db: usize, args: Args) {
        if self.order.is_empty() {
            self.started = Instant::now();
            self.only = Some(shard);
        } else if self.only != Some(shard) {
            self.only = None;
        }
        self.order.push((shard, index));
        self.per_shard[shard].push((db, args));
    }
}

/// Executes one pipeline batch for `client`, appending replies to `out` in order.
pub async fn run_batch(core: &Rc<Core>, client: &mut Client, batch: Vec<Args>, out: &mut ReplyBuf) {
    let (batch_start, commands) = (out.len(), batch.len());
    let mut squash = Squash::new(core.shards());
    for args in batch {
        if client.closing {
            break;
        }
        let Some((index, spec)) = table().lookup(&args[0]) else {
            flush(core, &mut squash, out).await;
            core.stats.borrow_mut().rejected_calls += 1;
            out.error(&unknown_command_message(&args));
            continue;
        };
        if let Some(err) = generic_checks(core, client, spec, &args) {
            flush(core, &mut squash, out).await;
            core.stats.borrow_mut().rejected_calls += 1;
            out.error(&err);
            continue;
        }
        client.note_command(spec);
        let home = core.id;
        match spec.route {
            Route::Shard(_) | Route::Multi(..) => match placement(spec, &args, core.shards()) {
                Placement::None => squash.push(home, index, client.db, args),
                Placement::One(t) => squash.push(t, index, client.db, args),
                Placement::Spread => {
                    flush(core, &mut squash, out).await;
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
                flush(core, &mut squash, out).await;
                let started = Instant::now();
                crate::multi::fan_out(core, client, kind, &args, out).await;
                record(core, index, started, 1);
            }
            Route::Server(kind) => {
                flush(core, &mut squash, out).await;
                let started = Instant::now();
                crate::admin::run(core, client, kind, &args, out).await;
                record(core, index, started, 1);
            }
        }
    }
    flush(core, &mut squash, out).await;
    // No reply leaves before the batch's records are as safe as `appendfsync` says.
    if let Err(e) = crate::journal::wait_acked(core, &squash.logged).await {
        out.truncate(batch_start);
        (0..commands).for_each(|_| out.error(&e));
    }
}

/// Redis's checks before a handler runs, in Redis's order. Returns the error reply.
fn generic_checks(core: &Core, client: &Client, spec: &CommandSpec, args: &Args) -> Option<String> {
    use corekv_engine::command::flags::{LOADING, NO_AUTH, READONLY, WRITE};
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
    if spec.has(WRITE) || spec.name == "ping" {
        if let Some(refusal) = crate::journal::write_refusal() {
            return Some(refusal);
        }
    }
    if !spec.has(LOADING) && core.global.is_loading() {
        return Some("LOADING Redis is loading the dataset in memory".into());
    }
    if core.global.repl.is_replica() {
        if spec.has(WRITE) {
            return Some("READONLY You can't write against a read only replica.".into());
        }
        let serve_reads = &core.global.config.hot.replica_serve_reads;
        if spec.has(READONLY) && !serve_reads.load(std::sync::atomic::Ordering::Relaxed) {
            return Some(
                "ERR this replica does not serve reads (replica-serve-reads is no)".into(),
            );
        }
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

/// Runs the waiting single-shard commands and appends their replies in order.
async fn flush(core: &Rc<Core>, squash: &mut Squash, out: &mut ReplyBuf) {
    let n = squash.order.len();
    if n == 0 {
        return;
    }
    let home = core.id;
    let now = now_ms();
    match squash.only {
        // The common case: one shard's commands, replies straight into `out`.
        Some(shard) => {
            let cmds = std::mem::take(&mut squash.per_shard[shard]);
            if shard == home && core.unlocked() {
                let before = core.shard.borrow().log().last_lsn();
                let mut engine = core.shard.borrow_mut();
                for (db, args) in cmds {
                    engine.run(db, &args, now, out);
                }
                let after = engine.log().last_lsn();
                drop(engine);
                if after != before {
                    core.kick_journal();
                    squash.note_logged(home, after);
                }
            } else {
                let batch = Op::Batch(cmds, out.protocol());
                let (reply, mark) = core.op_marked(shard, None, batch).await;
                if mark.appended {
                    squash.note_logged(shard, mark.last_lsn);
                }
                if let OpReply::Replies { out: replies, .. } = reply {
                    out.extend_from_slice(&replies);
                }
            }
        }
        None => interleave(core, squash, now, out).await,
    }
    record_squash(core, squash);
    squash.order.clear();
}

/// Runs waiting commands for several shards at once and interleaves their replies.
async fn interleave(core: &Rc<Core>, squash: &mut Squash, now: u64, out: &mut ReplyBuf) {
    let home = core.id;
    // Every shard's replies and where each ends; the home shard's run in place.
    let mut replies: Vec<(Vec<u8>, Vec<usize>)> =
        (0..core.shards()).map(|_| Default::default()).collect();
    let mut remote = Vec::new();
    let mut home_logged = None;
    for (shard, cmds) in squash.per_shard.iter_mut().enumerate() {
        if cmds.is_empty() {
            continue;
        }
        let cmds = std::mem::take(cmds);
        if shard == home && core.unlocked() {
            let mut buf = ReplyBuf::new(out.protocol());
            let mut ends = Vec::new();
            let before = core.shard.borrow().log().last_lsn();
            let mut engine = core.shard.borrow_mut();
            for (db, args) in cmds {
                engine.run(db, &args, now, &mut buf);
                ends.push(buf.len());
            }
            replies[home] = (buf.into_bytes(), ends);
            let after = engine.log().last_lsn();
            drop(engine);
            if after != before {
                core.kick_journal();
                home_logged = Some(after);
            }
        } else {
            let batch = Op::Batch(cmds, out.protocol());
            remote.push((shard, core.op_marked(shard, None, batch)));
        }
    }
    if let Some(lsn) = home_logged {
        squash.note_logged(home, lsn);
    }
    let shards: Vec<usize> = remote.iter().map(|(s, _)| *s).collect();
    let answers = join_all(remote.into_iter().map(|(_, f)| f)).await;
    for (shard, (answer, mark)) in shards.into_iter().zip(answers) {
        if mark.appended {
            squash.note_logged(shard, mark.last_lsn);
        }
        if let OpReply::Replies { out, ends } = answer {
            replies[shard] = (out, ends);
        }
    }
    let mut next = vec![0usize; core.shards()];
    let mut start = vec![0usize; core.shards()];
    for &(shard, _) in &squash.order {
        let (buf, ends) = &replies[shard];
        // A shard drops its answer only when the process is shutting down.
        let Some(&end) = ends.get(next[shard]) else {
            break;
        };
        out.extend_from_slice(&buf[start[shard]..end]);
        start[shard] = end;
        next[shard] += 1;
    }
}

fn record_squash(core: &Core, squash: &Squash) {
    let n = squash.order.len() as u64;
    let us = squash.started.elapsed().as_micros() as u64;
    let mut stats = core.stats.borrow_mut();
    stats.commands += n;
    for &(_, index) in &squash.order {
        let slot = &mut stats.command_calls[index];
        slot.0 += 1;
        slot.1 += us / n;
    }
}
