#!/usr/bin/env python3
"""corekv vs redis-server under redis-benchmark, in alternating rounds.

Each round starts every server fresh, pinned to the server CPUs with taskset, runs
redis-benchmark pinned to the client CPU, and reads the server's CPU time from
/proc/PID/stat before and after each test. Prints a Markdown table of medians over
the rounds and the corekv/Redis ratios.

    bench/redis_benchmark.py                    # the default comparison
    bench/redis_benchmark.py --requests 200000 --rounds 3 --pipelines 1,16
    bench/redis_benchmark.py --baseline /tmp/old/corekv-server --servers redis,base-1,corekv-1
                                                # a change against the build before it

`base-N` runs the `--baseline` binary with N shards, in the same alternating rounds,
so a change to the server is measured against its previous build on the same machine
at the same time. `uring-N` and `glommio-N` run this build with that network driver
(`--io-driver`), e.g. `--servers redis,uring-1,glommio-1`.

Needs redis-server and redis-benchmark on PATH, and a release build of corekv
(built here with `cargo build --release -p corekv-server`).
"""

import argparse
import os
import statistics
import sys

import benchlib


DRIVERS = ("uring", "glommio")


def start(kind, server_cpus, baseline):
    """`redis`, `corekv-N`, `base-N` (N shards; the baseline binary) or `uring-N` /
    `glommio-N` (this build with that network driver) on `server_cpus`."""
    if kind == "redis":
        return benchlib.start("redis", server_cpus)
    name, shards = kind.rsplit("-", 1)
    binary = baseline if name == "base" else benchlib.COREKV
    extra = ("--io-driver", name) if name in DRIVERS else ()
    return benchlib.start("corekv", server_cpus, shards=int(shards), extra=extra, binary=binary)


def run_benchmark(server, test, pipeline, requests, clients, client_cpu, keyspace):
    return benchlib.measure(server, lambda: benchlib.run_redis_benchmark(
        server.port, client_cpu, test, requests, clients, pipeline, keyspace))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=1_000_000)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tests", default="set,get")
    ap.add_argument("--pipelines", default="1,16")
    ap.add_argument("--keyspace", type=int,
                    help="redis-benchmark -r: random keys (MSET's ten keys then spread over shards)")
    ap.add_argument("--servers", default="redis,corekv-1,corekv-2",
                    help="redis, corekv-N (N shards), base-N (the --baseline binary, N shards), "
                         "uring-N / glommio-N (this build with that network driver)")
    ap.add_argument("--baseline", help="another corekv-server binary, run as base-N")
    ap.add_argument("--no-build", action="store_true", help="use target/release as it is")
    ap.add_argument("--server-cpu", default="0", help="CPU for single-shard servers")
    ap.add_argument("--client-cpu", default="1")
    args = ap.parse_args()

    benchlib.require_tools("redis-server", "redis-benchmark", "taskset")
    if not args.no_build:
        benchlib.cargo_build_release("corekv-server")

    servers = args.servers.split(",")
    if any(s.startswith("base-") for s in servers) and not args.baseline:
        ap.error("base-N servers need --baseline BINARY")
    tests = args.tests.split(",")
    pipelines = [int(p) for p in args.pipelines.split(",")]
    results = {}  # (server, test, pipeline) -> [samples]
    ncpu = os.cpu_count()
    for rnd in range(args.rounds):
        order = servers if rnd % 2 == 0 else list(reversed(servers))
        for kind in order:
            shards = int(kind.split("-")[1]) if kind != "redis" else 1
            cpus = args.server_cpu if shards == 1 else f"0-{min(shards, ncpu) - 1}"
            srv = start(kind, cpus, args.baseline)
            try:
                for p in pipelines:
                    for t in tests:
                        r = run_benchmark(srv, t, p, args.requests, args.clients, args.client_cpu, args.keyspace)
                        results.setdefault((kind, t, p), []).append(r)
                        print(f"round {rnd + 1} {kind:9} {t:5} P{p:<3} {r['rps']:>11.0f} req/s "
                              f"{r['cpu_us']:.2f} us/req p50 {r['p50_ms']:.3f} ms p99 {r['p99_ms']:.3f} ms",
                              file=sys.stderr)
            finally:
                srv.stop()

    def med(kind, t, p, key):
        return statistics.median(x[key] for x in results[(kind, t, p)])

    print(f"\nredis-benchmark -c {args.clients} -n {args.requests}, {args.rounds} alternating rounds, "
          f"medians; server CPU {args.server_cpu} (corekv-2: CPUs 0-1), client CPU {args.client_cpu}\n")
    print("| test | server | req/s | server CPU µs/req | p50 ms | p99 ms | req/s vs Redis | CPU/req vs Redis |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for p in pipelines:
        for t in tests:
            base_rps = med("redis", t, p, "rps") if "redis" in servers else None
            base_cpu = med("redis", t, p, "cpu_us") if "redis" in servers else None
            for kind in servers:
                rps, cpu = med(kind, t, p, "rps"), med(kind, t, p, "cpu_us")
                ratio_rps = f"{rps / base_rps:.2f}" if base_rps else "-"
                ratio_cpu = f"{cpu / base_cpu:.2f}" if base_cpu else "-"
                print(f"| {t.upper()} P{p} | {kind} | {rps:,.0f} | {cpu:.2f} | {med(kind, t, p, 'p50_ms'):.3f} "
                      f"| {med(kind, t, p, 'p99_ms'):.3f} | {ratio_rps} | {ratio_cpu} |")


if __name__ == "__main__":
    main()
