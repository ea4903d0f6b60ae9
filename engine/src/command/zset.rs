//! The sorted-set family's single-key commands: `ZADD`, `ZINCRBY`, `ZREM`, the
//! reads (`ZCARD`, `ZSCORE`, `ZMSCORE`, `ZRANK`, `ZREVRANK`, `ZCOUNT`,
//! `ZLEXCOUNT`), the `ZRANGE` family, `ZREMRANGEBY*`, `ZPOPMIN`/`ZPOPMAX`,
//! `ZRANDMEMBER` and `ZSCAN`, on [`Zset`] values, with Redis 7.0's replies and error
//! texts (`t_zset.c`): scores as doubles (`%.17g`, RESP3 `,` doubles), pairs as
//! nested arrays in RESP3 where Redis 7.0 nests them. The multi-key forms are in
//! `zset_multi.rs`; ranges are parsed in `zset_range.rs`.
//!
//! Every change goes through the [`WriteGuard`]'s sorted-set methods, which journal
//! the members and scores touched (`ZAdd`, `ZRem`), never the whole set.

use bytes::Bytes;

use super::flags::*;
use super::hash::{parse_scan, random_count, reply_scan, scan_cursor};
use super::zset_range::{parse_score, LexRange, Limit, ScoreRange, Span};
use super::{row, CommandSpec, Route, KEY1};
use crate::collections::{distinct_positions, repeat_positions, SampleCount, Zset, ZsetLimits};
use crate::command::ctx::{read_typed, write_typed, Ctx};
use crate::cursor::ArgCursor;
use crate::error::{CmdError, CmdResult};
use crate::glob::glob_match;
use crate::keyspace::{Keyspace, WriteGuard, NO_EXPIRE};
use crate::resp::{parse_i64, Protocol, Reply, ReplyBuf};
use crate::value::Value;

/// The sorted set at `key` for a read command: counts a hit or miss, then checks the type.
pub(super) fn read_zset<'k>(
    ks: &'k mut Keyspace,
    db: usize,
    key: &[u8],
    now_ms: u64,
) -> CmdResult<Option<&'k Zset>> {
    read_typed(ks, db, key, now_ms, Value::as_zset)
}

/// Write access to the sorted set at `key`, or a wrong-type error.
pub(super) fn write_zset<'k>(
    ks: &'k mut Keyspace,
    db: usize,
    key: &[u8],
    now_ms: u64,
) -> CmdResult<Option<WriteGuard<'k>>> {
    write_typed(ks, db, key, now_ms, Value::as_zset)
}

/// Entries as a reply: members alone, or with scores (flat in RESP2, `[member,
/// score]` pairs in RESP3, or always when `nested`).
pub(super) fn reply_entries(
    out: &mut ReplyBuf,
    entries: &[(Vec<u8>, f64)],
    withscores: bool,
    nested: bool,
) {
    let pairs = withscores && (nested || out.protocol() == Protocol::Resp3);
    match (withscores, pairs) {
        (false, _) => out.array(entries.len()),
        (true, true) => out.array(entries.len()),
        (true, false) => out.array(2 * entries.len()),
    }
    for (m, s) in entries {
        if pairs {
            out.array(2);
        }
        out.bulk(m);
        if withscores {
            out.double(*s);
        }
    }
}

/// `ZADD`'s flags.
#[derive(Default, Clone, Copy)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

/// What `ZADD` did to one member.
#[derive(PartialEq, Eq)]
enum Added {
    New,
    Updated,
    Nothing,
}

fn zadd_flags(c: &mut ArgCursor) -> CmdResult<AddFlags> {
    let mut f = AddFlags::default();
    loop {
        let flag = match () {
            _ if c.eat("NX") => &mut f.nx,
            _ if c.eat("XX") => &mut f.xx,
            _ if c.eat("GT") => &mut f.gt,
            _ if c.eat("LT") => &mut f.lt,
            _ if c.eat("CH") => &mut f.ch,
            _ if c.eat("INCR") => &mut f.incr,
            _ => break,
        };
        *flag = true;
    }
    let pairs = c.remaining();
    // Redis checks the pairs' count before the flags.
    if pairs == 0 || !pairs.is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    if f.nx && f.xx {
        return Err(CmdError::Raw(
            "ERR XX and NX options at the same time are not compatible".into(),
        ));
    }
    if (f.nx && (f.gt || f.lt)) || (f.gt && f.lt) {
        return Err(CmdError::Raw(
            "ERR GT, LT, and/or NX options at the same time are not compatible".into(),
        ));
    }
    if f.incr && pairs > 2 {
        return Err(CmdError::Raw(
            "ERR INCR option supports a single increment-element pair".into(),
        ));
    }
    Ok(f)
}

fn nan_error() -> CmdError {
    CmdError::Raw("ERR resulting score is not a number (NaN)".into())
}

/// Where `ZADD` writes: the guard of an existing key, or a new set.
trait Scores {
    fn score(&self, member: &[u8]) -> Option<f64>;
    fn set(&mut self, member: &[u8], score: f64, limits: &ZsetLimits);
}

impl Scores for WriteGuard<'_> {
    fn score(&self, member: &[u8]) -> Option<f64> {
        self.zset().score(member)
    }
    fn set(&mut self, member: &[u8], score: f64, limits: &ZsetLimits) {
        self.zset_insert(member, score, limits);
    }
}

impl Scores for Zset {
    fn score(&self, member: &[u8]) -> Option<f64> {
        Zset::score(self, member)
    }
    fn set(&mut self, member: &[u8], score: f64, limits: &ZsetLimits) {
        self.insert(member, score, limits);
    }
}

/// Redis's `zsetAdd` on one member: what it did and the score the member has after
/// it, when it has one the flags did not refuse.
fn add_one(
    z: &mut impl Scores,
    f: AddFlags,
    member: &[u8],
    score: f64,
    limits: &ZsetLimits,
) -> CmdResult<(Added, Option<f64>)> {
    let Some(cur) = z.score(member) else {
        if f.xx {
            return Ok((Added::Nothing, None));
        }
        z.set(member, score, limits);
        return Ok((Added::New, Some(score)));
    };
    if f.nx {
        return Ok((Added::Nothing, None));
    }
    let score = if f.incr { cur + score } else { score };
    if score.is_nan() {
        return Err(nan_error());
    }
    if (f.lt && score >= cur) || (f.gt && score <= cur) {
        return Ok((Added::Nothing, None));
    }
    if score != cur {
        z.set(member, score, limits);
        return Ok((Added::Updated, Some(score)));
    }
    Ok((Added::Nothing, Some(score)))
}

/// Adds every pair in order; stops at the first error. The count `ZADD` replies
/// with and the last member's score.
fn add_all(
    z: &mut impl Scores,
    f: AddFlags,
    pairs: &[(f64, &Bytes)],
    limits: &ZsetLimits,
) -> CmdResult<(i64, Option<f64>)> {
    let (mut count, mut last) = (0, None);
    for &(score, member) in pairs {
        let (added, score) = add_one(z, f, member, score, limits)?;
        count += (added == Added::New || (f.ch && added == Added::Updated)) as i64;
        last = score;
    }
    Ok((count, last))
}

pub(super) fn zadd(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut c = ArgCursor::new(args);
    let key = c.arg()?;
    let f = zadd_flags(&mut c)?;
    let rest = c.rest();
    let mut pairs = Vec::with_capacity(rest.len() / 2);
    for p in rest.chunks_exact(2) {
        pairs.push((parse_score(&p[0]).ok_or(CmdError::NotFloat)?, &p[1]));
    }
    let limits = ctx.limits.zset;
    if let Some(mut guard) = write_zset(ctx.ks, ctx.db, key, ctx.now_ms)? {
        let (count, last) = add_all(&mut guard, f, &pairs, &limits)?;
        return reply_zadd(ctx.out, f, count, last);
    }
    if f.xx {
        return reply_zadd(ctx.out, f, 0, None);
    }
    let mut z = Zset::new();
    let (count, last) = add_all(&mut z, f, &pairs, &limits)?;
    ctx.ks.add(ctx.db, key, Value::Zset(z), NO_EXPIRE);
    reply_zadd(ctx.out, f, count, last)
}

fn reply_zadd(out: &mut ReplyBuf, f: AddFlags, count: i64, last: Option<f64>) -> CmdResult {
    match (f.incr, last) {
        (false, _) => out.int(count),
        (true, Some(s)) => out.double(s),
        (true, None) => out.null(),
    }
    Ok(())
}

/// `ZINCRBY key increment member`: `ZADD key INCR increment member`.
fn zincrby(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let incr: Vec<Bytes> = [&b"zadd"[..], &args[1], b"INCR", &args[2], &args[3]]
        .iter()
        .map(|a| Bytes::copy_from_slice(a))
        .collect();
    zadd(ctx, &incr)
}

fn zrem(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let removed = match write_zset(ctx.ks, ctx.db, key, ctx.now_ms)? {
        Some(mut g) => args[2..]
            .iter()
            .filter(|m| g.zset_remove(m).is_some())
            .count(),
        None => 0,
    };
    ctx.ks.remove_if_empty(ctx.db, key);
    ctx.out.int(removed as i64);
    Ok(())
}

fn zcard(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let z = read_zset(ctx.ks, ctx.db, &args[1], ctx.now_ms)?;
    ctx.out.int(z.map_or(0, Zset::len) as i64);
    Ok(())
}

fn zscore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let z = read_zset(ctx.ks, ctx.db, &args[1], ctx.now_ms)?;
    match z.and_then(|z| z.score(&args[2])) {
        Some(s) => ctx.out.double(s),
        None => ctx.out.null(),
    }
    Ok(())
}

fn zmscore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let z = read_zset(ctx.ks, ctx.db, &args[1], ctx.now_ms)?;
    ctx.out.array(args.len() - 2);
    for m in &args[2..] {
        match z.and_then(|z| z.score(m)) {
            Some(s) => ctx.out.double(s),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

fn rank(ctx: &mut Ctx, args: &[Bytes], rev: bool) -> CmdResult {
    let z = read_zset(ctx.ks, ctx.db, &args[1], ctx.now_ms)?;
    match z.and_then(|z| z.rank(&args[2]).map(|r| (z.len(), r))) {
        Some((len, r)) => ctx.out.int(if rev { len - 1 - r } else { r } as i64),
        None => ctx.out.null(),
    }
    Ok(())
}

fn zrank(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    rank(ctx, args, false)
}

fn zrevrank(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    rank(ctx, args, true)
}

fn zcount(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let range = ScoreRange::parse(&args[2], &args[3])?;
    let z = read_zset(ctx.ks, ctx.db, &args[1], ctx.now_ms)?;
    let (lo, hi) = z.map_or((0, 0), |z| range.ranks(z));
    ctx.out.int((hi - lo) as i64);
    Ok(())
}

fn zlexcount(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let range = LexRange::parse(&args[2], &args[3])?;
    let z = read_zset(ctx.ks, ctx.db, &args[1], ctx.now_ms)?;
    let (lo, hi) = z.map_or((0, 0), |z| range.ranks(z));
    ctx.out.int((hi - lo) as i64);
    Ok(())
}

/// The range a `ZREMRANGEBY*` names.
enum Doomed {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

impl Doomed {
    fn parse(by: &str, min: &[u8], max: &[u8]) -> CmdResult<Doomed> {
        Ok(match by {
            "rank" => Doomed::Rank(
                parse_i64(min).ok_or(CmdError::NotInteger)?,
                parse_i64(max).ok_or(CmdError::NotInteger)?,
            ),
            "score" => Doomed::Score(ScoreRange::parse(min, max)?),
            _ => Doomed::Lex(LexRange::parse(min, max)?),
        })
    }

    /// Ascending ranks `lo..hi` of the entries to remove.
    fn ranks(&self, z: &Zset) -> (usize, usize) {
        match self {
            Doomed::Rank(start, stop) => {
                let s = Span::by_rank(z.len(), *start, *stop, false);
                (s.start, s.start + s.len)
            }
            Doomed::Score(r) => r.ranks(z),
            Doomed::Lex(r) => r.ranks(z),
        }
    }
}

fn remove_range(ctx: &mut Ctx, args: &[Bytes], by: &str) -> CmdResult {
    let key = &args[1];
    let doomed = Doomed::parse(by, &args[2], &args[3])?;
    let removed = match write_zset(ctx.ks, ctx.db, key, ctx.now_ms)? {
        Some(mut g) => {
            let (lo, hi) = doomed.ranks(g.zset());
            let span = Span {
                start: lo,
                len: hi - lo,
                rev: false,
            };
            let entries = span.entries(g.zset());
            entries.iter().for_each(|(m, _)| {
                g.zset_remove(m);
            });
            entries.len()
        }
        None => 0,
    };
    ctx.ks.remove_if_empty(ctx.db, key);
    ctx.out.int(removed as i64);
    Ok(())
}

fn zremrangebyrank(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    remove_range(ctx, args, "rank")
}

fn zremrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    remove_range(ctx, args, "score")
}

fn zremrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    remove_range(ctx, args, "lex")
}

/// Removes and returns up to `count` entries from the low end (the high end when
/// `max`) of the sorted set at `key`, deleting it when emptied.
pub(super) fn pop(
    ctx: &mut Ctx,
    key: &[u8],
    count: usize,
    max: bool,
) -> CmdResult<Vec<(Vec<u8>, f64)>> {
    let popped = match write_zset(ctx.ks, ctx.db, key, ctx.now_ms)? {
        Some(mut g) => {
            let span = Span {
                start: 0,
                len: count,
                rev: max,
            };
            let popped = span.entries(g.zset());
            popped.iter().for_each(|(m, _)| {
                g.zset_remove(m);
            });
            popped
        }
        None => Vec::new(),
    };
    ctx.ks.remove_if_empty(ctx.db, key);
    Ok(popped)
}

fn zpop(ctx: &mut Ctx, args: &[Bytes], max: bool) -> CmdResult {
    let mut c = ArgCursor::new(args);
    let key = c.arg()?;
    let count =
        match c.next_opt() {
            Some(a) => {
                let n = parse_i64(a).ok_or(CmdError::NotInteger)?;
                Some(usize::try_from(n).map_err(|_| {
                    CmdError::Raw("ERR value is out of range, must be positive".into())
                })?)
            }
            None => None,
        };
    c.finish()?;
    let popped = pop(ctx, key, count.unwrap_or(1), max)?;
    match count {
        None => {
            ctx.out.array(2 * popped.len());
            for (m, s) in &popped {
                ctx.out.bulk(m);
                ctx.out.double(*s);
            }
        }
        Some(_) => reply_entries(ctx.out, &popped, true, false),
    }
    Ok(())
}

fn zpopmin(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    zpop(ctx, args, false)
}

fn zpopmax(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    zpop(ctx, args, true)
}

fn zrandmember(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut c = ArgCursor::new(args);
    let key = c.arg()?;
    let Some(count_arg) = c.next_opt() else {
        let z = read_zset(ctx.ks, ctx.db, key, ctx.now_ms)?;
        match z.filter(|z| !z.is_empty()) {
            Some(z) => {
                let pick = rand::Rng::gen_range(ctx.rng, 0..z.len());
                ctx.out.bulk(&z.at(pick).0);
            }
            None => ctx.out.null(),
        }
        return Ok(());
    };
    let count = random_count(count_arg)?;
    let withscores = c.eat("WITHSCORES");
    c.finish()?;
    let Some(z) = read_zset(ctx.ks, ctx.db, key, ctx.now_ms)? else {
        ctx.out.array(0);
        return Ok(());
    };
    let picked: Vec<(Vec<u8>, f64)> = match SampleCount::from_i64(count) {
        // The whole set, from the top down, as Redis's `zuiNext` walks it.
        SampleCount::Distinct(n) if n >= z.len() as u64 => z.entries().into_iter().rev().collect(),
        SampleCount::Distinct(n) => distinct_positions(z.len(), n, ctx.rng)
            .into_iter()
            .map(|p| z.at(p))
            .collect(),
        SampleCount::Repeats(n) => {
            let positions: Vec<usize> = repeat_positions(z.len(), n, ctx.rng).collect();
            positions.into_iter().map(|p| z.at(p)).collect()
        }
    };
    reply_entries(ctx.out, &picked, withscores, false);
    Ok(())
}

/// A score as `ZSCAN` replies with it: the `%.17g` text as a bulk string.
fn score_text(score: f64) -> Vec<u8> {
    let mut buf = ReplyBuf::new(Protocol::Resp2);
    buf.double(score);
    let body_at = buf.iter().position(|&b| b == b'\n').expect("a bulk header") + 1;
    buf[body_at..buf.len() - 2].to_vec()
}

fn zscan(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut c = ArgCursor::new(args);
    let key = c.arg()?;
    let cursor = scan_cursor(&mut c)?;
    let Some(z) = read_zset(ctx.ks, ctx.db, key, ctx.now_ms)? else {
        reply_scan(ctx.out, 0, &[]);
        return Ok(());
    };
    let opts = parse_scan(&mut c, cursor)?;
    let mut items = Vec::new();
    let next = z.scan(opts.cursor, opts.count, |m, s| {
        if opts.pattern.is_none_or(|p| glob_match(p, m, false)) {
            items.push(m.to_vec());
            items.push(score_text(s));
        }
    });
    reply_scan(ctx.out, next, &items);
    Ok(())
}

/// What a `ZRANGE`-family range names.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum RangeKind {
    Rank,
    Score,
    Lex,
}

/// A parsed `ZRANGE`-family request.
pub(super) struct RangeRequest<'a> {
    pub key: &'a [u8],
    pub kind: RangeKind,
    pub rev: bool,
    pub withscores: bool,
    pub limit: Limit,
    min: &'a [u8],
    max: &'a [u8],
}

/// Parses `key min max [options]` (`args` from the key on) as Redis's
/// `zrangeGenericCommand` does: `fixed` is the kind and direction of the older
/// commands, which take neither `BYSCORE`/`BYLEX` nor `REV`.
pub(super) fn parse_range<'a>(
    args: &'a [Bytes],
    fixed: Option<(RangeKind, bool)>,
    store: bool,
) -> CmdResult<RangeRequest<'a>> {
    let mut c = ArgCursor::new(&args[2..]);
    let (mut kind, mut rev) = fixed.unwrap_or((RangeKind::Rank, false));
    let (mut withscores, mut limit) = (false, None);
    // Each of `BYSCORE`/`BYLEX` and `REV` may be given once, and only to `ZRANGE`.
    let (mut kind_open, mut rev_open) = (fixed.is_none(), fixed.is_none());
    while !c.is_empty() {
        if !store && c.eat("WITHSCORES") {
            withscores = true;
        } else if c.remaining() >= 3 && c.eat("LIMIT") {
            let offset = c.next_i64()?;
            limit = Some(Limit {
                offset,
                count: c.next_i64()?,
            });
        } else if kind_open && c.eat("BYSCORE") {
            (kind, kind_open) = (RangeKind::Score, false);
        } else if kind_open && c.eat("BYLEX") {
            (kind, kind_open) = (RangeKind::Lex, false);
        } else if rev_open && c.eat("REV") {
            (rev, rev_open) = (true, false);
        } else {
            return Err(CmdError::Syntax);
        }
    }
    if withscores && kind == RangeKind::Lex {
        return Err(CmdError::Raw(
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX".into(),
        ));
    }
    if limit.is_some() && kind == RangeKind::Rank {
        return Err(CmdError::Raw(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
                .into(),
        ));
    }
    let (mut min, mut max) = (&args[1][..], &args[2][..]);
    if rev && kind != RangeKind::Rank {
        std::mem::swap(&mut min, &mut max);
    }
    Ok(RangeRequest {
        key: &args[0],
        kind,
        rev,
        withscores,
        limit: limit.unwrap_or(Limit::NONE),
        min,
        max,
    })
}

impl RangeRequest<'_> {
    /// Checks the range's bounds, as Redis does before looking the key up.
    pub fn check(&self) -> CmdResult {
        self.span_of(&Zset::new()).map(|_| ())
    }

    /// What the request selects in `z`.
    pub fn span_of(&self, z: &Zset) -> CmdResult<Span> {
        let by = |ranks| Span::by_ranks(z.len(), ranks, self.rev, self.limit);
        Ok(match self.kind {
            RangeKind::Rank => {
                let start = parse_i64(self.min).ok_or(CmdError::NotInteger)?;
                let stop = parse_i64(self.max).ok_or(CmdError::NotInteger)?;
                Span::by_rank(z.len(), start, stop, self.rev)
            }
            RangeKind::Score => by(ScoreRange::parse(self.min, self.max)?.ranks(z)),
            RangeKind::Lex => by(LexRange::parse(self.min, self.max)?.ranks(z)),
        })
    }
}

fn range_reply(ctx: &mut Ctx, args: &[Bytes], fixed: Option<(RangeKind, bool)>) -> CmdResult {
    let req = parse_range(&args[1..], fixed, false)?;
    req.check()?;
    match read_zset(ctx.ks, ctx.db, req.key, ctx.now_ms)? {
        Some(z) => reply_span(ctx.out, z, req.span_of(z)?, req.withscores),
        None => ctx.out.array(0),
    }
    Ok(())
}

/// The entries `span` selects, written as [`reply_entries`] does, straight from the
/// set (no copy of the entries).
fn reply_span(out: &mut ReplyBuf, z: &Zset, span: Span, withscores: bool) {
    let pairs = withscores && out.protocol() == Protocol::Resp3;
    out.array(if withscores && !pairs {
        2 * span.len
    } else {
        span.len
    });
    if span.len == 0 {
        return;
    }
    let mut left = span.len;
    z.walk(span.start, span.rev, |m, s| {
        if pairs {
            out.array(2);
        }
        out.bulk(m);
        if withscores {
            out.double(s);
        }
        left -= 1;
        left > 0
    });
    debug_assert_eq!(left, 0);
}

fn zrange(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    range_reply(ctx, args, None)
}

fn zrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    range_reply(ctx, args, Some((RangeKind::Score, false)))
}

fn zrevrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    range_reply(ctx, args, Some((RangeKind::Score, true)))
}

fn zrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    range_reply(ctx, args, Some((RangeKind::Lex, false)))
}

fn zrevrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    range_reply(ctx, args, Some((RangeKind::Lex, true)))
}

fn zrevrange(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    range_reply(ctx, args, Some((RangeKind::Rank, true)))
}

const RW: u32 = WRITE | DENYOOM;

#[rustfmt::skip]
/// The family's single-key rows; the multi-key ones are in [`super::zset_multi`].
pub const COMMANDS: &[CommandSpec] = &[
    row("zadd", -4, RW | FAST, KEY1, "sorted_set", "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist.", Route::Shard(zadd)),
    row("zincrby", 4, RW | FAST, KEY1, "sorted_set", "Increments the score of a member in a sorted set.", Route::Shard(zincrby)),
    row("zrem", -3, WRITE | FAST, KEY1, "sorted_set", "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed.", Route::Shard(zrem)),
    row("zcard", 2, READONLY | FAST, KEY1, "sorted_set", "Returns the number of members in a sorted set.", Route::Shard(zcard)),
    row("zscore", 3, READONLY | FAST, KEY1, "sorted_set", "Returns the score of a member in a sorted set.", Route::Shard(zscore)),
    row("zmscore", -3, READONLY | FAST, KEY1, "sorted_set", "Returns the score of one or more members in a sorted set.", Route::Shard(zmscore)),
    row("zrank", 3, READONLY | FAST, KEY1, "sorted_set", "Returns the index of a member in a sorted set ordered by ascending scores.", Route::Shard(zrank)),
    row("zrevrank", 3, READONLY | FAST, KEY1, "sorted_set", "Returns the index of a member in a sorted set ordered by descending scores.", Route::Shard(zrevrank)),
    row("zcount", 4, READONLY | FAST, KEY1, "sorted_set", "Returns the count of members in a sorted set that have scores within a range.", Route::Shard(zcount)),
    row("zlexcount", 4, READONLY | FAST, KEY1, "sorted_set", "Returns the number of members in a sorted set within a lexicographical range.", Route::Shard(zlexcount)),
    row("zrange", -4, READONLY, KEY1, "sorted_set", "Returns members in a sorted set within a range of indexes.", Route::Shard(zrange)),
    row("zrangebyscore", -4, READONLY, KEY1, "sorted_set", "Returns members in a sorted set within a range of scores.", Route::Shard(zrangebyscore)),
    row("zrevrangebyscore", -4, READONLY, KEY1, "sorted_set", "Returns members in a sorted set within a range of scores in reverse order.", Route::Shard(zrevrangebyscore)),
    row("zrangebylex", -4, READONLY, KEY1, "sorted_set", "Returns members in a sorted set within a lexicographical range.", Route::Shard(zrangebylex)),
    row("zrevrangebylex", -4, READONLY, KEY1, "sorted_set", "Returns members in a sorted set within a lexicographical range in reverse order.", Route::Shard(zrevrangebylex)),
    row("zrevrange", -4, READONLY, KEY1, "sorted_set", "Returns members in a sorted set within a range of indexes in reverse order.", Route::Shard(zrevrange)),
    row("zremrangebyrank", 4, WRITE, KEY1, "sorted_set", "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed.", Route::Shard(zremrangebyrank)),
    row("zremrangebyscore", 4, WRITE, KEY1, "sorted_set", "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed.", Route::Shard(zremrangebyscore)),
    row("zremrangebylex", 4, WRITE, KEY1, "sorted_set", "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed.", Route::Shard(zremrangebylex)),
    row("zpopmin", -2, WRITE | FAST, KEY1, "sorted_set", "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.", Route::Shard(zpopmin)),
    row("zpopmax", -2, WRITE | FAST, KEY1, "sorted_set", "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.", Route::Shard(zpopmax)),
    row("zrandmember", -2, READONLY, KEY1, "sorted_set", "Returns one or more random members from a sorted set.", Route::Shard(zrandmember)),
    row("zscan", -3, READONLY, KEY1, "sorted_set", "Iterates over members and scores of a sorted set.", Route::Shard(zscan)),
];

#[cfg(test)]
#[path = "zset_tests.rs"]
mod tests;
