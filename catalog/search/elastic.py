"""The Elasticsearch backend (SEARCH_BACKEND="elasticsearch", switched on by ELASTICSEARCH_URL).

Searches go to an alias (ELASTICSEARCH_INDEX); `rebuild()` (`manage.py search_reindex`) fills a
new index and points the alias at it only when the new index is complete, so a standby index is
ready before it is promoted. The index task writes documents through the alias (`require_alias`,
so a write before the first rebuild never creates a stray index with a guessed mapping).

The request bodies are built by plain functions (`search_body`, `index_actions`, ...) that tests
check without a server; only `ElasticsearchBackend` talks to one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterable

from django.db.models import QuerySet
from django.utils import timezone

from catalog import selectors
from catalog.models import Product
from catalog.search.base import (
    DEFAULT_PAGE_SIZE,
    PRICE_BAND_EDGES,
    SearchFilters,
    SearchResult,
    SearchUnavailable,
    attribute_facets,
    brand_facets,
    category_facets,
    clean_query,
    empty_facets,
    price_bands,
    query_words,
    relaxed_filters,
)
from inventory import selectors as inventory_selectors

logger = logging.getLogger(__name__)

POPULARITY_WEIGHT = 0.2  # the same blend as PostgreSQL: score * (1 + 0.2 * ln(1 + popularity))
TEXT_FIELDS = ["title^3", "brand^2", "category_path", "description", "attribute_values"]
SORT_CLAUSES = {
    "relevance": ["_score", {"popularity": "desc"}, {"id": "desc"}],
    "popularity": [{"popularity": "desc"}, {"id": "desc"}],
    "price_asc": [{"price": "asc"}, {"id": "asc"}],
    "price_desc": [{"price": "desc"}, {"id": "desc"}],
    "newest": [{"created_at": "desc"}, {"id": "desc"}],
}
FACET_SIZE = 100
ATTRIBUTE_FACET_SIZE = 500
BULK_CHUNK = 500


# --- Request bodies (pure) -----------------------------------------------------------------------


def filter_clauses(filters: SearchFilters) -> list[dict]:
    clauses: list[dict] = []
    if filters.category_ids is not None:
        clauses.append({"terms": {"category_id": list(filters.category_ids)}})
    if filters.brands:
        clauses.append({"terms": {"brand_slug": list(filters.brands)}})
    price = {}
    if filters.price_min is not None:
        price["gte"] = float(filters.price_min)
    if filters.price_max is not None:
        price["lte"] = float(filters.price_max)
    if price:
        clauses.append({"range": {"price": price}})
    if filters.in_stock:
        clauses.append({"term": {"in_stock": True}})
    for name, chosen in filters.attributes:
        clauses.append({"terms": {"attributes": [f"{name}={value}" for value in chosen]}})
    return clauses


def text_clause(words: list[str], cleaned: str) -> dict:
    """Every word must match some field (typos forgiven, the last word also as a prefix of a
    title word); the exact title and the phrase in the title score far above the rest."""
    must = []
    for i, word in enumerate(words):
        options: list[dict] = [{"multi_match": {"query": word, "fields": TEXT_FIELDS, "fuzziness": "AUTO",
                                                "prefix_length": 1}}]  # fmt: skip
        if i == len(words) - 1:
            options.append({"match": {"title.autocomplete": {"query": word}}})
        must.append({"bool": {"should": options, "minimum_should_match": 1}})
    should = [
        {"match_phrase": {"title": {"query": cleaned, "boost": 5}}},
        {"term": {"title.exact": {"value": cleaned.lower(), "boost": 50}}},
    ]
    return {"must": must, "should": should}


def search_body(*, query: str, filters: SearchFilters, sort: str, page: int, page_size: int, with_facets: bool) -> dict:
    """The _search request body for a query, its filters, sort, page and facets."""
    words = query_words(query)
    cleaned = clean_query(query)
    if words:
        boolean = {**text_clause(words, cleaned), "filter": filter_clauses(filters)}
        query_clause = {
            "function_score": {
                "query": {"bool": boolean},
                "script_score": {
                    "script": {
                        "source": "_score * (1 + params.w * Math.log1p(Math.max(doc['popularity'].value, 0)))",
                        "params": {"w": POPULARITY_WEIGHT},
                    }
                },
                "boost_mode": "replace",
            }
        }
    else:
        query_clause = {"bool": {"filter": filter_clauses(filters)}}
        sort = sort if sort != "relevance" else "popularity"
    body: dict = {
        "query": query_clause,
        "sort": SORT_CLAUSES.get(sort, SORT_CLAUSES["relevance"]),
        "from": (page - 1) * page_size,
        "size": page_size,
        "track_total_hits": True,
        "_source": ["card"],
    }
    if with_facets:
        body["aggs"] = facet_aggregations(words, cleaned, filters)
    if words:
        body["suggest"] = {
            "text": " ".join(words),
            "did_you_mean": {"term": {"field": "title.plain", "suggest_mode": "missing", "min_word_length": 3}},
        }
    return body


def facet_aggregations(words: list[str], cleaned: str, filters: SearchFilters) -> dict:
    """The facets' aggregations, each counted with every other filter applied (base.selection_facets).

    A facet the customer chose in (brands, a price range, an attribute) is counted by a `global`
    aggregation over the query's words and the other filters, under the facet's usual name; the
    attributes chosen in are counted that way each, the others over the results ("all").
    """
    aggs: dict = {
        "categories": {"terms": {"field": "category_id", "size": FACET_SIZE}},
        "brands": {"terms": {"field": "brand_slug", "size": FACET_SIZE},
                   "aggs": {"name": {"terms": {"field": "brand.raw", "size": 1}}}},
        "price_bands": {"range": {"field": "price", "ranges": _band_ranges()}},
        "attributes": {"terms": {"field": "attributes", "size": ATTRIBUTE_FACET_SIZE}},
    }  # fmt: skip
    relaxed = relaxed_filters(filters)
    if not relaxed:
        return aggs

    def scoped(wanted: SearchFilters, name: str, agg: dict) -> dict:
        matching = {"bool": {"must": text_clause(words, cleaned)["must"] if words else [],
                             "filter": filter_clauses(wanted)}}  # fmt: skip
        return {"filter": matching, "aggs": {name: agg}}

    chosen_attributes = {}
    for facet, wanted in relaxed:
        if facet.startswith("attributes:"):
            name = facet.split(":", 1)[1]
            chosen_attributes[f"only:{name}"] = scoped(
                wanted, "attributes", {**aggs["attributes"], "terms": {**aggs["attributes"]["terms"], "include": f"{name}=.*"}}
            )  # fmt: skip
        else:
            aggs[facet] = {"global": {}, "aggs": {"selection": scoped(wanted, facet, aggs[facet])}}
    if chosen_attributes:
        aggs["attributes"] = {"global": {}, "aggs": {"all": scoped(filters, "attributes", aggs["attributes"]),
                                                     **chosen_attributes}}  # fmt: skip
    return aggs


def _facet_buckets(aggs: dict, name: str) -> list[dict]:
    """The buckets of a facet's aggregation, plain or counted by facet_aggregations' `global` form."""
    agg = aggs[name]
    if "buckets" in agg:
        return agg["buckets"]
    if name != "attributes":
        return agg["selection"][name]["buckets"]
    chosen = {key.split(":", 1)[1] for key in agg if key.startswith("only:")}
    buckets = [b for b in agg["all"]["attributes"]["buckets"] if b["key"].split("=", 1)[0] not in chosen]
    for key in agg:
        if key.startswith("only:"):
            buckets += agg[key]["attributes"]["buckets"]
    return buckets


def _band_ranges() -> list[dict]:
    ranges = []
    for i, low in enumerate(PRICE_BAND_EDGES):
        entry = {"key": str(i), "from": low}
        if i + 1 < len(PRICE_BAND_EDGES):
            entry["to"] = PRICE_BAND_EDGES[i + 1]  # exclusive, as the bands are
        ranges.append(entry)
    return ranges


def routing_for(filters: SearchFilters, tree: dict) -> str | None:
    """The shard key of a search inside one top-level category (documents are routed by it)."""
    if not filters.category_ids:
        return None
    roots = {_root(category_id, tree) for category_id in filters.category_ids}
    return str(roots.pop()) if len(roots) == 1 else None


def _root(category_id: int, tree: dict) -> int:
    nodes, current = tree["nodes"], category_id
    for _ in range(10):
        parent = nodes.get(current, {}).get("parent_id")
        if parent is None or parent not in nodes:
            return current
        current = parent
    return current


def result_from_response(response: dict, *, page: int, page_size: int, tree: dict) -> SearchResult:
    hits = response["hits"]["hits"]
    aggs = response.get("aggregations")
    facets = empty_facets()
    if aggs:
        facets = {
            "categories": category_facets({int(b["key"]): b["doc_count"] for b in aggs["categories"]["buckets"]}, tree),
            "brands": brand_facets([
                (b["key"], (b["name"]["buckets"] or [{"key": b["key"]}])[0]["key"], b["doc_count"])
                for b in _facet_buckets(aggs, "brands")
            ]),
            "price_bands": price_bands({int(b["key"]): b["doc_count"] for b in _facet_buckets(aggs, "price_bands")}),
            "attributes": attribute_facets({
                tuple(b["key"].split("=", 1)): b["doc_count"] for b in _facet_buckets(aggs, "attributes")
                if "=" in b["key"]
            }),
        }  # fmt: skip
    suggestion = None
    entries = response.get("suggest", {}).get("did_you_mean", [])
    if any(entry["options"] for entry in entries):
        suggestion = " ".join(entry["options"][0]["text"] if entry["options"] else entry["text"] for entry in entries)
    return SearchResult(
        ids=[int(hit["_id"]) for hit in hits],
        total=response["hits"]["total"]["value"],
        facets=facets,
        suggestion=suggestion,
        page=page,
        page_size=page_size,
        cards=[hit["_source"]["card"] for hit in hits if hit.get("_source", {}).get("card")],
    )


def stale_copies_query(routing_by_id: dict[int, str], all_ids: Iterable[int]) -> dict:
    """Documents of these products except each indexed one under its current routing: copies
    left on another shard by a move between top-level categories, and removed products."""
    groups: dict[str, list[int]] = {}
    for product_id, routing in routing_by_id.items():
        groups.setdefault(routing, []).append(product_id)
    keep = [
        {"bool": {"filter": [{"ids": {"values": [str(i) for i in ids]}}, {"term": {"_routing": routing}}]}}
        for routing, ids in sorted(groups.items())
    ]
    return {"bool": {"filter": [{"ids": {"values": [str(i) for i in sorted(all_ids)]}}], "must_not": keep}}


def alias_swap_actions(*, alias: str, new_index: str, old_indices: list[str], alias_is_index: bool) -> list[dict]:
    """One atomic alias update: the alias leaves the old indices and names the new one."""
    actions: list[dict] = [{"remove_index": {"index": alias}}] if alias_is_index else []
    actions += [{"remove": {"index": old, "alias": alias}} for old in old_indices]
    actions.append({"add": {"index": new_index, "alias": alias}})
    return actions


# --- The backend ---------------------------------------------------------------------------------


def _transient_errors() -> tuple[type[Exception], ...]:
    from elastic_transport import ConnectionError as TransportConnectionError
    from elastic_transport import ConnectionTimeout

    return (TransportConnectionError, ConnectionTimeout)


class ElasticsearchBackend:
    name = "elasticsearch"

    def __init__(self, client=None) -> None:
        self._client = client

    @property
    def client(self):
        if self._client is None:
            from elasticsearch.dsl.connections import connections  # configured by django_elasticsearch_dsl

            self._client = connections.get_connection()
        return self._client

    @staticmethod
    def document():
        from catalog.search.documents import ProductDocument

        return ProductDocument()

    @property
    def alias(self) -> str:
        from catalog.search.documents import index_alias

        return index_alias()

    def search(
        self,
        *,
        query: str,
        filters: SearchFilters,
        sort: str = "relevance",
        page: int = 1,
        page_size: int = DEFAULT_PAGE_SIZE,
        with_facets: bool = True,
    ) -> SearchResult:
        tree = selectors.category_tree()
        body = search_body(query=query, filters=filters, sort=sort, page=page, page_size=page_size,
                           with_facets=with_facets)  # fmt: skip
        try:
            response = self.client.search(index=self.alias, body=body, routing=routing_for(filters, tree))
        except _transient_errors() as exc:
            raise SearchUnavailable(str(exc)) from exc
        return result_from_response(dict(response), page=page, page_size=page_size, tree=tree)

    def index(self, *, product_ids: list[int], fresh_vector_ids: Collection[int] = ()) -> None:
        """Write the active ones among these products, and delete every other copy of them
        (inactive, deleted, or left under an old routing). Idempotent."""
        ids = sorted(set(product_ids))
        for start in range(0, len(ids), BULK_CHUNK):
            chunk = ids[start : start + BULK_CHUNK]
            self._write(self.document().get_queryset().filter(pk__in=chunk), index=self.alias, all_ids=chunk)

    def remove(self, *, product_ids: list[int]) -> None:
        if product_ids:
            self._call(self.client.delete_by_query, index=self.alias, conflicts="proceed",
                       body={"query": {"ids": {"values": [str(i) for i in product_ids]}}})  # fmt: skip

    def refresh(self) -> None:
        self._call(self.client.indices.refresh, index=self.alias)

    def rebuild(self, *, batch_size: int = 2000, progress: Callable[[int], None] | None = None,
                keep_old: bool = False) -> int:  # fmt: skip
        """Fill a new index with every active product, then point the alias at it in one atomic
        step; products changed meanwhile are written again before the swap. On any failure the
        new index is deleted and the alias keeps serving the old one."""
        alias, client = self.alias, self.client
        new_index = f"{alias}-{time.strftime('%Y%m%d%H%M%S')}-{time.time_ns() % 1_000_000:06d}"
        client.indices.create(index=new_index, body=self.document()._index.clone(name=new_index).to_dict())
        started = timezone.now()
        written = 0
        try:
            queryset = self.document().get_queryset()
            last_pk = 0
            while True:
                batch = list(queryset.filter(pk__gt=last_pk)[:batch_size])
                if not batch:
                    break
                last_pk = batch[-1].pk
                written += self._write(batch, index=new_index, require_alias=False)
                if progress:
                    progress(written)
            changed = list(Product.objects.filter(updated_at__gte=started).values_list("pk", flat=True))
            for start in range(0, len(changed), batch_size):
                chunk = changed[start : start + batch_size]
                self._write(queryset.filter(pk__in=chunk), index=new_index, all_ids=chunk, require_alias=False)
            client.indices.refresh(index=new_index)
        except BaseException:
            client.indices.delete(index=new_index, ignore_unavailable=True)
            raise
        alias_is_index = bool(client.indices.exists(index=alias)) and not bool(client.indices.exists_alias(name=alias))
        old = [] if alias_is_index else list(dict(client.indices.get_alias(name=alias, ignore_unavailable=True)))
        client.indices.update_aliases(body={"actions": alias_swap_actions(
            alias=alias, new_index=new_index, old_indices=old, alias_is_index=alias_is_index)})  # fmt: skip
        if not keep_old:
            for index_name in old:
                client.indices.delete(index=index_name, ignore_unavailable=True)
        logger.info("search index %s now serves %s (%s products)", new_index, alias, written)
        return written

    # --- Writing helpers ---------------------------------------------------------------------

    def _write(self, products: QuerySet[Product] | list[Product], *, index: str, all_ids: list[int] | None = None,
               require_alias: bool = True) -> int:  # fmt: skip
        from elasticsearch.helpers import bulk

        products = list(products)
        ids = [p.pk for p in products]
        cards = {card["id"]: card for card in selectors.get_product_cards(product_ids=ids)} if ids else {}
        in_stock = set(inventory_selectors.in_stock_product_ids().filter(product_id__in=ids)) if ids else set()
        for product in products:
            product.search_card = cards.get(product.pk)
            product.search_in_stock = product.pk in in_stock
        document = self.document()
        actions = [{**document._prepare_action(p, "index"), "_index": index} for p in products]
        if actions:
            self._call(bulk, self.client, actions, require_alias=require_alias, refresh=False)
        if all_ids is not None:
            routing = {p.pk: document.routing(p) for p in products}
            self._call(self.client.delete_by_query, index=index, conflicts="proceed",
                       body={"query": stale_copies_query(routing, all_ids)})  # fmt: skip
        return len(actions)

    @staticmethod
    def _call(function, *args, **kwargs):
        try:
            return function(*args, **kwargs)
        except _transient_errors() as exc:
            raise SearchUnavailable(str(exc)) from exc
