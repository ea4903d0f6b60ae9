#!/usr/bin/env python3
"""How long a snapshot stalls its shard: the worst PING latency while `BGSAVE`
walks a 100 MB string and a 1M-field hash that another client keeps changing.

One shard, so every client and the snapshot share one core. The loader builds
the two values; then, for each window, a writer client loops over `APPEND` (10
bytes to the string), `SETRANGE` (3 bytes at a random offset) and `HSET` (a random
existing field), while a pinger measures each `PING`'s round trip:

- `writes`: no snapshot, the baseline;
- `snapshot+writes`: a `BGSAVE` runs until `INFO persistence` says it is done.

A stall shows as the pinger's worst latency: the shard cannot answer while one
step of the snapshot (a copy of a value before a write, or one chunk of the walk)
runs. It is a measurement, not an assertion; run it against release builds:

    python3 bench/snapshot_stall.py --server target/release/corekv-server
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


def start(server, port, data_dir):
    proc = subprocess.Popen(
        [server, "--port", str(port), "--shards", "1", "--dir", data_dir],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        try:
            Conn(port).call("PING")
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    sys.exit("server did not start")


def load(conn):
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


def writer(port, stop, stats):
    conn = Conn(port)
    rng = random.Random(1)
    worst, count = 0.0, 0
    while not stop.is_set():
        kind = count % 3
        if kind == 0:
            args = ("APPEND", "big", "0123456789")
        elif kind == 1:
            args = ("SETRANGE", "big", rng.randrange(STRING_BYTES), "abc")
        else:
            args = ("HSET", "h", "f%d" % rng.randrange(HASH_FIELDS), "w%d" % count)
        t = time.perf_counter()
        conn.call(*args)
        worst = max(worst, time.perf_counter() - t)
        count += 1
    stats["write_worst_ms"] = worst * 1e3
    stats["writes"] = count


def pinger(port, stop, stats):
    conn = Conn(port)
    latencies = []
    while not stop.is_set():
        t = time.perf_counter()
        conn.call("PING")
        latencies.append(time.perf_counter() - t)
    latencies.sort()
    stats["pings"] = len(latencies)
    stats["ping_worst_ms"] = latencies[-1] * 1e3
    stats["ping_p999_ms"] = latencies[int(len(latencies) * 0.999)] * 1e3


def bgsave_in_progress(conn):
    info = conn.call("INFO", "persistence").decode()
    return "rdb_bgsave_in_progress:1" in info


def window(port, snapshot):
    stop = threading.Event()
    stats = {}
    threads = [
        threading.Thread(target=writer, args=(port, stop, stats)),
        threading.Thread(target=pinger, args=(port, stop, stats)),
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True, help="corekv-server binary")
    parser.add_argument("--port", type=int, default=7391)
    parser.add_argument("--rounds", type=int, default=2, help="snapshot windows")
    args = parser.parse_args()
    data_dir = tempfile.mkdtemp(prefix="corekv-stall-")
    proc = start(args.server, args.port, data_dir)
    try:
        t = time.perf_counter()
        load(Conn(args.port))
        print("loaded 100 MB string and 1M-field hash in %.1f s" % (time.perf_counter() - t))
        rows = [("writes", window(args.port, False))]
        for i in range(args.rounds):
            rows.append(("snapshot+writes #%d" % (i + 1), window(args.port, True)))
        print("%-20s %8s %8s %14s %14s %16s" % (
            "window", "seconds", "pings", "ping p99.9 ms", "ping worst ms", "write worst ms"))
        for name, s in rows:
            print("%-20s %8.2f %8d %14.2f %14.2f %16.2f" % (
                name, s["seconds"], s["pings"], s["ping_p999_ms"], s["ping_worst_ms"],
                s["write_worst_ms"]))
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
