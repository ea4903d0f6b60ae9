//! The context a command handler runs in: the door to its shard's keyspace, the
//! client's database, the time and the output buffer. `exec.rs` builds one per
//! command from the [`crate::shard::Shard`] it runs on.

use rand::rngs::SmallRng;

use crate::error::{CmdError, CmdResult};
use crate::keyspace::{Keyspace, WriteGuard};
use crate::resp::ReplyBuf;
use crate::shard::CollectionLimits;
use crate::value::Value;

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

/// The value at `key` for a read command, as the type `pick` takes out of it: counts
/// a keyspace hit or miss first, as Redis's `lookupKeyRead` does (a key of another
/// type is a hit), then answers `WRONGTYPE` when `pick` finds another type. One hash
/// probe.
pub fn read_typed<'k, T: ?Sized>(
    ks: &'k mut Keyspace,
    db: usize,
    key: &[u8],
    now_ms: u64,
    pick: fn(&Value) -> Option<&T>,
) -> CmdResult<Option<&'k T>> {
    match ks.find_read(db, key, now_ms) {
        None => Ok(None),
        Some(entry) => pick(entry.value).map(Some).ok_or(CmdError::WrongType),
    }
}

/// Write access to the value at `key` when `pick` accepts its type; `WRONGTYPE`
/// otherwise. A caller that creates the key when this is `None` drops the `None`
/// first: the guard ends its borrow of the keyspace only when dropped.
pub fn write_typed<'k, T: ?Sized>(
    ks: &'k mut Keyspace,
    db: usize,
    key: &[u8],
    now_ms: u64,
    pick: fn(&Value) -> Option<&T>,
) -> CmdResult<Option<WriteGuard<'k>>> {
    let Some(guard) = ks.find_mut(db, key, now_ms) else {
        return Ok(None);
    };
    match pick(guard.entry().value) {
        Some(_) => Ok(Some(guard)),
        None => Err(CmdError::WrongType),
    }
}
