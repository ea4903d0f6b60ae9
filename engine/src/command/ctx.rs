//! The context a command handler runs in: the door to its shard's keyspace, the
//! client's database, the time and the output buffer. `exec.rs` builds one per
//! command from the [`crate::shard::Shard`] it runs on.

use rand::rngs::SmallRng;

use crate::keyspace::Keyspace;
use crate::resp::ReplyBuf;
use crate::shard::CollectionLimits;

/// What a handler works with: the door to its shard's keyspace, the client's
/// database, the time, the output buffer its reply goes into.
pub struct Ctx<'a> {
    pub ks: &'a mut Keyspace,
    /// The shard's seeded generator, for commands that choose at random (`SPOP`,
    /// `SRANDMEMBER`, `HRANDFIELD`, `RANDOMKEY`).
    pub rng: &'a mut SmallRng,
    pub shard_id: usize,
    pub db: usize,
    pub now_ms: u64,
    pub out: &'a mut ReplyBuf,
    /// Longest string a command may build (`proto-max-bulk-len`).
    pub string_max_bytes: usize,
    /// Encoding limits of hashes and sets.
    pub limits: CollectionLimits,
}
