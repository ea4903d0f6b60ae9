//! The `corekv-loadgen` binary: parse flags, run or plot, print, exit.

use clap::Parser;
use corekv_loadgen::cli::{Action, Cli, RunRequest};
use corekv_loadgen::error::Error;
use corekv_loadgen::report::{self, RunReport};
use corekv_loadgen::{plot, run};
use signal_hook::consts::SIGINT;
use signal_hook::flag;
use std::io::Write;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Exit code after a second Ctrl-C, the shell's convention for death by SIGINT.
const EXIT_INTERRUPTED: i32 = 130;

fn main() {
    let code = match Cli::parse().into_action().and_then(execute) {
        Ok(()) => 0,
        Err(error) => {
            eprintln!("corekv-loadgen: {error}");
            error.exit_code()
        }
    };
    std::process::exit(code);
}

fn execute(action: Action) -> Result<(), Error> {
    match action {
        Action::Plot { inputs, out } => plot::plot_files(&inputs, &out),
        Action::Run(request) => run_and_report(&request),
    }
}

fn run_and_report(request: &RunRequest) -> Result<(), Error> {
    let stop = stop_on_interrupt()?;
    let outcome = run::run(&request.config, &stop)?;
    let report = RunReport::new(&request.config, &outcome);
    if let Some(path) = &request.hdr_out {
        let text = report::hdr_percentile_text(&outcome.total().latency_ns);
        std::fs::write(path, text).map_err(|source| Error::Output {
            path: path.clone(),
            source,
        })?;
    }
    print_report(&report, request.json);
    let (failed, requests) = (outcome.failed(), outcome.attempted());
    if failed as f64 > request.max_error_ratio * requests as f64 {
        return Err(Error::ErrorRatio {
            failed,
            requests,
            ratio_max: request.max_error_ratio,
        });
    }
    Ok(())
}

/// The first Ctrl-C sets the returned flag, which ends the run early with a report;
/// a second one ends the process at once.
fn stop_on_interrupt() -> Result<Arc<AtomicBool>, Error> {
    let stop = Arc::new(AtomicBool::new(false));
    let system = |source| Error::System {
        what: "installing the SIGINT handler",
        source,
    };
    flag::register_conditional_shutdown(SIGINT, EXIT_INTERRUPTED, Arc::clone(&stop))
        .map_err(system)?;
    flag::register(SIGINT, Arc::clone(&stop)).map_err(system)?;
    Ok(stop)
}

/// The table goes to stdout, or to stderr when stdout carries the JSON.
fn print_report(report: &RunReport, json: bool) {
    if json {
        eprint!("{}", report.table());
        let text = serde_json::to_string_pretty(report).expect("reports serialize");
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{text}");
    } else {
        print!("{}", report.table());
    }
}
