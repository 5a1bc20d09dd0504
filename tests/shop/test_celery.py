"""The Celery app: queues, routing by task name, JSON only, late acks on the inventory queue."""

from __future__ import annotations

import time

import pytest

from accounts.tasks import send_account_email_task
from shop.celery import app, queue_for_task
from tests.celery_helpers import real_broker

# Every task that moves an order, money or an order e-mail.
PIPELINE_TASKS = ["orders.allocate_order", "orders.apply_payment_result", "orders.send_order_email",
                  "orders.expire_unpaid_orders", "orders.redrive_stuck_orders", "payments.authorize_payment",
                  "payments.capture_payment", "payments.void_payment", "payments.redrive_payment"]  # fmt: skip


@app.task(name="inventory.probe_for_tests")
def inventory_probe() -> None:
    """Stands in for the allocation tasks the checkout issue adds."""


@pytest.mark.parametrize(
    ("task_name", "queue"),
    [
        ("inventory.allocate_order", "inventory"),
        ("accounts.send_account_email", "email"),
        ("orders.send_order_email", "email"),
        ("catalog.make_thumbnails", "images"),
        ("catalog.recompute_popularity", "default"),
        ("payments.authorize_payment", "payments"),
        ("payments.capture_payment", "payments"),
        ("payments.void_payment", "payments"),
        ("payments.redrive_payment", "payments"),
        ("orders.apply_payment_result", "payment_results"),
        ("orders.allocate_order", "inventory"),
    ],
)
def test_tasks_are_routed_to_their_queue_by_name(task_name, queue):
    assert queue_for_task(task_name) == queue
    assert app.amqp.router.route({}, task_name)["queue"].name == queue


def test_the_six_queues_exist():
    assert {q.name for q in app.conf.task_queues} == {
        "default", "email", "inventory", "payments", "payment_results", "images"
    }  # fmt: skip


def test_only_json_crosses_the_broker():
    assert app.conf.accept_content == ["json"]
    assert app.conf.task_serializer == "json"


def test_inventory_tasks_are_acked_late_and_requeued_when_their_worker_dies():
    assert inventory_probe.acks_late is True
    assert inventory_probe.reject_on_worker_lost is True
    assert send_account_email_task.acks_late is True  # the email queue too: a claim is never lost


@pytest.mark.parametrize("task_name", PIPELINE_TASKS)
def test_every_task_that_moves_an_order_or_money_is_acked_late_and_requeued_on_a_lost_worker(task_name):
    app.loader.import_default_modules()
    task = app.tasks[task_name]
    assert (task.acks_late, task.reject_on_worker_lost) == (True, True)


@pytest.mark.parametrize("task_name", PIPELINE_TASKS)
def test_every_task_that_touches_the_database_retries_a_database_blip(task_name):
    from django.db import InterfaceError, OperationalError

    app.loader.import_default_modules()
    task = app.tasks[task_name]
    assert {OperationalError, InterfaceError} <= set(task.autoretry_for)
    assert task.max_retries >= 8


# Tasks that never touch the database (an e-mail from its arguments, the health ping), and the
# CSV import, which claims its job before reading rows: a retry would find it claimed and do
# nothing, so a database error is a dead letter and staff import the file again.
SHOP_APPS = {"accounts", "cart", "catalog", "inventory", "orders", "payments", "shop"}
NOT_RETRIED_ON_DATABASE_ERRORS = {"accounts.send_account_email", "shop.ping", "catalog.import_products"}


def test_every_task_a_message_starts_retries_a_database_blip():
    """A step started by a message (an order's, a feed's, a product change's) is never lost to a
    database blip or a failover; beat tasks run again on their schedule instead."""
    from django.conf import settings
    from django.db import InterfaceError, OperationalError

    app.loader.import_default_modules()
    periodic = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    started_by_messages = sorted(name for name in app.tasks  # the shop's own (not Celery's, a library's, a test's)
                                 if name.split(".")[0] in SHOP_APPS and "probe" not in name
                                 and name not in periodic | NOT_RETRIED_ON_DATABASE_ERRORS)  # fmt: skip
    assert {"inventory.apply_stock_updates", "catalog.index_products", "orders.allocate_order"} <= set(started_by_messages)
    missing = [name for name in started_by_messages
               if not {OperationalError, InterfaceError} <= set(getattr(app.tasks[name], "autoretry_for", ()))
               or app.tasks[name].max_retries < 5]  # fmt: skip
    assert missing == []


def test_a_task_outside_the_pipeline_is_not_requeued_on_a_lost_worker():
    app.loader.import_default_modules()
    assert app.tasks["shop.purge_idempotency_keys"].reject_on_worker_lost is not True


def test_beat_runs_only_registered_tasks():
    app.loader.import_default_modules()
    scheduled = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert "shop.purge_idempotency_keys" in scheduled
    assert scheduled <= set(app.tasks)


@pytest.fixture
def live_worker(broker_url):
    """A real worker thread on RabbitMQ consuming every queue of the shop (not eager mode)."""
    from celery.contrib.testing.worker import start_worker

    with real_broker(broker_url):
        app.control.purge()  # start from empty queues: leftovers of earlier runs are not this test's
        with start_worker(
            app,
            pool="solo",
            perform_ping_check=False,
            shutdown_timeout=30,
            queues=[q.name for q in app.conf.task_queues],
        ):
            yield


@pytest.mark.rabbitmq
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_sends_the_password_reset_email_from_the_email_queue(live_worker, mailoutbox):
    send_account_email_task.delay(subject="Reset", body="https://shop/reset/abc", to_email="ada@example.com")
    deadline = time.monotonic() + 20
    while not mailoutbox and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [(m.subject, m.to) for m in mailoutbox] == [("Reset", ["ada@example.com"])]


class _WorkerTask:
    """What a task looks like to the signals when a worker (not an eager call) runs it."""

    name = "orders.allocate_order"

    class request:  # the attribute Celery's signals read
        is_eager = False


@pytest.mark.django_db(transaction=True)
def test_a_worker_keeps_its_database_connection_from_one_task_to_the_next():
    from celery.fixups.django import DjangoWorkerFixup
    from django.db import connection

    from shop.celery import reuse_connections

    connection.ensure_connection()
    opened = connection.connection
    fixup = DjangoWorkerFixup(app)
    for _ in range(3):  # what a worker does around each task: Celery's fixup, then ours
        fixup.on_task_prerun(sender=_WorkerTask)
        reuse_connections(task=_WorkerTask)
        fixup.on_task_postrun(sender=_WorkerTask)
        reuse_connections(task=_WorkerTask)
    assert connection.connection is opened


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_worker_drops_a_connection_that_broke_after_the_task():
    from django.db import connection, connections

    from shop.celery import reuse_connections

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    with connections["default"].copy().cursor() as other:  # a failover, an administrator: the server ends it
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
    connection.errors_occurred = True  # what Django records when a statement on it failed
    reuse_connections(task=_WorkerTask)
    assert connection.connection is None
    with connection.cursor() as cursor:  # the next task connects again
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


def _kill_backend_of(connection) -> None:
    """A failover, an administrator, a pgbouncer restart: the server ends the session."""
    from django.db import connections

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    with connections["default"].copy().cursor() as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_connection_idle_past_the_threshold_is_health_checked_and_replaced_before_the_next_task(settings):
    from django.db import connection

    from shop.celery import reuse_connections

    settings.DATABASE_HEALTH_CHECK_IDLE_SECONDS = 0  # every gap counts as idle
    reuse_connections(task=_WorkerTask)  # after a task
    _kill_backend_of(connection)
    reuse_connections(task=_WorkerTask)  # before the next
    with connection.cursor() as cursor:  # the check found it dead and connected afresh
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_connection_used_moments_ago_skips_the_check_and_a_break_fails_the_task_then_is_dropped(settings):
    from django.db import OperationalError, connection

    from shop.celery import reuse_connections

    settings.DATABASE_HEALTH_CHECK_IDLE_SECONDS = 60
    reuse_connections(task=_WorkerTask)  # after a task
    _kill_backend_of(connection)
    reuse_connections(task=_WorkerTask)  # before the next
    # no SELECT 1 ran: the task's first statement meets the dead session (the task retries it) ...
    with pytest.raises(OperationalError), connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    # ... and the connection is dropped after that task, the next one connects afresh
    reuse_connections(task=_WorkerTask)  # after a task
    assert connection.connection is None
    reuse_connections(task=_WorkerTask)  # before the next
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_requests_skip_the_health_check_of_a_connection_used_moments_ago(settings, monkeypatch):
    from django.core.signals import request_finished, request_started
    from django.db import connection

    checks = []
    real_is_usable = connection.is_usable
    monkeypatch.setattr(connection, "is_usable", lambda: checks.append(1) or real_is_usable())
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    for idle, expected_checks in ((60, 0), (0, 1)):
        settings.DATABASE_HEALTH_CHECK_IDLE_SECONDS = idle
        checks.clear()
        request_finished.send(sender=None)  # what Django's handler sends around a request
        request_started.send(sender=None, environ={})
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        assert len(checks) == expected_checks, f"idle threshold {idle} s"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_connection_no_statement_used_for_a_while_is_checked_however_many_requests_came_in_between(
    settings, monkeypatch
):
    # cached pages every few milliseconds never touch the database (nor a seldom-read replica):
    # what counts is the connection's last statement, not the last request
    from django.core.signals import request_finished, request_started
    from django.db import connection

    settings.DATABASE_HEALTH_CHECK_IDLE_SECONDS = 1
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    connection.used_at -= 120  # its last statement, two minutes ago
    checks = []
    real_is_usable = connection.is_usable
    monkeypatch.setattr(connection, "is_usable", lambda: checks.append(1) or real_is_usable())
    for _ in range(50):  # requests served from the cache
        request_started.send(sender=None, environ={})
        request_finished.send(sender=None)
    request_started.send(sender=None, environ={})
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    assert len(checks) == 1
