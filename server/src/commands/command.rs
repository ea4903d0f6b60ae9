//! `COMMAND` and its subcommands: introspection of the one registry
//! ([`super::registry`]), engine and server commands alike, in registry order.
//!
//! A command's name, arity, flags, legacy key triple and categories come from
//! its registry row; what Redis documents about it (`COMMAND DOCS`, and the
//! tips, key specs and subcommands of `COMMAND INFO`) is Redis 7.0.15's own
//! recorded data ([`crate::ops::redis_commands`]), printed for the commands
//! corekv has. `GETKEYS` and `GETKEYSANDFLAGS` live in [`super::command_keys`].
//!
//! A container's subcommands are the ones its handler resolves ([`containers`]
//! hands their tables to the registry, which numbers them as statistics rows):
//! `COMMAND LIST` names them after their container, and `COMMAND INFO` and
//! `DOCS` print Redis's entries of those only, so a client never learns of a
//! subcommand that would be answered as unknown.

use std::rc::Rc;

use corekv_engine::command::flags::{self, *};
use corekv_engine::command::{CommandSpec, KeySpec};
use corekv_engine::error::{CmdError, CmdResult};
use corekv_engine::glob::glob_match;
use corekv_engine::resp::{Args, Reply, ReplyBuf};

use super::subcommand::{sub, Container};
use super::{client, command_keys, config, latency, memory, pubsub, registry, slowlog};
use super::{srv, Handler, Registry, Spec};
use crate::commands::requests::Core;
use crate::ops::names::{stat_rows, Subcommands};
use crate::ops::redis_commands::{
    self, commands as recorded, Value, INFO_KEY_SPECS, INFO_SUBCOMMANDS, INFO_TIPS,
};
use crate::session::client::Client;

const COMMAND: Container = Container {
    name: "COMMAND",
    subs: &[
        sub("count", 2),
        sub("list", -2),
        sub("info", -2),
        sub("docs", -2),
        sub("getkeys", -4),
        sub("getkeysandflags", -4),
        sub("help", 2),
    ],
    help: &[
        "(no subcommand)",
        "    Return details about all Redis commands.",
        "COUNT",
        "    Return the total number of commands in this Redis server.",
        "LIST",
        "    Return a list of all commands in this Redis server.",
        "INFO [<command-name> ...]",
        "    Return details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "DOCS [<command-name> ...]",
        "    Return documentation details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "GETKEYS <full-command>",
        "    Return the keys from a full Redis command.",
        "GETKEYSANDFLAGS <full-command>",
        "    Return the keys and the access flags from a full Redis command.",
    ],
};

fn command(_: &Rc<Core>, _: &mut Client, args: &Args, out: &mut ReplyBuf) -> CmdResult {
    let r = registry();
    let Some(name) = COMMAND.resolve(args)? else {
        out.array(r.all.len());
        r.all.iter().for_each(|s| command_info(s, out));
        return Ok(());
    };
    match name {
        "count" => out.int(r.all.len() as i64),
        "list" => {
            let kept = filter(&listed(r), &args[2..])?;
            out.array(kept.len());
            kept.iter().for_each(|n| out.bulk(n.as_bytes()));
        }
        "info" if args.len() == 2 => {
            out.array(r.all.len());
            r.all.iter().for_each(|s| command_info(s, out));
        }
        "info" => {
            out.array(args.len() - 2);
            for name in &args[2..] {
                match r.get(name) {
                    Some(s) => command_info(s, out),
                    None => match subcommand(name).and_then(|n| recorded().info(n)) {
                        Some(info) => redis_commands::write(info, out),
                        None => out.null(),
                    },
                }
            }
        }
        "docs" if args.len() == 2 => {
            out.map(r.all.len());
            r.all
                .iter()
                .for_each(|s| command_docs(s.name, Some(s), out));
        }
        "docs" => {
            let known: Vec<(&str, Option<&Spec>)> = args[2..]
                .iter()
                .filter_map(|n| match r.get(n) {
                    Some(s) => Some((s.name, Some(s))),
                    None => subcommand(n).map(|full| (full, None)),
                })
                .collect();
            out.map(known.len());
            known.iter().for_each(|(n, s)| command_docs(n, *s, out));
        }
        "getkeys" => command_keys::getkeys(&args[2..], false, out)?,
        "getkeysandflags" => command_keys::getkeys(&args[2..], true, out)?,
        "help" => COMMAND.help(out),
        _ => return Err(COMMAND.unknown(&args[1])),
    }
    Ok(())
}

/// Every command's name, each container's followed by its subcommands' full
/// names, as `COMMAND LIST` has them.
fn listed(r: &Registry) -> Vec<&'static str> {
    let rows = stat_rows();
    let mut names = Vec::with_capacity(rows.len());
    for id in 0..r.all.len() {
        names.push(rows.name(id));
        names.extend_from_slice(rows.subcommands(id));
    }
    names
}

/// `COMMAND LIST`'s filter: none, or `FILTERBY MODULE name` (no modules are
/// loaded: nothing), `ACLCAT category` or `PATTERN glob` (any case), as Redis
/// 7.0 selects; anything else is a syntax error.
fn filter<'a>(names: &[&'a str], rest: &[bytes::Bytes]) -> CmdResult<Vec<&'a str>> {
    let [word, by, value] = rest else {
        return if rest.is_empty() {
            Ok(names.to_vec())
        } else {
            Err(CmdError::Syntax)
        };
    };
    if !word.eq_ignore_ascii_case(b"filterby") {
        return Err(CmdError::Syntax);
    }
    let keep: &dyn Fn(&str) -> bool = match by.to_ascii_lowercase().as_slice() {
        b"module" => &|_| false,
        b"aclcat" => &|n| crate::ops::categories::in_category(n, value),
        b"pattern" => &|n| glob_match(value, n.as_bytes(), true),
        _ => return Err(CmdError::Syntax),
    };
    Ok(names.iter().copied().filter(|n| keep(n)).collect())
}

/// The full name of `container|sub` (any case) when corekv has the
/// subcommand and Redis documents it.
fn subcommand(name: &[u8]) -> Option<&'static str> {
    let rows = stat_rows();
    let full = rows.name(rows.find(name)?);
    (full.contains('|') && recorded().info(full).is_some()).then_some(full)
}

/// Whether `name` is a subcommand corekv has (`config|get`).
fn implemented(name: &str) -> bool {
    name.contains('|') && stat_rows().find(name.as_bytes()).is_some()
}

/// The container commands Redis 7.0 has that corekv has too, each with the
/// subcommand table its handler resolves: the registry numbers their rows and
/// the request path refuses any other subcommand before it runs, as Redis
/// does. `DEBUG` resolves its subcommands too, but Redis 7.0 has none for it,
/// so its subcommands are its handler's business.
pub fn containers(registry: &Registry) -> Vec<Subcommands> {
    let server: [&Container; 7] = [
        &client::CLIENT,
        &COMMAND,
        &config::CONFIG,
        &latency::LATENCY,
        &memory::MEMORY,
        &pubsub::CONTAINER,
        &slowlog::SLOWLOG,
    ];
    let id = |name: &str| {
        let found = registry.lookup(name.as_bytes());
        found.map(|(id, _)| id).expect("a container is a command")
    };
    let mut all: Vec<Subcommands> = server
        .iter()
        .map(|c| Subcommands {
            id: id(c.name),
            subs: c.subs.iter().map(|s| (s.name, s.arity)).collect(),
        })
        .collect();
    all.push(Subcommands {
        id: id("object"),
        subs: corekv_engine::command::keys::object_subcommands().collect(),
    });
    all
}

/// One command's `COMMAND DOCS` entry: its name, then Redis's docs (or, for a
/// command Redis does not have, the registry's summary and group).
fn command_docs(name: &str, spec: Option<&Spec>, out: &mut ReplyBuf) {
    out.bulk(name.as_bytes());
    if let Some(docs) = recorded().docs(name) {
        return write_docs(docs, out);
    }
    let (summary, group) = spec.map_or(("", ""), |s| (s.summary, s.group));
    out.map(2);
    for (k, v) in [("summary", summary), ("group", group)] {
        out.bulk(k.as_bytes());
        out.bulk(v.as_bytes());
    }
}

/// One command's `COMMAND INFO` entry. A container's flags, key triple and
/// categories are Redis's (its own, which are none: Redis checks each
/// subcommand's), while its registry row carries what corekv's generic checks
/// need for all of its subcommands.
fn command_info(s: &Spec, out: &mut ReplyBuf) {
    let recorded = recorded().info(s.name).map(Value::items).unwrap_or(&[]);
    let container = recorded
        .get(INFO_SUBCOMMANDS)
        .is_some_and(|subs| !subs.items().is_empty());
    out.array(10);
    out.bulk(s.name.as_bytes());
    out.int(s.arity as i64);
    if container {
        recorded[2..INFO_TIPS]
            .iter()
            .for_each(|v| redis_commands::write(v, out));
    } else {
        registry_head(s, out);
    }
    // Tips and key specs as Redis records them; of a container's subcommands
    // (an array; a command without has an empty set), those corekv has.
    for field in [INFO_TIPS, INFO_KEY_SPECS, INFO_SUBCOMMANDS] {
        match recorded.get(field) {
            Some(Value::Array(subs)) if field == INFO_SUBCOMMANDS => {
                let kept: Vec<&Value> = subs.iter().filter(|info| documents_ours(info)).collect();
                out.array(kept.len());
                kept.iter()
                    .for_each(|info| redis_commands::write(info, out));
            }
            Some(value) => redis_commands::write(value, out),
            None => out.array(0),
        }
    }
}

/// Whether `info` (a recorded `COMMAND INFO` array) is of a subcommand corekv
/// has.
fn documents_ours(info: &Value) -> bool {
    let name = info.items().first().and_then(Value::text);
    name.is_some_and(implemented)
}

/// A command's recorded `COMMAND DOCS` map, its `subcommands` narrowed to
/// those corekv has.
fn write_docs(docs: &Value, out: &mut ReplyBuf) {
    let Value::Map(pairs) = docs else {
        return redis_commands::write(docs, out);
    };
    out.map(pairs.len());
    for (key, value) in pairs {
        redis_commands::write(key, out);
        let (Some("subcommands"), Value::Map(subs)) = (key.text(), value) else {
            redis_commands::write(value, out);
            continue;
        };
        let kept: Vec<&(Value, Value)> = subs
            .iter()
            .filter(|(name, _)| name.text().is_some_and(implemented))
            .collect();
        out.map(kept.len());
        for (name, sub_docs) in kept {
            redis_commands::write(name, out);
            redis_commands::write(sub_docs, out);
        }
    }
}

/// Flags, the legacy key triple and categories from the registry's row.
fn registry_head(s: &Spec, out: &mut ReplyBuf) {
    let mut names: Vec<&str> = flags::NAMES
        .iter()
        .filter(|(f, _)| s.has(*f))
        .map(|(_, n)| *n)
        .collect();
    // Keys the legacy triple cannot describe; Redis lists this flag just before
    // `allow_busy`.
    if matches!(s.keys, KeySpec::KeyNum { .. } | KeySpec::Custom(_)) {
        let at = names.len() - usize::from(s.has(ALLOW_BUSY));
        names.insert(at, "movablekeys");
    }
    out.set(names.len());
    names.iter().for_each(|n| out.simple(n.as_bytes()));
    out.int(s.first_key as i64);
    out.int(s.last_key as i64);
    out.int(s.step as i64);
    let group = [s.group];
    let categories = crate::ops::categories::of(s.name).unwrap_or(&group);
    out.set(categories.len());
    categories
        .iter()
        .for_each(|c| out.simple(format!("@{c}").as_bytes()));
}

#[rustfmt::skip]
pub const COMMANDS: &[CommandSpec<Handler>] = &[
    srv("command", -1, LOADING | STALE, "server", "Returns detailed information about all commands.", Handler::Sync(command)),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Every command Redis 7.0 has subcommands for gives the registry its
    /// handler's table, and no other command does.
    #[test]
    fn redis_containers_have_their_tables() {
        let (r, rows) = (registry(), stat_rows());
        for (id, spec) in r.all.iter().enumerate() {
            let info = recorded().info(spec.name).map_or(&[][..], Value::items);
            let redis_subs = info.get(INFO_SUBCOMMANDS).map_or(0, |s| s.items().len());
            let ours = rows.subcommands(id);
            assert_eq!(redis_subs > 0, !ours.is_empty(), "{}", spec.name);
            let prefix = format!("{}|", spec.name);
            assert!(ours.iter().all(|s| s.starts_with(&prefix)), "{ours:?}");
        }
        assert!(listed(r).contains(&"client|list"));
        assert!(!listed(r).contains(&"client|tracking"));
    }

    /// A subcommand's arity in its handler's table is Redis's: the request
    /// path refuses a call with the wrong count by it.
    #[test]
    fn subcommand_arities_are_redis_arities() {
        for container in containers(registry()) {
            let name = registry().all[container.id].name;
            for (sub, arity) in container.subs {
                let full = format!("{name}|{sub}");
                let Some(info) = recorded().info(&full) else {
                    continue;
                };
                assert_eq!(
                    info.items().get(1),
                    Some(&Value::Int(arity.into())),
                    "{full}"
                );
            }
        }
    }
}
