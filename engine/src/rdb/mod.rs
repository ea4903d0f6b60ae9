//! Redis's RDB value serialization: the bytes `DUMP` returns and `RESTORE` reads,
//! and the value codec a later RDB file import reuses.
//!
//! A dump payload is one value in RDB form, then the 2-byte RDB version (10: Redis
//! 7.0) and a CRC-64 (Jones, reflected, as Redis's `crc64.c`) of everything before it,
//! both little-endian:
//!
//! ```text
//!  type byte ─ value (lengths, strings, listpack/intset blobs) ─ version u16 ─ crc64 u64
//! ```
//!
//! [`dump`] writes what Redis 7.0 writes for the value's encoding: strings (small
//! integers in the integer forms), lists as quicklist-2 nodes of listpacks, sets as
//! an intset or a plain member list, sorted sets as a listpack or a plain list (the
//! greatest first, scores as binary doubles), hashes as a listpack or a plain list.
//! Strings and blobs from 21 bytes are LZF-compressed when that saves 4 bytes, as
//! Redis's `rdbcompression yes` writes them, and lists are cut into nodes where a
//! list pushed at its tail has them in Redis, so a payload is Redis's byte for byte
//! but for a hash table's order (sets and hashes) and the rare back reference
//! Redis's compressor finds through its uninitialized table. Compressing costs
//! about 1 µs per kilobyte; `DUMP` of a compressible 100-element list is then half
//! the bytes, as from Redis.
//!
//! [`restore`] checks the trailer, then reads the value from the whole payload as
//! Redis does (a string whose length runs into the trailer takes those bytes; bytes
//! after the value are ignored). It reads payloads of RDB versions up to 10, so Redis 6.x dumps too: every
//! value type but streams and modules, in every encoding those versions write
//! (linked lists, ziplists, quicklists of ziplists or listpacks, intsets, string
//! scores, LZF-compressed strings). Every length read from the payload is checked
//! against the bytes left before anything is allocated, every blob is walked in full,
//! and duplicates are refused, so a corrupt payload is an error, never a panic or an
//! allocation the payload's size does not justify. The value is rebuilt in this
//! server's own encodings, chosen by the limits given.

mod blob;
mod lzf;
mod reader;
mod value;

pub use value::{restore_value, write_value};

use crate::collections::{HashLimits, ListLimits, SetLimits, ZsetLimits};
use crate::value::Value;

/// The RDB version this server writes, and the newest it reads (Redis 7.0's).
pub const RDB_VERSION: u16 = 10;
/// Bytes after the value: the version and the checksum.
const TRAILER_BYTES: usize = 10;
const VERSION_BYTES: usize = 2;

/// Redis's CRC-64 (`crc64.c`): Jones polynomial, reflected, no final xor.
pub fn crc64(bytes: &[u8]) -> u64 {
    // Sixteen bytes a step (a 32 KiB table): `DUMP` of a 100-element list spent a
    // fifth of its CPU here a byte at a time.
    const CRC: crc::Crc<u64, crc::Table<16>> =
        crc::Crc::<u64, crc::Table<16>>::new(&crc::CRC_64_REDIS);
    CRC.checksum(bytes)
}

/// Why a payload was refused, as `RESTORE` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadError {
    /// Too short, a newer RDB version, or a checksum mismatch.
    VersionOrChecksum,
    /// The value itself does not parse.
    BadFormat,
}

impl PayloadError {
    pub fn message(self) -> &'static str {
        match self {
            PayloadError::VersionOrChecksum => "ERR DUMP payload version or checksum are wrong",
            PayloadError::BadFormat => "ERR Bad data format",
        }
    }
}

/// The encoding limits a restored value is rebuilt under, and the longest string a
/// payload may expand to.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub hash: HashLimits,
    pub set: SetLimits,
    pub zset: ZsetLimits,
    pub list: ListLimits,
    pub string_max_bytes: usize,
}

/// `DUMP`'s payload for `value`.
pub fn dump(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_value(value, &mut out);
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The value a `RESTORE` payload holds: the trailer checked first, then the value.
pub fn restore(payload: &[u8], limits: &Limits) -> Result<Value, PayloadError> {
    if payload.len() < TRAILER_BYTES {
        return Err(PayloadError::VersionOrChecksum);
    }
    let body_end = payload.len() - TRAILER_BYTES;
    let crc_at = body_end + VERSION_BYTES;
    let version = u16::from_le_bytes([payload[body_end], payload[body_end + 1]]);
    let want = u64::from_le_bytes(payload[crc_at..].try_into().expect("eight bytes"));
    if version > RDB_VERSION || crc64(&payload[..crc_at]) != want {
        return Err(PayloadError::VersionOrChecksum);
    }
    restore_value(payload, limits).ok_or(PayloadError::BadFormat)
}

#[cfg(test)]
mod tests;
