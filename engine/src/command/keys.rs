//! The generic key family: deleting, testing, renaming, moving, expiring, inspecting
//! and enumerating keys.
//!
//! Multi-key rows (`DEL`, `EXISTS`, `RENAME`, `COPY`, ...) point to their parts in
//! `multikey.rs`, whole-keyspace rows (`DBSIZE`, `SCAN`, ...) to theirs in `whole.rs`:
//! one implementation whether the keys live on one shard or several.

use bytes::Bytes;

use super::flags::*;
use super::{multikey, range, row, whole, CommandSpec, KeySpec, Route, KEY1, NO_KEYS};
use crate::command::Ctx;
use crate::cursor::ArgCursor;
use crate::error::{CmdError, CmdResult};
use crate::keyspace::evict::{self, Policy};
use crate::keyspace::NO_EXPIRE;
use crate::limits::DATABASES;
use crate::resp::{parse_i64, Reply, ReplyBuf};
use crate::value::Value;

/// `COPY`'s options: target database and `REPLACE`.
pub struct CopyArgs {
    pub db: Option<usize>,
    pub replace: bool,
}

/// Parses `COPY src dst [DB n] [REPLACE]` options (shared with the server's
/// cross-shard path).
pub fn parse_copy(args: &[Bytes]) -> CmdResult<CopyArgs> {
    let mut c = ArgCursor::new(args);
    c.arg()?;
    c.arg()?;
    let mut out = CopyArgs {
        db: None,
        replace: false,
    };
    while let Some(word) = c.next_word() {
        match word.as_str() {
            "REPLACE" => out.replace = true,
            "DB" => out.db = Some(parse_db_index(c.arg()?)?),
            _ => return Err(CmdError::Syntax),
        }
    }
    Ok(out)
}

/// A database index argument: a 32-bit integer (`ERR value is not an integer...`, as
/// Redis's `getIntFromObjectOrReply`), then in range (`ERR DB index is out of range`).
pub fn parse_db_index(arg: &[u8]) -> CmdResult<usize> {
    let n = parse_i64(arg)
        .and_then(|n| i32::try_from(n).ok())
        .ok_or(CmdError::NotInteger)?;
    if n < 0 || n as usize >= DATABASES {
        return Err(CmdError::DbIndexOutOfRange);
    }
    Ok(n as usize)
}

/// How a command writes times: seconds or milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Sec,
    Ms,
}

impl Unit {
    fn ms(self) -> i64 {
        match self {
            Unit::Sec => 1000,
            Unit::Ms => 1,
        }
    }
}

/// What a command's time is measured from: now (`EXPIRE`, `TTL`) or the Unix epoch
/// (`EXPIREAT`, `EXPIRETIME`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Base {
    Now,
    Epoch,
}

/// The `NX | XX | GT | LT` conditions of the `EXPIRE` commands.
#[derive(Debug, Default, Clone, Copy)]
struct ExpireCond {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

impl ExpireCond {
    /// Reads every remaining argument as a condition, then rejects the combinations
    /// Redis 7.0 rejects, with its texts.
    fn parse(c: &mut ArgCursor) -> CmdResult<Self> {
        let mut cond = ExpireCond::default();
        while let Some(opt) = c.next_opt() {
            let flag = if opt.eq_ignore_ascii_case(b"NX") {
                &mut cond.nx
            } else if opt.eq_ignore_ascii_case(b"XX") {
                &mut cond.xx
            } else if opt.eq_ignore_ascii_case(b"GT") {
                &mut cond.gt
            } else if opt.eq_ignore_ascii_case(b"LT") {
                &mut cond.lt
            } else {
                let msg = format!("ERR Unsupported option {}", error_text(opt));
                return Err(CmdError::Raw(msg));
            };
            *flag = true;
        }
        if cond.nx && (cond.xx || cond.gt || cond.lt) {
            return Err(CmdError::Raw(
                "ERR NX and XX, GT or LT options at the same time are not compatible".into(),
            ));
        }
        if cond.gt && cond.lt {
            return Err(CmdError::Raw(
                "ERR GT and LT options at the same time are not compatible".into(),
            ));
        }
        Ok(cond)
    }

    /// Whether the new deadline may replace `current_ms` (`None`: no TTL, which counts
    /// as infinite, so `GT` never passes and `LT` always does).
    fn allows(self, new_ms: i64, current_ms: Option<i64>) -> bool {
        match current_ms {
            None => !self.xx && !self.gt,
            Some(cur) => {
                let gt_ok = !self.gt || new_ms > cur;
                let lt_ok = !self.lt || new_ms < cur;
                !self.nx && gt_ok && lt_ok
            }
        }
    }
}

/// An argument quoted in an error reply, kept on one line as Redis does (CR and LF
/// become spaces), so the reply stays valid RESP.
fn error_text(arg: &[u8]) -> String {
    String::from_utf8_lossy(arg).replace(['\r', '\n'], " ")
}

/// `EXPIRE`, `PEXPIRE`, `EXPIREAT` and `PEXPIREAT`: `key time [NX|XX|GT|LT]...`.
///
/// Redis's order of checks: options, then the integer, then overflow of the absolute
/// deadline (`ERR invalid expire time in '<cmd>' command`), then the key. Negative
/// times are accepted; a deadline not after now deletes the key, which is a write
/// answered with 1.
fn expire_generic(
    ctx: &mut Ctx,
    args: &[Bytes],
    cmd: &'static str,
    unit: Unit,
    base: Base,
) -> CmdResult {
    let mut c = ArgCursor::new(args);
    let key = c.arg()?;
    let time = c.arg()?;
    let cond = ExpireCond::parse(&mut c)?;
    c.finish()?;
    let time = parse_i64(time).ok_or(CmdError::NotInteger)?;
    let now = ctx.now_ms;
    let base_ms = match base {
        Base::Now => now as i64,
        Base::Epoch => 0,
    };
    let at_ms = time
        .checked_mul(unit.ms())
        .and_then(|ms| ms.checked_add(base_ms))
        .ok_or(CmdError::InvalidExpire(cmd))?;
    let Some(entry) = ctx.ks.find(ctx.db, key, now) else {
        ctx.out.int(0);
        return Ok(());
    };
    let current_ms = (entry.expire_at_ms != NO_EXPIRE).then_some(entry.expire_at_ms as i64);
    if !cond.allows(at_ms, current_ms) {
        ctx.out.int(0);
        return Ok(());
    }
    if at_ms <= now as i64 {
        let removed = ctx.ks.remove(ctx.db, key, now);
        assert!(removed);
    } else {
        let at_ms = at_ms as u64;
        assert!(at_ms != NO_EXPIRE);
        let set = ctx.ks.set_expire(ctx.db, key, at_ms, now);
        assert!(set);
    }
    ctx.out.int(1);
    Ok(())
}

fn expire(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    expire_generic(ctx, args, "expire", Unit::Sec, Base::Now)
}

fn pexpire(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    expire_generic(ctx, args, "pexpire", Unit::Ms, Base::Now)
}

fn expireat(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    expire_generic(ctx, args, "expireat", Unit::Sec, Base::Epoch)
}

fn pexpireat(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    expire_generic(ctx, args, "pexpireat", Unit::Ms, Base::Epoch)
}

fn persist(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let now = ctx.now_ms;
    let volatile = ctx
        .ks
        .find(ctx.db, key, now)
        .is_some_and(|e| e.expire_at_ms != NO_EXPIRE);
    if volatile {
        ctx.ks.set_expire(ctx.db, key, NO_EXPIRE, now);
    }
    ctx.out.int(volatile as i64);
    Ok(())
}

/// `TTL`, `PTTL`, `EXPIRETIME` and `PEXPIRETIME`: -2 for a missing key, -1 for a key
/// without a deadline. Seconds are rounded to the nearest (`(ms + 500) / 1000`), as
/// Redis does, so a key with 1500 ms left reports a TTL of 2.
fn ttl_generic(ctx: &mut Ctx, args: &[Bytes], unit: Unit, base: Base) -> CmdResult {
    let now = ctx.now_ms;
    let Some(entry) = ctx.ks.find_read(ctx.db, &args[1], now) else {
        ctx.out.int(-2);
        return Ok(());
    };
    let at_ms = entry.expire_at_ms;
    if at_ms == NO_EXPIRE {
        ctx.out.int(-1);
        return Ok(());
    }
    assert!(at_ms > now, "lookup returns live keys only");
    assert!(at_ms <= i64::MAX as u64);
    let ms = match base {
        Base::Now => at_ms - now,
        Base::Epoch => at_ms,
    };
    let reply = match unit {
        Unit::Ms => ms,
        Unit::Sec => (ms + 500) / 1000,
    };
    ctx.out.int(reply as i64);
    Ok(())
}

fn ttl(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    ttl_generic(ctx, args, Unit::Sec, Base::Now)
}

fn pttl(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    ttl_generic(ctx, args, Unit::Ms, Base::Now)
}

fn expiretime(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    ttl_generic(ctx, args, Unit::Sec, Base::Epoch)
}

fn pexpiretime(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    ttl_generic(ctx, args, Unit::Ms, Base::Epoch)
}

fn type_cmd(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let now = ctx.now_ms;
    let name = ctx
        .ks
        .find_read(ctx.db, &args[1], now)
        .map_or("none", |e| e.value.type_name());
    ctx.out.simple(name.as_bytes());
    Ok(())
}

/// `MOVE key db`: the key and its deadline go to database `db` of this shard (a key
/// lives on the same shard in every database). Replies 0 when the key is missing here
/// or already exists there.
fn move_key(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut c = ArgCursor::new(args);
    let key = c.arg()?;
    let dst_db = parse_db_index(c.arg()?)?;
    c.finish()?;
    if dst_db == ctx.db {
        return Err(CmdError::SameObject);
    }
    let now = ctx.now_ms;
    let moved = ctx.ks.move_key(ctx.db, dst_db, key, now);
    ctx.out.int(moved as i64);
    Ok(())
}

/// `OBJECT`'s subcommands that inspect a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ObjectSub {
    Encoding,
    RefCount,
    IdleTime,
    Freq,
}

/// Subcommand names as `COMMAND` and arity errors spell them (`object|encoding`).
const OBJECT_SUBCOMMANDS: &[(&str, ObjectSub)] = &[
    ("encoding", ObjectSub::Encoding),
    ("refcount", ObjectSub::RefCount),
    ("idletime", ObjectSub::IdleTime),
    ("freq", ObjectSub::Freq),
];

/// `OBJECT`'s subcommands and their arities (the command, the subcommand and
/// the key; `HELP` alone), as [`object`] resolves them: the server's registry
/// lists, counts and checks `OBJECT`'s subcommands from these.
pub fn object_subcommands() -> impl Iterator<Item = (&'static str, i32)> {
    let keyed = OBJECT_SUBCOMMANDS.iter().map(|(name, _)| (*name, 3));
    keyed.chain([("help", 2)])
}

/// `OBJECT HELP`'s lines between Redis's header and footer.
const OBJECT_HELP: &[&str] = &[
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
];

/// Longest subcommand name quoted in `unknown subcommand` errors (Redis's `%.128s`).
const SUBCOMMAND_QUOTE_MAX_BYTES: usize = 128;

/// Redis shares one object for each integer in `0..OBJ_SHARED_INTEGERS` unless
/// `maxmemory` is set with an LRU or LFU policy (each key then needs its own access
/// word); `OBJECT REFCOUNT` reports such values with the shared refcount `INT_MAX`,
/// every other value with 1.
const SHARED_INTEGERS_END: i64 = 10_000;
const SHARED_REFCOUNT: i64 = i32::MAX as i64;

fn refcount(value: &Value, eviction: evict::EvictionConfig) -> i64 {
    let per_key_access = eviction.maxmemory_bytes != 0
        && matches!(
            eviction.policy,
            Policy::AllKeysLru | Policy::VolatileLru | Policy::AllKeysLfu | Policy::VolatileLfu
        );
    if per_key_access {
        return 1;
    }
    let shared = match value {
        Value::Str(s) => {
            value.encoding() == "int"
                && parse_i64(s).is_some_and(|n| (0..SHARED_INTEGERS_END).contains(&n))
        }
        Value::Hash(_) | Value::Set(_) | Value::Zset(_) | Value::List(_) => false,
    };
    if shared {
        SHARED_REFCOUNT
    } else {
        1
    }
}

fn object_help(out: &mut ReplyBuf) {
    out.array(OBJECT_HELP.len() + 3);
    out.simple(b"OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:");
    for line in OBJECT_HELP {
        out.simple(line.as_bytes());
    }
    out.simple(b"HELP");
    out.simple(b"    Prints this help.");
}

/// `OBJECT <subcommand> ...`. Redis 7.0 checks each subcommand's arity on its own, so
/// the errors name `object|encoding`, `object|help`, ...; a missing key is a null.
fn object(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut c = ArgCursor::new(args);
    let sub_name = c.arg()?;
    if sub_name.eq_ignore_ascii_case(b"help") {
        if !c.is_empty() {
            return Err(CmdError::WrongArgs("object|help".into()));
        }
        object_help(ctx.out);
        return Ok(());
    }
    let Some(&(name, sub)) = OBJECT_SUBCOMMANDS
        .iter()
        .find(|(name, _)| sub_name.eq_ignore_ascii_case(name.as_bytes()))
    else {
        let quoted = &sub_name[..sub_name.len().min(SUBCOMMAND_QUOTE_MAX_BYTES)];
        return Err(CmdError::UnknownSubcommand {
            sub: error_text(quoted),
            cmd: "OBJECT".into(),
        });
    };
    if c.remaining() != 1 {
        return Err(CmdError::WrongArgs(format!("object|{name}")));
    }
    let key = c.arg()?;
    let now = ctx.now_ms;
    let eviction = ctx.ks.eviction();
    let Some(entry) = ctx.ks.find_read(ctx.db, key, now) else {
        ctx.out.null();
        return Ok(());
    };
    match sub {
        ObjectSub::Encoding => {
            let encoding = entry.value.encoding();
            ctx.out.bulk(encoding.as_bytes());
        }
        ObjectSub::RefCount => {
            let n = refcount(entry.value, eviction);
            ctx.out.int(n);
        }
        ObjectSub::IdleTime if eviction.policy.lfu() => {
            return Err(CmdError::Raw(
                "ERR An LFU maxmemory policy is selected, idle time not tracked. \
                 Please note that when switching between policies at runtime LRU and LFU \
                 data will take some time to adjust."
                    .into(),
            ))
        }
        ObjectSub::IdleTime => {
            let idle_s = evict::idle_ms(entry.access(), now) / 1000;
            ctx.out.int(idle_s as i64);
        }
        ObjectSub::Freq if eviction.policy.lfu() => {
            let freq = evict::lfu_counter(entry.access(), now, eviction.lfu_decay_time);
            ctx.out.int(i64::from(freq));
        }
        ObjectSub::Freq => {
            return Err(CmdError::Raw(
                "ERR An LFU maxmemory policy is not selected, access frequency not tracked. \
                 Please note that when switching between policies at runtime LRU and LFU \
                 data will take some time to adjust."
                    .into(),
            ))
        }
    }
    Ok(())
}

const ALL_KEYS: KeySpec = range(1, -1, 1);

pub const COMMANDS: &[CommandSpec] = &[
    row("del", -2, WRITE, ALL_KEYS, "generic", "Deletes one or more keys.", Route::Parts(&multikey::DEL)),
    row("unlink", -2, WRITE | FAST, ALL_KEYS, "generic", "Asynchronously deletes one or more keys.", Route::Parts(&multikey::DEL)),
    row("exists", -2, READONLY | FAST, ALL_KEYS, "generic", "Determines whether one or more keys exist.", Route::Parts(&multikey::EXISTS)),
    row("touch", -2, READONLY | FAST, ALL_KEYS, "generic", "Returns the number of existing keys out of those specified after updating the time they were last accessed.", Route::Parts(&multikey::EXISTS)),
    row("rename", 3, WRITE, range(1, 2, 1), "generic", "Renames a key and overwrites the destination.", Route::Parts(&multikey::RENAME)),
    row("renamenx", 3, WRITE | FAST, range(1, 2, 1), "generic", "Renames a key only when the target key name doesn't exist.", Route::Parts(&multikey::RENAMENX)),
    row("copy", -3, WRITE | DENYOOM, range(1, 2, 1), "generic", "Copies the value of a key to a new key.", Route::Parts(&multikey::COPY)),
    row("expire", -3, WRITE | FAST, KEY1, "generic", "Sets the expiration time of a key in seconds.", Route::Shard(expire)),
    row("pexpire", -3, WRITE | FAST, KEY1, "generic", "Sets the expiration time of a key in milliseconds.", Route::Shard(pexpire)),
    row("expireat", -3, WRITE | FAST, KEY1, "generic", "Sets the expiration time of a key to a Unix timestamp.", Route::Shard(expireat)),
    row("pexpireat", -3, WRITE | FAST, KEY1, "generic", "Sets the expiration time of a key to a Unix milliseconds timestamp.", Route::Shard(pexpireat)),
    row("persist", 2, WRITE | FAST, KEY1, "generic", "Removes the expiration time of a key.", Route::Shard(persist)),
    row("ttl", 2, READONLY | FAST, KEY1, "generic", "Returns the expiration time in seconds of a key.", Route::Shard(ttl)),
    row("pttl", 2, READONLY | FAST, KEY1, "generic", "Returns the expiration time in milliseconds of a key.", Route::Shard(pttl)),
    row("expiretime", 2, READONLY | FAST, KEY1, "generic", "Returns the expiration time of a key as a Unix timestamp.", Route::Shard(expiretime)),
    row("pexpiretime", 2, READONLY | FAST, KEY1, "generic", "Returns the expiration time of a key as a Unix milliseconds timestamp.", Route::Shard(pexpiretime)),
    row("type", 2, READONLY | FAST, KEY1, "generic", "Determines the type of value stored at a key.", Route::Shard(type_cmd)),
    row("move", 3, WRITE | FAST, KEY1, "generic", "Moves a key to another database.", Route::Shard(move_key)),
    row("object", -2, READONLY, range(2, 2, 1), "generic", "A container for object introspection commands.", Route::Shard(object)),
    row("dbsize", 1, READONLY | FAST, NO_KEYS, "server", "Returns the number of keys in the database.", Route::Parts(&whole::DBSIZE)),
    row("keys", 2, READONLY, NO_KEYS, "generic", "Returns all key names that match a pattern.", Route::Parts(&whole::KEYS)),
    row("scan", -2, READONLY, NO_KEYS, "generic", "Iterates over the key names in the database.", Route::Parts(&whole::SCAN)),
    row("randomkey", 1, READONLY, NO_KEYS, "generic", "Returns a random key name from the database.", Route::Parts(&whole::RANDOMKEY)),
    row("flushdb", -1, WRITE, NO_KEYS, "server", "Removes all keys from the current database.", Route::Parts(&whole::FLUSHDB)),
    row("flushall", -1, WRITE, NO_KEYS, "server", "Removes all keys from all databases.", Route::Parts(&whole::FLUSHALL)),
    row("swapdb", 3, WRITE | FAST, NO_KEYS, "server", "Swaps two Redis databases.", Route::Parts(&whole::SWAPDB)),
];

#[cfg(test)]
mod tests {
    use crate::command::table;
    use crate::harness::TestShard;

    /// The harness's starting clock, in Unix seconds.
    const NOW_S: u64 = 1_700_000_000;

    fn dirty(s: &TestShard) -> u64 {
        s.shard.keyspace().dirty()
    }

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

    #[test]
    fn expire_sets_a_deadline_the_key_dies_at() {
        let mut s = TestShard::default();
        assert_eq!(s.run(&["EXPIRE", "k", "10"]), "0", "missing key");
        s.run(&["SET", "k", "v"]);
        let before = dirty(&s);
        assert_eq!(s.run(&["EXPIRE", "k", "10"]), "1");
        assert_eq!(dirty(&s), before + 1);
        assert_eq!(s.run(&["TTL", "k"]), "10");
        assert_eq!(s.run(&["PTTL", "k"]), "10000");
        assert_eq!(s.run(&["PEXPIRE", "k", "2500"]), "1");
        assert_eq!(s.run(&["PTTL", "k"]), "2500");
        s.advance_ms(2499);
        assert_eq!(s.run(&["PTTL", "k"]), "1");
        assert_eq!(s.run(&["GET", "k"]), "v");
        s.advance_ms(1);
        assert_eq!(s.run(&["GET", "k"]), "(nil)");
        assert_eq!(s.run(&["TTL", "k"]), "-2");
        assert_eq!(s.run(&["EXPIRE", "k", "10"]), "0", "expired key is missing");
    }

    #[test]
    fn expireat_and_pexpireat_take_unix_times() {
        let mut s = TestShard::default();
        s.run(&["SET", "k", "v"]);
        let at = (NOW_S + 100).to_string();
        assert_eq!(s.run(&["EXPIREAT", "k", &at]), "1");
        assert_eq!(s.run(&["EXPIRETIME", "k"]), at);
        assert_eq!(s.run(&["PEXPIRETIME", "k"]), format!("{at}000"));
        assert_eq!(s.run(&["TTL", "k"]), "100");
        assert_eq!(s.run(&["PEXPIREAT", "k", &format!("{at}250")]), "1");
        assert_eq!(s.run(&["PTTL", "k"]), "100250");
        assert_eq!(s.run(&["PEXPIRETIME", "k"]), format!("{at}250"));
    }

    #[test]
    fn ttl_rounds_to_the_nearest_second() {
        let mut s = TestShard::default();
        s.run(&["SET", "k", "v"]);
        for (ms, secs) in [("499", "0"), ("500", "1"), ("1499", "1"), ("1500", "2")] {
            s.run(&["PEXPIRE", "k", ms]);
            assert_eq!(s.run(&["TTL", "k"]), secs, "{ms} ms left");
        }
        let at = NOW_S * 1000 + 10_000;
        s.run(&["PEXPIREAT", "k", &(at + 499).to_string()]);
        assert_eq!(s.run(&["EXPIRETIME", "k"]), (NOW_S + 10).to_string());
        s.run(&["PEXPIREAT", "k", &(at + 500).to_string()]);
        assert_eq!(s.run(&["EXPIRETIME", "k"]), (NOW_S + 11).to_string());
    }

    #[test]
    fn ttl_family_on_missing_and_persistent_keys() {
        let mut s = TestShard::default();
        s.run(&["SET", "k", "v"]);
        for cmd in ["TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"] {
            assert_eq!(s.run(&[cmd, "nokey"]), "-2", "{cmd}");
            assert_eq!(s.run(&[cmd, "k"]), "-1", "{cmd}");
        }
    }

    #[test]
    fn ttl_type_and_object_count_keyspace_hits_and_expire_does_not() {
        let mut s = TestShard::default();
        s.run(&["SET", "k", "v"]);
        s.run(&["EXPIRE", "k", "10"]);
        s.run(&["EXPIRE", "x", "10"]);
        s.run(&["TTL", "k"]);
        s.run(&["TYPE", "x"]);
        s.run(&["OBJECT", "ENCODING", "k"]);
        let stats = s.shard.keyspace().db(0).stats();
        assert_eq!((stats.keyspace_hits, stats.keyspace_misses), (2, 1));
    }

    #[test]
    fn expire_in_the_past_deletes_the_key() {
        let mut s = TestShard::default();
        let now_ms = (NOW_S * 1000).to_string();
        let cases: [&[&str]; 6] = [
            &["EXPIRE", "k", "0"],
            &["EXPIRE", "k", "-1"],
            &["PEXPIRE", "k", "-9223372036854775808"],
            &["EXPIREAT", "k", "1"],
            &["PEXPIREAT", "k", &now_ms],
            &["EXPIRE", "k", "-9223372036854775"],
        ];
        for args in cases {
            s.run(&["SET", "k", "v", "EX", "100"]);
            let before = dirty(&s);
            assert_eq!(s.run(args), "1", "{args:?}");
            assert_eq!(dirty(&s), before + 1, "{args:?} is a write");
            assert_eq!(s.run(&["EXISTS", "k"]), "0", "{args:?}");
            assert_eq!(s.run(args), "0", "{args:?} on a missing key");
        }
        s.run(&["SET", "k", "v"]);
        assert_eq!(
            s.run(&["PEXPIREAT", "k", &(NOW_S * 1000 + 1).to_string()]),
            "1"
        );
        assert_eq!(s.run(&["PTTL", "k"]), "1", "a deadline after now is kept");
    }

    #[test]
    fn nx_and_xx() {
        let mut s = TestShard::default();
        s.run(&["SET", "k", "v"]);
        assert_eq!(s.run(&["EXPIRE", "k", "100", "XX"]), "0", "no TTL yet");
        assert_eq!(s.run(&["TTL", "k"]), "-1");
        assert_eq!(s.run(&["EXPIRE", "k", "100", "nx"]), "1");
        assert_eq!(s.run(&["EXPIRE", "k", "200", "NX"]), "0");
        assert_eq!(s.run(&["TTL", "k"]), "100");
        assert_eq!(s.run(&["EXPIRE", "k", "200", "XX"]), "1");
        assert_eq!(s.run(&["TTL", "k"]), "200");
        assert_eq!(
            s.run(&["EXPIRE", "k", "50", "XX", "XX"]),
            "1",
            "repeats allowed"
        );
        assert_eq!(s.run(&["TTL", "k"]), "50");
    }

    #[test]
    fn gt_and_lt_treat_no_ttl_as_infinite() {
        let mut s = TestShard::default();
        s.run(&["SET", "k", "v"]);
        let before = dirty(&s);
        assert_eq!(s.run(&["EXPIRE", "k", "100", "GT"]), "0");
        assert_eq!(s.run(&["EXPIRE", "k", "100", "XX", "LT"]), "0");
        assert_eq!(s.run(&["TTL", "k"]), "-1");
        assert_eq!(dirty(&s), before, "a refused condition writes nothing");
        assert_eq!(s.run(&["EXPIRE", "k", "100", "LT"]), "1");
        assert_eq!(
            s.run(&["EXPIRE", "k", "100", "GT"]),
            "0",
            "equal is not greater"
        );
        assert_eq!(
            s.run(&["EXPIRE", "k", "100", "LT"]),
            "0",
            "equal is not less"
        );
        assert_eq!(s.run(&["EXPIRE", "k", "200", "lt"]), "0");
        assert_eq!(s.run(&["EXPIRE", "k", "50", "GT"]), "0");
        assert_eq!(s.run(&["TTL", "k"]), "100");
        assert_eq!(s.run(&["EXPIRE", "k", "200", "gt"]), "1");
        assert_eq!(s.run(&["EXPIRE", "k", "150", "XX", "LT"]), "1");
        assert_eq!(s.run(&["TTL", "k"]), "150");
        assert_eq!(s.run(&["EXPIRE", "k", "-1", "GT"]), "0");
        assert_eq!(s.run(&["EXPIRE", "k", "-1", "LT"]), "1", "past: deleted");
        assert_eq!(s.run(&["EXISTS", "k"]), "0");
        s.run(&["SET", "k", "v"]);
        assert_eq!(
            s.run(&["EXPIRE", "k", "-1", "LT"]),
            "1",
            "no TTL, past: deleted"
        );
        assert_eq!(s.run(&["EXISTS", "k"]), "0");
    }

    #[test]
    fn expire_option_errors_come_before_the_time_and_the_key() {
        let mut s = TestShard::default();
        s.run(&["SET", "k", "v"]);
        let nx = "-ERR NX and XX, GT or LT options at the same time are not compatible";
        let gt = "-ERR GT and LT options at the same time are not compatible";
        for cmd in ["EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT"] {
            assert_eq!(s.run(&[cmd, "k", "10", "NX", "XX"]), nx);
            assert_eq!(s.run(&[cmd, "k", "10", "gt", "nx"]), nx);
            assert_eq!(s.run(&[cmd, "k", "10", "NX", "LT"]), nx);
            assert_eq!(s.run(&[cmd, "k", "10", "GT", "LT"]), gt);
            assert_eq!(s.run(&[cmd, "k", "10", "XX", "GT", "LT"]), gt);
            assert_eq!(s.run(&[cmd, "nokey", "abc", "NX", "XX"]), nx);
            assert_eq!(
                s.run(&[cmd, "k", "10", "NX", "foo", "XX"]),
                "-ERR Unsupported option foo"
            );
            assert_eq!(
                s.run(&[cmd, "k", "abc"]),
                "-ERR value is not an integer or out of range"
            );
            assert_eq!(
                s.run(&[cmd, "k", "1.5", "NX"]),
                "-ERR value is not an integer or out of range"
            );
        }
        assert_eq!(
            s.run_raw(&["EXPIRE", "k", "10", "a\r\nb"]),
            "-ERR Unsupported option a  b\r\n",
            "the reply stays on one line"
        );
        assert_eq!(s.run(&["TTL", "k"]), "-1", "errors change nothing");
    }

    #[test]
    fn expire_overflow_is_an_invalid_expire_time() {
        let mut s = TestShard::default();
        s.run(&["SET", "k", "v"]);
        let cases = [
            ("EXPIRE", "9223372036854775", "expire"),
            ("EXPIRE", "9223372036854776", "expire"),
            ("EXPIRE", "-9223372036854776", "expire"),
            ("PEXPIRE", "9223372036854775807", "pexpire"),
            ("EXPIREAT", "9223372036854776", "expireat"),
            ("EXPIREAT", "-9223372036854776", "expireat"),
        ];
        for (cmd, time, name) in cases {
            let err = format!("-ERR invalid expire time in '{name}' command");
            assert_eq!(s.run(&[cmd, "k", time]), err);
            assert_eq!(s.run(&[cmd, "nokey", time]), err, "checked before the key");
        }
        assert_eq!(s.run(&["TTL", "k"]), "-1");
        assert_eq!(s.run(&["EXPIREAT", "k", "9223372036854775"]), "1");
        assert_eq!(s.run(&["EXPIRETIME", "k"]), "9223372036854775");
        assert_eq!(s.run(&["PEXPIREAT", "k", "9223372036854775807"]), "1");
        assert_eq!(s.run(&["PEXPIRETIME", "k"]), "9223372036854775807");
        let pttl = i64::MAX - (NOW_S * 1000) as i64;
        assert_eq!(s.run(&["PTTL", "k"]), pttl.to_string());
    }

    #[test]
    fn persist_removes_the_deadline() {
        let mut s = TestShard::default();
        assert_eq!(s.run(&["PERSIST", "k"]), "0", "missing key");
        s.run(&["SET", "k", "v"]);
        let before = dirty(&s);
        assert_eq!(s.run(&["PERSIST", "k"]), "0", "no deadline");
        assert_eq!(dirty(&s), before);
        s.run(&["EXPIRE", "k", "10"]);
        let before = dirty(&s);
        assert_eq!(s.run(&["PERSIST", "k"]), "1");
        assert_eq!(dirty(&s), before + 1);
        assert_eq!(s.run(&["TTL", "k"]), "-1");
        assert_eq!(s.shard.keyspace().db(0).expires_len(), 0);
        s.advance_ms(20_000);
        assert_eq!(s.run(&["GET", "k"]), "v");
        s.run(&["SET", "e", "v", "PX", "5"]);
        s.advance_ms(5);
        assert_eq!(s.run(&["PERSIST", "e"]), "0", "expired key");
    }

    #[test]
    fn type_names_the_value() {
        let mut s = TestShard::default();
        assert_eq!(s.run(&["TYPE", "k"]), "none");
        assert_eq!(s.run_raw(&["TYPE", "k"]), "+none\r\n");
        s.run(&["SET", "k", "v", "PX", "10"]);
        assert_eq!(s.run_raw(&["TYPE", "k"]), "+string\r\n");
        s.advance_ms(10);
        assert_eq!(s.run(&["TYPE", "k"]), "none");
    }

    #[test]
    fn move_takes_the_key_and_its_ttl_to_another_db() {
        let mut s = TestShard::default();
        s.run(&["SET", "k", "v", "PX", "10000"]);
        let before = dirty(&s);
        assert_eq!(s.run(&["MOVE", "k", "3"]), "1");
        assert_eq!(dirty(&s), before + 1);
        assert_eq!(s.run(&["EXISTS", "k"]), "0");
        s.db = 3;
        assert_eq!(s.run(&["GET", "k"]), "v");
        assert_eq!(s.run(&["PTTL", "k"]), "10000");
        assert_eq!(s.shard.keyspace().db(3).expires_len(), 1);
        assert_eq!(s.shard.keyspace().db(0).expires_len(), 0);
        assert_eq!(s.run(&["MOVE", "k", "0"]), "1", "and back");
        assert_eq!(s.run(&["MOVE", "k", "0"]), "0", "source missing");
        s.db = 0;
        assert_eq!(s.run(&["PTTL", "k"]), "10000");
    }

    #[test]
    fn move_refuses_an_existing_target_and_checks_the_db() {
        let mut s = TestShard::default();
        s.run(&["SET", "k", "here"]);
        s.db = 1;
        s.run(&["SET", "k", "there"]);
        s.db = 0;
        let before = dirty(&s);
        assert_eq!(s.run(&["MOVE", "k", "1"]), "0");
        assert_eq!(dirty(&s), before);
        assert_eq!(s.run(&["GET", "k"]), "here");
        assert_eq!(
            s.run(&["MOVE", "k", "0"]),
            "-ERR source and destination objects are the same"
        );
        assert_eq!(
            s.run(&["MOVE", "nokey", "0"]),
            "-ERR source and destination objects are the same"
        );
        for db in ["16", "-1", "2147483647"] {
            assert_eq!(s.run(&["MOVE", "k", db]), "-ERR DB index is out of range");
        }
        for db in ["abc", "1.0", "2147483648", "-2147483649"] {
            assert_eq!(
                s.run(&["MOVE", "k", db]),
                "-ERR value is not an integer or out of range",
                "{db}"
            );
        }
        s.run(&["SET", "e", "v", "PX", "5"]);
        s.advance_ms(5);
        assert_eq!(s.run(&["MOVE", "e", "2"]), "0", "expired source");
        s.db = 2;
        s.run(&["SET", "d", "v", "PX", "5"]);
        s.db = 0;
        s.run(&["SET", "d", "mine"]);
        s.advance_ms(5);
        assert_eq!(s.run(&["MOVE", "d", "2"]), "1", "expired target is missing");
    }

    #[test]
    fn object_encoding_refcount_idletime() {
        let mut s = TestShard::default();
        let long = "x".repeat(45);
        let cases = [
            ("100", "int", "2147483647"),
            ("9999", "int", "2147483647"),
            ("10000", "int", "1"),
            ("-1", "int", "1"),
            ("abc", "embstr", "1"),
            (long.as_str(), "raw", "1"),
        ];
        for (value, encoding, refcount) in cases {
            s.run(&["SET", "k", value]);
            assert_eq!(s.run(&["OBJECT", "ENCODING", "k"]), encoding, "{value}");
            assert_eq!(s.run(&["object", "refcount", "k"]), refcount, "{value}");
            assert_eq!(s.run(&["OBJECT", "IdleTime", "k"]), "0");
        }
        assert_eq!(s.run_raw(&["OBJECT", "ENCODING", "k"]), "$3\r\nraw\r\n");
        for sub in ["ENCODING", "REFCOUNT", "IDLETIME", "FREQ"] {
            assert_eq!(s.run(&["OBJECT", sub, "nokey"]), "(nil)", "{sub}");
        }
    }

    #[test]
    fn object_freq_needs_an_lfu_policy() {
        let mut s = TestShard::default();
        s.run(&["SET", "k", "v"]);
        assert_eq!(
            s.run(&["OBJECT", "FREQ", "k"]),
            "-ERR An LFU maxmemory policy is not selected, access frequency not tracked. \
             Please note that when switching between policies at runtime LRU and LFU data \
             will take some time to adjust."
        );
    }

    #[test]
    fn object_help_and_subcommand_errors() {
        let mut s = TestShard::default();
        let help = s.run_raw(&["OBJECT", "help"]);
        assert!(help.starts_with(
            "*15\r\n+OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n\
             +ENCODING <key>\r\n"
        ));
        assert!(help.ends_with("+    <key>.\r\n+HELP\r\n+    Prints this help.\r\n"));
        assert_eq!(help.matches("\r\n+").count(), 15);
        assert_eq!(
            s.run(&["OBJECT", "HELP", "k"]),
            "-ERR wrong number of arguments for 'object|help' command"
        );
        assert_eq!(
            s.run(&["OBJECT", "foo", "k"]),
            "-ERR unknown subcommand 'foo'. Try OBJECT HELP."
        );
        let long = "s".repeat(200);
        assert_eq!(
            s.run(&["OBJECT", &long]),
            format!(
                "-ERR unknown subcommand '{}'. Try OBJECT HELP.",
                &long[..128]
            )
        );
        for sub in ["encoding", "refcount", "idletime", "freq"] {
            let err = format!("-ERR wrong number of arguments for 'object|{sub}' command");
            assert_eq!(s.run(&["OBJECT", sub]), err);
            assert_eq!(s.run(&["OBJECT", &sub.to_uppercase(), "a", "b"]), err);
        }
        assert_eq!(
            s.run(&["OBJECT"]),
            "-ERR wrong number of arguments for 'object' command"
        );
    }

    #[test]
    fn object_key_position_is_the_third_argument() {
        let args = |words: &[&str]| -> Vec<bytes::Bytes> {
            words
                .iter()
                .map(|w| bytes::Bytes::copy_from_slice(w.as_bytes()))
                .collect()
        };
        let object = table().get(b"object").unwrap();
        let keys = object.key_indices(&args(&["object", "encoding", "k"]));
        assert_eq!(keys.collect::<Vec<_>>(), vec![2]);
        let help = object.key_indices(&args(&["object", "help"]));
        assert_eq!(help.count(), 0, "OBJECT HELP has no key");
        let expire = table().get(b"expire").unwrap();
        let keys = expire.key_indices(&args(&["expire", "k", "1", "NX", "GT"]));
        assert_eq!(keys.collect::<Vec<_>>(), vec![1]);
    }

    #[test]
    fn wrong_arity_is_caught_by_the_table() {
        let mut s = TestShard::default();
        let cases: [&[&str]; 20] = [
            &["EXPIRE", "k"],
            &["PEXPIRE", "k"],
            &["EXPIREAT", "k"],
            &["PEXPIREAT", "k"],
            &["PERSIST"],
            &["PERSIST", "a", "b"],
            &["TTL"],
            &["TTL", "a", "b"],
            &["PTTL"],
            &["PTTL", "a", "b"],
            &["EXPIRETIME"],
            &["EXPIRETIME", "a", "b"],
            &["PEXPIRETIME"],
            &["PEXPIRETIME", "a", "b"],
            &["TYPE"],
            &["TYPE", "a", "b"],
            &["MOVE", "k"],
            &["MOVE", "k", "1", "2"],
            &["OBJECT"],
            &["expire"],
        ];
        for args in cases {
            let name = args[0].to_lowercase();
            assert_eq!(
                s.run(args),
                format!("-ERR wrong number of arguments for '{name}' command"),
                "{args:?}"
            );
        }
    }
}
