#!/usr/bin/env python3
"""Records Redis's own command data for corekv's `COMMAND` family.

Starts the installed redis-server (it must be 7.0.15, the version corekv answers
as) on a free loopback port without persistence, asks it in RESP3 for
`COMMAND DOCS` and `COMMAND INFO` of every command it has, sorted by name, and
writes both replies to server/src/ops/redis_commands.resp: the docs map first,
then the info array, each RESP3 line ending in LF instead of CRLF so that the
file reads and diffs as text. server/src/ops/redis_commands.rs parses it.

    tools/record_commands.py [--out server/src/ops/redis_commands.resp]

Python 3 standard library only.
"""

import argparse
import os
import socket
import subprocess
import time

REDIS_VERSION = "7.0.15"
START_TIMEOUT_S = 10
OUT_DEFAULT = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "server", "src", "ops", "redis_commands.resp"
)


class Conn:
    """A RESP3 connection that returns each reply's raw bytes."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.buf = b""
        self.call("HELLO", "3")

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise EOFError("redis-server closed the connection")
        self.buf += chunk

    def _line(self, at):
        while True:
            end = self.buf.find(b"\r\n", at)
            if end >= 0:
                return self.buf[at:end], end + 2
            self._fill()

    def _value(self, at):
        """The end offset of the RESP3 value starting at `at`."""
        line, at = self._line(at)
        kind, body = line[:1], line[1:]
        if kind in b"+-:_#,(":
            return at
        if kind in b"$=!":
            n = int(body)
            if n < 0:
                return at
            while len(self.buf) < at + n + 2:
                self._fill()
            return at + n + 2
        if kind in b"*~>%|":
            n = int(body)
            items = n * 2 if kind in b"%|" else n
            for _ in range(max(items, 0)):
                at = self._value(at)
            return at
        raise ValueError(f"unexpected RESP3 line {line!r}")

    def call(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a.encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        end = self._value(0)
        reply, self.buf = self.buf[:end], self.buf[end:]
        if reply.startswith(b"-"):
            raise RuntimeError(reply.decode())
        return reply


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(port):
    redis = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            return redis, Conn(port)
        except OSError:
            if time.monotonic() > deadline:
                redis.kill()
                raise
            time.sleep(0.05)


def names(conn):
    """Every command name, from the RESP3 `COMMAND LIST` reply, sorted."""
    lines = conn.call("COMMAND", "LIST").split(b"\r\n")
    return sorted(lines[i].decode() for i in range(2, len(lines) - 1, 2))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=OUT_DEFAULT)
    args = parser.parse_args()
    redis, conn = start_redis(free_port())
    try:
        info = conn.call("INFO", "server").decode()
        assert f"redis_version:{REDIS_VERSION}\r\n" in info, "redis-server must be " + REDIS_VERSION
        every = names(conn)
        docs = conn.call("COMMAND", "DOCS", *every)
        infos = conn.call("COMMAND", "INFO", *every)
    finally:
        redis.kill()
        redis.wait()
    text = docs + infos
    # Lines end in LF in the file: no value may hold a CR of its own.
    assert text.count(b"\r") == text.count(b"\r\n"), "a value holds a CR"
    with open(args.out, "wb") as f:
        f.write(text.replace(b"\r\n", b"\n"))
    print(f"{len(every)} commands, {len(text)} bytes -> {os.path.normpath(args.out)}")


if __name__ == "__main__":
    main()
