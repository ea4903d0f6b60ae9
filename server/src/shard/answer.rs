//! What a shard answers a request with ([`Answer`]), and where its journal stood
//! after it ([`LogMark`]). A leaf: the journal's waiters answer with it too.

use corekv_engine::command::exec::OpReply;

use crate::shard::stats::CoreSnapshot;

#[derive(Debug)]
pub enum Answer {
    Op(OpReply, LogMark),
    /// Another transaction holds the shard (`Msg::TryLock`).
    Busy,
    /// The shard's last journal LSN after the request, and whether it wrote any.
    Logged(LogMark),
    Clients(ClientsReply),
    Stats(Box<CoreSnapshot>),
    /// How many: connections a publish reached, subscriptions (`PUBSUB`).
    Count(u64),
    /// Per name asked about, a count (`PUBSUB NUMSUB`).
    Counts(Vec<u64>),
    /// Names (`PUBSUB CHANNELS`).
    Names(Vec<bytes::Bytes>),
    Done,
}

/// Where a shard's journal stood after a request, for the coordinator: what to
/// wait for under `appendfsync always`, and what a transaction's part will be.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogMark {
    pub last_lsn: u64,
    /// The request appended records.
    pub appended: bool,
    /// The transaction holding the shard has effects waiting here.
    pub tx_effects: bool,
    /// Slow-log entries the request made, to be given their client.
    pub slow: crate::ops::slowlog::SlowIds,
}

/// A core's answer to a request about its clients (`CLIENT LIST`, `CLIENT KILL`).
#[derive(Debug)]
pub enum ClientsReply {
    Lines(Vec<String>),
    Killed(usize),
}
