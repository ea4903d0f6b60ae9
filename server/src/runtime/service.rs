//! The server as a system service, as redis-server behaves under a service manager:
//! `daemonize yes` (fork into the background), the `pidfile`, the `bind` list with
//! Redis's `-` prefix (skip an address the host does not have) and `*`, and
//! `supervised systemd`: `READY=1` once the data is loaded and connections are
//! accepted, `STOPPING=1` when shutdown starts (sd_notify over `NOTIFY_SOCKET`;
//! shard 0's main calls both).

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sd_notify::NotifyState;

use crate::config::Config;
use crate::shard::global::Global;

/// The pid file `daemonize yes` writes when `pidfile` names none (Redis's is
/// `/var/run/redis.pid`).
const DAEMON_PIDFILE_DEFAULT: &str = "/var/run/corekv.pid";
/// How often readiness looks whether the data finished loading.
const READY_POLL_INTERVAL: Duration = Duration::from_millis(5);

/// Whether the service manager wants sd_notify messages: `supervised systemd`, or
/// `supervised auto` with `NOTIFY_SOCKET` set (as Redis decides).
pub fn notifies_systemd(config: &Config) -> bool {
    match config.get("supervised").as_str() {
        "systemd" => true,
        "auto" => std::env::var_os("NOTIFY_SOCKET").is_some(),
        _ => false,
    }
}

/// Whether to fork into the background: `daemonize yes` unless supervised.
pub fn runs_in_background(config: &Config) -> bool {
    config.get("daemonize") == "yes" && config.get("supervised") == "no"
}

/// Forks into the background (a new session, standard streams on /dev/null).
/// Must run before any thread starts.
pub fn daemonize() -> Result<(), String> {
    // SAFETY: daemon(3) forks; called while the process has a single thread.
    if unsafe { libc::daemon(1, 0) } != 0 {
        return Err(format!(
            "can't daemonize: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// The pid file, removed when dropped (at exit).
#[derive(Debug)]
pub struct PidFile(PathBuf);

impl PidFile {
    /// Writes the pid file `pidfile` names (or the default when in the background);
    /// `None` when there is none to write.
    pub fn create(config: &Config, background: bool) -> Result<Option<PidFile>, String> {
        let mut path = config.get("pidfile");
        if path.is_empty() {
            if !background {
                return Ok(None);
            }
            path = DAEMON_PIDFILE_DEFAULT.into();
        }
        std::fs::write(&path, format!("{}\n", std::process::id()))
            .map_err(|e| format!("can't write the pid file {path}: {e}"))?;
        Ok(Some(PidFile(path.into())))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The addresses `bind` names on `port`: `*` is every IPv4 address, `::*` every
/// IPv6 one, and an address prefixed with `-` is skipped when the host lacks it.
pub fn bind_addrs(bind: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    let mut addrs = Vec::new();
    for word in bind.split_whitespace() {
        let (optional, host) = match word.strip_prefix('-') {
            Some(host) => (true, host),
            None => (false, word),
        };
        let host = match host {
            "*" => "0.0.0.0",
            "::*" => "::",
            host => host,
        };
        let found: Vec<SocketAddr> = match (host, port).to_socket_addrs() {
            Ok(found) => found.collect(),
            Err(_) if optional => Vec::new(),
            Err(e) => return Err(format!("bad bind address {host}: {e}")),
        };
        for addr in found {
            if optional && !available(addr) {
                log::warn!("bind: skipping {addr}, which this host does not have");
                continue;
            }
            addrs.push(addr);
        }
    }
    if addrs.is_empty() {
        return Err(format!("no address of bind '{bind}' can be listened on"));
    }
    Ok(addrs)
}

/// Whether the host has `addr` (a port in use still counts as available).
fn available(addr: SocketAddr) -> bool {
    match std::net::TcpListener::bind(addr) {
        Ok(_) => true,
        Err(e) => !matches!(
            e.raw_os_error(),
            Some(libc::EADDRNOTAVAIL | libc::EAFNOSUPPORT)
        ),
    }
}

/// Logs, once at start, what the configuration asked for that corekv does not do.
pub fn log_configuration(config: &Config) {
    let mut reasons: Vec<&str> = config.ignored_given.iter().map(|p| p.help).collect();
    reasons.dedup();
    reasons.sort_unstable();
    reasons.dedup();
    for reason in reasons {
        let names: Vec<&str> = config
            .ignored_given
            .iter()
            .filter(|p| p.help == reason)
            .map(|p| p.name)
            .collect();
        log::info!("ignored ({reason}): {}", names.join(", "));
    }
    if notifies_systemd(config) {
        log::info!("Supervised by systemd. Please make sure you set appropriate values for TimeoutStartSec and TimeoutStopSec in your service unit.");
    }
}

/// Runs on shard 0 once it listens: when the data is loaded, logs that the server
/// is ready and tells systemd (`READY=1`).
pub async fn announce_ready(global: Arc<Global>) {
    while global.is_loading() {
        if global.shutdown.is_fired() {
            return;
        }
        glommio::timer::sleep(READY_POLL_INTERVAL).await;
    }
    log::info!("Ready to accept connections");
    if notifies_systemd(&global.config) {
        notify(&[
            NotifyState::Ready,
            NotifyState::Status("Ready to accept connections"),
        ]);
    }
}

/// Called by shard 0 when shutdown starts: tells systemd (`STOPPING=1`).
pub fn announce_stopping(global: &Global) {
    if notifies_systemd(&global.config) {
        notify(&[NotifyState::Stopping]);
    }
}

fn notify(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        log::warn!("can't notify systemd: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_skips_optional_addresses_the_host_lacks() {
        let port = 0;
        let addrs = bind_addrs("127.0.0.1 -192.0.2.123", port).unwrap();
        assert_eq!(addrs, vec!["127.0.0.1:0".parse().unwrap()]);
        assert!(bind_addrs("192.0.2.123", port).unwrap().len() == 1);
        assert!(bind_addrs("-192.0.2.123", port).is_err());
        assert_eq!(
            bind_addrs("*", port).unwrap(),
            vec!["0.0.0.0:0".parse().unwrap()]
        );
    }
}
