//! Every bound the load generator enforces, in one place, with its unit in the name.
//!
//! The generator allocates its buffers and histograms before the measurement starts;
//! these limits keep that allocation and every loop finite whatever the flags say.

/// Most connections one run opens (all threads together).
pub const CONNECTIONS_MAX: usize = 10_000;
/// Most worker threads; far beyond any core count we pin to.
pub const THREADS_MAX: usize = 1_024;
/// Deepest closed-loop pipeline per connection.
pub const PIPELINE_MAX: usize = 10_000;
/// Requests one connection may have in flight in open-loop mode. Requests scheduled
/// while every connection is at this bound stay owed and keep their scheduled time.
pub const OPEN_LOOP_INFLIGHT_PER_CONNECTION_MAX: usize = 4_096;
/// Highest open-loop rate, requests per second, all threads together.
pub const RATE_PER_S_MAX: f64 = 100_000_000.0;

/// Most keys one `MGET`/`MSET` (or `__keyN__` template slots) carries.
pub const KEYS_PER_COMMAND_MAX: usize = 1_000;
/// Most arguments one command template may have.
pub const TEMPLATE_ARGS_MAX: usize = 2 * KEYS_PER_COMMAND_MAX + 8;
/// Largest generated value.
pub const VALUE_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Spare random bytes past the largest value, so values start at varying offsets of
/// one shared pool instead of being generated per request.
pub const VALUE_POOL_SLACK_BYTES: usize = 4_096;
/// Most entries in a `--ratio` mix.
pub const MIX_ENTRIES_MAX: usize = 64;
/// Largest keyspace; keys are decimal indexes, so this keeps them below 20 digits.
pub const KEYSPACE_MAX: u64 = 1 << 60;
/// Steepest zipfian skew accepted (at 10 nearly every request hits key 0).
pub const ZIPF_SKEW_MAX: f64 = 10.0;

/// Largest single reply accepted before the connection is declared broken.
pub const REPLY_BYTES_MAX: usize = 512 * 1024 * 1024;
/// Longest status, error or length line of a reply.
pub const REPLY_LINE_BYTES_MAX: usize = 64 * 1024;
/// Deepest nesting of reply arrays.
pub const REPLY_DEPTH_MAX: usize = 32;
/// Bytes asked of the kernel per `read`; also the read buffer's initial capacity.
pub const READ_CHUNK_BYTES: usize = 64 * 1024;
/// Readiness events taken from the kernel per poll.
pub const POLL_EVENTS_MAX: usize = 256;

/// How often a worker hands its latest latencies to the progress reporter.
pub const STATS_PUBLISH_INTERVAL_MS: u64 = 100;
/// How often the progress line is printed.
pub const PROGRESS_INTERVAL_MS: u64 = 1_000;
/// How long the reporter sleeps between checks for finished workers.
pub const REPORTER_TICK_MS: u64 = 20;
/// Longest poll sleep of a worker, so it notices an abort or deadline promptly.
pub const WORKER_POLL_MAX_MS: u64 = 50;
/// After sending stops, how long to wait for outstanding replies.
pub const DRAIN_TIMEOUT_MS: u64 = 5_000;
/// A run fails when requests are in flight and no reply came for this long.
pub const REPLY_STALL_TIMEOUT_MS: u64 = 60_000;
/// Read timeout of the blocking handshake (`AUTH`, `SELECT`).
pub const HANDSHAKE_TIMEOUT_MS: u64 = 5_000;
/// Longest run accepted, warmup included.
pub const RUN_DURATION_S_MAX: f64 = 7.0 * 24.0 * 3600.0;

/// Largest latency a histogram holds; longer ones are clamped to it.
pub const LATENCY_NS_MAX: u64 = 3_600 * 1_000_000_000;
/// HDR histogram precision.
pub const LATENCY_SIGNIFICANT_DIGITS: u8 = 3;
/// Pipeline depth of `--prefill`.
pub const PREFILL_PIPELINE: usize = 64;
/// Connections `--prefill` uses per thread.
pub const PREFILL_CONNECTIONS_PER_THREAD: usize = 4;

const _: () = assert!(PREFILL_PIPELINE <= PIPELINE_MAX);
const _: () = assert!(REPLY_LINE_BYTES_MAX <= READ_CHUNK_BYTES);
const _: () = assert!(STATS_PUBLISH_INTERVAL_MS < PROGRESS_INTERVAL_MS);
const _: () = assert!(WORKER_POLL_MAX_MS <= STATS_PUBLISH_INTERVAL_MS);
const _: () = assert!(DRAIN_TIMEOUT_MS < REPLY_STALL_TIMEOUT_MS);
