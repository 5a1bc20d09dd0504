"""manage.py import_products FILE.csv [--dry-run]: create or update products by SKU from a CSV file."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog import services
from catalog.product_csv import MAX_LINE_CHARACTERS, CsvFormatError


class Command(BaseCommand):
    help = (
        "Create or update products by SKU from a CSV file (docs/catalog.md; example: docs/examples/products.csv), "
        "in batches. A bad row is reported (row, column, reason) and skipped; the good rows are imported."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="The CSV file (UTF-8, with or without a BOM; any line endings).")
        parser.add_argument("--dry-run", action="store_true", help="Check every row and report; write nothing.")
        parser.add_argument("--batch-size", type=int, default=services.IMPORT_BATCH_SIZE)
        parser.add_argument("--max-line-length", type=int, default=MAX_LINE_CHARACTERS,
                            help="Refuse (as that row's error) a line longer than this many characters.")  # fmt: skip

    def handle(self, *args, file: str, dry_run: bool, batch_size: int, max_line_length: int, **options) -> None:
        if batch_size < 1 or max_line_length < 1:
            raise CommandError("--batch-size and --max-line-length must be at least 1.")
        try:
            stream = open(file, encoding="utf-8-sig", newline="")  # noqa: SIM115 (closed below)
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}.") from exc
        started = time.perf_counter()
        with stream:
            try:
                rows, total = services.import_product_file(
                    stream=stream, dry_run=dry_run, batch_size=batch_size, max_line_characters=max_line_length,
                    on_batch=self._print_errors,
                )  # fmt: skip
            except CsvFormatError as exc:
                raise CommandError(str(exc)) from exc
        elapsed = time.perf_counter() - started
        self.stdout.write(
            f"{'Dry run, nothing written: ' if dry_run else ''}{rows} rows: {total.created} created, "
            f"{total.updated} updated, {total.unchanged} unchanged, {len(total.errors)} refused "
            f"({rows / elapsed if elapsed else 0:.0f} rows/s)."
        )
        if total.errors:
            raise CommandError(f"{len(total.errors)} row(s) refused (listed above); the other rows were "
                               f"{'checked' if dry_run else 'imported'}.", returncode=1)  # fmt: skip

    def _print_errors(self, rows: int, total: services.ImportResult, errors: list[services.RowError]) -> None:
        for error in errors:
            self.stderr.write(str(error))
