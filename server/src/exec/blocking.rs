//! Running a blocking command (`BLPOP`, `BRPOP`, `BRPOPLPUSH`, `BLMOVE`, `BLMPOP`):
//! its step (the engine's non-blocking form, as parts across shards) at once, then,
//! while it answers null, queued on its watched keys ([`crate::shard::blocking`])
//! and run again each time it is woken, until an element comes, the timeout passes,
//! the connection closes or `CLIENT UNBLOCK` releases it.

use std::cell::RefCell;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::time::Instant;

use corekv_engine::command::list_block::{
    timeout_at, timeout_ms, timeout_out_of_range, watched_keys,
};
use corekv_engine::resp::{Args, Reply, ReplyBuf};

use crate::runtime::clock::now_ms;
use crate::session::client::{Client, ClientInfo};
use crate::shard::blocking::{sleep, Queued, Signal, Unblock, Woken};
use crate::shard::Core;

/// Whether a step's reply is the "nothing there" answer (a null or a null array).
fn is_null(reply: &[u8]) -> bool {
    matches!(reply, b"*-1\r\n" | b"$-1\r\n" | b"_\r\n")
}

/// How often a blocked client's socket is looked at for a peer that closed it: the
/// driver reads nothing while a command runs, so this is how a client that
/// disconnects mid-wait leaves the queues before an element would be popped for it.
const PEER_CHECK_INTERVAL_MS: u64 = 100;

/// Whether the peer closed the connection (or it failed): a read would give EOF.
fn peer_closed(fd: RawFd) -> bool {
    let mut byte = 0u8;
    // SAFETY: a one-byte peek into a live local buffer; `fd` is this client's socket,
    // open while its session runs this command.
    let n = unsafe {
        libc::recv(
            fd,
            (&mut byte as *mut u8).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    let pending = std::io::Error::last_os_error().kind() == std::io::ErrorKind::WouldBlock;
    n == 0 || (n < 0 && !pending)
}

/// [`sleep`], also ending when the peer has closed the connection.
async fn sleep_watching_peer(client: &Client, signal: &Signal, deadline: Option<u64>) -> Woken {
    let (outbox, fd) = {
        let info = client.info.borrow();
        (info.outbox.clone(), info.fd)
    };
    loop {
        let check_at = now_ms().saturating_add(PEER_CHECK_INTERVAL_MS);
        let wake_at = deadline.map_or(check_at, |d| d.min(check_at));
        match sleep(&outbox, signal, Some(wake_at)).await {
            Woken::TimedOut if deadline.is_none_or(|d| now_ms() < d) => {
                if peer_closed(fd) {
                    return Woken::Closed;
                }
            }
            woken => return woken,
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
    let _shown = BlockedFlag::set(client);
    loop {
        buf.clear();
        super::tx::run(core, id, db, args, &mut buf).await;
        if !is_null(&buf) {
            break;
        }
        match sleep_watching_peer(client, &signal, deadline).await {
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
