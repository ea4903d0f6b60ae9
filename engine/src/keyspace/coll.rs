//! A [`WriteGuard`]'s methods for hashes and sets: each changes the collection and
//! records what it touched, so the guard journals the change as a delta
//! (`HSet`, `HDel`, `SAdd`, `SRem`) rather than the whole value. The caller checked
//! the value's type; calling one of these on another type is a bug.

use rand::Rng;

use super::{Change, WriteGuard};
use crate::collections::{Hash, HashIncrError, HashLimits, Set, SetLimits};
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

    fn record(&mut self, change: Change, items: &[&[u8]]) {
        self.change = self.change.then(change);
        self.delta.extend(items.iter().map(|i| i.to_vec()));
    }

    /// `HSET` of one field; true when the field is new.
    pub fn hash_set(&mut self, field: &[u8], value: &[u8], limits: &HashLimits) -> bool {
        self.record(Change::HSet, &[field, value]);
        self.hash_mut().set(field, value, limits)
    }

    /// Removes `field`; true when it was there.
    pub fn hash_remove(&mut self, field: &[u8]) -> bool {
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
        let text = self.hash_mut().incr_by_float(field, delta, limits)?;
        self.record(Change::HSet, &[field, &text]);
        Ok(text)
    }

    /// Adds `member`; true when it is new.
    pub fn set_add(&mut self, member: &[u8], limits: &SetLimits) -> bool {
        let added = self.set_mut().add(member, limits);
        if added {
            self.record(Change::SAdd, &[member]);
        }
        added
    }

    /// Removes `member`; true when it was there.
    pub fn set_remove(&mut self, member: &[u8]) -> bool {
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
}
