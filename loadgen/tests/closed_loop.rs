//! Black-box tests of closed-loop runs, workloads and outputs against a real server.

mod common;

use common::{loadgen, loadgen_args, loadgen_raw, Server};

fn total(json: &serde_json::Value, field: &str) -> u64 {
    json["total"][field]
        .as_u64()
        .unwrap_or_else(|| panic!("total.{field} missing"))
}

fn command<'a>(json: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    json["commands"]
        .as_array()
        .expect("commands array")
        .iter()
        .find(|c| c["command"] == name)
        .unwrap_or_else(|| panic!("no {name} in {json}"))
}

#[test]
fn sequential_set_writes_every_key_exactly_once() {
    let server = Server::start();
    let run = loadgen(
        server.port,
        "-t set --distribution sequential -n 5000 --keyspace 5000 -c 6 -P 4 --threads 2 --json -q",
    );
    run.assert_success();
    let json = run.json();
    assert_eq!(json["mode"], "closed");
    assert_eq!(total(&json, "requests"), 5_000);
    assert_eq!(total(&json, "errors"), 0);
    assert_eq!(json["unanswered"], 0);
    assert_eq!(server.dbsize(), 5_000, "each of the 5000 keys written once");
    assert_eq!(server.command_calls("set"), 5_000);
    let p50 = json["total"]["latency_ms"]["p50"].as_f64().unwrap();
    let max = json["total"]["latency_ms"]["max"].as_f64().unwrap();
    assert!(p50 > 0.0 && p50 <= max, "p50 {p50}, max {max}");
}

#[test]
fn ratio_mix_counts_match_the_server() {
    let server = Server::start();
    let run = loadgen(
        server.port,
        "--ratio set:1,get:4 -n 10000 -c 4 -P 8 --json -q",
    );
    run.assert_success();
    let json = run.json();
    let sets = command(&json, "SET")["requests"].as_u64().unwrap();
    let gets = command(&json, "GET")["requests"].as_u64().unwrap();
    assert_eq!(sets + gets, 10_000);
    assert_eq!(server.command_calls("set"), sets);
    assert_eq!(server.command_calls("get"), gets);
    let set_share = sets as f64 / 10_000.0;
    assert!((set_share - 0.2).abs() < 0.03, "SET share {set_share}");
}

#[test]
fn prefill_writes_the_keyspace_before_a_template_workload() {
    let server = Server::start();
    let flags = "--prefill --keyspace 1000 --key-prefix pf: --value-size 8-16 \
                 --distribution zipfian -n 300 -c 3 --json -q";
    let mut args: Vec<&str> = flags.split_whitespace().collect();
    args.extend(["--command", "LPUSH list:__key__ __value__"]);
    let run = loadgen_args(server.port, &args);
    run.assert_success();
    assert_eq!(
        server.command_calls("set"),
        1_000,
        "prefill SETs each key once"
    );
    assert_eq!(server.command_calls("lpush"), 300);
    assert_eq!(command(&run.json(), "LPUSH")["requests"], 300);
    let mut client = server.client();
    let value: Vec<u8> = redis::cmd("GET").arg("pf:999").query(&mut client).unwrap();
    assert!(
        (8..=16).contains(&value.len()),
        "value of {} bytes",
        value.len()
    );
    let lists: Vec<String> = redis::cmd("KEYS")
        .arg("list:pf:*")
        .query(&mut client)
        .unwrap();
    assert!(!lists.is_empty() && lists.len() <= 300);
    let hot: u64 = redis::cmd("LLEN")
        .arg("list:pf:0")
        .query(&mut client)
        .unwrap();
    assert!(hot > 10, "zipfian makes key 0 hot, got {hot} pushes");
}

#[test]
fn multi_key_commands_carry_k_keys() {
    let server = Server::start();
    let mset =
        "-t mset --keys-per-command 5 --distribution sequential --keyspace 500 -n 100 -c 1 -q";
    loadgen(server.port, mset).assert_success();
    assert_eq!(
        server.dbsize(),
        500,
        "100 MSETs of 5 sequential keys cover 500 keys"
    );
    let mget = "-t mget --keys-per-command 5 --keyspace 500 -n 100 --json -q";
    let run = loadgen(server.port, mget);
    run.assert_success();
    assert_eq!(server.command_calls("mget"), 100);
    assert_eq!(total(&run.json(), "errors"), 0);
}

#[test]
fn unreachable_server_fails_with_a_clear_message() {
    let port = common::free_port();
    let run = loadgen(port, "-n 10 --connect-timeout-ms 500");
    assert_eq!(run.code, 1, "{}", run.describe());
    assert!(
        run.stderr.contains("cannot connect to 127.0.0.1:"),
        "{}",
        run.describe()
    );
}

#[test]
fn error_replies_above_the_ratio_fail_the_run() {
    let server = Server::start();
    let run = loadgen(server.port, "--command GET -n 200 --json -q");
    assert_eq!(run.code, 3, "{}", run.describe());
    assert!(
        run.stderr.contains("--max-error-ratio"),
        "{}",
        run.describe()
    );
    let json = run.json();
    assert_eq!(total(&json, "errors"), 200);
    let first_error = json["first_error"].as_str().unwrap();
    assert!(
        first_error.starts_with("ERR wrong number of arguments"),
        "{first_error}"
    );
    let tolerated = loadgen(server.port, "--command GET -n 200 --max-error-ratio 1 -q");
    tolerated.assert_success();
}

#[test]
fn auth_and_select_apply_to_every_connection() {
    let server = Server::start_with(&["--requirepass", "s3cret"]);
    let args = "--auth s3cret --db 3 -t set --distribution sequential --keyspace 50 -n 50 -c 5 -q";
    loadgen(server.port, args).assert_success();
    let keys: u64 = redis::cmd("DBSIZE")
        .query(&mut server.client_with(Some("s3cret"), 3))
        .unwrap();
    assert_eq!(keys, 50);

    let wrong = loadgen(server.port, "--auth nope -n 1 -q");
    assert_eq!(wrong.code, 1, "{}", wrong.describe());
    assert!(
        wrong.stderr.contains("refused AUTH"),
        "{}",
        wrong.describe()
    );
}

#[test]
fn hdr_output_and_plot_are_written() {
    let server = Server::start();
    let dir = std::env::temp_dir().join(format!("loadgen-outputs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let hdr = dir.join("run.hdr");
    let mut inputs = Vec::new();
    for (name, pipeline) in [("p1", 1), ("p16", 16)] {
        let args = format!(
            "-n 3000 -c 2 -P {pipeline} --json -q --hdr-out {}",
            hdr.display()
        );
        let run = loadgen(server.port, &args);
        run.assert_success();
        let path = dir.join(format!("{name}.json"));
        std::fs::write(&path, &run.stdout).unwrap();
        inputs.push(path);
    }
    let hdr_text = std::fs::read_to_string(&hdr).unwrap();
    assert!(hdr_text.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)\n\n"));
    assert!(hdr_text.contains("#[Max     = "));
    assert!(
        hdr_text.contains("Total count    =         3000]"),
        "{hdr_text}"
    );

    let svg = dir.join("compare.svg");
    let mut args = vec!["--plot", svg.to_str().unwrap()];
    for input in &inputs {
        args.extend(["--plot-input", input.to_str().unwrap()]);
    }
    loadgen_raw(&args).assert_success();
    let svg_text = std::fs::read_to_string(&svg).unwrap();
    assert_eq!(svg_text.matches("<polyline").count(), 2);
    assert!(svg_text.contains(">p16</text>"));
    assert!(svg_text.contains(">99.999%</text>"));
    let _ = std::fs::remove_dir_all(&dir);
}
