"""One request id and one trace from the checkout request into the tasks it causes (issue 14).

The eager tests prove the outbox carries both: the relay, sending minutes later from beat (here:
outside any request), continues the checkout's trace. The live test runs a real worker on
RabbitMQ: the worker's JSON log lines of the order's allocation and payment carry the request id
and order number, and its task spans belong to the request's trace.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError
from opentelemetry.trace import SpanKind

from orders.models import Order
from shop import outbox
from shop.celery import app
from shop.models import OutboxMessage
from tests.cart.conftest import bearer_client
from tests.celery_helpers import real_broker
from tests.orders.conftest import fill_cart
from tests.orders.test_api import checkout_body

REQUEST_ID = "checkout-req-0014"


def checkout(customer, **headers):
    api = bearer_client(customer)  # a new client: it loads the instrumented middleware
    return api.post("/api/v1/checkout", checkout_body(), format="json", HTTP_IDEMPOTENCY_KEY="k-obs",
                    HTTP_X_REQUEST_ID=REQUEST_ID, **headers)  # fmt: skip


def request_span(finished):
    return next(s for s in finished if s.kind == SpanKind.SERVER and "checkout" in s.name)


def run_spans(finished, task_name: str):
    return [s for s in finished if s.name == f"run/{task_name}"]


@pytest.mark.django_db
def test_the_relay_sends_a_message_inside_the_trace_of_the_checkout_that_wrote_it(
    customer, shoe, spans, json_lines, monkeypatch, django_capture_on_commit_callbacks
):
    # given: a checkout whose allocation message the broker refused (it stays pending)
    fill_cart(user=customer, lines={shoe: 1})
    allocate = app.tasks["orders.allocate_order"]
    monkeypatch.setattr(allocate, "apply_async", lambda *a, **k: (_ for _ in ()).throw(BrokerError("refused")))
    with django_capture_on_commit_callbacks(execute=True):
        response = checkout(customer)
    assert response.status_code == 201
    order = Order.objects.get()
    assert order.state == "placed"
    pending = OutboxMessage.objects.get(topic="order.placed", dispatched_at__isnull=True)
    assert pending.request_id == REQUEST_ID and "traceparent" in pending.trace_context
    monkeypatch.undo()
    checkout_trace = request_span(spans()).context.trace_id
    # when: the relay sends it, outside any request
    OutboxMessage.objects.filter(pk=pending.pk).update(created_at=timezone.now() - timedelta(seconds=30))
    with django_capture_on_commit_callbacks(execute=True):
        assert outbox.relay() >= 1
    # then: the allocation ran in the checkout's trace, and so did the payment it led to
    order.refresh_from_db()
    assert order.state == "authorized"
    finished = spans()
    (allocation,) = run_spans(finished, "orders.allocate_order")
    assert allocation.context.trace_id == checkout_trace
    assert {s.context.trace_id for s in run_spans(finished, "payments.authorize_payment")} == {checkout_trace}
    # and its log lines carry the checkout's request id and the order number
    allocated = [line for line in json_lines() if line.get("to_state") == "allocated"]
    assert [(line["request_id"], line["order_number"]) for line in allocated] == [(REQUEST_ID, order.number)]


@pytest.mark.django_db
def test_without_an_otlp_endpoint_nothing_is_traced_and_the_outbox_stores_no_context(
    customer, shoe, django_capture_on_commit_callbacks
):
    from shop.observability import tracing

    assert not tracing.enabled()
    fill_cart(user=customer, lines={shoe: 1})
    with django_capture_on_commit_callbacks(execute=True):
        assert checkout(customer).status_code == 201
    assert {m.request_id for m in OutboxMessage.objects.all()} == {REQUEST_ID}
    assert all(m.trace_context == {} for m in OutboxMessage.objects.all())


# --- A real worker on RabbitMQ --------------------------------------------------------------


@pytest.fixture
def live_worker(broker_url, settings):
    """A real worker thread on RabbitMQ consuming every queue of the shop (not eager mode)."""
    from celery.contrib.testing.worker import start_worker

    settings.CELERY_BROKER_URL = broker_url
    with real_broker(broker_url):
        app.control.purge()
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30,
                          queues=[q.name for q in app.conf.task_queues]):  # fmt: skip
            yield


def wait_for(predicate, seconds: float = 60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.rabbitmq
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_logs_the_checkouts_request_id_and_continues_its_trace(
    customer, shoe, spans, live_worker, json_lines
):  # json_lines after live_worker: the worker's start applies settings.LOGGING, which replaces root handlers
    fill_cart(user=customer, lines={shoe: 1})
    response = checkout(customer)
    assert response.status_code == 201
    number = response.json()["number"]
    assert wait_for(lambda: Order.objects.get(number=number).state == "authorized"), Order.objects.get().state
    assert wait_for(lambda: run_spans(spans(), "orders.apply_payment_result"))
    lines = json_lines()
    # the request's own lines
    assert [line["request_id"] for line in lines if line["logger"] == "shop.request"] == [REQUEST_ID]
    # the worker's lines of this order: allocation, payment, and Celery's own task lines
    worker = [line for line in lines if line.get("order_number") == number and line["logger"] != "shop.request"]
    assert {line.get("to_state") for line in worker} >= {"allocated", "authorized"}
    assert {line["request_id"] for line in worker} == {REQUEST_ID}
    succeeded = [line for line in lines if line["logger"] == "celery.app.trace" and "succeeded" in line["message"]]
    assert any("orders.allocate_order" in line["message"] for line in succeeded)
    assert all(line["request_id"] == REQUEST_ID for line in succeeded)
    # one trace from the request to the allocation and payment tasks
    finished = spans()
    trace_id = request_span(finished).context.trace_id
    for task in ("orders.allocate_order", "payments.authorize_payment", "orders.apply_payment_result"):
        assert {s.context.trace_id for s in run_spans(finished, task)} == {trace_id}, task
