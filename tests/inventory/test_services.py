"""The stock services: exact stock and ledger rows, replays that change nothing, refusals that write nothing."""

import pytest
from django.db import transaction

from inventory import services
from inventory.exceptions import InvalidStockChange, StockWouldGoNegative, UnknownProduct
from inventory.models import MovementKind, StockItem, StockMovement
from inventory.services import StockUpdate
from tests.accounts.factories import UserFactory
from tests.catalog.factories import ProductFactory
from tests.inventory.factories import StockItemFactory

pytestmark = pytest.mark.django_db


def stock_of(product) -> int:
    return StockItem.objects.get(product=product).available


def ledger_of(product) -> list[tuple]:
    rows = StockMovement.objects.filter(product=product).order_by("id")
    return list(rows.values_list("kind", "quantity", "level_after", "cause", "reason", "actor_id"))


# --- set_level ------------------------------------------------------------------------------


def test_set_level_creates_the_stock_row_of_a_product_never_stocked(product):
    change = services.set_level(product_id=product.pk, quantity=7, cause="count:2024-06")

    assert stock_of(product) == 7
    assert ledger_of(product) == [("set_level", 7, 7, "count:2024-06", "", None)]
    assert (change.quantity, change.level_after, change.applied) == (7, 7, True)


def test_set_level_records_the_change_from_the_current_level(stock_item):
    clerk = UserFactory(staff=True)

    change = services.set_level(
        product_id=stock_item.product_id, quantity=4, cause="count:1", reason="Shelf count", actor=clerk
    )

    assert stock_of(stock_item.product) == 4
    assert ledger_of(stock_item.product) == [("set_level", -6, 4, "count:1", "Shelf count", clerk.pk)]
    assert change.quantity == -6


def test_set_level_to_the_current_level_is_recorded_without_a_change(stock_item):
    services.set_level(product_id=stock_item.product_id, quantity=10, cause="count:1")

    assert stock_of(stock_item.product) == 10
    assert ledger_of(stock_item.product) == [("set_level", 0, 10, "count:1", "", None)]


def test_set_level_replayed_with_the_same_cause_changes_nothing(stock_item):
    first = services.set_level(product_id=stock_item.product_id, quantity=3, cause="count:1")

    replay = services.set_level(product_id=stock_item.product_id, quantity=99, cause="count:1")

    assert stock_of(stock_item.product) == 3
    assert StockMovement.objects.count() == 1
    assert replay.applied is False
    assert (replay.quantity, replay.level_after) == (first.quantity, first.level_after) == (-7, 3)


def test_the_same_cause_of_another_kind_is_another_change(stock_item):
    services.set_level(product_id=stock_item.product_id, quantity=3, cause="x:1")
    services.set_level(product_id=stock_item.product_id, quantity=5, cause="x:1", kind=MovementKind.FEED)

    assert stock_of(stock_item.product) == 5
    assert [row[:3] for row in ledger_of(stock_item.product)] == [("set_level", -7, 3), ("feed", 2, 5)]


def test_negative_level_is_refused_naming_the_field_and_writes_nothing(stock_item):
    with pytest.raises(InvalidStockChange) as refused:
        services.set_level(product_id=stock_item.product_id, quantity=-1, cause="count:1")

    assert refused.value.fields == {"quantity": ["A stock level cannot be negative."]}
    assert refused.value.status_code == 400
    assert stock_of(stock_item.product) == 10
    assert not StockMovement.objects.exists()


@pytest.mark.parametrize("cause", ["", "x" * 201])
def test_a_missing_or_too_long_cause_is_refused(stock_item, cause):
    with pytest.raises(InvalidStockChange) as refused:
        services.set_level(product_id=stock_item.product_id, quantity=1, cause=cause)

    assert list(refused.value.fields) == ["cause"]
    assert not StockMovement.objects.exists()


def test_set_level_takes_the_row_lock_before_it_writes(stock_item, django_assert_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        services.set_level(product_id=stock_item.product_id, quantity=2, cause="count:1")

    sql = [query["sql"].upper() for query in queries.captured_queries]
    locked = next(i for i, s in enumerate(sql) if "INVENTORY_STOCKITEM" in s and s.startswith("SELECT"))
    written = next(i for i, s in enumerate(sql) if s.startswith('UPDATE "INVENTORY_STOCKITEM"'))
    assert locked < written
    if connection.vendor == "postgresql":
        assert "FOR UPDATE OF" in sql[locked]


# --- restock --------------------------------------------------------------------------------


def test_restock_adds_units_and_writes_one_ledger_row(stock_item):
    change = services.restock(product_id=stock_item.product_id, quantity=5, cause="delivery:88", reason="PO 88")

    assert stock_of(stock_item.product) == 15
    assert ledger_of(stock_item.product) == [("restock", 5, 15, "delivery:88", "PO 88", None)]
    assert change.applied


def test_restock_of_a_product_never_stocked_creates_its_row(product):
    services.restock(product_id=product.pk, quantity=4, cause="delivery:1")

    assert stock_of(product) == 4
    assert ledger_of(product) == [("restock", 4, 4, "delivery:1", "", None)]


def test_restock_replayed_with_the_same_cause_adds_once(stock_item):
    services.restock(product_id=stock_item.product_id, quantity=5, cause="delivery:88")

    replay = services.restock(product_id=stock_item.product_id, quantity=5, cause="delivery:88")

    assert stock_of(stock_item.product) == 15
    assert StockMovement.objects.count() == 1
    assert (replay.applied, replay.level_after) == (False, 15)


@pytest.mark.parametrize("quantity", [0, -3])
def test_restock_of_no_units_is_refused_and_writes_nothing(stock_item, quantity):
    with pytest.raises(InvalidStockChange) as refused:
        services.restock(product_id=stock_item.product_id, quantity=quantity, cause="delivery:1")

    assert list(refused.value.fields) == ["quantity"]
    assert stock_of(stock_item.product) == 10
    assert not StockMovement.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_restock_of_a_product_that_does_not_exist_is_refused_and_writes_nothing():
    with pytest.raises(UnknownProduct) as refused:
        services.restock(product_id=987654, quantity=1, cause="delivery:1")

    assert refused.value.fields == {"product_id": ["Product 987654 does not exist."]}
    assert not StockItem.objects.exists()
    assert not StockMovement.objects.exists()


# --- adjust ---------------------------------------------------------------------------------


def test_adjust_takes_units_away_with_the_reason_and_the_actor(stock_item):
    clerk = UserFactory(staff=True)

    change = services.adjust(
        product_id=stock_item.product_id, delta=-3, reason="Damaged in storage", actor=clerk, cause="admin:1"
    )

    assert stock_of(stock_item.product) == 7
    assert ledger_of(stock_item.product) == [("adjustment", -3, 7, "admin:1", "Damaged in storage", clerk.pk)]
    assert change.level_after == 7


def test_adjust_may_add_units(stock_item):
    services.adjust(product_id=stock_item.product_id, delta=2, reason="Found two", actor=None, cause="admin:1")

    assert stock_of(stock_item.product) == 12


def test_adjust_down_to_exactly_zero_is_allowed(stock_item):
    services.adjust(product_id=stock_item.product_id, delta=-10, reason="Recall", actor=None, cause="admin:1")

    assert stock_of(stock_item.product) == 0
    assert ledger_of(stock_item.product)[0][:3] == ("adjustment", -10, 0)


def test_adjust_below_zero_is_refused_naming_the_product_and_writes_nothing(stock_item):
    with pytest.raises(StockWouldGoNegative) as refused:
        services.adjust(product_id=stock_item.product_id, delta=-11, reason="Recall", actor=None, cause="admin:1")

    assert refused.value.product_id == stock_item.product_id
    assert str(stock_item.product_id) in refused.value.message
    assert refused.value.status_code == 409
    assert stock_of(stock_item.product) == 10
    assert not StockMovement.objects.exists()


def test_adjust_down_of_a_product_never_stocked_is_refused(product):
    with pytest.raises(StockWouldGoNegative):
        services.adjust(product_id=product.pk, delta=-1, reason="Recall", actor=None, cause="admin:1")

    assert not StockItem.objects.exists()
    assert not StockMovement.objects.exists()


def test_adjust_replayed_with_the_same_cause_changes_nothing(stock_item):
    services.adjust(product_id=stock_item.product_id, delta=-4, reason="Damaged", actor=None, cause="admin:1")

    replay = services.adjust(product_id=stock_item.product_id, delta=-4, reason="Damaged", actor=None, cause="admin:1")

    assert stock_of(stock_item.product) == 6
    assert StockMovement.objects.count() == 1
    assert replay.applied is False


@pytest.mark.parametrize(
    ("delta", "reason", "field"),
    [(0, "Count", "delta"), (-1, "", "reason"), (-1, "   ", "reason"), (1, "x" * 301, "reason")],
)
def test_adjust_needs_a_change_and_a_reason(stock_item, delta, reason, field):
    with pytest.raises(InvalidStockChange) as refused:
        services.adjust(product_id=stock_item.product_id, delta=delta, reason=reason, actor=None, cause="admin:1")

    assert list(refused.value.fields) == [field]
    assert stock_of(stock_item.product) == 10
    assert not StockMovement.objects.exists()


# --- apply_stock_updates --------------------------------------------------------------------


def test_apply_stock_updates_sets_each_level_and_reports_each_update():
    kettle, mug = StockItemFactory(available=10), StockItemFactory(available=0)

    results = services.apply_stock_updates(
        source="apikey:abc",
        updates=[StockUpdate("u1", kettle.product_id, 4), StockUpdate("u2", mug.product_id, 12)],
    )

    assert [(r.update_id, r.status, r.level_after) for r in results] == [("u1", "applied", 4), ("u2", "applied", 12)]
    assert (stock_of(kettle.product), stock_of(mug.product)) == (4, 12)
    assert list(StockMovement.objects.order_by("id").values_list("kind", "cause", "quantity")) == [
        ("feed", "feed:apikey:abc:u1", -6),
        ("feed", "feed:apikey:abc:u2", 12),
    ]


def test_a_refused_update_does_not_undo_the_others():
    kettle, mug = StockItemFactory(available=10), StockItemFactory(available=1)

    results = services.apply_stock_updates(
        source="apikey:abc",
        updates=[
            StockUpdate("u1", kettle.product_id, 4),
            StockUpdate("bad", mug.product_id, -5),
            StockUpdate("u3", mug.product_id, 8),
        ],
    )

    assert [(r.update_id, r.status, r.error_code) for r in results] == [
        ("u1", "applied", ""),
        ("bad", "error", "invalid_stock_change"),
        ("u3", "applied", ""),
    ]
    assert results[1].reason == "A stock level cannot be negative."
    assert (stock_of(kettle.product), stock_of(mug.product)) == (4, 8)
    assert StockMovement.objects.count() == 2


def test_a_replayed_feed_batch_reports_already_applied_and_changes_nothing():
    item = StockItemFactory(available=10)
    updates = [StockUpdate("u1", item.product_id, 4)]
    services.apply_stock_updates(source="apikey:abc", updates=updates)
    services.restock(product_id=item.product_id, quantity=6, cause="delivery:1")  # stock moved on since

    results = services.apply_stock_updates(source="apikey:abc", updates=updates)

    assert [(r.status, r.level_after) for r in results] == [("already_applied", 4)]
    assert stock_of(item.product) == 10
    assert StockMovement.objects.count() == 2


def test_the_same_update_id_from_two_sources_applies_twice():
    item = StockItemFactory(available=10)

    services.apply_stock_updates(source="apikey:seller1", updates=[StockUpdate("u1", item.product_id, 4)])
    results = services.apply_stock_updates(source="apikey:seller2", updates=[StockUpdate("u1", item.product_id, 6)])

    assert results[0].status == "applied"
    assert stock_of(item.product) == 6


def test_later_updates_of_one_product_in_a_batch_win():
    product = ProductFactory()

    services.apply_stock_updates(
        source="apikey:abc", updates=[StockUpdate("u1", product.pk, 4), StockUpdate("u2", product.pk, 9)]
    )

    assert stock_of(product) == 9


@pytest.mark.django_db(transaction=True)
def test_an_update_for_a_product_that_does_not_exist_is_reported_and_the_others_apply():
    item = StockItemFactory(available=10)

    results = services.apply_stock_updates(
        source="apikey:abc", updates=[StockUpdate("gone", 987654, 3), StockUpdate("u2", item.product_id, 2)]
    )

    assert [(r.status, r.error_code) for r in results] == [("error", "unknown_product"), ("applied", "")]
    assert stock_of(item.product) == 2
    assert list(StockMovement.objects.values_list("cause", flat=True)) == ["feed:apikey:abc:u2"]


# --- set_initial_levels (bulk, inside the caller's transaction) -------------------------------


def test_set_initial_levels_stocks_new_products_in_three_statements(django_assert_num_queries):
    # given
    products = ProductFactory.create_batch(3)
    levels = {products[0].pk: 0, products[1].pk: 4, products[2].pk: 40}

    # when: the stock rows, their ledger rows, the back-in-stock messages of the two given units
    with transaction.atomic(), django_assert_num_queries(3):
        stocked = services.set_initial_levels(levels=levels, cause="import:1")

    # then
    assert stocked == 3
    assert dict(StockItem.objects.values_list("product_id", "available")) == levels
    assert sorted(StockMovement.objects.values_list("product_id", "kind", "quantity", "level_after", "cause")) == [
        (product_id, "set_level", level, level, "import:1") for product_id, level in sorted(levels.items())
    ]


def test_set_initial_levels_leaves_stocked_products_alone_and_runs_twice_harmlessly(stock_item):
    new = ProductFactory()
    levels = {stock_item.product_id: 99, new.pk: 5}

    with transaction.atomic():
        first = services.set_initial_levels(levels=levels, cause="import:1")
    with transaction.atomic():
        second = services.set_initial_levels(levels=levels, cause="import:1")

    assert (first, second) == (1, 0)
    assert (stock_of(stock_item.product), stock_of(new)) == (10, 5)
    assert list(StockMovement.objects.values_list("product_id", flat=True)) == [new.pk]


def test_set_initial_levels_handles_more_products_than_one_chunk(monkeypatch):
    monkeypatch.setattr(services, "INITIAL_LEVELS_CHUNK", 2)
    products = ProductFactory.create_batch(5)

    with transaction.atomic():
        stocked = services.set_initial_levels(levels={p.pk: 3 for p in products}, cause="import:1")

    assert stocked == 5
    assert StockMovement.objects.count() == 5
    assert set(StockItem.objects.values_list("available", flat=True)) == {3}


@pytest.mark.parametrize("level", [-1, 2.5, True])
def test_set_initial_levels_refuses_a_level_that_is_not_a_count(product, level):
    with transaction.atomic(), pytest.raises(InvalidStockChange) as refused:
        services.set_initial_levels(levels={product.pk: level}, cause="import:1")

    assert list(refused.value.fields) == ["levels"]
    assert not StockItem.objects.exists()


def test_set_initial_levels_needs_the_callers_transaction(product, monkeypatch):
    monkeypatch.setattr(transaction.get_connection(), "in_atomic_block", False)

    with pytest.raises(AssertionError, match="caller's transaction"):
        services.set_initial_levels(levels={product.pk: 1}, cause="import:1")
