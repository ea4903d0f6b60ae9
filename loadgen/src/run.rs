//! A run from start to finish: plan the threads, prefill, measure, merge.
//!
//! The calling thread is the reporter: it spawns one worker per thread (scoped, so
//! workers borrow the settings), prints a progress line every second from the
//! workers' progress slots, then joins them and merges their histograms.
//!
//! Load is split by connections: a thread with a third of the connections gets a third
//! of the rate, a third of `-n` and, for sequential keys, a third of the keyspace.

use crate::conn::Target;
use crate::error::Error;
use crate::keys::Distribution;
use crate::limits::{
    PREFILL_CONNECTIONS_PER_THREAD, PREFILL_PIPELINE, PROGRESS_INTERVAL_MS, REPORTER_TICK_MS,
};
use crate::stats::{self, CommandStats, Progress, ProgressReporter};
use crate::template::Template;
use crate::value::ValueSize;
use crate::worker::{self, Pacing, PhaseShared, WorkerResult, WorkerSpec};
use crate::workload::Workload;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Barrier, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// Everything a run needs, validated.
#[derive(Clone, Debug)]
pub struct Config {
    pub target: Target,
    pub threads: usize,
    pub cpus: Option<Vec<usize>>,
    pub connections: usize,
    pub pacing: Pacing,
    pub workload: Workload,
    pub distribution: Distribution,
    pub keyspace: u64,
    pub key_prefix: Vec<u8>,
    pub value_size: ValueSize,
    pub prefill: bool,
    pub duration: Option<Duration>,
    pub requests: Option<u64>,
    pub warmup: Duration,
    pub seed: u64,
    /// Workers poll without sleeping while they have requests to send.
    pub busy_poll: bool,
    /// Print progress lines on stderr.
    pub progress: bool,
}

/// The merged measurements of one phase.
pub struct Outcome {
    /// One entry per template of the workload, in its order.
    pub commands: Vec<CommandStats>,
    pub unanswered: u64,
    /// From the end of the warmup to the last reply.
    pub measured_s: f64,
    pub first_error: Option<String>,
}

impl Outcome {
    pub fn failed(&self) -> u64 {
        self.commands.iter().map(|c| c.errors).sum::<u64>() + self.unanswered
    }

    /// All commands together.
    pub fn total(&self) -> CommandStats {
        let mut total = CommandStats::new();
        self.commands.iter().for_each(|stats| total.add(stats));
        total
    }

    pub fn attempted(&self) -> u64 {
        self.commands.iter().map(|c| c.requests()).sum::<u64>() + self.unanswered
    }
}

/// Checks the server is reachable, prefills if asked, then measures. Setting `stop`
/// ends the measurement early with the results so far.
pub fn run(config: &Config, stop: &AtomicBool) -> Result<Outcome, Error> {
    drop(config.target.connect()?);
    if config.prefill {
        prefill(config, stop)?;
        if stop.load(Ordering::Relaxed) {
            return Err(Error::Interrupted);
        }
    }
    run_phase(config, &Phase::measure(config), stop, "run")
}

/// Writes every key of the keyspace once with `SET`, as fast as the server takes it.
fn prefill(config: &Config, stop: &AtomicBool) -> Result<(), Error> {
    let started = Instant::now();
    let template = Template::parse("SET __key__ __value__").expect("prefill template is valid");
    let workload = Workload::single(template);
    let threads = config.threads.min(config.keyspace as usize).max(1);
    let phase = Phase {
        workload: &workload,
        distribution: Distribution::Sequential,
        connections: (threads * PREFILL_CONNECTIONS_PER_THREAD).min(config.keyspace as usize),
        pacing: Pacing::Closed {
            pipeline: PREFILL_PIPELINE,
        },
        requests: Some(config.keyspace),
        duration: None,
        warmup: Duration::ZERO,
    };
    let outcome = run_phase(config, &phase, stop, "prefill")?;
    if config.progress {
        eprintln!(
            "prefill: wrote {} keys in {:.1} s",
            config.keyspace,
            started.elapsed().as_secs_f64()
        );
    }
    match outcome.failed() {
        0 => Ok(()),
        failed => Err(Error::Prefill {
            failed,
            first_error: outcome.first_error.unwrap_or_default(),
        }),
    }
}

/// The parts of a config that differ between prefill and measurement.
struct Phase<'a> {
    workload: &'a Workload,
    distribution: Distribution,
    connections: usize,
    pacing: Pacing,
    requests: Option<u64>,
    duration: Option<Duration>,
    warmup: Duration,
}

impl<'a> Phase<'a> {
    fn measure(config: &'a Config) -> Phase<'a> {
        Phase {
            workload: &config.workload,
            distribution: config.distribution,
            connections: config.connections,
            pacing: config.pacing,
            requests: config.requests,
            duration: config.duration,
            warmup: config.warmup,
        }
    }
}

fn run_phase(
    config: &Config,
    phase: &Phase<'_>,
    stop: &AtomicBool,
    label: &str,
) -> Result<Outcome, Error> {
    let specs = plan_workers(config, phase);
    let warmup_ns = phase.warmup.as_nanos() as u64;
    let shared = PhaseShared {
        target: &config.target,
        workload: phase.workload,
        distribution: phase.distribution,
        keyspace: config.keyspace,
        key_prefix: &config.key_prefix,
        value_size: config.value_size,
        warmup_ns,
        send_end_ns: phase.duration.map(|d| warmup_ns + d.as_nanos() as u64),
        busy_poll: config.busy_poll,
        start: Barrier::new(specs.len()),
        epoch: OnceLock::new(),
        abort: AtomicBool::new(false),
        stop,
        progress: specs.iter().map(|_| Mutex::new(Progress::new())).collect(),
    };
    let finished = AtomicUsize::new(0);
    let results: Vec<Result<WorkerResult, Error>> = thread::scope(|scope| {
        let handles: Vec<_> = specs
            .iter()
            .map(|spec| {
                let (shared, finished) = (&shared, &finished);
                thread::Builder::new()
                    .name(format!("loadgen-{}", spec.index))
                    .spawn_scoped(scope, move || {
                        let result = worker::run_worker(shared, spec);
                        if result.is_err() {
                            shared.abort.store(true, Ordering::Relaxed);
                        }
                        finished.fetch_add(1, Ordering::Release);
                        result
                    })
                    .expect("spawning a worker thread")
            })
            .collect();
        report_progress(config, &shared, &finished, specs.len(), label);
        handles
            .into_iter()
            .map(|h| h.join().expect("worker threads do not panic"))
            .collect()
    });
    merge_results(results, warmup_ns)
}

/// Prints a progress line every second until every worker has finished.
fn report_progress(
    config: &Config,
    shared: &PhaseShared<'_>,
    finished: &AtomicUsize,
    workers: usize,
    label: &str,
) {
    let mut reporter = ProgressReporter::new();
    let mut next_line_ms = PROGRESS_INTERVAL_MS;
    while finished.load(Ordering::Acquire) < workers {
        thread::sleep(Duration::from_millis(REPORTER_TICK_MS));
        let Some(epoch) = shared.epoch.get() else {
            continue;
        };
        let elapsed = epoch.elapsed();
        if !config.progress || (elapsed.as_millis() as u64) < next_line_ms {
            continue;
        }
        next_line_ms += PROGRESS_INTERVAL_MS;
        let in_warmup = (elapsed.as_nanos() as u64) < shared.warmup_ns;
        let phase = if in_warmup { "warmup" } else { label };
        eprintln!(
            "{}",
            reporter.line(&shared.progress, elapsed.as_secs_f64(), phase)
        );
    }
}

fn merge_results(
    results: Vec<Result<WorkerResult, Error>>,
    warmup_ns: u64,
) -> Result<Outcome, Error> {
    let mut first_failure = None;
    let mut successes = Vec::new();
    for result in results {
        match result {
            Ok(success) => successes.push(success),
            Err(Error::Aborted) => {}
            Err(error) => {
                first_failure.get_or_insert(error);
            }
        }
    }
    if let Some(error) = first_failure {
        return Err(error);
    }
    let last_reply_ns = successes.iter().map(|r| r.last_reply_ns).max().unwrap_or(0);
    let unanswered = successes.iter().map(|r| r.unanswered).sum();
    let first_error = successes.iter().find_map(|r| r.first_error.clone());
    let commands = stats::merge(successes.into_iter().map(|r| r.commands).collect());
    Ok(Outcome {
        commands,
        unanswered,
        measured_s: last_reply_ns.saturating_sub(warmup_ns) as f64 / 1e9,
        first_error,
    })
}

/// Splits a phase's connections, requests, rate and sequential keys over threads.
fn plan_workers(config: &Config, phase: &Phase<'_>) -> Vec<WorkerSpec> {
    assert!(phase.connections > 0);
    let threads = config.threads.clamp(1, phase.connections);
    let share = |total: u64, cumulative: usize| -> u64 {
        (u128::from(total) * cumulative as u128 / phase.connections as u128) as u64
    };
    let mut specs = Vec::with_capacity(threads);
    let mut connections_before = 0;
    for index in 0..threads {
        let connections =
            phase.connections / threads + usize::from(index < phase.connections % threads);
        let connections_after = connections_before + connections;
        let slice: Range<u64> =
            share(config.keyspace, connections_before)..share(config.keyspace, connections_after);
        let (pacing, schedule_offset_ns) = match phase.pacing {
            Pacing::Open { rate_per_s } => {
                let thread_rate_per_s = rate_per_s * connections as f64 / phase.connections as f64;
                let offset_ns = index as f64 * 1e9 / rate_per_s;
                let pacing = Pacing::Open {
                    rate_per_s: thread_rate_per_s,
                };
                (pacing, offset_ns as u64)
            }
            closed => (closed, 0),
        };
        specs.push(WorkerSpec {
            index,
            cpu: config.cpus.as_ref().map(|cpus| cpus[index % cpus.len()]),
            connections,
            pacing,
            requests: phase
                .requests
                .map(|n| share(n, connections_after) - share(n, connections_before)),
            key_slice: slice,
            schedule_offset_ns,
            seed: config
                .seed
                .wrapping_add((index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
        });
        connections_before = connections_after;
    }
    assert_eq!(connections_before, phase.connections);
    specs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(threads: usize, connections: usize) -> Config {
        Config {
            target: Target::resolve("127.0.0.1", 1, Duration::from_secs(1), None, 0).unwrap(),
            threads,
            cpus: Some(vec![0, 1]),
            connections,
            pacing: Pacing::Open {
                rate_per_s: 1_000.0,
            },
            workload: Workload::named("set", 1).unwrap(),
            distribution: Distribution::Sequential,
            keyspace: 1_001,
            key_prefix: b"key:".to_vec(),
            value_size: "3".parse().unwrap(),
            prefill: false,
            duration: None,
            requests: Some(1_001),
            warmup: Duration::ZERO,
            seed: 1,
            busy_poll: false,
            progress: false,
        }
    }

    #[test]
    fn plan_splits_everything_in_proportion_to_connections() {
        let config = config(3, 10);
        let specs = plan_workers(&config, &Phase::measure(&config));
        let connections: Vec<usize> = specs.iter().map(|s| s.connections).collect();
        assert_eq!(connections, [4, 3, 3]);
        let requests: u64 = specs.iter().map(|s| s.requests.unwrap()).sum();
        assert_eq!(requests, 1_001);
        let slices: Vec<Range<u64>> = specs.iter().map(|s| s.key_slice.clone()).collect();
        assert_eq!(slices, [0..400, 400..700, 700..1_001]);
        for spec in &specs {
            let slice_len = spec.key_slice.end - spec.key_slice.start;
            assert_eq!(
                spec.requests.unwrap(),
                slice_len,
                "-n keyspace writes each key once"
            );
        }
        let rate: f64 = specs
            .iter()
            .map(|s| match s.pacing {
                Pacing::Open { rate_per_s } => rate_per_s,
                Pacing::Closed { .. } => panic!("open loop stays open"),
            })
            .sum();
        assert!((rate - 1_000.0).abs() < 1e-9);
        let offsets: Vec<u64> = specs.iter().map(|s| s.schedule_offset_ns).collect();
        assert_eq!(
            offsets,
            [0, 1_000_000, 2_000_000],
            "1 ms apart at 1000 req/s"
        );
        let cpus: Vec<Option<usize>> = specs.iter().map(|s| s.cpu).collect();
        assert_eq!(cpus, [Some(0), Some(1), Some(0)]);
    }

    #[test]
    fn plan_never_has_more_threads_than_connections() {
        let config = config(8, 2);
        let specs = plan_workers(&config, &Phase::measure(&config));
        assert_eq!(specs.len(), 2);
        assert!(specs.iter().all(|s| s.connections == 1));
    }
}
