//! Command-line flags and their validation into a run [`Config`].
//!
//! `-h` is `--host` (as in `redis-benchmark` and `redis-cli`), so help is `--help` only.

use crate::affinity;
use crate::conn::{Auth, Target};
use crate::error::Error;
use crate::keys::Distribution;
use crate::limits::{
    CONNECTIONS_MAX, KEYSPACE_MAX, KEYS_PER_COMMAND_MAX, PIPELINE_MAX, RATE_PER_S_MAX,
    RUN_DURATION_S_MAX, THREADS_MAX, ZIPF_SKEW_MAX,
};
use crate::plot::PLOT_INPUTS_MAX;
use crate::run::Config;
use crate::template::Template;
use crate::value::ValueSize;
use crate::worker::Pacing;
use crate::workload::Workload;
use clap::{ArgAction, Parser, ValueEnum};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Duration of a run given neither `--duration` nor `-n`.
const DEFAULT_DURATION_S: f64 = 10.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DistributionName {
    Uniform,
    Zipfian,
    Sequential,
}

/// Load generator for Redis-protocol servers: closed or open loop, HDR latency.
#[derive(Debug, Parser)]
#[command(name = "corekv-loadgen", version, disable_help_flag = true)]
pub struct Cli {
    /// Print help.
    #[arg(long, action = ArgAction::Help)]
    help: Option<bool>,

    /// Server host name or address.
    #[arg(short = 'h', long, default_value = "127.0.0.1")]
    pub host: String,
    /// Server port.
    #[arg(short = 'p', long, default_value_t = 6379)]
    pub port: u16,
    /// Password for AUTH.
    #[arg(long)]
    pub auth: Option<String>,
    /// User name for AUTH (ACL); needs --auth.
    #[arg(long, requires = "auth")]
    pub user: Option<String>,
    /// Database number to SELECT on every connection.
    #[arg(long, default_value_t = 0)]
    pub db: u32,
    /// Time allowed for each TCP connect.
    #[arg(long, default_value_t = 2_000)]
    pub connect_timeout_ms: u64,

    /// Worker threads [default: number of --cpus, or 1].
    #[arg(long)]
    pub threads: Option<usize>,
    /// CPUs to pin worker threads to, e.g. 0-3,6 (thread i gets the i-th CPU).
    #[arg(long)]
    pub cpus: Option<String>,
    /// Connections, spread over the threads.
    #[arg(short = 'c', long, default_value_t = 50)]
    pub connections: usize,
    /// Closed loop: requests in flight per connection.
    #[arg(short = 'P', long, default_value_t = 1, conflicts_with = "rate")]
    pub pipeline: usize,
    /// Open loop: requests per second over all connections; latency counts from
    /// each request's scheduled send time.
    #[arg(long)]
    pub rate: Option<f64>,

    /// Workload: get, set, incr, lpush, hset, mget, mset.
    #[arg(short = 't', long, default_value = "get")]
    pub workload: String,
    /// Mix of workloads with weights, e.g. set:1,get:9.
    #[arg(long, conflicts_with_all = ["workload", "command"])]
    pub ratio: Option<String>,
    /// Free command template, e.g. "SET key:__key__ __value__" (also __key0__.. and
    /// __value__ per occurrence).
    #[arg(long, conflicts_with = "workload")]
    pub command: Option<String>,
    /// Keys per MGET/MSET.
    #[arg(long, default_value_t = 10)]
    pub keys_per_command: usize,
    /// Key distribution.
    #[arg(long, value_enum, default_value = "uniform")]
    pub distribution: DistributionName,
    /// Zipfian exponent: probability of the i-th hottest key ∝ 1/i^skew.
    #[arg(long, default_value_t = 0.99)]
    pub zipf_skew: f64,
    /// Number of distinct keys.
    #[arg(long, default_value_t = 100_000)]
    pub keyspace: u64,
    /// Text before each key's decimal index.
    #[arg(long, default_value = "key:")]
    pub key_prefix: String,
    /// Value size in bytes, or a MIN-MAX range drawn uniformly.
    #[arg(long, default_value = "32")]
    pub value_size: ValueSize,
    /// Write every key of the keyspace once with SET before measuring.
    #[arg(long)]
    pub prefill: bool,

    /// Seconds to send load after the warmup [default: 10 unless -n is given].
    #[arg(long)]
    pub duration: Option<f64>,
    /// Total requests to send (warmup included); with --duration, whichever ends first.
    #[arg(short = 'n', long)]
    pub requests: Option<u64>,
    /// Seconds of load before measuring; their replies are not recorded.
    #[arg(long, default_value_t = 0.0)]
    pub warmup: f64,

    /// Print the result as JSON on stdout (the table goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// Write HdrHistogram percentile distribution text (all commands) to FILE.
    #[arg(long, value_name = "FILE")]
    pub hdr_out: Option<PathBuf>,
    /// Draw the --plot-input results as an SVG latency-by-percentile chart; runs no load.
    #[arg(long, value_name = "OUT.svg", requires = "plot_inputs")]
    pub plot: Option<PathBuf>,
    /// A --json result file to plot (repeat for several curves).
    #[arg(long = "plot-input", value_name = "FILE.json", requires = "plot")]
    pub plot_inputs: Vec<PathBuf>,
    /// Fail (exit 3) when more than this fraction of requests get error replies.
    #[arg(long, default_value_t = 0.01)]
    pub max_error_ratio: f64,
    /// Spin instead of sleeping between sends: sharper open-loop timing on a core of
    /// its own, at the cost of that core.
    #[arg(long)]
    pub busy_poll: bool,
    /// Seed for keys, values and mixes [default: from the clock].
    #[arg(long)]
    pub seed: Option<u64>,
    /// No progress lines.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// What the command line asks for.
pub enum Action {
    Run(Box<RunRequest>),
    Plot { inputs: Vec<PathBuf>, out: PathBuf },
}

/// A load run and what to do with its result.
pub struct RunRequest {
    pub config: Config,
    pub json: bool,
    pub hdr_out: Option<PathBuf>,
    pub max_error_ratio: f64,
}

impl Cli {
    pub fn into_action(self) -> Result<Action, Error> {
        if let Some(out) = self.plot {
            if self.plot_inputs.len() > PLOT_INPUTS_MAX {
                return Err(usage(format!(
                    "--plot takes at most {PLOT_INPUTS_MAX} inputs"
                )));
            }
            return Ok(Action::Plot {
                inputs: self.plot_inputs,
                out,
            });
        }
        if !(0.0..=1.0).contains(&self.max_error_ratio) {
            return Err(usage(
                "--max-error-ratio must be between 0 and 1".to_string(),
            ));
        }
        let (json, hdr_out, max_error_ratio) =
            (self.json, self.hdr_out.clone(), self.max_error_ratio);
        Ok(Action::Run(Box::new(RunRequest {
            config: self.into_config()?,
            json,
            hdr_out,
            max_error_ratio,
        })))
    }

    fn into_config(self) -> Result<Config, Error> {
        let cpus = self
            .cpus
            .as_deref()
            .map(affinity::parse_cpu_list)
            .transpose()
            .map_err(usage)?;
        let threads = self
            .threads
            .unwrap_or_else(|| cpus.as_ref().map_or(1, Vec::len));
        check_range("--threads", threads, 1, THREADS_MAX)?;
        check_range("--connections", self.connections, 1, CONNECTIONS_MAX)?;
        check_range("--pipeline", self.pipeline, 1, PIPELINE_MAX)?;
        check_range(
            "--keys-per-command",
            self.keys_per_command,
            1,
            KEYS_PER_COMMAND_MAX,
        )?;
        check_range("--keyspace", self.keyspace, 1, KEYSPACE_MAX)?;
        let (duration, requests, warmup) = self.run_length()?;
        let auth = self.auth.clone().map(|password| Auth {
            user: self.user.clone(),
            password,
        });
        let connect_timeout = Duration::from_millis(self.connect_timeout_ms.max(1));
        Ok(Config {
            target: Target::resolve(&self.host, self.port, connect_timeout, auth, self.db)?,
            threads,
            cpus,
            connections: self.connections,
            pacing: self.pacing()?,
            workload: self.workload()?,
            distribution: self.distribution()?,
            keyspace: self.keyspace,
            key_prefix: self.key_prefix.into_bytes(),
            value_size: self.value_size,
            prefill: self.prefill,
            duration,
            requests,
            warmup,
            seed: self.seed.unwrap_or_else(clock_seed),
            busy_poll: self.busy_poll,
            progress: !self.quiet,
        })
    }

    fn run_length(&self) -> Result<(Option<Duration>, Option<u64>, Duration), Error> {
        let seconds = |flag: &str, value: f64, min: f64| {
            if value.is_finite() && value >= min && value <= RUN_DURATION_S_MAX {
                Ok(Duration::from_secs_f64(value))
            } else {
                Err(usage(format!(
                    "{flag} must be between {min} and {RUN_DURATION_S_MAX} seconds"
                )))
            }
        };
        let duration = match (self.duration, self.requests) {
            (None, None) => Some(DEFAULT_DURATION_S),
            (d, _) => d,
        };
        let duration = duration
            .map(|d| seconds("--duration", d, 0.001))
            .transpose()?;
        if self.requests == Some(0) {
            return Err(usage("-n/--requests must be at least 1".to_string()));
        }
        let warmup = seconds("--warmup", self.warmup, 0.0)?;
        Ok((duration, self.requests, warmup))
    }

    fn pacing(&self) -> Result<Pacing, Error> {
        match self.rate {
            None => Ok(Pacing::Closed {
                pipeline: self.pipeline,
            }),
            Some(rate) if rate.is_finite() && rate > 0.0 && rate <= RATE_PER_S_MAX => {
                Ok(Pacing::Open { rate_per_s: rate })
            }
            Some(_) => Err(usage(format!(
                "--rate must be above 0 and at most {RATE_PER_S_MAX}"
            ))),
        }
    }

    fn workload(&self) -> Result<Workload, Error> {
        if let Some(spec) = &self.ratio {
            return Workload::ratio(spec, self.keys_per_command).map_err(usage);
        }
        if let Some(text) = &self.command {
            let template = Template::parse(text).map_err(|e| usage(e.to_string()))?;
            return Ok(Workload::single(template));
        }
        Workload::named(&self.workload, self.keys_per_command).map_err(usage)
    }

    fn distribution(&self) -> Result<Distribution, Error> {
        Ok(match self.distribution {
            DistributionName::Uniform => Distribution::Uniform,
            DistributionName::Sequential => Distribution::Sequential,
            DistributionName::Zipfian => {
                let skew = self.zipf_skew;
                if !(skew > 0.0 && skew <= ZIPF_SKEW_MAX) {
                    return Err(usage(format!(
                        "--zipf-skew must be above 0 and at most {ZIPF_SKEW_MAX}"
                    )));
                }
                Distribution::Zipfian { skew }
            }
        })
    }
}

fn usage(message: String) -> Error {
    Error::Usage(message)
}

fn check_range<T: PartialOrd + std::fmt::Display>(
    flag: &str,
    value: T,
    min: T,
    max: T,
) -> Result<(), Error> {
    if value < min || value > max {
        return Err(usage(format!(
            "{flag} must be between {min} and {max}, not {value}"
        )));
    }
    Ok(())
}

fn clock_seed() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |t| t.as_nanos() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Action, Error> {
        let argv = std::iter::once("corekv-loadgen").chain(args.iter().copied());
        Cli::try_parse_from(argv)
            .map_err(|e| usage(e.to_string()))?
            .into_action()
    }

    fn config(args: &[&str]) -> Config {
        match parse(args) {
            Ok(Action::Run(request)) => request.config,
            Ok(Action::Plot { .. }) => panic!("expected a run"),
            Err(e) => panic!("{args:?}: {e}"),
        }
    }

    #[test]
    fn defaults_describe_a_ten_second_closed_loop_get_run() {
        let config = config(&[]);
        assert_eq!(config.target.name, "127.0.0.1:6379");
        assert_eq!(config.pacing, Pacing::Closed { pipeline: 1 });
        assert_eq!(config.duration, Some(Duration::from_secs(10)));
        assert_eq!(config.threads, 1);
        assert_eq!(config.workload.describe(), "GET:1");
    }

    #[test]
    fn short_flags_and_cpu_list_set_threads() {
        let config = config(&[
            "-h",
            "localhost",
            "-p",
            "7000",
            "-c",
            "8",
            "-P",
            "16",
            "--cpus",
            "0-1",
            "-n",
            "5",
        ]);
        assert_eq!(config.target.name, "localhost:7000");
        assert_eq!(config.threads, 2);
        assert_eq!(config.cpus, Some(vec![0, 1]));
        assert_eq!(config.pacing, Pacing::Closed { pipeline: 16 });
        assert_eq!(config.requests, Some(5));
        assert_eq!(config.duration, None);
    }

    #[test]
    fn workload_sources_are_exclusive() {
        assert_eq!(
            config(&["--ratio", "set:1,get:9"]).workload.describe(),
            "SET:1,GET:9"
        );
        assert_eq!(
            config(&["--command", "INCRBY __key__ 5"])
                .workload
                .describe(),
            "INCRBY:1"
        );
        assert!(parse(&["-t", "set", "--ratio", "set:1"]).is_err());
        assert!(parse(&["-t", "set", "--command", "GET x"]).is_err());
    }

    #[test]
    fn rejects_out_of_range_values() {
        for args in [
            &["-c", "0"][..],
            &["--rate", "0"],
            &["--rate", "100", "-P", "2"],
            &["--distribution", "zipfian", "--zipf-skew", "0"],
            &["--duration", "-1"],
            &["-n", "0"],
            &["--value-size", "9-1"],
            &["--user", "u"],
            &["--max-error-ratio", "2"],
            &["--plot", "x.svg"],
        ] {
            assert!(parse(args).is_err(), "{args:?}");
        }
    }

    #[test]
    fn plot_runs_no_load() {
        match parse(&[
            "--plot",
            "o.svg",
            "--plot-input",
            "a.json",
            "--plot-input",
            "b.json",
        ]) {
            Ok(Action::Plot { inputs, out }) => {
                assert_eq!(inputs.len(), 2);
                assert_eq!(out, PathBuf::from("o.svg"));
            }
            _ => panic!("expected a plot"),
        }
    }
}
