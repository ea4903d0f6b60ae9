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
//! (`shard`), and a multi-key command across shards runs as a transaction over
//! the shards it touches (`exec::tx`). Nothing on the data path is shared between
//! threads.
//!
//! The request path, top down, in the order of the modules below; dependencies
//! point only downwards:
//!
//! ```text
//!  runtime   start-up, executors, background work, shutdown
//!  net       a driver reads the socket, writes the outbox
//!  session   frames a pipeline batch; replies leave in order through the outbox
//!  exec      checks and routes each command: in place, one shard, a transaction
//!  shard     the core: its shard, the lock, the mesh (data plane + control plane)
//!  engine    runs the command on the shard (corekv-engine)
//! ```
//!
//! Beside `shard`, reached through the mesh: `persist` (journal, snapshots,
//! backups, recovery) and `repl` (a replica's core follows the same shard of the
//! master over a stream of its own; the master's core serves it from its journal).

mod runtime;

mod net;

mod session;

mod exec;

mod shard;

mod pubsub;

mod persist;
mod repl;

mod config;
mod ops;
mod version;

mod commands;

pub use runtime::run;
