//! One chunk of a snapshot file as it is written: a kind byte and length, the
//! entries (or the trailer) that fit the chunk's budget, and the CRC-32C that seals
//! it with the header's checksum and the chunk's index (see the parent module for
//! the format).

use super::{
    CHUNK_ENTRIES, ENTRY_PREFIX_BYTES, SNAPSHOT_CHUNK_HEADER_BYTES,
    SNAPSHOT_CHUNK_PAYLOAD_BYTES_MAX, SNAPSHOT_ENTRY_BYTES_MAX,
};
use crate::journal::{value_bytes, varint_bytes, Effect};
use crate::value::Value;

pub(super) fn chunk_checksum(header_crc: u32, index: u64, payload: &[u8]) -> u32 {
    let head = crc32c::crc32c_append(
        crc32c::crc32c(&header_crc.to_le_bytes()),
        &index.to_le_bytes(),
    );
    crc32c::crc32c_append(head, payload)
}

/// Fills in the header of the chunk at `at`, whose payload runs to the end of `out`.
pub(super) fn seal_chunk(out: &mut [u8], at: usize, header_crc: u32, index: u64) {
    let payload_at = at + SNAPSHOT_CHUNK_HEADER_BYTES;
    let payload = &out[payload_at..];
    assert!(!payload.is_empty());
    assert!(payload.len() <= SNAPSHOT_CHUNK_PAYLOAD_BYTES_MAX);
    let len = payload.len() as u32;
    let crc = chunk_checksum(header_crc, index, payload);
    out[at..at + 4].copy_from_slice(&len.to_le_bytes());
    out[at + 4..payload_at].copy_from_slice(&crc.to_le_bytes());
}

/// Bytes in the journal's encoding of `Effect::Set` for this value, known before
/// encoding so a chunk can decide whether it fits. [`Chunk::push_effect`] asserts
/// the two agree.
pub(super) fn set_bytes(db: usize, key: &[u8], value: &Value, expire_at_ms: u64) -> usize {
    let key_bytes = varint_bytes(key.len() as u64) + key.len();
    1 + varint_bytes(db as u64) + key_bytes + varint_bytes(expire_at_ms) + value_bytes(value)
}

/// A chunk being built at the end of `out`: entries, or the pieces that continue
/// the last entry.
pub(super) struct Chunk<'a> {
    out: &'a mut Vec<u8>,
    at: usize,
    kind: u8,
    /// Effects in it so far.
    pub(super) entries: u64,
    /// Payload bytes the chunk stops at, unless it holds one entry only.
    budget_bytes: usize,
}

impl<'a> Chunk<'a> {
    pub(super) fn open(out: &'a mut Vec<u8>, kind: u8, budget_bytes: usize) -> Self {
        let at = out.len();
        out.extend_from_slice(&[0; SNAPSHOT_CHUNK_HEADER_BYTES]);
        out.push(kind);
        Chunk {
            out,
            at,
            kind,
            entries: 0,
            budget_bytes,
        }
    }

    pub(super) fn payload_bytes(&self) -> usize {
        self.out.len() - self.at - SNAPSHOT_CHUNK_HEADER_BYTES
    }

    /// Payload bytes left before the budget.
    pub(super) fn room(&self) -> usize {
        self.budget_bytes.saturating_sub(self.payload_bytes())
    }

    /// Whether the `Set` `effect` fits the budget.
    pub(super) fn fits(&self, effect: &Effect) -> bool {
        let Effect::Set {
            db,
            key,
            value,
            expire_at_ms,
        } = effect
        else {
            unreachable!("only entries are measured before encoding");
        };
        ENTRY_PREFIX_BYTES + set_bytes(*db, key, value, *expire_at_ms) <= self.room()
    }

    /// Appends `effect` with its length prefix (an entry chunk takes `Set`s, a
    /// continuation chunk deltas).
    pub(super) fn push_effect(&mut self, effect: &Effect) {
        assert_eq!(
            matches!(effect, Effect::Set { .. }),
            self.kind == CHUNK_ENTRIES
        );
        let prefix_at = self.out.len();
        self.out.extend_from_slice(&[0; ENTRY_PREFIX_BYTES]);
        effect.encode(self.out);
        let bytes = self.out.len() - prefix_at - ENTRY_PREFIX_BYTES;
        assert!(bytes <= SNAPSHOT_ENTRY_BYTES_MAX);
        if let Effect::Set {
            db,
            key,
            value,
            expire_at_ms,
        } = effect
        {
            assert_eq!(bytes, set_bytes(*db, key, value, *expire_at_ms));
        }
        self.out[prefix_at..prefix_at + ENTRY_PREFIX_BYTES]
            .copy_from_slice(&(bytes as u32).to_le_bytes());
        self.entries += 1;
    }

    /// Seals the chunk as number `index` and returns how many effects it holds; a
    /// chunk with none is taken back out of `out`.
    pub(super) fn close(self, header_crc: u32, index: u64) -> u64 {
        if self.entries == 0 {
            self.out.truncate(self.at);
        } else {
            seal_chunk(self.out, self.at, header_crc, index);
        }
        self.entries
    }
}
