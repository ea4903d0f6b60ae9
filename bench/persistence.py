#!/usr/bin/env python3
"""corekv vs redis-server with persistence: what the journal costs per write, how long
a restart takes, and how many bytes a SET leaves on disk.

Both servers get one CPU (redis-server --save ''; corekv-server --shards 1 --cpus
CPU), pinned with taskset away from the clients' CPU (this script pins itself there
too), and the same persistence flags, which are Redis's names on both. Every round
runs each section on fresh servers, Redis first in odd rounds and corekv first in
even ones; reported are medians over the rounds and corekv/Redis ratios.

  a  SET throughput: `redis-benchmark -t set -c 50 -P 1 -n 500000 -r 100000 -d 32`
     on a fresh server per setting: --appendonly no; --appendonly yes
     --appendfsync everysec; --appendonly yes --appendfsync always. requests/s and
     server CPU µs per request (utime + stime from /proc/PID/stat, the kernel's
     I/O worker threads included). --settings picks some of them, --pipelines
     runs each at other depths too (-P 16 ...), and --baseline BINARY adds another
     corekv-server build in the same rounds ("corekv base"), to compare two
     versions on a shared machine.
  b  Restart with 1,000,000 keys, --appendonly yes --appendfsync everysec: load
     1,000,000 SETs of distinct keys (16-byte keys, 32-byte values) with
     redis-cli --pipe, BGREWRITEAOF (once any automatic rewrite is over) and wait
     for INFO persistence to show aof_rewrite_in_progress:0 (Redis: an
     RDB-preamble base file; corekv: a snapshot per shard), then 100,000 SETs that overwrite keys already there (so
     the journal has a tail and the count stays 1,000,000), wait 1.5 s (over one
     everysec fsync), SIGKILL. Reported: the data directory's bytes at the kill, and
     the wall time from spawning a new server on the same --dir until DBSIZE answers
     (not -LOADING) with 1,000,000; a GET of an overwritten key and of an untouched
     one then checks that both the tail and the snapshot came back.
  c  Journal bytes per SET, --appendonly yes --appendfsync everysec: 200,000 SETs
     of distinct 16-byte keys and 32-byte values through redis-cli --pipe, 1.5 s of
     quiet, a stop (SIGTERM; a running corekv's open journal segment also holds up
     to a megabyte of zeros reserved ahead of its records, which the stop cuts off),
     then the bytes of the journal files (Redis: appendonlydir/, i.e. base
     RDB, incr AOF and manifest; corekv: every file under --dir) over 200,000. For
     scale: such a SET is 75 bytes of RESP.

A server that cannot run a part is reported as not supported for that part, with
the reason, and the rest still runs: it refused the flags at start-up (a build
without persistence), or started but INFO persistence disagrees (aof_enabled), or it
has no BGREWRITEAOF or no aof_rewrite_in_progress field (section b). Anything else
going wrong (a wrong key count or value after the restart) stops the run.

    bench/persistence.py                  # full run: 3 rounds, about 5 minutes on 2 CPUs
    bench/persistence.py --quick          # smoke run: fewer requests and keys, about 1 minute
    bench/persistence.py --rounds 1 --only b    # one section (letters a, b, c)
    bench/persistence.py --only a --settings everysec,always --pipelines 1,16 \
        --baseline /tmp/corekv-server-before   # before/after of a change

Data directories are made under $TMPDIR (default /tmp); the report names their file
system, since fsync costs depend on it. Writes the Markdown tables to stdout and to
--out with .md, every sample to --out with .json (default bench/results/persistence).
Needs redis-server, redis-benchmark, redis-cli and taskset on PATH; builds
corekv-server in release mode first (--no-build: use target/release as it is).
"""

import argparse
import datetime
import json
import os
import shlex
import shutil
import sys
import tempfile
import time

import benchlib

SERVERS = benchlib.SERVERS
SERVER_TITLES = {"redis": "Redis", "corekv": "corekv", "base": "corekv base"}
# Section a may run a third server: the --baseline build of corekv-server.
BASELINE = "base"
NOT_SUPPORTED = "not supported by this build"
EVERYSEC = ("--appendonly", "yes", "--appendfsync", "everysec")
ALWAYS = ("--appendonly", "yes", "--appendfsync", "always")
SETTINGS = {"off": benchlib.APPENDONLY_NO, "everysec": EVERYSEC, "always": ALWAYS}  # name -> server flags
SECTIONS = "abc"
PART_TITLES = {**{f"a-{setting}": f"SET throughput, {setting}" for setting in SETTINGS},
               "b": "restart", "c": "journal bytes per SET"}
CLIENTS = 50
KEYSPACE = 100_000
VALUE_BYTES = 32
SET_RESP_BYTES = 75  # *3 $3 SET $16 key $32 value, with their CRLFs
# everysec fsyncs once a second: after this long, what was written is on disk.
SYNC_WAIT_S = 1.5
REWRITE_TIMEOUT_S = 300
RESTART_TIMEOUT_S = 300
REWRITE_POLL_S = 0.01
RESTART_POLL_S = 0.005
FULL = {"requests": 500_000, "restart_keys": 1_000_000, "tail_keys": 100_000, "journal_sets": 200_000}
QUICK = {"requests": 100_000, "restart_keys": 200_000, "tail_keys": 20_000, "journal_sets": 200_000}


def log(line):
    print(line, file=sys.stderr, flush=True)


class NotSupported(Exception):
    """The server lacks what a part needs: it refused the flags at start-up, or started
    but reports the setting off, or lacks a command or INFO field."""


def unsupported(results, part, kind):
    """Why `kind` cannot run `part` (a-off, a-everysec, a-always, b, c), if it cannot."""
    return results["unsupported"].get(part, {}).get(kind)


def note_unsupported(results, rnd, kind, part, why):
    results["unsupported"].setdefault(part, {})[kind] = str(why)
    log(f"round {rnd + 1} {kind:6} {part}: {NOT_SUPPORTED}: {why}")


def start_checked(args, kind, setting, data_dir=None):
    """A running server with `setting`'s flags whose INFO persistence agrees."""
    flags = " ".join(SETTINGS[setting])
    try:
        if kind == BASELINE:
            server = benchlib.start("corekv", args.server_cpu, extra=SETTINGS[setting], data_dir=data_dir,
                                    binary=args.baseline)
        else:
            server = benchlib.start(kind, args.server_cpu, extra=SETTINGS[setting], data_dir=data_dir)
    except benchlib.Refused as refused:
        raise NotSupported(f"refused `{flags}` at start-up: `{refused}`") from None
    try:
        enabled = benchlib.info_fields(server.port, "persistence").get("aof_enabled")
        if enabled != ("0" if setting == "off" else "1") and not (setting == "off" and enabled is None):
            said = "no aof_enabled field" if enabled is None else f"aof_enabled:{enabled}"
            raise NotSupported(f"started with `{flags}`, but INFO persistence has {said}")
    except BaseException:
        server.stop()
        raise
    return server


def throughput_kinds(args, rnd):
    """Section a's servers in round `rnd`'s order: the baseline build runs right after
    corekv."""
    kinds = []
    for kind in benchlib.round_order(rnd):
        kinds.append(kind)
        if kind == "corekv" and args.baseline:
            kinds.append(BASELINE)
    return kinds


def throughput_session(args, results, rnd, kind, setting, pipeline):
    """Section a: one redis-benchmark SET run on a fresh server with `setting`."""
    part = f"a-{setting}"
    if unsupported(results, part, kind):
        return
    try:
        server = start_checked(args, kind, setting)
    except NotSupported as why:
        note_unsupported(results, rnd, kind, part, why)
        return
    try:
        sample = benchlib.measure(server, lambda: benchlib.run_redis_benchmark(
            server.port, args.client_cpu, "set", args.requests * pipeline, CLIENTS, pipeline, KEYSPACE,
            VALUE_BYTES))
    finally:
        server.stop()
    sample["round"] = rnd + 1
    results["throughput"][setting][str(pipeline)].setdefault(kind, []).append(sample)
    log(f"round {rnd + 1} {kind:6} SET P{pipeline:<2} {setting:8} {sample['rps']:>10,.0f} req/s "
        f"{sample['cpu_us']:6.2f} µs/req  "
        f"p50 {sample['p50_ms']:.3f}  p99 {sample['p99_ms']:.3f} ms")


def wait_rewrite_done(port, rewrites_before, started):
    """Polls INFO persistence until no AOF rewrite is running or scheduled (and, where
    the server counts them, one more has finished than `rewrites_before`)."""
    while True:
        info = benchlib.info_fields(port, "persistence")
        if "aof_rewrite_in_progress" not in info:
            raise NotSupported("INFO persistence has no aof_rewrite_in_progress field")
        done = info["aof_rewrite_in_progress"] == "0" and info.get("aof_rewrite_scheduled", "0") == "0"
        if rewrites_before is not None:
            done = done and int(info["aof_rewrites"]) > rewrites_before
        if done:
            status = info.get("aof_last_bgrewrite_status", "ok")
            if status != "ok":
                raise RuntimeError(f"BGREWRITEAOF failed: aof_last_bgrewrite_status:{status}")
            return
        if time.monotonic() - started > REWRITE_TIMEOUT_S:
            raise RuntimeError(f"BGREWRITEAOF still running after {REWRITE_TIMEOUT_S} s")
        time.sleep(REWRITE_POLL_S)


def rewrite_aof(port):
    """BGREWRITEAOF, once any automatic rewrite has finished; seconds until done."""
    wait_rewrite_done(port, None, time.monotonic())
    rewrites = benchlib.info_fields(port, "persistence").get("aof_rewrites")
    started = time.monotonic()
    try:
        benchlib.resp_command(port, "BGREWRITEAOF")
    except RuntimeError as error:
        if "unknown command" in str(error).lower():
            raise NotSupported(f"no BGREWRITEAOF: {error}") from None
        raise
    wait_rewrite_done(port, None if rewrites is None else int(rewrites), started)
    return time.monotonic() - started


def log_tail(server, lines=5):
    with open(server.log_path, errors="replace") as f:
        return " | ".join(line.strip() for line in f.readlines()[-lines:])


def wait_loaded(server, keys):
    """Seconds from spawning `server` until DBSIZE answers; the answer must be `keys`.

    While loading, servers answer -LOADING (or do not accept connections yet)."""
    last_error = None
    while True:
        if server.exited():
            raise RuntimeError(f"{server.name} exited while loading: {log_tail(server)}")
        try:
            count = benchlib.resp_command(server.port, "DBSIZE")
        except (OSError, RuntimeError) as error:
            last_error = error
        else:
            elapsed_s = time.monotonic() - server.started
            if count != keys:
                raise RuntimeError(f"{server.name} restarted with {count} keys, not {keys}")
            return elapsed_s
        if time.monotonic() - server.started > RESTART_TIMEOUT_S:
            raise RuntimeError(f"{server.name} not loaded after {RESTART_TIMEOUT_S} s; last: {last_error}")
        time.sleep(RESTART_POLL_S)


def expect_value(port, key, value):
    got = benchlib.resp_command(port, "GET", key)
    if got != value:
        raise RuntimeError(f"after restart GET {key} is {got!r}, not {value!r}")


def fill_and_crash(args, server, pipes):
    """Section b's writes on a running server, up to the SIGKILL; seconds taken by the
    load and by BGREWRITEAOF."""
    started = time.monotonic()
    benchlib.pipe(server.port, args.client_cpu, pipes["load"], args.restart_keys)
    load_s = time.monotonic() - started
    rewrite_s = rewrite_aof(server.port)
    benchlib.pipe(server.port, args.client_cpu, pipes["tail"], args.tail_keys)
    keys = benchlib.resp_command(server.port, "DBSIZE")
    if keys != args.restart_keys:
        raise RuntimeError(f"{server.name} holds {keys} keys after loading {args.restart_keys}")
    time.sleep(SYNC_WAIT_S)
    server.kill()
    return load_s, rewrite_s


def restart_session(args, results, rnd, kind, scratch, pipes):
    """Section b: fill, rewrite, add a journal tail, SIGKILL, time the restart."""
    if unsupported(results, "b", kind):
        return
    data_dir = tempfile.mkdtemp(prefix=f"restart-{kind}-", dir=scratch)
    try:
        try:
            server = start_checked(args, kind, "everysec", data_dir)
            try:
                load_s, rewrite_s = fill_and_crash(args, server, pipes)
            finally:
                server.stop()
        except NotSupported as why:
            note_unsupported(results, rnd, kind, "b", why)
            return
        disk_bytes, files = benchlib.tree_bytes(data_dir)
        restarted = benchlib.start(kind, args.server_cpu, extra=EVERYSEC, data_dir=data_dir, wait=False)
        try:
            restart_s = wait_loaded(restarted, args.restart_keys)
            for i in (0, args.restart_keys - 1):  # the first key was overwritten, the last not
                tag = "new" if i < args.tail_keys else "val"
                expect_value(restarted.port, "key:%012d" % i, f"{tag}:%028d" % i)
        finally:
            restarted.stop()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    sample = {"round": rnd + 1, "restart_s": restart_s, "disk_mib": disk_bytes / 2**20, "files": files,
              "rewrite_s": rewrite_s, "load_s": load_s}
    results["restart"][kind].append(sample)
    log(f"round {rnd + 1} {kind:6} restart {restart_s:.3f} s with {args.restart_keys:,} keys, "
        f"{sample['disk_mib']:.1f} MiB on disk; BGREWRITEAOF {rewrite_s:.2f} s, load {load_s:.2f} s")


def journal_dir(kind, data_dir):
    return os.path.join(data_dir, "appendonlydir") if kind == "redis" else data_dir


def journal_session(args, results, rnd, kind, scratch, pipes):
    """Section c: bytes on disk per SET of distinct keys."""
    if unsupported(results, "c", kind):
        return
    data_dir = tempfile.mkdtemp(prefix=f"journal-{kind}-", dir=scratch)
    try:
        try:
            server = start_checked(args, kind, "everysec", data_dir)
        except NotSupported as why:
            note_unsupported(results, rnd, kind, "c", why)
            return
        try:
            empty_bytes, _ = benchlib.tree_bytes(journal_dir(kind, data_dir))
            benchlib.pipe(server.port, args.client_cpu, pipes["journal"], args.journal_sets)
            time.sleep(SYNC_WAIT_S)
        finally:
            server.stop()
        # Counted once the server stopped: a running corekv's open segment holds
        # zeros reserved ahead of its records, which its stop cuts off.
        disk_bytes, files = benchlib.tree_bytes(journal_dir(kind, data_dir))
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    sample = {"round": rnd + 1, "sets": args.journal_sets, "bytes": disk_bytes, "empty_bytes": empty_bytes,
              "bytes_per_set": disk_bytes / args.journal_sets, "files": files}
    results["journal"][kind].append(sample)
    log(f"round {rnd + 1} {kind:6} journal {sample['bytes_per_set']:.1f} bytes/SET ({disk_bytes:,} bytes, "
        f"{empty_bytes:,} before the SETs)")


def file_system(path):
    """The type and device of the mount holding `path`, from /proc/mounts."""
    path, best = os.path.realpath(path), ("?", "?", "")
    with open("/proc/mounts") as f:
        for line in f:
            device, mount, fs_type = line.split()[:3]
            inside = path == mount or path.startswith(mount.rstrip("/") + "/")
            if inside and len(mount) >= len(best[2]):
                best = (fs_type, device, mount)
    return {"type": best[0], "device": best[1], "mount": best[2]}


def medians(results):
    return {
        "throughput": {setting: {pipeline: {kind: {m: benchlib.median(samples, m)
                                                   for m in ("rps", "cpu_us", "p50_ms", "p99_ms")}
                                            for kind, samples in by_kind.items() if samples}
                                 for pipeline, by_kind in by_pipeline.items()}
                       for setting, by_pipeline in results["throughput"].items()},
        "restart": {kind: {m: benchlib.median(samples, m) for m in ("restart_s", "disk_mib", "rewrite_s", "load_s")}
                    for kind, samples in results["restart"].items() if samples},
        "journal": {kind: {m: benchlib.median(samples, m) for m in ("bytes_per_set", "bytes")}
                    for kind, samples in results["journal"].items() if samples},
    }


def ratio(corekv, redis):
    return f"{corekv / redis:.2f}" if corekv is not None and redis else "–"


def cell(results, part, kind, by_kind, key, fmt):
    if kind in by_kind:
        return fmt.format(by_kind[kind][key])
    return NOT_SUPPORTED if unsupported(results, part, kind) else "–"


def throughput_table(args, results):
    med = results["medians"]["throughput"]
    kinds = [*SERVERS, *([BASELINE] if args.baseline else [])]
    titles = [SERVER_TITLES[kind] for kind in kinds]
    lines = [f"**SET throughput**: `redis-benchmark -t set -c {CLIENTS} -P <P> -n <{args.requests} × P> "
             f"-r {KEYSPACE} -d {VALUE_BYTES}`, a fresh server per setting."
             + (f" corekv base: `{args.baseline}`." if args.baseline else ""), "",
             "| setting | P | " + " | ".join(f"{t} req/s" for t in titles) + " | corekv/Redis | "
             + " | ".join(f"{t} CPU µs/req" for t in titles) + " | corekv/Redis |",
             "|---|---:|" + "---:|" * (2 * len(kinds) + 2)]
    for setting in args.settings:
        for pipeline in args.pipelines:
            by_kind = med.get(setting, {}).get(str(pipeline), {})
            cells = []
            for key, fmt in (("rps", "{:,.0f}"), ("cpu_us", "{:.2f}")):
                cells += [cell(results, f"a-{setting}", kind, by_kind, key, fmt) for kind in kinds]
                cells.append(ratio(*(by_kind.get(kind, {}).get(key) for kind in ("corekv", "redis"))))
            lines.append(f"| `{' '.join(SETTINGS[setting])}` | {pipeline} | " + " | ".join(cells) + " |")
    notes = []
    for kind in kinds:
        off = med.get("off", {}).get("1", {}).get(kind)
        costs = [f"{setting} {on['rps'] / off['rps']:.2f}× the requests/s and {on['cpu_us'] / off['cpu_us']:.2f}× "
                 "the CPU per request" for setting in ("everysec", "always")
                 if off and (on := med.get(setting, {}).get("1", {}).get(kind))]
        if costs:
            notes.append(f"{SERVER_TITLES[kind]}: " + ", ".join(costs))
    if notes:
        lines += ["", "At P1, against the same server with `--appendonly no`: " + "; ".join(notes) + "."]
    return lines


def section_table(results, part, title, rows, med):
    lines = [title, "", "| | Redis | corekv | corekv/Redis |", "|---|---:|---:|---:|"]
    for key, row_title, fmt in rows:
        cells = [cell(results, part, kind, med, key, fmt) for kind in SERVERS]
        lines.append(f"| {row_title} | {cells[0]} | {cells[1]} | "
                     f"{ratio(*(med.get(kind, {}).get(key) for kind in ('corekv', 'redis')))} |")
    return lines


def restart_table(args, results):
    title = (f"**Restart**: {args.restart_keys:,} keys with `{' '.join(EVERYSEC)}`, BGREWRITEAOF, "
             f"{args.tail_keys:,} more SETs to keys already there, SIGKILL {SYNC_WAIT_S:g} s later, "
             "a new server on the same `--dir`.")
    rows = (("restart_s", f"restart until DBSIZE answers {args.restart_keys:,}, s", "{:.3f}"),
            ("disk_mib", "data directory at the kill, MiB", "{:.1f}"),
            ("rewrite_s", "BGREWRITEAOF until aof_rewrite_in_progress:0, s", "{:.2f}"),
            ("load_s", f"loading {args.restart_keys:,} SETs (redis-cli --pipe), s", "{:.2f}"))
    return section_table(results, "b", title, rows, results["medians"]["restart"])


def journal_table(args, results):
    title = (f"**Journal**: {args.journal_sets:,} SETs of distinct 16 B keys, {VALUE_BYTES} B values, "
             f"`{' '.join(EVERYSEC)}`, through redis-cli --pipe; files measured {SYNC_WAIT_S:g} s later.")
    rows = (("bytes_per_set", "bytes on disk per SET", "{:.1f}"),
            ("bytes", "bytes on disk", "{:,.0f}"))
    lines = section_table(results, "c", title, rows, results["medians"]["journal"])
    return lines + ["", f"Redis counts `appendonlydir/` (base RDB, incr AOF, manifest), corekv every file under "
                        f"`--dir`. For scale, one such SET is {SET_RESP_BYTES} bytes of RESP."]


def render(args, results):
    m, fs, load = results["machine"], results["file_system"], results["load_average"]
    lines = [
        f"corekv vs Redis {m['redis_server']} with persistence: medians of {args.rounds} alternating "
        f"round{'s' if args.rounds != 1 else ''}. Servers on CPU {args.server_cpu} (`redis-server --save ''`, "
        f"`corekv-server --shards 1 --cpus {args.server_cpu}`, both with the flags shown), clients on CPU "
        f"{args.client_cpu}; data directories on {fs['type']} ({fs['device']} at {fs['mount']}).",
        "",
        f"Machine: {m['nproc']} CPUs, {m['cpu_model']}, Linux {m['kernel']}; load average "
        f"{load['start'][0]:.2f} at the start, {load['end'][0]:.2f} at the end; {results['settings']['date']}.",
        f"Reproduce with `{results['command']}`.",
        "",
    ]
    tables = {"a": throughput_table, "b": restart_table, "c": journal_table}
    for section in args.only:
        lines += [*tables[section](args, results), ""]
    for part, by_kind in results["unsupported"].items():
        for kind, why in by_kind.items():
            lines.append(f"{SERVER_TITLES[kind]}, {PART_TITLES[part]}: {why}.")
    return "\n".join(lines).rstrip("\n") + "\n"


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help=f"smoke run: {QUICK['requests']:,} requests per load, {QUICK['restart_keys']:,} keys "
                         "for the restart")
    ap.add_argument("--settings", default=",".join(SETTINGS),
                    help=f"section a's persistence settings (default {','.join(SETTINGS)})")
    ap.add_argument("--pipelines", default="1", help="section a's pipeline depths, e.g. 1,16 (default 1)")
    ap.add_argument("--baseline", metavar="BINARY",
                    help="section a also runs this corekv-server build, as \"corekv base\"")
    benchlib.add_section_args(ap, "persistence", SECTIONS, "CPU for the servers")
    args = ap.parse_args()
    args.settings = [setting for setting in args.settings.split(",") if setting]
    if not args.settings or set(args.settings) - set(SETTINGS):
        ap.error(f"--settings takes {', '.join(SETTINGS)}")
    try:
        args.pipelines = [int(p) for p in args.pipelines.split(",")]
    except ValueError:
        ap.error("--pipelines takes positive integers")
    if not args.pipelines or min(args.pipelines) < 1:
        ap.error("--pipelines takes positive integers")
    if args.baseline and not os.access(args.baseline, os.X_OK):
        ap.error(f"--baseline {args.baseline}: not an executable")
    return benchlib.check_section_args(ap, args, SECTIONS, QUICK if args.quick else FULL)


def write_pipes(scratch, args):
    """The RESP files of sections b and c, written once."""
    pipes = {}
    if "b" in args.only:
        pipes["load"] = os.path.join(scratch, "load.resp")
        benchlib.write_set_pipe_file(pipes["load"], args.restart_keys)
        pipes["tail"] = os.path.join(scratch, "tail.resp")
        benchlib.write_set_pipe_file(pipes["tail"], args.tail_keys, b"new:")
    if "c" in args.only:
        pipes["journal"] = os.path.join(scratch, "journal.resp")
        benchlib.write_set_pipe_file(pipes["journal"], args.journal_sets)
    return pipes


def main():
    args = parse_args()
    benchlib.require_tools("redis-server", "redis-benchmark", "redis-cli", "taskset")
    if not args.no_build:
        benchlib.cargo_build_release("corekv-server")
    os.sched_setaffinity(0, {int(cpu) for cpu in args.client_cpu.split(",")})
    results = {
        "format": "corekv-bench-persistence/2",
        "command": shlex.join(["bench/persistence.py", *sys.argv[1:]]),
        "machine": benchlib.machine(),
        "file_system": file_system(tempfile.gettempdir()),
        "settings": {**vars(args), "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds")},
        "load_average": {"start": os.getloadavg()},
        # setting -> pipeline -> server -> samples
        "throughput": {setting: {str(p): {} for p in args.pipelines} for setting in args.settings},
        "restart": {kind: [] for kind in SERVERS},
        "journal": {kind: [] for kind in SERVERS},
        "unsupported": {},  # part (a-off, a-everysec, a-always, b, c) -> server -> why
    }
    with tempfile.TemporaryDirectory(prefix="bench-persistence-") as scratch:
        pipes = write_pipes(scratch, args)
        for rnd in range(args.rounds):
            if "a" in args.only:
                for setting in args.settings:
                    for pipeline in args.pipelines:
                        for kind in throughput_kinds(args, rnd):
                            throughput_session(args, results, rnd, kind, setting, pipeline)
            if "b" in args.only:
                for kind in benchlib.round_order(rnd):
                    restart_session(args, results, rnd, kind, scratch, pipes)
            if "c" in args.only:
                for kind in benchlib.round_order(rnd):
                    journal_session(args, results, rnd, kind, scratch, pipes)
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
