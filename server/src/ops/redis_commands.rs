//! Redis 7.0.15's own data about its commands: what `COMMAND DOCS` prints
//! (summary, since, group, complexity, arguments, history, doc flags,
//! subcommands) and the tail of `COMMAND INFO` (tips, key specs, subcommands).
//!
//! The data is Redis's, not retyped: `tools/record_commands.py` asks a real
//! redis-server 7.0.15 for `COMMAND DOCS` and `COMMAND INFO` of every command it
//! has and stores both RESP3 replies in `redis_commands.resp` (lines ending in
//! LF), which is compiled in and parsed on first use into [`Value`] trees. The
//! `COMMAND` family (`crate::commands::command`) looks commands up here by their
//! full name (`get`, `config|set`) and writes the trees back in the client's
//! protocol ([`write`]); [`key_specs`] reads a command's key specs for `COMMAND
//! GETKEYS`. Nothing here is on the request path.

use std::collections::HashMap;
use std::sync::OnceLock;

use corekv_engine::resp::{Reply, ReplyBuf};

/// The recorded replies: `COMMAND DOCS` (a map), then `COMMAND INFO` (an array).
const RECORDED: &str = include_str!("redis_commands.resp");

/// A RESP3 value of the recorded replies; strings borrow the compiled-in text.
#[derive(Debug, PartialEq)]
pub enum Value {
    Simple(&'static str),
    Bulk(&'static str),
    Int(i64),
    Array(Vec<Value>),
    Set(Vec<Value>),
    Map(Vec<(Value, Value)>),
}

impl Value {
    /// The text of a string value.
    pub fn text(&self) -> Option<&'static str> {
        match self {
            Value::Simple(s) | Value::Bulk(s) => Some(s),
            _ => None,
        }
    }

    /// The value under string key `key` of a map.
    pub fn get(&self, key: &str) -> Option<&Value> {
        let Value::Map(pairs) = self else {
            return None;
        };
        pairs
            .iter()
            .find(|(k, _)| k.text() == Some(key))
            .map(|(_, v)| v)
    }

    /// The items of an array or a set.
    pub fn items(&self) -> &[Value] {
        match self {
            Value::Array(items) | Value::Set(items) => items,
            _ => &[],
        }
    }

    fn int(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(*n),
            _ => None,
        }
    }
}

/// Writes `value` as a reply in `out`'s protocol (a map or a set falls back to
/// an array in RESP2, as Redis's do).
pub fn write(value: &Value, out: &mut ReplyBuf) {
    match value {
        Value::Simple(s) => out.simple(s.as_bytes()),
        Value::Bulk(s) => out.bulk(s.as_bytes()),
        Value::Int(n) => out.int(*n),
        Value::Array(items) => {
            out.array(items.len());
            items.iter().for_each(|v| write(v, out));
        }
        Value::Set(items) => {
            out.set(items.len());
            items.iter().for_each(|v| write(v, out));
        }
        Value::Map(pairs) => {
            out.map(pairs.len());
            for (k, v) in pairs {
                write(k, out);
                write(v, out);
            }
        }
    }
}

/// Redis's commands and subcommands by full name.
pub struct Commands {
    /// `COMMAND DOCS`' map value of each command (subcommands included).
    docs: HashMap<&'static str, &'static Value>,
    /// `COMMAND INFO`'s array of each command (subcommands included).
    info: HashMap<&'static str, &'static Value>,
}

impl Commands {
    /// The docs of `name` (a full name, lower case).
    pub fn docs(&self, name: &str) -> Option<&'static Value> {
        self.docs.get(name).copied()
    }

    /// The `COMMAND INFO` array of `name` (a full name, lower case).
    pub fn info(&self, name: &str) -> Option<&'static Value> {
        self.info.get(name).copied()
    }
}

/// The recorded commands, parsed on first use.
pub fn commands() -> &'static Commands {
    static COMMANDS: OnceLock<Commands> = OnceLock::new();
    COMMANDS.get_or_init(|| {
        let mut parser = Parser { text: RECORDED };
        let docs: &'static Value = Box::leak(Box::new(parser.value()));
        let info: &'static Value = Box::leak(Box::new(parser.value()));
        assert!(
            parser.text.is_empty(),
            "trailing data after the recorded replies"
        );
        let mut commands = Commands {
            docs: HashMap::new(),
            info: HashMap::new(),
        };
        index_docs(docs, &mut commands.docs);
        index_info(info, &mut commands.info);
        commands
    })
}

/// Indexes a `COMMAND DOCS` map and its subcommands' maps by full name.
fn index_docs(docs: &'static Value, into: &mut HashMap<&'static str, &'static Value>) {
    let Value::Map(pairs) = docs else {
        panic!("COMMAND DOCS is not a map");
    };
    for (name, doc) in pairs {
        into.insert(name.text().expect("a command name"), doc);
        if let Some(subs) = doc.get("subcommands") {
            index_docs(subs, into);
        }
    }
}

/// Indexes `COMMAND INFO` arrays and their subcommands' arrays by full name.
fn index_info(infos: &'static Value, into: &mut HashMap<&'static str, &'static Value>) {
    for info in infos.items() {
        let fields = info.items();
        into.insert(fields[0].text().expect("a command name"), info);
        if let Some(subs) = fields.get(INFO_SUBCOMMANDS) {
            index_info(subs, into);
        }
    }
}

/// `COMMAND INFO`'s ACL categories field.
pub const INFO_CATEGORIES: usize = 6;
/// `COMMAND INFO`'s fields from the tips on: tips, key specs, subcommands.
pub const INFO_TIPS: usize = 7;
/// `COMMAND INFO`'s key specs field.
pub const INFO_KEY_SPECS: usize = 8;
/// `COMMAND INFO`'s subcommands field.
pub const INFO_SUBCOMMANDS: usize = 9;

/// Reads RESP3 with LF line ends.
struct Parser {
    text: &'static str,
}

impl Parser {
    fn line(&mut self) -> &'static str {
        let (line, rest) = self.text.split_once('\n').expect("a complete line");
        self.text = rest;
        line
    }

    fn count(body: &str) -> usize {
        body.parse().expect("a length")
    }

    fn value(&mut self) -> Value {
        let line = self.line();
        let (kind, body) = line.split_at(1);
        match kind {
            "+" => Value::Simple(body),
            ":" => Value::Int(body.parse().expect("an integer")),
            "$" => {
                let n = Self::count(body);
                let (s, rest) = self.text.split_at(n);
                self.text = rest.strip_prefix('\n').expect("a bulk string's end");
                Value::Bulk(s)
            }
            "*" => Value::Array((0..Self::count(body)).map(|_| self.value()).collect()),
            "~" => Value::Set((0..Self::count(body)).map(|_| self.value()).collect()),
            "%" => Value::Map(
                (0..Self::count(body))
                    .map(|_| (self.value(), self.value()))
                    .collect(),
            ),
            _ => panic!("unexpected line in the recorded replies: {line}"),
        }
    }
}

/// Where a key spec's search for its keys begins.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Begin {
    /// At this argument.
    Index(usize),
    /// After `keyword`, searched from `startfrom` (backwards from the end when
    /// negative).
    Keyword {
        keyword: &'static str,
        startfrom: i64,
    },
    /// Only the command's own code knows.
    Unknown,
}

/// How a key spec finds its keys from where the search began.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Find {
    /// Up to `lastkey` after the first (negative: from the end; with `limit`,
    /// a 1/`limit` share of the rest), every `keystep`.
    Range {
        lastkey: i64,
        keystep: i64,
        limit: i64,
    },
    /// The argument `keynumidx` after the first counts the keys, which start
    /// `firstkey` after it, every `keystep`.
    Keynum {
        keynumidx: i64,
        firstkey: i64,
        keystep: i64,
    },
    Unknown,
}

/// One key spec of `COMMAND INFO`.
#[derive(Debug, Clone, PartialEq)]
pub struct KeySpecDoc {
    /// Redis's key flags as it prints them (`RW`, `ACCESS`, ...).
    pub flags: Vec<&'static str>,
    pub begin: Begin,
    pub find: Find,
}

impl KeySpecDoc {
    pub fn has(&self, flag: &str) -> bool {
        self.flags.contains(&flag)
    }
}

/// The key specs of the command with full name `name`; empty for an unknown
/// command.
pub fn key_specs(name: &str) -> Vec<KeySpecDoc> {
    let Some(info) = commands().info(name) else {
        return Vec::new();
    };
    let specs = info
        .items()
        .get(INFO_KEY_SPECS)
        .map_or(&[][..], Value::items);
    specs.iter().map(key_spec).collect()
}

fn key_spec(spec: &Value) -> KeySpecDoc {
    let flags = spec
        .get("flags")
        .map_or(&[][..], Value::items)
        .iter()
        .filter_map(Value::text)
        .collect();
    let int = |v: Option<&Value>, key: &str| v.and_then(|v| v.get(key)).and_then(Value::int);
    let begin = spec.get("begin_search");
    let begin_spec = begin.and_then(|b| b.get("spec"));
    let begin = match begin.and_then(|b| b.get("type")).and_then(Value::text) {
        Some("index") => Begin::Index(int(begin_spec, "index").unwrap_or(0) as usize),
        Some("keyword") => Begin::Keyword {
            keyword: begin_spec
                .and_then(|s| s.get("keyword"))
                .and_then(Value::text)
                .unwrap_or(""),
            startfrom: int(begin_spec, "startfrom").unwrap_or(0),
        },
        _ => Begin::Unknown,
    };
    let find = spec.get("find_keys");
    let find_spec = find.and_then(|f| f.get("spec"));
    let find = match find.and_then(|f| f.get("type")).and_then(Value::text) {
        Some("range") => Find::Range {
            lastkey: int(find_spec, "lastkey").unwrap_or(0),
            keystep: int(find_spec, "keystep").unwrap_or(1),
            limit: int(find_spec, "limit").unwrap_or(0),
        },
        Some("keynum") => Find::Keynum {
            keynumidx: int(find_spec, "keynumidx").unwrap_or(0),
            firstkey: int(find_spec, "firstkey").unwrap_or(1),
            keystep: int(find_spec, "keystep").unwrap_or(1),
        },
        _ => Find::Unknown,
    };
    KeySpecDoc { flags, begin, find }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recording_parses_and_names_subcommands() {
        let c = commands();
        let get = c.docs("get").expect("get");
        assert_eq!(get.get("group").and_then(Value::text), Some("string"));
        assert_eq!(get.get("since").and_then(Value::text), Some("1.0.0"));
        assert!(c.docs("config|set").is_some());
        let info = c.info("config|get").expect("config|get");
        assert_eq!(info.items()[1], Value::Int(-3));
        assert!(c.info("nosuchcommand").is_none());
    }

    #[test]
    fn key_specs_read_every_shape() {
        let get = key_specs("get");
        assert_eq!(get.len(), 1);
        assert_eq!(get[0].begin, Begin::Index(1));
        assert!(get[0].has("RO") && get[0].has("access"));
        let zunionstore = key_specs("zunionstore");
        assert_eq!(
            zunionstore[1].find,
            Find::Keynum {
                keynumidx: 0,
                firstkey: 1,
                keystep: 1
            }
        );
        let georadius = key_specs("georadius");
        assert_eq!(
            georadius[2].begin,
            Begin::Keyword {
                keyword: "STOREDIST",
                startfrom: 6
            }
        );
        assert_eq!(key_specs("sort")[1].begin, Begin::Unknown);
    }
}
