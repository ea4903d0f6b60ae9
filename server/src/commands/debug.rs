//! `DEBUG`, `TIME` and `SHUTDOWN`: the process itself.

use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use corekv_engine::command::flags::*;
use corekv_engine::command::CommandSpec;
use corekv_engine::error::{CmdError, CmdResult};
use corekv_engine::resp::{parse_f64, Args, Reply, ReplyBuf};

use super::subcommand::{sub, Container};
use super::{srv, Handler};
use crate::commands::requests::Core;
use crate::session::client::Client;

/// `DEBUG`'s subcommands. Like Redis, a wrong argument count is an unknown
/// subcommand here, so the handler matches exact counts instead of resolving.
const DEBUG: Container = Container {
    name: "DEBUG",
    subs: &[sub("sleep", 3), sub("help", 2)],
    help: &[
        "SLEEP <seconds>",
        "    Stop the server for <seconds>. Decimals allowed.",
    ],
};

fn debug(_: &Rc<Core>, _: &mut Client, args: &Args, out: &mut ReplyBuf) -> CmdResult {
    let word = &args[1];
    let exact = DEBUG
        .subs
        .iter()
        .find(|s| word.eq_ignore_ascii_case(s.name.as_bytes()) && s.arity == args.len() as i32);
    match exact.map(|s| s.name) {
        Some("sleep") => {
            let secs = parse_f64(&args[2])
                .filter(|s| *s >= 0.0)
                .ok_or(CmdError::NotFloat)?;
            // Like Redis, DEBUG SLEEP blocks the server: here, this core's thread.
            std::thread::sleep(Duration::from_secs_f64(secs));
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
