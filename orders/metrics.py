"""The order pipeline's metrics, updated by orders.services where an order is placed and where
its state changes (`_transition`), after the change commits. A batch that decides many orders
calls `order_transitioned` once per order, as `_transition` does.

Dashboards and alerts rely on these exact names (docs/observability.md).
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from prometheus_client import Counter, Histogram

from orders.states import OrderState
from shop.observability import context

logger = logging.getLogger("orders.pipeline")

LAG_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0)

orders_placed = Counter("shop_orders_placed_total", "Orders placed, by channel (storefront, api).", ["channel"])
orders_allocated = Counter("shop_orders_allocated_total", "Orders whose stock was allocated, by channel.", ["channel"])
orders_rejected = Counter("shop_orders_rejected_total", "Orders rejected as out of stock, by channel.", ["channel"])
orders_authorized = Counter("shop_orders_authorized_total", "Orders whose payment was authorized, by channel.",
                            ["channel"])  # fmt: skip
payments_failed = Counter("shop_payments_failed_total", "Orders whose payment was declined or needs the customer, "
                          "by channel.", ["channel"])  # fmt: skip
allocation_lag = Histogram(
    "shop_order_allocation_lag_seconds", "From placed to allocated or rejected, by outcome.", ["outcome"],
    buckets=LAG_BUCKETS,
)  # fmt: skip
authorization_lag = Histogram(
    "shop_order_authorization_lag_seconds", "From allocated to payment authorized or failed, by outcome.",
    ["outcome"], buckets=LAG_BUCKETS,
)  # fmt: skip

COUNTED = {
    OrderState.ALLOCATED: orders_allocated,
    OrderState.REJECTED: orders_rejected,
    OrderState.AUTHORIZED: orders_authorized,
    OrderState.PAYMENT_FAILED: payments_failed,
}
LAGS = {
    (OrderState.PLACED, OrderState.ALLOCATED): allocation_lag,
    (OrderState.PLACED, OrderState.REJECTED): allocation_lag,
    (OrderState.ALLOCATED, OrderState.AUTHORIZED): authorization_lag,
    (OrderState.ALLOCATED, OrderState.PAYMENT_FAILED): authorization_lag,
}
CHANNELS = ("storefront", "api")


def _start_at_zero() -> None:
    """Every series exists from the first scrape (at 0), so rates and alerts work before the
    first order and CI can check the names."""
    for channel in CHANNELS:
        for counter in (orders_placed, *COUNTED.values()):
            counter.labels(channel)
    for (_, target), histogram in LAGS.items():
        histogram.labels(target)


def channel_label(channel: str) -> str:
    return channel or "other"  # placed outside a request (a script, the admin shell)


def _log_context(number: str) -> dict:
    """The order number, and the request id and user of the change, taken now (the line is written
    on commit, which may run after the request's context is gone)."""
    found = {"request_id": context.current_request_id(), "user_id": context.current_user_id()}
    return {"order_number": number, **{key: value for key, value in found.items() if value is not None}}


def order_placed(*, number: str, channel: str) -> None:
    """Inside the placing transaction: counted (and logged) once it commits."""

    extra = _log_context(number)

    def record() -> None:
        orders_placed.labels(channel_label(channel)).inc()
        logger.info("order %s placed (%s)", number, channel_label(channel), extra=extra)

    transaction.on_commit(record)


def order_transitioned(*, number: str, channel: str, previous: str, target: str, since: datetime) -> None:
    """Inside the transaction that moved an order from `previous` (entered at `since`) to
    `target`: its counter and lag are updated, and a line logged, once it commits."""
    lag = (timezone.now() - since).total_seconds()
    extra = {**_log_context(number), "from_state": previous, "to_state": target}

    def record() -> None:
        counter = COUNTED.get(target)
        if counter is not None:
            counter.labels(channel_label(channel)).inc()
        histogram = LAGS.get((previous, target))
        if histogram is not None:
            histogram.labels(target).observe(max(lag, 0.0))
        logger.info("order %s %s -> %s after %.3f s", number, previous, target, lag, extra=extra)

    transaction.on_commit(record)


_start_at_zero()

# The sweep (orders.services.redrive_stuck_orders) counts the orders it drove again, by the state
# they waited in; an order stuck for good shows here before a customer writes in.
ORDERS_REDRIVEN = Counter(
    "shop_orders_redriven",  # exposed as shop_orders_redriven_total
    "Orders the sweep drove again after they waited too long in a state the pipeline moves by itself.",
    ["state"],
)
