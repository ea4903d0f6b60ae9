//! The generic key family: deleting, testing, renaming, expiring and enumerating keys.
//!
//! Multi-key rows (`DEL`, `EXISTS`, `RENAME`, `COPY`, ...) have a handler for the case
//! where every key lives on one shard; the server splits them into per-shard parts
//! when they span shards. Whole-keyspace rows (`DBSIZE`, `SCAN`, ...) are fanned out by
//! the server and have no handler here.

use bytes::Bytes;

use super::flags::*;
use super::{row, All, CommandSpec, Multi, Route, NO_KEYS};
use crate::cursor::ArgCursor;
use crate::error::{CmdError, CmdResult};
use crate::limits::DATABASES;
use crate::resp::{parse_i64, Reply};
use crate::shard::Ctx;

fn del(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let now = ctx.now_ms;
    let n = args[1..]
        .iter()
        .filter(|k| ctx.db().remove_live(k, now).is_some())
        .count();
    ctx.dirty(n as u64);
    ctx.out.int(n as i64);
    Ok(())
}

fn exists(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let now = ctx.now_ms;
    let n = args[1..]
        .iter()
        .filter(|k| ctx.db().contains(k, now))
        .count();
    ctx.out.int(n as i64);
    Ok(())
}

fn rename_generic(ctx: &mut Ctx, args: &[Bytes], nx: bool) -> CmdResult {
    let (src, dst) = (&args[1], &args[2]);
    let now = ctx.now_ms;
    if !ctx.db().contains(src, now) {
        return Err(CmdError::NoSuchKey);
    }
    if src == dst {
        if nx {
            ctx.out.int(0);
        } else {
            ctx.out.ok();
        }
        return Ok(());
    }
    if nx && ctx.db().contains(dst, now) {
        ctx.out.int(0);
        return Ok(());
    }
    let entry = ctx.db().remove(src).expect("checked live above");
    ctx.db().insert_entry(dst, entry);
    ctx.dirty(1);
    if nx {
        ctx.out.int(1);
    } else {
        ctx.out.ok();
    }
    Ok(())
}

fn rename(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    rename_generic(ctx, args, false)
}

fn renamenx(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    rename_generic(ctx, args, true)
}

/// `COPY`'s options: target database and `REPLACE`.
pub struct CopyArgs {
    pub db: Option<usize>,
    pub replace: bool,
}

/// Parses `COPY src dst [DB n] [REPLACE]` options (shared with the server's
/// cross-shard path).
pub fn parse_copy(args: &[Bytes]) -> CmdResult<CopyArgs> {
    let mut c = ArgCursor::new(args);
    c.next()?;
    c.next()?;
    let mut out = CopyArgs {
        db: None,
        replace: false,
    };
    while let Some(word) = c.next_word() {
        match word.as_str() {
            "REPLACE" => out.replace = true,
            "DB" => out.db = Some(parse_db_index(c.next()?)?),
            _ => return Err(CmdError::Syntax),
        }
    }
    Ok(out)
}

/// A database index argument: an integer (`ERR value is not an integer...`), then in
/// range (`ERR DB index is out of range`).
pub fn parse_db_index(arg: &[u8]) -> CmdResult<usize> {
    let n = parse_i64(arg).ok_or(CmdError::NotInteger)?;
    if n < 0 || n as usize >= DATABASES {
        return Err(CmdError::DbIndexOutOfRange);
    }
    Ok(n as usize)
}

fn copy(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let opts = parse_copy(args)?;
    let (src, dst) = (&args[1], &args[2]);
    let dst_db = opts.db.unwrap_or(ctx.db);
    if src == dst && dst_db == ctx.db {
        return Err(CmdError::SameObject);
    }
    let now = ctx.now_ms;
    let Some(entry) = ctx.db().lookup(src, now).map(|e| e.clone()) else {
        ctx.out.int(0);
        return Ok(());
    };
    let target = &mut ctx.shard.dbs[dst_db];
    if target.contains(dst, now) && !opts.replace {
        ctx.out.int(0);
        return Ok(());
    }
    target.insert_entry(dst, entry);
    ctx.dirty(1);
    ctx.out.int(1);
    Ok(())
}

const ALL_KEYS: (i32, i32, i32) = (1, -1, 1);

pub const COMMANDS: &[CommandSpec] = &[
    row("del", -2, WRITE, ALL_KEYS, "generic", "Deletes one or more keys.", Route::Multi(Multi::Del, del)),
    row("unlink", -2, WRITE | FAST, ALL_KEYS, "generic", "Asynchronously deletes one or more keys.", Route::Multi(Multi::Unlink, del)),
    row("exists", -2, READONLY | FAST, ALL_KEYS, "generic", "Determines whether one or more keys exist.", Route::Multi(Multi::Exists, exists)),
    row("touch", -2, READONLY | FAST, ALL_KEYS, "generic", "Returns the number of existing keys out of those specified after updating the time they were last accessed.", Route::Multi(Multi::Touch, exists)),
    row("rename", 3, WRITE, (1, 2, 1), "generic", "Renames a key and overwrites the destination.", Route::Multi(Multi::Rename, rename)),
    row("renamenx", 3, WRITE | FAST, (1, 2, 1), "generic", "Renames a key only when the target key name doesn't exist.", Route::Multi(Multi::RenameNx, renamenx)),
    row("copy", -3, WRITE | DENYOOM, (1, 2, 1), "generic", "Copies the value of a key to a new key.", Route::Multi(Multi::Copy, copy)),
    row("dbsize", 1, READONLY | FAST, NO_KEYS, "server", "Returns the number of keys in the database.", Route::All(All::DbSize)),
    row("keys", 2, READONLY, NO_KEYS, "generic", "Returns all key names that match a pattern.", Route::All(All::Keys)),
    row("scan", -2, READONLY, NO_KEYS, "generic", "Iterates over the key names in the database.", Route::All(All::Scan)),
    row("randomkey", 1, READONLY, NO_KEYS, "generic", "Returns a random key name from the database.", Route::All(All::RandomKey)),
    row("flushdb", -1, WRITE, NO_KEYS, "server", "Removes all keys from the current database.", Route::All(All::FlushDb)),
    row("flushall", -1, WRITE, NO_KEYS, "server", "Removes all keys from all databases.", Route::All(All::FlushAll)),
    row("swapdb", 3, WRITE | FAST, NO_KEYS, "server", "Swaps two Redis databases.", Route::All(All::SwapDb)),
];

#[cfg(test)]
mod tests {
    use crate::harness::TestShard;

    #[test]
    fn del_exists_touch() {
        let mut s = TestShard::default();
        s.run(&["MSET", "a", "1", "b", "2"]);
        assert_eq!(s.run(&["EXISTS", "a", "a", "x"]), "2");
        assert_eq!(s.run(&["TOUCH", "a", "b", "x"]), "2");
        assert_eq!(s.run(&["DEL", "a", "x"]), "1");
        assert_eq!(s.run(&["UNLINK", "b"]), "1");
        assert_eq!(s.run(&["EXISTS", "a", "b"]), "0");
    }

    #[test]
    fn rename_and_renamenx() {
        let mut s = TestShard::default();
        assert_eq!(s.run(&["RENAME", "a", "b"]), "-ERR no such key");
        s.run(&["SET", "a", "1", "PX", "10000"]);
        assert_eq!(s.run(&["RENAME", "a", "a"]), "OK");
        assert_eq!(s.run(&["RENAME", "a", "b"]), "OK");
        assert_eq!(s.run(&["GET", "b"]), "1");
        assert_eq!(s.run(&["EXISTS", "a"]), "0");
        s.run(&["SET", "c", "3"]);
        assert_eq!(s.run(&["RENAMENX", "b", "c"]), "0");
        assert_eq!(s.run(&["RENAMENX", "b", "d"]), "1");
        s.advance_ms(10_000);
        assert_eq!(s.run(&["GET", "d"]), "(nil)", "the TTL moves with the key");
    }

    #[test]
    fn copy_options() {
        let mut s = TestShard::default();
        s.run(&["SET", "a", "1"]);
        assert_eq!(
            s.run(&["COPY", "a", "a"]),
            "-ERR source and destination objects are the same"
        );
        assert_eq!(s.run(&["COPY", "a", "b"]), "1");
        assert_eq!(s.run(&["COPY", "a", "b"]), "0");
        assert_eq!(s.run(&["COPY", "a", "b", "REPLACE"]), "1");
        assert_eq!(s.run(&["COPY", "a", "a", "DB", "1"]), "1");
        assert_eq!(
            s.run(&["COPY", "a", "a", "DB", "16"]),
            "-ERR DB index is out of range"
        );
        assert_eq!(s.run(&["COPY", "a", "a", "FOO"]), "-ERR syntax error");
        s.db = 1;
        assert_eq!(s.run(&["GET", "a"]), "1");
    }
}
