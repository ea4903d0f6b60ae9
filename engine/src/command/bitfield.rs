//! `BITFIELD` and `BITFIELD_RO`: a string as an array of signed (up to 64 bits) and
//! unsigned (up to 63 bits) integers at any bit offset, most significant bit first,
//! as Redis 7.0's `bitfieldGeneric` (`bitops.c`) runs them: every subcommand parsed
//! before the key is touched, then the key looked up (a read when every subcommand
//! is `GET`, else a write that first grows the string with zeros past the highest
//! bit any `SET` or `INCRBY` names), then the subcommands in order, each seeing the
//! ones before it. `OVERFLOW WRAP|SAT|FAIL` applies to the `SET`s and `INCRBY`s after
//! it; a `FAIL` overflow answers nil and writes nothing.
//!
//! Each write goes through the keyspace door as the bytes it changes, so the journal
//! holds the string's changed range, as for `SETRANGE`.

use bytes::Bytes;

use super::flags::*;
use super::{row, CommandSpec, Route, KEY1};
use crate::command::ctx::{read_typed, write_typed, Ctx};
use crate::cursor::ArgCursor;
use crate::error::{CmdError, CmdResult};
use crate::keyspace::{WriteGuard, NO_EXPIRE};
use crate::resp::{parse_i64, Reply, ReplyBuf};
use crate::value::Value;

const TYPE_ERROR: &str =
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
const OVERFLOW_ERROR: &str = "ERR Invalid OVERFLOW type specified";
const READONLY_ERROR: &str = "ERR BITFIELD_RO only supports the GET subcommand";
/// Widest signed and unsigned fields.
const SIGNED_BITS_MAX: u32 = 64;
const UNSIGNED_BITS_MAX: u32 = 63;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpKind {
    Get,
    Set,
    IncrBy,
}

/// One parsed subcommand.
#[derive(Debug, Clone, Copy)]
struct Op {
    kind: OpKind,
    signed: bool,
    bits: u32,
    offset: u64,
    /// `SET`'s value or `INCRBY`'s increment.
    value: i64,
    overflow: Overflow,
}

/// `i<bits>` (1..=64) or `u<bits>` (1..=63), lower case as Redis reads them.
fn parse_type(arg: &[u8]) -> CmdResult<(bool, u32)> {
    let err = || CmdError::Raw(TYPE_ERROR.into());
    let (signed, digits) = match arg.split_first() {
        Some((b'i', rest)) => (true, rest),
        Some((b'u', rest)) => (false, rest),
        _ => return Err(err()),
    };
    let max = if signed {
        SIGNED_BITS_MAX
    } else {
        UNSIGNED_BITS_MAX
    };
    match parse_i64(digits) {
        Some(bits) if bits >= 1 && bits <= max as i64 => Ok((signed, bits as u32)),
        _ => Err(err()),
    }
}

/// A bit offset, or `#n` for the `n`-th field of this width; below
/// `proto-max-bulk-len` bytes.
fn parse_offset(arg: &[u8], bits: u32, string_max_bytes: usize) -> CmdResult<u64> {
    let (hash, digits) = match arg.split_first() {
        Some((b'#', rest)) => (true, rest),
        _ => (false, arg),
    };
    let mut offset = parse_i64(digits).ok_or(CmdError::BitOffset)?;
    if hash {
        offset = offset.wrapping_mul(bits as i64);
    }
    if offset < 0 || (offset >> 3) as u64 >= string_max_bytes as u64 {
        return Err(CmdError::BitOffset);
    }
    Ok(offset as u64)
}

/// Every subcommand, in order, with the overflow mode in force for each.
fn parse_ops(c: &mut ArgCursor, string_max_bytes: usize) -> CmdResult<Vec<Op>> {
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    while let Some(sub) = c.next_opt() {
        let remaining = c.remaining();
        let kind = if sub.eq_ignore_ascii_case(b"GET") && remaining >= 2 {
            OpKind::Get
        } else if sub.eq_ignore_ascii_case(b"SET") && remaining >= 3 {
            OpKind::Set
        } else if sub.eq_ignore_ascii_case(b"INCRBY") && remaining >= 3 {
            OpKind::IncrBy
        } else if sub.eq_ignore_ascii_case(b"OVERFLOW") && remaining >= 1 {
            let mode = c.arg()?;
            overflow = [
                (Overflow::Wrap, "WRAP"),
                (Overflow::Sat, "SAT"),
                (Overflow::Fail, "FAIL"),
            ]
            .into_iter()
            .find(|(_, name)| mode.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(o, _)| o)
            .ok_or_else(|| CmdError::Raw(OVERFLOW_ERROR.into()))?;
            continue;
        } else {
            return Err(CmdError::Syntax);
        };
        let (signed, bits) = parse_type(c.arg()?)?;
        let offset = parse_offset(c.arg()?, bits, string_max_bytes)?;
        let value = match kind {
            OpKind::Get => 0,
            OpKind::Set | OpKind::IncrBy => c.next_i64()?,
        };
        ops.push(Op {
            kind,
            signed,
            bits,
            offset,
            value,
            overflow,
        });
    }
    Ok(ops)
}

/// `bits` bits of `s` from bit `offset`, most significant first; bits past the end
/// read as zero.
fn get_unsigned(s: &[u8], offset: u64, bits: u32) -> u64 {
    (offset..offset + bits as u64).fold(0, |value, o| {
        let byte = s.get((o >> 3) as usize).copied().unwrap_or(0);
        (value << 1) | ((byte >> (7 - (o & 7))) & 1) as u64
    })
}

/// [`get_unsigned`] with the top bit as the sign.
fn get_signed(s: &[u8], offset: u64, bits: u32) -> i64 {
    let value = get_unsigned(s, offset, bits);
    if bits < 64 && value & (1 << (bits - 1)) != 0 {
        (value | (u64::MAX << bits)) as i64
    } else {
        value as i64
    }
}

/// The bytes covering bits `offset..offset + bits` of `s` (zero past its end) with
/// those bits replaced by the low `bits` bits of `value`; and the first byte's index.
fn with_field(s: &[u8], offset: u64, bits: u32, value: u64) -> (usize, Vec<u8>) {
    let first = (offset >> 3) as usize;
    let last = ((offset + bits as u64 - 1) >> 3) as usize;
    let mut buf: Vec<u8> = (first..=last)
        .map(|i| s.get(i).copied().unwrap_or(0))
        .collect();
    for j in 0..bits as u64 {
        let bit = ((value >> (bits as u64 - 1 - j)) & 1) as u8;
        let o = offset + j - (first as u64) * 8;
        let shift = 7 - (o & 7);
        let b = &mut buf[(o >> 3) as usize];
        *b = (*b & !(1 << shift)) | (bit << shift);
    }
    (first, buf)
}

/// Redis's `checkUnsignedBitfieldOverflow`: whether `value + incr` leaves the field,
/// and the value the overflow mode gives then (wrapped or saturated).
fn unsigned_overflow(value: u64, incr: i64, bits: u32, mode: Overflow) -> Option<u64> {
    let max = (1u64 << bits) - 1;
    let max_incr = max.wrapping_sub(value) as i64;
    let min_incr = value.wrapping_neg() as i64;
    let wrap = || value.wrapping_add(incr as u64) & !(u64::MAX << bits);
    if value > max || (incr > 0 && incr > max_incr) {
        Some(match mode {
            Overflow::Sat => max,
            _ => wrap(),
        })
    } else if incr < 0 && incr < min_incr {
        Some(match mode {
            Overflow::Sat => 0,
            _ => wrap(),
        })
    } else {
        None
    }
}

/// Redis's `checkSignedBitfieldOverflow`, likewise.
fn signed_overflow(value: i64, incr: i64, bits: u32, mode: Overflow) -> Option<i64> {
    let max = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let max_incr = (max as u64).wrapping_sub(value as u64) as i64;
    let min_incr = min.wrapping_sub(value);
    let wrap = || {
        let c = (value as u64).wrapping_add(incr as u64);
        if bits == 64 {
            return c as i64;
        }
        let mask = u64::MAX << bits;
        match c & (1 << (bits - 1)) != 0 {
            true => (c | mask) as i64,
            false => (c & !mask) as i64,
        }
    };
    let wide = bits != 64;
    if value > max || (wide && incr > max_incr) || (value >= 0 && incr > 0 && incr > max_incr) {
        Some(match mode {
            Overflow::Sat => max,
            _ => wrap(),
        })
    } else if value < min || (wide && incr < min_incr) || (value < 0 && incr < 0 && incr < min_incr)
    {
        Some(match mode {
            Overflow::Sat => min,
            _ => wrap(),
        })
    } else {
        None
    }
}

/// The string a write command works on: the stored one through the door, or a new
/// one not stored yet.
enum Target<'k> {
    Stored(WriteGuard<'k>),
    New(Vec<u8>),
}

impl Target<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            Target::Stored(g) => g.str(),
            Target::New(v) => v,
        }
    }

    /// Writes `bytes` at byte `at` when they differ from what is there.
    fn write(&mut self, at: usize, bytes: &[u8]) {
        match self {
            Target::Stored(g) => {
                if g.str().get(at..at + bytes.len()) != Some(bytes) {
                    g.write_at(at, bytes);
                }
            }
            Target::New(v) => v[at..at + bytes.len()].copy_from_slice(bytes),
        }
    }
}

/// Runs a `SET` or `INCRBY`: the reply (`None`: a `FAIL` overflow, nothing written)
/// and the field's new value.
fn apply(op: &Op, s: &[u8]) -> (Option<i64>, u64) {
    if op.signed {
        let old = get_signed(s, op.offset, op.bits);
        let (new, overflowed, reply) = match op.kind {
            OpKind::IncrBy => match signed_overflow(old, op.value, op.bits, op.overflow) {
                Some(w) => (w, true, w),
                None => {
                    let new = old.wrapping_add(op.value);
                    (new, false, new)
                }
            },
            _ => match signed_overflow(op.value, 0, op.bits, op.overflow) {
                Some(w) => (w, true, old),
                None => (op.value, false, old),
            },
        };
        let failed = overflowed && op.overflow == Overflow::Fail;
        ((!failed).then_some(reply), new as u64)
    } else {
        let old = get_unsigned(s, op.offset, op.bits);
        let (new, overflowed, reply) = match op.kind {
            OpKind::IncrBy => match unsigned_overflow(old, op.value, op.bits, op.overflow) {
                Some(w) => (w, true, w),
                None => {
                    let new = old.wrapping_add(op.value as u64);
                    (new, false, new)
                }
            },
            _ => match unsigned_overflow(op.value as u64, 0, op.bits, op.overflow) {
                Some(w) => (w, true, old),
                None => (op.value as u64, false, old),
            },
        };
        let failed = overflowed && op.overflow == Overflow::Fail;
        ((!failed).then_some(reply as i64), new)
    }
}

/// A `GET`'s reply.
fn get(op: &Op, s: &[u8]) -> i64 {
    match op.signed {
        true => get_signed(s, op.offset, op.bits),
        false => get_unsigned(s, op.offset, op.bits) as i64,
    }
}

fn bitfield_generic(ctx: &mut Ctx, args: &[Bytes], readonly_cmd: bool) -> CmdResult {
    let mut c = ArgCursor::new(args);
    let key = c.arg()?;
    let ops = parse_ops(&mut c, ctx.string_max_bytes)?;
    let writes = ops.iter().filter(|op| op.kind != OpKind::Get);
    let Some(highest_bit) = writes.map(|op| op.offset + op.bits as u64 - 1).max() else {
        let s = read_typed(ctx.ks, ctx.db, key, ctx.now_ms, Value::as_str)?;
        let s = s.unwrap_or_default();
        ctx.out.array(ops.len());
        ops.iter().for_each(|op| ctx.out.int(get(op, s)));
        return Ok(());
    };
    if readonly_cmd {
        return Err(CmdError::Raw(READONLY_ERROR.into()));
    }
    let len = (highest_bit >> 3) as usize + 1;
    let existing = write_typed(ctx.ks, ctx.db, key, ctx.now_ms, Value::as_str)?;
    // As in Redis, the key is signalled and `setbit` notified when a write that ran
    // changed the bytes or the string grew, and not when every write failed (even
    // though the string was created or grew).
    match existing {
        Some(guard) => {
            let mut target = Target::Stored(guard);
            let wrote = run_ops(&mut target, len, &ops, ctx.out);
            if let (Target::Stored(mut guard), false) = (target, wrote) {
                guard.unreported();
            }
        }
        None => {
            drop(existing);
            let mut target = Target::New(vec![0; len]);
            let wrote = run_ops(&mut target, len, &ops, ctx.out);
            if let Target::New(v) = target {
                let v = Value::Str(v.into());
                match wrote {
                    true => ctx.ks.add(ctx.db, key, v, NO_EXPIRE),
                    false => ctx.ks.add_unreported(ctx.db, key, v),
                }
            }
        }
    }
    Ok(())
}

/// Grows the string to `len` bytes with zeros, then runs every subcommand on it;
/// returns whether a `SET` or `INCRBY` wrote (did not fail).
fn run_ops(target: &mut Target, len: usize, ops: &[Op], out: &mut ReplyBuf) -> bool {
    let grow_from = target.bytes().len();
    if grow_from < len {
        target.write(grow_from, &vec![0; len - grow_from]);
    }
    out.array(ops.len());
    let mut wrote = false;
    for op in ops {
        if op.kind == OpKind::Get {
            out.int(get(op, target.bytes()));
            continue;
        }
        let (reply, new) = apply(op, target.bytes());
        match reply {
            Some(r) => {
                out.int(r);
                let (at, bytes) = with_field(target.bytes(), op.offset, op.bits, new);
                target.write(at, &bytes);
                wrote = true;
            }
            None => out.null(),
        }
    }
    wrote
}

/// `BITFIELD key [GET type offset | SET type offset value | INCRBY type offset
/// increment | OVERFLOW WRAP|SAT|FAIL] ...`
fn bitfield(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    bitfield_generic(ctx, args, false)
}

/// `BITFIELD_RO key [GET type offset] ...`
fn bitfield_ro(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    bitfield_generic(ctx, args, true)
}

pub const COMMANDS: &[CommandSpec] = &[
    row(
        "bitfield",
        -2,
        WRITE | DENYOOM,
        KEY1,
        "bitmap",
        "Performs arbitrary bitfield integer operations on strings.",
        Route::Shard(bitfield),
    ),
    row(
        "bitfield_ro",
        -2,
        READONLY | FAST,
        KEY1,
        "bitmap",
        "Performs arbitrary read-only bitfield integer operations on strings.",
        Route::Shard(bitfield_ro),
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_read_and_write_most_significant_bit_first() {
        let s = [0b1010_0000, 0xff];
        assert_eq!(get_unsigned(&s, 0, 3), 0b101);
        assert_eq!(get_signed(&s, 0, 3), -3);
        assert_eq!(get_unsigned(&s, 12, 8), 0xf0);
        assert_eq!(get_signed(&s, 8, 64), 0xff << 56);
        let (at, bytes) = with_field(&s, 6, 4, 0b1111);
        assert_eq!((at, bytes), (0, vec![0b1010_0011, 0b1111_1111]));
    }

    #[test]
    fn overflow_modes_at_both_ends() {
        use Overflow::*;
        assert_eq!(unsigned_overflow(250, 10, 8, Wrap), Some(4));
        assert_eq!(unsigned_overflow(250, 10, 8, Sat), Some(255));
        assert_eq!(unsigned_overflow(5, -10, 8, Sat), Some(0));
        assert_eq!(unsigned_overflow(5, -5, 8, Wrap), None);
        assert_eq!(signed_overflow(100, 100, 8, Wrap), Some(-56));
        assert_eq!(signed_overflow(-100, -100, 8, Sat), Some(-128));
        assert_eq!(signed_overflow(i64::MAX, 1, 64, Wrap), Some(i64::MIN));
        assert_eq!(signed_overflow(i64::MIN, -1, 64, Sat), Some(i64::MIN));
        assert_eq!(signed_overflow(-1, i64::MIN, 64, Fail), Some(i64::MAX));
        assert_eq!(signed_overflow(-1, i64::MIN + 1, 64, Fail), None);
    }
}
