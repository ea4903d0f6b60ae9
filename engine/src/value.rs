//! The values a key can hold, and what `TYPE` and `OBJECT ENCODING` call them.
//!
//! Strings are bytes; hashes, sets and lists are the structures of [`crate::collections`],
//! which choose their own encodings. Two values are equal when they hold the same
//! content in the same encoding (the order of a hash's fields or a set's members is
//! not compared: it is not part of the value).
//!
//! A `Value` is 24 bytes, a third of the keyspace's 64-byte slot
//! ([`crate::keyspace::db`]): a string is a [`Str`] (its `Vec`, or a boxed shared
//! buffer when big), the collections are small handles, and a list, whose node deque
//! is larger, is boxed.
//!
//! A big string ([`SHARED_STRING_MIN_BYTES`] or more) set from a request keeps the
//! request's own bytes (a `Bytes` slice of the connection's input, as Redis keeps a
//! big bulk's query buffer as the value): `SET` of 100 MB stores no copy, `COPY`
//! shares the buffer, and a reply writes it by reference ([`crate::resp::ReplyBuf`]).
//! The first change to a shared string copies it into a `Vec` of its own
//! ([`Str::to_mut`]); readers see bytes either way (`Str` derefs to `[u8]`).

use bytes::Bytes;

use crate::collections::{Hash, List, Set, Zset};
use crate::resp::parse_i64;

/// Strings at least this long are kept as the request's shared buffer rather than
/// copied (Redis's `PROTO_MBULK_BIG_ARG`, the size from which the connection
/// reserves a bulk's room ahead, so such a bulk mostly fills its input buffer).
/// Below it a copy costs less than the shared handle's allocation and keeps small
/// strings exactly as compact as before.
pub const SHARED_STRING_MIN_BYTES: usize = 32 * 1024;
/// A big argument is shared only when it is at least this fraction (1/n) of its
/// request's bytes: an argument that is a small part of a large request (one value
/// of a big `MSET`) is copied once, so it never pins the whole request's buffer.
const SHARED_STRING_REQUEST_FRACTION: usize = 2;

/// Longest string Redis stores as `embstr` (it reports `raw` above this).
const EMBSTR_MAX_BYTES: usize = 44;
/// Bytes a list element costs beyond its own in a listpack node (its header and
/// back-length).
const LIST_ELEMENT_OVERHEAD_BYTES: usize = 2;
/// Bytes a list node costs beyond its elements (the node, the listpack header).
const LIST_NODE_OVERHEAD_BYTES: usize = 48;

/// A string value's bytes: owned, or a big buffer shared with the request it came
/// from (and with copies of the key, and with replies still being written).
#[derive(Clone)]
pub struct Str(Repr);

#[derive(Clone)]
enum Repr {
    Owned(Vec<u8>),
    /// Boxed, so a `Str` stays the size of a `Vec`: only big strings pay for it.
    Shared(Box<Bytes>),
}

const _: () = assert!(std::mem::size_of::<Str>() == 24);

impl Str {
    /// The string of argument `i` of a request: the argument's own buffer when it is
    /// big and most of its request, else a copy.
    pub fn from_arg(args: &[Bytes], i: usize) -> Str {
        let arg = &args[i];
        if arg.len() >= SHARED_STRING_MIN_BYTES {
            let request_bytes: usize = args.iter().map(Bytes::len).sum();
            if arg.len() * SHARED_STRING_REQUEST_FRACTION >= request_bytes {
                return Str(Repr::Shared(Box::new(arg.clone())));
            }
        }
        Str(Repr::Owned(arg.to_vec()))
    }

    /// The bytes to change in place: a shared buffer is copied first, once.
    pub fn to_mut(&mut self) -> &mut Vec<u8> {
        if let Repr::Shared(b) = &self.0 {
            self.0 = Repr::Owned(b.to_vec());
        }
        match &mut self.0 {
            Repr::Owned(v) => v,
            Repr::Shared(_) => unreachable!("copied above"),
        }
    }

    /// The shared buffer, for a reply that writes it by reference.
    pub fn shared(&self) -> Option<&Bytes> {
        match &self.0 {
            Repr::Shared(b) => Some(b),
            Repr::Owned(_) => None,
        }
    }

    /// Bytes this string holds outside its slot.
    pub fn heap_bytes(&self) -> usize {
        match &self.0 {
            Repr::Owned(v) => v.capacity(),
            Repr::Shared(b) => b.len() + std::mem::size_of::<Bytes>(),
        }
    }

    /// The bytes as an owned `Vec`, taken without a copy when owned.
    pub fn into_vec(self) -> Vec<u8> {
        match self.0 {
            Repr::Owned(v) => v,
            Repr::Shared(b) => b.to_vec(),
        }
    }
}

impl std::ops::Deref for Str {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &self.0 {
            Repr::Owned(v) => v,
            Repr::Shared(b) => b,
        }
    }
}

impl From<Vec<u8>> for Str {
    fn from(v: Vec<u8>) -> Str {
        Str(Repr::Owned(v))
    }
}

impl From<&[u8]> for Str {
    fn from(v: &[u8]) -> Str {
        Str(Repr::Owned(v.to_vec()))
    }
}

impl FromIterator<u8> for Str {
    fn from_iter<I: IntoIterator<Item = u8>>(iter: I) -> Str {
        Str(Repr::Owned(iter.into_iter().collect()))
    }
}

impl PartialEq for Str {
    fn eq(&self, other: &Str) -> bool {
        **self == **other
    }
}

impl std::fmt::Debug for Str {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.shared().is_some() {
            "shared"
        } else {
            "owned"
        };
        write!(
            f,
            "Str({kind}, {:?})",
            String::from_utf8_lossy(&self[..self.len().min(64)])
        )
    }
}

#[derive(Debug, Clone)]
pub enum Value {
    Str(Str),
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
            Value::Str(s) => s.heap_bytes(),
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

    /// The string with its representation, if this is one: a reply of a big one
    /// writes its shared buffer ([`Str::shared`]).
    pub fn as_str_value(&self) -> Option<&Str> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_big_argument_is_shared_and_copied_on_change() {
        let big = Bytes::from(vec![b'x'; SHARED_STRING_MIN_BYTES]);
        let args = [Bytes::from_static(b"SET"), Bytes::from_static(b"k"), big];
        let mut s = Str::from_arg(&args, 2);
        assert_eq!(s.shared().map(|b| b.as_ptr()), Some(args[2].as_ptr()));
        let copy = Value::Str(s.clone());
        s.to_mut().push(b'!');
        assert!(s.shared().is_none());
        assert_eq!(s.len(), SHARED_STRING_MIN_BYTES + 1);
        assert_eq!(copy.as_str(), Some(&args[2][..]), "the copy is unchanged");
    }

    #[test]
    fn small_arguments_and_small_parts_of_a_request_are_copied() {
        let small = Bytes::from(vec![b'x'; SHARED_STRING_MIN_BYTES - 1]);
        let args = [Bytes::from_static(b"SET"), Bytes::from_static(b"k"), small];
        assert!(Str::from_arg(&args, 2).shared().is_none());
        let big = Bytes::from(vec![b'x'; SHARED_STRING_MIN_BYTES]);
        let mset: Vec<Bytes> = std::iter::once(Bytes::from_static(b"MSET"))
            .chain((0..3).flat_map(|_| [Bytes::from_static(b"k"), big.clone()]))
            .collect();
        assert!(Str::from_arg(&mset, 2).shared().is_none());
        assert_eq!(&Str::from_arg(&mset, 2)[..], &big[..]);
    }
}
