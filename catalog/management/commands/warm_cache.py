"""python manage.py warm_cache [--top N]: fill the most popular products' pages and cards into the cache."""

from __future__ import annotations

import sys

from django.conf import settings
from django.core.management.base import BaseCommand

from catalog import cache as catalog_cache
from catalog.services.popularity import warm_cache


class Command(BaseCommand):
    help = "Fill the product pages and cards of the N most popular products into the cache, from the primary."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--top", type=int, default=settings.CACHE_WARM_TOP,
                            help=f"How many products (default {settings.CACHE_WARM_TOP}).")  # fmt: skip

    def handle(self, *args, **options) -> None:
        if options["top"] < 1:
            self.stderr.write("--top: give 1 or more.")
            sys.exit(2)
        terminal = self.stdout.isatty()

        def progress(done: int, total: int) -> None:
            if terminal:
                filled = int(30 * done / total) if total else 30
                self.stdout.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {done:,}/{total:,}", ending="")
                self.stdout.flush()

        warmed = warm_cache(top=options["top"], progress=progress)
        if terminal:
            self.stdout.write("")
        stats = catalog_cache.stats()
        rate = "n/a" if stats["hit_rate"] is None else f"{stats['hit_rate']:.1%}"
        self.stdout.write(f"warmed {warmed:,} products; catalog cache hit rate so far {rate}")
