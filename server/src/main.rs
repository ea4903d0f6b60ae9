//! The corekv-server binary: everything lives in the library ([`corekv_server`]).
//!
//! # The allocator
//!
//! jemalloc, chosen by measurement (`bench/memory.py`, 1M keys of 16 bytes with
//! 32-byte values, one shard): RSS per key 109.5 B with jemalloc, 133.6 B with
//! mimalloc, 219 B with the libc malloc of before (the same table layout for the
//! first two), and 113.6 / 140.6 B with a TTL on every key. Server CPU per request
//! (redis-benchmark, 50 clients, two rounds on a loaded 2-CPU machine) was within
//! noise of each other: SET P1 13.2–14.2 µs jemalloc against 11.5–12.5 mimalloc,
//! GET P1 11.7–14.0 against 12.8–14.0, SET and GET P16 2.0–2.2 against 1.8–2.1; the
//! memory difference is the larger and the steadier one. Its size classes are
//! fine where the keyspace allocates (a 32-byte value takes 32 bytes, 48 under libc),
//! its thread caches suit one thread per core, it returns freed pages to the system
//! over time, and its statistics (`stats.allocated`, per-thread counters) are what
//! `INFO memory` and `MEMORY` report (`crate::commands::memory`), as Redis reports
//! its own jemalloc's.
//!
//! Freed pages go back to the system from jemalloc's background thread (Redis's
//! `jemalloc-bg-thread yes`) after [`MALLOC_CONF`]'s decay time rather than the
//! default 10 s, and without waiting for the next allocation: a server left idle
//! after a burst (thousands of connections closing, a large `DEL`) shrinks within
//! seconds.
//!
//! Large values share that path: jemalloc's separate arena for allocations over 8
//! MiB (`oversize_threshold`) is off. That arena returns a freed buffer to the
//! system at once, on the thread that frees it (an `madvise` of 100 MB on a core
//! serving clients), and so hands every next large buffer out as fresh pages, each
//! faulted in while the core copies into it; a 100 MB `GET`, `SET` or `MGET` paid
//! tens of milliseconds of page faults that way. In the core's own arena a freed
//! buffer is reused by the next large allocation, and returned by the background
//! thread after the decay time if none comes.

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read at its start: purge from a background thread, return
/// dirty pages after 1 s, and no separate arena for large allocations.
const MALLOC_CONF: &[u8] = b"background_thread:true,dirty_decay_ms:1000,oversize_threshold:0\0";

/// The options jemalloc reads before `main` (its `malloc_conf`, under the prefix the
/// crate builds it with).
#[export_name = "_rjem_malloc_conf"]
#[allow(non_upper_case_globals)]
pub static malloc_conf: &u8 = &MALLOC_CONF[0];

fn main() {
    // A panicking executor would leave its peers waiting forever: abort instead.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default_hook(info);
        std::process::abort();
    }));
    std::process::exit(corekv_server::run());
}
