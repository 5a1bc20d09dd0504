"""Suite-wide fixtures: fast hashing, a clean cache, clients, and the real-service markers.

Tests marked `postgres`, `redis` or `rabbitmq` need that real server. Without it they skip with a
reason, so `make test` passes on a bare machine; with SHOP_REQUIRE_SERVICES=1 (set by .ci/run) a
missing service fails the test instead, so CI can never pass by skipping.
"""

from __future__ import annotations

import os

import pytest
from django.core.cache import caches
from django.db import connection
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from shop.redis_guard import reset_breakers
from tests.cache_helpers import clear_cache
from tests.clock import FakeClock

# Property tests stay bounded so the suite fits its time budget on 2 cores, and derandomized: the
# same examples every run (a CI run never depends on chance without a seed); HYPOTHESIS_PROFILE=deep
# explores further, with fresh randomness, when asked.
hypothesis_settings.register_profile(
    "ci", max_examples=60, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)  # fmt: skip
hypothesis_settings.register_profile("deep", max_examples=1000, deadline=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def _missing_service(marker: str) -> str | None:
    if marker == "postgres" and connection.vendor != "postgresql":
        return "needs PostgreSQL: set DATABASE_URL=postgres://..."
    if marker == "redis" and not os.environ.get("REDIS_URL"):
        return "needs Redis: set REDIS_URL=redis://..."
    if marker == "rabbitmq" and not os.environ.get("CELERY_BROKER_URL", "").startswith("amqp"):
        return "needs RabbitMQ: set CELERY_BROKER_URL=amqp://..."
    if marker == "replica_alias" and not os.environ.get("DATABASE_REPLICA_URLS"):
        return "needs a replica alias: set DATABASE_REPLICA_URLS=postgres://... (.ci/replica.sh)"
    if marker == "replica" and not os.environ.get("DATABASE_REPLICA_REAL_URL"):
        return "needs a streaming replica: set DATABASE_REPLICA_REAL_URL=postgres://... (.ci/replica.sh)"
    return None


def pytest_itemcollected(item: pytest.Item) -> None:
    # Tests with a live worker share the broker's queues (and purge them): with pytest-xdist
    # (--dist loadgroup) they all run in one process, one after another. Marked as each test is
    # collected, before xdist's collection hook reads the group into the node id.
    if item.get_closest_marker("rabbitmq"):
        item.add_marker(pytest.mark.xdist_group("rabbitmq"))


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker in ("postgres", "redis", "rabbitmq", "replica_alias", "replica"):
        if item.get_closest_marker(marker) and (reason := _missing_service(marker)):
            if os.environ.get("SHOP_REQUIRE_SERVICES") == "1":
                pytest.fail(f"SHOP_REQUIRE_SERVICES=1 but this test {reason}", pytrace=False)
            pytest.skip(reason)


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings) -> None:
    # Argon2 is the production hasher (tested on its own); tests hash with MD5 for speed.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fragment_check(settings) -> None:
    # Every kept page part is rendered again on each hit and must match (shop/fragments.py): a
    # value a part shows but its key does not name fails whichever test shows it.
    settings.FRAGMENT_CHECK = True


@pytest.fixture(autouse=True)
def _fresh_redis_breakers():
    # The Redis circuit breakers are per process: a test that made one Redis address fail must
    # not leave the next test with that breaker open (or its outage already reported).
    reset_breakers()


@pytest.fixture(autouse=True)
def _clean_cache(settings, worker_id):
    # Each test starts with an empty cache. On Redis every xdist worker gets a key prefix of its
    # own (below the run's prefix from .ci/run), and only those keys are deleted, so parallel
    # workers and parallel CI runs never see each other's entries.
    if settings.CACHES["default"]["BACKEND"] == "django_redis.cache.RedisCache":
        settings.CACHES = {
            "default": {
                **settings.CACHES["default"],
                "KEY_PREFIX": f"{settings.CACHES['default']['KEY_PREFIX']}-{worker_id}",
            }
        }
    yield
    for cache in caches.all(initialized_only=True):
        clear_cache(cache)
    from catalog import selectors

    selectors.forget_shown()  # the product pages' guesses (ids a test's rollback made unknown)


@pytest.fixture(autouse=True)
def _eager_celery():
    # Tests run tasks in-process and see their errors; tests about workers (a real worker on
    # RabbitMQ, routing) switch this off through their own fixture.
    from celery.result import _set_task_join_will_block

    from shop.celery import app

    # A live worker thread of an earlier test may have marked this process as a worker, which
    # forbids .get() on results ("never call result.get() within a task").
    _set_task_join_will_block(False)
    saved = (app.conf.task_always_eager, app.conf.task_eager_propagates)
    app.conf.update(task_always_eager=True, task_eager_propagates=True)
    yield
    app.conf.update(task_always_eager=saved[0], task_eager_propagates=saved[1])


@pytest.fixture
def fake_clock(monkeypatch) -> FakeClock:
    """The circuit breakers' clock (shop.breaker, shop.redis_guard), moved by the test."""
    import shop.breaker
    import shop.redis_guard

    clock = FakeClock()
    monkeypatch.setattr(shop.breaker, "time", clock)
    monkeypatch.setattr(shop.redis_guard, "time", clock)
    return clock


@pytest.fixture
def redis_url() -> str:
    return os.environ["REDIS_URL"]


@pytest.fixture
def broker_url() -> str:
    return os.environ["CELERY_BROKER_URL"]
