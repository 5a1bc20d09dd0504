"""Allocation in batches: a batch decides exactly like allocating its orders one by one, in the
order given, and writes stock and ledger set-based, once."""

from __future__ import annotations

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from inventory import selectors
from inventory.exceptions import InvalidStockChange
from inventory.models import MovementKind, StockMovement
from inventory.services import (
    AllocationPlanChanged,
    AllocationRequest,
    Shortage,
    adjust,
    allocate_batch,
    apply_allocation,
    plan_allocation,
)
from tests.inventory.factories import StockItemFactory

pytestmark = pytest.mark.django_db


def oracle(levels: dict[int, int], orders: list[tuple[int, dict[int, int]]]) -> tuple[dict, dict[int, int]]:
    """One by one in placement order: an order takes all its lines or nothing; it is refused naming
    its first short product in product-id order (what inventory.allocate always did)."""
    levels = dict(levels)
    outcomes = {}
    for order_id, lines in orders:
        short = next(((p, q) for p, q in sorted(lines.items()) if levels[p] < q), None)
        if short is None:
            for product_id, quantity in lines.items():
                levels[product_id] -= quantity
            outcomes[order_id] = None
        else:
            outcomes[order_id] = Shortage(product_id=short[0], requested=short[1], available=levels[short[0]])
    return outcomes, levels


def ledger(product_ids) -> dict[tuple[str, int], tuple[int, int]]:
    rows = StockMovement.objects.filter(kind=MovementKind.ALLOCATION, product_id__in=product_ids)
    return {(m.cause, m.product_id): (m.quantity, m.level_after) for m in rows}


@pytest.fixture
def three_products(db):
    return [StockItemFactory(available=level).product_id for level in (3, 5, 0)]


def test_a_mixed_batch_allocates_what_fits_first_come_first_served(three_products):
    a, b, empty = three_products
    requests = [
        AllocationRequest(order_id=1, lines=((a, 2), (b, 1))),  # fits
        AllocationRequest(order_id=2, lines=((a, 2),)),  # a has 1 left: refused, takes nothing
        AllocationRequest(order_id=3, lines=((b, 4), (a, 1))),  # fits exactly (lines in any order)
        AllocationRequest(order_id=4, lines=((empty, 1), (b, 1))),  # never had any
        AllocationRequest(order_id=5, lines=((b, 1), (b, 0 + 1))),  # the same product twice, b is gone
    ]
    with transaction.atomic():
        plan = allocate_batch(requests=requests)

    assert [(d.order_id, d.allocated) for d in plan.decisions] == [(1, True), (2, False), (3, True), (4, False),
                                                                     (5, False)]  # fmt: skip
    assert plan.decisions[1].shortage == Shortage(product_id=a, requested=2, available=1)
    assert plan.decisions[3].shortage == Shortage(product_id=b if b < empty else empty, requested=1, available=0)
    assert plan.decisions[4].shortage == Shortage(product_id=b, requested=2, available=0)
    assert selectors.get_levels(product_ids=[a, b, empty]) == {a: 0, b: 0, empty: 0}
    assert ledger([a, b, empty]) == {
        ("order:1", a): (-2, 1), ("order:1", b): (-1, 4),
        ("order:3", a): (-1, 0), ("order:3", b): (-4, 0),
    }  # fmt: skip


def test_a_batch_run_again_takes_nothing_twice(three_products):
    a, b, _ = three_products
    requests = [AllocationRequest(order_id=1, lines=((a, 1),)), AllocationRequest(order_id=2, lines=((a, 1), (b, 2)))]
    with transaction.atomic():
        first = allocate_batch(requests=requests)
    with transaction.atomic():
        again = allocate_batch(requests=[*requests, AllocationRequest(order_id=3, lines=((a, 1),))])

    assert [d.allocated for d in first.decisions] == [True, True]
    assert again.replayed == {1, 2}
    assert [c.applied for d in again.decisions[:2] for c in d.changes] == [False, False, False]
    assert again.decisions[2].allocated
    assert selectors.get_levels(product_ids=[a, b]) == {a: 0, b: 3}
    assert StockMovement.objects.filter(kind=MovementKind.ALLOCATION).count() == 4


def test_a_plan_that_no_longer_holds_under_the_lock_writes_nothing(three_products):
    a, _, _ = three_products
    plan = plan_allocation(requests=[AllocationRequest(order_id=1, lines=((a, 3),))])
    adjust(product_id=a, delta=-1, reason="broken in the warehouse", actor=None, cause="count:1")  # meanwhile

    with transaction.atomic(), pytest.raises(AllocationPlanChanged):
        apply_allocation(plan=plan)

    assert selectors.get_level(product_id=a) == 2
    assert not StockMovement.objects.filter(kind=MovementKind.ALLOCATION).exists()


def test_an_order_without_lines_is_refused_as_invalid(three_products):
    with pytest.raises(InvalidStockChange):
        plan_allocation(requests=[AllocationRequest(order_id=1, lines=())])


orders_strategy = st.lists(
    st.dictionaries(keys=st.integers(min_value=0, max_value=3), values=st.integers(min_value=1, max_value=4),
                    min_size=1, max_size=4),
    min_size=1, max_size=25,
)  # fmt: skip


def planned_then_applied(*, requests: list[AllocationRequest]):
    """The path the orders' batches take: decide on levels read without a lock, then lock and write."""
    plan = plan_allocation(requests=requests)
    apply_allocation(plan=plan)
    return plan


# Both ways a batch is decided: all under the stock lock (allocate_batch), and planned first,
# then applied under the lock (the orders' batches, orders.services._decide_orders).
@pytest.mark.parametrize("decide", [allocate_batch, planned_then_applied], ids=["under the lock", "planned, then applied"])
@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(levels=st.lists(st.integers(min_value=0, max_value=12), min_size=4, max_size=4), baskets=orders_strategy)
def test_a_batch_decides_exactly_like_the_one_by_one_oracle(db, decide, levels, baskets):
    with transaction.atomic():
        products = [StockItemFactory(available=level).product_id for level in levels]
        orders = [(1000 + i, {products[k]: q for k, q in basket.items()}) for i, basket in enumerate(baskets)]
        expected, expected_levels = oracle(dict(zip(products, levels, strict=True)), orders)

        plan = decide(
            requests=[AllocationRequest(order_id=order_id, lines=tuple(lines.items())) for order_id, lines in orders]
        )

        assert {d.order_id: d.shortage for d in plan.decisions} == expected
        assert selectors.get_levels(product_ids=products) == expected_levels
        taken = ledger(products)
        assert {cause for cause, _ in taken} == {f"order:{o}" for o, shortage in expected.items() if shortage is None}
        for product_id in products:  # the ledger adds up to the stock change, never below zero
            moves = [quantity for (_, p), (quantity, _) in taken.items() if p == product_id]
            assert levels[products.index(product_id)] + sum(moves) == expected_levels[product_id]
        transaction.set_rollback(True)  # the next example starts from nothing
