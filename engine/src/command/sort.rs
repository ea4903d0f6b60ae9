//! `SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC] [ALPHA]
//! [STORE destination]` and `SORT_RO`, step by step as Redis 7.0's `sortCommandGeneric`
//! (`sort.c`) runs them: the same option parsing, `LIMIT` clamping, `BY` without `*`
//! keeping the native order of lists and sorted sets (a set sorted as `ALPHA` when
//! stored), numeric keys read as `strtod` reads them, ties broken by the element's
//! bytes, and Redis's replies and errors.
//!
//! A pattern names keys by the elements (`weight_*`, `obj_*->field`), which may live
//! on any shard and are only known once the source is read, so the command is
//! [`Parts`] split as [`Split::Lookup`]: when a `BY` or `GET` pattern needs lookups,
//! every shard takes part and stays locked; the first read round returns the source
//! (on its shard), the second carries its elements to every shard, and each answers
//! the pattern values it holds. The plan then sorts and replies, or returns the
//! result as the `STORE` destination's new list, written on the destination's shard
//! in the same transaction. Without patterns only the source and destination shards
//! take part. Lookups do not count keyspace hits or misses: every shard probes every
//! substituted key, and only the owner finds it. A cluster deployment would refuse
//! patterns as Redis Cluster does (`BY`/`GET option of SORT denied in Cluster mode`);
//! this server has one keyspace, so it accepts them on any shard.
//!
//! One difference: Redis 7.0 converts a `listpack` sorted set it sorts to a
//! `skiplist` for good (`OBJECT ENCODING` then says so, even after `SORT_RO`); here
//! the source is only read and keeps its encoding.

use std::cmp::Ordering;

use bytes::Bytes;

use super::flags::*;
use super::keyspec::sort_keys;
use super::parts::{merge, PartReply, Parts, Piece, ShardArgs, Split, Write};
use super::zset_float::parse_score;
use super::{row, CommandSpec, KeySpec, Route};
use crate::collections::{List, ListLimits};
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};
use crate::keyspace::{Entry, NO_EXPIRE};
use crate::resp::{parse_i64, Reply, ReplyBuf};
use crate::value::Value;

const SCORES_NOT_DOUBLES: &str = "ERR One or more scores can't be converted into double";

/// The source key's position.
const SOURCE: usize = 1;
/// Where the options start.
const FIRST_OPTION: usize = 2;
/// `GET #`: the element itself.
const GET_ELEMENT: &[u8] = b"#";
/// A hash field dereference in a pattern, after its `*`.
const FIELD_ARROW: &[u8] = b"->";

/// The type tags the first read returns before the elements.
const TAG_LIST: &[u8] = b"list";
const TAG_SET: &[u8] = b"set";
const TAG_ZSET: &[u8] = b"zset";

/// The parsed options.
struct Options<'a> {
    desc: bool,
    alpha: bool,
    /// `LIMIT offset count`; Redis's defaults are 0 and -1 (everything).
    offset: i64,
    count: i64,
    /// The position of the `STORE` destination.
    store: Option<usize>,
    /// The `BY` pattern when it has a `*` (without one, nothing is sorted).
    by: Option<&'a [u8]>,
    dontsort: bool,
    gets: Vec<&'a [u8]>,
}

/// Parses the options as Redis does, left to right; `SORT_RO` knows no `STORE`.
fn parse(args: &[Bytes]) -> CmdResult<Options<'_>> {
    let readonly = args[0].eq_ignore_ascii_case(b"sort_ro");
    let mut o = Options {
        desc: false,
        alpha: false,
        offset: 0,
        count: -1,
        store: None,
        by: None,
        dontsort: false,
        gets: Vec::new(),
    };
    let mut j = FIRST_OPTION;
    while j < args.len() {
        let left = args.len() - j - 1;
        let word = &args[j];
        let is = |name: &str| word.eq_ignore_ascii_case(name.as_bytes());
        if is("asc") {
            o.desc = false;
        } else if is("desc") {
            o.desc = true;
        } else if is("alpha") {
            o.alpha = true;
        } else if is("limit") && left >= 2 {
            o.offset = parse_i64(&args[j + 1]).ok_or(CmdError::NotInteger)?;
            o.count = parse_i64(&args[j + 2]).ok_or(CmdError::NotInteger)?;
            j += 2;
        } else if !readonly && is("store") && left >= 1 {
            o.store = Some(j + 1);
            j += 1;
        } else if is("by") && left >= 1 {
            let pattern = &args[j + 1][..];
            o.dontsort = !pattern.contains(&b'*');
            o.by = (!o.dontsort).then_some(pattern);
            j += 1;
        } else if is("get") && left >= 1 {
            o.gets.push(&args[j + 1]);
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    Ok(o)
}

impl Options<'_> {
    /// The patterns whose values the elements need, in order: `BY`'s, then each
    /// `GET` that names keys.
    fn lookups(&self) -> Vec<&[u8]> {
        let gets = self.gets.iter().copied().filter(|g| names_keys(g));
        self.by.into_iter().chain(gets).collect()
    }
}

/// Whether a `GET` pattern looks keys up (`#` is the element, and a pattern without
/// `*` names no key: its values are nil).
fn names_keys(pattern: &[u8]) -> bool {
    pattern != GET_ELEMENT && pattern.contains(&b'*')
}

fn sort_check(args: &[Bytes]) -> CmdResult {
    parse(args).map(drop)
}

/// Whether every shard takes part: some pattern needs lookups.
fn sort_every(args: &[Bytes]) -> bool {
    parse(args).is_ok_and(|o| !o.lookups().is_empty())
}

/// The key `pattern` names for `elem` and the hash field it dereferences, as
/// Redis's `lookupKeyByPattern` builds them: the first `*` replaced by the element,
/// a `->field` after it naming a field (when the field is not empty).
fn substitute(pattern: &[u8], elem: &[u8]) -> Option<(Vec<u8>, Option<Vec<u8>>)> {
    let star = pattern.iter().position(|&c| c == b'*')?;
    let after = &pattern[star + 1..];
    let arrow = after
        .windows(FIELD_ARROW.len())
        .position(|w| w == FIELD_ARROW)
        .filter(|&a| a + FIELD_ARROW.len() < after.len());
    let (postfix, field) = match arrow {
        Some(a) => (&after[..a], Some(after[a + FIELD_ARROW.len()..].to_vec())),
        None => (after, None),
    };
    let mut key = Vec::with_capacity(pattern.len() + elem.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(elem);
    key.extend_from_slice(postfix);
    Some((key, field))
}

/// The value `pattern` finds for `elem` on this shard: a string, or a hash's field.
fn lookup(ctx: &mut Ctx, pattern: &[u8], elem: &[u8]) -> Option<Vec<u8>> {
    let (key, field) = substitute(pattern, elem)?;
    let entry = ctx.ks.find(ctx.db, &key, ctx.now_ms)?;
    match (&entry.value, field) {
        (Value::Str(s), None) => Some(s.to_vec()),
        (Value::Hash(h), Some(f)) => h.get(&f).map(|v| v.to_vec()),
        _ => None,
    }
}

/// First round: the source (its type tag, then its elements, a sorted set's by
/// rank; a missing key answers nil alone) on its shard, nothing elsewhere. Second
/// round (the carried elements): each lookup pattern's value per element, as far as
/// this shard holds the keys, element by element.
fn sort_read(ctx: &mut Ctx, s: &ShardArgs) -> CmdResult<PartReply> {
    if let Some(carry) = s.carry {
        let Value::List(elems) = &carry.value else {
            return Ok(PartReply::Done);
        };
        let o = parse(s.args)?;
        let patterns = o.lookups();
        let mut values = Vec::with_capacity(elems.len() * patterns.len());
        for elem in elems.iter() {
            for p in &patterns {
                values.push(lookup(ctx, p, elem));
            }
        }
        return Ok(PartReply::Values(values));
    }
    if !s.has(SOURCE) {
        return Ok(PartReply::Done);
    }
    let Some(entry) = ctx.ks.find_read(ctx.db, &s.args[SOURCE], ctx.now_ms) else {
        return Ok(PartReply::Values(vec![None]));
    };
    let mut values = vec![];
    match &entry.value {
        Value::List(l) => {
            values.push(Some(TAG_LIST.to_vec()));
            values.extend(l.iter().map(|e| Some(e.to_vec())));
        }
        Value::Set(set) => {
            values.push(Some(TAG_SET.to_vec()));
            values.extend(set.iter().map(|e| Some(e.to_vec())));
        }
        Value::Zset(z) => {
            values.push(Some(TAG_ZSET.to_vec()));
            z.walk(0, false, |m, _| {
                values.push(Some(m.to_vec()));
                true
            });
        }
        _ => return Err(CmdError::WrongType),
    }
    Ok(PartReply::Values(values))
}

/// The source as the first round read it: its type tag (`None`: missing) and its
/// elements.
fn source(pieces: &[Piece]) -> (Option<&[u8]>, Vec<&[u8]>) {
    for piece in pieces {
        if let PartReply::Values(v) = &piece.reply {
            if piece.keys.contains(&SOURCE) {
                let tag = v.first().and_then(|t| t.as_deref());
                let elems = v[1..].iter().map(|e| e.as_deref().unwrap_or_default());
                return (tag, elems.collect());
            }
        }
    }
    (None, Vec::new())
}

/// The second round's carry: the source's elements, when patterns need lookups.
fn sort_again(args: &[Bytes], pieces: &[Piece]) -> Option<Entry> {
    let o = parse(args).ok()?;
    let (_, elems) = source(pieces);
    if o.lookups().is_empty() || elems.is_empty() {
        return None;
    }
    let list = List::from_elems(elems, &ListLimits::default());
    Some(Entry::new(Value::List(Box::new(list))))
}

/// One element being sorted: its position in the source and its sort key.
struct Item<'a> {
    elem: &'a [u8],
    index: usize,
    score: f64,
    by: Option<&'a [u8]>,
}

/// `strtod` over the whole value as `SORT` applies it: leading blanks skipped, an
/// empty string is 0, and trailing text, `ERANGE` or NaN are errors. The value
/// ends at its first zero byte, as a C string does (`SETRANGE` pads with them).
fn sort_score(v: &[u8]) -> Option<f64> {
    let blank = |c: &u8| matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r');
    let v = &v[..v.iter().position(|&c| c == 0).unwrap_or(v.len())];
    if v.is_empty() {
        return Some(0.0);
    }
    let start = v.iter().position(|c| !blank(c))?;
    parse_score(&v[start..])
}

/// Sorts and replies (or returns the `STORE` write) from both rounds' pieces.
fn sort_plan(args: &[Bytes], pieces: &[Piece], out: &mut ReplyBuf) -> CmdResult<Option<Write>> {
    Parts::first_error(pieces)?;
    let o = parse(args)?;
    let patterns = o.lookups();
    let (tag, elems) = source(pieces);
    let looked_up = !patterns.is_empty() && !elems.is_empty();
    let rounds = if looked_up { 2 } else { 1 };
    let second = &pieces[pieces.len() / rounds * (rounds - 1)..];
    // The value of lookup pattern `p` for element `i`, from whichever shard had it.
    let value = |i: usize, p: usize| -> Option<&[u8]> {
        second.iter().find_map(|piece| match &piece.reply {
            PartReply::Values(v) if looked_up => v.get(i * patterns.len() + p)?.as_deref(),
            _ => None,
        })
    };
    let is_set = tag == Some(TAG_SET);
    let (mut dontsort, mut alpha, mut by) = (o.dontsort, o.alpha, o.by.is_some());
    if dontsort && is_set && o.store.is_some() {
        (dontsort, alpha, by) = (false, true, false);
    }
    let (mut start, mut end) = limit_range(o.offset, o.count, elems.len() as i64);
    let mut items: Vec<Item> = elems
        .iter()
        .enumerate()
        .map(|(index, &elem)| Item {
            elem,
            index,
            score: 0.0,
            by: None,
        })
        .collect();
    if dontsort && !is_set {
        // Lists and sorted sets keep their order: the range in it, from the tail
        // for DESC.
        if o.desc {
            items.reverse();
        }
        let taken = if end >= start { end - start + 1 } else { 0 };
        items = items
            .into_iter()
            .skip(start.max(0) as usize)
            .take(taken as usize)
            .collect();
        end -= start;
        start = 0;
    }
    if !dontsort {
        // Only the items up to the range's end are replied with.
        let needed = if end >= start { end as usize + 1 } else { 0 };
        order(&mut items, needed, alpha, by, o.desc, |i| value(i, 0))?;
    }
    let chosen = match end >= start {
        true => &items[start as usize..=end as usize],
        false => &[][..],
    };
    let gets = get_slots(&o);
    let fetch = |item: &Item<'_>, get: Option<usize>| -> Option<Vec<u8>> {
        match get {
            Some(usize::MAX) => Some(item.elem.to_vec()),
            Some(p) => value(item.index, p).map(<[u8]>::to_vec),
            None => None,
        }
    };
    finish(o.store, chosen, &gets, fetch, out)
}

/// Redis's `LIMIT` clamping: the inclusive range `start..=end` of `len` elements
/// (empty when `end < start`).
fn limit_range(offset: i64, count: i64, len: i64) -> (i64, i64) {
    let mut start = offset.max(0).min(len);
    let count = count.max(-1).min(len);
    let mut end = if count < 0 {
        len - 1
    } else {
        start + count - 1
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    (start, end.min(len - 1))
}

/// Orders the first `needed` of `items` by score, by their `BY` values (`value` of
/// an element's index) or by their bytes (`ALPHA`); an element without a `BY` value
/// keeps score 0. A key that is not a number fails the whole sort, as in Redis.
///
/// Numbers (ties broken by the elements' bytes) and plain `ALPHA` order items
/// totally but for equal elements, which reply alike (the same bytes, the same
/// `GET` keys): those sorts need no stability, and a `LIMIT` short of the end
/// sorts only what it takes, after selecting it. `ALPHA BY` keeps the input order
/// of equal `BY` values, so it sorts everything, stably.
fn order<'a>(
    items: &mut [Item<'a>],
    needed: usize,
    alpha: bool,
    by: bool,
    desc: bool,
    value: impl Fn(usize) -> Option<&'a [u8]>,
) -> CmdResult<()> {
    let mut bad = false;
    for item in items.iter_mut() {
        let key = match by {
            true => match value(item.index) {
                Some(v) => v,
                None => continue,
            },
            false => item.elem,
        };
        if alpha {
            item.by = by.then_some(key);
        } else {
            match sort_score(key) {
                Some(s) if !s.is_nan() => item.score = s,
                _ => bad = true,
            }
        }
    }
    if bad {
        return Err(CmdError::Raw(SCORES_NOT_DOUBLES.into()));
    }
    let cmp = |a: &Item<'a>, b: &Item<'a>| {
        let cmp = match (alpha, by) {
            (false, _) => a
                .score
                .partial_cmp(&b.score)
                .unwrap_or(Ordering::Equal)
                .then_with(|| a.elem.cmp(b.elem)),
            (true, true) => a.by.cmp(&b.by),
            (true, false) => a.elem.cmp(b.elem),
        };
        if desc {
            cmp.reverse()
        } else {
            cmp
        }
    };
    match needed {
        _ if alpha && by => items.sort_by(cmp),
        0 => {}
        n if n < items.len() => {
            items.select_nth_unstable_by(n - 1, cmp);
            items[..n - 1].sort_unstable_by(cmp);
        }
        _ => items.sort_unstable_by(cmp),
    }
    Ok(())
}

/// The lookup-pattern index of each `GET`: `Some(usize::MAX)` for `#` (the element
/// itself), `None` for a pattern naming no key (always nil).
fn get_slots(o: &Options<'_>) -> Vec<Option<usize>> {
    let mut next = usize::from(o.by.is_some());
    o.gets
        .iter()
        .map(|g| {
            if *g == GET_ELEMENT {
                return Some(usize::MAX);
            }
            names_keys(g).then(|| {
                next += 1;
                next - 1
            })
        })
        .collect()
}

/// Replies with the chosen elements (or their `GET` values), or with their count
/// and the list to store at `store`.
fn finish<'a>(
    store: Option<usize>,
    chosen: &[Item<'a>],
    gets: &[Option<usize>],
    fetch: impl Fn(&Item<'a>, Option<usize>) -> Option<Vec<u8>>,
    out: &mut ReplyBuf,
) -> CmdResult<Option<Write>> {
    let output = match gets.len() {
        0 => chosen.len(),
        n => n * chosen.len(),
    };
    let Some(store) = store else {
        out.array(output);
        for item in chosen {
            if gets.is_empty() {
                out.bulk(item.elem);
            }
            for &get in gets {
                match fetch(item, get) {
                    Some(v) => out.bulk(&v),
                    None => out.null(),
                }
            }
        }
        return Ok(None);
    };
    let mut result: Vec<Vec<u8>> = Vec::with_capacity(output);
    for item in chosen {
        if gets.is_empty() {
            result.push(item.elem.to_vec());
        }
        for &get in gets {
            result.push(fetch(item, get).unwrap_or_default());
        }
    }
    out.int(output as i64);
    let carry = (!result.is_empty()).then(|| {
        let list = List::from_elems(result.iter().map(Vec::as_slice), &ListLimits::default());
        Entry::new(Value::List(Box::new(list)))
    });
    Ok(Some(Write {
        keys: Some(vec![store]),
        carry,
    }))
}

/// Stores the carried list at the destination (in this shard's list encoding), or
/// deletes the destination when the result is empty.
fn sort_write(ctx: &mut Ctx, s: &ShardArgs) -> CmdResult<PartReply> {
    let dest = &s.args[s.keys[0]];
    match s.carry.map(|e| &e.value) {
        Some(Value::List(l)) => {
            let list = List::from_elems(l.iter(), &ctx.limits.list);
            ctx.ks
                .add(ctx.db, dest, Value::List(Box::new(list)), NO_EXPIRE);
        }
        _ => {
            ctx.ks.remove(ctx.db, dest, ctx.now_ms);
        }
    }
    Ok(PartReply::Done)
}

pub static SORT: Parts = Parts {
    split: Split::Lookup {
        every: sort_every,
        again: sort_again,
    },
    check: Some(sort_check),
    read: Some(sort_read),
    plan: Some(sort_plan),
    write: Some(sort_write),
    always_writes: false,
    merge: merge::planned,
};

const SORT_KEYS: KeySpec = KeySpec::Custom(sort_keys);

#[rustfmt::skip]
pub const COMMANDS: &[CommandSpec] = &[
    row("sort", -2, WRITE | DENYOOM, SORT_KEYS, "generic", "Sorts the elements in a list, a set, or a sorted set, optionally storing the result.", Route::Parts(&SORT)),
    row("sort_ro", -2, READONLY, KeySpec::Custom(super::keyspec::sort_ro_keys), "generic", "Returns the sorted elements of a list, a set, or a sorted set.", Route::Parts(&SORT)),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_substitute_the_first_star_and_split_a_field() {
        let sub = |p: &str| substitute(p.as_bytes(), b"7");
        assert_eq!(sub("w_*"), Some((b"w_7".to_vec(), None)));
        assert_eq!(sub("o_*->f"), Some((b"o_7".to_vec(), Some(b"f".to_vec()))));
        assert_eq!(sub("o_*->"), Some((b"o_7->".to_vec(), None)));
        assert_eq!(sub("a*b*c"), Some((b"a7b*c".to_vec(), None)));
        assert_eq!(sub("nostar"), None);
    }

    /// Every element's pattern keys on another shard than the source: the second
    /// read round finds them, and `STORE` lands on the destination's shard.
    #[test]
    fn patterns_find_keys_on_every_shard() {
        let mut c = crate::harness::cluster::TestCluster::new(4);
        let elems = ["a", "b", "c", "d", "e", "f", "g", "h"];
        let weights: Vec<String> = elems.iter().map(|e| format!("w_{e}")).collect();
        let weights: Vec<&str> = weights.iter().map(String::as_str).collect();
        assert!(c.spread(&weights) > 2);
        for (i, e) in elems.iter().enumerate() {
            c.run(&["RPUSH", "src", e]);
            c.run(&["SET", &format!("w_{e}"), &(elems.len() - i).to_string()]);
            c.run(&["HSET", &format!("o_{e}"), "n", &i.to_string()]);
        }
        let want = "[h, 7, g, 6, f, 5, e, 4, d, 3, c, 2, b, 1, a, 0]";
        assert_eq!(
            c.run(&["SORT", "src", "BY", "w_*", "GET", "#", "GET", "o_*->n"]),
            want
        );
        assert_eq!(
            c.run(&["SORT", "src", "BY", "w_*", "GET", "#", "GET", "o_*->n", "STORE", "dst"]),
            "16"
        );
        assert_eq!(c.run(&["LRANGE", "dst", "0", "-1"]), want);
    }

    #[test]
    fn scores_read_as_sort_reads_them() {
        assert_eq!(sort_score(b""), Some(0.0));
        assert_eq!(sort_score(b"  2.5"), Some(2.5));
        assert_eq!(sort_score(b"0x10"), Some(16.0));
        assert_eq!(sort_score(b"1e400"), None);
        assert_eq!(sort_score(b"3 "), None);
        assert_eq!(sort_score(b"nan"), None);
        assert_eq!(sort_score(b" "), None);
        assert_eq!(sort_score(b"0\0\0 3.5"), Some(0.0));
        assert_eq!(sort_score(b"\0x"), Some(0.0));
        assert_eq!(sort_score(b"2 \0"), None);
    }

    /// A `LIMIT` sorts only what it takes (after selecting it) where the order is
    /// total: its reply must be that slice of the whole sort, at every offset and
    /// count, with equal scores, equal elements and `GET`s of the elements' keys.
    #[test]
    fn a_limit_replies_with_its_slice_of_the_whole_sort() {
        let mut c = crate::harness::cluster::TestCluster::new(1);
        let elems: Vec<String> = (0..60)
            .map(|i| match i % 4 {
                0 => format!("{}", (i * 7) % 13),
                1 => format!("0{}", (i * 7) % 13),
                2 => format!("{}.0", (i * 5) % 11),
                _ => format!("{}", (i * 3) % 17),
            })
            .collect();
        for e in &elems {
            c.run(&["RPUSH", "src", e]);
            c.run(&["SET", &format!("g_{e}"), &format!("v{e}")]);
        }
        let items = |reply: String| -> Vec<String> {
            let inner = reply.trim_start_matches('[').trim_end_matches(']');
            inner.split(", ").map(str::to_string).collect()
        };
        let len = elems.len() as i64;
        for opts in [
            &[][..],
            &["DESC"],
            &["ALPHA"],
            &["ALPHA", "DESC"],
            &["GET", "#", "GET", "g_*"],
        ] {
            let mut all = vec!["SORT", "src"];
            all.extend_from_slice(opts);
            let whole = items(c.run(&all));
            let per = whole.len() / elems.len();
            for offset in [0, 1, 5, 30, 59, 60] {
                for count in [0, 1, 2, 10, 59, 60, 100] {
                    let (o, n) = (offset.to_string(), count.to_string());
                    let mut limited = all.clone();
                    limited.extend_from_slice(&["LIMIT", &o, &n]);
                    let from = offset.min(len) as usize * per;
                    let to = (offset + count).min(len) as usize * per;
                    let want = format!("[{}]", whole[from..to].join(", "));
                    assert_eq!(c.run(&limited), want, "{limited:?}");
                }
            }
        }
    }
}
