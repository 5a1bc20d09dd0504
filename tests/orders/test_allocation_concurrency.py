"""Never oversell: buyers race for scarce stock against the real PostgreSQL (every CI run).

Orders are placed first with the broker unreachable (so nothing allocates yet: every order is
waiting, as during a burst), then worker threads allocate them all at once, as the inventory
workers would: each runs what orders.allocate_order runs, batches of the oldest waiting orders
(small batches here, so many allocators decide overlapping products at the same time). A negative control runs the same race through a naive read-then-write
allocation written here, and must oversell: it proves the harness can see the bug.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter, defaultdict

import pytest
from django.db import transaction
from django.db.models import Sum

from inventory.exceptions import StockBusy
from inventory.models import MovementKind, StockItem, StockMovement
from orders.models import Order
from orders.services import allocate_order, allocate_until_decided, allocate_waiting_orders, place_order
from orders.states import OrderState
from shop.api.idempotency import IdempotencyRequest
from tests.accounts.factories import UserFactory
from tests.cart.factories import stocked_product
from tests.celery_helpers import real_broker
from tests.concurrency import run_concurrently
from tests.orders.conftest import checkout_input, fill_cart

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

DEAD_BROKER = "amqp://guest:guest@127.0.0.1:1//"  # nothing listens: orders wait in the outbox
TOOK_STOCK = {OrderState.ALLOCATED, OrderState.AUTHORIZED}  # allocated orders are then authorized (test card)
WORKERS = 16  # allocation threads (each holds a PostgreSQL connection)


def drain(items: list, handle, threads: int = WORKERS) -> list:
    """`threads` threads, released together, take items from one queue until it is empty."""
    lock = threading.Lock()
    pending = list(items)
    results: list = []

    def worker(_: int) -> None:
        while True:
            with lock:
                if not pending:
                    return
                item = pending.pop()
            outcome = handle(item)
            with lock:
                results.append(outcome)

    errors = [r for r in run_concurrently(worker, threads) if isinstance(r, Exception)]
    assert not errors, errors
    return results


@pytest.fixture(autouse=True)
def small_batches(settings):
    settings.ORDERS_ALLOCATION_BATCH = 7


def allocate_like_the_task(order_id: int) -> str:
    """What orders.allocate_order does on a worker (batches until this order is decided), including
    its retry of a busy stock row; returns the order's state once decided."""
    for _ in range(400):
        try:
            allocate_until_decided(order_id=order_id)
        except StockBusy:
            continue
        state = Order.objects.values_list("state", flat=True).get(pk=order_id)
        if state != OrderState.PLACED:
            return OrderState.ALLOCATED if state in TOOK_STOCK else state
        time.sleep(0.05)  # still placed: another run holds it right now and decides it
    raise AssertionError(f"order {order_id} was never decided")


def allocate_one_by_one(order_id: int) -> str:
    """The single-order path (staff, tests): a batch of one."""
    for _ in range(20):
        try:
            return allocate_order(order_id=order_id).state
        except StockBusy:
            continue
    raise AssertionError(f"order {order_id} stayed busy")


def place_orders(baskets: list[dict]) -> list[int]:
    """One customer per basket fills a cart and checks out, concurrently; returns the order ids."""
    customers = [UserFactory() for _ in baskets]

    def checkout(index: int):
        fill_cart(user=customers[index], lines=baskets[index])
        return place_order(checkout=checkout_input(), customer=customers[index]).value.pk

    with real_broker(DEAD_BROKER):  # the pre-check sees full stock: nothing is allocated yet
        return drain(list(range(len(baskets))), checkout)


def sold_units(product_ids: list[int]) -> dict[int, int]:
    """Units on allocated orders, per product: what customers were promised."""
    sold: Counter = Counter()
    for order in Order.objects.filter(state__in=TOOK_STOCK).prefetch_related("lines"):
        for line in order.lines.all():
            sold[line.product_id] += line.quantity
    return {product_id: sold[product_id] for product_id in product_ids}


def assert_books_balance(initial: dict[int, int]) -> dict[int, int]:
    """Stock never negative, units sold = units taken, the ledger sums to the stock change."""
    final = dict(StockItem.objects.filter(product_id__in=initial).values_list("product_id", "available"))
    sold = sold_units(list(initial))
    ledger = dict(
        StockMovement.objects.filter(product_id__in=initial, kind=MovementKind.ALLOCATION)
        .values_list("product_id")
        .annotate(total=Sum("quantity"))
    )
    for product_id, level in initial.items():
        assert final[product_id] >= 0
        assert sold[product_id] == level - final[product_id] <= level
        assert ledger.get(product_id, 0) == final[product_id] - level
    states = Counter(Order.objects.values_list("state", flat=True))
    assert set(states) <= {*TOOK_STOCK, OrderState.REJECTED}, states
    return sold


def test_fifty_buyers_race_for_ten_units():
    product = stocked_product(title="Hot console", available=10)
    order_ids = place_orders([{product: 1} for _ in range(50)])
    assert Order.objects.filter(state=OrderState.PLACED).count() == 50

    states = Counter(drain(order_ids, allocate_like_the_task))

    assert states == {OrderState.ALLOCATED: 10, OrderState.REJECTED: 40}
    sold = assert_books_balance({product.pk: 10})
    assert sold == {product.pk: 10}
    assert StockItem.objects.get(product=product).available == 0


def test_two_hundred_random_baskets_over_twenty_products():
    rng = random.Random(20261122)
    products = [stocked_product(title=f"Scarce {i}", available=rng.randint(2, 12)) for i in range(20)]
    initial = {p.pk: p.stock.available for p in products}
    baskets = [{product: rng.randint(1, 2) for product in rng.sample(products, rng.randint(1, 4))} for _ in range(200)]
    order_ids = place_orders(baskets)
    rng.shuffle(order_ids)

    states = Counter(drain(order_ids, allocate_like_the_task))

    assert states[OrderState.ALLOCATED] + states[OrderState.REJECTED] == 200
    assert states[OrderState.REJECTED] > 0, "demand exceeds supply: some orders must be turned away"
    sold = assert_books_balance(initial)
    assert sum(sold.values()) > 0
    # A rejected order took nothing: every product it wanted has no allocation row for it.
    rejected = Order.objects.filter(state=OrderState.REJECTED).values_list("pk", flat=True)
    assert not StockMovement.objects.filter(cause__in=[f"order:{pk}" for pk in rejected]).exists()


def test_negative_control_a_naive_read_then_write_allocation_oversells():
    """The same race through the allocation oscar ships (read the level, decide, write it back):
    every thread reads before any writes (a barrier between read and write), so they all sell."""
    product = stocked_product(title="Hot console", available=5)
    threads = 10
    barrier = threading.Barrier(threads)
    sold: list[int] = []

    def naive_allocate(_: int) -> None:
        with transaction.atomic():
            level = StockItem.objects.get(product=product).available  # read
            barrier.wait(timeout=10)
            if level >= 1:  # decide on what was read
                StockItem.objects.filter(product=product).update(available=level - 1)  # write
                sold.append(1)

    results = run_concurrently(naive_allocate, threads)
    assert not [r for r in results if isinstance(r, Exception)], results

    oversold = len(sold) - 5
    assert oversold > 0, "the naive allocation must oversell, or this harness cannot see the bug"


def test_the_same_checkout_sent_concurrently_creates_one_order():
    product = stocked_product(available=10)
    customer = UserFactory()
    fill_cart(user=customer, lines={product: 1})
    key = IdempotencyRequest(scope=f"user:{customer.pk}", key=str(uuid.uuid4()), fingerprint="f" * 64)

    with real_broker(DEAD_BROKER):
        results = run_concurrently(
            lambda _: place_order(checkout=checkout_input(), customer=customer, idempotency=key), 5
        )

    assert not [r for r in results if isinstance(r, Exception)], results
    assert Order.objects.count() == 1
    assert sorted(r.created for r in results) == [False, False, False, False, True]
    assert {r.value.pk for r in results} == {Order.objects.get().pk}


def test_allocations_of_orders_sharing_products_in_any_order_never_deadlock():
    """Baskets list the same products in opposite orders; allocation locks by product id."""
    a, b = stocked_product(available=100), stocked_product(available=100)
    baskets = [{a: 1, b: 1} if i % 2 else {b: 1, a: 1} for i in range(40)]
    order_ids = place_orders(baskets)

    states = Counter(drain(order_ids, allocate_one_by_one))

    assert states == {OrderState.ALLOCATED: 40}
    assert dict(StockItem.objects.filter(product__in=[a, b]).values_list("product_id", "available")) == {
        a.pk: 60,
        b.pk: 60,
    }
    per_order = defaultdict(int)
    for cause in StockMovement.objects.filter(kind=MovementKind.ALLOCATION).values_list("cause", flat=True):
        per_order[cause] += 1
    assert set(per_order.values()) == {2}


def test_two_allocators_running_at_once_on_overlapping_products_never_deadlock_nor_oversell(settings):
    settings.ORDERS_ALLOCATION_BATCH = 10
    rng = random.Random(20261204)
    products = [stocked_product(title=f"Shared {i}", available=40) for i in range(3)]
    initial = {p.pk: 40 for p in products}
    baskets = [{p: rng.randint(1, 2) for p in rng.sample(products, rng.randint(1, 3))} for _ in range(120)]
    place_orders(baskets)
    runs: list[list[int]] = [[], []]

    def allocator(index: int) -> None:
        while claimed := allocate_waiting_orders():
            runs[index].extend(order.pk for order in claimed)

    errors = [r for r in run_concurrently(allocator, 2) if isinstance(r, Exception)]

    assert not errors, errors  # no deadlock, no lock timeout
    assert runs[0] and runs[1], "both allocators decided batches"
    assert sorted(runs[0] + runs[1]) == sorted(Order.objects.values_list("pk", flat=True))  # each order once
    assert not Order.objects.filter(state=OrderState.PLACED).exists()
    assert_books_balance(initial)
