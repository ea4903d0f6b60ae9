//! corekv's engine: everything that decides what a command does, and nothing that
//! touches a socket, a file, the clock or an executor.
//!
//! ```text
//!  bytes ──► resp::parse ──► command::table() ──► Shard::run / Shard::apply ──► Reply
//!            (framing)       (arity, flags,        (handlers on the owning
//!                             key positions)        shard's keyspace)
//! ```
//!
//! The server crate owns the executors and the network; it asks [`slot::shard_of`]
//! where each key lives, sends the command there, and writes the reply the engine
//! produced. Handlers reach data only through the keyspace's door
//! ([`keyspace::Keyspace`]), which calls the [`hooks`](keyspace::hooks) (snapshot copy-on-write,
//! journal effects, the dirty counter, change listeners) on every write; journal
//! replay ([`replay`]) goes through the same door. Because time comes in as `now_ms` and randomness from a seeded
//! generator, a keyspace is testable without a server and replayable from a log.
//!
//! The module docs explain a mechanism with links to the private items that make
//! it; read them with `cargo doc -p corekv-engine --document-private-items`.

#![allow(rustdoc::private_intra_doc_links)]

pub mod collections;
pub mod command;
pub mod cursor;
pub mod effect_log;
pub mod error;
pub mod glob;
pub mod harness;
pub mod hll;
pub mod journal;
pub mod keyspace;
pub mod limits;
pub mod long_double;
pub mod rdb;
pub mod replay;
pub mod resp;
pub mod shard;
pub mod slot;
pub mod snapshot;
pub mod value;
