#!/usr/bin/env python3
"""corekv vs redis-server side by side: the benchmark suite behind README's table.

Both servers get one CPU (redis-server --save '' --appendonly no; corekv-server
--shards 1 --cpus CPU --appendonly no), pinned with taskset away from the clients'
CPU. Every round starts each server fresh and runs the same loads on both, Redis
first in odd rounds and corekv first in even ones, so drifting machine noise hits
both alike. Reported are medians over the rounds and corekv/Redis ratios of
requests/s, server CPU µs per request (utime + stime from /proc/PID/stat),
p50/p99/p99.9 latency and peak RSS (VmHWM from /proc/PID/status, reset before each
load).

Cases, with 50 connections over 100,000 keys and 32-byte values:
  closed loop  SET and GET at P1 and P16, with corekv-loadgen and redis-benchmark
  open loop    SET and GET with corekv-loadgen --rate at half and at 90% of the highest
               rate Redis reached in the closed-loop P1 cases (either tool, any
               round); these run in a second series of alternating rounds,
               after the others
  MSET         10 keys per command, both tools
  MULTI        MULTI / INCR / INCR / EXEC per transaction with bench/txclient.py (one
               write per transaction, 50 connections): both keys on one shard of a
               one-shard corekv, and one key on each shard of a two-shard corekv
               (both shards on the server CPU); Redis runs the same keys
  lists        LPUSH, RPUSH, LPOP, RPOP, LRANGE_100 and LRANGE_600 at P1, redis-benchmark
  job queue    bench/queueclient.py on a fresh server: 50 worker connections waiting
               in BRPOP on one list, 8 producer connections sending LPUSH (each the
               next as soon as one is answered): elements popped per second (the
               req/s column), server CPU µs per popped element, and each element's
               time from its LPUSH being sent to its BRPOP reply (the latency columns)
  persistence  off against everysec: SET P1 with redis-benchmark, SET P1 and P16
               with corekv-loadgen, on fresh prefilled servers started with
               --appendonly no and with --appendonly yes --appendfsync everysec
               (both settings every round, the servers alternating in each); a
               server that refuses a setting at start-up is reported as not
               supported in that setting's rows only. bench/persistence.py goes
               further (always, restart time, journal bytes per SET).
  sorted sets  ZADD and ZPOPMIN P1 (redis-benchmark -t zadd,zpopmin, members from
               the keyspace), then ZRANGE 0 99 WITHSCORES and ZRANGEBYSCORE LIMIT 0
               10 on one 1,000,000-member sorted set written through redis-cli
               --pipe, redis-benchmark, --requests or ZSET_REQUESTS requests each
  memory       1,000,000 SETs of 16-byte keys and 32-byte values through
               redis-cli --pipe: INFO used_memory and RSS growth per key
  families     each command family's rows and value memory (bench/families.py:
               hashes, sets, ...), redis-benchmark on fresh servers
  idle         10,000 connections that each sent one PING and then nothing: RSS
               growth per connection, and the server's CPU over 10 s of quiet
               (the connection count is capped by the file-descriptor limit)
  pub/sub      PUBLISH of 16-byte messages to one channel with 1 and with 100
               subscribers (one connection each, drained by this script), one
               publisher connection at P16 with redis-benchmark: published messages/s
               and server CPU µs per published message (every delivery included)
  cross-shard MSET
               the MSET loads (10 random keys per command, both tools) on a corekv of
               two shards, both on the server CPU (`--shards 2 --cpus SERVER_CPU`, the
               MULTI section's two-shard layout), so nearly every MSET spans both;
               Redis beside it as in the one-shard MSET rows
  cross-shard GET
               GET P1 and P16 on that two-shard corekv with bench/shardclient.py, each
               connection's keys on its home shard (the core that accepted it) or all
               on the other shard: server CPU µs per request of each, and other/home
               (issue "Network stage 2" targets ≤ 1.3). The method: a key's shard is
               crc16(key) % 16384 % shards (engine/src/slot.rs; Python's
               binascii.crc_hqx is that CRC), so the prefilled keys key:0 .. split
               into a list per shard; a connection's home is where SO_REUSEPORT put
               it, found by sending it PINGs one at a time and seeing which shard-N
               thread's run time (/proc/PID/task/TID/schedstat) grows. The client
               measures the server's CPU over the GETs alone. Redis runs the home
               loads with the same client, as the one-thread reference
  floor        `corekv-server --canned-reply` (every request framed and answered +OK
               through corekv's driver and session, no command run) against the raw
               io_uring loop loadgen/examples/raw_uring.rs (multishot accept, multishot
               receive into provided buffers, one send of +OK per request per loop
               turn): CPU µs per request and req/s under corekv-loadgen GET at P1 and
               P16, both one thread on the server CPU; target canned ≤ 1.15× raw

    bench/suite.py                 # full run, about 30 minutes on 2 CPUs
    bench/suite.py --quick         # smoke run, about 3 minutes
    bench/suite.py --rounds 5 --duration 10 --server-cpu 2 --client-cpu 3
    bench/suite.py --only floor,cross-get --rounds 1   # some sections alone
    bench/suite.py --baseline /tmp/before/corekv-server  # a change against the build before it

Sections for --only, in run order: closed (SET/GET P1 and P16, MSET, lists),
persistence, memory, zset, multi, queue, cross-mset, cross-get, floor, open, pubsub,
idle, families; open takes its rates from closed (or --rate). --baseline runs
another corekv-server binary as a third server, `corekv baseline`, in the same
alternating rounds (every section but floor and families), and adds a
corekv/baseline ratio table: a change measured against its previous build on the
same machine at the same time.

Closed-loop loads run --duration seconds with corekv-loadgen; redis-benchmark, which
has no duration, sends as many requests as the same server answered in that time
under corekv-loadgen just before (so a slow server does not stretch the run).
--requests N makes every closed-loop load N requests instead.

Writes the Markdown tables to stdout and bench/results/latest.md, and every sample to
bench/results/latest.json (with --only: only-SECTIONS.md and .json). Needs
redis-server, redis-benchmark, redis-cli and taskset on PATH; builds corekv-server
and corekv-loadgen (and the raw loop, for the floor) in release mode first
(--no-build: use target/release as it is).
"""

import argparse
import dataclasses
import resource
import datetime
import json
import os
import selectors
import shlex
import socket
import sys
import tempfile
import threading
import time

import benchlib
import families

SERVERS = benchlib.SERVERS
# The --baseline binary runs as a third server, `base`, beside these two.
BASELINE = "base"
SERVER_TITLES = {"redis": "Redis", "corekv": "corekv", BASELINE: "corekv baseline"}
# Ratio columns: (server, against) and their titles, in table order.
RATIO_PAIRS = {("corekv", "redis"): "corekv/Redis", ("corekv", BASELINE): "corekv/baseline"}
LOADGEN, REDIS_BENCHMARK = "corekv-loadgen", "redis-benchmark"
TXCLIENT = "txclient"
TXCLIENT_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "txclient.py")
QUEUECLIENT = "queueclient"
QUEUECLIENT_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "queueclient.py")
SHARDCLIENT = "shardclient"
SHARDCLIENT_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "shardclient.py")
# The raw io_uring loop of the floor section (loadgen/examples/raw_uring.rs).
RAW_LOOP_EXAMPLE = "raw_uring"
RAW_LOOP = os.path.join(benchlib.ROOT, "target", "release", "examples", RAW_LOOP_EXAMPLE)
# Shards of the cross-shard sections' corekv, all on the server CPU.
CROSS_SHARDS = 2
# MULTI cases: corekv shards, and two keys on one shard / on the two shards.
MULTI_SHARDS = {"multi-1shard": (1, ("{tx}1", "{tx}2")), "multi-2shards": (2, ("tx:a", "tx:b"))}
MSET_KEYS = 10
EVERYSEC = ("--appendonly", "yes", "--appendfsync", "everysec")
# Persistence settings of the persistence section: server flags, and title.
PERSISTENCE = {"off": benchlib.APPENDONLY_NO, "everysec": EVERYSEC}
PERSISTENCE_TITLES = {"off": "persistence off", "everysec": "everysec"}
NOT_SUPPORTED = "not supported by this build"
# Open-loop rate as a share of the closed-loop P1 maximum: loaded, not saturated.
# Open-loop rates as shares of the best closed-loop P1 rate; --rate fixes the first.
OPEN_LOOP_SHARES = (0.5, 0.9)
# redis-benchmark request counts and open-loop rates are rounded to these.
REQUESTS_STEP = 10_000
RATE_STEP = 1_000
MEMORY_KEY_BYTES, MEMORY_VALUE_BYTES = 16, 32
SEED = 1
FULL = {"duration": 5.0, "memory_keys": 1_000_000, "publish_messages": 1_000_000,
        "idle_connections": 10_000, "idle_window_s": 10.0}
QUICK = {"duration": 1.0, "memory_keys": 100_000, "publish_messages": 100_000,
         "idle_connections": 1_000, "idle_window_s": 2.0}
# The sections, in run order (--only).
SECTIONS = ("closed", "persistence", "memory", "zset", "multi", "queue", "cross-mset", "cross-get", "floor",
            "open", "pubsub", "idle", "families")
# Descriptors the servers and this script keep beside the idle connections.
IDLE_SPARE_FDS = 128
IDLE_SETTLE_S = 1.0
# Pub/sub loads: subscriber counts, the channel, the message size and the publisher's
# pipeline (one publisher connection).
PUBSUB_SUBSCRIBERS = (1, 100)
PUBSUB_CHANNEL = "bench:channel"
PUBSUB_MESSAGE_BYTES = 16
PUBSUB_PIPELINE = 16
PUBSUB_DRAIN_BYTES = 256 * 1024
METRICS = (  # key in a sample, column title, format
    ("rps", "req/s", "{:,.0f}"),
    ("cpu_us", "server CPU µs/req", "{:.2f}"),
    ("p50_ms", "p50 ms", "{:.3f}"),
    ("p99_ms", "p99 ms", "{:.3f}"),
    ("p99_9_ms", "p99.9 ms", "{:.3f}"),
    ("peak_rss_mib", "peak RSS MiB", "{:.1f}"),
)


@dataclasses.dataclass(frozen=True)
class Case:
    key: str
    tool: str
    command: str
    pipeline: int = 1
    open_loop: float = 0.0  # open-loop cases: their share of the best closed-loop rate
    persistence: str = ""  # a PERSISTENCE key: the persistence section's cases
    subscribers: int = 0  # the pub/sub section's cases
    shards: int = 1  # corekv's shards (Redis has one thread whatever this says)

    def title(self, plan):
        if self.subscribers:
            noun = "subscriber" if self.subscribers == 1 else "subscribers"
            load = f"PUBLISH to {self.subscribers} {noun} P{self.pipeline}"
        elif self.open_loop:
            load = f"{self.command.upper()} open loop {plan.rate(self):,}/s"
        elif self.command in ZSET_TITLES:
            load = f"{ZSET_TITLES[self.command]} P{self.pipeline}"
        elif self.command == "mset":
            load = f"MSET {MSET_KEYS} keys P{self.pipeline}"
        elif self.command == QUEUE_COMMAND:
            load = f"BRPOP job queue, {QUEUE_WORKERS} workers, {QUEUE_PRODUCERS} LPUSH producers (elements/s)"
        elif self.command in MULTI_SHARDS:
            shards = MULTI_SHARDS[self.command][0]
            load = f"MULTI/INCR×2/EXEC, {'one shard' if shards == 1 else 'two shards'} (tx/s)"
        elif self.command in SHARD_GET_KEYS:
            load = f"GET P{self.pipeline}, keys on {SHARD_GET_KEYS[self.command]}"
        else:
            load = f"{self.command.upper()} P{self.pipeline}"
        if self.persistence:
            load += f", {PERSISTENCE_TITLES[self.persistence]}"
        if self.shards > 1:
            load += f", corekv {self.shards} shards"
        return f"{load} · {self.tool}"


def closed(tool, command, pipeline, persistence="", shards=1):
    suffix = (f"-{persistence}" if persistence else "") + (f"-{shards}shards" if shards > 1 else "")
    return Case(f"{command}-p{pipeline}-{tool}{suffix}", tool, command, pipeline, persistence=persistence,
                shards=shards)


# Keys: `get-open-...` at the first share (the key earlier results used), then
# `get-open90-...`.
OPEN_CASES = tuple(Case(f"{c}-open{'' if i == 0 else round(share * 100)}-{LOADGEN}", LOADGEN, c, open_loop=share)
                   for i, share in enumerate(OPEN_LOOP_SHARES) for c in ("set", "get"))
MSET_LOADGEN, MSET_REDIS_BENCHMARK = (closed(tool, "mset", 1) for tool in (LOADGEN, REDIS_BENCHMARK))
# List loads as redis-benchmark names them (one list, `mylist`), P1, run in this order
# so the pops find elements. `lrange_100` and `lrange_600` make redis-benchmark push its
# own list first; their rate and p50/p99 are the LRANGE step's.
LIST_COMMANDS = ("lpush", "rpush", "lpop", "rpop", "lrange_100", "lrange_600")
LIST_CASES = tuple(closed(REDIS_BENCHMARK, command, 1) for command in LIST_COMMANDS)
# redis-benchmark requests per list load (corekv-loadgen has no list twin to size it).
LIST_REQUESTS = 100_000
# The job-queue load (bench/queueclient.py): BRPOP workers and LPUSH producers on one
# list, on a fresh server each round.
QUEUE_COMMAND, QUEUE_KEY = "brpop-queue", "queue"
QUEUE_WORKERS, QUEUE_PRODUCERS = 50, 8
QUEUE_CASE = Case(f"{QUEUE_COMMAND}-{QUEUECLIENT}", QUEUECLIENT, QUEUE_COMMAND)
# Run order: corekv-loadgen's closed-loop cases first (they size redis-benchmark's
# runs), SET before GET so GET finds values.
CLOSED_CASES = (
    *(closed(tool, command, p) for tool in (LOADGEN, REDIS_BENCHMARK) for p in (1, 16) for command in ("set", "get")),
    MSET_LOADGEN,
    MSET_REDIS_BENCHMARK,
    *LIST_CASES,
)
# Cross-shard MSET: the MSET loads on a corekv of CROSS_SHARDS shards (each command's
# ten random keys nearly always span both), corekv-loadgen first to size redis-benchmark.
MSET_CROSS_CASES = tuple(closed(tool, "mset", 1, shards=CROSS_SHARDS) for tool in (LOADGEN, REDIS_BENCHMARK))
# Cross-shard GET (bench/shardclient.py): each connection's keys on its home shard or
# on the other one; Redis runs the home loads only, as the one-thread reference.
SHARD_GET_KEYS = {"get-home": "the connection's home shard", "get-other": "the other shard"}
SHARD_GET_CASES = tuple(Case(f"{command}-p{p}-{SHARDCLIENT}-{CROSS_SHARDS}shards", SHARDCLIENT, command, p,
                             shards=CROSS_SHARDS) for p in (1, 16) for command in SHARD_GET_KEYS)
# The floor: corekv-server --canned-reply against the raw io_uring loop, each
# answering every request +OK, under corekv-loadgen GET at these pipelines.
FLOOR_SERVERS = ("raw", "canned")
FLOOR_TITLES = {"raw": "raw io_uring loop", "canned": "corekv --canned-reply"}
FLOOR_PIPELINES = (1, 16)
# Targets the new rows' notes check against (issue "Network stage 2").
SHARD_GET_RATIO_TARGET = 1.3
FLOOR_RATIO_TARGET = 1.15
PUBSUB_CASES = tuple(Case(f"publish-s{n}-{REDIS_BENCHMARK}", REDIS_BENCHMARK, "publish", PUBSUB_PIPELINE,
                          subscribers=n) for n in PUBSUB_SUBSCRIBERS)
MULTI_CASES = tuple(Case(f"{command}-{TXCLIENT}", TXCLIENT, command) for command in MULTI_SHARDS)
# Per setting, in run order: corekv-loadgen's P1 sizes redis-benchmark's run.
PERSISTENCE_LOADS = ((LOADGEN, 1), (REDIS_BENCHMARK, 1), (LOADGEN, 16))
PERSISTENCE_TABLE_LOADS = ((REDIS_BENCHMARK, 1), (LOADGEN, 1), (LOADGEN, 16))
PERSISTENCE_CASES = {setting: tuple(closed(tool, "set", p, setting) for tool, p in PERSISTENCE_LOADS)
                     for setting in PERSISTENCE}
# Table order: each load's two tools side by side.
TABLE_CASES = (
    *(closed(tool, command, p) for p in (1, 16) for command in ("get", "set") for tool in (REDIS_BENCHMARK, LOADGEN)),
    *(c for share in OPEN_LOOP_SHARES for command in ("get", "set") for c in OPEN_CASES
      if c.open_loop == share and c.command == command),
    MSET_REDIS_BENCHMARK,
    MSET_LOADGEN,
    *MULTI_CASES,
    *LIST_CASES,
    QUEUE_CASE,
    *(closed(tool, "set", p, setting) for tool, p in PERSISTENCE_TABLE_LOADS for setting in PERSISTENCE),
    *PUBSUB_CASES,
    *reversed(MSET_CROSS_CASES),
    *SHARD_GET_CASES,
)
assert sorted(c.key for c in TABLE_CASES) == sorted(
    c.key for c in CLOSED_CASES + OPEN_CASES + PUBSUB_CASES + MULTI_CASES + (QUEUE_CASE,)
    + sum(PERSISTENCE_CASES.values(), ()) + MSET_CROSS_CASES + SHARD_GET_CASES)



# Sorted sets: what each read case sends, and its title.
ZSET_KEY = "bench:zset"
ZSET_MEMBERS = 1_000_000
ZSET_MEMBERS_PER_ZADD = 1_000
ZSET_REQUESTS = 200_000
ZSET_READS = {
    "zrange": ("ZRANGE", ZSET_KEY, "0", "99", "WITHSCORES"),
    "zrangebyscore": ("ZRANGEBYSCORE", ZSET_KEY, "500000", "+inf", "LIMIT", "0", "10"),
}
ZSET_TITLES = {"zrange": "ZRANGE 0 99 WITHSCORES, 1M members",
               "zrangebyscore": "ZRANGEBYSCORE LIMIT 0 10, 1M members"}
ZSET_CASES = tuple(closed(REDIS_BENCHMARK, c, 1) for c in ("zadd", "zpopmin", *ZSET_READS))
TABLE_CASES += ZSET_CASES


def write_zset_pipe_file(path):
    """ZADD commands in RESP for redis-cli --pipe: members m0... with scores 0...,
    ZSET_MEMBERS_PER_ZADD per command; returns the command count."""
    commands = 0
    with open(path, "wb") as f:
        for first in range(0, ZSET_MEMBERS, ZSET_MEMBERS_PER_ZADD):
            members = range(first, min(ZSET_MEMBERS, first + ZSET_MEMBERS_PER_ZADD))
            words = [b"ZADD", ZSET_KEY.encode()]
            for i in members:
                words += [b"%d" % i, b"m%d" % i]
            f.write(b"*%d\r\n" % len(words) + b"".join(b"$%d\r\n%s\r\n" % (len(w), w) for w in words))
            commands += 1
    return commands


def zset_load(args, server, case):
    """One sorted-set case: redis-benchmark's own test, or a read of the big set."""
    requests = args.requests or ZSET_REQUESTS
    if case.command not in ZSET_READS:
        return benchlib.run_redis_benchmark(server.port, args.client_cpu, case.command, requests,
                                            args.clients, case.pipeline, args.keyspace)
    argv = ["redis-benchmark", "-p", str(server.port), "-n", str(requests), "-c", str(args.clients),
            "-P", str(case.pipeline), *ZSET_READS[case.command]]
    return benchlib.parse_redis_benchmark(benchlib.run_pinned(args.client_cpu, argv), requests)


def zset_session(args, plan, results, rnd, kind, pipe_path, commands):
    """The sorted-set cases on a fresh server holding the big sorted set."""
    server = start_server(args, kind)
    try:
        benchlib.pipe(server.port, args.client_cpu, pipe_path, commands)
        run_cases(args, plan, results, rnd, kind, server, ZSET_CASES)
    finally:
        server.stop()


@dataclasses.dataclass
class Plan:
    """Open-loop rates: shares of Redis's best closed-loop P1 rate over all rounds and
    both tools (noise only ever lowers a throughput, so the maximum is
    the robust estimate), unless --rate fixes the first share's rate (the others
    scale with it)."""

    best: dict  # command -> best closed-loop P1 requests/s
    fixed: int = 0  # --rate

    def learn(self, args, case, result):
        if args.rate or case.open_loop or case.persistence or case.subscribers:
            return
        if case.pipeline == 1 and case.command in ("get", "set"):
            self.best[case.command] = max(self.best.get(case.command, 0), result["rps"])

    def rate(self, case):
        """An open-loop case's requests/s."""
        if self.fixed:
            return round(self.fixed * case.open_loop / OPEN_LOOP_SHARES[0] / RATE_STEP) * RATE_STEP
        return max(RATE_STEP, round(self.best[case.command] * case.open_loop / RATE_STEP) * RATE_STEP)


def redis_benchmark_requests(args, session, case):
    """-n for a redis-benchmark case: --requests, or what corekv-loadgen got through on
    the same case and server in --duration seconds."""
    if args.requests:
        return args.requests
    if case.command in LIST_COMMANDS:
        return LIST_REQUESTS
    twin = session[case.key.replace(REDIS_BENCHMARK, LOADGEN)]
    return max(REQUESTS_STEP, round(twin["rps"] * args.duration / REQUESTS_STEP) * REQUESTS_STEP)


def loadgen_args(args, plan, case):
    flags = ["-t", case.command, "-c", args.clients, "--keyspace", args.keyspace,
             "--value-size", args.value_size, "--seed", SEED]
    if case.command == "mset":
        flags += ["--keys-per-command", MSET_KEYS]
    if case.open_loop:
        flags += ["--rate", plan.rate(case), "--duration", args.duration]
    else:
        flags += ["-P", case.pipeline]
        flags += ["-n", args.requests] if args.requests else ["--duration", args.duration]
    return [str(f) for f in flags]


def run_case(args, plan, session, server, case):
    def load():
        if case in ZSET_CASES:
            return zset_load(args, server, case)
        if case.tool == LOADGEN:
            return benchlib.run_loadgen(server.port, args.client_cpu, loadgen_args(args, plan, case))
        requests = redis_benchmark_requests(args, session, case)
        return benchlib.run_redis_benchmark(server.port, args.client_cpu, case.command, requests,
                                            args.clients, case.pipeline, args.keyspace, args.value_size)

    result = benchlib.measure(server, load)
    result["peak_rss_mib"] = result.pop("peak_rss_kib") / 1024
    return result


def run_txclient(args, port, keys):
    """One bench/txclient.py run pinned to the client CPU."""
    argv = [sys.executable, TXCLIENT_SCRIPT, "--port", str(port), "--keys", *keys,
            "--clients", str(args.clients), "--duration", str(args.duration)]
    return json.loads(benchlib.run_pinned(args.client_cpu, argv))


def multi_session(args, results, rnd, kind):
    """The MULTI cases, each on a fresh server: corekv with the case's shard count."""
    for case in MULTI_CASES:
        shards, keys = MULTI_SHARDS[case.command]
        server = start_server(args, kind, shards=shards)
        try:
            sample = benchlib.measure(server, lambda: run_txclient(args, server.port, keys))
        finally:
            server.stop()
        sample["peak_rss_mib"] = sample.pop("peak_rss_kib") / 1024
        sample["round"] = rnd + 1
        results["samples"].setdefault(case.key, {s: [] for s in args.kinds})[kind].append(sample)
        log_sample(rnd, kind, case.title(None), sample)


def run_queueclient(args, port):
    """One bench/queueclient.py run pinned to the client CPU."""
    argv = [sys.executable, QUEUECLIENT_SCRIPT, "--port", str(port), "--keys", QUEUE_KEY,
            "--workers", str(QUEUE_WORKERS), "--producers", str(QUEUE_PRODUCERS),
            "--duration", str(args.duration)]
    return json.loads(benchlib.run_pinned(args.client_cpu, argv))


def queue_session(args, results, rnd, kind):
    """The job-queue case on a fresh server: its CPU per popped element."""
    server = start_server(args, kind)
    try:
        sample = benchlib.measure(server, lambda: run_queueclient(args, server.port))
    finally:
        server.stop()
    sample["peak_rss_mib"] = sample.pop("peak_rss_kib") / 1024
    sample["round"] = rnd + 1
    results["samples"].setdefault(QUEUE_CASE.key, {s: [] for s in args.kinds})[kind].append(sample)
    log_sample(rnd, kind, QUEUE_CASE.title(None), sample)


def start_server(args, kind, shards=1, extra=()):
    """A fresh `redis`, `corekv` or `base` (the --baseline binary) on the server CPU,
    corekv with `shards` shards (all on that CPU); `extra` flags as benchlib.start."""
    binary = args.baseline if kind == BASELINE else benchlib.COREKV
    return benchlib.start("redis" if kind == "redis" else "corekv", args.server_cpu, shards=shards, extra=extra,
                          binary=binary)


def round_order(args, rnd):
    """The servers in round `rnd`'s order: as listed in odd rounds (1, 3, ...), reversed
    in even ones."""
    return args.kinds if rnd % 2 == 0 else tuple(reversed(args.kinds))


def record(args, results, rnd, kind, case, sample):
    sample["round"] = rnd + 1
    results["samples"].setdefault(case.key, {s: [] for s in args.kinds})[kind].append(sample)
    log_sample(rnd, kind, case.title(None), sample)


def mset_cross_session(args, plan, results, rnd, kind):
    """Cross-shard MSET on a fresh server: corekv with CROSS_SHARDS shards."""
    server = start_server(args, kind, shards=CROSS_SHARDS)
    try:
        run_cases(args, plan, results, rnd, kind, server, MSET_CROSS_CASES)
    finally:
        server.stop()


def run_shardclient(args, server, case, shards):
    """One bench/shardclient.py run pinned to the client CPU; it measures the server's
    CPU over its load alone (not its connections' classification)."""
    argv = [sys.executable, SHARDCLIENT_SCRIPT, "--port", str(server.port), "--pid", str(server.pid),
            "--shards", str(shards), "--keys", case.command.removeprefix("get-"),
            "--keyspace", str(args.keyspace), "--value-size", str(args.value_size),
            "--clients", str(args.clients), "-P", str(case.pipeline), "--duration", str(args.duration)]
    return json.loads(benchlib.run_pinned(args.client_cpu, argv))


def shard_get_session(args, results, rnd, kind):
    """Cross-shard GET on a fresh prefilled server; Redis runs the home loads only."""
    shards = 1 if kind == "redis" else CROSS_SHARDS
    server = start_server(args, kind, shards=shards)
    try:
        prefill(args, server)
        for case in SHARD_GET_CASES:
            if kind == "redis" and case.command != "get-home":
                continue
            benchlib.reset_peak_rss(server.pid)
            sample = run_shardclient(args, server, case, shards)
            sample["peak_rss_mib"] = server.peak_rss_kib() / 1024
            record(args, results, rnd, kind, case, sample)
    finally:
        server.stop()


def start_floor(args, kind):
    """The floor section's `raw` loop or `canned` corekv (one shard) on the server CPU;
    both answer PING `+OK`."""
    if kind == "canned":
        return benchlib.start("corekv", args.server_cpu, extra=("--canned-reply",), ready_reply="OK")
    port = benchlib.free_port()
    argv = ["taskset", "-c", args.server_cpu, RAW_LOOP, "--port", str(port)]
    return benchlib.Server(kind, argv, port, tempfile.mkdtemp(prefix="bench-raw-"), ready_reply="OK")


def floor_session(args, results, rnd, kind):
    """The floor loads on a fresh `raw` or `canned` server."""
    server = start_floor(args, kind)
    try:
        for pipeline in FLOOR_PIPELINES:
            flags = ["-t", "get", "-c", args.clients, "-P", pipeline, "--keyspace", args.keyspace, "--seed", SEED]
            flags += ["-n", args.requests] if args.requests else ["--duration", args.duration]
            flags = [str(f) for f in flags]
            sample = benchlib.measure(server, lambda: benchlib.run_loadgen(server.port, args.client_cpu, flags))
            sample["peak_rss_mib"] = sample.pop("peak_rss_kib") / 1024
            sample["round"] = rnd + 1
            results["floor"].setdefault(f"p{pipeline}", {k: [] for k in FLOOR_SERVERS})[kind].append(sample)
            log_sample(rnd, kind, f"floor: GET P{pipeline} · {LOADGEN}", sample)
    finally:
        server.stop()


def log(line):
    print(line, file=sys.stderr, flush=True)


def log_sample(rnd, kind, title, r):
    log(f"round {rnd + 1} {kind:6} {title:34} {r['rps']:>11,.0f} req/s {r['cpu_us']:6.2f} µs/req  p50 "
        f"{r['p50_ms']:.3f}  p99 {r['p99_ms']:.3f}  p99.9 {r['p99_9_ms']:.3f} ms  peak RSS {r['peak_rss_mib']:.1f} MiB")


def run_cases(args, plan, results, rnd, kind, server, cases):
    session = {}  # case key -> this server's sample, this round
    for case in cases:
        sample = run_case(args, plan, session, server, case)
        session[case.key] = sample
        sample["round"] = rnd + 1
        results["samples"].setdefault(case.key, {s: [] for s in args.kinds})[kind].append(sample)
        log_sample(rnd, kind, case.title(plan), sample)
        if kind == "redis":
            plan.learn(args, case, sample)


def prefill(args, server):
    """Writes the loads' keyspace once (corekv-loadgen --prefill)."""
    flags = ["-t", "get", "-n", "1", "-c", "1", "--prefill", "--keyspace", str(args.keyspace),
             "--value-size", str(args.value_size), "--seed", str(SEED)]
    benchlib.run_loadgen(server.port, args.client_cpu, flags)


def prefilled_session(args, plan, results, rnd, kind, cases, extra=()):
    """A fresh server (with `extra` flags) with the loads' keyspace written once, running
    `cases`."""
    server = start_server(args, kind, extra=extra)
    try:
        prefill(args, server)
        run_cases(args, plan, results, rnd, kind, server, cases)
    finally:
        server.stop()


def closed_session(args, plan, results, rnd, kind):
    prefilled_session(args, plan, results, rnd, kind, CLOSED_CASES)


def open_session(args, plan, results, rnd, kind):
    prefilled_session(args, plan, results, rnd, kind, OPEN_CASES)


def persistence_session(args, plan, results, rnd, kind, setting):
    """The persistence cases of one setting on a fresh prefilled server. A server that
    refused the setting once is not asked again; its rows say not supported."""
    refused = results["refused"].setdefault(setting, {})
    if kind in refused:
        return
    try:
        prefilled_session(args, plan, results, rnd, kind, PERSISTENCE_CASES[setting], PERSISTENCE[setting])
    except benchlib.Refused as refusal:
        refused[kind] = str(refusal)
        log(f"round {rnd + 1} {kind:6} refused {' '.join(PERSISTENCE[setting])}: {refusal}")


def memory_session(args, results, rnd, kind, pipe_path):
    server = start_server(args, kind)
    try:
        used_before = int(benchlib.info_fields(server.port, "memory")["used_memory"])
        rss_before_kib = server.rss_kib()
        started = time.monotonic()
        benchlib.pipe(server.port, args.client_cpu, pipe_path, args.memory_keys)
        load_s = time.monotonic() - started
        keys = benchlib.resp_command(server.port, "DBSIZE")
        if keys != args.memory_keys:
            raise RuntimeError(f"{kind} holds {keys} keys after loading {args.memory_keys}")
        memory = benchlib.info_fields(server.port, "memory")
        used_after = int(memory["used_memory"])
        sample = {
            "mem_allocator": memory.get("mem_allocator", "?"),
            "round": rnd + 1,
            "keys": keys,
            "used_memory_per_key_b": (used_after - used_before) / keys,
            "rss_per_key_b": (server.rss_kib() - rss_before_kib) * 1024 / keys,
            "used_memory_mib": used_after / 2**20,
            "peak_rss_mib": server.peak_rss_kib() / 1024,
            "load_s": load_s,
        }
    finally:
        server.stop()
    results["memory"][kind].append(sample)
    log(f"round {rnd + 1} {kind:6} memory: {sample['used_memory_per_key_b']:.1f} B/key used_memory, "
        f"{sample['rss_per_key_b']:.1f} B/key RSS, peak RSS {sample['peak_rss_mib']:.1f} MiB, "
        f"loaded in {load_s:.1f} s")


def idle_connection_count(wanted):
    """Raises this process's descriptor limit (the servers inherit it) as far as
    allowed; the connections that fit under it, at most `wanted`."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted + IDLE_SPARE_FDS if hard == resource.RLIM_INFINITY else min(hard, wanted + IDLE_SPARE_FDS)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return min(wanted, target - IDLE_SPARE_FDS)


def idle_session(args, results, rnd, kind):
    count = idle_connection_count(args.idle_connections)
    maxclients = ("--maxclients", str(count + IDLE_SPARE_FDS))
    server = start_server(args, kind, extra=maxclients)
    sockets = []
    try:
        ping = "*1\r\n$4\r\nPING\r\n".encode()
        if benchlib.resp_command(server.port, "PING") != "PONG":
            raise RuntimeError(f"{kind} does not answer PING")
        rss_before_kib = server.rss_kib()
        for _ in range(count):
            sockets.append(socket.create_connection(("127.0.0.1", server.port), timeout=benchlib.RESP_TIMEOUT_S))
        for s in sockets:
            s.sendall(ping)
        for s in sockets:
            if not s.recv(16).startswith(b"+PONG"):
                raise RuntimeError(f"{kind}: an idle connection got no PONG")
        time.sleep(IDLE_SETTLE_S)
        rss_after_kib = server.rss_kib()
        cpu_before, started = server.cpu_seconds(), time.monotonic()
        time.sleep(args.idle_window_s)
        cpu_after, ended = server.cpu_seconds(), time.monotonic()
        sample = {
            "round": rnd + 1,
            "connections": count,
            "rss_per_connection_b": (rss_after_kib - rss_before_kib) * 1024 / count,
            "idle_cpu_percent": 100 * (cpu_after - cpu_before) / (ended - started),
        }
    finally:
        for s in sockets:
            s.close()
        server.stop()
    results["idle"][kind].append(sample)
    log(f"round {rnd + 1} {kind:6} idle: {count} connections, {sample['rss_per_connection_b']:.0f} B RSS "
        f"each, {sample['idle_cpu_percent']:.2f}% of a CPU while idle")


class Subscribers:
    """`count` connections subscribed to the benchmark channel, drained by a thread
    (bytes read and dropped) so the server never holds their messages back."""

    def __init__(self, port, count):
        self.sockets = []
        self.selector = selectors.DefaultSelector()
        self.stopping = threading.Event()
        subscribe = f"*2\r\n$9\r\nSUBSCRIBE\r\n${len(PUBSUB_CHANNEL)}\r\n{PUBSUB_CHANNEL}\r\n".encode()
        for _ in range(count):
            s = socket.create_connection(("127.0.0.1", port), timeout=benchlib.RESP_TIMEOUT_S)
            s.sendall(subscribe)
            if not s.recv(PUBSUB_DRAIN_BYTES).startswith(b"*3\r\n$9\r\nsubscribe"):
                raise RuntimeError("SUBSCRIBE was not confirmed")
            s.setblocking(False)
            self.selector.register(s, selectors.EVENT_READ)
            self.sockets.append(s)
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self):
        while not self.stopping.is_set():
            for key, _ in self.selector.select(timeout=0.1):
                try:
                    key.fileobj.recv(PUBSUB_DRAIN_BYTES)
                except BlockingIOError:
                    pass

    def close(self):
        self.stopping.set()
        self.thread.join()
        for s in self.sockets:
            s.close()


def numsub(port):
    """`PUBSUB NUMSUB` of the benchmark channel."""
    name = PUBSUB_CHANNEL.encode()
    request = b"*3\r\n$6\r\nPUBSUB\r\n$6\r\nNUMSUB\r\n$%d\r\n%s\r\n" % (len(name), name)
    with socket.create_connection(("127.0.0.1", port), timeout=benchlib.RESP_TIMEOUT_S) as s:
        s.sendall(request)
        reader = s.makefile("rb")
        lines = [reader.readline() for _ in range(4)]
    return int(lines[3].strip()[1:])


def run_publish(port, client_cpu, messages):
    """redis-benchmark publishing `messages` messages from one connection."""
    argv = ["redis-benchmark", "-p", str(port), "-n", str(messages), "-c", "1", "-P", str(PUBSUB_PIPELINE),
            "PUBLISH", PUBSUB_CHANNEL, "m" * PUBSUB_MESSAGE_BYTES]
    return benchlib.parse_redis_benchmark(benchlib.run_pinned(client_cpu, argv), messages)


def pubsub_session(args, results, rnd, kind):
    """Each pub/sub case on a fresh server: subscribers first, then the publisher; a
    subscriber cut off meanwhile (over its output-buffer limit) fails the run, since
    its messages would no longer be delivered."""
    for case in PUBSUB_CASES:
        server = start_server(args, kind)
        subscribers = Subscribers(server.port, case.subscribers)
        try:
            sample = benchlib.measure(server, lambda: run_publish(server.port, args.client_cpu,
                                                                  args.publish_messages))
            still = numsub(server.port)
        finally:
            subscribers.close()
            server.stop()
        if still != case.subscribers:
            raise RuntimeError(f"{kind}: {case.subscribers - still} subscribers were cut off")
        sample["peak_rss_mib"] = sample.pop("peak_rss_kib") / 1024
        sample["round"] = rnd + 1
        results["samples"].setdefault(case.key, {s: [] for s in args.kinds})[kind].append(sample)
        log_sample(rnd, kind, case.title(None), sample)


def medians(results):
    out = {}
    for case_key, by_server in results["samples"].items():
        out[case_key] = {kind: {m: benchlib.median(samples, m) for m, _, _ in METRICS}
                         for kind, samples in by_server.items() if samples}
    memory_metrics = ("used_memory_per_key_b", "rss_per_key_b", "used_memory_mib", "peak_rss_mib", "load_s")
    out["memory"] = {kind: {m: benchlib.median(samples, m) for m in memory_metrics}
                     for kind, samples in results["memory"].items() if samples}
    idle_metrics = ("connections", "rss_per_connection_b", "idle_cpu_percent")
    out["idle"] = {kind: {m: benchlib.median(samples, m) for m in idle_metrics}
                   for kind, samples in results["idle"].items() if samples}
    out["floor"] = {load: {kind: {m: benchlib.median(samples, m) for m, _, _ in METRICS}
                           for kind, samples in by_server.items() if samples}
                    for load, by_server in results["floor"].items()}
    return out


def ratio(corekv, redis):
    return f"{corekv / redis:.2f}" if corekv is not None and redis else "–"


def ratio_pairs(kinds):
    """The ratio columns or tables of this run: corekv/Redis, and corekv/baseline with
    --baseline."""
    return [(a, b) for a, b in RATIO_PAIRS if a in kinds and b in kinds]


def refused_for(refused, case, kind):
    """Did `kind` refuse the persistence setting that `case` needs?"""
    return bool(case.persistence) and kind in refused.get(case.persistence, {})


def performance_tables(kinds, plan, med, refused):
    """One ratio table per pair of ratio_pairs, and the medians; the cases this run
    measured, in TABLE_CASES order."""
    titles = " | ".join(title for _, title, _ in METRICS) + " |"
    pairs = ratio_pairs(kinds)
    ratios = {pair: ["| case | " + titles, "|---|" + "---:|" * len(METRICS)] for pair in pairs}
    absolute = ["| case | server | " + titles, "|---|---|" + "---:|" * len(METRICS)]
    for case in TABLE_CASES:
        if case.key not in med:
            continue
        title, by_server = case.title(plan), med[case.key]
        for kind in kinds:
            if kind in by_server:
                cells = [fmt.format(by_server[kind][m]) for m, _, fmt in METRICS]
            else:
                cells = [NOT_SUPPORTED if refused_for(refused, case, kind) else "–"]
                cells += ["–"] * (len(METRICS) - 1)
            absolute.append(f"| {title} | {SERVER_TITLES[kind]} | " + " | ".join(cells) + " |")
        for pair in pairs:
            if all(kind in by_server for kind in pair):
                cells = [ratio(by_server[pair[0]][m], by_server[pair[1]][m]) for m, _, _ in METRICS]
            else:
                missing = [kind for kind in pair if kind not in by_server]
                cells = [f"{SERVER_TITLES[missing[0]]}: {NOT_SUPPORTED}" if refused_for(refused, case, missing[0])
                         else "–"]
                cells += [""] * (len(METRICS) - 1)
            ratios[pair].append(f"| {title} | " + " | ".join(cells) + " |")
    return ratios, absolute


def side_by_side(kinds, heading, rows, by_kind):
    """A table of `rows` (key, title, format) with a column per server and per ratio pair."""
    pairs = ratio_pairs(kinds)
    lines = [f"| {heading} | " + " | ".join(SERVER_TITLES[k] for k in kinds) + " | "
             + " | ".join(RATIO_PAIRS[p] for p in pairs) + " |", "|---|" + "---:|" * (len(kinds) + len(pairs))]
    for key, title, fmt in rows:
        sides = [by_kind.get(kind, {}) for kind in kinds]
        cells = [fmt.format(side[key]) if side.get(key) is not None else "–" for side in sides]
        cells += [ratio(by_kind.get(a, {}).get(key), by_kind.get(b, {}).get(key)) for a, b in pairs]
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    return lines


def memory_table(args, med, results_memory):
    rows = [("used_memory_per_key_b", "INFO used_memory growth, bytes/key", "{:.1f}"),
            ("rss_per_key_b", "RSS growth, bytes/key", "{:.1f}"),
            ("peak_rss_mib", "peak RSS, MiB", "{:.1f}"),
            ("load_s", "load time (redis-cli --pipe), s", "{:.2f}")]
    heading = f"{args.memory_keys:,} keys ({MEMORY_KEY_BYTES} B keys, {MEMORY_VALUE_BYTES} B values)"
    lines = side_by_side(args.kinds, heading, rows, med["memory"])
    allocators = [results_memory[kind][-1]["mem_allocator"] if results_memory[kind] else "–" for kind in args.kinds]
    lines.append("| allocator (INFO mem_allocator) | " + " | ".join(allocators) + " |"
                 + " |" * len(ratio_pairs(args.kinds)))
    return lines


def idle_table(args, med):
    rows = [("rss_per_connection_b", "RSS growth per connection, bytes", "{:.0f}"),
            ("idle_cpu_percent", "server CPU while idle, % of a CPU", "{:.2f}")]
    count = max((side.get("connections") or 0 for side in med["idle"].values()), default=0)
    return side_by_side(args.kinds, f"{count:,.0f} idle connections", rows, med["idle"])


def floor_table(med):
    """The floor section: CPU per request and requests/s of the raw loop and of the
    canned-reply corekv, and canned/raw."""
    lines = [f"| corekv-loadgen GET | {FLOOR_TITLES['raw']} CPU µs/req | {FLOOR_TITLES['canned']} CPU µs/req "
             f"| canned/raw CPU | {FLOOR_TITLES['raw']} req/s | {FLOOR_TITLES['canned']} req/s | canned/raw req/s |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for pipeline in FLOOR_PIPELINES:
        by_kind = med["floor"].get(f"p{pipeline}", {})
        raw, canned = by_kind.get("raw", {}), by_kind.get("canned", {})
        cells = []
        for key, fmt in (("cpu_us", "{:.2f}"), ("rps", "{:,.0f}")):
            cells += [fmt.format(side[key]) if side.get(key) is not None else "–" for side in (raw, canned)]
            cells.append(ratio(canned.get(key), raw.get(key)))
        lines.append(f"| P{pipeline} | " + " | ".join(cells) + " |")
    return lines


def shard_get_note(kinds, med):
    """Cross-shard GET: each corekv's CPU per request on other-shard keys over home-shard
    keys, against the target."""
    lines = []
    for kind in kinds:
        notes = []
        for pipeline in (1, 16):
            home, other = (med.get(f"{command}-p{pipeline}-{SHARDCLIENT}-{CROSS_SHARDS}shards", {}).get(kind)
                           for command in SHARD_GET_KEYS)
            if home and other:
                notes.append(f"P{pipeline} {other['cpu_us'] / home['cpu_us']:.2f}×")
        if notes:
            lines.append(f"Cross-shard GET, {SERVER_TITLES[kind]}: CPU per request of other-shard keys over "
                         f"home-shard keys: {', '.join(notes)} (target ≤ {SHARD_GET_RATIO_TARGET}×).")
    return lines


def persistence_note(kinds, med, refused):
    """Each server's everysec against its own persistence off, per load; refusals."""
    lines = []
    for kind in kinds:
        notes = []
        for tool, pipeline in PERSISTENCE_TABLE_LOADS:
            on = med.get(closed(tool, "set", pipeline, "everysec").key, {}).get(kind)
            off = med.get(closed(tool, "set", pipeline, "off").key, {}).get(kind)
            if on and off:
                notes.append(f"SET P{pipeline} · {tool}: {on['rps'] / off['rps']:.2f}× the requests/s, "
                             f"{on['cpu_us'] / off['cpu_us']:.2f}× the CPU per request")
        if notes:
            lines.append(f"{SERVER_TITLES[kind]} with `appendonly yes, appendfsync everysec` against "
                         "persistence off: " + "; ".join(notes) + ".")
    for setting, by_kind in refused.items():
        for kind, message in by_kind.items():
            lines.append(f"{SERVER_TITLES[kind]} refused `{' '.join(PERSISTENCE[setting])}` at start-up: "
                         f"`{message}`.")
    return lines


def render(args, plan, results):
    med = results["medians"]
    m, settings = results["machine"], results["settings"]
    load = results["load_average"]
    ratios, absolute = performance_tables(args.kinds, plan, med, results["refused"])
    length = (f"{args.requests:,} requests per closed-loop load" if args.requests
              else f"{args.duration:g} s per load")
    lines = [
        f"corekv vs Redis {m['redis_server']}: medians of {args.rounds} alternating "
        f"round{'s' if args.rounds != 1 else ''}, {length}. "
        f"Servers on CPU {args.server_cpu} (`redis-server --save '' --appendonly no`, "
        f"`corekv-server --shards 1 --cpus {args.server_cpu} --appendonly no`; the rows that say "
        f"`corekv {CROSS_SHARDS} shards` run `--shards {CROSS_SHARDS}`, every shard on CPU {args.server_cpu}), "
        f"clients on CPU {args.client_cpu}; "
        f"{args.clients} connections, {args.keyspace:,} keys, {args.value_size}-byte values.",
        "",
        f"Machine: {m['nproc']} CPUs, {m['cpu_model']}, Linux {m['kernel']}; load average "
        f"{load['start'][0]:.2f} at the start, {load['end'][0]:.2f} at the end; {settings['date']}.",
        f"Reproduce with `{results['command']}`.",
        "",
    ]
    if args.baseline:
        lines += [f"corekv baseline: `{args.baseline}`.", ""]
    if len(absolute) > 2:  # a section with per-case rows ran
        for pair, table in ratios.items():
            lines += [f"**{RATIO_PAIRS[pair]} ratios** (above 1: {SERVER_TITLES[pair[0]]} higher, which is "
                      "better for req/s and worse for the rest):", "", *table, ""]
        lines += ["**Medians:**", "", *absolute, ""]
    notes = shard_get_note(args.kinds, med)
    if notes:
        lines += [*notes, ""]
    if "floor" in args.only:
        lines += [f"**The floor** (every request answered `+OK` without being run; target: canned within "
                  f"{FLOOR_RATIO_TARGET}× of the raw loop's CPU per request):", "", *floor_table(med), ""]
    if "memory" in args.only:
        lines += [*memory_table(args, med, results["memory"]), ""]
    if "idle" in args.only:
        lines += [*idle_table(args, med), ""]
    if "families" in args.only:
        lines += ["**Command families** (bench/families.py):", "", *families.tables(results["families"]), ""]
    notes = persistence_note(args.kinds, med, results["refused"])
    if notes:
        lines += [*notes, ""]
    lines += [
        "Latencies are client-side. redis-benchmark's p99.9 is the first step of its percentile "
        "distribution at or above 99.9%. Open-loop latencies count from each request's scheduled "
        "send time. Peak RSS is VmHWM, reset before each load.",
    ]
    return "\n".join(lines) + "\n"


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help=f"smoke run: {QUICK['duration']:g} s loads, {QUICK['memory_keys']:,} keys for memory")
    ap.add_argument("--only", help=f"comma-separated sections to run (default all: {','.join(SECTIONS)})")
    ap.add_argument("--baseline", metavar="BINARY",
                    help="another corekv-server, run beside this build as a third server (`corekv baseline`)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    ap.add_argument("--duration", type=float, help=f"seconds per load (default {FULL['duration']:g})")
    ap.add_argument("--requests", type=int, help="requests per closed-loop load, instead of --duration")
    ap.add_argument("--memory-keys", type=int, help=f"keys for the memory case (default {FULL['memory_keys']:,})")
    ap.add_argument("--clients", type=int, default=50, help="connections (default 50)")
    ap.add_argument("--keyspace", type=int, default=100_000, help="keys of the loads (default 100000)")
    ap.add_argument("--value-size", type=int, default=32, help="value bytes (default 32)")
    ap.add_argument("--rate", type=int, help="open-loop requests/s for both GET and SET at the first "
                    "share (default: half of Redis's best closed-loop P1 rate; the 90%% loads scale with it)")
    ap.add_argument("--no-build", action="store_true",
                    help="use the binaries in target/release as they are (default: cargo build --release first)")
    ap.add_argument("--server-cpu", default="0", help="CPU for the servers (default 0)")
    ap.add_argument("--client-cpu", default="1", help="CPU for the load generators (default 1)")
    ap.add_argument("--out-dir", default=os.path.join(benchlib.ROOT, "bench", "results"),
                    help="where latest.md and latest.json go (default bench/results; with --only, "
                         "only-SECTIONS.md and .json)")
    families.add_args(ap)
    args = ap.parse_args()
    profile = QUICK if args.quick else FULL
    args.duration = args.duration or profile["duration"]
    args.memory_keys = args.memory_keys or profile["memory_keys"]
    args.publish_messages = profile["publish_messages"]
    args.idle_connections = profile["idle_connections"]
    args.idle_window_s = profile["idle_window_s"]
    if args.rounds < 1 or args.duration <= 0 or args.memory_keys < 1:
        ap.error("--rounds, --duration and --memory-keys must be positive")
    if args.server_cpu == args.client_cpu:
        ap.error("--server-cpu and --client-cpu must differ: the servers and clients would share a CPU")
    only = args.only.split(",") if args.only else list(SECTIONS)
    if unknown := set(only) - set(SECTIONS):
        ap.error(f"unknown sections {sorted(unknown)}; known: {','.join(SECTIONS)}")
    args.only = [section for section in SECTIONS if section in only]
    if "open" in args.only and "closed" not in args.only and not args.rate:
        ap.error("the open section takes its rates from the closed one: add closed to --only, or give --rate")
    if args.baseline:
        if not os.access(args.baseline, os.X_OK):
            ap.error(f"--baseline {args.baseline}: not an executable")
        args.baseline = os.path.abspath(args.baseline)  # servers run in their own directories
    args.kinds = SERVERS + ((BASELINE,) if args.baseline else ())
    args.out_name = "latest" if args.only == list(SECTIONS) else "only-" + "-".join(args.only)
    return ap, args


def build(args):
    """The release binaries the chosen sections run."""
    benchlib.cargo_build_release("corekv-server", "corekv-loadgen")
    if "floor" in args.only:
        benchlib.cargo_build_release("corekv-loadgen", examples=(RAW_LOOP_EXAMPLE,))


def run_rounds(args, plan, results, chosen, scratch):
    """Every chosen section's rounds, in the order the sections' comments give."""
    if "memory" in args.only:
        pipe_path = os.path.join(scratch, "memory.resp")
        benchlib.write_set_pipe_file(pipe_path, args.memory_keys)
    if "zset" in args.only:
        zset_pipe_path = os.path.join(scratch, "zset.resp")
        zset_commands = write_zset_pipe_file(zset_pipe_path)
    per_round = [  # section, what it runs for one server in one round
        ("closed", lambda rnd, kind: closed_session(args, plan, results, rnd, kind)),
        *((("persistence", lambda rnd, kind, setting=setting: persistence_session(
            args, plan, results, rnd, kind, setting)) for setting in PERSISTENCE)),
        ("memory", lambda rnd, kind: memory_session(args, results, rnd, kind, pipe_path)),
        ("zset", lambda rnd, kind: zset_session(args, plan, results, rnd, kind, zset_pipe_path, zset_commands)),
        ("multi", lambda rnd, kind: multi_session(args, results, rnd, kind)),
        ("queue", lambda rnd, kind: queue_session(args, results, rnd, kind)),
        ("cross-mset", lambda rnd, kind: mset_cross_session(args, plan, results, rnd, kind)),
        ("cross-get", lambda rnd, kind: shard_get_session(args, results, rnd, kind)),
    ]
    for rnd in range(args.rounds):
        for section, session in per_round:
            if section in args.only:
                for kind in round_order(args, rnd):
                    session(rnd, kind)
        if "floor" in args.only:
            for kind in FLOOR_SERVERS if rnd % 2 == 0 else reversed(FLOOR_SERVERS):
                floor_session(args, results, rnd, kind)
    later = [("open", lambda rnd, kind: open_session(args, plan, results, rnd, kind)),
             ("pubsub", lambda rnd, kind: pubsub_session(args, results, rnd, kind)),
             ("idle", lambda rnd, kind: idle_session(args, results, rnd, kind))]
    for section, session in later:
        if section in args.only:
            for rnd in range(args.rounds):
                for kind in round_order(args, rnd):
                    session(rnd, kind)
    if "families" in args.only:
        results["families"] = families.run(args, chosen)


def main():
    ap, args = parse_args()
    benchlib.require_tools("redis-server", "redis-benchmark", "redis-cli", "taskset")
    if not args.no_build:
        build(args)
    elif "floor" in args.only and not os.path.exists(RAW_LOOP):
        ap.error(f"--no-build: the floor section needs {RAW_LOOP} "
                 f"(cargo build --release -p corekv-loadgen --example {RAW_LOOP_EXAMPLE})")
    plan = Plan(best={}, fixed=args.rate or 0)
    results = {
        "format": "corekv-bench-suite/3",
        "command": shlex.join(["bench/suite.py", *sys.argv[1:]]),
        "machine": benchlib.machine(),
        "settings": {**vars(args), "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds")},
        "load_average": {"start": os.getloadavg()},
        "samples": {},
        "memory": {kind: [] for kind in args.kinds},
        "idle": {kind: [] for kind in args.kinds},
        "floor": {},  # load -> raw / canned -> samples
        "refused": {},  # persistence setting -> server -> its start-up message
    }
    chosen = families.chosen_families(ap, args)
    with tempfile.TemporaryDirectory(prefix="bench-suite-") as scratch:
        run_rounds(args, plan, results, chosen, scratch)
    results["load_average"]["end"] = os.getloadavg()
    results["plan"] = dataclasses.asdict(plan)
    results["medians"] = medians(results)
    table = render(args, plan, results)
    print(table)
    os.makedirs(args.out_dir, exist_ok=True)
    with open(os.path.join(args.out_dir, f"{args.out_name}.md"), "w") as f:
        f.write(table)
    with open(os.path.join(args.out_dir, f"{args.out_name}.json"), "w") as f:
        json.dump(results, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
