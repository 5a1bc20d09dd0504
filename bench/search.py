"""Search at catalog scale: 1,000,000 products on PostgreSQL, a fixed mix of 200 queries.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/shop_bench_search REDIS_URL=redis://127.0.0.1:6379/7 \\
        .venv/bin/python bench/search.py [--products 1000000] [--fresh | --skip-load] [--rounds 2] [--concurrency 4]
        [--cold-passes N] [--no-api]

1. Creates the database if it is missing (`--fresh` drops and recreates it first: only a database
   whose name starts with "shop_bench"), migrates, and loads the demo catalog without images,
   search vectors and the "did you mean" lexicon included (the index task runs in-process after
   each batch commits, as it does with eager Celery); prints products/s. `--skip-load` measures
   the products already there instead (no load rate).
2. Prints the sizes of the search indexes (pg_relation_size) and of the lexicon.
3. Runs a fixed, seeded mix of 200 queries (single words, phrases, misspellings, prefixes; 40 %
   with filters) through the service (`catalog.search.search`, facets included, one client),
   cold (`--cold-passes` times, the cached results dropped before each) and once warm, and
   through the HTTP API under gunicorn on 127.0.0.1 (not with `--no-api`); prints p50/p95/p99
   and queries/s, the five slowest queries and the median by kind of query.

Only 127.0.0.1 is contacted; every loop is bounded in requests and in time.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import os
import random
import re
import statistics
import sys
import tempfile
import threading
import time
from urllib.parse import urlencode

from harness import ROOT, bench_environment, ensure_database, gunicorn, manage, percentile, print_table, run_load

WORDS = ["smartphone", "laptop", "headphones", "camera", "frying pan", "armchair", "desk lamp", "duvet cover",
         "running shoe", "rain jacket", "backpack", "watch", "bike helmet", "tent", "running vest", "yoga mat",
         "novel", "science book", "cookbook", "travel guide", "board game", "jigsaw puzzle", "building set", "kite"]  # fmt: skip
BRANDS = ["voltline", "northwind", "lumen", "arcadia", "hearth", "oakhaven", "trailmark", "urban fox", "seabird",
          "summit", "pacer", "wildcamp", "penrose press", "playwise", "brickworks"]  # fmt: skip
ADJECTIVES = ["classic", "compact", "deluxe", "eco", "essential", "lightweight", "premium", "pro", "smart", "urban"]
COLOURS = ["black", "silver", "blue", "white", "red", "green", "grey", "navy"]
CATEGORIES = ["electronics", "electronics-phones", "home-kitchen", "fashion", "fashion-shoes", "sports-outdoors",
              "books", "toys-games-puzzles"]  # fmt: skip


def misspell(rng: random.Random, word: str) -> str:
    i = rng.randrange(1, len(word) - 1)
    kind = rng.choice(["swap", "drop", "double"])
    if kind == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == "drop":
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i] + word[i:]


def query_mix(seed: int = 8) -> list[dict]:
    """200 search requests: query parameters as the API takes them (the same for the service)."""
    rng = random.Random(seed)  # noqa: S311 (a fixed, repeatable mix, not a secret)
    mix = []
    for n in range(200):
        kind = ("word", "phrase", "misspelling", "prefix")[n % 4]
        noun = rng.choice(WORDS)
        if kind == "word":
            q = noun.split()[-1] if rng.random() < 0.5 else rng.choice(BRANDS)
        elif kind == "phrase":
            q = " ".join(filter(None, [rng.choice([*BRANDS, ""]), rng.choice([*ADJECTIVES, ""]), noun,
                                       rng.choice([*COLOURS, "", ""])]))  # fmt: skip
        elif kind == "misspelling":
            q = " ".join(misspell(rng, w) if len(w) > 4 else w for w in noun.split())
        else:
            q = noun[: rng.randrange(3, max(4, len(noun)))]
        params = {"q": q}
        if n % 5 in (1, 3):  # 40 % with filters
            choice = rng.choice(["category", "brand", "price", "colour", "combined"])
            if choice in ("category", "combined"):
                params["category"] = rng.choice(CATEGORIES)
            if choice in ("brand", "combined"):
                params["brand"] = rng.choice(BRANDS).replace(" ", "-")
            if choice in ("price", "combined"):
                low = rng.choice([0, 25, 50, 100, 250])
                params.update(price_min=str(low), price_max=str(low * 4 + 100))
            if choice == "colour":
                params["attr_colour"] = rng.choice(COLOURS).capitalize()
        mix.append(params)
    return mix


def query_kind(params: dict) -> str:
    """The mix's kinds of query: words only, or which filter narrows them."""
    filters = sorted({"price" if name.startswith("price") else name for name in params if name != "q"})
    return "+".join(filters) or "words only"


def vacuum_analyze(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE catalog_product")
        conn.execute("VACUUM ANALYZE catalog_searchword")


def index_sizes() -> list[tuple[str, int]]:
    from django.db import connection

    names = ["product_search_filters_gin", "product_search_vector_gin", "product_search_popularity", "searchword_trigram_gin", "catalog_searchword_pkey",
             "product_attributes_gin", "catalog_searchword", "catalog_product"]  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("SELECT c.relname, pg_relation_size(c.oid) FROM pg_class c WHERE c.relname = ANY(%s)", [names])
        sizes = dict(cursor.fetchall())
        cursor.execute("SELECT count(*) FROM catalog_searchword")
        words = cursor.fetchone()[0]
        cursor.execute("SELECT pg_column_size(search_vector) FROM catalog_product TABLESAMPLE SYSTEM (1) LIMIT 1000")
        vector_bytes = [row[0] or 0 for row in cursor.fetchall()]
    rows = [(name, sizes.get(name, 0)) for name in names]
    rows.append(("lexicon words", words))
    rows.append(("avg vector bytes", sum(vector_bytes) // max(1, len(vector_bytes))))
    return rows


def run_service(mix: list[dict]) -> dict:
    from django.http import QueryDict

    from catalog import search
    from catalog.search.params import parse_search_params

    latencies, errors, timed = [], 0, []
    started = time.perf_counter()
    for params in mix:
        t0 = time.perf_counter()
        wanted, problems = parse_search_params(QueryDict(urlencode(params)))
        try:
            result = search.search(query=wanted.query, filters=wanted.filters, sort=wanted.sort, page=wanted.page)
            search.result_cards(result)
        except Exception:
            errors += 1
        errors += bool(problems)
        latencies.append(time.perf_counter() - t0)
        timed.append((latencies[-1], params))
    elapsed = time.perf_counter() - started
    for seconds, params in sorted(timed, key=lambda t: t[0], reverse=True)[:5]:
        print(f"  slowest: {seconds * 1000:7.1f} ms {params}")
    by_kind: dict[str, list[float]] = {}
    for seconds, params in timed:
        by_kind.setdefault(query_kind(params), []).append(seconds)
    for kind, values in sorted(by_kind.items()):
        print(
            f"  {kind:<22} {len(values):>3} queries  p50 {statistics.median(values) * 1000:6.1f}  max {max(values) * 1000:6.1f} ms"
        )
    return {"requests": len(latencies), "rps": len(latencies) / elapsed, "errors": errors,
            "p50": percentile(latencies, 50), "p95": percentile(latencies, 95), "p99": percentile(latencies, 99)}  # fmt: skip


class PathGetter:
    """GETs the next path of a shared sequence over one keep-alive connection to 127.0.0.1."""

    def __init__(self, port: int, paths, lock: threading.Lock) -> None:
        self.port, self.paths, self.lock = port, paths, lock
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def __call__(self) -> bool:
        with self.lock:
            path = next(self.paths)
        try:
            self.conn.request("GET", path)
            response = self.conn.getresponse()
            response.read()
            return response.status == 200
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            return False


def hammer_paths(port: int, paths: list[str], concurrency: int, time_limit: float) -> dict:
    """Every path once (in order, shared by `concurrency` keep-alive connections), within time_limit."""
    shared, lock = itertools.cycle(paths), threading.Lock()
    getters = [PathGetter(port, shared, lock) for _ in range(concurrency)]
    try:
        return run_load(getters, len(paths), time_limit)
    finally:
        for getter in getters:
            getter.conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=1_000_000)
    parser.add_argument("--fresh", action="store_true", help="drop and recreate the shop_bench* database first")
    parser.add_argument("--rounds", type=int, default=2, help="passes of the 200-query mix through the API")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (2 cores here)")
    parser.add_argument("--time-limit", type=float, default=600, help="seconds for the API run at most")
    parser.add_argument(
        "--cold-passes",
        type=int,
        default=1,
        help="passes of the mix through the service, each with the cached results dropped first",
    )
    parser.add_argument("--no-api", action="store_true", help="measure the service only (no gunicorn)")
    parser.add_argument("--skip-load", action="store_true",
                        help="measure the products already in the database (no load, no load rate, no VACUUM)")  # fmt: skip
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        sys.exit("bench/search.py measures PostgreSQL search: set DATABASE_URL=postgres://.../shop_bench_search")
    ensure_database(url, fresh=args.fresh)
    env = bench_environment(
        MEDIA_ROOT=tempfile.mkdtemp(prefix="shop-bench-media-"), CACHE_KEY_PREFIX=f"bench{os.getpid()}"
    )
    env.pop("CELERY_BROKER_URL", None)  # index tasks run in-process, after each batch commits
    env.pop("ELASTICSEARCH_URL", None)
    manage(env, "migrate", "--noinput", "-v0")
    if not args.skip_load:
        started = time.perf_counter()
        out = manage(env, "load_demo_catalog", "--products", str(args.products), "--no-images", "--batch-size", "2000")
        load_seconds = time.perf_counter() - started
        print(out.strip())
        created = int(re.search(r"(\d+) products created", out).group(1))
        if created:
            print(f"load with search vectors, GIN and lexicon: {created} products in {load_seconds:.1f} s "
                  f"= {created / load_seconds:.0f} products/s")  # fmt: skip
        else:
            print("the products were loaded before: no load rate (use --fresh to measure one)")
        started = time.perf_counter()
        vacuum_analyze(url)
        print(f"VACUUM ANALYZE after the load: {time.perf_counter() - started:.1f} s")

    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    print("\nsizes (bytes, or a count)")
    for name, size in index_sizes():
        print(f"  {name:<28} {size:>14,}")

    mix = query_mix()
    print(f"\n200 queries: {sum(1 for p in mix if len(p) > 1)} with filters; e.g. {mix[:4]}")
    from catalog import cache as catalog_cache

    rows = []
    for n in range(max(1, args.cold_passes)):
        catalog_cache.invalidate_listings()  # a new generation: every search a miss again
        rows.append((f"service (cold{'' if n == 0 else f' {n + 1}'})", run_service(mix)))
    rows.append(("service (warm)", run_service(mix)))
    if args.no_api:
        print()
        print_table(rows)
        return
    manage(env, "collectstatic", "--noinput", "-v0")
    # The API gets a cache of its own, so its first pass measures the queries, not the results
    # the service runs cached; later passes (--rounds) are answered from the cache.
    with gunicorn({**env, "CACHE_KEY_PREFIX": f"{env['CACHE_KEY_PREFIX']}-api"}, workers=args.workers) as port:
        paths = [f"/api/v1/search?{urlencode(params)}" for params in mix]
        rows.append(("HTTP API (cold)", hammer_paths(port, paths, args.concurrency, args.time_limit)))
        if args.rounds > 1:
            rows.append(("HTTP API (warm)", hammer_paths(port, paths * (args.rounds - 1), args.concurrency,
                                                         args.time_limit)))  # fmt: skip
    print()
    print_table(rows)


if __name__ == "__main__":
    main()
