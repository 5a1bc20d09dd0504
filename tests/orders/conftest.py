"""Fixtures of the orders tests: stocked products, a customer with a filled cart, checkout inputs."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cart import services as cart_services
from orders.services import CheckoutInput
from tests.accounts.factories import UserFactory, address_data
from tests.cart.conftest import guest_api  # noqa: F401  (fixture)
from tests.cart.factories import add, stocked_product
from tests.observability_helpers import json_lines, spans  # noqa: F401  (fixtures)


def checkout_input(**overrides) -> CheckoutInput:
    """What a customer chooses at checkout: an address, standard delivery, an approving test card."""
    fields = {"address": address_data(), "delivery_option": "standard", "payment_method": "tok_visa"}
    return CheckoutInput(**{**fields, **overrides})


def fill_cart(*, user=None, guest_token: str | None = None, lines: dict) -> int:
    """Put {product: quantity} in the owner's open cart through the cart services; returns the cart id."""
    cart = cart_services.get_or_create_cart(user=user, guest_token=guest_token)
    cart_services.apply_operations(
        cart_id=cart.pk,
        base_epoch=cart.epoch,
        operations=[add(product.pk, quantity) for product, quantity in lines.items()],
    )
    return cart.pk


@pytest.fixture
def shoe(db):
    return stocked_product(title="Trail shoe", price=Decimal("50.00"), available=10)


@pytest.fixture
def sock(db):
    return stocked_product(title="Wool sock", price=Decimal("5.00"), available=100)


@pytest.fixture
def customer(db):
    return UserFactory(email="ada@example.com")


@pytest.fixture
def shipped(customer, shoe, django_capture_on_commit_callbacks):
    """Two shoes ordered, allocated, authorized and shipped: 104.95 captured (eager Celery)."""
    from orders import services

    fill_cart(user=customer, lines={shoe: 2})
    with django_capture_on_commit_callbacks(execute=True):
        order = services.place_order(checkout=checkout_input(), customer=customer).value
    with django_capture_on_commit_callbacks(execute=True):
        services.mark_shipped(order_id=order.pk)
    order.refresh_from_db()
    return order
