"""Availability labels, levels, the ledger and the lock helper."""

import pytest
from django.db import transaction

from inventory import selectors, services
from inventory.models import StockItem
from inventory.selectors import Availability
from tests.catalog.factories import ProductFactory
from tests.inventory.factories import StockItemFactory, StockMovementFactory

pytestmark = pytest.mark.django_db


def test_availability_labels_for_every_status_in_one_query(django_assert_num_queries):
    # given
    sold_out, last_three, plenty = (StockItemFactory(available=n) for n in (0, 3, 50))
    never_stocked = ProductFactory()
    ids = [sold_out.product_id, last_three.product_id, plenty.product_id, never_stocked.pk]

    # when
    with django_assert_num_queries(1):
        availability = selectors.get_availability(product_ids=ids)

    # then
    assert availability == {
        sold_out.product_id: Availability(status="out_of_stock", quantity=0, label="Out of stock"),
        last_three.product_id: Availability(status="low_stock", quantity=3, label="Only 3 left"),
        plenty.product_id: Availability(status="in_stock", quantity=50, label="In stock"),
        never_stocked.pk: Availability(status="out_of_stock", quantity=0, label="Out of stock"),
    }


@pytest.mark.postgres
def test_on_postgresql_availability_is_planned_once_per_connection_not_per_page(django_assert_num_queries):
    from django.db import connection

    stocked = StockItemFactory(available=7)
    for _ in range(3):
        with django_assert_num_queries(1):
            assert selectors.get_availability(product_ids=[stocked.product_id])[stocked.product_id].quantity == 7
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT statement FROM pg_prepared_statements WHERE statement LIKE %s", ["%inventory_stockitem%"]
        )
        prepared = [row[0] for row in cursor.fetchall()]
    assert len(prepared) == 1 and "ANY($1::bigint[])" in prepared[0]
    StockItem.objects.filter(pk=stocked.pk).update(available=2)  # a prepared statement still reads the row as it is
    assert selectors.get_availability(product_ids=[stocked.product_id])[stocked.product_id].label == "Only 2 left"


@pytest.mark.parametrize(
    ("quantity", "status", "label"),
    [(1, "low_stock", "Only 1 left"), (5, "low_stock", "Only 5 left"), (6, "in_stock", "In stock")],
)
def test_low_stock_ends_at_the_threshold(quantity, status, label):
    assert selectors.LOW_STOCK_THRESHOLD == 5
    assert selectors.availability_for(quantity=quantity) == Availability(status=status, quantity=quantity, label=label)


def test_availability_of_no_products_asks_nothing(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert selectors.get_availability(product_ids=[]) == {}


def test_get_level_is_zero_for_a_product_never_stocked():
    item = StockItemFactory(available=8)

    assert selectors.get_level(product_id=item.product_id) == 8
    assert selectors.get_level(product_id=ProductFactory().pk) == 0


def test_list_movements_is_the_products_ledger_newest_first():
    item = StockItemFactory(available=0)
    services.restock(product_id=item.product_id, quantity=5, cause="delivery:1")
    services.adjust(product_id=item.product_id, delta=-1, reason="Damaged", actor=None, cause="admin:1")
    StockMovementFactory()  # another product's

    movements = selectors.list_movements(product_id=item.product_id)

    assert [(m.kind, m.quantity, m.level_after) for m in movements] == [("adjustment", -1, 4), ("restock", 5, 5)]


def test_lock_stock_items_refuses_to_run_outside_a_transaction(monkeypatch):
    monkeypatch.setattr(transaction.get_connection(), "in_atomic_block", False)

    with pytest.raises(AssertionError, match="open transaction"):
        selectors.lock_stock_items(product_ids=[1])


def test_lock_stock_items_returns_the_rows_in_product_id_order():
    items = sorted((StockItemFactory() for _ in range(3)), key=lambda item: item.product_id)

    with transaction.atomic():
        locked = selectors.lock_stock_items(product_ids=[items[2].product_id, items[0].product_id, 424242])

    assert [item.product_id for item in locked] == [items[0].product_id, items[2].product_id]


@pytest.mark.parametrize(
    ("status", "expected"), [("in_stock", ["plenty"]), ("low_stock", ["few"]), ("out_of_stock", ["none"])]
)
def test_product_ids_by_stock_status_is_a_subquery_for_product_lists(status, expected):
    items = {
        "none": StockItemFactory(available=0),
        "few": StockItemFactory(available=2),
        "plenty": StockItemFactory(available=40),
    }

    ids = selectors.product_ids_by_stock_status(status=status)

    chosen = StockItem.objects.filter(product__in=ids)
    assert sorted(chosen.values_list("product_id", flat=True)) == sorted(items[name].product_id for name in expected)


def test_product_ids_by_stock_status_refuses_an_unknown_status():
    with pytest.raises(ValueError, match="Unknown stock status"):
        selectors.product_ids_by_stock_status(status="backorder")


def test_in_stock_product_ids_are_the_products_with_units():
    StockItemFactory(available=0)
    few, plenty = StockItemFactory(available=1), StockItemFactory(available=40)

    assert sorted(selectors.in_stock_product_ids()) == sorted([few.product_id, plenty.product_id])
