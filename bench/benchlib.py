"""Shared pieces of the benchmark scripts (bench/redis_benchmark.py, bench/suite.py,
bench/persistence.py).

Servers are started pinned with taskset (taskset execs the server, so the child's pid
is the server's), in a temporary directory removed on stop, with `--appendonly no`
unless the caller's extra flags say otherwise. A caller whose data must outlive the
process (a restart) passes its own data directory, which is left in place. A
server's CPU time comes from /proc/PID/stat (utime + stime, all threads) and its
memory from /proc/PID/status (VmRSS, VmHWM); `measure` wraps one load with both. The
two load generators, redis-benchmark and corekv-loadgen, are parsed into one result
shape:

    {"requests": int, "rps": float, "p50_ms": float, "p99_ms": float, "p99_9_ms": float}

Python 3.11 standard library only.
"""

import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COREKV = os.path.join(ROOT, "target", "release", "corekv-server")
LOADGEN = os.path.join(ROOT, "target", "release", "corekv-loadgen")
CLK_TCK = os.sysconf("SC_CLK_TCK")

SERVER_START_TIMEOUT_S = 20
SERVER_STOP_TIMEOUT_S = 10
# Persistence stays off unless a case turns it on, on both servers alike.
APPENDONLY_NO = ("--appendonly", "no")
RESP_TIMEOUT_S = 10
POLL_INTERVAL_S = 0.05
# A load generator that runs this much longer than asked is stuck, not slow.
LOAD_TIMEOUT_S = 600


def require_tools(*tools):
    missing = [tool for tool in tools if not shutil.which(tool)]
    if missing:
        sys.exit(f"not found on PATH: {', '.join(missing)} (apt-get install redis-server redis-tools util-linux)")


def cargo_build_release(*packages, examples=()):
    """Builds `packages`' binaries in release mode, or only `examples` of them if given
    (cargo builds just the targets named)."""
    argv = ["cargo", "build", "--release", "-q"]
    for package in packages:
        argv += ["-p", package]
    for example in examples:
        argv += ["--example", example]
    subprocess.run(argv, cwd=ROOT, check=True)


def redis_server_version():
    """`7.0.15` from `redis-server --version`."""
    out = subprocess.run(["redis-server", "--version"], capture_output=True, text=True, check=True).stdout
    match = re.search(r"v=(\S+)", out)
    return match.group(1) if match else out.strip()


def machine():
    """CPU model and count, kernel and Redis version, for a report's header."""
    with open("/proc/cpuinfo") as f:
        models = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    return {"nproc": os.cpu_count(), "cpu_model": models[0] if models else platform.processor(),
            "kernel": platform.release(), "redis_server": redis_server_version()}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    """utime + stime of a process (all threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def status_kib(pid, field):
    """A `VmXXX:` line of /proc/PID/status, in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(f"{field} not in /proc/{pid}/status")


def reset_peak_rss(pid):
    """Sets VmHWM back to the current RSS (clear_refs 5), so the next peak is one load's.

    Returns False where the kernel or permissions refuse; VmHWM then stays the peak
    since start."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def resp_command(port, *args):
    """Sends one command and returns its reply: str for status and bulk, int, or None."""
    request = f"*{len(args)}\r\n".encode()
    for arg in args:
        data = str(arg).encode()
        request += b"$%d\r\n%s\r\n" % (len(data), data)
    with socket.create_connection(("127.0.0.1", port), timeout=RESP_TIMEOUT_S) as s:
        s.sendall(request)
        reader = s.makefile("rb")
        line = reader.readline().rstrip(b"\r\n")
        kind, rest = line[:1], line[1:].decode()
        if kind == b"+":
            return rest
        if kind == b":":
            return int(rest)
        if kind == b"$":
            return None if int(rest) < 0 else reader.read(int(rest) + 2)[:-2].decode()
        raise RuntimeError(f"{' '.join(map(str, args))}: unexpected reply {line!r}")


def info_fields(port, section):
    """`INFO section` as a dict of its `name:value` lines."""
    text = resp_command(port, "INFO", section)
    fields = {}
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep and not name.startswith("#"):
            fields[name] = value
    return fields


class Refused(Exception):
    """The server exited during start-up; the message is the start of its output."""


class Server:
    """A server process pinned with taskset, listening on `port`, its log (and its data
    unless `start` was given a data directory) in `workdir`, removed on stop.

    `started` is the monotonic time just before the process was spawned. With
    `wait=False` the constructor returns at once and the caller decides when the server
    counts as up (a restart measures how long that takes). It is up once PING gets
    `ready_reply` (`OK` from a server that answers everything `+OK`)."""

    def __init__(self, name, argv, port, workdir, wait=True, ready_reply="PONG"):
        self.name, self.port, self.workdir = name, port, workdir
        self.ready_reply = ready_reply
        self.log_path = os.path.join(workdir, "server.log")
        with open(self.log_path, "wb") as log:
            self.started = time.monotonic()
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
        if not wait:
            return
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    @property
    def pid(self):
        return self.proc.pid

    def _wait_ready(self):
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if refusal := self.exited():
                raise refusal
            try:
                if resp_command(self.port, "PING") == self.ready_reply:
                    return
            except (OSError, RuntimeError):
                pass
            time.sleep(POLL_INTERVAL_S)
        raise RuntimeError(f"{self.name} did not answer PING on port {self.port} in {SERVER_START_TIMEOUT_S} s")

    def exited(self):
        """None while running; else Refused naming the first line of the server's output."""
        return None if self.proc.poll() is None else Refused(self._log_head())

    def _log_head(self):
        """The first line of the server's output: where it says why it stopped."""
        with open(self.log_path, errors="replace") as f:
            lines = [line.strip() for line in f if line.strip()]
        return lines[0] if lines else f"exit status {self.proc.returncode}"

    def cpu_seconds(self):
        return cpu_seconds(self.pid)

    def rss_kib(self):
        return status_kib(self.pid, "VmRSS")

    def peak_rss_kib(self):
        return status_kib(self.pid, "VmHWM")

    def kill(self):
        """SIGKILL, as a crash would: no shutdown hook runs. Keeps `workdir`."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(SERVER_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)


def with_extra(defaults, extra):
    """`defaults` (flag, value pairs) but those that `extra` sets, then `extra`: corekv
    refuses a flag given twice, where Redis would take the last."""
    given = {arg for arg in extra if arg.startswith("--")}
    return [arg for flag, value in defaults if flag not in given for arg in (flag, value)] + list(extra)


def redis_argv(port, data_dir, cpus, extra=()):
    defaults = (("--port", str(port)), ("--bind", "127.0.0.1"), ("--save", ""), APPENDONLY_NO,
                ("--dir", data_dir))
    return ["taskset", "-c", cpus, "redis-server", *with_extra(defaults, extra)]


def corekv_argv(port, data_dir, cpus, shards, extra=(), binary=COREKV):
    defaults = (("--port", str(port)), ("--bind", "127.0.0.1"), ("--dir", data_dir), ("--shards", str(shards)),
                ("--cpus", cpus), APPENDONLY_NO)
    return ["taskset", "-c", cpus, binary, *with_extra(defaults, extra)]


def start(kind, cpus, shards=1, extra=(), data_dir=None, wait=True, binary=COREKV, ready_reply="PONG"):
    """Starts `redis` or `corekv` on a free port; `extra` flags replace the defaults
    they name and come last. `binary` is the corekv-server to run (another build, to
    compare two versions); `ready_reply` is its answer to PING (see Server).

    The server's `--dir` is `data_dir` if given (the caller's, never removed here),
    else its temporary working directory."""
    port = free_port()
    workdir = tempfile.mkdtemp(prefix=f"bench-{kind}-")
    data_dir = data_dir or workdir
    if kind == "redis":
        argv = redis_argv(port, data_dir, cpus, extra)
    else:
        argv = corekv_argv(port, data_dir, cpus, shards, extra, binary)
    return Server(kind, argv, port, workdir, wait, ready_reply)


def measure(server, run):
    """Runs `run()` (a load returning a result dict with `requests`) and adds the
    server's CPU µs per request and its peak RSS during the load."""
    reset = reset_peak_rss(server.pid)
    before = server.cpu_seconds()
    result = run()
    after = server.cpu_seconds()
    result["cpu_us"] = (after - before) * 1e6 / result["requests"]
    result["peak_rss_kib"] = server.peak_rss_kib()
    result["peak_rss_is_per_load"] = reset
    return result


def run_pinned(cpu, argv, stdin_path=None):
    """Runs a client pinned to `cpu` (stdin from `stdin_path` if given); its stdout, or
    an error naming its stderr."""
    with open(stdin_path or os.devnull, "rb") as stdin:
        proc = subprocess.run(["taskset", "-c", cpu, *argv], stdin=stdin, capture_output=True,
                              timeout=LOAD_TIMEOUT_S)
    stdout, stderr = proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {stderr.strip()[-2000:]}")
    return stdout


def write_set_pipe_file(path, keys, value_tag=b"val:"):
    """`keys` SET commands in RESP for redis-cli --pipe: keys key:%012d (16 bytes, the
    same `keys` names for every tag), values `value_tag` then the index, 32 bytes."""
    assert len(value_tag) == 4, value_tag
    step = 10_000
    with open(path, "wb") as f:
        for first in range(0, keys, step):
            f.write(b"".join(b"*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n$32\r\n%s%028d\r\n" % (i, value_tag, i)
                             for i in range(first, min(keys, first + step))))


def pipe(port, client_cpu, path, replies):
    """Sends a RESP file through `redis-cli --pipe` pinned to `client_cpu`; checks that
    every one of `replies` commands succeeded."""
    out = run_pinned(client_cpu, ["redis-cli", "-p", str(port), "--pipe"], path)
    if f"errors: 0, replies: {replies}" not in out:
        raise RuntimeError(f"redis-cli --pipe {os.path.basename(path)} into port {port}: {out.strip()}")


def tree_bytes(path):
    """Apparent bytes of the files under `path` (st_size, not blocks allocated), and the
    files as {path relative to `path`: bytes}."""
    files = {}
    for parent, _, names in os.walk(path):
        for name in names:
            full = os.path.join(parent, name)
            try:
                files[os.path.relpath(full, path)] = os.lstat(full).st_size
            except FileNotFoundError:  # removed while walking (a journal being retired)
                pass
    return sum(files.values()), files


_PERCENTILE_LINE = re.compile(r"^\s*([\d.]+)% <= ([\d.]+) milliseconds")


def parse_redis_benchmark(text, requests):
    """The summary of a single-test redis-benchmark run (not -q, not --csv).

    p50 and p99 are the summary's; p99.9 is the first step of the percentile
    distribution at or above 99.9%, the smallest listed latency that 99.9% of
    requests did not exceed."""
    lines = text.replace("\r", "\n").splitlines()
    rps = p50 = p99 = p99_9 = None
    for i, line in enumerate(lines):
        if "throughput summary:" in line:
            rps = float(line.split(":")[1].split()[0])
        elif line.split()[:6] == ["avg", "min", "p50", "p95", "p99", "max"]:
            values = [float(v) for v in lines[i + 1].split()]
            p50, p99 = values[2], values[4]
        elif p99_9 is None and (m := _PERCENTILE_LINE.match(line)) and float(m.group(1)) >= 99.9:
            p99_9 = float(m.group(2))
    if None in (rps, p50, p99, p99_9):
        raise RuntimeError(f"cannot parse redis-benchmark output:\n{text[-2000:]}")
    return {"requests": requests, "rps": rps, "p50_ms": p50, "p99_ms": p99, "p99_9_ms": p99_9}


def run_redis_benchmark(port, client_cpu, test, requests, clients, pipeline, keyspace=None, value_size=None):
    argv = ["redis-benchmark", "-p", str(port), "-t", test, "-n", str(requests),
            "-c", str(clients), "-P", str(pipeline)]
    if keyspace:
        argv += ["-r", str(keyspace)]
    if value_size:
        argv += ["-d", str(value_size)]
    return parse_redis_benchmark(run_pinned(client_cpu, argv), requests)


def run_loadgen(port, client_cpu, args):
    """One corekv-loadgen run on one pinned thread; `args` are its load flags."""
    argv = [LOADGEN, "-p", str(port), "--cpus", client_cpu, "--json", "-q", *args]
    result = json.loads(run_pinned(client_cpu, argv))
    total = result["total"]
    if total["errors"] or result["unanswered"]:
        raise RuntimeError(f"corekv-loadgen {' '.join(args)}: {total['errors']} errors, "
                           f"{result['unanswered']} unanswered, first: {result['first_error']}")
    latency = total["latency_ms"]
    return {"requests": total["requests"], "rps": total["requests_per_s"], "p50_ms": latency["p50"],
            "p99_ms": latency["p99"], "p99_9_ms": latency["p99_9"]}


def median(samples, key):
    values = [s[key] for s in samples if s.get(key) is not None]
    return statistics.median(values) if values else None


SERVERS = ("redis", "corekv")


def round_order(rnd):
    """Which server runs first in round `rnd`: Redis in odd rounds (1, 3, ...)."""
    return SERVERS if rnd % 2 == 0 else tuple(reversed(SERVERS))


def add_section_args(ap, name, sections, server_cpu_help):
    """The flags of the section-based scripts (persistence.py, replication.py)."""
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    ap.add_argument("--only", default=sections,
                    help=f"sections to run, e.g. `b` or `a,c` (default: {sections})")
    ap.add_argument("--no-build", action="store_true",
                    help="use the binaries in target/release as they are (default: cargo build --release first)")
    ap.add_argument("--server-cpu", default="0", help=f"{server_cpu_help} (default 0)")
    ap.add_argument("--client-cpu", default="1", help="CPU for the clients and this script (default 1)")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", name),
                    help=f"writes OUT.md and OUT.json (default bench/results/{name})")


def check_section_args(ap, args, sections, profile):
    """Checks the flags of add_section_args and applies the size profile."""
    for key, value in profile.items():
        setattr(args, key, value)
    if args.rounds < 1:
        ap.error("--rounds must be positive")
    if set(args.only) - set(sections + ", ") or not set(args.only) & set(sections):
        ap.error(f"--only takes sections {', '.join(sections)}")
    args.only = "".join(section for section in sections if section in args.only)
    if args.server_cpu == args.client_cpu:
        ap.error("--server-cpu and --client-cpu must differ: the servers and clients would share a CPU")
    args.out = args.out.removesuffix(".md").removesuffix(".json")
    return args
