//! `MEMORY` (`USAGE`, `STATS`, `DOCTOR`, `PURGE`, `MALLOC-STATS`) and the numbers
//! `INFO memory` and `INFO shards` print.
//!
//! `used_memory` is what the allocator has handed out and not taken back
//! (jemalloc's `stats.allocated`, the number Redis's `zmalloc` counts): the keyspace,
//! client query and output buffers, journal and replication buffers, everything the
//! process holds on the heap, without the allocator's own slack, which
//! `used_memory_rss` and `mem_fragmentation_ratio` show. A shard's share is what its
//! thread allocated minus what it freed (jemalloc's per-thread counters): shards
//! share nothing, so each frees what it allocated, but a buffer handed from one core
//! to another is counted against the core that allocated it.
//!
//! `used_memory_peak` is the largest `used_memory` seen by a reading: every `INFO`,
//! `MEMORY` and the once-a-tick [`observe`] of the background task.

use std::fmt::Write as _;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use corekv_engine::command::flags::*;
use corekv_engine::command::CommandSpec;
use corekv_engine::error::{CmdError, CmdResult};
use corekv_engine::resp::{parse_i64, Args, Reply, ReplyBuf};
use futures::future::{join_all, LocalBoxFuture};
use tikv_jemalloc_ctl::{epoch, stats, thread};

use super::subcommand::{sub, Container};
use super::{srv, Handler};
use crate::commands::requests::{now_ms, Answer, Core};
use crate::session::client::Client;
use crate::shard::mesh;

/// `MEMORY USAGE`'s sample of a collection's elements when `SAMPLES` is not given.
const USAGE_SAMPLES_DEFAULT: usize = 5;
/// Below this much `used_memory` beyond the start-up footprint, `MEMORY DOCTOR` has
/// nothing to judge (Redis: 5 MB of `used_memory`, its start-up footprint being
/// about 1 MB; corekv's is about 2.5 MB per shard, which alone would pass 5 MB).
const DOCTOR_MIN_USED_BYTES: u64 = 5 << 20;
/// `MEMORY DOCTOR` reports fragmentation above this RSS / used ratio (Redis: 1.4).
const DOCTOR_FRAGMENTATION_RATIO_MAX: f64 = 1.4;
/// `MEMORY DOCTOR` reports a peak more than this many times today's use (Redis: 1.5).
const DOCTOR_PEAK_RATIO_MAX: f64 = 1.5;

pub(crate) const MEMORY: Container = Container {
    name: "MEMORY",
    subs: &[
        sub("doctor", 2),
        sub("malloc-stats", 2),
        sub("purge", 2),
        sub("stats", 2),
        sub("usage", -3),
        sub("help", 2),
    ],
    help: &[
        "DOCTOR",
        "    Return memory problems reports.",
        "MALLOC-STATS",
        "    Return internal statistics report from the memory allocator.",
        "PURGE",
        "    Attempt to purge dirty pages for reclamation by the allocator.",
        "STATS",
        "    Return information about the memory usage of the server.",
        "USAGE <key> [SAMPLES <count>]",
        "    Return memory in bytes used by <key> and its value. Nested values are",
        "    sampled up to <count> times (default: 5, 0 means sample all).",
    ],
};

static PEAK: AtomicU64 = AtomicU64::new(0);
static STARTUP: OnceLock<u64> = OnceLock::new();

/// The allocator's name and version, as `INFO`'s `mem_allocator` (`jemalloc-5.3.0`).
pub fn allocator() -> String {
    let version = tikv_jemalloc_ctl::version::read().unwrap_or("unknown");
    let short = version.split('-').next().unwrap_or(version);
    format!("jemalloc-{short}")
}

/// The allocator's process-wide numbers, refreshed.
#[derive(Debug, Clone, Copy)]
struct Allocator {
    allocated: u64,
    active: u64,
    resident: u64,
}

fn read_allocator() -> Allocator {
    // Reading after an epoch advance gives numbers as of now, not as of the last one.
    let _ = epoch::advance();
    let read = |r: tikv_jemalloc_ctl::Result<usize>| r.unwrap_or(0) as u64;
    Allocator {
        allocated: read(stats::allocated::read()),
        active: read(stats::active::read()),
        resident: read(stats::resident::read()),
    }
}

/// Reads `used_memory` and raises the peak; the first reading (the background task's
/// first tick, when the server has started) is `used_memory_startup`.
pub fn observe() -> u64 {
    let used = read_allocator().allocated;
    PEAK.fetch_max(used, Ordering::Relaxed);
    STARTUP.get_or_init(|| used);
    used
}

/// Bytes the calling thread allocated and did not free (its shard's share).
fn thread_used() -> u64 {
    match (thread::allocatedp::read(), thread::deallocatedp::read()) {
        (Ok(a), Ok(d)) => a.get().saturating_sub(d.get()),
        _ => 0,
    }
}

/// One shard's memory numbers.
#[derive(Debug, Clone, Copy, Default)]
pub struct ShardMemory {
    /// Allocated minus freed by the shard's thread.
    pub used: u64,
    /// The keyspace tables' own structures (slots, index, volatile set).
    pub tables: u64,
    pub keys: u64,
}

/// The process's numbers and every shard's, for `INFO` and `MEMORY STATS`.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub used: u64,
    pub peak: u64,
    pub startup: u64,
    pub rss: u64,
    pub allocator_active: u64,
    pub allocator_resident: u64,
    /// Bytes the journals hold in memory, not yet written.
    pub journal_pending: u64,
    pub shards: Vec<ShardMemory>,
}

impl Report {
    /// What is not the data: the state at start-up, the tables' structures and the
    /// journals' pending bytes.
    pub fn overhead(&self) -> u64 {
        self.startup + self.shards.iter().map(|s| s.tables).sum::<u64>() + self.journal_pending
    }

    pub fn dataset(&self) -> u64 {
        self.used.saturating_sub(self.overhead())
    }

    fn keys(&self) -> u64 {
        self.shards.iter().map(|s| s.keys).sum()
    }

    fn fragmentation(&self) -> f64 {
        self.rss as f64 / self.used.max(1) as f64
    }

    /// The `# Memory` section of `INFO`, with Redis 7.0's field names and order. Left
    /// out are the fields of what corekv does not have (the Lua and function
    /// engines) or does not count apart (client and replication buffers, which
    /// `used_memory` includes); `active_defrag_running` and the lazy-free counters
    /// are 0 because corekv neither defragments nor frees in the background.
    pub fn write_info(&self, maxmemory: u64, policy: &str, t: &mut String) -> std::fmt::Result {
        let percent = |part: u64, whole: u64| part as f64 * 100.0 / whole.max(1) as f64;
        let ratio = |a: u64, b: u64| a as f64 / b.max(1) as f64;
        let diff = |a: u64, b: u64| a as i64 - b as i64;
        let (used, active, resident, rss) = (
            self.used,
            self.allocator_active,
            self.allocator_resident,
            self.rss,
        );
        let dataset = self.dataset();
        let system = total_system_memory();
        write!(
            t,
            "# Memory\r\nused_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\nused_memory_rss_human:{}\r\nused_memory_peak:{}\r\nused_memory_peak_human:{}\r\nused_memory_peak_perc:{:.2}%\r\nused_memory_overhead:{}\r\nused_memory_startup:{}\r\nused_memory_dataset:{dataset}\r\nused_memory_dataset_perc:{:.2}%\r\nallocator_allocated:{used}\r\nallocator_active:{active}\r\nallocator_resident:{resident}\r\ntotal_system_memory:{system}\r\ntotal_system_memory_human:{}\r\nmaxmemory:{maxmemory}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{policy}\r\nallocator_frag_ratio:{:.2}\r\nallocator_frag_bytes:{}\r\nallocator_rss_ratio:{:.2}\r\nallocator_rss_bytes:{}\r\nrss_overhead_ratio:{:.2}\r\nrss_overhead_bytes:{}\r\nmem_fragmentation_ratio:{:.2}\r\nmem_fragmentation_bytes:{}\r\nmem_cluster_links:0\r\nmem_aof_buffer:{}\r\nmem_allocator:{}\r\nactive_defrag_running:0\r\nlazyfree_pending_objects:0\r\nlazyfreed_objects:0\r\n",
            human(used),
            human(rss),
            self.peak,
            human(self.peak),
            percent(used, self.peak),
            self.overhead(),
            self.startup,
            percent(dataset, used.saturating_sub(self.startup)),
            human(system),
            human(maxmemory),
            ratio(active, used),
            diff(active, used),
            ratio(resident, active),
            diff(resident, active),
            ratio(rss, resident),
            diff(rss, resident),
            self.fragmentation(),
            diff(rss, used),
            self.journal_pending,
            allocator(),
        )
    }

    /// Shard `i`'s fields for its `INFO shards` line.
    pub fn shard_fields(&self, i: usize) -> String {
        let s = self.shards.get(i).copied().unwrap_or_default();
        format!(",used_memory={},tables_memory={}", s.used, s.tables)
    }
}

/// Gathers the process's numbers and asks every shard for its own.
pub async fn report(core: &Rc<Core>, journal_pending: u64) -> Report {
    let shards = join_all((0..core.shards()).map(|s| {
        let ask = mesh::Msg::Control(Box::new(|core| {
            let shard = core.shard.borrow();
            let dbs = shard.keyspace().dbs();
            Answer::Counts(vec![
                thread_used(),
                dbs.iter().map(|d| d.table_bytes() as u64).sum(),
                dbs.iter().map(|d| d.len() as u64).sum(),
            ])
        }));
        core.call(s, None, ask)
    }))
    .await
    .into_iter()
    .map(|a| match a {
        Some(Answer::Counts(c)) if c.len() == 3 => ShardMemory {
            used: c[0],
            tables: c[1],
            keys: c[2],
        },
        _ => ShardMemory::default(),
    })
    .collect();
    let used = observe();
    let a = read_allocator();
    Report {
        used,
        peak: PEAK.load(Ordering::Relaxed),
        startup: STARTUP.get().copied().unwrap_or(used),
        rss: rss_bytes(),
        allocator_active: a.active,
        allocator_resident: a.resident,
        journal_pending,
        shards,
    }
}

/// Redis's human-readable size (`1.50M`).
pub fn human(bytes: u64) -> String {
    let units = [("G", 1u64 << 30), ("M", 1 << 20), ("K", 1 << 10)];
    for (u, size) in units {
        if bytes >= size {
            return format!("{:.2}{u}", bytes as f64 / size as f64);
        }
    }
    format!("{bytes}B")
}

/// The machine's physical memory (Redis's `total_system_memory`).
fn total_system_memory() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let (pages, page) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    pages.max(0) as u64 * page.max(0) as u64
}

/// Resident set size of the process, from `/proc/self/statm`.
pub fn rss_bytes() -> u64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64;
    pages * page
}

/// `MEMORY USAGE key [SAMPLES count]`: the count, 0 for all.
fn usage_samples(args: &Args) -> CmdResult<usize> {
    match args.len() {
        3 => Ok(USAGE_SAMPLES_DEFAULT),
        5 if args[3].eq_ignore_ascii_case(b"samples") => {
            let n = parse_i64(&args[4]).ok_or(CmdError::NotInteger)?;
            usize::try_from(n).map_err(|_| CmdError::Syntax)
        }
        _ => Err(CmdError::Syntax),
    }
}

/// The bytes `key` costs on its shard, or `None` if it is not there.
async fn usage(core: &Rc<Core>, db: usize, key: &[u8], samples: usize) -> Option<u64> {
    let shard = corekv_engine::slot::shard_of(key, core.shards());
    let owned = key.to_vec();
    let ask = mesh::Msg::Control(Box::new(move |core| {
        let mut shard = core.shard.borrow_mut();
        let ks = shard.keyspace_mut();
        if !ks.contains(db, &owned, now_ms()) {
            return Answer::Done;
        }
        match ks.db(db).memory_usage(&owned, samples) {
            Some(bytes) => Answer::Count(bytes as u64),
            None => Answer::Done,
        }
    }));
    match core.call(shard, None, ask).await {
        Some(Answer::Count(n)) => Some(n),
        _ => None,
    }
}

/// `MEMORY STATS`, with Redis's names for the numbers corekv has.
fn stats_reply(r: &Report, out: &mut ReplyBuf) {
    let keys = r.keys();
    let ints: [(&str, u64); 9] = [
        ("peak.allocated", r.peak),
        ("total.allocated", r.used),
        ("startup.allocated", r.startup),
        ("aof.buffer", r.journal_pending),
        ("overhead.total", r.overhead()),
        ("keys.count", keys),
        (
            "keys.bytes-per-key",
            r.used.saturating_sub(r.startup) / keys.max(1),
        ),
        ("dataset.bytes", r.dataset()),
        ("allocator.allocated", r.used),
    ];
    let tail: [(&str, u64); 2] = [
        ("allocator.active", r.allocator_active),
        ("allocator.resident", r.allocator_resident),
    ];
    let ratios: [(&str, f64); 3] = [
        (
            "dataset.percentage",
            r.dataset() as f64 * 100.0 / r.used.saturating_sub(r.startup).max(1) as f64,
        ),
        (
            "peak.percentage",
            r.used as f64 * 100.0 / r.peak.max(1) as f64,
        ),
        ("fragmentation", r.fragmentation()),
    ];
    out.map(ints.len() + tail.len() + ratios.len() + 1);
    for (name, v) in ints.iter().chain(&tail) {
        out.bulk(name.as_bytes());
        out.int(*v as i64);
    }
    for (name, v) in ratios {
        out.bulk(name.as_bytes());
        out.double(v);
    }
    out.bulk(b"fragmentation.bytes");
    out.int(r.rss as i64 - r.used as i64);
}

/// `MEMORY DOCTOR`: Redis's verdicts on an empty instance, a high peak and
/// fragmentation, in short.
fn doctor(r: &Report) -> String {
    if r.used.saturating_sub(r.startup) < DOCTOR_MIN_USED_BYTES {
        return "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.".into();
    }
    let mut issues = Vec::new();
    if r.peak as f64 > r.used as f64 * DOCTOR_PEAK_RATIO_MAX {
        issues.push(format!(
            " * Peak memory: In the past this instance used more than {DOCTOR_PEAK_RATIO_MAX} times the memory that is currently using ({} peak, {} now). The allocator returns freed pages over time; MEMORY PURGE returns them at once.",
            human(r.peak),
            human(r.used)
        ));
    }
    if r.fragmentation() > DOCTOR_FRAGMENTATION_RATIO_MAX {
        issues.push(format!(
            " * High total RSS: This instance has a memory fragmentation and RSS overhead greater than {DOCTOR_FRAGMENTATION_RATIO_MAX} (this means that the Resident Set Size of the corekv process is much larger than the sum of the logical allocations corekv performed: {:.2}).",
            r.fragmentation()
        ));
    }
    if issues.is_empty() {
        return "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.".into();
    }
    format!(
        "Sam, I detected a few issues in this corekv instance memory implants:\n\n{}\n\nI'm here to keep you safe, Sam. I want to help you.",
        issues.join("\n\n")
    )
}

/// Returns the allocator's dirty pages of every arena to the system.
fn purge() {
    // SAFETY: `arena.<MALLCTL_ARENAS_ALL>.purge` takes no input and writes no output.
    unsafe {
        tikv_jemalloc_sys::mallctl(
            c"arena.4096.purge".as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        );
    }
}

fn journal_pending(core: &Core) -> u64 {
    core.journal_stats().pending_bytes
}

fn memory<'a>(
    core: &'a Rc<Core>,
    client: &'a mut Client,
    args: &'a Args,
    out: &'a mut ReplyBuf,
) -> LocalBoxFuture<'a, CmdResult> {
    Box::pin(async move {
        let Some(sub) = MEMORY.resolve(args)? else {
            return Err(CmdError::WrongArgs("memory".into()));
        };
        match sub {
            "usage" => {
                let samples = usage_samples(args)?;
                match usage(core, client.db, &args[2], samples).await {
                    Some(n) => out.int(n as i64),
                    None => out.null(),
                }
            }
            "stats" => stats_reply(&report(core, journal_pending(core)).await, out),
            "doctor" => {
                let text = doctor(&report(core, journal_pending(core)).await);
                out.verbatim(b"txt", text.as_bytes());
            }
            "purge" => {
                purge();
                out.simple(b"OK");
            }
            "malloc-stats" => {
                let r = report(core, journal_pending(core)).await;
                let text = format!(
                    "{}\nallocated: {}\nactive: {}\nresident: {}\n",
                    allocator(),
                    r.used,
                    r.allocator_active,
                    r.allocator_resident
                );
                out.verbatim(b"txt", text.as_bytes());
            }
            _ => MEMORY.help(out),
        }
        Ok(())
    })
}

#[rustfmt::skip]
pub const COMMANDS: &[CommandSpec<Handler>] = &[
    srv("memory", -2, READONLY, "server", "A container for memory diagnostics commands.", Handler::Async(memory)),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doctor_speaks_only_past_a_minimum() {
        let mut r = Report {
            used: 1 << 20,
            rss: 10 << 20,
            ..Report::default()
        };
        assert!(doctor(&r).contains("empty or is using very little memory"));
        // What the server holds from its start does not count.
        r.startup = 8 << 20;
        r.used = 12 << 20;
        assert!(doctor(&r).contains("empty or is using very little memory"));
        r.startup = 0;
        r.used = 100 << 20;
        r.peak = 100 << 20;
        r.rss = 110 << 20;
        assert!(doctor(&r).contains("can't find any memory issue"));
        r.rss = 300 << 20;
        assert!(doctor(&r).contains("High total RSS"));
    }
}
