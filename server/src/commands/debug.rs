//! `DEBUG`, `TIME` and `SHUTDOWN`: the process itself.
//!
//! `DEBUG` runs only as `enable-debug-command` allows (Redis 7.0's `no`, the default,
//! `yes`, or `local` for loopback connections), and reads its numbers as Redis does,
//! so no argument can abort the process: `DEBUG SLEEP` takes the float prefix of its
//! argument (`strtod`) and sleeps only for a time that fits the microsecond count
//! Redis computes; `inf`, `nan`, `1e20`, negatives and text answer `+OK` at once.

use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use corekv_engine::command::flags::*;
use corekv_engine::command::CommandSpec;
use corekv_engine::error::{CmdError, CmdResult};
use corekv_engine::resp::{Args, Reply, ReplyBuf};

use super::subcommand::{sub, Container};
use super::{srv, Handler};
use crate::commands::requests::Core;
use crate::session::client::Client;

/// `DEBUG`'s subcommands. Like Redis, a wrong argument count is an unknown
/// subcommand here, so the handler matches exact counts instead of resolving.
const DEBUG: Container = Container {
    name: "DEBUG",
    subs: &[sub("sleep", 3), sub("repl-hold", 4), sub("help", 2)],
    help: &[
        "SLEEP <seconds>",
        "    Stop the server for <seconds>. Decimals allowed.",
        "REPL-HOLD <shard> <yes|no>",
        "    On a replica, stop applying (yes) or apply again (no) one shard's stream.",
    ],
};

/// Redis's refusal while `enable-debug-command` forbids the client `DEBUG`.
const DEBUG_NOT_ALLOWED: &str = "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.";

/// Whether `enable-debug-command` lets `client` run `DEBUG`.
fn debug_allowed(core: &Core, client: &Client) -> bool {
    match core.global.config.get("enable-debug-command").as_str() {
        "yes" => true,
        "local" => client.info.borrow().addr.ip().is_loopback(),
        _ => false,
    }
}

/// How long `DEBUG SLEEP <arg>` sleeps: Redis converts `strtod(arg) * 1e6` to a
/// `long long` of microseconds and `nanosleep` refuses a negative time, so anything
/// that is not a finite, non-negative, representable count sleeps not at all.
fn sleep_time(arg: &[u8]) -> Duration {
    let micros = strtod_prefix(arg) * 1e6;
    if micros.is_finite() && micros >= 0.0 && micros < i64::MAX as f64 {
        Duration::from_micros(micros as u64)
    } else {
        Duration::ZERO
    }
}

/// The value of the longest prefix of `arg` that reads as a decimal float, as C's
/// `strtod` finds it (leading blanks skipped; `inf`/`nan` read as themselves); 0
/// when there is none.
fn strtod_prefix(arg: &[u8]) -> f64 {
    let text = String::from_utf8_lossy(arg);
    let text = text.trim_start();
    (1..=text.len())
        .rev()
        .filter(|&n| text.is_char_boundary(n))
        .find_map(|n| text[..n].parse::<f64>().ok())
        .unwrap_or(0.0)
}

fn debug(core: &Rc<Core>, client: &mut Client, args: &Args, out: &mut ReplyBuf) -> CmdResult {
    if !debug_allowed(core, client) {
        return Err(CmdError::Raw(DEBUG_NOT_ALLOWED.into()));
    }
    let word = &args[1];
    let exact = DEBUG
        .subs
        .iter()
        .find(|s| word.eq_ignore_ascii_case(s.name.as_bytes()) && s.arity == args.len() as i32);
    match exact.map(|s| s.name) {
        Some("sleep") => {
            // Like Redis, DEBUG SLEEP blocks the server: here, this core's thread.
            std::thread::sleep(sleep_time(&args[2]));
            out.ok();
        }
        Some("repl-hold") => {
            crate::repl::replica::hold(&core.global, &args[2], &args[3])?;
            out.ok();
        }
        Some("help") => DEBUG.help(out),
        _ => return Err(DEBUG.unknown(word)),
    }
    Ok(())
}

fn time(_: &Rc<Core>, _: &mut Client, _: &Args, out: &mut ReplyBuf) -> CmdResult {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    out.array(2);
    out.bulk_int(now.as_secs() as i64);
    out.bulk_int(now.subsec_micros() as i64);
    Ok(())
}

fn shutdown(core: &Rc<Core>, client: &mut Client, _: &Args, _: &mut ReplyBuf) -> CmdResult {
    log::warn!("user requested shutdown (client {})", client.id);
    core.global.shutdown.fire();
    client.closing = true;
    Ok(())
}

#[rustfmt::skip]
pub const COMMANDS: &[CommandSpec<Handler>] = &[
    srv("time", 1, LOADING | STALE | FAST, "server", "Returns the server time.", Handler::Sync(time)),
    srv("debug", -2, ADMIN | NOSCRIPT | LOADING | STALE, "server", "A container for debugging commands.", Handler::Sync(debug)),
    srv("shutdown", -1, ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI | ALLOW_BUSY, "server", "Synchronously saves the database(s) to disk and shuts down the Redis server.", Handler::Sync(shutdown)),
];

#[cfg(test)]
mod tests {
    use super::sleep_time;
    use std::time::Duration;

    #[test]
    fn sleep_times_are_read_as_redis_reads_them() {
        assert_eq!(sleep_time(b"0.25"), Duration::from_millis(250));
        assert_eq!(sleep_time(b" 1.5x"), Duration::from_millis(1500));
        assert_eq!(sleep_time(b"2e-3"), Duration::from_millis(2));
        for none in [
            &b"x"[..],
            b"",
            b"inf",
            b"-inf",
            b"nan",
            b"1e20",
            b"1e400",
            b"-1",
        ] {
            assert_eq!(sleep_time(none), Duration::ZERO, "{none:?}");
        }
    }
}
