//! Failover with the real `redis-sentinel`: three unmodified sentinels watch a
//! corekv master and its two replicas (two shards each, to keep the test light; the
//! product runs any shard count the same way) over loopback.
//!
//! - Discovery: every sentinel finds both replicas (from the master's `INFO
//!   replication`) and the two other sentinels (hello messages over pub/sub), and
//!   `SENTINEL GET-MASTER-ADDR-BY-NAME` names the master.
//! - `replica-priority 0`: that replica is never promoted.
//! - A master killed with `SIGKILL` under write load: `+sdown`, `+odown`, then
//!   `+switch-master` to a replica within `down-after-milliseconds` + 5 s; the other
//!   replica follows the new master with a partial resync on every shard; a writer
//!   that finds the master through Sentinel writes again; every write acknowledged
//!   by `WAIT 1` before the kill is on the new master. The old master, restarted on
//!   its directory, is turned into a replica by Sentinel and ends with the new
//!   master's data.
//! - The replica promoted after a kill is the one that acknowledged the last
//!   `WAIT 1`, even when the other is further ahead on another shard (made with
//!   `DEBUG REPL-HOLD`, which stops a replica applying one shard).
//! - `SENTINEL FAILOVER` while the master is up, under write load: the roles swap
//!   with no answered write lost; the old master follows the new one at once with a
//!   partial resync on every shard (it took no write the new master lacks).
//! - redis-py's `Sentinel` client (`tests/py/test_sentinel_client.py`):
//!   `master_for('mymaster')` keeps writing across a `SIGKILL` of the master, and
//!   every write it had acknowledged by `WAIT 1` is on the new master.
//! - Without Sentinel: `min-replicas-to-write`/`-max-lag` (`-NOREPLICAS`),
//!   `replica-serve-stale-data no` (`-MASTERDOWN`), `replica-announce-ip`/`-port`,
//!   `replica-priority` and `replica-announced` in `INFO`, and the `slave-*` names.
//!
//! Timings are printed (`--nocapture`) as measured; only the bound on
//! promotion is asserted.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::sentinel::{
    in_sync, poll_until, repl_field, repl_number, report, Sentinel, Watch, MASTER_NAME,
};
use common::{restart_in, shard_of, start_in, DataDir, Server, EXIT_TIMEOUT};

/// Shards of every server here.
const SHARDS: &str = "2";
/// Every server's arguments: replicas answer reads, so any of them can be read
/// from, and take `DEBUG REPL-HOLD`.
const SERVER_ARGS: [&str; 6] = [
    "--shards",
    SHARDS,
    "--replica-serve-reads",
    "yes",
    "--enable-debug-command",
    "yes",
];
/// Writes on the second shard after the acknowledged one on the first, in the test
/// of the replica Sentinel promotes: enough that summed LSNs would rank the
/// replica without the acknowledged write first.
const WRITES_AHEAD: usize = 50;
/// Sentinels, and how many must agree that the master is down.
const SENTINELS: usize = 3;
const QUORUM: u32 = 2;
/// Sentinel's `down-after-milliseconds` and `failover-timeout`.
const DOWN_AFTER_MS: u64 = 1000;
const FAILOVER_TIMEOUT_MS: u64 = 3000;
/// Keys the redis-py client writes before the master is killed under it.
const PY_KILL_AFTER_KEYS: u64 = 300;
/// The bound: a replica is promoted within down-after + this.
const PROMOTION_MARGIN: Duration = Duration::from_secs(5);
/// How long replication or Sentinel's view may take to settle.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Writes the load sends per pipeline, each batch followed by `WAIT 1`.
const LOAD_BATCH: u64 = 20;
/// `WAIT`'s timeout in the load, in milliseconds.
const LOAD_WAIT_MS: u64 = 1000;
/// How long the load's connections wait to connect or for a reply.
const LOAD_IO_TIMEOUT: Duration = Duration::from_millis(500);
/// Pause of the load after a failed batch, before asking Sentinel again.
const LOAD_RETRY_PAUSE: Duration = Duration::from_millis(20);
/// How long the load writes before the master is killed.
const LOAD_BEFORE_KILL: Duration = Duration::from_millis(1500);
/// Batches the load must write after the failover before it is stopped.
const LOAD_AFTER_FAILOVER_BATCHES: u64 = 20;

/// A master with two replicas in sync, and three sentinels that know all of them.
struct Setup {
    master_dir: DataDir,
    master: Server,
    replicas: Vec<Server>,
    sentinels: Vec<Sentinel>,
}

impl Setup {
    /// Starts the servers, the replicas with `replica-priority` `priorities`, and the
    /// sentinels.
    fn start(priorities: [&str; 2]) -> Setup {
        let master_dir = DataDir::new("sentinel-master");
        let master = start_in(&master_dir, &SERVER_ARGS);
        let to = format!("127.0.0.1 {}", master.port());
        let replicas: Vec<Server> = priorities
            .iter()
            .map(|priority| {
                let mut args = SERVER_ARGS.to_vec();
                args.extend(["--replicaof", &to, "--replica-priority", priority]);
                Server::start(&args)
            })
            .collect();
        let mut setup = Setup {
            master_dir,
            master,
            replicas,
            sentinels: Vec::new(),
        };
        for r in &setup.replicas {
            let m = setup.master.port();
            poll_until(
                "replica in sync",
                SETTLE_TIMEOUT,
                || setup.report(),
                || in_sync(m, r.port()),
            );
        }
        let watch = Watch {
            master_port: setup.master.port(),
            quorum: QUORUM,
            down_after_ms: DOWN_AFTER_MS,
            failover_timeout_ms: FAILOVER_TIMEOUT_MS,
        };
        setup.sentinels = (0..SENTINELS).map(|_| Sentinel::start(watch)).collect();
        poll_until(
            "every sentinel knows both replicas and the other sentinels",
            SETTLE_TIMEOUT,
            || setup.report(),
            || {
                setup.sentinels.iter().all(|s| {
                    s.master_field("num-slaves").as_deref() == Some("2")
                        && s.master_field("num-other-sentinels").as_deref() == Some("2")
                })
            },
        );
        setup
    }

    fn report(&self) -> String {
        let mut servers = vec![&self.master];
        servers.extend(self.replicas.iter());
        report(&servers, &self.sentinels)
    }

    fn sentinel_ports(&self) -> Vec<u16> {
        self.sentinels.iter().map(|s| s.port()).collect()
    }
}

/// What the load saw: the writes acknowledged by `WAIT 1`, and when it failed first
/// and wrote again after that.
#[derive(Debug, Default)]
struct LoadReport {
    acked: Vec<u64>,
    /// Writes answered `OK`, acknowledged by a replica or not.
    answered: Vec<u64>,
    first_failure: Option<Instant>,
    back: Option<Instant>,
}

/// A writer that finds the master through Sentinel, as redis-py's `Sentinel` does:
/// on any error it asks a sentinel again and reconnects.
struct Load {
    stop: Arc<AtomicBool>,
    /// Batches written so far (acknowledged or not).
    ok_batches: Arc<AtomicU64>,
    thread: JoinHandle<LoadReport>,
}

impl Load {
    fn start(sentinels: Vec<u16>) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let ok_batches = Arc::new(AtomicU64::new(0));
        let (flag, ok) = (stop.clone(), ok_batches.clone());
        let thread = std::thread::spawn(move || write_through_sentinel(&sentinels, &flag, &ok));
        Load {
            stop,
            ok_batches,
            thread,
        }
    }

    fn stop(self) -> LoadReport {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("load thread")
    }
}

/// The master's port as the sentinel on `port` names it.
fn ask_sentinel(port: u16) -> Option<u16> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).ok()?;
    let mut con = client.get_connection_with_timeout(LOAD_IO_TIMEOUT).ok()?;
    con.set_read_timeout(Some(LOAD_IO_TIMEOUT)).ok()?;
    let addr: Vec<String> = redis::cmd("SENTINEL")
        .arg("GET-MASTER-ADDR-BY-NAME")
        .arg(MASTER_NAME)
        .query(&mut con)
        .ok()?;
    addr.get(1)?.parse().ok()
}

fn connect(port: u16) -> Option<redis::Connection> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).ok()?;
    let con = client.get_connection_with_timeout(LOAD_IO_TIMEOUT).ok()?;
    con.set_read_timeout(Some(Duration::from_millis(LOAD_WAIT_MS) + LOAD_IO_TIMEOUT))
        .ok()?;
    Some(con)
}

fn write_through_sentinel(sentinels: &[u16], stop: &AtomicBool, ok: &AtomicU64) -> LoadReport {
    let mut report = LoadReport::default();
    let mut con: Option<redis::Connection> = None;
    let mut next = 0u64;
    let mut asked = 0usize;
    while !stop.load(Ordering::Relaxed) {
        if con.is_none() {
            asked += 1;
            con = ask_sentinel(sentinels[asked % sentinels.len()]).and_then(connect);
            if con.is_none() {
                report.first_failure.get_or_insert_with(Instant::now);
                std::thread::sleep(LOAD_RETRY_PAUSE);
                continue;
            }
        }
        let first = next;
        next += LOAD_BATCH;
        let mut pipe = redis::pipe();
        for n in first..next {
            pipe.cmd("SET").arg(format!("w:{n}")).arg(n).ignore();
        }
        pipe.cmd("WAIT").arg(1).arg(LOAD_WAIT_MS);
        let result: redis::RedisResult<(i64,)> = pipe.query(con.as_mut().expect("connected"));
        match result {
            Ok((replicas,)) => {
                report.answered.extend(first..next);
                if replicas >= 1 {
                    report.acked.extend(first..next);
                }
                if report.first_failure.is_some() {
                    report.back.get_or_insert_with(Instant::now);
                }
                ok.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                con = None;
                report.first_failure.get_or_insert_with(Instant::now);
                std::thread::sleep(LOAD_RETRY_PAUSE);
            }
        }
    }
    report
}

/// Every `w:` key of the server on `port` and its value.
fn written(port: u16) -> BTreeMap<String, String> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).expect("URL");
    let mut con = client.get_connection().expect("connect");
    let keys: Vec<String> = redis::cmd("KEYS").arg("w:*").query(&mut con).expect("KEYS");
    if keys.is_empty() {
        return BTreeMap::new();
    }
    let values: Vec<String> = redis::cmd("MGET").arg(&keys).query(&mut con).expect("MGET");
    keys.into_iter().zip(values).collect()
}

/// The writes of `ids` that are not on the server on `port`.
fn missing(port: u16, ids: &[u64]) -> Vec<u64> {
    let data = written(port);
    let held = |n: &u64| data.get(&format!("w:{n}")) == Some(&n.to_string());
    ids.iter().copied().filter(|n| !held(n)).collect()
}

fn kill(server: &mut Server) {
    server.signal(libc::SIGKILL);
    server.wait_exit(EXIT_TIMEOUT).expect("exits on SIGKILL");
}

#[test]
fn sentinels_fail_over_a_killed_master_and_turn_it_into_a_replica() {
    // Replica 1 has priority 0: Sentinel never promotes it.
    let mut setup = Setup::start(["100", "0"]);
    let old_port = setup.master.port();
    for s in &setup.sentinels {
        assert_eq!(s.master_port(), Some(old_port), "GET-MASTER-ADDR-BY-NAME");
    }
    let syncs_before: Vec<(u64, u64)> = setup
        .replicas
        .iter()
        .map(|r| {
            (
                repl_number(r.port(), "replica_full_syncs"),
                repl_number(r.port(), "replica_partial_syncs"),
            )
        })
        .collect();
    let events = setup.sentinels[0].events();
    let load = Load::start(setup.sentinel_ports());
    std::thread::sleep(LOAD_BEFORE_KILL);

    kill(&mut setup.master);
    let killed = Instant::now();
    let bound = Duration::from_millis(DOWN_AFTER_MS) + PROMOTION_MARGIN;
    let switched = events.wait_for("+switch-master", bound).unwrap_or_else(|| {
        panic!(
            "no +switch-master within {bound:?}; events:\n{}\n{}",
            events.seen(),
            setup.report()
        )
    });
    let sdown = events.find("+sdown").expect("+sdown before +switch-master");
    let odown = events.find("+odown").expect("+odown before +switch-master");
    assert!(sdown
        .payload
        .starts_with(&format!("master {MASTER_NAME} 127.0.0.1 {old_port}")));
    let new_port: u16 = switched
        .payload
        .split(' ')
        .nth(4)
        .and_then(|p| p.parse().ok())
        .expect("+switch-master <name> <old ip> <old port> <new ip> <new port>");
    assert_eq!(
        setup.replicas[0].port(),
        new_port,
        "the replica of priority 100 is promoted, never the one of priority 0"
    );
    let other = 1;
    assert_eq!(repl_field(new_port, "role").as_deref(), Some("master"));
    for s in &setup.sentinels {
        let port = s.master_port();
        poll_until(
            "every sentinel names the new master",
            SETTLE_TIMEOUT,
            || setup.report(),
            || port == Some(new_port) || s.master_port() == Some(new_port),
        );
    }

    // The other replica follows the new master, continuing on every shard.
    let other_port = setup.replicas[other].port();
    poll_until(
        "the other replica follows the new master",
        SETTLE_TIMEOUT,
        || setup.report(),
        || in_sync(new_port, other_port),
    );
    let shards: u64 = SHARDS.parse().expect("shards");
    assert_eq!(
        repl_number(other_port, "replica_full_syncs"),
        syncs_before[other].0,
        "no full sync after the failover\n{}",
        setup.report()
    );
    assert_eq!(
        repl_number(other_port, "replica_partial_syncs"),
        syncs_before[other].1 + shards,
        "a partial resync on every shard\n{}",
        setup.report()
    );

    // The load writes again through Sentinel; then every acknowledged write is there.
    let ok_before = load.ok_batches.load(Ordering::Relaxed);
    poll_until(
        "the load writes through Sentinel again",
        SETTLE_TIMEOUT,
        || setup.report(),
        || load.ok_batches.load(Ordering::Relaxed) >= ok_before + LOAD_AFTER_FAILOVER_BATCHES,
    );
    let load = load.stop();
    let back = load.back.expect("the load wrote again after the failover");
    let data = written(new_port);
    let lost: Vec<u64> = load
        .acked
        .iter()
        .copied()
        .filter(|n| data.get(&format!("w:{n}")) != Some(&n.to_string()))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged writes missing on the new master, first {:?}",
        lost.len(),
        load.acked.len(),
        &lost[..lost.len().min(10)]
    );
    eprintln!(
        "failover: +sdown after {:?}, +odown after {:?}, +switch-master after {:?}, \
         writes back after {:?} (first failed write {:?} after the kill); \
         {} writes acknowledged by WAIT 1, all on the new master",
        sdown.at - killed,
        odown.at - killed,
        switched.at - killed,
        back - killed,
        load.first_failure
            .map(|f| f.saturating_duration_since(killed)),
        load.acked.len(),
    );

    // The old master comes back and Sentinel makes it a replica of the new one.
    let restarted = Instant::now();
    setup.master = restart_in(old_port, &setup.master_dir, &SERVER_ARGS);
    poll_until(
        "the old master follows the new one",
        SETTLE_TIMEOUT,
        || setup.report(),
        || in_sync(new_port, old_port),
    );
    eprintln!(
        "old master: a replica of the new master {:?} after its restart",
        restarted.elapsed()
    );
    assert_eq!(written(old_port), data, "the old master converged");
}

/// `DEBUG REPL-HOLD shard yes|no` on `replica`.
fn hold(replica: &Server, shard: usize, on: &str) {
    let shard = shard.to_string();
    assert_eq!(
        cmd_through_failover(replica, &["DEBUG", "REPL-HOLD", &shard, on]),
        "OK"
    );
}

/// Connections [`cmd_through_failover`] opens before it gives up.
const FAILOVER_CMD_ATTEMPTS: usize = 3;

/// Sends `args` to `server` on a new connection, and again on another if that one is
/// cut: a sentinel that promotes or reconfigures a replica ends its normal clients'
/// connections (`CLIENT KILL TYPE normal`), and the sentinel the test listens to may
/// announce `+switch-master` before the leader has reconfigured every replica.
fn cmd_through_failover(server: &Server, args: &[&str]) -> String {
    let mut errors = Vec::new();
    for _ in 0..FAILOVER_CMD_ATTEMPTS {
        // The connection itself may be cut while it is set up, too.
        let reply = redis::Client::open(server.url())
            .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(5)))
            .and_then(|mut con| {
                redis::cmd(args[0])
                    .arg(&args[1..])
                    .query::<String>(&mut con)
            });
        match reply {
            Ok(reply) => return reply,
            Err(e) => errors.push(e.to_string()),
        }
    }
    panic!("{args:?} on port {}: {errors:?}", server.port());
}

/// `n` keys `prefix:<i>` on `shard`.
fn keys_on(shard: usize, prefix: &str, n: usize) -> Vec<String> {
    let shards: usize = SHARDS.parse().expect("shards");
    (0..)
        .map(|i| format!("{prefix}:{i}"))
        .filter(|k| shard_of(k, shards) == shard)
        .take(n)
        .collect()
}

#[test]
fn sentinels_promote_the_replica_that_acknowledged_the_last_write() {
    let mut setup = Setup::start(["100", "100"]);
    let (holder, ahead) = (setup.replicas[1].port(), setup.replicas[0].port());
    let master_port = setup.master.port();
    // Replica 0 stops applying shard 0; the write there is acknowledged by
    // replica 1, which then stops applying shard 1 while shard 1 takes more writes.
    hold(&setup.replicas[0], 0, "yes");
    let mut con = setup.master.raw();
    let acked = &keys_on(0, "acked", 1)[0];
    assert_eq!(con.cmd(&["SET", acked, "1"]), "OK");
    assert_eq!(con.cmd(&["WAIT", "1", "5000"]), "1", "{}", setup.report());
    hold(&setup.replicas[1], 1, "yes");
    for key in keys_on(1, "ahead", WRITES_AHEAD) {
        assert_eq!(con.cmd(&["SET", &key, "1"]), "OK");
    }
    let offset = repl_number(master_port, "master_repl_offset");
    poll_until(
        "replica 0 applied all but the acknowledged write",
        SETTLE_TIMEOUT,
        || setup.report(),
        || repl_number(ahead, "slave_read_repl_offset") == offset - 1,
    );
    let events = setup.sentinels[0].events();
    kill(&mut setup.master);
    let bound = Duration::from_millis(DOWN_AFTER_MS) + PROMOTION_MARGIN;
    let switched = events.wait_for("+switch-master", bound).unwrap_or_else(|| {
        panic!(
            "no +switch-master within {bound:?}; events:\n{}\n{}",
            events.seen(),
            setup.report()
        )
    });
    hold(&setup.replicas[0], 0, "no");
    hold(&setup.replicas[1], 1, "no");
    let promoted: Option<u16> = switched
        .payload
        .split(' ')
        .nth(4)
        .and_then(|p| p.parse().ok());
    assert_eq!(
        promoted,
        Some(holder),
        "the replica holding the acknowledged write is promoted\n{}",
        setup.report()
    );
    assert_eq!(
        cmd_through_failover(&setup.replicas[1], &["GET", acked]),
        "1"
    );
    poll_until(
        "the other replica follows the new master",
        SETTLE_TIMEOUT,
        || setup.report(),
        || in_sync(holder, ahead),
    );
    assert_eq!(
        cmd_through_failover(&setup.replicas[0], &["GET", acked]),
        "1"
    );
}

/// Redis's texts for the two refusals below.
const NOREPLICAS: &str = "-NOREPLICAS Not enough good replicas to write.";
const MASTERDOWN: &str =
    "-MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.";

#[test]
fn min_replicas_to_write_refuses_writes_without_enough_good_replicas() {
    let master = Server::start(&SERVER_ARGS);
    let mut con = master.raw();
    assert_eq!(con.cmd(&["SET", "k", "1"]), "OK");
    assert_eq!(
        con.cmd(&["CONFIG", "SET", "min-slaves-to-write", "1"]),
        "OK"
    );
    assert_eq!(
        con.cmd(&["CONFIG", "GET", "min-replicas-to-write"]),
        "[min-replicas-to-write, 1]"
    );
    assert_eq!(con.cmd(&["SET", "k", "2"]), NOREPLICAS);
    // Queued in a transaction, the write is refused at once and EXEC aborts.
    assert_eq!(con.cmd(&["MULTI"]), "OK");
    assert_eq!(con.cmd(&["SET", "k", "3"]), NOREPLICAS);
    assert!(con.cmd(&["EXEC"]).starts_with("-EXECABORT"));
    assert_eq!(con.cmd(&["GET", "k"]), "1", "reads still work");
    let info = repl_field(master.port(), "min_slaves_good_slaves");
    assert_eq!(info.as_deref(), Some("0"));

    let mut args = SERVER_ARGS.to_vec();
    let to = format!("127.0.0.1 {}", master.port());
    args.extend(["--replicaof", &to]);
    let replica = Server::start(&args);
    poll_until(
        "a good replica",
        SETTLE_TIMEOUT,
        || report(&[&master], &[]),
        || repl_field(master.port(), "min_slaves_good_slaves").as_deref() == Some("1"),
    );
    assert_eq!(con.cmd(&["SET", "k", "4"]), "OK");
    // With max-lag 0 the check is off, as in Redis.
    assert_eq!(
        con.cmd(&["CONFIG", "SET", "min-replicas-to-write", "2"]),
        "OK"
    );
    assert_eq!(con.cmd(&["SET", "k", "5"]), NOREPLICAS);
    assert_eq!(
        con.cmd(&["CONFIG", "SET", "min-replicas-max-lag", "0"]),
        "OK"
    );
    assert_eq!(con.cmd(&["SET", "k", "6"]), "OK");
    drop(replica);
    assert_eq!(
        con.cmd(&["CONFIG", "SET", "min-replicas-max-lag", "10"]),
        "OK"
    );
    poll_until(
        "the replica is gone",
        SETTLE_TIMEOUT,
        || report(&[&master], &[]),
        || repl_field(master.port(), "connected_slaves").as_deref() == Some("0"),
    );
    assert_eq!(
        con.cmd(&["CONFIG", "SET", "min-replicas-to-write", "1"]),
        "OK"
    );
    assert_eq!(con.cmd(&["SET", "k", "7"]), NOREPLICAS);
    assert_eq!(
        con.cmd(&["CONFIG", "SET", "min-replicas-to-write", "0"]),
        "OK"
    );
    assert_eq!(con.cmd(&["SET", "k", "8"]), "OK");
}

#[test]
fn a_replica_with_its_link_down_answers_masterdown_unless_it_serves_stale_data() {
    let master = Server::start(&SERVER_ARGS);
    let mut args = SERVER_ARGS.to_vec();
    let to = format!("127.0.0.1 {}", master.port());
    args.extend(["--replicaof", &to, "--slave-serve-stale-data", "no"]);
    args.extend([
        "--replica-announce-ip",
        "10.1.2.3",
        "--slave-announce-port",
        "7777",
    ]);
    args.extend(["--slave-priority", "0", "--replica-announced", "no"]);
    let replica = Server::start(&args);
    let mut master_con = master.raw();
    assert_eq!(master_con.cmd(&["SET", "k", "v"]), "OK");
    poll_until(
        "in sync",
        SETTLE_TIMEOUT,
        || report(&[&master, &replica], &[]),
        || in_sync(master.port(), replica.port()),
    );
    // The replica announces itself as configured, and tells Sentinel its priority.
    let slave0 = repl_field(master.port(), "slave0").expect("slave0 line");
    assert!(
        slave0.starts_with("ip=10.1.2.3,port=7777,state=online,"),
        "{slave0}"
    );
    assert_eq!(
        repl_field(replica.port(), "slave_priority").as_deref(),
        Some("0")
    );
    assert_eq!(
        repl_field(replica.port(), "replica_announced").as_deref(),
        Some("0")
    );
    let mut con = replica.raw();
    assert!(con
        .cmd(&["CONFIG", "SET", "replica-announced", "maybe"])
        .starts_with("-ERR CONFIG SET failed"));
    assert_eq!(con.cmd(&["GET", "k"]), "v", "link up: reads served");

    drop(master);
    poll_until(
        "link down",
        SETTLE_TIMEOUT,
        || report(&[&replica], &[]),
        || repl_field(replica.port(), "master_link_status").as_deref() == Some("down"),
    );
    assert_eq!(con.cmd(&["GET", "k"]), MASTERDOWN);
    assert_eq!(
        con.cmd(&["PING"]),
        MASTERDOWN,
        "as Redis: PING may not see stale data"
    );
    assert_eq!(
        con.cmd(&["SET", "k", "w"]),
        "-READONLY You can't write against a read only replica."
    );
    // Commands that may see stale data still answer (Sentinel's INFO among them).
    assert_eq!(repl_field(replica.port(), "role").as_deref(), Some("slave"));
    assert_eq!(
        con.cmd(&["CONFIG", "SET", "replica-serve-stale-data", "yes"]),
        "OK"
    );
    assert_eq!(con.cmd(&["GET", "k"]), "v");
}

#[test]
fn sentinel_failover_swaps_roles_without_losing_a_written_key() {
    let setup = Setup::start(["100", "100"]);
    let old_port = setup.master.port();
    let events = setup.sentinels[0].events();
    let load = Load::start(setup.sentinel_ports());
    std::thread::sleep(LOAD_BEFORE_KILL);

    let asked = Instant::now();
    let ok: String = setup.sentinels[0]
        .query(&["FAILOVER", MASTER_NAME])
        .expect("SENTINEL FAILOVER");
    assert_eq!(ok, "OK");
    let switched = events
        .wait_for("+switch-master", SETTLE_TIMEOUT)
        .unwrap_or_else(|| panic!("no +switch-master; events:\n{}", events.seen()));
    let new_port: u16 = switched
        .payload
        .split(' ')
        .nth(4)
        .and_then(|p| p.parse().ok())
        .expect("+switch-master <name> <old ip> <old port> <new ip> <new port>");
    assert_ne!(new_port, old_port);
    // The old master follows the new one at once, continuing its history on every
    // shard: it took no write the new master lacks.
    poll_until(
        "the old master follows the new one",
        SETTLE_TIMEOUT,
        || setup.report(),
        || in_sync(new_port, old_port),
    );
    let followed = asked.elapsed();
    assert_eq!(
        repl_number(old_port, "replica_full_syncs"),
        0,
        "{}",
        setup.report()
    );
    let shards: u64 = SHARDS.parse().expect("shards");
    assert_eq!(repl_number(old_port, "replica_partial_syncs"), shards);
    for r in &setup.replicas {
        poll_until(
            "every server follows the new master",
            SETTLE_TIMEOUT,
            || setup.report(),
            || r.port() == new_port || in_sync(new_port, r.port()),
        );
    }
    let ok_before = load.ok_batches.load(Ordering::Relaxed);
    poll_until(
        "the load writes through Sentinel again",
        SETTLE_TIMEOUT,
        || setup.report(),
        || load.ok_batches.load(Ordering::Relaxed) >= ok_before + LOAD_AFTER_FAILOVER_BATCHES,
    );
    let load = load.stop();
    let lost = missing(new_port, &load.answered);
    assert!(
        lost.is_empty(),
        "{} of {} answered writes missing on the new master, first {:?}\n{}",
        lost.len(),
        load.answered.len(),
        &lost[..lost.len().min(10)],
        setup.report()
    );
    eprintln!(
        "switchover: +switch-master after {:?}, the old master a replica after {:?}, \
         writes paused for {:?}; {} writes answered, all on the new master",
        switched.at - asked,
        followed,
        load.back.zip(load.first_failure).map(|(b, f)| b - f),
        load.answered.len(),
    );
}

#[test]
fn redis_py_sentinel_client_keeps_writing_across_a_killed_master() {
    let setup = Setup::start(["100", "100"]);
    let master = &setup.master;
    std::thread::scope(|scope| {
        let client = scope.spawn(|| {
            common::python::run_script("test_sentinel_client.py", master);
        });
        let mut con = master.raw();
        poll_until(
            "the redis-py client writing",
            SETTLE_TIMEOUT,
            || setup.report(),
            || {
                client.is_finished()
                    || con.cmd(&["DBSIZE"]).parse::<u64>().unwrap_or(0) >= PY_KILL_AFTER_KEYS
            },
        );
        master.signal(libc::SIGKILL);
        if let Err(panic) = client.join() {
            std::panic::resume_unwind(panic);
        }
    });
}
