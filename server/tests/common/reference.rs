//! The reference `redis-server`, and the check that a port is served by the process
//! a test started. A free port can be taken by another test's server between
//! [`free_port`] and the child's `bind`: the child then exits, and a bare "does the
//! port answer" wait would hand the test someone else's server, which goes away when
//! that test ends (`Connection reset by peer` mid-test).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{free_port, READ_TIMEOUT, START_ATTEMPTS};

/// Pause between looks at a starting process's port.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Whether the server on `port` is process `pid`, from its `INFO server`
/// `process_id`: `None` while nothing answers there.
pub fn answers_as(port: u16, pid: u32) -> Option<bool> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(READ_TIMEOUT)).ok()?;
    stream
        .write_all(b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n")
        .ok()?;
    let mut text = Vec::new();
    let mut chunk = [0u8; 4096];
    let needle = b"process_id:";
    loop {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        text.extend_from_slice(&chunk[..n]);
        let Some(at) = find(&text, needle) else {
            continue;
        };
        let digits = &text[at + needle.len()..];
        let Some(end) = digits.iter().position(|&b| b == b'\r') else {
            continue;
        };
        let id = std::str::from_utf8(&digits[..end])
            .ok()?
            .parse::<u32>()
            .ok()?;
        return Some(id == pid);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Waits until `child` serves `port`: `true` once it answers as itself, `false` if it
/// exited or another process answers there (the port was taken meanwhile).
pub fn wait_serving(child: &mut Child, port: u16, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return false;
        }
        match answers_as(port, child.id()) {
            Some(mine) => return mine,
            None => {
                assert!(Instant::now() < deadline, "port {port} never answered");
                std::thread::sleep(POLL_INTERVAL);
            }
        }
    }
}

/// The reference: a `redis-server` on a free port, without persistence; killed on drop.
pub struct Redis {
    child: Child,
    pub port: u16,
}

impl Redis {
    pub fn start() -> Redis {
        for _ in 0..START_ATTEMPTS {
            let port = free_port();
            let mut child = Command::new(redis_server())
                .args([
                    "--port",
                    &port.to_string(),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("run redis-server");
            if wait_serving(&mut child, port, READ_TIMEOUT) {
                return Redis { child, port };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("redis-server found no free port in {START_ATTEMPTS} attempts");
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn redis_server() -> PathBuf {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("redis-server"))
        .find(|p| p.is_file())
        .expect("redis-server is not installed: `apt-get install redis-server` (Debian/Ubuntu)")
}
