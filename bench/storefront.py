"""Storefront throughput: home, category and product pages served by gunicorn on 127.0.0.1.

    .venv/bin/python bench/storefront.py [--requests 2000] [--concurrency 8] [--workers 2]

Runs against DATABASE_URL / REDIS_URL when they are set, otherwise a throw-away SQLite file
with the demo catalog. Production-like settings (DEBUG=0, whitenoise manifest). Bounded: a
fixed number of requests per page and a time limit; only 127.0.0.1 is contacted.
Prints requests/s and p50/p95/p99 latency per page.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def manage(env: dict, *args: str) -> str:
    command = [PYTHON, "manage.py", *args]
    return subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout


def fetch(port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path)
    response = conn.getresponse()
    return response.status, response.read()


def hammer(port: int, path: str, total: int, concurrency: int, deadline: float) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    remaining = [total]

    def worker() -> None:
        nonlocal errors
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while time.monotonic() < deadline:
            with lock:
                if remaining[0] == 0:
                    break
                remaining[0] -= 1
            started = time.perf_counter()
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                errors += not ok
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started, latencies, errors


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000 if len(values) > 1 else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="requests per page")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--time-limit", type=float, default=60, help="seconds per page at most")
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="shop-bench-")
    env = {**os.environ, "DEBUG": "0", "SECRET_KEY": "bench-" + "x" * 50, "ALLOWED_HOSTS": "127.0.0.1",
           "SECURE_SSL_REDIRECT": "false", "LOG_LEVEL": "WARNING"}  # fmt: skip
    env.setdefault("DATABASE_URL", f"sqlite:///{tmp}/bench.sqlite3")
    cache = "redis" if env.get("REDIS_URL") else "local memory"
    print(f"database: {env['DATABASE_URL'].split('@')[-1]}, cache: {cache}")
    manage(env, "migrate", "--noinput", "-v0")
    manage(env, "load_demo_catalog", "--products", "2000")
    manage(env, "collectstatic", "--noinput", "-v0")

    port = free_port()
    server = subprocess.Popen(
        [PYTHON, "-m", "gunicorn", "shop.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", str(args.workers), "--threads", "4", "--worker-class", "gthread", "--log-level", "warning"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    try:
        for _ in range(100):
            try:
                if fetch(port, "/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        home = fetch(port, "/")[1].decode()
        category = re.search(r'href="(/c/[^"]+/)"', home).group(1)
        product = re.search(r'href="(/p/[^"]+/)"', home).group(1)
        print(f"{'page':<10} {'requests':>8} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>6}")
        for name, path in (("home", "/"), ("category", category), ("product", product)):
            fetch(port, path)  # warm
            elapsed, latencies, errors = hammer(
                port, path, args.requests, args.concurrency, time.monotonic() + args.time_limit
            )
            print(
                f"{name:<10} {len(latencies):>8} {len(latencies) / elapsed:>8.1f} {percentile(latencies, 50):>8.1f} "
                f"{percentile(latencies, 95):>8.1f} {percentile(latencies, 99):>8.1f} {errors:>6}"
            )
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
