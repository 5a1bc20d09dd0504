"""Read replicas: writes and, by default, reads go to the primary; opted-in reads may use a replica.

ARCHITECTURE.md, "Reads at scale". The replicas are the aliases replica_1..N that
DATABASE_REPLICA_URLS configures (shop.conf.replica_databases); without any, everything below
is a no-op and every query runs on "default".

Opting in
    A read-only selector that tolerates a few seconds of lag (product pages, listings, search)
    is decorated with ``@replica_ok``; the same object is a context manager (``with
    replica_ok(): ...``). The opt-in lives in a context variable, so it is per thread and per
    asyncio task, and it ends when the function returns. A selector that returns a *lazy*
    queryset is evaluated after it has returned (by a Paginator in the view), outside the
    opt-in, so it also pins the queryset to the alias decided now:
    ``return qs.using(choose_read_alias())``. The decision is therefore taken when the selector
    is called, with the same rules as any other opted-in read, and travels with the queryset.

When an opted-in read still goes to the primary (checked in this order, cheapest first)
    - no replica is configured;
    - the current read scope (the request, or the thread/task outside requests) has written:
      any ``db_for_write`` call counts, including ``get_or_create`` that only read;
    - the primary is inside an atomic block (a service's transaction must see its own rows, and
      pytest-django's ``TestCase`` transaction sends a whole test to the primary);
    - the client is pinned to the primary (below);
    - every replica is down or lagging.
    Otherwise the scope reads one replica, chosen round-robin among the healthy ones and kept
    for the rest of the scope so that one page never goes back in time between two replicas.

Pinning (``ReplicaPinMiddleware``, right after AuthenticationMiddleware)
    Each request gets a fresh read scope. A request that wrote pins its client to the primary
    for DATABASE_REPLICA_PIN_SECONDS: a ``primary_pin`` cookie for browsers (its value is the
    expiry time, checked on the server as well), and the cache key ``replica-pin:user:<id>``
    for an authenticated user (API clients that do not keep cookies). An incoming request is
    pinned by a live cookie or by its user's key; the user is read lazily, at the first
    opted-in read, because DRF sets ``request.user`` on the Django request only when the view
    authenticates the token. The user is always loaded from the primary.
    Session saves by SessionMiddleware happen after this middleware has answered, so a page
    view that only touches its session does not pin; a login (``last_login``, a new session
    key) does. With Redis down the user key is neither written nor found (django-redis ignores
    its errors): the cookie still pins browsers, and an API client may read a replica up to
    DATABASE_REPLICA_MAX_LAG_SECONDS behind its own write. We accept that rather than send all
    API reads to the primary during a cache outage.
    The middleware is synchronous; under ASGI Django runs it in a thread like the ORM.

Health (per process, kept in module state)
    A replica whose connection fails is skipped and left alone for REPLICA_RETRY_SECONDS, then
    tried again. Its lag (PostgreSQL: LAG_SQL; 0 on a server that is not in recovery, such as
    the test mirror, or on another database) is measured at most every LAG_CACHE_SECONDS; a
    replica more than DATABASE_REPLICA_MAX_LAG_SECONDS behind, or whose lag is unknown, is
    skipped. Nothing here raises because of a replica: the read goes to the primary instead.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import itertools
import logging
import math
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, DatabaseError, InterfaceError, connections
from django.db.models import Model
from django.http import HttpRequest, HttpResponseBase

logger = logging.getLogger(__name__)

PRIMARY = DEFAULT_DB_ALIAS
REPLICA_ALIAS_PREFIX = "replica_"
PIN_COOKIE = "primary_pin"
REPLICA_RETRY_SECONDS = 5.0  # a replica that failed is left alone this long, then retried
LAG_CACHE_SECONDS = 2.0  # a measured lag is reused this long, so reads do not pay a query each
LAG_SQL = (
    "SELECT pg_is_in_recovery(), "
    "CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
    "ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) END"
)

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class ReadScope:
    """What the router knows about one request (or one thread/task outside requests)."""

    request: HttpRequest | None = None
    wrote: bool = False
    pinned: bool | None = None  # decided at the first opted-in read, then kept
    replica: str | None = None  # the replica this scope reads, once chosen


_scope: ContextVar[ReadScope | None] = ContextVar("shop_db_read_scope", default=None)
_opted_in: ContextVar[bool] = ContextVar("shop_db_replica_opt_in", default=False)

# Per-process health, shared by all threads. Single dict reads and writes are atomic under the
# GIL, and a lost update only costs one extra connection attempt or lag query.
_down_until: dict[str, float] = {}
_lag_seen: dict[str, tuple[float, float | None]] = {}
_turn = itertools.count()


# --- Opting in -----------------------------------------------------------------------------


@contextlib.contextmanager
def _opt_in(value: bool = True) -> Iterator[None]:
    token = _opted_in.set(value)
    try:
        yield
    finally:
        _opted_in.reset(token)


@overload
def replica_ok(func: F) -> F: ...
@overload
def replica_ok(func: None = None) -> contextlib.AbstractContextManager[None]: ...
def replica_ok(func=None):
    """Let the reads of a function (``@replica_ok``) or a block (``with replica_ok():``) use a replica.

    Works on plain functions and coroutine functions. The router still sends the reads to the
    primary when any rule of this module's docstring says so.
    """
    if func is None:
        return _opt_in()
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def opted_in_coroutine(*args, **kwargs):
            with _opt_in():
                return await func(*args, **kwargs)

        return opted_in_coroutine

    @functools.wraps(func)
    def opted_in(*args, **kwargs):
        with _opt_in():
            return func(*args, **kwargs)

    return opted_in


@contextlib.contextmanager
def read_scope(request: HttpRequest | None = None) -> Iterator[ReadScope]:
    """A fresh scope (nothing written, no pin decided, no replica chosen) for one request.

    The middleware opens one per request; tests open one per case. Outside any scope the router
    keeps one per thread or task, created at the first write or opted-in read.
    """
    scope = ReadScope(request=request)
    token = _scope.set(scope)
    try:
        yield scope
    finally:
        _scope.reset(token)


def _current_scope() -> ReadScope:
    scope = _scope.get()
    if scope is None:
        scope = ReadScope()
        _scope.set(scope)
    return scope


def replica_aliases() -> list[str]:
    """The configured replica aliases, read at call time (replica_1..N from DATABASE_REPLICA_URLS)."""
    return [alias for alias in connections if alias.startswith(REPLICA_ALIAS_PREFIX)]


def choose_read_alias() -> str:
    """The alias an opted-in read uses now: a healthy replica, or "default" when a rule says primary.

    Calling it is itself an opt-in; selectors returning lazy querysets use it with ``.using()``.
    """
    aliases = replica_aliases()
    if not aliases:
        return PRIMARY
    scope = _current_scope()
    if scope.wrote or connections[PRIMARY].in_atomic_block or _pinned(scope):
        return PRIMARY
    if scope.replica in aliases and _usable(scope.replica):
        return scope.replica
    start = next(_turn)
    for offset in range(len(aliases)):
        alias = aliases[(start + offset) % len(aliases)]
        if alias != scope.replica and _usable(alias):
            scope.replica = alias
            return alias
    return PRIMARY


# --- Health --------------------------------------------------------------------------------


def measure_replica_lag(alias: str) -> float | None:
    """Seconds the database behind ``alias`` trails its primary; None when unknown.

    0 for a server that is not in recovery (a test mirror of the primary) and for databases
    other than PostgreSQL. Runs one query; raises the database's errors.
    """
    connection = connections[alias]
    if connection.vendor != "postgresql":
        return 0.0
    with connection.cursor() as cursor:
        cursor.execute(LAG_SQL)
        in_recovery, lag = cursor.fetchone()
    if not in_recovery:
        return 0.0
    return None if lag is None else float(lag)


def is_marked_down(alias: str) -> bool:
    """Whether this process skips the replica now because its connection failed lately."""
    return _down_until.get(alias, 0.0) > time.monotonic()


def reset_replica_health() -> None:
    """Forget which replicas were down and how far they lagged (tests; a deploy starts clean anyway)."""
    _down_until.clear()
    _lag_seen.clear()


def _usable(alias: str) -> bool:
    now = time.monotonic()
    if _down_until.get(alias, 0.0) > now:
        return False
    try:
        connections[alias].ensure_connection()
        lag = _lag(alias, now)
    except (DatabaseError, InterfaceError) as exc:  # refused, timed out, dropped, or the lag query failed
        _mark_down(alias, exc)
        return False
    return lag is not None and lag <= settings.DATABASE_REPLICA_MAX_LAG_SECONDS


def _lag(alias: str, now: float) -> float | None:
    seen = _lag_seen.get(alias)
    if seen is not None and now - seen[0] < LAG_CACHE_SECONDS:
        return seen[1]
    lag = measure_replica_lag(alias)
    _lag_seen[alias] = (now, lag)
    if lag is None or lag > settings.DATABASE_REPLICA_MAX_LAG_SECONDS:
        logger.warning(
            "Replica %s skipped: lag %s s (limit %s s)", alias, lag, settings.DATABASE_REPLICA_MAX_LAG_SECONDS
        )
    return lag


def _mark_down(alias: str, error: Exception) -> None:
    _down_until[alias] = time.monotonic() + REPLICA_RETRY_SECONDS
    _lag_seen.pop(alias, None)
    logger.warning("Replica %s skipped for %s s: %s: %s", alias, REPLICA_RETRY_SECONDS, type(error).__name__, error)
    with contextlib.suppress(DatabaseError, InterfaceError):
        connections[alias].close()


# --- Pinning -------------------------------------------------------------------------------


def user_pin_key(user_id: object) -> str:
    return f"replica-pin:user:{user_id}"


def is_pinned(request: HttpRequest) -> bool:
    """Whether this client wrote within DATABASE_REPLICA_PIN_SECONDS (its cookie, or its user's cache key)."""
    if _cookie_is_live(request.COOKIES.get(PIN_COOKIE)):
        return True
    # Loading the user is a read of its own: keep it on the primary, and out of this decision.
    with _opt_in(False):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return False
        return cache.get(user_pin_key(user.pk)) is not None


def _cookie_is_live(value: str | None) -> bool:
    try:
        expires = int(value or "")
    except ValueError:
        return False
    now = time.time()
    # The upper bound stops a hand-made cookie from pinning a client for ever.
    return now < expires <= now + settings.DATABASE_REPLICA_PIN_SECONDS + 1


def _pinned(scope: ReadScope) -> bool:
    if scope.pinned is None:
        scope.pinned = scope.request is not None and is_pinned(scope.request)
    return scope.pinned


def pin_to_primary(request: HttpRequest, response: HttpResponseBase) -> None:
    """Send this client's reads to the primary for DATABASE_REPLICA_PIN_SECONDS (cookie and user key)."""
    seconds = settings.DATABASE_REPLICA_PIN_SECONDS
    response.set_cookie(
        PIN_COOKIE,
        str(math.ceil(time.time() + seconds)),
        max_age=seconds,
        httponly=True,
        samesite="Lax",
        secure=not settings.DEBUG,
    )
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        cache.set(user_pin_key(user.pk), 1, timeout=seconds)  # Redis down: ignored, the cookie remains


class ReplicaPinMiddleware:
    """One read scope per request; a request that wrote pins its client to the primary."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        with read_scope(request) as scope:
            response = self.get_response(request)
            if scope.wrote and replica_aliases():
                pin_to_primary(request, response)
        return response


# --- The router ----------------------------------------------------------------------------


class ReplicaRouter:
    """DATABASE_ROUTERS entry: writes to the primary, opted-in reads to choose_read_alias()."""

    def db_for_read(self, model: type[Model], **hints: Any) -> str:
        if _opted_in.get():
            return choose_read_alias()
        # Explicitly the primary, also for related rows of an instance loaded from a replica.
        return PRIMARY

    def db_for_write(self, model: type[Model], **hints: Any) -> str:
        _current_scope().wrote = True
        return PRIMARY

    def allow_relation(self, obj1: Model, obj2: Model, **hints: Any) -> bool | None:
        ours = {PRIMARY, *replica_aliases()}
        if obj1._state.db in ours and obj2._state.db in ours:
            return True  # the same data: a replica's row may point at a primary's row
        return None

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool:
        return db == PRIMARY  # replicas get the schema by replication
