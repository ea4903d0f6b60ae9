//! `COMMAND GETKEYS` and `COMMAND GETKEYSANDFLAGS`: a call's keys, and what the
//! command does to each, found as Redis 7.0 finds them.
//!
//! Redis reads a command's key specs (`COMMAND INFO`'s 9th field, recorded in
//! [`crate::ops::redis_commands`]) first: each begins at an index or after a
//! keyword and takes a range or a counted run of arguments. When a spec cannot
//! say (its search is unknown, it is marked incomplete, or the call does not fit
//! it), or its flags depend on the arguments, the command's own key function
//! answers instead; here that is the registry's key extraction
//! ([`corekv_engine::command::KeySpec`]), the one routing uses, with the flags
//! of the spec that names each key. The replies and errors are Redis's.

use bytes::Bytes;
use corekv_engine::command::KeySpec;
use corekv_engine::error::{AdminError, CmdError, CmdResult};
use corekv_engine::resp::{parse_i64, Reply, ReplyBuf};

use super::registry;
use crate::ops::redis_commands::{commands, key_specs, Begin, Find, KeySpecDoc, Value};

/// Key flags a key function leaves out: they describe the spec, not the key.
const SPEC_ONLY_FLAGS: &[&str] = &["incomplete", "variable_flags"];
/// `SET`'s key when a `GET` argument reads the old value (Redis's `setGetKeys`).
const SET_WITH_GET_FLAGS: &[&str] = &["RW", "access", "update"];
/// `SET`'s key without `GET`.
const SET_FLAGS: &[&str] = &["OW", "update"];
/// `BITFIELD`'s key when every operation is a `GET` (Redis's `bitfieldGetKeys`).
const BITFIELD_READ_FLAGS: &[&str] = &["RO", "access"];
/// `BITFIELD`'s key when an operation writes (or the call is malformed).
const BITFIELD_WRITE_FLAGS: &[&str] = &["RW", "access", "update"];

/// One key of a call: its position among the arguments and its flags.
type Found = (usize, Vec<&'static str>);

/// Answers `COMMAND GETKEYS target...` (or `GETKEYSANDFLAGS` with `with_flags`).
pub fn getkeys(target: &[Bytes], with_flags: bool, out: &mut ReplyBuf) -> CmdResult {
    let spec = registry()
        .get(&target[0])
        .ok_or(AdminError::InvalidCommand)?;
    let mut name = spec.name.to_string();
    let mut arity = spec.arity;
    let recorded = commands();
    let has_subcommands = recorded
        .info(&name)
        .and_then(|info| {
            info.items()
                .get(crate::ops::redis_commands::INFO_SUBCOMMANDS)
        })
        .is_some_and(|subs| !subs.items().is_empty());
    if has_subcommands && target.len() >= 2 {
        name = format!(
            "{name}|{}",
            String::from_utf8_lossy(&target[1]).to_ascii_lowercase()
        );
        let info = recorded.info(&name).ok_or(AdminError::InvalidCommand)?;
        arity = match info.items().get(1) {
            Some(Value::Int(n)) => *n as i32,
            _ => arity,
        };
    }
    let specs = key_specs(&name);
    // Redis's specs say whether a command (or subcommand, or container called
    // alone) has keys, a shard channel not being one; the registry's row says
    // for a command Redis does not have.
    let has_keys = match recorded.info(&name) {
        Some(_) => specs.iter().any(|s| !s.has("not_key")),
        None => !matches!(spec.keys, KeySpec::None),
    };
    if !has_keys {
        return Err(AdminError::NoKeyArguments.into());
    }
    let argc = target.len() as i32;
    if (arity > 0 && arity != argc) || argc < -arity {
        return Err(AdminError::InvalidCommandArgs.into());
    }
    let variable = specs.iter().any(|s| s.has("variable_flags"));
    let found = match by_specs(&specs, target, variable) {
        Some(found) => found,
        None => by_key_function(&name, spec.keys, &specs, target),
    };
    if found.is_empty() {
        if no_mandatory_keys(&name) {
            out.array(0);
            return Ok(());
        }
        return Err(CmdError::Raw(
            "ERR Invalid arguments specified for command".into(),
        ));
    }
    out.array(found.len());
    for (at, flags) in found {
        if with_flags {
            out.array(2);
            out.bulk(&target[at]);
            out.set(flags.len());
            flags.iter().for_each(|f| out.simple(f.as_bytes()));
        } else {
            out.bulk(&target[at]);
        }
    }
    Ok(())
}

/// Whether Redis flags `name` `no_mandatory_keys` (its keys may all be absent).
fn no_mandatory_keys(name: &str) -> bool {
    commands()
        .info(name)
        .and_then(|info| info.items().get(2))
        .is_some_and(|flags| {
            flags
                .items()
                .iter()
                .any(|f| f.text() == Some("no_mandatory_keys"))
        })
}

/// The keys `specs` find in `args` (Redis's `getKeysUsingKeySpecs`), or `None`
/// when a spec cannot say and the key function must answer.
fn by_specs(specs: &[KeySpecDoc], args: &[Bytes], variable: bool) -> Option<Vec<Found>> {
    if specs.is_empty() || variable {
        return None;
    }
    let argc = args.len() as i64;
    let mut found = Vec::new();
    for spec in specs.iter().filter(|s| !s.has("not_key")) {
        let first = match spec.begin {
            Begin::Index(at) => at as i64,
            Begin::Keyword { keyword, startfrom } => match find_keyword(args, keyword, startfrom) {
                Some(at) => at as i64 + 1,
                None => continue,
            },
            Begin::Unknown => return None,
        };
        let (first, last, step) = match spec.find {
            Find::Range {
                lastkey,
                keystep,
                limit,
            } => {
                let last = match (lastkey, limit) {
                    (l, _) if l >= 0 => first + l,
                    (l, 0) => argc + l,
                    (l, limit) => first + ((argc - first) / limit + l),
                };
                (first, last, keystep)
            }
            Find::Keynum {
                keynumidx,
                firstkey,
                keystep,
            } => {
                let count = args
                    .get((first + keynumidx) as usize)
                    .and_then(|a| parse_i64(a))
                    .filter(|&n| n >= 0)?;
                let first = first + firstkey;
                // A hostile count runs past the arguments: refused below, never
                // an overflow.
                (first, first.saturating_add(count) - 1, keystep)
            }
            Find::Unknown => return None,
        };
        if last >= argc || last < first || first >= argc {
            return None;
        }
        let positions = (first..=last).step_by(step.max(1) as usize);
        found.extend(positions.map(|at| (at as usize, spec.flags.clone())));
        if spec.has("incomplete") {
            return None;
        }
    }
    Some(found)
}

/// The argument after which a keyword spec's keys begin: the first `keyword`
/// from `startfrom` on (from the end backwards when negative), never the name.
fn find_keyword(args: &[Bytes], keyword: &str, startfrom: i64) -> Option<usize> {
    let argc = args.len() as i64;
    let (start, end, step) = if startfrom > 0 {
        (startfrom, argc - 1, 1)
    } else {
        (argc + startfrom, 0, -1)
    };
    let mut at = start;
    while at != end && (1..argc).contains(&at) {
        if args[at as usize].eq_ignore_ascii_case(keyword.as_bytes()) {
            return Some(at as usize);
        }
        at += step;
    }
    None
}

/// The keys the registry's extraction finds, each with the flags Redis's own key
/// function gives it.
fn by_key_function(name: &str, keys: KeySpec, specs: &[KeySpecDoc], args: &[Bytes]) -> Vec<Found> {
    let positions = keys.resolve(args).iter();
    positions
        .map(|at| {
            let flags = match name {
                "set" => set_flags(args),
                "bitfield" => bitfield_flags(args),
                _ => spec_flags(specs, at),
            };
            (at, flags)
        })
        .collect()
}

/// The flags of the spec that names position `at`: the one beginning there, or
/// else the last one whose search only the command knows (`SORT`'s `STORE`,
/// after its `BY`/`GET` one).
fn spec_flags(specs: &[KeySpecDoc], at: usize) -> Vec<&'static str> {
    let spec = specs
        .iter()
        .find(|s| s.begin == Begin::Index(at))
        .or_else(|| specs.iter().rev().find(|s| s.begin == Begin::Unknown))
        .or(specs.last());
    spec.map_or_else(Vec::new, |s| {
        s.flags
            .iter()
            .copied()
            .filter(|f| !SPEC_ONLY_FLAGS.contains(f))
            .collect()
    })
}

fn set_flags(args: &[Bytes]) -> Vec<&'static str> {
    let get = args.iter().skip(3).any(|a| a.eq_ignore_ascii_case(b"get"));
    if get { SET_WITH_GET_FLAGS } else { SET_FLAGS }.to_vec()
}

fn bitfield_flags(args: &[Bytes]) -> Vec<&'static str> {
    let mut i = 2;
    while i < args.len() {
        let rest = args.len() - i - 1;
        let word = &args[i];
        if word.eq_ignore_ascii_case(b"get") && rest >= 2 {
            i += 3;
        } else if word.eq_ignore_ascii_case(b"overflow") && rest >= 1 {
            i += 2;
        } else {
            return BITFIELD_WRITE_FLAGS.to_vec();
        }
    }
    BITFIELD_READ_FLAGS.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `COMMAND GETKEYSANDFLAGS` of `cmd` (words split on spaces), as
    /// `key:FLAG,flag` words, or the error.
    fn keys(cmd: &str) -> String {
        let args: Vec<Bytes> = cmd
            .split(' ')
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect();
        let mut out = ReplyBuf::new(corekv_engine::resp::Protocol::Resp2);
        match getkeys(&args, true, &mut out) {
            Ok(()) => String::from_utf8_lossy(&out).replace("\r\n", " "),
            Err(e) => e.message(),
        }
    }

    #[test]
    fn keyword_specs_find_every_store_key() {
        let reply = keys("georadius g 0 0 1 km STORE a STOREDIST b");
        assert!(reply.contains("$1 g") && reply.contains("$1 a") && reply.contains("$1 b"));
    }

    #[test]
    fn set_and_bitfield_flags_follow_their_arguments() {
        assert!(keys("set k v GET").contains("+RW"));
        assert!(keys("set k v").contains("+OW"));
        assert!(keys("bitfield k GET u8 0").contains("+RO"));
        assert!(keys("bitfield k SET u8 0 1").contains("+RW"));
    }
}
