//! Key specs: where a command's keys are among its arguments.
//!
//! Routing (which shards a command touches), snapshot copy-on-write and journaling
//! all read a command's keys from its row, so a wrong key list is a durability bug.
//! Three shapes cover Redis's commands (Valkey's `key_specs`, Dragonfly's
//! `KeyIndex` with its `bonus` key):
//! - [`KeySpec::Range`]: every `step`-th argument from `first` to `last` (`MSET`);
//! - [`KeySpec::KeyNum`]: a key count, the keys after it, and maybe one fixed key
//!   (`ZUNIONSTORE dest numkeys k…`, `EVAL script numkeys k…`, `LMPOP numkeys k…`);
//! - [`KeySpec::Custom`]: a function of the arguments (`SORT … STORE dst`).
//!
//! Each resolves, for one call, to a [`KeyIndex`]: a range plus an optional bonus
//! position, iterated without allocating.

use bytes::Bytes;

use crate::resp::parse_i64;

/// Where a command's key arguments are. Positions count the command name as 0.
#[derive(Debug, Clone, Copy)]
pub enum KeySpec {
    /// No key arguments.
    None,
    /// Every `step`-th argument from `first` to `last`; a negative `last` counts
    /// from the end (`-1` is the last argument).
    Range { first: i32, last: i32, step: i32 },
    /// The argument at `numkeys_at` counts the keys that follow it, `step` apart;
    /// `fixed` is one more key at a fixed position (a destination).
    KeyNum {
        numkeys_at: usize,
        step: usize,
        fixed: Option<usize>,
    },
    /// Key positions computed from the arguments.
    Custom(fn(&[Bytes]) -> KeyIndex),
}

/// The key positions of one call: `start..end` every `step`, plus `bonus`,
/// yielded in argument order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyIndex {
    pub start: usize,
    pub end: usize,
    pub step: usize,
    pub bonus: Option<usize>,
}

impl KeyIndex {
    /// No keys.
    pub const EMPTY: KeyIndex = KeyIndex {
        start: 0,
        end: 0,
        step: 1,
        bonus: None,
    };

    /// The positions, in argument order.
    pub fn iter(self) -> impl Iterator<Item = usize> + Clone {
        let before = self.bonus.filter(|&b| b < self.start);
        let after = self.bonus.filter(|&b| b >= self.start);
        before
            .into_iter()
            .chain((self.start..self.end).step_by(self.step.max(1)))
            .chain(after)
    }

    pub fn is_empty(self) -> bool {
        self.start >= self.end && self.bonus.is_none()
    }
}

impl KeySpec {
    /// The key positions in `args` (which include the name).
    pub fn resolve(&self, args: &[Bytes]) -> KeyIndex {
        let argc = args.len();
        match *self {
            KeySpec::None => KeyIndex::EMPTY,
            KeySpec::Range { first, last, step } => {
                let first = first.max(0) as usize;
                let last = if last < 0 {
                    (argc as i32 + last).max(0) as usize
                } else {
                    (last as usize).min(argc.saturating_sub(1))
                };
                if first == 0 || first >= argc {
                    return KeyIndex::EMPTY;
                }
                KeyIndex {
                    start: first,
                    end: last + 1,
                    step: step.max(1) as usize,
                    bonus: None,
                }
            }
            KeySpec::KeyNum {
                numkeys_at,
                step,
                fixed,
            } => {
                let count = args
                    .get(numkeys_at)
                    .and_then(|a| parse_i64(a))
                    .filter(|&n| n >= 0)
                    .map(|n| n as usize);
                let start = numkeys_at + 1;
                let step = step.max(1);
                match count {
                    Some(n) if n > 0 && start + (n - 1) * step < argc => KeyIndex {
                        start,
                        end: start + (n - 1) * step + 1,
                        step,
                        bonus: fixed.filter(|&f| f < argc),
                    },
                    _ => KeyIndex::EMPTY,
                }
            }
            KeySpec::Custom(keys) => keys(args),
        }
    }

    /// The legacy `(first, last, step)` triple `COMMAND INFO` shows: the range
    /// itself, or for movable keys the fixed key alone, as Redis does.
    pub const fn legacy(&self) -> (i32, i32, i32) {
        match *self {
            KeySpec::None => (0, 0, 0),
            // Every computed spec here (SORT, GEORADIUS[BYMEMBER]) starts with its
            // key at 1, and Redis's triple names that key alone.
            KeySpec::Custom(_) => (1, 1, 1),
            KeySpec::Range { first, last, step } => (first, last, step),
            KeySpec::KeyNum { fixed: Some(f), .. } => (f as i32, f as i32, 1),
            KeySpec::KeyNum { fixed: None, .. } => (0, 0, 0),
        }
    }
}

/// `SORT key [BY p] [LIMIT off count] [GET p ...] [ASC|DESC] [ALPHA] [STORE dst]`:
/// the key, and the last `STORE` destination (Redis's `sortGetKeys`).
pub fn sort_keys(args: &[Bytes]) -> KeyIndex {
    /// Options of `SORT` and how many arguments each takes.
    const SORT_OPTIONS: &[(&str, usize)] = &[
        ("LIMIT", 2),
        ("GET", 1),
        ("BY", 1),
        ("STORE", 1),
        ("ASC", 0),
        ("DESC", 0),
        ("ALPHA", 0),
    ];
    if args.len() < 2 {
        return KeyIndex::EMPTY;
    }
    let mut bonus = None;
    let mut i = 2;
    while i < args.len() {
        let skip = SORT_OPTIONS
            .iter()
            .find(|(name, _)| args[i].eq_ignore_ascii_case(name.as_bytes()))
            .map_or(0, |&(_, n)| n);
        if args[i].eq_ignore_ascii_case(b"STORE") && i + 1 < args.len() {
            bonus = Some(i + 1);
        }
        i += 1 + skip;
    }
    KeyIndex {
        start: 1,
        end: 2,
        step: 1,
        bonus,
    }
}

/// `SORT_RO key ...`: the key alone. Its `BY` and `GET` patterns name keys only
/// the sorted values know, so Redis computes its keys (`sortROGetKeys`), which
/// makes them movable.
pub fn sort_ro_keys(args: &[Bytes]) -> KeyIndex {
    if args.len() < 2 {
        return KeyIndex::EMPTY;
    }
    KeyIndex {
        start: 1,
        end: 2,
        step: 1,
        bonus: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The keys `spec` finds in `cmd` (words split on spaces).
    fn keys(spec: KeySpec, cmd: &str) -> Vec<String> {
        let args: Vec<Bytes> = cmd
            .split(' ')
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect();
        spec.resolve(&args)
            .iter()
            .map(|i| String::from_utf8_lossy(&args[i]).into_owned())
            .collect()
    }

    // Expected lists are what redis-server 7.0 answers to `COMMAND GETKEYS <cmd>`
    // (an error or an empty answer is written as no keys).

    #[test]
    fn key_count_specs_match_redis() {
        let zunionstore = KeySpec::KeyNum {
            numkeys_at: 2,
            step: 1,
            fixed: Some(1),
        };
        assert_eq!(
            keys(zunionstore, "zunionstore d 2 a b WEIGHTS 1 2"),
            ["d", "a", "b"]
        );
        assert!(keys(zunionstore, "zunionstore d 5 a b").is_empty());
        assert!(keys(zunionstore, "zinterstore d 0 a").is_empty());
        let eval = KeySpec::KeyNum {
            numkeys_at: 2,
            step: 1,
            fixed: None,
        };
        assert_eq!(keys(eval, "eval s 2 k1 k2 a1"), ["k1", "k2"]);
        assert!(keys(eval, "eval s 0").is_empty());
        let lmpop = KeySpec::KeyNum {
            numkeys_at: 1,
            step: 1,
            fixed: None,
        };
        assert_eq!(keys(lmpop, "lmpop 2 l1 l2 LEFT COUNT 3"), ["l1", "l2"]);
    }

    #[test]
    fn sort_keys_match_redis() {
        let sort = KeySpec::Custom(sort_keys);
        assert_eq!(
            keys(sort, "sort k BY p LIMIT 0 1 GET g STORE dst"),
            ["k", "dst"]
        );
        assert_eq!(keys(sort, "sort k STORE dst ALPHA"), ["k", "dst"]);
        assert_eq!(keys(sort, "sort k"), ["k"]);
        assert_eq!(keys(sort, "sort k LIMIT 0 STORE"), ["k"]);
        assert_eq!(keys(sort, "sort k STORE a STORE b"), ["k", "b"]);
    }

    #[test]
    fn range_specs_match_redis() {
        let every = KeySpec::Range {
            first: 1,
            last: -1,
            step: 1,
        };
        let pairs = KeySpec::Range {
            first: 1,
            last: -1,
            step: 2,
        };
        assert_eq!(keys(pairs, "mset a 1 b 2"), ["a", "b"]);
        assert_eq!(keys(every, "mget a b c"), ["a", "b", "c"]);
        let bitop = KeySpec::Range {
            first: 2,
            last: -1,
            step: 1,
        };
        assert_eq!(keys(bitop, "bitop and d s1 s2"), ["d", "s1", "s2"]);
        let object = KeySpec::Range {
            first: 2,
            last: 2,
            step: 1,
        };
        assert_eq!(keys(object, "object encoding k"), ["k"]);
        assert!(keys(object, "object help").is_empty());
    }

    #[test]
    fn legacy_triples_match_command_info() {
        // `COMMAND INFO zunionstore` shows 1 1 1: its fixed destination key.
        let zunionstore = KeySpec::KeyNum {
            numkeys_at: 2,
            step: 1,
            fixed: Some(1),
        };
        assert_eq!(zunionstore.legacy(), (1, 1, 1));
        assert_eq!(KeySpec::None.legacy(), (0, 0, 0));
    }
}
