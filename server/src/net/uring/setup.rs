//! A core's ring built with the best task-run mode the kernel supports.

use io_uring::IoUring;

/// Submission queue entries of a core's ring.
const RING_ENTRIES: u32 = 1024;
/// Completion queue entries: a turn may reap a receive, a send and an accept per
/// connection.
const RING_CQ_ENTRIES: u32 = 8 * RING_ENTRIES;

/// How the ring runs the kernel's completions, as the start-up log line names it.
pub const TASK_RUN_FLAGS: &str = "COOP_TASKRUN|TASKRUN_FLAG";

/// The core's ring, `COOP_TASKRUN | TASKRUN_FLAG`: completions run at the core's
/// next entry into the kernel, without interrupting it (Linux 5.19).
///
/// `SINGLE_ISSUER | DEFER_TASKRUN` (completions run only when the loop asks) was
/// the first choice until a lone client was seen waiting about 16 ms per round
/// trip on Linux 6.18: a parked loop was not woken through the ring's eventfd for
/// deferred completions and came back only with glommio's next timer (`uring.rs`
/// `a_parked_core_answers_each_request_at_once`). The core now sleeps in this ring
/// itself (see [`super::ring::Sleeper`]), where deferred task-run does wake it;
/// measured in open loop (GET, 73,000 and 131,000 requests/s) it made no
/// difference within the machine's noise, so the mode known to work stays.
pub(super) fn build_ring() -> std::io::Result<IoUring> {
    IoUring::builder()
        .setup_cqsize(RING_CQ_ENTRIES)
        .setup_coop_taskrun()
        .setup_taskrun_flag()
        .build(RING_ENTRIES)
}
