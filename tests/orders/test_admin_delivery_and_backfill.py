"""Issue 18: staff mark a shipped order delivered from its admin page (asked first, behind
orders.mark_delivered), and the migration that made partial refunds partial for orders refunded
before it."""

from __future__ import annotations

import importlib
from decimal import Decimal

import pytest
from django.apps import apps
from django.contrib.auth.models import Permission
from django.core import mail
from django.urls import reverse

from orders import services
from orders.models import Order, OrderEvent
from orders.states import OrderState
from tests.accounts.factories import UserFactory

pytestmark = pytest.mark.django_db
backfill = importlib.import_module("orders.migrations.0010_backfill_refunds_and_shipping").backfill


def operation_url(order: Order) -> str:
    return reverse("admin:orders_order_operation", args=[order.pk, "deliver"])


def staff_with(client, *codenames: str):
    user = UserFactory(staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="orders", codename__in=["view_order", *codenames])
    )
    client.force_login(user)
    return user


def test_deliver_button_asks_then_delivers_and_e_mails(client, shipped, django_capture_on_commit_callbacks):
    packer = staff_with(client, "mark_delivered")
    confirm = client.get(operation_url(shipped)).content.decode()
    assert "The order is marked delivered and the customer is e-mailed." in confirm
    assert Order.objects.get(pk=shipped.pk).state == OrderState.SHIPPED
    sent_before = len(mail.outbox)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(operation_url(shipped), {"post": "yes"})
    assert response.status_code == 302
    order = Order.objects.get(pk=shipped.pk)
    assert (order.state, order.delivered_at is not None) == (OrderState.DELIVERED, True)
    assert OrderEvent.objects.get(order=order, to_state=OrderState.DELIVERED).actor == packer
    assert [m.subject for m in mail.outbox[sent_before:]] == [f"Shop: your order {order.number} was delivered"]
    page = client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    assert "Mark delivered" not in page  # once only


def test_deliver_needs_its_permission(client, shipped):
    staff_with(client, "mark_shipped")
    assert client.post(operation_url(shipped), {"post": "yes"}).status_code == 403
    assert Order.objects.get(pk=shipped.pk).state == OrderState.SHIPPED


def test_the_backfill_makes_an_order_refunded_in_part_partially_refunded(shipped):
    # given: an order refunded by 10.00 of 104.95 as the shop recorded it before: "refunded", no amount
    services.refund_order(order_id=shipped.pk, amount=Decimal("10.00"), reference="old")
    Order.objects.filter(pk=shipped.pk).update(state=OrderState.REFUNDED, refunded_amount=0, shipped_at=None)
    shipped_event = OrderEvent.objects.get(order=shipped, to_state=OrderState.SHIPPED)
    # when
    backfill(apps, None)
    # then
    order = Order.objects.get(pk=shipped.pk)
    assert (order.state, order.refunded_amount) == (OrderState.PARTIALLY_REFUNDED, Decimal("10.00"))
    assert order.shipped_at == shipped_event.created_at


def test_the_backfill_keeps_an_order_refunded_in_full_refunded(shipped):
    services.refund_order(order_id=shipped.pk, amount=None, reference="all")
    Order.objects.filter(pk=shipped.pk).update(refunded_amount=0)
    backfill(apps, None)
    order = Order.objects.get(pk=shipped.pk)
    assert (order.state, order.refunded_amount) == (OrderState.REFUNDED, Decimal("104.95"))
