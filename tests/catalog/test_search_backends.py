"""Each search backend's own parts: the embedded fallback, PostgreSQL's index upkeep, and the
Elasticsearch backend's requests (checked without a server: no Elasticsearch runs here), plus
the API schema. The shared behaviour is in test_search_contract.py."""

from __future__ import annotations

import io
import json
import re
from contextlib import contextmanager
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from rest_framework.test import APIClient

from catalog import search, selectors, services
from catalog.models import Product
from catalog.search import SearchFilters
from catalog.search.elastic import (
    ElasticsearchBackend,
    alias_swap_actions,
    result_from_response,
    routing_for,
    search_body,
    stale_copies_query,
)
from catalog.search.simple import SimpleBackend
from tests.catalog.factories import BrandFactory, CategoryFactory, ProductFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def shoes():
    fashion = CategoryFactory(name="Fashion", slug="fashion")
    shoes = CategoryFactory(name="Shoes", slug="fashion-shoes", parent=fashion)
    acme = BrandFactory(name="Acme", slug="acme")
    return {
        "category": shoes,
        "trail": ProductFactory(title="Acme Trail Running Shoe", category=shoes, brand=acme, price=Decimal("89.00"),
                                attributes={"colour": "Red"}, popularity=3),
        "road": ProductFactory(title="Road Running Shoe", category=shoes, price=Decimal("30.00"),
                               attributes={"colour": "Blue"}, popularity=9),
        "hidden": ProductFactory(title="Hidden Running Shoe", category=shoes, is_active=False, popularity=99),
    }  # fmt: skip


# --- The embedded fallback (SQLite) ---------------------------------------------------------------


def test_the_fallback_finds_titles_containing_every_word_with_the_same_result_shape(shoes):
    result = SimpleBackend().search(query="shoe RUNNING", filters=SearchFilters(), sort="relevance", page=1,
                                    page_size=24, with_facets=True)  # fmt: skip
    assert result.ids == [shoes["road"].pk, shoes["trail"].pk]  # the more popular first; never the hidden one
    assert result.total == 2 and result.suggestion is None and result.cards is None
    assert set(result.facets) == {"categories", "brands", "price_bands", "attributes"}
    assert result.facets["brands"] == [{"slug": "acme", "name": "Acme", "count": 1}]
    assert [(b["key"], b["count"]) for b in result.facets["price_bands"]] == [("25-50", 1), ("50-100", 1)]
    assert result.facets["categories"][0]["count"] == 2


def test_the_fallback_puts_the_exact_title_first_and_applies_filters(shoes):
    backend = SimpleBackend()
    exact = backend.search(query="acme trail running shoe", filters=SearchFilters(), sort="relevance", page=1,
                           page_size=24, with_facets=False)  # fmt: skip
    assert exact.ids == [shoes["trail"].pk]
    blue = backend.search(query="shoe", filters=SearchFilters(attributes=(("colour", ("Blue",)),)), sort="relevance",
                          page=1, page_size=24, with_facets=False)  # fmt: skip
    assert blue.ids == [shoes["road"].pk]


@pytest.mark.skipif(connection.vendor == "postgresql", reason="the embedded default is SQLite")
def test_sqlite_searches_with_the_fallback_and_has_no_search_column(client, shoes):
    assert isinstance(search.get_backend(), SimpleBackend)
    columns = [c.name for c in connection.introspection.get_table_description(connection.cursor(), "catalog_product")]
    assert "search_vector" not in columns  # the migration is PostgreSQL only
    html = client.get("/search/", {"q": "trail shoe"}).content.decode()
    assert "Acme Trail Running Shoe" in html and "Road Running Shoe" not in html
    body = APIClient().get("/api/v1/search", {"q": "running"}).json()
    assert {r["id"] for r in body["results"]} == {shoes["trail"].pk, shoes["road"].pk}


def test_the_search_page_and_api_work_on_whatever_database_is_configured(client, shoes):
    search.get_backend().rebuild(batch_size=100)  # PostgreSQL: the vectors of the factory-made rows
    assert "Acme Trail Running Shoe" in client.get("/search/", {"q": "acme trail"}).content.decode()
    body = APIClient().get("/api/v1/search", {"q": "acme trail", "category": "fashion"}).json()
    assert [r["id"] for r in body["results"]] == [shoes["trail"].pk]
    assert client.get("/search/suggest/", {"q": "acme tr"}).json()["products"][0]["title"] == "Acme Trail Running Shoe"


# --- PostgreSQL: keeping the index current ------------------------------------------------------


@pytest.mark.postgres
def test_search_reindex_gives_products_written_without_the_hooks_their_vectors(shoes, settings):
    settings.SEARCH_BACKEND = "database"
    # Factory rows skip the services: no vector yet, so they are found by their title meanwhile,
    # but no word of theirs is in the "did you mean" lexicon.
    assert search.search(query="trail").ids == [shoes["trail"].pk]
    assert search.search(query="runnign").ids == [] and search.search(query="runnign").suggestion is None
    out = io.StringIO()
    call_command("search_reindex", "--batch-size", "2", stdout=out)
    assert "rebuilt: 3 products" in out.getvalue()
    assert search.search(query="trail").ids == [shoes["trail"].pk]
    typo = search.search(query="runnign")
    assert typo.suggestion == "running" and set(typo.ids) == {shoes["trail"].pk, shoes["road"].pk}


@pytest.mark.postgres
def test_indexing_some_products_writes_their_vectors_and_words_and_leaves_the_others_alone(shoes, settings):
    settings.SEARCH_BACKEND = "database"

    def stored() -> dict[int, bool]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT id, search_vector IS NOT NULL FROM catalog_product")
            return dict(cursor.fetchall())

    def words() -> set[str]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT word FROM catalog_searchword")
            return {word for (word,) in cursor.fetchall()}

    search.index(product_ids=[shoes["trail"].pk, shoes["hidden"].pk])

    assert stored() == {shoes["trail"].pk: True, shoes["road"].pk: False, shoes["hidden"].pk: True}
    assert {"acme", "trail", "red"} <= words() and not {"road", "blue", "hidden"} & words()  # active products only


@pytest.mark.postgres
def test_demo_products_are_searchable_as_soon_as_their_batch_commits(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.load_demo_catalog(products=30, images=False)
    product = Product.objects.order_by("pk").first()
    assert product.pk in search.search(query=product.title, page_size=5).ids[:1]


@pytest.mark.postgres
def test_a_product_without_a_vector_yet_is_found_by_its_title_through_every_filter(shoes, settings):
    """Only the factory's rows lack vectors here (they skip the services): the title branch is
    in the search, with the filters, until they are indexed; a hidden one never shows."""
    settings.SEARCH_BACKEND = "database"
    acme = SearchFilters(brands=("acme",), category_ids=(shoes["category"].pk,))
    priced = SearchFilters(price_min=Decimal("80"), price_max=Decimal("89.00"))
    assert search.search(query="running", filters=acme).ids == [shoes["trail"].pk]
    assert search.search(query="running", filters=priced).ids == [shoes["trail"].pk]
    assert search.search(query="hidden").ids == []
    search.get_backend().rebuild(batch_size=100)
    assert search.search(query="running", filters=acme).ids == [shoes["trail"].pk]
    assert search.search(query="running", filters=priced).ids == [shoes["trail"].pk]


@pytest.mark.postgres
def test_a_new_price_needs_no_new_words_and_is_filtered_at_once(shoes, django_capture_on_commit_callbacks):
    search.get_backend().rebuild(batch_size=100)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.update_product_price(product_id=shoes["trail"].pk, price=Decimal("10.00"))
    assert len(callbacks) == 2  # the cache invalidation and the index task
    assert search.search(query="shoe", filters=SearchFilters(price_max=Decimal("15"))).ids == [shoes["trail"].pk]


@pytest.mark.postgres
def test_a_broken_index_task_never_breaks_the_save(shoes, monkeypatch, django_capture_on_commit_callbacks):
    from catalog import tasks

    def broker_down(**kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(tasks.index_products_task, "delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        services.set_products_active(product_ids=[shoes["road"].pk], active=False)
    assert Product.objects.get(pk=shoes["road"].pk).is_active is False


# --- Elasticsearch: the requests, checked without a server --------------------------------------


def test_the_elasticsearch_query_forgives_typos_matches_prefixes_and_filters():
    filters = SearchFilters(category_ids=(3, 4), brands=("acme",), price_min=Decimal("10"),
                            price_max=Decimal("99.99"), in_stock=True, attributes=(("colour", ("Red", "Blue")),))  # fmt: skip
    body = search_body(query="Trail  runnign sh", filters=filters, sort="relevance", page=2, page_size=10,
                       with_facets=True)  # fmt: skip
    boolean = body["query"]["function_score"]["query"]["bool"]
    assert len(boolean["must"]) == 3  # every word must match
    first_word = boolean["must"][0]["bool"]["should"]
    assert first_word[0]["multi_match"]["query"] == "trail"
    assert first_word[0]["multi_match"]["fuzziness"] == "AUTO"
    assert first_word[0]["multi_match"]["fields"][0] == "title^3"
    assert {"match": {"title.autocomplete": {"query": "sh"}}} in boolean["must"][2]["bool"]["should"]
    assert {"term": {"title.exact": {"value": "trail runnign sh", "boost": 50}}} in boolean["should"]
    assert boolean["filter"] == [
        {"terms": {"category_id": [3, 4]}},
        {"terms": {"brand_slug": ["acme"]}},
        {"range": {"price": {"gte": 10.0, "lte": 99.99}}},
        {"term": {"in_stock": True}},
        {"terms": {"attributes": ["colour=Red", "colour=Blue"]}},
    ]
    assert body["from"] == 10 and body["size"] == 10 and body["track_total_hits"] is True
    assert set(body["aggs"]) == {"categories", "brands", "price_bands", "attributes"}
    assert body["suggest"]["did_you_mean"]["term"]["field"] == "title.plain"
    assert body["_source"] == ["card"]  # results render from the mini description


def test_the_elasticsearch_query_for_no_words_lists_the_most_popular():
    body = search_body(query="  &&& ", filters=SearchFilters(), sort="relevance", page=1, page_size=24,
                       with_facets=False)  # fmt: skip
    assert body["query"] == {"bool": {"filter": []}}
    assert body["sort"][0] == {"popularity": "desc"}
    assert "aggs" not in body and "suggest" not in body


def test_a_search_inside_one_top_level_category_asks_one_shard():
    tree = {"nodes": {1: {"parent_id": None}, 2: {"parent_id": 1}, 3: {"parent_id": 1}, 9: {"parent_id": None}}}
    assert routing_for(SearchFilters(category_ids=(1, 2, 3)), tree) == "1"
    assert routing_for(SearchFilters(category_ids=(3,)), tree) == "1"
    assert routing_for(SearchFilters(category_ids=(2, 9)), tree) is None
    assert routing_for(SearchFilters(), tree) is None


def test_an_elasticsearch_answer_becomes_the_common_result():
    tree = {"nodes": {7: {"id": 7, "slug": "shoes", "name": "Shoes", "parent_id": None}}}
    card = {"id": 5, "title": "Acme Trail Running Shoe", "url": "/p/acme/"}
    response = {
        "hits": {"total": {"value": 41}, "hits": [{"_id": "5", "_source": {"card": card}}]},
        "aggregations": {
            "categories": {"buckets": [{"key": 7, "doc_count": 41}]},
            "brands": {"buckets": [{"key": "acme", "doc_count": 41, "name": {"buckets": [{"key": "Acme"}]}}]},
            "price_bands": {"buckets": [{"key": "0", "doc_count": 0}, {"key": "3", "doc_count": 41}]},
            "attributes": {"buckets": [{"key": "colour=Red", "doc_count": 40}, {"key": "colour=Blue", "doc_count": 1}]},
        },
        "suggest": {"did_you_mean": [{"text": "acme", "options": []},
                                     {"text": "runnign", "options": [{"text": "running"}]}]},
    }  # fmt: skip
    result = result_from_response(response, page=1, page_size=24, tree=tree)
    assert result.ids == [5] and result.total == 41 and result.cards == [card]
    assert result.suggestion == "acme running"
    assert result.facets["categories"] == [{"id": 7, "slug": "shoes", "name": "Shoes", "count": 41}]
    assert result.facets["brands"] == [{"slug": "acme", "name": "Acme", "count": 41}]
    assert [(b["min"], b["max"], b["count"]) for b in result.facets["price_bands"]] == [("100.00", "249.99", 41)]
    assert result.facets["attributes"][0]["values"] == [{"value": "Blue", "count": 1}, {"value": "Red", "count": 40}]


def test_indexing_deletes_copies_left_under_an_old_routing_and_removed_products():
    query = stale_copies_query({1: "10", 2: "20"}, [1, 2, 3])
    assert query["bool"]["filter"] == [{"ids": {"values": ["1", "2", "3"]}}]
    assert {"bool": {"filter": [{"ids": {"values": ["1"]}}, {"term": {"_routing": "10"}}]}} in query["bool"]["must_not"]
    assert len(query["bool"]["must_not"]) == 2  # product 3 is kept nowhere: deleted everywhere


def test_the_alias_moves_to_the_new_index_in_one_atomic_update():
    assert alias_swap_actions(alias="p", new_index="p-2", old_indices=["p-1"], alias_is_index=False) == [
        {"remove": {"index": "p-1", "alias": "p"}},
        {"add": {"index": "p-2", "alias": "p"}},
    ]
    assert alias_swap_actions(alias="p", new_index="p-2", old_indices=[], alias_is_index=True)[0] == {
        "remove_index": {"index": "p"}
    }


def test_the_document_carries_a_mini_description_and_is_routed_by_its_top_category(shoes, settings):
    from catalog.search.documents import ProductDocument

    mapping = ProductDocument._index.to_dict()
    assert mapping["mappings"]["_routing"] == {"required": True}
    assert mapping["mappings"]["properties"]["title"]["analyzer"] == "english"
    assert "shop_autocomplete" in mapping["settings"]["analysis"]["analyzer"]
    product = ProductDocument().get_queryset().get(pk=shoes["trail"].pk)
    product.search_card = selectors.get_product_cards(product_ids=[product.pk])[0]
    document = ProductDocument().prepare(product)
    assert document["card"]["title"] == "Acme Trail Running Shoe" and document["card"]["price"] == "89.00"
    assert document["card"]["url"] == product.get_absolute_url() and document["card"]["brand"] == "Acme"
    assert document["category_path"] == "Fashion > Shoes"
    assert document["attributes"] == ["colour=Red"] and document["popularity"] == 3.0
    assert ProductDocument.routing(product) == str(shoes["category"].parent_id)


class FakeIndices:
    def __init__(self, log):
        self.log = log

    def __getattr__(self, name):
        def call(**kwargs):
            self.log.append((f"indices.{name}", kwargs))
            return {"p-old": {}} if name == "get_alias" else name == "exists_alias"

        return call


class FakeClient:
    """Records every call the backend makes; answers like a server with one old index behind the alias."""

    def __init__(self):
        self.log: list = []
        self.indices = FakeIndices(self.log)

    def delete_by_query(self, **kwargs):
        self.log.append(("delete_by_query", kwargs))


def test_reindex_swaps_the_alias_only_after_every_product_is_written(shoes, settings, monkeypatch):
    settings.ELASTICSEARCH_INDEX = "p"
    client, written = FakeClient(), []

    def bulk(_client, actions, **kwargs):
        written.extend(actions)
        client.log.append(("bulk", kwargs))

    monkeypatch.setattr("elasticsearch.helpers.bulk", bulk)
    assert ElasticsearchBackend(client=client).rebuild(batch_size=1) == 2
    calls = [name for name, _ in client.log]
    assert calls[0] == "indices.create" and calls.index("indices.update_aliases") > calls.index("indices.refresh")
    assert calls.count("bulk") >= 2 and max(i for i, c in enumerate(calls) if c == "bulk") < calls.index(
        "indices.refresh"
    )
    new_index = client.log[0][1]["index"]
    assert {a["_index"] for a in written} == {new_index} and {a["_id"] for a in written} == {
        shoes["trail"].pk,
        shoes["road"].pk,
    }
    assert {a["_routing"] for a in written} == {str(shoes["category"].parent_id)}
    swap = dict(client.log)["indices.update_aliases"]["body"]["actions"]
    assert swap == [{"remove": {"index": "p-old", "alias": "p"}}, {"add": {"index": new_index, "alias": "p"}}]
    assert ("indices.delete", {"index": "p-old", "ignore_unavailable": True}) in client.log


def test_a_failed_reindex_deletes_its_new_index_and_leaves_the_alias_alone(shoes, settings, monkeypatch):
    settings.ELASTICSEARCH_INDEX = "p"
    client = FakeClient()

    def bulk(_client, actions, **kwargs):
        raise ConnectionError("the cluster went away")

    monkeypatch.setattr("elasticsearch.helpers.bulk", bulk)
    with pytest.raises(ConnectionError):
        ElasticsearchBackend(client=client).rebuild(batch_size=1)
    calls = [name for name, _ in client.log]
    assert "indices.update_aliases" not in calls
    assert calls[-1] == "indices.delete" and client.log[-1][1]["index"] == client.log[0][1]["index"]


def test_indexing_writes_active_products_through_the_alias_and_drops_the_rest(shoes, settings, monkeypatch):
    settings.ELASTICSEARCH_INDEX = "p"
    client, written = FakeClient(), []
    monkeypatch.setattr("elasticsearch.helpers.bulk", lambda _c, actions, **kw: written.append((actions, kw)))
    ids = [shoes["trail"].pk, shoes["hidden"].pk]
    ElasticsearchBackend(client=client).index(product_ids=ids)
    ((actions, options),) = written
    assert [a["_id"] for a in actions] == [shoes["trail"].pk] and actions[0]["_index"] == "p"
    assert options["require_alias"] is True  # never a stray index with a guessed mapping
    deleted = dict(client.log)["delete_by_query"]["body"]["query"]
    assert deleted["bool"]["filter"] == [{"ids": {"values": sorted(str(i) for i in ids)}}]


# --- The API schema -----------------------------------------------------------------------------


def test_the_schema_documents_search_with_its_parameters_and_errors(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/api/v1/search"]["get"]
    assert {"q", "category", "brand", "price_min", "sort", "page", "page_size"} <= {
        p["name"] for p in operation["parameters"]
    }
    assert {"200", "400", "404", "503"} <= set(operation["responses"])
    assert "/api/v1/search/suggest" in schema["paths"]


# --- PostgreSQL: bounded work on large result sets ----------------------------------------------


@pytest.mark.postgres
def test_past_the_sample_limit_the_total_is_estimated_and_the_facets_sampled(shoes, settings, monkeypatch):
    from catalog.search import postgres

    settings.SEARCH_BACKEND = "database"
    search.get_backend().rebuild(batch_size=100)
    monkeypatch.setattr(postgres, "SAMPLE_LIMIT", 1)
    monkeypatch.setattr(postgres, "RANKED_CANDIDATES", 2)
    result = search.search(query="running shoe")
    assert result.total_is_estimate and result.facets_sampled and result.total >= 2
    assert result.ids == [shoes["road"].pk, shoes["trail"].pk]  # ranked among the most popular; never the hidden one
    body = APIClient().get("/api/v1/search", {"q": "running shoe", "sort": "popularity"}).json()
    assert body["count_is_estimate"] is True and body["facets_sampled"] is True
    assert [r["id"] for r in body["results"]] == [shoes["road"].pk, shoes["trail"].pk]


@pytest.mark.postgres
def test_up_to_the_sample_limit_the_total_and_facets_are_exact(shoes, settings):
    settings.SEARCH_BACKEND = "database"
    search.get_backend().rebuild(batch_size=100)
    result = search.search(query="running shoe")
    assert (result.total, result.total_is_estimate, result.facets_sampled) == (2, False, False)
    body = APIClient().get("/api/v1/search", {"q": "running"}).json()
    assert body["count"] == 2 and body["count_is_estimate"] is False and body["facets_sampled"] is False


# --- PostgreSQL: the filters inside the text index (migration 0014) -----------------------------


@pytest.mark.postgres
def test_the_search_index_is_built_on_the_filter_words_the_search_asks_for():
    """Migration 0014 holds its own copy of the filter words' SQL: it must be the search's, or
    the planner would not match the search's conditions to the index (and read the table)."""
    from catalog.search import postgres

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "CREATE INDEX search_filters_as_the_code_has_it ON catalog_product USING gin"
            f" (search_vector, ({postgres.filter_vector_sql()}))"
        )
        cursor.execute(
            "SELECT replace(pg_get_indexdef(%s::regclass), %s, ''), replace(pg_get_indexdef(%s::regclass), %s, '')",
            ["product_search_filters_gin", "product_search_filters_gin",
             "search_filters_as_the_code_has_it", "search_filters_as_the_code_has_it"],
        )  # fmt: skip
        migrated, code = cursor.fetchone()
        cursor.execute("SELECT to_regclass('product_search_vector_gin')")
        replaced = cursor.fetchone()[0]
        transaction.set_rollback(True)
    assert migrated == code and "to_tsvector('simple'::regconfig" in migrated
    assert replaced is None  # the vector's own index is gone: this one answers text alone too


@pytest.mark.postgres
def test_every_price_in_a_searched_range_is_in_a_band_the_search_asks_the_index_for():
    from catalog.search.postgres import PRICE_BAND_EDGES, filter_vector_sql, price_bands_between, price_words

    cent = Decimal("0.01")
    prices = sorted({Decimal(e) + d for e in (0, *PRICE_BAND_EDGES) for d in (-cent, 0, cent) if Decimal(e) + d >= 0}
                    | {Decimal("1100"), Decimal("99999.99")})  # fmt: skip
    words = filter_vector_sql("v.")
    with connection.cursor() as cursor:  # the band words as PostgreSQL computes them for the index
        cursor.execute(
            f"SELECT v.price, {words}::text FROM (SELECT 7::bigint AS category_id, NULL::bigint AS brand_id, p AS price"  # noqa: S608
            " FROM unnest(%s::numeric[]) p) v",
            [prices],
        )
        vectors = dict(cursor.fetchall())
    band = {price: int(re.search(r"'p(\d+)'", vector).group(1)) for price, vector in vectors.items()}
    # the words a row's price gives it: its band and its band's group
    own_words = {price: set(re.findall(r"'([pq]\d+)'", vector)) for price, vector in vectors.items()}
    bounds = [None, *prices[::3], Decimal("25"), Decimal("200"), Decimal("1100")]
    for low in bounds:
        for high in bounds:
            if low is not None and high is not None and low > high:
                continue
            asked = price_bands_between(low, high)
            inside = [p for p in prices if (low is None or p >= low) and (high is None or p <= high)]
            assert {band[p] for p in inside} <= set(asked), (low, high)
            # and no more than the bands of the range's own ends: the index skips the rest
            assert asked[0] == (band[low] if low is not None else 0), (low, high)
            assert asked[-1] == (band[high] if high is not None else len(PRICE_BAND_EDGES)), (low, high)
            # the index is asked for words every price in the range has one of: a group of four
            # bands the range reaches, or a band of the range
            index_words = price_words(asked)
            assert all(own_words[p] & set(index_words) for p in inside), (low, high, index_words)
            groups = {b // 4 for b in asked}
            assert all(int(w[1:]) in (groups if w[0] == "q" else asked) for w in index_words), (low, high, index_words)
    assert price_words(price_bands_between(Decimal("25"), Decimal("200"))) == ["q1", "q2", "q3"]  # ten bands
    assert price_words(price_bands_between(Decimal("20"), Decimal("24.99"))) == ["p4"]  # one band: its own word


@contextmanager
def _recorded_statements():
    """The (sql, params) of every statement the block runs, in order."""
    statements: list[tuple[str, object]] = []
    with connection.execute_wrapper(lambda run, sql, params, many, ctx: statements.append((sql, params)) or run(
            sql, params, many, ctx)):  # fmt: skip
        yield statements


def _index_scans(plan: dict) -> list[dict]:
    found = [plan] if plan.get("Index Name") == "product_search_filters_gin" else []
    return found + [scan for child in plan.get("Plans", []) for scan in _index_scans(child)]


def _text_index_scans(sql: str, params, *, analyze: bool = False) -> list[dict]:
    """The scans of the search index in this statement's plan, planned as the search plans it.

    At a million products the planner prefers this index for searches (bench/search.py); on a
    few rows it may as well read another index, so those are set aside (inside a transaction,
    rolled back) to see what the text index alone does."""
    from catalog.search import postgres

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT string_agg(quote_ident(indexrelid::regclass::text), ', ') FROM pg_index WHERE indrelid ="
            " 'catalog_product'::regclass AND NOT indisunique AND indexrelid::regclass::text NOT IN"
            " ('product_search_filters_gin', 'product_search_vector_missing')"
        )
        cursor.execute(f"DROP INDEX {cursor.fetchone()[0]}")
        cursor.execute(postgres.BITMAP_ONLY_SQL)
        cursor.execute(f"EXPLAIN ({'ANALYZE, ' if analyze else ''}FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
        transaction.set_rollback(True)
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return _index_scans(plan[0]["Plan"])


@pytest.mark.postgres
@pytest.mark.parametrize(
    "filters, key",
    [
        ({"category": "books"}, "'c"),
        ({"brands": ("penrose",)}, "InitPlan"),  # the brands' words come from an init plan
        ({"price_min": Decimal("500"), "price_max": Decimal("900")}, "'p"),
    ],
    ids=["category", "brand", "price"],
)
def test_a_word_whose_products_all_fail_the_filter_is_answered_by_the_index_alone(settings, filters, key):
    """The word matches 1,000 lamps; none is in the category, of the brand or in the price range
    asked for, each of which holds 5,000 other products. The index intersects the word with the
    filter itself, so its scan hands the table no row to read (before migration 0014 it handed
    over the 1,000 lamps, each read to be thrown away)."""
    from catalog.search import postgres

    settings.SEARCH_BACKEND = "database"
    lighting, books = CategoryFactory(slug="lighting"), CategoryFactory(slug="books")
    acme, penrose = BrandFactory(slug="acme"), BrandFactory(slug="penrose")
    Product.objects.bulk_create(
        [Product(sku=f"L{n}", slug=f"lamp-{n}", title=f"Desk Lamp {n}", category=lighting, brand=acme,
                 price=Decimal("20.00") + n % 50) for n in range(1000)]
        + [Product(sku=f"N{n}", slug=f"novel-{n}", title=f"A Novel {n}", category=books, brand=penrose,
                   price=Decimal("600.00")) for n in range(5000)]
    )  # fmt: skip
    search.get_backend().rebuild(batch_size=5000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE catalog_product")
    if "category" in filters:
        filters = {"category_ids": (books.pk,)}
    with _recorded_statements() as statements:
        result = search.search(query="lamp", filters=SearchFilters(**filters), with_facets=False)
    assert (result.total, result.ids) == (0, [])
    # the storage-order sample (with facets, a chosen brand or price is read without its choice
    # first, and the rows that pass it are the matches: the 1,000 lamps, none passing)
    sample = [(sql, params) for sql, params in statements
              if f"LIMIT {postgres.SAMPLE_LIMIT + 1}" in sql and "ORDER BY" not in sql]  # fmt: skip
    assert sample
    scans = _text_index_scans(*sample[0], analyze=True)
    # PostgreSQL 15 shows the init plan's result as "$0", 17 as "(InitPlan 1).col1"
    conditions = [scan["Index Cond"].replace("$0", "InitPlan") for scan in scans]
    assert conditions and all("to_tsvector('simple'" in cond and key in cond for cond in conditions), conditions
    assert sum(scan["Actual Rows"] for scan in scans) == 0


# --- Search as you type: the last word completes to the catalog's words ---------------------------


@pytest.fixture
def rainwear(settings):
    settings.SEARCH_BACKEND = "database"
    outdoors = CategoryFactory(slug="outdoors")
    products = {
        "jacket": ProductFactory(title="Rain Jacket 2000", category=outdoors, description="Keeps you dry."),
        "hat": ProductFactory(title="Rain Hat", category=outdoors, description="Jolly good in a drizzle."),
        "boot": ProductFactory(title="Walking Boot", category=outdoors, description="Waterproof in the rain."),
    }
    search.get_backend().rebuild(batch_size=100)
    return products


def _searched_terms(query: str) -> tuple[list[int], list[str]]:
    """The ids a search finds and the text-search terms its statements sent."""
    with _recorded_statements() as statements:
        ids = search.search(query=query).ids
    terms = [p for _sql, params in statements for p in (params or ()) if isinstance(p, str) and "'" in p]
    return ids, terms


@pytest.mark.postgres
def test_the_last_word_completes_to_the_catalogs_words_not_to_any_word_of_a_description(rainwear):
    """ "rain j" is a customer typing "rain jacket": it finds the jacket, whose title has a word
    starting with "j", and no longer the hat whose description happens to say "Jolly". The index is
    asked for the whole words (the lexicon's completions), never for every word starting with j."""
    for typed in ("rain j", "rain ja", "rain jacket"):
        ids, terms = _searched_terms(typed)
        assert ids == [rainwear["jacket"].pk], typed
        assert terms and not any(":*" in term for term in terms), (typed, terms)


@pytest.mark.postgres
def test_a_last_word_with_more_completions_than_the_limit_or_with_digits_is_matched_as_a_prefix(rainwear, monkeypatch):
    from catalog.search import postgres

    ProductFactory(title="Rain Jumper", category=rainwear["jacket"].category)
    search.get_backend().rebuild(batch_size=100)
    monkeypatch.setattr(postgres, "PREFIX_COMPLETIONS", 1)  # "jacket" and "jumper": too many
    ids, terms = _searched_terms("rain j")
    assert any("'j':*" in term for term in terms)
    # every word starting with "j", the description's "Jolly" too: what a prefix always matched
    assert rainwear["hat"].pk in ids and rainwear["jacket"].pk in ids and len(ids) == 3
    ids, terms = _searched_terms("rain jacket 20")
    assert ids == [rainwear["jacket"].pk] and any("'20':*" in term for term in terms)


@pytest.mark.postgres
def test_many_completions_after_a_finished_word_are_checked_on_the_rows_the_word_finds(rainwear, monkeypatch):
    """ "building s" completes "s" to every lexicon word starting with s: stepping through all
    their posting lists beside "building" costs more than checking the rows "building" finds.
    Past INDEXED_COMPLETIONS the index is asked for the finished words, and each row they find
    is checked for the rest: the same products are found."""
    from catalog.search import postgres

    monkeypatch.setattr(postgres, "INDEXED_COMPLETIONS", 0)
    with _recorded_statements() as statements:
        assert search.search(query="rain j").ids == [rainwear["jacket"].pk]
    assert search.search(query="walking b").ids == [rainwear["boot"].pk]
    sql, params = next((sql, params) for sql, params in statements if "LIMIT 1001" in sql)
    conditions = [scan["Index Cond"] for scan in _text_index_scans(sql, params)]
    assert conditions and all("'rain'" in cond and "jacket" not in cond for cond in conditions), conditions


@pytest.mark.postgres
def test_model_numbers_and_category_names_complete_as_they_are_typed(settings):
    """The lexicon holds words with digits ("PS5") and the category names too, so a word being
    typed still finds them when other catalog words start the same way ("Psalm", "Phonograph")."""
    settings.SEARCH_BACKEND = "database"
    phones = CategoryFactory(name="Phones", slug="phones")
    other = CategoryFactory(name="Music", slug="music")
    console = ProductFactory(title="Console PS5 Digital", category=other)
    psalms = ProductFactory(title="Psalm Book", category=other)
    handset = ProductFactory(title="Zenith X1", category=phones)
    gramophone = ProductFactory(title="Phonograph Deluxe", category=other)
    iphone = ProductFactory(title="Apple iPhone15 Pro", category=phones)
    play = ProductFactory(title="Iphigenia in Aulis", category=other)
    search.get_backend().rebuild(batch_size=100)
    # From the third character a model number completes ("ps5"; a catalog holds thousands of
    # them, so a word of one or two letters completes to words of letters only)
    assert set(search.search(query="iph").ids) == {iphone.pk, play.pk}
    assert set(search.search(query="console ps5").ids) == {console.pk}
    assert set(search.search(query="psa").ids) == {psalms.pk}
    assert set(search.search(query="phon").ids) == {handset.pk, gramophone.pk, iphone.pk}


@pytest.mark.postgres
def test_finished_words_that_are_only_stop_words_leave_the_last_word_to_decide(rainwear, monkeypatch):
    """ "the j": "the" stems to nothing, so the finished words alone could never drive the index
    (an empty query matches nothing); the last word's completions decide, as before."""
    from catalog.search import postgres

    monkeypatch.setattr(postgres, "INDEXED_COMPLETIONS", 0)
    assert search.search(query="the j").ids == [rainwear["jacket"].pk]


@pytest.mark.postgres
def test_the_sample_reads_without_parallel_workers_or_jit_and_the_callers_settings_come_back(rainwear):
    """The storage-order sample reads at most SAMPLE_LIMIT + 1 rows: starting parallel workers
    cost more than it saves (4-14 ms of a 30-44 ms read at a million products). The caller's own
    settings are back once it is read."""
    from catalog.search import postgres

    seen = []

    def look(run, sql, params, many, ctx):
        if f"LIMIT {postgres.SAMPLE_LIMIT + 1}" in sql and not seen:
            with connection.cursor() as cursor:  # runs through this wrapper too: `seen` is set first
                seen.append(None)
                cursor.execute("SELECT current_setting('max_parallel_workers_per_gather'), current_setting('jit')")
                seen[0] = cursor.fetchone()
        return run(sql, params, many, ctx)

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL max_parallel_workers_per_gather = 3")
        with connection.execute_wrapper(look):
            found = search.search(query="rain", filters=search.SearchFilters(), page_size=10)
        cursor.execute("SELECT current_setting('max_parallel_workers_per_gather')")
        after = cursor.fetchone()[0]
    assert set(found.ids) == {rainwear["jacket"].pk, rainwear["hat"].pk, rainwear["boot"].pk}
    assert seen == [("0", "off")]
    assert after == "3"


@pytest.mark.postgres
def test_an_estimate_counts_the_rows_of_the_sampled_blocks_once_until_the_table_changes(shoes, settings, monkeypatch):
    """Past the sample limit the total is the share of matches among the rows of a fixed sample of
    the table's blocks. How many rows those blocks hold changes only with the table: it is counted
    by the first estimate and again once the table has other blocks or another row count, and an
    estimate from the remembered count is the estimate counted afresh."""
    from catalog.search import postgres

    settings.SEARCH_BACKEND = "database"
    search.get_backend().rebuild(batch_size=100)
    monkeypatch.setattr(postgres, "SAMPLE_LIMIT", 1)
    monkeypatch.setattr(postgres, "ESTIMATE_ROWS", 1)  # a third of a three-row table: a sample, not the table
    monkeypatch.setattr(postgres, "_sampled_rows", {})
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE catalog_product")

    def estimate(query: str) -> tuple[int, int]:
        """(the total, how many statements counted the sampled blocks' rows)."""
        with _recorded_statements() as statements:
            total = search.search(query=query, page_size=1).total
        return total, sum("(SELECT count(*) FROM catalog_product TABLESAMPLE" in sql for sql, _ in statements)

    first = estimate("running shoe")
    assert first[1] == 1
    assert estimate("running") == (first[0], 0)  # counted from the remembered rows, none counted again
    postgres._sampled_rows.clear()
    assert estimate("shoe") == first  # counted afresh: the same estimate
    Product.objects.bulk_create(
        [Product(sku=f"R{n}", slug=f"road-shoe-{n}", title=f"Road Shoe {n}", category=shoes["category"],
                 price=Decimal("20.00"))
         for n in range(300)]
    )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE catalog_product")
    assert estimate("road shoe")[1] == 1  # more blocks and rows: counted again


def _samples(statements) -> int:
    from catalog.search import postgres

    return sum(f"LIMIT {postgres.SAMPLE_LIMIT + 1}" in sql and "ORDER BY" not in sql for sql, _ in statements)


@pytest.mark.postgres
def test_a_chosen_facet_and_the_matches_are_read_once_when_every_wider_match_is_read(shoes, settings):
    """The price facet is counted without the price chosen; those wider matches (two shoes) are
    every match, so the one read of them gives the facet's counts and the matches under 50 alike:
    exact, as before, and the text index read once."""
    settings.SEARCH_BACKEND = "database"
    search.get_backend().rebuild(batch_size=100)
    with _recorded_statements() as statements:
        result = search.search(query="running shoe", filters=SearchFilters(price_max=Decimal("50")))
    assert (result.ids, result.total, result.total_is_estimate) == ([shoes["road"].pk], 1, False)
    assert [(band["key"], band["count"]) for band in result.facets["price_bands"]] == [("25-50", 1), ("50-100", 1)]
    assert [brand["slug"] for brand in result.facets["brands"]] == []  # the road shoe has no brand
    assert _samples(statements) == 1
    with _recorded_statements() as statements:
        branded = search.search(query="running shoe", filters=SearchFilters(brands=("acme",)))
    assert (branded.ids, [(b["slug"], b["count"]) for b in branded.facets["brands"]]) == (
        [shoes["trail"].pk],
        [("acme", 1)],
    )
    assert _samples(statements) == 1


def _hiking_boots(shoes) -> list[int]:
    """Twelve hiking boots (every other one under 50) among 75 products; the cheap boots' ids, most popular first."""
    Product.objects.bulk_create(
        [Product(sku=f"H{n}", slug=f"hiking-boot-{n}", title=f"Hiking Boot {n}", category=shoes["category"],
                 price=Decimal("20.00") if n % 2 == 0 else Decimal("80.00"), popularity=n) for n in range(12)]
        # and other products: the boots are not so large a share that they are read by popularity
        + [Product(sku=f"K{n}", slug=f"kettle-{n}", title=f"Kettle {n}", category=shoes["category"],
                   price=Decimal("20.00")) for n in range(60)]
    )  # fmt: skip
    search.get_backend().rebuild(batch_size=100)
    with connection.cursor() as cursor:  # the table's row count, which estimates scale to
        cursor.execute("ANALYZE catalog_product")
    return list(
        Product.objects.filter(sku__startswith="H", price__lt=50).order_by("-popularity").values_list("pk", flat=True)
    )


@pytest.mark.postgres
def test_past_the_sample_limit_the_wider_reads_passing_rows_are_the_matches_sample_when_there_are_enough(
    shoes, settings, monkeypatch
):
    """Twelve hiking boots among 75 products, every other one under 50 in storage order. Past the sample limit (2
    here) the wider read's first rows hold one shoe under 50 of two: the matches are estimated at
    half the wider estimate and sampled from those rows, one read of the index. With fewer
    passing rows than DERIVED_SAMPLE_MIN the matches are read on their own, as before."""
    from catalog.search import postgres

    settings.SEARCH_BACKEND = "database"
    cheap = _hiking_boots(shoes)
    monkeypatch.setattr(postgres, "SAMPLE_LIMIT", 2)
    monkeypatch.setattr(postgres, "DERIVED_SAMPLE_MIN", 1)
    wanted = SearchFilters(price_max=Decimal("50"))
    with _recorded_statements() as statements:
        result = search.search(query="hiking boot", filters=wanted, sort="popularity", page_size=10)
    assert (result.total, result.total_is_estimate, result.facets_sampled) == (6, True, True)
    assert result.ids == cheap
    assert _samples(statements) == 1
    monkeypatch.setattr(postgres, "DERIVED_SAMPLE_MIN", 2)
    with _recorded_statements() as statements:
        result = search.search(query="hiking boot", filters=wanted, sort="popularity", page_size=9)
    assert result.ids == cheap and result.total_is_estimate
    assert _samples(statements) == 2


@pytest.mark.postgres
def test_a_popularity_threshold_is_looked_up_once_and_gives_the_same_page(shoes, settings, monkeypatch):
    """Past the sample limit the page is read among the products above a popularity threshold;
    a process remembers the threshold a minute, so the next search does not walk the index again,
    and a page read with a remembered threshold is the page read with a fresh one."""
    from catalog.search import postgres

    settings.SEARCH_BACKEND = "database"
    search.get_backend().rebuild(batch_size=100)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE catalog_product")
    monkeypatch.setattr(postgres, "SAMPLE_LIMIT", 1)
    monkeypatch.setattr(postgres, "_popularity_ranks", {})

    def page(query: str) -> tuple[list[int], int]:
        with _recorded_statements() as statements:
            ids = search.search(query=query, sort="popularity").ids
        return ids, sum(sql == postgres.POPULARITY_AT_SQL for sql, _ in statements)

    assert page("running shoe") == ([shoes["road"].pk, shoes["trail"].pk], 1)
    assert page("running shoes") == ([shoes["road"].pk, shoes["trail"].pk], 0)
    postgres._popularity_ranks.clear()
    assert page("shoe running") == ([shoes["road"].pk, shoes["trail"].pk], 1)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_samples_settings_end_with_their_own_and_the_table_is_sized_once(
    rainwear, monkeypatch
):
    """With no transaction of the caller's (autocommit, as requests run), the sample's settings
    live in a transaction of their own and end with it: nothing is restored, and the next
    statement plans with the server's settings. The table's size is read once per search (past
    the sample limit, both the planner's estimate and the total's read it)."""
    from catalog.search import postgres

    monkeypatch.setattr(postgres, "SAMPLE_LIMIT", 1)

    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('jit'), current_setting('max_parallel_workers_per_gather')")
        server = cursor.fetchone()
    with _recorded_statements() as statements:
        found = search.search(query="rain", filters=search.SearchFilters(price_max=Decimal("100000")), page_size=10)
    assert set(found.ids) == {rainwear["jacket"].pk, rainwear["hat"].pk, rainwear["boot"].pk}
    assert not any(sql.startswith("SELECT set_config") for sql, _ in statements)  # no restore
    assert sum(sql == postgres.TABLE_SIZE_SQL for sql, _ in statements) == 1
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('jit'), current_setting('max_parallel_workers_per_gather')")
        assert cursor.fetchone() == server


@pytest.mark.postgres
def test_a_chosen_brand_written_together_is_not_estimated_from_its_share_of_the_first_wider_matches(
    shoes, settings, monkeypatch
):
    """Ten acme boots written first, then 190 boots of no brand (and 1,000 kettles): the first wider matches in
    storage order are mostly acme's, the catalog is not. The matches' estimate is counted over
    the table's sampled blocks, which says ten: fewer than three times the sample limit, so the
    ten are read and counted, exactly, as a search without facets counts them."""
    from catalog.search import postgres

    settings.SEARCH_BACKEND = "database"
    acme = Product.objects.get(pk=shoes["trail"].pk).brand
    Product.objects.bulk_create(
        [Product(sku=f"A{n}", slug=f"acme-hiking-boot-{n}", title=f"Hiking Boot {n}", category=shoes["category"],
                 brand=acme, price=Decimal("50.00")) for n in range(10)]
        + [Product(sku=f"U{n}", slug=f"hiking-boot-{n}", title=f"Hiking Boot {n}", category=shoes["category"],
                   price=Decimal("50.00")) for n in range(190)]
        # and other products: the boots are not so large a share that they are read by popularity
        + [Product(sku=f"K{n}", slug=f"kettle-{n}", title=f"Kettle {n}", category=shoes["category"],
                   price=Decimal("20.00")) for n in range(1000)]
    )  # fmt: skip
    search.get_backend().rebuild(batch_size=500)
    with connection.cursor() as cursor:  # the rows in id order (writing the vectors moved them), counted
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the deferred foreign key checks, done first
        cursor.execute("CLUSTER catalog_product USING catalog_product_pkey")
        cursor.execute("ANALYZE catalog_product")
    monkeypatch.setattr(postgres, "SAMPLE_LIMIT", 20)
    monkeypatch.setattr(postgres, "DERIVED_SAMPLE_MIN", 5)
    wanted = SearchFilters(brands=("acme",))
    plain = search.search(query="hiking boot", filters=wanted, with_facets=False)
    faceted = search.search(query="hiking boot", filters=wanted)
    assert (plain.total, plain.total_is_estimate) == (10, False)
    assert (faceted.total, faceted.total_is_estimate) == (10, False)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_with_autocommit_off_the_samples_settings_are_restored_for_the_callers_transaction(rainwear):
    """A caller that turned autocommit off holds a transaction no atomic block commits: the
    sample's settings are restored in it, so its later statements plan as before."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('enable_seqscan'), current_setting('work_mem')")
        server = cursor.fetchone()
    connection.set_autocommit(False)
    try:
        found = search.search(query="rain", filters=search.SearchFilters(in_stock=False), page_size=10)
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('enable_seqscan'), current_setting('work_mem')")
            inside = cursor.fetchone()
    finally:
        connection.rollback()
        connection.set_autocommit(True)
    assert set(found.ids) == {rainwear["jacket"].pk, rainwear["hat"].pk, rainwear["boot"].pk}
    assert inside == server


def _block_samples(statements) -> int:
    return sum("AS sampled_rows FROM" in sql for sql, _ in statements)


@pytest.mark.postgres
def test_many_expected_matches_are_sampled_from_the_tables_sampled_blocks_not_read_from_the_text_index(
    shoes, settings, monkeypatch
):
    """Matches the planner expects at BLOCK_SAMPLE_PLANNED or more are the matching rows of the
    table's sampled blocks (here every block: the estimate is the count), with their estimate in
    the same statement: the text index's sample is not read, the page still comes in popularity
    order, and a chosen facet's matches are the sampled rows that pass it."""
    from catalog.search import postgres

    settings.SEARCH_BACKEND = "database"
    cheap = _hiking_boots(shoes)
    boots = list(Product.objects.filter(sku__startswith="H").order_by("-popularity").values_list("pk", flat=True))
    monkeypatch.setattr(postgres, "SAMPLE_LIMIT", 2)
    monkeypatch.setattr(postgres, "BLOCK_SAMPLE_PLANNED", 0)
    monkeypatch.setattr(postgres, "BLOCK_SAMPLE_MIN", 1)
    monkeypatch.setattr(postgres, "_sampled_rows", {})
    with _recorded_statements() as statements:
        result = search.search(query="hiking boot", sort="popularity", page_size=10)
    assert (result.total, result.total_is_estimate, result.facets_sampled) == (12, True, True)
    assert result.ids == boots[:10]
    assert [(band["key"], band["count"]) for band in result.facets["price_bands"]] == [("0-25", 6), ("50-100", 6)]
    assert (_samples(statements), _block_samples(statements)) == (0, 1)
    with _recorded_statements() as statements:
        chosen = search.search(query="hiking boot", filters=SearchFilters(price_max=Decimal("50")), sort="popularity")
    assert (chosen.total, chosen.total_is_estimate, chosen.ids) == (6, True, cheap)
    assert [(band["key"], band["count"]) for band in chosen.facets["price_bands"]] == [("0-25", 6), ("50-100", 6)]
    assert (_samples(statements), _block_samples(statements)) == (0, 1)


@pytest.mark.postgres
def test_when_the_sampled_blocks_hold_too_few_matches_the_text_index_is_read_as_before(shoes, settings, monkeypatch):
    """The planner expected many matches but the sampled blocks hold fewer than BLOCK_SAMPLE_MIN,
    or so few that the matches may number under three times SAMPLE_LIMIT: the sample is read
    from the text index, and the search answers as it did without the blocks, exactly when the
    index read holds every match."""
    from catalog.search import postgres

    settings.SEARCH_BACKEND = "database"
    _hiking_boots(shoes)
    monkeypatch.setattr(postgres, "BLOCK_SAMPLE_PLANNED", 0)
    monkeypatch.setattr(postgres, "ESTIMATE_ROWS", 74)  # not every block: a sample of the 75 rows' blocks
    monkeypatch.setattr(postgres, "_sampled_rows", {})
    monkeypatch.setattr(postgres, "BLOCK_SAMPLE_MIN", 13)
    with _recorded_statements() as statements:
        result = search.search(query="hiking boot", sort="popularity", page_size=5)
    assert (result.total, result.total_is_estimate) == (12, False)
    assert (_samples(statements), _block_samples(statements)) == (1, 1)
    monkeypatch.setattr(postgres, "BLOCK_SAMPLE_MIN", 1)
    monkeypatch.setattr(postgres, "SAMPLE_LIMIT", 20)  # twelve matches in the blocks at most: fewer than 3 * 20
    with _recorded_statements() as statements:
        result = search.search(query="hiking boots", sort="popularity", page_size=5)
    assert (result.total, result.total_is_estimate, result.facets_sampled) == (12, False, False)
    assert (_samples(statements), _block_samples(statements)) == (1, 1)
