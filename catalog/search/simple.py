"""The embedded fallback (SQLite, or any database that is not PostgreSQL): a title containing
every word, the same filters, sorts and result shape, facets counted in Python.

Good for a demo catalog of a few thousand products. Typos are forgiven with a "did you mean"
through the lexicon (catalog.search.lexicon): a word the titles do not have is matched by its
most similar title word too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection

from django.db import transaction
from django.db.models import Case, IntegerField, Q, Value, When

from catalog import selectors
from catalog.models import Brand, Product
from catalog.search import lexicon
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
    query_words,
    selection_facets,
)
from catalog.search.queryset import ORDERINGS, filtered_products
from shop.db_router import PRIMARY, choose_read_alias, replica_ok


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
        suggestion = None
        if cleaned:  # the embedded rule: the title contains every word (or its correction)
            products, suggestion = self._matching(products, cleaned, alias=alias)
        if sort in ORDERINGS:
            ordering = ORDERINGS[sort]
        else:  # relevance: the exact title first, then the most popular
            products = products.annotate(
                exact=Case(
                    When(title__iexact=suggestion or cleaned, then=Value(1)), default=Value(0), output_field=IntegerField()
                )
            )
            ordering = ("-exact", "-popularity", "-id")
        start = (page - 1) * page_size
        ids = list(products.order_by(*ordering).values_list("pk", flat=True)[start : start + page_size])
        if not with_facets:
            return SearchResult(ids=ids, total=products.count(), facets=empty_facets(), suggestion=suggestion,
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
        return SearchResult(ids=ids, total=len(rows), facets=facets, suggestion=suggestion, page=page,
                            page_size=page_size)  # fmt: skip

    @staticmethod
    def _matching(products, cleaned: str, *, alias: str):
        """The products whose title has every word of the query, a misspelled word (one the
        lexicon does not know) matching its correction too; and the "did you mean" query."""
        words = query_words(cleaned)
        if not words:  # no letters or digits: the old rule on the raw words
            return products.filter(pk__in=selectors.search_products(query=cleaned).values("pk")), None
        corrections = lexicon.corrections(words, alias=alias)
        for word in words:
            if word in corrections:
                products = products.filter(Q(title__icontains=word) | Q(title__icontains=corrections[word]))
            else:
                products = products.filter(title__icontains=word)
        return products, (" ".join(corrections.get(w, w) for w in words) if corrections else None)

    def index(self, *, product_ids: list[int], fresh_vector_ids: Collection[int] = ()) -> None:
        """Add the words of these products' titles to the lexicon (active products; on the primary)."""
        titles = Product.objects.using(PRIMARY).filter(pk__in=product_ids, is_active=True).values_list("title", flat=True)
        lexicon.add_words(lexicon.words_of(titles), alias=PRIMARY)

    def remove(self, *, product_ids: list[int]) -> None:
        """Nothing to do: the fallback reads the product rows themselves."""

    def refresh(self) -> None:
        """Nothing to do."""

    def rebuild(self, *, batch_size: int = 5000, progress: Callable[[int], None] | None = None) -> int:
        """Rebuild the lexicon from the active products' titles in one transaction; returns how
        many products it read."""
        titles = Product.objects.using(PRIMARY).filter(is_active=True).order_by("pk").values_list("title", flat=True)
        with transaction.atomic(using=PRIMARY):
            lexicon.clear(alias=PRIMARY)
            words: set[str] = set()
            done = 0
            for title in titles.iterator(chunk_size=batch_size):
                words |= lexicon.words_of([title])
                done += 1
            lexicon.add_words(words, alias=PRIMARY)
        if progress:
            progress(done)
        return done
