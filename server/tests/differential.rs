//! Random command sequences, run on corekv and on a real `redis-server`, every
//! reply compared byte for byte (after sorting the replies whose order Redis leaves
//! unspecified, such as `SMEMBERS`). The commands of each family share a few keys, so
//! a sequence builds values, edits them, meets their edge cases (empty keys, wrong
//! types, integer and float limits) and sees its own history in later replies.
//!
//! A mismatch names the seed, the command's place in the sequence and the commands
//! before it on the same keys. More seeds or longer sequences:
//! `COREKV_DIFFERENTIAL_SEEDS=1000-1099 COREKV_DIFFERENTIAL_COMMANDS=20000
//! cargo test -p corekv-server --test differential`.

mod common;

use common::compare::connect;
use common::random_commands::{normalized, pipelined, plan, sequence};
use common::{render, reply_len, Redis, Server, PROTOCOLS, SHARD_COUNTS};

/// Seeds run by default (one sequence each, in each protocol and shard count).
const SEEDS: std::ops::Range<u64> = 1..7;
/// Commands per sequence by default.
const COMMANDS: usize = 1500;
/// The commands a connection queued since its `MULTI`, to normalize the items of
/// the `EXEC` reply as each command's own reply.
#[derive(Default)]
struct Transaction {
    open: bool,
    queued: Vec<Vec<String>>,
}

impl Transaction {
    fn normalized(&mut self, cmd: &[String], reply: Vec<u8>) -> Vec<u8> {
        let name = cmd[0].to_ascii_uppercase();
        match name.as_str() {
            "MULTI" if reply.starts_with(b"+OK") => {
                self.open = true;
                self.queued.clear();
            }
            "EXEC" | "DISCARD" if self.open => {
                self.open = false;
                if name == "EXEC" && reply.starts_with(b"*") {
                    return self.exec_reply(&reply);
                }
            }
            _ if self.open && reply.starts_with(b"+QUEUED") => self.queued.push(cmd.to_vec()),
            _ => {}
        }
        normalized(cmd, reply)
    }

    /// An `EXEC` reply with each queued command's reply normalized.
    fn exec_reply(&self, reply: &[u8]) -> Vec<u8> {
        let eol = reply.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
        let mut out = reply[..eol].to_vec();
        let mut pos = eol;
        for cmd in &self.queued {
            // A transaction a watched key aborted replies with a null.
            let Some(n) = reply_len(&reply[pos..]) else {
                break;
            };
            out.extend(normalized(cmd, reply[pos..pos + n].to_vec()));
            pos += n;
        }
        out
    }
}

/// The replies to `cmds` on the server at `port`, pipelined.
fn replies(port: u16, protocol: u8, cmds: &[Vec<String>]) -> Vec<Vec<u8>> {
    let mut con = connect(port, protocol);
    let mut out = Vec::with_capacity(cmds.len());
    let mut transaction = Transaction::default();
    pipelined(&mut con, cmds, |cmd, reply| {
        out.push(transaction.normalized(cmd, reply))
    });
    out
}

/// The commands before `at` that name a key `cmds[at]` names: what led there.
fn history(cmds: &[Vec<String>], at: usize) -> String {
    let keys: Vec<&String> = cmds[at][1..].iter().collect();
    cmds[..at]
        .iter()
        .enumerate()
        .filter(|(_, cmd)| cmd[1..].iter().any(|a| keys.contains(&a)))
        .map(|(i, cmd)| format!("  {i}: {}", cmd.join(" ")))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Writes `cmds` to a file, one per line as `redis-cli` takes them (each argument
/// quoted), and returns its path.
fn saved(seed: u64, cmds: &[Vec<String>]) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("corekv-differential-{seed}.txt"));
    let lines: Vec<String> = cmds
        .iter()
        .map(|cmd| {
            let quoted: Vec<String> = cmd.iter().map(|a| format!("{a:?}")).collect();
            quoted.join(" ") + "\n"
        })
        .collect();
    std::fs::write(&path, lines.concat()).expect("write the sequence");
    path
}

#[test]
fn random_command_sequences_get_redis_replies() {
    let (seeds, count) = plan(SEEDS, COMMANDS);
    let mut failures = Vec::new();
    for seed in seeds {
        let cmds = sequence(seed, count);
        // Every server runs the sequence at once: most of their time is the
        // blocking commands' timeouts.
        let runs: Vec<(u8, Option<usize>)> = PROTOCOLS
            .iter()
            .flat_map(|&p| {
                std::iter::once((p, None)).chain(SHARD_COUNTS.iter().map(move |&n| (p, Some(n))))
            })
            .collect();
        let replies: Vec<Vec<Vec<u8>>> = std::thread::scope(|scope| {
            let handles: Vec<_> = runs
                .iter()
                .map(|&(protocol, shards)| {
                    let cmds = &cmds;
                    scope.spawn(move || match shards {
                        None => replies(Redis::start().port, protocol, cmds),
                        Some(n) => replies(Server::with_shards(n, &[]).port(), protocol, cmds),
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (i, &(protocol, shards)) in runs.iter().enumerate() {
            let Some(shards) = shards else { continue };
            let want_at = runs.iter().position(|&r| r == (protocol, None)).unwrap();
            let (want, got) = (&replies[want_at], &replies[i]);
            let first = want.iter().zip(got).position(|(w, g)| w != g);
            if let Some(at) = first {
                failures.push(format!(
                    "seed {seed}, RESP{protocol}, {shards} shards, command {at}: {}\n  \
                     redis:  {}\n  corekv: {}\nearlier commands on its keys:\n{}\n\
                     the whole sequence: {}",
                    cmds[at].join(" "),
                    render(&want[at]),
                    render(&got[at]),
                    history(&cmds, at),
                    saved(seed, &cmds[..=at]).display()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
