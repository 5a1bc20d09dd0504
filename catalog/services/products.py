"""Writes to products as a whole: bulk (de)activation and moves between categories, cache upkeep."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from functools import partial

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from catalog import search
from catalog.cache import invalidate_product, invalidate_products
from catalog.models import Category, Product
from catalog.selectors import CategoryNotFound


def schedule_product_invalidation(*, product_id: int, slugs: Iterable[str], bump: bool = True) -> None:
    """Raise the product's version (`bump`: unless the caller's UPDATE did), and on commit of the
    caller's transaction move its cached data (under each slug) to that version and send its
    search index update to a worker. Every service that changes what customers see calls it.

    Not durable: the admin's save hooks call it inside the change form's transaction, services
    inside their own. Outside any transaction it runs at once (Django's on_commit rule).
    """
    if bump:
        Product.objects.filter(pk=product_id).update(version=F("version") + 1)
    unique_slugs = sorted({slug for slug in slugs if slug})
    transaction.on_commit(partial(invalidate_product, product_id=product_id, slugs=unique_slugs))
    search.schedule_index(product_ids=[product_id])  # after the invalidation: the index reads fresh cards


@transaction.atomic(durable=True)
def set_products_active(*, product_ids: Iterable[int], active: bool) -> int:
    """Show (active=True) or hide the given products; returns how many changed.

    One durable transaction, one UPDATE; products already in that state are left alone, and
    each changed product's cache is invalidated on commit. Idempotent.
    """
    changing = Product.objects.filter(pk__in=list(product_ids)).exclude(is_active=active)
    return _update_and_invalidate(changing, is_active=active)


@transaction.atomic(durable=True)
def move_products_to_category(*, product_ids: Iterable[int], category_id: int) -> int:
    """Put the given products in one category; returns how many moved.

    One durable transaction, one UPDATE; each moved product's cache is invalidated on commit.
    Idempotent. Raises CategoryNotFound.
    """
    if not Category.objects.filter(pk=category_id).exists():
        raise CategoryNotFound()
    changing = Product.objects.filter(pk__in=list(product_ids)).exclude(category_id=category_id)
    return _update_and_invalidate(changing, category_id=category_id)


def _update_and_invalidate(changing, **values) -> int:
    # Read the ids and slugs first; the UPDATE is restricted to those ids and repeats the
    # "not yet changed" filter, so a concurrent writer can only make it change fewer rows,
    # and invalidating a product that did not change after all costs nothing but a refill.
    slug_by_id = dict(changing.values_list("pk", "slug"))
    if not slug_by_id:
        return 0
    changed = changing.filter(pk__in=slug_by_id).update(**values, version=F("version") + 1, updated_at=timezone.now())
    for product_id, slug in slug_by_id.items():
        schedule_product_invalidation(product_id=product_id, slugs=[slug], bump=False)
    return changed


def refresh_products_named_after(*, brand_id: int | None = None, category_id: int | None = None) -> int:
    """A brand or category renamed: its name is on its products' cards and pages, so raise their
    versions (one UPDATE) and, on commit, move their cached data and re-index them. Not durable
    (the admin's save hook runs it in the change form's transaction); returns how many."""
    products = Product.objects.filter(brand_id=brand_id) if brand_id is not None else Product.objects.filter(
        category_id=category_id
    )
    slug_by_id = dict(products.values_list("pk", "slug"))
    if not slug_by_id:
        return 0
    Product.objects.filter(pk__in=slug_by_id).update(version=F("version") + 1)
    schedule_products_invalidation(slugs_by_id={pk: [slug] for pk, slug in slug_by_id.items()})
    return len(slug_by_id)


def schedule_products_invalidation(
    *, slugs_by_id: dict[int, list[str]], fresh_vector_ids: Collection[int] = ()
) -> None:
    """Many products changed by one set-based write that raised their versions itself: on commit of
    the caller's transaction, ONE cache invalidation for all of them (one new listing generation),
    and their search index updates (one task per 500 products; `fresh_vector_ids`: see
    catalog.search.index). Not durable."""
    if not slugs_by_id:
        return
    unique = {pk: sorted({slug for slug in slugs if slug}) for pk, slugs in slugs_by_id.items()}
    transaction.on_commit(partial(invalidate_products, unique))
    search.schedule_index(product_ids=list(unique), fresh_vector_ids=fresh_vector_ids)
