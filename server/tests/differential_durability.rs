//! The differential test's random command sequences, run on a master with
//! `appendfsync always` and a replica: once the replica has caught up it holds the
//! master's data, and so does the master after a `SIGKILL` and a restart, with a
//! snapshot taken halfway through the sequence. Every command's journal record and
//! replication stream must replay to what the command did, whatever the data type,
//! its encoding or the command's options. More seeds or longer sequences as for
//! the differential test (`COREKV_DIFFERENTIAL_SEEDS`, `COREKV_DIFFERENTIAL_COMMANDS`).

mod common;

use std::time::{Duration, Instant};

use common::random_commands::{normalized, pipelined, plan, sequence};
use common::{info_value, render, restart_in, start_in, DataDir, Server};

/// Seeds run (one sequence each), commands per sequence.
const SEEDS: std::ops::Range<u64> = 1..4;
const COMMANDS: usize = 1500;
const SHARDS: &str = "2";
/// How long the replica may take to catch up.
const SYNC_TIMEOUT: Duration = Duration::from_secs(20);
const POLL_INTERVAL: Duration = Duration::from_millis(20);
/// Characters of a differing key's line shown.
const LINE_SHOWN_MAX: usize = 400;

/// Databases the sequences use (`SELECT`, `MOVE`, `SWAPDB`, `COPY ... DB`).
const DATABASES: [&str; 2] = ["0", "1"];

/// Every key of the server with its database, type, value (in an order Redis
/// fixes, or sorted) and deadline, one line each.
fn state(server: &Server) -> Vec<String> {
    let mut con = server.raw();
    let mut ask = |args: &[&str]| {
        let cmd: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let reply = con.cmd_raw(&args.iter().map(|a| a.as_bytes()).collect::<Vec<_>>());
        render(&normalized(&cmd, reply))
    };
    let mut lines = Vec::new();
    for db in DATABASES {
        assert_eq!(ask(&["SELECT", db]), "OK");
        let keys = ask(&["KEYS", "*"]);
        let mut keys = common::items(&keys);
        keys.sort();
        for key in &keys {
            let kind = ask(&["TYPE", key]);
            let value = match kind.as_str() {
                "string" => ask(&["GET", key]),
                "list" => ask(&["LRANGE", key, "0", "-1"]),
                "hash" => ask(&["HGETALL", key]),
                "set" => ask(&["SMEMBERS", key]),
                "zset" => ask(&["ZRANGE", key, "0", "-1", "WITHSCORES"]),
                other => format!("a {other}"),
            };
            let deadline = ask(&["PEXPIRETIME", key]);
            lines.push(format!("{db}:{key} {kind} {value} (deadline {deadline})"));
        }
    }
    lines
}

/// Waits until the replica's link is up and it applied all the master wrote.
fn wait_synced(master: &Server, replica: &Server) {
    let deadline = Instant::now() + SYNC_TIMEOUT;
    loop {
        let m = master.raw().cmd(&["INFO", "replication"]);
        let r = replica.raw().cmd(&["INFO", "replication"]);
        let applied = info_value(&r, "slave_repl_offset");
        if info_value(&r, "master_link_status").as_deref() == Some("up")
            && info_value(&r, "master_sync_in_progress").as_deref() == Some("0")
            && applied.is_some()
            && applied == info_value(&m, "master_repl_offset")
        {
            return;
        }
        assert!(Instant::now() < deadline, "replica not in sync:\n{m}\n{r}");
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// The first line where two states differ, for the message.
fn first_difference(a: &[String], b: &[String]) -> String {
    let at = a
        .iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let line = |s: Option<&String>| match s {
        Some(s) => s.chars().take(LINE_SHOWN_MAX).collect(),
        None => "(none)".to_string(),
    };
    format!(
        "{} keys against {}; first difference:\n  {}\n  {}",
        a.len(),
        b.len(),
        line(a.get(at)),
        line(b.get(at))
    )
}

#[test]
fn random_sequences_reach_the_replica_and_survive_a_kill() {
    let (seeds, count) = plan(SEEDS, COMMANDS);
    for seed in seeds {
        let cmds = sequence(seed, count);
        let dir = DataDir::new("differential-durability");
        let args = [
            "--shards",
            SHARDS,
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
        ];
        let master = start_in(&dir, &args);
        let to = format!("127.0.0.1 {}", master.port());
        let replica = Server::start(&[
            "--shards",
            SHARDS,
            "--replicaof",
            &to,
            "--replica-serve-reads",
            "yes",
        ]);
        let mut con = master.raw();
        let (first, second) = cmds.split_at(cmds.len() / 2);
        pipelined(&mut con, first, |_, _| {});
        // A transaction the first half left open ends unrun.
        con.cmd(&["DISCARD"]);
        assert_eq!(
            con.cmd(&["BGREWRITEAOF"]),
            "Background append only file rewriting started"
        );
        pipelined(&mut con, second, |_, _| {});
        drop(con);

        let before = state(&master);
        assert!(
            before.len() >= 10,
            "seed {seed}: only {} keys",
            before.len()
        );
        wait_synced(&master, &replica);
        let copied = state(&replica);
        assert!(
            before == copied,
            "seed {seed}: the replica differs from the master: {}",
            first_difference(&before, &copied)
        );

        let port = master.port();
        master.signal(libc::SIGKILL);
        drop(master);
        let restarted = restart_in(port, &dir, &args);
        let after = state(&restarted);
        assert!(
            before == after,
            "seed {seed}: the master differs after a kill and a restart: {}",
            first_difference(&before, &after)
        );
    }
}
