"""Issue 18: the staff dashboard on the admin's index page. Its figures equal sums over the
orders of a fixture (a fixed "now"), each block shows only to staff whose permissions allow it
(a Support agent sees orders, never revenue), and its query count does not grow with the orders."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from orders.models import Order
from orders.states import OrderState
from shop.dashboard import render_dashboard
from shop.models import DeadLetter
from tests.accounts.factories import UserFactory
from tests.cart.factories import stocked_product
from tests.orders.factories import placed_order

pytestmark = pytest.mark.django_db
NOW = datetime(2030, 6, 12, 15, 0, tzinfo=UTC)  # a Wednesday: the week began on Monday 10 June
S = OrderState


def order(product, *, days_ago: float, state: str, total: str, quantity: int = 1, refunded: str = "0",
          updated_minutes_ago: float | None = None) -> Order:  # fmt: skip
    made = placed_order({product: quantity}, state=state)
    at = NOW - timedelta(days=days_ago)
    updated = NOW - timedelta(minutes=updated_minutes_ago) if updated_minutes_ago is not None else at
    Order.objects.filter(pk=made.pk).update(created_at=at, updated_at=updated, total=Decimal(total),
                                            refunded_amount=Decimal(refunded))  # fmt: skip
    return made


@pytest.fixture
def orders(db):
    shoe = stocked_product(title="Trail shoe", available=3)
    sock = stocked_product(title="Wool sock", available=80)
    order(shoe, days_ago=0.1, state=S.AUTHORIZED, total="100.00", quantity=2)  # today
    order(sock, days_ago=0.2, state=S.CANCELLED, total="50.00")  # today, not a sale
    order(sock, days_ago=2, state=S.DELIVERED, total="30.00", quantity=5)  # Monday: this week
    order(shoe, days_ago=10, state=S.PARTIALLY_REFUNDED, total="200.00", refunded="10.00")  # this month
    order(sock, days_ago=40, state=S.SHIPPED, total="999.00", quantity=9)  # before the 30 days
    order(sock, days_ago=40, state=S.PLACED, total="5.00", updated_minutes_ago=20)  # stuck
    order(sock, days_ago=40, state=S.ALLOCATED, total="5.00", updated_minutes_ago=5)  # not yet
    order(sock, days_ago=40, state=S.PAYMENT_FAILED, total="5.00")
    return shoe, sock


def figures(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-figure="([\w-]+)">([^<]+)<', html))


def blocks(html: str) -> list[str]:
    return re.findall(r'<section class="module dashboard-block" id="dashboard-(\w+)"', html)


def test_the_figures_are_the_sums_over_the_orders(orders):
    html = render_dashboard(UserFactory(superuser=True), now=NOW)
    assert figures(html) == {
        "orders-today": "2", "orders-week": "3", "orders-month": "4",
        "stuck": "1", "payment-failed": "1",
        "revenue-today": "100.00 EUR", "revenue-week": "130.00 EUR", "revenue-month": "320.00 EUR",  # 100+30+(200-10)
        "dead-letters": "0",
    }  # fmt: skip
    assert blocks(html) == ["orders", "revenue", "low_stock", "dead_letters"]
    top = re.findall(r'<tr><th scope="row">([^<]+)</th><td class="dashboard-figure">(\d+)</td></tr>', html)
    assert top[-2:] == [("Wool sock", "5"), ("Trail shoe", "3")]  # units in orders paid for, last 30 days
    running_out = re.findall(r'<th scope="row">([^<]+) <small>[^<]+</small></th><td class="dashboard-figure">(\d+)<', html)
    assert running_out == [("Trail shoe", "3")]  # 3 units left, at or below 5
    assert f"?state__exact=authorized&amp;created_at__gte={(NOW - timedelta(days=29)).date().isoformat()}" in html


def test_the_chart_has_a_bar_per_day_scaled_to_the_best_day(orders):
    html = render_dashboard(UserFactory(superuser=True), now=NOW)
    bars = re.findall(r'<rect x="[\d.]+" y="[\d.]+" width="[\d.]+" height="([\d.]+)"', html)
    assert len(bars) == 30
    assert max(float(h) for h in bars) == 120.0  # the best day (190.00 EUR) fills the chart
    assert "2030-06-02: 190.00 EUR, 1 orders" in html


def test_a_support_agent_sees_the_orders_but_not_the_revenue(client, orders):
    agent = UserFactory(staff=True)
    agent.groups.add(Group.objects.get(name="Support"))
    client.force_login(agent)
    with mock.patch.object(timezone, "now", return_value=NOW):
        html = client.get("/admin/").content.decode()
    assert blocks(html) == ["orders"]
    assert "revenue-today" not in html and "EUR" not in html


def test_fulfilment_sees_orders_stock_and_dead_letters_but_not_revenue(orders):
    packer = UserFactory(staff=True)
    packer.groups.add(Group.objects.get(name="Fulfilment"))
    DeadLetter.objects.create(task_name="orders.send_order_email", error="SMTP down")
    html = render_dashboard(packer, now=NOW)
    assert blocks(html) == ["orders", "low_stock", "dead_letters"]
    assert figures(html)["dead-letters"] == "1"


def test_someone_without_a_permission_sees_no_dashboard(orders):
    assert render_dashboard(UserFactory(staff=True), now=NOW) == ""


def test_the_dashboard_queries_do_not_grow_with_the_orders(orders):
    superuser = UserFactory(superuser=True)
    render_dashboard(superuser, now=NOW)  # warm: permissions cached on the user
    with CaptureQueriesContext(connection) as before:
        render_dashboard(superuser, now=NOW)
    for days_ago in range(20):
        order(stocked_product(), days_ago=days_ago, state=S.SHIPPED, total="10.00")
    with CaptureQueriesContext(connection) as after:
        render_dashboard(superuser, now=NOW)
    assert len(after) == len(before) <= 10
