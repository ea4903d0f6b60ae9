//! One value in RDB form (`rdbSaveObject` / `rdbLoadObject`): the type byte, then
//! the value in the layout that type names.

use super::blob::{intset, listpack, read_intset, read_listpack, read_ziplist, Listpack};
use super::reader::{write_len, write_string, Reader};
use super::Limits;
use crate::collections::{Hash, List, Set, Zset};
use crate::resp::{parse_f64, parse_i64, Protocol, Reply, ReplyBuf};
use crate::value::Value;

/// RDB type bytes (`rdb.h`).
const TYPE_STRING: u8 = 0;
const TYPE_LIST: u8 = 1;
const TYPE_SET: u8 = 2;
const TYPE_ZSET: u8 = 3;
const TYPE_HASH: u8 = 4;
const TYPE_ZSET_2: u8 = 5;
const TYPE_LIST_ZIPLIST: u8 = 10;
const TYPE_SET_INTSET: u8 = 11;
const TYPE_ZSET_ZIPLIST: u8 = 12;
const TYPE_HASH_ZIPLIST: u8 = 13;
const TYPE_LIST_QUICKLIST: u8 = 14;
const TYPE_HASH_LISTPACK: u8 = 16;
const TYPE_ZSET_LISTPACK: u8 = 17;
const TYPE_LIST_QUICKLIST_2: u8 = 18;

/// Quicklist-2 node containers.
const NODE_PLAIN: u64 = 1;
const NODE_PACKED: u64 = 2;
/// Listpack bytes a written list node holds at most (`list-max-listpack-size -2`).
const LIST_NODE_MAX_BYTES: usize = 8192;
/// What Redis adds to an element's length to estimate what it takes in a node
/// (`SIZE_ESTIMATE_OVERHEAD`).
const NODE_INSERT_OVERHEAD: usize = 8;
/// Fewest payload bytes one string takes (its length byte).
const STRING_MIN_BYTES: usize = 1;
/// Fewest payload bytes one binary-scored sorted-set entry takes.
const ZSET_ENTRY_MIN_BYTES: usize = 1 + 8;

/// Appends a list's quicklist-2 form: its node count, then each node's listpack,
/// cut as Redis's quicklist cuts a list pushed at its tail
/// (`_quicklistNodeAllowInsert`): an element joins the last node while the node's
/// listpack, the element's length and [`NODE_INSERT_OVERHEAD`] come to at most
/// [`LIST_NODE_MAX_BYTES`]. One pass: each element is encoded once, and the nodes
/// are written in place after a count byte (moved only for a list of more than 63
/// nodes, whose count takes more).
fn write_list(l: &List, out: &mut Vec<u8>) {
    let count_at = out.len();
    out.push(0);
    let mut nodes = 0u64;
    let mut lp = Listpack::default();
    let mut node = |lp: &mut Listpack, out: &mut Vec<u8>| {
        write_len(NODE_PACKED, out);
        write_string(lp.finish(), out);
        lp.clear();
        nodes += 1;
    };
    for e in l.iter() {
        if lp.count() > 0 && lp.bytes() + e.len() + NODE_INSERT_OVERHEAD > LIST_NODE_MAX_BYTES {
            node(&mut lp, out);
        }
        lp.push(e);
    }
    if lp.count() > 0 {
        node(&mut lp, out);
    }
    let mut count = Vec::new();
    write_len(nodes, &mut count);
    out.splice(count_at..count_at + 1, count);
}

/// Appends `value`'s type byte and RDB form.
pub fn write_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Str(s) => {
            out.push(TYPE_STRING);
            write_string(s, out);
        }
        Value::List(l) => {
            out.push(TYPE_LIST_QUICKLIST_2);
            write_list(l, out);
        }
        Value::Set(s) if s.encoding() == "intset" => {
            out.push(TYPE_SET_INTSET);
            let mut values: Vec<i64> = s.iter().filter_map(|m| parse_i64(&m)).collect();
            values.sort_unstable();
            write_string(&intset(&values), out);
        }
        Value::Set(s) => {
            out.push(TYPE_SET);
            write_len(s.len() as u64, out);
            for m in s.iter() {
                write_string(&m, out);
            }
        }
        Value::Zset(z) if z.encoding() == "listpack" => {
            out.push(TYPE_ZSET_LISTPACK);
            let entries = z.entries();
            let texts: Vec<Vec<u8>> = entries.iter().map(|(_, s)| score_text(*s)).collect();
            let flat = entries
                .iter()
                .zip(&texts)
                .flat_map(|((m, _), t)| [m.as_slice(), t.as_slice()]);
            write_string(&listpack(flat), out);
        }
        Value::Zset(z) => {
            out.push(TYPE_ZSET_2);
            write_len(z.len() as u64, out);
            z.walk(0, true, |m, s| {
                write_string(m, out);
                out.extend_from_slice(&s.to_le_bytes());
                true
            });
        }
        Value::Hash(h) if h.encoding() == "listpack" => {
            out.push(TYPE_HASH_LISTPACK);
            let pairs: Vec<(Vec<u8>, Vec<u8>)> =
                h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
            let flat = pairs.iter().flat_map(|(f, v)| [f.as_slice(), v.as_slice()]);
            write_string(&listpack(flat), out);
        }
        Value::Hash(h) => {
            out.push(TYPE_HASH);
            write_len(h.len() as u64, out);
            for (f, v) in h.iter() {
                write_string(&f, out);
                write_string(&v, out);
            }
        }
    }
}

/// A score as Redis writes it into a listpack: `%.17g`.
fn score_text(score: f64) -> Vec<u8> {
    let mut buf = ReplyBuf::new(Protocol::Resp2);
    buf.double(score);
    let body_at = buf.iter().position(|&b| b == b'\n').expect("a bulk header") + 1;
    buf[body_at..buf.len() - 2].to_vec()
}

/// The value at the start of `bytes` (type byte, then the value); `None` for
/// anything malformed, empty, duplicated or of a type this server does not hold.
/// Bytes after the value are ignored, as Redis's loader ignores them: it reads a
/// dump payload's value from the whole payload, trailer included.
pub fn restore_value(bytes: &[u8], limits: &Limits) -> Option<Value> {
    let mut r = Reader::new(bytes, limits.string_max_bytes);
    let value = match r.u8()? {
        TYPE_STRING => Value::Str(r.string()?.into()),
        TYPE_LIST => {
            let n = r.count(STRING_MIN_BYTES)?;
            let elems = strings(&mut r, n)?;
            list(&elems, limits)?
        }
        TYPE_LIST_ZIPLIST => list(&read_ziplist(&r.string()?)?, limits)?,
        TYPE_LIST_QUICKLIST | TYPE_LIST_QUICKLIST_2 => {
            let v2 = bytes[0] == TYPE_LIST_QUICKLIST_2;
            let nodes = r.count(STRING_MIN_BYTES)?;
            let mut elems = Vec::new();
            for _ in 0..nodes {
                let container = if v2 { r.len()? } else { NODE_PACKED };
                let blob = r.string()?;
                match container {
                    NODE_PLAIN if v2 => elems.push(blob),
                    NODE_PACKED if v2 => elems.extend(read_listpack(&blob)?),
                    NODE_PACKED => elems.extend(read_ziplist(&blob)?),
                    _ => return None,
                }
            }
            list(&elems, limits)?
        }
        TYPE_SET => {
            let n = r.count(STRING_MIN_BYTES)?;
            set(&strings(&mut r, n)?, limits)?
        }
        TYPE_SET_INTSET => set(&read_intset(&r.string()?)?, limits)?,
        TYPE_ZSET | TYPE_ZSET_2 => {
            let binary = bytes[0] == TYPE_ZSET_2;
            let min = if binary { ZSET_ENTRY_MIN_BYTES } else { 2 };
            let n = r.count(min)?;
            let mut entries = Vec::with_capacity(n);
            for _ in 0..n {
                let member = r.string()?;
                let score = match binary {
                    true => r.binary_double()?,
                    false => r.text_double()?,
                };
                entries.push((member, score));
            }
            zset(entries, limits)?
        }
        TYPE_ZSET_ZIPLIST | TYPE_ZSET_LISTPACK => {
            let blob = r.string()?;
            let flat = match bytes[0] {
                TYPE_ZSET_LISTPACK => read_listpack(&blob)?,
                _ => read_ziplist(&blob)?,
            };
            if !flat.len().is_multiple_of(2) {
                return None;
            }
            let mut entries = Vec::with_capacity(flat.len() / 2);
            for pair in flat.chunks_exact(2) {
                entries.push((pair[0].clone(), parse_f64(&pair[1])?));
            }
            zset(entries, limits)?
        }
        TYPE_HASH => {
            let n = r.count(2 * STRING_MIN_BYTES)?;
            let flat = strings(&mut r, 2 * n)?;
            hash(&flat, limits)?
        }
        TYPE_HASH_ZIPLIST | TYPE_HASH_LISTPACK => {
            let blob = r.string()?;
            let flat = match bytes[0] {
                TYPE_HASH_LISTPACK => read_listpack(&blob)?,
                _ => read_ziplist(&blob)?,
            };
            hash(&flat, limits)?
        }
        _ => return None,
    };
    Some(value)
}

fn strings(r: &mut Reader, n: usize) -> Option<Vec<Vec<u8>>> {
    (0..n).map(|_| r.string()).collect()
}

fn list(elems: &[Vec<u8>], limits: &Limits) -> Option<Value> {
    if elems.is_empty() {
        return None;
    }
    let l = List::from_elems(elems.iter().map(Vec::as_slice), &limits.list);
    Some(Value::List(Box::new(l)))
}

fn set(members: &[Vec<u8>], limits: &Limits) -> Option<Value> {
    let s = Set::from_members(members.iter().map(Vec::as_slice), &limits.set);
    (!s.is_empty() && s.len() == members.len()).then_some(Value::Set(s))
}

fn zset(entries: Vec<(Vec<u8>, f64)>, limits: &Limits) -> Option<Value> {
    let mut seen = std::collections::HashSet::with_capacity(entries.len());
    if entries
        .iter()
        .any(|(m, s)| s.is_nan() || !seen.insert(m.as_slice()))
    {
        return None;
    }
    let z = Zset::from_entries(
        entries.iter().map(|(m, s)| (m.as_slice(), *s)),
        &limits.zset,
    );
    (!z.is_empty() && z.len() == entries.len()).then_some(Value::Zset(z))
}

fn hash(flat: &[Vec<u8>], limits: &Limits) -> Option<Value> {
    if !flat.len().is_multiple_of(2) {
        return None;
    }
    let pairs = flat
        .chunks_exact(2)
        .map(|p| (p[0].as_slice(), p[1].as_slice()));
    let h = Hash::from_pairs(pairs, &limits.hash);
    (!h.is_empty() && h.len() * 2 == flat.len()).then_some(Value::Hash(h))
}
