//! A core's ring built with the best task-run mode the kernel supports.

use io_uring::IoUring;

/// Submission queue entries of a core's ring.
const RING_ENTRIES: u32 = 1024;
/// Completion queue entries: a turn may reap a receive, a send and an accept per
/// connection.
const RING_CQ_ENTRIES: u32 = 8 * RING_ENTRIES;

/// The core's ring and how it runs the kernel's completions, as the start-up log
/// line names it.
///
/// First choice, `SINGLE_ISSUER | DEFER_TASKRUN | TASKRUN_FLAG` (Linux 6.1): the
/// completions run only when the core enters this ring to reap them, so traffic
/// never interrupts the core's thread and each turn runs them in one batch. That
/// needs the core to sleep in this ring itself, which it does
/// ([`super::ring::Sleeper`]). When the kernel refuses it, `COOP_TASKRUN |
/// TASKRUN_FLAG` (Linux 5.19): completions run at the core's next entry into the
/// kernel, whichever system call it is, without an interrupt. Measured against
/// each other (GET, 50 clients, server on one CPU, 3 alternating rounds): at
/// pipeline 1 under redis-benchmark the CPU per request was 7.9–8.8 µs deferred
/// against 8.7–9.6 cooperative, round by round 8–9% less; in open loop at 73,000
/// and 131,000 requests/s level within the noise.
///
/// Deferred task-run was tried first when the core still slept in glommio's
/// reactor, woken through an eventfd the ring signalled: a lone client then waited
/// about 16 ms per round trip on Linux 6.18, as the eventfd was not signalled for
/// deferred completions (`uring.rs` `a_parked_core_answers_each_request_at_once`).
///
/// `deferred` false (`io-driver uring-coop`) asks for the cooperative mode here too.
pub(super) fn build_ring(deferred: bool) -> std::io::Result<(IoUring, &'static str)> {
    if deferred {
        let ring = IoUring::builder()
            .setup_cqsize(RING_CQ_ENTRIES)
            .setup_single_issuer()
            .setup_defer_taskrun()
            .setup_taskrun_flag()
            .build(RING_ENTRIES);
        if let Ok(ring) = ring {
            return Ok((ring, "DEFER_TASKRUN|SINGLE_ISSUER|TASKRUN_FLAG"));
        }
    }
    let ring = IoUring::builder()
        .setup_cqsize(RING_CQ_ENTRIES)
        .setup_coop_taskrun()
        .setup_taskrun_flag()
        .build(RING_ENTRIES)?;
    Ok((ring, "COOP_TASKRUN|TASKRUN_FLAG"))
}
