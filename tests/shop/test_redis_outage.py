"""With Redis down the storefront still renders and customers stay logged in (cached_db sessions)."""

from __future__ import annotations

import logging
import re
import time

import pytest
from django.core.cache import cache, caches
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from catalog import cache as catalog_cache
from shop.conf import redis_cache_config
from shop.redis_guard import reset_breakers
from tests.accounts.factories import DEFAULT_PASSWORD, UserFactory
from tests.catalog.factories import ProductFactory
from tests.redis_faults import hung_redis
from tests.shop.test_health import redis_down  # noqa: F401  (fixture)


@pytest.mark.django_db
def test_pages_render_from_the_database_when_redis_is_down(client, redis_down):  # noqa: F811
    product = ProductFactory(title="Trail Running Shoe")
    assert client.get(reverse("catalog:home")).status_code == 200
    page = client.get(product.get_absolute_url())
    assert page.status_code == 200
    assert "Trail Running Shoe" in page.content.decode()
    assert product.category.name in client.get(reverse("catalog:home")).content.decode()  # the menu, uncached


@pytest.mark.django_db
def test_customers_log_in_and_stay_logged_in_when_redis_is_down(client, redis_down):  # noqa: F811
    user = UserFactory()
    response = client.post(reverse("accounts:login"), {"username": user.email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 302
    account = client.get(reverse("accounts:account"))
    assert account.status_code == 200
    assert user.email in account.content.decode()


@pytest.mark.redis
@pytest.mark.django_db
def test_sessions_and_pages_use_the_live_redis(client, settings, redis_url):
    # given: the real Redis with a key prefix of this test's own
    settings.CACHES = {"default": redis_cache_config(redis_url, key_prefix=f"test-{id(client)}")}
    user = UserFactory()
    # when
    client.post(reverse("accounts:login"), {"username": user.email, "password": DEFAULT_PASSWORD})
    # then: the session sits in Redis (in front of the database) and the menu was cached there
    session_key = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert cache.get(f"django.contrib.sessions.cached_db{session_key}") is not None
    assert client.get(reverse("accounts:account")).status_code == 200
    client.get(reverse("catalog:home"))
    assert cache.get(catalog_cache.listing_key("tree", "all")) is not None  # the category menu


# --- A hung Redis, a refusing Redis: timeouts, the breaker, one log line (issue 20, items 17-18) ---


@pytest.mark.django_db
def test_every_page_renders_with_redis_hung_waiting_for_it_at_most_three_times(client, settings, fake_clock):
    # given: a catalog, a signed-in customer (session), and the pages a visitor opens
    product = ProductFactory(title="Trail Running Shoe")
    customer = UserFactory()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(customer).access_token}")
    pages = [
        (client, reverse("catalog:home")),
        (client, product.category.get_absolute_url()),
        (client, product.get_absolute_url()),
        (client, reverse("accounts:login")),
        (api, "/api/v1/products"),
        (api, "/api/v1/me"),
    ]
    member = Client()
    member.force_login(customer)  # the session: in the database, and in the cache in front of it
    pages.append((member, reverse("accounts:account")))
    with hung_redis() as redis:
        settings.CACHES = {"default": redis_cache_config(redis.url, key_prefix="hung")}
        try:
            for page_client, path in pages:
                reset_breakers()  # each page as the first one of a fresh process: the worst case
                waited_before = len(redis.connections)
                status = page_client.get(path).status_code
                # then: the page renders, and it waited for the silent server (one socket timeout
                # each, REDIS_SOCKET_TIMEOUT) only until the breaker opened, not once per cache call
                assert status == 200, path
                assert len(redis.connections) - waited_before <= settings.REDIS_BREAKER_FAILURES, path
        finally:
            caches["default"].close()


@pytest.mark.django_db
def test_the_breaker_stops_calling_a_hung_redis_then_tries_once_again(settings, fake_clock):
    with hung_redis() as redis:
        settings.CACHES = {"default": redis_cache_config(redis.url, key_prefix="hung")}
        cache = caches["default"]
        try:
            for _ in range(settings.REDIS_BREAKER_FAILURES):  # each one waits for its socket timeout
                assert cache.get("key") is None
            connections = len(redis.connections)
            assert connections == settings.REDIS_BREAKER_FAILURES
            # when: the breaker is open, a hundred calls reach nobody
            assert all(cache.get(f"key-{n}") is None for n in range(100))
            assert len(redis.connections) == connections
            # then: after the open period, one call tries the server again (and waits: it is still
            # hung), and the breaker opens again at once
            fake_clock.advance(settings.REDIS_BREAKER_OPEN_SECONDS + 0.1)
            started = time.monotonic()
            assert cache.get("key") is None
            assert time.monotonic() - started >= settings.REDIS_SOCKET_TIMEOUT * 0.9
            assert len(redis.connections) == connections + 1
            assert all(cache.get(f"key-{n}") is None for n in range(10))
            assert len(redis.connections) == connections + 1
        finally:
            cache.close()


def _redis_log_records(caplog) -> list[logging.LogRecord]:
    return [
        r for r in caplog.records if r.name.startswith(("shop.redis", "django_redis")) and r.levelno >= logging.INFO
    ]


@pytest.mark.django_db
def test_a_refusing_redis_is_logged_once_with_a_count_not_a_traceback_per_call(client, redis_down, settings, caplog):  # noqa: F811
    product = ProductFactory()
    with caplog.at_level(logging.INFO):
        for _ in range(3):
            assert client.get(reverse("catalog:home")).status_code == 200
            assert client.get(product.get_absolute_url()).status_code == 200
    (record,) = _redis_log_records(caplog)  # one line for six pages and dozens of cache calls
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert f"{settings.REDIS_BREAKER_FAILURES} calls failed" in record.getMessage()
    assert "unreachable" in record.getMessage()


@pytest.mark.django_db
def test_a_long_outage_is_reported_once_per_interval_with_what_was_skipped(redis_down, settings, caplog, fake_clock):  # noqa: F811
    settings.REDIS_BREAKER_OPEN_SECONDS = 0.05
    settings.REDIS_OUTAGE_LOG_SECONDS = 0.3
    cache = caches["default"]
    with caplog.at_level(logging.INFO):
        for _ in range(120):  # a busy process during a 1.2 s outage: a call every 10 ms
            cache.get("key")
            fake_clock.advance(0.01)
    records = _redis_log_records(caplog)
    # the opening, then one report per 0.3 s or a little more (the next failed trial): three; never one per call
    assert len(records) == 4
    assert "still unreachable" in records[-1].getMessage()
    assert re.search(r"\d+ calls failed and [1-9]\d* were skipped", records[-1].getMessage())
