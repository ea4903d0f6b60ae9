//! Routing: from a parsed pipeline batch to replies, in the order the commands came.
//!
//! A batch of more than one command first asks for the memory its home-shard
//! lookups will read ([`prefetch`]), so that a pipeline's cache misses overlap;
//! the network driver does the same for the first requests of several
//! connections arriving in one turn ([`prefetch_arrivals`]).
//! Each command is looked up once; its row drives the generic checks (unknown
//! command, arity, authentication, loading, replica) before anything runs, and its
//! id travels with it from then on. Then the route:
//! - keys all on one shard (or none): collected with the batch's other single-shard
//!   commands, then each shard's share goes in one message, all shards at once, the
//!   home shard's share running in place; replies are put back in order ([`Squash`]);
//! - `PING`/`ECHO`: answered in place as a reply slot among the waiting ones, so a
//!   pipeline mixing them with keyed commands stays on this path;
//! - keys on several shards, or every shard: [`crate::exec::tx`], atomic under shard locks
//!   (one-round commands of several connections sharing a transaction: `tx::group`);
//! - blocking commands: [`blocking`], which may wait for an element;
//! - other connection and server commands: their handlers ([`crate::commands`]).
//!
//! While `MULTI` is open, a command that passes the checks is queued instead
//! ([`multi`]), and one that fails them flags the transaction.

mod blocking;
pub mod multi;
pub mod tx;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

use corekv_engine::command::exec::{unknown_command_message, Cmd, Op, OpReply};
use corekv_engine::command::flags::BLOCKING;
use corekv_engine::command::parts::Split;
use corekv_engine::command::Route;
use corekv_engine::error::CmdError;
use corekv_engine::resp::{second_argument, Args, Protocol, Reply, ReplyBuf};
use corekv_engine::slot::shard_of;
use futures::future::join_all;
use smallvec::SmallVec;

use crate::commands::{registry, Exec, Handler, Spec};
use crate::ops::slowlog::{self, Stopwatch};
use crate::runtime::clock::now_ms_at;
use crate::session::client::Client;
use crate::shard::Core;

/// Where a command's keys live.
enum Placement {
    /// No keys: runs on the home shard.
    None,
    One(usize),
    Spread,
}

fn placement(spec: &Spec, args: &Args, shards: usize) -> Placement {
    let mut found = Placement::None;
    for i in spec.key_indices(args) {
        let s = shard_of(&args[i], shards);
        match found {
            Placement::None => found = Placement::One(s),
            Placement::One(t) if t != s => return Placement::Spread,
            _ => {}
        }
    }
    found
}

/// The slot of a reply answered in place rather than by a shard.
const INLINE: usize = usize::MAX;

/// Single-shard commands of a pipeline waiting to run: when flushed, every shard gets
/// its share in one message, all shards at once, and the replies are put back in the
/// order the commands came. Pipelined commands are concurrent from the client's point
/// of view (it has seen no reply yet), so running them on their shards in parallel is
/// linearizable; commands that are not single-shard (multi-shard, fan-out, server
/// commands) flush first, so they see every earlier command of the pipeline done.
/// `PING` and `ECHO` touch no shard: their replies wait in `inline`, in order.
struct Squash {
    /// Per command, in arrival order: its shard (or [`INLINE`]) and command id.
    order: Vec<(usize, usize)>,
    /// Per shard: its commands.
    per_shard: Vec<Vec<Cmd>>,
    /// Replies answered in place, and where each ends.
    inline: ReplyBuf,
    inline_ends: Vec<usize>,
    /// The one shard every waiting command is for, while that holds.
    only: Option<usize>,
    started: Instant,
    /// Shards whose journal the batch wrote to, and the last LSN it wrote there:
    /// the replies wait until those are written (durable under `appendfsync always`).
    logged: Vec<(usize, u64)>,
    /// Slow-log entries of the batch's commands, named with the client at its end.
    slow: Vec<u64>,
    /// The home shard's last LSN before the first command that ran in place since
    /// the last flush, if one did.
    home_lsn: Option<u64>,
}

thread_local! {
    /// A spare [`Squash`] for this core's next batch, so batches reuse its buffers
    /// (boxed: taking and putting it back moves a pointer, not the struct).
    static SPARE_SQUASH: RefCell<Option<Box<Squash>>> = const { RefCell::new(None) };
}

impl Squash {
    /// A cleared squash: this core's spare one, or a new one.
    fn take(shards: usize) -> Box<Self> {
        SPARE_SQUASH
            .with(|spare| spare.borrow_mut().take())
            .filter(|s| s.per_shard.len() == shards)
            .unwrap_or_else(|| {
                Box::new(Squash {
                    order: Vec::new(),
                    per_shard: (0..shards).map(|_| Vec::new()).collect(),
                    inline: ReplyBuf::new(Protocol::Resp2),
                    inline_ends: Vec::new(),
                    only: None,
                    started: Instant::now(),
                    logged: Vec::new(),
                    slow: Vec::new(),
                    home_lsn: None,
                })
            })
    }

    /// Keeps this squash's buffers for the core's next batch.
    fn put_back(mut self: Box<Self>) {
        self.logged.clear();
        self.slow.clear();
        debug_assert!(self.order.is_empty() && self.inline.is_empty());
        debug_assert!(self.home_lsn.is_none());
        SPARE_SQUASH.with(|spare| *spare.borrow_mut() = Some(self));
    }

    /// Gives the slow-log entries of the batch's commands their client.
    fn name_slow(&self, client: &Client) {
        if !self.slow.is_empty() {
            slowlog::name_client(&self.slow, client_tag(client));
        }
    }

    fn note_logged(&mut self, shard: usize, lsn: u64) {
        match self.logged.iter_mut().find(|(s, _)| *s == shard) {
            Some((_, l)) => *l = lsn.max(*l),
            None => self.logged.push((shard, lsn)),
        }
    }

    /// Queues command `id` (statistics row `row`) for `shard`.
    fn push(&mut self, shard: usize, id: usize, row: usize, db: usize, args: Args) {
        if self.order.is_empty() {
            self.started = Instant::now();
            self.only = Some(shard);
        } else if self.only != Some(shard) {
            self.only = None;
        }
        self.order.push((shard, row));
        self.per_shard[shard].push(Cmd { id, db, args });
    }

    /// Takes a reply slot for a command answered in place; the caller appends its
    /// reply to `inline` and its end to `inline_ends`. `false` when nothing waits:
    /// the reply goes to the output directly.
    fn inline_slot(&mut self, id: usize) -> bool {
        if self.order.is_empty() {
            return false;
        }
        self.only = None;
        self.order.push((INLINE, id));
        true
    }
}

/// Executes one pipeline batch for `client`, appending replies to `out` in order.
/// The commands are run where they lie in `batch` (the connection's buffer):
/// only a command that must outlive the loop (queued by `MULTI`, or sent to
/// another shard) is taken out of it.
///
/// The futures of the paths that wait on something other than the journal (a
/// blocking command, a transaction over several shards, another shard's replies,
/// a write pause) are boxed where they are awaited: inlined, their state would be
/// part of every connection task's, which an idle connection holds for its whole
/// life (10 KiB per idle connection with them inlined, 4 KiB boxed; one allocation
/// per such wait).
pub async fn run_batch(
    core: &Rc<Core>,
    client: &mut Client,
    batch: &mut [Args],
    out: &mut ReplyBuf,
) {
    let (batch_start, commands) = (out.len(), batch.len());
    let mut squash = Squash::take(core.shards());
    squash.inline.set_protocol(out.protocol());
    let batch_started = Instant::now();
    let now = now_ms_at(batch_started);
    let mut watch = Stopwatch::start(batch_started);
    prefetch(core, client.db, batch);
    // The position of the last command run in place: the stopwatch runs from its
    // end (0: from the batch's start, before the first command).
    let mut timed_through = 0;
    for (position, args) in (1..).zip(batch.iter_mut()) {
        if client.closing {
            break;
        }
        // Neither future is built unless it has work: moving the arguments in and
        // out of a future costs more than the command's own lookup.
        if crate::repl::pause::paused(&core.global) {
            Box::pin(hold_while_paused(core, client, args, &mut squash, now, out)).await;
        }
        let (id, row, spec) = match admitted(core, client, args, batch_started) {
            Ok(found) => found,
            Err((id, message)) => {
                flush(core, &mut squash, now, out).await;
                let row = id.map(|id| crate::ops::names::stat_rows().of(id, args));
                crate::ops::calls::rejected(row, &message);
                out.error(&message);
                client.multi.flag_error();
                continue;
            }
        };
        if client.multi.is_open() {
            match multi::intercept(core, client, id, spec, std::mem::take(args), out).await {
                Some(back) => *args = back,
                None => continue,
            }
        }
        if spec.has(BLOCKING) {
            flush(core, &mut squash, now, out).await;
            Box::pin(blocking::run(core, client, id, args, out)).await;
            continue;
        }
        if client.subs.active() && crate::pubsub::subscribed_ping(client, spec, args, out) {
            continue;
        }
        if keyed(spec) {
            let shard = match placement(spec, args, core.shards()) {
                Placement::None => Some(core.id),
                Placement::One(t) => Some(t),
                Placement::Spread => None,
            };
            match shard {
                Some(home) if home == core.id && squash.order.is_empty() && core.unlocked() => {
                    if timed_through + 1 != position {
                        watch.restart();
                    }
                    let (db, watch) = (client.db, &mut watch);
                    run_in_place(core, &mut squash, watch, (id, row), db, args, now, out);
                    timed_through = position;
                }
                Some(shard) => squash.push(shard, id, row, client.db, std::mem::take(args)),
                None => {
                    flush(core, &mut squash, now, out).await;
                    let started = Started::now(out);
                    Box::pin(crate::exec::tx::run(core, id, client.db, args, out)).await;
                    ran(core, client, id, args, started, out);
                }
            }
            continue;
        }
        run_unkeyed(core, client, id, spec.route, args, &mut squash, now, out).await;
    }
    finish(core, client, squash, now, (batch_start, commands), out).await;
}

/// Asks for the memory the batch's lookups on this core's shard will read, when it
/// has more than one command: each command's first argument, which is its key for
/// most commands (any other costs a probe that finds nothing). The misses of a
/// pipeline's lookups then overlap instead of stalling one command at a time.
fn prefetch(core: &Core, db: usize, batch: &[Args]) {
    if batch.len() < 2 {
        return;
    }
    let shards = core.shards();
    let keys = batch
        .iter()
        .filter_map(|args| args.get(1))
        .filter(|key| shards == 1 || shard_of(key, shards) == core.id)
        .map(|key| &key[..]);
    core.shard.borrow().keyspace().db(db).prefetch(keys);
}

/// Asks for the memory the first requests of several connections' new inputs
/// will read on this core's shard (their second arguments, in database 0, which
/// most clients use), before any of them runs: the misses of the lookups of a
/// turn's requests overlap, as a pipeline's do ([`prefetch`]).
pub fn prefetch_arrivals(core: &Core, inputs: &[&[u8]]) {
    let shards = core.shards();
    let keys: SmallVec<[&[u8]; 32]> = inputs
        .iter()
        .filter_map(|input| second_argument(input))
        .filter(|key| shards == 1 || shard_of(key, shards) == core.id)
        .collect();
    if keys.len() < 2 {
        return;
    }
    if let Ok(shard) = core.shard.try_borrow() {
        shard.keyspace().db(0).prefetch(keys.iter().copied());
    }
}

/// Ends a batch of `commands` whose replies start at `batch_start` in `out`: runs
/// what still waits, names the slow-log entries and holds the replies until the
/// batch's records are as safe as `appendfsync` says (or replaces them with the
/// error).
async fn finish(
    core: &Rc<Core>,
    client: &Client,
    mut squash: Box<Squash>,
    now: u64,
    (batch_start, commands): (usize, usize),
    out: &mut ReplyBuf,
) {
    settle_home(core, &mut squash);
    if !squash.order.is_empty() {
        flush(core, &mut squash, now, out).await;
    }
    squash.name_slow(client);
    if !squash.logged.is_empty() {
        if let Err(e) = crate::persist::writer::wait_acked(core, &squash.logged).await {
            out.truncate(batch_start);
            (0..commands).for_each(|_| out.error(&e));
        }
    }
    squash.put_back();
}

/// Runs command `id` (statistics row `row`) of the connection's own shard in place,
/// its reply straight into `out`: nothing waits before it and no transaction holds
/// the shard. Timed by `watch`, counted, blocked clients served between it and the
/// next command; the journal is woken and the blocked clients whose step moves to
/// another shard are served when the squash next flushes ([`settle_home`]).
#[allow(clippy::too_many_arguments)]
fn run_in_place(
    core: &Core,
    squash: &mut Squash,
    watch: &mut Stopwatch,
    (id, row): (usize, usize),
    db: usize,
    args: &Args,
    now: u64,
    out: &mut ReplyBuf,
) {
    let mut engine = core.shard.borrow_mut();
    if squash.home_lsn.is_none() {
        squash.home_lsn = Some(engine.log().last_lsn());
    }
    let reply_at = out.len();
    engine.run_cmd(id, db, args, now, out);
    crate::ops::calls::replied(row, out.since(reply_at));
    let (us, slow) = watch.lap(row, args);
    squash.slow.extend(slow);
    crate::shard::blocking::serve_between(core, &mut engine);
    drop(engine);
    let mut stats = core.stats.borrow_mut();
    stats.commands += 1;
    let slot = &mut stats.command_calls[row];
    slot.0 += 1;
    slot.1 += us;
}

/// After commands ran in place ([`run_in_place`]): serves the blocked clients
/// they made ready and wakes the journal if they wrote to it, as a flush of the
/// home shard's commands does.
fn settle_home(core: &Core, squash: &mut Squash) {
    let Some(before) = squash.home_lsn.take() else {
        return;
    };
    let after = core.shard.borrow().log().last_lsn();
    crate::shard::blocking::serve_ready(core);
    if after != before {
        core.kick_journal();
        squash.note_logged(core.id, after);
    }
}

/// A command without keys in a batch: a pure server command answered in place
/// among the squashed ones, any other after the replies before it.
#[allow(clippy::too_many_arguments)]
async fn run_unkeyed(
    core: &Rc<Core>,
    client: &mut Client,
    id: usize,
    route: Exec,
    args: &Args,
    squash: &mut Squash,
    now: u64,
    out: &mut ReplyBuf,
) {
    match route {
        Exec::Server(handler @ Handler::Pure(_)) => {
            if squash.inline_slot(id) {
                crate::commands::run(core, client, handler, args, &mut squash.inline).await;
                squash.inline_ends.push(squash.inline.len());
                return;
            }
            let started = Started::now(out);
            crate::commands::run(core, client, handler, args, out).await;
            ran(core, client, id, args, started, out);
        }
        Exec::Server(handler) => {
            flush(core, squash, now, out).await;
            let started = Started::now(out);
            crate::commands::run(core, client, handler, args, out).await;
            ran(core, client, id, args, started, out);
        }
        Exec::Engine(_) => {
            flush(core, squash, now, out).await;
            let started = Started::now(out);
            Box::pin(crate::exec::tx::run(core, id, client.db, args, out)).await;
            ran(core, client, id, args, started, out);
        }
    }
}

/// While writes are paused for a planned switchover ([`crate::repl::pause`]), a
/// write waits, after the replies before it are flushed, until the pause ends.
async fn hold_while_paused(
    core: &Rc<Core>,
    client: &Client,
    args: &Args,
    squash: &mut Squash,
    now: u64,
    out: &mut ReplyBuf,
) {
    let Some((_, spec)) = registry().lookup(&args[0]) else {
        return;
    };
    if crate::repl::pause::holds(&core.global, client, spec) {
        flush(core, squash, now, out).await;
        crate::repl::pause::wait(&core.global).await;
    }
}

/// The command `args` names, if it exists and passes [`generic_checks`] (then it
/// goes to the monitors); else the error to reply, and the command if it exists
/// (a container's unknown subcommand is none, as in Redis). Found: its id, its
/// statistics row and its row. The client's last activity is its batch's start,
/// `batch_started`: one clock read per batch.
fn admitted(
    core: &Rc<Core>,
    client: &Client,
    args: &Args,
    batch_started: Instant,
) -> Result<(usize, usize, &'static Spec), (Option<usize>, String)> {
    let Some((id, spec)) = registry().lookup(&args[0]) else {
        client.note_command(None, batch_started);
        return Err((None, unknown_command_message(args)));
    };
    let rows = crate::ops::names::stat_rows();
    let Some(row) = rows.resolve(id, args) else {
        client.note_command(None, batch_started);
        return Err((None, rows.unknown_subcommand(id, &args[1])));
    };
    client.note_command(Some(rows.name(row)), batch_started);
    if let Some(full) = rows.wrong_arity(row, args.len()) {
        return Err((Some(id), CmdError::WrongArgs(full.to_string()).message()));
    }
    match generic_checks(core, client, spec, args) {
        Some(err) => Err((Some(id), err.message())),
        None => {
            crate::commands::monitor::feed(core, client, spec, args);
            Ok((id, row, spec))
        }
    }
}

/// Whether `spec` runs on the shards its keys name (squashed per shard).
fn keyed(spec: &Spec) -> bool {
    match spec.route {
        Exec::Engine(Route::Shard(_)) => true,
        Exec::Engine(Route::Parts(parts)) => matches!(parts.split, Split::Keys),
        Exec::Server(_) => false,
    }
}

/// Redis's checks before a handler runs, in Redis's order. Returns the error.
fn generic_checks(core: &Core, client: &Client, spec: &Spec, args: &Args) -> Option<CmdError> {
    use corekv_engine::command::flags::{LOADING, NO_AUTH, WRITE};
    use std::sync::atomic::Ordering::Relaxed;
    let hot = &core.global.config.hot;
    if !spec.arity_ok(args.len()) {
        return Some(CmdError::WrongArgs(spec.name.to_string()));
    }
    if !client.authenticated && !spec.has(NO_AUTH) && hot.auth_required.load(Relaxed) {
        return Some(CmdError::NoAuth);
    }
    if spec.has(WRITE) || spec.name == "ping" {
        if let Some(refusal) = crate::persist::journal::write_refusal() {
            return Some(CmdError::Raw(refusal));
        }
    }
    if !spec.has(LOADING) && core.global.is_loading() {
        return Some(CmdError::Loading);
    }
    if let Some(refusal) = crate::repl::gate::refusal(&core.global, spec) {
        return Some(refusal);
    }
    crate::pubsub::refusal(client, spec, args)
}

/// The slow log's name for `client`: its address and name.
pub(crate) fn client_tag(client: &Client) -> slowlog::ClientTag {
    let info = client.info.borrow();
    (info.addr.to_string(), info.name.clone())
}

/// When and where in the output a command the connection's core runs started.
struct Started {
    at: Instant,
    reply_at: usize,
}

impl Started {
    fn now(out: &ReplyBuf) -> Started {
        Started {
            at: Instant::now(),
            reply_at: out.len(),
        }
    }
}

/// Counts a command the connection's core ran (itself, or as a transaction over
/// shards) and its reply, and logs it if it was slow.
fn ran(core: &Core, client: &Client, id: usize, args: &Args, started: Started, out: &ReplyBuf) {
    let id = crate::ops::names::stat_rows().of(id, args);
    record(core, id, started.at, 1);
    crate::ops::calls::replied(id, out.since(started.reply_at));
    slowlog::note(id, args, started.at, || client_tag(client));
}

/// Counts the commands an `EXEC` ran from `started` (their statistics rows,
/// `ids`), each a call with an equal share of the time.
pub(crate) fn record_each(core: &Core, ids: &[usize], started: Instant) {
    let us = started.elapsed().as_micros() as u64 / ids.len().max(1) as u64;
    let mut stats = core.stats.borrow_mut();
    stats.commands += ids.len() as u64;
    for &id in ids {
        let slot = &mut stats.command_calls[id];
        slot.0 += 1;
        slot.1 += us;
    }
}

fn record(core: &Core, id: usize, started: Instant, calls: u64) {
    let us = started.elapsed().as_micros() as u64;
    let mut stats = core.stats.borrow_mut();
    stats.commands += calls;
    let slot = &mut stats.command_calls[id];
    slot.0 += calls;
    slot.1 += us;
}

/// Runs the waiting single-shard commands and appends their replies in order,
/// after settling those that ran in place.
async fn flush(core: &Rc<Core>, squash: &mut Squash, now: u64, out: &mut ReplyBuf) {
    settle_home(core, squash);
    if squash.order.is_empty() {
        return;
    }
    let home = core.id;
    match squash.only {
        // The common case: one shard's commands, replies straight into `out`.
        Some(shard) if shard == home && core.unlocked() => {
            let mut engine = core.shard.borrow_mut();
            let before = engine.log().last_lsn();
            let slow = &mut squash.slow;
            let cmds = squash.per_shard[home].drain(..);
            slowlog::run_timed(&mut engine, cmds, now, out, |engine, _, id| {
                slow.extend(id);
                crate::shard::blocking::serve_between(core, engine);
            });
            let after = engine.log().last_lsn();
            drop(engine);
            crate::shard::blocking::serve_ready(core);
            if after != before {
                core.kick_journal();
                squash.note_logged(home, after);
            }
        }
        Some(shard) => {
            let cmds = std::mem::take(&mut squash.per_shard[shard]);
            // An empty output lends its buffer: the other shard writes the replies
            // into its room and they come back in it, neither grown nor copied.
            let lent = out.is_empty();
            let buf = match lent {
                true => std::mem::replace(out, ReplyBuf::new(out.protocol())),
                false => ReplyBuf::new(out.protocol()),
            };
            let (reply, mark) = Box::pin(core.op_marked(shard, None, Op::Batch(cmds, buf))).await;
            if mark.appended {
                squash.note_logged(shard, mark.last_lsn);
            }
            squash.slow.extend_from_slice(mark.slow.as_slice());
            if let OpReply::Replies {
                out: replies, cmds, ..
            } = reply
            {
                match lent {
                    true => *out = replies,
                    false => out.append(replies),
                }
                squash.per_shard[shard] = cmds;
            }
        }
        None => Box::pin(interleave(core, squash, now, out)).await,
    }
    record_squash(core, squash);
    squash.order.clear();
    squash.inline.clear();
    squash.inline_ends.clear();
}

/// Runs waiting commands for several shards at once and interleaves their replies
/// with those answered in place.
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
        if shard == home && core.unlocked() {
            let mut buf = ReplyBuf::new(out.protocol());
            let mut ends = Vec::new();
            let mut engine = core.shard.borrow_mut();
            let before = engine.log().last_lsn();
            let slow = &mut squash.slow;
            slowlog::run_timed(&mut engine, cmds.drain(..), now, &mut buf, |e, b, id| {
                ends.push(b.len());
                slow.extend(id);
                crate::shard::blocking::serve_between(core, e);
            });
            replies[home] = (buf.into_bytes(), ends);
            let after = engine.log().last_lsn();
            drop(engine);
            crate::shard::blocking::serve_ready(core);
            if after != before {
                core.kick_journal();
                home_logged = Some(after);
            }
        } else {
            let cmds = std::mem::take(cmds);
            remote.push((
                shard,
                core.op_marked(shard, None, Op::Batch(cmds, ReplyBuf::new(out.protocol()))),
            ));
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
        squash.slow.extend_from_slice(mark.slow.as_slice());
        if let OpReply::Replies { out, ends, cmds } = answer {
            squash.per_shard[shard] = cmds;
            replies[shard] = (out.into_bytes(), ends);
        }
    }
    let mut next = vec![0usize; core.shards()];
    let mut start = vec![0usize; core.shards()];
    let mut inline = (0, 0);
    for &(shard, _) in &squash.order {
        if shard == INLINE {
            let end = squash.inline_ends[inline.0];
            out.extend_from_slice(&squash.inline[inline.1..end]);
            inline = (inline.0 + 1, end);
            continue;
        }
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
    for &(_, id) in &squash.order {
        let slot = &mut stats.command_calls[id];
        slot.0 += 1;
        slot.1 += us / n;
    }
}
