from __future__ import annotations

import sys
import time

from django.core.management.base import BaseCommand, CommandParser
from tqdm import tqdm

from catalog import search
from catalog.models import Product


class Command(BaseCommand):
    help = (
        "Rebuild the search index from the products. Elasticsearch: fill a new index, then point the "
        "alias at it only when it is complete (the old one serves until then). PostgreSQL: recompute "
        "every stored search vector, then the 'did you mean' lexicon. Safe to run while the shop serves."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=2000)

    def handle(self, *args, batch_size: int, **options) -> None:
        if batch_size < 1:
            self.stderr.write("--batch-size must be >= 1")
            sys.exit(2)
        backend = search.get_backend()
        total = Product.objects.count()
        with tqdm(total=total, unit="product", disable=not sys.stderr.isatty(), file=sys.stderr) as bar:
            started = time.perf_counter()
            done = backend.rebuild(batch_size=batch_size, progress=lambda n: bar.update(n - bar.n))
            elapsed = time.perf_counter() - started
        self.stdout.write(
            self.style.SUCCESS(f"Search index ({backend.name}) rebuilt: {done} products in {elapsed:.1f} s.")
        )
