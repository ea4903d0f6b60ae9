#!/usr/bin/env python3
"""How long a snapshot stalls its shard: GET latency from a second client while
`BGSAVE` walks big values that another client keeps changing.

One shard, so every client and the snapshot share one core (the server pinned to
one CPU with `--server-cpu`, this script to another with `--client-cpu`). The
loader builds the dataset and a small string `probe`; then, for each window, a
writer client loops over changes to the big values, while a reader measures each
`GET probe`'s round trip:

- `writes`: no snapshot, the baseline;
- `snapshot+writes`: a `BGSAVE` runs until `INFO persistence` says it is done.

Datasets (`--dataset`):

- `big`: a 100 MB string and a 1M-field hash; the writer loops over `APPEND` (10
  bytes to the string), `SETRANGE` (3 bytes at a random offset) and `HSET` (a
  random existing field).
- `hashes`: 100 hashes of 100,000 fields (8-byte names, 16-byte values); the writer
  sends `HSET` of a random existing field of a random hash, so the snapshot copies
  fields on write in hashes it has not reached yet.

A stall shows as the reader's p99.9 and worst latency: the shard cannot answer while
one step of the snapshot (a copy of a value before a write, or one chunk of the
walk) runs. It is a measurement, not an assertion; run it against release builds,
and with `--redis` against redis-server (whose BGSAVE forks) for reference:

    python3 bench/snapshot_stall.py --server target/release/corekv-server
    python3 bench/snapshot_stall.py --server target/release/corekv-server --dataset hashes
    python3 bench/snapshot_stall.py --redis --dataset hashes
"""

import argparse
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

STRING_BYTES = 100 * 1024 * 1024
STRING_PIECE_BYTES = 1024 * 1024
HASH_FIELDS = 1_000_000
HASHES = 100
HASHES_FIELDS = 100_000
HSET_FIELDS_PER_COMMAND = 1000
PIPELINE_DEPTH = 32
BASELINE_SECONDS = 3.0
START_TIMEOUT_SECONDS = 20.0


def encode(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Conn:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            data = self.sock.recv(1 << 16)
            if not data:
                raise ConnectionError("server closed the connection")
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            data = self.sock.recv(1 << 16)
            if not data:
                raise ConnectionError("server closed the connection")
            self.buf += data
        out, self.buf = self.buf[:n], self.buf[n + 2:]
        return out

    def reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind in (b"+", b":"):
            return rest
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            return [self.reply() for _ in range(int(rest))]
        raise RuntimeError("unexpected reply %r" % line)

    def call(self, *args):
        self.sock.sendall(encode(*args))
        return self.reply()

    def pipeline(self, commands):
        for i in range(0, len(commands), PIPELINE_DEPTH):
            batch = commands[i:i + PIPELINE_DEPTH]
            self.sock.sendall(b"".join(encode(*c) for c in batch))
            for _ in batch:
                self.reply()


def start(args, data_dir):
    if args.redis:
        argv = [args.redis_server, "--port", str(args.port), "--dir", data_dir, "--save", "",
                "--appendonly", "no"]
    else:
        argv = [args.server, "--port", str(args.port), "--shards", "1", "--cpus", str(args.server_cpu),
                "--dir", data_dir, "--appendonly", "no"]
    proc = subprocess.Popen(
        ["taskset", "-c", str(args.server_cpu), *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        try:
            Conn(args.port).call("PING")
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    sys.exit("server did not start")


def hash_field(i):
    return "f%07d" % i


def hash_value(i):
    return "value-%010d" % i


def load_hashes(conn):
    commands = []
    for h in range(HASHES):
        for start_at in range(0, HASHES_FIELDS, HSET_FIELDS_PER_COMMAND):
            args = ["HSET", "h:%d" % h]
            for i in range(start_at, start_at + HSET_FIELDS_PER_COMMAND):
                args += [hash_field(i), hash_value(i)]
            commands.append(args)
    conn.pipeline(commands)
    assert int(conn.call("HLEN", "h:%d" % (HASHES - 1))) == HASHES_FIELDS


def load_big(conn):
    piece = b"x" * STRING_PIECE_BYTES
    conn.pipeline([("APPEND", "big", piece)] * (STRING_BYTES // STRING_PIECE_BYTES))
    commands = []
    for start_at in range(0, HASH_FIELDS, HSET_FIELDS_PER_COMMAND):
        args = ["HSET", "h"]
        for i in range(start_at, start_at + HSET_FIELDS_PER_COMMAND):
            args += ["f%d" % i, "v"]
        commands.append(args)
    conn.pipeline(commands)
    assert int(conn.call("STRLEN", "big")) == STRING_BYTES
    assert int(conn.call("HLEN", "h")) == HASH_FIELDS


def change_big(rng, count):
    kind = count % 3
    if kind == 0:
        return ("APPEND", "big", "0123456789")
    if kind == 1:
        return ("SETRANGE", "big", rng.randrange(STRING_BYTES), "abc")
    return ("HSET", "h", "f%d" % rng.randrange(HASH_FIELDS), "w%d" % count)


def change_hashes(rng, count):
    return ("HSET", "h:%d" % rng.randrange(HASHES), hash_field(rng.randrange(HASHES_FIELDS)),
            "w-%014d" % count)


DATASETS = {"big": (load_big, change_big), "hashes": (load_hashes, change_hashes)}


def writer(port, change, stop, stats):
    conn = Conn(port)
    rng = random.Random(1)
    worst, count = 0.0, 0
    while not stop.is_set():
        args = change(rng, count)
        t = time.perf_counter()
        conn.call(*args)
        worst = max(worst, time.perf_counter() - t)
        count += 1
    stats["write_worst_ms"] = worst * 1e3
    stats["writes"] = count


def reader(port, stop, stats):
    conn = Conn(port)
    latencies = []
    while not stop.is_set():
        t = time.perf_counter()
        conn.call("GET", "probe")
        latencies.append(time.perf_counter() - t)
    latencies.sort()
    stats["gets"] = len(latencies)
    stats["get_worst_ms"] = latencies[-1] * 1e3
    stats["get_p99_ms"] = latencies[int(len(latencies) * 0.99)] * 1e3
    stats["get_p999_ms"] = latencies[int(len(latencies) * 0.999)] * 1e3


def bgsave_in_progress(conn):
    info = conn.call("INFO", "persistence").decode()
    return "rdb_bgsave_in_progress:1" in info


def window(port, change, snapshot):
    stop = threading.Event()
    stats = {}
    threads = [
        threading.Thread(target=writer, args=(port, change, stop, stats)),
        threading.Thread(target=reader, args=(port, stop, stats)),
    ]
    for t in threads:
        t.start()
    time.sleep(0.2)
    began = time.perf_counter()
    if snapshot:
        control = Conn(port)
        control.call("BGSAVE")
        while True:
            time.sleep(0.05)
            if not bgsave_in_progress(control):
                break
    else:
        time.sleep(BASELINE_SECONDS)
    stats["seconds"] = time.perf_counter() - began
    stop.set()
    for t in threads:
        t.join()
    return stats


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--server", default="target/release/corekv-server", help="corekv-server binary")
    parser.add_argument("--redis", action="store_true", help="measure redis-server instead")
    parser.add_argument("--redis-server", default="redis-server")
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="big")
    parser.add_argument("--port", type=int, default=7391)
    parser.add_argument("--rounds", type=int, default=2, help="snapshot windows")
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    args = parser.parse_args()
    os.sched_setaffinity(0, {args.client_cpu})
    load, change = DATASETS[args.dataset]
    data_dir = tempfile.mkdtemp(prefix="corekv-stall-")
    proc = start(args, data_dir)
    try:
        t = time.perf_counter()
        conn = Conn(args.port)
        load(conn)
        conn.call("SET", "probe", "v" * 32)
        print("%s: loaded dataset %s in %.1f s" % (
            "redis-server" if args.redis else "corekv", args.dataset, time.perf_counter() - t))
        rows = [("writes", window(args.port, change, False))]
        for i in range(args.rounds):
            rows.append(("snapshot+writes #%d" % (i + 1), window(args.port, change, True)))
        print("%-20s %8s %8s %11s %13s %12s %15s %15s" % (
            "window", "seconds", "GETs", "GET p99 ms", "GET p99.9 ms", "GET worst ms", "writes",
            "write worst ms"))
        for name, s in rows:
            print("%-20s %8.2f %8d %11.2f %13.2f %12.2f %15d %15.2f" % (
                name, s["seconds"], s["gets"], s["get_p99_ms"], s["get_p999_ms"], s["get_worst_ms"],
                s["writes"], s["write_worst_ms"]))
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
