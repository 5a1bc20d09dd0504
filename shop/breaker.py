"""A circuit breaker whose state lives in the cache (Redis in production), so every process sees it.

After `failures` failures within `window` seconds it opens, and for `open_seconds` nobody calls
the protected service. Then one caller gets a trial call ("half-open"): success closes it, failure
opens it again. If the cache itself is down, the breaker stays closed (calls go through): it
protects a service, it must never stop the shop on its own. Used by payments (one per gateway)
and by search (Elasticsearch, with PostgreSQL as the fallback).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from django.core.cache import cache


class BreakerOpen(Exception):
    """The service failed too often lately; nobody calls it until the breaker lets a trial through."""


@dataclass(frozen=True)
class CircuitBreaker:
    name: str  # the cache key space: "payments:breaker:stripe", "search:breaker:elasticsearch"
    limits: Callable[[], tuple[int, int, int]]  # (failures, window seconds, open seconds), read at call time

    def _keys(self) -> tuple[str, str, str]:
        return f"{self.name}:failures", f"{self.name}:open_until", f"{self.name}:trial"

    def allow(self) -> None:
        """Raise BreakerOpen unless a call may be made now."""
        _, open_key, trial_key = self._keys()
        try:
            open_until = cache.get(open_key)
            if open_until is None:
                return
            if time.time() < open_until:
                raise BreakerOpen(f"{self.name}: calls paused until {open_until:.0f}")
            if not cache.add(trial_key, 1, timeout=self.limits()[2]):
                raise BreakerOpen(f"{self.name}: a trial call is under way")
        except BreakerOpen:
            raise
        except Exception:  # the cache is down: fail open
            return

    def record_success(self) -> None:
        try:
            cache.delete_many(list(self._keys()))
        except Exception:
            return

    def record_failure(self) -> None:
        failures_key, open_key, trial_key = self._keys()
        limit, window, open_for = self.limits()
        try:
            half_open = cache.get(trial_key) is not None
            cache.add(failures_key, 0, timeout=window)
            failures = cache.incr(failures_key)
            if half_open or failures >= limit:
                cache.set(open_key, time.time() + open_for, timeout=open_for * 20)
                cache.delete_many([failures_key, trial_key])
        except Exception:
            return

    def state(self) -> str:
        """closed, open or half_open (for admin, metrics and tests)."""
        try:
            open_until = cache.get(self._keys()[1])
        except Exception:
            return "closed"
        if open_until is None:
            return "closed"
        return "open" if time.time() < open_until else "half_open"
