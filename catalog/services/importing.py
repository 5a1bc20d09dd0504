"""Creating and updating products by SKU in batches, set-based (the CSV import behind
`manage.py import_products`).

A batch costs a fixed number of queries whatever its size: the categories and brands it names,
its existing products (locked, in id order), the slugs it wants, one bulk INSERT, one bulk
UPDATE; then, on commit, ONE cache invalidation and its search index task (one per 500
products). A bad row is reported (its row number, each column and reason) and skipped; the good
rows of the batch are written. A row equal to what is stored changes nothing (no new version),
so importing the same file twice changes nothing the second time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from catalog import selectors
from catalog.models import Product
from catalog.services.product_values import Lookups, changed_values, clean_product_values
from catalog.services.products import schedule_products_invalidation

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
class _Plan:
    row: ImportRow
    product: Product
    changed: dict[str, object]  # for a new product: every value
    previous_slug: str = ""


def import_product_rows(
    *, rows: Sequence[ImportRow], dry_run: bool = False, seen_skus: dict[str, int] | None = None
) -> ImportResult:
    """Create or update the products of one batch by SKU (module docstring).

    One durable transaction that locks the batch's existing products; `dry_run` reads (without
    locks), decides and reports the same, and writes nothing. `seen_skus` ({sku: row}, kept by
    the caller across the batches of one file) refuses a SKU met again: its first row counts.
    Returns the counts and one RowError per refused row.
    """
    seen_skus = {} if seen_skus is None else seen_skus
    result, first_rows = ImportResult(), []
    for row in rows:
        sku = _sku(row)
        if sku in seen_skus:
            result.errors.append(RowError(row=row.number, problems=(("sku", f"Duplicate SKU: row {seen_skus[sku]} has it."),)))
            continue
        if sku:
            seen_skus[sku] = row.number
        first_rows.append(row)
    if dry_run:
        _import(first_rows, result, write=False)
    else:
        with transaction.atomic(durable=True):
            _import(first_rows, result, write=True)
    result.errors.sort(key=lambda error: error.row)
    return result


def _sku(row: ImportRow) -> str:
    sku = row.values.get("sku")
    return sku.strip() if isinstance(sku, str) else ""


def _import(rows: Sequence[ImportRow], result: ImportResult, *, write: bool) -> None:
    skus = sorted({sku for r in rows if (sku := _sku(r))})
    if write:
        existing = selectors.lock_products_by_sku(skus=skus)
    else:
        existing = {p.sku: p for p in Product.objects.filter(sku__in=skus)}
    lookups = Lookups.load(r.values for r in rows)
    plans: list[_Plan] = []
    for row in rows:
        product = existing.get(_sku(row))
        cleaned, errors = clean_product_values(row.values, lookups=lookups, current=product)
        if errors:
            result.errors.append(_row_error(row, errors))
        elif product is None:
            plans.append(_Plan(row=row, product=Product(**cleaned), changed=cleaned))
        elif changed := changed_values(product, cleaned):
            plans.append(_Plan(row=row, product=product, changed=changed, previous_slug=product.slug))
        else:
            result.unchanged += 1
    plans = _refuse_taken_slugs(plans, result)
    new = [p for p in plans if p.product.pk is None]
    updated = [p for p in plans if p.product.pk is not None]
    result.created, result.updated = len(new), len(updated)
    if write and plans:
        _write(new, updated)


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
        if (holder is not None and holder != plan.product.sku) or slug in claimed:
            refused.add(id(plan))
            result.errors.append(RowError(row=plan.row.number, problems=(("slug", f"Another product has the slug {slug!r}."),)))
        claimed.add(slug)
    return [p for p in plans if id(p) not in refused]


def _write(new: list[_Plan], updated: list[_Plan]) -> None:
    created = Product.objects.bulk_create([p.product for p in new], batch_size=IMPORT_BATCH_SIZE)
    now = timezone.now()
    fields: set[str] = set()
    for plan in updated:
        for name, value in plan.changed.items():
            setattr(plan.product, name, value)
        fields.update(plan.changed)
        plan.product.version += 1  # the rows are locked: no concurrent bump is lost
        plan.product.updated_at = now
    if updated:
        Product.objects.bulk_update(
            [p.product for p in updated], fields=[*sorted(fields), "version", "updated_at"], batch_size=IMPORT_BATCH_SIZE
        )
    slugs_by_id = {p.pk: [p.slug] for p in created}
    slugs_by_id.update({p.product.pk: [p.previous_slug, p.product.slug] for p in updated})
    schedule_products_invalidation(slugs_by_id=slugs_by_id)
