//! Multi-key and whole-keyspace commands as per-shard parts and a merge.
//!
//! A command whose keys may live on several shards (`MSET`, `DEL`, `RENAME`,
//! `BITOP`, `SINTERSTORE`, `SMOVE`, ...) or that reads or changes every shard (`DBSIZE`, `FLUSHALL`, ...)
//! is described by one [`Parts`]: how its arguments split over shards, an optional
//! read part, an optional plan between reads and writes, an optional write part and a
//! merge. A part serves one shard's share — the whole argument list and the positions
//! of the keys that shard owns ([`ShardArgs`]) — so the same function serves one shard
//! or many, as Dragonfly's `OpMSet(op_args, ShardArgs)` does:
//!
//! ```text
//!  check(args) ─► split ─► read part on each shard ─► plan(reads) ─► write part ─► merge
//!                          (parallel, under locks)     (pure)        (parallel)
//! ```
//!
//! A [`Split::Lookup`] command (`SORT` with `BY`/`GET` patterns) reads twice: the
//! keys its arguments name, then, with what that read found as the carry, the keys
//! those values name, on every shard, before the plan.
//!
//! [`run_local`] runs the whole sequence on one shard (every key on it: the common
//! case, and the engine harness); the server's transaction runs it across shards.
//! Nothing here knows how shards are locked or messages travel.

use std::cell::RefCell;

use bytes::Bytes;

use super::keyspec::KeyIndex;
use crate::collections::{Set, SetLimits, Zset};
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};
use crate::keyspace::{Entry, Keyspace, ScanPos};
use crate::resp::ReplyBuf;
use crate::value::Str;

/// How a command's work divides over shards.
#[derive(Debug, Clone, Copy)]
pub enum Split {
    /// The keys its key spec finds, grouped by the shard owning each.
    Keys,
    /// Every shard, no keys. `lock`: whether the parts run under every shard's lock
    /// at once (writes), or each shard is read as it is (`DBSIZE`, `KEYS`).
    Every { lock: bool },
    /// One shard after another, without locks (`SCAN`): from `first(args)`, then
    /// while `next` names a shard.
    Walk {
        first: fn(&[Bytes], usize) -> usize,
        next: fn(&[Bytes], &[Piece], usize) -> Option<usize>,
    },
    /// Like `Keys`, plus keys named by what the read found (`SORT`'s `BY` and `GET`
    /// patterns). When `every(args)` holds, every shard takes part from the start
    /// (locked throughout, so the lookups see the same instant as the read); after
    /// the read round, `again` may return a carry with which every participant reads
    /// once more. The plan sees both rounds' pieces, the first round's first.
    Lookup {
        every: fn(&[Bytes]) -> bool,
        again: fn(&[Bytes], &[Piece]) -> Option<Entry>,
    },
}

impl Split {
    /// The participants of a `Keys` or `Lookup` command: the groups of
    /// [`split_keys`], and for a `Lookup` whose `every` holds, every other shard
    /// with no keys.
    pub fn groups(
        &self,
        args: &[Bytes],
        keys: KeyIndex,
        shards: usize,
        shard_of: impl Fn(&[u8], usize) -> usize,
    ) -> Vec<(usize, Vec<usize>)> {
        let groups = split_keys(args, keys, shards, shard_of);
        match self {
            Split::Lookup { every, .. } if every(args) => (0..shards)
                .map(|s| {
                    let own = groups.iter().find(|(g, _)| *g == s);
                    (s, own.map(|(_, k)| k.clone()).unwrap_or_default())
                })
                .collect(),
            _ => groups,
        }
    }

    /// The carry of a `Lookup`'s second read round, if it needs one.
    pub fn again(&self, args: &[Bytes], pieces: &[Piece]) -> Option<Entry> {
        match self {
            Split::Lookup { again, .. } => again(args, pieces),
            _ => None,
        }
    }
}

/// One part's answer.
#[derive(Debug, Clone)]
pub enum PartReply {
    Done,
    Int(i64),
    /// One value per key position served, in order.
    Values(Vec<Option<Vec<u8>>>),
    /// One string value per key position served, in order, as stored: a big one
    /// shares its buffer (`MGET`, whose reply writes it by reference).
    Strs(Vec<Option<Str>>),
    /// `RENAME`/`COPY` reads: whether this shard has the source live, its entry
    /// when the destination lives on another shard (the plan takes it out to carry
    /// it there, so a large value is not copied again), and whether the destination
    /// exists (when this shard has it).
    Pair {
        src_found: bool,
        src: RefCell<Option<Entry>>,
        dst_exists: bool,
    },
    Keys(Vec<Bytes>),
    Scan {
        pos: ScanPos,
        keys: Vec<Bytes>,
    },
    /// `RANDOMKEY`: this shard's key count and one of its keys.
    Random {
        len: usize,
        key: Option<Bytes>,
    },
    /// Set algebra reads: this shard's share of the result, folded from the source
    /// sets it owns, and its set encoding limits for building the whole result.
    Set {
        set: Set,
        limits: SetLimits,
    },
    /// One probe per key position served, in order (`SMOVE`'s reads).
    Probes(Vec<SetProbe>),
    /// Sorted-set reads: one per key position served that the command reads, in order.
    Zsets(Vec<ZsetRead>),
    /// One probe per key position served, in order (list moves' reads).
    Lists(Vec<ListProbe>),
    Err(CmdError),
}

/// What a key holds, as far as a set command's plan needs to know before it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetProbe {
    Missing,
    /// A set, and whether it has the member the command asks about.
    Set {
        has_member: bool,
    },
    /// A value of another type.
    Other,
}

/// What a key holds, as far as a list move's plan needs to know (`LMOVE`, `LMPOP`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListProbe {
    Missing,
    /// A list, with the element a move would take from it when the key is a source.
    List {
        end: Option<Vec<u8>>,
    },
    /// A value of another type.
    Other,
}

/// A shard's share of a command: every argument (name included), the positions of
/// the keys this shard owns, and what an earlier step carried over (`RENAME`'s
/// entry, `BITOP`'s result).
pub struct ShardArgs<'a> {
    pub args: &'a [Bytes],
    pub keys: &'a [usize],
    pub carry: Option<&'a Entry>,
}

impl ShardArgs<'_> {
    /// Whether this shard owns the key at `position`.
    pub fn has(&self, position: usize) -> bool {
        self.keys.contains(&position)
    }

    /// The keys this shard owns.
    pub fn keys(&self) -> impl Iterator<Item = &Bytes> + '_ {
        self.keys.iter().map(|&i| &self.args[i])
    }
}

/// Asks for the memory the lookups of keys `keys` of `args` will read, when there
/// is more than one: their cache misses then overlap ([`Db::prefetch`]).
///
/// [`Db::prefetch`]: crate::keyspace::db::Db::prefetch
pub fn prefetch_keys(ks: &Keyspace, db: usize, args: &[Bytes], keys: &[usize]) {
    if keys.len() > 1 {
        ks.db(db).prefetch(keys.iter().map(|&i| &args[i][..]));
    }
}

/// Runs a command's share on one shard.
pub type PartFn = fn(&mut Ctx, &ShardArgs) -> CmdResult<PartReply>;

/// One shard's answer to a step, with the key positions it served.
#[derive(Debug, Clone)]
pub struct Piece {
    pub shard: usize,
    pub keys: Vec<usize>,
    pub reply: PartReply,
}

impl Piece {
    /// The first key position and the values of the first piece, when it answered
    /// values: what a pop that chose one key merges into its reply.
    pub fn first_values(pieces: &[Piece]) -> Option<(usize, &[Option<Vec<u8>>])> {
        match pieces.first()? {
            Piece {
                keys,
                reply: PartReply::Values(values),
                ..
            } => Some((*keys.first()?, values)),
            _ => None,
        }
    }
}

/// What the write step does after the reads.
#[derive(Debug, Clone, Default)]
pub struct Write {
    /// The key positions written; `None`: every key.
    pub keys: Option<Vec<usize>>,
    pub carry: Option<Entry>,
}

impl Write {
    /// The shards the write step runs on, each with the written key positions it
    /// owns: every group when every key is written, else the groups owning one.
    pub fn targets(&self, groups: Vec<(usize, Vec<usize>)>) -> Vec<(usize, Vec<usize>)> {
        match &self.keys {
            None => groups,
            Some(keys) => groups
                .into_iter()
                .map(|(s, own)| (s, own.into_iter().filter(|k| keys.contains(k)).collect()))
                .filter(|(_, own): &(usize, Vec<usize>)| !own.is_empty())
                .collect(),
        }
    }
}

/// From the read pieces: the write to make, or `None` when the command is answered
/// already (written to `out`). A plan may also write the reply and still write.
pub type PlanFn = fn(&[Bytes], &[Piece], &mut ReplyBuf) -> CmdResult<Option<Write>>;

/// What a merge knows besides the pieces.
pub struct MergeArgs<'a> {
    pub args: &'a [Bytes],
    /// Shards in the server.
    pub shards: usize,
    /// A random number, for merges that pick (`RANDOMKEY`).
    pub random: u64,
}

/// Writes the reply from the last step's pieces.
pub type MergeFn = fn(&MergeArgs, &[Piece], &mut ReplyBuf);

/// A command as parts: see the module doc.
#[derive(Debug)]
pub struct Parts {
    pub split: Split,
    /// Argument checks made once, before any shard is involved.
    pub check: Option<fn(&[Bytes]) -> CmdResult>,
    pub read: Option<PartFn>,
    /// `None`: write every key (or, without a write part, merge the reads).
    pub plan: Option<PlanFn>,
    pub write: Option<PartFn>,
    /// The write part changes the keyspace on every shard it runs on, so a
    /// transaction can name its participants before it runs and commit with it.
    pub always_writes: bool,
    pub merge: MergeFn,
}

impl Parts {
    /// The first error among `pieces`, in shard order.
    pub fn first_error(pieces: &[Piece]) -> CmdResult {
        match pieces.iter().find_map(|p| match &p.reply {
            PartReply::Err(e) => Some(e.clone()),
            _ => None,
        }) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Runs the whole command on the shard of `ctx`, which owns every key in `keys`.
pub fn run_local(ctx: &mut Ctx, args: &[Bytes], parts: &Parts, keys: KeyIndex) -> CmdResult {
    if let Some(check) = parts.check {
        check(args)?;
    }
    let shard = ctx.shard_id;
    let keys: Vec<usize> = keys.iter().collect();
    prefetch_keys(ctx.ks, ctx.db, args, &keys);
    let mut pieces = Vec::new();
    if let Some(read) = parts.read {
        let mut carry = None;
        loop {
            let share = ShardArgs {
                args,
                keys: &keys,
                carry: carry.as_ref(),
            };
            let reply = read(ctx, &share)?;
            pieces.push(Piece {
                shard,
                keys: keys.clone(),
                reply,
            });
            if carry.is_some() {
                break;
            }
            carry = parts.split.again(args, &pieces);
            if carry.is_none() {
                break;
            }
        }
    }
    let write = match parts.plan {
        Some(plan) => plan(args, &pieces, ctx.out)?,
        None => Some(Write::default()),
    };
    let Some(write) = write else {
        return Ok(());
    };
    if let Some(part) = parts.write {
        let keys = write.keys.unwrap_or(keys);
        let reply = part(
            ctx,
            &ShardArgs {
                args,
                keys: &keys,
                carry: write.carry.as_ref(),
            },
        )?;
        pieces = vec![Piece { shard, keys, reply }];
    }
    let random = match parts.split {
        Split::Every { .. } => rand::Rng::gen(ctx.rng),
        Split::Keys | Split::Walk { .. } | Split::Lookup { .. } => 0,
    };
    let merge = MergeArgs {
        args,
        shards: 1,
        random,
    };
    (parts.merge)(&merge, &pieces, ctx.out);
    Ok(())
}

/// Groups the key positions of `keys` by owning shard, shards ascending.
pub fn split_keys(
    args: &[Bytes],
    keys: KeyIndex,
    shards: usize,
    shard_of: impl Fn(&[u8], usize) -> usize,
) -> Vec<(usize, Vec<usize>)> {
    let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
    for i in keys.iter() {
        let s = shard_of(&args[i], shards);
        match groups.iter_mut().find(|(g, _)| *g == s) {
            Some((_, positions)) => positions.push(i),
            None => groups.push((s, vec![i])),
        }
    }
    groups.sort_unstable_by_key(|(s, _)| *s);
    groups
}

/// Shared merges.
pub mod merge {
    use super::*;
    use crate::resp::Reply;

    /// `+OK`.
    pub fn ok(_: &MergeArgs, _: &[Piece], out: &mut ReplyBuf) {
        out.ok();
    }

    /// `:1`.
    pub fn one(_: &MergeArgs, _: &[Piece], out: &mut ReplyBuf) {
        out.int(1);
    }

    /// The sum of the pieces' integers.
    pub fn sum(_: &MergeArgs, pieces: &[Piece], out: &mut ReplyBuf) {
        out.int(sum_ints(pieces));
    }

    /// Nothing: the plan wrote the reply.
    pub fn planned(_: &MergeArgs, _: &[Piece], _: &mut ReplyBuf) {}

    pub fn sum_ints(pieces: &[Piece]) -> i64 {
        pieces
            .iter()
            .map(|p| match p.reply {
                PartReply::Int(n) => n,
                _ => 0,
            })
            .sum()
    }
}

/// What a key holds, for a sorted-set command's plan.
#[derive(Debug, Clone)]
pub enum ZsetRead {
    Missing,
    /// A value neither a sorted set nor a set.
    Other,
    /// A sorted set (a set as scores of 1). `ZMPOP`'s probes carry an empty one:
    /// only its presence matters there.
    Found(Zset),
}
