//! Point-in-time snapshots of one shard: written in bounded chunks while the shard
//! keeps serving writes (no fork, no copy of the keyspace, no copy of a value),
//! read back by recovery and a replica's full sync ([`load`], in `read`) and
//! checked for backups ([`verify`]). No files here; the server owns the I/O and
//! decides when a chunk is written.
//!
//! ```text
//!  start:      SnapshotWriter::new(dbs, lsn) ──► header ──► file
//!  each tick:  next_chunk(dbs) ──► one chunk ──► file     (bounded bytes and visits)
//!  each write: the door: before_write(db, table, key, Replace | InPlace)
//!              ├ InPlace: the guard, before each change: before_range (string
//!              │          bytes), before_element (hash field, set member,
//!              │          sorted-set member),
//!              │          before_any_change (anything else: a copy)
//!              └ Replace: the door hands the old entry over: take (by move)
//!  the end:    next_chunk ──► saved images ──► trailer ──► file
//!  recover:    file ──► load ──► Db::insert_entry (+ pieces) ──► journal replay from lsn + 1
//! ```
//!
//! # The bound
//!
//! A write pays the snapshot O(what it changes), never O(the value): a hash probe,
//! plus the old bytes of a string range it overwrites (`SETRANGE`, `SETBIT`;
//! `APPEND` pays nothing), or the old value of the one hash field, set member or
//! sorted-set member it sets or removes (`HSET`, `HDEL`, `SADD`, `SREM`, `HINCRBY`,
//! `ZADD`, `ZREM`, `ZINCRBY`, `ZPOPMIN`, ...), or, for a list, the nodes it
//! changes (at most 8 KiB each by default, or one large element) plus one pointer
//! per node the first time (`LPUSH`, `RPOP`, `LSET`, `LINSERT`, `LREM`, `LTRIM`:
//! the image keeps a clone sharing the list's nodes, see `image`), or nothing when it
//! replaces or removes the key (`SET`, `DEL`, expiry, a `*STORE` over it, `HDEL`
//! of the last field: the door hands the old entry over by move). What still
//! copies: a string of at most [`SNAPSHOT_CLONE_BYTES_MAX`] bytes or a hash, set or
//! sorted set in a compact encoding (`listpack`, `intset`; small by their limits) changed in
//! place; a change no undo log covers (`INCR`-like rewrites of a string, `SPOP`,
//! which may rebuild the set); the source of a `RENAME` or `MOVE`, whose value lives
//! on under the new name. Each copy happens at most once per key per snapshot.
//!
//! A call to [`SnapshotWriter::next_chunk`] does at most
//! [`SNAPSHOT_VISITS_PER_CHUNK_MAX`] position visits and writes at most
//! `max(max_bytes, 4 KiB)` payload bytes (`max_bytes` ≤ [`SNAPSHOT_CHUNK_BYTES_MAX`])
//! plus one element: a string is cut into pieces, a `hashtable` hash or set, a
//! `skiplist` sorted set or a list of more than one node into batches of elements,
//! so a 100 MB value takes 100 calls of 1 MiB, not one call. A value written whole
//! (small or compact) still takes one chunk of its own.
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
//! ([`crate::keyspace::Keyspace`]) calls [`SnapshotWriter::before_write`]. The
//! first time a key is named there, the writer records it in `saved`:
//! - present below its database's cursor (not walked yet): its state at the start,
//!   since nothing has changed it before. For a replace or removal the door hands
//!   the old entry over right after the change ([`SnapshotWriter::take`]); for an
//!   in-place change the writer keeps an image of the value the key holds (below);
//! - present at or above the cursor (walked, so already in the image): done;
//! - absent (created after the start, or already gone): done.
//!
//! The walk skips every key in `saved`, and at the end the writer appends each saved
//! image. Why this is exactly the image at the start:
//! - A key no write touched still has its state at the start. While it sits at or
//!   above the cursor it has been written: it was below the cursor at the start,
//!   the cursor only passes a position by visiting it, and the key only moves down.
//!   So when the walk ends (every cursor at 0) it has been written at least once. It
//!   may be written twice (walked, then moved down below the cursor and walked
//!   again), with the same state both times; loading replaces, so that is harmless.
//! - A touched key that was present at the start is written once with its state at
//!   the start: by the walk before its first write (then "done" keeps the walk from
//!   writing its new state if it later moves below the cursor), or from `saved`.
//! - A key created after the start was absent at its first write, so it is done in
//!   `saved` and never written, wherever it moves.
//!
//! `before_write` for a key that the write then leaves alone (a failed `SET NX`) is
//! harmless. Keys removed by expiry do not call it: an expired key is dead in the
//! image either way (unless a deadline change since the start made it die sooner:
//! then it has an image, and expiry hands its entry over like a removal). Entries
//! expired when the walk or the end reaches them are left out. `FLUSHDB`,
//! `FLUSHALL` and `SWAPDB` change whole databases at once; the shard aborts a
//! snapshot in progress by dropping its writer, and starts a new one if it wants one.
//!
//! # Copy-on-write without copies
//!
//! An image (`image`) is a key's start state as the key's current value (or the
//! entry handed over) plus an undo log of what changed since: the old bytes of
//! overwritten string ranges, the start state of hash fields, set members and
//! sorted-set members changed before the image's walk over the collection's own
//! positions reached them (the same top-down walk and argument as for keys, one
//! level down; a sorted set's positions are its tree's node slots, which never
//! move). A key
//! with an image reads its current value until the value goes (replaced, removed,
//! expired, renamed): the door hands it over at that moment, so the image never
//! loses it. The walk gives a large untouched value an image too when it reaches
//! it, and writes it in pieces across calls; changes meanwhile go to the undo log.
//!
//! Memory: one key reference per touched key, the undo log of each image (the
//! bytes writes changed, bounded by the writes), the entries handed over, and the
//! copies listed under "The bound".
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
//!  crc = CRC32C(bytes 0..36); magic = "CKVSNAP1"; version 2 (1 is still read)
//!
//!  chunk, repeated: entry and continuation chunks, then exactly one trailer
//!  chunk, then the end
//!  0        4        8       9
//!  ┌────────┬────────┬───────┬──────────────────────────────────────┐
//!  │ len    │ crc    │ kind  │ body                                 │
//!  │ u32 LE │ u32 LE │ u8    │ len - 1 bytes                        │
//!  └────────┴────────┴───────┴──────────────────────────────────────┘
//!  crc = CRC32C(header crc u32 LE ‖ chunk index u64 LE ‖ kind ‖ body)
//!
//!  kind 1, entries:       one or more of  [n u32 LE][Effect::Set, n bytes]
//!  kind 2, trailer:       [entries u64 LE][chunks u64 LE]
//!  kind 3, continuation:  one or more of  [n u32 LE][Effect::Append | HSet | SAdd
//!                         | ZAdd | RPush] (version 2 on), each for the last entry's key
//! ```
//!
//! An entry is the journal's encoding of an `Effect::Set` (see [`crate::journal`]):
//! a key's whole state, or, for a value written in pieces, its first piece (a
//! string's first bytes, a `hashtable` hash or set holding the first elements). The
//! continuation chunks after it hold the rest as the journal's own deltas, which
//! loading applies to the entry just loaded. The chunk checksum covers the header's
//! checksum and the chunk's index, so chunks reordered, dropped, duplicated or taken
//! from another snapshot fail it. The trailer counts the entries and the chunks
//! before it, so a file cut exactly between chunks is incomplete, and nothing may
//! follow it. A chunk of several entries keeps its payload within
//! [`SNAPSHOT_CHUNK_BYTES_MAX`]; an entry written whole that is larger gets a chunk
//! of its own, up to [`SNAPSHOT_CHUNK_PAYLOAD_BYTES_MAX`].

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use hashbrown::HashMap;

use crate::journal::{DecodeError, Effect};
use crate::keyspace::db::{Db, Entry, EntryRef, NO_EXPIRE};
use crate::limits::{DATABASES, JOURNAL_RECORD_PAYLOAD_BYTES_MAX};
use crate::value::Value;
#[cfg(test)]
use chunk::set_bytes;
use chunk::{chunk_checksum, seal_chunk, Chunk};
#[cfg(test)]
use image::PIECE_BYTES_MIN;
use image::{in_pieces, Image, Saved};
pub use read::{load, read_header, verify};

mod chunk;
mod image;
mod read;

/// The first bytes of every snapshot file.
pub const SNAPSHOT_MAGIC: [u8; 8] = *b"CKVSNAP1";
/// The layout this module writes; it reads this one and every one back to
/// [`SNAPSHOT_FORMAT_VERSION_MIN`].
pub const SNAPSHOT_FORMAT_VERSION: u32 = 2;
/// The oldest layout this module reads: version 1 has no continuation chunks.
pub const SNAPSHOT_FORMAT_VERSION_MIN: u32 = 1;
/// The first layout with continuation chunks (large entries in pieces).
const SNAPSHOT_FORMAT_VERSION_PIECES: u32 = 2;
/// Strings up to this many bytes are cloned when changed in place before the walk
/// reaches them, and written whole; longer ones get an undo log and are written in
/// pieces (see "Copy-on-write without copies"). Small in tests, so that they cover
/// the undo logs with small values.
pub const SNAPSHOT_CLONE_BYTES_MAX: usize = if cfg!(test) { 16 } else { 64 * 1024 };
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
/// Pieces continuing the last entry (format version 2 on).
const CHUNK_MORE: u8 = 3;
/// A trailer's payload: kind, entry count (u64), entry chunk count (u64).
const TRAILER_PAYLOAD_BYTES: usize = 1 + 8 + 8;

/// Where the header's checksum sits; it covers every byte before it.
const HEADER_CRC_AT: usize = SNAPSHOT_HEADER_BYTES - 4;

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
        let crc = crc32c::crc32c(&h[..HEADER_CRC_AT]);
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
    /// The piece at `offset` in a continuation chunk is not a delta of the last
    /// entry's key and type.
    BadContinuation {
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
            BadContinuation { offset } => {
                write!(
                    f,
                    "snapshot piece at byte {offset} does not continue its entry"
                )
            }
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Walking entry positions, database by database.
    Walking,
    /// Writing the saved entries.
    Draining,
    /// The trailer is written.
    Done,
}

/// What the door is about to do to a key, as it tells
/// [`SnapshotWriter::before_write`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteKind {
    /// Replace or remove the entry: the door hands the old one over
    /// ([`SnapshotWriter::take`]) if the snapshot [`wants`](SnapshotWriter::wants) it.
    Replace,
    /// Change the entry in place (its value through a [`WriteGuard`], or its
    /// deadline).
    ///
    /// [`WriteGuard`]: crate::keyspace::WriteGuard
    InPlace,
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
    /// Per database: keys changed since the start, or being written in pieces, with
    /// what the image still needs of them.
    saved: Vec<HashMap<Bytes, Saved>>,
    /// Per database: keys holding a value that `RENAME` or `MOVE` took from a key
    /// whose image reads it, with that key (its database and name).
    moved: Vec<HashMap<Bytes, (usize, Bytes)>>,
    /// The key whose image is being written across chunks.
    current: Option<(usize, Bytes)>,
    /// Once the walk is done: the keys whose image is still to write.
    pending: Vec<(usize, Bytes)>,
    /// Chunks written (entries and continuations).
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
            moved: dbs.iter().map(|_| HashMap::new()).collect(),
            current: None,
            pending: Vec::new(),
            chunks: 0,
            entries: 0,
        }
    }

    /// The file header bytes.
    pub fn header(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.header.encode());
    }

    /// Call before any write changes `key` in database `db` (see the module doc):
    /// decides what the image needs of it. O(1), except an in-place change of a
    /// small value not walked yet, which clones it.
    pub fn before_write(&mut self, db: usize, table: &Db, key: &[u8], kind: WriteKind) {
        assert!(db < self.cursors.len());
        if self.phase != Phase::Walking || self.saved[db].contains_key(key) {
            return;
        }
        let (key, state) = match table.position(key) {
            Some(pos) if pos < self.cursors[db] => {
                let (k, e) = table.entry_at(pos).expect("a present key's position");
                let state = match kind {
                    WriteKind::Replace => Saved::Handover,
                    WriteKind::InPlace => Saved::Image(Image::live(e.value, e.expire_at_ms)),
                };
                (Bytes::copy_from_slice(k), state)
            }
            Some(_) => (Bytes::copy_from_slice(key), Saved::Done),
            None => (Bytes::copy_from_slice(key), Saved::Done),
        };
        self.saved[db].insert(key, state);
    }

    /// The key whose image reads the value `key` holds now: `key` itself, or the
    /// key a `RENAME` or `MOVE` took the value from.
    fn reader(&self, db: usize, key: &[u8]) -> Option<(usize, Bytes)> {
        if let Some(from) = self.moved[db].get(key) {
            return Some(from.clone());
        }
        match self.saved[db].get_key_value(key) {
            Some((k, Saved::Image(image))) if image.reads_own_key() => Some((db, k.clone())),
            _ => None,
        }
    }

    fn image_of(&mut self, (db, key): &(usize, Bytes)) -> &mut Image {
        match self.saved[*db].get_mut(key) {
            Some(Saved::Image(image)) => image,
            _ => unreachable!("a key with an image"),
        }
    }

    /// Whether the image needs the entry the door has just replaced or removed at
    /// `key` (or, for expiry, deleted without a [`Self::before_write`]).
    pub fn wants(&self, db: usize, key: &[u8]) -> bool {
        matches!(self.saved[db].get(key), Some(Saved::Handover)) || self.reader(db, key).is_some()
    }

    /// Takes the entry the door replaced or removed at `key`, which the image
    /// [`wants`](Self::wants): by move, whatever its size.
    pub fn take(&mut self, db: usize, key: &[u8], entry: Entry) {
        if let Some(saved @ Saved::Handover) = self.saved[db].get_mut(key) {
            *saved = Saved::Image(Image::owned(entry.value, entry.expire_at_ms));
            return;
        }
        let reader = self.reader(db, key).expect("a wanted key");
        self.own(db, key, &reader, entry.value);
    }

    /// The image of `reader`, which reads the value at `key`, owns `value` (that
    /// value, handed over or copied) from now on: changes at `key` no longer
    /// concern it.
    fn own(&mut self, db: usize, key: &[u8], reader: &(usize, Bytes), value: Value) {
        self.moved[db].remove(key);
        let image = self.image_of(reader);
        image.owned = Some(value);
        image.live_at = None;
    }

    /// After `RENAME` or `MOVE` took the value at `src` in database `from` to `dst`
    /// in database `to` (`moved` is its entry now): an image that needs it reads it
    /// there from now on, with no copy.
    pub fn moved(&mut self, from: usize, src: &[u8], to: usize, dst: &[u8], moved: EntryRef<'_>) {
        let reader = match self.saved[from].get_key_value(src) {
            Some((k, Saved::Handover)) => {
                let k = k.clone();
                let image = Image::live(moved.value, moved.expire_at_ms);
                self.saved[from].insert(k.clone(), Saved::Image(image));
                (from, k)
            }
            _ => match self.reader(from, src) {
                Some(reader) => reader,
                None => return,
            },
        };
        self.moved[from].remove(src);
        let at_own_key = reader.0 == to && reader.1[..] == *dst;
        let image = self.image_of(&reader);
        if !image.reads_live() {
            return;
        }
        if at_own_key {
            image.live_at = None;
        } else {
            let dst = Bytes::copy_from_slice(dst);
            image.live_at = Some((to, dst.clone()));
            self.moved[to].insert(dst, reader);
        }
    }

    /// The image that reads the value `key` holds now, if any: what an in-place
    /// change must tell first.
    fn live_image(&mut self, db: usize, key: &[u8]) -> Option<&mut Image> {
        let reader = self.reader(db, key)?;
        let image = self.image_of(&reader);
        assert!(image.reads_live());
        Some(image)
    }

    /// Before bytes `start..end` of the string `current` at `key` are overwritten
    /// (appending needs no call): saves the old bytes the image still needs.
    pub fn before_range(
        &mut self,
        db: usize,
        key: &[u8],
        current: &[u8],
        start: usize,
        end: usize,
    ) {
        if let Some(image) = self.live_image(db, key) {
            image.before_range(current, start, end);
        }
    }

    /// Before `element` (a field or member) of the hash or set `current` at `key`
    /// is set or removed: saves its start state if the image still needs it.
    pub fn before_element(&mut self, db: usize, key: &[u8], current: &Value, element: &[u8]) {
        if let Some(image) = self.live_image(db, key) {
            image.before_element(current, element);
        }
    }

    /// Before the value `current` at `key` changes in a way without an undo log
    /// (a rebuild, a string rewritten whole): the image clones it now.
    pub fn before_any_change(&mut self, db: usize, key: &[u8], current: &Value) {
        if let Some(reader) = self.reader(db, key) {
            self.own(db, key, &reader, current.clone());
        }
    }

    /// Appends the next chunk (entries worth about `max_bytes`, at most
    /// [`SNAPSHOT_CHUNK_BYTES_MAX`] unless one entry or element is larger, or the
    /// next piece of a large entry) to `out`; returns `true` while there is more to
    /// write. A call may append nothing, when every position it visited was
    /// skipped. After the walk come the saved entries, then the trailer, and the call
    /// that appends the trailer returns `false`.
    pub fn next_chunk(
        &mut self,
        dbs: &[Db],
        now_ms: u64,
        max_bytes: usize,
        out: &mut Vec<u8>,
    ) -> bool {
        assert_eq!(dbs.len(), self.cursors.len());
        let drained = self.current.is_none() && self.pending.is_empty();
        match self.phase {
            Phase::Done => return false,
            Phase::Draining if drained => {
                self.write_trailer(out);
                self.phase = Phase::Done;
                return false;
            }
            Phase::Walking | Phase::Draining => {}
        }
        let kind = match self.current.clone() {
            Some((db, key)) if self.image(db, &key).head => CHUNK_MORE,
            _ => CHUNK_ENTRIES,
        };
        let mut chunk = Chunk::open(out, kind, max_bytes.clamp(1, SNAPSHOT_CHUNK_BYTES_MAX));
        let mut visits = SNAPSHOT_VISITS_PER_CHUNK_MAX;
        let go_on = match self.current {
            Some(_) => {
                self.emit_current(dbs, now_ms, &mut chunk, &mut visits) && kind == CHUNK_ENTRIES
            }
            None => true,
        };
        if go_on {
            match self.phase {
                Phase::Walking => self.walk(dbs, now_ms, &mut chunk, &mut visits),
                Phase::Draining => self.drain(dbs, now_ms, &mut chunk, &mut visits),
                Phase::Done => unreachable!("returned above"),
            }
        }
        let written = chunk.close(self.header_crc, self.chunks);
        if written > 0 {
            self.chunks += 1;
            if kind == CHUNK_ENTRIES {
                self.entries += written;
            }
        }
        true
    }

    fn image(&mut self, db: usize, key: &[u8]) -> &mut Image {
        match self.saved[db].get_mut(key) {
            Some(Saved::Image(image)) => image,
            _ => unreachable!("the current key has an image"),
        }
    }

    /// Writes more of the current key's image into `chunk`; returns whether it is
    /// all written (or dead: its start deadline passed before its head was written).
    fn emit_current(
        &mut self,
        dbs: &[Db],
        now_ms: u64,
        chunk: &mut Chunk,
        visits: &mut usize,
    ) -> bool {
        let (db, key) = self.current.clone().expect("a current key");
        let Some(Saved::Image(image)) = self.saved[db].get_mut(&key) else {
            unreachable!("the current key has an image");
        };
        let dead = image.expire_at_ms != NO_EXPIRE && image.expire_at_ms <= now_ms;
        let (live_db, live_key) = image.live_at.clone().unwrap_or((db, key.clone()));
        let done = (!image.head && dead) || {
            let live = image.reads_live().then(|| {
                dbs[live_db]
                    .get(&live_key)
                    .expect("an image's value: the door hands it over before it goes")
                    .value
            });
            image.emit(db, &key, live, chunk, visits)
        };
        if done {
            if image.live_at.is_some() {
                self.moved[live_db].remove(&live_key);
            }
            self.saved[db].insert(key, Saved::Done);
            self.current = None;
        }
        done
    }

    /// Walks positions into `chunk` until it is full, the visit bound is reached, a
    /// large entry leaves the rest of itself for later chunks, or the walk is done.
    fn walk(&mut self, dbs: &[Db], now_ms: u64, chunk: &mut Chunk, visits: &mut usize) {
        while *visits > 0 {
            *visits -= 1;
            let Some(db) = self.db_to_walk(dbs) else {
                self.finish_walk();
                return;
            };
            let pos = self.cursors[db] - 1;
            let (key, entry) = dbs[db].entry_at(pos).expect("a position below the length");
            if entry.expired(now_ms) || self.saved[db].contains_key(key) {
                self.cursors[db] = pos;
                continue;
            }
            if in_pieces(entry.value) {
                let image = Image::live(entry.value, entry.expire_at_ms);
                let key = Bytes::copy_from_slice(key);
                self.saved[db].insert(key.clone(), Saved::Image(image));
                self.cursors[db] = pos;
                self.current = Some((db, key));
                if !self.emit_current(dbs, now_ms, chunk, visits) {
                    return;
                }
                continue;
            }
            let effect = Effect::Set {
                db,
                key,
                value: Cow::Borrowed(entry.value),
                expire_at_ms: entry.expire_at_ms,
            };
            if chunk.entries > 0 && !chunk.fits(&effect) {
                return;
            }
            chunk.push_effect(&effect);
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
        assert!(self.current.is_none());
        for (db, saved) in self.saved.iter().enumerate() {
            for (key, state) in saved {
                if let Saved::Image(_) = state {
                    self.pending.push((db, key.clone()));
                }
            }
        }
        self.phase = Phase::Draining;
    }

    /// Writes saved images into `chunk` until it is full or none is left.
    fn drain(&mut self, dbs: &[Db], now_ms: u64, chunk: &mut Chunk, visits: &mut usize) {
        while *visits > 0 {
            *visits -= 1;
            let Some((db, key)) = self.pending.pop() else {
                return;
            };
            self.current = Some((db, key));
            if !self.emit_current(dbs, now_ms, chunk, visits) {
                return;
            }
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

    /// Keys the writer holds on to: changed keys and images during the walk, then
    /// the images not written yet.
    pub fn saved_len(&self) -> usize {
        self.saved.iter().map(HashMap::len).sum::<usize>()
    }

    /// Entries written so far, a key written twice counted twice.
    pub fn entries_written(&self) -> u64 {
        self.entries
    }
}

#[cfg(test)]
mod tests;
