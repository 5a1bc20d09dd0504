"""manage.py export_products [--output FILE]: the whole catalog as a products CSV, streamed."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog import selectors
from catalog.product_csv import write_products


class Command(BaseCommand):
    help = "Write every product as CSV (the import's format) to stdout or --output, streamed: any catalog size."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", "-o", help="A file to write (default: standard output).")

    def handle(self, *args, output: str | None, **options) -> None:
        started = time.perf_counter()
        if output:
            try:
                with open(output, "w", encoding="utf-8", newline="") as out:
                    written = write_products(selectors.iter_products_for_export(), out)
            except OSError as exc:
                raise CommandError(f"Cannot write {output}: {exc.strerror}.") from exc
        else:
            written = write_products(selectors.iter_products_for_export(), self.stdout)
        elapsed = time.perf_counter() - started
        summary = f"{written} products exported ({written / elapsed if elapsed else 0:.0f} products/s)."
        (self.stdout if output else self.stderr).write(summary)  # without --output, stdout is the CSV
