//! Publish/subscribe across cores, and keyspace notifications published through it.
//!
//! A subscriber is a connection; it lives on the core that accepted it, so each core
//! keeps the subscriptions of its own connections ([`registry::Local`]) and a
//! message is delivered by the cores that have receivers for it:
//!
//! ```text
//!  PUBLISH ch msg (core A)
//!    ├─ core A's table ──► its subscribers' outboxes (at once)
//!    └─ Summary: which other cores have ch's bucket or any pattern
//!         └─ mesh Msg::Publish ──► core B's table ──► outboxes; answers a count
//!  reply: the sum of the receivers, after every core delivered
//! ```
//!
//! [`registry::Summary`] is the replicated part: per bucket of channel hashes one
//! bit per core, and one bit per core that has pattern subscriptions. A core flips
//! its bit when its own count goes between zero and one, so a publish sends nothing
//! to cores that cannot have a receiver (most of them, for a Sentinel's hello
//! channel or a chat room), at the cost of one atomic load per publish. Broadcast
//! would cost every publish a round trip to each other core, waited for because
//! `PUBLISH` answers the receiver count: on 4 shards, 200 publishes to a channel
//! nobody hears make 600 hops with broadcast and none with the summary
//! (`cross_shard_hops`, tested). Since a subscription sets its bit before its
//! confirmation leaves, a publish that starts after a subscriber saw its
//! confirmation always reaches that subscriber.
//!
//! Messages that reach a connection while its session runs a batch wait for that
//! batch's replies ([`crate::session::outbox::Outbox::hold`]), so a message never
//! splits or overtakes them; the publisher's own copy (a RESP3 subscriber may
//! publish) goes into its replies ahead of the count, as Redis puts it.
//!
//! Keyspace notifications ([`notify`]) are published from the shard where the key
//! changed: one shard's notifications arrive in order, two shards' are not ordered
//! between each other (`RENAME` across shards may deliver `rename_to` first).
//!
//! Ordering: a publisher awaits every core's answer before its next command runs,
//! and the mesh channels are FIFO, so one publisher's messages arrive in order.
//!
//! A subscriber's messages go to its [outbox](crate::session::outbox) under the
//! `pubsub` class of `client-output-buffer-limit`: one that does not read is cut
//! off there, so memory stays bounded whatever the publishers do.
//!
//! The commands are in [`crate::commands::pubsub`]; the per-client side (what a
//! connection is subscribed to, subscribed mode) is [`subs::ClientSubs`]; what
//! `PUBSUB` and `INFO` count over every core is [`introspect`].

pub mod fanout;
pub mod introspect;
pub mod message;
pub mod notify;
pub mod registry;
pub mod subs;

use bytes::Bytes;
use corekv_engine::error::CmdError;
use corekv_engine::resp::{Args, Protocol, Reply, ReplyBuf};

use crate::commands::Spec;
use crate::session::client::Client;
use crate::shard::Core;
use subs::Kind;

/// Commands a RESP2 connection may run in subscribed mode.
const ALLOWED_IN_SUBSCRIBED_MODE: &[&str] = &[
    "subscribe",
    "ssubscribe",
    "unsubscribe",
    "sunsubscribe",
    "psubscribe",
    "punsubscribe",
    "ping",
    "quit",
    "reset",
];

/// Container commands: Redis names a refused one by its subcommand (`config|get`).
const CONTAINERS: &[&str] = &["client", "command", "config", "debug", "object", "pubsub"];

/// Redis's refusal of a command a RESP2 connection in subscribed mode may not run
/// (a RESP3 connection may run any).
pub fn refusal(client: &Client, spec: &Spec, args: &Args) -> Option<CmdError> {
    if !client.subs.active() || client.info.borrow().resp != 2 {
        return None;
    }
    if ALLOWED_IN_SUBSCRIBED_MODE.contains(&spec.name) {
        return None;
    }
    let name = match args.get(1) {
        Some(sub) if CONTAINERS.contains(&spec.name) => {
            format!(
                "{}|{}",
                spec.name,
                String::from_utf8_lossy(sub).to_lowercase()
            )
        }
        _ => spec.name.to_string(),
    };
    Some(CmdError::Raw(format!(
        "ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
    )))
}

/// `PING` of a RESP2 connection in subscribed mode: `["pong", arg or ""]`. Returns
/// whether it answered.
pub fn subscribed_ping(client: &Client, spec: &Spec, args: &Args, out: &mut ReplyBuf) -> bool {
    if spec.name != "ping" || out.protocol() != Protocol::Resp2 || !client.subs.active() {
        return false;
    }
    if args.len() > 2 {
        return false;
    }
    out.array(2);
    out.bulk(b"pong");
    out.bulk(args.get(1).map_or(&b""[..], |a| &a[..]));
    true
}

/// Drops every subscription of a connection that closes or runs `RESET`.
pub fn unsubscribe_all(core: &Core, client: &mut Client) {
    if !client.subs.active() {
        return;
    }
    let mut local = core.pubsub.borrow_mut();
    for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
        for name in client.subs.set_mut(kind).drain() {
            local.unsubscribe(&core.global.pubsub, kind, &name, client.id);
        }
    }
    client.info.borrow_mut().pubsub = false;
}

/// Drops connection `id`'s subscriptions from this core's tables: its peer went
/// away, and the session, which closes later, then finds nothing left to undo.
pub fn forget_client(core: &Core, id: u64) {
    let mut local = core.pubsub.borrow_mut();
    for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
        let names: Vec<Bytes> = local
            .table(kind)
            .iter()
            .filter(|(_, subs)| subs.iter().any(|(i, _)| *i == id))
            .map(|(name, _)| name.clone())
            .collect();
        for name in names {
            local.unsubscribe(&core.global.pubsub, kind, &name, id);
        }
    }
}

/// Subscribes the connection to `name`; returns the count its confirmation shows.
pub fn subscribe(core: &Core, client: &mut Client, kind: Kind, name: &Bytes) -> usize {
    if client.subs.set_mut(kind).insert(name.clone()) {
        let mut local = core.pubsub.borrow_mut();
        local.subscribe(&core.global.pubsub, kind, name, client.id, &client.info);
    }
    client.info.borrow_mut().pubsub = true;
    client.subs.count(kind)
}

/// Unsubscribes the connection from `name`; returns the count its confirmation
/// shows.
pub fn unsubscribe(core: &Core, client: &mut Client, kind: Kind, name: &[u8]) -> usize {
    if client.subs.set_mut(kind).remove(name) {
        let mut local = core.pubsub.borrow_mut();
        local.unsubscribe(&core.global.pubsub, kind, name, client.id);
    }
    if !client.subs.active() {
        client.info.borrow_mut().pubsub = false;
    }
    client.subs.count(kind)
}

/// The names the connection is subscribed to in `kind`'s namespace.
pub fn names(client: &Client, kind: Kind) -> Vec<Bytes> {
    client.subs.set(kind).iter().cloned().collect()
}
