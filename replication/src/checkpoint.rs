//! Checkpoints: one replication offset that ranks replicas by the writes they hold.
//!
//! A replica's position is a vector, one LSN per shard, and two replicas can each
//! be ahead on a different shard. Summing the vector (Redis's single offset, which
//! Sentinel compares to pick the replica to promote) would then rank a replica
//! that misses a write acknowledged by `WAIT` above one that holds it. So the
//! offset a replica reports is the sum of a *checkpoint* it holds whole:
//!
//! ```text
//!  master: checkpoint k = (run, id k, every shard's last LSN at that moment),
//!          made at every WAIT and every CHECKPOINT_INTERVAL_MS while writes come;
//!          vectors only grow (a new one is the component-wise max with the last)
//!  shard i's stream: CHECKPOINT frame k once it has sent records through
//!          vector_k[i], in band, after those records
//!  replica: offset = sum(vector) of the newest checkpoint received whose every
//!          LSN it has applied; acknowledged with every REPLCONF ACK (run, id)
//!  WAIT n: a replica counts once it acknowledged the checkpoint made when WAIT
//!          started
//! ```
//!
//! Why this ranks correctly: checkpoints of one run form a chain, each vector at
//! least the one before on every shard. If a replica lacks a write W that
//! checkpoint k holds, every checkpoint it holds whole lacks W too, so it comes
//! before k in the chain and its sum is strictly smaller than k's; the replica
//! that acknowledged `WAIT` for W reports at least k's sum. When writes stop, the
//! last checkpoint is the master's position, so an idle replica reports the
//! master's offset.
//!
//! A run names one master's chain (a random number taken whenever the server's
//! role changes): ids of two runs are not comparable, so a replica that sees a new
//! run starts over, and the master ignores acknowledgements of another run.
//!
//! [`Chain`] is the master's side, [`Coverage`] the replica's.

use std::collections::VecDeque;

/// The master makes a checkpoint at least this often while writes come.
pub const CHECKPOINT_INTERVAL_MS: u64 = 100;
/// Checkpoints the master keeps for streams that have not passed them yet: a
/// stream further behind than this many sends the oldest kept once it passes it.
pub const CHECKPOINTS_KEPT: usize = 1024;
/// Checkpoints a replica keeps that it has received but not yet applied whole.
pub const CHECKPOINTS_PENDING_MAX: usize = 1024;

/// One checkpoint: which chain, its place in it, and every shard's LSN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub run: u64,
    pub id: u64,
    pub lsns: Vec<u64>,
}

impl Checkpoint {
    /// The replication offset it stands for.
    pub fn offset(&self) -> u64 {
        self.lsns.iter().sum()
    }
}

/// The master's checkpoints, newest last.
#[derive(Debug, Clone)]
pub struct Chain {
    run: u64,
    shards: usize,
    kept: VecDeque<Checkpoint>,
    /// When the newest was made (caller's monotonic ms).
    made_ms: u64,
}

impl Chain {
    pub fn new(run: u64, shards: usize) -> Chain {
        assert!(shards > 0);
        Chain {
            run,
            shards,
            kept: VecDeque::new(),
            made_ms: 0,
        }
    }

    pub fn run(&self) -> u64 {
        self.run
    }

    pub fn latest(&self) -> Option<&Checkpoint> {
        self.kept.back()
    }

    /// Whether a periodic checkpoint is due at `now_ms`: the interval passed and
    /// `lsns` moved past the newest on some shard.
    pub fn due(&self, now_ms: u64, lsns: &[u64]) -> bool {
        let moved = self
            .latest()
            .is_none_or(|c| c.lsns.iter().zip(lsns).any(|(have, now)| now > have));
        moved && now_ms.saturating_sub(self.made_ms) >= CHECKPOINT_INTERVAL_MS
    }

    /// A checkpoint at least at `lsns` on every shard: the newest if it already
    /// is, else a new one at the component-wise max of `lsns` and the newest (so
    /// vectors only grow). Returns its id.
    pub fn make(&mut self, lsns: &[u64], now_ms: u64) -> u64 {
        assert_eq!(lsns.len(), self.shards);
        let (id, merged) = match self.latest() {
            Some(last) if last.lsns.iter().zip(lsns).all(|(have, want)| have >= want) => {
                return last.id
            }
            Some(last) => {
                let max = last.lsns.iter().zip(lsns).map(|(a, b)| *a.max(b));
                (last.id + 1, max.collect())
            }
            None => (1, lsns.to_vec()),
        };
        if self.kept.len() == CHECKPOINTS_KEPT {
            self.kept.pop_front();
        }
        self.kept.push_back(Checkpoint {
            run: self.run,
            id,
            lsns: merged,
        });
        self.made_ms = now_ms;
        id
    }

    /// The newest checkpoint after `after` (an id) that shard `shard`'s stream
    /// has passed, having sent records through `sent_lsn`.
    pub fn passed(&self, shard: usize, sent_lsn: u64, after: u64) -> Option<&Checkpoint> {
        self.kept
            .iter()
            .rev()
            .take_while(|c| c.id > after)
            .find(|c| c.lsns[shard] <= sent_lsn)
    }
}

/// The replica's side: what each shard applied, the checkpoints received, and the
/// newest of them applied whole.
#[derive(Debug, Clone)]
pub struct Coverage {
    applied: Vec<u64>,
    run: Option<u64>,
    /// Received, not applied whole yet, by id.
    pending: VecDeque<Checkpoint>,
    best: Option<Checkpoint>,
}

impl Coverage {
    pub fn new(shards: usize) -> Coverage {
        Coverage {
            applied: vec![0; shards],
            run: None,
            pending: VecDeque::new(),
            best: None,
        }
    }

    /// Forgets every checkpoint (a new master, or none).
    pub fn reset(&mut self) {
        self.run = None;
        self.pending.clear();
        self.best = None;
    }

    /// The newest checkpoint applied whole.
    pub fn best(&self) -> Option<&Checkpoint> {
        self.best.as_ref()
    }

    /// The replication offset to report: the best checkpoint's (0 before one).
    pub fn offset(&self) -> u64 {
        self.best.as_ref().map_or(0, Checkpoint::offset)
    }

    /// Shard `shard` now holds records through `lsn`; returns whether the best
    /// checkpoint moved. A shard that goes back (a full sync replaced it) may no
    /// longer hold the best one: the best is then dropped.
    pub fn applied(&mut self, shard: usize, lsn: u64) -> bool {
        let before = self.applied[shard];
        self.applied[shard] = lsn;
        if lsn < before && self.best.as_ref().is_some_and(|b| b.lsns[shard] > lsn) {
            self.best = None;
        }
        self.settle()
    }

    /// A checkpoint arrived on a stream; returns whether the best one moved.
    pub fn received(&mut self, checkpoint: Checkpoint) -> bool {
        if checkpoint.lsns.len() != self.applied.len() {
            return false;
        }
        if self.run != Some(checkpoint.run) {
            self.reset();
            self.run = Some(checkpoint.run);
        }
        let newer = |id: u64| self.best.as_ref().is_none_or(|b| id > b.id);
        if !newer(checkpoint.id) || self.pending.iter().any(|c| c.id == checkpoint.id) {
            return false;
        }
        let at = self.pending.partition_point(|c| c.id < checkpoint.id);
        self.pending.insert(at, checkpoint);
        if self.pending.len() > CHECKPOINTS_PENDING_MAX {
            self.pending.pop_front();
        }
        self.settle()
    }

    /// Moves the newest pending checkpoint applied whole to best, dropping the
    /// older ones.
    fn settle(&mut self) -> bool {
        let applied = &self.applied;
        let whole = |c: &Checkpoint| c.lsns.iter().zip(applied).all(|(want, have)| want <= have);
        let Some(at) = self.pending.iter().rposition(whole) else {
            return false;
        };
        self.best = self.pending.drain(..=at).next_back();
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_only_grows_and_streams_get_what_they_passed() {
        let mut chain = Chain::new(7, 2);
        assert!(chain.due(1000, &[0, 0]));
        assert_eq!(chain.make(&[5, 3], 1000), 1);
        assert!(!chain.due(1050, &[6, 3]), "interval");
        assert!(!chain.due(2000, &[5, 3]), "nothing moved");
        assert!(!chain.due(2000, &[4, 3]), "nothing moved past it");
        assert!(chain.due(1100, &[6, 3]));
        // Covered by the newest: no new checkpoint.
        assert_eq!(chain.make(&[4, 3], 1100), 1);
        // Two readers of the LSNs that cross: the max of both.
        assert_eq!(chain.make(&[4, 9], 1100), 2);
        assert_eq!(chain.latest().unwrap().lsns, vec![5, 9]);
        assert_eq!(chain.make(&[8, 9], 1200), 3);
        assert_eq!(chain.passed(0, 4, 0), None);
        assert_eq!(chain.passed(0, 5, 0).map(|c| c.id), Some(2));
        assert_eq!(chain.passed(0, 5, 2), None, "already sent");
        assert_eq!(chain.passed(1, 9, 0).map(|c| c.id), Some(3));
        assert_eq!(chain.passed(1, 3, 0).map(|c| c.id), Some(1));
        for i in 0..CHECKPOINTS_KEPT as u64 {
            chain.make(&[9 + i, 9], 2000);
        }
        assert_eq!(chain.passed(0, 8, 0), None, "older ones are dropped");
        assert_eq!(chain.latest().unwrap().run, 7);
    }

    fn cp(id: u64, lsns: &[u64]) -> Checkpoint {
        Checkpoint {
            run: 1,
            id,
            lsns: lsns.to_vec(),
        }
    }

    #[test]
    fn a_replica_reports_the_newest_checkpoint_it_holds_whole() {
        let mut c = Coverage::new(2);
        assert_eq!(c.offset(), 0);
        assert!(!c.applied(0, 5));
        // Shard 0 passed checkpoint 1, shard 1 has not applied 3 yet.
        assert!(!c.received(cp(1, &[5, 3])));
        assert_eq!(c.offset(), 0);
        assert!(c.applied(1, 3));
        assert_eq!(c.best().map(|b| b.id), Some(1));
        assert_eq!(c.offset(), 8);
        // Ahead on shard 1 only: checkpoint 2 needs shard 0 at 9.
        assert!(!c.applied(1, 100));
        assert!(!c.received(cp(2, &[9, 4])));
        assert!(!c.received(cp(3, &[10, 50])));
        assert_eq!(c.offset(), 8, "the summed LSNs (105) would overtake");
        assert!(c.applied(0, 10));
        assert_eq!(c.best().map(|b| b.id), Some(3));
        assert_eq!(c.offset(), 60);
        // Old or repeated checkpoints change nothing.
        assert!(!c.received(cp(2, &[9, 4])));
        assert!(!c.received(cp(3, &[10, 50])));
        // A full sync took shard 1 back below the best.
        assert!(!c.applied(1, 20));
        assert_eq!(c.best(), None);
        // A new run starts over.
        assert!(c.received(Checkpoint {
            run: 2,
            id: 1,
            lsns: vec![1, 1],
        }));
        assert_eq!(c.offset(), 2);
        assert!(!c.received(cp(1, &[3, 3, 3])), "another shard count");
    }
}
