//! What the replication role refuses before a command runs (the last of the generic
//! checks in [`crate::exec`], in Redis's order):
//!
//! - a master with `min-replicas-to-write N` (and `min-replicas-max-lag` not 0)
//!   refuses writes (`-NOREPLICAS`) while fewer than `N` replicas are good: every
//!   shard stream online and an acknowledgement within `min-replicas-max-lag` seconds;
//! - a replica refuses writes (`-READONLY`);
//! - a replica whose link is down, with `replica-serve-stale-data no`, refuses every
//!   command that may not see stale data (`-MASTERDOWN`);
//! - a replica with `replica-serve-reads no` refuses reads.
//!
//! Each check reads an atomic first; the replicas' state is locked only on a master
//! that asks for good replicas.

use std::sync::atomic::Ordering::Relaxed;

use corekv_engine::command::flags::{READONLY, STALE, WRITE};
use corekv_engine::command::CommandSpec;
use corekv_engine::error::CmdError;

use crate::shard::global::Global;

/// The error the role gives `spec`, if it refuses it.
pub fn refusal<E>(global: &Global, spec: &CommandSpec<E>) -> Option<CmdError> {
    let hot = &global.config.hot;
    if !global.repl.is_replica() {
        let wanted = hot.min_replicas_to_write.load(Relaxed);
        let max_lag_s = hot.min_replicas_max_lag_s.load(Relaxed);
        if spec.has(WRITE) && wanted > 0 && max_lag_s > 0 {
            let good = global.repl.lock().good_replicas(global.shards, max_lag_s);
            if good < wanted {
                return Some(CmdError::NoReplicas);
            }
        }
        return None;
    }
    if spec.has(WRITE) {
        return Some(CmdError::ReadOnlyReplica);
    }
    if !spec.has(STALE)
        && !hot.replica_serve_stale_data.load(Relaxed)
        && !global.repl.link_up.load(Relaxed)
    {
        return Some(CmdError::MasterDown);
    }
    if spec.has(READONLY) && !hot.replica_serve_reads.load(Relaxed) {
        return Some(CmdError::ReplicaNoReads);
    }
    None
}
