"""Issue 18: inventory tells the shop through the outbox when an applied change takes a product
from 0 units to more (one message), and says nothing for any other change or for a replay."""

from __future__ import annotations

import pytest
from django.db import transaction

from inventory import services
from inventory.services import BACK_IN_STOCK, StockUpdate
from shop.models import OutboxMessage
from tests.catalog.factories import ProductFactory
from tests.concurrency import run_concurrently
from tests.inventory.factories import StockItemFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def sold_out(db):
    return StockItemFactory(product=ProductFactory(), available=0).product


def back_in_stock_messages() -> list[tuple[str, dict]]:
    return list(OutboxMessage.objects.filter(topic=BACK_IN_STOCK).order_by("pk").values_list("key", "payload"))


def announced(product, available: int) -> list[tuple[str, dict]]:
    return [(str(product.pk), {"product_id": product.pk, "available": available})]


@pytest.mark.parametrize(
    "change",
    [
        lambda p: services.restock(product_id=p.pk, quantity=4, cause="delivery:1"),
        lambda p: services.set_level(product_id=p.pk, quantity=4, cause="count:1"),
        lambda p: services.apply_stock_updates(source="acme", updates=[StockUpdate("u1", p.pk, 4)]),
        lambda p: services.adjust(product_id=p.pk, delta=4, reason="found a box", actor=None, cause="adjust:1"),
    ],
    ids=["restock", "set_level", "seller_feed", "adjustment"],
)
def test_a_change_from_zero_to_more_publishes_one_message(sold_out, change):
    change(sold_out)

    assert back_in_stock_messages() == announced(sold_out, 4)


def test_a_product_never_stocked_that_gets_units_publishes(db):
    never_stocked = ProductFactory()

    services.restock(product_id=never_stocked.pk, quantity=2, cause="delivery:1")

    assert back_in_stock_messages() == announced(never_stocked, 2)


def test_a_replayed_change_publishes_nothing_more(sold_out):
    for _ in range(2):
        services.restock(product_id=sold_out.pk, quantity=4, cause="delivery:1")
        services.apply_stock_updates(source="acme", updates=[StockUpdate("u1", sold_out.pk, 9)])

    assert back_in_stock_messages() == announced(sold_out, 4)  # the feed line took it from 4 to 9


@pytest.mark.parametrize(
    "change",
    [
        lambda p: services.restock(product_id=p.pk, quantity=4, cause="delivery:1"),
        lambda p: services.set_level(product_id=p.pk, quantity=40, cause="count:1"),
        lambda p: services.adjust(product_id=p.pk, delta=-3, reason="damaged", actor=None, cause="adjust:1"),
        lambda p: services.set_level(product_id=p.pk, quantity=0, cause="count:2"),
    ],
    ids=["restock", "set_level_up", "adjust_down", "set_level_to_zero"],
)
def test_a_change_from_positive_publishes_nothing(change):
    product = StockItemFactory(product=ProductFactory(), available=3).product

    change(product)

    assert back_in_stock_messages() == []


def test_a_level_set_to_zero_on_a_sold_out_product_publishes_nothing(sold_out):
    services.set_level(product_id=sold_out.pk, quantity=0, cause="count:1")

    assert back_in_stock_messages() == []


def test_a_cancelled_orders_release_from_zero_publishes(db):
    # given: an order took the last 3 units
    product = StockItemFactory(product=ProductFactory(), available=3).product
    with transaction.atomic():
        services.allocate(order_id=7, lines=[(product.pk, 3)])
    assert back_in_stock_messages() == []

    # when: the order is cancelled, twice (the second release gives nothing back)
    for _ in range(2):
        with transaction.atomic():
            services.release(order_id=7)

    # then
    assert back_in_stock_messages() == announced(product, 3)


def test_a_release_that_does_not_start_from_zero_publishes_nothing(db):
    product = StockItemFactory(product=ProductFactory(), available=5).product
    with transaction.atomic():
        services.allocate(order_id=7, lines=[(product.pk, 3)])
        services.release(order_id=7)

    assert back_in_stock_messages() == []


def test_first_levels_publish_for_the_products_given_units(db):
    empty, stocked = ProductFactory(), ProductFactory()

    with transaction.atomic():
        services.set_initial_levels(levels={empty.pk: 0, stocked.pk: 6}, cause="demo")

    assert back_in_stock_messages() == announced(stocked, 6)


def test_a_refused_change_publishes_nothing(sold_out):
    with pytest.raises(services.StockWouldGoNegative):
        services.adjust(product_id=sold_out.pk, delta=-1, reason="count", actor=None, cause="adjust:1")

    assert back_in_stock_messages() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_restocks_racing_from_zero_publish_one_message():
    # given
    product = StockItemFactory(product=ProductFactory(), available=0).product

    # when: two deliveries of the same product are booked at the same moment
    results = run_concurrently(
        lambda i: services.restock(product_id=product.pk, quantity=5, cause=f"delivery:{i}"), count=2
    )

    # then: the second waited for the first's row lock and went from 5 to 10
    assert sorted(change.level_after for change in results) == [5, 10]
    assert back_in_stock_messages() == announced(product, 5)
