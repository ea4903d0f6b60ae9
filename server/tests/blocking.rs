//! Blocking pops against the real binary, on one shard and on four:
//! - a client blocked on keys that live on several shards is served by a push to any
//!   of them, clients blocked on one key in the order they blocked;
//! - timeouts (fractional seconds) answer null near their deadline, within 100 ms
//!   of it while other connections keep every shard busy; timeout errors are Redis
//!   7.0.15's;
//! - `CLIENT UNBLOCK`, `CLIENT KILL`, a disconnect mid-wait (no element lost, also
//!   when the push comes right behind the close), the idle
//!   `timeout` sparing blocked clients and subscribers, and
//!   `INFO clients` `blocked_clients`;
//! - many consumers blocked on keys spread over shards, producers pushing to the
//!   keys in turn: every element is popped exactly once, per-key FIFO kept; the same
//!   as a redis-py job queue;
//! - SIGKILL during a producer/consumer run with `appendfsync always` loses no
//!   acknowledged push or pop.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::blocked::{blocked_clients, wait_blocked};
use common::{items, restart_in, start_in, DataDir, Raw, Server, SHARD_COUNTS};

/// How long a client gets to be seen blocked.
const BLOCK_SETTLE: Duration = Duration::from_millis(200);
/// Slack a timeout may fire late by, on a loaded machine.
const TIMEOUT_SLACK: Duration = Duration::from_millis(400);

/// Sends `args` on a new connection without reading the reply.
fn send(server: &Server, args: &[&str]) -> Raw {
    let mut c = server.raw();
    c.send(&common::encode_str(args));
    c
}

fn read(c: &mut Raw) -> String {
    let reply = c.read_reply();
    String::from_utf8_lossy(&reply).into_owned()
}

#[test]
fn pushes_serve_blocked_clients_in_order_across_shards() {
    for shards in SHARD_COUNTS {
        let server = Server::with_shards(shards, &[]);
        let mut first = send(&server, &["BLPOP", "q1", "q2", "q3", "0"]);
        wait_blocked(server.port(), 1);
        let mut second = send(&server, &["BRPOP", "q2", "0"]);
        let mut mover = send(&server, &["BLMOVE", "src", "dst", "LEFT", "RIGHT", "0"]);
        let mut mpop = send(
            &server,
            &["BLMPOP", "0", "2", "m1", "m2", "RIGHT", "COUNT", "2"],
        );
        wait_blocked(server.port(), 4);
        let mut c = server.raw();
        assert_eq!(c.cmd(&["RPUSH", "q2", "a", "b"]), "2");
        assert_eq!(read(&mut first), "*2\r\n$2\r\nq2\r\n$1\r\na\r\n");
        assert_eq!(read(&mut second), "*2\r\n$2\r\nq2\r\n$1\r\nb\r\n");
        assert_eq!(c.cmd(&["LPUSH", "src", "x"]), "1");
        assert_eq!(read(&mut mover), "$1\r\nx\r\n");
        assert_eq!(c.cmd(&["LRANGE", "dst", "0", "-1"]), "[x]");
        assert_eq!(c.cmd(&["RPUSH", "m2", "1", "2", "3"]), "3");
        assert_eq!(
            read(&mut mpop),
            "*2\r\n$2\r\nm2\r\n*2\r\n$1\r\n3\r\n$1\r\n2\r\n"
        );
        assert_eq!(c.cmd(&["LRANGE", "m2", "0", "-1"]), "[1]");
        wait_blocked(server.port(), 0);
        assert_eq!(c.cmd(&["EXISTS", "q2", "src"]), "0");
    }
}

/// Rounds of the race between a blocked client and a pop pipelined behind a push.
const SERVE_FIRST_ROUNDS: usize = 100;

/// A client blocked on a key is served right after the push that fills it, before
/// another client's pop sent right behind the push: round after round, the blocked
/// client gets the element and the direct pop gets nothing (a list, then a sorted
/// set), as on Redis.
#[test]
fn blocked_clients_are_served_before_the_next_direct_pop() {
    let families = [
        (
            ["BLPOP", "k", "0"],
            ["LPUSH", "k"],
            ["LPOP", "k"],
            "$-1\r\n",
        ),
        (
            ["BZPOPMIN", "z", "0"],
            ["ZADD", "z"],
            ["ZPOPMIN", "z"],
            "*0\r\n",
        ),
    ];
    for shards in SHARD_COUNTS {
        let server = Server::with_shards(shards, &[]);
        let (mut blocked_client, mut pusher, mut popper) =
            (server.raw(), server.raw(), server.raw());
        for round in 0..SERVE_FIRST_ROUNDS {
            let (block, push, pop, nothing) = families[round % families.len()];
            let value = round.to_string();
            blocked_client.send(&common::encode_str(&block));
            wait_blocked(server.port(), 1);
            let mut push = push.to_vec();
            if push[0] == "ZADD" {
                push.push("1");
            }
            push.push(&value);
            pusher.send(&common::encode_str(&push));
            popper.send(&common::encode_str(&pop));
            assert_eq!(read(&mut pusher), ":1\r\n");
            assert_eq!(read(&mut popper), nothing, "{shards} shards, round {round}");
            let got = items(&common::render(&blocked_client.read_reply()));
            assert_eq!(got[1], value, "{shards} shards, round {round}");
        }
        let mut c = server.raw();
        assert_eq!(c.cmd(&["EXISTS", "k", "z"]), "0");
    }
}

#[test]
fn timeouts_answer_null_near_their_deadline() {
    let server = Server::with_shards(4, &[]);
    let mut c = server.raw();
    let started = Instant::now();
    assert_eq!(c.cmd_raw(&[b"BLPOP", b"a", b"b", b"0.3"]), b"*-1\r\n");
    // A null array, as Redis answers every timed-out block (though `BLMOVE`'s
    // non-blocking form inside `MULTI` answers a null bulk string, below).
    assert_eq!(
        c.cmd_raw(&[b"BLMOVE", b"a", b"b", b"LEFT", b"LEFT", b"0.1"]),
        b"*-1\r\n"
    );
    assert_eq!(
        c.cmd_raw(&[b"BLMPOP", b"0.1", b"1", b"a", b"LEFT"]),
        b"*-1\r\n"
    );
    let took = started.elapsed();
    c.cmd(&["MULTI"]);
    c.cmd(&["BLMOVE", "a", "b", "LEFT", "LEFT", "0.1"]);
    c.cmd(&["BRPOPLPUSH", "a", "b", "0.1"]);
    assert_eq!(c.cmd_raw(&[b"EXEC"]), b"*2\r\n$-1\r\n$-1\r\n");
    assert_eq!(c.cmd_raw(&[b"BRPOPLPUSH", b"a", b"b", b"0.01"]), b"*-1\r\n");
    assert!(took >= Duration::from_millis(500), "{took:?}");
    assert!(
        took < Duration::from_millis(500) + TIMEOUT_SLACK,
        "{took:?}"
    );
    assert_eq!(c.cmd(&["BLPOP", "a", "-1"]), "-ERR timeout is negative");
    assert_eq!(
        c.cmd(&["BLPOP", "a", "x"]),
        "-ERR timeout is not a float or out of range"
    );
    assert_eq!(c.cmd(&["SET", "s", "v"]), "OK");
    assert_eq!(
        c.cmd(&["BLPOP", "s", "0"]),
        "-WRONGTYPE Operation against a key holding the wrong kind of value"
    );
    assert_eq!(blocked_clients(server.port()), 0);
}

/// Clients whose timeouts pass while other connections keep every shard busy, and
/// those connections.
const TIMED_CLIENTS: usize = 20;
const LOAD_CLIENTS: usize = 4;
/// Push/pop pairs per pipelined batch of the load.
const LOAD_PAIRS: usize = 16;
/// The shortest timeout, and the step between the clients' timeouts.
const TIMED_FIRST: Duration = Duration::from_millis(200);
const TIMED_STEP: Duration = Duration::from_millis(20);
/// How late a timeout may answer under load.
const TIMEOUT_LATE_MAX: Duration = Duration::from_millis(100);
/// How early it may: deadlines are whole milliseconds of the wall clock (as Redis's
/// `mstime()`), so one can pass up to a millisecond before the client's count.
const TIMEOUT_EARLY_MAX: Duration = Duration::from_millis(1);

/// Blocked clients' timeouts answer null within 100 ms after their deadline (not
/// before it, to the millisecond) while pipelined pushes and pops keep the four
/// shards busy.
#[test]
fn timeouts_fire_near_their_deadline_under_load() {
    let server = Server::with_shards(4, &[]);
    let stop = Arc::new(AtomicBool::new(false));
    let load: Vec<_> = (0..LOAD_CLIENTS)
        .map(|n| {
            common::stress::spawn(&server, &stop, move |c, i| {
                let key = format!("load:{n}:{}", i % 8);
                let mut batch = Vec::new();
                for _ in 0..LOAD_PAIRS {
                    batch.extend(common::encode_str(&["RPUSH", &key, "v"]));
                    batch.extend(common::encode_str(&["LPOP", &key]));
                }
                c.send(&batch);
                (0..2 * LOAD_PAIRS).for_each(|_| drop(c.read_reply()));
            })
        })
        .collect();
    let timed: Vec<_> = (0..TIMED_CLIENTS)
        .map(|n| {
            let mut c = server.raw();
            thread::spawn(move || {
                let timeout = TIMED_FIRST + TIMED_STEP * n as u32;
                let secs = format!("{:.3}", timeout.as_secs_f64());
                let key = format!("timed:{n}");
                let started = Instant::now();
                let reply = c.cmd_raw(&[b"BLPOP", key.as_bytes(), secs.as_bytes()]);
                (reply, timeout, started.elapsed())
            })
        })
        .collect();
    let answers: Vec<_> = timed.into_iter().map(|t| t.join().unwrap()).collect();
    stop.store(true, Ordering::Relaxed);
    let rounds: u64 = load.into_iter().map(|l| l.join().unwrap()).sum();
    assert!(rounds > 0, "the load ran");
    for (reply, timeout, took) in answers {
        assert_eq!(reply, b"*-1\r\n");
        assert!(
            took + TIMEOUT_EARLY_MAX >= timeout,
            "answered after {took:?}, timeout {timeout:?}"
        );
        assert!(
            took < timeout + TIMEOUT_LATE_MAX,
            "answered after {took:?}, timeout {timeout:?}"
        );
    }
}

#[test]
fn client_unblock_and_kill_release_blocked_clients() {
    let server = Server::with_shards(4, &[]);
    let mut c = server.raw();
    let mut waiting = send(&server, &["CLIENT", "ID"]);
    let id = read(&mut waiting);
    let id = id.trim_start_matches(':').trim();
    waiting.send(&common::encode_str(&["BLPOP", "k", "0"]));
    wait_blocked(server.port(), 1);
    assert_eq!(c.cmd(&["CLIENT", "UNBLOCK", id, "TIMEOUT"]), "1");
    assert_eq!(read(&mut waiting), "*-1\r\n");
    waiting.send(&common::encode_str(&["BLPOP", "k", "0"]));
    wait_blocked(server.port(), 1);
    assert_eq!(c.cmd(&["CLIENT", "UNBLOCK", id, "ERROR"]), "1");
    assert_eq!(
        read(&mut waiting),
        "-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"
    );
    assert_eq!(c.cmd(&["CLIENT", "UNBLOCK", id]), "0");
    assert_eq!(
        c.cmd(&["CLIENT", "UNBLOCK", id, "NOW"]),
        "-ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"
    );
    waiting.send(&common::encode_str(&["BLPOP", "k", "0"]));
    wait_blocked(server.port(), 1);
    assert_eq!(c.cmd(&["CLIENT", "KILL", "ID", id]), "1");
    wait_blocked(server.port(), 0);
    assert_eq!(c.cmd(&["RPUSH", "k", "kept"]), "1");
    thread::sleep(BLOCK_SETTLE);
    assert_eq!(c.cmd(&["LRANGE", "k", "0", "-1"]), "[kept]");
    // A client that disconnects mid-wait leaves the queue without taking an element.
    let gone = send(&server, &["BLPOP", "k2", "0"]);
    wait_blocked(server.port(), 1);
    drop(gone);
    wait_blocked(server.port(), 0);
    assert_eq!(c.cmd(&["RPUSH", "k2", "kept"]), "1");
    thread::sleep(BLOCK_SETTLE);
    assert_eq!(c.cmd(&["LRANGE", "k2", "0", "-1"]), "[kept]");
}

/// Rounds of a blocked client disconnecting with a push right behind.
const DISCONNECT_ROUNDS: usize = 50;
/// Between a blocked client's close and the push: time for the kernel to take
/// the close (a loaded machine may leave it to `ksoftirqd`, after a push sent
/// from the other CPU) and for the core to reap it, well short of the 100 ms
/// after which the client itself looks at its connection and leaves the queue.
const CLOSE_SETTLE: Duration = Duration::from_millis(20);

/// A client that disconnects while blocked takes no element pushed right after it
/// closed, before it left the queue itself: the shard about to pop for it sees
/// the close (the io_uring driver marks the peer closed as it reaps the close;
/// the glommio driver's connections are peeked at).
#[test]
fn a_push_right_behind_a_blocked_client_closing_stays_in_the_list() {
    let server = Server::with_shards(1, &[]);
    let mut c = server.raw();
    for round in 0..DISCONNECT_ROUNDS {
        let gone = send(&server, &["BLPOP", "k", "0"]);
        wait_blocked(server.port(), 1);
        drop(gone);
        thread::sleep(CLOSE_SETTLE);
        assert_eq!(c.cmd(&["RPUSH", "k", "kept"]), "1");
        assert_eq!(
            c.cmd(&["LRANGE", "k", "0", "-1"]),
            "[kept]",
            "round {round}: the closed client took the element"
        );
        assert_eq!(c.cmd(&["DEL", "k"]), "1");
        wait_blocked(server.port(), 0);
    }
}

/// Consumers blocked on keys spread over the shards, and producers.
const CONSUMERS: usize = 50;
const PRODUCERS: usize = 8;
const ELEMENTS_PER_PRODUCER: usize = 1250;
const KEYS: usize = 6;
/// How long the consumers get to empty the lists once the producers are done.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// `producer:index` of a pushed element.
fn producer_and_index(element: &str) -> (usize, usize) {
    let (p, i) = element.split_once(':').expect("producer:index");
    (p.parse().expect("producer"), i.parse().expect("index"))
}

/// 50 consumers blocked on six keys spread over four shards (half `BLPOP`, half
/// `BRPOP`), 8 producers pushing 10,000 elements to the keys in turn: every element
/// is popped exactly once, and each `BLPOP` consumer gets the elements one producer
/// pushed to one key in the order they were pushed (per-key FIFO).
#[test]
fn every_pushed_element_is_popped_exactly_once() {
    let server = Server::with_shards(4, &[]);
    let total = PRODUCERS * ELEMENTS_PER_PRODUCER;
    let keys: Vec<String> = (0..KEYS).map(|k| format!("job:{k}")).collect();
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|i| {
            let mut con = server.client();
            let keys = keys.clone();
            let head = i % 2 == 0;
            thread::spawn(move || {
                let mut got = Vec::new();
                loop {
                    let mut cmd = redis::cmd(if head { "BLPOP" } else { "BRPOP" });
                    keys.iter().for_each(|k| {
                        cmd.arg(k);
                    });
                    let popped: Option<(String, String)> = cmd.arg(1).query(&mut con).unwrap();
                    match popped {
                        Some((_, v)) if v == "stop" => return (head, got),
                        Some(popped) => got.push(popped),
                        None => {}
                    }
                }
            })
        })
        .collect();
    wait_blocked(server.port(), CONSUMERS as u64);
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let mut con = server.client();
            let keys = keys.clone();
            thread::spawn(move || {
                for i in 0..ELEMENTS_PER_PRODUCER {
                    let key = &keys[(i * 7 + p) % keys.len()];
                    let _: i64 = redis::cmd("RPUSH")
                        .arg(key)
                        .arg(format!("{p}:{i}"))
                        .query(&mut con)
                        .unwrap();
                }
            })
        })
        .collect();
    producers.into_iter().for_each(|p| p.join().unwrap());
    let mut c = server.client();
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    while redis::cmd("EXISTS")
        .arg(&keys)
        .query::<i64>(&mut c)
        .unwrap()
        > 0
    {
        assert!(Instant::now() < deadline, "the consumers stopped popping");
        thread::sleep(Duration::from_millis(10));
    }
    for _ in 0..CONSUMERS {
        let _: i64 = redis::cmd("RPUSH")
            .arg(&keys[0])
            .arg("stop")
            .query(&mut c)
            .unwrap();
    }
    let mut seen = BTreeSet::new();
    for consumer in consumers {
        let (head, got) = consumer.join().unwrap();
        let mut last: std::collections::HashMap<(String, usize), usize> = Default::default();
        for (key, v) in got {
            let (p, i) = producer_and_index(&v);
            if head {
                if let Some(before) = last.insert((key.clone(), p), i) {
                    assert!(before < i, "{key}: {p}:{i} popped after {p}:{before}");
                }
            }
            assert!(seen.insert(v.clone()), "{v} popped twice");
        }
    }
    assert_eq!(seen.len(), total, "every element popped once");
}

/// redis-py workers (`blpop`, and `brpoplpush` into a processing list) and producers
/// on keys over four shards (`tests/py/test_blocking.py`): every job done once.
#[test]
fn redis_py_job_queue_does_every_job_once() {
    let server = Server::with_shards(4, &[]);
    common::python::run_script("test_blocking.py", &server);
}

/// Kill cycles of the crash test, and when in a cycle the kill comes.
const CRASH_CYCLES: usize = 4;
const KILL_AFTER: Duration = Duration::from_millis(300);
const CRASH_QUEUES: [&str; 4] = ["q:a", "q:b", "q:c", "q:d"];
const CRASH_PRODUCERS: usize = 2;
const CRASH_CONSUMERS: usize = 2;

/// Runs `step` until it fails; a failure after `killed` ends the run, one before it
/// fails the test. Returns what the acknowledged steps gave.
fn until_killed(
    killed: Arc<AtomicBool>,
    mut step: impl FnMut(u64) -> redis::RedisResult<Option<String>> + Send + 'static,
) -> thread::JoinHandle<Vec<String>> {
    thread::spawn(move || {
        let mut acked = Vec::new();
        for i in 0.. {
            match step(i) {
                Ok(got) => acked.extend(got),
                Err(_) if killed.load(Ordering::SeqCst) => break,
                Err(e) => panic!("before the kill: {e}"),
            }
        }
        acked
    })
}

/// With `appendfsync always` on four shards, a server killed while producers push
/// and consumers pop with `BLPOP` restarts with every acknowledged push either
/// received or still queued, and no received element queued again or received twice;
/// only a pop in flight at the kill (one per consumer) may take an element nobody
/// received.
#[test]
fn sigkill_loses_no_acknowledged_push_or_pop() {
    let dir = DataDir::new("blocking-crash");
    let args = ["--shards", "4", "--appendfsync", "always"];
    let mut server = start_in(&dir, &args);
    let port = server.port();
    let (mut pushed, mut received) = (Vec::new(), Vec::new());
    for cycle in 0..CRASH_CYCLES {
        let killed = Arc::new(AtomicBool::new(false));
        let producers: Vec<_> = (0..CRASH_PRODUCERS)
            .map(|p| {
                let mut con = server.client();
                until_killed(killed.clone(), move |i| {
                    let item = format!("{cycle}:{p}:{i}");
                    let queue = CRASH_QUEUES[i as usize % CRASH_QUEUES.len()];
                    redis::cmd("RPUSH")
                        .arg(queue)
                        .arg(&item)
                        .query::<i64>(&mut con)
                        .map(|_| Some(item))
                })
            })
            .collect();
        let consumers: Vec<_> = (0..CRASH_CONSUMERS)
            .map(|_| {
                let mut con = server.client();
                until_killed(killed.clone(), move |_| {
                    redis::cmd("BLPOP")
                        .arg(&CRASH_QUEUES[..])
                        .arg(1)
                        .query::<Option<(String, String)>>(&mut con)
                        .map(|got| got.map(|(_, item)| item))
                })
            })
            .collect();
        thread::sleep(KILL_AFTER);
        killed.store(true, Ordering::SeqCst);
        server.signal(libc::SIGKILL);
        server
            .wait_exit(common::EXIT_TIMEOUT)
            .expect("exits on SIGKILL");
        producers
            .into_iter()
            .for_each(|t| pushed.extend(t.join().expect("producer")));
        consumers
            .into_iter()
            .for_each(|t| received.extend(t.join().expect("consumer")));
        server = restart_in(port, &dir, &args);
    }
    let mut con = server.raw();
    let mut queued = Vec::new();
    for queue in CRASH_QUEUES {
        queued.extend(items(&con.cmd(&["LRANGE", queue, "0", "-1"])));
    }
    let received_set: BTreeSet<&String> = received.iter().collect();
    assert_eq!(
        received_set.len(),
        received.len(),
        "an element received twice"
    );
    for item in &queued {
        assert!(
            !received_set.contains(item),
            "{item} received, then queued again"
        );
    }
    let queued_set: BTreeSet<&String> = queued.iter().collect();
    let lost: Vec<&String> = pushed
        .iter()
        .filter(|i| !received_set.contains(i) && !queued_set.contains(i))
        .collect();
    assert!(
        lost.len() <= CRASH_CYCLES * CRASH_CONSUMERS,
        "acknowledged pushes neither received nor queued: {lost:?}"
    );
    assert!(
        pushed.len() > CRASH_CYCLES && !received.is_empty(),
        "the run made progress: {} pushed, {} received",
        pushed.len(),
        received.len()
    );
}

/// The `timeout` parameter closes an idle client, but, as in Redis, not one waiting
/// in a blocking command (shown with flag `b` in `CLIENT LIST`) nor a subscriber.
#[test]
fn idle_timeout_spares_blocked_clients_and_subscribers() {
    let server = Server::with_shards(2, &["--timeout", "1"]);
    let mut idle = server.raw();
    assert_eq!(idle.cmd(&["PING"]), "PONG");
    let mut waiting = send(&server, &["BLPOP", "idle:list", "0"]);
    let mut listener = server.raw();
    assert_eq!(
        listener.cmd(&["SUBSCRIBE", "idle:ch"]),
        "[subscribe, idle:ch, 1]"
    );
    wait_blocked(server.port(), 1);
    let list = server.raw().cmd(&["CLIENT", "LIST"]);
    assert!(
        list.lines()
            .any(|l| l.contains("flags=b ") && l.contains("cmd=blpop")),
        "{list}"
    );
    assert!(idle.read_to_eof().is_empty(), "the idle client is closed");
    thread::sleep(Duration::from_millis(1500));
    let mut other = server.raw();
    assert_eq!(other.cmd(&["RPUSH", "idle:list", "x"]), "1");
    assert_eq!(read(&mut waiting), "*2\r\n$9\r\nidle:list\r\n$1\r\nx\r\n");
    assert_eq!(other.cmd(&["PUBLISH", "idle:ch", "m"]), "1");
    assert_eq!(
        common::render(&listener.read_reply()),
        "[message, idle:ch, m]"
    );
}

/// What clients blocked in `BZPOPMIN`, `BZPOPMAX` and `BZMPOP` on two keys get when
/// one `ZADD` arrives, and what an immediate pop and a timeout answer: the raw
/// replies, in order.
fn sorted_set_pops(port: u16, resp3: bool) -> Vec<Vec<u8>> {
    let connect = || match resp3 {
        true => Raw::connect_resp3(port),
        false => Raw::connect(port),
    };
    let mut c = connect();
    c.cmd(&["DEL", "zq:1", "zq:2"]);
    let blocked: Vec<Raw> = [
        &["BZPOPMIN", "zq:1", "zq:2", "0"][..],
        &["BZMPOP", "0", "2", "zq:1", "zq:2", "MAX", "COUNT", "2"],
        &["BZPOPMAX", "zq:2", "0"],
    ]
    .into_iter()
    .map(|args| {
        let mut b = connect();
        b.send(&common::encode_str(args));
        thread::sleep(BLOCK_SETTLE);
        b
    })
    .collect();
    c.cmd(&["ZADD", "zq:2", "1", "a", "2.5", "b", "3", "c", "4", "d"]);
    let mut replies: Vec<Vec<u8>> = blocked.into_iter().map(|mut b| b.read_reply()).collect();
    c.cmd(&["ZADD", "zq:1", "-inf", "x"]);
    replies.push(c.cmd_raw(&[b"BZPOPMIN", b"zq:2", b"zq:1", b"0"]));
    replies.push(c.cmd_raw(&[b"BZPOPMIN", b"zq:1", b"0.01"]));
    replies.push(c.cmd_raw(&[b"BZMPOP", b"0.01", b"1", b"zq:1", b"MIN"]));
    replies
}

/// The blocking sorted-set pops answer as Redis 7.0's, byte for byte, on one and on
/// four shards, in RESP2 and RESP3.
#[test]
fn sorted_set_blocking_pops_match_redis() {
    let redis = common::Redis::start();
    for resp3 in [false, true] {
        let expected = sorted_set_pops(redis.port, resp3);
        for shards in SHARD_COUNTS {
            let server = Server::with_shards(shards, &[]);
            assert_eq!(
                sorted_set_pops(server.port(), resp3),
                expected,
                "{shards} shards, resp3 {resp3}"
            );
        }
    }
}
