#!/usr/bin/env python3
"""corekv vs redis-server per command family: throughput, CPU and latency of each
family's commands, and the memory its values take.

Both servers get one CPU (`--shards 1 --appendonly no` for corekv), pinned away from
the client's CPU; rounds alternate which server goes first. Every row of a family
runs redis-benchmark on a fresh server of each kind, the rows of a family in order
(so an `HGET` row finds what the `HSET` row wrote). Memory rows load values through
`redis-cli --pipe` and report RSS growth per element.

A new command family adds its rows to ROWS (and, for its values' memory, to
MEMORY_ROWS); bench/suite.py runs them all as its `families` section.

    bench/families.py                    # every family, 3 rounds
    bench/families.py --family string,hash,set  # some families (string: GET and SET, the yardstick)
    bench/families.py --quick            # smoke run: short loads, a tenth of the keys
    bench/families.py --memory-only      # the memory table only

Needs redis-server, redis-benchmark, redis-cli and taskset; uses target/release as it
is (build it first, or run bench/suite.py which does).
"""

import argparse
import dataclasses
import os
import sys
import tempfile

import benchlib


@dataclasses.dataclass(frozen=True)
class Row:
    family: str
    title: str
    # redis-benchmark's arguments after the common ones: `-t name` or a command
    # whose `__rand_int__` redis-benchmark replaces with a random key number; for a
    # corekv-loadgen row, its `--command` template (`__key__`: a key number).
    argv: tuple
    pipeline: int = 1
    tool: str = "redis-benchmark"


def _t(family, test, pipeline=1):
    return Row(family, f"{test.upper()} P{pipeline}", ("-t", test), pipeline)


def _cmd(family, pipeline, *command):
    return Row(family, f"{' '.join(command).replace('__rand_int__', 'N')} P{pipeline}", command, pipeline)


def _template(family, pipeline, template):
    """A corekv-loadgen row: `template` with `__key__` a number drawn uniformly below
    TEMPLATE_KEYSPACE."""
    return Row(family, f"{template.replace('__key__', 'N')} P{pipeline} (loadgen)", (template,), pipeline,
               "loadgen")


# The element numbers the loadgen rows draw, all present in their prefilled keys.
TEMPLATE_KEYSPACE = 1000


# The `string` family is the yardstick the others are read against: a family's
# CPU ratio to Redis is compared with GET's and SET's from the same run.
ROWS = (
    _t("string", "set"),
    _t("string", "set", 16),
    _t("string", "get"),
    _t("string", "get", 16),
    _template("string", 1, "GET str:__key__"),
    # Large values: the input path (a stream of large requests is received
    # straight into the session's buffer). 1,000 keys, so the 10 KB values fit.
    Row("string", "SET 1 KB values P16", ("-t", "set", "-d", "1000", "-r", "1000"), 16),
    Row("string", "SET 10 KB values P16", ("-t", "set", "-d", "10000", "-r", "1000"), 16),
    # Big bulks (from 32 KiB): each one's room is made once its header is framed.
    Row("string", "SET 100 KB values", ("-t", "set", "-d", "100000", "-r", "1000"), 1),
    Row("string", "SET 100 KB values P16", ("-t", "set", "-d", "100000", "-r", "1000"), 16),
    _t("hash", "hset"),
    _t("hash", "hset", 16),
    _cmd("hash", 1, "HGET", "myhash", "element:__rand_int__"),
    _cmd("hash", 16, "HINCRBY", "counters", "c:__rand_int__", "1"),
    _cmd("hash", 1, "HGETALL", "myhash:small"),
    _t("set", "sadd"),
    _t("set", "sadd", 16),
    _cmd("set", 1, "SISMEMBER", "myset", "element:__rand_int__"),
    _t("set", "spop"),
    _template("hash", 1, "HGET lg:hash f:__key__"),
    _template("hash", 1, "HGETALL myhash:small"),
    _template("set", 1, "SISMEMBER lg:set m:__key__"),
    _template("set", 1, "SMEMBERS myset:small"),
    _cmd("hyperloglog", 1, "PFADD", "hll", "element:__rand_int__"),
    _cmd("hyperloglog", 16, "PFADD", "hll", "element:__rand_int__"),
    _cmd("hyperloglog", 1, "PFCOUNT", "hll"),
    _cmd("hyperloglog", 1, "PFCOUNT", "hll", "hll:small"),
    _cmd("bitmap", 1, "BITFIELD", "bits:__rand_int__", "INCRBY", "u8", "#100", "1", "GET", "i16", "#20"),
    _cmd("bitmap", 16, "BITFIELD", "bits:__rand_int__", "OVERFLOW", "SAT", "INCRBY", "i32", "#7", "1000"),
    _cmd("bitmap", 1, "BITFIELD_RO", "bits:__rand_int__", "GET", "u8", "#100"),
    _cmd("geo", 1, "GEOADD", "points", "13.__rand_int__", "38.__rand_int__", "m:__rand_int__"),
    _cmd("geo", 1, "GEOSEARCH", "points", "FROMLONLAT", "13.5", "38.5", "BYRADIUS", "10", "km", "ASC", "COUNT", "10"),
    _cmd("geo", 1, "GEOSEARCH", "points", "FROMLONLAT", "13.5", "38.5", "BYBOX", "20", "20", "km", "WITHDIST"),
    _cmd("geo", 16, "GEOSEARCH", "points", "FROMMEMBER", "grid:500", "BYRADIUS", "5", "km", "WITHCOORD"),
    _cmd("geo", 1, "GEOSEARCHSTORE", "near", "points", "FROMLONLAT", "13.5", "38.5", "BYRADIUS", "10", "km"),
)

# Points of the GEOSEARCH rows' set: a 40 x 25 grid over a degree of longitude and
# latitude, about 2.5 km apart.
GEO_GRID = [(13 + (i % 40) / 40, 38 + (i // 40) / 25, f"grid:{i}") for i in range(1000)]

# Values written before a family's rows (the HGETALL row reads a 10-field hash, the
# GEOSEARCH rows the grid).
PREFILL = {
    "string": [["MSET", *[x for i in range(TEMPLATE_KEYSPACE) for x in (f"str:{i}", f"value:{i:010d}")]]],
    "hash": [["HSET", "myhash:small", *[x for i in range(10) for x in (f"f{i}", f"value{i}")]],
             ["HSET", "lg:hash", *[x for i in range(TEMPLATE_KEYSPACE) for x in (f"f:{i}", f"value:{i:010d}")]]],
    # The SMEMBERS row reads a 10-member set of strings.
    "set": [["SADD", "myset:small", *[f"member{i}" for i in range(10)]],
            ["SADD", "lg:set", *[f"m:{i}" for i in range(TEMPLATE_KEYSPACE)]]],
    # The multi-key PFCOUNT row counts the union with a small sparse HLL.
    "hyperloglog": [["PFADD", "hll:small", *[f"small:{i}" for i in range(100)]]],
    "geo": [["GEOADD", "points", *[x for lon, lat, m in GEO_GRID for x in (f"{lon:.6f}", f"{lat:.6f}", m)]]],
}


# SORT and DUMP rows: a 100-element list sorted as numbers, by a pattern with two
# GETs (200 lookups per call), and stored; DUMP of a small hash and of the list.
# RESTORE has no row: redis-benchmark cannot pass a payload's NUL bytes.
SORT_ELEMENTS = 100
ROWS = ROWS + (
    _cmd("sort", 1, "SORT", "sort:list"),
    _cmd("sort", 1, "SORT", "sort:list", "BY", "sort:w_*", "GET", "#", "GET", "sort:o_*->n"),
    _cmd("sort", 1, "SORT", "sort:list", "LIMIT", "0", "10", "STORE", "sort:dst"),
    _cmd("dump", 1, "DUMP", "dump:hash"),
    _cmd("dump", 1, "DUMP", "dump:list"),
)
PREFILL["sort"] = [
    ["RPUSH", "sort:list", *[str((i * 37) % SORT_ELEMENTS) for i in range(SORT_ELEMENTS)]],
    *[["SET", f"sort:w_{i}", str(SORT_ELEMENTS - i)] for i in range(SORT_ELEMENTS)],
    *[["HSET", f"sort:o_{i}", "n", f"name{i}"] for i in range(SORT_ELEMENTS)],
]
# Long collections at pipeline 16: an element in the middle of a 100,000-element
# list (a walk through one node), and ZADD into a 100,000-member sorted set (its
# ordered encoding's insert and removal).
LONG_ELEMENTS = 100_000
ROWS = ROWS + (
    _cmd("list", 16, "LINDEX", "long:list", str(LONG_ELEMENTS // 2)),
    _cmd("list", 16, "LSET", "long:list", str(LONG_ELEMENTS // 2), "x"),
    _cmd("zset", 16, "ZADD", "long:zset", "__rand_int__", "m:__rand_int__"),
)
PREFILL["list"] = [["RPUSH", "long:list", *[f"element:{j}" for j in range(i, i + 1000)]]
                   for i in range(0, LONG_ELEMENTS, 1000)]
PREFILL["zset"] = [["ZADD", "long:zset", *[x for j in range(i, i + 1000) for x in (str(j), f"m:{j:012d}")]]
                   for i in range(0, LONG_ELEMENTS, 1000)]
PREFILL["dump"] = [
    ["HSET", "dump:hash", *[x for i in range(10) for x in (f"f{i}", f"value{i}")]],
    ["RPUSH", "dump:list", *[f"element:{i}" for i in range(SORT_ELEMENTS)]],
]

@dataclasses.dataclass(frozen=True)
class MemoryRow:
    family: str
    title: str
    keys: int  # at full size
    elements: int  # per key
    # The command adding elements to key i: (i, range of element numbers) -> args.
    command: object


def _hash_cmd(i, elements):
    """8-byte field names, 16-byte values."""
    return ["HSET", f"hash:{i:012d}", *[x for j in elements for x in (f"f:{j:06d}", f"value:{j:010d}")]]


def _set_ints(i, elements):
    return ["SADD", f"set:{i:012d}", *[str(j) for j in elements]]


def _set_strs(i, elements):
    return ["SADD", f"set:{i:012d}", *[f"member:{j:016d}" for j in elements]]


def _zset_cmd(i, elements):
    """Integer scores, 15-byte members."""
    return ["ZADD", f"zset:{i:012d}", *[x for j in elements for x in (str(j), f"member:{j:08d}")]]


# The sizes of the hash and set issue's memory table, and the sorted sets' small row.
MEMORY_ROWS = (
    MemoryRow("hash", "1M hashes of 10 fields (listpack)", 1_000_000, 10, _hash_cmd),
    MemoryRow("hash", "100 hashes of 100k fields (hashtable)", 100, 100_000, _hash_cmd),
    MemoryRow("set", "1M sets of 10 small integers (intset)", 1_000_000, 10, _set_ints),
    MemoryRow("set", "100 sets of 100k strings (hashtable)", 100, 100_000, _set_strs),
    MemoryRow("zset", "1M sorted sets of 10 members (listpack)", 1_000_000, 10, _zset_cmd),
)
# A key's elements go in commands of at most this many.
MEMORY_BATCH = 1000
QUICK_SCALE = 10
FULL = {"requests": 200_000}
QUICK = {"requests": 20_000}


def families():
    return sorted({r.family for r in ROWS} | {r.family for r in MEMORY_ROWS})


def resp(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        data = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def write_memory_file(path, row, scale):
    """The row's commands as RESP (a key's elements in commands of at most
    MEMORY_BATCH); returns how many commands and elements."""
    keys = max(1, row.keys // scale)
    commands = 0
    with open(path, "wb") as f:
        for i in range(keys):
            for first in range(0, row.elements, MEMORY_BATCH):
                f.write(resp(row.command(i, range(first, min(row.elements, first + MEMORY_BATCH)))))
                commands += 1
    return commands, keys * row.elements


def run_row(args, server, row):
    if row.tool == "loadgen":
        flags = ["-c", str(args.clients), "-P", str(row.pipeline), "--keyspace", str(TEMPLATE_KEYSPACE),
                 "-n", str(args.row_requests), "--key-prefix", "", "--command", *row.argv]
        return benchlib.measure(server, lambda: benchlib.run_loadgen(server.port, args.client_cpu, flags))
    argv = ["redis-benchmark", "-p", str(server.port), "-n", str(args.row_requests), "-c", str(args.clients),
            "-P", str(row.pipeline), "-r", str(args.keyspace), *row.argv]
    return benchlib.measure(server, lambda: benchlib.parse_redis_benchmark(
        benchlib.run_pinned(args.client_cpu, argv), args.row_requests))


def family_session(args, results, rnd, kind, family):
    server = benchlib.start(kind, args.server_cpu)
    try:
        for command in PREFILL.get(family, []):
            benchlib.resp_command(server.port, *command)
        for row in (r for r in ROWS if r.family == family):
            r = run_row(args, server, row)
            results["samples"].setdefault(f"{family}:{row.title}", {k: [] for k in benchlib.SERVERS})[kind].append(r)
            log(f"round {rnd + 1} {kind:6} {row.title:36} {r['rps']:>11,.0f} req/s {r['cpu_us']:6.2f} µs/req "
                f"p50 {r['p50_ms']:.3f} p99 {r['p99_ms']:.3f} ms")
    finally:
        server.stop()


def memory_session(args, results, rnd, kind, row, path, commands, elements):
    server = benchlib.start(kind, args.server_cpu)
    try:
        before = server.rss_kib()
        benchlib.pipe(server.port, args.client_cpu, path, commands)
        per = (server.rss_kib() - before) * 1024 / elements
    finally:
        server.stop()
    results["memory"].setdefault(row.title, {k: [] for k in benchlib.SERVERS})[kind].append(per)
    log(f"round {rnd + 1} {kind:6} memory {row.title}: {per:.1f} B/element")


def log(line):
    print(line, file=sys.stderr, flush=True)


def run(args, chosen):
    """Every round of the chosen families; the results dict the tables are made from."""
    results = {"samples": {}, "memory": {}}
    scale = QUICK_SCALE if args.quick else 1
    with tempfile.TemporaryDirectory(prefix="bench-families-") as scratch:
        files = {}
        for i, row in enumerate(r for r in MEMORY_ROWS if r.family in chosen):
            path = os.path.join(scratch, f"memory{i}.resp")
            files[row] = (path, *write_memory_file(path, row, scale))
        for rnd in range(args.rounds):
            for family in [] if args.memory_only else chosen:
                for kind in benchlib.round_order(rnd):
                    family_session(args, results, rnd, kind, family)
            for row, (path, commands, elements) in files.items():
                for kind in benchlib.round_order(rnd):
                    memory_session(args, results, rnd, kind, row, path, commands, elements)
    return results


def ratio(a, b):
    return f"{a / b:.2f}" if a is not None and b else "–"


def tables(results):
    """Markdown: per row, each server's medians and corekv/Redis; then memory."""
    med = {key: {kind: {m: benchlib.median(s, m) for m in ("rps", "cpu_us", "p50_ms", "p99_ms")}
                 for kind, s in by.items() if s} for key, by in results["samples"].items()}
    lines = ["| family · command (redis-benchmark, or corekv-loadgen where the row says so) | Redis req/s | corekv req/s | req/s corekv/Redis "
             "| Redis CPU µs/req | corekv CPU µs/req | CPU corekv/Redis | p99 ms Redis / corekv |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"] if med else []
    for key, by in med.items():
        r, c = by.get("redis", {}), by.get("corekv", {})
        cell = lambda side, m, fmt: fmt.format(side[m]) if side.get(m) is not None else "–"  # noqa: E731
        lines.append(f"| {key.replace(':', ' · ', 1)} | {cell(r, 'rps', '{:,.0f}')} | {cell(c, 'rps', '{:,.0f}')} "
                     f"| {ratio(c.get('rps'), r.get('rps'))} | {cell(r, 'cpu_us', '{:.2f}')} "
                     f"| {cell(c, 'cpu_us', '{:.2f}')} | {ratio(c.get('cpu_us'), r.get('cpu_us'))} "
                     f"| {cell(r, 'p99_ms', '{:.3f}')} / {cell(c, 'p99_ms', '{:.3f}')} |")
    if results["memory"]:
        lines += ["", "| memory (RSS growth per element) | Redis B | corekv B | corekv/Redis |",
                  "|---|---:|---:|---:|"]
        for title, by in results["memory"].items():
            r = benchlib.median([{"v": v} for v in by["redis"]], "v")
            c = benchlib.median([{"v": v} for v in by["corekv"]], "v")
            lines.append(f"| {title} | {r:.1f} | {c:.1f} | {ratio(c, r)} |")
    return lines


def add_args(ap):
    ap.add_argument("--family", help=f"comma-separated families (default all: {','.join(families())})")
    ap.add_argument("--memory-only", action="store_true", help="only the families' memory rows")
    ap.add_argument("--family-requests", type=int, help="requests per family row (default "
                    f"{FULL['requests']:,}; {QUICK['requests']:,} with --quick)")


def chosen_families(ap, args):
    chosen = args.family.split(",") if args.family else families()
    unknown = set(chosen) - set(families())
    if unknown:
        ap.error(f"unknown families {sorted(unknown)}; known: {families()}")
    args.row_requests = args.family_requests or (QUICK if args.quick else FULL)["requests"]
    return chosen


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--keyspace", type=int, default=100_000)
    ap.add_argument("--server-cpu", default="0")
    ap.add_argument("--client-cpu", default="1")
    add_args(ap)
    args = ap.parse_args()
    chosen = chosen_families(ap, args)
    benchlib.require_tools("redis-server", "redis-benchmark", "redis-cli", "taskset")
    print("\n".join(tables(run(args, chosen))))


if __name__ == "__main__":
    main()
