"""The payment services on the Stripe adapter against localstripe (127.0.0.1): a transient failure
then success makes exactly one PaymentIntent; a doubled submission charges once; capture, refund."""

from __future__ import annotations

import pytest

from payments import services
from payments.exceptions import PaymentUnavailable, RefundRefused
from payments.models import Payment, PaymentState
from tests.orders.factories import OrderFactory
from tests.payments import stripe_helpers

pytestmark = pytest.mark.django_db
CONFIRM_PATH = r"/v1/payment_intents/pi_\w+/confirm"


def authorize(order, payment_method: str, attempt: int = 1) -> Payment:
    return services.authorize_payment(order_id=order.pk, order_number=order.number, amount=1999, currency="EUR",
                                      payment_method=payment_method, attempt=attempt)  # fmt: skip


def test_a_transient_failure_then_success_makes_one_payment_intent(
    faulty_stripe, localstripe_url, count_payment_intents, only_loopback
):
    order = OrderFactory()
    card = stripe_helpers.create_payment_method(localstripe_url)
    faulty_stripe.fail(CONFIRM_PATH, "503")

    with pytest.raises(PaymentUnavailable):
        authorize(order, card)
    payment = Payment.objects.get()
    assert payment.state == PaymentState.PENDING and payment.gateway_reference.startswith("pi_")  # stored first

    retried = authorize(order, card)  # what the task's retry does
    assert (retried.state, retried.card_brand, retried.card_last4) == (PaymentState.AUTHORIZED, "visa", "4242")
    assert authorize(order, card).state == PaymentState.AUTHORIZED  # a doubled submission
    assert count_payment_intents(payment.reference) == 1
    assert stripe_helpers.count_charges(localstripe_url, payment.reference) == 1


def test_a_declined_card_and_a_capture_then_refunds_at_stripe(stripe_settings, localstripe_url, only_loopback):
    declined = authorize(OrderFactory(), stripe_helpers.create_payment_method(localstripe_url,
                                                                              stripe_helpers.CARD_DECLINED))  # fmt: skip
    assert (declined.state, declined.decline_code) == (PaymentState.DECLINED, "card_declined")

    order = OrderFactory()
    authorize(order, stripe_helpers.create_payment_method(localstripe_url))
    captured = services.capture_payment(order_id=order.pk)
    assert (captured.state, captured.captured_amount) == (PaymentState.CAPTURED, 1999)
    refund = services.refund_payment(order_id=order.pk, amount=999, reference="r-1")
    assert refund.state == "succeeded" and refund.gateway_reference.startswith("re_")
    with pytest.raises(RefundRefused):
        services.refund_payment(order_id=order.pk, amount=1001, reference="r-2")
    assert len(stripe_helpers.list_refunds(localstripe_url, captured.gateway_reference)) == 1
