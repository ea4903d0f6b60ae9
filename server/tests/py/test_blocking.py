"""A redis-py job queue against corekv: producers `lpush` jobs onto queues spread over
the shards; workers take them with `blpop` over every queue, or with the reliable
pattern (`brpoplpush` into a processing list, then `lrem` once done); every job is
done exactly once and the processing lists end empty. Run in RESP2 and RESP3.

Run by server/tests/blocking.rs: `python3 test_blocking.py <port>`. Exits non-zero
with the failing check on stderr.
"""

import sys
import threading
import time

import redis

QUEUES = ["jobs:a", "jobs:b", "jobs:c", "jobs:d"]
PRODUCERS = 4
JOBS_PER_PRODUCER = 250
WORKERS = 8
STOP = b"stop"
# Where the `blpop` workers get their stop (the reliable ones get it on their queue).
STOP_BLPOP = "stop:blpop"
DEADLINE_S = 30


def produce(port, protocol, p):
    client = redis.Redis(port=port, protocol=protocol)
    for i in range(JOBS_PER_PRODUCER):
        client.lpush(QUEUES[(i + p) % len(QUEUES)], f"{p}:{i}")


def blpop_worker(port, protocol, done):
    client = redis.Redis(port=port, protocol=protocol)
    while True:
        item = client.blpop(QUEUES + [STOP_BLPOP], timeout=1)
        if item is None:
            continue
        _, job = item
        if job == STOP:
            return
        done.append(job)


def reliable_worker(port, protocol, w, done):
    client = redis.Redis(port=port, protocol=protocol)
    processing = f"processing:{w}"
    while True:
        job = client.brpoplpush(QUEUES[w % len(QUEUES)], processing, timeout=1)
        if job is None:
            continue
        client.lrem(processing, 1, job)
        if job == STOP:
            return
        done.append(job)


def run(port, protocol):
    client = redis.Redis(port=port, protocol=protocol)
    client.flushall()
    done = []
    workers = []
    for w in range(WORKERS):
        if w % 2 == 0:
            t = threading.Thread(target=blpop_worker, args=(port, protocol, done))
        else:
            t = threading.Thread(target=reliable_worker, args=(port, protocol, w, done))
        workers.append(t)
        t.start()
    producers = [
        threading.Thread(target=produce, args=(port, protocol, p)) for p in range(PRODUCERS)
    ]
    for t in producers:
        t.start()
    for t in producers:
        t.join()
    expected = {f"{p}:{i}".encode() for p in range(PRODUCERS) for i in range(JOBS_PER_PRODUCER)}
    deadline = time.monotonic() + DEADLINE_S
    while len(done) < len(expected) and time.monotonic() < deadline:
        time.sleep(0.01)
    # Stop the blpop workers first: they also listen on the reliable workers' queues.
    blpop_workers = workers[0::2]
    for _ in blpop_workers:
        client.rpush(STOP_BLPOP, STOP)
    for t in blpop_workers:
        t.join(timeout=DEADLINE_S)
        assert not t.is_alive(), f"RESP{protocol}: a blpop worker did not stop"
    for w in range(1, WORKERS, 2):
        client.rpush(QUEUES[w % len(QUEUES)], STOP)
    for t in workers[1::2]:
        t.join(timeout=DEADLINE_S)
        assert not t.is_alive(), f"RESP{protocol}: a reliable worker did not stop"
    assert len(done) == len(expected), (protocol, len(done), len(expected))
    assert set(done) == expected, f"RESP{protocol}: jobs lost or done twice"
    for w in range(WORKERS):
        assert client.llen(f"processing:{w}") == 0, f"RESP{protocol}: processing:{w}"


def main():
    port = int(sys.argv[1])
    for protocol in (2, 3):
        run(port, protocol)
    print("ok")


if __name__ == "__main__":
    main()
