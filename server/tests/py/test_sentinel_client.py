"""redis-py's Sentinel client across a failover: `Sentinel([...]).master_for('mymaster')`
keeps writing while the master is killed (SIGKILL, by the Rust side of the test once
the master holds KILL_AFTER_KEYS keys), and every write acknowledged by `WAIT 1`
before or after the kill is on the new master.

Run by server/tests/sentinel.rs: `python3 test_sentinel_client.py <master port>`.
The sentinels are found as clients find them in a deployment's config: here from
their hello messages on the master's `__sentinel__:hello` channel. Exits non-zero
with the failing check on stderr; prints `ok` last.
"""

import sys
import time

import redis
from redis.sentinel import Sentinel

MASTER_NAME = "mymaster"
SENTINELS = 3
# Writes acknowledged on the new master before the script stops.
WRITES_AFTER_FAILOVER = 50
IO_TIMEOUT_S = 0.5
WAIT_MS = 1000
DISCOVERY_TIMEOUT_S = 10
FAILOVER_TIMEOUT_S = 30
RETRY_PAUSE_S = 0.02


def sentinel_addresses(master_port):
    """(ip, port) of each sentinel, from the hello messages on the master."""
    pubsub = redis.Redis(port=master_port).pubsub()
    pubsub.subscribe("__sentinel__:hello")
    found = set()
    deadline = time.monotonic() + DISCOVERY_TIMEOUT_S
    while len(found) < SENTINELS:
        assert time.monotonic() < deadline, f"sentinels heard: {found}"
        message = pubsub.get_message(timeout=0.1)
        if message and message["type"] == "message":
            ip, port = message["data"].decode().split(",")[:2]
            found.add((ip, int(port)))
    pubsub.close()
    return sorted(found)


def main():
    master_port = int(sys.argv[1])
    sentinel = Sentinel(sentinel_addresses(master_port), socket_timeout=IO_TIMEOUT_S)
    first = sentinel.discover_master(MASTER_NAME)
    assert first[1] == master_port, first
    master = sentinel.master_for(
        MASTER_NAME, socket_timeout=IO_TIMEOUT_S, socket_connect_timeout=IO_TIMEOUT_S
    )
    acknowledged = []
    failed_writes = 0
    after = 0
    i = 0
    deadline = time.monotonic() + FAILOVER_TIMEOUT_S
    while after < WRITES_AFTER_FAILOVER:
        assert time.monotonic() < deadline, (
            f"{after} writes on a new master within {FAILOVER_TIMEOUT_S} s "
            f"({len(acknowledged)} acknowledged, {failed_writes} failed)"
        )
        key = f"py:{i}"
        i += 1
        try:
            master.set(key, i)
            replicas = master.execute_command("WAIT", 1, WAIT_MS)
            if replicas < 1:
                continue
            acknowledged.append(key)
            if sentinel.discover_master(MASTER_NAME) != first:
                after += 1
        except (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError,
                redis.ResponseError):
            # The master is gone or not yet replaced: the pool asks Sentinel again.
            failed_writes += 1
            time.sleep(RETRY_PAUSE_S)
    assert failed_writes > 0, "the master was killed while the client wrote"
    host, port = sentinel.discover_master(MASTER_NAME)
    assert port != master_port, (host, port)
    new_master = redis.Redis(host=host, port=port)
    values = new_master.mget(acknowledged)
    lost = [k for k, v in zip(acknowledged, values) if v is None]
    assert not lost, f"{len(lost)} of {len(acknowledged)} acknowledged writes lost: {lost[:10]}"
    print(f"{len(acknowledged)} acknowledged writes kept, {failed_writes} failed during the failover")
    print("ok")


if __name__ == "__main__":
    main()
