"""Payments metrics: whether each gateway's circuit breaker is open, read at scrape time from
the breaker's own state (payments.breaker, in the cache shared by every worker)."""

from __future__ import annotations

from django.conf import settings

from payments import breaker
from shop.observability.metrics import Sample, register_probe


def _breaker_open():
    gateway = settings.PAYMENT_GATEWAY
    yield Sample(0 if breaker.state(gateway) == "closed" else 1, {"gateway": gateway})


register_probe(
    "shop_payment_breaker_open", "1 while calls to the gateway are paused (open or half-open), 0 when closed.",
    _breaker_open, labelnames=["gateway"],
)  # fmt: skip
