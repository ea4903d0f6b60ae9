//! A set value: `intset`-encoded while every member is a canonical integer and there
//! are few, a [`DenseTable`] otherwise, with the operations of the `S*` commands.
//!
//! Conversion follows Redis 7.0.15's `t_set.c`: adding a member that is not a canonical
//! `i64` (`string2ll`: no `+`, no leading zeros, no `-0`, no blanks) to an `intset`
//! converts it, whatever its size (an intset of 200 integers plus `"x"` is a
//! `hashtable`); so does passing `set-max-intset-entries` members. Removals never
//! convert back. A set built from scratch ([`Set::from_members`]: `*STORE` results,
//! `SMOVE`'s new destination, a load, and the set `SPOP` rebuilds when it pops most
//! of the members) starts as an `intset` and converts by the same rules, so it is an
//! `intset` exactly when its content fits one.

use rand::Rng;

use super::dense::{DenseTable, Keyed, Packed};
use super::intset::Intset;
use super::{distinct_positions, Elem, SetLimits};
use crate::resp::parse_i64;

/// Bytes of a member held inline in a table entry.
const MEMBER_INLINE_BYTES: usize = 22;

/// `SPOP` with a count rebuilds the set from the members it keeps, instead of popping
/// one by one, once it pops at least this many times as many as it keeps (Redis's
/// `SPOP_MOVE_STRATEGY_MUL`).
const SPOP_MOVE_STRATEGY_MUL: u64 = 5;

/// A table entry: the member's bytes.
#[derive(Clone)]
pub struct Member(Packed<MEMBER_INLINE_BYTES>);

impl Keyed for Member {
    fn key(&self) -> &[u8] {
        self.0.bytes()
    }

    fn heap_bytes(&self) -> usize {
        self.0.heap_bytes()
    }
}

#[derive(Clone)]
enum Repr {
    Intset(Intset),
    Table(Box<DenseTable<Member>>),
}

/// A set value. See the module doc for its encodings.
#[derive(Clone)]
pub struct Set(Repr);

impl Default for Set {
    fn default() -> Self {
        Set::new()
    }
}

impl Set {
    /// An empty set, `intset`-encoded: the first non-integer member converts it, which
    /// ends where Redis's `setTypeCreate` starts.
    pub fn new() -> Self {
        Set(Repr::Intset(Intset::default()))
    }

    /// Builds a set by adding `members` in order to a new set (duplicates are fine).
    pub fn from_members<'a>(
        members: impl IntoIterator<Item = &'a [u8]>,
        limits: &SetLimits,
    ) -> Self {
        let mut set = Set::new();
        for m in members {
            set.add(m, limits);
        }
        set
    }

    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Intset(s) => s.len(),
            Repr::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What `OBJECT ENCODING` answers.
    pub fn encoding(&self) -> &'static str {
        match &self.0 {
            Repr::Intset(_) => "intset",
            Repr::Table(_) => "hashtable",
        }
    }

    /// Heap bytes owned, for memory accounting (before allocator rounding).
    pub fn heap_bytes(&self) -> usize {
        match &self.0 {
            Repr::Intset(s) => s.heap_bytes(),
            Repr::Table(t) => std::mem::size_of::<DenseTable<Member>>() + t.heap_bytes(),
        }
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        match &self.0 {
            Repr::Intset(s) => parse_i64(member).is_some_and(|v| s.contains(v)),
            Repr::Table(t) => t.position(member).is_some(),
        }
    }

    /// Turns an `intset` into a `hashtable` with room for `more` members besides.
    fn convert_to_table(&mut self, more: usize) {
        let Repr::Intset(s) = &self.0 else {
            return;
        };
        let mut table = DenseTable::with_capacity(s.len() + more);
        for v in s.iter() {
            table.push_new(Member(Packed::from_parts(&[&Elem::from_int(v)])));
        }
        self.0 = Repr::Table(Box::new(table));
    }

    /// Adds `member`; true when it is new.
    pub fn add(&mut self, member: &[u8], limits: &SetLimits) -> bool {
        if let Repr::Intset(s) = &mut self.0 {
            match parse_i64(member) {
                Some(v) => {
                    if !s.insert(v) {
                        return false;
                    }
                    if s.len() > limits.max_intset_entries {
                        self.convert_to_table(1);
                    }
                    return true;
                }
                None => self.convert_to_table(1),
            }
        }
        let Repr::Table(t) = &mut self.0 else {
            unreachable!("converted above");
        };
        t.find_or_push(member, || Member(Packed::from_parts(&[member])))
            .is_err()
    }

    /// Adds `members`, none of them in the set yet and no two equal (another set's
    /// members), as [`Set::add`] would one by one, but with a `hashtable` sized once
    /// for all of them and no lookup before each insertion.
    fn add_distinct(&mut self, members: &[Elem<'_>], limits: &SetLimits) {
        for (i, m) in members.iter().enumerate() {
            if let Repr::Intset(s) = &mut self.0 {
                match m.stored_int().or_else(|| parse_i64(m)) {
                    Some(v) => {
                        s.insert(v);
                        if s.len() > limits.max_intset_entries {
                            self.convert_to_table(members.len() - i);
                        }
                        continue;
                    }
                    None => self.convert_to_table(members.len() - i),
                }
            }
            let Repr::Table(t) = &mut self.0 else {
                unreachable!("converted above");
            };
            t.push_new(Member(Packed::from_parts(&[m])));
        }
    }

    /// Removes `member`; true when it was there. Never converts back to `intset`.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match &mut self.0 {
            Repr::Intset(s) => parse_i64(member).is_some_and(|v| s.remove(v)),
            Repr::Table(t) => t.swap_remove(member).is_some(),
        }
    }

    /// The position of `member` in a `hashtable` set (`None` in an `intset`): for
    /// snapshots, which walk a large set's positions as `SCAN` does.
    pub fn table_position(&self, member: &[u8]) -> Option<usize> {
        match &self.0 {
            Repr::Intset(_) => None,
            Repr::Table(t) => t.position(member),
        }
    }

    /// The member at `pos` (`pos < len`), in O(1): for sampling.
    pub fn member_at(&self, pos: usize) -> Elem<'_> {
        match &self.0 {
            Repr::Intset(s) => Elem::from_int(s.get(pos)),
            Repr::Table(t) => Elem::bytes(t.at(pos).key()),
        }
    }

    /// Members: ascending for an `intset`, insertion order (modulo removals) otherwise.
    pub fn iter(&self) -> Iter<'_> {
        Iter { set: self, pos: 0 }
    }

    /// One uniformly chosen member (`SRANDMEMBER` without a count).
    pub fn random_member(&self, rng: &mut impl Rng) -> Option<Elem<'_>> {
        if self.is_empty() {
            return None;
        }
        Some(self.member_at(rng.gen_range(0..self.len())))
    }

    /// `SPOP` without a count: removes and returns one uniformly chosen member.
    pub fn pop(&mut self, rng: &mut impl Rng) -> Option<Vec<u8>> {
        let member = self.random_member(rng)?.to_vec();
        self.remove(&member);
        Some(member)
    }

    /// `SPOP key count`: removes and returns `min(count, len)` distinct uniformly chosen
    /// members. As Redis 7.0.15: all of them when `count >= len` (the caller deletes the
    /// key); one by one while many remain; else the kept members are drawn instead
    /// and the set is rebuilt from them ([`Set::from_members`]), which may re-encode
    /// it as an `intset`. Allocates for the members returned, never for `count`.
    pub fn pop_many(&mut self, count: u64, limits: &SetLimits, rng: &mut impl Rng) -> Vec<Vec<u8>> {
        let len = self.len() as u64;
        if count >= len {
            let all = self.iter().map(|m| m.to_vec()).collect();
            *self = Set::new();
            return all;
        }
        let remaining = len - count;
        if remaining * SPOP_MOVE_STRATEGY_MUL > count {
            return (0..count).filter_map(|_| self.pop(rng)).collect();
        }
        let kept = distinct_positions(self.len(), remaining, rng);
        let mut keep = vec![false; self.len()];
        kept.iter().for_each(|&pos| keep[pos] = true);
        let popped = self
            .iter()
            .zip(&keep)
            .filter(|(_, &k)| !k)
            .map(|(m, _)| m.to_vec())
            .collect();
        let kept: Vec<Vec<u8>> = kept
            .iter()
            .map(|&pos| self.member_at(pos).to_vec())
            .collect();
        *self = Set::from_members(kept.iter().map(Vec::as_slice), limits);
        popped
    }

    /// One `SSCAN` step: visits members and returns the next cursor (0 when done). An
    /// `intset` is visited whole whatever the cursor, as Redis does.
    pub fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(Elem<'_>)) -> u64 {
        match &self.0 {
            Repr::Intset(s) => {
                s.iter().for_each(|v| visit(Elem::from_int(v)));
                0
            }
            Repr::Table(t) => t.scan(cursor, count, |m| visit(Elem::bytes(m.key()))),
        }
    }

    /// `SINTER`/`SINTERSTORE`: the members of every set, as a new set encoded as a
    /// `*STORE` destination is. Walks the smallest set, as Redis does.
    pub fn intersection(sets: &[&Set], limits: &SetLimits) -> Set {
        let mut common = Vec::new();
        Set::for_each_common(sets, |m| {
            common.push(m);
            true
        });
        let mut out = Set::new();
        out.add_distinct(&common, limits);
        out
    }

    /// `SINTERCARD`: how many members all sets share, counting stops at `limit`
    /// (0: no limit).
    pub fn intersection_len(sets: &[&Set], limit: usize) -> usize {
        let mut n = 0;
        Set::for_each_common(sets, |_| {
            n += 1;
            limit == 0 || n < limit
        });
        n
    }

    /// Calls `visit` with each member common to all `sets` until it returns false.
    fn for_each_common<'s>(sets: &[&'s Set], mut visit: impl FnMut(Elem<'s>) -> bool) {
        let Some(smallest) = sets.iter().min_by_key(|s| s.len()) else {
            return;
        };
        for m in smallest.iter() {
            if sets
                .iter()
                .all(|s| std::ptr::eq(*s, *smallest) || s.contains(&m))
                && !visit(m)
            {
                return;
            }
        }
    }

    /// `SUNION`/`SUNIONSTORE`: members of any set, as a new set.
    pub fn union(sets: &[&Set], limits: &SetLimits) -> Set {
        let mut out = Set::new();
        for s in sets {
            s.iter().for_each(|m| {
                out.add(&m, limits);
            });
        }
        out
    }

    /// `SDIFF`/`SDIFFSTORE`: members of the first set in none of the others, as a new
    /// set (empty when `sets` is).
    pub fn difference(sets: &[&Set], limits: &SetLimits) -> Set {
        let mut out = Set::new();
        let Some((first, rest)) = sets.split_first() else {
            return out;
        };
        for m in first.iter() {
            if !rest.iter().any(|s| s.contains(&m)) {
                out.add(&m, limits);
            }
        }
        out
    }
}

/// Iterator of [`Set::iter`].
pub struct Iter<'a> {
    set: &'a Set,
    pos: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = Elem<'a>;

    fn next(&mut self) -> Option<Elem<'a>> {
        if self.pos >= self.set.len() {
            return None;
        }
        self.pos += 1;
        Some(self.set.member_at(self.pos - 1))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.set.len() - self.pos;
        (n, Some(n))
    }
}

impl std::fmt::Debug for Set {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ", self.encoding())?;
        f.debug_set().entries(self.iter()).finish()
    }
}
