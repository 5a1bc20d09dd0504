"""Cheap, time-boxed reads of the shop's shared state, for /metrics (as gauges) and /readyz.

- the outbox: how many messages wait and how old the oldest is (one query on a partial index);
- dead letters not yet retried;
- the broker's queue depths (a passive declare per queue, on one short-lived connection with
  1 s socket timeouts, remembered for QUEUE_CACHE_SECONDS so scrapes and /readyz share it);
- each replica: ok, lagging or down, and its lag.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, InterfaceError, connections, transaction
from django.db.models import Count, Min
from django.utils import timezone
from kombu import Connection
from kombu.exceptions import OperationalError as BrokerError

from shop import db_router
from shop.models import DeadLetter, OutboxMessage
from shop.observability.metrics import Sample, once_per_scrape, register_probe

BROKER_TIMEOUT_SECONDS = 1.0
QUEUE_CACHE_SECONDS = 5.0
STATEMENT_TIMEOUT_MS = 500
OK, LAGGING, DOWN = "ok", "lagging", "down"

_queue_depths_seen: tuple[float, dict[str, int]] | None = None


# --- Outbox and dead letters (the primary, inline) ------------------------------------------
@contextmanager
def _bounded() -> Iterator[None]:
    """A transaction whose statements stop after STATEMENT_TIMEOUT_MS on PostgreSQL."""
    with transaction.atomic():
        connection = connections["default"]
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}")
        yield


def outbox_backlog() -> tuple[int, float]:
    """(messages not yet handed to the broker, age in seconds of the oldest of them)."""
    with _bounded():
        found = OutboxMessage.objects.filter(dispatched_at__isnull=True).aggregate(
            n=Count("pk"), oldest=Min("created_at")
        )
    oldest = found["oldest"]
    return found["n"], (timezone.now() - oldest).total_seconds() if oldest else 0.0


def dead_letters_waiting() -> int:
    """Dead letters staff have not retried yet."""
    with _bounded():
        return DeadLetter.objects.filter(retried_at__isnull=True).count()


# --- Broker queues -------------------------------------------------------------------------
def queue_names() -> list[str]:
    return [queue.name for queue in settings.CELERY_TASK_QUEUES]


def _transport_options(url: str) -> dict:
    if url.startswith("redis") or url.startswith("rediss"):
        return {"socket_timeout": BROKER_TIMEOUT_SECONDS, "socket_connect_timeout": BROKER_TIMEOUT_SECONDS}
    return {"read_timeout": BROKER_TIMEOUT_SECONDS, "write_timeout": BROKER_TIMEOUT_SECONDS}


def queue_depths(*, max_age: float = QUEUE_CACHE_SECONDS) -> dict[str, int]:
    """Messages ready in each of the shop's queues; {} without a broker (eager mode). Raises the
    broker's errors (down, timing out); a queue the broker does not know yet counts 0."""
    global _queue_depths_seen
    url = settings.CELERY_BROKER_URL
    if not url:
        return {}
    seen = _queue_depths_seen
    if seen is not None and time.monotonic() - seen[0] < max_age:
        return seen[1]
    depths = {}
    with Connection(url, connect_timeout=BROKER_TIMEOUT_SECONDS, transport_options=_transport_options(url)) as conn:
        conn.connect()
        channel = conn.channel()
        for name in queue_names():
            try:
                _, depths[name], _ = channel.queue_declare(queue=name, passive=True)
            except conn.channel_errors:  # not declared yet: nobody consumed or sent to it
                depths[name] = 0
                with suppress(Exception):
                    channel.close()
                channel = conn.channel()
    _queue_depths_seen = (time.monotonic(), depths)
    return depths


def forget_queue_depths() -> None:
    global _queue_depths_seen
    _queue_depths_seen = None


# --- Replicas ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReplicaStatus:
    alias: str
    status: str  # ok, lagging, down
    lag_seconds: float | None


def replica_statuses() -> list[ReplicaStatus]:
    """Each configured replica: down (the router skips it, or it does not answer), lagging (past
    DATABASE_REPLICA_MAX_LAG_SECONDS, or its lag is unknown) or ok, with its lag."""
    return [_replica_status(alias) for alias in db_router.replica_aliases()]


def _replica_status(alias: str) -> ReplicaStatus:
    if db_router.is_marked_down(alias):
        return ReplicaStatus(alias, DOWN, None)
    try:
        lag = db_router.measure_replica_lag(alias)
    except (DatabaseError, InterfaceError):
        with suppress(DatabaseError, InterfaceError):
            connections[alias].close()
        return ReplicaStatus(alias, DOWN, None)
    if lag is None or lag > settings.DATABASE_REPLICA_MAX_LAG_SECONDS:
        return ReplicaStatus(alias, LAGGING, lag)
    return ReplicaStatus(alias, OK, lag)


# --- The gauges ----------------------------------------------------------------------------
def _outbox_pending():
    yield Sample(once_per_scrape("outbox", outbox_backlog)[0])


def _outbox_oldest():
    yield Sample(once_per_scrape("outbox", outbox_backlog)[1])


def _dead_letters():
    yield Sample(dead_letters_waiting())


def _queue_lengths():
    try:
        depths = queue_depths()
    except (BrokerError, OSError) as exc:
        raise BrokerUnreachable(exc.__class__.__name__) from exc
    for name, depth in depths.items():
        yield Sample(depth, {"queue": name})


def _replica_lag():
    for replica in once_per_scrape("replicas", replica_statuses):
        if replica.lag_seconds is not None:
            yield Sample(replica.lag_seconds, {"alias": replica.alias})


def _replica_up():
    for replica in once_per_scrape("replicas", replica_statuses):
        yield Sample(0 if replica.status == DOWN else 1, {"alias": replica.alias})


class BrokerUnreachable(Exception):
    pass


def register() -> None:
    register_probe("shop_outbox_pending", "Outbox messages not yet handed to the broker.", _outbox_pending, inline=True)
    register_probe(
        "shop_outbox_oldest_pending_seconds", "Age of the oldest outbox message not yet handed to the broker (0: none).",
        _outbox_oldest, inline=True,
    )  # fmt: skip
    register_probe(
        "shop_dead_letters", "Tasks that failed for good and were not retried yet.", _dead_letters, inline=True
    )
    register_probe("shop_celery_queue_length", "Messages waiting in each Celery queue.", _queue_lengths,
                   labelnames=["queue"])  # fmt: skip
    register_probe("shop_db_replica_lag_seconds", "How far each read replica trails the primary.", _replica_lag,
                   labelnames=["alias"])  # fmt: skip
    register_probe("shop_db_replica_up", "1 if the replica answers (it may still lag), 0 if it is down.", _replica_up,
                   labelnames=["alias"])  # fmt: skip
