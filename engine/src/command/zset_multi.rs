//! The sorted-set family's multi-key commands, as [`Parts`] so their keys may live
//! on any shards: the algebra (`ZUNION`, `ZINTER`, `ZDIFF`, their `*STORE` forms,
//! `ZINTERCARD`), `ZMPOP` and `ZRANGESTORE`, with Redis 7.0's replies and errors.
//!
//! - The algebra: each shard reads the sources it owns ([`ZsetRead`], sets read as
//!   scores of 1), the plan puts them back in argument order and computes the result
//!   exactly as `zunionInterDiffGenericCommand` does (sources by ascending size,
//!   `WEIGHTS`, `AGGREGATE`, a `NaN` sum as 0), so the floating-point result is the
//!   same wherever the keys live; a `*STORE` form writes the destination, or deletes
//!   it when the result is empty.
//! - `ZMPOP`: each shard probes its keys, the plan picks the first key holding a
//!   sorted set (an earlier key of another type is `WRONGTYPE`), the write pops it
//!   on its shard and the merge replies.
//! - `ZRANGESTORE`: the source's shard selects the range, the destination's stores it.

use std::ops::Range;

use bytes::Bytes;

use super::flags::*;
use super::parts::{
    merge, MergeArgs, PartFn, PartReply, Parts, Piece, PlanFn, ShardArgs, Split, Write, ZsetRead,
};
use super::zset::{parse_range, pop, reply_entries};
use super::zset_range::parse_score;
use super::{row, CommandSpec, KeySpec, Route};
use crate::collections::{Zset, ZsetLimits};
use crate::command::ctx::Ctx;
use crate::error::{CmdError, CmdResult};
use crate::keyspace::{Entry, EntryRef, NO_EXPIRE};
use crate::resp::{parse_i64, Reply, ReplyBuf};
use crate::value::Value;

/// The algebra's operation.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Union,
    Inter,
    Diff,
}

/// `AGGREGATE`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

/// A parsed algebra request.
struct Algebra {
    weights: Vec<f64>,
    aggregate: Aggregate,
    withscores: bool,
}

/// Where an algebra command's `numkeys` is, by name.
fn numkeys_at(name: &[u8]) -> usize {
    if name.to_ascii_lowercase().ends_with(b"store") {
        2
    } else {
        1
    }
}

fn op_of(name: &[u8]) -> Op {
    let name = name.to_ascii_lowercase();
    match &name[..5] {
        b"zunio" => Op::Union,
        b"zinte" => Op::Inter,
        _ => Op::Diff,
    }
}

/// The source positions after `numkeys` at `at`, with Redis's errors.
fn sources(args: &[Bytes], at: usize, name: &str) -> CmdResult<Range<usize>> {
    let n = parse_i64(&args[at]).ok_or(CmdError::NotInteger)?;
    if n < 1 {
        return Err(CmdError::Raw(format!(
            "ERR at least 1 input key is needed for '{name}' command"
        )));
    }
    if n as u64 > (args.len() - at - 1) as u64 {
        return Err(CmdError::Syntax);
    }
    Ok(at + 1..at + 1 + n as usize)
}

/// The options after `sources` (from [`algebra_sources`]).
fn parse_algebra(args: &[Bytes], sources: &Range<usize>) -> CmdResult<Algebra> {
    let store = args[0].to_ascii_lowercase().ends_with(b"store");
    let op = op_of(&args[0]);
    let n = sources.len();
    let mut a = Algebra {
        weights: vec![1.0; n],
        aggregate: Aggregate::Sum,
        withscores: false,
    };
    let mut i = sources.end;
    while i < args.len() {
        let left = args.len() - i;
        let word = args[i].to_ascii_uppercase();
        if op != Op::Diff && left > n && word == b"WEIGHTS" {
            for (w, arg) in a.weights.iter_mut().zip(&args[i + 1..i + 1 + n]) {
                *w = parse_score(arg)
                    .ok_or_else(|| CmdError::Raw("ERR weight value is not a float".into()))?;
            }
            i += n + 1;
        } else if op != Op::Diff && left >= 2 && word == b"AGGREGATE" {
            a.aggregate = match args[i + 1].to_ascii_uppercase().as_slice() {
                b"SUM" => Aggregate::Sum,
                b"MIN" => Aggregate::Min,
                b"MAX" => Aggregate::Max,
                _ => return Err(CmdError::Syntax),
            };
            i += 2;
        } else if !store && word == b"WITHSCORES" {
            a.withscores = true;
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(a)
}

/// The algebra's sources, from its `numkeys` (the options are parsed once the
/// sources' types are known good, as Redis does: a wrong type is reported before
/// a bad option).
fn algebra_sources(args: &[Bytes]) -> CmdResult<Range<usize>> {
    let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
    sources(args, numkeys_at(&args[0]), &name)
}

fn check_algebra(args: &[Bytes]) -> CmdResult {
    algebra_sources(args).map(|_| ())
}

/// The sources this shard owns, in order: each checked for its type.
fn read_sources(ctx: &mut Ctx, s: &ShardArgs, sources: &Range<usize>) -> CmdResult<PartReply> {
    let mut reads = Vec::new();
    for &i in s.keys.iter().filter(|i| sources.contains(i)) {
        let read = match ctx.ks.find_read(ctx.db, &s.args[i], ctx.now_ms) {
            None => ZsetRead::Missing,
            Some(e) => match &e.value {
                Value::Zset(z) => ZsetRead::Found(z.clone()),
                Value::Set(set) => ZsetRead::Found(Zset::from_entries(
                    set.iter()
                        .map(|m| m.to_vec())
                        .collect::<Vec<_>>()
                        .iter()
                        .map(|m| (m.as_slice(), 1.0)),
                    &ZsetLimits::default(),
                )),
                _ => return Err(CmdError::WrongType),
            },
        };
        reads.push(read);
    }
    match reads.is_empty() {
        true => Ok(PartReply::Done),
        false => Ok(PartReply::Zsets(reads)),
    }
}

fn algebra_read(ctx: &mut Ctx, s: &ShardArgs) -> CmdResult<PartReply> {
    let sources = algebra_sources(s.args)?;
    read_sources(ctx, s, &sources)
}

/// The sources in argument order, from the pieces (`None`: missing).
fn gather(reads: &[Piece], sources: &Range<usize>) -> CmdResult<Vec<Option<Zset>>> {
    Parts::first_error(reads)?;
    let mut out: Vec<Option<Zset>> = vec![None; sources.len()];
    for piece in reads {
        if let PartReply::Zsets(zs) = &piece.reply {
            let owned = piece.keys.iter().filter(|i| sources.contains(i));
            for (&i, read) in owned.zip(zs) {
                if let ZsetRead::Found(z) = read {
                    out[i - sources.start] = Some(z.clone());
                }
            }
        }
    }
    Ok(out)
}

fn weighted(weight: f64, score: f64) -> f64 {
    let v = weight * score;
    if v.is_nan() {
        0.0
    } else {
        v
    }
}

fn aggregate(agg: Aggregate, acc: f64, v: f64) -> f64 {
    match agg {
        Aggregate::Sum => {
            let s = acc + v;
            if s.is_nan() {
                0.0
            } else {
                s
            }
        }
        Aggregate::Min => acc.min(v),
        Aggregate::Max => acc.max(v),
    }
}

/// The result entries, unordered, as Redis computes them.
fn compute(op: Op, a: &Algebra, srcs: &[Option<Zset>]) -> Vec<(Vec<u8>, f64)> {
    let empty = Zset::new();
    let mut order: Vec<(usize, &Zset)> = srcs
        .iter()
        .map(|z| z.as_ref().unwrap_or(&empty))
        .enumerate()
        .collect();
    if op == Op::Diff {
        let (first, rest) = order.split_first().expect("at least one source");
        return first
            .1
            .entries()
            .into_iter()
            .filter(|(m, _)| rest.iter().all(|(_, z)| z.score(m).is_none()))
            .collect();
    }
    order.sort_by_key(|(_, z)| z.len());
    if op == Op::Inter {
        let (first, rest) = order.split_first().expect("at least one source");
        let mut out = Vec::new();
        'member: for (m, s) in first.1.entries() {
            let mut acc = weighted(a.weights[first.0], s);
            for (i, z) in rest {
                let Some(v) = z.score(&m) else {
                    continue 'member;
                };
                acc = aggregate(a.aggregate, acc, weighted(a.weights[*i], v));
            }
            out.push((m, acc));
        }
        return out;
    }
    let mut acc: indexmap::IndexMap<Vec<u8>, f64> = indexmap::IndexMap::new();
    for (i, z) in order {
        for (m, s) in z.entries() {
            let v = weighted(a.weights[i], s);
            acc.entry(m)
                .and_modify(|cur| *cur = aggregate(a.aggregate, *cur, v))
                .or_insert(v);
        }
    }
    acc.into_iter().collect()
}

fn algebra_result(args: &[Bytes], reads: &[Piece]) -> CmdResult<(Algebra, Zset)> {
    // A source's wrong type is reported before a bad option.
    let sources = algebra_sources(args)?;
    let srcs = gather(reads, &sources)?;
    let a = parse_algebra(args, &sources)?;
    let entries = compute(op_of(&args[0]), &a, &srcs);
    let limits = ZsetLimits::default();
    let z = Zset::from_entries(entries.iter().map(|(m, s)| (m.as_slice(), *s)), &limits);
    Ok((a, z))
}

fn algebra_plan(args: &[Bytes], reads: &[Piece], out: &mut ReplyBuf) -> CmdResult<Option<Write>> {
    let (a, z) = algebra_result(args, reads)?;
    reply_entries(out, &z.entries(), a.withscores, false);
    Ok(None)
}

/// `Z*STORE destination ...`: the destination's position.
const STORE_DEST: usize = 1;

fn store_plan(args: &[Bytes], reads: &[Piece], out: &mut ReplyBuf) -> CmdResult<Option<Write>> {
    let (_, z) = algebra_result(args, reads)?;
    Ok(Some(store_result(z, STORE_DEST, out)))
}

/// Replies with the result's size and writes it to the destination, the key at
/// position `dest`.
pub(super) fn store_result(z: Zset, dest: usize, out: &mut ReplyBuf) -> Write {
    out.int(z.len() as i64);
    let carry = (!z.is_empty()).then(|| Entry::new(Value::Zset(z)));
    Write {
        keys: Some(vec![dest]),
        carry,
    }
}

/// Stores the carried result at the destination (the one key the write step
/// serves), in this shard's encoding, or deletes the destination when the result is
/// empty.
pub(super) fn store_write(ctx: &mut Ctx, s: &ShardArgs) -> CmdResult<PartReply> {
    let dest = &s.args[s.keys[0]];
    match s.carry {
        Some(Entry {
            value: Value::Zset(z),
            ..
        }) => {
            let entries = z.entries();
            let z = Zset::from_entries(
                entries.iter().map(|(m, s)| (m.as_slice(), *s)),
                &ctx.limits.zset,
            );
            ctx.ks.add(ctx.db, dest, Value::Zset(z), NO_EXPIRE);
        }
        _ => {
            ctx.ks.remove(ctx.db, dest, ctx.now_ms);
        }
    }
    Ok(PartReply::Done)
}

/// `ZINTERCARD numkeys key ... [LIMIT n]`: the sources.
fn intercard_sources(args: &[Bytes]) -> CmdResult<Range<usize>> {
    sources(args, 1, "zintercard")
}

/// The limit after `sources` (0: none).
fn intercard_limit(args: &[Bytes], sources: &Range<usize>) -> CmdResult<usize> {
    match &args[sources.end..] {
        [] => Ok(0),
        [word, n] if word.eq_ignore_ascii_case(b"LIMIT") => {
            let negative = || CmdError::Raw("ERR LIMIT can't be negative".into());
            let n = parse_i64(n).ok_or(CmdError::NotInteger)?;
            usize::try_from(n).map_err(|_| negative())
        }
        _ => Err(CmdError::Syntax),
    }
}

/// Only the sources: `LIMIT` is parsed once their types are known good.
fn check_intercard(args: &[Bytes]) -> CmdResult {
    intercard_sources(args).map(|_| ())
}

fn intercard_read(ctx: &mut Ctx, s: &ShardArgs) -> CmdResult<PartReply> {
    let sources = intercard_sources(s.args)?;
    read_sources(ctx, s, &sources)
}

fn intercard_plan(args: &[Bytes], reads: &[Piece], out: &mut ReplyBuf) -> CmdResult<Option<Write>> {
    let sources = intercard_sources(args)?;
    let srcs = gather(reads, &sources)?;
    let limit = intercard_limit(args, &sources)?;
    let a = Algebra {
        weights: vec![1.0; srcs.len()],
        aggregate: Aggregate::Sum,
        withscores: false,
    };
    let n = compute(Op::Inter, &a, &srcs).len();
    out.int(if limit == 0 { n } else { n.min(limit) } as i64);
    Ok(None)
}

/// `ZMPOP numkeys key ... MIN|MAX [COUNT n]`: sources, `MAX`, count.
fn zmpop_args(args: &[Bytes]) -> CmdResult<(Range<usize>, bool, usize)> {
    zmpop_args_at(args, ZMPOP_NUMKEYS_AT)
}

/// Where `ZMPOP`'s `numkeys` is (`BZMPOP timeout numkeys ...` has it one further).
const ZMPOP_NUMKEYS_AT: usize = 1;

/// [`zmpop_args`] with `numkeys` at `numkeys_at`.
pub(super) fn zmpop_args_at(
    args: &[Bytes],
    numkeys_at: usize,
) -> CmdResult<(Range<usize>, bool, usize)> {
    let numkeys_error = || CmdError::Raw("ERR numkeys should be greater than 0".into());
    let n = parse_i64(&args[numkeys_at])
        .filter(|&n| n > 0)
        .ok_or_else(numkeys_error)?;
    if n as u64 >= (args.len() - numkeys_at - 1) as u64 {
        return Err(CmdError::Syntax);
    }
    let sources = numkeys_at + 1..numkeys_at + 1 + n as usize;
    let max = match args[sources.end].to_ascii_uppercase().as_slice() {
        b"MIN" => false,
        b"MAX" => true,
        _ => return Err(CmdError::Syntax),
    };
    let count = match &args[sources.end + 1..] {
        [] => 1,
        [word, n] if word.eq_ignore_ascii_case(b"COUNT") => {
            let bad = || CmdError::Raw("ERR count should be greater than 0".into());
            let n = parse_i64(n).ok_or(CmdError::NotInteger)?;
            usize::try_from(n).ok().filter(|&n| n > 0).ok_or_else(bad)?
        }
        _ => return Err(CmdError::Syntax),
    };
    Ok((sources, max, count))
}

fn check_zmpop(args: &[Bytes]) -> CmdResult {
    zmpop_args(args).map(|_| ())
}

/// Which of this shard's keys hold a non-empty sorted set, without counting hits.
pub(super) fn zmpop_read(ctx: &mut Ctx, s: &ShardArgs) -> CmdResult<PartReply> {
    let reads = s
        .keys()
        .map(|key| match ctx.ks.find(ctx.db, key, ctx.now_ms) {
            None => ZsetRead::Missing,
            Some(EntryRef {
                value: Value::Zset(_),
                ..
            }) => ZsetRead::Found(Zset::new()),
            Some(_) => ZsetRead::Other,
        })
        .collect();
    Ok(PartReply::Zsets(reads))
}

fn zmpop_plan(args: &[Bytes], reads: &[Piece], out: &mut ReplyBuf) -> CmdResult<Option<Write>> {
    let (sources, ..) = zmpop_args(args)?;
    zmpop_plan_keys(sources, reads, out)
}

/// Chooses the first of `sources` holding a sorted set (a wrong type before it is
/// the error); none: the null array.
pub(super) fn zmpop_plan_keys(
    sources: Range<usize>,
    reads: &[Piece],
    out: &mut ReplyBuf,
) -> CmdResult<Option<Write>> {
    Parts::first_error(reads)?;
    let probe = |position: usize| {
        reads.iter().find_map(|p| match &p.reply {
            PartReply::Zsets(zs) => p.keys.iter().position(|&k| k == position).map(|i| &zs[i]),
            _ => None,
        })
    };
    for position in sources {
        match probe(position) {
            Some(ZsetRead::Found(_)) => {
                return Ok(Some(Write {
                    keys: Some(vec![position]),
                    carry: None,
                }))
            }
            Some(ZsetRead::Other) => return Err(CmdError::WrongType),
            _ => {}
        }
    }
    out.null_array();
    Ok(None)
}

/// Pops from the chosen key; the popped entries go to the merge, in pop order.
fn zmpop_write(ctx: &mut Ctx, s: &ShardArgs) -> CmdResult<PartReply> {
    let (_, max, count) = zmpop_args(s.args)?;
    zmpop_write_n(ctx, s, count, max)
}

/// Pops `count` entries (`max`: the highest) from the key the plan chose.
pub(super) fn zmpop_write_n(
    ctx: &mut Ctx,
    s: &ShardArgs,
    count: usize,
    max: bool,
) -> CmdResult<PartReply> {
    let popped = pop(ctx, &s.args[s.keys[0]], count, max)?;
    Ok(PartReply::Values(
        popped
            .into_iter()
            .flat_map(|(m, sc)| [Some(m), Some(sc.to_le_bytes().to_vec())])
            .collect(),
    ))
}

pub(super) fn zmpop_merge(args: &MergeArgs, pieces: &[Piece], out: &mut ReplyBuf) {
    let Some(piece) = pieces.first() else {
        return;
    };
    let PartReply::Values(items) = &piece.reply else {
        return;
    };
    let entries: Vec<(Vec<u8>, f64)> = items
        .chunks_exact(2)
        .map(|p| {
            let score = p[1].as_deref().expect("a score");
            let score = f64::from_le_bytes(score.try_into().expect("8 bytes"));
            (p[0].clone().expect("a member"), score)
        })
        .collect();
    out.array(2);
    out.bulk(&args.args[piece.keys[0]]);
    reply_entries(out, &entries, true, true);
}

/// `ZRANGESTORE dst src min max ...`: the source's position.
const RANGESTORE_SRC: usize = 2;

fn check_rangestore(args: &[Bytes]) -> CmdResult {
    parse_range(&args[RANGESTORE_SRC..], None, true)?.check()
}

fn rangestore_read(ctx: &mut Ctx, s: &ShardArgs) -> CmdResult<PartReply> {
    if !s.has(RANGESTORE_SRC) {
        return Ok(PartReply::Done);
    }
    let req = parse_range(&s.args[RANGESTORE_SRC..], None, true)?;
    let read = match ctx.ks.find(ctx.db, req.key, ctx.now_ms) {
        None => ZsetRead::Missing,
        Some(EntryRef {
            value: Value::Zset(z),
            ..
        }) => {
            let entries = req.span_of(z)?.entries(z);
            let limits = ZsetLimits::default();
            ZsetRead::Found(Zset::from_entries(
                entries.iter().map(|(m, s)| (m.as_slice(), *s)),
                &limits,
            ))
        }
        Some(_) => return Err(CmdError::WrongType),
    };
    Ok(PartReply::Zsets(vec![read]))
}

fn rangestore_plan(_: &[Bytes], reads: &[Piece], out: &mut ReplyBuf) -> CmdResult<Option<Write>> {
    let srcs = gather(reads, &(RANGESTORE_SRC..RANGESTORE_SRC + 1))?;
    let z = srcs.into_iter().next().flatten().unwrap_or_default();
    Ok(Some(store_result(z, STORE_DEST, out)))
}

const fn keyed(
    check: fn(&[Bytes]) -> CmdResult,
    read: PartFn,
    plan: PlanFn,
    write: Option<PartFn>,
) -> Parts {
    Parts {
        split: Split::Keys,
        check: Some(check),
        read: Some(read),
        plan: Some(plan),
        write,
        always_writes: false,
        merge: merge::planned,
    }
}

static ALGEBRA: Parts = keyed(check_algebra, algebra_read, algebra_plan, None);
static ALGEBRA_STORE: Parts = keyed(check_algebra, algebra_read, store_plan, Some(store_write));
static ZINTERCARD: Parts = keyed(check_intercard, intercard_read, intercard_plan, None);
static ZMPOP: Parts = Parts {
    merge: zmpop_merge,
    ..keyed(check_zmpop, zmpop_read, zmpop_plan, Some(zmpop_write))
};
static ZRANGESTORE: Parts = keyed(
    check_rangestore,
    rangestore_read,
    rangestore_plan,
    Some(store_write),
);

const RW: u32 = WRITE | DENYOOM;
/// `Z* numkeys key ...`.
const NUMKEYS: KeySpec = KeySpec::KeyNum {
    numkeys_at: 1,
    step: 1,
    fixed: None,
};
/// `Z*STORE destination numkeys key ...`.
const STORE_KEYS: KeySpec = KeySpec::KeyNum {
    numkeys_at: 2,
    step: 1,
    fixed: Some(STORE_DEST),
};

#[rustfmt::skip]
pub const COMMANDS: &[CommandSpec] = &[
    row("zunion", -3, READONLY, NUMKEYS, "sorted_set", "Returns the union of multiple sorted sets.", Route::Parts(&ALGEBRA)),
    row("zinter", -3, READONLY, NUMKEYS, "sorted_set", "Returns the intersect of multiple sorted sets.", Route::Parts(&ALGEBRA)),
    row("zdiff", -3, READONLY, NUMKEYS, "sorted_set", "Returns the difference between multiple sorted sets.", Route::Parts(&ALGEBRA)),
    row("zunionstore", -4, RW, STORE_KEYS, "sorted_set", "Stores the union of multiple sorted sets in a key.", Route::Parts(&ALGEBRA_STORE)),
    row("zinterstore", -4, RW, STORE_KEYS, "sorted_set", "Stores the intersect of multiple sorted sets in a key.", Route::Parts(&ALGEBRA_STORE)),
    row("zdiffstore", -4, RW, STORE_KEYS, "sorted_set", "Stores the difference of multiple sorted sets in a key.", Route::Parts(&ALGEBRA_STORE)),
    row("zintercard", -3, READONLY, NUMKEYS, "sorted_set", "Returns the number of members of the intersect of multiple sorted sets.", Route::Parts(&ZINTERCARD)),
    row("zmpop", -4, WRITE, NUMKEYS, "sorted_set", "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped.", Route::Parts(&ZMPOP)),
    row("zrangestore", -5, RW, super::range(1, 2, 1), "sorted_set", "Stores a range of members from sorted set in a key.", Route::Parts(&ZRANGESTORE)),
];
