//! Random byte streams of requests, well-formed and not, sent to corekv and to a real
//! `redis-server`: both must answer with the same bytes, and close the connection
//! at the same point (after a protocol error). A stream mixes multi-bulk requests,
//! inline commands (quoted, escaped, unbalanced, with bare `\n` endings), empty
//! lines and malformed headers (bad counts and lengths, a bulk string longer than
//! its header says, a type byte where a bulk string should be). Not sent: a count
//! past corekv's bound on one request's arguments (`PROTO_MAX_MULTIBULK_ARGS`,
//! 1,048,576), which Redis accepts from an authenticated client.
//!
//! More streams: `COREKV_DIFFERENTIAL_SEEDS=a-b cargo test -p corekv-server --test
//! differential_protocol`.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::random_commands::plan;
use common::{encode_str, Redis, Server};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

/// Streams run by default (one seed each), and pieces per stream.
const SEEDS: std::ops::Range<u64> = 1..41;
const PIECES: usize = 12;
/// A connection that sent nothing for this long has answered all it will.
const QUIET: Duration = Duration::from_millis(150);
/// Pause between the pieces of a stream written in pieces.
const SPLIT_PAUSE: Duration = Duration::from_micros(300);
/// Longest a stream's replies are waited for.
const READ_MAX: Duration = Duration::from_secs(5);

/// A well-formed request of a few simple commands.
fn request(rng: &mut StdRng) -> Vec<String> {
    let cmds: &[&[&str]] = &[
        &["PING"],
        &["ECHO", "hello world"],
        &["SET", "k", "v"],
        &["GET", "k"],
        &["INCR", "n"],
        &["DEL", "k"],
        &["APPEND", "k", "\"quoted\""],
        &["GET", "nope"],
    ];
    cmds.choose(rng)
        .unwrap()
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// One piece of a stream.
fn piece(rng: &mut StdRng) -> Vec<u8> {
    match rng.gen_range(0..4) {
        0 => {
            let cmd = request(rng);
            let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
            encode_str(&args)
        }
        1 => inline(rng),
        2 => [&b"\r\n"[..], b"\n", b"   \r\n"]
            .choose(rng)
            .unwrap()
            .to_vec(),
        _ => malformed(rng),
    }
}

/// An inline command: words with blanks between, some quoted or escaped.
fn inline(rng: &mut StdRng) -> Vec<u8> {
    let words: &[&str] = &[
        "PING",
        "ECHO",
        "SET",
        "GET",
        "k",
        "\"a b\"",
        "'c d'",
        "\"\\x41\\x4a\\n\"",
        "\"\\u\"",
        "\"unbalanced",
        "'also",
        "\"a\"b",
        "''",
        "\"\"",
        "x\"y\"",
        "\"esc\\\"aped\"",
    ];
    let mut line = vec![["PING", "ECHO", "SET", "GET"]
        .choose(rng)
        .unwrap()
        .to_string()];
    for _ in 0..rng.gen_range(0..4) {
        line.push(words.choose(rng).unwrap().to_string());
    }
    let blank = [" ", "  ", "\t"].choose(rng).unwrap();
    let end = ["\r\n", "\n"].choose(rng).unwrap();
    (line.join(blank) + end).into_bytes()
}

/// A malformed request, or a header of one.
fn malformed(rng: &mut StdRng) -> Vec<u8> {
    let pieces: &[&[u8]] = &[
        b"*abc\r\n",
        b"*-1\r\n",
        b"*0\r\n",
        b"*1\r\n$abc\r\n",
        b"*1\r\n$-1\r\n",
        b"*1\r\n$4\r\nPINGxx\r\n",
        b"*1\r\n:5\r\n",
        b"*1\r\n+PING\r\n",
        b"*99999999999\r\n",
        b"*1\r\n$536870913\r\n",
        b"*2\r\n$4\r\nECHO\r\n$3\r\nab\r\n",
        b"*1\r\n$4\r\nPING",
        b"$5\r\nabcde\r\n",
        b"+PING\r\n",
        b":1\r\n",
        b"*2\r\n$3\r\nGET\r\n",
        b"*1\r\n$04\r\nPING\r\n",
        b"*+1\r\n$4\r\nPING\r\n",
        b"*1 \r\n$4\r\nPING\r\n",
    ];
    pieces.choose(rng).unwrap().to_vec()
}

/// A stream of `count` pieces.
fn stream(seed: u64, count: usize) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..count).flat_map(|_| piece(&mut rng)).collect()
}

/// What the server at `port` sends back for `bytes`, written at once or (`split`)
/// in pieces of 1 to 16 bytes a little apart: the replies, and whether it closed
/// the connection.
fn answer(port: u16, bytes: &[u8], split: Option<u64>) -> (Vec<u8>, bool) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(QUIET)).unwrap();
    s.set_nodelay(true).unwrap();
    // The server may close before it read everything: the rest is not sent.
    match split {
        None => {
            let _ = s.write_all(bytes);
        }
        Some(seed) => {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut rest = bytes;
            while !rest.is_empty() {
                let n = rng.gen_range(1..=16).min(rest.len());
                if s.write_all(&rest[..n]).is_err() {
                    break;
                }
                rest = &rest[n..];
                std::thread::sleep(SPLIT_PAUSE);
            }
        }
    }
    let started = Instant::now();
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => return (got, true),
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return (got, true),
            Err(_) => return (got, false),
        }
        assert!(started.elapsed() < READ_MAX, "replies never stopped");
    }
}

#[test]
fn random_request_streams_get_redis_bytes() {
    let (seeds, count) = plan(SEEDS, PIECES);
    let redis = Redis::start();
    let corekv = [Server::with_shards(1, &[]), Server::with_shards(4, &[])];
    let mut failures = Vec::new();
    for seed in seeds {
        let bytes = stream(seed, count);
        // Every other stream arrives in small pieces: requests split anywhere.
        let split = (seed % 2 == 1).then_some(seed);
        let (want, got): (_, Vec<_>) = std::thread::scope(|scope| {
            let want = scope.spawn(|| answer(redis.port, &bytes, split));
            let got: Vec<_> = corekv
                .iter()
                .map(|server| scope.spawn(|| answer(server.port(), &bytes, split)))
                .collect();
            (
                want.join().unwrap(),
                got.into_iter().map(|h| h.join().unwrap()).collect(),
            )
        });
        for (server, got) in corekv.iter().zip(got) {
            if got != want {
                failures.push(format!(
                    "seed {seed}, port {}: sent {:?}\n  redis:  {:?} (closed: {})\n  corekv: {:?} (closed: {})",
                    server.port(),
                    String::from_utf8_lossy(&bytes),
                    String::from_utf8_lossy(&want.0),
                    want.1,
                    String::from_utf8_lossy(&got.0),
                    got.1
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
