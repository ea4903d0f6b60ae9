#!/usr/bin/env python3
"""What the operator tools cost a request: per-command latency tracking, the slow
log's timing, and one MONITOR client attached, against a server with all three off.

One corekv server (one shard) runs pinned to --server-cpu; redis-benchmark runs
pinned to --client-cpu. Each case is a set of runtime switches on that same server
(`CONFIG SET`, or a monitor connection that reads and discards what it gets), so
the cases differ in nothing else. Rounds alternate the case order (forward in even
rounds, reversed in odd ones) so that drift on a shared machine falls on every case
alike; the report gives the median of the rounds.

Cases:
  off       latency-tracking no, slowlog-log-slower-than -1, no monitor
  tracking  latency-tracking yes (the default): one clock read and one histogram
            update per command
  slowlog   slowlog-log-slower-than 10000 (the default), nothing slow: one clock
            read per command
  defaults  tracking and slowlog as shipped
  monitor   defaults, plus one MONITOR client reading every command

Loads: SET and GET, 50 clients, pipeline 1 and 16 (P1, P16).

    bench/ops.py [--rounds 3] [--requests 200000] [--binary target/release/corekv-server]

Python 3.11 standard library only (plus redis-benchmark and taskset).
"""

import argparse
import json
import os
import socket
import threading

import benchlib

CASES = {
    "off": {"latency-tracking": "no", "slowlog-log-slower-than": "-1"},
    "tracking": {"latency-tracking": "yes", "slowlog-log-slower-than": "-1"},
    "slowlog": {"latency-tracking": "no", "slowlog-log-slower-than": "10000"},
    "defaults": {"latency-tracking": "yes", "slowlog-log-slower-than": "10000"},
    "monitor": {"latency-tracking": "yes", "slowlog-log-slower-than": "10000"},
}
LOADS = [("set", 1), ("get", 1), ("set", 16), ("get", 16)]
CLIENTS = 50
MONITOR_READ_BYTES = 1 << 20


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


def run_case(server, case, args):
    for name, value in CASES[case].items():
        benchlib.resp_command(server.port, "CONFIG", "SET", name, value)
    monitor = Monitor(server.port) if case == "monitor" else None
    try:
        results = {}
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
    server = benchlib.start("corekv", args.server_cpu, shards=1, binary=args.binary)
    samples = {case: [] for case in cases}
    try:
        for rnd in range(args.rounds):
            order = cases if rnd % 2 == 0 else list(reversed(cases))
            for case in order:
                samples[case].append(run_case(server, case, args))
                print(f"round {rnd + 1} {case}: " + ", ".join(
                    f"{load} {r['rps']:.0f}/s p99 {r['p99_ms']}ms"
                    for load, r in samples[case][-1].items() if isinstance(r, dict)), flush=True)
    finally:
        server.stop()
    report(samples, args)


def report(samples, args):
    loads = [f"{test} P{pipeline}" for test, pipeline in LOADS]
    base = samples.get("off")
    lines = [f"# Operator tools' cost ({args.rounds} rounds, median; {args.requests} requests, {CLIENTS} clients)",
             "", f"binary: {args.binary}", f"machine: {json.dumps(benchlib.machine())}", "",
             "| case | " + " | ".join(f"{load} req/s" for load in loads) + " | " +
             " | ".join(f"{load} CPU µs/req" for load in loads) + " |",
             "|---|" + "---|" * (2 * len(loads))]
    for case, runs in samples.items():
        rps = []
        for load in loads:
            value = benchlib.median([r[load] for r in runs], "rps")
            cell = f"{value:.0f}"
            if base and case != "off":
                ref = benchlib.median([r[load] for r in base], "rps")
                cell += f" ({(value / ref - 1) * 100:+.1f}%)"
            rps.append(cell)
        cpu = [f"{benchlib.median([r[load] for r in runs], 'cpu_us'):.2f}" for load in loads]
        lines.append(f"| {case} | " + " | ".join(rps) + " | " + " | ".join(cpu) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out + ".md", "w") as f:
        f.write(text)
    with open(args.out + ".json", "w") as f:
        json.dump(samples, f, indent=1)


if __name__ == "__main__":
    main()
