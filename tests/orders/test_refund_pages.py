"""Issue 18: a 10.00 refund on an order does not tell anyone the whole order was refunded. The
customer's order page and the back office show what was refunded, when and why."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from decimal import Decimal
from unittest import mock

import pytest
from django.urls import reverse
from django.utils import timezone

from orders import services
from tests.accounts.factories import UserFactory

pytestmark = pytest.mark.django_db
REFUNDED_AT = datetime(2030, 6, 2, 9, 15, tzinfo=UTC)  # fixed, and after the order was placed


def text_of(page: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


@pytest.fixture
def partly_refunded(shipped):
    with mock.patch.object(timezone, "now", return_value=REFUNDED_AT):
        services.refund_order(order_id=shipped.pk, amount=Decimal("10.00"), reference="r1", reason="Box dented")
    return shipped


def test_the_customer_sees_partially_refunded_with_the_amount_when_and_why(client, customer, partly_refunded):
    client.force_login(customer)
    html_page = client.get(reverse("orders:detail", args=[partly_refunded.number])).content.decode()
    badge = re.search(r'<span class="order-state order-state-(\w+)">([^<]+)</span>', html_page)
    assert badge.groups() == ("partially_refunded", "Partially refunded")  # never "Refunded" for the whole order
    page = text_of(html_page)
    assert "Refunded so far: 10.00 EUR of 104.95 EUR" in page
    assert "2 Jun 2030, 09:15 : 10.00 EUR · Box dented" in page


def test_an_order_without_refunds_shows_no_refund_block(client, customer, shipped):
    client.force_login(customer)
    page = client.get(reverse("orders:detail", args=[shipped.number])).content.decode()
    assert "order-refunds" not in page and "Shipped" in page


def test_the_back_office_shows_the_refunded_amount_and_each_refund(client, partly_refunded):
    client.force_login(UserFactory(superuser=True))
    page = text_of(client.get(reverse("admin:orders_order_change", args=[partly_refunded.pk])).content.decode())
    assert "Partially refunded" in page
    assert "10.00 EUR" in page
    assert "2030-06-02 09:15: 10.00 EUR, Box dented" in page
