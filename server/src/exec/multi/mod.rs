//! Transactions as clients see them: `MULTI`, `EXEC`, `DISCARD`, `WATCH`,
//! `UNWATCH`, with Redis 7.0's replies and errors.
//!
//! ```text
//!  MULTI ──► Multi::queue opens
//!  cmd   ──► run_batch: generic checks ──fail──► error, transaction flagged
//!                       └─ ok ──► queued (+QUEUED), or refused if no-multi (flagged)
//!  EXEC  ──► flagged: EXECABORT │ else run::exec: lock, check watches, run, commit
//!  WATCH ──► each key's shard: the watch table (crate::shard::watch) notes it
//! ```
//!
//! The state lives in the connection's [`Client`] ([`Multi`]); the pipeline runner
//! ([`crate::exec::run_batch`]) calls [`queue`] for every command while a
//! transaction is open, except the ones that act on the transaction itself
//! ([`runs_now`]). A watch session is released on `EXEC`, `DISCARD`, `UNWATCH`,
//! `RESET` and when the connection closes ([`on_close`]), so the watch tables
//! never keep a key for a client that is gone.

mod run;

use std::rc::Rc;

use bytes::Bytes;
use corekv_engine::command::flags::*;
use corekv_engine::command::{range, row, CommandSpec};
use corekv_engine::error::{CmdError, CmdResult};
use corekv_engine::resp::{Args, Reply, ReplyBuf};
use corekv_engine::slot::shard_of;
use futures::future::{join_all, LocalBoxFuture};

use crate::commands::{srv, Handler, Spec};
use crate::runtime::clock::now_ms;
use crate::session::client::Client;
use crate::shard::answer::Answer;
use crate::shard::mesh::Msg;
use crate::shard::watch::{self, WatcherId};
use crate::shard::Core;

/// A connection's transaction state.
#[derive(Debug, Default)]
pub struct Multi {
    /// Commands queued since `MULTI`; `None` outside a transaction.
    queue: Option<Queue>,
    /// The connection's watch session, if it watches keys.
    watch: Option<Watch>,
}

/// What `EXEC` will run.
#[derive(Debug, Default)]
struct Queue {
    /// Command ids (in the registry) and arguments, in order.
    cmds: Vec<(usize, Args)>,
    /// A command was refused while queueing: `EXEC` aborts.
    failed: bool,
}

/// A watch session: its id and the shards holding its keys (ascending, distinct).
#[derive(Debug)]
struct Watch {
    id: WatcherId,
    shards: Vec<usize>,
}

impl Multi {
    /// Whether `MULTI` is open: commands are queued.
    pub fn is_open(&self) -> bool {
        self.queue.is_some()
    }

    /// A command was refused while the transaction is open: `EXEC` will abort.
    pub fn flag_error(&mut self) {
        if let Some(queue) = &mut self.queue {
            queue.failed = true;
        }
    }
}

/// Commands that act on the transaction itself: they run when sent, never queued.
pub fn runs_now(spec: &Spec) -> bool {
    matches!(
        spec.name,
        "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
    )
}

/// Queues command `id` (generic checks passed) of an open transaction, answering
/// `+QUEUED`, or refuses a command not allowed in a transaction.
pub fn queue(client: &mut Client, id: usize, spec: &Spec, args: Args, out: &mut ReplyBuf) {
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

/// `RESET`: the transaction is discarded and the watch session ends.
pub fn reset(core: &Rc<Core>, client: &mut Client) {
    client.multi.queue = None;
    on_close(core, client);
}

/// Ends a watch session on every shard holding its keys.
async fn release(core: Rc<Core>, watch: Watch) {
    for s in watch.shards {
        let id = watch.id;
        let forget = Msg::Control(Box::new(move |core| {
            watch::table(&mut core.shard.borrow_mut()).take(id);
            Answer::Done
        }));
        core.tell(s, forget).await;
    }
}

fn multi(_: &Rc<Core>, client: &mut Client, _: &Args, out: &mut ReplyBuf) -> CmdResult {
    if client.multi.is_open() {
        return Err(CmdError::Raw("ERR MULTI calls can not be nested".into()));
    }
    client.multi.queue = Some(Queue::default());
    out.ok();
    Ok(())
}

fn discard<'a>(
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

fn unwatch<'a>(
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

fn watch_keys<'a>(
    core: &'a Rc<Core>,
    client: &'a mut Client,
    args: &'a Args,
    out: &'a mut ReplyBuf,
) -> LocalBoxFuture<'a, CmdResult> {
    Box::pin(async move {
        if client.multi.is_open() {
            return Err(CmdError::Raw("ERR WATCH inside MULTI is not allowed".into()));
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
            core.call(s, None, Msg::Control(Box::new(move |core| register(core, id, db, keys))))
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

fn exec<'a>(
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
            if let Some(watch) = watch {
                release(core.clone(), watch).await;
            }
            return Err(CmdError::Raw(
                "EXECABORT Transaction discarded because of previous errors.".into(),
            ));
        }
        run::exec(core, client, queue.cmds, watch, out).await
    })
}

const TX_FLAGS: u32 = NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY;

#[rustfmt::skip]
pub const COMMANDS: &[CommandSpec<Handler>] = &[
    srv("multi", 1, TX_FLAGS, "transactions", "Starts a transaction.", Handler::Sync(multi)),
    srv("exec", 1, NOSCRIPT | LOADING | STALE, "transactions", "Executes all commands in a transaction.", Handler::Async(exec)),
    srv("discard", 1, TX_FLAGS, "transactions", "Discards a transaction.", Handler::Async(discard)),
    row("watch", -2, TX_FLAGS, range(1, -1, 1), "transactions", "Monitors changes to keys to determine the execution of a transaction.", Handler::Async(watch_keys)),
    srv("unwatch", 1, TX_FLAGS, "transactions", "Forgets about watched keys of a transaction.", Handler::Async(unwatch)),
];
