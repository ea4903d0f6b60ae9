"""redis-py against corekv: a session of SET / GET / INCR / MGET / CONFIG GET / INFO
and of hash and set calls (whose replies redis-py turns into dicts, sets, floats and
booleans, from RESP3 maps, sets and doubles or from RESP2 arrays and bulks) with the
client's default settings (redis-py 8 sends HELLO 3 on connect), with
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
    hashes_and_sets(client, label)
    me = client.client_info()
    return int(me["resp"])


def hashes_and_sets(client, label):
    assert client.hset("h", mapping={"a": "1", "b": "x"}) == 2, label
    assert client.hgetall("h") == {b"a": b"1", b"b": b"x"}, label
    assert client.hincrbyfloat("h", "a", 0.5) == 1.5, label
    assert client.hmget("h", ["a", "zz"]) == [b"1.5", None], label
    assert client.hexists("h", "b") is True, label
    assert sorted(client.hkeys("h")) == [b"a", b"b"], label
    fields = dict(client.hscan_iter("h"))
    assert fields == {b"a": b"1.5", b"b": b"x"}, (label, fields)
    # RESP3 nests each field with its value, as Redis 7.0 does; RESP2 is flat.
    pairs = client.hrandfield("h", 2, withvalues=True)
    flat = [x for p in pairs for x in p] if isinstance(pairs[0], list) else pairs
    assert dict(zip(flat[::2], flat[1::2])) == fields, (label, pairs)
    # Sets on different shards of a four-shard server: a and b, c, d.
    assert client.sadd("{s}1", "m1", "m2", "m3") == 3, label
    assert client.sadd("s2", "m2", "m3", "m4") == 3, label
    assert client.smembers("{s}1") == {b"m1", b"m2", b"m3"}, label
    assert client.sismember("s2", "m4") in (True, 1), label
    assert client.smismember("s2", ["m1", "m2"]) in ([False, True], [0, 1]), label
    assert client.sinter("{s}1", "s2") == {b"m2", b"m3"}, label
    assert client.sunionstore("u", ["{s}1", "s2"]) == 4, label
    assert client.scard("u") == 4, label
    assert set(client.sscan_iter("u", match="m[12]")) == {b"m1", b"m2"}, label
    assert client.smove("{s}1", "s2", "m1") is True, label
    assert client.type("u") == b"set" and client.type("h") == b"hash", label


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
