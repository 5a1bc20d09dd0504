"""Concurrent stock writers on real PostgreSQL: no lost update, no double application, never below zero."""

import threading
from collections.abc import Callable

import pytest
from django.db.models import Sum

from inventory import services
from inventory.exceptions import StockBusy, StockWouldGoNegative
from inventory.models import MovementKind, StockItem, StockMovement
from inventory.services import StockChange, StockUpdate
from tests.concurrency import run_concurrently as run_threads
from tests.inventory.factories import StockItemFactory

THREADS = 10

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_concurrently(target: Callable[[int], object], count: int = THREADS) -> list:
    return run_threads(target, count)


def test_concurrent_restocks_with_different_causes_all_count():
    item = StockItemFactory(available=5)

    results = run_concurrently(
        lambda index: services.restock(product_id=item.product_id, quantity=index + 1, cause=f"delivery:{index}")
    )

    assert all(isinstance(result, StockChange) and result.applied for result in results), results
    added = sum(range(1, THREADS + 1))
    assert StockItem.objects.get(pk=item.pk).available == 5 + added
    ledger = StockMovement.objects.filter(product_id=item.product_id, kind=MovementKind.RESTOCK)
    assert ledger.count() == THREADS
    assert ledger.aggregate(total=Sum("quantity"))["total"] == added
    # The rows chain up in commit order: each level_after is the previous one plus its quantity.
    level = 5
    for quantity, level_after in ledger.order_by("level_after").values_list("quantity", "level_after"):
        assert level_after == level + quantity
        level = level_after


def test_concurrent_restocks_of_a_product_never_stocked_create_one_row():
    item = StockItemFactory(available=0)
    product_id = item.product_id
    item.delete()

    results = run_concurrently(lambda index: services.restock(product_id=product_id, quantity=1, cause=f"d:{index}"))

    assert all(isinstance(result, StockChange) for result in results), results
    assert StockItem.objects.get(product_id=product_id).available == THREADS


def test_the_same_feed_update_sent_concurrently_applies_exactly_once():
    item = StockItemFactory(available=50)
    update = StockUpdate(update_id="u1", product_id=item.product_id, quantity=7)

    results = run_concurrently(lambda _: services.apply_stock_updates(source="apikey:abc", updates=[update])[0])

    statuses = sorted(result.status for result in results)
    assert statuses == ["already_applied"] * (THREADS - 1) + ["applied"], results
    assert {result.level_after for result in results} == {7}
    assert StockItem.objects.get(pk=item.pk).available == 7
    assert list(StockMovement.objects.values_list("kind", "cause", "quantity", "level_after")) == [
        ("feed", "feed:apikey:abc:u1", -43, 7)
    ]


def test_concurrent_set_levels_with_different_causes_leave_a_consistent_ledger():
    item = StockItemFactory(available=0)

    results = run_concurrently(
        lambda index: services.set_level(product_id=item.product_id, quantity=index * 3, cause=f"count:{index}")
    )

    assert all(isinstance(result, StockChange) and result.applied for result in results), results
    final = StockItem.objects.get(pk=item.pk).available
    ledger = StockMovement.objects.filter(product_id=item.product_id)
    # Row locks serialise them: the deltas add up to the final level, whatever the order was.
    assert ledger.aggregate(total=Sum("quantity"))["total"] == final
    assert final in {index * 3 for index in range(THREADS)}


def test_negative_control_concurrent_takes_never_oversell():
    item = StockItemFactory(available=5)

    results = run_concurrently(
        lambda index: services.adjust(
            product_id=item.product_id, delta=-1, reason="Damaged", actor=None, cause=f"admin:{index}"
        )
    )

    taken = [result for result in results if isinstance(result, StockChange)]
    refused = [result for result in results if isinstance(result, StockWouldGoNegative)]
    assert (len(taken), len(refused)) == (5, 5), results
    assert StockItem.objects.get(pk=item.pk).available == 0
    assert StockMovement.objects.count() == 5
    assert sorted(change.level_after for change in taken) == [0, 1, 2, 3, 4]


def test_a_writer_held_up_past_the_lock_timeout_gets_stock_busy(monkeypatch):
    # given: one transaction holds the stock row for longer than the services wait
    from django.db import connections, transaction

    item = StockItemFactory(available=5)
    monkeypatch.setattr(services, "LOCK_TIMEOUT", "100ms")
    holding, release = threading.Event(), threading.Event()

    def hold_the_row() -> None:
        try:
            with transaction.atomic():
                list(StockItem.objects.select_for_update().filter(pk=item.pk))
                holding.set()
                release.wait(timeout=10)
        finally:
            connections["default"].close()

    holder = threading.Thread(target=hold_the_row)
    holder.start()
    assert holding.wait(timeout=10)

    # when / then
    try:
        with pytest.raises(StockBusy):
            services.set_level(product_id=item.product_id, quantity=1, cause="count:1")
        with pytest.raises(StockBusy):
            services.restock(product_id=item.product_id, quantity=1, cause="delivery:1")
    finally:
        release.set()
        holder.join(timeout=10)

    assert StockItem.objects.get(pk=item.pk).available == 5
    assert not StockMovement.objects.exists()
