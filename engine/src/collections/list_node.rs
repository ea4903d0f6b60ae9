//! One node of a [`super::List`]: a run of elements packed into one buffer, readable
//! from either end, as a node of Redis's quicklist holds a listpack.
//!
//! ```text
//!  ┌───────────────────────────────┬───────────────────────────────┬─────┐
//!  │ len (LEB128) │ bytes │ backlen │ len (LEB128) │ bytes │ backlen │ ... │
//!  └───────────────────────────────┴───────────────────────────────┴─────┘
//!  backlen: the same length, 7 bits per byte, most significant group first, every
//!  byte but the first having its high bit set, so it is read backwards from the end
//! ```
//!
//! Pushing or popping at either end costs one `memmove` of the node at most (pushing
//! at the back nothing but the copy of the element); reaching an element in the
//! middle walks the node, whose size the list bounds (`list-max-listpack-size`).

use std::sync::Arc;

/// Longest LEB128 encoding of a `usize` length.
const LEN_BYTES_MAX: usize = 10;

/// A packed run of elements.
///
/// The buffer is shared by clones and copied on its first change after one
/// (`Arc::make_mut`), so cloning a list copies one pointer per node, and a change
/// to a clone copies only the nodes it touches: a snapshot keeps the start state of
/// a long list that way (see `snapshot::image`) at the price of the nodes writes
/// change, never the whole list. The count stays beside the pointer, so walking
/// node lengths reads no buffer.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Node {
    buf: Arc<Vec<u8>>,
    count: usize,
}

/// Bytes `encode` writes for an element of `len` bytes.
pub fn entry_bytes(len: usize) -> usize {
    2 * len_bytes(len) + len
}

fn len_bytes(len: usize) -> usize {
    let bits = usize::BITS as usize - (len | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Appends the entry of `elem` to `out`.
fn encode(elem: &[u8], out: &mut Vec<u8>) {
    let mut n = elem.len();
    while n >= 0x80 {
        out.push(n as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out.extend_from_slice(elem);
    let groups = len_bytes(elem.len());
    for g in (0..groups).rev() {
        let group = (elem.len() >> (7 * g)) as u8 & 0x7f;
        out.push(if g == groups - 1 { group } else { group | 0x80 });
    }
}

/// The element starting at `off` and the offset after its entry.
fn decode(buf: &[u8], off: usize) -> (&[u8], usize) {
    let (mut len, mut at) = (0usize, off);
    for shift in (0..LEN_BYTES_MAX).map(|i| 7 * i) {
        let b = buf[at];
        at += 1;
        len |= usize::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            break;
        }
    }
    (&buf[at..at + len], at + len + len_bytes(len))
}

/// The offset after the entry starting at `off`. An element shorter than 128
/// bytes has one length byte at each end, read here alone: walking a node to an
/// element in its middle is a chain of these steps, each waiting for the last.
fn entry_after(buf: &[u8], off: usize) -> usize {
    match buf[off] {
        b if b < 0x80 => off + 2 + b as usize,
        _ => decode(buf, off).1,
    }
}

/// The offset of the entry that ends at `end` (short elements as in
/// [`entry_after`]).
fn entry_before(buf: &[u8], end: usize) -> usize {
    if let b @ 0..0x80 = buf[end - 1] {
        return end - 2 - b as usize;
    }
    let (mut len, mut at, mut shift) = (0usize, end, 0);
    loop {
        at -= 1;
        let b = buf[at];
        len |= usize::from(b & 0x7f) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            break;
        }
    }
    at - len - len_bytes(len)
}

impl Node {
    /// A node holding `elems`, in order.
    pub fn from_elems<'e>(elems: impl IntoIterator<Item = &'e [u8]>) -> Node {
        let mut node = Node::default();
        for e in elems {
            node.push_back(e);
        }
        node
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The packed size in bytes.
    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    /// The buffer, to change: copied first if a clone shares it.
    fn buf_mut(&mut self) -> &mut Vec<u8> {
        Arc::make_mut(&mut self.buf)
    }

    pub fn push_back(&mut self, elem: &[u8]) {
        encode(elem, self.buf_mut());
        self.count += 1;
    }

    pub fn push_front(&mut self, elem: &[u8]) {
        self.insert_at(0, elem);
    }

    /// Inserts `elem` before the element at byte offset `off` (the end: after all).
    fn insert_at(&mut self, off: usize, elem: &[u8]) {
        let mut entry = Vec::with_capacity(entry_bytes(elem.len()));
        encode(elem, &mut entry);
        self.buf_mut().splice(off..off, entry);
        self.count += 1;
    }

    pub fn pop_back(&mut self) -> Option<Vec<u8>> {
        if self.count == 0 {
            return None;
        }
        let off = entry_before(&self.buf, self.buf.len());
        let elem = decode(&self.buf, off).0.to_vec();
        self.buf_mut().truncate(off);
        self.count -= 1;
        Some(elem)
    }

    pub fn pop_front(&mut self) -> Option<Vec<u8>> {
        if self.count == 0 {
            return None;
        }
        let (elem, next) = decode(&self.buf, 0);
        let elem = elem.to_vec();
        self.buf_mut().drain(..next);
        self.count -= 1;
        Some(elem)
    }

    /// The byte offset of element `index` (`len()`: the end), walking from the
    /// nearer end.
    fn offset(&self, index: usize) -> usize {
        assert!(index <= self.count);
        if index <= self.count / 2 {
            (0..index).fold(0, |off, _| entry_after(&self.buf, off))
        } else {
            (index..self.count).fold(self.buf.len(), |end, _| entry_before(&self.buf, end))
        }
    }

    /// Element `index`, which must be below `len()`.
    pub fn get(&self, index: usize) -> &[u8] {
        decode(&self.buf, self.offset(index)).0
    }

    /// Inserts `elem` so that it becomes element `index` (at most `len()`).
    pub fn insert(&mut self, index: usize, elem: &[u8]) {
        let off = self.offset(index);
        self.insert_at(off, elem);
    }

    /// Replaces element `index` by `elem`.
    pub fn set(&mut self, index: usize, elem: &[u8]) {
        let off = self.offset(index);
        let end = decode(&self.buf, off).1;
        let mut entry = Vec::with_capacity(entry_bytes(elem.len()));
        encode(elem, &mut entry);
        self.buf_mut().splice(off..end, entry);
    }

    /// Removes elements `start..end`.
    pub fn remove_range(&mut self, start: usize, end: usize) {
        assert!(start <= end && end <= self.count);
        let from = self.offset(start);
        let to = (start..end).fold(from, |off, _| entry_after(&self.buf, off));
        self.buf_mut().drain(from..to);
        self.count -= end - start;
    }

    /// Splits off the elements from `index` on into a new node.
    pub fn split_off(&mut self, index: usize) -> Node {
        let off = self.offset(index);
        let tail = Node {
            buf: Arc::new(self.buf_mut().split_off(off)),
            count: self.count - index,
        };
        self.count = index;
        tail
    }

    /// Appends every element of `other`.
    pub fn append(&mut self, other: &Node) {
        self.buf_mut().extend_from_slice(&other.buf);
        self.count += other.count;
    }

    /// The elements front to back.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            buf: &self.buf,
            front: 0,
            back: self.buf.len(),
        }
    }

    /// Keeps the elements `keep` accepts, in order; returns how many were removed.
    pub fn retain(&mut self, mut keep: impl FnMut(&[u8]) -> bool) -> usize {
        let mut out = Vec::with_capacity(self.buf.len());
        let mut kept = 0;
        for elem in self.iter().filter(|e| keep(e)) {
            encode(elem, &mut out);
            kept += 1;
        }
        let removed = self.count - kept;
        self.buf = Arc::new(out);
        self.count = kept;
        removed
    }
}

/// The elements of a [`Node`], from either end.
#[derive(Clone)]
pub struct Iter<'a> {
    buf: &'a [u8],
    front: usize,
    back: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.front >= self.back {
            return None;
        }
        let (elem, next) = decode(self.buf, self.front);
        self.front = next;
        Some(elem)
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.front >= self.back {
            return None;
        }
        let off = entry_before(self.buf, self.back);
        self.back = off;
        Some(decode(self.buf, off).0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_at_the_one_byte_edge_read_back_from_both_ends() {
        for len in [0, 1, 126, 127, 128, 129, 16_383, 16_384] {
            let elems: Vec<Vec<u8>> = (0..7u8).map(|i| vec![i; len + i as usize % 2]).collect();
            let node = Node::from_elems(elems.iter().map(Vec::as_slice));
            for (i, e) in elems.iter().enumerate() {
                assert_eq!(node.get(i), &e[..], "element {i} of length {len}");
            }
        }
    }

    #[test]
    fn entries_read_back_from_both_ends() {
        let long = vec![b'x'; 20_000];
        let mid = vec![b'y'; 200];
        let items: Vec<&[u8]> = vec![b"", b"a", &mid, &long, b"12345"];
        let mut node = Node::from_elems(items.iter().copied());
        assert_eq!(node.len(), 5);
        assert_eq!(
            node.bytes(),
            items.iter().map(|i| entry_bytes(i.len())).sum::<usize>()
        );
        assert_eq!(node.iter().collect::<Vec<_>>(), items);
        let back: Vec<&[u8]> = node.iter().rev().collect();
        assert_eq!(back, items.iter().rev().copied().collect::<Vec<_>>());
        for (i, item) in items.iter().enumerate() {
            assert_eq!(node.get(i), *item);
        }
        node.set(1, &long);
        node.insert(2, b"ins");
        assert_eq!(node.get(1), &long[..]);
        assert_eq!(node.get(2), b"ins");
        assert_eq!(node.pop_back().as_deref(), Some(&b"12345"[..]));
        assert_eq!(node.pop_front().as_deref(), Some(&b""[..]));
        let tail = node.split_off(2);
        assert_eq!(node.len(), 2);
        assert_eq!(tail.iter().collect::<Vec<_>>(), [&mid[..], &long[..]]);
        node.append(&tail);
        node.remove_range(1, 3);
        assert_eq!(node.iter().collect::<Vec<_>>(), [&long[..], &long[..]]);
        assert_eq!(node.retain(|e| e.len() < 10), 2);
        assert!(node.is_empty() && node.bytes() == 0);
    }
}
