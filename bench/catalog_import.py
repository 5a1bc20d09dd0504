"""CSV import and export at catalog scale: 100,000 products on PostgreSQL through manage.py.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/shop_bench_import REDIS_URL=redis://127.0.0.1:6379/7 \\
        .venv/bin/python bench/catalog_import.py [--products 100000] [--fresh] [--batch-size 500]

1. Creates the database if it is missing (`--fresh` drops and recreates it first: only a database
   whose name starts with "shop_bench"), migrates, and makes the demo category tree and brands
   (`load_demo_catalog --products 0`).
2. Writes a seeded CSV of N products (every column filled: descriptions, was prices on a fifth,
   attributes as JSON) under new SKUs, so each run imports new products.
3. `import_products FILE`: products/s for creating them, search vectors and cache invalidation
   included (index tasks run in-process after each batch commits, as with eager Celery).
4. The same file again: rows/s for a re-import that changes nothing.
5. `export_products --output FILE`: products/s for streaming the whole catalog out.

Only 127.0.0.1 is contacted; every step is bounded by the file's size.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import sys
import tempfile
import time
from pathlib import Path

from harness import bench_environment, ensure_database, manage

COLUMNS = ["sku", "slug", "title", "description", "price", "compare_at_price", "category", "brand", "attributes",
           "is_active"]  # fmt: skip  (catalog.product_csv.COLUMNS; the bench does not import Django)
# A few demo leaves with their brands (catalog/services/demo.py makes them).
LEAVES = {
    "electronics-phones": ("Smartphone", ["voltline", "northwind", "lumen", "arcadia"], {"colour": ["Black", "Blue"]}),
    "home-kitchen-lighting": ("Desk Lamp", ["hearth-co", "oakhaven", "brightside"], {"bulb": ["LED", "Halogen"]}),
    "fashion-shoes": ("Running Shoe", ["trailmark", "urban-fox", "seabird"], {"size": ["40", "42", "44"]}),
    "books-fiction": ("Novel", ["penrose-press", "blue-owl-books"], {"format": ["Hardcover", "Paperback"]}),
    "toys-games-puzzles": ("Jigsaw Puzzle", ["playwise", "funfair"], {"pieces": ["500", "1000"]}),
}
ADJECTIVES = ["Classic", "Compact", "Deluxe", "Eco", "Essential", "Lightweight", "Premium", "Pro", "Smart", "Urban"]


def write_catalog_csv(path: Path, *, products: int, run: str, seed: int = 17) -> None:
    rng = random.Random(seed)  # noqa: S311 (a fixed, repeatable catalog, not a secret)
    leaves = list(LEAVES.items())
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        for n in range(products):
            slug, (noun, brands, attributes) = leaves[n % len(leaves)]
            price = rng.randrange(500, 200_000) / 100
            was = f"{price * 1.25:.2f}" if n % 5 == 0 else ""
            title = f"{rng.choice(ADJECTIVES)} {noun} {run}-{n}"
            chosen = {name: rng.choice(values) for name, values in attributes.items()}
            writer.writerow([f"BENCH-{run}-{n:07d}", "", title, f"The {title.lower()}, made to last.", f"{price:.2f}",
                             was, slug, rng.choice(brands), json.dumps(chosen), "true"])  # fmt: skip


def timed(env: dict, *args: str) -> tuple[float, str]:
    started = time.perf_counter()
    out = manage(env, *args)
    return time.perf_counter() - started, out


def rate(out: str) -> str:
    """The rate a command printed about itself ("(1234 rows/s)")."""
    found = re.search(r"\((\d+) (?:rows|products)/s", out)
    return f"{int(found.group(1)):,}" if found else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--fresh", action="store_true", help="drop and recreate the shop_bench* database first")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        sys.exit("bench/catalog_import.py measures PostgreSQL: set DATABASE_URL=postgres://.../shop_bench_import")
    ensure_database(url, fresh=args.fresh)
    env = bench_environment(CACHE_KEY_PREFIX=f"bench{os.getpid()}")
    env.pop("CELERY_BROKER_URL", None)  # index tasks run in-process, after each batch commits
    env.pop("ELASTICSEARCH_URL", None)
    manage(env, "migrate", "--noinput", "-v0")
    manage(env, "load_demo_catalog", "--products", "0", "--no-images")
    with tempfile.TemporaryDirectory(prefix="shop-bench-import-") as folder:
        source, exported = Path(folder) / "products.csv", Path(folder) / "export.csv"
        run = f"{int(time.time())}"  # new SKUs each run: every run measures creation
        write_catalog_csv(source, products=args.products, run=run)
        print(f"CSV of {args.products} products: {source.stat().st_size / 1e6:.1f} MB")

        seconds, out = timed(env, "import_products", str(source), "--batch-size", str(args.batch_size))
        created = int(re.search(r"(\d+) created", out).group(1))
        print(f"import (create):       {created} products in {seconds:.1f} s = {created / seconds:,.0f} products/s "
              f"(inside the command: {rate(out)} rows/s)")  # fmt: skip
        seconds, out = timed(env, "import_products", str(source), "--batch-size", str(args.batch_size))
        unchanged = int(re.search(r"(\d+) unchanged", out).group(1))
        print(f"re-import (no change): {unchanged} rows in {seconds:.1f} s = {unchanged / seconds:,.0f} rows/s "
              f"(inside the command: {rate(out)} rows/s)")  # fmt: skip
        seconds, out = timed(env, "export_products", "--output", str(exported))
        with exported.open(encoding="utf-8", newline="") as lines:
            written = sum(1 for _ in csv.reader(lines)) - 1
        print(f"export:                {written} products in {seconds:.1f} s = {written / seconds:,.0f} products/s "
              f"(inside the command: {rate(out)} products/s; {exported.stat().st_size / 1e6:.1f} MB)")  # fmt: skip
    print("(the first figure of each line includes starting manage.py, about a second)")


if __name__ == "__main__":
    main()
