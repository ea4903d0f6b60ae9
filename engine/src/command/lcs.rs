//! `LCS key1 key2 [LEN] [IDX] [MINMATCHLEN n] [WITHMATCHLEN]`: the longest common
//! subsequence of two strings, as Redis 7.0's `lcsCommand` (`t_string.c`) computes
//! and reports it: the subsequence, its length, or the matching ranges (last first)
//! with the length.
//!
//! The keys may live on different shards, so the command is [`Parts`]: each shard
//! reads the keys it owns under the transaction (a hit or miss counted, a non-string
//! refused with Redis's text) and the merge computes the table over both strings.
//! The table takes `(len1 + 1) * (len2 + 1)` 32-bit cells; like Redis, the command
//! refuses when that exceeds `proto-max-bulk-len`, so the memory a request can take
//! is bounded by configuration. The merge does not see the configuration, so each
//! read piece carries its shard's limit after its values.

use bytes::Bytes;

use super::flags::*;
use super::parts::{MergeArgs, PartReply, Parts, Piece, ShardArgs, Split};
use super::{range, row, CommandSpec, KeySpec, Route};
use crate::command::Ctx;
use crate::cursor::ArgCursor;
use crate::error::{CmdError, CmdResult};
use crate::resp::{parse_i64, Reply, ReplyBuf};

const NOT_STRINGS: &str = "ERR The specified keys must contain string values";
const LEN_AND_IDX: &str = "ERR If you want both the length and indexes, please just use IDX.";
const TOO_LONG: &str = "ERR String too long for LCS";
const TABLE_TOO_LARGE: &str =
    "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len";
/// Longest string Redis accepts (its indexes are 32-bit).
const LCS_STRING_MAX_BYTES: usize = u32::MAX as usize - 1;
/// Bytes per table cell.
const CELL_BYTES: u64 = 4;

/// The two keys' positions.
const KEY_A: usize = 1;
const KEY_B: usize = 2;
const FIRST_OPTION: usize = 3;

/// The strings this shard owns among the keys (`None`: missing), then this shard's
/// `proto-max-bulk-len` in decimal.
fn lcs_read(ctx: &mut Ctx, s: &ShardArgs) -> CmdResult<PartReply> {
    let (now, db) = (ctx.now_ms, ctx.db);
    let mut values = Vec::with_capacity(s.keys.len() + 1);
    for key in s.keys() {
        let value = match ctx.ks.find_read(db, key, now) {
            None => None,
            Some(entry) => match entry.value.as_str() {
                Some(v) => Some(v.to_vec()),
                None => return Err(CmdError::Raw(NOT_STRINGS.into())),
            },
        };
        values.push(value);
    }
    let limit = itoa::Buffer::new()
        .format(ctx.string_max_bytes)
        .as_bytes()
        .to_vec();
    values.push(Some(limit));
    Ok(PartReply::Values(values))
}

/// The options after the keys.
#[derive(Debug, Default)]
struct Options {
    len: bool,
    idx: bool,
    with_match_len: bool,
    min_match_len: u64,
}

fn parse_options(args: &[Bytes]) -> CmdResult<Options> {
    let mut o = Options::default();
    let mut c = ArgCursor::new(&args[FIRST_OPTION - 1..]);
    while let Some(opt) = c.next_opt() {
        if opt.eq_ignore_ascii_case(b"IDX") {
            o.idx = true;
        } else if opt.eq_ignore_ascii_case(b"LEN") {
            o.len = true;
        } else if opt.eq_ignore_ascii_case(b"WITHMATCHLEN") {
            o.with_match_len = true;
        } else if opt.eq_ignore_ascii_case(b"MINMATCHLEN") && !c.is_empty() {
            o.min_match_len = c.next_i64()?.max(0) as u64;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    if o.idx && o.len {
        return Err(CmdError::Raw(LEN_AND_IDX.into()));
    }
    Ok(o)
}

/// One matching range: `a[a0..=a1]` equals `b[b0..=b1]`.
struct Match {
    a: (usize, usize),
    b: (usize, usize),
}

/// The table of LCS lengths of every pair of prefixes, `(a.len() + 1)` rows of
/// `(b.len() + 1)`.
fn table(a: &[u8], b: &[u8]) -> Vec<u32> {
    let cols = b.len() + 1;
    let mut t = vec![0u32; (a.len() + 1) * cols];
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            t[i * cols + j] = if a[i - 1] == b[j - 1] {
                t[(i - 1) * cols + j - 1] + 1
            } else {
                t[(i - 1) * cols + j].max(t[i * cols + j - 1])
            };
        }
    }
    t
}

/// Walks the table back from the end, as Redis does: the subsequence, and the
/// ranges of contiguous matches at least `min_len` long, last first.
fn walk(a: &[u8], b: &[u8], t: &[u32], min_len: u64) -> (Vec<u8>, Vec<Match>) {
    let cols = b.len() + 1;
    let mut idx = t[a.len() * cols + b.len()] as usize;
    let mut lcs = vec![0u8; idx];
    let mut matches = Vec::new();
    let mut current: Option<Match> = None;
    let (mut i, mut j) = (a.len(), b.len());
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            lcs[idx - 1] = a[i - 1];
            match &mut current {
                None => {
                    current = Some(Match {
                        a: (i - 1, i - 1),
                        b: (j - 1, j - 1),
                    })
                }
                Some(m) if m.a.0 == i && m.b.0 == j => {
                    m.a.0 -= 1;
                    m.b.0 -= 1;
                }
                Some(_) => emit = true,
            }
            if current.as_ref().is_some_and(|m| m.a.0 == 0 || m.b.0 == 0) {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if t[(i - 1) * cols + j] > t[i * cols + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            emit = current.is_some();
        }
        if emit {
            let m = current.take().expect("a range to emit");
            if (m.a.1 - m.a.0 + 1) as u64 >= min_len {
                matches.push(m);
            }
        }
    }
    (lcs, matches)
}

fn lcs_merge(m: &MergeArgs, pieces: &[Piece], out: &mut ReplyBuf) {
    if let Err(e) = lcs_reply(m.args, pieces, out) {
        out.error(&e.message());
    }
}

fn lcs_reply(args: &[Bytes], pieces: &[Piece], out: &mut ReplyBuf) -> CmdResult {
    let mut strings: [&[u8]; 3] = [&[]; 3];
    let mut limit = usize::MAX;
    for piece in pieces {
        if let PartReply::Values(v) = &piece.reply {
            for (&i, value) in piece.keys.iter().zip(v) {
                strings[i] = value.as_deref().unwrap_or_default();
            }
            let own = v.last().and_then(|l| parse_i64(l.as_deref()?));
            limit = limit.min(own.map_or(usize::MAX, |l| l as usize));
        }
    }
    let (a, b) = (strings[KEY_A], strings[KEY_B]);
    let o = parse_options(args)?;
    if a.len() >= LCS_STRING_MAX_BYTES || b.len() >= LCS_STRING_MAX_BYTES {
        return Err(CmdError::Raw(TOO_LONG.into()));
    }
    let cells = (a.len() as u64 + 1) * (b.len() as u64 + 1);
    if cells.saturating_mul(CELL_BYTES) > limit as u64 {
        return Err(CmdError::Raw(TABLE_TOO_LARGE.into()));
    }
    let t = table(a, b);
    let len = t[t.len() - 1] as i64;
    if o.len {
        out.int(len);
        return Ok(());
    }
    let (lcs, matches) = walk(a, b, &t, o.min_match_len);
    if !o.idx {
        out.bulk(&lcs);
        return Ok(());
    }
    out.map(2);
    out.bulk(b"matches");
    out.array(matches.len());
    for m in &matches {
        out.array(2 + o.with_match_len as usize);
        for (start, end) in [m.a, m.b] {
            out.array(2);
            out.int(start as i64);
            out.int(end as i64);
        }
        if o.with_match_len {
            out.int((m.a.1 - m.a.0 + 1) as i64);
        }
    }
    out.bulk(b"len");
    out.int(len);
    Ok(())
}

pub static LCS: Parts = Parts {
    split: Split::Keys,
    check: None,
    read: Some(lcs_read),
    plan: None,
    write: None,
    always_writes: false,
    merge: lcs_merge,
};

/// `LCS key1 key2 ...`: the first two arguments are keys.
const LCS_KEYS: KeySpec = range(1, 2, 1);

pub const COMMANDS: &[CommandSpec] = &[row(
    "lcs",
    -3,
    READONLY,
    LCS_KEYS,
    "string",
    "Finds the longest common substring.",
    Route::Parts(&LCS),
)];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_walk_gives_redis_s_ranges_last_first() {
        let (a, b) = (b"ohmytext", b"mynewtext");
        let t = table(a, b);
        let (lcs, matches) = walk(a, b, &t, 0);
        assert_eq!(lcs, b"mytext");
        let ranges: Vec<_> = matches.iter().map(|m| (m.a, m.b)).collect();
        assert_eq!(ranges, [((4, 7), (5, 8)), ((2, 3), (0, 1))]);
        assert_eq!(walk(a, b, &t, 3).1.len(), 1);
    }
}
