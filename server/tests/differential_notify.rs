//! Keyspace notifications of the differential test's random command sequences,
//! compared with a real `redis-server`'s: with `notify-keyspace-events KEA`, a
//! subscriber to every keyspace and keyevent channel must receive the events Redis
//! sends (the event names, the keys, the databases), command by command: on one
//! shard in Redis's order; on four, where each shard publishes its own, as a set.
//!
//! More sequences: `COREKV_DIFFERENTIAL_SEEDS=a-b COREKV_DIFFERENTIAL_COMMANDS=n
//! cargo test -p corekv-server --test differential_notify`.

mod common;

use common::random_commands::{plan, sequence};
use common::{encode, encode_str, shard_of, Raw, Redis, Server, SHARD_COUNTS};

/// Sequences run by default (one seed each), and commands per sequence.
const SEEDS: std::ops::Range<u64> = 1..4;
const COMMANDS: usize = 600;

/// One key per shard of `shards`, set after each command: a shard's notifications
/// keep their order, so once every marker's event arrived, so did the command's.
fn markers(shards: usize) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for i in 0.. {
        let name = format!("marker{i}");
        if !names
            .iter()
            .any(|n| shard_of(n, shards) == shard_of(&name, shards))
        {
            names.push(name);
        }
        if names.len() == shards {
            return names;
        }
    }
    unreachable!()
}

/// The notifications each command of `cmds` caused on the server at `port`, with
/// the markers of `shards` shards.
fn notifications(port: u16, cmds: &[Vec<String>], shards: usize) -> Vec<Vec<Vec<u8>>> {
    let mut admin = Raw::connect(port);
    assert_eq!(
        admin.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]),
        "OK"
    );
    let mut sub = Raw::connect(port);
    sub.send(&encode_str(&["PSUBSCRIBE", "__key*__:*"]));
    sub.read_reply();
    let mut con = Raw::connect(port);
    let markers = markers(shards);
    cmds.iter()
        .map(|cmd| {
            let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_bytes()).collect();
            con.send(&encode(&args));
            con.read_reply();
            for m in &markers {
                admin.cmd(&["SET", m, "x"]);
            }
            let mut seen = 0;
            let mut events = Vec::new();
            while seen < markers.len() {
                let event = sub.read_reply();
                let text = String::from_utf8_lossy(&event);
                match markers.iter().find(|m| text.contains(m.as_str())) {
                    Some(_) if text.contains("__keyevent@0__:set") => seen += 1,
                    Some(_) => {}
                    None => events.push(event),
                }
            }
            events
        })
        .collect()
}

#[test]
fn random_sequences_notify_as_redis_does() {
    let (seeds, count) = plan(SEEDS, COMMANDS);
    let mut failures = Vec::new();
    for seed in seeds {
        let cmds = sequence(seed, count);
        for shards in SHARD_COUNTS {
            let want = notifications(Redis::start().port, &cmds, shards);
            let got = notifications(Server::with_shards(shards, &[]).port(), &cmds, shards);
            // On one shard in Redis's order; on several, each shard's in its order
            // but the shards' interleaved as they ran: as a set.
            let same = |w: &Vec<Vec<u8>>, g: &Vec<Vec<u8>>| {
                let (mut w, mut g) = (w.clone(), g.clone());
                if shards > 1 {
                    w.sort();
                    g.sort();
                }
                w == g
            };
            let first = (0..cmds.len()).find(|&i| !same(&want[i], &got[i]));
            if let Some(at) = first {
                let show = |events: &[Vec<u8>]| {
                    events
                        .iter()
                        .map(|e| String::from_utf8_lossy(e).replace("\r\n", " "))
                        .collect::<Vec<_>>()
                        .join("\n    ")
                };
                let what = format!("command {at}: {}", cmds[at].join(" "));
                failures.push(format!(
                    "seed {seed}, {shards} shards, {what}\n  redis:\n    {}\n  corekv:\n    {}",
                    show(&want[at]),
                    show(&got[at])
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
