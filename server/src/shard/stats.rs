//! One core's counters and the numbers it reports for `INFO`.

use corekv_engine::shard::ShardStats;

/// Counters of one core for `INFO`.
#[derive(Debug, Default, Clone)]
pub struct CoreStats {
    /// Messages this core sent to other cores.
    pub hops: u64,
    /// Multi-shard commands of this core's connections that shared a transaction
    /// with others (`crate::exec::group`).
    pub grouped: u64,
    pub commands: u64,
    pub protocol_errors: u64,
    pub net_input_bytes: u64,
    pub net_output_bytes: u64,
    /// Per command: calls and total µs, indexed like the command table.
    pub command_calls: Vec<(u64, u64)>,
}

/// One core's numbers, gathered for `INFO`.
#[derive(Debug)]
pub struct CoreSnapshot {
    pub shard: ShardStats,
    pub core: CoreStats,
    pub clients: usize,
    pub journal: JournalStats,
    /// Keys clients `WATCH` on this shard.
    pub watched_keys: usize,
    /// Per-command numbers kept where commands ran ([`crate::ops::calls`]).
    pub calls: crate::ops::calls::Calls,
}

/// One shard's journal numbers for `INFO persistence` and `INFO shards`.
#[derive(Debug, Clone, Copy, Default)]
pub struct JournalStats {
    pub size_bytes: u64,
    pub base_size_bytes: u64,
    pub pending_bytes: u64,
    pub last_lsn: u64,
    pub durable_lsn: u64,
    /// First LSN still in the journal on disk (the replication backlog's start).
    pub first_lsn: u64,
    pub write_ok: bool,
    pub snapshot_in_progress: bool,
}

/// The replication offset as one number: the sum of every shard's last LSN. It
/// only grows, and two servers holding the same records per shard agree on it.
pub fn repl_offset(snaps: &[CoreSnapshot]) -> u64 {
    snaps.iter().map(|s| s.journal.last_lsn).sum()
}
