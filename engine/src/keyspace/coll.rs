//! A [`WriteGuard`]'s methods for hashes, sets, sorted sets and lists: each changes
//! the collection and records what it touched, so the guard journals the change as a
//! delta (`HSet`, `HDel`, `SAdd`, `SRem`, `ZAdd`, `ZRem`, a [`ListOp`]) rather than
//! the whole value. Two list changes in one guard journal as one op when they
//! combine (pushes at the same end, pops from the same end), else the whole list.
//! The caller checked
//! the value's type; calling one of these on another type is a bug.
//!
//! Each tells the snapshots in progress first what it is about to touch (one
//! element), so a snapshot keeps only that element's state at the start, never a
//! copy of the collection; `SPOP`'s rebuild, which changes everything, lets them
//! copy it.

use rand::Rng;

use super::delta::{Change, ListChange};
use super::WriteGuard;
use crate::collections::{
    End, Hash, HashIncrError, HashLimits, List, ListLimits, Set, SetLimits, Zset, ZsetLimits,
};
use crate::journal::list::ListOp;
use crate::long_double::LongDouble;
use crate::value::Value;

impl WriteGuard<'_> {
    /// The hash value, to read.
    pub fn hash(&self) -> &Hash {
        match &*self.value {
            Value::Hash(h) => h,
            other => panic!("hash expected, found a {}", other.type_name()),
        }
    }

    /// The set value, to read.
    pub fn set(&self) -> &Set {
        match &*self.value {
            Value::Set(s) => s,
            other => panic!("set expected, found a {}", other.type_name()),
        }
    }

    fn hash_mut(&mut self) -> &mut Hash {
        match &mut *self.value {
            Value::Hash(h) => h,
            other => panic!("hash expected, found a {}", other.type_name()),
        }
    }

    fn set_mut(&mut self) -> &mut Set {
        match &mut *self.value {
            Value::Set(s) => s,
            other => panic!("set expected, found a {}", other.type_name()),
        }
    }

    /// Before `element` (a field or member) is set or removed: a snapshot saves its
    /// state at the start if it still needs it.
    fn before_element(&mut self, element: &[u8]) {
        self.hooks
            .before_element(self.db, self.key, &*self.value, element);
    }

    fn record(&mut self, change: Change, items: &[&[u8]]) {
        self.change = self.change.then(change);
        if self.hooks.journaling() {
            items.iter().for_each(|i| self.hooks.delta.push(i));
        }
    }

    /// `HSET` of one field; true when the field is new.
    pub fn hash_set(&mut self, field: &[u8], value: &[u8], limits: &HashLimits) -> bool {
        self.before_element(field);
        self.record(Change::HSet, &[field, value]);
        self.hash_mut().set(field, value, limits)
    }

    /// Removes `field`; true when it was there.
    pub fn hash_remove(&mut self, field: &[u8]) -> bool {
        self.before_element(field);
        let removed = self.hash_mut().remove(field);
        if removed {
            self.record(Change::HDel, &[field]);
        }
        removed
    }

    /// `HINCRBY`: journals the resulting value.
    pub fn hash_incr_by(
        &mut self,
        field: &[u8],
        delta: i64,
        limits: &HashLimits,
    ) -> Result<i64, HashIncrError> {
        self.before_element(field);
        let sum = self.hash_mut().incr_by(field, delta, limits)?;
        self.record(
            Change::HSet,
            &[field, itoa::Buffer::new().format(sum).as_bytes()],
        );
        Ok(sum)
    }

    /// `HINCRBYFLOAT`: journals the resulting value (its text), so replay does no
    /// floating-point arithmetic.
    pub fn hash_incr_by_float(
        &mut self,
        field: &[u8],
        delta: LongDouble,
        limits: &HashLimits,
    ) -> Result<Vec<u8>, HashIncrError> {
        self.before_element(field);
        let text = self.hash_mut().incr_by_float(field, delta, limits)?;
        self.record(Change::HSet, &[field, &text]);
        Ok(text)
    }

    /// Adds `member`; true when it is new.
    pub fn set_add(&mut self, member: &[u8], limits: &SetLimits) -> bool {
        self.before_element(member);
        let added = self.set_mut().add(member, limits);
        if added {
            self.record(Change::SAdd, &[member]);
        }
        added
    }

    /// Removes `member`; true when it was there.
    pub fn set_remove(&mut self, member: &[u8]) -> bool {
        self.before_element(member);
        let removed = self.set_mut().remove(member);
        if removed {
            self.record(Change::SRem, &[member]);
        }
        removed
    }

    /// `SPOP key count` ([`Set::pop_many`]): journals the members removed, or the
    /// whole set when the pop rebuilt it in another encoding.
    pub fn set_pop_many(
        &mut self,
        count: u64,
        limits: &SetLimits,
        rng: &mut impl Rng,
    ) -> Vec<Vec<u8>> {
        self.before_any_change();
        let encoding = self.set().encoding();
        let popped = self.set_mut().pop_many(count, limits, rng);
        if self.set().encoding() != encoding {
            self.change = self.change.then(Change::Whole);
        } else if !popped.is_empty() {
            self.change = self.change.then(Change::SRem);
            if self.hooks.journaling() {
                popped.iter().for_each(|m| self.hooks.delta.push(m));
            }
        }
        popped
    }

    /// The sorted-set value, to read.
    pub fn zset(&self) -> &Zset {
        match &*self.value {
            Value::Zset(z) => z,
            other => panic!("zset expected, found a {}", other.type_name()),
        }
    }

    fn zset_mut(&mut self) -> &mut Zset {
        match &mut *self.value {
            Value::Zset(z) => z,
            other => panic!("zset expected, found a {}", other.type_name()),
        }
    }

    /// Sets `member`'s score (adding it); its previous score. Journals the member and
    /// its new score unless the score is unchanged.
    pub fn zset_insert(&mut self, member: &[u8], score: f64, limits: &ZsetLimits) -> Option<f64> {
        let old = self.zset().score(member);
        if old.is_some_and(|o| o == score && o.is_sign_negative() == score.is_sign_negative()) {
            return old;
        }
        self.before_element(member);
        self.record(Change::ZAdd, &[member, &score.to_le_bytes()]);
        self.zset_mut().insert(member, score, limits)
    }

    /// Removes `member`; its score when it was there.
    pub fn zset_remove(&mut self, member: &[u8]) -> Option<f64> {
        self.before_element(member);
        let removed = self.zset_mut().remove(member);
        if removed.is_some() {
            self.record(Change::ZRem, &[member]);
        }
        removed
    }
}

impl WriteGuard<'_> {
    /// The list value, to read.
    pub fn list(&self) -> &List {
        match &*self.value {
            Value::List(l) => l,
            other => panic!("list expected, found a {}", other.type_name()),
        }
    }

    fn list_mut(&mut self) -> &mut List {
        match &mut *self.value {
            Value::List(l) => l,
            other => panic!("list expected, found a {}", other.type_name()),
        }
    }

    fn record_list(&mut self, change: ListChange, items: &[&[u8]]) {
        self.record(Change::List(change), items);
    }

    /// Pushes `elems` at `end`, one by one; returns the new length.
    pub fn list_push<E: AsRef<[u8]>>(
        &mut self,
        end: End,
        elems: &[E],
        limits: &ListLimits,
    ) -> usize {
        let items: Vec<&[u8]> = elems.iter().map(AsRef::as_ref).collect();
        self.record_list(ListChange::Push(end), &items);
        let list = self.list_mut();
        items.iter().for_each(|e| list.push(end, e, limits));
        list.len()
    }

    /// Pops up to `count` elements from `end`.
    pub fn list_pop(&mut self, end: End, count: usize) -> Vec<Vec<u8>> {
        let list = self.list_mut();
        let popped: Vec<Vec<u8>> = (0..count).map_while(|_| list.pop(end)).collect();
        if !popped.is_empty() {
            let count = popped.len() as u64;
            self.record_list(ListChange::Pop { end, count }, &[]);
        }
        popped
    }

    /// Replaces element `index` (below the length).
    pub fn list_set(&mut self, index: usize, elem: &[u8], limits: &ListLimits) {
        self.record_list(
            ListChange::Set {
                index: index as u64,
            },
            &[elem],
        );
        self.list_mut().set(index, elem, limits);
    }

    /// Inserts `elem` to become element `index` (at most the length).
    pub fn list_insert(&mut self, index: usize, elem: &[u8], limits: &ListLimits) {
        self.record_list(
            ListChange::Insert {
                index: index as u64,
            },
            &[elem],
        );
        self.list_mut().insert(index, elem, limits);
    }

    /// `LREM count elem`: returns how many were removed.
    pub fn list_rem(&mut self, count: i64, elem: &[u8], limits: &ListLimits) -> usize {
        let indices = self.list().rem_indices(count, elem);
        if !indices.is_empty() {
            self.record_list(ListChange::Rem { count }, &[elem]);
            self.list_mut().remove_indices(&indices, limits);
        }
        indices.len()
    }

    /// Keeps only elements `start..end` (clamped to the length).
    pub fn list_trim(&mut self, start: usize, end: usize, limits: &ListLimits) {
        let len = self.list().len();
        let (start, end) = (start.min(len), end.min(len).max(start.min(len)));
        if start == 0 && end == len {
            return;
        }
        if start < end {
            let (s, e) = (start as u64, end as u64);
            self.record_list(ListChange::Trim { start: s, end: e }, &[]);
        } else {
            self.change = self.change.then(Change::Whole);
        }
        let list = self.list_mut();
        list.remove_range(end, len, limits);
        list.remove_range(0, start, limits);
    }

    /// Redoes a journaled list change (replay), journaling it again the same way.
    pub fn list_apply(&mut self, op: ListOp<'_>, limits: &ListLimits) {
        let len = self.list().len();
        match op {
            ListOp::Push { end, elems } => {
                self.list_push(end, &elems, limits);
            }
            ListOp::Pop { end, count } => {
                self.list_pop(end, usize::try_from(count).unwrap_or(usize::MAX));
            }
            ListOp::Set { index, elem } if index < len as u64 => {
                self.list_set(index as usize, elem, limits);
            }
            ListOp::Insert { index, elem } if index <= len as u64 => {
                self.list_insert(index as usize, elem, limits);
            }
            ListOp::Rem { count, elem } => {
                self.list_rem(count, elem, limits);
            }
            ListOp::Trim { start, end } => {
                let clamp = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
                self.list_trim(clamp(start), clamp(end), limits);
            }
            ListOp::Set { .. } | ListOp::Insert { .. } => {}
        }
    }
}
