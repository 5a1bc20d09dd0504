"""Browsing at catalog scale: PostgreSQL + Redis, 100,000 products, gunicorn on 127.0.0.1.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/shop_bench REDIS_URL=redis://127.0.0.1:6379/5 \\
        .venv/bin/python bench/browse.py [--products 100000] [--requests 3000] [--concurrency 8]

Loads the demo catalog without images (and prints its products/s), then measures requests/s
and p50/p95/p99 for a warm product page, a category page, the products API, and a trivial
Django view (/healthz) served the same way: the framework's ceiling, with each page's ratio.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import time

from harness import bench_environment, fetch, gunicorn, hammer, manage, page_load_arguments, print_table


def main() -> None:
    parser = page_load_arguments(__doc__, products=100_000, requests=3000, concurrency=8, workers=2, time_limit=90)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get("REDIS_URL"):
        sys.exit("bench/browse.py measures the production setup: set DATABASE_URL (PostgreSQL) and REDIS_URL")

    env = bench_environment(
        MEDIA_ROOT=tempfile.mkdtemp(prefix="shop-bench-media-"), CACHE_KEY_PREFIX=f"bench{os.getpid()}"
    )
    manage(env, "migrate", "--noinput", "-v0")
    started = time.perf_counter()
    out = manage(env, "load_demo_catalog", "--products", str(args.products), "--no-images", "--batch-size", "2000")
    print(out.strip(), f"[{time.perf_counter() - started:.1f} s wall]")
    manage(env, "collectstatic", "--noinput", "-v0")
    with gunicorn(env, workers=args.workers) as port:
        category = re.search(r'href="(/c/[^"]+/)"', fetch(port, "/")[1].decode()).group(1)
        category_html = fetch(port, category)[1].decode()
        subcategory = re.search(r'<ul class="subcategories"><li><a href="(/c/[^"]+/)"', category_html)
        category = subcategory.group(1) if subcategory else category
        product = re.search(r'href="(/p/[^"]+/)"', fetch(port, category)[1].decode()).group(1)
        pages = (("ceiling /healthz", "/healthz"), ("product (warm)", product), ("category", category),
                 ("products API", f"/api/v1/products?category={category.strip('/').split('/')[-1]}"))  # fmt: skip
        rows = []
        for name, path in pages:
            fetch(port, path)  # warm the cache
            rows.append((name, hammer(port, path, args.requests, args.concurrency, args.time_limit)))
        print_table(rows, ceiling=rows[0][1]["rps"])


if __name__ == "__main__":
    main()
