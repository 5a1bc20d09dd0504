"""The products CSV format (docs/catalog.md, docs/examples/products.csv): reading and writing it.

Reading is bounded and forgiving of the usual exports: UTF-8 with or without a BOM, Windows or
Unix line endings, quoted cells over several lines. A line longer than the limit is never held
in memory whole: it is skipped in chunks and reported as that row's error. The header must name
every required column and no unknown one (a typo would otherwise silently drop a column); the
optional columns it leaves out are left alone on update.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import IO, TextIO

from catalog.services.product_values import REQUIRED_ON_CREATE, WRITABLE_FIELDS

COLUMNS = WRITABLE_FIELDS  # the export writes them all, in this order
REQUIRED_COLUMNS = REQUIRED_ON_CREATE
MAX_LINE_CHARACTERS = 1_000_000  # a description of a few pages fits many times over


class CsvFormatError(Exception):
    """The file as a whole cannot be read (a missing column, not UTF-8): nothing is imported."""


@dataclass(frozen=True)
class CsvRecord:
    """One row of the file: where it starts, and its cells by column; or why it was refused."""

    number: int
    values: dict[str, str]
    error: tuple[str, str] | None = None  # (column, reason) when the row could not be read


class _BoundedLines:
    """The file's lines for csv.reader, each at most `limit` characters; a longer one is read
    past in chunks (never whole) and its line number noted in `too_long`."""

    def __init__(self, stream: TextIO, limit: int) -> None:
        self.stream, self.limit = stream, limit
        self.line = 0  # number of the last line read
        self.taken: list[int] = []  # the lines handed to csv since the caller last cleared it
        self.too_long: list[int] = []

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        while True:
            text = self.stream.readline(self.limit + 1)
            if not text:
                raise StopIteration
            self.line += 1
            if len(text) <= self.limit or text.endswith(("\n", "\r")):
                self.taken.append(self.line)
                return text
            while text and not text.endswith(("\n", "\r")):  # skip the rest of the line
                text = self.stream.readline(self.limit)
            self.too_long.append(self.line)


def read_records(stream: TextIO, *, max_line_characters: int = MAX_LINE_CHARACTERS) -> Iterator[CsvRecord]:
    """The rows of a products CSV opened as text with newline="" (the header is row 1; a row's
    number is the line it starts on). Raises CsvFormatError for a bad header or a file that is not UTF-8."""
    lines = _BoundedLines(stream, max_line_characters)
    csv.field_size_limit(max(max_line_characters, csv.field_size_limit()))
    reader = csv.reader(lines, strict=True)
    try:
        header = [name.strip().lstrip("\ufeff").lower() for name in next(reader, [])]
        _check_header(header)
        while True:
            lines.taken.clear()
            cells, failure = None, None
            try:
                cells = next(reader)
            except StopIteration:
                pass
            except csv.Error as exc:
                failure = CsvRecord(number=lines.taken[0] if lines.taken else lines.line, values={},
                                    error=("", f"Not valid CSV: {exc}."))  # fmt: skip
            for number in lines.too_long:  # skipped before this row's lines were read
                yield CsvRecord(number=number, values={},
                                error=("", f"The line is longer than {max_line_characters} characters."))  # fmt: skip
            lines.too_long.clear()
            if failure is not None:
                yield failure
                continue
            if cells is None:
                break
            if not any(cell.strip() for cell in cells):
                continue  # a blank line
            number = lines.taken[0]
            if len(cells) != len(header):
                yield CsvRecord(number=number, values={},
                                error=("", f"{len(cells)} cells where the header has {len(header)} columns."))  # fmt: skip
                continue
            yield CsvRecord(number=number, values=dict(zip(header, cells, strict=True)))
    except UnicodeDecodeError as exc:
        raise CsvFormatError(f"The file is not UTF-8 (near line {lines.line + 1}): {exc.reason}.") from None


def _check_header(header: list[str]) -> None:
    if not header:
        raise CsvFormatError("The file is empty: the first line must name the columns.")
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    unknown = [c for c in header if c not in COLUMNS]
    repeated = sorted({c for c in header if header.count(c) > 1})
    problems = []
    if missing:
        problems.append(f"missing column(s): {', '.join(missing)}")
    if unknown:
        problems.append(f"unknown column(s): {', '.join(unknown)} (the columns are: {', '.join(COLUMNS)})")
    if repeated:
        problems.append(f"repeated column(s): {', '.join(repeated)}")
    if problems:
        raise CsvFormatError("The header is not valid: " + "; ".join(problems) + ".")


def write_products(rows: Iterable[tuple], out: IO[str]) -> int:
    """Write the header and one line per product (tuples in COLUMNS order, as the export
    selector yields them, category and brand as slugs); returns how many products."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    written = 0
    for row in rows:
        writer.writerow(_cell(name, value) for name, value in zip(COLUMNS, row, strict=True))
        written += 1
    return written


def _cell(name: str, value: object) -> str:
    if value is None:
        return ""
    if name == "attributes":
        return json.dumps(value, ensure_ascii=False, sort_keys=True) if value else ""
    if name == "is_active":
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return str(value)
