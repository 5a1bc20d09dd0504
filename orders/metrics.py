"""The order pipeline's Prometheus metrics (prometheus_client; the metrics endpoint exposes the default registry)."""

from __future__ import annotations

from prometheus_client import Counter

ORDERS_REDRIVEN = Counter(
    "shop_orders_redriven",  # exposed as shop_orders_redriven_total
    "Orders the sweep drove again after they waited too long in a state the pipeline moves by itself.",
    ["state"],
)
