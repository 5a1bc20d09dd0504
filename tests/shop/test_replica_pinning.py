"""Customers read their own writes: a client that wrote is pinned to the primary for a few seconds.

Transactional for the same reason as test_db_router.py: inside pytest-django's usual test
transaction every read goes to the primary, pinned or not.
"""

from __future__ import annotations

import time

import pytest
from django.core.cache import cache
from django.db import connections, router
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from catalog.models import Product
from shop.db_router import PIN_COOKIE, ReplicaPinMiddleware, read_scope, replica_ok, user_pin_key
from tests.accounts.factories import DEFAULT_PASSWORD, UserFactory
from tests.catalog.factories import CategoryFactory, ProductFactory
from tests.shop.test_db_router import (  # noqa: F401  (fixtures)
    ROUTER_DATABASES,
    _fresh_read_scope,
    _test_aliases,
    product_queries,
    replicas,
)
from tests.shop.test_health import redis_down  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db(transaction=True, databases=ROUTER_DATABASES)


def read_alias_for(request: HttpRequest) -> str:
    """Where an opted-in read of this request goes, decided as the first read of a new request."""
    with read_scope(request), replica_ok():
        return router.db_for_read(Product)


def writing_view(request: HttpRequest) -> HttpResponse:
    CategoryFactory()
    return HttpResponse("written")


def reading_view(request: HttpRequest) -> HttpResponse:
    with replica_ok():
        return HttpResponse(str(Product.objects.count()))


def pin_cookie(seconds_from_now: float) -> str:
    return str(int(time.time() + seconds_from_now))


def test_a_client_with_a_fresh_pin_cookie_reads_the_primary(replicas, rf: RequestFactory):  # noqa: F811
    replicas("router_live")
    assert read_alias_for(rf.get("/")) == "router_live"
    rf.cookies[PIN_COOKIE] = pin_cookie(4)
    assert read_alias_for(rf.get("/")) == "default"


@pytest.mark.parametrize(
    "value", [pin_cookie(-1), "not-a-time", pin_cookie(3600)], ids=["expired", "garbage", "forged"]
)
def test_an_expired_or_made_up_pin_cookie_does_not_pin(replicas, rf: RequestFactory, value):  # noqa: F811
    replicas("router_live")
    rf.cookies[PIN_COOKIE] = value
    assert read_alias_for(rf.get("/")) == "router_live"


def test_a_user_with_a_pin_key_reads_the_primary_even_without_the_cookie(replicas, rf: RequestFactory):  # noqa: F811
    # given: an API client's user whose key is in the cache
    replicas("router_live")
    user = UserFactory()
    cache.set(user_pin_key(user.pk), 1, timeout=5)
    request = rf.get("/api/v1/products/")
    # when: the user is known only after the scope opened, as DRF sets it when the view authenticates
    with read_scope(request):
        request.user = user
        with replica_ok():
            alias = router.db_for_read(Product)
    # then
    assert alias == "default"
    cache.delete(user_pin_key(user.pk))
    request.user = user
    assert read_alias_for(request) == "router_live"


def test_a_request_that_wrote_gets_the_pin_cookie_and_its_user_a_pin_key(replicas, settings, rf):  # noqa: F811
    # given
    replicas("router_live")
    settings.DATABASE_REPLICA_PIN_SECONDS = 7
    user = UserFactory()
    request = rf.post("/cart/add")
    request.user = user
    # when
    response = ReplicaPinMiddleware(writing_view)(request)
    # then
    cookie = response.cookies[PIN_COOKIE]
    assert cookie["max-age"] == 7
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["secure"] is True  # pytest-django runs with DEBUG off, like production
    assert time.time() < int(cookie.value) <= time.time() + 8
    assert cache.get(user_pin_key(user.pk)) == 1


def test_the_pin_cookie_is_not_secure_only_in_debug(replicas, settings, rf):  # noqa: F811
    replicas("router_live")
    settings.DEBUG = True
    response = ReplicaPinMiddleware(writing_view)(rf.post("/"))
    assert response.cookies[PIN_COOKIE]["secure"] == ""


def test_a_read_only_request_pins_nobody(replicas, rf):  # noqa: F811
    replicas("router_live")
    user = UserFactory()
    request = rf.get("/")
    request.user = user
    response = ReplicaPinMiddleware(reading_view)(request)
    assert response.content == b"0"
    assert PIN_COOKIE not in response.cookies
    assert cache.get(user_pin_key(user.pk)) is None


def test_without_replicas_a_write_pins_nobody(replicas, rf):  # noqa: F811
    replicas()
    assert PIN_COOKIE not in ReplicaPinMiddleware(writing_view)(rf.post("/")).cookies


def test_within_a_request_reads_after_its_write_go_to_the_primary(replicas, rf):  # noqa: F811
    replicas("router_live")
    seen: list[str] = []

    def view(request: HttpRequest) -> HttpResponse:
        with replica_ok():
            seen.append(router.db_for_read(Product))
            CategoryFactory()
            seen.append(router.db_for_read(Product))
        return HttpResponse()

    ReplicaPinMiddleware(view)(rf.post("/"))
    assert seen == ["router_live", "default"]


def test_the_user_pin_ends_with_its_ttl(replicas, settings, rf):  # noqa: F811
    # given: a user who wrote, with a pin of one second
    replicas("router_live")
    settings.DATABASE_REPLICA_PIN_SECONDS = 1
    user = UserFactory()
    writing = rf.post("/")
    writing.user = user
    ReplicaPinMiddleware(writing_view)(writing)
    reading = rf.get("/")  # an API client: no cookie
    reading.user = user
    assert read_alias_for(reading) == "default"
    # when
    time.sleep(1.2)
    # then
    assert read_alias_for(reading) == "router_live"


def test_with_redis_down_a_write_still_pins_the_browser_by_cookie(replicas, redis_down, rf):  # noqa: F811
    # given: Redis does not answer, so the user key can be neither written nor read
    replicas("router_live")
    user = UserFactory()
    request = rf.post("/")
    request.user = user
    # when
    response = ReplicaPinMiddleware(writing_view)(request)
    # then: no error; the cookie pins the browser, an API client without cookies is not pinned
    assert PIN_COOKIE in response.cookies
    rf.cookies[PIN_COOKIE] = response.cookies[PIN_COOKIE].value
    with_cookie = rf.get("/")
    with_cookie.user = user
    assert read_alias_for(with_cookie) == "default"
    del rf.cookies[PIN_COOKIE]
    without_cookie = rf.get("/")
    without_cookie.user = user
    assert read_alias_for(without_cookie) == "router_live"


@pytest.mark.redis
def test_the_user_pin_lives_in_redis_for_the_pin_time(replicas, settings, redis_url, rf):  # noqa: F811
    from shop.conf import redis_cache_config

    replicas("router_live")
    settings.CACHES = {"default": redis_cache_config(redis_url, key_prefix=f"pin-{time.time_ns()}")}
    settings.DATABASE_REPLICA_PIN_SECONDS = 5
    user = UserFactory()
    request = rf.post("/")
    request.user = user
    ReplicaPinMiddleware(writing_view)(request)
    assert 0 < cache.ttl(user_pin_key(user.pk)) <= 5


def test_a_customer_who_logs_in_reads_the_primary_until_the_pin_expires(replicas, client):  # noqa: F811
    # given: the middleware as installed in settings, and a category page listing a product (its
    # card is cached data filled from the primary; its availability is read where the router says)
    replicas("router_live")
    listing = ProductFactory().category.get_absolute_url()
    user = UserFactory()
    # when: the login writes (last_login, a new session)
    login = client.post(reverse("accounts:login"), {"username": user.email, "password": DEFAULT_PASSWORD})
    # then: the browser and the user are pinned, and a category page reads the primary
    assert login.status_code == 302
    assert PIN_COOKIE in login.cookies
    assert cache.get(user_pin_key(user.pk)) == 1
    with CaptureQueriesContext(connections["router_live"]) as on_replica:
        home = client.get(listing)
    assert home.status_code == 200
    assert PIN_COOKIE not in home.cookies  # a read-only page renews no pin
    assert stock_queries(on_replica) == []
    # and once the pin is gone (cookie expired, key expired) the category page reads the replica
    del client.cookies[PIN_COOKIE]
    cache.delete(user_pin_key(user.pk))
    with CaptureQueriesContext(connections["router_live"]) as on_replica:
        assert client.get(listing).status_code == 200
    assert len(stock_queries(on_replica)) == 1


def stock_queries(captured) -> list[str]:
    return [query["sql"] for query in captured if "inventory_stockitem" in query["sql"]]
