//! The string family: `GET`, `SET` and every other command on string values.

use bytes::Bytes;

use super::flags::*;
use super::{row, CommandSpec, Multi, Route, KEY1};
use crate::cursor::ArgCursor;
use crate::error::{CmdError, CmdResult};
use crate::keyspace::{Entry, NO_EXPIRE};
use crate::resp::Reply;
use crate::shard::{get_str, Ctx};
use crate::value::Value;

fn get(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let now = ctx.now_ms;
    let db = &mut ctx.shard.dbs[ctx.db];
    let found = db.lookup(&args[1], now).is_some();
    if found {
        db.stats.keyspace_hits += 1;
    } else {
        db.stats.keyspace_misses += 1;
    }
    let value = get_str(db, &args[1], now)?;
    ctx.out.bulk_opt(value.map(|v| v.as_slice()));
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

fn set(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut c = ArgCursor::new(args);
    let key = c.next()?;
    let value = c.next()?;
    let (mut nx, mut xx, mut get_old) = (false, false, false);
    let mut expire = ExpireOpt::None;
    let mut expire_given = false;
    while let Some(word) = c.next_word() {
        match word.as_str() {
            "NX" if !xx => nx = true,
            "XX" if !nx => xx = true,
            "GET" => get_old = true,
            "KEEPTTL" if !expire_given => {
                expire = ExpireOpt::Keep;
                expire_given = true;
            }
            "EX" | "PX" | "EXAT" | "PXAT" if !expire_given => {
                let n = c.next_i64()?;
                let unit = if word.starts_with('E') { 1000 } else { 1 };
                let absolute = word.ends_with("AT");
                expire = ExpireOpt::At(deadline_ms(n, unit, absolute, ctx.now_ms, "set")?);
                expire_given = true;
            }
            _ => return Err(CmdError::Syntax),
        }
    }
    let now = ctx.now_ms;
    let db = ctx.db();
    let old = match db.lookup(key, now) {
        None => None,
        Some(Entry {
            value: Value::Str(s),
            expire_at_ms,
        }) => Some((s.clone(), *expire_at_ms)),
    };
    let exists = old.is_some();
    if (nx && exists) || (xx && !exists) {
        if get_old {
            ctx.out.bulk_opt(old.as_ref().map(|(v, _)| v.as_slice()));
        } else {
            ctx.out.null();
        }
        return Ok(());
    }
    let expire_at_ms = match expire {
        ExpireOpt::None => NO_EXPIRE,
        ExpireOpt::Keep => old.as_ref().map_or(NO_EXPIRE, |(_, at)| *at),
        ExpireOpt::At(at) => at,
    };
    db.insert(key, Value::Str(value.to_vec()), expire_at_ms);
    ctx.dirty(1);
    if get_old {
        ctx.out.bulk_opt(old.as_ref().map(|(v, _)| v.as_slice()));
    } else {
        ctx.out.ok();
    }
    Ok(())
}

fn mget(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let now = ctx.now_ms;
    ctx.out.array(args.len() - 1);
    for key in &args[1..] {
        match ctx.shard.dbs[ctx.db].lookup_read(key, now) {
            Some(Entry {
                value: Value::Str(s),
                ..
            }) => {
                let s = s.clone();
                ctx.out.bulk(&s);
            }
            None => ctx.out.null(),
        }
    }
    Ok(())
}

fn check_pairs(args: &[Bytes], cmd: &str) -> CmdResult {
    if args.len() % 2 == 0 {
        return Err(CmdError::WrongArgs(cmd.to_string()));
    }
    Ok(())
}

fn mset(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    check_pairs(args, "mset")?;
    for pair in args[1..].chunks(2) {
        ctx.db()
            .insert(&pair[0], Value::Str(pair[1].to_vec()), NO_EXPIRE);
    }
    ctx.dirty((args.len() / 2) as u64);
    ctx.out.ok();
    Ok(())
}

fn msetnx(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    check_pairs(args, "msetnx")?;
    let now = ctx.now_ms;
    if args[1..].chunks(2).any(|p| ctx.db().contains(&p[0], now)) {
        ctx.out.int(0);
        return Ok(());
    }
    for pair in args[1..].chunks(2) {
        ctx.db()
            .insert(&pair[0], Value::Str(pair[1].to_vec()), NO_EXPIRE);
    }
    ctx.dirty((args.len() / 2) as u64);
    ctx.out.int(1);
    Ok(())
}

const RW: u32 = WRITE | DENYOOM;

pub const COMMANDS: &[CommandSpec] = &[
    row("get", 2, READONLY | FAST, KEY1, "string", "Returns the string value of a key.", Route::Shard(get)),
    row("set", -3, RW, KEY1, "string", "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.", Route::Shard(set)),
    row("mget", -2, READONLY | FAST, (1, -1, 1), "string", "Atomically returns the string values of one or more keys.", Route::Multi(Multi::MGet, mget)),
    row("mset", -3, RW, (1, -1, 2), "string", "Atomically creates or modifies the string values of one or more keys.", Route::Multi(Multi::MSet, mset)),
    row("msetnx", -3, RW, (1, -1, 2), "string", "Atomically modifies the string values of one or more keys only when all keys don't exist.", Route::Multi(Multi::MSetNx, msetnx)),
];

#[cfg(test)]
mod tests {
    use crate::harness::TestShard;

    #[test]
    fn set_and_get() {
        let mut s = TestShard::default();
        assert_eq!(s.run(&["SET", "k", "v"]), "OK");
        assert_eq!(s.run(&["GET", "k"]), "v");
        assert_eq!(s.run(&["GET", "nokey"]), "(nil)");
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
        assert_eq!(s.run(&["SET", "n", "w", "XX"]), "(nil)");
        assert_eq!(s.run(&["SET", "k", "x", "NX", "XX"]), "-ERR syntax error");
        assert_eq!(
            s.run(&["SET", "k", "x", "EX", "0"]),
            "-ERR invalid expire time in 'set' command"
        );
        assert_eq!(
            s.run(&["SET", "k", "x", "EX", "abc"]),
            "-ERR value is not an integer or out of range"
        );
        assert_eq!(
            s.run(&["SET", "k", "x", "EX", "10", "PX", "5"]),
            "-ERR syntax error"
        );
        assert_eq!(s.run(&["SET", "k", "x", "PX", "1500"]), "OK");
        s.advance_ms(1499);
        assert_eq!(s.run(&["GET", "k"]), "x");
        s.advance_ms(1);
        assert_eq!(s.run(&["GET", "k"]), "(nil)");
        let at = (s.now_ms + 5000).to_string();
        assert_eq!(s.run(&["SET", "k", "y", "PXAT", &at]), "OK");
        assert_eq!(s.run(&["SET", "k", "z", "KEEPTTL"]), "OK");
        s.advance_ms(5000);
        assert_eq!(s.run(&["GET", "k"]), "(nil)");
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
        assert_eq!(s.run(&["MSETNX", "c", "3", "a", "9"]), "0");
        assert_eq!(s.run(&["MSETNX", "c", "3", "d", "4"]), "1");
        assert_eq!(s.run(&["MGET", "a", "c", "d"]), "[1, 3, 4]");
    }
}
