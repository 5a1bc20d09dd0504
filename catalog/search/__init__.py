"""Product search: one interface, the backend chosen by the SEARCH_BACKEND setting.

    search(query=..., filters=..., sort=..., page=...) -> SearchResult(ids, total, facets, suggestion)
    index(product_ids=...)    remove(product_ids=...)    schedule_index(product_ids=...)

SEARCH_BACKEND "database" (the default) is PostgreSQL full-text search on PostgreSQL and a simple
title match elsewhere (the embedded SQLite); "elasticsearch" (set by ELASTICSEARCH_URL) is
Elasticsearch. Storefront and API call these functions and never learn which backend answered.
Index updates leave the writer's transaction through `schedule_index` (on commit, then a Celery
task), so no customer request pays for them.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Collection

from django.conf import settings
from django.db import connections, transaction

from catalog import metrics as catalog_metrics
from catalog.search.base import (
    DEFAULT_PAGE_SIZE,
    MAX_QUERY_LENGTH,
    MAX_RESULT_WINDOW,
    SORTS,
    SearchBackend,
    SearchFilters,
    SearchResult,
    SearchUnavailable,
    clean_query,
)
from shop.breaker import BreakerOpen, CircuitBreaker
from shop.db_router import PRIMARY

logger = logging.getLogger("catalog.search")

INDEX_TASK_BATCH = 500  # product ids per index task
SUGGEST_MIN_LENGTH = 2
SUGGEST_LIMIT = 6

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_QUERY_LENGTH",
    "MAX_RESULT_WINDOW",
    "SORTS",
    "SearchFilters",
    "SearchResult",
    "SearchUnavailable",
    "clean_query",
    "database_backend",
    "get_backend",
    "index",
    "remove",
    "result_cards",
    "schedule_index",
    "search",
    "suggest",
]


def get_backend() -> SearchBackend:
    """The backend the settings name (read at call time, so tests and settings changes apply)."""
    if settings.SEARCH_BACKEND == "elasticsearch":
        from catalog.search.elastic import ElasticsearchBackend

        return ElasticsearchBackend()
    return database_backend()


def database_backend() -> SearchBackend:
    """PostgreSQL full-text search (or the simple fallback on SQLite): the default backend, and the
    standby that answers when Elasticsearch cannot."""
    if connections[PRIMARY].vendor == "postgresql":
        from catalog.search.postgres import PostgresBackend

        return PostgresBackend()
    from catalog.search.simple import SimpleBackend

    return SimpleBackend()


def search(
    *,
    query: str,
    filters: SearchFilters | None = None,
    sort: str = "relevance",
    page: int = 1,
    page_size: int = DEFAULT_PAGE_SIZE,
    with_facets: bool = True,
) -> SearchResult:
    """Active products matching the query's words (all of them, typos forgiven where the backend
    can), narrowed by the filters, in the sort's order, one page. An empty query (or one with no
    letters or digits) lists the most popular products. Raises SearchUnavailable when the engine
    cannot be reached."""
    wanted = {
        "query": clean_query(query),
        "filters": filters or SearchFilters(),
        "sort": sort if sort in SORTS else "relevance",
        "page": max(1, page),
        "page_size": max(1, page_size),
        "with_facets": with_facets,
    }
    backend = get_backend()
    if backend.name != "elasticsearch":
        return _measured(backend, wanted)
    # Elasticsearch is the primary engine; PostgreSQL is its standby. When Elasticsearch fails or
    # is slow the breaker opens and everyone answers from PostgreSQL (said as `degraded`) until a
    # trial search succeeds.
    try:
        search_breaker.allow()
        result = _measured(backend, wanted)
    except (BreakerOpen, SearchUnavailable) as exc:
        if isinstance(exc, SearchUnavailable):
            search_breaker.record_failure()
            logger.warning("Elasticsearch unavailable, searching PostgreSQL instead: %s", exc)
        return dataclasses.replace(_measured(database_backend(), wanted), degraded=True)
    search_breaker.record_success()
    return result


def _measured(backend: SearchBackend, wanted: dict) -> SearchResult:
    """One backend's search, counted by backend and outcome (shop_search_requests_total)."""
    try:
        result = backend.search(**wanted)
    except SearchUnavailable:
        catalog_metrics.search_done(backend=backend.name, total=None)
        raise
    catalog_metrics.search_done(backend=backend.name, total=result.total)
    return result


def _search_breaker_limits() -> tuple[int, int, int]:
    return (settings.SEARCH_BREAKER_FAILURES, settings.SEARCH_BREAKER_WINDOW_SECONDS,
            settings.SEARCH_BREAKER_OPEN_SECONDS)  # fmt: skip


search_breaker = CircuitBreaker(name="search:breaker:elasticsearch", limits=_search_breaker_limits)


def index(*, product_ids: list[int], fresh_vector_ids: Collection[int] = ()) -> None:
    """Bring these products' index entries up to date (removing inactive or deleted ones). Idempotent.

    With Elasticsearch as the engine, PostgreSQL's search columns are written first as well, so the
    standby that answers while Elasticsearch is down is current; an Elasticsearch failure then
    raises SearchUnavailable (the index task retries it). `fresh_vector_ids`: those of the products
    whose PostgreSQL vector the writer computed in the statement that wrote them (see
    PostgresBackend.index); the other backends ignore it."""
    ids = list(product_ids)
    backend = get_backend()
    if backend.name == "elasticsearch":
        database_backend().index(product_ids=ids, fresh_vector_ids=fresh_vector_ids)
        backend.index(product_ids=ids)
    else:
        backend.index(product_ids=ids, fresh_vector_ids=fresh_vector_ids)


def remove(*, product_ids: list[int]) -> None:
    """Drop these products from the index. Idempotent."""
    get_backend().remove(product_ids=list(product_ids))


def schedule_index(*, product_ids, fresh_vector_ids: Collection[int] = ()) -> None:
    """After the caller's transaction commits, index these products in a Celery task (batches of
    500). Not durable: call it inside the transaction that changed them; outside one it runs at
    once. A broker outage is logged, not raised (the change is saved; `search_reindex` heals).
    `fresh_vector_ids`: see index()."""
    ids = sorted({int(i) for i in product_ids})
    fresh = {int(i) for i in fresh_vector_ids}
    for start in range(0, len(ids), INDEX_TASK_BATCH):
        chunk = ids[start : start + INDEX_TASK_BATCH]
        transaction.on_commit(_enqueue(chunk, [i for i in chunk if i in fresh]), robust=True)


def popularity_is_copied() -> bool:
    """Whether the backend keeps a copy of Product.popularity (Elasticsearch); the database backend
    reads it live from the row."""
    return get_backend().name == "elasticsearch"


def schedule_ranking_update(*, product_ids) -> None:
    """These products' popularity changed: a backend that copies it re-indexes them on commit."""
    if popularity_is_copied():
        schedule_index(product_ids=product_ids)


def _enqueue(product_ids: list[int], fresh_vector_ids: list[int]):
    def enqueue_search_index() -> None:
        from catalog.tasks import index_products_task  # tasks.py imports this package for its retry errors

        if fresh_vector_ids:
            index_products_task.delay(product_ids=product_ids, fresh_vector_ids=fresh_vector_ids)
        else:
            index_products_task.delay(product_ids=product_ids)

    return enqueue_search_index


def result_cards(result: SearchResult) -> list[dict]:
    """The product cards of a result, in its order: the index's own mini descriptions when the
    backend has them, else the cached cards (one query for the misses)."""
    if result.cards is not None:
        return result.cards
    from catalog import selectors

    return selectors.get_product_cards(product_ids=result.ids)


def suggest(*, query: str) -> dict:
    """Search-as-you-type: a few products for what has been typed so far (the last word counts
    as the start of a word) and the "did you mean" correction. Nothing below two characters."""
    cleaned = clean_query(query)
    if len(cleaned) < SUGGEST_MIN_LENGTH:
        return {"query": cleaned, "suggestion": None, "products": []}
    result = search(query=cleaned, page_size=SUGGEST_LIMIT, with_facets=False)
    products = [{"id": c["id"], "title": c["title"], "url": c["url"]} for c in result_cards(result)]
    return {"query": cleaned, "suggestion": result.suggestion, "products": products}
