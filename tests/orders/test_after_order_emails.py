"""Issue 18: the customer is e-mailed when the order ships (with tracking), is delivered, and at
each refund (with its amount), each e-mail once through the outbox. A refund can happen several
times for one order: each refund's e-mail is its own log row (order, kind, reference), so the
second refund's e-mail is neither lost nor sent twice, whatever message is delivered again."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core import mail

from orders import services
from orders.models import EmailKind, EmailLog, Order
from orders.tasks import send_order_email_task
from shop.models import OutboxMessage
from tests.orders.conftest import checkout_input, fill_cart

pytestmark = pytest.mark.django_db


@pytest.fixture
def authorized(customer, shoe, django_capture_on_commit_callbacks) -> Order:
    fill_cart(user=customer, lines={shoe: 2})
    with django_capture_on_commit_callbacks(execute=True):
        order = services.place_order(checkout=checkout_input(), customer=customer).value
    return order


def subjects_since(start: int) -> list[str]:
    return [message.subject for message in mail.outbox[start:]]


def redeliver_every_email_message() -> None:
    """The broker hands every order e-mail message to a worker once more (a redelivery)."""
    for message in OutboxMessage.objects.filter(topic=services.ORDER_EMAIL).order_by("pk"):
        send_order_email_task.apply(kwargs={"message_id": message.pk, **message.payload})


def test_shipped_then_delivered_each_e_mailed_once_with_the_tracking_number(
    authorized, django_capture_on_commit_callbacks
):
    start = len(mail.outbox)  # received and confirmed went out already
    with django_capture_on_commit_callbacks(execute=True):
        services.mark_shipped(order_id=authorized.pk, carrier="DHL", tracking_number="JJD0001")
    with django_capture_on_commit_callbacks(execute=True):
        services.mark_delivered(order_id=authorized.pk)
    redeliver_every_email_message()
    number = authorized.number
    assert subjects_since(start) == [f"Shop: your order {number} is on its way", f"Shop: your order {number} was delivered"]
    shipped_mail = mail.outbox[start]
    assert "Carrier: DHL" in shipped_mail.body and "Tracking number: JJD0001" in shipped_mail.body
    assert "<strong>JJD0001</strong>" in shipped_mail.alternatives[0][0]
    assert shipped_mail.to == ["ada@example.com"]


def test_each_refund_is_e_mailed_once_with_its_own_amount(shipped, django_capture_on_commit_callbacks):
    start = len(mail.outbox)
    with django_capture_on_commit_callbacks(execute=True):
        services.refund_order(order_id=shipped.pk, amount=Decimal("10.00"), reference="r1", reason="Box dented")
    with django_capture_on_commit_callbacks(execute=True):
        services.refund_order(order_id=shipped.pk, amount=Decimal("20.00"), reference="r2")
    with django_capture_on_commit_callbacks(execute=True):  # a retry of the second refund
        services.refund_order(order_id=shipped.pk, amount=Decimal("20.00"), reference="r2")
    redeliver_every_email_message()
    number = shipped.number
    assert subjects_since(start) == [f"Shop: 10.00 EUR refunded for order {number}",
                                     f"Shop: 20.00 EUR refunded for order {number}"]  # fmt: skip
    first, second = mail.outbox[start:]
    assert "Why: Box dented" in first.body and "so far: 10.00 EUR of 104.95 EUR" in first.body
    assert "so far: 30.00 EUR of 104.95 EUR" in second.body
    logs = EmailLog.objects.filter(order=shipped, kind=EmailKind.REFUNDED).order_by("reference")
    assert [(log.reference, log.sent_at is not None) for log in logs] == [("r1", True), ("r2", True)]


def test_a_second_refund_still_pending_is_sent_when_its_own_message_arrives(shipped, django_capture_on_commit_callbacks):
    # given: the first refund's e-mail went out; the second's message is not delivered yet
    with django_capture_on_commit_callbacks(execute=True):
        services.refund_order(order_id=shipped.pk, amount=Decimal("10.00"), reference="r1")
    services.refund_order(order_id=shipped.pk, amount=Decimal("20.00"), reference="r2")  # no commit hooks run
    start = len(mail.outbox)
    # when: only the first refund's message is delivered again, then the second's arrives
    first = OutboxMessage.objects.get(topic=services.ORDER_EMAIL, payload__reference="r1")
    send_order_email_task.apply(kwargs={"message_id": first.pk, **first.payload})
    assert subjects_since(start) == []
    redeliver_every_email_message()
    # then: the second refund's e-mail is sent, once
    assert subjects_since(start) == [f"Shop: 20.00 EUR refunded for order {shipped.number}"]


def test_staff_resend_of_the_refund_e_mail_sends_the_latest_refund_again(shipped, django_capture_on_commit_callbacks):
    for reference, amount in (("r1", "10.00"), ("r2", "20.00")):
        with django_capture_on_commit_callbacks(execute=True):
            services.refund_order(order_id=shipped.pk, amount=Decimal(amount), reference=reference)
    start = len(mail.outbox)
    with django_capture_on_commit_callbacks(execute=True):
        services.resend_email(order_id=shipped.pk, kind=EmailKind.REFUNDED)
    assert subjects_since(start) == [f"Shop: 20.00 EUR refunded for order {shipped.number}"]
