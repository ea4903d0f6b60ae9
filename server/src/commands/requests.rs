//! The shard-wide requests the server command families make, by name (`INFO`'s
//! numbers, `CONFIG RESETSTAT`, `REPLICAOF`, `WAIT`, ...): each becomes the
//! control-plane closure of the subsystem it belongs to. Also the core's types under
//! one path for the families.

use crate::session::registry::ClientsOp;
use crate::shard::mesh;
use crate::shard::stats::{CoreSnapshot as Snapshot, CoreStats};

pub use crate::runtime::clock::now_ms;
pub use crate::shard::answer::Answer;
pub use crate::shard::stats::CoreSnapshot;
pub use crate::shard::Core;

/// A request a server command sends to every shard.
#[derive(Debug)]
pub enum Msg {
    Clients(ClientsOp),
    /// This core's numbers for `INFO`.
    Stats,
    /// `CONFIG RESETSTAT`.
    ResetStats,
    /// After `CONFIG SET`: the longest string a command may build, and the encoding
    /// limits of hashes and sets as configured now.
    SetStringMax(usize),
    /// `REPLICAOF host port`: follow the master on this shard for this epoch.
    Follow(u64),
    /// `REPLICAOF NO ONE` (see [`crate::repl::promote`]).
    Promote,
    /// The shard's last LSN (`WAIT`).
    LastLsn,
}

impl From<Msg> for mesh::Msg {
    fn from(msg: Msg) -> mesh::Msg {
        match msg {
            Msg::Clients(op) => mesh::Msg::Control(Box::new(move |core| {
                crate::net::catch_up(core);
                Answer::Clients(core.clients.borrow_mut().apply(op))
            })),
            Msg::Stats => mesh::Msg::Control(Box::new(|core| {
                crate::net::catch_up(core);
                let watched_keys = crate::shard::watch::watched_keys(&core.shard);
                Answer::Stats(Box::new(Snapshot {
                    shard: core.shard.borrow().stats(),
                    core: core.stats.borrow().clone(),
                    clients: core.clients.borrow().len(),
                    journal: core.journal_stats(),
                    watched_keys,
                    calls: crate::ops::calls::snapshot(),
                }))
            })),
            Msg::ResetStats => mesh::Msg::Control(Box::new(|core| {
                let mut stats = core.stats.borrow_mut();
                let calls = stats.command_calls.len();
                *stats = CoreStats {
                    command_calls: vec![(0, 0); calls],
                    ..Default::default()
                };
                core.shard.borrow_mut().reset_stats();
                crate::ops::calls::reset();
                Answer::Done
            })),
            Msg::SetStringMax(n) => mesh::Msg::Control(Box::new(move |core| {
                core.set_shard_limits(n);
                Answer::Done
            })),
            Msg::Follow(epoch) => crate::repl::replica::follow(epoch),
            Msg::Promote => crate::repl::promote(),
            Msg::LastLsn => crate::repl::last_lsn(),
        }
    }
}
