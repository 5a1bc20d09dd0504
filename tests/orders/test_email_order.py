"""The order e-mails arrive in the order a customer expects (issue 19, item 6): "we received your
order" first, "your order is confirmed" only once the payment is authorized, and a declined card
never "confirmed". Both on the embedded default (eager Celery: every consumer runs inline, in the
order the outbox hands them on) and when the messages are delivered in another order, as separate
queues and workers may do."""

from __future__ import annotations

import smtplib
import time

import pytest
from django.core import mail
from django.utils import timezone

from orders import services
from orders.exceptions import EmailNotReady
from orders.models import EmailKind, EmailLog, Order
from orders.services import send_order_email
from orders.states import OrderState
from orders.tasks import allocate_order_task
from shop import outbox
from shop.models import OutboxMessage
from tests.celery_helpers import real_broker
from tests.orders.conftest import checkout_input, fill_cart
from tests.shop.test_celery import live_worker  # noqa: F401  (fixture: a real worker thread on RabbitMQ)

DEAD_BROKER = "amqp://guest:guest@127.0.0.1:1//"


def subjects() -> list[str]:
    return [message.subject.split(": ", 1)[1] for message in mail.outbox]


@pytest.fixture
def buy(customer):
    """Place an order as the embedded default runs it: no test transaction around it, so each
    on-commit hand-off runs when its own transaction commits, nested consumers inline."""

    def buy_with(lines: dict, card: str = "tok_visa") -> Order:
        fill_cart(user=customer, lines=lines)
        order = services.place_order(checkout=checkout_input(payment_method=card), customer=customer).value
        order.refresh_from_db()
        return order

    return buy_with


def place_held(customer, lines: dict, card: str = "tok_visa") -> Order:
    """Place an order while the broker is down: its outbox messages wait for whoever delivers them."""
    fill_cart(user=customer, lines=lines)
    with real_broker(DEAD_BROKER):
        return services.place_order(checkout=checkout_input(payment_method=card), customer=customer).value


@pytest.mark.django_db(transaction=True)
def test_an_accepted_card_gets_received_then_confirmed(buy, shoe):
    order = buy({shoe: 1})
    assert order.state == OrderState.AUTHORIZED
    assert subjects() == [f"we received your order {order.number}", f"your order {order.number} is confirmed"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("card", ["tok_insufficient_funds", "tok_declined", "tok_requires_action"])
def test_a_declined_card_gets_received_then_payment_needs_attention_and_never_confirmed(buy, shoe, card):
    order = buy({shoe: 1}, card=card)
    assert order.state == OrderState.PAYMENT_FAILED
    assert subjects() == [
        f"we received your order {order.number}",
        f"your payment for order {order.number} needs attention",
    ]


@pytest.mark.django_db(transaction=True)
def test_a_replacement_card_that_is_accepted_confirms_the_order_then(buy, shoe):
    order = buy({shoe: 1}, card="tok_declined")
    services.replace_payment_method(order_id=order.pk, payment_method="tok_visa")
    assert subjects() == [
        f"we received your order {order.number}",
        f"your payment for order {order.number} needs attention",
        f"your order {order.number} is confirmed",
    ]


@pytest.mark.django_db(transaction=True)
def test_allocation_alone_confirms_nothing(customer, shoe):
    order = place_held(customer, {shoe: 1})
    with real_broker(DEAD_BROKER):  # the payment request waits at the broker
        assert allocate_order_task.apply(kwargs={"order_id": order.pk}).result == OrderState.ALLOCATED
    assert not EmailLog.objects.filter(order=order, kind=EmailKind.ALLOCATED).exists()
    # even a "confirmed" asked for too early (an older worker) waits for the authorization
    EmailLog.objects.create(order=order, kind=EmailKind.ALLOCATED, claimed_at=services.NEVER_CLAIMED)
    assert send_order_email(order_id=order.pk, kind=EmailKind.ALLOCATED) is False
    assert "is confirmed" not in " ".join(subjects())


@pytest.mark.django_db(transaction=True)
def test_allocation_delivered_before_the_received_email_still_sends_received_first(customer, shoe):
    # given: the order waits in the outbox; a worker takes the allocation before the e-mail worker
    # takes "received" (separate queues), and allocation, payment and "confirmed" all run first
    order = place_held(customer, {shoe: 1})
    allocation = OutboxMessage.objects.get(topic=services.ORDER_PLACED)
    received = OutboxMessage.objects.get(topic=services.ORDER_EMAIL)

    # when
    outbox.dispatch(message_ids=[allocation.pk])
    outbox.dispatch(message_ids=[received.pk])

    # then
    order.refresh_from_db()
    assert order.state == OrderState.AUTHORIZED
    assert subjects() == [f"we received your order {order.number}", f"your order {order.number} is confirmed"]


@pytest.mark.django_db(transaction=True)
def test_confirmed_waits_while_received_cannot_be_sent(customer, shoe, monkeypatch):
    # given: an authorized order whose "received" e-mail could not go out (SMTP down)
    order = place_held(customer, {shoe: 1})
    allocation = OutboxMessage.objects.get(topic=services.ORDER_PLACED)

    def refuse(self, *args, **kwargs):
        raise smtplib.SMTPServerDisconnected("mail server went away")

    with monkeypatch.context() as patched:
        patched.setattr("django.core.mail.backends.locmem.EmailBackend.send_messages", refuse)
        outbox.dispatch(message_ids=[allocation.pk])  # allocated, authorized; "confirmed" fails with received
        with pytest.raises(smtplib.SMTPServerDisconnected):
            send_order_email(order_id=order.pk, kind=EmailKind.ALLOCATED)
    assert Order.objects.get(pk=order.pk).state == OrderState.AUTHORIZED
    assert mail.outbox == []

    # when: the mail server is back and the task retries "confirmed"
    assert send_order_email(order_id=order.pk, kind=EmailKind.ALLOCATED) is True

    # then: "received" went out first, each once
    assert subjects() == [f"we received your order {order.number}", f"your order {order.number} is confirmed"]
    assert send_order_email(order_id=order.pk, kind=EmailKind.RECEIVED) is False


@pytest.mark.django_db
def test_confirmed_is_not_sent_while_another_worker_is_sending_received(customer, shoe):
    order = place_held(customer, {shoe: 1})
    with real_broker(DEAD_BROKER):
        services.allocate_order(order_id=order.pk)
        services.apply_payment_result(order_id=order.pk, status="authorized")
    EmailLog.objects.filter(order=order, kind=EmailKind.RECEIVED).update(claimed_at=timezone.now())

    with pytest.raises(EmailNotReady):  # the task retries it with backoff
        send_order_email(order_id=order.pk, kind=EmailKind.ALLOCATED)
    assert mail.outbox == []
    assert EmailLog.objects.get(order=order, kind=EmailKind.ALLOCATED).sent_at is None


@pytest.mark.rabbitmq
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("live_worker")
def test_real_workers_on_rabbitmq_send_received_first_and_confirm_only_the_authorized_order(
    customer, shoe, sock, mailoutbox
):
    # given: a worker consuming every queue (allocation, payments, their results, e-mails, outbox)
    fill_cart(user=customer, lines={shoe: 1})
    accepted = services.place_order(checkout=checkout_input(payment_method="tok_visa"), customer=customer).value
    fill_cart(user=customer, lines={sock: 1})
    declined = services.place_order(checkout=checkout_input(payment_method="tok_declined"), customer=customer).value

    # when: both orders reach their final state and two e-mails each went out
    deadline = time.monotonic() + 30
    while len(mailoutbox) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # anything more (a wrong "confirmed") would arrive now

    # then
    def received_by(order):
        return [m.subject.split(": ", 1)[1] for m in mailoutbox if order.number in m.subject]

    assert received_by(accepted) == [f"we received your order {accepted.number}",
                                     f"your order {accepted.number} is confirmed"]  # fmt: skip
    assert received_by(declined) == [f"we received your order {declined.number}",
                                     f"your payment for order {declined.number} needs attention"]  # fmt: skip
    assert Order.objects.get(pk=accepted.pk).state == OrderState.AUTHORIZED
    assert Order.objects.get(pk=declined.pk).state == OrderState.PAYMENT_FAILED
