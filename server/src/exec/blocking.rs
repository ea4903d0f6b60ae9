//! Running a blocking command (`BLPOP`, `BRPOP`, `BRPOPLPUSH`, `BLMOVE`, `BLMPOP`):
//! its step (the engine's non-blocking form, as parts across shards) at once, then,
//! while it answers null, queued on its watched keys ([`crate::shard::blocking`])
//! and run again each time it is woken, until an element comes, the timeout passes,
//! the connection closes or `CLIENT UNBLOCK` releases it.

use std::rc::Rc;
use std::time::Instant;

use corekv_engine::command::list_block::{
    timeout_at, timeout_ms, timeout_out_of_range, watched_keys,
};
use corekv_engine::resp::{Args, Reply, ReplyBuf};

use crate::runtime::clock::now_ms;
use crate::session::client::Client;
use crate::shard::blocking::{sleep, Queued, Unblock, Woken};
use crate::shard::Core;

/// Whether a step's reply is the "nothing there" answer (a null or a null array).
fn is_null(reply: &[u8]) -> bool {
    matches!(reply, b"*-1\r\n" | b"$-1\r\n" | b"_\r\n")
}

/// Runs blocking command `id`: its step at once, then again each time it is woken,
/// until it answers something other than null.
pub async fn run(core: &Rc<Core>, client: &mut Client, id: usize, args: &Args, out: &mut ReplyBuf) {
    let started = Instant::now();
    wait_for_element(core, client, id, args, out).await;
    super::record(core, id, started, 1);
}

/// The command itself: its reply (an element, null on timeout, or an error) in `out`.
async fn wait_for_element(
    core: &Rc<Core>,
    client: &mut Client,
    id: usize,
    args: &Args,
    out: &mut ReplyBuf,
) {
    let db = client.db;
    let mut buf = ReplyBuf::new(out.protocol());
    super::tx::run(core, id, db, args, &mut buf).await;
    if !is_null(&buf) {
        return out.extend_from_slice(&buf);
    }
    let timeout = timeout_ms(&args[timeout_at(args)]).expect("the step checked it");
    let deadline = match timeout {
        0 => None,
        ms => match now_ms().checked_add(ms).filter(|&at| at <= i64::MAX as u64) {
            Some(at) => Some(at),
            None => return out.error(&timeout_out_of_range().message()),
        },
    };
    let keys = watched_keys(args).expect("the step checked the arguments");
    let keys = keys.map(|i| args[i].clone()).collect();
    let (queued, signal) = Queued::new(client.id, client.db, keys);
    loop {
        buf.clear();
        super::tx::run(core, id, db, args, &mut buf).await;
        if !is_null(&buf) {
            break;
        }
        let outbox = client.info.borrow().outbox.clone();
        match sleep(&outbox, &signal, deadline).await {
            Woken::Ready => continue,
            Woken::TimedOut | Woken::Unblocked(Unblock::Timeout) => break,
            Woken::Unblocked(Unblock::Error) => {
                drop(queued);
                return out.error("UNBLOCKED client unblocked via CLIENT UNBLOCK");
            }
            Woken::Closed => {
                client.closing = true;
                break;
            }
        }
    }
    drop(queued);
    out.extend_from_slice(&buf);
}
