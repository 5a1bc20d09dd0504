"""PostgreSQL full-text search: the default backend on PostgreSQL.

Storage (migrations 0004, 0014 and 0015, PostgreSQL only, so SQLite still migrates):

- ``catalog_product.search_vector``: a stored, weighted tsvector, title (A, English and unstemmed
  so prefixes of what a customer is still typing match) > brand (B) > description and category
  names (C) > attribute values (D). It is not a model field: the model runs on SQLite too, and
  nothing but this module reads or writes the column. A row without a vector yet is matched by
  its title's words meanwhile (a partial index finds those rows).
- one GIN index (0014, rebuilt by 0015) over that vector and the row's filter words (`filter_vector_sql`: its
  category, brand and price band), so words and filters are intersected in one index scan.
- ``catalog_searchword``: every word (letters and digits with at least one letter, 3-30 long,
  lower case) of active products' titles, brands, category names and attribute values, with a
  trigram GIN index (pg_trgm): the "did you mean" lexicon, and what a last word still being typed
  completes to. A word that is not in it is replaced by its most similar word there.

The vector is written by `index()`, which a Celery task runs after the change committed
(`catalog.search.schedule_index`), never by a customer's request; a GENERATED column could not
read the brand or category tables, and a trigger would put a brand rename's cascade of updates
inside the staff member's save. Everything else a search reads (active, price, category, brand,
popularity, attributes, stock) is read live from the row, so a lagging vector can only delay a
product being found by new words, and an inactive product is never shown.
"""

from __future__ import annotations

import hashlib
import json
import time
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Collection
from contextvars import ContextVar
from dataclasses import replace
from decimal import Decimal
from functools import wraps

from django.contrib.postgres.search import (
    SearchQuery,
    SearchRank,
    SearchVector,
    SearchVectorCombinable,
    SearchVectorField,
)
from django.db import connections, transaction
from django.db.models import (
    BooleanField,
    Case,
    DecimalField,
    ExpressionWrapper,
    F,
    Func,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, Concat, Greatest, Ln

from catalog import cache as catalog_cache
from catalog import selectors
from catalog.models import Brand, Category, Product
from catalog.search.base import (
    DEFAULT_PAGE_SIZE,
    MIN_SUGGESTION_SIMILARITY,
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
    relaxed_filters,
    selection_facets,
)
from catalog.search.queryset import ORDERINGS, facet_condition, filtered_products
from shop.db_router import PRIMARY, choose_read_alias, replica_ok

CONFIG = "english"
POPULARITY_WEIGHT = 0.2  # score = text rank * (1 + 0.2 * ln(1 + popularity)) (+ 1 for the exact title)
EXACT_TITLE_BONUS = 1.0
INDEX_BATCH = 1000
WORDS_TABLE = "catalog_searchword"
# The lexicon's words: letters and digits, 3 to 30, at least one letter ("iphone15", "ps5": a
# model number is completed as it is typed), from titles, brands, category names and attribute
# values. Only letters-only query words are ever "corrected".
WORD_PATTERN = "[[:alnum:]]{3,30}"

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


class _RowMatches(Func):
    """`vector @@ query` as a function call, which no index takes: checked on each row found."""

    function = "ts_match_vq"
    output_field = BooleanField()


class _AttributeValuesVector(SearchVectorCombinable, Func):
    """The string values (not the keys) of the JSON attributes as a tsvector of weight D."""

    template = f"setweight(jsonb_to_tsvector('{CONFIG}'::regconfig, %(expressions)s, '[\"string\"]'::jsonb), 'D')"
    output_field = SearchVectorField()
    config = None


# The search index's second column (migration 0015 holds the same SQL over the same edges;
# a test compares them): the row's category, brand and price band as the words "c<id>",
# "b<id>" ("b" for none), "p<band>", where the band is the number of PRICE_BAND_EDGES at or
# below the price, and "q<band // 4>", the band's group of four. An expression of the row
# itself, so it is never behind the row.
PRICE_BAND_EDGES = (5, 10, 15, 20, 25, 30, 40, 50, 60, 75, 100, 125, 150, 200, 250, 300, 400, 500, 600, 750, 1000,
                    1250, 1500, 2000, 2500, 3000, 4000, 5000, 10000)  # fmt: skip
EDGES_LITERAL = "{" + ",".join(map(str, PRICE_BAND_EDGES)) + "}"
BANDS_PER_GROUP = 4


def filter_vector_sql(table: str = "") -> str:
    """The index's second column as SQL; `table` qualifies the columns ('"catalog_product".')."""
    band = f"width_bucket({table}price, '{EDGES_LITERAL}'::numeric[])"
    return (
        f"to_tsvector('simple'::regconfig, 'c' || {table}category_id::text || ' b' || coalesce({table}brand_id::text, '')"
        f" || ' p' || {band}::text || ' q' || ({band} / {BANDS_PER_GROUP})::text)"
    )


_FILTERS = filter_vector_sql('"catalog_product".')
# brand slugs to "b<id>" words inside the statement (an init plan, which the index takes as a key)
BRANDS_MATCH_SQL = (
    f"{_FILTERS} @@ (SELECT string_agg('b' || id::text, ' | ')::tsquery FROM catalog_brand WHERE slug = ANY(%s))"  # noqa: S608
)
ANY_WORD_SQL = f"{_FILTERS} @@ %s::tsquery"
EXACT_PRICE_SQL = '"catalog_product"."price" + 0'
EXACT_CATEGORY_SQL = '"catalog_product"."category_id" + 0 = ANY(%s::bigint[])'


def price_bands_between(low: Decimal | None, high: Decimal | None) -> list[int]:
    """The bands a price in [low, high] can fall in: what the search index is asked for beside
    the exact price condition."""
    first = bisect_right(PRICE_BAND_EDGES, low) if low is not None else 0
    last = bisect_right(PRICE_BAND_EDGES, high) if high is not None else len(PRICE_BAND_EDGES)
    return list(range(first, last + 1))


def price_words(bands: list[int]) -> list[str]:
    """The index words that find every price in these (consecutive) bands: a group's word "q<g>"
    where the bands take three or four of its four, else each band's own "p<b>". "q" may let in
    the one band of its group the range leaves out, whose rows the exact price condition then
    drops: the index steps through each word's posting list beside the search's words, so a
    range of ten bands asked as ten words cost 40-70 ms where three cost 17 ("book" from 25 to
    200 at a million products)."""
    words: list[str] = []
    for group in sorted({band // BANDS_PER_GROUP for band in bands}):
        inside = [band for band in bands if band // BANDS_PER_GROUP == group]
        words += [f"q{group}"] if len(inside) >= BANDS_PER_GROUP - 1 else [f"p{band}" for band in inside]
    return words


def searchable_products(filters: SearchFilters, *, alias: str) -> QuerySet[Product]:
    """`filtered_products` with the filters also in the form of the search index's second column
    (migration 0015): one index scan then intersects the words with the category, brand and
    price band, skipping through the longer posting lists, instead of reading every match from
    the table to check the filter there. The exact conditions still decide; the exact price is
    compared as an expression the price's btree cannot take, or the planner ANDs a bitmap of
    every product in the range (a quarter of the catalog) with the index scan that has them."""

    def any_word(words: list[str]) -> RawSQL:  # a letter and a number each
        return RawSQL(ANY_WORD_SQL, [" | ".join(words)], output_field=BooleanField())  # noqa: S611

    products = filtered_products(replace(filters, category_ids=None, price_min=None, price_max=None), alias=alias)
    if filters.category_ids is not None:
        # the exact category as an expression too: with the category's btree the planner ANDed a
        # bitmap of the whole category (166,000 rows, 15 ms) with the index scan that has it
        categories = [int(n) for n in filters.category_ids]
        products = products.filter(RawSQL(EXACT_CATEGORY_SQL, [categories], output_field=BooleanField()))  # noqa: S611
        if categories:
            products = products.filter(any_word([f"c{n}" for n in categories]))
    if filters.brands:
        products = products.filter(RawSQL(BRANDS_MATCH_SQL, [list(filters.brands)], output_field=BooleanField()))  # noqa: S611
    if filters.price_min is not None or filters.price_max is not None:
        bands = price_bands_between(filters.price_min, filters.price_max)
        if len(bands) <= len(PRICE_BAND_EDGES):  # not every band (a minimum under the first edge, no maximum)
            products = products.filter(any_word(price_words(bands)))
        products = products.alias(exact_price=RawSQL(EXACT_PRICE_SQL, [], output_field=DecimalField()))  # noqa: S611
        if filters.price_min is not None:
            products = products.filter(exact_price__gte=filters.price_min)
        if filters.price_max is not None:
            products = products.filter(exact_price__lte=filters.price_max)
    return products


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


def document_vector_sql(*, using: str = PRIMARY) -> tuple[str, list]:
    """document_vector() as SQL and its parameters, over whatever row source the statement
    aliases "catalog_product" (the import computes new rows' vectors in its INSERT ... SELECT,
    so each row is written once rather than inserted and then updated by the index task)."""
    query = Product.objects.using(using).order_by().annotate(vector=document_vector()).query
    compiler = query.get_compiler(using)
    compiler.setup_query()
    sql, params = compiler.compile(query.annotations["vector"])
    return sql, list(params)


def _quote(word: str) -> str:
    # Words are letters and digits only (base.query_words), so quoting makes them plain lexemes.
    return f"'{word}'"


def text_query(
    words: list[str], corrections: dict[str, str], *, last_is_prefix: bool = True, completions: Collection[str] = ()
) -> SearchQuery:
    """Every word must match (AND); a misspelled word matches its correction too; the last word
    is a prefix (search as you type), also of the title's unstemmed words, unless it is a
    complete word (`last_is_prefix` False): a prefix scan of the GIN index costs about twice
    as much. `completions`: the catalog's words that start with the last word (the lexicon:
    titles, brands, category names, attribute values); the last word then matches any of them, or itself, as
    whole words instead of as a prefix. The index skips through a few exact words as it skips
    through the filter words, where a prefix first collects every row of every word starting
    with it (descriptions' words too): "rain j" at a million products read 34,000 rows for it."""

    def term(word: str, *, prefix: bool = False) -> str:
        lexeme = _quote(word) + (":*" if prefix else "")
        return f"({lexeme} | {_quote(corrections[word])})" if word in corrections else lexeme

    if not last_is_prefix:
        return SearchQuery(" & ".join(term(w) for w in words), search_type="raw", config=CONFIG)
    *rest, last = words

    def stemmed_or_not(stemmed: str, unstemmed: str) -> SearchQuery:  # the title is in both forms
        return SearchQuery(stemmed, search_type="raw", config=CONFIG) | SearchQuery(
            unstemmed, search_type="raw", config="simple"
        )

    if completions:
        either = " | ".join(_quote(word) for word in sorted({last, *completions}))
        last_query = stemmed_or_not(either, either)
    else:
        last_query = stemmed_or_not(term(last, prefix=True), f"{_quote(last)}:*")
    if not rest:
        return last_query
    return SearchQuery(" & ".join(term(w) for w in rest), search_type="raw", config=CONFIG) & last_query


CACHED_FIELDS = ("ids", "total", "facets", "suggestion", "total_is_estimate", "facets_sampled")
SAMPLE_LIMIT = 1000  # matches read per search: up to this many, total and facets are exact
RANKED_CANDIDATES = 200  # beyond SAMPLE_LIMIT matches, the most popular this many are ranked by relevance
# Only bitmap scans for the storage-order sample (restored right after), with room for exact
# bitmaps: at 4 MB of work_mem a bitmap of a few hundred thousand matches (a common word, or a
# filter ANDed in as a bitmap of its own: an attribute) turns lossy, and every row of a lossy
# page is checked again (a price bitmap had 12,000 pages rechecked to find no match: 148 ms,
# 40-60 ms exact). A bitmap of every page of a million-row table takes about 15 MB. No JIT
# compilation for these reads either: the planner costs them for every match, not for the
# SAMPLE_LIMIT + 1 they stop at, which crosses jit_above_cost at a million products, and
# compiling took 14 ms of a 28 ms sample ("lamp" from 100 to 500).
# The storage-order sample reads at most SAMPLE_LIMIT + 1 rows: no JIT (compiling took half of
# a 28 ms read) and no parallel workers (starting two took 4-14 ms of a 30-44 ms price-range read
# at a million products, and under load they take the cores other requests are waiting for).
BITMAP_ONLY_SQL = (
    "SELECT current_setting('enable_seqscan'), current_setting('enable_indexscan'), current_setting('work_mem'),"
    " current_setting('jit'), current_setting('max_parallel_workers_per_gather'),"
    " set_config('enable_seqscan', 'off', true), set_config('enable_indexscan', 'off', true),"
    " set_config('work_mem', '32MB', true), set_config('jit', 'off', true),"
    " set_config('max_parallel_workers_per_gather', '0', true)"
)
RESTORE_SCANS_SQL = (
    "SELECT set_config('enable_seqscan', %s, true), set_config('enable_indexscan', %s, true),"
    " set_config('work_mem', %s, true), set_config('jit', %s, true),"
    " set_config('max_parallel_workers_per_gather', %s, true)"
)
INDEX_ONLY_SQL = (  # for the popularity-ordered read: an index walk, never a bitmap of every match; no JIT
    "SELECT current_setting('enable_seqscan'), current_setting('enable_bitmapscan'), current_setting('jit'),"
    " set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true),"
    " set_config('jit', 'off', true)"
)
RESTORE_INDEX_SQL = (
    "SELECT set_config('enable_seqscan', %s, true), set_config('enable_bitmapscan', %s, true),"
    " set_config('jit', %s, true)"
)
COMMON_SHARE = 0.3  # matches the planner expects in this share of the table or more: read them in popularity order
POPULAR_SCAN_ROWS = 4000  # the most popular products that popularity-ordered read looks at, at most
ESTIMATE_ROWS = 4000  # rows of the table read to estimate a total past SAMPLE_LIMIT
DERIVED_SAMPLE_MIN = 100  # passing rows among the wider sample's that stand for a chosen facet's matches
# Matches the planner expects at this many or more: sampled from the table's sampled blocks (the
# ESTIMATE_ROWS the total is estimated on) instead of from the text index, whose bitmap of every
# match is built before its first row is read (18 ms for 83,000 matches, 31 ms for 208,000)
BLOCK_SAMPLE_PLANNED = 10 * 1000
BLOCK_SAMPLE_MIN = 40  # matches among the sampled blocks' rows that stand for all of them, at least
# a percentage of the blocks, the same ones each time; written into the statement (a number the
# code computes), as a parameter would have to sit among the query's own, wherever they fall
TABLESAMPLE = "TABLESAMPLE SYSTEM ({percent:.6f}) REPEATABLE (7)"
# The rows in the sampled blocks, per process: counted once per (database, blocks, rows) and
# SAMPLED_ROWS_TTL, not on every estimate (a third of an estimate's time at a million products:
# about a thousand blocks read for a count that only changes with the table).
SAMPLED_ROWS_TTL = 60.0  # seconds
_sampled_rows: dict[tuple[str, int, int], tuple[float, int]] = {}
_FORGOTTEN = object()
REMEMBERED_MAX = 256  # values a process keeps per memo, at most (then it starts afresh)


def _recall(memo: dict, key):
    """What `_remember` put in `memo` under `key`, until its time is up; else _FORGOTTEN."""
    held = memo.get(key)
    return held[1] if held is not None and held[0] > time.monotonic() else _FORGOTTEN


def _remember(memo: dict, key, value, ttl: float):
    """Keep `value` in this process's `memo` (a module's dict: threads share it, each step atomic)
    for `ttl` seconds."""
    if len(memo) >= REMEMBERED_MAX:
        memo.clear()
    memo[key] = (time.monotonic() + ttl, value)
    return value


TABLE_SIZE_SQL = (
    "SELECT pg_relation_size(%s::regclass) / current_setting('block_size')::int,"
    " greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = %s::regclass"
)
# The table's (blocks, rows), read once per search: its statements plan and estimate against
# one table state, and a filtered search asked for it four times (a round trip each).
_table_sizes: ContextVar[dict[str, tuple[int, int]] | None] = ContextVar("search_table_sizes", default=None)


def _one_table_state(method):
    """Run a search method with the table's size read at most once per database alias."""

    @wraps(method)
    def run(*args, **kwargs):
        if _table_sizes.get() is not None:
            return method(*args, **kwargs)
        token = _table_sizes.set({})
        try:
            return method(*args, **kwargs)
        finally:
            _table_sizes.reset(token)

    return run


def _table_size(cursor, alias: str) -> tuple[int, int]:
    """(blocks, rows) of catalog_product, from the search's first read of them when there was one."""
    known = _table_sizes.get()
    if known is not None and alias in known:
        return known[alias]
    cursor.execute(TABLE_SIZE_SQL, ["catalog_product", "catalog_product"])
    blocks, rows = cursor.fetchone()
    if known is not None:
        known[alias] = (int(blocks), int(rows))
    return int(blocks), int(rows)


# The lexicon's words starting with the last word (its C-collated primary key answers a prefix
# LIKE: an index range), one more than PREFIX_COMPLETIONS to tell a short list from a long one;
# words with digits (model numbers: a catalog has many) only from the third character typed on;
# the partial index product_search_vector_missing answers the second; the third says whether the
# words before the last one stem to anything (stop words stem to nothing).
TEXT_STATE_SQL = (
    "SELECT ARRAY(SELECT word FROM catalog_searchword WHERE word LIKE %s || '%%'"
    " AND (length(%s) >= 3 OR word !~ '[[:digit:]]') ORDER BY word LIMIT %s),"
    " EXISTS (SELECT 1 FROM catalog_product WHERE search_vector IS NULL AND is_active),"
    " (SELECT coalesce(bool_or(cardinality(ts_lexize('english_stem', w)) > 0), false) FROM unnest(%s::text[]) w)"
)
PREFIX_COMPLETIONS = 64  # a last word with more completions than this is matched as a prefix
INDEXED_COMPLETIONS = 4  # more completions than this (after finished words) are checked on the rows
ROW_CHECKED_MATCHES = 50 * 1000  # ... of at most this many rows (the planner's estimate of the finished words)
POPULARITY_AT_SQL = (  # the index product_search_popularity answers it (an index-only scan)
    "SELECT popularity FROM catalog_product WHERE is_active ORDER BY popularity DESC OFFSET %s LIMIT 1"
)


POPULARITY_AT_TTL = 60.0  # seconds a process keeps a popularity threshold
_popularity_ranks: dict[tuple[str, int], tuple[float, float | None]] = {}


def _popularity_at(rank: int, *, alias: str) -> float | None:
    """The popularity of the active product at the next power of two above this rank, or at the
    rank itself when that is past the table's rows (0 = the most popular; None past the end;
    the table's size as the search read it): a threshold that lets in up to twice the products
    asked for. Remembered per process for POPULARITY_AT_TTL: its index walk took 12-17 ms at rank 400,000 of a million, and a threshold
    only bounds a read (one that lets in too few products is lowered, one that lets in more costs
    a little more), so a minute-old one answers as well."""
    with connections[alias].cursor() as cursor:
        rounded = 1 << max(0, rank - 1).bit_length()
        asked = rounded if rounded < _table_size(cursor, alias)[1] else rank  # never past the end for rounding
        key = (alias, connections[alias].settings_dict["NAME"], asked)
        known = _recall(_popularity_ranks, key)
        if known is not _FORGOTTEN:
            return known
        cursor.execute(POPULARITY_AT_SQL, [asked])
        row = cursor.fetchone()
    return _remember(_popularity_ranks, key, row[0] if row else None, POPULARITY_AT_TTL)


def _in_sampled_blocks(sql: str, percent: float) -> str:
    """A query of catalog_product's rows as the same query of the rows in its sampled blocks."""
    return sql.replace(' FROM "catalog_product"', ' FROM "catalog_product" ' + TABLESAMPLE.format(percent=percent), 1)


def _sampled_blocks(cursor, alias: str) -> tuple[float, tuple, object, int]:
    """(the percentage of the table's blocks sampled, the key their row count is remembered
    under, that count when remembered, else _FORGOTTEN, the table's rows)."""
    blocks, rows = _table_size(cursor, alias)
    percent = min(100.0, 100.0 * ESTIMATE_ROWS / max(rows, 1))
    key = (alias, connections[alias].settings_dict["NAME"], blocks, rows)
    return percent, key, _recall(_sampled_rows, key) if percent < 100 else _FORGOTTEN, rows


def _sampled_rows_sql(percent: float) -> str:
    """The rows in the sampled blocks, counted."""
    return f"SELECT count(*) FROM catalog_product {TABLESAMPLE.format(percent=percent)}"  # noqa: S608 (a number)


def _remember_sampled_rows(key: tuple, seen: int, percent: float) -> None:
    if percent < 100:  # a sample of the table, not all of it: the same blocks until the table changes
        _remember(_sampled_rows, key, seen, SAMPLED_ROWS_TTL)


def _estimated_total(estimate: float, rows: int) -> int:
    """An estimate of the matches past SAMPLE_LIMIT, rounded: never under SAMPLE_LIMIT + 1 (the
    sample read more) nor over the table's rows."""
    return _round_estimate(min(max(estimate, SAMPLE_LIMIT + 1), max(rows, SAMPLE_LIMIT + 1)))


def _round_estimate(value: float) -> int:
    """An estimate to two significant figures: 41,873 -> 42,000 (it is not a count)."""
    digits = max(0, len(str(int(value))) - 2)
    return int(round(value, -digits))


class _Sample(list):
    """A sample's rows. `estimate` when they are the matches in the table's sampled blocks:
    (the matches' estimated total, the table's rows, the unrounded estimate of the rows whose
    flag is true, or None); None for a read of the text index (every match up to SAMPLE_LIMIT,
    or the first SAMPLE_LIMIT + 1 in storage or popularity order)."""

    estimate: tuple[int, int, float | None] | None = None


_SORT_KEYS = {
    "relevance": lambda r: (-r["score"], -r["popularity"], -r["id"]),
    "popularity": lambda r: (-r["popularity"], -r["id"]),
    "price_asc": lambda r: (r["price"], r["id"]),
    "price_desc": lambda r: (-r["price"], -r["id"]),
    "newest": lambda r: (-r["created_at"].timestamp(), -r["id"]),
}


def _facets_of(rows: list[dict], *, scale: float, alias: str) -> dict:
    """Facets counted over these rows, each count multiplied by `scale` (1: exact counts).

    A sample's rows repeat a few categories, brands and attribute sets: each is counted as it
    comes (C-speed Counters) and an attribute set's JSON is decoded once per distinct set, not
    once per row. The rows carry a brand's id, not its name: the brands counted are named by
    one small query, where a join in the sample's read looked a brand up per row (a tenth of
    that read at a million products)."""
    categories: Counter = Counter(row["category_id"] for row in rows)
    brand_ids: Counter = Counter(row["brand_id"] for row in rows if row["brand_id"] is not None)
    named = (
        Brand.objects.using(alias).filter(pk__in=list(brand_ids)).values_list("pk", "slug", "name") if brand_ids else ()
    )
    brands: Counter = Counter({(slug, name): brand_ids[pk] for pk, slug, name in named})
    bands: Counter = Counter(price_band_index(row["price"]) for row in rows)
    attribute_sets: Counter = Counter(_json_text(row["attributes"]) for row in rows)
    attributes: Counter = Counter()
    for text, count in attribute_sets.items():
        for key, value in (json.loads(text) or {}).items():
            attributes[(str(key), _attribute_text(value))] += count

    def scaled(counts: Counter) -> dict:
        return {key: max(1, round(count * scale)) for key, count in counts.items()}

    return {
        "categories": category_facets(scaled(categories), selectors.category_tree()),
        "brands": brand_facets([(slug, name, count) for (slug, name), count in scaled(brands).items()]),
        "price_bands": price_bands(scaled(bands)),
        "attributes": attribute_facets(scaled(attributes)),
    }


def _json_text(value) -> str:
    """A jsonb value as text: a raw cursor gives it so already; decoded values are encoded again."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _attribute_text(value) -> str:
    """A JSON attribute value as PostgreSQL's ->> gives it (true, 42, text)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


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
        """Bounded work whatever the number of matches (see `_search`). Identical searches are
        cached with the listings (filled from the primary, dropped by any catalog change or
        index write); searches filtering on stock are never cached."""
        words = query_words(query)
        if not words:
            return self._browse(filters=filters, sort=sort, page=page, page_size=page_size, with_facets=with_facets)
        if filters.in_stock:  # stock changes with every sale: never cached
            return self._search(words, clean_query(query), filters, sort, page, page_size, with_facets,
                                alias=choose_read_alias())  # fmt: skip
        digest = hashlib.sha256(
            repr((words, clean_query(query).lower(), filters, sort, page, page_size, with_facets)).encode()
        ).hexdigest()[:32]

        def fill() -> dict:
            found = self._search(words, clean_query(query), filters, sort, page, page_size, with_facets, alias=PRIMARY)
            return {field: getattr(found, field) for field in CACHED_FIELDS}

        found = catalog_cache.get_or_fill(catalog_cache.search_key(digest), fill, catalog_cache.LISTING_TTL)
        return SearchResult(page=page, page_size=page_size, **found)

    @_one_table_state
    def _search(
        self, words: list[str], cleaned: str, filters: SearchFilters, sort: str, page: int, page_size: int,
        with_facets: bool, *, alias: str,
    ) -> SearchResult:  # fmt: skip
        """Two or three short queries whatever the catalog's size:

        1. the "did you mean" corrections (the small lexicon);
        2. up to SAMPLE_LIMIT + 1 matches in storage order (a bitmap scan of the GIN index that
           stops there). At most SAMPLE_LIMIT matches: that is all of them, so the total, the
           facets and the ranking are exact. More: the total is estimated from how far into the
           table the sample reached, and the facets are the sample's counts scaled to it. When
           the planner expects BLOCK_SAMPLE_PLANNED matches or more, the sample is the matches
           among the rows of the table's sampled blocks instead, with their estimate (`_sample`);
        3. (more matches only) the page from the RANKED_CANDIDATES most popular matches, ranked
           by text relevance and popularity, the rest in popularity order; found through the
           popularity index (a bitmap AND with the GIN index), never by ranking every match.
        """
        corrections = self.corrections(words, alias=alias)
        completions, vectorless, finished_lexemes = self.text_state(words, alias=alias)
        last_is_prefix = words[-1] in corrections or completions != [words[-1]]  # else it is a finished word
        if words[-1] in corrections or len(completions) > PREFIX_COMPLETIONS:
            completions = []  # matched as a prefix
        matches = text_query(words, corrections, last_is_prefix=last_is_prefix, completions=completions)
        # The index is asked for what narrows: every word, or, when the last word has many
        # completions ("building s": 14 words, each a long posting list to step through beside
        # "building"), the finished words alone, each row they find then checked for the rest.
        # Only while the finished words find few enough rows for each to be checked
        # (ROW_CHECKED_MATCHES: "black zi" would read every black product) and are words at all
        # ("the no": stop words only, an empty query that would match nothing).
        indexed = matches
        if len(words) > 1 and len(completions) > INDEXED_COMPLETIONS and not vectorless and finished_lexemes:
            finished = text_query(words[:-1], corrections, last_is_prefix=False)
            planned, _ = self._planned_rows(
                Product.objects.using(alias).annotate(document=STORED_VECTOR).filter(document=finished).values("id"),
                alias=alias,
            )
            if planned <= ROW_CHECKED_MATCHES:
                indexed = finished
        # A product whose vector is not written yet is found by its title meanwhile; that branch
        # (an OR the planner can only take as a BitmapOr, which keeps the filters and popularity
        # out of the text index's scan) is added only while such a product exists.
        text_match = (
            Q(document=matches) | Q(document__isnull=True, title_vector=matches) if vectorless else Q(document=indexed)
        )
        if indexed is not matches:
            text_match &= Q(_RowMatches(F("document"), matches))

        def matching(wanted: SearchFilters, *, index_words: bool = True) -> QuerySet[Product]:
            """The matches; `index_words` False: with the filters on their columns only, the form
            whose row estimates the planner gets right (it takes the index words for further
            conditions) and whose price condition an index walk in price order can start from."""
            found = searchable_products(wanted, alias=alias) if index_words else filtered_products(wanted, alias=alias)
            return found.annotate(document=STORED_VECTOR, title_vector=TITLE_VECTOR).filter(text_match)

        relevance = sort == "relevance" or sort not in ORDERINGS
        score = self._score(matches, cleaned)
        products = matching(filters).annotate(score=score) if relevance else matching(filters)
        suggestion = " ".join(corrections.get(w, w) for w in words) if corrections else None
        start = (page - 1) * page_size
        # A chosen facet is counted without its own choice: those wider matches are read first,
        # each row saying whether it passes the choice too, and the rows that do are the sample
        # of the matches themselves whenever they can be (`_through_wider`): one read of the index.
        sample, total, table_rows, counted = None, None, 0, {}
        relaxed = relaxed_filters(filters) if with_facets else []
        if relaxed:
            facet, wider = relaxed[0]
            wide = matching(wider).annotate(score=score) if relevance else matching(wider)
            sample, total, table_rows, counted[facet] = self._through_wider(
                wide.annotate(passes=ExpressionWrapper(facet_condition(filters, facet, alias=alias), BooleanField())),
                plain=matching(wider, index_words=False), alias=alias, relevance=relevance, newest=sort == "newest",
            )  # fmt: skip

        def count(wanted: SearchFilters, facet: str) -> dict:
            if facet in counted:
                return counted[facet]
            return self._sampled_facets(matching(wanted), plain=matching(wanted, index_words=False), alias=alias)

        if sample is None:
            sample = self._sample(products, plain=matching(filters, index_words=False), alias=alias,
                                  relevance=relevance, newest=sort == "newest")  # fmt: skip
        if total is None and getattr(sample, "estimate", None) is not None:  # the matches in the sampled blocks
            total, table_rows = sample.estimate[:2]
        popular = total is None and len(sample) > SAMPLE_LIMIT and sample[0].get("by_popularity", False)
        if total is None and len(sample) <= SAMPLE_LIMIT:  # every match: exact
            key = _SORT_KEYS["relevance" if relevance else sort]
            ids = [row["id"] for row in sorted(sample, key=key)[start : start + page_size]]
            facets = (selection_facets(_facets_of(sample, scale=1.0, alias=alias), filters, count) if with_facets
                      else empty_facets())  # fmt: skip
            return SearchResult(ids=ids, total=len(sample), facets=facets, suggestion=suggestion, page=page,
                                page_size=page_size)  # fmt: skip
        if total is None:
            sample = sample[:SAMPLE_LIMIT]
            total, table_rows = self._estimate_total(products, alias=alias)
        if popular and (relevance or sort == "popularity") and start + page_size <= SAMPLE_LIMIT:
            # the sample is the SAMPLE_LIMIT most popular matches already: the page is among them
            rows = sorted(sample, key=_SORT_KEYS["popularity"])
            if relevance:
                rows = sorted(rows[:RANKED_CANDIDATES], key=_SORT_KEYS["relevance"]) + rows[RANKED_CANDIDATES:]
            ids = [row["id"] for row in rows[start : start + page_size]]
        elif relevance or sort == "popularity":
            ids = self._popular_page(products, alias=alias, total=total, table_rows=table_rows, start=start,
                                     page_size=page_size, relevance=relevance)  # fmt: skip
        else:  # price or newest: an ordered LIMIT (an index walk or a top-N sort of the matches)
            ordered = matching(filters, index_words=False).order_by(*ORDERINGS[sort])
            ids = list(ordered.values_list("pk", flat=True)[start : start + page_size])
        facets = (selection_facets(_facets_of(sample, scale=total / len(sample), alias=alias), filters, count) if with_facets
                  else empty_facets())  # fmt: skip
        return SearchResult(ids=ids, total=total, facets=facets, suggestion=suggestion, page=page,
                            page_size=page_size, total_is_estimate=True, facets_sampled=with_facets)  # fmt: skip

    @classmethod
    def _sample(
        cls, products: QuerySet[Product], *, alias: str, relevance: bool, newest: bool = False,
        plain: QuerySet[Product] | None = None, extra: tuple[str, ...] = (), flag: str | None = None,
    ) -> _Sample:  # fmt: skip
        """Up to SAMPLE_LIMIT + 1 matches with what facets, sorts and ranking read.

        Matches the planner expects in COMMON_SHARE of the table or more (a word of nearly every
        product) are read in popularity order, an index walk that stops at SAMPLE_LIMIT + 1 (a few
        thousand rows where a bitmap of the text index would hold a million); those rows carry
        `by_popularity`. Otherwise, when the planner expects BLOCK_SAMPLE_PLANNED matches or
        more, the matches among the rows of the table's sampled blocks, with their estimate
        (`_block_sample`; `flag` names a boolean column whose estimate comes with it). Otherwise,
        or when that walk or those blocks find too few, in storage order: only bitmap scans are
        allowed for this one query, so it never walks a whole table (a sequential scan misled by
        a poor estimate)."""
        columns = ["id", "category_id", "price", "attributes", "popularity", "brand_id"]
        if newest:  # decoding a timestamp per row costs more than the rest of the row: only for this sort
            columns.append("created_at")
        rows = products.order_by().values(*columns, *(["score"] if relevance else []), *extra)
        planned, table_rows = cls._planned_rows(
            (products if plain is None else plain).order_by().values("id"), alias=alias
        )
        if table_rows > 0 and planned >= COMMON_SHARE * table_rows:
            threshold = _popularity_at(POPULAR_SCAN_ROWS, alias=alias)
            walk = rows if threshold is None else rows.filter(popularity__gte=threshold)
            found = cls._run(walk.order_by("-popularity", "-id")[: SAMPLE_LIMIT + 1], alias=alias,
                             settings=(INDEX_ONLY_SQL, RESTORE_INDEX_SQL))  # fmt: skip
            if len(found) > SAMPLE_LIMIT:
                return _Sample({**row, "by_popularity": True} for row in found)
        if planned >= BLOCK_SAMPLE_PLANNED and (sampled := cls._block_sample(rows, alias=alias, flag=flag)) is not None:
            return sampled
        return _Sample(cls._run(rows[: SAMPLE_LIMIT + 1], alias=alias, settings=(BITMAP_ONLY_SQL, RESTORE_SCANS_SQL)))

    @classmethod
    def _block_sample(cls, rows: QuerySet, *, alias: str, flag: str | None = None) -> _Sample | None:
        """The matches among the rows of the table's sampled blocks (the blocks `_estimate_total`
        counts on), with their estimate, in one statement: a scan of some ESTIMATE_ROWS rows
        whatever the number of matches. A sample of blocks spread over the whole table, where
        the first matches in storage order are the ones written first.

        None, and the text index is read instead, when the planner expected many more matches
        than there are: fewer than BLOCK_SAMPLE_MIN in the blocks, or an estimate under three
        times SAMPLE_LIMIT (matches that may be few enough to be read and counted exactly: a
        brand's rows written together can fill the few sampled blocks that hold them); and when
        the table has no row count yet (never analyzed), which the blocks' share is scaled to.
        Every block (a table of ESTIMATE_ROWS rows or fewer) holding SAMPLE_LIMIT matches or
        fewer: every match, without an estimate, as the index read would give them."""
        with connections[alias].cursor() as cursor:
            percent, key, seen, table_rows = _sampled_blocks(cursor, alias)
            if table_rows <= 0:
                return None
            sql, params = rows.query.sql_with_params()
            sampled = _in_sampled_blocks(sql, percent)
            counted = "NULL" if seen is not _FORGOTTEN else _sampled_rows_sql(percent)
            cursor.execute(f"SELECT s.*, ({counted}) AS sampled_rows FROM ({sampled}) s", params)  # noqa: S608
            names = [c.name for c in cursor.description]
            found = _Sample(dict(zip(names, row, strict=True)) for row in cursor.fetchall())
        if percent >= 100 and len(found) <= SAMPLE_LIMIT:
            return found
        if len(found) < max(1, BLOCK_SAMPLE_MIN):
            return None
        if seen is _FORGOTTEN:
            seen = found[0]["sampled_rows"]
            _remember_sampled_rows(key, seen, percent)
        scale = table_rows / seen if seen else 0
        estimate = len(found) * scale
        if estimate < 3 * SAMPLE_LIMIT:
            return None
        flagged = sum(1 for row in found if row[flag]) * scale if flag else None
        found.estimate = (_estimated_total(estimate, table_rows), int(table_rows), flagged)
        return found

    @staticmethod
    def _planned_rows(rows: QuerySet, *, alias: str) -> tuple[float, int]:
        """(the rows the planner expects this query to return, the rows in the table): no row is read."""
        sql, params = rows.query.sql_with_params()
        with connections[alias].cursor() as cursor:
            table_rows = _table_size(cursor, alias)[1]
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
            plan = cursor.fetchone()[0]
        plan = json.loads(plan) if isinstance(plan, str) else plan
        return plan[0]["Plan"]["Plan Rows"], int(table_rows)

    @staticmethod
    def _run(rows: QuerySet, *, alias: str, settings: tuple[str, str]) -> list[dict]:
        """The rows of this query as dicts, planned with the scan settings `settings` sets for
        this transaction: a transaction of their own, which ends them, or the caller's, in which
        they are restored right after, so it plans as before."""
        sql, params = rows.query.sql_with_params()
        set_sql, restore_sql = settings
        connection = connections[alias]
        # a caller's transaction: an atomic block, or autocommit turned off (no atomic then commits)
        inside_callers = connection.in_atomic_block or not connection.get_autocommit()
        with transaction.atomic(using=alias, savepoint=False), connection.cursor() as cursor:
            cursor.execute(set_sql)
            before = cursor.fetchone()
            cursor.execute(sql, params)
            names = [c.name for c in cursor.description]
            found = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
            if inside_callers:
                cursor.execute(restore_sql, list(before[: restore_sql.count("%s")]))
        return found

    def _sampled_facets(
        self, products: QuerySet[Product], *, alias: str, plain: QuerySet[Product] | None = None
    ) -> dict:
        """Facets of these products: exact up to SAMPLE_LIMIT, else a sample's scaled to the estimate."""
        sample = self._sample(products, alias=alias, relevance=False, plain=plain)
        if sample.estimate is not None:
            return _facets_of(sample, scale=sample.estimate[0] / len(sample), alias=alias)
        if len(sample) <= SAMPLE_LIMIT:
            return _facets_of(sample, scale=1.0, alias=alias)
        sample = sample[:SAMPLE_LIMIT]
        return _facets_of(sample, scale=self._estimate_total(products, alias=alias)[0] / len(sample), alias=alias)

    def _through_wider(
        self, wide: QuerySet[Product], *, plain: QuerySet[Product], alias: str, relevance: bool, newest: bool
    ) -> tuple[list[dict] | None, int | None, int, dict]:
        """One read of the wider matches (a chosen facet without its choice; each row's `passes`
        says whether it makes the choice) for that facet's counts and, whenever they can be, the
        sample of the matches themselves: (the sample or None, its estimated total or None when
        the sample is every match, the table's rows, the facet's counts).

        Every wider match read (SAMPLE_LIMIT or fewer): the rows that pass are every match, so
        the search is exact. More, in storage order: the passing rows are the first matches in
        storage order, a sample of them, whenever there are DERIVED_SAMPLE_MIN of them and the
        matches are estimated at 3 * SAMPLE_LIMIT or more (fewer could be every match, which is
        then read and counted). Their estimate is counted on the same fixed sample of the
        table's blocks as the wider one, in the same statement, not from the passing rows'
        share of the first wider matches: rows lie in storage order as they were written, a
        brand's products together, so that share says little about the whole table. Otherwise
        (also for wider matches read in popularity order) the matches are read as before: None.
        Wider matches sampled from the table's blocks: the passing ones are a sample of the
        matches spread over the table, whenever there are BLOCK_SAMPLE_MIN of them and they
        promise 3 * SAMPLE_LIMIT matches or more."""
        rows = self._sample(wide, plain=plain, alias=alias, relevance=relevance, newest=newest, extra=("passes",),
                            flag="passes")  # fmt: skip
        # the blocks' sample whole; of the index's, the first SAMPLE_LIMIT (it reads one more)
        passing = [row for row in (rows if rows.estimate is not None else rows[:SAMPLE_LIMIT]) if row["passes"]]
        if rows.estimate is not None:  # the wider matches in the table's sampled blocks
            wide_total, table_rows, passing_total = rows.estimate
            counted = _facets_of(rows, scale=wide_total / len(rows), alias=alias)
            if len(passing) < BLOCK_SAMPLE_MIN or passing_total < 3 * SAMPLE_LIMIT:
                return None, None, 0, counted
            return passing, _round_estimate(passing_total), table_rows, counted
        if len(rows) <= SAMPLE_LIMIT:
            return passing, None, 0, _facets_of(rows, scale=1.0, alias=alias)
        (wide_total, table_rows), passing_total = self._estimate_total(wide, alias=alias, flag="passes")
        counted = _facets_of(rows[:SAMPLE_LIMIT], scale=wide_total / SAMPLE_LIMIT, alias=alias)
        if rows[0].get("by_popularity") or len(passing) < DERIVED_SAMPLE_MIN or passing_total < 3 * SAMPLE_LIMIT:
            return None, None, 0, counted
        return passing, _round_estimate(passing_total), table_rows, counted

    @classmethod
    def _estimate_total(cls, products: QuerySet[Product], *, alias: str, flag: str | None = None):
        """(estimated matches, rows in the table): the share of matching rows among the rows of a
        fixed sample of the table's blocks (TABLESAMPLE SYSTEM, about ESTIMATE_ROWS rows, the same
        blocks every time), times the table's rows. It counts rows, not blocks, so a table whose
        rows are not spread evenly over its blocks (half of it empty after a mass update, as the
        popularity ranking's rewrite of every row leaves it) is estimated as well as a packed one.

        With `flag` (a boolean column of these products): ((estimate, rows), the unrounded
        estimate of the rows whose flag is true), counted in the same statement."""
        with connections[alias].cursor() as cursor:
            percent, key, seen, rows = _sampled_blocks(cursor, alias)
            sql, params = products.order_by().values("id", *([flag] if flag else [])).query.sql_with_params()
            sampled = _in_sampled_blocks(sql, percent)
            flagged_sql = f'count(*) FILTER (WHERE s."{flag}")' if flag else "0"
            counts = f"SELECT count(*) AS n, {flagged_sql} AS f FROM ({sampled}) s"  # noqa: S608
            if seen is not _FORGOTTEN:
                cursor.execute(f"SELECT m.n, m.f FROM ({counts}) m", params)  # noqa: S608
                matched, flagged = cursor.fetchone()
            else:
                cursor.execute(f"SELECT ({_sampled_rows_sql(percent)}), m.n, m.f FROM ({counts}) m", params)  # noqa: S608
                seen, matched, flagged = cursor.fetchone()
                _remember_sampled_rows(key, seen, percent)
        estimate = matched * rows / seen if seen else 0
        total = _estimated_total(estimate, rows), int(rows)
        return (total, flagged * rows / seen if seen else 0.0) if flag else total

    @staticmethod
    def _popular_page(
        products: QuerySet[Product], *, alias: str, total: int, table_rows: int, start: int, page_size: int,
        relevance: bool,
    ) -> list[int]:  # fmt: skip
        """The page of the matches in this order: the RANKED_CANDIDATES most popular ones by
        score (relevance) or popularity, then the others by popularity. Reads only the matches
        among the products above a popularity threshold chosen to hold about twice the rows
        needed (a bitmap AND of the popularity and GIN indexes); a threshold that held too few
        (popularity and words correlate) is lowered, at most three times, then dropped."""
        window = max(RANKED_CANDIDATES if relevance else 0, start + page_size)
        top = window * 2 * table_rows / max(total, 1)
        columns = ("id", "popularity", "score") if relevance else ("id", "popularity")
        rows: list = []
        for attempt in range(4):
            threshold = None if top >= table_rows or attempt == 3 else _popularity_at(int(top), alias=alias)
            candidates = products if threshold is None else products.filter(popularity__gte=threshold)
            rows = list(candidates.order_by("-popularity", "-id").values_list(*columns)[:window])
            if len(rows) >= window or threshold is None:
                break
            top *= 8
        if relevance:
            head = sorted(rows[:RANKED_CANDIDATES], key=lambda r: (-r[2], -r[1], -r[0]))
            rows = head + rows[RANKED_CANDIDATES:]
        return [row[0] for row in rows[start : start + page_size]]

    @_one_table_state
    def _browse(
        self, *, filters: SearchFilters, sort: str, page: int, page_size: int, with_facets: bool
    ) -> SearchResult:
        """No words: the most popular products (or the chosen sort) passing the filters. The same
        for every customer, so it is cached with the listings (filled from the primary). Facets
        are counted exactly up to SAMPLE_LIMIT products and scaled from a sample beyond."""
        ordering = ORDERINGS.get(sort, ORDERINGS["popularity"])

        def fill() -> dict:
            products = filtered_products(filters, alias=PRIMARY)
            start = (page - 1) * page_size
            ids = list(products.order_by(*ordering).values_list("pk", flat=True)[start : start + page_size])
            sample = self._sample(products, alias=PRIMARY, relevance=False)
            if sample.estimate is not None:  # the matches in the table's sampled blocks
                total, estimated = sample.estimate[0], True
            elif len(sample) <= SAMPLE_LIMIT:
                total, estimated = len(sample), False
            else:
                sample, estimated = sample[:SAMPLE_LIMIT], True
                total = self._estimate_total(products, alias=PRIMARY)[0]
            facets = empty_facets()
            if with_facets:
                facets = selection_facets(
                    _facets_of(sample, scale=total / max(1, len(sample)), alias=PRIMARY), filters,
                    lambda wanted, facet: self._sampled_facets(filtered_products(wanted, alias=PRIMARY), alias=PRIMARY),
                )  # fmt: skip
            return {"ids": ids, "total": total, "facets": facets, "total_is_estimate": estimated,
                    "facets_sampled": estimated and with_facets}  # fmt: skip

        if filters.in_stock:  # stock changes with every sale: never cached
            found = fill()
        else:
            digest = hashlib.sha256(repr((filters, sort, page, page_size, with_facets)).encode()).hexdigest()[:32]
            key = catalog_cache.listing_key("search-browse", digest)
            found = catalog_cache.get_or_fill(key, fill, catalog_cache.LISTING_TTL)
        return SearchResult(suggestion=None, page=page, page_size=page_size, **found)

    @staticmethod
    def _score(matches: SearchQuery, cleaned: str):
        rank = SearchRank(Coalesce(F("document"), F("title_vector")), matches)
        popularity = Value(1.0) + Value(POPULARITY_WEIGHT) * Ln(Value(1.0) + Greatest(F("popularity"), Value(0.0)))
        exact = Case(When(title__iexact=cleaned, then=Value(EXACT_TITLE_BONUS)), default=Value(0.0))
        return rank * popularity + exact

    @staticmethod
    def text_state(words: list[str], *, alias: str) -> tuple[list[str], bool, bool]:
        """(the lexicon's words that start with the last word, up to PREFIX_COMPLETIONS + 1:
        only the word itself when the customer has finished typing it; whether any product has
        no vector yet; whether the words before the last are more than stop words). One
        statement."""
        word = words[-1]
        with connections[alias].cursor() as cursor:
            cursor.execute(TEXT_STATE_SQL, [word, word, PREFIX_COMPLETIONS + 1, words[:-1]])
            completions, vectorless, finished_lexemes = cursor.fetchone()
        return list(completions), bool(vectorless), bool(finished_lexemes)

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

    # --- Writing ---------------------------------------------------------------------------------

    def index(self, *, product_ids: list[int], fresh_vector_ids: Collection[int] = ()) -> None:
        """Recompute these products' vectors and add their words to the lexicon (on the primary,
        one short transaction per 1000 products). Idempotent; unknown ids are skipped.

        `fresh_vector_ids`: those whose vector was computed by the very statement that wrote the
        row (the CSV import's INSERT, under a share lock on the names it reads): only their words
        are added, their vectors are not computed a second time to be compared."""
        ids = sorted(set(product_ids))
        fresh = set(fresh_vector_ids)
        for start in range(0, len(ids), INDEX_BATCH):
            chunk = ids[start : start + INDEX_BATCH]
            stale = [i for i in chunk if i not in fresh]
            with transaction.atomic(using=PRIMARY), connections[PRIMARY].cursor() as cursor:
                if stale:  # a row whose vector is right already is not written again
                    self._update_vectors(cursor, "catalog_product.id = ANY(%s::bigint[])", [stale], skip_current=True)
                self._add_words(cursor, "catalog_product.is_active AND catalog_product.id = ANY(%s::bigint[])", [chunk])
        catalog_cache.invalidate_listings()  # cached search results may miss the new words

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
                with connections[PRIMARY].cursor() as cursor:
                    where = "catalog_product.id >= %s AND catalog_product.id < %s"
                    done += self._update_vectors(cursor, where, [low, low + batch_size])
                if progress:
                    progress(done)
        with transaction.atomic(using=PRIMARY), connections[PRIMARY].cursor() as cursor:
            cursor.execute(f"DELETE FROM {WORDS_TABLE}")  # noqa: S608
            self._add_words(cursor, "catalog_product.is_active", [])
        catalog_cache.invalidate_listings()
        return done

    @staticmethod
    def _update_vectors(cursor, where: str, params: list, *, skip_current: bool = False) -> int:
        """Write the vectors of the rows `where` picks (a condition on the table itself, named
        "catalog_product"); with `skip_current`, only those whose stored vector differs. One UPDATE
        of the table alone: the self-join it replaces let the planner hash-join a scan of the whole
        table for every batch, so indexing cost grew with the catalog (42 ms of 60 at 140,000 rows)."""
        vector_sql, vector_params = document_vector_sql()
        sql = f"UPDATE catalog_product SET search_vector = {vector_sql} WHERE {where}"  # noqa: S608 (constant SQL)
        if skip_current:  # the vector is computed again only for a row that is written
            sql += f" AND search_vector IS DISTINCT FROM {vector_sql}"
        cursor.execute(sql, [*vector_params, *params, *(vector_params if skip_current else [])])
        return cursor.rowcount

    @staticmethod
    def _add_words(cursor, where: str, params: list) -> None:
        # Words in a fixed order, so two concurrent index tasks never wait on each other in a cycle.
        cursor.execute(
            f"""
            INSERT INTO {WORDS_TABLE} (word)
            SELECT DISTINCT lower(m[1]) FROM catalog_product
            LEFT JOIN catalog_brand b ON b.id = catalog_product.brand_id
            LEFT JOIN catalog_category c ON c.id = catalog_product.category_id
            LEFT JOIN catalog_category pc ON pc.id = c.parent_id
            CROSS JOIN LATERAL regexp_matches(
                catalog_product.title || ' ' || coalesce(b.name, '') || ' ' || coalesce(c.name, '') || ' '
                || coalesce(pc.name, '') || ' '
                || coalesce((SELECT string_agg(v.value, ' ') FROM jsonb_each_text(catalog_product.attributes) v), ''),
                %s, 'g') AS m
            WHERE ({where}) AND m[1] ~ '[[:alpha:]]'
            ORDER BY 1
            ON CONFLICT (word) DO NOTHING
            """,  # noqa: S608 (constant SQL; values are parameters)
            [f"({WORD_PATTERN})", *params],
        )
