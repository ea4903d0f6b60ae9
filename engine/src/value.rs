//! The values a key can hold, and what `TYPE` and `OBJECT ENCODING` call them.
//!
//! Strings are bytes; hashes, sets and lists are the structures of [`crate::collections`],
//! which choose their own encodings. Two values are equal when they hold the same
//! content in the same encoding (the order of a hash's fields or a set's members is
//! not compared: it is not part of the value).
//!
//! A `Value` is 24 bytes, a third of the keyspace's 64-byte slot
//! ([`crate::keyspace::db`]): a string is its `Vec`, the collections are small
//! handles, and a list, whose node deque is larger, is boxed.

use crate::collections::{Hash, List, Set, Zset};
use crate::resp::parse_i64;

/// Longest string Redis stores as `embstr` (it reports `raw` above this).
const EMBSTR_MAX_BYTES: usize = 44;
/// Bytes a list element costs beyond its own in a listpack node (its header and
/// back-length).
const LIST_ELEMENT_OVERHEAD_BYTES: usize = 2;
/// Bytes a list node costs beyond its elements (the node, the listpack header).
const LIST_NODE_OVERHEAD_BYTES: usize = 48;

#[derive(Debug, Clone)]
pub enum Value {
    Str(Vec<u8>),
    Hash(Hash),
    Set(Set),
    Zset(Zset),
    List(Box<List>),
}

const _: () = assert!(std::mem::size_of::<Value>() == 24);

impl Value {
    /// The name `TYPE` replies with.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::Zset(_) => "zset",
            Value::List(_) => "list",
        }
    }

    /// The name `OBJECT ENCODING` replies with: Redis's encoding for an equivalent value.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(s) if s.len() <= 20 && parse_i64(s).is_some() => "int",
            Value::Str(s) if s.len() <= EMBSTR_MAX_BYTES => "embstr",
            Value::Str(_) => "raw",
            Value::Hash(h) => h.encoding(),
            Value::Set(s) => s.encoding(),
            Value::Zset(z) => z.encoding(),
            Value::List(l) => l.encoding(),
        }
    }

    /// Bytes this value holds outside its slot, before allocator rounding. Exact for
    /// strings, hashes, sets and sorted sets; a list's elements are estimated from the
    /// first `samples` of them (0: all), as Redis's `MEMORY USAGE ... SAMPLES`.
    pub fn heap_bytes(&self, samples: usize) -> usize {
        match self {
            Value::Str(s) => s.capacity(),
            Value::Hash(h) => h.heap_bytes(),
            Value::Set(s) => s.heap_bytes(),
            Value::Zset(z) => z.heap_bytes(),
            Value::List(l) => {
                let take = if samples == 0 {
                    l.len()
                } else {
                    samples.min(l.len())
                };
                let sampled: usize = l.iter().take(take).map(|e| e.len()).sum();
                let elements = (sampled * l.len()).checked_div(take).unwrap_or(0);
                std::mem::size_of::<List>()
                    + elements
                    + l.len() * LIST_ELEMENT_OVERHEAD_BYTES
                    + l.node_count() * LIST_NODE_OVERHEAD_BYTES
            }
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&[u8]> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The hash, if this is one.
    pub fn as_hash(&self) -> Option<&Hash> {
        match self {
            Value::Hash(h) => Some(h),
            _ => None,
        }
    }

    /// The set, if this is one.
    pub fn as_set(&self) -> Option<&Set> {
        match self {
            Value::Set(s) => Some(s),
            _ => None,
        }
    }

    /// The sorted set, if this is one.
    pub fn as_zset(&self) -> Option<&Zset> {
        match self {
            Value::Zset(z) => Some(z),
            _ => None,
        }
    }

    /// The list, if this is one.
    pub fn as_list(&self) -> Option<&List> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// A hash or set with nothing in it: never stored, deleted by the change that
    /// emptied it.
    pub fn is_empty_collection(&self) -> bool {
        match self {
            Value::Str(_) => false,
            Value::Hash(h) => h.is_empty(),
            Value::Set(s) => s.is_empty(),
            Value::Zset(z) => z.is_empty(),
            Value::List(l) => l.is_empty(),
        }
    }

    /// Matches a `SCAN ... TYPE t` filter.
    pub fn is_type(&self, name: &[u8]) -> bool {
        self.type_name().as_bytes().eq_ignore_ascii_case(name)
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Str(a), Value::Str(b)) => a == b,
            (Value::Hash(a), Value::Hash(b)) => {
                a.encoding() == b.encoding()
                    && a.len() == b.len()
                    && a.iter().all(|(f, v)| b.get(&f).is_some_and(|w| *w == *v))
            }
            (Value::Set(a), Value::Set(b)) => {
                a.encoding() == b.encoding()
                    && a.len() == b.len()
                    && a.iter().all(|m| b.contains(&m))
            }
            (Value::Zset(a), Value::Zset(b)) => {
                a.encoding() == b.encoding() && a.entries() == b.entries()
            }
            (Value::List(a), Value::List(b)) => a == b,
            _ => false,
        }
    }
}
