"""What the benchmarks share: a gunicorn on 127.0.0.1, a bounded load loop, percentiles.

Only 127.0.0.1 is contacted; every loop is bounded in requests and in time.
"""

from __future__ import annotations

import http.client
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
PRODUCTION_LIKE = {"DEBUG": "0", "SECRET_KEY": "bench-" + "x" * 50, "ALLOWED_HOSTS": "127.0.0.1",
                   "PAYMENTS_TEST_WEBHOOK_SECRET": "bench-webhook-secret",
                   "SECURE_SSL_REDIRECT": "false", "LOG_LEVEL": "WARNING",
                   "THROTTLE_RATE_USER": "10000000/minute", "THROTTLE_RATE_ANON": "10000000/minute"}  # fmt: skip


def in_process_django(**defaults: str) -> None:
    """For a bench that runs Django in its own process: the project on sys.path and the settings a
    bench needs (each one the environment does not set already)."""
    sys.path.insert(0, str(ROOT))
    values = {"DJANGO_SETTINGS_MODULE": "shop.settings", "SECRET_KEY": "bench-" + "x" * 50,
              "ALLOWED_HOSTS": "testserver", "LOG_LEVEL": "ERROR", **defaults}  # fmt: skip
    for name, value in values.items():
        os.environ.setdefault(name, value)


def bench_environment(**extra: str) -> dict:
    return {**os.environ, **PRODUCTION_LIKE, **extra}


def manage(env: dict, *args: str) -> str:
    command = [PYTHON, "manage.py", *args]
    return subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path)
    response = conn.getresponse()
    return response.status, response.read()


@contextmanager
def gunicorn(env: dict, *, workers: int = 2, threads: int = 4, worker_class: str = "gthread"):
    port = free_port()
    server = subprocess.Popen(
        [PYTHON, "-m", "gunicorn", "shop.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
         "--threads", str(threads), "--worker-class", worker_class, "--log-level", "warning"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    try:
        for _ in range(100):
            try:
                if fetch(port, "/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        yield port
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:  # a worker still busy with a request: stop it anyway
            server.kill()
            server.wait(timeout=10)


def run_load(senders: list[Callable[[], bool]], total: int, time_limit: float) -> dict:
    """`total` calls shared by the senders (one thread each, each answering ok or not), within
    `time_limit` seconds; requests/s, errors and p50/p95/p99 latency in ms."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    remaining = [total]
    deadline = time.monotonic() + time_limit

    def worker(send: Callable[[], bool]) -> None:
        nonlocal errors
        while time.monotonic() < deadline:
            with lock:
                if remaining[0] == 0:
                    break
                remaining[0] -= 1
            started = time.perf_counter()
            ok = send()
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                errors += not ok

    threads = [threading.Thread(target=worker, args=(send,)) for send in senders]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    return {"requests": len(latencies), "rps": len(latencies) / elapsed, "errors": errors,
            "p50": percentile(latencies, 50), "p95": percentile(latencies, 95), "p99": percentile(latencies, 99)}  # fmt: skip


class KeepAliveGetter:
    """GETs one path over one keep-alive connection to 127.0.0.1, reconnecting after an error."""

    def __init__(self, port: int, path: str) -> None:
        self.port, self.path = port, path
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def __call__(self) -> bool:
        try:
            self.conn.request("GET", self.path)
            response = self.conn.getresponse()
            response.read()
            return response.status == 200
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            return False


def hammer(port: int, path: str, total: int, concurrency: int, time_limit: float) -> dict:
    """`total` GETs of `path` over `concurrency` keep-alive connections, within `time_limit` seconds."""
    getters = [KeepAliveGetter(port, path) for _ in range(concurrency)]
    try:
        return run_load(getters, total, time_limit)
    finally:
        for getter in getters:
            getter.conn.close()


WRK_REPORT = """done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK %d %d %d %.3f %.3f %.3f\\n", summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end
"""


def wrk_load(port: int, path: str, seconds: float, concurrency: int) -> dict:
    """`seconds` of GETs of `path` from wrk (Debian's package; C, two threads) over `concurrency`
    keep-alive connections, reported as `hammer` reports; a non-2xx answer counts as an error."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(WRK_REPORT)
        script.flush()
        out = subprocess.run(
            ["wrk", "-t2", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "-s", script.name,
             f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    requests, micros, errors, p50, p95, p99 = out.split("WRK ", 1)[1].split()
    return {"requests": int(requests), "rps": int(requests) / (int(micros) / 1e6), "errors": int(errors),
            "p50": float(p50), "p95": float(p95), "p99": float(p99)}  # fmt: skip


# Who used the cores during a load (Linux /proc): each process is put in the first group whose
# marker its command line contains; the benchmark's own process is the load generator.
CPU_GROUPS = (
    ("web (gunicorn)", "gunicorn"),
    ("allocator (inventory worker)", "-Q inventory"),
    ("payments worker", "-Q payments"),
    ("email worker", "-Q email"),
    ("PostgreSQL", "postgres"),
    ("RabbitMQ", "beam.smp"),
    ("Redis", "redis-server"),
)


def cpu_seconds_by_group() -> dict[int, tuple[str, float]]:
    """CPU seconds (user + system) each live process used so far, with its CPU_GROUPS group:
    {pid: (group, seconds)}; "load generator" is this process, "other" the rest. Compare
    snapshots around a load with print_cpu_split."""
    tick = os.sysconf("SC_CLK_TCK")
    found: dict[int, tuple[str, float]] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        seconds = (int(fields[11]) + int(fields[12])) / tick  # utime, stime (fields 14 and 15 of stat)
        if int(proc.name) == os.getpid():
            group = "load generator"
        else:
            group = next((name for name, marker in CPU_GROUPS if marker in command), "other")
        found[int(proc.name)] = (group, seconds)
    # The whole machine's busy time (/proc/stat: user, nice, system, irq, softirq; guest time is
    # inside user already, steal is the hypervisor's), pid 0: it also holds what no process above
    # accounts for (interrupts, processes that came and went).
    user, nice, system, _idle, _iowait, irq, softirq = (int(v) for v in Path("/proc/stat").read_text().split()[1:8])
    found[0] = ("machine", (user + nice + system + irq + softirq) / tick)
    return found


def print_cpu_split(*snapshots: dict[int, tuple[str, float]], per: int, unit: str, wall: float) -> None:
    """CPU used from the first snapshot to the last, per group: ms per `unit` and share. A process
    gone by the last snapshot (gunicorn stopped after the load) counts up to the last one it is in."""
    first, used = snapshots[0], {}
    for pid in set().union(*snapshots):
        group, seconds = next(snapshot[pid] for snapshot in reversed(snapshots) if pid in snapshot)
        used[group] = used.get(group, 0.0) + seconds - first.get(pid, (group, 0.0))[1]
    machine = used.pop("machine")
    total = sum(max(0.0, v) for v in used.values())
    used["not attributed"] = machine - total  # interrupts, processes that came and went
    cores = os.cpu_count() or 1
    print(f"\nCPU over {wall:.1f} s ({cores} cores, {machine / wall / cores:.0%} busy), per {unit}:")
    for name, seconds in sorted(used.items(), key=lambda item: -item[1]):
        if seconds > 0:
            print(f"  {name:<30} {seconds * 1000 / max(per, 1):7.1f} ms  {seconds / machine:5.0%}")
    print(f"  {'the machine':<30} {machine * 1000 / max(per, 1):7.1f} ms")


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000 if len(values) > 1 else 0.0


def print_table(rows: list[tuple[str, dict]], ceiling: float | None = None) -> None:
    head = f"{'page':<16} {'requests':>8} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>6}"
    print(head + (f" {'of ceiling':>10}" if ceiling else ""))
    for name, r in rows:
        line = (f"{name:<16} {r['requests']:>8} {r['rps']:>8.1f} {r['p50']:>8.1f} {r['p95']:>8.1f} {r['p99']:>8.1f} "
                f"{r['errors']:>6}")  # fmt: skip
        print(line + (f" {r['rps'] / ceiling:>10.0%}" if ceiling else ""))


def page_load_arguments(doc: str, *, products: int, requests: int, concurrency: int, workers: int,
                        time_limit: float):  # fmt: skip
    """The argument parser the page benchmarks share (catalog size, load, server, time bound)."""
    import argparse

    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=products)
    parser.add_argument("--requests", type=int, default=requests, help="requests per page")
    parser.add_argument("--concurrency", type=int, default=concurrency)
    parser.add_argument("--workers", type=int, default=workers, help="gunicorn worker processes (2 cores here)")
    parser.add_argument("--time-limit", type=float, default=time_limit, help="seconds per page at most")
    return parser


def ensure_database(url: str, *, fresh: bool) -> None:
    """Create the PostgreSQL database of DATABASE_URL if missing; `fresh` drops it first (only a shop_bench* one)."""
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    if fresh and not name.startswith("shop_bench"):
        sys.exit(f"--fresh drops the database: only a shop_bench* database, not {name!r}")
    maintenance = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(maintenance, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and fresh:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
