//! Replication ids and the master's choice between a partial and a full resync.
//!
//! A replication id ([`ReplId`], 40 lowercase hex characters like Redis's `run_id`)
//! names one history of writes: LSN `n` of shard `s` means the same record on every
//! node that carries that id. A master keeps its id while its history only grows.
//! It takes a new one whenever its history may have forked from what it sent: when
//! it is promoted, and when it starts again after a crash cut acknowledged records
//! off its journal's tail (replicas may hold records it no longer has).
//!
//! # The second id
//!
//! A promoted replica continues its old master's history, then adds its own. So it
//! keeps the old id as its *second id* ([`SecondId`]) together with, per shard, the
//! last LSN it had applied from the old master (the *switch point*): up to there,
//! both histories are the same. Another replica of the old master asking for the old
//! id from `next_lsn <= switch + 1` continues with a partial resync; one past the
//! switch point holds records the new master never had and must resync in full.
//!
//! # The decision
//!
//! [`decide`] is the whole rule, a pure function of the master's [`History`], what
//! its shard's journal holds ([`JournalSpan`]) and the replica's [`SyncRequest`]:
//!
//! ```text
//!  shard counts differ, shard out of range ──► Refuse (the replica cannot fix it)
//!  replid "?"                              ──► FullResync (NoHistory)
//!  replid = current id                     ──┐
//!  replid = second id, next <= switch + 1  ──┼─► next in first..=last+1 ? Continue
//!  replid = second id, next > switch + 1   ──► FullResync (PastSwitchPoint)
//!  any other replid                        ──► FullResync (UnknownReplId)
//!  next > last + 1                         ──► FullResync (ReplicaAhead)
//!  next < first (journal trimmed there)    ──► FullResync (Trimmed)
//! ```

use crate::handshake::SyncRequest;
pub use crate::id::{ReplId, REPLID_CHARS};

/// The history a promoted master continues: the old id and, per shard, the last
/// LSN of the old history (the switch point).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondId {
    pub replid: ReplId,
    pub switch_lsns: Vec<u64>,
}

/// What a master says about its history: the same for all its shards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct History {
    pub replid: ReplId,
    pub shards: usize,
    pub second: Option<SecondId>,
}

impl History {
    /// A master with a history of its own only.
    pub fn new(replid: ReplId, shards: usize) -> History {
        assert!(shards > 0);
        History {
            replid,
            shards,
            second: None,
        }
    }

    /// The history of a replica promoted to master: a new id `replid`, and the id
    /// it replicated (`old`) as its second id, switching at `last_lsns` (per shard,
    /// the last LSN it applied). Anything older than `old` is forgotten, as in
    /// Redis: a replica two promotions behind resyncs in full.
    pub fn promoted(replid: ReplId, old: ReplId, last_lsns: Vec<u64>) -> History {
        assert!(!last_lsns.is_empty());
        assert!(replid != old);
        History {
            replid,
            shards: last_lsns.len(),
            second: Some(SecondId {
                replid: old,
                switch_lsns: last_lsns,
            }),
        }
    }
}

/// The records one master shard can still send: LSNs `first_lsn..=last_lsn`, where
/// `first_lsn` is the first record of the oldest journal segment on disk (or
/// `last_lsn + 1` when the journal holds no record, as right after a snapshot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalSpan {
    pub first_lsn: u64,
    pub last_lsn: u64,
}

impl JournalSpan {
    pub fn new(first_lsn: u64, last_lsn: u64) -> JournalSpan {
        assert!(first_lsn >= 1);
        assert!(first_lsn <= last_lsn + 1);
        JournalSpan {
            first_lsn,
            last_lsn,
        }
    }
}

/// Why a replica cannot continue where it asked to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FullResyncReason {
    /// It has no history (`?`).
    NoHistory,
    /// It names a history this master does not know.
    UnknownReplId,
    /// It follows the second id past the switch point: it has records this master
    /// never had.
    PastSwitchPoint,
    /// It asks for records after this master's last one.
    ReplicaAhead,
    /// The journal no longer holds the record it asks for.
    Trimmed,
}

/// A request the master refuses outright: a resync would not help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    ShardCountDiffers { master: usize, replica: usize },
    ShardOutOfRange { shard: usize, shards: usize },
}

impl Refusal {
    /// The error reply, without `-` and CRLF.
    pub fn message(&self) -> String {
        match self {
            Refusal::ShardCountDiffers { master, replica } => format!(
                "ERR shard count differs: master has {master} shards, replica has {replica}"
            ),
            Refusal::ShardOutOfRange { shard, shards } => {
                format!("ERR shard {shard} out of range: master has {shards} shards")
            }
        }
    }
}

/// The master's answer to a `CKV.SYNC`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Reply `+CONTINUE <replid> <next_lsn>` and send records from `next_lsn`.
    Continue { replid: ReplId, next_lsn: u64 },
    /// Take (or reuse) a snapshot at some LSN `s`, reply `+FULLRESYNC <replid> <s>`,
    /// send the snapshot, then records from `s + 1`: the journal from `s + 1` must
    /// be kept until the replica has been sent it.
    FullResync {
        replid: ReplId,
        reason: FullResyncReason,
    },
    /// Reply with the refusal's error and close the stream.
    Refuse(Refusal),
}

/// Decides how the master's shard `request.shard` answers `request` (the rule is in
/// the module doc). `span` is that shard's journal.
pub fn decide(history: &History, span: JournalSpan, request: &SyncRequest) -> Decision {
    if request.shards != history.shards {
        return Decision::Refuse(Refusal::ShardCountDiffers {
            master: history.shards,
            replica: request.shards,
        });
    }
    if request.shard >= history.shards {
        return Decision::Refuse(Refusal::ShardOutOfRange {
            shard: request.shard,
            shards: history.shards,
        });
    }
    let replid = history.replid;
    let full = |reason| Decision::FullResync { replid, reason };
    let next_lsn = request.next_lsn;
    let Some(asked) = request.replid else {
        return full(FullResyncReason::NoHistory);
    };
    if asked != history.replid {
        let Some(second) = history.second.as_ref().filter(|s| s.replid == asked) else {
            return full(FullResyncReason::UnknownReplId);
        };
        let switch_lsn = second.switch_lsns[request.shard];
        if next_lsn > switch_lsn.saturating_add(1) {
            return full(FullResyncReason::PastSwitchPoint);
        }
    }
    if next_lsn > span.last_lsn.saturating_add(1) {
        return full(FullResyncReason::ReplicaAhead);
    }
    if next_lsn < span.first_lsn {
        return full(FullResyncReason::Trimmed);
    }
    Decision::Continue { replid, next_lsn }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    fn ids() -> (ReplId, ReplId, ReplId) {
        let mut rng = SmallRng::seed_from_u64(1);
        (
            ReplId::generate(&mut rng),
            ReplId::generate(&mut rng),
            ReplId::generate(&mut rng),
        )
    }

    fn request(shard: usize, shards: usize, replid: Option<ReplId>, next_lsn: u64) -> SyncRequest {
        SyncRequest {
            shard,
            shards,
            replid,
            next_lsn,
        }
    }

    #[test]
    fn generated_ids_are_40_lowercase_hex_and_differ() {
        let (a, b, _) = ids();
        assert_ne!(a, b);
        for id in [a, b] {
            assert_eq!(id.as_str().len(), REPLID_CHARS);
            assert!(id
                .as_bytes()
                .iter()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c)));
            assert_eq!(ReplId::parse(id.as_bytes()), Some(id));
            assert_eq!(id.to_string(), id.as_str());
        }
    }

    #[test]
    fn parse_accepts_only_40_hex_characters_and_folds_case() {
        let (a, _, _) = ids();
        let upper = a.as_str().to_ascii_uppercase();
        assert_eq!(ReplId::parse(upper.as_bytes()), Some(a));
        assert_eq!(ReplId::parse(&a.as_bytes()[..39]), None);
        assert_eq!(ReplId::parse(b"?"), None);
        assert_eq!(ReplId::parse(b""), None);
        let mut long = a.as_bytes().to_vec();
        long.push(b'0');
        assert_eq!(ReplId::parse(&long), None);
        let mut bad = a.as_bytes().to_vec();
        bad[7] = b'g';
        assert_eq!(ReplId::parse(&bad), None);
    }

    #[test]
    fn continue_from_anywhere_the_journal_holds() {
        let (id, _, _) = ids();
        let history = History::new(id, 4);
        let span = JournalSpan::new(100, 200);
        for next in [100, 150, 200, 201] {
            assert_eq!(
                decide(&history, span, &request(2, 4, Some(id), next)),
                Decision::Continue {
                    replid: id,
                    next_lsn: next
                },
                "next {next}"
            );
        }
    }

    #[test]
    fn full_resync_when_the_records_are_not_there() {
        let (id, other, _) = ids();
        let history = History::new(id, 4);
        let span = JournalSpan::new(100, 200);
        let full = |reason| Decision::FullResync { replid: id, reason };
        let cases = [
            (request(0, 4, None, 1), FullResyncReason::NoHistory),
            (request(0, 4, None, 150), FullResyncReason::NoHistory),
            (
                request(0, 4, Some(other), 150),
                FullResyncReason::UnknownReplId,
            ),
            (request(0, 4, Some(id), 202), FullResyncReason::ReplicaAhead),
            (
                request(0, 4, Some(id), u64::MAX),
                FullResyncReason::ReplicaAhead,
            ),
            (request(0, 4, Some(id), 99), FullResyncReason::Trimmed),
            (request(0, 4, Some(id), 1), FullResyncReason::Trimmed),
        ];
        for (req, reason) in cases {
            assert_eq!(decide(&history, span, &req), full(reason), "{req:?}");
        }
    }

    #[test]
    fn an_empty_journal_continues_only_at_its_end() {
        let (id, _, _) = ids();
        let history = History::new(id, 1);
        // Right after a snapshot at 50 removed every segment.
        let span = JournalSpan::new(51, 50);
        let continue_at = |next_lsn| Decision::Continue {
            replid: id,
            next_lsn,
        };
        assert_eq!(
            decide(&history, span, &request(0, 1, Some(id), 51)),
            continue_at(51)
        );
        for (next, reason) in [
            (50, FullResyncReason::Trimmed),
            (52, FullResyncReason::ReplicaAhead),
        ] {
            assert_eq!(
                decide(&history, span, &request(0, 1, Some(id), next)),
                Decision::FullResync { replid: id, reason }
            );
        }
        // A fresh master: nothing written yet, a replica with nothing continues at 1.
        let fresh = JournalSpan::new(1, 0);
        assert_eq!(
            decide(&history, fresh, &request(0, 1, Some(id), 1)),
            continue_at(1)
        );
    }

    #[test]
    fn shard_count_mismatch_and_range_are_refused_with_clear_errors() {
        let (id, _, _) = ids();
        let history = History::new(id, 4);
        let span = JournalSpan::new(1, 10);
        let refusal = decide(&history, span, &request(0, 2, Some(id), 5));
        assert_eq!(
            refusal,
            Decision::Refuse(Refusal::ShardCountDiffers {
                master: 4,
                replica: 2
            })
        );
        let Decision::Refuse(r) = refusal else {
            unreachable!()
        };
        assert_eq!(
            r.message(),
            "ERR shard count differs: master has 4 shards, replica has 2"
        );
        let Decision::Refuse(r) = decide(&history, span, &request(4, 4, None, 1)) else {
            panic!("out of range is refused");
        };
        assert_eq!(
            r,
            Refusal::ShardOutOfRange {
                shard: 4,
                shards: 4
            }
        );
        assert_eq!(r.message(), "ERR shard 4 out of range: master has 4 shards");
    }

    #[test]
    fn a_promoted_master_continues_the_old_history_up_to_the_switch_point() {
        let (old, new, unknown) = ids();
        let history = History::promoted(new, old, vec![500, 80]);
        assert_eq!(history.shards, 2);
        let span0 = JournalSpan::new(300, 650);
        let continue_at = |next_lsn| Decision::Continue {
            replid: new,
            next_lsn,
        };
        let full = |reason| Decision::FullResync {
            replid: new,
            reason,
        };
        // Up to switch + 1 on the old id: same records on both sides.
        for next in [300, 420, 500, 501] {
            assert_eq!(
                decide(&history, span0, &request(0, 2, Some(old), next)),
                continue_at(next)
            );
        }
        // Past the switch point the old id's records are not this master's.
        assert_eq!(
            decide(&history, span0, &request(0, 2, Some(old), 502)),
            full(FullResyncReason::PastSwitchPoint)
        );
        // The new id goes on to the end of the journal.
        assert_eq!(
            decide(&history, span0, &request(0, 2, Some(new), 651)),
            continue_at(651)
        );
        // Each shard has its own switch point.
        let span1 = JournalSpan::new(1, 120);
        assert_eq!(
            decide(&history, span1, &request(1, 2, Some(old), 81)),
            continue_at(81)
        );
        assert_eq!(
            decide(&history, span1, &request(1, 2, Some(old), 82)),
            full(FullResyncReason::PastSwitchPoint)
        );
        // The old id still needs the journal to hold the records.
        assert_eq!(
            decide(&history, span0, &request(0, 2, Some(old), 299)),
            full(FullResyncReason::Trimmed)
        );
        assert_eq!(
            decide(&history, span0, &request(0, 2, Some(unknown), 400)),
            full(FullResyncReason::UnknownReplId)
        );
    }
}
