""""Customers also bought": the stored lists, replaced set-based one range of products at a time.

The catalog does not compute them (it may not read orders): orders.services.compute_recommendations
does, and hands each batch here as plain rows. docs/catalog.md#customers-also-bought.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial

from django.db import transaction
from django.db.models import Q

from catalog.cache import invalidate_recommendations
from catalog.models import ProductRecommendation
from catalog.selectors import product_slugs

WRITE_CHUNK = 1000  # rows per INSERT and ids per DELETE ... IN (SQLite's variable limit stays far)

Row = tuple[int, int, float, int]  # (product_id, recommended_id, score, rank)


@transaction.atomic(durable=True)
def replace_recommendations(*, after_product_id: int, up_to_product_id: int | None, rows: Iterable[Row]) -> int:
    """Make `rows` the stored recommendations of every product whose id is above `after_product_id`
    and at most `up_to_product_id` (None: no upper bound): a product of the range without rows has
    none afterwards. Returns how many products' lists changed.

    One durable transaction: one read of the range's stored rows, then one DELETE and bulk INSERTs
    for the products whose list (recommended, rank, score) differs; products whose list is the
    same are not written, so a rerun over the same orders writes nothing. On commit the changed
    products' cached recommended ids are dropped (one DEL). Rows must name products of the range.
    """
    in_range = Q(product_id__gt=after_product_id)
    if up_to_product_id is not None:
        in_range &= Q(product_id__lte=up_to_product_id)
    wanted = _lists(rows)
    if any(not _within(pk, after_product_id, up_to_product_id) for pk in wanted):
        raise ValueError("replace_recommendations: a row names a product outside the range")
    stored = _lists(
        ProductRecommendation.objects.filter(in_range).order_by("product_id", "rank")
        .values_list("product_id", "recommended_id", "score", "rank")
    )  # fmt: skip
    changed = sorted(pk for pk in stored.keys() | wanted.keys() if stored.get(pk) != wanted.get(pk))
    for start in range(0, len(changed), WRITE_CHUNK):
        ProductRecommendation.objects.filter(product_id__in=changed[start : start + WRITE_CHUNK]).delete()
    ProductRecommendation.objects.bulk_create(
        [
            ProductRecommendation(product_id=pk, recommended_id=recommended, score=score, rank=rank)
            for pk in changed
            for recommended, rank, score in wanted.get(pk, ())
        ],
        batch_size=WRITE_CHUNK,
    )
    if changed:
        slugs = list(product_slugs(product_ids=changed).values())
        transaction.on_commit(partial(invalidate_recommendations, slugs=slugs))
    return len(changed)


def _lists(rows: Iterable[Row]) -> dict[int, list[tuple[int, int, float]]]:
    lists: dict[int, list[tuple[int, int, float]]] = {}
    for product_id, recommended_id, score, rank in rows:
        lists.setdefault(product_id, []).append((recommended_id, rank, float(score)))
    return {pk: sorted(entries, key=lambda entry: entry[1]) for pk, entries in lists.items()}


def _within(product_id: int, after: int, up_to: int | None) -> bool:
    return product_id > after and (up_to is None or product_id <= up_to)
