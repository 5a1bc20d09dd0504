"""The embedded fallback (SQLite, or any database that is not PostgreSQL): a title containing
every word, the same filters, sorts and result shape, facets counted in Python.

Good for a demo catalog of a few thousand products; no typo tolerance and no suggestion.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from django.db.models import Case, IntegerField, Value, When

from catalog import selectors
from catalog.models import Brand
from catalog.search.base import (
    DEFAULT_PAGE_SIZE,
    SearchFilters,
    SearchResult,
    attribute_facets,
    brand_facets,
    category_facets,
    clean_query,
    empty_facets,
    price_band_index,
    price_bands,
    selection_facets,
)
from catalog.search.queryset import ORDERINGS, filtered_products
from shop.db_router import choose_read_alias, replica_ok


class SimpleBackend:
    name = "simple"

    def __init__(self, *, recount_chosen: bool = True) -> None:
        self.recount_chosen = recount_chosen

    @replica_ok
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
        alias = choose_read_alias()
        cleaned = clean_query(query)
        products = filtered_products(filters, alias=alias)
        if cleaned:  # the embedded rule: the title contains every word
            products = products.filter(pk__in=selectors.search_products(query=cleaned).values("pk"))
        if sort in ORDERINGS:
            ordering = ORDERINGS[sort]
        else:  # relevance: the exact title first, then the most popular
            products = products.annotate(
                exact=Case(When(title__iexact=cleaned, then=Value(1)), default=Value(0), output_field=IntegerField())
            )
            ordering = ("-exact", "-popularity", "-id")
        start = (page - 1) * page_size
        ids = list(products.order_by(*ordering).values_list("pk", flat=True)[start : start + page_size])
        if not with_facets:
            return SearchResult(ids=ids, total=products.count(), facets=empty_facets(), suggestion=None,
                                page=page, page_size=page_size)  # fmt: skip
        rows = list(products.values_list("category_id", "brand_id", "price", "attributes"))
        brand_counts = Counter(brand for _, brand, _, _ in rows if brand is not None)
        brands = Brand.objects.using(alias).filter(pk__in=brand_counts).values_list("pk", "slug", "name")
        names = {pk: (slug, name) for pk, slug, name in brands} if brand_counts else {}
        attributes: Counter = Counter()
        for *_, values in rows:
            attributes.update((str(k), str(v)) for k, v in (values or {}).items())
        facets = {
            "categories": category_facets(Counter(c for c, *_ in rows), selectors.category_tree()),
            "brands": brand_facets([(*names[b], n) for b, n in brand_counts.items() if b in names]),
            "price_bands": price_bands(Counter(price_band_index(price) for _, _, price, _ in rows)),
            "attributes": attribute_facets(attributes),
        }
        if self.recount_chosen:  # each facet chosen in counted again without its own choice (base.py)
            plain = SimpleBackend(recount_chosen=False)
            facets = selection_facets(facets, filters, lambda wanted, facet: plain.search(
                query=query, filters=wanted, sort=sort, page=1, page_size=1, with_facets=True).facets)  # fmt: skip
        return SearchResult(ids=ids, total=len(rows), facets=facets, suggestion=None, page=page, page_size=page_size)

    def index(self, *, product_ids: list[int]) -> None:
        """Nothing to do: the fallback reads the product rows themselves."""

    def remove(self, *, product_ids: list[int]) -> None:
        """Nothing to do: the fallback reads the product rows themselves."""

    def refresh(self) -> None:
        """Nothing to do."""

    def rebuild(self, *, batch_size: int = 5000, progress: Callable[[int], None] | None = None) -> int:
        return 0
