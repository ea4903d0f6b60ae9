//! An in-process multi-shard harness: N shards, synchronous, no executors. It routes
//! each command as the server does — keys on one shard run there, keys on several
//! shards (or every shard) run as parts: split by key spec, read parts, plan, write
//! parts, merge — one shard after another. Nothing runs concurrently here, so it
//! checks what the parts compute, not the locking (the server's black-box tests do
//! that).

use std::sync::Arc;

use bytes::Bytes;

use super::render;
use crate::command::exec::{unknown_command_message, Op, OpReply, PartOp, Step};
use crate::command::parts::{MergeArgs, PartReply, Parts, Piece, Split, Write};
use crate::command::{table, Route};
use crate::error::CmdError;
use crate::keyspace::Entry;
use crate::resp::{Args, Protocol, Reply, ReplyBuf};
use crate::shard::Shard;
use crate::slot::shard_of;

/// Shards with fixed seeds and a clock the test controls.
pub struct TestCluster {
    pub shards: Vec<Shard>,
    pub now_ms: u64,
    pub db: usize,
    /// The protocol replies are encoded in.
    pub protocol: Protocol,
    /// Bumped for every merge that picks (`RANDOMKEY`).
    random: u64,
}

impl TestCluster {
    pub fn new(shards: usize) -> Self {
        TestCluster {
            shards: (0..shards).map(|id| Shard::new(id, 42)).collect(),
            now_ms: 1_700_000_000_000,
            db: 0,
            protocol: Protocol::Resp2,
            random: 0,
        }
    }

    /// Runs one command and returns its raw RESP reply.
    pub fn run_raw(&mut self, args: &[&str]) -> String {
        let args: Args = args
            .iter()
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect();
        let mut out = ReplyBuf::new(self.protocol);
        self.run_args(&args, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Runs one command and returns its reply rendered as [`super::TestShard::run`]
    /// renders it.
    pub fn run(&mut self, args: &[&str]) -> String {
        let raw = self.run_raw(args);
        let (text, rest) = render(raw.as_bytes());
        assert!(rest.is_empty(), "one reply expected, got {raw:?}");
        text
    }

    /// How many shards own at least one of `keys`.
    pub fn spread(&self, keys: &[&str]) -> usize {
        let mut owners: Vec<usize> = keys
            .iter()
            .map(|k| shard_of(k.as_bytes(), self.shards.len()))
            .collect();
        owners.sort_unstable();
        owners.dedup();
        owners.len()
    }

    fn run_args(&mut self, args: &Args, out: &mut ReplyBuf) {
        let n = self.shards.len();
        let Some((id, spec)) = table().lookup(&args[0]) else {
            return out.error(&unknown_command_message(args));
        };
        if !spec.arity_ok(args.len()) {
            return out.error(&CmdError::WrongArgs(spec.name.to_string()).message());
        }
        let keys = spec.keys.resolve(args);
        let home = keys.iter().next().map_or(0, |i| shard_of(&args[i], n));
        let one_shard = keys.iter().all(|i| shard_of(&args[i], n) == home);
        let parts = match spec.route {
            Route::Parts(p) if !(one_shard && matches!(p.split, Split::Keys)) => p,
            _ => return self.shards[home].run_cmd(id, self.db, args, self.now_ms, out),
        };
        if let Some(check) = parts.check {
            if let Err(e) = check(args) {
                return out.error(&e.message());
            }
        }
        let groups: Vec<(usize, Vec<usize>)> = match parts.split {
            Split::Keys | Split::Lookup { .. } => parts.split.groups(args, keys, n, shard_of),
            Split::Every { .. } => (0..n).map(|s| (s, Vec::new())).collect(),
            Split::Walk { first, next } => return self.walk(id, parts, args, first, next, out),
        };
        self.run_parts(id, parts, args, groups, out);
    }

    fn part(
        &mut self,
        shard: usize,
        id: usize,
        step: Step,
        args: &Args,
        keys: &[usize],
        carry: Option<&Entry>,
    ) -> PartReply {
        let op = Op::Part(PartOp {
            id,
            step,
            db: self.db,
            args: args.clone(),
            keys: keys.to_vec(),
            carry: carry.cloned().map(Arc::new),
        });
        match self.shards[shard].apply(op, self.now_ms) {
            OpReply::Part(reply) => reply,
            other => panic!("a part answers a part reply, not {other:?}"),
        }
    }

    fn step(
        &mut self,
        id: usize,
        step: Step,
        args: &Args,
        groups: &[(usize, Vec<usize>)],
        carry: Option<&Entry>,
    ) -> Vec<Piece> {
        groups
            .iter()
            .map(|(s, keys)| Piece {
                shard: *s,
                keys: keys.clone(),
                reply: self.part(*s, id, step, args, keys, carry),
            })
            .collect()
    }

    fn run_parts(
        &mut self,
        id: usize,
        parts: &Parts,
        args: &Args,
        groups: Vec<(usize, Vec<usize>)>,
        out: &mut ReplyBuf,
    ) {
        let mut pieces = Vec::new();
        if parts.read.is_some() {
            pieces = self.step(id, Step::Read, args, &groups, None);
            if let Some(carry) = parts.split.again(args, &pieces) {
                let again = self.step(id, Step::Read, args, &groups, Some(&carry));
                pieces.extend(again);
            }
        }
        let write = match parts.plan {
            Some(plan) => match plan(args, &pieces, out) {
                Ok(write) => write,
                Err(e) => return out.error(&e.message()),
            },
            None => Some(Write::default()),
        };
        let Some(write) = write else {
            return;
        };
        if parts.write.is_some() {
            let targets = write.targets(groups);
            pieces = self.step(id, Step::Write, args, &targets, write.carry.as_ref());
        }
        self.merge(parts, args, &pieces, out);
    }

    fn walk(
        &mut self,
        id: usize,
        parts: &Parts,
        args: &Args,
        first: fn(&[Bytes], usize) -> usize,
        next: fn(&[Bytes], &[Piece], usize) -> Option<usize>,
        out: &mut ReplyBuf,
    ) {
        let n = self.shards.len();
        let mut pieces = Vec::new();
        let mut at = Some(first(args, n)).filter(|&s| s < n);
        while let Some(s) = at {
            let reply = self.part(s, id, Step::Read, args, &[], None);
            pieces.push(Piece {
                shard: s,
                keys: Vec::new(),
                reply,
            });
            at = next(args, &pieces, n);
        }
        self.merge(parts, args, &pieces, out);
    }

    fn merge(&mut self, parts: &Parts, args: &Args, pieces: &[Piece], out: &mut ReplyBuf) {
        if let Err(e) = Parts::first_error(pieces) {
            return out.error(&e.message());
        }
        self.random += 1;
        let merge = MergeArgs {
            args,
            shards: self.shards.len(),
            random: self.random,
        };
        (parts.merge)(&merge, pieces, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::TestShard;

    /// Runs `script` on one shard and on a four-shard cluster: every reply must be the
    /// same (`KEYS` and `SCAN` compared as sets).
    fn same_on_one_and_four_shards(script: &[&[&str]]) {
        same_on_one_and_four_shards_in(Protocol::Resp2, script);
    }

    /// [`same_on_one_and_four_shards`] with replies in `protocol`, raw replies compared
    /// (RESP3 types included); member lists of the set commands compared as sets.
    fn same_on_one_and_four_shards_in(protocol: Protocol, script: &[&[&str]]) {
        let mut one = TestShard {
            protocol,
            ..TestShard::default()
        };
        let mut four = TestCluster::new(4);
        four.protocol = protocol;
        for cmd in script {
            let (raw_a, raw_b) = (one.run_raw(cmd), four.run_raw(cmd));
            assert_eq!(raw_a.as_bytes()[0], raw_b.as_bytes()[0], "{cmd:?}");
            let (a, b) = (render(raw_a.as_bytes()).0, render(raw_b.as_bytes()).0);
            let sorted = |s: &str| {
                let mut words: Vec<String> = s
                    .trim_matches(|c| c == '[' || c == ']')
                    .split(", ")
                    .map(str::to_string)
                    .collect();
                words.sort();
                words
            };
            match cmd[0] {
                "KEYS" | "SMEMBERS" | "SINTER" | "SUNION" | "SDIFF" => {
                    assert_eq!(sorted(&a), sorted(&b), "{cmd:?}")
                }
                _ => assert_eq!(a, b, "{cmd:?}"),
            }
        }
    }

    const KEYS: [&str; 6] = ["a", "b", "c", "d", "e", "f"];

    #[test]
    fn the_keys_span_shards() {
        assert_eq!(TestCluster::new(4).spread(&KEYS), 4);
    }

    #[test]
    fn mset_msetnx_mget() {
        same_on_one_and_four_shards(&[
            &["MSET", "a", "1", "b", "2", "c", "3", "d", "4"],
            &["MGET", "a", "b", "c", "d", "e", "a"],
            &["MSETNX", "e", "5", "a", "x"],
            &["MGET", "e", "a"],
            &["MSETNX", "e", "5", "f", "6"],
            &["MGET", "e", "f"],
            &["MSET", "a", "1", "b"],
            &["MSETNX", "a"],
        ]);
    }

    #[test]
    fn del_unlink_exists_touch() {
        same_on_one_and_four_shards(&[
            &["MSET", "a", "1", "b", "2", "c", "3", "d", "4", "e", "5"],
            &["EXISTS", "a", "b", "x", "a", "f"],
            &["TOUCH", "a", "b", "c", "f"],
            &["DEL", "a", "b", "f", "a"],
            &["UNLINK", "c", "d", "b"],
            &["EXISTS", "a", "b", "c", "d", "e"],
            &["DBSIZE"],
        ]);
    }

    #[test]
    fn rename_renamenx_copy() {
        same_on_one_and_four_shards(&[
            &["SET", "a", "1"],
            &["PEXPIRE", "a", "100000"],
            &["RENAME", "a", "b"],
            &["PTTL", "b"],
            &["EXISTS", "a"],
            &["RENAME", "a", "c"],
            &["SET", "c", "3"],
            &["RENAMENX", "b", "c"],
            &["RENAMENX", "b", "d"],
            &["MGET", "a", "b", "c", "d"],
            &["COPY", "d", "e"],
            &["COPY", "d", "e"],
            &["COPY", "c", "e", "REPLACE"],
            &["COPY", "c", "f", "DB", "3"],
            &["COPY", "c", "c"],
            &["COPY", "c", "f", "BAD"],
            &["MGET", "c", "d", "e", "f"],
        ]);
    }

    #[test]
    fn bitop_across_shards() {
        // Expected replies are what redis-server 7.0 answers to the same commands.
        let mut c = TestCluster::new(4);
        assert_eq!(c.spread(&["d", "a", "b", "c"]), 4);
        c.run(&["SET", "a", "abc"]);
        c.run(&["SET", "b", "zz!"]);
        c.run(&["SET", "c", "Q"]);
        assert_eq!(c.run(&["BITOP", "AND", "d", "a", "b", "c"]), "3");
        assert_eq!(c.run(&["GET", "d"]), "@\0\0");
        assert_eq!(c.run(&["BITOP", "OR", "d", "a", "b", "c"]), "3");
        assert_eq!(c.run(&["GET", "d"]), "{zc");
        assert_eq!(c.run(&["BITOP", "XOR", "d", "a", "b", "c"]), "3");
        assert_eq!(c.run(&["GET", "d"]), "J\x18B");
        assert_eq!(c.run(&["BITOP", "NOT", "d", "b"]), "3");
        assert_eq!(c.run(&["BITCOUNT", "d"]), "12");
        assert_eq!(
            c.run(&["BITOP", "NOT", "d", "a", "b"]),
            "-ERR BITOP NOT must be called with a single source key."
        );
        assert_eq!(c.run(&["BITOP", "AND", "d", "x", "y"]), "0");
        assert_eq!(c.run(&["EXISTS", "d"]), "0", "an empty result deletes");
        same_on_one_and_four_shards(&[
            &["SET", "a", "abc"],
            &["SET", "b", "zz"],
            &["BITOP", "xor", "d", "a", "b", "c"],
            &["GET", "d"],
            &["BITOP", "bad", "d", "a"],
        ]);
    }

    #[test]
    fn whole_keyspace_commands() {
        same_on_one_and_four_shards(&[
            &["MSET", "a", "1", "b", "2", "c", "3", "d", "4", "e", "5"],
            &["DBSIZE"],
            &["KEYS", "*"],
            &["KEYS", "[a-c]"],
            &["SWAPDB", "0", "1"],
            &["DBSIZE"],
            &["SWAPDB", "0", "x"],
            &["SWAPDB", "x", "0"],
            &["SWAPDB", "0", "99"],
            &["FLUSHDB", "FOO"],
            &["FLUSHALL"],
            &["RANDOMKEY"],
        ]);
        let mut c = TestCluster::new(4);
        c.run(&["MSET", "a", "1", "b", "2", "c", "3", "d", "4", "e", "5"]);
        assert_eq!(c.run(&["DBSIZE"]), "5");
        assert!(KEYS.contains(&c.run(&["RANDOMKEY"]).as_str()));
        let mut seen = Vec::new();
        let mut cursor = "0".to_string();
        loop {
            let reply = c.run(&["SCAN", &cursor, "COUNT", "2"]);
            let inner = reply.trim_start_matches('[').trim_end_matches(']');
            let (next, keys) = inner.split_once(", ").expect("cursor and keys");
            let keys = keys.trim_start_matches('[');
            seen.extend(
                keys.split(", ")
                    .filter(|k| !k.is_empty())
                    .map(str::to_string),
            );
            cursor = next.to_string();
            if cursor == "0" {
                break;
            }
        }
        seen.sort();
        assert_eq!(seen, ["a", "b", "c", "d", "e"]);
        assert_eq!(c.run(&["SCAN", "x"]), "-ERR invalid cursor");
        assert_eq!(c.run(&["FLUSHDB"]), "OK");
        assert_eq!(c.run(&["DBSIZE"]), "0");
        assert_eq!(c.run(&["SCAN", "0"]), "[0, []]");
    }

    /// The set algebra, `SINTERCARD` and `SMOVE` with their keys on four shards.
    const SET_KEYS: [&str; 4] = ["a", "b", "c", "d"];

    fn set_algebra_script() -> Vec<&'static [&'static str]> {
        vec![
            &["SADD", "a", "1", "2", "3", "x"],
            &["SADD", "b", "2", "3", "4", "x"],
            &["SADD", "c", "3", "x", "y"],
            &["SET", "s", "str"],
            &["SADD", "{b}2", "1", "4", "y"],
            &["SDIFF", "a", "b", "{b}2"],
            &["SDIFF", "{b}2", "a", "b"],
            &["SINTER", "a", "b", "{b}2"],
            &["SINTER", "{b}2", "b", "c"],
            &["SUNION", "c", "b", "{b}2"],
            &["SINTERCARD", "3", "{b}2", "b", "a"],
            &["SINTER", "a", "b", "c"],
            &["SINTER", "a", "b", "nokey"],
            &["SINTER", "nokey", "s"],
            &["SINTER", "a", "s"],
            &["SUNION", "a", "b", "c", "nokey"],
            &["SUNION", "nokey", "s"],
            &["SDIFF", "a", "b"],
            &["SDIFF", "a", "c", "b"],
            &["SDIFF", "b", "a", "a"],
            &["SDIFF", "nokey", "a"],
            &["SDIFF", "a", "s"],
            &["SDIFF", "a"],
            &["SINTERSTORE", "d", "a", "b", "c"],
            &["SMEMBERS", "d"],
            &["OBJECT", "ENCODING", "d"],
            &["SINTERSTORE", "d", "a", "b"],
            &["SMEMBERS", "d"],
            &["SINTERSTORE", "d", "a", "nokey"],
            &["EXISTS", "d"],
            &["SINTERSTORE", "d", "a", "s"],
            &["SUNIONSTORE", "d", "a", "b", "c"],
            &["SCARD", "d"],
            &["OBJECT", "ENCODING", "d"],
            &["SDIFFSTORE", "d", "a", "b"],
            &["SMEMBERS", "d"],
            &["OBJECT", "ENCODING", "d"],
            &["SET", "d", "overwritten"],
            &["SUNIONSTORE", "d", "a"],
            &["TYPE", "d"],
            &["SDIFFSTORE", "d", "a", "a"],
            &["EXISTS", "d"],
            &["SUNIONSTORE", "a", "a", "b"],
            &["SMEMBERS", "a"],
            &["SINTERCARD", "3", "a", "b", "c"],
            &["SINTERCARD", "2", "a", "b", "LIMIT", "2"],
            &["SINTERCARD", "2", "a", "b", "LIMIT", "0"],
            &["SINTERCARD", "2", "a", "nokey"],
            &["SINTERCARD", "2", "a", "s"],
            &["SINTERCARD", "0", "a"],
            &["SINTERCARD", "x", "a"],
            &["SINTERCARD", "3", "a", "b"],
            &["SINTERCARD", "2", "a", "b", "LIMIT", "-1"],
            &["SINTERCARD", "2", "a", "b", "LIMIT"],
            &["SINTERCARD", "1", "a", "b", "c"],
            &["SMOVE", "a", "d", "1"],
            &["SMOVE", "a", "d", "1"],
            &["SMEMBERS", "a"],
            &["SMEMBERS", "d"],
            &["SMOVE", "a", "a", "2"],
            &["SMOVE", "a", "a", "nope"],
            &["SMOVE", "nokey", "s", "1"],
            &["SMOVE", "a", "s", "2"],
            &["SMOVE", "s", "a", "2"],
            &["SMOVE", "c", "b", "y"],
            &["SMOVE", "c", "b", "3"],
            &["SMOVE", "c", "b", "x"],
            &["EXISTS", "c"],
            &["SMEMBERS", "b"],
            &["OBJECT", "ENCODING", "b"],
            &["SINTERSTORE", "d"],
            &["SMOVE", "a", "b"],
        ]
    }

    #[test]
    fn set_algebra_and_smove_across_shards() {
        assert_eq!(TestCluster::new(4).spread(&SET_KEYS), 4);
        assert_eq!(TestCluster::new(4).spread(&["b", "{b}2"]), 1);
        let script = set_algebra_script();
        same_on_one_and_four_shards(&script);
        same_on_one_and_four_shards_in(Protocol::Resp3, &script);
    }

    #[test]
    fn set_algebra_replies_across_shards() {
        // Expected replies are what redis-server 7.0 answers to the same commands.
        let mut c = TestCluster::new(4);
        c.run(&["SADD", "a", "1", "2", "3"]);
        c.run(&["SADD", "b", "2", "3", "4"]);
        c.run(&["SADD", "c", "3", "5"]);
        c.run(&["SET", "s", "str"]);
        assert_eq!(c.run(&["SINTER", "a", "b", "c"]), "[3]");
        assert_eq!(c.run(&["SUNION", "a", "b", "c"]), "[1, 2, 3, 4, 5]");
        assert_eq!(c.run(&["SDIFF", "a", "b"]), "[1]");
        assert_eq!(c.run(&["SDIFF", "b", "a", "c"]), "[4]");
        assert_eq!(c.run(&["SINTERSTORE", "d", "a", "b"]), "2");
        assert_eq!(c.run(&["SMEMBERS", "d"]), "[2, 3]");
        assert_eq!(c.run(&["SDIFFSTORE", "d", "c", "c"]), "0");
        assert_eq!(c.run(&["EXISTS", "d"]), "0");
        assert_eq!(c.run(&["SINTERCARD", "2", "a", "b", "LIMIT", "1"]), "1");
        assert_eq!(c.run(&["SINTERCARD", "3", "a", "b", "c"]), "1");
        let wrong = "-WRONGTYPE Operation against a key holding the wrong kind of value";
        assert_eq!(c.run(&["SUNIONSTORE", "d", "a", "s"]), wrong);
        assert_eq!(c.run(&["SMOVE", "a", "s", "1"]), wrong);
        assert_eq!(c.run(&["SMOVE", "nokey", "s", "1"]), "0");
        assert_eq!(c.run(&["SMOVE", "a", "d", "1"]), "1");
        assert_eq!(c.run(&["SMEMBERS", "d"]), "[1]");
        assert_eq!(c.run(&["SMEMBERS", "a"]), "[2, 3]");
        c.protocol = Protocol::Resp3;
        assert!(c.run_raw(&["SINTER", "a", "b", "c"]).starts_with('~'));
        assert!(c.run_raw(&["SDIFF", "a", "a"]).starts_with("~0\r\n"));
    }

    /// The result of a `*STORE` is encoded by the limits of the shards, wherever its
    /// sources live.
    #[test]
    fn store_results_follow_the_set_limits() {
        let mut c = TestCluster::new(4);
        for shard in &mut c.shards {
            let mut limits = shard.limits();
            limits.set.max_intset_entries = 2;
            shard.set_limits(limits);
        }
        c.run(&["SADD", "a", "1", "2"]);
        c.run(&["SADD", "b", "3"]);
        assert_eq!(c.run(&["SUNIONSTORE", "d", "a", "b"]), "3");
        assert_eq!(c.run(&["OBJECT", "ENCODING", "d"]), "hashtable");
        assert_eq!(c.run(&["SUNIONSTORE", "d", "a", "c"]), "2");
        assert_eq!(c.run(&["OBJECT", "ENCODING", "d"]), "intset");
    }
}
