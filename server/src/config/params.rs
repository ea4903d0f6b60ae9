//! Every configuration parameter: its name, default, accepted values, whether
//! `CONFIG SET` may change it, and its help line; and the older names Redis 7.0
//! still accepts. The values themselves live in [`super::Config`].

use super::*;

/// What values a parameter accepts.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Int {
        min: i64,
        max: i64,
    },
    /// A memory amount ([`super::parse_memory`]); Redis keeps most in a signed
    /// 64-bit integer, so their `max` is `i64::MAX`.
    Memory {
        min: u64,
        max: u64,
    },
    Bool,
    Enum(&'static [&'static str]),
    Str,
    /// `client-output-buffer-limit`: `class hard soft seconds` groups.
    OutputLimits,
    /// `notify-keyspace-events`: class letters ([`keyspace_events_flags`]).
    KeyspaceEvents,
    /// `save`: `seconds changes` pairs, or empty.
    SavePoints,
    /// `latency-tracking-info-percentiles`: numbers from 0 to 100, or none.
    Percentiles,
}

/// One configuration parameter.
#[derive(Debug)]
pub struct Param {
    pub name: &'static str,
    pub default: &'static str,
    pub kind: Kind,
    /// Can `CONFIG SET` change it while running?
    pub mutable: bool,
    pub help: &'static str,
}

const fn p(
    name: &'static str,
    default: &'static str,
    kind: Kind,
    mutable: bool,
    help: &'static str,
) -> Param {
    Param {
        name,
        default,
        kind,
        mutable,
        help,
    }
}

const YES_NO: Kind = Kind::Bool;
/// A count Redis keeps in a `size_t` bounded by `LONG_MAX`.
const COUNT: Kind = Kind::Int {
    min: 0,
    max: i64::MAX,
};

/// A memory amount Redis keeps in a signed 64-bit integer, from `min`.
pub(super) const fn memory(min: u64) -> Kind {
    Kind::Memory {
        min,
        max: i64::MAX as u64,
    }
}

/// Parameters Redis 7.0 can change at run time but corekv cannot: as Redis parses
/// a value before applying it, `CONFIG SET` checks the value first (with Redis's
/// texts), then refuses a valid one as immutable.
pub const CHECKED_THEN_IMMUTABLE: &[&str] = &["port", "tcp-keepalive", "appendonly"];

/// Every parameter the server knows.
pub const PARAMS: &[Param] = &[
    p(
        "port",
        "6379",
        Kind::Int { min: 0, max: 65535 },
        false,
        "TCP port to listen on",
    ),
    p(
        "bind",
        "127.0.0.1",
        Kind::Str,
        false,
        "addresses to listen on (space separated)",
    ),
    p(
        "protected-mode",
        "yes",
        YES_NO,
        true,
        "with no password, accept only loopback clients",
    ),
    p(
        "enable-debug-command",
        "no",
        Kind::Enum(&["no", "yes", "local"]),
        false,
        "allow DEBUG: never, always, or from loopback connections only",
    ),
    p(
        "requirepass",
        "",
        Kind::Str,
        true,
        "password clients must AUTH with (empty: none)",
    ),
    p(
        "instance-id",
        "",
        Kind::Str,
        true,
        "instance id accepted as an 'id:password' AUTH prefix",
    ),
    p(
        "dir",
        "./data",
        Kind::Str,
        false,
        "data directory (locked while the server runs)",
    ),
    p(
        "shards",
        "0",
        Kind::Int { min: 0, max: 1024 },
        false,
        "shard (core) count; 0 = CPUs in the affinity mask",
    ),
    p(
        "cpus",
        "",
        Kind::Str,
        false,
        "CPUs to pin shards to, e.g. 0-3,6 (empty: the affinity mask)",
    ),
    p(
        "io-driver",
        "uring",
        Kind::Enum(&["uring", "uring-coop", "glommio"]),
        false,
        "network driver: each core's own io_uring ring (faster), the same with \
         cooperative task-run (what kernels before 6.1 get), or glommio's sockets",
    ),
    p(
        "databases",
        "16",
        Kind::Int { min: 16, max: 16 },
        false,
        "number of databases",
    ),
    p(
        "proto-max-bulk-len",
        "536870912",
        memory(PROTO_MAX_BULK_LEN_BYTES_MIN),
        true,
        "longest bulk argument accepted",
    ),
    p(
        "client-query-buffer-limit",
        "1073741824",
        memory(1024 * 1024),
        true,
        "most bytes buffered for one client's unparsed input",
    ),
    p(
        "maxclients",
        "10000",
        Kind::Int {
            min: 1,
            max: u32::MAX as i64,
        },
        true,
        "most simultaneous client connections",
    ),
    p(
        "timeout",
        "0",
        Kind::Int {
            min: 0,
            max: i32::MAX as i64,
        },
        true,
        "close idle clients after this many seconds (0: never)",
    ),
    p(
        "save",
        "",
        Kind::SavePoints,
        true,
        "RDB save points, accepted and ignored: the journal keeps the data",
    ),
    p(
        "appendonly",
        "yes",
        YES_NO,
        false,
        "journal every write to a per-shard log in dir",
    ),
    p(
        "appendfsync",
        "everysec",
        Kind::Enum(&["always", "everysec", "no"]),
        true,
        "when the journal is synced: before each reply, once a second, or by the kernel",
    ),
    p(
        "auto-aof-rewrite-percentage",
        "100",
        Kind::Int {
            min: 0,
            max: i32::MAX as i64,
        },
        true,
        "snapshot when the journal grew this % over its size after the last snapshot (0: off)",
    ),
    p(
        "auto-aof-rewrite-min-size",
        "67108864",
        memory(0),
        true,
        "smallest journal size that triggers an automatic snapshot",
    ),
    p(
        "restore-from",
        "",
        Kind::Str,
        false,
        "at start, replace the data in dir with this backup set (roll back or clone)",
    ),
    p(
        "journal-truncate-corrupt",
        "no",
        YES_NO,
        false,
        "at start, cut a journal at a corrupt record instead of refusing to start",
    ),
    p(
        "replicaof",
        "",
        Kind::Str,
        false,
        "at start, replicate the master at '<host> <port>' (REPLICAOF at run time)",
    ),
    p(
        "masterauth",
        "",
        Kind::Str,
        true,
        "password a replica gives its master (requirepass there)",
    ),
    p(
        "masteruser",
        "",
        Kind::Str,
        true,
        "user name a replica gives with masterauth (empty: AUTH <password>)",
    ),
    p(
        "replica-serve-reads",
        "no",
        YES_NO,
        true,
        "a replica answers reads (possibly stale); otherwise only admin commands",
    ),
    p(
        "replica-read-only",
        "yes",
        Kind::Enum(&["yes"]),
        true,
        "replicas refuse writes (always)",
    ),
    p(
        "replica-priority",
        "100",
        Kind::Int {
            min: 0,
            max: i32::MAX as i64,
        },
        true,
        "Sentinel promotes lower values first; 0 never",
    ),
    p(
        "replica-announced",
        "yes",
        YES_NO,
        true,
        "Sentinel lists this replica",
    ),
    p(
        "replica-serve-stale-data",
        "yes",
        YES_NO,
        true,
        "a replica whose link is down answers with its data; no: -MASTERDOWN",
    ),
    p(
        "min-replicas-to-write",
        "0",
        Kind::Int {
            min: 0,
            max: i32::MAX as i64,
        },
        true,
        "a master refuses writes (-NOREPLICAS) with fewer good replicas (0: never)",
    ),
    p(
        "min-replicas-max-lag",
        "10",
        Kind::Int {
            min: 0,
            max: i32::MAX as i64,
        },
        true,
        "a good replica acknowledged within this many seconds (0: min-replicas-to-write is off)",
    ),
    p(
        "replica-announce-ip",
        "",
        Kind::Str,
        true,
        "address a replica tells its master to list it under (empty: as connected)",
    ),
    p(
        "replica-announce-port",
        "0",
        Kind::Int { min: 0, max: 65535 },
        true,
        "client port a replica tells its master to list it under (0: port)",
    ),
    p(
        "repl-timeout",
        "60",
        Kind::Int {
            min: 1,
            max: i32::MAX as i64,
        },
        true,
        "seconds of silence after which a replication link is dropped and redone",
    ),
    p(
        "client-output-buffer-limit",
        OUTPUT_LIMITS_DEFAULT,
        Kind::OutputLimits,
        true,
        "per client class (normal, replica, pubsub): hard limit, soft limit, soft seconds",
    ),
    p(
        HASH_MAX_LISTPACK_ENTRIES,
        "512",
        COUNT,
        true,
        "most fields a hash keeps in the compact listpack encoding",
    ),
    p(
        HASH_MAX_LISTPACK_VALUE,
        "64",
        memory(0),
        true,
        "longest field or value, in bytes, a listpack hash holds",
    ),
    p(
        SET_MAX_INTSET_ENTRIES,
        "512",
        COUNT,
        true,
        "most members a set of integers keeps in the compact intset encoding",
    ),
    p(
        ZSET_MAX_LISTPACK_ENTRIES,
        "128",
        COUNT,
        true,
        "most members a sorted set keeps in the compact listpack encoding",
    ),
    p(
        ZSET_MAX_LISTPACK_VALUE,
        "64",
        memory(0),
        true,
        "longest member, in bytes, a listpack sorted set holds",
    ),
    p(
        HLL_SPARSE_MAX_BYTES,
        "3000",
        memory(0),
        true,
        "longest sparse HyperLogLog, in bytes, before it turns dense",
    ),
    p(
        "notify-keyspace-events",
        "",
        Kind::KeyspaceEvents,
        true,
        "keyspace notification classes (Redis's letters K E g $ l s h z x e t m d n A)",
    ),
    p(
        LIST_MAX_LISTPACK_SIZE,
        "-2",
        Kind::Int {
            min: i32::MIN as i64,
            max: i32::MAX as i64,
        },
        true,
        "per list node: most elements if positive, -1..-5 for 4..64 KiB",
    ),
    p(
        LIST_COMPRESS_DEPTH,
        "0",
        Kind::Int {
            min: 0,
            max: i32::MAX as i64,
        },
        true,
        "list nodes at each end kept uncompressed (accepted; nodes are not compressed)",
    ),
    p(
        "slowlog-log-slower-than",
        "10000",
        Kind::Int {
            min: -1,
            max: i64::MAX,
        },
        true,
        "µs a command must run on its shard to be logged (-1: none, 0: every command)",
    ),
    p(
        "slowlog-max-len",
        "128",
        COUNT,
        true,
        "entries the slow log keeps",
    ),
    p(
        "latency-monitor-threshold",
        "0",
        COUNT,
        true,
        "ms from which the latency monitor records a spike (0: off)",
    ),
    p(
        "latency-tracking",
        "yes",
        YES_NO,
        true,
        "keep a latency histogram per command (LATENCY HISTOGRAM, INFO latencystats)",
    ),
    p(
        "latency-tracking-info-percentiles",
        "50 99 99.9",
        Kind::Percentiles,
        true,
        "percentiles INFO latencystats prints per command",
    ),
    p(
        "metrics-port",
        "0",
        Kind::Int { min: 0, max: 65535 },
        false,
        "TCP port of the Prometheus endpoint (GET /metrics), on the addresses bind names (0: off)",
    ),
    p(
        "maxmemory",
        "0",
        Kind::Memory {
            min: 0,
            max: u64::MAX,
        },
        true,
        "evict or refuse writes above this many bytes, split evenly over shards (0: no limit)",
    ),
    p(
        "maxmemory-policy",
        "noeviction",
        Kind::Enum(&[
            "volatile-lru",
            "volatile-lfu",
            "volatile-random",
            "volatile-ttl",
            "allkeys-lru",
            "allkeys-lfu",
            "allkeys-random",
            "noeviction",
        ]),
        true,
        "which keys go when over maxmemory (noeviction: writes that grow memory fail)",
    ),
    p(
        "maxmemory-samples",
        "5",
        Kind::Int {
            min: 1,
            max: i32::MAX as i64,
        },
        true,
        "keys sampled per database to pick an LRU, LFU or TTL victim",
    ),
    p(
        "maxmemory-eviction-tenacity",
        "10",
        Kind::Int { min: 0, max: 100 },
        true,
        "how much eviction one command may do before it runs (100: no bound)",
    ),
    p(
        "lfu-log-factor",
        "10",
        Kind::Int {
            min: 0,
            max: i32::MAX as i64,
        },
        true,
        "LFU counter growth: higher takes more hits to reach the same count",
    ),
    p(
        "lfu-decay-time",
        "1",
        Kind::Int {
            min: 0,
            max: i32::MAX as i64,
        },
        true,
        "minutes for an idle key's LFU counter to drop by one (0: never)",
    ),
    p(
        "loglevel",
        "notice",
        Kind::Enum(&["debug", "verbose", "notice", "warning"]),
        true,
        "log verbosity",
    ),
];

/// Older names Redis 7.0 still accepts, with the parameter each names.
pub const ALIASES: &[(&str, &str)] = &[
    (HASH_MAX_ZIPLIST_ENTRIES, HASH_MAX_LISTPACK_ENTRIES),
    (HASH_MAX_ZIPLIST_VALUE, HASH_MAX_LISTPACK_VALUE),
    (ZSET_MAX_ZIPLIST_ENTRIES, ZSET_MAX_LISTPACK_ENTRIES),
    (ZSET_MAX_ZIPLIST_VALUE, ZSET_MAX_LISTPACK_VALUE),
    (LIST_MAX_ZIPLIST_SIZE, LIST_MAX_LISTPACK_SIZE),
    ("slave-priority", "replica-priority"),
    ("slave-serve-stale-data", "replica-serve-stale-data"),
    ("min-slaves-to-write", "min-replicas-to-write"),
    ("min-slaves-max-lag", "min-replicas-max-lag"),
    ("slave-announce-ip", "replica-announce-ip"),
    ("slave-announce-port", "replica-announce-port"),
];
