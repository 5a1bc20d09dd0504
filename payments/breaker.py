"""A circuit breaker per gateway whose state lives in the cache (Redis in production), so every
worker sees it: after PAYMENTS_BREAKER_FAILURES transient failures within the window it opens,
and for PAYMENTS_BREAKER_OPEN_SECONDS nobody calls the gateway (tasks wait and retry). Then one
caller gets a trial call ("half-open"): success closes it, failure opens it again.

If the cache itself is down, the breaker stays closed (calls go through): it protects the
gateway, it must never stop payments on its own.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache


class BreakerOpen(Exception):
    """The gateway failed too often lately; nobody calls it until the breaker lets a trial through."""


def _keys(gateway: str) -> tuple[str, str, str]:
    base = f"payments:breaker:{gateway}"
    return f"{base}:failures", f"{base}:open_until", f"{base}:trial"


def allow(gateway: str) -> None:
    """Raise BreakerOpen unless a call to the gateway may be made now."""
    _, open_key, trial_key = _keys(gateway)
    try:
        open_until = cache.get(open_key)
        if open_until is None:
            return
        if time.time() < open_until:
            raise BreakerOpen(f"{gateway} is failing: calls paused until {open_until:.0f}")
        if not cache.add(trial_key, 1, timeout=settings.PAYMENTS_BREAKER_OPEN_SECONDS):
            raise BreakerOpen(f"{gateway}: a trial call is under way")
    except BreakerOpen:
        raise
    except Exception:  # the cache is down: fail open
        return


def record_success(gateway: str) -> None:
    try:
        cache.delete_many(list(_keys(gateway)))
    except Exception:
        return


def record_failure(gateway: str) -> None:
    failures_key, open_key, trial_key = _keys(gateway)
    try:
        half_open = cache.get(trial_key) is not None
        cache.add(failures_key, 0, timeout=settings.PAYMENTS_BREAKER_WINDOW_SECONDS)
        failures = cache.incr(failures_key)
        if half_open or failures >= settings.PAYMENTS_BREAKER_FAILURES:
            open_for = settings.PAYMENTS_BREAKER_OPEN_SECONDS
            cache.set(open_key, time.time() + open_for, timeout=open_for * 20)
            cache.delete_many([failures_key, trial_key])
    except Exception:
        return


def state(gateway: str) -> str:
    """closed, open or half_open (for admin and tests)."""
    _, open_key, _ = _keys(gateway)
    open_until = cache.get(open_key)
    if open_until is None:
        return "closed"
    return "open" if time.time() < open_until else "half_open"
