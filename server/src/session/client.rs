//! One connection's state: what command handlers see ([`Client`]) and what
//! `CLIENT LIST` shows of it ([`ClientInfo`], shared with the core's registry).

use std::cell::RefCell;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::time::Instant;

use corekv_replication::handshake::SyncRequest;

use super::input::Input;
use super::outbox::Outbox;
use crate::config::OutputClass;
use crate::net::addr::ClientAddr;
use crate::shard::blocking::PeerWatch;

/// Per-connection state the command handlers see.
pub struct Client {
    pub id: u64,
    pub db: usize,
    pub authenticated: bool,
    /// Set by `QUIT`: stop after writing this batch's replies.
    pub closing: bool,
    pub info: Rc<RefCell<ClientInfo>>,
    /// What a replica announced with `REPLCONF listening-port` / `ip-address`.
    pub replica_port: u16,
    pub replica_ip: Option<String>,
    /// Set by `CKV.SYNC`: the connection becomes a replication stream.
    pub handover: Option<HandOver>,
    /// What the connection is subscribed to (pub/sub).
    pub subs: crate::pubsub::subs::ClientSubs,
    /// `MULTI`'s queue and `WATCH`'s session.
    pub multi: crate::exec::multi::state::Multi,
    /// `CLIENT REPLY`: whether the session sends replies.
    pub reply: ReplyMode,
}

/// `CLIENT REPLY`: which replies the session sends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ReplyMode {
    #[default]
    On,
    /// None until `CLIENT REPLY ON`.
    Off,
    /// None for the next command.
    Skip,
}

impl Client {
    /// Notes the command the client called at `now` as its last: `CLIENT LIST`'s
    /// `cmd=`, by its full name (`None`, shown `NULL` as in Redis, for an unknown
    /// command or subcommand).
    pub fn note_command(&self, name: Option<&'static str>, now: Instant) {
        let mut info = self.info.borrow_mut();
        info.last_cmd = name.unwrap_or("NULL");
        info.last_active = now;
    }

    pub fn set_db(&mut self, db: usize) {
        self.db = db;
        self.info.borrow_mut().db = db;
    }
}

/// What `CLIENT LIST` shows of one connection.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub id: u64,
    pub addr: ClientAddr,
    pub laddr: ClientAddr,
    pub fd: RawFd,
    /// Whether the peer has closed the connection, for a shard about to pop an
    /// element for the client while it waits in a blocking command.
    pub peer: PeerWatch,
    pub name: String,
    pub lib_name: String,
    pub lib_ver: String,
    pub created: Instant,
    pub last_active: Instant,
    pub db: usize,
    pub last_cmd: &'static str,
    pub resp: u8,
    pub qbuf: usize,
    /// Bytes the connection's input buffers hold allocated.
    pub input_alloc_bytes: usize,
    pub pubsub: bool,
    /// Waiting in a blocking command (`BLPOP`, ...).
    pub blocked: bool,
    /// What `CLIENT LIST` counts and flags beyond the above, kept current by
    /// the session after each batch chunk ([`crate::commands::client`]).
    pub ops: OpsInfo,
    /// The connection's pending output (`omem`).
    pub outbox: Rc<Outbox>,
    /// The connection's input buffer, which the core frees when the connection is
    /// idle ([`super::registry::Registry::shrink_idle_inputs`]).
    pub input: Rc<Input>,
}

impl ClientInfo {
    /// The output-buffer limit class the client is in.
    pub fn class(&self) -> OutputClass {
        if self.pubsub {
            OutputClass::Pubsub
        } else {
            OutputClass::Normal
        }
    }

    /// Whether the `timeout` parameter may close it: as in Redis, never while it
    /// waits in a blocking command or listens as a subscriber.
    pub fn idle_closable(&self) -> bool {
        !self.pubsub && !self.blocked
    }

    /// One `CLIENT LIST` line, fields as Redis 7 prints them.
    pub fn line(&self) -> String {
        self.line_with_omem(self.outbox.pending_bytes())
    }

    /// [`line`](Self::line) with the pending output given (what it was when a
    /// limit closed the client and discarded it).
    pub fn line_with_omem(&self, omem: u64) -> String {
        let now = Instant::now();
        let tot_mem = omem + self.input_alloc_bytes as u64;
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} qbuf={} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=16384 rbp=0 obl=0 oll={} omem={omem} tot-mem={tot_mem} events=r cmd={} user=default redir=-1 resp={} lib-name={} lib-ver={}",
            self.id,
            self.addr,
            self.laddr,
            self.fd,
            self.name,
            now.duration_since(self.created).as_secs(),
            now.duration_since(self.last_active).as_secs(),
            self.ops.flags(self.pubsub, self.blocked, matches!(self.addr, ClientAddr::Unix(_))),
            self.db,
            self.ops.sub,
            self.ops.psub,
            self.ops.ssub,
            self.ops.multi,
            self.qbuf,
            self.outbox.queued_chunks(),
            self.last_cmd,
            self.resp,
            self.lib_name,
            self.lib_ver,
        )
    }
}

/// `CLIENT LIST` fields the connection's commands change.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpsInfo {
    /// `MONITOR` was sent (flag `O`).
    pub monitor: bool,
    /// `CLIENT NO-EVICT ON` (flag `e`).
    pub no_evict: bool,
    pub sub: usize,
    pub psub: usize,
    pub ssub: usize,
    /// Commands `MULTI` queued, or -1 outside a transaction (flag `x` when not -1).
    pub multi: i64,
}

impl OpsInfo {
    /// The `flags=` letters, in Redis's order; `N` for none.
    fn flags(&self, pubsub: bool, blocked: bool, unix: bool) -> String {
        let mut flags = String::new();
        for (on, letter) in [
            (self.monitor, 'O'),
            (pubsub, 'P'),
            (self.multi >= 0, 'x'),
            (blocked, 'b'),
            (unix, 'U'),
            (self.no_evict, 'e'),
        ] {
            if on {
                flags.push(letter);
            }
        }
        if flags.is_empty() {
            flags.push('N');
        }
        flags
    }
}

/// A `CKV.SYNC` request and who sent it, moved with the socket to the shard's core.
#[derive(Debug)]
pub struct HandOver {
    pub request: SyncRequest,
    /// The replica's address and client port, for `INFO` and `ROLE`.
    pub ip: String,
    pub port: u16,
}
