//! The set family: `SADD`, `SREM`, `SMEMBERS`, `SPOP`, `SRANDMEMBER`, the algebra
//! (`SINTER`, `SUNION`, `SDIFF`, their `*STORE` forms, `SINTERCARD`), `SMOVE` and
//! `SSCAN`, on [`Set`] values, with Redis 7.0's replies and error texts (`t_set.c`).
//! Member lists reply as RESP3 sets where Redis 7.0 does.
//!
//! Multi-key commands run on one shard holding all their keys (the table routes
//! them; keys on several shards answer `CROSSSLOT`). Each is written as a per-shard
//! step ([`local_sets`], [`smove_take`], [`smove_put`]) and a combine step
//! ([`combine`], [`store`]), so a cross-shard form only has to run the steps on
//! their shards and pass the parts along.

use bytes::Bytes;

use super::flags::*;
use super::hash::{parse_scan, random_count, reply_scan};
use super::{range, row, CommandSpec, KeySpec, Route, KEY1};
use crate::collections::{distinct_positions, repeat_positions, SampleCount, Set, SetLimits};
use crate::command::Ctx;
use crate::cursor::ArgCursor;
use crate::error::{CmdError, CmdResult};
use crate::glob::glob_match;
use crate::keyspace::{Entry, Keyspace, WriteGuard, NO_EXPIRE};
use crate::resp::{parse_i64, Reply, ReplyBuf};
use crate::value::Value;

/// The set at `key` for a read command: counts a hit or miss, then checks the type.
fn read_set<'k>(
    ks: &'k mut Keyspace,
    db: usize,
    key: &[u8],
    now_ms: u64,
) -> CmdResult<Option<&'k Set>> {
    match ks.find_read(db, key, now_ms) {
        None => Ok(None),
        Some(Entry {
            value: Value::Set(s),
            ..
        }) => Ok(Some(s)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// Write access to the set at `key`, or a wrong-type error.
fn write_set<'k>(
    ks: &'k mut Keyspace,
    db: usize,
    key: &[u8],
    now_ms: u64,
) -> CmdResult<Option<WriteGuard<'k>>> {
    let Some(guard) = ks.find_mut(db, key, now_ms) else {
        return Ok(None);
    };
    match guard.entry().value {
        Value::Set(_) => Ok(Some(guard)),
        _ => Err(CmdError::WrongType),
    }
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
    let removed = match write_set(ctx.ks, ctx.db, key, ctx.now_ms)? {
        Some(mut guard) => args[2..].iter().filter(|m| guard.set_remove(m)).count(),
        None => 0,
    };
    ctx.ks.remove_if_empty(ctx.db, key);
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
    let popped = match write_set(ctx.ks, ctx.db, key, ctx.now_ms)? {
        Some(mut guard) => match count {
            None => guard.set_pop_many(1, &limits, ctx.rng),
            Some(0) => Vec::new(),
            Some(n) => guard.set_pop_many(n, &limits, ctx.rng),
        },
        None => Vec::new(),
    };
    ctx.ks.remove_if_empty(ctx.db, key);
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
        SampleCount::Distinct(n) if n >= set.len() as u64 => {
            ctx.out.set(set.len());
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

/// The per-shard step of a set operation: the sets at `keys` on this shard, in
/// order (`None`: missing). Every key counts a hit or miss and is type-checked
/// before any is read, as Redis does.
fn local_sets<'k>(
    ks: &'k mut Keyspace,
    db: usize,
    keys: &[Bytes],
    now_ms: u64,
) -> CmdResult<Vec<Option<&'k Set>>> {
    for key in keys {
        read_set(ks, db, key, now_ms)?;
    }
    let ks: &'k Keyspace = ks;
    Ok(keys
        .iter()
        .map(|k| match ks.db(db).get(k) {
            Some(Entry {
                value: Value::Set(s),
                ..
            }) => Some(s),
            _ => None,
        })
        .collect())
}

/// The combine step: the result of `op` over the sets named in order, missing
/// ones as empty.
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

/// Stores `result` at `dst` (deleting `dst` when it is empty); returns its size.
fn store(ks: &mut Keyspace, db: usize, dst: &[u8], result: Set, now_ms: u64) -> usize {
    let len = result.len();
    if len == 0 {
        ks.remove(db, dst, now_ms);
    } else {
        ks.add(db, dst, Value::Set(result), NO_EXPIRE);
    }
    len
}

fn set_op(ctx: &mut Ctx, keys: &[Bytes], op: SetOp) -> CmdResult<Set> {
    let limits = ctx.limits.set;
    let sets = local_sets(ctx.ks, ctx.db, keys, ctx.now_ms)?;
    Ok(combine(op, &sets, &limits))
}

fn set_op_reply(ctx: &mut Ctx, args: &[Bytes], op: SetOp) -> CmdResult {
    let result = set_op(ctx, &args[1..], op)?;
    ctx.out.set(result.len());
    result.iter().for_each(|m| ctx.out.bulk(&m));
    Ok(())
}

fn set_op_store(ctx: &mut Ctx, args: &[Bytes], op: SetOp) -> CmdResult {
    let result = set_op(ctx, &args[2..], op)?;
    let len = store(ctx.ks, ctx.db, &args[1], result, ctx.now_ms);
    ctx.out.int(len as i64);
    Ok(())
}

fn sinter(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    set_op_reply(ctx, args, SetOp::Inter)
}

fn sunion(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    set_op_reply(ctx, args, SetOp::Union)
}

fn sdiff(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    set_op_reply(ctx, args, SetOp::Diff)
}

fn sinterstore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    set_op_store(ctx, args, SetOp::Inter)
}

fn sunionstore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    set_op_store(ctx, args, SetOp::Union)
}

fn sdiffstore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    set_op_store(ctx, args, SetOp::Diff)
}

fn sintercard(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let numkeys_error = || CmdError::Raw("ERR numkeys should be greater than 0".into());
    let numkeys = parse_i64(&args[1]).ok_or_else(numkeys_error)?;
    if numkeys < 1 {
        return Err(numkeys_error());
    }
    if numkeys as u64 > (args.len() - 2) as u64 {
        return Err(CmdError::Raw(
            "ERR Number of keys can't be greater than number of args".into(),
        ));
    }
    let keys = &args[2..2 + numkeys as usize];
    let mut c = ArgCursor::new(&args[1 + numkeys as usize..]);
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
    let sets = local_sets(ctx.ks, ctx.db, keys, ctx.now_ms)?;
    let n = match sets.into_iter().collect::<Option<Vec<&Set>>>() {
        Some(all) => Set::intersection_len(&all, limit),
        None => 0,
    };
    ctx.out.int(n as i64);
    Ok(())
}

/// `SMOVE`'s step on the source's shard: removes `member` from the set at `src`
/// (deleting it if emptied). Returns whether it was there.
fn smove_take(ks: &mut Keyspace, db: usize, src: &[u8], member: &[u8], now_ms: u64) -> bool {
    let removed = write_set(ks, db, src, now_ms)
        .ok()
        .flatten()
        .is_some_and(|mut guard| guard.set_remove(member));
    ks.remove_if_empty(db, src);
    removed
}

/// `SMOVE`'s step on the destination's shard: adds `member` to the set at `dst`,
/// creating it.
fn smove_put(
    ks: &mut Keyspace,
    db: usize,
    dst: &[u8],
    member: &[u8],
    limits: &SetLimits,
    now_ms: u64,
) {
    if let Some(mut guard) = write_set(ks, db, dst, now_ms).ok().flatten() {
        guard.set_add(member, limits);
        return;
    }
    let set = Set::from_members([member], limits);
    ks.add(db, dst, Value::Set(set), NO_EXPIRE);
}

fn smove(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let (src, dst, member) = (&args[1], &args[2], &args[3]);
    let now = ctx.now_ms;
    let limits = ctx.limits.set;
    let Some(src_set) = peek_set(ctx.ks, ctx.db, src, now)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let present = src_set.contains(member);
    peek_set(ctx.ks, ctx.db, dst, now)?;
    if src == dst || !present {
        ctx.out.int(present as i64);
        return Ok(());
    }
    smove_take(ctx.ks, ctx.db, src, member, now);
    smove_put(ctx.ks, ctx.db, dst, member, &limits, now);
    ctx.out.int(1);
    Ok(())
}

/// The set at `key`, without counting a hit or miss (a write's lookup).
fn peek_set<'k>(
    ks: &'k mut Keyspace,
    db: usize,
    key: &[u8],
    now_ms: u64,
) -> CmdResult<Option<&'k Set>> {
    match ks.find(db, key, now_ms) {
        None => Ok(None),
        Some(Entry {
            value: Value::Set(s),
            ..
        }) => Ok(Some(s)),
        Some(_) => Err(CmdError::WrongType),
    }
}

fn sscan(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut c = ArgCursor::new(args);
    let key = c.arg()?;
    let opts = parse_scan(&mut c)?;
    let set = read_set(ctx.ks, ctx.db, key, ctx.now_ms)?;
    let mut items = Vec::new();
    let next = match set {
        Some(s) => s.scan(opts.cursor, opts.count, |m| {
            if opts.pattern.is_none_or(|p| glob_match(p, &m, false)) {
                items.push(m.to_vec());
            }
        }),
        None => 0,
    };
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
    row("sinter", -2, READONLY, ALL_KEYS, "set", "Returns the intersect of multiple sets.", Route::Shard(sinter)),
    row("sunion", -2, READONLY, ALL_KEYS, "set", "Returns the union of multiple sets.", Route::Shard(sunion)),
    row("sdiff", -2, READONLY, ALL_KEYS, "set", "Returns the difference of multiple sets.", Route::Shard(sdiff)),
    row("sinterstore", -3, RW, ALL_KEYS, "set", "Stores the intersect of multiple sets in a key.", Route::Shard(sinterstore)),
    row("sunionstore", -3, RW, ALL_KEYS, "set", "Stores the union of multiple sets in a key.", Route::Shard(sunionstore)),
    row("sdiffstore", -3, RW, ALL_KEYS, "set", "Stores the difference of multiple sets in a key.", Route::Shard(sdiffstore)),
    row("sintercard", -3, READONLY, SINTERCARD_KEYS, "set", "Returns the number of members of the intersect of multiple sets.", Route::Shard(sintercard)),
    row("smove", 4, WRITE | FAST, range(1, 2, 1), "set", "Moves a member from one set to another.", Route::Shard(smove)),
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
