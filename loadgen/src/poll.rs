//! A minimal edge-triggered epoll loop with nanosecond timeouts.
//!
//! Each worker thread owns one [`Poller`]. Sockets are registered once for input and
//! output readiness, edge-triggered, so a connection costs no `epoll_ctl` per request:
//! the worker reads until the kernel says `WouldBlock` and remembers whether the
//! socket last refused a write.
//!
//! Open-loop sends are due every few microseconds, and `epoll_wait` only sleeps in
//! whole milliseconds, which would add up to a millisecond of our own delay to every
//! measured latency. `epoll_pwait2` (Linux 5.11) takes a `timespec`; on older kernels
//! the poller falls back to `epoll_wait` and rounds sub-millisecond sleeps down to a
//! non-blocking poll, trading CPU for accuracy.

use crate::limits::POLL_EVENTS_MAX;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// Readiness of one registered socket.
#[derive(Clone, Copy, Debug)]
pub struct Event {
    pub token: u64,
    pub readable: bool,
    pub writable: bool,
}

pub struct Poller {
    epoll: OwnedFd,
    events: Vec<libc::epoll_event>,
    pwait2_supported: bool,
}

impl Poller {
    pub fn new() -> io::Result<Poller> {
        // SAFETY: plain system call; the descriptor is owned by `OwnedFd` on success.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Poller {
            // SAFETY: `fd` is a freshly created descriptor nobody else owns.
            epoll: unsafe { OwnedFd::from_raw_fd(fd) },
            events: vec![libc::epoll_event { events: 0, u64: 0 }; POLL_EVENTS_MAX],
            pwait2_supported: true,
        })
    }

    /// Watches `fd` for input, output and hang-up, edge-triggered, reporting `token`.
    pub fn register(&self, fd: RawFd, token: u64) -> io::Result<()> {
        let flags = libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET;
        let mut event = libc::epoll_event {
            events: flags as u32,
            u64: token,
        };
        // SAFETY: `event` outlives the call; the kernel copies it.
        let rc =
            unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut event) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Waits up to `timeout` for readiness; returns how many events [`Poller::event`]
    /// can read. An interrupted wait returns zero events.
    pub fn wait(&mut self, timeout: Duration) -> io::Result<usize> {
        let count = if self.pwait2_supported {
            match self.wait_pwait2(timeout) {
                Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
                    self.pwait2_supported = false;
                    self.wait_ms(timeout)
                }
                other => other,
            }
        } else {
            self.wait_ms(timeout)
        };
        match count {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(0),
            other => other,
        }
    }

    pub fn event(&self, index: usize) -> Event {
        let raw = self.events[index];
        let flags = raw.events as i32;
        let hangup = flags & (libc::EPOLLHUP | libc::EPOLLERR | libc::EPOLLRDHUP) != 0;
        Event {
            token: raw.u64,
            // A hang-up or error is reported as readable so the reader finds the EOF.
            readable: flags & libc::EPOLLIN != 0 || hangup,
            writable: flags & libc::EPOLLOUT != 0,
        }
    }

    fn wait_pwait2(&mut self, timeout: Duration) -> io::Result<usize> {
        let spec = libc::timespec {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_nsec: timeout.subsec_nanos() as libc::c_long,
        };
        // SAFETY: `events` has room for `len` entries and `spec` outlives the call;
        // a null signal mask means the thread's mask is left alone.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_epoll_pwait2,
                self.epoll.as_raw_fd(),
                self.events.as_mut_ptr(),
                self.events.len() as libc::c_int,
                &spec as *const libc::timespec,
                std::ptr::null::<libc::sigset_t>(),
                0usize,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(rc as usize)
    }

    fn wait_ms(&mut self, timeout: Duration) -> io::Result<usize> {
        let timeout_ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
        // SAFETY: `events` has room for `len` entries.
        let rc = unsafe {
            libc::epoll_wait(
                self.epoll.as_raw_fd(),
                self.events.as_mut_ptr(),
                self.events.len() as libc::c_int,
                timeout_ms,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(rc as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};
    use std::time::Instant;

    #[test]
    fn reports_readiness_and_honours_short_timeouts() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        client.set_nonblocking(true).unwrap();
        let mut poller = Poller::new().unwrap();
        poller.register(client.as_raw_fd(), 7).unwrap();

        let count = poller.wait(Duration::from_millis(100)).unwrap();
        assert_eq!(count, 1);
        let event = poller.event(0);
        assert_eq!(event.token, 7);
        assert!(event.writable && !event.readable);

        let started = Instant::now();
        assert_eq!(poller.wait(Duration::from_micros(300)).unwrap(), 0);
        assert!(started.elapsed() < Duration::from_millis(50));

        server.write_all(b"+OK\r\n").unwrap();
        assert_eq!(poller.wait(Duration::from_millis(1_000)).unwrap(), 1);
        assert!(poller.event(0).readable);
    }
}
