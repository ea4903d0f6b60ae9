//! The listening sockets: every core listens on the same port (`SO_REUSEPORT`, the
//! kernel spreads connections) and serves what it accepts on its own executor,
//! with the driver the `io-driver` parameter names ([`Driver`]).
//!
//! # The Unix socket
//!
//! `unixsocket` is bound once at start ([`bind_unix`]): a path cannot be bound
//! twice, so `SO_REUSEPORT`'s one socket per core does not exist for it. Every
//! core then accepts on that one socket (through a duplicate of its descriptor),
//! with the same driver as its TCP connections: each core keeps an accept
//! pending, and the kernel gives each new connection to one of the waiting
//! accepts. The alternative, one core accepting and handing connections to the
//! others round-robin, would cost a cross-core message and a descriptor passed
//! between executors per connection, and make the accepting core a bottleneck
//! for connection storms; sharing the socket needs neither, and a connection is
//! served, like a TCP one, on the core that accepted it from start to end.

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use glommio::net::TcpListener;

use super::uring::ring::Acceptor;
use crate::session::Mode;
use crate::shard::Core;

/// Pending connections each core's listener queues before accepting (glommio's),
/// unless `tcp-backlog` says otherwise.
const LISTEN_BACKLOG: i32 = 1024;
/// The highest `unixsocketperm` (`07777`).
const UNIX_PERM_MAX: u32 = 0o7777;
/// Pause after a failed accept (out of descriptors, say) before the next.
const ACCEPT_RETRY_INTERVAL: Duration = Duration::from_millis(10);

/// What every core listens on and how it serves what it accepts.
#[derive(Debug, Clone)]
pub struct Listen {
    pub addrs: Vec<SocketAddr>,
    pub mode: Mode,
    pub driver: Driver,
    pub backlog: i32,
    /// `tcp-keepalive` seconds (0: off); accepted sockets inherit the listener's.
    pub keepalive_s: u64,
    /// The `unixsocket` listening socket, shared by every core.
    pub unix: Option<Arc<OwnedFd>>,
}

impl Listen {
    pub fn new(addrs: Vec<SocketAddr>, mode: Mode, driver: Driver) -> Listen {
        Listen {
            addrs,
            mode,
            driver,
            backlog: LISTEN_BACKLOG,
            keepalive_s: 0,
            unix: None,
        }
    }

    /// Every core also accepts on `socket` ([`bind_unix`]).
    pub fn with_unix(self, socket: Option<OwnedFd>) -> Listen {
        Listen {
            unix: socket.map(Arc::new),
            ..self
        }
    }

    /// `tcp-backlog` and `tcp-keepalive`.
    pub fn with_tcp_options(self, backlog: u64, keepalive_s: u64) -> Listen {
        Listen {
            backlog: i32::try_from(backlog).unwrap_or(i32::MAX),
            keepalive_s,
            ..self
        }
    }
}

/// The driver that moves a core's connections' bytes (`io-driver`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// The core's own io_uring ring ([`super::uring`]), with deferred task-run
    /// where the kernel has it.
    Uring,
    /// The core's own ring with cooperative task-run, as on kernels before 6.1.
    UringCoop,
    /// glommio's `TcpStream` ([`super::glommio`]).
    Glommio,
}

impl Driver {
    /// The `io-driver` parameter's value.
    pub fn parse(value: &str) -> Driver {
        match value {
            "glommio" => Driver::Glommio,
            "uring-coop" => Driver::UringCoop,
            _ => Driver::Uring,
        }
    }
}

/// Fails if the port is taken. Every core binds with SO_REUSEPORT, so without
/// this check a second server would silently share the port.
pub fn probe_port(addr: SocketAddr) -> Result<(), String> {
    std::net::TcpListener::bind(addr).map(drop).map_err(|e| {
        format!("can't listen on {addr}: {e} (is another server running on this port?)")
    })
}

/// One core's listening socket: `SO_REUSEPORT` so that every core listens on the port,
/// and `SO_REUSEADDR` (as Redis sets) so that a restarted server can listen at once
/// while connections the previous one closed linger in TIME_WAIT on the port. glommio's
/// `TcpListener::bind` sets only the first; without the second, the TIME_WAIT sockets
/// also fail [`probe_port`] for a minute after a shutdown.
/// Keepalive probes as Redis sets them: after `tcp-keepalive` idle seconds, every
/// third of that, and the connection dropped after three unanswered.
fn bind_listener(addr: SocketAddr, listen: &Listen) -> std::io::Result<OwnedFd> {
    use socket2::{Domain, Socket, TcpKeepalive, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM.cloexec(), None)?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    if listen.keepalive_s > 0 {
        let idle = Duration::from_secs(listen.keepalive_s);
        let probes = TcpKeepalive::new()
            .with_time(idle)
            .with_interval((idle / 3).max(Duration::from_secs(1)))
            .with_retries(3);
        socket.set_tcp_keepalive(&probes)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(listen.backlog)?;
    Ok(socket.into())
}

/// Binds and listens on the `unixsocket` path, as Redis: a file left at the path
/// (a previous run's socket) is removed first, and `perm` (`unixsocketperm`, octal
/// text; `0`: the umask's) is applied to the new socket file.
pub fn bind_unix(path: &str, perm: &str, backlog: u64) -> Result<OwnedFd, String> {
    use socket2::{Domain, SockAddr, Socket, Type};
    let mode = u32::from_str_radix(perm, 8)
        .ok()
        .filter(|m| *m <= UNIX_PERM_MAX)
        .ok_or_else(|| format!("Invalid socket file permissions: unixsocketperm {perm}"))?;
    let failed = |e: std::io::Error| format!("Failed opening Unix socket {path}: {e}");
    let _ = std::fs::remove_file(path);
    let socket = Socket::new(Domain::UNIX, Type::STREAM.cloexec(), None).map_err(failed)?;
    socket
        .bind(&SockAddr::unix(path).map_err(failed)?)
        .map_err(failed)?;
    if mode != 0 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(failed)?;
    }
    socket
        .listen(i32::try_from(backlog).unwrap_or(i32::MAX))
        .map_err(failed)?;
    super::addr::set_unix_path(path);
    Ok(socket.into())
}

/// A duplicate of the shared Unix socket's descriptor, for one core's accepts.
fn duplicate(socket: &OwnedFd) -> Result<OwnedFd, String> {
    socket
        .try_clone()
        .map_err(|e| format!("can't accept on the Unix socket: {e}"))
}

/// This core's listeners, accepting until shutdown.
pub struct Listeners {
    fds: Vec<RawFd>,
    /// The io_uring driver's listening sockets (its ring accepts on them).
    _sockets: Vec<OwnedFd>,
}

impl Listeners {
    /// Binds every address and starts accepting on each on this core.
    pub fn start(core: &Rc<Core>, listen: &Listen) -> Result<Listeners, String> {
        let mut sockets = Vec::new();
        for addr in &listen.addrs {
            sockets.push(
                bind_listener(*addr, listen).map_err(|e| format!("can't listen on {addr}: {e}"))?,
            );
        }
        if let Some(unix) = &listen.unix {
            sockets.push(duplicate(unix)?);
        }
        let fds = sockets.iter().map(AsRawFd::as_raw_fd).collect();
        if listen.driver != Driver::Glommio {
            match super::uring::ring::Driver::new(listen.driver == Driver::Uring) {
                Ok(driver) => {
                    if core.id == 0 {
                        log::info!(
                            "network driver: io_uring ({}, multishot receive)",
                            driver.task_run
                        );
                    }
                    start_uring(core, driver, &sockets, listen.mode);
                    return Ok(Listeners {
                        fds,
                        _sockets: sockets,
                    });
                }
                Err(e) => log::warn!(
                    "core {}: can't set up an io_uring ring ({e}): using the glommio driver",
                    core.id
                ),
            }
        } else if core.id == 0 {
            log::info!("network driver: glommio");
        }
        for socket in sockets {
            // glommio first tries `accept` at once with `O_NONBLOCK` set around the
            // call, then puts the flags back; the Unix socket's descriptors are
            // duplicates sharing one set of flags, so one core could put back
            // "blocking" while another is inside `accept`, and that core's thread
            // would sleep in the kernel until a client reached its very descriptor.
            // Non-blocking for good, the call only ever says "not yet".
            set_nonblocking(socket.as_raw_fd()).map_err(|e| format!("listener: {e}"))?;
            // SAFETY: a bound, listening socket whose ownership passes to the listener
            // (a Unix one too: glommio's listener only accepts on the descriptor).
            let listener = unsafe { TcpListener::from_raw_fd(socket.into_raw_fd()) };
            glommio::spawn_local(accept_loop(core.clone(), listener, listen.mode)).detach();
        }
        Ok(Listeners {
            fds,
            _sockets: Vec::new(),
        })
    }

    /// Takes this core's listeners out of the LISTEN state before the executor ends.
    /// The pending io_uring accept holds the socket open until the kernel tears the
    /// ring down, some milliseconds after the process exited; a server restarted
    /// meanwhile would find the port still listened on.
    pub fn stop(&self) {
        for &fd in &self.fds {
            // SAFETY: shutdown(2) on a listening socket owned by this core's accept
            // task, which lives until the executor ends; it neither closes nor frees it.
            unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
        }
    }
}

/// Sets `O_NONBLOCK` on the open file description behind `fd`.
fn set_nonblocking(fd: RawFd) -> std::io::Result<()> {
    // SAFETY: fcntl(2) on a descriptor this core owns; no memory is passed.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    // SAFETY: as above.
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

async fn accept_loop(core: Rc<Core>, listener: TcpListener, mode: Mode) {
    loop {
        match listener.accept().await {
            Ok(stream) => {
                glommio::spawn_local(super::glommio::serve(core.clone(), stream, mode)).detach();
            }
            Err(_) if core.global.shutdown.is_fired() => return,
            Err(e) => {
                log::warn!("accept failed: {e}");
                glommio::timer::sleep(ACCEPT_RETRY_INTERVAL).await;
            }
        }
    }
}

/// Starts this core's ring loop and a multishot accept on each listener.
fn start_uring(
    core: &Rc<Core>,
    driver: Rc<super::uring::ring::Driver>,
    sockets: &[OwnedFd],
    mode: Mode,
) {
    super::uring::install(&driver);
    let arrived = core.clone();
    driver.on_arrivals(Box::new(move |inputs| {
        crate::exec::prefetch_arrivals(&arrived, inputs)
    }));
    glommio::spawn_local(driver.clone().run()).detach();
    for socket in sockets {
        let weak = Rc::downgrade(&driver);
        let serving = core.clone();
        let global = core.global.clone();
        driver.accept(Rc::new(Acceptor {
            fd: socket.as_raw_fd(),
            on_accept: Box::new(move |stream| {
                if let Some(driver) = weak.upgrade() {
                    glommio::spawn_local(super::uring::serve(
                        driver,
                        serving.clone(),
                        stream,
                        mode,
                    ))
                    .detach();
                }
            }),
            stopped: Box::new(move || global.shutdown.is_fired()),
        }));
    }
}
