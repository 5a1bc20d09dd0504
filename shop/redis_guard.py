"""Redis may be slow, hung or gone; a page must not wait for it (issue 20, items 17 and 18).

Every Redis path of the shop (the cache, sessions behind it, throttles, the payment breaker's
state, replica pinning) goes through the default cache, whose connection pool makes its
connections with ``GuardedConnection`` (``shop.conf.redis_cache_config``). Each connection has
short socket and connect timeouts (REDIS_SOCKET_TIMEOUT, REDIS_CONNECT_TIMEOUT), and all of a
process's connections to one server share a circuit breaker:

- closed: calls go through; REDIS_BREAKER_FAILURES failures in a row (a timeout, a refused
  or dropped connection) open it;
- open: for REDIS_BREAKER_OPEN_SECONDS no call reaches the network: connecting fails at once
  with ``redis.ConnectionError``, which django-redis ignores like any other outage (the cache
  reads as empty, throttles fail open, sessions come from the database);
- then one call (the first thread to ask) tries again: success closes the breaker, failure
  opens it for another period. So a hung Redis costs a process one timeout per period, not one
  per cache call (13 s pages before).

The outage is logged once when the breaker opens, then at most once per
REDIS_OUTAGE_LOG_SECONDS with the number of calls that failed or were skipped, and once when
Redis answers again; never a traceback per call (django-redis's own logging of ignored errors
is off). State is per process and per server (host, port, db): nothing is shared, so a Redis
outage cannot break the breaker.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from django.conf import settings
from redis.connection import Connection, SSLConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger("shop.redis")

OUTAGE_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)


class CircuitOpen(RedisConnectionError):
    """Raised instead of calling a Redis whose breaker is open (django-redis ignores it)."""


@dataclass
class RedisBreaker:
    """The per-process breaker of one Redis server (module docstring)."""

    name: str
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    failures_in_a_row: int = 0
    open_until: float = 0.0  # 0: closed
    trial_thread: int | None = None
    trial_started: float = 0.0
    outage_started: float | None = None
    failed: int = 0  # calls that failed since the last report
    skipped: int = 0  # calls not made (breaker open) since the last report
    last_report: float = 0.0

    @property
    def is_open(self) -> bool:
        return self.open_until != 0.0

    def allow(self) -> bool:
        """May this thread call Redis now? Counts the call as skipped when not."""
        if not self.open_until:  # closed: the common case, no lock
            return True
        now = time.monotonic()
        me = threading.get_ident()
        with self.lock:
            if not self.open_until or self.trial_thread == me:
                return True
            trial_stale = self.trial_thread is not None and now - self.trial_started > _open_seconds()
            if now >= self.open_until and (self.trial_thread is None or trial_stale):
                self.trial_thread, self.trial_started = me, now  # this thread tries once for everyone
                return True
            self.skipped += 1
            return False

    def record_failure(self, error: BaseException) -> None:
        now = time.monotonic()
        with self.lock:
            self.failed += 1
            self.failures_in_a_row += 1
            was_open = bool(self.open_until)
            if was_open or self.failures_in_a_row >= settings.REDIS_BREAKER_FAILURES:
                self.open_until = now + _open_seconds()
                self.trial_thread = None
                if not was_open:
                    self.outage_started = self.outage_started or now
                    self._report_opened(error, now)
                elif now - self.last_report >= settings.REDIS_OUTAGE_LOG_SECONDS:
                    self._report_still_down(error, now)

    def record_success(self) -> None:
        if not self.open_until and not self.failures_in_a_row:  # healthy: no lock
            return
        now = time.monotonic()
        with self.lock:
            if self.open_until:
                logger.warning(
                    "Redis %s answers again after %.0f s; %d calls failed and %d were skipped since the last report",
                    self.name, now - (self.outage_started or now), self.failed, self.skipped,
                )  # fmt: skip
                self.failed = self.skipped = 0
                self.last_report = now
            self.open_until = 0.0
            self.failures_in_a_row = 0
            self.trial_thread = None
            self.outage_started = None

    def _report_opened(self, error: BaseException, now: float) -> None:
        logger.warning(
            "Redis %s unreachable (%s: %s): %d calls failed; not calling it for %s s (pages go on without it)",
            self.name, type(error).__name__, error, self.failed, _open_seconds(),
        )  # fmt: skip
        self.failed = self.skipped = 0
        self.last_report = now

    def _report_still_down(self, error: BaseException, now: float) -> None:
        logger.warning(
            "Redis %s still unreachable for %.0f s (%s: %s): %d calls failed and %d were skipped in the last %.0f s",
            self.name, now - (self.outage_started or now), type(error).__name__, error, self.failed, self.skipped,
            now - self.last_report,
        )  # fmt: skip
        self.failed = self.skipped = 0
        self.last_report = now


def _open_seconds() -> float:
    return float(settings.REDIS_BREAKER_OPEN_SECONDS)


_breakers: dict[str, RedisBreaker] = {}
_breakers_lock = threading.Lock()


def breaker_for(name: str) -> RedisBreaker:
    breaker = _breakers.get(name)
    if breaker is None:
        with _breakers_lock:
            breaker = _breakers.setdefault(name, RedisBreaker(name=name))
    return breaker


def reset_breakers() -> None:
    """Forget every breaker's state (tests; a new process starts clean anyway)."""
    with _breakers_lock:
        _breakers.clear()


def _record(breaker: RedisBreaker, error: BaseException) -> None:
    # A failure inside connect()'s handshake passes through send/read and connect: count it once.
    if not getattr(error, "_shop_redis_counted", False):
        error._shop_redis_counted = True
        breaker.record_failure(error)


class _Guarded:
    """Mixed into redis-py's connection classes: ask the breaker before the network, tell it after."""

    def _breaker(self) -> RedisBreaker:
        return breaker_for(f"{getattr(self, 'host', '?')}:{getattr(self, 'port', '?')}/{getattr(self, 'db', 0)}")

    def _check(self) -> RedisBreaker:
        breaker = self._breaker()
        if not breaker.allow():
            raise CircuitOpen(f"Redis {breaker.name} is not called for a few seconds after failures")
        return breaker

    def connect(self):
        breaker = self._check()
        try:
            return super().connect()
        except CircuitOpen:
            raise
        except OUTAGE_ERRORS as exc:
            _record(breaker, exc)
            raise

    def send_packed_command(self, command, check_health=True):
        breaker = self._check()
        try:
            return super().send_packed_command(command, check_health=check_health)
        except CircuitOpen:
            raise
        except OUTAGE_ERRORS as exc:
            _record(breaker, exc)
            raise

    def read_response(self, *args, **kwargs):
        breaker = self._breaker()
        try:
            response = super().read_response(*args, **kwargs)
        except OUTAGE_ERRORS as exc:
            _record(breaker, exc)
            raise
        breaker.record_success()
        return response


class GuardedConnection(_Guarded, Connection):
    """redis:// connections with the per-process circuit breaker."""


class GuardedSSLConnection(_Guarded, SSLConnection):
    """rediss:// connections with the per-process circuit breaker."""
