//! `SLOWLOG GET [count] | LEN | RESET | HELP`: the slow log ([`crate::ops::slowlog`]
//! keeps it and says what a duration measures).

use std::rc::Rc;

use corekv_engine::command::flags::*;
use corekv_engine::command::CommandSpec;
use corekv_engine::error::{CmdError, CmdResult};
use corekv_engine::resp::{parse_i64, Args, Reply, ReplyBuf};

use super::subcommand::{sub, Container};
use super::{srv, Handler};
use crate::commands::requests::Core;
use crate::ops::slowlog::{self, GET_COUNT_DEFAULT};
use crate::session::client::Client;

pub(crate) const SLOWLOG: Container = Container {
    name: "SLOWLOG",
    subs: &[
        sub("get", -2),
        sub("len", 2),
        sub("reset", 2),
        sub("help", 2),
    ],
    help: &[
        "GET [<count>]",
        "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
        "    Entries are made of:",
        "    id, timestamp, time in microseconds, arguments array, client IP and port,",
        "    client name",
        "LEN",
        "    Return the length of the slowlog.",
        "RESET",
        "    Reset the slowlog.",
    ],
};

fn slowlog_cmd(_: &Rc<Core>, _: &mut Client, args: &Args, out: &mut ReplyBuf) -> CmdResult {
    match SLOWLOG.resolve(args)? {
        Some("get") if args.len() <= 3 => get(args.get(2).map(|c| &c[..]), out)?,
        Some("get") => {
            return Err(CmdError::Raw(format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try SLOWLOG HELP.",
                String::from_utf8_lossy(&args[1])
            )))
        }
        Some("len") => out.int(slowlog::len() as i64),
        Some("reset") => {
            slowlog::reset();
            out.ok();
        }
        Some("help") => SLOWLOG.help(out),
        _ => return Err(CmdError::WrongArgs("slowlog".into())),
    }
    Ok(())
}

/// `SLOWLOG GET [count]`: `-1` for all.
fn get(count: Option<&[u8]>, out: &mut ReplyBuf) -> CmdResult {
    let count = match count {
        None => Some(GET_COUNT_DEFAULT),
        Some(c) => match parse_i64(c) {
            Some(-1) => None,
            Some(n) if n >= 0 => Some(n as usize),
            _ => {
                return Err(CmdError::Raw(
                    "ERR count should be greater than or equal to -1".into(),
                ))
            }
        },
    };
    let entries = slowlog::newest(count);
    out.array(entries.len());
    for e in entries {
        out.array(6);
        out.int(e.id as i64);
        out.int(e.unix_s as i64);
        out.int(e.duration_us as i64);
        out.array(e.args.len());
        e.args.iter().for_each(|a| out.bulk(a));
        out.bulk(e.addr.as_bytes());
        out.bulk(e.name.as_bytes());
    }
    Ok(())
}

#[rustfmt::skip]
pub const COMMANDS: &[CommandSpec<Handler>] = &[
    srv("slowlog", -2, ADMIN | LOADING | STALE, "server", "A container for slow log commands.", Handler::Sync(slowlog_cmd)),
];
