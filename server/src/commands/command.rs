//! `COMMAND` and its subcommands: introspection of the one registry
//! ([`super::registry`]), engine and server commands alike, in registry order.

use std::rc::Rc;

use corekv_engine::command::flags::{self, *};
use corekv_engine::command::{CommandSpec, KeySpec};
use corekv_engine::error::{AdminError, CmdError, CmdResult};
use corekv_engine::glob::glob_match;
use corekv_engine::resp::{Args, Reply, ReplyBuf};

use super::subcommand::{sub, Container};
use super::{registry, srv, Handler, Spec};
use crate::commands::requests::Core;
use crate::session::client::Client;

const COMMAND: Container = Container {
    name: "COMMAND",
    subs: &[
        sub("count", 2),
        sub("list", -2),
        sub("info", -2),
        sub("docs", -2),
        sub("getkeys", -4),
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
        "DOCS [<command-name> ...]",
        "    Return documentation details about multiple Redis commands.",
        "GETKEYS <full-command>",
        "    Return the keys from a full Redis command.",
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
            let names: Vec<&str> = r.all.iter().map(|s| s.name).collect();
            let kept = filter(&names, &args[2..])?;
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
                    None => out.null_array(),
                }
            }
        }
        "docs" => {
            let specs: Vec<&Spec> = if args.len() == 2 {
                r.all.clone()
            } else {
                args[2..].iter().filter_map(|n| r.get(n)).collect()
            };
            out.map(specs.len());
            for s in specs {
                out.bulk(s.name.as_bytes());
                out.map(3);
                for (k, v) in [
                    ("summary", s.summary),
                    ("since", "1.0.0"),
                    ("group", s.group),
                ] {
                    out.bulk(k.as_bytes());
                    out.bulk(v.as_bytes());
                }
            }
        }
        "getkeys" => getkeys(&args[2..], out)?,
        "help" => COMMAND.help(out),
        _ => return Err(COMMAND.unknown(&args[1])),
    }
    Ok(())
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

/// `COMMAND GETKEYS cmd arg...`: the keys the registry finds in `target`.
fn getkeys(target: &[bytes::Bytes], out: &mut ReplyBuf) -> CmdResult {
    let spec = registry()
        .get(&target[0])
        .ok_or(AdminError::InvalidCommand)?;
    if !spec.arity_ok(target.len()) {
        return Err(AdminError::InvalidCommandArgs.into());
    }
    let keys: Vec<usize> = spec.key_indices(target).collect();
    if keys.is_empty() {
        return Err(AdminError::NoKeyArguments.into());
    }
    out.array(keys.len());
    keys.iter().for_each(|&i| out.bulk(&target[i]));
    Ok(())
}

fn command_info(s: &Spec, out: &mut ReplyBuf) {
    out.array(10);
    out.bulk(s.name.as_bytes());
    out.int(s.arity as i64);
    let mut names: Vec<&str> = flags::NAMES
        .iter()
        .filter(|(f, _)| s.has(*f))
        .map(|(_, n)| *n)
        .collect();
    // Keys the legacy triple cannot describe; Redis lists this flag last.
    if matches!(s.keys, KeySpec::KeyNum { .. } | KeySpec::Custom(_)) {
        names.push("movablekeys");
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
    // Tips, key specs, subcommands: Redis sends each as a set.
    out.set(0);
    out.set(0);
    out.set(0);
}

#[rustfmt::skip]
pub const COMMANDS: &[CommandSpec<Handler>] = &[
    srv("command", -1, LOADING | STALE, "server", "Returns detailed information about all commands.", Handler::Sync(command)),
];
