//! `DUMP key` and `RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME s]
//! [FREQ f]`, as Redis 7.0's `dumpCommand` and `restoreCommand` (`cluster.c`) run
//! them, on the value codec of [`crate::rdb`]: the same option parsing and checks in
//! the same order (options, `BUSYKEY`, the TTL, the payload's version and checksum,
//! then its value), a deadline already past leaving the key deleted (with
//! `REPLACE`) and `+OK`, and the restored key written through the keyspace's door,
//! so it is journaled and replicated as one whole-value write with its absolute
//! deadline. `IDLETIME` and `FREQ` are checked as Redis checks them and set the
//! restored key's access word as its `objectSetLRUOrLFU` does (the one the policy
//! reads; the other is ignored).

use bytes::Bytes;

use super::flags::*;
use super::{row, CommandSpec, Route, KEY1};
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};
use crate::keyspace::Entry;
use crate::rdb::{self, Limits};
use crate::resp::{parse_i64, Reply};

const BUSY_KEY: &str = "BUSYKEY Target key name already exists.";
const BAD_TTL: &str = "ERR Invalid TTL value, must be >= 0";
const BAD_IDLETIME: &str = "ERR Invalid IDLETIME value, must be >= 0";
const BAD_FREQ: &str = "ERR Invalid FREQ value, must be >= 0 and <= 255";
/// The largest `FREQ` (an LFU counter is one byte).
const FREQ_MAX: i64 = 255;

/// Argument positions of `RESTORE`.
const KEY: usize = 1;
const TTL: usize = 2;
const PAYLOAD: usize = 3;
const FIRST_OPTION: usize = 4;

fn dump(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    match ctx.ks.find_read(ctx.db, &args[KEY], ctx.now_ms) {
        None => ctx.out.null(),
        Some(entry) => {
            let payload = rdb::dump(entry.value);
            ctx.out.bulk(&payload);
        }
    }
    Ok(())
}

fn restore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let (mut replace, mut absttl) = (false, false);
    let (mut idle, mut freq) = (None, None);
    let mut j = FIRST_OPTION;
    while j < args.len() {
        let more = args.len() - j - 1;
        let word = &args[j];
        if word.eq_ignore_ascii_case(b"replace") {
            replace = true;
        } else if word.eq_ignore_ascii_case(b"absttl") {
            absttl = true;
        } else if word.eq_ignore_ascii_case(b"idletime") && more >= 1 && freq.is_none() {
            let v = parse_i64(&args[j + 1]).ok_or(CmdError::NotInteger)?;
            if v < 0 {
                return Err(CmdError::Raw(BAD_IDLETIME.into()));
            }
            idle = Some(v);
            j += 1;
        } else if word.eq_ignore_ascii_case(b"freq") && more >= 1 && idle.is_none() {
            let v = parse_i64(&args[j + 1]).ok_or(CmdError::NotInteger)?;
            if !(0..=FREQ_MAX).contains(&v) {
                return Err(CmdError::Raw(BAD_FREQ.into()));
            }
            freq = Some(v);
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let key = &args[KEY];
    if !replace && ctx.ks.contains(ctx.db, key, ctx.now_ms) {
        return Err(CmdError::Raw(BUSY_KEY.into()));
    }
    let ttl = parse_i64(&args[TTL]).ok_or(CmdError::NotInteger)?;
    if ttl < 0 {
        return Err(CmdError::Raw(BAD_TTL.into()));
    }
    let limits = Limits {
        hash: ctx.limits.hash,
        set: ctx.limits.set,
        zset: ctx.limits.zset,
        list: ctx.limits.list,
        string_max_bytes: ctx.string_max_bytes,
    };
    let value =
        rdb::restore(&args[PAYLOAD], &limits).map_err(|e| CmdError::Raw(e.message().into()))?;
    let at = match (ttl, absttl) {
        (0, _) => 0,
        (t, true) => t,
        (t, false) => t.saturating_add(ctx.now_ms as i64),
    };
    if at != 0 && at as u64 <= ctx.now_ms {
        if replace {
            ctx.ks.remove(ctx.db, key, ctx.now_ms);
        }
        ctx.out.ok();
        return Ok(());
    }
    // Redis deletes the old key and adds the restored one: a new key either way.
    let entry = Entry::with_expire(value, at as u64);
    ctx.ks.add_entry_anew(ctx.db, key, entry);
    ctx.ks
        .set_idle_or_freq(ctx.db, key, idle.map(|v| v as u64), freq.map(|v| v as u32));
    ctx.out.ok();
    Ok(())
}

#[rustfmt::skip]
pub const COMMANDS: &[CommandSpec] = &[
    row("dump", 2, READONLY, KEY1, "generic", "Returns a serialized representation of the value stored at a key.", Route::Shard(dump)),
    row("restore", -4, WRITE | DENYOOM, KEY1, "generic", "Creates a key from the serialized representation of a value.", Route::Shard(restore)),
];
