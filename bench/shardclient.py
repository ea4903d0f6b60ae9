#!/usr/bin/env python3
"""A closed-loop GET load whose keys live on a chosen shard of each connection: its
home shard (the core that accepted it) or another one. redis-benchmark and
corekv-loadgen cannot choose keys by shard, nor know where a connection landed.

Where a key lives: corekv routes a key to shard `crc16(key) % 16384 % shards`
(CRC-16/XMODEM, the Redis Cluster slot, engine/src/slot.rs); `binascii.crc_hqx`
computes the same CRC, so the keys `key:0` .. `key:N-1` (corekv-loadgen's names,
written by its --prefill) split into one list per shard.

Where a connection lives: every core listens on the port with SO_REUSEPORT and
serves the connections it accepts (server/src/net/listener.rs), so the kernel picks
a connection's home core by a hash of its addresses, which a client cannot predict.
So each connection is classified once opened: it sends --probe PINGs, one at a
time, and the shard whose threads (`shard-N-...` in /proc/PID/task/*/comm) ran
the longest meanwhile (/proc/PID/task/TID/schedstat), by a wide margin, is its home; a
connection not classified clearly is probed again.

    bench/shardclient.py --port 7000 --pid 1234 --shards 2 --keys other -P 16

Each connection then sends GETs of random keys of its chosen shard, --pipeline at a
time, for --duration seconds. Values must be --value-size bytes (every reply is
checked by its length). With --shards 1 (Redis, a one-shard corekv) there is nothing
to classify: every key is home. Prints one JSON object: requests, rps, the server's
CPU µs per request over the load alone (utime + stime from /proc/PID/stat, the
probes and connecting left out), the p50, p99 and p99.9 of each batch's round trip
in ms, and how many connections each shard was home to.
"""

import argparse
import binascii
import json
import os
import random
import selectors
import socket
import time

SLOTS = 16384
PING = b"*1\r\n$4\r\nPING\r\n"
PONG = b"+PONG\r\n"
# A classification must see the home thread run this many times longer than any
# other shard thread during the probe.
CLASSIFY_MARGIN = 4
CLASSIFY_ATTEMPTS = 5
RECV_BYTES = 256 * 1024
SEED = 1
CLK_TCK = os.sysconf("SC_CLK_TCK")


def shard_of(key, shards):
    """corekv's shard of `key` (no hash tags in these keys)."""
    return binascii.crc_hqx(key, 0) % SLOTS % shards


def shard_threads(pid, shards):
    """Thread ids of each shard's threads: those named `shard-N...` (the executor
    names its threads after its shard, `shard-N-ID`), by shard."""
    threads = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/comm") as f:
            name = f.read().strip()
        if name.startswith("shard-"):
            threads.setdefault(int(name.split("-")[1]), []).append(tid)
    if sorted(threads) != list(range(shards)):
        raise SystemExit(f"expected threads shard-0..shard-{shards - 1} in process {pid}, found {sorted(threads)}")
    return [threads[i] for i in range(shards)]


def run_ns(pid, tids):
    """The CPU time so far of threads `tids`, in ns."""
    total = 0
    for tid in tids:
        with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
            total += int(f.read().split()[0])
    return total


def home_shard(sock, pid, threads, probes):
    """The shard whose thread serves `sock`'s requests."""
    for _ in range(CLASSIFY_ATTEMPTS):
        before = [run_ns(pid, t) for t in threads]
        for _ in range(probes):
            sock.sendall(PING)
            reply = b""
            while len(reply) < len(PONG):
                reply += sock.recv(len(PONG) - len(reply))
            if reply != PONG:
                raise SystemExit(f"PING got {reply!r}")
        grown = [run_ns(pid, t) - b for t, b in zip(threads, before)]
        home = max(range(len(threads)), key=grown.__getitem__)
        if all(grown[home] >= CLASSIFY_MARGIN * g for i, g in enumerate(grown) if i != home):
            return home
    raise SystemExit(f"cannot tell a connection's home shard: thread run times grew {grown} ns")


def cpu_seconds(pid):
    """utime + stime of the server (all threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def encode_get(key):
    return b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(key), key)


def percentile(sorted_ms, q):
    return sorted_ms[min(len(sorted_ms) - 1, int(q * len(sorted_ms)))] if sorted_ms else 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True, help="the server's process id")
    ap.add_argument("--shards", type=int, default=1, help="the server's shard count (default 1)")
    ap.add_argument("--keys", choices=("home", "other"), default="home",
                    help="keys on each connection's home shard, or on the next shard after it")
    ap.add_argument("--keyspace", type=int, default=100_000, help="keys key:0 .. (default 100000)")
    ap.add_argument("--value-size", type=int, default=32, help="bytes of every value (default 32)")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("-P", "--pipeline", type=int, default=1)
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--probe", type=int, default=200, help="PINGs per classification (default 200)")
    args = ap.parse_args()
    keys = [[] for _ in range(args.shards)]
    for i in range(args.keyspace):
        key = b"key:%d" % i
        keys[shard_of(key, args.shards)].append(encode_get(key))
    threads = shard_threads(args.pid, args.shards) if args.shards > 1 else []
    reply = b"$%d\r\n" % args.value_size
    batch_bytes = (len(reply) + args.value_size + 2) * args.pipeline

    rng = random.Random(SEED)
    sel = selectors.DefaultSelector()
    homes = [0] * args.shards
    for _ in range(args.clients):
        s = socket.create_connection(("127.0.0.1", args.port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        home = home_shard(s, args.pid, threads, args.probe) if threads else 0
        homes[home] += 1
        target = home if args.keys == "home" else (home + 1) % args.shards
        sel.register(s, selectors.EVENT_READ, {"keys": keys[target], "buf": b"", "sent": 0.0})

    def send(sock, state):
        pool = state["keys"]
        state["sent"] = time.perf_counter()
        sock.sendall(b"".join(pool[rng.randrange(len(pool))] for _ in range(args.pipeline)))

    latencies, started, cpu_before = [], time.perf_counter(), cpu_seconds(args.pid)
    for key in list(sel.get_map().values()):
        key.fileobj.setblocking(False)
        send(key.fileobj, key.data)
    deadline = started + args.duration
    while time.perf_counter() < deadline:
        for key, _ in sel.select(timeout=0.1):
            state = key.data
            chunk = key.fileobj.recv(RECV_BYTES)
            if not chunk:
                raise SystemExit("the server closed a connection")
            state["buf"] += chunk
            if not reply.startswith(state["buf"][:len(reply)]) or len(state["buf"]) > batch_bytes:
                raise SystemExit(f"unexpected replies (missing keys? --value-size?): {state['buf'][:200]!r}")
            if len(state["buf"]) < batch_bytes:
                continue
            if state["buf"].count(reply) != args.pipeline:
                raise SystemExit(f"unexpected replies (--value-size?): {state['buf'][:200]!r}")
            now = time.perf_counter()
            latencies.append((now - state["sent"]) * 1000)
            state["buf"] = b""
            send(key.fileobj, state)
    elapsed, cpu = time.perf_counter() - started, cpu_seconds(args.pid) - cpu_before
    requests = len(latencies) * args.pipeline
    if not requests:
        raise SystemExit(f"no reply in {args.duration} s")
    latencies.sort()
    print(json.dumps({"requests": requests, "rps": requests / elapsed, "cpu_us": cpu * 1e6 / requests,
                      "p50_ms": percentile(latencies, 0.5), "p99_ms": percentile(latencies, 0.99),
                      "p99_9_ms": percentile(latencies, 0.999), "homes": homes}))


if __name__ == "__main__":
    main()
