//! Client output buffers: `client-output-buffer-limit` (configuration, the closing of a
//! client over its limit, a replica link over the `replica` limit), the pending output
//! `CLIENT LIST` shows, the small output of a client that has not authenticated, and
//! the canned-reply session.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{encode_str, info_value, Server};

/// Redis 7.0's defaults as `CONFIG GET` prints them.
const DEFAULT_LIMITS: &str = "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60";
/// What the server logs when it closes a client over its limit (Redis's text).
const OVER_LIMIT_LOG: &str = "scheduled to be closed ASAP for overcoming of output buffer limits.";
/// How long a client over its limit may take to be closed.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a replica may take to come back in sync.
const SYNC_TIMEOUT: Duration = Duration::from_secs(60);
const POLL_INTERVAL: Duration = Duration::from_millis(20);
const MIB: u64 = 1 << 20;

fn config_get(server: &Server) -> String {
    let mut raw = server.raw();
    raw.cmd(&["CONFIG", "GET", "client-output-buffer-limit"])
}

/// A connection that sends `GET key` `count` times and never reads the replies;
/// the sending thread ends when everything is sent or the server closes it, and
/// returns the connection, still unread.
fn non_reading_getter(server: &Server, key: &str, count: usize) -> JoinHandle<TcpStream> {
    let mut stream = TcpStream::connect(("127.0.0.1", server.port())).expect("connect");
    let one = encode_str(&["GET", key]);
    std::thread::spawn(move || {
        let batch: Vec<u8> = one.repeat(1000);
        for _ in 0..count / 1000 {
            if stream.write_all(&batch).is_err() {
                break;
            }
        }
        stream
    })
}

fn set_value(server: &Server, key: &str, bytes: usize) {
    let mut con = server.client();
    let _: () = redis::cmd("SET")
        .arg(key)
        .arg(vec![b'v'; bytes])
        .query(&mut con)
        .expect("SET");
}

/// Polls until `cond` holds, tracking the server's largest RSS meanwhile; returns it.
fn wait_tracking_rss(server: &Server, what: &str, mut cond: impl FnMut() -> bool) -> u64 {
    let deadline = Instant::now() + CLOSE_TIMEOUT;
    let mut peak = server.rss_kib();
    while !cond() {
        peak = peak.max(server.rss_kib());
        assert!(
            Instant::now() < deadline,
            "{what}: not within {CLOSE_TIMEOUT:?}\n{}",
            server.log_text()
        );
        std::thread::sleep(POLL_INTERVAL);
    }
    peak.max(server.rss_kib())
}

fn over_limit_closes(server: &Server) -> usize {
    server.log_text().matches(OVER_LIMIT_LOG).count()
}

#[test]
fn limits_round_trip_through_config_set_and_get_with_redis_texts() {
    let server = Server::start(&[]);
    assert_eq!(
        config_get(&server),
        format!("[client-output-buffer-limit, {DEFAULT_LIMITS}]")
    );
    let mut raw = server.raw();
    let set = |raw: &mut common::Raw, v: &str| {
        raw.cmd(&["CONFIG", "SET", "client-output-buffer-limit", v])
    };
    assert_eq!(set(&mut raw, "normal 64mb 0 0"), "OK");
    assert_eq!(set(&mut raw, "replica 1gb 512mb 120 pubsub 0 0 0"), "OK");
    assert_eq!(
        config_get(&server),
        "[client-output-buffer-limit, normal 67108864 0 0 slave 1073741824 536870912 120 pubsub 0 0 0]"
    );
    let failed =
        "-ERR CONFIG SET failed (possibly related to argument 'client-output-buffer-limit') - ";
    assert_eq!(
        set(&mut raw, "normal 1 2"),
        format!("{failed}Wrong number of arguments in buffer limit configuration.")
    );
    assert_eq!(
        set(&mut raw, "master 0 0 0"),
        format!("{failed}Invalid client class specified in buffer limit configuration.")
    );
    assert_eq!(
        set(&mut raw, "normal 0 0 0 pubsub 1 lots 0"),
        format!(
            "{failed}Error in hard, soft or soft_seconds setting in buffer limit configuration."
        )
    );
    // A refused value changes nothing, not even its valid classes.
    assert!(config_get(&server).contains("normal 67108864 0 0 "));

    // The config file (one class per line, as redis.conf has them) and flags.
    let dir = common::unique_dir("obl-conf");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("corekv.conf");
    std::fs::write(
        &file,
        "client-output-buffer-limit normal 1mb 512kb 10\nclient-output-buffer-limit slave 0 0 0\n",
    )
    .unwrap();
    let from_file = Server::start(&[
        file.to_str().unwrap(),
        "--client-output-buffer-limit",
        "pubsub 2mb 1mb 5",
    ]);
    assert_eq!(
        config_get(&from_file),
        "[client-output-buffer-limit, normal 1048576 524288 10 slave 0 0 0 pubsub 2097152 1048576 5]"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn client_list_shows_pending_output() {
    let server = Server::with_shards(1, &[]);
    set_value(&server, "big", MIB as usize);
    let getter = non_reading_getter(&server, "big", 1000);
    let mut raw = server.raw();
    let deadline = Instant::now() + CLOSE_TIMEOUT;
    let (omem, tot_mem) = loop {
        let list = raw.cmd(&["CLIENT", "LIST"]);
        let line = list
            .lines()
            .find(|l| l.contains("cmd=get"))
            .map(str::to_string);
        let field = |name: &str| -> u64 {
            let line = line.as_deref().unwrap_or("");
            line.split(' ')
                .find_map(|f| f.strip_prefix(name)?.strip_prefix('='))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        if field("omem") > 10 * MIB {
            break (field("omem"), field("tot-mem"));
        }
        assert!(Instant::now() < deadline, "no pending output in:\n{list}");
        std::thread::sleep(POLL_INTERVAL);
    };
    assert!(tot_mem >= omem, "tot-mem {tot_mem} < omem {omem}");
    let own = raw.cmd(&["CLIENT", "INFO"]);
    assert!(
        own.contains(" omem=0 ") && own.contains(" tot-mem="),
        "{own}"
    );
    raw.cmd(&["CLIENT", "KILL", "SKIPME", "yes"]);
    getter.join().unwrap();
}

#[test]
fn non_reading_client_is_closed_at_the_limit_with_bounded_memory() {
    let server = Server::with_shards(2, &["--client-output-buffer-limit", "normal 64mb 0 0"]);
    set_value(&server, "big", MIB as usize);
    let before = server.rss_kib();
    // 4 GiB of replies if nothing stopped it.
    let getter = non_reading_getter(&server, "big", 4000);
    let peak = wait_tracking_rss(&server, "the non-reading client closed", || {
        over_limit_closes(&server) == 1
    });
    getter.join().unwrap();
    let grown_mib = (peak.saturating_sub(before)) / 1024;
    println!("one non-reading client: RSS grew by {grown_mib} MiB at most");
    assert!(grown_mib < 200, "RSS grew by {grown_mib} MiB");
    let line = server
        .log_text()
        .lines()
        .find(|l| l.contains(OVER_LIMIT_LOG))
        .unwrap()
        .to_string();
    assert!(
        line.contains("Client id=") && line.contains("cmd=get"),
        "{line}"
    );
    assert_eq!(server.raw().cmd(&["PING"]), "PONG");
}

#[test]
fn ten_non_reading_clients_stay_bounded() {
    let server = Server::with_shards(2, &["--client-output-buffer-limit", "normal 16mb 0 0"]);
    set_value(&server, "v", 100 * 1024);
    let before = server.rss_kib();
    let getters: Vec<_> = (0..10)
        .map(|_| non_reading_getter(&server, "v", 10_000))
        .collect();
    let peak = wait_tracking_rss(&server, "all ten clients closed", || {
        over_limit_closes(&server) == 10
    });
    for g in getters {
        g.join().unwrap();
    }
    let grown_mib = (peak.saturating_sub(before)) / 1024;
    println!("ten non-reading clients: RSS grew by {grown_mib} MiB at most");
    assert!(
        grown_mib < 250,
        "RSS grew by {grown_mib} MiB for 10 clients"
    );
}

#[test]
fn unauthenticated_client_is_owed_little_whatever_it_sends() {
    let server = Server::with_shards(1, &["--requirepass", "secret"]);
    // 2,000,000 refused requests: ~70 MB of NOAUTH errors if all were kept.
    let mut stream = TcpStream::connect(("127.0.0.1", server.port())).expect("connect");
    let sender = std::thread::spawn(move || {
        let batch = encode_str(&["GET", "k"]).repeat(10_000);
        for _ in 0..200 {
            if stream.write_all(&batch).is_err() {
                return;
            }
        }
    });
    let mut admin = server.raw();
    assert_eq!(admin.cmd(&["AUTH", "secret"]), "OK");
    std::thread::sleep(Duration::from_secs(2));
    let list = admin.cmd(&["CLIENT", "LIST"]);
    let omem: u64 = list
        .lines()
        .find(|l| l.contains("cmd=NULL") || l.contains("cmd=get"))
        .and_then(|l| {
            l.split(' ')
                .find_map(|f| f.strip_prefix("omem=")?.parse().ok())
        })
        .unwrap_or_else(|| panic!("no unauthenticated client in:\n{list}"));
    assert!(
        omem <= 256 * 1024,
        "an unauthenticated client is owed {omem} bytes"
    );
    admin.cmd(&["CLIENT", "KILL", "SKIPME", "yes"]);
    sender.join().unwrap();
}

#[test]
fn canned_reply_session_answers_ok_without_running_anything() {
    // Its `+OK` to the harness's PING is not the `+PONG` `Server::start` waits for.
    let dir = common::unique_dir("canned");
    let port = common::free_port();
    let server = Server::spawn_in(port, &dir, &["--canned-reply"]).expect("spawn");
    let deadline = Instant::now() + CLOSE_TIMEOUT;
    let mut raw = loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break server.raw();
        }
        assert!(Instant::now() < deadline, "not up:\n{}", server.log_text());
        std::thread::sleep(POLL_INTERVAL);
    };
    assert_eq!(raw.cmd(&["SET", "k", "v"]), "OK");
    assert_eq!(raw.cmd(&["GET", "k"]), "OK");
    raw.send(&[encode_str(&["PING"]), encode_str(&["INCR", "n"])].concat());
    assert_eq!(raw.read_reply(), b"+OK\r\n");
    assert_eq!(raw.read_reply(), b"+OK\r\n");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

fn replication_info(server: &Server) -> String {
    let mut con = server.client();
    redis::cmd("INFO")
        .arg("replication")
        .query(&mut con)
        .expect("INFO")
}

#[test]
fn replica_over_its_limit_is_dropped_and_catches_up() {
    const KEYS: usize = 300;
    const VALUE_BYTES: usize = 100 * 1024;
    let master = Server::with_shards(1, &["--client-output-buffer-limit", "replica 3mb 0 0"]);
    let to = format!("127.0.0.1 {}", master.port());
    let replica = Server::with_shards(1, &["--replicaof", &to, "--replica-serve-reads", "yes"]);
    let up =
        || info_value(&replication_info(&replica), "master_link_status").as_deref() == Some("up");
    let deadline = Instant::now() + SYNC_TIMEOUT;
    while !up() {
        assert!(
            Instant::now() < deadline,
            "link not up\n{}",
            replica.log_text()
        );
        std::thread::sleep(POLL_INTERVAL);
    }
    // A replica that does not read while the master writes 30 MB.
    replica.signal(libc::SIGSTOP);
    let mut con = master.client();
    for i in 0..KEYS {
        let _: () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(vec![b'x'; VALUE_BYTES])
            .query(&mut con)
            .expect("SET");
    }
    let deadline = Instant::now() + CLOSE_TIMEOUT;
    while over_limit_closes(&master) == 0 {
        if Instant::now() >= deadline {
            replica.signal(libc::SIGCONT);
            panic!("replica link not dropped\n{}", master.log_text());
        }
        std::thread::sleep(POLL_INTERVAL);
    }
    replica.signal(libc::SIGCONT);
    let line = master
        .log_text()
        .lines()
        .find(|l| l.contains(OVER_LIMIT_LOG))
        .unwrap()
        .to_string();
    assert!(line.contains("flags=S"), "{line}");
    let mut rcon = replica.client();
    let deadline = Instant::now() + SYNC_TIMEOUT;
    loop {
        let size: usize = redis::cmd("DBSIZE").query(&mut rcon).expect("DBSIZE");
        let last: Option<Vec<u8>> = redis::cmd("GET")
            .arg(format!("k{}", KEYS - 1))
            .query(&mut rcon)
            .expect("GET");
        if size == KEYS && last.is_some_and(|v| v.len() == VALUE_BYTES) && up() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "replica did not catch up ({size} keys)\n{}\n{}",
            replication_info(&replica),
            replica.log_text()
        );
        std::thread::sleep(POLL_INTERVAL);
    }
}
