"""Issue 18: the order state machine written out again, every transition and every refusal.

The table below is the one docs/orders.md draws; the first tests hold orders/states.py to it pair
by pair (check_transition is the only gate of every state change). The others walk the new
transitions through the services a customer's order really takes: shipped, delivered, partly
then fully refunded, and the refusals, each changing nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from unittest import mock

import pytest
from django.core import mail
from django.utils import timezone

from orders import services
from orders.models import Order, OrderEvent, OrderEventKind
from orders.states import FINAL, TRANSITIONS, InvalidTransition, OrderState, check_transition
from payments.exceptions import RefundRefused
from payments.models import Payment, Refund
from tests.orders.conftest import checkout_input, fill_cart

S = OrderState
MACHINE = {
    "placed": {"allocated", "rejected", "cancelled"},
    "allocated": {"authorized", "payment_failed", "cancelled"},
    "payment_failed": {"authorized", "cancelled"},
    "authorized": {"shipped", "payment_failed", "cancelled"},
    "shipped": {"delivered", "partially_refunded", "refunded"},
    "delivered": {"partially_refunded", "refunded"},
    "partially_refunded": {"refunded"},
    "rejected": set(),
    "cancelled": set(),
    "refunded": set(),
}
PAIRS = [(current, target) for current in MACHINE for target in MACHINE]
ALLOWED = [pair for pair in PAIRS if pair[1] in MACHINE[pair[0]]]
REFUSED = [pair for pair in PAIRS if pair[1] not in MACHINE[pair[0]]]
DELIVERED_AT = datetime(2026, 12, 3, 14, 30, tzinfo=UTC)


def test_every_state_is_in_the_machine_and_the_finals_are_final():
    assert set(TRANSITIONS) == set(MACHINE) == set(OrderState.values)
    assert set(FINAL) == {"rejected", "cancelled", "refunded"}


@pytest.mark.parametrize(("current", "target"), ALLOWED, ids=[f"{c}->{t}" for c, t in ALLOWED])
def test_each_transition_of_the_machine_is_allowed(current, target):
    check_transition(current, target)  # raises when refused


@pytest.mark.parametrize(("current", "target"), REFUSED, ids=[f"{c}-x-{t}" for c, t in REFUSED])
def test_every_other_change_is_refused_with_409_naming_both_states(current, target):
    with pytest.raises(InvalidTransition) as refused:
        check_transition(current, target)
    assert (refused.value.status_code, refused.value.code) == (409, "order_state_conflict")
    assert S(current).label.lower() in refused.value.message and S(target).label.lower() in refused.value.message


# --- The new transitions, through the services ----------------------------------------------------------


def state_of(order: Order) -> str:
    return Order.objects.values_list("state", flat=True).get(pk=order.pk)


@pytest.mark.django_db
def test_shipped_to_delivered_stores_when(shipped, django_capture_on_commit_callbacks):
    with mock.patch.object(timezone, "now", return_value=DELIVERED_AT), django_capture_on_commit_callbacks(execute=True):
        services.mark_delivered(order_id=shipped.pk)
    shipped.refresh_from_db()
    assert (shipped.state, shipped.delivered_at) == (S.DELIVERED, DELIVERED_AT)
    assert shipped.events.filter(from_state=S.SHIPPED, to_state=S.DELIVERED).count() == 1


@pytest.mark.django_db
def test_delivered_twice_changes_nothing_the_second_time(shipped, django_capture_on_commit_callbacks):
    with mock.patch.object(timezone, "now", return_value=DELIVERED_AT), django_capture_on_commit_callbacks(execute=True):
        services.mark_delivered(order_id=shipped.pk)
    events, emails = OrderEvent.objects.count(), len(mail.outbox)
    with django_capture_on_commit_callbacks(execute=True):
        services.mark_delivered(order_id=shipped.pk)
    shipped.refresh_from_db()
    assert (shipped.state, shipped.delivered_at) == (S.DELIVERED, DELIVERED_AT)
    assert (OrderEvent.objects.count(), len(mail.outbox)) == (events, emails)


@pytest.mark.django_db
@pytest.mark.parametrize("delivered_first", [False, True], ids=["from-shipped", "from-delivered"])
def test_a_part_refunded_is_partially_refunded_and_the_rest_makes_it_refunded(shipped, delivered_first):
    # given: 104.95 captured (2 shoes and delivery), delivered or still on its way
    if delivered_first:
        services.mark_delivered(order_id=shipped.pk)
    before = state_of(shipped)
    # when: 10.00 is refunded
    services.refund_order(order_id=shipped.pk, amount=Decimal("10.00"), reference="r1", reason="late parcel")
    # then: partly refunded, by 10.00
    order = Order.objects.get(pk=shipped.pk)
    assert (order.state, order.refunded_amount) == (S.PARTIALLY_REFUNDED, Decimal("10.00"))
    assert order.events.get(to_state=S.PARTIALLY_REFUNDED).from_state == before
    # when: the rest is refunded
    services.refund_order(order_id=shipped.pk, amount=None, reference="r2")
    order.refresh_from_db()
    assert (order.state, order.refunded_amount) == (S.REFUNDED, Decimal("104.95"))
    assert order.events.get(to_state=S.REFUNDED).from_state == S.PARTIALLY_REFUNDED


@pytest.mark.django_db
def test_a_second_partial_refund_stays_partially_refunded_and_adds_up(shipped):
    services.refund_order(order_id=shipped.pk, amount=Decimal("10.00"), reference="r1")
    services.refund_order(order_id=shipped.pk, amount=Decimal("20.00"), reference="r2", reason="scratched")
    order = Order.objects.get(pk=shipped.pk)
    assert (order.state, order.refunded_amount) == (S.PARTIALLY_REFUNDED, Decimal("30.00"))
    note = order.events.filter(kind=OrderEventKind.NOTE, data__refund="r2").get()
    assert (note.message, note.data["amount"]) == ("scratched", "20.00")


@pytest.mark.django_db
def test_one_refund_of_everything_goes_straight_to_refunded(shipped):
    services.refund_order(order_id=shipped.pk, amount=Decimal("104.95"), reference="all")
    order = Order.objects.get(pk=shipped.pk)
    assert (order.state, order.refunded_amount) == (S.REFUNDED, Decimal("104.95"))
    assert order.events.get(to_state=S.REFUNDED).from_state == S.SHIPPED


@pytest.mark.django_db
def test_a_retried_refund_is_recorded_once(shipped):
    for _ in range(2):
        services.refund_order(order_id=shipped.pk, amount=Decimal("10.00"), reference="r1")
    order = Order.objects.get(pk=shipped.pk)
    assert order.refunded_amount == Decimal("10.00")
    assert order.events.filter(data__refund="r1").count() == 1
    assert Refund.objects.count() == 1


@pytest.mark.django_db
def test_a_partially_refunded_order_delivered_later_keeps_its_state_and_stores_when(shipped):
    services.refund_order(order_id=shipped.pk, amount=Decimal("10.00"), reference="r1")
    with mock.patch.object(timezone, "now", return_value=DELIVERED_AT):
        services.mark_delivered(order_id=shipped.pk)
    order = Order.objects.get(pk=shipped.pk)
    assert (order.state, order.delivered_at) == (S.PARTIALLY_REFUNDED, DELIVERED_AT)
    assert order.events.filter(kind=OrderEventKind.NOTE, message="Delivered to the customer").count() == 1


# --- Refusals: each changes nothing --------------------------------------------------------------------


@pytest.fixture
def authorized(customer, shoe, django_capture_on_commit_callbacks):
    fill_cart(user=customer, lines={shoe: 1})
    with django_capture_on_commit_callbacks(execute=True):
        order = services.place_order(checkout=checkout_input(), customer=customer).value
    assert state_of(order) == S.AUTHORIZED
    return order


@pytest.mark.django_db
def test_an_order_not_shipped_cannot_be_delivered(authorized):
    events = OrderEvent.objects.filter(order_id=authorized.pk).count()
    with pytest.raises(InvalidTransition):
        services.mark_delivered(order_id=authorized.pk)
    order = Order.objects.get(pk=authorized.pk)
    assert (order.state, order.delivered_at, order.events.count()) == (S.AUTHORIZED, None, events)


@pytest.mark.django_db
def test_a_delivered_order_cannot_ship_again_nor_be_cancelled(shipped):
    services.mark_delivered(order_id=shipped.pk)
    captured = Payment.objects.get(order=shipped).captured_amount
    with pytest.raises(InvalidTransition):
        services.mark_shipped(order_id=shipped.pk)
    with pytest.raises(InvalidTransition):
        services.cancel_order(order_id=shipped.pk)
    assert state_of(shipped) == S.DELIVERED
    assert Payment.objects.get(order=shipped).captured_amount == captured


@pytest.mark.django_db
def test_a_partially_refunded_order_cannot_be_cancelled(shipped):
    services.refund_order(order_id=shipped.pk, amount=Decimal("10.00"), reference="r1")
    with pytest.raises(InvalidTransition):
        services.cancel_order(order_id=shipped.pk)
    assert state_of(shipped) == S.PARTIALLY_REFUNDED


@pytest.mark.django_db
def test_an_order_refunded_in_full_refuses_another_refund(shipped):
    services.refund_order(order_id=shipped.pk, amount=None, reference="all")
    with pytest.raises(RefundRefused):
        services.refund_order(order_id=shipped.pk, amount=Decimal("0.01"), reference="more")
    order = Order.objects.get(pk=shipped.pk)
    assert (order.state, order.refunded_amount, Refund.objects.count()) == (S.REFUNDED, Decimal("104.95"), 1)


@pytest.mark.django_db
def test_an_authorized_order_cannot_be_refunded(authorized):
    with pytest.raises(InvalidTransition):
        services.refund_order(order_id=authorized.pk, amount=Decimal("1.00"), reference="early")
    assert (state_of(authorized), Refund.objects.count()) == (S.AUTHORIZED, 0)
