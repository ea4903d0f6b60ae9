//! Transactions as clients see them: `MULTI`, `EXEC`, `DISCARD`, `WATCH`,
//! `UNWATCH`, with Redis 7.0's replies and errors.
//!
//! ```text
//!  MULTI ──► Multi::queue opens
//!  cmd   ──► run_batch: generic checks ──fail──► error, transaction flagged
//!                       └─ ok ──► out of memory: -OOM (flagged)
//!                                 else queued (+QUEUED), or refused if no-multi (flagged)
//!  EXEC  ──► flagged: EXECABORT │ out of memory with a denyoom command queued: EXECABORT
//!            │ else run::exec: lock, check watches, run, commit
//!  WATCH ──► each key's shard: the watch table (crate::shard::watch) notes it
//! ```
//!
//! The state lives in the connection's [`Client`] ([`state::Multi`]); the pipeline runner
//! ([`crate::exec::run_batch`]) hands every command to [`intercept`]; while a
//! transaction is open it is refused when memory is full ([`oom`]), queued, or,
//! if it acts on the transaction itself ([`runs_now`]), left to run. A watch session
//! is released on `EXEC`, `DISCARD`, `UNWATCH`, `RESET` and when the connection
//! closes ([`on_close`]), so the watch tables never keep a key for a client that is
//! gone.

mod oom;
mod run;
pub mod state;

use std::rc::Rc;

use bytes::Bytes;
use corekv_engine::command::flags::NO_MULTI;
use corekv_engine::error::{CmdError, CmdResult};
use corekv_engine::resp::{Args, Reply, ReplyBuf};
use corekv_engine::slot::shard_of;
use futures::future::{join_all, LocalBoxFuture};

use crate::commands::Spec;
use crate::runtime::clock::now_ms;
use crate::session::client::Client;
use crate::shard::answer::Answer;
use crate::shard::mesh::Msg;
use crate::shard::watch::{self, WatcherId};
use crate::shard::Core;
use state::{Queue, Watch};

/// Commands that act on the transaction itself: they run when sent, never queued.
pub fn runs_now(spec: &Spec) -> bool {
    matches!(
        spec.name,
        "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
    )
}

/// Command `id` (generic checks passed), given back to run now outside a
/// transaction. While one is open: refused when not allowed in a transaction, or
/// else with `-OOM` while memory is full (either flags the transaction, as Redis),
/// queued, or given back if it acts on the transaction itself ([`runs_now`]).
pub async fn intercept(
    core: &Rc<Core>,
    client: &mut Client,
    id: usize,
    spec: &Spec,
    args: Args,
    out: &mut ReplyBuf,
) -> Option<Args> {
    if !client.multi.is_open() {
        return Some(args);
    }
    if !spec.has(NO_MULTI) && oom::refuses_queued(core, spec).await {
        client.multi.flag_error();
        crate::ops::calls::rejected(Some(id), oom::OOM_MESSAGE);
        out.error(oom::OOM_MESSAGE);
        return None;
    }
    if runs_now(spec) {
        return Some(args);
    }
    queue(client, id, spec, args, out);
    None
}

/// Queues command `id` of an open transaction, answering `+QUEUED`, or refuses a
/// command not allowed in a transaction.
fn queue(client: &mut Client, id: usize, spec: &Spec, args: Args, out: &mut ReplyBuf) {
    let Some(queue) = &mut client.multi.queue else {
        return;
    };
    if spec.has(NO_MULTI) {
        queue.failed = true;
        return out.error("ERR Command not allowed inside a transaction");
    }
    queue.cmds.push((id, args));
    out.simple(b"QUEUED");
}

/// The connection closes: its watch session ends.
pub fn on_close(core: &Rc<Core>, client: &mut Client) {
    if let Some(watch) = client.multi.watch.take() {
        glommio::spawn_local(release(core.clone(), watch)).detach();
    }
}

/// `RESET`: the transaction is discarded and the watch session ends (before the
/// reply, as with `UNWATCH`).
pub async fn reset(core: &Rc<Core>, client: &mut Client) {
    client.multi.queue = None;
    if let Some(watch) = client.multi.watch.take() {
        release(core.clone(), watch).await;
    }
}

/// Ends a watch session on every shard holding its keys.
async fn release(core: Rc<Core>, watch: Watch) {
    for s in watch.shards {
        let id = watch.id;
        let forget = Msg::Control(Box::new(move |core| {
            watch::table(&mut core.shard.borrow_mut()).take(id);
            Answer::Done
        }));
        core.call(s, None, forget).await;
    }
}

/// The `multi` command.
pub fn multi(_: &Rc<Core>, client: &mut Client, _: &Args, out: &mut ReplyBuf) -> CmdResult {
    if client.multi.is_open() {
        return Err(CmdError::Raw("ERR MULTI calls can not be nested".into()));
    }
    client.multi.queue = Some(Queue::default());
    out.ok();
    Ok(())
}

/// The `discard` command.
pub fn discard<'a>(
    core: &'a Rc<Core>,
    client: &'a mut Client,
    _: &'a Args,
    out: &'a mut ReplyBuf,
) -> LocalBoxFuture<'a, CmdResult> {
    Box::pin(async move {
        if client.multi.queue.take().is_none() {
            return Err(CmdError::Raw("ERR DISCARD without MULTI".into()));
        }
        if let Some(watch) = client.multi.watch.take() {
            release(core.clone(), watch).await;
        }
        out.ok();
        Ok(())
    })
}

/// The `unwatch` command.
pub fn unwatch<'a>(
    core: &'a Rc<Core>,
    client: &'a mut Client,
    _: &'a Args,
    out: &'a mut ReplyBuf,
) -> LocalBoxFuture<'a, CmdResult> {
    Box::pin(async move {
        if let Some(watch) = client.multi.watch.take() {
            release(core.clone(), watch).await;
        }
        out.ok();
        Ok(())
    })
}

/// The `watch_keys` command.
pub fn watch_keys<'a>(
    core: &'a Rc<Core>,
    client: &'a mut Client,
    args: &'a Args,
    out: &'a mut ReplyBuf,
) -> LocalBoxFuture<'a, CmdResult> {
    Box::pin(async move {
        if client.multi.is_open() {
            return Err(CmdError::Raw(
                "ERR WATCH inside MULTI is not allowed".into(),
            ));
        }
        let session = client.multi.watch.get_or_insert_with(|| Watch {
            id: core.new_tx(),
            shards: Vec::new(),
        });
        let mut by_shard: Vec<(usize, Vec<Bytes>)> = Vec::new();
        for key in &args[1..] {
            let s = shard_of(key, core.shards());
            match by_shard.iter_mut().find(|(t, _)| *t == s) {
                Some((_, keys)) => keys.push(key.clone()),
                None => by_shard.push((s, vec![key.clone()])),
            }
        }
        let (id, db) = (session.id, client.db);
        let calls = by_shard.into_iter().map(|(s, keys)| {
            if !session.shards.contains(&s) {
                session.shards.push(s);
            }
            core.call(
                s,
                None,
                Msg::Control(Box::new(move |core| register(core, id, db, keys))),
            )
        });
        let calls: Vec<_> = calls.collect();
        session.shards.sort_unstable();
        join_all(calls).await;
        out.ok();
        Ok(())
    })
}

/// On a key's shard: `watcher` watches `keys` of `db`.
fn register(core: &Rc<Core>, watcher: WatcherId, db: usize, keys: Vec<Bytes>) -> Answer {
    let now = now_ms();
    let mut shard = core.shard.borrow_mut();
    for key in keys {
        // A key already past its deadline is deleted here, before it is watched.
        let exists = shard.keyspace_mut().contains(db, &key, now);
        watch::table(&mut shard).watch(watcher, db, key, exists);
    }
    Answer::Done
}

/// The `exec` command.
pub fn exec<'a>(
    core: &'a Rc<Core>,
    client: &'a mut Client,
    _: &'a Args,
    out: &'a mut ReplyBuf,
) -> LocalBoxFuture<'a, CmdResult> {
    Box::pin(async move {
        let Some(queue) = client.multi.queue.take() else {
            return Err(CmdError::Raw("ERR EXEC without MULTI".into()));
        };
        let watch = client.multi.watch.take();
        if queue.failed {
            let oom = run::refused_for_memory(core, &queue.cmds).await;
            if let Some(watch) = watch {
                release(core.clone(), watch).await;
            }
            return Err(CmdError::Raw(match oom {
                true => oom::EXEC_ABORT_OOM.into(),
                false => "EXECABORT Transaction discarded because of previous errors.".into(),
            }));
        }
        let rows = crate::ops::names::stat_rows();
        let ids: Vec<usize> = queue.cmds.iter().map(|(id, a)| rows.of(*id, a)).collect();
        let (started, reply_at) = (std::time::Instant::now(), out.len());
        run::exec(core, client, queue.cmds, watch, out).await?;
        // A null reply (a watched key changed) ran nothing; otherwise each queued
        // command counts as a call, as in Redis.
        if !matches!(out.get(reply_at), Some(b'_') | None)
            && !out.since(reply_at).starts_with(b"*-1")
        {
            crate::exec::record_each(core, &ids, started);
        }
        Ok(())
    })
}
