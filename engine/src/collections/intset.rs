//! The compact encoding of sets of integers: a sorted array of `i64` stored at the
//! narrowest width that fits every member (2, 4 or 8 bytes), as Redis's intset.
//!
//! ```text
//!  ┌────────────┬──────────┬──────────┬─────┐
//!  │ width: u8  │ member 0 │ member 1 │ ... │   little-endian, ascending; no allocation
//!  └────────────┴──────────┴──────────┴─────┘   at all when empty
//! ```
//!
//! Adding a member that does not fit the width rewrites the array at the next width
//! (Redis's `intsetUpgradeAndAdd`); removals never narrow it, as in Redis. Membership
//! is a binary search; position `i` is the `i`-th smallest member, so sampling by
//! position is O(1). Like the listpack, the buffer is a boxed slice of the exact size.

/// Bytes of the width header.
const HEADER_BYTES: usize = 1;

/// A sorted set of integers.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Intset {
    buf: Box<[u8]>,
}

/// The narrowest width, in bytes, that holds `v`.
fn width_of(v: i64) -> usize {
    if i16::try_from(v).is_ok() {
        2
    } else if i32::try_from(v).is_ok() {
        4
    } else {
        8
    }
}

fn read(bytes: &[u8]) -> i64 {
    match bytes.len() {
        2 => i16::from_le_bytes(bytes.try_into().expect("2 bytes")) as i64,
        4 => i32::from_le_bytes(bytes.try_into().expect("4 bytes")) as i64,
        _ => i64::from_le_bytes(bytes.try_into().expect("8 bytes")),
    }
}

fn write(out: &mut Vec<u8>, v: i64, width: usize) {
    out.extend_from_slice(&v.to_le_bytes()[..width]);
}

impl Intset {
    fn width(&self) -> usize {
        self.buf.first().map_or(2, |&w| w as usize)
    }

    pub fn len(&self) -> usize {
        self.buf.len().saturating_sub(HEADER_BYTES) / self.width()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The `i`-th smallest member (`i < len`).
    pub fn get(&self, i: usize) -> i64 {
        let w = self.width();
        let at = HEADER_BYTES + i * w;
        read(&self.buf[at..at + w])
    }

    /// Where `v` is (`Ok`) or would go (`Err`).
    fn search(&self, v: i64) -> Result<usize, usize> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.get(mid).cmp(&v) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
    }

    pub fn contains(&self, v: i64) -> bool {
        self.search(v).is_ok()
    }

    /// Adds `v`; false when it was already a member.
    pub fn insert(&mut self, v: i64) -> bool {
        let Err(at) = self.search(v) else {
            return false;
        };
        let (old_w, len) = (self.width(), self.len());
        let w = old_w.max(width_of(v));
        let mut out = Vec::with_capacity(HEADER_BYTES + (len + 1) * w);
        out.push(w as u8);
        if w == old_w && !self.buf.is_empty() {
            out.extend_from_slice(&self.buf[HEADER_BYTES..HEADER_BYTES + at * w]);
            write(&mut out, v, w);
            out.extend_from_slice(&self.buf[HEADER_BYTES + at * w..]);
        } else {
            (0..at).for_each(|i| write(&mut out, self.get(i), w));
            write(&mut out, v, w);
            (at..len).for_each(|i| write(&mut out, self.get(i), w));
        }
        self.buf = out.into_boxed_slice();
        true
    }

    /// Removes `v`; false when it was not a member.
    pub fn remove(&mut self, v: i64) -> bool {
        let Ok(at) = self.search(v) else {
            return false;
        };
        if self.len() == 1 {
            self.buf = Box::default();
            return true;
        }
        let w = self.width();
        let mut out = Vec::with_capacity(self.buf.len() - w);
        out.extend_from_slice(&self.buf[..HEADER_BYTES + at * w]);
        out.extend_from_slice(&self.buf[HEADER_BYTES + (at + 1) * w..]);
        self.buf = out.into_boxed_slice();
        true
    }

    /// Members in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// The buffer's size (what it costs on the heap, before allocator rounding).
    pub fn heap_bytes(&self) -> usize {
        self.buf.len()
    }
}

impl std::fmt::Debug for Intset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widens_on_demand_and_keeps_order() {
        let mut s = Intset::default();
        assert!(s.insert(5));
        assert!(s.insert(-3));
        assert!(!s.insert(5));
        assert_eq!(s.heap_bytes(), 1 + 2 * 2);
        assert!(s.insert(70_000));
        assert_eq!(s.heap_bytes(), 1 + 3 * 4);
        assert!(s.insert(i64::MIN));
        assert!(s.insert(i64::MAX));
        assert_eq!(s.heap_bytes(), 1 + 5 * 8);
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            [i64::MIN, -3, 5, 70_000, i64::MAX]
        );
        assert!(s.remove(70_000));
        assert!(!s.remove(70_000));
        assert_eq!(s.heap_bytes(), 1 + 4 * 8, "removal never narrows");
        assert!(s.contains(i64::MIN) && s.contains(5) && !s.contains(6));
        for v in [i64::MIN, -3, 5, i64::MAX] {
            assert!(s.remove(v));
        }
        assert!(s.is_empty());
        assert_eq!(s.heap_bytes(), 0);
    }
}
