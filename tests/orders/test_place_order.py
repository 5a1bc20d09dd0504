"""Placing an order: one transaction that snapshots the cart, or a refusal that writes nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core import mail

from accounts.exceptions import InvalidAddress
from cart import selectors as cart_selectors
from cart.models import CartStatus
from inventory import selectors as inventory_selectors
from orders.exceptions import (
    EmptyCart,
    InvalidDeliveryOption,
    InvalidEmail,
    NotEnoughStock,
    PriceChanged,
    ProductNoLongerSold,
)
from orders.models import Order, OrderEvent
from orders.services import place_order
from orders.states import OrderState
from payments.methods import InvalidPaymentMethod
from shop.models import OutboxMessage
from tests.accounts.factories import address_data
from tests.orders.conftest import checkout_input, fill_cart

D = Decimal


def written() -> tuple[int, int, int]:
    return Order.objects.count(), OrderEvent.objects.count(), OutboxMessage.objects.count()


@pytest.mark.django_db
def test_an_order_snapshots_lines_totals_and_address_and_closes_the_cart(
    customer, shoe, sock, django_capture_on_commit_callbacks
):
    cart_id = fill_cart(user=customer, lines={shoe: 2, sock: 3})
    with django_capture_on_commit_callbacks(execute=True):
        result = place_order(checkout=checkout_input(), customer=customer)
    order = Order.objects.get()
    assert result.created and result.value == order
    assert order.number.startswith("SO-") and len(order.number) == 14
    assert (order.email, order.customer, order.city, order.country) == ("ada@example.com", customer, "Berlin", "DE")
    assert [(line.title, line.sku, line.unit_price, line.quantity, line.subtotal) for line in order.lines.all()] == [
        ("Trail shoe", shoe.sku, D("50.00"), 2, D("100.00")),
        ("Wool sock", sock.sku, D("5.00"), 3, D("15.00")),
    ]
    assert (order.subtotal, order.shipping, order.total, order.tax) == (D("115.00"), D("4.95"), D("119.95"), D("19.15"))
    assert order.payment_method == "tok_visa"
    assert cart_selectors.find_open_cart(user=customer) is None
    assert order.pk and customer.carts.get(pk=cart_id).status == CartStatus.CHECKED_OUT


@pytest.mark.django_db
def test_the_worker_allocates_after_commit_and_emails_twice(customer, shoe, django_capture_on_commit_callbacks):
    """Eager Celery: the outbox hands the order to allocation, which takes the stock and confirms."""
    fill_cart(user=customer, lines={shoe: 3})
    with django_capture_on_commit_callbacks(execute=True):
        order = place_order(checkout=checkout_input(), customer=customer).value
    order.refresh_from_db()
    assert order.state == OrderState.AUTHORIZED  # allocated, then the test card was authorized
    assert inventory_selectors.get_level(product_id=shoe.pk) == 7
    assert [m.subject for m in mail.outbox] == [
        f"Shop: we received your order {order.number}",
        f"Shop: your order {order.number} is confirmed",
    ]
    assert mail.outbox[0].to == ["ada@example.com"]
    assert "?access=" in mail.outbox[0].body and mail.outbox[0].alternatives[0][1] == "text/html"
    assert [e.to_state for e in order.events.all() if e.to_state] == ["placed", "allocated", "authorized"]


@pytest.mark.django_db
def test_a_guest_orders_with_an_email_address(shoe, django_capture_on_commit_callbacks):
    fill_cart(guest_token="g" * 43, lines={shoe: 1})
    with django_capture_on_commit_callbacks(execute=True):
        order = place_order(checkout=checkout_input(email=" guest@example.com "), guest_token="g" * 43).value
    assert (order.customer, order.email) == (None, "guest@example.com")
    assert order.guest_key and mail.outbox[0].to == ["guest@example.com"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "error", "field"),
    [
        ({"address": address_data(city="")}, InvalidAddress, "address.city"),
        ({"address": address_data(country="XX")}, InvalidAddress, "address.country"),
        ({"delivery_option": "teleport"}, InvalidDeliveryOption, "delivery_option"),
        ({"payment_method": "4242424242424242"}, InvalidPaymentMethod, "payment_method"),
        ({"email": "not-an-address"}, InvalidEmail, "email"),
        ({"email": "a" * 64 + "@" + ("b" * 63 + ".") * 3 + "com"}, InvalidEmail, "email"),  # 260 > 254 characters
        ({"expected_total": D("100.00")}, PriceChanged, "expected_total"),
    ],
)
def test_bad_checkout_input_is_refused_naming_the_field_and_writes_nothing(customer, shoe, overrides, error, field):
    fill_cart(user=customer, lines={shoe: 1})
    with pytest.raises(error) as refused:
        place_order(checkout=checkout_input(**overrides), customer=customer)
    assert field in refused.value.fields
    assert written() == (0, 0, 0)
    assert cart_selectors.find_open_cart(user=customer) is not None


@pytest.mark.django_db
def test_an_empty_cart_cannot_be_ordered(customer):
    with pytest.raises(EmptyCart):
        place_order(checkout=checkout_input(), customer=customer)
    fill_cart(user=customer, lines={})
    with pytest.raises(EmptyCart):
        place_order(checkout=checkout_input(), customer=customer)
    assert written() == (0, 0, 0)


@pytest.mark.django_db
def test_a_quantity_plainly_above_stock_is_refused_naming_the_product(customer, shoe):
    fill_cart(user=customer, lines={shoe: 11})
    with pytest.raises(NotEnoughStock) as refused:
        place_order(checkout=checkout_input(), customer=customer)
    assert refused.value.product_id == shoe.pk
    assert "Only 10 of Trail shoe left" in refused.value.message
    assert written() == (0, 0, 0)


@pytest.mark.django_db
def test_a_product_taken_off_sale_is_refused(customer, shoe):
    fill_cart(user=customer, lines={shoe: 1})
    type(shoe).objects.filter(pk=shoe.pk).update(is_active=False)
    with pytest.raises(ProductNoLongerSold):
        place_order(checkout=checkout_input(), customer=customer)
    assert written() == (0, 0, 0)


@pytest.mark.django_db
def test_the_reviewed_total_is_accepted_and_a_changed_price_refused(customer, shoe):
    fill_cart(user=customer, lines={shoe: 1})
    type(shoe).objects.filter(pk=shoe.pk).update(price=D("55.00"))
    with pytest.raises(PriceChanged) as refused:
        place_order(checkout=checkout_input(expected_total=D("54.95")), customer=customer)
    assert refused.value.total == D("59.95")
    order = place_order(checkout=checkout_input(expected_total=D("59.95")), customer=customer).value
    assert order.lines.get().unit_price == D("55.00")


@pytest.mark.django_db
def test_the_text_part_of_order_emails_shows_names_as_typed(shoe, django_capture_on_commit_callbacks):
    # given: an apostrophe in the name and an ampersand in a product title (issue 20, item 16)
    shoe.title = "Smith & Sons boot"
    shoe.save(update_fields=["title"])
    fill_cart(guest_token="g" * 43, lines={shoe: 1})
    checkout = checkout_input(email="sean@example.com", address=address_data(full_name="Se'n O'Brien"))
    with django_capture_on_commit_callbacks(execute=True):
        place_order(checkout=checkout, guest_token="g" * 43)
    message = mail.outbox[0]
    # then: plain text shows them as typed; the HTML part still escapes them
    assert "Se'n O'Brien" in message.body and "Smith & Sons boot" in message.body
    assert "&#x27;" not in message.body and "&amp;" not in message.body
    html = message.alternatives[0][0]
    assert "Smith &amp; Sons boot" in html
