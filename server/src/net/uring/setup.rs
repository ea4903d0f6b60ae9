//! A core's ring built with the best task-run mode the kernel supports.

use io_uring::IoUring;

/// Submission queue entries of a core's ring.
const RING_ENTRIES: u32 = 1024;
/// Completion queue entries: a turn may reap a receive, a send and an accept per
/// connection.
const RING_CQ_ENTRIES: u32 = 8 * RING_ENTRIES;

/// How the kernel runs a core's completions: set up in this order of preference.
#[derive(Debug, Clone, Copy)]
pub enum TaskRun {
    /// `SINGLE_ISSUER | DEFER_TASKRUN | TASKRUN_FLAG`: completions run only when the
    /// loop asks for them (Linux 6.1).
    Deferred,
    /// `COOP_TASKRUN | TASKRUN_FLAG`: completions run at the core's next entry into
    /// the kernel, without interrupting it (Linux 5.19).
    Cooperative,
}

/// The ring with the best task-run mode the kernel supports.
pub(super) fn build_ring() -> std::io::Result<(IoUring, TaskRun)> {
    let deferred = IoUring::builder()
        .setup_cqsize(RING_CQ_ENTRIES)
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_taskrun_flag()
        .build(RING_ENTRIES);
    if let Ok(ring) = deferred {
        return Ok((ring, TaskRun::Deferred));
    }
    let ring = IoUring::builder()
        .setup_cqsize(RING_CQ_ENTRIES)
        .setup_coop_taskrun()
        .setup_taskrun_flag()
        .build(RING_ENTRIES)?;
    Ok((ring, TaskRun::Cooperative))
}
