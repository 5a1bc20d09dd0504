"""manage.py import_products FILE.csv [--dry-run]: create or update products by SKU from a CSV file."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog import services
from catalog.product_csv import MAX_LINE_CHARACTERS, CsvFormatError, read_records


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
        total, rows = services.ImportResult(), 0
        seen_skus: dict[str, int] = {}  # across batches: a SKU met again is refused
        batch: list[services.ImportRow] = []
        unreadable: list[services.RowError] = []
        with stream:
            try:
                for record in read_records(stream, max_line_characters=max_line_length):
                    rows += 1
                    if record.error is not None:
                        column, reason = record.error
                        unreadable.append(services.RowError(row=record.number, problems=((column or "row", reason),)))
                    else:
                        batch.append(services.ImportRow(number=record.number, values=record.values))
                    if len(batch) >= batch_size:
                        self._import(batch, unreadable, total, dry_run=dry_run, seen_skus=seen_skus)
                        batch, unreadable = [], []
            except CsvFormatError as exc:
                raise CommandError(str(exc)) from exc
            self._import(batch, unreadable, total, dry_run=dry_run, seen_skus=seen_skus)
        elapsed = time.perf_counter() - started
        self.stdout.write(
            f"{'Dry run, nothing written: ' if dry_run else ''}{rows} rows: {total.created} created, "
            f"{total.updated} updated, {total.unchanged} unchanged, {len(total.errors)} refused "
            f"({rows / elapsed if elapsed else 0:.0f} rows/s)."
        )
        if total.errors:
            raise CommandError(f"{len(total.errors)} row(s) refused (listed above); the other rows were "
                               f"{'checked' if dry_run else 'imported'}.", returncode=1)  # fmt: skip

    def _import(self, batch, unreadable, total, *, dry_run: bool, seen_skus: dict[str, int]) -> None:
        result = services.ImportResult(errors=list(unreadable))
        if batch:
            result.add(services.import_product_rows(rows=batch, dry_run=dry_run, seen_skus=seen_skus))
        for error in sorted(result.errors, key=lambda e: e.row):
            self.stderr.write(str(error))
        total.add(result)
