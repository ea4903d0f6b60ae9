#!/usr/bin/env python3
"""corekv vs redis-server: bytes per key, and GET latency while the table grows.

Both servers get one CPU (`--shards 1 --appendonly no` for corekv, `--save ''
--appendonly no` for Redis), pinned with taskset away from the client CPU, which this
script and its clients use. Each workload loads a fresh server of each kind through
`redis-cli --pipe` and reports the RSS growth per key (VmRSS after the load minus
before), with INFO's `used_memory` growth per key beside it (corekv's accounting is
checked against the RSS delta this way). Rounds alternate which server goes first.

Workloads (16-byte keys `key:%012d`, 32-byte values):
  strings     1,000,000 `SET key value`
  ttl         1,000,000 `SET key value EX 86400`: a deadline on every key
  large       10,000,000 `SET key value`, while a second client sends one GET at a
              time and records its latency: p99.9 and the worst GET while the table
              grows (a stop-the-world rehash shows up as the worst)
  families    the collection rows of bench/families.py (its --memory-only mode)

    bench/memory.py                          # strings, ttl, large; 1 round
    bench/memory.py --only strings,ttl --rounds 3
    bench/memory.py --quick                  # a tenth of the keys
    bench/memory.py --only families          # the collections' memory table
    bench/memory.py --only strings,ttl --baseline /tmp/corekv-before
                                             # a second corekv build in the same run

Measured (bench/memory.py --only strings,ttl --rounds 1 --baseline <64-byte-slot build>,
2-CPU machine under load): strings 140.9 B/key Redis, 104.6 corekv (0.74x; the
64-byte slots with the deadline in every slot: 112.1, 0.80x); ttl 182.4 Redis, 116.4
corekv (0.64x; before: 116.5); corekv's used_memory growth within 4% of its RSS
growth.

Measured (--only large --rounds 1, run twice, 2-CPU machine at load average ~20, so
the wall times are the machine's more than the servers'): Redis 145.7 B/key, load
203.8 / 196.7 s, GET p99.9 148 / 161 ms, worst GET 462 / 284 ms; corekv with the
segmented index 103.6 / 103.9 B/key (0.71x), load 101.7 / 223.4 s, GET p99.9
242 / 974 ms, worst GET 379 / 2,007 ms (the second run shared the server's CPU
with compiler jobs). The build before it, in the same conditions: worst GET 977 ms,
every GET over 300 ms at the index's doublings (0.92M, 1.8M, 3.7M, 7.3M keys), all
keys in at 71 s and redis-cli done at 324 s (its reader copies its buffer of
unread replies once per KiB consumed, quadratic once replies back up).

The load's wall time measures the slower of the two sides and the machine, so each
load also reports the server's CPU seconds and redis-cli's (and the load average).
Measured (--only large --rounds 1 --baseline <the build before>, 2-CPU machine at
load average 13-16; wall times and GET latencies are the machine's): Redis 145.7
B/key, load 215.6 s, server CPU 22.2 s, redis-cli CPU 2.3 s, worst GET 155 ms;
corekv with the session reaping the io_uring ring between pipeline batches 103.9
B/key (0.71x), load 103.0 s, server CPU 17.7 s, redis-cli CPU 2.1 s, worst GET 171
ms; corekv as it is (the ring reaped only between the driver's inputs) 103.6 B/key, load 200.6 s, server CPU 22.8 s, redis-cli CPU 14.9 s (its
reader quadratic on replies that arrived in bursts), worst GET 416 ms. Without the
GET client on a quieter machine (load average 5-7), that build spent 14.8 s of
server CPU per load (Redis, with it: 14.0 s) and redis-cli 22.8 s: the load was
measuring redis-cli.

Needs redis-server, redis-cli and taskset; uses target/release as it is (build it
first: cargo build --release -p corekv-server), or the binary `--binary` names.
"""

import argparse
import os
import resource
import socket
import sys
import tempfile
import threading
import time

import benchlib
import families

WORKLOADS = ("strings", "ttl", "large", "families")
DEFAULT_WORKLOADS = "strings,ttl,large"
KEYS = {"strings": 1_000_000, "ttl": 1_000_000, "large": 10_000_000}
QUICK_SCALE = 10
TTL_S = 86_400
# The sampling client sends one GET at a time on one connection; a GET unanswered
# this long fails the run (a stall that long is a finding in itself).
GET_TIMEOUT_S = 120
# RSS settles (a freed vector's pages go back) before the after-load reading.
SETTLE_S = 1.0
# The kind of a second corekv build's sessions (--baseline).
BASELINE = "baseline"


def write_pipe_file(path, keys, ttl):
    """`keys` SETs in RESP, keys key:%012d and 32-byte values (with `EX TTL_S` if `ttl`):
    the keys and values of benchlib.write_set_pipe_file."""
    if not ttl:
        benchlib.write_set_pipe_file(path, keys)
        return
    step = 10_000
    ex = str(TTL_S).encode()
    with open(path, "wb") as f:
        for first in range(0, keys, step):
            f.write(b"".join(b"*5\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n$32\r\nval:%028d\r\n$2\r\nEX\r\n$%d\r\n%s\r\n"
                             % (i, i, len(ex), ex) for i in range(first, min(keys, first + step))))


class GetSampler:
    """One connection sending `GET key:000000000000` back to back from a thread,
    recording each round trip in seconds until stopped."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=GET_TIMEOUT_S)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.latencies = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        request = b"*2\r\n$3\r\nGET\r\n$16\r\nkey:000000000000\r\n"
        while not self.stopping.is_set():
            start = time.perf_counter()
            self.sock.sendall(request)
            reply = self.sock.recv(4096)
            # A bulk reply of 32 bytes or a nil fits in one segment on loopback.
            if not reply:
                raise RuntimeError("the server closed the sampling connection")
            self.latencies.append(time.perf_counter() - start)

    def stop(self):
        self.stopping.set()
        self.thread.join()
        self.sock.close()
        lat = sorted(self.latencies)
        if not lat:
            return {"gets": 0, "p99_9_ms": None, "max_ms": None}
        return {"gets": len(lat), "p99_9_ms": lat[min(len(lat) - 1, int(len(lat) * 0.999))] * 1e3,
                "max_ms": lat[-1] * 1e3}


def children_cpu_s():
    """User + system CPU seconds of this script's finished children (redis-cli)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def load_session(args, kind, workload, path, keys):
    binary = args.baseline if kind == BASELINE else args.binary
    server = benchlib.start("corekv" if kind == BASELINE else kind, args.server_cpu, binary=binary)
    try:
        before_rss = server.rss_kib()
        before_used = int(benchlib.info_fields(server.port, "memory")["used_memory"])
        sampler = GetSampler(server.port) if workload == "large" else None
        started = time.monotonic()
        server_cpu, client_cpu = server.cpu_seconds(), children_cpu_s()
        try:
            benchlib.pipe(server.port, args.client_cpu, path, keys)
        finally:
            latency = sampler.stop() if sampler else {}
        load_s = time.monotonic() - started
        server_cpu, client_cpu = server.cpu_seconds() - server_cpu, children_cpu_s() - client_cpu
        time.sleep(SETTLE_S)
        held = benchlib.resp_command(server.port, "DBSIZE")
        if held != keys:
            raise RuntimeError(f"{kind} holds {held} keys after loading {keys}")
        memory = benchlib.info_fields(server.port, "memory")
        rss_b = (server.rss_kib() - before_rss) * 1024
        used_b = int(memory["used_memory"]) - before_used
        return {"rss_per_key_b": rss_b / keys, "used_per_key_b": used_b / keys,
                "used_over_rss": used_b / rss_b if rss_b else None,
                "mem_allocator": memory.get("mem_allocator", "?"), "load_s": load_s,
                "server_cpu_s": server_cpu, "client_cpu_s": client_cpu, **latency}
    finally:
        server.stop()


def log(line):
    print(line, file=sys.stderr, flush=True)


def run(args):
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as scratch:
        for workload in (w for w in args.only if w != "families"):
            keys = KEYS[workload] // (QUICK_SCALE if args.quick else 1)
            path = os.path.join(scratch, f"{workload}.resp")
            write_pipe_file(path, keys, ttl=workload == "ttl")
            kinds = (*benchlib.SERVERS, BASELINE) if args.baseline else benchlib.SERVERS
            for rnd in range(args.rounds):
                order = benchlib.round_order(rnd)
                for kind in (*order, BASELINE) if args.baseline else order:
                    sample = load_session(args, kind, workload, path, keys)
                    results.setdefault(workload, {k: [] for k in kinds})[kind].append(sample)
                    extra = (f", GET p99.9 {sample['p99_9_ms']:.3f} ms max {sample['max_ms']:.3f} ms "
                             f"({sample['gets']:,} GETs)" if "gets" in sample else "")
                    log(f"round {rnd + 1} {kind:8} {workload:8} {keys:,} keys: {sample['rss_per_key_b']:.1f} B/key RSS,"
                        f" {sample['used_per_key_b']:.1f} B/key used_memory ({sample['mem_allocator']}),"
                        f" load {sample['load_s']:.1f} s (CPU: server {sample['server_cpu_s']:.1f} s,"
                        f" redis-cli {sample['client_cpu_s']:.1f} s; load average {os.getloadavg()[0]:.1f}){extra}")
            os.remove(path)
    return results


def tables(args, results):
    base = ["| baseline B/key | baseline/Redis "] if args.baseline else []
    lines = ["| workload | Redis B/key | corekv B/key | corekv/Redis " + "".join(base) +
             "| corekv used_memory/RSS delta | load s Redis / corekv | server CPU s Redis / corekv "
             "| redis-cli CPU s Redis / corekv | GET p99.9 ms Redis / corekv | worst GET ms Redis / corekv |",
             "|---|---:|---:|---:|" + "---:|---:|" * len(base) + "---:|---:|---:|---:|---:|---:|"]
    for workload, by in results.items():
        med = {kind: {m: benchlib.median(samples, m) for m in
                      ("rss_per_key_b", "used_over_rss", "load_s", "server_cpu_s", "client_cpu_s",
                       "p99_9_ms", "max_ms")} for kind, samples in by.items()}
        r, c = med["redis"], med["corekv"]
        keys = KEYS[workload] // (QUICK_SCALE if args.quick else 1)
        fmt = lambda v, f: f.format(v) if v is not None else "–"  # noqa: E731
        b = med.get(BASELINE)
        baseline = (f"| {b['rss_per_key_b']:.1f} | {families.ratio(b['rss_per_key_b'], r['rss_per_key_b'])} "
                    if b else "")
        lines.append(f"| {workload} ({keys:,} keys) | {r['rss_per_key_b']:.1f} | {c['rss_per_key_b']:.1f} "
                     f"| {families.ratio(c['rss_per_key_b'], r['rss_per_key_b'])} {baseline}"
                     f"| {fmt(c['used_over_rss'], '{:.2f}')} "
                     f"| {r['load_s']:.1f} / {c['load_s']:.1f} | {r['server_cpu_s']:.1f} / {c['server_cpu_s']:.1f} "
                     f"| {r['client_cpu_s']:.1f} / {c['client_cpu_s']:.1f} "
                     f"| {fmt(r['p99_9_ms'], '{:.3f}')} / {fmt(c['p99_9_ms'], '{:.3f}')} "
                     f"| {fmt(r['max_ms'], '{:.3f}')} / {fmt(c['max_ms'], '{:.3f}')} |")
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help=f"a {QUICK_SCALE}th of the keys")
    ap.add_argument("--only", default=DEFAULT_WORKLOADS, help=f"workloads among {','.join(WORKLOADS)} "
                    f"(default {DEFAULT_WORKLOADS})")
    ap.add_argument("--server-cpu", default="0")
    ap.add_argument("--client-cpu", default="1")
    ap.add_argument("--binary", default=benchlib.COREKV, help="the corekv-server to run (default target/release)")
    ap.add_argument("--baseline", help="another corekv-server build, measured in the same rounds (before/after)")
    args = ap.parse_args()
    args.only = args.only.split(",")
    if set(args.only) - set(WORKLOADS) or args.rounds < 1:
        ap.error(f"--only takes {','.join(WORKLOADS)}; --rounds must be positive")
    if args.server_cpu == args.client_cpu:
        ap.error("--server-cpu and --client-cpu must differ")
    benchlib.require_tools("redis-server", "redis-cli", "taskset")
    os.sched_setaffinity(0, {int(args.client_cpu)})
    lines = tables(args, run(args)) if set(args.only) - {"families"} else []
    if "families" in args.only:
        fam = argparse.Namespace(rounds=args.rounds, quick=args.quick, memory_only=True,
                                 server_cpu=args.server_cpu, client_cpu=args.client_cpu)
        lines += ["", *families.tables(families.run(fam, families.families()))]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
