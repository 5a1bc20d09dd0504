"""Factories of the cart's rows, and small builders the cart tests share.

Factories write rows directly (a cart in a state the services would refuse to reach, such as
more than 100 products); tests that need what a customer can do call cart.services.
"""

from __future__ import annotations

import hashlib
import uuid
from decimal import Decimal

import factory

from cart import selectors
from cart.crdt import Add, CartState
from cart.models import Cart, CartAdd, CartStatus, CartTombstone
from cart.services import AddOperation, RemoveOperation
from tests.accounts.factories import UserFactory
from tests.catalog.factories import ProductFactory
from tests.inventory.factories import StockItemFactory


class CartFactory(factory.django.DjangoModelFactory):
    """A guest's open cart; `CartFactory(owned=True)` belongs to a new account instead."""

    class Meta:
        model = Cart

    guest_key = factory.Sequence(lambda n: hashlib.sha256(f"guest-{n}".encode()).hexdigest())
    status = CartStatus.OPEN

    class Params:
        owned = factory.Trait(guest_key=None, user=factory.SubFactory(UserFactory))
        merged = factory.Trait(status=CartStatus.MERGED)


class CartAddFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CartAdd

    cart = factory.SubFactory(CartFactory)
    tag = factory.LazyFunction(uuid.uuid4)
    product = factory.SubFactory(ProductFactory)
    quantity = 1
    unit_price = factory.LazyAttribute(lambda add: add.product.price)


class CartTombstoneFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CartTombstone

    cart = factory.SubFactory(CartFactory)
    tag = factory.LazyFunction(uuid.uuid4)


def stocked_product(*, available: int = 50, **fields):
    """An active product with stock (so its line carries no "out of stock" notice)."""
    product = ProductFactory(**fields)
    StockItemFactory(product=product, available=available)
    return product


def add(product_id: int, quantity: int = 1, tag: uuid.UUID | None = None) -> AddOperation:
    return AddOperation(tag=tag or uuid.uuid4(), product_id=product_id, quantity=quantity)


def remove(*tags: uuid.UUID) -> RemoveOperation:
    return RemoveOperation(tags=tuple(tags))


def view_lines(cart: Cart) -> dict[int, int]:
    """{product_id: quantity} as the customer sees the cart (clamped by the read)."""
    return {line.product_id: line.quantity for line in selectors.get_cart_view(cart=cart).lines}


def stored_state(cart: Cart) -> CartState:
    """The cart's rows as the pure model's state (the oracle's view of the database)."""
    adds = frozenset(
        Add(tag, product_id, quantity)
        for tag, product_id, quantity in CartAdd.objects.filter(cart=cart).values_list("tag", "product_id", "quantity")
    )
    return CartState(adds, frozenset(CartTombstone.objects.filter(cart=cart).values_list("tag", flat=True)))


def row_counts() -> tuple[int, int, int]:
    """(carts, adds, tombstones) in the whole database: a refusal leaves all three as they were."""
    return Cart.objects.count(), CartAdd.objects.count(), CartTombstone.objects.count()


def clamp(lines: dict[int, int], limit: int = 99) -> dict[int, int]:
    return {product_id: min(quantity, limit) for product_id, quantity in lines.items()}


def apply_to_model(state: CartState, operations: list[AddOperation | RemoveOperation]) -> CartState:
    """The pure model's reading of a batch of cart.services operations."""
    for op in operations:
        if isinstance(op, AddOperation):
            state = state.add(Add(op.tag, op.product_id, op.quantity))
        else:
            state = state.remove(set(op.tags))
    return state


PRICE = Decimal("19.99")  # ProductFactory's price
