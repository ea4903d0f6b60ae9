//! `CONFIG GET | SET | RESETSTAT | REWRITE`: the server's parameters
//! ([`crate::config`]); `SET` and `RESETSTAT` tell every core.

use std::rc::Rc;
use std::sync::atomic::Ordering;

use corekv_engine::command::flags::*;
use corekv_engine::command::CommandSpec;
use corekv_engine::error::{CmdError, CmdResult};
use corekv_engine::resp::{Args, Reply, ReplyBuf};
use futures::future::{join_all, LocalBoxFuture};

use super::subcommand::{sub, Container};
use super::{srv, Handler};
use crate::commands::requests::{Core, Msg};
use crate::session::client::Client;

pub(crate) const CONFIG: Container = Container {
    name: "CONFIG",
    subs: &[
        sub("get", -3),
        sub("set", -4),
        sub("resetstat", 2),
        sub("rewrite", 2),
        sub("help", 2),
    ],
    help: &[
        "GET <pattern>",
        "    Return parameters matching the glob-like <pattern> and their values.",
        "SET <directive> <value>",
        "    Set the configuration <directive> to <value>.",
        "RESETSTAT",
        "    Reset statistics reported by the INFO command.",
        "REWRITE",
        "    Rewrite the configuration file.",
    ],
};

fn config<'a>(
    core: &'a Rc<Core>,
    _: &'a mut Client,
    args: &'a Args,
    out: &'a mut ReplyBuf,
) -> LocalBoxFuture<'a, CmdResult> {
    Box::pin(async move {
        let cfg = &core.global.config;
        match CONFIG.resolve(args)? {
            Some("get") => {
                let patterns: Vec<&[u8]> = args[2..].iter().map(|a| a.as_ref()).collect();
                let found = cfg.matching(&patterns);
                out.map(found.len());
                for (name, value) in found {
                    out.bulk(name.as_bytes());
                    out.bulk(value.as_bytes());
                }
            }
            Some("set") => {
                if args.len() % 2 == 1 {
                    return Err(CmdError::Syntax);
                }
                let pairs: Vec<(String, String)> = args[2..]
                    .chunks(2)
                    .map(|p| {
                        (
                            String::from_utf8_lossy(&p[0]).into_owned(),
                            String::from_utf8_lossy(&p[1]).into_owned(),
                        )
                    })
                    .collect();
                cfg.set_many(&pairs)
                    .map_err(|e| CmdError::Raw(e.message()))?;
                let max = cfg.hot.proto_max_bulk_len.load(Ordering::Relaxed) as usize;
                // Every shard builds strings up to the new limit and encodes hashes and
                // sets by the new limits; tell each.
                for s in 0..core.shards() {
                    core.call(s, None, Msg::SetStringMax(max)).await;
                }
                out.ok();
            }
            Some("resetstat") => {
                join_all((0..core.shards()).map(|s| core.call(s, None, Msg::ResetStats))).await;
                // The process-wide counters Redis resets: connections received
                // and refused, full and partial syncs served.
                let (g, repl) = (&core.global, &core.global.repl);
                for counter in [
                    &g.total_connections,
                    &g.rejected_connections,
                    &repl.sync_full,
                    &repl.sync_partial_ok,
                    &repl.sync_partial_err,
                ] {
                    counter.store(0, std::sync::atomic::Ordering::Relaxed);
                }
                out.ok();
            }
            Some("rewrite") => {
                cfg.rewrite().map_err(CmdError::Raw)?;
                out.ok();
            }
            Some("help") => CONFIG.help(out),
            _ => return Err(CONFIG.unknown(&args[1])),
        }
        Ok(())
    })
}

#[rustfmt::skip]
pub const COMMANDS: &[CommandSpec<Handler>] = &[
    srv("config", -2, ADMIN | NOSCRIPT | LOADING | STALE, "server", "A container for server configuration commands.", Handler::Async(config)),
];
