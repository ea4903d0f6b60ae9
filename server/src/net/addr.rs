//! A client's address as the server shows it: a TCP `ip:port`, or the server's
//! Unix socket path written as Redis writes it (`/path:0`, for both ends), in
//! `CLIENT LIST`, `CLIENT KILL ADDR`, `SLOWLOG` and the logs.
//!
//! The driver reads both ends from the accepted descriptor ([`ClientAddr::of`]);
//! an accepted Unix connection has no name of its own, so the path shown is the
//! one the server listens on ([`set_unix_path`], once at start).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::{BorrowedFd, RawFd};
use std::str::FromStr;
use std::sync::OnceLock;

/// The `unixsocket` path the server listens on, kept for the addresses of the
/// connections it accepts there.
static UNIX_PATH: OnceLock<&'static str> = OnceLock::new();

/// Records the listening Unix socket's path (once, before any core accepts).
pub fn set_unix_path(path: &str) {
    let _ = UNIX_PATH.set(Box::leak(path.to_owned().into_boxed_str()));
}

/// Where a client connected from (or to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAddr {
    Tcp(SocketAddr),
    /// The server's Unix socket (its path).
    Unix(&'static str),
}

impl ClientAddr {
    /// The peer's and the local address of a connected socket.
    pub fn of(fd: RawFd) -> Option<(ClientAddr, ClientAddr)> {
        // SAFETY: the caller's connection owns `fd` for the duration of the call.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let sock = socket2::SockRef::from(&fd);
        let local = sock.local_addr().ok()?;
        if let Some(local) = local.as_socket() {
            let peer = sock.peer_addr().ok()?.as_socket()?;
            return Some((ClientAddr::Tcp(peer), ClientAddr::Tcp(local)));
        }
        let path = ClientAddr::Unix(UNIX_PATH.get()?);
        Some((path, path))
    }

    /// The IP address; a Unix socket client counts as local (`127.0.0.1`), as
    /// Redis's `connIsLocal` counts it for protected mode and `DEBUG`.
    pub fn ip(&self) -> IpAddr {
        match self {
            ClientAddr::Tcp(addr) => addr.ip(),
            ClientAddr::Unix(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        }
    }

    /// The form `MONITOR` shows: `ip:port`, or `unix:/path` as Redis.
    pub fn monitor_form(&self) -> String {
        match self {
            ClientAddr::Tcp(addr) => addr.to_string(),
            ClientAddr::Unix(path) => format!("unix:{path}"),
        }
    }
}

impl fmt::Display for ClientAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientAddr::Tcp(addr) => addr.fmt(f),
            ClientAddr::Unix(path) => write!(f, "{path}:0"),
        }
    }
}

impl From<SocketAddr> for ClientAddr {
    fn from(addr: SocketAddr) -> ClientAddr {
        ClientAddr::Tcp(addr)
    }
}

impl FromStr for ClientAddr {
    type Err = std::net::AddrParseError;

    /// A TCP `ip:port`.
    fn from_str(text: &str) -> Result<ClientAddr, Self::Err> {
        text.parse().map(ClientAddr::Tcp)
    }
}
