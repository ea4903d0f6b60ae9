//! The large encoding of sorted sets (`OBJECT ENCODING` says `skiplist`, as Redis
//! calls it): an order-statistic treap over `(score, member)` plus a hash index from
//! member to node, so a score lookup is O(1) and insertion, removal, rank, the
//! element at a rank and the first position past a score or lex bound are all
//! O(log n) expected.
//!
//! Why a treap rather than a skiplist or a B-tree: it needs the subtree size per
//! node for rank (a skiplist needs a span per level, a B-tree counts per child) and
//! nothing else, lives in one arena vector with `u32` links (no pointer per level,
//! no per-node allocation), and its rebalancing is two short recursive functions
//! ([`Tree::split`], [`Tree::merge`]), applied only where an insertion or a removal
//! lands: one walk down from the root counts the change into the subtrees it
//! passes (a split and merges from the root wrote every node on the path two or
//! three times: `ZADD` of random scores into a 100,000-member set took 1.55x the
//! CPU it takes now). A node costs 48 bytes plus one 5-byte index
//! slot; Redis's skiplist node, its `sds` member and its `dict` entry cost about
//! twice that. Priorities come from a generator kept in the tree, seeded from its
//! randomly keyed hasher: were the sequence known (one fixed seed for every tree),
//! a client could order its scores by it and make the tree one path, each
//! operation then O(n) and the recursive split and merge as deep as the set.
//!
//! Ties in score are ordered by member bytes, as Redis orders them (`sdscmp`); `-0`
//! and `0` compare equal, as doubles do in C.

use std::cmp::Ordering;
use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

use super::dense::Packed;

/// Bytes of a member held inline in a node.
const MEMBER_INLINE_BYTES: usize = 22;
/// No node.
const NIL: u32 = u32::MAX;
/// The smallest slot space `ZSCAN` walks, as Redis's smallest dict table.
const SCAN_MIN_SLOTS: usize = 4;
/// Slots `ZSCAN` tries per element asked for, as Redis's `maxiterations`.
const SCAN_SLOTS_PER_COUNT: usize = 10;
/// What a tree's hasher hashes into its priority generator's seed.
const PRIORITY_SEED: u32 = 0x9e37_79b9;

#[derive(Clone)]
struct Node {
    member: Packed<MEMBER_INLINE_BYTES>,
    score: f64,
    left: u32,
    right: u32,
    /// Nodes in this subtree, this one included.
    size: u32,
    priority: u32,
}

const _: () = assert!(std::mem::size_of::<Node>() == 48);

/// Compares `(score, member)` pairs in sorted-set order.
pub fn cmp_entry(a_score: f64, a_member: &[u8], b_score: f64, b_member: &[u8]) -> Ordering {
    a_score
        .partial_cmp(&b_score)
        .expect("scores are never NaN")
        .then_with(|| a_member.cmp(b_member))
}

/// The ordered encoding. See the module doc.
#[derive(Clone)]
pub struct Tree {
    nodes: Vec<Node>,
    /// Slots of removed nodes, reused first.
    free: Vec<u32>,
    root: u32,
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
    rng: u32,
    /// Heap bytes of members too long to be inline.
    payload_bytes: usize,
}

impl Default for Tree {
    fn default() -> Self {
        let hasher = DefaultHashBuilder::default();
        Tree {
            nodes: Vec::new(),
            free: Vec::new(),
            root: NIL,
            index: HashTable::new(),
            // xorshift needs a non-zero state.
            rng: hasher.hash_one(PRIORITY_SEED) as u32 | 1,
            hasher,
            payload_bytes: 0,
        }
    }
}

impl Tree {
    pub fn len(&self) -> usize {
        self.size(self.root)
    }

    pub fn is_empty(&self) -> bool {
        self.root == NIL
    }

    pub fn heap_bytes(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.free.capacity() * 4
            + self.index.capacity() * 5
            + self.payload_bytes
    }

    fn size(&self, n: u32) -> usize {
        if n == NIL {
            0
        } else {
            self.nodes[n as usize].size as usize
        }
    }

    fn fix(&mut self, n: u32) {
        let (l, r) = (self.nodes[n as usize].left, self.nodes[n as usize].right);
        self.nodes[n as usize].size = (1 + self.size(l) + self.size(r)) as u32;
    }

    fn find_node(&self, member: &[u8]) -> Option<u32> {
        let nodes = &self.nodes;
        self.index
            .find(self.hasher.hash_one(member), |&i| {
                nodes[i as usize].member.bytes() == member
            })
            .copied()
    }

    /// The score of `member`.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.find_node(member).map(|n| self.nodes[n as usize].score)
    }

    /// Splits the subtree at `t` into the nodes for which `before` holds (a prefix of
    /// the order) and the rest.
    fn split(&mut self, t: u32, before: &impl Fn(f64, &[u8]) -> bool) -> (u32, u32) {
        if t == NIL {
            return (NIL, NIL);
        }
        let node = &self.nodes[t as usize];
        if before(node.score, node.member.bytes()) {
            let (l, r) = self.split(node.right, before);
            self.nodes[t as usize].right = l;
            self.fix(t);
            (t, r)
        } else {
            let (l, r) = self.split(node.left, before);
            self.nodes[t as usize].left = r;
            self.fix(t);
            (l, t)
        }
    }

    /// Joins two subtrees, every node of `a` ordered before every node of `b`.
    fn merge(&mut self, a: u32, b: u32) -> u32 {
        if a == NIL {
            return b;
        }
        if b == NIL {
            return a;
        }
        if self.nodes[a as usize].priority > self.nodes[b as usize].priority {
            let r = self.merge(self.nodes[a as usize].right, b);
            self.nodes[a as usize].right = r;
            self.fix(a);
            a
        } else {
            let l = self.merge(a, self.nodes[b as usize].left);
            self.nodes[b as usize].left = l;
            self.fix(b);
            b
        }
    }

    fn next_priority(&mut self) -> u32 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.rng = x;
        x
    }

    /// Inserts a member that is not in the tree.
    pub fn insert_new(&mut self, member: &[u8], score: f64) {
        debug_assert!(self.find_node(member).is_none());
        let node = Node {
            member: Packed::from_parts(&[member]),
            score,
            left: NIL,
            right: NIL,
            size: 1,
            priority: self.next_priority(),
        };
        self.payload_bytes += node.member.heap_bytes();
        let id = match self.free.pop() {
            Some(id) => {
                self.nodes[id as usize] = node;
                id
            }
            None => {
                self.nodes.push(node);
                u32::try_from(self.nodes.len() - 1).expect("fewer than 2^32 members")
            }
        };
        let nodes = &self.nodes;
        let hasher = &self.hasher;
        self.index.insert_unique(hasher.hash_one(member), id, |&i| {
            hasher.hash_one(nodes[i as usize].member.bytes())
        });
        // Down to where the new node's priority puts it, each subtree on the way
        // one node larger; the subtree found there is split around the new node,
        // which takes its place. Expected O(1) nodes are split: a node's subtree is
        // small where its random priority ranks it.
        let priority = self.nodes[id as usize].priority;
        let (mut parent, mut t) = (None, self.root);
        while t != NIL && self.nodes[t as usize].priority > priority {
            let node = &mut self.nodes[t as usize];
            node.size += 1;
            let left = cmp_entry(score, member, node.score, node.member.bytes()).is_lt();
            parent = Some((t, left));
            t = if left { node.left } else { node.right };
        }
        let (l, r) = self.split(t, &|s, m| cmp_entry(s, m, score, member).is_lt());
        let node = &mut self.nodes[id as usize];
        (node.left, node.right) = (l, r);
        self.fix(id);
        self.link(parent, id);
    }

    /// Makes `child` the root (`parent` `None`), or the left or right child of a
    /// node (`Some((node, left))`).
    fn link(&mut self, parent: Option<(u32, bool)>, child: u32) {
        match parent {
            None => self.root = child,
            Some((p, true)) => self.nodes[p as usize].left = child,
            Some((p, false)) => self.nodes[p as usize].right = child,
        }
    }

    /// Removes `member`; its score when it was there.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let id = self.find_node(member)?;
        let score = self.nodes[id as usize].score;
        let hash = self.hasher.hash_one(member);
        self.index
            .find_entry(hash, |&i| i == id)
            .expect("indexed")
            .remove();
        // Down to the node, each subtree on the way one node smaller; its two
        // subtrees, merged, take its place.
        let (mut parent, mut t) = (None, self.root);
        while t != id {
            debug_assert_ne!(t, NIL, "an indexed node is in the tree");
            let node = &mut self.nodes[t as usize];
            node.size -= 1;
            let left = cmp_entry(score, member, node.score, node.member.bytes()).is_lt();
            parent = Some((t, left));
            t = if left { node.left } else { node.right };
        }
        let (l, r) = (self.nodes[id as usize].left, self.nodes[id as usize].right);
        let joined = self.merge(l, r);
        self.link(parent, joined);
        let node = &mut self.nodes[id as usize];
        self.payload_bytes -= node.member.heap_bytes();
        node.member = Packed::from_parts(&[]);
        node.size = 0;
        self.free.push(id);
        Some(score)
    }

    /// How many entries `before` holds for: the rank of the first entry past a bound
    /// (`before` must hold for a prefix of the order).
    pub fn count_before(&self, before: impl Fn(f64, &[u8]) -> bool) -> usize {
        let (mut n, mut count) = (self.root, 0);
        while n != NIL {
            let node = &self.nodes[n as usize];
            if before(node.score, node.member.bytes()) {
                count += self.size(node.left) + 1;
                n = node.right;
            } else {
                n = node.left;
            }
        }
        count
    }

    /// The 0-based rank of `member`, ascending.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        let id = self.find_node(member)?;
        let node = &self.nodes[id as usize];
        let (score, member) = (node.score, node.member.bytes());
        Some(self.count_before(|s, m| cmp_entry(s, m, score, member).is_lt()))
    }

    /// Visits entries from rank `start` on, ascending (or descending from rank
    /// `start` counted from the top when `rev`), while `visit` returns true.
    pub fn walk(&self, start: usize, rev: bool, mut visit: impl FnMut(&[u8], f64) -> bool) {
        let mut stack = Vec::new();
        let (mut n, mut skip) = (self.root, start);
        while n != NIL {
            let node = &self.nodes[n as usize];
            let (near, far) = match rev {
                false => (node.left, node.right),
                true => (node.right, node.left),
            };
            let near_size = self.size(near);
            if skip < near_size {
                stack.push(n);
                n = near;
            } else {
                skip -= near_size;
                if skip == 0 {
                    stack.push(n);
                    break;
                }
                skip -= 1;
                n = far;
            }
        }
        while let Some(n) = stack.pop() {
            let node = &self.nodes[n as usize];
            if !visit(node.member.bytes(), node.score) {
                return;
            }
            let mut c = if rev { node.left } else { node.right };
            while c != NIL {
                stack.push(c);
                let child = &self.nodes[c as usize];
                c = if rev { child.right } else { child.left };
            }
        }
    }

    /// Checks every subtree's size and that no node's priority is above its
    /// parent's (the shape that keeps the tree's depth logarithmic).
    #[cfg(test)]
    pub fn check_shape(&self) {
        fn walk(t: &Tree, n: u32, above: u32) -> usize {
            if n == NIL {
                return 0;
            }
            let node = &t.nodes[n as usize];
            assert!(node.priority <= above, "a node above its parent");
            let size = 1 + walk(t, node.left, node.priority) + walk(t, node.right, node.priority);
            assert_eq!(node.size as usize, size, "a subtree's size");
            size
        }
        assert_eq!(walk(self, self.root, u32::MAX), self.index.len());
    }

    /// The longest path from the root, in nodes.
    #[cfg(test)]
    pub fn depth(&self) -> usize {
        let (mut deepest, mut stack) = (0, vec![(self.root, 1)]);
        while let Some((n, d)) = stack.pop() {
            if n != NIL {
                deepest = deepest.max(d);
                let node = &self.nodes[n as usize];
                stack.extend([(node.left, d + 1), (node.right, d + 1)]);
            }
        }
        deepest
    }

    /// Node slots in use or free: the space [`Tree::slot_of`] positions are in.
    pub fn slots(&self) -> usize {
        self.nodes.len()
    }

    /// The slot of `member`'s node; it stays while the member does.
    pub fn slot_of(&self, member: &[u8]) -> Option<usize> {
        self.find_node(member).map(|n| n as usize)
    }

    /// The member and score in `slot`, `None` for a free slot.
    pub fn at_slot(&self, slot: usize) -> Option<(&[u8], f64)> {
        let node = self.nodes.get(slot)?;
        (node.size > 0).then(|| (node.member.bytes(), node.score))
    }

    /// One `ZSCAN` step as Redis's `dictScan` walks a table: over a power-of-two
    /// space of node slots (at least [`SCAN_MIN_SLOTS`]), in reverse-binary order from
    /// `cursor`, through at least one slot and until about `count` live nodes were
    /// visited or `count` × [`SCAN_SLOTS_PER_COUNT`] slots tried. Returns the next
    /// cursor, 0 when the walk is done.
    ///
    /// A node keeps its slot while its member stays, and the space only grows (slots
    /// are reused, never compacted); reverse-binary order visits, in a space twice
    /// as large, the slots of the smaller one in the same order, so a member present
    /// for the whole walk is visited, as `SCAN` guarantees.
    pub fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(&[u8], f64)) -> u64 {
        let slots = self.nodes.len().next_power_of_two().max(SCAN_MIN_SLOTS) as u64;
        let mask = slots - 1;
        let mut v = cursor;
        let (mut seen, mut tries) = (0, count.saturating_mul(SCAN_SLOTS_PER_COUNT));
        loop {
            if let Some(node) = self.nodes.get((v & mask) as usize) {
                if node.size > 0 {
                    visit(node.member.bytes(), node.score);
                    seen += 1;
                }
            }
            v |= !mask;
            v = v.reverse_bits().wrapping_add(1).reverse_bits();
            if v == 0 || tries == 0 || seen >= count {
                return v;
            }
            tries -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client that knew the priorities the n-th insertion gets could order its
    /// scores by them and make the tree one path (every operation O(n), the
    /// recursive split and merge as deep as the set is large): the priorities of
    /// each tree are its own, unknown outside it. Scores ranked as the generator's
    /// sequence from a fixed seed would rank them give a tree of ordinary depth.
    #[test]
    fn scores_ordered_by_a_guessed_priority_sequence_keep_the_tree_shallow() {
        const MEMBERS: usize = 20_000;
        let mut x: u32 = PRIORITY_SEED;
        let guessed: Vec<u32> = (0..MEMBERS)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x
            })
            .collect();
        let mut by_priority: Vec<usize> = (0..MEMBERS).collect();
        by_priority.sort_by_key(|&i| std::cmp::Reverse(guessed[i]));
        let mut score = vec![0.0; MEMBERS];
        for (rank, &i) in by_priority.iter().enumerate() {
            score[i] = rank as f64;
        }
        let mut tree = Tree::default();
        for (i, s) in score.iter().enumerate() {
            tree.insert_new(format!("m{i}").as_bytes(), *s);
        }
        tree.check_shape();
        assert!(tree.depth() < 100, "depth {}", tree.depth());
    }
}
