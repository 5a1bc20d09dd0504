"""Creating and updating products by SKU in batches, set-based (the CSV import behind
`manage.py import_products`).

A batch costs a fixed number of queries whatever its size: the categories and brands it names
that earlier batches of the file did not (none once all were met), on PostgreSQL a share lock on
the ones it names, its existing products (locked, in id order), the slugs it wants, one bulk
INSERT, one bulk UPDATE; then, on commit, ONE cache invalidation and its search index task (one
per 500 products). A bad row is reported (its row number, each column and reason) and skipped; the good
rows of the batch are written. A row equal to what is stored changes nothing (no new version),
so importing the same file twice changes nothing the second time.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TextIO

import psycopg
from django.db import connections, transaction
from django.utils import timezone

from catalog import selectors
from catalog.models import Product
from catalog.product_csv import MAX_LINE_CHARACTERS, read_records
from catalog.search.postgres import document_vector_sql
from catalog.services.product_values import Lookups, changed_values, clean_product_values
from catalog.services.products import schedule_products_invalidation
from shop.db_router import PRIMARY

IMPORT_BATCH_SIZE = 500  # one search index task per batch (catalog.search.INDEX_TASK_BATCH)


@dataclass(frozen=True)
class ImportRow:
    """One record of an import: its row number (the file's line where it starts) and its cells by column."""

    number: int
    values: dict[str, str]


@dataclass(frozen=True)
class RowError:
    """Why one row was refused: each bad column with its reason."""

    row: int
    problems: tuple[tuple[str, str], ...]

    def __str__(self) -> str:
        return f"row {self.row}: " + "; ".join(f"{column}: {reason}" for column, reason in self.problems)


@dataclass
class ImportResult:
    """What a batch (or, added up, a whole file) did, or would do in a dry run."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)

    def add(self, other: ImportResult) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.errors += other.errors


@dataclass
class ImportSession:
    """What the batches of one file share: the SKUs met so far ({sku: row}, so a SKU met again
    is refused and its first row counts) and the categories and brands already looked up."""

    seen_skus: dict[str, int] = field(default_factory=dict)
    lookups: Lookups | None = None


@dataclass
class _Plan:
    row: ImportRow
    product: Product | None  # None for a new product (no model instance is built for it)
    changed: dict[str, object]  # for a new product: every value given
    previous_slug: str = ""

    @property
    def sku(self) -> str:
        return self.changed["sku"] if self.product is None else self.product.sku

    @property
    def slug(self) -> str:
        return self.changed.get("slug", self.previous_slug)


def import_product_rows(
    *, rows: Sequence[ImportRow], dry_run: bool = False, session: ImportSession | None = None
) -> ImportResult:
    """Create or update the products of one batch by SKU (module docstring).

    One durable transaction that locks the batch's existing products; `dry_run` reads (without
    locks), decides and reports the same, and writes nothing. `session` is kept by the caller
    across the batches of one file (ImportSession). Returns the counts and one RowError per
    refused row.
    """
    session = ImportSession() if session is None else session
    seen_skus = session.seen_skus
    result, first_rows = ImportResult(), []
    for row in rows:
        sku = _sku(row)
        if sku in seen_skus:
            result.errors.append(
                RowError(row=row.number, problems=(("sku", f"Duplicate SKU: row {seen_skus[sku]} has it."),))
            )
            continue
        if sku:
            seen_skus[sku] = row.number
        first_rows.append(row)
    if dry_run:
        _import(first_rows, result, session, write=False)
    else:
        with transaction.atomic(durable=True):
            _import(first_rows, result, session, write=True)
    result.errors.sort(key=lambda error: error.row)
    return result


def import_product_file(
    *,
    stream: TextIO,
    dry_run: bool = False,
    batch_size: int = IMPORT_BATCH_SIZE,
    max_line_characters: int = MAX_LINE_CHARACTERS,
    on_batch: Callable[[int, ImportResult, list[RowError]], None] | None = None,
) -> tuple[int, ImportResult]:
    """Import a whole products CSV (opened as text, newline="") batch by batch: (rows read, totals).

    Each batch is one import_product_rows() call (its own durable transaction), so a failure
    later in the file keeps the batches before it. After each batch, `on_batch(rows read so
    far, totals so far, that batch's errors in row order)` reports progress (the command prints
    the errors; the admin's import job stores them). A SKU met again in a later batch is refused.
    Raises CsvFormatError for a file that cannot be read as a whole (bad header, not UTF-8).
    """
    total, rows = ImportResult(), 0
    session = ImportSession()
    batch: list[ImportRow] = []
    unreadable: list[RowError] = []

    def flush() -> None:
        result = ImportResult(errors=list(unreadable))
        if batch:
            result.add(import_product_rows(rows=batch, dry_run=dry_run, session=session))
        result.errors.sort(key=lambda error: error.row)
        total.add(result)
        if on_batch is not None:
            on_batch(rows, total, result.errors)

    for record in read_records(stream, max_line_characters=max_line_characters):
        rows += 1
        if record.error is not None:
            column, reason = record.error
            unreadable.append(RowError(row=record.number, problems=((column or "row", reason),)))
        else:
            batch.append(ImportRow(number=record.number, values=record.values))
        if len(batch) >= batch_size:
            flush()
            batch, unreadable = [], []
    flush()
    return rows, total


def _sku(row: ImportRow) -> str:
    sku = row.values.get("sku")
    return sku.strip() if isinstance(sku, str) else ""


def _import(rows: Sequence[ImportRow], result: ImportResult, session: ImportSession, *, write: bool) -> None:
    skus = sorted({sku for r in rows if (sku := _sku(r))})
    session.lookups = lookups = Lookups.load((r.values for r in rows), known=session.lookups)
    if write:
        if _on_postgresql():  # before any product lock (selectors.lock_names_shared)
            _lock_names(rows, lookups)
        existing = selectors.lock_products_by_sku(skus=skus)
    else:
        existing = {p.sku: p for p in Product.objects.filter(sku__in=skus)}
    plans: list[_Plan] = []
    for row in rows:
        product = existing.get(_sku(row))
        cleaned, errors = clean_product_values(row.values, lookups=lookups, current=product)
        if errors:
            result.errors.append(_row_error(row, errors))
        elif product is None:
            plans.append(_Plan(row=row, product=None, changed=cleaned))
        elif changed := changed_values(product, cleaned):
            plans.append(_Plan(row=row, product=product, changed=changed, previous_slug=product.slug))
        else:
            result.unchanged += 1
    plans = _refuse_taken_slugs(plans, result)
    new = [p for p in plans if p.product is None]
    updated = [p for p in plans if p.product is not None]
    result.created, result.updated = len(new), len(updated)
    if write and plans:
        _write(new, updated)


def _on_postgresql() -> bool:
    return connections[PRIMARY].vendor == "postgresql"


def _lock_names(rows: Sequence[ImportRow], lookups: Lookups) -> None:
    """Share-lock the categories and brands the batch names (their names go into the vectors
    its INSERT computes)."""
    named = [(r.values.get("category"), r.values.get("brand")) for r in rows]
    selectors.lock_names_shared(
        category_ids=[lookups.category_ids[c] for c, _ in named if c in lookups.category_ids],
        brand_ids=[lookups.brand_ids[b] for _, b in named if b in lookups.brand_ids],
    )


def _row_error(row: ImportRow, errors: dict[str, list[str]]) -> RowError:
    return RowError(row=row.number, problems=tuple((column, " ".join(reasons)) for column, reasons in errors.items()))


def _refuse_taken_slugs(plans: list[_Plan], result: ImportResult) -> list[_Plan]:
    """Drop (and report) the rows whose slug another product holds, or an earlier row of the batch wants."""
    wanted = [p for p in plans if "slug" in p.changed]
    if not wanted:
        return plans
    holders = dict(Product.objects.filter(slug__in=[p.changed["slug"] for p in wanted]).values_list("slug", "sku"))
    claimed: set[str] = set()
    refused: set[int] = set()
    for plan in wanted:
        slug = plan.changed["slug"]
        holder = holders.get(slug)
        if (holder is not None and holder != plan.sku) or slug in claimed:
            refused.add(id(plan))
            result.errors.append(
                RowError(row=plan.row.number, problems=(("slug", f"Another product has the slug {slug!r}."),))
            )
        claimed.add(slug)
    return [p for p in plans if id(p) not in refused]


def _write(new: list[_Plan], updated: list[_Plan]) -> None:
    now = timezone.now()
    for plan in updated:
        for name, value in plan.changed.items():
            setattr(plan.product, name, value)
        plan.product.version += 1  # the rows are locked: no concurrent bump is lost
        plan.product.updated_at = now
    fields = sorted({name for plan in updated for name in plan.changed})
    if _on_postgresql():
        ids = _insert_returning_ids([p.changed for p in new], now=now)
        _update_from_values([p.product for p in updated], fields=fields)
        fresh_vector_ids = ids  # computed by the INSERT, under the share lock on their names
    else:  # the embedded SQLite default: Django's bulk statements (small files, tests)
        created = Product.objects.bulk_create([Product(**p.changed) for p in new], batch_size=IMPORT_BATCH_SIZE)
        ids, fresh_vector_ids = [p.pk for p in created], []
        if updated:
            Product.objects.bulk_update([p.product for p in updated], fields=[*fields, "version", "updated_at"],
                                        batch_size=IMPORT_BATCH_SIZE)  # fmt: skip
    slugs_by_id = {pk: [plan.slug] for pk, plan in zip(ids, new, strict=True)}
    slugs_by_id.update({p.product.pk: [p.previous_slug, p.product.slug] for p in updated})
    schedule_products_invalidation(slugs_by_id=slugs_by_id, fresh_vector_ids=fresh_vector_ids)


# PostgreSQL: one statement per batch over arrays (unnest), whatever the batch size: no per-row
# SQL to compile, no CASE WHEN per column as bulk_update writes. Values were cleaned already and
# the table's CHECK and UNIQUE constraints stay the last line.
_COLUMN_TYPES = {
    "sku": "text", "slug": "text", "title": "text", "description": "text", "price": "numeric",
    "compare_at_price": "numeric", "category_id": "bigint", "brand_id": "bigint", "attributes": "jsonb",
    "is_active": "boolean", "id": "bigint", "version": "bigint", "updated_at": "timestamptz",
}  # fmt: skip
_INSERTED = tuple(_COLUMN_TYPES)[:10]  # the writable columns
_FIELD_COLUMNS = {"category": "category_id", "brand": "brand_id"}


def _bound_cursor():
    """A cursor on the primary that sends parameters apart from the statement (server-side
    binding). Django's default cursor quotes every value into the SQL text: for a batch's arrays
    that is a statement of hundreds of kilobytes to build in Python and parse on the server.
    Statement wrappers (metrics, tracing) still see it, and so does query logging when it is on."""
    connection = connections[PRIMARY]
    connection.ensure_connection()
    cursor = psycopg.Cursor(connection.connection)
    return connection.make_debug_cursor(cursor) if connection.queries_logged else connection.make_cursor(cursor)


# What a new product holds in a column its row does not give (the model's defaults).
_NEW_DEFAULTS = {column: Product._meta.get_field(column).get_default() for column in _INSERTED}


def _column_values(products: Sequence[Product], column: str) -> list:
    if column == "attributes":  # sent as JSON text; unnest cannot take an array of jsonb from psycopg lists
        return [json.dumps(p.attributes, ensure_ascii=False) for p in products]
    return [getattr(p, column) for p in products]


def _new_column_values(values: Sequence[dict[str, object]], column: str) -> list:
    default = _NEW_DEFAULTS[column]
    if column == "attributes":
        return [json.dumps(v.get(column, default), ensure_ascii=False) for v in values]
    return [v.get(column, default) for v in values]


def _unnest(columns: Sequence[str]) -> str:
    # %b: the arrays go in PostgreSQL's binary format (psycopg builds it about 4 times faster than text)
    arrays = ", ".join(f"%b::{'text' if _COLUMN_TYPES[c] == 'jsonb' else _COLUMN_TYPES[c]}[]" for c in columns)
    return f"unnest({arrays}) AS v({', '.join(columns)})"


def _cast(column: str) -> str:
    return f"v.{column}::jsonb" if _COLUMN_TYPES[column] == "jsonb" else f"v.{column}"


def _insert_returning_ids(values: Sequence[dict[str, object]], *, now) -> list[int]:
    """INSERT the new products (their cleaned values) in one statement; their ids, in the given
    order (matched by SKU)."""
    if not values:
        return []
    vector_sql, vector_params = document_vector_sql(using=PRIMARY)
    columns = ", ".join(_INSERTED)
    sql = (
        f"INSERT INTO catalog_product ({columns}, popularity, created_at, updated_at, version, search_vector) "  # noqa: S608 (constant SQL)
        f"SELECT {columns}, 0, %s, %s, 1, {vector_sql} "
        f"FROM (SELECT {', '.join(_cast(c) + ' AS ' + c for c in _INSERTED)} FROM {_unnest(_INSERTED)}) "
        '"catalog_product" RETURNING sku, id'  # the vector's SQL reads the row under the table's name
    )
    params = [now, now, *vector_params, *(_new_column_values(values, c) for c in _INSERTED)]
    with _bound_cursor() as cursor:
        cursor.execute(sql, params)
        id_by_sku = dict(cursor.fetchall())
    return [id_by_sku[v["sku"]] for v in values]


def _update_from_values(products: Sequence[Product], *, fields: Sequence[str]) -> None:
    """UPDATE the changed products in one statement: the given fields (each row's value, changed or
    not: the rows are locked, so an unchanged one is what it holds), a raised version, updated_at."""
    if not products:
        return
    columns = [_FIELD_COLUMNS.get(name, name) for name in fields]
    assignments = ", ".join(f"{c} = {_cast(c)}" for c in columns)
    sql = (
        f"UPDATE catalog_product p SET {assignments}{', ' if assignments else ''}"  # noqa: S608 (constant SQL)
        f"version = v.version, updated_at = v.updated_at "
        f"FROM {_unnest(('id', *columns, 'version', 'updated_at'))} WHERE p.id = v.id"
    )
    params = [[p.pk for p in products], *(_column_values(products, c) for c in columns),
              [p.version for p in products], [p.updated_at for p in products]]  # fmt: skip
    with _bound_cursor() as cursor:
        cursor.execute(sql, params)
