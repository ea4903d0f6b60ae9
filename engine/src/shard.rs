//! A shard: the keyspaces (one per logical database) that one core owns, its seeded
//! generator and its counters. It knows no commands: `crate::command::exec` runs
//! commands and parts on it, through the [`Keyspace`] door, which journals, counts
//! and reports every change itself (see [`crate::keyspace`]); nothing here journals.
//!
//! Everything here is synchronous and deterministic: time is the `now_ms` argument,
//! randomness comes from the seeded generator the shard was built with.

use rand::rngs::SmallRng;
use rand::SeedableRng;

use crate::collections::{HashLimits, ListLimits, SetLimits, ZsetLimits};
use crate::effect_log::EffectLog;
use crate::hll::HllLimits;
use crate::keyspace::{DbStats, Keyspace};
use crate::limits::STRING_MAX_BYTES;

/// Per-shard counters for `INFO`.
#[derive(Debug, Default, Clone, Copy)]
pub struct ShardCounters {
    pub commands: u64,
    /// Commands that answered with an error.
    pub errors: u64,
    /// Keyspace changes since the last save (`rdb_changes_since_last_save`), as the
    /// door counted them.
    pub dirty: u64,
}

pub struct Shard {
    id: usize,
    pub(crate) keyspace: Keyspace,
    pub(crate) rng: SmallRng,
    pub(crate) counters: ShardCounters,
    /// Longest string a command may build (`proto-max-bulk-len`).
    string_max_bytes: usize,
    /// Encoding limits of hashes and sets (`hash-max-listpack-*`, `set-max-intset-entries`).
    limits: CollectionLimits,
}

/// The configured encoding limits of hashes, sets, lists and HyperLogLogs.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CollectionLimits {
    pub hash: HashLimits,
    pub set: SetLimits,
    pub zset: ZsetLimits,
    pub list: ListLimits,
    pub hll: HllLimits,
}

/// A snapshot of one shard's numbers for `INFO`.
#[derive(Debug, Clone, Default)]
pub struct ShardStats {
    pub keys: Vec<(usize, usize)>,
    pub db: DbStats,
    pub counters: ShardCounters,
    /// Keys evicted under `maxmemory`.
    pub evicted_keys: u64,
}

impl Shard {
    pub fn new(id: usize, seed: u64) -> Self {
        Shard {
            id,
            keyspace: Keyspace::default(),
            rng: SmallRng::seed_from_u64(seed ^ id as u64),
            counters: ShardCounters::default(),
            string_max_bytes: STRING_MAX_BYTES,
            limits: CollectionLimits::default(),
        }
    }

    pub fn id(&self) -> usize {
        self.id
    }

    /// The door to this shard's data.
    pub fn keyspace(&self) -> &Keyspace {
        &self.keyspace
    }

    pub fn keyspace_mut(&mut self) -> &mut Keyspace {
        &mut self.keyspace
    }

    /// The journal's side of this shard.
    pub fn log(&self) -> &EffectLog {
        self.keyspace.log()
    }

    pub fn log_mut(&mut self) -> &mut EffectLog {
        self.keyspace.log_mut()
    }

    pub fn string_max_bytes(&self) -> usize {
        self.string_max_bytes
    }

    pub fn set_string_max_bytes(&mut self, bytes: usize) {
        self.string_max_bytes = bytes;
    }

    pub fn limits(&self) -> CollectionLimits {
        self.limits
    }

    pub fn set_limits(&mut self, limits: CollectionLimits) {
        self.limits = limits;
    }

    /// This shard with `limits` set: for a shard built before it is used.
    pub fn with_limits(mut self, limits: CollectionLimits) -> Shard {
        self.limits = limits;
        self
    }

    pub fn stats(&self) -> ShardStats {
        let mut s = ShardStats {
            counters: ShardCounters {
                dirty: self.keyspace.dirty(),
                ..self.counters
            },
            evicted_keys: self.keyspace.evicted_keys(),
            ..Default::default()
        };
        for db in self.keyspace.dbs() {
            let stats = db.stats();
            s.keys.push((db.len(), db.expires_len()));
            s.db.expired_keys += stats.expired_keys;
            s.db.keyspace_hits += stats.keyspace_hits;
            s.db.keyspace_misses += stats.keyspace_misses;
        }
        s
    }

    /// Zeroes the counters `CONFIG RESETSTAT` resets.
    pub fn reset_stats(&mut self) {
        self.counters.commands = 0;
        self.keyspace.reset_stats();
    }

    /// One active-expiry tick over every database. Returns keys deleted.
    pub fn active_expire(&mut self, now_ms: u64) -> usize {
        self.keyspace.active_expire(now_ms, &mut self.rng)
    }
}
