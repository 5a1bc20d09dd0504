"""GET /metrics: who may read it, the gauges read when scraped, and a broker that is down (issue 14)."""

from __future__ import annotations

import socket
import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from shop.models import DeadLetter, OutboxMessage
from shop.observability import probes
from tests.metrics_helpers import scrape

DEAD_BROKER = "amqp://guest:guest@127.0.0.1:1//"  # nothing listens on port 1
TOKEN = "s3cret-metrics-token"
# The scrape reads the outbox, dead letters and replicas; the 404 page shows the category menu.
pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture(autouse=True)
def _fresh_queue_depths():
    probes.forget_queue_depths()
    yield
    probes.forget_queue_depths()


@pytest.fixture
def metrics(client, settings):
    """Scrape /metrics with the token, as Prometheus does (pytest-django runs with DEBUG off)."""
    settings.METRICS_TOKEN = TOKEN
    return lambda: scrape(client, TOKEN)


def value(found: dict, name: str, **labels) -> float | None:
    return found.get((name, tuple(sorted(labels.items()))))


# --- Who may read it ------------------------------------------------------------------------


@pytest.mark.smoke
def test_the_embedded_default_answers_a_loopback_client(client, settings):
    settings.DEBUG, settings.METRICS_TOKEN, settings.CELERY_BROKER_URL = True, "", ""
    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    body = response.content.decode()
    for name in ("shop_outbox_pending", "shop_dead_letters", "shop_orders_placed_total", "shop_cache_requests_total"):
        assert f"\n{name}" in body or body.startswith(name)


@pytest.mark.parametrize("address", ["10.0.0.7", "192.168.1.20", "not-an-address"])
def test_the_embedded_default_refuses_any_other_address(client, settings, address):
    settings.DEBUG, settings.METRICS_TOKEN = True, ""
    assert client.get("/metrics", REMOTE_ADDR=address).status_code == 404


def test_with_debug_off_and_no_token_nobody_gets_it_not_even_loopback(client, settings):
    settings.DEBUG, settings.METRICS_TOKEN = False, ""
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 404


@pytest.mark.parametrize(
    "authorization", ["", f"Bearer {TOKEN}x", f"bearer {TOKEN}", TOKEN, f"Basic {TOKEN}", "Bearer "]
)
def test_with_a_token_a_wrong_or_missing_one_is_a_404_even_from_loopback(client, settings, authorization):
    settings.DEBUG, settings.METRICS_TOKEN = False, TOKEN
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1", **headers).status_code == 404


def test_the_token_is_accepted_from_any_address(client, settings):
    settings.DEBUG, settings.METRICS_TOKEN, settings.CELERY_BROKER_URL = False, TOKEN, ""
    response = client.get("/metrics", REMOTE_ADDR="10.0.0.7", HTTP_AUTHORIZATION=f"Bearer {TOKEN}", secure=True)
    assert response.status_code == 200
    assert b"shop_outbox_pending" in response.content


# --- Gauges read at scrape time -------------------------------------------------------------


def test_outbox_and_dead_letter_gauges_read_the_real_tables(metrics, client, settings):
    settings.CELERY_BROKER_URL = ""
    # given: two pending messages (the oldest two minutes old), one dispatched; two dead letters, one retried
    old = OutboxMessage.objects.create(topic="order.placed", key="SO-OLD", payload={})
    OutboxMessage.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(seconds=120))
    OutboxMessage.objects.create(topic="order.placed", key="SO-NEW", payload={})
    OutboxMessage.objects.create(topic="order.placed", key="SO-SENT", payload={}, dispatched_at=timezone.now())
    DeadLetter.objects.create(task_name="orders.allocate_order", error="boom")
    DeadLetter.objects.create(task_name="orders.allocate_order", error="boom", retried_at=timezone.now())
    # when
    found = metrics()
    # then
    assert value(found, "shop_outbox_pending") == 2
    assert 120 <= value(found, "shop_outbox_oldest_pending_seconds") < 180
    assert value(found, "shop_dead_letters") == 1
    # and once everything is sent and retried, they fall back
    OutboxMessage.objects.update(dispatched_at=timezone.now())
    DeadLetter.objects.update(retried_at=timezone.now())
    found = metrics()
    assert (value(found, "shop_outbox_pending"), value(found, "shop_outbox_oldest_pending_seconds")) == (0, 0)
    assert value(found, "shop_dead_letters") == 0


def test_the_breaker_gauge_follows_the_gateways_circuit_breaker(metrics, client, settings):
    from payments import breaker

    settings.CELERY_BROKER_URL = ""
    assert value(metrics(), "shop_payment_breaker_open", gateway="test") == 0
    for _ in range(settings.PAYMENTS_BREAKER_FAILURES):
        breaker.record_failure("test")
    assert value(metrics(), "shop_payment_breaker_open", gateway="test") == 1
    breaker.record_success("test")
    assert value(metrics(), "shop_payment_breaker_open", gateway="test") == 0


def test_cache_requests_expose_the_catalog_caches_own_statistics(metrics, client, settings):
    from catalog import cache as catalog_cache

    settings.CELERY_BROKER_URL = ""
    before = metrics()
    catalog_cache.count(hits=3, misses=1)
    after = metrics()
    hits = value(after, "shop_cache_requests_total", result="hit") - value(
        before, "shop_cache_requests_total", result="hit"
    )
    misses = value(after, "shop_cache_requests_total", result="miss") - (
        value(before, "shop_cache_requests_total", result="miss")
    )
    assert (hits, misses) == (3, 1)


@pytest.mark.replica_alias
@pytest.mark.postgres
def test_replica_lag_is_reported_per_alias(metrics, client, settings):
    settings.CELERY_BROKER_URL = ""
    found = metrics()
    assert 0 <= value(found, "shop_db_replica_lag_seconds", alias="replica_1") < settings.DATABASE_REPLICA_MAX_LAG_SECONDS
    assert value(found, "shop_db_replica_up", alias="replica_1") == 1


@pytest.mark.rabbitmq
def test_queue_lengths_come_from_the_broker(metrics, client, settings, broker_url):
    from shop.celery import app
    from tests.celery_helpers import real_broker

    settings.CELERY_BROKER_URL = broker_url
    with real_broker(broker_url):
        app.control.purge()
        for _ in range(3):
            app.send_task("catalog.make_thumbnails", kwargs={"image_id": 0}, queue="images")
        found = metrics()
        app.control.purge()
    assert value(found, "shop_celery_queue_length", queue="images") == 3
    assert value(found, "shop_scrape_probe_ok", probe="shop_celery_queue_length") == 1


# --- A broker that is down never fails a scrape or a request --------------------------------


def test_a_broker_that_refuses_leaves_its_gauge_out_and_the_rest_in(metrics, client, settings):
    settings.CELERY_BROKER_URL = DEAD_BROKER
    found = metrics()
    assert value(found, "shop_scrape_probe_ok", probe="shop_celery_queue_length") == 0
    assert not [key for key in found if key[0] == "shop_celery_queue_length"]
    assert value(found, "shop_outbox_pending") == 0
    assert value(found, "shop_scrape_probe_ok", probe="shop_outbox_pending") == 1


@pytest.fixture
def silent_broker():
    """A TCP server that accepts connections and never says a word (a hung broker)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted, stop = [], threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"amqp://guest:guest@127.0.0.1:{server.getsockname()[1]}//"
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


def test_a_broker_that_never_answers_never_stalls_a_scrape_or_a_page(metrics, client, settings, silent_broker):
    settings.CELERY_BROKER_URL = silent_broker
    started = time.monotonic()
    found = metrics()
    assert time.monotonic() - started < 3.0
    assert value(found, "shop_scrape_probe_ok", probe="shop_celery_queue_length") == 0
    assert value(found, "shop_outbox_pending") == 0
    assert client.get("/healthz").status_code == 200
    # a second scrape while the first probe may still hang is just as quick
    started = time.monotonic()
    metrics()
    assert time.monotonic() - started < 3.0
