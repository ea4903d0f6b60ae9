//! The engine harness: run commands against a shard in-process and read replies as
//! text, for tests at the engine level (`run(&mut shard, &["SET", "k", "v"]) == "+OK"`).
//! Replies are RESP2 unless the test sets [`TestShard::protocol`].
//! [`cluster::TestCluster`] does the same over several shards, splitting multi-key
//! commands into their parts.

use bytes::Bytes;

use crate::resp::{Protocol, ReplyBuf};
use crate::shard::Shard;

pub mod cluster;

/// A shard with a fixed seed and a clock the test controls.
pub struct TestShard {
    pub shard: Shard,
    pub now_ms: u64,
    pub db: usize,
    /// The protocol replies are encoded in.
    pub protocol: Protocol,
}

impl Default for TestShard {
    fn default() -> Self {
        TestShard {
            shard: Shard::new(0, 42),
            now_ms: 1_700_000_000_000,
            db: 0,
            protocol: Protocol::Resp2,
        }
    }
}

impl TestShard {
    /// Runs one command and returns its raw RESP reply.
    pub fn run_raw(&mut self, args: &[&str]) -> String {
        let args: Vec<Bytes> = args
            .iter()
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect();
        let mut out = ReplyBuf::new(self.protocol);
        self.shard.run(self.db, &args, self.now_ms, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Runs one command of binary arguments and returns its raw RESP reply.
    pub fn run_bytes(&mut self, args: &[&[u8]]) -> Vec<u8> {
        let args: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a)).collect();
        let mut out = ReplyBuf::new(self.protocol);
        self.shard.run(self.db, &args, self.now_ms, &mut out);
        out.to_vec()
    }

    /// Runs one command and returns its reply in a compact readable form:
    /// `+OK` → `OK`, `:3` → `3`, bulk, verbatim and double → its text, null → `(nil)`,
    /// error → `-ERR ...`, arrays, sets and pushes → `[a, b]`, maps → `{k: v}`,
    /// booleans → `true`/`false`.
    pub fn run(&mut self, args: &[&str]) -> String {
        let raw = self.run_raw(args);
        let (text, rest) = render(raw.as_bytes());
        assert!(rest.is_empty(), "one reply expected, got {raw:?}");
        text
    }

    /// [`Self::run`] in database `db`, leaving the selected one as it is (for
    /// `FLUSHDB` and the like on another database).
    pub fn run_in(&mut self, db: usize, args: &[&str]) -> String {
        let selected = std::mem::replace(&mut self.db, db);
        let reply = self.run(args);
        self.db = selected;
        reply
    }

    pub fn advance_ms(&mut self, ms: u64) {
        self.now_ms += ms;
    }
}

/// Shorthand for [`TestShard::run`].
pub fn run(shard: &mut TestShard, args: &[&str]) -> String {
    shard.run(args)
}

fn line(buf: &[u8]) -> (&[u8], &[u8]) {
    let end = buf
        .windows(2)
        .position(|w| w == b"\r\n")
        .expect("CRLF-terminated reply");
    (&buf[..end], &buf[end + 2..])
}

/// Renders one RESP reply from the start of `buf`; returns it and the rest.
pub fn render(buf: &[u8]) -> (String, &[u8]) {
    let (head, rest) = line(buf);
    let body = String::from_utf8_lossy(&head[1..]).into_owned();
    match head[0] {
        b'+' | b':' | b',' => (body, rest),
        b'_' => ("(nil)".into(), rest),
        b'#' => ((if body == "t" { "true" } else { "false" }).into(), rest),
        b'-' => (format!("-{body}"), rest),
        b'$' | b'=' => {
            let n: i64 = body.parse().expect("bulk length");
            if n < 0 {
                return ("(nil)".into(), rest);
            }
            let n = n as usize;
            // A verbatim string's text follows its format (`txt:`).
            let skip = if head[0] == b'=' { 4 } else { 0 };
            (
                String::from_utf8_lossy(&rest[skip..n]).into_owned(),
                &rest[n + 2..],
            )
        }
        b'%' => {
            let n: usize = body.parse().expect("map length");
            let mut pairs = Vec::new();
            let mut rest = rest;
            for _ in 0..n {
                let (key, r) = render(rest);
                let (value, r) = render(r);
                pairs.push(format!("{key}: {value}"));
                rest = r;
            }
            (format!("{{{}}}", pairs.join(", ")), rest)
        }
        b'*' | b'~' | b'>' => {
            let n: i64 = body.parse().expect("array length");
            if n < 0 {
                return ("(nil)".into(), rest);
            }
            let mut items = Vec::new();
            let mut rest = rest;
            for _ in 0..n {
                let (item, r) = render(rest);
                items.push(item);
                rest = r;
            }
            (format!("[{}]", items.join(", ")), rest)
        }
        other => panic!("not a RESP reply type: {}", other as char),
    }
}
