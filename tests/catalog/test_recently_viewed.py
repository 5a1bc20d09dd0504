"""Recently viewed (issue 13): the last CATALOG_RECENTLY_VIEWED products per visitor, newest first,
on the home and product pages and at /api/v1/me/recently-viewed; cleared on request; merged into
the account at sign-in; fails open. Runs on the cache the settings give: the local-memory default,
or the real Redis when REDIS_URL is set (the `redis` tests need it)."""

from __future__ import annotations

import re

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from catalog import recently_viewed, services
from catalog.models import Product
from catalog.recently_viewed import RECENT_COOKIE, Visitor
from inventory import services as inventory_services
from shop.guest import GUEST_COOKIE
from tests.accounts.factories import DEFAULT_PASSWORD, UserFactory
from tests.catalog.factories import ProductFactory
from tests.shop.test_health import redis_down  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db

API = "/api/v1/me/recently-viewed"


@pytest.fixture
def products() -> list[Product]:
    made = [ProductFactory(title=f"Viewed Thing {n:02}", slug=f"viewed-thing-{n:02}") for n in range(25)]
    for product in made:
        inventory_services.set_level(product_id=product.pk, quantity=20, cause=f"test:{product.pk}")
    return made


def view(client: Client, *products: Product) -> None:
    for product in products:
        assert client.get(product.get_absolute_url()).status_code == 200


def list_of(client: Client) -> list[int]:
    """The ids in this browser's list (its "Recently viewed" cookie), newest first."""
    return recently_viewed.product_ids(visitor=Visitor.of(guest_token=client.cookies[RECENT_COOKIE].value))


def row(html: str) -> str:
    """The "Recently viewed" section of a page ("" when the page has none)."""
    found = re.search(r'<section class="recently-viewed".*?</section>', html, re.S)
    return found.group(0) if found else ""


def titles_in_row(html: str) -> list[str]:
    return re.findall(r'<h3 class="product-title">(Viewed Thing \d+)</h3>', row(html))


def bearer(user) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return api


def guest_api() -> APIClient:
    api = APIClient()
    api.credentials(HTTP_X_GUEST_TOKEN=api.post("/api/v1/guest-tokens").json()["guest_token"])
    return api


# --- The list ------------------------------------------------------------------------------------


def test_newest_first_without_duplicates(client, products):
    a, b, c = products[:3]
    view(client, a, b, a, c, c)
    assert list_of(client) == [c.pk, a.pk, b.pk]


def test_capped_at_the_setting_keeping_the_newest(client, products, settings):
    settings.CATALOG_RECENTLY_VIEWED = 20
    view(client, *products)  # 25
    assert list_of(client) == [p.pk for p in reversed(products)][:20]


def test_a_slug_that_now_names_another_product_records_that_product(client, products, django_capture_on_commit_callbacks):
    first, second = products[0], products[1]
    slug = first.slug
    view(Client(), first)  # this process has shown the page under this slug: it guesses the product
    with django_capture_on_commit_callbacks(execute=True):
        services.update_product(product_id=first.pk, values={"slug": f"{slug}-old"}, expected_version=None)
        services.update_product(product_id=second.pk, values={"slug": slug}, expected_version=None)
    view(client, products[5])
    html = client.get(f"/p/{slug}/").content.decode()
    assert "<h1>Viewed Thing 01</h1>" in html
    assert list_of(client) == [second.pk, products[5].pk]
    assert titles_in_row(client.get(products[5].get_absolute_url()).content.decode()) == ["Viewed Thing 01"]


def test_a_product_no_longer_sold_is_a_404_and_never_shows_in_the_row(client, products, django_capture_on_commit_callbacks):
    gone = products[0]
    view(Client(), gone)  # this process has shown its page: the next view is told ahead
    with django_capture_on_commit_callbacks(execute=True):
        services.set_products_active(product_ids=[gone.pk], active=False)
    view(client, products[4])
    assert client.get(gone.get_absolute_url()).status_code == 404
    assert titles_in_row(client.get(products[5].get_absolute_url()).content.decode()) == ["Viewed Thing 04"]
    assert gone.pk not in list_of(client)


def test_a_browser_without_a_token_gets_a_recently_viewed_cookie_not_a_cart_token(client, products):
    response = client.get(products[0].get_absolute_url())
    assert response.cookies[RECENT_COOKIE]["httponly"] and response.cookies[RECENT_COOKIE]["samesite"] == "Lax"
    assert GUEST_COOKIE not in response.cookies  # browsing gives no cart token (no cart count on every page)
    assert list_of(client) == [products[0].pk]
    assert RECENT_COOKIE not in client.get(products[1].get_absolute_url()).cookies  # kept, not renewed


# --- The pages -----------------------------------------------------------------------------------


def test_the_product_page_shows_the_others_newest_first_without_itself(client, products):
    a, b, c = products[:3]
    assert row(client.get(a.get_absolute_url()).content.decode()) == ""  # nothing viewed before
    view(client, b, c)
    html = client.get(b.get_absolute_url()).content.decode()
    assert titles_in_row(html) == ["Viewed Thing 02", "Viewed Thing 00"]
    assert "In stock" in row(html)  # availability, as on every card of the page


def test_the_home_page_shows_the_row(client, products):
    assert row(client.get("/").content.decode()) == ""
    view(client, products[3], products[4])
    assert titles_in_row(client.get("/").content.decode()) == ["Viewed Thing 04", "Viewed Thing 03"]


def test_a_product_no_longer_sold_is_dropped(client, products, django_capture_on_commit_callbacks):
    view(client, *products[:3])
    with django_capture_on_commit_callbacks(execute=True):
        services.set_products_active(product_ids=[products[1].pk], active=False)
    assert titles_in_row(client.get("/").content.decode()) == ["Viewed Thing 02", "Viewed Thing 00"]
    assert list_of(client) == [products[2].pk, products[0].pk]  # and forgotten


def test_two_visitors_never_see_each_others_list(products):
    ada, bob = Client(), Client()
    view(ada, products[0])
    view(bob, products[1])
    assert titles_in_row(ada.get("/").content.decode()) == ["Viewed Thing 00"]
    assert titles_in_row(bob.get("/").content.decode()) == ["Viewed Thing 01"]


def test_the_clear_button_empties_the_list_and_needs_the_csrf_token(products):
    browser = Client(enforce_csrf_checks=True)
    view(browser, products[0], products[1])
    html = browser.get(products[0].get_absolute_url()).content.decode()
    form = row(html)
    assert 'action="/recently-viewed/clear/"' in form and 'method="post"' in form
    assert browser.post("/recently-viewed/clear/", {"next": "/"}).status_code == 403  # no CSRF token
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    next_url = products[0].get_absolute_url()
    response = browser.post("/recently-viewed/clear/", {"csrfmiddlewaretoken": token, "next": next_url})
    assert (response.status_code, response["Location"]) == (302, next_url)
    assert list_of(browser) == []
    assert row(browser.get("/").content.decode()) == ""


def test_the_clear_button_never_redirects_off_site(client, products):
    view(client, products[0])
    response = client.post("/recently-viewed/clear/", {"next": "https://evil.example/"})
    assert response["Location"] == reverse("catalog:home")
    assert client.get("/recently-viewed/clear/").status_code == 405


# --- Sign-in -------------------------------------------------------------------------------------


def test_the_guests_list_follows_them_into_the_account(client, products, django_capture_on_commit_callbacks):
    user = UserFactory()
    app = bearer(user)
    for product in (products[0], products[1]):  # the customer's own views, on another device
        assert app.get(f"/api/v1/products/{product.pk}").status_code == 200
    view(client, products[2], products[1])  # then, as a guest in the browser
    guest_token = client.cookies[RECENT_COOKIE].value

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("accounts:login"), {"username": user.email, "password": DEFAULT_PASSWORD})

    assert response.status_code == 302
    assert recently_viewed.product_ids(visitor=Visitor.of(user=user)) == [
        products[1].pk,
        products[2].pk,
        products[0].pk,
    ]
    assert recently_viewed.product_ids(visitor=Visitor.of(guest_token=guest_token)) == []
    assert [c["id"] for c in app.get(API).json()["results"]] == [products[1].pk, products[2].pk, products[0].pk]


def test_the_merged_list_is_capped(products, settings, django_capture_on_commit_callbacks):
    settings.CATALOG_RECENTLY_VIEWED = 20
    user, api = UserFactory(), guest_api()
    for product in products[:15]:
        bearer(user).get(f"/api/v1/products/{product.pk}")
    for product in products[10:]:
        api.get(f"/api/v1/products/{product.pk}")
    with django_capture_on_commit_callbacks(execute=True):
        signed_in = api.post("/api/v1/auth/token", {"email": user.email, "password": DEFAULT_PASSWORD}, format="json")
    assert signed_in.status_code == 200
    expected = [p.pk for p in reversed(products[10:])] + [p.pk for p in reversed(products[:10])][:5]
    assert recently_viewed.product_ids(visitor=Visitor.of(user=user)) == expected


# --- The API -------------------------------------------------------------------------------------


def test_the_api_lists_a_guests_views_as_cards_and_clears_them(products):
    api = guest_api()
    for product in (products[0], products[1]):
        assert api.get(f"/api/v1/products/{product.pk}").status_code == 200
    api.get(f"/api/v1/products/by-slug/{products[2].slug}")

    response = api.get(API)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3 and [c["id"] for c in body["results"]] == [products[2].pk, products[1].pk, products[0].pk]
    assert body["results"][0]["availability"]["status"] == "in_stock"
    assert "public" not in response["Cache-Control"]
    assert api.delete(API).status_code == 204
    assert api.get(API).json() == {"count": 0, "results": []}


def test_the_api_lists_a_customers_views(products):
    user = UserFactory()
    app = bearer(user)
    app.get(f"/api/v1/products/{products[5].pk}")
    response = app.get(API)
    assert response.status_code == 200 and [c["id"] for c in response.json()["results"]] == [products[5].pk]
    assert guest_api().get(API).json()["count"] == 0  # nobody else's


@pytest.mark.parametrize("method", ["get", "delete"])
def test_the_api_without_a_visitor_is_401_and_with_a_malformed_token_400(db, method):
    response = getattr(APIClient(), method)(API)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"

    malformed = getattr(APIClient(), method)(API, HTTP_X_GUEST_TOKEN="short")
    assert malformed.status_code == 400
    assert malformed.json()["error"] == {
        "code": "invalid",
        "message": "Some fields are not valid.",
        "fields": {"X-Guest-Token": ["Send the token POST /api/v1/guest-tokens gave (32-64 URL-safe characters)."]},
    }

    bad_jwt = getattr(APIClient(), method)(API, HTTP_AUTHORIZATION="Bearer not-a-jwt")
    assert bad_jwt.status_code == 401
    assert bad_jwt.json()["error"]["code"] == "authentication_failed"


def test_the_api_documents_every_status(db):
    schema = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    operations = schema["paths"][API]
    assert set(operations["get"]["responses"]) >= {"200", "400", "401", "429"}
    assert set(operations["delete"]["responses"]) >= {"204", "400", "401", "429"}


# --- Faults ----------------------------------------------------------------------------------------


def test_with_redis_down_pages_render_without_the_row_and_the_api_answers_empty(products, redis_down):  # noqa: F811
    browser = Client()
    browser.cookies[GUEST_COOKIE] = "g" * 43
    for url in (products[0].get_absolute_url(), products[1].get_absolute_url(), "/"):
        response = browser.get(url)
        assert response.status_code == 200
        assert row(response.content.decode()) == ""
    api = APIClient()
    api.credentials(HTTP_X_GUEST_TOKEN="g" * 43)
    assert api.get(f"/api/v1/products/{products[0].pk}").status_code == 200
    assert api.get(API).json() == {"count": 0, "results": []}
    assert api.delete(API).status_code == 204


@pytest.mark.redis
def test_on_redis_the_list_is_a_redis_list_with_a_ttl(client, products, settings):
    view(client, products[0])  # a new guest: a day until they come back with the cookie
    key = cache.client.make_key(recently_viewed.guest_list_key(client.cookies[RECENT_COOKIE].value))
    redis = cache.client.get_client(write=True)
    assert redis.type(key) == b"list" and 0 < redis.ttl(key) <= recently_viewed.NEW_GUEST_TTL
    view(client, products[1])
    assert redis.lrange(key, 0, -1) == [str(products[1].pk).encode(), str(products[0].pk).encode()]
    assert redis.ttl(key) > recently_viewed.NEW_GUEST_TTL  # CATALOG_RECENTLY_VIEWED_DAYS


@pytest.mark.redis
def test_a_new_guests_list_begun_on_a_slug_that_now_names_another_product_holds_that_product(
    client, products, django_capture_on_commit_callbacks
):
    """A list begun by the request is written without LREM/LTRIM: the id told ahead (the product
    the slug used to name) is still taken out again."""
    first, second = products[0], products[1]
    slug = first.slug
    view(Client(), first)  # this process guesses the slug's product from now on
    with django_capture_on_commit_callbacks(execute=True):
        services.update_product(product_id=first.pk, values={"slug": f"{slug}-old"}, expected_version=None)
        services.update_product(product_id=second.pk, values={"slug": slug}, expected_version=None)
    assert "<h1>Viewed Thing 01</h1>" in client.get(f"/p/{slug}/").content.decode()
    key = cache.client.make_key(recently_viewed.guest_list_key(client.cookies[RECENT_COOKIE].value))
    redis = cache.client.get_client(write=True)
    assert redis.lrange(key, 0, -1) == [str(second.pk).encode()]
    assert 0 < redis.ttl(key) <= recently_viewed.NEW_GUEST_TTL
