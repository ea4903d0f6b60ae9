//! `maxmemory` on one shard: the per-key access word (Redis's LRU clock or LFU
//! counter), the shard's used-memory estimate, and eviction with Redis 7.0's
//! policies, sampling and eviction pool (`evict.c`).
//!
//! ```text
//!  Shard::run_cmd (a write) ──► Keyspace::make_room ──► over the limit? pick a victim
//!                                  │                      (pool of the best of
//!                                  │                       `maxmemory-samples` keys,
//!                                  │                       or a random key) and evict:
//!                                  │                       DEL journaled, `Evicted`
//!                                  ▼                       reported to the listeners
//!                   Ok / Running: the command runs; Fail: a `denyoom` command gets -OOM
//! ```
//!
//! # The access word
//!
//! Each [`Entry`] carries 24 bits, as Redis's `robj.lru`: under an LRU (or any
//! non-LFU) policy the LRU clock in seconds ([`LRU_CLOCK_RESOLUTION_MS`]) when the key
//! was last touched; under an LFU policy the minutes of the last decrement (16 bits)
//! and a logarithmic access counter (8 bits), updated exactly as Redis's
//! `LFUDecrAndReturn` / `LFULogIncr`. The door touches the word on every lookup
//! through it, except while a command that Redis runs with `LOOKUP_NOTOUCH` runs
//! ([`NOTOUCH_COMMANDS`]); snapshot loading leaves it 0 (the oldest access).
//!
//! # The memory measure
//!
//! The shard's used memory is an estimate tracked at the door: for each entry a fixed
//! overhead derived from the table's layout ([`ENTRY_OVERHEAD_BYTES`]: its slot and
//! its share of the index), a key too long for its slot, the string bytes, a fixed
//! cost per collection element ([`COLLECTION_ELEMENT_BYTES`]) and a volatile key's
//! member of the volatile set, all O(1) per change; plus the journal records waiting
//! to be written, plus what the server's [`OutsideMeter`] reports: the output
//! buffers of the clients on this shard's core, which Redis counts too (replica
//! links excluded, as Redis's `freeMemoryGetNotCountedMemory` excludes them), so a
//! client that reads slowly cannot push the process far past `maxmemory`. A unit
//! test (`the_estimate_tracks_the_allocator`) holds the estimate of string keys to
//! the allocator's own count within 10%. `maxmemory` is split evenly over the
//! shards, and each shard evicts from its own keys, so no shard ever waits on
//! another. The estimate lives here alone, so a measured number can replace it.
//!
//! # Eviction
//!
//! Before each write command on a shard whose estimate is over its share, keys are
//! evicted until it is not, as Redis's `performEvictions` does: the random policies
//! take a random key of the next non-empty database; the others fill a pool of
//! [`EVICTION_POOL_SIZE`] candidates, ordered by idle time (LRU), 255 minus the
//! decayed counter (LFU) or nearness of the deadline (`volatile-ttl`), from
//! `maxmemory-samples` keys of each database, and evict the best. Redis bounds the
//! time one command spends evicting by `maxmemory-eviction-tenacity`; the engine
//! reads no clock, so the bound is a number of keys ([`EVICTIONS_PER_LIMIT_US`] per
//! microsecond of Redis's limit). A replica never evicts: it refuses writes, and its
//! master's deletions reach it through the journal stream.

use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::db::{
    Entry, EntryRef, Probe, KEY_INLINE_MAX, NO_EXPIRE, SLOT_BYTES, VOLATILE_MEMBER_BYTES,
};
use super::hooks::ChangeKind;
use super::Keyspace;
use crate::command::flags;
use crate::error::CmdError;
use crate::journal::Effect;
use crate::value::Value;

/// Bits of the access word (Redis's `LRU_BITS`).
const ACCESS_BITS: u32 = 24;
/// Largest LRU clock value; the clock wraps after it (about 194 days).
pub const LRU_CLOCK_MAX: u32 = (1 << ACCESS_BITS) - 1;
/// One LRU clock tick, in ms (Redis's `LRU_CLOCK_RESOLUTION`).
pub const LRU_CLOCK_RESOLUTION_MS: u64 = 1000;
/// The counter a new key starts with under LFU, so it is not evicted at once.
pub const LFU_INIT_VAL: u32 = 5;
/// Largest LFU counter.
const LFU_COUNTER_MAX: u32 = 255;
/// The LFU minutes clock wraps after this value (16 bits).
const LFU_MINUTES_MAX: u64 = 65_535;
const MS_PER_MINUTE: u64 = 60_000;

/// Candidates the eviction pool keeps (Redis's `EVPOOL_SIZE`).
pub const EVICTION_POOL_SIZE: usize = 16;
/// Defaults, as Redis 7.0's.
pub const MAXMEMORY_SAMPLES_DEFAULT: usize = 5;
pub const EVICTION_TENACITY_DEFAULT: u32 = 10;
pub const LFU_LOG_FACTOR_DEFAULT: u32 = 10;
pub const LFU_DECAY_TIME_DEFAULT: u32 = 1;
/// Largest `maxmemory-eviction-tenacity`: no bound on one command's evictions.
pub const EVICTION_TENACITY_MAX: u32 = 100;
/// Keys evicted between two checks of the bound (Redis checks its time every 16).
const EVICT_CHECK_EVERY_KEYS: u64 = 16;
/// Keys one eviction loop may evict per microsecond of Redis's time limit.
const EVICTIONS_PER_LIMIT_US: u64 = 1;

/// Index bytes per key on average: a 5-byte bucket (position and control byte) at
/// the index's mean fill, between 7/16 and 7/8 full (about 5/8).
const INDEX_BYTES_PER_KEY: usize = 8;
/// Estimated bytes every entry costs beyond a key too long for its slot and the
/// value's bytes: its slot and its share of the index (see [`super::db`]'s layout).
/// `the_estimate_tracks_the_allocator` holds it to the allocator's count.
pub const ENTRY_OVERHEAD_BYTES: u64 = (SLOT_BYTES + INDEX_BYTES_PER_KEY) as u64;
/// Estimated bytes per element of a hash (per field and value), set, sorted set or list.
pub const COLLECTION_ELEMENT_BYTES: u64 = 64;

/// Reads the bytes held outside the keyspace that count toward the calling shard's
/// share of `maxmemory` (the server's client output buffers on the shard's core).
pub type OutsideMeter = fn() -> u64;

/// The process's outside meter, set once by the server ([`set_outside_meter`]).
static OUTSIDE_METER: std::sync::OnceLock<OutsideMeter> = std::sync::OnceLock::new();

/// Counts what `meter` reports toward each shard's share of `maxmemory` (see the
/// module doc). The first meter set stays.
pub fn set_outside_meter(meter: OutsideMeter) {
    let _ = OUTSIDE_METER.set(meter);
}

/// Takes a latency sample of `event` (`eviction-cycle`) that started at the
/// instant given: the server's latency monitor.
pub type LatencySink = fn(&'static str, std::time::Instant);

/// The process's latency sink, set once by the server ([`set_latency_sink`]).
static LATENCY_SINK: std::sync::OnceLock<LatencySink> = std::sync::OnceLock::new();

/// Reports each eviction cycle's duration to `sink` (Redis's `eviction-cycle`
/// latency event). The first sink set stays.
pub fn set_latency_sink(sink: LatencySink) {
    let _ = LATENCY_SINK.set(sink);
}

/// Commands that look keys up without touching their access word (Redis's
/// `LOOKUP_NOTOUCH`): introspection, not use.
pub const NOTOUCH_COMMANDS: &[&str] = &[
    "type",
    "ttl",
    "pttl",
    "expiretime",
    "pexpiretime",
    "exists",
    "object",
];

/// The error of a command that may grow memory while the shard is full.
pub const OOM_MESSAGE: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// `maxmemory-policy`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Policy {
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
    AllKeysLru,
    AllKeysLfu,
    AllKeysRandom,
    #[default]
    NoEviction,
}

impl Policy {
    /// Every policy with its name, in Redis's order.
    pub const ALL: &'static [(Policy, &'static str)] = &[
        (Policy::VolatileLru, "volatile-lru"),
        (Policy::VolatileLfu, "volatile-lfu"),
        (Policy::VolatileRandom, "volatile-random"),
        (Policy::VolatileTtl, "volatile-ttl"),
        (Policy::AllKeysLru, "allkeys-lru"),
        (Policy::AllKeysLfu, "allkeys-lfu"),
        (Policy::AllKeysRandom, "allkeys-random"),
        (Policy::NoEviction, "noeviction"),
    ];

    pub fn parse(name: &str) -> Option<Policy> {
        Policy::ALL
            .iter()
            .find(|(_, n)| name.eq_ignore_ascii_case(n))
            .map(|(p, _)| *p)
    }

    pub fn name(self) -> &'static str {
        Policy::ALL
            .iter()
            .find(|(p, _)| *p == self)
            .map(|(_, n)| *n)
            .expect("every policy is named")
    }

    /// Whether the access word holds an LFU counter.
    pub fn lfu(self) -> bool {
        matches!(self, Policy::VolatileLfu | Policy::AllKeysLfu)
    }

    /// Whether victims come from every key, or only keys with a deadline.
    fn all_keys(self) -> bool {
        matches!(
            self,
            Policy::AllKeysLru | Policy::AllKeysLfu | Policy::AllKeysRandom
        )
    }

    fn random(self) -> bool {
        matches!(self, Policy::AllKeysRandom | Policy::VolatileRandom)
    }
}

/// One shard's eviction settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvictionConfig {
    /// This shard's share of `maxmemory`; 0: no limit.
    pub maxmemory_bytes: u64,
    pub policy: Policy,
    /// `maxmemory-samples`: keys sampled per database to refill the pool.
    pub samples: usize,
    /// `maxmemory-eviction-tenacity`, 0..=100.
    pub tenacity: u32,
    pub lfu_log_factor: u32,
    /// `lfu-decay-time`: minutes per counter decrement (0: never).
    pub lfu_decay_time: u32,
}

impl Default for EvictionConfig {
    fn default() -> Self {
        EvictionConfig {
            maxmemory_bytes: 0,
            policy: Policy::NoEviction,
            samples: MAXMEMORY_SAMPLES_DEFAULT,
            tenacity: EVICTION_TENACITY_DEFAULT,
            lfu_log_factor: LFU_LOG_FACTOR_DEFAULT,
            lfu_decay_time: LFU_DECAY_TIME_DEFAULT,
        }
    }
}

impl EvictionConfig {
    /// The most keys one eviction loop evicts before letting the command run
    /// (Redis's `evictionTimeLimitUs`, in keys); `None`: no bound.
    fn keys_bound(&self) -> Option<u64> {
        let tenacity = self.tenacity.min(EVICTION_TENACITY_MAX);
        let limit_us = match tenacity {
            0..=10 => 50 * u64::from(tenacity),
            EVICTION_TENACITY_MAX => return None,
            _ => (500.0 * 1.15f64.powi(tenacity as i32 - 10)) as u64,
        };
        Some((limit_us * EVICTIONS_PER_LIMIT_US).max(EVICT_CHECK_EVERY_KEYS))
    }
}

/// What [`Keyspace::make_room`] achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Room {
    /// Under the limit (or no limit).
    Ok,
    /// Still over, but the loop reached its bound: the command runs, the next write
    /// continues (Redis's `EVICT_RUNNING`).
    Running,
    /// Over the limit with nothing to evict: commands that may grow memory fail.
    Fail,
}

/// A candidate in the eviction pool: the higher `score`, the better to evict.
#[derive(Debug, Clone)]
struct Candidate {
    score: u64,
    db: usize,
    key: Bytes,
}

/// A shard's eviction state: settings, the used-memory estimate, the clock of the
/// last command, the pool and counters. Owned by the [`Keyspace`].
pub(super) struct Evictor {
    pub(super) config: EvictionConfig,
    /// Estimated bytes of every entry (see the module doc).
    pub(super) entry_bytes: u64,
    /// The time the running command (or the last one) started, in Unix ms: what
    /// stores stamp new entries with.
    pub(super) clock_ms: u64,
    /// The running command does not touch access words.
    pub(super) notouch: bool,
    /// Sorted by score, ascending: the best victim last.
    pool: Vec<Candidate>,
    /// For `LFULogIncr` and sampling; seeded, so runs repeat.
    rng: SmallRng,
    /// The database the random policies try next.
    next_db: usize,
    pub(super) evicted_keys: u64,
    /// Entries were loaded from a snapshot taken at this time (Unix ms) and wait for
    /// their access word until the policy is known.
    pub(super) loaded_at_ms: Option<u64>,
}

/// Seed of each shard's eviction generator.
const EVICTION_RNG_SEED: u64 = 0x5eed_e71c;

impl Default for Evictor {
    fn default() -> Self {
        Evictor {
            config: EvictionConfig::default(),
            entry_bytes: 0,
            clock_ms: 0,
            notouch: false,
            pool: Vec::with_capacity(EVICTION_POOL_SIZE),
            rng: SmallRng::seed_from_u64(EVICTION_RNG_SEED),
            next_db: 0,
            evicted_keys: 0,
            loaded_at_ms: None,
        }
    }
}

/// The LRU clock at `now_ms`.
pub fn lru_clock(now_ms: u64) -> u32 {
    ((now_ms / LRU_CLOCK_RESOLUTION_MS) & u64::from(LRU_CLOCK_MAX)) as u32
}

/// Milliseconds since the LRU clock read `access` (Redis's `estimateObjectIdleTime`).
pub fn idle_ms(access: u32, now_ms: u64) -> u64 {
    let clock = lru_clock(now_ms);
    let ticks = if clock >= access {
        clock - access
    } else {
        clock + (LRU_CLOCK_MAX - access)
    };
    u64::from(ticks) * LRU_CLOCK_RESOLUTION_MS
}

fn lfu_minutes(now_ms: u64) -> u32 {
    ((now_ms / MS_PER_MINUTE) & LFU_MINUTES_MAX) as u32
}

/// Redis's `LFUDecrAndReturn`: the counter of `access`, less one per
/// `decay_minutes` since its last decrement.
pub fn lfu_counter(access: u32, now_ms: u64, decay_minutes: u32) -> u32 {
    let last = access >> 8;
    let counter = access & LFU_COUNTER_MAX;
    let now = lfu_minutes(now_ms);
    let elapsed = if now >= last {
        now - last
    } else {
        LFU_MINUTES_MAX as u32 - last + now
    };
    let periods = elapsed.checked_div(decay_minutes).unwrap_or(0);
    counter.saturating_sub(periods)
}

/// Redis's `LFULogIncr`: one more access, counted with probability
/// `1 / ((counter - LFU_INIT_VAL) * log_factor + 1)`.
fn lfu_log_incr(counter: u32, log_factor: u32, rng: &mut SmallRng) -> u32 {
    if counter == LFU_COUNTER_MAX {
        return counter;
    }
    let r: f64 = rng.gen();
    let base = f64::from(counter.saturating_sub(LFU_INIT_VAL));
    let p = 1.0 / (base * f64::from(log_factor) + 1.0);
    if r < p {
        counter + 1
    } else {
        counter
    }
}

/// Estimated bytes `key` and its entry (`value`, deadline `expire_at_ms`) hold (see
/// the module doc): the overhead, a key too long for its slot, the value's bytes and
/// a volatile key's member of the volatile set.
pub fn entry_bytes(key: &[u8], value: &Value, expire_at_ms: u64) -> u64 {
    let key = match key.len() {
        n if n > KEY_INLINE_MAX => n as u64,
        _ => 0,
    };
    let volatile = match expire_at_ms {
        NO_EXPIRE => 0,
        _ => VOLATILE_MEMBER_BYTES as u64,
    };
    ENTRY_OVERHEAD_BYTES + key + value_bytes(value) + volatile
}

/// The share of [`entry_bytes`] that `value` accounts for: all that changes while a
/// write guard changes the value in place.
pub fn value_bytes(value: &Value) -> u64 {
    match value {
        Value::Str(s) => s.len() as u64,
        Value::Hash(h) => 2 * h.len() as u64 * COLLECTION_ELEMENT_BYTES,
        Value::Set(s) => s.len() as u64 * COLLECTION_ELEMENT_BYTES,
        Value::Zset(z) => z.len() as u64 * COLLECTION_ELEMENT_BYTES,
        Value::List(l) => l.len() as u64 * COLLECTION_ELEMENT_BYTES,
    }
}

impl Evictor {
    /// The access word of an entry stored now for the first time.
    pub(super) fn fresh(&self) -> u32 {
        self.fresh_at(self.clock_ms)
    }

    /// The access word of an entry first stored at `at_ms`.
    fn fresh_at(&self, at_ms: u64) -> u32 {
        if self.config.policy.lfu() {
            (lfu_minutes(at_ms) << 8) | LFU_INIT_VAL
        } else {
            lru_clock(at_ms)
        }
    }

    /// `access` after one more access at `now_ms` (Redis's `updateLFU`, or the LRU
    /// clock).
    pub(super) fn touched(&mut self, access: u32, now_ms: u64) -> u32 {
        if !self.config.policy.lfu() {
            return lru_clock(now_ms);
        }
        let counter = lfu_counter(access, now_ms, self.config.lfu_decay_time);
        let counter = lfu_log_incr(counter, self.config.lfu_log_factor, &mut self.rng);
        (lfu_minutes(now_ms) << 8) | counter
    }

    pub(super) fn added(&mut self, key: &[u8], entry: &Entry) {
        self.entry_bytes += entry_bytes(key, &entry.value, entry.expire_at_ms);
    }

    pub(super) fn removed(&mut self, key: &[u8], entry: &Entry) {
        self.resized(entry_bytes(key, &entry.value, entry.expire_at_ms), 0);
    }

    /// An entry that took `before` bytes takes `after` now.
    pub(super) fn resized(&mut self, before: u64, after: u64) {
        debug_assert!(
            self.entry_bytes >= before,
            "estimate below an entry's share"
        );
        self.entry_bytes = (self.entry_bytes + after).saturating_sub(before);
    }

    /// How good a victim `entry` is under the policy: the higher the better.
    fn score(&self, entry: EntryRef<'_>) -> u64 {
        match self.config.policy {
            Policy::VolatileTtl => u64::MAX - entry.expire_at_ms,
            p if p.lfu() => {
                let counter =
                    lfu_counter(entry.access(), self.clock_ms, self.config.lfu_decay_time);
                u64::from(LFU_COUNTER_MAX - counter)
            }
            _ => idle_ms(entry.access(), self.clock_ms),
        }
    }

    /// Redis's `evictionPoolPopulate` step for one sampled key: keeps the pool sorted
    /// and at most [`EVICTION_POOL_SIZE`] long, dropping the worst when full.
    fn offer(&mut self, candidate: Candidate) {
        if self
            .pool
            .iter()
            .any(|c| c.db == candidate.db && c.key == candidate.key)
        {
            return;
        }
        let at = self
            .pool
            .iter()
            .position(|c| c.score >= candidate.score)
            .unwrap_or(self.pool.len());
        if self.pool.len() < EVICTION_POOL_SIZE {
            self.pool.insert(at, candidate);
        } else if at > 0 {
            self.pool.remove(0);
            self.pool.insert(at - 1, candidate);
        }
        debug_assert!(self.pool.len() <= EVICTION_POOL_SIZE);
    }
}

impl Keyspace {
    /// Sets this shard's eviction settings. A new policy empties the pool, whose
    /// scores it would read differently. The first settings after a snapshot load
    /// stamp every entry as new at the snapshot's time, as Redis stamps what it loads
    /// from an RDB file without access data: the access word is not in the snapshot,
    /// and 0 would make every loaded key look idle since the clock began.
    pub fn set_eviction(&mut self, config: EvictionConfig) {
        if config.policy != self.evict.config.policy {
            self.evict.pool.clear();
        }
        self.evict.config = config;
        if let Some(at_ms) = self.evict.loaded_at_ms.take() {
            let word = self.evict.fresh_at(at_ms);
            for db in &mut self.dbs {
                db.set_every_access(word);
            }
        }
    }

    pub fn eviction(&self) -> EvictionConfig {
        self.evict.config
    }

    /// Redis's `objectSetLRUOrLFU` for `RESTORE ... IDLETIME | FREQ`: under an LFU
    /// policy `freq` becomes the live key's counter, under an LRU one `idle_secs`
    /// its idle time; the option the policy does not use is ignored, as in Redis.
    pub fn set_idle_or_freq(
        &mut self,
        db: usize,
        key: &[u8],
        idle_secs: Option<u64>,
        freq: Option<u32>,
    ) {
        let now_ms = self.evict.clock_ms;
        let word = match (self.evict.config.policy.lfu(), idle_secs, freq) {
            (true, _, Some(freq)) => (lfu_minutes(now_ms) << 8) | freq.min(LFU_COUNTER_MAX),
            (false, Some(idle), _) => {
                let ticks = idle.saturating_mul(1000) / LRU_CLOCK_RESOLUTION_MS;
                let ticks = (ticks % (u64::from(LRU_CLOCK_MAX) + 1)) as u32;
                let clock = lru_clock(now_ms);
                match clock.checked_sub(ticks) {
                    Some(word) => word,
                    None => clock + (LRU_CLOCK_MAX - ticks),
                }
            }
            _ => return,
        };
        if let Probe::Live(idx) = self.dbs[db].probe(key, now_ms) {
            self.dbs[db].set_access(idx, word);
        }
    }

    /// The shard's used-memory estimate: its entries, its journal records not yet
    /// written and what the outside meter reports.
    pub fn used_bytes(&self) -> u64 {
        let outside = OUTSIDE_METER.get().map_or(0, |meter| meter());
        self.evict.entry_bytes + self.hooks.log.pending_bytes() as u64 + outside
    }

    /// Keys evicted since the start or the last `CONFIG RESETSTAT`.
    pub fn evicted_keys(&self) -> u64 {
        self.evict.evicted_keys
    }

    /// Command `name` is about to run at `now_ms`: sets the clock new entries are
    /// stamped with, and whether its lookups touch access words (until
    /// [`Keyspace::command`] hears it finished).
    pub(crate) fn start_command(&mut self, name: &str, now_ms: u64) {
        self.evict.clock_ms = now_ms;
        self.evict.notouch = NOTOUCH_COMMANDS.contains(&name);
    }

    /// Before a command with `flags` (its row's) runs: a write makes room first, and
    /// one that may grow memory (`denyoom`) is refused while the shard stays full.
    pub fn admit(&mut self, flags: u32, now_ms: u64) -> Result<(), CmdError> {
        if self.evict.config.maxmemory_bytes == 0 || flags & flags::WRITE == 0 {
            return Ok(());
        }
        match self.make_room(now_ms) {
            Room::Fail if flags & flags::DENYOOM != 0 => Err(CmdError::Raw(OOM_MESSAGE.into())),
            _ => Ok(()),
        }
    }

    /// Evicts keys while this shard is over its share of `maxmemory` (see the module
    /// doc); says whether a command that may grow memory may run.
    pub fn make_room(&mut self, now_ms: u64) -> Room {
        let limit = self.evict.config.maxmemory_bytes;
        if limit == 0 || self.used_bytes() <= limit {
            return Room::Ok;
        }
        if self.evict.config.policy == Policy::NoEviction {
            return Room::Fail;
        }
        self.evict.clock_ms = now_ms;
        let started = std::time::Instant::now();
        let room = self.evict_until_room(limit);
        if let Some(sink) = LATENCY_SINK.get() {
            sink("eviction-cycle", started);
        }
        room
    }

    /// Evicts victims until the shard is within `limit`, or the policy finds none,
    /// or the cycle's bound of keys is reached.
    fn evict_until_room(&mut self, limit: u64) -> Room {
        let bound = self.evict.config.keys_bound();
        let mut evicted: u64 = 0;
        while self.used_bytes() > limit {
            let Some((db, key)) = self.victim() else {
                return Room::Fail;
            };
            self.evict_key(db, &key);
            evicted += 1;
            if evicted.is_multiple_of(EVICT_CHECK_EVERY_KEYS) && bound.is_some_and(|b| evicted >= b)
            {
                return if self.used_bytes() > limit {
                    Room::Running
                } else {
                    Room::Ok
                };
            }
        }
        Room::Ok
    }

    /// The next key to evict under the policy, if any key qualifies.
    fn victim(&mut self) -> Option<(usize, Bytes)> {
        if self.evict.config.policy.random() {
            return self.random_victim();
        }
        loop {
            let mut candidates = 0;
            for db in 0..self.dbs.len() {
                candidates += self.sample_into_pool(db);
            }
            if candidates == 0 {
                return None;
            }
            while let Some(best) = self.evict.pool.pop() {
                if self.qualifies(best.db, &best.key) {
                    return Some((best.db, best.key));
                }
            }
        }
    }

    /// Whether `key` in `db` is still there and still a candidate for the policy.
    fn qualifies(&self, db: usize, key: &[u8]) -> bool {
        let all_keys = self.evict.config.policy.all_keys();
        self.dbs[db]
            .get(key)
            .is_some_and(|e| all_keys || e.expire_at_ms != NO_EXPIRE)
    }

    /// Offers `maxmemory-samples` keys of `db` to the pool; returns how many keys
    /// the policy could pick from there.
    fn sample_into_pool(&mut self, db: usize) -> usize {
        let all_keys = self.evict.config.policy.all_keys();
        let d = &self.dbs[db];
        let len = d.candidates(!all_keys);
        let samples = self.evict.config.samples.max(1).min(len);
        for i in 0..samples {
            let at = if len <= self.evict.config.samples {
                i
            } else {
                self.evict.rng.gen_range(0..len)
            };
            let (key, entry) = d.candidate(!all_keys, at);
            let candidate = Candidate {
                score: self.evict.score(entry),
                db,
                key: Bytes::copy_from_slice(key),
            };
            self.evict.offer(candidate);
        }
        len
    }

    /// A random qualifying key of the next database that has one.
    fn random_victim(&mut self) -> Option<(usize, Bytes)> {
        let all_keys = self.evict.config.policy.all_keys();
        for _ in 0..self.dbs.len() {
            self.evict.next_db = (self.evict.next_db + 1) % self.dbs.len();
            let db = self.evict.next_db;
            let d = &self.dbs[db];
            let len = d.candidates(!all_keys);
            if len == 0 {
                continue;
            }
            let at = self.evict.rng.gen_range(0..len);
            let (key, _) = d.candidate(!all_keys, at);
            return Some((db, Bytes::copy_from_slice(key)));
        }
        None
    }

    /// Deletes `key` from `db` as an eviction: journaled as a `DEL` (replicas and
    /// recovery drop it too), reported as [`ChangeKind::Evicted`], not counted as a
    /// change since the last save (as Redis).
    fn evict_key(&mut self, db: usize, key: &Bytes) {
        let entry = self.dbs[db].remove(key).expect("the victim exists");
        debug_assert!(entry.expire_at_ms != NO_EXPIRE || self.evict.config.policy.all_keys());
        self.evict.removed(key, &entry);
        self.evict.evicted_keys += 1;
        self.hooks.dropped(db, key, entry);
        self.hooks.log.push(&Effect::Del { db, key });
        self.hooks.reported(db, key, ChangeKind::Evicted);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::TestShard;

    /// The server's allocator, so the tests below count what it counts.
    #[global_allocator]
    static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

    /// Bytes this thread holds from the allocator: allocated less freed, each
    /// allocation counted as its size class.
    fn thread_bytes() -> i64 {
        use tikv_jemalloc_ctl::thread;
        let allocated = thread::allocatedp::read().expect("jemalloc stats").get();
        let freed = thread::deallocatedp::read().expect("jemalloc stats").get();
        allocated as i64 - freed as i64
    }

    /// How far the estimate may stray from the allocator's count, in percent: the
    /// index's fill moves between 7/16 and 7/8 with the number of keys, and the
    /// allocator rounds keys and values up to its size classes.
    const ESTIMATE_MARGIN_PERCENT: i64 = 10;

    #[test]
    fn the_estimate_tracks_the_allocator() {
        const KEYS: usize = 200_000;
        // (key length, value length, with a deadline)
        let shapes = [
            (16, 32, false),
            (16, 32, true),
            (30, 100, false),
            (8, 8, false),
        ];
        for (key_len, value_len, volatile) in shapes {
            let mut ks = Keyspace::default();
            let at = if volatile { u64::MAX / 2 } else { NO_EXPIRE };
            let before = thread_bytes();
            for i in 0..KEYS {
                let key = format!("{i:0key_len$}");
                ks.add(
                    0,
                    key.as_bytes(),
                    Value::Str(vec![b'v'; value_len].into()),
                    at,
                );
            }
            let real = thread_bytes() - before;
            let estimate = ks.used_bytes() as i64;
            let off = (estimate - real) * 100 / real;
            assert!(
                off.abs() <= ESTIMATE_MARGIN_PERCENT,
                "{key_len}-byte keys, {value_len}-byte values, deadline {volatile}: \
                 estimate {} B/key, allocator {} B/key ({off:+}%)",
                estimate / KEYS as i64,
                real / KEYS as i64,
            );
        }
    }

    const NOW_MS: u64 = 1_700_000_000_000;

    #[test]
    fn lru_idle_time_wraps_with_the_clock() {
        let access = lru_clock(NOW_MS);
        assert_eq!(idle_ms(access, NOW_MS + 2_500), 2_000);
        assert_eq!(
            idle_ms(LRU_CLOCK_MAX - 1, 3 * LRU_CLOCK_RESOLUTION_MS),
            4_000
        );
    }

    #[test]
    fn lfu_counter_decays_one_per_period() {
        let access = (lfu_minutes(NOW_MS) << 8) | 10;
        assert_eq!(lfu_counter(access, NOW_MS, 1), 10);
        assert_eq!(lfu_counter(access, NOW_MS + 3 * MS_PER_MINUTE, 1), 7);
        assert_eq!(lfu_counter(access, NOW_MS + 3 * MS_PER_MINUTE, 2), 9);
        assert_eq!(lfu_counter(access, NOW_MS + 3 * MS_PER_MINUTE, 0), 10);
        assert_eq!(lfu_counter(access, NOW_MS + 100 * MS_PER_MINUTE, 1), 0);
    }

    #[test]
    fn lfu_counter_grows_logarithmically() {
        let mut rng = SmallRng::seed_from_u64(1);
        let mut counter = LFU_INIT_VAL;
        for _ in 0..1_000 {
            counter = lfu_log_incr(counter, LFU_LOG_FACTOR_DEFAULT, &mut rng);
        }
        // Redis's table for lfu-log-factor 10: 1K hits reach about 18.
        assert!((14..=22).contains(&counter), "{counter}");
        for _ in 0..1_000 {
            assert_eq!(lfu_log_incr(255, 0, &mut rng), 255);
        }
    }

    #[test]
    fn tenacity_bounds_follow_redis_time_limits() {
        let bound = |tenacity| {
            EvictionConfig {
                tenacity,
                ..Default::default()
            }
            .keys_bound()
        };
        assert_eq!(bound(0), Some(EVICT_CHECK_EVERY_KEYS));
        assert_eq!(bound(10), Some(500));
        assert_eq!(bound(11), Some(575));
        assert_eq!(bound(100), None);
    }

    #[test]
    fn the_pool_keeps_the_best_candidates_sorted() {
        let mut e = Evictor::default();
        for score in [
            5u64, 1, 9, 3, 7, 20, 0, 11, 15, 2, 8, 6, 4, 13, 12, 10, 14, 16,
        ] {
            let key = Bytes::from(score.to_string());
            e.offer(Candidate { score, db: 0, key });
        }
        let scores: Vec<u64> = e.pool.iter().map(|c| c.score).collect();
        let want: Vec<u64> = (2..=16).chain([20]).collect();
        assert_eq!(scores, want);
    }

    #[test]
    fn policies_parse_by_redis_names() {
        for (policy, name) in Policy::ALL {
            assert_eq!(Policy::parse(name), Some(*policy));
            assert_eq!(policy.name(), *name);
        }
        assert_eq!(Policy::parse("ALLKEYS-LRU"), Some(Policy::AllKeysLru));
        assert_eq!(Policy::parse("lru"), None);
    }

    /// A shard limited to about `keys` string keys of `key:NNNNN` with a 10-byte value.
    fn limited(policy: Policy, keys: u64) -> TestShard {
        let mut s = TestShard::default();
        let per_key = one_key();
        s.shard.keyspace_mut().set_eviction(EvictionConfig {
            maxmemory_bytes: keys * per_key,
            policy,
            ..Default::default()
        });
        s
    }

    /// The estimate of one of those keys.
    fn one_key() -> u64 {
        entry_bytes(
            key(0).as_bytes(),
            &Value::Str(b"0123456789".to_vec().into()),
            NO_EXPIRE,
        )
    }

    fn key(i: usize) -> String {
        format!("key:{i:05}")
    }

    fn recount(s: &TestShard) -> u64 {
        let ks = s.shard.keyspace();
        ks.dbs()
            .iter()
            .flat_map(|d| d.iter())
            .map(|(k, e)| entry_bytes(k, e.value, e.expire_at_ms))
            .sum()
    }

    #[test]
    fn the_estimate_follows_every_change() {
        let mut s = TestShard::default();
        let script: &[&[&str]] = &[
            &["SET", "a", "hello"],
            &["APPEND", "a", " world"],
            &["SET", "t", "v", "PX", "5"],
            &["HSET", "h", "f", "1", "g", "2"],
            &["HDEL", "h", "f", "g"],
            &["SADD", "s", "1", "2", "3"],
            &["SPOP", "s"],
            &["RPUSH", "l", "a", "b"],
            &["LPOP", "l"],
            &["ZADD", "z", "1", "a"],
            &["RENAME", "a", "longer-name"],
            &["COPY", "longer-name", "c", "DB", "1"],
            &["MOVE", "z", "2"],
            &["SETRANGE", "c", "40", "x"],
            &["DEL", "l"],
        ];
        for args in script {
            s.run(args);
            assert_eq!(
                s.shard.keyspace().evict.entry_bytes,
                recount(&s),
                "{args:?}"
            );
        }
        s.advance_ms(10);
        assert_eq!(s.run(&["GET", "t"]), "(nil)");
        assert_eq!(s.shard.keyspace().evict.entry_bytes, recount(&s));
        s.run(&["FLUSHDB"]);
        assert_eq!(s.shard.keyspace().evict.entry_bytes, recount(&s));
        s.run(&["FLUSHALL"]);
        assert_eq!(s.shard.keyspace().evict.entry_bytes, 0);
    }

    #[test]
    fn idle_time_counts_from_the_last_touch_and_introspection_does_not_touch() {
        let mut s = TestShard::default();
        s.run(&["SET", "k", "v"]);
        s.advance_ms(5_000);
        for probe in [&["TYPE", "k"][..], &["TTL", "k"], &["EXISTS", "k"]] {
            s.run(probe);
        }
        assert_eq!(s.run(&["OBJECT", "IDLETIME", "k"]), "5");
        assert_eq!(s.run(&["OBJECT", "IDLETIME", "k"]), "5");
        s.run(&["GET", "k"]);
        assert_eq!(s.run(&["OBJECT", "IDLETIME", "k"]), "0");
        s.advance_ms(3_000);
        assert_eq!(s.run(&["TOUCH", "k", "missing"]), "1");
        assert_eq!(s.run(&["OBJECT", "IDLETIME", "k"]), "0");
    }

    /// `RESTORE ... IDLETIME` sets the idle time under an LRU policy and `FREQ` the
    /// counter under an LFU one; the option the policy does not read is ignored.
    #[test]
    fn restore_sets_the_idle_time_or_the_counter_its_policy_reads() {
        for (policy, option, value, other) in [
            (Policy::AllKeysLru, "IDLETIME", "1000", "FREQ"),
            (Policy::AllKeysLfu, "FREQ", "100", "IDLETIME"),
        ] {
            let mut s = TestShard::default();
            s.shard.keyspace_mut().set_eviction(EvictionConfig {
                policy,
                ..EvictionConfig::default()
            });
            s.run(&["SET", "k", "v"]);
            // A new key's reading, taken before DUMP touches the key.
            let read = if policy.lfu() { "FREQ" } else { "IDLETIME" };
            let fresh = s.run(&["OBJECT", read, "k"]);
            let dumped = s.run_bytes(&[b"DUMP", b"k"]);
            let start = dumped.iter().position(|&b| b == b'\n').unwrap() + 1;
            let payload = &dumped[start..dumped.len() - 2];
            for (key, opt, expected) in [("a", option, value), ("b", other, fresh.as_str())] {
                let restore: [&[u8]; 6] = [
                    b"RESTORE",
                    key.as_bytes(),
                    b"0",
                    payload,
                    opt.as_bytes(),
                    if key == "a" { value.as_bytes() } else { b"7" },
                ];
                assert_eq!(s.run_bytes(&restore), b"+OK\r\n");
                assert_eq!(s.run(&["OBJECT", read, key]), expected, "{policy:?} {opt}");
            }
        }
    }

    /// Keys loaded from a snapshot are as idle as the snapshot is old (LRU) or start
    /// at the new-key counter (LFU), not at access word 0.
    #[test]
    fn loaded_keys_start_fresh_at_the_snapshot_s_time() {
        for (policy, idle, freq) in [
            (Policy::AllKeysLru, Some("10"), None),
            (Policy::AllKeysLfu, None, Some(LFU_INIT_VAL.to_string())),
        ] {
            let mut s = TestShard::default();
            s.run(&["SET", "k", "v"]);
            let ks = s.shard.keyspace_mut();
            let mut image = ks.start_snapshot(1, 0, 1, 1, NOW_MS);
            while ks.snapshot_chunk(1, NOW_MS, usize::MAX, &mut image)
                == Some(super::super::SnapshotProgress::More)
            {}
            let mut loaded = TestShard {
                now_ms: NOW_MS + 10_000,
                ..TestShard::default()
            };
            let ks = loaded.shard.keyspace_mut();
            ks.load_snapshot(&image).expect("loads");
            ks.set_eviction(EvictionConfig {
                policy,
                ..EvictionConfig::default()
            });
            if let Some(idle) = idle {
                assert_eq!(loaded.run(&["OBJECT", "IDLETIME", "k"]), idle);
            }
            if let Some(freq) = freq {
                assert_eq!(loaded.run(&["OBJECT", "FREQ", "k"]), freq);
            }
        }
    }

    #[test]
    fn freq_is_tracked_under_lfu_only() {
        let mut s = limited(Policy::AllKeysLfu, 1_000);
        s.run(&["SET", "k", "v"]);
        assert_eq!(s.run(&["OBJECT", "FREQ", "k"]), LFU_INIT_VAL.to_string());
        for _ in 0..100 {
            s.run(&["GET", "k"]);
        }
        let freq: u32 = s.run(&["OBJECT", "FREQ", "k"]).parse().expect("an integer");
        assert!(freq > LFU_INIT_VAL + 2, "{freq}");
        s.advance_ms(2 * MS_PER_MINUTE);
        assert_eq!(s.run(&["OBJECT", "FREQ", "k"]), (freq - 2).to_string());
        assert!(s
            .run(&["OBJECT", "IDLETIME", "k"])
            .starts_with("-ERR An LFU maxmemory policy is selected"));
    }

    #[test]
    fn noeviction_refuses_writes_that_grow_memory_only() {
        let mut s = limited(Policy::NoEviction, 10);
        for i in 0..11 {
            assert_eq!(s.run(&["SET", &key(i), "0123456789"]), "OK");
        }
        assert_eq!(s.run(&["SET", "more", "x"]), format!("-{OOM_MESSAGE}"));
        assert_eq!(s.run(&["GET", &key(0)]), "0123456789");
        assert_eq!(s.run(&["DEL", &key(0), &key(1)]), "2");
        assert_eq!(s.run(&["SET", "more", "x"]), "OK");
        assert_eq!(s.shard.keyspace().evicted_keys(), 0);
    }

    #[test]
    fn allkeys_lru_evicts_the_least_recently_used() {
        let mut s = limited(Policy::AllKeysLru, 100);
        for i in 0..100 {
            s.run(&["SET", &key(i), "0123456789"]);
        }
        s.advance_ms(10_000);
        for i in 0..50 {
            s.run(&["GET", &key(i)]);
        }
        for i in 100..150 {
            s.run(&["SET", &key(i), "0123456789"]);
        }
        let kept = (0..50)
            .filter(|&i| s.run(&["EXISTS", &key(i)]) == "1")
            .count();
        let idle_kept = (50..100)
            .filter(|&i| s.run(&["EXISTS", &key(i)]) == "1")
            .count();
        assert!(kept >= 45, "recently used kept: {kept}");
        assert!(idle_kept <= 10, "idle kept: {idle_kept}");
        assert!(s.shard.keyspace().evicted_keys() >= 45);
    }

    #[test]
    fn allkeys_lfu_evicts_the_least_frequently_used() {
        let mut s = limited(Policy::AllKeysLfu, 100);
        for i in 0..100 {
            s.run(&["SET", &key(i), "0123456789"]);
        }
        for _ in 0..20 {
            for i in 0..50 {
                s.run(&["GET", &key(i)]);
            }
        }
        for i in 100..150 {
            s.run(&["SET", &key(i), "0123456789"]);
            for _ in 0..20 {
                s.run(&["GET", &key(i)]);
            }
        }
        let hot_kept = (0..50)
            .filter(|&i| s.run(&["EXISTS", &key(i)]) == "1")
            .count();
        let cold_kept = (50..100)
            .filter(|&i| s.run(&["EXISTS", &key(i)]) == "1")
            .count();
        assert!(hot_kept >= 45, "frequently used kept: {hot_kept}");
        assert!(cold_kept <= 10, "rarely used kept: {cold_kept}");
    }

    #[test]
    fn volatile_policies_evict_only_keys_with_a_deadline() {
        for policy in [
            Policy::VolatileLru,
            Policy::VolatileLfu,
            Policy::VolatileRandom,
            Policy::VolatileTtl,
        ] {
            let mut s = limited(policy, 20);
            // Room for the ten volatile keys' members of the volatile set too.
            let mut config = s.shard.keyspace().eviction();
            config.maxmemory_bytes += 10 * VOLATILE_MEMBER_BYTES as u64;
            s.shard.keyspace_mut().set_eviction(config);
            for i in 0..10 {
                s.run(&["SET", &key(i), "0123456789"]);
            }
            for i in 10..20 {
                let ttl = (1000 + i).to_string();
                s.run(&["SET", &key(i), "0123456789", "EX", &ttl]);
            }
            for i in 20..25 {
                assert_eq!(s.run(&["SET", &key(i), "0123456789"]), "OK", "{policy:?}");
            }
            assert!(
                (0..10).all(|i| s.run(&["EXISTS", &key(i)]) == "1"),
                "{policy:?}"
            );
            // Room is made before each write: the first write over the limit is not
            // preceded by an eviction.
            assert_eq!(s.shard.keyspace().evicted_keys(), 4, "{policy:?}");
            if policy == Policy::VolatileTtl {
                let kept: Vec<_> = (10..20)
                    .filter(|&i| s.run(&["EXISTS", &key(i)]) == "1")
                    .collect();
                assert_eq!(
                    kept,
                    (14..20).collect::<Vec<_>>(),
                    "the nearest deadlines go first"
                );
            }
            // Only keys without a deadline left: nothing to evict, so writes fail.
            for i in 25..40 {
                s.run(&["SET", &key(i), "0123456789"]);
            }
            assert_eq!(
                s.run(&["SET", "more", "x"]),
                format!("-{OOM_MESSAGE}"),
                "{policy:?}"
            );
        }
    }

    #[test]
    fn allkeys_random_evicts_from_every_key() {
        let mut s = limited(Policy::AllKeysRandom, 50);
        for i in 0..200 {
            assert_eq!(s.run(&["SET", &key(i), "0123456789"]), "OK");
        }
        // Room is made before each write, so the last one may go one key over.
        let limit = s.shard.keyspace().eviction().maxmemory_bytes;
        assert!(s.shard.keyspace().used_bytes() <= limit + one_key());
        let kept_old = (0..100)
            .filter(|&i| s.run(&["EXISTS", &key(i)]) == "1")
            .count();
        assert!(kept_old > 0 && kept_old < 40, "{kept_old}");
    }

    #[test]
    fn evictions_are_journaled_as_deletions() {
        let mut s = limited(Policy::AllKeysLru, 10);
        s.shard.log_mut().enable(0);
        for i in 0..20 {
            s.run(&["SET", &key(i), "0123456789"]);
        }
        let mut replica = TestShard::default();
        let buf = s.shard.log_mut().take();
        for record in crate::journal::scan(&buf).records {
            let effect = Effect::decode(&buf[record.payload]).expect("decodes");
            crate::replay::apply_effect(&mut replica.shard, effect);
        }
        let keys = |t: &mut TestShard| t.run(&["KEYS", "*"]);
        assert_eq!(keys(&mut replica), keys(&mut s));
        assert_eq!(replica.shard.keyspace().evicted_keys(), 0);
    }
}
