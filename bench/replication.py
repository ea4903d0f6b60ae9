#!/usr/bin/env python3
"""corekv vs redis-server with one replica: how far a replica trails its master
under load, how long a full sync of 1,000,000 keys takes, and what attaching a
replica costs the master.

Every server gets one CPU (redis-server --save ''; corekv-server --shards 1 --cpus
CPU) and the same persistence flags on master and replica, `--appendonly yes
--appendfsync everysec` (corekv's journal is its replication log, so its master
needs it; Redis gets the same on both servers, like for like). On a 2-CPU machine
master and replica share the servers' CPU, pinned with taskset away from the
clients' CPU (this script and its probe thread pin themselves there too). A replica
is started with `--replicaof "127.0.0.1 PORT"` (one argument, both servers);
corekv's also gets `--replica-serve-reads yes` (a corekv replica refuses reads
without it; a Redis replica serves them by default). Redis masters get
`--repl-diskless-sync-delay 0`, so a full sync starts at once instead of after
Redis's default 5 s wait for more replicas. Before any load, both servers must be
settled: the replica's INFO replication shows master_link_status:up and
master_sync_in_progress:0, the master's shows slave0 with state=online, neither
runs a background save or rewrite (INFO persistence), and a SET on the master shows
on the replica (after a diskless sync a Redis master starts streaming only once the
replica's first REPLCONF ACK came, up to a second later). Every round runs each
section on fresh servers, Redis first in odd rounds and corekv first in even ones;
reported are medians over the rounds and corekv/Redis ratios.

  a  Replica lag: `redis-benchmark -t set -c 50 -P 16 -n N -r 100000 -d 32` on the
     master. While it runs, a probe (plain sockets speaking RESP, one connection
     to each server) every 10 ms sends `SET lagprobe:SEQ VALUE` to the master and,
     from the master's +OK on, polls `GET lagprobe:SEQ` on the replica (no pause
     before the first GET, then 0.5 ms between GETs) until VALUE appears. Lag is
     the time from the master's +OK to the reply of the first GET that shows the
     value, so one GET round trip on the loaded replica is its floor; that round
     trip (GETs answered nil) is reported too. Only probes sent while the
     benchmark ran count. Reported: p50, p99 and max lag over the probes of a round
     (nearest rank; and the highest max of all rounds), probes, probes that never
     showed up within 10 s, the master's
     requests/s, and the catch-up: from the benchmark's end until the replica's
     slave_repl_offset reaches the master's master_repl_offset read at that end
     (then both DBSIZEs must agree).
  b  Full sync of 1,000,000 keys: load the master with 1,000,000 SETs of distinct
     keys (16-byte keys, 32-byte values) through redis-cli --pipe, BGREWRITEAOF
     once any automatic rewrite is over and wait until it is done (so no automatic
     rewrite of the loaded journal starts during the sync), then spawn a fresh
     replica with
     --replicaof and time from the spawn until its INFO replication shows
     master_link_status:up and master_sync_in_progress:0 and its DBSIZE answers
     1,000,000 (not -LOADING); a GET of the first and last key then checks values.
     Also reported: when the replica first answered INFO (its start-up), the
     replica's CPU seconds until synced, the master's from the spawn until both
     servers were idle again (with the children it forked and reaped: Redis sends
     the sync from a fork), the replica's peak RSS, and the time until the
     replica's own persistence went idle (a Redis replica with appendonly rewrites
     its AOF after a full sync).
  c  Master throughput with a replica attached vs none: `redis-benchmark -t set
     -c 50 -P 1 -n N -r 100000 -d 32` on a fresh master without a replica, and on
     a fresh master with a settled replica. requests/s and master CPU µs per
     request (utime + stime from /proc/PID/stat), and the replica's CPU µs per
     master request; ratios attached/none per server and corekv/Redis. With
     master and replica on one CPU, the replica's work competes with the master's,
     and the master sleeps less often (it finds requests waiting when it gets the
     CPU back), so its voluntary context switches per request are reported too.

A server that cannot run a part is reported as not supported for that part, with
the reason, and the rest still runs: it refused the replica flags at start-up, or
REPLICAOF errs, or the link never comes up (INFO replication lacks the fields or
shows them down) within the timeout. A part that went wrong after the same server
already ran it once (a lost sync, a GET error, diverging DBSIZEs) is listed as a
failure with its round, and the run goes on.

    bench/replication.py                   # full run: 3 rounds, about 4 minutes on 2 CPUs
    bench/replication.py --quick           # smoke run: fewer requests and keys, under a minute
    bench/replication.py --rounds 1 --only b     # one section (letters a, b, c)

Writes the Markdown tables to stdout and to --out with .md, every sample to --out
with .json (default bench/results/replication). Needs redis-server,
redis-benchmark, redis-cli and taskset on PATH; builds corekv-server in release
mode first (--no-build: use target/release as it is).
"""

import argparse
import datetime
import json
import math
import os
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import benchlib

SERVERS = benchlib.SERVERS
SERVER_TITLES = {"redis": "Redis", "corekv": "corekv"}
NOT_SUPPORTED = "not supported"
EVERYSEC = ("--appendonly", "yes", "--appendfsync", "everysec")
REDIS_FLAGS = ("--repl-diskless-sync-delay", "0")
COREKV_REPLICA_FLAGS = ("--replica-serve-reads", "yes")
SECTIONS = "abc"
PART_TITLES = {"a": "replica lag", "b": "full sync", "c-none": "throughput without a replica",
               "c-attached": "throughput with a replica"}
ATTACHMENTS = ("none", "attached")
CLIENTS = 50
KEYSPACE = 100_000
VALUE_BYTES = 32
LAG_PIPELINE = 16
PROBE_INTERVAL_S = 0.010
PROBE_POLL_S = 0.0005
PROBE_TIMEOUT_S = 10.0
PROBE_IO_TIMEOUT_S = 30.0
LINK_TIMEOUT_S = 30  # an empty master's replica: link up and settled
SYNC_TIMEOUT_S = 180  # the full sync of section b
IDLE_TIMEOUT_S = 120  # background saves and rewrites
CATCHUP_TIMEOUT_S = 30
SYNC_POLL_S = 0.005
SETTLE_POLL_S = 0.02
IDLE_FIELDS = ("aof_rewrite_in_progress", "aof_rewrite_scheduled", "rdb_bgsave_in_progress")
FULL = {"lag_requests": 3_000_000, "sync_keys": 1_000_000, "requests": 500_000}
QUICK = {"lag_requests": 1_000_000, "sync_keys": 200_000, "requests": 100_000}


def log(line):
    print(line, file=sys.stderr, flush=True)


class NotSupported(Exception):
    """The server lacks what a part needs: it refused the replica flags, or REPLICAOF
    errs, or the link never comes up."""


class ReplyError(RuntimeError):
    """An error reply (-ERR ...)."""


# --- RESP on one kept-open connection (the probe's) ---------------------------------

def encode(args):
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def read_reply(reader):
    line = reader.readline()
    if not line.endswith(b"\r\n"):
        raise RuntimeError(f"connection closed mid-reply: {line!r}")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise ReplyError(rest.decode(errors="replace"))
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        return None if n < 0 else reader.read(n + 2)[:-2].decode()
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [read_reply(reader) for _ in range(n)]
    raise RuntimeError(f"unexpected reply {line!r}")


class Connection:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=PROBE_IO_TIMEOUT_S)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = self.sock.makefile("rb")

    def call(self, *args):
        self.sock.sendall(encode(args))
        return read_reply(self.reader)

    def close(self):
        self.reader.close()
        self.sock.close()


# --- servers -------------------------------------------------------------------------

def server_flags(kind):
    return EVERYSEC + (REDIS_FLAGS if kind == "redis" else ())


def replica_only_flags(kind, master_port):
    """The flags that make a server a replica of `master_port`."""
    return ("--replicaof", f"127.0.0.1 {master_port}") + (COREKV_REPLICA_FLAGS if kind == "corekv" else ())


def start_master(args, kind):
    try:
        return benchlib.start(kind, args.server_cpu, extra=server_flags(kind))
    except benchlib.Refused as refused:
        raise NotSupported(f"refused `{' '.join(server_flags(kind))}` at start-up: `{refused}`") from None


def start_replica(args, kind, master_port, wait=True):
    flags = replica_only_flags(kind, master_port)
    try:
        return benchlib.start(kind, args.server_cpu, extra=server_flags(kind) + flags, wait=wait)
    except benchlib.Refused as refused:
        raise NotSupported(f"refused `{shlex.join(flags)}` at start-up: `{refused}`") from None


def cpu_seconds_with_children(pid):
    """utime + stime of a process and of its children it has waited for (cutime +
    cstime): a forked Redis's saves count once the parent reaps them."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(field) for field in fields[11:15]) / benchlib.CLK_TCK


def voluntary_switches(pid):
    """Voluntary context switches of all threads of a process: how often it slept."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/status") as f:
                total += sum(int(line.split()[1]) for line in f if line.startswith("voluntary_ctxt_switches:"))
        except FileNotFoundError:  # a thread that ended
            pass
    return total


def stop_all(*servers):
    for server in servers:
        if server is not None:
            server.stop()


def log_tail(server, lines=5):
    with open(server.log_path, errors="replace") as f:
        return " | ".join(line.strip() for line in f.readlines()[-lines:])


def check_running(server, role, starting=False):
    """Raises if `server` exited: NotSupported while `starting` (it refused its
    flags), else RuntimeError (it stopped on its own)."""
    if refusal := server.exited():
        if starting:
            raise NotSupported(f"the {role} exited at start-up: `{refusal}`")
        raise RuntimeError(f"the {role} exited: {log_tail(server)}")


def link_state(info):
    """`master_link_status:X master_sync_in_progress:Y` of a replica's INFO, for messages."""
    return " ".join(f"{name}:{info.get(name, '(absent)')}" for name in ("master_link_status", "master_sync_in_progress"))


def replica_synced(info):
    return info.get("master_link_status") == "up" and info.get("master_sync_in_progress") == "0"


def master_sees_online(info):
    return int(info.get("connected_slaves", "0") or 0) >= 1 and "state=online" in info.get("slave0", "")


def idle(port):
    info = benchlib.info_fields(port, "persistence")
    return all(info.get(field, "0") == "0" for field in IDLE_FIELDS)


def wait_idle(server, role, timeout_s=IDLE_TIMEOUT_S):
    """Seconds until `server` runs no background save or rewrite."""
    started = time.monotonic()
    while not idle(server.port):
        check_running(server, role)
        if time.monotonic() - started > timeout_s:
            raise RuntimeError(f"the {role} still saves or rewrites after {timeout_s} s")
        time.sleep(SETTLE_POLL_S)
    return time.monotonic() - started


def wait_settled(master, replica):
    """Until the replica's link is up and synced, the master lists it online, and
    neither server saves or rewrites in the background."""
    started, info, master_info = time.monotonic(), {}, {}
    while True:
        check_running(replica, "replica")
        check_running(master, "master")
        try:
            info = benchlib.info_fields(replica.port, "replication")
            master_info = benchlib.info_fields(master.port, "replication")
        except (OSError, RuntimeError):
            pass
        if replica_synced(info) and master_sees_online(master_info):
            break
        if time.monotonic() - started > LINK_TIMEOUT_S:
            if not replica_synced(info):
                raise NotSupported(f"the replica's link was not up within {LINK_TIMEOUT_S} s: INFO replication "
                                   f"has {link_state(info)}")
            raise NotSupported(f"the replica reports {link_state(info)}, but the master's INFO replication has "
                               f"connected_slaves:{master_info.get('connected_slaves', '(absent)')} "
                               f"slave0:{master_info.get('slave0', '(absent)')} after {LINK_TIMEOUT_S} s")
        time.sleep(SETTLE_POLL_S)
    wait_idle(master, "master")
    wait_idle(replica, "replica")
    # Streaming may start later than the sync's end (a Redis master waits for the
    # replica's first REPLCONF ACK, up to a second): a write must come through.
    key, value = "settleprobe", str(time.time_ns())
    benchlib.resp_command(master.port, "SET", key, value)
    started = time.monotonic()
    while benchlib.resp_command(replica.port, "GET", key) != value:
        check_running(replica, "replica")
        if time.monotonic() - started > LINK_TIMEOUT_S:
            raise NotSupported(f"the replica reports {link_state(info)}, but a SET on the master did not show on the "
                               f"replica within {LINK_TIMEOUT_S} s")
        time.sleep(SYNC_POLL_S)


def rewrite_journal(server):
    """BGREWRITEAOF once no background save or rewrite runs, and until it is done:
    afterwards no automatic rewrite is due, so none starts during a measurement."""
    wait_idle(server, "master")
    rewrites = benchlib.info_fields(server.port, "persistence").get("aof_rewrites")
    benchlib.resp_command(server.port, "BGREWRITEAOF")
    started = time.monotonic()
    while True:
        info = benchlib.info_fields(server.port, "persistence")
        done = all(info.get(field, "0") == "0" for field in IDLE_FIELDS)
        if rewrites is not None:
            done = done and int(info["aof_rewrites"]) > int(rewrites)
        if done:
            return time.monotonic() - started
        if time.monotonic() - started > IDLE_TIMEOUT_S:
            raise RuntimeError(f"BGREWRITEAOF still running after {IDLE_TIMEOUT_S} s")
        time.sleep(SETTLE_POLL_S)


def dbsize(port):
    return benchlib.resp_command(port, "DBSIZE")


def catch_up(master, replica):
    """After a load: seconds until the replica's slave_repl_offset reaches the
    master's master_repl_offset (read now), or None if it does not within the
    timeout; then the replica's DBSIZE must equal the master's."""
    target = int(benchlib.info_fields(master.port, "replication")["master_repl_offset"])
    master_keys = dbsize(master.port)
    started = time.monotonic()
    catchup_s, offset = None, None
    while time.monotonic() - started < CATCHUP_TIMEOUT_S:
        check_running(replica, "replica")
        offset = benchlib.info_fields(replica.port, "replication").get("slave_repl_offset")
        if offset is not None and int(offset) >= target:
            catchup_s = time.monotonic() - started
            break
        time.sleep(SYNC_POLL_S)
    # The replica may report offsets differently; the keys must agree regardless.
    replica_keys = dbsize(replica.port)
    while replica_keys != master_keys and time.monotonic() - started < CATCHUP_TIMEOUT_S:
        time.sleep(SETTLE_POLL_S)
        replica_keys = dbsize(replica.port)
    problems = []
    if catchup_s is None:
        problems.append(f"slave_repl_offset {offset} did not reach the master's master_repl_offset {target} "
                        f"within {CATCHUP_TIMEOUT_S} s")
    if replica_keys != master_keys:
        problems.append(f"the replica has {replica_keys} keys, the master {master_keys}, "
                        f"{CATCHUP_TIMEOUT_S} s after the load")
    return catchup_s, problems


# --- bookkeeping ---------------------------------------------------------------------

def samples_of(results, part, kind):
    if part == "a":
        return results["lag"][kind]
    if part == "b":
        return results["full_sync"][kind]
    return results["throughput"][part.split("-")[1]][kind]


def unsupported(results, part, kind):
    return results["unsupported"].get(part, {}).get(kind)


def note_problem(results, rnd, kind, part, why, not_supported):
    """A part a server cannot run (not supported, once it never ran it) or a failure."""
    if not_supported and not samples_of(results, part, kind):
        results["unsupported"].setdefault(part, {})[kind] = str(why)
        log(f"round {rnd + 1} {kind:6} {part}: {NOT_SUPPORTED}: {why}")
    else:
        results["failures"].append({"round": rnd + 1, "server": kind, "part": part, "what": str(why)})
        log(f"round {rnd + 1} {kind:6} {part}: FAILED: {why}")


def guarded(results, rnd, kind, part, session):
    """Runs one session; a missing feature or a failure is noted, not raised."""
    if unsupported(results, part, kind):
        return
    try:
        session()
    except NotSupported as why:
        note_problem(results, rnd, kind, part, why, True)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as error:
        note_problem(results, rnd, kind, part, f"{type(error).__name__}: {error}", False)


def percentile(values, p):
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


# --- a: replica lag --------------------------------------------------------------------

class LagProbe(threading.Thread):
    """Every PROBE_INTERVAL_S: SET on the master, then GET on the replica until the
    value shows; each probe's send time, lag and the replica's nil-GET round trips."""

    def __init__(self, master_port, replica_port):
        super().__init__(daemon=True)
        self.master_port, self.replica_port = master_port, replica_port
        self.stopping = threading.Event()
        self.probes, self.get_rtts, self.error = [], [], None

    def run(self):
        try:
            self._run()
        except Exception as error:  # reported by the caller
            self.error = error

    def _run(self):
        master, replica = Connection(self.master_port), Connection(self.replica_port)
        try:
            seq, next_at = 0, time.perf_counter()
            while not self.stopping.is_set():
                now = time.perf_counter()
                if now < next_at:
                    time.sleep(next_at - now)
                    continue
                next_at = max(next_at + PROBE_INTERVAL_S, now)
                self.probes.append(self._probe(master, replica, f"lagprobe:{seq}", str(time.time_ns())))
                seq += 1
        finally:
            master.close()
            replica.close()

    def _probe(self, master, replica, key, value):
        sent = time.perf_counter()
        reply = master.call("SET", key, value)
        ok = time.perf_counter()
        if reply != "OK":
            raise RuntimeError(f"SET {key} on the master: {reply!r}")
        polls = 0
        while True:
            asked = time.perf_counter()
            got = replica.call("GET", key)
            answered = time.perf_counter()
            polls += 1
            if got == value:
                return {"sent": sent, "lag_ms": (answered - ok) * 1e3, "polls": polls}
            if got is not None:
                raise RuntimeError(f"GET {key} on the replica: {got!r}, not {value!r}")
            self.get_rtts.append(answered - asked)
            if answered - ok > PROBE_TIMEOUT_S:
                return {"sent": sent, "lag_ms": None, "polls": polls}
            time.sleep(PROBE_POLL_S)


def lag_session(args, results, rnd, kind):
    master = replica = None
    try:
        master = start_master(args, kind)
        replica = start_replica(args, kind, master.port)
        wait_settled(master, replica)
        probe = LagProbe(master.port, replica.port)
        master_cpu, replica_cpu = master.cpu_seconds(), replica.cpu_seconds()
        began = time.perf_counter()
        probe.start()
        try:
            load = benchlib.run_redis_benchmark(master.port, args.client_cpu, "set", args.lag_requests, CLIENTS,
                                                LAG_PIPELINE, KEYSPACE, VALUE_BYTES)
        finally:
            ended = time.perf_counter()
            probe.stopping.set()
            probe.join(PROBE_TIMEOUT_S + PROBE_IO_TIMEOUT_S)
        master_cpu, replica_cpu = master.cpu_seconds() - master_cpu, replica.cpu_seconds() - replica_cpu
        if probe.is_alive():
            raise RuntimeError("the lag probe did not stop")
        if probe.error is not None:
            raise RuntimeError(f"lag probe: {type(probe.error).__name__}: {probe.error}")
        catchup_s, problems = catch_up(master, replica)
    finally:
        stop_all(replica, master)
    during = [p for p in probe.probes if began <= p["sent"] <= ended]
    lags = [p["lag_ms"] for p in during if p["lag_ms"] is not None]
    if not lags:
        raise RuntimeError(f"no probe showed up on the replica ({len(during)} sent during the load)")
    sample = {"round": rnd + 1, "p50_ms": percentile(lags, 50), "p99_ms": percentile(lags, 99), "max_ms": max(lags),
              "mean_ms": statistics.fmean(lags), "probes": len(during), "lost": len(during) - len(lags),
              "get_rtt_ms": statistics.median(probe.get_rtts) * 1e3 if probe.get_rtts else None,
              "catchup_ms": None if catchup_s is None else catchup_s * 1e3,
              "rps": load["rps"], "load_p99_ms": load["p99_ms"], "load_s": ended - began,
              "master_cpu_us": master_cpu * 1e6 / load["requests"],
              "replica_cpu_us": replica_cpu * 1e6 / load["requests"], "lags_ms": lags}
    results["lag"][kind].append(sample)
    catchup = "–" if catchup_s is None else f"{catchup_s * 1e3:.0f} ms"
    log(f"round {rnd + 1} {kind:6} lag p50 {sample['p50_ms']:.2f}  p99 {sample['p99_ms']:.2f}  "
        f"max {sample['max_ms']:.2f} ms over {len(lags)} probes ({sample['lost']} lost), master "
        f"{load['rps']:,.0f} req/s, catch-up {catchup}")
    for problem in problems:
        note_problem(results, rnd, kind, "a", problem, False)


# --- b: full sync ------------------------------------------------------------------------

def wait_full_sync(master, replica, keys):
    """Seconds from spawning `replica` until it is synced and DBSIZE answers `keys`,
    and until it first answered INFO."""
    ready_s, info, last = None, {}, None
    while True:
        check_running(replica, "replica", starting=ready_s is None)
        try:
            info = benchlib.info_fields(replica.port, "replication")
            if ready_s is None:
                ready_s = time.monotonic() - replica.started
            if replica_synced(info):
                count = dbsize(replica.port)
                if count == keys:
                    return time.monotonic() - replica.started, ready_s
                last = f"DBSIZE {count}"
        except (OSError, RuntimeError) as error:
            last = str(error)
        elapsed = time.monotonic() - replica.started
        if elapsed > SYNC_TIMEOUT_S:
            if ready_s is None or not replica_synced(info):
                raise NotSupported(f"the replica was not synced {SYNC_TIMEOUT_S} s after its spawn: INFO replication "
                                   f"has {link_state(info)}; last: {last}")
            raise RuntimeError(f"the replica is synced but its DBSIZE is not {keys} {SYNC_TIMEOUT_S} s after its "
                               f"spawn; last: {last}")
        time.sleep(SYNC_POLL_S)


def expect_value(port, key, value):
    got = benchlib.resp_command(port, "GET", key)
    if got != value:
        raise RuntimeError(f"GET {key} on the replica is {got!r}, not {value!r}")


def full_sync_session(args, results, rnd, kind, pipe_path):
    master = replica = None
    try:
        master = start_master(args, kind)
        started = time.monotonic()
        benchlib.pipe(master.port, args.client_cpu, pipe_path, args.sync_keys)
        load_s = time.monotonic() - started
        if (count := dbsize(master.port)) != args.sync_keys:
            raise RuntimeError(f"the master holds {count} keys after loading {args.sync_keys}")
        rewrite_s = rewrite_journal(master)
        master_cpu = cpu_seconds_with_children(master.pid)
        replica = start_replica(args, kind, master.port, wait=False)
        sync_s, ready_s = wait_full_sync(master, replica, args.sync_keys)
        replica_cpu = replica.cpu_seconds()
        for i in (0, args.sync_keys - 1):
            expect_value(replica.port, "key:%012d" % i, "val:%028d" % i)
        wait_idle(replica, "replica")
        idle_s = time.monotonic() - replica.started
        wait_idle(master, "master")  # a forked save is reaped, so its CPU counts
        master_cpu = cpu_seconds_with_children(master.pid) - master_cpu
        peak_rss_mib = replica.peak_rss_kib() / 1024
    finally:
        stop_all(replica, master)
    sample = {"round": rnd + 1, "sync_s": sync_s, "ready_s": ready_s, "idle_s": idle_s, "master_cpu_s": master_cpu,
              "replica_cpu_s": replica_cpu, "replica_peak_rss_mib": peak_rss_mib, "load_s": load_s,
              "rewrite_s": rewrite_s}
    results["full_sync"][kind].append(sample)
    log(f"round {rnd + 1} {kind:6} full sync of {args.sync_keys:,} keys {sync_s:.3f} s (answered INFO at "
        f"{ready_s:.3f} s, idle at {idle_s:.2f} s), CPU master {master_cpu:.2f} s replica {replica_cpu:.2f} s")


# --- c: master throughput ----------------------------------------------------------------

def throughput_session(args, results, rnd, kind, attachment):
    master = replica = None
    problems = []
    try:
        master = start_master(args, kind)
        if attachment == "attached":
            replica = start_replica(args, kind, master.port)
            wait_settled(master, replica)
            replica_cpu = replica.cpu_seconds()
        sleeps = voluntary_switches(master.pid)
        sample = benchlib.measure(master, lambda: benchlib.run_redis_benchmark(
            master.port, args.client_cpu, "set", args.requests, CLIENTS, 1, KEYSPACE, VALUE_BYTES))
        sample["sleeps_per_1k"] = (voluntary_switches(master.pid) - sleeps) * 1e3 / sample["requests"]
        if replica is not None:
            sample["replica_cpu_us"] = (replica.cpu_seconds() - replica_cpu) * 1e6 / sample["requests"]
            catchup_s, problems = catch_up(master, replica)
            sample["catchup_ms"] = None if catchup_s is None else catchup_s * 1e3
    finally:
        stop_all(replica, master)
    sample["round"] = rnd + 1
    results["throughput"][attachment][kind].append(sample)
    extra = f"  replica {sample['replica_cpu_us']:.2f} µs/req" if replica is not None else ""
    log(f"round {rnd + 1} {kind:6} SET P1 {attachment:8} {sample['rps']:>10,.0f} req/s "
        f"{sample['cpu_us']:6.2f} µs/req{extra}  p50 {sample['p50_ms']:.3f}  p99 {sample['p99_ms']:.3f} ms")
    for problem in problems:
        note_problem(results, rnd, kind, f"c-{attachment}", problem, False)


# --- report --------------------------------------------------------------------------------

LAG_METRICS = ("p50_ms", "p99_ms", "max_ms", "mean_ms", "probes", "lost", "get_rtt_ms", "catchup_ms", "rps",
               "master_cpu_us", "replica_cpu_us")
SYNC_METRICS = ("sync_s", "ready_s", "idle_s", "master_cpu_s", "replica_cpu_s", "replica_peak_rss_mib", "load_s")
THROUGHPUT_METRICS = ("rps", "cpu_us", "replica_cpu_us", "p50_ms", "p99_ms", "catchup_ms", "sleeps_per_1k")


def medians(results):
    def of(samples, metrics):
        return {m: benchlib.median(samples, m) for m in metrics}
    return {
        "lag": {kind: {**of(samples, LAG_METRICS), "worst_max_ms": max(s["max_ms"] for s in samples)}
                for kind, samples in results["lag"].items() if samples},
        "full_sync": {kind: of(samples, SYNC_METRICS) for kind, samples in results["full_sync"].items() if samples},
        "throughput": {attachment: {kind: of(samples, THROUGHPUT_METRICS) for kind, samples in by_kind.items()
                                    if samples}
                       for attachment, by_kind in results["throughput"].items()},
    }


def ratio(corekv, redis):
    return f"{corekv / redis:.2f}" if corekv is not None and redis else "–"


def cell(results, part, kind, by_kind, key, fmt):
    if kind in by_kind:
        value = by_kind[kind].get(key)
        return "–" if value is None else fmt.format(value)
    why = unsupported(results, part, kind)
    return NOT_SUPPORTED if why else "–"


def section_table(results, part, title, rows, med):
    lines = [title, "", "| | Redis | corekv | corekv/Redis |", "|---|---:|---:|---:|"]
    for key, row_title, fmt in rows:
        cells = [cell(results, part, kind, med, key, fmt) for kind in SERVERS]
        lines.append(f"| {row_title} | {cells[0]} | {cells[1]} | "
                     f"{ratio(*(med.get(kind, {}).get(key) for kind in ('corekv', 'redis')))} |")
    return lines


def lag_table(args, results):
    title = (f"**Replica lag** under `redis-benchmark -t set -c {CLIENTS} -P {LAG_PIPELINE} -n {args.lag_requests} "
             f"-r {KEYSPACE} -d {VALUE_BYTES}` on the master: a probe every {PROBE_INTERVAL_S * 1e3:g} ms, "
             "SET on the master, then GET on the replica (every "
             f"{PROBE_POLL_S * 1e3:g} ms) until the value shows; lag from the master's +OK to that GET's reply.")
    rows = (("p50_ms", "lag p50, ms", "{:.2f}"),
            ("p99_ms", "lag p99, ms", "{:.2f}"),
            ("max_ms", "lag max, ms", "{:.2f}"),
            ("worst_max_ms", "lag max, highest of the rounds, ms", "{:.2f}"),
            ("probes", "probes during the load", "{:.0f}"),
            ("lost", f"probes not visible within {PROBE_TIMEOUT_S:g} s", "{:.0f}"),
            ("get_rtt_ms", "replica GET round trip (nil replies) p50, ms", "{:.2f}"),
            ("rps", "master SET requests/s", "{:,.0f}"),
            ("master_cpu_us", "master CPU µs/req", "{:.2f}"),
            ("replica_cpu_us", "replica CPU µs per master request", "{:.2f}"),
            ("catchup_ms", "catch-up after the load (replica offset ≥ master's), ms", "{:.1f}"))
    return section_table(results, "a", title, rows, results["medians"]["lag"])


def sync_table(args, results):
    title = (f"**Full sync**: a master loaded with {args.sync_keys:,} keys (16 B keys, {VALUE_BYTES} B values, "
             "redis-cli --pipe) and BGREWRITEAOF, then a fresh replica spawned with `--replicaof`; times from "
             "the spawn.")
    rows = (("sync_s", f"until link up, sync not in progress and DBSIZE {args.sync_keys:,}, s", "{:.3f}"),
            ("ready_s", "until the replica first answered INFO, s", "{:.3f}"),
            ("master_cpu_s", "master CPU for the sync (with forked children), s", "{:.2f}"),
            ("replica_cpu_s", "replica CPU until synced, s", "{:.2f}"),
            ("replica_peak_rss_mib", "replica peak RSS, MiB", "{:.1f}"),
            ("idle_s", "until the replica's persistence was idle, s", "{:.2f}"),
            ("load_s", f"loading the master ({args.sync_keys:,} SETs, redis-cli --pipe), s", "{:.2f}"))
    return section_table(results, "b", title, rows, results["medians"]["full_sync"])


def throughput_table(args, results):
    med = results["medians"]["throughput"]
    lines = [f"**Master throughput**: `redis-benchmark -t set -c {CLIENTS} -P 1 -n {args.requests} -r {KEYSPACE} "
             f"-d {VALUE_BYTES}` on a fresh master, without a replica and with a settled one (same CPU).", "",
             "| replica | Redis req/s | corekv req/s | corekv/Redis | Redis master CPU µs/req "
             "| corekv master CPU µs/req | corekv/Redis | Redis replica CPU µs/req | corekv replica CPU µs/req |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for attachment in ATTACHMENTS:
        by_kind, part = med.get(attachment, {}), f"c-{attachment}"
        cells = []
        for key, fmt in (("rps", "{:,.0f}"), ("cpu_us", "{:.2f}")):
            cells += [cell(results, part, kind, by_kind, key, fmt) for kind in SERVERS]
            cells.append(ratio(*(by_kind.get(kind, {}).get(key) for kind in ("corekv", "redis"))))
        if attachment == "attached":
            cells += [cell(results, part, kind, by_kind, "replica_cpu_us", "{:.2f}") for kind in SERVERS]
        else:
            cells += ["", ""]
        lines.append(f"| {attachment} | " + " | ".join(cells) + " |")
    notes, sleeps = [], []
    for kind in SERVERS:
        none, attached = (med.get(a, {}).get(kind) for a in ATTACHMENTS)
        if none and attached:
            both = (attached["cpu_us"] + attached["replica_cpu_us"]) / none["cpu_us"]
            notes.append(f"{SERVER_TITLES[kind]} {attached['rps'] / none['rps']:.2f}× the requests/s, "
                         f"{attached['cpu_us'] / none['cpu_us']:.2f}× the master CPU per request and {both:.2f}× "
                         "with the replica's added")
            sleeps.append(f"{SERVER_TITLES[kind]} {none['sleeps_per_1k']:.0f} without a replica, "
                          f"{attached['sleeps_per_1k']:.0f} with one")
    if notes:
        lines += ["", "With a replica attached, against none: " + "; ".join(notes) + ". Master and replica share "
                  "one CPU, so a master with a replica finds requests waiting more often when it gets the CPU "
                  "back, and sleeps less (voluntary context switches of the master per 1,000 requests: "
                  + "; ".join(sleeps) + "); its CPU per request can fall for that reason alone."]
    return lines


def render(args, results):
    m, load = results["machine"], results["load_average"]
    lines = [
        f"corekv vs Redis {m['redis_server']} with one replica: medians of {args.rounds} alternating "
        f"round{'s' if args.rounds != 1 else ''}. Master and replica both on CPU {args.server_cpu} (the machine "
        f"has {m['nproc']} CPUs), clients and the lag probe on CPU {args.client_cpu}. Both servers of a pair run "
        f"`{' '.join(EVERYSEC)}` (Redis also `--save ''` and `{' '.join(REDIS_FLAGS)}`; corekv `--shards 1 "
        f"--cpus {args.server_cpu}`, its replica `{' '.join(COREKV_REPLICA_FLAGS)}`); replicas start with "
        "`--replicaof \"127.0.0.1 PORT\"`.",
        "",
        f"Machine: {m['nproc']} CPUs, {m['cpu_model']}, Linux {m['kernel']}; load average "
        f"{load['start'][0]:.2f} at the start, {load['end'][0]:.2f} at the end; {results['settings']['date']}.",
        f"Reproduce with `{results['command']}`.",
        "",
    ]
    tables = {"a": lag_table, "b": sync_table, "c": throughput_table}
    for section in args.only:
        lines += [*tables[section](args, results), ""]
    for part, by_kind in results["unsupported"].items():
        for kind, why in by_kind.items():
            lines.append(f"{SERVER_TITLES[kind]}, {PART_TITLES[part]}: not supported: {why}.")
    if results["unsupported"]:
        lines.append("")
    for failure in results["failures"]:
        lines.append(f"{SERVER_TITLES[failure['server']]}, {PART_TITLES[failure['part']]}, round "
                     f"{failure['round']}: failed: {failure['what']}.")
    return "\n".join(lines).rstrip("\n") + "\n"


# --- main ------------------------------------------------------------------------------------

def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help=f"smoke run: {QUICK['lag_requests']:,} requests for the lag, {QUICK['sync_keys']:,} keys to "
                         f"sync, {QUICK['requests']:,} requests per throughput load")
    benchlib.add_section_args(ap, "replication", SECTIONS, "CPU for master and replica")
    args = ap.parse_args()
    return benchlib.check_section_args(ap, args, SECTIONS, QUICK if args.quick else FULL)


def main():
    args = parse_args()
    benchlib.require_tools("redis-server", "redis-benchmark", "redis-cli", "taskset")
    if not args.no_build:
        benchlib.cargo_build_release("corekv-server")
    os.sched_setaffinity(0, {int(cpu) for cpu in args.client_cpu.split(",")})
    results = {
        "format": "corekv-bench-replication/1",
        "command": shlex.join(["bench/replication.py", *sys.argv[1:]]),
        "machine": benchlib.machine(),
        "settings": {**vars(args), "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds")},
        "load_average": {"start": os.getloadavg()},
        "lag": {kind: [] for kind in SERVERS},
        "full_sync": {kind: [] for kind in SERVERS},
        "throughput": {attachment: {kind: [] for kind in SERVERS} for attachment in ATTACHMENTS},
        "unsupported": {},  # part (a, b, c-none, c-attached) -> server -> why
        "failures": [],  # {round, server, part, what}
    }
    with tempfile.TemporaryDirectory(prefix="bench-replication-") as scratch:
        pipe_path = os.path.join(scratch, "sync.resp")
        if "b" in args.only:
            benchlib.write_set_pipe_file(pipe_path, args.sync_keys)
        for rnd in range(args.rounds):
            if "a" in args.only:
                for kind in benchlib.round_order(rnd):
                    guarded(results, rnd, kind, "a", lambda: lag_session(args, results, rnd, kind))
            if "b" in args.only:
                for kind in benchlib.round_order(rnd):
                    guarded(results, rnd, kind, "b", lambda: full_sync_session(args, results, rnd, kind, pipe_path))
            if "c" in args.only:
                for attachment in ATTACHMENTS:
                    for kind in benchlib.round_order(rnd):
                        guarded(results, rnd, kind, f"c-{attachment}",
                                lambda: throughput_session(args, results, rnd, kind, attachment))
    results["load_average"]["end"] = os.getloadavg()
    results["medians"] = medians(results)
    table = render(args, results)
    print(table)
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out + ".md", "w") as f:
        f.write(table)
    with open(args.out + ".json", "w") as f:
        json.dump(results, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
