//! The slow log: commands that ran longer than `slowlog-log-slower-than`, newest
//! first, at most `slowlog-max-len` of them (`SLOWLOG GET`).
//!
//! A command's duration is the time it ran on its shard, not the time it waited to
//! get there: a command whose keys live on the connection's own shard is timed
//! where it runs in place, one for another shard is timed on that shard's core
//! ([`Lap`], in the mesh's batch handler), so a hop's queueing never counts. A
//! command that spans shards (a transaction) or that the server answers itself
//! (`CONFIG`, `INFO`, `DEBUG SLEEP`, ...) is timed from its start to its reply by
//! the connection's core.
//!
//! The timing costs one clock read per command while latency tracking
//! ([`super::calls`]), the log or the latency monitor ([`super::latency`]) is on
//! (each command's end is the next one's start); the log itself is process-wide,
//! behind
//! a lock taken only for a slow command or a `SLOWLOG` request. An entry made on
//! another core learns its client's address and name when the answer is back on
//! the connection's core ([`name_client`]). Arguments are kept as Redis keeps
//! them: at most [`ENTRY_ARGS_MAX`], each cut at [`ENTRY_ARG_BYTES_MAX`], secrets
//! redacted ([`redacted`]).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Instant;

use bytes::Bytes;
use corekv_engine::command::exec::{Cmd, Op, OpReply};
use corekv_engine::command::flags::{FAST, SKIP_SLOWLOG};
use corekv_engine::command::table;
use corekv_engine::resp::ReplyBuf;
use corekv_engine::shard::Shard;

/// Arguments an entry keeps; the last one kept says how many more there were.
pub const ENTRY_ARGS_MAX: usize = 32;
/// Bytes of one argument an entry keeps; the rest is counted.
pub const ENTRY_ARG_BYTES_MAX: usize = 128;
/// Entries `SLOWLOG GET` returns without a count.
pub const GET_COUNT_DEFAULT: usize = 10;
/// Slow commands of one shard batch whose entry ids travel back with its answer
/// ([`SlowIds`]); the entries beyond are logged without a client.
pub const SLOW_IDS_PER_BATCH_MAX: usize = 4;

/// What replaces a secret argument, in the slow log and in `MONITOR`.
pub const REDACTED: &[u8] = b"(redacted)";

/// One logged command.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: u64,
    pub unix_s: u64,
    pub duration_us: u64,
    pub args: Vec<Bytes>,
    pub addr: String,
    pub name: String,
}

struct Log {
    next_id: u64,
    /// Newest first.
    entries: VecDeque<Entry>,
}

static LOG: Mutex<Log> = Mutex::new(Log {
    next_id: 0,
    entries: VecDeque::new(),
});

fn log() -> std::sync::MutexGuard<'static, Log> {
    LOG.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The client a command ran for: its address and name.
pub type ClientTag = (String, String);

/// Whether the argument at `index` of `args` is a secret Redis keeps out of the
/// slow log and `MONITOR`: every argument of `AUTH`, the user and password after
/// `HELLO`'s `AUTH`.
pub fn redacted(args: &[Bytes], index: usize) -> bool {
    let name = &args[0];
    if name.eq_ignore_ascii_case(b"auth") {
        return index > 0;
    }
    name.eq_ignore_ascii_case(b"hello")
        && ((index >= 3 && args[index - 1].eq_ignore_ascii_case(b"auth"))
            || (index >= 4 && args[index - 2].eq_ignore_ascii_case(b"auth")))
}

/// The arguments as an entry keeps them.
fn kept_args(args: &[Bytes]) -> Vec<Bytes> {
    let kept = args.len().min(ENTRY_ARGS_MAX);
    (0..kept)
        .map(|i| {
            if kept != args.len() && i == kept - 1 {
                let more = args.len() - kept + 1;
                return Bytes::from(format!("... ({more} more arguments)"));
            }
            if redacted(args, i) {
                return Bytes::from_static(REDACTED);
            }
            let arg = &args[i];
            if arg.len() <= ENTRY_ARG_BYTES_MAX {
                // A copy: a slice would keep the whole input buffer it came from.
                return Bytes::copy_from_slice(arg);
            }
            let mut cut = arg[..ENTRY_ARG_BYTES_MAX].to_vec();
            let more = arg.len() - ENTRY_ARG_BYTES_MAX;
            cut.extend_from_slice(format!("... ({more} more bytes)").as_bytes());
            Bytes::from(cut)
        })
        .collect()
}

/// Logs a command that ran `duration_us` for `client` (`None`: named later with
/// [`name_client`]). Returns the entry's id.
pub fn record(args: &[Bytes], duration_us: u64, client: Option<ClientTag>) -> u64 {
    let (addr, name) = client.unwrap_or_default();
    let entry_args = kept_args(args);
    let unix_s = crate::runtime::clock::now_ms() / 1000;
    let max = super::slowlog_max_len();
    let mut log = log();
    let id = log.next_id;
    log.next_id += 1;
    log.entries.push_front(Entry {
        id,
        unix_s,
        duration_us,
        args: entry_args,
        addr,
        name,
    });
    log.entries.truncate(max);
    id
}

/// Counts a command (statistics row `id`, [`super::names::StatRows`]) the
/// connection's core timed from `started`:
/// feeds its latency histogram while tracking is on, and logs it if it was slow;
/// `client` names it then. A command flagged `skip_slowlog` (`EXEC`) is not
/// logged, as in Redis.
pub fn note(id: usize, args: &[Bytes], started: Instant, client: impl FnOnce() -> ClientTag) {
    let tracking = super::latency_tracking();
    let threshold = super::timing_threshold_us();
    if !tracking && threshold.is_none() {
        return;
    }
    let ns = started.elapsed().as_nanos() as u64;
    if tracking {
        super::calls::record_latency(id, ns);
    }
    let us = ns / 1000;
    if threshold.is_some_and(|t| us >= t) && !super::names::stat_rows().has(id, SKIP_SLOWLOG) {
        slow(args, us, Some(client()));
    }
}

/// A command ran at least the timing threshold: logs it if the slow log wants
/// it (its entry id) and tells the latency monitor.
fn slow(args: &[Bytes], us: u64, client: Option<ClientTag>) -> Option<u64> {
    let fast = table().get(&args[0]).is_some_and(|s| s.has(FAST));
    super::latency::add_command(fast, us);
    let threshold = super::slowlog_threshold_us()?;
    (us >= threshold).then(|| record(args, us, client))
}

/// Gives the entries `ids` (made on a shard's core) their client.
pub fn name_client(ids: &[u64], client: ClientTag) {
    let mut log = log();
    for entry in log.entries.iter_mut().filter(|e| ids.contains(&e.id)) {
        entry.addr.clone_from(&client.0);
        entry.name.clone_from(&client.1);
    }
}

/// The newest `count` entries (all with `None`).
pub fn newest(count: Option<usize>) -> Vec<Entry> {
    let log = log();
    let n = count.unwrap_or(log.entries.len());
    log.entries.iter().take(n).cloned().collect()
}

pub fn len() -> usize {
    log().entries.len()
}

pub fn reset() {
    log().entries.clear();
}

/// Keeps the newest `max` entries (`slowlog-max-len` changed).
pub fn trim(max: usize) {
    log().entries.truncate(max);
}

/// The ids of the slow commands of one shard batch, travelling back with its
/// answer so the connection's core can name their client. Fixed size, so the
/// answer stays `Copy`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SlowIds {
    ids: [u64; SLOW_IDS_PER_BATCH_MAX],
    len: u8,
}

impl SlowIds {
    pub fn push(&mut self, id: u64) {
        if (self.len as usize) < SLOW_IDS_PER_BATCH_MAX {
            self.ids[self.len as usize] = id;
            self.len += 1;
        }
    }

    pub fn as_slice(&self) -> &[u64] {
        &self.ids[..self.len as usize]
    }
}

/// Times the commands of a shard batch one after another: [`Lap::lap`] after each
/// command feeds its latency histogram and logs it if it was slow. Reads the
/// clock only while latency tracking, the log or the latency monitor is on.
pub struct Lap {
    /// The slow log's or the latency monitor's threshold, while one is on.
    threshold_us: Option<u64>,
    tracking: bool,
    last: Instant,
}

impl Lap {
    /// Starts timing before a batch's first command; `None` while nothing
    /// wants the durations.
    pub fn start() -> Option<Lap> {
        Lap::start_at(Instant::now)
    }

    /// [`Lap::start`] at the instant `now` gives, read only when wanted.
    fn start_at(now: impl FnOnce() -> Instant) -> Option<Lap> {
        let threshold_us = super::timing_threshold_us();
        let tracking = super::latency_tracking();
        (tracking || threshold_us.is_some()).then(|| Lap {
            threshold_us,
            tracking,
            last: now(),
        })
    }

    /// After the command of statistics row `id` (`args`) ran: its entry's id if
    /// it was slow.
    pub fn lap(&mut self, id: usize, args: &[Bytes]) -> Option<u64> {
        let now = Instant::now();
        let ns = now.duration_since(self.last).as_nanos() as u64;
        self.last = now;
        self.timed(id, args, ns)
    }

    /// Feeds the duration `ns` of the command of statistics row `id` (`args`) to
    /// its histogram and the log: its entry's id if it was slow.
    fn timed(&self, id: usize, args: &[Bytes], ns: u64) -> Option<u64> {
        if self.tracking {
            super::calls::record_latency(id, ns);
        }
        let us = ns / 1000;
        match self.threshold_us {
            Some(threshold) if us >= threshold => slow(args, us, None),
            _ => None,
        }
    }
}

/// Times commands a connection's core runs in place one at a time, with one clock
/// read per command: a command's duration runs from the end of the one timed just
/// before it (its start, when they ran back to back) to its own end. Unlike
/// [`Lap`] it always reads the clock, since `INFO commandstats` counts every
/// command's time.
pub struct Stopwatch {
    /// What the histograms and the log want, read once per batch.
    wants: Option<Lap>,
    /// The end of the last command timed, or the start of the next one.
    last: Instant,
}

impl Stopwatch {
    /// Starts at `now`, before a batch's first command.
    pub fn start(now: Instant) -> Stopwatch {
        let wants = Lap::start_at(|| now);
        Stopwatch { wants, last: now }
    }

    /// Starts the next command's time now: something else ran since the last.
    pub fn restart(&mut self) {
        self.last = Instant::now();
    }

    /// After the command of statistics row `id` (`args`) ran: its duration in µs,
    /// and its slow-log entry's id if it was slow.
    pub fn lap(&mut self, id: usize, args: &[Bytes]) -> (u64, Option<u64>) {
        let now = Instant::now();
        let ns = now.duration_since(self.last).as_nanos() as u64;
        self.last = now;
        let slow = self.wants.as_ref().and_then(|l| l.timed(id, args, ns));
        (ns / 1000, slow)
    }
}

/// Runs a shard batch's commands, each timed while the log is on and its reply
/// counted ([`super::calls::replied`]); `after` gets the shard (blocked clients are
/// served there between commands), the replies so far and the entry id of a
/// command that was slow.
pub fn run_timed(
    shard: &mut Shard,
    cmds: impl IntoIterator<Item = Cmd>,
    now_ms: u64,
    out: &mut ReplyBuf,
    mut after: impl FnMut(&mut Shard, &ReplyBuf, Option<u64>),
) {
    let mut lap = Lap::start();
    for cmd in cmds {
        let reply_at = out.len();
        shard.run_cmd(cmd.id, cmd.db, &cmd.args, now_ms, out);
        let row = super::names::stat_rows().of(cmd.id, &cmd.args);
        super::calls::replied(row, out.since(reply_at));
        let slow = lap.as_mut().and_then(|l| l.lap(row, &cmd.args));
        after(shard, out, slow);
    }
}

/// Applies `op` on the shard of a core asked over the mesh: a batch timed command
/// by command, its slow commands' entry ids in `slow`; anything else as the shard
/// applies it.
pub fn apply(shard: &mut Shard, op: Op, now_ms: u64, slow: &mut SlowIds) -> OpReply {
    apply_between(shard, op, now_ms, slow, |_| {})
}

/// [`apply`], with `between` run on the shard after each command of a batch (also
/// the batches of an [`Op::Seq`]).
pub fn apply_between(
    shard: &mut Shard,
    op: Op,
    now_ms: u64,
    slow: &mut SlowIds,
    mut between: impl FnMut(&mut Shard),
) -> OpReply {
    match op {
        Op::Seq(ops) => OpReply::Seq(
            ops.into_iter()
                .map(|op| apply_one(shard, op, now_ms, slow, &mut between))
                .collect(),
        ),
        op => apply_one(shard, op, now_ms, slow, &mut between),
    }
}

fn apply_one(
    shard: &mut Shard,
    op: Op,
    now_ms: u64,
    slow: &mut SlowIds,
    between: &mut dyn FnMut(&mut Shard),
) -> OpReply {
    let Op::Batch(mut cmds, mut out) = op else {
        return shard.apply(op, now_ms);
    };
    shard.prefetch_batch(&cmds);
    let mut ends = Vec::with_capacity(cmds.len());
    run_timed(shard, cmds.drain(..), now_ms, &mut out, |shard, buf, id| {
        ends.push(buf.len());
        if let Some(id) = id {
            slow.push(id);
        }
        between(shard);
    });
    OpReply::Replies { out, ends, cmds }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&[u8]]) -> Vec<Bytes> {
        words.iter().map(|w| Bytes::copy_from_slice(w)).collect()
    }

    #[test]
    fn long_commands_and_arguments_are_cut_like_redis() {
        let many: Vec<Bytes> = (0..40).map(|i| Bytes::from(i.to_string())).collect();
        let kept = kept_args(&many);
        assert_eq!(kept.len(), ENTRY_ARGS_MAX);
        assert_eq!(kept[30], Bytes::from("30"));
        assert_eq!(kept[31], Bytes::from("... (9 more arguments)"));
        let exactly = kept_args(&many[..ENTRY_ARGS_MAX]);
        assert_eq!(exactly[31], Bytes::from("31"));
        let long = args(&[b"set", b"k", &[b'x'; 130]]);
        let kept = kept_args(&long);
        assert_eq!(
            &kept[2][..ENTRY_ARG_BYTES_MAX],
            &[b'x'; ENTRY_ARG_BYTES_MAX][..]
        );
        assert_eq!(&kept[2][ENTRY_ARG_BYTES_MAX..], b"... (2 more bytes)");
        assert_eq!(kept_args(&args(&[b"get", &[b'y'; 128]]))[1].len(), 128);
    }

    #[test]
    fn secrets_are_redacted() {
        let auth = kept_args(&args(&[b"AUTH", b"user", b"pass"]));
        assert_eq!(auth, args(&[b"AUTH", REDACTED, REDACTED]));
        let hello = kept_args(&args(&[
            b"hello", b"3", b"auth", b"u", b"p", b"setname", b"n",
        ]));
        assert_eq!(
            hello,
            args(&[b"hello", b"3", b"auth", REDACTED, REDACTED, b"setname", b"n"])
        );
        assert!(!redacted(&args(&[b"get", b"auth", b"x"]), 2));
    }
}
