//! Redis's `FAILOVER` command between two corekv servers: its replies and errors as
//! redis-server 7.0.15 gives them, `INFO replication`'s `master_failover_state`, a
//! handover under write load that loses no answered write and resyncs partially,
//! `FAILOVER ABORT` / a `TIMEOUT` that give the master its writes back, and
//! `FORCE`, which promotes the named replica past the timeout although it had not
//! caught up (the old master then drops the write the new one never had).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::sentinel::{in_sync, poll_until, repl_field, report};
use common::{info_value, shard_of, Server};

/// Shards of every server here.
const SHARDS: usize = 2;
/// How long replication and the handover get.
const SYNC_TIMEOUT: Duration = Duration::from_secs(15);
/// Writes answered before the handover starts.
const WRITES_BEFORE: usize = 200;
/// `FAILOVER TIMEOUT` of the test where the replica cannot catch up.
const SHORT_TIMEOUT_MS: &str = "300";
/// `FAILOVER ... FORCE TIMEOUT` of the test where the replica is promoted anyway:
/// long enough to see the failover waiting first.
const FORCE_TIMEOUT_MS: &str = "1000";

fn start_pair() -> (Server, Server) {
    start_pair_with(&[])
}

/// A master and its replica in sync; the replica also gets `replica_args`.
fn start_pair_with(replica_args: &[&str]) -> (Server, Server) {
    let shards = SHARDS.to_string();
    let master = Server::start(&["--shards", &shards]);
    let of = format!("127.0.0.1 {}", master.port());
    let mut args = vec!["--shards", &shards, "--replicaof", &of];
    args.extend_from_slice(replica_args);
    let replica = Server::start(&args);
    let (m, r) = (master.port(), replica.port());
    poll_until(
        "the replica in sync",
        SYNC_TIMEOUT,
        || report(&[&master, &replica], &[]),
        || in_sync(m, r),
    );
    (master, replica)
}

fn state(server: &Server) -> String {
    repl_field(server.port(), "master_failover_state").unwrap_or_default()
}

#[test]
fn failover_errors_match_redis() {
    let alone = Server::with_shards(SHARDS, &[]);
    let mut raw = alone.raw();
    assert_eq!(
        raw.cmd(&["FAILOVER"]),
        "-ERR FAILOVER requires connected replicas."
    );
    assert_eq!(state(&alone), "no-failover");
    drop(raw);

    let (master, replica) = start_pair();
    let mut m = master.raw();
    let rport = replica.port().to_string();
    for (args, reply) in [
        (vec!["FAILOVER", "ABORT"], "-ERR No failover in progress."),
        (vec!["FAILOVER", "TO"], "-ERR syntax error"),
        (vec!["FAILOVER", "TO", "127.0.0.1"], "-ERR syntax error"),
        (
            vec!["FAILOVER", "ABORT", "TIMEOUT", "10"],
            "-ERR syntax error",
        ),
        (vec!["FAILOVER", "BOGUS"], "-ERR syntax error"),
        (
            vec!["FAILOVER", "FORCE"],
            "-ERR FAILOVER with force option requires both a timeout and target HOST and IP.",
        ),
        (
            vec!["FAILOVER", "TO", "127.0.0.1", &rport, "FORCE"],
            "-ERR FAILOVER with force option requires both a timeout and target HOST and IP.",
        ),
        (
            vec!["FAILOVER", "TIMEOUT", "0"],
            "-ERR FAILOVER timeout must be greater than 0",
        ),
        (
            vec!["FAILOVER", "TIMEOUT", "-1"],
            "-ERR FAILOVER timeout must be greater than 0",
        ),
        (
            vec!["FAILOVER", "TIMEOUT", "x"],
            "-ERR value is not an integer or out of range",
        ),
        (
            vec!["FAILOVER", "TO", "127.0.0.1", "x"],
            "-ERR value is not an integer or out of range",
        ),
        (
            vec!["FAILOVER", "TO", "127.0.0.1", "1"],
            "-ERR FAILOVER target HOST and PORT is not a replica.",
        ),
    ] {
        assert_eq!(m.cmd(&args), reply, "{args:?}");
    }
    assert_eq!(
        replica.raw().cmd(&["FAILOVER"]),
        "-ERR FAILOVER is not valid when server is a replica."
    );
    assert_eq!(state(&master), "no-failover");
}

#[test]
fn failover_hands_over_under_writes_without_losing_one() {
    let (master, replica) = start_pair();
    let (m, r) = (master.port(), replica.port());
    let mut con = master.client();
    for i in 0..WRITES_BEFORE {
        let _: () = redis::cmd("SET")
            .arg(format!("before:{i}"))
            .arg(i)
            .query(&mut con)
            .expect("SET");
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let mut con = master.client();
        std::thread::spawn(move || {
            let mut answered = Vec::new();
            let mut refused = 0;
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) && refused == 0 {
                let key = format!("during:{i}");
                match redis::cmd("SET").arg(&key).arg(i).query::<()>(&mut con) {
                    Ok(()) => answered.push(key),
                    Err(e) => {
                        assert_eq!(e.kind(), redis::ErrorKind::ReadOnly, "{e}");
                        refused += 1;
                    }
                }
                i += 1;
            }
            (answered, refused)
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    let rport = r.to_string();
    assert_eq!(
        master
            .raw()
            .cmd(&["FAILOVER", "TO", "127.0.0.1", &rport, "TIMEOUT", "5000"]),
        "OK"
    );
    assert_eq!(
        master.raw().cmd(&["FAILOVER"]),
        "-ERR FAILOVER already in progress.",
        "{}",
        report(&[&master, &replica], &[])
    );
    poll_until(
        "the roles swapped",
        SYNC_TIMEOUT,
        || report(&[&master, &replica], &[]),
        || {
            repl_field(r, "role").as_deref() == Some("master")
                && repl_field(m, "role").as_deref() == Some("slave")
                && in_sync(r, m)
        },
    );
    stop.store(true, Ordering::Relaxed);
    let (answered, refused) = writer.join().expect("writer");
    assert_eq!(refused, 1, "the held write is refused once roles swapped");
    assert!(!answered.is_empty(), "writes were answered during the test");
    assert_eq!(state(&master), "no-failover");
    assert_eq!(state(&replica), "no-failover");

    let mut new_master = replica.client();
    let keys: Vec<String> = (0..WRITES_BEFORE)
        .map(|i| format!("before:{i}"))
        .chain(answered)
        .collect();
    let values: Vec<Option<String>> = redis::cmd("MGET")
        .arg(&keys)
        .query(&mut new_master)
        .expect("MGET");
    let lost: Vec<&String> = keys
        .iter()
        .zip(&values)
        .filter(|(_, v)| v.is_none())
        .map(|(k, _)| k)
        .collect();
    assert!(lost.is_empty(), "answered writes lost: {lost:?}");

    let stats = common::sentinel::info_of(r, "stats").expect("INFO stats");
    assert_eq!(
        info_value(&stats, "sync_full").as_deref(),
        Some("0"),
        "the old master resynced partially: {stats}"
    );
    let _: () = redis::cmd("SET")
        .arg("after")
        .arg(1)
        .query(&mut new_master)
        .expect("the new master takes writes");
}

#[test]
fn abort_and_timeout_give_the_master_its_writes_back() {
    let (master, replica) = start_pair();
    // A stopped replica acknowledges nothing: the failover waits for it.
    replica.signal(libc::SIGSTOP);
    let mut m = master.raw();
    assert_eq!(m.cmd(&["SET", "k", "1"]), "OK");
    assert_eq!(m.cmd(&["FAILOVER"]), "OK");
    assert_eq!(state(&master), "waiting-for-sync");
    let mut held = master.raw();
    held.send(&common::encode_str(&["SET", "k", "2"]));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(m.cmd(&["GET", "k"]), "1", "the write is held, reads go on");
    assert_eq!(m.cmd(&["FAILOVER", "ABORT"]), "OK");
    assert_eq!(common::render(&held.read_reply()), "OK");
    poll_until(
        "the failover ended",
        SYNC_TIMEOUT,
        || report(&[&master], &[]),
        || state(&master) == "no-failover",
    );
    assert!(master.log_text().contains("Failover manually aborted"));

    let rport = replica.port().to_string();
    let to = ["FAILOVER", "TO", "127.0.0.1", &rport, "TIMEOUT"];
    assert_eq!(
        m.cmd(&[&to[..], &[SHORT_TIMEOUT_MS]].concat()),
        "OK",
        "{}",
        report(&[&master], &[])
    );
    poll_until(
        "the failover timed out",
        SYNC_TIMEOUT,
        || report(&[&master], &[]),
        || state(&master) == "no-failover",
    );
    assert!(master
        .log_text()
        .contains("aborted: Replica never caught up before timeout"));
    assert_eq!(m.cmd(&["SET", "k", "3"]), "OK");
    assert_eq!(repl_field(master.port(), "role").as_deref(), Some("master"));
    replica.signal(libc::SIGCONT);
}

#[test]
fn force_promotes_the_replica_past_the_timeout_although_it_lags() {
    let (master, replica) = start_pair_with(&["--enable-debug-command", "yes"]);
    let (m, r) = (master.port(), replica.port());
    let both = || report(&[&master, &replica], &[]);
    let key_on = |shard: usize, prefix: &str| {
        (0..)
            .map(|i| format!("{prefix}:{i}"))
            .find(|k| shard_of(k, SHARDS) == shard)
            .expect("a key on every shard")
    };
    let (kept, unacked) = (key_on(1, "kept"), key_on(0, "unacked"));
    let mut con = master.raw();
    assert_eq!(con.cmd(&["SET", &kept, "1"]), "OK");
    assert_eq!(con.cmd(&["WAIT", "1", "5000"]), "1");
    // The replica stops applying shard 0: it never acknowledges this write.
    assert_eq!(replica.raw().cmd(&["DEBUG", "REPL-HOLD", "0", "yes"]), "OK");
    assert_eq!(con.cmd(&["SET", &unacked, "1"]), "OK");
    let rport = r.to_string();
    let force = ["FAILOVER", "TO", "127.0.0.1", &rport, "FORCE", "TIMEOUT"];
    assert_eq!(con.cmd(&[&force[..], &[FORCE_TIMEOUT_MS]].concat()), "OK");
    assert_eq!(state(&master), "waiting-for-sync");
    assert_eq!(con.cmd(&["FAILOVER"]), "-ERR FAILOVER already in progress.");
    poll_until(
        "the roles swapped past the timeout",
        SYNC_TIMEOUT,
        both,
        || {
            repl_field(r, "role").as_deref() == Some("master")
                && repl_field(m, "role").as_deref() == Some("slave")
                && in_sync(r, m)
        },
    );
    assert_eq!(state(&master), "no-failover");
    let line = format!("FAILOVER to 127.0.0.1:{r} time out exceeded, failing over.");
    assert!(master.log_text().contains(&line), "{}", both());
    let mut new_master = replica.raw();
    assert_eq!(new_master.cmd(&["GET", &kept]), "1");
    assert_eq!(
        new_master.cmd(&["GET", &unacked]),
        "(nil)",
        "the replica was promoted before it applied the write"
    );
    // The old master held a write the new one lacks on shard 0: it resyncs that
    // shard in full (dropping the write), the other partially.
    let stats = common::sentinel::info_of(r, "stats").expect("INFO stats");
    assert_eq!(
        info_value(&stats, "sync_full").as_deref(),
        Some("1"),
        "{stats}"
    );
    assert_eq!(new_master.cmd(&["SET", "after", "1"]), "OK");
}
