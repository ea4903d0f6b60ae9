//! Replication ids: 40 lowercase hex characters naming one history of writes (see
//! [`crate::history`] for when a master takes a new one). A leaf: the handshake and
//! the resync decision both name ids.

use std::fmt;

use rand::RngCore;

/// Characters in a replication id.
pub const REPLID_CHARS: usize = 40;

/// A replication id: 40 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReplId([u8; REPLID_CHARS]);

impl ReplId {
    /// A fresh id from 160 random bits. The caller hands in the generator (seeded
    /// from the OS in the server), so tests are deterministic.
    pub fn generate(rng: &mut impl RngCore) -> ReplId {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut raw = [0u8; REPLID_CHARS / 2];
        rng.fill_bytes(&mut raw);
        let mut id = [0u8; REPLID_CHARS];
        for (pair, byte) in id.chunks_exact_mut(2).zip(raw) {
            pair[0] = HEX[usize::from(byte >> 4)];
            pair[1] = HEX[usize::from(byte & 0xf)];
        }
        ReplId(id)
    }

    /// Parses exactly 40 hex characters; upper case is accepted and folded, so two
    /// spellings of one id compare equal.
    pub fn parse(text: &[u8]) -> Option<ReplId> {
        let id: [u8; REPLID_CHARS] = text.try_into().ok()?;
        if !id.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        Some(ReplId(id.map(|c| c.to_ascii_lowercase())))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("hex digits are ASCII")
    }
}

impl fmt::Display for ReplId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for ReplId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReplId({})", self.as_str())
    }
}
