"""Cache-aside for catalog data (not rendered HTML): product blobs and listing pages.

Keys are versioned: a product's blob lives under its slug and the catalog-wide listing
generation; `invalidate_product()` (called on commit by every service that changes a product,
its price or its images) deletes the product's keys and bumps the listing generation, so the
next request refills from the primary. Availability is never cached here: it changes with
every sale and is read separately from inventory.
"""

from __future__ import annotations

import logging

from django.core.cache import cache

logger = logging.getLogger(__name__)

SCHEMA = "v1"  # bump when the shape of a cached blob changes
PRODUCT_TTL = 60 * 60
LISTING_TTL = 5 * 60
GENERATION_KEY = f"catalog:{SCHEMA}:generation"


def product_key(slug: str) -> str:
    return f"catalog:{SCHEMA}:product:{slug}"


def listing_generation() -> int:
    generation = cache.get(GENERATION_KEY)
    if generation is None:
        cache.add(GENERATION_KEY, 1, timeout=None)
        generation = cache.get(GENERATION_KEY) or 1
    return generation


def invalidate_product(*, product_id: int, slugs: list[str]) -> None:
    """Forget a product's cached data (under every slug it had) and every cached listing."""
    cache.delete_many([product_key(slug) for slug in slugs])
    try:
        cache.incr(GENERATION_KEY)
    except ValueError:  # not set yet (or evicted): the next reader starts a new generation
        cache.add(GENERATION_KEY, 1, timeout=None)
    logger.debug("catalog cache invalidated for product %s", product_id)
