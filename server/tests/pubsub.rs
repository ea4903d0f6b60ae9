//! Pub/sub and keyspace notifications, black-box, on one and four shards: replies
//! byte for byte against a live `redis-server` 7.0 (RESP2 and RESP3), delivery
//! across cores in publish order with the right receiver counts, `PUBSUB`
//! introspection, slow subscribers cut off at the `pubsub` output-buffer limit with
//! bounded memory, pub/sub on a read-only replica, and the notifications of each
//! command family compared with Redis's.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use common::{encode_str, reply_len, Raw, Redis, Server, SHARD_COUNTS};

/// Subscriber connections a cross-core test opens: with four shards, the kernel
/// spreads so many over every core.
const SUBSCRIBERS: usize = 16;
/// How long to wait for one more pub/sub message before deciding none is coming.
const QUIET: Duration = Duration::from_millis(500);
const POLL_INTERVAL: Duration = Duration::from_millis(20);
const CLOSE_TIMEOUT: Duration = Duration::from_secs(60);

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Sends `args` and returns the exact bytes of `replies` replies.
fn transcript(c: &mut Raw, args: &[&str], replies: usize) -> String {
    c.send(&encode_str(args));
    (0..replies).map(|_| text(c.read_reply())).collect()
}

/// Commands and how many replies each gets (RESP3 and RESP2 differ only where a
/// RESP3 subscriber receives its own message before the reply).
fn script(protocol: u8) -> Vec<(Vec<&'static str>, usize)> {
    let own = if protocol == 3 { 2 } else { 1 };
    let lines: &[(&[&str], usize)] = &[
        (&["UNSUBSCRIBE"], 1),
        (&["PUNSUBSCRIBE"], 1),
        (&["SUNSUBSCRIBE"], 1),
        (&["SUBSCRIBE", "a", "b"], 2),
        (&["SUBSCRIBE", "a"], 1),
        (&["PSUBSCRIBE", "x*"], 1),
        (&["SSUBSCRIBE", "s1", "s2"], 2),
        (&["PING"], 1),
        (&["PING", "hi"], 1),
        (&["GET", "k"], 1),
        (&["CONFIG", "GET", "maxclients"], 1),
        (&["PUBSUB", "NUMPAT"], 1),
        (&["PUBLISH", "a", "hello"], own),
        (&["PUBLISH", "xy", "p"], own),
        (&["SPUBLISH", "s1", "sm"], own),
        (&["PUBSUB", "NUMSUB", "a"], 1),
        (&["PUBLISH", "nobody", "m"], 1),
        (&["UNSUBSCRIBE", "a", "zz"], 2),
        (&["UNSUBSCRIBE", "b"], 1),
        (&["PUNSUBSCRIBE", "x*"], 1),
        (&["GET", "k"], 1),
        (&["SUNSUBSCRIBE", "s1"], 1),
        (&["SUNSUBSCRIBE", "s2"], 1),
        (&["PING"], 1),
        (&["SUBSCRIBE", "c"], 1),
        (&["RESET"], 1),
        (&["PING"], 1),
        (&["PUBSUB", "HELP"], 1),
        (&["PUBSUB", "NUMSUB", "a", "c"], 1),
        (&["PUBSUB", "CHANNELS"], 1),
        (&["PUBSUB", "SHARDNUMSUB"], 1),
        (&["PUBSUB", "NOPE"], 1),
        (&["PUBSUB", "NUMPAT", "x"], 1),
        (&["PUBLISH", "a"], 1),
        (&["SUBSCRIBE"], 1),
        (&["CONFIG", "SET", "notify-keyspace-events", "KEA"], 1),
        (&["CONFIG", "GET", "notify-keyspace-events"], 1),
        (&["CONFIG", "SET", "notify-keyspace-events", "Elg$x"], 1),
        (&["CONFIG", "GET", "notify-keyspace-events"], 1),
        (&["CONFIG", "SET", "notify-keyspace-events", "Kq"], 1),
        (&["CONFIG", "SET", "notify-keyspace-events", ""], 1),
        (&["CONFIG", "GET", "notify-keyspace-events"], 1),
    ];
    lines.iter().map(|(a, n)| (a.to_vec(), *n)).collect()
}

fn run_script(port: u16, protocol: u8) -> Vec<String> {
    let mut c = if protocol == 3 {
        Raw::connect_resp3(port)
    } else {
        Raw::connect(port)
    };
    script(protocol)
        .iter()
        .map(|(args, n)| format!("{args:?} -> {}", transcript(&mut c, args, *n)))
        .collect()
}

#[test]
fn replies_match_redis_byte_for_byte_in_both_protocols() {
    let redis = Redis::start();
    for protocol in [2, 3] {
        let expected = run_script(redis.port, protocol);
        for shards in SHARD_COUNTS {
            let server = Server::with_shards(shards, &[]);
            let got = run_script(server.port(), protocol);
            for (e, g) in expected.iter().zip(&got) {
                assert_eq!(g, e, "RESP{protocol}, {shards} shards");
            }
        }
    }
}

/// Reads pub/sub frames from a plain socket: each as its exact bytes.
struct Listener {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Listener {
    fn subscribe(port: u16, command: &[&str], replies: usize) -> Listener {
        let mut raw = Raw::connect(port);
        transcript(&mut raw, command, replies);
        Listener {
            stream: raw.stream,
            buf: Vec::new(),
        }
    }

    /// The next frame, or `None` after [`QUIET`] without one.
    fn next(&mut self) -> Option<String> {
        self.stream.set_read_timeout(Some(QUIET)).expect("timeout");
        loop {
            if let Some(n) = reply_len(&self.buf) {
                return Some(text(self.buf.drain(..n).collect()));
            }
            let mut chunk = [0u8; 64 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }
}

fn message(channel: &str, payload: &str) -> String {
    format!(
        "*3\r\n$7\r\nmessage\r\n${}\r\n{channel}\r\n${}\r\n{payload}\r\n",
        channel.len(),
        payload.len()
    )
}

fn pmessage(pattern: &str, channel: &str, payload: &str) -> String {
    format!(
        "*4\r\n$8\r\npmessage\r\n${}\r\n{pattern}\r\n${}\r\n{channel}\r\n${}\r\n{payload}\r\n",
        pattern.len(),
        channel.len(),
        payload.len()
    )
}

#[test]
fn publish_reaches_subscribers_on_every_core_in_order_with_the_count() {
    const MESSAGES: usize = 200;
    for shards in SHARD_COUNTS {
        let server = Server::with_shards(shards, &[]);
        let mut subs: Vec<Listener> = (0..SUBSCRIBERS)
            .map(|_| Listener::subscribe(server.port(), &["SUBSCRIBE", "news"], 1))
            .collect();
        let mut patterns: Vec<Listener> = (0..4)
            .map(|_| Listener::subscribe(server.port(), &["PSUBSCRIBE", "ne*"], 1))
            .collect();
        let mut publisher = server.raw();
        let pipeline: Vec<u8> = (0..MESSAGES)
            .flat_map(|i| encode_str(&["PUBLISH", "news", &format!("m{i}")]))
            .collect();
        publisher.send(&pipeline);
        for i in 0..MESSAGES {
            let count = text(publisher.read_reply());
            assert_eq!(count, format!(":{}\r\n", SUBSCRIBERS + 4), "publish {i}");
        }
        for (s, sub) in subs.iter_mut().enumerate() {
            for i in 0..MESSAGES {
                let got = sub.next();
                assert_eq!(
                    got,
                    Some(message("news", &format!("m{i}"))),
                    "subscriber {s}"
                );
            }
            assert_eq!(sub.next(), None, "nothing more");
        }
        for sub in &mut patterns {
            for i in 0..MESSAGES {
                let m = format!("m{i}");
                let want = pmessage("ne*", "news", &m);
                assert_eq!(sub.next(), Some(want));
            }
        }
        assert_eq!(publisher.cmd(&["PUBLISH", "other", "x"]), "0");
    }
}

/// Subscribers of channels, patterns and a shard channel, several of each name
/// (spread over the cores): the plain channels' listeners, then the others.
fn introspection_subscribers(port: u16) -> (Vec<Listener>, Vec<Listener>) {
    let subs: Vec<Listener> = (0..SUBSCRIBERS)
        .map(|i| {
            let ch = format!("ch{}", i % 4);
            Listener::subscribe(port, &["SUBSCRIBE", &ch, "all"], 2)
        })
        .collect();
    let pats =
        (0..6).map(|i| Listener::subscribe(port, &["PSUBSCRIBE", &format!("p{}*", i % 3)], 1));
    let shard = (0..5).map(|_| Listener::subscribe(port, &["SSUBSCRIBE", "sh"], 1));
    (subs, pats.chain(shard).collect())
}

/// `INFO stats`' pub/sub counts, as `name:value` lines.
fn pubsub_info(c: &mut Raw) -> Vec<String> {
    let info = c.cmd(&["INFO", "stats"]);
    ["pubsub_channels", "pubsub_patterns", "pubsubshard_channels"]
        .iter()
        .map(|f| format!("{f}:{}", common::info_value(&info, f).unwrap_or_default()))
        .collect()
}

#[test]
fn pubsub_introspection_counts_every_core() {
    let redis = Redis::start();
    let (_redis_subs, _redis_others) = introspection_subscribers(redis.port);
    let redis_info = pubsub_info(&mut Raw::connect(redis.port));
    let distinct = [
        "pubsub_channels:5",
        "pubsub_patterns:3",
        "pubsubshard_channels:1",
    ];
    assert_eq!(redis_info, distinct, "each name counted once");
    for shards in SHARD_COUNTS {
        let server = Server::with_shards(shards, &[]);
        let (_subs, _others) = introspection_subscribers(server.port());
        let mut c = server.raw();
        assert_eq!(pubsub_info(&mut c), redis_info, "{shards} shards");
        assert_eq!(
            c.cmd(&["PUBSUB", "CHANNELS"]),
            "[all, ch0, ch1, ch2, ch3]",
            "{shards} shards"
        );
        assert_eq!(c.cmd(&["PUBSUB", "CHANNELS", "ch[12]"]), "[ch1, ch2]");
        assert_eq!(
            c.cmd(&["PUBSUB", "NUMSUB", "all", "ch0", "none"]),
            format!("[all, {SUBSCRIBERS}, ch0, {}, none, 0]", SUBSCRIBERS / 4)
        );
        assert_eq!(c.cmd(&["PUBSUB", "NUMPAT"]), "3");
        assert_eq!(c.cmd(&["PUBSUB", "SHARDCHANNELS"]), "[sh]");
        assert_eq!(c.cmd(&["PUBSUB", "SHARDNUMSUB", "sh"]), "[sh, 5]");
        assert_eq!(c.cmd(&["SPUBLISH", "sh", "x"]), "5");
        assert_eq!(c.cmd(&["PUBLISH", "all", "x"]), SUBSCRIBERS.to_string());
        assert_eq!(c.cmd(&["PUBLISH", "p1x", "x"]), "2");
        drop(_subs);
        let deadline = Instant::now() + CLOSE_TIMEOUT;
        while c.cmd(&["PUBSUB", "NUMSUB", "all"]) != "[all, 0]" {
            assert!(Instant::now() < deadline, "closed subscribers stay counted");
            std::thread::sleep(POLL_INTERVAL);
        }
        assert_eq!(c.cmd(&["PUBLISH", "all", "x"]), "0");
    }
}

#[test]
fn resp3_subscriber_gets_push_frames_and_runs_any_command() {
    for shards in SHARD_COUNTS {
        let server = Server::with_shards(shards, &[]);
        let mut sub = Raw::connect_resp3(server.port());
        assert_eq!(
            transcript(&mut sub, &["SUBSCRIBE", "ch"], 1),
            ">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"
        );
        assert_eq!(sub.cmd(&["SET", "k", "v"]), "OK");
        assert_eq!(sub.cmd(&["GET", "k"]), "v");
        let mut publisher = server.raw();
        assert_eq!(publisher.cmd(&["PUBLISH", "ch", "hi"]), "1");
        assert_eq!(
            text(sub.read_reply()),
            ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n"
        );
        assert_eq!(
            text(sub.cmd_raw(&[b"PING"])),
            "+PONG\r\n",
            "RESP3 PING is a plain PONG"
        );
    }
}

/// A message never overtakes the replies of the batch its connection is running:
/// a RESP3 client that subscribes and publishes in one pipeline gets its
/// confirmation, then its own copy of the message, then the count (as from Redis).
#[test]
fn confirmation_comes_before_the_first_message() {
    for shards in SHARD_COUNTS {
        let server = Server::with_shards(shards, &[]);
        let mut other = Raw::connect_resp3(server.port());
        assert_eq!(other.cmd(&["SUBSCRIBE", "ch"]), "[subscribe, ch, 1]");
        let mut c = Raw::connect_resp3(server.port());
        let mut pipeline = encode_str(&["SET", "k", "v"]);
        pipeline.extend(encode_str(&["SUBSCRIBE", "ch"]));
        pipeline.extend(encode_str(&["PUBLISH", "ch", "x"]));
        c.send(&pipeline);
        assert_eq!(text(c.read_reply()), "+OK\r\n");
        assert_eq!(
            text(c.read_reply()),
            ">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"
        );
        let own = ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\nx\r\n";
        assert_eq!(text(c.read_reply()), own);
        assert_eq!(text(c.read_reply()), ":2\r\n");
        assert_eq!(text(other.read_reply()), own);
    }
    confirmation_leads_while_another_client_publishes();
}

/// Another client publishes without pause while a RESP3 client subscribes in a
/// pipeline whose later commands wait on other shards: the confirmation still comes
/// first.
fn confirmation_leads_while_another_client_publishes() {
    const ATTEMPTS: usize = 20;
    let server = Server::with_shards(4, &[]);
    let keys: Vec<String> = (0..64).map(|i| format!("key{i}")).collect();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let publisher = {
        let (stop, mut p) = (stop.clone(), server.raw());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                p.cmd(&["PUBLISH", "busy", "m"]);
            }
        })
    };
    for attempt in 0..ATTEMPTS {
        let mut c = Raw::connect_resp3(server.port());
        let mut pipeline = encode_str(&["SUBSCRIBE", "busy"]);
        keys.iter()
            .for_each(|k| pipeline.extend(encode_str(&["GET", k])));
        c.send(&pipeline);
        let first = text(c.read_reply());
        assert!(
            first.starts_with(">3\r\n$9\r\nsubscribe"),
            "attempt {attempt}: {first:?}"
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    publisher.join().expect("publisher");
}

/// `cross_shard_hops` of `INFO stats`.
fn hops(c: &mut Raw) -> u64 {
    let info = c.cmd(&["INFO", "stats"]);
    common::info_value(&info, "cross_shard_hops")
        .and_then(|v| v.parse().ok())
        .expect("cross_shard_hops")
}

/// A publish goes only to the cores that may have receivers (the replicated
/// summary), not to every core.
#[test]
fn publish_skips_cores_without_subscribers() {
    const PUBLISHES: u64 = 200;
    let server = Server::with_shards(4, &[]);
    let mut c = server.raw();
    let before = hops(&mut c);
    for _ in 0..PUBLISHES {
        assert_eq!(c.cmd(&["PUBLISH", "quiet", "x"]), "0");
    }
    let spent = hops(&mut c) - before;
    assert!(
        spent < PUBLISHES,
        "{spent} hops for {PUBLISHES} publishes nobody hears"
    );
}

/// Sets a small receive buffer so the kernel holds little of what a never-reading
/// subscriber is sent.
fn shrink_receive_buffer(stream: &TcpStream) {
    let bytes: libc::c_int = 4096;
    // SAFETY: setsockopt on an open socket with a c_int option value.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&bytes as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_RCVBUF");
}

/// Counts `message` frames on `stream` until `want` arrived or the stream ends.
fn count_messages(mut stream: TcpStream, want: usize) -> usize {
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut buf = Vec::new();
    let mut seen = 0;
    let mut chunk = vec![0u8; 256 * 1024];
    while seen < want {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        let mut at = 0;
        while let Some(n) = reply_len(&buf[at..]) {
            at += n;
            seen += 1;
        }
        buf.drain(..at);
    }
    seen
}

#[test]
fn slow_subscribers_are_cut_off_at_the_pubsub_limit_with_bounded_memory() {
    const FAST: usize = 90;
    const SLOW: usize = 10;
    const MESSAGES: usize = 12_000;
    const PAYLOAD_BYTES: usize = 1024;
    let server = Server::with_shards(2, &["--client-output-buffer-limit", "pubsub 8mb 0 0"]);
    let slow: Vec<TcpStream> = (0..SLOW)
        .map(|_| {
            let l = Listener::subscribe(server.port(), &["SUBSCRIBE", "firehose"], 1);
            shrink_receive_buffer(&l.stream);
            l.stream
        })
        .collect();
    let readers: Vec<_> = (0..FAST)
        .map(|_| {
            let l = Listener::subscribe(server.port(), &["SUBSCRIBE", "firehose"], 1);
            std::thread::spawn(move || count_messages(l.stream, MESSAGES))
        })
        .collect();
    let before = server.rss_kib();
    let payload = "x".repeat(PAYLOAD_BYTES);
    let mut publisher = TcpStream::connect(("127.0.0.1", server.port())).expect("connect");
    let one = encode_str(&["PUBLISH", "firehose", &payload]);
    let mut peak = before;
    for _ in 0..MESSAGES / 100 {
        publisher.write_all(&one.repeat(100)).expect("publish");
        peak = peak.max(server.rss_kib());
    }
    let closes = || {
        server
            .log_text()
            .matches("overcoming of output buffer limits")
            .count()
    };
    let deadline = Instant::now() + CLOSE_TIMEOUT;
    while closes() < SLOW {
        peak = peak.max(server.rss_kib());
        assert!(
            Instant::now() < deadline,
            "slow subscribers not cut off:\n{}",
            server.log_text()
        );
        std::thread::sleep(POLL_INTERVAL);
    }
    for (i, r) in readers.into_iter().enumerate() {
        assert_eq!(
            r.join().expect("reader"),
            MESSAGES,
            "reader {i} missed messages"
        );
    }
    assert_eq!(closes(), SLOW, "only the slow subscribers are cut off");
    drop(slow);
    let grown_mib = peak.saturating_sub(before) / 1024;
    println!("1 publisher, {FAST} readers, {SLOW} slow: RSS grew by {grown_mib} MiB at most");
    assert!(grown_mib < 200, "RSS grew by {grown_mib} MiB");
}

#[test]
fn publish_and_subscribe_work_on_a_read_only_replica() {
    let master = Server::with_shards(2, &[]);
    let to = format!("127.0.0.1 {}", master.port());
    let replica = Server::with_shards(2, &["--replicaof", &to]);
    let mut sub = Listener::subscribe(replica.port(), &["SUBSCRIBE", "__sentinel__:hello"], 1);
    let mut c = replica.raw();
    assert!(c.cmd(&["SET", "k", "v"]).starts_with("-READONLY"));
    assert_eq!(c.cmd(&["PUBLISH", "__sentinel__:hello", "a,b,c"]), "1");
    assert_eq!(sub.next(), Some(message("__sentinel__:hello", "a,b,c")));
}

// ---- keyspace notifications ----

/// Commands of each family, run in order on one connection.
const FAMILIES: &[&[&str]] = &[
    &["SET", "s", "1"],
    &["SET", "s", "2", "EX", "100"],
    &["SETNX", "s2", "x"],
    &["GETSET", "s2", "y"],
    &["MSET", "m1", "1", "m2", "2"],
    &["APPEND", "s2", "z"],
    &["SETRANGE", "s2", "1", "q"],
    &["INCR", "n"],
    &["INCRBY", "n", "5"],
    &["DECR", "n"],
    &["INCRBYFLOAT", "n", "1.5"],
    &["SETBIT", "b", "3", "1"],
    &["BITOP", "OR", "b2", "b", "b"],
    &["GETEX", "s", "PERSIST"],
    &["GETEX", "s", "EX", "50"],
    &["GETDEL", "m1"],
    &["EXPIRE", "m2", "100"],
    &["PERSIST", "m2"],
    &["RENAME", "m2", "m3"],
    &["COPY", "m3", "m4"],
    &["MOVE", "m4", "1"],
    &["DEL", "m3", "nothing"],
    &["UNLINK", "b2"],
    &["SET", "gone", "1"],
    &["EXPIRE", "gone", "-1"],
    &["HSET", "h", "f", "1", "g", "2"],
    &["HSETNX", "h", "k", "3"],
    &["HINCRBY", "h", "f", "2"],
    &["HINCRBYFLOAT", "h", "f", "0.5"],
    &["HDEL", "h", "f", "g"],
    &["HDEL", "h", "k"],
    &["SADD", "a", "1", "2", "3"],
    &["SREM", "a", "1"],
    &["SADD", "p", "9"],
    &["SPOP", "p"],
    &["SMOVE", "a", "c", "2"],
    &["SMOVE", "a", "c", "3"],
    &["SADD", "d", "1"],
    &["SINTERSTORE", "e", "c", "d"],
    &["SUNIONSTORE", "e", "c", "d"],
    &["SDIFFSTORE", "e", "d", "d"],
    &["RPUSH", "l", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
    &["LPUSH", "l", "0"],
    &["LPUSHX", "l", "a"],
    &["RPUSHX", "l", "b"],
    &["LINSERT", "l", "BEFORE", "5", "x"],
    &["LSET", "l", "0", "y"],
    &["LREM", "l", "0", "x"],
    &["LTRIM", "l", "0", "10"],
    &["LPOP", "l"],
    &["RPOP", "l", "2"],
    &["LMOVE", "l", "l2", "LEFT", "RIGHT"],
    &["LMOVE", "l", "l2", "RIGHT", "LEFT"],
    &["RPOPLPUSH", "l", "l2"],
    &["LMPOP", "1", "l", "RIGHT"],
    &["BLPOP", "l", "0"],
    &["BRPOP", "l", "0"],
    &["BLMOVE", "l", "l2", "LEFT", "LEFT", "0"],
    &["BRPOPLPUSH", "l2", "l", "0"],
    &["BLMPOP", "0", "1", "l", "LEFT", "COUNT", "5"],
    &["RPUSH", "one", "x"],
    &["LMOVE", "one", "l2", "LEFT", "LEFT"],
    &[
        "ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e",
    ],
    &["ZADD", "z", "INCR", "1", "a"],
    &["ZINCRBY", "z", "1", "b"],
    &["ZREM", "z", "c"],
    &["ZREMRANGEBYSCORE", "z", "0", "1"],
    &["ZREMRANGEBYRANK", "z", "0", "0"],
    &["ZADD", "z", "0", "m", "0", "n", "0", "o", "0", "p"],
    &["ZADD", "lex", "0", "m", "0", "n", "0", "o"],
    &["ZREMRANGEBYLEX", "lex", "[m", "[m"],
    &["ZPOPMIN", "z"],
    &["ZPOPMAX", "z"],
    &["ZMPOP", "1", "z", "MIN"],
    &["BZPOPMIN", "z", "0"],
    &["BZPOPMAX", "z", "0"],
    &["BZMPOP", "0", "1", "z", "MAX"],
    &["ZADD", "z1", "1", "a", "2", "b"],
    &["ZUNIONSTORE", "z2", "1", "z1"],
    &["ZINTERSTORE", "z2", "2", "z1", "z1"],
    &["ZDIFFSTORE", "z2", "1", "z1"],
    &["ZRANGESTORE", "z3", "z1", "0", "-1"],
    &["ZDIFFSTORE", "z3", "2", "z1", "z1"],
    &["GEOADD", "g", "13.361389", "38.115556", "Palermo"],
    &["GEOADD", "g", "15.087269", "37.502669", "Catania"],
    &["GEOADD", "g", "XX", "13.361389", "38.115556", "Palermo"],
    &["GEOADD", "g", "XX", "CH", "13.5", "38.1", "Palermo"],
    &["GEORADIUS", "g", "15", "37", "200", "km", "STORE", "gs"],
    &["GEORADIUS", "g", "15", "37", "200", "km", "STOREDIST", "gd"],
    &[
        "GEORADIUSBYMEMBER",
        "g",
        "Palermo",
        "300",
        "km",
        "STORE",
        "gs",
    ],
    &[
        "GEORADIUSBYMEMBER",
        "g",
        "Palermo",
        "300",
        "km",
        "STOREDIST",
        "gd",
    ],
    &["GEORADIUS", "g", "0", "0", "1", "km", "STORE", "gs"],
    &[
        "GEOSEARCHSTORE",
        "gs2",
        "g",
        "FROMLONLAT",
        "15",
        "37",
        "BYRADIUS",
        "200",
        "km",
    ],
    &[
        "GEOSEARCHSTORE",
        "gs2",
        "g",
        "FROMMEMBER",
        "Palermo",
        "BYBOX",
        "400",
        "400",
        "km",
        "STOREDIST",
    ],
    &[
        "GEOSEARCHSTORE",
        "gs2",
        "g",
        "FROMLONLAT",
        "0",
        "0",
        "BYRADIUS",
        "1",
        "km",
    ],
    &[
        "GEOSEARCHSTORE",
        "gs3",
        "g",
        "FROMLONLAT",
        "0",
        "0",
        "BYRADIUS",
        "1",
        "km",
    ],
    &["RPUSH", "srt", "3", "1"],
    &["SORT", "srt", "STORE", "srtd"],
    &["SORT", "nosuch", "STORE", "srtd"],
    &["RESTORE", "rst", "0", RESTORE_PAYLOAD],
    &["RESTORE", "rst", "0", RESTORE_PAYLOAD, "REPLACE"],
    &["SET", "short", "1", "PX", "50"],
];

/// `DUMP` of the string "vkt": its checksum happens to be printable.
const RESTORE_PAYLOAD: &str = "\0\x03vkt\n\0j\x1bX\x08\x1bD`x";

/// Commands whose `new` (class `n`) and `keymiss` (class `m`) events are compared.
const NEW_AND_MISS: &[&[&str]] = &[
    &["SET", "a", "1"],
    &["SET", "a", "2"],
    &["GET", "a"],
    &["GET", "nothing"],
    &["HGET", "nohash", "f"],
    &["LRANGE", "nolist", "0", "-1"],
    &["INCR", "n"],
    &["LPUSH", "l", "x"],
    &["LPUSH", "l", "y"],
    &["HSET", "h", "f", "v"],
    &["SADD", "s", "m"],
    &["ZADD", "z", "1", "m"],
    &["RENAME", "a", "b"],
    &["SET", "c", "1"],
    &["RENAME", "b", "c"],
    &["COPY", "c", "d"],
    &["SORT", "l", "ALPHA", "STORE", "srtd"],
    &["SORT", "l", "ALPHA", "STORE", "srtd"],
    &["RESTORE", "rst", "0", RESTORE_PAYLOAD],
    &["RESTORE", "rst", "0", RESTORE_PAYLOAD, "REPLACE"],
    &["COPY", "c", "d", "REPLACE"],
    &["MOVE", "c", "1"],
    &["SET", "short", "1", "PX", "50"],
];

/// Every notification for [`FAMILIES`] (and one expiry), as `channel message`
/// lines: in order on one shard, sorted otherwise (shards notify independently).
fn notifications(port: u16, sorted: bool) -> Vec<String> {
    notifications_of(port, sorted, "KEA", FAMILIES)
}

/// The notifications of the classes `events` for `commands`, then for a read of
/// `short` after it expired (see [`notifications`]).
fn notifications_of(port: u16, sorted: bool, events: &str, commands: &[&[&str]]) -> Vec<String> {
    let mut c = Raw::connect(port);
    c.cmd(&["FLUSHALL"]);
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "notify-keyspace-events", events]),
        "OK"
    );
    let mut sub = Listener::subscribe(port, &["PSUBSCRIBE", "__key*__:*"], 1);
    for args in commands {
        c.cmd(args);
    }
    std::thread::sleep(Duration::from_millis(200));
    c.cmd(&["GET", "short"]);
    let mut lines = Vec::new();
    while let Some(frame) = sub.next() {
        let parts: Vec<&str> = frame.split("\r\n").collect();
        lines.push(format!("{} {}", parts[6], parts[8]));
    }
    c.cmd(&["CONFIG", "SET", "notify-keyspace-events", ""]);
    if sorted {
        lines.sort();
    }
    lines
}

#[test]
fn keyspace_notifications_match_redis_for_every_family() {
    let redis = Redis::start();
    for shards in SHARD_COUNTS {
        let sorted = shards > 1;
        let expected = notifications(redis.port, sorted);
        let server = Server::with_shards(shards, &[]);
        let got = notifications(server.port(), sorted);
        assert_eq!(got, expected, "{shards} shards");
    }
}

/// Classes `n` (`new`: a key created) and `m` (`keymiss`: a read found nothing),
/// which `A` does not include, as Redis 7.0 reports them.
#[test]
fn new_key_and_key_miss_events_match_redis() {
    let redis = Redis::start();
    for shards in SHARD_COUNTS {
        let sorted = shards > 1;
        let expected = notifications_of(redis.port, sorted, "KEnm", NEW_AND_MISS);
        let server = Server::with_shards(shards, &[]);
        let got = notifications_of(server.port(), sorted, "KEnm", NEW_AND_MISS);
        assert_eq!(got, expected, "{shards} shards");
    }
}

#[test]
fn notifications_follow_the_configured_classes() {
    let server = Server::with_shards(4, &["--notify-keyspace-events", "Eg"]);
    let mut sub = Listener::subscribe(server.port(), &["PSUBSCRIBE", "__key*__:*"], 1);
    let mut c = server.raw();
    c.cmd(&["SET", "k", "v"]);
    c.cmd(&["DEL", "k"]);
    let del = pmessage("__key*__:*", "__keyevent@0__:del", "k");
    assert_eq!(
        sub.next().as_deref(),
        Some(del.as_str()),
        "string class off, generic on"
    );
    assert_eq!(sub.next(), None);
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "Kx"]),
        "OK"
    );
    c.cmd(&["SET", "t", "v", "PX", "20"]);
    let expired = pmessage("__key*__:*", "__keyspace@0__:t", "expired");
    assert_eq!(
        sub.next().as_deref(),
        Some(expired.as_str()),
        "active expiry notifies"
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "notify-keyspace-events", ""]),
        "OK"
    );
    c.cmd(&["SET", "t", "v"]);
    assert_eq!(sub.next(), None, "off");
}

// ---- a real client ----

/// redis-py's `PubSub` (`tests/py/test_pubsub.py`) in RESP2 and RESP3 on four
/// shards. Needs `python3` with redis-py; without `python3` at all it is skipped.
#[test]
fn redis_py_pubsub_listens_in_both_protocols() {
    let server = Server::with_shards(4, &[]);
    common::python::run_script("test_pubsub.py", &server);
}
