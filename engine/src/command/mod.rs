//! The command table: every command's name, arity, flags, key positions and route,
//! as data. Generic code (here and in the server) checks arity, authentication,
//! the read-only replica and routing from these rows before any handler runs.
//!
//! Each family file (`string.rs`, `keys.rs`) ends with its rows; [`FAMILIES`] lists
//! them and [`table`] joins them into the engine's lookup table. Key positions are
//! [`KeySpec`]s (`keyspec.rs`); commands whose keys may span shards, or that touch
//! every shard, are [`Parts`] (`parts.rs`, with `multikey.rs` and `whole.rs`).
//!
//! The server owns the one registry clients see: it joins these rows, first and in
//! this order, with its own connection and server commands, whose handlers the engine
//! does not know. That is why a row is generic over its route ([`CommandSpec<R>`]):
//! engine rows carry a [`Route`], the server's rows its own handler type, and
//! [`CommandTable<R>`] gives either the same allocation-free lookup. A command is
//! looked up once per request: the server passes its id ([`CommandTable::all`]
//! index, the same in the engine's table and in the server's) down to the shards.

pub mod bitfield;
pub mod ctx;
pub mod dump;
pub mod exec;
pub mod geo;
mod geo_hash;
pub mod geo_search;
pub mod hash;
pub mod hll;
pub mod keys;
pub mod keyspec;
pub mod lcs;
pub mod list;
pub mod list_block;
mod list_edit;
pub mod list_move;
pub mod multikey;
pub mod parts;
pub mod set;
pub mod sort;
pub mod string;
pub mod whole;
pub mod zset;
pub mod zset_block;
mod zset_float;
pub mod zset_multi;
pub mod zset_range;

use std::sync::OnceLock;

use bytes::Bytes;

use crate::error::CmdResult;
pub use ctx::Ctx;
pub use keyspec::{KeyIndex, KeySpec};
pub use parts::Parts;

/// Command flags, as `COMMAND INFO` names them.
pub mod flags {
    pub const WRITE: u32 = 1 << 0;
    pub const READONLY: u32 = 1 << 1;
    pub const DENYOOM: u32 = 1 << 2;
    pub const ADMIN: u32 = 1 << 3;
    pub const PUBSUB: u32 = 1 << 4;
    pub const NOSCRIPT: u32 = 1 << 5;
    pub const BLOCKING: u32 = 1 << 6;
    pub const FAST: u32 = 1 << 7;
    pub const LOADING: u32 = 1 << 8;
    pub const STALE: u32 = 1 << 9;
    pub const NO_AUTH: u32 = 1 << 10;
    pub const NO_MULTI: u32 = 1 << 11;
    pub const ALLOW_BUSY: u32 = 1 << 12;
    /// Never in the slow log (`EXEC`: its commands are logged one by one).
    pub const SKIP_SLOWLOG: u32 = 1 << 13;
    /// Refused while a replica loads its master's data in the background.
    pub const NO_ASYNC_LOADING: u32 = 1 << 14;

    /// Names in `COMMAND INFO` order.
    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (NO_ASYNC_LOADING, "no_async_loading"),
        (NO_MULTI, "no_multi"),
        (ALLOW_BUSY, "allow_busy"),
    ];
}

/// A handler that runs on the shard owning the command's keys, to completion.
pub type Handler = fn(&mut Ctx, &[Bytes]) -> CmdResult;

/// How a command runs.
#[derive(Debug, Clone, Copy)]
pub enum Route {
    /// Every key on one shard (or none): the handler runs there.
    Shard(Handler),
    /// Keys that may span shards, or every shard: per-shard parts and a merge.
    Parts(&'static Parts),
}

/// One row of a command table; `R` says how the command runs (a [`Route`] for the
/// engine's rows).
#[derive(Debug, Clone, Copy)]
pub struct CommandSpec<R = Route> {
    /// Lower-case name.
    pub name: &'static str,
    /// Redis convention: counts the name; negative means "at least -arity".
    pub arity: i32,
    pub flags: u32,
    /// Where the keys are.
    pub keys: KeySpec,
    /// The legacy `(first, last, step)` of `COMMAND INFO`, derived from `keys`.
    pub first_key: i32,
    pub last_key: i32,
    pub step: i32,
    pub group: &'static str,
    pub summary: &'static str,
    pub route: R,
}

impl<R> CommandSpec<R> {
    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i32;
        if self.arity >= 0 {
            argc == self.arity
        } else {
            argc >= -self.arity
        }
    }

    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    /// Positions of the key arguments of `args` (which include the name).
    pub fn key_indices(&self, args: &[Bytes]) -> impl Iterator<Item = usize> {
        self.keys.resolve(args).iter()
    }

    /// The same row with another route: how the server wraps the engine's rows.
    pub fn with_route<S>(&self, route: S) -> CommandSpec<S> {
        CommandSpec {
            name: self.name,
            arity: self.arity,
            flags: self.flags,
            keys: self.keys,
            first_key: self.first_key,
            last_key: self.last_key,
            step: self.step,
            group: self.group,
            summary: self.summary,
            route,
        }
    }
}

/// The engine's command families, in table order.
pub const FAMILIES: &[&[CommandSpec]] = &[
    string::COMMANDS,
    keys::COMMANDS,
    hash::COMMANDS,
    set::COMMANDS,
    zset::COMMANDS,
    zset_multi::COMMANDS,
    zset_block::COMMANDS,
    geo::COMMANDS,
    geo_search::COMMANDS,
    list::COMMANDS,
    hll::COMMANDS,
    bitfield::COMMANDS,
    lcs::COMMANDS,
    sort::COMMANDS,
    dump::COMMANDS,
];

/// A joined table, looked up by name in any case.
///
/// The lookup runs once per request, so it is an open-addressing table of row ids
/// hashed by [`name_hash`] over the name's case-folded bytes (folded once, on the
/// stack): no allocation, no UTF-8 check and no SipHash, one probe for almost every
/// name (the table is kept at most a quarter full), and one compare to confirm.
pub struct CommandTable<R: 'static = Route> {
    /// Row id + 1 per slot, 0 for an empty slot; the length is a power of two.
    slots: Vec<u32>,
    pub all: Vec<&'static CommandSpec<R>>,
}

/// Longest command name the table holds; longer names cannot match.
const COMMAND_NAME_MAX_BYTES: usize = 32;
/// Slots per row, at least: a sparse table keeps probe sequences to one slot.
const SLOTS_PER_ROW_MIN: usize = 4;

/// FNV-1a over a name already folded to lower case.
fn name_hash(folded: &[u8]) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in folded {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    (h ^ (h >> 32)) as usize
}

impl<R> CommandTable<R> {
    /// Joins `rows` in order; a row's id is its position. Names must be unique.
    pub fn new(all: Vec<&'static CommandSpec<R>>) -> Self {
        let mut table = CommandTable {
            slots: vec![0; (all.len() * SLOTS_PER_ROW_MIN).next_power_of_two()],
            all,
        };
        for (i, spec) in table.all.iter().enumerate() {
            assert!(spec.name.len() <= COMMAND_NAME_MAX_BYTES);
            assert_eq!(spec.name, spec.name.to_ascii_lowercase());
            let mask = table.slots.len() - 1;
            let mut at = name_hash(spec.name.as_bytes()) & mask;
            while table.slots[at] != 0 {
                let other = table.all[table.slots[at] as usize - 1];
                assert!(other.name != spec.name, "duplicate command {}", spec.name);
                at = (at + 1) & mask;
            }
            table.slots[at] = u32::try_from(i + 1).expect("fewer rows than u32::MAX");
        }
        table
    }

    /// Looks a command up by name, any case, without allocating.
    pub fn get(&self, name: &[u8]) -> Option<&'static CommandSpec<R>> {
        self.lookup(name).map(|(_, spec)| spec)
    }

    /// Like [`CommandTable::get`], with the row's position in [`CommandTable::all`].
    pub fn lookup(&self, name: &[u8]) -> Option<(usize, &'static CommandSpec<R>)> {
        if name.len() > COMMAND_NAME_MAX_BYTES {
            return None;
        }
        // Folded once, so the confirming compare is a plain one (a byte-by-byte
        // case-insensitive compare cost more than the rest of the lookup).
        let mut folded = [0u8; COMMAND_NAME_MAX_BYTES];
        let folded = &mut folded[..name.len()];
        for (f, b) in folded.iter_mut().zip(name) {
            *f = b.to_ascii_lowercase();
        }
        let mask = self.slots.len() - 1;
        let mut at = name_hash(folded) & mask;
        loop {
            let i = (*self.slots.get(at)? as usize).checked_sub(1)?;
            let spec = self.all[i];
            if spec.name.as_bytes() == &folded[..] {
                return Some((i, spec));
            }
            at = (at + 1) & mask;
        }
    }
}

/// The engine's command table: the rows of [`FAMILIES`], in order.
pub fn table() -> &'static CommandTable {
    static TABLE: OnceLock<CommandTable> = OnceLock::new();
    TABLE.get_or_init(|| CommandTable::new(FAMILIES.iter().flat_map(|f| f.iter()).collect()))
}

/// Builds a table row; keeps family tables one line per command.
#[allow(clippy::too_many_arguments)]
pub const fn row<R>(
    name: &'static str,
    arity: i32,
    flags: u32,
    keys: KeySpec,
    group: &'static str,
    summary: &'static str,
    route: R,
) -> CommandSpec<R> {
    let (first_key, last_key, step) = keys.legacy();
    CommandSpec {
        name,
        arity,
        flags,
        keys,
        first_key,
        last_key,
        step,
        group,
        summary,
        route,
    }
}

/// Every `step`-th argument from `first` to `last` (negative: from the end).
pub const fn range(first: i32, last: i32, step: i32) -> KeySpec {
    KeySpec::Range { first, last, step }
}

/// No key arguments.
pub const NO_KEYS: KeySpec = KeySpec::None;
/// The first argument is the only key.
pub const KEY1: KeySpec = range(1, 1, 1);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_lower_case_and_unique() {
        let t = table();
        for spec in &t.all {
            assert_eq!(spec.name, spec.name.to_ascii_lowercase());
        }
        assert!(t.get(b"GeT").is_some());
        assert!(t.get(b"nosuchcommand").is_none());
    }

    /// Every row is found by its name in any case, and by nothing else: a name one
    /// byte off, a prefix or an extension of a row's name finds no row or another.
    #[test]
    fn lookup_finds_every_row_in_any_case() {
        let t = table();
        for (i, spec) in t.all.iter().enumerate() {
            let upper = spec.name.to_ascii_uppercase();
            assert_eq!(t.lookup(upper.as_bytes()).map(|(id, _)| id), Some(i));
            assert_eq!(t.lookup(spec.name.as_bytes()).map(|(id, _)| id), Some(i));
            let mut longer = spec.name.as_bytes().to_vec();
            longer.push(b'x');
            assert_ne!(t.lookup(&longer).map(|(id, _)| id), Some(i));
            let shorter = &spec.name.as_bytes()[..spec.name.len() - 1];
            assert_ne!(t.lookup(shorter).map(|(id, _)| id), Some(i));
        }
        assert!(t.lookup(b"").is_none());
        assert!(t.lookup(&[b'g'; COMMAND_NAME_MAX_BYTES + 1]).is_none());
        assert!(t.lookup(b"g\xffet").is_none());
    }

    /// A handler row runs on one shard, so its keys can never span shards: at most
    /// one key, whatever the arguments. Rows with more are parts.
    #[test]
    fn handler_rows_have_at_most_one_key() {
        for spec in &table().all {
            if let Route::Shard(_) = spec.route {
                let one = match spec.keys {
                    KeySpec::None => true,
                    KeySpec::Range { first, last, .. } => first == last && first > 0,
                    KeySpec::KeyNum { .. } | KeySpec::Custom(_) => false,
                };
                assert!(one, "{} has a handler but may have several keys", spec.name);
            }
        }
    }

    #[test]
    fn key_positions() {
        let t = table();
        let args = |words: &[&str]| -> Vec<Bytes> {
            words
                .iter()
                .map(|w| Bytes::copy_from_slice(w.as_bytes()))
                .collect()
        };
        let mset = t.get(b"mset").unwrap();
        let keys = mset.key_indices(&args(&["mset", "a", "1", "b", "2"]));
        assert_eq!(keys.collect::<Vec<_>>(), vec![1, 3]);
        let del = t.get(b"del").unwrap();
        let keys = del.key_indices(&args(&["del", "a", "b", "c"]));
        assert_eq!(keys.collect::<Vec<_>>(), vec![1, 2, 3]);
        let dbsize = t.get(b"dbsize").unwrap();
        assert_eq!(dbsize.key_indices(&args(&["dbsize"])).count(), 0);
    }
}
