"""The ranking job at scale, and what the cache warm-up is worth (issue 13; docs/popularity.md).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/shop_bench_popularity \\
    REDIS_URL=redis://127.0.0.1:6379/9 \\
        .venv/bin/python bench/popularity.py [--products 1000000] [--rows 10000000] [--requests 3000]

1. Migrates, loads 200 demo products (no images) and copies one of them into `--products`
   products (one INSERT ... SELECT generate_series), then writes `--rows` activity rows spread
   over the last 30 days (each day a different set of products, views skewed towards a few, some
   cart adds and purchases) into the day partitions. Written once per database; `--fresh` again.
2. Runs the ranking job twice (`recompute_popularity`, no warm-up): the first run scores every
   product with activity and rewrites them; the second, with no new activity, must rewrite
   nothing. Prints activity rows/s, wall time, products rewritten and this process's peak memory
   (the aggregation runs inside PostgreSQL; the job streams the changed ids 1,000 at a time).
3. Product pages requested in-process (Django's test client, the real Redis cache; each page a new
   visitor, as the first wave after a deploy is) in a Zipf-distributed order over the products
   ranked by popularity (s = 1.1, seeded): the catalog cache's hit rate and the share of pages
   that read the catalog from the database, from a cold cache, then for the same sequence right
   after `warm_cache --top N`. `--pages-only` skips the ranking runs.

PostgreSQL and Redis only; the database's name must say bench (its products are replaced).
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import os
import random
import resource
import time

from harness import in_process_django

in_process_django(CACHE_KEY_PREFIX=f"bench-popularity-{os.getpid()}")

DAYS = 30
ZIPF_S = 1.1
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36 (bench)"


def write_products(count: int) -> None:
    """`count` products copied from the first demo product (unique SKU, slug and title each)."""
    from django.db import connection

    with connection.cursor() as cursor:
        columns = [c.name for c in connection.introspection.get_table_description(cursor, "catalog_product")]
        made = {"sku": "'BENCH-' || n", "slug": "'bench-' || n", "title": "t.title || ' ' || n",
                "popularity": "0", "version": "1", "created_at": "now()", "updated_at": "now()"}  # fmt: skip
        names = [c for c in columns if c != "id"]
        values = ", ".join(made.get(c, f"t.{c}") for c in names)
        cursor.execute("DELETE FROM catalog_product WHERE sku LIKE 'BENCH-%%'")
        cursor.execute(
            f"INSERT INTO catalog_product ({', '.join(names)}) SELECT {values} "  # noqa: S608  (column names only)
            "FROM (SELECT * FROM catalog_product ORDER BY id LIMIT 1) t, generate_series(1, %s) AS n",
            [count],
        )
        cursor.execute("ANALYZE catalog_product")


def write_activity(rows: int, products: int) -> None:
    """`rows` daily rows over the last DAYS days: each day `rows / DAYS` distinct products (a
    stride through the ids that differs per day), views skewed (a few hundred for some, a few for
    most), cart adds and purchases as small fractions."""
    from datetime import timedelta

    from django.db import connection
    from django.utils import timezone

    from catalog import activity

    today = timezone.now().date()
    first = today - timedelta(days=DAYS - 1)
    activity.ensure_partitions(first + timedelta(days=d) for d in range(DAYS + 8))
    per_day = rows // DAYS
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE catalog_productactivity")
        cursor.execute("SELECT min(id) FROM catalog_product WHERE sku LIKE 'BENCH-%%'")
        low = cursor.fetchone()[0]
        for day in range(DAYS):
            cursor.execute(
                """
                INSERT INTO catalog_productactivity (day, product_id, views, carts, purchases, clicks)
                SELECT %s::date, %s + (k * 7919 + %s * 104729) %% %s,
                       1 + (power((k * 2654435761 %% 1000003) / 1000003.0, 8) * 400)::int,
                       (k %% 11 = 0)::int * (1 + k %% 3), (k %% 37 = 0)::int, (k %% 5 = 0)::int
                FROM generate_series(1::bigint, %s) AS k
                """,
                [first + timedelta(days=day), low, day, products, per_day],
            )
        cursor.execute("ANALYZE catalog_productactivity")


def peak_memory_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def zipf_sequence(slugs: list[str], requests: int) -> list[str]:
    weights = list(itertools.accumulate(1 / (rank**ZIPF_S) for rank in range(1, len(slugs) + 1)))
    rng = random.Random(13)  # noqa: S311  (a seeded load, not a secret)
    return [slugs[bisect.bisect_left(weights, rng.random() * weights[-1])] for _ in range(requests)]


def page_hit_rate(sequence: list[str], *, warm_top: int) -> tuple[float, float, int, float]:
    """(catalog cache hit rate, share of pages that read the catalog from the database, products
    warmed, seconds) of the product pages of `sequence`, from an empty catalog cache."""
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from catalog import cache as catalog_cache
    from catalog.services.popularity import warm_cache

    cache.delete_pattern("*")  # this run's own prefix only (CACHE_KEY_PREFIX)
    warmed = warm_cache(top=warm_top) if warm_top else 0
    before = catalog_cache.stats()
    to_database = 0
    started = time.perf_counter()
    for slug in sequence:
        connection.queries_log.clear()  # its 9,000-entry limit would hide later requests' queries
        with CaptureQueriesContext(connection) as queries:  # each page a new visitor: the first wave
            assert Client(HTTP_USER_AGENT=BROWSER).get(f"/p/{slug}/").status_code == 200
        to_database += any('"catalog_product"' in q["sql"] for q in queries.captured_queries)
    seconds = time.perf_counter() - started
    after = catalog_cache.stats()
    hits, misses = after["hits"] - before["hits"], after["misses"] - before["misses"]
    return hits / (hits + misses), to_database / len(sequence), warmed, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=1_000_000)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--top", type=int, default=1000, help="products warmed (CACHE_WARM_TOP)")
    parser.add_argument("--fresh", action="store_true", help="write products and activity again")
    parser.add_argument("--pages-only", action="store_true", help="skip the ranking runs (scores already there)")
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from catalog.models import Product, ProductActivity
    from catalog.services.popularity import recompute_popularity

    assert connection.vendor == "postgresql", "bench/popularity.py needs DATABASE_URL on PostgreSQL"
    assert "bench" in connection.settings_dict["NAME"], "use a database whose name says bench (its products are replaced)"
    assert os.environ.get("REDIS_URL"), "bench/popularity.py needs REDIS_URL (the warm-up fills Redis)"
    call_command("migrate", "--noinput", verbosity=0)
    if Product.objects.count() < 200:
        call_command("load_demo_catalog", "--products", "200", "--no-images", verbosity=0)
    if args.fresh or Product.objects.filter(sku__startswith="BENCH-").count() != args.products:
        started = time.perf_counter()
        write_products(args.products)
        print(f"wrote {args.products:,} products in {time.perf_counter() - started:.0f} s")
    if args.fresh or ProductActivity.objects.count() != args.rows // DAYS * DAYS:
        started = time.perf_counter()
        write_activity(args.rows, args.products)
        print(f"wrote {args.rows // DAYS * DAYS:,} activity rows in {time.perf_counter() - started:.0f} s")
    rows = ProductActivity.objects.count()
    print(f"\nranking job over {rows:,} activity rows and {Product.objects.count():,} products (PostgreSQL, no warm-up)")
    if not args.pages_only:
        Product.objects.exclude(popularity=0).update(popularity=0)  # every run of the bench starts from the same scores
    for label in () if args.pages_only else ("first run (every score new)", "second run (no new activity)"):
        result = recompute_popularity(warm=False)
        print(f"  {label:30} {result.seconds:6.1f} s  {rows / result.seconds:12,.0f} rows/s  "
              f"{result.scored:,} scored  {result.changed:,} rewritten  peak memory {peak_memory_mb():.0f} MB")  # fmt: skip

    popular = list(Product.objects.filter(is_active=True).order_by("-popularity", "-id").values_list("slug", flat=True)[:100_000])
    sequence = zipf_sequence(popular, args.requests)
    print(f"\n{args.requests:,} product pages, Zipf (s={ZIPF_S}) over the 100,000 most popular, in process, Redis cache")
    for label, top in (("cold cache", 0), (f"after warm_cache --top {args.top}", args.top)):
        rate, to_database, warmed, seconds = page_hit_rate(sequence, warm_top=top)
        print(f"  {label:30} catalog cache hit rate {rate:6.1%}, pages that read the catalog from the database "
              f"{to_database:6.1%}  ({warmed:,} warmed; {args.requests / seconds:,.0f} pages/s)")  # fmt: skip


if __name__ == "__main__":
    main()
