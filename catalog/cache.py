"""Cache-aside for catalog data (never rendered HTML): product blobs, product cards, listings.

Keys are versioned. A product's page blob lives under its slug, its card under its id, and
listing results under the catalog-wide listing generation; `invalidate_product()` (run on
commit by every service that changes a product, its price or its images) deletes the product's
keys and bumps the generation, so the next request refills from the primary. Availability is
never cached here: it changes with every sale and is read separately (inventory selectors).
Every lookup counts a hit or a miss (`stats()`), so the hit rate can be read. With Redis down
django-redis ignores the errors: every lookup is a miss and pages render from the database.
"""

from __future__ import annotations

import logging

from django.core.cache import cache

logger = logging.getLogger(__name__)

SCHEMA = "v1"  # bump when the shape of a cached blob changes
PRODUCT_TTL = 60 * 60
LISTING_TTL = 5 * 60
GENERATION_KEY = f"catalog:{SCHEMA}:generation"
HITS_KEY = f"catalog:{SCHEMA}:stats:hits"
MISSES_KEY = f"catalog:{SCHEMA}:stats:misses"


def product_key(slug: str) -> str:
    return f"catalog:{SCHEMA}:product:{slug}"


def card_key(product_id: int) -> str:
    return f"catalog:{SCHEMA}:card:{product_id}"


def listing_key(name: str, digest: str) -> str:
    return f"catalog:{SCHEMA}:{name}:{listing_generation()}:{digest}"


def listing_generation() -> int:
    generation = cache.get(GENERATION_KEY)
    if generation is None:
        cache.add(GENERATION_KEY, 1, timeout=None)
        generation = cache.get(GENERATION_KEY) or 1
    return generation


def count(*, hits: int = 0, misses: int = 0) -> None:
    for key, amount in ((HITS_KEY, hits), (MISSES_KEY, misses)):
        if amount:
            try:
                cache.incr(key, amount)
            except ValueError:  # first count (or evicted)
                cache.add(key, amount, timeout=None)


def stats() -> dict:
    hits, misses = cache.get(HITS_KEY) or 0, cache.get(MISSES_KEY) or 0
    total = hits + misses
    return {"hits": hits, "misses": misses, "hit_rate": round(hits / total, 4) if total else None}


def get_or_fill(key: str, fill, timeout: int):
    """The cached value, or fill() stored for `timeout` seconds; counts the hit or miss."""
    value = cache.get(key)
    if value is not None:
        count(hits=1)
        return value
    count(misses=1)
    value = fill()
    if value is not None:
        cache.set(key, value, timeout)
    return value


def invalidate_product(*, product_id: int, slugs: list[str]) -> None:
    """Forget a product's cached data (under every slug it had) and every cached listing."""
    cache.delete_many([card_key(product_id), *(product_key(slug) for slug in slugs)])
    invalidate_listings()
    logger.debug("catalog cache invalidated for product %s", product_id)


def invalidate_listings() -> None:
    """Start a new listing generation: listings, facets, the category tree and menus refill."""
    try:
        cache.incr(GENERATION_KEY)
    except ValueError:  # not set yet (or evicted): the next reader starts a new generation
        cache.add(GENERATION_KEY, 1, timeout=None)
