"""Typo tolerance on the embedded default (issue 19, item 11): the simple fallback that `make run`
searches with (SQLite) forgives typos through the catalog lexicon, with a "did you mean".

The backend is called directly, so these run on SQLite and on PostgreSQL alike (both have the
lexicon table); the storefront test needs the embedded database, where the fallback answers.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.urls import reverse

from catalog.search import SearchFilters, lexicon
from catalog.search.simple import SimpleBackend
from tests.catalog.factories import BrandFactory, CategoryFactory, ProductFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop() -> dict:
    audio = CategoryFactory(name="Audio", slug="audio")
    shoes = CategoryFactory(name="Shoes", slug="shoes")
    acme = BrandFactory(name="Acme", slug="acme")

    def product(title, category, price="50.00", popularity=0.0):
        return ProductFactory(title=title, category=category, brand=acme, price=Decimal(price), popularity=popularity)

    items = {
        "headphones": product("Acme Wireless Headphones", audio, "129.00", 5.0),
        "speaker": product("Acme Bluetooth Speaker", audio, "79.00", 9.0),
        "target": product("Acme Trail Running Shoe", shoes, "89.00", 1.0),
        "laces": product("Acme Trail Running Shoe Laces", shoes, "9.00", 90.0),
        "smartphone": product("Acme Smartphone Mini", audio, "299.00", 10.0),
    }
    ProductFactory(title="Acme Hedge Trimmer Prototype", category=shoes, brand=acme, is_active=False)
    SimpleBackend().rebuild(batch_size=2)
    return items


def run(query: str, **kwargs):
    return SimpleBackend().search(query=query, filters=kwargs.pop("filters", SearchFilters()), **kwargs)


def test_hedphones_finds_the_headphones_and_suggests_the_word(shop):
    result = run("hedphones")
    assert result.ids == [shop["headphones"].pk]
    assert result.suggestion == "headphones"
    assert result.total == 1 and [c["count"] for c in result.facets["categories"]] == [1]


def test_a_misspelled_word_among_right_ones_is_corrected(shop):
    result = run("acme runnign shoe")
    assert set(result.ids) == {shop["target"].pk, shop["laces"].pk}
    assert result.suggestion == "acme running shoe"


def test_a_correctly_spelled_query_suggests_nothing(shop):
    result = run("running shoe")
    assert result.suggestion is None and set(result.ids) == {shop["target"].pk, shop["laces"].pk}


def test_the_last_word_is_not_corrected_while_it_starts_a_known_word(shop):
    result = run("smartph")
    assert result.ids == [shop["smartphone"].pk] and result.suggestion is None


def test_a_word_like_nothing_in_the_catalog_finds_nothing_and_suggests_nothing(shop):
    result = run("qwzzkx")
    assert (result.ids, result.total, result.suggestion) == ([], 0, None)


def test_words_of_inactive_products_are_not_in_the_lexicon(shop):
    assert run("hedge").ids == [] and run("hedge").suggestion != "hedge"


def test_a_product_indexed_later_brings_its_words(shop):
    tent = ProductFactory(title="Acme Ultralight Tent", category=shop["target"].category)
    assert run("ultralite").ids == []
    SimpleBackend().index(product_ids=[tent.pk])  # what the index task runs after a save
    result = run("ultralite tent")
    assert result.ids == [tent.pk] and result.suggestion == "ultralight tent"


def test_the_work_is_bounded_whatever_the_lexicon(shop, django_assert_max_num_queries):
    # a lexicon far larger than the demo's: the unknown words each cost one narrowed query
    lexicon.add_words({f"word{chr(97 + i % 26)}{chr(97 + i // 26 % 26)}{chr(97 + i // 676)}" for i in range(5000)},
                      alias="default")  # fmt: skip
    with django_assert_max_num_queries(8):  # known words, last word's prefix, 3 candidates, ids, rows, brands
        result = run("acme hedphones runnign wirless")
    assert result.suggestion == "acme headphones running wireless"
    assert result.ids == []  # no title has both "headphones" and "running"


def test_similarity_is_pg_trgm_s():
    assert lexicon.similarity("hedphones", "headphones") == pytest.approx(8 / 13)
    assert lexicon.similarity("shoe", "shoe") == 1.0
    assert lexicon.similarity("abc", "xyz") == 0.0


@pytest.mark.skipif(connection.vendor == "postgresql", reason="the storefront searches with PostgreSQL there")
def test_the_search_page_on_the_embedded_default_forgives_the_typo(client, shop):
    html = client.get(reverse("catalog:search"), {"q": "hedphones"}).content.decode()
    assert "Acme Wireless Headphones" in html
    assert "Did you mean" in html and "<strong>headphones</strong>" in html
    body = client.get("/api/v1/search", {"q": "hedphones"}).json()
    assert [r["id"] for r in body["results"]] == [shop["headphones"].pk]
