//! The `corekv-loadgen` binary: parse flags, run or plot, print, exit.

use clap::Parser;
use corekv_loadgen::cli::{Action, Cli, RunRequest};
use corekv_loadgen::error::Error;
use corekv_loadgen::report::{self, RunReport};
use corekv_loadgen::{plot, run};
use std::io::Write;

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
    let outcome = run::run(&request.config)?;
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
