"""Catalog metrics: searches by backend and outcome, and the catalog cache's own hit/miss totals.

Found by shop's autodiscovery of `metrics` modules (ShopConfig.ready). The cache figures are
read at scrape time from `catalog.cache.stats()` through `cache_statistics()`, the one adapter
to change if the cache keeps its statistics another way.
"""

from __future__ import annotations

from prometheus_client import Counter

from catalog import cache
from shop.observability.metrics import Sample, register_probe

search_requests = Counter(
    "shop_search_requests_total", "Searches, by backend and outcome (results, empty, error).", ["backend", "outcome"]
)


def search_done(*, backend: str, total: int | None) -> None:
    """Count one search: total None means it failed (the engine could not be reached)."""
    outcome = "error" if total is None else ("results" if total else "empty")
    search_requests.labels(backend, outcome).inc()


def cache_statistics() -> dict[str, int]:
    """{"hit": n, "miss": n} since the statistics began (the catalog cache keeps them)."""
    found = cache.stats()
    return {"hit": int(found.get("hits") or 0), "miss": int(found.get("misses") or 0)}


def _cache_requests():
    for result, count in cache_statistics().items():
        yield Sample(count, {"result": result})


register_probe(
    "shop_cache_requests_total", "Catalog cache lookups, by result (hit, miss).", _cache_requests,
    labelnames=["result"], kind="counter",
)  # fmt: skip
