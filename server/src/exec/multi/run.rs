//! `EXEC`: the queued commands run in order, atomically across every shard they
//! touch, or not at all when a watched key changed.
//!
//! Each command is placed first ([`Place`]): on one shard, on several (a
//! multi-key or whole-keyspace command), or on the server (`PING`, `INFO`, ...).
//! When a queued command may grow memory and `maxmemory` is set, the shards it runs
//! on are checked for room before anything runs ([`oom`]; on one shard, in the
//! message that runs the commands). Then one of three ways:
//! - **One shard** (every command's keys there, every watched key too): one message
//!   to that shard checks the watch and runs the commands as one batch, their
//!   changes journaled as one part ([`run_here`]), so they are all or nothing after a
//!   crash too.
//! - **Single-shard commands on several shards, nothing watched**: each shard's
//!   commands lock it and run in one message, shard by shard in ascending order,
//!   then all commit together ([`spread`]): one round trip per remote shard.
//! - **Otherwise**: the transaction ([`Held`]) locks the union of the shards, checks
//!   the watch on each watched shard under those locks, runs the commands in order
//!   (consecutive commands for one shard in one message), and commits them together.
//!   Server commands that never wait run in their place under the locks. Those that
//!   ask other cores or wait (`INFO`, `CONFIG`, `CLIENT`, `WAIT`, ...) would wait for
//!   shards this transaction holds, so they run in order after the commit, their
//!   replies in their places.

use std::rc::Rc;

use bytes::Bytes;
use corekv_engine::command::exec::{Cmd, Op, OpReply};
use corekv_engine::command::flags::DENYOOM;
use corekv_engine::command::parts::Split;
use corekv_engine::command::Route;
use corekv_engine::error::{CmdError, CmdResult};
use corekv_engine::journal::Participant;
use corekv_engine::resp::{Args, Protocol, Reply, ReplyBuf};
use corekv_engine::slot::shard_of;

use super::oom;
use super::state::Watch;
use crate::commands::{registry, Exec, Handler, Spec};
use crate::exec::tx::group::{self, Turn, Work};
use crate::exec::tx::{Held, EXEC_PARTS_MIN};
use crate::runtime::clock::now_ms;
use crate::session::client::Client;
use crate::shard::answer::{Answer, LogMark};
use crate::shard::mesh::Msg;
use crate::shard::watch::{self, WatchTable, WatcherId};
use crate::shard::Core;

/// `WAIT`'s timeout inside `EXEC`, in milliseconds: Redis does not block inside a
/// transaction and answers how many replicas have the writes so far; the shortest
/// wait is the nearest to that.
const WAIT_IN_EXEC_TIMEOUT_MS: &[u8] = b"1";

/// What a single-shard `EXEC`'s message answers when its shard is out of memory:
/// one shard full.
const FULL: u64 = 1;

/// Where a queued command runs.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Place {
    Shard(usize),
    /// A multi-key command over these shards, or a whole-keyspace one.
    Spread(Vec<usize>),
    /// A server command: `true` if it waits on other cores or I/O.
    Server(bool),
}

fn place(spec: &Spec, args: &Args, home: usize, shards: usize) -> Place {
    match spec.route {
        Exec::Engine(Route::Shard(_)) => {
            let key = spec.key_indices(args).next();
            Place::Shard(key.map_or(home, |i| shard_of(&args[i], shards)))
        }
        Exec::Engine(Route::Parts(parts)) => match parts.split {
            Split::Keys | Split::Lookup { .. } => {
                let groups = parts
                    .split
                    .groups(args, spec.keys.resolve(args), shards, shard_of);
                match groups.as_slice() {
                    [] => Place::Shard(home),
                    [(s, _)] => Place::Shard(*s),
                    _ => Place::Spread(groups.iter().map(|(s, _)| *s).collect()),
                }
            }
            Split::Every { .. } | Split::Walk { .. } => Place::Spread((0..shards).collect()),
        },
        Exec::Server(handler) => Place::Server(matches!(handler, Handler::Async(_))),
    }
}

/// Runs a transaction's commands (`cmds`, registry ids and arguments) and writes
/// `EXEC`'s reply: their replies, or the null array when a watched key changed.
pub(super) async fn exec(
    core: &Rc<Core>,
    client: &mut Client,
    cmds: Vec<(usize, Args)>,
    watch: Option<Watch>,
    out: &mut ReplyBuf,
) -> CmdResult {
    let registry = registry();
    let places: Vec<Place> = cmds
        .iter()
        .map(|(id, args)| place(registry.all[*id], args, core.id, core.shards()))
        .collect();
    let mut lock: Vec<usize> = watch.iter().flat_map(|w| w.shards.clone()).collect();
    for p in &places {
        match p {
            Place::Shard(s) => lock.push(*s),
            Place::Spread(shards) => lock.extend(shards),
            Place::Server(_) => {}
        }
    }
    lock.sort_unstable();
    lock.dedup();
    let grows = growing_shards(&cmds, &places);
    let one_shard = places.iter().all(|p| matches!(p, Place::Shard(_)));
    if let ([s], true) = (lock.as_slice(), one_shard) {
        let check_room = !grows.is_empty() && oom::limited(core);
        return one(core, client.db, *s, cmds, (watch, check_room), out).await;
    }
    if oom::refuses_exec(core, &grows).await {
        if let Some(watch) = watch {
            super::release(core.clone(), watch).await;
        }
        return Err(CmdError::Raw(oom::EXEC_ABORT_OOM.into()));
    }
    match one_shard && watch.is_none() {
        true => spread(core, client.db, cmds, places, out).await,
        false => across(core, client, &lock, cmds, places, watch, out).await,
    }
}

/// Whether an `EXEC` that will not run anyway (a command was refused while
/// queueing) is refused for memory first, as Redis checks memory before it looks
/// at the transaction.
pub(super) async fn refused_for_memory(core: &Rc<Core>, cmds: &[(usize, Args)]) -> bool {
    let registry = registry();
    let places: Vec<Place> = cmds
        .iter()
        .map(|(id, args)| place(registry.all[*id], args, core.id, core.shards()))
        .collect();
    oom::refuses_exec(core, &growing_shards(cmds, &places)).await
}

/// The shards that queued commands which may grow memory (`denyoom`) run on,
/// ascending and distinct: where `EXEC` checks for room before it runs.
fn growing_shards(cmds: &[(usize, Args)], places: &[Place]) -> Vec<usize> {
    let registry = registry();
    let mut shards = Vec::new();
    for ((id, _), place) in cmds.iter().zip(places) {
        if !registry.all[*id].has(DENYOOM) {
            continue;
        }
        match place {
            Place::Shard(s) => shards.push(*s),
            Place::Spread(all) => shards.extend(all),
            Place::Server(_) => {}
        }
    }
    shards.sort_unstable();
    shards.dedup();
    shards
}

/// Every command and watched key on `shard`: one message there, which also checks
/// for room first when `check_room` (see [`oom`]).
async fn one(
    core: &Rc<Core>,
    db: usize,
    shard: usize,
    cmds: Vec<(usize, Args)>,
    (watch, check_room): (Option<Watch>, bool),
    out: &mut ReplyBuf,
) -> CmdResult {
    let cmds: Vec<Cmd> = cmds
        .into_iter()
        .map(|(id, args)| Cmd { id, db, args })
        .collect();
    let (protocol, watcher) = (out.protocol(), watch.map(|w| w.id));
    let run = Msg::Control(Box::new(move |core| {
        run_here(core, watcher, cmds, protocol, check_room)
    }));
    match core.call(shard, None, run).await {
        Some(Answer::Count(FULL)) => return Err(CmdError::Raw(oom::EXEC_ABORT_OOM.into())),
        Some(Answer::Op(
            OpReply::Replies {
                out: replies, ends, ..
            },
            mark,
        )) => {
            if mark.appended {
                let logged = [(shard, mark.last_lsn)];
                crate::persist::writer::wait_acked(core, &logged)
                    .await
                    .map_err(CmdError::Raw)?;
            }
            out.array(ends.len());
            out.append(replies);
        }
        _ => out.null_array(),
    }
    Ok(())
}

/// On the shard: ends `watcher`'s session; with `check_room`, answers
/// `Answer::Count(FULL)` and runs nothing if the shard is out of memory (as Redis
/// refuses such an `EXEC` before it looks at the watched keys); runs nothing if a
/// watched key changed; else runs `cmds` with their changes kept as one journal
/// part, each timed and counted as a shard batch's ([`crate::ops::slowlog::apply`]).
fn run_here(
    core: &Rc<Core>,
    watcher: Option<WatcherId>,
    cmds: Vec<Cmd>,
    protocol: Protocol,
    check_room: bool,
) -> Answer {
    let mut shard = core.shard.borrow_mut();
    let dirty = watcher.is_some_and(|w| WatchTable::check(&mut shard, w, now_ms()));
    if check_room && oom::full_here(&mut shard) {
        return Answer::Count(FULL);
    }
    if dirty {
        return Answer::Op(OpReply::Done, LogMark::default());
    }
    let before = shard.log().last_lsn();
    shard.log_mut().begin_tx();
    let mut slow = Default::default();
    let reply = crate::ops::slowlog::apply(
        &mut shard,
        Op::Batch(cmds, ReplyBuf::new(protocol)),
        now_ms(),
        &mut slow,
    );
    let me = [Participant {
        shard: core.id as u16,
        lsn: before + 1,
    }];
    shard.log_mut().commit_tx(core.new_tx(), &me);
    drop(shard);
    core.kick_journal();
    Answer::Op(
        reply,
        LogMark {
            slow,
            ..core.log_mark(before)
        },
    )
}

/// Single-shard commands on several shards, nothing watched: each shard's batch
/// locks it and runs in one message, in ascending shard order ([`Held::ascending`]),
/// then every shard commits together.
async fn spread(
    core: &Rc<Core>,
    db: usize,
    cmds: Vec<(usize, Args)>,
    places: Vec<Place>,
    out: &mut ReplyBuf,
) -> CmdResult {
    let count = cmds.len();
    let run = cmds.into_iter().zip(places).map(|((id, args), place)| {
        let Place::Shard(s) = place else {
            unreachable!("only single-shard commands come here");
        };
        (s, Cmd { id, db, args })
    });
    let (order, mut batches) = per_shard(run.collect());
    batches.sort_unstable_by_key(|(s, _)| *s);
    let shards: Vec<usize> = batches.iter().map(|(s, _)| *s).collect();
    let protocol = out.protocol();
    let work = || {
        let ops = batches
            .iter()
            .map(|(s, cmds)| (*s, Op::Batch(cmds.clone(), ReplyBuf::new(protocol))))
            .collect();
        let (order, shards) = (order.clone(), shards.clone());
        let finish = move |answers: Result<Vec<OpReply>, String>, out: &mut ReplyBuf| {
            let answers = match answers {
                Ok(answers) => answers,
                Err(e) => return out.error(&e),
            };
            let mut replies = Replies::new(protocol, count);
            put_back(order, &shards, answers, &mut replies);
            replies.write(Vec::new(), out);
        };
        Work::new(ops, EXEC_PARTS_MIN, protocol, Box::new(finish))
    };
    match group::enter(work).await {
        Turn::Alone => {}
        Turn::Reply(bytes) => {
            out.append_vec(bytes);
            return Ok(());
        }
        Turn::Lead(batch) => {
            group::lead(core, batch, out).await;
            return Ok(());
        }
    }
    let (held, answers) = Held::ascending(core, batches, protocol).await;
    let mut replies = Replies::new(protocol, count);
    put_back(order, &shards, answers, &mut replies);
    let committed = held.commit().await;
    group::leave();
    committed.map_err(CmdError::Raw)?;
    replies.write(Vec::new(), out);
    Ok(())
}

/// Commands over several shards, or with server commands: under [`Held`] locks.
async fn across(
    core: &Rc<Core>,
    client: &mut Client,
    lock: &[usize],
    cmds: Vec<(usize, Args)>,
    places: Vec<Place>,
    watch: Option<Watch>,
    out: &mut ReplyBuf,
) -> CmdResult {
    let mut held = Held::lock(core, lock).await;
    let dirty = watch_dirty(&held, watch.as_ref()).await;
    if dirty {
        held.commit().await.map_err(CmdError::Raw)?;
        out.null_array();
        return Ok(());
    }
    let count = cmds.len();
    let mut replies = Replies::new(out.protocol(), count);
    let mut later = Vec::new();
    let mut queue = cmds.into_iter().zip(places).peekable();
    while let Some(((id, args), place)) = queue.next() {
        match place {
            Place::Shard(s) => {
                let mut run = vec![(
                    s,
                    Cmd {
                        id,
                        db: client.db,
                        args,
                    },
                )];
                while let Some(((id, args), Place::Shard(t))) =
                    queue.next_if(|(_, p)| matches!(p, Place::Shard(_)))
                {
                    run.push((
                        t,
                        Cmd {
                            id,
                            db: client.db,
                            args,
                        },
                    ));
                }
                shard_run(&mut held, run, &mut replies).await;
            }
            Place::Spread(_) => {
                held.command(id, client.db, &args, &mut replies.body).await;
                replies.end_ran(id);
            }
            Place::Server(true) => {
                later.push((replies.ends.len(), id, args));
                replies.end();
            }
            Place::Server(false) => {
                server(core, client, id, &args, &mut replies.body).await;
                replies.end();
            }
        }
    }
    held.commit().await.map_err(CmdError::Raw)?;
    let mut late = Vec::with_capacity(later.len());
    for (at, id, args) in later {
        let mut buf = ReplyBuf::new(out.protocol());
        server(core, client, id, &args, &mut buf).await;
        late.push((at, buf));
    }
    replies.write(late, out);
    Ok(())
}

/// Ends the watch session on every watched shard (held); whether a watched key
/// changed.
async fn watch_dirty(held: &Held<'_>, watch: Option<&Watch>) -> bool {
    let Some(w) = watch else {
        return false;
    };
    let mut dirty = false;
    for &s in &w.shards {
        let id = w.id;
        let take = Box::new(move |core: &Rc<Core>| {
            watch::verdict(WatchTable::check(
                &mut core.shard.borrow_mut(),
                id,
                now_ms(),
            ))
        });
        dirty |= watch::is_dirty(held.control(s, take).await);
    }
    dirty
}

/// Runs consecutive single-shard commands: each shard's share in one message, all
/// shards at once (commands on different shards touch different keys, so only each
/// shard's own order matters), replies put back in the commands' order.
async fn shard_run(held: &mut Held<'_>, run: Vec<(usize, Cmd)>, replies: &mut Replies) {
    let (order, batches) = per_shard(run);
    let shards: Vec<usize> = batches.iter().map(|(s, _)| *s).collect();
    let answers = held.batches(batches, replies.body.protocol()).await;
    put_back(order, &shards, answers, replies);
}

/// Commands grouped by shard (in the order the shards first appear), and each
/// command's shard in the commands' order.
fn per_shard(run: Vec<(usize, Cmd)>) -> (Vec<usize>, Vec<(usize, Vec<Cmd>)>) {
    let order: Vec<usize> = run.iter().map(|(s, _)| *s).collect();
    let mut batches: Vec<(usize, Vec<Cmd>)> = Vec::new();
    for (s, cmd) in run {
        match batches.iter_mut().find(|(t, _)| *t == s) {
            Some((_, cmds)) => cmds.push(cmd),
            None => batches.push((s, vec![cmd])),
        }
    }
    (order, batches)
}

/// Puts the batches' replies (`answers`, one per shard of `shards`) back in the
/// commands' order (`order`: each command's shard).
fn put_back(order: Vec<usize>, shards: &[usize], answers: Vec<OpReply>, replies: &mut Replies) {
    let mut per_shard: Vec<(Vec<u8>, std::vec::IntoIter<usize>, usize)> = answers
        .into_iter()
        .map(|reply| match reply {
            OpReply::Replies { out, ends, .. } => (out.into_bytes(), ends.into_iter(), 0),
            // A shard drops a request only when the process is shutting down.
            _ => (Vec::new(), Vec::new().into_iter(), 0),
        })
        .collect();
    for s in order {
        let i = shards
            .iter()
            .position(|t| *t == s)
            .expect("a batch per shard");
        let (out, ends, start) = &mut per_shard[i];
        match ends.next() {
            Some(end) => {
                replies.body.extend_from_slice(&out[*start..end]);
                *start = end;
            }
            None => replies.body.error("ERR server is shutting down"),
        }
        replies.end();
    }
}

/// Runs server command `id` and counts it as the connection's core counts a
/// command it runs, under its statistics row (`config|set`): its reply, its
/// latency, the slow log.
async fn server(core: &Rc<Core>, client: &mut Client, id: usize, args: &Args, out: &mut ReplyBuf) {
    let (started, reply_at) = (std::time::Instant::now(), out.len());
    run_server(core, client, id, args, out).await;
    let row = crate::ops::names::stat_rows().of(id, args);
    crate::ops::calls::replied(row, out.since(reply_at));
    crate::ops::slowlog::note(row, args, started, || crate::exec::client_tag(client));
}

/// Runs server command `id`; `WAIT` without blocking (see [`WAIT_IN_EXEC_TIMEOUT_MS`]).
async fn run_server(
    core: &Rc<Core>,
    client: &mut Client,
    id: usize,
    args: &Args,
    out: &mut ReplyBuf,
) {
    let spec = registry().all[id];
    let Exec::Server(handler) = spec.route else {
        return;
    };
    let timeout_ok = args
        .get(2)
        .and_then(|t| corekv_engine::resp::parse_i64(t))
        .is_some_and(|t| t >= 0);
    if spec.name == "wait" && timeout_ok {
        let mut args = args.clone();
        args[2] = Bytes::from_static(WAIT_IN_EXEC_TIMEOUT_MS);
        return crate::commands::run(core, client, handler, &args, out).await;
    }
    crate::commands::run(core, client, handler, args, out).await
}

/// `EXEC`'s replies as they come, and where each ends.
struct Replies {
    body: ReplyBuf,
    ends: Vec<usize>,
}

impl Replies {
    fn new(protocol: Protocol, count: usize) -> Replies {
        Replies {
            body: ReplyBuf::new(protocol),
            ends: Vec::with_capacity(count),
        }
    }

    /// The reply written to `body` since the last one is complete.
    fn end(&mut self) {
        self.ends.push(self.body.len());
    }

    /// Like [`Replies::end`], and counts the reply as command `id`'s (one this
    /// core ran itself: shard batches count theirs where they run).
    fn end_ran(&mut self, id: usize) {
        let start = self.ends.last().copied().unwrap_or(0);
        crate::ops::calls::replied(id, &self.body[start..]);
        self.end();
    }

    /// Writes the array of replies, the ones run after the commit (`late`,
    /// by position, ascending) in their places.
    fn write(self, late: Vec<(usize, ReplyBuf)>, out: &mut ReplyBuf) {
        out.array(self.ends.len());
        let mut late = late.into_iter().peekable();
        let mut start = 0;
        for (i, &end) in self.ends.iter().enumerate() {
            match late.next_if(|(at, _)| *at == i) {
                Some((_, buf)) => out.extend_from_slice(&buf),
                None => out.extend_from_slice(&self.body[start..end]),
            }
            start = end;
        }
    }
}
