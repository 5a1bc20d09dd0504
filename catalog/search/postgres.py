"""PostgreSQL full-text search: the default backend on PostgreSQL.

Storage (migration 0004, PostgreSQL only, so SQLite still migrates):

- ``catalog_product.search_vector``: a stored, weighted tsvector, title (A, English and unstemmed
  so prefixes of what a customer is still typing match) > brand (B) > description and category
  names (C) > attribute values (D), with a GIN index. It is not a model field: the model runs on
  SQLite too, and nothing but this module reads or writes the column. A row without a vector
  yet is matched by its title's words meanwhile (a partial index finds those rows).
- ``catalog_searchword``: every word (letters only, 3-30 long, lower case) of active products'
  titles, brands and attribute values, with a trigram GIN index (pg_trgm): the "did you mean"
  lexicon. A word that is not in it is replaced by its most similar word there.

The vector is written by `index()`, which a Celery task runs after the change committed
(`catalog.search.schedule_index`), never by a customer's request; a GENERATED column could not
read the brand or category tables, and a trigger would put a brand rename's cascade of updates
inside the staff member's save. Everything else a search reads (active, price, category, brand,
popularity, attributes, stock) is read live from the row, so a lagging vector can only delay a
product being found by new words, and an inactive product is never shown.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from django.contrib.postgres.search import (
    SearchQuery,
    SearchRank,
    SearchVector,
    SearchVectorCombinable,
    SearchVectorField,
)
from django.db import connections, transaction
from django.db.models import Case, F, Func, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, Concat, Greatest, Ln

from catalog import cache as catalog_cache
from catalog import selectors
from catalog.models import Brand, Category, Product
from catalog.search.base import (
    DEFAULT_PAGE_SIZE,
    MIN_SUGGESTION_SIMILARITY,
    PRICE_BAND_EDGES,
    SearchFilters,
    SearchResult,
    attribute_facets,
    brand_facets,
    category_facets,
    clean_query,
    empty_facets,
    price_bands,
    query_words,
)
from catalog.search.queryset import ORDERINGS, filtered_products
from shop.db_router import PRIMARY, choose_read_alias, replica_ok

CONFIG = "english"
POPULARITY_WEIGHT = 0.2  # score = text rank * (1 + 0.2 * ln(1 + popularity)) (+ 1 for the exact title)
EXACT_TITLE_BONUS = 1.0
INDEX_BATCH = 1000
WORDS_TABLE = "catalog_searchword"
WORD_PATTERN = "[[:alpha:]]{3,30}"  # the lexicon's words; query words outside it are never "corrected"

# The stored column, read through an expression: Django's base-table alias is the table name.
STORED_VECTOR = RawSQL('"catalog_product"."search_vector"', [], output_field=SearchVectorField())
# A product whose vector is not written yet (its index task has not run, or it was written by
# code that skips the services) is still found by the words of its title, computed on the fly;
# a partial index on the rows without a vector keeps that branch cheap.
TITLE_VECTOR = RawSQL(  # noqa: S611 (constant SQL: no input reaches it)
    f"setweight(to_tsvector('{CONFIG}', \"catalog_product\".\"title\"), 'A')"
    " || setweight(to_tsvector('simple', \"catalog_product\".\"title\"), 'A')",
    [],
    output_field=SearchVectorField(),
)


class _AttributeValuesVector(SearchVectorCombinable, Func):
    """The string values (not the keys) of the JSON attributes as a tsvector of weight D."""

    template = f"setweight(jsonb_to_tsvector('{CONFIG}'::regconfig, %(expressions)s, '[\"string\"]'::jsonb), 'D')"
    output_field = SearchVectorField()
    config = None


def document_vector():
    """The weighted vector of a product row, as an expression over Product (joins by subquery)."""
    brand_name = Subquery(Brand.objects.filter(pk=OuterRef("brand_id")).order_by().values("name")[:1])
    category_names = Subquery(
        Category.objects.filter(pk=OuterRef("category_id"))
        .order_by()
        .annotate(names=Concat("name", Value(" "), Coalesce("parent__name", Value(""))))
        .values("names")[:1]
    )
    return (
        SearchVector("title", config=CONFIG, weight="A")
        + SearchVector("title", config="simple", weight="A")
        + SearchVector(brand_name, config=CONFIG, weight="B")
        + SearchVector("description", category_names, config=CONFIG, weight="C")
        + _AttributeValuesVector(F("attributes"))
    )


def _quote(word: str) -> str:
    # Words are letters and digits only (base.query_words), so quoting makes them plain lexemes.
    return f"'{word}'"


def text_query(words: list[str], corrections: dict[str, str]) -> SearchQuery:
    """Every word must match (AND); a misspelled word matches its correction too; the last word
    is a prefix (search as you type), also of the title's unstemmed words."""

    def term(word: str, *, prefix: bool = False) -> str:
        lexeme = _quote(word) + (":*" if prefix else "")
        return f"({lexeme} | {_quote(corrections[word])})" if word in corrections else lexeme

    *rest, last = words
    last_query = SearchQuery(term(last, prefix=True), search_type="raw", config=CONFIG) | SearchQuery(
        f"{_quote(last)}:*", search_type="raw", config="simple"
    )
    if not rest:
        return last_query
    return SearchQuery(" & ".join(term(w) for w in rest), search_type="raw", config=CONFIG) & last_query


class PostgresBackend:
    name = "postgresql"

    # --- Reading -------------------------------------------------------------------------------

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
        words = query_words(query)
        if not words:
            return self._browse(filters=filters, sort=sort, page=page, page_size=page_size, with_facets=with_facets)
        corrections = self.corrections(words, alias=alias)
        matches = text_query(words, corrections)
        products = (
            filtered_products(filters, alias=alias)
            .annotate(document=STORED_VECTOR, title_vector=TITLE_VECTOR)
            .filter(Q(document=matches) | Q(document__isnull=True, title_vector=matches))
        )
        if sort == "relevance" or sort not in ORDERINGS:
            products = products.annotate(score=self._score(words, corrections, clean_query(query)))
            ordering = ("-score", "-popularity", "-id")
        else:
            ordering = ORDERINGS[sort]
        start = (page - 1) * page_size
        ids = list(products.order_by(*ordering).values_list("pk", flat=True)[start : start + page_size])
        total, facets = self._facets(products, alias=alias) if with_facets else (products.count(), empty_facets())
        suggestion = " ".join(corrections.get(w, w) for w in words) if corrections else None
        return SearchResult(ids=ids, total=total, facets=facets, suggestion=suggestion, page=page, page_size=page_size)

    def _browse(
        self, *, filters: SearchFilters, sort: str, page: int, page_size: int, with_facets: bool
    ) -> SearchResult:
        """No words: the most popular products (or the chosen sort) passing the filters. The same
        for every customer, so it is cached with the listings (filled from the primary)."""
        ordering = ORDERINGS.get(sort, ORDERINGS["popularity"])

        def fill() -> dict:
            products = filtered_products(filters, alias=PRIMARY)
            start = (page - 1) * page_size
            ids = list(products.order_by(*ordering).values_list("pk", flat=True)[start : start + page_size])
            total, facets = self._facets(products, alias=PRIMARY) if with_facets else (products.count(), empty_facets())
            return {"ids": ids, "total": total, "facets": facets}

        if filters.in_stock:  # stock changes with every sale: never cached
            found = fill()
        else:
            digest = hashlib.sha256(repr((filters, sort, page, page_size, with_facets)).encode()).hexdigest()[:32]
            key = catalog_cache.listing_key("search-browse", digest)
            found = catalog_cache.get_or_fill(key, fill, catalog_cache.LISTING_TTL)
        return SearchResult(suggestion=None, page=page, page_size=page_size, **found)

    @staticmethod
    def _score(words: list[str], corrections: dict[str, str], cleaned: str):
        rank = SearchRank(Coalesce(F("document"), F("title_vector")), text_query(words, corrections))
        popularity = Value(1.0) + Value(POPULARITY_WEIGHT) * Ln(Value(1.0) + Greatest(F("popularity"), Value(0.0)))
        exact = Case(When(title__iexact=cleaned, then=Value(EXACT_TITLE_BONUS)), default=Value(0.0))
        return rank * popularity + exact

    def corrections(self, words: list[str], *, alias: str) -> dict[str, str]:
        """{misspelled word: the most similar lexicon word} for words the lexicon does not know
        (the last word counts as known while it is the start of a known word). One query."""
        candidates = [w for w in words if w.isalpha() and len(w) >= 3]
        if not candidates:
            return {}
        last = [i == len(candidates) - 1 and w == words[-1] for i, w in enumerate(candidates)]
        sql = f"""
            SELECT w.word, (
                SELECT s.word FROM {WORDS_TABLE} s
                WHERE s.word %% w.word AND similarity(s.word, w.word) >= %s
                ORDER BY s.word <-> w.word, s.word LIMIT 1
            )
            FROM unnest(%s::text[], %s::boolean[]) AS w(word, last)
            WHERE NOT EXISTS (SELECT 1 FROM {WORDS_TABLE} s WHERE s.word = w.word)
              AND NOT (w.last AND EXISTS (SELECT 1 FROM {WORDS_TABLE} s WHERE s.word LIKE w.word || '%%'))
        """  # noqa: S608 (a constant table name; every value is a parameter)
        with connections[alias].cursor() as cursor:
            cursor.execute(sql, [MIN_SUGGESTION_SIMILARITY, candidates, last])
            return {word: nearest for word, nearest in cursor.fetchall() if nearest and nearest != word}

    def _facets(self, products: QuerySet[Product], *, alias: str) -> tuple[int, dict]:
        """The total and every facet of the matched products, in one query over them."""
        matched_sql, params = (
            products.order_by().values("id", "category_id", "brand_id", "price", "attributes").query.sql_with_params()
        )
        sql = f"""
            WITH m AS MATERIALIZED ({matched_sql})
            SELECT 'c', m.category_id::text, NULL, count(*) FROM m GROUP BY m.category_id
            UNION ALL
            SELECT 'b', b.slug, b.name, count(*) FROM m JOIN catalog_brand b ON b.id = m.brand_id GROUP BY b.slug, b.name
            UNION ALL
            SELECT 'p', (width_bucket(m.price, %s::numeric[]) - 1)::text, NULL, count(*) FROM m GROUP BY 2
            UNION ALL
            SELECT 'a', a.key, a.value, count(*) FROM m, jsonb_each_text(m.attributes) a GROUP BY a.key, a.value
        """  # noqa: S608 (the matched products' SQL is Django's, with its parameters)
        with connections[alias].cursor() as cursor:
            cursor.execute(sql, [*params, list(PRICE_BAND_EDGES)])
            rows = cursor.fetchall()
        categories: dict[int, int] = {}
        brands: list[tuple[str, str, int]] = []
        bands: dict[int, int] = {}
        attributes: dict[tuple[str, str], int] = {}
        for kind, key, name, count in rows:
            if kind == "c":
                categories[int(key)] = count
            elif kind == "b":
                brands.append((key, name, count))
            elif kind == "p":
                bands[int(key)] = count
            else:
                attributes[(key, name)] = count
        facets = {
            "categories": category_facets(categories, selectors.category_tree()),
            "brands": brand_facets(brands),
            "price_bands": price_bands(bands),
            "attributes": attribute_facets(attributes),
        }
        return sum(categories.values()), facets

    # --- Writing ---------------------------------------------------------------------------------

    def index(self, *, product_ids: list[int]) -> None:
        """Recompute these products' vectors and add their words to the lexicon (on the primary,
        one short transaction per 1000 products). Idempotent; unknown ids are skipped."""
        ids = sorted(set(product_ids))
        for start in range(0, len(ids), INDEX_BATCH):
            self._index_batch(Product.objects.using(PRIMARY).filter(pk__in=ids[start : start + INDEX_BATCH]))

    def remove(self, *, product_ids: list[int]) -> None:
        """Nothing to do: searches read `is_active` from the row, and a deleted row is gone."""

    def refresh(self) -> None:
        """Nothing to do: an index write is visible as soon as it commits."""

    def rebuild(self, *, batch_size: int = 5000, progress: Callable[[int], None] | None = None) -> int:
        """Recompute every product's vector (batches by id range, one transaction each), then
        rebuild the lexicon in one transaction (readers keep the old one until it commits)."""
        bounds = Product.objects.using(PRIMARY).order_by("pk").values_list("pk", flat=True)
        first, last = bounds.first(), bounds.last()
        done = 0
        if first is not None:
            for low in range(first, last + 1, batch_size):
                batch = Product.objects.using(PRIMARY).filter(pk__gte=low, pk__lt=low + batch_size)
                done += self._update_vectors(batch)
                if progress:
                    progress(done)
        with transaction.atomic(using=PRIMARY), connections[PRIMARY].cursor() as cursor:
            cursor.execute(f"DELETE FROM {WORDS_TABLE}")  # noqa: S608
            self._add_words(cursor, "p.is_active", [])
        return done

    def _index_batch(self, batch: QuerySet[Product]) -> None:
        with transaction.atomic(using=PRIMARY):
            self._update_vectors(batch, words=True)

    def _update_vectors(self, batch: QuerySet[Product], *, words: bool = False) -> int:
        vector_sql, params = (
            batch.order_by().annotate(vector=document_vector()).values("id", "vector").query.sql_with_params()
        )
        with connections[PRIMARY].cursor() as cursor:
            cursor.execute(
                f"UPDATE catalog_product p SET search_vector = s.vector FROM ({vector_sql}) s WHERE p.id = s.id",  # noqa: S608
                params,
            )
            updated = cursor.rowcount
            if words:
                ids_sql, ids_params = batch.filter(is_active=True).order_by().values("id").query.sql_with_params()
                self._add_words(cursor, f"p.id IN ({ids_sql})", ids_params)
        return updated

    @staticmethod
    def _add_words(cursor, where: str, params: list) -> None:
        # Words in a fixed order, so two concurrent index tasks never wait on each other in a cycle.
        cursor.execute(
            f"""
            INSERT INTO {WORDS_TABLE} (word)
            SELECT DISTINCT lower(m[1]) FROM catalog_product p
            LEFT JOIN catalog_brand b ON b.id = p.brand_id
            CROSS JOIN LATERAL regexp_matches(
                p.title || ' ' || coalesce(b.name, '') || ' '
                || coalesce((SELECT string_agg(v.value, ' ') FROM jsonb_each_text(p.attributes) v), ''),
                %s, 'g') AS m
            WHERE {where}
            ORDER BY 1
            ON CONFLICT (word) DO NOTHING
            """,  # noqa: S608 (constant SQL; values are parameters)
            [f"({WORD_PATTERN})", *params],
        )
