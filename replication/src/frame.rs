//! The master-to-replica stream after the handshake: binary frames.
//!
//! ```text
//!  0      1          5
//!  ┌──────┬──────────┬──────────────────────────┐
//!  │ kind │ len      │ payload (len bytes)      │
//!  │ u8   │ u32 LE   │                          │
//!  └──────┴──────────┴──────────────────────────┘
//!
//!  kind 1  SNAPSHOT_CHUNK  1..=FRAME_BATCH_BYTES_MAX raw bytes of a snapshot file,
//!                          in order, cut anywhere
//!  kind 2  SNAPSHOT_END    empty: the snapshot file is whole
//!  kind 3  RECORDS         one or more whole journal records, byte for byte as in
//!                          the journal file (len|crc|lsn|payload each)
//!  kind 4  HEARTBEAT       16 bytes: master's last LSN u64 LE, master's unix ms u64 LE
//!  kind 5  CHECKPOINT      run u64 LE, id u64 LE, then one LSN u64 LE per shard
//!                          (protocol 2, see crate::checkpoint): sent once the
//!                          stream has sent records through its shard's LSN
//! ```
//!
//! A full sync is `SNAPSHOT_CHUNK… SNAPSHOT_END RECORDS…`, a partial one `RECORDS…`;
//! `HEARTBEAT` may come anywhere, and comes at least every [`HEARTBEAT_INTERVAL_MS`]
//! (in particular when the master has nothing to send), so the replica can tell its
//! lag and a dead link. `CHECKPOINT` comes only after the snapshot; a replica
//! older than protocol 2 would refuse it as an unknown kind, and is refused at
//! `CKV.SYNC` before any frame is sent ([`crate::handshake::PROTOCOL_VERSION`]).
//!
//! Because `RECORDS` carries journal bytes unchanged, the master sends them straight
//! from its segment files or its in-memory log: it writes a 5-byte header with
//! [`encode_header`] and then the bytes. A sender packs up to
//! [`FRAME_BATCH_BYTES_MAX`] per frame; a single record larger than that gets a frame
//! of its own, up to [`FRAME_RECORDS_BYTES_MAX`] (the longest record).
//!
//! Decoding is two-phase: the 5-byte header is checked (known kind, a length allowed
//! for that kind) before any payload is awaited, so a bad stream is refused at once,
//! then the frame is sliced out of the buffer. [`parse_frame`] never panics and never
//! allocates; [`FrameDecoder`] adds a buffer for bytes fed as they arrive.

use std::fmt;
use std::ops::RangeInclusive;

use corekv_engine::limits::{
    JOURNAL_RECORD_BYTES_MIN, JOURNAL_RECORD_HEADER_BYTES, JOURNAL_RECORD_PAYLOAD_BYTES_MAX,
};

use crate::checkpoint::Checkpoint;
use crate::handshake::SHARDS_MAX;

/// Bytes in a frame header: kind (u8), payload length (u32).
pub const FRAME_HEADER_BYTES: usize = 5;
/// Payload bytes a sender packs into one frame (snapshot bytes, or whole records
/// unless one record alone is longer).
pub const FRAME_BATCH_BYTES_MAX: usize = 1024 * 1024;
/// Longest `RECORDS` payload: one longest journal record.
pub const FRAME_RECORDS_BYTES_MAX: usize =
    JOURNAL_RECORD_HEADER_BYTES + JOURNAL_RECORD_PAYLOAD_BYTES_MAX;
/// Bytes in a `HEARTBEAT` payload.
pub const HEARTBEAT_PAYLOAD_BYTES: usize = 16;
/// The master sends a `HEARTBEAT` at least this often on every stream.
pub const HEARTBEAT_INTERVAL_MS: u64 = 1000;
/// Bytes of a `CHECKPOINT` payload before its LSNs: run and id.
pub const CHECKPOINT_HEAD_BYTES: usize = 16;
/// Bytes of a `CHECKPOINT` payload per shard.
const CHECKPOINT_LSN_BYTES: usize = 8;

const _: () = assert!(FRAME_RECORDS_BYTES_MAX <= u32::MAX as usize);
const _: () = assert!(FRAME_BATCH_BYTES_MAX <= FRAME_RECORDS_BYTES_MAX);
const _: () = assert!(JOURNAL_RECORD_BYTES_MIN <= FRAME_BATCH_BYTES_MAX);

/// A frame's kind: its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    SnapshotChunk = 1,
    SnapshotEnd = 2,
    Records = 3,
    Heartbeat = 4,
    Checkpoint = 5,
}

impl FrameKind {
    pub fn from_u8(byte: u8) -> Option<FrameKind> {
        Some(match byte {
            1 => FrameKind::SnapshotChunk,
            2 => FrameKind::SnapshotEnd,
            3 => FrameKind::Records,
            4 => FrameKind::Heartbeat,
            5 => FrameKind::Checkpoint,
            _ => return None,
        })
    }

    /// Payload lengths a frame of this kind may have.
    pub fn payload_bytes(self) -> RangeInclusive<usize> {
        match self {
            FrameKind::SnapshotChunk => 1..=FRAME_BATCH_BYTES_MAX,
            FrameKind::SnapshotEnd => 0..=0,
            FrameKind::Records => JOURNAL_RECORD_BYTES_MIN..=FRAME_RECORDS_BYTES_MAX,
            FrameKind::Heartbeat => HEARTBEAT_PAYLOAD_BYTES..=HEARTBEAT_PAYLOAD_BYTES,
            FrameKind::Checkpoint => {
                CHECKPOINT_HEAD_BYTES + CHECKPOINT_LSN_BYTES
                    ..=CHECKPOINT_HEAD_BYTES + CHECKPOINT_LSN_BYTES * SHARDS_MAX
            }
        }
    }

    /// Whether a payload of `len` bytes suits this kind.
    fn allows(self, len: usize) -> bool {
        let whole_lsns = self != FrameKind::Checkpoint || len.is_multiple_of(CHECKPOINT_LSN_BYTES);
        self.payload_bytes().contains(&len) && whole_lsns
    }

    pub fn name(self) -> &'static str {
        match self {
            FrameKind::SnapshotChunk => "SNAPSHOT_CHUNK",
            FrameKind::SnapshotEnd => "SNAPSHOT_END",
            FrameKind::Records => "RECORDS",
            FrameKind::Heartbeat => "HEARTBEAT",
            FrameKind::Checkpoint => "CHECKPOINT",
        }
    }
}

/// The master's position and clock, as a heartbeat reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heartbeat {
    pub last_lsn: u64,
    pub master_unix_ms: u64,
}

/// A `CHECKPOINT` frame's payload as received: its LSNs stay bytes until read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointFrame<'a> {
    pub run: u64,
    pub id: u64,
    lsns: &'a [u8],
}

impl CheckpointFrame<'_> {
    pub fn shards(&self) -> usize {
        self.lsns.len() / CHECKPOINT_LSN_BYTES
    }

    pub fn to_checkpoint(&self) -> Checkpoint {
        let lsns = self.lsns.chunks_exact(CHECKPOINT_LSN_BYTES);
        Checkpoint {
            run: self.run,
            id: self.id,
            lsns: lsns
                .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
                .collect(),
        }
    }
}

/// Appends a whole `CHECKPOINT` frame for `checkpoint` to `out`.
pub fn encode_checkpoint(checkpoint: &Checkpoint, out: &mut Vec<u8>) {
    let len = CHECKPOINT_HEAD_BYTES + CHECKPOINT_LSN_BYTES * checkpoint.lsns.len();
    encode_header(FrameKind::Checkpoint, len, out);
    out.extend_from_slice(&checkpoint.run.to_le_bytes());
    out.extend_from_slice(&checkpoint.id.to_le_bytes());
    for lsn in &checkpoint.lsns {
        out.extend_from_slice(&lsn.to_le_bytes());
    }
}

/// One frame; payloads borrow the buffer it was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    SnapshotChunk(&'a [u8]),
    SnapshotEnd,
    Records(&'a [u8]),
    Heartbeat(Heartbeat),
    Checkpoint(CheckpointFrame<'a>),
}

impl Frame<'_> {
    pub fn kind(&self) -> FrameKind {
        match self {
            Frame::SnapshotChunk(_) => FrameKind::SnapshotChunk,
            Frame::SnapshotEnd => FrameKind::SnapshotEnd,
            Frame::Records(_) => FrameKind::Records,
            Frame::Heartbeat(_) => FrameKind::Heartbeat,
            Frame::Checkpoint(_) => FrameKind::Checkpoint,
        }
    }

    /// Appends the whole frame to `out`. The payload length must suit the kind.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Frame::SnapshotChunk(bytes) | Frame::Records(bytes) => {
                encode_header(self.kind(), bytes.len(), out);
                out.extend_from_slice(bytes);
            }
            Frame::SnapshotEnd => encode_header(FrameKind::SnapshotEnd, 0, out),
            Frame::Heartbeat(h) => {
                encode_header(FrameKind::Heartbeat, HEARTBEAT_PAYLOAD_BYTES, out);
                out.extend_from_slice(&h.last_lsn.to_le_bytes());
                out.extend_from_slice(&h.master_unix_ms.to_le_bytes());
            }
            Frame::Checkpoint(c) => encode_checkpoint(&c.to_checkpoint(), out),
        }
    }
}

/// Appends a frame header; the caller sends `payload_bytes` bytes after it (records
/// straight from a file). A length the kind does not allow is a bug.
pub fn encode_header(kind: FrameKind, payload_bytes: usize, out: &mut Vec<u8>) {
    assert!(kind.allows(payload_bytes));
    out.push(kind as u8);
    out.extend_from_slice(&(payload_bytes as u32).to_le_bytes());
}

/// Why bytes are not a frame stream. The stream cannot go on after one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    UnknownKind(u8),
    /// A length the kind does not allow (oversize, or the wrong fixed size).
    BadLength {
        kind: FrameKind,
        len: u32,
    },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::UnknownKind(kind) => write!(f, "unknown replication frame kind {kind}"),
            FrameError::BadLength { kind, len } => {
                let allowed = kind.payload_bytes();
                write!(
                    f,
                    "{} frame of {len} bytes (allowed {}..={})",
                    kind.name(),
                    allowed.start(),
                    allowed.end()
                )
            }
        }
    }
}

impl std::error::Error for FrameError {}

/// Checks the header at the start of `buf`: `None` until 5 bytes are there, then
/// the kind and the whole frame's length.
fn check(buf: &[u8]) -> Result<Option<(FrameKind, usize)>, FrameError> {
    let Some(head) = buf.first_chunk::<FRAME_HEADER_BYTES>() else {
        return Ok(None);
    };
    let kind = FrameKind::from_u8(head[0]).ok_or(FrameError::UnknownKind(head[0]))?;
    let len = u32::from_le_bytes([head[1], head[2], head[3], head[4]]);
    if !kind.allows(len as usize) {
        return Err(FrameError::BadLength { kind, len });
    }
    Ok(Some((kind, FRAME_HEADER_BYTES + len as usize)))
}

/// Parses one frame whose header has passed [`check`] and whose bytes are all in
/// `frame`.
fn parse_checked(kind: FrameKind, frame: &[u8]) -> Frame<'_> {
    let payload = &frame[FRAME_HEADER_BYTES..];
    match kind {
        FrameKind::SnapshotChunk => Frame::SnapshotChunk(payload),
        FrameKind::SnapshotEnd => Frame::SnapshotEnd,
        FrameKind::Records => Frame::Records(payload),
        FrameKind::Heartbeat => {
            let u64_at =
                |at: usize| u64::from_le_bytes(payload[at..at + 8].try_into().expect("8 bytes"));
            Frame::Heartbeat(Heartbeat {
                last_lsn: u64_at(0),
                master_unix_ms: u64_at(8),
            })
        }
        FrameKind::Checkpoint => {
            let u64_at =
                |at: usize| u64::from_le_bytes(payload[at..at + 8].try_into().expect("8 bytes"));
            Frame::Checkpoint(CheckpointFrame {
                run: u64_at(0),
                id: u64_at(8),
                lsns: &payload[CHECKPOINT_HEAD_BYTES..],
            })
        }
    }
}

/// Parses one frame from the start of `buf`: `Ok(None)` while it is incomplete
/// (an error as soon as the header is wrong), else the frame and its length.
pub fn parse_frame(buf: &[u8]) -> Result<Option<(Frame<'_>, usize)>, FrameError> {
    let Some((kind, len)) = check(buf)? else {
        return Ok(None);
    };
    let Some(frame) = buf.get(..len) else {
        return Ok(None);
    };
    Ok(Some((parse_checked(kind, frame), len)))
}

/// Frames from bytes fed as they arrive. It holds the bytes not yet framed: at
/// most one frame and whatever was fed after it.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    /// Bytes at the start of `buf` already handed out as frames.
    at: usize,
    error: Option<FrameError>,
}

impl FrameDecoder {
    pub fn new() -> FrameDecoder {
        FrameDecoder::default()
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        if self.at == self.buf.len() {
            self.buf.clear();
        } else if self.at > 0 {
            self.buf.drain(..self.at);
        }
        self.at = 0;
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole frame, `None` until more bytes are fed. An error is final:
    /// every later call returns it again.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, FrameError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let rest = &self.buf[self.at..];
        let (kind, len) = match check(rest) {
            Ok(Some(header)) if header.1 <= rest.len() => header,
            Ok(_) => return Ok(None),
            Err(error) => {
                self.error = Some(error);
                return Err(error);
            }
        };
        let start = self.at;
        self.at += len;
        Ok(Some(parse_checked(kind, &self.buf[start..start + len])))
    }

    /// Bytes fed but not yet handed out as frames: 0 means the replica has applied
    /// everything it received.
    pub fn buffered_bytes(&self) -> usize {
        self.buf.len() - self.at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use corekv_engine::journal::encode_record;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    fn checkpoint_frame() -> Vec<u8> {
        let mut out = Vec::new();
        let checkpoint = Checkpoint {
            run: 9,
            id: 3,
            lsns: vec![5, 0, 1 << 40],
        };
        encode_checkpoint(&checkpoint, &mut out);
        out
    }

    fn samples() -> Vec<(Vec<u8>, Option<Heartbeat>)> {
        let mut records = Vec::new();
        encode_record(7, b"x", &mut records);
        encode_record(8, b"yz", &mut records);
        let heartbeat = Heartbeat {
            last_lsn: 8,
            master_unix_ms: 1_700_000_000_123,
        };
        vec![
            (b"CKVSNAP1 raw".to_vec(), None),
            (vec![], None),
            (records, None),
            (vec![], Some(heartbeat)),
            (checkpoint_frame(), None),
        ]
    }

    fn frames(samples: &[(Vec<u8>, Option<Heartbeat>)]) -> Vec<Frame<'_>> {
        vec![
            Frame::SnapshotChunk(&samples[0].0),
            Frame::SnapshotEnd,
            Frame::Records(&samples[2].0),
            Frame::Heartbeat(samples[3].1.expect("heartbeat")),
            parse_frame(&samples[4].0).expect("valid").expect("whole").0,
        ]
    }

    #[test]
    fn every_kind_round_trips() {
        let samples = samples();
        for frame in frames(&samples) {
            let mut out = Vec::new();
            frame.encode(&mut out);
            assert_eq!(out[0], frame.kind() as u8);
            assert_eq!(parse_frame(&out), Ok(Some((frame, out.len()))));
            for cut in 0..out.len() {
                assert_eq!(parse_frame(&out[..cut]), Ok(None), "{frame:?} cut {cut}");
            }
        }
        let mut heartbeat = Vec::new();
        frames(&samples)[3].encode(&mut heartbeat);
        assert_eq!(
            heartbeat.len(),
            FRAME_HEADER_BYTES + HEARTBEAT_PAYLOAD_BYTES
        );
        assert_eq!(&heartbeat[..5], &[4, 16, 0, 0, 0]);
        let bytes = checkpoint_frame();
        let Ok(Some((Frame::Checkpoint(c), 45))) = parse_frame(&bytes) else {
            panic!("{bytes:?}");
        };
        assert_eq!((c.run, c.id, c.shards()), (9, 3, 3));
        assert_eq!(c.to_checkpoint().lsns, vec![5, 0, 1 << 40]);
    }

    #[test]
    fn bad_headers_are_refused_before_the_payload_arrives() {
        assert_eq!(
            parse_frame(&[0, 0, 0, 0, 0]),
            Err(FrameError::UnknownKind(0))
        );
        assert_eq!(
            parse_frame(&[9, 1, 0, 0, 0]),
            Err(FrameError::UnknownKind(9))
        );
        let cases: &[(&[u8], FrameKind, u32)] = &[
            (&[1, 0, 0, 0, 0], FrameKind::SnapshotChunk, 0),
            (&[1, 1, 0, 16, 0], FrameKind::SnapshotChunk, (1 << 20) + 1),
            (&[2, 1, 0, 0, 0], FrameKind::SnapshotEnd, 1),
            (&[3, 16, 0, 0, 0], FrameKind::Records, 16),
            (&[3, 0xff, 0xff, 0xff, 0xff], FrameKind::Records, u32::MAX),
            (&[4, 15, 0, 0, 0], FrameKind::Heartbeat, 15),
            (&[5, 16, 0, 0, 0], FrameKind::Checkpoint, 16),
            (&[5, 25, 0, 0, 0], FrameKind::Checkpoint, 25),
        ];
        for (head, kind, len) in cases {
            let error = FrameError::BadLength {
                kind: *kind,
                len: *len,
            };
            assert_eq!(parse_frame(head), Err(error), "{head:?}");
        }
        assert_eq!(
            FrameError::BadLength {
                kind: FrameKind::Heartbeat,
                len: 15
            }
            .to_string(),
            "HEARTBEAT frame of 15 bytes (allowed 16..=16)"
        );
    }

    #[test]
    fn the_decoder_frames_a_stream_split_anywhere() {
        let samples = samples();
        let mut stream = Vec::new();
        let mut expected = Vec::new();
        for _ in 0..50 {
            for frame in frames(&samples) {
                frame.encode(&mut stream);
                expected.push(frame);
            }
        }
        let mut rng = SmallRng::seed_from_u64(1);
        for _ in 0..50 {
            let mut decoder = FrameDecoder::new();
            let mut got = Vec::new();
            let mut at = 0;
            while at < stream.len() {
                let end = (at + rng.gen_range(0..40)).min(stream.len());
                decoder.feed(&stream[at..end]);
                at = end;
                while let Some(frame) = decoder.next_frame().expect("valid") {
                    got.push(format!("{frame:?}"));
                }
            }
            let expected: Vec<String> = expected.iter().map(|f| format!("{f:?}")).collect();
            assert_eq!(got, expected);
            assert_eq!(decoder.buffered_bytes(), 0);
        }
    }

    #[test]
    fn a_decoder_error_is_final() {
        let mut decoder = FrameDecoder::new();
        let mut stream = Vec::new();
        Frame::SnapshotEnd.encode(&mut stream);
        stream.extend_from_slice(&[7, 0, 0, 0, 0]);
        decoder.feed(&stream);
        assert_eq!(decoder.next_frame(), Ok(Some(Frame::SnapshotEnd)));
        assert_eq!(decoder.next_frame(), Err(FrameError::UnknownKind(7)));
        let mut more = Vec::new();
        Frame::SnapshotEnd.encode(&mut more);
        decoder.feed(&more);
        assert_eq!(decoder.next_frame(), Err(FrameError::UnknownKind(7)));
    }

    #[test]
    fn random_bytes_never_panic_the_decoder() {
        let mut rng = SmallRng::seed_from_u64(2);
        for _ in 0..2000 {
            let mut decoder = FrameDecoder::new();
            for _ in 0..rng.gen_range(1..6) {
                let bytes: Vec<u8> = (0..rng.gen_range(0..30))
                    .map(|_| {
                        // Mostly small numbers, so kinds and lengths are often valid.
                        if rng.gen_bool(0.7) {
                            rng.gen_range(0..5)
                        } else {
                            rng.gen()
                        }
                    })
                    .collect();
                decoder.feed(&bytes);
                while let Ok(Some(_)) = decoder.next_frame() {}
            }
        }
    }
}
