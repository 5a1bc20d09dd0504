"""Browsing: category filters and sorts, product pages, cache-aside, query budgets, bad parameters."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from catalog import cache as catalog_cache
from catalog.filters import ATTRIBUTE_NAME_RULE
from catalog.models import Product
from inventory import services as inventory_services
from tests.cache_helpers import clear_cache
from tests.catalog.factories import BrandFactory, CategoryFactory, ProductFactory

pytestmark = pytest.mark.django_db


def stock(product: Product, quantity: int) -> None:
    inventory_services.set_level(product_id=product.pk, quantity=quantity, cause=f"test:{product.pk}:{quantity}")


def titles(html: str, candidates: list[str]) -> list[str]:
    return [t for t in candidates if t in html]


@pytest.fixture
def shoes():
    # given: a category tree Sport > Shoes, two brands, attributes and stock
    sport = CategoryFactory(name="Sport", slug="sport")
    shoes = CategoryFactory(name="Shoes", slug="shoes", parent=sport)
    acme, zeta = BrandFactory(name="Acme", slug="acme"), BrandFactory(name="Zeta", slug="zeta")
    made = {
        "Red Acme 42": ProductFactory(title="Red Acme 42", category=shoes, brand=acme, price=Decimal("50.00"),
                                      attributes={"colour": "Red", "size": "42"}, popularity=5),
        "Blue Acme 43": ProductFactory(title="Blue Acme 43", category=shoes, brand=acme, price=Decimal("80.00"),
                                       attributes={"colour": "Blue", "size": "43"}, popularity=9),
        "Red Zeta 43": ProductFactory(title="Red Zeta 43", category=shoes, brand=zeta, price=Decimal("120.00"),
                                      attributes={"colour": "Red", "size": "43"}, popularity=1),
        "Sport Bottle": ProductFactory(title="Sport Bottle", category=sport, brand=zeta, price=Decimal("9.00"),
                                       attributes={"colour": "Green"}, popularity=3),
    }  # fmt: skip
    stock(made["Red Acme 42"], 10)
    stock(made["Blue Acme 43"], 0)
    stock(made["Red Zeta 43"], 2)
    return made


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["Blue Acme 43", "Red Acme 42", "Sport Bottle", "Red Zeta 43"]),
        ({"sort": "price_asc"}, ["Sport Bottle", "Red Acme 42", "Blue Acme 43", "Red Zeta 43"]),
        ({"sort": "price_desc"}, ["Red Zeta 43", "Blue Acme 43", "Red Acme 42", "Sport Bottle"]),
        ({"brand": "acme"}, ["Blue Acme 43", "Red Acme 42"]),
        ({"price_min": "60", "price_max": "130"}, ["Blue Acme 43", "Red Zeta 43"]),
        ({"in_stock": "1"}, ["Red Acme 42", "Red Zeta 43"]),
        ({"attr_colour": "Red"}, ["Red Acme 42", "Red Zeta 43"]),
        ({"attr_colour": ["Red", "Blue"], "attr_size": "43"}, ["Blue Acme 43", "Red Zeta 43"]),
        ({"brand": "zeta", "attr_colour": "Red", "in_stock": "true"}, ["Red Zeta 43"]),
    ],
)
def test_filters_and_sorts_give_the_right_products_in_the_api(shoes, params, expected):
    response = APIClient().get("/api/v1/products", {"category": "sport", **params})
    assert response.status_code == 200
    assert [r["title"] for r in response.json()["results"]] == expected
    assert response.json()["count"] == len(expected)


def test_the_category_page_lists_descendants_and_filters_like_the_api(client, shoes):
    html = client.get("/c/sport/", {"attr_colour": "Red", "sort": "price_asc"}).content.decode()
    assert titles(html, list(shoes)) == ["Red Acme 42", "Red Zeta 43"]
    assert html.index("Red Acme 42") < html.index("Red Zeta 43")
    assert "2 products" in html


def test_category_page_offers_brand_and_attribute_filters_from_its_products(client, shoes):
    html = client.get("/c/shoes/").content.decode()
    assert 'name="brand" value="acme"' in html
    assert 'name="attr_colour" value="Red"' in html
    assert 'name="attr_size" value="43"' in html
    assert 'value="Green"' not in html  # the bottle is in the parent category, not in Shoes


def test_product_page_shows_price_was_price_availability_attributes_and_breadcrumbs(client, shoes):
    product = shoes["Red Zeta 43"]
    Product.objects.filter(pk=product.pk).update(compare_at_price=Decimal("150.00"))
    html = client.get(product.get_absolute_url()).content.decode()
    assert "120.00 EUR" in html and '<span class="visually-hidden">was </span>150.00 EUR</s>' in html and "Save 20%" in html
    assert "Only 2 left" in html
    assert '<th scope="row">Colour</th><td>Red</td>' in html
    assert '<a href="/c/sport/">Sport</a> \u203a <a href="/c/shoes/">Shoes</a>' in html
    assert f'<link rel="canonical" href="http://testserver{product.get_absolute_url()}">' in html
    assert '<meta name="description" content="' in html


def test_product_page_costs_at_most_8_queries_cold_and_no_catalog_query_warm(client, shoes):
    url = shoes["Red Acme 42"].get_absolute_url()
    with CaptureQueriesContext(connection) as cold:
        assert client.get(url).status_code == 200
    with CaptureQueriesContext(connection) as warm:
        assert client.get(url).status_code == 200
    # the page (product, images, tree), availability, and "customers also bought" cold: the stored
    # list, the category's popular products, the recommended cards (products, images)
    assert len(cold) <= 8, [q["sql"] for q in cold]
    # availability only (inventory, never cached: the recommended products' too); browsing gives
    # no cart token, so no header cart count
    assert [q["sql"] for q in warm if "catalog_" in q["sql"]] == []
    assert len(warm) == 1, [q["sql"] for q in warm]


def _queries_for(url: str, client, params=None) -> int:
    clear_cache()
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url, params or {}).status_code == 200
    return len(queries)


@pytest.mark.parametrize("url", ["/c/many/", "/api/v1/products"])
def test_listing_queries_do_not_grow_with_the_page(client, url):
    category = CategoryFactory(slug="many")
    ProductFactory.create_batch(10, category=category, attributes={"colour": "Red"})
    params = {"category": "many", "page_size": 100} if url.startswith("/api") else {}
    with_10 = _queries_for(url, client, params)
    ProductFactory.create_batch(90, category=category, attributes={"colour": "Blue"})
    with_100 = _queries_for(url, client, params)
    assert with_10 == with_100 <= 9


def test_a_price_change_shows_on_the_next_request(client, shoes, django_capture_on_commit_callbacks):
    from catalog.services import update_product_price

    product = shoes["Red Acme 42"]
    assert "50.00 EUR" in client.get(product.get_absolute_url()).content.decode()
    assert "50.00 EUR" in client.get("/c/shoes/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        update_product_price(product_id=product.pk, price=Decimal("45.00"))
    assert "45.00 EUR" in client.get(product.get_absolute_url()).content.decode()
    assert "45.00 EUR" in client.get("/c/shoes/").content.decode()


@pytest.mark.parametrize("path", ["/p/{slug}/", "/api/v1/products/by-slug/{slug}", "/api/v1/products/{id}"])
def test_inactive_products_are_404_everywhere(client, shoes, path):
    product = shoes["Red Acme 42"]
    Product.objects.filter(pk=product.pk).update(is_active=False)
    assert client.get(path.format(slug=product.slug, id=product.pk)).status_code == 404
    assert "Red Acme 42" not in client.get("/c/shoes/").content.decode()
    assert "Red Acme 42" not in str(APIClient().get("/api/v1/products").json())


@pytest.mark.parametrize(
    ("params", "field"),
    [({"page": "-1"}, "page"), ({"price_min": "abc"}, "price_min"), ({"sort": "cheapest"}, "sort"),
     ({"page_size": "1000"}, "page_size"), ({"attr_Colour!": "x"}, "attr_Colour!"), ({"category": "nope"}, "category"),
     ({"price_min": "10", "price_max": "5"}, "price_max"), ({"in_stock": "maybe"}, "in_stock"), ({"bogus": "1"}, "bogus")],
)  # fmt: skip
def test_bad_listing_parameters_are_a_clear_400_in_the_api(shoes, params, field):
    response = APIClient().get("/api/v1/products", params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert field in response.json()["error"]["fields"]


@pytest.mark.parametrize(
    "params",
    [
        {"page": "-1"},
        {"price_min": "abc"},
        {"sort": "cheapest"},
        {"page": "999"},
        {"attr_Colour!": "x"},
        {"page_size": "0"},
    ],
)
def test_bad_listing_parameters_give_a_sane_category_page(client, shoes, params):
    response = client.get("/c/sport/", params)
    assert response.status_code == 200
    assert "Red Acme 42" in response.content.decode()


@pytest.mark.parametrize(
    "key", ["attr_colour__regex", "attr_colour__contains", "attr_regex", "attr_colour__", "attr_Colour!"]
)
def test_an_attribute_name_is_a_plain_key_never_a_lookup(client, shoes, key):
    # API: a 400 naming the parameter (before: a 500 on SQLite, a user-written regex elsewhere)
    response = APIClient().get("/api/v1/products", {key: "^B"})
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {key: [ATTRIBUTE_NAME_RULE]}
    # storefront: the bad filter is dropped and the page lists the category as usual
    page = client.get("/c/sport/", {key: "^B"})
    assert page.status_code == 200
    assert "Red Acme 42" in page.content.decode()


@pytest.mark.parametrize("name", ["size_eu", "size-eu", "Colour"])
def test_plain_attribute_names_with_underscores_dashes_or_capitals_filter(name, shoes):
    assert APIClient().get("/api/v1/products", {f"attr_{name}": "x"}).status_code == 200


def test_past_the_last_page_is_a_404_in_the_api(shoes):
    assert APIClient().get("/api/v1/products", {"page": 99}).status_code == 404


def test_product_detail_api_has_images_of_every_size_and_availability(shoes):
    product = shoes["Red Zeta 43"]
    body = APIClient().get(f"/api/v1/products/{product.pk}").json()
    assert body["title"] == "Red Zeta 43"
    assert body["availability"] == {"status": "low_stock", "quantity": 2, "label": "Only 2 left"}
    assert body["images"] == []
    assert APIClient().get(f"/api/v1/products/by-slug/{product.slug}").json()["id"] == product.pk


def test_categories_api_returns_the_tree(shoes):
    tree = APIClient().get("/api/v1/categories").json()
    assert [(n["slug"], [c["slug"] for c in n["children"]]) for n in tree] == [("sport", ["shoes"])]


def test_cache_hits_and_misses_are_counted(client, shoes):
    url = shoes["Red Acme 42"].get_absolute_url()
    client.get(url)
    client.get(url)
    stats = catalog_cache.stats()
    assert stats["hits"] >= 1 and stats["misses"] >= 1
    assert 0 < stats["hit_rate"] < 1


def test_the_header_search_box_stays_empty_on_a_category_page(client, shoes):
    html = client.get("/c/shoes/").content.decode()
    assert 'name="q" value=""' in html


@pytest.mark.parametrize("params", [{"brand": "a\x00b"}, {"attr_colour": "\x00"}, {"category": "x\x00"}])
def test_nul_characters_are_refused_not_sent_to_the_database(client, shoes, params):
    response = APIClient().get("/api/v1/products", params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert client.get("/c/shoes/", params).status_code == 200
    assert client.get("/search/", {"q": "Red\x00 Acme"}).status_code == 200


def test_unicode_digits_in_page_numbers_are_refused_not_a_500(client, shoes):
    assert APIClient().get("/api/v1/products", {"page": "\u00b2"}).status_code == 400
    assert APIClient().get("/api/v1/products", {"page_size": "\u0663"}).status_code == 400
    assert client.get("/c/shoes/", {"page": "\u00b2"}).status_code == 200


def test_numeric_attribute_values_are_stored_as_text_so_filters_find_them(client):
    category = CategoryFactory(slug="numbers")
    product = ProductFactory(category=category, attributes={"Size": 42})
    product.full_clean()
    product.save()
    assert Product.objects.get(pk=product.pk).attributes == {"size": "42"}
    body = APIClient().get("/api/v1/products", {"category": "numbers", "attr_size": "42"}).json()
    assert [r["id"] for r in body["results"]] == [product.pk]


def test_a_page_filled_from_an_old_read_after_a_change_is_never_served(
    client, shoes, django_capture_on_commit_callbacks
):
    from catalog.services import update_product_price

    # given: a reader computed the cache key and read the old row before the price change...
    product = shoes["Red Acme 42"]
    stale_key = catalog_cache.product_key(product.slug)
    with django_capture_on_commit_callbacks(execute=True):
        update_product_price(product_id=product.pk, price=Decimal("41.00"))
    # ...and stores its stale copy after the change committed
    catalog_cache.cache.set(stale_key, {"stale": True}, 3600)
    # then: the page shows the new price
    assert "41.00 EUR" in client.get(product.get_absolute_url()).content.decode()
