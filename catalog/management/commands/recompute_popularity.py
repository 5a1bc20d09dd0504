"""python manage.py recompute_popularity: the ranking job now (the beat task runs it hourly)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from catalog import cache as catalog_cache
from catalog.services.popularity import recompute_popularity


class Command(BaseCommand):
    help = ("Flush pending activity, score every product from the activity of the last POPULARITY_WINDOW_DAYS, "
            "rewrite the scores that changed, and warm the cache for the most popular products.")  # fmt: skip

    def add_arguments(self, parser) -> None:
        parser.add_argument("--no-warm", action="store_true", help="Do not warm the cache afterwards.")

    def handle(self, *args, **options) -> None:
        result = recompute_popularity(warm=not options["no_warm"])
        self.stdout.write(result.as_line())
        stats = catalog_cache.stats()
        rate = "n/a" if stats["hit_rate"] is None else f"{stats['hit_rate']:.1%}"
        self.stdout.write(f"catalog cache: {stats['hits']:,} hits, {stats['misses']:,} misses, hit rate {rate}")
