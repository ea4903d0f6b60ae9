//! Whole-keyspace commands (`DBSIZE`, `KEYS`, `SCAN`, `RANDOMKEY`, `FLUSHDB`,
//! `FLUSHALL`, `SWAPDB`) as [`Parts`] that every shard runs, and merges. Their rows
//! stay in `keys.rs`.
//!
//! `SCAN` walks the shards one after another: its cursor names a shard (low bits)
//! and a position in that shard's table, and a shard that runs out before `COUNT`
//! keys were found hands over to the next one in the same call, so an empty keyspace
//! answers cursor 0 at once, as on Redis, and a call does at most one `COUNT`'s work
//! per shard.

use bytes::Bytes;

use super::keys::parse_db_index;
use super::parts::{merge, MergeArgs, PartReply, Parts, Piece, ShardArgs, Split};
use crate::command::Ctx;
use crate::cursor::{parse_scan_cursor, ArgCursor};
use crate::error::{CmdError, CmdResult};
use crate::glob::glob_match;
use crate::keyspace::ScanPos;
use crate::limits::SCAN_VISIT_MAX;
use crate::resp::{parse_i64, Reply, ReplyBuf};

/// A row every shard runs; its write part (if any) writes every shard.
const fn every(
    lock: bool,
    check: Option<fn(&[Bytes]) -> CmdResult>,
    read: Option<super::parts::PartFn>,
    write: Option<super::parts::PartFn>,
    merge: super::parts::MergeFn,
) -> Parts {
    Parts {
        split: Split::Every { lock },
        check,
        read,
        plan: None,
        write,
        always_writes: true,
        merge,
    }
}

pub static DBSIZE: Parts = every(false, None, Some(dbsize_part), None, merge::sum);
pub static KEYS: Parts = every(false, None, Some(keys_part), None, keys_merge);
pub static RANDOMKEY: Parts = every(false, None, Some(random_part), None, random_merge);
pub static FLUSHDB: Parts = every(true, Some(check_flush), None, Some(flushdb_part), merge::ok);
pub static FLUSHALL: Parts = every(
    true,
    Some(check_flush),
    None,
    Some(flushall_part),
    merge::ok,
);
pub static SWAPDB: Parts = every(true, Some(check_swapdb), None, Some(swapdb_part), merge::ok);
pub static SCAN: Parts = Parts {
    split: Split::Walk {
        first: scan_first,
        next: scan_next,
    },
    check: Some(check_scan),
    read: Some(scan_part),
    plan: None,
    write: None,
    always_writes: false,
    merge: scan_merge,
};

fn dbsize_part(ctx: &mut Ctx, _: &ShardArgs) -> CmdResult<PartReply> {
    Ok(PartReply::Int(ctx.ks.db(ctx.db).len() as i64))
}

fn keys_part(ctx: &mut Ctx, s: &ShardArgs) -> CmdResult<PartReply> {
    let pattern = &s.args[1];
    let all = pattern.as_ref() == b"*";
    let mut keys = Vec::new();
    ctx.ks.db(ctx.db).for_each_live(ctx.now_ms, |k, _| {
        if all || glob_match(pattern, k, false) {
            keys.push(Bytes::copy_from_slice(k));
        }
    });
    Ok(PartReply::Keys(keys))
}

fn keys_merge(_: &MergeArgs, pieces: &[Piece], out: &mut ReplyBuf) {
    let found = |p: &Piece| match &p.reply {
        PartReply::Keys(k) => k.len(),
        _ => 0,
    };
    out.array(pieces.iter().map(found).sum());
    for piece in pieces {
        if let PartReply::Keys(keys) = &piece.reply {
            keys.iter().for_each(|k| out.bulk(k));
        }
    }
}

fn random_part(ctx: &mut Ctx, _: &ShardArgs) -> CmdResult<PartReply> {
    let (now, db) = (ctx.now_ms, ctx.db);
    let key = ctx.ks.random_key(db, now, ctx.rng);
    let len = ctx.ks.db(db).len();
    Ok(PartReply::Random { len, key })
}

/// Picks a shard with probability proportional to its size: a uniform key overall.
fn random_merge(m: &MergeArgs, pieces: &[Piece], out: &mut ReplyBuf) {
    let candidates: Vec<(usize, &Bytes)> = pieces
        .iter()
        .filter_map(|p| match &p.reply {
            PartReply::Random { len, key: Some(k) } => Some((*len, k)),
            _ => None,
        })
        .collect();
    let total: usize = candidates.iter().map(|(len, _)| len).sum();
    if total == 0 {
        return out.null();
    }
    let mut pick = (m.random % total as u64) as usize;
    for (len, key) in &candidates {
        if pick < *len {
            return out.bulk(key);
        }
        pick -= len;
    }
    out.bulk(candidates[candidates.len() - 1].1);
}

/// `FLUSHDB`/`FLUSHALL [ASYNC|SYNC]`.
fn check_flush(args: &[Bytes]) -> CmdResult {
    let mut c = ArgCursor::new(args);
    if let Some(w) = c.next_word() {
        if !(w == "ASYNC" || w == "SYNC") || !c.is_empty() {
            return Err(CmdError::Syntax);
        }
    }
    Ok(())
}

fn flushdb_part(ctx: &mut Ctx, _: &ShardArgs) -> CmdResult<PartReply> {
    ctx.ks.flush_db(ctx.db);
    Ok(PartReply::Done)
}

fn flushall_part(ctx: &mut Ctx, _: &ShardArgs) -> CmdResult<PartReply> {
    ctx.ks.flush_all();
    Ok(PartReply::Done)
}

/// `SWAPDB a b`: both indexes must be integers (each with its own text), then both
/// in range, in Redis's order.
fn swapdb_indexes(args: &[Bytes]) -> CmdResult<(usize, usize)> {
    match (parse_db_index(&args[1]), parse_db_index(&args[2])) {
        (Err(CmdError::NotInteger), _) => Err(CmdError::InvalidFirstDbIndex),
        (_, Err(CmdError::NotInteger)) => Err(CmdError::InvalidSecondDbIndex),
        (Ok(a), Ok(b)) => Ok((a, b)),
        (Err(e), _) | (_, Err(e)) => Err(e),
    }
}

fn check_swapdb(args: &[Bytes]) -> CmdResult {
    swapdb_indexes(args).map(|_| ())
}

fn swapdb_part(ctx: &mut Ctx, s: &ShardArgs) -> CmdResult<PartReply> {
    let (a, b) = swapdb_indexes(s.args)?;
    ctx.ks.swap_db(a, b);
    Ok(PartReply::Done)
}

/// `SCAN` cursors name a shard (low bits) and a position in that shard's table.
const SCAN_SHARD_BITS: u32 = 10;
/// Position meaning "this shard not started yet".
/// Any position at or past a table's end starts at its top; this one keeps every
/// cursor below 2^63, for clients that read cursors as signed 64-bit integers.
const SCAN_POS_START: u64 = (1 << (63 - SCAN_SHARD_BITS)) - 1;
/// `SCAN`'s default `COUNT`.
const SCAN_COUNT_DEFAULT: usize = 10;

fn scan_cursor(shard: usize, pos: u64) -> u64 {
    (pos << SCAN_SHARD_BITS) | shard as u64
}

/// `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`, parsed.
struct ScanArgs<'a> {
    cursor: u64,
    count: usize,
    pattern: Option<&'a Bytes>,
    type_name: Option<&'a Bytes>,
}

fn scan_args(args: &[Bytes]) -> CmdResult<ScanArgs<'_>> {
    let cursor = parse_scan_cursor(&args[1]).ok_or(CmdError::InvalidCursor)?;
    let mut c = ArgCursor::new(args);
    c.next_opt();
    let mut scan = ScanArgs {
        cursor,
        count: SCAN_COUNT_DEFAULT,
        pattern: None,
        type_name: None,
    };
    while let Some(word) = c.next_word() {
        let value = c.arg()?;
        match word.as_str() {
            "MATCH" => scan.pattern = (value.as_ref() != b"*").then_some(value),
            "TYPE" => scan.type_name = Some(value),
            "COUNT" => match parse_i64(value) {
                Some(n) if n >= 1 => scan.count = n as usize,
                Some(_) => return Err(CmdError::Syntax),
                None => return Err(CmdError::NotInteger),
            },
            _ => return Err(CmdError::Syntax),
        }
    }
    Ok(scan)
}

fn check_scan(args: &[Bytes]) -> CmdResult {
    scan_args(args).map(|_| ())
}

fn scan_first(args: &[Bytes], _shards: usize) -> usize {
    let cursor = parse_scan_cursor(&args[1]).unwrap_or(0);
    (cursor & ((1 << SCAN_SHARD_BITS) - 1)) as usize
}

fn scan_found(pieces: &[Piece]) -> usize {
    pieces
        .iter()
        .map(|p| match &p.reply {
            PartReply::Scan { keys, .. } => keys.len(),
            _ => 0,
        })
        .sum()
}

/// The next shard to visit: after a shard that ran out, unless `COUNT` keys were
/// found already.
fn scan_next(args: &[Bytes], pieces: &[Piece], shards: usize) -> Option<usize> {
    let last = pieces.last()?;
    let PartReply::Scan { pos: 0, .. } = last.reply else {
        return None;
    };
    let count = scan_args(args).map_or(SCAN_COUNT_DEFAULT, |s| s.count);
    let next = last.shard + 1;
    (next < shards && scan_found(pieces) < count).then_some(next)
}

fn scan_part(ctx: &mut Ctx, s: &ShardArgs) -> CmdResult<PartReply> {
    let scan = scan_args(s.args)?;
    let own = (scan.cursor & ((1 << SCAN_SHARD_BITS) - 1)) as usize == ctx.shard_id;
    let pos: ScanPos = match scan.cursor != 0 && own {
        true => scan.cursor >> SCAN_SHARD_BITS,
        false => SCAN_POS_START,
    };
    let mut keys = Vec::new();
    let count = scan.count.min(SCAN_VISIT_MAX);
    let pos = ctx.ks.db(ctx.db).scan(pos, count, ctx.now_ms, |k, e| {
        let name_ok = scan.pattern.is_none_or(|p| glob_match(p, k, false));
        let type_ok = scan.type_name.is_none_or(|t| e.value.is_type(t));
        if name_ok && type_ok {
            keys.push(Bytes::copy_from_slice(k));
        }
    });
    Ok(PartReply::Scan { pos, keys })
}

fn scan_merge(m: &MergeArgs, pieces: &[Piece], out: &mut ReplyBuf) {
    let next = match pieces.last() {
        Some(Piece {
            shard,
            reply: PartReply::Scan { pos, .. },
            ..
        }) => match (*pos, shard + 1 < m.shards) {
            (0, true) => scan_cursor(shard + 1, SCAN_POS_START),
            (0, false) => 0,
            (pos, _) => scan_cursor(*shard, pos),
        },
        _ => 0,
    };
    out.array(2);
    out.bulk(next.to_string().as_bytes());
    out.array(scan_found(pieces));
    for piece in pieces {
        if let PartReply::Scan { keys, .. } = &piece.reply {
            keys.iter().for_each(|k| out.bulk(k));
        }
    }
}
