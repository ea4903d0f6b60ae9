//! Redis's own tools against corekv: `redis-cli` commands, `redis-cli --pipe` mass
//! insertion, `redis-cli --scan`, and `redis-benchmark` with no errors. The tools are
//! required: a missing one fails the test with what to install.

mod common;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{each_shard_count, encode_str, info_value, Server};

/// How long one tool run may take before the test fails.
const TOOL_TIMEOUT: Duration = Duration::from_secs(120);
const PIPE_COMMANDS: usize = 100_000;

/// The tool's path, or a failure naming the package to install.
fn tool(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{name} is not installed (not found in PATH): these tests need Redis's tools; \
                 install them with `apt-get install redis-tools` (Debian/Ubuntu)"
            )
        })
}

struct Run {
    success: bool,
    stdout: String,
    stderr: String,
}

/// Runs `name args` with `input` on stdin; fails the test after [`TOOL_TIMEOUT`].
fn run(name: &str, args: &[&str], input: Vec<u8>) -> Run {
    let mut child = Command::new(tool(name))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("can't run {name}: {e}"));
    let mut stdin = child.stdin.take().expect("stdin");
    let feeding = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("stdout")));
    let err = drain(Box::new(child.stderr.take().expect("stderr")));
    let deadline = Instant::now() + TOOL_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{name} {args:?} did not finish within {TOOL_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    feeding.join().expect("stdin thread");
    Run {
        success: status.success(),
        stdout: out.join().expect("stdout thread"),
        stderr: err.join().expect("stderr thread"),
    }
}

fn cli(server: &Server, args: &[&str]) -> String {
    let port = server.port().to_string();
    let mut all = vec!["-p", port.as_str()];
    all.extend_from_slice(args);
    let r = run("redis-cli", &all, Vec::new());
    assert!(r.success, "redis-cli {args:?}: {}{}", r.stdout, r.stderr);
    r.stdout
}

#[test]
fn redis_cli_commands_mass_insertion_and_scan() {
    each_shard_count(&[], |server, shards| {
        assert_eq!(cli(server, &["set", "k", "v"]), "OK\n");
        assert_eq!(cli(server, &["get", "k"]), "v\n");
        assert_eq!(
            cli(server, &["mset", "a", "1", "b", "2", "c", "3", "d", "4"]),
            "OK\n"
        );
        assert_eq!(cli(server, &["mget", "a", "b", "c", "d"]), "1\n2\n3\n4\n");
        assert_eq!(cli(server, &["incr", "n"]), "1\n");
        assert_eq!(cli(server, &["del", "a", "b", "c", "d", "k", "n"]), "6\n");

        let mut input = Vec::new();
        for i in 0..PIPE_COMMANDS {
            input.extend(encode_str(&["SET", &format!("key:{i}"), &format!("v{i}")]));
        }
        let port = server.port().to_string();
        let r = run("redis-cli", &["-p", &port, "--pipe"], input);
        assert!(r.success, "redis-cli --pipe: {}{}", r.stdout, r.stderr);
        assert!(
            r.stdout
                .contains(&format!("errors: 0, replies: {PIPE_COMMANDS}")),
            "{shards} shard(s): {}",
            r.stdout
        );
        assert_eq!(cli(server, &["dbsize"]), format!("{PIPE_COMMANDS}\n"));
        assert_eq!(cli(server, &["get", "key:99999"]), "v99999\n");

        let scanned = cli(server, &["--scan", "--pattern", "key:*"]);
        let mut keys: Vec<&str> = scanned.lines().collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), PIPE_COMMANDS, "redis-cli --scan sees every key");
    });
}

#[test]
fn redis_benchmark_runs_without_errors() {
    let server = Server::with_shards(4, &[]);
    let port = server.port().to_string();
    let r = run(
        "redis-benchmark",
        &["-p", &port, "-t", "set,get,incr,mset", "-n", "100000", "-q"],
        Vec::new(),
    );
    assert!(
        r.success,
        "redis-benchmark failed: {}{}",
        r.stdout, r.stderr
    );
    for test in ["SET:", "GET:", "INCR:", "MSET (10 keys):"] {
        let done = r
            .stdout
            .split('\r')
            .flat_map(|l| l.lines())
            .any(|l| l.trim_start().starts_with(test) && l.contains("requests per second"));
        assert!(done, "no {test} result in: {}", r.stdout);
    }
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(
        !all.contains("Error") && !all.contains("ERR"),
        "redis-benchmark reported errors: {all}"
    );
    // Every request ran and none failed: INCR's key took all 100,000 increments.
    let mut con = server.raw();
    assert_eq!(con.cmd(&["GET", "counter:__rand_int__"]), "100000");
    let stats = con.cmd(&["INFO", "stats"]);
    assert_eq!(
        info_value(&stats, "total_error_replies").as_deref(),
        Some("0")
    );
    let commandstats = con.cmd(&["INFO", "commandstats"]);
    for cmd in ["set", "get", "incr", "mset"] {
        let line = info_value(&commandstats, &format!("cmdstat_{cmd}"))
            .unwrap_or_else(|| panic!("no cmdstat_{cmd}: {commandstats}"));
        let calls: u64 = line
            .strip_prefix("calls=")
            .and_then(|r| r.split(',').next())
            .and_then(|n| n.parse().ok())
            .expect("calls=");
        assert!(calls >= 100_000, "cmdstat_{cmd}: {line}");
        assert!(line.contains("failed_calls=0"), "{line}");
    }
}
