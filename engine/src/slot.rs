//! Key to shard: the Redis Cluster hash slot, then the slot modulo the shard count.
//!
//! `crc16(key) mod 16384` (CRC-16/XMODEM), hashing only the part between the first `{`
//! and the next `}` when that part is non-empty, so `{user1}.cart` and `{user1}.orders`
//! land on one shard, exactly as on Redis Cluster. Every crate routes with [`shard_of`].

use crc::{Crc, Table, CRC_16_XMODEM};

/// Number of hash slots (Redis Cluster's).
pub const SLOTS: u16 = 16384;

/// Sliced by 16 bytes (a 8 KiB table): a typical key's CRC in one step, where the
/// byte-wise table costs a lookup per byte on every routed command.
const CRC16: Crc<u16, Table<16>> = Crc::<u16, Table<16>>::new(&CRC_16_XMODEM);

/// The Redis Cluster hash slot of `key`, honouring hash tags.
pub fn key_slot(key: &[u8]) -> u16 {
    let hashed = hash_tag(key).unwrap_or(key);
    CRC16.checksum(hashed) % SLOTS
}

fn hash_tag(key: &[u8]) -> Option<&[u8]> {
    let open = key.iter().position(|&b| b == b'{')?;
    let close = key[open + 1..].iter().position(|&b| b == b'}')?;
    (close > 0).then(|| &key[open + 1..open + 1 + close])
}

/// The shard that owns `key` among `shards` shards (one shard owns every key
/// without hashing it).
pub fn shard_of(key: &[u8], shards: usize) -> usize {
    debug_assert!(shards > 0);
    match shards {
        1 => 0,
        _ => key_slot(key) as usize % shards,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_match_redis_cluster() {
        // Values from `CLUSTER KEYSLOT` on Redis.
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"bar"), 5061);
        assert_eq!(key_slot(b"123456789"), 0x31c3 % SLOTS);
        assert_eq!(key_slot(b"{user1}.cart"), key_slot(b"user1"));
        assert_eq!(key_slot(b"{}.x"), CRC16.checksum(b"{}.x") % SLOTS);
        assert_eq!(key_slot(b"a{}{b}"), CRC16.checksum(b"a{}{b}") % SLOTS);
    }
}
