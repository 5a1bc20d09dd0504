"""Issue 19, item 10: customers and staff read country names ("Germany"), never codes ("DE")."""

from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse

from orders import services
from tests.accounts.factories import UserFactory
from tests.orders.conftest import checkout_input, fill_cart

pytestmark = pytest.mark.django_db


@pytest.fixture
def order(customer, shoe, django_capture_on_commit_callbacks):
    fill_cart(user=customer, lines={shoe: 1})
    with django_capture_on_commit_callbacks(execute=True):
        placed = services.place_order(checkout=checkout_input(), customer=customer).value
    assert placed.country == "DE"  # the row keeps the code
    return placed


def test_the_order_page_names_the_country(client, customer, order):
    client.force_login(customer)
    html = client.get(order.get_absolute_url()).content.decode()
    address = html[html.index("<address>") : html.index("</address>")]
    assert "Germany" in address and "DE<" not in address


def test_the_received_email_names_the_country(order):
    received = next(m for m in mail.outbox if "received" in m.subject.lower())
    assert "  Germany" in received.body
    assert "\n  DE\n" not in received.body


def test_the_back_office_names_the_country(client, order):
    client.force_login(UserFactory(superuser=True))
    html = client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    assert '<div class="readonly">Germany</div>' in html
