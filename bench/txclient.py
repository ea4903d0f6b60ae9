#!/usr/bin/env python3
"""A closed-loop MULTI/INCR/EXEC load: each of --clients connections sends
`MULTI; INCR k1; INCR k2; EXEC` in one write, waits for the whole reply, and sends the
next, for --duration seconds. redis-benchmark and corekv-loadgen send one command per
request, so neither can keep a transaction's commands together.

    bench/txclient.py --port 6379 --keys '{t}1' '{t}2' --duration 5

Prints one JSON object: transactions done (`requests`), per second (`rps`), and the
p50/p99/p99.9 latency of a whole transaction in ms. Used by bench/suite.py.
"""

import argparse
import json
import selectors
import socket
import time

# Reply lines of one transaction: +OK, +QUEUED, +QUEUED, *2, :n, :m.
REPLY_LINES = 6


def encode(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a.encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def percentile(sorted_ms, q):
    if not sorted_ms:
        return 0.0
    return sorted_ms[min(len(sorted_ms) - 1, int(q * len(sorted_ms)))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--keys", nargs=2, required=True, help="the two keys each transaction increments")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--duration", type=float, default=5.0)
    args = ap.parse_args()
    request = encode("MULTI") + encode("INCR", args.keys[0]) + encode("INCR", args.keys[1]) + encode("EXEC")
    sel = selectors.DefaultSelector()
    for _ in range(args.clients):
        s = socket.create_connection(("127.0.0.1", args.port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        state = {"buf": b"", "sent": time.perf_counter()}
        sel.register(s, selectors.EVENT_READ, state)
        s.sendall(request)
    latencies, started = [], time.perf_counter()
    deadline = started + args.duration
    while time.perf_counter() < deadline:
        for key, _ in sel.select(timeout=0.1):
            state = key.data
            chunk = key.fileobj.recv(65536)
            if not chunk:
                raise SystemExit("the server closed a connection")
            state["buf"] += chunk
            if state["buf"].count(b"\r\n") < REPLY_LINES:
                continue
            if b"-" in state["buf"][:1] or b"\r\n-" in state["buf"]:
                raise SystemExit(f"error reply: {state['buf']!r}")
            now = time.perf_counter()
            latencies.append((now - state["sent"]) * 1000)
            state["buf"], state["sent"] = b"", now
            key.fileobj.sendall(request)
    elapsed = time.perf_counter() - started
    latencies.sort()
    print(json.dumps({"requests": len(latencies), "rps": len(latencies) / elapsed,
                      "p50_ms": percentile(latencies, 0.5), "p99_ms": percentile(latencies, 0.99),
                      "p99_9_ms": percentile(latencies, 0.999)}))


if __name__ == "__main__":
    main()
