"""Issue 19, item 3: the payment step's radios sit inside their labels, one is preselected, no
label points at nothing; the order page's "pay again" form is the same styled choice list."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from orders import services
from orders.models import Order
from orders.states import OrderState
from tests.orders.conftest import checkout_input, fill_cart

pytestmark = pytest.mark.django_db

PAYMENT_URL = reverse("orders:checkout-payment")
NEW_ADDRESS = {"full_name": "Ada Lovelace", "line1": "1 Main Street", "city": "Berlin", "postal_code": "10115", "country": "DE"}  # fmt: skip


def choice_labels(html: str, name: str) -> list[str]:
    """Each <label class="choice" for=...> that holds a radio of `name`, as written in the page."""
    return re.findall(rf'<label class="choice" for="[^"]+"><input type="radio" name="{name}"[^>]*>', html)


@pytest.fixture
def at_payment_step(client, customer, shoe):
    client.force_login(customer)
    fill_cart(user=customer, lines={shoe: 1})
    client.post(reverse("orders:checkout"), NEW_ADDRESS)
    client.post(reverse("orders:checkout-delivery"), {"delivery_option": "standard"})
    return client


def test_each_payment_radio_is_inside_its_label_and_the_first_card_is_preselected(at_payment_step):
    html = at_payment_step.get(PAYMENT_URL).content.decode()
    labels = choice_labels(html, "payment_method")
    assert len(labels) == 6
    assert 'for="id_payment_method_0"' in labels[0] and 'value="tok_visa"' in labels[0] and "checked" in labels[0]
    assert sum("checked" in label for label in labels) == 1
    assert '<legend>Payment method (test cards)</legend>' in html
    assert 'for=""' not in html


def test_the_card_chosen_before_stays_selected_when_coming_back(at_payment_step):
    at_payment_step.post(PAYMENT_URL, {"payment_method": "tok_mastercard"})
    labels = choice_labels(at_payment_step.get(PAYMENT_URL).content.decode(), "payment_method")
    assert [("tok_mastercard" in label) for label in labels if "checked" in label] == [True]


def test_a_radio_group_in_any_form_gets_a_legend_not_a_label_pointing_at_nothing(client, customer, shoe):
    """The generic form include (_form.html) renders a RadioSelect as the choice list too."""
    client.force_login(customer)
    fill_cart(user=customer, lines={shoe: 1})
    order = services.place_order(checkout=checkout_input(payment_method="tok_declined"), customer=customer).value
    Order.objects.filter(pk=order.pk).update(state=OrderState.PAYMENT_FAILED)  # as the declined card leaves it
    html = client.get(order.get_absolute_url()).content.decode()
    pay_again = html[html.index('id="order-payment"') :]
    labels = choice_labels(pay_again, "payment_method")
    assert len(labels) == 6 and "checked" in labels[0]
    assert '<fieldset class="choice-list">' in pay_again
    assert 'for=""' not in html
