"""Allocation when things fail: duplicates, a broker that is down, a worker killed mid-transaction,
an SMTP server that refuses. An accepted order is never lost, never allocated twice, and
e-mailed once per kind."""

from __future__ import annotations

import os
import signal
import smtplib
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from celery.exceptions import Retry
from django.core import mail
from django.db import OperationalError, connection
from django.utils import timezone

from inventory import selectors as inventory_selectors
from inventory import services as inventory_services
from inventory.models import MovementKind, StockMovement
from orders.models import EmailKind, EmailLog, Order, OrderEvent
from orders.services import place_order, send_order_email
from orders.states import OrderState
from orders.tasks import allocate_order_task, send_order_email_task
from shop.celery import app
from shop.models import OutboxMessage
from shop.tasks import relay_outbox_task
from tests.accounts.factories import UserFactory
from tests.celery_helpers import real_broker
from tests.concurrency import primary_connection_args
from tests.orders.conftest import checkout_input, fill_cart

DEAD_BROKER = "amqp://guest:guest@127.0.0.1:1//"
ROOT = Path(__file__).resolve().parents[2]


def allocation_rows(order: Order) -> int:
    return StockMovement.objects.filter(cause=f"order:{order.pk}", kind=MovementKind.ALLOCATION).count()


def place(customer, lines) -> Order:
    fill_cart(user=customer, lines=lines)
    return place_order(checkout=checkout_input(), customer=customer).value


@pytest.mark.django_db(transaction=True)
def test_the_allocation_task_run_twice_takes_stock_once_and_sends_one_email(customer, shoe):
    with real_broker(DEAD_BROKER):  # nothing is consumed on commit: the test runs the consumers
        order = place(customer, {shoe: 3})

    assert allocate_order_task.apply(kwargs={"order_id": order.pk}).result == OrderState.ALLOCATED
    # the second run finds the order allocated and, by now, authorized (eager payment): no change
    assert allocate_order_task.apply(kwargs={"order_id": order.pk}).result == OrderState.AUTHORIZED
    for _ in range(2):
        send_order_email_task.apply(kwargs={"order_id": order.pk, "kind": EmailKind.ALLOCATED})

    assert inventory_selectors.get_level(product_id=shoe.pk) == 7
    assert allocation_rows(order) == 1
    # "received" was still waiting at the dead broker: it goes out first, each e-mail once
    assert [m.subject for m in mail.outbox] == [
        f"Shop: we received your order {order.number}",
        f"Shop: your order {order.number} is confirmed",
    ]


@pytest.mark.django_db(transaction=True)
def test_inventory_allocate_replayed_in_a_new_transaction_takes_nothing(shoe):
    from django.db import transaction

    with transaction.atomic():
        first = inventory_services.allocate(order_id=999, lines=[(shoe.pk, 2)])
    with transaction.atomic():
        second = inventory_services.allocate(order_id=999, lines=[(shoe.pk, 2)])
    assert [(c.quantity, c.applied) for c in first] == [(-2, True)]
    assert [(c.quantity, c.applied) for c in second] == [(-2, False)]
    assert inventory_selectors.get_level(product_id=shoe.pk) == 8
    with transaction.atomic():
        released = inventory_services.release(order_id=999)
    with transaction.atomic():
        assert inventory_services.release(order_id=999) == []
    assert [c.quantity for c in released] == [2]
    assert inventory_selectors.get_level(product_id=shoe.pk) == 10


@pytest.mark.django_db(transaction=True)
def test_an_order_placed_while_the_broker_is_down_is_allocated_when_the_relay_runs(customer, shoe):
    with real_broker(DEAD_BROKER):
        order = place(customer, {shoe: 2})
    assert Order.objects.get().state == OrderState.PLACED  # accepted, waiting
    assert OutboxMessage.objects.filter(dispatched_at=None).count() == 2  # allocation + "received" e-mail
    assert mail.outbox == []

    OutboxMessage.objects.update(created_at=timezone.now() - timedelta(minutes=1))
    assert relay_outbox_task.apply().result == 2  # the broker is back (eager here)

    order.refresh_from_db()
    assert order.state == OrderState.AUTHORIZED  # allocated, then authorized (eager consumers)
    assert inventory_selectors.get_level(product_id=shoe.pk) == 8
    assert [m.subject.split(":")[1].strip() for m in mail.outbox] == [
        f"we received your order {order.number}",
        f"your order {order.number} is confirmed",
    ]
    assert relay_outbox_task.apply().result == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_database_lost_in_the_middle_of_a_run_is_retried_and_nothing_is_lost(customer, shoe, monkeypatch):
    # given: a placed order whose allocation message is handled by the task (no broker consumer)
    with real_broker(DEAD_BROKER):
        order = place(customer, {shoe: 3})
    real_apply = inventory_services.apply_allocation
    cut = []

    def lose_the_connection_then_apply(*, plan):
        if not cut:  # the server ends this session after the orders' side is written (a failover, a restart)
            cut.append(True)
            with psycopg.connect(**primary_connection_args(), autocommit=True) as other:
                other.execute("SELECT pg_terminate_backend(%s)", [connection.connection.info.backend_pid])
        return real_apply(plan=plan)

    monkeypatch.setattr(inventory_services, "apply_allocation", lose_the_connection_then_apply)
    message = {"order_id": order.pk, "order_number": order.number}
    # when: the task runs and loses its connection: it asks Celery to run it again (with backoff)
    with pytest.raises(Retry) as retry:
        allocate_order_task.apply(kwargs=message)

    # then: nothing of the run stayed (the orders' side was written before the cut, and rolled back)
    assert cut == [True] and isinstance(retry.value.exc, OperationalError)
    assert Order.objects.get(pk=order.pk).state == OrderState.PLACED
    assert inventory_selectors.get_level(product_id=shoe.pk) == 10
    assert (allocation_rows(order), OrderEvent.objects.filter(order=order, to_state=OrderState.ALLOCATED).count()) == (0, 0)

    # when: the retry runs, on a new connection
    result = allocate_order_task.apply(kwargs=message)

    # then: the order is decided once
    assert result.successful(), result.traceback
    assert Order.objects.get(pk=order.pk).state in (OrderState.ALLOCATED, OrderState.AUTHORIZED)
    assert inventory_selectors.get_level(product_id=shoe.pk) == 7
    assert allocation_rows(order) == 1
    assert OrderEvent.objects.filter(order=order, to_state=OrderState.ALLOCATED).count() == 1
    assert OutboxMessage.objects.filter(topic="payment.authorize", payload__order_id=order.pk).count() == 1


@pytest.mark.django_db
def test_an_smtp_failure_never_touches_the_order_and_the_retry_sends_once(customer, shoe, monkeypatch):
    with real_broker(DEAD_BROKER):
        order = place(customer, {shoe: 1})

    def refuse(self, *args, **kwargs):
        raise smtplib.SMTPServerDisconnected("mail server went away")

    with monkeypatch.context() as patched:
        patched.setattr("django.core.mail.backends.locmem.EmailBackend.send_messages", refuse)
        with pytest.raises(smtplib.SMTPServerDisconnected):
            send_order_email(order_id=order.pk, kind=EmailKind.RECEIVED)
    assert EmailLog.objects.get(order=order, kind=EmailKind.RECEIVED).sent_at is None
    assert Order.objects.get().state == OrderState.PLACED

    assert send_order_email(order_id=order.pk, kind=EmailKind.RECEIVED) is True  # the task's retry
    assert send_order_email(order_id=order.pk, kind=EmailKind.RECEIVED) is False
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_a_claimed_email_is_not_sent_by_a_second_worker(customer, shoe):
    with real_broker(DEAD_BROKER):
        order = place(customer, {shoe: 1})
    EmailLog.objects.filter(order=order).update(claimed_at=timezone.now())  # another worker is sending
    assert send_order_email(order_id=order.pk, kind=EmailKind.RECEIVED) is False
    assert mail.outbox == []


# --- A worker killed with SIGKILL in the middle of an allocation (a real worker on RabbitMQ) ------


def start_worker(env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "shop", "worker", "-Q", "inventory", "--pool=solo",
         "--prefetch-multiplier=1", "--without-mingle", "--without-gossip", "--without-heartbeat", "-l", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def waiting_on_a_lock(dsn: str, name: str) -> bool:
    """Whether a backend of this database waits on a lock now (a fresh connection: pg_stat_activity
    is a snapshot per transaction)."""
    with psycopg.connect(dsn, autocommit=True) as probe:
        query = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'"
        return probe.execute(query, [name]).fetchone()[0] > 0


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.mark.rabbitmq
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_batch_leaves_nothing_taken_and_the_redelivery_completes_it_once(
    customer, shoe, sock, broker_url
):
    database = connection.settings_dict
    dsn = f"postgresql://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "CELERY_BROKER_URL": broker_url,
        "DATABASE_REPLICA_URLS": "",
        "PYTHONPATH": str(ROOT),
    }
    with real_broker(broker_url):
        app.control.purge()
        # Hold the stock row so the worker's conditional UPDATE waits inside its transaction.
        with psycopg.connect(dsn, autocommit=False) as blocker:
            blocker.execute("SELECT 1 FROM inventory_stockitem WHERE product_id = %s FOR UPDATE", [shoe.pk])
            # a batch: three orders waiting when the worker starts (their messages go to RabbitMQ on commit)
            order = place(customer, {shoe: 4})
            others = [place(UserFactory(), {shoe: 1, sock: 2}), place(UserFactory(), {sock: 1, shoe: 2})]
            first = start_worker(env)
            try:
                wait_for(lambda: waiting_on_a_lock(dsn, database["NAME"]), timeout=60,
                         what="the worker to wait on the stock row")  # fmt: skip
                os.kill(first.pid, signal.SIGKILL)  # mid-allocation: its transaction never commits
                first.wait(timeout=10)
            except AssertionError:
                first.kill()
                outbox = list(OutboxMessage.objects.values_list("topic", "dispatched_at", "last_error"))
                outbox.append(
                    subprocess.run(
                        ["rabbitmqctl", "-q", "list_consumers", "-p", broker_url.rsplit("/", 1)[1]],
                        capture_output=True,
                        text=True,
                    ).stdout
                )
                outbox.append(
                    subprocess.run(
                        ["rabbitmqctl", "-q", "list_queues", "-p", broker_url.rsplit("/", 1)[1]],
                        capture_output=True,
                        text=True,
                    ).stdout
                )
                raise AssertionError(f"{outbox}\n{first.communicate(timeout=10)[1].decode()[-3000:]}") from None
            finally:
                if first.poll() is None:
                    first.kill()
            blocker.rollback()  # let the dead worker's backend run into its closed socket

        assert set(Order.objects.values_list("state", flat=True)) == {OrderState.PLACED}
        assert not OrderEvent.objects.filter(to_state=OrderState.ALLOCATED).exists()  # the orders' side rolled back too
        wait_for(lambda: inventory_selectors.get_level(product_id=shoe.pk) == 10 and allocation_rows(order) == 0,
                 timeout=10, what="the killed transaction to roll back")  # fmt: skip

        second = start_worker(env)  # RabbitMQ redelivers the unacknowledged message to it
        try:
            wait_for(lambda: not Order.objects.filter(state=OrderState.PLACED).exists(), timeout=60,
                     what="the redelivery")  # fmt: skip
        finally:
            second.terminate()
            second.wait(timeout=30)

    assert set(Order.objects.values_list("state", flat=True)) == {OrderState.ALLOCATED}
    assert inventory_selectors.get_levels(product_ids=[shoe.pk, sock.pk]) == {shoe.pk: 3, sock.pk: 97}
    assert [allocation_rows(o) for o in (order, *others)] == [1, 2, 2]  # each taken once
    assert OrderEvent.objects.filter(to_state=OrderState.ALLOCATED).count() == 3
