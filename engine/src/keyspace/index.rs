//! A database's index: slot positions by key hash, in fixed-size segments that split
//! and merge one at a time (extendible hashing), so that no step of the table's
//! growth or shrinking touches more than one segment's worth of positions.
//!
//! The index holds `u32` positions into the slot vector ([`super::db`]); a key is
//! compared and hashed again from its slot, which the caller's closures read. A
//! directory of `2^depth` segment ids maps hash bits [`DIR_HASH_SHIFT`] and up to a
//! segment; a segment of local depth `d` owns every directory entry whose low `d`
//! bits are its pattern, and is a `hashbrown` table of at most [`SEGMENT_CAPACITY`]
//! positions (4 bytes and a control byte per bucket, [`SEGMENT_BUCKETS`] buckets
//! once it is full the first time). hashbrown probes with the hash's low bits and
//! tags with its top seven, which the directory's bits do not overlap.
//!
//! # Bounded growth
//!
//! - **Inserting into a full segment splits it first**: its positions go into two
//!   fresh tables by their next hash bit (at most [`SEGMENT_CAPACITY`] of them, each
//!   hashed again from its slot, whose cache line is asked for
//!   `PREFETCH_AHEAD` positions ahead, so the slot reads' misses overlap; the
//!   inserts go into tables that fit in the L2 cache). When the segment's depth is
//!   the directory's, the directory doubles first (4 bytes per entry: 64 KiB at 10M
//!   keys).
//! - **A segment with no room left is refilled, not grown**: hashbrown counts the
//!   tombstones removals leave as taken, and would double a full-sized table (or
//!   rehash it in place, one slot read at a time) when they run it out of room; the
//!   index moves the positions to a fresh table of at most [`SEGMENT_BUCKETS`]
//!   buckets instead, the same way a split does.
//! - **A sparse segment merges with its buddy** (the segment that differs in its last
//!   pattern bit) when the two hold at most [`MERGE_CAPACITY`] positions together,
//!   and the directory halves once no segment needs its last bit.
//! - **Lookups probe one segment**: there is no second table to try while a resize
//!   runs, and nothing bigger than one segment's table or the directory is ever
//!   allocated.
//!
//! So the worst single write moves [`SEGMENT_CAPACITY`] positions and allocates one
//! segment (about 5 KiB), whatever the size of the table. Measured over the 16,384
//! splits of a 10M-key load (16-byte keys, release build, the shard thread's own
//! CPU clock, 2-CPU machine at load average 5 to 8): a write that splits takes
//! 0.090 ms at the median, 0.104 ms at p90 and 0.158 ms at p99, 1.2 s of the load's
//! 13.8 s of core time (splitting one table by removal and rehashing each slot in
//! turn: 0.147, 0.177 and 0.244 ms, 2.0 s of 16.1). The index alone with hashes
//! read from a vector (test profile): 0.034 ms at the median with the prefetch,
//! 0.088 ms without it, 0.060 ms for the split by removal. The fresh tables are
//! for memory: the tombstones a split by removal left behind ran a quarter of the
//! segments (4,096 of 16,384 at 10M keys) out of room before they were full, and
//! hashbrown doubled them to 2,048 buckets: 10.6 bytes of index per key at 10M
//! keys, 8.5 now.
//!
//! The previous design moved the whole index to a table of twice its size, 64
//! positions per write, each a random probe into two tables of tens of megabytes:
//! the GETs that waited up to a second while 10M keys loaded all came at its
//! doublings (0.92M, 1.8M, 3.7M, 7.3M keys), with 83% of the core's time in the
//! move then, and each doubling allocated the new table (84 MB at 7.3M keys, 16 MB
//! of it written at once) in one step.
//!
//! Loading 10M keys through `redis-cli --pipe` with GETs from a second client
//! (`bench/memory.py --only large`, run twice on a 2-CPU machine at load average
//! ~20): worst GET 379 and 2,007 ms (Redis in the same runs: 462 and 284 ms; the
//! build before: 977 ms), GET p99.9 242 and 974 ms (Redis 148 and 161 ms). Runs
//! this noisy cannot show a table stall under the machine's scheduling; the bound
//! this module states and measures is the per-write one above.
//!
//! A GET from another connection waits for the core's turn in progress, so the
//! table's share of its wait is what one turn of a loading pipeline runs. Timed by
//! the shard thread's own CPU clock between two reaps of the io_uring ring over a
//! 10M-key load (wall time on a shared machine is the scheduler's): with a turn
//! per batch of 1,024 SETs, at most 6.4 ms, 1,530 turns over 2 ms, 4 to 6 ms only
//! in the split waves around the directory's doublings (1.8M, 3.7M, 7.3M keys: a
//! uniform hash fills every segment at about the same key count, so up to 25 of
//! 1,024 writes there split one), under 4 ms elsewhere. With the session ending a
//! pipeline's turn after a millisecond (`BATCH_TIME_MAX` in
//! `server/src/session/mod.rs`) and these cheaper splits: at most 3.4 ms, 177
//! turns over 2 ms, 4 over 3 ms; weighted by time (what a request arriving at a
//! random moment waits behind), p50 1.1 ms, p99 2.4 ms, p99.9 2.9 ms. What remained
//! over a millisecond was not the table: the receive buffer the driver grew afresh
//! for each of the pipeline's inputs (at its last doubling about 330 page faults,
//! 6.5 ms of CPU on a 2-CPU virtual machine: see `server/src/net/uring/mod.rs`),
//! and the turn itself, which now ends at the next reap of the ring once another
//! connection has input (see `server/src/session/mod.rs`).
//!
//! Spreading the splits instead (each segment splitting early, at a threshold
//! lowered by a hash of its pattern by up to a quarter or a half of
//! [`SEGMENT_CAPACITY`]), measured on the index alone over 10M random hashes: the
//! most splits in 1,024 inserts fall from 25 to 15 (a quarter) or 9 (a half), for
//! up to 1.7 more bytes per key right after a doubling (a quarter) or 3.1 at 10M
//! keys (a half). Not kept: with turns bounded in time a wave makes more turns,
//! not longer ones, and the prefetch made every split cheaper for no memory.
//!
//! Memory: a segment holds between [`SEGMENT_CAPACITY`]/2 and [`SEGMENT_CAPACITY`]
//! positions after its first split, in a table of [`SEGMENT_BUCKETS`] buckets, so
//! the index costs 5.7 to 11.4 bytes per key whatever the key count (a single
//! table of a power-of-two size: 5.7 to 11.4 too, but in steps of the whole
//! table); measured with the directory and the segment list, 6.4 to 10.7 bytes per
//! key between 1M and 10M keys.

use hashbrown::HashTable;

/// Buckets of a full segment's table (a power of two, as hashbrown sizes them).
pub const SEGMENT_BUCKETS: usize = 1024;
/// Positions a segment holds before it splits: its table's capacity at
/// [`SEGMENT_BUCKETS`] buckets (hashbrown fills 7/8 of them).
pub const SEGMENT_CAPACITY: usize = SEGMENT_BUCKETS / 8 * 7;
/// Two buddy segments holding at most this many positions together merge into one
/// (a quarter of a segment: far enough below a split that a key count hovering at a
/// boundary does not split and merge on every write).
pub const MERGE_CAPACITY: usize = SEGMENT_CAPACITY / 4;
/// A segment holding fewer positions than this looks at its buddy after a removal.
const MERGE_CHECK_BELOW: usize = MERGE_CAPACITY / 2;
/// The hash bits the directory uses start here: above hashbrown's bucket bits (the
/// low ones, at most 10 in a segment) and below its tag (the top seven).
pub const DIR_HASH_SHIFT: u32 = 24;
/// The deepest directory: `2^MAX_DEPTH` segments (more than `u32` positions need).
const MAX_DEPTH: u32 = 30;
/// Bytes one bucket of a segment's table takes: a `u32` position and a control byte.
pub const BUCKET_BYTES: usize = std::mem::size_of::<u32>() + 1;

/// Positions a split asks the slots of ahead of rehashing them ([`Rehash::prefetch`]).
const PREFETCH_AHEAD: usize = 8;

/// What the index reads of the positions it holds: their hashes, computed again
/// from their slots.
pub trait Rehash {
    /// The hash of the key at position `pos`.
    fn hash(&self, pos: u32) -> u64;
    /// Starts loading what [`Rehash::hash`] of `pos` reads, without waiting for it.
    fn prefetch(&self, _pos: u32) {}
}

impl<F: Fn(u32) -> u64> Rehash for F {
    fn hash(&self, pos: u32) -> u64 {
        self(pos)
    }
}

/// Hands `put` every position of `old` with its hash, asking for the slot of the
/// position [`PREFETCH_AHEAD`] places on before hashing each: the slot reads' cache
/// misses overlap rather than each waiting for the one before.
fn refill(old: &HashTable<u32>, rehash: &impl Rehash, mut put: impl FnMut(u64, u32)) {
    let mut ahead = old.iter();
    for &p in ahead.by_ref().take(PREFETCH_AHEAD) {
        rehash.prefetch(p);
    }
    for &p in old {
        if let Some(&next) = ahead.next() {
            rehash.prefetch(next);
        }
        put(rehash.hash(p), p);
    }
}

/// Positions one probe of a segment's table matches against (hashbrown's group
/// width with SSE2; the positions sit below the group's first in memory).
const GROUP_POSITIONS: usize = 16;

/// Asks for the cache line at `at`: a hint, which reads nothing the program sees.
pub(super) fn prefetch<T>(at: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch does not fault, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch(at.cast::<i8>(), std::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

/// One segment: a table of positions and the directory entries it owns.
#[derive(Default)]
struct Segment {
    table: HashTable<u32>,
    /// How many low directory bits all its entries share.
    depth: u32,
    /// Those bits.
    pattern: u32,
}

/// The index of one database: see the module doc.
#[derive(Default)]
pub struct Index {
    /// Segment ids by the low `depth` bits of `hash >> DIR_HASH_SHIFT`; empty until
    /// the first insert.
    dir: Vec<u32>,
    depth: u32,
    segments: Vec<Segment>,
    /// Segments whose depth is the directory's: the directory halves when none is.
    at_depth: usize,
    len: usize,
}

impl Index {
    /// Positions held (tests of the table).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Bytes the index holds: the segments' tables, the directory, the segment list.
    pub fn bytes(&self) -> usize {
        let tables: usize = self
            .segments
            .iter()
            .map(|s| s.table.allocation_size())
            .sum();
        tables
            + self.dir.capacity() * std::mem::size_of::<u32>()
            + self.segments.capacity() * std::mem::size_of::<Segment>()
    }

    fn segment_of(&self, hash: u64) -> usize {
        let entry = (hash >> DIR_HASH_SHIFT) as usize & ((1usize << self.depth) - 1);
        self.dir[entry] as usize
    }

    /// The position with hash `hash` for which `eq` holds.
    pub fn find(&self, hash: u64, eq: impl FnMut(&u32) -> bool) -> Option<u32> {
        if self.dir.is_empty() {
            return None;
        }
        self.segments[self.segment_of(hash)]
            .table
            .find(hash, eq)
            .copied()
    }

    /// Asks for the lines a [`find`](Self::find) of `hash` reads first: its
    /// segment's first control group and the positions beside it.
    pub fn prefetch(&self, hash: u64) {
        if self.dir.is_empty() {
            return;
        }
        let (ctrl, first) = self.segments[self.segment_of(hash)]
            .table
            .probe_addresses(hash);
        prefetch(ctrl);
        prefetch(first);
        prefetch(first.wrapping_sub(GROUP_POSITIONS - 1));
    }

    /// Adds position `pos` with hash `hash` (not present), splitting its segment
    /// first if it is full. `rehash` gives the hash of any stored position.
    pub fn insert(&mut self, hash: u64, pos: u32, rehash: impl Rehash) {
        if self.dir.is_empty() {
            self.dir.push(0);
            self.segments.push(Segment::default());
            self.at_depth = 1;
        }
        let mut seg = self.segment_of(hash);
        while self.segments[seg].table.len() >= SEGMENT_CAPACITY
            && self.segments[seg].depth < MAX_DEPTH
        {
            self.split(seg, &rehash);
            seg = self.segment_of(hash);
        }
        let table = &mut self.segments[seg].table;
        if table.len() == table.capacity() {
            // No room left (hashbrown counts the tombstones of removed positions as
            // taken): hashbrown would double the table, or rehash it in place one
            // slot read at a time. A fresh table instead, at most a segment's size,
            // filled with the slots read ahead, without the tombstones.
            let old = std::mem::take(table);
            *table = HashTable::with_capacity((2 * old.len()).clamp(1, SEGMENT_CAPACITY));
            refill(&old, &rehash, |hash, p| {
                table.insert_unique(hash, p, |&q| rehash.hash(q));
            });
        }
        table.insert_unique(hash, pos, |&p| rehash.hash(p));
        self.len += 1;
    }

    /// Changes the stored position `from` (with hash `hash`) to `to`.
    pub fn replace(&mut self, hash: u64, from: u32, to: u32) {
        let seg = self.segment_of(hash);
        let stored = self.segments[seg]
            .table
            .find_mut(hash, |&p| p == from)
            .expect("the position is indexed");
        *stored = to;
    }

    /// Removes position `pos` with hash `hash`, merging its segment with its buddy
    /// if both are sparse.
    pub fn remove(&mut self, hash: u64, pos: u32, rehash: impl Rehash) {
        let seg = self.segment_of(hash);
        self.segments[seg]
            .table
            .find_entry(hash, |&p| p == pos)
            .expect("the position is indexed")
            .remove();
        self.len -= 1;
        if self.segments[seg].table.len() < MERGE_CHECK_BELOW {
            self.merge(seg, &rehash);
        }
    }

    /// Splits segment `seg` on its next pattern bit: the positions with that hash
    /// bit set move to a new segment.
    fn split(&mut self, seg: usize, rehash: &impl Rehash) {
        let depth = self.segments[seg].depth;
        if depth == self.depth {
            self.dir.extend_from_within(..);
            self.depth += 1;
            self.at_depth = 0;
        }
        let bit = 1u32 << depth;
        let (mut stay, mut table) = (
            HashTable::with_capacity(SEGMENT_CAPACITY),
            HashTable::with_capacity(SEGMENT_CAPACITY),
        );
        let old = std::mem::take(&mut self.segments[seg].table);
        refill(&old, rehash, |hash, p| {
            let half = match (hash >> DIR_HASH_SHIFT) as u32 & bit {
                0 => &mut stay,
                _ => &mut table,
            };
            half.insert_unique(hash, p, |&q| rehash.hash(q));
        });
        self.segments[seg].table = stay;
        let pattern = self.segments[seg].pattern | bit;
        self.segments[seg].depth = depth + 1;
        if depth + 1 == self.depth {
            self.at_depth += 2;
        }
        let id = u32::try_from(self.segments.len()).expect("segment ids fit in u32");
        self.segments.push(Segment {
            table,
            depth: depth + 1,
            pattern,
        });
        self.point(pattern, depth + 1, id);
    }

    /// Merges segment `seg` with its buddy if they have the same depth and hold at
    /// most [`MERGE_CAPACITY`] positions together; halves the directory when no
    /// segment needs its last bit any more.
    fn merge(&mut self, seg: usize, rehash: &impl Rehash) {
        let depth = self.segments[seg].depth;
        if depth == 0 {
            return;
        }
        let bit = 1u32 << (depth - 1);
        let buddy = self.dir[(self.segments[seg].pattern ^ bit) as usize] as usize;
        if self.segments[buddy].depth != depth
            || self.segments[seg].table.len() + self.segments[buddy].table.len() > MERGE_CAPACITY
        {
            return;
        }
        // The one with the clear bit stays; the other's positions move into it.
        let (keep, gone) = match self.segments[seg].pattern & bit {
            0 => (seg, buddy),
            _ => (buddy, seg),
        };
        let moved = std::mem::take(&mut self.segments[gone].table);
        let table = &mut self.segments[keep].table;
        for p in moved {
            table.insert_unique(rehash.hash(p), p, |&q| rehash.hash(q));
        }
        self.segments[keep].depth = depth - 1;
        let pattern = self.segments[keep].pattern;
        self.point(pattern, depth - 1, keep as u32);
        if depth == self.depth {
            self.at_depth -= 2;
        }
        // Segment ids stay dense: the last segment takes the freed id.
        let last = self.segments.len() - 1;
        self.segments.swap_remove(gone);
        if gone != last {
            let Segment { depth, pattern, .. } = self.segments[gone];
            self.point(pattern, depth, gone as u32);
        }
        while self.at_depth == 0 && self.depth > 0 {
            self.depth -= 1;
            self.dir.truncate(1 << self.depth);
            self.dir.shrink_to_fit();
            self.at_depth = self
                .segments
                .iter()
                .filter(|s| s.depth == self.depth)
                .count();
        }
    }

    /// Points every directory entry whose low `depth` bits are `pattern` at `id`.
    fn point(&mut self, pattern: u32, depth: u32, id: u32) {
        let step = 1usize << depth;
        for entry in (pattern as usize..self.dir.len()).step_by(step) {
            self.dir[entry] = id;
        }
    }

    /// Segments, and the deepest one's depth (tests of growth).
    #[cfg(test)]
    pub fn shape(&self) -> (usize, u32) {
        (self.segments.len(), self.depth)
    }

    /// Checks the structure: every directory entry names the segment whose pattern
    /// its low bits are, every position sits in the segment its hash maps to, and
    /// no segment is over capacity.
    #[cfg(test)]
    pub fn check(&self, rehash: impl Fn(u32) -> u64) {
        let mut total = 0;
        for (entry, &id) in self.dir.iter().enumerate() {
            let seg = &self.segments[id as usize];
            assert!(seg.depth <= self.depth);
            assert_eq!(entry as u32 & ((1u32 << seg.depth) - 1), seg.pattern);
        }
        for (id, seg) in self.segments.iter().enumerate() {
            assert!(seg.table.len() <= SEGMENT_CAPACITY);
            assert!(
                seg.table.capacity() <= SEGMENT_CAPACITY,
                "segment {id} outgrew {SEGMENT_BUCKETS} buckets"
            );
            assert_eq!(self.dir[seg.pattern as usize] as usize, id);
            for &p in seg.table.iter() {
                assert_eq!(self.segment_of(rehash(p)), id, "position {p} misplaced");
            }
            total += seg.table.len();
        }
        let deepest = self.segments.iter().filter(|s| s.depth == self.depth);
        assert_eq!(deepest.count(), self.at_depth);
        assert!(self.segments.is_empty() || self.at_depth > 0 || self.depth == 0);
        assert_eq!(total, self.len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    /// Positions stand for themselves; their hashes are random.
    fn find(index: &Index, hashes: &[u64], pos: u32) -> Option<u32> {
        index.find(hashes[pos as usize], |&p| p == pos)
    }

    /// The lines `prefetch` asks for are where a lookup reads: for all but the few
    /// that probe further, the position is among the first group's, and the control
    /// byte as far from the group's start holds the hash's tag (its top 7 bits).
    #[test]
    fn a_prefetch_names_the_positions_a_lookup_reads() {
        let mut rng = SmallRng::seed_from_u64(11);
        let hashes: Vec<u64> = (0..20_000).map(|_| rng.gen()).collect();
        let mut index = Index::default();
        for pos in 0..hashes.len() as u32 {
            index.insert(hashes[pos as usize], pos, |p: u32| hashes[p as usize]);
        }
        let in_first_group = (0..hashes.len() as u32)
            .filter(|&pos| {
                let hash = hashes[pos as usize];
                let table = &index.segments[index.segment_of(hash)].table;
                let found: *const u32 = table.find(hash, |&p| p == pos).expect("stored");
                let (ctrl, first) = table.probe_addresses(hash);
                let lowest = first.wrapping_sub(GROUP_POSITIONS - 1);
                if !(lowest..=first).contains(&found) {
                    return false;
                }
                // SAFETY: both point into the segment's allocation: `found` is a
                // stored position at most a group below `first`, and the control
                // bytes run a group past the last bucket's.
                let tag = unsafe { *ctrl.add(first.offset_from(found) as usize) };
                assert_eq!(tag, (hash >> 57) as u8, "position {pos}");
                true
            })
            .count();
        assert!(in_first_group * 10 >= hashes.len() * 9, "{in_first_group}");
    }

    #[test]
    fn splits_and_merges_keep_every_position_findable() {
        let mut rng = SmallRng::seed_from_u64(7);
        let hashes: Vec<u64> = (0..40_000).map(|_| rng.gen()).collect();
        let rehash = |p: u32| hashes[p as usize];
        let mut index = Index::default();
        for pos in 0..hashes.len() as u32 {
            index.insert(hashes[pos as usize], pos, rehash);
            if pos % 4_999 == 0 {
                index.check(rehash);
            }
        }
        index.check(rehash);
        let (segments, depth) = index.shape();
        assert!(segments >= 40_000 / SEGMENT_CAPACITY && depth >= 6);
        assert!((0..hashes.len() as u32).all(|p| find(&index, &hashes, p) == Some(p)));
        // Remove in random order down to a few: segments merge and the directory
        // halves, every remaining position still found.
        let mut order: Vec<u32> = (0..hashes.len() as u32).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.gen_range(0..=i));
        }
        let (kept, removed) = order.split_at(50);
        for (n, &pos) in removed.iter().enumerate() {
            index.remove(hashes[pos as usize], pos, rehash);
            if n % 4_999 == 0 {
                index.check(rehash);
                assert_eq!(find(&index, &hashes, pos), None);
            }
        }
        index.check(rehash);
        assert_eq!(index.shape(), (1, 0), "merged back into one segment");
        assert!(kept.iter().all(|&p| find(&index, &hashes, p) == Some(p)));
    }
    /// Removals leave tombstones that hashbrown counts as taken; a segment whose
    /// inserts and removals churn is refilled in a fresh table of its own size
    /// rather than doubled.
    /// Positions the churn test inserts over its run.
    const CHURN_POSITIONS: u32 = 300_000;
    /// Positions live at once in the churn test: 85% of 16 full segments, so
    /// every segment runs close to full while positions come and go.
    const CHURN_LIVE: u32 = 16 * SEGMENT_CAPACITY as u32 * 85 / 100;

    #[test]
    fn churn_keeps_every_segment_at_its_size() {
        let mut rng = SmallRng::seed_from_u64(11);
        let hashes: Vec<u64> = (0..CHURN_POSITIONS as usize).map(|_| rng.gen()).collect();
        let rehash = |p: u32| hashes[p as usize];
        let mut index = Index::default();
        let mut live: Vec<u32> = (0..CHURN_LIVE).collect();
        for &pos in &live {
            index.insert(hashes[pos as usize], pos, rehash);
        }
        // Each new position replaces a random live one: the key count stays, and
        // every segment sees removals between its inserts.
        for pos in CHURN_LIVE..hashes.len() as u32 {
            let at = rng.gen_range(0..live.len());
            let gone = std::mem::replace(&mut live[at], pos);
            index.remove(hashes[gone as usize], gone, rehash);
            index.insert(hashes[pos as usize], pos, rehash);
            if pos % 4_999 == 0 {
                index.check(rehash);
                assert_eq!(find(&index, &hashes, gone), None);
            }
        }
        index.check(rehash);
        assert!(live.iter().all(|&p| find(&index, &hashes, p) == Some(p)));
    }

    /// Records the order of [`Rehash`] calls.
    struct Recorder<'a> {
        hashes: &'a [u64],
        calls: std::cell::RefCell<Vec<(bool, u32)>>,
    }

    impl Rehash for &Recorder<'_> {
        fn hash(&self, pos: u32) -> u64 {
            self.calls.borrow_mut().push((false, pos));
            self.hashes[pos as usize]
        }

        fn prefetch(&self, pos: u32) {
            self.calls.borrow_mut().push((true, pos));
        }
    }

    #[test]
    fn a_split_asks_for_each_slot_ahead_of_rehashing_it() {
        let mut rng = SmallRng::seed_from_u64(5);
        let hashes: Vec<u64> = (0..=SEGMENT_CAPACITY as u32).map(|_| rng.gen()).collect();
        let recorder = Recorder {
            hashes: &hashes,
            calls: Default::default(),
        };
        let mut index = Index::default();
        for pos in 0..SEGMENT_CAPACITY as u32 {
            index.insert(hashes[pos as usize], pos, &recorder);
        }
        assert_eq!(index.shape(), (1, 0));
        recorder.calls.borrow_mut().clear();
        let last = SEGMENT_CAPACITY as u32;
        index.insert(hashes[last as usize], last, &recorder);
        assert_eq!(index.shape(), (2, 1), "the full segment split");
        let calls = recorder.calls.take();
        assert!(calls[..PREFETCH_AHEAD]
            .iter()
            .all(|&(prefetch, _)| prefetch));
        let mut asked = vec![false; SEGMENT_CAPACITY];
        for &(prefetch, pos) in &calls {
            match prefetch {
                true => asked[pos as usize] = true,
                false => assert!(asked[pos as usize], "{pos} hashed before it was asked for"),
            }
        }
        let hashed = calls.iter().filter(|(prefetch, _)| !prefetch).count();
        assert_eq!(hashed, SEGMENT_CAPACITY, "each position rehashed once");
        index.check(|p| hashes[p as usize]);
    }
}
