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


@pytest.mark.replica_alias
@pytest.mark.postgres
@pytest.mark.django_db(databases="__all__")  # /readyz reads the replicas too
def test_readyz_reports_each_replica_with_its_lag(client, settings):
    settings.CELERY_BROKER_URL = ""
    body = client.get("/readyz").json()
    assert set(body["replicas"]) == {"replica_1"}
    assert body["replicas"]["replica_1"]["status"] == "ok"
    assert 0 <= body["replicas"]["replica_1"]["lag_seconds"] < settings.DATABASE_REPLICA_MAX_LAG_SECONDS


@pytest.mark.replica_alias
@pytest.mark.postgres
@pytest.mark.django_db(databases="__all__")
def test_a_replica_that_is_down_or_lagging_degrades_readyz_but_never_fails_it(client, settings, monkeypatch):
    from shop import db_router

    settings.CELERY_BROKER_URL = ""
    monkeypatch.setattr(db_router, "is_marked_down", lambda alias: True)
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["replicas"]["replica_1"] == {"status": "down", "lag_seconds": None}
    monkeypatch.undo()
    monkeypatch.setattr(db_router, "measure_replica_lag", lambda alias: 42.0)
    response = client.get("/readyz")
    assert (response.status_code, response.json()["replicas"]["replica_1"]) == (
        200, {"status": "lagging", "lag_seconds": 42.0},
    )  # fmt: skip


@pytest.mark.django_db(databases="__all__")
def test_readyz_with_the_broker_down_reports_no_queue_depths_and_stays_up(client, settings):
    from shop.observability import probes

    probes.forget_queue_depths()
    settings.CELERY_BROKER_URL = DEAD_BROKER
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["queues"] == {}


@pytest.mark.rabbitmq
@pytest.mark.django_db(databases="__all__")
def test_readyz_reports_the_depth_of_every_queue(client, settings, broker_url):
    from shop.celery import app
    from shop.observability import probes
    from tests.celery_helpers import real_broker

    probes.forget_queue_depths()
    settings.CELERY_BROKER_URL = broker_url
    with real_broker(broker_url):
        app.control.purge()
        app.send_task("catalog.make_thumbnails", kwargs={"image_id": 0}, queue="images")
        queues = client.get("/readyz").json()["queues"]
        app.control.purge()
    probes.forget_queue_depths()
    assert set(queues) == set(probes.queue_names())
    assert queues["images"] == 1
