//! Commands' full names as Redis 7.0 prints them: a container command's
//! subcommand is `container|sub` (`client|list`, `config|get`) in `CLIENT LIST`'s
//! `cmd=` field. A container called alone keeps its own name; one called with
//! an unknown subcommand has none, as in Redis (which prints `NULL`).
//!
//! Redis 7.0 also counts a container's calls under the subcommand
//! (`cmdstat_config|set`, `latency_percentiles_usec_client|list`): [`StatRows`]
//! numbers the rows of those statistics, the registry's commands first (a row's
//! number is the command's id) and then the subcommands of its containers.

use std::sync::OnceLock;

use bytes::Bytes;

/// Redis 7.0.15's container commands and their subcommands' full names (its
/// `COMMAND LIST`), both sorted, so lookups can search.
const SUBCOMMANDS: &[(&str, &[&str])] = &[
    (
        "acl",
        &[
            "acl|cat",
            "acl|deluser",
            "acl|dryrun",
            "acl|genpass",
            "acl|getuser",
            "acl|help",
            "acl|list",
            "acl|load",
            "acl|log",
            "acl|save",
            "acl|setuser",
            "acl|users",
            "acl|whoami",
        ],
    ),
    (
        "client",
        &[
            "client|caching",
            "client|getname",
            "client|getredir",
            "client|help",
            "client|id",
            "client|info",
            "client|kill",
            "client|list",
            "client|no-evict",
            "client|pause",
            "client|reply",
            "client|setname",
            "client|tracking",
            "client|trackinginfo",
            "client|unblock",
            "client|unpause",
        ],
    ),
    (
        "cluster",
        &[
            "cluster|addslots",
            "cluster|addslotsrange",
            "cluster|bumpepoch",
            "cluster|count-failure-reports",
            "cluster|countkeysinslot",
            "cluster|delslots",
            "cluster|delslotsrange",
            "cluster|failover",
            "cluster|flushslots",
            "cluster|forget",
            "cluster|getkeysinslot",
            "cluster|help",
            "cluster|info",
            "cluster|keyslot",
            "cluster|links",
            "cluster|meet",
            "cluster|myid",
            "cluster|nodes",
            "cluster|replicas",
            "cluster|replicate",
            "cluster|reset",
            "cluster|saveconfig",
            "cluster|set-config-epoch",
            "cluster|setslot",
            "cluster|shards",
            "cluster|slaves",
            "cluster|slots",
        ],
    ),
    (
        "command",
        &[
            "command|count",
            "command|docs",
            "command|getkeys",
            "command|getkeysandflags",
            "command|help",
            "command|info",
            "command|list",
        ],
    ),
    (
        "config",
        &[
            "config|get",
            "config|help",
            "config|resetstat",
            "config|rewrite",
            "config|set",
        ],
    ),
    (
        "function",
        &[
            "function|delete",
            "function|dump",
            "function|flush",
            "function|help",
            "function|kill",
            "function|list",
            "function|load",
            "function|restore",
            "function|stats",
        ],
    ),
    (
        "latency",
        &[
            "latency|doctor",
            "latency|graph",
            "latency|help",
            "latency|histogram",
            "latency|history",
            "latency|latest",
            "latency|reset",
        ],
    ),
    (
        "memory",
        &[
            "memory|doctor",
            "memory|help",
            "memory|malloc-stats",
            "memory|purge",
            "memory|stats",
            "memory|usage",
        ],
    ),
    (
        "module",
        &[
            "module|help",
            "module|list",
            "module|load",
            "module|loadex",
            "module|unload",
        ],
    ),
    (
        "object",
        &[
            "object|encoding",
            "object|freq",
            "object|help",
            "object|idletime",
            "object|refcount",
        ],
    ),
    (
        "pubsub",
        &[
            "pubsub|channels",
            "pubsub|help",
            "pubsub|numpat",
            "pubsub|numsub",
            "pubsub|shardchannels",
            "pubsub|shardnumsub",
        ],
    ),
    (
        "script",
        &[
            "script|debug",
            "script|exists",
            "script|flush",
            "script|help",
            "script|kill",
            "script|load",
        ],
    ),
    (
        "slowlog",
        &[
            "slowlog|get",
            "slowlog|help",
            "slowlog|len",
            "slowlog|reset",
        ],
    ),
    (
        "xgroup",
        &[
            "xgroup|create",
            "xgroup|createconsumer",
            "xgroup|delconsumer",
            "xgroup|destroy",
            "xgroup|help",
            "xgroup|setid",
        ],
    ),
    (
        "xinfo",
        &[
            "xinfo|consumers",
            "xinfo|groups",
            "xinfo|help",
            "xinfo|stream",
        ],
    ),
];

/// The full name of command `name` called with `args`; `None` for a
/// container's unknown subcommand.
pub fn full_name(name: &'static str, args: &[Bytes]) -> Option<&'static str> {
    let Some(word) = args.get(1) else {
        return Some(name);
    };
    let Ok(at) = SUBCOMMANDS.binary_search_by(|(container, _)| container.cmp(&name)) else {
        return Some(name);
    };
    let subs = SUBCOMMANDS[at].1;
    subs.iter()
        .find(|full| full.as_bytes()[name.len() + 1..].eq_ignore_ascii_case(word))
        .copied()
}

/// The rows per-command statistics are kept in: one per registry command, then
/// one per subcommand of each registry container.
pub struct StatRows {
    /// Each row's name: the command's, or the subcommand's full name.
    names: Vec<&'static str>,
    /// Per registry id: the container's first subcommand row and its subcommands.
    containers: Vec<Option<(usize, &'static [&'static str])>>,
    /// Per row: Redis's arity of a subcommand, 0 for a command (the registry
    /// has its arity).
    arity: Vec<i32>,
    /// Per row: the command's registry flags (a subcommand's: none).
    flags: Vec<u32>,
}

impl StatRows {
    /// The rows of the registry's `commands` (name and flags), in id order.
    pub fn new(commands: &[(&'static str, u32)]) -> StatRows {
        let mut names: Vec<&'static str> = commands.iter().map(|(n, _)| *n).collect();
        let mut flags: Vec<u32> = commands.iter().map(|(_, f)| *f).collect();
        let containers = commands
            .iter()
            .map(|(name, _)| {
                let at = SUBCOMMANDS.binary_search_by(|(c, _)| c.cmp(name)).ok()?;
                let subs = SUBCOMMANDS[at].1;
                let first = names.len();
                names.extend_from_slice(subs);
                Some((first, subs))
            })
            .collect();
        let recorded = super::redis_commands::commands();
        let arity = names
            .iter()
            .enumerate()
            .map(|(row, name)| match recorded.info(name).map(|i| i.items()) {
                Some([_, super::redis_commands::Value::Int(n), ..]) if row >= commands.len() => {
                    *n as i32
                }
                _ => 0,
            })
            .collect();
        flags.resize(names.len(), 0);
        StatRows {
            names,
            containers,
            arity,
            flags,
        }
    }

    /// Whether row `row` is a command with registry flag `flag`.
    pub fn has(&self, row: usize, flag: u32) -> bool {
        self.flags[row] & flag != 0
    }

    /// The rows `name` (any case) asks for: a command's or a subcommand's own,
    /// and a container's subcommands' too, as `LATENCY HISTOGRAM` reads a name.
    pub fn named(&self, name: &[u8]) -> Vec<usize> {
        let Some(row) = self.find(name) else {
            return Vec::new();
        };
        let mut rows = vec![row];
        if let Some(Some((first, subs))) = self.containers.get(row) {
            rows.extend(*first..*first + subs.len());
        }
        rows
    }

    /// The full name of row `row` when it is a subcommand that `argc` arguments
    /// do not fit (Redis refuses that call before it runs, as it does a
    /// command's).
    pub fn wrong_arity(&self, row: usize, argc: usize) -> Option<&'static str> {
        let arity = self.arity[row];
        let argc = argc as i32;
        let fits = arity == 0 || argc == arity || (arity < 0 && argc >= -arity);
        (!fits).then(|| self.names[row])
    }

    /// How many rows there are.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Row `row`'s name.
    pub fn name(&self, row: usize) -> &'static str {
        self.names[row]
    }

    /// The row of the name `name` (any case): a command or `container|sub`.
    pub fn find(&self, name: &[u8]) -> Option<usize> {
        self.names
            .iter()
            .position(|n| n.as_bytes().eq_ignore_ascii_case(name))
    }

    /// The row a call of registry command `id` with `args` counts in: its
    /// subcommand's for a container called with a known subcommand, else its own.
    pub fn of(&self, id: usize, args: &[Bytes]) -> usize {
        let Some(Some((first, subs))) = self.containers.get(id) else {
            return id;
        };
        let Some(word) = args.get(1) else {
            return id;
        };
        let container = self.names[id].len();
        subs.iter()
            .position(|full| full.as_bytes()[container + 1..].eq_ignore_ascii_case(word))
            .map_or(id, |at| first + at)
    }
}

static ROWS: OnceLock<StatRows> = OnceLock::new();

/// Numbers the statistics rows of the registry's commands (name and flags, in
/// id order); the registry does, once, as it is built.
pub fn install(commands: &[(&'static str, u32)]) {
    ROWS.get_or_init(|| StatRows::new(commands));
}

/// The statistics rows; the registry must have been built.
pub fn stat_rows() -> &'static StatRows {
    ROWS.get()
        .expect("the registry numbers the statistics rows as it is built")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<Bytes> {
        words
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    #[test]
    fn containers_name_their_subcommand() {
        let name = |n, words: &[&str]| full_name(n, &args(words));
        assert_eq!(name("client", &["CLIENT", "List"]), Some("client|list"));
        assert_eq!(name("config", &["config", "get", "x"]), Some("config|get"));
        assert_eq!(name("client", &["client", "nope"]), None);
        assert_eq!(name("client", &["client"]), Some("client"));
        assert_eq!(name("get", &["get", "k"]), Some("get"));
    }

    #[test]
    fn containers_count_under_their_subcommands() {
        let rows = StatRows::new(&[("get", 2), ("config", 0), ("set", 1)]);
        assert!(rows.has(0, 2) && !rows.has(1, 2));
        assert_eq!(rows.named(b"config").len(), 1 + 5);
        assert_eq!(rows.len(), 3 + 5);
        assert_eq!(rows.of(0, &args(&["get", "k"])), 0);
        let set = rows.of(1, &args(&["CONFIG", "SET", "a", "b"]));
        assert_eq!(rows.name(set), "config|set");
        assert_eq!(rows.of(1, &args(&["config", "nope"])), 1);
        assert_eq!(rows.of(1, &args(&["config"])), 1);
        assert_eq!(
            rows.find(b"CONFIG|get").map(|r| rows.name(r)),
            Some("config|get")
        );
        let get = rows.find(b"config|get").unwrap();
        assert_eq!(rows.wrong_arity(get, 2), Some("config|get"));
        assert_eq!(rows.wrong_arity(get, 3), None);
        assert_eq!(rows.wrong_arity(0, 9), None);
    }

    #[test]
    fn the_table_is_sorted_for_its_searches() {
        assert!(SUBCOMMANDS.windows(2).all(|w| w[0].0 < w[1].0));
        for (container, subs) in SUBCOMMANDS {
            assert!(subs.iter().all(|s| s.starts_with(&format!("{container}|"))));
        }
    }
}
