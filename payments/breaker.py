"""A circuit breaker per gateway (shop.breaker, state in the cache so every worker sees it): after
PAYMENTS_BREAKER_FAILURES transient failures within PAYMENTS_BREAKER_WINDOW_SECONDS it opens, and
for PAYMENTS_BREAKER_OPEN_SECONDS nobody calls the gateway (tasks wait and retry). Then one
caller gets a trial call: success closes it, failure opens it again. With the cache down it stays
closed: it protects the gateway, it must never stop payments on its own.
"""

from __future__ import annotations

from django.conf import settings

from shop.breaker import BreakerOpen, CircuitBreaker

__all__ = ["BreakerOpen", "allow", "record_failure", "record_success", "state"]


def _limits() -> tuple[int, int, int]:
    return (settings.PAYMENTS_BREAKER_FAILURES, settings.PAYMENTS_BREAKER_WINDOW_SECONDS,
            settings.PAYMENTS_BREAKER_OPEN_SECONDS)  # fmt: skip


def _breaker(gateway: str) -> CircuitBreaker:
    return CircuitBreaker(name=f"payments:breaker:{gateway}", limits=_limits)


def allow(gateway: str) -> None:
    """Raise BreakerOpen unless a call to the gateway may be made now."""
    _breaker(gateway).allow()


def record_success(gateway: str) -> None:
    _breaker(gateway).record_success()


def record_failure(gateway: str) -> None:
    _breaker(gateway).record_failure()


def state(gateway: str) -> str:
    """closed, open or half_open (for admin and tests)."""
    return _breaker(gateway).state()
