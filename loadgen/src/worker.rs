//! One worker thread: its connections, its event loop, its share of the load.
//!
//! A worker is pinned to one CPU (when `--cpus` is given), opens its connections
//! before the start barrier, and then runs a single-threaded loop over one epoll
//! instance until its share of the load is sent and answered:
//!
//! ```text
//!   ┌──────────── loop ─────────────────────────────────────────────────────┐
//!   │ open loop: send every request whose scheduled time has come           │
//!   │ poll (sleep until the next scheduled send, a reply, or a deadline)    │
//!   │ per ready socket: read → frame replies → record latency               │
//!   │                   closed loop: refill the pipeline → write the batch  │
//!   └───────────────────────────────────────────────────────────────────────┘
//! ```
//!
//! **Closed loop** keeps `pipeline` requests in flight per connection; latency counts
//! from the moment a request is sent.
//!
//! **Open loop** follows a fixed schedule: request `k` of the thread is due at
//! `offset + k / rate` seconds after the start (the offsets interleave the threads'
//! schedules evenly), on the next connection round-robin, and its
//! latency counts from that *scheduled* time, not from when it was written. If the
//! server stalls, requests keep falling due; the ones that cannot be sent (every
//! connection at `OPEN_LOOP_INFLIGHT_PER_CONNECTION_MAX`) stay owed and are sent as soon
//! as replies free room, still timed from their schedule. A stall therefore shows up
//! in the percentiles with its full length instead of being hidden by the generator
//! politely waiting (coordinated omission).

use crate::affinity;
use crate::conn::{Connection, Pending, ReadStatus, ReplyError, Target};
use crate::error::Error;
use crate::keys::{Distribution, KeyGen};
use crate::limits::{
    DRAIN_TIMEOUT_MS, OPEN_LOOP_INFLIGHT_PER_CONNECTION_MAX, REPLY_STALL_TIMEOUT_MS,
    STATS_PUBLISH_INTERVAL_MS, WORKER_POLL_MAX_MS,
};
use crate::poll::{Event, Poller};
use crate::resp::ReplyKind;
use crate::stats::{CommandStats, Progress, Recorder};
use crate::template::Expander;
use crate::value::{ValueGen, ValueSize};
use crate::workload::{RequestSource, Workload};
use std::ops::Range;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Barrier, Mutex, OnceLock};
use std::time::{Duration, Instant};

const NS_PER_MS: u64 = 1_000_000;
/// Requests in flight a connection makes room for up front in open loop; the queue
/// grows beyond it only while the server falls behind.
const OPEN_LOOP_PENDING_INITIAL: usize = 64;

/// How requests are paced.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pacing {
    Closed { pipeline: usize },
    Open { rate_per_s: f64 },
}

/// What every worker of a phase shares: settings, the start barrier, the abort flag
/// and the progress slots.
pub struct PhaseShared<'a> {
    pub target: &'a Target,
    pub workload: &'a Workload,
    pub distribution: Distribution,
    pub keyspace: u64,
    pub key_prefix: &'a [u8],
    pub value_size: ValueSize,
    /// Replies to requests started before this are not measured.
    pub warmup_ns: u64,
    /// No request is started at or after this.
    pub send_end_ns: Option<u64>,
    /// Poll with a zero timeout while there is more to send.
    pub busy_poll: bool,
    pub start: Barrier,
    pub epoch: OnceLock<Instant>,
    pub abort: AtomicBool,
    /// Set by Ctrl-C: stop sending, collect the replies, report what was measured.
    pub stop: &'a AtomicBool,
    pub progress: Vec<Mutex<Progress>>,
}

/// One worker's share of a phase.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkerSpec {
    pub index: usize,
    pub cpu: Option<usize>,
    pub connections: usize,
    pub pacing: Pacing,
    /// Most requests this worker sends; `None` for as many as time allows.
    pub requests: Option<u64>,
    /// This worker's keys under the sequential distribution.
    pub key_slice: Range<u64>,
    /// Open loop: when this worker's first request is due, so that threads take
    /// turns instead of sending together.
    pub schedule_offset_ns: u64,
    pub seed: u64,
}

/// What a worker measured.
pub struct WorkerResult {
    pub commands: Vec<CommandStats>,
    /// Requests without a reply when the drain timeout ran out, plus owed requests
    /// never sent.
    pub unanswered: u64,
    /// When the last reply arrived, nanoseconds since the epoch.
    pub last_reply_ns: u64,
    pub first_error: Option<String>,
}

/// Runs one worker to completion. Every worker reaches the start barrier, even one
/// that failed to connect, so that no other worker waits forever.
pub fn run_worker(shared: &PhaseShared<'_>, spec: &WorkerSpec) -> Result<WorkerResult, Error> {
    let prepared = prepare(shared, spec);
    if prepared.is_err() {
        shared.abort.store(true, Ordering::Relaxed);
    }
    shared.start.wait();
    let (conns, poller) = prepared?;
    if shared.abort.load(Ordering::Relaxed) {
        return Err(Error::Aborted);
    }
    let epoch = *shared.epoch.get_or_init(Instant::now);
    Worker::new(shared, spec, conns, poller, epoch).run()
}

fn prepare(
    shared: &PhaseShared<'_>,
    spec: &WorkerSpec,
) -> Result<(Vec<Connection>, Poller), Error> {
    if let Some(cpu) = spec.cpu {
        affinity::pin_current_thread(cpu).map_err(|source| Error::System {
            what: "pinning a worker thread (sched_setaffinity)",
            source,
        })?;
    }
    reduce_timer_slack();
    let poller = Poller::new().map_err(|source| Error::System {
        what: "epoll_create1",
        source,
    })?;
    let pending_capacity = match spec.pacing {
        Pacing::Closed { pipeline } => pipeline,
        Pacing::Open { .. } => OPEN_LOOP_PENDING_INITIAL,
    };
    let mut conns = Vec::with_capacity(spec.connections);
    for token in 0..spec.connections {
        let stream = shared.target.connect()?;
        let conn =
            Connection::new(stream, pending_capacity).map_err(|e| shared.connection_error(e))?;
        poller
            .register(conn.stream().as_raw_fd(), token as u64)
            .map_err(|source| Error::System {
                what: "epoll_ctl",
                source,
            })?;
        conns.push(conn);
    }
    Ok((conns, poller))
}

/// Lets sub-millisecond poll timeouts end on time: by default the kernel may delay a
/// sleeping thread's wake-up by 50 µs to batch timers, which open-loop sends would
/// pay as latency. Failing to change it only costs accuracy, so errors are ignored.
fn reduce_timer_slack() {
    // SAFETY: PR_SET_TIMERSLACK takes a plain integer and affects only this thread.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
    }
}

impl PhaseShared<'_> {
    fn connection_error(&self, source: std::io::Error) -> Error {
        Error::Connection {
            target: self.target.name.clone(),
            source,
        }
    }
}

/// Open-loop schedule: the thread's `k`-th request is due at
/// `offset_ns + k * interval_ns`.
struct Schedule {
    offset_ns: u64,
    interval_ns: f64,
    next_seq: u64,
    next_conn: usize,
}

impl Schedule {
    fn due_ns(&self) -> u64 {
        self.offset_ns + (self.next_seq as f64 * self.interval_ns) as u64
    }
}

struct Worker<'a> {
    shared: &'a PhaseShared<'a>,
    slot: &'a Mutex<Progress>,
    conns: Vec<Connection>,
    poller: Poller,
    source: RequestSource<'a>,
    recorder: Recorder,
    epoch: Instant,
    pipeline: usize,
    schedule: Option<Schedule>,
    request_budget: u64,
    issued: u64,
    in_flight: u64,
    last_reply_ns: u64,
    next_publish_ns: u64,
}

impl<'a> Worker<'a> {
    fn new(
        shared: &'a PhaseShared<'a>,
        spec: &WorkerSpec,
        conns: Vec<Connection>,
        poller: Poller,
        epoch: Instant,
    ) -> Worker<'a> {
        let keys = KeyGen::new(
            shared.distribution,
            shared.keyspace,
            spec.key_slice.clone(),
            spec.seed,
        );
        let values = ValueGen::new(shared.value_size, spec.seed.wrapping_add(1));
        let expander = Expander::new(keys, values, shared.key_prefix);
        let source = RequestSource::new(shared.workload, expander, spec.seed.wrapping_add(2));
        let (pipeline, schedule) = match spec.pacing {
            Pacing::Closed { pipeline } => (pipeline, None),
            Pacing::Open { rate_per_s } => {
                assert!(rate_per_s > 0.0);
                let schedule = Schedule {
                    offset_ns: spec.schedule_offset_ns,
                    interval_ns: 1e9 / rate_per_s,
                    next_seq: 0,
                    next_conn: 0,
                };
                (OPEN_LOOP_INFLIGHT_PER_CONNECTION_MAX, Some(schedule))
            }
        };
        Worker {
            shared,
            slot: &shared.progress[spec.index],
            conns,
            poller,
            source,
            recorder: Recorder::new(shared.workload.templates().len()),
            epoch,
            pipeline,
            schedule,
            request_budget: spec.requests.unwrap_or(u64::MAX),
            issued: 0,
            in_flight: 0,
            last_reply_ns: 0,
            next_publish_ns: STATS_PUBLISH_INTERVAL_MS * NS_PER_MS,
        }
    }

    fn run(mut self) -> Result<WorkerResult, Error> {
        let now = self.now_ns();
        if self.schedule.is_none() {
            for index in 0..self.conns.len() {
                self.fill_pipeline(index, now);
                self.flush(index)?;
            }
        }
        let mut drain_deadline_ns = None;
        let mut last_progress_ns = now;
        loop {
            if self.shared.abort.load(Ordering::Relaxed) {
                return Err(Error::Aborted);
            }
            let now = self.now_ns();
            if self.schedule.is_some() {
                self.send_due(now)?;
            }
            if self.done(now, &mut drain_deadline_ns) {
                break;
            }
            self.check_stall(now, &mut last_progress_ns)?;
            if now >= self.next_publish_ns {
                self.recorder.publish(self.slot);
                self.next_publish_ns = now + STATS_PUBLISH_INTERVAL_MS * NS_PER_MS;
            }
            self.poll_and_handle(self.poll_timeout(now, drain_deadline_ns))?;
        }
        self.finish()
    }

    /// True once everything is sent and answered, or the drain deadline (armed when
    /// sending ends) has passed.
    fn done(&self, now_ns: u64, drain_deadline_ns: &mut Option<u64>) -> bool {
        let all_sent = !self.more_to_send(now_ns);
        let window_over = self.shared.send_end_ns.is_some_and(|end| now_ns >= end)
            || self.shared.stop.load(Ordering::Relaxed);
        if !all_sent && !window_over {
            return false;
        }
        let deadline = *drain_deadline_ns.get_or_insert(now_ns + DRAIN_TIMEOUT_MS * NS_PER_MS);
        (all_sent && self.in_flight == 0) || now_ns >= deadline
    }

    /// Fails the run when requests are in flight and none was answered for too long.
    fn check_stall(&self, now_ns: u64, last_progress_ns: &mut u64) -> Result<(), Error> {
        if self.in_flight == 0 || self.last_reply_ns > *last_progress_ns {
            *last_progress_ns = now_ns;
        } else if now_ns - *last_progress_ns > REPLY_STALL_TIMEOUT_MS * NS_PER_MS {
            return Err(self.stalled());
        }
        Ok(())
    }

    fn poll_and_handle(&mut self, timeout: Duration) -> Result<(), Error> {
        let ready = self.poller.wait(timeout).map_err(|source| Error::System {
            what: "epoll_wait",
            source,
        })?;
        for index in 0..ready {
            let event = self.poller.event(index);
            self.handle(event)?;
        }
        Ok(())
    }

    fn stalled(&self) -> Error {
        Error::Stalled {
            target: self.shared.target.name.clone(),
            in_flight: self.in_flight,
            timeout_ms: REPLY_STALL_TIMEOUT_MS,
        }
    }

    fn finish(mut self) -> Result<WorkerResult, Error> {
        self.recorder.publish(self.slot);
        let owed = if self.schedule.is_some() && self.more_to_send(self.now_ns()) {
            self.scheduled_total().saturating_sub(self.issued).max(1)
        } else {
            0
        };
        let (commands, first_error) = self.recorder.finish();
        Ok(WorkerResult {
            commands,
            unanswered: self.in_flight + owed,
            last_reply_ns: self.last_reply_ns,
            first_error,
        })
    }

    fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    fn more_to_send(&self, now_ns: u64) -> bool {
        if self.issued >= self.request_budget || self.shared.stop.load(Ordering::Relaxed) {
            return false;
        }
        let next_start_ns = match &self.schedule {
            Some(schedule) => schedule.due_ns(),
            None => now_ns,
        };
        self.shared
            .send_end_ns
            .map_or(true, |end| next_start_ns < end)
    }

    /// Requests the open-loop schedule holds in total.
    fn scheduled_total(&self) -> u64 {
        let schedule = self.schedule.as_ref().expect("open loop has a schedule");
        let within_window = match self.shared.send_end_ns {
            Some(end_ns) => {
                let window_ns = end_ns.saturating_sub(schedule.offset_ns);
                (window_ns as f64 / schedule.interval_ns).ceil() as u64
            }
            None => u64::MAX,
        };
        within_window.min(self.request_budget)
    }

    fn poll_timeout(&self, now_ns: u64, drain_deadline_ns: Option<u64>) -> Duration {
        if self.shared.busy_poll && self.more_to_send(now_ns) {
            return Duration::ZERO;
        }
        let mut wake_ns = now_ns + WORKER_POLL_MAX_MS * NS_PER_MS;
        wake_ns = wake_ns.min(self.next_publish_ns.max(now_ns));
        if let Some(deadline) = drain_deadline_ns {
            wake_ns = wake_ns.min(deadline);
        }
        if self.more_to_send(now_ns) {
            match &self.schedule {
                // When the next request is already due, every connection is full and
                // only a reply can make progress.
                Some(schedule) if schedule.due_ns() > now_ns => {
                    wake_ns = wake_ns.min(schedule.due_ns())
                }
                Some(_) => {}
                None => {
                    if let Some(end) = self.shared.send_end_ns {
                        wake_ns = wake_ns.min(end);
                    }
                }
            }
        }
        Duration::from_nanos(wake_ns.saturating_sub(now_ns))
    }

    fn handle(&mut self, event: Event) -> Result<(), Error> {
        let index = event.token as usize;
        assert!(index < self.conns.len());
        if event.writable {
            let conn = &mut self.conns[index];
            conn.on_writable()
                .map_err(|e| self.shared.connection_error(e))?;
        }
        if event.readable {
            self.read_replies(index)?;
        }
        Ok(())
    }

    /// Reads until the socket is drained (the poller is edge-triggered). The server
    /// only sends replies we asked for, so the in-flight requests bound this loop.
    fn read_replies(&mut self, index: usize) -> Result<(), Error> {
        loop {
            let status = self.conns[index]
                .read_some()
                .map_err(|e| self.shared.connection_error(e))?;
            match status {
                ReadStatus::Data => {
                    let now = self.now_ns();
                    self.take_replies(index, now)?;
                    if self.schedule.is_none() {
                        self.fill_pipeline(index, now);
                        self.flush(index)?;
                    }
                }
                ReadStatus::WouldBlock => return Ok(()),
                ReadStatus::Closed => {
                    let source = std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        "server closed the connection",
                    );
                    return Err(self.shared.connection_error(source));
                }
            }
        }
    }

    fn take_replies(&mut self, index: usize, now_ns: u64) -> Result<(), Error> {
        let conn = &mut self.conns[index];
        loop {
            let reply = conn.next_reply().map_err(|e| match e {
                ReplyError::Protocol(error) => Error::Protocol {
                    target: self.shared.target.name.clone(),
                    error,
                },
                ReplyError::Unexpected => Error::UnexpectedReply {
                    target: self.shared.target.name.clone(),
                },
            })?;
            let Some((frame, pending)) = reply else {
                return Ok(());
            };
            let is_error = frame.kind == ReplyKind::Error;
            if is_error && !self.recorder.has_error_text() {
                self.recorder.note_error_text(conn.last_error_text(frame));
            }
            let measured = pending.start_ns >= self.shared.warmup_ns;
            let latency_ns = now_ns.saturating_sub(pending.start_ns);
            self.recorder
                .record(pending.template as usize, latency_ns, is_error, measured);
            self.in_flight -= 1;
            self.last_reply_ns = now_ns;
        }
    }

    /// Closed loop: tops connection `index` up to `pipeline` requests in flight.
    fn fill_pipeline(&mut self, index: usize, now_ns: u64) {
        while self.conns[index].in_flight() < self.pipeline && self.more_to_send(now_ns) {
            self.issue(index, now_ns);
        }
    }

    /// Open loop: sends every request whose time has come, as room allows.
    fn send_due(&mut self, now_ns: u64) -> Result<(), Error> {
        while self.more_to_send(now_ns) {
            let schedule = self.schedule.as_ref().expect("open loop has a schedule");
            let due_ns = schedule.due_ns();
            if due_ns > now_ns {
                break;
            }
            let Some(index) = self.connection_with_room() else {
                break;
            };
            self.issue(index, due_ns);
            let schedule = self.schedule.as_mut().expect("open loop has a schedule");
            schedule.next_seq += 1;
            schedule.next_conn = (index + 1) % self.conns.len();
        }
        for index in 0..self.conns.len() {
            self.flush(index)?;
        }
        Ok(())
    }

    /// The next connection, round-robin, with fewer than `pipeline` requests in flight.
    fn connection_with_room(&self) -> Option<usize> {
        let first = self.schedule.as_ref().map_or(0, |s| s.next_conn);
        let count = self.conns.len();
        (0..count)
            .map(|offset| (first + offset) % count)
            .find(|&index| self.conns[index].in_flight() < self.pipeline)
    }

    fn issue(&mut self, index: usize, start_ns: u64) {
        let conn = &mut self.conns[index];
        let template = self.source.next_request(conn.output());
        conn.sent(Pending {
            template: template as u32,
            start_ns,
        });
        self.issued += 1;
        self.in_flight += 1;
    }

    fn flush(&mut self, index: usize) -> Result<(), Error> {
        let conn = &mut self.conns[index];
        if conn.has_unflushed_output() {
            conn.flush().map_err(|e| self.shared.connection_error(e))?;
        }
        Ok(())
    }
}
