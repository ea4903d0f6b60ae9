//! Sockets, and nothing of commands: the listener and the drivers that move bytes
//! between a socket and a [`Session`](crate::session::Session).
//!
//! # The seam
//!
//! A driver owns the socket; the session owns everything else (framing, batching,
//! limits, execution, replies). A driver makes exactly these calls:
//!
//! ```text
//!  accept ──► Session::open(core, Peer, Mode) ── Err(text) ──► write text, close
//!                 │ Ok(session)
//!                 ▼
//!  loop:   bytes read ──► session.received(&bytes).await ──► Flow::Read | Flow::Close
//!          (or appended to session.input() and session.run_received().await)
//!  always: session.outbox().next().await ──► write chunk ──► outbox.written(n)
//!          (a failed write: outbox.drop_output())
//!  end:    session.close() ──► Some(HandOver): the socket, as an OwnedFd, goes to
//!          repl::master::hand_over; None: write the rest of the outbox, close
//! ```
//!
//! Reading and writing are independent: the session keeps taking input while its
//! outbox waits for the peer, which is what lets the output-buffer limit see a
//! client that does not read. Other tasks push into the outbox too (by client id,
//! through the core's registry), so the writing side never waits for input. When
//! the session closes the client (`QUIT`, a protocol error, a limit), the driver
//! writes what is queued, unless the outbox was dropped, and shuts the socket down.
//!
//! Two drivers implement these calls, chosen by the `io-driver` parameter:
//! [`uring`] (the default: each core's own io_uring ring, multishot accept and
//! receive into provided buffers, sends batched per loop turn; about half the CPU
//! per request at pipeline 1) and [`glommio`] (glommio's `TcpStream`, one reading
//! and one writing task per connection). Each core sets its ring up at start; the
//! first core logs the driver and the ring's flags. A core whose ring cannot be
//! set up (a kernel before 5.19, without provided-buffer rings or cooperative task
//! running) warns and uses the glommio driver.
//!
//! `corekv-server --canned-reply` (a benchmark flag, hidden from `--help`) opens
//! every session in [`Mode::CannedReply`](crate::session::Mode): each request is
//! framed and answered `+OK` without touching a shard, which measures a driver
//! alone (`redis-benchmark -t set` or `loadgen` against it).

pub mod addr;
pub mod glommio;
pub mod listener;
pub mod uring;

use std::rc::Rc;

use ::glommio::net::TcpStream;
use futures::io::WriteHalf;
use futures::AsyncWriteExt;

use crate::session::outbox::Outbox;
use crate::shard::Core;

/// Makes what already happened on this core's sockets take effect now, so that a
/// peer that closed or reset before the caller asked is no longer a client (gone
/// from the registry, the connected count and the pub/sub tables), whether or not
/// its connection's task has run since: with the io_uring driver, runs the
/// completions its ring holds (the turn that reaps a peer's close forgets it);
/// with the glommio driver, polls the core's sockets once. Called by what
/// enumerates or counts clients or subscribers (`CLIENT LIST`/`KILL`, `INFO`,
/// `PUBSUB`), on each core.
pub fn catch_up(core: &Core) {
    uring::catch_up();
    glommio::catch_up(core);
}

/// The writing task: drains the outbox at the pace the peer reads.
pub async fn write_out(mut writer: WriteHalf<TcpStream>, outbox: Rc<Outbox>) {
    while let Some(chunk) = outbox.next().await {
        if writer.write_all(&chunk).await.is_err() {
            outbox.written(0);
            outbox.close();
            return;
        }
        outbox.written(chunk.len());
        outbox.recycle(chunk);
    }
}
