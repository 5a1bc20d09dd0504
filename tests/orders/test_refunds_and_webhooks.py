"""Refunds never exceed what was captured (also under concurrency), webhooks are verified and
applied once and never move a payment backwards, and the circuit breaker is shared by workers."""

from __future__ import annotations

import json
import time
import uuid
from decimal import Decimal

import pytest
from django.core import mail
from django.core.cache import cache

from inventory import selectors as inventory_selectors
from orders import services
from orders.exceptions import InvalidRefund
from orders.models import Order
from orders.states import OrderState
from payments import breaker
from payments import services as payments_services
from payments.exceptions import PaymentUnavailable, RefundRefused
from payments.gateways.test import sign
from payments.models import Payment, PaymentState, Refund, WebhookEvent
from tests.accounts.factories import UserFactory
from tests.cart.factories import stocked_product
from tests.concurrency import run_concurrently
from tests.orders.conftest import checkout_input, fill_cart

WEBHOOK_URL = "/payments/webhooks/test"


def shipped_order(customer, lines: dict) -> Order:
    """An order placed, allocated, authorized and shipped (captured), on committed transactions."""
    fill_cart(user=customer, lines=lines)
    order = services.place_order(checkout=checkout_input(), customer=customer).value
    services.mark_shipped(order_id=order.pk)
    order.refresh_from_db()
    return order


@pytest.mark.django_db
def test_a_partial_then_the_rest_refunded_with_restock(shipped, shoe):
    services.refund_order(order_id=shipped.pk, amount=Decimal("50.00"), reference="r1", restock={shoe.pk: 1})
    shipped.refresh_from_db()
    assert (shipped.state, shipped.refunded_amount) == (OrderState.PARTIALLY_REFUNDED, Decimal("50.00"))
    assert inventory_selectors.get_level(product_id=shoe.pk) == 9  # 10 - 2 sold + 1 returned
    services.refund_order(order_id=shipped.pk, amount=None, reference="r2")  # the rest
    shipped.refresh_from_db()
    assert (shipped.state, shipped.refunded_amount) == (OrderState.REFUNDED, Decimal("104.95"))
    payment = Payment.objects.get(order=shipped)
    assert (payment.captured_amount, payment.refunded_amount) == (10495, 10495)
    assert list(Refund.objects.values_list("amount", "state")) == [(5000, "succeeded"), (5495, "succeeded")]
    # the same reference again is the same refund, not a second one
    services.refund_order(order_id=shipped.pk, amount=Decimal("50.00"), reference="r1", restock={shoe.pk: 1})
    assert Refund.objects.count() == 2 and inventory_selectors.get_level(product_id=shoe.pk) == 9


@pytest.mark.django_db
def test_a_refund_above_what_was_captured_is_refused_and_changes_nothing(shipped):
    with pytest.raises(RefundRefused) as refused:
        services.refund_order(order_id=shipped.pk, amount=Decimal("104.96"), reference="too-much")
    assert "At most 104.95 EUR can still be refunded." in refused.value.message  # money, not minor units
    assert Refund.objects.count() == 0
    assert Payment.objects.get(order=shipped).refunded_amount == 0
    assert Order.objects.get(pk=shipped.pk).state == OrderState.SHIPPED


@pytest.mark.django_db
def test_an_order_not_shipped_cannot_be_refunded(customer, shoe, django_capture_on_commit_callbacks):
    fill_cart(user=customer, lines={shoe: 1})
    with django_capture_on_commit_callbacks(execute=True):
        order = services.place_order(checkout=checkout_input(), customer=customer).value
    with pytest.raises(services.InvalidTransition):
        services.refund_order(order_id=order.pk, amount=None, reference="early")
    assert Refund.objects.count() == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_refunds_that_together_exceed_the_capture_one_is_refused():
    order = shipped_order(UserFactory(), {stocked_product(price=Decimal("100.00")): 1})  # 104.95 captured
    results = run_concurrently(
        lambda i: services.refund_order(order_id=order.pk, amount=Decimal("60.00"), reference=f"c{i}"), 2
    )
    refused = [r for r in results if isinstance(r, RefundRefused)]
    assert len(refused) == 1, results
    payment = Payment.objects.get(order=order)
    assert payment.refunded_amount == 6000 <= payment.captured_amount
    assert list(Refund.objects.values_list("amount", "state")) == [(6000, "succeeded")]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_partial_refunds_put_each_unit_back_at_most_once():
    """Four partial refunds (different keys) each ask to restock the order's 2 units at once:
    the units are reserved under the order's lock, so 2 come back, never 8, and the refunds that
    found nothing left to restock moved no money."""
    product = stocked_product(price=Decimal("50.00"), available=10)
    order = shipped_order(UserFactory(), {product: 2})
    assert inventory_selectors.get_level(product_id=product.pk) == 8

    def refund(i: int) -> Order:
        return services.refund_order(
            order_id=order.pk, amount=Decimal("10.00"), reference=f"part-{i}", restock={product.pk: 2}
        )

    results = run_concurrently(refund, 4)

    assert inventory_selectors.get_level(product_id=product.pk) == 10  # the 2 units back once
    refused = [r for r in results if isinstance(r, InvalidRefund)]
    assert len(refused) == 3, results
    assert refused[0].fields == {"restock": [f"Product {product.pk}: restock 1 to the units ordered and not yet returned."]}
    assert list(Refund.objects.values_list("amount", "state")) == [(1000, "succeeded")]
    assert Payment.objects.get(order=order).refunded_amount == 1000


# --- Webhooks -------------------------------------------------------------------------------------------


def post_event(client, event: dict, *, signature: str | None = None):
    body = json.dumps(event).encode()
    return client.post(WEBHOOK_URL, body, content_type="application/json",
                       HTTP_TEST_SIGNATURE=signature if signature is not None else sign(body))  # fmt: skip


def event_for(payment: Payment, status: str, **extra) -> dict:
    return {"id": f"evt_{uuid.uuid4().hex}", "type": f"payment_intent.{status}",
            "gateway_reference": payment.gateway_reference, "status": status, "created": int(time.time()), **extra}  # fmt: skip


@pytest.fixture
def needs_action(customer, shoe, django_capture_on_commit_callbacks) -> Payment:
    fill_cart(user=customer, lines={shoe: 1})
    with django_capture_on_commit_callbacks(execute=True):
        order = services.place_order(checkout=checkout_input(payment_method="tok_requires_action"), customer=customer)
    payment = Payment.objects.get(order=order.value)
    assert payment.state == PaymentState.REQUIRES_ACTION
    return payment


@pytest.mark.django_db
def test_a_signed_webhook_moves_the_payment_and_the_order_once(
    client, needs_action, django_capture_on_commit_callbacks
):
    event = event_for(needs_action, "authorized")
    with django_capture_on_commit_callbacks(execute=True):
        first = post_event(client, event)
    assert (first.status_code, first.json()) == (200, {"received": True, "duplicate": False})
    assert Order.objects.get().state == OrderState.AUTHORIZED

    with django_capture_on_commit_callbacks(execute=True):
        replay = post_event(client, event)
    assert (replay.status_code, replay.json()["duplicate"]) == (200, True)
    assert WebhookEvent.objects.count() == 1
    assert Order.objects.get().events.filter(to_state=OrderState.AUTHORIZED).count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "signature",
    # Test ids must not depend on the clock: the signature of another body is made when the test
    # runs, never at collection (xdist workers collecting a second apart would disagree).
    [
        pytest.param("t=1,v1=00", id="forged"),
        pytest.param("", id="missing"),
        pytest.param("garbage", id="malformed"),
        pytest.param(None, id="signed-for-another-body"),
    ],
)
def test_a_forged_webhook_is_refused_and_changes_nothing(client, needs_action, signature):
    if signature is None:
        signature = sign(b"{}", timestamp=int(time.time()))
    response = post_event(client, event_for(needs_action, "authorized"), signature=signature)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_signature"
    assert WebhookEvent.objects.count() == 0
    assert Payment.objects.get().state == PaymentState.REQUIRES_ACTION


@pytest.mark.django_db
def test_a_stale_webhook_is_refused(client, needs_action):
    event = event_for(needs_action, "authorized")
    body = json.dumps(event).encode()
    response = post_event(client, event, signature=sign(body, timestamp=int(time.time()) - 600))
    assert response.status_code == 400 and "too old" in response.json()["error"]["message"]
    assert Payment.objects.get().state == PaymentState.REQUIRES_ACTION


@pytest.mark.django_db
def test_out_of_order_events_never_move_a_payment_backwards(client, needs_action, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert post_event(client, event_for(needs_action, "authorized")).status_code == 200
        assert post_event(client, event_for(needs_action, "requires_action")).status_code == 200  # late, older
        assert post_event(client, event_for(needs_action, "pending")).status_code == 200
    assert Payment.objects.get().state == PaymentState.AUTHORIZED
    assert Order.objects.get().state == OrderState.AUTHORIZED
    assert WebhookEvent.objects.count() == 3


@pytest.mark.django_db
def test_a_hold_voided_at_the_gateway_moves_the_order_back_to_payment_needed(
    client, customer, shoe, django_capture_on_commit_callbacks
):
    """A signed "voided" (or expired) event for an authorized order: the order needs payment again,
    the customer is e-mailed, and staff can no longer ship it."""
    fill_cart(user=customer, lines={shoe: 1})
    with django_capture_on_commit_callbacks(execute=True):
        order = services.place_order(checkout=checkout_input(), customer=customer).value
    payment = Payment.objects.get(order=order)
    assert Order.objects.get(pk=order.pk).state == OrderState.AUTHORIZED
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        assert post_event(client, event_for(payment, "voided")).status_code == 200

    order.refresh_from_db()
    assert order.state == OrderState.PAYMENT_FAILED
    assert order.events.get(to_state=OrderState.PAYMENT_FAILED).from_state == OrderState.AUTHORIZED
    assert [m.subject for m in mail.outbox] == [f"Shop: your payment for order {order.number} needs attention"]
    with pytest.raises(services.InvalidTransition):
        services.mark_shipped(order_id=order.pk)
    assert Order.objects.get(pk=order.pk).state == OrderState.PAYMENT_FAILED


@pytest.mark.django_db
def test_an_unknown_gateway_is_a_404(client):
    assert client.post("/payments/webhooks/paypal", b"{}", content_type="application/json").status_code == 404


@pytest.mark.django_db
def test_the_test_gateways_webhook_is_closed_when_stripe_is_the_gateway(client, settings, needs_action):
    # given: the shop runs Stripe; an event correctly signed with the test gateway's secret
    settings.PAYMENT_GATEWAY = "stripe"
    # when
    response = post_event(client, event_for(needs_action, "authorized"))
    # then: the endpoint does not exist and nothing moved
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert WebhookEvent.objects.count() == 0
    assert Payment.objects.get().state == PaymentState.REQUIRES_ACTION


# --- The circuit breaker ----------------------------------------------------------------------------------


class FailingGateway:
    name = "flaky-bank"

    def __init__(self) -> None:
        self.calls = 0
        self.healthy = False

    def call(self):
        self.calls += 1
        if not self.healthy:
            from payments.gateways.base import GatewayUnavailable

            raise GatewayUnavailable("timeout")
        return "ok"


@pytest.mark.redis
@pytest.mark.django_db
def test_the_breaker_opens_for_every_worker_and_closes_again(settings, fake_clock):
    """Workers are threads here, sharing the breaker's state through the real Redis cache."""
    settings.PAYMENTS_BREAKER_FAILURES, settings.PAYMENTS_BREAKER_OPEN_SECONDS = 3, 60
    breaker.record_success("flaky-bank")
    gateway = FailingGateway()
    for _ in range(3):
        with pytest.raises(PaymentUnavailable):
            payments_services._call(gateway, gateway.call)
    assert breaker.state("flaky-bank") == "open"

    # every other worker now waits without calling the gateway
    results = run_concurrently(lambda _: payments_services._call(gateway, gateway.call), 4)
    assert all(isinstance(r, PaymentUnavailable) for r in results) and gateway.calls == 3

    fake_clock.advance(61)  # open time over: half-open, one trial call goes through
    breaker.allow("flaky-bank")
    with pytest.raises(breaker.BreakerOpen):  # everyone else waits for the trial's outcome
        breaker.allow("flaky-bank")
    breaker.record_failure("flaky-bank")  # the trial failed: open again
    assert breaker.state("flaky-bank") == "open"

    fake_clock.advance(61)
    gateway.healthy = True
    assert payments_services._call(gateway, gateway.call) == "ok"  # the trial succeeds: closed
    assert breaker.state("flaky-bank") == "closed"
    results = run_concurrently(lambda _: payments_services._call(gateway, gateway.call), 4)
    assert results == ["ok"] * 4
    cache.delete_many([f"payments:breaker:flaky-bank:{k}" for k in ("failures", "open_until", "trial")])


@pytest.mark.django_db
def test_an_open_breaker_makes_orders_wait_not_fail(customer, shoe, settings, django_capture_on_commit_callbacks):
    """The authorization task meets an open breaker: the order stays allocated (the task retries
    later); nothing is declined, nothing is charged."""
    from shop.celery import app

    app.conf.task_eager_propagates = False  # as in a worker (the autouse fixture restores it)
    settings.PAYMENTS_BREAKER_FAILURES = 1
    breaker.record_failure("test")  # the test gateway's breaker opens
    try:
        fill_cart(user=customer, lines={shoe: 1})
        with django_capture_on_commit_callbacks(execute=True):
            order = services.place_order(checkout=checkout_input(), customer=customer).value
        order.refresh_from_db()
        assert order.state == OrderState.ALLOCATED
        assert Payment.objects.get(order=order).state == PaymentState.PENDING
    finally:
        breaker.record_success("test")


@pytest.mark.django_db
def test_a_refund_whose_answer_was_lost_stays_pending_and_the_retry_settles_it_once(shipped, monkeypatch):
    from payments.gateways.base import GatewayUnavailable
    from payments.gateways.test import TestGateway

    real_refund = TestGateway.refund

    def refund_then_lose_the_answer(self, *args, **kwargs):
        real_refund(self, *args, **kwargs)  # the gateway refunds ...
        raise GatewayUnavailable("read timed out")  # ... and the answer never arrives

    with monkeypatch.context() as patched:
        patched.setattr(TestGateway, "refund", refund_then_lose_the_answer)
        with pytest.raises(PaymentUnavailable):
            services.refund_order(order_id=shipped.pk, amount=Decimal("10.00"), reference="lost")
    refund = Refund.objects.get()
    assert (refund.state, Payment.objects.get().refunded_amount) == ("pending", 1000)  # kept reserved

    services.refund_order(order_id=shipped.pk, amount=Decimal("10.00"), reference="lost")  # the retry
    refund.refresh_from_db()
    assert refund.state == "succeeded"
    from payments.models import TestGatewayIntent

    assert TestGatewayIntent.objects.get().refunded == 1000  # refunded once at the gateway
