//! corekv patch: an io_uring of the application's own, driven on the executor's
//! thread beside glommio's rings, that the reactor checks on each pass and sleeps
//! in.
//!
//! Without it such a ring can only reach a sleeping executor through an eventfd it
//! signals and glommio reads: every wake-up then crosses both rings (the eventfd's
//! signal, glommio's completed read and its re-armed read), and every sleep enters
//! glommio's main ring to link its latency ring. With a [`ForeignRing`] installed,
//! the reactor asks it on each pass whether it has work ([`ForeignRing::poll`], no
//! system call), and when the executor would sleep it sleeps in that ring instead
//! ([`ForeignRing::sleep`]), which watches glommio's two sleepable rings for
//! readiness: a wake-up for the application's ring is then one return from its
//! own `io_uring_enter`. The executor's next timer is that sleep's timeout, so a
//! sleep arms and cancels no timer in glommio's rings. The ring also keeps the
//! read of the executor's notifier (the eventfd other threads write to wake it)
//! armed in place of glommio's latency ring: a wake-up from another thread then
//! completes in the ring the executor sleeps in, and arming the read again goes
//! with the next sleep's submission instead of entering the latency ring.

use std::{io, os::unix::io::RawFd, rc::Rc, time::Duration};

/// An io_uring driven by the application on the executor's thread.
pub trait ForeignRing {
    /// Wakes the application's tasks that the ring has work for, without a system
    /// call; returns how many it woke (the reactor does not sleep if any).
    fn poll(&self) -> usize;

    /// Sleeps until the ring has work, one of `fds` (glommio's rings, which hold
    /// nothing to submit) is readable, `notifier` (the executor's eventfd) is
    /// written or `timeout` (the executor's next timer) has passed, and wakes the
    /// tasks the ring has work for. The ring keeps a read of `notifier` armed
    /// while it sleeps (the read also resets its count); glommio arms none once a
    /// ring is installed.
    fn sleep(&self, fds: &[RawFd], notifier: RawFd, timeout: Option<Duration>) -> io::Result<()>;
}

/// Makes `ring` the ring this thread's executor checks on each pass and sleeps in,
/// in place of its own main ring. Must be called from within a glommio executor.
pub fn install(ring: Rc<dyn ForeignRing>) {
    crate::executor().reactor().sys.install_foreign(ring);
}
