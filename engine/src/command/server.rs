//! Rows for the commands of the connection and the server (`PING`, `AUTH`, `CONFIG`,
//! `INFO`, ...). Their handlers live in the server crate, which owns connections,
//! configuration and the executors; the rows live here so that one table answers
//! `COMMAND` and drives the generic checks for every command.

use super::flags::*;
use super::{row, CommandSpec, Route, Server, NO_KEYS};

const fn srv(
    name: &'static str,
    arity: i32,
    flags: u32,
    group: &'static str,
    summary: &'static str,
    s: Server,
) -> CommandSpec {
    row(
        name,
        arity,
        flags,
        NO_KEYS,
        group,
        summary,
        Route::Server(s),
    )
}

pub const COMMANDS: &[CommandSpec] = &[
    srv(
        "auth",
        -2,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY,
        "connection",
        "Authenticates the connection.",
        Server::Auth,
    ),
    srv(
        "echo",
        2,
        FAST | LOADING | STALE,
        "connection",
        "Returns the given string.",
        Server::Echo,
    ),
    srv(
        "ping",
        -1,
        FAST | LOADING | STALE,
        "connection",
        "Returns the server's liveliness response.",
        Server::Ping,
    ),
    srv(
        "quit",
        -1,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY,
        "connection",
        "Closes the connection.",
        Server::Quit,
    ),
    srv(
        "select",
        2,
        LOADING | STALE | FAST,
        "connection",
        "Changes the selected database.",
        Server::Select,
    ),
    srv(
        "hello",
        -1,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY,
        "connection",
        "Handshakes with the Redis server.",
        Server::Hello,
    ),
    srv(
        "reset",
        1,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY,
        "connection",
        "Resets the connection.",
        Server::Reset,
    ),
    srv(
        "command",
        -1,
        LOADING | STALE,
        "server",
        "Returns detailed information about all commands.",
        Server::Command,
    ),
    srv(
        "info",
        -1,
        LOADING | STALE,
        "server",
        "Returns information and statistics about the server.",
        Server::Info,
    ),
    srv(
        "config",
        -2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        "server",
        "A container for server configuration commands.",
        Server::Config,
    ),
    srv(
        "client",
        -2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        "connection",
        "A container for client connection commands.",
        Server::Client,
    ),
    srv(
        "time",
        1,
        LOADING | STALE | FAST,
        "server",
        "Returns the server time.",
        Server::Time,
    ),
    srv(
        "debug",
        -2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        "server",
        "A container for debugging commands.",
        Server::Debug,
    ),
    srv(
        "shutdown",
        -1,
        ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI | ALLOW_BUSY,
        "server",
        "Synchronously saves the database(s) to disk and shuts down the Redis server.",
        Server::Shutdown,
    ),
];
