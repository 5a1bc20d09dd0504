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
import time

from django.core.cache import cache

logger = logging.getLogger(__name__)

SCHEMA = "v1"  # bump when the shape of a cached blob changes
PRODUCT_TTL = 60 * 60
LISTING_TTL = 5 * 60
GENERATION_KEY = f"catalog:{SCHEMA}:generation"
HITS_KEY = f"catalog:{SCHEMA}:stats:hits"
MISSES_KEY = f"catalog:{SCHEMA}:stats:misses"


def product_key(slug: str) -> str:
    """Where a product page's blob lives: the slug and the slug's current version."""
    return f"catalog:{SCHEMA}:product:{slug}:{versions([_version_key('product', slug)])[_version_key('product', slug)]}"


def card_keys(product_ids: list[int]) -> dict[int, str]:
    """Where each product's card lives, under the product's current version (one round trip)."""
    found = versions([_version_key("card", i) for i in product_ids])
    return {i: f"catalog:{SCHEMA}:card:{i}:{found[_version_key('card', i)]}" for i in product_ids}


def card_key(product_id: int) -> str:
    return card_keys([product_id])[product_id]


def _version_key(kind: str, ident) -> str:
    return f"catalog:{SCHEMA}:version:{kind}:{ident}"


def _fresh_version() -> int:
    # Versions start from the clock, so a version key that was evicted restarts above every
    # version used before, and a blob stored under an old version can never be read again.
    return time.time_ns() // 1000


def versions(keys: list[str]) -> dict[str, int]:
    found = cache.get_many(keys)
    for key in keys:
        if key not in found:
            cache.add(key, _fresh_version(), timeout=None)
            found[key] = cache.get(key) or 0
    return found


def _bump(key: str) -> None:
    try:
        cache.incr(key)
    except ValueError:  # never read, or evicted: any new version is above the old ones
        cache.add(key, _fresh_version(), timeout=None)


def listing_key(name: str, digest: str) -> str:
    return f"catalog:{SCHEMA}:{name}:{listing_generation()}:{digest}"


def search_key(digest: str) -> str:
    """Where the result of one search (its query, filters, sort and page, hashed) lives: under
    the listing generation, so any catalog change or search index write drops every result."""
    return listing_key("search", digest)


def listing_generation() -> int:
    return versions([GENERATION_KEY])[GENERATION_KEY]


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
    """Move a product's card and pages (under every slug it had) to new versions, and start a new
    listing generation. A reader that loaded the old row before the change and stores it after
    this stores it under the old version, which nobody reads any more."""
    for key in [_version_key("card", product_id), *(_version_key("product", slug) for slug in slugs)]:
        _bump(key)
    invalidate_listings()
    logger.debug("catalog cache invalidated for product %s", product_id)


def invalidate_listings() -> None:
    """Start a new listing generation: listings, facets, the category tree and menus refill."""
    _bump(GENERATION_KEY)
