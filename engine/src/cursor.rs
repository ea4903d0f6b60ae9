//! One way to read a command's arguments: a cursor that takes them in order, converts
//! them with Redis's rules and error texts, and ends with [`ArgCursor::finish`], which
//! rejects leftovers. Handlers never index into the argument slice by hand.

use bytes::Bytes;

use crate::error::{CmdError, CmdResult};
use crate::resp::{parse_f64, parse_i64};

pub struct ArgCursor<'a> {
    args: &'a [Bytes],
    pos: usize,
}

impl<'a> ArgCursor<'a> {
    /// A cursor over `args`, positioned after the command name.
    pub fn new(args: &'a [Bytes]) -> Self {
        debug_assert!(!args.is_empty());
        ArgCursor { args, pos: 1 }
    }

    pub fn remaining(&self) -> usize {
        self.args.len() - self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The next argument, if any.
    pub fn next_opt(&mut self) -> Option<&'a Bytes> {
        let a = self.args.get(self.pos)?;
        self.pos += 1;
        Some(a)
    }

    /// The next argument; a syntax error if there is none.
    pub fn arg(&mut self) -> CmdResult<&'a Bytes> {
        self.next_opt().ok_or(CmdError::Syntax)
    }

    /// The rest of the arguments.
    pub fn rest(&mut self) -> &'a [Bytes] {
        let r = &self.args[self.pos..];
        self.pos = self.args.len();
        r
    }

    pub fn next_i64(&mut self) -> CmdResult<i64> {
        parse_i64(self.arg()?).ok_or(CmdError::NotInteger)
    }

    pub fn next_f64(&mut self) -> CmdResult<f64> {
        parse_f64(self.arg()?).ok_or(CmdError::NotFloat)
    }

    /// Consumes the next argument if it equals `word` ignoring ASCII case.
    pub fn eat(&mut self, word: &str) -> bool {
        match self.args.get(self.pos) {
            Some(a) if a.eq_ignore_ascii_case(word.as_bytes()) => {
                self.pos += 1;
                true
            }
            _ => false,
        }
    }

    /// The next argument as an upper-case ASCII word, for option matching.
    pub fn next_word(&mut self) -> Option<String> {
        self.next_opt()
            .map(|a| String::from_utf8_lossy(a).to_ascii_uppercase())
    }

    /// Every argument was consumed; otherwise a syntax error.
    pub fn finish(&self) -> CmdResult<()> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(CmdError::Syntax)
        }
    }
}

/// Reads a `SCAN`-family cursor as Redis 7.0 does (`strtoul` in base 10, no leading
/// blank, nothing after the digits, no overflow): a sign is allowed and a negative
/// value wraps (`-1` is `2^64 - 1`), and the empty string is cursor 0.
pub fn parse_scan_cursor(s: &[u8]) -> Option<u64> {
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, s),
    };
    if digits.is_empty() {
        // `strtoul` converts nothing; only an empty argument has nothing left over.
        return s.is_empty().then_some(0);
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(if negative { v.wrapping_neg() } else { v })
}

#[cfg(test)]
mod tests {
    use super::parse_scan_cursor as p;

    #[test]
    fn scan_cursors_parse_as_strtoul() {
        assert_eq!(p(b""), Some(0));
        assert_eq!(p(b"-1"), Some(u64::MAX));
        assert_eq!(p(b"+5"), Some(5));
        assert_eq!(p(b"-0"), Some(0));
        assert_eq!(p(b"007"), Some(7));
        assert_eq!(p(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(p(b"-18446744073709551615"), Some(1));
        assert_eq!(p(b"18446744073709551616"), None);
        assert_eq!(p(b"-18446744073709551616"), None);
        for bad in [&b" 1"[..], b"1 ", b"0x1", b"+", b"-", b"1.0"] {
            assert_eq!(p(bad), None, "{bad:?}");
        }
    }
}
