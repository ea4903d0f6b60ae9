//! Persistence beside the shards: each shard's journal ([`journal`]), snapshots
//! ([`saver`]) and backup sets ([`backup`]) in the data directory ([`datadir`]), and
//! start-up recovery from them ([`recovery`]). Each reaches its shard through the
//! mesh.

pub mod backup;
pub mod datadir;
pub mod journal;
pub mod recovery;
pub mod saver;
mod syncs;
pub mod writer;
