//! Ranges of a sorted set by rank, by score and by member (lex), as the `ZRANGE`
//! family, `ZCOUNT`, `ZLEXCOUNT` and `ZREMRANGEBY*` name them, with Redis 7.0's
//! parsing (`zslParseRange`, `zslParseLexRange`) and errors. A range resolves to
//! a [`Span`]: ranks in the order of iteration, so every encoding walks it the same
//! way ([`crate::collections::Zset::walk`]).

use super::zset_float::parse_bound;
pub use super::zset_float::parse_score;
use crate::collections::Zset;
use crate::error::{CmdError, CmdResult};

/// A score range: `min`/`max` and whether each is exclusive (`(`).
#[derive(Debug, Clone, Copy)]
pub struct ScoreRange {
    min: f64,
    min_ex: bool,
    max: f64,
    max_ex: bool,
}

fn score_bound(arg: &[u8]) -> Option<(f64, bool)> {
    match arg.strip_prefix(b"(") {
        Some(rest) => parse_bound(rest).map(|v| (v, true)),
        None => parse_bound(arg).map(|v| (v, false)),
    }
}

impl ScoreRange {
    pub fn parse(min: &[u8], max: &[u8]) -> CmdResult<Self> {
        let err = || CmdError::Raw("ERR min or max is not a float".into());
        let (min, min_ex) = score_bound(min).ok_or_else(err)?;
        let (max, max_ex) = score_bound(max).ok_or_else(err)?;
        Ok(ScoreRange {
            min,
            min_ex,
            max,
            max_ex,
        })
    }

    fn is_empty(&self) -> bool {
        self.min > self.max || (self.min == self.max && (self.min_ex || self.max_ex))
    }

    fn below(&self, score: f64) -> bool {
        score < self.min || (self.min_ex && score == self.min)
    }

    fn not_above(&self, score: f64) -> bool {
        score < self.max || (!self.max_ex && score == self.max)
    }

    /// Ascending ranks `lo..hi` of the entries in range.
    pub fn ranks(&self, z: &Zset) -> (usize, usize) {
        if self.is_empty() {
            return (0, 0);
        }
        let lo = z.count_before(|s, _| self.below(s));
        let hi = z.count_before(|s, _| self.not_above(s));
        (lo, hi.max(lo))
    }
}

/// One end of a lex range.
#[derive(Debug, Clone)]
enum LexBound {
    /// `-`
    Least,
    /// `+`
    Greatest,
    Incl(Vec<u8>),
    Excl(Vec<u8>),
}

fn lex_bound(arg: &[u8]) -> Option<LexBound> {
    match arg.split_first() {
        Some((b'-', [])) => Some(LexBound::Least),
        Some((b'+', [])) => Some(LexBound::Greatest),
        Some((b'[', rest)) => Some(LexBound::Incl(rest.to_vec())),
        Some((b'(', rest)) => Some(LexBound::Excl(rest.to_vec())),
        _ => None,
    }
}

/// A member range (`[a`, `(a`, `-`, `+`), for sets whose scores are all equal.
#[derive(Debug, Clone)]
pub struct LexRange {
    min: LexBound,
    max: LexBound,
}

impl LexRange {
    pub fn parse(min: &[u8], max: &[u8]) -> CmdResult<Self> {
        let err = || CmdError::Raw("ERR min or max not valid string range item".into());
        Ok(LexRange {
            min: lex_bound(min).ok_or_else(err)?,
            max: lex_bound(max).ok_or_else(err)?,
        })
    }

    fn is_empty(&self) -> bool {
        use LexBound::*;
        match (&self.min, &self.max) {
            (Greatest, _) | (_, Least) => true,
            (Least, _) | (_, Greatest) => false,
            (Incl(a), Incl(b)) => a > b,
            (Incl(a) | Excl(a), Incl(b) | Excl(b)) => a >= b,
        }
    }

    fn below(&self, m: &[u8]) -> bool {
        match &self.min {
            LexBound::Least => false,
            LexBound::Greatest => true,
            LexBound::Incl(x) => m < x.as_slice(),
            LexBound::Excl(x) => m <= x.as_slice(),
        }
    }

    fn not_above(&self, m: &[u8]) -> bool {
        match &self.max {
            LexBound::Least => false,
            LexBound::Greatest => true,
            LexBound::Incl(x) => m <= x.as_slice(),
            LexBound::Excl(x) => m < x.as_slice(),
        }
    }

    /// Ascending ranks `lo..hi` of the entries in range.
    pub fn ranks(&self, z: &Zset) -> (usize, usize) {
        if self.is_empty() {
            return (0, 0);
        }
        let lo = z.count_before(|_, m| self.below(m));
        let hi = z.count_before(|_, m| self.not_above(m));
        (lo, hi.max(lo))
    }
}

/// What a range selects: `len` entries from rank `start`, ranks counted from the
/// top and walked downwards when `rev`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub len: usize,
    pub rev: bool,
}

impl Span {
    pub const EMPTY: Span = Span {
        start: 0,
        len: 0,
        rev: false,
    };

    /// `start..=stop` by rank (negative: from the end), as `ZRANGE` clamps it.
    pub fn by_rank(len: usize, start: i64, stop: i64, rev: bool) -> Span {
        let n = len as i64;
        let start = if start < 0 { (start + n).max(0) } else { start };
        let stop = if stop < 0 { stop + n } else { stop.min(n - 1) };
        if start > stop || start >= n {
            return Span::EMPTY;
        }
        Span {
            start: start as usize,
            len: (stop - start + 1) as usize,
            rev,
        }
    }

    /// Ascending ranks `lo..hi` walked in the direction `rev` says, then `LIMIT
    /// offset count` (a negative offset selects nothing, a negative count no limit).
    pub fn by_ranks(total: usize, (lo, hi): (usize, usize), rev: bool, limit: Limit) -> Span {
        let start = if rev { total - hi } else { lo };
        let Ok(offset) = usize::try_from(limit.offset) else {
            return Span::EMPTY;
        };
        let len = (hi - lo).saturating_sub(offset);
        let len = match usize::try_from(limit.count) {
            Ok(count) => len.min(count),
            Err(_) => len,
        };
        Span {
            start: start + offset.min(hi - lo),
            len,
            rev,
        }
    }

    /// The selected entries, in order.
    pub fn entries(&self, z: &Zset) -> Vec<(Vec<u8>, f64)> {
        let mut out = Vec::with_capacity(self.len.min(z.len()));
        if self.len > 0 {
            z.walk(self.start, self.rev, |m, s| {
                out.push((m.to_vec(), s));
                out.len() < self.len
            });
        }
        out
    }
}

/// `LIMIT offset count`: no limit is offset 0, count -1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub offset: i64,
    pub count: i64,
}

impl Limit {
    pub const NONE: Limit = Limit {
        offset: 0,
        count: -1,
    };
}
