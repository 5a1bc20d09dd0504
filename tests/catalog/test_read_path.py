"""The read path at a fixed, small cost (issue 16): cache round trips per warm page, SQL queries
per warm page, product versions, card fragments, ETags on the products API, and the guarantees
that must survive all that caching (prices on the next request, fresh availability, nobody
else's CSRF token, nothing public on the storefront)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.db import connection
from django.middleware.csrf import _unmask_cipher_token
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from catalog import cache as catalog_cache
from catalog import selectors, services
from catalog.models import Product
from inventory import services as inventory_services
from shop import fragments
from tests.cache_helpers import count_cache_calls
from tests.catalog.factories import BrandFactory, CategoryFactory, ProductFactory

pytestmark = pytest.mark.django_db

CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')  # a form's token, in its group


def stock(product: Product, quantity: int) -> None:
    inventory_services.set_level(product_id=product.pk, quantity=quantity, cause=f"test:{product.pk}:{quantity}")


@pytest.fixture
def lamps() -> list[Product]:
    category = CategoryFactory(name="Lamps", slug="lamps", parent=CategoryFactory(name="Home", slug="home"))
    brand = BrandFactory(name="Lumen", slug="lumen")
    made = [
        ProductFactory(title=f"Lumen Desk Lamp {n}", category=category, brand=brand, price=Decimal(10 + n),
                       popularity=n, attributes={"colour": ("Red", "Black")[n % 2]})
        for n in range(30)
    ]  # fmt: skip
    for product in made:
        stock(product, 20)
    return made


def warm_calls(client, url: str, **params):
    """The cache round trips and SQL queries of a warm request (after two others)."""
    client.get(url, params)
    client.get(url, params)
    with count_cache_calls() as calls, CaptureQueriesContext(connection) as queries:
        response = client.get(url, params)
    assert response.status_code == 200
    return calls, queries


def what_queries_read(queries) -> list[str]:
    """"availability", "cart count" (the header's, from the cart's context processor: one query for
    a visitor with an account or a guest token, which every browser has after its first product
    page since "Recently viewed"), or the tables of any other query."""
    kinds = []
    for query in queries:
        tables = sorted(set(re.findall(r'(?:FROM|JOIN) "(\w+)"', query["sql"])))
        kinds.append("cart count" if "cart_cart" in tables else "availability" if tables == ["inventory_stockitem"]
                     else "/".join(tables))  # fmt: skip
    return kinds


# --- Cache round trips and SQL queries per warm page ---------------------------------------------


@pytest.mark.redis
@pytest.mark.parametrize(
    ("url", "params"),
    [
        ("/c/lamps/", {"page_size": "10"}),
        ("/c/lamps/", {"page_size": "30", "brand": "lumen", "attr_colour": "Red"}),
        ("/search/", {"q": "lamp", "page_size": "10"}),
        ("/search/", {"q": "desk lamp", "page_size": "30", "attr_colour": "Black"}),
        ("/", {}),
    ],
)
def test_a_warm_page_costs_at_most_3_cache_round_trips_and_1_query_whatever_its_size(client, lamps, url, params):
    calls, queries = warm_calls(client, url.format(product=lamps[0].get_absolute_url()), **params)
    assert calls.total <= 3, calls.commands
    assert all(command.startswith("MGET") for command in calls.commands), calls.commands  # reads only
    assert len(queries) <= 1, [q["sql"] for q in queries]  # availability (never cached) where cards show it


@pytest.mark.redis
def test_a_product_page_this_process_has_shown_costs_one_round_trip_with_the_view_written_in_it(client, lamps):
    # the visitor's list holds only this product (nothing to show): the page, its pointer, the
    # cards recommended last time with their pointers and the visitor's list are read, and the
    # view written, in one pipeline
    calls, queries = warm_calls(client, lamps[3].get_absolute_url())
    assert calls.total == 1, calls.commands
    assert ":page:" in calls.commands[0], calls.commands
    assert what_queries_read(queries) == ["availability"]
    html = client.get(lamps[3].get_absolute_url()).content.decode()
    assert html.count('<h3 class="product-title">') >= 4  # the recommended cards came in that round trip


@pytest.mark.redis
@pytest.mark.parametrize("viewed", [1, 25])
def test_the_product_page_with_a_recently_viewed_row_costs_2_round_trips_and_1_query_whatever_its_length(
    client, lamps, viewed
):
    for product in lamps[:viewed]:
        client.get(product.get_absolute_url())
    calls, queries = warm_calls(client, lamps[29].get_absolute_url())
    # the page, its pointer and the visitor's list; then the row's cards with the view written alongside
    assert calls.total == 2, calls.commands
    assert all(command.startswith("MGET") for command in calls.commands), calls.commands
    assert what_queries_read(queries) == ["availability"]  # the product and the row
    assert "Recently viewed" in client.get(lamps[29].get_absolute_url()).content.decode()


@pytest.mark.redis
def test_the_home_page_with_a_recently_viewed_row_costs_its_3_round_trips_and_no_query(client, lamps):
    for product in lamps[:25]:
        client.get(product.get_absolute_url())
    calls, queries = warm_calls(client, "/")
    assert calls.total == 3, calls.commands  # the list rides with the generation, its cards with the others
    assert all(command.startswith("MGET") for command in calls.commands), calls.commands
    assert what_queries_read(queries) == []  # no query at all
    assert "Recently viewed" in client.get("/").content.decode()


@pytest.mark.redis
def test_a_product_page_this_process_has_not_shown_reads_its_recommended_cards_in_a_second_round_trip(client, lamps):
    # the page blob, its version pointer and its recommended ids in one MGET; then the recommended
    # cards (here the category's popular lamps) with their version pointers in one more
    url = lamps[3].get_absolute_url()
    client.get(url)
    client.get(url)
    selectors.forget_shown()  # as in a process that has not shown this page yet
    with count_cache_calls() as calls, CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    assert calls.total == 2, calls.commands
    assert ":page:" in calls.commands[0] and ":card:" not in calls.commands[0] and ":card:" in calls.commands[1]
    assert what_queries_read(queries) == ["availability"]  # the product and every candidate


@pytest.mark.redis
def test_a_guessed_card_that_changed_is_read_again_and_shown_as_it_is_now(client, lamps, django_capture_on_commit_callbacks):
    url = lamps[3].get_absolute_url()
    html = client.get(url).content.decode()
    shown = [p for p in lamps if f'"{p.get_absolute_url()}"' in html and p != lamps[3]]
    assert shown
    with django_capture_on_commit_callbacks(execute=True):
        services.update_product_price(product_id=shown[0].pk, price=Decimal("12.34"))
    assert "12.34" in client.get(url).content.decode()  # the guessed card's version is old: read again
    with count_cache_calls() as calls:
        assert "12.34" in client.get(url).content.decode()
    assert calls.total == 1, calls.commands


@pytest.mark.redis
@pytest.mark.parametrize("url", ["{product}", "/api/v1/products/{id}/recommendations"])
def test_recommendations_cost_the_same_round_trips_for_1_or_8_cards(client, lamps, url, django_capture_on_commit_callbacks):
    page = url.format(product=lamps[0].get_absolute_url(), id=lamps[0].pk)
    measured = []
    for shown in (1, 8):
        rows = [(lamps[0].pk, other.pk, 1.0, n + 1) for n, other in enumerate(lamps[1 : 1 + shown])]
        with django_capture_on_commit_callbacks(execute=True):
            services.replace_recommendations(after_product_id=lamps[0].pk - 1, up_to_product_id=lamps[0].pk, rows=rows)
        calls, queries = warm_calls(client, page)
        assert client.get(page).content.decode().count(f'"{lamps[shown].get_absolute_url()}') >= 1
        measured.append((calls.total, len(queries)))
    assert measured[0] == measured[1]


@pytest.mark.redis
def test_the_category_tree_is_not_read_again_while_the_generation_holds_then_is(client, lamps):
    calls, _ = warm_calls(client, "/c/lamps/")
    assert not any(":tree:" in command for command in calls.commands)
    # a category added in the back office: the admin starts a new generation on commit
    CategoryFactory(name="Garden", slug="garden")
    catalog_cache.invalidate_listings()
    assert 'href="/c/garden/"' in client.get("/c/lamps/").content.decode()


@pytest.mark.redis
def test_hits_and_misses_are_counted_without_a_round_trip_of_their_own(client, lamps):
    url = lamps[0].get_absolute_url()
    before = catalog_cache.stats()
    client.get(url)  # a miss
    with count_cache_calls() as calls:
        for _ in range(3):
            client.get(url)  # hits
    assert calls.total == 3 and all(c.startswith("MGET") for c in calls.commands), calls.commands  # 1 per page
    after = catalog_cache.stats()
    assert after["hits"] - before["hits"] >= 3 and after["misses"] - before["misses"] >= 1


# --- Product versions -----------------------------------------------------------------------------


def versions_of(*products: Product) -> list[int]:
    return [Product.objects.get(pk=p.pk).version for p in products]


def test_every_change_customers_see_raises_the_version_and_popularity_does_not(lamps, django_capture_on_commit_callbacks):
    first, second = lamps[0], lamps[1]
    with django_capture_on_commit_callbacks(execute=True):
        services.update_product_price(product_id=first.pk, price=Decimal("99.00"))
    assert versions_of(first, second) == [2, 1]
    with django_capture_on_commit_callbacks(execute=True):
        services.set_products_active(product_ids=[first.pk, second.pk], active=False)
    assert versions_of(first, second) == [3, 2]
    with django_capture_on_commit_callbacks(execute=True):
        services.move_products_to_category(product_ids=[second.pk], category_id=CategoryFactory().pk)
    assert versions_of(first, second) == [3, 3]
    Product.objects.filter(pk=first.pk).update(popularity=1000)  # the popularity job: not a visible change
    assert versions_of(first) == [3]


def test_a_price_change_shows_on_the_next_request_in_the_card_and_the_api(client, lamps, django_capture_on_commit_callbacks):
    product = lamps[29]  # the most popular: first on the category page
    assert "39.00 EUR" in client.get("/c/lamps/").content.decode()
    etag = APIClient().get(f"/api/v1/products/{product.pk}")["ETag"]
    with django_capture_on_commit_callbacks(execute=True):
        services.update_product_price(product_id=product.pk, price=Decimal("35.50"))
    html = client.get("/c/lamps/").content.decode()
    assert "35.50 EUR" in html and "39.00 EUR" not in html
    assert "35.50 EUR" in client.get("/search/", {"q": "lamp"}).content.decode()
    changed = APIClient().get(f"/api/v1/products/{product.pk}", HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed.json()["price"] == "35.50"


def test_the_product_pages_own_fragments_follow_every_change_on_the_next_request(
    client, lamps, django_capture_on_commit_callbacks
):
    product = lamps[29]
    url = product.get_absolute_url()
    assert "39.00 EUR" in client.get(url).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        services.update_product(
            product_id=product.pk, expected_version=None,
            values={"title": "Lumen Reading Lamp", "description": "Warm light.\n\nDimmable.", "sku": "LUM-RL-1"},
        )  # fmt: skip
        services.update_product_price(product_id=product.pk, price=Decimal("41.00"))
    html = client.get(url).content.decode()
    assert "<h1>Lumen Reading Lamp</h1>" in html and "41.00 EUR" in html and "39.00 EUR" not in html
    assert "<p>Warm light.</p>" in html and "SKU LUM-RL-1" in html
    stock(product, 2)  # availability sits between the fragments: fresh on every request
    assert "Only 2 left" in client.get(url).content.decode()


def test_a_card_stored_from_an_old_read_after_a_change_is_never_served(client, lamps, django_capture_on_commit_callbacks):
    product = lamps[29]
    client.get("/c/lamps/")
    stale = catalog_cache.cache.get(catalog_cache.card_key(product.pk))
    with django_capture_on_commit_callbacks(execute=True):
        services.update_product_price(product_id=product.pk, price=Decimal("31.00"))
    catalog_cache.cache.set(catalog_cache.card_key(product.pk), stale, 3600)  # a slow reader stores its old copy
    assert "31.00 EUR" in client.get("/c/lamps/").content.decode()


# --- What caching must never do --------------------------------------------------------------------


def test_availability_is_fresh_on_every_request(client, lamps):
    product = lamps[29]
    assert "In stock" in _card_html(client.get("/c/lamps/").content.decode(), product)
    stock(product, 3)
    assert "Only 3 left" in _card_html(client.get("/c/lamps/").content.decode(), product)
    stock(product, 0)
    card = _card_html(client.get("/c/lamps/").content.decode(), product)
    assert "Out of stock" in card and "disabled" in card
    assert "Out of stock" in client.get(product.get_absolute_url()).content.decode()


def _card_html(html: str, product: Product) -> str:
    start = html.index(f'href="{product.get_absolute_url()}"')
    return html[start : html.index("</article>", start)]


def test_two_visitors_never_see_each_others_csrf_token_in_a_card(lamps):
    pages = {}
    for name in ("ada", "bob"):
        visitor = Client()
        html = visitor.get("/c/lamps/").content.decode()
        tokens = CSRF_INPUT.findall(html)
        assert len(tokens) >= 24  # one form per card
        secret = visitor.cookies["csrftoken"].value
        assert {_unmask_cipher_token(t) for t in tokens} == {secret}  # every card carries this visitor's token
        pages[name] = (set(tokens), secret)
    assert pages["ada"][1] != pages["bob"][1]
    assert not pages["ada"][0] & pages["bob"][0]


@pytest.mark.parametrize("path", ["/", "/c/lamps/", "{product}", "/search/?q=lamp"])
def test_a_warm_page_renders_none_of_its_cards_and_header_again(client, lamps, path, settings):
    settings.FRAGMENT_CHECK = False  # the check renders every kept part again, on purpose
    url = path.format(product=lamps[0].get_absolute_url())
    client.get(url)  # "Recently viewed" is filled from now on
    fragments.clear()
    cold = client.get(url)
    assert "catalog/_product_card.html" in [t.name for t in cold.templates]
    warm = client.get(url)
    assert warm.status_code == 200
    assert warm.content == cold.content.replace(*_tokens_of(cold, warm))
    rendered = [t.name for t in warm.templates]
    assert "catalog/_product_card.html" not in rendered and "catalog/_add_to_cart.html" not in rendered


def _tokens_of(*responses) -> list[bytes]:
    return [CSRF_INPUT.search(r.content.decode()).group(1).encode() for r in responses]


def test_a_form_of_a_kept_page_part_is_accepted_and_the_header_follows_the_cart(lamps):
    Client().get("/c/lamps/")  # another visitor: the page's parts are kept
    visitor = Client(enforce_csrf_checks=True)
    html = visitor.get("/c/lamps/").content.decode()
    assert '<span class="cart-count">0</span>' in html
    token = CSRF_INPUT.search(_card_html(html, lamps[29])).group(1)
    response = visitor.post("/cart/add/", {"product_id": lamps[29].pk, "quantity": 1, "next": "/c/lamps/",
                                           "csrfmiddlewaretoken": token})  # fmt: skip
    assert response.status_code == 302
    assert '<span class="cart-count">1</span>' in visitor.get("/c/lamps/").content.decode()
    assert '<span class="cart-count">0</span>' in Client().get("/c/lamps/").content.decode()


@pytest.mark.parametrize("path", ["/no-such-page/", "/c/lamps/?price_min=9000"])
def test_a_page_without_a_form_sets_no_csrf_cookie(client, lamps, path):
    for _ in range(2):  # the part rendered, then kept
        response = client.get(path)
        assert "csrftoken" not in response.cookies
        assert 'name="csrfmiddlewaretoken"' not in response.content.decode()


def test_the_header_shows_each_visitor_their_own_account(lamps):
    from tests.accounts.factories import UserFactory

    ada = Client()
    ada.force_login(UserFactory(full_name="Ada Lovelace", email="ada@example.com"))
    assert "Log out" in ada.get("/c/lamps/").content.decode()
    html = Client().get("/c/lamps/").content.decode()
    assert "Log in" in html and "Log out" not in html and "Ada" not in html
    bob = Client()
    bob.force_login(UserFactory(full_name="Bob Babbage", email="bob@example.com"))
    html = bob.get("/c/lamps/").content.decode()
    assert "Bob" in html and "Ada" not in html


@pytest.mark.parametrize("path", ["/", "/c/lamps/", "{product}", "/search/?q=lamp", "/cart/"])
def test_no_storefront_page_is_marked_public(client, lamps, path):
    for _ in range(2):  # cold and warm
        response = client.get(path.format(product=lamps[0].get_absolute_url()))
        assert response.status_code == 200
        assert "public" not in response.get("Cache-Control", "")


# --- HTTP caching on the products API ----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/products/{id}", "/api/v1/products/by-slug/{slug}", "/api/v1/products?category=lamps"])
def test_the_api_answers_304_for_an_unchanged_product_and_200_once_its_stock_changed(lamps, path):
    product = lamps[29]
    url = path.format(id=product.pk, slug=product.slug)
    first = APIClient().get(url)
    assert first.status_code == 200
    assert first["Cache-Control"] == "public, max-age=0, must-revalidate"
    etag = first["ETag"]
    again = APIClient().get(url, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again.content == b"" and again["ETag"] == etag
    stock(product, 2)  # a sale: the availability shown changes
    changed = APIClient().get(url, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag
    shown = changed.json() if "category" not in url else changed.json()["results"][0]
    assert shown["availability"]["label"] == "Only 2 left"


def test_a_brand_renamed_in_the_back_office_shows_on_its_cards_at_once(
    client, superuser_client, lamps, django_capture_on_commit_callbacks
):
    assert "Lumen</p>" in client.get("/c/lamps/").content.decode()
    brand = lamps[0].brand
    with django_capture_on_commit_callbacks(execute=True):
        response = superuser_client.post(f"/admin/catalog/brand/{brand.pk}/change/", {"name": "Lumina", "slug": "lumen"})
    assert response.status_code == 302
    html = client.get("/c/lamps/").content.decode()
    assert "Lumina</p>" in html and "Lumen</p>" not in html
    assert versions_of(lamps[0]) == [2]
