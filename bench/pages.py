"""The read path against the framework's ceiling: product, category and search pages and the
products API next to /healthz, on one server in one run (issue 16).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/shop_bench_pages REDIS_URL=redis://127.0.0.1:6379/5 \\
        .venv/bin/python bench/pages.py [--products 10000] [--requests 4000] [--concurrency 16] [--workers 4]
        [--wrk SECONDS]

1. Creates the database if it is missing, migrates and loads the demo catalog without images
   (idempotent: a second run tops up nothing).
2. Starts gunicorn (sync workers, as production runs them) on 127.0.0.1 and, for each page, warms
   the cache with one request, then sends `--requests` GETs over `--concurrency` keep-alive
   connections: requests/s, p50/p95/p99 and the share of /healthz's requests/s. `--wrk SECONDS`:
   wrk sends them instead (Debian's package, the issue's load generator; this many seconds per
   page), a generator that takes less of the cores than this process's threads.
3. In this process (Django's test client, no network): milliseconds per request of each page,
   SQL queries and cache (Redis) round trips per warm request.

Only 127.0.0.1 is contacted; every loop is bounded in requests and in time.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import time

from harness import (
    ROOT,
    bench_environment,
    ensure_database,
    fetch,
    gunicorn,
    hammer,
    manage,
    page_load_arguments,
    print_table,
    wrk_load,
)

SEARCH_WORDS = ["lamp", "backpack", "novel", "kite", "tent", "watch", "camera", "armchair", "helmet", "jacket"]
TARGET_HITS = 417  # the search page: a word with about this many hits


def pick_pages(port: int) -> list[tuple[str, str]]:
    category = re.search(r'href="(/c/[^"]+/)"', fetch(port, "/")[1].decode()).group(1)
    subcategory = re.search(r'<ul class="subcategories"><li><a href="(/c/[^"]+/)"', fetch(port, category)[1].decode())
    category = subcategory.group(1) if subcategory else category
    product = re.search(r'href="(/p/[^"]+/)"', fetch(port, category)[1].decode()).group(1)
    hits = {}
    for word in SEARCH_WORDS:
        status, body = fetch(port, f"/api/v1/search?q={word}&page_size=1")
        if status == 200:
            hits[word] = json.loads(body)["count"]
    word = min(hits, key=lambda w: abs(hits[w] - TARGET_HITS))
    print(f"pages: product {product}, category {category}, search {word!r} ({hits[word]} hits)")
    slug = category.strip("/").split("/")[-1]
    return [("ceiling /healthz", "/healthz"), ("product page", product), ("category page", category),
            ("search page", f"/search/?q={word}"), ("products API", f"/api/v1/products?category={slug}")]  # fmt: skip


def in_process(env: dict, pages: list[tuple[str, str]], rounds: int) -> None:
    """ms per request, SQL queries and cache round trips per warm request, in this process."""
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from tests.cache_helpers import count_cache_calls

    client = Client(HTTP_HOST="127.0.0.1")
    print(f"\n{'page':<16} {'ms/request':>10} {'SQL':>4} {'cache trips':>11}  (in process, warm)")
    for name, path in pages:
        client.get(path)
        with CaptureQueriesContext(connection) as queries, count_cache_calls() as calls:
            client.get(path)
        # counted now: the captured list is a slice of the connection's log, which the next
        # requests reset
        sql, trips = len(queries), calls.total
        started = time.perf_counter()
        for _ in range(rounds):
            client.get(path)
        ms = (time.perf_counter() - started) * 1000 / rounds
        print(f"{name:<16} {ms:>10.2f} {sql:>4} {trips:>11}")


def main() -> None:
    parser = page_load_arguments(__doc__, products=10_000, requests=4000, concurrency=16, workers=4, time_limit=40)
    parser.add_argument("--in-process-rounds", type=int, default=300)
    parser.add_argument("--in-process-only", action="store_true", help="skip the HTTP load (no gunicorn)")
    parser.add_argument("--wrk", type=float, metavar="SECONDS", help="load each page with wrk for this long")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres") or not os.environ.get("REDIS_URL"):
        sys.exit("bench/pages.py measures the production setup: set DATABASE_URL (PostgreSQL) and REDIS_URL")
    ensure_database(url, fresh=False)
    env = bench_environment(
        MEDIA_ROOT=tempfile.mkdtemp(prefix="shop-bench-media-"), CACHE_KEY_PREFIX=f"bench{os.getpid()}"
    )
    env.pop("CELERY_BROKER_URL", None)
    env.pop("DATABASE_REPLICA_URLS", None)
    manage(env, "migrate", "--noinput", "-v0")
    print(manage(env, "load_demo_catalog", "--products", str(args.products), "--no-images", "--batch-size", "2000").strip())
    manage(env, "collectstatic", "--noinput", "-v0")
    with gunicorn(env, workers=args.workers, threads=1, worker_class="sync") as port:
        pages = pick_pages(port)
        rows = []
        for name, path in [] if args.in_process_only else pages:
            fetch(port, path)  # warm the cache
            if args.wrk:
                rows.append((name, wrk_load(port, path, args.wrk, args.concurrency)))
            else:
                rows.append((name, hammer(port, path, args.requests, args.concurrency, args.time_limit)))
        if rows:
            print_table(rows, ceiling=rows[0][1]["rps"])
    in_process(env, pages[1:], args.in_process_rounds)


if __name__ == "__main__":
    main()
