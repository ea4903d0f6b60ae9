//! A master's write pause during a planned switchover (`CKV.PAUSE`, sent by the
//! replica Sentinel promotes, see [`crate::repl::handoff`]): until the pause ends,
//! each write command waits before its generic checks, so it runs after the
//! switchover and is refused with `-READONLY` once this server follows the new
//! master (its client then asks Sentinel again). Reads go on.
//!
//! The pause ends at its deadline or when `REPLICAOF` changes the role.

use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use corekv_engine::command::flags::WRITE;
use corekv_engine::command::CommandSpec;

use crate::runtime::clock::now_ms;
use crate::session::client::Client;
use crate::shard::global::Global;
use crate::shard::Core;

/// How often a held write looks whether the pause ended.
const HELD_POLL_INTERVAL: Duration = Duration::from_millis(2);
/// [`settled_lsns`] reads the shards' LSNs until two reads this far apart agree,
/// at most this many times.
const SETTLE_INTERVAL: Duration = Duration::from_millis(5);
const SETTLE_ROUNDS_MAX: usize = 100;

/// Whether `spec` must wait for the pause to end: a write (or `EXEC`) while
/// writes are paused.
pub fn holds<E>(global: &Global, client: &Client, spec: &CommandSpec<E>) -> bool {
    paused(global) && ((spec.has(WRITE) && !client.multi.is_open()) || spec.name == "exec")
}

/// Whether writes are paused now: one atomic load when they are not.
pub fn paused(global: &Global) -> bool {
    let until = global.repl.pause_until_ms.load(Ordering::Acquire);
    until != 0 && now_ms() < until
}

/// Waits until writes are no longer paused.
pub async fn wait(global: &Global) {
    while paused(global) && !global.shutdown.is_fired() {
        glommio::timer::sleep(HELD_POLL_INTERVAL).await;
    }
}

/// Pauses writes for `ms` milliseconds from now.
pub fn start(global: &Global, ms: u64) {
    let until = now_ms().saturating_add(ms.max(1));
    global.repl.pause_until_ms.store(until, Ordering::Release);
}

/// Ends the pause at once.
pub fn end(global: &Global) {
    global.repl.pause_until_ms.store(0, Ordering::Release);
}

/// The shards' last LSNs once writes admitted before the pause are done: a write
/// that passed its checks on one core just before the pause may still be on its
/// way to its key's shard, so the LSNs are read until two reads
/// [`SETTLE_INTERVAL`] apart agree (at most [`SETTLE_ROUNDS_MAX`] times). What a
/// replica must hold before it takes over (`CKV.PAUSE`, `FAILOVER`).
pub async fn settled_lsns(core: &Rc<Core>) -> Vec<u64> {
    let mut lsns = core.last_lsns(super::last_lsn).await;
    for _ in 0..SETTLE_ROUNDS_MAX {
        glommio::timer::sleep(SETTLE_INTERVAL).await;
        let again = core.last_lsns(super::last_lsn).await;
        if again == lsns {
            break;
        }
        lsns = again;
    }
    lsns
}
