//! The syntaxes of configuration values that are more than a number or a word:
//! memory amounts (`64mb`), `client-output-buffer-limit`'s `class hard soft
//! seconds` groups and `notify-keyspace-events`' class letters, with Redis's error
//! texts. [`super`] validates and stores them.

/// Longest run of digits Redis's `memtoull` takes (it copies them into a 128-byte
/// buffer with its terminating zero).
const MEMORY_DIGITS_MAX: usize = 127;

/// Parses a memory amount as Redis 7.0's `memtoull` does: digits (none reads as 0)
/// and an optional unit (`b`, `k`, `kb`, `m`, `mb`, `g`, `gb`, any case), nothing
/// else, not even blanks. As in C, a number past `u64::MAX` saturates and the unit's
/// product wraps, so `99999999999999999999gb` is accepted as Redis accepts it.
pub fn parse_memory(s: &str) -> Option<u64> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = s.split_at(digits);
    let mul: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" => 1_000,
        "kb" => 1 << 10,
        "m" => 1_000_000,
        "mb" => 1 << 20,
        "g" => 1_000_000_000,
        "gb" => 1 << 30,
        _ => return None,
    };
    if digits > MEMORY_DIGITS_MAX {
        return None;
    }
    let value = match number {
        "" => 0,
        digits => digits.parse().unwrap_or(u64::MAX),
    };
    Some(value.wrapping_mul(mul))
}

/// Parses an integer as Redis's `string2ll` does: an optional `-`, then digits
/// without a leading zero (`0` itself aside), nothing else (no `+`, no blanks).
pub fn parse_int(s: &str) -> Option<i64> {
    let (negative, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let canonical = match digits.as_bytes() {
        [b'0'] => !negative,
        [b'1'..=b'9', rest @ ..] => rest.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    canonical.then(|| s.parse().ok()).flatten()
}

/// The client classes `client-output-buffer-limit` sets limits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputClass {
    Normal = 0,
    /// The master's side of a replication stream (Redis's `slave`).
    Replica = 1,
    Pubsub = 2,
}

impl OutputClass {
    const ALL: [OutputClass; 3] = [
        OutputClass::Normal,
        OutputClass::Replica,
        OutputClass::Pubsub,
    ];

    /// The class's name as `CONFIG GET` prints it.
    fn name(self) -> &'static str {
        match self {
            OutputClass::Normal => "normal",
            OutputClass::Replica => "slave",
            OutputClass::Pubsub => "pubsub",
        }
    }

    /// A class name as Redis accepts it (`master` has no limit and is refused).
    fn parse(name: &str) -> Option<OutputClass> {
        match name.to_ascii_lowercase().as_str() {
            "normal" => Some(OutputClass::Normal),
            "slave" | "replica" => Some(OutputClass::Replica),
            "pubsub" => Some(OutputClass::Pubsub),
            _ => None,
        }
    }
}

/// One class's output-buffer limit; 0 disables a bound.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutputLimit {
    /// Pending output bytes at which a client is closed at once.
    pub hard_bytes: u64,
    /// Pending output bytes a client may stay at or above for `soft_seconds` only.
    pub soft_bytes: u64,
    pub soft_seconds: u64,
}

/// Parses `class hard soft seconds ...` over `current` (the classes not named keep
/// their limits), with Redis's error texts; returns the canonical value.
pub(super) fn merge_output_limits(current: &str, value: &str) -> Result<String, String> {
    let mut limits = parse_output_limits(current).unwrap_or_default();
    let words: Vec<&str> = value.split_whitespace().collect();
    if words.is_empty() || !words.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    let mut staged = Vec::new();
    for group in words.chunks(4) {
        let class = OutputClass::parse(group[0])
            .ok_or("Invalid client class specified in buffer limit configuration.")?;
        let bad = || "Error in hard, soft or soft_seconds setting in buffer limit configuration.";
        let limit = OutputLimit {
            hard_bytes: parse_memory(group[1]).ok_or_else(bad)?,
            soft_bytes: parse_memory(group[2]).ok_or_else(bad)?,
            soft_seconds: group[3].parse().map_err(|_| bad())?,
        };
        staged.push((class, limit));
    }
    for (class, limit) in staged {
        limits[class as usize] = limit;
    }
    Ok(OutputClass::ALL
        .iter()
        .zip(limits)
        .map(|(c, l)| {
            format!(
                "{} {} {} {}",
                c.name(),
                l.hard_bytes,
                l.soft_bytes,
                l.soft_seconds
            )
        })
        .collect::<Vec<_>>()
        .join(" "))
}

/// Reads a canonical `client-output-buffer-limit` value.
pub(super) fn parse_output_limits(value: &str) -> Option<[OutputLimit; 3]> {
    let mut limits = [OutputLimit::default(); 3];
    for group in value.split_whitespace().collect::<Vec<_>>().chunks(4) {
        let [class, hard, soft, seconds] = group else {
            return None;
        };
        limits[OutputClass::parse(class)? as usize] = OutputLimit {
            hard_bytes: hard.parse().ok()?,
            soft_bytes: soft.parse().ok()?,
            soft_seconds: seconds.parse().ok()?,
        };
    }
    Some(limits)
}

/// The keyspace-notification classes (Redis's `NOTIFY_*` bits).
pub mod notify {
    /// `K`: publish on `__keyspace@<db>__:<key>`.
    pub const KEYSPACE: u32 = 1 << 0;
    /// `E`: publish on `__keyevent@<db>__:<event>`.
    pub const KEYEVENT: u32 = 1 << 1;
    pub const GENERIC: u32 = 1 << 2;
    pub const STRING: u32 = 1 << 3;
    pub const LIST: u32 = 1 << 4;
    pub const SET: u32 = 1 << 5;
    pub const HASH: u32 = 1 << 6;
    pub const ZSET: u32 = 1 << 7;
    pub const EXPIRED: u32 = 1 << 8;
    pub const EVICTED: u32 = 1 << 9;
    pub const STREAM: u32 = 1 << 10;
    /// `m`: not part of `A`.
    pub const KEY_MISS: u32 = 1 << 11;
    pub const MODULE: u32 = 1 << 13;
    /// `n`: not part of `A`.
    pub const NEW: u32 = 1 << 14;
    /// `A`.
    pub const ALL: u32 =
        GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;
    /// The class letters in the order Redis prints them, `A`'s members first.
    pub(super) const LETTERS: [(u8, u32); 14] = [
        (b'g', GENERIC),
        (b'$', STRING),
        (b'l', LIST),
        (b's', SET),
        (b'h', HASH),
        (b'z', ZSET),
        (b'x', EXPIRED),
        (b'e', EVICTED),
        (b't', STREAM),
        (b'd', MODULE),
        (b'n', NEW),
        (b'K', KEYSPACE),
        (b'E', KEYEVENT),
        (b'm', KEY_MISS),
    ];
}

/// Redis's `keyspaceEventsStringToFlags`: `None` on a letter it does not know.
pub fn keyspace_events_flags(classes: &str) -> Option<u32> {
    classes.bytes().try_fold(0, |flags, c| match c {
        b'A' => Some(flags | notify::ALL),
        c => notify::LETTERS
            .iter()
            .find(|(l, _)| *l == c)
            .map(|(_, bit)| flags | bit),
    })
}

/// Redis's `keyspaceEventsFlagsToString`: `A` for all of its classes, then `K`,
/// `E`, `m`.
pub fn keyspace_events_string(flags: u32) -> String {
    let all = flags & notify::ALL == notify::ALL;
    let mut out = String::new();
    if all {
        out.push('A');
    }
    for (letter, bit) in notify::LETTERS {
        let in_a = notify::ALL & bit != 0 || bit == notify::NEW;
        if flags & bit != 0 && !(all && in_a) {
            out.push(letter as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyspace_events_print_as_redis_does() {
        for (set, shown) in [
            ("An", "A"),
            ("AKE", "AKE"),
            ("Kx", "xK"),
            ("gE", "gE"),
            ("$lshzxetdnKEm", "$lshzxetdnKEm"),
            ("Elg", "glE"),
            ("", ""),
        ] {
            let flags = keyspace_events_flags(set).expect("valid");
            assert_eq!(keyspace_events_string(flags), shown, "{set}");
        }
        assert_eq!(keyspace_events_flags("bad!"), None);
    }

    #[test]
    fn memory_and_integers_parse_as_redis_does() {
        for (text, want) in [
            ("", Some(0)),
            ("gb", Some(0)),
            ("100", Some(100)),
            ("5mB", Some(5 << 20)),
            ("1k", Some(1_000)),
            ("00012", Some(12)),
            ("99999999999999999999", Some(u64::MAX)),
            ("99999999999999999999gb", Some(18_446_744_072_635_809_792)),
            ("17179869184gb", Some(0)),
            ("-1", None),
            ("+5", None),
            ("1.5gb", None),
            (" 100", None),
            ("100 ", None),
            ("0x10", None),
        ] {
            assert_eq!(parse_memory(text), want, "{text:?}");
        }
        assert_eq!(parse_memory(&"9".repeat(MEMORY_DIGITS_MAX + 1)), None);
        for (text, want) in [
            ("0", Some(0)),
            ("-12", Some(-12)),
            ("9223372036854775807", Some(i64::MAX)),
            ("9223372036854775808", None),
            ("-0", None),
            ("007", None),
            ("+5", None),
            (" 5", None),
            ("5.0", None),
            ("", None),
            ("-", None),
        ] {
            assert_eq!(parse_int(text), want, "{text:?}");
        }
    }
}
