//! The HyperLogLog commands: `PFADD`, `PFCOUNT`, `PFMERGE`, `PFDEBUG` and
//! `PFSELFTEST`, on strings in Redis's HLL format ([`crate::hll`]), step by step as
//! Redis 7.0's `hyperloglog.c` runs them, so replies, errors and the stored bytes are
//! Redis's.
//!
//! `PFCOUNT` and `PFMERGE` take keys on any shard, as [`Parts`]: the read part
//! checks each key this shard owns (a hit or miss counted, the type, the HLL header)
//! and returns its bytes; `PFCOUNT` merges them into one register array and counts,
//! `PFMERGE`'s plan merges them and its write part updates the destination on its
//! shard, keeping the destination's encoding rules (sparse until a source is dense
//! or the string outgrows `hll-sparse-max-bytes`) and its deadline. `PFCOUNT` of one
//! key caches the cardinality in the header, as Redis does (a change journaled as
//! those eight bytes); of several keys it caches nothing. When several keys are
//! invalid (another type, not an HLL, corrupt registers), the error reported is
//! the first in argument order, as Redis reports it.
//!
//! A changed HLL is journaled as the bytes that changed: the changed range when the
//! length stays (dense registers, the cache), the whole string when it does not (a
//! sparse opcode split).

use bytes::Bytes;

use super::flags::*;
use super::parts::{MergeArgs, PartReply, Parts, Piece, ShardArgs, Split, Write};
use super::{range, row, CommandSpec, KeySpec, Route, KEY1, NO_KEYS};
use crate::command::ctx::{read_typed, write_typed, Ctx};
use crate::cursor::ArgCursor;
use crate::error::{CmdError, CmdResult};
use crate::hll::{self, Hll, HllLimits, Opcode, HLL_REGISTERS};
use crate::keyspace::{Entry, Keyspace, WriteGuard, NO_EXPIRE};
use crate::resp::{Reply, ReplyBuf};
use crate::value::Value;

/// Redis's reply to a string that is not an HLL.
const NOT_HLL: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";
/// Redis's reply to an HLL whose registers do not decode.
const INVALID_HLL: &str = "INVALIDOBJ Corrupted HLL object detected";

fn not_hll() -> CmdError {
    CmdError::Raw(NOT_HLL.into())
}

fn invalid_hll() -> CmdError {
    CmdError::Raw(INVALID_HLL.into())
}

/// The HLL at `key` for a read: counts a hit or miss; a non-string is `WRONGTYPE`, a
/// string without a valid HLL header Redis's HLL `WRONGTYPE`.
fn read_hll<'k>(
    ks: &'k mut Keyspace,
    db: usize,
    key: &[u8],
    now_ms: u64,
) -> CmdResult<Option<&'k [u8]>> {
    match read_typed(ks, db, key, now_ms, Value::as_str)? {
        Some(s) if !hll::is_hll(s) => Err(not_hll()),
        found => Ok(found),
    }
}

/// Write access to the HLL at `key`, checked as [`read_hll`] checks it.
fn write_hll<'k>(
    ks: &'k mut Keyspace,
    db: usize,
    key: &[u8],
    now_ms: u64,
) -> CmdResult<Option<WriteGuard<'k>>> {
    match write_typed(ks, db, key, now_ms, Value::as_str)? {
        Some(g) if !hll::is_hll(g.str()) => Err(not_hll()),
        found => Ok(found),
    }
}

/// Replaces the string under `guard` with `new`, journaling the changed range when
/// the length is the same and the whole value otherwise; nothing when equal.
fn store(guard: &mut WriteGuard, new: &[u8]) {
    let old = guard.str();
    if old == new {
        return;
    }
    if old.len() != new.len() {
        let s = guard.str_mut();
        s.clear();
        s.extend_from_slice(new);
        return;
    }
    let start = old.iter().zip(new).position(|(a, b)| a != b);
    let end = old.iter().zip(new).rposition(|(a, b)| a != b);
    if let (Some(start), Some(end)) = (start, end) {
        guard.write_at(start, &new[start..=end]);
    }
}

/// `PFADD key [element ...]`: `1` when the key was created or a register changed.
/// A corrupted sparse HLL answers `INVALIDOBJ` and keeps what the elements before
/// the bad opcode changed, as Redis's in-place update does.
fn pfadd(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut c = ArgCursor::new(args);
    let key = c.arg()?;
    let elements = c.rest();
    let limits = ctx.limits.hll;
    let existing = write_hll(ctx.ks, ctx.db, key, ctx.now_ms)?;
    let Some(mut guard) = existing else {
        drop(existing);
        let mut s = hll::new_sparse();
        let mut h = Hll { s: &mut s, limits };
        for e in elements {
            h.add(e).map_err(|_| invalid_hll())?;
        }
        h.invalidate_cache();
        ctx.ks.add(ctx.db, key, Value::Str(s.into()), NO_EXPIRE);
        ctx.out.int(1);
        return Ok(());
    };
    if hll::is_dense(guard.str()) {
        let updated = dense_add(&mut guard, elements);
        ctx.out.int(updated as i64);
        return Ok(());
    }
    let mut s = guard.str().to_vec();
    let mut h = Hll { s: &mut s, limits };
    let mut updated = false;
    for e in elements {
        match h.add(e) {
            Ok(changed) => updated |= changed,
            Err(_) => {
                store(&mut guard, &s);
                return Err(invalid_hll());
            }
        }
    }
    if updated {
        h.invalidate_cache();
        store(&mut guard, &s);
    }
    ctx.out.int(updated as i64);
    Ok(())
}

/// Adds `elements` to the dense HLL under `guard`, each register that rises
/// written in place (journaled as one range from the first to the last byte
/// changed, as `store` does); whether any rose.
fn dense_add(guard: &mut WriteGuard, elements: &[Bytes]) -> bool {
    let mut updated = false;
    for e in elements {
        let (index, count) = hll::pattern(e);
        if let Some(p) = hll::dense_raise(guard.str(), index, count) {
            guard.write_at(p.at, p.bytes());
            updated = true;
        }
    }
    if let Some(p) = updated.then(|| hll::stale_patch(guard.str())).flatten() {
        guard.write_at(p.at, p.bytes());
    }
    updated
}

/// `PFCOUNT` of one key: the cached cardinality, or a fresh count cached in the
/// header (a change, as in Redis, though the command only reads).
fn count_one(ctx: &mut Ctx, key: &[u8]) -> CmdResult<i64> {
    let (db, now) = (ctx.db, ctx.now_ms);
    let Some(s) = read_hll(ctx.ks, db, key, now)? else {
        return Ok(0);
    };
    if let Some(card) = hll::cached_card(s) {
        return Ok(card as i64);
    }
    let card = hll::count(s).map_err(|_| invalid_hll())?;
    if let Some(mut guard) = ctx.ks.find_mut(db, key, now) {
        guard.write_at(hll::card_offset(), &hll::card_bytes(card));
    }
    Ok(card as i64)
}

/// The HLLs this shard owns among the keys, in position order; `PFCOUNT` of one
/// key answers its count here instead.
fn pfcount_read(ctx: &mut Ctx, s: &ShardArgs) -> CmdResult<PartReply> {
    if s.args.len() == 2 {
        return count_one(ctx, &s.args[1]).map(PartReply::Int);
    }
    hlls_read(ctx, s)
}

/// Each key this shard owns, read and checked: its bytes, or `None` when missing.
/// A key that fails its check ends the read with its error's text in its place
/// (never an HLL: it lacks the magic), so the merge, walking the keys in argument
/// order as Redis does, reports the first error after merging the keys before it.
fn hlls_read(ctx: &mut Ctx, s: &ShardArgs) -> CmdResult<PartReply> {
    let (now, db) = (ctx.now_ms, ctx.db);
    let mut values = Vec::with_capacity(s.keys.len());
    for key in s.keys() {
        match read_hll(ctx.ks, db, key, now) {
            Ok(v) => values.push(v.map(<[u8]>::to_vec)),
            Err(e) => {
                values.push(Some(e.message().into_bytes()));
                break;
            }
        }
    }
    Ok(PartReply::Values(values))
}

/// The HLLs the read pieces hold, by argument position (`None`: missing).
fn by_position<'p>(args: &[Bytes], pieces: &'p [Piece]) -> Vec<Option<&'p [u8]>> {
    let mut values = vec![None; args.len()];
    for piece in pieces {
        if let PartReply::Values(v) = &piece.reply {
            for (&i, value) in piece.keys.iter().zip(v) {
                values[i] = value.as_deref();
            }
        }
    }
    values
}

/// The union of `hlls`' registers, one per byte, in argument order; the first
/// failure in that order is the error (a read's error text, or a corrupt HLL).
fn union<'a>(hlls: impl Iterator<Item = &'a [u8]>) -> CmdResult<Box<[u8; HLL_REGISTERS]>> {
    let mut max = Box::new([0u8; HLL_REGISTERS]);
    for s in hlls {
        if !hll::is_hll(s) {
            return Err(CmdError::Raw(String::from_utf8_lossy(s).into_owned()));
        }
        hll::merge_into(&mut max, s).map_err(|_| invalid_hll())?;
    }
    Ok(max)
}

fn pfcount_merge(m: &MergeArgs, pieces: &[Piece], out: &mut ReplyBuf) {
    if m.args.len() == 2 {
        return super::parts::merge::sum(m, pieces, out);
    }
    let values = by_position(m.args, pieces);
    match union(values.into_iter().flatten()) {
        Ok(max) => out.int(hll::count_raw(&max) as i64),
        Err(e) => out.error(&e.message()),
    }
}

/// `PFMERGE destkey [sourcekey ...]`: the destination is a source too.
const PFMERGE_DEST: usize = 1;

/// The union of every HLL, carried to the destination's shard as a string: one byte
/// saying whether a source was dense (the destination then turns dense first, as in
/// Redis), then the registers, one per byte.
fn pfmerge_plan(args: &[Bytes], reads: &[Piece], _: &mut ReplyBuf) -> CmdResult<Option<Write>> {
    Parts::first_error(reads)?;
    let values = by_position(args, reads);
    let max = union(values.iter().copied().flatten())?;
    let use_dense = values.iter().flatten().any(|s| hll::is_dense(s));
    let mut carried = Vec::with_capacity(1 + HLL_REGISTERS);
    carried.push(use_dense as u8);
    carried.extend_from_slice(&max[..]);
    Ok(Some(Write {
        keys: Some(vec![PFMERGE_DEST]),
        carry: Some(Entry::new(Value::Str(carried.into()))),
    }))
}

/// Raises the destination's registers to the carried union, creating it when
/// missing; its deadline stays.
fn pfmerge_write(ctx: &mut Ctx, s: &ShardArgs) -> CmdResult<PartReply> {
    let carried = s.carry.and_then(|e| e.value.as_str());
    let (use_dense, max) = carried
        .and_then(|c| c.split_first())
        .expect("PFMERGE carries the union");
    let limits = ctx.limits.hll;
    let (now, db) = (ctx.now_ms, ctx.db);
    let dest = &s.args[PFMERGE_DEST];
    let apply = |v: &mut Vec<u8>| merge_registers(v, *use_dense != 0, max, limits);
    if let Some(mut guard) = ctx.ks.find_mut(db, dest, now) {
        let mut v = guard.str().to_vec();
        apply(&mut v)?;
        store(&mut guard, &v);
        // Redis signals the key and notifies `pfadd` even when no register rose.
        guard.touch();
        return Ok(PartReply::Done);
    }
    let mut v = hll::new_sparse();
    apply(&mut v)?;
    ctx.ks.add(db, dest, Value::Str(v.into()), NO_EXPIRE);
    Ok(PartReply::Done)
}

/// Redis's loop: dense first if a source was, then every non-zero register set in
/// order (a sparse HLL may turn dense on the way), then the cache marked stale.
fn merge_registers(v: &mut Vec<u8>, use_dense: bool, max: &[u8], limits: HllLimits) -> CmdResult {
    let mut h = Hll { s: v, limits };
    if use_dense {
        h.to_dense().map_err(|_| invalid_hll())?;
    }
    for (i, &r) in max.iter().enumerate().filter(|(_, &r)| r != 0) {
        // Redis ignores a failure here: the sources were checked already.
        let _ = h.set(i, r);
    }
    h.invalidate_cache();
    Ok(())
}

pub static PFCOUNT: Parts = Parts {
    split: Split::Keys,
    check: None,
    read: Some(pfcount_read),
    plan: None,
    write: None,
    always_writes: false,
    merge: pfcount_merge,
};

pub static PFMERGE: Parts = Parts {
    split: Split::Keys,
    check: None,
    read: Some(hlls_read),
    plan: Some(pfmerge_plan),
    write: Some(pfmerge_write),
    always_writes: false,
    merge: super::parts::merge::ok,
};

/// `PFDEBUG GETREG|DECODE|ENCODING|TODENSE key`: the key is checked before the
/// subcommand, as in Redis. `GETREG` and `TODENSE` turn a sparse HLL dense.
fn pfdebug(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut c = ArgCursor::new(args);
    let sub = c.arg()?;
    let key = c.arg()?;
    c.finish()?;
    let limits = ctx.limits.hll;
    let Some(mut guard) = write_hll(ctx.ks, ctx.db, key, ctx.now_ms)? else {
        return Err(CmdError::Raw("ERR The specified key does not exist".into()));
    };
    let word = String::from_utf8_lossy(sub).to_ascii_lowercase();
    let out = &mut *ctx.out;
    match word.as_str() {
        "getreg" | "todense" => {
            let mut v = guard.str().to_vec();
            let converted = Hll { s: &mut v, limits }
                .to_dense()
                .map_err(|_| invalid_hll())?;
            store(&mut guard, &v);
            if word == "todense" {
                out.int(converted as i64);
            } else {
                out.array(HLL_REGISTERS);
                hll::dense_registers(&v).for_each(|r| out.int(r as i64));
            }
        }
        "decode" => {
            let s = guard.str();
            if hll::is_dense(s) {
                return Err(CmdError::Raw("ERR HLL encoding is not sparse".into()));
            }
            let text: Vec<String> = hll::sparse_opcodes(s)
                .into_iter()
                .map(|op| match op {
                    Opcode::Zero(n) => format!("z:{n}"),
                    Opcode::XZero(n) => format!("Z:{n}"),
                    Opcode::Val { value, len } => format!("v:{value},{len}"),
                })
                .collect();
            out.bulk(text.join(" ").as_bytes());
        }
        "encoding" => match hll::is_dense(guard.str()) {
            true => out.simple(b"dense"),
            false => out.simple(b"sparse"),
        },
        _ => {
            let sub = String::from_utf8_lossy(sub);
            return Err(CmdError::Raw(format!(
                "ERR Unknown PFDEBUG subcommand '{sub}'"
            )));
        }
    }
    Ok(())
}

/// `PFSELFTEST`: Redis's self-test of the register code ([`hll::selftest`]) over
/// as many elements as Redis adds.
fn pfselftest(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    ArgCursor::new(args).finish()?;
    match hll::selftest(ctx.rng, ctx.limits.hll, hll::SELFTEST_ELEMENTS) {
        Ok(()) => ctx.out.ok(),
        Err(why) => ctx.out.error(&format!("TESTFAILED {why}")),
    }
    Ok(())
}

/// `PFMERGE`, `PFCOUNT`: every argument is a key.
const ALL_KEYS: KeySpec = range(1, -1, 1);
/// `PFDEBUG subcommand key`.
const PFDEBUG_KEY: KeySpec = range(2, 2, 1);

pub const COMMANDS: &[CommandSpec] = &[
    row(
        "pfadd",
        -2,
        WRITE | DENYOOM | FAST,
        KEY1,
        "hyperloglog",
        "Adds elements to a HyperLogLog key. Creates the key if it doesn't exist.",
        Route::Shard(pfadd),
    ),
    row(
        "pfcount",
        -2,
        READONLY,
        ALL_KEYS,
        "hyperloglog",
        "Returns the approximated cardinality of the set(s) observed by the HyperLogLog key(s).",
        Route::Parts(&PFCOUNT),
    ),
    row(
        "pfmerge",
        -2,
        WRITE | DENYOOM,
        ALL_KEYS,
        "hyperloglog",
        "Merges one or more HyperLogLog values into a single key.",
        Route::Parts(&PFMERGE),
    ),
    row(
        "pfdebug",
        3,
        WRITE | DENYOOM | ADMIN,
        PFDEBUG_KEY,
        "hyperloglog",
        "Internal commands for debugging HyperLogLog values.",
        Route::Shard(pfdebug),
    ),
    row(
        "pfselftest",
        1,
        ADMIN,
        NO_KEYS,
        "hyperloglog",
        "An internal command for testing HyperLogLog values.",
        Route::Shard(pfselftest),
    ),
];
