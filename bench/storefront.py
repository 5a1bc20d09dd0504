"""Storefront throughput on the embedded default: home, a category page and a product page.

    .venv/bin/python bench/storefront.py [--requests 2000] [--concurrency 8] [--workers 2]

Runs against DATABASE_URL / REDIS_URL when they are set, otherwise a throw-away SQLite file with
2,000 demo products. Production-like settings (DEBUG=0). Prints requests/s and p50/p95/p99.
"""

from __future__ import annotations

import argparse
import re
import tempfile

from harness import bench_environment, fetch, gunicorn, hammer, manage, print_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="requests per page")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--time-limit", type=float, default=60, help="seconds per page at most")
    args = parser.parse_args()

    env = bench_environment(MEDIA_ROOT=tempfile.mkdtemp(prefix="shop-bench-media-"))
    env.setdefault("DATABASE_URL", f"sqlite:///{tempfile.mkdtemp(prefix='shop-bench-')}/bench.sqlite3")
    print(
        f"database: {env['DATABASE_URL'].split('@')[-1]}, cache: {'redis' if env.get('REDIS_URL') else 'local memory'}"
    )
    manage(env, "migrate", "--noinput", "-v0")
    manage(env, "load_demo_catalog", "--products", "2000")
    manage(env, "collectstatic", "--noinput", "-v0")
    with gunicorn(env, workers=args.workers) as port:
        home = fetch(port, "/")[1].decode()
        category = re.search(r'href="(/c/[^"]+/)"', home).group(1)
        product = re.search(r'href="(/p/[^"]+/)"', home).group(1)
        rows = []
        for name, path in (("home", "/"), ("category", category), ("product", product)):
            fetch(port, path)  # warm
            rows.append((name, hammer(port, path, args.requests, args.concurrency, args.time_limit)))
        print_table(rows)


if __name__ == "__main__":
    main()
