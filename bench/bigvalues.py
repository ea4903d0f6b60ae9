#!/usr/bin/env python3
"""How long 100 MB values keep other clients waiting: corekv vs redis-server.

Each server runs with its default settings but `--appendonly` (both `no` and `yes`,
the rest of persistence at its defaults, so automatic journal/AOF rewrites happen as
they would), corekv with 2 shards on CPUs 0-1, redis-server on the same CPUs.
Four probe clients, each in its own process, loop over `GET` of a small key and
`PING` (probe i reads a key of shard i mod 2, so both shards are read by two probes)
and time every request. Meanwhile a fifth client runs the big-value sequence on two
keys A and B, for two layouts:

  cross  A on shard 0, B on shard 1 (the renamed key C on shard 1)
  same   A and B on shard 0 (C on shard 0 too)

  SET A <100 MB>; SET B <100 MB>; GET A; MGET A B; RENAME A C; COPY C A; DEL A B C

pausing PAUSE_S after each step, so that background work a step starts (a journal
write, an automatic rewrite, freeing memory) falls in that step's window. A probe
request is charged to every step whose window (its start to the next step's start)
it overlaps; reported per step are the worst and the 99th percentile of those
requests' latencies, and for the whole run the worst. `idle` is a window with the
probes alone, the noise floor of the machine. In parentheses: the CPU ms the
server's busiest thread used in the step's window (serving the probes included:
the idle row shows that share for IDLE_S), which a loaded machine stretches less
than the waits.

Key placement uses the Redis Cluster hash slot modulo 2 (corekv's routing); on
redis-server every key is on its one thread anyway.

    bench/bigvalues.py                              # both servers, both settings
    bench/bigvalues.py --binary /tmp/corekv-before --label before --servers corekv
    bench/bigvalues.py --appendonly no --layouts cross --rounds 1

Writes a Markdown table to stdout and every number to --out (.json and .md).
Needs redis-server and taskset; builds corekv-server in release mode first
(--no-build: use target/release as it is). Python 3.11 standard library only.
"""

import argparse
import datetime
import json
import multiprocessing
import os
import socket
import sys
import time

import benchlib

VALUE_BYTES = 100 * 1024 * 1024
SHARDS = 2
SERVER_CPUS = "0-1"
PROBES = 4
# Quiet time after each step of the sequence: a stall a step leaves behind (a
# journal write, a rewrite, a free) shows within its window.
PAUSE_S = 1.0
IDLE_S = 2.0
# A probe request taking longer than this means the server stopped answering.
PROBE_TIMEOUT_S = 60
BIG_TIMEOUT_S = 120
RECV_BYTES = 1 << 20
STEPS = ("SET A", "SET B", "GET A", "MGET A B", "RENAME A C", "COPY C A", "DEL A B C")


def crc16(data):
    """CRC-16/XMODEM, the Redis Cluster key hash."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def shard_of(key):
    return (crc16(key.encode()) % 16384) % SHARDS


def key_on(shard, prefix):
    return next(f"{prefix}{i}" for i in range(1000) if shard_of(f"{prefix}{i}") == shard)


def encode(*args):
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, (bytes, bytearray, memoryview)) else str(arg).encode()
        out += [b"$%d\r\n" % len(data), data, b"\r\n"]
    return out


class Conn:
    """A blocking RESP connection that reads whole replies, bulks of any size."""

    def __init__(self, port, timeout):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()

    def send(self, *args):
        parts = encode(*args)
        if sum(len(p) for p in parts) < 64 * 1024:
            self.sock.sendall(b"".join(parts))
        else:
            for part in parts:
                self.sock.sendall(part)

    def _fill(self):
        chunk = self.sock.recv(RECV_BYTES)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buf += chunk

    def _line(self):
        while (end := self.buf.find(b"\r\n")) < 0:
            self._fill()
        line = bytes(self.buf[:end])
        del self.buf[:end + 2]
        return line

    def reply(self):
        """The next reply: str for status, int, bytes length for bulks (the bytes are
        dropped), a list for arrays; raises on an error reply."""
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b":":
            return int(rest)
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b"$":
            size = int(rest)
            if size < 0:
                return None
            while len(self.buf) < size + 2:
                self._fill()
            del self.buf[:size + 2]
            return size
        if kind == b"*":
            return [self.reply() for _ in range(int(rest))]
        raise RuntimeError(f"unexpected reply {line!r}")

    def cmd(self, *args):
        self.send(*args)
        return self.reply()


def probe(port, key, stop, out):
    """Loops GET key / PING until `stop`; sends back (start, latency) pairs."""
    conn = Conn(port, PROBE_TIMEOUT_S)
    samples = []
    clock = time.monotonic
    while not stop.is_set():
        for args in (("GET", key), ("PING",)):
            started = clock()
            conn.cmd(*args)
            samples.append((started, clock() - started))
    out.send(samples)
    out.close()


def thread_cpu(pid):
    """CPU seconds (utime + stime) of each thread of process `pid`, by thread id."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[int(tid)] = (int(fields[11]) + int(fields[12])) / benchlib.CLK_TCK
    return out


def cpu_deltas(before, after):
    """(busiest thread's, all threads') CPU ms between two `thread_cpu` samples."""
    deltas = [(cpu - before.get(tid, 0.0)) * 1000 for tid, cpu in after.items()]
    return max(deltas, default=0.0), sum(deltas)


def big_sequence(port, pid, layout, value):
    """Runs STEPS on keys laid out by `layout`; returns [(step, start, took)] and
    per step the server's CPU ms (busiest thread, all threads) over its window."""
    a = key_on(0, "bigA")
    b = key_on(1 if layout == "cross" else 0, "bigB")
    c = key_on(1 if layout == "cross" else 0, "bigC")
    conn = Conn(port, BIG_TIMEOUT_S)
    expected = {
        "SET A": (("SET", a, value), "OK"),
        "SET B": (("SET", b, value), "OK"),
        "GET A": (("GET", a), VALUE_BYTES),
        "MGET A B": (("MGET", a, b), [VALUE_BYTES, VALUE_BYTES]),
        "RENAME A C": (("RENAME", a, c), "OK"),
        "COPY C A": (("COPY", c, a), 1),
        "DEL A B C": (("DEL", a, b, c), 3),
    }
    steps, cpu = [], {}
    for step in STEPS:
        args, want = expected[step]
        cpu_before = thread_cpu(pid)
        started = time.monotonic()
        got = conn.cmd(*args)
        steps.append((step, started, time.monotonic() - started))
        if got != want:
            raise RuntimeError(f"{step}: {got!r}, expected {want!r}")
        time.sleep(PAUSE_S)
        cpu[step] = cpu_deltas(cpu_before, thread_cpu(pid))
    return steps, cpu


def percentile(values, fraction):
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def windows(idle_start, steps, end):
    """(name, start, end) of the idle window and of every step's window."""
    out = [("idle", idle_start, idle_start + IDLE_S)]
    starts = [s for _, s, _ in steps] + [end]
    out += [(name, starts[i], starts[i + 1]) for i, (name, _, _) in enumerate(steps)]
    return out


def charge(samples, wins):
    """Per window: the latencies (ms) of the probe requests overlapping it."""
    per = {name: [] for name, _, _ in wins}
    for started, took in samples:
        for name, lo, hi in wins:
            if started < hi and started + took > lo:
                per[name].append(took * 1000)
    return per


def wait_loaded(port):
    """Waits until the server serves writes: it answers PING while it loads."""
    deadline = time.monotonic() + benchlib.SERVER_START_TIMEOUT_S
    while True:
        try:
            benchlib.resp_command(port, "SET", "loaded", "1")
            return
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(benchlib.POLL_INTERVAL_S)


def run_case(kind, appendonly, layout, binary, value):
    extra = ("--appendonly", appendonly)
    server = benchlib.start(kind, SERVER_CPUS, shards=SHARDS, extra=extra, binary=binary)
    try:
        small = [key_on(i % SHARDS, "small") for i in range(PROBES)]
        wait_loaded(server.port)
        for key in small:
            benchlib.resp_command(server.port, "SET", key, "v")
        stop = multiprocessing.Event()
        pipes, procs = [], []
        for key in small:
            mine, theirs = multiprocessing.Pipe(duplex=False)
            proc = multiprocessing.Process(target=probe, args=(server.port, key, stop, theirs))
            proc.start()
            pipes.append(mine)
            procs.append(proc)
        idle_start = time.monotonic()
        idle_cpu = thread_cpu(server.pid)
        time.sleep(IDLE_S)
        cpu_idle = cpu_deltas(idle_cpu, thread_cpu(server.pid))
        steps, cpu = big_sequence(server.port, server.pid, layout, value)
        end = time.monotonic()
        stop.set()
        per_probe = [p.recv() for p in pipes]
        for proc in procs:
            proc.join()
        if refusal := server.exited():
            raise refusal
    finally:
        server.stop()
    wins = windows(idle_start, steps, end)
    rows = {}
    for name, _, _ in wins:
        rows[name] = {"worst_ms": 0.0, "p99_ms": 0.0, "requests": 0}
    merged = {name: [] for name, _, _ in wins}
    for samples in per_probe:
        for name, lats in charge(samples, wins).items():
            merged[name] += lats
    for name, lats in merged.items():
        busiest, total = cpu.get(name, cpu_idle)
        rows[name] = {"worst_ms": max(lats, default=0.0), "p99_ms": percentile(lats, 0.99),
                      "requests": len(lats), "thread_cpu_ms": busiest, "cpu_ms": total}
    took = {name: t * 1000 for name, _, t in steps}
    return {"steps": rows, "step_ms": took}


def loadavg():
    with open("/proc/loadavg") as f:
        return f.read().split()[:3]


def table(results):
    """Markdown: a row per step, a column pair (worst, p99) per case."""
    cases = list(results)
    head = "| step | " + " | ".join(f"{c} worst / p99 ms (busiest thread CPU ms)" for c in cases) + " |"
    lines = [head, "|---|" + "---|" * len(cases)]
    for step in ("idle",) + STEPS:
        cells = []
        for case in cases:
            r = results[case]["steps"].get(step)
            cells.append("-" if r is None else
                         f"{r['worst_ms']:.0f} / {r['p99_ms']:.1f} ({r.get('thread_cpu_ms', 0):.0f})")
        lines.append(f"| {step} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--servers", default="corekv,redis")
    ap.add_argument("--appendonly", default="no,yes")
    ap.add_argument("--layouts", default="cross,same")
    ap.add_argument("--rounds", type=int, default=1, help="runs per case; the worst of them is kept per step")
    ap.add_argument("--binary", default=benchlib.COREKV, help="corekv-server to run")
    ap.add_argument("--label", default="corekv", help="name of the corekv column")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--out", default=os.path.join(benchlib.ROOT, "bench", "results", "bigvalues"))
    args = ap.parse_args()
    benchlib.require_tools("redis-server", "taskset")
    servers = args.servers.split(",")
    if "corekv" in servers and not args.no_build and args.binary == benchlib.COREKV:
        benchlib.cargo_build_release("corekv-server")
    value = b"x" * VALUE_BYTES
    load_before = loadavg()
    results = {}
    for kind in servers:
        for appendonly in args.appendonly.split(","):
            for layout in args.layouts.split(","):
                name = f"{args.label if kind == 'corekv' else 'redis'} aof={appendonly} {layout}"
                for _ in range(args.rounds):
                    got = run_case(kind, appendonly, layout, args.binary, value)
                    kept = results.setdefault(name, got)
                    for step, row in got["steps"].items():
                        if row["worst_ms"] > kept["steps"][step]["worst_ms"]:
                            kept["steps"][step] = row
                steps = results[name]["steps"]
                print(f"{name}: " + ", ".join(f"{k} {v['worst_ms']:.0f}" for k, v in steps.items()),
                      file=sys.stderr)
    report = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": benchlib.machine(),
        "loadavg_before": load_before,
        "loadavg_after": loadavg(),
        "results": results,
    }
    md = (f"# Other clients' waits around 100 MB values ({report['date']})\n\n"
          f"load average before {' '.join(load_before)}, after {' '.join(report['loadavg_after'])}; "
          f"{report['machine']['nproc']} CPUs, {report['machine']['cpu_model']}\n\n{table(results)}\n")
    print(md)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out + ".json", "w") as f:
        json.dump(report, f, indent=1)
    with open(args.out + ".md", "w") as f:
        f.write(md)


if __name__ == "__main__":
    main()
