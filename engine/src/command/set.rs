//! The set family: `SADD`, `SREM`, `SMEMBERS`, `SPOP`, `SRANDMEMBER`, the algebra
//! (`SINTER`, `SUNION`, `SDIFF`, their `*STORE` forms, `SINTERCARD`), `SMOVE` and
//! `SSCAN`, on [`Set`] values, with Redis 7.0's replies and error texts (`t_set.c`).
//! Member lists reply as RESP3 sets where Redis 7.0 does.
//!
//! The multi-key commands are [`Parts`], so their keys may live on any shards:
//! - the algebra: each shard folds the sources it owns into its share of the result
//!   ([`share`]), the plan folds the shares ([`fold_shares`]) and replies, and a
//!   `*STORE` form writes the destination (deleting it when the result is empty),
//!   as `BITOP` does;
//! - `SINTERCARD`: the same shares, counted by the plan (or counted on the shard when
//!   it owns every source, so `LIMIT` stops early);
//! - `SMOVE`: read what both keys hold ([`SetProbe`]), plan Redis's checks, write:
//!   remove the member from the source on its shard, add it to the destination on
//!   its shard.

use std::borrow::Cow;
use std::ops::Range;

use bytes::Bytes;

use super::flags::*;
use super::hash::{parse_scan, random_count, reply_scan, scan_cursor};
use super::parts::{
    merge, PartFn, PartReply, Parts, Piece, PlanFn, SetProbe, ShardArgs, Split, Write,
};
use super::{range, row, CommandSpec, KeySpec, Route, KEY1};
use crate::collections::{distinct_positions, repeat_positions, SampleCount, Set, SetLimits};
use crate::command::ctx::{read_typed, write_typed, Ctx};
use crate::cursor::ArgCursor;
use crate::error::{CmdError, CmdResult};
use crate::glob::glob_match;
use crate::keyspace::{Entry, EntryRef, Keyspace, WriteGuard, NO_EXPIRE};
use crate::resp::{parse_i64, Reply, ReplyBuf};
use crate::value::Value;

/// The set at `key` for a read command: counts a hit or miss, then checks the type.
fn read_set<'k>(
    ks: &'k mut Keyspace,
    db: usize,
    key: &[u8],
    now_ms: u64,
) -> CmdResult<Option<&'k Set>> {
    read_typed(ks, db, key, now_ms, Value::as_set)
}

/// Write access to the set at `key`, or a wrong-type error.
fn write_set<'k>(
    ks: &'k mut Keyspace,
    db: usize,
    key: &[u8],
    now_ms: u64,
) -> CmdResult<Option<WriteGuard<'k>>> {
    write_typed(ks, db, key, now_ms, Value::as_set)
}

fn reply_members<'m>(out: &mut ReplyBuf, len: usize, members: impl Iterator<Item = &'m [u8]>) {
    out.set(len);
    members.for_each(|m| out.bulk(m));
}

fn sadd(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let limits = ctx.limits.set;
    if let Some(mut guard) = write_set(ctx.ks, ctx.db, key, ctx.now_ms)? {
        let added = args[2..]
            .iter()
            .filter(|m| guard.set_add(m, &limits))
            .count();
        ctx.out.int(added as i64);
        return Ok(());
    }
    let mut set = Set::new();
    let added = args[2..].iter().filter(|m| set.add(m, &limits)).count();
    ctx.ks.add(ctx.db, key, Value::Set(set), NO_EXPIRE);
    ctx.out.int(added as i64);
    Ok(())
}

fn srem(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let (removed, emptied) = match write_set(ctx.ks, ctx.db, key, ctx.now_ms)? {
        Some(mut guard) => {
            let removed = args[2..].iter().filter(|m| guard.set_remove(m)).count();
            (removed, guard.set().is_empty())
        }
        None => (0, false),
    };
    if emptied {
        ctx.ks.remove_if_empty(ctx.db, key);
    }
    ctx.out.int(removed as i64);
    Ok(())
}

fn scard(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let set = read_set(ctx.ks, ctx.db, &args[1], ctx.now_ms)?;
    ctx.out.int(set.map_or(0, Set::len) as i64);
    Ok(())
}

fn sismember(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let set = read_set(ctx.ks, ctx.db, &args[1], ctx.now_ms)?;
    ctx.out
        .int(set.is_some_and(|s| s.contains(&args[2])) as i64);
    Ok(())
}

fn smismember(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let set = read_set(ctx.ks, ctx.db, &args[1], ctx.now_ms)?;
    ctx.out.array(args.len() - 2);
    for m in &args[2..] {
        ctx.out.int(set.is_some_and(|s| s.contains(m)) as i64);
    }
    Ok(())
}

fn smembers(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let set = read_set(ctx.ks, ctx.db, &args[1], ctx.now_ms)?;
    let len = set.map_or(0, Set::len);
    ctx.out.set(len);
    for m in set.iter().flat_map(|s| s.iter()) {
        ctx.out.bulk(&m);
    }
    Ok(())
}

/// `SPOP`'s count: Redis's `getPositiveLongFromObjectOrReply`.
fn pop_count(arg: &[u8]) -> CmdResult<u64> {
    let count = parse_i64(arg).ok_or(CmdError::NotInteger)?;
    u64::try_from(count)
        .map_err(|_| CmdError::Raw("ERR value is out of range, must be positive".into()))
}

fn spop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut c = ArgCursor::new(args);
    let key = c.arg()?;
    let count = c.next_opt().map(|a| pop_count(a)).transpose()?;
    c.finish()?;
    let limits = ctx.limits.set;
    let (popped, emptied) = match write_set(ctx.ks, ctx.db, key, ctx.now_ms)? {
        Some(mut guard) => {
            let popped = match count {
                None => guard.set_pop_many(1, &limits, ctx.rng),
                Some(0) => Vec::new(),
                Some(n) => guard.set_pop_many(n, &limits, ctx.rng),
            };
            (popped, guard.set().is_empty())
        }
        None => (Vec::new(), false),
    };
    if emptied {
        ctx.ks.remove_if_empty(ctx.db, key);
    }
    match count {
        None => ctx.out.bulk_opt(popped.first().map(Vec::as_slice)),
        Some(_) => reply_members(ctx.out, popped.len(), popped.iter().map(Vec::as_slice)),
    }
    Ok(())
}

fn srandmember(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut c = ArgCursor::new(args);
    let key = c.arg()?;
    let Some(count_arg) = c.next_opt() else {
        let set = read_set(ctx.ks, ctx.db, key, ctx.now_ms)?;
        let member = set.and_then(|s| s.random_member(ctx.rng));
        ctx.out.bulk_opt(member.as_deref());
        return Ok(());
    };
    let count = random_count(count_arg)?;
    c.finish()?;
    let Some(set) = read_set(ctx.ks, ctx.db, key, ctx.now_ms)? else {
        ctx.out.array(0);
        return Ok(());
    };
    match SampleCount::from_i64(count) {
        // The whole set, as an array (not a RESP3 set), as Redis 7.0.15 replies.
        SampleCount::Distinct(n) if n >= set.len() as u64 => {
            ctx.out.array(set.len());
            set.iter().for_each(|m| ctx.out.bulk(&m));
        }
        SampleCount::Distinct(n) => {
            let positions = distinct_positions(set.len(), n, ctx.rng);
            ctx.out.array(positions.len());
            positions
                .into_iter()
                .for_each(|p| ctx.out.bulk(&set.member_at(p)));
        }
        SampleCount::Repeats(n) => {
            ctx.out.array(n as usize);
            for p in repeat_positions(set.len(), n, ctx.rng) {
                ctx.out.bulk(&set.member_at(p));
            }
        }
    }
    Ok(())
}

/// A set operation over several keys.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Inter,
    Union,
    Diff,
}

/// The sets at `keys` on this shard, in order (`None`: missing). Every key counts a
/// hit or miss and is type-checked before any is read, as Redis does.
fn local_sets<'k>(
    ks: &'k mut Keyspace,
    db: usize,
    keys: &[&Bytes],
    now_ms: u64,
) -> CmdResult<Vec<Option<&'k Set>>> {
    for key in keys {
        read_set(ks, db, key, now_ms)?;
    }
    let ks: &'k Keyspace = ks;
    Ok(keys
        .iter()
        .map(|k| match ks.db(db).get(k) {
            Some(EntryRef {
                value: Value::Set(s),
                ..
            }) => Some(s),
            _ => None,
        })
        .collect())
}

/// The result of `op` over the sets named in order, missing ones as empty.
fn combine(op: SetOp, sets: &[Option<&Set>], limits: &SetLimits) -> Set {
    let empty = Set::new();
    let all: Vec<&Set> = sets.iter().map(|s| s.unwrap_or(&empty)).collect();
    match op {
        SetOp::Inter if sets.iter().any(Option::is_none) => Set::new(),
        SetOp::Inter => Set::intersection(&all, limits),
        SetOp::Union => Set::union(&all, limits),
        SetOp::Diff => Set::difference(&all, limits),
    }
}

/// The key positions of `s` among `sources`, in order.
fn owned(s: &ShardArgs, sources: &Range<usize>) -> Vec<usize> {
    s.keys
        .iter()
        .copied()
        .filter(|i| sources.contains(i))
        .collect()
}

/// The read part of a set operation: this shard's share of the result, folded from
/// the sources it owns. Intersection and union fold alike on every shard; for a
/// difference, the shard owning the first source subtracts its other sources from
/// it, and every other shard unites its sources, to be subtracted by the plan.
/// A shard owning no source (only a `*STORE` destination) answers `Done`.
fn share(ctx: &mut Ctx, s: &ShardArgs, op: SetOp, sources: Range<usize>) -> CmdResult<PartReply> {
    let positions = owned(s, &sources);
    if positions.is_empty() {
        return Ok(PartReply::Done);
    }
    let keys: Vec<&Bytes> = positions.iter().map(|&i| &s.args[i]).collect();
    let limits = ctx.limits.set;
    let sets = local_sets(ctx.ks, ctx.db, &keys, ctx.now_ms)?;
    let op = match op {
        SetOp::Diff if positions[0] != sources.start => SetOp::Union,
        op => op,
    };
    let set = combine(op, &sets, &limits);
    Ok(PartReply::Set { set, limits })
}

/// The plan's fold of the shares ([`share`]) into the result; borrowed when a single
/// shard holds every source, as it usually does.
fn fold_shares(op: SetOp, reads: &[Piece], first_source: usize) -> CmdResult<Cow<'_, Set>> {
    Parts::first_error(reads)?;
    let mut shares: Vec<&Set> = Vec::with_capacity(reads.len());
    let mut limits = SetLimits::default();
    for piece in reads {
        if let PartReply::Set { set, limits: l } = &piece.reply {
            match op == SetOp::Diff && piece.keys.contains(&first_source) {
                true => shares.insert(0, set),
                false => shares.push(set),
            }
            limits = *l;
        }
    }
    if let [one] = shares[..] {
        return Ok(Cow::Borrowed(one));
    }
    Ok(Cow::Owned(match op {
        SetOp::Inter => Set::intersection(&shares, &limits),
        SetOp::Union => Set::union(&shares, &limits),
        SetOp::Diff => Set::difference(&shares, &limits),
    }))
}

/// `SINTER`/`SUNION`/`SDIFF key ...`: the first source's position.
const REPLY_FIRST_SOURCE: usize = 1;
/// `S*STORE destination key ...`: the destination's position ...
const STORE_DEST: usize = 1;
/// ... and the first source's.
const STORE_FIRST_SOURCE: usize = 2;

fn reply_read(ctx: &mut Ctx, s: &ShardArgs, op: SetOp) -> CmdResult<PartReply> {
    share(ctx, s, op, REPLY_FIRST_SOURCE..s.args.len())
}

/// Replies with the members of the result, as a RESP3 set.
fn reply_plan(reads: &[Piece], out: &mut ReplyBuf, op: SetOp) -> PlanResult {
    let result = fold_shares(op, reads, REPLY_FIRST_SOURCE)?;
    out.set(result.len());
    result.iter().for_each(|m| out.bulk(&m));
    Ok(None)
}

fn store_read(ctx: &mut Ctx, s: &ShardArgs, op: SetOp) -> CmdResult<PartReply> {
    share(ctx, s, op, STORE_FIRST_SOURCE..s.args.len())
}

/// Replies with the result's size and writes it to the destination (an empty result
/// deletes it).
fn store_plan(reads: &[Piece], out: &mut ReplyBuf, op: SetOp) -> PlanResult {
    let result = fold_shares(op, reads, STORE_FIRST_SOURCE)?;
    out.int(result.len() as i64);
    let carry = (!result.is_empty()).then(|| Entry::new(Value::Set(result.into_owned())));
    Ok(Some(Write {
        keys: Some(vec![STORE_DEST]),
        carry,
    }))
}

/// Stores the result at the destination, or deletes the destination when the
/// result is empty.
fn store_write(ctx: &mut Ctx, s: &ShardArgs) -> CmdResult<PartReply> {
    let dest = &s.args[STORE_DEST];
    match s.carry {
        Some(entry) => ctx.ks.add_entry(ctx.db, dest, entry.clone()),
        None => {
            ctx.ks.remove(ctx.db, dest, ctx.now_ms);
        }
    }
    Ok(PartReply::Done)
}

type PlanResult = CmdResult<Option<Write>>;

fn sinter_read(ctx: &mut Ctx, s: &ShardArgs) -> CmdResult<PartReply> {
    reply_read(ctx, s, SetOp::Inter)
}

fn sinter_plan(_: &[Bytes], reads: &[Piece], out: &mut ReplyBuf) -> PlanResult {
    reply_plan(reads, out, SetOp::Inter)
}

fn sunion_read(ctx: &mut Ctx, s: &ShardArgs) -> CmdResult<PartReply> {
    reply_read(ctx, s, SetOp::Union)
}

fn sunion_plan(_: &[Bytes], reads: &[Piece], out: &mut ReplyBuf) -> PlanResult {
    reply_plan(reads, out, SetOp::Union)
}

fn sdiff_read(ctx: &mut Ctx, s: &ShardArgs) -> CmdResult<PartReply> {
    reply_read(ctx, s, SetOp::Diff)
}

fn sdiff_plan(_: &[Bytes], reads: &[Piece], out: &mut ReplyBuf) -> PlanResult {
    reply_plan(reads, out, SetOp::Diff)
}

fn sinterstore_read(ctx: &mut Ctx, s: &ShardArgs) -> CmdResult<PartReply> {
    store_read(ctx, s, SetOp::Inter)
}

fn sinterstore_plan(_: &[Bytes], reads: &[Piece], out: &mut ReplyBuf) -> PlanResult {
    store_plan(reads, out, SetOp::Inter)
}

fn sunionstore_read(ctx: &mut Ctx, s: &ShardArgs) -> CmdResult<PartReply> {
    store_read(ctx, s, SetOp::Union)
}

fn sunionstore_plan(_: &[Bytes], reads: &[Piece], out: &mut ReplyBuf) -> PlanResult {
    store_plan(reads, out, SetOp::Union)
}

fn sdiffstore_read(ctx: &mut Ctx, s: &ShardArgs) -> CmdResult<PartReply> {
    store_read(ctx, s, SetOp::Diff)
}

fn sdiffstore_plan(_: &[Bytes], reads: &[Piece], out: &mut ReplyBuf) -> PlanResult {
    store_plan(reads, out, SetOp::Diff)
}

/// `SINTERCARD numkeys key [key ...] [LIMIT limit]`: the first source's position.
const SINTERCARD_FIRST_SOURCE: usize = 2;

/// `SINTERCARD`'s arguments: the source positions and the limit (0: none), with
/// Redis's errors, checked before any key is looked up.
fn sintercard_args(args: &[Bytes]) -> CmdResult<(Range<usize>, usize)> {
    let numkeys_error = || CmdError::Raw("ERR numkeys should be greater than 0".into());
    let numkeys = parse_i64(&args[1]).ok_or_else(numkeys_error)?;
    if numkeys < 1 {
        return Err(numkeys_error());
    }
    if numkeys as u64 > (args.len() - SINTERCARD_FIRST_SOURCE) as u64 {
        return Err(CmdError::Raw(
            "ERR Number of keys can't be greater than number of args".into(),
        ));
    }
    let end = SINTERCARD_FIRST_SOURCE + numkeys as usize;
    let mut c = ArgCursor::new(&args[end - 1..]);
    let mut limit = 0;
    while !c.is_empty() {
        if c.remaining() >= 2 && c.eat("LIMIT") {
            let negative = || CmdError::Raw("ERR LIMIT can't be negative".into());
            let n = parse_i64(c.arg()?).ok_or_else(negative)?;
            limit = usize::try_from(n).map_err(|_| negative())?;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok((SINTERCARD_FIRST_SOURCE..end, limit))
}

fn check_sintercard(args: &[Bytes]) -> CmdResult {
    sintercard_args(args).map(|_| ())
}

/// This shard's intersection share, or the count itself when it owns every source
/// (so `LIMIT` stops the count early).
fn sintercard_read(ctx: &mut Ctx, s: &ShardArgs) -> CmdResult<PartReply> {
    let (sources, limit) = sintercard_args(s.args)?;
    if owned(s, &sources).len() < sources.len() {
        return share(ctx, s, SetOp::Inter, sources);
    }
    let keys: Vec<&Bytes> = sources.map(|i| &s.args[i]).collect();
    let sets = local_sets(ctx.ks, ctx.db, &keys, ctx.now_ms)?;
    let n = match sets.into_iter().collect::<Option<Vec<&Set>>>() {
        Some(all) => Set::intersection_len(&all, limit),
        None => 0,
    };
    Ok(PartReply::Int(n as i64))
}

fn sintercard_plan(args: &[Bytes], reads: &[Piece], out: &mut ReplyBuf) -> PlanResult {
    Parts::first_error(reads)?;
    let (_, limit) = sintercard_args(args)?;
    let n = match reads.iter().find_map(|p| match p.reply {
        PartReply::Int(n) => Some(n),
        _ => None,
    }) {
        Some(n) => n,
        None => {
            let shares: Vec<&Set> = reads
                .iter()
                .filter_map(|p| match &p.reply {
                    PartReply::Set { set, .. } => Some(set),
                    _ => None,
                })
                .collect();
            Set::intersection_len(&shares, limit) as i64
        }
    };
    out.int(n);
    Ok(None)
}

/// `SMOVE source destination member`: the positions of its arguments.
const SMOVE_SRC: usize = 1;
const SMOVE_DST: usize = 2;
const SMOVE_MEMBER: usize = 3;

/// What the keys this shard owns hold, without counting hits (Redis's
/// `lookupKeyWrite`).
fn smove_read(ctx: &mut Ctx, s: &ShardArgs) -> CmdResult<PartReply> {
    let member = &s.args[SMOVE_MEMBER];
    let probes = s
        .keys()
        .map(|key| match ctx.ks.find(ctx.db, key, ctx.now_ms) {
            None => SetProbe::Missing,
            Some(EntryRef {
                value: Value::Set(set),
                ..
            }) => SetProbe::Set {
                has_member: set.contains(member),
            },
            Some(_) => SetProbe::Other,
        })
        .collect();
    Ok(PartReply::Probes(probes))
}

/// Redis's order: a missing source answers 0 whatever the destination holds; then
/// either key of another type is an error; the same key answers whether the member
/// is there; else the member moves if the source has it.
fn smove_plan(args: &[Bytes], reads: &[Piece], out: &mut ReplyBuf) -> PlanResult {
    Parts::first_error(reads)?;
    let probe = |position: usize| {
        reads
            .iter()
            .find_map(|p| match &p.reply {
                PartReply::Probes(probes) => p
                    .keys
                    .iter()
                    .position(|&k| k == position)
                    .map(|i| probes[i]),
                _ => None,
            })
            .unwrap_or(SetProbe::Missing)
    };
    let (src, dst) = (probe(SMOVE_SRC), probe(SMOVE_DST));
    let has_member = match (src, dst) {
        (SetProbe::Missing, _) => false,
        (SetProbe::Other, _) | (_, SetProbe::Other) => return Err(CmdError::WrongType),
        (SetProbe::Set { has_member }, _) => has_member,
    };
    out.int(has_member as i64);
    if !has_member || args[SMOVE_SRC] == args[SMOVE_DST] {
        return Ok(None);
    }
    Ok(Some(Write {
        keys: Some(vec![SMOVE_SRC, SMOVE_DST]),
        carry: None,
    }))
}

/// Removes the member from the source (deleting it if emptied) and adds it to the
/// destination (creating it), each on the shard owning it.
fn smove_write(ctx: &mut Ctx, s: &ShardArgs) -> CmdResult<PartReply> {
    let member = &s.args[SMOVE_MEMBER];
    let (db, now) = (ctx.db, ctx.now_ms);
    if s.has(SMOVE_SRC) {
        let src = &s.args[SMOVE_SRC];
        if let Some(mut guard) = write_set(ctx.ks, db, src, now)? {
            guard.set_remove(member);
        }
        ctx.ks.remove_if_empty(db, src);
    }
    if s.has(SMOVE_DST) {
        add_member(ctx, &s.args[SMOVE_DST], member)?;
    }
    Ok(PartReply::Done)
}

/// Adds `member` to the set at `key`, creating it.
fn add_member(ctx: &mut Ctx, key: &[u8], member: &[u8]) -> CmdResult {
    let limits = ctx.limits.set;
    if let Some(mut guard) = write_set(ctx.ks, ctx.db, key, ctx.now_ms)? {
        guard.set_add(member, &limits);
        return Ok(());
    }
    let set = Set::from_members([member], &limits);
    ctx.ks.add(ctx.db, key, Value::Set(set), NO_EXPIRE);
    Ok(())
}

/// A set row as parts, splitting by keys.
const fn keyed(
    check: Option<fn(&[Bytes]) -> CmdResult>,
    read: PartFn,
    plan: PlanFn,
    write: Option<PartFn>,
) -> Parts {
    Parts {
        split: Split::Keys,
        check,
        read: Some(read),
        plan: Some(plan),
        write,
        always_writes: false,
        merge: merge::planned,
    }
}

static SINTER: Parts = keyed(None, sinter_read, sinter_plan, None);
static SUNION: Parts = keyed(None, sunion_read, sunion_plan, None);
static SDIFF: Parts = keyed(None, sdiff_read, sdiff_plan, None);
static SINTERSTORE: Parts = keyed(None, sinterstore_read, sinterstore_plan, Some(store_write));
static SUNIONSTORE: Parts = keyed(None, sunionstore_read, sunionstore_plan, Some(store_write));
static SDIFFSTORE: Parts = keyed(None, sdiffstore_read, sdiffstore_plan, Some(store_write));
static SINTERCARD: Parts = keyed(
    Some(check_sintercard),
    sintercard_read,
    sintercard_plan,
    None,
);
static SMOVE: Parts = keyed(None, smove_read, smove_plan, Some(smove_write));

fn sscan(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut c = ArgCursor::new(args);
    let key = c.arg()?;
    let cursor = scan_cursor(&mut c)?;
    let Some(s) = read_set(ctx.ks, ctx.db, key, ctx.now_ms)? else {
        reply_scan(ctx.out, 0, &[]);
        return Ok(());
    };
    let opts = parse_scan(&mut c, cursor)?;
    let mut items = Vec::new();
    let next = s.scan(opts.cursor, opts.count, |m| {
        if opts.pattern.is_none_or(|p| glob_match(p, &m, false)) {
            items.push(m.to_vec());
        }
    });
    reply_scan(ctx.out, next, &items);
    Ok(())
}

const RW: u32 = WRITE | DENYOOM;
const ALL_KEYS: KeySpec = range(1, -1, 1);
/// `SINTERCARD numkeys key ... [LIMIT n]`: `numkeys` counts the keys after it.
const SINTERCARD_KEYS: KeySpec = KeySpec::KeyNum {
    numkeys_at: 1,
    step: 1,
    fixed: None,
};

#[rustfmt::skip]
pub const COMMANDS: &[CommandSpec] = &[
    row("sadd", -3, RW | FAST, KEY1, "set", "Adds one or more members to a set. Creates the key if it doesn't exist.", Route::Shard(sadd)),
    row("srem", -3, WRITE | FAST, KEY1, "set", "Removes one or more members from a set. Deletes the set if the last member was removed.", Route::Shard(srem)),
    row("scard", 2, READONLY | FAST, KEY1, "set", "Returns the number of members in a set.", Route::Shard(scard)),
    row("sismember", 3, READONLY | FAST, KEY1, "set", "Determines whether a member belongs to a set.", Route::Shard(sismember)),
    row("smismember", -3, READONLY | FAST, KEY1, "set", "Determines whether multiple members belong to a set.", Route::Shard(smismember)),
    row("smembers", 2, READONLY, KEY1, "set", "Returns all members of a set.", Route::Shard(smembers)),
    row("spop", -2, WRITE | FAST, KEY1, "set", "Returns one or more random members from a set after removing them. Deletes the set if the last member was popped.", Route::Shard(spop)),
    row("srandmember", -2, READONLY, KEY1, "set", "Get one or multiple random members from a set", Route::Shard(srandmember)),
    row("sinter", -2, READONLY, ALL_KEYS, "set", "Returns the intersect of multiple sets.", Route::Parts(&SINTER)),
    row("sunion", -2, READONLY, ALL_KEYS, "set", "Returns the union of multiple sets.", Route::Parts(&SUNION)),
    row("sdiff", -2, READONLY, ALL_KEYS, "set", "Returns the difference of multiple sets.", Route::Parts(&SDIFF)),
    row("sinterstore", -3, RW, ALL_KEYS, "set", "Stores the intersect of multiple sets in a key.", Route::Parts(&SINTERSTORE)),
    row("sunionstore", -3, RW, ALL_KEYS, "set", "Stores the union of multiple sets in a key.", Route::Parts(&SUNIONSTORE)),
    row("sdiffstore", -3, RW, ALL_KEYS, "set", "Stores the difference of multiple sets in a key.", Route::Parts(&SDIFFSTORE)),
    row("sintercard", -3, READONLY, SINTERCARD_KEYS, "set", "Returns the number of members of the intersect of multiple sets.", Route::Parts(&SINTERCARD)),
    row("smove", 4, WRITE | FAST, range(1, 2, 1), "set", "Moves a member from one set to another.", Route::Parts(&SMOVE)),
    row("sscan", -3, READONLY, KEY1, "set", "Iterates over members of a set.", Route::Shard(sscan)),
];

#[cfg(test)]
mod tests {
    use crate::harness::{run, TestShard};
    use crate::resp::Protocol;

    #[test]
    fn add_remove_members_and_empty_key_deletion() {
        let mut s = TestShard::default();
        assert_eq!(run(&mut s, &["SADD", "s", "1", "2", "2"]), "2");
        assert_eq!(run(&mut s, &["OBJECT", "ENCODING", "s"]), "intset");
        assert_eq!(run(&mut s, &["SADD", "s", "x"]), "1");
        assert_eq!(run(&mut s, &["OBJECT", "ENCODING", "s"]), "hashtable");
        assert_eq!(run(&mut s, &["TYPE", "s"]), "set");
        assert_eq!(run(&mut s, &["SCARD", "s"]), "3");
        assert_eq!(run(&mut s, &["SISMEMBER", "s", "x"]), "1");
        assert_eq!(run(&mut s, &["SMISMEMBER", "s", "x", "y"]), "[1, 0]");
        assert_eq!(run(&mut s, &["SREM", "s", "1", "2", "x", "y"]), "3");
        assert_eq!(run(&mut s, &["EXISTS", "s"]), "0");
        run(&mut s, &["SADD", "s", "a"]);
        assert_eq!(run(&mut s, &["SPOP", "s"]), "a");
        assert_eq!(run(&mut s, &["EXISTS", "s"]), "0");
        assert_eq!(run(&mut s, &["SPOP", "s"]), "(nil)");
        assert_eq!(run(&mut s, &["SPOP", "s", "3"]), "[]");
        s.protocol = Protocol::Resp3;
        run(&mut s, &["SADD", "s", "a"]);
        assert_eq!(run(&mut s, &["SMEMBERS", "s"]), "[a]");
        assert!(s.run_raw(&["SMEMBERS", "s"]).starts_with('~'));
    }

    #[test]
    fn counts_and_errors() {
        let mut s = TestShard::default();
        run(&mut s, &["SADD", "s", "1", "2", "3"]);
        run(&mut s, &["SET", "str", "v"]);
        let wrong = "-WRONGTYPE Operation against a key holding the wrong kind of value";
        assert_eq!(run(&mut s, &["SADD", "str", "1"]), wrong);
        assert_eq!(run(&mut s, &["GET", "s"]), wrong);
        assert_eq!(run(&mut s, &["SINTER", "s", "str"]), wrong);
        assert_eq!(run(&mut s, &["SMOVE", "s", "str", "1"]), wrong);
        assert_eq!(run(&mut s, &["SMOVE", "nokey", "str", "1"]), "0");
        assert_eq!(
            run(&mut s, &["SPOP", "s", "-1"]),
            "-ERR value is out of range, must be positive"
        );
        assert_eq!(run(&mut s, &["SPOP", "s", "1", "2"]), "-ERR syntax error");
        assert_eq!(run(&mut s, &["SPOP", "s", "0"]), "[]");
        assert_eq!(
            run(&mut s, &["SRANDMEMBER", "s", "9223372036854775807"]),
            "[1, 2, 3]"
        );
        assert_eq!(
            run(&mut s, &["SRANDMEMBER", "s", "-9223372036854775808"]),
            "-ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
        );
        assert_eq!(
            run(&mut s, &["SRANDMEMBER", "s", "-4"])
                .matches(", ")
                .count(),
            3
        );
        assert_eq!(run(&mut s, &["SRANDMEMBER", "nokey", "-4"]), "[]");
        assert_eq!(
            run(&mut s, &["SINTERCARD", "0", "s"]),
            "-ERR numkeys should be greater than 0"
        );
        assert_eq!(
            run(&mut s, &["SINTERCARD", "2", "s"]),
            "-ERR Number of keys can't be greater than number of args"
        );
        assert_eq!(
            run(&mut s, &["SINTERCARD", "1", "s", "LIMIT", "-1"]),
            "-ERR LIMIT can't be negative"
        );
        assert_eq!(
            run(&mut s, &["SINTERCARD", "1", "s", "foo", "1"]),
            "-ERR syntax error"
        );
        assert_eq!(run(&mut s, &["SINTERCARD", "1", "s", "LIMIT", "2"]), "2");
        assert_eq!(
            run(&mut s, &["SPOP", "s", "9223372036854775807"]),
            "[1, 2, 3]"
        );
        assert_eq!(run(&mut s, &["EXISTS", "s"]), "0");
    }

    #[test]
    fn algebra_store_and_move() {
        let mut s = TestShard::default();
        run(&mut s, &["SADD", "a", "1", "2", "3"]);
        run(&mut s, &["SADD", "b", "2", "3", "4"]);
        assert_eq!(run(&mut s, &["SINTER", "a", "b"]), "[2, 3]");
        assert_eq!(run(&mut s, &["SINTER", "a", "nokey"]), "[]");
        assert_eq!(run(&mut s, &["SUNION", "a", "b", "nokey"]), "[1, 2, 3, 4]");
        assert_eq!(run(&mut s, &["SDIFF", "a", "b"]), "[1]");
        assert_eq!(run(&mut s, &["SDIFFSTORE", "d", "a", "b"]), "1");
        assert_eq!(run(&mut s, &["SMEMBERS", "d"]), "[1]");
        assert_eq!(run(&mut s, &["SINTERSTORE", "d", "a", "nokey"]), "0");
        assert_eq!(run(&mut s, &["EXISTS", "d"]), "0");
        assert_eq!(run(&mut s, &["SUNIONSTORE", "d", "a", "b"]), "4");
        assert_eq!(run(&mut s, &["SINTERCARD", "2", "a", "b"]), "2");
        assert_eq!(run(&mut s, &["SMOVE", "a", "c", "1"]), "1");
        assert_eq!(run(&mut s, &["SMOVE", "a", "c", "1"]), "0");
        assert_eq!(run(&mut s, &["SMOVE", "a", "a", "2"]), "1");
        assert_eq!(run(&mut s, &["SMEMBERS", "c"]), "[1]");
        assert_eq!(run(&mut s, &["SSCAN", "a", "0", "MATCH", "2"]), "[0, [2]]");
        assert_eq!(run(&mut s, &["COPY", "a", "e"]), "1");
        assert_eq!(run(&mut s, &["SMEMBERS", "e"]), "[2, 3]");
        assert_eq!(run(&mut s, &["RENAME", "e", "f"]), "OK");
        assert_eq!(run(&mut s, &["MOVE", "f", "1"]), "1");
    }
}
