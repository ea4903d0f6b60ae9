//! The one command registry, and the server's own command families.
//!
//! The engine exports its families' rows ([`corekv_engine::command::FAMILIES`]); each
//! file here ends with the rows of one server family (the connection, `CLIENT`,
//! `CONFIG`, `COMMAND`, `INFO`, persistence, replication, debugging), whose handlers
//! see the connection and the process rather than one shard. [`registry`] joins both
//! into one table, engine rows first so that a command's id is the same in the
//! engine's table and here: [`crate::dispatch`] looks a command up once, gets either
//! an engine [`Route`] or a server [`Handler`], and passes engine ids down to the
//! shards. `COMMAND` and `INFO commandstats` iterate this table.
//!
//! A server handler is a plain function pointer, in one of three shapes
//! ([`Handler`]). An enum rather than one boxed-future type, because most of these
//! commands never wait: `PING` and `ECHO` run inside pipelines, and boxing a future
//! for each would allocate per request. Only the commands that ask every core or wait
//! on I/O box theirs.

pub mod client;
pub mod command;
pub mod command_keys;
pub mod config;
pub mod connection;
pub mod debug;
pub mod info;
pub mod latency;
pub mod memory;
pub mod monitor;
pub mod persistence;
pub mod pubsub;
pub mod replication;
pub mod requests;
pub mod slowlog;
pub mod subcommand;
pub mod transactions;

use std::rc::Rc;
use std::sync::OnceLock;

use corekv_engine::command::{row, table, CommandSpec, CommandTable, Route, FAMILIES, NO_KEYS};
use corekv_engine::error::CmdResult;
use corekv_engine::resp::{Args, Reply, ReplyBuf};
use futures::future::LocalBoxFuture;

use crate::commands::requests::Core;
use crate::session::client::Client;

/// The Redis version corekv answers as: clients gate features on it.
pub const REDIS_VERSION: &str = "7.0.15";

/// Sees only its arguments.
pub type PureFn = fn(&Args, &mut ReplyBuf) -> CmdResult;
/// Sees the connection and the core, and never awaits.
pub type SyncFn = fn(&Rc<Core>, &mut Client, &Args, &mut ReplyBuf) -> CmdResult;
/// Awaits other cores or I/O.
pub type AsyncFn = for<'a> fn(
    &'a Rc<Core>,
    &'a mut Client,
    &'a Args,
    &'a mut ReplyBuf,
) -> LocalBoxFuture<'a, CmdResult>;

/// How a server command runs.
#[derive(Clone, Copy)]
pub enum Handler {
    /// Depends on nothing but its arguments, so a pipeline answers it in place
    /// among replies still waiting on shards (`PING`, `ECHO`).
    Pure(PureFn),
    Sync(SyncFn),
    Async(AsyncFn),
}

/// How a registered command runs: on the shards, or by the server.
#[derive(Clone, Copy)]
pub enum Exec {
    Engine(Route),
    Server(Handler),
}

/// A row of the registry.
pub type Spec = CommandSpec<Exec>;
/// The registry: every command a client can send.
pub type Registry = CommandTable<Exec>;

/// The server's families, in registry order after the engine's.
const SERVER_FAMILIES: &[&[CommandSpec<Handler>]] = &[
    connection::COMMANDS,
    command::COMMANDS,
    info::COMMANDS,
    memory::COMMANDS,
    config::COMMANDS,
    client::COMMANDS,
    debug::COMMANDS,
    persistence::COMMANDS,
    replication::COMMANDS,
    pubsub::COMMANDS,
    transactions::COMMANDS,
    slowlog::COMMANDS,
    monitor::COMMANDS,
    latency::COMMANDS,
];

/// The process-wide registry, built on first use (when the first core starts).
pub fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(build)
}

fn build() -> Registry {
    let engine = table();
    let engine_rows = FAMILIES.iter().flat_map(|f| f.iter());
    let server_rows = SERVER_FAMILIES.iter().flat_map(|f| f.iter());
    let rows: Vec<Spec> = engine_rows
        .map(|s| s.with_route(Exec::Engine(s.route)))
        .chain(server_rows.map(|s| s.with_route(Exec::Server(s.route))))
        .collect();
    let rows: &'static [Spec] = rows.leak();
    let registry = CommandTable::new(rows.iter().collect());
    for (id, spec) in engine.all.iter().enumerate() {
        assert_eq!(registry.all[id].name, spec.name, "engine ids must agree");
    }
    let names: Vec<(&'static str, u32)> = rows.iter().map(|s| (s.name, s.flags)).collect();
    crate::ops::names::install(&names, &command::containers(&registry));
    registry
}

/// A server row: no keys, run by `handler`.
pub(crate) const fn srv(
    name: &'static str,
    arity: i32,
    flags: u32,
    group: &'static str,
    summary: &'static str,
    handler: Handler,
) -> CommandSpec<Handler> {
    row(name, arity, flags, NO_KEYS, group, summary, handler)
}

/// Runs a server command and writes its reply or its error.
pub async fn run(
    core: &Rc<Core>,
    client: &mut Client,
    handler: Handler,
    args: &Args,
    out: &mut ReplyBuf,
) {
    let result = match handler {
        Handler::Pure(f) => f(args, out),
        Handler::Sync(f) => f(core, client, args, out),
        Handler::Async(f) => f(core, client, args, out).await,
    };
    if let Err(e) = result {
        out.error(&e.message());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_rows_come_first_with_their_ids() {
        let r = registry();
        let engine = table();
        assert!(r.all.len() > engine.all.len());
        for (id, spec) in engine.all.iter().enumerate() {
            assert_eq!(r.lookup(spec.name.as_bytes()).map(|(i, _)| i), Some(id));
            assert!(matches!(r.all[id].route, Exec::Engine(_)));
        }
        for spec in &r.all[engine.all.len()..] {
            assert!(matches!(spec.route, Exec::Server(_)), "{}", spec.name);
        }
    }

    #[test]
    fn lookup_ignores_case_and_finds_both_kinds() {
        let r = registry();
        assert!(matches!(r.get(b"GeT").unwrap().route, Exec::Engine(_)));
        assert!(matches!(
            r.get(b"PiNg").unwrap().route,
            Exec::Server(Handler::Pure(_))
        ));
        assert!(matches!(r.get(b"config").unwrap().route, Exec::Server(_)));
        assert!(r.get(b"nosuchcommand").is_none());
    }

    #[test]
    fn names_are_lower_case() {
        for spec in &registry().all {
            assert_eq!(spec.name, spec.name.to_ascii_lowercase());
        }
    }
}
