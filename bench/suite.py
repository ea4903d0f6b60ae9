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
  open loop    SET and GET with corekv-loadgen --rate at half the highest rate Redis
               reached in the closed-loop P1 cases (either tool, any round); these
               run in a second series of alternating rounds, after the others
  MSET         10 keys per command, both tools
  lists        LPUSH, RPUSH, LPOP, RPOP and LRANGE_100 at P1, redis-benchmark
  persistence  off against everysec: SET P1 with redis-benchmark, SET P1 and P16
               with corekv-loadgen, on fresh prefilled servers started with
               --appendonly no and with --appendonly yes --appendfsync everysec
               (both settings every round, the servers alternating in each); a
               server that refuses a setting at start-up is reported as not
               supported in that setting's rows only. bench/persistence.py goes
               further (always, restart time, journal bytes per SET).
  memory       1,000,000 SETs of 16-byte keys and 32-byte values through
               redis-cli --pipe: INFO used_memory and RSS growth per key

    bench/suite.py                 # full run, about 10 minutes on 2 CPUs
    bench/suite.py --quick         # smoke run, about 2.5 minutes
    bench/suite.py --rounds 5 --duration 10 --server-cpu 2 --client-cpu 3

Closed-loop loads run --duration seconds with corekv-loadgen; redis-benchmark, which
has no duration, sends as many requests as the same server answered in that time
under corekv-loadgen just before (so a slow server does not stretch the run).
--requests N makes every closed-loop load N requests instead.

Writes the Markdown tables to stdout and bench/results/latest.md, and every sample to
bench/results/latest.json. Needs redis-server, redis-benchmark, redis-cli and taskset
on PATH; builds corekv-server and corekv-loadgen in release mode first (--no-build:
use target/release as it is).
"""

import argparse
import dataclasses
import datetime
import json
import os
import shlex
import sys
import tempfile
import time

import benchlib

SERVERS = benchlib.SERVERS
SERVER_TITLES = {"redis": "Redis", "corekv": "corekv"}
LOADGEN, REDIS_BENCHMARK = "corekv-loadgen", "redis-benchmark"
MSET_KEYS = 10
EVERYSEC = ("--appendonly", "yes", "--appendfsync", "everysec")
# Persistence settings of the persistence section: server flags, and title.
PERSISTENCE = {"off": benchlib.APPENDONLY_NO, "everysec": EVERYSEC}
PERSISTENCE_TITLES = {"off": "persistence off", "everysec": "everysec"}
NOT_SUPPORTED = "not supported by this build"
# Open-loop rate as a share of the closed-loop P1 maximum: loaded, not saturated.
OPEN_LOOP_SHARE = 0.5
# redis-benchmark request counts and open-loop rates are rounded to these.
REQUESTS_STEP = 10_000
RATE_STEP = 1_000
MEMORY_KEY_BYTES, MEMORY_VALUE_BYTES = 16, 32
SEED = 1
FULL = {"duration": 5.0, "memory_keys": 1_000_000}
QUICK = {"duration": 1.0, "memory_keys": 100_000}
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
    open_loop: bool = False
    persistence: str = ""  # a PERSISTENCE key: the persistence section's cases

    def title(self, plan):
        if self.open_loop:
            load = f"{self.command.upper()} open loop {plan.rates[self.command]:,}/s"
        elif self.command == "mset":
            load = f"MSET {MSET_KEYS} keys P{self.pipeline}"
        else:
            load = f"{self.command.upper()} P{self.pipeline}"
        if self.persistence:
            load += f", {PERSISTENCE_TITLES[self.persistence]}"
        return f"{load} · {self.tool}"


def closed(tool, command, pipeline, persistence=""):
    suffix = f"-{persistence}" if persistence else ""
    return Case(f"{command}-p{pipeline}-{tool}{suffix}", tool, command, pipeline, persistence=persistence)


OPEN_SET, OPEN_GET = (Case(f"{c}-open-{LOADGEN}", LOADGEN, c, open_loop=True) for c in ("set", "get"))
MSET_LOADGEN, MSET_REDIS_BENCHMARK = (closed(tool, "mset", 1) for tool in (LOADGEN, REDIS_BENCHMARK))
# List loads as redis-benchmark names them (one list, `mylist`), P1, run in this order
# so the pops find elements. `lrange_100` makes redis-benchmark push its own list first;
# its rate and p50/p99 are the LRANGE step's.
LIST_COMMANDS = ("lpush", "rpush", "lpop", "rpop", "lrange_100")
LIST_CASES = tuple(closed(REDIS_BENCHMARK, command, 1) for command in LIST_COMMANDS)
# redis-benchmark requests per list load (corekv-loadgen has no list twin to size it).
LIST_REQUESTS = 100_000
# Run order: corekv-loadgen's closed-loop cases first (they size redis-benchmark's
# runs), SET before GET so GET finds values.
CLOSED_CASES = (
    *(closed(tool, command, p) for tool in (LOADGEN, REDIS_BENCHMARK) for p in (1, 16) for command in ("set", "get")),
    MSET_LOADGEN,
    MSET_REDIS_BENCHMARK,
    *LIST_CASES,
)
OPEN_CASES = (OPEN_SET, OPEN_GET)
# Per setting, in run order: corekv-loadgen's P1 sizes redis-benchmark's run.
PERSISTENCE_LOADS = ((LOADGEN, 1), (REDIS_BENCHMARK, 1), (LOADGEN, 16))
PERSISTENCE_TABLE_LOADS = ((REDIS_BENCHMARK, 1), (LOADGEN, 1), (LOADGEN, 16))
PERSISTENCE_CASES = {setting: tuple(closed(tool, "set", p, setting) for tool, p in PERSISTENCE_LOADS)
                     for setting in PERSISTENCE}
# Table order: each load's two tools side by side.
TABLE_CASES = (
    *(closed(tool, command, p) for p in (1, 16) for command in ("get", "set") for tool in (REDIS_BENCHMARK, LOADGEN)),
    OPEN_GET,
    OPEN_SET,
    MSET_REDIS_BENCHMARK,
    MSET_LOADGEN,
    *LIST_CASES,
    *(closed(tool, "set", p, setting) for tool, p in PERSISTENCE_TABLE_LOADS for setting in PERSISTENCE),
)
assert sorted(c.key for c in TABLE_CASES) == sorted(
    c.key for c in CLOSED_CASES + OPEN_CASES + sum(PERSISTENCE_CASES.values(), ()))


@dataclasses.dataclass
class Plan:
    """Open-loop rates: half of Redis's best closed-loop P1 rate over all rounds and
    both tools (noise only ever lowers a throughput, so the maximum is the robust
    estimate), unless --rate fixes them."""

    rates: dict  # command -> open-loop requests/s

    def learn(self, args, case, result):
        if args.rate or case.open_loop or case.persistence:
            return
        if case.pipeline == 1 and case.command in ("get", "set"):
            rate = round(result["rps"] * OPEN_LOOP_SHARE / RATE_STEP) * RATE_STEP
            self.rates[case.command] = max(self.rates.get(case.command, RATE_STEP), rate)


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
        flags += ["--rate", plan.rates[case.command], "--duration", args.duration]
    else:
        flags += ["-P", case.pipeline]
        flags += ["-n", args.requests] if args.requests else ["--duration", args.duration]
    return [str(f) for f in flags]


def run_case(args, plan, session, server, case):
    def load():
        if case.tool == LOADGEN:
            return benchlib.run_loadgen(server.port, args.client_cpu, loadgen_args(args, plan, case))
        requests = redis_benchmark_requests(args, session, case)
        return benchlib.run_redis_benchmark(server.port, args.client_cpu, case.command, requests,
                                            args.clients, case.pipeline, args.keyspace, args.value_size)

    result = benchlib.measure(server, load)
    result["peak_rss_mib"] = result.pop("peak_rss_kib") / 1024
    return result


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
        results["samples"].setdefault(case.key, {s: [] for s in SERVERS})[kind].append(sample)
        log_sample(rnd, kind, case.title(plan), sample)
        if kind == "redis":
            plan.learn(args, case, sample)


def prefilled_session(args, plan, results, rnd, kind, cases, extra=()):
    """A fresh server (with `extra` flags) with the loads' keyspace written once, running
    `cases`."""
    server = benchlib.start(kind, args.server_cpu, extra=extra)
    try:
        prefill = ["-t", "get", "-n", "1", "-c", "1", "--prefill", "--keyspace", str(args.keyspace),
                   "--value-size", str(args.value_size), "--seed", str(SEED)]
        benchlib.run_loadgen(server.port, args.client_cpu, prefill)
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
    server = benchlib.start(kind, args.server_cpu)
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


def medians(results):
    out = {}
    for case_key, by_server in results["samples"].items():
        out[case_key] = {kind: {m: benchlib.median(samples, m) for m, _, _ in METRICS}
                         for kind, samples in by_server.items() if samples}
    memory_metrics = ("used_memory_per_key_b", "rss_per_key_b", "used_memory_mib", "peak_rss_mib", "load_s")
    out["memory"] = {kind: {m: benchlib.median(samples, m) for m in memory_metrics}
                     for kind, samples in results["memory"].items() if samples}
    return out


def ratio(corekv, redis):
    return f"{corekv / redis:.2f}" if corekv is not None and redis else "–"


def refused_for(refused, case, kind):
    """Did `kind` refuse the persistence setting that `case` needs?"""
    return bool(case.persistence) and kind in refused.get(case.persistence, {})


def performance_tables(plan, med, refused):
    titles = " | ".join(title for _, title, _ in METRICS) + " |"
    ratios = ["| case | " + titles, "|---|" + "---:|" * len(METRICS)]
    absolute = ["| case | server | " + titles, "|---|---|" + "---:|" * len(METRICS)]
    for case in TABLE_CASES:
        title, by_server = case.title(plan), med.get(case.key, {})
        for kind in SERVERS:
            if kind in by_server:
                cells = [fmt.format(by_server[kind][m]) for m, _, fmt in METRICS]
            else:
                cells = [NOT_SUPPORTED if refused_for(refused, case, kind) else "–"]
                cells += ["–"] * (len(METRICS) - 1)
            absolute.append(f"| {title} | {SERVER_TITLES[kind]} | " + " | ".join(cells) + " |")
        if all(kind in by_server for kind in SERVERS):
            cells = [ratio(by_server["corekv"][m], by_server["redis"][m]) for m, _, _ in METRICS]
        else:
            missing = [kind for kind in SERVERS if kind not in by_server]
            cells = [f"{SERVER_TITLES[missing[0]]}: {NOT_SUPPORTED}" if refused_for(refused, case, missing[0])
                     else "–"]
            cells += [""] * (len(METRICS) - 1)
        ratios.append(f"| {title} | " + " | ".join(cells) + " |")
    return ratios, absolute


def memory_table(args, med, results_memory):
    rows = [("used_memory_per_key_b", "INFO used_memory growth, bytes/key", "{:.1f}"),
            ("rss_per_key_b", "RSS growth, bytes/key", "{:.1f}"),
            ("peak_rss_mib", "peak RSS, MiB", "{:.1f}"),
            ("load_s", "load time (redis-cli --pipe), s", "{:.2f}")]
    lines = [f"| {args.memory_keys:,} keys ({MEMORY_KEY_BYTES} B keys, {MEMORY_VALUE_BYTES} B values) "
             "| Redis | corekv | corekv/Redis |", "|---|---:|---:|---:|"]
    redis, corekv = med["memory"].get("redis", {}), med["memory"].get("corekv", {})
    for key, title, fmt in rows:
        cells = [fmt.format(side[key]) if side.get(key) is not None else "–" for side in (redis, corekv)]
        lines.append(f"| {title} | {cells[0]} | {cells[1]} | {ratio(corekv.get(key), redis.get(key))} |")
    allocators = [samples[-1]["mem_allocator"] if samples else "–" for samples in
                  (results_memory["redis"], results_memory["corekv"])]
    lines.append(f"| allocator (INFO mem_allocator) | {allocators[0]} | {allocators[1]} | |")
    return lines


def persistence_note(med, refused):
    """Each server's everysec against its own persistence off, per load; refusals."""
    lines = []
    for kind in SERVERS:
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
    ratios, absolute = performance_tables(plan, med, results["refused"])
    length = (f"{args.requests:,} requests per closed-loop load" if args.requests
              else f"{args.duration:g} s per load")
    lines = [
        f"corekv vs Redis {m['redis_server']}: medians of {args.rounds} alternating "
        f"round{'s' if args.rounds != 1 else ''}, {length}. "
        f"Servers on CPU {args.server_cpu} (`redis-server --save '' --appendonly no`, "
        f"`corekv-server --shards 1 --cpus {args.server_cpu} --appendonly no`), "
        f"clients on CPU {args.client_cpu}; "
        f"{args.clients} connections, {args.keyspace:,} keys, {args.value_size}-byte values.",
        "",
        f"Machine: {m['nproc']} CPUs, {m['cpu_model']}, Linux {m['kernel']}; load average "
        f"{load['start'][0]:.2f} at the start, {load['end'][0]:.2f} at the end; {settings['date']}.",
        f"Reproduce with `{results['command']}`.",
        "",
        "**corekv/Redis ratios** (above 1: corekv higher, which is better for req/s and worse for the rest):",
        "",
        *ratios,
        "",
        "**Medians:**",
        "",
        *absolute,
        "",
        *memory_table(args, med, results["memory"]),
        "",
    ]
    notes = persistence_note(med, results["refused"])
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
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    ap.add_argument("--duration", type=float, help=f"seconds per load (default {FULL['duration']:g})")
    ap.add_argument("--requests", type=int, help="requests per closed-loop load, instead of --duration")
    ap.add_argument("--memory-keys", type=int, help=f"keys for the memory case (default {FULL['memory_keys']:,})")
    ap.add_argument("--clients", type=int, default=50, help="connections (default 50)")
    ap.add_argument("--keyspace", type=int, default=100_000, help="keys of the loads (default 100000)")
    ap.add_argument("--value-size", type=int, default=32, help="value bytes (default 32)")
    ap.add_argument("--rate", type=int, help="open-loop requests/s for both GET and SET (default: "
                    "half of Redis's closed-loop P1 rate in round 1)")
    ap.add_argument("--no-build", action="store_true",
                    help="use the binaries in target/release as they are (default: cargo build --release first)")
    ap.add_argument("--server-cpu", default="0", help="CPU for the servers (default 0)")
    ap.add_argument("--client-cpu", default="1", help="CPU for the load generators (default 1)")
    ap.add_argument("--out-dir", default=os.path.join(benchlib.ROOT, "bench", "results"),
                    help="where latest.md and latest.json go (default bench/results)")
    args = ap.parse_args()
    profile = QUICK if args.quick else FULL
    args.duration = args.duration or profile["duration"]
    args.memory_keys = args.memory_keys or profile["memory_keys"]
    if args.rounds < 1 or args.duration <= 0 or args.memory_keys < 1:
        ap.error("--rounds, --duration and --memory-keys must be positive")
    if args.server_cpu == args.client_cpu:
        ap.error("--server-cpu and --client-cpu must differ: the servers and clients would share a CPU")
    return args


def main():
    args = parse_args()
    benchlib.require_tools("redis-server", "redis-benchmark", "redis-cli", "taskset")
    if not args.no_build:
        benchlib.cargo_build_release("corekv-server", "corekv-loadgen")
    fixed_rates = {"get": args.rate, "set": args.rate} if args.rate else {}
    plan = Plan(rates=fixed_rates)
    results = {
        "format": "corekv-bench-suite/2",
        "command": shlex.join(["bench/suite.py", *sys.argv[1:]]),
        "machine": benchlib.machine(),
        "settings": {**vars(args), "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds")},
        "load_average": {"start": os.getloadavg()},
        "samples": {},
        "memory": {kind: [] for kind in SERVERS},
        "refused": {},  # persistence setting -> server -> its start-up message
    }
    with tempfile.TemporaryDirectory(prefix="bench-suite-") as scratch:
        pipe_path = os.path.join(scratch, "memory.resp")
        benchlib.write_set_pipe_file(pipe_path, args.memory_keys)
        for rnd in range(args.rounds):
            for kind in benchlib.round_order(rnd):
                closed_session(args, plan, results, rnd, kind)
            for setting in PERSISTENCE:
                for kind in benchlib.round_order(rnd):
                    persistence_session(args, plan, results, rnd, kind, setting)
            for kind in benchlib.round_order(rnd):
                memory_session(args, results, rnd, kind, pipe_path)
        for rnd in range(args.rounds):
            for kind in benchlib.round_order(rnd):
                open_session(args, plan, results, rnd, kind)
    results["load_average"]["end"] = os.getloadavg()
    results["plan"] = dataclasses.asdict(plan)
    results["medians"] = medians(results)
    table = render(args, plan, results)
    print(table)
    os.makedirs(args.out_dir, exist_ok=True)
    with open(os.path.join(args.out_dir, "latest.md"), "w") as f:
        f.write(table)
    with open(os.path.join(args.out_dir, "latest.json"), "w") as f:
        json.dump(results, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
