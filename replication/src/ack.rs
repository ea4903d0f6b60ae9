//! When a replica stream sends `REPLCONF ACK <shard> <lsn>`.
//!
//! An ack is due:
//! - right away on a new stream, once it has an LSN to acknowledge;
//! - every [`ACK_INTERVAL_MS`], whether or not anything was applied: the master
//!   reads silence as a dead or stuck replica (`INFO`'s `lag=`);
//! - during a burst, after [`ACK_BURST_RECORDS`] records or [`ACK_BURST_BYTES`]
//!   bytes applied since the last ack, so `WAIT` is not held up a whole interval;
//! - when a burst ends: records were applied and the replica has nothing more
//!   buffered. Under light load this acks each write at once (what `WAIT` wants);
//!   under heavy load the input never runs dry and the burst bounds hold;
//! - likewise when the replica came to hold a newer checkpoint whole
//!   ([`crate::checkpoint`]): `WAIT` waits for it.
//!
//! The policy is plain data driven by the caller's monotonic clock (`now_ms`), so
//! tests inject time.

/// Longest time between two acks.
pub const ACK_INTERVAL_MS: u64 = 1000;
/// Records applied since the last ack that make one due.
pub const ACK_BURST_RECORDS: u64 = 4096;
/// Journal bytes applied since the last ack that make one due.
pub const ACK_BURST_BYTES: u64 = 1024 * 1024;

#[derive(Debug, Clone)]
pub struct AckPolicy {
    interval_ms: u64,
    burst_records: u64,
    burst_bytes: u64,
    /// When the last ack went out; `None` before the first.
    last_sent_ms: Option<u64>,
    pending_records: u64,
    pending_bytes: u64,
    /// A newer checkpoint is held whole since the last ack.
    pending_checkpoint: bool,
}

impl Default for AckPolicy {
    fn default() -> Self {
        AckPolicy::new(ACK_INTERVAL_MS, ACK_BURST_RECORDS, ACK_BURST_BYTES)
    }
}

impl AckPolicy {
    pub fn new(interval_ms: u64, burst_records: u64, burst_bytes: u64) -> AckPolicy {
        assert!(interval_ms > 0);
        assert!(burst_records > 0);
        assert!(burst_bytes > 0);
        AckPolicy {
            interval_ms,
            burst_records,
            burst_bytes,
            last_sent_ms: None,
            pending_records: 0,
            pending_bytes: 0,
            pending_checkpoint: false,
        }
    }

    /// Counts records applied (an `Applied` step).
    pub fn applied(&mut self, records: u64, bytes: u64) {
        self.pending_records += records;
        self.pending_bytes += bytes;
    }

    /// The replica holds a newer checkpoint whole.
    pub fn checkpoint(&mut self) {
        self.pending_checkpoint = true;
    }

    /// Whether to send an ack now. `input_drained`: the stream has no more bytes
    /// buffered (see [`FrameDecoder::buffered_bytes`](crate::frame::FrameDecoder)).
    pub fn due(&self, now_ms: u64, input_drained: bool) -> bool {
        let Some(last) = self.last_sent_ms else {
            return true;
        };
        let pending = self.pending_records > 0 || self.pending_checkpoint;
        now_ms.saturating_sub(last) >= self.interval_ms
            || self.pending_records >= self.burst_records
            || self.pending_bytes >= self.burst_bytes
            || (pending && input_drained)
    }

    /// An ack went out at `now_ms`.
    pub fn sent(&mut self, now_ms: u64) {
        self.last_sent_ms = Some(now_ms);
        self.pending_records = 0;
        self.pending_bytes = 0;
        self.pending_checkpoint = false;
    }

    /// When the interval makes the next ack due: the caller's timer deadline.
    pub fn next_due_ms(&self) -> Option<u64> {
        self.last_sent_ms.map(|last| last + self.interval_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_stream_acks_at_once_then_once_an_interval() {
        let mut p = AckPolicy::default();
        assert!(p.due(5, false));
        assert_eq!(p.next_due_ms(), None);
        p.sent(5);
        assert_eq!(p.next_due_ms(), Some(1005));
        assert!(!p.due(5, true));
        assert!(!p.due(1004, false));
        assert!(p.due(1005, false));
        p.sent(1010);
        assert!(!p.due(2009, true));
        assert!(p.due(2010, true));
    }

    #[test]
    fn a_burst_acks_every_n_records_or_b_bytes() {
        let mut p = AckPolicy::new(1000, 10, 500);
        p.sent(0);
        p.applied(9, 90);
        assert!(!p.due(1, false));
        p.applied(1, 10);
        assert!(p.due(1, false));
        p.sent(1);
        p.applied(2, 499);
        assert!(!p.due(2, false));
        p.applied(1, 1);
        assert!(p.due(2, false));
        p.sent(2);
        assert!(!p.due(3, false));
    }

    #[test]
    fn the_end_of_a_burst_acks_what_was_applied() {
        let mut p = AckPolicy::new(1000, 10, 500);
        p.sent(0);
        assert!(!p.due(1, true), "nothing applied");
        p.applied(1, 30);
        assert!(!p.due(1, false), "more input is waiting");
        assert!(p.due(1, true));
        p.sent(1);
        assert!(!p.due(2, true));
        p.checkpoint();
        assert!(!p.due(2, false), "more input is waiting");
        assert!(p.due(2, true), "a newer checkpoint held whole");
        p.sent(2);
        assert!(!p.due(3, true));
    }

    #[test]
    fn a_clock_going_backwards_does_not_ack_early_or_panic() {
        let mut p = AckPolicy::default();
        p.sent(5000);
        assert!(!p.due(10, false));
        assert!(p.due(6000, false));
    }
}
