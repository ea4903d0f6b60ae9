//! The offset a replica reports ranks it by the writes it holds: a replica that
//! acknowledged a write with `WAIT 1` reports more than one that lacks it, even
//! when the other is further ahead on another shard (summed per-shard LSNs would
//! rank them the other way, and Sentinel would promote the replica without the
//! write). Idle, a replica reports the master's offset exactly. A replica of the
//! protocol before checkpoints is refused at `CKV.SYNC` with both versions named.

mod common;

use std::time::Duration;

use common::sentinel::{in_sync, poll_until, repl_number, report};
use common::{shard_of, Server};

/// Shards of every server here.
const SHARDS: usize = 2;
/// The shard the acknowledged write goes to, and the one written after it.
const SHARD_A: usize = 0;
const SHARD_B: usize = 1;
/// Writes on shard B after the acknowledged one: more than the one write on A, so
/// summed LSNs would put the replica that lacks the write ahead.
const WRITES_AFTER: usize = 50;
/// How long replication gets to settle.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(15);
/// `WAIT`'s timeout, in milliseconds.
const WAIT_MS: &str = "5000";

/// A master and two replicas in sync; the replicas take `DEBUG`.
fn start_three() -> (Server, Server, Server) {
    let shards = SHARDS.to_string();
    let master = Server::start(&["--shards", &shards]);
    let of = format!("127.0.0.1 {}", master.port());
    let replica = || {
        Server::start(&[
            "--shards",
            &shards,
            "--replicaof",
            &of,
            "--enable-debug-command",
            "yes",
        ])
    };
    let (r1, r2) = (replica(), replica());
    for r in [&r1, &r2] {
        poll_until(
            "the replica in sync",
            SETTLE_TIMEOUT,
            || report(&[&master, &r1, &r2], &[]),
            || in_sync(master.port(), r.port()),
        );
    }
    (master, r1, r2)
}

/// The first of `prefix:0`, `prefix:1`, ... on `shard`, and the next ones after it.
fn keys_on(shard: usize, prefix: &str, n: usize) -> Vec<String> {
    (0..)
        .map(|i| format!("{prefix}:{i}"))
        .filter(|k| shard_of(k, SHARDS) == shard)
        .take(n)
        .collect()
}

#[test]
fn a_replica_that_acknowledged_a_write_outranks_one_ahead_on_another_shard() {
    let (master, r1, r2) = start_three();
    let (m, p1, p2) = (master.port(), r1.port(), r2.port());
    let all = || report(&[&master, &r1, &r2], &[]);
    let mut con = master.raw();

    // Replica 1 stops applying shard A; the write there is acknowledged by replica 2.
    let hold = |r: &Server, shard: usize, on: &str| {
        let shard = shard.to_string();
        assert_eq!(r.raw().cmd(&["DEBUG", "REPL-HOLD", &shard, on]), "OK");
    };
    hold(&r1, SHARD_A, "yes");
    let acked = &keys_on(SHARD_A, "acked", 1)[0];
    assert_eq!(con.cmd(&["SET", acked, "1"]), "OK");
    assert_eq!(con.cmd(&["WAIT", "1", WAIT_MS]), "1", "{}", all());

    // Then replica 2 stops applying shard B, and shard B takes more writes than A.
    hold(&r2, SHARD_B, "yes");
    for key in keys_on(SHARD_B, "after", WRITES_AFTER) {
        assert_eq!(con.cmd(&["SET", &key, "1"]), "OK");
    }
    let master_offset = repl_number(m, "master_repl_offset");
    poll_until(
        "replica 1 applied everything but the acknowledged write",
        SETTLE_TIMEOUT,
        all,
        || repl_number(p1, "slave_read_repl_offset") == master_offset - 1,
    );
    let applied2 = repl_number(p2, "slave_read_repl_offset");
    assert_eq!(applied2, master_offset - WRITES_AFTER as u64, "{}", all());

    // Sentinel promotes the highest slave_repl_offset: it must be replica 2.
    poll_until(
        "replica 2, which holds the acknowledged write, reports more",
        SETTLE_TIMEOUT,
        all,
        || repl_number(p2, "slave_repl_offset") > repl_number(p1, "slave_repl_offset"),
    );
    // Neither reports more than it holds whole: replica 2 at most its applied LSNs.
    assert!(
        repl_number(p2, "slave_repl_offset") <= applied2,
        "{}",
        all()
    );

    // Released, both catch up and report the master's offset exactly.
    hold(&r1, SHARD_A, "no");
    hold(&r2, SHARD_B, "no");
    for r in [p1, p2] {
        poll_until("the replica in sync again", SETTLE_TIMEOUT, all, || {
            in_sync(m, r)
        });
    }
    let offset = master_offset.to_string();
    for r in [&r1, &r2] {
        let role = r.raw().cmd(&["ROLE"]);
        assert!(role.ends_with(&format!(", {offset}]")), "ROLE: {role}");
    }
}

#[test]
fn a_replica_of_the_protocol_before_checkpoints_is_refused_at_sync() {
    let master = Server::with_shards(1, &[]);
    let mut con = master.raw();
    assert_eq!(
        con.cmd(&["CKV.SYNC", "0", "1", "?", "1"]),
        "-ERR replica speaks replication protocol 1, this master speaks 2: run one corekv version on both"
    );
    assert_eq!(con.cmd(&["PING"]), "PONG");
    assert_eq!(
        master.raw().cmd(&["DEBUG", "REPL-HOLD", "0", "yes"]),
        "-ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server."
    );
}
