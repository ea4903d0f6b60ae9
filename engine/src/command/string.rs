//! The string family: `GET`, `SET` and every other command on string values, and the
//! bitmap commands (`GETBIT`, `SETBIT`, `BITCOUNT`, `BITPOS`, `BITOP`) that treat a
//! string as an array of bits, most significant bit of the first byte first.
//!
//! Each handler follows Redis 7.0 (`t_string.c`, `bitops.c`) step by step, because the
//! order of its checks is visible: which error a bad request gets, whether a missing
//! key answers before its arguments are validated (`BITCOUNT`, `BITPOS`, `GETEX`), and
//! which commands count keyspace hits and misses (the reads, through [`read_str`]) and
//! which do not (the writes, through [`write_str`]). Writes go through the keyspace's
//! door, which counts one change (Redis's `server.dirty`) and journals it whenever a
//! handler changes something, and only then: a handler that changes nothing does not
//! touch the value.
//!
//! `INCRBYFLOAT` computes in Redis's `long double`, emulated exactly
//! ([`crate::long_double`]), so its replies are Redis's to the last digit.

use bytes::Bytes;

use super::flags::*;
use super::{multikey, range, row, CommandSpec, KeySpec, Route, KEY1};
use crate::command::ctx::{read_typed, write_typed, Ctx};
use crate::cursor::ArgCursor;
use crate::error::{CmdError, CmdResult};
use crate::keyspace::{Keyspace, WriteGuard, NO_EXPIRE};
use crate::long_double::LongDouble;
use crate::resp::{parse_i64, Reply};
use crate::value::{Str, Value};

/// The string at `key` for a read command: counts a keyspace hit or miss, as
/// Redis's `lookupKeyRead` does (a key of the wrong type is a hit), then checks the
/// type. One hash probe.
pub(crate) fn read_str<'k>(
    ks: &'k mut Keyspace,
    db: usize,
    key: &[u8],
    now_ms: u64,
) -> CmdResult<Option<&'k [u8]>> {
    read_typed(ks, db, key, now_ms, Value::as_str)
}

/// Write access to the string at `key`, or a wrong-type error. A caller that
/// creates the key when this is `None` drops the `None` first: the guard type ends
/// its borrow of the keyspace only when dropped.
fn write_str<'k>(
    ks: &'k mut Keyspace,
    db: usize,
    key: &[u8],
    now_ms: u64,
) -> CmdResult<Option<WriteGuard<'k>>> {
    write_typed(ks, db, key, now_ms, Value::as_str)
}

fn get(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut c = ArgCursor::new(args);
    let key = c.arg()?;
    c.finish()?;
    let value = read_typed(ctx.ks, ctx.db, key, ctx.now_ms, Value::as_str_value)?;
    ctx.out.bulk_str(value);
    Ok(())
}

/// How a `SET`-like command sets the deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpireOpt {
    /// Clear any deadline (plain `SET`).
    None,
    /// Keep the current deadline (`KEEPTTL`).
    Keep,
    /// An absolute deadline in Unix ms.
    At(u64),
}

/// Converts a relative or absolute expire argument to an absolute Unix-ms deadline,
/// rejecting values Redis rejects (non-positive, or overflowing).
pub fn deadline_ms(
    value: i64,
    unit_ms: i64,
    absolute: bool,
    now_ms: u64,
    cmd: &'static str,
) -> CmdResult<u64> {
    if value <= 0 {
        return Err(CmdError::InvalidExpire(cmd));
    }
    let ms = value
        .checked_mul(unit_ms)
        .ok_or(CmdError::InvalidExpire(cmd))?;
    let at = if absolute {
        Some(ms)
    } else {
        ms.checked_add(now_ms as i64)
    };
    match at {
        Some(at) if at > 0 => Ok(at as u64),
        _ => Err(CmdError::InvalidExpire(cmd)),
    }
}

/// A TTL option of `SET` or `GETEX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TtlWord {
    Ex,
    Px,
    ExAt,
    PxAt,
    KeepTtl,
    Persist,
}

impl TtlWord {
    const ALL: [(TtlWord, &'static str); 6] = [
        (TtlWord::Ex, "EX"),
        (TtlWord::Px, "PX"),
        (TtlWord::ExAt, "EXAT"),
        (TtlWord::PxAt, "PXAT"),
        (TtlWord::KeepTtl, "KEEPTTL"),
        (TtlWord::Persist, "PERSIST"),
    ];

    fn parse(arg: &[u8]) -> Option<TtlWord> {
        let (word, _) = Self::ALL
            .iter()
            .find(|(_, name)| arg.eq_ignore_ascii_case(name.as_bytes()))?;
        Some(*word)
    }

    /// `KEEPTTL` belongs to `SET` only, `PERSIST` to `GETEX` only.
    fn allowed(self, cmd: ExtCmd) -> bool {
        match self {
            TtlWord::KeepTtl => cmd == ExtCmd::Set,
            TtlWord::Persist => cmd == ExtCmd::GetEx,
            _ => true,
        }
    }

    fn takes_value(self) -> bool {
        !matches!(self, TtlWord::KeepTtl | TtlWord::Persist)
    }
}

/// Whose options [`ExtOpts::parse`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExtCmd {
    Set,
    GetEx,
}

/// The options of `SET` and `GETEX` (Redis's `parseExtendedStringArgumentsOrReply`).
/// The TTL value is kept as text: Redis checks it only after the whole line parsed.
#[derive(Debug, Default)]
struct ExtOpts<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    ttl: Option<TtlWord>,
    ttl_value: Option<&'a Bytes>,
}

impl<'a> ExtOpts<'a> {
    /// Reads options to the end of `c`. As in Redis, an option may repeat (the last
    /// value wins) but may not meet a conflicting one (`NX` with `XX`, two TTL kinds).
    fn parse(c: &mut ArgCursor<'a>, cmd: ExtCmd) -> CmdResult<Self> {
        let mut o = ExtOpts::default();
        let set = cmd == ExtCmd::Set;
        while let Some(arg) = c.next_opt() {
            if set && arg.eq_ignore_ascii_case(b"NX") && !o.xx {
                o.nx = true;
            } else if set && arg.eq_ignore_ascii_case(b"XX") && !o.nx {
                o.xx = true;
            } else if set && arg.eq_ignore_ascii_case(b"GET") {
                o.get = true;
            } else if let Some(word) = TtlWord::parse(arg).filter(|w| w.allowed(cmd)) {
                if o.ttl.is_some_and(|t| t != word) {
                    return Err(CmdError::Syntax);
                }
                if word.takes_value() {
                    o.ttl_value = Some(c.arg()?);
                }
                o.ttl = Some(word);
            } else {
                return Err(CmdError::Syntax);
            }
        }
        Ok(o)
    }

    /// The deadline the options ask for: an integer, then a valid expire time.
    fn expire(&self, now_ms: u64, cmd: &'static str) -> CmdResult<ExpireOpt> {
        let (unit_ms, absolute) = match self.ttl {
            None | Some(TtlWord::Persist) => return Ok(ExpireOpt::None),
            Some(TtlWord::KeepTtl) => return Ok(ExpireOpt::Keep),
            Some(TtlWord::Ex) => (1000, false),
            Some(TtlWord::Px) => (1, false),
            Some(TtlWord::ExAt) => (1000, true),
            Some(TtlWord::PxAt) => (1, true),
        };
        let text = self.ttl_value.expect("a TTL word with a value was parsed");
        let value = parse_i64(text).ok_or(CmdError::NotInteger)?;
        Ok(ExpireOpt::At(deadline_ms(
            value, unit_ms, absolute, now_ms, cmd,
        )?))
    }
}

/// `SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL]`: the expire time
/// is checked first, then `GET` reads the old value (and its type), then `NX`/`XX`
/// decide.
fn set(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut c = ArgCursor::new(args);
    let key = c.arg()?;
    c.arg()?; // The value, stored from its argument (`Str::from_arg`).
    let opts = ExtOpts::parse(&mut c, ExtCmd::Set)?;
    let now = ctx.now_ms;
    let expire = opts.expire(now, "set")?;
    let db = ctx.db;
    if opts.get {
        let old = read_str(ctx.ks, db, key, now)?;
        ctx.out.bulk_opt(old);
    }
    // Only NX, XX and KEEPTTL look at the current entry; a plain SET skips the lookup.
    let current_deadline = if opts.nx || opts.xx || expire == ExpireOpt::Keep {
        ctx.ks.find(db, key, now).map(|e| e.expire_at_ms)
    } else {
        None
    };
    let exists = current_deadline.is_some();
    if (opts.nx && exists) || (opts.xx && !exists) {
        if !opts.get {
            ctx.out.null();
        }
        return Ok(());
    }
    let expire_at_ms = match expire {
        ExpireOpt::None => NO_EXPIRE,
        ExpireOpt::Keep => current_deadline.unwrap_or(NO_EXPIRE),
        ExpireOpt::At(at) => at,
    };
    let value = Str::from_arg(args, 2);
    ctx.ks.add(db, key, Value::Str(value), expire_at_ms);
    if !opts.get {
        ctx.out.ok();
    }
    Ok(())
}

fn setnx(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut c = ArgCursor::new(args);
    let key = c.arg()?;
    c.arg()?; // The value, stored from its argument (`Str::from_arg`).
    c.finish()?;
    let now = ctx.now_ms;
    if ctx.ks.contains(ctx.db, key, now) {
        ctx.out.int(0);
        return Ok(());
    }
    let value = Str::from_arg(args, 2);
    ctx.ks.add(ctx.db, key, Value::Str(value), NO_EXPIRE);
    ctx.out.int(1);
    Ok(())
}

/// `SETEX` and `PSETEX`: `key ttl value`, the TTL in seconds or milliseconds.
fn set_with_ttl(ctx: &mut Ctx, args: &[Bytes], unit_ms: i64, cmd: &'static str) -> CmdResult {
    let mut c = ArgCursor::new(args);
    let key = c.arg()?;
    let ttl = c.next_i64()?;
    c.arg()?; // The value, stored from its argument (`Str::from_arg`).
    c.finish()?;
    let at = deadline_ms(ttl, unit_ms, false, ctx.now_ms, cmd)?;
    let value = Str::from_arg(args, 3);
    ctx.ks.add(ctx.db, key, Value::Str(value), at);
    ctx.out.ok();
    Ok(())
}

fn setex(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    set_with_ttl(ctx, args, 1000, "setex")
}

fn psetex(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    set_with_ttl(ctx, args, 1, "psetex")
}

/// `GETSET key value`: replies with the old value and stores the new one, clearing any
/// deadline.
fn getset(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut c = ArgCursor::new(args);
    let key = c.arg()?;
    c.arg()?; // The value, stored from its argument (`Str::from_arg`).
    c.finish()?;
    let old = read_str(ctx.ks, ctx.db, key, ctx.now_ms)?;
    ctx.out.bulk_opt(old);
    let value = Str::from_arg(args, 2);
    ctx.ks.add(ctx.db, key, Value::Str(value), NO_EXPIRE);
    Ok(())
}

fn getdel(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut c = ArgCursor::new(args);
    let key = c.arg()?;
    c.finish()?;
    let Some(value) = read_typed(ctx.ks, ctx.db, key, ctx.now_ms, Value::as_str_value)? else {
        ctx.out.null();
        return Ok(());
    };
    ctx.out.bulk_str(Some(value));
    ctx.ks.remove(ctx.db, key, ctx.now_ms);
    Ok(())
}

/// `GETEX key [EX s|PX ms|EXAT s|PXAT ms|PERSIST]`: a missing key answers nil before
/// the expire time is checked; a deadline already past deletes the key.
fn getex(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut c = ArgCursor::new(args);
    let key = c.arg()?;
    let opts = ExtOpts::parse(&mut c, ExtCmd::GetEx)?;
    let now = ctx.now_ms;
    let db = ctx.db;
    let Some(value) = read_typed(ctx.ks, db, key, now, Value::as_str_value)? else {
        ctx.out.null();
        return Ok(());
    };
    let expire = opts.expire(now, "getex")?;
    ctx.out.bulk_str(Some(value));
    match expire {
        ExpireOpt::At(at) if at <= now => {
            ctx.ks.remove(db, key, now);
        }
        ExpireOpt::At(at) => {
            ctx.ks.set_expire(db, key, at, now);
        }
        ExpireOpt::None if opts.ttl == Some(TtlWord::Persist) => {
            let had_deadline = ctx
                .ks
                .find(db, key, now)
                .is_some_and(|e| e.expire_at_ms != NO_EXPIRE);
            if had_deadline {
                ctx.ks.set_expire(db, key, NO_EXPIRE, now);
            }
        }
        ExpireOpt::None | ExpireOpt::Keep => {}
    }
    Ok(())
}

fn strlen(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut c = ArgCursor::new(args);
    let key = c.arg()?;
    c.finish()?;
    let value = read_str(ctx.ks, ctx.db, key, ctx.now_ms)?;
    ctx.out.int(value.map_or(0, |v| v.len()) as i64);
    Ok(())
}

fn append(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut c = ArgCursor::new(args);
    let key = c.arg()?;
    let tail = c.arg()?;
    c.finish()?;
    let max = ctx.string_max_bytes;
    let existing = write_str(ctx.ks, ctx.db, key, ctx.now_ms)?;
    let len = match existing {
        None => {
            drop(existing);
            let value = Str::from_arg(args, 2);
            ctx.ks.add(ctx.db, key, Value::Str(value), NO_EXPIRE);
            tail.len()
        }
        Some(mut s) => {
            if s.str().len() + tail.len() > max {
                return Err(CmdError::StringTooLong);
            }
            s.append(tail)
        }
    };
    ctx.out.int(len as i64);
    Ok(())
}

/// Redis's index rules for a range over `len` units (bytes or bits): negative indexes
/// count from the end, then both are clamped into the string. `None` when empty.
fn clamp_range(len: i64, start: i64, end: i64) -> Option<(u64, u64)> {
    debug_assert!(len >= 0);
    let start = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let end = if end < 0 { (len + end).max(0) } else { end }.min(len - 1);
    (start <= end).then_some((start as u64, end as u64))
}

/// `GETRANGE` (and `SUBSTR`): both ends inclusive. Two negative indexes out of order
/// are empty before clamping could make them overlap at 0.
fn getrange(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut c = ArgCursor::new(args);
    let key = c.arg()?;
    let start = c.next_i64()?;
    let end = c.next_i64()?;
    c.finish()?;
    let value = read_str(ctx.ks, ctx.db, key, ctx.now_ms)?;
    let s = value.unwrap_or_default();
    let range = if start < 0 && end < 0 && start > end {
        None
    } else {
        clamp_range(s.len() as i64, start, end)
    };
    match range {
        Some((a, b)) => ctx.out.bulk(&s[a as usize..=b as usize]),
        None => ctx.out.bulk(b""),
    }
    Ok(())
}

/// `SETRANGE key offset value`: writing nothing creates nothing and changes nothing.
fn setrange(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut c = ArgCursor::new(args);
    let key = c.arg()?;
    let offset = c.next_i64()?;
    let value = c.arg()?;
    c.finish()?;
    if offset < 0 {
        return Err(CmdError::OutOfRange);
    }
    let offset = offset as u64;
    let max = ctx.string_max_bytes as u64;
    let existing = write_str(ctx.ks, ctx.db, key, ctx.now_ms)?;
    if value.is_empty() {
        ctx.out.int(existing.map_or(0, |s| s.str().len()) as i64);
        return Ok(());
    }
    let end = offset.saturating_add(value.len() as u64);
    if end > max {
        return Err(CmdError::StringTooLong);
    }
    let (offset, end) = (offset as usize, end as usize);
    let len = match existing {
        Some(mut s) => s.write_at(offset, value),
        None => {
            drop(existing);
            let mut s = vec![0; end];
            s[offset..].copy_from_slice(value);
            ctx.ks.add(ctx.db, key, Value::Str(s.into()), NO_EXPIRE);
            end
        }
    };
    ctx.out.int(len as i64);
    Ok(())
}

/// `INCR`, `DECR`, `INCRBY`, `DECRBY`: a missing key counts as 0; the deadline stays.
fn incr_by(ctx: &mut Ctx, key: &[u8], delta: i64) -> CmdResult {
    let mut digits = itoa::Buffer::new();
    let existing = write_str(ctx.ks, ctx.db, key, ctx.now_ms)?;
    let value = match existing {
        None => {
            drop(existing);
            ctx.ks.add(
                ctx.db,
                key,
                Value::Str(digits.format(delta).as_bytes().into()),
                NO_EXPIRE,
            );
            delta
        }
        Some(mut s) => {
            let current = parse_i64(s.str()).ok_or(CmdError::NotInteger)?;
            let value = current.checked_add(delta).ok_or(CmdError::Overflow)?;
            let s = s.str_mut();
            s.clear();
            s.extend_from_slice(digits.format(value).as_bytes());
            value
        }
    };
    ctx.out.int(value);
    Ok(())
}

fn incr(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut c = ArgCursor::new(args);
    let key = c.arg()?;
    c.finish()?;
    incr_by(ctx, key, 1)
}

fn decr(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut c = ArgCursor::new(args);
    let key = c.arg()?;
    c.finish()?;
    incr_by(ctx, key, -1)
}

fn incrby(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut c = ArgCursor::new(args);
    let key = c.arg()?;
    let delta = c.next_i64()?;
    c.finish()?;
    incr_by(ctx, key, delta)
}

fn decrby(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut c = ArgCursor::new(args);
    let key = c.arg()?;
    let delta = c.next_i64()?;
    c.finish()?;
    let negated = delta
        .checked_neg()
        .ok_or_else(|| CmdError::Raw("ERR decrement would overflow".into()))?;
    incr_by(ctx, key, negated)
}

/// `INCRBYFLOAT key increment`, in `long double` as Redis computes it.
fn incrbyfloat(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut c = ArgCursor::new(args);
    let key = c.arg()?;
    let increment = c.arg()?;
    c.finish()?;
    let existing = write_str(ctx.ks, ctx.db, key, ctx.now_ms)?;
    let current = match &existing {
        Some(s) => LongDouble::parse(s.str()).ok_or(CmdError::NotFloat)?,
        None => LongDouble::ZERO,
    };
    let increment = LongDouble::parse(increment).ok_or(CmdError::NotFloat)?;
    let value = current
        .checked_add(increment)
        .filter(|v| v.is_finite())
        .ok_or(CmdError::IncrNanOrInf)?
        .to_human();
    ctx.out.bulk(&value);
    match existing {
        Some(mut guard) => *guard.str_mut() = value,
        None => {
            drop(existing);
            ctx.ks.add(ctx.db, key, Value::Str(value.into()), NO_EXPIRE);
        }
    }
    Ok(())
}

/// A bit offset argument (`GETBIT`, `SETBIT`): non-negative, and addressing a byte
/// below `string_max_bytes` (Redis's `proto-max-bulk-len` check), else one error.
fn bit_offset(c: &mut ArgCursor, string_max_bytes: usize) -> CmdResult<u64> {
    let offset = c.next_i64().map_err(|_| CmdError::BitOffset)?;
    if offset < 0 || (offset >> 3) as u64 >= string_max_bytes as u64 {
        return Err(CmdError::BitOffset);
    }
    Ok(offset as u64)
}

/// The mask of bit `offset` within its byte (bit 0 is the most significant).
fn bit_mask(offset: u64) -> u8 {
    0x80 >> (offset & 7)
}

fn getbit(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut c = ArgCursor::new(args);
    let key = c.arg()?;
    let offset = bit_offset(&mut c, ctx.string_max_bytes)?;
    c.finish()?;
    let value = read_str(ctx.ks, ctx.db, key, ctx.now_ms)?;
    let byte = value.and_then(|s| s.get((offset >> 3) as usize).copied());
    ctx.out
        .int(byte.is_some_and(|b| b & bit_mask(offset) != 0) as i64);
    Ok(())
}

/// `SETBIT key offset 0|1`: replies with the old bit. Counts a change only when the
/// string was created or grew, or the bit flipped.
fn setbit(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut c = ArgCursor::new(args);
    let key = c.arg()?;
    let offset = bit_offset(&mut c, ctx.string_max_bytes)?;
    let on = c.next_i64().map_err(|_| CmdError::BitValue)?;
    c.finish()?;
    if on & !1 != 0 {
        return Err(CmdError::BitValue);
    }
    let byte = (offset >> 3) as usize;
    let mask = bit_mask(offset);
    let existing = write_str(ctx.ks, ctx.db, key, ctx.now_ms)?;
    let old = match existing {
        Some(mut s) => {
            let current = s.str().get(byte).copied();
            let was = current.unwrap_or(0);
            let new = if on == 1 { was | mask } else { was & !mask };
            // Only a string that grows or a bit that flips is a change.
            if current.is_none() || new != was {
                s.write_at(byte, &[new]);
            }
            was & mask != 0
        }
        None => {
            drop(existing);
            let mut s = vec![0; byte + 1];
            if on == 1 {
                s[byte] |= mask;
            }
            ctx.ks.add(ctx.db, key, Value::Str(s.into()), NO_EXPIRE);
            false
        }
    };
    ctx.out.int(old as i64);
    Ok(())
}

/// Set bits in `s`, counted eight bytes at a time.
fn popcount(s: &[u8]) -> u64 {
    let mut words = s.chunks_exact(8);
    let mut n: u64 = words
        .by_ref()
        .map(|w| u64::from_ne_bytes(w.try_into().expect("8-byte chunk")).count_ones() as u64)
        .sum();
    n += words
        .remainder()
        .iter()
        .map(|b| b.count_ones() as u64)
        .sum::<u64>();
    n
}

/// Set bits of `s` from bit `lo` to bit `hi`, both inclusive.
fn count_bits(s: &[u8], lo: u64, hi: u64) -> u64 {
    debug_assert!(lo <= hi);
    debug_assert!(hi < s.len() as u64 * 8);
    let (first, last) = ((lo >> 3) as usize, (hi >> 3) as usize);
    let before_lo = s[first] & !(0xffu8 >> (lo & 7));
    let after_hi = s[last] & !(0xffu8 << (7 - (hi & 7)));
    popcount(&s[first..=last]) - before_lo.count_ones() as u64 - after_hi.count_ones() as u64
}

/// Position of the first bit equal to `bit` in `s` from bit `lo` to bit `hi`, both
/// inclusive.
fn find_bit(s: &[u8], lo: u64, hi: u64, bit: bool) -> Option<u64> {
    debug_assert!(lo <= hi);
    debug_assert!(hi < s.len() as u64 * 8);
    let (first, last) = ((lo >> 3) as usize, (hi >> 3) as usize);
    // Searching for 0 is searching for 1 in the complement.
    let flip: u8 = if bit { 0x00 } else { 0xff };
    let in_range = |i: usize| {
        let mut b = s[i] ^ flip;
        if i == first {
            b &= 0xff >> (lo & 7);
        }
        if i == last {
            b &= 0xff << (7 - (hi & 7));
        }
        b
    };
    let at = |i: usize, b: u8| ((i as u64) << 3) + b.leading_zeros() as u64;
    let b = in_range(first);
    if b != 0 {
        return Some(at(first, b));
    }
    if last == first {
        return None;
    }
    if let Some(skip) = s[first + 1..last].iter().position(|&b| b != flip) {
        let i = first + 1 + skip;
        return Some(at(i, s[i] ^ flip));
    }
    let b = in_range(last);
    (b != 0).then(|| at(last, b))
}

/// The unit of a `BITCOUNT`/`BITPOS` range: `None` reads `BYTE`.
fn bit_unit(arg: Option<&Bytes>) -> CmdResult<bool> {
    match arg {
        None => Ok(false),
        Some(a) if a.eq_ignore_ascii_case(b"BYTE") => Ok(false),
        Some(a) if a.eq_ignore_ascii_case(b"BIT") => Ok(true),
        Some(_) => Err(CmdError::Syntax),
    }
}

/// An inclusive range in `unit_bits` units as an inclusive range of bits.
fn to_bits((start, end): (u64, u64), unit_bits: bool) -> (u64, u64) {
    if unit_bits {
        (start, end)
    } else {
        (start << 3, (end << 3) + 7)
    }
}

/// `BITCOUNT key [start end [BYTE|BIT]]`. As in Redis 7.0 (changed in 8.0) a missing
/// key answers 0 before the range is parsed.
fn bitcount(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut c = ArgCursor::new(args);
    let key = c.arg()?;
    let Some(s) = read_str(ctx.ks, ctx.db, key, ctx.now_ms)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let bytes = s.len() as i64;
    let range = match c.remaining() {
        0 => clamp_range(bytes, 0, -1).map(|r| to_bits(r, false)),
        2 | 3 => {
            let start = c.next_i64()?;
            let end = c.next_i64()?;
            let unit_bits = bit_unit(c.next_opt())?;
            let units = if unit_bits { bytes << 3 } else { bytes };
            if start < 0 && end < 0 && start > end {
                None
            } else {
                clamp_range(units, start, end).map(|r| to_bits(r, unit_bits))
            }
        }
        _ => return Err(CmdError::Syntax),
    };
    ctx.out
        .int(range.map_or(0, |(lo, hi)| count_bits(s, lo, hi)) as i64);
    Ok(())
}

/// `BITPOS key bit [start [end [BYTE|BIT]]]`. A missing key is all zeros: 0 for a clear
/// bit, -1 for a set one, before the range is parsed (Redis 7.0). Without an explicit
/// end the string counts as padded with zeros, so a clear bit not found in range is
/// reported just past it; with an end it is -1.
fn bitpos(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut c = ArgCursor::new(args);
    let key = c.arg()?;
    let bit = c.next_i64()?;
    if bit != 0 && bit != 1 {
        return Err(CmdError::Raw("ERR The bit argument must be 1 or 0.".into()));
    }
    let Some(s) = read_str(ctx.ks, ctx.db, key, ctx.now_ms)? else {
        ctx.out.int(if bit == 1 { -1 } else { 0 });
        return Ok(());
    };
    if c.remaining() > 3 {
        return Err(CmdError::Syntax);
    }
    let start = match c.next_opt() {
        Some(a) => parse_i64(a).ok_or(CmdError::NotInteger)?,
        None => 0,
    };
    // Redis reads the unit before the end.
    let end_arg = c.next_opt();
    let unit_bits = bit_unit(c.next_opt())?;
    let end = end_arg
        .map(|a| parse_i64(a).ok_or(CmdError::NotInteger))
        .transpose()?;
    let units = if unit_bits {
        (s.len() as i64) << 3
    } else {
        s.len() as i64
    };
    let Some((lo, hi)) =
        clamp_range(units, start, end.unwrap_or(units - 1)).map(|r| to_bits(r, unit_bits))
    else {
        ctx.out.int(-1);
        return Ok(());
    };
    let pos = match find_bit(s, lo, hi, bit == 1) {
        Some(pos) => pos as i64,
        None if bit == 0 && end.is_none() => hi as i64 + 1,
        None => -1,
    };
    ctx.out.int(pos);
    Ok(())
}

const RW: u32 = WRITE | DENYOOM;
/// `BITOP operation destkey key [key ...]`: every argument after the operation is a key.
const BITOP_KEYS: KeySpec = range(2, -1, 1);

pub const COMMANDS: &[CommandSpec] = &[
    row("get", 2, READONLY | FAST, KEY1, "string", "Returns the string value of a key.", Route::Shard(get)),
    row("set", -3, RW, KEY1, "string", "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.", Route::Shard(set)),
    row("setnx", 3, RW | FAST, KEY1, "string", "Set the string value of a key only when the key doesn't exist.", Route::Shard(setnx)),
    row("setex", 4, RW, KEY1, "string", "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.", Route::Shard(setex)),
    row("psetex", 4, RW, KEY1, "string", "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist.", Route::Shard(psetex)),
    row("getset", 3, RW | FAST, KEY1, "string", "Returns the previous string value of a key after setting it to a new value.", Route::Shard(getset)),
    row("getdel", 2, WRITE | FAST, KEY1, "string", "Returns the string value of a key after deleting the key.", Route::Shard(getdel)),
    row("getex", -2, WRITE | FAST, KEY1, "string", "Returns the string value of a key after setting its expiration time.", Route::Shard(getex)),
    row("strlen", 2, READONLY | FAST, KEY1, "string", "Returns the length of a string value.", Route::Shard(strlen)),
    row("append", 3, RW | FAST, KEY1, "string", "Appends a string to the value of a key. Creates the key if it doesn't exist.", Route::Shard(append)),
    row("getrange", 4, READONLY, KEY1, "string", "Returns a substring of the string stored at a key.", Route::Shard(getrange)),
    row("substr", 4, READONLY, KEY1, "string", "Returns a substring from a string value.", Route::Shard(getrange)),
    row("setrange", 4, RW, KEY1, "string", "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.", Route::Shard(setrange)),
    row("incr", 2, RW | FAST, KEY1, "string", "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", Route::Shard(incr)),
    row("decr", 2, RW | FAST, KEY1, "string", "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", Route::Shard(decr)),
    row("incrby", 3, RW | FAST, KEY1, "string", "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.", Route::Shard(incrby)),
    row("decrby", 3, RW | FAST, KEY1, "string", "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.", Route::Shard(decrby)),
    row("incrbyfloat", 3, RW | FAST, KEY1, "string", "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.", Route::Shard(incrbyfloat)),
    row("getbit", 3, READONLY | FAST, KEY1, "bitmap", "Returns a bit value by offset.", Route::Shard(getbit)),
    row("setbit", 4, RW, KEY1, "bitmap", "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist.", Route::Shard(setbit)),
    row("bitcount", -2, READONLY, KEY1, "bitmap", "Counts the number of set bits (population counting) in a string.", Route::Shard(bitcount)),
    row("bitpos", -3, READONLY, KEY1, "bitmap", "Finds the first set (1) or clear (0) bit in a string.", Route::Shard(bitpos)),
    row("bitop", -4, RW, BITOP_KEYS, "bitmap", "Performs bitwise operations on multiple strings, and stores the result.", Route::Parts(&multikey::BITOP)),
    row("mget", -2, READONLY | FAST, range(1, -1, 1), "string", "Atomically returns the string values of one or more keys.", Route::Parts(&multikey::MGET)),
    row("mset", -3, RW, range(1, -1, 2), "string", "Atomically creates or modifies the string values of one or more keys.", Route::Parts(&multikey::MSET)),
    row("msetnx", -3, RW, range(1, -1, 2), "string", "Atomically modifies the string values of one or more keys only when all keys don't exist.", Route::Parts(&multikey::MSETNX)),
];

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use crate::command::table;
    use crate::harness::{render, TestShard};
    use crate::keyspace::EntryRef;
    use crate::value::Value;

    /// Runs a command whose arguments need not be UTF-8.
    fn run_bytes(s: &mut TestShard, args: &[&[u8]]) -> String {
        let args: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a)).collect();
        let mut out = crate::resp::ReplyBuf::new(s.protocol);
        s.shard.run(s.db, &args, s.now_ms, &mut out);
        let (text, rest) = render(&out);
        assert!(rest.is_empty());
        text
    }

    /// The raw bytes stored at `key`.
    fn value(s: &mut TestShard, key: &str) -> Option<Vec<u8>> {
        let entry = s.shard.keyspace_mut().find(s.db, key.as_bytes(), s.now_ms);
        entry.map(|EntryRef { value, .. }| match value {
            Value::Str(v) => v.to_vec(),
            other => panic!("string expected, found a {}", other.type_name()),
        })
    }

    fn hits_misses(s: &TestShard) -> (u64, u64) {
        let st = s.shard.stats();
        (st.db.keyspace_hits, st.db.keyspace_misses)
    }

    fn dirty(s: &TestShard) -> u64 {
        s.shard.keyspace().dirty()
    }

    const NOT_INT: &str = "-ERR value is not an integer or out of range";
    const SYNTAX: &str = "-ERR syntax error";

    #[test]
    fn set_and_get() {
        let mut s = TestShard::default();
        assert_eq!(s.run(&["SET", "k", "v"]), "OK");
        assert_eq!(s.run(&["GET", "k"]), "v");
        assert_eq!(s.run(&["GET", "nokey"]), "(nil)");
        assert_eq!(s.run(&["SET", "e", ""]), "OK");
        assert_eq!(s.run(&["GET", "e"]), "");
        assert_eq!(
            s.run(&["get"]),
            "-ERR wrong number of arguments for 'get' command"
        );
    }

    #[test]
    fn set_options() {
        let mut s = TestShard::default();
        assert_eq!(s.run(&["SET", "k", "v", "NX"]), "OK");
        assert_eq!(s.run(&["SET", "k", "w", "NX"]), "(nil)");
        assert_eq!(s.run(&["SET", "k", "w", "XX", "GET"]), "v");
        assert_eq!(s.run(&["SET", "k", "x", "NX", "GET"]), "w", "not set");
        assert_eq!(s.run(&["GET", "k"]), "w");
        assert_eq!(s.run(&["SET", "n", "w", "XX"]), "(nil)");
        assert_eq!(s.run(&["SET", "n", "w", "XX", "GET"]), "(nil)");
        assert_eq!(s.run(&["SET", "n", "w", "get"]), "(nil)");
        assert_eq!(s.run(&["GET", "n"]), "w");
        assert_eq!(s.run(&["SET", "k", "x", "PX", "1500"]), "OK");
        s.advance_ms(1499);
        assert_eq!(s.run(&["GET", "k"]), "x");
        s.advance_ms(1);
        assert_eq!(s.run(&["GET", "k"]), "(nil)");
        let at = (s.now_ms + 5000).to_string();
        assert_eq!(s.run(&["SET", "k", "y", "PXAT", &at]), "OK");
        assert_eq!(s.run(&["SET", "k", "z", "KEEPTTL"]), "OK");
        s.advance_ms(4999);
        assert_eq!(s.run(&["GET", "k"]), "z");
        s.advance_ms(1);
        assert_eq!(s.run(&["GET", "k"]), "(nil)");
        assert_eq!(s.run(&["SET", "k", "a", "EX", "1"]), "OK");
        assert_eq!(s.run(&["SET", "k", "b"]), "OK", "plain SET clears the TTL");
        s.advance_ms(10_000);
        assert_eq!(s.run(&["GET", "k"]), "b");
        let past = (s.now_ms / 1000 - 1).to_string();
        assert_eq!(s.run(&["SET", "k", "c", "EXAT", &past]), "OK");
        assert_eq!(
            s.run(&["GET", "k"]),
            "(nil)",
            "a past deadline expires at once"
        );
    }

    #[test]
    fn set_option_conflicts_and_errors() {
        let mut s = TestShard::default();
        for bad in [
            &["SET", "k", "x", "NX", "XX"][..],
            &["SET", "k", "x", "XX", "NX"],
            &["SET", "k", "x", "EX", "10", "PX", "5"],
            &["SET", "k", "x", "PX", "10", "KEEPTTL"],
            &["SET", "k", "x", "KEEPTTL", "EXAT", "10"],
            &["SET", "k", "x", "PERSIST"],
            &["SET", "k", "x", "EX"],
            &["SET", "k", "x", "FOO"],
            &["SET", "k", "x", "EX", "abc", "FOO"],
        ] {
            assert_eq!(s.run(bad), SYNTAX, "{bad:?}");
        }
        assert_eq!(s.run(&["SET", "k", "x", "nx", "NX", "get", "GET"]), "(nil)");
        assert_eq!(s.run(&["SET", "k", "x", "KEEPTTL", "KEEPTTL"]), "OK");
        assert_eq!(s.run(&["SET", "k", "x", "EX", "10", "ex", "20"]), "OK");
        assert_eq!(s.run(&["SET", "k", "x", "EX", "abc"]), NOT_INT);
        assert_eq!(s.run(&["SET", "k", "x", "EX", "1.5"]), NOT_INT);
        for bad in [
            &["SET", "k", "x", "EX", "0"][..],
            &["SET", "k", "x", "PX", "-5"],
            &["SET", "k", "x", "EXAT", "0"],
            &["SET", "k", "x", "EX", "9223372036854775807"],
            &["SET", "k", "x", "PX", "9223372036854775807"],
            &["SET", "k", "x", "GET", "EX", "0"],
        ] {
            assert_eq!(
                s.run(bad),
                "-ERR invalid expire time in 'set' command",
                "{bad:?}"
            );
        }
        assert_eq!(s.run(&["GET", "k"]), "x", "failed SETs change nothing");
    }

    #[test]
    fn setnx_sets_only_missing_keys() {
        let mut s = TestShard::default();
        assert_eq!(s.run(&["SETNX", "a", "1"]), "1");
        assert_eq!(s.run(&["SETNX", "a", "2"]), "0");
        assert_eq!(s.run(&["GET", "a"]), "1");
        s.run(&["SET", "t", "old", "PX", "10"]);
        s.advance_ms(10);
        assert_eq!(
            s.run(&["SETNX", "t", "new"]),
            "1",
            "an expired key is missing"
        );
        assert_eq!(
            s.run(&["SETNX", "a"]),
            "-ERR wrong number of arguments for 'setnx' command"
        );
    }

    #[test]
    fn setex_and_psetex_expire() {
        let mut s = TestShard::default();
        assert_eq!(s.run(&["SETEX", "k", "10", "v"]), "OK");
        s.advance_ms(9_999);
        assert_eq!(s.run(&["GET", "k"]), "v");
        s.advance_ms(1);
        assert_eq!(s.run(&["GET", "k"]), "(nil)");
        assert_eq!(s.run(&["PSETEX", "p", "1500", "v"]), "OK");
        s.advance_ms(1_499);
        assert_eq!(s.run(&["GET", "p"]), "v");
        s.advance_ms(1);
        assert_eq!(s.run(&["GET", "p"]), "(nil)");
        for (cmd, ttl) in [
            ("SETEX", "0"),
            ("SETEX", "-1"),
            ("SETEX", "9223372036854775807"),
        ] {
            assert_eq!(
                s.run(&[cmd, "k", ttl, "v"]),
                "-ERR invalid expire time in 'setex' command"
            );
        }
        for ttl in ["0", "-1", "9223372036854775807"] {
            assert_eq!(
                s.run(&["PSETEX", "k", ttl, "v"]),
                "-ERR invalid expire time in 'psetex' command"
            );
        }
        assert_eq!(s.run(&["SETEX", "k", "x", "v"]), NOT_INT);
        assert_eq!(s.run(&["PSETEX", "k", "1.5", "v"]), NOT_INT);
        assert_eq!(s.run(&["GET", "k"]), "(nil)");
        assert_eq!(
            s.run(&["SETEX", "k", "10"]),
            "-ERR wrong number of arguments for 'setex' command"
        );
    }

    #[test]
    fn getset_replaces_and_clears_the_ttl() {
        let mut s = TestShard::default();
        assert_eq!(s.run(&["GETSET", "k", "1"]), "(nil)");
        assert_eq!(s.run(&["SET", "k", "2", "EX", "10"]), "OK");
        assert_eq!(s.run(&["GETSET", "k", "3"]), "2");
        s.advance_ms(20_000);
        assert_eq!(s.run(&["GET", "k"]), "3");
    }

    #[test]
    fn getdel_returns_and_deletes() {
        let mut s = TestShard::default();
        s.run(&["SET", "k", "v"]);
        assert_eq!(s.run(&["GETDEL", "k"]), "v");
        assert_eq!(s.run(&["GETDEL", "k"]), "(nil)");
        assert_eq!(s.run(&["EXISTS", "k"]), "0");
        assert_eq!(dirty(&s), 2);
    }

    #[test]
    fn getex_sets_or_clears_the_deadline() {
        let mut s = TestShard::default();
        s.run(&["SET", "k", "v"]);
        assert_eq!(s.run(&["GETEX", "k"]), "v");
        assert_eq!(s.run(&["GETEX", "k", "EX", "10"]), "v");
        s.advance_ms(9_999);
        assert_eq!(s.run(&["GETEX", "k", "PERSIST"]), "v");
        s.advance_ms(10_000);
        assert_eq!(s.run(&["GET", "k"]), "v", "PERSIST removed the deadline");
        assert_eq!(s.run(&["GETEX", "k", "PX", "500"]), "v");
        assert_eq!(s.run(&["GETEX", "k"]), "v", "no option keeps the deadline");
        s.advance_ms(500);
        assert_eq!(s.run(&["GET", "k"]), "(nil)");
        s.run(&["SET", "k", "v"]);
        let at_s = (s.now_ms / 1000 + 100).to_string();
        assert_eq!(s.run(&["GETEX", "k", "EXAT", &at_s]), "v");
        s.advance_ms(100_000);
        assert_eq!(s.run(&["GET", "k"]), "(nil)");
        s.run(&["SET", "k", "v"]);
        let past_ms = (s.now_ms - 1).to_string();
        assert_eq!(s.run(&["GETEX", "k", "PXAT", &past_ms]), "v");
        assert_eq!(
            s.run(&["EXISTS", "k"]),
            "0",
            "a past deadline deletes the key"
        );
    }

    #[test]
    fn getex_checks_options_then_key_then_expire_time() {
        let mut s = TestShard::default();
        assert_eq!(s.run(&["GETEX", "nokey", "EX", "abc"]), "(nil)");
        assert_eq!(s.run(&["GETEX", "nokey", "EX", "0"]), "(nil)");
        assert_eq!(s.run(&["GETEX", "nokey", "FOO"]), SYNTAX);
        s.run(&["SET", "k", "v"]);
        for bad in [
            &["GETEX", "k", "KEEPTTL"][..],
            &["GETEX", "k", "NX"],
            &["GETEX", "k", "GET"],
            &["GETEX", "k", "EX"],
            &["GETEX", "k", "EX", "10", "PX", "10"],
            &["GETEX", "k", "EX", "10", "PERSIST"],
            &["GETEX", "k", "PERSIST", "EX", "10"],
        ] {
            assert_eq!(s.run(bad), SYNTAX, "{bad:?}");
        }
        assert_eq!(s.run(&["GETEX", "k", "PERSIST", "PERSIST"]), "v");
        assert_eq!(s.run(&["GETEX", "k", "EX", "abc"]), NOT_INT);
        for bad in ["0", "-1", "9223372036854775807"] {
            assert_eq!(
                s.run(&["GETEX", "k", "EX", bad]),
                "-ERR invalid expire time in 'getex' command"
            );
        }
        assert_eq!(s.run(&["GET", "k"]), "v");
    }

    #[test]
    fn getex_counts_a_change_only_when_the_deadline_changes() {
        let mut s = TestShard::default();
        s.run(&["SET", "k", "v"]);
        let base = dirty(&s);
        s.run(&["GETEX", "k"]);
        s.run(&["GETEX", "k", "PERSIST"]);
        assert_eq!(dirty(&s), base, "nothing to persist");
        s.run(&["GETEX", "k", "EX", "100"]);
        s.run(&["GETEX", "k", "PERSIST"]);
        assert_eq!(dirty(&s), base + 2);
    }

    #[test]
    fn strlen_and_append() {
        let mut s = TestShard::default();
        assert_eq!(s.run(&["STRLEN", "k"]), "0");
        assert_eq!(s.run(&["APPEND", "k", "Hello"]), "5");
        assert_eq!(s.run(&["APPEND", "k", " World"]), "11");
        assert_eq!(s.run(&["GET", "k"]), "Hello World");
        assert_eq!(s.run(&["STRLEN", "k"]), "11");
        assert_eq!(s.run(&["APPEND", "k", ""]), "11");
        assert_eq!(s.run(&["APPEND", "e", ""]), "0");
        assert_eq!(
            s.run(&["EXISTS", "e"]),
            "1",
            "appending nothing creates the key"
        );
        s.run(&["SET", "t", "a", "EX", "10"]);
        assert_eq!(s.run(&["APPEND", "t", "b"]), "2");
        s.advance_ms(10_000);
        assert_eq!(s.run(&["GET", "t"]), "(nil)", "APPEND keeps the deadline");
    }

    #[test]
    fn append_respects_the_string_limit() {
        let mut s = TestShard::default();
        s.shard.set_string_max_bytes(8);
        assert_eq!(s.run(&["APPEND", "k", "12345"]), "5");
        assert_eq!(s.run(&["APPEND", "k", "678"]), "8");
        assert_eq!(
            s.run(&["APPEND", "k", "9"]),
            "-ERR string exceeds maximum allowed size (proto-max-bulk-len)"
        );
        assert_eq!(s.run(&["GET", "k"]), "12345678");
    }

    #[test]
    fn getrange_and_substr() {
        let mut s = TestShard::default();
        assert_eq!(s.run(&["GETRANGE", "nokey", "0", "-1"]), "");
        s.run(&["SET", "s", "This is a string"]);
        for (start, end, want) in [
            ("0", "3", "This"),
            ("-3", "-1", "ing"),
            ("0", "-1", "This is a string"),
            ("10", "100", "string"),
            ("100", "200", ""),
            ("5", "3", ""),
            ("-1", "-5", ""),
            ("-100", "3", "This"),
            ("-100", "-50", "T"),
            ("-20", "-30", ""),
            ("-1", "0", ""),
            ("0", "0", "T"),
            (
                "-9223372036854775808",
                "9223372036854775807",
                "This is a string",
            ),
        ] {
            assert_eq!(s.run(&["GETRANGE", "s", start, end]), want, "{start} {end}");
        }
        assert_eq!(s.run(&["SUBSTR", "s", "-3", "-1"]), "ing");
        assert_eq!(s.run(&["GETRANGE", "s", "a", "0"]), NOT_INT);
        assert_eq!(s.run(&["GETRANGE", "nokey", "0", "a"]), NOT_INT);
        s.run(&["SET", "e", ""]);
        assert_eq!(s.run(&["GETRANGE", "e", "0", "-1"]), "");
        assert_eq!(s.run(&["GETRANGE", "e", "-1", "-1"]), "");
        assert_eq!(
            s.run(&["SUBSTR", "s", "1"]),
            "-ERR wrong number of arguments for 'substr' command"
        );
    }

    #[test]
    fn setrange_overwrites_and_pads() {
        let mut s = TestShard::default();
        s.run(&["SET", "h", "Hello World"]);
        assert_eq!(s.run(&["SETRANGE", "h", "6", "Redis"]), "11");
        assert_eq!(s.run(&["GET", "h"]), "Hello Redis");
        assert_eq!(s.run(&["SETRANGE", "h", "13", "!"]), "14");
        assert_eq!(value(&mut s, "h").unwrap(), b"Hello Redis\0\0!");
        assert_eq!(s.run(&["SETRANGE", "n", "2", "ab"]), "4");
        assert_eq!(value(&mut s, "n").unwrap(), b"\0\0ab");
        assert_eq!(s.run(&["SETRANGE", "n", "0", "xyz"]), "4");
        assert_eq!(s.run(&["GET", "n"]), "xyzb");
        let base = dirty(&s);
        assert_eq!(s.run(&["SETRANGE", "h", "1", ""]), "14");
        assert_eq!(s.run(&["SETRANGE", "m", "5", ""]), "0");
        assert_eq!(
            s.run(&["EXISTS", "m"]),
            "0",
            "writing nothing creates nothing"
        );
        assert_eq!(dirty(&s), base, "and changes nothing");
        s.run(&["SET", "t", "abc", "EX", "10"]);
        assert_eq!(s.run(&["SETRANGE", "t", "1", "X"]), "3");
        s.advance_ms(10_000);
        assert_eq!(s.run(&["GET", "t"]), "(nil)", "SETRANGE keeps the deadline");
    }

    #[test]
    fn setrange_errors() {
        let mut s = TestShard::default();
        s.shard.set_string_max_bytes(16);
        assert_eq!(
            s.run(&["SETRANGE", "k", "-1", "a"]),
            "-ERR offset is out of range"
        );
        assert_eq!(s.run(&["SETRANGE", "k", "a", "a"]), NOT_INT);
        let too_long = "-ERR string exceeds maximum allowed size (proto-max-bulk-len)";
        assert_eq!(s.run(&["SETRANGE", "k", "15", "a"]), "16");
        assert_eq!(s.run(&["SETRANGE", "k", "16", "a"]), too_long);
        assert_eq!(s.run(&["SETRANGE", "k", "15", "ab"]), too_long);
        assert_eq!(
            s.run(&["SETRANGE", "k", "9223372036854775807", "a"]),
            too_long
        );
        assert_eq!(s.run(&["SETRANGE", "new", "16", "a"]), too_long);
        assert_eq!(s.run(&["SETRANGE", "new", "9223372036854775807", ""]), "0");
        assert_eq!(s.run(&["STRLEN", "k"]), "16");
    }

    #[test]
    fn incr_and_decr() {
        let mut s = TestShard::default();
        assert_eq!(s.run(&["INCR", "n"]), "1");
        assert_eq!(s.run(&["INCR", "n"]), "2");
        assert_eq!(s.run(&["DECR", "n"]), "1");
        assert_eq!(s.run(&["INCRBY", "n", "10"]), "11");
        assert_eq!(s.run(&["DECRBY", "n", "3"]), "8");
        assert_eq!(s.run(&["INCRBY", "n", "-20"]), "-12");
        assert_eq!(s.run(&["DECRBY", "n", "-20"]), "8");
        assert_eq!(s.run(&["GET", "n"]), "8");
        assert_eq!(s.run(&["DECR", "m"]), "-1");
        assert_eq!(s.run(&["DECRBY", "o", "5"]), "-5");
        s.run(&["SET", "t", "1", "EX", "10"]);
        assert_eq!(s.run(&["INCR", "t"]), "2");
        s.advance_ms(10_000);
        assert_eq!(s.run(&["GET", "t"]), "(nil)", "INCR keeps the deadline");
    }

    #[test]
    fn incr_errors() {
        let mut s = TestShard::default();
        for v in [
            "foo",
            " 1",
            "+1",
            "01",
            "-0",
            "1.0",
            "",
            "12345678901234567890",
        ] {
            s.run(&["SET", "x", v]);
            assert_eq!(s.run(&["INCR", "x"]), NOT_INT, "{v:?}");
        }
        assert_eq!(s.run(&["INCRBY", "n", "abc"]), NOT_INT);
        assert_eq!(s.run(&["DECRBY", "n", "1.5"]), NOT_INT);
        let overflow = "-ERR increment or decrement would overflow";
        s.run(&["SET", "m", "9223372036854775807"]);
        assert_eq!(s.run(&["INCR", "m"]), overflow);
        assert_eq!(s.run(&["DECRBY", "m", "-1"]), overflow);
        assert_eq!(s.run(&["INCRBY", "m", "0"]), "9223372036854775807");
        s.run(&["SET", "m", "-9223372036854775808"]);
        assert_eq!(s.run(&["DECR", "m"]), overflow);
        assert_eq!(s.run(&["DECRBY", "m", "9223372036854775807"]), overflow);
        assert_eq!(s.run(&["GET", "m"]), "-9223372036854775808");
        assert_eq!(
            s.run(&["DECRBY", "m", "-9223372036854775808"]),
            "-ERR decrement would overflow"
        );
        assert_eq!(
            s.run(&["INCRBY", "new", "-9223372036854775808"]),
            "-9223372036854775808"
        );
    }

    #[test]
    fn incrbyfloat() {
        let mut s = TestShard::default();
        assert_eq!(s.run(&["INCRBYFLOAT", "f", "10.5"]), "10.5");
        assert_eq!(s.run(&["INCRBYFLOAT", "f", "0.1"]), "10.6");
        assert_eq!(s.run(&["INCRBYFLOAT", "f", "-5"]), "5.6");
        assert_eq!(s.run(&["GET", "f"]), "5.6");
        for (start, incr, want) in [
            ("5.0e3", "2.0e2", "5200"),
            ("3.0", "1.000000000000000000000", "4"),
            ("314e-2", "0", "3.14"),
            ("10", "1.25", "11.25"),
            ("3", "-3", "0"),
            ("0", ".5", "0.5"),
            ("0", "5.", "5"),
            ("0", "1e20", "100000000000000000000"),
            ("0.1", "0.2", "0.3"),
            ("0x10", "0x1p-2", "16.25"),
            ("123456789012345678", "1", "123456789012345679"),
        ] {
            s.run(&["SET", "g", start]);
            assert_eq!(s.run(&["INCRBYFLOAT", "g", incr]), want, "{start} + {incr}");
        }
        s.run(&["SET", "t", "1", "PX", "100"]);
        assert_eq!(s.run(&["INCRBYFLOAT", "t", "1"]), "2");
        s.advance_ms(100);
        assert_eq!(
            s.run(&["GET", "t"]),
            "(nil)",
            "INCRBYFLOAT keeps the deadline"
        );
    }

    #[test]
    fn incrbyfloat_errors() {
        let mut s = TestShard::default();
        let not_float = "-ERR value is not a valid float";
        for bad in ["abc", "", " 1", "1 ", "nan", "1.5.5"] {
            assert_eq!(s.run(&["INCRBYFLOAT", "f", bad]), not_float, "{bad:?}");
        }
        s.run(&["SET", "g", "foo"]);
        assert_eq!(s.run(&["INCRBYFLOAT", "g", "1"]), not_float);
        let nan_inf = "-ERR increment would produce NaN or Infinity";
        assert_eq!(s.run(&["INCRBYFLOAT", "f", "inf"]), nan_inf);
        assert_eq!(s.run(&["INCRBYFLOAT", "f", "-inf"]), nan_inf);
        s.run(&["SET", "h", "1e308"]);
        assert_eq!(
            s.run(&["INCRBYFLOAT", "h", "1e308"]).len(),
            309,
            "long double"
        );
        s.run(&["SET", "h", "1e308"]);
        assert_eq!(s.run(&["INCRBYFLOAT", "h", "1.2e4932"]), not_float);
        s.run(&["SET", "h", "1.1e4932"]);
        assert_eq!(s.run(&["INCRBYFLOAT", "h", "1.1e4932"]), nan_inf);
        s.run(&["SET", "i", "inf"]);
        assert_eq!(s.run(&["INCRBYFLOAT", "i", "1"]), nan_inf);
        assert_eq!(s.run(&["EXISTS", "f"]), "0");
        assert_eq!(s.run(&["GET", "h"]), "1.1e4932");
    }

    #[test]
    fn getbit_and_setbit() {
        let mut s = TestShard::default();
        assert_eq!(s.run(&["GETBIT", "nokey", "0"]), "0");
        assert_eq!(s.run(&["SETBIT", "b", "7", "1"]), "0");
        assert_eq!(value(&mut s, "b").unwrap(), b"\x01");
        assert_eq!(s.run(&["GETBIT", "b", "7"]), "1");
        assert_eq!(s.run(&["GETBIT", "b", "6"]), "0");
        assert_eq!(s.run(&["GETBIT", "b", "100"]), "0", "past the end reads 0");
        assert_eq!(s.run(&["SETBIT", "b", "7", "0"]), "1");
        assert_eq!(s.run(&["SETBIT", "b", "0", "1"]), "0");
        assert_eq!(s.run(&["SETBIT", "b", "23", "1"]), "0");
        assert_eq!(
            value(&mut s, "b").unwrap(),
            b"\x80\x00\x01",
            "grown with zeros"
        );
        s.run(&["SET", "a", "a"]);
        assert_eq!(s.run(&["GETBIT", "a", "1"]), "1");
        assert_eq!(s.run(&["GETBIT", "a", "2"]), "1");
        assert_eq!(s.run(&["GETBIT", "a", "3"]), "0");
        assert_eq!(s.run(&["SETBIT", "a", "6", "1"]), "0");
        assert_eq!(s.run(&["GET", "a"]), "c");
        s.run(&["SET", "t", "a", "EX", "10"]);
        s.run(&["SETBIT", "t", "100", "1"]);
        s.advance_ms(10_000);
        assert_eq!(s.run(&["GET", "t"]), "(nil)", "SETBIT keeps the deadline");
    }

    #[test]
    fn setbit_counts_a_change_only_when_something_changed() {
        let mut s = TestShard::default();
        s.run(&["SETBIT", "b", "3", "1"]);
        assert_eq!(dirty(&s), 1);
        s.run(&["SETBIT", "b", "3", "1"]);
        assert_eq!(dirty(&s), 1, "same bit");
        s.run(&["SETBIT", "b", "3", "0"]);
        assert_eq!(dirty(&s), 2);
        s.run(&["SETBIT", "b", "100", "0"]);
        assert_eq!(dirty(&s), 3, "the string grew");
        s.run(&["SETBIT", "b", "100", "0"]);
        assert_eq!(dirty(&s), 3);
    }

    #[test]
    fn bit_offset_and_value_errors() {
        let mut s = TestShard::default();
        let offset = "-ERR bit offset is not an integer or out of range";
        let bit = "-ERR bit is not an integer or out of range";
        for cmd in [&["SETBIT", "b", "-1", "1"][..], &["GETBIT", "b", "-1"]] {
            assert_eq!(s.run(cmd), offset);
        }
        assert_eq!(s.run(&["SETBIT", "b", "a", "1"]), offset);
        assert_eq!(s.run(&["GETBIT", "b", "1.5"]), offset);
        assert_eq!(s.run(&["SETBIT", "b", "4294967296", "1"]), offset);
        assert_eq!(s.run(&["GETBIT", "b", "4294967296"]), offset);
        assert_eq!(s.run(&["SETBIT", "b", "9223372036854775807", "1"]), offset);
        assert_eq!(s.run(&["SETBIT", "b", "a", "2"]), offset, "offset first");
        for v in ["2", "-1", "a", ""] {
            assert_eq!(s.run(&["SETBIT", "b", "1", v]), bit, "{v:?}");
        }
        s.shard.set_string_max_bytes(4);
        assert_eq!(s.run(&["SETBIT", "b", "31", "1"]), "0");
        assert_eq!(s.run(&["SETBIT", "b", "32", "1"]), offset);
        assert_eq!(s.run(&["GETBIT", "b", "32"]), offset);
        assert_eq!(s.run(&["STRLEN", "b"]), "4");
    }

    #[test]
    fn bitcount() {
        let mut s = TestShard::default();
        s.run(&["SET", "k", "foobar"]);
        for (args, want) in [
            (&[][..], "26"),
            (&["0", "0"], "4"),
            (&["1", "1"], "6"),
            (&["1", "1", "BYTE"], "6"),
            (&["5", "30", "BIT"], "17"),
            (&["5", "30", "bit"], "17"),
            (&["0", "-1", "BIT"], "26"),
            (&["-1", "-1", "BIT"], "0"),
            (&["-8", "-1", "BIT"], "4"),
            (&["3", "3", "BIT"], "0"),
            (&["1", "6", "BIT"], "4"),
            (&["46", "1000", "BIT"], "1"),
            (&["-1", "-5"], "0"),
            (&["5", "1"], "0"),
            (&["-100", "100"], "26"),
            (&["100", "200"], "0"),
            (&["-100", "-50"], "4"),
        ] {
            let mut cmd = vec!["BITCOUNT", "k"];
            cmd.extend_from_slice(args);
            assert_eq!(s.run(&cmd), want, "{args:?}");
        }
        s.run(&["SET", "e", ""]);
        assert_eq!(s.run(&["BITCOUNT", "e"]), "0");
        assert_eq!(s.run(&["BITCOUNT", "e", "0", "-1", "BIT"]), "0");
        let ones = [0xffu8; 19];
        run_bytes(&mut s, &[b"SET", b"big", &ones]);
        assert_eq!(s.run(&["BITCOUNT", "big"]), "152", "whole words and a tail");
        assert_eq!(s.run(&["BITCOUNT", "big", "1", "-2"]), "136");
        assert_eq!(s.run(&["BITCOUNT", "big", "3", "149", "BIT"]), "147");
    }

    #[test]
    fn bitcount_errors() {
        let mut s = TestShard::default();
        assert_eq!(
            s.run(&["BITCOUNT", "nokey", "0"]),
            "0",
            "Redis 7.0: key first"
        );
        assert_eq!(s.run(&["BITCOUNT", "nokey", "a", "b", "FOO"]), "0");
        s.run(&["SET", "k", "foobar"]);
        assert_eq!(s.run(&["BITCOUNT", "k", "0"]), SYNTAX);
        assert_eq!(s.run(&["BITCOUNT", "k", "0", "1", "FOO"]), SYNTAX);
        assert_eq!(s.run(&["BITCOUNT", "k", "0", "1", "BIT", "x"]), SYNTAX);
        assert_eq!(s.run(&["BITCOUNT", "k", "a", "1"]), NOT_INT);
        assert_eq!(s.run(&["BITCOUNT", "k", "0", "a", "FOO"]), NOT_INT);
    }

    #[test]
    fn bitpos_finds_set_and_clear_bits() {
        let mut s = TestShard::default();
        run_bytes(&mut s, &[b"SET", b"k", b"\xff\xf0\x00"]);
        assert_eq!(s.run(&["BITPOS", "k", "0"]), "12");
        assert_eq!(s.run(&["BITPOS", "k", "1"]), "0");
        run_bytes(&mut s, &[b"SET", b"k", b"\x00\xff\xf0"]);
        assert_eq!(s.run(&["BITPOS", "k", "1", "0"]), "8");
        assert_eq!(s.run(&["BITPOS", "k", "1", "2"]), "16");
        assert_eq!(s.run(&["BITPOS", "k", "1", "2", "-1", "BYTE"]), "16");
        assert_eq!(s.run(&["BITPOS", "k", "1", "7", "15", "BIT"]), "8");
        assert_eq!(s.run(&["BITPOS", "k", "1", "7", "-3", "bit"]), "8");
        run_bytes(&mut s, &[b"SET", b"z", b"\x00\x00\x01"]);
        assert_eq!(s.run(&["BITPOS", "z", "1", "9", "22", "BIT"]), "-1");
        assert_eq!(s.run(&["BITPOS", "z", "1", "9", "23", "BIT"]), "23");
        assert_eq!(s.run(&["BITPOS", "z", "0", "22", "22", "BIT"]), "22");
        assert_eq!(s.run(&["BITPOS", "z", "0", "23", "23", "BIT"]), "-1");
        run_bytes(&mut s, &[b"SET", b"w", b"\xff\x80\xff"]);
        assert_eq!(s.run(&["BITPOS", "w", "0", "9", "15", "BIT"]), "9");
        assert_eq!(s.run(&["BITPOS", "w", "1", "12", "14", "BIT"]), "-1");
        assert_eq!(s.run(&["BITPOS", "w", "0", "7", "9", "BIT"]), "9");
        assert_eq!(s.run(&["BITPOS", "w", "1", "1", "1"]), "8");
    }

    #[test]
    fn bitpos_when_no_bit_is_found() {
        let mut s = TestShard::default();
        assert_eq!(s.run(&["BITPOS", "nokey", "0"]), "0");
        assert_eq!(s.run(&["BITPOS", "nokey", "1"]), "-1");
        run_bytes(&mut s, &[b"SET", b"zeros", b"\x00\x00\x00"]);
        assert_eq!(s.run(&["BITPOS", "zeros", "1"]), "-1");
        run_bytes(&mut s, &[b"SET", b"ones", b"\xff\xff\xff"]);
        // Without an end, a clear bit is found just past the range (zero padding)...
        assert_eq!(s.run(&["BITPOS", "ones", "0"]), "24");
        assert_eq!(s.run(&["BITPOS", "ones", "0", "1"]), "24");
        assert_eq!(s.run(&["BITPOS", "ones", "0", "-1"]), "24");
        // ...with an end it is not found.
        assert_eq!(s.run(&["BITPOS", "ones", "0", "0", "-1"]), "-1");
        assert_eq!(s.run(&["BITPOS", "ones", "0", "1", "1"]), "-1");
        assert_eq!(s.run(&["BITPOS", "ones", "0", "3", "5", "BIT"]), "-1");
        // An empty range holds neither bit.
        assert_eq!(s.run(&["BITPOS", "ones", "0", "100"]), "-1");
        assert_eq!(s.run(&["BITPOS", "ones", "0", "2", "1"]), "-1");
        assert_eq!(s.run(&["BITPOS", "ones", "1", "-1", "-5"]), "-1");
        assert_eq!(
            s.run(&["BITPOS", "ones", "1", "-100", "-50"]),
            "0",
            "both clamp to 0"
        );
        s.run(&["SET", "e", ""]);
        assert_eq!(s.run(&["BITPOS", "e", "0"]), "-1");
        assert_eq!(s.run(&["BITPOS", "e", "1"]), "-1");
        assert_eq!(s.run(&["BITPOS", "e", "0", "0", "-1"]), "-1");
    }

    #[test]
    fn bitpos_errors() {
        let mut s = TestShard::default();
        let bit = "-ERR The bit argument must be 1 or 0.";
        assert_eq!(s.run(&["BITPOS", "nokey", "2"]), bit);
        assert_eq!(s.run(&["BITPOS", "nokey", "-1"]), bit);
        assert_eq!(s.run(&["BITPOS", "nokey", "a"]), NOT_INT);
        assert_eq!(
            s.run(&["BITPOS", "nokey", "1", "a", "b", "c"]),
            "-1",
            "Redis 7.0: key first"
        );
        s.run(&["SET", "k", "abc"]);
        assert_eq!(s.run(&["BITPOS", "k", "1", "a"]), NOT_INT);
        assert_eq!(s.run(&["BITPOS", "k", "1", "0", "a"]), NOT_INT);
        assert_eq!(
            s.run(&["BITPOS", "k", "1", "0", "BIT"]),
            NOT_INT,
            "BIT needs an end"
        );
        assert_eq!(
            s.run(&["BITPOS", "k", "1", "0", "a", "FOO"]),
            SYNTAX,
            "unit before end"
        );
        assert_eq!(s.run(&["BITPOS", "k", "1", "0", "1", "FOO"]), SYNTAX);
        assert_eq!(s.run(&["BITPOS", "k", "1", "0", "1", "BIT", "x"]), SYNTAX);
    }

    #[test]
    fn bitop() {
        let mut s = TestShard::default();
        run_bytes(&mut s, &[b"SET", b"a", b"\xf0\x0f"]);
        run_bytes(&mut s, &[b"SET", b"b", b"\xff"]);
        for (op, want) in [
            ("AND", &b"\xf0\x00"[..]),
            ("or", b"\xff\x0f"),
            ("XOR", b"\x0f\x0f"),
        ] {
            assert_eq!(s.run(&["BITOP", op, "d", "a", "b"]), "2", "{op}");
            assert_eq!(value(&mut s, "d").unwrap(), want, "{op}");
        }
        assert_eq!(s.run(&["BITOP", "NOT", "d", "a"]), "2");
        assert_eq!(value(&mut s, "d").unwrap(), b"\x0f\xf0");
        assert_eq!(s.run(&["BITOP", "AND", "d", "a", "nokey"]), "2");
        assert_eq!(
            value(&mut s, "d").unwrap(),
            b"\x00\x00",
            "missing reads as zeros"
        );
        assert_eq!(s.run(&["BITOP", "OR", "d", "b", "nokey"]), "1");
        assert_eq!(value(&mut s, "d").unwrap(), b"\xff");
        assert_eq!(s.run(&["BITOP", "XOR", "d", "a", "a", "a"]), "2");
        assert_eq!(value(&mut s, "d").unwrap(), b"\xf0\x0f");
        assert_eq!(
            s.run(&["BITOP", "OR", "a", "a", "b"]),
            "2",
            "destination among sources"
        );
        assert_eq!(value(&mut s, "a").unwrap(), b"\xff\x0f");
    }

    #[test]
    fn bitop_empty_results_delete_the_destination() {
        let mut s = TestShard::default();
        s.run(&["SET", "d", "old", "EX", "10"]);
        assert_eq!(s.run(&["BITOP", "OR", "d", "nokey1", "nokey2"]), "0");
        assert_eq!(s.run(&["EXISTS", "d"]), "0");
        s.run(&["SET", "e", ""]);
        assert_eq!(s.run(&["BITOP", "NOT", "d", "e"]), "0");
        assert_eq!(s.run(&["EXISTS", "d"]), "0");
        s.run(&["SET", "d", "old", "EX", "10"]);
        s.run(&["SET", "x", "x"]);
        assert_eq!(s.run(&["BITOP", "AND", "d", "x"]), "1");
        s.advance_ms(10_000);
        assert_eq!(s.run(&["GET", "d"]), "x", "the result has no deadline");
    }

    #[test]
    fn bitop_errors() {
        let mut s = TestShard::default();
        assert_eq!(s.run(&["BITOP", "FOO", "d", "a"]), SYNTAX);
        let not = "-ERR BITOP NOT must be called with a single source key.";
        assert_eq!(s.run(&["BITOP", "NOT", "d", "a", "b"]), not);
        assert_eq!(
            s.run(&["BITOP", "AND", "d"]),
            "-ERR wrong number of arguments for 'bitop' command"
        );
    }

    #[test]
    fn mset_mget_msetnx() {
        let mut s = TestShard::default();
        assert_eq!(s.run(&["MSET", "a", "1", "b", "2"]), "OK");
        assert_eq!(s.run(&["MGET", "a", "b", "c"]), "[1, 2, (nil)]");
        assert_eq!(
            s.run(&["MSET", "a", "1", "b"]),
            "-ERR wrong number of arguments for 'mset' command"
        );
        assert_eq!(
            s.run(&["MSETNX", "a", "1", "b"]),
            "-ERR wrong number of arguments for 'msetnx' command"
        );
        assert_eq!(s.run(&["MSETNX", "c", "3", "a", "9"]), "0");
        assert_eq!(s.run(&["MSETNX", "c", "3", "d", "4"]), "1");
        assert_eq!(s.run(&["MGET", "a", "c", "d"]), "[1, 3, 4]");
    }

    #[test]
    fn reads_count_keyspace_hits_and_misses_writes_do_not() {
        let mut s = TestShard::default();
        s.run(&["SET", "a", "1"]);
        for read in [
            &["GET", "a"][..],
            &["STRLEN", "a"],
            &["GETRANGE", "a", "0", "1"],
            &["GETBIT", "a", "0"],
            &["BITCOUNT", "a"],
            &["BITPOS", "a", "1"],
            &["GETEX", "a"],
            &["SET", "a", "1", "GET"],
            &["GETSET", "a", "1"],
        ] {
            let (hits, misses) = hits_misses(&s);
            s.run(read);
            assert_eq!(hits_misses(&s), (hits + 1, misses), "{read:?}");
        }
        let (hits, misses) = hits_misses(&s);
        s.run(&["MGET", "a", "x", "a"]);
        s.run(&["BITOP", "AND", "d", "a", "x"]);
        s.run(&["GETDEL", "x"]);
        assert_eq!(hits_misses(&s), (hits + 3, misses + 3));
        let before = hits_misses(&s);
        for write in [
            &["SET", "a", "1"][..],
            &["SET", "a", "1", "NX"],
            &["SETNX", "a", "1"],
            &["APPEND", "a", "1"],
            &["INCR", "a"],
            &["INCRBYFLOAT", "a", "1"],
            &["SETRANGE", "a", "0", "1"],
            &["SETBIT", "a", "0", "1"],
            &["MSETNX", "a", "1"],
        ] {
            s.run(write);
        }
        assert_eq!(hits_misses(&s), before);
    }

    #[test]
    fn table_rows() {
        let t = table();
        let bitop = t.get(b"bitop").unwrap();
        let args: Vec<Bytes> = ["bitop", "and", "d", "a", "b"]
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect();
        assert_eq!(
            bitop.key_indices(&args).collect::<Vec<_>>(),
            vec![2, 3, 4],
            "the operation is not a key"
        );
        assert_eq!(t.get(b"substr").unwrap().arity, 4);
        assert_eq!(t.get(b"bitcount").unwrap().group, "bitmap");
        for name in [
            "get", "strlen", "getbit", "getrange", "bitcount", "bitpos", "mget",
        ] {
            let spec = t.get(name.as_bytes()).unwrap();
            assert!(
                spec.has(super::READONLY) && !spec.has(super::WRITE),
                "{name}"
            );
        }
        for name in ["getdel", "getex"] {
            let spec = t.get(name.as_bytes()).unwrap();
            assert!(
                spec.has(super::WRITE) && !spec.has(super::DENYOOM),
                "{name}"
            );
        }
    }
}
