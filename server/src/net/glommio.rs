//! The glommio driver: a connection's socket is a glommio `TcpStream`, read by the
//! connection's task and written by a second task that drains the session's outbox.
//!
//! After each chunk of input the reading task also writes what the outbox holds
//! with a non-blocking `send(2)` (a pipeline's replies usually leave in one call,
//! without waking the writing task); what the socket does not take, the writing
//! task writes as the peer reads.
//!
//! A connection on the Unix socket is served the same way: glommio's `TcpStream`
//! only accepts, receives and sends on its descriptor, which works for any stream
//! socket; the addresses are read from the descriptor ([`ClientAddr::of`]).
//!
//! The core keeps a list of its connections' sockets: [`catch_up`] polls them
//! all at once, so that a client whose peer closed is forgotten before a
//! `CLIENT LIST` or `INFO` answers, even when its reading task has not run yet.

use std::cell::RefCell;
use std::future::Future;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::task::Poll;

use ::glommio::net::TcpStream;
use futures::io::ReadHalf;
use futures::{AsyncReadExt, AsyncWriteExt};

use super::addr::ClientAddr;
use super::write_out;
use crate::session::{Flow, Mode, Outbox, Peer, Session};
use crate::shard::Core;

/// Bytes read from the socket per read call.
const READ_CHUNK_BYTES: usize = 16 * 1024;

thread_local! {
    /// This core's connections: socket and client id.
    static OPEN: RefCell<Vec<(RawFd, u64)>> = const { RefCell::new(Vec::new()) };
}

/// Forgets every client of this core whose peer closed or reset (see
/// [`crate::net::catch_up`]): one `poll(2)` of all the core's sockets.
pub fn catch_up(core: &Core) {
    let mut fds: Vec<libc::pollfd> = OPEN.with(|open| {
        open.borrow()
            .iter()
            .map(|&(fd, _)| libc::pollfd {
                fd,
                events: libc::POLLRDHUP,
                revents: 0,
            })
            .collect()
    });
    if fds.is_empty() {
        return;
    }
    // SAFETY: poll(2) of `fds.len()` entries of a live vector, without waiting.
    let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 0) };
    if ready <= 0 {
        return;
    }
    let gone = libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR;
    let ids: Vec<u64> = OPEN.with(|open| {
        let open = open.borrow();
        fds.iter()
            .zip(open.iter())
            .filter(|(p, _)| p.revents & gone != 0)
            .map(|(_, &(_, id))| id)
            .collect()
    });
    for id in ids {
        crate::session::forget(core, id);
        crate::pubsub::forget_client(core, id);
    }
}

/// Serves one accepted connection until it closes (or becomes a replication stream,
/// whose socket goes to [`crate::repl::master::hand_over`]).
pub async fn serve(core: Rc<Core>, mut stream: TcpStream, mode: Mode) {
    let fd = stream.as_raw_fd();
    let Some((addr, laddr)) = ClientAddr::of(fd) else {
        return;
    };
    let _ = stream.set_nodelay(true);
    let peer = Peer { addr, laddr, fd };
    let mut session = match Session::open(core.clone(), peer, mode) {
        Ok(session) => session,
        Err(refusal) => {
            let _ = stream.write_all(refusal.as_bytes()).await;
            return;
        }
    };
    let id = session.id();
    OPEN.with(|open| open.borrow_mut().push((fd, id)));
    let outbox = session.outbox();
    let (mut reader, writer) = stream.split();
    let writing = ::glommio::spawn_local(write_out(writer, outbox.clone()));
    let mut scratch = vec![0u8; READ_CHUNK_BYTES];
    loop {
        let n = match read_unless_closed(&mut reader, &mut scratch, &outbox).await {
            Some(Ok(n)) if n > 0 => n,
            _ => break,
        };
        let flow = session.received(&scratch[..n]).await;
        write_now(&outbox, fd);
        if flow == Flow::Close || outbox.is_closed() {
            break;
        }
    }
    OPEN.with(|open| open.borrow_mut().retain(|&(_, open_id)| open_id != id));
    let handover = session.close();
    if outbox.is_closed() {
        // Ends the connection for the peer, and wakes a write stuck on a peer that
        // does not read.
        shutdown(fd);
    }
    writing.await;
    if let Some(handover) = handover {
        let Some(socket) = duplicate(fd) else {
            return;
        };
        drop(reader);
        crate::repl::master::hand_over(&core, socket, handover).await;
    }
}

/// Reads from the socket; `None` once the outbox is closed meanwhile (`CLIENT KILL`,
/// the idle timeout, the output-buffer limit).
async fn read_unless_closed(
    reader: &mut ReadHalf<TcpStream>,
    buf: &mut [u8],
    outbox: &Outbox,
) -> Option<std::io::Result<usize>> {
    let mut read = std::pin::pin!(reader.read(buf));
    std::future::poll_fn(|cx| {
        if outbox.poll_closed(cx).is_ready() {
            return Poll::Ready(None);
        }
        read.as_mut().poll(cx).map(Some)
    })
    .await
}

/// Writes queued chunks while the socket takes them without waiting.
fn write_now(outbox: &Outbox, fd: RawFd) {
    while let Some(chunk) = outbox.try_next() {
        match send_nonblocking(fd, &chunk) {
            Ok(sent) if sent == chunk.len() => {
                outbox.written(sent);
                outbox.recycle(chunk);
            }
            Ok(sent) => return outbox.put_back(chunk, sent),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                return outbox.put_back(chunk, 0)
            }
            Err(_) => {
                outbox.written(0);
                return outbox.close();
            }
        }
    }
}

fn send_nonblocking(fd: RawFd, buf: &[u8]) -> std::io::Result<usize> {
    // SAFETY: send(2) reads `buf` for its length on a socket the driver owns.
    let n = unsafe {
        libc::send(
            fd,
            buf.as_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(n as usize)
}

fn shutdown(fd: RawFd) {
    // SAFETY: shutdown(2) on the connection's live socket; nothing is closed or freed.
    unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
}

/// A descriptor of the socket that outlives the stream.
fn duplicate(fd: RawFd) -> Option<OwnedFd> {
    // SAFETY: dup(2) of a descriptor the stream owns.
    let dup = unsafe { libc::dup(fd) };
    if dup < 0 {
        log::warn!(
            "can't hand a replication stream over: {}",
            std::io::Error::last_os_error()
        );
        return None;
    }
    // SAFETY: `dup` is a fresh descriptor nothing else owns.
    Some(unsafe { OwnedFd::from_raw_fd(dup) })
}
