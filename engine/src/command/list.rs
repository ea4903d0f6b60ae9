//! The list family: `LPUSH`, `RPUSH`, their `X` forms, `LPOP`/`RPOP` (with a count),
//! `LLEN`, `LINDEX`, `LSET`, `LINSERT`, `LPOS`, `LRANGE`, `LREM`, `LTRIM`, and the
//! moves `LMOVE`, `RPOPLPUSH` and `LMPOP`, on [`List`] values, with Redis 7.0's
//! replies and error texts (`t_list.c`). Argument errors come before key lookups
//! where Redis parses them first.
//!
//! Writes go through the keyspace's write guard, whose list methods journal what
//! they did as a [`crate::journal::list::ListOp`] (a push, a pop, a set, ...), so
//! `LPUSH` on a list of any length journals the pushed elements only. A list emptied
//! by a pop, `LREM` or `LTRIM` is deleted ([`Keyspace::remove_if_empty`]).
//!
//! The moves are parts (see [`super::list_move`]), so their keys may live on any
//! shards; [`push`] and [`pop`] are what they, and the blocking forms, build on.

use bytes::Bytes;

use super::flags::*;
use super::list_block::{BLMPOP, BMOVE, BPOP};
use super::list_edit::{pop, push, write_list};
use super::list_move::{LMOVE, LMPOP};
use super::{range, row, CommandSpec, KeySpec, Route, KEY1};
use crate::collections::{End, List};
use crate::command::ctx::{read_typed, Ctx};
use crate::cursor::ArgCursor;
use crate::error::{CmdError, CmdResult};
use crate::keyspace::Keyspace;
use crate::resp::{parse_i64, Reply};
use crate::value::Value;

/// The list at `key` for a read command: counts a hit or miss, then checks the type.
fn read_list<'k>(
    ks: &'k mut Keyspace,
    db: usize,
    key: &[u8],
    now_ms: u64,
) -> CmdResult<Option<&'k List>> {
    read_typed(ks, db, key, now_ms, Value::as_list)
}

fn err(text: &str) -> CmdError {
    CmdError::Raw(text.into())
}

fn push_reply(ctx: &mut Ctx, args: &[Bytes], end: End, only_existing: bool) -> CmdResult {
    let len = push(ctx, &args[1], end, &args[2..], only_existing)?;
    ctx.out.int(len as i64);
    Ok(())
}

fn lpush(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    push_reply(ctx, args, End::Head, false)
}

fn rpush(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    push_reply(ctx, args, End::Tail, false)
}

fn lpushx(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    push_reply(ctx, args, End::Head, true)
}

fn rpushx(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    push_reply(ctx, args, End::Tail, true)
}

/// Most arguments `LPOP`/`RPOP` take (the table's arity only says "at least 2").
const POP_ARGS_MAX: usize = 3;

fn pop_reply(ctx: &mut Ctx, args: &[Bytes], end: End) -> CmdResult {
    if args.len() > POP_ARGS_MAX {
        let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
        return Err(CmdError::WrongArgs(name));
    }
    let Some(count_arg) = args.get(2) else {
        match pop(ctx, &args[1], end, 1)? {
            Some(popped) => ctx.out.bulk(&popped[0]),
            None => ctx.out.null(),
        }
        return Ok(());
    };
    let positive = || err("ERR value is out of range, must be positive");
    let count = parse_i64(count_arg).ok_or_else(positive)?;
    let count = usize::try_from(count).map_err(|_| positive())?;
    match pop(ctx, &args[1], end, count)? {
        Some(popped) => {
            ctx.out.array(popped.len());
            popped.iter().for_each(|e| ctx.out.bulk(e));
        }
        None => ctx.out.null_array(),
    }
    Ok(())
}

fn lpop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    pop_reply(ctx, args, End::Head)
}

fn rpop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    pop_reply(ctx, args, End::Tail)
}

fn llen(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let list = read_list(ctx.ks, ctx.db, &args[1], ctx.now_ms)?;
    ctx.out.int(list.map_or(0, List::len) as i64);
    Ok(())
}

/// A signed index into a list of `len` (negative from the end), if in range.
fn resolve_index(index: i64, len: usize) -> Option<usize> {
    let len = len as i64;
    let i = if index < 0 { len + index } else { index };
    (0..len).contains(&i).then_some(i as usize)
}

fn lindex(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let Some(list) = read_list(ctx.ks, ctx.db, &args[1], ctx.now_ms)? else {
        ctx.out.null();
        return Ok(());
    };
    let index = parse_i64(&args[2]).ok_or(CmdError::NotInteger)?;
    match resolve_index(index, list.len()).and_then(|i| list.get(i)) {
        Some(elem) => ctx.out.bulk(elem),
        None => ctx.out.null(),
    }
    Ok(())
}

fn lset(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let limits = ctx.limits.list;
    let mut guard = write_list(ctx.ks, ctx.db, &args[1], ctx.now_ms)?.ok_or(CmdError::NoSuchKey)?;
    let index = parse_i64(&args[2]).ok_or(CmdError::NotInteger)?;
    let index =
        resolve_index(index, guard.list().len()).ok_or_else(|| err("ERR index out of range"))?;
    guard.list_set(index, &args[3], &limits);
    drop(guard);
    ctx.out.ok();
    Ok(())
}

fn linsert(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let after = match &args[2] {
        w if w.eq_ignore_ascii_case(b"AFTER") => true,
        w if w.eq_ignore_ascii_case(b"BEFORE") => false,
        _ => return Err(CmdError::Syntax),
    };
    let (pivot, elem) = (&args[3], &args[4]);
    let limits = ctx.limits.list;
    let Some(mut guard) = write_list(ctx.ks, ctx.db, &args[1], ctx.now_ms)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let Some(at) = guard.list().iter().position(|e| e == &pivot[..]) else {
        drop(guard);
        ctx.out.int(-1);
        return Ok(());
    };
    guard.list_insert(at + after as usize, elem, &limits);
    let len = guard.list().len();
    drop(guard);
    ctx.out.int(len as i64);
    Ok(())
}

/// `LPOS`'s options.
struct LposOpts {
    rank: i64,
    /// `None`: no `COUNT`, reply one index; `Some(0)`: every match.
    count: Option<u64>,
    maxlen: u64,
}

fn lpos_opts(c: &mut ArgCursor) -> CmdResult<LposOpts> {
    let mut opts = LposOpts {
        rank: 1,
        count: None,
        maxlen: 0,
    };
    let non_negative = |arg: &[u8], text: &str| {
        let n = parse_i64(arg).ok_or_else(|| err(text))?;
        u64::try_from(n).map_err(|_| err(text))
    };
    while !c.is_empty() {
        if c.remaining() >= 2 && c.eat("RANK") {
            opts.rank = c.next_i64()?;
            if opts.rank == 0 {
                return Err(err(
                    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the \
                     second ... or use negative to start from the end of the list",
                ));
            }
        } else if c.remaining() >= 2 && c.eat("COUNT") {
            opts.count = Some(non_negative(c.arg()?, "ERR COUNT can't be negative")?);
        } else if c.remaining() >= 2 && c.eat("MAXLEN") {
            opts.maxlen = non_negative(c.arg()?, "ERR MAXLEN can't be negative")?;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(opts)
}

/// The indices `LPOS` finds: from the head for a positive rank, the tail for a
/// negative one, skipping `|rank| - 1` matches, at most `count` (0: all), looking
/// at `maxlen` elements at most (0: all).
fn lpos_matches(list: &List, elem: &[u8], opts: &LposOpts) -> Vec<usize> {
    // Redis negates `LONG_MIN` into itself, which every match count passes.
    let skip = match opts.rank {
        i64::MIN => 0,
        r => r.unsigned_abs() - 1,
    };
    let want = match opts.count {
        None => 1,
        Some(0) => usize::MAX,
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
    };
    let look = usize::try_from(opts.maxlen)
        .ok()
        .filter(|&m| m > 0)
        .unwrap_or(usize::MAX);
    let len = list.len();
    let matching = |(i, e): (usize, &[u8])| (e == elem).then_some(i);
    let found: Box<dyn Iterator<Item = usize>> = if opts.rank > 0 {
        Box::new(list.iter().enumerate().take(look).filter_map(matching))
    } else {
        let from_tail = list.iter().rev().enumerate().take(look);
        Box::new(from_tail.filter_map(matching).map(move |i| len - 1 - i))
    };
    found
        .skip(usize::try_from(skip).unwrap_or(usize::MAX))
        .take(want)
        .collect()
}

fn lpos(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut c = ArgCursor::new(&args[2..]);
    let opts = lpos_opts(&mut c)?;
    let list = read_list(ctx.ks, ctx.db, &args[1], ctx.now_ms)?;
    let found = list
        .map(|l| lpos_matches(l, &args[2], &opts))
        .unwrap_or_default();
    match opts.count {
        Some(_) => {
            ctx.out.array(found.len());
            found.iter().for_each(|&i| ctx.out.int(i as i64));
        }
        None => match found.first() {
            Some(&i) => ctx.out.int(i as i64),
            None => ctx.out.null(),
        },
    }
    Ok(())
}

/// Redis's range arithmetic: `start..end` (exclusive) for signed `start` and `stop`
/// on a list of `len`, empty when nothing is in range.
fn resolve_range(start: i64, stop: i64, len: usize) -> (usize, usize) {
    let len_i = len as i64;
    let start = if start < 0 {
        (len_i + start).max(0)
    } else {
        start
    };
    let stop = if stop < 0 { len_i + stop } else { stop };
    if start > stop || start >= len_i {
        return (0, 0);
    }
    (start as usize, (stop.min(len_i - 1) + 1) as usize)
}

fn lrange(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let start = parse_i64(&args[2]).ok_or(CmdError::NotInteger)?;
    let stop = parse_i64(&args[3]).ok_or(CmdError::NotInteger)?;
    let Some(list) = read_list(ctx.ks, ctx.db, &args[1], ctx.now_ms)? else {
        ctx.out.array(0);
        return Ok(());
    };
    let (from, to) = resolve_range(start, stop, list.len());
    ctx.out.array(to - from);
    list.iter_from(from)
        .take(to - from)
        .for_each(|e| ctx.out.bulk(e));
    Ok(())
}

fn ltrim(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let start = parse_i64(&args[2]).ok_or(CmdError::NotInteger)?;
    let stop = parse_i64(&args[3]).ok_or(CmdError::NotInteger)?;
    let limits = ctx.limits.list;
    if let Some(mut guard) = write_list(ctx.ks, ctx.db, &args[1], ctx.now_ms)? {
        let (from, to) = resolve_range(start, stop, guard.list().len());
        guard.list_trim(from, to, &limits);
        // Redis signals the key and notifies `ltrim` even when nothing went.
        guard.touch();
    }
    ctx.ks.remove_if_empty(ctx.db, &args[1]);
    ctx.out.ok();
    Ok(())
}

fn lrem(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let count = parse_i64(&args[2]).ok_or(CmdError::NotInteger)?;
    let limits = ctx.limits.list;
    let removed = match write_list(ctx.ks, ctx.db, &args[1], ctx.now_ms)? {
        Some(mut guard) => guard.list_rem(count, &args[3], &limits),
        None => 0,
    };
    ctx.ks.remove_if_empty(ctx.db, &args[1]);
    ctx.out.int(removed as i64);
    Ok(())
}

const RW: u32 = WRITE | DENYOOM;
/// `LMPOP numkeys key… LEFT|RIGHT [COUNT n]`: `numkeys` counts the keys after it.
const LMPOP_KEYS: KeySpec = KeySpec::KeyNum {
    numkeys_at: 1,
    step: 1,
    fixed: None,
};

/// `BLMPOP timeout numkeys key… LEFT|RIGHT [COUNT n]`.
const BLMPOP_KEYS: KeySpec = KeySpec::KeyNum {
    numkeys_at: 2,
    step: 1,
    fixed: None,
};

#[rustfmt::skip]
pub const COMMANDS: &[CommandSpec] = &[
    row("lpush", -3, RW | FAST, KEY1, "list", "Prepends one or more elements to a list. Creates the key if it doesn't exist.", Route::Shard(lpush)),
    row("rpush", -3, RW | FAST, KEY1, "list", "Appends one or more elements to a list. Creates the key if it doesn't exist.", Route::Shard(rpush)),
    row("lpushx", -3, RW | FAST, KEY1, "list", "Prepends one or more elements to a list only when the list exists.", Route::Shard(lpushx)),
    row("rpushx", -3, RW | FAST, KEY1, "list", "Appends an element to a list only when the list exists.", Route::Shard(rpushx)),
    row("linsert", 5, RW, KEY1, "list", "Inserts an element before or after another element in a list.", Route::Shard(linsert)),
    row("llen", 2, READONLY | FAST, KEY1, "list", "Returns the length of a list.", Route::Shard(llen)),
    row("lindex", 3, READONLY, KEY1, "list", "Returns an element from a list by its index.", Route::Shard(lindex)),
    row("lset", 4, RW, KEY1, "list", "Sets the value of an element in a list by its index.", Route::Shard(lset)),
    row("lpop", -2, WRITE | FAST, KEY1, "list", "Returns the first elements in a list after removing it. Deletes the list if the last element was popped.", Route::Shard(lpop)),
    row("rpop", -2, WRITE | FAST, KEY1, "list", "Returns and removes the last elements of a list. Deletes the list if the last element was popped.", Route::Shard(rpop)),
    row("lpos", -3, READONLY, KEY1, "list", "Returns the index of matching elements in a list.", Route::Shard(lpos)),
    row("lrange", 4, READONLY, KEY1, "list", "Returns a range of elements from a list.", Route::Shard(lrange)),
    row("lrem", 4, WRITE, KEY1, "list", "Removes elements from a list. Deletes the list if the last element was removed.", Route::Shard(lrem)),
    row("ltrim", 4, WRITE, KEY1, "list", "Removes elements from both ends a list. Deletes the list if all elements were trimmed.", Route::Shard(ltrim)),
    row("lmove", 5, RW, range(1, 2, 1), "list", "Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved.", Route::Parts(&LMOVE)),
    row("rpoplpush", 3, RW, range(1, 2, 1), "list", "Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped.", Route::Parts(&LMOVE)),
    row("blpop", -3, WRITE | NOSCRIPT | BLOCKING, range(1, -2, 1), "list", "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", Route::Parts(&BPOP)),
    row("brpop", -3, WRITE | NOSCRIPT | BLOCKING, range(1, -2, 1), "list", "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", Route::Parts(&BPOP)),
    row("brpoplpush", 4, RW | NOSCRIPT | BLOCKING, range(1, 2, 1), "list", "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped.", Route::Parts(&BMOVE)),
    row("blmove", 6, RW | NOSCRIPT | BLOCKING, range(1, 2, 1), "list", "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved.", Route::Parts(&BMOVE)),
    row("blmpop", -5, WRITE | BLOCKING, BLMPOP_KEYS, "list", "Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", Route::Parts(&BLMPOP)),
    row("lmpop", -4, WRITE, LMPOP_KEYS, "list", "Returns multiple elements from a list after removing them. Deletes the list if the last element was popped.", Route::Parts(&LMPOP)),
];

#[cfg(test)]
mod tests;
