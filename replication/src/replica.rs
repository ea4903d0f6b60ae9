//! The replica's side of one shard stream after the handshake: a state machine fed
//! decoded frames, with no socket and no file.
//!
//! ```text
//!  +FULLRESYNC id S ──► Loading ──SNAPSHOT_CHUNK──► image grows (header checked early)
//!                          │
//!                     SNAPSHOT_END: load image into a fresh Shard (shard id,
//!                          │         shard count and LSN S checked) ──► Step::Loaded
//!                          ▼
//!  +CONTINUE id N ───► Streaming ──RECORDS──► check, decode, apply ──► Step::Applied
//!                          ▲   ├──HEARTBEAT──► lag                  (records' bytes)
//!                          │   └──CHECKPOINT─► checked ──► Step::Checkpoint
//!                          └──────────┘
//!  any error ──► Broken: the caller drops the stream and asks again (CKV.SYNC)
//! ```
//!
//! # What the server does with each step
//!
//! - `SnapshotChunk(bytes)`: nothing needed; the bytes are a snapshot file in
//!   order, so the server may write them to disk as the shard's new snapshot.
//! - `Loaded(shard)`: replace the shard (its keyspace) with this one *before* the
//!   next frame; drop the old journal; the journal continues at `S + 1`.
//! - `Checkpoint(c)`: the master's checkpoint `c`, whose LSN for this shard is
//!   applied; the server counts it in its [`Coverage`](crate::checkpoint::Coverage).
//! - `Applied { bytes, last_lsn, .. }`: append `bytes` to the shard's journal
//!   unchanged (the replica journals with the master's LSNs, so it restarts and is
//!   promoted without losing its place), then `shard.log_mut().set_last_lsn(last_lsn)`.
//!   A replica's [`EffectLog`](corekv_engine::effect_log::EffectLog) stays disabled
//!   (nothing it does on its own is journaled); keeping its last LSN in step means a
//!   promotion only has to enable the log at its last LSN.
//!
//! # Applying records
//!
//! A `RECORDS` frame is all or nothing: every record must be whole, pass its CRC,
//! carry the next LSN (the first exactly the one after the last applied) and decode,
//! before any is applied. A gap or a bad record is an error that forces a resync,
//! and the shard is as it was before the frame. Each effect is applied with
//! [`apply_effect`], through the keyspace's door, which runs the same hooks as for
//! commands (snapshot copy-on-write, whole-database effects dropping snapshots in
//! progress), so the replica can write its own snapshots while it applies. A transaction's part is applied as it arrives; the all or
//! nothing rule across shards is recovery's, on the replica's own journal.
//!
//! # Lag
//!
//! From the last `HEARTBEAT`: records behind (its last LSN less the last applied),
//! bytes behind (an estimate: records behind times the mean record size applied on
//! this stream), and milliseconds since the master's clock read the heartbeat (which
//! includes any clock difference between the two hosts).

use std::fmt;

use corekv_engine::journal::{DecodeError, Effect, End, Scanner};
use corekv_engine::replay::apply_effect;
use corekv_engine::shard::Shard;
use corekv_engine::snapshot::{read_header, SnapshotError, SnapshotHeader, SNAPSHOT_HEADER_BYTES};

use crate::checkpoint::Checkpoint;
use crate::frame::{CheckpointFrame, Frame, FrameKind, Heartbeat};
use crate::handshake::{SyncReply, SyncRequest};
use crate::history::ReplId;

/// What the replica knows about the shard it streams.
#[derive(Debug, Clone, Copy)]
pub struct StreamConfig {
    pub shard_id: usize,
    pub shards: usize,
    /// Seed of the shard a full sync builds (its random choices).
    pub shard_seed: u64,
    /// Longest snapshot image the replica accepts (it is held in memory to load).
    pub snapshot_bytes_max: usize,
}

#[derive(Debug)]
enum Phase {
    /// A full sync: the snapshot image so far, and the LSN it must be at.
    Loading {
        image: Vec<u8>,
        lsn: u64,
        header_checked: bool,
    },
    Streaming,
    Broken,
}

/// What one frame did.
pub enum Step<'a> {
    /// Part of the snapshot image, in order.
    SnapshotChunk(&'a [u8]),
    /// The full sync's shard, at the snapshot's LSN: it replaces the replica's
    /// (a `Shard::new`: the server carries its settings over, `string_max_bytes`).
    Loaded(Box<Shard>),
    Applied(Applied<'a>),
    Heartbeat(Heartbeat),
    Checkpoint(Checkpoint),
}

impl fmt::Debug for Step<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::SnapshotChunk(bytes) => write!(f, "SnapshotChunk({} bytes)", bytes.len()),
            Step::Loaded(shard) => write!(f, "Loaded(shard {})", shard.id()),
            Step::Applied(applied) => write!(f, "{applied:?}"),
            Step::Heartbeat(heartbeat) => write!(f, "{heartbeat:?}"),
            Step::Checkpoint(checkpoint) => write!(f, "{checkpoint:?}"),
        }
    }
}

/// Records applied from one `RECORDS` frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied<'a> {
    pub first_lsn: u64,
    pub last_lsn: u64,
    pub records: u64,
    /// The records as received: to be appended to the replica's journal unchanged.
    pub bytes: &'a [u8],
}

/// How far the replica trails its master on this stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Lag {
    pub records: u64,
    /// An estimate (see the module doc).
    pub bytes: u64,
    /// Milliseconds since the master's clock at the last heartbeat; `None` before
    /// the first.
    pub ms_since_heartbeat: Option<u64>,
}

/// One shard stream on the replica (see the module doc).
#[derive(Debug)]
pub struct ReplicaStream {
    config: StreamConfig,
    replid: ReplId,
    phase: Phase,
    /// The last LSN applied; while loading, the snapshot's LSN.
    applied_lsn: u64,
    records_applied: u64,
    bytes_applied: u64,
    heartbeat: Option<Heartbeat>,
}

impl ReplicaStream {
    /// The stream after the master answered `request` with `reply`.
    pub fn start(
        config: StreamConfig,
        request: &SyncRequest,
        reply: SyncReply,
    ) -> Result<ReplicaStream, StreamError> {
        assert_eq!(config.shard_id, request.shard);
        assert_eq!(config.shards, request.shards);
        assert!(request.next_lsn >= 1);
        let (phase, applied_lsn) = match reply {
            SyncReply::Continue { next_lsn, .. } if next_lsn != request.next_lsn => {
                return Err(StreamError::ContinueMismatch {
                    asked: request.next_lsn,
                    got: next_lsn,
                })
            }
            SyncReply::Continue { next_lsn, .. } => (Phase::Streaming, next_lsn - 1),
            SyncReply::FullResync { snapshot_lsn, .. } => {
                let loading = Phase::Loading {
                    image: Vec::new(),
                    lsn: snapshot_lsn,
                    header_checked: false,
                };
                (loading, snapshot_lsn)
            }
        };
        Ok(ReplicaStream {
            config,
            replid: reply.replid(),
            phase,
            applied_lsn,
            records_applied: 0,
            bytes_applied: 0,
            heartbeat: None,
        })
    }

    /// The history this stream follows (the replica adopts the master's id).
    pub fn replid(&self) -> ReplId {
        self.replid
    }

    pub fn loading(&self) -> bool {
        matches!(self.phase, Phase::Loading { .. })
    }

    /// The LSN to acknowledge: the last applied; `None` while a full sync loads.
    pub fn ack_lsn(&self) -> Option<u64> {
        matches!(self.phase, Phase::Streaming).then_some(self.applied_lsn)
    }

    /// Handles one frame; `shard` is the replica's shard, changed only by records.
    pub fn on_frame<'a>(
        &mut self,
        frame: Frame<'a>,
        shard: &mut Shard,
    ) -> Result<Step<'a>, StreamError> {
        match frame {
            Frame::SnapshotChunk(bytes) => {
                self.snapshot_chunk(bytes)?;
                Ok(Step::SnapshotChunk(bytes))
            }
            Frame::SnapshotEnd => Ok(Step::Loaded(self.snapshot_end()?)),
            Frame::Records(bytes) => Ok(Step::Applied(self.apply(shard, bytes)?)),
            Frame::Heartbeat(h) => {
                self.on_heartbeat(h)?;
                Ok(Step::Heartbeat(h))
            }
            Frame::Checkpoint(c) => Ok(Step::Checkpoint(self.on_checkpoint(c)?)),
        }
    }

    /// A checkpoint comes after the records through its LSN for this shard.
    fn on_checkpoint(&mut self, frame: CheckpointFrame<'_>) -> Result<Checkpoint, StreamError> {
        if !matches!(self.phase, Phase::Streaming) {
            return self.unexpected(FrameKind::Checkpoint);
        }
        if frame.shards() != self.config.shards {
            let shards = frame.shards();
            return self.fail(StreamError::CheckpointShards { shards });
        }
        let checkpoint = frame.to_checkpoint();
        let lsn = checkpoint.lsns[self.config.shard_id];
        if lsn > self.applied_lsn {
            let applied_lsn = self.applied_lsn;
            return self.fail(StreamError::CheckpointAhead { lsn, applied_lsn });
        }
        Ok(checkpoint)
    }

    /// The last LSN applied (while a full sync loads, the snapshot's).
    pub fn applied_lsn(&self) -> u64 {
        self.applied_lsn
    }

    /// Marks the stream broken and returns `error`.
    fn fail<T>(&mut self, error: StreamError) -> Result<T, StreamError> {
        self.phase = Phase::Broken;
        Err(error)
    }

    fn unexpected<T>(&mut self, kind: FrameKind) -> Result<T, StreamError> {
        let error = match self.phase {
            Phase::Broken => StreamError::Broken,
            _ => StreamError::Unexpected {
                kind,
                loading: self.loading(),
            },
        };
        self.fail(error)
    }

    fn snapshot_chunk(&mut self, bytes: &[u8]) -> Result<(), StreamError> {
        let config = self.config;
        let Phase::Loading {
            image,
            lsn,
            header_checked,
        } = &mut self.phase
        else {
            return self.unexpected(FrameKind::SnapshotChunk);
        };
        if image.len() + bytes.len() > config.snapshot_bytes_max {
            let bytes_max = config.snapshot_bytes_max;
            return self.fail(StreamError::SnapshotTooLarge { bytes_max });
        }
        image.extend_from_slice(bytes);
        if !*header_checked && image.len() >= SNAPSHOT_HEADER_BYTES {
            *header_checked = true;
            let checked = read_header(image).map_err(StreamError::Snapshot);
            let lsn = *lsn;
            if let Err(error) = checked.and_then(|h| check_header(&config, lsn, h)) {
                return self.fail(error);
            }
        }
        Ok(())
    }

    fn snapshot_end(&mut self) -> Result<Box<Shard>, StreamError> {
        let Phase::Loading { image, lsn, .. } = &self.phase else {
            return self.unexpected(FrameKind::SnapshotEnd);
        };
        let lsn = *lsn;
        let mut shard = Box::new(Shard::new(self.config.shard_id, self.config.shard_seed));
        let loaded = shard
            .keyspace_mut()
            .load_snapshot(image)
            .map_err(StreamError::Snapshot);
        if let Err(error) = loaded.and_then(|(h, _)| check_header(&self.config, lsn, h)) {
            return self.fail(error);
        }
        shard.log_mut().set_last_lsn(lsn);
        self.phase = Phase::Streaming;
        Ok(shard)
    }

    /// Checks the records of one `RECORDS` frame and applies them all to `shard`, or
    /// none (see the module doc).
    pub fn apply<'a>(
        &mut self,
        shard: &mut Shard,
        records: &'a [u8],
    ) -> Result<Applied<'a>, StreamError> {
        if !matches!(self.phase, Phase::Streaming) {
            return self.unexpected(FrameKind::Records);
        }
        let effects = match decode_records(records, self.applied_lsn + 1) {
            Ok(effects) => effects,
            Err(error) => return self.fail(error),
        };
        let count = effects.len() as u64;
        for effect in effects {
            apply_effect(shard, effect);
        }
        let applied = Applied {
            first_lsn: self.applied_lsn + 1,
            last_lsn: self.applied_lsn + count,
            records: count,
            bytes: records,
        };
        self.applied_lsn = applied.last_lsn;
        self.records_applied += count;
        self.bytes_applied += records.len() as u64;
        Ok(applied)
    }

    fn on_heartbeat(&mut self, heartbeat: Heartbeat) -> Result<(), StreamError> {
        if matches!(self.phase, Phase::Broken) {
            return self.fail(StreamError::Broken);
        }
        // Everything applied was sent before this heartbeat, so the master had it.
        if heartbeat.last_lsn < self.applied_lsn {
            return self.fail(StreamError::MasterBehind {
                master_lsn: heartbeat.last_lsn,
                applied_lsn: self.applied_lsn,
            });
        }
        self.heartbeat = Some(heartbeat);
        Ok(())
    }

    /// The lag at `now_unix_ms` (see the module doc).
    pub fn lag(&self, now_unix_ms: u64) -> Lag {
        let Some(h) = self.heartbeat else {
            return Lag::default();
        };
        let records = h.last_lsn.saturating_sub(self.applied_lsn);
        let bytes = match self.records_applied {
            0 => 0,
            n => records.saturating_mul(self.bytes_applied / n),
        };
        Lag {
            records,
            bytes,
            ms_since_heartbeat: Some(now_unix_ms.saturating_sub(h.master_unix_ms)),
        }
    }
}

fn check_header(config: &StreamConfig, lsn: u64, h: SnapshotHeader) -> Result<(), StreamError> {
    if h.shard_id != config.shard_id || h.shards != config.shards || h.lsn != lsn {
        return Err(StreamError::SnapshotMismatch {
            expected: (config.shard_id, config.shards, lsn),
            got: (h.shard_id, h.shards, h.lsn),
        });
    }
    Ok(())
}

/// Every record of `records`, checked and decoded; the first must carry `next_lsn`.
fn decode_records(records: &[u8], next_lsn: u64) -> Result<Vec<Effect<'_>>, StreamError> {
    let mut scanner = Scanner::new(records);
    let mut effects = Vec::new();
    for record in scanner.by_ref() {
        // The scanner checks that each record follows the one before.
        if effects.is_empty() && record.lsn != next_lsn {
            return Err(StreamError::Gap {
                expected: next_lsn,
                got: record.lsn,
            });
        }
        let lsn = record.lsn;
        let effect = Effect::decode(&records[record.payload])
            .map_err(|error| StreamError::BadEffect { lsn, error })?;
        effects.push(effect);
    }
    match scanner.end() {
        Some(End::Clean) if !effects.is_empty() => Ok(effects),
        Some(End::TornTail { offset } | End::Corrupt { offset }) => {
            Err(StreamError::BadRecords { offset })
        }
        _ => Err(StreamError::BadRecords { offset: 0 }),
    }
}

/// Why a stream cannot go on: the replica drops it and asks to sync again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamError {
    /// `+CONTINUE` from an LSN other than the one asked for.
    ContinueMismatch {
        asked: u64,
        got: u64,
    },
    /// A frame that does not belong in this phase.
    Unexpected {
        kind: FrameKind,
        loading: bool,
    },
    SnapshotTooLarge {
        bytes_max: usize,
    },
    /// The snapshot is of another shard, shard count or LSN than the handshake said:
    /// `(shard_id, shards, lsn)`.
    SnapshotMismatch {
        expected: (usize, usize, u64),
        got: (usize, usize, u64),
    },
    Snapshot(SnapshotError),
    /// The first record of a frame is not the next LSN.
    Gap {
        expected: u64,
        got: u64,
    },
    /// The frame's record at `offset` is cut short, damaged, or out of sequence.
    BadRecords {
        offset: usize,
    },
    /// The record at `lsn` passed its CRC but is not an effect.
    BadEffect {
        lsn: u64,
        error: DecodeError,
    },
    /// A heartbeat's last LSN is below what the replica applied: the master lost
    /// records it had sent.
    MasterBehind {
        master_lsn: u64,
        applied_lsn: u64,
    },
    /// A checkpoint naming another number of shards.
    CheckpointShards {
        shards: usize,
    },
    /// A checkpoint before the records through its LSN for this shard.
    CheckpointAhead {
        lsn: u64,
        applied_lsn: u64,
    },
    /// The stream failed before; it takes no more frames.
    Broken,
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use StreamError::*;
        match self {
            ContinueMismatch { asked, got } => {
                write!(f, "asked for LSN {asked}, master continues at {got}")
            }
            Unexpected { kind, loading } => {
                let phase = if *loading { "snapshot" } else { "records" };
                write!(f, "unexpected {} frame in the {phase} phase", kind.name())
            }
            SnapshotTooLarge { bytes_max } => {
                write!(f, "snapshot larger than {bytes_max} bytes")
            }
            SnapshotMismatch { expected, got } => write!(
                f,
                "snapshot is shard {} of {} at LSN {}, expected shard {} of {} at LSN {}",
                got.0, got.1, got.2, expected.0, expected.1, expected.2
            ),
            Snapshot(error) => write!(f, "{error}"),
            Gap { expected, got } => write!(f, "record gap: expected LSN {expected}, got {got}"),
            BadRecords { offset } => write!(f, "bad record at byte {offset} of a frame"),
            BadEffect { lsn, error } => write!(f, "record {lsn} does not decode: {error:?}"),
            MasterBehind {
                master_lsn,
                applied_lsn,
            } => write!(
                f,
                "master is at LSN {master_lsn}, behind the applied LSN {applied_lsn}"
            ),
            CheckpointShards { shards } => {
                write!(f, "checkpoint of {shards} shards")
            }
            CheckpointAhead { lsn, applied_lsn } => write!(
                f,
                "checkpoint at LSN {lsn} before its records (applied LSN {applied_lsn})"
            ),
            Broken => write!(f, "stream already failed"),
        }
    }
}

impl std::error::Error for StreamError {}
