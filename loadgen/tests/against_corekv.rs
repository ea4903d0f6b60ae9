//! Black-box tests of the loadgen against corekv-server with two shards: the counts
//! the loadgen reports must be the counts the server saw, including commands whose
//! keys hop to the other shard, and `--json` must parse in both loop modes.
//!
//! corekv-server is built here (`cargo build -p corekv-server` in the workspace) and
//! started from the build's own path, so the tests need no server on PATH.

mod common;

use common::{loadgen, Server};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const SHARDS: u64 = 2;

/// The corekv-server binary, built once per test process.
fn corekv_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(build_corekv)
}

/// Builds corekv-server and returns the executable cargo reports, wherever the
/// target directory is.
fn build_corekv() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let output = Command::new(cargo)
        .current_dir(&workspace)
        .args(["build", "-p", "corekv-server", "--message-format=json"])
        .output()
        .expect("run cargo build -p corekv-server");
    assert!(
        output.status.success(),
        "cargo build -p corekv-server failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["target"]["name"] == "corekv-server")
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .expect("cargo build reported the corekv-server executable")
}

fn start_corekv() -> Server {
    Server::start_binary(corekv_binary(), &["--shards", &SHARDS.to_string()])
}

fn total(json: &serde_json::Value, field: &str) -> u64 {
    json["total"][field]
        .as_u64()
        .unwrap_or_else(|| panic!("total.{field} missing in {json}"))
}

/// `field` of every `shardN` line of `INFO shards`, in shard order.
fn per_shard(server: &Server, field: &str) -> Vec<u64> {
    let prefix = format!("{field}=");
    server
        .info("shards")
        .iter()
        .filter(|(name, _)| name.starts_with("shard"))
        .map(|(name, value)| {
            value
                .split(',')
                .find_map(|pair| pair.strip_prefix(&prefix))
                .unwrap_or_else(|| panic!("no {field} for {name}: {value}"))
                .parse()
                .expect("a count")
        })
        .collect()
}

/// The percentile curve of the run's total, which `--plot` draws.
fn assert_percentile_curve(json: &serde_json::Value) {
    let commands = json["commands"].as_array().expect("commands array");
    assert!(!commands.is_empty(), "no commands in {json}");
    for command in commands {
        let curve = command["percentiles"]
            .as_array()
            .expect("percentiles array");
        assert!(!curve.is_empty(), "empty percentile curve in {command}");
    }
}

#[test]
fn sequential_set_writes_every_key_once_across_both_shards() {
    let server = start_corekv();
    let run = loadgen(
        server.port,
        "-t set --distribution sequential -n 20000 --keyspace 20000 -c 8 -P 8 --threads 2 --json -q",
    );
    run.assert_success();
    let json = run.json();
    assert_eq!(json["mode"], "closed");
    assert_eq!(total(&json, "requests"), 20_000);
    assert_eq!(total(&json, "errors"), 0);
    assert_eq!(json["unanswered"], 0);
    assert_percentile_curve(&json);
    assert_eq!(
        server.dbsize(),
        20_000,
        "each of the 20000 keys written once"
    );
    assert_eq!(server.command_calls("set"), 20_000);
    let keys = per_shard(&server, "keys");
    assert_eq!(keys.len() as u64, SHARDS, "INFO shards: {keys:?}");
    assert_eq!(keys.iter().sum::<u64>(), 20_000);
    assert!(
        keys.iter().all(|&k| k > 5_000),
        "keys spread over the shards: {keys:?}"
    );
}

#[test]
fn closed_loop_mix_counts_match_commandstats() {
    let server = start_corekv();
    let run = loadgen(
        server.port,
        "--ratio set:1,get:3 --prefill --keyspace 2000 -n 12000 -c 6 -P 4 --threads 2 --json -q",
    );
    run.assert_success();
    let json = run.json();
    let count = |name: &str| {
        json["commands"]
            .as_array()
            .expect("commands array")
            .iter()
            .find(|c| c["command"] == name)
            .and_then(|c| c["requests"].as_u64())
            .unwrap_or_else(|| panic!("no {name} count in {json}"))
    };
    let (sets, gets) = (count("SET"), count("GET"));
    assert_eq!(sets + gets, 12_000);
    assert_eq!(
        server.command_calls("set"),
        2_000 + sets,
        "prefill SETs each key once, then the mix"
    );
    assert_eq!(server.command_calls("get"), gets);
    assert_eq!(server.dbsize(), 2_000);
}

#[test]
fn multi_key_commands_spanning_shards_are_counted_once() {
    let server = start_corekv();
    let run = loadgen(
        server.port,
        "-t mset --keys-per-command 10 --keyspace 1000 -n 3000 -c 4 -P 2 --json -q",
    );
    run.assert_success();
    assert_eq!(total(&run.json(), "requests"), 3_000);
    assert_eq!(server.command_calls("mset"), 3_000);
    let run = loadgen(
        server.port,
        "-t mget --keys-per-command 10 --keyspace 1000 -n 2000 -c 4 -P 2 --json -q",
    );
    run.assert_success();
    assert_eq!(total(&run.json(), "errors"), 0);
    assert_eq!(server.command_calls("mget"), 2_000);
    assert!(server.dbsize() <= 1_000);
    let hops: u64 = per_shard(&server, "hops").iter().sum();
    assert!(hops > 0, "ten random keys per command hop between shards");
}

#[test]
fn open_loop_sends_at_the_rate_and_every_request_is_answered() {
    let server = start_corekv();
    let rate_per_s = 2_000;
    let duration_s = 2;
    let run = loadgen(
        server.port,
        &format!("-t get --rate {rate_per_s} --duration {duration_s} -c 10 --threads 2 --json -q"),
    );
    run.assert_success();
    let json = run.json();
    assert_eq!(json["mode"], "open");
    assert_eq!(json["rate_per_s"].as_f64(), Some(rate_per_s as f64));
    assert_eq!(json["unanswered"], 0);
    assert_percentile_curve(&json);
    let requests = total(&json, "requests");
    let expected = rate_per_s * duration_s;
    assert!(
        requests.abs_diff(expected) <= expected / 20,
        "{requests} requests at {rate_per_s}/s for {duration_s} s"
    );
    assert_eq!(server.command_calls("get"), requests);
}
