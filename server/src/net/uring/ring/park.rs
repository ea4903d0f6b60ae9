//! The core's sleep: the loop parks, and glommio's reactor, with nothing else to
//! run, sleeps in this ring (see `glommio::foreign`), watching glommio's own rings
//! for readiness and reading the executor's notifier, which other threads write
//! to wake the core.

use std::os::fd::RawFd;
use std::rc::Weak;
use std::task::{Poll, Waker};
use std::time::Duration;

use io_uring::{opcode, types};

use super::{enter_ring, fill_submissions, Driver, Op};

impl Driver {
    /// Waits until a task queues an operation or the ring has work (unless
    /// `rewake`: then until glommio's reactor passes once).
    pub(super) async fn park(&self, rewake: bool) {
        self.rewake.set(rewake);
        let mut first = true;
        std::future::poll_fn(|cx| {
            let mut parked = self.parked.borrow_mut();
            if !first && parked.is_none() {
                // Woken: the waker was taken.
                return Poll::Ready(());
            }
            first = false;
            if !rewake && (self.queued.get() || self.kernel_has_work()) {
                *parked = None;
                return Poll::Ready(());
            }
            *parked = Some(cx.waker().clone());
            Poll::Pending
        })
        .await;
        self.rewake.set(false);
    }

    /// Wakes the parked loop if the ring has work for it (or it asked to come back
    /// at the reactor's next pass); true if it did. Run by glommio's reactor on each
    /// pass: no system call. (A task that queues an operation wakes the loop
    /// itself.)
    fn wake_parked(&self) -> bool {
        if self.parked.borrow().is_none() {
            return false;
        }
        let has_work = self.rewake.get() || self.kernel_has_work();
        let parked = if has_work {
            self.parked.borrow_mut().take()
        } else {
            None
        };
        parked.map(Waker::wake).is_some()
    }

    /// The core has nothing to run: sleeps in this ring until it completes
    /// something or `timeout` (the executor's next timer) has passed, watching
    /// `fds` (glommio's rings) for readiness and reading `notifier`, then wakes the
    /// parked loop to reap what came.
    fn sleep(
        &self,
        fds: &[RawFd],
        notifier: RawFd,
        timeout: Option<Duration>,
    ) -> std::io::Result<()> {
        self.watch(fds);
        self.arm_notifier(notifier);
        {
            let mut ring = self.ring.borrow_mut();
            let (pending, _) = fill_submissions(&mut ring, &mut self.backlog.borrow_mut());
            // The executor's next timer is the sleep's timeout: glommio then arms
            // no timer of its own for the sleep, nor cancels it after. A timer
            // years away must not become a time the kernel refuses (a negative
            // second count): the core wakes up early and sleeps again instead.
            enter_ring(self.enter, pending, 1, timeout.map(|t| t.min(SLEEP_MAX)))?;
        }
        let parked = self.parked.borrow_mut().take();
        if let Some(w) = parked {
            w.wake();
        }
        Ok(())
    }

    /// Arms a readiness poll for each of `fds` not already watched (one-shot: a
    /// poll that fired is armed again at the next sleep). Its entries go straight
    /// to the backlog: queueing them would count as a task's work and wake the
    /// loop.
    fn watch(&self, fds: &[RawFd]) {
        let mut watched = self.watched.borrow_mut();
        for &fd in fds {
            let index = match watched.iter().position(|&(f, _)| f == fd) {
                Some(index) => index,
                None => {
                    watched.push((fd, None));
                    watched.len() - 1
                }
            };
            if watched[index].1.is_some() {
                continue;
            }
            let entry = opcode::PollAdd::new(types::Fd(fd), libc::POLLIN as u32).build();
            let slot = self.slot(Op::Watch(index));
            watched[index].1 = Some(slot);
            self.backlog.borrow_mut().push_back(entry.user_data(slot));
        }
    }

    /// Arms a read of the executor's notifier, the eventfd another thread writes to
    /// wake this core (a message from another core, a task woken from elsewhere),
    /// unless one is armed: the write then completes in this ring and ends the
    /// sleep, and the read resets the count. It stays armed while the core runs
    /// (a write meanwhile ends the next sleep at once, as it would have in
    /// glommio's ring) and is armed again with the next sleep's submission. Its
    /// entry goes straight to the backlog, as the readiness polls of
    /// [`Driver::watch`] do.
    fn arm_notifier(&self, notifier: RawFd) {
        if self.notifier_armed.replace(true) {
            return;
        }
        let count = self.notifier_count.get().cast::<u8>();
        let bytes = std::mem::size_of::<u64>() as u32;
        let entry = opcode::Read::new(types::Fd(notifier), count, bytes).build();
        let slot = self.slot(Op::Notified);
        self.backlog.borrow_mut().push_back(entry.user_data(slot));
    }
}

/// What glommio's reactor checks on each pass and sleeps in: this core's ring
/// (see `glommio::foreign`). Holds the driver weakly: the reactor outlives it.
pub struct Sleeper(pub Weak<Driver>);

impl ::glommio::foreign::ForeignRing for Sleeper {
    fn poll(&self) -> usize {
        self.0
            .upgrade()
            .map_or(0, |driver| driver.wake_parked() as usize)
    }

    fn sleep(
        &self,
        fds: &[RawFd],
        notifier: RawFd,
        timeout: Option<Duration>,
    ) -> std::io::Result<()> {
        match self.0.upgrade() {
            Some(driver) => driver.sleep(fds, notifier, timeout),
            None => poll_readable(fds, notifier, timeout),
        }
    }
}

/// The longest a sleep waits for the executor's next timer.
const SLEEP_MAX: Duration = Duration::from_secs(3600);

/// Waits until one of `fds` is readable, `notifier` is written or `timeout` has
/// passed (a core whose driver is gone), and resets the notifier's count.
fn poll_readable(fds: &[RawFd], notifier: RawFd, timeout: Option<Duration>) -> std::io::Result<()> {
    let mut polled: Vec<libc::pollfd> = fds
        .iter()
        .chain([&notifier])
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: poll(2) on a live array of `polled.len()` entries.
    // Rounded up: a timer due in less than a millisecond must not make this spin.
    let ms = timeout.map_or(-1, |t| {
        t.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as libc::c_int
    });
    let n = unsafe { libc::poll(polled.as_mut_ptr(), polled.len() as libc::nfds_t, ms) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    if polled.last().is_some_and(|p| p.revents & libc::POLLIN != 0) {
        reset_count(notifier);
    }
    Ok(())
}

/// Reads an eventfd's count without blocking (`RWF_NOWAIT`: another read of it,
/// still armed in one of glommio's rings, may have taken the count meanwhile).
fn reset_count(eventfd: RawFd) {
    let mut count = 0u64;
    let iov = libc::iovec {
        iov_base: (&mut count as *mut u64).cast(),
        iov_len: std::mem::size_of::<u64>(),
    };
    // SAFETY: one iovec over a live local; the result (8, or -1 with EAGAIN) is not
    // needed: either way the count is no longer pending for this core.
    unsafe { libc::preadv2(eventfd, &iov, 1, -1, libc::RWF_NOWAIT) };
}
