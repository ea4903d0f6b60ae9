//! Configuration: one registry of parameters, with Redis's names, used alike by the
//! command line (`--port 7000`), the config file (`port 7000` lines, `redis.conf`
//! syntax) and `CONFIG GET/SET`.
//!
//! Values are kept as canonical strings behind a lock (read on admin paths only); the
//! few that the request path reads are mirrored into atomics in [`Hot`]. The encoding
//! limits of hashes and sets ([`Config::collection_limits`]) are handed to every
//! shard at start and after each `CONFIG SET`. A few parameters have a second, older
//! name ([`ALIASES`]) that Redis 7.0 still accepts and `CONFIG GET` still matches.
//!
//! Besides corekv's own parameters ([`PARAMS`]) the registry holds the rest of
//! Redis 7.0's redis.conf ([`redis_conf`]): the process parameters applied at start
//! and the directives accepted but ignored. Config files and command-line options
//! are read as redis.conf lines ([`file`]) and applied in order by
//! [`Config::from_directives`].

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::RwLock;

use corekv_engine::collections::list::{
    LIST_COMPRESS_DEPTH, LIST_MAX_LISTPACK_SIZE, LIST_MAX_LISTPACK_SIZE_DEFAULT,
    LIST_MAX_ZIPLIST_SIZE,
};
use corekv_engine::collections::{
    HashLimits, ListLimits, SetLimits, ZsetLimits, HASH_MAX_LISTPACK_ENTRIES,
    HASH_MAX_LISTPACK_VALUE, HASH_MAX_ZIPLIST_ENTRIES, HASH_MAX_ZIPLIST_VALUE,
    SET_MAX_INTSET_ENTRIES, ZSET_MAX_LISTPACK_ENTRIES, ZSET_MAX_LISTPACK_VALUE,
    ZSET_MAX_ZIPLIST_ENTRIES, ZSET_MAX_ZIPLIST_VALUE,
};
use corekv_engine::glob::glob_match;
use corekv_engine::hll::{HllLimits, HLL_SPARSE_MAX_BYTES};
use corekv_engine::keyspace::evict::{EvictionConfig, Policy};
use corekv_engine::limits::{
    PROTO_MAX_BULK_LEN_BYTES_DEFAULT, PROTO_MAX_BULK_LEN_BYTES_MIN, QUERY_BUFFER_BYTES_DEFAULT,
};
use corekv_engine::shard::CollectionLimits;

mod values;
pub use values::{
    keyspace_events_flags, keyspace_events_string, notify, parse_int, parse_memory, OutputClass,
    OutputLimit,
};
use values::{merge_output_limits, parse_output_limits};

mod fd_limit;
mod params;
pub use params::{Kind, Param, ALIASES, CHECKED_THEN_IMMUTABLE, PARAMS};

pub mod file;
pub mod redis_conf;
mod rewrite;
pub mod sample;
use file::{fatal, Directive};
use redis_conf::{
    DEPRECATED, IGNORED, MORE_ALIASES, MULTI_ARG, PROCESS, REFUSED, REFUSED_UNLESS_DEFAULT,
};

/// Redis 7.0's output-buffer limits, as `CONFIG GET` prints them.
const OUTPUT_LIMITS_DEFAULT: &str =
    "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60";

/// Values the request path reads, mirrored from the registry.
#[derive(Debug)]
pub struct Hot {
    pub proto_max_bulk_len: AtomicU64,
    pub query_buffer_limit: AtomicU64,
    pub maxclients: AtomicU64,
    pub timeout_s: AtomicU64,
    pub auth_required: AtomicBool,
    pub protected_mode: AtomicBool,
    /// `appendfsync` as a [`Fsync`] discriminant.
    pub appendfsync: AtomicU8,
    /// `appendonly yes`.
    pub appendonly: AtomicBool,
    pub replica_serve_reads: AtomicBool,
    /// `min-replicas-to-write`, `min-replicas-max-lag` and `replica-serve-stale-data`.
    pub min_replicas_to_write: AtomicU64,
    pub min_replicas_max_lag_s: AtomicU64,
    pub replica_serve_stale_data: AtomicBool,
    /// `notify-keyspace-events` as [`notify`] flags.
    pub notify_keyspace_events: AtomicU32,
    /// Per [`OutputClass`]: hard bytes, soft bytes, soft seconds.
    output_limits: [[AtomicU64; 3]; 3],
}

/// `appendfsync`: when a shard's journal is synced to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fsync {
    /// Before the reply to a write leaves (group commit).
    Always = 0,
    /// Once a second, off the request path.
    EverySec = 1,
    /// When the kernel writes its page cache back.
    No = 2,
}

impl Fsync {
    fn parse(s: &str) -> Fsync {
        match s {
            "always" => Fsync::Always,
            "no" => Fsync::No,
            _ => Fsync::EverySec,
        }
    }
}

impl Hot {
    /// The `client-output-buffer-limit` of `class`.
    pub fn output_limit(&self, class: OutputClass) -> OutputLimit {
        let [hard, soft, seconds] = &self.output_limits[class as usize];
        OutputLimit {
            hard_bytes: hard.load(Ordering::Relaxed),
            soft_bytes: soft.load(Ordering::Relaxed),
            soft_seconds: seconds.load(Ordering::Relaxed),
        }
    }

    fn store_output_limits(&self, value: &str) {
        let limits = parse_output_limits(value).expect("a canonical value");
        for (slots, limit) in self.output_limits.iter().zip(limits) {
            slots[0].store(limit.hard_bytes, Ordering::Relaxed);
            slots[1].store(limit.soft_bytes, Ordering::Relaxed);
            slots[2].store(limit.soft_seconds, Ordering::Relaxed);
        }
    }

    pub fn fsync(&self) -> Fsync {
        match self.appendfsync.load(Ordering::Relaxed) {
            0 => Fsync::Always,
            2 => Fsync::No,
            _ => Fsync::EverySec,
        }
    }
}

/// The live configuration.
#[derive(Debug)]
pub struct Config {
    values: RwLock<BTreeMap<&'static str, String>>,
    pub hot: Hot,
    pub file: Option<String>,
    /// The ignored directives the configuration set, each once, in order: the
    /// start-up log names them with the reason.
    pub ignored_given: Vec<&'static Param>,
}

/// Why a value was refused; becomes Redis's `CONFIG SET failed ...` text.
#[derive(Debug, PartialEq, Eq)]
pub enum ConfigError {
    Unknown(String),
    Immutable(&'static str),
    Invalid(&'static str, String),
}

impl ConfigError {
    /// The text for a bad flag or config-file line at start-up.
    pub fn startup_message(&self) -> String {
        match self {
            ConfigError::Unknown(name) => format!("unknown parameter '{name}'"),
            ConfigError::Immutable(name) => format!("'{name}' can't be set"),
            ConfigError::Invalid(name, why) => format!("invalid value for '{name}': {why}"),
        }
    }

    pub fn message(&self) -> String {
        match self {
            ConfigError::Unknown(name) => {
                format!("ERR Unknown option or number of arguments for CONFIG SET - '{name}'")
            }
            ConfigError::Immutable(name) => format!(
                "ERR CONFIG SET failed (possibly related to argument '{name}') - can't set immutable config"
            ),
            ConfigError::Invalid(name, why) => {
                format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {why}")
            }
        }
    }
}

/// Every parameter: corekv's, then the process parameters, then the ignored
/// directives no row before them shadows.
pub fn all_params() -> impl Iterator<Item = &'static Param> {
    let unshadowed = |p: &&'static Param| !PARAMS.iter().any(|q| q.name == p.name);
    PARAMS
        .iter()
        .chain(PROCESS.iter().chain(IGNORED).filter(unshadowed))
}

/// Every `(alias, target)` pair, each alias once.
fn all_aliases() -> impl Iterator<Item = &'static (&'static str, &'static str)> {
    ALIASES.iter().chain(
        MORE_ALIASES
            .iter()
            .filter(|(alias, _)| !ALIASES.iter().any(|(a, _)| a == alias)),
    )
}

/// Whether `param` is one corekv accepts and ignores (no row of [`PARAMS`]
/// implements it).
pub fn is_ignored(param: &Param) -> bool {
    IGNORED.iter().any(|p| p.name == param.name) && !PARAMS.iter().any(|p| p.name == param.name)
}

/// The parameter called `name` (any case), by its name or an alias.
pub fn find(name: &str) -> Option<&'static Param> {
    let name = all_aliases()
        .find(|(alias, _)| alias.eq_ignore_ascii_case(name))
        .map_or(name, |(_, target)| target);
    all_params().find(|p| p.name.eq_ignore_ascii_case(name))
}

fn canonical(param: &Param, value: &str) -> Result<String, ConfigError> {
    let invalid = |why: &str| ConfigError::Invalid(param.name, why.to_string());
    match param.kind {
        Kind::Int { min, max } => {
            let v = parse_int(value)
                .ok_or_else(|| invalid("argument couldn't be parsed into an integer"))?;
            if v < min || v > max {
                return Err(invalid(&format!(
                    "argument must be between {min} and {max} inclusive"
                )));
            }
            Ok(v.to_string())
        }
        Kind::Memory { min, max } => {
            let v =
                parse_memory(value).ok_or_else(|| invalid("argument must be a memory value"))?;
            if v < min || v > max {
                return Err(invalid(&format!(
                    "argument must be between {min} and {max} inclusive"
                )));
            }
            Ok(v.to_string())
        }
        Kind::Bool => match value.to_ascii_lowercase().as_str() {
            "yes" => Ok("yes".into()),
            "no" => Ok("no".into()),
            _ => Err(invalid("argument must be 'yes' or 'no'")),
        },
        Kind::Enum(options) => {
            let v = value.to_ascii_lowercase();
            if options.contains(&v.as_str()) {
                Ok(v)
            } else {
                let list = options.join(", ");
                Err(invalid(&format!(
                    "argument(s) must be one of the following: {list}"
                )))
            }
        }
        Kind::Str => Ok(value.to_string()),
        Kind::OutputLimits => merge_output_limits(OUTPUT_LIMITS_DEFAULT, value)
            .map_err(|why| ConfigError::Invalid(param.name, why)),
        Kind::SavePoints => save_points(value).ok_or_else(|| invalid("Invalid save parameters")),
        Kind::Percentiles => crate::ops::percentiles_canonical(value).map_err(invalid),
        Kind::KeyspaceEvents => keyspace_events_flags(value)
            .map(keyspace_events_string)
            .ok_or_else(|| invalid("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")),
    }
}

/// A `save` value's canonical form: `seconds changes` pairs (seconds at least 1).
fn save_points(value: &str) -> Option<String> {
    let words: Vec<&str> = value.split_whitespace().collect();
    if !words.len().is_multiple_of(2) {
        return None;
    }
    let mut points = Vec::with_capacity(words.len());
    for (i, w) in words.iter().enumerate() {
        let n: i64 = w.parse().ok()?;
        if n < i64::from(i % 2 == 0) {
            return None;
        }
        points.push(n.to_string());
    }
    Some(points.join(" "))
}

/// Redis's `loglevel` as a `log` filter.
pub fn level_filter(level: &str) -> log::LevelFilter {
    match level {
        "debug" => log::LevelFilter::Trace,
        "verbose" => log::LevelFilter::Debug,
        "notice" => log::LevelFilter::Info,
        _ => log::LevelFilter::Warn,
    }
}

impl Config {
    /// Defaults, then `file` (if any), then `overrides` in order.
    #[cfg(test)]
    pub fn load(file: Option<&str>, overrides: &[(String, String)]) -> Result<Config, String> {
        let mut directives = Vec::new();
        if let Some(path) = file {
            file::read_file(std::path::Path::new(path), &mut directives)?;
        }
        directives.extend(overrides.iter().map(|(name, value)| Directive {
            words: vec![name.clone(), value.clone()],
            origin: "command line".into(),
            line: format!("{name} {value}"),
        }));
        Config::from_directives(file.map(str::to_string), &directives)
    }

    /// Defaults, then `directives` in order (the config file's, standard input's,
    /// then the command line's); `file` is the file `CONFIG REWRITE` writes.
    pub fn from_directives(
        file: Option<String>,
        directives: &[Directive],
    ) -> Result<Config, String> {
        let values = all_params()
            .map(|p| (p.name, p.default.to_string()))
            .collect();
        let mut cfg = Config {
            values: RwLock::new(values),
            hot: Hot {
                proto_max_bulk_len: AtomicU64::new(PROTO_MAX_BULK_LEN_BYTES_DEFAULT),
                query_buffer_limit: AtomicU64::new(QUERY_BUFFER_BYTES_DEFAULT),
                maxclients: AtomicU64::new(10_000),
                timeout_s: AtomicU64::new(0),
                auth_required: AtomicBool::new(false),
                protected_mode: AtomicBool::new(true),
                appendfsync: AtomicU8::new(Fsync::EverySec as u8),
                appendonly: AtomicBool::new(true),
                replica_serve_reads: AtomicBool::new(false),
                min_replicas_to_write: AtomicU64::new(0),
                min_replicas_max_lag_s: AtomicU64::new(10),
                replica_serve_stale_data: AtomicBool::new(true),
                notify_keyspace_events: AtomicU32::new(0),
                output_limits: Default::default(),
            },
            file,
            ignored_given: Vec::new(),
        };
        cfg.hot.store_output_limits(OUTPUT_LIMITS_DEFAULT);
        let mut saw_save = false;
        for d in directives {
            let param = cfg
                .apply(d, &mut saw_save)
                .map_err(|why| fatal(&d.origin, &d.line, &why))?;
            if let Some(param) = param.filter(|p| is_ignored(p)) {
                if !cfg.ignored_given.iter().any(|p| p.name == param.name) {
                    cfg.ignored_given.push(param);
                }
            }
        }
        for (name, why) in REFUSED_UNLESS_DEFAULT {
            if let Some(param) = find(name).filter(|p| is_ignored(p)) {
                if cfg.get(name) != param.default {
                    return Err(format!("{name} {}: {why}", cfg.get(name)));
                }
            }
        }
        Ok(cfg)
    }

    /// Applies one directive; the parameter it set, if any. `saw_save` makes the
    /// `save` lines of one configuration add up, as in Redis.
    fn apply(&self, d: &Directive, saw_save: &mut bool) -> Result<Option<&'static Param>, String> {
        let name = d.name();
        if let Some((_, why)) = REFUSED.iter().find(|(n, _)| *n == name) {
            return Err((*why).to_string());
        }
        if DEPRECATED.contains(&name) {
            return Ok(None);
        }
        let bad = || "Bad directive or wrong number of arguments".to_string();
        let param = find(name).ok_or_else(bad)?;
        let args = d.args();
        let value = if MULTI_ARG.contains(&param.name) {
            if args.is_empty() {
                return Err(bad());
            }
            args.join(" ")
        } else {
            match args {
                [value] => value.clone(),
                _ => return Err(bad()),
            }
        };
        let value = if param.name == "save" && *saw_save && !value.is_empty() {
            let before = self.get("save");
            format!("{before} {value}").trim().to_string()
        } else {
            value
        };
        if param.name == "save" {
            *saw_save = true;
        }
        self.set_startup(param.name, &value)
            .map_err(|e| e.startup_message())?;
        Ok(Some(param))
    }

    fn set_startup(&self, name: &str, value: &str) -> Result<(), ConfigError> {
        let param = find(name).ok_or_else(|| ConfigError::Unknown(name.to_string()))?;
        let v = self.canonical(param, value)?;
        self.store(param, v);
        Ok(())
    }

    fn store(&self, param: &'static Param, value: String) {
        let as_u64 = || value.parse::<u64>().unwrap_or(0);
        match param.name {
            "proto-max-bulk-len" => self
                .hot
                .proto_max_bulk_len
                .store(as_u64(), Ordering::Relaxed),
            "client-query-buffer-limit" => self
                .hot
                .query_buffer_limit
                .store(as_u64(), Ordering::Relaxed),
            "maxclients" => self.hot.maxclients.store(as_u64(), Ordering::Relaxed),
            "timeout" => self.hot.timeout_s.store(as_u64(), Ordering::Relaxed),
            "requirepass" => self
                .hot
                .auth_required
                .store(!value.is_empty(), Ordering::Relaxed),
            "protected-mode" => self
                .hot
                .protected_mode
                .store(value == "yes", Ordering::Relaxed),
            "replica-serve-reads" => self
                .hot
                .replica_serve_reads
                .store(value == "yes", Ordering::Relaxed),
            "min-replicas-to-write" => self
                .hot
                .min_replicas_to_write
                .store(as_u64(), Ordering::Relaxed),
            "min-replicas-max-lag" => self
                .hot
                .min_replicas_max_lag_s
                .store(as_u64(), Ordering::Relaxed),
            "replica-serve-stale-data" => self
                .hot
                .replica_serve_stale_data
                .store(value == "yes", Ordering::Relaxed),
            "appendonly" => self.hot.appendonly.store(value == "yes", Ordering::Relaxed),
            "appendfsync" => self
                .hot
                .appendfsync
                .store(Fsync::parse(&value) as u8, Ordering::Relaxed),
            "client-output-buffer-limit" => self.hot.store_output_limits(&value),
            // Every later log line goes through the new filter.
            "loglevel" => log::set_max_level(level_filter(&value)),
            "notify-keyspace-events" => self.hot.notify_keyspace_events.store(
                keyspace_events_flags(&value).unwrap_or(0),
                Ordering::Relaxed,
            ),
            _ => crate::ops::apply_config(param.name, &value),
        }
        self.values
            .write()
            .expect("config lock")
            .insert(param.name, value);
    }

    /// `CONFIG SET name value [name value ...]`: all or nothing, as in Redis 7.
    pub fn set_many(&self, pairs: &[(String, String)]) -> Result<(), ConfigError> {
        let mut staged = Vec::with_capacity(pairs.len());
        for (name, value) in pairs {
            let param = find(name).ok_or_else(|| ConfigError::Unknown(name.clone()))?;
            if !param.mutable && !CHECKED_THEN_IMMUTABLE.contains(&param.name) {
                return Err(ConfigError::Immutable(param.name));
            }
            let value = self.canonical(param, value)?;
            if !param.mutable {
                return Err(ConfigError::Immutable(param.name));
            }
            if param.name == "maxclients" {
                let clients = value.parse().unwrap_or(u32::MAX);
                if u64::from(clients) > self.get_u64(param.name) {
                    fd_limit::admit_clients(clients)
                        .map_err(|why| ConfigError::Invalid(param.name, why))?;
                }
            }
            staged.push((param, value));
        }
        for (param, value) in staged {
            self.store(param, value);
        }
        Ok(())
    }

    /// A value's canonical form; `client-output-buffer-limit` merges into the
    /// current value (only the classes named change), as in Redis.
    fn canonical(&self, param: &'static Param, value: &str) -> Result<String, ConfigError> {
        match param.kind {
            Kind::OutputLimits => merge_output_limits(&self.get(param.name), value)
                .map_err(|why| ConfigError::Invalid(param.name, why)),
            _ => canonical(param, value),
        }
    }

    /// Sets a parameter the server changes itself (`replicaof`, by `REPLICAOF`), so
    /// `CONFIG GET` and `CONFIG REWRITE` show the running state.
    pub fn set_internal(&self, name: &str, value: &str) {
        let param = find(name).expect("known parameter");
        self.store(param, value.to_string());
    }

    pub fn get(&self, name: &str) -> String {
        let param = find(name).expect("known parameter");
        self.values.read().expect("config lock")[param.name].clone()
    }

    pub fn get_u64(&self, name: &str) -> u64 {
        self.get(name).parse().unwrap_or(0)
    }

    /// `CONFIG GET pattern...`: matching `(name, value)` pairs, each once; an alias
    /// that matches is listed under its own name, as Redis 7.0 does.
    pub fn matching(&self, patterns: &[&[u8]]) -> Vec<(&'static str, String)> {
        let values = self.values.read().expect("config lock");
        let matches = |name: &str| {
            patterns
                .iter()
                .any(|pat| glob_match(pat, name.as_bytes(), true))
        };
        let aliases = all_aliases()
            .filter(|(alias, _)| matches(alias))
            .filter_map(|(alias, target)| Some((*alias, values.get(target)?.clone())));
        values
            .iter()
            .filter(|(name, _)| matches(name))
            .map(|(name, v)| (*name, v.clone()))
            .chain(aliases)
            .collect()
    }

    /// The encoding limits of hashes, sets and lists every shard applies.
    pub fn collection_limits(&self) -> CollectionLimits {
        let get = |name| usize::try_from(self.get_u64(name)).unwrap_or(usize::MAX);
        CollectionLimits {
            hash: HashLimits {
                max_listpack_entries: get(HASH_MAX_LISTPACK_ENTRIES),
                max_listpack_value_bytes: get(HASH_MAX_LISTPACK_VALUE),
            },
            set: SetLimits {
                max_intset_entries: get(SET_MAX_INTSET_ENTRIES),
            },
            zset: ZsetLimits {
                max_listpack_entries: get(ZSET_MAX_LISTPACK_ENTRIES),
                max_listpack_value_bytes: get(ZSET_MAX_LISTPACK_VALUE),
            },
            list: ListLimits {
                max_listpack_size: self
                    .get(LIST_MAX_LISTPACK_SIZE)
                    .parse()
                    .unwrap_or(LIST_MAX_LISTPACK_SIZE_DEFAULT),
                compress_depth: get(LIST_COMPRESS_DEPTH),
            },
            hll: HllLimits {
                sparse_max_bytes: get(HLL_SPARSE_MAX_BYTES),
            },
        }
    }

    /// One shard's eviction settings: its share of `maxmemory` over `shards` shards.
    pub fn eviction(&self, shards: usize) -> EvictionConfig {
        let get = |name| u32::try_from(self.get_u64(name)).unwrap_or(u32::MAX);
        EvictionConfig {
            maxmemory_bytes: self.get_u64("maxmemory").div_ceil(shards.max(1) as u64),
            policy: Policy::parse(&self.get("maxmemory-policy")).unwrap_or_default(),
            samples: get("maxmemory-samples") as usize,
            tenacity: get("maxmemory-eviction-tenacity"),
            lfu_log_factor: get("lfu-log-factor"),
            lfu_decay_time: get("lfu-decay-time"),
        }
    }

    /// Checks a password against `requirepass`, in constant time. An
    /// `instance-id:password` form is accepted when the id matches `instance-id`.
    pub fn password_ok(&self, given: &[u8]) -> bool {
        let want = self.get("requirepass");
        if constant_time_eq(given, want.as_bytes()) {
            return true;
        }
        let id = self.get("instance-id");
        if id.is_empty() {
            return false;
        }
        match given.iter().position(|&b| b == b':') {
            Some(colon) => {
                let id_ok = constant_time_eq(&given[..colon], id.as_bytes());
                let pass_ok = constant_time_eq(&given[colon + 1..], want.as_bytes());
                id_ok & pass_ok
            }
            None => false,
        }
    }
}

impl Config {
    /// `CONFIG REWRITE`: rewrites the config file the server was started with as
    /// Redis does ([`rewrite`]), replacing the file atomically.
    pub fn rewrite(&self) -> Result<(), String> {
        let Some(path) = &self.file else {
            return Err("ERR The server is running without a config file".into());
        };
        let old = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(format!("ERR Rewriting config file: {e}")),
        };
        let values = self.values.read().expect("config lock");
        let current: Vec<rewrite::Current> = all_params()
            .map(|p| rewrite::Current {
                name: p.name,
                value: values[p.name].clone(),
                is_default: values[p.name] == p.default,
            })
            .collect();
        let text = rewrite::rewrite(&old, &current, |name| find(name).map(|p| p.name));
        let tmp = format!("{path}.tmp");
        std::fs::write(&tmp, text)
            .and_then(|_| std::fs::rename(&tmp, path))
            .map_err(|e| format!("ERR Rewriting config file: {e}"))
    }
}

/// Compares without an early exit on the first differing byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let len = a.len().max(b.len());
    let mut diff = (a.len() ^ b.len()) as u8 | ((a.len() != b.len()) as u8);
    for i in 0..len {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0);
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_validates_and_is_all_or_nothing() {
        let c = Config::load(None, &[]).unwrap();
        let pairs = |v: &[(&str, &str)]| {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect::<Vec<_>>()
        };
        assert!(c
            .set_many(&pairs(&[("timeout", "5"), ("maxclients", "x")]))
            .is_err());
        assert_eq!(c.get("timeout"), "0");
        c.set_many(&pairs(&[("proto-max-bulk-len", "32mb")]))
            .unwrap();
        assert_eq!(c.hot.proto_max_bulk_len.load(Ordering::Relaxed), 32 << 20);
        assert_eq!(
            c.set_many(&pairs(&[("port", "1")])).unwrap_err(),
            ConfigError::Immutable("port")
        );
        assert!(matches!(
            c.set_many(&pairs(&[("nope", "1")])),
            Err(ConfigError::Unknown(_))
        ));
    }

    #[test]
    fn appendonly_is_mirrored_for_the_request_path() {
        let on = Config::load(None, &[]).unwrap();
        assert!(on.hot.appendonly.load(Ordering::Relaxed));
        let off = Config::load(None, &[("appendonly".into(), "no".into())]).unwrap();
        assert!(!off.hot.appendonly.load(Ordering::Relaxed));
    }

    #[test]
    fn passwords() {
        let c = Config::load(None, &[("requirepass".into(), "secret".into())]).unwrap();
        assert!(c.password_ok(b"secret"));
        assert!(!c.password_ok(b"secreT"));
        assert!(!c.password_ok(b"inst:secret"));
        c.set_many(&[("instance-id".into(), "inst".into())])
            .unwrap();
        assert!(c.password_ok(b"inst:secret"));
        assert!(!c.password_ok(b"other:secret"));
    }

    #[test]
    fn output_limits_merge_per_class_with_redis_errors() {
        let c = Config::load(None, &[]).unwrap();
        let set = |v: &str| c.set_many(&[("client-output-buffer-limit".into(), v.into())]);
        assert_eq!(c.get("client-output-buffer-limit"), OUTPUT_LIMITS_DEFAULT);
        set("normal 64mb 1k 5 replica 1gb 0 0").unwrap();
        assert_eq!(
            c.get("client-output-buffer-limit"),
            "normal 67108864 1000 5 slave 1073741824 0 0 pubsub 33554432 8388608 60"
        );
        assert_eq!(
            c.hot.output_limit(OutputClass::Normal),
            OutputLimit {
                hard_bytes: 64 << 20,
                soft_bytes: 1000,
                soft_seconds: 5
            }
        );
        let why = |v: &str| match set(v) {
            Err(ConfigError::Invalid(_, why)) => why,
            other => panic!("{v}: {other:?}"),
        };
        assert_eq!(
            why("normal 1 2"),
            "Wrong number of arguments in buffer limit configuration."
        );
        assert_eq!(
            why("master 1 2 3"),
            "Invalid client class specified in buffer limit configuration."
        );
        assert_eq!(
            why("normal 1 x 3"),
            "Error in hard, soft or soft_seconds setting in buffer limit configuration."
        );
        assert_eq!(c.hot.output_limit(OutputClass::Normal).hard_bytes, 64 << 20);
    }

    #[test]
    fn glob_get() {
        let c = Config::load(None, &[]).unwrap();
        let names: Vec<_> = c
            .matching(&[b"proto*", b"PORT"])
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, vec!["port", "proto-max-bulk-len"]);
    }

    #[test]
    fn collection_limits_default_to_the_engine_s_and_aliases_name_the_same_value() {
        let c = Config::load(None, &[]).unwrap();
        assert_eq!(c.collection_limits(), CollectionLimits::default());
        c.set_many(&[
            (HASH_MAX_ZIPLIST_ENTRIES.into(), "5".into()),
            ("hash-max-listpack-value".into(), "1kb".into()),
            ("SET-MAX-INTSET-ENTRIES".into(), "7".into()),
        ])
        .unwrap();
        let limits = c.collection_limits();
        assert_eq!(limits.hash.max_listpack_entries, 5);
        assert_eq!(limits.hash.max_listpack_value_bytes, 1024);
        assert_eq!(limits.set.max_intset_entries, 7);
        c.set_many(&[
            (LIST_MAX_ZIPLIST_SIZE.into(), "-5".into()),
            (LIST_COMPRESS_DEPTH.into(), "3".into()),
        ])
        .unwrap();
        let limits = c.collection_limits().list;
        assert_eq!((limits.max_listpack_size, limits.compress_depth), (-5, 3));
        assert_eq!(
            c.matching(&[b"list-max-*"]),
            vec![
                ("list-max-listpack-size", "-5".to_string()),
                ("list-max-ziplist-size", "-5".to_string()),
            ]
        );
        let got = c.matching(&[b"hash-max-*"]);
        assert_eq!(
            got,
            vec![
                ("hash-max-listpack-entries", "5".to_string()),
                ("hash-max-listpack-value", "1024".to_string()),
                ("hash-max-ziplist-entries", "5".to_string()),
                ("hash-max-ziplist-value", "1024".to_string()),
            ]
        );
        let err = c
            .set_many(&[("set-max-intset-entries".into(), "-1".into())])
            .unwrap_err();
        assert_eq!(
            err.message(),
            "ERR CONFIG SET failed (possibly related to argument 'set-max-intset-entries') - argument must be between 0 and 9223372036854775807 inclusive"
        );
    }
}
