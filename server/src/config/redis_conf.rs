//! The rest of Redis 7.0's redis.conf: the process parameters corekv applies at
//! start ([`PROCESS`]: daemonizing, pid file, log file, syslog, systemd
//! supervision, TCP socket options), and the directives that mean nothing in
//! corekv ([`IGNORED`]), accepted so that a stock redis.conf starts the server,
//! shown by `CONFIG GET`, and logged once at start with the reason.
//!
//! A name [`super::PARAMS`] lists shadows its row here: a feature that implements
//! an ignored directive adds it there and [`super::find`] finds that row first.

use super::{Kind, Param};

const fn row(
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
const INT: Kind = Kind::Int {
    min: i64::MIN,
    max: i64::MAX,
};
const PORT: Kind = Kind::Int { min: 0, max: 65535 };
const MEMORY: Kind = super::params::memory(0);

/// Directives that take several words (`save 3600 1 300 100`, `bind a b`); every
/// other directive takes exactly one value.
pub const MULTI_ARG: &[&str] = &[
    "bind",
    "save",
    "client-output-buffer-limit",
    "replicaof",
    "oom-score-adj-values",
    "latency-tracking-info-percentiles",
];

/// Directives corekv refuses to start with, and why: ignoring them would leave the
/// server open where the file meant to close it, or without code it needs.
pub const REFUSED: &[(&str, &str)] = &[
    (
        "rename-command",
        "rename-command is not supported: commands keep their names (protect the server with requirepass, bind and protected-mode)",
    ),
    (
        "user",
        "ACL users are not supported: use requirepass",
    ),
    (
        "loadmodule",
        "modules are not supported",
    ),
];

/// Directives corekv ignores but refuses to start with at any value but their
/// default, and why.
pub const REFUSED_UNLESS_DEFAULT: &[(&str, &str)] = &[
    ("cluster-enabled", "Redis Cluster mode is not supported"),
    ("aclfile", "ACL files are not supported: use requirepass"),
];

/// Names Redis 7.0 still accepts for the parameter each names.
pub const MORE_ALIASES: &[(&str, &str)] = &[
    ("slaveof", "replicaof"),
    ("slave-read-only", "replica-read-only"),
    ("slave-priority", "replica-priority"),
    ("slave-announce-ip", "replica-announce-ip"),
    ("slave-announce-port", "replica-announce-port"),
    ("slave-ignore-maxmemory", "replica-ignore-maxmemory"),
    ("slave-lazy-flush", "replica-lazy-flush"),
    ("slave-serve-stale-data", "replica-serve-stale-data"),
    ("repl-ping-slave-period", "repl-ping-replica-period"),
    ("cluster-slave-no-failover", "cluster-replica-no-failover"),
    (
        "cluster-slave-validity-factor",
        "cluster-replica-validity-factor",
    ),
    ("lua-time-limit", "busy-reply-threshold"),
];

/// Directives Redis 7.0 itself accepts and ignores (deprecated).
pub const DEPRECATED: &[&str] = &[
    "list-max-ziplist-entries",
    "list-max-ziplist-value",
    "lua-replicate-commands",
];

/// Process parameters corekv applies at start.
pub const PROCESS: &[Param] = &[
    row(
        "daemonize",
        "no",
        YES_NO,
        false,
        "detach from the terminal and run in the background (write pidfile)",
    ),
    row(
        "pidfile",
        "",
        Kind::Str,
        false,
        "file the process id is written to (removed at exit); with daemonize, /var/run/corekv.pid if empty",
    ),
    row(
        "logfile",
        "",
        Kind::Str,
        false,
        "file the log is appended to (empty: standard error)",
    ),
    row(
        "syslog-enabled",
        "no",
        YES_NO,
        false,
        "send the log to syslog too",
    ),
    row(
        "syslog-ident",
        "redis",
        Kind::Str,
        false,
        "syslog identity",
    ),
    row(
        "syslog-facility",
        "local0",
        Kind::Enum(&[
            "user", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
        ]),
        false,
        "syslog facility",
    ),
    row(
        "supervised",
        "no",
        Kind::Enum(&["no", "upstart", "systemd", "auto"]),
        false,
        "tell systemd (NOTIFY_SOCKET) when ready and when stopping: Type=notify units",
    ),
    row(
        "unixsocket",
        "",
        Kind::Str,
        false,
        "Unix socket path to serve on too (every core accepts there); under systemd, in the unit's RuntimeDirectory: /run/corekv/corekv.sock",
    ),
    row(
        "unixsocketperm",
        "0",
        Kind::Str,
        false,
        "Unix socket file permissions, octal (0: the umask's); 770 lets the corekv group connect",
    ),
    row(
        "tcp-keepalive",
        "300",
        Kind::Int {
            min: 0,
            max: i32::MAX as i64,
        },
        false,
        "seconds between TCP keepalive probes on client connections (0: off)",
    ),
    row(
        "tcp-backlog",
        "511",
        Kind::Int {
            min: 0,
            max: i32::MAX as i64,
        },
        false,
        "pending-connection queue of each core's listening socket (capped by net.core.somaxconn)",
    ),
];

const NO_RDB: &str = "no RDB files: data is kept by the per-shard journal and snapshots";
const NO_ACL: &str = "no ACL users: requirepass protects the server";
const NO_CLUSTER: &str = "no Redis Cluster mode";
const NO_TLS: &str = "no TLS: terminate TLS in front of the server";
const NO_LAZYFREE: &str = "values are freed on their own shard's core, off other shards' paths";
const NO_EVICTION: &str = "no memory limit or eviction";
const JOURNAL: &str = "the journal is per shard in dir, in corekv's own format";
const REPL_SYNC: &str = "a full sync streams each shard's snapshot over the connection";
const NO_DEFRAG: &str = "no active defragmentation";
const CPUS: &str = "CPU placement is the cpus parameter";
const NO_LATENCY: &str = "no latency monitor";

/// Redis 7.0 parameters with no effect in corekv, with their Redis defaults; the
/// help line is the reason logged at start.
#[rustfmt::skip]
pub const IGNORED: &[Param] = &[
    row("acl-pubsub-default", "resetchannels", Kind::Enum(&["allchannels", "resetchannels"]), true, NO_ACL),
    row("aclfile", "", Kind::Str, false, NO_ACL),
    row("acllog-max-len", "128", INT, true, NO_ACL),
    row("active-defrag-cycle-max", "25", INT, true, NO_DEFRAG),
    row("active-defrag-cycle-min", "1", INT, true, NO_DEFRAG),
    row("active-defrag-ignore-bytes", "104857600", MEMORY, true, NO_DEFRAG),
    row("active-defrag-max-scan-fields", "1000", INT, true, NO_DEFRAG),
    row("active-defrag-threshold-lower", "10", INT, true, NO_DEFRAG),
    row("active-defrag-threshold-upper", "100", INT, true, NO_DEFRAG),
    row("activedefrag", "no", YES_NO, true, NO_DEFRAG),
    row("active-expire-effort", "1", Kind::Int { min: 1, max: 10 }, true, "the active expiry cycle has a fixed effort per shard"),
    row("activerehashing", "yes", YES_NO, true, "hash tables grow without a rehashing pass"),
    row("always-show-logo", "no", YES_NO, false, "no ASCII-art logo"),
    row("aof-disable-auto-gc", "no", YES_NO, true, JOURNAL),
    row("aof-load-truncated", "yes", YES_NO, true, "a torn journal tail is always cut; journal-truncate-corrupt governs corruption"),
    row("aof-rewrite-incremental-fsync", "yes", YES_NO, true, JOURNAL),
    row("aof-timestamp-enabled", "no", YES_NO, false, JOURNAL),
    row("aof-use-rdb-preamble", "yes", YES_NO, true, JOURNAL),
    row("aof_rewrite_cpulist", "", Kind::Str, false, CPUS),
    row("appenddirname", "appendonlydir", Kind::Str, false, JOURNAL),
    row("appendfilename", "appendonly.aof", Kind::Str, false, JOURNAL),
    row("bgsave_cpulist", "", Kind::Str, false, CPUS),
    row("bind-source-addr", "", Kind::Str, true, "replication connects from the system's default address"),
    row("bio_cpulist", "", Kind::Str, false, CPUS),
    row("busy-reply-threshold", "5000", INT, true, "no scripting"),
    row("cluster-allow-pubsubshard-when-down", "yes", YES_NO, true, NO_CLUSTER),
    row("cluster-allow-reads-when-down", "no", YES_NO, true, NO_CLUSTER),
    row("cluster-allow-replica-migration", "yes", YES_NO, true, NO_CLUSTER),
    row("cluster-announce-bus-port", "0", PORT, true, NO_CLUSTER),
    row("cluster-announce-hostname", "", Kind::Str, true, NO_CLUSTER),
    row("cluster-announce-ip", "", Kind::Str, true, NO_CLUSTER),
    row("cluster-announce-port", "0", PORT, true, NO_CLUSTER),
    row("cluster-announce-tls-port", "0", PORT, true, NO_CLUSTER),
    row("cluster-config-file", "nodes.conf", Kind::Str, false, NO_CLUSTER),
    row("cluster-enabled", "no", YES_NO, false, NO_CLUSTER),
    row("cluster-link-sendbuf-limit", "0", MEMORY, true, NO_CLUSTER),
    row("cluster-migration-barrier", "1", INT, true, NO_CLUSTER),
    row("cluster-node-timeout", "15000", INT, true, NO_CLUSTER),
    row("cluster-port", "0", PORT, false, NO_CLUSTER),
    row("cluster-preferred-endpoint-type", "ip", Kind::Enum(&["ip", "hostname", "unknown-endpoint"]), true, NO_CLUSTER),
    row("cluster-replica-no-failover", "no", YES_NO, true, NO_CLUSTER),
    row("cluster-replica-validity-factor", "10", INT, true, NO_CLUSTER),
    row("cluster-require-full-coverage", "yes", YES_NO, true, NO_CLUSTER),
    row("crash-log-enabled", "yes", YES_NO, true, "no crash report: a panic aborts with its message"),
    row("crash-memcheck-enabled", "yes", YES_NO, true, "no memory test after a crash"),
    row("dbfilename", "dump.rdb", Kind::Str, true, NO_RDB),
    row("disable-thp", "yes", YES_NO, false, "transparent huge pages stay as the system sets them (deploy/tuning.md)"),
    row("dynamic-hz", "yes", YES_NO, true, "background work runs on fixed timers"),
    row("enable-module-command", "no", Kind::Enum(&["no", "yes", "local"]), false, "no modules"),
    row("enable-protected-configs", "no", Kind::Enum(&["no", "yes", "local"]), false, "every parameter CONFIG SET accepts may be set"),
    row("hll-sparse-max-bytes", "3000", MEMORY, true, "no HyperLogLog encoding to tune"),
    row("hz", "10", Kind::Int { min: 0, max: i32::MAX as i64 }, true, "background work runs on fixed timers"),
    row("ignore-warnings", "", Kind::Str, true, "no start-up warnings to silence"),
    row("io-threads", "1", INT, false, "every core serves its own connections (shards)"),
    row("io-threads-do-reads", "no", YES_NO, false, "every core serves its own connections (shards)"),
    row("jemalloc-bg-thread", "yes", YES_NO, true, "the allocator has no background thread"),
    row("latency-monitor-threshold", "0", INT, true, NO_LATENCY),
    row("lazyfree-lazy-eviction", "no", YES_NO, true, NO_LAZYFREE),
    row("lazyfree-lazy-expire", "no", YES_NO, true, NO_LAZYFREE),
    row("lazyfree-lazy-server-del", "no", YES_NO, true, NO_LAZYFREE),
    row("lazyfree-lazy-user-del", "no", YES_NO, true, NO_LAZYFREE),
    row("lazyfree-lazy-user-flush", "no", YES_NO, true, NO_LAZYFREE),
    row("lfu-decay-time", "1", INT, true, NO_EVICTION),
    row("lfu-log-factor", "10", INT, true, NO_EVICTION),
    row("maxmemory", "0", MEMORY, true, NO_EVICTION),
    row("maxmemory-clients", "0", Kind::Str, true, NO_EVICTION),
    row("maxmemory-eviction-tenacity", "10", INT, true, NO_EVICTION),
    row("maxmemory-policy", "noeviction", Kind::Enum(&["volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl", "allkeys-lru", "allkeys-lfu", "allkeys-random", "noeviction"]), true, NO_EVICTION),
    row("maxmemory-samples", "5", INT, true, NO_EVICTION),
    row("no-appendfsync-on-rewrite", "no", YES_NO, true, "snapshots never hold back journal syncs"),
    row("oom-score-adj", "no", Kind::Enum(&["no", "yes", "relative", "absolute"]), true, "the OOM score is the service manager's (OOMScoreAdjust=)"),
    row("oom-score-adj-values", "0 200 800", Kind::Str, true, "the OOM score is the service manager's (OOMScoreAdjust=)"),
    row("proc-title-template", "{title} {listen-addr} {server-mode}", Kind::Str, true, "the process title is not changed"),
    row("propagation-error-behavior", "ignore", Kind::Enum(&["ignore", "panic", "panic-on-replicas"]), true, "replicas apply the journal's records, which cannot fail"),
    row("rdb-del-sync-files", "no", YES_NO, true, NO_RDB),
    row("rdb-save-incremental-fsync", "yes", YES_NO, true, NO_RDB),
    row("rdbchecksum", "yes", YES_NO, false, NO_RDB),
    row("rdbcompression", "yes", YES_NO, true, NO_RDB),
    row("repl-backlog-size", "1048576", MEMORY, true, "the journal is the backlog: replicas resume from each shard's journal"),
    row("repl-backlog-ttl", "3600", INT, true, "the journal is the backlog: replicas resume from each shard's journal"),
    row("repl-disable-tcp-nodelay", "no", YES_NO, true, "replication sockets keep TCP_NODELAY"),
    row("repl-diskless-load", "disabled", Kind::Enum(&["disabled", "on-empty-db", "swapdb"]), true, REPL_SYNC),
    row("repl-diskless-sync", "yes", YES_NO, true, REPL_SYNC),
    row("repl-diskless-sync-delay", "5", INT, true, REPL_SYNC),
    row("repl-diskless-sync-max-replicas", "0", INT, true, REPL_SYNC),
    row("repl-ping-replica-period", "10", INT, true, "the master's heartbeat interval is fixed"),
    row("replica-announce-ip", "", Kind::Str, true, "replicas are announced at the address the master sees"),
    row("replica-announce-port", "0", PORT, true, "replicas are announced at their port"),
    row("replica-ignore-disk-write-errors", "no", YES_NO, true, "a replica that cannot journal stops replicating"),
    row("replica-ignore-maxmemory", "yes", YES_NO, true, NO_EVICTION),
    row("replica-lazy-flush", "no", YES_NO, true, NO_LAZYFREE),
    row("replica-serve-stale-data", "yes", YES_NO, true, "a replica's reads follow replica-serve-reads"),
    row("sanitize-dump-payload", "no", Kind::Enum(&["no", "yes", "clients"]), true, "RESTORE always checks a payload in full"),
    row("server_cpulist", "", Kind::Str, false, CPUS),
    row("set-proc-title", "yes", YES_NO, false, "the process title is not changed"),
    row("shutdown-on-sigint", "default", Kind::Str, true, "SIGINT and SIGTERM always sync the journal and exit"),
    row("shutdown-on-sigterm", "default", Kind::Str, true, "SIGINT and SIGTERM always sync the journal and exit"),
    row("shutdown-timeout", "10", INT, true, "shutdown waits for the journal, not for replicas"),
    row("slowlog-log-slower-than", "10000", INT, true, "no slow log"),
    row("slowlog-max-len", "128", INT, true, "no slow log"),
    row("socket-mark-id", "0", INT, true, "sockets are not marked"),
    row("stop-writes-on-bgsave-error", "yes", YES_NO, true, NO_RDB),
    row("stream-node-max-bytes", "4096", MEMORY, true, "no streams"),
    row("stream-node-max-entries", "100", INT, true, "no streams"),
    row("tls-auth-clients", "yes", Kind::Str, true, NO_TLS),
    row("tls-ca-cert-dir", "", Kind::Str, true, NO_TLS),
    row("tls-ca-cert-file", "", Kind::Str, true, NO_TLS),
    row("tls-cert-file", "", Kind::Str, true, NO_TLS),
    row("tls-ciphers", "", Kind::Str, true, NO_TLS),
    row("tls-ciphersuites", "", Kind::Str, true, NO_TLS),
    row("tls-client-cert-file", "", Kind::Str, true, NO_TLS),
    row("tls-client-key-file", "", Kind::Str, true, NO_TLS),
    row("tls-client-key-file-pass", "", Kind::Str, true, NO_TLS),
    row("tls-cluster", "no", YES_NO, true, NO_TLS),
    row("tls-dh-params-file", "", Kind::Str, true, NO_TLS),
    row("tls-key-file", "", Kind::Str, true, NO_TLS),
    row("tls-key-file-pass", "", Kind::Str, true, NO_TLS),
    row("tls-port", "0", PORT, true, NO_TLS),
    row("tls-prefer-server-ciphers", "no", YES_NO, true, NO_TLS),
    row("tls-protocols", "", Kind::Str, true, NO_TLS),
    row("tls-replication", "no", YES_NO, true, NO_TLS),
    row("tls-session-cache-size", "20480", INT, true, NO_TLS),
    row("tls-session-cache-timeout", "300", INT, true, NO_TLS),
    row("tls-session-caching", "yes", YES_NO, true, NO_TLS),
    row("tracking-table-max-keys", "1000000", INT, true, "no client-side caching (CLIENT TRACKING)"),
];
