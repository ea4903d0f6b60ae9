//! Running a blocking command (`BLPOP`, `BRPOP`, `BRPOPLPUSH`, `BLMOVE`, `BLMPOP`
//! and the blocking sorted-set pops): its step (the engine's non-blocking form, as
//! parts across shards) at once, then, while it answers null, queued on its watched
//! keys ([`crate::shard::blocking`]) until the shard of a key that became ready
//! serves it right after the command that filled the key, the timeout passes, the
//! connection closes or `CLIENT UNBLOCK` releases it. Once queued, the client never
//! runs its step itself: woken without being served (a shard passed it over while
//! another was serving it), it asks its keys' shards to look again, so each key is
//! served by its own shard in its command order, for that key alone.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use corekv_engine::command::list_block::{
    timeout_at, timeout_ms, timeout_out_of_range, watched_keys,
};
use corekv_engine::resp::{Args, Reply, ReplyBuf};
use corekv_engine::slot::shard_of;

use crate::runtime::clock::{ms_from_now, now_ms};
use crate::session::client::{Client, ClientInfo};
use crate::shard::answer::Answer;
use crate::shard::blocking::{
    is_null, mark_ready, sleep, Queued, Settled, Signal, Step, Unblock, Woken,
};
use crate::shard::mesh::Msg;
use crate::shard::Core;

/// How often a blocked client looks whether its peer closed the connection
/// ([`crate::shard::blocking::PeerWatch`]): its session runs the command, not
/// reading, so this is how a client that disconnects mid-wait leaves the queues.
const PEER_CHECK_INTERVAL_MS: u64 = 100;

/// [`sleep`], also ending when the peer has closed the connection (looked at every
/// [`PEER_CHECK_INTERVAL_MS`] and on each wake-up without an element).
async fn sleep_watching_peer(client: &Client, signal: &Signal, deadline: Option<u64>) -> Woken {
    let (outbox, peer) = {
        let info = client.info.borrow();
        (info.outbox.clone(), info.peer.clone())
    };
    loop {
        let check_at = now_ms().saturating_add(PEER_CHECK_INTERVAL_MS);
        let wake_at = deadline.map_or(check_at, |d| d.min(check_at));
        match sleep(&outbox, signal, Some(wake_at)).await {
            Woken::TimedOut if deadline.is_none_or(|d| now_ms() < d) => {
                if peer.closed() {
                    return Woken::Closed;
                }
            }
            // A shard that found the peer gone wakes the client without serving it.
            Woken::Ready if peer.closed() => return Woken::Closed,
            woken => return woken,
        }
    }
}

/// How long a woken client waits before looking again while a shard is serving it.
const CLAIM_POLL: Duration = Duration::from_micros(100);

/// Sleeps until a shard serves the client, it should have its keys looked at
/// again, or it stops waiting. While a shard is serving it, it waits for that to end.
async fn wait_turn(client: &Client, signal: &Signal, deadline: Option<u64>) -> Settled {
    let woken = sleep_watching_peer(client, signal, deadline).await;
    loop {
        match signal.settle(woken) {
            Some(settled) => return settled,
            None => glommio::timer::sleep(CLAIM_POLL).await,
        }
    }
}

/// `CLIENT LIST`'s `b` flag (and the idle timeout's exemption) while it lives.
struct BlockedFlag(Rc<RefCell<ClientInfo>>);

impl BlockedFlag {
    fn set(client: &Client) -> Self {
        client.info.borrow_mut().blocked = true;
        BlockedFlag(client.info.clone())
    }
}

impl Drop for BlockedFlag {
    fn drop(&mut self) {
        self.0.borrow_mut().blocked = false;
    }
}

/// Runs blocking command `id`: its step at once; while that answers null, the client
/// waits queued until a shard serves it, its timeout passes, it is unblocked or its
/// connection closes. Its duration in `INFO commandstats` leaves the time it waited
/// out, as Redis's does.
pub async fn run(core: &Rc<Core>, client: &mut Client, id: usize, args: &Args, out: &mut ReplyBuf) {
    let started = Instant::now();
    let mut waited = Duration::ZERO;
    wait_for_element(core, client, id, args, out, &mut waited).await;
    super::record(core, id, started + waited, 1);
}

/// The command itself: its reply (an element, null on timeout, or an error) in
/// `out`; the time it spent waiting its turn added to `waited`.
async fn wait_for_element(
    core: &Rc<Core>,
    client: &mut Client,
    id: usize,
    args: &Args,
    out: &mut ReplyBuf,
    waited: &mut Duration,
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
        ms => match ms_from_now(ms).filter(|&at| at <= i64::MAX as u64) {
            Some(at) => Some(at),
            None => return out.error(&timeout_out_of_range().message()),
        },
    };
    let keys: Vec<Bytes> = watched_keys(args)
        .expect("the step checked the arguments")
        .map(|i| args[i].clone())
        .collect();
    let step = Step {
        id,
        args: args.clone(),
        protocol: out.protocol(),
        peer: client.info.borrow().peer.clone(),
    };
    let (queued, signal) = Queued::new(client.id, db, keys.clone(), step);
    let _shown = BlockedFlag::set(client);
    look_again(core, db, keys.clone()).await;
    loop {
        let asleep = Instant::now();
        let settled = wait_turn(client, &signal, deadline).await;
        *waited += asleep.elapsed();
        match settled {
            Settled::Look => {
                signal.waiting();
                look_again(core, db, keys.clone()).await;
            }
            Settled::Served(served) => {
                drop(queued);
                if let Err(e) = crate::persist::writer::wait_acked(core, &served.logged).await {
                    return out.error(&e);
                }
                return out.extend_from_slice(&served.reply);
            }
            Settled::Stop(Woken::Unblocked(Unblock::Error)) => {
                drop(queued);
                return out.error("UNBLOCKED client unblocked via CLIENT UNBLOCK");
            }
            Settled::Stop(Woken::Closed) => {
                client.closing = true;
                break;
            }
            Settled::Stop(_) => break,
        }
    }
    drop(queued);
    // Redis's reply to a block that timed out is a null array for every blocking
    // command, also `BLMOVE`'s and `BRPOPLPUSH`'s, whose step (what they answer
    // inside `MULTI`) is a null bulk string.
    out.null_array();
}

/// Asks each shard holding one of `keys` to look at them once the client is
/// queued (or woken without being served): an element that came between the first
/// step and the queueing is then served by the shard, in its command order, like
/// one pushed later.
async fn look_again(core: &Rc<Core>, db: usize, keys: Vec<Bytes>) {
    let shards = core.shards();
    let mut per_shard: Vec<Vec<(usize, Bytes)>> = vec![Vec::new(); shards];
    for key in keys {
        per_shard[shard_of(&key, shards)].push((db, key));
    }
    for (shard, keys) in per_shard.into_iter().enumerate() {
        if keys.is_empty() {
            continue;
        }
        let look = Box::new(move |_: &Rc<Core>| {
            mark_ready(keys);
            Answer::Done
        });
        core.tell(shard, Msg::Control(look)).await;
    }
}
