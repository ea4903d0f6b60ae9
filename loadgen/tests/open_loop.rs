//! Black-box tests of open-loop pacing against a real server: the rate is held, the
//! warmup is left out, and a server stall shows in the latencies (no coordinated
//! omission). They measure time, so they run one at a time.

mod common;

use common::{loadgen, Server};
use std::sync::Mutex;
use std::thread;
use std::time::Duration;

/// Serialises the tests of this file: each measures wall-clock behaviour.
static TIMING: Mutex<()> = Mutex::new(());

fn latency_ms(json: &serde_json::Value, percentile: &str) -> f64 {
    json["total"]["latency_ms"][percentile]
        .as_f64()
        .expect("latency field")
}

#[test]
fn open_loop_holds_the_requested_rate() {
    let _timing = TIMING.lock().unwrap_or_else(|p| p.into_inner());
    let server = Server::start();
    let run = loadgen(
        server.port,
        "--rate 20000 --duration 3 -c 20 --threads 2 --json -q",
    );
    run.assert_success();
    let json = run.json();
    assert_eq!(json["mode"], "open");
    let achieved = json["total"]["requests_per_s"].as_f64().unwrap();
    assert!(
        (achieved / 20_000.0 - 1.0).abs() < 0.05,
        "achieved {achieved} req/s"
    );
    let requests = json["total"]["requests"].as_u64().unwrap();
    assert!(
        (requests as f64 / 60_000.0 - 1.0).abs() < 0.05,
        "{requests} requests"
    );
    assert_eq!(server.command_calls("get"), requests);
}

#[test]
fn a_server_stall_shows_in_the_tail_latency() {
    let _timing = TIMING.lock().unwrap_or_else(|p| p.into_inner());
    let server = Server::start();
    let run = thread::scope(|scope| {
        let port = server.port;
        let args = "--rate 5000 --duration 4 -c 10 --json -q";
        let run = scope.spawn(move || loadgen(port, args));
        thread::sleep(Duration::from_millis(1_500));
        server.pause();
        thread::sleep(Duration::from_millis(1_000));
        server.resume();
        run.join().expect("loadgen thread")
    });
    run.assert_success();
    let json = run.json();
    let p999 = latency_ms(&json, "p99_9");
    assert!(
        p999 >= 900.0,
        "a 1 s stall must appear in p99.9, got {p999} ms"
    );
    let p50 = latency_ms(&json, "p50");
    assert!(p50 < 100.0, "most requests were not delayed, p50 {p50} ms");
    let requests = json["total"]["requests"].as_u64().unwrap();
    assert_eq!(
        requests, 20_000,
        "requests due during the stall are sent late, not dropped"
    );
}

#[test]
fn warmup_requests_are_sent_but_not_measured() {
    let _timing = TIMING.lock().unwrap_or_else(|p| p.into_inner());
    let server = Server::start();
    let args = "--rate 2000 --warmup 1 --duration 1 -c 4 --json -q";
    let run = loadgen(server.port, args);
    run.assert_success();
    let json = run.json();
    let measured = json["total"]["requests"].as_u64().unwrap();
    assert!((1_900..=2_100).contains(&measured), "measured {measured}");
    let sent = server.command_calls("get");
    assert!((3_900..=4_100).contains(&sent), "sent {sent}");
    assert!((json["duration_s"].as_f64().unwrap() - 1.0).abs() < 0.1);
}
