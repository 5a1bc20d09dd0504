"""Every step of the order pipeline is recoverable from the database alone (issue 20, item 5): the
sweep drives orders that waited too long in placed or allocated, and e-mails claimed but never
sent, again through the same idempotent services, and counts them."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from inventory import selectors as inventory_selectors
from orders import services
from orders.metrics import ORDERS_REDRIVEN
from orders.models import EmailKind, EmailLog, Order
from orders.services import allocate_order, redrive_stuck_orders
from orders.states import OrderState
from payments.gateways.base import AuthorizationRequest
from payments.gateways.test import TestGateway
from payments.models import Payment, PaymentState, TestGatewayIntent
from shop.celery import app
from tests.cart.factories import stocked_product
from tests.orders.factories import placed_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def lamp(db):
    return stocked_product(title="Desk lamp", price=Decimal("20.00"), available=5)


def waited(order: Order, minutes: int = 10) -> None:
    Order.objects.filter(pk=order.pk).update(updated_at=timezone.now() - timedelta(minutes=minutes))


def redriven(state: str) -> float:
    return ORDERS_REDRIVEN.labels(state=state)._value.get()


def test_an_order_whose_allocation_message_was_lost_is_allocated_by_the_sweep(
    lamp, django_capture_on_commit_callbacks
):
    order = placed_order({lamp: 2})  # placed, its message never arrived
    waited(order)
    before = redriven("placed")

    with django_capture_on_commit_callbacks(execute=True):
        counts = redrive_stuck_orders()

    assert counts["placed"] == 1
    assert redriven("placed") == before + 1
    assert Order.objects.get(pk=order.pk).state == OrderState.AUTHORIZED  # allocated, then paid (eager)
    assert inventory_selectors.get_level(product_id=lamp.pk) == 3


def test_an_order_changed_recently_is_left_alone(lamp, django_capture_on_commit_callbacks):
    placed_order({lamp: 1})
    with django_capture_on_commit_callbacks(execute=True):
        assert redrive_stuck_orders() == {"placed": 0, "allocated": 0, "email": 0}
    assert Order.objects.get().state == OrderState.PLACED


def test_an_allocated_order_whose_authorization_was_lost_is_authorized_once(lamp, django_capture_on_commit_callbacks):
    order = placed_order({lamp: 1})
    allocate_order(order_id=order.pk)  # on-commit hooks do not run here: the authorization is "lost"
    waited(order)

    with django_capture_on_commit_callbacks(execute=True):
        assert redrive_stuck_orders()["allocated"] == 1
    with django_capture_on_commit_callbacks(execute=True):
        waited(order)
        redrive_stuck_orders()  # again: nothing more is held at the gateway

    assert Order.objects.get(pk=order.pk).state == OrderState.AUTHORIZED
    assert Payment.objects.get(order=order).state == PaymentState.AUTHORIZED
    assert TestGatewayIntent.objects.count() == 1


def test_a_card_held_at_the_gateway_while_the_shop_waits_is_looked_up_not_charged_again(
    lamp, django_capture_on_commit_callbacks
):
    # given: the worker created and confirmed the authorization at the gateway, then died before
    # recording it: the shop's payment is pending, the card is held
    order = placed_order({lamp: 1})
    allocate_order(order_id=order.pk)
    payment = Payment.objects.create(order=order, attempt=1, reference=f"{order.number}/1", gateway="test",
                                     payment_method="tok_visa", amount=2000, currency="EUR")  # fmt: skip
    gateway = TestGateway()
    request = AuthorizationRequest(reference=payment.reference, order_number=order.number, amount=2000,
                                   currency="EUR", payment_method="tok_visa")  # fmt: skip
    reference = gateway.create_authorization(request)
    Payment.objects.filter(pk=payment.pk).update(gateway_reference=reference)
    gateway.confirm_authorization(reference, request)
    waited(order)

    with django_capture_on_commit_callbacks(execute=True):
        redrive_stuck_orders()

    assert Order.objects.get(pk=order.pk).state == OrderState.AUTHORIZED
    assert Payment.objects.get(pk=payment.pk).state == PaymentState.AUTHORIZED
    intent = TestGatewayIntent.objects.get()
    assert (intent.gateway_reference, intent.confirm_attempts) == (reference, 1)  # looked up, not confirmed again


def test_a_result_recorded_but_never_applied_reaches_the_order(lamp, django_capture_on_commit_callbacks):
    order = placed_order({lamp: 1})
    allocate_order(order_id=order.pk)
    Payment.objects.create(order=order, attempt=1, reference=f"{order.number}/1", gateway="test",
                           payment_method="tok_visa", amount=2000, currency="EUR", state=PaymentState.AUTHORIZED,
                           gateway_reference="ti_gone")  # fmt: skip
    waited(order)

    with django_capture_on_commit_callbacks(execute=True):
        redrive_stuck_orders()

    assert Order.objects.get(pk=order.pk).state == OrderState.AUTHORIZED


def test_an_email_claimed_by_a_worker_that_died_is_sent_after_the_lease(lamp, django_capture_on_commit_callbacks):
    order = placed_order({lamp: 1})
    EmailLog.objects.create(order=order, kind=EmailKind.RECEIVED, claimed_at=timezone.now() - timedelta(minutes=6))
    waited(order)
    Order.objects.filter(pk=order.pk).update(state=OrderState.REJECTED)  # a final order: only the e-mail is stuck

    with django_capture_on_commit_callbacks(execute=True):
        assert redrive_stuck_orders()["email"] == 1

    assert EmailLog.objects.get().sent_at is not None
    assert [m.subject for m in mail.outbox] == [f"Shop: we received your order {order.number}"]


def test_a_claim_still_inside_its_lease_is_not_sent_again(lamp, django_capture_on_commit_callbacks):
    order = placed_order({lamp: 1}, state=OrderState.REJECTED)
    EmailLog.objects.create(order=order, kind=EmailKind.RECEIVED, claimed_at=timezone.now() - timedelta(minutes=1))
    waited(order)
    with django_capture_on_commit_callbacks(execute=True):
        assert redrive_stuck_orders()["email"] == 0
    assert mail.outbox == []


def test_a_confirmation_waiting_for_a_claimed_received_email_keeps_its_redrives(lamp, settings):
    # given: the database went away between sending "received" and marking it sent (a fresh claim),
    # and the "confirmed" e-mail, which must follow "received", was never claimed
    settings.EMAIL_CLAIM_TIMEOUT_SECONDS = 300
    order = placed_order({lamp: 1}, state=OrderState.AUTHORIZED)
    received = EmailLog.objects.create(order=order, kind=EmailKind.RECEIVED, claimed_at=timezone.now() - timedelta(minutes=1))
    confirmed = EmailLog.objects.create(order=order, kind=EmailKind.ALLOCATED, claimed_at=services.NEVER_CLAIMED)
    waited(order)

    # when: the sweep runs while the claim holds, then after it expired
    while_claimed = redrive_stuck_orders()["email"]
    EmailLog.objects.filter(pk=received.pk).update(claimed_at=timezone.now() - timedelta(minutes=6))
    after_expiry = redrive_stuck_orders()["email"]

    # then: nothing is re-driven to wait again; both go together once the claim expired
    assert (while_claimed, after_expiry) == (0, 2)
    assert EmailLog.objects.get(pk=confirmed.pk).redrives == 1


def test_the_claim_timeout_is_a_setting(lamp, settings, django_capture_on_commit_callbacks):
    settings.EMAIL_CLAIM_TIMEOUT_SECONDS = 30
    order = placed_order({lamp: 1}, state=OrderState.REJECTED)
    EmailLog.objects.create(order=order, kind=EmailKind.RECEIVED, claimed_at=timezone.now() - timedelta(seconds=45))
    waited(order)
    with django_capture_on_commit_callbacks(execute=True):
        assert redrive_stuck_orders()["email"] == 1
    assert [m.subject for m in mail.outbox] == [f"Shop: we received your order {order.number}"]


def test_a_failure_that_cannot_be_recorded_as_a_dead_letter_is_retried_not_dropped(monkeypatch):
    sent = []
    task = app.tasks["orders.allocate_order"]
    monkeypatch.setattr("shop.deadletters.record", lambda **kwargs: None)  # the database is down too
    monkeypatch.setattr(task, "apply_async", lambda *args, **options: sent.append((args, options)))
    task.push_request(id="t-1", is_eager=False, retries=10)  # its 10 retries used up: a long outage
    try:
        task.on_failure(RuntimeError("database gone"), "t-1", (), {"order_id": 7}, None)
    finally:
        task.pop_request()
    # sent again for later, past its retries (Celery's retry() would have raised there instead)
    assert [(args[1], options["countdown"]) for args, options in sent] == [({"order_id": 7}, 60)]


def test_an_email_that_keeps_failing_is_redriven_a_bounded_number_of_times(lamp, settings):
    # given: a "received" e-mail whose send fails for good (its claim expires unsent, again and again)
    settings.ORDERS_EMAIL_MAX_REDRIVES = 3
    order = placed_order({lamp: 1}, state=OrderState.REJECTED)
    log = EmailLog.objects.create(order=order, kind=EmailKind.RECEIVED, claimed_at=timezone.now() - timedelta(minutes=6))
    waited(order)

    # when: the sweep runs five times (the messages it publishes are never delivered here)
    counts = [redrive_stuck_orders()["email"] for _ in range(5)]

    # then: three re-drives, then it is left for staff ("resend" makes it due again)
    assert counts == [1, 1, 1, 0, 0]
    assert EmailLog.objects.get(pk=log.pk).redrives == 3


def test_a_confirmed_email_of_an_order_cancelled_before_it_went_out_is_not_redriven(lamp):
    order = placed_order({lamp: 1}, state=OrderState.CANCELLED)
    EmailLog.objects.create(order=order, kind=EmailKind.ALLOCATED, claimed_at=timezone.now() - timedelta(minutes=6))
    waited(order)
    assert redrive_stuck_orders()["email"] == 0


def test_the_oldest_claims_are_redriven_first(lamp):
    orders = [placed_order({lamp: 1}, state=OrderState.REJECTED) for _ in range(3)]
    for minutes, order in zip([7, 30, 9], orders, strict=True):
        EmailLog.objects.create(order=order, kind=EmailKind.RECEIVED,
                                claimed_at=timezone.now() - timedelta(minutes=minutes))  # fmt: skip
        waited(order)
    assert redrive_stuck_orders(limit=1)["email"] == 1
    assert EmailLog.objects.get(redrives=1).order_id == orders[1].pk
