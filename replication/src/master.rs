//! The master's helpers: where to start sending in a journal segment, how many
//! bytes of records to put in one frame, and `WAIT`'s count of replicas.
//!
//! ```text
//!  CONTINUE from N ──► segment holding N ──► record_offset(segment, N)
//!                      loop: whole_records_bytes(rest, FRAME_BATCH_BYTES_MAX)
//!                            ──► RECORDS header + those bytes, straight from disk
//!  REPLCONF ACK s lsn run k ──► WaitTracker::ack, ack_checkpoint
//!      ──► WAIT n: count_reached(targets, checkpoint made at its start) >= n
//! ```

use corekv_engine::journal::{lsn_valid, Scanner};
use corekv_engine::limits::{JOURNAL_RECORD_HEADER_BYTES, JOURNAL_RECORD_PAYLOAD_BYTES_MIN};

use crate::frame::FRAME_RECORDS_BYTES_MAX;

/// The offset in `segment` (a journal file's bytes) where the record with `lsn`
/// starts, if the segment holds it among its valid records. Every record before it
/// is checked on the way (CRC and sequence), so a damaged segment is never served.
pub fn record_offset(segment: &[u8], lsn: u64) -> Option<usize> {
    if !lsn_valid(lsn) {
        return None;
    }
    Scanner::new(segment)
        .take_while(|r| r.lsn <= lsn)
        .find(|r| r.lsn == lsn)
        .map(|r| r.offset)
}

/// Bytes at the start of `buf` (which starts at a record) that hold whole records,
/// as many as fit in `budget_bytes`, or the first alone if it is larger: what one
/// `RECORDS` frame carries. Only the length fields are read (the replica checks
/// every CRC); 0 when the first record is not whole yet or `buf` holds none (zero
/// padding at a segment's tail reads as no record).
pub fn whole_records_bytes(buf: &[u8], budget_bytes: usize) -> usize {
    let mut taken = 0;
    while let Some(head) = buf[taken..].first_chunk::<4>() {
        let payload_bytes = u32::from_le_bytes(*head) as usize;
        let record_bytes = JOURNAL_RECORD_HEADER_BYTES + payload_bytes;
        let sane = payload_bytes >= JOURNAL_RECORD_PAYLOAD_BYTES_MIN
            && record_bytes <= FRAME_RECORDS_BYTES_MAX;
        let whole = buf.len() - taken >= record_bytes;
        let fits = taken + record_bytes <= budget_bytes || taken == 0;
        if !(sane && whole && fits) {
            break;
        }
        taken += record_bytes;
    }
    taken
}

/// Names a replica to the tracker (the server's connection id).
pub type ReplicaId = u64;

#[derive(Debug, Clone)]
struct Acked {
    id: ReplicaId,
    lsns: Vec<u64>,
    /// The newest checkpoint of the master's current run it holds whole.
    checkpoint: u64,
}

/// Per replica, per shard: the last LSN acknowledged, and the newest checkpoint
/// held whole ([`crate::checkpoint`]). `WAIT numreplicas timeout` asks how many
/// replicas acknowledged, on every shard, the client's last write there, and a
/// checkpoint that holds it (what the replica's offset then reports).
#[derive(Debug, Clone)]
pub struct WaitTracker {
    shards: usize,
    replicas: Vec<Acked>,
}

impl WaitTracker {
    pub fn new(shards: usize) -> WaitTracker {
        assert!(shards > 0);
        WaitTracker {
            shards,
            replicas: Vec::new(),
        }
    }

    /// A replica connected (again): it has acknowledged nothing yet.
    pub fn add(&mut self, id: ReplicaId) {
        self.remove(id);
        self.replicas.push(Acked {
            id,
            lsns: vec![0; self.shards],
            checkpoint: 0,
        });
    }

    pub fn remove(&mut self, id: ReplicaId) {
        self.replicas.retain(|r| r.id != id);
    }

    pub fn replicas(&self) -> usize {
        self.replicas.len()
    }

    /// Records `REPLCONF ACK shard lsn` from `id`; returns whether its LSN for the
    /// shard went up (then pending `WAIT`s may be satisfied). An ack never moves an
    /// LSN back: a late or reordered one is ignored.
    pub fn ack(&mut self, id: ReplicaId, shard: usize, lsn: u64) -> bool {
        assert!(shard < self.shards);
        let Some(replica) = self.replicas.iter_mut().find(|r| r.id == id) else {
            return false;
        };
        let acked = &mut replica.lsns[shard];
        let advanced = lsn > *acked;
        *acked = (*acked).max(lsn);
        advanced
    }

    /// Records that `id` holds checkpoint `checkpoint` of the current run whole;
    /// returns whether that is newer than it said before.
    pub fn ack_checkpoint(&mut self, id: ReplicaId, checkpoint: u64) -> bool {
        let Some(replica) = self.replicas.iter_mut().find(|r| r.id == id) else {
            return false;
        };
        let advanced = checkpoint > replica.checkpoint;
        replica.checkpoint = replica.checkpoint.max(checkpoint);
        advanced
    }

    /// A new run of checkpoints: what replicas said of the old one means nothing.
    pub fn reset_checkpoints(&mut self) {
        for r in &mut self.replicas {
            r.checkpoint = 0;
        }
    }

    /// The LSNs `id` acknowledged, by shard.
    pub fn acked(&self, id: ReplicaId) -> Option<&[u64]> {
        self.replicas
            .iter()
            .find(|r| r.id == id)
            .map(|r| r.lsns.as_slice())
    }

    /// How many replicas acknowledged at least `targets[s]` on every shard `s` (0:
    /// no write to wait for there) and at least checkpoint `checkpoint` (0: none).
    pub fn count_reached(&self, targets: &[u64], checkpoint: u64) -> usize {
        assert_eq!(targets.len(), self.shards);
        self.replicas
            .iter()
            .filter(|r| r.lsns.iter().zip(targets).all(|(acked, t)| acked >= t))
            .filter(|r| r.checkpoint >= checkpoint)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use corekv_engine::journal::encode_record;

    /// Records `first..first + n` with payloads of 1 to 30 bytes, and their offsets.
    fn segment(first: u64, n: u64) -> (Vec<u8>, Vec<usize>) {
        let mut buf = Vec::new();
        let mut offsets = Vec::new();
        for lsn in first..first + n {
            offsets.push(buf.len());
            let payload = vec![lsn as u8; 1 + (lsn % 30) as usize];
            encode_record(lsn, &payload, &mut buf);
        }
        (buf, offsets)
    }

    #[test]
    fn record_offset_finds_each_record_and_nothing_else() {
        let (buf, offsets) = segment(100, 50);
        for (i, &offset) in offsets.iter().enumerate() {
            assert_eq!(record_offset(&buf, 100 + i as u64), Some(offset));
        }
        for lsn in [0, 1, 99, 150, u64::MAX] {
            assert_eq!(record_offset(&buf, lsn), None, "lsn {lsn}");
        }
        // Zero padding after the records, as direct I/O leaves it.
        let mut padded = buf.clone();
        padded.resize(buf.len() + 4096, 0);
        assert_eq!(record_offset(&padded, 149), Some(offsets[49]));
        assert_eq!(record_offset(&padded, 150), None);
        // A damaged record hides itself and everything after it.
        let mut damaged = buf.clone();
        damaged[offsets[10] + JOURNAL_RECORD_HEADER_BYTES] ^= 1;
        assert_eq!(record_offset(&damaged, 109), Some(offsets[9]));
        assert_eq!(record_offset(&damaged, 110), None);
        assert_eq!(record_offset(&damaged, 120), None);
        assert_eq!(record_offset(&[], 1), None);
    }

    #[test]
    fn whole_records_fill_a_frame_up_to_the_budget() {
        let (buf, offsets) = segment(1, 20);
        assert_eq!(whole_records_bytes(&buf, usize::MAX), buf.len());
        assert_eq!(whole_records_bytes(&buf, offsets[5]), offsets[5]);
        assert_eq!(whole_records_bytes(&buf, offsets[5] + 1), offsets[5]);
        // The first record goes alone when it is larger than the budget.
        assert_eq!(whole_records_bytes(&buf, 1), offsets[1]);
        // A record cut short, zero padding, or nothing: not taken.
        assert_eq!(
            whole_records_bytes(&buf[..offsets[3] + 5], usize::MAX),
            offsets[3]
        );
        assert_eq!(whole_records_bytes(&buf[..10], usize::MAX), 0);
        let mut padded = buf.clone();
        padded.resize(buf.len() + 100, 0);
        assert_eq!(whole_records_bytes(&padded, usize::MAX), buf.len());
        assert_eq!(whole_records_bytes(&[], 100), 0);
    }

    #[test]
    fn wait_counts_replicas_that_reached_every_shard_target() {
        let mut t = WaitTracker::new(3);
        t.add(1);
        t.add(2);
        t.add(3);
        assert_eq!(t.count_reached(&[0, 0, 0], 0), 3);
        assert_eq!(t.count_reached(&[5, 0, 0], 0), 0);
        assert!(t.ack(1, 0, 5));
        assert!(t.ack(2, 0, 9));
        assert!(t.ack(2, 2, 4));
        assert_eq!(t.count_reached(&[5, 0, 0], 0), 2);
        assert_eq!(t.count_reached(&[5, 0, 4], 0), 1);
        assert_eq!(t.count_reached(&[10, 0, 0], 0), 0);
        // A late ack does not move an LSN back.
        assert!(!t.ack(2, 0, 3));
        assert_eq!(t.acked(2), Some(&[9, 0, 4][..]));
        // Unknown replicas are ignored; a reconnect starts from nothing.
        assert!(!t.ack(42, 0, 100));
        t.add(2);
        assert_eq!(t.acked(2), Some(&[0, 0, 0][..]));
        assert_eq!(t.count_reached(&[5, 0, 0], 0), 1);
        t.remove(1);
        assert_eq!(t.count_reached(&[5, 0, 0], 0), 0);
        assert_eq!(t.replicas(), 2);
    }

    #[test]
    fn wait_counts_only_replicas_holding_its_checkpoint() {
        let mut t = WaitTracker::new(2);
        t.add(1);
        t.add(2);
        t.ack(1, 0, 5);
        t.ack(2, 0, 5);
        assert_eq!(t.count_reached(&[5, 0], 3), 0, "records, no checkpoint");
        assert!(t.ack_checkpoint(1, 3));
        assert!(!t.ack_checkpoint(1, 2), "never back");
        assert!(t.ack_checkpoint(2, 2));
        assert_eq!(t.count_reached(&[5, 0], 3), 1);
        assert_eq!(t.count_reached(&[5, 0], 2), 2);
        t.reset_checkpoints();
        assert_eq!(t.count_reached(&[5, 0], 1), 0);
        assert!(!t.ack_checkpoint(9, 1), "unknown replica");
    }
}
