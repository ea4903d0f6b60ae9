"""redis-py's PubSub against corekv, with protocol=2 and protocol=3 (push frames):
subscribe and psubscribe confirmations, 100 messages in publish order to channel and
pattern listeners, PING in subscribed mode, PUBSUB introspection, a keyspace
notification, and a listener thread (run_in_thread) with a message handler.

Run by server/tests/pubsub.rs: `python3 test_pubsub.py <port>`. Exits non-zero with
the failing check on stderr.
"""

import sys
import threading
import time

import redis

MESSAGES = 100
TIMEOUT_S = 10


def next_message(pubsub, label):
    """The next message of any type, waiting up to TIMEOUT_S."""
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.1)
        if message is not None:
            return message
    raise AssertionError(f"{label}: no message within {TIMEOUT_S} s")


def confirmations(client, label):
    pubsub = client.pubsub()
    pubsub.subscribe("news")
    pubsub.psubscribe("ne*")
    first, second = next_message(pubsub, label), next_message(pubsub, label)
    assert (first["type"], first["channel"], first["data"]) == ("subscribe", b"news", 1), (label, first)
    assert (second["type"], second["channel"], second["data"]) == ("psubscribe", b"ne*", 2), (label, second)
    return pubsub


def ordered_delivery(client, publisher, label):
    pubsub = confirmations(client, label)
    for i in range(MESSAGES):
        assert publisher.publish("news", f"m{i}") == 2, label
    plain, patterned = [], []
    while len(plain) + len(patterned) < 2 * MESSAGES:
        message = next_message(pubsub, label)
        if message["type"] == "message":
            plain.append(message["data"])
        elif message["type"] == "pmessage":
            assert message["pattern"] == b"ne*", (label, message)
            patterned.append(message["data"])
        else:
            raise AssertionError((label, message))
    want = [f"m{i}".encode() for i in range(MESSAGES)]
    assert plain == want, (label, plain[:5])
    assert patterned == want, (label, patterned[:5])
    pubsub.ping()
    pong = next_message(pubsub, label)
    assert pong["type"] == "pong" or pong["data"] in (b"PONG", "PONG", b""), (label, pong)
    pubsub.close()


def introspection(client, publisher, label):
    pubsub = confirmations(client, label)
    assert publisher.pubsub_numsub("news", "none") == [(b"news", 1), (b"none", 0)], label
    assert publisher.pubsub_channels() == [b"news"], label
    assert publisher.pubsub_numpat() == 1, label
    pubsub.unsubscribe("news")
    pubsub.punsubscribe("ne*")
    gone = [next_message(pubsub, label) for _ in range(2)]
    assert [m["type"] for m in gone] == ["unsubscribe", "punsubscribe"], (label, gone)
    assert gone[1]["data"] == 0, (label, gone)
    assert publisher.publish("news", "x") == 0, label
    pubsub.close()


def keyspace_notification(client, publisher, label):
    publisher.config_set("notify-keyspace-events", "KEA")
    assert publisher.config_get("notify-keyspace-events") == {"notify-keyspace-events": "AKE"}, label
    pubsub = client.pubsub()
    pubsub.psubscribe("__keyspace@0__:*")
    next_message(pubsub, label)
    publisher.set("watched", "v")
    message = next_message(pubsub, label)
    assert (message["channel"], message["data"]) == (b"__keyspace@0__:watched", b"set"), (label, message)
    publisher.config_set("notify-keyspace-events", "")
    pubsub.close()


def listener_thread(client, publisher, label):
    received = []
    done = threading.Event()

    def handler(message):
        received.append(message["data"])
        if len(received) == MESSAGES:
            done.set()

    pubsub = client.pubsub()
    pubsub.subscribe(**{"jobs": handler})
    worker = pubsub.run_in_thread(sleep_time=0.01, daemon=True)
    deadline = time.monotonic() + TIMEOUT_S
    while publisher.pubsub_numsub("jobs") != [(b"jobs", 1)]:
        assert time.monotonic() < deadline, label
        time.sleep(0.01)
    for i in range(MESSAGES):
        publisher.publish("jobs", str(i))
    assert done.wait(TIMEOUT_S), (label, len(received))
    worker.stop()
    worker.join(TIMEOUT_S)
    assert received == [str(i).encode() for i in range(MESSAGES)], label


def main():
    port = int(sys.argv[1])
    print(f"redis-py {redis.__version__}")
    for protocol in (2, 3):
        label = f"protocol={protocol}"
        client = redis.Redis(port=port, protocol=protocol)
        publisher = redis.Redis(port=port, protocol=protocol)
        ordered_delivery(client, publisher, label)
        introspection(client, publisher, label)
        keyspace_notification(client, publisher, label)
        listener_thread(client, publisher, label)
    print("ok")


if __name__ == "__main__":
    main()
