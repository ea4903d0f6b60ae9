"""redis-py against corekv: a session of SET / GET / INCR / MGET / CONFIG GET / INFO
with the client's default settings (redis-py 8 sends HELLO 3 on connect), with
protocol=3 asked for explicitly, and with protocol=2.

Run by server/tests/redis_py.rs: `python3 test_redis_py.py <port>`. Exits non-zero
with the failing check on stderr.
"""

import sys

import redis


def session(client, label):
    client.flushall()
    assert client.set("k", "v") is True, label
    assert client.get("k") == b"v", label
    assert client.get("missing") is None, label
    assert client.incr("n") == 1, label
    assert client.incr("n", 41) == 42, label
    keys = [f"key{i}" for i in range(16)]
    client.mset({k: k.upper() for k in keys})
    values = client.mget(keys + ["missing"])
    assert values == [k.upper().encode() for k in keys] + [None], (label, values)
    config = client.config_get("maxclients")
    assert config == {"maxclients": "10000"}, (label, config)
    info = client.info()
    assert info["redis_version"] == "7.0.15", (label, info)
    assert info["cluster_enabled"] == 0, (label, info)
    assert client.info("cluster") == {"cluster_enabled": 0}, label
    me = client.client_info()
    return int(me["resp"])


def main():
    port = int(sys.argv[1])
    print(f"redis-py {redis.__version__}")
    default = redis.Redis(port=port)
    resp = session(default, "default settings")
    if int(redis.__version__.split(".")[0]) >= 8:
        assert resp == 3, f"redis-py 8 speaks RESP3 by default, got resp={resp}"
    assert session(redis.Redis(port=port, protocol=3), "protocol=3") == 3
    assert session(redis.Redis(port=port, protocol=2), "protocol=2") == 2
    print("ok")


if __name__ == "__main__":
    main()
