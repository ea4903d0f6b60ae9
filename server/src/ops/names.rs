//! Commands' full names as Redis 7.0 prints them, and the rows of the
//! per-command statistics.
//!
//! A container command's subcommand is `container|sub` (`client|list`,
//! `config|get`) in `CLIENT LIST`'s `cmd=` field and in `INFO commandstats`
//! (`cmdstat_config|set`), `INFO latencystats` and `LATENCY HISTOGRAM`. A
//! container called alone keeps its own name. One called with a subcommand it
//! does not have is no command at all, as in Redis: the request path refuses it
//! before it runs ([`StatRows::resolve`] is `None`), it counts in no row, and
//! `cmd=` shows `NULL`.
//!
//! The subcommands are the ones the containers' handlers resolve: the registry
//! hands each container's table to [`install`] as it is built
//! (`crate::commands::command::containers`), so what is counted, refused and
//! listed by `COMMAND` is what runs, never a list kept here. [`StatRows`] numbers
//! the rows: the registry's commands first (a row's number is the command's id),
//! then the subcommands of each container.

use std::ops::Range;
use std::sync::OnceLock;

use bytes::Bytes;
use corekv_engine::error::CmdError;

/// How much of an unknown subcommand its error quotes (Redis's `%.128s`).
pub const SUBCOMMAND_QUOTE_BYTES_MAX: usize = 128;

/// A container command's subcommands, as its handler resolves them.
pub struct Subcommands {
    /// The container's registry id.
    pub id: usize,
    /// Each subcommand's lower-case name and its arity, counting the command
    /// and the subcommand (negative: at least).
    pub subs: Vec<(&'static str, i32)>,
}

/// The rows per-command statistics are kept in: one per registry command, then
/// one per subcommand of each container.
pub struct StatRows {
    /// Each row's name: the command's, or the subcommand's full name.
    names: Vec<&'static str>,
    /// Per registry id: the rows of its subcommands (empty: not a container).
    subs: Vec<Range<usize>>,
    /// Per row: a subcommand's arity, 0 for a command (the registry has its
    /// arity).
    arity: Vec<i32>,
    /// Per row: the command's registry flags (a subcommand's: none).
    flags: Vec<u32>,
}

impl StatRows {
    /// The rows of the registry's `commands` (name and flags, in id order) and
    /// of the subcommands of its `containers`.
    pub fn new(commands: &[(&'static str, u32)], containers: &[Subcommands]) -> StatRows {
        let mut names: Vec<&'static str> = commands.iter().map(|(n, _)| *n).collect();
        let mut flags: Vec<u32> = commands.iter().map(|(_, f)| *f).collect();
        let mut arity = vec![0; commands.len()];
        let mut subs = vec![0..0; commands.len()];
        for container in containers {
            let name = commands[container.id].0;
            assert!(subs[container.id].is_empty(), "{name} is listed twice");
            assert!(!container.subs.is_empty(), "{name} has no subcommands");
            let first = names.len();
            for &(sub, sub_arity) in &container.subs {
                assert_eq!(sub, sub.to_ascii_lowercase(), "{name} {sub}");
                let full = format!("{name}|{sub}");
                assert!(names.iter().all(|n| *n != full), "{full} is listed twice");
                // Once per process, as the registry is built.
                names.push(Box::leak(full.into_boxed_str()));
                arity.push(sub_arity);
            }
            subs[container.id] = first..names.len();
        }
        flags.resize(names.len(), 0);
        StatRows {
            names,
            subs,
            arity,
            flags,
        }
    }

    /// The row a call of registry command `id` with `args` counts in: its
    /// subcommand's for a container called with one, its own for a container
    /// called alone or any other command; `None` for a container called with a
    /// subcommand it does not have.
    pub fn resolve(&self, id: usize, args: &[Bytes]) -> Option<usize> {
        let rows = self.subs.get(id).filter(|r| !r.is_empty());
        let (Some(rows), Some(word)) = (rows, args.get(1)) else {
            return Some(id);
        };
        let sub_at = self.names[id].len() + 1;
        rows.clone()
            .find(|&row| self.names[row].as_bytes()[sub_at..].eq_ignore_ascii_case(word))
    }

    /// [`StatRows::resolve`], with a container's unknown subcommand counted as
    /// the container (where a handler answered it).
    pub fn of(&self, id: usize, args: &[Bytes]) -> usize {
        self.resolve(id, args).unwrap_or(id)
    }

    /// Redis's error for container `id` called with the unknown subcommand
    /// `word`: `ERR unknown subcommand 'x'. Try CONFIG HELP.`, the word cut at
    /// [`SUBCOMMAND_QUOTE_BYTES_MAX`] and kept on one line.
    pub fn unknown_subcommand(&self, id: usize, word: &[u8]) -> String {
        let quoted = &word[..word.len().min(SUBCOMMAND_QUOTE_BYTES_MAX)];
        let error = CmdError::UnknownSubcommand {
            sub: String::from_utf8_lossy(quoted).replace(['\r', '\n'], " "),
            cmd: self.names[id].to_ascii_uppercase(),
        };
        error.message()
    }

    /// The full names of registry command `id`'s subcommands, in its handler's
    /// order; none for a command that is not a container.
    pub fn subcommands(&self, id: usize) -> &[&'static str] {
        self.subs
            .get(id)
            .map_or(&[][..], |rows| &self.names[rows.clone()])
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
        if let Some(subs) = self.subs.get(row) {
            rows.extend(subs.clone());
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
}

static ROWS: OnceLock<StatRows> = OnceLock::new();

/// Numbers the statistics rows of the registry's commands (name and flags, in
/// id order) and of its containers' subcommands; the registry does, once, as
/// it is built.
pub fn install(commands: &[(&'static str, u32)], containers: &[Subcommands]) {
    ROWS.get_or_init(|| StatRows::new(commands, containers));
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

    /// `get`, a `config` with three subcommands, `set`.
    fn rows() -> StatRows {
        let config = Subcommands {
            id: 1,
            subs: vec![("get", -3), ("set", -4), ("help", 2)],
        };
        StatRows::new(&[("get", 2), ("config", 0), ("set", 1)], &[config])
    }

    #[test]
    fn containers_name_their_subcommand() {
        let rows = rows();
        let name = |id, words: &[&str]| rows.resolve(id, &args(words)).map(|r| rows.name(r));
        assert_eq!(name(1, &["CONFIG", "Get", "x"]), Some("config|get"));
        assert_eq!(name(1, &["config", "nope"]), None);
        assert_eq!(name(1, &["config"]), Some("config"));
        assert_eq!(name(0, &["get", "k"]), Some("get"));
        assert_eq!(
            rows.subcommands(1),
            ["config|get", "config|set", "config|help"]
        );
        assert!(rows.subcommands(0).is_empty());
    }

    #[test]
    fn containers_count_under_their_subcommands() {
        let rows = rows();
        assert!(rows.has(0, 2) && !rows.has(1, 2));
        assert_eq!(rows.named(b"config").len(), 1 + 3);
        assert_eq!(rows.len(), 3 + 3);
        assert_eq!(rows.of(0, &args(&["get", "k"])), 0);
        let set = rows.of(1, &args(&["CONFIG", "SET", "a", "b"]));
        assert_eq!(rows.name(set), "config|set");
        assert_eq!(rows.resolve(1, &args(&["config", "nope"])), None);
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
    fn unknown_subcommands_are_quoted_like_redis() {
        let rows = rows();
        assert_eq!(
            rows.unknown_subcommand(1, b"a\r\nb"),
            "ERR unknown subcommand 'a  b'. Try CONFIG HELP."
        );
        let long = rows.unknown_subcommand(1, &[b'x'; 200]);
        let quoted = "x".repeat(SUBCOMMAND_QUOTE_BYTES_MAX);
        assert_eq!(
            long,
            format!("ERR unknown subcommand '{quoted}'. Try CONFIG HELP.")
        );
    }
}
