//! Protocol errors: a malformed request gets Redis's exact `-ERR Protocol error: ...`
//! and closes only its own connection; oversized lengths and endless lines are
//! refused without the server's memory growing; no input takes the server down.

mod common;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{encode, Raw, Server};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The server's resident memory must stay below this while clients misbehave.
const RSS_MAX_KIB: u64 = 200 * 1024;
/// Most bytes a client streams at the server before giving up on being cut off.
const FLOOD_BYTES_MAX: usize = 64 * 1024 * 1024;

/// Sends `request` on a fresh connection and returns all the server sent back
/// before it closed the connection.
fn reply_then_close(server: &Server, request: &[u8]) -> String {
    let mut con = server.raw();
    con.send(request);
    String::from_utf8_lossy(&con.read_to_eof()).into_owned()
}

#[test]
fn malformed_requests_get_redis_errors_and_close_only_their_connection() {
    let cases: &[(&[u8], &str)] = &[
        (
            b"*1\r\n$x\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*abc\r\n",
            "-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*1\r\nfoo\r\n",
            "-ERR Protocol error: expected '$', got 'f'\r\n",
        ),
        (
            b"*1\r\n$-1\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*2\r\n$3\r\nGET\r\n:1\r\n",
            "-ERR Protocol error: expected '$', got ':'\r\n",
        ),
        (
            b"SET \"a b\r\n",
            "-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
        (
            b"SET 'a\r\n",
            "-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
        (
            b"SET \"a\"b c\r\n",
            "-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
        // corekv's bound on arguments per request (1M).
        (
            b"*2000000\r\n",
            "-ERR Protocol error: invalid multibulk length\r\n",
        ),
        // Requests before the bad one in the same write are answered first.
        (
            b"PING\r\n*1\r\n$4\r\nPING\r\n*1\r\n$x\r\nPING\r\n",
            "+PONG\r\n+PONG\r\n-ERR Protocol error: invalid bulk length\r\n",
        ),
    ];
    for shards in [1, 4] {
        let server = Server::with_shards(shards, &[]);
        let mut bystander = server.raw();
        assert_eq!(bystander.cmd(&["SET", "k", "v"]), "OK");
        for (request, want) in cases {
            assert_eq!(
                reply_then_close(&server, request),
                *want,
                "{:?}",
                String::from_utf8_lossy(request)
            );
            assert_eq!(
                bystander.cmd(&["GET", "k"]),
                "v",
                "the other client is served"
            );
        }
        let stats = bystander.cmd(&["INFO", "stats"]);
        assert_eq!(
            common::info_value(&stats, "total_protocol_errors"),
            Some(cases.len().to_string())
        );
    }
}

#[test]
fn tolerated_oddities_are_answered_like_redis() {
    let server = Server::with_shards(2, &[]);
    let mut con = server.raw();
    // Empty lines, `*0` and `*-1` are skipped; a bulk's trailing two bytes are not
    // checked; inline arguments take quotes and escapes.
    con.send(b"\r\n\r\n*0\r\n*-1\r\n*1\r\n$4\r\nPINGxx");
    assert_eq!(con.read_reply(), b"+PONG\r\n");
    con.send(b"SET \"in line\" 'it\\'s'\r\nGET \"in line\"\r\n");
    assert_eq!(con.read_reply(), b"+OK\r\n");
    assert_eq!(con.read_reply(), b"$4\r\nit's\r\n");
    con.send(b"ECHO \"\\x41\\n\"\n");
    assert_eq!(con.read_reply(), b"$2\r\nA\n\r\n");
    con.send(b"$1\r\n");
    assert_eq!(
        con.read_reply(),
        b"-ERR unknown command '$1', with args beginning with: \r\n"
    );
    assert_eq!(con.cmd(&["PING"]), "PONG", "still open");
}

#[test]
fn oversized_bulk_lengths_are_refused() {
    let server = Server::with_shards(2, &[]);
    assert_eq!(
        reply_then_close(&server, b"*1\r\n$600000000\r\n"),
        "-ERR Protocol error: invalid bulk length\r\n"
    );
    assert_eq!(
        reply_then_close(&server, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$536870913\r\n"),
        "-ERR Protocol error: invalid bulk length\r\n"
    );

    let small = Server::with_shards(2, &["--proto-max-bulk-len", "1mb"]);
    assert_eq!(
        reply_then_close(&small, b"*1\r\n$2000000\r\n"),
        "-ERR Protocol error: invalid bulk length\r\n"
    );
    let mut con = small.raw();
    let limit = vec![b'x'; 1024 * 1024];
    assert_eq!(con.cmd_raw(&[b"SET", b"big", &limit]), b"+OK\r\n");
    assert_eq!(con.cmd(&["STRLEN", "big"]), "1048576");
    assert_eq!(
        con.cmd(&["APPEND", "big", "y"]),
        "-ERR string exceeds maximum allowed size (proto-max-bulk-len)"
    );
    let over = vec![b'x'; 1024 * 1024 + 1];
    // The server may refuse and close before the whole request is written.
    let _ = con.stream.write_all(&encode(&[b"SET", b"big", &over]));
    assert_eq!(
        String::from_utf8_lossy(&con.read_to_eof()),
        "-ERR Protocol error: invalid bulk length\r\n"
    );

    // The limit is live: CONFIG SET raises it for new requests.
    let mut admin = small.raw();
    assert_eq!(
        admin.cmd(&["CONFIG", "SET", "proto-max-bulk-len", "2mb"]),
        "OK"
    );
    assert_eq!(admin.cmd_raw(&[b"SET", b"big", &over]), b"+OK\r\n");
    assert_eq!(admin.cmd(&["APPEND", "big", "y"]), "1048578");
    assert!(small.rss_kib() < RSS_MAX_KIB);
}

/// Streams `prefix` then `filler` bytes without end until the server cuts the
/// connection; returns what the server sent. Checks the server's memory meanwhile.
fn flood(server: &Server, prefix: &[u8], filler: u8) -> String {
    let mut con = server.raw();
    let mut writer = con.stream.try_clone().expect("clone");
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let (stop_w, sent_w) = (stop.clone(), sent.clone());
    let prefix = prefix.to_vec();
    let streaming = std::thread::spawn(move || {
        if writer.write_all(&prefix).is_err() {
            return;
        }
        let chunk = vec![filler; 16 * 1024];
        while !stop_w.load(Ordering::Relaxed)
            && (sent_w.load(Ordering::Relaxed) as usize) < FLOOD_BYTES_MAX
        {
            if writer.write_all(&chunk).is_err() {
                return;
            }
            sent_w.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        }
    });
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(
            server.rss_kib() < RSS_MAX_KIB,
            "RSS {} KiB after {} bytes",
            server.rss_kib(),
            sent.load(Ordering::Relaxed)
        );
        match con.stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("no close after {} bytes: {e}", sent.load(Ordering::Relaxed)),
        }
        assert!(Instant::now() < deadline, "connection left open");
    }
    stop.store(true, Ordering::Relaxed);
    let _ = con.stream.shutdown(Shutdown::Both);
    streaming.join().expect("streaming thread");
    assert!(
        (sent.load(Ordering::Relaxed) as usize) < FLOOD_BYTES_MAX,
        "the server read everything and never cut the connection"
    );
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn endless_lines_are_cut_off_with_bounded_memory() {
    for shards in [1, 4] {
        let server = Server::with_shards(shards, &[]);
        let mut bystander = server.raw();
        assert_eq!(
            flood(&server, b"SET k ", b'a'),
            "-ERR Protocol error: too big inline request\r\n"
        );
        assert_eq!(
            flood(&server, b"*", b'1'),
            "-ERR Protocol error: too big mbulk count string\r\n"
        );
        assert_eq!(
            flood(&server, b"*1\r\n$", b'1'),
            "-ERR Protocol error: too big bulk count string\r\n"
        );
        assert_eq!(bystander.cmd(&["PING"]), "PONG");
        assert!(server.rss_kib() < RSS_MAX_KIB);
    }
}

/// Random bytes drawn mostly from RESP's own alphabet, each on its own connection:
/// whatever they parse to, the server answers or closes, keeps serving others and
/// keeps its memory.
#[test]
fn random_garbage_never_takes_the_server_down() {
    let server = Server::with_shards(4, &["--proto-max-bulk-len", "1mb"]);
    let mut bystander = server.raw();
    assert_eq!(bystander.cmd(&["SET", "k", "v"]), "OK");
    let alphabet = b"*$:+-\r\n\r\n0123456789-\"' \\xabcGETSETPINGFLUSHALLSHUTDOWN";
    let mut rng = StdRng::seed_from_u64(7);
    for i in 0..300 {
        let len = rng.gen_range(1..200);
        let mut input: Vec<u8> = (0..len)
            .map(|_| {
                if rng.gen_bool(0.95) {
                    alphabet[rng.gen_range(0..alphabet.len())]
                } else {
                    rng.gen()
                }
            })
            .collect();
        // Never ask the server to stop or wipe the bystander's data.
        for word in [&b"SHUTDOWN"[..], b"FLUSHALL"] {
            while let Some(at) = input.windows(word.len()).position(|w| w == word) {
                input[at] = b'x';
            }
        }
        let mut con = Raw::connect(server.port());
        con.send(&input);
        let _ = con.stream.shutdown(Shutdown::Write);
        let _ = con.read_to_eof();
        if i % 50 == 0 {
            assert!(server.rss_kib() < RSS_MAX_KIB);
        }
    }
    assert_eq!(bystander.cmd(&["GET", "k"]), "v");
    assert!(server.rss_kib() < RSS_MAX_KIB);
}
