//! A [`WriteGuard`]'s methods for hashes and sets: each changes the collection and
//! records what it touched, so the guard journals the change as a delta
//! (`HSet`, `HDel`, `SAdd`, `SRem`, `ZAdd`, `ZRem`) rather than the whole value. The caller checked
//! the value's type; calling one of these on another type is a bug.
//!
//! Each tells the snapshots in progress first what it is about to touch (one
//! element), so a snapshot keeps only that element's state at the start, never a
//! copy of the collection; `SPOP`'s rebuild, which changes everything, lets them
//! copy it.

use rand::Rng;

use super::{Change, WriteGuard};
use crate::collections::{Hash, HashIncrError, HashLimits, Set, SetLimits, Zset, ZsetLimits};
use crate::long_double::LongDouble;
use crate::value::Value;

impl WriteGuard<'_> {
    /// The hash value, to read.
    pub fn hash(&self) -> &Hash {
        match &self.entry.value {
            Value::Hash(h) => h,
            other => panic!("hash expected, found a {}", other.type_name()),
        }
    }

    /// The set value, to read.
    pub fn set(&self) -> &Set {
        match &self.entry.value {
            Value::Set(s) => s,
            other => panic!("set expected, found a {}", other.type_name()),
        }
    }

    fn hash_mut(&mut self) -> &mut Hash {
        match &mut self.entry.value {
            Value::Hash(h) => h,
            other => panic!("hash expected, found a {}", other.type_name()),
        }
    }

    fn set_mut(&mut self) -> &mut Set {
        match &mut self.entry.value {
            Value::Set(s) => s,
            other => panic!("set expected, found a {}", other.type_name()),
        }
    }

    /// Before `element` (a field or member) is set or removed: a snapshot saves its
    /// state at the start if it still needs it.
    fn before_element(&mut self, element: &[u8]) {
        self.hooks
            .before_element(self.db, self.key, &self.entry.value, element);
    }

    fn record(&mut self, change: Change, items: &[&[u8]]) {
        self.change = self.change.then(change);
        self.delta.extend(items.iter().map(|i| i.to_vec()));
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
            self.delta.extend(popped.iter().cloned());
        }
        popped
    }

    /// The sorted-set value, to read.
    pub fn zset(&self) -> &Zset {
        match &self.entry.value {
            Value::Zset(z) => z,
            other => panic!("zset expected, found a {}", other.type_name()),
        }
    }

    fn zset_mut(&mut self) -> &mut Zset {
        match &mut self.entry.value {
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
        self.record(Change::ZAdd, &[member, &score.to_le_bytes()]);
        self.zset_mut().insert(member, score, limits)
    }

    /// Removes `member`; its score when it was there.
    pub fn zset_remove(&mut self, member: &[u8]) -> Option<f64> {
        let removed = self.zset_mut().remove(member);
        if removed.is_some() {
            self.record(Change::ZRem, &[member]);
        }
        removed
    }
}

/// The score a `ZAdd` delta item holds (see [`WriteGuard::zset_insert`]).
pub(super) fn score_of_delta(item: &[u8]) -> f64 {
    f64::from_le_bytes(item.try_into().expect("8 score bytes"))
}
