//! corekv-loadgen: the load generator bundled with corekv, for any Redis-protocol
//! server.
//!
//! Thread-per-core like the server it measures: each worker thread is pinned to a CPU
//! and drives its own connections from its own epoll loop, with no locks on the
//! request path. The reporter (the main thread) only reads the workers' progress slots
//! once a second and merges their histograms at the end.
//!
//! ```text
//!   main thread ── spawns ──┬── worker 0 (cpu a) ── epoll ── conn 0 .. conn k   ─┐
//!   (progress line,         ├── worker 1 (cpu b) ── epoll ── conn k+1 ..        ─┼─ server
//!    merge, report)         └── ...                                             ─┘
//!        ▲                          │ every 100 ms: latencies since last hand-off
//!        └──── Mutex<Progress> ◄────┘
//! ```
//!
//! The request path inside a worker: [`workload`] picks a [`template`], which draws
//! keys from [`keys`] and values from [`value`] and encodes the request with [`resp`]
//! straight into a [`conn`] output buffer; replies are framed by [`resp::check`] and
//! timed into [`stats`] histograms. [`report`] and [`plot`] turn the merged result
//! into tables, JSON, HdrHistogram text and SVG.

pub mod affinity;
pub mod cli;
pub mod conn;
pub mod error;
pub mod keys;
pub mod limits;
pub mod plot;
pub mod poll;
pub mod report;
pub mod resp;
pub mod run;
pub mod stats;
pub mod template;
pub mod value;
pub mod worker;
pub mod workload;
