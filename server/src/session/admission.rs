//! Whether a new connection is admitted: protected mode and `maxclients`, refused
//! with Redis's texts before the connection gets a session; and, once admitted, how
//! large a request it may send: a client that owes a password may send only Redis's
//! small unauthenticated requests, one at a time, so a flood of huge `AUTH`
//! arguments is refused at its header and never buffered.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::Ordering;

use corekv_engine::resp::FrameLimits;

use crate::net::addr::ClientAddr;
use crate::session::Client;
use crate::shard::Core;

/// Redis's protected-mode refusal.
const PROTECTED_MODE_DENIED: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

const MAXCLIENTS_REACHED: &str = "-ERR max number of clients reached\r\n";

/// Whether protected mode admits `addr` without a password: `127.0.0.1` and `::1`
/// only, as Redis 7.0 (not every `127/8` address).
fn is_local(addr: &ClientAddr) -> bool {
    match addr.ip() {
        IpAddr::V4(ip) => ip == Ipv4Addr::LOCALHOST,
        IpAddr::V6(ip) => {
            ip == Ipv6Addr::LOCALHOST || ip.to_ipv4_mapped() == Some(Ipv4Addr::LOCALHOST)
        }
    }
}

/// Protected mode and `maxclients`: Redis's refusal text, or `None` to admit.
pub fn refusal(core: &Core, addr: &ClientAddr) -> Option<&'static str> {
    let hot = &core.global.config.hot;
    if hot.protected_mode.load(Ordering::Relaxed)
        && !hot.auth_required.load(Ordering::Relaxed)
        && !is_local(addr)
    {
        return Some(PROTECTED_MODE_DENIED);
    }
    if core.global.connected_clients.load(Ordering::Relaxed)
        >= hot.maxclients.load(Ordering::Relaxed)
    {
        return Some(MAXCLIENTS_REACHED);
    }
    None
}

/// How the session frames a client's next requests.
#[derive(Debug, Clone, Copy)]
pub struct Framing {
    pub limits: FrameLimits,
    /// Requests framed before any runs. One while the client owes a password, so an
    /// `AUTH` runs before the request after it is framed under the client's limits.
    pub batch_commands_max: usize,
}

/// The framing for `client`'s next requests.
pub fn framing(core: &Core, client: &Client) -> Framing {
    let hot = &core.global.config.hot;
    let authenticated = client.authenticated || !hot.auth_required.load(Ordering::Relaxed);
    Framing {
        limits: FrameLimits {
            bulk_len_max: hot.proto_max_bulk_len.load(Ordering::Relaxed),
            authenticated,
        },
        batch_commands_max: if authenticated { usize::MAX } else { 1 },
    }
}
