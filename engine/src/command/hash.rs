//! The hash family: `HSET`, `HGET`, `HGETALL`, `HINCRBY`, `HRANDFIELD`, `HSCAN` and
//! the other `H*` commands, on [`Hash`](struct@crate::collections::Hash) values,
//! with Redis 7.0's replies and error texts (`t_hash.c`).
//!
//! Reads count a keyspace hit or miss ([`read_hash`]); writes go through the
//! keyspace's write guard, whose hash methods journal the fields they touched (a
//! delta, whatever the hash's size). A hash emptied by `HDEL` is deleted
//! ([`Keyspace::remove_if_empty`]). `HGETALL` replies with a map in RESP3.

use bytes::Bytes;

use super::flags::*;
use super::{row, CommandSpec, Route, KEY1};
use crate::collections::{
    distinct_positions, repeat_positions, Hash, SampleCount, RANDOM_COUNT_MIN,
};
use crate::command::ctx::{read_typed, write_typed, Ctx};
use crate::cursor::{parse_scan_cursor, ArgCursor};
use crate::error::{CmdError, CmdResult};
use crate::glob::glob_match;
use crate::keyspace::{Keyspace, WriteGuard, NO_EXPIRE};
use crate::limits::{RANDOM_REPEATS_MAX, SCAN_VISIT_MAX};
use crate::long_double::LongDouble;
use crate::resp::{parse_i64, Protocol, Reply, ReplyBuf};
use crate::value::Value;

/// The hash at `key` for a read command: counts a hit or miss, then checks the type.
fn read_hash<'k>(
    ks: &'k mut Keyspace,
    db: usize,
    key: &[u8],
    now_ms: u64,
) -> CmdResult<Option<&'k Hash>> {
    read_typed(ks, db, key, now_ms, Value::as_hash)
}

/// Write access to the hash at `key`, or a wrong-type error.
fn write_hash<'k>(
    ks: &'k mut Keyspace,
    db: usize,
    key: &[u8],
    now_ms: u64,
) -> CmdResult<Option<WriteGuard<'k>>> {
    write_typed(ks, db, key, now_ms, Value::as_hash)
}

/// Sets `pairs` (field, value, field, value, ...) on the hash at `key`, creating it;
/// returns how many fields are new.
fn set_pairs(ctx: &mut Ctx, key: &[u8], pairs: &[Bytes]) -> CmdResult<usize> {
    let limits = ctx.limits.hash;
    if let Some(mut guard) = write_hash(ctx.ks, ctx.db, key, ctx.now_ms)? {
        let new = pairs
            .chunks_exact(2)
            .filter(|p| guard.hash_set(&p[0], &p[1], &limits))
            .count();
        return Ok(new);
    }
    let mut hash = Hash::new();
    let new = pairs
        .chunks_exact(2)
        .filter(|p| hash.set(&p[0], &p[1], &limits))
        .count();
    ctx.ks.add(ctx.db, key, Value::Hash(hash), NO_EXPIRE);
    Ok(new)
}

fn hset_generic(ctx: &mut Ctx, args: &[Bytes], name: &str) -> CmdResult<usize> {
    if !args.len().is_multiple_of(2) {
        return Err(CmdError::WrongArgs(name.into()));
    }
    set_pairs(ctx, &args[1], &args[2..])
}

fn hset(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let new = hset_generic(ctx, args, "hset")?;
    ctx.out.int(new as i64);
    Ok(())
}

fn hmset(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    hset_generic(ctx, args, "hmset")?;
    ctx.out.ok();
    Ok(())
}

fn hsetnx(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let (key, field, value) = (&args[1], &args[2], &args[3]);
    let limits = ctx.limits.hash;
    if let Some(mut guard) = write_hash(ctx.ks, ctx.db, key, ctx.now_ms)? {
        let set = !guard.hash().contains(field) && guard.hash_set(field, value, &limits);
        ctx.out.int(set as i64);
        return Ok(());
    }
    set_pairs(ctx, key, &args[2..4])?;
    ctx.out.int(1);
    Ok(())
}

fn hget(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let hash = read_hash(ctx.ks, ctx.db, &args[1], ctx.now_ms)?;
    match hash.and_then(|h| h.get(&args[2])) {
        Some(v) => ctx.out.bulk(&v),
        None => ctx.out.null(),
    }
    Ok(())
}

fn hmget(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let hash = read_hash(ctx.ks, ctx.db, &args[1], ctx.now_ms)?;
    let fields = &args[2..];
    ctx.out.array(fields.len());
    for field in fields {
        match hash.and_then(|h| h.get(field)) {
            Some(v) => ctx.out.bulk(&v),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

fn hexists(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let hash = read_hash(ctx.ks, ctx.db, &args[1], ctx.now_ms)?;
    let found = hash.is_some_and(|h| h.contains(&args[2]));
    ctx.out.int(found as i64);
    Ok(())
}

fn hlen(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let hash = read_hash(ctx.ks, ctx.db, &args[1], ctx.now_ms)?;
    ctx.out.int(hash.map_or(0, Hash::len) as i64);
    Ok(())
}

fn hstrlen(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let hash = read_hash(ctx.ks, ctx.db, &args[1], ctx.now_ms)?;
    let len = hash.and_then(|h| h.value_len(&args[2])).unwrap_or(0);
    ctx.out.int(len as i64);
    Ok(())
}

fn hdel(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let (removed, emptied) = match write_hash(ctx.ks, ctx.db, key, ctx.now_ms)? {
        Some(mut guard) => {
            let removed = args[2..].iter().filter(|f| guard.hash_remove(f)).count();
            (removed, guard.hash().is_empty())
        }
        None => (0, false),
    };
    if emptied {
        ctx.ks.remove_if_empty(ctx.db, key);
    }
    ctx.out.int(removed as i64);
    Ok(())
}

/// What `HGETALL`, `HKEYS` and `HVALS` reply with.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    Fields,
    Values,
    Both,
}

fn reply_all(ctx: &mut Ctx, args: &[Bytes], part: Part) -> CmdResult {
    let hash = read_hash(ctx.ks, ctx.db, &args[1], ctx.now_ms)?;
    let len = hash.map_or(0, Hash::len);
    match part {
        Part::Both => ctx.out.map(len),
        _ => ctx.out.array(len),
    }
    let Some(hash) = hash else {
        return Ok(());
    };
    for (field, value) in hash.iter() {
        if part != Part::Values {
            ctx.out.bulk(&field);
        }
        if part != Part::Fields {
            ctx.out.bulk(&value);
        }
    }
    Ok(())
}

fn hgetall(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    reply_all(ctx, args, Part::Both)
}

fn hkeys(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    reply_all(ctx, args, Part::Fields)
}

fn hvals(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    reply_all(ctx, args, Part::Values)
}

fn hincrby(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let (key, field) = (&args[1], &args[2]);
    let delta = parse_i64(&args[3]).ok_or(CmdError::NotInteger)?;
    let limits = ctx.limits.hash;
    if let Some(mut guard) = write_hash(ctx.ks, ctx.db, key, ctx.now_ms)? {
        let sum = guard.hash_incr_by(field, delta, &limits)?;
        ctx.out.int(sum);
        return Ok(());
    }
    let mut hash = Hash::new();
    let sum = hash.incr_by(field, delta, &limits)?;
    ctx.ks.add(ctx.db, key, Value::Hash(hash), NO_EXPIRE);
    ctx.out.int(sum);
    Ok(())
}

fn hincrbyfloat(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let (key, field) = (&args[1], &args[2]);
    let delta = LongDouble::parse(&args[3]).ok_or(CmdError::NotFloat)?;
    if !delta.is_finite() {
        return Err(CmdError::Raw("ERR value is NaN or Infinity".into()));
    }
    let limits = ctx.limits.hash;
    if let Some(mut guard) = write_hash(ctx.ks, ctx.db, key, ctx.now_ms)? {
        let text = guard.hash_incr_by_float(field, delta, &limits)?;
        ctx.out.bulk(&text);
        return Ok(());
    }
    let mut hash = Hash::new();
    let text = hash.incr_by_float(field, delta, &limits)?;
    ctx.ks.add(ctx.db, key, Value::Hash(hash), NO_EXPIRE);
    ctx.out.bulk(&text);
    Ok(())
}

/// Reads a `HRANDFIELD`/`SRANDMEMBER` count as Redis 7.0 does
/// (`getRangeLongFromObjectOrReply(-LONG_MAX, LONG_MAX)`).
pub(super) fn random_count(arg: &[u8]) -> CmdResult<i64> {
    let count = parse_i64(arg).ok_or(CmdError::NotInteger)?;
    if (RANDOM_COUNT_MIN..-RANDOM_REPEATS_MAX).contains(&count) {
        return Err(CmdError::Raw("ERR value is out of range".into()));
    }
    if count < RANDOM_COUNT_MIN {
        return Err(CmdError::Raw(
            "ERR value is out of range, value must between -9223372036854775807 and \
             9223372036854775807"
                .into(),
        ));
    }
    Ok(count)
}

fn hrandfield(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut c = ArgCursor::new(args);
    let key = c.arg()?;
    let Some(count_arg) = c.next_opt() else {
        let hash = read_hash(ctx.ks, ctx.db, key, ctx.now_ms)?;
        match hash.and_then(|h| h.random_pair(ctx.rng)) {
            Some((field, _)) => ctx.out.bulk(&field),
            None => ctx.out.null(),
        }
        return Ok(());
    };
    let count = random_count(count_arg)?;
    let with_values = c.eat("WITHVALUES");
    c.finish()?;
    if with_values && !(-i64::MAX / 2..=i64::MAX / 2).contains(&count) {
        return Err(CmdError::Raw("ERR value is out of range".into()));
    }
    let Some(hash) = read_hash(ctx.ks, ctx.db, key, ctx.now_ms)? else {
        ctx.out.array(0);
        return Ok(());
    };
    let indexed = hash.indexed();
    let resp3_pairs = with_values && ctx.out.protocol() == Protocol::Resp3;
    let emit = |out: &mut ReplyBuf, pos: usize| {
        let (field, value) = indexed.get(pos);
        if resp3_pairs {
            out.array(2);
        }
        out.bulk(&field);
        if with_values {
            out.bulk(&value);
        }
    };
    let header = |out: &mut ReplyBuf, n: usize| match with_values && !resp3_pairs {
        true => out.array(n * 2),
        false => out.array(n),
    };
    match SampleCount::from_i64(count) {
        SampleCount::Distinct(n) => {
            let positions = distinct_positions(indexed.len(), n, ctx.rng);
            header(ctx.out, positions.len());
            positions.into_iter().for_each(|pos| emit(ctx.out, pos));
        }
        SampleCount::Repeats(n) => {
            header(ctx.out, n as usize);
            repeat_positions(indexed.len(), n, ctx.rng).for_each(|pos| emit(ctx.out, pos));
        }
    }
    Ok(())
}

/// The options of `HSCAN`/`SSCAN`: `MATCH pattern`, `COUNT n`.
pub(super) struct ScanOpts<'a> {
    pub cursor: u64,
    pub pattern: Option<&'a [u8]>,
    pub count: usize,
}

/// `*SCAN`'s default `COUNT`.
const SCAN_COUNT_DEFAULT: usize = 10;

/// Reads a `*SCAN`'s cursor. Redis reads it before it looks the key up, and the
/// options ([`parse_scan`]) after: a missing key answers an empty scan, a wrong
/// type its error, whatever the options.
pub(super) fn scan_cursor(c: &mut ArgCursor<'_>) -> CmdResult<u64> {
    parse_scan_cursor(c.arg()?).ok_or(CmdError::InvalidCursor)
}

/// Reads `[MATCH pattern] [COUNT count]` after the cursor, as Redis's
/// `scanGenericCommand` does.
pub(super) fn parse_scan<'a>(c: &mut ArgCursor<'a>, cursor: u64) -> CmdResult<ScanOpts<'a>> {
    let mut opts = ScanOpts {
        cursor,
        pattern: None,
        count: SCAN_COUNT_DEFAULT,
    };
    while !c.is_empty() {
        if c.remaining() >= 2 && c.eat("COUNT") {
            let count = c.next_i64()?;
            if count < 1 {
                return Err(CmdError::Syntax);
            }
            opts.count = (count as u64).min(SCAN_VISIT_MAX as u64) as usize;
        } else if c.remaining() >= 2 && c.eat("MATCH") {
            opts.pattern = Some(c.arg()?.as_ref()).filter(|p| *p != b"*");
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(opts)
}

/// Writes a `*SCAN` reply: the next cursor, then the items.
pub(super) fn reply_scan(out: &mut ReplyBuf, cursor: u64, items: &[Vec<u8>]) {
    out.array(2);
    out.bulk(itoa::Buffer::new().format(cursor).as_bytes());
    out.array(items.len());
    items.iter().for_each(|i| out.bulk(i));
}

fn hscan(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut c = ArgCursor::new(args);
    let key = c.arg()?;
    let cursor = scan_cursor(&mut c)?;
    let Some(h) = read_hash(ctx.ks, ctx.db, key, ctx.now_ms)? else {
        reply_scan(ctx.out, 0, &[]);
        return Ok(());
    };
    let opts = parse_scan(&mut c, cursor)?;
    let mut items = Vec::new();
    let next = h.scan(opts.cursor, opts.count, |field, value| {
        if opts.pattern.is_none_or(|p| glob_match(p, &field, false)) {
            items.push(field.to_vec());
            items.push(value.to_vec());
        }
    });
    reply_scan(ctx.out, next, &items);
    Ok(())
}

const RW: u32 = WRITE | DENYOOM;

#[rustfmt::skip]
pub const COMMANDS: &[CommandSpec] = &[
    row("hset", -4, RW | FAST, KEY1, "hash", "Creates or modifies the value of a field in a hash.", Route::Shard(hset)),
    row("hmset", -4, RW | FAST, KEY1, "hash", "Sets the values of multiple fields.", Route::Shard(hmset)),
    row("hsetnx", 4, RW | FAST, KEY1, "hash", "Sets the value of a field in a hash only when the field doesn't exist.", Route::Shard(hsetnx)),
    row("hget", 3, READONLY | FAST, KEY1, "hash", "Returns the value of a field in a hash.", Route::Shard(hget)),
    row("hmget", -3, READONLY | FAST, KEY1, "hash", "Returns the values of all fields in a hash.", Route::Shard(hmget)),
    row("hexists", 3, READONLY | FAST, KEY1, "hash", "Determines whether a field exists in a hash.", Route::Shard(hexists)),
    row("hlen", 2, READONLY | FAST, KEY1, "hash", "Returns the number of fields in a hash.", Route::Shard(hlen)),
    row("hstrlen", 3, READONLY | FAST, KEY1, "hash", "Returns the length of the value of a field.", Route::Shard(hstrlen)),
    row("hdel", -3, WRITE | FAST, KEY1, "hash", "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.", Route::Shard(hdel)),
    row("hgetall", 2, READONLY, KEY1, "hash", "Returns all fields and values in a hash.", Route::Shard(hgetall)),
    row("hkeys", 2, READONLY, KEY1, "hash", "Returns all fields in a hash.", Route::Shard(hkeys)),
    row("hvals", 2, READONLY, KEY1, "hash", "Returns all values in a hash.", Route::Shard(hvals)),
    row("hincrby", 4, RW | FAST, KEY1, "hash", "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist.", Route::Shard(hincrby)),
    row("hincrbyfloat", 4, RW | FAST, KEY1, "hash", "Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist.", Route::Shard(hincrbyfloat)),
    row("hrandfield", -2, READONLY, KEY1, "hash", "Returns one or more random fields from a hash.", Route::Shard(hrandfield)),
    row("hscan", -3, READONLY, KEY1, "hash", "Iterates over fields and values of a hash.", Route::Shard(hscan)),
];

#[cfg(test)]
mod tests {
    use crate::harness::{run, TestShard};
    use crate::resp::Protocol;

    #[test]
    fn set_get_delete_and_empty_key_deletion() {
        let mut s = TestShard::default();
        assert_eq!(run(&mut s, &["HSET", "h", "a", "1", "b", "2"]), "2");
        assert_eq!(run(&mut s, &["HSET", "h", "a", "3"]), "0");
        assert_eq!(run(&mut s, &["HGET", "h", "a"]), "3");
        assert_eq!(run(&mut s, &["HMGET", "h", "a", "zz"]), "[3, (nil)]");
        assert_eq!(run(&mut s, &["HLEN", "h"]), "2");
        assert_eq!(run(&mut s, &["HSTRLEN", "h", "b"]), "1");
        assert_eq!(run(&mut s, &["HSETNX", "h", "a", "9"]), "0");
        assert_eq!(run(&mut s, &["HSETNX", "h", "c", "9"]), "1");
        assert_eq!(run(&mut s, &["HGETALL", "h"]), "[a, 3, b, 2, c, 9]");
        assert_eq!(run(&mut s, &["TYPE", "h"]), "hash");
        assert_eq!(run(&mut s, &["OBJECT", "ENCODING", "h"]), "listpack");
        assert_eq!(run(&mut s, &["HDEL", "h", "a", "b", "zz"]), "2");
        assert_eq!(run(&mut s, &["HDEL", "h", "c"]), "1");
        assert_eq!(run(&mut s, &["EXISTS", "h"]), "0");
        assert_eq!(run(&mut s, &["HMSET", "h", "x", "1"]), "OK");
        s.protocol = Protocol::Resp3;
        assert_eq!(run(&mut s, &["HGETALL", "h"]), "{x: 1}");
    }

    #[test]
    fn errors_are_redis_texts() {
        let mut s = TestShard::default();
        run(&mut s, &["SET", "str", "v"]);
        run(&mut s, &["HSET", "h", "a", "x"]);
        let wrong = "-WRONGTYPE Operation against a key holding the wrong kind of value";
        assert_eq!(run(&mut s, &["HSET", "str", "a", "1"]), wrong);
        assert_eq!(run(&mut s, &["HGET", "str", "a"]), wrong);
        assert_eq!(run(&mut s, &["GET", "h"]), wrong);
        assert_eq!(run(&mut s, &["APPEND", "h", "x"]), wrong);
        assert_eq!(
            run(&mut s, &["HSET", "h", "a"]),
            "-ERR wrong number of arguments for 'hset' command"
        );
        assert_eq!(
            run(&mut s, &["HMSET", "h", "a", "1", "b"]),
            "-ERR wrong number of arguments for 'hmset' command"
        );
        assert_eq!(
            run(&mut s, &["HINCRBY", "h", "a", "1"]),
            "-ERR hash value is not an integer"
        );
        assert_eq!(
            run(&mut s, &["HINCRBY", "h", "n", "x"]),
            "-ERR value is not an integer or out of range"
        );
        assert_eq!(
            run(&mut s, &["HINCRBYFLOAT", "h", "a", "1"]),
            "-ERR hash value is not a float"
        );
        assert_eq!(
            run(&mut s, &["HINCRBYFLOAT", "h", "n", "abc"]),
            "-ERR value is not a valid float"
        );
        assert_eq!(run(&mut s, &["HINCRBY", "h", "n", "5"]), "5");
        assert_eq!(
            run(&mut s, &["HINCRBY", "h", "n", "9223372036854775807"]),
            "-ERR increment or decrement would overflow"
        );
        assert_eq!(run(&mut s, &["HINCRBYFLOAT", "h", "f", "1.5"]), "1.5");
        assert_eq!(run(&mut s, &["HSCAN", "h", "x"]), "-ERR invalid cursor");
        assert_eq!(
            run(&mut s, &["HSCAN", "h", "0", "COUNT", "0"]),
            "-ERR syntax error"
        );
        assert_eq!(
            run(&mut s, &["HSCAN", "h", "0", "foo", "bar"]),
            "-ERR syntax error"
        );
    }

    #[test]
    fn hrandfield_counts_and_edges() {
        let mut s = TestShard::default();
        run(&mut s, &["HSET", "h", "a", "1", "b", "2"]);
        assert_eq!(run(&mut s, &["HRANDFIELD", "nokey"]), "(nil)");
        assert_eq!(run(&mut s, &["HRANDFIELD", "nokey", "5"]), "[]");
        assert_eq!(run(&mut s, &["HRANDFIELD", "h", "0"]), "[]");
        assert_eq!(run(&mut s, &["HRANDFIELD", "h", "5"]), "[a, b]");
        assert_eq!(
            run(&mut s, &["HRANDFIELD", "h", "9223372036854775807"]),
            "[a, b]"
        );
        assert_eq!(
            run(&mut s, &["HRANDFIELD", "h", "-5"])
                .matches(", ")
                .count(),
            4
        );
        assert_eq!(
            run(&mut s, &["HRANDFIELD", "h", "-9223372036854775808"]),
            "-ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
        );
        assert_eq!(
            run(
                &mut s,
                &["HRANDFIELD", "h", "9223372036854775807", "WITHVALUES"]
            ),
            "-ERR value is out of range"
        );
        assert_eq!(
            run(&mut s, &["HRANDFIELD", "h", "1", "WITHVALUE"]),
            "-ERR syntax error"
        );
        assert_eq!(
            run(&mut s, &["HRANDFIELD", "h", "x"]),
            "-ERR value is not an integer or out of range"
        );
        assert_eq!(
            run(&mut s, &["HRANDFIELD", "h", "2", "WITHVALUES"]),
            "[a, 1, b, 2]"
        );
        s.protocol = Protocol::Resp3;
        assert_eq!(
            run(&mut s, &["HRANDFIELD", "h", "2", "WITHVALUES"]),
            "[[a, 1], [b, 2]]"
        );
    }

    #[test]
    fn encoding_converts_past_the_limits() {
        let mut s = TestShard::default();
        run(&mut s, &["HSET", "h", "a", &"x".repeat(65)]);
        assert_eq!(run(&mut s, &["OBJECT", "ENCODING", "h"]), "hashtable");
        assert_eq!(
            run(&mut s, &["HSCAN", "h", "0", "MATCH", "a*"]),
            "[0, [a, ".to_string() + &"x".repeat(65) + "]]"
        );
    }
}
