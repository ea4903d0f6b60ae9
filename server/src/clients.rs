//! The client registry of one core: what `CLIENT LIST`, `CLIENT INFO` and
//! `CLIENT KILL` see. A connection registers itself on its home core; a `CLIENT`
//! command fans out to every core's registry.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::time::Instant;

/// What `CLIENT LIST` shows of one connection.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub id: u64,
    pub addr: SocketAddr,
    pub laddr: SocketAddr,
    pub fd: RawFd,
    pub name: String,
    pub lib_name: String,
    pub lib_ver: String,
    pub created: Instant,
    pub last_active: Instant,
    pub db: usize,
    pub last_cmd: &'static str,
    pub resp: u8,
    pub qbuf: usize,
    pub pubsub: bool,
}

impl ClientInfo {
    /// One `CLIENT LIST` line, fields as Redis 7 prints them.
    pub fn line(&self) -> String {
        let now = Instant::now();
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub=0 psub=0 ssub=0 multi=-1 qbuf={} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=16384 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd={} user=default redir=-1 resp={} lib-name={} lib-ver={}",
            self.id,
            self.addr,
            self.laddr,
            self.fd,
            self.name,
            now.duration_since(self.created).as_secs(),
            now.duration_since(self.last_active).as_secs(),
            if self.pubsub { "P" } else { "N" },
            self.db,
            self.qbuf,
            self.last_cmd,
            self.resp,
            self.lib_name,
            self.lib_ver,
        )
    }
}

/// Which clients a `CLIENT KILL` or `CLIENT LIST` addresses.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub ids: Option<Vec<u64>>,
    pub addr: Option<String>,
    pub laddr: Option<String>,
    /// `normal`, `pubsub`, `master`, `replica`.
    pub kind: Option<String>,
    /// The calling client, skipped when set (`SKIPME yes`).
    pub skip: Option<u64>,
}

impl Filter {
    fn matches(&self, c: &ClientInfo) -> bool {
        let kind = if c.pubsub { "pubsub" } else { "normal" };
        self.ids.as_ref().is_none_or(|ids| ids.contains(&c.id))
            && self.addr.as_ref().is_none_or(|a| *a == c.addr.to_string())
            && self
                .laddr
                .as_ref()
                .is_none_or(|a| *a == c.laddr.to_string())
            && self.kind.as_ref().is_none_or(|k| k == kind)
            && self.skip != Some(c.id)
    }
}

#[derive(Debug, Clone)]
pub enum ClientsOp {
    List(Filter),
    Kill(Filter),
}

#[derive(Debug)]
pub enum ClientsReply {
    Lines(Vec<String>),
    Killed(usize),
}

#[derive(Default)]
pub struct Registry {
    clients: BTreeMap<u64, Rc<RefCell<ClientInfo>>>,
}

impl Registry {
    pub fn add(&mut self, info: Rc<RefCell<ClientInfo>>) {
        let id = info.borrow().id;
        self.clients.insert(id, info);
    }

    pub fn remove(&mut self, id: u64) {
        self.clients.remove(&id);
    }

    pub fn len(&self) -> usize {
        self.clients.len()
    }

    /// Closes clients idle for longer than `timeout` (the `timeout` parameter).
    pub fn close_idle(&self, timeout: std::time::Duration) {
        let now = Instant::now();
        for c in self.clients.values() {
            let c = c.borrow();
            if now.duration_since(c.last_active) > timeout {
                log::debug!("closing idle client {}", c.id);
                shutdown_socket(c.fd);
            }
        }
    }

    pub fn apply(&mut self, op: ClientsOp) -> ClientsReply {
        match op {
            ClientsOp::List(f) => ClientsReply::Lines(
                self.clients
                    .values()
                    .map(|c| c.borrow())
                    .filter(|c| f.matches(c))
                    .map(|c| c.line())
                    .collect(),
            ),
            ClientsOp::Kill(f) => {
                let mut killed = 0;
                for c in self.clients.values() {
                    let c = c.borrow();
                    if f.matches(&c) {
                        shutdown_socket(c.fd);
                        killed += 1;
                    }
                }
                ClientsReply::Killed(killed)
            }
        }
    }
}

/// Ends a connection from outside its task: shutting the socket down makes the task's
/// pending read return, and the task then cleans up and deregisters itself.
fn shutdown_socket(fd: RawFd) {
    // SAFETY: `fd` is the live socket of a registered connection; shutdown(2) does not
    // close or invalidate it.
    unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
}
