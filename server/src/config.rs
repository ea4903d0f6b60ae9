//! Configuration: one registry of parameters, with Redis's names, used alike by the
//! command line (`--port 7000`), the config file (`port 7000` lines, `redis.conf`
//! syntax) and `CONFIG GET/SET`.
//!
//! Values are kept as canonical strings behind a lock (read on admin paths only); the
//! few that the request path reads are mirrored into atomics in [`Hot`].

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::RwLock;

use corekv_engine::glob::glob_match;
use corekv_engine::limits::{
    PROTO_MAX_BULK_LEN_BYTES_DEFAULT, PROTO_MAX_BULK_LEN_BYTES_MIN, QUERY_BUFFER_BYTES_DEFAULT,
};

/// What values a parameter accepts.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Int { min: i64, max: i64 },
    Memory { min: u64 },
    Bool,
    Enum(&'static [&'static str]),
    Str,
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
        "databases",
        "16",
        Kind::Int { min: 16, max: 16 },
        false,
        "number of databases",
    ),
    p(
        "proto-max-bulk-len",
        "536870912",
        Kind::Memory {
            min: PROTO_MAX_BULK_LEN_BYTES_MIN,
        },
        true,
        "longest bulk argument accepted",
    ),
    p(
        "client-query-buffer-limit",
        "1073741824",
        Kind::Memory { min: 1024 * 1024 },
        true,
        "most bytes buffered for one client's unparsed input",
    ),
    p(
        "maxclients",
        "10000",
        Kind::Int {
            min: 1,
            max: 1_000_000,
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
        Kind::Enum(&[""]),
        true,
        "RDB save points: none (kept so tools can read it)",
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
        Kind::Memory { min: 0 },
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
        "loglevel",
        "notice",
        Kind::Enum(&["debug", "verbose", "notice", "warning"]),
        true,
        "log verbosity",
    ),
];

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

pub fn find(name: &str) -> Option<&'static Param> {
    PARAMS.iter().find(|p| p.name.eq_ignore_ascii_case(name))
}

/// Parses a memory amount as Redis does: `1gb`, `512mb`, `64k`, `100`.
pub fn parse_memory(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let units: &[(&str, u64)] = &[
        ("gb", 1 << 30),
        ("mb", 1 << 20),
        ("kb", 1 << 10),
        ("g", 1_000_000_000),
        ("m", 1_000_000),
        ("k", 1_000),
        ("b", 1),
    ];
    for (suffix, mul) in units {
        if let Some(num) = s.strip_suffix(suffix) {
            return num.parse::<u64>().ok()?.checked_mul(*mul);
        }
    }
    s.parse().ok()
}

fn canonical(param: &Param, value: &str) -> Result<String, ConfigError> {
    let invalid = |why: &str| ConfigError::Invalid(param.name, why.to_string());
    match param.kind {
        Kind::Int { min, max } => {
            let v: i64 = value
                .parse()
                .map_err(|_| invalid("argument couldn't be parsed into an integer"))?;
            if v < min || v > max {
                return Err(invalid(&format!(
                    "argument must be between {min} and {max} inclusive"
                )));
            }
            Ok(v.to_string())
        }
        Kind::Memory { min } => {
            let v =
                parse_memory(value).ok_or_else(|| invalid("argument must be a memory value"))?;
            if v < min {
                return Err(invalid(&format!("argument must be at least {min}")));
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
    }
}

impl Config {
    /// Defaults, then `file` (if any), then `overrides` in order.
    pub fn load(file: Option<&str>, overrides: &[(String, String)]) -> Result<Config, String> {
        let values = PARAMS
            .iter()
            .map(|p| (p.name, p.default.to_string()))
            .collect();
        let cfg = Config {
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
            },
            file: file.map(str::to_string),
        };
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("can't read config file {path}: {e}"))?;
            for (lineno, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let (name, value) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
                let value = value.trim().trim_matches('"');
                cfg.set_startup(name, value)
                    .map_err(|e| format!("{path}:{}: {}", lineno + 1, e.startup_message()))?;
            }
        }
        for (name, value) in overrides {
            cfg.set_startup(name, value)
                .map_err(|e| e.startup_message())?;
        }
        Ok(cfg)
    }

    fn set_startup(&self, name: &str, value: &str) -> Result<(), ConfigError> {
        let param = find(name).ok_or_else(|| ConfigError::Unknown(name.to_string()))?;
        let v = canonical(param, value)?;
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
            "appendonly" => self.hot.appendonly.store(value == "yes", Ordering::Relaxed),
            "appendfsync" => self
                .hot
                .appendfsync
                .store(Fsync::parse(&value) as u8, Ordering::Relaxed),
            _ => {}
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
            if !param.mutable {
                return Err(ConfigError::Immutable(param.name));
            }
            staged.push((param, canonical(param, value)?));
        }
        for (param, value) in staged {
            self.store(param, value);
        }
        Ok(())
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

    /// `CONFIG GET pattern...`: matching `(name, value)` pairs, each once.
    pub fn matching(&self, patterns: &[&[u8]]) -> Vec<(&'static str, String)> {
        let values = self.values.read().expect("config lock");
        values
            .iter()
            .filter(|(name, _)| {
                patterns
                    .iter()
                    .any(|pat| glob_match(pat, name.as_bytes(), true))
            })
            .map(|(name, v)| (*name, v.clone()))
            .collect()
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
    /// `CONFIG REWRITE`: writes every parameter that differs from its default to the
    /// config file the server was started with, replacing the file atomically.
    pub fn rewrite(&self) -> Result<(), String> {
        let Some(path) = &self.file else {
            return Err("ERR The server is running without a config file".into());
        };
        let values = self.values.read().expect("config lock");
        let mut text = String::from("# Written by corekv (CONFIG REWRITE)\n");
        for p in PARAMS {
            let v = &values[p.name];
            if v != p.default {
                text.push_str(&format!("{} \"{}\"\n", p.name, v.replace('"', "\\\"")));
            }
        }
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
    fn glob_get() {
        let c = Config::load(None, &[]).unwrap();
        let names: Vec<_> = c
            .matching(&[b"proto*", b"PORT"])
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, vec!["port", "proto-max-bulk-len"]);
    }
}
