//! A hash value: field → value, `listpack`-encoded while small, a [`DenseTable`] past
//! the limits, with the operations of the `H*` commands.
//!
//! Conversion follows Redis 7.0.15's `t_hash.c`: a write whose field or value is longer
//! than `hash-max-listpack-value` converts before writing (`hashTypeTryConversion`,
//! and `hashTypeSet` for `HINCRBY*`); a write that leaves more than
//! `hash-max-listpack-entries` fields converts after it. `HSETNX` of an existing field
//! writes nothing, so converts nothing. Removing fields never converts back; a
//! rebuild ([`Hash::from_pairs`], as `rdbLoadObject`) packs again when the content fits.

use rand::Rng;

use super::dense::{DenseTable, Keyed, Packed};
use super::listpack::{self, Listpack};
use super::{Elem, HashLimits};
use crate::error::CmdError;
use crate::long_double::LongDouble;
use crate::resp::parse_i64;

/// Bytes a field and value share inline in a table entry.
const PAIR_INLINE_BYTES: usize = 30;

/// A table entry: the field's length (LEB128), the field, then the value.
#[derive(Clone)]
pub struct Pair(Packed<PAIR_INLINE_BYTES>);

impl Pair {
    fn new(field: &[u8], value: &[u8]) -> Self {
        let mut prefix = [0u8; 10];
        let mut n = field.len();
        let mut used = 0;
        loop {
            let more = n >= 0x80;
            prefix[used] = (n as u8 & 0x7f) | if more { 0x80 } else { 0 };
            used += 1;
            n >>= 7;
            if !more {
                break;
            }
        }
        Pair(Packed::from_parts(&[&prefix[..used], field, value]))
    }

    fn split(&self) -> (&[u8], &[u8]) {
        let b = self.0.bytes();
        let (mut len, mut shift, mut at) = (0usize, 0, 0);
        loop {
            let byte = b[at];
            len |= ((byte & 0x7f) as usize) << shift;
            at += 1;
            shift += 7;
            if byte & 0x80 == 0 {
                break;
            }
        }
        b[at..].split_at(len)
    }

    /// Overwrites the value in place when `value` has its length (no allocation, no
    /// re-encoding); false, changing nothing, otherwise.
    fn overwrite_value(&mut self, value: &[u8]) -> bool {
        let value_len = self.value().len();
        if value_len != value.len() {
            return false;
        }
        let bytes = self.0.bytes_mut();
        let start = bytes.len() - value_len;
        bytes[start..].copy_from_slice(value);
        true
    }

    pub fn field(&self) -> &[u8] {
        self.split().0
    }

    pub fn value(&self) -> &[u8] {
        self.split().1
    }
}

impl Keyed for Pair {
    fn key(&self) -> &[u8] {
        self.field()
    }

    fn heap_bytes(&self) -> usize {
        self.0.heap_bytes()
    }
}

/// Why `HINCRBY`/`HINCRBYFLOAT` refused: Redis's texts in [`HashIncrError::message`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashIncrError {
    /// The stored value is not an integer (`HINCRBY`).
    NotInteger,
    /// The sum does not fit an `i64` (`HINCRBY`).
    Overflow,
    /// The stored value is not a float (`HINCRBYFLOAT`).
    NotFloat,
    /// The sum is NaN or infinite (`HINCRBYFLOAT`).
    NanOrInf,
}

impl HashIncrError {
    /// The reply line, without `-` and CRLF, as Redis 7.0 words it.
    pub fn message(self) -> &'static str {
        match self {
            HashIncrError::NotInteger => "ERR hash value is not an integer",
            HashIncrError::Overflow => "ERR increment or decrement would overflow",
            HashIncrError::NotFloat => "ERR hash value is not a float",
            HashIncrError::NanOrInf => "ERR increment would produce NaN or Infinity",
        }
    }
}

impl From<HashIncrError> for CmdError {
    fn from(e: HashIncrError) -> Self {
        match e {
            HashIncrError::Overflow => CmdError::Overflow,
            HashIncrError::NanOrInf => CmdError::IncrNanOrInf,
            other => CmdError::Raw(other.message().into()),
        }
    }
}

#[derive(Clone)]
enum Repr {
    /// Field, value, field, value, ... in insertion order.
    Listpack(Listpack),
    Table(Box<DenseTable<Pair>>),
}

/// A hash value. See the module doc for its encodings.
#[derive(Clone)]
pub struct Hash(Repr);

impl Default for Hash {
    fn default() -> Self {
        Hash::new()
    }
}

impl Hash {
    /// An empty hash, `listpack`-encoded as Redis creates one.
    pub fn new() -> Self {
        Hash(Repr::Listpack(Listpack::default()))
    }

    /// Builds a hash from distinct fields, choosing the encoding as a load does:
    /// `listpack` when the content fits the limits, else `hashtable`.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
        limits: &HashLimits,
    ) -> Self {
        let pairs = pairs.into_iter();
        let mut hash = if pairs.size_hint().0 > limits.max_listpack_entries {
            Hash(Repr::Table(Box::new(DenseTable::with_capacity(
                pairs.size_hint().0,
            ))))
        } else {
            Hash::new()
        };
        for (field, value) in pairs {
            hash.set(field, value, limits);
        }
        hash
    }

    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Listpack(lp) => lp.len() / 2,
            Repr::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What `OBJECT ENCODING` answers.
    pub fn encoding(&self) -> &'static str {
        match &self.0 {
            Repr::Listpack(_) => "listpack",
            Repr::Table(_) => "hashtable",
        }
    }

    /// Heap bytes owned, for memory accounting (before allocator rounding).
    pub fn heap_bytes(&self) -> usize {
        match &self.0 {
            Repr::Listpack(lp) => lp.heap_bytes(),
            Repr::Table(t) => std::mem::size_of::<DenseTable<Pair>>() + t.heap_bytes(),
        }
    }

    pub fn get(&self, field: &[u8]) -> Option<Elem<'_>> {
        match &self.0 {
            Repr::Listpack(lp) => {
                let off = lp.find(field, 2)?;
                let (_, value_off) = lp.entry_at(off);
                Some(lp.entry_at(value_off).0)
            }
            Repr::Table(t) => t.get(field).map(|p| Elem::bytes(p.value())),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// Length of the value at `field` (`HSTRLEN`).
    pub fn value_len(&self, field: &[u8]) -> Option<usize> {
        self.get(field).map(|v| v.len())
    }

    fn convert_to_table(&mut self) {
        let Repr::Listpack(lp) = &self.0 else {
            return;
        };
        let mut table = DenseTable::with_capacity(lp.len() / 2);
        for (field, value) in pairs_of(lp) {
            table.push_new(Pair::new(&field, &value));
        }
        self.0 = Repr::Table(Box::new(table));
    }

    /// Sets `field` to `value`; true when the field is new.
    pub fn set(&mut self, field: &[u8], value: &[u8], limits: &HashLimits) -> bool {
        if field.len() > limits.max_listpack_value_bytes
            || value.len() > limits.max_listpack_value_bytes
        {
            self.convert_to_table();
        }
        let new = match &mut self.0 {
            Repr::Listpack(lp) => match lp.find(field, 2) {
                Some(off) => {
                    let (_, value_off) = lp.entry_at(off);
                    let (_, end) = lp.entry_at(value_off);
                    lp.splice(value_off, end, 1, &[value]);
                    false
                }
                None => {
                    lp.push(&[field, value]);
                    true
                }
            },
            Repr::Table(t) => match t.find_or_push(field, || Pair::new(field, value)) {
                Ok(pos) => {
                    if !t.update_at(pos, |p| p.overwrite_value(value)) {
                        t.replace_at(pos, Pair::new(field, value));
                    }
                    false
                }
                Err(_) => true,
            },
        };
        if matches!(&self.0, Repr::Listpack(lp) if lp.len() / 2 > limits.max_listpack_entries) {
            self.convert_to_table();
        }
        new
    }

    /// Sets `field` only when absent (`HSETNX`); true when it was set.
    pub fn set_if_absent(&mut self, field: &[u8], value: &[u8], limits: &HashLimits) -> bool {
        !self.contains(field) && self.set(field, value, limits)
    }

    /// Removes `field`; true when it was there. Never converts back to `listpack`.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match &mut self.0 {
            Repr::Listpack(lp) => {
                let Some(off) = lp.find(field, 2) else {
                    return false;
                };
                let (_, value_off) = lp.entry_at(off);
                let (_, end) = lp.entry_at(value_off);
                lp.splice(off, end, 2, &[]);
                true
            }
            Repr::Table(t) => t.swap_remove(field).is_some(),
        }
    }

    /// `HINCRBY`: adds `delta` to the integer at `field` (0 when absent), returns the sum.
    pub fn incr_by(
        &mut self,
        field: &[u8],
        delta: i64,
        limits: &HashLimits,
    ) -> Result<i64, HashIncrError> {
        let current = match self.get(field) {
            Some(v) => v
                .stored_int()
                .or_else(|| parse_i64(&v))
                .ok_or(HashIncrError::NotInteger)?,
            None => 0,
        };
        let sum = current.checked_add(delta).ok_or(HashIncrError::Overflow)?;
        self.set(field, itoa::Buffer::new().format(sum).as_bytes(), limits);
        Ok(sum)
    }

    /// `HINCRBYFLOAT`: adds `delta` to the number at `field` (0 when absent) in
    /// Redis's `long double` and stores the sum as `INCRBYFLOAT` prints it; returns
    /// the stored text.
    pub fn incr_by_float(
        &mut self,
        field: &[u8],
        delta: LongDouble,
        limits: &HashLimits,
    ) -> Result<Vec<u8>, HashIncrError> {
        let current = match self.get(field) {
            Some(v) => LongDouble::parse(&v).ok_or(HashIncrError::NotFloat)?,
            None => LongDouble::ZERO,
        };
        let text = current
            .checked_add(delta)
            .filter(|sum| sum.is_finite())
            .ok_or(HashIncrError::NanOrInf)?
            .to_human();
        self.set(field, &text, limits);
        Ok(text)
    }

    /// Field-value pairs in a stable order (insertion order, modulo removals).
    pub fn iter(&self) -> Iter<'_> {
        match &self.0 {
            Repr::Listpack(lp) => Iter::Listpack(lp.iter()),
            Repr::Table(t) => Iter::Table(t.iter()),
        }
    }

    /// A view that resolves a position (`0..len`) to its pair in O(1), for sampling.
    pub fn indexed(&self) -> Indexed<'_> {
        match &self.0 {
            Repr::Listpack(lp) => {
                let offsets = lp.iter().step_by(2).map(|(off, _)| off).collect();
                Indexed::Listpack(lp, offsets)
            }
            Repr::Table(t) => Indexed::Table(t),
        }
    }

    /// One uniformly chosen pair (`HRANDFIELD` without a count).
    pub fn random_pair(&self, rng: &mut impl Rng) -> Option<(Elem<'_>, Elem<'_>)> {
        if self.is_empty() {
            return None;
        }
        let pos = rng.gen_range(0..self.len());
        match &self.0 {
            Repr::Listpack(lp) => pairs_of(lp).nth(pos),
            Repr::Table(t) => Some(pair_elems(t.at(pos))),
        }
    }

    /// One `HSCAN` step: visits pairs and returns the next cursor (0 when done). A
    /// `listpack` hash is visited whole whatever the cursor, as Redis does.
    pub fn scan(
        &self,
        cursor: u64,
        count: usize,
        mut visit: impl FnMut(Elem<'_>, Elem<'_>),
    ) -> u64 {
        match &self.0 {
            Repr::Listpack(lp) => {
                pairs_of(lp).for_each(|(f, v)| visit(f, v));
                0
            }
            Repr::Table(t) => t.scan(cursor, count, |p| {
                let (f, v) = pair_elems(p);
                visit(f, v)
            }),
        }
    }
}

fn pair_elems(p: &Pair) -> (Elem<'_>, Elem<'_>) {
    let (f, v) = p.split();
    (Elem::bytes(f), Elem::bytes(v))
}

fn pairs_of(lp: &Listpack) -> impl Iterator<Item = (Elem<'_>, Elem<'_>)> {
    let mut entries = lp.iter().map(|(_, e)| e);
    std::iter::from_fn(move || Some((entries.next()?, entries.next()?)))
}

/// Iterator of [`Hash::iter`].
pub enum Iter<'a> {
    Listpack(listpack::Iter<'a>),
    Table(std::slice::Iter<'a, Pair>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = (Elem<'a>, Elem<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Listpack(it) => Some((it.next()?.1, it.next()?.1)),
            Iter::Table(it) => it.next().map(pair_elems),
        }
    }
}

/// Positional access to a hash's pairs ([`Hash::indexed`]): a `listpack` hash's
/// field offsets are computed once (at most `hash-max-listpack-entries` of them).
pub enum Indexed<'a> {
    Listpack(&'a Listpack, Vec<usize>),
    Table(&'a DenseTable<Pair>),
}

impl<'a> Indexed<'a> {
    pub fn len(&self) -> usize {
        match self {
            Indexed::Listpack(_, offsets) => offsets.len(),
            Indexed::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The pair at `pos` (`pos < len`).
    pub fn get(&self, pos: usize) -> (Elem<'a>, Elem<'a>) {
        match self {
            Indexed::Listpack(lp, offsets) => {
                let lp: &'a Listpack = lp;
                let (field, value_off) = lp.entry_at(offsets[pos]);
                (field, lp.entry_at(value_off).0)
            }
            Indexed::Table(t) => {
                let t: &'a DenseTable<Pair> = t;
                pair_elems(t.at(pos))
            }
        }
    }
}

impl std::fmt::Debug for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ", self.encoding())?;
        f.debug_map().entries(self.iter()).finish()
    }
}
