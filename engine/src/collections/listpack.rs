//! The compact encoding of small hashes: a sequence of byte strings packed into one
//! allocation, as Redis's listpack.
//!
//! ```text
//!  ┌──────────────┬─────────┬─────────┬─────┐
//!  │ count: u32 LE│ entry 0 │ entry 1 │ ... │      (no allocation at all when empty)
//!  └──────────────┴─────────┴─────────┴─────┘
//!  entry, by its first byte:
//!    0x00..=0x7f  an integer 0..=127, the byte itself               1 byte
//!    0x80..=0xbf  a string of 0..=63 bytes (low 6 bits) follows     1 + len
//!    0xc0..=0xcf  a string of 0..=4095 bytes (low 4 bits, next byte) 2 + len
//!    0xd0         a string whose length is the next u32 LE           5 + len
//!    0xd1..=0xd4  an i16 / i24 / i32 / i64, little-endian, follows   3 / 4 / 5 / 9
//! ```
//!
//! A string that is a canonical decimal `i64` (Redis's `string2ll`) is always stored as
//! an integer, so equal strings have equal encodings, and reads give the same bytes
//! back. Unlike Redis's listpack there is no back-length per entry: nothing walks it
//! backwards. The buffer is a boxed slice of exactly the needed size; a change that
//! keeps it (a value overwritten by one of the same size) writes in place, any other
//! builds the new buffer in one allocation and one copy, as Redis's `lpInsert`
//! reallocates and moves the tail.

use super::Elem;
use crate::resp::parse_i64;

const COUNT_BYTES: usize = 4;
const STR6_TAG: u8 = 0x80;
const STR6_LEN_MAX: usize = 0x3f;
const STR12_TAG: u8 = 0xc0;
const STR12_LEN_MAX: usize = 0x0fff;
const STR32_TAG: u8 = 0xd0;
const INT16_TAG: u8 = 0xd1;
const INT24_TAG: u8 = 0xd2;
const INT32_TAG: u8 = 0xd3;
const INT64_TAG: u8 = 0xd4;
const UINT7_MAX: i64 = 0x7f;
/// Encoded size up to which [`Listpack::find`] encodes its key on the stack: a string
/// of the default `hash-max-listpack-value` (64 bytes) with its two-byte tag fits.
const FIND_INLINE_BYTES: usize = 72;
const INT24_MIN: i64 = -(1 << 23);
const INT24_MAX: i64 = (1 << 23) - 1;

/// A packed sequence of byte strings.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Listpack {
    buf: Box<[u8]>,
}

/// A byte string prepared for storing: an integer or raw bytes.
#[derive(Clone, Copy)]
enum Encoded<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

impl<'a> Encoded<'a> {
    fn of(s: &'a [u8]) -> Self {
        match parse_i64(s) {
            Some(v) => Encoded::Int(v),
            None => Encoded::Bytes(s),
        }
    }

    fn size(self) -> usize {
        match self {
            Encoded::Int(v) if (0..=UINT7_MAX).contains(&v) => 1,
            Encoded::Int(v) if i16::try_from(v).is_ok() => 3,
            Encoded::Int(v) if (INT24_MIN..=INT24_MAX).contains(&v) => 4,
            Encoded::Int(v) if i32::try_from(v).is_ok() => 5,
            Encoded::Int(_) => 9,
            Encoded::Bytes(b) if b.len() <= STR6_LEN_MAX => 1 + b.len(),
            Encoded::Bytes(b) if b.len() <= STR12_LEN_MAX => 2 + b.len(),
            Encoded::Bytes(b) => 5 + b.len(),
        }
    }

    /// Writes the encoding into `out`, which is exactly [`Encoded::size`] bytes.
    fn write(self, out: &mut [u8]) {
        debug_assert_eq!(out.len(), self.size());
        let (tag, body) = out.split_at_mut(1);
        match self {
            Encoded::Int(v) if (0..=UINT7_MAX).contains(&v) => tag[0] = v as u8,
            Encoded::Int(v) if i16::try_from(v).is_ok() => {
                tag[0] = INT16_TAG;
                body.copy_from_slice(&(v as i16).to_le_bytes());
            }
            Encoded::Int(v) if (INT24_MIN..=INT24_MAX).contains(&v) => {
                tag[0] = INT24_TAG;
                body.copy_from_slice(&(v as i32).to_le_bytes()[..3]);
            }
            Encoded::Int(v) if i32::try_from(v).is_ok() => {
                tag[0] = INT32_TAG;
                body.copy_from_slice(&(v as i32).to_le_bytes());
            }
            Encoded::Int(v) => {
                tag[0] = INT64_TAG;
                body.copy_from_slice(&v.to_le_bytes());
            }
            Encoded::Bytes(b) => {
                let data = if b.len() <= STR6_LEN_MAX {
                    tag[0] = STR6_TAG | b.len() as u8;
                    body
                } else if b.len() <= STR12_LEN_MAX {
                    tag[0] = STR12_TAG | (b.len() >> 8) as u8;
                    body[0] = b.len() as u8;
                    &mut body[1..]
                } else {
                    let len = u32::try_from(b.len()).expect("a listpack string is < 4 GiB");
                    tag[0] = STR32_TAG;
                    body[..4].copy_from_slice(&len.to_le_bytes());
                    &mut body[4..]
                };
                data.copy_from_slice(b);
            }
        }
    }
}

/// The size of the entry starting at `off`, read from its tag alone (no decoding).
fn entry_size(buf: &[u8], off: usize) -> usize {
    let tag = buf[off];
    match tag {
        0x00..=0x7f => 1,
        0x80..=0xbf => 1 + (tag & 0x3f) as usize,
        0xc0..=0xcf => 2 + (((tag as usize & 0x0f) << 8) | buf[off + 1] as usize),
        STR32_TAG => {
            let len = u32::from_le_bytes(buf[off + 1..off + 5].try_into().expect("4 bytes"));
            5 + len as usize
        }
        INT16_TAG..=INT64_TAG => 1 + [2, 3, 4, 8][(tag - INT16_TAG) as usize],
        _ => unreachable!("listpack tag {tag:#x} is never written"),
    }
}

/// An entry as it is stored: an integer (not formatted), or bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

/// Decodes the entry starting at `off`: the element and the offset after it.
fn decode(buf: &[u8], off: usize) -> (Elem<'_>, usize) {
    match decode_stored(buf, off) {
        (Stored::Int(v), next) => (Elem::from_int(v), next),
        (Stored::Bytes(b), next) => (Elem::bytes(b), next),
    }
}

/// Decodes the entry starting at `off` as it is stored, and the offset after it.
fn decode_stored(buf: &[u8], off: usize) -> (Stored<'_>, usize) {
    let tag = buf[off];
    let body = off + 1;
    let int_at = |n: usize| {
        let mut le = [0u8; 8];
        le[..n].copy_from_slice(&buf[body..body + n]);
        let shift = 64 - 8 * n as u32;
        ((i64::from_le_bytes(le) << shift) >> shift, body + n)
    };
    let bytes_at =
        |start: usize, len: usize| (Stored::Bytes(&buf[start..start + len]), start + len);
    match tag {
        0x00..=0x7f => (Stored::Int(tag as i64), body),
        0x80..=0xbf => bytes_at(body, (tag & 0x3f) as usize),
        0xc0..=0xcf => bytes_at(body + 1, ((tag as usize & 0x0f) << 8) | buf[body] as usize),
        STR32_TAG => {
            let len = u32::from_le_bytes(buf[body..body + 4].try_into().expect("4 bytes"));
            bytes_at(body + 4, len as usize)
        }
        INT16_TAG..=INT64_TAG => {
            let n = [2, 3, 4, 8][(tag - INT16_TAG) as usize];
            let (v, next) = int_at(n);
            (Stored::Int(v), next)
        }
        _ => unreachable!("listpack tag {tag:#x} is never written"),
    }
}

/// Encodes `entries` back to back into `out`, which holds exactly their encodings.
fn write_entries(out: &mut [u8], entries: &[&[u8]]) {
    let mut at = 0;
    for e in entries {
        let e = Encoded::of(e);
        let next = at + e.size();
        e.write(&mut out[at..next]);
        at = next;
    }
    debug_assert_eq!(at, out.len());
}

/// Entries of a [`Listpack`] in order, with the byte offset each starts at.
pub struct Iter<'a> {
    buf: &'a [u8],
    off: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (usize, Elem<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.off >= self.buf.len() {
            return None;
        }
        let start = self.off;
        let (elem, next) = decode(self.buf, start);
        self.off = next;
        Some((start, elem))
    }
}

impl Listpack {
    /// Number of entries.
    pub fn len(&self) -> usize {
        if self.buf.is_empty() {
            return 0;
        }
        u32::from_le_bytes(self.buf[..COUNT_BYTES].try_into().expect("4 bytes")) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The whole buffer's size (what it costs on the heap, before allocator rounding).
    pub fn heap_bytes(&self) -> usize {
        self.buf.len()
    }

    /// Entries in order, each with its starting byte offset.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            buf: &self.buf,
            off: self.first(),
        }
    }

    /// The entry at byte offset `off` and the offset after it.
    pub fn entry_at(&self, off: usize) -> (Elem<'_>, usize) {
        decode(&self.buf, off)
    }

    /// The entry at byte offset `off` as stored (an integer is not formatted) and
    /// the offset after it.
    pub fn stored_at(&self, off: usize) -> (Stored<'_>, usize) {
        decode_stored(&self.buf, off)
    }

    /// The offset after the entry at `off`, from its tag alone.
    pub fn skip(&self, off: usize) -> usize {
        off + entry_size(&self.buf, off)
    }

    /// The first entry's offset; [`Listpack::heap_bytes`] is the offset past the
    /// last.
    pub fn first(&self) -> usize {
        COUNT_BYTES.min(self.buf.len())
    }

    /// The offset of the first entry at an index `≡ 0 (mod stride)` that equals `key`
    /// (`stride` 2 finds a hash's field among field, value, field, value, ...).
    ///
    /// Encodings are canonical (see the module doc), so an entry holds `key` exactly
    /// when its bytes are `key`'s encoding: the scan sizes each entry from its tag and
    /// compares bytes, decoding nothing.
    pub fn find(&self, key: &[u8], stride: usize) -> Option<usize> {
        let key = Encoded::of(key);
        let size = key.size();
        let mut inline = [0u8; FIND_INLINE_BYTES];
        let heap;
        let wanted: &[u8] = if size <= FIND_INLINE_BYTES {
            key.write(&mut inline[..size]);
            &inline[..size]
        } else {
            heap = {
                let mut v = vec![0u8; size];
                key.write(&mut v);
                v
            };
            &heap
        };
        let buf = &self.buf[..];
        let mut off = COUNT_BYTES.min(buf.len());
        let mut to_candidate = 0;
        while off < buf.len() {
            let next = off + entry_size(buf, off);
            if to_candidate == 0 {
                // Tag (type and length) first, then the last byte: fields often
                // share a prefix (`user:1001`, `user:1002`) and differ at the end.
                if buf[off] == wanted[0]
                    && buf[next - 1] == wanted[size - 1]
                    && buf[off..next] == *wanted
                {
                    return Some(off);
                }
                to_candidate = stride;
            }
            to_candidate -= 1;
            off = next;
        }
        None
    }

    /// Replaces the entries in bytes `start..end` (whole entries, `removed` of them) by
    /// `new`: in place when the new entries take as many bytes as the old (a value
    /// overwritten by one of the same size, as `HSET` of a counter or a fixed-size
    /// value), else in one allocation of the exact new size.
    pub fn splice(&mut self, start: usize, end: usize, removed: usize, new: &[&[u8]]) {
        let count = self.len() - removed + new.len();
        if count == 0 {
            self.buf = Box::default();
            return;
        }
        let count_u32 = u32::try_from(count).expect("a listpack holds < 2^32 entries");
        let (start, end) = if self.buf.is_empty() {
            (COUNT_BYTES, COUNT_BYTES)
        } else {
            (start, end)
        };
        let new_bytes: usize = new.iter().map(|s| Encoded::of(s).size()).sum();
        if !self.buf.is_empty() && new_bytes == end - start {
            write_entries(&mut self.buf[start..end], new);
            self.buf[..COUNT_BYTES].copy_from_slice(&count_u32.to_le_bytes());
            return;
        }
        let old_tail = self.buf.get(end..).unwrap_or_default();
        let size = start + new_bytes + old_tail.len();
        // Built by appending (only the new entries' bytes are zeroed before being
        // written), at exactly `size` capacity, so the boxed slice keeps the allocation.
        let mut out = Vec::with_capacity(size);
        out.extend_from_slice(&count_u32.to_le_bytes());
        if !self.buf.is_empty() {
            out.extend_from_slice(&self.buf[COUNT_BYTES..start]);
        }
        out.resize(start + new_bytes, 0);
        write_entries(&mut out[start..], new);
        out.extend_from_slice(old_tail);
        debug_assert_eq!(out.len(), size);
        self.buf = out.into_boxed_slice();
    }

    /// Appends entries at the end.
    pub fn push(&mut self, new: &[&[u8]]) {
        let end = self.buf.len();
        self.splice(end, end, 0, new);
    }
}

impl std::fmt::Debug for Listpack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(
                self.iter()
                    .map(|(_, e)| String::from_utf8_lossy(&e).into_owned()),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents(lp: &Listpack) -> Vec<Vec<u8>> {
        lp.iter().map(|(_, e)| e.to_vec()).collect()
    }

    /// One item of every listpack encoding: integers at each width's bounds, strings
    /// that only look like integers, and strings of each length class (`mid`, `long`).
    fn every_encoding<'a>(mid: &'a [u8], long: &'a [u8]) -> Vec<&'a [u8]> {
        vec![
            b"0",
            b"127",
            b"128",
            b"-1",
            b"-32768",
            b"32767",
            b"-8388608",
            b"8388607",
            b"8388608",
            b"-2147483648",
            b"2147483647",
            b"2147483648",
            b"-9223372036854775808",
            b"9223372036854775807",
            b"9223372036854775808",
            b"007",
            b"-0",
            b"+1",
            b"",
            b"a",
            mid,
            long,
        ]
    }

    #[test]
    fn every_encoding_reads_back_the_same_bytes() {
        let long = vec![b'x'; 5000];
        let mid = vec![b'y'; 100];
        let items = every_encoding(&mid, &long);
        let mut lp = Listpack::default();
        lp.push(&items);
        assert_eq!(lp.len(), items.len());
        assert_eq!(contents(&lp), items);
        assert_eq!(lp.entry_at(COUNT_BYTES).0.stored_int(), Some(0));
        assert_eq!(
            lp.find(b"007", 1).map(|o| lp.entry_at(o).0.to_vec()),
            Some(b"007".to_vec())
        );
    }

    #[test]
    fn find_matches_decoded_entries_in_every_encoding_and_stride() {
        let long = vec![b'x'; 5000];
        let mid = vec![b'y'; 100];
        let mut items = every_encoding(&mid, &long);
        items.extend([b"127" as &[u8], b"a"]);
        let mut lp = Listpack::default();
        lp.push(&items);
        let absent: Vec<&[u8]> = vec![b"1", b"x", b"-2", b"00", &long[1..], &mid[1..]];
        for key in items.iter().chain(&absent) {
            for stride in [1, 2] {
                let expected = lp
                    .iter()
                    .step_by(stride)
                    .find(|(_, e)| **e == **key)
                    .map(|(off, _)| off);
                assert_eq!(lp.find(key, stride), expected, "{key:?} stride {stride}");
            }
        }
        assert_eq!(lp.find(b"-1", 2), None, "odd positions are values");
    }

    #[test]
    fn integers_are_stored_compactly() {
        let mut lp = Listpack::default();
        lp.push(&[b"100", b"30000", b"1234567890123456"]);
        assert_eq!(lp.heap_bytes(), COUNT_BYTES + 1 + 3 + 9);
    }

    #[test]
    fn a_same_size_replacement_writes_in_place() {
        let mut lp = Listpack::default();
        lp.push(&[b"f1", b"abc", b"f2", b"100", b"f3", b"v3"]);
        let buf = lp.buf.as_ptr();
        let replace = |lp: &mut Listpack, field: &[u8], value: &[u8]| {
            let (_, value_off) = lp.entry_at(lp.find(field, 2).expect("present"));
            let (_, end) = lp.entry_at(value_off);
            lp.splice(value_off, end, 1, &[value]);
        };
        replace(&mut lp, b"f1", b"xyz");
        assert_eq!(lp.buf.as_ptr(), buf);
        replace(&mut lp, b"f2", b"101");
        assert_eq!(lp.buf.as_ptr(), buf);
        assert_eq!(
            contents(&lp),
            [&b"f1"[..], b"xyz", b"f2", b"101", b"f3", b"v3"]
        );
        // Another size (an integer becoming a string) reallocates.
        replace(&mut lp, b"f2", b"1x");
        replace(&mut lp, b"f1", b"");
        assert_eq!(contents(&lp), [&b"f1"[..], b"", b"f2", b"1x", b"f3", b"v3"]);
        assert_eq!(lp.len(), 6);
        assert_eq!(lp.heap_bytes(), COUNT_BYTES + 3 + 1 + 3 + 3 + 3 + 3);
    }

    #[test]
    fn splice_replaces_removes_and_empties() {
        let mut lp = Listpack::default();
        lp.push(&[b"f1", b"v1", b"f2", b"v2"]);
        let off = lp.find(b"f2", 2).expect("present");
        let (_, after_field) = lp.entry_at(off);
        let (_, end) = lp.entry_at(after_field);
        lp.splice(after_field, end, 1, &[b"new value"]);
        assert_eq!(contents(&lp), [&b"f1"[..], b"v1", b"f2", b"new value"]);
        assert_eq!(lp.find(b"v1", 2), None);
        let off = lp.find(b"f1", 2).expect("present");
        let (_, value_off) = lp.entry_at(off);
        let (_, end) = lp.entry_at(value_off);
        lp.splice(off, end, 2, &[]);
        assert_eq!(contents(&lp), [&b"f2"[..], b"new value"]);
        lp.splice(COUNT_BYTES, lp.heap_bytes(), 2, &[]);
        assert!(lp.is_empty());
        assert_eq!(lp.heap_bytes(), 0);
    }
}
