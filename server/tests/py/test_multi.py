"""redis-py transactions against corekv: `pipeline(transaction=True)` over keys on
every shard, a queue-time error aborting with EXECABORT, and the optimistic-locking
loop of redis-py's documentation (WATCH, read, MULTI, write, EXEC, retry on
WatchError) run by several threads at once on one counter, in RESP2 and RESP3.

Run by server/tests/multi_exec.rs: `python3 test_multi.py <port>`. Exits non-zero
with the failing check on stderr.
"""

import sys
import threading

import redis

THREADS = 4
INCREMENTS = 100
KEYS = ["a", "b", "c", "d"]  # one on each shard of a four-shard server


def pipelines(client, label):
    client.flushall()
    with client.pipeline(transaction=True) as pipe:
        for k in KEYS:
            pipe.set(k, k.upper())
        pipe.mget(KEYS)
        pipe.incr("n")
        result = pipe.execute()
    assert result == [True] * 4 + [[k.upper().encode() for k in KEYS], 1], (label, result)
    with client.pipeline(transaction=True) as pipe:
        pipe.set("a", "changed")
        pipe.execute_command("NOSUCHCOMMAND")
        try:
            pipe.execute()
            raise AssertionError(f"{label}: a queue-time error must abort")
        except redis.exceptions.ResponseError as e:
            assert "EXECABORT" in str(e) or "unknown command" in str(e), (label, e)
    assert client.get("a") == b"A", label


def increment(port, protocol, retries):
    client = redis.Redis(port=port, protocol=protocol)
    for _ in range(INCREMENTS):
        with client.pipeline() as pipe:
            while True:
                try:
                    pipe.watch("counter")
                    value = int(pipe.get("counter") or 0)
                    pipe.multi()
                    pipe.set("counter", value + 1)
                    pipe.execute()
                    break
                except redis.WatchError:
                    retries.append(1)


def watch_loop(port, protocol, label):
    client = redis.Redis(port=port, protocol=protocol)
    client.delete("counter")
    retries = []
    threads = [
        threading.Thread(target=increment, args=(port, protocol, retries))
        for _ in range(THREADS)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = int(client.get("counter"))
    assert total == THREADS * INCREMENTS, (label, total)
    print(f"{label}: {total} increments, {len(retries)} retries")


def main():
    port = int(sys.argv[1])
    for protocol in (2, 3):
        label = f"RESP{protocol}"
        pipelines(redis.Redis(port=port, protocol=protocol), label)
        watch_loop(port, protocol, label)
    print("ok")


if __name__ == "__main__":
    main()
