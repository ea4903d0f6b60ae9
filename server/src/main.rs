//! corekv-server: a thread-per-core, shared-nothing Redis-protocol key-value server.
//!
//! ```text
//!            kernel spreads connections (SO_REUSEPORT, one listener per core)
//!          ┌──────────────────────────────┬──────────────────────────────┐
//!   core 0 │ executor 0 (pinned)          │ core 1 │ executor 1 (pinned) │ ...
//!          │  listener :6379              │        │  listener :6379     │
//!          │  connections (tasks) ────────┼──hop──►│  shard 1            │
//!          │  shard 0: keyspace, expiry   │◄──────►│  ...                │
//!          └──────────────────────────────┴─ bounded SPSC channels, ────┘
//!                                             one per ordered core pair
//! ```
//!
//! Each core runs one glommio executor that owns one shard of the keys (Redis Cluster
//! hash slot modulo the shard count). A connection stays on the core whose listener
//! accepted it; a command for another shard hops there and back over the mesh
//! ([`core`]), and a multi-key command across shards runs under shard locks taken in
//! ascending order ([`multi`]). Nothing on the data path is shared between threads.
//!
//! Request path: a driver in [`net`] reads the socket, the connection's [`session`]
//! frames a pipeline batch, [`dispatch`] checks and routes each command, the engine
//! runs it on the owning shard, and the replies go back in order through the
//! session's outbox, which the driver writes out.
//!
//! Replication: a replica's core follows the same shard of the master over a
//! stream of its own ([`repl_replica`]); the master's core serves it from its
//! journal ([`repl_master`]); [`repl`] holds the role and links both report.

mod backup;
mod commands;
mod config;
mod core;
mod datadir;
mod dispatch;
mod journal;
mod net;
mod recovery;
mod repl;
mod repl_master;
mod repl_replica;
mod replstate;
mod saver;
mod session;
mod startup;
mod tx;

// The paths the command path names a connection's state and the client registry by.
use session::{client as conn, registry as clients};

fn main() {
    // A panicking executor would leave its peers waiting forever: abort instead.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default_hook(info);
        std::process::abort();
    }));
    std::process::exit(startup::run());
}
