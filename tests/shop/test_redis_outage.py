"""With Redis down the storefront still renders and customers stay logged in (cached_db sessions)."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.urls import reverse

from catalog import cache as catalog_cache
from shop.conf import redis_cache_config
from tests.accounts.factories import DEFAULT_PASSWORD, UserFactory
from tests.catalog.factories import ProductFactory
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
