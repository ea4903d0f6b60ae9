//! The client registry of one core: what `CLIENT LIST`, `CLIENT INFO` and
//! `CLIENT KILL` see. A connection registers itself on its home core; a `CLIENT`
//! command fans out to every core's registry. Closing a client (`CLIENT KILL`, the
//! idle timeout) closes its [outbox](super::outbox): the session wakes wherever it
//! waits and its driver ends the connection.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Instant;

use super::client::ClientInfo;
use super::input::INPUT_IDLE_SHRINK_AFTER;

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
    pub fn matches(&self, c: &ClientInfo) -> bool {
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

pub use crate::shard::answer::ClientsReply;

#[derive(Debug, Clone)]
pub enum ClientsOp {
    List(Filter),
    Kill(Filter),
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

    /// False if `id` was not registered (any more).
    pub fn remove(&mut self, id: u64) -> bool {
        self.clients.remove(&id).is_some()
    }

    pub fn len(&self) -> usize {
        self.clients.len()
    }

    /// Closes clients idle for longer than `timeout` (the `timeout` parameter),
    /// except blocked ones and subscribers.
    pub fn close_idle(&self, timeout: std::time::Duration) {
        let now = Instant::now();
        for c in self.clients.values() {
            let c = c.borrow();
            if c.idle_closable() && now.duration_since(c.last_active) > timeout {
                log::debug!("closing idle client {}", c.id);
                c.outbox.close();
            }
        }
    }

    /// Frees the drained input buffers of clients idle for
    /// [`INPUT_IDLE_SHRINK_AFTER`].
    pub fn shrink_idle_inputs(&self) {
        let now = Instant::now();
        for c in self.clients.values() {
            let mut c = c.borrow_mut();
            if now.duration_since(c.last_active) >= INPUT_IDLE_SHRINK_AFTER {
                c.input.idle();
                c.input_alloc_bytes = c.input.capacity();
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
                        c.outbox.close();
                        killed += 1;
                    }
                }
                ClientsReply::Killed(killed)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::Outbox;

    fn client(id: u64) -> Rc<RefCell<ClientInfo>> {
        let addr = "127.0.0.1:1".parse().unwrap();
        Rc::new(RefCell::new(ClientInfo {
            id,
            addr,
            laddr: addr,
            fd: -1,
            peer: crate::shard::blocking::PeerWatch::new(-1),
            name: String::new(),
            lib_name: String::new(),
            lib_ver: String::new(),
            created: Instant::now(),
            last_active: Instant::now(),
            db: 0,
            last_cmd: "NULL",
            resp: 2,
            qbuf: 0,
            input_alloc_bytes: 0,
            pubsub: false,
            blocked: false,
            ops: Default::default(),
            outbox: Rc::new(Outbox::default()),
            input: Default::default(),
        }))
    }

    #[test]
    fn kill_by_id_wakes_the_parked_session() {
        glommio::LocalExecutor::default().run(async {
            let registry = Rc::new(RefCell::new(Registry::default()));
            registry.borrow_mut().add(client(7));
            registry.borrow_mut().add(client(8));
            let outbox = |id| registry.borrow().clients[&id].borrow().outbox.clone();
            let (parked, other) = (outbox(7), outbox(8));
            let killer = registry.clone();
            let kill = glommio::spawn_local(async move {
                let by_id = Filter {
                    ids: Some(vec![7]),
                    ..Filter::default()
                };
                killer.borrow_mut().apply(ClientsOp::Kill(by_id))
            });
            parked.park(None).await;
            assert!(matches!(kill.await, ClientsReply::Killed(1)));
            assert!(parked.is_closed());
            assert!(!other.is_closed());
        });
    }
}
