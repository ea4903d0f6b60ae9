//! `maxmemory` and transactions, as Redis 7.0 has them: while the server is out of
//! memory, a command sent inside `MULTI` is refused with `-OOM` (queueing grows
//! memory too) and flags the transaction, so `EXEC` aborts with `-EXECABORT`; and an
//! `EXEC` whose queue holds a command that may grow memory (`denyoom`) is refused as
//! a whole, before anything runs ([`EXEC_ABORT_OOM`]). `EXEC`, `DISCARD`, `QUIT` and
//! `RESET` are never refused ([`OOM_EXEMPT`]).
//!
//! "Out of memory" is a shard's state here: `maxmemory` is split evenly over the
//! shards, each evicts from its own keys, and a shard over its share with nothing
//! left to evict refuses `denyoom` commands ([`corekv_engine::keyspace::evict`]).
//! The queue lives on the connection's core, so a queued command asks that core's
//! shard; `EXEC` asks every shard a `denyoom` command of its queue runs on. Each
//! check is a request in the shard's order (never inside another transaction's
//! hold), and, like Redis's check before every command, evicts what the policy lets
//! it evict first. With no `maxmemory`, or on a replica (which never evicts, as
//! Redis's `replica-ignore-maxmemory`), nothing is asked.

use std::rc::Rc;

use corekv_engine::keyspace::evict::Room;
use corekv_engine::shard::Shard;
use futures::future::join_all;

use crate::commands::Spec;
use crate::runtime::clock::now_ms;
use crate::shard::answer::Answer;
use crate::shard::mesh::Msg;
use crate::shard::Core;

pub use corekv_engine::keyspace::evict::OOM_MESSAGE;

/// Commands an open transaction runs even when out of memory (Redis's exceptions).
pub const OOM_EXEMPT: &[&str] = &["exec", "discard", "quit", "reset"];

/// `EXEC`'s error when its queue holds a `denyoom` command and memory is full.
pub const EXEC_ABORT_OOM: &str =
    "EXECABORT Transaction discarded because of: OOM command not allowed when used memory > 'maxmemory'.";

/// Whether out-of-memory checks apply at all: a `maxmemory` is set (every shard has
/// the same share) and this server is not a replica.
pub fn limited(core: &Core) -> bool {
    let limit = core.shard.borrow().keyspace().eviction().maxmemory_bytes;
    limit != 0 && !core.global.repl.is_replica()
}

/// On a shard: evicts what the policy allows while over its share; whether it is
/// still over with nothing left to evict.
pub fn full_here(shard: &mut Shard) -> bool {
    shard.keyspace_mut().make_room(now_ms()) == Room::Fail
}

/// Whether any of `shards` is out of memory: one request to each, all at once.
async fn any_full(core: &Rc<Core>, shards: &[usize]) -> bool {
    let asks = shards.iter().map(|&s| {
        let ask = Msg::Control(Box::new(|core: &Rc<Core>| {
            let full = full_here(&mut core.shard.borrow_mut());
            Answer::Count(u64::from(full))
        }));
        core.call(s, None, ask)
    });
    let answers = join_all(asks).await;
    answers
        .iter()
        .any(|a| matches!(a, Some(Answer::Count(n)) if *n > 0))
}

/// Whether a command sent inside `MULTI` (`spec`) is refused for memory: this
/// core's shard is out of memory and the command is not one of [`OOM_EXEMPT`].
pub async fn refuses_queued(core: &Rc<Core>, spec: &Spec) -> bool {
    !OOM_EXEMPT.contains(&spec.name) && limited(core) && any_full(core, &[core.id]).await
}

/// Whether `EXEC` is refused for memory: some queued command may grow memory
/// (`denyoom`; the shards such commands run on in `shards`) and one of those shards
/// is out of memory.
pub async fn refuses_exec(core: &Rc<Core>, shards: &[usize]) -> bool {
    !shards.is_empty() && limited(core) && any_full(core, shards).await
}
