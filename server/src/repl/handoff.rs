//! A planned switchover without lost writes: when Sentinel promotes this replica
//! (`SLAVEOF NO ONE` from its command connection, named `sentinel-<id>-cmd`) while
//! every shard's link to the master is up, the master is still serving, so this is
//! `SENTINEL FAILOVER` (or a failover the master can still take part in), and the
//! roles are swapped the way Redis's `FAILOVER` command swaps them:
//!
//! ```text
//!  replica                                  master
//!  CKV.PAUSE ms  ─────────────────────────► holds every new write; once in-flight
//!                ◄───────────────────────── ones are done: +PAUSED <LSN per shard>
//!  waits until each shard applied its LSN
//!  promotes itself (REPLICAOF NO ONE)
//!  REPLICAOF <this ip> <this port> ───────► follows the new master (a partial
//!                                           resync: same LSNs); held writes get
//!                                           -READONLY and their clients ask
//!                                           Sentinel again
//! ```
//!
//! Every write the old master acknowledged is on the new one. Any step that fails
//! or takes longer than [`HANDOFF_TIMEOUT`] leaves a plain promotion (Redis's
//! behaviour); the master's pause then ends at its deadline, and Sentinel points the
//! old master at the new one later as usual.

use std::future::Future;
use std::time::{Duration, Instant};

use futures::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;

use crate::repl::role::MasterAddr;
use crate::shard::global::Global;
use crate::shard::Core;

/// The longest a switchover may take before the promotion goes ahead alone.
pub const HANDOFF_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the master holds writes: past the handoff's own deadline, so it never
/// resumes them before it follows the new master.
pub const PAUSE_MS: u64 = 3_000;
/// The client name prefix of Sentinel's command connection.
const SENTINEL_NAME_PREFIX: &str = "sentinel-";
/// How often the catch-up looks at this replica's LSNs.
const CATCH_UP_POLL_INTERVAL: Duration = Duration::from_millis(2);
/// The longest reply line read from the master.
const REPLY_LINE_BYTES_MAX: usize = 4096;

/// Whether a promotion asked by the client named `client_name` is a planned
/// switchover: Sentinel asks, and every link to the master is up.
pub fn planned(core: &Core, client_name: &str) -> bool {
    client_name.starts_with(SENTINEL_NAME_PREFIX)
        && core.global.repl.is_replica()
        && core
            .global
            .repl
            .link_up
            .load(std::sync::atomic::Ordering::Acquire)
}

/// The old master, paused, with this replica caught up with it.
pub struct Handoff {
    stream: TcpStream,
    /// Where the old master is to find this server.
    me: MasterAddr,
    deadline: Instant,
}

/// Pauses the master's writes and waits until this replica applied all of them;
/// `lsns` reads this server's last LSN per shard.
pub async fn prepare<F, Fut>(core: &Core, master: &MasterAddr, lsns: F) -> Result<Handoff, String>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Vec<u64>>,
{
    let g = &core.global;
    let deadline = Instant::now() + HANDOFF_TIMEOUT;
    let pause = PAUSE_MS.to_string();
    let (stream, paused) = request_as_replica(
        g,
        master,
        HANDOFF_TIMEOUT,
        &[b"CKV.PAUSE", pause.as_bytes()],
    )
    .await?;
    let targets = parse_paused(&paused)?;
    if targets.len() != core.shards() {
        return Err(format!("the master has {} shards", targets.len()));
    }
    loop {
        let lsns = lsns().await;
        if lsns.iter().zip(&targets).all(|(have, want)| have >= want) {
            break;
        }
        if Instant::now() >= deadline || !g.repl.is_replica() {
            return Err(format!(
                "not caught up: at {lsns:?}, the master at {targets:?}"
            ));
        }
        glommio::timer::sleep(CATCH_UP_POLL_INTERVAL).await;
    }
    let announce_ip = g.config.get("replica-announce-ip");
    let host = match announce_ip.is_empty() {
        true => stream
            .local_addr()
            .map_err(|e| e.to_string())?
            .ip()
            .to_string(),
        false => announce_ip,
    };
    let port = match g.config.get_u64("replica-announce-port") as u16 {
        0 => g.port,
        announced => announced,
    };
    Ok(Handoff {
        stream,
        me: MasterAddr { host, port },
        deadline,
    })
}

impl Handoff {
    /// Once promoted: points the old master at this server.
    pub async fn finish(mut self) -> Result<MasterAddr, String> {
        if Instant::now() >= self.deadline {
            return Err("out of time".into());
        }
        let mut out = Vec::new();
        let port = self.me.port.to_string();
        encode(
            &mut out,
            &[b"REPLICAOF", self.me.host.as_bytes(), port.as_bytes()],
        );
        self.stream
            .write_all(&out)
            .await
            .map_err(|e| e.to_string())?;
        let mut input = Vec::new();
        expect_ok(&read_line(&mut self.stream, &mut input).await?)?;
        Ok(self.me)
    }
}

/// A request as a RESP array of bulk strings.
/// Connects to the peer at `peer` (with `timeout` for the connection and each
/// read), authenticates with `masteruser`/`masterauth` if set, pipelined with the
/// request `args`; returns the stream and the request's reply line.
pub(super) async fn request_as_replica(
    g: &Global,
    peer: &MasterAddr,
    timeout: Duration,
    args: &[&[u8]],
) -> Result<(TcpStream, String), String> {
    let addr = format!("{}:{}", peer.host, peer.port);
    let mut stream = TcpStream::connect_timeout(addr.as_str(), timeout)
        .await
        .map_err(|e| format!("can't connect to {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let password = g.config.get("masterauth");
    let user = g.config.get("masteruser");
    let mut out = Vec::new();
    match (password.is_empty(), user.is_empty()) {
        (true, _) => {}
        (false, true) => encode(&mut out, &[b"AUTH", password.as_bytes()]),
        (false, false) => encode(&mut out, &[b"AUTH", user.as_bytes(), password.as_bytes()]),
    }
    encode(&mut out, args);
    stream.write_all(&out).await.map_err(|e| e.to_string())?;
    let mut input = Vec::new();
    if !password.is_empty() {
        expect_ok(&read_line(&mut stream, &mut input).await?)?;
    }
    let reply = read_line(&mut stream, &mut input).await?;
    Ok((stream, reply))
}

pub(super) fn encode(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// The next reply line (a simple string or an error), without its CRLF.
pub(super) async fn read_line(
    stream: &mut TcpStream,
    input: &mut Vec<u8>,
) -> Result<String, String> {
    let mut chunk = [0u8; 512];
    loop {
        if let Some(end) = input.windows(2).position(|w| w == b"\r\n") {
            let line = String::from_utf8_lossy(&input[..end]).into_owned();
            input.drain(..end + 2);
            return Ok(line);
        }
        if input.len() > REPLY_LINE_BYTES_MAX {
            return Err("reply line too long".into());
        }
        let n = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("the peer closed the connection".into());
        }
        input.extend_from_slice(&chunk[..n]);
    }
}

pub(super) fn expect_ok(line: &str) -> Result<(), String> {
    match line.starts_with("+OK") {
        true => Ok(()),
        false => Err(format!("the peer answered {line}")),
    }
}

/// `+PAUSED <lsn> <lsn> ...`: the master's last LSN per shard.
fn parse_paused(line: &str) -> Result<Vec<u64>, String> {
    let bad = || format!("the master answered {line}");
    let lsns = line.strip_prefix("+PAUSED").ok_or_else(bad)?;
    lsns.split_ascii_whitespace()
        .map(|n| n.parse().map_err(|_| bad()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pause_reply_names_each_shards_last_lsn() {
        assert_eq!(parse_paused("+PAUSED 7 0 12"), Ok(vec![7, 0, 12]));
        assert!(parse_paused("-ERR unknown command 'CKV.PAUSE'").is_err());
        assert!(parse_paused("+PAUSED 7 x").is_err());
        let mut out = Vec::new();
        encode(&mut out, &[b"CKV.PAUSE", b"3000"]);
        assert_eq!(out, b"*2\r\n$9\r\nCKV.PAUSE\r\n$4\r\n3000\r\n");
    }
}
