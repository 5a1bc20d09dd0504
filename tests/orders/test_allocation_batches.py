"""Allocation runs in batches: the waiting orders are claimed, decided first come first served and
written set-based in one transaction; a bad order is isolated; the costs stay flat."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError, connection

from inventory import selectors as inventory_selectors
from inventory import services as inventory_services
from inventory.models import MovementKind, StockMovement
from orders.models import EmailKind, EmailLog, Order, OrderEvent, OrderLine
from orders.services import (
    allocate_order,
    allocate_until_decided,
    allocate_waiting_orders,
    place_order,
    redrive_stuck_orders,
)
from orders.states import OrderState
from shop import deadletters
from shop.models import DeadLetter, OutboxMessage
from tests.accounts.factories import UserFactory
from tests.cart.factories import stocked_product
from tests.orders.conftest import checkout_input, fill_cart
from tests.orders.factories import placed_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def console(db):
    return stocked_product(title="Hot console", price=Decimal("300.00"), available=3)


@pytest.fixture
def cable(db):
    return stocked_product(title="Cable", price=Decimal("5.00"), available=100)


def states(*orders: Order) -> list[str]:
    return [Order.objects.get(pk=order.pk).state for order in orders]


def test_a_batch_decides_waiting_orders_first_come_first_served(console, cable):
    first = placed_order({console: 2, cable: 1})
    second = placed_order({console: 2})  # one console left: refused, takes nothing
    third = placed_order({cable: 5, console: 1})
    fourth = placed_order({console: 1})  # sold out by now

    decided = allocate_waiting_orders()

    assert [order.pk for order in decided] == [first.pk, second.pk, third.pk, fourth.pk]  # placement order
    assert states(first, second, third, fourth) == ["allocated", "rejected", "allocated", "rejected"]
    assert Order.objects.get(pk=second.pk).rejection_reason == "Hot console: 2 ordered, only 1 left."
    assert Order.objects.get(pk=fourth.pk).rejection_reason == "Hot console sold out before your order could be confirmed."
    assert inventory_selectors.get_levels(product_ids=[console.pk, cable.pk]) == {console.pk: 0, cable.pk: 94}
    assert set(StockMovement.objects.values_list("cause", flat=True)) == {f"order:{first.pk}", f"order:{third.pk}"}
    # the refused orders are told at once; "your order is confirmed" waits for the payment (issue 19, item 6)
    assert sorted(EmailLog.objects.values_list("order_id", "kind")) == sorted(
        [(second.pk, EmailKind.REJECTED), (fourth.pk, EmailKind.REJECTED)]
    )  # fmt: skip
    topics = sorted(OutboxMessage.objects.values_list("topic", "payload__order_id"))
    assert topics == sorted([("order.email", o.pk) for o in (second, fourth)]
                            + [("payment.authorize", first.pk), ("payment.authorize", third.pk)])  # fmt: skip
    assert OrderEvent.objects.filter(to_state="allocated").count() == 2
    assert allocate_waiting_orders() == []  # nothing waits any more


def test_the_per_order_message_of_an_order_decided_by_another_run_does_nothing(console, django_assert_num_queries):
    order = placed_order({console: 1})
    allocate_waiting_orders()
    with django_assert_num_queries(1):  # one read of the order's state
        assert allocate_until_decided(order_id=order.pk) == OrderState.ALLOCATED


def test_the_messages_of_orders_this_process_decided_in_a_batch_cost_no_query(console, cable,
                                                                           django_assert_num_queries):
    # given: three waiting orders, the first one's message runs the batch that decides all three
    orders = [placed_order({console: 2}), placed_order({console: 2}), placed_order({cable: 1})]
    assert allocate_until_decided(order_id=orders[0].pk, order_number=orders[0].number) == OrderState.ALLOCATED

    # then: the other two messages are answered from what the batch decided, without a query
    with django_assert_num_queries(0):
        assert [allocate_until_decided(order_id=o.pk, order_number=o.number) for o in orders[1:]] == [
            OrderState.REJECTED, OrderState.ALLOCATED,
        ]  # fmt: skip
    # an id with another order's number (ids are reused by a fresh database) is read as before
    with django_assert_num_queries(1):
        assert allocate_until_decided(order_id=orders[1].pk, order_number="SO-OTHER-ORDER") == OrderState.REJECTED


def test_the_order_placed_message_names_the_order(console):
    customer = UserFactory()
    fill_cart(user=customer, lines={console: 1})
    place_order(checkout=checkout_input(), customer=customer)
    order = Order.objects.get()
    message = OutboxMessage.objects.get(topic="order.placed")
    assert message.payload == {"order_id": order.pk, "order_number": order.number}


def test_the_single_order_path_is_a_batch_of_one(console, cable):
    older = placed_order({console: 3})
    order = placed_order({cable: 2})
    assert allocate_order(order_id=order.pk).state == OrderState.ALLOCATED
    assert states(older) == ["placed"]  # only the order asked for
    assert inventory_selectors.get_level(product_id=cable.pk) == 98


def test_one_bad_order_never_blocks_the_orders_behind_it(console, cable):
    orders = [placed_order({cable: 1}) for _ in range(5)]
    OrderLine.objects.filter(order=orders[2]).delete()  # bad data: an order without lines

    allocate_waiting_orders()

    assert states(*orders) == ["allocated", "allocated", "placed", "allocated", "allocated"]
    assert inventory_selectors.get_level(product_id=cable.pk) == 96
    letter = DeadLetter.objects.get()
    assert (letter.task_name, letter.kwargs) == ("orders.allocate_order", {"order_id": orders[2].pk})
    assert "InvalidStockChange" in letter.error


def test_a_batch_that_fails_after_writing_is_never_half_applied(cable, monkeypatch):
    # given: four orders, and a stock write that fails whenever the second one is in the batch
    # (what a CHECK violation or a bug leaves: the orders' side of the batch is written by then)
    orders = [placed_order({cable: 1}) for _ in range(4)]
    bad = orders[1]
    real_apply = inventory_services.apply_allocation
    written_before_the_failure = []

    def apply_failing_with_the_bad_order(*, plan):
        if any(decision.order_id == bad.pk for decision in plan.decisions):
            written_before_the_failure.append(OrderEvent.objects.filter(order=bad, to_state="allocated").exists())
            raise IntegrityError('new row for relation "inventory_stockitem" violates check constraint "stock_not_negative"')
        return real_apply(plan=plan)

    monkeypatch.setattr(inventory_services, "apply_allocation", apply_failing_with_the_bad_order)
    # when
    allocate_waiting_orders()

    # then: split until the bad order failed alone; the others allocated once; none of its writes stayed
    assert written_before_the_failure and all(written_before_the_failure)
    assert states(*orders) == ["allocated", "placed", "allocated", "allocated"]
    assert inventory_selectors.get_level(product_id=cable.pk) == 97
    assert OrderEvent.objects.filter(to_state="allocated").count() == 3
    assert not OrderEvent.objects.filter(order=bad, to_state="allocated").exists()
    assert not StockMovement.objects.filter(cause=f"order:{bad.pk}").exists()
    assert sorted(OutboxMessage.objects.filter(topic="payment.authorize").values_list("payload__order_id", flat=True)) == sorted(
        order.pk for order in orders if order is not bad
    )
    assert DeadLetter.objects.get().kwargs == {"order_id": bad.pk}


def test_a_failed_order_is_left_to_staff_not_retried_by_every_run(console, cable, settings):
    # given: an order that failed on its own (bad data), the oldest order still placed
    bad = placed_order({cable: 1})
    lines = list(OrderLine.objects.filter(order=bad).values("product_id", "title", "sku", "unit_price", "quantity",
                                                          "subtotal"))  # fmt: skip
    OrderLine.objects.filter(order=bad).delete()
    allocate_waiting_orders()
    assert DeadLetter.objects.count() == 1

    # when: new orders come and runs go on; the sweep looks for stuck orders
    later = [placed_order({cable: 1}) for _ in range(3)]
    assert [order.pk for order in allocate_waiting_orders()] == [order.pk for order in later]
    settings.ORDERS_REDRIVE_AFTER_SECONDS = 0
    swept = redrive_stuck_orders()

    # then: the failed order was neither claimed again nor re-driven, and no new dead letter
    assert states(*later) == ["allocated"] * 3 and states(bad) == ["placed"]
    assert swept["placed"] == 0 and DeadLetter.objects.count() == 1

    # when: staff mend the order and retry its dead letter
    OrderLine.objects.bulk_create([OrderLine(order=bad, **line) for line in lines])
    deadletters.retry(dead_letter_id=DeadLetter.objects.get().pk)

    # then: it is decided alone, and its mark is gone
    assert states(bad) == ["allocated"]
    assert Order.objects.get(pk=bad.pk).allocation_failed_at is None
    assert inventory_selectors.get_level(product_id=cable.pk) == 96


def test_stock_taken_between_the_plan_and_the_lock_is_decided_under_the_lock(console, monkeypatch):
    first, second = placed_order({console: 2}), placed_order({console: 1})
    real_plan = inventory_services.plan_allocation

    def plan_then_staff_adjusts(**kwargs):
        plan = real_plan(**kwargs)
        monkeypatch.setattr(inventory_services, "plan_allocation", real_plan)
        # what a staff adjustment committed right after the unlocked read would leave
        inventory_services.StockItem.objects.filter(product=console).update(available=2)
        return plan

    monkeypatch.setattr(inventory_services, "plan_allocation", plan_then_staff_adjusts)
    allocate_waiting_orders()

    assert states(first, second) == ["allocated", "rejected"]
    assert inventory_selectors.get_level(product_id=console.pk) == 0
    assert StockMovement.objects.filter(kind=MovementKind.ALLOCATION).count() == 1
    assert OrderEvent.objects.filter(order=first, to_state="allocated").count() == 1  # written once


def test_a_batch_of_100_orders_runs_a_fixed_number_of_statements(console, cable, django_assert_max_num_queries):
    products = [stocked_product(available=1000) for _ in range(5)]
    orders = [placed_order({products[i % 5]: 1, products[(i + 1) % 5]: 2, cable: 1}) for i in range(100)]

    with django_assert_max_num_queries(BATCH_STATEMENTS):
        allocate_waiting_orders(limit=100)

    assert set(states(*orders)) == {"allocated"}
    assert StockMovement.objects.filter(kind=MovementKind.ALLOCATION).count() == 300


def test_placing_an_order_runs_a_fixed_number_of_statements(console, cable, django_assert_max_num_queries):
    customer = UserFactory()
    fill_cart(user=customer, lines={console: 1, cable: 2})
    with django_assert_max_num_queries(PLACE_ORDER_STATEMENTS):
        place_order(checkout=checkout_input(), customer=customer)
    assert Order.objects.get().lines.count() == 2


# PostgreSQL: claim, lines, earlier allocations, levels, the orders' update, events, e-mail logs,
# outbox, lock timeout, stock lock, stock UPDATE, ledger INSERT, the savepoints (and the one this test's
# transaction adds). SQLite splits
# the bulk INSERTs by its 999-parameter limit: a few more.
BATCH_STATEMENTS = 18 if connection.vendor == "postgresql" else 20
# The cart closed (one UPDATE ... RETURNING), its lines, products, levels, the order (in a
# savepoint), lines, event, e-mail log, outbox; and the savepoint this test's transaction adds.
PLACE_ORDER_STATEMENTS = 13
