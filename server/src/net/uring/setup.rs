//! A core's ring built with the best task-run mode the kernel supports, how the
//! core enters it, and its table of registered sockets.

use std::os::fd::AsRawFd;
use std::time::Duration;

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

/// Slots at most in a core's table of registered sockets (16 bytes of kernel memory
/// each).
const FILE_SLOTS_MAX: u64 = 1 << 16;

/// Registers an empty table of files with the ring, a slot per descriptor number
/// the process may open now (its `RLIMIT_NOFILE`, up to [`FILE_SLOTS_MAX`]), and
/// returns its size: 0 where the kernel refuses it (before Linux 5.19), when
/// connections name their sockets by descriptor only.
///
/// A socket in the table is named by its slot (`IOSQE_FIXED_FILE`), and the kernel
/// then takes no reference to its file per operation: `fget` and `fput` were 1.6%
/// of the CPU per `GET` at pipeline 1 (a send per request; the multishot receive
/// takes its reference once). A connection's slot is its descriptor's number, so
/// the table needs no allocator; a descriptor past the table (after `CONFIG SET
/// maxclients` raised the limit) is named by number, as before.
pub(super) fn register_file_table(ring: &IoUring) -> u32 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable `rlimit`.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return 0;
    }
    let slots = limit.rlim_cur.min(FILE_SLOTS_MAX) as u32;
    match ring.submitter().register_files_sparse(slots) {
        Ok(()) => slots,
        Err(e) => {
            log::info!(
                "io_uring: no table of registered sockets ({e}): sockets are named by descriptor"
            );
            0
        }
    }
}

/// `io_uring_enter`'s flag to run and reap completions.
const IORING_ENTER_GETEVENTS: u32 = 1;
/// `io_uring_enter`'s flag: the argument is an `io_uring_getevents_arg`.
const IORING_ENTER_EXT_ARG: u32 = 8;
/// `io_uring_enter`'s flag: the ring is named by its index among the thread's
/// registered rings.
const IORING_ENTER_REGISTERED_RING: u32 = 16;
/// `io_uring_register`'s opcode registering ring descriptors with the thread.
const IORING_REGISTER_RING_FDS: libc::c_uint = 20;

/// How the core's thread enters its ring: by its index among the thread's
/// registered rings where the kernel has them (Linux 5.18), which spares each
/// `io_uring_enter` the lookup of the ring's file and its reference (a third of
/// what `fget` and `fput` cost per `GET` at pipeline 1), else by descriptor.
/// Only the thread that registered the ring may enter it by index: the core's
/// own, which sets the ring up and is the only one to enter it.
#[derive(Clone, Copy)]
pub(super) struct Enter {
    fd: libc::c_int,
    flags: u32,
}

/// The kernel's `io_uring_rsrc_update`.
#[repr(C)]
struct RsrcUpdate {
    offset: u32,
    resv: u32,
    data: u64,
}

/// The kernel's `io_uring_getevents_arg`.
#[repr(C)]
struct GeteventsArg {
    sigmask: u64,
    sigmask_sz: u32,
    min_wait_usec: u32,
    ts: u64,
}

impl Enter {
    /// Registers `ring` with the calling thread if the kernel lets it.
    pub(super) fn register(ring: &IoUring) -> Enter {
        let fd = ring.as_raw_fd();
        let mut update = RsrcUpdate {
            offset: u32::MAX,
            resv: 0,
            data: fd as u64,
        };
        // SAFETY: io_uring_register(2) reads and writes back one update that lives
        // across the call.
        let registered = unsafe {
            libc::syscall(
                libc::SYS_io_uring_register,
                fd,
                IORING_REGISTER_RING_FDS,
                &mut update as *mut RsrcUpdate,
                1,
            )
        };
        match registered {
            1 => Enter {
                fd: update.offset as libc::c_int,
                flags: IORING_ENTER_REGISTERED_RING,
            },
            _ => Enter { fd, flags: 0 },
        }
    }

    /// Submits `to_submit` entries, runs the kernel's completions and waits for
    /// `wait_for` of them, or until `timeout` has passed.
    pub(super) fn enter(
        self,
        to_submit: usize,
        wait_for: usize,
        timeout: Option<Duration>,
    ) -> std::io::Result<usize> {
        let ts = timeout.map(|t| libc::timespec {
            tv_sec: t.as_secs() as libc::time_t,
            tv_nsec: t.subsec_nanos() as libc::c_long,
        });
        let arg = ts.as_ref().map(|ts| GeteventsArg {
            sigmask: 0,
            sigmask_sz: 0,
            min_wait_usec: 0,
            ts: ts as *const libc::timespec as u64,
        });
        let (flags, arg_ptr, arg_size) = match &arg {
            Some(arg) => (
                self.flags | IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG,
                arg as *const GeteventsArg as *const libc::c_void,
                std::mem::size_of::<GeteventsArg>(),
            ),
            None => (self.flags | IORING_ENTER_GETEVENTS, std::ptr::null(), 0),
        };
        // SAFETY: io_uring_enter(2) on the ring, with an argument (and the timespec
        // it points to) that lives across the call, or none.
        let entered = unsafe {
            libc::syscall(
                libc::SYS_io_uring_enter,
                self.fd,
                to_submit as libc::c_uint,
                wait_for as libc::c_uint,
                flags,
                arg_ptr,
                arg_size,
            )
        };
        match entered {
            n if n >= 0 => Ok(n as usize),
            _ => Err(std::io::Error::last_os_error()),
        }
    }
}
