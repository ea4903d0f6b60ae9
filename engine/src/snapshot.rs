//! Point-in-time snapshots of one shard: written in bounded chunks while the shard
//! keeps serving writes (no fork, no copy of the keyspace), read back by recovery
//! ([`load`]) and checked for backups ([`verify`]). No files here; the server owns
//! the I/O and decides when a chunk is written.
//!
//! ```text
//!  start:    SnapshotWriter::new(dbs, lsn) ──► header ──► file
//!  each tick:  next_chunk(dbs) ──► one chunk ──► file     (bounded bytes and visits)
//!  each write: before_write(db, table, key) ──► the shard changes the key
//!              (saves the key's state at the start if the walk has not reached it)
//!  the end:  next_chunk ──► saved entries ──► trailer ──► file
//!  recover:  file ──► load ──► Db::insert_entry ──► journal replay from lsn + 1
//! ```
//!
//! # Copy-on-write at key level
//!
//! The image is the keyspace as it was when the writer was created, at journal LSN
//! `lsn`. The writer walks each database's entry positions from the top down, as
//! [`Db::scan`] does, keeping a cursor per database: positions at and above it have
//! been walked. The walk relies on the same property `SCAN` does: removal is
//! `swap_remove`, which only moves the *last* entry down into the hole, and insertion
//! appends, so an entry only ever moves down.
//!
//! Before any write changes a key (sets, deletes, deadline changes, in-place value
//! changes; both keys of a `RENAME` or `MOVE`), the keyspace's door
//! ([`crate::keyspace::Keyspace`]) calls [`SnapshotWriter::before_write`]. The first time a key is named there, the writer
//! records it in `saved`:
//! - present below its database's cursor (not walked yet): its entry, cloned — the
//!   state it had at the start, since nothing has changed it before;
//! - present at or above the cursor (walked, so already in the image): `None`;
//! - absent (created after the start, or already gone): `None`.
//!
//! The walk skips every key in `saved`, and at the end the writer appends each saved
//! entry that is `Some`. Why this is exactly the image at the start:
//! - A key no write touched still has its state at the start. While it sits at or
//!   above the cursor it has been written: it was below the cursor at the start,
//!   the cursor only passes a position by visiting it, and the key only moves down.
//!   So when the walk ends (every cursor at 0) it has been written at least once. It
//!   may be written twice (walked, then moved down below the cursor and walked
//!   again), with the same state both times; loading replaces, so that is harmless.
//! - A touched key that was present at the start is written once with its state at
//!   the start: by the walk before its first write (then `None` keeps the walk from
//!   writing its new state if it later moves below the cursor), or from `saved`.
//! - A key created after the start was absent at its first write, so it is `None`
//!   in `saved` and never written, wherever it moves.
//!
//! `before_write` for a key that the write then leaves alone (a failed `SET NX`) is
//! harmless. Keys removed by expiry do not call it: an expired key is dead in the
//! image either way, and the walk only reads positions below the current length.
//! Entries expired when the walk or the end reaches them are left out. `FLUSHDB`,
//! `FLUSHALL` and `SWAPDB` change whole databases at once; the shard aborts a
//! snapshot in progress by dropping its writer, and starts a new one if it wants one.
//!
//! Memory: one key reference per touched key, plus a clone of each touched key's
//! entry that the walk had not reached yet. That clone is also the one cost a write
//! pays here beyond a hash probe: O(value bytes), at most once per key per snapshot. Work per [`SnapshotWriter::next_chunk`]
//! is bounded by [`SNAPSHOT_VISITS_PER_CHUNK_MAX`] and by the chunk budget.
//!
//! # File layout
//!
//! ```text
//!  header (SNAPSHOT_HEADER_BYTES)
//!  0        8         12         16       20       28                36       40
//!  ┌────────┬─────────┬──────────┬────────┬────────┬─────────────────┬────────┐
//!  │ magic  │ version │ shard_id │ shards │ lsn    │ created_unix_ms │ crc    │
//!  │ 8 B    │ u32 LE  │ u32 LE   │ u32 LE │ u64 LE │ u64 LE          │ u32 LE │
//!  └────────┴─────────┴──────────┴────────┴────────┴─────────────────┴────────┘
//!  crc = CRC32C(bytes 0..36); magic = "CKVSNAP1"
//!
//!  chunk, repeated: entry chunks, then exactly one trailer chunk, then the end
//!  0        4        8       9
//!  ┌────────┬────────┬───────┬──────────────────────────────────────┐
//!  │ len    │ crc    │ kind  │ body                                 │
//!  │ u32 LE │ u32 LE │ u8    │ len - 1 bytes                        │
//!  └────────┴────────┴───────┴──────────────────────────────────────┘
//!  crc = CRC32C(header crc u32 LE ‖ chunk index u64 LE ‖ kind ‖ body)
//!
//!  kind 1, entries:  one or more of  [n u32 LE][Effect::Set, n bytes]
//!  kind 2, trailer:  [entries u64 LE][entry chunks u64 LE]
//! ```
//!
//! An entry is the journal's encoding of an `Effect::Set` (see [`crate::journal`]):
//! a key's whole state. The chunk checksum covers the header's checksum and the
//! chunk's index, so chunks reordered, dropped, duplicated or taken from another
//! snapshot fail it. The trailer counts the entries and entry chunks before it, so a
//! file cut exactly between chunks is incomplete, and nothing may follow it. A chunk
//! of several entries keeps its payload within [`SNAPSHOT_CHUNK_BYTES_MAX`]; an entry
//! larger than that gets a chunk of its own, up to [`SNAPSHOT_CHUNK_PAYLOAD_BYTES_MAX`].
//!
//! Reading never panics and allocates nothing beyond the values it decodes, each
//! only after checking that the input holds its bytes.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use crc::{Crc, CRC_32_ISCSI};
use hashbrown::HashMap;

use crate::journal::{value_bytes, varint_bytes, DecodeError, Effect};
use crate::keyspace::db::{Db, Entry};
use crate::limits::{DATABASES, JOURNAL_RECORD_PAYLOAD_BYTES_MAX};

/// The first bytes of every snapshot file.
pub const SNAPSHOT_MAGIC: [u8; 8] = *b"CKVSNAP1";
/// The layout this module writes and reads.
pub const SNAPSHOT_FORMAT_VERSION: u32 = 1;
/// Bytes in the file header.
pub const SNAPSHOT_HEADER_BYTES: usize = 40;
/// Bytes in a chunk's header: payload length (u32), CRC32C (u32).
pub const SNAPSHOT_CHUNK_HEADER_BYTES: usize = 8;
/// Most payload bytes in a chunk of several entries: the unit of work and of I/O
/// while a snapshot runs.
pub const SNAPSHOT_CHUNK_BYTES_MAX: usize = 1024 * 1024;
/// Longest entry: an `Effect::Set`, which a journal record must hold whole too.
pub const SNAPSHOT_ENTRY_BYTES_MAX: usize = JOURNAL_RECORD_PAYLOAD_BYTES_MAX;
/// Bytes of the length before each entry in a chunk.
const ENTRY_PREFIX_BYTES: usize = 4;
/// Largest chunk payload a reader accepts: the kind byte and one longest entry.
pub const SNAPSHOT_CHUNK_PAYLOAD_BYTES_MAX: usize =
    1 + ENTRY_PREFIX_BYTES + SNAPSHOT_ENTRY_BYTES_MAX;
/// Entry positions (or saved entries) one [`SnapshotWriter::next_chunk`] visits at
/// most, so a stretch of skipped entries cannot make one call long.
pub const SNAPSHOT_VISITS_PER_CHUNK_MAX: usize = 64 * 1024;

const _: () = assert!(SNAPSHOT_ENTRY_BYTES_MAX <= u32::MAX as usize);
const _: () = assert!(SNAPSHOT_CHUNK_PAYLOAD_BYTES_MAX <= u32::MAX as usize);
const _: () = assert!(SNAPSHOT_CHUNK_BYTES_MAX <= SNAPSHOT_CHUNK_PAYLOAD_BYTES_MAX);
const _: () = assert!(SNAPSHOT_VISITS_PER_CHUNK_MAX > 0);

/// Chunk kinds: the first payload byte.
const CHUNK_ENTRIES: u8 = 1;
const CHUNK_TRAILER: u8 = 2;
/// A trailer's payload: kind, entry count (u64), entry chunk count (u64).
const TRAILER_PAYLOAD_BYTES: usize = 1 + 8 + 8;

/// Where the header's checksum sits; it covers every byte before it.
const HEADER_CRC_AT: usize = SNAPSHOT_HEADER_BYTES - 4;

const CRC32C: Crc<u32> = Crc::<u32>::new(&CRC_32_ISCSI);

/// What a snapshot file says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotHeader {
    pub shard_id: usize,
    pub shards: usize,
    /// The journal LSN the image is at: replay continues from `lsn + 1`.
    pub lsn: u64,
    pub created_unix_ms: u64,
}

impl SnapshotHeader {
    /// The header's bytes. The caller has checked the shard fields fit.
    fn encode(&self) -> [u8; SNAPSHOT_HEADER_BYTES] {
        let shard_id = u32::try_from(self.shard_id).expect("shard id fits u32");
        let shards = u32::try_from(self.shards).expect("shard count fits u32");
        let mut h = [0; SNAPSHOT_HEADER_BYTES];
        h[0..8].copy_from_slice(&SNAPSHOT_MAGIC);
        h[8..12].copy_from_slice(&SNAPSHOT_FORMAT_VERSION.to_le_bytes());
        h[12..16].copy_from_slice(&shard_id.to_le_bytes());
        h[16..20].copy_from_slice(&shards.to_le_bytes());
        h[20..28].copy_from_slice(&self.lsn.to_le_bytes());
        h[28..36].copy_from_slice(&self.created_unix_ms.to_le_bytes());
        let crc = CRC32C.checksum(&h[..HEADER_CRC_AT]);
        h[HEADER_CRC_AT..].copy_from_slice(&crc.to_le_bytes());
        h
    }
}

/// Why bytes are not a whole, intact snapshot. Offsets are from the file's start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotError {
    /// The file ends inside the header or the chunk at `offset`, or at `offset`
    /// where another chunk (at least the trailer) belongs.
    Truncated {
        offset: usize,
    },
    BadMagic,
    UnsupportedVersion(u32),
    HeaderChecksum,
    /// No shards, or a shard id not below the shard count.
    BadShard {
        shard_id: u32,
        shards: u32,
    },
    /// A chunk length of 0 or above [`SNAPSHOT_CHUNK_PAYLOAD_BYTES_MAX`].
    ChunkLength {
        offset: usize,
        len: u32,
    },
    ChunkChecksum {
        offset: usize,
    },
    UnknownChunkKind {
        offset: usize,
        kind: u8,
    },
    /// An entry chunk with no entry in it.
    EmptyChunk {
        offset: usize,
    },
    /// The entry at `offset` overruns its chunk or does not decode.
    BadEntry {
        offset: usize,
        error: DecodeError,
    },
    /// The entry at `offset` decodes to an effect other than a `Set`.
    NotASet {
        offset: usize,
    },
    /// The entry at `offset` names a database the loading shard does not have.
    DbOutOfRange {
        offset: usize,
        db: usize,
    },
    /// The trailer at `offset` has the wrong size or disagrees with the chunks
    /// before it.
    BadTrailer {
        offset: usize,
    },
    /// Bytes follow the trailer, from `offset` on.
    TrailingBytes {
        offset: usize,
    },
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use SnapshotError::*;
        match self {
            Truncated { offset } => write!(f, "snapshot cut short at byte {offset}"),
            BadMagic => write!(f, "not a snapshot file (bad magic)"),
            UnsupportedVersion(v) => write!(f, "unsupported snapshot format version {v}"),
            HeaderChecksum => write!(f, "snapshot header checksum mismatch"),
            BadShard { shard_id, shards } => {
                write!(f, "snapshot header names shard {shard_id} of {shards}")
            }
            ChunkLength { offset, len } => {
                write!(f, "snapshot chunk at byte {offset} has bad length {len}")
            }
            ChunkChecksum { offset } => {
                write!(f, "snapshot chunk at byte {offset}: checksum mismatch")
            }
            UnknownChunkKind { offset, kind } => {
                write!(f, "snapshot chunk at byte {offset} has unknown kind {kind}")
            }
            EmptyChunk { offset } => write!(f, "snapshot chunk at byte {offset} is empty"),
            BadEntry { offset, error } => {
                write!(f, "snapshot entry at byte {offset} is malformed: {error:?}")
            }
            NotASet { offset } => write!(f, "snapshot entry at byte {offset} is not a SET"),
            DbOutOfRange { offset, db } => {
                write!(f, "snapshot entry at byte {offset} names database {db}")
            }
            BadTrailer { offset } => write!(f, "snapshot trailer at byte {offset} is wrong"),
            TrailingBytes { offset } => {
                write!(
                    f,
                    "snapshot has bytes after its trailer, from byte {offset}"
                )
            }
        }
    }
}

impl std::error::Error for SnapshotError {}

fn chunk_checksum(header_crc: u32, index: u64, payload: &[u8]) -> u32 {
    let mut digest = CRC32C.digest();
    digest.update(&header_crc.to_le_bytes());
    digest.update(&index.to_le_bytes());
    digest.update(payload);
    digest.finalize()
}

/// Fills in the header of the chunk at `at`, whose payload runs to the end of `out`.
fn seal_chunk(out: &mut [u8], at: usize, header_crc: u32, index: u64) {
    let payload_at = at + SNAPSHOT_CHUNK_HEADER_BYTES;
    let payload = &out[payload_at..];
    assert!(!payload.is_empty());
    assert!(payload.len() <= SNAPSHOT_CHUNK_PAYLOAD_BYTES_MAX);
    let len = payload.len() as u32;
    let crc = chunk_checksum(header_crc, index, payload);
    out[at..at + 4].copy_from_slice(&len.to_le_bytes());
    out[at + 4..payload_at].copy_from_slice(&crc.to_le_bytes());
}

/// Bytes in the journal's encoding of `Effect::Set` for this entry, known before
/// encoding so a chunk can decide whether it fits. [`Chunk::push`] asserts the two
/// agree.
fn set_bytes(db: usize, key: &[u8], entry: &Entry) -> usize {
    let key_bytes = varint_bytes(key.len() as u64) + key.len();
    1 + varint_bytes(db as u64)
        + key_bytes
        + varint_bytes(entry.expire_at_ms)
        + value_bytes(&entry.value)
}

/// An entry chunk being built at the end of `out`.
struct Chunk<'a> {
    out: &'a mut Vec<u8>,
    at: usize,
    entries: u64,
    /// Payload bytes the chunk stops at, unless it holds one entry only.
    budget_bytes: usize,
}

impl<'a> Chunk<'a> {
    fn open(out: &'a mut Vec<u8>, budget_bytes: usize) -> Self {
        let at = out.len();
        out.extend_from_slice(&[0; SNAPSHOT_CHUNK_HEADER_BYTES]);
        out.push(CHUNK_ENTRIES);
        Chunk {
            out,
            at,
            entries: 0,
            budget_bytes,
        }
    }

    fn payload_bytes(&self) -> usize {
        self.out.len() - self.at - SNAPSHOT_CHUNK_HEADER_BYTES
    }

    /// Appends the entry, unless the chunk already holds some and this one would
    /// take it over its budget: then returns `false` and the chunk is full.
    fn push(&mut self, db: usize, key: &[u8], entry: &Entry) -> bool {
        let bytes = set_bytes(db, key, entry);
        assert!(bytes <= SNAPSHOT_ENTRY_BYTES_MAX);
        let grown = self.payload_bytes() + ENTRY_PREFIX_BYTES + bytes;
        if self.entries > 0 && grown > self.budget_bytes {
            return false;
        }
        self.out.extend_from_slice(&(bytes as u32).to_le_bytes());
        let start = self.out.len();
        let effect = Effect::Set {
            db,
            key,
            value: Cow::Borrowed(&entry.value),
            expire_at_ms: entry.expire_at_ms,
        };
        effect.encode(self.out);
        assert_eq!(self.out.len() - start, bytes);
        self.entries += 1;
        true
    }

    /// Seals the chunk as number `index` and returns its entry count; a chunk with
    /// no entry is taken back out of `out`.
    fn close(self, header_crc: u32, index: u64) -> u64 {
        if self.entries == 0 {
            self.out.truncate(self.at);
        } else {
            seal_chunk(self.out, self.at, header_crc, index);
        }
        self.entries
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Walking entry positions, database by database.
    Walking,
    /// Writing the saved entries.
    Draining,
    /// The trailer is written.
    Done,
}

/// Writes one shard's snapshot while the shard keeps changing (see the module doc).
pub struct SnapshotWriter {
    header: SnapshotHeader,
    header_crc: u32,
    phase: Phase,
    /// Per database: positions at and above this have been walked.
    cursors: Vec<usize>,
    /// The database being walked; every one before it is done.
    walking_db: usize,
    /// Per database: keys written to since the start, with their state at the
    /// start if the walk has not written it (`None`: absent then, or written).
    saved: Vec<HashMap<Bytes, Option<Entry>>>,
    /// Once the walk is done: the saved entries not written yet.
    pending: Vec<(usize, Bytes, Entry)>,
    /// Entry chunks written.
    chunks: u64,
    /// Entries written, a key walked twice counted twice.
    entries: u64,
}

impl SnapshotWriter {
    /// Starts a snapshot of `dbs` as they are now, at journal LSN `lsn`.
    pub fn new(shard_id: usize, shards: usize, lsn: u64, created_unix_ms: u64, dbs: &[Db]) -> Self {
        assert!(shards > 0);
        assert!(shard_id < shards);
        assert!(u32::try_from(shards).is_ok());
        assert!(dbs.len() <= DATABASES);
        let header = SnapshotHeader {
            shard_id,
            shards,
            lsn,
            created_unix_ms,
        };
        let encoded = header.encode();
        let header_crc = u32::from_le_bytes(encoded[HEADER_CRC_AT..].try_into().expect("4 bytes"));
        SnapshotWriter {
            header,
            header_crc,
            phase: Phase::Walking,
            cursors: dbs.iter().map(Db::len).collect(),
            walking_db: 0,
            saved: dbs.iter().map(|_| HashMap::new()).collect(),
            pending: Vec::new(),
            chunks: 0,
            entries: 0,
        }
    }

    /// The file header bytes.
    pub fn header(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.header.encode());
    }

    /// Call before any write changes `key` in database `db` (see the module doc);
    /// saves the key's state at the start if the image still needs it.
    pub fn before_write(&mut self, db: usize, table: &Db, key: &[u8]) {
        assert!(db < self.cursors.len());
        if self.phase != Phase::Walking || self.saved[db].contains_key(key) {
            return;
        }
        let (key, state) = match table.position(key) {
            Some(pos) => {
                let (k, e) = table.entry_at(pos).expect("a present key's position");
                let walked = pos >= self.cursors[db];
                (k.clone(), (!walked).then(|| e.clone()))
            }
            None => (Bytes::copy_from_slice(key), None),
        };
        self.saved[db].insert(key, state);
    }

    /// Appends the next chunk (entries worth about `max_bytes`, at most
    /// [`SNAPSHOT_CHUNK_BYTES_MAX`] unless one entry is larger) to `out`; returns
    /// `true` while there is more to write. A call may append nothing, when every
    /// position it visited was skipped. After the walk come the saved entries, then
    /// the trailer, and the call that appends the trailer returns `false`.
    pub fn next_chunk(
        &mut self,
        dbs: &[Db],
        now_ms: u64,
        max_bytes: usize,
        out: &mut Vec<u8>,
    ) -> bool {
        assert_eq!(dbs.len(), self.cursors.len());
        match self.phase {
            Phase::Done => false,
            Phase::Draining if self.pending.is_empty() => {
                self.write_trailer(out);
                self.phase = Phase::Done;
                false
            }
            Phase::Walking | Phase::Draining => {
                let mut chunk = Chunk::open(out, max_bytes.clamp(1, SNAPSHOT_CHUNK_BYTES_MAX));
                if self.phase == Phase::Walking {
                    self.walk(dbs, now_ms, &mut chunk);
                } else {
                    self.drain(now_ms, &mut chunk);
                }
                let entries = chunk.close(self.header_crc, self.chunks);
                if entries > 0 {
                    self.chunks += 1;
                    self.entries += entries;
                }
                true
            }
        }
    }

    /// Walks positions into `chunk` until it is full, the visit bound is reached or
    /// the walk is done.
    fn walk(&mut self, dbs: &[Db], now_ms: u64, chunk: &mut Chunk) {
        for _ in 0..SNAPSHOT_VISITS_PER_CHUNK_MAX {
            let Some(db) = self.db_to_walk(dbs) else {
                self.finish_walk();
                return;
            };
            let pos = self.cursors[db] - 1;
            let (key, entry) = dbs[db].entry_at(pos).expect("a position below the length");
            let skip = entry.expired(now_ms) || self.saved[db].contains_key(key);
            if !skip && !chunk.push(db, key, entry) {
                return;
            }
            self.cursors[db] = pos;
        }
    }

    /// The database with positions left to walk, if any. A cursor above its
    /// database's length comes down to it: the positions in between are gone, and
    /// whatever is appended there later was created after the start.
    fn db_to_walk(&mut self, dbs: &[Db]) -> Option<usize> {
        while self.walking_db < dbs.len() {
            let db = self.walking_db;
            self.cursors[db] = self.cursors[db].min(dbs[db].len());
            if self.cursors[db] > 0 {
                return Some(db);
            }
            self.walking_db += 1;
        }
        None
    }

    fn finish_walk(&mut self) {
        assert!(self.cursors.iter().all(|&c| c == 0));
        for (db, saved) in std::mem::take(&mut self.saved).into_iter().enumerate() {
            for (key, state) in saved {
                if let Some(entry) = state {
                    self.pending.push((db, key, entry));
                }
            }
        }
        self.phase = Phase::Draining;
    }

    /// Writes saved entries into `chunk` until it is full or none is left.
    fn drain(&mut self, now_ms: u64, chunk: &mut Chunk) {
        for _ in 0..SNAPSHOT_VISITS_PER_CHUNK_MAX {
            let Some((db, key, entry)) = self.pending.last() else {
                return;
            };
            if !entry.expired(now_ms) && !chunk.push(*db, key, entry) {
                return;
            }
            self.pending.pop();
        }
    }

    fn write_trailer(&self, out: &mut Vec<u8>) {
        let at = out.len();
        out.extend_from_slice(&[0; SNAPSHOT_CHUNK_HEADER_BYTES]);
        out.push(CHUNK_TRAILER);
        out.extend_from_slice(&self.entries.to_le_bytes());
        out.extend_from_slice(&self.chunks.to_le_bytes());
        assert_eq!(
            out.len() - at,
            SNAPSHOT_CHUNK_HEADER_BYTES + TRAILER_PAYLOAD_BYTES
        );
        seal_chunk(out, at, self.header_crc, self.chunks);
    }

    pub fn lsn(&self) -> u64 {
        self.header.lsn
    }

    /// Keys the writer holds on to: touched keys during the walk, then the saved
    /// entries not written yet.
    pub fn saved_len(&self) -> usize {
        self.saved.iter().map(HashMap::len).sum::<usize>() + self.pending.len()
    }

    /// Entries written so far, a key written twice counted twice.
    pub fn entries_written(&self) -> u64 {
        self.entries
    }
}

/// Reads and checks a snapshot file's header.
pub fn read_header(buf: &[u8]) -> Result<SnapshotHeader, SnapshotError> {
    let Some(h) = buf.first_chunk::<SNAPSHOT_HEADER_BYTES>() else {
        return Err(SnapshotError::Truncated { offset: 0 });
    };
    let u32_at = |at: usize| u32::from_le_bytes(h[at..at + 4].try_into().expect("4 bytes"));
    let u64_at = |at: usize| u64::from_le_bytes(h[at..at + 8].try_into().expect("8 bytes"));
    if h[0..8] != SNAPSHOT_MAGIC {
        return Err(SnapshotError::BadMagic);
    }
    let version = u32_at(8);
    if version != SNAPSHOT_FORMAT_VERSION {
        return Err(SnapshotError::UnsupportedVersion(version));
    }
    if CRC32C.checksum(&h[..HEADER_CRC_AT]) != u32_at(HEADER_CRC_AT) {
        return Err(SnapshotError::HeaderChecksum);
    }
    let (shard_id, shards) = (u32_at(12), u32_at(16));
    if shard_id >= shards {
        return Err(SnapshotError::BadShard { shard_id, shards });
    }
    Ok(SnapshotHeader {
        shard_id: shard_id as usize,
        shards: shards as usize,
        lsn: u64_at(20),
        created_unix_ms: u64_at(28),
    })
}

/// Verifies every chunk's CRC and the trailer (a file cut short anywhere, or with
/// garbage appended, or with any flipped bit is an error, never a panic), and
/// inserts every entry into `dbs` with [`Db::insert_entry`] (replacing). Returns the
/// header and the number of entries loaded. Entries go in as they are read, so on
/// error `dbs` holds part of the image: the caller must discard them.
pub fn load(buf: &[u8], dbs: &mut [Db]) -> Result<(SnapshotHeader, u64), SnapshotError> {
    read(buf, |offset, db, key, entry| {
        let Some(target) = dbs.get_mut(db) else {
            return Err(SnapshotError::DbOutOfRange { offset, db });
        };
        target.insert_entry(key, entry);
        Ok(())
    })
}

/// Checks a whole snapshot file without loading it (for backup verification):
/// header, every chunk CRC, every entry, trailer; returns header and entry count.
/// Agrees with [`load`] into [`DATABASES`] databases.
pub fn verify(buf: &[u8]) -> Result<(SnapshotHeader, u64), SnapshotError> {
    read(buf, |_, _, _, _| Ok(()))
}

/// An entry as read: its offset in the file, database, key and entry.
type Visit<'v> = dyn FnMut(usize, usize, &[u8], Entry) -> Result<(), SnapshotError> + 'v;

/// Reads a whole snapshot, handing each entry to `visit`, and checks it ends with
/// a trailer that agrees with what came before it, and nothing after.
fn read(
    buf: &[u8],
    mut visit: impl FnMut(usize, usize, &[u8], Entry) -> Result<(), SnapshotError>,
) -> Result<(SnapshotHeader, u64), SnapshotError> {
    let header = read_header(buf)?;
    let header_crc = u32::from_le_bytes(
        buf[HEADER_CRC_AT..SNAPSHOT_HEADER_BYTES]
            .try_into()
            .expect("4 bytes"),
    );
    let mut at = SNAPSHOT_HEADER_BYTES;
    let (mut index, mut entries) = (0u64, 0u64);
    loop {
        let payload = chunk_at(buf, at, header_crc, index)?;
        let payload_at = at + SNAPSHOT_CHUNK_HEADER_BYTES;
        let next = payload_at + payload.len();
        match payload[0] {
            CHUNK_ENTRIES => {
                entries += read_entries(payload, at, &mut visit)?;
            }
            CHUNK_TRAILER => {
                check_trailer(payload, at, entries, index)?;
                if next != buf.len() {
                    return Err(SnapshotError::TrailingBytes { offset: next });
                }
                return Ok((header, entries));
            }
            kind => return Err(SnapshotError::UnknownChunkKind { offset: at, kind }),
        }
        index += 1;
        at = next;
    }
}

/// The payload of the chunk at `at`, number `index`, if it is whole and intact. It
/// is at least one byte long (its kind).
fn chunk_at(buf: &[u8], at: usize, header_crc: u32, index: u64) -> Result<&[u8], SnapshotError> {
    let truncated = SnapshotError::Truncated { offset: at };
    let rest = &buf[at..];
    let Some((head, rest)) = rest.split_first_chunk::<SNAPSHOT_CHUNK_HEADER_BYTES>() else {
        return Err(truncated);
    };
    let len = u32::from_le_bytes(head[0..4].try_into().expect("4 bytes"));
    let crc = u32::from_le_bytes(head[4..8].try_into().expect("4 bytes"));
    if len == 0 || len as usize > SNAPSHOT_CHUNK_PAYLOAD_BYTES_MAX {
        return Err(SnapshotError::ChunkLength { offset: at, len });
    }
    let Some(payload) = rest.get(..len as usize) else {
        return Err(truncated);
    };
    if chunk_checksum(header_crc, index, payload) != crc {
        return Err(SnapshotError::ChunkChecksum { offset: at });
    }
    Ok(payload)
}

/// Decodes the entries of the entry chunk at `chunk_at` and returns how many.
fn read_entries(payload: &[u8], chunk_at: usize, visit: &mut Visit) -> Result<u64, SnapshotError> {
    let mut rest = &payload[1..];
    if rest.is_empty() {
        return Err(SnapshotError::EmptyChunk { offset: chunk_at });
    }
    let mut at = chunk_at + SNAPSHOT_CHUNK_HEADER_BYTES + 1;
    let mut entries = 0;
    while !rest.is_empty() {
        let overrun = SnapshotError::BadEntry {
            offset: at,
            error: DecodeError::Truncated,
        };
        let Some((prefix, tail)) = rest.split_first_chunk::<ENTRY_PREFIX_BYTES>() else {
            return Err(overrun);
        };
        let len = u32::from_le_bytes(*prefix) as usize;
        if len > tail.len() {
            return Err(overrun);
        }
        let (bytes, tail) = tail.split_at(len);
        match Effect::decode(bytes) {
            Ok(Effect::Set {
                db,
                key,
                value,
                expire_at_ms,
            }) => {
                let entry = Entry {
                    value: value.into_owned(),
                    expire_at_ms,
                };
                visit(at, db, key, entry)?;
            }
            Ok(_) => return Err(SnapshotError::NotASet { offset: at }),
            Err(error) => return Err(SnapshotError::BadEntry { offset: at, error }),
        }
        entries += 1;
        at += ENTRY_PREFIX_BYTES + len;
        rest = tail;
    }
    Ok(entries)
}

/// Checks the trailer chunk at `at` against the `entries` and entry `chunks` read.
fn check_trailer(
    payload: &[u8],
    at: usize,
    entries: u64,
    chunks: u64,
) -> Result<(), SnapshotError> {
    let bad = SnapshotError::BadTrailer { offset: at };
    let Some(body) = payload[1..].first_chunk::<16>() else {
        return Err(bad);
    };
    let claimed_entries = u64::from_le_bytes(body[0..8].try_into().expect("8 bytes"));
    let claimed_chunks = u64::from_le_bytes(body[8..16].try_into().expect("8 bytes"));
    let agrees = payload.len() == TRAILER_PAYLOAD_BYTES
        && claimed_entries == entries
        && claimed_chunks == chunks;
    if !agrees {
        return Err(bad);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::NO_EXPIRE;
    use crate::value::Value;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};
    use std::collections::BTreeMap;

    const T0_MS: u64 = 1_700_000_000_000;

    type Contents = BTreeMap<(usize, Bytes), Entry>;

    fn fresh_dbs() -> Vec<Db> {
        (0..DATABASES).map(|_| Db::default()).collect()
    }

    fn str_entry(value: &[u8], expire_at_ms: u64) -> Entry {
        Entry {
            value: Value::Str(value.to_vec()),
            expire_at_ms,
        }
    }

    /// A deep copy of every entry, live or not.
    fn contents(dbs: &[Db]) -> Contents {
        let mut all = BTreeMap::new();
        for (i, db) in dbs.iter().enumerate() {
            for pos in 0..db.len() {
                let (k, e) = db.entry_at(pos).expect("in range");
                all.insert((i, Bytes::copy_from_slice(k)), e.clone());
            }
        }
        all
    }

    fn live(contents: &Contents, now_ms: u64) -> Contents {
        contents
            .iter()
            .filter(|(_, e)| !e.expired(now_ms))
            .map(|(k, e)| (k.clone(), e.clone()))
            .collect()
    }

    /// Writes a whole snapshot of `dbs` with no writes during it; returns the file
    /// and the offset each call to `next_chunk` ended at.
    fn snapshot(dbs: &[Db], now_ms: u64, max_bytes: usize) -> (Vec<u8>, Vec<usize>) {
        let mut writer = SnapshotWriter::new(1, 4, 77, T0_MS, dbs);
        let mut file = Vec::new();
        writer.header(&mut file);
        let mut ends = vec![file.len()];
        while writer.next_chunk(dbs, now_ms, max_bytes, &mut file) {
            ends.push(file.len());
        }
        ends.push(file.len());
        ends.dedup();
        (file, ends)
    }

    fn small_dbs(rng: &mut SmallRng, keys: usize) -> Vec<Db> {
        let mut dbs = fresh_dbs();
        for i in 0..keys {
            let value = vec![b'v'; rng.gen_range(0..12)];
            let expire = if i % 3 == 0 {
                T0_MS + 10_000
            } else {
                NO_EXPIRE
            };
            dbs[i % 3].insert(format!("key{i}").as_bytes(), Value::Str(value), expire);
        }
        dbs
    }

    /// One random write of the kinds the shard makes, each announced to the writer
    /// first, or an expiry, which is not.
    fn random_write(rng: &mut SmallRng, dbs: &mut [Db], writer: &mut SnapshotWriter, now_ms: u64) {
        let db = rng.gen_range(0..4);
        // Keys near the top are the ones the walk has just passed, and the ones a
        // removal moves down: where a wrong snapshot would show.
        let len = dbs[db].len();
        let pos = match rng.gen_range(0..10) {
            0..=3 => len.checked_sub(1 + rng.gen_range(0..4)),
            4..=7 => (len > 0).then(|| rng.gen_range(0..len)),
            _ => None,
        };
        let key = match pos {
            Some(pos) => dbs[db].entry_at(pos).expect("in range").0.clone(),
            None => Bytes::from(format!("k{}", rng.gen_range(0..6000))),
        };
        match rng.gen_range(0..10) {
            0 | 1 => {
                writer.before_write(db, &dbs[db], &key);
                let value = vec![b'w'; rng.gen_range(0..40)];
                let expire = if rng.gen_bool(0.2) {
                    now_ms + rng.gen_range(1..300)
                } else {
                    NO_EXPIRE
                };
                dbs[db].insert(&key, Value::Str(value), expire);
            }
            2 | 3 => {
                writer.before_write(db, &dbs[db], &key);
                dbs[db].remove(&key);
            }
            4 => {
                writer.before_write(db, &dbs[db], &key);
                if let Some(Entry {
                    value: Value::Str(s),
                    ..
                }) = dbs[db].lookup(&key, now_ms)
                {
                    s.push(b'!');
                }
            }
            5 => {
                writer.before_write(db, &dbs[db], &key);
                if dbs[db].contains(&key, now_ms) {
                    let at = if rng.gen_bool(0.5) {
                        now_ms + 50
                    } else {
                        NO_EXPIRE
                    };
                    dbs[db].set_expire(&key, at);
                }
            }
            6 => {
                let to = (db + 1) % 4;
                writer.before_write(db, &dbs[db], &key);
                writer.before_write(to, &dbs[to], &key);
                if let Some(entry) = dbs[db].remove(&key) {
                    dbs[to].insert_entry(&key, entry);
                }
            }
            7 => {
                dbs[db].lookup(&key, now_ms);
            }
            8 => {
                dbs[db].active_expire(now_ms, rng, |_| {});
            }
            _ => {
                for i in 0..rng.gen_range(1..20) {
                    let new = format!("burst{}", rng.gen_range(0..2000) + i);
                    writer.before_write(db, &dbs[db], new.as_bytes());
                    dbs[db].insert(new.as_bytes(), Value::Str(b"b".to_vec()), NO_EXPIRE);
                }
            }
        }
    }

    /// Snapshots random databases while random writes and expiries hit them between
    /// chunks; loading the file must give exactly the live keys of the start.
    fn snapshot_under_writes(seed: u64) {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut dbs = fresh_dbs();
        let mut now_ms = T0_MS;
        for _ in 0..rng.gen_range(500..3000) {
            let db = rng.gen_range(0..4);
            let key = format!("k{}", rng.gen_range(0..6000));
            let len = if rng.gen_bool(0.02) {
                2000
            } else {
                rng.gen_range(0..30)
            };
            let expire = if rng.gen_bool(0.2) {
                now_ms + rng.gen_range(1..4000)
            } else {
                NO_EXPIRE
            };
            dbs[db].insert(key.as_bytes(), Value::Str(vec![b's'; len]), expire);
        }
        let start = contents(&dbs);
        let mut writer = SnapshotWriter::new(0, 1, 42, now_ms, &dbs);
        let mut file = Vec::new();
        writer.header(&mut file);
        let max_bytes = rng.gen_range(1..4096);
        let writes_max = rng.gen_range(1..40);
        loop {
            let more = writer.next_chunk(&dbs, now_ms, max_bytes, &mut file);
            for _ in 0..rng.gen_range(0..writes_max) {
                random_write(&mut rng, &mut dbs, &mut writer, now_ms);
            }
            now_ms += rng.gen_range(0..5);
            if !more {
                break;
            }
        }
        let mut loaded = fresh_dbs();
        let (header, entries) = load(&file, &mut loaded).expect("loads");
        assert_eq!(entries, writer.entries_written());
        assert_eq!(verify(&file), Ok((header.clone(), entries)));
        assert_eq!(header.lsn, writer.lsn());
        assert_eq!(
            live(&contents(&loaded), now_ms),
            live(&start, now_ms),
            "seed {seed}"
        );
    }

    #[test]
    fn snapshot_under_writes_is_the_keyspace_at_the_start() {
        for seed in 0..40 {
            snapshot_under_writes(seed);
        }
    }

    #[test]
    fn a_walked_key_changed_then_moved_below_the_cursor_keeps_its_start_state() {
        let mut dbs = fresh_dbs();
        for k in ["a", "b", "c", "d"] {
            dbs[0].insert(k.as_bytes(), Value::Str(k.as_bytes().to_vec()), NO_EXPIRE);
        }
        let start = contents(&dbs);
        let mut writer = SnapshotWriter::new(0, 1, 1, T0_MS, &dbs);
        let mut file = Vec::new();
        writer.header(&mut file);
        // A budget of one byte: one entry per chunk. This one writes `d`.
        assert!(writer.next_chunk(&dbs, T0_MS, 1, &mut file));
        writer.before_write(0, &dbs[0], b"d");
        dbs[0].insert(b"d", Value::Str(b"changed".to_vec()), NO_EXPIRE);
        // Removing `a` moves `d`, the last entry, down to position 0.
        writer.before_write(0, &dbs[0], b"a");
        dbs[0].remove(b"a");
        assert_eq!(dbs[0].position(b"d"), Some(0));
        // A key created now, then moved below the cursor, stays out of the image.
        writer.before_write(0, &dbs[0], b"new");
        dbs[0].insert(b"new", Value::Str(b"n".to_vec()), NO_EXPIRE);
        writer.before_write(0, &dbs[0], b"b");
        dbs[0].remove(b"b");
        assert_eq!(dbs[0].position(b"new"), Some(1));
        assert_eq!(writer.saved_len(), 4);
        while writer.next_chunk(&dbs, T0_MS, 1, &mut file) {}
        let mut loaded = fresh_dbs();
        let (_, entries) = load(&file, &mut loaded).expect("loads");
        assert_eq!(entries, 4);
        assert_eq!(contents(&loaded), start);
    }

    #[test]
    fn empty_dbs_round_trip() {
        let (file, _) = snapshot(&fresh_dbs(), T0_MS, SNAPSHOT_CHUNK_BYTES_MAX);
        let trailer = SNAPSHOT_CHUNK_HEADER_BYTES + TRAILER_PAYLOAD_BYTES;
        assert_eq!(file.len(), SNAPSHOT_HEADER_BYTES + trailer);
        let mut loaded = fresh_dbs();
        let (header, entries) = load(&file, &mut loaded).expect("loads");
        assert_eq!(entries, 0);
        assert_eq!(header.lsn, 77);
        assert!(loaded.iter().all(Db::is_empty));
        assert_eq!(verify(&file), Ok((header, 0)));
    }

    #[test]
    fn header_round_trips_and_bad_headers_are_named() {
        let header = SnapshotHeader {
            shard_id: 3,
            shards: 8,
            lsn: u64::MAX - 1,
            created_unix_ms: T0_MS,
        };
        let bytes = header.encode();
        assert_eq!(&bytes[..8], b"CKVSNAP1");
        assert_eq!(read_header(&bytes), Ok(header.clone()));
        let mut magic = bytes;
        magic[0] = b'X';
        assert_eq!(read_header(&magic), Err(SnapshotError::BadMagic));
        let mut version = bytes;
        version[8] = 2;
        assert_eq!(
            read_header(&version),
            Err(SnapshotError::UnsupportedVersion(2))
        );
        let mut lsn = bytes;
        lsn[20] ^= 1;
        assert_eq!(read_header(&lsn), Err(SnapshotError::HeaderChecksum));
        let mut shard = bytes;
        shard[12] = 8;
        let crc = CRC32C.checksum(&shard[..HEADER_CRC_AT]);
        shard[HEADER_CRC_AT..].copy_from_slice(&crc.to_le_bytes());
        let bad_shard = SnapshotError::BadShard {
            shard_id: 8,
            shards: 8,
        };
        assert_eq!(read_header(&shard), Err(bad_shard));
        assert_eq!(
            read_header(&bytes[..SNAPSHOT_HEADER_BYTES - 1]),
            Err(SnapshotError::Truncated { offset: 0 })
        );
    }

    #[test]
    fn every_truncation_is_an_error() {
        let mut rng = SmallRng::seed_from_u64(3);
        let dbs = small_dbs(&mut rng, 60);
        let (file, ends) = snapshot(&dbs, T0_MS, 100);
        assert!(ends.len() > 8, "{} chunks", ends.len());
        for &end in &ends[..ends.len() - 1] {
            let cut = &file[..end];
            assert_eq!(verify(cut), Err(SnapshotError::Truncated { offset: end }));
        }
        for cut in 0..file.len() {
            assert!(verify(&file[..cut]).is_err(), "cut at {cut}");
            assert!(
                load(&file[..cut], &mut fresh_dbs()).is_err(),
                "cut at {cut}"
            );
        }
        assert_eq!(verify(&file).map(|(_, n)| n), Ok(60));
    }

    #[test]
    fn random_truncations_of_a_large_snapshot_are_errors() {
        let mut rng = SmallRng::seed_from_u64(4);
        let dbs = small_dbs(&mut rng, 3000);
        let (file, _) = snapshot(&dbs, T0_MS, 4096);
        for _ in 0..100 {
            let cut = rng.gen_range(0..file.len());
            assert!(verify(&file[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn every_flipped_bit_and_any_appended_byte_is_an_error() {
        let mut rng = SmallRng::seed_from_u64(5);
        let dbs = small_dbs(&mut rng, 60);
        let (file, _) = snapshot(&dbs, T0_MS, 100);
        for at in 0..file.len() {
            let mut bad = file.clone();
            bad[at] ^= 1 << rng.gen_range(0..8);
            assert!(verify(&bad).is_err(), "flip at {at}");
            assert!(load(&bad, &mut fresh_dbs()).is_err(), "flip at {at}");
        }
        let mut longer = file.clone();
        longer.push(0);
        assert_eq!(
            verify(&longer),
            Err(SnapshotError::TrailingBytes { offset: file.len() })
        );
        let twice = [&file[..], &file[SNAPSHOT_HEADER_BYTES..]].concat();
        assert!(verify(&twice).is_err());
    }

    #[test]
    fn verify_agrees_with_load() {
        let mut rng = SmallRng::seed_from_u64(6);
        let dbs = small_dbs(&mut rng, 500);
        let (file, _) = snapshot(&dbs, T0_MS, 1000);
        let mut loaded = fresh_dbs();
        let loaded_result = load(&file, &mut loaded);
        assert_eq!(verify(&file), loaded_result);
        assert_eq!(contents(&loaded), contents(&dbs));
        for _ in 0..200 {
            let mut bad = file.clone();
            let at = rng.gen_range(0..bad.len());
            bad[at] = rng.gen();
            assert_eq!(verify(&bad), load(&bad, &mut fresh_dbs()));
        }
    }

    #[test]
    fn expired_entries_are_left_out() {
        let mut dbs = fresh_dbs();
        dbs[0].insert(b"dead", Value::Str(b"x".to_vec()), T0_MS);
        dbs[0].insert(b"live", Value::Str(b"y".to_vec()), T0_MS + 1);
        let (file, _) = snapshot(&dbs, T0_MS, SNAPSHOT_CHUNK_BYTES_MAX);
        let mut loaded = fresh_dbs();
        assert_eq!(load(&file, &mut loaded).map(|(_, n)| n), Ok(1));
        assert_eq!(loaded[0].position(b"dead"), None);
        assert_eq!(
            loaded[0].entry_at(0).map(|(_, e)| e.clone()),
            Some(str_entry(b"y", T0_MS + 1))
        );
    }

    /// Each chunk's offset and payload length, trailer included.
    fn chunk_spans(file: &[u8]) -> Vec<(usize, usize)> {
        let mut spans = Vec::new();
        let mut at = SNAPSHOT_HEADER_BYTES;
        while at < file.len() {
            let len = u32::from_le_bytes(file[at..at + 4].try_into().expect("4 bytes"));
            spans.push((at, len as usize));
            at += SNAPSHOT_CHUNK_HEADER_BYTES + len as usize;
        }
        spans
    }

    #[test]
    fn chunks_keep_to_their_budget_and_a_large_entry_gets_its_own() {
        let mut dbs = fresh_dbs();
        for i in 0..200 {
            dbs[1].insert(
                format!("small{i}").as_bytes(),
                Value::Str(vec![7; 50]),
                NO_EXPIRE,
            );
        }
        let big = vec![9; SNAPSHOT_CHUNK_BYTES_MAX + 10];
        dbs[1].insert(b"big", Value::Str(big.clone()), NO_EXPIRE);
        dbs[1].insert(b"after", Value::Str(vec![1]), NO_EXPIRE);
        let budget = 1000;
        let (file, _) = snapshot(&dbs, T0_MS, budget);
        let spans = chunk_spans(&file);
        let big_chunks: Vec<_> = spans.iter().filter(|(_, len)| *len > budget).collect();
        assert_eq!(big_chunks.len(), 1);
        let (at, len) = *big_chunks[0];
        let entry = set_bytes(1, b"big", &str_entry(&big, NO_EXPIRE));
        assert_eq!(len, 1 + ENTRY_PREFIX_BYTES + entry);
        assert!(at > SNAPSHOT_HEADER_BYTES);
        let mut loaded = fresh_dbs();
        assert_eq!(load(&file, &mut loaded).map(|(_, n)| n), Ok(202));
        assert_eq!(contents(&loaded), contents(&dbs));
    }

    #[test]
    fn encoded_lengths_match_the_journal_encoding() {
        for (key, value_len, expire) in [
            (0, 0, 0),
            (1, 127, 127),
            (200, 128, 1 << 40),
            (0, 20_000, u64::MAX),
        ] {
            let key = vec![b'k'; key];
            let entry = str_entry(&vec![b'v'; value_len], expire);
            let mut out = Vec::new();
            let effect = Effect::Set {
                db: 15,
                key: &key,
                value: Cow::Borrowed(&entry.value),
                expire_at_ms: expire,
            };
            effect.encode(&mut out);
            assert_eq!(set_bytes(15, &key, &entry), out.len());
        }
    }

    #[test]
    fn a_non_set_entry_and_an_unknown_database_are_refused() {
        let dbs = fresh_dbs();
        let writer = SnapshotWriter::new(0, 1, 5, T0_MS, &dbs);
        let mut file = Vec::new();
        writer.header(&mut file);
        let header_crc = u32::from_le_bytes(file[HEADER_CRC_AT..].try_into().expect("4 bytes"));
        let chunk_with = |effect: &Effect, file: &mut Vec<u8>| {
            let at = file.len();
            file.extend_from_slice(&[0; SNAPSHOT_CHUNK_HEADER_BYTES]);
            file.push(CHUNK_ENTRIES);
            let mut encoded = Vec::new();
            effect.encode(&mut encoded);
            file.extend_from_slice(&(encoded.len() as u32).to_le_bytes());
            file.extend_from_slice(&encoded);
            seal_chunk(file, at, header_crc, 0);
        };
        let entry_at = SNAPSHOT_HEADER_BYTES + SNAPSHOT_CHUNK_HEADER_BYTES + 1;
        let mut del = file.clone();
        chunk_with(&Effect::Del { db: 0, key: b"k" }, &mut del);
        assert_eq!(
            verify(&del),
            Err(SnapshotError::NotASet { offset: entry_at })
        );
        let set = Effect::Set {
            db: 9,
            key: b"k",
            value: Cow::Owned(Value::Str(b"v".to_vec())),
            expire_at_ms: NO_EXPIRE,
        };
        let mut in_db_9 = file.clone();
        chunk_with(&set, &mut in_db_9);
        let mut eight_dbs: Vec<Db> = (0..8).map(|_| Db::default()).collect();
        assert_eq!(
            load(&in_db_9, &mut eight_dbs),
            Err(SnapshotError::DbOutOfRange {
                offset: entry_at,
                db: 9
            })
        );
    }

    #[test]
    fn errors_name_their_offset() {
        let error = SnapshotError::ChunkChecksum { offset: 1234 };
        assert_eq!(
            error.to_string(),
            "snapshot chunk at byte 1234: checksum mismatch"
        );
    }
}
