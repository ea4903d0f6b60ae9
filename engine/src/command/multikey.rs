//! The multi-key commands of the string and generic families (`MGET`, `MSET`,
//! `MSETNX`, `DEL`, `UNLINK`, `EXISTS`, `TOUCH`, `RENAME`, `RENAMENX`, `COPY`,
//! `BITOP`) as [`Parts`]: one implementation whether their keys live on one shard
//! or several. Their table rows stay in their family files and point here.
//!
//! Multi-step commands are one read step, a plan and one write step:
//! - `MSETNX`: read "how many exist" → plan: all absent? → write the pairs;
//! - `RENAME`/`RENAMENX`: read whether the source is live and whether the
//!   destination exists → write: remove the source, store the entry at the
//!   destination;
//! - `COPY`: the same reads → write the destination only.
//!
//! A large value is copied as few times as the shards allow: on one shard `RENAME`
//! moves the entry and `COPY` copies it once, in the write step; across shards the
//! source's read copies the entry once, the plan moves it into the write's carry
//! and the destination's write makes the stored copy.
//! - `BITOP`: read the sources → plan computes the result → write the destination.

use std::cell::RefCell;

use bytes::Bytes;

use super::keys::parse_copy;
use super::parts::{merge, MergeArgs, PartReply, Parts, Piece, ShardArgs, Split, Write};
use super::string::read_str;
use crate::command::ctx::read_typed;
use crate::command::Ctx;
use crate::cursor::ArgCursor;
use crate::error::{CmdError, CmdResult};
use crate::keyspace::{Entry, EntryRef, NO_EXPIRE};
use crate::resp::{Reply, ReplyBuf};
use crate::value::{Str, Value};

/// A row splitting by keys; its write part (if any) writes every shard it runs on.
const fn keyed(
    read: Option<super::parts::PartFn>,
    plan: Option<super::parts::PlanFn>,
    write: Option<super::parts::PartFn>,
    merge: super::parts::MergeFn,
) -> Parts {
    Parts {
        split: Split::Keys,
        check: None,
        read,
        plan,
        write,
        always_writes: true,
        merge,
    }
}

pub static MGET: Parts = keyed(Some(mget_part), None, None, mget_merge);
pub static MSET: Parts = Parts {
    check: Some(check_pairs),
    ..keyed(None, None, Some(mset_part), merge::ok)
};
pub static MSETNX: Parts = Parts {
    check: Some(check_pairs),
    ..keyed(
        Some(exists_part),
        Some(msetnx_plan),
        Some(mset_part),
        merge::one,
    )
};
pub static DEL: Parts = Parts {
    always_writes: false,
    ..keyed(None, None, Some(del_part), merge::sum)
};
pub static EXISTS: Parts = keyed(Some(exists_part), None, None, merge::sum);
pub static RENAME: Parts = keyed(
    Some(pair_part),
    Some(rename_plan),
    Some(rename_part),
    merge::ok,
);
pub static RENAMENX: Parts = keyed(
    Some(pair_part),
    Some(renamenx_plan),
    Some(rename_part),
    merge::one,
);
pub static COPY: Parts = Parts {
    check: Some(check_copy),
    ..keyed(
        Some(copy_read),
        Some(copy_plan),
        Some(copy_write),
        merge::one,
    )
};
pub static BITOP: Parts = Parts {
    check: Some(check_bitop),
    always_writes: false,
    ..keyed(
        Some(bitop_read),
        Some(bitop_plan),
        Some(bitop_write),
        merge::planned,
    )
};

/// `MGET`: a key of another type reads as nil, not as an error.
fn mget_part(ctx: &mut Ctx, s: &ShardArgs) -> CmdResult<PartReply> {
    let (now, db) = (ctx.now_ms, ctx.db);
    let values = s
        .keys()
        .map(|k| {
            read_typed(ctx.ks, db, k, now, Value::as_str_value)
                .ok()
                .flatten()
                .cloned()
        })
        .collect();
    Ok(PartReply::Strs(values))
}

/// A bulk string's framing besides its length's digits: `$`, two CRLFs.
const BULK_FRAMING_BYTES: usize = 5;
/// The longest nil (`$-1` and its CRLF).
const NIL_BYTES_MAX: usize = 5;

/// The bytes of `value` as a bulk string, or of a nil.
fn bulk_bytes(value: Option<&[u8]>) -> usize {
    value.map_or(NIL_BYTES_MAX, |v| {
        let digits = v.len().checked_ilog10().unwrap_or(0) as usize + 1;
        BULK_FRAMING_BYTES + digits + v.len()
    })
}

fn mget_merge(m: &MergeArgs, pieces: &[Piece], out: &mut ReplyBuf) {
    let mut values: Vec<Option<&Str>> = vec![None; m.args.len()];
    for piece in pieces {
        if let PartReply::Strs(v) = &piece.reply {
            for (&i, value) in piece.keys.iter().zip(v) {
                values[i] = value.as_ref();
            }
        }
    }
    // One allocation for the whole reply: grown value by value, a reply of large
    // values would be copied again at each doubling. Shared values are written by
    // reference and need no room.
    let bytes = values[1..]
        .iter()
        .map(|v| bulk_bytes(v.filter(|s| s.shared().is_none()).map(|s| &s[..])))
        .sum();
    out.reserve(bytes);
    out.array(m.args.len() - 1);
    values[1..].iter().for_each(|v| out.bulk_str(*v));
}

/// The `key value` pairs of `MSET`/`MSETNX`; a dangling key is an arity error.
fn check_pairs(args: &[Bytes]) -> CmdResult {
    if args.len().is_multiple_of(2) {
        return Err(CmdError::WrongArgs(
            String::from_utf8_lossy(&args[0]).to_ascii_lowercase(),
        ));
    }
    Ok(())
}

fn mset_part(ctx: &mut Ctx, s: &ShardArgs) -> CmdResult<PartReply> {
    for &i in s.keys {
        let value = Value::Str(Str::from_arg(s.args, i + 1));
        ctx.ks.add(ctx.db, &s.args[i], value, NO_EXPIRE);
    }
    Ok(PartReply::Done)
}

fn msetnx_plan(_: &[Bytes], reads: &[Piece], out: &mut ReplyBuf) -> CmdResult<Option<Write>> {
    if merge::sum_ints(reads) > 0 {
        out.int(0);
        return Ok(None);
    }
    Ok(Some(Write::default()))
}

/// `DEL`/`UNLINK`: how many keys were removed.
fn del_part(ctx: &mut Ctx, s: &ShardArgs) -> CmdResult<PartReply> {
    let (now, db) = (ctx.now_ms, ctx.db);
    let n = s.keys().filter(|k| ctx.ks.remove(db, k, now)).count();
    Ok(PartReply::Int(n as i64))
}

/// `EXISTS`/`TOUCH`: live keys, a repeated key counted again.
fn exists_part(ctx: &mut Ctx, s: &ShardArgs) -> CmdResult<PartReply> {
    let (now, db) = (ctx.now_ms, ctx.db);
    let n = s.keys().filter(|k| ctx.ks.contains(db, k, now)).count();
    Ok(PartReply::Int(n as i64))
}

/// Source and destination of `RENAME`/`COPY`.
const SRC: usize = 1;
const DST: usize = 2;

/// Reads what this shard has of `src` (whether it is live) and `dst` (whether it
/// exists) in the client's database.
fn pair_part(ctx: &mut Ctx, s: &ShardArgs) -> CmdResult<PartReply> {
    let db = ctx.db;
    pair_read(ctx, s, db)
}

/// The source's entry is copied out only when the destination lives on another
/// shard and must be carried there; when this shard owns both, the write step
/// moves (`RENAME`) or copies (`COPY`) it in place, once.
fn pair_read(ctx: &mut Ctx, s: &ShardArgs, dst_db: usize) -> CmdResult<PartReply> {
    let (now, db) = (ctx.now_ms, ctx.db);
    let (mut src_found, mut src) = (false, None);
    if s.has(SRC) {
        let entry = ctx.ks.find(db, &s.args[SRC], now);
        src_found = entry.is_some();
        if !s.has(DST) {
            src = entry.map(EntryRef::to_entry);
        }
    }
    let dst_exists = s.has(DST) && ctx.ks.contains(dst_db, &s.args[DST], now);
    Ok(PartReply::Pair {
        src_found,
        src: RefCell::new(src),
        dst_exists,
    })
}

/// What the reads found over every piece: whether the source is live, its entry
/// when a read carried it (taken out of its piece, not copied), and whether the
/// destination exists.
struct PairRead {
    src_found: bool,
    carry: Option<Entry>,
    dst_exists: bool,
}

fn pair_of(reads: &[Piece]) -> CmdResult<PairRead> {
    Parts::first_error(reads)?;
    let mut found = PairRead {
        src_found: false,
        carry: None,
        dst_exists: false,
    };
    for piece in reads {
        if let PartReply::Pair {
            src_found,
            src,
            dst_exists,
        } = &piece.reply
        {
            found.src_found |= *src_found;
            found.carry = found.carry.or_else(|| src.borrow_mut().take());
            found.dst_exists |= *dst_exists;
        }
    }
    Ok(found)
}

fn rename_plan(args: &[Bytes], reads: &[Piece], out: &mut ReplyBuf) -> CmdResult<Option<Write>> {
    rename_plan_generic(args, reads, out, false)
}

fn renamenx_plan(args: &[Bytes], reads: &[Piece], out: &mut ReplyBuf) -> CmdResult<Option<Write>> {
    rename_plan_generic(args, reads, out, true)
}

fn rename_plan_generic(
    args: &[Bytes],
    reads: &[Piece],
    out: &mut ReplyBuf,
    nx: bool,
) -> CmdResult<Option<Write>> {
    let read = pair_of(reads)?;
    if !read.src_found {
        return Err(CmdError::NoSuchKey);
    }
    if args[SRC] == args[DST] || (nx && read.dst_exists) {
        if nx {
            out.int(0);
        } else {
            out.ok();
        }
        return Ok(None);
    }
    Ok(Some(Write {
        keys: None,
        carry: read.carry,
    }))
}

/// Removes the source and stores its entry at the destination, for the keys this
/// shard owns: renamed in place when it owns both (journaled as the rename, not
/// the value), else the carried entry.
fn rename_part(ctx: &mut Ctx, s: &ShardArgs) -> CmdResult<PartReply> {
    let (now, db) = (ctx.now_ms, ctx.db);
    let (src, dst) = (&s.args[SRC], &s.args[DST]);
    match (s.has(SRC), s.has(DST)) {
        (true, true) => {
            ctx.ks.rename(db, src, dst, now);
        }
        (true, false) => {
            ctx.ks.remove(db, src, now);
        }
        (false, true) => {
            let entry = s.carry.expect("RENAME carries the source entry").clone();
            ctx.ks.add_entry_anew(db, dst, entry);
        }
        (false, false) => {}
    }
    Ok(PartReply::Done)
}

fn check_copy(args: &[Bytes]) -> CmdResult {
    parse_copy(args).map(|_| ())
}

fn copy_read(ctx: &mut Ctx, s: &ShardArgs) -> CmdResult<PartReply> {
    let opts = parse_copy(s.args)?;
    let dst_db = opts.db.unwrap_or(ctx.db);
    if s.args[SRC] == s.args[DST] && dst_db == ctx.db {
        return Err(CmdError::SameObject);
    }
    pair_read(ctx, s, dst_db)
}

fn copy_plan(args: &[Bytes], reads: &[Piece], out: &mut ReplyBuf) -> CmdResult<Option<Write>> {
    let read = pair_of(reads)?;
    let replace = parse_copy(args)?.replace;
    if !read.src_found || (read.dst_exists && !replace) {
        out.int(0);
        return Ok(None);
    }
    // With both keys on one shard, the write there sees both and copies in place.
    let together = reads
        .iter()
        .any(|p| p.keys.contains(&SRC) && p.keys.contains(&DST));
    Ok(Some(Write {
        keys: Some(if together { vec![SRC, DST] } else { vec![DST] }),
        carry: read.carry,
    }))
}

/// Stores the carried entry at the destination; with the source here too, copies in
/// place (journaled as the copy, not the value).
fn copy_write(ctx: &mut Ctx, s: &ShardArgs) -> CmdResult<PartReply> {
    let (now, db) = (ctx.now_ms, ctx.db);
    let dst_db = parse_copy(s.args)?.db.unwrap_or(db);
    let dst = &s.args[DST];
    if !(s.has(SRC) && ctx.ks.copy(db, &s.args[SRC], dst_db, dst, now)) {
        let entry = s.carry.expect("COPY carries the source entry").clone();
        ctx.ks.add_entry_anew(dst_db, dst, entry);
    }
    Ok(PartReply::Done)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

impl BitOp {
    fn parse(arg: &[u8]) -> CmdResult<BitOp> {
        [
            (BitOp::And, "AND"),
            (BitOp::Or, "OR"),
            (BitOp::Xor, "XOR"),
            (BitOp::Not, "NOT"),
        ]
        .into_iter()
        .find(|(_, name)| arg.eq_ignore_ascii_case(name.as_bytes()))
        .map(|(op, _)| op)
        .ok_or(CmdError::Syntax)
    }

    /// Folds source `s` into `acc`; bytes past the end of `s` read as zero.
    fn fold(self, acc: &mut [u8], s: &[u8]) {
        let padded = s.iter().copied().chain(std::iter::repeat(0));
        for (a, b) in acc.iter_mut().zip(padded) {
            match self {
                BitOp::And => *a &= b,
                BitOp::Or => *a |= b,
                BitOp::Xor => *a ^= b,
                BitOp::Not => unreachable!("NOT has a single source"),
            }
        }
    }
}

/// `BITOP op destkey key [key ...]`: the first source is at this position.
const BITOP_FIRST_SOURCE: usize = 3;
/// ... and the destination at this one.
const BITOP_DEST: usize = 2;

fn check_bitop(args: &[Bytes]) -> CmdResult {
    let mut c = ArgCursor::new(args);
    let op = BitOp::parse(c.arg()?)?;
    if op == BitOp::Not && args.len() != BITOP_FIRST_SOURCE + 1 {
        return Err(CmdError::BitopNotSingleSource);
    }
    Ok(())
}

/// The sources this shard owns, each looked up once as Redis does (hit/miss counted,
/// type checked).
fn bitop_read(ctx: &mut Ctx, s: &ShardArgs) -> CmdResult<PartReply> {
    let (now, db) = (ctx.now_ms, ctx.db);
    let mut values = Vec::with_capacity(s.keys.len());
    for &i in s.keys {
        values.push(match i >= BITOP_FIRST_SOURCE {
            true => read_str(ctx.ks, db, &s.args[i], now)?.map(<[u8]>::to_vec),
            false => None,
        });
    }
    Ok(PartReply::Values(values))
}

/// `BITOP AND|OR|XOR|NOT destkey key [key ...]`: missing sources are empty strings,
/// shorter ones are padded with zeros; the result is as long as the longest source.
/// An empty result deletes `destkey`. Replies with the result's length.
fn bitop_plan(args: &[Bytes], reads: &[Piece], out: &mut ReplyBuf) -> CmdResult<Option<Write>> {
    Parts::first_error(reads)?;
    let op = BitOp::parse(&args[1])?;
    let mut sources: Vec<&[u8]> = vec![&[]; args.len()];
    for piece in reads {
        if let PartReply::Values(v) = &piece.reply {
            for (&i, value) in piece.keys.iter().zip(v) {
                if let Some(value) = value {
                    sources[i] = value;
                }
            }
        }
    }
    let sources = &sources[BITOP_FIRST_SOURCE..];
    let len = sources.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut result = vec![0; len];
    result[..sources[0].len()].copy_from_slice(sources[0]);
    if op == BitOp::Not {
        result.iter_mut().for_each(|b| *b = !*b);
    }
    for s in &sources[1..] {
        op.fold(&mut result, s);
    }
    out.int(len as i64);
    let carry = (len > 0).then_some(Entry::new(Value::Str(result.into())));
    Ok(Some(Write {
        keys: Some(vec![BITOP_DEST]),
        carry,
    }))
}

/// Stores the result at the destination, or deletes it when the result is empty.
fn bitop_write(ctx: &mut Ctx, s: &ShardArgs) -> CmdResult<PartReply> {
    let dest = &s.args[BITOP_DEST];
    let (now, db) = (ctx.now_ms, ctx.db);
    match s.carry {
        Some(entry) => ctx.ks.add_entry(db, dest, entry.clone()),
        None => {
            ctx.ks.remove(db, dest, now);
        }
    }
    Ok(PartReply::Done)
}
