"""The search contract, run against every configured backend: PostgreSQL full-text search (every
CI run: the `postgres` marker) and Elasticsearch (only where ELASTICSEARCH_URL names a server;
none can run on the CI machines, so those cases skip with the reason).

What a customer must be able to count on, whichever backend answers: the exact product first for
its title, typos forgiven with a "did you mean", facet counts that equal the results, filters
that combine, an admin edit found after the index task, inactive products never shown, and bad
input answered with a page or a clear 400, never a 500.
"""

from __future__ import annotations

import json
import os
import uuid
from decimal import Decimal

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from catalog import search
from catalog.models import Product
from catalog.search import SearchFilters
from catalog.search.base import query_words
from tests.api_helpers import error_of
from tests.catalog.factories import BrandFactory, CategoryFactory, ProductFactory

pytestmark = pytest.mark.django_db

SEARCH_API = "/api/v1/search"


@pytest.fixture(
    params=[
        pytest.param("database", marks=pytest.mark.postgres, id="postgresql"),
        pytest.param("elasticsearch", id="elasticsearch"),
    ]
)
def backend(request, settings, worker_id):
    """The backend under test, switched on through the settings the app reads."""
    if request.param == "elasticsearch":
        if not os.environ.get("ELASTICSEARCH_URL"):
            pytest.skip("needs an Elasticsearch server: set ELASTICSEARCH_URL=http://127.0.0.1:9200")
        settings.SEARCH_BACKEND = "elasticsearch"
        settings.ELASTICSEARCH_INDEX = f"test-products-{worker_id}-{uuid.uuid4().hex[:8]}"
        yield request.param
        client = search.get_backend().client
        client.indices.delete(index=f"{settings.ELASTICSEARCH_INDEX}-*", ignore_unavailable=True)
        return
    settings.SEARCH_BACKEND = "database"
    yield request.param


def build_index() -> None:
    """What `manage.py search_reindex` does, then make the writes visible to searches."""
    search.get_backend().rebuild(batch_size=500)
    search.get_backend().refresh()


@pytest.fixture
def shop(backend) -> dict:
    """A small catalog: shoes and phones of two brands, one hidden product, then indexed."""
    fashion = CategoryFactory(name="Fashion", slug="fashion")
    shoes = CategoryFactory(name="Shoes", slug="fashion-shoes", parent=fashion)
    electronics = CategoryFactory(name="Electronics", slug="electronics")
    phones = CategoryFactory(name="Phones", slug="electronics-phones", parent=electronics)
    acme, zenith = BrandFactory(name="Acme", slug="acme"), BrandFactory(name="Zenith", slug="zenith")

    def product(title, category, brand, price, popularity=0.0, **attributes):
        return ProductFactory(title=title, category=category, brand=brand, price=Decimal(price),
                              popularity=popularity, attributes=attributes,
                              description=f"The {title.lower()}, built to last.")  # fmt: skip

    items = {
        "target": product("Acme Trail Running Shoe", shoes, acme, "89.00", 1.0, colour="Red", size="42"),
        "laces": product("Acme Trail Running Shoe Laces", shoes, acme, "9.00", 90.0, colour="Red", size="42"),
        "road": product("Zenith Road Running Shoe", shoes, zenith, "120.00", 40.0, colour="Blue", size="42"),
        "walker": product("Zenith Walking Shoe", shoes, zenith, "60.00", 5.0, colour="Red", size="44"),
        "boot": product("Acme Hiking Boot", shoes, acme, "149.00", 20.0, colour="Brown", size="43"),
        "phone": product("Zenith Smartphone X1", phones, zenith, "699.00", 70.0, colour="Black", storage="128 GB"),
        "phone2": product("Acme Smartphone Mini", phones, acme, "299.00", 10.0, colour="Red", storage="64 GB"),
    }
    items["hidden"] = ProductFactory(title="Acme Trail Running Shoe Prototype", category=shoes, brand=acme,
                                     price=Decimal("10.00"), popularity=1000, is_active=False,
                                     attributes={"colour": "Red"})  # fmt: skip
    build_index()
    return {**items, "shoes": shoes, "phones": phones, "fashion": fashion}


def found(query: str = "", **kwargs) -> list[int]:
    return search.search(query=query, page_size=100, **kwargs).ids


# --- Relevance, typos, suggestions --------------------------------------------------------------


def test_the_exact_product_comes_first_for_its_title(shop):
    # "Laces" contains every word too and is 90 times as popular; the exact title still wins.
    assert found("Acme Trail Running Shoe")[0] == shop["target"].pk
    assert found("acme trail running shoe laces")[0] == shop["laces"].pk


def test_title_words_rank_above_brand_and_description_words(shop):
    ids = found("smartphone")
    assert set(ids) == {shop["phone"].pk, shop["phone2"].pk}
    assert found("zenith")[:3] and set(found("zenith")) == {shop["road"].pk, shop["walker"].pk, shop["phone"].pk}


def test_a_misspelled_query_finds_the_product_and_suggests_the_right_word(shop):
    result = search.search(query="acme runnign shoe")
    assert shop["target"].pk in result.ids
    assert result.suggestion == "acme running shoe"


def test_a_correctly_spelled_query_suggests_nothing(shop):
    assert search.search(query="running shoe").suggestion is None


def test_the_last_word_matches_as_a_prefix_while_typing(shop):
    assert shop["phone"].pk in found("smartph")
    assert set(found("zenith runn")) == {shop["road"].pk}


def test_suggestions_as_you_type_name_products(client, shop):
    body = client.get(reverse("catalog:search-suggest"), {"q": "smartph"}).json()
    assert {p["title"] for p in body["products"]} == {"Zenith Smartphone X1", "Acme Smartphone Mini"}
    assert APIClient().get(f"{SEARCH_API}/suggest", {"q": "smartph"}).json()["products"] == body["products"]
    assert APIClient().get(f"{SEARCH_API}/suggest", {"q": "s"}).json()["products"] == []


# --- Facets and filters -------------------------------------------------------------------------


def test_facet_counts_equal_the_results(shop):
    result = search.search(query="shoe", page_size=100)
    facets = result.facets
    assert sum(c["count"] for c in facets["categories"]) == result.total == len(result.ids) == 5
    for brand in facets["brands"]:
        assert search.search(query="shoe", filters=SearchFilters(brands=(brand["slug"],))).total == brand["count"]
    for band in facets["price_bands"]:
        band_filter = SearchFilters(price_min=Decimal(band["min"]), price_max=band["max"] and Decimal(band["max"]))
        assert search.search(query="shoe", filters=band_filter).total == band["count"]
    for attribute in facets["attributes"]:
        for option in attribute["values"]:
            narrowed = SearchFilters(attributes=((attribute["name"], (option["value"],)),))
            assert search.search(query="shoe", filters=narrowed).total == option["count"]
    assert {b["slug"]: b["count"] for b in facets["brands"]} == {"acme": 3, "zenith": 2}
    colours = next(a for a in facets["attributes"] if a["name"] == "colour")
    assert {v["value"]: v["count"] for v in colours["values"]} == {"Red": 3, "Blue": 1, "Brown": 1}


def test_filters_combine(shop):
    red_acme = SearchFilters(brands=("acme",), attributes=(("colour", ("Red",)),))
    assert set(found("shoe", filters=red_acme)) == {shop["target"].pk, shop["laces"].pk}
    cheap_red_acme = SearchFilters(brands=("acme",), attributes=(("colour", ("Red",)),), price_max=Decimal("50"))
    assert found("shoe", filters=cheap_red_acme) == [shop["laces"].pk]
    in_phones = SearchFilters(category_ids=(shop["phones"].pk,), attributes=(("colour", ("Red", "Black")),))
    assert set(found("", filters=in_phones)) == {shop["phone"].pk, shop["phone2"].pk}


def test_a_category_filter_includes_its_subcategories_through_the_api(shop):
    body = APIClient().get(SEARCH_API, {"q": "acme", "category": "fashion", "attr_colour": "Red"}).json()
    assert {r["id"] for r in body["results"]} == {shop["target"].pk, shop["laces"].pk}
    assert body["count"] == 2


def test_sorts_order_the_results(shop):
    def prices(sort):
        return [Product.objects.get(pk=i).price for i in found("shoe", sort=sort)]

    assert prices("price_asc") == sorted(prices("price_asc"))
    assert prices("price_desc") == sorted(prices("price_asc"), reverse=True)
    assert found("shoe", sort="popularity")[0] == shop["laces"].pk
    assert found("shoe", sort="newest")[0] == shop["boot"].pk


def test_pages_split_the_results_without_overlap(shop):
    first = search.search(query="shoe", page=1, page_size=2, sort="price_asc")
    second = search.search(query="shoe", page=2, page_size=2, sort="price_asc")
    third = search.search(query="shoe", page=3, page_size=2, sort="price_asc")
    assert first.total == second.total == 5 and first.num_pages == 3
    assert len(set(first.ids + second.ids + third.ids)) == 5


# --- Keeping the index current ------------------------------------------------------------------


def test_a_product_edited_in_admin_is_found_by_its_new_title(
    client, shop, django_capture_on_commit_callbacks, django_user_model
):
    client.force_login(django_user_model.objects.create_superuser(email="boss@example.com", password="x" * 12))
    product = shop["boot"]
    with django_capture_on_commit_callbacks(execute=True):  # the index task runs after the commit
        response = client.post(reverse("admin:catalog_product_change", args=[product.pk]),
                               _change_form(product, title="Acme Glacier Parka", description="Warm and dry."))  # fmt: skip
    assert response.status_code == 302
    search.get_backend().refresh()
    assert found("glacier parka") == [product.pk]
    assert product.pk not in found("hiking boot")


def test_a_product_hidden_in_admin_disappears_from_results(client, shop, django_capture_on_commit_callbacks,
                                                          django_user_model):  # fmt: skip
    client.force_login(django_user_model.objects.create_superuser(email="boss@example.com", password="x" * 12))
    product = shop["road"]
    with django_capture_on_commit_callbacks(execute=True):
        form = _change_form(product)
        form.pop("is_active")
        client.post(reverse("admin:catalog_product_change", args=[product.pk]), form)
    search.get_backend().refresh()
    assert product.pk not in found("road running shoe")


def test_inactive_products_never_appear(client, shop):
    hidden = shop["hidden"]
    assert hidden.pk not in found("Acme Trail Running Shoe Prototype")
    assert hidden.pk not in found("")  # the most popular product of all, but hidden
    result = search.search(query="prototype")
    assert result.total == 0 and result.ids == []
    api = APIClient().get(SEARCH_API, {"q": "shoe", "page_size": 100}).json()
    assert hidden.pk not in {r["id"] for r in api["results"]}
    assert "Prototype" not in client.get(reverse("catalog:search"), {"q": "acme trail"}).content.decode()


# --- Bad input ----------------------------------------------------------------------------------


def test_an_empty_query_lists_the_most_popular_products(client, shop):
    body = APIClient().get(SEARCH_API, {"q": ""}).json()
    assert [r["id"] for r in body["results"]][:3] == [shop["laces"].pk, shop["phone"].pk, shop["road"].pk]
    assert body["count"] == 7
    html = client.get(reverse("catalog:search")).content.decode()
    assert "Popular products" in html and "Acme Trail Running Shoe Laces" in html


def test_a_very_long_query_is_cut_not_refused(client, shop):
    long_query = "acme trail running shoe " + "x" * 5000
    body = APIClient().get(SEARCH_API, {"q": long_query}).json()
    assert len(body["query"]) == search.MAX_QUERY_LENGTH
    assert client.get(reverse("catalog:search"), {"q": long_query}).status_code == 200


@pytest.mark.parametrize(
    "query",
    ["shoe & | ! ( ' :*", "shoe:*", "!shoe", "(shoe", "'shoe'", 'shoe" OR 1=1 --', "shoe <-> trail", "shoe \\",
     "shoe %_", "&&&", "*", "shoe\x00", "シューズ", "shoe~2", 'title:"shoe"', "shoe AND NOT boot"],
)  # fmt: skip
def test_special_characters_and_query_syntax_are_plain_text(client, shop, query):
    response = APIClient().get(SEARCH_API, {"q": query})
    assert response.status_code == 200
    ids = {r["id"] for r in response.json()["results"]}
    if query_words(query) == ["shoe"]:
        assert shop["target"].pk in ids  # the punctuation around the word changed nothing
    if query_words(query) == []:
        assert response.json()["results"][0]["id"] == shop["laces"].pk  # no words: the most popular
    assert client.get(reverse("catalog:search"), {"q": query}).status_code == 200


def test_unknown_parameters_are_a_400_naming_them_in_the_api_and_ignored_by_the_page(client, shop):
    response = APIClient().get(SEARCH_API, {"q": "shoe", "colour": "red"})
    assert response.status_code == 400
    assert error_of(response)["fields"] == {"colour": ["Unknown parameter."]}
    assert client.get(reverse("catalog:search"), {"q": "shoe", "colour": "red"}).status_code == 200


@pytest.mark.parametrize(
    ("params", "field"),
    [({"price_min": "cheap"}, "price_min"), ({"price_max": "-1"}, "price_max"), ({"sort": "best"}, "sort"),
     ({"page": "0"}, "page"), ({"page_size": "1000"}, "page_size"), ({"category": "no-such-thing"}, "category"),
     ({"in_stock": "maybe"}, "in_stock"), ({"attr_colour__regex": "x"}, "attr_colour__regex"), ({"page": "9999"}, "page"),
     ({"brand": "a\x00b"}, "brand")],
)  # fmt: skip
def test_an_invalid_filter_value_is_a_400_naming_the_field(client, shop, params, field):
    response = APIClient().get(SEARCH_API, {"q": "shoe", **params})
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid" and field in error["fields"]
    page = client.get(reverse("catalog:search"), {"q": "shoe", **params})
    assert page.status_code == 200
    assert "Some filters were not understood" in page.content.decode()


def test_an_unknown_attribute_or_brand_finds_nothing_rather_than_failing(shop):
    response = APIClient().get(SEARCH_API, {"q": "shoe", "attr_flavour": "mint", "brand": "nobody"})
    assert response.status_code == 200 and response.json()["count"] == 0


def test_past_the_last_page_is_a_404_in_the_api_and_the_last_page_on_the_storefront(client, shop):
    assert error_of(APIClient().get(SEARCH_API, {"q": "shoe", "page": "3", "page_size": "5"}))["code"] == "not_found"
    html = client.get(reverse("catalog:search"), {"q": "shoe", "page": "3", "page_size": "2"}).content.decode()
    assert "Page 3 of 3" in html


# --- The storefront page ------------------------------------------------------------------------


def test_the_results_page_shows_facets_sorts_and_did_you_mean(client, shop):
    html = client.get(reverse("catalog:search"), {"q": "acme runnign shoe"}).content.decode()
    assert "Did you mean" in html and "acme running shoe" in html
    assert "Acme Trail Running Shoe" in html
    assert 'name="brand" value="acme"' in html and "Colour" in html
    assert "Price: low to high" in html


def test_the_empty_state_helps_and_offers_popular_products(client, shop):
    html = client.get(reverse("catalog:search"), {"q": "qqqqzzzz", "brand": "acme"}).content.decode()
    assert "No products match" in html
    assert "Search again without the filters" in html
    assert "Popular right now" in html and "Acme Trail Running Shoe Laces" in html


def test_page_and_api_query_counts_stay_flat_whatever_the_page_size(client, shop, django_assert_max_num_queries):
    client.get(reverse("catalog:search"), {"q": "shoe"})  # fills the category tree and the cards once
    for size in ("1", "5"):
        with django_assert_max_num_queries(12):
            assert client.get(reverse("catalog:search"), {"q": "shoe", "page_size": size}).status_code == 200
        with django_assert_max_num_queries(10):
            assert APIClient().get(SEARCH_API, {"q": "shoe", "page_size": size}).status_code == 200


def _change_form(product: Product, **overrides) -> dict:
    """What the admin's product change form posts for this product (no image rows)."""
    data = {
        "sku": product.sku, "slug": product.slug, "title": product.title, "description": product.description,
        "price": str(product.price), "compare_at_price": "", "category": product.category_id,
        "brand": product.brand_id or "", "attributes": json.dumps(product.attributes), "is_active": "on",
        "images-TOTAL_FORMS": "0", "images-INITIAL_FORMS": "0", "images-MIN_NUM_FORMS": "0",
        "images-MAX_NUM_FORMS": "1000",
    }  # fmt: skip
    return {**data, **overrides}
