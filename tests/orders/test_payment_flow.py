"""Payment after allocation, with the built-in test gateway (deterministic by token): authorized,
declined, needing the customer, flaky networks, capture at shipping, void at cancel, the window."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from inventory import selectors as inventory_selectors
from orders import services
from orders.exceptions import PaymentWindowClosed
from orders.models import Order
from orders.states import InvalidTransition, OrderState
from orders.tasks import expire_unpaid_orders_task
from payments import services as payments_services
from payments.models import Payment, PaymentState, TestGatewayIntent
from tests.accounts.factories import UserFactory
from tests.cart.factories import stocked_product
from tests.concurrency import run_concurrently
from tests.orders.conftest import checkout_input, fill_cart


@pytest.fixture
def buy(customer, django_capture_on_commit_callbacks):
    """Place an order paid with `card` (eager Celery: allocation and payment run after commit)."""

    def buy_with(lines: dict, card: str = "tok_visa") -> Order:
        fill_cart(user=customer, lines=lines)
        with django_capture_on_commit_callbacks(execute=True):
            order = services.place_order(checkout=checkout_input(payment_method=card), customer=customer).value
        order.refresh_from_db()
        return order

    return buy_with


def subjects() -> list[str]:
    return [message.subject.split(": ", 1)[1] for message in mail.outbox]


@pytest.mark.django_db
def test_an_allocated_order_is_authorized_off_session(buy, shoe):
    order = buy({shoe: 2})
    assert order.state == OrderState.AUTHORIZED
    payment = Payment.objects.get(order=order)
    assert (payment.state, payment.amount, payment.currency) == (PaymentState.AUTHORIZED, 10495, "EUR")
    assert (payment.card_brand, payment.card_last4, payment.reference) == ("visa", "4242", f"{order.number}/1")
    assert TestGatewayIntent.objects.count() == 1  # one authorization at the gateway


@pytest.mark.django_db
def test_a_declined_card_moves_the_order_to_payment_failed_and_emails_the_customer(buy, shoe):
    order = buy({shoe: 1}, card="tok_insufficient_funds")
    assert order.state == OrderState.PAYMENT_FAILED
    assert Payment.objects.get(order=order).decline_code == "insufficient_funds"
    assert f"your payment for order {order.number} needs attention" in subjects()
    assert order.events.filter(to_state=OrderState.PAYMENT_FAILED).get().message.startswith("Your card was declined")
    assert inventory_selectors.get_level(product_id=shoe.pk) == 9  # the stock stays reserved meanwhile


@pytest.mark.django_db
def test_needs_action_then_completed_by_the_customer(buy, shoe, django_capture_on_commit_callbacks):
    order = buy({shoe: 1}, card="tok_requires_action")
    assert order.state == OrderState.PAYMENT_FAILED
    assert Payment.objects.get(order=order).state == PaymentState.REQUIRES_ACTION

    with django_capture_on_commit_callbacks(execute=True):
        services.complete_payment_action(order_id=order.pk)

    order.refresh_from_db()
    assert order.state == OrderState.AUTHORIZED
    assert TestGatewayIntent.objects.count() == 1


@pytest.mark.django_db
def test_a_replaced_payment_method_is_a_second_attempt(buy, shoe, django_capture_on_commit_callbacks):
    order = buy({shoe: 1}, card="tok_declined")
    with django_capture_on_commit_callbacks(execute=True):
        services.replace_payment_method(order_id=order.pk, payment_method="tok_mastercard")
    order.refresh_from_db()
    assert order.state == OrderState.AUTHORIZED
    assert list(Payment.objects.filter(order=order).values_list("attempt", "state", "card_brand")) == [
        (1, PaymentState.DECLINED, "visa"),
        (2, PaymentState.AUTHORIZED, "mastercard"),
    ]
    with pytest.raises(InvalidTransition):  # authorized now: nothing to replace
        services.replace_payment_method(order_id=order.pk, payment_method="tok_visa")


@pytest.mark.django_db
def test_a_transient_failure_is_retried_and_charges_once(buy, shoe):
    """tok_flaky: the first confirmation times out; the task's retry finds the stored reference,
    asks the gateway, confirms once more: one authorization at the gateway, never two."""
    from shop.celery import app

    app.conf.task_eager_propagates = False  # as a worker runs it: retries happen (the autouse fixture restores it)
    order = buy({shoe: 1}, card="tok_flaky")
    assert order.state == OrderState.AUTHORIZED
    intent = TestGatewayIntent.objects.get()
    assert intent.confirm_attempts == 2
    assert Payment.objects.get(order=order).gateway_reference == intent.gateway_reference


@pytest.mark.django_db
def test_a_doubled_payment_submission_charges_once(buy, shoe):
    order = buy({shoe: 1})
    args = {"order_id": order.pk, "order_number": order.number, "amount": 5495, "currency": "EUR",
            "payment_method": "tok_visa", "attempt": 1}  # fmt: skip
    again = payments_services.authorize_payment(**args)
    assert again.state == PaymentState.AUTHORIZED
    assert (Payment.objects.count(), TestGatewayIntent.objects.count()) == (1, 1)


@pytest.mark.django_db
def test_shipping_captures_and_cancelling_voids(buy, shoe, sock, django_capture_on_commit_callbacks):
    shipped = buy({shoe: 1})
    with django_capture_on_commit_callbacks(execute=True):
        services.mark_shipped(order_id=shipped.pk)
    payment = Payment.objects.get(order=shipped)
    assert (payment.state, payment.captured_amount) == (PaymentState.CAPTURED, 5495)

    cancelled = buy({sock: 2})
    with django_capture_on_commit_callbacks(execute=True):
        services.cancel_order(order_id=cancelled.pk)
    assert Payment.objects.get(order=cancelled).state == PaymentState.VOIDED
    assert TestGatewayIntent.objects.get(reference=f"{cancelled.number}/1").status == "voided"
    assert inventory_selectors.get_level(product_id=sock.pk) == 100


@pytest.mark.django_db
def test_an_authorization_arriving_after_a_cancel_is_voided(buy, shoe, django_capture_on_commit_callbacks):
    order = buy({shoe: 1}, card="tok_requires_action")
    with django_capture_on_commit_callbacks(execute=True):
        services.cancel_order(order_id=order.pk)  # voids the pending hold
    Payment.objects.filter(order=order).update(state=PaymentState.REQUIRES_ACTION)  # as if the void raced
    TestGatewayIntent.objects.update(status="requires_action")
    with django_capture_on_commit_callbacks(execute=True):
        payments_services.complete_customer_action(order_id=order.pk)  # the bank says yes, too late
    order.refresh_from_db()
    assert order.state == OrderState.CANCELLED
    assert Payment.objects.get(order=order).state == PaymentState.VOIDED


@pytest.mark.django_db
def test_the_payment_window_expiring_cancels_the_order_and_releases_stock(
    buy, shoe, django_capture_on_commit_callbacks
):
    order = buy({shoe: 3}, card="tok_declined")
    assert inventory_selectors.get_level(product_id=shoe.pk) == 7
    Order.objects.filter(pk=order.pk).update(payment_failed_at=timezone.now() - timedelta(hours=25))
    with pytest.raises(PaymentWindowClosed):
        services.replace_payment_method(order_id=order.pk, payment_method="tok_visa")

    with django_capture_on_commit_callbacks(execute=True):
        assert expire_unpaid_orders_task.apply().result == 1

    order.refresh_from_db()
    assert order.state == OrderState.CANCELLED
    assert inventory_selectors.get_level(product_id=shoe.pk) == 10
    assert f"your order {order.number} is cancelled" in subjects()
    assert expire_unpaid_orders_task.apply().result == 0


@pytest.mark.django_db
def test_another_card_never_moves_the_payment_window(
    client, customer, buy, shoe, monkeypatch, django_capture_on_commit_callbacks
):
    """A declined card, then at 23.5 h another declined card: the order is still cancelled 24 h
    after the first failure, and the page keeps showing the first deadline."""
    order = buy({shoe: 2}, card="tok_declined")
    failed_at = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: failed_at + timedelta(hours=23, minutes=30))
    with django_capture_on_commit_callbacks(execute=True):
        services.replace_payment_method(order_id=order.pk, payment_method="tok_insufficient_funds")
    assert Order.objects.get(pk=order.pk).state == OrderState.PAYMENT_FAILED
    client.force_login(customer)
    deadline = client.get(order.get_absolute_url()).context["payment_deadline"]
    assert failed_at < deadline <= failed_at + timedelta(hours=24)

    monkeypatch.setattr(timezone, "now", lambda: failed_at + timedelta(hours=24, minutes=1))
    with pytest.raises(PaymentWindowClosed):
        services.replace_payment_method(order_id=order.pk, payment_method="tok_visa")
    with django_capture_on_commit_callbacks(execute=True):
        assert expire_unpaid_orders_task.apply().result == 1
    assert Order.objects.get(pk=order.pk).state == OrderState.CANCELLED
    assert inventory_selectors.get_level(product_id=shoe.pk) == 10


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_confirming_with_the_bank_and_giving_another_card_at_once_hold_one_authorization():
    """Two tabs on a 3-D Secure order: "confirm with my bank" and "pay with this method" posted at
    once. The order's payment attempts are serialized and whatever a lost race created is voided:
    one live hold at the gateway, and it is the one captured at shipping."""
    customer = UserFactory()
    fill_cart(user=customer, lines={stocked_product(price=Decimal("50.00"), available=5): 1})
    order = services.place_order(checkout=checkout_input(payment_method="tok_requires_action"), customer=customer)
    order = order.value
    assert Order.objects.get(pk=order.pk).state == OrderState.PAYMENT_FAILED

    def pay(i: int) -> object:
        if i == 0:
            return services.complete_payment_action(order_id=order.pk)
        return services.replace_payment_method(order_id=order.pk, payment_method="tok_visa")

    results = run_concurrently(pay, 2)

    assert not [r for r in results if isinstance(r, Exception) and not isinstance(r, InvalidTransition)], results
    assert TestGatewayIntent.objects.filter(status=PaymentState.AUTHORIZED).count() == 1
    assert Order.objects.get(pk=order.pk).state == OrderState.AUTHORIZED
    live = Payment.objects.get(order=order, state=PaymentState.AUTHORIZED, superseded=False)
    services.mark_shipped(order_id=order.pk)
    assert TestGatewayIntent.objects.get(gateway_reference=live.gateway_reference).status == PaymentState.CAPTURED
    assert TestGatewayIntent.objects.filter(status=PaymentState.AUTHORIZED).count() == 0


@pytest.mark.django_db
def test_a_confirmation_that_lands_after_another_card_won_is_voided(buy, shoe, django_capture_on_commit_callbacks):
    """The exact interleaving: the bank confirms attempt 1 while attempt 2 (another card) already
    holds the order's authorization. Attempt 1 lost: voided at the gateway, the order untouched."""
    from payments.gateways.test import TestGateway

    order = buy({shoe: 1}, card="tok_requires_action")
    first = Payment.objects.get(order=order)
    with django_capture_on_commit_callbacks(execute=True):
        services.replace_payment_method(order_id=order.pk, payment_method="tok_visa")
    assert Order.objects.get(pk=order.pk).state == OrderState.AUTHORIZED
    events, sent = order.events.count(), len(mail.outbox)

    with django_capture_on_commit_callbacks(execute=True):  # the confirmation that was in flight
        result = TestGateway().complete_action(first.gateway_reference)
        payments_services.record_result(payment_id=first.pk, result=result)

    assert list(Payment.objects.filter(order=order).values_list("attempt", "state", "superseded")) == [
        (1, PaymentState.VOIDED, True),
        (2, PaymentState.AUTHORIZED, False),
    ]
    assert TestGatewayIntent.objects.get(gateway_reference=first.gateway_reference).status == PaymentState.VOIDED
    assert Order.objects.get(pk=order.pk).state == OrderState.AUTHORIZED
    assert (order.events.count(), len(mail.outbox)) == (events, sent)


# --- The order page when the payment needs the customer ---------------------------------------------------


@pytest.mark.django_db
def test_the_customer_replaces_a_declined_card_on_the_order_page(
    client, customer, buy, shoe, django_capture_on_commit_callbacks
):
    order = buy({shoe: 1}, card="tok_declined")
    client.force_login(customer)
    page = client.get(order.get_absolute_url()).content.decode()
    assert "Your payment needs attention" in page and "Your card was declined" in page
    assert "Visa ending 0002" in page or "visa ending 0002" in page.lower()

    bad = client.post(reverse("orders:payment", args=[order.number]), {"payment_method": "4111111111111111"})
    assert bad.status_code == 400 and Payment.objects.filter(order=order).count() == 1

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("orders:payment", args=[order.number]), {"payment_method": "tok_visa"})
    response = client.get(response["Location"])
    assert response.status_code == 200
    order.refresh_from_db()
    assert order.state == OrderState.AUTHORIZED
    assert "Your payment needs attention" not in response.content.decode()


@pytest.mark.django_db
def test_the_customer_confirms_with_the_bank_on_the_order_page(
    client, customer, buy, shoe, django_capture_on_commit_callbacks
):
    order = buy({shoe: 1}, card="tok_requires_action")
    client.force_login(customer)
    page = client.get(order.get_absolute_url()).content.decode()
    assert "Confirm the payment with my bank" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("orders:payment-complete", args=[order.number]))
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.state == OrderState.AUTHORIZED
    again = client.post(reverse("orders:payment-complete", args=[order.number]))
    assert again.status_code == 409  # nothing left to confirm


@pytest.mark.django_db
def test_another_customer_cannot_touch_the_payment(client, buy, shoe):
    order = buy({shoe: 1}, card="tok_declined")
    client.force_login(UserFactory())
    assert (
        client.post(reverse("orders:payment", args=[order.number]), {"payment_method": "tok_visa"}).status_code == 404
    )
    assert Payment.objects.filter(order=order).count() == 1


@pytest.mark.django_db
def test_a_replacement_card_declined_too_emails_the_customer_again(buy, shoe, django_capture_on_commit_callbacks):
    order = buy({shoe: 1}, card="tok_declined")
    assert subjects().count(f"your payment for order {order.number} needs attention") == 1
    with django_capture_on_commit_callbacks(execute=True):
        services.replace_payment_method(order_id=order.pk, payment_method="tok_insufficient_funds")
    order.refresh_from_db()
    assert order.state == OrderState.PAYMENT_FAILED
    assert subjects().count(f"your payment for order {order.number} needs attention") == 2


@pytest.mark.django_db
def test_a_gateway_refusing_the_confirmation_is_a_409_page_not_a_500(client, customer, buy, shoe, monkeypatch):
    from payments.gateways.base import GatewayRefused
    from payments.gateways.test import TestGateway

    order = buy({shoe: 1}, card="tok_requires_action")

    def refuse(self, gateway_reference):
        raise GatewayRefused("no such authorization")

    monkeypatch.setattr(TestGateway, "complete_action", refuse)
    client.force_login(customer)
    response = client.post(reverse("orders:payment-complete", args=[order.number]))
    assert response.status_code == 409
    assert "refused this request" in response.content.decode()
    assert Payment.objects.get(order=order).state == PaymentState.REQUIRES_ACTION
