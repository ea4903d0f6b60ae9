//! A sorted-set value: members with scores, ordered by score then member bytes,
//! `listpack`-encoded while small, a [`Tree`] (what `OBJECT ENCODING` calls
//! `skiplist`) past the limits, with the operations of the `Z*` commands.
//!
//! Conversion follows Redis 7.0's `t_zset.c` (`zsetAdd`): adding a new member to a
//! `listpack` that would then hold more than `zset-max-listpack-entries` members, or
//! whose member is longer than `zset-max-listpack-value` bytes, converts it first;
//! changing the score of a member already there never converts. Removals never
//! convert back. A set built whole ([`Zset::from_entries`]: `*STORE` results, a
//! load) is a `listpack` exactly when its content fits one, as Redis's
//! `zsetConvertToListpackIfNeeded` decides.
//!
//! The `listpack` holds member, score, member, score, ... in order. A score that is
//! an integer of at most 53 bits is stored as that integer (so `-0` reads back as
//! `0`, as from Redis's listpack), which the
//! listpack packs in 1 to 9 bytes; any other score as [`FLOAT_MARK`] and its 8 bytes,
//! which no integer text can be confused with.

use super::listpack::{Listpack, Stored};
use super::zset_tree::{cmp_entry, Tree};
use super::{Elem, ZsetLimits};

/// First byte of a score stored as its IEEE-754 bits.
const FLOAT_MARK: u8 = 0xff;
/// Largest magnitude of a score stored as an integer: every integer up to it is
/// exactly a double.
const INT_SCORE_MAX: f64 = (1u64 << 53) as f64;

/// A score as listpack entry bytes.
struct ScoreBytes {
    buf: [u8; 20],
    len: usize,
}

impl ScoreBytes {
    fn of(score: f64) -> Self {
        let mut buf = [0u8; 20];
        let integral = score.fract() == 0.0 && score.abs() <= INT_SCORE_MAX;
        let len = if integral {
            let mut fmt = itoa::Buffer::new();
            let text = fmt.format(score as i64).as_bytes();
            buf[..text.len()].copy_from_slice(text);
            text.len()
        } else {
            buf[0] = FLOAT_MARK;
            buf[1..9].copy_from_slice(&score.to_le_bytes());
            9
        };
        ScoreBytes { buf, len }
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

fn score_of(e: Stored<'_>) -> f64 {
    match e {
        Stored::Int(v) => v as f64,
        Stored::Bytes(b) => {
            assert!(b.len() == 9 && b[0] == FLOAT_MARK, "a stored score");
            f64::from_le_bytes(b[1..9].try_into().expect("8 bytes"))
        }
    }
}

#[derive(Clone)]
enum Repr {
    Pack(Listpack),
    Tree(Box<Tree>),
}

/// A sorted-set value. See the module doc for its encodings.
#[derive(Clone)]
pub struct Zset(Repr);

impl Default for Zset {
    fn default() -> Self {
        Zset::new()
    }
}

impl Zset {
    pub fn new() -> Self {
        Zset(Repr::Pack(Listpack::default()))
    }

    /// A set of `entries` (distinct members), encoded as a rebuilt set is.
    pub fn from_entries<'a>(
        entries: impl IntoIterator<Item = (&'a [u8], f64)>,
        limits: &ZsetLimits,
    ) -> Self {
        let mut all: Vec<(&[u8], f64)> = entries.into_iter().collect();
        let fits = all.len() <= limits.max_listpack_entries
            && all
                .iter()
                .all(|(m, _)| m.len() <= limits.max_listpack_value_bytes);
        if !fits {
            let mut tree = Tree::default();
            all.iter().for_each(|&(m, s)| tree.insert_new(m, s));
            return Zset(Repr::Tree(Box::new(tree)));
        }
        all.sort_by(|a, b| cmp_entry(a.1, a.0, b.1, b.0));
        let scores: Vec<ScoreBytes> = all.iter().map(|&(_, s)| ScoreBytes::of(s)).collect();
        let items: Vec<&[u8]> = all
            .iter()
            .zip(&scores)
            .flat_map(|(&(m, _), s)| [m, s.bytes()])
            .collect();
        let mut pack = Listpack::default();
        if !items.is_empty() {
            pack.push(&items);
        }
        Zset(Repr::Pack(pack))
    }

    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Pack(p) => p.len() / 2,
            Repr::Tree(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// See [`Tree::check_shape`].
    #[cfg(test)]
    pub fn check_shape(&self) {
        if let Repr::Tree(t) = &self.0 {
            t.check_shape();
        }
    }

    /// What `OBJECT ENCODING` answers.
    pub fn encoding(&self) -> &'static str {
        match &self.0 {
            Repr::Pack(_) => "listpack",
            Repr::Tree(_) => "skiplist",
        }
    }

    /// Heap bytes owned, for memory accounting (before allocator rounding).
    pub fn heap_bytes(&self) -> usize {
        match &self.0 {
            Repr::Pack(p) => p.heap_bytes(),
            Repr::Tree(t) => std::mem::size_of::<Tree>() + t.heap_bytes(),
        }
    }

    /// The pack's entries: (offset of the member, score, offset past the score),
    /// the member skipped by its tag and the score read as stored: a walk to a
    /// rank or a score decodes no member it passes (`p.entry_at(off)` reads one).
    fn pack_pairs(p: &Listpack) -> impl Iterator<Item = (usize, f64, usize)> + '_ {
        let mut off = p.first();
        std::iter::from_fn(move || {
            if off >= p.heap_bytes() {
                return None;
            }
            let member = off;
            let (score, end) = p.stored_at(p.skip(off));
            off = end;
            Some((member, score_of(score), end))
        })
    }

    /// The pack's entries: (offset of the member, member, score, offset past the score).
    fn pack_entries(p: &Listpack) -> impl Iterator<Item = (usize, Elem<'_>, f64, usize)> {
        Zset::pack_pairs(p).map(|(off, score, end)| (off, p.entry_at(off).0, score, end))
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match &self.0 {
            Repr::Pack(p) => {
                let off = p.find(member, 2)?;
                Some(score_of(p.stored_at(p.skip(off)).0))
            }
            Repr::Tree(t) => t.score(member),
        }
    }

    fn convert_to_tree(&mut self) {
        let Repr::Pack(p) = &self.0 else {
            return;
        };
        let mut tree = Tree::default();
        for (_, m, s, _) in Zset::pack_entries(p) {
            tree.insert_new(&m, s);
        }
        self.0 = Repr::Tree(Box::new(tree));
    }

    /// Sets `member`'s score, adding it if new; its previous score, if any.
    pub fn insert(&mut self, member: &[u8], score: f64, limits: &ZsetLimits) -> Option<f64> {
        assert!(!score.is_nan());
        let old = self.remove(member);
        if old.is_none()
            && matches!(self.0, Repr::Pack(_))
            && (self.len() + 1 > limits.max_listpack_entries
                || member.len() > limits.max_listpack_value_bytes)
        {
            self.convert_to_tree();
        }
        match &mut self.0 {
            Repr::Pack(p) => {
                // The member is read only where the scores tie.
                let after = |off: usize, s: f64| {
                    s > score
                        || (s == score && cmp_entry(s, &p.entry_at(off).0, score, member).is_gt())
                };
                let at = Zset::pack_pairs(p)
                    .find(|&(off, s, _)| after(off, s))
                    .map_or(p.heap_bytes(), |(off, ..)| off);
                let s = ScoreBytes::of(score);
                p.splice(at, at, 0, &[member, s.bytes()]);
            }
            Repr::Tree(t) => t.insert_new(member, score),
        }
        old
    }

    /// Removes `member`; its score when it was there.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match &mut self.0 {
            Repr::Pack(p) => {
                let off = p.find(member, 2)?;
                let (score, end) = p.stored_at(p.skip(off));
                let score = score_of(score);
                p.splice(off, end, 2, &[]);
                Some(score)
            }
            Repr::Tree(t) => t.remove(member),
        }
    }

    /// The 0-based ascending rank of `member`.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        match &self.0 {
            Repr::Pack(p) => {
                let off = p.find(member, 2)?;
                Some(Zset::pack_pairs(p).take_while(|e| e.0 != off).count())
            }
            Repr::Tree(t) => t.rank(member),
        }
    }

    /// How many entries `before` holds for, which must be a prefix of the order: the
    /// rank of the first entry past a score or lex bound.
    pub fn count_before(&self, before: impl Fn(f64, &[u8]) -> bool) -> usize {
        match &self.0 {
            Repr::Pack(p) => Zset::pack_entries(p)
                .take_while(|(_, m, s, _)| before(*s, m))
                .count(),
            Repr::Tree(t) => t.count_before(before),
        }
    }

    /// Visits entries from rank `start` (counted from the top when `rev`), in order
    /// (descending when `rev`), while `visit` returns true.
    pub fn walk(&self, start: usize, rev: bool, mut visit: impl FnMut(&[u8], f64) -> bool) {
        match &self.0 {
            Repr::Pack(p) if !rev => {
                for (off, s, _) in Zset::pack_pairs(p).skip(start) {
                    if !visit(&p.entry_at(off).0, s) {
                        return;
                    }
                }
            }
            Repr::Pack(p) => {
                let all: Vec<(usize, f64)> =
                    Zset::pack_pairs(p).map(|(off, s, _)| (off, s)).collect();
                for &(off, s) in all.iter().rev().skip(start) {
                    if !visit(&p.entry_at(off).0, s) {
                        return;
                    }
                }
            }
            Repr::Tree(t) => t.walk(start, rev, visit),
        }
    }

    /// Every entry, ascending.
    pub fn entries(&self) -> Vec<(Vec<u8>, f64)> {
        let mut out = Vec::with_capacity(self.len());
        self.walk(0, false, |m, s| {
            out.push((m.to_vec(), s));
            true
        });
        out
    }

    /// The entry at ascending rank `rank` (`rank < len`).
    pub fn at(&self, rank: usize) -> (Vec<u8>, f64) {
        let mut found = None;
        self.walk(rank, false, |m, s| {
            found = Some((m.to_vec(), s));
            false
        });
        found.expect("rank below len")
    }

    /// The node slots of a tree (0 for a `listpack`): positions that stay with their
    /// member, for a snapshot's walk of a large set.
    pub fn tree_slots(&self) -> usize {
        match &self.0 {
            Repr::Pack(_) => 0,
            Repr::Tree(t) => t.slots(),
        }
    }

    /// The slot of `member` in a tree.
    pub fn tree_slot_of(&self, member: &[u8]) -> Option<usize> {
        match &self.0 {
            Repr::Pack(_) => None,
            Repr::Tree(t) => t.slot_of(member),
        }
    }

    /// The member and score in a tree's `slot`, `None` for a free one.
    pub fn tree_at_slot(&self, slot: usize) -> Option<(&[u8], f64)> {
        match &self.0 {
            Repr::Pack(_) => None,
            Repr::Tree(t) => t.at_slot(slot),
        }
    }

    /// One `ZSCAN` step: visits entries and returns the next cursor (0 when done). A
    /// `listpack` is visited whole, as Redis does; a tree by node slot, which never
    /// changes while the member stays, so `SCAN`'s guarantee holds.
    pub fn scan(&self, cursor: u64, count: usize, visit: impl FnMut(&[u8], f64)) -> u64 {
        match &self.0 {
            Repr::Pack(p) => {
                let mut visit = visit;
                Zset::pack_entries(p).for_each(|(_, m, s, _)| visit(&m, s));
                0
            }
            Repr::Tree(t) => t.scan(cursor, count, visit),
        }
    }
}

impl std::fmt::Debug for Zset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ", self.encoding())?;
        f.debug_list()
            .entries(
                self.entries()
                    .iter()
                    .map(|(m, s)| (String::from_utf8_lossy(m).into_owned(), *s)),
            )
            .finish()
    }
}

#[cfg(test)]
#[path = "zset_tests.rs"]
mod tests;
