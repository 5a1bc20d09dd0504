from __future__ import annotations

import sys
import time

from django.core.management.base import BaseCommand, CommandParser
from tqdm import tqdm

from catalog import services
from catalog.services.popularity import recompute_popularity


class Command(BaseCommand):
    help = "Load a demo catalog (categories and N products). Idempotent: run it again to top up."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--products", type=int, default=2000, help="How many demo products (default 2000).")
        parser.add_argument("--batch-size", type=int, default=1000)
        parser.add_argument("--no-images", action="store_true", help="Skip the generated pictures (large loads).")

    def handle(self, *args, products: int, batch_size: int, no_images: bool, **options) -> None:
        if products < 0 or batch_size < 1:
            self.stderr.write("--products must be >= 0 and --batch-size >= 1")
            sys.exit(2)
        # The bar shows on a terminal only, so logs of CI and make stay clean.
        with tqdm(total=products, unit="product", disable=not sys.stderr.isatty(), file=sys.stderr) as bar:
            started = time.perf_counter()
            result = services.load_demo_catalog(
                products=products, batch_size=batch_size, images=not no_images, progress=bar.update
            )
            elapsed = time.perf_counter() - started
        history = services.load_demo_activity()
        if history:  # a new shop: the ranking job turns the history into popularity
            ranking = recompute_popularity(warm=False)
            self.stdout.write(f"Demo activity: {history:,} daily rows over the last 30 days; {ranking.as_line()}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo catalog: {result.products_created} products created, "
                f"{result.products_total} demo products in all, {result.categories_created} categories created "
                f"({result.products_created / elapsed if elapsed else 0:.0f} products/s)."
            )
        )
