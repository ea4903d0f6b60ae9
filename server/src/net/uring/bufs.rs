//! The provided-buffer ring a core's multishot receives fill: the kernel picks a
//! free buffer for each chunk it receives and names it in the completion; the
//! driver copies the bytes into the connection's input and hands the buffer back.
//! Returned buffers are published to the kernel once per loop turn (one release
//! store of the ring's tail).
//!
//! The buffers' pages are faulted in when they are mapped (`MAP_POPULATE`): the
//! kernel picks every buffer of the ring in turn, so after the first megabytes of
//! traffic all of them are resident anyway; populated at start they are part of the
//! server's fixed footprint from the first measure of its memory, and the first
//! receives take no page faults.
//!
//! The memory is mapped once per core and never unmapped: the kernel may write
//! into a buffer until the completion naming it arrives, which for the requests
//! still in flight when the ring is torn down (at exit) is never.

use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::BufRingEntry;
use io_uring::IoUring;

/// The buffer group id of the receive buffers (one group per ring).
pub const RECV_BUFFER_GROUP: u16 = 0;
/// Receive buffers per core (a power of two, as the kernel requires).
const RECV_BUFFERS: u16 = 512;
/// Bytes per receive buffer: one page, a pipelined batch of small requests.
pub const RECV_BUFFER_BYTES: usize = 4096;

/// The ring of provided buffers and the buffers themselves.
pub struct BufRing {
    entries: *mut BufRingEntry,
    memory: *mut u8,
    /// The tail the kernel last saw, plus the buffers returned since.
    tail: u16,
    published: u16,
}

impl BufRing {
    /// Maps the buffers and registers them with `ring`.
    pub fn register(ring: &IoUring) -> std::io::Result<BufRing> {
        let entries_bytes = RECV_BUFFERS as usize * std::mem::size_of::<BufRingEntry>();
        let entries = map(entries_bytes, 0)?.cast::<BufRingEntry>();
        let memory = map(
            RECV_BUFFERS as usize * RECV_BUFFER_BYTES,
            libc::MAP_POPULATE,
        )?;
        // SAFETY: `entries` is a page-aligned mapping of RECV_BUFFERS entries that
        // lives for the rest of the process.
        unsafe {
            ring.submitter().register_buf_ring_with_flags(
                entries as u64,
                RECV_BUFFERS,
                RECV_BUFFER_GROUP,
                0,
            )?;
        }
        let mut bufs = BufRing {
            entries,
            memory,
            tail: 0,
            published: 0,
        };
        for bid in 0..RECV_BUFFERS {
            bufs.give_back(bid);
        }
        bufs.publish();
        Ok(bufs)
    }

    /// The first `len` bytes of buffer `bid`, which a completion just named.
    pub fn filled(&self, bid: u16, len: usize) -> &[u8] {
        assert!(bid < RECV_BUFFERS && len <= RECV_BUFFER_BYTES);
        // SAFETY: the buffer lies inside the mapping, and the kernel wrote `len`
        // bytes to it before posting the completion that named it; it writes to it
        // again only after it is given back.
        unsafe {
            std::slice::from_raw_parts(self.memory.add(bid as usize * RECV_BUFFER_BYTES), len)
        }
    }

    /// Hands buffer `bid` back; the kernel sees it after the next [`publish`](Self::publish).
    pub fn give_back(&mut self, bid: u16) {
        let slot = (self.tail & (RECV_BUFFERS - 1)) as usize;
        // SAFETY: the slot is inside the entries mapping and beyond the tail the
        // kernel has seen, so the kernel does not read it meanwhile.
        let entry = unsafe { &mut *self.entries.add(slot) };
        // SAFETY: the buffer lies inside the mapping.
        let addr = unsafe { self.memory.add(bid as usize * RECV_BUFFER_BYTES) };
        entry.set_addr(addr as u64);
        entry.set_len(RECV_BUFFER_BYTES as u32);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Publishes the buffers given back since the last call.
    pub fn publish(&mut self) {
        if self.tail == self.published {
            return;
        }
        // SAFETY: the tail field of the first entry, which the kernel reads with an
        // acquire load; the entries before it are written.
        let tail = unsafe { &*(BufRingEntry::tail(self.entries).cast::<AtomicU16>()) };
        tail.store(self.tail, Ordering::Release);
        self.published = self.tail;
    }
}

fn map(bytes: usize, flags: libc::c_int) -> std::io::Result<*mut u8> {
    // SAFETY: a fresh anonymous private mapping; nothing else refers to it.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            bytes,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | flags,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error());
    }
    Ok(p.cast())
}
