//! corekv's replication protocol, without sockets, files or a clock: what a replica
//! and its master say to each other on each shard's stream, how the master decides
//! between a partial and a full resync, and how a replica checks and applies what
//! it receives. The server wires these to its connections, journals and timers.
//!
//! A master with N shards is replicated over N TCP streams, one per shard, each
//! opened by the replica to the master's ordinary client port (the server hands a
//! stream to the core that owns its shard). Both sides have the same shard count,
//! and every shard's stream is independent: its own LSNs, its own resync decision.
//!
//! ```text
//!   replica, stream for shard s                      master, shard s
//!   ───────────────────────────                      ───────────────
//!   AUTH [<user>] <pass>             (optional) ───► +OK
//!   REPLCONF listening-port <port>              ───► +OK
//!   REPLCONF ip-address <ip>         (optional) ───► +OK
//!   CKV.SYNC s N <replid|?> <next_lsn> 2        ───► history::decide(...)
//!
//!   partial resync                          ◄─── +CONTINUE <replid> <next_lsn>
//!                                           ◄─── RECORDS (next_lsn ...)     ┐
//!                                           ◄─── HEARTBEAT (when idle)      │ for as
//!                                           ◄─── RECORDS ...                │ long as
//!                                           ◄─── CHECKPOINT (run, id, LSNs) │
//!   REPLCONF ACK s <lsn> <run> <checkpoint> ───►  WaitTracker               ┘ it lives
//!             (~1/s, bursts, checkpoints)
//!
//!   full resync                             ◄─── +FULLRESYNC <replid> <S>
//!                                           ◄─── SNAPSHOT_CHUNK ... (a snapshot file
//!                                                 at LSN S, taken without fork)
//!                                           ◄─── SNAPSHOT_END
//!                                           ◄─── RECORDS (S+1 ...), HEARTBEAT, ...
//!
//!   refused                                 ◄─── -ERR shard count differs: master
//!                                                 has 4 shards, replica has 2
//! ```
//!
//! | module | side | what |
//! |---|---|---|
//! | [`handshake`] | both | the commands and replies above, encode and parse |
//! | [`id`] | both | replication ids ([`id::ReplId`]) |
//! | [`history`] | master | the second id, [`history::decide`] |
//! | [`frame`] | both | the binary frames after the handshake |
//! | [`replica`] | replica | the stream's state machine: load, check, apply, lag |
//! | [`ack`] | replica | when to send `REPLCONF ACK` |
//! | [`checkpoint`] | both | one offset that ranks replicas by the writes they hold |
//! | [`master`] | master | where to start in a segment, frame packing, `WAIT` |
//!
//! An LSN names the same record on master and replica: the replica appends what
//! it applies to its own journal unchanged, so after a restart it asks for the
//! next LSN of its journal with the replication id it last followed, and after a
//! promotion its replicas continue on its second id.

pub mod ack;
pub mod checkpoint;
pub mod frame;
pub mod handshake;
pub mod history;
pub mod id;
pub mod master;
pub mod replica;

#[cfg(test)]
mod sync_tests;
