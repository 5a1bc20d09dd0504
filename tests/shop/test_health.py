"""/healthz says the process lives; /readyz fails only without the primary database."""

from __future__ import annotations

import pytest
from django.core.cache import caches

from shop.conf import redis_cache_config
from tests.shop.helpers import get_with_client

DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1: a Redis that is down
DEAD_BROKER = "amqp://guest:guest@127.0.0.1:1//"


@pytest.fixture
def redis_down(settings):
    settings.CACHES = {"default": redis_cache_config(DEAD_REDIS, key_prefix="down")}
    yield
    caches["default"].close()


@pytest.mark.smoke
def test_healthz_answers_without_touching_any_service(client):
    # No django_db mark: pytest-django makes any database access here an error.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.smoke
@pytest.mark.django_db(databases="__all__")  # /readyz reads the replicas too
def test_readyz_is_ok_on_the_embedded_default(client, settings):
    settings.CELERY_BROKER_URL = ""
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["cache"]["status"] == "ok"
    assert body["checks"]["broker"]["status"] == "disabled"
    assert all(isinstance(check["latency_ms"], float) for check in body["checks"].values())


def test_readyz_answers_503_when_the_primary_database_is_down():
    # A new process whose DATABASE_URL points at a port where no PostgreSQL listens.
    status, body = get_with_client("/readyz", DATABASE_URL="postgres://postgres@127.0.0.1:1/shop")
    assert status == 503
    assert body["status"] == "down"
    assert body["checks"]["database"]["status"] == "down"
    assert body["checks"]["database"]["error"] == "OperationalError"
    assert body["checks"]["cache"]["status"] == "ok"


@pytest.mark.django_db(databases="__all__")  # /readyz reads the replicas too
def test_readyz_stays_ready_but_degraded_when_redis_is_down(client, redis_down):
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["cache"]["status"] == "degraded"
    assert body["checks"]["database"]["status"] == "ok"


@pytest.mark.django_db(databases="__all__")  # /readyz reads the replicas too
def test_readyz_stays_ready_but_degraded_when_the_broker_is_down(client, settings):
    settings.CELERY_BROKER_URL = DEAD_BROKER
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["broker"]["status"] == "degraded"


@pytest.mark.redis
@pytest.mark.django_db(databases="__all__")  # /readyz reads the replicas too
def test_readyz_reports_a_live_redis_as_ok(client, settings, redis_url):
    settings.CACHES = {"default": redis_cache_config(redis_url, key_prefix="test-readyz")}
    assert client.get("/readyz").json()["checks"]["cache"]["status"] == "ok"


@pytest.mark.rabbitmq
@pytest.mark.django_db(databases="__all__")  # /readyz reads the replicas too
def test_readyz_reports_a_live_broker_as_ok(client, settings, broker_url):
    settings.CELERY_BROKER_URL = broker_url
    assert client.get("/readyz").json()["checks"]["broker"]["status"] == "ok"


def test_readyz_refuses_writes(client):
    assert client.post("/readyz").status_code == 405
