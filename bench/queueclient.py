#!/usr/bin/env python3
"""A job-queue load: --workers connections each wait in `BRPOP key… 1` and send the
next BRPOP as soon as one answers; --producers connections each send `LPUSH key
<timestamp>` (keys in turn) and the next one as soon as it is answered, for
--duration seconds. redis-benchmark and corekv-loadgen have no blocking load.

    bench/queueclient.py --port 6379 --keys queue --workers 50 --producers 8 --duration 5

Prints one JSON object: elements popped (`requests`), per second (`rps`), elements
pushed, pops that timed out, and the p50/p99/p99.9 of each element's time from its
LPUSH being sent to its BRPOP reply arriving, in ms. Used by bench/suite.py.
"""

import argparse
import json
import selectors
import socket
import time

# Seconds each BRPOP waits before answering null (then it is sent again).
BRPOP_TIMEOUT = "1"
RECV_BYTES = 65536


def encode(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else a.encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def take_reply(buf):
    """The first whole reply in `buf` and the bytes after it, or None. Replies here
    are `:n`, `*-1`, an array of two bulk strings, or an error."""
    end = buf.find(b"\r\n")
    if end < 0:
        return None
    head, rest = buf[:end], buf[end + 2:]
    if head[:1] == b"-":
        raise SystemExit(f"error reply: {head!r}")
    if head[:1] == b":" or head == b"*-1":
        return head, rest
    if head != b"*2":
        raise SystemExit(f"unexpected reply: {head!r}")
    items = []
    for _ in range(2):
        end = rest.find(b"\r\n")
        if end < 0:
            return None
        size = int(rest[1:end])
        if len(rest) < end + 2 + size + 2:
            return None
        items.append(rest[end + 2:end + 2 + size])
        rest = rest[end + 2 + size + 2:]
    return items, rest


def percentile(sorted_ms, q):
    if not sorted_ms:
        return 0.0
    return sorted_ms[min(len(sorted_ms) - 1, int(q * len(sorted_ms)))]


def connect(port, sel, role):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.setblocking(False)
    state = {"role": role, "buf": b"", "next_key": 0}
    sel.register(s, selectors.EVENT_READ, state)
    return s


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--keys", nargs="+", default=["queue"], help="the queues (default: one, `queue`)")
    ap.add_argument("--workers", type=int, default=50)
    ap.add_argument("--producers", type=int, default=8)
    ap.add_argument("--duration", type=float, default=5.0)
    args = ap.parse_args()
    brpop = encode("BRPOP", *args.keys, BRPOP_TIMEOUT)
    sel = selectors.DefaultSelector()
    for _ in range(args.workers):
        connect(args.port, sel, "worker").sendall(brpop)
    pushes = 0

    def push(sock, state):
        nonlocal pushes
        key = args.keys[state["next_key"] % len(args.keys)]
        state["next_key"] += 1
        sock.sendall(encode("LPUSH", key, b"%d" % time.perf_counter_ns()))
        pushes += 1

    for _ in range(args.producers):
        s = connect(args.port, sel, "producer")
        push(s, sel.get_key(s).data)
    latencies, timeouts = [], 0
    started = time.perf_counter()
    deadline = started + args.duration
    while time.perf_counter() < deadline:
        for key, _ in sel.select(timeout=0.1):
            sock, state = key.fileobj, key.data
            chunk = sock.recv(RECV_BYTES)
            if not chunk:
                raise SystemExit("the server closed a connection")
            state["buf"] += chunk
            while (taken := take_reply(state["buf"])) is not None:
                reply, state["buf"] = taken
                if state["role"] == "producer":
                    push(sock, state)
                    continue
                if reply == b"*-1":
                    timeouts += 1
                else:
                    latencies.append((time.perf_counter_ns() - int(reply[1])) / 1e6)
                sock.sendall(brpop)
    elapsed = time.perf_counter() - started
    latencies.sort()
    print(json.dumps({"requests": len(latencies), "rps": len(latencies) / elapsed, "pushed": pushes,
                      "timeouts": timeouts, "p50_ms": percentile(latencies, 0.5),
                      "p99_ms": percentile(latencies, 0.99), "p99_9_ms": percentile(latencies, 0.999)}))


if __name__ == "__main__":
    main()
