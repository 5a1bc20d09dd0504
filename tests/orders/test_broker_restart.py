"""After a real RabbitMQ restart, orders are allocated within seconds (issue 20, item 20).

A private RabbitMQ node (tests/rabbitmq_node.py; never the machine's shared broker) is restarted
under a real worker process. This process (the web server's part) keeps a pooled broker
connection that the restart killed; the first publish on it must reconnect and go through at
once instead of failing and leaving the order to a later relay run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from orders.models import Order
from orders.services import ORDER_PLACED, place_order
from orders.states import OrderState
from shop.models import OutboxMessage
from tests import rabbitmq_node
from tests.celery_helpers import real_broker
from tests.orders.conftest import checkout_input, fill_cart

ROOT = Path(__file__).resolve().parents[2]
RELAY_INTERVAL = 5  # seconds: the beat schedule's "relay-outbox"
SETTLED = 10  # seconds the restarted worker may take to reconnect (Celery retries at 2, 4, 6 ... s)

pytestmark = [
    pytest.mark.rabbitmq,
    pytest.mark.skipif(not rabbitmq_node.available(), reason="needs rabbitmq-server installed for a private node"),
]


@pytest.fixture
def private_broker(tmp_path):
    node = rabbitmq_node.PrivateRabbitMQ(tmp_path / "rabbitmq")
    node.start()
    try:
        yield node
    finally:
        node.stop()


def placed(customer, product) -> Order:
    fill_cart(user=customer, lines={product: 1})
    return place_order(checkout=checkout_input(), customer=customer).value


def seconds_until_allocated(order: Order, *, limit: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < limit:
        if Order.objects.filter(pk=order.pk).exclude(state=OrderState.PLACED).exists():
            return time.monotonic() - started
        time.sleep(0.1)
    return float("inf")


def start_worker(broker_url: str, log: Path) -> subprocess.Popen:
    """A real worker process on the inventory queue (allocation), against the test database."""
    database = connection.settings_dict
    dsn = f"postgresql://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
    env = {**os.environ, "DATABASE_URL": dsn, "DATABASE_REPLICA_URLS": "", "CELERY_BROKER_URL": broker_url,
           "PYTHONPATH": str(ROOT)}  # fmt: skip
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "shop", "worker", "-Q", "inventory", "--pool=solo",
         "--without-mingle", "--without-gossip", "-l", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log.open("ab"),
    )  # fmt: skip


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_after_a_broker_restart_an_order_is_allocated_within_the_relay_interval(
    private_broker, customer, shoe, tmp_path
):
    worker = start_worker(private_broker.url, tmp_path / "worker.log")
    try:
        with real_broker(private_broker.url):
            before = placed(customer, shoe)  # this process's pooled broker connection is now open
            assert seconds_until_allocated(before, limit=60) < 60, (tmp_path / "worker.log").read_text()[-2000:]

            private_broker.restart()  # every connection to it dies; the worker reconnects by itself
            order = placed(customer, shoe)
            took = seconds_until_allocated(order, limit=RELAY_INTERVAL + SETTLED + 20)
    finally:
        worker.terminate()
        worker.wait(timeout=30)

    message = OutboxMessage.objects.get(topic=ORDER_PLACED, key=order.number)
    # the on-commit publish found its pooled connection dead, reconnected and sent it at once
    assert (message.dispatched_at is not None, message.last_error) == (True, "")
    assert took <= RELAY_INTERVAL + SETTLED, f"allocated {took:.1f} s after the broker came back"
