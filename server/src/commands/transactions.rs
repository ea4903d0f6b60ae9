//! The transactions family's rows: `MULTI`, `EXEC`, `DISCARD`, `WATCH`, `UNWATCH`.
//! Their handlers live with the rest of transactions in [`crate::exec::multi`].

use corekv_engine::command::flags::*;
use corekv_engine::command::{range, row, CommandSpec};

use super::{srv, Handler};
use crate::exec::multi;

const TX_FLAGS: u32 = NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY;

#[rustfmt::skip]
pub const COMMANDS: &[CommandSpec<Handler>] = &[
    srv("multi", 1, TX_FLAGS, "transactions", "Starts a transaction.", Handler::Sync(multi::multi)),
    srv("exec", 1, NOSCRIPT | LOADING | STALE | SKIP_SLOWLOG, "transactions", "Executes all commands in a transaction.", Handler::Async(multi::exec)),
    srv("discard", 1, TX_FLAGS, "transactions", "Discards a transaction.", Handler::Async(multi::discard)),
    row("watch", -2, TX_FLAGS, range(1, -1, 1), "transactions", "Monitors changes to keys to determine the execution of a transaction.", Handler::Async(multi::watch_keys)),
    srv("unwatch", 1, TX_FLAGS, "transactions", "Forgets about watched keys of a transaction.", Handler::Async(multi::unwatch)),
];
