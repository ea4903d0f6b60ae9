//! A list value: a sequence of packed [`Node`]s, as Redis's quicklist is a linked
//! list of listpacks, with the operations of the `L*` commands.
//!
//! Each node holds at most what `list-max-listpack-size` allows (Redis's `fill`): a
//! positive value caps the elements per node (and the node at
//! [`NODE_BYTES_SAFETY_LIMIT`] bytes), a negative one caps the node's bytes at
//! 4, 8, 16, 32 or 64 KiB for -1 to -5 (`_quicklistNodeAllowInsert`); a node always
//! takes its first element, so a large element gets a node of its own. Reaching
//! element `i` walks the node lengths from the nearer end and then one node, so
//! `LINDEX`/`LSET`/`LINSERT` in the middle of a long list touch one node, never the
//! whole list; a full node is split where the element goes in, and neighbours that
//! fit in one node after a removal are merged.
//!
//! `list-compress-depth` is accepted and kept ([`ListLimits::compress_depth`]) but
//! nodes are never compressed: compression changes no reply, only memory.
//!
//! Redis 7.0 encodes every list as a quicklist (the `listpack` encoding of small
//! lists arrived in 7.2), so `OBJECT ENCODING` answers `quicklist` for any list.

use std::collections::VecDeque;

use super::list_node::{entry_bytes, Node};

/// `list-max-listpack-size`: the per-node limit (elements if positive, a size class
/// if negative).
pub const LIST_MAX_LISTPACK_SIZE: &str = "list-max-listpack-size";
/// The 6.x name of [`LIST_MAX_LISTPACK_SIZE`], still accepted by 7.0.
pub const LIST_MAX_ZIPLIST_SIZE: &str = "list-max-ziplist-size";
/// Redis 7.0's default: nodes of at most 8 KiB.
pub const LIST_MAX_LISTPACK_SIZE_DEFAULT: i64 = -2;
/// `list-compress-depth`: nodes at each end left uncompressed (0: none compressed).
pub const LIST_COMPRESS_DEPTH: &str = "list-compress-depth";
/// Redis 7.0's default.
pub const LIST_COMPRESS_DEPTH_DEFAULT: usize = 0;

/// Node sizes for `list-max-listpack-size` -1 to -5 (Redis's `optimization_level`).
const NODE_BYTES_BY_LEVEL: [usize; 5] = [4096, 8192, 16384, 32768, 65536];
/// Largest node a positive `list-max-listpack-size` lets grow (`SIZE_SAFETY_LIMIT`).
pub const NODE_BYTES_SAFETY_LIMIT: usize = 8192;

/// The encoding limits of lists, as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListLimits {
    pub max_listpack_size: i64,
    pub compress_depth: usize,
}

impl Default for ListLimits {
    fn default() -> Self {
        ListLimits {
            max_listpack_size: LIST_MAX_LISTPACK_SIZE_DEFAULT,
            compress_depth: LIST_COMPRESS_DEPTH_DEFAULT,
        }
    }
}

impl ListLimits {
    /// Whether a node of `count` elements and `bytes` bytes may hold that much.
    fn fits(&self, count: usize, bytes: usize) -> bool {
        if count <= 1 {
            return true;
        }
        let fill = self.max_listpack_size;
        if fill < 0 {
            let level = (fill.unsigned_abs() as usize - 1).min(NODE_BYTES_BY_LEVEL.len() - 1);
            bytes <= NODE_BYTES_BY_LEVEL[level]
        } else {
            bytes <= NODE_BYTES_SAFETY_LIMIT && count as u64 <= fill as u64
        }
    }

    fn takes(&self, node: &Node, elem: &[u8]) -> bool {
        self.fits(node.len() + 1, node.bytes() + entry_bytes(elem.len()))
    }
}

/// Which end of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Head,
    Tail,
}

/// A list of byte strings.
#[derive(Clone, Default)]
pub struct List {
    nodes: VecDeque<Node>,
    len: usize,
}

impl List {
    pub fn new() -> Self {
        List::default()
    }

    /// A list of `elems`, in order.
    pub fn from_elems<'e>(elems: impl IntoIterator<Item = &'e [u8]>, limits: &ListLimits) -> Self {
        let mut list = List::new();
        elems
            .into_iter()
            .for_each(|e| list.push(End::Tail, e, limits));
        list
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// What `OBJECT ENCODING` answers (see the module doc).
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    /// Nodes in the list (for tests of the layout).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn push(&mut self, end: End, elem: &[u8], limits: &ListLimits) {
        let node = match end {
            End::Head => self.nodes.front_mut(),
            End::Tail => self.nodes.back_mut(),
        };
        match node {
            Some(node) if limits.takes(node, elem) => match end {
                End::Head => node.push_front(elem),
                End::Tail => node.push_back(elem),
            },
            _ => {
                let node = Node::from_elems([elem]);
                match end {
                    End::Head => self.nodes.push_front(node),
                    End::Tail => self.nodes.push_back(node),
                }
            }
        }
        self.len += 1;
    }

    pub fn pop(&mut self, end: End) -> Option<Vec<u8>> {
        let node = match end {
            End::Head => self.nodes.front_mut()?,
            End::Tail => self.nodes.back_mut()?,
        };
        let elem = match end {
            End::Head => node.pop_front(),
            End::Tail => node.pop_back(),
        }
        .expect("no node is empty");
        if node.is_empty() {
            match end {
                End::Head => self.nodes.pop_front(),
                End::Tail => self.nodes.pop_back(),
            };
        }
        self.len -= 1;
        Some(elem)
    }

    /// The node holding element `index` (below `len`) and the index within it,
    /// walking node lengths from the nearer end.
    fn locate(&self, index: usize) -> (usize, usize) {
        assert!(index < self.len);
        if index < self.len / 2 {
            let mut base = 0;
            for (i, node) in self.nodes.iter().enumerate() {
                if index < base + node.len() {
                    return (i, index - base);
                }
                base += node.len();
            }
        } else {
            let mut base = self.len;
            for (i, node) in self.nodes.iter().enumerate().rev() {
                base -= node.len();
                if index >= base {
                    return (i, index - base);
                }
            }
        }
        unreachable!("the node lengths sum to the list length")
    }

    pub fn get(&self, index: usize) -> Option<&[u8]> {
        if index >= self.len {
            return None;
        }
        let (n, i) = self.locate(index);
        Some(self.nodes[n].get(i))
    }

    /// Replaces element `index` (below `len`); splits its node if it outgrew it.
    pub fn set(&mut self, index: usize, elem: &[u8], limits: &ListLimits) {
        let (n, i) = self.locate(index);
        self.nodes[n].set(i, elem);
        self.split_if_over(n, limits);
    }

    /// Inserts `elem` so it becomes element `index` (at most `len`).
    pub fn insert(&mut self, index: usize, elem: &[u8], limits: &ListLimits) {
        assert!(index <= self.len);
        if index == self.len {
            return self.push(End::Tail, elem, limits);
        }
        let (n, i) = self.locate(index);
        self.nodes[n].insert(i, elem);
        self.len += 1;
        self.split_if_over(n, limits);
    }

    /// Splits node `n` in two halves while it is over the limits.
    fn split_if_over(&mut self, n: usize, limits: &ListLimits) {
        let node = &self.nodes[n];
        if limits.fits(node.len(), node.bytes()) {
            return;
        }
        let half = node.len() / 2;
        let tail = self.nodes[n].split_off(half);
        self.nodes.insert(n + 1, tail);
        self.split_if_over(n + 1, limits);
        self.split_if_over(n, limits);
    }

    /// Merges node `n` into its successor's place when both fit in one node.
    fn merge_next(&mut self, n: usize, limits: &ListLimits) {
        let (Some(a), Some(b)) = (self.nodes.get(n), self.nodes.get(n + 1)) else {
            return;
        };
        if limits.fits(a.len() + b.len(), a.bytes() + b.bytes()) {
            let b = self.nodes.remove(n + 1).expect("present");
            self.nodes[n].append(&b);
        }
    }

    /// Removes elements `start..end` (within `0..=len`).
    pub fn remove_range(&mut self, start: usize, end: usize, limits: &ListLimits) {
        assert!(start <= end && end <= self.len);
        if start == end {
            return;
        }
        let (mut n, mut base) = (0, 0);
        let mut left = None;
        while n < self.nodes.len() && base < end {
            let count = self.nodes[n].len();
            let (from, to) = (
                start.max(base) - base,
                end.min(base + count).saturating_sub(base),
            );
            base += count;
            if from >= to {
                n += 1;
                continue;
            }
            left.get_or_insert(n);
            if from == 0 && to == count {
                self.nodes.remove(n);
            } else {
                self.nodes[n].remove_range(from, to);
                n += 1;
            }
        }
        self.len -= end - start;
        if let Some(n) = left {
            self.merge_next(n.saturating_sub(1), limits);
            self.merge_next(n, limits);
        }
    }

    /// Removes the elements at `indices` (ascending, each below `len`).
    pub fn remove_indices(&mut self, indices: &[usize], limits: &ListLimits) {
        assert!(indices.windows(2).all(|w| w[0] < w[1]));
        let mut next = indices.iter().peekable();
        let mut index = 0;
        for node in self.nodes.iter_mut() {
            node.retain(|_| {
                let remove = next.next_if_eq(&&index).is_some();
                index += 1;
                !remove
            });
        }
        self.len -= indices.len();
        self.nodes.retain(|n| !n.is_empty());
        let mut n = 0;
        while n + 1 < self.nodes.len() {
            let before = self.nodes.len();
            self.merge_next(n, limits);
            if self.nodes.len() == before {
                n += 1;
            }
        }
    }

    /// The elements front to back (`.rev()`: back to front).
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &[u8]> + '_ {
        self.nodes.iter().flat_map(Node::iter)
    }

    /// The indices, ascending, `LREM count elem` removes: the first `count` matches from
    /// the head (from the tail when negative; every match when 0).
    pub fn rem_indices(&self, count: i64, elem: &[u8]) -> Vec<usize> {
        let limit = match count {
            0 => usize::MAX,
            n => usize::try_from(n.unsigned_abs()).unwrap_or(usize::MAX),
        };
        let len = self.len();
        let mut indices: Vec<usize> = if count >= 0 {
            self.iter()
                .enumerate()
                .filter(|(_, e)| *e == elem)
                .map(|(i, _)| i)
                .take(limit)
                .collect()
        } else {
            self.iter()
                .rev()
                .enumerate()
                .filter(|(_, e)| *e == elem)
                .map(|(i, _)| len - 1 - i)
                .take(limit)
                .collect()
        };
        indices.sort_unstable();
        indices
    }

    /// The elements from `index` on, reaching `index` through node lengths.
    pub fn iter_from(&self, index: usize) -> impl Iterator<Item = &[u8]> + '_ {
        let (n, i) = if index < self.len {
            self.locate(index)
        } else {
            (self.nodes.len(), 0)
        };
        self.nodes.range(n..).flat_map(Node::iter).skip(i)
    }
}

impl PartialEq for List {
    fn eq(&self, other: &List) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl std::fmt::Debug for List {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.iter().map(String::from_utf8_lossy))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    fn elem(rng: &mut SmallRng) -> Vec<u8> {
        let len = match rng.gen_range(0..10) {
            0 => rng.gen_range(100..3000),
            _ => rng.gen_range(0..12),
        };
        (0..len).map(|i| b'a' + (i % 26) as u8).collect()
    }

    /// Random operations against a `VecDeque` model, under limits that split and
    /// merge nodes often; every node stays within the limits.
    #[test]
    fn matches_a_vecdeque_model_across_splits_and_merges() {
        for fill in [-1, -2, 1, 2, 5, 0] {
            let limits = ListLimits {
                max_listpack_size: fill,
                compress_depth: 1,
            };
            let mut rng = SmallRng::seed_from_u64(fill.unsigned_abs());
            let mut list = List::new();
            let mut model: VecDeque<Vec<u8>> = VecDeque::new();
            for step in 0..4000 {
                let len = model.len();
                match rng.gen_range(0..9) {
                    0 | 1 => {
                        let e = elem(&mut rng);
                        list.push(End::Head, &e, &limits);
                        model.push_front(e);
                    }
                    2 | 3 => {
                        let e = elem(&mut rng);
                        list.push(End::Tail, &e, &limits);
                        model.push_back(e);
                    }
                    4 => assert_eq!(list.pop(End::Head), model.pop_front()),
                    5 => assert_eq!(list.pop(End::Tail), model.pop_back()),
                    6 => {
                        let i = rng.gen_range(0..=len);
                        let e = elem(&mut rng);
                        list.insert(i, &e, &limits);
                        model.insert(i, e);
                    }
                    7 if len > 0 => {
                        let i = rng.gen_range(0..len);
                        let e = elem(&mut rng);
                        list.set(i, &e, &limits);
                        model[i] = e;
                    }
                    _ if len > 0 => {
                        let a = rng.gen_range(0..=len);
                        let b = rng.gen_range(a..=len.min(a + 20));
                        if rng.gen_bool(0.5) {
                            list.remove_range(a, b, &limits);
                        } else {
                            let idx: Vec<usize> = (a..b).filter(|i| i % 2 == 0).collect();
                            list.remove_indices(&idx, &limits);
                            idx.iter().rev().for_each(|&i| drop(model.remove(i)));
                            continue;
                        }
                        model.drain(a..b);
                    }
                    _ => {}
                }
                assert_eq!(list.len(), model.len(), "step {step}");
                if step % 97 == 0 || list.len() < 5 {
                    assert!(list.iter().eq(model.iter().map(Vec::as_slice)));
                    assert!(list.iter().rev().eq(model.iter().rev().map(Vec::as_slice)));
                    let at = rng.gen_range(0..=model.len());
                    assert!(list
                        .iter_from(at)
                        .eq(model.iter().skip(at).map(Vec::as_slice)));
                    for node in &list.nodes {
                        assert!(!node.is_empty());
                        assert!(limits.fits(node.len(), node.bytes()) || node.len() == 1);
                    }
                }
                if !model.is_empty() {
                    let i = rng.gen_range(0..model.len());
                    assert_eq!(list.get(i), Some(&model[i][..]));
                }
            }
        }
    }

    /// A million elements: a change in the middle touches one 8 KiB node.
    #[test]
    fn the_middle_of_a_long_list_is_one_node_away() {
        let limits = ListLimits::default();
        let mut list = List::new();
        for i in 0..1_000_000u32 {
            list.push(End::Tail, &i.to_le_bytes(), &limits);
        }
        assert!(list.node_count() > 500, "{}", list.node_count());
        list.insert(500_000, b"mid", &limits);
        list.set(500_001, b"set", &limits);
        assert_eq!(list.get(500_000), Some(&b"mid"[..]));
        assert_eq!(list.get(500_001), Some(&b"set"[..]));
        assert_eq!(list.get(999_999), Some(&999_998u32.to_le_bytes()[..]));
        assert_eq!(list.len(), 1_000_001);
    }
}
