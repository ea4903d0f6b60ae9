//! Commands' full names as Redis 7.0 prints them: a container command's
//! subcommand is `container|sub` (`client|list`, `config|get`) in `CLIENT LIST`'s
//! `cmd=` field. A container called alone keeps its own name; one called with
//! an unknown subcommand has none, as in Redis (which prints `NULL`).

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
    fn the_table_is_sorted_for_its_searches() {
        assert!(SUBCOMMANDS.windows(2).all(|w| w[0].0 < w[1].0));
        for (container, subs) in SUBCOMMANDS {
            assert!(subs.iter().all(|s| s.starts_with(&format!("{container}|"))));
        }
    }
}
