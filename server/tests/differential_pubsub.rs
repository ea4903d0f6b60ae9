//! Random pub/sub sessions on corekv and on a real `redis-server`: two subscribers
//! and a publisher take random steps (subscribe, unsubscribe, by channel and by
//! pattern, publish, `PUBSUB` queries, other commands while subscribed, `RESET`),
//! and after each step every connection's bytes must be Redis's — confirmations,
//! messages and errors alike, in RESP2 and RESP3, on one shard and on four.
//!
//! After each step each connection sends `PING sync-N` and its bytes are read up
//! to that reply, so what a step caused is compared step by step. More sessions:
//! `COREKV_DIFFERENTIAL_SEEDS=a-b COREKV_DIFFERENTIAL_COMMANDS=n cargo test -p
//! corekv-server --test differential_pubsub`.

mod common;

use common::compare::connect;
use common::random_commands::{items, plan, sorted_items};
use common::{encode_str, Raw, Redis, Server, PROTOCOLS, SHARD_COUNTS};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

/// Sessions run by default (one seed each), and steps per session.
const SEEDS: std::ops::Range<u64> = 1..5;
const STEPS: usize = 150;
/// The connections: two subscribers and a publisher.
const CONNECTIONS: usize = 3;

const CHANNELS: &[&str] = &["ch1", "ch2", "ch3", "news.x", "news.y"];
const PATTERNS: &[&str] = &["ch*", "news.*", "ch[12]", "*", "n?ws.x"];

/// A random step: which connection and what it sends.
fn step(rng: &mut StdRng) -> (usize, Vec<String>) {
    let some = |list: &[&str], rng: &mut StdRng| -> Vec<String> {
        let n = rng.gen_range(1..=3);
        (0..n)
            .map(|_| list.choose(rng).unwrap().to_string())
            .collect()
    };
    let who = rng.gen_range(0..CONNECTIONS);
    let words: Vec<String> = match rng.gen_range(0..20) {
        14 => [vec!["SSUBSCRIBE".into()], some(CHANNELS, rng)].concat(),
        15 => [vec!["SUNSUBSCRIBE".into()], some(CHANNELS, rng)].concat(),
        16 => vec![
            "SPUBLISH".into(),
            CHANNELS.choose(rng).unwrap().to_string(),
            format!("s{}", rng.gen_range(0..100)),
        ],
        17 => vec![
            "PUBSUB".into(),
            "CHANNELS".into(),
            PATTERNS.choose(rng).unwrap().to_string(),
        ],
        18 => vec!["PUBSUB".into(), "SHARDCHANNELS".into()],
        19 => [
            vec!["PUBSUB".into(), "SHARDNUMSUB".into()],
            some(CHANNELS, rng),
        ]
        .concat(),
        0 | 1 => [vec!["SUBSCRIBE".into()], some(CHANNELS, rng)].concat(),
        2 => [vec!["PSUBSCRIBE".into()], some(PATTERNS, rng)].concat(),
        3 => [vec!["UNSUBSCRIBE".into()], some(CHANNELS, rng)].concat(),
        4 => vec!["UNSUBSCRIBE".into()],
        5 => [vec!["PUNSUBSCRIBE".into()], some(PATTERNS, rng)].concat(),
        6 => vec!["PUNSUBSCRIBE".into()],
        7..=9 => vec![
            "PUBLISH".into(),
            CHANNELS.choose(rng).unwrap().to_string(),
            format!("m{}", rng.gen_range(0..100)),
        ],
        10 => [vec!["PUBSUB".into(), "NUMSUB".into()], some(CHANNELS, rng)].concat(),
        11 => vec!["PUBSUB".into(), "NUMPAT".into()],
        12 => vec!["GET".into(), "k".into()],
        _ => vec!["RESET".into()],
    };
    (who, words)
}

/// Replies whose items Redis lists in no particular order.
fn normalized(cmd: &[String], reply: Vec<u8>) -> Vec<u8> {
    let unordered = cmd.len() >= 2
        && cmd[0].eq_ignore_ascii_case("PUBSUB")
        && (cmd[1].eq_ignore_ascii_case("CHANNELS")
            || cmd[1].eq_ignore_ascii_case("SHARDCHANNELS"));
    match unordered {
        true => sorted_items(&reply, 1),
        false => reply,
    }
}

/// The replies `con` sent until the reply to `PING <token>`, that one included.
fn until_sync(con: &mut Raw, token: &str) -> Vec<Vec<u8>> {
    con.send(&encode_str(&["PING", token]));
    let mut got = Vec::new();
    loop {
        let reply = con.read_reply();
        let done = reply.windows(token.len()).any(|w| w == token.as_bytes());
        got.push(reply);
        if done {
            return got;
        }
    }
}

/// An aggregate reply's header and items.
fn parts(reply: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>) {
    items(reply).expect("an aggregate reply")
}

/// The kind of a push (`message`, `punsubscribe`, ...), if `reply` is one.
fn kind(reply: &[u8]) -> Option<Vec<u8>> {
    if !matches!(reply.first(), Some(b'*' | b'>')) {
        return None;
    }
    let (_, items) = parts(reply);
    let first = items.first()?;
    let text = first.split(|&b| b == b'\n').nth(1)?;
    Some(text.strip_suffix(b"\r").unwrap_or(text).to_vec())
}

/// `replies` with the order Redis leaves open fixed: Redis keeps a client's
/// subscriptions, and the server's patterns, in hash tables, so an argument-less
/// `UNSUBSCRIBE`/`PUNSUBSCRIBE` confirms its names, and one `PUBLISH` delivers its
/// `pmessage`s, in hash order. Each run of those is sorted by name (the counts of
/// the confirmations stay where they were: they count down whatever the order).
fn settled(mut replies: Vec<Vec<u8>>) -> Vec<u8> {
    let mut i = 0;
    while i < replies.len() {
        let Some(k) = kind(&replies[i]) else {
            i += 1;
            continue;
        };
        let sortable = matches!(
            &k[..],
            b"unsubscribe" | b"punsubscribe" | b"sunsubscribe" | b"pmessage"
        );
        let mut end = i + 1;
        while sortable && end < replies.len() && kind(&replies[end]).as_ref() == Some(&k) {
            end += 1;
        }
        if sortable && end - i > 1 {
            let run: Vec<(Vec<u8>, Vec<Vec<u8>>)> =
                replies[i..end].iter().map(|r| parts(r)).collect();
            // The name is the second item; a `pmessage`'s channel and payload follow.
            let mut names: Vec<Vec<u8>> = run.iter().map(|(_, items)| items[1].clone()).collect();
            names.sort();
            for (at, ((head, items), name)) in run.into_iter().zip(names).enumerate() {
                let mut items = items;
                items[1] = name;
                replies[i + at] = [head, items.concat()].concat();
            }
        }
        i = end;
    }
    replies.concat()
}

/// What each connection received after each step of `steps` on the server at
/// `port`.
fn session(port: u16, protocol: u8, steps: &[(usize, Vec<String>)]) -> Vec<Vec<Vec<u8>>> {
    let mut cons: Vec<Raw> = (0..CONNECTIONS).map(|_| connect(port, protocol)).collect();
    cons[0].cmd(&["DEL", "k"]);
    steps
        .iter()
        .enumerate()
        .map(|(i, (who, cmd))| {
            let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
            cons[*who].send(&encode_str(&args));
            let token = format!("sync-{i}");
            // The sender first: its command has run (a publication reached every
            // subscriber, as `PUBLISH`'s count says) before the others look.
            let mut got = vec![Vec::new(); CONNECTIONS];
            let mut replies = until_sync(&mut cons[*who], &token);
            replies[0] = normalized(cmd, std::mem::take(&mut replies[0]));
            got[*who] = settled(replies);
            for (c, con) in cons.iter_mut().enumerate() {
                if c != *who {
                    got[c] = settled(until_sync(con, &token));
                }
            }
            got
        })
        .collect()
}

#[test]
fn random_pubsub_sessions_get_redis_bytes() {
    let (seeds, count) = plan(SEEDS, STEPS);
    let mut failures = Vec::new();
    for seed in seeds {
        let mut rng = StdRng::seed_from_u64(seed);
        let steps: Vec<(usize, Vec<String>)> = (0..count).map(|_| step(&mut rng)).collect();
        for protocol in PROTOCOLS {
            let want = session(Redis::start().port, protocol, &steps);
            for shards in SHARD_COUNTS {
                let got = session(Server::with_shards(shards, &[]).port(), protocol, &steps);
                let first = want.iter().zip(&got).position(|(w, g)| w != g);
                if let Some(at) = first {
                    let (who, cmd) = &steps[at];
                    let earlier: Vec<String> = steps[..at]
                        .iter()
                        .map(|(w, c)| format!("  {w}: {}", c.join(" ")))
                        .collect();
                    failures.push(format!(
                        "seed {seed}, RESP{protocol}, {shards} shards, step {at}: connection {who} sent {}\n\
                         redis:  {:?}\ncorekv: {:?}\nearlier steps:\n{}",
                        cmd.join(" "),
                        want[at].iter().map(|b| String::from_utf8_lossy(b).into_owned()).collect::<Vec<_>>(),
                        got[at].iter().map(|b| String::from_utf8_lossy(b).into_owned()).collect::<Vec<_>>(),
                        earlier.join("\n")
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
