#!/usr/bin/env python3
"""What the operator tools cost a request: per-command latency tracking, the slow
log's timing, one MONITOR client attached, and a Prometheus scraper, against a
server with all of them off.

One corekv server (one shard, its metrics endpoint on: `--metrics-port`) runs
pinned to --server-cpu; redis-benchmark runs pinned to --client-cpu. Each case is a
set of runtime switches on that same server (`CONFIG SET`, a monitor connection
that reads and discards what it gets, or a scraper thread fetching /metrics), so
the cases differ in nothing else. Rounds alternate the case order (forward in even
rounds, reversed in odd ones) so that drift on a shared machine falls on every case
alike; the report gives the median of the rounds: req/s (and its change against
`off`), redis-benchmark's p50 and p99, and the server's CPU per request.

Cases:
  off       latency-tracking no, slowlog-log-slower-than -1, no monitor
  tracking  latency-tracking yes (the default): one clock read and one histogram
            update per command
  slowlog   slowlog-log-slower-than 10000 (the default), nothing slow: one clock
            read per command
  defaults  tracking and slowlog as shipped
  monitor   defaults, plus one MONITOR client reading every command
  scraper   defaults, plus GET /metrics once a second (a Prometheus scrape
            interval is 10-60 s: this is a busy scraper)
  scraper10 defaults, plus GET /metrics ten times a second, to make the cost of
            a scrape visible (the scraper runs on --client-cpu too)

Loads: SET and GET, 50 clients, pipeline 1 and 16 (P1, P16).

    bench/ops.py [--rounds 3] [--requests 200000] [--binary target/release/corekv-server]

Python 3.11 standard library only (plus redis-benchmark and taskset).
"""

import argparse
import json
import os
import socket
import threading
import time

import benchlib

CASES = {
    "off": {"latency-tracking": "no", "slowlog-log-slower-than": "-1"},
    "tracking": {"latency-tracking": "yes", "slowlog-log-slower-than": "-1"},
    "slowlog": {"latency-tracking": "no", "slowlog-log-slower-than": "10000"},
    "defaults": {"latency-tracking": "yes", "slowlog-log-slower-than": "10000"},
    "monitor": {"latency-tracking": "yes", "slowlog-log-slower-than": "10000"},
    "scraper": {"latency-tracking": "yes", "slowlog-log-slower-than": "10000"},
    "scraper10": {"latency-tracking": "yes", "slowlog-log-slower-than": "10000"},
}
# Scrapes per second of the scraper cases.
SCRAPES_PER_S = {"scraper": 1, "scraper10": 10}
LOADS = [("set", 1), ("get", 1), ("set", 16), ("get", 16)]
CLIENTS = 50
MONITOR_READ_BYTES = 1 << 20
SCRAPE_TIMEOUT_S = 5
SCRAPE_READ_BYTES = 1 << 16


class Monitor:
    """A MONITOR connection that reads and throws away everything until stopped."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.sendall(b"*1\r\n$7\r\nMONITOR\r\n")
        self.stopped = False
        self.bytes = 0
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        while not self.stopped:
            try:
                data = self.sock.recv(MONITOR_READ_BYTES)
            except OSError:
                return
            if not data:
                return
            self.bytes += len(data)

    def stop(self):
        self.stopped = True
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.thread.join()


class Scraper:
    """Fetches GET /metrics from the metrics port `per_s` times a second (one
    connection per scrape, as Prometheus does with `Connection: close`) until
    stopped; keeps each scrape's duration and size."""

    def __init__(self, port, per_s, cpus):
        self.port, self.interval, self.cpus = port, 1.0 / per_s, cpus
        self.durations_ms, self.bytes, self.failures = [], 0, 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _scrape(self):
        request = f"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nConnection: close\r\n\r\n"
        with socket.create_connection(("127.0.0.1", self.port), timeout=SCRAPE_TIMEOUT_S) as s:
            s.sendall(request.encode())
            chunks = []
            while chunk := s.recv(SCRAPE_READ_BYTES):
                chunks.append(chunk)
        body = b"".join(chunks)
        if not body.startswith(b"HTTP/1.1 200"):
            raise OSError(f"scrape answered {body[:40]!r}")
        return len(body)

    def _run(self):
        # Off the server's CPU, with the load's client (0: this thread only).
        os.sched_setaffinity(0, self.cpus)
        next_at = time.monotonic()
        while not self.stopped.is_set():
            started = time.monotonic()
            try:
                self.bytes += self._scrape()
                self.durations_ms.append((time.monotonic() - started) * 1000)
            except OSError:
                self.failures += 1
            next_at += self.interval
            self.stopped.wait(max(0.0, next_at - time.monotonic()))

    def stop(self):
        self.stopped.set()
        self.thread.join()

    def summary(self):
        d = sorted(self.durations_ms)
        return {"scrapes": len(d), "failures": self.failures, "bytes": self.bytes,
                "scrape_p50_ms": d[len(d) // 2] if d else None, "scrape_max_ms": d[-1] if d else None}


def cpu_set(spec):
    """The CPUs a taskset list names (`1`, `1,3`, `2-3`)."""
    cpus = set()
    for part in spec.split(","):
        first, _, last = part.partition("-")
        cpus.update(range(int(first), int(last or first) + 1))
    return cpus


def run_case(server, case, args):
    for name, value in CASES[case].items():
        benchlib.resp_command(server.port, "CONFIG", "SET", name, value)
    monitor = Monitor(server.port) if case == "monitor" else None
    scraper = None
    if case in SCRAPES_PER_S:
        scraper = Scraper(args.metrics_port, SCRAPES_PER_S[case], cpu_set(args.client_cpu))
    results = {}
    try:
        for test, pipeline in LOADS:
            run = lambda: benchlib.run_redis_benchmark(server.port, args.client_cpu, test, args.requests,
                                                       CLIENTS, pipeline, keyspace=100_000)
            results[f"{test} P{pipeline}"] = benchlib.measure(server, run)
        if monitor:
            results["monitor_bytes"] = monitor.bytes
        return results
    finally:
        if monitor:
            monitor.stop()
        if scraper:
            scraper.stop()
            results["scraper"] = scraper.summary()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=200_000)
    ap.add_argument("--binary", default=benchlib.COREKV, help="corekv-server to run (default: target/release)")
    ap.add_argument("--no-build", action="store_true", help="do not run cargo build --release first")
    ap.add_argument("--server-cpu", default="0")
    ap.add_argument("--client-cpu", default="1")
    ap.add_argument("--cases", default=",".join(CASES), help="comma-separated cases to run")
    ap.add_argument("--out", default=os.path.join(benchlib.ROOT, "bench", "results", "ops"))
    args = ap.parse_args()
    args.binary = os.path.abspath(args.binary)
    cases = args.cases.split(",")
    if set(cases) - set(CASES):
        ap.error(f"--cases takes {', '.join(CASES)}")
    benchlib.require_tools("redis-benchmark", "taskset")
    if not args.no_build and args.binary == benchlib.COREKV:
        benchlib.cargo_build_release("corekv-server")
    args.metrics_port = benchlib.free_port()
    server = benchlib.start("corekv", args.server_cpu, shards=1, binary=args.binary,
                            extra=("--metrics-port", str(args.metrics_port)))
    samples = {case: [] for case in cases}
    try:
        for rnd in range(args.rounds):
            order = cases if rnd % 2 == 0 else list(reversed(cases))
            for case in order:
                samples[case].append(run_case(server, case, args))
                print(f"round {rnd + 1} {case}: " + ", ".join(
                    f"{load} {r['rps']:.0f}/s p99 {r['p99_ms']}ms"
                    for load, r in samples[case][-1].items() if isinstance(r, dict) and "rps" in r), flush=True)
    finally:
        server.stop()
    report(samples, args)


def report(samples, args):
    loads = [f"{test} P{pipeline}" for test, pipeline in LOADS]
    base = samples.get("off")
    lines = [f"# Operator tools' cost ({args.rounds} rounds, median; {args.requests} requests, {CLIENTS} clients)",
             "", f"binary: {args.binary}", f"machine: {json.dumps(benchlib.machine())}", "",
             "| case | load | req/s | vs off | p50 ms | p99 ms | CPU µs/req |",
             "|---|---|---|---|---|---|---|"]
    for case, runs in samples.items():
        for load in loads:
            rps = benchlib.median([r[load] for r in runs], "rps")
            change = ""
            if base and case != "off":
                ref = benchlib.median([r[load] for r in base], "rps")
                change = f"{(rps / ref - 1) * 100:+.1f}%"
            p50, p99, cpu = (benchlib.median([r[load] for r in runs], key) for key in ("p50_ms", "p99_ms", "cpu_us"))
            lines.append(f"| {case} | {load} | {rps:.0f} | {change} | {p50:.3f} | {p99:.3f} | {cpu:.2f} |")
    scrapes = [(case, r["scraper"]) for case, runs in samples.items() for r in runs if "scraper" in r]
    if scrapes:
        lines += ["", "| case | scrapes | failed | bytes per scrape | scrape p50 ms | slowest scrape ms |",
                  "|---|---|---|---|---|---|"]
        for case in dict(scrapes):
            runs = [s for c, s in scrapes if c == case]
            count = sum(s["scrapes"] for s in runs)
            size = sum(s["bytes"] for s in runs) / count if count else 0
            p50 = benchlib.median(runs, "scrape_p50_ms")
            worst = max((s["scrape_max_ms"] for s in runs if s["scrape_max_ms"] is not None), default=None)
            lines.append(f"| {case} | {count} | {sum(s['failures'] for s in runs)} | {size:.0f} | "
                         f"{p50 if p50 is None else f'{p50:.1f}'} | {worst if worst is None else f'{worst:.1f}'} |")
    text = "\n".join(lines) + "\n"
    print(text)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out + ".md", "w") as f:
        f.write(text)
    with open(args.out + ".json", "w") as f:
        json.dump(samples, f, indent=1)


if __name__ == "__main__":
    main()
