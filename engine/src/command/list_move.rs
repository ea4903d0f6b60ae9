//! The list commands that touch several keys, as [`Parts`] so their keys may live on
//! any shards: `LMOVE`/`RPOPLPUSH` and `LMPOP` (Redis 7.0's `lmoveGenericCommand`
//! and `mpopGenericCommand`).
//!
//! ```text
//!  read: probe each key (ListProbe; a source with the element it would give)
//!  plan: Redis's checks in Redis's order; reply; the element rides in the carry
//!  write: pop on the source's shard, push the carried element on the destination's
//! ```
//!
//! Reads use Redis's `lookupKeyWrite`, so they count no keyspace hit or miss. The
//! same key as source and destination is changed through one write guard (a
//! rotation), so it is never seen empty.

use std::ops::Range;

use bytes::Bytes;

use super::list_edit::{pop, push};
use super::parts::{ListProbe, MergeArgs, PartReply, Parts, Piece, ShardArgs, Split, Write};
use crate::collections::End;
use crate::command::ctx::write_typed;
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};
use crate::keyspace::{Entry, EntryRef, Keyspace};
use crate::resp::{parse_i64, Reply, ReplyBuf};
use crate::value::Value;

type PlanResult = CmdResult<Option<Write>>;

/// `LMOVE source destination wherefrom whereto`: the positions of its keys.
pub const MOVE_SRC: usize = 1;
pub const MOVE_DST: usize = 2;

/// `LEFT` or `RIGHT`, as Redis's `getListPositionFromObjectOrReply`.
pub fn parse_end(arg: &[u8]) -> CmdResult<End> {
    if arg.eq_ignore_ascii_case(b"LEFT") {
        Ok(End::Head)
    } else if arg.eq_ignore_ascii_case(b"RIGHT") {
        Ok(End::Tail)
    } else {
        Err(CmdError::Syntax)
    }
}

/// The ends a move pops from and pushes to: `RPOPLPUSH source destination` pops the
/// tail and pushes the head; `LMOVE` names both after the keys.
pub fn move_ends(args: &[Bytes]) -> CmdResult<(End, End)> {
    match args.get(3..5) {
        Some([from, to]) => Ok((parse_end(from)?, parse_end(to)?)),
        _ => Ok((End::Tail, End::Head)),
    }
}

fn check_move(args: &[Bytes]) -> CmdResult {
    move_ends(args).map(drop)
}

/// What `key` holds; for a source, the element at `end` too.
pub fn probe(ks: &mut Keyspace, db: usize, key: &[u8], now_ms: u64, end: Option<End>) -> ListProbe {
    match ks.find(db, key, now_ms) {
        None => ListProbe::Missing,
        Some(EntryRef {
            value: Value::List(list),
            ..
        }) => ListProbe::List {
            end: end.and_then(|e| match e {
                End::Head => list.iter().next().map(<[u8]>::to_vec),
                End::Tail => list.iter().next_back().map(<[u8]>::to_vec),
            }),
        },
        Some(_) => ListProbe::Other,
    }
}

fn move_read(ctx: &mut Ctx, s: &ShardArgs) -> CmdResult<PartReply> {
    let (from, _) = move_ends(s.args)?;
    let probes = s
        .keys
        .iter()
        .map(|&i| {
            let end = (i == MOVE_SRC).then_some(from);
            probe(ctx.ks, ctx.db, &s.args[i], ctx.now_ms, end)
        })
        .collect();
    Ok(PartReply::Lists(probes))
}

/// The probe of the key at `position` among the read pieces.
fn probe_at(reads: &[Piece], position: usize) -> ListProbe {
    reads
        .iter()
        .find_map(|p| match &p.reply {
            PartReply::Lists(probes) => p
                .keys
                .iter()
                .position(|&k| k == position)
                .map(|i| probes[i].clone()),
            _ => None,
        })
        .unwrap_or(ListProbe::Missing)
}

/// Redis's order: a missing source answers nil whatever the destination holds;
/// then either key of another type is an error; else the source's end element
/// moves.
pub fn move_parts_plan(_: &[Bytes], reads: &[Piece], out: &mut ReplyBuf) -> PlanResult {
    Parts::first_error(reads)?;
    let elem = match (probe_at(reads, MOVE_SRC), probe_at(reads, MOVE_DST)) {
        (ListProbe::Missing, _) | (ListProbe::List { end: None }, _) => {
            out.null();
            return Ok(None);
        }
        (ListProbe::Other, _) | (_, ListProbe::Other) => return Err(CmdError::WrongType),
        (ListProbe::List { end: Some(elem) }, _) => elem,
    };
    out.bulk(&elem);
    Ok(Some(Write {
        keys: Some(vec![MOVE_SRC, MOVE_DST]),
        carry: Some(Entry::new(Value::Str(elem.into()))),
    }))
}

/// Pops from the source and pushes the carried element on the destination, each
/// on the shard owning it.
pub fn move_write(ctx: &mut Ctx, s: &ShardArgs) -> CmdResult<PartReply> {
    let (from, to) = move_ends(s.args)?;
    let elem = match s.carry.map(|c| &c.value) {
        Some(Value::Str(elem)) => Bytes::copy_from_slice(elem),
        other => panic!("a move carries its element, not {other:?}"),
    };
    let (src, dst) = (&s.args[MOVE_SRC], &s.args[MOVE_DST]);
    if s.has(MOVE_SRC) && s.has(MOVE_DST) && src == dst {
        let limits = ctx.limits.list;
        let guard = write_typed(ctx.ks, ctx.db, src, ctx.now_ms, Value::as_list)?;
        let mut guard = guard.expect("the plan saw the source");
        guard.list_pop(from, 1);
        guard.list_push(to, &[elem], &limits);
        return Ok(PartReply::Done);
    }
    // The push comes first, as in Redis: listeners see the destination's event
    // before the source's.
    if s.has(MOVE_DST) {
        push(ctx, dst, to, std::slice::from_ref(&elem), false)?;
    }
    if s.has(MOVE_SRC) {
        let popped = pop(ctx, src, from, 1)?.expect("the plan saw the source");
        debug_assert_eq!(popped[0], elem);
    }
    Ok(PartReply::Done)
}

/// `LMPOP numkeys key… LEFT|RIGHT [COUNT count]` (and `BLMPOP timeout numkeys …`),
/// read from the argument at `numkeys_at` on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MpopArgs {
    pub keys: Range<usize>,
    pub end: End,
    pub count: usize,
}

/// Parses an `*MPOP`'s arguments with Redis's errors, before any key is looked up.
pub fn mpop_args(args: &[Bytes], numkeys_at: usize) -> CmdResult<MpopArgs> {
    let numkeys_error = || CmdError::Raw("ERR numkeys should be greater than 0".into());
    let numkeys = parse_i64(&args[numkeys_at]).ok_or_else(numkeys_error)?;
    let numkeys = usize::try_from(numkeys)
        .ok()
        .filter(|&n| n >= 1)
        .ok_or_else(numkeys_error)?;
    let where_at = numkeys_at.saturating_add(numkeys).saturating_add(1);
    let end = parse_end(args.get(where_at).ok_or(CmdError::Syntax)?)?;
    let mut count = None;
    let mut rest = args[where_at + 1..].iter();
    while let Some(opt) = rest.next() {
        match rest.as_slice().first() {
            Some(n) if count.is_none() && opt.eq_ignore_ascii_case(b"COUNT") => {
                rest.next();
                let positive = || CmdError::Raw("ERR count should be greater than 0".into());
                let n = parse_i64(n).ok_or_else(positive)?;
                count = Some(
                    usize::try_from(n)
                        .ok()
                        .filter(|&n| n >= 1)
                        .ok_or_else(positive)?,
                );
            }
            _ => return Err(CmdError::Syntax),
        }
    }
    Ok(MpopArgs {
        keys: numkeys_at + 1..where_at,
        end,
        count: count.unwrap_or(1),
    })
}

fn check_lmpop(args: &[Bytes]) -> CmdResult {
    mpop_args(args, 1).map(drop)
}

fn mpop_read(ctx: &mut Ctx, s: &ShardArgs) -> CmdResult<PartReply> {
    let probes = s
        .keys()
        .map(|key| probe(ctx.ks, ctx.db, key, ctx.now_ms, None))
        .collect();
    Ok(PartReply::Lists(probes))
}

/// The first key holding a list is popped; a key of another type before it is an
/// error; no list at all answers a null array.
pub fn mpop_plan_keys(keys: Range<usize>, reads: &[Piece], out: &mut ReplyBuf) -> PlanResult {
    Parts::first_error(reads)?;
    for position in keys {
        match probe_at(reads, position) {
            ListProbe::Missing => continue,
            ListProbe::Other => return Err(CmdError::WrongType),
            ListProbe::List { .. } => {
                return Ok(Some(Write {
                    keys: Some(vec![position]),
                    carry: None,
                }))
            }
        }
    }
    out.null_array();
    Ok(None)
}

fn mpop_plan(args: &[Bytes], reads: &[Piece], out: &mut ReplyBuf) -> PlanResult {
    mpop_plan_keys(mpop_args(args, 1)?.keys, reads, out)
}

/// Pops from the one key the plan chose.
pub fn mpop_write_at(ctx: &mut Ctx, s: &ShardArgs, numkeys_at: usize) -> CmdResult<PartReply> {
    let m = mpop_args(s.args, numkeys_at)?;
    let key = s.keys().next().expect("the plan chose a key");
    let popped = pop(ctx, key, m.end, m.count)?.expect("the plan saw a list");
    Ok(PartReply::Values(popped.into_iter().map(Some).collect()))
}

fn mpop_write(ctx: &mut Ctx, s: &ShardArgs) -> CmdResult<PartReply> {
    mpop_write_at(ctx, s, 1)
}

/// `[key, [element…]]` from the write piece.
pub fn mpop_merge(m: &MergeArgs, pieces: &[Piece], out: &mut ReplyBuf) {
    let Some(piece) = pieces.first() else {
        return;
    };
    let PartReply::Values(values) = &piece.reply else {
        return;
    };
    out.array(2);
    out.bulk(&m.args[piece.keys[0]]);
    out.array(values.len());
    values.iter().flatten().for_each(|v| out.bulk(v));
}

pub static LMOVE: Parts = Parts {
    split: Split::Keys,
    check: Some(check_move),
    read: Some(move_read),
    plan: Some(move_parts_plan),
    write: Some(move_write),
    always_writes: false,
    merge: super::parts::merge::planned,
};

pub static LMPOP: Parts = Parts {
    split: Split::Keys,
    check: Some(check_lmpop),
    read: Some(mpop_read),
    plan: Some(mpop_plan),
    write: Some(mpop_write),
    always_writes: false,
    merge: mpop_merge,
};
