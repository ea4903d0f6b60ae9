//! Reading snapshot files back: [`load`] for recovery and a replica's full sync,
//! [`verify`] for backups. Reading never panics and allocates nothing beyond the
//! values it decodes, each only after checking that the input holds its bytes.

use super::{
    chunk_checksum, SnapshotError, SnapshotHeader, CHUNK_ENTRIES, CHUNK_MORE, CHUNK_TRAILER,
    ENTRY_PREFIX_BYTES, HEADER_CRC_AT, SNAPSHOT_CHUNK_HEADER_BYTES,
    SNAPSHOT_CHUNK_PAYLOAD_BYTES_MAX, SNAPSHOT_FORMAT_VERSION, SNAPSHOT_FORMAT_VERSION_MIN,
    SNAPSHOT_FORMAT_VERSION_PIECES, SNAPSHOT_HEADER_BYTES, SNAPSHOT_MAGIC, TRAILER_PAYLOAD_BYTES,
};
use crate::collections::{End, HashLimits, ListLimits, SetLimits, ZsetLimits};
use crate::journal::list::{ListEffect, ListOp};
use crate::journal::{DecodeError, Effect, ZsetDelta};
use crate::keyspace::db::{Db, Entry};
#[cfg(doc)]
use crate::limits::DATABASES;
use crate::value::Value;

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
    if !(SNAPSHOT_FORMAT_VERSION_MIN..=SNAPSHOT_FORMAT_VERSION).contains(&version) {
        return Err(SnapshotError::UnsupportedVersion(version));
    }
    if crc32c::crc32c(&h[..HEADER_CRC_AT]) != u32_at(HEADER_CRC_AT) {
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
/// inserts every entry into `dbs` with [`Db::insert_entry`] (replacing), continuing
/// an entry written in pieces with its continuation chunks. Returns the header and
/// the number of entries loaded. Entries go in as they are read, so on error `dbs`
/// holds part of the image: the caller must discard them.
pub fn load(buf: &[u8], dbs: &mut [Db]) -> Result<(SnapshotHeader, u64), SnapshotError> {
    read(buf, |offset, item| match item {
        Item::Entry { db, key, entry } => {
            let Some(target) = dbs.get_mut(db) else {
                return Err(SnapshotError::DbOutOfRange { offset, db });
            };
            target.insert_entry(key, entry);
            Ok(())
        }
        Item::More { db, key, piece } => {
            let value = dbs[db].get_mut(key).expect("a continued entry was loaded");
            continue_value(value, &piece);
            Ok(())
        }
    })
}

/// Checks a whole snapshot file without loading it (for backup verification):
/// header, every chunk CRC, every entry, trailer; returns header and entry count.
/// Agrees with [`load`] into [`DATABASES`] databases.
pub fn verify(buf: &[u8]) -> Result<(SnapshotHeader, u64), SnapshotError> {
    read(buf, |_, _| Ok(()))
}

/// Limits that keep a continued hash or set in the `hashtable` encoding its head
/// chunk gave it: a large value is written in pieces only in that encoding.
const KEEP_HASH_TABLE: HashLimits = HashLimits {
    max_listpack_entries: 0,
    max_listpack_value_bytes: 0,
};
const KEEP_SET_TABLE: SetLimits = SetLimits {
    max_intset_entries: 0,
};
const KEEP_ZSET_TREE: ZsetLimits = ZsetLimits {
    max_listpack_entries: 0,
    max_listpack_value_bytes: 0,
};

/// Adds a continuation's piece to the value its head chunk loaded. [`read`] checked
/// that the piece suits the value's type.
fn continue_value(value: &mut Value, piece: &Effect) {
    match (value, piece) {
        (Value::Str(s), Effect::Append { bytes, .. }) => s.to_mut().extend_from_slice(bytes),
        (Value::Hash(h), Effect::HSet { pairs, .. }) => {
            for (field, v) in pairs {
                h.set(field, v, &KEEP_HASH_TABLE);
            }
        }
        (Value::Set(set), Effect::SAdd { members, .. }) => {
            for m in members {
                set.add(m, &KEEP_SET_TABLE);
            }
        }
        (Value::Zset(z), Effect::Zset(ZsetDelta::Add { entries, .. })) => {
            for (score, member) in entries {
                z.insert(member, *score, &KEEP_ZSET_TREE);
            }
        }
        (
            Value::List(l),
            Effect::List(ListEffect {
                op: ListOp::Push { elems, .. },
                ..
            }),
        ) => {
            let limits = ListLimits::default();
            elems.iter().for_each(|e| l.push(End::Tail, e, &limits));
        }
        (value, piece) => panic!("{piece:?} does not continue a {}", value.type_name()),
    }
}

/// What [`read`] hands its visitor.
enum Item<'a> {
    /// A whole entry, or the head of one continued in the chunks that follow.
    Entry {
        db: usize,
        key: &'a [u8],
        entry: Entry,
    },
    /// The next piece of the last entry read (an `Append`, `HSet`, `SAdd`, `ZAdd`
    /// or `RPush`).
    More {
        db: usize,
        key: &'a [u8],
        piece: Effect<'a>,
    },
}

/// The visitor of [`read`]: an item and its offset in the file.
type Visit<'v> = dyn FnMut(usize, Item) -> Result<(), SnapshotError> + 'v;

/// The last entry read, which a continuation chunk may add to: its database, key
/// and type.
type Last = Option<(usize, Vec<u8>, &'static str)>;

/// Reads a whole snapshot, handing each entry and piece to `visit`, and checks it
/// ends with a trailer that agrees with what came before it, and nothing after.
fn read(
    buf: &[u8],
    mut visit: impl FnMut(usize, Item) -> Result<(), SnapshotError>,
) -> Result<(SnapshotHeader, u64), SnapshotError> {
    let header = read_header(buf)?;
    let version = u32::from_le_bytes(buf[8..12].try_into().expect("4 bytes"));
    let header_crc = u32::from_le_bytes(
        buf[HEADER_CRC_AT..SNAPSHOT_HEADER_BYTES]
            .try_into()
            .expect("4 bytes"),
    );
    let mut at = SNAPSHOT_HEADER_BYTES;
    let (mut index, mut entries) = (0u64, 0u64);
    let mut last: Last = None;
    loop {
        let payload = chunk_at(buf, at, header_crc, index)?;
        let payload_at = at + SNAPSHOT_CHUNK_HEADER_BYTES;
        let next = payload_at + payload.len();
        match payload[0] {
            CHUNK_ENTRIES => {
                entries += read_entries(payload, at, &mut last, &mut visit)?;
            }
            CHUNK_MORE if version >= SNAPSHOT_FORMAT_VERSION_PIECES => {
                read_more(payload, at, &last, &mut visit)?;
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

/// Splits the length-prefixed effects of the chunk at `chunk_at` (at least one),
/// handing each with its offset to `each`.
fn for_each_effect<'p>(
    payload: &'p [u8],
    chunk_at: usize,
    mut each: impl FnMut(usize, Effect<'p>) -> Result<(), SnapshotError>,
) -> Result<(), SnapshotError> {
    let mut rest = &payload[1..];
    if rest.is_empty() {
        return Err(SnapshotError::EmptyChunk { offset: chunk_at });
    }
    let mut at = chunk_at + SNAPSHOT_CHUNK_HEADER_BYTES + 1;
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
            Ok(effect) => each(at, effect)?,
            Err(error) => return Err(SnapshotError::BadEntry { offset: at, error }),
        }
        at += ENTRY_PREFIX_BYTES + len;
        rest = tail;
    }
    Ok(())
}

/// Decodes the entries of the entry chunk at `chunk_at` and returns how many.
fn read_entries(
    payload: &[u8],
    chunk_at: usize,
    last: &mut Last,
    visit: &mut Visit,
) -> Result<u64, SnapshotError> {
    let mut entries = 0;
    for_each_effect(payload, chunk_at, |at, effect| {
        let Effect::Set {
            db,
            key,
            value,
            expire_at_ms,
        } = effect
        else {
            return Err(SnapshotError::NotASet { offset: at });
        };
        *last = Some((db, key.to_vec(), value.type_name()));
        let entry = Entry::with_expire(value.into_owned(), expire_at_ms);
        entries += 1;
        visit(at, Item::Entry { db, key, entry })
    })?;
    Ok(entries)
}

/// Decodes the pieces of the continuation chunk at `chunk_at`: each must continue
/// `last`, with the delta of its type.
fn read_more(
    payload: &[u8],
    chunk_at: usize,
    last: &Last,
    visit: &mut Visit,
) -> Result<(), SnapshotError> {
    for_each_effect(payload, chunk_at, |at, piece| {
        let (db, key, type_name) = match &piece {
            Effect::Append { db, key, .. } => (*db, *key, "string"),
            Effect::HSet { db, key, .. } => (*db, *key, "hash"),
            Effect::SAdd { db, key, .. } => (*db, *key, "set"),
            Effect::Zset(ZsetDelta::Add { db, key, .. }) => (*db, *key, "zset"),
            Effect::List(ListEffect {
                db,
                key,
                op: ListOp::Push { end: End::Tail, .. },
            }) => (*db, *key, "list"),
            _ => return Err(SnapshotError::BadContinuation { offset: at }),
        };
        let continues = last
            .as_ref()
            .is_some_and(|(d, k, t)| *d == db && k == key && *t == type_name);
        if !continues {
            return Err(SnapshotError::BadContinuation { offset: at });
        }
        visit(at, Item::More { db, key, piece })
    })
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
